//! `agentos up` from outside: the real `agentos` and `agentos-kernel` binaries, a
//! temp data directory, HTTP over a plain `TcpStream`.
//!
//! Nothing is built here: `agentos` comes from `CARGO_BIN_EXE_agentos`, and
//! `agentos up` finds `agentos-kernel` next to it in the target directory, so build
//! the kernel first (`cargo build -p agentos-kernel`; `cargo xtask test` does).
//! Every `agentos` started here is held by an [`Up`] guard that stops it on drop,
//! so a failing test leaves no processes behind; the kernels they start die with
//! them (SIGTERM from `agentos`, or its parent-death signal).

#[allow(dead_code, reason = "each test crate uses a part of the helpers")]
mod support;

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use serde_json::Value;
use support::*;

#[test]
fn serves_health_the_desktop_and_json_api_errors() {
    let tmp = tempdir("up-serves");
    let data = tmp.path().join("data");
    let ui = ui_dir(tmp.path());
    let up = Up::start(
        "up",
        tmp.path(),
        &data,
        &["--ui-dir", ui.to_str().expect("utf-8 path")],
    );

    let health = up.health();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"), "{health}");
    assert_eq!(health["kernel"]["connected"], true, "{health}");
    assert_eq!(
        health["kernel"]["socket"],
        data.join("kernel.sock").to_str().expect("utf-8"),
        "{health}"
    );
    assert!(health["kernel"]["uptime_ms"].is_u64(), "{health}");
    let backend = health["doctor"]["io_uring"]["backend"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !backend.is_empty(),
        "doctor.io_uring.backend is missing: {health}"
    );
    for (name, sub) in health["doctor"].as_object().expect("doctor is an object") {
        assert!(
            sub["backend"].is_string()
                && sub["available"].is_boolean()
                && sub["reason"].is_string(),
            "{name}: {sub}"
        );
    }

    // `agentos doctor` asks the same kernel, so it must name the same backend.
    let out = Command::new(agentos())
        .args(["doctor", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run agentos doctor");
    assert!(out.status.success(), "agentos doctor: {out:?}");
    let doctor: Value =
        serde_json::from_slice(&out.stdout).expect("agentos doctor --json prints JSON");
    assert_eq!(
        doctor["io_uring"]["backend"], backend,
        "doctor: {doctor}\nhealth: {health}"
    );

    let root = up.get("/");
    assert_eq!(root.status, 200, "{root:?}");
    assert!(
        root.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{root:?}"
    );
    assert_eq!(root.text(), INDEX);

    let spa = up.get("/some/spa/route");
    assert_eq!(spa.status, 200, "{spa:?}");
    assert_eq!(spa.text(), INDEX, "client-side routes get index.html");

    for path in ["/api/nope", "/api"] {
        let anonymous = up.get(path);
        assert_eq!(anonymous.status, 401, "{path} needs a login: {anonymous:?}");
        assert_eq!(anonymous.code(), "unauthenticated");
        let api = up.api("GET", path).send();
        assert_eq!(api.status, 404, "{path}: {api:?}");
        assert_eq!(
            api.header("content-type"),
            Some("application/json"),
            "{path}: {api:?}"
        );
        let body: Value = serde_json::from_slice(&api.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {api:?}"));
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(path)),
            "{path}: {body}"
        );
    }
}

#[test]
fn a_second_up_reuses_the_running_kernel_and_leaves_it_running() {
    let tmp = tempdir("up-reuse");
    let data = tmp.path().join("data");
    let first = Up::start("first", tmp.path(), &data, &[]);
    let kernel = kernel_pid(&data);

    let mut second = Up::start("second", tmp.path(), &data, &[]);
    assert_ne!(first.port, second.port);
    let health = second.health();
    assert_eq!(
        health["kernel"]["connected"],
        true,
        "second: {health}\nstderr:\n{}",
        second.stderr()
    );
    assert_eq!(
        kernels_on(&data),
        vec![kernel],
        "exactly the first kernel runs; second's stderr:\n{}",
        second.stderr()
    );

    let status = second.terminate();
    assert!(
        status.success(),
        "second agentos up: {status}; stderr:\n{}",
        second.stderr()
    );
    assert_eq!(
        kernels_on(&data),
        vec![kernel],
        "stopping the second must not stop the first's kernel"
    );
    assert!(data.join("kernel.sock").exists());
    assert_eq!(first.health()["kernel"]["connected"], true);
}

#[test]
fn sigterm_stops_the_kernel_that_up_started() {
    let tmp = tempdir("up-sigterm");
    let data = tmp.path().join("data");
    let mut up = Up::start("up", tmp.path(), &data, &[]);
    let kernel = kernel_pid(&data);
    assert_eq!(kernels_on(&data), vec![kernel]);
    assert!(data.join("kernel.sock").exists());

    let status = up.terminate();
    assert!(
        status.success(),
        "agentos up: {status}; stderr:\n{}",
        up.stderr()
    );
    // `agentos up` waited for the kernel before exiting, so this needs no polling.
    assert!(
        !data.join("kernel.sock").exists(),
        "the kernel's socket is left behind; stderr:\n{}",
        up.stderr()
    );
    assert_eq!(
        kernels_on(&data),
        Vec::<i32>::new(),
        "an agentos-kernel still runs on {}",
        data.display()
    );
}

#[test]
fn the_kernel_dies_with_a_killed_up() {
    let tmp = tempdir("up-sigkill");
    let data = tmp.path().join("data");
    let mut up = Up::start("up", tmp.path(), &data, &[]);
    let kernel = kernel_pid(&data);
    assert_eq!(kernels_on(&data), vec![kernel]);

    kill(up.pid(), Signal::SIGKILL).expect("SIGKILL agentos up");
    wait_timeout(&mut up.child, STOP_TIMEOUT).expect("a SIGKILLed process exits");
    // The parent-death signal is SIGTERM, so the kernel shuts down cleanly.
    let gone = eventually(STOP_TIMEOUT, || {
        kernels_on(&data).is_empty() && !data.join("kernel.sock").exists()
    });
    assert!(
        gone,
        "the kernel (pid {kernel}) outlived agentos up: {:?}",
        kernels_on(&data)
    );
}

#[test]
fn health_degrades_without_the_kernel_and_recovers_when_one_restarts() {
    let tmp = tempdir("up-restart");
    let data = tmp.path().join("data");
    let up = Up::start("up", tmp.path(), &data, &[]);
    let first = kernel_pid(&data);
    assert_eq!(up.health()["kernel"]["connected"], true);

    // Stop the kernel behind agentos's back: /health must say so, quickly.
    kill(Pid::from_raw(first), Signal::SIGTERM).expect("SIGTERM the kernel");
    let mut last = Value::Null;
    let degraded = eventually(STOP_TIMEOUT, || {
        last = up.health();
        last["status"] == "degraded"
    });
    assert!(degraded, "/health never degraded: {last}");
    assert_eq!(last["kernel"]["connected"], false, "{last}");
    assert_eq!(last["doctor"], serde_json::json!({}), "{last}");

    // A new kernel on the same data directory is picked up without restarting agentos.
    let log = fs::File::create(tmp.path().join("kernel.stderr")).expect("create the kernel log");
    let _kernel = Proc(
        Command::new(agentos().with_file_name("agentos-kernel"))
            .arg("--data-dir")
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn agentos-kernel"),
    );
    let recovered = eventually(START_TIMEOUT, || {
        last = up.health();
        last["kernel"]["connected"] == true
    });
    assert!(
        recovered,
        "/health never reconnected: {last}\nkernel stderr:\n{}",
        read(&tmp.path().join("kernel.stderr"))
    );
    assert_eq!(last["status"], "ok", "{last}");
    assert_ne!(kernel_pid(&data), first);
}

#[test]
fn without_a_built_ui_the_root_says_how_to_build_it() {
    let tmp = tempdir("up-no-ui");
    let data = tmp.path().join("data");
    let empty = tmp.path().join("empty-ui");
    fs::create_dir(&empty).expect("mkdir");
    let up = Up::start(
        "up",
        tmp.path(),
        &data,
        &["--ui-dir", empty.to_str().expect("utf-8 path")],
    );

    for path in ["/", "/some/spa/route"] {
        let page = up.get(path);
        assert_eq!(page.status, 200, "{path}: {page:?}");
        assert!(
            page.text().contains("cargo xtask build"),
            "{path}: {}",
            page.text()
        );
    }
    assert_eq!(up.health()["kernel"]["connected"], true);
    assert_eq!(up.api("GET", "/api/x").send().status, 404);
}

#[test]
fn a_kernel_that_exits_at_start_is_reported_with_its_stderr() {
    let tmp = tempdir("up-bad-kernel");
    let fake = tmp.path().join("fake-kernel");
    fs::write(&fake, "#!/bin/sh\necho 'agentos-test: line one' >&2\necho 'agentos-test: cannot start' >&2\nexit 3\n")
        .expect("write the fake kernel");
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");

    let mut child = Command::new(agentos())
        .arg("up")
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["--port", "0", "--kernel-bin"])
        .arg(&fake)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agentos up");
    let status = wait_timeout(&mut child, START_TIMEOUT);
    if status.is_none() {
        stop(&mut child);
        panic!("agentos up kept running with a kernel that exits");
    }
    let out = child.wait_with_output().expect("collect output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing is up, so nothing on stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("exit status: 3"), "stderr:\n{stderr}");
    assert!(
        stderr.contains("agentos-test: cannot start"),
        "the kernel's last lines are quoted:\n{stderr}"
    );
}
