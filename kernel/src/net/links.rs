//! Links, addresses and routes: the bridges and veth pairs of private and bridged
//! processes.
//!
//! * A **bridge** `agentosb<NN>` per segment (the kernel's private segment, or one
//!   bridged group) holds `10.213.NN.1/24`. Its alias is the owning kernel's data
//!   directory, which is how the start-up sweep finds its owner.
//!   `/proc/sys/net/ipv4/conf/<bridge>/{forwarding,route_localnet}` are set on the
//!   bridge alone: the host's global `ip_forward` is left as it is.
//! * A **veth pair** per process: `agentosv<pid in hex>` on the host, enslaved to
//!   the bridge (as an *isolated* port in the private segment, so private processes
//!   cannot reach each other), and `eth0` in the process's network namespace with
//!   its address and a default route through the bridge, both set from inside
//!   that namespace. It is removed at the process's exit (it would otherwise live
//!   as long as anything pins the namespace).
//!
//! All of it goes over rtnetlink (`rtnl.rs`); a step that fails removes the link it
//! was making and names it in the error.
//!
//! Segment numbers are chosen under a host-wide flock (`/run/agentos-net.lock`),
//! held while a bridge is created and tagged and while the sweep looks, so two
//! kernels never pick the same subnet and a sweep never sees an untagged bridge.

use std::{fs, net::Ipv4Addr, path::Path};

use nix::fcntl::{Flock, FlockArg};

use super::{NetError, rtnl};

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

/// One bridge and its subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bridge {
    pub number: u8,
    pub name: String,
}

impl Bridge {
    fn new(number: u8) -> Self {
        Self {
            number,
            name: format!("{BRIDGE_PREFIX}{number:02x}"),
        }
    }

    /// `10.213.NN.host`.
    pub fn address(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(SUBNET_BASE[0], SUBNET_BASE[1], self.number, host)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.address(1)
    }

    /// Creates a bridge on a free segment, tagged with `owner`, up, forwarding.
    pub fn create(owner: &Path) -> Result<Self, NetError> {
        let _lock = host_lock()?;
        let taken: Vec<String> = links()?.into_iter().map(|l| l.name).collect();
        let number = (0..=u8::MAX)
            .find(|n| !taken.contains(&Self::new(*n).name))
            .ok_or_else(|| {
                NetError::Exhausted("all 256 agentos bridge subnets are in use".into())
            })?;
        let b = Self::new(number);
        rtnl::create_bridge(&b.name, &alias(owner)?, b.gateway(), SUBNET_PREFIX)?;
        for (knob, what) in [("forwarding", "1"), ("route_localnet", "1")] {
            let path = format!("/proc/sys/net/ipv4/conf/{}/{knob}", b.name);
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

    /// Gives `pid`'s network namespace `eth0` at `addr`, joined to this bridge.
    pub fn attach(
        &self,
        pid: i32,
        addr: Ipv4Addr,
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
        rtnl::configure_peer(pid, PEER, addr, SUBNET_PREFIX, self.gateway()).inspect_err(|_| {
            let _ = delete_link(&veth);
        })?;
        Ok(veth)
    }
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
