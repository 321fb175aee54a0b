//! Rootless `private`'s outgoing UDP, carried by the kernel (init's half, the way the
//! datagrams reach it, is `sandbox/udp_out.rs`).
//!
//! Init's transparent socket on the namespace's `127.0.0.1:1022` (and, where the namespace
//! has IPv6, its twin on `[::1]:1022`) receives each datagram the program sends to an
//! address outside the namespace (other than the DNS relay's, which has its own way),
//! with its original destination (`IP_ORIGDSTADDR`, `IPV6_ORIGDSTADDR`); each socket is
//! served by a relay of its own.
//! The kernel checks the destination against the process's decision list, the one the
//! namespace's rules hold too ([`Decisions::allows`], the second guard), and carries the
//! flow (program's address and port → destination) with two sockets:
//!
//! - one of the host's, connected to the destination;
//! - one in the sandbox's namespace, made there by its [`Dialer`] and made transparent by
//!   the kernel (which owns the namespace's user namespace, so it holds `CAP_NET_ADMIN`
//!   over it), bound to the destination's address and port and connected to the
//!   program's. The answers leave it with the destination's address and port as their
//!   source, as the program expects; and `tproxy` looks for a connected socket before
//!   the listening one, so the flow's later datagrams come straight to it.
//!
//! A flow to another member of the process's rootless `bridged` group (`groups.rs`) is
//! carried the same way into that member's namespace: its outer socket is made there by
//! the member's own [`Dialer`], made transparent, bound to the sender's address and port
//! and connected to the member's, so the member sees the datagrams come from the sender,
//! and its answers, handed to the kernel by its own namespace's rules, find that socket.
//!
//! A flow is forgotten after [`UDP_IDLE`] without a datagram either way; at most
//! [`MAX_FLOWS`] are carried at once (a new flow's datagrams beyond that are dropped, as
//! are those of a refused flow: the namespace's rules already refused it with `EPERM`).
//! Nothing is left on the host: the sockets close with the flows, and the flows with the
//! relay, when the process is reaped.

use std::{
    collections::HashMap,
    io::{self, IoSliceMut},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::{AsRawFd, OwnedFd},
    sync::{Arc, RwLock},
};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, bind, recvmsg, setsockopt,
    sockopt::{IpTransparent, ReuseAddr},
};
use tokio::{
    io::Interest, net::UdpSocket, runtime::Handle, sync::OnceCell, task::JoinSet, time::Instant,
};

use super::{
    Membership,
    dns::RESOLVER,
    egress::Decisions,
    forward_relay::{self, MAX_DATAGRAM, MAX_FLOWS, Relay, UDP_IDLE},
    groups,
};
use crate::sandbox::{Dialer, Namespaces, PROXY_ADDR6, PROXY_UDP_PORT, SocketKind};

/// A flow: the program's address and port, and where it sent to.
type FlowKey = (SocketAddr, SocketAddr);

/// The sandbox's namespace, where a flow's inner socket is made: through the process's
/// own dialer if it has one, else through one started at its first flow.
pub(crate) struct Inside {
    dialer: OnceCell<Arc<Dialer>>,
    ns: Namespaces,
}

impl Inside {
    /// The sandbox's namespaces `ns`, with `dialer` if it has one already.
    pub(crate) fn new(ns: Namespaces, dialer: Option<Arc<Dialer>>) -> Self {
        Self {
            dialer: OnceCell::new_with(dialer),
            ns,
        }
    }

    async fn dialer(&self) -> io::Result<&Arc<Dialer>> {
        self.dialer
            .get_or_try_init(|| async {
                let ns = self.ns.try_clone()?;
                tokio::task::spawn_blocking(move || Dialer::start(&ns))
                    .await
                    .map_err(io::Error::other)?
                    .map(Arc::new)
            })
            .await
    }
}

/// Whom a process's flows may go to: what its decision list allows, and its bridged
/// group's other members.
#[derive(Clone)]
pub(crate) struct Reach {
    pub decisions: Arc<RwLock<Decisions>>,
    /// The sandbox's own address, which is no destination.
    pub own: Ipv4Addr,
    pub member: Option<Arc<Membership>>,
}

/// Serves init's transparent socket `sock` (of either family) on `rt`: each flow `reach`
/// allows is carried out and its answers back in.
pub(crate) fn serve(
    rt: &Handle,
    sock: OwnedFd,
    inside: Arc<Inside>,
    reach: Reach,
) -> io::Result<Relay> {
    let sock = std::net::UdpSocket::from(sock);
    sock.set_nonblocking(true)?;
    let _guard = rt.enter();
    let sock = UdpSocket::from_std(sock)?;
    Ok(Relay::spawn(rt, carry_all(sock, inside, reach)))
}

async fn carry_all(sock: UdpSocket, inside: Arc<Inside>, reach: Reach) {
    let mut flows: HashMap<FlowKey, Arc<UdpSocket>> = HashMap::new();
    let mut carried = JoinSet::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // Room for one original destination, allocated once for every datagram.
    let mut space = nix::cmsg_space!(libc::sockaddr_in6);
    loop {
        tokio::select! {
            got = sock.async_io(Interest::READABLE, || recv_with_destination(&sock, &mut buf, &mut space)) => {
                let (n, key) = match got {
                    Ok((n, Some(key))) => (n, key),
                    Ok((_, None)) => continue,
                    Err(e) => {
                        tracing::debug!("udp egress: {e}");
                        continue;
                    }
                };
                let out = match flows.get(&key) {
                    Some(out) => Arc::clone(out),
                    None if flows.len() >= MAX_FLOWS => continue,
                    None => {
                        let to = match route(key.1, &reach) {
                            Ok(to) => to,
                            Err(why) => {
                                tracing::debug!("udp egress {} → {}: {why}", key.0, key.1);
                                continue;
                            }
                        };
                        match open(&inside, key, to).await {
                            Ok((inn, out)) => {
                                let out = Arc::new(out);
                                flows.insert(key, Arc::clone(&out));
                                carried.spawn(carry(inn, Arc::clone(&out), key));
                                out
                            }
                            Err(e) => {
                                tracing::debug!("udp egress {} → {}: {e}", key.0, key.1);
                                continue;
                            }
                        }
                    }
                };
                if let Err(e) = out.send(&buf[..n]).await {
                    tracing::debug!("udp egress {} → {}: {e}", key.0, key.1);
                }
            }
            Some(Ok(key)) = carried.join_next(), if !carried.is_empty() => {
                flows.remove(&key);
            }
        }
    }
}

/// Where a flow's outer socket is made.
enum Out {
    /// In the host's network.
    Host,
    /// In the namespace of a member of the sender's group, by that member's helper.
    Member(Arc<Dialer>),
}

/// Where the kernel carries a flow to `to`, if anywhere: not to the sandbox's own
/// address, a loopback one or the DNS relay's (which has its own way); to a bridged
/// group's address only between members of that group; elsewhere where the decision
/// list allows UDP.
fn route(to: SocketAddr, reach: &Reach) -> Result<Out, &'static str> {
    let local = match to.ip() {
        IpAddr::V4(ip) => ip == reach.own || ip == RESOLVER,
        IpAddr::V6(ip) => ip == Ipv6Addr::from(PROXY_ADDR6),
    };
    if local || to.ip().is_loopback() {
        return Err("a local address");
    }
    if let IpAddr::V4(ip) = to.ip()
        && groups::in_range(ip)
    {
        return reach
            .member
            .as_deref()
            .filter(|m| m.covers(ip))
            .and_then(|m| m.peer(ip))
            .map(Out::Member)
            .ok_or("no member of its group there");
    }
    let decisions = reach.decisions.read().unwrap_or_else(|e| e.into_inner());
    if decisions.allows(to.ip(), to.port(), false) {
        Ok(Out::Host)
    } else {
        Err("not granted")
    }
}

/// One datagram from init's socket, with the flow it belongs to (`None` for one whose
/// destination was not handed over: sent to the socket itself); `space` is the room for
/// the control message ([`nix::cmsg_space`] of a `sockaddr_in6`).
fn recv_with_destination(
    sock: &UdpSocket,
    buf: &mut [u8],
    space: &mut [u8],
) -> io::Result<(usize, Option<FlowKey>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(space),
        MsgFlags::MSG_DONTWAIT,
    )?;
    let to = msg.cmsgs()?.find_map(|c| match c {
        ControlMessageOwned::Ipv4OrigDstAddr(sa) => Some(SocketAddr::from((
            Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
            u16::from_be(sa.sin_port),
        ))),
        ControlMessageOwned::Ipv6OrigDstAddr(sa) => Some(SocketAddr::from((
            Ipv6Addr::from(sa.sin6_addr.s6_addr),
            u16::from_be(sa.sin6_port),
        ))),
        _ => None,
    });
    let from = msg.address.and_then(|a| socket_addr(&a));
    let key = from.zip(to).filter(|(_, to)| to.port() != PROXY_UDP_PORT);
    Ok((msg.bytes, key))
}

/// `a` as a standard address, if it is an IP one.
fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// A flow's two sockets: inside (in the sender's namespace, bound to the destination,
/// connected to the sender) and out (the host's, connected to the destination; or, to a
/// member of its group, in that member's namespace, bound to the sender and connected to
/// the member).
async fn open(
    inside: &Inside,
    (from, to): FlowKey,
    out: Out,
) -> io::Result<(UdpSocket, UdpSocket)> {
    let out = match out {
        Out::Host => forward_relay::connect_udp(to).await?,
        Out::Member(dialer) => posing(&dialer, from, to).await?,
    };
    let inn = posing(inside.dialer().await?, to, from).await?;
    Ok((inn, out))
}

/// A UDP socket made by `dialer` in its namespace, posing as `at` there (transparent,
/// bound to `at`, whatever the namespace's addresses) and connected to `peer`.
async fn posing(dialer: &Arc<Dialer>, at: SocketAddr, peer: SocketAddr) -> io::Result<UdpSocket> {
    let kind = if at.is_ipv6() {
        SocketKind::Udp6
    } else {
        SocketKind::Udp
    };
    let fd = forward_relay::made(dialer, kind).await?;
    if at.is_ipv6() {
        transparent6(&fd)?;
    } else {
        setsockopt(&fd, IpTransparent, &true)?;
    }
    // Flows of several sockets to one destination each bind it.
    setsockopt(&fd, ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(at))?;
    let sock = std::net::UdpSocket::from(fd);
    sock.connect(peer)?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock)
}

/// `IPV6_TRANSPARENT` on `fd` (nix has no such option).
fn transparent6(fd: &OwnedFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is an int of the size given, `fd` an open socket.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_IPV6,
            libc::IPV6_TRANSPARENT,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Carries a flow both ways until [`UDP_IDLE`] passes with nothing either way; returns
/// its key.
async fn carry(inn: UdpSocket, out: Arc<UdpSocket>, key: FlowKey) -> FlowKey {
    let (mut up, mut down) = (vec![0u8; MAX_DATAGRAM], vec![0u8; MAX_DATAGRAM]);
    let idle = tokio::time::sleep(UDP_IDLE);
    tokio::pin!(idle);
    loop {
        let sent = tokio::select! {
            got = inn.recv(&mut up) => match got {
                Ok(n) => out.send(&up[..n]).await,
                Err(e) => Err(e),
            },
            got = out.recv(&mut down) => match got {
                Ok(n) => inn.send(&down[..n]).await,
                Err(e) => Err(e),
            },
            () = &mut idle => return key,
        };
        if let Err(e) = sent {
            // An ICMP error from either end (ECONNREFUSED) is the flow's, not the relay's.
            tracing::debug!("udp egress {} → {}: {e}", key.0, key.1);
        }
        idle.as_mut().reset(Instant::now() + UDP_IDLE);
    }
}
