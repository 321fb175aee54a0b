//! Paths that try to leave their mount are refused with a clear error, and the
//! secret outside is never returned.

use std::{
    os::unix::{ffi::OsStrExt, fs::symlink},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};
use tonic::Code;

use crate::util::{Daemon, call, data, error_of, read, write};

const SECRET: &[u8] = b"TOP-SECRET-OUTSIDE-THE-MOUNT";

/// A directory outside every mount holding a secret file.
fn outside(d: &Daemon) -> std::path::PathBuf {
    let o = d.dir.path().join("outside");
    std::fs::create_dir_all(&o).unwrap();
    std::fs::write(o.join("secret"), SECRET).unwrap();
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotdot_and_malformed_paths_are_invalid_arguments() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    outside(&d);
    let long = format!("/{}", "a/".repeat(2100));
    let long_name = format!("/{}", "n".repeat(256));
    for bad in [
        "../outside/secret",
        "/../../outside/secret",
        "/a/../../b",
        "a\0b",
        long.as_str(),
        long_name.as_str(),
    ] {
        let st = call(&mut c, read(bad)).await.expect_err(bad);
        assert_eq!(st.code(), Code::InvalidArgument, "{bad:?}: {st:?}");
        let e = error_of(&st);
        assert_eq!(e.syscall, "read");
        assert!(e.message.contains("invalid path"), "{}", e.message);
    }
    // Writes are refused the same way, and nothing appears outside.
    let st = call(&mut c, write("../../outside/planted", b"x"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(!d.dir.path().join("outside/planted").exists());
}

async fn escape_suite(d: &Daemon) {
    let mut c = d.client().await;
    let out = outside(d);
    let files = d.files();
    symlink(&out, files.join("abs")).unwrap();
    symlink("../../outside", files.join("rel")).unwrap();
    symlink("/proc/self/root", files.join("procroot")).unwrap();
    std::fs::create_dir(files.join("sub")).unwrap();
    symlink("../ok.txt", files.join("sub/up")).unwrap();
    std::fs::write(files.join("ok.txt"), b"inside").unwrap();

    for p in [
        "/abs/secret",
        "/rel/secret",
        &format!("/procroot{}/secret", out.display()),
    ] {
        let st = call(&mut c, read(p)).await.expect_err(p);
        assert_eq!(st.code(), Code::PermissionDenied, "{p}: {st:?}");
        assert!(
            error_of(&st).message.contains("outside its mount")
                || error_of(&st).message.contains("refused")
        );
        let st = call(&mut c, write(&format!("{p}-new"), b"x"))
            .await
            .expect_err(p);
        assert_eq!(st.code(), Code::PermissionDenied, "{p}: {st:?}");
        let st = call(&mut c, Call::Stat(pb::StatFile { path: p.into() }))
            .await
            .expect_err(p);
        assert_eq!(st.code(), Code::PermissionDenied, "{p}: {st:?}");
    }
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "nothing was created outside"
    );
    // A symlink that stays inside the mount still works.
    assert_eq!(
        data(call(&mut c, read("/sub/up")).await.unwrap()),
        b"inside"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_out_of_the_mount_are_refused_on_io_uring() {
    escape_suite(&Daemon::start(&[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_out_of_the_mount_are_refused_on_the_portable_backend() {
    escape_suite(&Daemon::start(&["--vfs-backend", "portable"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_magic_links_are_refused() {
    // Mount the host's /proc: `self/root` there is a magic link to the daemon's root.
    let d = Daemon::start(&["--mount", "/hostproc=/proc"]);
    let mut c = d.client().await;
    let st = call(&mut c, read("/hostproc/self/root/etc/hostname"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    let st = call(&mut c, read("/hostproc/self/cwd/kernel.token"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    // Plain /proc files are readable: the mount works, only magic links are refused.
    let Value::Data(v) = call(&mut c, read("/hostproc/self/comm")).await.unwrap() else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&v).starts_with("agentos"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_swapped_in_after_the_check_never_leaks() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let out = outside(&d);
    let files = d.files();
    std::fs::create_dir(files.join("d")).unwrap();
    std::fs::write(files.join("d/secret"), b"inside").unwrap();
    symlink(&out, files.join("swap")).unwrap();

    // Swap `d` (a real directory) and `swap` (a symlink out) atomically, forever.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (a, b) = (files.join("d"), files.join("swap"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &a,
                    nix::fcntl::AT_FDCWD,
                    &b,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let (mut inside, mut refused) = (0, 0);
    for _ in 0..1500 {
        match call(&mut c, read("/d/secret")).await {
            Ok(v) => {
                let v = data(v);
                assert_ne!(
                    v, SECRET,
                    "the secret outside the mount leaked through a swapped symlink"
                );
                assert_eq!(v, b"inside");
                inside += 1;
            }
            Err(st) => {
                assert!(
                    matches!(st.code(), Code::PermissionDenied | Code::NotFound),
                    "{st:?}"
                );
                refused += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 100, "the race barely ran ({swaps} swaps)");
    assert!(
        inside > 0 && refused > 0,
        "both outcomes must occur: {inside} inside, {refused} refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_names_are_listed_lossily_and_flagged() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name");
    std::fs::write(d.files().join(name), b"x").unwrap();
    let Value::Listing(l) = call(&mut c, Call::List(pb::ListDirectory { path: "/".into() }))
        .await
        .unwrap()
    else {
        panic!()
    };
    let e = l
        .entries
        .iter()
        .find(|e| e.name.starts_with("bad-"))
        .expect("listed");
    assert!(!e.utf8);
    assert_eq!(e.name, "bad-\u{fffd}-name");
    // The lossy name does not resolve to the file (nor to anything else).
    let st = call(&mut c, read(&format!("/{}", e.name)))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
}

// Escapes from the sandbox, with the host kernel's evidence: each attempt a managed process
// makes is refused, and an event says which wall refused it and names the managed process
// (the one the kernel started, `managed_pid`), whichever of its descendants tried.

mod evidence {
    use std::{collections::BTreeSet, time::Duration};

    use agentos_proto::v1 as pb;
    use tokio_stream::StreamExt as _;

    use crate::util::{Client, Daemon, collect, require_root, spawn, watch_live_probes};

    fn probe_bin() -> String {
        crate::util::bin("agentos-probe", env!("CARGO_BIN_EXE_agentos-probe"))
            .to_str()
            .expect("a UTF-8 path")
            .to_owned()
    }

    /// Runs `sh -c script` (which may run the probe) as a managed process named `name`, to
    /// its end; its pid and stdout.
    async fn run_sh(c: &mut Client, name: &str, script: &str, read: &[&str]) -> (u32, String) {
        let mut read_paths = vec![probe_bin()];
        read_paths.extend(read.iter().map(|p| (*p).to_owned()));
        let spec = pb::ProcessSpec {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            read_paths,
            name: name.into(),
            ..Default::default()
        };
        let pid = spawn(c, spec).await.pid;
        let (stdout, stderr, exit) = collect(c, pid).await;
        assert_eq!(exit.code, Some(0), "{stdout} {stderr} {exit:?}");
        (pid, stdout)
    }

    /// A daemon started with `args`, a client of it, and its live events (the probes live).
    async fn watching(args: &[&str]) -> (Daemon, Client, tonic::Streaming<pb::KernelEvent>) {
        let d = Daemon::start(args);
        let mut c = d.client().await;
        let events = watch_live_probes(&mut c).await;
        (d, c, events)
    }

    /// A host directory (`agentos-test-evidence-*` in the temporary directory) holding a
    /// file `secret` that says `text`; the directory, and the file's path.
    fn host_secret(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-evidence-")
            .tempdir()
            .unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, text).unwrap();
        let secret = secret.to_str().expect("a UTF-8 path").to_owned();
        (dir, secret)
    }

    /// The host kernel walls' denials attributed to managed process `pid`, until its exit
    /// event (the ring keeps order: its refusals come before it).
    async fn denials_of(
        events: &mut tonic::Streaming<pb::KernelEvent>,
        pid: u32,
    ) -> Vec<pb::KernelEvent> {
        let mut out = Vec::new();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .expect("the managed process's exit within 10 s")
                .expect("the stream stays open")
                .expect("an event");
            if ev.kind == pb::EventKind::Exit as i32 && ev.pid == pid {
                return out;
            }
            if ev.kind == pb::EventKind::Denial as i32 && ev.managed_pid == pid {
                out.push(ev);
            }
        }
    }

    fn wall(ev: &pb::KernelEvent) -> &str {
        ev.denial.as_ref().map_or("", |d| d.wall.as_str())
    }

    fn access(ev: &pb::KernelEvent) -> &str {
        ev.denial.as_ref().map_or("", |d| d.access.as_str())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_childs_refused_connect_names_the_managed_process() {
        if !require_root("a_childs_refused_connect_names_the_managed_process") {
            return;
        }
        let (_d, mut c, mut events) = watching(&[]).await;
        // The shell forks the probe (a command list is not exec'd in place), so the connect
        // is made by a grandchild of the managed process (the sandbox's init).
        let script = format!("{} connect 192.0.2.1:80; true", probe_bin());
        let (pid, out) = run_sh(&mut c, "evidence-connect", &script, &[]).await;
        assert_eq!(out.trim(), "DENIED EPERM");
        let denials = denials_of(&mut events, pid).await;
        let ev = denials
            .iter()
            .find(|ev| wall(ev) == "cgroup_connect")
            .unwrap_or_else(|| panic!("no cgroup_connect denial for {pid}: {denials:?}"));
        assert_eq!(access(ev), "connect 192.0.2.1:80/tcp");
        assert_eq!(ev.app, "evidence-connect");
        assert_ne!(
            ev.pid, pid,
            "the connect was the managed process's descendant's"
        );
        assert_ne!(ev.cgroup_id, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_syscall_seccomp_refuses_is_reported_as_seccomps() {
        if !require_root("each_syscall_seccomp_refuses_is_reported_as_seccomps") {
            return;
        }
        let (_d, mut c, mut events) = watching(&[]).await;
        // Refused whatever the arguments, refused for these arguments, and one the filter
        // lets through (it fails on its bad fd with EBADF: no refusal).
        let refused = ["mount", "bpf", "ptrace", "keyctl", "setns", "unshare"];
        let by_argument = [("clone-newuser", "clone"), ("socket-packet", "socket")];
        let mut names: Vec<&str> = refused.to_vec();
        names.extend(by_argument.iter().map(|(n, _)| *n));
        names.push("read");
        let script = format!("{} syscall {}", probe_bin(), names.join(" "));
        let (pid, out) = run_sh(&mut c, "evidence-seccomp", &script, &[]).await;
        for n in refused.iter().chain(by_argument.iter().map(|(n, _)| n)) {
            assert!(out.contains(&format!("{n} DENIED EPERM")), "{n}: {out}");
        }
        assert!(out.contains("read DENIED EBADF"), "{out}");

        let denials = denials_of(&mut events, pid).await;
        let seen: BTreeSet<&str> = denials
            .iter()
            .filter(|ev| wall(ev) == "seccomp")
            .map(access)
            .collect();
        let want: BTreeSet<String> = refused
            .iter()
            .copied()
            .chain(by_argument.iter().map(|(_, call)| *call))
            .map(|call| format!("syscall {call}"))
            .collect();
        assert_eq!(
            seen,
            want.iter().map(String::as_str).collect(),
            "{denials:#?}"
        );
        for ev in &denials {
            assert_eq!(ev.app, "evidence-seccomp");
            let d = ev.denial.as_ref().expect("a denial");
            // A call refused for some arguments only is said to be inferred.
            let inferred = d.access == "syscall clone" || d.access == "syscall socket";
            assert_eq!(d.reason.contains("inferred"), inferred, "{d:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_loop_of_refused_calls_is_rate_limited_and_counted() {
        if !require_root("a_loop_of_refused_calls_is_rate_limited_and_counted") {
            return;
        }
        let (_d, mut c, mut events) = watching(&[]).await;
        let flood = vec!["bpf"; 200].join(" ");
        // 200 refusals in well under a second, then one more in the next second.
        let script = format!(
            "{p} syscall {flood} >/dev/null; sleep 1.2; {p} syscall bpf",
            p = probe_bin()
        );
        let (pid, out) = run_sh(&mut c, "evidence-flood", &script, &[]).await;
        assert_eq!(out.trim(), "bpf DENIED EPERM");
        let all = denials_of(&mut events, pid).await;
        let seccomp = all.iter().filter(|ev| wall(ev) == "seccomp").count();
        // "…; N earlier refusals were not reported (at most 64 a second)".
        let held_of = |ev: &pb::KernelEvent| -> usize {
            let reason = ev.denial.as_ref().map_or("", |d| d.reason.as_str());
            reason
                .split_once("; ")
                .and_then(|(_, rest)| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let limit = agentos_ebpf_common::refusal::REFUSALS_PER_SECOND as usize;
        let at = all
            .iter()
            .position(|ev| held_of(ev) > 0)
            .unwrap_or_else(|| panic!("no event says what was held back: {all:#?}"));
        assert!(
            at <= limit,
            "{at} events in the flood's second, more than the limit {limit}"
        );
        let held: usize = all.iter().map(held_of).sum();
        assert_eq!(
            seccomp + held,
            201,
            "every refusal is either reported or counted: {seccomp} reported, {held} held"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_landlock_refuses_is_reported_as_landlocks() {
        if !require_root("a_read_landlock_refuses_is_reported_as_landlocks") {
            return;
        }
        // Walls only: no mount namespace hides the file, so landlock is what refuses it.
        let (_d, mut c, mut events) = watching(&["--sandbox", "walls"]).await;
        let (dir, secret) = host_secret("world-readable");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let secret = secret.as_str();
        let script = format!("{} read {secret}", probe_bin());
        let (pid, out) = run_sh(&mut c, "evidence-landlock", &script, &[]).await;
        assert_eq!(out.trim(), "DENIED EACCES");
        let denials = denials_of(&mut events, pid).await;
        let ev = denials
            .iter()
            .find(|ev| wall(ev) == "landlock")
            .unwrap_or_else(|| panic!("no landlock denial: {denials:#?}"));
        let d = ev.denial.as_ref().expect("a denial");
        assert_eq!(d.access, format!("openat {secret}"));
        assert_eq!(d.path, secret);
        assert!(d.reason.contains("inferred"), "{d:?}");
        assert_eq!(ev.app, "evidence-landlock");
        // The same read by the host succeeds: the file was readable, only the wall said no.
        assert_eq!(std::fs::read_to_string(secret).unwrap(), "world-readable");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_host_file_outside_the_view_is_reported_as_the_mount_namespaces() {
        if !require_root("a_host_file_outside_the_view_is_reported_as_the_mount_namespaces") {
            return;
        }
        // The full sandbox: its own mount namespace, whose view (a private /tmp among it)
        // holds nothing of the host's temporary directory.
        let (_d, mut c, mut events) = watching(&[]).await;
        let (dir, secret) = host_secret("on the host");
        let secret = secret.as_str();
        // The control: a path missing on the host as well fails the same way inside.
        let absent = dir.path().join("absent");
        let absent = absent.to_str().unwrap();
        let script = format!("{p} read {secret}; {p} read {absent}", p = probe_bin());
        let (pid, out) = run_sh(&mut c, "evidence-mountns", &script, &[]).await;
        assert_eq!(out, "DENIED ENOENT\nDENIED ENOENT\n");
        let denials = denials_of(&mut events, pid).await;
        let by_namespace: Vec<_> = denials
            .iter()
            .filter(|ev| wall(ev) == "mount_namespace")
            .collect();
        let ev = by_namespace
            .iter()
            .find(|ev| ev.denial.as_ref().is_some_and(|d| d.path == secret))
            .unwrap_or_else(|| panic!("no mount_namespace denial of {secret}: {denials:#?}"));
        let d = ev.denial.as_ref().expect("a denial");
        assert_eq!(d.access, format!("open {secret}"));
        assert!(d.reason.contains("inferred from ENOENT"), "{d:?}");
        assert_eq!(
            d.capability, "",
            "no grant changes a running sandbox's view"
        );
        assert_eq!(ev.app, "evidence-mountns");
        assert_ne!(
            ev.pid, pid,
            "the probe, a child of the managed process, opened it"
        );
        assert!(
            by_namespace
                .iter()
                .all(|ev| ev.denial.as_ref().is_some_and(|d| d.path != absent)),
            "a path that exists nowhere was reported: {by_namespace:#?}"
        );
        // The file is there on the host: only the view hid it.
        assert_eq!(std::fs::read_to_string(secret).unwrap(), "on the host");
    }
}
