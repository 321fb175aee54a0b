//! Reaching the kernel daemon (`agentos-kernel`) that serves a data directory.
//!
//! * [`KernelLink`] (`link.rs`) holds one gRPC client over the kernel's Unix socket,
//!   connects on first use and reconnects after the kernel restarts.
//! * [`KernelChild`] (`child.rs`) starts a kernel as a child process when none is
//!   running, waits until its socket answers, and stops it (SIGTERM, then SIGKILL).
//! * `files.rs` reads and writes the services' own files (registry, sessions)
//!   through the kernel's filesystem syscalls, whose writes are atomic.
//! * [`events`] shows the kernel collector's events as JSON (`agentos events`, the
//!   WebSocket's `kernel_event`).
//! * [`syscall_json`] turns a syscall name and proto3 JSON arguments into a
//!   `Syscall`, and results and errors back into JSON (`agentos call`), from the
//!   descriptor set `agentos-proto` embeds.
//!
//! Nothing here links the kernel daemon's library: the wire types come from
//! `agentos-proto`, the connection from `agentos-client`.
//!
//! [`attach`] is the policy of `agentos up`: use the kernel already answering on the
//! data directory, else start one and own it.

mod child;
pub mod events;
mod files;
mod link;
pub mod syscall_json;

use std::{path::Path, time::Duration};

pub use child::{KERNEL_BIN, KERNEL_BIN_ENV, KernelChild, StartError, StopError, locate_binary};
pub use link::{KernelLink, LinkError};

/// How long a running kernel gets to answer before we decide none is there.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a kernel we started gets to open its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// What watching a process has cost (ns of probe CPU charged to it), or `None` when no
/// probe has run for it: the probes are not loaded (a rootless kernel without
/// CAP_BPF), so "0 ms" would claim a measurement that was never made. A watched
/// process always has runs: its own exec fires the probes.
pub fn watch_cost(stats: &agentos_proto::v1::ProcessStats) -> Option<u64> {
    (stats.observe_runs > 0).then_some(stats.observe_cpu_ns)
}

/// A process's network for people: its mode and its addresses on its bridge, IPv4
/// then IPv6 (`private 10.213.0.2 fd61:6765:6e74::2`); `None` when it has no address
/// (modes none and shared).
pub fn network_summary(info: &agentos_proto::v1::ProcessInfo) -> Option<String> {
    if info.net_address.is_empty() {
        return None;
    }
    let mode = agentos_proto::v1::NetworkMode::try_from(info.network)
        .map(|m| {
            m.as_str_name()
                .trim_start_matches("NETWORK_MODE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into());
    let mut s = format!("{mode} {}", info.net_address);
    if !info.net_address6.is_empty() {
        s += " ";
        s += &info.net_address6;
    }
    Some(s)
}

/// The kernel `agentos up` talks to, and whether it is ours to stop.
pub struct Attached {
    pub link: KernelLink,
    /// `Some` when we started the kernel; dropping it stops the kernel.
    pub child: Option<KernelChild>,
}

/// Uses the kernel answering on `data_dir`'s socket, else starts one there.
///
/// The binary is found by [`locate_binary`] from `kernel_bin` (`--kernel-bin`), and
/// only when a kernel has to be started.
///
/// A socket file that nobody answers on (a kernel that crashed) is not an obstacle:
/// the new kernel removes it. A kernel that holds the data directory's lock but does
/// not answer makes the new one exit, and the error carries its stderr.
pub async fn attach(data_dir: &Path, kernel_bin: Option<&Path>) -> Result<Attached, StartError> {
    let link = KernelLink::new(agentos_client::socket_path(data_dir));
    if link.doctor(PROBE_TIMEOUT).await.is_ok() {
        tracing::info!(
            "using the kernel already running on {}",
            link.socket().display()
        );
        return Ok(Attached { link, child: None });
    }
    let bin = locate_binary(kernel_bin)?;
    let mut child = KernelChild::spawn(&bin, data_dir)?;
    child.wait_ready(&link, START_TIMEOUT).await?;
    tracing::info!(
        "started agentos-kernel (pid {}) on {}",
        child.pid(),
        link.socket().display()
    );
    Ok(Attached {
        link,
        child: Some(child),
    })
}

#[cfg(test)]
mod watch_tests {
    use agentos_proto::v1::ProcessStats;

    #[test]
    fn an_unwatched_process_has_no_watch_cost_not_a_zero_one() {
        let unwatched = ProcessStats::default();
        assert_eq!(super::watch_cost(&unwatched), None);
        let watched = ProcessStats {
            observe_runs: 3,
            observe_cpu_ns: 1_500,
            ..Default::default()
        };
        assert_eq!(super::watch_cost(&watched), Some(1_500));
    }
}
