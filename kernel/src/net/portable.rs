//! The network on a host that is not Linux (macOS): no network namespaces, veths,
//! bridges or nftables, so no mode but the host's own network exists, and the kernel
//! gives none of them: every network mode is refused with this module's reason, and
//! `doctor` reports it.
//!
//! The macOS mechanism for per-process rules is pf, built with the `macos-pf` feature:
//! a process's NetworkAccess grants become `quick` rules keyed on its sockets' uid (pf's
//! `user` match) in an anchor of its own, `agentos/k<kernel pid>-<process>` (`pf.rs`
//! renders them, `pfctl.rs` loads them with `pfctl -a … -f -` and flushes them on drop),
//! and the start-up sweep flushes the anchors of kernels that died. No managed process
//! starts on this host yet (see `sandbox::unsupported`), so no anchor is loaded, and
//! the report says so: the pf path is built, its rule text unit tested on Linux, and
//! it has not run on a macOS host.

use crate::backend::Report;

/// Why no network mode is available here.
const WHY: &str = "this host is not Linux: no network namespaces, veths, bridges or nftables";

/// What the report says of pf.
#[cfg(all(target_os = "macos", feature = "macos-pf"))]
const PF: &str = "built, not run on this host: no managed process starts here yet, so no \
     anchor (agentos/k<pid>-<n>, evaluated if the main ruleset holds anchor \"agentos/*\") is \
     loaded; tested only as rule text, on Linux";
#[cfg(not(all(target_os = "macos", feature = "macos-pf")))]
const PF: &str = "not built (feature macos-pf, macOS only)";

/// The bridges' verdict off Linux: never.
pub fn probe_bridges(_root: bool) -> Result<(), String> {
    Err(WHY.into())
}

/// Rootless `private`'s verdict off Linux: never.
pub fn probe_rootless() -> Result<(), String> {
    Err(WHY.into())
}

/// Rewrites the Linux-shaped report for this host: no mode, not even `none`'s
/// namespace, is available.
pub(super) fn report(mut r: Report) -> Report {
    r.backend = "none".into();
    r.reason = WHY.into();
    r.details.insert(
        "none".into(),
        "unavailable: no network namespace on this host".into(),
    );
    r.details.insert("pf".into(), PF.into());
    r
}
