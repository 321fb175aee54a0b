//! `agentos up` from outside: the real `agentos` and `agentos-kernel` binaries, a
//! temp data directory, HTTP over a plain `TcpStream`.
//!
//! Nothing is built here: `agentos` comes from `CARGO_BIN_EXE_agentos`, and
//! `agentos up` finds `agentos-kernel` next to it in the target directory, so build
//! the kernel first (`cargo build -p agentos-kernel`; `cargo xtask test` does).
//! Every `agentos` started here is held by an [`Up`] guard that stops it on drop,
//! so a failing test leaves no processes behind; the kernels they start die with
//! them (SIGTERM from `agentos`, or its parent-death signal).

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use serde_json::Value;

/// How long `agentos up` gets to print its URL (a cold kernel start loads eBPF).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process gets to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

const INDEX: &str = "<!doctype html><title>agentos-test desktop</title><div id=root></div>\n";

fn agentos() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agentos"))
}

/// Asserts that the kernel binary `agentos up` will look for is there.
fn assert_kernel_built() {
    let kernel = agentos().with_file_name("agentos-kernel");
    assert!(
        kernel.is_file(),
        "{} is missing: build it first with `cargo build -p agentos-kernel` (cargo xtask test does)",
        kernel.display()
    );
}

/// A temp directory named for the test, so `cargo xtask test` can sweep leftovers.
fn tempdir(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("agentos-test-{test}-"))
        .tempdir()
        .expect("tempdir")
}

/// A UI directory holding only [`INDEX`].
fn ui_dir(root: &Path) -> PathBuf {
    let ui = root.join("ui");
    fs::create_dir(&ui).expect("mkdir ui");
    fs::write(ui.join("index.html"), INDEX).expect("write index.html");
    ui
}

/// A running `agentos up`; SIGTERM, then SIGKILL, on drop.
struct Up {
    child: Child,
    port: u16,
    stderr: PathBuf,
    _stdout: ChildStdout,
}

impl Up {
    /// Starts `agentos up --data-dir DATA --port 0 [ARGS]` and waits for its URL line.
    fn start(name: &str, logs: &Path, data_dir: &Path, args: &[&str]) -> Up {
        assert_kernel_built();
        let stderr = logs.join(format!("{name}.stderr"));
        let mut child = Command::new(agentos())
            .arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--port", "0"])
            .args(args)
            .env_remove("AGENTOS_KERNEL_BIN")
            .env("AGENTOS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).expect("create the stderr log"))
            .spawn()
            .expect("spawn agentos up");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            reader.into_inner()
        });
        let line = rx.recv_timeout(START_TIMEOUT);
        let stdout = match line {
            Ok(_) => reader.join().expect("the reader thread does not panic"),
            Err(_) => {
                // Stop it before failing; the reader thread ends when its pipe closes.
                stop(&mut child);
                panic!(
                    "agentos up printed no line within {START_TIMEOUT:?}; stderr:\n{}",
                    read(&stderr)
                );
            }
        };
        let mut up = Up {
            child,
            port: 0,
            stderr,
            _stdout: stdout,
        };
        let line = line.expect("checked above");
        let port = line
            .trim_end()
            .strip_prefix("AgentOS is up: http://127.0.0.1:")
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|port| port.parse::<u16>().ok());
        match port {
            Some(p) if p != 0 => up.port = p,
            _ => panic!(
                "unexpected first stdout line {line:?}; stderr:\n{}",
                up.stderr()
            ),
        }
        up
    }

    fn stderr(&self) -> String {
        read(&self.stderr)
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"))
    }

    fn get(&self, path: &str) -> Response {
        http_get(self.port, path)
    }

    fn health(&self) -> Value {
        let r = self.get("/health");
        assert_eq!(r.status, 200, "GET /health: {r:?}");
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("/health is not JSON ({e}): {r:?}"))
    }

    /// SIGTERM, and the exit status; panics (after SIGKILL) if it does not exit.
    fn terminate(&mut self) -> ExitStatus {
        kill(self.pid(), Signal::SIGTERM).expect("SIGTERM agentos up");
        match wait_timeout(&mut self.child, STOP_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "agentos up did not exit within {STOP_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Any other child process, stopped like an [`Up`] on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// SIGTERM, a wait, then SIGKILL; for guards and failure paths.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = kill(
        Pid::from_raw(i32::try_from(child.id()).expect("pid fits")),
        Signal::SIGTERM,
    );
    if wait_timeout(child, STOP_TIMEOUT).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// Pids of live `agentos-kernel` processes whose command line names `data_dir`.
fn kernels_on(data_dir: &Path) -> Vec<i32> {
    let want = data_dir.as_os_str().as_encoded_bytes();
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // A zombie or a vanished process has an empty (or unreadable) cmdline.
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|&b| b == 0);
        let is_kernel = args
            .next()
            .is_some_and(|a0| a0.ends_with(b"agentos-kernel"));
        if is_kernel && args.any(|a| a == want) {
            pids.push(pid);
        }
    }
    pids
}

/// The pid the running kernel wrote into `DATA/kernel.lock`.
fn kernel_pid(data_dir: &Path) -> i32 {
    let text = read(&data_dir.join("kernel.lock"));
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("kernel.lock holds {text:?}, not a pid"))
}

#[derive(Debug)]
struct Response {
    status: u16,
    /// Header lines, lower-cased.
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}:");
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(&prefix))
            .map(str::trim)
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection (`Connection: close`).
fn http_get(port: u16, path: &str) -> Response {
    let mut s =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect :{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no header end"));
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line in {head:?}"));
    let headers: Vec<String> = lines.map(str::to_owned).collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|h| h.replace(' ', "") == "transfer-encoding:chunked")
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_field = std::str::from_utf8(&data[..eol]).expect("ascii chunk size");
        let size = usize::from_str_radix(size_field.split(';').next().unwrap_or("").trim(), 16)
            .expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

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
        let api = up.get(path);
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
    assert_eq!(up.get("/api/x").status, 404);
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
