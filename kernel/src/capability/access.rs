//! [`Access`]: what one syscall wants to do, and [`Decision`]: whether it may.
//!
//! The syscall layer maps each syscall to one `Access` (the table of which
//! capability each needs is in [`super`]); [`Policy::check`](super::Policy::check)
//! and the [`PermissionCache`](super::PermissionCache) answer with a `Decision`.

use std::{fmt, path::PathBuf};

use super::net::{Host, Protocol};

/// What a syscall wants to do, in the terms grants are written in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read a file's contents or metadata.
    Read(PathBuf),
    /// Write to an existing file (or truncate, rename onto it).
    Write(PathBuf),
    /// Create a file or directory.
    Create(PathBuf),
    /// Delete a file or directory.
    Delete(PathBuf),
    /// List a directory's entries.
    List(PathBuf),
    /// Start a process.
    Spawn,
    /// Signal or kill a process; `target_owned` when the caller owns the target
    /// (it or its own descendants).
    Kill { target_owned: bool },
    /// Open a connection (or send a datagram) to a host.
    Connect {
        addr: Host,
        port: u16,
        proto: Protocol,
    },
    /// Listen on a local port; 0 asks for an ephemeral one.
    Bind(u16),
    /// Read host and kernel information (uptime, load, memory, version).
    SystemInfo,
    /// Read clocks and timers.
    Time,
    /// Send on a message channel.
    Send(String),
    /// Receive from a message channel.
    Receive(String),
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(p) => write!(f, "read {}", p.display()),
            Self::Write(p) => write!(f, "write {}", p.display()),
            Self::Create(p) => write!(f, "create {}", p.display()),
            Self::Delete(p) => write!(f, "delete {}", p.display()),
            Self::List(p) => write!(f, "list {}", p.display()),
            Self::Spawn => f.write_str("spawn a process"),
            Self::Kill { target_owned: true } => f.write_str("kill an owned process"),
            Self::Kill {
                target_owned: false,
            } => f.write_str("kill a process it does not own"),
            Self::Connect { addr, port, proto } => write!(f, "connect to {addr}:{port}/{proto}"),
            Self::Bind(port) => write!(f, "bind port {port}"),
            Self::SystemInfo => f.write_str("read system information"),
            Self::Time => f.write_str("read the time"),
            Self::Send(c) => write!(f, "send on channel {c}"),
            Self::Receive(c) => write!(f, "receive on channel {c}"),
        }
    }
}

impl Access {
    /// The path this access is to, if it names one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Read(p) | Self::Write(p) | Self::Create(p) | Self::Delete(p) | Self::List(p) => {
                Some(p)
            }
            _ => None,
        }
    }

    /// The narrowest grant that allows this access, to offer after a denial
    /// ("allow once", "always"): the exact path, host and port asked for. `None` when
    /// no grant can allow it (a path the grammar refuses, killing another's process).
    pub fn grant(&self) -> Option<super::Capability> {
        let form = match self {
            Self::Read(p) => format!("read:{}", p.to_str()?),
            Self::Write(p) => format!("write:{}", p.to_str()?),
            Self::Create(p) => format!("create:{}", p.to_str()?),
            Self::Delete(p) => format!("delete:{}", p.to_str()?),
            Self::List(p) => format!("list:{}", p.to_str()?),
            Self::Spawn => "spawn".into(),
            Self::Kill { target_owned: true } => "kill".into(),
            // No grant covers another's processes.
            Self::Kill {
                target_owned: false,
            } => return None,
            Self::Connect { addr, port, proto } => format!("net:allow:{addr}:{port}/{proto}"),
            Self::Bind(port) => format!("bind:{port}"),
            Self::SystemInfo => "sysinfo".into(),
            Self::Time => "time".into(),
            Self::Send(c) => format!("send:{c}"),
            Self::Receive(c) => format!("recv:{c}"),
        };
        form.parse().ok()
    }
}

/// The answer to one [`Access`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    Allow,
    /// Refused; `reason` names the capability that is missing or the rule that
    /// denied it (`no WriteFile grant covers /etc/passwd`).
    Deny {
        reason: String,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// `Ok(())` for [`Allow`](Self::Allow), the reason otherwise; for `?` at call
    /// sites that map it to a permission error.
    pub fn into_result(self) -> Result<(), String> {
        match self {
            Self::Allow => Ok(()),
            Self::Deny { reason } => Err(reason),
        }
    }

    pub(crate) fn deny(reason: impl Into<String>) -> Self {
        Self::Deny {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Allow => f.write_str("allowed"),
            Self::Deny { reason } => write!(f, "denied: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_helpers() {
        assert!(Decision::Allow.is_allowed());
        assert_eq!(Decision::Allow.into_result(), Ok(()));
        let d = Decision::deny("no SpawnProcess grant");
        assert!(!d.is_allowed());
        assert_eq!(d.to_string(), "denied: no SpawnProcess grant");
        assert_eq!(d.into_result(), Err("no SpawnProcess grant".to_owned()));
    }

    #[test]
    fn access_display_names_the_target() {
        let a = Access::Connect {
            addr: Host::Ip("::1".parse().unwrap()),
            port: 80,
            proto: Protocol::Tcp,
        };
        assert_eq!(a.to_string(), "connect to [::1]:80/tcp");
        assert_eq!(
            Access::Read("/etc/passwd".into()).to_string(),
            "read /etc/passwd"
        );
    }

    #[test]
    fn the_offered_grant_allows_the_access_and_no_more() {
        use crate::capability::Policy;
        let accesses = [
            Access::Read("/home/u/notes.txt".into()),
            Access::Write("/srv/a".into()),
            Access::Create("/srv/b".into()),
            Access::Delete("/srv/c".into()),
            Access::List("/srv".into()),
            Access::Spawn,
            Access::Kill { target_owned: true },
            Access::Connect {
                addr: Host::Ip("10.0.0.7".parse().unwrap()),
                port: 443,
                proto: Protocol::Tcp,
            },
            Access::Connect {
                addr: Host::Name("example.com".into()),
                port: 80,
                proto: Protocol::Udp,
            },
            Access::Bind(8080),
            Access::SystemInfo,
            Access::Time,
            Access::Send("jobs".into()),
            Access::Receive("jobs".into()),
        ];
        for a in &accesses {
            let g = a.grant().unwrap_or_else(|| panic!("no grant for {a}"));
            let policy = Policy::new([g.clone()]);
            assert_eq!(policy.check(a), Decision::Allow, "{g} for {a}");
            // Nothing else of its kind: a sibling path, another port.
            let other = match a {
                Access::Read(_) => Access::Read("/home/u/other.txt".into()),
                Access::Connect { addr, proto, .. } => Access::Connect {
                    addr: addr.clone(),
                    port: 22,
                    proto: *proto,
                },
                Access::Bind(_) => Access::Bind(8081),
                _ => continue,
            };
            assert!(!policy.check(&other).is_allowed(), "{g} allowed {other}");
        }
        assert_eq!(Access::Read("relative".into()).grant(), None);
        let foreign = Access::Kill {
            target_owned: false,
        };
        assert_eq!(foreign.grant(), None);
    }
}
