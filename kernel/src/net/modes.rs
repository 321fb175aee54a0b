//! The four network modes, what a spawn asks for, and which modes this host can
//! give (for `agentos doctor`).
//!
//! `shared` keeps the process in the host's network namespace: it makes nothing on
//! the host, and is given only while the kernel wall's cgroup connect/sendmsg/bind
//! programs are live ([`shared_wall`]), never silently unenforced.

use std::fmt;

#[cfg(target_os = "linux")]
use super::tool;
use super::{NetError, forwards::Forward};

/// Longest bridged group name.
pub const MAX_GROUP_LEN: usize = 64;

/// The network a managed process gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetMode {
    /// Its own namespace with loopback only.
    #[default]
    None,
    /// Its own namespace, a veth into the kernel's private bridge (an isolated
    /// port), NAT, egress by its grants; under a rootless kernel, its outgoing TCP and
    /// DNS carried by the kernel instead (`proxied.rs`).
    Private,
    /// The host's network namespace, with its grants (connects, UDP sends, binds) enforced
    /// by the kernel wall's cgroup BPF programs.
    Shared,
    /// Like private, on the bridge of its group, whose members reach each other.
    Bridged { group: String },
}

impl NetMode {
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Private => "private",
            Self::Shared => "shared",
            Self::Bridged { .. } => "bridged",
        }
    }
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bridged { group } => write!(f, "bridged ({group})"),
            m => f.write_str(m.name()),
        }
    }
}

/// A checked request: the mode and the port forwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetRequest {
    pub mode: NetMode,
    pub forwards: Vec<Forward>,
}

impl NetRequest {
    /// From the wire: a mode name (`none`, `private`, `shared`, `bridged`), the
    /// group (bridged only, required there) and the `--publish` forms.
    pub fn parse(mode: &str, group: &str, publish: &[String]) -> Result<Self, NetError> {
        let mode = match (mode, group) {
            ("none", "") => NetMode::None,
            ("private", "") => NetMode::Private,
            ("shared", "") => NetMode::Shared,
            ("bridged", "") => {
                return Err(NetError::Invalid(
                    "network mode bridged needs a group (net_group, --net-group)".into(),
                ));
            }
            ("bridged", g) => {
                if g.len() > MAX_GROUP_LEN
                    || !g
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                {
                    return Err(NetError::Invalid(format!(
                        "network group {g:?}: 1-{MAX_GROUP_LEN} bytes of letters, digits, '.', '_' and '-'"
                    )));
                }
                NetMode::Bridged {
                    group: g.to_owned(),
                }
            }
            ("none" | "private" | "shared", g) => {
                return Err(NetError::Invalid(format!(
                    "network group {g:?} given for mode {mode}: only bridged processes have a group"
                )));
            }
            (m, _) => {
                return Err(NetError::Invalid(format!(
                    "unknown network mode {m:?} (none, private, shared or bridged)"
                )));
            }
        };
        let forwards = publish
            .iter()
            .map(|p| p.parse::<Forward>())
            .collect::<Result<Vec<_>, _>>()?;
        if !forwards.is_empty() && !matches!(mode, NetMode::Private | NetMode::Bridged { .. }) {
            return Err(NetError::Invalid(format!(
                "port forwards need network mode private or bridged, not {}",
                mode.name()
            )));
        }
        for (i, f) in forwards.iter().enumerate() {
            if forwards[..i]
                .iter()
                .any(|o| (o.host, o.host_port, o.proto) == (f.host, f.host_port, f.proto))
            {
                return Err(NetError::Invalid(format!(
                    "port forward {f} is given twice"
                )));
            }
        }
        Ok(Self { mode, forwards })
    }
}

/// Whether private and bridged networks can work here, and why not.
#[cfg(target_os = "linux")]
pub fn probe_bridges(root: bool) -> Result<(), String> {
    if !root {
        return Err(format!(
            "veths, bridges and NAT (private and bridged networks beyond what the kernel carries) need \
             root (links and nftables rules in the host's namespace); this kernel runs as uid \
             {}, and slirp4netns or pasta would need /dev/net/tun, which is root's",
            nix::unistd::geteuid()
        ));
    }
    super::links::links().map_err(|e| format!("rtnetlink does not answer: {e}"))?;
    tool::run(tool::NFT, &["list", "tables"], "").map_err(|e| {
        format!(
            "`{}` does not work ({e}): install nftables (cargo xtask setup)",
            tool::NFT
        )
    })?;
    Ok(())
}

/// Whether rootless `private` can work here (`proxied.rs`): `nft` run in a user and
/// network namespace of its own, as it will run in each sandbox's.
#[cfg(target_os = "linux")]
pub fn probe_rootless() -> Result<(), String> {
    tool::run_within(tool::Within::Fresh, tool::NFT, &["list", "tables"], "")
        .map(drop)
        .map_err(|e| {
            format!(
                "rootless private needs nftables in a user and network namespace of the \
                 kernel's own, and `{}` does not work there ({e})",
                tool::NFT
            )
        })
}

#[cfg(not(target_os = "linux"))]
pub use super::portable::{probe_bridges, probe_rootless};

/// What `shared` is, when it can be given.
pub const SHARED_AVAILABLE: &str = "available: the host's network namespace; connects, UDP sends \
     and binds are checked against the process's grants in the host kernel by the wall's cgroup \
     BPF programs (agentos_conn4/6, agentos_send4/6, agentos_bind4/6)";
/// Why `shared` is refused before the probes have loaded.
pub const SHARED_NOT_LOADED: &str = "the kernel wall's cgroup programs load with the eBPF probes \
     when the kernel starts";

/// Why `shared` is refused: never given without the wall that holds its grants.
pub fn shared_unavailable(why: &str) -> String {
    format!(
        "network mode shared (the host's network, grants enforced by the cgroup BPF connect4/6, \
         sendmsg4/6 and bind4/6 programs) needs the kernel wall, which is not live: {why}; use \
         private or none"
    )
}

/// Whether the wall `shared` relies on is live: its connect and bind halves.
pub fn shared_wall(status: &crate::observe::ProbeStatus) -> Result<(), String> {
    match status {
        crate::observe::ProbeStatus::Live { wall, .. } => {
            wall.connect
                .clone()
                .map_err(|why| format!("connect programs: {why}"))?;
            wall.bind
                .clone()
                .map_err(|why| format!("bind programs: {why}"))
        }
        crate::observe::ProbeStatus::Unavailable { reason } => {
            Err(format!("the eBPF probes are not loaded ({reason})"))
        }
    }
}

/// A sysctl's value, trimmed.
fn sysctl(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned())
}

/// What the host's `net.ipv4.ip_forward` means for private processes.
pub fn ip_forward_note() -> String {
    match sysctl("/proc/sys/net/ipv4/ip_forward") {
        Ok(v) if v == "1" => {
            "net.ipv4.ip_forward=1: NAT reaches every network the host reaches".into()
        }
        Ok(v) => format!(
            "net.ipv4.ip_forward={v}: forwarding is on for the agentos bridges only, so private \
             processes reach the host and networks whose interfaces forward; replies from the \
             internet need net.ipv4.ip_forward=1 (left unchanged: a host setting)"
        ),
        Err(e) => format!("net.ipv4.ip_forward unreadable: {e}"),
    }
}

/// Whether private and bridged processes can get IPv6 here.
pub fn probe_ipv6() -> Result<(), String> {
    let knob = "/proc/sys/net/ipv6/conf/default/disable_ipv6";
    match sysctl(knob) {
        Ok(v) if v == "0" => Ok(()),
        Ok(v) => Err(format!(
            "IPv6 is disabled on this host ({knob} = {v}): private and bridged processes get \
             IPv4 only"
        )),
        Err(e) => Err(format!(
            "this host has no IPv6 ({knob}: {e}): private and bridged processes get IPv4 only"
        )),
    }
}

/// What IPv6 means for private processes here: their subnets, and what the host's
/// `net.ipv6.conf.all.forwarding` lets them reach.
pub fn ipv6_note(v6: &Result<(), String>) -> String {
    if let Err(why) = v6 {
        return why.clone();
    }
    let [a, b, c] = super::links::ULA_PREFIX;
    let subnets = format!(
        "{a:x}:{b:x}:{c:x}:NN::/64 on bridge agentosbNN, masqueraded out; egress by the same \
         grants (loopback, unique-local incl. the metadata address fd00:ec2::254, and \
         link-local refused unless granted); port forwards from [::1] (--publish \
         [::1]:8080:80) relayed by the kernel to the process's IPv6 address (IPv6 has no \
         route_localnet: ::1 never leaves lo); DNS over IPv6 at {} (the kernel's relay)",
        super::dns::RESOLVER6
    );
    match sysctl("/proc/sys/net/ipv6/conf/all/forwarding") {
        Ok(v) if v == "1" => format!(
            "{subnets}; net.ipv6.conf.all.forwarding=1: NAT reaches every network the host reaches"
        ),
        Ok(v) if super::links::forwarding6_per_interface() => format!(
            "{subnets}; net.ipv6.conf.all.forwarding={v}: force_forwarding is on for the \
             agentos bridges only, so private processes reach the host and networks whose \
             interfaces forward; replies from the internet need \
             net.ipv6.conf.all.forwarding=1 (left unchanged: a host setting)"
        ),
        Ok(v) => format!(
            "{subnets}; net.ipv6.conf.all.forwarding={v} and this Linux has no per-interface \
             force_forwarding (6.17+): private processes reach the host itself over IPv6, \
             nothing beyond it (net.ipv6.conf.all.forwarding=1 would; left unchanged: a host \
             setting)"
        ),
        Err(e) => format!("{subnets}; net.ipv6.conf.all.forwarding unreadable: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_groups_and_forwards() {
        assert_eq!(
            NetRequest::parse("none", "", &[]).unwrap().mode,
            NetMode::None
        );
        let r = NetRequest::parse("bridged", "web", &["8080:80".into()]).unwrap();
        assert_eq!(
            r.mode,
            NetMode::Bridged {
                group: "web".into()
            }
        );
        assert_eq!(r.forwards.len(), 1);
    }

    #[test]
    fn shared_needs_the_connect_and_the_bind_halves_of_the_wall() {
        use crate::observe::{ProbeStatus, WallStatus};
        let live = |connect: Result<(), String>, bind: Result<(), String>| ProbeStatus::Live {
            programs: Vec::new(),
            wall: WallStatus {
                open: Err("no BPF LSM".into()),
                connect,
                bind,
            },
        };
        assert_eq!(
            shared_wall(&live(Ok(()), Ok(()))),
            Ok(()),
            "the open half is not needed"
        );
        let no_bind = shared_wall(&live(Ok(()), Err("EPERM".into()))).unwrap_err();
        assert!(no_bind.contains("bind programs: EPERM"), "{no_bind}");
        let no_connect = shared_wall(&live(Err("EPERM".into()), Ok(()))).unwrap_err();
        assert!(no_connect.contains("connect programs"), "{no_connect}");
        let rootless = ProbeStatus::Unavailable {
            reason: "needs CAP_BPF".into(),
        };
        let why = shared_unavailable(&shared_wall(&rootless).unwrap_err());
        assert!(
            why.starts_with("network mode shared") && why.contains("needs CAP_BPF"),
            "{why}"
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        for (m, g, p) in [
            ("bridged", "", vec![]),
            ("private", "web", vec![]),
            ("bridged", "a b", vec![]),
            ("wifi", "", vec![]),
            ("none", "", vec!["8080:80".to_string()]),
            (
                "private",
                "",
                vec!["8080:80".to_string(), "127.0.0.1:8080:81".to_string()],
            ),
        ] {
            assert!(
                matches!(NetRequest::parse(m, g, &p), Err(NetError::Invalid(_))),
                "{m} {g} {p:?}"
            );
        }
    }
}
