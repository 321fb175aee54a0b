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
//!   its address and a default route through the bridge. It dies with the
//!   namespace: nothing to remove when the process exits.
//!
//! Segment numbers are chosen under a host-wide flock (`/run/agentos-net.lock`),
//! held while a bridge is created and tagged and while the sweep looks, so two
//! kernels never pick the same subnet and a sweep never sees an untagged bridge.

use std::{fs, net::Ipv4Addr, path::Path};

use nix::fcntl::{Flock, FlockArg};

use super::{NetError, tool};

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
        let alias = quoted_alias(owner)?;
        tool::ip_batch(&format!(
            "link add name {n} type bridge\n\
             link set dev {n} alias {alias}\n\
             address add {gw}/24 dev {n}\n\
             link set dev {n} up\n",
            n = b.name,
            gw = b.gateway(),
        ))
        .inspect_err(|_| {
            let _ = delete_link(&b.name);
        })?;
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
        let alias = quoted_alias(owner)?;
        let isolated = if isolated { "on" } else { "off" };
        tool::ip_batch(&format!(
            "link add name {veth} type veth peer name eth0 netns {pid}\n\
             link set dev {veth} alias {alias}\n\
             link set dev {veth} master {br}\n\
             link set dev {veth} type bridge_slave isolated {isolated}\n\
             link set dev {veth} up\n",
            br = self.name,
        ))
        .inspect_err(|_| {
            let _ = delete_link(&veth);
        })?;
        tool::ip_batch_in(
            pid,
            &format!(
                "address add {addr}/24 dev eth0\n\
                 link set dev eth0 up\n\
                 route add default via {gw}\n",
                gw = self.gateway(),
            ),
        )
        .inspect_err(|_| {
            let _ = delete_link(&veth);
        })?;
        Ok(veth)
    }
}

/// Host numbers of a segment, `2..=254`.
pub(crate) fn hosts() -> impl Iterator<Item = u8> {
    2..=LAST_HOST
}

/// `"<path>"` for `ip`'s alias (at most 255 bytes; no quote or newline).
fn quoted_alias(owner: &Path) -> Result<String, NetError> {
    let s = owner.to_string_lossy();
    if s.len() > 250 || s.contains(['"', '\n', '\\']) {
        return Err(NetError::Invalid(format!(
            "the data directory {s:?} cannot tag a network interface (over 250 bytes, or a quote, backslash or newline)"
        )));
    }
    Ok(format!("\"{s}\""))
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
    let v = tool::json(tool::IP, &["-j", "link", "show"])?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let name = l.get("ifname")?.as_str()?;
            name.starts_with(LINK_PREFIX).then(|| Link {
                name: name.to_owned(),
                alias: l.get("ifalias").and_then(|a| a.as_str()).map(str::to_owned),
            })
        })
        .collect())
}

/// `ip link delete NAME`.
pub(crate) fn delete_link(name: &str) -> Result<(), NetError> {
    tool::ip_batch(&format!("link delete dev {name}\n"))
}

/// Deletes `name` if the host still has it: a process's veth normally goes with its
/// namespace, but anything that pins the namespace (a socket in TIME_WAIT, an open
/// `/proc/PID/ns/net`) keeps it, and a later process with the same pid would then find
/// its veth's name taken.
pub(crate) fn delete_link_if_present(name: &str) -> Result<(), NetError> {
    let present = || std::path::Path::new("/sys/class/net").join(name).exists();
    if !present() {
        return Ok(());
    }
    // It may go with its namespace between the look and the delete.
    delete_link(name).or_else(|e| if present() { Err(e) } else { Ok(()) })
}
