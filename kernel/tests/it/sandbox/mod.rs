//! The sandbox, proven from outside: `agentos-probe` runs inside a sandbox started
//! with the library's `spawn` (no daemon) and tries one forbidden thing at a time;
//! each attempt sits beside a control showing the same attempt works where it is
//! granted. Every sandbox is SIGKILLed and reaped by a guard, and every host
//! directory or cgroup a test makes is removed by one, also when the test panics.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read},
    os::{
        fd::{AsFd, OwnedFd},
        unix::{fs::MetadataExt, process::CommandExt},
    },
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use agentos_kernel::sandbox::{self, ChildStep, SandboxSpec, SpawnError, Spawned, StdioMode};

use crate::util::{privileged, require_root};

mod clone;
mod init;
mod refusals;
mod rootless;
mod walls;

/// The unprivileged host ids sandboxes run as in these tests: as root, ids of the
/// test's choosing; rootless, the test user's own (the only ones it can map).
fn ids() -> (u32, u32) {
    if privileged() {
        (42_420, 42_420)
    } else {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    }
}

fn probe_bin() -> PathBuf {
    crate::util::bin("agentos-probe", env!("CARGO_BIN_EXE_agentos-probe"))
}

/// A spec running the probe with `args`, the probe binary granted read-only.
fn spec(args: &[&str]) -> SandboxSpec<'static> {
    let mut argv = vec!["agentos-probe".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let (uid, gid) = ids();
    let mut s = SandboxSpec::new(probe_bin(), argv, uid, gid);
    s.read.push(probe_bin());
    s
}

/// A host directory for one test, removed on drop; `agentos-test-sandbox-*`.
fn test_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("agentos-test-sandbox-{name}-"))
        .tempdir()
        .expect("tempdir")
}

fn chown(p: &Path) {
    let (uid, gid) = ids();
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
}

/// A spawned sandbox; SIGKILLed and reaped on drop unless it was waited for.
struct Sandbox(Option<Spawned>);

impl Sandbox {
    fn get(&self) -> &Spawned {
        self.0.as_ref().expect("running")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            signal(&s, libc::SIGKILL);
            let _ = s.handle.wait();
        }
    }
}

fn signal(s: &Spawned, sig: i32) {
    // Through the pidfd: ESRCH (already dead) is fine.
    let _ = s.handle.signal(sig);
}

/// What a finished sandbox said.
#[derive(Debug)]
struct Output {
    stdout: String,
    stderr: String,
    /// The program's wait status, as relayed by init.
    status: i32,
    /// Init's own wait status.
    init: i32,
}

fn read_all(fd: Option<OwnedFd>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(fd) = fd {
            let _ = std::fs::File::from(fd).read_to_string(&mut s);
        }
        s
    })
}

fn wait(mut sb: Sandbox) -> Output {
    let mut s = sb.0.take().expect("running");
    drop(s.stdin.take());
    let out = read_all(s.stdout.take());
    let err = read_all(s.stderr.take());
    let init = s.handle.wait().expect("waitid");
    let status = sandbox::relayed_status(s.status.as_ref().expect("status pipe").as_fd())
        .expect("status pipe")
        .expect("init relayed the status");
    Output {
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        status,
        init,
    }
}

fn start(spec: &SandboxSpec<'_>) -> Sandbox {
    Sandbox(Some(
        sandbox::spawn(spec, |_| Ok(())).unwrap_or_else(|e| panic!("spawn: {e}")),
    ))
}

/// Runs a spec to completion; returns its stdout, trimmed.
fn run(spec: &SandboxSpec<'_>) -> String {
    finish(start(spec))
}

/// Runs a spec behind the walls only (no namespaces) to completion.
fn run_walls(spec: &SandboxSpec<'_>) -> String {
    finish(Sandbox(Some(
        sandbox::spawn_walls(spec, |_| Ok(())).unwrap_or_else(|e| panic!("spawn_walls: {e}")),
    )))
}

/// Waits for a sandbox that must succeed; returns its stdout, trimmed.
fn finish(sb: Sandbox) -> String {
    let o = wait(sb);
    assert_eq!(o.status, 0, "{o:?}");
    assert_eq!(o.init, 0, "{o:?}");
    o.stdout.trim().to_string()
}

/// Runs the probe with `args` in a default sandbox plus `grant` read-only.
fn inside(args: &[&str], read: &[&Path]) -> String {
    let mut s = spec(args);
    s.read.extend(read.iter().map(|p| p.to_path_buf()));
    run(&s)
}

/// Runs the probe on the host, as the sandbox's uid or as root (root only when
/// the tests run as root: rootless, the control runs as the test user).
fn outside(args: &[&str], as_root: bool) -> String {
    assert!(!as_root || privileged(), "a root control in a rootless run");
    let mut c = Command::new(probe_bin());
    c.args(args);
    if !as_root && privileged() {
        let (uid, gid) = ids();
        c.uid(uid).gid(gid);
    }
    let o = c.output().expect("run the probe on the host");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn hex(s: &str) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The probe's `id` line: the sandbox's ids; as root with no supplementary group
/// left, rootless with the user's own (which the kernel forbids dropping there).
fn assert_id_line(line: &str) {
    let (uid, gid) = ids();
    let want = format!("INFO uid={uid} gid={gid} groups=");
    if privileged() {
        assert_eq!(line, want);
    } else {
        assert!(line.starts_with(&want), "{line}");
    }
}

/// No sandboxed program may take a real-time scheduling policy, whatever the host let
/// the kernel's user: its `RLIMIT_RTPRIO` is 0. The test first raises its own to 50 where
/// it may (root with `CAP_SYS_RESOURCE`; this project's VMs withhold that capability even
/// from root, so there the host's 0 is all it sees, and it says so).
#[test]
fn a_sandboxed_program_has_no_real_time_priority() {
    let raised = libc::rlimit {
        rlim_cur: 50,
        rlim_max: 50,
    };
    // SAFETY: setrlimit reads one rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTPRIO, &raised) } != 0 {
        eprintln!(
            "a_sandboxed_program_has_no_real_time_priority: cannot raise RLIMIT_RTPRIO here \
             ({}): the sandbox's 0 is also the host's",
            std::io::Error::last_os_error()
        );
    }
    let (uid, gid) = ids();
    let argv = ["sh", "-c", "ulimit -r"].map(String::from).to_vec();
    let spec = SandboxSpec::new("/bin/sh", argv, uid, gid);
    assert_eq!(run(&spec), "0");
}
