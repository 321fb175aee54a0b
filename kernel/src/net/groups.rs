//! Rootless `bridged`: the groups whose members reach each other through the kernel.
//!
//! A rootless kernel can make no bridge, so a group is an address plan and a table: each
//! group gets a /24 of `10.214.0.0/16`, each member an address in it, which its sandbox
//! holds on `lo:agentos` as a rootless `private` one holds `10.213.0.2` (`proxied.rs`).
//! A member's connect to another member's address is redirected in its own namespace to
//! the kernel like any other, and the kernel carries it into the other member's namespace
//! through that member's [`Dialer`]: so the group's members reach each other over TCP, and
//! nobody else does (no other sandbox's rules let a connect to the group's /24 out, and
//! the kernel carries one only between members of one group). A member's UDP to another
//! is carried the same way (`udp_egress.rs`), the datagrams arriving from the sender's
//! own address.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::{Arc, Mutex, Weak},
};

use super::NetError;
use crate::sandbox::Dialer;

/// What rootless `bridged` is, for `agentos doctor`.
pub const CARRIES: &str = "rootless: each process a rootless private one, at an address of \
     its group's /24 in 10.214.0.0/16; a member's TCP and UDP to another member's address \
     are carried by the kernel into that member's namespace, and nobody else's";

/// The first two octets of every group's /24.
const GROUPS_BASE: [u8; 2] = [10, 214];
/// Every group's addresses, as nftables writes them: no sandbox's connect there leaves
/// its namespace but to a member of its own group, whatever its grants.
pub const RANGE: &str = "10.214.0.0/16";

/// Whether `ip` is in [`RANGE`].
pub fn in_range(ip: Ipv4Addr) -> bool {
    ip.octets()[..2] == GROUPS_BASE
}
/// Hosts of a group: `.2` to `.254`.
const FIRST_HOST: u8 = 2;
const LAST_HOST: u8 = 254;
/// Groups at once: the /24s `10.214.1.0` to `10.214.254.0`.
const LAST_GROUP: u8 = 254;

/// The rootless groups of one kernel.
#[derive(Debug, Default)]
pub struct Groups {
    groups: Mutex<HashMap<String, Group>>,
}

#[derive(Debug, Default)]
struct Group {
    /// The third octet of its /24.
    index: u8,
    /// Each member's address, and its helper once it has one.
    members: HashMap<Ipv4Addr, Weak<Dialer>>,
}

impl Groups {
    /// A new member of `group` (made if it has none): its address, held until the
    /// returned [`Membership`] drops.
    pub fn join(self: &Arc<Self>, group: &str) -> Result<Membership, NetError> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if !groups.contains_key(group) {
            let taken: Vec<u8> = groups.values().map(|g| g.index).collect();
            let index = (1..=LAST_GROUP)
                .find(|i| !taken.contains(i))
                .ok_or_else(|| {
                    NetError::Exhausted("every rootless bridged group's /24 is taken".into())
                })?;
            groups.insert(
                group.to_owned(),
                Group {
                    index,
                    members: HashMap::new(),
                },
            );
        }
        let entry = groups.get_mut(group).expect("made above");
        let subnet = subnet(entry.index);
        let address = (FIRST_HOST..=LAST_HOST)
            .map(|host| Ipv4Addr::new(subnet[0], subnet[1], subnet[2], host))
            .find(|a| !entry.members.contains_key(a))
            .ok_or_else(|| NetError::Exhausted(format!("bridged group {group} is full")))?;
        entry.members.insert(address, Weak::new());
        Ok(Membership {
            groups: Arc::clone(self),
            group: group.to_owned(),
            address,
            prefix: entry.index,
        })
    }

    /// The helper of the member of `group` at `address`, while it lives.
    fn dialer(&self, group: &str, address: Ipv4Addr) -> Option<Arc<Dialer>> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.get(group)?.members.get(&address)?.upgrade()
    }
}

/// The first three octets of group `index`'s /24.
fn subnet(index: u8) -> [u8; 3] {
    [GROUPS_BASE[0], GROUPS_BASE[1], index]
}

/// One member's place in its group; dropping it frees the address (and the group, with
/// its last member).
#[derive(Debug)]
pub struct Membership {
    groups: Arc<Groups>,
    group: String,
    address: Ipv4Addr,
    prefix: u8,
}

impl Membership {
    /// The member's own address.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The group's /24, as nftables writes it.
    pub fn subnet(&self) -> String {
        let [a, b, c] = subnet(self.prefix);
        format!("{a}.{b}.{c}.0/24")
    }

    /// Whether `ip` is in the group's /24.
    pub fn covers(&self, ip: Ipv4Addr) -> bool {
        ip.octets()[..3] == subnet(self.prefix)
    }

    /// Makes the member reachable through `dialer`.
    pub fn reach_through(&self, dialer: &Arc<Dialer>) {
        let mut groups = self.groups.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = groups.get_mut(&self.group) {
            g.members.insert(self.address, Arc::downgrade(dialer));
        }
    }

    /// The helper of the group's member at `ip` (none: no such member, or it is gone).
    pub fn peer(&self, ip: Ipv4Addr) -> Option<Arc<Dialer>> {
        self.groups.dialer(&self.group, ip)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut groups = self.groups.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = groups.get_mut(&self.group) {
            g.members.remove(&self.address);
            if g.members.is_empty() {
                groups.remove(&self.group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_get_addresses_of_their_groups_and_give_them_back() {
        let groups = Arc::new(Groups::default());
        let a = groups.join("web").unwrap();
        let b = groups.join("web").unwrap();
        let other = groups.join("db").unwrap();
        assert_eq!(a.address(), Ipv4Addr::new(10, 214, 1, 2));
        assert_eq!(b.address(), Ipv4Addr::new(10, 214, 1, 3));
        assert_eq!(other.address(), Ipv4Addr::new(10, 214, 2, 2));
        assert_eq!(a.subnet(), "10.214.1.0/24");
        assert!(a.covers(b.address()) && !a.covers(other.address()));
        // No helper yet: nobody to reach.
        assert!(a.peer(b.address()).is_none());
        // A member gone frees its address; a group gone frees its /24.
        drop(b);
        assert_eq!(
            groups.join("web").unwrap().address(),
            Ipv4Addr::new(10, 214, 1, 3)
        );
        drop((a, other));
        assert!(groups.groups.lock().unwrap().is_empty());
    }
}
