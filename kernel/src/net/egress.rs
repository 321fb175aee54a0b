//! A process's NetworkAccess grants as one decision list, the single statement of what its
//! egress may reach, rendered twice: as the nftables rules of its egress chain (`private`,
//! `bridged`) and as the entries of the kernel wall's `AGENTOS_WALLNET` map, which the cgroup
//! `connect4/6` and `sendmsg4/6` programs read (`none`, `shared`;
//! `observe/probes/wall.rs`).
//!
//! Order, first match wins: every deny rule; allow rules that name an address or a
//! network; then the ranges refused unless named (private, shared, link-local with
//! the cloud metadata address 169.254.169.254, loopback, unique-local IPv6 `fc00::/7`
//! with the IPv6 metadata address `fd00:ec2::254`, link-local `fe80::/10`); allow
//! rules for any host; finally refuse. So deny beats allow, and `net:allow:*`
//! reaches the internet but not the host's neighbours, the host itself or the metadata
//! service.
//!
//! In nftables a refusal is `reject with icmpx admin-prohibited`: the program's `connect`
//! fails at once with `EHOSTUNREACH`, unlike a port where nothing listens
//! (`ECONNREFUSED`); the wall's refusal is `EPERM`. Rules by host name (`example.com`)
//! cannot be enforced on addresses and are returned as not enforced by either; a
//! connection to such a host by address is decided by the address rules alone, as the
//! capability check does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::capability::{Cidr, HostPattern, NetworkRule, PortRange, ProtocolMatch, RuleAction};

/// The refusal at the end of each decision.
pub(crate) const REJECT: &str = "reject with icmpx admin-prohibited";

/// IPv4 ranges refused unless a grant names them.
const GUARDED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];
/// IPv6 ranges refused unless a grant names them.
const GUARDED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
];

/// The destinations one decision covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dest {
    /// Every address of both families.
    Any,
    /// Every address of one family (a `0.0.0.0/0` or `::/0` grant).
    Family { v4: bool },
    /// Networks of one family.
    Nets(Vec<Cidr>),
}

/// One step of the list: destinations, protocol and ports, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub accept: bool,
    pub dest: Dest,
    pub protocol: ProtocolMatch,
    pub ports: PortRange,
}

/// The decision list of a process's grants, and the grants no address rule can enforce.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decisions {
    pub list: Vec<Decision>,
    pub unenforced: Vec<String>,
}

/// The rule bodies of one egress chain, and the rules that could not be enforced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Egress {
    pub rules: Vec<String>,
    pub unenforced: Vec<String>,
}

/// Whether a rule names addresses explicitly (beats the guarded ranges).
fn names_addresses(host: &HostPattern) -> bool {
    matches!(host, HostPattern::Cidr(c) if c.prefix() > 0)
}

fn guarded(ranges: impl Iterator<Item = (IpAddr, u8)>) -> Decision {
    Decision {
        accept: false,
        dest: Dest::Nets(
            ranges
                .map(|(a, p)| Cidr::new(a, p).expect("a valid guarded range"))
                .collect(),
        ),
        protocol: ProtocolMatch::Any,
        ports: PortRange::ALL,
    }
}

/// The decision list for `rules` (NetworkAccess grants); a connect none matches is refused.
pub(crate) fn decisions(rules: &[NetworkRule]) -> Decisions {
    let mut out = Decisions::default();
    let push = |rule: &NetworkRule, out: &mut Decisions| {
        let dest = match &rule.host {
            HostPattern::Any => Dest::Any,
            HostPattern::Cidr(c) if c.prefix() == 0 => Dest::Family {
                v4: c.addr().is_ipv4(),
            },
            HostPattern::Cidr(c) => Dest::Nets(vec![*c]),
            HostPattern::Name(_) | HostPattern::Subdomains(_) => {
                out.unenforced.push(format!("net:{rule}"));
                return;
            }
        };
        out.list.push(Decision {
            accept: rule.action == RuleAction::Allow,
            dest,
            protocol: rule.protocol,
            ports: rule.ports,
        });
    };
    for r in rules.iter().filter(|r| r.action == RuleAction::Deny) {
        push(r, &mut out);
    }
    for r in rules
        .iter()
        .filter(|r| r.action == RuleAction::Allow && names_addresses(&r.host))
    {
        push(r, &mut out);
    }
    out.list
        .push(guarded(GUARDED_V4.iter().map(|&(a, p)| (a.into(), p))));
    out.list
        .push(guarded(GUARDED_V6.iter().map(|&(a, p)| (a.into(), p))));
    for r in rules
        .iter()
        .filter(|r| r.action == RuleAction::Allow && !names_addresses(&r.host))
    {
        push(r, &mut out);
    }
    out
}

/// `[ip|ip6 daddr NET] [meta l4proto P] [th dport PORTS]`.
fn matcher(d: &Decision) -> String {
    let mut parts = Vec::new();
    match &d.dest {
        Dest::Any => {}
        Dest::Family { v4 } => parts.push(
            if *v4 {
                "meta nfproto ipv4"
            } else {
                "meta nfproto ipv6"
            }
            .to_owned(),
        ),
        Dest::Nets(nets) => {
            let family = if nets.first().is_none_or(|c| c.addr().is_ipv4()) {
                "ip"
            } else {
                "ip6"
            };
            let list: Vec<String> = nets
                .iter()
                .map(|c| format!("{}/{}", c.addr(), c.prefix()))
                .collect();
            match list.as_slice() {
                [one] => parts.push(format!("{family} daddr {one}")),
                many => parts.push(format!("{family} daddr {{ {} }}", many.join(", "))),
            }
        }
    }
    let ports = d.ports != PortRange::ALL;
    match (d.protocol, ports) {
        (ProtocolMatch::Tcp, _) => parts.push("meta l4proto tcp".into()),
        (ProtocolMatch::Udp, _) => parts.push("meta l4proto udp".into()),
        (ProtocolMatch::Any, true) => parts.push("meta l4proto { tcp, udp }".into()),
        (ProtocolMatch::Any, false) => {}
    }
    if ports {
        if d.ports.start() == d.ports.end() {
            parts.push(format!("th dport {}", d.ports.start()));
        } else {
            parts.push(format!("th dport {}-{}", d.ports.start(), d.ports.end()));
        }
    }
    parts.join(" ")
}

impl Decision {
    /// Whether this decision covers a connection to `ip`, port `port`, over TCP (`tcp`)
    /// or UDP.
    fn covers(&self, ip: IpAddr, port: u16, tcp: bool) -> bool {
        let dest = match &self.dest {
            Dest::Any => true,
            Dest::Family { v4 } => *v4 == ip.is_ipv4(),
            Dest::Nets(nets) => nets.iter().any(|c| c.contains(ip)),
        };
        let protocol = match self.protocol {
            ProtocolMatch::Any => true,
            ProtocolMatch::Tcp => tcp,
            ProtocolMatch::Udp => !tcp,
        };
        dest && protocol && self.ports.contains(port)
    }
}

impl Decisions {
    /// The list's verdict on a connection to `ip`, port `port` (TCP when `tcp`): the
    /// first decision covering it, refused when none does. What the kernel's own relays
    /// check, with the same list the packet filter holds (rootless `private`'s proxy,
    /// `proxied.rs`).
    pub(crate) fn allows(&self, ip: IpAddr, port: u16, tcp: bool) -> bool {
        self.list
            .iter()
            .find(|d| d.covers(ip, port, tcp))
            .is_some_and(|d| d.accept)
    }
}

/// The egress chain for `rules` (NetworkAccess grants): [`decisions`] as nftables rules.
pub(crate) fn egress(rules: &[NetworkRule]) -> Egress {
    render(decisions(rules), REJECT)
}

/// The egress chain of one protocol (`Tcp` or `Udp`) alone for `rules`, with `refuse`
/// as the verdict of every refusal: rootless `private` decides its TCP and its UDP in
/// chains of their own, as locally made connections, which an ICMP error never reaches,
/// are refused with a TCP reset and datagrams by a drop (`proxied.rs`).
pub(crate) fn protocol_egress(
    rules: &[NetworkRule],
    protocol: ProtocolMatch,
    refuse: &str,
) -> Egress {
    let mut d = decisions(rules);
    d.list
        .retain(|d| d.protocol == ProtocolMatch::Any || d.protocol == protocol);
    for d in &mut d.list {
        d.protocol = protocol;
    }
    render(d, refuse)
}

/// `decisions` as nftables rules, `refuse` the verdict of a refusal and the last rule.
fn render(decisions: Decisions, refuse: &str) -> Egress {
    let Decisions { list, unenforced } = decisions;
    let mut out = Egress {
        rules: Vec::new(),
        unenforced,
    };
    for d in &list {
        let verdict = if d.accept { "accept" } else { refuse };
        out.rules.push(match matcher(d) {
            m if m.is_empty() => verdict.to_owned(),
            m => format!("{m} {verdict}"),
        });
    }
    out.rules.push(refuse.to_owned());
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Grants from their `net:` forms (without the prefix).
    pub(in crate::net) fn rules(forms: &[&str]) -> Vec<NetworkRule> {
        forms.iter().map(|f| f.parse().unwrap()).collect()
    }

    #[test]
    fn no_grant_refuses_everything() {
        let e = egress(&[]);
        assert_eq!(e.rules.last().unwrap(), REJECT);
        assert!(!e.rules.iter().any(|r| r.ends_with("accept")));
    }

    #[test]
    fn deny_first_then_named_allows_then_guarded_ranges_then_any() {
        let e = egress(&rules(&[
            "allow:*:443/tcp",
            "allow:10.1.2.3:8080/tcp",
            "deny:10.1.0.0/16",
            "allow:example.com:443/tcp",
        ]));
        assert_eq!(
            e.rules,
            vec![
                format!("ip daddr 10.1.0.0/16 {REJECT}"),
                "ip daddr 10.1.2.3/32 meta l4proto tcp th dport 8080 accept".to_owned(),
                format!(
                    "ip daddr {{ 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, \
                     169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16 }} {REJECT}"
                ),
                format!("ip6 daddr {{ ::1/128, fc00::/7, fe80::/10 }} {REJECT}"),
                "meta l4proto tcp th dport 443 accept".to_owned(),
                REJECT.to_owned(),
            ]
        );
        assert_eq!(
            e.unenforced,
            vec!["net:allow:example.com:443/tcp".to_owned()]
        );
    }

    #[test]
    fn the_metadata_address_is_guarded_unless_named() {
        let any = egress(&rules(&["allow:*"]));
        let guard = any
            .rules
            .iter()
            .position(|r| r.contains("169.254.0.0/16"))
            .unwrap();
        let allow_any = any.rules.iter().position(|r| r == "accept").unwrap();
        assert!(guard < allow_any);
        let named = egress(&rules(&["allow:169.254.169.254:80/tcp"]));
        assert!(named.rules[0].starts_with("ip daddr 169.254.169.254/32"));
    }

    /// The verdict of the first decision covering `ip` (any port and protocol).
    fn first_verdict(d: &Decisions, ip: &str) -> bool {
        let ip: IpAddr = ip.parse().unwrap();
        d.list
            .iter()
            .find(|d| match &d.dest {
                Dest::Any => true,
                Dest::Family { v4 } => *v4 == ip.is_ipv4(),
                Dest::Nets(nets) => nets.iter().any(|c| c.contains(ip)),
            })
            .is_some_and(|d| d.accept)
    }

    #[test]
    fn v6_loopback_ula_link_local_and_the_metadata_address_are_guarded_unless_named() {
        let any = decisions(&rules(&["allow:*"]));
        for ip in ["::1", "fd00:ec2::254", "fd61:6765:6e74::1", "fe80::1"] {
            assert!(!first_verdict(&any, ip), "{ip} open to allow:*");
        }
        assert!(first_verdict(&any, "2001:db8::1"), "a global address");
        let named = decisions(&rules(&["allow:[fd00:ec2::254/128]:80/tcp"]));
        assert!(first_verdict(&named, "fd00:ec2::254"));
    }

    #[test]
    fn allows_gives_the_first_covering_decisions_verdict() {
        let d = decisions(&rules(&[
            "allow:10.1.2.3:8080/tcp",
            "deny:10.1.0.0/16",
            "allow:*:443/tcp",
        ]));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Deny first: the named allow inside the denied network loses.
        assert!(!d.allows(ip("10.1.2.3"), 8080, true));
        // Any host on 443/tcp, but not over UDP, nor another port, nor a guarded range.
        assert!(d.allows(ip("93.184.216.34"), 443, true));
        assert!(!d.allows(ip("93.184.216.34"), 443, false));
        assert!(!d.allows(ip("93.184.216.34"), 80, true));
        assert!(!d.allows(ip("192.168.1.1"), 443, true));
        assert!(!d.allows(ip("169.254.169.254"), 443, true));
        let named = decisions(&rules(&["allow:192.168.1.1:22/tcp"]));
        assert!(named.allows(ip("192.168.1.1"), 22, true));
        assert!(!named.allows(ip("192.168.1.1"), 23, true));
        assert!(!decisions(&[]).allows(ip("93.184.216.34"), 443, true));
    }

    #[test]
    fn port_ranges_without_a_protocol_cover_tcp_and_udp() {
        let e = egress(&rules(&["allow:[fd00::/8]:8000-8100"]));
        assert_eq!(
            e.rules[0],
            "ip6 daddr fd00::/8 meta l4proto { tcp, udp } th dport 8000-8100 accept"
        );
    }
}
