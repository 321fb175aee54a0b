//! A process's NetworkAccess grants as pf rules (macOS's packet filter), for an anchor
//! of its own: the same decision list as the nftables chain and the kernel wall
//! ([`egress::decisions`]: deny rules, named allows, the guarded ranges, allows for any
//! host, refuse), rendered as `quick` rules so that pf's first match wins as nftables'
//! does. Pure text, so it is unit tested on Linux; `pfctl.rs` loads it (macOS, feature
//! `macos-pf`).
//!
//! pf has no network namespaces: a process's traffic is told apart by the uid that owns
//! its sockets (pf's `user` match), so every rule names the sandbox's uid and leaves the
//! rest of the host alone. pf ties only TCP and UDP sockets to users: the rules cover
//! those two protocols, and other traffic of the process (ICMP, raw sockets) is not
//! filtered by them. A refusal is `block return` (a TCP reset, an ICMP unreachable for
//! UDP), so a refused `connect` fails at once instead of timing out. Rules by host name
//! are returned as not enforced, as by nftables.
//!
//! # Anchors
//!
//! Each process's rules live in `agentos/k<kernel pid>-<process>` (hex pid, as the
//! nftables table's name), loaded with `pfctl -a ANCHOR -f -` and flushed when the
//! process exits; the start-up sweep flushes those of kernels that no longer run. pf
//! evaluates them only if the host's main ruleset holds `anchor "agentos/*"` (as macOS's
//! own `/etc/pf.conf` holds `anchor "com.apple/*"`): the kernel never rewrites the
//! host's main ruleset.

use super::egress::{self, Decision, Dest, Egress};
use crate::capability::{NetworkRule, PortRange, ProtocolMatch};

/// The parent anchor of every AgentOS anchor.
pub(crate) const ANCHOR_ROOT: &str = "agentos";

/// The anchor of process `n` of the kernel whose pid is `kernel`.
pub(crate) fn anchor(kernel: u32, n: u64) -> String {
    format!("{ANCHOR_ROOT}/k{kernel:x}-{n}")
}

/// The kernel pid in an anchor's name (as `pfctl -a agentos -s Anchors` lists it), if
/// the name is one [`anchor`] made.
fn owner(name: &str) -> Option<u32> {
    let rest = name.trim().strip_prefix(ANCHOR_ROOT)?.strip_prefix("/k")?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    u32::from_str_radix(pid, 16).ok()
}

/// The anchors in `listing` (`pfctl -a agentos -s Anchors`, one a line) that the start-up
/// sweep flushes: those of a kernel that no longer runs (`running` says), or of the
/// starting kernel `own` (left by an earlier kernel with the same pid). Names the kernel
/// did not make are not ours to judge and are left alone.
pub(crate) fn orphans(listing: &str, own: u32, running: impl Fn(u32) -> bool) -> Vec<String> {
    listing
        .lines()
        .map(str::trim)
        .filter(|name| owner(name).is_some_and(|pid| pid == own || !running(pid)))
        .map(str::to_owned)
        .collect()
}

/// `proto …`: the rule's protocol; pf's `user` matches TCP and UDP only, so "any" is both.
fn protocol(p: ProtocolMatch) -> &'static str {
    match p {
        ProtocolMatch::Tcp => "proto tcp",
        ProtocolMatch::Udp => "proto udp",
        ProtocolMatch::Any => "proto { tcp udp }",
    }
}

/// `[inet|inet6] proto P to DEST [port PORTS]`.
fn matcher(d: &Decision) -> String {
    let (family, to) = match &d.dest {
        Dest::Any => (None, "any".to_owned()),
        Dest::Family { v4 } => (Some(*v4), "any".to_owned()),
        Dest::Nets(nets) => {
            let list: Vec<String> = nets
                .iter()
                .map(|c| format!("{}/{}", c.addr(), c.prefix()))
                .collect();
            let v4 = nets.first().is_none_or(|c| c.addr().is_ipv4());
            let to = match list.as_slice() {
                [one] => one.clone(),
                many => format!("{{ {} }}", many.join(", ")),
            };
            (Some(v4), to)
        }
    };
    let mut parts = Vec::new();
    if let Some(v4) = family {
        parts.push(if v4 { "inet" } else { "inet6" }.to_owned());
    }
    parts.push(protocol(d.protocol).to_owned());
    parts.push(format!("to {to}"));
    if d.ports != PortRange::ALL {
        parts.push(if d.ports.start() == d.ports.end() {
            format!("port {}", d.ports.start())
        } else {
            format!("port {}:{}", d.ports.start(), d.ports.end())
        });
    }
    parts.join(" ")
}

/// The rules of the anchor of a process whose sockets `uid` owns, from its `grants`
/// (NetworkAccess): one line each, first match wins, everything unmatched refused.
pub(crate) fn rules(grants: &[NetworkRule], uid: u32) -> Egress {
    let egress::Decisions { list, unenforced } = egress::decisions(grants);
    let line = |verdict: &str, matcher: &str| format!("{verdict} out quick {matcher} user {uid}");
    let mut rules: Vec<String> = list
        .iter()
        .map(|d| {
            let verdict = if d.accept { "pass" } else { "block return" };
            line(verdict, &matcher(d))
        })
        .collect();
    // `all`: from any to any, the host part pf's grammar wants when no other is given.
    let rest = format!("{} all", protocol(ProtocolMatch::Any));
    rules.push(line("block return", &rest));
    Egress { rules, unenforced }
}

/// The anchor's whole ruleset, as `pfctl -f -` reads it.
pub(crate) fn ruleset(grants: &[NetworkRule], uid: u32) -> String {
    let mut text = rules(grants, uid).rules.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::egress::tests::rules as grants;

    #[test]
    fn no_grant_refuses_every_tcp_and_udp_socket_of_the_uid() {
        assert_eq!(
            rules(&[], 501).rules,
            [
                "block return out quick inet proto { tcp udp } to { 0.0.0.0/8, 10.0.0.0/8, \
                 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16 } \
                 user 501",
                "block return out quick inet6 proto { tcp udp } to { ::1/128, fc00::/7, \
                 fe80::/10 } user 501",
                "block return out quick proto { tcp udp } all user 501",
            ]
        );
    }

    #[test]
    fn the_order_is_the_nftables_chains_deny_named_guarded_any_refuse() {
        let g = grants(&[
            "allow:*:443/tcp",
            "allow:10.1.2.3:8080/tcp",
            "deny:10.1.0.0/16",
            "allow:example.com:443/tcp",
            "allow:[fd00::/8]:8000-8100",
            "allow:0.0.0.0/0:53/udp",
        ]);
        let pf = rules(&g, 7001);
        assert_eq!(
            pf.rules,
            [
                "block return out quick inet proto { tcp udp } to 10.1.0.0/16 user 7001".to_owned(),
                "pass out quick inet proto tcp to 10.1.2.3/32 port 8080 user 7001".to_owned(),
                "pass out quick inet6 proto { tcp udp } to fd00::/8 port 8000:8100 user 7001"
                    .to_owned(),
                rules(&[], 7001).rules[0].clone(),
                rules(&[], 7001).rules[1].clone(),
                "pass out quick proto tcp to any port 443 user 7001".to_owned(),
                "pass out quick inet proto udp to any port 53 user 7001".to_owned(),
                "block return out quick proto { tcp udp } all user 7001".to_owned(),
            ]
        );
        assert_eq!(pf.unenforced, ["net:allow:example.com:443/tcp"]);
        // The same decisions as the nftables chain, one for one (its last line is the
        // refusal too).
        assert_eq!(pf.rules.len(), egress::egress(&g).rules.len());
    }

    #[test]
    fn the_metadata_address_is_refused_unless_named() {
        let any = rules(&grants(&["allow:*"]), 501).rules;
        let guard = any.iter().position(|r| r.contains("169.254.0.0/16"));
        let pass_any = any
            .iter()
            .position(|r| r == "pass out quick proto { tcp udp } to any user 501");
        assert!(guard.unwrap() < pass_any.unwrap(), "{any:#?}");
        let named = rules(&grants(&["allow:169.254.169.254:80/tcp"]), 501).rules;
        assert_eq!(
            named[0],
            "pass out quick inet proto tcp to 169.254.169.254/32 port 80 user 501"
        );
    }

    #[test]
    fn a_ruleset_is_one_rule_a_line_ending_in_a_newline() {
        let text = ruleset(&grants(&["deny:10.0.0.0/8"]), 501);
        assert!(text.ends_with("user 501\n"), "{text}");
        assert_eq!(text.lines().count(), rules(&[], 501).rules.len() + 1);
    }

    #[test]
    fn anchors_carry_the_kernel_pid_and_the_sweep_takes_only_dead_kernels_and_its_own() {
        assert_eq!(anchor(0x1f2e, 7), "agentos/k1f2e-7");
        let listing = "  agentos/k1f2e-7\n  agentos/k1f2e-8\n  agentos/k10-1\n  agentos/ka-3\n  \
                       agentos/user-rules\n  agentos/kzz-1\n  agentos/k10\n";
        // 0x1f2e runs, 0x10 does not, 0xa is the starting kernel itself.
        let running = |pid| pid == 0x1f2e || pid == 0xa;
        assert_eq!(
            orphans(listing, 0xa, running),
            ["agentos/k10-1", "agentos/ka-3"]
        );
        assert!(orphans(listing, 0xa, |_| true) == ["agentos/ka-3"]);
    }
}
