//! What the tests of `agentos up` share: the real `agentos` binary started on a temp
//! data directory and held by a guard ([`Up`]), and a small HTTP/1.1 client.
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
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process gets to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

pub const INDEX: &str = "<!doctype html><title>agentos-test desktop</title><div id=root></div>\n";

pub fn agentos() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agentos"))
}

/// Asserts that the kernel binary `agentos up` will look for is there.
pub fn assert_kernel_built() {
    let kernel = agentos().with_file_name("agentos-kernel");
    assert!(
        kernel.is_file(),
        "{} is missing: build it first with `cargo build -p agentos-kernel` (cargo xtask test does)",
        kernel.display()
    );
}

/// A temp directory named for the test, so `cargo xtask test` can sweep leftovers.
pub fn tempdir(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("agentos-test-{test}-"))
        .tempdir()
        .expect("tempdir")
}

/// A UI directory holding only [`INDEX`].
pub fn ui_dir(root: &Path) -> PathBuf {
    let ui = root.join("ui");
    fs::create_dir(&ui).expect("mkdir ui");
    fs::write(ui.join("index.html"), INDEX).expect("write index.html");
    ui
}

/// A running `agentos up`; SIGTERM, then SIGKILL, on drop.
pub struct Up {
    pub child: Child,
    pub port: u16,
    /// The one-time login token of the URL `agentos up` printed.
    pub login_token: String,
    /// `DATA_DIR/api.token`.
    pub api_token: String,
    pub data_dir: PathBuf,
    stderr: PathBuf,
    _stdout: ChildStdout,
}

impl Up {
    /// Starts `agentos up --data-dir DATA --port 0 [ARGS]` and waits for its URL line.
    pub fn start(name: &str, logs: &Path, data_dir: &Path, args: &[&str]) -> Up {
        assert_kernel_built();
        let stderr = logs.join(format!("{name}.stderr"));
        let mut child = Command::new(agentos())
            .arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--port", "0"])
            .args(args)
            .env_remove("AGENTOS_KERNEL_BIN")
            // The rule generator, unless a test's user settings name an endpoint.
            .env_remove("AGENTOS_LLM_URL")
            .env_remove("AGENTOS_LLM_KEY")
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
            login_token: String::new(),
            api_token: String::new(),
            data_dir: data_dir.to_owned(),
            stderr,
            _stdout: stdout,
        };
        let line = line.expect("checked above");
        let parsed = line
            .trim_end()
            .strip_prefix("AgentOS is up: http://127.0.0.1:")
            .and_then(|rest| rest.split_once("/?token="))
            .and_then(|(port, token)| Some((port.parse::<u16>().ok()?, token.to_owned())));
        match parsed {
            Some((p, token)) if p != 0 && token.len() >= 32 => {
                up.port = p;
                up.login_token = token;
            }
            _ => panic!(
                "unexpected first stdout line {line:?}; stderr:\n{}",
                up.stderr()
            ),
        }
        up.api_token = fs::read_to_string(data_dir.join("api.token"))
            .expect("agentos up writes DATA_DIR/api.token")
            .trim()
            .to_owned();
        up
    }

    pub fn stderr(&self) -> String {
        read(&self.stderr)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"))
    }

    pub fn get(&self, path: &str) -> Response {
        http_get(self.port, path)
    }

    /// A request with this server's `Host` and no credential.
    pub fn req(&self, method: &str, path: &str) -> Req {
        Req {
            port: self.port,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: vec![("Host".into(), format!("127.0.0.1:{}", self.port))],
            body: Vec::new(),
        }
    }

    /// A request with `Authorization: Bearer` and the API token (the owner).
    pub fn api(&self, method: &str, path: &str) -> Req {
        self.req(method, path).bearer(&self.api_token)
    }

    pub fn health(&self) -> Value {
        let r = self.get("/health");
        assert_eq!(r.status, 200, "GET /health: {r:?}");
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("/health is not JSON ({e}): {r:?}"))
    }

    /// SIGTERM, and the exit status; panics (after SIGKILL) if it does not exit.
    pub fn terminate(&mut self) -> ExitStatus {
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
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// SIGTERM, a wait, then SIGKILL; for guards and failure paths.
pub fn stop(child: &mut Child) {
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

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
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
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
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

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// Pids of live `agentos-kernel` processes whose command line names `data_dir`.
pub fn kernels_on(data_dir: &Path) -> Vec<i32> {
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
pub fn kernel_pid(data_dir: &Path) -> i32 {
    let text = read(&data_dir.join("kernel.lock"));
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("kernel.lock holds {text:?}, not a pid"))
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header lines, lower-cased.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the response when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// The `error.code` of an error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code: {} {}", self.status, self.text()))
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}:");
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(&prefix))
            .map(str::trim)
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection (`Connection: close`).
pub fn http_get(port: u16, path: &str) -> Response {
    Req {
        port,
        method: "GET".into(),
        path: path.into(),
        headers: vec![("Host".into(), format!("127.0.0.1:{port}"))],
        body: Vec::new(),
    }
    .send()
}

/// An HTTP/1.1 request, sent over a fresh connection (`Connection: close`).
pub struct Req {
    port: u16,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    /// Adds a header (replacing `Host` when that is the name).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if name.eq_ignore_ascii_case("host") {
            self.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes every header of this name.
    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A JSON body.
    pub fn json(self, v: &Value) -> Self {
        self.body("application/json", v.to_string().as_bytes())
    }

    /// A body of any type.
    pub fn body(mut self, content_type: &str, body: &[u8]) -> Self {
        self = self.header("Content-Type", content_type);
        self.body = body.to_vec();
        self
    }

    pub fn send(self) -> Response {
        let Req {
            port,
            method,
            path,
            headers,
            body,
        } = self;
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect :{port}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set timeout");
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for (n, v) in &headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).expect("send the request head");
        // The server may answer (413) and close before it has read a large body.
        let _ = s.write_all(&body);
        let mut raw = Vec::new();
        if let Err(e) = s.read_to_end(&mut raw)
            && raw.is_empty()
        {
            panic!("{method} {path}: {e}");
        }
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {path}: no header end in {raw:?}"));
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: bad status line in {head:?}"));
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
}

pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
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

/// A valid Blueprint (the spec's essentials: `spec`, `app` id/name/version, a UI
/// title and one component), with `app` fields merged from `extra`.
pub fn blueprint(id: &str, name: &str, extra: Value) -> Value {
    let mut app = serde_json::json!({"id": id, "name": name, "version": "1.0.0"});
    if let (Some(a), Value::Object(e)) = (app.as_object_mut(), extra) {
        a.extend(e);
    }
    serde_json::json!({
        "spec": "1.0",
        "app": app,
        "ui": {"title": name, "components": [{"type": "text", "id": "title", "props": {"text": name}}]}
    })
}
