//! A process's NetworkAccess grants as the nftables rules of its egress chain.
//!
//! Order, first match wins: every deny rule; allow rules that name an address or a
//! network; then the ranges refused unless named (private, shared, link-local with
//! the cloud metadata address 169.254.169.254, loopback, unique-local IPv6); allow
//! rules for any host; finally refuse. So deny beats allow, and `net:allow:*`
//! reaches the internet but not the host's neighbours or the metadata service.
//!
//! A refusal is `reject with icmpx admin-prohibited`: the program's `connect` fails
//! at once with `EHOSTUNREACH`, unlike a port where nothing listens
//! (`ECONNREFUSED`). Rules by host name (`example.com`) cannot be enforced on
//! packets and are returned as not enforced; a connection to such a host by
//! address is decided by the address rules alone, as the capability check does.

use crate::capability::{HostPattern, NetworkRule, PortRange, ProtocolMatch, RuleAction};

/// The refusal at the end of each decision.
pub(crate) const REJECT: &str = "reject with icmpx admin-prohibited";

/// IPv4 ranges refused unless a grant names them.
pub(crate) const GUARDED_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
];
/// IPv6 ranges refused unless a grant names them.
pub(crate) const GUARDED_V6: &[&str] = &["::1/128", "fc00::/7", "fe80::/10"];

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

/// `[ip|ip6 daddr NET] [meta l4proto P] [th dport PORTS]`, or `None` for a name.
fn matcher(rule: &NetworkRule) -> Option<String> {
    let mut parts = Vec::new();
    match &rule.host {
        HostPattern::Any => {}
        HostPattern::Cidr(c) if c.prefix() == 0 => {
            parts.push(
                if c.addr().is_ipv4() {
                    "meta nfproto ipv4"
                } else {
                    "meta nfproto ipv6"
                }
                .to_owned(),
            );
        }
        HostPattern::Cidr(c) => {
            let family = if c.addr().is_ipv4() { "ip" } else { "ip6" };
            parts.push(format!("{family} daddr {}/{}", c.addr(), c.prefix()));
        }
        HostPattern::Name(_) | HostPattern::Subdomains(_) => return None,
    }
    let ports = rule.ports != PortRange::ALL;
    match (rule.protocol, ports) {
        (ProtocolMatch::Tcp, _) => parts.push("meta l4proto tcp".into()),
        (ProtocolMatch::Udp, _) => parts.push("meta l4proto udp".into()),
        (ProtocolMatch::Any, true) => parts.push("meta l4proto { tcp, udp }".into()),
        (ProtocolMatch::Any, false) => {}
    }
    if ports {
        if rule.ports.start() == rule.ports.end() {
            parts.push(format!("th dport {}", rule.ports.start()));
        } else {
            parts.push(format!(
                "th dport {}-{}",
                rule.ports.start(),
                rule.ports.end()
            ));
        }
    }
    Some(parts.join(" "))
}

/// The egress chain for `rules` (NetworkAccess grants).
pub(crate) fn egress(rules: &[NetworkRule]) -> Egress {
    let mut out = Egress::default();
    let push = |rule: &NetworkRule, verdict: &str, out: &mut Egress| match matcher(rule) {
        Some(m) if m.is_empty() => out.rules.push(verdict.to_owned()),
        Some(m) => out.rules.push(format!("{m} {verdict}")),
        None => out.unenforced.push(format!("net:{rule}")),
    };
    for r in rules.iter().filter(|r| r.action == RuleAction::Deny) {
        push(r, REJECT, &mut out);
    }
    for r in rules
        .iter()
        .filter(|r| r.action == RuleAction::Allow && names_addresses(&r.host))
    {
        push(r, "accept", &mut out);
    }
    out.rules
        .push(format!("ip daddr {{ {} }} {REJECT}", GUARDED_V4.join(", ")));
    out.rules.push(format!(
        "ip6 daddr {{ {} }} {REJECT}",
        GUARDED_V6.join(", ")
    ));
    for r in rules
        .iter()
        .filter(|r| r.action == RuleAction::Allow && !names_addresses(&r.host))
    {
        push(r, "accept", &mut out);
    }
    out.rules.push(REJECT.to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(forms: &[&str]) -> Vec<NetworkRule> {
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
                format!("ip daddr {{ {} }} {REJECT}", GUARDED_V4.join(", ")),
                format!("ip6 daddr {{ {} }} {REJECT}", GUARDED_V6.join(", ")),
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

    #[test]
    fn port_ranges_without_a_protocol_cover_tcp_and_udp() {
        let e = egress(&rules(&["allow:[fd00::/8]:8000-8100"]));
        assert_eq!(
            e.rules[0],
            "ip6 daddr fd00::/8 meta l4proto { tcp, udp } th dport 8000-8100 accept"
        );
    }
}
