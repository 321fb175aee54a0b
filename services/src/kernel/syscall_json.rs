//! Syscalls and their results as proto3 JSON, for `agentos call`.
//!
//! A syscall is named by its arm of the `agentos.kernel.v1.Syscall` `call` oneof
//! (`exists`, `list_processes`, `set_policy`...) and its arguments are that arm's
//! message in the [proto3 JSON mapping]: field names in lowerCamelCase or as
//! written in the `.proto`, 64-bit integers as numbers or strings, `bytes` as
//! base64, enums by name or number, maps as objects. Results and errors go the other
//! way, with lowerCamelCase names, enums by name, 64-bit integers as strings, and
//! fields at their default value included (an allowed printer option of the mapping;
//! a `size` of 0 is then printed rather than left out).
//!
//! Everything comes from the descriptor set `agentos-proto` embeds, through
//! `prost-reflect`: there is no hand-written list of syscalls, so a new arm in
//! `syscall.proto` is callable at once.
//!
//! [proto3 JSON mapping]: https://protobuf.dev/programming-guides/json/

use std::sync::LazyLock;

use agentos_proto::v1 as pb;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
    prost::Message,
};

/// The oneof of `Syscall` whose arms are the syscalls.
const CALL_ONEOF: &str = "call";

/// Why a syscall could not be built from its name and JSON arguments.
#[derive(Debug, thiserror::Error)]
pub enum SyscallJsonError {
    /// No arm of the `call` oneof has this name.
    #[error("unknown syscall {name:?} (the syscalls are: {})", valid.join(", "))]
    UnknownSyscall { name: String, valid: Vec<String> },
    /// The arguments are not JSON at all.
    #[error("the arguments are not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The arguments are JSON but not a JSON object.
    #[error("the arguments of {syscall} must be a JSON object, like {{\"path\": \"/tmp/x\"}}")]
    NotAnObject { syscall: String },
    /// The arguments do not fit the syscall's message (unknown field, wrong type...).
    #[error("bad arguments for {syscall} ({message}): {source}")]
    BadArguments {
        syscall: String,
        /// The proto message the arguments must fit, e.g. `agentos.kernel.v1.FileExists`.
        message: String,
        #[source]
        source: serde_json::Error,
    },
}

/// How JSON output is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Indented, one field per line.
    Pretty,
    /// One line.
    Compact,
}

/// The message descriptors used here, from one pool.
struct Descriptors {
    syscall: MessageDescriptor,
    result: MessageDescriptor,
    error: MessageDescriptor,
}

static DESCRIPTORS: LazyLock<Descriptors> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(agentos_proto::FILE_DESCRIPTOR_SET)
        .expect("agentos-proto embeds a valid descriptor set");
    let message = |name: &str| {
        pool.get_message_by_name(name)
            .unwrap_or_else(|| panic!("the descriptor set declares {name}"))
    };
    Descriptors {
        syscall: message("agentos.kernel.v1.Syscall"),
        result: message("agentos.kernel.v1.SyscallResult"),
        error: message("agentos.kernel.v1.SyscallError"),
    }
});

/// The syscall names (the arms of `Syscall.call`), in `.proto` order.
pub fn syscall_names() -> Vec<String> {
    let syscall = &DESCRIPTORS.syscall;
    syscall
        .oneofs()
        .find(|o| o.name() == CALL_ONEOF)
        .expect("Syscall has a `call` oneof")
        .fields()
        .map(|f| f.name().to_owned())
        .collect()
}

/// Builds the syscall `name` (snake_case as in the `.proto`, or lowerCamelCase) from
/// `args`, the JSON of its message (`{}` for all defaults).
pub fn syscall_from_json(name: &str, args: &str) -> Result<pb::Syscall, SyscallJsonError> {
    let desc = &DESCRIPTORS.syscall;
    let field = desc
        .get_field_by_name(name)
        .or_else(|| desc.get_field_by_json_name(name))
        .filter(|f| f.containing_oneof().is_some_and(|o| o.name() == CALL_ONEOF))
        .ok_or_else(|| SyscallJsonError::UnknownSyscall {
            name: name.to_owned(),
            valid: syscall_names(),
        })?;
    let args: serde_json::Value = serde_json::from_str(args).map_err(SyscallJsonError::NotJson)?;
    if !args.is_object() {
        return Err(SyscallJsonError::NotAnObject {
            syscall: field.name().to_owned(),
        });
    }
    let wrapped =
        serde_json::Value::Object([(field.name().to_owned(), args)].into_iter().collect());
    let message = DynamicMessage::deserialize_with_options(
        desc.clone(),
        wrapped,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|source| SyscallJsonError::BadArguments {
        syscall: field.name().to_owned(),
        message: field
            .kind()
            .as_message()
            .map(|m| m.full_name().to_owned())
            .unwrap_or_default(),
        source,
    })?;
    Ok(message
        .transcode_to()
        .expect("a message built from agentos-proto's descriptors decodes as its own type"))
}

/// A syscall's result as JSON.
pub fn result_to_json(result: &pb::SyscallResult, layout: Layout) -> String {
    to_json(result, &DESCRIPTORS.result, layout)
}

/// A syscall's error as JSON.
pub fn error_to_json(error: &pb::SyscallError, layout: Layout) -> String {
    to_json(error, &DESCRIPTORS.error, layout)
}

/// The `SyscallError` a failed call's status carries; for a status without one (the
/// kernel went away, the call was refused before it ran), one made from its code and
/// message.
pub fn error_of_status(status: &tonic::Status, syscall: &str) -> pb::SyscallError {
    agentos_client::CallError::from(status.clone()).into_syscall_error(syscall)
}

fn to_json(message: &impl Message, desc: &MessageDescriptor, layout: Layout) -> String {
    let mut dynamic = DynamicMessage::new(desc.clone());
    dynamic
        .transcode_from(message)
        .expect("a generated message decodes with its own descriptor");
    let options = SerializeOptions::new().skip_default_fields(false);
    let mut out = Vec::new();
    let written = match layout {
        Layout::Pretty => {
            dynamic.serialize_with_options(&mut serde_json::Serializer::pretty(&mut out), &options)
        }
        Layout::Compact => {
            dynamic.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options)
        }
    };
    written.expect("a message with string map keys serializes to JSON");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::syscall::Call;

    fn call(name: &str, args: &str) -> Call {
        syscall_from_json(name, args).unwrap().call.unwrap()
    }

    #[test]
    fn builds_exists() {
        assert_eq!(
            call("exists", r#"{"path":"/tmp/x"}"#),
            Call::Exists(pb::FileExists {
                path: "/tmp/x".into()
            })
        );
    }

    #[test]
    fn builds_write_with_base64_data() {
        assert_eq!(
            call("write", r#"{"path":"/tmp/a","data":"aGk=","append":true}"#),
            Call::Write(pb::WriteFile {
                path: "/tmp/a".into(),
                data: b"hi".to_vec(),
                append: true,
            })
        );
    }

    #[test]
    fn builds_spawn_with_a_nested_spec_and_a_map() {
        // lowerCamelCase and .proto names both work; 64-bit integers may be strings.
        let Call::Spawn(spawn) = call(
            "spawn",
            r#"{"spec":{"argv":["/bin/true","x"],"env":{"A":"1","B":"2"},
                "read_paths":["/etc"],"writePaths":["/srv"],
                "limits":{"memoryMaxBytes":"1048576","pids_max":8}}}"#,
        ) else {
            panic!("not a spawn");
        };
        let spec = spawn.spec.unwrap();
        assert_eq!(spec.argv, ["/bin/true", "x"]);
        assert_eq!(spec.env.len(), 2);
        assert_eq!(spec.env["A"], "1");
        assert_eq!(spec.read_paths, ["/etc"]);
        assert_eq!(spec.write_paths, ["/srv"]);
        let limits = spec.limits.unwrap();
        assert_eq!(limits.memory_max_bytes, 1 << 20);
        assert_eq!(limits.pids_max, 8);
    }

    #[test]
    fn builds_set_policy_with_an_enum_by_name() {
        assert_eq!(
            call(
                "set_policy",
                r#"{"policy":"SCHED_POLICY_ROUND_ROBIN","freezeMinimised":true}"#
            ),
            Call::SetPolicy(pb::SetPolicy {
                policy: pb::SchedPolicy::RoundRobin as i32,
                freeze_minimised: true,
                focus_boost: 0,
            })
        );
    }

    #[test]
    fn builds_argument_less_calls_from_empty_objects() {
        assert_eq!(
            call("list_processes", "{}"),
            Call::ListProcesses(pb::ListProcesses {})
        );
        assert_eq!(
            call("listProcesses", "{}"),
            Call::ListProcesses(pb::ListProcesses {})
        );
        assert_eq!(call("time", "{}"), Call::Time(pb::GetTime {}));
    }

    #[test]
    fn names_come_from_the_oneof() {
        let names = syscall_names();
        assert_eq!(names.first().map(String::as_str), Some("read"));
        for name in [
            "exists",
            "spawn",
            "list_processes",
            "send_signal",
            "set_policy",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let err = syscall_from_json("bogus", "{}").unwrap_err();
        assert!(matches!(err, SyscallJsonError::UnknownSyscall { .. }));
        let text = err.to_string();
        assert!(text.contains("\"bogus\""), "{text}");
        assert!(
            text.contains("exists") && text.contains("list_processes") && text.contains("time"),
            "{text}"
        );
        // Fields of the arms' messages are not syscalls.
        assert!(syscall_from_json("path", "{}").is_err());
    }

    #[test]
    fn bad_json_and_bad_arguments_are_errors() {
        assert!(matches!(
            syscall_from_json("exists", r#"{"path":"#),
            Err(SyscallJsonError::NotJson(_))
        ));
        assert!(matches!(
            syscall_from_json("exists", r#""/tmp/x""#),
            Err(SyscallJsonError::NotAnObject { .. })
        ));
        let err = syscall_from_json("exists", r#"{"paht":"/tmp/x"}"#).unwrap_err();
        assert!(matches!(err, SyscallJsonError::BadArguments { .. }));
        assert!(err.to_string().contains("paht"), "{err}");
        assert!(err.to_string().contains("FileExists"), "{err}");
        assert!(matches!(
            syscall_from_json("kill", r#"{"pid":"me"}"#),
            Err(SyscallJsonError::BadArguments { .. })
        ));
    }

    #[test]
    fn statuses_without_details_still_give_an_error() {
        let detailed = pb::SyscallError {
            code: pb::ErrorCode::NotFound as i32,
            message: "gone".into(),
            syscall: "read".into(),
            path: "/x".into(),
            errno: 2,
        };
        // What the kernel sends (`kernel/src/rpc/status.rs`): the code, and the encoded
        // `SyscallError` in the details.
        let st = tonic::Status::with_details(
            tonic::Code::NotFound,
            detailed.message.clone(),
            detailed.encode_to_vec().into(),
        );
        assert_eq!(error_of_status(&st, "other"), detailed);
        let bare = error_of_status(&tonic::Status::unavailable("socket closed"), "time");
        assert_eq!(bare.code, pb::ErrorCode::Internal as i32);
        assert_eq!(bare.message, "socket closed");
        assert_eq!(bare.syscall, "time");
    }

    fn json(result: pb::syscall_result::Value) -> serde_json::Value {
        let text = result_to_json(
            &pb::SyscallResult {
                value: Some(result),
            },
            Layout::Compact,
        );
        assert_eq!(text.lines().count(), 1, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn results_print_as_proto3_json() {
        use pb::syscall_result::Value as V;
        assert_eq!(json(V::Flag(false)), serde_json::json!({"flag": false}));
        assert_eq!(
            json(V::Data(b"hi".to_vec())),
            serde_json::json!({"data": "aGk="})
        );
        assert_eq!(json(V::Count(7)), serde_json::json!({"count": "7"}));
        assert_eq!(json(V::Unit(pb::Unit {})), serde_json::json!({"unit": {}}));
        // Defaults are printed; enums by name.
        let stat = json(V::Stat(pb::FileStat {
            path: "/tmp/e".into(),
            kind: pb::FileKind::File as i32,
            ..Default::default()
        }));
        assert_eq!(stat["stat"]["kind"], "FILE_KIND_FILE");
        assert_eq!(stat["stat"]["size"], "0");
        assert_eq!(stat["stat"]["modifiedUnixNs"], "0");
    }

    #[test]
    fn errors_print_as_proto3_json() {
        let err = pb::SyscallError {
            code: pb::ErrorCode::NotFound as i32,
            message: "/nope: not found".into(),
            syscall: "read".into(),
            path: "/nope".into(),
            errno: 2,
        };
        let pretty = error_to_json(&err, Layout::Pretty);
        assert!(pretty.lines().count() > 1, "{pretty}");
        let v: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "code": "ERROR_CODE_NOT_FOUND",
                "message": "/nope: not found",
                "syscall": "read",
                "path": "/nope",
                "errno": 2,
            })
        );
    }
}
