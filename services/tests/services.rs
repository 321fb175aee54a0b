//! The tools and UI generation over HTTP, against the real `agentos up` and kernel:
//! `GET /api/services`, `POST /api/services/discover`, `POST /api/services/execute`
//! (math, errors as 4xx codes, an app's Blueprint permissions, storage and files
//! through the kernel, `ui.*` state, `app.launch`, `http.*` refused for this
//! machine), `POST /api/generate-ui` and `GET /api/blueprint/schema.json`.

#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod support;

use serde_json::{Value, json};
use support::*;

fn start(test: &str) -> (tempfile::TempDir, Up) {
    let tmp = tempdir(test);
    let data = tmp.path().join("data");
    let apps = concat!(env!("CARGO_MANIFEST_DIR"), "/../apps");
    let up = Up::start("up", tmp.path(), &data, &["--apps-dir", apps]);
    (tmp, up)
}

fn execute(up: &Up, body: Value) -> Response {
    up.api("POST", "/api/services/execute").json(&body).send()
}

/// Launches an inline Blueprint; its running instance id.
fn launch(up: &Up, blueprint: &Value) -> String {
    let r = up
        .api("POST", "/api/apps")
        .json(&json!({ "blueprint": blueprint }))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

#[test]
fn tools_are_listed_and_discovered_with_their_schemas() {
    let (_tmp, up) = start("services-list");
    assert_eq!(up.req("GET", "/api/services").send().status, 401);
    let r = up.api("GET", "/api/services").send();
    assert_eq!(r.status, 200, "{}", r.text());
    let tools = r.json();
    let tool = |id: &str| {
        tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not listed"))
            .clone()
    };
    let eval = tool("math.evaluate");
    assert_eq!(eval["namespace"], "math");
    assert_eq!(eval["permission"], Value::Null);
    assert_eq!(eval["args"]["type"], "object");
    assert_eq!(eval["args"]["required"], json!(["expression"]));
    assert!(!eval["description"].as_str().unwrap().is_empty());
    assert_eq!(tool("storage.set")["permission"], "storage");
    assert_eq!(tool("fs.read")["permission"], "filesystem");
    assert_eq!(tool("http.get")["permission"], "network");
    assert_eq!(tool("ui.set")["permission"], Value::Null);

    let discover = |body: Value| up.api("POST", "/api/services/discover").json(&body).send();
    let ids = |r: Response| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(discover(json!({"namespace": "fs"}))),
        [
            "fs.copy",
            "fs.delete",
            "fs.list",
            "fs.mkdir",
            "fs.move",
            "fs.read",
            "fs.rename",
            "fs.search",
            "fs.stat",
            "fs.write"
        ]
    );
    assert_eq!(
        ids(discover(json!({"query": "Standard DEVIATION"}))),
        ["math.stdev"]
    );
    assert_eq!(
        ids(discover(json!({"namespace": "ui", "query": "list"}))),
        ["ui.add_item", "ui.clear", "ui.remove_item"]
    );
    assert_eq!(
        ids(discover(json!({}))).len(),
        tools.as_array().unwrap().len()
    );
    let r = discover(json!({"namespaces": "fs"}));
    assert_eq!((r.status, r.code()), (422, "invalid_body".into()));
}

#[test]
fn math_runs_and_its_errors_are_4xx_with_a_code() {
    let (_tmp, up) = start("services-math");
    let r = execute(
        &up,
        json!({"tool": "math.evaluate", "args": {"expression": "2 * (3 + 4) ^ 2"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"tool": "math.evaluate", "result": 98, "changes": []})
    );
    let r = execute(
        &up,
        json!({"tool": "math.mean", "args": {"values": [1, 2, "6"]}}),
    );
    assert_eq!(r.json()["result"], 3, "{}", r.text());

    for (body, status, code) in [
        (
            json!({"tool": "math.evaluate", "args": {"expression": "1 / 0"}}),
            422,
            "division_by_zero",
        ),
        (
            json!({"tool": "math.evaluate", "args": {"expression": "2 +"}}),
            422,
            "math_error",
        ),
        (
            json!({"tool": "math.evaluate", "args": {}}),
            400,
            "invalid_args",
        ),
        (
            json!({"tool": "math.evaluate", "args": {"expression": "1", "x": 2}}),
            400,
            "invalid_args",
        ),
        (
            json!({"tool": "math.constant", "args": {"name": "phi"}}),
            400,
            "invalid_args",
        ),
        (json!({"tool": "math.teleport"}), 404, "unknown_tool"),
        (
            json!({"tool": "math.evaluate", "args": "1 + 1"}),
            422,
            "invalid_body",
        ),
        (json!({"args": {}}), 422, "invalid_body"),
        (
            json!({"app_id": "a999", "tool": "math.evaluate", "args": {"expression": "1"}}),
            404,
            "not_found",
        ),
        // Without an app, nothing that needs a permission runs.
        (
            json!({"tool": "storage.get", "args": {"key": "k"}}),
            403,
            "permission_denied",
        ),
    ] {
        let r = execute(&up, body.clone());
        assert_eq!(
            (r.status, r.code()),
            (status, code.into()),
            "{body}: {}",
            r.text()
        );
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[test]
fn an_app_calls_only_what_its_blueprint_declares() {
    let (_tmp, up) = start("services-permissions");
    let plain = launch(&up, &blueprint("plain", "Plain", json!({})));
    for (tool, args, permission) in [
        ("storage.set", json!({"key": "k", "value": 1}), "storage"),
        ("fs.read", json!({"path": "notes.txt"}), "filesystem"),
        (
            "http.get",
            json!({"url": "https://example.com/"}),
            "network",
        ),
        ("system.info", json!({}), "system"),
        ("app.launch", json!({"app_id": "calculator"}), "apps"),
    ] {
        let r = execute(&up, json!({"app_id": plain, "tool": tool, "args": args}));
        assert_eq!(
            (r.status, r.code()),
            (403, "permission_denied".into()),
            "{tool}: {}",
            r.text()
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(permission),
            "{}",
            r.text()
        );
    }
    // Pure tools need nothing, and `ui.*` works on the app's own components.
    let r = execute(
        &up,
        json!({"app_id": plain, "tool": "ui.set", "args": {"id": "title", "value": "Changed"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["changes"],
        json!([{"id": "title", "prop": "text", "value": "Changed"}])
    );
    let r = execute(
        &up,
        json!({"app_id": plain, "tool": "ui.get", "args": {"id": "title"}}),
    );
    assert_eq!(r.json()["result"], "Changed", "the state outlives a call");
    let r = execute(
        &up,
        json!({"app_id": plain, "tool": "ui.get", "args": {"id": "nope"}}),
    );
    assert_eq!((r.status, r.code()), (404, "unknown_component".into()));

    let trusted = launch(
        &up,
        &blueprint(
            "trusted",
            "Trusted",
            json!({
                "permissions": ["storage", "filesystem", "network", "system", "apps"],
                "hosts": ["127.0.0.1", "localhost", "example.com"],
            }),
        ),
    );
    let call = |tool: &str, args: Value| {
        execute(&up, json!({"app_id": trusted, "tool": tool, "args": args}))
    };
    // Storage and files go through the kernel, as this user and app.
    let r = call("storage.set", json!({"key": "draft", "value": {"n": 1}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        call("storage.get", json!({"key": "draft"})).json()["result"],
        json!({"n": 1})
    );
    assert_eq!(
        call("storage.list", json!({})).json()["result"],
        json!(["draft"])
    );
    let r = call(
        "fs.write",
        json!({"path": "notes/today.txt", "content": "hello"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        call("fs.read", json!({"path": "notes/today.txt"})).json()["result"],
        "hello"
    );
    let r = call("fs.read", json!({"path": "../other/x"}));
    assert_eq!((r.status, r.code()), (403, "denied".into()), "{}", r.text());
    let r = call("fs.read", json!({"path": "missing.txt"}));
    assert_eq!(
        (r.status, r.code()),
        (404, "not_found".into()),
        "{}",
        r.text()
    );
    let r = call("system.time", json!({}));
    assert!(r.json()["result"]["unix_ms"].as_i64().unwrap() > 1_700_000_000_000);

    // `http.*`: only declared hosts, and never this machine, whatever is declared.
    let r = call("http.get", json!({"url": "https://elsewhere.example/"}));
    assert_eq!((r.status, r.code()), (403, "host_not_allowed".into()));
    for url in [
        format!("http://127.0.0.1:{}/health", up.port),
        format!("http://localhost:{}/health", up.port),
    ] {
        let r = call("http.get", json!({ "url": url }));
        assert_eq!(
            (r.status, r.code()),
            (403, "denied".into()),
            "{url}: {}",
            r.text()
        );
    }

    // `app.launch` starts a registry app as a child of the caller.
    let r = call("app.launch", json!({"app_id": "calculator"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let child = r.json()["result"].as_str().unwrap().to_owned();
    let apps = up.api("GET", "/api/apps").send().json();
    let launched = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == child.as_str())
        .unwrap_or_else(|| panic!("{child} is not running: {apps}"));
    assert_eq!(launched["app_id"], "calculator");
    assert_eq!(launched["parent_id"], json!(trusted));
    let r = call("app.close", json!({"app_id": "calculator"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call("app.focus", json!({"app_id": child}));
    assert_eq!((r.status, r.code()), (404, "not_found".into()));
}

#[test]
fn generate_ui_returns_a_blueprint_the_parser_accepts() {
    let (_tmp, up) = start("services-generate");
    let r = up
        .api("POST", "/api/generate-ui")
        .json(&json!({"prompt": "a calculator"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["generator"], "rules");
    assert!(!body["thoughts"].as_array().unwrap().is_empty(), "{body}");
    let text = body["blueprint"].to_string();
    let bp = agentos_services::blueprint::parse(&text)
        .unwrap_or_else(|e| panic!("not a valid Blueprint: {e}\n{text}"));
    assert_eq!(bp.app.id, "calculator");
    // What was generated launches.
    launch(&up, &body["blueprint"]);

    for (prompt, status, code) in [
        (json!(""), 400, "invalid_argument"),
        (json!("a flux capacitor"), 422, "not_understood"),
        (json!(42), 422, "invalid_body"),
    ] {
        let r = up
            .api("POST", "/api/generate-ui")
            .json(&json!({ "prompt": prompt }))
            .send();
        assert_eq!(
            (r.status, r.code()),
            (status, code.into()),
            "{prompt}: {}",
            r.text()
        );
    }
}

/// A tiny OpenAI-compatible chat-completions server on 127.0.0.1: answers one
/// request with `content` streamed as server-sent events; the thread returns the
/// request it read.
fn fake_llm(content: String) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.read(&mut buf).unwrap();
            assert!(n > 0, "the client closed before sending its request");
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": content}}]});
        write!(
            sock,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {chunk}\n\ndata: [DONE]\n\n"
        )
        .unwrap();
        String::from_utf8(req).unwrap()
    });
    (url, server)
}

#[test]
fn generate_ui_uses_the_users_llm_endpoint_and_falls_back_to_the_rules_saying_so() {
    let (_tmp, up) = start("services-generate-llm");
    let settings = |llm: Value| {
        let r = up
            .api("PUT", "/api/settings")
            .json(&json!({ "llm": llm }))
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
    };
    let generate = |prompt: &str| {
        let r = up
            .api("POST", "/api/generate-ui")
            .json(&json!({ "prompt": prompt }))
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };

    let (url, server) = fake_llm(blueprint("tally", "Tally", json!({})).to_string());
    settings(json!({"url": url, "model": "tiny-test"}));
    let body = generate("a tally counter");
    assert_eq!(body["generator"], "llm (tiny-test)", "{body}");
    assert!(body["fallback"].is_null(), "{body}");
    assert_eq!(body["blueprint"]["app"]["id"], "tally", "{body}");
    let req = server.join().unwrap();
    assert!(req.starts_with("POST /v1/chat/completions "), "{req}");
    assert!(req.contains("\"model\":\"tiny-test\""), "{req}");
    assert!(
        !req.to_ascii_lowercase().contains("authorization:"),
        "no key is sent to a user's endpoint: {req}"
    );

    // An endpoint nobody answers on: the rules answer, and the response says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{closed}/v1");
    settings(json!({ "url": dead }));
    let body = generate("a calculator");
    assert_eq!(body["generator"], "rules", "{body}");
    assert_eq!(body["blueprint"]["app"]["id"], "calculator", "{body}");
    let why = body["fallback"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        why.contains(&dead) && why.contains("llm_unreachable"),
        "{why}"
    );
    assert!(
        body["thoughts"].to_string().contains("did not answer"),
        "{body}"
    );

    // No endpoint in the settings: the rules, with nothing to explain.
    settings(json!({}));
    let body = generate("a timer");
    assert_eq!(body["generator"], "rules", "{body}");
    assert!(body["fallback"].is_null(), "{body}");
}

#[test]
fn the_blueprint_schema_is_served_to_a_logged_in_caller() {
    let (_tmp, up) = start("services-schema");
    assert_eq!(
        up.req("GET", "/api/blueprint/schema.json").send().status,
        401
    );
    let r = up.api("GET", "/api/blueprint/schema.json").send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/schema+json"));
    assert_eq!(r.json(), agentos_services::blueprint::schema_json());
}

#[test]
fn another_users_app_cannot_be_called_as() {
    let (_tmp, up) = start("services-users");
    let owners = launch(
        &up,
        &blueprint("keeper", "Keeper", json!({"permissions": ["storage"]})),
    );
    let r = up
        .api("POST", "/api/auth/register")
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = up
        .req("POST", "/api/auth/login")
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send();
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let r = up
        .req("POST", "/api/services/execute")
        .bearer(&token)
        .json(&json!({"app_id": owners, "tool": "storage.list", "args": {}}))
        .send();
    assert_eq!(
        (r.status, r.code()),
        (404, "not_found".into()),
        "{}",
        r.text()
    );
}
