//! `agentos call` against a real kernel: JSON in, proto3 JSON out, `--raw` bytes,
//! a failed syscall's error as JSON on stderr with exit code 1, and exit code 2 for
//! an unknown syscall or a missing kernel.

mod common;

use std::process::{Command, Output};

use common::{Kernel, bin, text};
use serde_json::Value;

fn call(k: &Kernel, args: &[&str]) -> Output {
    k.agentos("call", args, b"")
}

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

#[test]
fn writes_reads_and_checks_files() {
    let k = Kernel::start();
    let out = call(
        &k,
        &["write", "--json", r#"{"path":"/tmp/a","data":"aGk="}"#],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The count of bytes written, a uint64: a string in proto3 JSON.
    assert_eq!(json(&out.stdout), serde_json::json!({"count": "2"}));

    let out = call(&k, &["read", "--json", r#"{"path":"/tmp/a"}"#, "--raw"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi");
    // Without --raw, bytes are base64; --compact is one line.
    let out = call(&k, &["read", "--json", r#"{"path":"/tmp/a"}"#, "--compact"]);
    assert_eq!(text(&out.stdout), "{\"data\":\"aGk=\"}\n");

    let out = call(&k, &["exists", "--json", r#"{"path":"/nope"}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out.stdout), serde_json::json!({"flag": false}));

    let out = call(&k, &["time"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(json(&out.stdout)["time"]["rfc3339"].is_string());
}

#[test]
fn a_failed_syscall_prints_its_error_as_json_and_exits_1() {
    let k = Kernel::start();
    let out = call(&k, &["read", "--json", r#"{"path":"/nope"}"#]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let err = json(&out.stderr);
    assert_eq!(err["code"], "ERROR_CODE_NOT_FOUND", "{err}");
    assert_eq!(err["syscall"], "read", "{err}");
    assert_eq!(err["path"], "/nope", "{err}");
}

#[test]
fn an_unknown_syscall_or_bad_json_exits_2() {
    let k = Kernel::start();
    let out = call(&k, &["bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bogus") && err.contains("exists") && err.contains("list_processes"),
        "{err}"
    );
    let out = call(&k, &["exists", "--json", "{path"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn without_a_kernel_it_exits_2() {
    let dir = common::scratch_dir();
    let socket = dir.path().join("kernel.sock");
    let out = Command::new(bin("agentos"))
        .args(["call", "time", "--socket"])
        .arg(&socket)
        .env_remove("AGENTOS_KERNEL_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no kernel is running") && err.contains(&*socket.to_string_lossy()),
        "{err}"
    );
    // The data directory's socket, as for `agentos run`.
    let out = Command::new(bin("agentos"))
        .args(["call", "time", "--data-dir"])
        .arg(dir.path())
        .env_remove("AGENTOS_KERNEL_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no kernel is running") && err.contains("agentos up"),
        "{err}"
    );
}

#[test]
fn the_socket_comes_from_the_environment() {
    let k = Kernel::start();
    let out = Command::new(bin("agentos"))
        .args(["call", "exists", "--json", r#"{"path":"/"}"#])
        .arg("--data-dir")
        .arg(k.dir.path().join("elsewhere"))
        .env("AGENTOS_KERNEL_SOCKET", k.data().join("kernel.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out.stdout), serde_json::json!({"flag": true}));
}
