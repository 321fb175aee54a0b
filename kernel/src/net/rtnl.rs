//! The seam to rtnetlink (`NETLINK_ROUTE`), through the `rtnetlink` crate: every link,
//! address and route the network subsystem makes or removes goes through [`on_host`]
//! or [`in_netns_of`].
//!
//! A netlink socket belongs to the network namespace its creating thread was in, so
//! each call runs on a short-lived thread of its own (`agentos-rtnl`) with a
//! current-thread tokio runtime: on the host as it is, or after `setns` into a
//! process's namespace (`/proc/<pid>/ns/net`), which changes that thread alone and
//! ends with it. The callers are synchronous (the spawner thread, a drop, the
//! start-up sweep, some on a worker of the daemon's runtime) and wait for it, as
//! they waited for `ip`; the thread of its own keeps its runtime from nesting in
//! theirs.
//!
//! Kernel errors come back as the errno the kernel sent (`EEXIST`, `ENODEV`, …) in a
//! [`NetError::Netlink`] naming the step and the link. Off Linux, `rtnl_portable.rs`
//! stands in with the same functions, each refusing.

use std::{
    future::Future,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::AsFd,
};

use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder,
    packet_route::{
        address::{AddressAttribute, AddressFlags},
        link::{InfoData, InfoVeth, LinkAttribute, LinkMessage},
    },
};
use tokio_stream::StreamExt;

use super::{NetError, links::VethPair};

/// The name of the threads that talk netlink.
const THREAD: &str = "agentos-rtnl";

/// An address and its prefix length on a link.
pub(crate) type Net = (IpAddr, u8);

/// A bridge `name` tagged `alias`, holding `gateways` (one per family), up; removed
/// again if a step after its creation fails.
pub(crate) fn create_bridge(name: &str, alias: &str, gateways: &[Net]) -> Result<(), NetError> {
    on_host(|h| async move {
        h.link()
            .add(LinkBridge::new(name).build())
            .execute()
            .await
            .map_err(failed("creating bridge", name))?;
        let made = async {
            let i = index(&h, name).await?;
            let tag = LinkUnspec::new_with_index(i).alias(alias).build();
            set(&h, "tagging", name, tag).await?;
            for &net in gateways {
                add_address(&h, i, net, name).await?;
            }
            set(&h, "bringing up", name, up(i)).await
        };
        undo_on_error(&h, name, made.await).await
    })
}

/// Makes `v` (its host end is removed again if a later step fails).
pub(crate) fn create_veth(v: &VethPair<'_>) -> Result<(), NetError> {
    // IFLA_NET_NS_PID in the peer's message, as `ip link add … peer name eth0 netns PID`:
    // the peer never appears on the host, whose own interface of that name it would
    // clash with.
    let peer = LinkUnspec::new_with_name(v.peer)
        .setns_by_pid(v.pid as u32)
        .build();
    let pair = LinkVeth::new(v.host, v.peer)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    let name = v.host;
    on_host(|h| async move {
        h.link()
            .add(pair)
            .execute()
            .await
            .map_err(failed("creating veth", name))?;
        let made = async {
            let i = index(&h, name).await?;
            let bridge = index(&h, v.bridge).await?;
            let tag = LinkUnspec::new_with_index(i).alias(v.alias).build();
            set(&h, "tagging", name, tag).await?;
            let enslave = LinkUnspec::new_with_index(i).controller(bridge).build();
            set(&h, "joining to its bridge", name, enslave).await?;
            h.link()
                .set_port(LinkBridgePort::new(i).isolated(v.isolated).build())
                .execute()
                .await
                .map_err(failed("setting the bridge port flags of", name))?;
            set(&h, "bringing up", name, up(i)).await
        };
        undo_on_error(&h, name, made.await).await
    })
}

/// Inside the namespace of `pid`: `peer` gets each of `addrs`, comes up, and each
/// family's default route goes through its address in `gateways`.
pub(crate) fn configure_peer(
    pid: i32,
    peer: &str,
    addrs: &[Net],
    gateways: &[IpAddr],
) -> Result<(), NetError> {
    let link = format!("{peer} of process {pid}");
    let link = link.as_str();
    in_netns_of(pid, |h| async move {
        let i = index(&h, peer).await?;
        for &net in addrs {
            add_address(&h, i, net, link).await?;
        }
        set(&h, "bringing up", link, up(i)).await?;
        for gw in gateways {
            let route = match *gw {
                IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build(),
                IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).build(),
            };
            h.route()
                .add(route)
                .execute()
                .await
                .map_err(failed("adding the default route of", link))?;
        }
        Ok(())
    })
}

/// Adds `addr/prefix` to link `i`. An IPv6 address skips duplicate address detection
/// (`IFA_F_NODAD`, as `ip address add … nodad`): the kernel chose it alone on its own
/// segment, and a tentative address would fail the program's first `connect` with
/// `EADDRNOTAVAIL` for the second DAD takes.
async fn add_address(h: &Handle, i: u32, (addr, prefix): Net, link: &str) -> Result<(), NetError> {
    let mut req = h.address().add(i, addr, prefix);
    if addr.is_ipv6() {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    req.execute().await.map_err(failed("addressing", link))
}

/// Deletes link `name` from the host (`RTM_DELLINK` by name; a veth takes its peer).
pub(crate) fn delete_link(name: &str) -> Result<(), NetError> {
    on_host(|h| async move { delete(&h, name).await })
}

/// Every link of the host: its name and alias (`RTM_GETLINK` dump).
pub(crate) fn links() -> Result<Vec<(String, Option<String>)>, NetError> {
    on_host(|h| async move { dump(&h).await })
}

/// Runs `f` with an rtnetlink handle in the host's (the daemon's) network namespace.
fn on_host<T, F, Fut>(f: F) -> Result<T, NetError>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T, NetError>>,
{
    run(None, f)
}

/// Runs `f` with an rtnetlink handle inside the network namespace of `pid`.
fn in_netns_of<T, F, Fut>(pid: i32, f: F) -> Result<T, NetError>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T, NetError>>,
{
    run(Some(pid), f)
}

fn run<T, F, Fut>(netns: Option<i32>, f: F) -> Result<T, NetError>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T, NetError>>,
{
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn_scoped(s, move || {
                if let Some(pid) = netns {
                    enter_netns_of(pid)?;
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .map_err(NetError::io("starting the netlink thread's runtime"))?;
                rt.block_on(async move {
                    let (conn, handle, _) = rtnetlink::new_connection()
                        .map_err(NetError::io("opening a NETLINK_ROUTE socket"))?;
                    let conn = tokio::spawn(conn);
                    let out = f(handle).await;
                    conn.abort();
                    out
                })
            })
            .map_err(NetError::io("starting a netlink thread"))?;
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread into the network namespace of `pid`.
fn enter_netns_of(pid: i32) -> Result<(), NetError> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&path).map_err(NetError::io(format!("opening {path}")))?;
    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetError::io(format!("setns into {path}"))(e.into()))
}

/// Maps a failed netlink step on `link` to [`NetError::Netlink`], keeping the errno.
fn failed(
    step: &'static str,
    link: impl Into<String>,
) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let link = link.into();
    move |e| NetError::Netlink {
        step,
        link,
        source: match e {
            rtnetlink::Error::NetlinkError(m) => m.to_io(),
            e => io::Error::other(e),
        },
    }
}

/// Whether `e` is the kernel's "no such device" for a link.
pub(crate) fn no_such_link(e: &NetError) -> bool {
    matches!(e, NetError::Netlink { source, .. } if source.raw_os_error() == Some(libc::ENODEV))
}

/// The index of link `name`.
async fn index(h: &Handle, name: &str) -> Result<u32, NetError> {
    let mut found = h.link().get().match_name(name.to_owned()).execute();
    match found.next().await {
        Some(Ok(l)) => Ok(l.header.index),
        Some(Err(e)) => Err(failed("looking up", name)(e)),
        None => Err(NetError::Netlink {
            step: "looking up",
            link: name.to_owned(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        }),
    }
}

/// Applies `msg` (`RTM_SETLINK`: flags, alias, master, …) to a link.
async fn set(h: &Handle, step: &'static str, link: &str, msg: LinkMessage) -> Result<(), NetError> {
    h.link()
        .set(msg)
        .execute()
        .await
        .map_err(failed(step, link))
}

/// Deletes link `name` (`RTM_DELLINK` by name; a veth takes its peer with it).
async fn delete(h: &Handle, name: &str) -> Result<(), NetError> {
    h.link()
        .del_with_message(LinkUnspec::new_with_name(name).build())
        .execute()
        .await
        .map_err(failed("deleting", name))
}

/// Every link of the namespace: its name and alias (`RTM_GETLINK` dump).
async fn dump(h: &Handle) -> Result<Vec<(String, Option<String>)>, NetError> {
    let mut all = h.link().get().execute();
    let mut out = Vec::new();
    while let Some(l) = all.next().await {
        let l = l.map_err(failed("listing", "all links"))?;
        let (mut name, mut alias) = (None, None);
        for a in l.attributes {
            match a {
                LinkAttribute::IfName(n) => name = Some(n),
                LinkAttribute::IfAlias(a) => alias = Some(a),
                _ => {}
            }
        }
        if let Some(name) = name {
            out.push((name, alias));
        }
    }
    Ok(out)
}

/// `RTM_SETLINK` bringing link `i` up.
fn up(i: u32) -> LinkMessage {
    LinkUnspec::new_with_index(i).up().build()
}

/// Passes `made` on, deleting the half-made link `name` first when it failed.
async fn undo_on_error(h: &Handle, name: &str, made: Result<(), NetError>) -> Result<(), NetError> {
    if made.is_err()
        && let Err(e) = delete(h, name).await
    {
        tracing::warn!("removing the half-made {name}: {e}");
    }
    made
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroI32;

    use super::*;

    fn refusal(errno: i32) -> rtnetlink::Error {
        let mut m = rtnetlink::packet_core::ErrorMessage::default();
        m.code = NonZeroI32::new(-errno);
        rtnetlink::Error::NetlinkError(m)
    }

    #[test]
    fn a_refusal_keeps_the_kernel_errno_and_names_the_step_and_the_link() {
        let gone = failed("deleting", "agentosv1f")(refusal(libc::ENODEV));
        assert!(no_such_link(&gone), "{gone:?}");
        assert_eq!(
            gone.to_string(),
            format!(
                "deleting link agentosv1f over rtnetlink: {}",
                io::Error::from_raw_os_error(libc::ENODEV)
            )
        );
        let taken = failed("creating veth", "agentosv20")(refusal(libc::EEXIST));
        assert!(!no_such_link(&taken), "{taken:?}");
        let NetError::Netlink { source, link, .. } = &taken else {
            panic!("{taken:?}")
        };
        assert_eq!(
            (source.raw_os_error(), link.as_str()),
            (Some(libc::EEXIST), "agentosv20")
        );
    }

    #[test]
    fn deleting_a_link_the_host_lacks_is_enodev_from_the_kernel() {
        let test = "deleting_a_link_the_host_lacks_is_enodev_from_the_kernel";
        if !nix::unistd::geteuid().is_root() {
            return crate::testing::skip(test, "RTM_DELLINK needs CAP_NET_ADMIN");
        }
        // A name no kernel of ours makes (bridges and veths end in hex digits).
        let name = "agentos-absent";
        let e = delete_link(name).expect_err("no such link");
        assert!(no_such_link(&e), "{e:?}");
        assert!(e.to_string().contains(name), "{e}");
        assert!(
            links().expect("a link dump").iter().any(|(n, _)| n == "lo"),
            "the dump lists the host's loopback"
        );
    }
}
