//! Test helpers: a daemon guard that kills the daemon even when a test panics, and
//! one-line syscall wrappers.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub use agentos_client::Client;
use agentos_proto::v1::{self as pb, syscall::Call};

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// Waits until something accepts TCP connections on `addr` (the daemon binds its
/// TCP listener after the Unix socket the start-up waits for).
pub async fn wait_for_tcp(addr: std::net::SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running `agentos-kernel`; killed and reaped on drop.
pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    args: Vec<String>,
}

impl Daemon {
    /// Starts a daemon on a fresh data directory with extra `args`.
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-")
            .tempdir()
            .expect("tempdir");
        let mut d = Self {
            child: None,
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        d.spawn();
        d
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The host directory behind the `/` mount.
    pub fn files(&self) -> PathBuf {
        self.data_dir().join("files")
    }

    pub fn socket(&self) -> PathBuf {
        self.data_dir().join("kernel.sock")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// (Re)starts the daemon on the same data directory and waits for its socket.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new(kernel_bin())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.args)
            .env("AGENTOS_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn agentos-kernel");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.socket().exists() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("agentos-kernel exited during start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "agentos-kernel did not create its socket in 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the daemon (as a crash would) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs the daemon and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        c.wait().unwrap()
    }

    pub async fn client(&self) -> Client {
        Client::connect_uds(&self.socket())
            .await
            .expect("connect to the kernel socket")
    }

    /// Peak resident set size of the daemon, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmHWM in /proc/pid/status");
        kb * 1024
    }
}

impl Drop for Daemon {
    /// SIGTERM first, so the daemon removes what it made on the host; SIGKILL if it
    /// has not exited within 5 s.
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        for _ in 0..250 {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Starts a managed process with `CreateProcess`.
pub async fn spawn(c: &mut Client, spec: pb::ProcessSpec) -> pb::ProcessInfo {
    c.create_process(pb::SpawnProcess { spec: Some(spec) })
        .await
        .expect("spawn")
        .into_inner()
}

/// Kills a managed process's whole tree.
pub async fn kill_tree(c: &mut Client, pid: u32) {
    call(
        c,
        Call::Kill(pb::KillProcess {
            pid,
            signal: 0,
            tree: true,
        }),
    )
    .await
    .expect("kill the process tree");
}

/// The `open` of a stream read of all of `path`.
pub fn open_read(path: &str, chunk_size: u32, transport: pb::StreamTransport) -> pb::StreamRequest {
    use pb::{stream_open::Op, stream_request::Msg};
    pb::StreamRequest {
        msg: Some(Msg::Open(pb::StreamOpen {
            op: Some(Op::Read(pb::StreamRead {
                path: path.into(),
                offset: 0,
                length: 0,
                chunk_size,
                transport: transport as i32,
            })),
        })),
    }
}

pub fn req(call: Call) -> pb::SyscallRequest {
    pb::SyscallRequest {
        syscall: Some(pb::Syscall { call: Some(call) }),
        timeout_ms: 0,
    }
}

/// Runs one syscall; `Err` is the status.
pub async fn call(c: &mut Client, call: Call) -> Result<pb::syscall_result::Value, tonic::Status> {
    let resp = c.execute_syscall(req(call)).await?.into_inner();
    match resp.outcome {
        Some(pb::syscall_response::Outcome::Ok(pb::SyscallResult { value: Some(v) })) => Ok(v),
        other => panic!("unexpected response {other:?}"),
    }
}

/// The `SyscallError` inside a failed call's status.
pub fn error_of(status: &tonic::Status) -> pb::SyscallError {
    agentos_client::syscall_error(status)
        .unwrap_or_else(|| panic!("status without SyscallError details: {status:?}"))
}

pub fn read(path: &str) -> Call {
    Call::Read(pb::ReadFile {
        path: path.into(),
        offset: 0,
        length: 0,
    })
}

pub fn write(path: &str, data: &[u8]) -> Call {
    Call::Write(pb::WriteFile {
        path: path.into(),
        data: data.to_vec(),
        append: false,
    })
}

pub fn data(v: pb::syscall_result::Value) -> Vec<u8> {
    match v {
        pb::syscall_result::Value::Data(d) => d,
        other => panic!("expected data, got {other:?}"),
    }
}

/// Whether the test runs as root (CI does; privileged tests must not skip there).
/// Set by `cargo xtask test` for its second pass, as an ordinary user.
pub const ROOTLESS_PASS: &str = "AGENTOS_TEST_ROOTLESS";

/// Whether the tests run as root (full isolation) rather than as an ordinary user
/// (the rootless sandbox, limits by rlimit); `cargo xtask test` runs the suites
/// that hold in both modes once each way.
pub fn privileged() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A binary of this workspace: from `$AGENTOS_TEST_BIN_DIR` when set (where
/// `cargo xtask test` stages copies an unprivileged test user can reach), else
/// where cargo built it.
pub fn bin(name: &str, built: &str) -> PathBuf {
    match std::env::var_os("AGENTOS_TEST_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => PathBuf::from(built),
    }
}

/// The kernel daemon's binary.
pub fn kernel_bin() -> PathBuf {
    bin("agentos-kernel", env!("CARGO_BIN_EXE_agentos-kernel"))
}

pub fn require_root(test: &str) -> bool {
    if privileged() {
        return true;
    }
    if std::env::var_os(ROOTLESS_PASS).is_some() {
        eprintln!("skipping {test} in the rootless pass: it needs root, and ran in the root pass");
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root, and CI runs as root: failing instead of skipping"
    );
    eprintln!("skipping {test}: needs root");
    false
}

/// Host files below `dir` whose names start with the temp-file prefix.
pub fn temp_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_name()
                .to_string_lossy()
                .starts_with(agentos_kernel::vfs::local::TMP_PREFIX)
            {
                out.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}
