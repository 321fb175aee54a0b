//! Refusals by the mount namespace, inferred in user space from the open events.
//!
//! A sandboxed process sees a view of the host built in its own mount namespace
//! (`sandbox/mounts.rs`): what was not put there does not exist for it, so an open of a host
//! path outside the view fails with `ENOENT` (or `ENOTDIR`), like an open of a path that
//! exists nowhere, and no wall raises anything. The open probe reports the failed open with
//! its path (`kernel-ebpf/src/syscalls.rs`); here the ring-buffer reader tells the two apart:
//! when the absolute path exists on the host (`lstat`, the last component not followed) and
//! does not resolve under the process's root, the namespace hid it, and a `denial` event
//! naming the wall [`WALL_MOUNT_NAMESPACE`] follows the open. Inferred, not proven: the path
//! may have appeared on the host or gone from the view between the open and the check (a
//! few milliseconds, one reader period at most), as the event's reason says.
//!
//! The root is the one managed process's init had once the sandbox was built
//! ([`SandboxRoot`], taken by the spawner while init waits before starting the program), held as
//! an `O_PATH` fd together with an fd on its mount namespace, so the view stays whole until
//! the reader has seen the process's last events (its owner's grace) even after every process
//! in it has gone. Paths resolve under it with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`: an absolute symlink or a `..` in the view stays in the view, as
//! it did for the process; nothing is followed out onto the host.
//!
//! Like the refusals the `sys_exit` probe infers, and by the same rule ([`RefusalRate`]), at
//! most [`REFUSALS_PER_SECOND`] of these a second per cgroup, by the events' own clock; the
//! rest are counted and the next event says how many.
//!
//! [`REFUSALS_PER_SECOND`]: agentos_ebpf_common::refusal::REFUSALS_PER_SECOND
//!
//! Leaves nothing on the host: two fds per namespaced managed process, closed with its owner.

use std::{collections::HashMap, io, os::fd::OwnedFd, path::Path};

use agentos_ebpf_common::{PATH_LEN, refusal::RefusalRate};
use nix::{
    errno::Errno,
    fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2},
    sys::stat::Mode,
};

use super::Owners;
use crate::observe::event::{Denial, EventDetail, ProcessEvent, WALL_MOUNT_NAMESPACE};

/// How many cgroups' rate windows are kept before the idle ones are swept.
const WINDOWS_KEPT: usize = agentos_ebpf_common::MAX_MANAGED as usize;
const SECOND_NS: u64 = 1_000_000_000;

/// A sandbox's root directory and mount namespace, held open.
#[derive(Debug)]
pub struct SandboxRoot {
    root: OwnedFd,
    /// Keeps the namespace, hence the mounts under `root`, alive.
    _namespace: Option<OwnedFd>,
}

impl SandboxRoot {
    /// The root and mount namespace of process `pid` now (`/proc/PID/root`, `/proc/PID/ns/mnt`).
    pub fn of(pid: u32) -> io::Result<Self> {
        let proc = format!("/proc/{pid}");
        let namespace = open(
            format!("{proc}/ns/mnt").as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut root = Self::at(Path::new(&format!("{proc}/root")))?;
        root._namespace = Some(namespace);
        Ok(root)
    }

    /// Directory `dir` as a root (the unit tests' stand-in for a sandbox's).
    fn at(dir: &Path) -> io::Result<Self> {
        let root = open(
            dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            root,
            _namespace: None,
        })
    }

    /// Whether absolute `path` is missing under this root: resolving it there fails with
    /// `ENOENT` or `ENOTDIR`. Any other failure (`ELOOP`, `EACCES`, …) says nothing about the
    /// view, so it is not "missing".
    fn lacks(&self, path: &str) -> bool {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        matches!(
            openat2(&self.root, path.trim_start_matches('/'), how),
            Err(Errno::ENOENT | Errno::ENOTDIR)
        )
    }
}

/// The inference, with its per-cgroup rate limit; owned by the ring-buffer reader.
#[derive(Debug, Default)]
pub(super) struct MountWall {
    windows: HashMap<u64, RefusalRate>,
}

impl MountWall {
    /// The denial that follows `open` (already attributed), if it was a managed process's
    /// failed open of a host path its mount namespace hides and the rate limit lets it out.
    pub(super) fn check(&mut self, open: &ProcessEvent, owners: &Owners) -> Option<ProcessEvent> {
        let EventDetail::Open {
            path,
            flags,
            result,
        } = &open.detail
        else {
            return None;
        };
        let missing = *result == -i64::from(libc::ENOENT) || *result == -i64::from(libc::ENOTDIR);
        // The probe keeps at most `PATH_LEN - 1` bytes: a path that long may be cut short.
        if !missing || !path.starts_with('/') || path.len() >= PATH_LEN - 1 {
            return None;
        }
        let root = owners.root(open.cgroup_id)?;
        if !hidden(&root, path) {
            return None;
        }
        let held = self.admit(open.cgroup_id, open.timestamp_ns)?;
        let grant = if (*flags as i32) & libc::O_ACCMODE == libc::O_RDONLY {
            "read"
        } else {
            "write"
        };
        let denial = Denial {
            access: format!("open {path}"),
            reason: format!(
                "it exists on the host but not in the process's mount namespace (inferred \
                 from {}: the open failed there, and the daemon found the path on the host \
                 and not under the process's root); a `{grant}:` grant at spawn puts it in \
                 the view",
                if *result == -i64::from(libc::ENOENT) {
                    "ENOENT"
                } else {
                    "ENOTDIR"
                }
            ),
            // The view was built at spawn: no grant given now changes it (UpdateSandbox).
            capability: None,
            path: Some(path.clone()),
            wall: WALL_MOUNT_NAMESPACE,
        }
        .with_held(held);
        Some(ProcessEvent {
            owner: open.owner.clone(),
            ..ProcessEvent::denied(
                open.pid,
                open.tid,
                open.cgroup_id,
                open.timestamp_ns,
                denial,
            )
        })
    }

    /// Whether `cgroup_id` may send one more at `now_ns`; if so, how many were held back
    /// since its last one.
    fn admit(&mut self, cgroup_id: u64, now_ns: u64) -> Option<u32> {
        if self.windows.len() >= WINDOWS_KEPT && !self.windows.contains_key(&cgroup_id) {
            // Windows long over with nothing held tell nothing: forget them.
            self.windows
                .retain(|_, w| w.held > 0 || now_ns.saturating_sub(w.window_ns) < SECOND_NS);
        }
        self.windows.entry(cgroup_id).or_default().admit(now_ns)
    }
}

/// Whether absolute `path` exists on the host (the daemon's view, last component not
/// followed) and is missing under `root`.
fn hidden(root: &SandboxRoot, path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok() && root.lacks(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use agentos_ebpf_common::refusal::REFUSALS_PER_SECOND;

    use super::*;
    use crate::observe::event::{Owner, ProcessEventKind};

    /// A failed open of `path` by pid 7 in cgroup 42.
    fn failed_open(path: &str, errno: i32) -> ProcessEvent {
        let mut event = ProcessEvent::detailed(
            ProcessEventKind::Open,
            7,
            7,
            42,
            1_000,
            EventDetail::Open {
                path: path.to_owned(),
                flags: libc::O_RDONLY as u32,
                result: -i64::from(errno),
            },
        );
        event.owner = Some(Owner {
            pid: 5,
            app: "app".into(),
        });
        event
    }

    /// A host directory with a file, and an empty directory standing in for a sandbox's
    /// root, owned by cgroup 42.
    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Owners) {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "x").unwrap();
        let root = tempfile::tempdir().unwrap();
        let owners = Owners::default();
        owners.set(
            42,
            Owner {
                pid: 5,
                app: "app".into(),
            },
        );
        owners.hold_root(42, SandboxRoot::at(root.path()).unwrap());
        (host, root, owners)
    }

    /// A retired cgroup's root is let go after a reader pass that began after it retired,
    /// and not before: its fds (and the sandbox's mount namespace) do not outlive its events.
    #[test]
    fn a_retired_cgroups_root_goes_after_the_next_pass_not_with_its_owner() {
        let (_host, _root, owners) = setup();
        let before_retire = std::time::Instant::now();
        owners.retire(42);
        owners.release_roots(before_retire);
        assert!(
            owners.root(42).is_some(),
            "a pass from before it retired keeps it"
        );
        owners.release_roots(std::time::Instant::now());
        assert!(owners.root(42).is_none(), "the root outlived its events");
        assert!(
            owners.get(42).is_some(),
            "the owner itself stays for its grace"
        );
    }

    /// The spawner holds the root before the program runs and the process table names the
    /// owner again after: the root stays. A new process in the cgroup starts with none.
    #[test]
    fn naming_the_same_owner_again_keeps_its_root_another_does_not() {
        let (_host, _root, owners) = setup();
        let again = owners.get(42).unwrap();
        owners.set(42, again.clone());
        assert!(owners.root(42).is_some(), "naming it again lost its root");
        owners.set(
            42,
            Owner {
                pid: again.pid + 1,
                ..again
            },
        );
        assert!(owners.root(42).is_none(), "another process got its root");
    }

    #[test]
    fn a_host_path_missing_from_the_view_is_the_namespaces_refusal() {
        let (host, _root, owners) = setup();
        let secret = host.path().join("secret");
        let secret = secret.to_str().unwrap();
        let ev = MountWall::default()
            .check(&failed_open(secret, libc::ENOENT), &owners)
            .expect("a denial");
        assert_eq!(ev.kind, ProcessEventKind::Denial);
        assert_eq!((ev.pid, ev.cgroup_id, ev.timestamp_ns), (7, 42, 1_000));
        assert_eq!(ev.owner.as_ref().map(|o| o.pid), Some(5));
        let EventDetail::Denial(d) = ev.detail else {
            panic!("{ev:?}")
        };
        assert_eq!(d.wall, WALL_MOUNT_NAMESPACE);
        assert_eq!(d.access, format!("open {secret}"));
        assert_eq!(d.path.as_deref(), Some(secret));
        assert_eq!(d.capability, None);
        assert!(d.reason.contains("inferred from ENOENT"), "{d:?}");
        assert!(d.reason.contains("`read:` grant at spawn"), "{d:?}");
    }

    #[test]
    fn paths_missing_everywhere_present_in_the_view_or_not_failed_are_not() {
        let (host, root, owners) = setup();
        let mut wall = MountWall::default();
        let absent = host.path().join("absent");
        let absent = absent.to_str().unwrap();
        assert_eq!(
            wall.check(&failed_open(absent, libc::ENOENT), &owners),
            None
        );
        // In the view too: the failure was not the namespace's.
        let shown = host.path().join("secret");
        let in_view = root.path().join(shown.strip_prefix("/").unwrap());
        std::fs::create_dir_all(in_view.parent().unwrap()).unwrap();
        std::fs::write(&in_view, "y").unwrap();
        let shown = shown.to_str().unwrap();
        assert_eq!(wall.check(&failed_open(shown, libc::ENOENT), &owners), None);
        // Refused for another reason, relative, or of a cgroup with no root held.
        let hidden = host.path().join("secret");
        std::fs::remove_file(&in_view).unwrap();
        let hidden = hidden.to_str().unwrap();
        assert_eq!(
            wall.check(&failed_open(hidden, libc::EACCES), &owners),
            None
        );
        assert_eq!(
            wall.check(&failed_open("secret", libc::ENOENT), &owners),
            None
        );
        let mut stranger = failed_open(hidden, libc::ENOENT);
        stranger.cgroup_id = 43;
        assert_eq!(wall.check(&stranger, &owners), None);
        // The control of this test: the same open of cgroup 42 is one.
        assert!(
            wall.check(&failed_open(hidden, libc::ENOENT), &owners)
                .is_some()
        );
    }

    #[test]
    fn a_symlink_in_the_view_is_not_followed_out_of_it() {
        let (host, root, owners) = setup();
        // On the host and in the view alike, `link` leads far up and back down to `host`:
        // on the host it reaches the secret; in the view, `..` stops at its root, where
        // there is no secret.
        let up = "../".repeat(64);
        let target = format!("{up}{}", host.path().strip_prefix("/").unwrap().display());
        symlink(&target, host.path().join("link")).unwrap();
        let host_in_view = root.path().join(host.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&host_in_view).unwrap();
        symlink(&target, host_in_view.join("link")).unwrap();
        let through = host.path().join("link/secret");
        let through = through.to_str().unwrap();
        assert!(std::fs::metadata(through).is_ok(), "the host's link works");
        assert!(
            MountWall::default()
                .check(&failed_open(through, libc::ENOENT), &owners)
                .is_some(),
            "resolved on the host's side, the link would have found the secret"
        );
    }

    #[test]
    fn a_flood_is_rate_limited_and_counted() {
        let mut wall = MountWall::default();
        let start = 5 * SECOND_NS;
        for _ in 0..REFUSALS_PER_SECOND {
            assert_eq!(wall.admit(1, start), Some(0));
        }
        for _ in 0..10 {
            assert_eq!(wall.admit(1, start + SECOND_NS / 2), None);
        }
        // Another cgroup has its own window.
        assert_eq!(wall.admit(2, start), Some(0));
        // The next second's first says how many were held.
        assert_eq!(wall.admit(1, start + SECOND_NS), Some(10));
        assert_eq!(wall.admit(1, start + SECOND_NS), Some(0));
    }
}
