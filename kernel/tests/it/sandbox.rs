//! The sandbox, proven from outside: `agentos-probe` runs inside a sandbox started
//! with the library's `spawn` (no daemon) and tries one forbidden thing at a time;
//! each attempt sits beside a control showing the same attempt works where it is
//! granted. Every sandbox is SIGKILLed and reaped by a guard, and every host
//! directory or cgroup a test makes is removed by one, also when the test panics.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read},
    os::{
        fd::{AsFd, AsRawFd, OwnedFd},
        unix::{fs::MetadataExt, process::CommandExt},
    },
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use agentos_kernel::sandbox::{self, ChildStep, SandboxSpec, SpawnError, Spawned, StdioMode};

use crate::util::{privileged, require_root};

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
            let _ = sandbox::wait_pidfd(s.pidfd.as_fd());
        }
    }
}

fn signal(s: &Spawned, sig: i32) {
    // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            s.pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
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
    let init = sandbox::wait_pidfd(s.pidfd.as_fd()).expect("waitid");
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

#[test]
fn reads_outside_the_grants_are_refused() {
    // /etc/shadow: root-owned 0640 and covered; /etc/passwd beside it is readable.
    assert_eq!(inside(&["read", "/etc/shadow"], &[]), "DENIED EACCES");
    assert_eq!(inside(&["read", "/etc/gshadow"], &[]), "DENIED EACCES");
    assert!(inside(&["read", "/etc/passwd"], &[]).starts_with("ALLOWED "));
    // /root does not exist in the view; a system directory lists fine.
    assert_eq!(inside(&["ls", "/root"], &[]), "DENIED ENOENT");
    assert_eq!(inside(&["read", "/root/.bashrc"], &[]), "DENIED ENOENT");
    assert!(inside(&["ls", "/usr"], &[]).contains("bin"));
    // A world-readable file the test made: invisible outside the grants, readable
    // once granted (and readable on the host by the same uid).
    let d = test_dir("read");
    let secret = d.path().join("outside").join("secret");
    std::fs::create_dir(d.path().join("outside")).unwrap();
    std::fs::write(&secret, b"world-readable").unwrap();
    std::fs::create_dir(d.path().join("inside")).unwrap();
    std::fs::write(d.path().join("inside/ok"), b"granted").unwrap();
    let secret_s = secret.to_str().unwrap();
    let inside_dir = d.path().join("inside");
    assert_eq!(inside(&["read", secret_s], &[&inside_dir]), "DENIED ENOENT");
    assert_eq!(
        inside(
            &["read", inside_dir.join("ok").to_str().unwrap()],
            &[&inside_dir]
        ),
        "ALLOWED 7 bytes"
    );
    assert_eq!(inside(&["read", secret_s], &[&secret]), "ALLOWED 14 bytes");
    assert_eq!(outside(&["read", secret_s], false), "ALLOWED 14 bytes");
    // Nor through /proc: our own root does not have it, and init's root (the same
    // one) is not even ours to follow (init is not dumpable).
    assert_eq!(
        inside(
            &["read", &format!("/proc/self/root{secret_s}")],
            &[&inside_dir]
        ),
        "DENIED ENOENT"
    );
    assert_eq!(
        inside(
            &["read", &format!("/proc/1/root{secret_s}")],
            &[&inside_dir]
        ),
        "DENIED EACCES"
    );
}

#[test]
fn writes_outside_the_write_grants_are_refused() {
    let d = test_dir("write");
    let ro = d.path().join("ro");
    let rw = d.path().join("rw");
    std::fs::create_dir(&ro).unwrap();
    std::fs::create_dir(&rw).unwrap();
    chown(&ro);
    chown(&rw);
    let in_rw = rw.join("made-inside");
    let tmp_name = format!("/tmp/agentos-test-sandbox-private-{}", std::process::id());
    let mut s = spec(&[]);
    s.read.push(ro.clone());
    s.write.push(rw.clone());
    let mut attempt = |path: &str| {
        s.argv = vec!["agentos-probe".into(), "write".into(), path.into()];
        run(&s)
    };
    // Writable by the uid on the host, but granted read-only.
    assert_eq!(attempt(ro.join("x").to_str().unwrap()), "DENIED EROFS");
    for p in ["/usr/x", "/etc/x", "/x", "/dev/x", "/proc/x", "/work-x"] {
        let v = attempt(p);
        assert!(v.starts_with("DENIED "), "{p}: {v}");
    }
    assert_eq!(attempt("/etc/passwd"), "DENIED EROFS");
    // Controls: the write grant and the private /tmp.
    assert_eq!(attempt(in_rw.to_str().unwrap()), "ALLOWED written");
    let meta = std::fs::metadata(&in_rw).expect("the file reached the host");
    assert_eq!((meta.uid(), meta.gid()), ids());
    assert_eq!(attempt(&tmp_name), "ALLOWED written");
    assert!(!Path::new(&tmp_name).exists(), "/tmp is private");
}

#[test]
fn host_pids_are_invisible_and_unsignalable() {
    // Only init (1) and the probe (2).
    assert_eq!(inside(&["pids"], &[]), "INFO 1,2");
    let me = std::process::id().to_string();
    assert_eq!(inside(&["kill", &me], &[]), "DENIED ESRCH");
    assert_eq!(inside(&["kill", "self"], &[]), "ALLOWED pid 2");
    // Control: on the host the same uid sees the test's pid (EPERM, not ESRCH;
    // rootless the sandbox's uid is the test's own, so the signal is allowed).
    let host = outside(&["kill", &me], false);
    if privileged() {
        assert_eq!(host, "DENIED EPERM");
    } else {
        assert!(host.starts_with("ALLOWED "), "{host}");
    }
}

#[test]
fn ptrace_is_refused() {
    assert_eq!(inside(&["ptrace-child"], &[]), "DENIED EPERM");
    assert!(outside(&["ptrace-child"], false).starts_with("ALLOWED "));
}

#[test]
fn mount_is_refused_even_with_cap_sys_admin() {
    assert_eq!(inside(&["mount", "/tmp"], &[]), "DENIED EPERM");
    let mut s = spec(&["mount", "/tmp"]);
    s.keep_caps = vec![caps::Capability::CAP_SYS_ADMIN];
    assert_eq!(run(&s), "DENIED EPERM");
    // Control: root may mount (in a private mount namespace of its own); so may an
    // ordinary user in a user namespace of its own.
    let d = test_dir("mount");
    let userns: &[&str] = if privileged() { &[] } else { &["-r"] };
    let o = Command::new("unshare")
        .args(userns)
        .args(["-m", "--propagation", "private"])
        .arg(probe_bin())
        .args(["mount", d.path().to_str().unwrap()])
        .output()
        .expect("unshare(1)");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "ALLOWED mounted and unmounted"
    );
}

#[test]
fn bpf_is_refused() {
    assert_eq!(inside(&["bpf"], &[]), "DENIED EPERM");
    if privileged() {
        assert!(outside(&["bpf"], true).starts_with("ALLOWED fd "));
    }
}

#[test]
fn capabilities_cannot_be_gained() {
    assert_eq!(
        inside(&["status"], &[]),
        "INFO CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 \
         CapBnd=0000000000000000 CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2"
    );
    assert_id_line(&inside(&["id"], &[]));
    // uid 0 is not even mapped; a new user namespace (full caps there) is refused.
    assert!(inside(&["setuid", "0"], &[]).starts_with("DENIED "));
    assert_eq!(inside(&["unshare-user"], &[]), "DENIED EPERM");
    // Control: a kept capability is really there, and only it.
    let mut s = spec(&["status"]);
    s.keep_caps = vec![caps::Capability::CAP_NET_BIND_SERVICE];
    assert_eq!(
        run(&s),
        "INFO CapInh=0000000000000400 CapPrm=0000000000000400 CapEff=0000000000000400 \
         CapBnd=0000000000000400 CapAmb=0000000000000400 NoNewPrivs=1 Seccomp=2"
    );
}

#[test]
fn raw_sockets_are_refused_even_with_cap_net_raw() {
    for what in ["raw-socket", "packet-socket"] {
        assert_eq!(inside(&[what], &[]), "DENIED EPERM", "{what}");
        let mut s = spec(&[what]);
        s.keep_caps = vec![caps::Capability::CAP_NET_RAW];
        assert_eq!(run(&s), "DENIED EPERM", "{what} with CAP_NET_RAW");
        if privileged() {
            assert_eq!(
                outside(&[what], true),
                "ALLOWED socket",
                "{what} as host root"
            );
        }
    }
}

#[test]
fn host_loopback_listener_is_unreachable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    // The sandbox has its own loopback, up, where nothing listens on that port.
    assert_eq!(inside(&["connect", &addr], &[]), "DENIED ECONNREFUSED");
    assert!(inside(&["loopback"], &[]).starts_with("ALLOWED connected to 127.0.0.1:"));
    assert_eq!(outside(&["connect", &addr], false), "ALLOWED connected");
}

#[test]
fn argv_and_env_cannot_inject() {
    let d = test_dir("inject");
    let rw = d.path().join("rw");
    std::fs::create_dir(&rw).unwrap();
    chown(&rw);
    let pwned = rw.join("pwned");
    let p = pwned.to_str().unwrap();
    let tricky = [
        format!("; touch {p}"),
        format!("$(touch {p})"),
        format!("`touch {p}`"),
        format!("| touch {p}"),
        "a b\tc\nd".to_string(),
        String::new(),
        "'\"\\".to_string(),
    ];
    let mut args = vec!["argv"];
    args.extend(tricky.iter().map(String::as_str));
    let mut s = spec(&args);
    s.write.push(rw.clone());
    let want: Vec<String> = tricky.iter().map(|a| hex(a)).collect();
    assert_eq!(run(&s), format!("INFO {} {}", tricky.len(), want.join(" ")));
    assert!(!pwned.exists(), "an argument reached a shell");

    // The loader variables are dropped, the rest arrives; nothing of the test's
    // own environment leaks in.
    let mut s = spec(&["env", "LD_PRELOAD"]);
    s.env = vec![
        ("LD_PRELOAD".into(), "/nonexistent/evil.so".into()),
        ("LD_LIBRARY_PATH".into(), "/tmp".into()),
        ("BASH_ENV".into(), "/tmp/rc".into()),
        ("AGENTOS_PROBE_VAR".into(), "fine".into()),
    ];
    let sb = start(&s);
    assert_eq!(
        sb.get().dropped_env,
        ["LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV"]
    );
    let o = wait(sb);
    assert_eq!(o.stdout.trim(), "DENIED UNSET");
    assert_eq!(o.stderr, "", "the loader saw LD_PRELOAD");
    s.argv = vec![
        "agentos-probe".into(),
        "env".into(),
        "AGENTOS_PROBE_VAR".into(),
    ];
    assert_eq!(run(&s), format!("ALLOWED {}", hex("fine")));
    s.argv = vec!["agentos-probe".into(), "env-names".into()];
    assert_eq!(run(&s), "INFO AGENTOS_PROBE_VAR");
}

/// The seccomp filter, call by call, as bubblewrap's `try-syscall.c` proves it:
/// with every capability kept (so only the filter can say EPERM where the kernel
/// checks capabilities in the sandbox's namespaces), each filtered call fails with
/// EPERM (clone3: ENOSYS); the same calls from the host as root fail with the
/// kernel's own EFAULT/EBADF/EINVAL (or ENOSYS where this kernel lacks the call,
/// which the filter answering EPERM first proves too); allowed calls fail inside
/// exactly as on the host.
#[test]
fn seccomp_filter_call_by_call() {
    if !require_root("seccomp_filter_call_by_call") {
        return;
    }
    // Written here from the policy (ARCHITECTURE.md, sandbox), not read from the
    // filter: dropping a rule from the filter must fail this test.
    let denied: Vec<&str> = vec![
        // The view is fixed: old and new mount API.
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        // No new or other namespaces.
        "unshare",
        "setns",
        // No reaching into other processes.
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "pidfd_getfd",
        // No kernel attack surface the program has no business with.
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "keyctl",
        "add_key",
        "request_key",
        // No changing the host.
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "swapon",
        "swapoff",
        "acct",
        "quotactl",
        "quotactl_fd",
        "syslog",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "open_by_handle_at",
        "name_to_handle_at",
        "iopl",
        "ioperm",
    ];
    // And the other way: a rule added to the filter gets a line here too.
    let unlisted: Vec<&str> = sandbox::denied_syscalls()
        .map(|(n, _)| n)
        .filter(|n| !denied.contains(n))
        .collect();
    assert!(
        unlisted.is_empty(),
        "the filter denies calls this test does not name: {unlisted:?}"
    );
    let by_argument = [
        "clone-newns",
        "clone-newuts",
        "clone-newipc",
        "clone-newuser",
        "clone-newpid",
        "clone-newnet",
        "clone-newcgroup",
        "socket-packet",
        "socket-raw-inet",
        "socket-raw-inet6",
        "ioctl-tiocsti",
        "ioctl-tiocsti-high-bits",
        "ioctl-tioclinux",
    ];
    let allowed = [
        "read",
        "listen",
        "fchmodat",
        "prctl",
        "ioctl-tiocnotty",
        "clone-plain",
        "socket-inet-stream",
        "socket-unix",
        "kill",
        "landlock_create_ruleset",
    ];
    let mut names: Vec<&str> = denied.clone();
    names.extend(by_argument);
    names.push("clone3");
    names.extend(allowed);
    let mut args = vec!["syscall"];
    args.extend(&names);

    let parse = |out: &str| -> std::collections::BTreeMap<String, String> {
        out.lines()
            .map(|l| {
                let (n, v) = l.split_once(' ').unwrap_or((l, ""));
                (n.to_string(), v.to_string())
            })
            .collect()
    };
    let mut s = spec(&args);
    s.keep_caps = caps::all().into_iter().collect();
    let inside = parse(&run(&s));
    // The walls-only rung installs the same filter: checked there too.
    // A limit of any errno-based check: where the kernel itself refuses a call with
    // EPERM for want of a host capability (syslog, reboot, kexec, iopl, ... inside a
    // user namespace or without capabilities), a dropped rule does not show here.
    // Rules whose call would otherwise fail differently (ptrace, bpf, unshare, ...)
    // do: removing `ptrace` from the filter fails this test.
    let walls = parse(&run_walls(&s));
    let host = parse(&outside(&args, true));
    assert_eq!(
        inside.len(),
        names.len(),
        "the probe knows every name: {inside:?}"
    );

    let mut report = Vec::new();
    for n in denied.iter().chain(&by_argument) {
        let (i, h) = (&inside[*n], &host[*n]);
        report.push(format!(
            "{n:24} inside: {i:16} walls: {:16} host: {h}",
            walls[*n]
        ));
        assert_eq!(i, "DENIED EPERM", "{n} is filtered");
        assert_eq!(
            walls[*n], "DENIED EPERM",
            "{n} is filtered behind the walls only"
        );
        assert!(
            h.starts_with("DENIED ") && h != "DENIED EPERM",
            "{n}: on the host, as root, the call must fail on its bad arguments, got {h}"
        );
    }
    assert_eq!(inside["clone3"], "DENIED ENOSYS");
    assert_eq!(host["clone3"], "DENIED EFAULT");
    for n in allowed {
        let i = &inside[n];
        report.push(format!("{n:24} inside: {i:16} host: {}", host[n]));
        assert!(
            i.starts_with("DENIED ") && i != "DENIED EPERM" && i != "DENIED ENOSYS",
            "{n} is allowed, so it fails on its bad arguments, got {i}"
        );
        assert_eq!(i, &host[n], "{n} behaves as on the host");
    }
    println!("{}", report.join("\n"));
}

#[test]
fn init_forwards_signals_and_relays_the_status() {
    // SIGTERM to init reaches the program (pid 2 dies of it, as a normal process
    // would); init exits 128+15.
    let sb = start(&spec(&["sleep", "30"]));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    signal(sb.get(), libc::SIGTERM);
    let o = wait(sb);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(
        libc::WIFSIGNALED(o.status) && libc::WTERMSIG(o.status) == libc::SIGTERM,
        "{o:?}"
    );
    assert!(
        libc::WIFEXITED(o.init) && libc::WEXITSTATUS(o.init) == 128 + 15,
        "{o:?}"
    );
    // An exit code goes through unchanged.
    let o = wait(start(&spec(&["exit", "7"])));
    assert_eq!((o.status, o.init), (7 << 8, 7 << 8));
    // SIGKILL of init ends the sandbox; nothing is relayed.
    let mut sb = start(&spec(&["sleep", "30"]));
    let s = sb.0.take().unwrap();
    signal(&s, libc::SIGKILL);
    let init = sandbox::wait_pidfd(s.pidfd.as_fd()).unwrap();
    assert!(libc::WIFSIGNALED(init) && libc::WTERMSIG(init) == libc::SIGKILL);
    assert_eq!(
        sandbox::relayed_status(s.status.as_ref().unwrap().as_fd()).unwrap(),
        None
    );
}

#[test]
fn init_reaps_orphans() {
    // The grandchild is reparented to pid 1 of the sandbox, which reaps it.
    assert!(inside(&["orphan"], &[]).starts_with("ALLOWED reaped pid "));
}

#[test]
fn pty_mode_gives_a_controlling_terminal_that_resizes() {
    let mut s = spec(&["winch"]);
    s.stdio = StdioMode::Pty { rows: 24, cols: 80 };
    let sb = start(&s);
    assert!(sb.get().stdout.is_none() && sb.get().stdin.is_none());
    let master = sb.get().pty.as_ref().unwrap().try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(std::fs::File::from(master)).lines() {
            match line {
                Ok(l) => {
                    let _ = tx.send(l.trim_end().to_string());
                }
                Err(_) => break, // EIO once the slave is gone
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a line from the pty")
    };
    assert_eq!(next(), "INFO rows=24 cols=80");
    sandbox::resize_pty(sb.get().pty.as_ref().unwrap().as_fd(), 50, 132).unwrap();
    assert_eq!(next(), "INFO rows=50 cols=132 signal=SIGWINCH");
    let o = wait(sb);
    assert_eq!(o.status, 0);

    let mut s = spec(&["tty"]);
    s.stdio = StdioMode::Pty { rows: 10, cols: 20 };
    let sb = start(&s);
    let master = sb.get().pty.as_ref().unwrap().try_clone().unwrap();
    let mut line = String::new();
    BufReader::new(std::fs::File::from(master))
        .read_line(&mut line)
        .unwrap();
    // The terminal is the first of the sandbox's own devpts, so ttyname finds it.
    assert_eq!(
        line.trim_end(),
        "INFO tty=1 rows=10 cols=20 devtty=ALLOWED name=/dev/pts/0"
    );
    assert_eq!(wait(sb).status, 0);
}

#[test]
fn the_view_holds_only_what_was_granted() {
    let d = test_dir("view");
    let rw = d.path().join("rw");
    std::fs::create_dir(&rw).unwrap();
    chown(&rw);
    let mut s = spec(&["ls", "/"]);
    s.write.push(rw.clone());
    let top = |p: &Path| {
        p.components()
            .nth(1)
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned()
    };
    let mut expected: BTreeSet<String> = sandbox::SYSTEM_DIRS
        .iter()
        .filter(|d| Path::new(d).exists())
        .map(|d| d.trim_start_matches('/').to_string())
        .collect();
    expected.extend(["dev", "proc", "tmp"].map(String::from));
    expected.insert(top(&probe_bin()));
    expected.insert(top(&rw));
    let listed = run(&s);
    let got: BTreeSet<String> = listed
        .strip_prefix("ALLOWED ")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    assert_eq!(got, expected);
    s.argv = vec!["agentos-probe".into(), "ls".into(), "/dev".into()];
    assert_eq!(
        run(&s),
        "ALLOWED fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero"
    );
    // Working directory and host name as asked.
    s.cwd = rw.clone();
    s.hostname = "probe-box".into();
    s.argv = vec!["agentos-probe".into(), "cwd".into()];
    assert_eq!(run(&s), format!("ALLOWED {}", rw.display()));
    s.argv = vec!["agentos-probe".into(), "hostname".into()];
    assert_eq!(run(&s), "INFO probe-box");
}

/// A cgroup v2 directory the test made, removed on drop.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn v2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
}

#[test]
fn clone_into_cgroup_and_a_cgroup_namespace_rooted_there() {
    if !require_root("clone_into_cgroup_and_a_cgroup_namespace_rooted_there") {
        return;
    }
    let root = v2_root().expect("a cgroup v2 hierarchy");
    let name = format!("agentos-test-sandbox-cg-{}", std::process::id());
    let cg = TestCgroup(root.join(&name));
    std::fs::create_dir(&cg.0).unwrap();
    let dir = std::fs::File::open(&cg.0).unwrap();
    let mut s = spec(&["cat", "/proc/self/cgroup"]);
    s.cgroup_v2 = Some(dir.as_fd());
    let mut placed_in = String::new();
    let sb = Sandbox(Some(
        sandbox::spawn(&s, |pid| {
            placed_in = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
            let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map"))?;
            let uid = ids().0.to_string();
            assert_eq!(
                map.split_whitespace().collect::<Vec<_>>(),
                [uid.as_str(), uid.as_str(), "1"]
            );
            Ok(())
        })
        .unwrap(),
    ));
    let o = wait(sb);
    assert!(placed_in.contains(&format!("0::/{name}\n")), "{placed_in}");
    // Inside, the cgroup namespace's root is that cgroup.
    assert!(o.stdout.trim().starts_with("ALLOWED "), "{o:?}");
    let hexed = o.stdout.trim().strip_prefix("ALLOWED ").unwrap();
    let bytes: Vec<u8> = (0..hexed.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hexed[i..i + 2], 16).unwrap())
        .collect();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.lines().any(|l| l == "0::/"), "{text}");
}

/// `clone3` hidden behind ENOSYS, as container runtimes' seccomp profiles do:
/// re-runs [`clone_fallback_child`] in a copy of this test binary under such a
/// filter. The sandbox comes up through `clone`, and lands in its cgroup through
/// `cgroup.procs` instead of `CLONE_INTO_CGROUP`.
#[test]
fn clone_fallback_when_clone3_is_enosys() {
    if !require_root("clone_fallback_when_clone3_is_enosys") {
        return;
    }
    let root = v2_root().expect("a cgroup v2 hierarchy");
    let name = format!("agentos-test-sandbox-fallback-{}", std::process::id());
    let cg = TestCgroup(root.join(&name));
    std::fs::create_dir(&cg.0).unwrap();
    // ld nr; jeq clone3 → ERRNO(ENOSYS); allow.
    let filter = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_clone3 as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "sandbox::clone_fallback_child",
        "--ignored",
        "--nocapture",
    ])
    .env("AGENTOS_TEST_FALLBACK_CGROUP", &cg.0);
    // SAFETY: the hook only makes two syscalls on memory prepared before the fork.
    unsafe {
        c.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(&format!(
            "FALLBACK clone3=false cgroup=0::/{name} ran=INFO uid={}",
            ids().0
        )),
        "{out}"
    );
}

#[test]
#[ignore = "run by clone_fallback_when_clone3_is_enosys, under its seccomp filter"]
fn clone_fallback_child() {
    let Some(cg) = std::env::var_os("AGENTOS_TEST_FALLBACK_CGROUP") else {
        return;
    };
    let dir = std::fs::File::open(cg).unwrap();
    let mut s = spec(&["id"]);
    s.cgroup_v2 = Some(dir.as_fd());
    let mut placed_in = String::new();
    let spawned = sandbox::spawn(&s, |pid| {
        placed_in = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        Ok(())
    })
    .unwrap();
    let clone3 = spawned.clone3;
    let o = wait(Sandbox(Some(spawned)));
    println!(
        "FALLBACK clone3={clone3} cgroup={} ran={}",
        placed_in
            .lines()
            .find(|l| l.starts_with("0::"))
            .unwrap_or("?"),
        o.stdout.trim()
    );
}

#[test]
fn setup_failures_are_typed_and_leave_nothing() {
    let d = test_dir("fail");
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // A program that is not there, inside a grant: execve's ENOENT, named.
    let (uid, gid) = ids();
    let mut s = SandboxSpec::new(bin.join("missing"), vec!["missing".into()], uid, gid);
    s.read.push(bin.clone());
    let e = sandbox::spawn(&s, |_| Ok(())).unwrap_err();
    let SpawnError::Setup {
        pid, step, detail, ..
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!(*step, ChildStep::Exec);
    assert!(detail.ends_with("/bin/missing"), "{e}");
    assert!(e.is_invalid_input(), "{e}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} was reaped"
    );

    // A working directory that does not exist in the view.
    let mut s = spec(&["cwd"]);
    s.cwd = "/tmp/not-there".into();
    let e = sandbox::spawn(&s, |_| Ok(())).unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::Setup {
                step: ChildStep::Chdir,
                ..
            }
        ),
        "{e}"
    );

    // The caller's hook fails: the child is killed and reaped.
    let mut seen = 0;
    let e = sandbox::spawn(&spec(&["id"]), |pid| {
        seen = pid;
        Err(std::io::Error::other("no cgroup for you"))
    })
    .unwrap_err();
    assert!(matches!(e, SpawnError::Placement { .. }), "{e}");
    assert!(seen > 0 && !Path::new(&format!("/proc/{seen}")).exists());

    // Refused before anything exists.
    for (s, what) in [
        (
            SandboxSpec::new("probe", vec!["p".into()], uid, gid),
            "relative program",
        ),
        (
            SandboxSpec::new("/usr/bin/true", vec![], uid, gid),
            "empty argv",
        ),
        (
            SandboxSpec::new("/usr/bin/true", vec!["t".into()], 0, gid),
            "root uid",
        ),
        (
            SandboxSpec::new("/root/tool", vec!["t".into()], uid, gid),
            "outside the view",
        ),
    ] {
        let e = sandbox::spawn(&s, |_| panic!("{what}: nothing may be spawned")).unwrap_err();
        assert!(matches!(e, SpawnError::Spec(_)), "{what}: {e}");
    }
    let mut s = spec(&["id"]);
    s.read.push("/definitely/not/here".into());
    assert!(matches!(
        sandbox::spawn(&s, |_| Ok(())),
        Err(SpawnError::Spec(_))
    ));
}

#[test]
fn many_spawns_leave_no_process_behind() {
    let mut pids = Vec::new();
    for i in 0..30 {
        let sb = start(&spec(&["exit", &(i % 3).to_string()]));
        pids.push(sb.get().pid);
        let o = wait(sb);
        assert_eq!(o.status, (i % 3) << 8);
    }
    // Killed mid-run too.
    for _ in 0..10 {
        let sb = start(&spec(&["sleep", "30"]));
        pids.push(sb.get().pid);
        drop(sb);
    }
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} left behind"
        );
    }
}

#[test]
fn portable_backend_runs_the_same_checks_without_isolation() {
    let mut s = spec(&["id"]);
    s.env = vec![("LD_PRELOAD".into(), "/nonexistent.so".into())];
    let mut p = sandbox::spawn_portable(&s).unwrap();
    assert_eq!(p.dropped_env, ["LD_PRELOAD"]);
    assert!(p.status.is_none());
    let out = read_all(p.stdout.take());
    let status = sandbox::wait_pidfd(p.pidfd.as_fd()).unwrap();
    drop(p);
    assert_eq!(status, 0);
    assert_id_line(out.join().unwrap().trim());
    // The same bad input is refused the same way.
    let mut s = spec(&["id"]);
    s.env = vec![("A".into(), "1".into()), ("A".into(), "2".into())];
    assert!(matches!(
        sandbox::spawn_portable(&s),
        Err(SpawnError::Spec(_))
    ));
    assert!(matches!(
        sandbox::spawn(&s, |_| Ok(())),
        Err(SpawnError::Spec(_))
    ));
}

#[test]
fn probe_reports_the_host() {
    // These hosts allow unprivileged user namespaces: both modes get namespaces.
    let p = sandbox::probe();
    assert!(p.available, "{p:?}");
    assert!(p.reason.contains("namespaces via clone3"), "{p:?}");
    assert_eq!(p.rootless, !privileged(), "{p:?}");
    assert_eq!(p.reason.starts_with("rootless"), !privileged(), "{p:?}");
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

/// The probe with `args` behind the walls only, `read` granted read-only.
fn walls(args: &[&str], read: &[&Path]) -> String {
    let mut s = spec(args);
    s.read.extend(read.iter().map(|p| p.to_path_buf()));
    run_walls(&s)
}

/// The walls-only rung keeps a program to its grants on the host's own tree:
/// landlock alone, proven from outside like the namespaced view.
#[test]
fn walls_only_keep_a_program_to_its_grants() {
    let d = test_dir("walls-fs");
    let (ro, rw, outside) = (
        d.path().join("ro"),
        d.path().join("rw"),
        d.path().join("out"),
    );
    for dir in [&ro, &rw, &outside] {
        std::fs::create_dir(dir).unwrap();
        chown(dir);
    }
    std::fs::write(outside.join("secret"), b"world-readable").unwrap();
    std::fs::write(ro.join("ok"), b"granted").unwrap();
    let secret = outside.join("secret");
    let secret_s = secret.to_str().unwrap();
    // Outside the grants: refused, though the same uid reads it on the host.
    assert_eq!(walls(&["read", secret_s], &[&ro]), "DENIED EACCES");
    assert_eq!(outside_probe(&["read", secret_s]), "ALLOWED 14 bytes");
    assert_eq!(
        walls(&["read", ro.join("ok").to_str().unwrap()], &[&ro]),
        "ALLOWED 7 bytes"
    );
    assert_eq!(walls(&["read", "/etc/shadow"], &[]), "DENIED EACCES");
    assert!(walls(&["read", "/etc/passwd"], &[]).starts_with("ALLOWED "));
    // No rule on `/`: the host's tree cannot even be listed.
    assert_eq!(walls(&["ls", "/"], &[]), "DENIED EACCES");
    assert!(walls(&["ls", "/usr"], &[]).contains("bin"));
    // Writes: only into the write grant; not the host's /tmp, not a read grant.
    let mut s = spec(&[]);
    s.read.push(ro.clone());
    s.write.push(rw.clone());
    let mut attempt = |path: &Path| {
        s.argv = vec![
            "agentos-probe".into(),
            "write".into(),
            path.to_str().unwrap().into(),
        ];
        run_walls(&s)
    };
    assert_eq!(attempt(&rw.join("made")), "ALLOWED written");
    assert_eq!(attempt(&ro.join("x")), "DENIED EACCES");
    assert_eq!(attempt(&outside.join("x")), "DENIED EACCES");
    let host_tmp = PathBuf::from(format!("/tmp/agentos-test-walls-{}", std::process::id()));
    assert_eq!(attempt(&host_tmp), "DENIED EACCES");
    assert!(!host_tmp.exists() && !ro.join("x").exists() && !outside.join("x").exists());
}

/// The walls-only rung refuses what the filter and landlock's scopes refuse; what
/// only namespaces give (a pid namespace) is visibly absent, as documented.
#[test]
fn walls_only_refuse_privilege_signals_and_tcp() {
    assert_eq!(
        walls(&["status"], &[])
            .split_whitespace()
            .filter(|f| f.starts_with("CapEff")
                || f.starts_with("NoNewPrivs")
                || f.starts_with("Seccomp"))
            .collect::<Vec<_>>(),
        ["CapEff=0000000000000000", "NoNewPrivs=1", "Seccomp=2"]
    );
    for what in ["ptrace-child", "bpf", "unshare-user"] {
        assert_eq!(walls(&[what], &[]), "DENIED EPERM", "{what}");
    }
    assert_eq!(walls(&["mount", "/usr"], &[]), "DENIED EPERM");
    // Host pids are visible (no pid namespace) but cannot be signalled: landlock's
    // signal scope, while the same uid may on the host.
    let me = std::process::id().to_string();
    assert!(walls(&["pids"], &[]).contains(&format!(",{me},")));
    assert_eq!(walls(&["kill", &me], &[]), "DENIED EPERM");
    assert!(walls(&["kill", "self"], &[]).starts_with("ALLOWED "));
    // No network namespace either: landlock refuses every TCP connect and bind.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    assert_eq!(walls(&["connect", &addr], &[]), "DENIED EACCES");
    assert_eq!(outside_probe(&["connect", &addr]), "ALLOWED connected");
}

/// PTY mode behind the walls only: the terminal is one of the host's devpts,
/// opened before landlock applies, and usable through the rules' `/dev/pts`.
#[test]
fn walls_only_give_a_working_terminal() {
    let mut s = spec(&["tty"]);
    s.stdio = StdioMode::Pty { rows: 10, cols: 20 };
    let sb = Sandbox(Some(sandbox::spawn_walls(&s, |_| Ok(())).unwrap()));
    let master = sb.get().pty.as_ref().unwrap().try_clone().unwrap();
    let mut line = String::new();
    BufReader::new(std::fs::File::from(master))
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.trim_end()
            .starts_with("INFO tty=1 rows=10 cols=20 devtty=ALLOWED name=/dev/pts/"),
        "{line}"
    );
    assert_eq!(wait(sb).status, 0);
}

/// The probe on the host as the sandbox's uid.
fn outside_probe(args: &[&str]) -> String {
    outside(args, false)
}

/// Rootless with the account's subordinate ids: the program runs as a uid other
/// than the user's, with no supplementary group, and a write grant must be
/// writable by that uid (as at the full rung). `cargo xtask test` gives the
/// rootless pass's user a range and installs `uidmap`.
#[test]
fn rootless_subordinate_ids_run_the_program_as_another_uid() {
    if privileged() {
        eprintln!(
            "rootless_subordinate_ids_run_the_program_as_another_uid: rootless only (the root pass picks its own uid)"
        );
        return;
    }
    let ids = match sandbox::find_subordinate_ids() {
        Ok(ids) => ids,
        Err(why) => {
            crate::util::skip(
                "rootless_subordinate_ids_run_the_program_as_another_uid",
                &format!("no subordinate ids: {why}"),
            );
            return;
        }
    };
    let d = test_dir("subid");
    let (mine, open) = (d.path().join("mine"), d.path().join("open"));
    std::fs::create_dir(&mine).unwrap();
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let mut s = SandboxSpec::new(
        probe_bin(),
        vec!["agentos-probe".into(), "id".into()],
        ids.uid,
        ids.gid,
    );
    s.subordinate = true;
    s.read.push(probe_bin());
    s.write.push(mine.clone());
    s.write.push(open.clone());
    assert_eq!(
        run(&s),
        format!("INFO uid={} gid={} groups=", ids.uid, ids.gid)
    );
    let mut attempt = |p: &Path| {
        s.argv = vec![
            "agentos-probe".into(),
            "write".into(),
            p.to_str().unwrap().into(),
        ];
        run(&s)
    };
    // The user's own directory (0755) is not the program's to write...
    assert_eq!(attempt(&mine.join("x")), "DENIED EACCES");
    // ...and what it writes where it may is owned by its uid on the host.
    assert_eq!(attempt(&open.join("x")), "ALLOWED written");
    let meta = std::fs::metadata(open.join("x")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (ids.uid, ids.gid));
    // Without the flag the same ids are refused: a user maps only their own.
    let mut plain = spec(&["id"]);
    plain.host_uid = ids.uid;
    plain.host_gid = ids.gid;
    assert!(matches!(
        sandbox::spawn(&plain, |_| Ok(())),
        Err(SpawnError::Spec(_))
    ));
}
