//! `agentos call`: one syscall on the kernel, with JSON in and JSON out.
//!
//! `agentos call exists --json '{"path": "/tmp/x"}'` builds the `Syscall` arm named
//! `exists` from the arguments (proto3 JSON; `{}` when left out), runs it with
//! `ExecuteSyscall` and prints the `SyscallResult` as JSON ([`syscall_json`] does the
//! mapping). A failed syscall prints its `SyscallError` as JSON on stderr and exits
//! 1; an unknown syscall or bad arguments exit 2, and so does a missing kernel (as
//! for `agentos run`).
//!
//! The kernel is the one on `--socket`, else on `$AGENTOS_KERNEL_SOCKET` (how a
//! managed process reaches its own kernel socket), else the data directory's.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use agentos_client::{Client, SOCKET_ENV};
use agentos_proto::v1::{self as pb, syscall_response::Outcome};
use agentos_services::kernel::syscall_json::{self, Layout};
use anyhow::Context as _;

use super::run::{NO_KERNEL, no_kernel};

/// Exit code when the syscall failed.
const FAILED: u8 = 1;
/// Exit code for an unknown syscall or bad arguments.
const USAGE: u8 = 2;

#[derive(clap::Args)]
pub struct Options {
    /// The syscall, named as in syscall.proto: exists, read, write, spawn, list_processes, time...
    #[arg(value_name = "SYSCALL")]
    syscall: String,
    /// Its arguments as proto3 JSON, e.g. '{"path": "/tmp/x"}' (bytes are base64).
    #[arg(long = "json", value_name = "ARGS", default_value = "{}")]
    args: String,
    /// Print the JSON on one line.
    #[arg(long)]
    compact: bool,
    /// When the result is `data`, write its bytes to stdout as they are.
    #[arg(long)]
    raw: bool,
    /// The kernel's socket (default: $AGENTOS_KERNEL_SOCKET, else kernel.sock in the data directory).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let syscall = match syscall_json::syscall_from_json(&opts.syscall, &opts.args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("agentos call: {e}");
            return Ok(USAGE);
        }
    };
    let layout = if opts.compact {
        Layout::Compact
    } else {
        Layout::Pretty
    };
    let (socket, from) = match (opts.socket, std::env::var_os(SOCKET_ENV)) {
        (Some(s), _) => (s, Some("--socket")),
        (None, Some(s)) if !s.is_empty() => (PathBuf::from(s), Some(SOCKET_ENV)),
        (None, _) => (agentos_client::socket_path(data_dir), None),
    };
    let Ok(mut client) = Client::connect_uds(&socket).await else {
        match from {
            Some(from) => eprintln!(
                "agentos call: no kernel is running on {} (from {from})",
                socket.display()
            ),
            None => eprintln!("{}", no_kernel("call", data_dir)),
        }
        return Ok(NO_KERNEL);
    };
    let name = syscall.call.as_ref().map_or("none", |c| c.name());
    let request = pb::SyscallRequest {
        syscall: Some(syscall),
        timeout_ms: 0,
    };
    let error = match client.execute_syscall(request).await {
        Ok(response) => match response.into_inner().outcome {
            Some(Outcome::Ok(result)) => {
                print_result(&result, layout, opts.raw)?;
                return Ok(0);
            }
            Some(Outcome::Error(e)) => e,
            None => anyhow::bail!("the kernel answered {name} with neither a result nor an error"),
        },
        Err(status) => syscall_json::error_of_status(&status, name),
    };
    eprintln!("{}", syscall_json::error_to_json(&error, layout));
    Ok(FAILED)
}

fn print_result(result: &pb::SyscallResult, layout: Layout, raw: bool) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match &result.value {
        Some(pb::syscall_result::Value::Data(data)) if raw => stdout.write_all(data),
        _ => writeln!(stdout, "{}", syscall_json::result_to_json(result, layout)),
    }
    .and_then(|()| stdout.flush())
    .context("write the result to stdout")
}
