//! Clients we did not write: Python's `grpcio` (grpc C-core) over the kernel's Unix
//! socket, with default options. C-core ≥ 1.57 (like grpc-java and grpc-swift) sends
//! the percent-encoded socket path as `:authority`, which stock h2 answers with
//! `RST_STREAM PROTOCOL_ERROR` (hyperium/h2#487); the workspace's patched h2 serves
//! it. `cargo xtask setup` installs grpcio in a venv and `cargo xtask test` names its
//! interpreter in `AGENTOS_GRPCIO_PYTHON`.

use std::process::Command;

use agentos_proto::v1 as pb;
use prost::Message as _;

use crate::util::{Daemon, skip};

/// Calls `Doctor` with grpcio's generic `unary_unary` on the empty request's bytes
/// and writes the reply's bytes, hex-encoded, to stdout.
const CALL_DOCTOR: &str = r#"
import sys, grpc
channel = grpc.insecure_channel("unix:" + sys.argv[1])
doctor = channel.unary_unary("/agentos.kernel.v1.KernelService/Doctor")
try:
    print(doctor(b"", timeout=20).hex())
except grpc.RpcError as e:
    sys.exit(f"{e.code()}: {e.details()}")
"#;

#[test]
fn grpcio_with_default_options_is_served_over_the_unix_socket() {
    let test = "grpcio_with_default_options_is_served";
    let Some(python) = std::env::var_os("AGENTOS_GRPCIO_PYTHON") else {
        return skip(
            test,
            "AGENTOS_GRPCIO_PYTHON is unset (`cargo xtask test` sets it)",
        );
    };
    let d = Daemon::start(&[]);
    let out = Command::new(&python)
        .arg("-c")
        .arg(CALL_DOCTOR)
        .arg(d.socket())
        .output()
        .unwrap_or_else(|e| panic!("running {python:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "grpcio's call failed: {stderr}");
    let hex = String::from_utf8_lossy(&out.stdout);
    let bytes: Vec<u8> = (0..hex.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).expect("hex from python"))
        .collect();
    let report = pb::DoctorReport::decode(bytes.as_slice()).expect("a DoctorReport");
    assert!(
        report.subsystems.contains_key("cgroups") && !report.version.is_empty(),
        "the reply is not the kernel's doctor report: {report:?}"
    );
}
