//! Apps, the registry and sessions through the real `agentos up` and kernel: a
//! Blueprint round trip, isolation between users, a session that outlives both
//! daemons, and a native-process app spawned by the kernel whose focus reaches the
//! kernel's scheduler.

#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod support;

use std::{fs, io::Write, net::TcpStream, path::Path, process::Command, time::Duration};

use nix::sys::signal::{Signal, kill};

use serde_json::{Value, json};
use support::*;

fn calc() -> Value {
    blueprint(
        "calc",
        "Calculator",
        json!({"category": "utilities", "version": "1.2.0", "description": "Adds up"}),
    )
}

fn ok(r: &Response, status: u16) -> Value {
    assert_eq!(r.status, status, "{r:?}\n{}", r.text());
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

/// Registers a user (as the owner) and logs them in: their bearer token.
fn another_user(up: &Up, name: &str) -> String {
    let credentials = json!({"username": name, "password": "correct horse"});
    ok(
        &up.api("POST", "/api/auth/register")
            .json(&credentials)
            .send(),
        201,
    );
    let login = up.req("POST", "/api/auth/login").json(&credentials).send();
    ok(&login, 200)["token"].as_str().unwrap().to_owned()
}

fn ids(apps: &Value) -> Vec<String> {
    apps.as_array()
        .unwrap_or_else(|| panic!("not a list: {apps}"))
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_blueprint_round_trip_save_list_launch_focus_window_close() {
    let tmp = tempdir("apps-round-trip");
    let up = Up::start("up", tmp.path(), &tmp.path().join("data"), &[]);

    let saved = ok(
        &up.api("POST", "/api/registry/save")
            .json(&json!({"blueprint": calc()}))
            .send(),
        201,
    );
    assert_eq!(saved["id"], "calc");
    assert_eq!(saved["version"], "1.2.0");
    assert_eq!(saved["builtin"], false);
    let bad = up
        .api("POST", "/api/registry/save")
        .json(&json!({"blueprint": {"ui": {}}}))
        .send();
    assert_eq!((bad.status, bad.code()), (400, "invalid_blueprint".into()));

    for (query, want) in [
        ("", vec!["calc"]),
        ("?category=utilities", vec!["calc"]),
        ("?search=CALC", vec!["calc"]),
        ("?category=games", vec![]),
    ] {
        let list = ok(
            &up.api("GET", &format!("/api/registry/apps{query}")).send(),
            200,
        );
        assert_eq!(ids(&list), want, "{query}: {list}");
    }
    // The listing says what an app does: the App Store shows it, the launcher searches it.
    let list = ok(&up.api("GET", "/api/registry/apps").send(), 200);
    assert_eq!(list[0]["description"], "Adds up", "{list}");
    let entry = ok(&up.api("GET", "/api/registry/apps/calc").send(), 200);
    assert_eq!(entry["source"]["blueprint"], calc());

    let main = ok(
        &up.api("POST", "/api/registry/apps/calc/launch").send(),
        201,
    );
    assert_eq!(main["app_id"], "calc");
    assert_eq!(main["kind"], "blueprint");
    assert_eq!(main["focused"], true);
    // The server invents no geometry: the desktop places a new window and reports it.
    assert_eq!(
        main["window"],
        json!({"state": "normal", "z": main["window"]["z"]})
    );
    let main_id = main["id"].as_str().unwrap().to_owned();
    let child = ok(
        &up.api("POST", "/api/apps")
            .json(&json!({
                "blueprint": blueprint("dialog", "Dialog", json!({})),
                "parent_id": main_id,
                "window": {"x": 1, "y": 2, "width": 200, "height": 100}
            }))
            .send(),
        201,
    );
    let child_id = child["id"].as_str().unwrap().to_owned();
    assert_eq!(child["window"]["width"], 200);
    let both = up
        .api("POST", "/api/apps")
        .json(&json!({"app_id": "calc", "blueprint": calc()}))
        .send();
    assert_eq!((both.status, both.code()), (400, "invalid_argument".into()));
    let missing = up
        .api("POST", "/api/apps")
        .json(&json!({"app_id": "nope"}))
        .send();
    assert_eq!((missing.status, missing.code()), (404, "not_found".into()));

    let focused = ok(
        &up.api("POST", &format!("/api/apps/{main_id}/focus")).send(),
        200,
    );
    assert_eq!(focused["focused"], true);
    assert!(focused["window"]["z"].as_u64() > child["window"]["z"].as_u64());
    let apps = ok(&up.api("GET", "/api/apps").send(), 200);
    assert_eq!(ids(&apps), [main_id.clone(), child_id.clone()]);
    assert_eq!(apps[0]["children"], json!([child_id]));
    assert_eq!(apps[1]["focused"], false);

    let window = |body: Value| {
        up.api("POST", &format!("/api/apps/{main_id}/window"))
            .json(&body)
            .send()
    };
    // A window not placed yet takes its first rect whole.
    let part = window(json!({"x": 30, "height": 333, "state": "maximised"}));
    assert_eq!((part.status, part.code()), (400, "invalid_argument".into()));
    let placed = ok(
        &window(json!({"x": 8, "y": 9, "width": 500, "height": 300})),
        200,
    );
    assert_eq!(
        placed["window"],
        json!({"x": 8, "y": 9, "width": 500, "height": 300, "state": "normal", "z": placed["window"]["z"]})
    );
    let moved = ok(
        &window(json!({"x": 30, "height": 333, "state": "maximised"})),
        200,
    );
    assert_eq!(moved["window"]["x"], 30);
    assert_eq!(moved["window"]["y"], 9);
    assert_eq!(moved["window"]["height"], 333);
    assert_eq!(moved["window"]["state"], "maximised");
    let wrong = up
        .api("POST", &format!("/api/apps/{main_id}/window"))
        .json(&json!({"state": "sideways"}))
        .send();
    assert_eq!((wrong.status, wrong.code()), (422, "invalid_body".into()));
    assert_eq!(
        up.api("POST", "/api/apps/a999/focus").send().code(),
        "not_found"
    );

    let closed = ok(
        &up.api("DELETE", &format!("/api/apps/{main_id}")).send(),
        200,
    );
    assert_eq!(closed["closed"], json!([child_id, main_id]));
    assert_eq!(ok(&up.api("GET", "/api/apps").send(), 200), json!([]));

    assert_eq!(
        up.api("DELETE", "/api/registry/apps/calc").send().status,
        204
    );
    assert_eq!(up.api("GET", "/api/registry/apps/calc").send().status, 404);
    assert_eq!(
        up.api("DELETE", "/api/registry/apps/calc").send().status,
        404
    );
}

#[test]
fn one_user_cannot_see_another_users_apps_registry_or_sessions() {
    let tmp = tempdir("apps-isolation");
    let up = Up::start("up", tmp.path(), &tmp.path().join("data"), &[]);
    let alice_token = another_user(&up, "alice");
    let alice = |method: &str, path: &str| up.req(method, path).bearer(&alice_token);

    // The owner saves an app, runs it and saves a session.
    ok(
        &up.api("POST", "/api/registry/save")
            .json(&json!({"blueprint": calc()}))
            .send(),
        201,
    );
    let app = ok(
        &up.api("POST", "/api/registry/apps/calc/launch").send(),
        201,
    );
    let app_id = app["id"].as_str().unwrap();
    let session = ok(
        &up.api("POST", "/api/sessions/save")
            .json(&json!({"name": "mine"}))
            .send(),
        201,
    );
    let session_id = session["id"].as_str().unwrap();

    assert_eq!(ok(&alice("GET", "/api/apps").send(), 200), json!([]));
    assert_eq!(
        ok(&alice("GET", "/api/registry/apps").send(), 200),
        json!([])
    );
    assert_eq!(ok(&alice("GET", "/api/sessions").send(), 200), json!([]));
    for (method, path) in [
        ("GET", "/api/registry/apps/calc".to_owned()),
        ("POST", "/api/registry/apps/calc/launch".to_owned()),
        ("DELETE", "/api/registry/apps/calc".to_owned()),
        ("POST", format!("/api/apps/{app_id}/focus")),
        ("DELETE", format!("/api/apps/{app_id}")),
        ("GET", format!("/api/sessions/{session_id}")),
        ("POST", format!("/api/sessions/{session_id}/restore")),
        ("DELETE", format!("/api/sessions/{session_id}")),
    ] {
        let r = alice(method, &path).send();
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found".into()),
            "{method} {path}"
        );
    }
    // All of it is still the owner's.
    assert_eq!(ids(&ok(&up.api("GET", "/api/apps").send(), 200)), [app_id]);
    ok(
        &up.api("GET", &format!("/api/sessions/{session_id}")).send(),
        200,
    );
}

#[test]
fn a_saved_session_is_restored_with_its_apps_and_geometry_after_both_daemons_restart() {
    let tmp = tempdir("apps-session-restart");
    let data = tmp.path().join("data");
    let mut first = Up::start("first", tmp.path(), &data, &[]);
    let a = ok(
        &first
            .api("POST", "/api/apps")
            .json(&json!({
                "blueprint": calc(),
                "window": {"x": 10, "y": 20, "width": 300, "height": 200}
            }))
            .send(),
        201,
    );
    let a_id = a["id"].as_str().unwrap().to_owned();
    let b = ok(
        &first
            .api("POST", "/api/apps")
            .json(&json!({
                "blueprint": blueprint("notes", "Notes", json!({})),
                "parent_id": a_id,
                "window": {"x": 400, "y": 50, "width": 250, "height": 150}
            }))
            .send(),
        201,
    );
    let b_id = b["id"].as_str().unwrap().to_owned();
    ok(
        &first
            .api("POST", &format!("/api/apps/{b_id}/window"))
            .json(&json!({"state": "minimised"}))
            .send(),
        200,
    );
    ok(
        &first.api("POST", &format!("/api/apps/{a_id}/focus")).send(),
        200,
    );
    let saved = ok(
        &first
            .api("POST", "/api/sessions/save")
            .json(&json!({
                "name": "work",
                "state": {a_id.clone(): {"display": "42"}},
                "chat": [{"role": "user", "text": "make a calculator"}]
            }))
            .send(),
        201,
    );
    assert_eq!(saved["apps"], 2);
    let id = saved["id"].as_str().unwrap().to_owned();
    ok(
        &first
            .api("POST", "/api/sessions/save-default")
            .json(&json!({}))
            .send(),
        200,
    );
    assert!(first.terminate().success(), "{}", first.stderr());
    assert!(
        !data.join("kernel.sock").exists(),
        "the first agentos up stopped its kernel"
    );

    let second = Up::start("second", tmp.path(), &data, &[]);
    assert_eq!(ok(&second.api("GET", "/api/apps").send(), 200), json!([]));
    let list = ok(&second.api("GET", "/api/sessions").send(), 200);
    let mut listed = ids(&list);
    listed.sort();
    let mut want = vec!["default".to_owned(), id.clone()];
    want.sort();
    assert_eq!(listed, want, "{list}");
    let session = ok(
        &second.api("GET", &format!("/api/sessions/{id}")).send(),
        200,
    );
    assert_eq!(session["name"], "work");
    assert_eq!(session["chat"][0]["text"], "make a calculator");
    assert_eq!(session["apps"][0]["state"]["display"], "42");

    let restored = ok(
        &second
            .api("POST", &format!("/api/sessions/{id}/restore"))
            .send(),
        200,
    );
    let apps = restored["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "{restored}");
    let by_app = |app_id: &str| {
        apps.iter()
            .find(|a| a["app_id"] == app_id)
            .unwrap_or_else(|| panic!("{app_id} not restored: {restored}"))
    };
    let (calc, notes) = (by_app("calc"), by_app("notes"));
    for (app, x, y, w, h) in [(calc, 10, 20, 300, 200), (notes, 400, 50, 250, 150)] {
        let win = &app["window"];
        assert_eq!(
            (&win["x"], &win["y"], &win["width"], &win["height"]),
            (&json!(x), &json!(y), &json!(w), &json!(h)),
            "{app}"
        );
    }
    assert_eq!(calc["focused"], true, "{restored}");
    assert_eq!(notes["window"]["state"], "minimised");
    assert_eq!(
        notes["parent_id"], calc["id"],
        "the parent link is restored"
    );
    assert_eq!(
        ok(&second.api("GET", "/api/apps").send(), 200)
            .as_array()
            .unwrap()
            .len(),
        2
    );

    assert_eq!(
        second
            .api("DELETE", &format!("/api/sessions/{id}"))
            .send()
            .status,
        204
    );
    assert_eq!(
        second
            .api("GET", &format!("/api/sessions/{id}"))
            .send()
            .status,
        404
    );
}

/// A native-process app directory with one app, `sleeper`.
fn apps_dir(root: &Path) -> String {
    let dir = root.join("apps/native-proc/sleeper");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("manifest.json"),
        json!({
            "id": "sleeper", "name": "Sleeper", "argv": ["/bin/sleep", "300"],
            "limits": {"pids_max": 4}
        })
        .to_string(),
    )
    .unwrap();
    fs::create_dir_all(root.join("apps/native-proc/broken")).unwrap();
    fs::write(root.join("apps/native-proc/broken/manifest.json"), "{").unwrap();
    root.join("apps").to_str().unwrap().to_owned()
}

/// The kernel's scheduler entry for `pid`, via `agentos call scheduler_stats`.
fn sched_entry(data: &Path, pid: u64) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(["call", "scheduler_stats", "--compact", "--data-dir"])
        .arg(data)
        .env_remove("AGENTOS_KERNEL_SOCKET")
        .output()
        .expect("run agentos call");
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["scheduler"]["entries"]
        .as_array()?
        .iter()
        .find(|e| e["pid"] == pid)
        .cloned()
}

#[test]
fn a_native_process_app_runs_in_the_kernel_and_its_focus_reaches_the_scheduler() {
    let tmp = tempdir("apps-native");
    let data = tmp.path().join("data");
    let apps = apps_dir(tmp.path());
    let up = Up::start("up", tmp.path(), &data, &["--apps-dir", &apps]);

    let list = ok(&up.api("GET", "/api/registry/apps").send(), 200);
    assert_eq!(
        ids(&list),
        ["sleeper"],
        "the broken manifest is skipped: {list}"
    );
    assert_eq!(list[0]["kind"], "native_process");
    assert!(up.stderr().contains("broken"), "the bad manifest is logged");
    let problems = up.health()["registry"]["problems"].clone();
    assert!(
        problems
            .as_array()
            .is_some_and(|p| p.len() == 1 && p[0].as_str().unwrap().contains("broken")),
        "/health reports the bad manifest: {problems}"
    );

    let app = ok(
        &up.api("POST", "/api/registry/apps/sleeper/launch").send(),
        201,
    );
    let pid = app["pid"].as_u64().expect("a native process app has a pid");
    // The task manager's view: the kernel's state, isolation and cgroup figures;
    // CPU % from the second look on.
    let first = ok(&up.api("GET", "/api/processes").send(), 200);
    let row = first
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["pid"] == pid))
        .unwrap_or_else(|| panic!("pid {pid} in {first}"))
        .clone();
    assert_eq!(row["app_id"], app["id"], "{row}");
    assert_eq!(row["state"], "running", "{row}");
    assert_eq!(row["isolation"], "full", "{row}");
    assert!(
        row["memory_current"].as_u64().is_some_and(|m| m > 0),
        "{row}"
    );
    assert!(
        row["cpu_percent"].is_null(),
        "no CPU % on a first look: {row}"
    );
    let second = ok(&up.api("GET", "/api/processes").send(), 200);
    assert!(second[0]["cpu_percent"].is_f64(), "{second}");
    // One scrape for the whole system: the kernel's per-app series are merged
    // into the services' /metrics.
    let metrics = up.get("/metrics").text();
    assert!(
        metrics.lines().any(|l| l == "agentos_kernel_up 1"),
        "{metrics}"
    );
    let memory = metrics
        .lines()
        .find(|l| {
            l.starts_with("agentos_app_memory_bytes{") && l.contains(&format!("pid=\"{pid}\""))
        })
        .unwrap_or_else(|| panic!("no memory series for pid {pid} in:\n{metrics}"));
    assert!(
        memory
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v > 0.0),
        "{memory}"
    );
    let entry = sched_entry(&data, pid).expect("the process is scheduled");
    assert_eq!(entry["visibility"], "VISIBILITY_FOREGROUND", "{entry}");

    // Focus moves to another app: the process goes to the background.
    let other = ok(
        &up.api("POST", "/api/apps")
            .json(&json!({"blueprint": calc()}))
            .send(),
        201,
    );
    assert_eq!(other["focused"], true);
    let entry = sched_entry(&data, pid).unwrap();
    assert_eq!(entry["visibility"], "VISIBILITY_BACKGROUND", "{entry}");
    let app_id = app["id"].as_str().unwrap();
    ok(
        &up.api("POST", &format!("/api/apps/{app_id}/window"))
            .json(&json!({"state": "minimised"}))
            .send(),
        200,
    );
    let entry = sched_entry(&data, pid).unwrap();
    assert_eq!(entry["visibility"], "VISIBILITY_MINIMISED", "{entry}");

    ok(
        &up.api("DELETE", &format!("/api/apps/{app_id}")).send(),
        200,
    );
    assert!(
        eventually(std::time::Duration::from_secs(10), || sched_entry(
            &data, pid
        )
        .is_none()),
        "the process outlived its app"
    );
}

#[test]
fn a_services_process_killed_during_a_save_leaves_a_readable_session() {
    let tmp = tempdir("apps-session-kill");
    let data = tmp.path().join("data");
    let mut first = Up::start("first", tmp.path(), &data, &[]);
    // Big enough that a save takes more than an instant.
    let filler = "x".repeat(20_000);
    let launch = |up: &Up, i: usize| {
        let r = up
            .api("POST", "/api/apps")
            .json(&json!({
                "blueprint": blueprint(&format!("app{i}"), "Filler", json!({"description": filler}))
            }))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    };
    for i in 0..20 {
        launch(&first, i);
    }
    ok(
        &first
            .api("POST", "/api/sessions/save-default")
            .json(&json!({}))
            .send(),
        200,
    );
    launch(&first, 20);

    // Send the next save and kill agentos up while it is (or is about to be) writing.
    let body = "{}";
    let mut s = TcpStream::connect(("127.0.0.1", first.port)).unwrap();
    write!(
        s,
        "POST /api/sessions/save-default HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        first.port,
        first.api_token,
        body.len()
    )
    .unwrap();
    kill(first.pid(), Signal::SIGKILL).unwrap();
    wait_timeout(&mut first.child, Duration::from_secs(20)).expect("a killed process exits");
    assert!(
        eventually(Duration::from_secs(20), || kernels_on(&data).is_empty()),
        "the kernel outlived the killed agentos up"
    );

    let second = Up::start("second", tmp.path(), &data, &[]);
    let session = ok(&second.api("GET", "/api/sessions/default").send(), 200);
    let n = session["apps"].as_array().unwrap().len();
    assert!(
        n == 20 || n == 21,
        "the old save or the new one, never a torn one: {n}"
    );
    let description = session["apps"][0]["source"]["blueprint"]["app"]["description"]
        .as_str()
        .map(str::len);
    assert_eq!(description, Some(filler.len()), "the saved apps are whole");
}

#[test]
fn stopping_agentos_up_ends_its_apps_processes_in_a_kernel_that_stays() {
    let tmp = tempdir("apps-shutdown");
    let data = tmp.path().join("data");
    let apps = apps_dir(tmp.path());
    // A kernel of its own, which agentos up uses and leaves running.
    let log = fs::File::create(tmp.path().join("kernel.stderr")).unwrap();
    let _kernel = Proc(
        Command::new(
            std::path::PathBuf::from(env!("CARGO_BIN_EXE_agentos"))
                .with_file_name("agentos-kernel"),
        )
        .arg("--data-dir")
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn agentos-kernel"),
    );
    assert!(
        eventually(Duration::from_secs(20), || data
            .join("kernel.sock")
            .exists()),
        "the kernel did not start"
    );
    let mut up = Up::start("up", tmp.path(), &data, &["--apps-dir", &apps]);
    let app = ok(
        &up.api("POST", "/api/registry/apps/sleeper/launch").send(),
        201,
    );
    let pid = app["pid"].as_u64().unwrap();
    assert!(sched_entry(&data, pid).is_some());

    assert!(up.terminate().success(), "{}", up.stderr());
    assert!(
        eventually(Duration::from_secs(10), || sched_entry(&data, pid)
            .is_none()),
        "the app's process outlived agentos up"
    );
    assert!(
        data.join("kernel.sock").exists(),
        "the kernel keeps running"
    );
}

/// Whether `/proc/<pid>` shows a live (not zombie) process on the host.
fn alive_on_host(pid: u64) -> bool {
    stat_field(pid, 3).is_some_and(|state| state != "Z")
}

#[test]
fn closing_all_apps_at_sign_out_ends_the_users_processes_and_no_one_elses() {
    let tmp = tempdir("apps-close-all");
    let data = tmp.path().join("data");
    let apps = apps_dir(tmp.path());
    let up = Up::start("up", tmp.path(), &data, &["--apps-dir", &apps]);
    let bob_token = another_user(&up, "bob");

    // The owner: two processes (one a child of a Blueprint app) and a Blueprint app.
    let first = ok(
        &up.api("POST", "/api/registry/apps/sleeper/launch").send(),
        201,
    );
    let parent = ok(
        &up.api("POST", "/api/apps")
            .json(&json!({"blueprint": calc()}))
            .send(),
        201,
    );
    let child = ok(
        &up.api("POST", "/api/apps")
            .json(&json!({"app_id": "sleeper", "parent_id": parent["id"]}))
            .send(),
        201,
    );
    // Bob's process, which the owner's sign-out must leave alone.
    let bobs = ok(
        &up.req("POST", "/api/registry/apps/sleeper/launch")
            .bearer(&bob_token)
            .send(),
        201,
    );
    let pids: Vec<u64> = [&first, &child]
        .iter()
        .map(|a| a["pid"].as_u64().expect("a pid"))
        .collect();
    let bob_pid = bobs["pid"].as_u64().unwrap();
    for pid in pids.iter().chain([&bob_pid]) {
        assert!(alive_on_host(*pid), "pid {pid} is not running on the host");
    }

    let closed = ok(&up.api("DELETE", "/api/apps").send(), 200);
    let mut closed: Vec<String> = serde_json::from_value(closed["closed"].clone())
        .unwrap_or_else(|e| panic!("no list of closed ids in {closed}: {e}"));
    closed.sort();
    let mut want = ids(&json!([first, parent, child]));
    want.sort();
    assert_eq!(closed, want);
    assert_eq!(ok(&up.api("GET", "/api/apps").send(), 200), json!([]));
    // From outside: the kernel no longer schedules them and the host has no such process.
    for pid in &pids {
        assert!(
            eventually(Duration::from_secs(10), || sched_entry(&data, *pid)
                .is_none()
                && !alive_on_host(*pid)),
            "pid {pid} outlived the sign-out"
        );
    }
    assert!(alive_on_host(bob_pid), "another user's process was killed");
    assert!(sched_entry(&data, bob_pid).is_some());
    let bob_apps = ok(&up.req("GET", "/api/apps").bearer(&bob_token).send(), 200);
    assert_eq!(ids(&bob_apps), ids(&json!([bobs])));
    // Nothing left: closing all again closes nothing, and is no error.
    assert_eq!(
        ok(&up.api("DELETE", "/api/apps").send(), 200),
        json!({"closed": []})
    );
}

/// A causality id sent on an HTTP request reaches the kernel: the launch's spawn
/// syscall and the spawned process's events carry it, as `agentos events` shows.
#[test]
fn a_causality_id_on_an_http_request_is_on_the_kernel_events_it_caused() {
    let tmp = tempdir("apps-causality");
    let data = tmp.path().join("data");
    let apps = apps_dir(tmp.path());
    let up = Up::start("up", tmp.path(), &data, &["--apps-dir", &apps]);
    let r = up
        .api("POST", "/api/registry/apps/sleeper/launch")
        .header("x-agentos-causality", "777001")
        .send();
    assert_eq!(r.header("x-agentos-causality"), Some("777001"), "{r:?}");
    let app = ok(&r, 201);
    let pid = app["pid"].as_u64().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(["events", "--causality", "777001", "--json", "--data-dir"])
        .arg(&data)
        .env_remove("AGENTOS_KERNEL_SOCKET")
        .output()
        .expect("run agentos events");
    assert!(out.status.success(), "{out:?}");
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let has = |category: &str, name: &str| {
        events
            .iter()
            .any(|e| e["category"] == category && e["name"] == name && e["causality"] == 777001)
    };
    assert!(has("syscall", "spawn"), "the spawn syscall: {events:#?}");
    assert!(
        events.iter().any(|e| e["category"] == "process"
            && e["name"] == "spawn"
            && e["pid"] == pid
            && e["app"].as_str().is_some()),
        "the spawned process: {events:#?}"
    );
    let other = up.api("GET", "/api/registry/apps").send();
    let fresh = other
        .header("x-agentos-causality")
        .expect("every response names its id");
    assert_ne!(fresh, "777001", "a request without an id gets a fresh one");
    let app_id = app["id"].as_str().unwrap();
    ok(
        &up.api("DELETE", &format!("/api/apps/{app_id}")).send(),
        200,
    );
}

/// The process's v2 cgroup `cgroup.events` says `frozen 1`, read from the host.
fn host_frozen(pid: u64) -> bool {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("process {pid} has no v2 cgroup: {cg}"));
    let root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/unified"
    };
    let events = read(Path::new(&format!("{root}{rel}/cgroup.events")));
    events.lines().any(|l| l == "frozen 1")
}

/// Field `n` (1-based, as stat(5) numbers them) of the host's `/proc/PID/stat`.
fn stat_field(pid: u64, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(n - 3).map(str::to_owned)
}

#[test]
fn the_task_managers_freeze_priority_and_kill_act_on_the_host_process() {
    let tmp = tempdir("apps-control");
    let data = tmp.path().join("data");
    let apps = apps_dir(tmp.path());
    let up = Up::start("up", tmp.path(), &data, &["--apps-dir", &apps]);
    let app = ok(
        &up.api("POST", "/api/registry/apps/sleeper/launch").send(),
        201,
    );
    let (id, pid) = (app["id"].as_str().unwrap(), app["pid"].as_u64().unwrap());
    let act = |what: &str, body: Value| {
        up.api("POST", &format!("/api/apps/{id}/process/{what}"))
            .json(&body)
            .send()
    };
    assert!(!host_frozen(pid), "not frozen at launch");

    let st = ok(&act("freeze", json!({"frozen": true})), 200);
    assert_eq!(
        (st["pid"].as_u64(), &st["frozen"]),
        (Some(pid), &json!(true))
    );
    assert!(host_frozen(pid), "cgroup.events says frozen");
    let rows = ok(&up.api("GET", "/api/processes").send(), 200);
    assert_eq!(rows[0]["frozen"], true, "{rows}");
    let st = ok(&act("freeze", json!({"frozen": false})), 200);
    assert_eq!(st["frozen"], false);
    assert!(!host_frozen(pid), "cgroup.events says thawed");

    let st = ok(&act("priority", json!({"priority": 7})), 200);
    assert_eq!(st["priority"], 7);
    assert_eq!(stat_field(pid, 19).as_deref(), Some("7"), "the host's nice");
    let e = act("priority", json!({"priority": 40}));
    assert_eq!((e.status, e.code()), (400, "invalid_argument".into()));
    let e = act("priority", json!({"priority": "high"}));
    assert!((400..500).contains(&e.status), "{e:?}");

    // A Blueprint app has no process; an unknown app is not found.
    let bp = ok(
        &up.api("POST", "/api/apps")
            .json(&json!({"blueprint": calc()}))
            .send(),
        201,
    );
    let e = up
        .api(
            "POST",
            &format!("/api/apps/{}/process/kill", bp["id"].as_str().unwrap()),
        )
        .json(&json!({}))
        .send();
    assert_eq!((e.status, e.code()), (409, "no_process".into()));
    let e = up.api("POST", "/api/apps/a999/process/kill").send();
    assert_eq!(e.status, 404, "{e:?}");

    ok(&act("kill", json!({})), 200);
    assert!(
        eventually(Duration::from_secs(10), || {
            stat_field(pid, 3).is_none_or(|s| s == "Z" || s == "X")
        }),
        "the process is gone from the host after kill"
    );
    // The kernel's table follows once it has reaped the exit (a moment after the host
    // shows the process gone).
    let listed_running = || {
        let rows = ok(&up.api("GET", "/api/processes").send(), 200);
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["pid"] == pid && r["state"] == "running")
    };
    assert!(
        eventually(Duration::from_secs(10), || !listed_running()),
        "the killed process is still listed as running"
    );
}

/// The kernel's scheduler policy, via `agentos call get_policy`.
fn kernel_policy(data: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(["call", "get_policy", "--compact", "--data-dir"])
        .arg(data)
        .env_remove("AGENTOS_KERNEL_SOCKET")
        .output()
        .expect("run agentos call");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn settings_are_kept_per_user_across_a_restart_and_set_the_kernels_scheduler() {
    let tmp = tempdir("apps-settings");
    let data = tmp.path().join("data");
    let mut up = Up::start("up", tmp.path(), &data, &[]);
    let defaults = ok(&up.api("GET", "/api/settings").send(), 200);
    assert_eq!(defaults["scheduler"]["policy"], "fair", "{defaults}");
    let mut mine = defaults.clone();
    mine["appearance"]["theme"] = json!("light");
    mine["scheduler"] =
        json!({"policy": "round_robin", "freeze_minimised": true, "focus_boost": 9});
    mine["default_grants"] = json!(["time", "read:/srv"]);
    mine["llm"]["url"] = json!("http://127.0.0.1:9/v1/chat/completions");
    assert_eq!(
        ok(&up.api("PUT", "/api/settings").json(&mine).send(), 200),
        mine
    );
    let policy = kernel_policy(&data);
    assert_eq!(
        policy["scheduler"]["policy"], "SCHED_POLICY_ROUND_ROBIN",
        "the kernel's scheduler follows the saved policy: {policy}"
    );
    assert_eq!(
        policy["scheduler"]["focusBoost"], 9,
        "and the saved focus boost: {policy}"
    );
    let on_disk = data.join("files/.agentos/users");
    let saved: Vec<_> = fs::read_dir(&on_disk)
        .unwrap()
        .flatten()
        .filter(|d| d.path().join("settings.json").is_file())
        .collect();
    assert_eq!(
        saved.len(),
        1,
        "one user's settings file under {}",
        on_disk.display()
    );

    for (bad, code) in [
        (json!({"appearance": {"accent": "red"}}), "invalid_argument"),
        (
            json!({"llm": {"url": "file:///etc/shadow"}}),
            "invalid_argument",
        ),
        (json!({"scheduler": {"policy": "fastest"}}), ""),
        (json!({"scheduler": {"focus_boost": 0}}), "invalid_argument"),
        (json!({"colour": "red"}), ""),
    ] {
        let r = up.api("PUT", "/api/settings").json(&bad).send();
        assert!((400..500).contains(&r.status), "{bad}: {r:?}");
        if !code.is_empty() {
            assert_eq!(r.code(), code, "{bad}");
        }
    }
    assert_eq!(
        ok(&up.api("GET", "/api/settings").send(), 200),
        mine,
        "a refused PUT changes nothing"
    );

    up.terminate();
    let up = Up::start("up2", tmp.path(), &data, &[]);
    assert_eq!(
        ok(&up.api("GET", "/api/settings").send(), 200),
        mine,
        "the settings outlive a restart"
    );
}

#[test]
fn the_file_manager_works_on_the_users_files_under_its_manifest_and_says_who_may_use_them() {
    let tmp = tempdir("apps-files");
    let data = tmp.path().join("data");
    let apps = concat!(env!("CARGO_MANIFEST_DIR"), "/../apps");
    let up = Up::start("up", tmp.path(), &data, &["--apps-dir", apps]);
    let list = ok(&up.api("GET", "/api/registry/apps").send(), 200);
    let files = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "files")
        .unwrap_or_else(|| panic!("apps/native/files is in the registry: {list}"));
    assert_eq!(files["kind"], "native_web");
    let fm = ok(
        &up.api("POST", "/api/registry/apps/files/launch").send(),
        201,
    );
    let fm_id = fm["id"].as_str().unwrap();
    let run = |tool: &str, args: Value, app: Option<&str>| {
        let mut body = json!({"tool": tool, "args": args});
        if let Some(a) = app {
            body["app_id"] = json!(a);
        }
        up.api("POST", "/api/services/execute").json(&body).send()
    };
    // The manifest's `filesystem` permission lets it; no app at all may not.
    ok(
        &run("fs.mkdir", json!({"path": "/projects"}), Some(fm_id)),
        200,
    );
    let e = run("fs.mkdir", json!({"path": "/x"}), None);
    assert_eq!((e.status, e.code()), (403, "permission_denied".into()));
    ok(
        &run(
            "fs.write",
            json!({"path": "/projects/a.txt", "content": "hi"}),
            Some(fm_id),
        ),
        200,
    );
    ok(
        &run(
            "fs.rename",
            json!({"from": "/projects", "to": "/work"}),
            Some(fm_id),
        ),
        200,
    );
    ok(
        &run(
            "fs.copy",
            json!({"from": "/work/a.txt", "to": "/work/b.txt"}),
            Some(fm_id),
        ),
        200,
    );
    let root = data.join("files/.agentos/users");
    let user_files = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|d| d.path().join("files"))
        .find(|p| p.join("work").is_dir())
        .unwrap_or_else(|| panic!("the renamed folder is on disk under {}", root.display()));
    assert_eq!(read(&user_files.join("work/b.txt")), "hi");
    assert!(!user_files.join("projects").exists());
    let listing = ok(&run("fs.list", json!({"path": "/work"}), Some(fm_id)), 200);
    let mut entries = listing["result"].as_array().unwrap().clone();
    entries.sort_by_key(|e| e["name"].as_str().unwrap().to_owned());
    assert_eq!(
        entries,
        [
            json!({"name": "a.txt", "is_dir": false, "size": 2}),
            json!({"name": "b.txt", "is_dir": false, "size": 2})
        ],
        "{listing}"
    );
    let e = run(
        "fs.copy",
        json!({"from": "/work/a.txt", "to": "/work/b.txt"}),
        Some(fm_id),
    );
    assert_eq!(e.status, 403, "a copy does not replace: {e:?}");

    // An upload of binary content: the bytes on disk are the bytes sent.
    let png: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, b'\r', b'\n', 0x80];
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    ok(
        &run(
            "fs.write",
            json!({"path": "/work/deep/er/image.png", "content": b64, "encoding": "base64"}),
            Some(fm_id),
        ),
        200,
    );
    assert_eq!(
        fs::read(user_files.join("work/deep/er/image.png")).unwrap(),
        png
    );
    let e = run(
        "fs.write",
        json!({"path": "/work/x.bin", "content": "not base64!", "encoding": "base64"}),
        Some(fm_id),
    );
    assert_eq!((e.status, e.code()), (400, "invalid_args".into()), "{e:?}");

    // Search reaches into subfolders, within its bounds.
    let found = ok(
        &run(
            "fs.search",
            json!({"path": "/", "query": "IMAGE"}),
            Some(fm_id),
        ),
        200,
    );
    assert_eq!(
        found["result"],
        json!({"matches": [{"path": "/work/deep/er/image.png", "name": "image.png", "is_dir": false, "size": 10}], "truncated": false}),
        "{found}"
    );
    let shallow = ok(
        &run(
            "fs.search",
            json!({"path": "/", "query": "image", "max_depth": 2}),
            Some(fm_id),
        ),
        200,
    );
    assert_eq!(
        shallow["result"],
        json!({"matches": [], "truncated": true}),
        "{shallow}"
    );
    let e = run("fs.search", json!({"query": " "}), Some(fm_id));
    assert_eq!((e.status, e.code()), (400, "invalid_args".into()), "{e:?}");

    // Who may use /work/a.txt: the file manager (its permission), not the calculator.
    ok(
        &up.api("POST", "/api/apps")
            .json(&json!({"blueprint": calc()}))
            .send(),
        201,
    );
    let access = ok(
        &up.api("GET", "/api/files/access?path=/work/a.txt").send(),
        200,
    );
    let who: Vec<_> = access["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["app_id"].as_str().unwrap(),
                a["read"].as_bool(),
                a["write"].as_bool(),
            )
        })
        .collect();
    assert_eq!(who, [("files", Some(true), Some(true))], "{access}");
    let e = up.api("GET", "/api/files/access?path=/../etc").send();
    assert_eq!(e.status, 400, "{e:?}");
}

#[test]
fn signing_out_with_nothing_open_keeps_the_last_session() {
    let tmp = tempdir("apps-empty-last-session");
    let up = Up::start("up", tmp.path(), &tmp.path().join("data"), &[]);
    let save_last = || {
        up.api("POST", "/api/sessions/save-default")
            .json(&json!({"name": "last"}))
            .send()
    };
    // Nothing saved yet and nothing open: nothing is saved.
    assert_eq!(ok(&save_last(), 204), Value::Null);
    assert_eq!(ok(&up.api("GET", "/api/sessions").send(), 200), json!([]));

    let app = ok(
        &up.api("POST", "/api/apps")
            .json(&json!({"blueprint": calc()}))
            .send(),
        201,
    );
    assert_eq!(ok(&save_last(), 200)["apps"], 1);
    let first = ok(&up.api("GET", "/api/sessions/default").send(), 200);

    // Everything closed, then signed out again: the last session is still the one with the app.
    ok(
        &up.api(
            "DELETE",
            &format!("/api/apps/{}", app["id"].as_str().unwrap()),
        )
        .send(),
        200,
    );
    assert_eq!(ok(&up.api("GET", "/api/apps").send(), 200), json!([]));
    assert_eq!(ok(&save_last(), 204), Value::Null);
    let kept = ok(&up.api("GET", "/api/sessions/default").send(), 200);
    assert_eq!(kept, first, "the empty workspace replaced the last session");
    assert_eq!(kept["apps"][0]["app_id"], "calc");
}
