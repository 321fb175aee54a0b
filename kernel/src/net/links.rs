//! Links, addresses and routes: the bridges and veth pairs of private and bridged
//! processes.
//!
//! * A **bridge** `agentosb<NN>` per segment (the kernel's private segment, or one
//!   bridged group) holds `10.213.NN.1/24` and, when the host has IPv6,
//!   `fd61:6765:6e74:NN::1/64` ([`ULA_PREFIX`]). Its alias is the owning kernel's data
//!   directory, which is how the start-up sweep finds its owner.
//!   `/proc/sys/net/ipv4/conf/<bridge>/{forwarding,route_localnet}` and
//!   `/proc/sys/net/ipv6/conf/<bridge>/force_forwarding` are set on the bridge alone:
//!   the host's global `ip_forward` and `net.ipv6.conf.all.forwarding` are left as they
//!   are (IPv6 forwarding is decided on the interface a packet came in by, like IPv4's,
//!   only since Linux 6.17's `force_forwarding`; before it, the global switch alone;
//!   writing `all.forwarding=0` later clears it on every interface, ours too).
//! * Segment 255 is never a bridge: its addresses are the kernel's services as every
//!   sandbox sees them (the DNS relay, `dns.rs`). A bridge with IPv6 also holds
//!   `fd61:6765:6e74:ff::53/128`, the relay's IPv6 address, a local address of the host
//!   for as long as any bridge holds it (the same address on several bridges, also of
//!   several kernels, is allowed; it goes with them).
//! * A **veth pair** per process: `agentosv<pid in hex>` on the host, enslaved to
//!   the bridge (as an *isolated* port in the private segment, so private processes
//!   cannot reach each other), and `eth0` in the process's network namespace with
//!   its addresses (`10.213.NN.h`, `fd61:6765:6e74:NN::h`) and a default route of each
//!   family through the bridge, all set from inside that namespace. It is removed at
//!   the process's exit (it would otherwise live as long as anything pins the
//!   namespace).
//!
//! All of it goes over rtnetlink (`rtnl.rs`); a step that fails removes the link it
//! was making and names it in the error.
//!
//! Segment numbers are chosen under a host-wide flock (`/run/agentos-net.lock`),
//! held while a bridge is created and tagged and while the sweep looks, so two
//! kernels never pick the same subnet and a sweep never sees an untagged bridge.

use std::{
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use nix::fcntl::{Flock, FlockArg};

use super::{NetError, dns::RESOLVER6, rtnl};

/// Every interface the kernel makes starts with this.
pub const LINK_PREFIX: &str = "agentos";
/// Bridges: `agentosb` + two hex digits (the segment number).
pub(crate) const BRIDGE_PREFIX: &str = "agentosb";
/// Host ends of veth pairs: `agentosv` + the sandbox init's pid in hex.
pub(crate) const VETH_PREFIX: &str = "agentosv";
/// The host-wide lock over segment numbers.
const NET_LOCK: &str = "/run/agentos-net.lock";
/// The subnets: `10.213.<segment>.0/24`.
const SUBNET_BASE: [u8; 2] = [10, 213];
/// Highest host number in a /24 (the bridge is .1, processes .2..=254).
const LAST_HOST: u8 = 254;
/// The segments' prefix length.
const SUBNET_PREFIX: u8 = 24;
/// The IPv6 segments: `fd61:6765:6e74:<segment>::/64`, a unique-local (RFC 4193) /48
/// whose 40-bit global ID is the ASCII of "agent": stable across restarts and the same
/// on every host, so anyone reading a route or a rule can tell it is AgentOS's. RFC 4193
/// asks for a random global ID so that merged networks do not collide; these never
/// leave the host (everything out is masqueraded), so recognisable wins.
pub(crate) const ULA_PREFIX: [u16; 3] = [0xfd61, 0x6765, 0x6e74];
/// The IPv6 segments' prefix length.
const SUBNET6_PREFIX: u8 = 64;
/// The segment number no bridge gets: its addresses are the kernel's services.
pub(crate) const SERVICE_SEGMENT: u8 = u8::MAX;
/// The process's end of its veth pair, inside its namespace.
const PEER: &str = "eth0";
/// Longest alias a link can carry (`IFALIASZ` less the NUL).
const MAX_ALIAS: usize = 255;

/// The host-wide lock over segment numbers and the sweep.
pub(crate) fn host_lock() -> Result<Flock<fs::File>, NetError> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(NET_LOCK)
        .map_err(NetError::io(format!("opening {NET_LOCK}")))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| NetError::io(format!("locking {NET_LOCK}"))(e.into()))
}

/// `10.213.<segment>.<host>`.
pub(crate) const fn address4(segment: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET_BASE[0], SUBNET_BASE[1], segment, host)
}

/// `fd61:6765:6e74:<segment>::<host>`.
pub(crate) const fn address6(segment: u8, host: u16) -> Ipv6Addr {
    let [a, b, c] = ULA_PREFIX;
    Ipv6Addr::new(a, b, c, segment as u16, 0, 0, 0, host)
}

/// One bridge and its subnets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bridge {
    pub number: u8,
    pub name: String,
    /// Whether it has an IPv6 subnet too.
    pub v6: bool,
}

impl Bridge {
    fn new(number: u8, v6: bool) -> Self {
        Self {
            number,
            name: format!("{BRIDGE_PREFIX}{number:02x}"),
            v6,
        }
    }

    /// `10.213.NN.host`.
    pub fn address(&self, host: u8) -> Ipv4Addr {
        address4(self.number, host)
    }

    /// `fd61:6765:6e74:NN::host`, when the bridge has IPv6.
    pub fn address6(&self, host: u8) -> Option<Ipv6Addr> {
        self.v6.then(|| address6(self.number, host.into()))
    }

    /// Host `host`'s addresses with their prefixes, IPv4 first.
    fn nets(&self, host: u8) -> Vec<rtnl::Net> {
        let mut nets = vec![(self.address(host).into(), SUBNET_PREFIX)];
        nets.extend(self.address6(host).map(|a| (a.into(), SUBNET6_PREFIX)));
        nets
    }

    /// Creates a bridge on a free segment, tagged with `owner`, up, forwarding; with an
    /// IPv6 subnet too if `v6`.
    pub fn create(owner: &Path, v6: bool) -> Result<Self, NetError> {
        let _lock = host_lock()?;
        let taken: Vec<String> = links()?.into_iter().map(|l| l.name).collect();
        let number = (0..SERVICE_SEGMENT)
            .find(|n| !taken.contains(&Self::new(*n, v6).name))
            .ok_or_else(|| {
                NetError::Exhausted(format!(
                    "all {SERVICE_SEGMENT} agentos bridge subnets are in use"
                ))
            })?;
        let b = Self::new(number, v6);
        let mut addrs = b.nets(1);
        if v6 {
            // Where the DNS relay listens for IPv6 queries (dns.rs).
            addrs.push((RESOLVER6.into(), 128));
        }
        rtnl::create_bridge(&b.name, &alias(owner)?, &addrs)?;
        let mut knobs = vec![
            (
                format!("/proc/sys/net/ipv4/conf/{}/forwarding", b.name),
                "1",
            ),
            (
                format!("/proc/sys/net/ipv4/conf/{}/route_localnet", b.name),
                "1",
            ),
        ];
        if v6 && forwarding6_per_interface() {
            knobs.push((ipv6_knob(&b.name, FORCE_FORWARDING), "1"));
        }
        for (path, what) in knobs {
            if let Err(e) = fs::write(&path, what) {
                let _ = delete_link(&b.name);
                return Err(NetError::io(format!("writing {path}"))(e));
            }
        }
        Ok(b)
    }

    /// Removes the bridge (each port, a process's veth, is removed at that process's exit).
    pub fn delete(&self) -> Result<(), NetError> {
        delete_link(&self.name)
    }

    /// Gives `pid`'s network namespace `eth0` as host `host` of this bridge, joined to it.
    pub fn attach(
        &self,
        pid: i32,
        host: u8,
        isolated: bool,
        owner: &Path,
    ) -> Result<String, NetError> {
        let veth = format!("{VETH_PREFIX}{pid:x}");
        rtnl::create_veth(&VethPair {
            host: &veth,
            peer: PEER,
            pid,
            alias: &alias(owner)?,
            bridge: &self.name,
            isolated,
        })?;
        let gateways: Vec<IpAddr> = self.nets(1).into_iter().map(|(a, _)| a).collect();
        rtnl::configure_peer(pid, PEER, &self.nets(host), &gateways).inspect_err(|_| {
            let _ = delete_link(&veth);
        })?;
        Ok(veth)
    }
}

/// The per-interface IPv6 forwarding switch (Linux 6.17).
const FORCE_FORWARDING: &str = "force_forwarding";

/// `/proc/sys/net/ipv6/conf/<link>/<knob>`.
fn ipv6_knob(link: &str, knob: &str) -> String {
    format!("/proc/sys/net/ipv6/conf/{link}/{knob}")
}

/// Whether this Linux forwards IPv6 by the interface a packet came in on
/// (`force_forwarding`), not only by `net.ipv6.conf.all.forwarding`.
pub(crate) fn forwarding6_per_interface() -> bool {
    Path::new(&ipv6_knob("default", FORCE_FORWARDING)).exists()
}

/// A veth pair: `host` on the host, tagged `alias`, a port of `bridge` (isolated or
/// not), up; and `peer` made directly in the network namespace of `pid`.
#[cfg_attr(
    not(target_os = "linux"),
    expect(dead_code, reason = "read by rtnl.rs; off Linux nothing makes links")
)]
pub(crate) struct VethPair<'a> {
    pub host: &'a str,
    pub peer: &'a str,
    pub pid: i32,
    pub alias: &'a str,
    pub bridge: &'a str,
    pub isolated: bool,
}

/// Host numbers of a segment, `2..=254`.
pub(crate) fn hosts() -> impl Iterator<Item = u8> {
    2..=LAST_HOST
}

/// `owner` as a link's alias (`IFLA_IFALIAS`: at most 255 bytes), which the sweep
/// compares with data directories.
fn alias(owner: &Path) -> Result<String, NetError> {
    match owner.to_str() {
        Some(s) if s.len() <= MAX_ALIAS => Ok(s.to_owned()),
        _ => Err(NetError::Invalid(format!(
            "the data directory {owner:?} cannot tag a network interface (over {MAX_ALIAS} bytes, or not UTF-8)"
        ))),
    }
}

/// An `agentos*` interface on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub name: String,
    /// The owner's data directory, when tagged.
    pub alias: Option<String>,
}

/// The host's `agentos*` interfaces.
pub(crate) fn links() -> Result<Vec<Link>, NetError> {
    Ok(rtnl::links()?
        .into_iter()
        .filter(|(name, _)| name.starts_with(LINK_PREFIX))
        .map(|(name, alias)| Link { name, alias })
        .collect())
}

/// Deletes link `name` from the host.
pub(crate) fn delete_link(name: &str) -> Result<(), NetError> {
    rtnl::delete_link(name)
}

/// Deletes `name` if the host still has it: a process's veth normally goes with its
/// namespace, but anything that pins the namespace (a socket in TIME_WAIT, an open
/// `/proc/PID/ns/net`) keeps it, and a later process with the same pid would then find
/// its veth's name taken. The kernel's `ENODEV` says it is gone already (also when it
/// went with its namespace between a look and the delete).
pub(crate) fn delete_link_if_present(name: &str) -> Result<(), NetError> {
    delete_link(name).or_else(|e| {
        if rtnl::no_such_link(&e) {
            Ok(())
        } else {
            Err(e)
        }
    })
}
