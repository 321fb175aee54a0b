use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::tools::ToolRegistry;

/// A valid Blueprint; tests change one thing and expect one error.
fn base() -> Value {
    json!({
        "spec": "1.0",
        "app": {"id": "demo", "name": "Demo", "version": "1.0.0"},
        "ui": {"title": "Demo", "components": [
            {"type": "text", "id": "label", "props": {"text": "hi"}},
            {"type": "button", "id": "go", "props": {"text": "Go"},
             "on_event": {"click": {"tool": "ui.set", "args": {"id": "label", "value": "clicked"}}}},
            {"type": "container", "id": "box", "props": {"direction": "row"}, "children": [
                {"type": "slider", "id": "volume", "props": {"min": 0, "max": 10, "value": 3}}
            ]}
        ]}
    })
}

fn parse_value(v: &Value) -> Result<Blueprint, ParseError> {
    parse(&v.to_string())
}

fn err(v: &Value) -> ParseError {
    parse_value(v).expect_err("the Blueprint should be rejected")
}

#[test]
fn the_base_blueprint_parses_with_typed_props() {
    let bp = parse_value(&base()).unwrap();
    assert_eq!(bp.app.id, "demo");
    assert_eq!(bp.components().count(), 4);
    let slider = bp.component("volume").unwrap();
    match &slider.props {
        Props::Slider(p) => assert_eq!((p.min, p.max, p.value), (Some(0.0), Some(10.0), Some(3.0))),
        other => panic!("expected slider props, got {other:?}"),
    }
    let go = bp.component("go").unwrap();
    assert_eq!(go.on_event["click"].0[0].tool, "ui.set");
}

#[test]
fn a_byte_order_mark_is_allowed() {
    let text = format!("\u{feff}{}", base());
    parse(&text).unwrap();
}

#[test]
fn a_blueprint_survives_a_round_trip_through_json() {
    let bp = parse_value(&base()).unwrap();
    let text = serde_json::to_string(&bp).unwrap();
    assert_eq!(parse(&text).unwrap(), bp);
}

#[test]
fn optional_props_left_out_stay_out_of_the_json() {
    let mut v = base();
    v["ui"]["components"][0] = json!({"type": "list", "id": "label", "props": {"ordered": true}});
    let bp = parse_value(&v).unwrap();
    let out = serde_json::to_value(&bp).unwrap();
    let list = &out["ui"]["components"][0]["props"];
    assert_eq!(list, &json!({"ordered": true}));
    let slider = &out["ui"]["components"][2]["children"][0]["props"];
    assert_eq!(slider, &json!({"min": 0.0, "max": 10.0, "value": 3.0}));
}

#[test]
fn props_before_type_still_parse() {
    let mut v = base();
    v["ui"]["components"][0] = json!({"props": {"text": "late"}, "id": "label", "type": "text"});
    let bp = parse_value(&v).unwrap();
    assert!(matches!(&bp.ui.components[0].props, Props::Text(t) if t.text == "late"));
}

#[test]
fn invalid_json_names_line_and_column() {
    let e = parse("{\"spec\": \"1.0\",\n  \"app\": }").unwrap_err();
    match e {
        ParseError::Json { line, column, .. } => assert_eq!((line, column), (2, 10)),
        other => panic!("expected a JSON error, got {other:?}"),
    }
    assert!(matches!(parse("").unwrap_err(), ParseError::Json { .. }));
    assert!(matches!(
        parse("{} trailing").unwrap_err(),
        ParseError::Json { .. } | ParseError::Shape { .. }
    ));
}

#[test]
fn a_wrong_prop_type_names_the_nested_path() {
    let mut v = base();
    v["ui"]["components"][2]["children"][0]["props"]["max"] = json!("ten");
    let e = err(&v);
    assert_eq!(e.path(), "ui.components[2].children[0].props.max");
    assert_eq!(e.code(), "invalid_blueprint");
    assert!(e.to_string().contains("invalid type"), "{e}");
    // `json!` sorts keys, so `props` came before `type` above; in file order too:
    let text = r#"{"spec": "1.0", "app": {"id": "a", "name": "A", "version": "1"},
        "ui": {"title": "T", "components": [{"type": "slider", "id": "s", "props": {"max": "ten"}}]}}"#;
    assert_eq!(
        parse(text).unwrap_err().path(),
        "ui.components[0].props.max"
    );
}

#[test]
fn an_unknown_prop_is_rejected_by_name() {
    let mut v = base();
    v["ui"]["components"][0]["props"]["txt"] = json!("typo");
    let e = err(&v);
    assert!(
        e.path().starts_with("ui.components[0].props"),
        "{}",
        e.path()
    );
    assert!(e.to_string().contains("txt"), "{e}");
}

#[test]
fn a_missing_required_field_is_named() {
    let mut v = base();
    v["app"].as_object_mut().unwrap().remove("name");
    let e = err(&v);
    assert!(e.to_string().contains("missing field `name`"), "{e}");
    assert_eq!(e.path(), "app");
}

#[test]
fn an_unknown_component_type_is_rejected() {
    let mut v = base();
    v["ui"]["components"][1]["type"] = json!("hologram");
    let e = err(&v);
    assert_eq!(
        e,
        ParseError::UnknownComponentType {
            path: "ui.components[1]".into(),
            found: "hologram".into()
        }
    );
    assert!(e.to_string().contains("known types: button"), "{e}");
}

#[test]
fn an_unknown_type_with_a_fallback_becomes_the_fallback() {
    let mut v = base();
    v["ui"]["components"][0] = json!({
        "type": "chart3d", "id": "chart", "props": {"whatever": 1},
        "fallback": {"type": "text", "id": "chart", "props": {"text": "No 3-D charts here"}}
    });
    v["ui"]["components"][1]["fallback"] = json!("drop");
    let bp = parse_value(&v).unwrap();
    assert!(matches!(&bp.ui.components[0].props, Props::Text(t) if t.text.contains("3-D")));
    // A known type keeps its fallback for the renderer.
    assert_eq!(bp.ui.components[1].fallback, Some(Fallback::Drop));

    let mut dropped = base();
    dropped["ui"]["components"][0] = json!({"type": "chart3d", "id": "x", "fallback": "drop"});
    assert_eq!(parse_value(&dropped).unwrap().ui.components.len(), 2);
}

#[test]
fn an_unknown_tool_is_rejected() {
    let mut v = base();
    v["ui"]["components"][1]["on_event"]["click"] = json!("ui.explode");
    assert_eq!(
        err(&v),
        ParseError::UnknownTool {
            path: "ui.components[1].on_event.click".into(),
            tool: "ui.explode".into()
        }
    );
}

#[test]
fn an_event_the_component_never_fires_is_rejected() {
    let mut v = base();
    v["ui"]["components"][1]["on_event"] = json!({"hover": "ui.clear"});
    let e = err(&v);
    assert_eq!(
        e,
        ParseError::UnknownEvent {
            path: "ui.components[1].on_event.hover".into(),
            event: "hover".into(),
            component_type: ComponentType::Button
        }
    );
    assert!(e.to_string().contains("it fires: click"), "{e}");
    // Repair drops the dead binding instead.
    let (bp, repairs) = repair(v, ToolRegistry::builtin()).unwrap();
    assert!(bp.component("go").unwrap().on_event.is_empty());
    assert_eq!(
        repairs,
        [Repair::DroppedField {
            path: "ui.components[1].on_event.hover".into()
        }]
    );
}

#[test]
fn a_tool_needs_its_namespace_permission() {
    let mut v = base();
    v["ui"]["components"][1]["on_event"]["click"] =
        json!(["ui.clear", {"tool": "fs.read", "args": {"path": "notes.txt"}}]);
    let e = err(&v);
    assert_eq!(
        e,
        ParseError::PermissionRequired {
            path: "ui.components[1].on_event.click[1]".into(),
            tool: "fs.read".into(),
            permission: "filesystem".into()
        }
    );
    v["app"]["permissions"] = json!(["filesystem"]);
    parse_value(&v).unwrap();
}

#[test]
fn an_unknown_permission_is_rejected() {
    let mut v = base();
    v["app"]["permissions"] = json!(["root"]);
    let e = err(&v);
    assert_eq!(e.path(), "app.permissions[0]");
}

#[test]
fn cross_field_prop_rules_name_the_prop() {
    let mut v = base();
    v["ui"]["components"][2]["children"][0]["props"]["max"] = json!(-1);
    let e = err(&v);
    assert_eq!(e.path(), "ui.components[2].children[0].props.max");
    assert_eq!(e.code(), "invalid_prop");

    let mut v = base();
    v["ui"]["components"][0] = json!({"type": "select", "id": "s",
        "props": {"options": [{"value": "a", "label": "A"}], "value": "b"}});
    assert_eq!(err(&v).path(), "ui.components[0].props.value");

    let mut v = base();
    v["ui"]["components"][0] = json!({"type": "tabs", "id": "t", "props": {"labels": ["One", "Two"]},
        "children": [{"type": "text", "id": "one", "props": {"text": "1"}}]});
    assert_eq!(err(&v).path(), "ui.components[0].props.labels");

    let mut v = base();
    v["ui"]["components"][0] =
        json!({"type": "iframe", "id": "f", "props": {"src": "javascript:alert(1)", "title": "x"}});
    assert_eq!(err(&v).path(), "ui.components[0].props.src");
}

#[test]
fn duplicate_ids_name_both_places() {
    let mut v = base();
    v["ui"]["components"][2]["children"][0]["id"] = json!("label");
    assert_eq!(
        err(&v),
        ParseError::DuplicateId {
            path: "ui.components[2].children[0]".into(),
            id: "label".into(),
            first: "ui.components[0]".into()
        }
    );
}

#[test]
fn leaves_hold_no_children() {
    let mut v = base();
    v["ui"]["components"][0]["children"] = json!([{"type": "divider", "id": "d", "props": {}}]);
    assert!(matches!(
        err(&v),
        ParseError::ChildrenNotAllowed {
            component_type: ComponentType::Text,
            ..
        }
    ));
}

#[test]
fn spec_version_is_checked() {
    let mut v = base();
    v["spec"] = json!("2.0");
    assert_eq!(
        err(&v),
        ParseError::UnsupportedSpec {
            found: "2.0".into()
        }
    );
    v["spec"] = json!("1.3");
    parse_value(&v).expect("a later 1.x minor is read");
}

#[test]
fn field_rules_are_checked() {
    let mut v = base();
    v["app"]["id"] = json!("Has Spaces");
    assert_eq!(err(&v).path(), "app.id");
    let mut v = base();
    v["ui"]["components"] = json!([]);
    assert_eq!(err(&v).path(), "ui.components");
    let mut v = base();
    v["app"]["hosts"] = json!(["example.com"]);
    assert_eq!(err(&v).path(), "app.hosts");
    v["app"]["permissions"] = json!(["network"]);
    parse_value(&v).unwrap();
}

#[test]
fn every_component_type_parses_from_minimal_props() {
    let minimal = |t: ComponentType| -> Value {
        match t {
            ComponentType::Button | ComponentType::Text | ComponentType::Badge => {
                json!({"text": "x"})
            }
            ComponentType::Radio => json!({"label": "x", "group": "g", "value": "v"}),
            ComponentType::Grid => json!({"columns": 2}),
            ComponentType::Select => json!({"options": [{"value": "a", "label": "A"}]}),
            ComponentType::Image => json!({"src": "a.png", "alt": ""}),
            ComponentType::Video | ComponentType::Audio => json!({"src": "a.media"}),
            ComponentType::Canvas => json!({"width": 10, "height": 10}),
            ComponentType::Modal => json!({"title": "x"}),
            ComponentType::Tabs => json!({"labels": []}),
            ComponentType::AppShortcut => json!({"app_id": "notes", "label": "Notes"}),
            ComponentType::Iframe => json!({"src": "https://example.com", "title": "x"}),
            _ => json!({}),
        }
    };
    assert_eq!(ComponentType::ALL.len(), 23);
    for &t in ComponentType::ALL {
        let mut v = base();
        v["ui"]["components"] = json!([{"type": t.as_str(), "id": "c", "props": minimal(t)}]);
        let bp = parse_value(&v).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(bp.ui.components[0].component_type(), t);
        assert_eq!(ComponentType::from_name(t.as_str()), Some(t));
    }
}

#[test]
fn the_schema_covers_every_type_and_the_document() {
    let s = schema_json();
    assert_eq!(s["title"], format!("AgentOS Blueprint {SPEC_VERSION}"));
    let defs = s["$defs"].as_object().unwrap();
    for t in ComponentType::ALL {
        assert!(
            defs.contains_key(t.props_schema_name()),
            "{t} has no props schema"
        );
    }
    assert_eq!(defs["ButtonProps"]["required"], json!(["text"]));
    assert_eq!(defs["ButtonProps"]["additionalProperties"], json!(false));
    let variants = defs["Component"]["oneOf"].as_array().unwrap();
    assert_eq!(
        variants.len(),
        24,
        "23 types plus the unknown-with-fallback form"
    );
    assert_eq!(s["required"], json!(["spec", "app", "ui"]));
    // Tool ids are the registry's, in the schema as in the parser.
    let tool_ids = &defs["ToolCall"]["properties"]["tool"]["enum"];
    assert!(
        tool_ids
            .as_array()
            .unwrap()
            .contains(&json!("math.evaluate"))
    );
    assert_eq!(
        tool_ids.as_array().unwrap().len(),
        ToolRegistry::builtin().iter().count()
    );
}

/// The schema committed beside the prebuilt apps is the one the code generates.
/// `AGENTOS_BLESS=1 cargo test -p agentos-services --lib published_schema` rewrites it.
#[test]
fn the_published_schema_is_current() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/blueprint/schema.json");
    let generated = serde_json::to_string_pretty(&schema_json()).unwrap() + "\n";
    if std::env::var_os("AGENTOS_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date: run `AGENTOS_BLESS=1 cargo test -p agentos-services --lib published_schema`",
        path.display()
    );
}

#[test]
fn the_prebuilt_blueprints_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/blueprint");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bp") {
            let text = std::fs::read_to_string(&path).unwrap();
            let bp = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            ids.push(bp.app.id);
        }
    }
    ids.sort();
    assert_eq!(
        ids,
        [
            "app-hub",
            "calculator",
            "notes",
            "quick-settings",
            "timer",
            "todo"
        ]
    );
}

// ---- repair ----

#[test]
fn repair_drops_unknown_props_and_fills_ids() {
    let v = json!({
        "app": {"id": "gen", "name": "Generated", "mood": "happy"},
        "ui": {"title": "Gen", "components": [
            {"type": "button", "props": {"text": "Hi", "color": "red"}},
            {"type": "button", "props": {"text": "Ho"}, "weight": 3},
            {"type": "text", "id": "button-1", "props": {"text": "taken id"}}
        ]}
    });
    let (bp, repairs) = repair(v, ToolRegistry::builtin()).unwrap();
    let ids: Vec<&str> = bp.components().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["button-2", "button-3", "button-1"]);
    assert!(repairs.contains(&Repair::FilledSpec));
    assert!(repairs.contains(&Repair::FilledAppVersion));
    assert!(repairs.contains(&Repair::DroppedField {
        path: "app.mood".into()
    }));
    assert!(repairs.contains(&Repair::DroppedField {
        path: "ui.components[0].props.color".into()
    }));
    assert!(repairs.contains(&Repair::DroppedField {
        path: "ui.components[1].weight".into()
    }));
    assert!(repairs.contains(&Repair::FilledId {
        path: "ui.components[0].id".into(),
        id: "button-2".into()
    }));
}

#[test]
fn repair_rejects_what_it_cannot_fix() {
    let mut v = base();
    v["ui"]["components"][1]["on_event"]["click"] = json!("fs.delete");
    let e = repair(v, ToolRegistry::builtin()).unwrap_err();
    assert_eq!(e.code(), "permission_required");
    let e = repair(json!([1, 2]), ToolRegistry::builtin()).unwrap_err();
    assert_eq!(e.code(), "invalid_blueprint");
    assert!(
        !e.to_string().contains("line 0"),
        "no position for a value: {e}"
    );
}

// ---- streaming ----

const STREAM: &str = concat!(
    "{\"app\": {\"id\": \"s\", \"name\": \"Streamed\", \"version\": \"1.0.0\"}}\n",
    "{\"ui\": {\"title\": \"Streamed\", \"root\": [\"row\", \"out\"]}}\n",
    "{\"component\": {\"type\": \"container\", \"id\": \"row\", \"props\": {}, \"children\": [\"a\", \"b\"]}}\n",
    "{\"component\": {\"type\": \"button\", \"id\": \"a\", \"props\": {\"text\": \"A {curly} \\\" }\"}}}\n",
    "Some prose the model added.\n",
    "{\"type\": \"button\", \"id\": \"b\", \"props\": {\"text\": \"B\"}, \"on_event\": {\"click\": \"ui.clear\"}}\n",
    "{\"component\": {\"type\": \"text\", \"id\": \"out\", \"props\": {\"text\": \"\"}}}\n",
);

fn kinds(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::App { .. } => "app".to_owned(),
            StreamEvent::Surface { .. } => "surface".to_owned(),
            StreamEvent::Component {
                component,
                placeholders,
                parent,
            } => {
                format!(
                    "{}{:?}<{}",
                    component.id,
                    placeholders,
                    parent.as_deref().unwrap_or("-")
                )
            }
            StreamEvent::Error { error } => format!("error:{}", error.path),
        })
        .collect()
}

#[test]
fn stream_emits_components_as_they_arrive_with_placeholders() {
    let mut p = StreamParser::new();
    let mut events = Vec::new();
    // Feed it in awkward 7-byte chunks: messages split anywhere.
    let bytes = STREAM.as_bytes();
    for chunk in bytes.chunks(7) {
        events.extend(p.push(std::str::from_utf8(chunk).unwrap()));
    }
    assert_eq!(
        kinds(&events),
        [
            "app",
            "surface",
            "row[\"a\", \"b\"]<-",
            "a[]<row",
            "b[]<row",
            "out[]<-"
        ]
    );
    let bp = p.finish(ToolRegistry::builtin()).unwrap();
    assert_eq!(bp.ui.components.len(), 2);
    assert_eq!(bp.ui.components[0].children[1].id, "b");
    assert!(
        matches!(&bp.ui.components[0].children[0].props, Props::Button(b) if b.text == "A {curly} \" }")
    );
}

#[test]
fn every_prebuilt_blueprint_streams_back_to_itself() {
    for name in [
        "calculator",
        "notes",
        "todo",
        "timer",
        "settings",
        "app-hub",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../apps/blueprint/{name}.bp"));
        let mut bp = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        let text = to_stream_text(&bp);
        let mut p = StreamParser::new();
        let events = p.push(&text);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::Error { .. })),
            "{name}: {events:?}"
        );
        // The flat form carries no `services` list and no `$schema`.
        bp.services.clear();
        bp.schema = None;
        assert_eq!(p.finish(ToolRegistry::builtin()).unwrap(), bp, "{name}");
    }
}

#[test]
fn stream_reports_bad_messages_and_goes_on() {
    let mut p = StreamParser::new();
    let events = p.push(concat!(
        "{\"app\": {\"id\": \"s\", \"name\": \"S\", \"version\": \"1\"}}",
        "{\"component\": {\"type\": \"slider\", \"id\": \"x\", \"props\": {\"min\": 5, \"max\": 1}}}",
        "{\"component\": {\"type\": \"warp\", \"id\": \"y\"}}",
        "{\"component\": {\"type\": \"text\", \"id\": \"z\", \"props\": {\"text\": 3}}}",
        "{\"nonsense\": true}",
        "{\"component\": {\"type\": \"text\", \"id\": \"ok\", \"props\": {\"text\": \"fine\"}}}",
    ));
    assert_eq!(
        kinds(&events),
        [
            "app",
            "error:component.props.max",
            "error:component.type",
            "error:component.props.text",
            "error:",
            "ok[]<-"
        ]
    );
    let bp = p.finish(ToolRegistry::builtin()).unwrap();
    assert_eq!(bp.ui.components.len(), 1);
}

#[test]
fn a_lenient_stream_repairs_what_a_strict_one_skips() {
    let messages = concat!(
        "{\"app\": {\"id\": \"s\", \"name\": \"S\", \"version\": \"1\"}}\n",
        "{\"component\": {\"type\": \"button\", \"props\": {\"text\": \"Go\", \"colour\": \"red\"}, \"weight\": 2}}\n",
    );
    let mut strict = StreamParser::new();
    assert!(matches!(
        strict.push(messages).as_slice(),
        [StreamEvent::App { .. }, StreamEvent::Error { .. }]
    ));
    assert!(strict.repairs().is_empty());

    let mut lenient = StreamParser::lenient();
    let events = lenient.push(messages);
    assert_eq!(kinds(&events), ["app", "button-1[]<-"]);
    assert_eq!(
        lenient.repairs(),
        [
            Repair::DroppedField {
                path: "messages[1].component.weight".into()
            },
            Repair::DroppedField {
                path: "messages[1].component.props.colour".into()
            },
            Repair::FilledId {
                path: "messages[1].component.id".into(),
                id: "button-1".into()
            },
        ]
    );
    lenient.finish(ToolRegistry::builtin()).unwrap();
}

#[test]
fn stream_finish_rejects_missing_children_and_apps() {
    let mut p = StreamParser::new();
    p.push("{\"app\": {\"id\": \"s\", \"name\": \"S\", \"version\": \"1\"}}");
    p.push("{\"component\": {\"type\": \"card\", \"id\": \"c\", \"props\": {}, \"children\": [\"gone\"]}}");
    let e = p.finish(ToolRegistry::builtin()).unwrap_err();
    assert!(e.to_string().contains("\"gone\" never arrived"), "{e}");

    let p = StreamParser::new();
    assert_eq!(p.finish(ToolRegistry::builtin()).unwrap_err().path(), "app");
}

#[test]
fn stream_bounds_the_depth_of_the_tree() {
    let mut p = StreamParser::new();
    p.push("{\"app\": {\"id\": \"s\", \"name\": \"S\", \"version\": \"1\"}}");
    for i in 0..10_000 {
        p.push(&format!(
            "{{\"type\": \"container\", \"id\": \"c{i}\", \"props\": {{}}, \"children\": [\"c{}\"]}}",
            i + 1
        ));
    }
    let e = p.finish(ToolRegistry::builtin()).unwrap_err();
    assert!(e.to_string().contains("nested more than 64 deep"), "{e}");
}

#[test]
fn type_first_unknown_types_use_their_fallback() {
    let text = r#"{"spec": "1.0", "app": {"id": "a", "name": "A", "version": "1"},
        "ui": {"title": "T", "components": [
            {"type": "globe", "id": "g", "props": {"spin": true},
             "fallback": {"type": "text", "id": "g", "props": {"text": "no globe"}}},
            {"type": "globe", "id": "h", "fallback": "drop"},
            {"type": "badge", "id": "b", "props": {"text": "ok"}}]}}"#;
    let bp = parse(text).unwrap();
    let ids: Vec<(&str, ComponentType)> = bp
        .components()
        .map(|c| (c.id.as_str(), c.component_type()))
        .collect();
    assert_eq!(
        ids,
        [("g", ComponentType::Text), ("b", ComponentType::Badge)]
    );
}

#[test]
fn stream_bounds_an_unclosed_message() {
    let mut p = StreamParser::new();
    let mut events = p.push("{\"app\": \"");
    let filler = "x".repeat(64 * 1024);
    for _ in 0..20 {
        events.extend(p.push(&filler));
    }
    assert!(
        matches!(events.as_slice(), [StreamEvent::Error { .. }]),
        "{events:?}"
    );
    // The parser recovers for the next message.
    let events = p
        .push("{\"spec\": \"1.0\"}{\"app\": {\"id\": \"a\", \"name\": \"A\", \"version\": \"1\"}}");
    assert!(
        matches!(events.as_slice(), [StreamEvent::App { .. }]),
        "{events:?}"
    );
}

// ---- properties ----

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_any_text(s in "\\PC{0,300}") {
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_json_like_text(s in "[{}\\[\\]\":,a-z0-9 .\\-]{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_mutated_blueprints(cut in 0usize..600, byte in any::<u8>()) {
        let text = base().to_string();
        let mut bytes = text.into_bytes();
        let at = cut % bytes.len();
        bytes[at] = byte;
        let mutated = String::from_utf8_lossy(&bytes);
        let _ = parse(&mutated);
        if let Some(prefix) = mutated.get(..at) {
            let _ = parse(prefix);
        }
    }

    #[test]
    fn stream_never_panics_and_agrees_with_itself_across_chunkings(split in 1usize..64) {
        let mut whole = StreamParser::new();
        let expected = whole.push(STREAM);
        let mut parts = StreamParser::new();
        let mut got = Vec::new();
        let chars: Vec<char> = STREAM.chars().collect();
        for chunk in chars.chunks(split) {
            got.extend(parts.push(&chunk.iter().collect::<String>()));
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn stream_never_panics_on_any_text(chunks in proptest::collection::vec("\\PC{0,40}", 0..10)) {
        let mut p = StreamParser::new();
        for c in &chunks {
            let _ = p.push(c);
        }
        let _ = p.finish(ToolRegistry::builtin());
    }

    #[test]
    fn repair_never_panics_on_mutated_values(key in "[a-z_]{1,8}", n in any::<i64>()) {
        let mut v = base();
        v["ui"]["components"][0]["props"][key.as_str()] = json!(n);
        v["ui"]["components"][1].as_object_mut().unwrap().remove("id");
        let _ = repair(v, ToolRegistry::builtin());
    }
}
