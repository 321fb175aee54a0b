//! Fuzz targets of the services' boundaries, one function each, shared by the
//! proptest suites (`cargo test`, which also replays the committed corpus in
//! `fuzz/corpus/<target>/`) and the cargo-fuzz targets in `fuzz/` (`cargo xtask
//! fuzz`). Each takes arbitrary bytes and panics only when a property breaks:
//!
//! * [`syscall_json`]: the body of `POST /api/services/execute`, decoded as the
//!   handler does and run through [`Tools::call`] with every permission, over a
//!   [`RecordingHost`] (in memory: nothing reaches a kernel or the network). A
//!   call ends, within a deadline, in a value or a typed [`ToolError`].
//! * [`blueprint`]: Blueprint text through the parser and the streaming parser. A
//!   Blueprint that parses serialises to text that parses to the same Blueprint.
//!
//! Nothing is made on the host.

use std::time::Duration;

use crate::{
    blueprint::{self, Permission, StreamParser},
    http::services::ExecuteRequest,
    tools::{CallContext, RecordingHost, ToolError, ToolRegistry, Tools, UiState},
};

/// Longest one tool call may take.
const DEADLINE: Duration = Duration::from_secs(10);
const ALL: &[Permission] = &[
    Permission::Filesystem,
    Permission::Storage,
    Permission::Network,
    Permission::System,
    Permission::Apps,
];

/// An `execute` body, decoded and run.
pub fn syscall_json(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<ExecuteRequest>(data) else {
        return; // the JSON extractor's typed 4xx
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let tools = Tools::new(RecordingHost::new());
    let hosts = ["example.com".to_owned()];
    let ctx = CallContext {
        app_id: "fuzz",
        permissions: ALL,
        hosts: &hosts,
    };
    let mut ui = UiState::default();
    let outcome: Result<_, ToolError> = runtime
        .block_on(async {
            tokio::time::timeout(DEADLINE, tools.call(&ctx, &mut ui, &req.tool, &req.args)).await
        })
        .unwrap_or_else(|_| panic!("hang: {} did not finish in {DEADLINE:?}", req.tool));
    if let Err(e) = outcome {
        assert!(
            !e.code().is_empty(),
            "{}: an error without a code",
            req.tool
        );
        assert!(
            !e.to_string().is_empty(),
            "{}: an error without a message",
            req.tool
        );
    }
}

/// Blueprint text, whole and streamed.
pub fn blueprint(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(bp) = blueprint::parse(&text) {
        let printed = serde_json::to_string(&bp).expect("a Blueprint serialises");
        assert_eq!(
            blueprint::parse(&printed).as_ref().ok(),
            Some(&bp),
            "{text:?} parsed, but its serialisation {printed:?} does not parse back to it"
        );
    }
    let mut streamed = StreamParser::new();
    // Odd-sized pieces, cut on character boundaries.
    let chars: Vec<char> = text.chars().collect();
    for piece in chars.chunks(7) {
        let _ = streamed.push(&piece.iter().collect::<String>());
    }
    let _ = streamed.finish(ToolRegistry::builtin());
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    include!("../../fuzz/replay.rs");

    #[test]
    fn syscall_json_corpus() {
        replay("syscall_json", syscall_json);
    }

    #[test]
    fn blueprint_corpus() {
        replay("blueprint", blueprint);
    }

    /// A JSON value of a few levels: what tool arguments are made of.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[0-9+*/().^ a-z-]{0,24}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn syscall_json_holds(
            tool in prop_oneof![
                proptest::sample::select(
                    ToolRegistry::builtin().discover(None).map(|t| t.id.to_string()).collect::<Vec<_>>()
                ),
                "[a-z._]{0,12}",
            ],
            args in proptest::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()), Just("expression".to_owned()), Just("values".to_owned()),
                    Just("x".to_owned()), Just("key".to_owned()), Just("value".to_owned()),
                    Just("path".to_owned()), Just("url".to_owned()), Just("index".to_owned()),
                    "[a-z]{1,8}",
                ],
                json(),
                0..4,
            ),
        ) {
            let body = serde_json::json!({ "tool": tool, "args": args });
            syscall_json(body.to_string().as_bytes());
        }

        #[test]
        fn syscall_json_holds_on_any_text(s in "\\PC{0,120}") {
            syscall_json(s.as_bytes());
        }

        #[test]
        fn blueprint_holds_on_any_text(s in "[{}\\[\\]\":,a-z0-9 .\\-]{0,200}") {
            blueprint(s.as_bytes());
        }
    }
}
