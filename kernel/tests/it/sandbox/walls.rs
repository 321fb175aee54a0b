//! The walls-only rung (no namespaces): landlock, seccomp and `no_new_privs` still keep a
//! program to its grants, refuse privilege, signals and TCP, and give it a terminal.

use super::*;

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
    // The list is sorted, and pids wrap: after the suite's thousands of spawns this
    // process may be the first or the last entry, so compare whole entries.
    let pids = walls(&["pids"], &[]);
    let listed = pids.strip_prefix("INFO ").unwrap_or_default();
    assert!(listed.split(',').any(|p| p == me), "{me} not in {pids}");
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
