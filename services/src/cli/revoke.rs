//! `agentos revoke PID CAP...`: takes capabilities away from a running process.
//!
//! The kernel refuses them on the process's own socket at once and narrows its
//! sandbox's view to match (a path no grant covers any more is unmounted, one that
//! lost its write grants becomes read-only). Grants cannot be added this way: a
//! running process's walls were built when it started. Exit codes: 0 done, 1 the
//! kernel refused (the process does not hold a capability, or has exited), 2 no
//! kernel.

use std::path::Path;

use agentos_client::{CallError, Client};
use agentos_proto::v1 as pb;

use super::run::{NO_KERNEL, no_kernel};

#[derive(clap::Args)]
pub struct Options {
    /// The process, by the pid `agentos run` or `list_processes` shows.
    pid: u32,
    /// Capabilities in the form they were granted: time, sysinfo, read:/srv/data, ...
    #[arg(required = true, value_name = "CAP")]
    caps: Vec<String>,
}

pub async fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let Ok(mut client) = Client::connect_uds(&agentos_client::socket_path(data_dir)).await else {
        eprintln!("{}", no_kernel("revoke", data_dir));
        return Ok(NO_KERNEL);
    };
    let request = pb::UpdateSandboxRequest {
        pid: opts.pid,
        revoke: opts.caps,
        ..Default::default()
    };
    match client.update_sandbox(request).await {
        Ok(_) => Ok(0),
        Err(status) => {
            eprintln!("agentos revoke: {}", CallError::from(status));
            Ok(1)
        }
    }
}
