//! `agentos run` against a real kernel: exit codes pass through, limits are
//! reported plainly, stdin and Ctrl+C are forwarded, grants open exactly what they
//! name, and a missing kernel is a one-line error with exit code 2.

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::{Kernel, bin, if_inet6, text};

/// True when running as root; otherwise says the test is skipped (and fails in CI,
/// which runs as root).
fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root (CI runs as root)"
    );
    eprintln!("skipping {test}: needs root");
    false
}

fn run(k: &Kernel, args: &[&str], stdin: &[u8]) -> Output {
    k.agentos("run", args, stdin)
}

#[test]
fn exit_codes_output_and_stdin_pass_through() {
    if !root_or_skip("exit_codes_output_and_stdin_pass_through") {
        return;
    }
    let k = Kernel::start();
    let out = run(
        &k,
        &["--", "sh", "-c", "echo to-out; echo to-err >&2; exit 7"],
        b"",
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "to-out\n");
    assert_eq!(text(&out.stderr), "to-err\n");
    let out = run(&k, &["--", "/bin/cat"], b"piped through\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "piped through\n");
    // An argv that would be shell syntax reaches the program as one literal argument.
    let out = run(&k, &["--", "/bin/echo", "a; rm -rf / $(id)"], b"");
    assert_eq!(text(&out.stdout), "a; rm -rf / $(id)\n");
}

/// Anything short of full isolation is said on stderr, and a kernel with no wall
/// runs nothing without `--allow-unconfined`.
#[test]
fn weaker_isolation_is_said_and_no_wall_needs_consent() {
    let k = Kernel::start_with(&["--sandbox", "walls"]);
    let out = run(&k, &["--", "/bin/true"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("isolation: walls only — landlock, seccomp and no_new_privs"),
        "{}",
        text(&out.stderr)
    );
    let k = Kernel::start_with(&["--sandbox", "portable"]);
    let out = run(&k, &["--", "/bin/true"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("(agentos run --allow-unconfined)"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&k, &["--allow-unconfined", "--", "/bin/true"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("isolation: unconfined — capability checks only"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn limits_are_reported_plainly() {
    if !root_or_skip("limits_are_reported_plainly") {
        return;
    }
    let k = Kernel::start();
    let out = run(
        &k,
        &[
            "--memory",
            "64M",
            "--",
            "/bin/dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=200M",
            "count=1",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(137), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("killed: out of memory (limit 64 MiB)"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &k,
        &[
            "--pids",
            "3",
            "--",
            "/bin/sh",
            "-c",
            "for i in 1 2 3 4 5; do /bin/sleep 1 & done; wait",
        ],
        b"",
    );
    assert!(
        text(&out.stderr).contains("process limit (3 pids)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn grants_open_exactly_what_they_name() {
    if !root_or_skip("grants_open_exactly_what_they_name") {
        return;
    }
    let k = Kernel::start();
    let shared = k.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(k.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(shared.join("note"), "granted\n").unwrap();
    std::fs::set_permissions(shared.join("note"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let note = shared.join("note");
    let note = note.to_str().unwrap();
    let out = run(&k, &["--", "/bin/cat", note], b"");
    assert_ne!(
        out.status.code(),
        Some(0),
        "readable without a grant: {}",
        text(&out.stdout)
    );
    let out = run(
        &k,
        &["--read", shared.to_str().unwrap(), "--", "/bin/cat", note],
        b"",
    );
    assert_eq!(text(&out.stdout), "granted\n", "{}", text(&out.stderr));
    let made = shared.join("made");
    let cmd = format!("echo new > {}", made.display());
    let out = run(
        &k,
        &[
            "--read",
            shared.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            &cmd,
        ],
        b"",
    );
    assert_ne!(out.status.code(), Some(0), "a read grant allowed a write");
    assert!(!made.exists());
    let out = run(
        &k,
        &[
            "--write",
            shared.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            &cmd,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "new\n");
}

#[test]
fn ctrl_c_is_forwarded() {
    if !root_or_skip("ctrl_c_is_forwarded") {
        return;
    }
    let k = Kernel::start();
    let mut c = Command::new(bin("agentos"))
        .arg("run")
        .arg("--data-dir")
        .arg(k.data())
        .args(["--", "/bin/sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "agentos run did not end after Ctrl+C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "killed by SIGINT is 128 + 2");
}

#[test]
fn without_a_kernel_it_says_how_to_start_one_and_exits_2() {
    let dir = common::scratch_dir();
    let out = Command::new(bin("agentos"))
        .arg("run")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no kernel is running") && err.contains("agentos up"),
        "{err}"
    );
}

/// Wrong arguments are usage errors (exit 2) that name the argument and what it
/// takes, before any kernel is asked: a network mode outside the four, an `--env`
/// without a key or an `=`, a size with an unknown suffix.
#[test]
fn wrong_arguments_are_usage_errors_that_say_what_is_expected() {
    let dir = common::scratch_dir();
    for (args, says) in [
        (
            &["--net", "weird"][..],
            "possible values: none, private, shared, bridged",
        ),
        (&["--env", "FOO"][..], "\"FOO\" is not KEY=VALUE"),
        (&["--env", "=x"][..], "is not KEY=VALUE"),
        (&["--memory", "12Q"][..], "unknown size suffix"),
    ] {
        let out = Command::new(bin("agentos"))
            .arg("run")
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .args(["--", "/bin/true"])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("no kernel is running"), "{args:?}: {err}");
    }
}

#[test]
fn a_sandboxed_program_calls_its_own_kernel_socket_within_its_grants() {
    if !root_or_skip("a_sandboxed_program_calls_its_own_kernel_socket_within_its_grants") {
        return;
    }
    let k = Kernel::start();
    let agentos = bin("agentos");
    let dir = agentos.parent().unwrap().to_str().unwrap().to_owned();
    let agentos = agentos.to_str().unwrap().to_owned();
    // Granted `time`: the call from inside the sandbox succeeds.
    let out = k.agentos(
        "run",
        &[
            "--read",
            &dir,
            "--grant",
            "time",
            "--",
            &agentos,
            "call",
            "time",
            "--compact",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("rfc3339"),
        "{}",
        text(&out.stdout)
    );
    // Not granted `sysinfo`: refused by the kernel, with the reason.
    let out = k.agentos(
        "run",
        &[
            "--read",
            &dir,
            "--grant",
            "time",
            "--",
            &agentos,
            "call",
            "system_info",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("PERMISSION_DENIED") && text(&out.stderr).contains("SystemInfo"),
        "{}",
        text(&out.stderr)
    );
}

/// A bare program name is looked up on the sandbox's PATH inside its view, not on the
/// caller's: a `sh` first on the caller's PATH (a shim outside the view, like a
/// pyenv shim under /root) is not the one run.
#[test]
fn a_bare_name_is_found_on_the_sandboxs_path_not_the_callers() {
    if !root_or_skip("a_bare_name_is_found_on_the_sandboxs_path") {
        return;
    }
    let k = Kernel::start();
    let shims = tempfile::Builder::new()
        .prefix("agentos-test-shims-")
        .tempdir()
        .unwrap();
    let shim = shims.path().join("sh");
    std::fs::write(&shim, "#!/bin/false\n").unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(bin("agentos"))
        .arg("run")
        .arg("--data-dir")
        .arg(k.data())
        .args(["--", "sh", "-c", "echo in-the-view; exit 3"])
        .env("PATH", format!("{}:/usr/bin:/bin", shims.path().display()))
        .env_remove("AGENTOS_KERNEL_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "in-the-view\n");
    // A name on no directory of the sandbox's PATH is a clear refusal.
    let out = run(&k, &["--", "agentos-no-such-program"], b"");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("not an executable file in any directory of the sandbox's PATH"),
        "{}",
        text(&out.stderr)
    );
}

/// A private process's network is said on stderr: its mode and both addresses, the
/// IPv6 one being what its eth0 holds, read from inside (`/proc/net/if_inet6` is its
/// own namespace's).
#[test]
fn the_network_a_process_got_is_said() {
    if !root_or_skip("the_network_a_process_got_is_said") {
        return;
    }
    let k = Kernel::start();
    let out = run(
        &k,
        &["--net", "private", "--", "/bin/cat", "/proc/net/if_inet6"],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let said = err
        .lines()
        .find_map(|l| l.strip_prefix("network: "))
        .unwrap_or_else(|| panic!("no network line: {err}"));
    let [mode, v4, v6] = said.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{said}")
    };
    assert_eq!(mode, "private");
    assert!(v4.starts_with("10.213."), "{said}");
    let v6: std::net::Ipv6Addr = v6.parse().unwrap_or_else(|_| panic!("{said}"));
    assert_eq!(
        if_inet6(&text(&out.stdout), "eth0"),
        vec![v6],
        "{}",
        text(&out.stdout)
    );
    // Mode none has no address to say.
    let out = run(&k, &["--", "/bin/true"], b"");
    assert!(
        !text(&out.stderr).contains("network:"),
        "{}",
        text(&out.stderr)
    );
}
