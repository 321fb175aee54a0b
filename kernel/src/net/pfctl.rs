//! pf anchors on macOS (feature `macos-pf`): a process's rules ([`pf::ruleset`]) loaded
//! into its own anchor with `pfctl -a agentos/k<pid>-<n> -f -`, flushed
//! (`pfctl -a … -F all`) when its [`PfAnchor`] drops, and the anchors of kernels that
//! died flushed by the start-up [`sweep`]. Built only for macOS with the feature, and
//! never run on this project's Linux machines: only the rule text is tested
//! (`pf.rs`).
//!
//! pf evaluates the anchors only if the host's main ruleset holds `anchor "agentos/*"`
//! and pf is enabled (`pfctl -e`); the kernel changes neither. A kernel pid reused by
//! another process keeps that dead kernel's anchors until the sweep after it exits.

use super::{NetError, pf, tool};
use crate::capability::NetworkRule;

/// `pfctl`, macOS's packet filter control.
const PFCTL: &str = "pfctl";

/// A process's anchor, loaded; flushed when dropped.
#[derive(Debug)]
pub struct PfAnchor {
    name: String,
    /// Grants pf cannot enforce (host names).
    pub unenforced: Vec<String>,
}

impl PfAnchor {
    /// Loads the rules of process `n`, whose sockets `uid` owns, from its `grants` into
    /// an anchor of its own.
    pub fn load(n: u64, uid: u32, grants: &[NetworkRule]) -> Result<Self, NetError> {
        let anchor = Self {
            name: pf::anchor(std::process::id(), n),
            unenforced: pf::rules(grants, uid).unenforced,
        };
        anchor.set_rules(uid, grants)?;
        Ok(anchor)
    }

    /// Replaces the anchor's rules (after a revoke): `pfctl -f` swaps an anchor's
    /// ruleset whole.
    pub fn set_rules(&self, uid: u32, grants: &[NetworkRule]) -> Result<(), NetError> {
        let text = pf::ruleset(grants, uid);
        tool::run(PFCTL, &["-a", &self.name, "-f", "-"], &text).map(drop)
    }
}

impl Drop for PfAnchor {
    fn drop(&mut self) {
        if let Err(e) = flush(&self.name) {
            tracing::warn!("flushing pf anchor {}: {e}", self.name);
        }
    }
}

/// Empties `anchor`: its rules and tables.
fn flush(anchor: &str) -> Result<(), NetError> {
    tool::run(PFCTL, &["-a", anchor, "-F", "all"], "").map(drop)
}

/// Whether process `pid` exists (`kill(pid, 0)`; `EPERM` means it does).
fn running(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// Flushes the anchors of kernels that no longer run, and any of this kernel's pid
/// (start-up); what went.
pub fn sweep() -> Result<Vec<String>, NetError> {
    let listing = tool::run(PFCTL, &["-a", pf::ANCHOR_ROOT, "-s", "Anchors"], "")?;
    let mut removed = Vec::new();
    for anchor in pf::orphans(&listing, std::process::id(), running) {
        flush(&anchor)?;
        removed.push(format!("pf anchor {anchor}"));
    }
    Ok(removed)
}
