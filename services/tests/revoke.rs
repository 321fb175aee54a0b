//! `agentos revoke` against a real kernel: a held capability goes (exit 0), one not
//! held is refused with a one-line reason (exit 1), and no kernel is exit 2.

mod common;

use common::{Kernel, text};

#[test]
fn revokes_a_held_capability_and_refuses_one_not_held() {
    let k = Kernel::start();
    let spec = r#"{"spec":{"argv":["/bin/sleep","30"],"capabilities":["time","sysinfo"]}}"#;
    let out = k.agentos("call", &["spawn", "--json", spec, "--compact"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pid = v["process"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid in {v}"))
        .to_string();

    let out = k.agentos("revoke", &[&pid, "time"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Gone now: a second revoke is refused and says why.
    let out = k.agentos("revoke", &[&pid, "time"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("does not hold") && err.contains("time"),
        "{err}"
    );
    // The other grant is still there.
    let out = k.agentos("revoke", &[&pid, "sysinfo"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = k.agentos("revoke", &[&pid, "bogus:"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let _ = k.agentos(
        "call",
        &["kill", "--json", &format!(r#"{{"pid":{pid},"tree":true}}"#)],
        b"",
    );
}

#[test]
fn without_a_kernel_it_exits_2() {
    let dir = common::scratch_dir();
    let out = std::process::Command::new(common::bin("agentos"))
        .args(["revoke", "--data-dir"])
        .arg(dir.path())
        .args(["1", "time"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no kernel is running"));
}
