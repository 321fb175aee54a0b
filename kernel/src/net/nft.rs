//! The kernel's nftables table, `inet agentos-k<pid in hex>`, commented with the
//! kernel's data directory (how the sweep finds its owner).
//!
//! ```text
//! set bridges          the kernel's bridges          (iifname @bridges → egress)
//! set peers            ifname . ifname of bridged groups (their members reach each other)
//! set grouped          the bridges of bridged groups (nothing else forwards into them)
//! map senders          process address → jump p<n>   (its egress chain, egress.rs)
//! map senders6         process IPv6 address → jump p<n> (the same chain)
//! map published        proto . address . port → jump f<n> (its forwards, forwards.rs)
//! chain egress         ip saddr vmap @senders; ip6 saddr vmap @senders6; reject
//! chain filter_forward hook forward: established → accept; peers → accept;
//!                      into a group from elsewhere → reject; bridges → egress
//! chain filter_input   hook input:   established → accept; neighbour discovery from
//!                      a bridge → accept; DNS to the relay → accept; the relay's
//!                      IPv6 address from other than lo and agentos bridges → drop;
//!                      bridges → egress
//! chain nat_prerouting hook prerouting: DNS from a bridge to 10.213.255.53 → dnat
//!                      to the relay on 127.0.0.1; to fd61:6765:6e74:ff::53 port 53
//!                      → the relay's port there (dns.rs)
//! chain nat_output     hook output:  l4proto . daddr . dport vmap @published
//!                      (IPv4 forwards; `[::1]` ones are relayed, forwards.rs)
//! chain nat_postrouting hook postrouting: from a bridge to elsewhere → masquerade
//!                      (both families: an `inet` NAT chain);
//!                      127/8 into a bridge (a forward) → masquerade
//! ```
//!
//! IPv6 neighbour discovery is ICMPv6, so unlike ARP it meets the input hook: the
//! solicitations and advertisements a process exchanges with its gateway are accepted
//! before its egress chain, which would refuse them (the first come from `::`, no
//! sender's address).
//!
//! Every change is one `nft -f` transaction, and segments and processes come and go
//! as set elements and their own chains, so no rule handle is ever needed. The
//! table is deleted at shutdown, and by the sweep after a crash.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::Path,
};

use super::{NetError, dns::RelayPorts, egress, forwards::Forward, tool};

/// Every table the kernel makes starts with this.
pub const TABLE_PREFIX: &str = "agentos-";

/// `inet agentos-k<pid>`.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub name: String,
}

impl Table {
    /// The table of this kernel process.
    pub fn for_this_kernel() -> Self {
        Self {
            name: format!("{TABLE_PREFIX}k{:x}", std::process::id()),
        }
    }

    /// Creates the table with its sets, maps and hooked chains; with the DNS relay's
    /// redirection when `relay` is listening.
    pub fn create(&self, owner: &Path, relay: Option<RelayPorts>) -> Result<(), NetError> {
        let t = format!("inet {}", self.name);
        let reject = egress::REJECT;
        let owner = owner.to_string_lossy();
        if owner.contains(['"', '\n', '\\']) || owner.len() > 128 {
            return Err(NetError::Invalid(format!(
                "the data directory {owner:?} cannot be an nftables comment (over 128 bytes, or a quote, backslash or newline)"
            )));
        }
        tool::nft(&format!(
            "add table {t} {{ comment \"{owner}\"; }}\n\
             add set {t} bridges {{ type ifname; }}\n\
             add set {t} peers {{ type ifname . ifname; }}\n\
             add set {t} grouped {{ type ifname; }}\n\
             add map {t} senders {{ type ipv4_addr : verdict; }}\n\
             add map {t} senders6 {{ type ipv6_addr : verdict; }}\n\
             add map {t} published {{ type inet_proto . ipv4_addr . inet_service : verdict; }}\n\
             add chain {t} egress\n\
             add rule {t} egress ip saddr vmap @senders\n\
             add rule {t} egress ip6 saddr vmap @senders6\n\
             add rule {t} egress {reject}\n\
             add chain {t} filter_forward {{ type filter hook forward priority 0; policy accept; }}\n\
             add rule {t} filter_forward ct state established,related accept\n\
             add rule {t} filter_forward iifname . oifname @peers accept\n\
             add rule {t} filter_forward oifname @grouped {reject}\n\
             add rule {t} filter_forward iifname @bridges jump egress\n\
             add chain {t} filter_input {{ type filter hook input priority 0; policy accept; }}\n\
             add rule {t} filter_input ct state established,related accept\n\
             add rule {t} filter_input iifname @bridges icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
             {dns}\
             add rule {t} filter_input iifname @bridges jump egress\n\
             add chain {t} nat_output {{ type nat hook output priority -100; policy accept; }}\n\
             add rule {t} nat_output meta l4proto . ip daddr . th dport vmap @published\n\
             add chain {t} nat_postrouting {{ type nat hook postrouting priority 100; policy accept; }}\n\
             add rule {t} nat_postrouting iifname @bridges oifname != @bridges masquerade\n\
             add rule {t} nat_postrouting oifname @bridges ip saddr 127.0.0.0/8 masquerade\n",
            dns = relay.map(|r| dns_lines(&t, r)).unwrap_or_default(),
        ))
    }

    /// Deletes the table and everything in it.
    pub fn delete(&self) -> Result<(), NetError> {
        delete_table(&self.name)
    }

    /// Adds a bridge; `peers`: its ports reach each other (a bridged group).
    pub fn add_bridge(&self, bridge: &str, peers: bool) -> Result<(), NetError> {
        let t = format!("inet {}", self.name);
        let mut s = format!("add element {t} bridges {{ \"{bridge}\" }}\n");
        if peers {
            s += &format!("add element {t} peers {{ \"{bridge}\" . \"{bridge}\" }}\n");
            s += &format!("add element {t} grouped {{ \"{bridge}\" }}\n");
        }
        tool::nft(&s)
    }

    /// Removes a bridge added with [`Self::add_bridge`].
    pub fn remove_bridge(&self, bridge: &str, peers: bool) -> Result<(), NetError> {
        let t = format!("inet {}", self.name);
        let mut s = format!("delete element {t} bridges {{ \"{bridge}\" }}\n");
        if peers {
            s += &format!("delete element {t} peers {{ \"{bridge}\" . \"{bridge}\" }}\n");
            s += &format!("delete element {t} grouped {{ \"{bridge}\" }}\n");
        }
        tool::nft(&s)
    }

    /// Process `n` at `addr` (and `addr6`): its egress chain `p<n>` from `rules`, and
    /// its forwards in chain `f<n>`.
    pub fn add_process(
        &self,
        n: u64,
        (addr, addr6): (Ipv4Addr, Option<Ipv6Addr>),
        rules: &[String],
        forwards: &[Forward],
    ) -> Result<(), NetError> {
        let t = format!("inet {}", self.name);
        let mut s = format!("add chain {t} p{n}\n") + &egress_lines(&t, n, rules);
        s += &format!("add element {t} senders {{ {addr} : jump p{n} }}\n");
        if let Some(a6) = addr6 {
            s += &format!("add element {t} senders6 {{ {a6} : jump p{n} }}\n");
        }
        let forwards = nat_forwards(forwards);
        if !forwards.is_empty() {
            s += &format!("add chain {t} f{n}\n");
            for f in forwards {
                s += &format!("add rule {t} f{n} {}\n", f.dnat(addr));
                s += &format!(
                    "create element {t} published {{ {} : jump f{n} }}\n",
                    f.key()
                );
            }
        }
        tool::nft(&s)
    }

    /// Replaces the rules of process `n`'s egress chain.
    pub fn set_rules(&self, n: u64, rules: &[String]) -> Result<(), NetError> {
        let t = format!("inet {}", self.name);
        tool::nft(&(format!("flush chain {t} p{n}\n") + &egress_lines(&t, n, rules)))
    }

    /// Undoes [`Self::add_process`].
    pub fn remove_process(
        &self,
        n: u64,
        (addr, addr6): (Ipv4Addr, Option<Ipv6Addr>),
        forwards: &[Forward],
    ) -> Result<(), NetError> {
        let t = format!("inet {}", self.name);
        let mut s = format!("delete element {t} senders {{ {addr} }}\n");
        if let Some(a6) = addr6 {
            s += &format!("delete element {t} senders6 {{ {a6} }}\n");
        }
        s += &format!("flush chain {t} p{n}\ndelete chain {t} p{n}\n");
        let forwards = nat_forwards(forwards);
        if !forwards.is_empty() {
            for f in forwards {
                s += &format!("delete element {t} published {{ {} }}\n", f.key());
            }
            s += &format!("flush chain {t} f{n}\ndelete chain {t} f{n}\n");
        }
        tool::nft(&s)
    }
}

/// The forwards that are a DNAT here: IPv4's (`[::1]` ones are relayed, forwards.rs).
fn nat_forwards(forwards: &[Forward]) -> Vec<&Forward> {
    forwards.iter().filter(|f| f.host.is_ipv4()).collect()
}

/// The DNS relay's lines in table `t`. IPv4: queries from a bridge to the resolver
/// address every sandbox is given go to the relay's sockets on the host's loopback
/// (reachable from a bridge: `route_localnet` is set on each), and only those are let
/// in. IPv6: `::1` cannot be reached that way (a bridge hands the un-NATed answer's
/// `::1` to IPv6's input, which drops loopback addresses arriving on any interface but
/// `lo`), so the relay listens on the IPv6 resolver address itself, held by every
/// bridge with IPv6; queries to its port 53 go to the relay's ports, and that address
/// is refused from any other interface but the loopback and the agentos bridges.
fn dns_lines(t: &str, r: RelayPorts) -> String {
    use super::dns::{RESOLVER, RESOLVER6};
    let mut s = format!(
        "add chain {t} nat_prerouting {{ type nat hook prerouting priority -100; policy accept; }}\n"
    );
    for (proto, port) in [("udp", r.v4.udp), ("tcp", r.v4.tcp)] {
        s += &format!(
            "add rule {t} nat_prerouting iifname @bridges ip daddr {RESOLVER} {proto} dport 53 \
             dnat ip to 127.0.0.1:{port}\n\
             add rule {t} filter_input iifname @bridges ip daddr 127.0.0.1 {proto} dport {port} \
             ct original ip daddr {RESOLVER} accept\n"
        );
    }
    if let Some(p6) = r.v6 {
        for (proto, port) in [("udp", p6.udp), ("tcp", p6.tcp)] {
            s += &format!(
                "add rule {t} nat_prerouting iifname @bridges ip6 daddr {RESOLVER6} {proto} \
                 dport 53 dnat ip6 to [{RESOLVER6}]:{port}\n\
                 add rule {t} filter_input iifname @bridges ip6 daddr {RESOLVER6} {proto} dport \
                 {port} ct original proto-dst 53 accept\n"
            );
        }
        s += &format!(
            "add rule {t} filter_input ip6 daddr {RESOLVER6} iifname != \"lo\" \
             iifname != \"{}*\" drop\n",
            super::links::BRIDGE_PREFIX
        );
    }
    s
}

/// `add rule` lines filling process `n`'s egress chain in table `t`.
fn egress_lines(t: &str, n: u64, rules: &[String]) -> String {
    rules
        .iter()
        .map(|r| format!("add rule {t} p{n} {r}\n"))
        .collect()
}

/// `nft delete table inet NAME`.
pub(crate) fn delete_table(name: &str) -> Result<(), NetError> {
    tool::nft(&format!("delete table inet {name}\n"))
}

/// The host's `inet agentos-*` tables with their comments.
pub(crate) fn tables() -> Result<Vec<(String, Option<String>)>, NetError> {
    let v = tool::json(tool::NFT, &["-j", "list", "tables"])?;
    let names: Vec<String> = v
        .get("nftables")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let t = o.get("table")?;
            (t.get("family")?.as_str()? == "inet")
                .then(|| t.get("name")?.as_str().map(str::to_owned))
                .flatten()
        })
        .filter(|n| n.starts_with(TABLE_PREFIX))
        .collect();
    names
        .into_iter()
        .map(|name| {
            // `nft -j` (1.0.6) leaves table comments out: read the text form.
            let text = tool::run(tool::NFT, &["list", "table", "inet", &name], "")?;
            let comment = text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("comment \"")
                    .and_then(|c| c.strip_suffix('"'))
                    .map(str::to_owned)
            });
            Ok((name, comment))
        })
        .collect()
}
