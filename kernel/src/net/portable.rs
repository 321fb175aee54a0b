//! The network on a host that is not Linux (macOS): no network namespaces, veths,
//! bridges or nftables, so no mode but the host's own network exists, and the kernel
//! gives none of them: every network mode is refused with this module's reason, and
//! `doctor` reports it.
//!
//! The macOS mechanism for per-process rules would be pf: an anchor of the kernel's own
//! (`agentos/k<pid>`) loaded with `pfctl -a`, egress rules keyed on each sandbox's uid
//! (pf's `user` match on sockets), removed at shutdown and by the start-up sweep. It is
//! not built (a `macos-pf` feature is reserved for it); managed processes do not run on
//! this host yet either (see `sandbox::unsupported`).

use crate::backend::Report;

/// Why no network mode is available here.
const WHY: &str = "this host is not Linux: no network namespaces, veths, bridges or nftables; \
     per-process rules through pf (feature macos-pf) are not built";

/// The bridges' verdict off Linux: never.
pub fn probe_bridges(_root: bool) -> Result<(), String> {
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
    r.details
        .insert("pf".into(), "not built (feature macos-pf)".into());
    r
}
