use serde_json::{Map, Value, json};

use super::*;
use crate::blueprint::{self, Blueprint, Permission};

fn prebuilt(name: &str) -> Blueprint {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../apps/blueprint")
        .join(format!("{name}.bp"));
    blueprint::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn args(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("args must be an object, got {other}"),
    }
}

fn ctx<'a>(permissions: &'a [Permission], hosts: &'a [String]) -> CallContext<'a> {
    CallContext {
        app_id: "test-app",
        permissions,
        hosts,
    }
}

/// Clicks a component: runs its `click` binding.
async fn click(
    tools: &Tools<RecordingHost>,
    bp: &Blueprint,
    state: &mut UiState,
    id: &str,
) -> Result<Value, ToolError> {
    let binding = &bp.component(id).unwrap().on_event["click"];
    tools
        .run(&CallContext::for_blueprint(bp), state, binding)
        .await
}

#[tokio::test]
async fn the_calculator_computes_through_its_bindings() {
    let bp = prebuilt("calculator");
    let tools = Tools::new(RecordingHost::new());
    let mut state = UiState::from_blueprint(&bp);
    for key in [
        "key-lparen",
        "key-7",
        "key-add",
        "key-5",
        "key-rparen",
        "key-mul",
        "key-2",
        "key-pow",
        "key-2",
    ] {
        click(&tools, &bp, &mut state, key).await.unwrap();
    }
    assert_eq!(state.prop("display", None).unwrap(), json!("(7+5)*2^2"));
    click(&tools, &bp, &mut state, "key-equals").await.unwrap();
    assert_eq!(state.prop("display", None).unwrap(), json!("48"));
    let changes = state.take_changes();
    assert_eq!(
        changes.last().unwrap(),
        &UiChange {
            id: "display".into(),
            prop: "value".into(),
            value: json!("48")
        }
    );

    // Division by zero is a typed error and leaves the display alone.
    click(&tools, &bp, &mut state, "key-clear").await.unwrap();
    for key in ["key-1", "key-div", "key-0"] {
        click(&tools, &bp, &mut state, key).await.unwrap();
    }
    let e = click(&tools, &bp, &mut state, "key-equals")
        .await
        .unwrap_err();
    assert_eq!(e, ToolError::Math(MathError::DivisionByZero));
    assert_eq!(e.code(), "division_by_zero");
    assert_eq!(state.prop("display", None).unwrap(), json!("1/0"));
    assert!(
        tools.host().calls().is_empty(),
        "the calculator needs no host"
    );
}

#[tokio::test]
async fn events_run_what_the_blueprint_binds() {
    let bp = prebuilt("todo");
    let tools = Tools::new(RecordingHost::new());
    let mut s = UiState::from_blueprint(&bp);
    let c = CallContext::for_blueprint(&bp);
    // The desktop reports typing, then Enter.
    s.set("new-item", None, json!("bread")).unwrap();
    let r = tools
        .on_event(&c, &bp, &mut s, "new-item", "submit")
        .await
        .unwrap();
    assert!(r.is_some());
    assert_eq!(s.prop("todos", None).unwrap(), json!(["bread"]));
    assert_eq!(
        tools
            .on_event(&c, &bp, &mut s, "new-item", "hover")
            .await
            .unwrap(),
        None
    );
    let e = tools
        .on_event(&c, &bp, &mut s, "ghost", "click")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_component");
}

#[tokio::test]
async fn the_todo_list_adds_saves_and_loads() {
    let bp = prebuilt("todo");
    let tools = Tools::new(RecordingHost::new());
    let mut state = UiState::from_blueprint(&bp);
    let c = CallContext::for_blueprint(&bp);
    tools
        .call(
            &c,
            &mut state,
            "ui.set",
            &args(json!({"id": "new-item", "value": "milk"})),
        )
        .await
        .unwrap();
    click(&tools, &bp, &mut state, "add").await.unwrap();
    assert_eq!(state.prop("todos", None).unwrap(), json!(["milk"]));
    assert_eq!(state.prop("new-item", None).unwrap(), json!(""));
    click(&tools, &bp, &mut state, "save").await.unwrap();
    click(&tools, &bp, &mut state, "clear").await.unwrap();
    assert_eq!(state.prop("todos", None).unwrap(), json!([]));
    click(&tools, &bp, &mut state, "load").await.unwrap();
    assert_eq!(state.prop("todos", None).unwrap(), json!(["milk"]));
    assert_eq!(
        tools.host().calls(),
        [
            HostCall::StorageSet {
                app: "todo".into(),
                key: "todos".into(),
                value: json!(["milk"])
            },
            HostCall::StorageGet {
                app: "todo".into(),
                key: "todos".into()
            },
        ]
    );
}

#[tokio::test]
async fn permission_is_checked_before_anything_else() {
    let tools = Tools::new(RecordingHost::new());
    let mut state = UiState::default();
    for (tool, a, permission) in [
        (
            "storage.set",
            json!({"key": "k", "value": 1}),
            Permission::Storage,
        ),
        (
            "fs.read",
            json!({"path": "/etc/shadow"}),
            Permission::Filesystem,
        ),
        (
            "http.get",
            json!({"url": "https://example.com"}),
            Permission::Network,
        ),
        ("system.info", json!({}), Permission::System),
        ("app.launch", json!({"app_id": "notes"}), Permission::Apps),
        // Even with bad arguments the permission error comes first.
        (
            "fs.write",
            json!({"nonsense": true}),
            Permission::Filesystem,
        ),
    ] {
        let e = tools
            .call(&ctx(&[], &[]), &mut state, tool, &args(a))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            ToolError::PermissionDenied {
                tool: tool.into(),
                permission
            },
            "{tool}"
        );
    }
    assert!(tools.host().calls().is_empty(), "nothing reached the host");
}

#[tokio::test]
async fn arguments_are_checked_against_the_schema() {
    let tools = Tools::new(RecordingHost::new());
    let mut state = UiState::default();
    let c = ctx(&[], &[]);
    let e = tools
        .call(&c, &mut state, "math.evaluate", &args(json!({})))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "math.evaluate: missing argument `expression`"
    );
    let e = tools
        .call(
            &c,
            &mut state,
            "math.evaluate",
            &args(json!({"expression": "1", "extra": 2})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_args");
    let e = tools
        .call(
            &c,
            &mut state,
            "math.evaluate",
            &args(json!({"expression": 5})),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("must be a string"), "{e}");
    let e = tools
        .call(
            &c,
            &mut state,
            "math.mean",
            &args(json!({"values": [1, "x"]})),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("values[1]"), "{e}");
    let e = tools
        .call(&c, &mut state, "no.such", &args(json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_tool");
}

#[tokio::test]
async fn math_tools_return_plain_numbers() {
    let tools = Tools::new(RecordingHost::new());
    let mut s = UiState::default();
    let c = ctx(&[], &[]);
    let mut call = async |tool: &str, a: Value| tools.call(&c, &mut s, tool, &args(a)).await;
    assert_eq!(
        call("math.evaluate", json!({"expression": "0.1 + 0.2"}))
            .await
            .unwrap(),
        json!(0.3)
    );
    assert_eq!(
        call("math.mean", json!({"values": [1, 2, "3"]}))
            .await
            .unwrap(),
        json!(2)
    );
    assert_eq!(
        call("math.median", json!({"values": [5, 1, 3]}))
            .await
            .unwrap(),
        json!(3)
    );
    assert_eq!(
        call("math.sum", json!({"values": [1.5, 2]})).await.unwrap(),
        json!(3.5)
    );
    assert_eq!(
        call("math.sin", json!({"x": 90, "unit": "deg"}))
            .await
            .unwrap(),
        json!(1)
    );
    assert_eq!(
        call("math.constant", json!({"name": "pi"})).await.unwrap(),
        json!(math::tidy(std::f64::consts::PI))
    );
    let e = call("math.stdev", json!({"values": [1]}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "math_error");
}

#[tokio::test]
async fn http_reaches_only_allowed_hosts() {
    let host = RecordingHost::new().with_http_reply(HttpResponse {
        status: 200,
        content_type: Some("text/plain".into()),
        body: "ok".into(),
    });
    let tools = Tools::new(host);
    let mut s = UiState::default();
    let hosts = vec!["api.example.com".to_owned(), "*.weather.test".to_owned()];
    let c = ctx(&[Permission::Network], &hosts);
    for url in [
        "https://api.example.com/v1?q=1",
        "http://eu.weather.test:8080/x",
    ] {
        let r = tools
            .call(&c, &mut s, "http.get", &args(json!({"url": url})))
            .await
            .unwrap();
        assert_eq!(r["status"], 200, "{url}");
    }
    for (url, code) in [
        ("https://example.com/", "host_not_allowed"),
        ("https://weather.test/", "host_not_allowed"),
        ("https://api.example.com.evil.test/", "host_not_allowed"),
        ("https://user:pw@api.example.com/", "invalid_args"),
        ("file:///etc/passwd", "invalid_args"),
        ("not a url", "invalid_args"),
    ] {
        let e = tools
            .call(&c, &mut s, "http.get", &args(json!({"url": url})))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{url}: {e}");
    }
    let r = tools
        .call(
            &c,
            &mut s,
            "http.post",
            &args(json!({"url": "https://api.example.com/p", "body": {"a": 1}})),
        )
        .await;
    r.unwrap();
    let calls = tools.host().calls();
    assert_eq!(calls.len(), 3, "only the allowed requests reached the host");
    let HostCall::Http { request, .. } = &calls[2] else {
        panic!("{calls:?}")
    };
    assert_eq!(request.method, HttpMethod::Post);
    assert_eq!(request.body.as_deref(), Some("{\"a\":1}"));
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn host_tools_pass_the_calling_app_and_their_results() {
    let host = RecordingHost::new()
        .with_now_ms(1_764_838_800_123)
        .with_file("/home/notes/a.txt", "hello");
    let tools = Tools::new(host);
    let mut s = UiState::default();
    let all = [
        Permission::Filesystem,
        Permission::Storage,
        Permission::System,
        Permission::Apps,
    ];
    let c = ctx(&all, &[]);
    let mut call = async |tool: &str, a: Value| tools.call(&c, &mut s, tool, &args(a)).await;
    assert_eq!(
        call("fs.read", json!({"path": "/home/notes/a.txt"}))
            .await
            .unwrap(),
        json!("hello")
    );
    call(
        "fs.write",
        json!({"path": "/home/notes/b.txt", "content": "bye"}),
    )
    .await
    .unwrap();
    let list = call("fs.list", json!({"path": "/home/notes"}))
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    // base64 content is written as the bytes it encodes; bad base64 is bad input.
    call(
        "fs.write",
        json!({"path": "/home/notes/c.txt", "content": "aGkgdGhlcmU=", "encoding": "base64"}),
    )
    .await
    .unwrap();
    assert_eq!(
        call("fs.read", json!({"path": "/home/notes/c.txt"}))
            .await
            .unwrap(),
        json!("hi there")
    );
    for bad in [
        json!({"path": "/x", "content": "%%%", "encoding": "base64"}),
        json!({"path": "/x", "content": "x", "encoding": "utf16"}),
    ] {
        let e = call("fs.write", bad).await.unwrap_err();
        assert_eq!(e.code(), "invalid_args", "{e}");
    }
    let found = call("fs.search", json!({"path": "/home", "query": "C.TX"}))
        .await
        .unwrap();
    assert_eq!(found["matches"][0]["path"], "/home/notes/c.txt", "{found}");
    let e = call("fs.search", json!({"query": "  "})).await.unwrap_err();
    assert_eq!(e.code(), "invalid_args");
    call("fs.delete", json!({"path": "/home/notes/a.txt"}))
        .await
        .unwrap();
    let e = call("fs.read", json!({"path": "/home/notes/a.txt"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    call("storage.set", json!({"key": "a:1", "value": {"x": 1}}))
        .await
        .unwrap();
    call("storage.set", json!({"key": "b", "value": 2}))
        .await
        .unwrap();
    assert_eq!(
        call("storage.list", json!({"prefix": "a:"})).await.unwrap(),
        json!(["a:1"])
    );
    assert_eq!(
        call("storage.get", json!({"key": "a:1"})).await.unwrap(),
        json!({"x": 1})
    );
    assert_eq!(
        call("storage.delete", json!({"key": "a:1"})).await.unwrap(),
        json!(true)
    );
    assert_eq!(
        call("storage.get", json!({"key": "a:1"})).await.unwrap(),
        Value::Null
    );
    let t = call("system.time", json!({})).await.unwrap();
    assert_eq!(t["iso"], "2025-12-04T09:00:00.123Z");
    call("system.log", json!({"level": "warn", "message": "careful"}))
        .await
        .unwrap();
    assert_eq!(
        call("app.launch", json!({"app_id": "notes"}))
            .await
            .unwrap(),
        json!("notes-1")
    );
    call("app.focus", json!({"app_id": "notes-1"}))
        .await
        .unwrap();
    call("app.close", json!({"app_id": "notes-1"}))
        .await
        .unwrap();
    let calls = tools.host().calls();
    assert!(calls.contains(&HostCall::Log {
        app: "test-app".into(),
        level: LogLevel::Warn,
        message: "careful".into()
    }));
    assert!(calls.contains(&HostCall::AppClose {
        app: "test-app".into(),
        target: "notes-1".into()
    }));
}

#[tokio::test]
async fn ui_tools_change_the_state_and_refuse_bad_values() {
    let bp = prebuilt("settings");
    let tools = Tools::new(RecordingHost::new());
    let mut s = UiState::from_blueprint(&bp);
    let c = CallContext::for_blueprint(&bp);
    let mut call = async |tool: &str, a: Value| tools.call(&c, &mut s, tool, &args(a)).await;
    assert_eq!(
        call("ui.get", json!({"id": "volume"})).await.unwrap(),
        json!(70.0)
    );
    call("ui.set", json!({"id": "volume", "value": "40"}))
        .await
        .unwrap();
    assert_eq!(
        call("ui.get", json!({"id": "volume"})).await.unwrap(),
        json!(40.0)
    );
    let e = call("ui.set", json!({"id": "volume", "value": 400}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_value", "{e}");
    let e = call(
        "ui.set",
        json!({"id": "volume", "prop": "colour", "value": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "invalid_value", "{e}");
    let e = call("ui.set", json!({"id": "theme", "value": "neon"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_value", "{e}");
    assert_eq!(
        call("ui.toggle", json!({"id": "animations"}))
            .await
            .unwrap(),
        json!(false)
    );
    call("ui.hide", json!({"id": "about"})).await.unwrap();
    assert_eq!(
        call("ui.get", json!({"id": "about", "prop": "visible"}))
            .await
            .unwrap(),
        json!(false)
    );
    call("ui.show", json!({"id": "about"})).await.unwrap();
    call("ui.disable", json!({"id": "volume"})).await.unwrap();
    assert_eq!(
        call("ui.get", json!({"id": "volume", "prop": "disabled"}))
            .await
            .unwrap(),
        json!(true)
    );
    call("ui.enable", json!({"id": "volume"})).await.unwrap();
    let e = call("ui.get", json!({"id": "nope"})).await.unwrap_err();
    assert_eq!(e, ToolError::UnknownComponent { id: "nope".into() });

    let bp = prebuilt("notes");
    let mut s = UiState::from_blueprint(&bp);
    let c = CallContext::for_blueprint(&bp);
    let mut call = async |tool: &str, a: Value| tools.call(&c, &mut s, tool, &args(a)).await;
    call("ui.add_item", json!({"id": "saved", "item": "a"}))
        .await
        .unwrap();
    call("ui.add_item", json!({"id": "saved", "item": "b"}))
        .await
        .unwrap();
    call("ui.add_item", json!({"id": "saved", "item": "c"}))
        .await
        .unwrap();
    call("ui.remove_item", json!({"id": "saved", "index": 0}))
        .await
        .unwrap();
    call("ui.remove_item", json!({"id": "saved", "item": "c"}))
        .await
        .unwrap();
    assert_eq!(
        call("ui.get", json!({"id": "saved"})).await.unwrap(),
        json!(["b"])
    );
    let e = call("ui.remove_item", json!({"id": "saved", "item": "zzz"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_value");
    let e = call("ui.add_item", json!({"id": "note-body", "item": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_value", "a textarea has no items");
    call("ui.append", json!({"id": "note-body", "text": "line"}))
        .await
        .unwrap();
    call("ui.clear", json!({"id": "note-body"})).await.unwrap();
    assert_eq!(
        call("ui.get", json!({"id": "note-body"})).await.unwrap(),
        json!("")
    );
}

#[tokio::test]
async fn placeholders_splice_into_text_and_keep_types_alone() {
    let bp = prebuilt("notes");
    let tools = Tools::new(RecordingHost::new());
    let mut s = UiState::from_blueprint(&bp);
    let c = CallContext::for_blueprint(&bp);
    tools
        .call(
            &c,
            &mut s,
            "ui.set",
            &args(json!({"id": "note-title", "value": "shopping"})),
        )
        .await
        .unwrap();
    tools
        .call(
            &c,
            &mut s,
            "ui.set",
            &args(json!({"id": "note-body", "value": "eggs"})),
        )
        .await
        .unwrap();
    click(&tools, &bp, &mut s, "save").await.unwrap();
    assert_eq!(
        tools.host().calls()[0],
        HostCall::StorageSet {
            app: "notes".into(),
            key: "note:shopping".into(),
            value: json!("eggs")
        }
    );
    assert_eq!(s.prop("saved", None).unwrap(), json!(["shopping"]));
    // A placeholder naming no component is an error, not an empty string.
    let binding: crate::blueprint::Binding = serde_json::from_value(
        json!({"tool": "ui.set", "args": {"id": "note-body", "value": "{{ghost}}"}}),
    )
    .unwrap();
    let e = tools.run(&c, &mut s, &binding).await.unwrap_err();
    assert_eq!(e, ToolError::UnknownComponent { id: "ghost".into() });
}

#[tokio::test]
async fn every_prebuilt_binding_names_a_tool_the_runner_implements() {
    // The parser already refused unknown tools; this checks the runner has no gap
    // (an `unreachable!`) for any tool the registry lists.
    let tools = Tools::new(RecordingHost::new());
    let all = [
        Permission::Filesystem,
        Permission::Storage,
        Permission::System,
        Permission::Apps,
        Permission::Network,
    ];
    for spec in tools.registry().iter() {
        let mut s = UiState::default();
        let r = tools
            .call(&ctx(&all, &[]), &mut s, spec.id, &Map::new())
            .await;
        let required = spec.args["required"].as_array().unwrap();
        match r {
            Err(ToolError::InvalidArgs { .. }) => assert!(!required.is_empty(), "{}", spec.id),
            _ => assert!(required.is_empty(), "{}: {r:?}", spec.id),
        }
    }
}

fn template(name: &str) -> Blueprint {
    crate::generate::Template::all()
        .iter()
        .find(|t| t.name == name)
        .unwrap()
        .blueprint()
        .unwrap()
}

#[tokio::test]
async fn the_generated_counter_and_converter_work() {
    let tools = Tools::new(RecordingHost::new());
    let bp = template("counter");
    let mut s = UiState::from_blueprint(&bp);
    for id in ["increment", "increment", "increment", "decrement"] {
        click(&tools, &bp, &mut s, id).await.unwrap();
    }
    assert_eq!(s.prop("count", None).unwrap(), json!("2"));
    click(&tools, &bp, &mut s, "reset").await.unwrap();
    assert_eq!(s.prop("count", None).unwrap(), json!("0"));

    let bp = template("unit converter");
    let mut s = UiState::from_blueprint(&bp);
    let c = CallContext::for_blueprint(&bp);
    click(&tools, &bp, &mut s, "convert").await.unwrap();
    assert_eq!(
        s.prop("result", None).unwrap(),
        json!("1.609344"),
        "1 mile in km"
    );
    tools
        .call(
            &c,
            &mut s,
            "ui.set",
            &args(json!({"id": "amount", "value": "20"})),
        )
        .await
        .unwrap();
    tools
        .call(
            &c,
            &mut s,
            "ui.set",
            &args(json!({"id": "conversion", "value": "* 9 / 5 + 32"})),
        )
        .await
        .unwrap();
    click(&tools, &bp, &mut s, "convert").await.unwrap();
    assert_eq!(s.prop("result", None).unwrap(), json!("68"), "20 °C in °F");
    tools
        .call(
            &c,
            &mut s,
            "ui.set",
            &args(json!({"id": "amount", "value": "68"})),
        )
        .await
        .unwrap();
    tools
        .call(
            &c,
            &mut s,
            "ui.set",
            &args(json!({"id": "conversion", "value": "* 5 / 9 - 160 / 9"})),
        )
        .await
        .unwrap();
    click(&tools, &bp, &mut s, "convert").await.unwrap();
    assert_eq!(s.prop("result", None).unwrap(), json!("20"), "68 °F in °C");
    assert!(tools.host().calls().is_empty());
}
