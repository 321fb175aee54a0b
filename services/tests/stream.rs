//! `GET /api/stream` through the real `agentos up` and kernel: login and origin
//! checks on the handshake, ping/pong and error messages, app events, a native
//! process whose stdin, output and exit code travel over the socket, and UI
//! generation and chat streamed from the rule generator.

#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod support;

use std::{
    fs,
    net::TcpStream,
    path::Path,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::{
    self, HandshakeError, Message, WebSocket, client::IntoClientRequest,
};

type Ws = WebSocket<TcpStream>;

/// How long one expected message may take.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(20);

fn connect(up: &Up, headers: &[(&'static str, &str)]) -> Result<Ws, u16> {
    let mut req = format!("ws://127.0.0.1:{}/api/stream", up.port)
        .into_client_request()
        .expect("a valid request");
    for (k, v) in headers {
        req.headers_mut()
            .insert(*k, v.parse().expect("header value"));
    }
    let stream = TcpStream::connect(("127.0.0.1", up.port)).expect("connect");
    stream
        .set_read_timeout(Some(MESSAGE_TIMEOUT))
        .expect("set timeout");
    match tungstenite::client(req, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(HandshakeError::Failure(tungstenite::Error::Http(resp))) => Err(resp.status().as_u16()),
        Err(e) => panic!("handshake: {e}"),
    }
}

fn as_owner(up: &Up) -> Ws {
    let auth = format!("Bearer {}", up.api_token);
    connect(up, &[("Authorization", &auth)]).expect("the owner connects")
}

fn send(ws: &mut Ws, v: &Value) {
    ws.send(Message::text(v.to_string())).expect("send");
}

/// The next JSON message for which `pred` holds; others are skipped.
fn next_matching(ws: &mut Ws, mut pred: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + MESSAGE_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "no matching message in time");
        match ws.read().expect("read a message") {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("server messages are JSON");
                if pred(&v) {
                    return v;
                }
            }
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

fn of_type(ws: &mut Ws, ty: &str) -> Value {
    next_matching(ws, |v| v["type"] == ty)
}

#[test]
fn the_handshake_needs_a_login_and_this_origin() {
    let tmp = tempdir("stream-handshake");
    let up = Up::start("up", tmp.path(), &tmp.path().join("data"), &[]);
    assert_eq!(connect(&up, &[]).err(), Some(401));
    let auth = format!("Bearer {}", up.api_token);
    assert_eq!(
        connect(
            &up,
            &[("Authorization", &auth), ("Origin", "http://evil.example")]
        )
        .err(),
        Some(403)
    );
    let origin = format!("http://127.0.0.1:{}", up.port);
    assert!(connect(&up, &[("Authorization", &auth), ("Origin", &origin)]).is_ok());
}

#[test]
fn ping_pong_errors_and_the_connection_gauge() {
    let tmp = tempdir("stream-ping");
    let up = Up::start("up", tmp.path(), &tmp.path().join("data"), &[]);
    let mut ws = as_owner(&up);
    send(&mut ws, &json!({"type": "ping", "id": 7}));
    assert_eq!(of_type(&mut ws, "pong"), json!({"type": "pong", "id": 7}));

    for (text, code) in [
        ("{", "malformed_json"),
        (r#"{"type":"dance"}"#, "invalid_body"),
        (r#"{"type":"subscribe","app_id":"a42"}"#, "not_found"),
        (r#"{"type":"stdin","app_id":"a42","data":"x"}"#, "not_found"),
        (r#"{"type":"chat","text":"  "}"#, "invalid_argument"),
        (r#"{"type":"generate_ui"}"#, "invalid_argument"),
        (
            r#"{"type":"generate_ui","prompt":"a flux capacitor"}"#,
            "not_understood",
        ),
    ] {
        ws.send(Message::text(text)).expect("send");
        let e = of_type(&mut ws, "error");
        assert_eq!(e["code"], code, "{text}: {e}");
    }
    // Still open after all that.
    send(&mut ws, &json!({"type": "ping"}));
    assert_eq!(of_type(&mut ws, "pong"), json!({"type": "pong"}));

    let metrics = up.get("/metrics").text();
    assert!(
        metrics.lines().any(|l| l == "agentos_ws_connections 1"),
        "{metrics}"
    );
    ws.close(None).expect("close");
    let _ = ws.flush();
    assert!(
        eventually(Duration::from_secs(10), || up
            .get("/metrics")
            .text()
            .lines()
            .any(|l| l == "agentos_ws_connections 0")),
        "the gauge did not go back to 0"
    );
}

fn apps_dir(root: &Path) -> String {
    let dir = root.join("apps/native-proc/greeter");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("manifest.json"),
        json!({
            "id": "greeter", "name": "Greeter",
            "argv": ["/bin/sh", "-c", "read line; echo got:$line; echo oops >&2; exit 3"]
        })
        .to_string(),
    )
    .unwrap();
    root.join("apps").to_str().unwrap().to_owned()
}

#[test]
fn a_native_process_talks_over_the_socket_until_it_exits() {
    let tmp = tempdir("stream-process");
    let apps = apps_dir(tmp.path());
    let up = Up::start(
        "up",
        tmp.path(),
        &tmp.path().join("data"),
        &["--apps-dir", &apps],
    );
    let mut ws = as_owner(&up);

    let launched = up.api("POST", "/api/registry/apps/greeter/launch").send();
    assert_eq!(launched.status, 201, "{}", launched.text());
    let app = launched.json();
    let id = app["id"].as_str().unwrap().to_owned();
    let event = of_type(&mut ws, "app_event");
    assert_eq!(
        (&event["event"], &event["app_id"]),
        (&json!("launched"), &json!(id)),
        "{event}"
    );
    // A Blueprint app has no process to subscribe to.
    let bp = up
        .api("POST", "/api/apps")
        .json(&json!({"blueprint": blueprint("calc", "Calculator", json!({}))}))
        .send()
        .json();
    send(&mut ws, &json!({"type": "subscribe", "app_id": bp["id"]}));
    assert_eq!(of_type(&mut ws, "error")["code"], "invalid_argument");

    send(&mut ws, &json!({"type": "subscribe", "app_id": id}));
    send(
        &mut ws,
        &json!({"type": "stdin", "app_id": id, "data": "hello\n"}),
    );
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let exit = next_matching(&mut ws, |m| {
        if m["type"] == "process_output" {
            assert_eq!(m["app_id"], json!(id), "{m}");
            assert_eq!(m["pid"], app["pid"], "{m}");
            let text = m["data"].as_str().unwrap();
            match m["stream"].as_str() {
                Some("stdout") => stdout.push_str(text),
                Some("stderr") => stderr.push_str(text),
                other => panic!("stream {other:?}"),
            }
        }
        m["type"] == "process_exit"
    });
    assert_eq!(stdout, "got:hello\n");
    assert_eq!(stderr, "oops\n");
    assert_eq!(exit["code"], 3, "{exit}");
    assert_eq!(exit["app_id"], json!(id));
}

#[test]
fn generate_ui_streams_components_then_the_blueprint_and_chat_streams_tokens() {
    let tmp = tempdir("stream-generate");
    let up = Up::start("up", tmp.path(), &tmp.path().join("data"), &[]);
    let mut ws = as_owner(&up);
    send(
        &mut ws,
        &json!({"type": "generate_ui", "prompt": "a calculator", "id": "g1"}),
    );
    let (mut thoughts, mut components) = (Vec::new(), Vec::new());
    let done = next_matching(&mut ws, |m| {
        assert_ne!(m["type"], "error", "{m}");
        assert_eq!(m["id"], "g1", "every answer carries the request's id: {m}");
        match m["type"].as_str() {
            Some("thought") => thoughts.push(m["text"].as_str().unwrap().to_owned()),
            Some("ui_component") => {
                // Parents first: a child names one already sent (top-level ones none).
                if let Some(parent) = m["parent"].as_str() {
                    assert!(components.iter().any(|c| c == parent), "{m}");
                }
                assert!(m["placeholders"].is_array(), "{m}");
                components.push(m["component"]["id"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
        m["type"] == "ui_complete"
    });
    assert!(!thoughts.is_empty(), "a thought before the components");
    let text = done["blueprint"].to_string();
    let bp = agentos_services::blueprint::parse(&text)
        .unwrap_or_else(|e| panic!("the streamed Blueprint does not parse: {e}\n{text}"));
    let ids: Vec<String> = bp.components().map(|c| c.id.clone()).collect();
    let mut streamed = components.clone();
    streamed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(streamed, expected, "one ui_component per component");
    assert_eq!(bp.app.id, "calculator");
    assert!(components.iter().any(|c| c == "display"), "{components:?}");

    // The same prompt again comes from the cache, streamed the same way.
    send(
        &mut ws,
        &json!({"type": "generate_ui", "prompt": "A calculator!"}),
    );
    let again = of_type(&mut ws, "ui_complete");
    assert_eq!(again["blueprint"], done["blueprint"]);
    assert!(
        again.get("id").is_none(),
        "no id asked, none given: {again}"
    );

    send(
        &mut ws,
        &json!({"type": "chat", "text": "can you make a timer?", "id": 5}),
    );
    let mut tokens = String::new();
    let reply = next_matching(&mut ws, |m| {
        assert_ne!(m["type"], "error", "{m}");
        if m["type"] == "token" {
            assert_eq!(m["id"], 5, "{m}");
            tokens.push_str(m["text"].as_str().unwrap());
        }
        m["type"] == "chat_complete"
    });
    assert_eq!(reply["id"], 5);
    assert_eq!(reply["text"].as_str().unwrap(), tokens);
    assert!(tokens.to_lowercase().contains("timer"), "{tokens}");
}

/// The kernel socket of the one process running under `data_dir`.
fn process_socket(data_dir: &Path) -> std::path::PathBuf {
    let dir = data_dir.join("run/proc");
    let mut socks = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            socks = fs::read_dir(&dir)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            socks.len() == 1
        }),
        "one process socket in {}: {socks:?}",
        dir.display()
    );
    socks.remove(0)
}

/// `agentos up` under `root` whose registry has one native process, `sleeper`
/// (no grants); its data directory and the running `up`.
fn up_with_a_sleeper(root: &Path) -> (std::path::PathBuf, Up) {
    let dir = root.join("apps/native-proc/sleeper");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("manifest.json"),
        json!({"id": "sleeper", "name": "Sleeper", "argv": ["/bin/sleep", "60"]}).to_string(),
    )
    .unwrap();
    let data = root.join("data");
    let up = Up::start(
        "up",
        root,
        &data,
        &["--apps-dir", root.join("apps").to_str().unwrap()],
    );
    (data, up)
}

#[test]
fn a_denied_read_arrives_as_a_denial_and_allow_once_lets_one_through() {
    use agentos_client::{Client, pb};

    let tmp = tempdir("stream-denial");
    let (data, up) = up_with_a_sleeper(tmp.path());
    let mut ws = as_owner(&up);
    let launched = up.api("POST", "/api/registry/apps/sleeper/launch").send();
    assert_eq!(launched.status, 201, "{}", launched.text());
    let app = launched.json();
    let id = app["id"].as_str().unwrap().to_owned();

    // The app's process asks the kernel, on its own socket, for a file it holds no
    // grant for; the user (on the kernel's socket) has written it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sock = process_socket(&data);
    let mut me = rt.block_on(async {
        let mut user = Client::connect_uds(&agentos_client::socket_path(&data))
            .await
            .unwrap();
        user.write("/notes.txt", b"dear diary").await.unwrap();
        Client::connect_uds(&sock).await.unwrap()
    });
    let mut read = || rt.block_on(me.read("/notes.txt"));
    let refused = read().expect_err("no grant covers the file");
    assert_eq!(refused.code(), pb::ErrorCode::PermissionDenied, "{refused}");

    let denial = of_type(&mut ws, "denial");
    assert_eq!(denial["app_id"], json!(id), "{denial}");
    assert_eq!(denial["pid"], app["pid"], "{denial}");
    let cap = denial["capability"].as_str().expect("a grant is offered");
    assert!(
        cap.starts_with("read:/") && cap.ends_with("/notes.txt"),
        "{denial}"
    );
    assert!(
        denial["reason"].as_str().unwrap().contains("ReadFile"),
        "{denial}"
    );
    // People are told the path as the app named it; only the grant names the host
    // path behind it.
    let host = cap.trim_start_matches("read:");
    assert_ne!(
        host, "/notes.txt",
        "the file lives under the data dir: {denial}"
    );
    assert_eq!(denial["path"], "/notes.txt", "{denial}");
    assert_eq!(denial["access"], "read /notes.txt", "{denial}");
    assert_eq!(
        denial["reason"], "no ReadFile grant covers /notes.txt",
        "{denial}"
    );
    let kept = up.api("GET", &format!("/api/apps/{id}/denials")).send();
    assert_eq!(kept.json()[0]["capability"], json!(cap), "{}", kept.text());

    let grant = |body: Value| {
        up.api("POST", &format!("/api/apps/{id}/grants"))
            .json(&body)
            .send()
    };
    let once = grant(json!({"capability": cap, "scope": "once"}));
    assert_eq!(once.status, 200, "{}", once.text());
    assert_eq!(read().expect("allowed once"), b"dear diary");
    assert!(read().is_err(), "allow once allows one call");
    let always = grant(json!({"capability": cap, "scope": "always"}));
    assert_eq!(always.status, 200, "{}", always.text());
    for _ in 0..2 {
        assert_eq!(read().expect("allowed always"), b"dear diary");
    }
    // "always" goes into the app's manifest, for the sessions it is saved in.
    let listed = up.api("GET", "/api/apps").send().json();
    let grants = &listed[0]["source"]["manifest"]["grants"];
    assert_eq!(grants, &json!([cap]), "{listed}");

    // Bad input: a grammar error, an unknown scope, a Blueprint app, an unknown app.
    let bad = grant(json!({"capability": "read:relative", "scope": "once"}));
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(
        grant(json!({"capability": cap, "scope": "forever"})).status,
        422
    );
    let bp = up
        .api("POST", "/api/apps")
        .json(&json!({"blueprint": blueprint("calc", "Calculator", json!({}))}))
        .send()
        .json();
    let on_blueprint = up
        .api(
            "POST",
            &format!("/api/apps/{}/grants", bp["id"].as_str().unwrap()),
        )
        .json(&json!({"capability": cap, "scope": "once"}))
        .send();
    assert_eq!(on_blueprint.status, 400, "{}", on_blueprint.text());
    let unknown = up
        .api("POST", "/api/apps/a999/grants")
        .json(&json!({"capability": cap, "scope": "once"}))
        .send();
    assert_eq!(unknown.status, 404, "{}", unknown.text());
}

#[test]
fn a_users_default_grants_are_given_to_the_native_apps_they_launch() {
    use agentos_client::{Client, pb, pb::syscall::Call};

    let tmp = tempdir("stream-default-grants");
    let (data, up) = up_with_a_sleeper(tmp.path());
    let put = up
        .api("PUT", "/api/settings")
        .json(&json!({"default_grants": ["time"]}))
        .send();
    assert_eq!(put.status, 200, "{}", put.text());
    let launched = up.api("POST", "/api/registry/apps/sleeper/launch").send();
    assert_eq!(launched.status, 201, "{}", launched.text());
    // The manifest it runs under (and a saved session keeps) has the grant.
    assert_eq!(
        launched.json()["source"]["manifest"]["grants"],
        json!(["time"]),
        "{}",
        launched.text()
    );

    // And the kernel's sandbox has it: the process may read the time, and nothing
    // else it was not granted.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sock = process_socket(&data);
    rt.block_on(async {
        let mut me = Client::connect_uds(&sock).await.unwrap();
        me.call(Call::Time(pb::GetTime {}))
            .await
            .expect("the default grant `time` allows GetTime");
        let refused = me
            .call(Call::SystemInfo(pb::GetSystemInfo {}))
            .await
            .expect_err("no grant allows GetSystemInfo");
        assert_eq!(refused.code(), pb::ErrorCode::PermissionDenied, "{refused}");
    });
}

#[test]
fn the_agentos_cli_inside_an_app_calls_the_kernel_as_the_app() {
    let tmp = tempdir("stream-inside");
    let dir = tmp.path().join("apps/native-proc/asker");
    fs::create_dir_all(&dir).unwrap();
    let script = r#"agentos call time --compact; agentos call read --json '{"path": "/notes.txt"}' --compact; echo rc=$?; sleep 30"#;
    fs::write(
        dir.join("manifest.json"),
        json!({"id": "asker", "name": "Asker", "argv": ["/bin/sh", "-c", script],
               "grants": ["time"]})
        .to_string(),
    )
    .unwrap();
    let up = Up::start(
        "up",
        tmp.path(),
        &tmp.path().join("data"),
        &["--apps-dir", tmp.path().join("apps").to_str().unwrap()],
    );
    let mut ws = as_owner(&up);
    let launched = up.api("POST", "/api/registry/apps/asker/launch").send();
    assert_eq!(launched.status, 201, "{}", launched.text());
    let id = launched.json()["id"].as_str().unwrap().to_owned();
    send(&mut ws, &json!({"type": "subscribe", "app_id": id}));
    // Granted `time`: answered. No read grant: refused, and the refusal is a denial
    // of this app. The refusal is on stderr, which may arrive after stdout's `rc=`
    // (two pipes, read apart): the wait is for all three.
    let mut out = String::new();
    let mut denial = None;
    next_matching(&mut ws, |m| {
        if m["type"] == "process_output" {
            out.push_str(m["data"].as_str().unwrap());
        }
        if m["type"] == "denial" {
            denial = Some(m.clone());
        }
        out.contains("rc=") && out.contains("PERMISSION_DENIED") && denial.is_some()
    });
    assert!(out.starts_with("{\"time\":{\"unixNs\":"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("PERMISSION_DENIED"), "{out}");
    let denial = denial.unwrap();
    assert_eq!(denial["app_id"], json!(id), "{denial}");
    assert!(
        denial["capability"]
            .as_str()
            .unwrap()
            .ends_with("/notes.txt"),
        "{denial}"
    );
}

/// `subscribe` with topic `events`: the kernel's events arrive live as
/// `kernel_event`s, filtered to one app when asked; an unknown topic is an error.
#[test]
fn kernel_events_reach_the_socket_live() {
    let tmp = tempdir("stream-events");
    let apps = apps_dir(tmp.path());
    let up = Up::start(
        "up",
        tmp.path(),
        &tmp.path().join("data"),
        &["--apps-dir", &apps],
    );
    let mut ws = as_owner(&up);
    send(&mut ws, &json!({"type": "subscribe", "topic": "nope"}));
    let e = of_type(&mut ws, "error");
    assert_eq!(e["code"], "invalid_argument", "{e}");
    send(
        &mut ws,
        // The kernel knows a desktop app's processes by the name the services give them.
        &json!({"type": "subscribe", "topic": "events", "app": "agentos-app-greeter"}),
    );
    // The forwarder subscribes from its own task: give it a moment to be live.
    std::thread::sleep(Duration::from_millis(300));
    let launched = up
        .api("POST", "/api/registry/apps/greeter/launch")
        .header("x-agentos-causality", "4711")
        .send();
    assert_eq!(launched.status, 201, "{}", launched.text());
    let pid = launched.json()["pid"].as_u64().unwrap();
    let ev = next_matching(&mut ws, |m| {
        m["type"] == "kernel_event" && m["event"]["category"] == "process"
    });
    let ev = &ev["event"];
    assert_eq!(
        (&ev["name"], &ev["pid"], &ev["app"], &ev["causality"]),
        (
            &json!("spawn"),
            &json!(pid),
            &json!("agentos-app-greeter"),
            &json!(4711)
        ),
        "{ev}"
    );
}
