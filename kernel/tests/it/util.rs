//! Test helpers: a daemon guard that kills the daemon even when a test panics, and
//! one-line syscall wrappers.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub use agentos_client::Client;
use agentos_proto::v1::{
    self as pb, process_input::Msg as In, process_output::Msg as Out, syscall::Call,
};
use tokio_stream::StreamExt;

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

/// The whole HTTP/1.1 response to `GET path` from `addr` (the daemon's `--metrics`).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
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
        Self::start_in(&std::env::temp_dir(), args)
    }

    /// [`Daemon::start`] with its data directory in memory (`/dev/shm`, where there is
    /// one), for a test that moves so many bytes that a host disk busy with other
    /// writes would throttle it to a crawl (CI saw a 512 MiB copy move < 100 MiB in
    /// 60 s): what it tests is not the disk.
    pub fn start_in_memory(args: &[&str]) -> Self {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            Self::start_in(shm, args)
        } else {
            Self::start(args)
        }
    }

    fn start_in(parent: &Path, args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-")
            .tempdir_in(parent)
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
        proc_status(self.pid(), "VmHWM") * 1024
    }

    /// Resident set size of the daemon now, in bytes.
    pub fn rss(&self) -> u64 {
        proc_status(self.pid(), "VmRSS") * 1024
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

/// The number a field of `/proc/PID/status` starts with (`VmRSS:  1234 kB` is
/// 1234, `Threads:  7` is 7).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Checks that `doctor` says the eBPF probes are live, and subscribes to their events.
pub async fn watch_live_probes(c: &mut Client) -> tonic::Streaming<pb::KernelEvent> {
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let ebpf = &report.subsystems["ebpf"];
    assert!(ebpf.available, "eBPF probes are not live: {}", ebpf.reason);
    c.watch_events(pb::WatchEventsRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Starts a managed process with `CreateProcess`.
pub async fn spawn(c: &mut Client, spec: pb::ProcessSpec) -> pb::ProcessInfo {
    c.create_process(pb::SpawnProcess { spec: Some(spec) })
        .await
        .expect("spawn")
        .into_inner()
}

/// Attaches and collects (stdout, stderr, exit).
pub async fn collect(c: &mut Client, pid: u32) -> (String, String, pb::ExitInfo) {
    let input = tokio_stream::iter([pb::ProcessInput {
        msg: Some(In::Attach(pid)),
    }]);
    let mut out = c.process_io(input).await.unwrap().into_inner();
    let (mut o, mut e) = (Vec::new(), Vec::new());
    while let Some(m) = tokio::time::timeout(Duration::from_secs(60), out.next())
        .await
        .expect("output within 60 s")
    {
        match m.unwrap().msg {
            Some(Out::Output(ch)) if ch.stream == pb::OutputStream::Stderr as i32 => {
                e.extend(ch.data)
            }
            Some(Out::Output(ch)) => o.extend(ch.data),
            Some(Out::Exit(x)) => {
                return (
                    String::from_utf8_lossy(&o).into(),
                    String::from_utf8_lossy(&e).into(),
                    x,
                );
            }
            None => {}
        }
    }
    panic!("the output stream ended without an exit");
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

/// Kills `pid`'s tree and waits (10 s at most) until the kernel has reaped it.
pub async fn kill_and_reap(c: &mut Client, pid: u32) {
    kill_tree(c, pid).await;
    let wait = Call::Wait(pb::WaitProcess {
        pid,
        timeout_ms: 10_000,
    });
    call(c, wait).await.expect("wait for the killed process");
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
        // Not a skip: the test ran in the root pass.
        eprintln!("{test}: root only; it ran in the root pass");
        return false;
    }
    skip(test, "needs root");
    false
}

pub use agentos_kernel::testing::skip;

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

/// A process seen on the host: its pid and its start time (`/proc/PID/stat` field
/// 22), so that a reused pid is not mistaken for a survivor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPid {
    pub pid: u32,
    pub start: u64,
}

/// The stat fields after the command's closing parenthesis (state first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

impl HostPid {
    pub fn of(pid: u32) -> Option<Self> {
        let f = stat_fields(pid)?;
        Some(Self {
            pid,
            start: f[19].parse().expect("starttime in /proc/PID/stat"),
        })
    }

    /// Still running: the same process (same start time) exists and is no zombie.
    pub fn alive(&self) -> bool {
        stat_fields(self.pid).is_some_and(|f| f[0] != "Z" && f[19] == self.start.to_string())
    }
}

/// `pid` and all its descendants, from the host's `/proc/PID/task/*/children`.
pub fn host_tree(pid: u32) -> Vec<HostPid> {
    let mut out = vec![];
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        out.extend(HostPid::of(p));
        for t in std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            stack.extend(
                children
                    .split_whitespace()
                    .map(|c| c.parse::<u32>().unwrap()),
            );
        }
    }
    out
}

/// A program that makes a three-level tree below the sandbox's init (sh → sh →
/// sleep, and a sleep at each level), all of which must die with it.
pub const THREE_LEVELS: &[&str] = &[
    "/bin/sh",
    "-c",
    "/bin/sh -c '/bin/sleep 300 & /bin/sleep 300; :' & /bin/sleep 300; :",
];

/// Waits until the tree at `pid` holds the three sleeps of [`THREE_LEVELS`] (with
/// the sandbox's init, when the rung has one, and both shells), and returns it.
pub async fn wait_for_tree(pid: u32) -> Vec<HostPid> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = host_tree(pid);
        let sleeps = t
            .iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
                    .is_ok_and(|c| c.trim() == "sleep")
            })
            .count();
        if sleeps == 3 && t.len() >= 5 {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the tree at {pid} did not grow to three levels: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The inode of a process's mount namespace, when the caller may see it.
pub fn mnt_ns(pid: u32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|m| m.ino())
}

/// Processes on the host whose mount namespace is one of `ns`.
///
/// Namespace inode numbers are reused once a namespace dies, and other tests run
/// beside this one: a process that descends from another live `agentos-kernel`
/// (another test's daemon, not `daemon`) lives in a namespace of that kernel's,
/// whatever its number, and is not counted.
pub fn processes_in_mnt_ns(ns: &[u64], daemon: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("reading /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| mnt_ns(*p).is_some_and(|n| ns.contains(&n)))
        .filter(|p| !under_another_kernel(*p, daemon))
        .collect()
}

/// Whether `pid` belongs to someone else: walking up its parents, another live
/// `agentos-kernel` than `daemon` (another test's kernel), or this test process
/// itself before `daemon` (a sandbox another test in this binary spawned with the
/// library). A survivor of `daemon`'s reaches `daemon` or pid 1 first.
fn under_another_kernel(pid: u32, daemon: u32) -> bool {
    let field = |p: u32, i: usize| -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        match i {
            0 => head.split_once('(').map(|(_, comm)| comm.to_owned()),
            n => rest.split_whitespace().nth(n).map(str::to_owned),
        }
    };
    let me = std::process::id();
    let mut p = pid;
    for _ in 0..64 {
        let Some(parent) = field(p, 1).and_then(|pp| pp.parse::<u32>().ok()) else {
            return false;
        };
        if parent <= 1 || parent == daemon {
            return false;
        }
        if parent == me || field(parent, 0).as_deref() == Some("agentos-kernel") {
            return true;
        }
        p = parent;
    }
    false
}

/// The lines of `pid`'s `/proc/PID/mountinfo` that name anything below `dir`
/// (as mount point or as the mounted root). An unreadable mountinfo is a failure.
pub fn mounts_below(pid: &str, dir: &Path) -> Vec<String> {
    let path = format!("/proc/{pid}/mountinfo");
    let info = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let dir = dir.to_string_lossy();
    info.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(3).is_some_and(|r| r.starts_with(&*dir))
                || f.get(4).is_some_and(|m| m.starts_with(&*dir))
        })
        .map(str::to_owned)
        .collect()
}

/// The number of open fds of a process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/fd: {e}"))
        .count()
}

/// Subdirectories of a cgroup directory; a directory that cannot be read (other
/// than not existing at all) is a failure, never "clean".
pub fn cgroup_children(dir: &Path) -> Vec<std::ffi::OsString> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => panic!("reading {}: {e}", dir.display()),
    }
}

/// Every directory named like the kernel's cgroup `kernel_cg` in each hierarchy
/// (the v2 tree and every v1 controller), for checks that must cover them all.
pub fn kernel_cgroup_dirs(kernel_cg: &Path) -> Vec<PathBuf> {
    let name = kernel_cg.file_name().expect("a cgroup name");
    let mut out = vec![kernel_cg.to_owned()];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path().join(name);
        if e.file_type().is_ok_and(|t| t.is_dir()) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The one live process's kernel socket (those of exited ones go shortly after).
pub async fn process_socket(d: &Daemon) -> std::path::PathBuf {
    let dir = d.data_dir().join("run/proc");
    for _ in 0..200 {
        let socks: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sock"))
            .collect();
        if let [one] = &socks[..] {
            return one.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no single process socket in {}", dir.display());
}
