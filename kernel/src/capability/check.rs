//! [`Policy::check`]: whether a policy allows one [`Access`].
//!
//! A linear scan of the grants of the one kind the access needs; every refusal
//! says which capability was missing or which rule denied. See [`super`] for the
//! table of which capability each access needs.

use std::path::Path;

use super::{
    access::{Access, Decision},
    channel::ChannelPattern,
    net::{Host, Protocol},
    path::{PathPattern, normalize_request},
    policy::Policy,
};

impl Policy {
    /// Whether this policy allows `req`; see [`super`] for the rules.
    pub fn check(&self, req: &Access) -> Decision {
        let ix = &self.index;
        match req {
            Access::Read(p) => check_path(&ix.read, "ReadFile", p),
            Access::Write(p) => check_path(&ix.write, "WriteFile", p),
            Access::Create(p) => check_path(&ix.create, "CreateFile", p),
            Access::Delete(p) => check_path(&ix.delete, "DeleteFile", p),
            Access::List(p) => check_path(&ix.list, "ListDirectory", p),
            Access::Spawn => flag(ix.spawn, "no SpawnProcess grant"),
            Access::Kill { target_owned: true } => flag(ix.kill, "no KillProcess grant"),
            Access::Kill {
                target_owned: false,
            } => Decision::deny(
                "the target process is not owned by the caller; KillProcess covers only owned processes",
            ),
            Access::Connect { addr, port, proto } => self.check_connect(addr, *port, *proto),
            Access::Bind(port) => {
                if ix.bind.iter().any(|r| r.contains(*port)) {
                    Decision::Allow
                } else {
                    Decision::deny(format!("no BindPort grant covers port {port}"))
                }
            }
            Access::SystemInfo => flag(ix.system_info, "no SystemInfo grant"),
            Access::Time => flag(ix.time, "no TimeAccess grant"),
            Access::Send(c) => check_channel(&ix.send, "SendMessage", c),
            Access::Receive(c) => check_channel(&ix.receive, "ReceiveMessage", c),
        }
    }

    /// Deny rules first: any match refuses, whatever the allow rules say.
    fn check_connect(&self, addr: &Host, port: u16, proto: Protocol) -> Decision {
        let ix = &self.index;
        if let Some(rule) = ix.net_deny.iter().find(|r| r.matches(addr, port, proto)) {
            return Decision::deny(format!(
                "NetworkAccess rule `{rule}` denies {addr}:{port}/{proto}"
            ));
        }
        if ix.net_allow.iter().any(|r| r.matches(addr, port, proto)) {
            Decision::Allow
        } else {
            Decision::deny(format!(
                "no NetworkAccess allow rule covers {addr}:{port}/{proto}"
            ))
        }
    }
}

fn flag(granted: bool, missing: &str) -> Decision {
    if granted {
        Decision::Allow
    } else {
        Decision::deny(missing)
    }
}

fn check_path(patterns: &[PathPattern], cap: &str, path: &Path) -> Decision {
    match normalize_request(path) {
        Ok(norm) if patterns.iter().any(|p| p.covers_normalized(&norm)) => Decision::Allow,
        Ok(_) => Decision::deny(format!("no {cap} grant covers {}", path.display())),
        Err(bad) => Decision::deny(format!(
            "{} is refused whatever the grants: {bad}",
            path.display()
        )),
    }
}

fn check_channel(patterns: &[ChannelPattern], cap: &str, channel: &str) -> Decision {
    if patterns.iter().any(|p| p.matches(channel)) {
        Decision::Allow
    } else {
        Decision::deny(format!("no {cap} grant covers channel {channel:?}"))
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::capability::net::Host;

    fn policy(forms: &[&str]) -> Policy {
        Policy::parse_cli(forms).unwrap_or_else(|e| panic!("{forms:?}: {e}"))
    }

    fn allowed(p: &Policy, a: &Access) -> bool {
        p.check(a).is_allowed()
    }

    fn reason(d: Decision) -> String {
        match d {
            Decision::Allow => panic!("expected a denial"),
            Decision::Deny { reason } => reason,
        }
    }

    fn connect(addr: &str, port: u16, proto: Protocol) -> Access {
        Access::Connect {
            addr: addr.parse().unwrap(),
            port,
            proto,
        }
    }

    #[test]
    fn empty_policy_denies_everything() {
        let p = Policy::deny_all();
        for a in [
            Access::Read("/".into()),
            Access::Write("/tmp/x".into()),
            Access::Create("/tmp/x".into()),
            Access::Delete("/tmp/x".into()),
            Access::List("/".into()),
            Access::Spawn,
            Access::Kill { target_owned: true },
            Access::Kill {
                target_owned: false,
            },
            connect("127.0.0.1", 80, Protocol::Tcp),
            Access::Bind(0),
            Access::SystemInfo,
            Access::Time,
            Access::Send("x".into()),
            Access::Receive("x".into()),
        ] {
            assert!(!allowed(&p, &a), "{a}");
        }
    }

    #[test]
    fn each_path_access_needs_its_own_capability() {
        let cases = [
            ("read", Access::Read("/d/f".into())),
            ("write", Access::Write("/d/f".into())),
            ("create", Access::Create("/d/f".into())),
            ("delete", Access::Delete("/d/f".into())),
            ("list", Access::List("/d/f".into())),
        ];
        for (grant, _) in &cases {
            let p = policy(&[&format!("{grant}:/d")]);
            for (kind, access) in &cases {
                assert_eq!(allowed(&p, access), grant == kind, "{grant} vs {access}");
            }
        }
    }

    #[test]
    fn path_checks_are_component_wise() {
        let p = policy(&["read:/data", "write:/home/app/*"]);
        assert!(allowed(&p, &Access::Read("/data".into())));
        assert!(allowed(&p, &Access::Read("/data/a/b".into())));
        assert!(allowed(&p, &Access::Read("/data//a/./b/".into())));
        assert!(!allowed(&p, &Access::Read("/database".into())));
        assert!(!allowed(&p, &Access::Read("/data/../etc/passwd".into())));
        assert!(!allowed(&p, &Access::Read("data/x".into())));
        assert!(allowed(&p, &Access::Write("/home/app/notes.txt".into())));
        assert!(!allowed(&p, &Access::Write("/home/app".into())));
        assert!(!allowed(
            &p,
            &Access::Write("/home/app/sub/notes.txt".into())
        ));
        assert!(!allowed(&p, &Access::Write("/home/application/x".into())));
    }

    #[test]
    fn deny_reasons_name_the_missing_capability() {
        let p = policy(&["read:/etc"]);
        assert_eq!(
            reason(p.check(&Access::Write("/etc/passwd".into()))),
            "no WriteFile grant covers /etc/passwd"
        );
        assert_eq!(
            reason(p.check(&Access::List("/home".into()))),
            "no ListDirectory grant covers /home"
        );
        assert!(
            reason(p.check(&Access::Read("/etc/../root".into()))).contains("`..`"),
            "a .. path says why"
        );
        assert!(reason(p.check(&Access::Read("etc".into()))).contains("not absolute"));
        assert_eq!(reason(p.check(&Access::Spawn)), "no SpawnProcess grant");
        assert_eq!(
            reason(p.check(&Access::Kill { target_owned: true })),
            "no KillProcess grant"
        );
        assert_eq!(reason(p.check(&Access::Time)), "no TimeAccess grant");
        assert_eq!(reason(p.check(&Access::SystemInfo)), "no SystemInfo grant");
        assert_eq!(
            reason(p.check(&Access::Bind(80))),
            "no BindPort grant covers port 80"
        );
        assert_eq!(
            reason(p.check(&Access::Send("chat".into()))),
            "no SendMessage grant covers channel \"chat\""
        );
        assert_eq!(
            reason(p.check(&connect("1.2.3.4", 443, Protocol::Tcp))),
            "no NetworkAccess allow rule covers 1.2.3.4:443/tcp"
        );
    }

    #[test]
    fn flags_allow_their_access() {
        let p = policy(&["spawn", "kill", "sysinfo", "time"]);
        assert!(allowed(&p, &Access::Spawn));
        assert!(allowed(&p, &Access::Kill { target_owned: true }));
        assert!(allowed(&p, &Access::SystemInfo));
        assert!(allowed(&p, &Access::Time));
    }

    #[test]
    fn killing_an_unowned_process_is_never_granted() {
        let p = policy(&["kill", "spawn"]);
        let r = reason(p.check(&Access::Kill {
            target_owned: false,
        }));
        assert!(r.contains("not owned"), "{r}");
    }

    #[test]
    fn deny_rules_win_over_allow_rules() {
        let p = policy(&[
            "net:allow:*",
            "net:deny:10.0.0.0/8:22/tcp",
            "net:allow:10.1.1.1:22/tcp",
        ]);
        assert!(allowed(&p, &connect("1.2.3.4", 22, Protocol::Tcp)));
        assert!(allowed(&p, &connect("10.1.1.1", 80, Protocol::Tcp)));
        assert!(allowed(&p, &connect("10.1.1.1", 22, Protocol::Udp)));
        let r = reason(p.check(&connect("10.1.1.1", 22, Protocol::Tcp)));
        assert_eq!(
            r,
            "NetworkAccess rule `deny:10.0.0.0/8:22/tcp` denies 10.1.1.1:22/tcp"
        );
        // The order of the rules does not matter.
        let q = policy(&[
            "net:allow:10.1.1.1:22/tcp",
            "net:deny:10.0.0.0/8:22/tcp",
            "net:allow:*",
        ]);
        assert!(!allowed(&q, &connect("10.1.1.1", 22, Protocol::Tcp)));
    }

    #[test]
    fn deny_rules_hold_against_mapped_and_literal_addresses() {
        let p = policy(&["net:allow:*", "net:deny:127.0.0.0/8"]);
        assert!(!allowed(&p, &connect("127.0.0.1", 80, Protocol::Tcp)));
        assert!(!allowed(
            &p,
            &connect("::ffff:127.0.0.1", 80, Protocol::Tcp)
        ));
        let named = Access::Connect {
            addr: Host::Name("127.0.0.1".into()),
            port: 80,
            proto: Protocol::Tcp,
        };
        assert!(!allowed(&p, &named));
        assert!(allowed(&p, &connect("::1", 80, Protocol::Tcp)));
    }

    #[test]
    fn network_rules_respect_ports_and_protocol() {
        let p = policy(&[
            "net:allow:127.0.0.1:8000-8100/tcp",
            "net:allow:example.com:443",
        ]);
        assert!(allowed(&p, &connect("127.0.0.1", 8000, Protocol::Tcp)));
        assert!(allowed(&p, &connect("127.0.0.1", 8100, Protocol::Tcp)));
        assert!(!allowed(&p, &connect("127.0.0.1", 8101, Protocol::Tcp)));
        assert!(!allowed(&p, &connect("127.0.0.1", 8050, Protocol::Udp)));
        assert!(!allowed(&p, &connect("127.0.0.2", 8050, Protocol::Tcp)));
        let name = |n: &str, port| Access::Connect {
            addr: Host::Name(n.into()),
            port,
            proto: Protocol::Udp,
        };
        assert!(allowed(&p, &name("Example.com", 443)));
        assert!(!allowed(&p, &name("example.com", 80)));
        assert!(!allowed(&p, &name("www.example.com", 443)));
        let ip: IpAddr = "93.184.216.34".parse().unwrap();
        let by_ip = Access::Connect {
            addr: ip.into(),
            port: 443,
            proto: Protocol::Tcp,
        };
        assert!(!allowed(&p, &by_ip), "a name rule does not cover addresses");
    }

    #[test]
    fn bind_ports_are_inclusive_ranges() {
        let p = policy(&["bind:8000-8002", "bind:9000"]);
        for (port, ok) in [
            (7999, false),
            (8000, true),
            (8002, true),
            (8003, false),
            (9000, true),
            (9001, false),
            (0, false),
        ] {
            assert_eq!(allowed(&p, &Access::Bind(port)), ok, "port {port}");
        }
        assert!(allowed(&policy(&["bind:*"]), &Access::Bind(0)));
    }

    #[test]
    fn channels_use_their_patterns() {
        let p = policy(&["send:app.*", "recv:chat"]);
        assert!(allowed(&p, &Access::Send("app.x".into())));
        assert!(!allowed(&p, &Access::Send("app".into())));
        assert!(!allowed(&p, &Access::Send("apple".into())));
        assert!(!allowed(&p, &Access::Receive("app.x".into())));
        assert!(allowed(&p, &Access::Receive("chat".into())));
        assert!(!allowed(&p, &Access::Send("chat".into())));
    }
}
