//! Removing what a kernel that died left on the host: `agentos*` interfaces tagged
//! (alias) and `inet agentos-*` tables commented with a data directory whose kernel
//! no longer runs (its `kernel.lock` is free), or with the starting kernel's own
//! directory (left by its previous run). Untagged ones are not ours to judge (a
//! test's, or a veth being made) and are left alone; a process's veth also goes by
//! itself when its namespace dies.

use std::path::Path;

use super::{NetError, links, nft};
use crate::cgroup::kernel_running;

/// Whether what `owner` tagged is left over (for a kernel starting on `own`).
fn orphaned(owner: &str, own: &Path) -> bool {
    Path::new(owner) == own || !kernel_running(Path::new(owner))
}

/// Removes orphaned interfaces (listed and deleted over rtnetlink) and tables;
/// returns what went. A host without `nft` has no table of ours to remove.
pub fn sweep_orphans(own: &Path) -> Result<Vec<String>, NetError> {
    let _lock = links::host_lock()?;
    let mut removed = Vec::new();
    if let Ok(tables) = nft::tables() {
        for (name, comment) in tables {
            if comment.is_some_and(|c| orphaned(&c, own)) {
                nft::delete_table(&name)?;
                removed.push(format!("nft table inet {name}"));
            }
        }
    }
    if let Ok(all) = links::links() {
        // Bridges last: deleting a bridge leaves its ports, deleting a veth does not
        // need its bridge.
        let (bridges, others): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|l| l.name.starts_with(links::BRIDGE_PREFIX));
        for l in others.into_iter().chain(bridges) {
            if l.alias.as_deref().is_some_and(|a| orphaned(a, own)) {
                match links::delete_link(&l.name) {
                    Ok(()) => removed.push(format!("link {}", l.name)),
                    // A veth whose namespace died meanwhile is gone already.
                    Err(e) if l.name.starts_with(links::VETH_PREFIX) => {
                        tracing::debug!("orphan veth {}: {e}", l.name);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    // A host where pfctl cannot list anchors (not root, pf absent) has none of ours.
    #[cfg(all(target_os = "macos", feature = "macos-pf"))]
    if let Ok(anchors) = super::pfctl::sweep() {
        removed.extend(anchors);
    }
    if !removed.is_empty() {
        tracing::info!(?removed, "removed the network of kernels that died");
    }
    Ok(removed)
}
