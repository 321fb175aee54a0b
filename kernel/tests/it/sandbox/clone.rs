//! How a sandbox is made: cloned into its cgroup with a cgroup namespace rooted there,
//! the fallback when `clone3` is missing, typed set-up failures that leave nothing, many
//! spawns leaving no process, the portable backend, and the host probe.

use super::*;

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
        "sandbox::clone::clone_fallback_child",
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

/// `spawn_viewed` shows the parent init's finished view while the program has not started:
/// what the parent reads at `/proc/PID/root` then is the view, and init has no child yet.
#[test]
fn the_view_is_shown_to_the_parent_before_the_program_runs() {
    use std::os::unix::fs::MetadataExt;
    let host = std::fs::metadata("/").unwrap();
    let mut seen = None;
    let sb = Sandbox(Some(
        sandbox::spawn_viewed(
            &spec(&["id"]),
            |_| Ok(()),
            |pid| {
                let root = std::fs::metadata(format!("/proc/{pid}/root/")).unwrap();
                let children =
                    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
                seen = Some(((root.dev(), root.ino()), children));
            },
        )
        .unwrap(),
    ));
    let o = wait(sb);
    assert_id_line(o.stdout.trim());
    let (root, children) = seen.expect("the view was never announced");
    assert_ne!(
        root,
        (host.dev(), host.ino()),
        "the parent saw the host's root"
    );
    assert_eq!(children.trim(), "", "the program was already forked");
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
    let status = p.handle.wait().unwrap();
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
