//! [`Capability`]: one grant an app's manifest can hold, with its JSON and CLI forms.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::{
    channel::{ChannelPattern, ChannelPatternError},
    net::{NetworkRule, NetworkRuleError, PortRange, PortRangeError},
    path::{PathPattern, PathPatternError},
};

/// One grant of an app's manifest. Which [`Access`](super::Access) each allows is
/// tabled in the [`capability`](super) module docs. Its forms:
///
/// | CLI (`--cap`, `FromStr`, `Display`) | JSON (serde)                                       |
/// |-------------------------------------|----------------------------------------------------|
/// | `read:/home/app`                    | `{"read_file": "/home/app"}`                       |
/// | `write:/home/app/out`               | `{"write_file": "/home/app/out"}`                  |
/// | `create:/home/app/*`                | `{"create_file": "/home/app/*"}`                   |
/// | `delete:/tmp/app`                   | `{"delete_file": "/tmp/app"}`                      |
/// | `list:/home`                        | `{"list_directory": "/home"}`                      |
/// | `spawn`                             | `"spawn_process"`                                  |
/// | `kill`                              | `"kill_process"`                                   |
/// | `net:allow:127.0.0.1:8080/tcp`      | `{"network_access": {"action": "allow", "host": "127.0.0.1", "ports": "8080", "protocol": "tcp"}}` |
/// | `bind:8000-8100`                    | `{"bind_port": "8000-8100"}`                       |
/// | `sysinfo`                           | `"system_info"`                                    |
/// | `time`                              | `"time_access"`                                    |
/// | `send:app.events.*`                 | `{"send_message": "app.events.*"}`                 |
/// | `recv:chat`                         | `{"receive_message": "chat"}`                      |
///
/// The CLI parser also takes the JSON names as kinds (`read_file:/x`,
/// `spawn_process`) and `receive:` for `recv:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Capability {
    ReadFile(PathPattern),
    WriteFile(PathPattern),
    CreateFile(PathPattern),
    DeleteFile(PathPattern),
    ListDirectory(PathPattern),
    SpawnProcess,
    KillProcess,
    NetworkAccess(NetworkRule),
    BindPort(PortRange),
    SystemInfo,
    TimeAccess,
    SendMessage(ChannelPattern),
    ReceiveMessage(ChannelPattern),
}

/// Why a capability's CLI form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    #[error(
        "unknown capability `{input}` (expected read:, write:, create:, delete:, list:, spawn, kill, net:, bind:, sysinfo, time, send: or recv:)"
    )]
    UnknownKind { input: String },
    #[error("capability `{input}` needs an argument, as in `{kind}:{example}`")]
    MissingArgument {
        input: String,
        kind: &'static str,
        example: &'static str,
    },
    #[error("capability `{input}` takes no argument; write just `{kind}`")]
    UnexpectedArgument { input: String, kind: &'static str },
    #[error(transparent)]
    Path(#[from] PathPatternError),
    #[error(transparent)]
    Network(#[from] NetworkRuleError),
    #[error(transparent)]
    Port(#[from] PortRangeError),
    #[error(transparent)]
    Channel(#[from] ChannelPatternError),
}

impl Capability {
    /// The capability's name as deny reasons and docs spell it (`WriteFile`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ReadFile(_) => "ReadFile",
            Self::WriteFile(_) => "WriteFile",
            Self::CreateFile(_) => "CreateFile",
            Self::DeleteFile(_) => "DeleteFile",
            Self::ListDirectory(_) => "ListDirectory",
            Self::SpawnProcess => "SpawnProcess",
            Self::KillProcess => "KillProcess",
            Self::NetworkAccess(_) => "NetworkAccess",
            Self::BindPort(_) => "BindPort",
            Self::SystemInfo => "SystemInfo",
            Self::TimeAccess => "TimeAccess",
            Self::SendMessage(_) => "SendMessage",
            Self::ReceiveMessage(_) => "ReceiveMessage",
        }
    }
}

impl FromStr for Capability {
    type Err = CapabilityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        let need = |kind: &'static str, example: &'static str| {
            arg.filter(|a| !a.is_empty())
                .ok_or_else(|| CapabilityError::MissingArgument {
                    input: s.to_owned(),
                    kind,
                    example,
                })
        };
        let none = |kind: &'static str, cap: Self| match arg {
            None => Ok(cap),
            Some(_) => Err(CapabilityError::UnexpectedArgument {
                input: s.to_owned(),
                kind,
            }),
        };
        Ok(match kind {
            "read" | "read_file" => Self::ReadFile(need("read", "/home/app")?.parse()?),
            "write" | "write_file" => Self::WriteFile(need("write", "/home/app")?.parse()?),
            "create" | "create_file" => Self::CreateFile(need("create", "/home/app")?.parse()?),
            "delete" | "delete_file" => Self::DeleteFile(need("delete", "/home/app")?.parse()?),
            "list" | "list_directory" => Self::ListDirectory(need("list", "/home/app")?.parse()?),
            "spawn" | "spawn_process" => none("spawn", Self::SpawnProcess)?,
            "kill" | "kill_process" => none("kill", Self::KillProcess)?,
            "net" | "network_access" => {
                Self::NetworkAccess(need("net", "allow:127.0.0.1:8080/tcp")?.parse()?)
            }
            "bind" | "bind_port" => Self::BindPort(need("bind", "8080")?.parse()?),
            "sysinfo" | "system_info" => none("sysinfo", Self::SystemInfo)?,
            "time" | "time_access" => none("time", Self::TimeAccess)?,
            "send" | "send_message" => Self::SendMessage(need("send", "app.events.*")?.parse()?),
            "recv" | "receive" | "receive_message" => {
                Self::ReceiveMessage(need("recv", "app.events.*")?.parse()?)
            }
            _ => {
                return Err(CapabilityError::UnknownKind {
                    input: s.to_owned(),
                });
            }
        })
    }
}

impl fmt::Display for Capability {
    /// The CLI form, which [`FromStr`] parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadFile(p) => write!(f, "read:{p}"),
            Self::WriteFile(p) => write!(f, "write:{p}"),
            Self::CreateFile(p) => write!(f, "create:{p}"),
            Self::DeleteFile(p) => write!(f, "delete:{p}"),
            Self::ListDirectory(p) => write!(f, "list:{p}"),
            Self::SpawnProcess => f.write_str("spawn"),
            Self::KillProcess => f.write_str("kill"),
            Self::NetworkAccess(r) => write!(f, "net:{r}"),
            Self::BindPort(r) => write!(f, "bind:{r}"),
            Self::SystemInfo => f.write_str("sysinfo"),
            Self::TimeAccess => f.write_str("time"),
            Self::SendMessage(c) => write!(f, "send:{c}"),
            Self::ReceiveMessage(c) => write!(f, "recv:{c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::capability::net::{HostPattern, ProtocolMatch, RuleAction};

    fn cap(s: &str) -> Capability {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn cli_forms_parse_to_the_right_variant() {
        assert_eq!(
            cap("read:/home/app"),
            Capability::ReadFile("/home/app".parse().unwrap())
        );
        assert_eq!(
            cap("write:/home/app/out"),
            Capability::WriteFile("/home/app/out".parse().unwrap())
        );
        assert_eq!(
            cap("create:/d/*"),
            Capability::CreateFile("/d/*".parse().unwrap())
        );
        assert_eq!(
            cap("delete:/d"),
            Capability::DeleteFile("/d".parse().unwrap())
        );
        assert_eq!(
            cap("list:/"),
            Capability::ListDirectory("/".parse().unwrap())
        );
        assert_eq!(cap("spawn"), Capability::SpawnProcess);
        assert_eq!(cap("kill"), Capability::KillProcess);
        assert_eq!(cap("sysinfo"), Capability::SystemInfo);
        assert_eq!(cap("time"), Capability::TimeAccess);
        assert_eq!(
            cap("bind:8080"),
            Capability::BindPort(PortRange::single(8080))
        );
        assert_eq!(
            cap("send:app.*"),
            Capability::SendMessage("app.*".parse().unwrap())
        );
        assert_eq!(
            cap("recv:chat"),
            Capability::ReceiveMessage("chat".parse().unwrap())
        );
        assert_eq!(cap("receive:chat"), cap("recv:chat"));
        assert_eq!(cap("read_file:/x"), cap("read:/x"));
        assert_eq!(cap("spawn_process"), cap("spawn"));
        let Capability::NetworkAccess(rule) = cap("net:allow:127.0.0.1:8080/tcp") else {
            panic!("not a network rule");
        };
        assert_eq!(rule.action, RuleAction::Allow);
        assert_eq!(rule.host, "127.0.0.1".parse::<HostPattern>().unwrap());
        assert_eq!(rule.ports, PortRange::single(8080));
        assert_eq!(rule.protocol, ProtocolMatch::Tcp);
    }

    #[test]
    fn cli_errors_are_typed_and_name_the_input() {
        assert_eq!(
            "fly:/x".parse::<Capability>(),
            Err(CapabilityError::UnknownKind {
                input: "fly:/x".into()
            })
        );
        assert!(matches!(
            "read".parse::<Capability>(),
            Err(CapabilityError::MissingArgument { input, kind: "read", .. }) if input == "read"
        ));
        assert!(matches!(
            "read:".parse::<Capability>(),
            Err(CapabilityError::MissingArgument { kind: "read", .. })
        ));
        assert_eq!(
            "spawn:now".parse::<Capability>(),
            Err(CapabilityError::UnexpectedArgument {
                input: "spawn:now".into(),
                kind: "spawn"
            })
        );
        assert_eq!(
            "read:etc".parse::<Capability>(),
            Err(CapabilityError::Path(PathPatternError::Relative(
                "etc".into()
            )))
        );
        assert_eq!(
            "bind:9-1".parse::<Capability>(),
            Err(CapabilityError::Port(PortRangeError::Reversed(
                "9-1".into()
            )))
        );
        assert!(matches!(
            "net:maybe:1.2.3.4".parse::<Capability>(),
            Err(CapabilityError::Network(NetworkRuleError::Action(_)))
        ));
        assert!(matches!(
            "send:a..b".parse::<Capability>(),
            Err(CapabilityError::Channel(ChannelPatternError::Invalid(c))) if c == "a..b"
        ));
        for (bad, named) in [
            ("fly", "`fly`"),
            ("read:/a/../b", "`/a/../b`"),
            ("bind:x", "`x`"),
            ("recv:", "`recv:`"),
            ("time:1", "`time:1`"),
        ] {
            let msg = bad.parse::<Capability>().unwrap_err().to_string();
            assert!(msg.contains(named), "{bad}: {msg}");
        }
    }

    #[test]
    fn display_round_trips_through_from_str() {
        for s in [
            "read:/home/app",
            "write:/home/app/out",
            "create:/home/app/*",
            "delete:/tmp/app",
            "list:/",
            "spawn",
            "kill",
            "net:allow:127.0.0.1:8080/tcp",
            "net:deny:[fd00::/8]:*/any",
            "bind:8000-8100",
            "bind:*",
            "sysinfo",
            "time",
            "send:app.events.*",
            "recv:chat",
        ] {
            assert_eq!(cap(s).to_string(), s);
            assert_eq!(cap(&cap(s).to_string()), cap(s));
        }
    }

    #[test]
    fn json_form_is_readable() {
        let caps = vec![
            cap("read:/home/app"),
            cap("spawn"),
            cap("net:allow:127.0.0.1:8080/tcp"),
            cap("bind:8080"),
            cap("recv:chat"),
        ];
        let value = serde_json::to_value(&caps).unwrap();
        assert_eq!(
            value,
            json!([
                {"read_file": "/home/app"},
                "spawn_process",
                {"network_access": {"action": "allow", "host": "127.0.0.1", "ports": "8080", "protocol": "tcp"}},
                {"bind_port": "8080"},
                {"receive_message": "chat"},
            ])
        );
        let back: Vec<Capability> = serde_json::from_value(value).unwrap();
        assert_eq!(back, caps);
        let num: Capability = serde_json::from_value(json!({"bind_port": 8080})).unwrap();
        assert_eq!(num, cap("bind:8080"));
    }

    #[test]
    fn json_errors_name_the_bad_input() {
        let err = serde_json::from_value::<Capability>(json!({"read_file": "relative/p"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("relative/p"), "{err}");
        let err = serde_json::from_value::<Capability>(json!({"fly": "/x"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fly"), "{err}");
        assert!(serde_json::from_value::<Capability>(json!("read_file")).is_err());
    }

    #[test]
    fn names_match_the_variants() {
        assert_eq!(cap("write:/x").name(), "WriteFile");
        assert_eq!(cap("recv:x").name(), "ReceiveMessage");
        assert_eq!(cap("net:deny:*").name(), "NetworkAccess");
    }
}
