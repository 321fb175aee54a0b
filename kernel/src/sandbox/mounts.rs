//! The sandbox's filesystem view: planned in the parent, built in the child.
//!
//! # The view
//!
//! A fresh tmpfs root holding:
//!
//! * the system directories [`SYSTEM_DIRS`] that exist on the host, bound read-only
//!   (`nosuid,nodev`), or re-created as the same symlink when the host has a symlink
//!   (merged `/usr`: `/bin -> usr/bin`);
//! * `/etc` among them, with its secrets ([`SECRET_FILES`], SSH host keys,
//!   [`SECRET_DIRS`]) covered by an empty mode-000 file or directory. They were
//!   unreadable anyway (root-owned, mode 0640 or less, and the sandbox is not host
//!   root and has no supplementary groups); the cover makes that true whatever the
//!   host's permission bits say;
//! * its own `/proc` (the sandbox's pid namespace), a minimal `/dev` (`null`, `zero`,
//!   `full`, `random`, `urandom`, `tty` bound from the host; a private `devpts`
//!   instance with `/dev/ptmx`; a `/dev/shm` tmpfs; `fd`, `stdin`, `stdout`,
//!   `stderr` links), read-only apart from those;
//! * a private tmpfs `/tmp` (mode 1777); it and `/dev/shm` are capped at the
//!   sandbox's `tmp_size` each (tmpfs would otherwise allow half the host's RAM; its
//!   pages are also charged to the process's memory cgroup);
//! * each grant bound at its canonical host path, read-only or read-write
//!   (`nosuid,nodev`), parents before children, on top of an empty skeleton of
//!   directories in the root tmpfs;
//! * in network modes private and bridged, the kernel's `resolv.conf` (`net/dns.rs`)
//!   bound read-only where the host's `/etc/resolv.conf` leads (the file itself, or the
//!   end of its symlinks, e.g. systemd-resolved's `/run/systemd/resolve/stub-resolv.conf`,
//!   made in the root tmpfs when no bound directory holds it);
//!
//! and nothing else: after `pivot_root` the host's tree is detached, and the root
//! tmpfs is made read-only.
//!
//! # How it is built
//!
//! In the child, in this order (see `child.rs` for where it sits):
//!
//! 1. as the clone left it (host uid 0, unmapped, with every capability in its new
//!    user namespace): make the whole tree private, then `open_tree(OPEN_TREE_CLONE)`
//!    each bind source. Cloning by path as uid 0 means a grant below a directory
//!    that only root may traverse (a `0700` data directory) still binds; what the
//!    program may then do with the granted files is decided by their own bits;
//! 2. after switching to the mapped ids: mount the new root tmpfs over
//!    [`STAGING`] in the old tree (host paths were all opened in step 1), then run
//!    the [`Op`]s: directories, files, symlinks, attaching each cloned tree with
//!    `move_mount` after `mount_setattr` made it read-only/nosuid/nodev;
//! 3. `pivot_root(".", ".")` in the new root and a lazy unmount of the old one, as
//!    bubblewrap does.
//!
//! Needs Linux 5.12 (`mount_setattr`; `open_tree`/`move_mount` are 5.2).
//! Everything lives in the sandbox's mount namespace and goes away with it: nothing
//! is left on the host.

use std::{
    ffi::{CStr, CString},
    os::{fd::RawFd, unix::ffi::OsStrExt},
    path::{Path, PathBuf},
};

pub(super) use super::spec::{SYSTEM_DIRS, TMP_DIR};
use super::{
    spec::{Grant, cpath},
    sys,
};

/// Files under `/etc` covered by an empty mode-000 file.
pub const SECRET_FILES: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/security/opasswd",
    "/etc/sudoers",
];
/// Directories under `/etc` covered by an empty mode-000 directory.
pub const SECRET_DIRS: &[&str] = &["/etc/sudoers.d", "/etc/ssl/private"];
/// Where SSH host private keys live (`ssh_host_*_key`, covered too).
const SSH_DIR: &str = "/etc/ssh";
/// Device nodes bound from the host's `/dev`.
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The old-tree directory the new root tmpfs is mounted on while it is built. Any
/// directory would do: every host path the view needs was opened before.
const STAGING: &str = "/tmp";
const MASK_FILE: &str = "/.agentos-mask-file";
/// The resolver configuration a network mode may replace.
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Most symlinks followed from [`RESOLV_CONF`] (the kernel's own limit is 40).
const MAX_LINKS: usize = 8;
const MASK_DIR: &str = "/.agentos-mask-dir";

// From <linux/mount.h>.
pub(super) const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;

/// `struct mount_attr` from <linux/mount.h> (`MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A host path cloned with `open_tree` before the uid switch.
#[derive(Debug)]
pub(crate) struct Source {
    pub path: CString,
    pub recursive: bool,
}

/// One step of building the new root; paths are absolute in the old tree (under
/// [`STAGING`]).
#[derive(Debug)]
pub(crate) enum Op {
    Tmpfs {
        dst: CString,
        flags: libc::c_ulong,
        data: std::borrow::Cow<'static, CStr>,
    },
    /// `mkdir`, tolerating an existing directory.
    Mkdir {
        path: CString,
        mode: libc::mode_t,
    },
    /// Creates an empty file unless something exists there.
    Touch {
        path: CString,
        mode: libc::mode_t,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    /// `mount_setattr` on the cloned tree `source`, then `move_mount` onto `dst`.
    Attach {
        source: usize,
        dst: CString,
        attrs: u64,
    },
    /// A plain bind inside the new tree (for the secret covers).
    Bind {
        src: CString,
        dst: CString,
    },
    /// `mount_setattr(path, attrs)`, not recursive.
    SetAttr {
        path: CString,
        attrs: u64,
    },
    Proc {
        dst: CString,
    },
    Devpts {
        dst: CString,
    },
    Unlink {
        path: CString,
    },
    Rmdir {
        path: CString,
    },
}

/// The whole plan: sources to clone first, then the operations.
#[derive(Debug, Default)]
pub(crate) struct MountPlan {
    pub sources: Vec<Source>,
    pub ops: Vec<Op>,
    /// System directories bound as directories (for landlock rules).
    pub system_dirs: Vec<PathBuf>,
    /// Where the kernel's `resolv.conf` is bound, when it is (for landlock rules).
    pub resolv_conf_at: Option<PathBuf>,
}

fn staged(p: &Path) -> CString {
    let mut v = STAGING.as_bytes().to_vec();
    v.extend_from_slice(p.as_os_str().as_bytes());
    CString::new(v).expect("paths in the plan have no NUL")
}

fn staged_str(p: &str) -> CString {
    staged(Path::new(p))
}

impl MountPlan {
    fn source(&mut self, path: &Path, recursive: bool) -> usize {
        self.sources.push(Source {
            path: cpath(path),
            recursive,
        });
        self.sources.len() - 1
    }

    /// `mkdir -p` of the skeleton above `p` (not `p` itself).
    fn parents(&mut self, p: &Path) {
        let mut acc = PathBuf::from("/");
        let comps: Vec<_> = p.components().skip(1).collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            acc.push(c);
            self.ops.push(Op::Mkdir {
                path: staged(&acc),
                mode: 0o755,
            });
        }
    }

    /// Binds host `path` at the same path, with `attrs`.
    fn bind(&mut self, path: &Path, is_dir: bool, attrs: u64, recursive: bool) {
        self.bind_at(path, path, is_dir, attrs, recursive);
    }

    /// Binds host `src` at `dst` in the view, with `attrs`.
    fn bind_at(&mut self, src: &Path, dst: &Path, is_dir: bool, attrs: u64, recursive: bool) {
        let source = self.source(src, recursive);
        self.parents(dst);
        self.ops.push(if is_dir {
            Op::Mkdir {
                path: staged(dst),
                mode: 0o755,
            }
        } else {
            Op::Touch {
                path: staged(dst),
                mode: 0o644,
            }
        });
        self.ops.push(Op::Attach {
            source,
            dst: staged(dst),
            attrs,
        });
    }

    /// Binds `src` read-only where the host's `/etc/resolv.conf` leads.
    fn replace_resolv_conf(&mut self, src: &Path, host: &dyn Fn(&str) -> PathBuf) {
        if !self.system_dirs.iter().any(|d| d == Path::new("/etc")) {
            return;
        }
        let at = follow_links(RESOLV_CONF, host);
        let ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        self.bind_at(src, &at, false, ro, false);
        self.resolv_conf_at = Some(at);
    }

    /// Plans the view for `grants` against the host as it is now (`root` is `/`
    /// except in tests), with `resolv_conf` over the host's when given.
    pub(crate) fn new(
        grants: &[Grant],
        root: &Path,
        tmp_size: u64,
        resolv_conf: Option<&Path>,
    ) -> Self {
        let host = |p: &str| root.join(p.trim_start_matches('/'));
        let mut plan = Self::default();
        plan.ops.push(Op::Tmpfs {
            dst: staged_str(""),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: c"mode=0755".into(),
        });
        let ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        for dir in SYSTEM_DIRS {
            let Ok(meta) = std::fs::symlink_metadata(host(dir)) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                if let Ok(target) = std::fs::read_link(host(dir)) {
                    plan.ops.push(Op::Symlink {
                        target: cpath(&target),
                        link: staged_str(dir),
                    });
                }
            } else if meta.is_dir() {
                plan.bind(Path::new(dir), true, ro, true);
                plan.system_dirs.push(PathBuf::from(dir));
            }
        }
        plan.cover_secrets(&host);
        if let Some(src) = resolv_conf {
            plan.replace_resolv_conf(src, &host);
        }
        plan.proc_and_dev(tmp_size);
        plan.ops.push(Op::Mkdir {
            path: staged_str(TMP_DIR),
            mode: 0o755,
        });
        plan.ops.push(Op::Tmpfs {
            dst: staged_str(TMP_DIR),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: sized_tmpfs(tmp_size).into(),
        });
        for g in grants {
            let attrs =
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | if g.write { 0 } else { MOUNT_ATTR_RDONLY };
            plan.bind(&g.path, g.is_dir, attrs, true);
        }
        plan
    }

    fn cover_secrets(&mut self, host: &dyn Fn(&str) -> PathBuf) {
        if !self.system_dirs.iter().any(|d| d == Path::new("/etc")) {
            return;
        }
        let mut files: Vec<String> = SECRET_FILES
            .iter()
            .filter(|f| host(f).symlink_metadata().is_ok_and(|m| m.is_file()))
            .map(|f| f.to_string())
            .collect();
        if let Ok(rd) = std::fs::read_dir(host(SSH_DIR)) {
            let mut keys: Vec<String> = rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("ssh_host_") && n.ends_with("_key"))
                .map(|n| format!("{SSH_DIR}/{n}"))
                .collect();
            keys.sort();
            files.extend(keys);
        }
        let dirs: Vec<&str> = SECRET_DIRS
            .iter()
            .copied()
            .filter(|d| host(d).symlink_metadata().is_ok_and(|m| m.is_dir()))
            .collect();
        let ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        if !files.is_empty() {
            self.ops.push(Op::Touch {
                path: staged_str(MASK_FILE),
                mode: 0,
            });
            for f in &files {
                self.ops.push(Op::Bind {
                    src: staged_str(MASK_FILE),
                    dst: staged_str(f),
                });
                self.ops.push(Op::SetAttr {
                    path: staged_str(f),
                    attrs: ro,
                });
            }
            self.ops.push(Op::Unlink {
                path: staged_str(MASK_FILE),
            });
        }
        if !dirs.is_empty() {
            self.ops.push(Op::Mkdir {
                path: staged_str(MASK_DIR),
                mode: 0,
            });
            for d in &dirs {
                self.ops.push(Op::Bind {
                    src: staged_str(MASK_DIR),
                    dst: staged_str(d),
                });
                self.ops.push(Op::SetAttr {
                    path: staged_str(d),
                    attrs: ro,
                });
            }
            self.ops.push(Op::Rmdir {
                path: staged_str(MASK_DIR),
            });
        }
    }

    fn proc_and_dev(&mut self, tmp_size: u64) {
        self.ops.push(Op::Mkdir {
            path: staged_str("/proc"),
            mode: 0o555,
        });
        self.ops.push(Op::Proc {
            dst: staged_str("/proc"),
        });
        self.ops.push(Op::Mkdir {
            path: staged_str("/dev"),
            mode: 0o755,
        });
        self.ops.push(Op::Tmpfs {
            dst: staged_str("/dev"),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: c"mode=0755".into(),
        });
        for node in DEV_NODES {
            let path = PathBuf::from("/dev").join(node);
            let source = self.source(&path, false);
            self.ops.push(Op::Touch {
                path: staged(&path),
                mode: 0o666,
            });
            self.ops.push(Op::Attach {
                source,
                dst: staged(&path),
                attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            });
        }
        self.ops.push(Op::Mkdir {
            path: staged_str("/dev/pts"),
            mode: 0o755,
        });
        self.ops.push(Op::Devpts {
            dst: staged_str("/dev/pts"),
        });
        for (target, link) in [
            ("pts/ptmx", "/dev/ptmx"),
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
        ] {
            self.ops.push(Op::Symlink {
                target: CString::new(target).expect("constant"),
                link: staged_str(link),
            });
        }
        self.ops.push(Op::Mkdir {
            path: staged_str("/dev/shm"),
            mode: 0o755,
        });
        self.ops.push(Op::Tmpfs {
            dst: staged_str("/dev/shm"),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: sized_tmpfs(tmp_size).into(),
        });
        self.ops.push(Op::SetAttr {
            path: staged_str("/dev"),
            attrs: MOUNT_ATTR_RDONLY,
        });
    }

    /// A description of source `i`, for error messages.
    pub(crate) fn describe_source(&self, i: usize) -> String {
        self.sources
            .get(i)
            .map(|s| format!("clone {}", s.path.to_string_lossy()))
            .unwrap_or_default()
    }

    /// A description of op `i`, with sandbox paths, for error messages.
    pub(crate) fn describe_op(&self, i: usize) -> String {
        let p = |c: &CString| {
            let s = c.to_string_lossy();
            let s = s.strip_prefix(STAGING).unwrap_or(&s);
            if s.is_empty() {
                "/".to_string()
            } else {
                s.to_string()
            }
        };
        let Some(op) = self.ops.get(i) else {
            return String::new();
        };
        match op {
            Op::Tmpfs { dst, .. } => format!("tmpfs on {}", p(dst)),
            Op::Mkdir { path, .. } => format!("mkdir {}", p(path)),
            Op::Touch { path, .. } => format!("create {}", p(path)),
            Op::Symlink { target, link } => {
                format!("symlink {} -> {}", p(link), target.to_string_lossy())
            }
            Op::Attach { source, dst, attrs } => format!(
                "bind {} at {}{}",
                self.sources[*source].path.to_string_lossy(),
                p(dst),
                if attrs & MOUNT_ATTR_RDONLY != 0 {
                    ", read-only"
                } else {
                    ""
                }
            ),
            Op::Bind { dst, .. } => format!("cover {}", p(dst)),
            Op::SetAttr { path, .. } => format!("mount_setattr {}", p(path)),
            Op::Proc { dst } => format!("proc on {}", p(dst)),
            Op::Devpts { dst } => format!("devpts on {}", p(dst)),
            Op::Unlink { path } => format!("unlink {}", p(path)),
            Op::Rmdir { path } => format!("rmdir {}", p(path)),
        }
    }
}

/// Where `path` leads on the host (`host` maps it there), following symlinks in its
/// last component, `..` taken lexically: the view's path for the same file.
fn follow_links(path: &str, host: &dyn Fn(&str) -> PathBuf) -> PathBuf {
    let mut p = PathBuf::from(path);
    for _ in 0..MAX_LINKS {
        let Ok(target) = std::fs::read_link(host(&p.to_string_lossy())) else {
            break;
        };
        let joined = p.parent().unwrap_or(Path::new("/")).join(target);
        let mut clean = PathBuf::from("/");
        for c in joined.components() {
            match c {
                std::path::Component::ParentDir => {
                    clean.pop();
                }
                std::path::Component::Normal(n) => clean.push(n),
                _ => {}
            }
        }
        p = clean;
    }
    p
}

// ---- child side: async-signal-safe, no allocation ----

pub(super) fn mount_setattr(dfd: RawFd, path: &CStr, flags: u32, attrs: u64) -> Result<(), i32> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid path and a mount_attr of the size passed.
    sys::check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// tmpfs options for a world-writable scratch directory of at most `bytes`.
fn sized_tmpfs(bytes: u64) -> CString {
    CString::new(format!("mode=1777,size={bytes}")).expect("digits have no NUL")
}

fn mount(
    src: &CStr,
    dst: &CStr,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: &CStr,
) -> Result<(), i32> {
    // SAFETY: all strings are NUL-terminated.
    sys::check(unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    })
    .map(drop)
}

/// Step 1 (still host uid 0): makes the tree private and clones every source into
/// `fds` (same length as `plan.sources`). On failure returns the source's index.
pub(crate) fn clone_sources(plan: &MountPlan, fds: &mut [RawFd]) -> Result<(), (u32, i32)> {
    // SAFETY: NULL source/type/data are allowed for a propagation change.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    sys::check(r).map_err(|e| (u32::MAX, e))?;
    for (i, (s, slot)) in plan.sources.iter().zip(fds.iter_mut()).enumerate() {
        let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
        if s.recursive {
            flags |= libc::AT_RECURSIVE as u32;
        }
        // SAFETY: valid NUL-terminated path.
        let fd =
            unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, s.path.as_ptr(), flags) };
        *slot = sys::check(fd).map_err(|e| (i as u32, e))? as RawFd;
    }
    Ok(())
}

/// Step 2 (mapped ids, capabilities in the sandbox's user namespace): runs the ops.
/// On failure returns the op's index.
pub(crate) fn build(plan: &MountPlan, fds: &mut [RawFd]) -> Result<(), (u32, i32)> {
    for (i, op) in plan.ops.iter().enumerate() {
        run_op(op, fds).map_err(|e| (i as u32, e))?;
    }
    Ok(())
}

fn run_op(op: &Op, fds: &mut [RawFd]) -> Result<(), i32> {
    match op {
        Op::Tmpfs { dst, flags, data } => mount(c"tmpfs", dst, c"tmpfs", *flags, data.as_ref()),
        Op::Mkdir { path, mode } => {
            // SAFETY: valid path.
            match sys::check(unsafe { libc::mkdir(path.as_ptr(), *mode) }) {
                Ok(_) | Err(libc::EEXIST) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Op::Touch { path, mode } => {
            match sys::open(path, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, *mode) {
                Ok(fd) => {
                    sys::close(fd);
                    Ok(())
                }
                Err(libc::EEXIST) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Op::Symlink { target, link } => {
            // SAFETY: valid paths.
            sys::check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) }).map(drop)
        }
        Op::Attach { source, dst, attrs } => {
            let fd = fds.get(*source).copied().unwrap_or(-1);
            mount_setattr(
                fd,
                c"",
                (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as u32,
                *attrs,
            )?;
            // SAFETY: `fd` is a detached tree from open_tree; valid paths.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_move_mount,
                    fd,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    dst.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                )
            };
            sys::check(r)?;
            sys::close(fd);
            if let Some(slot) = fds.get_mut(*source) {
                *slot = -1;
            }
            Ok(())
        }
        Op::Bind { src, dst } => mount(src, dst, c"", libc::MS_BIND, c""),
        Op::SetAttr { path, attrs } => mount_setattr(libc::AT_FDCWD, path, 0, *attrs),
        Op::Proc { dst } => mount(
            c"proc",
            dst,
            c"proc",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"",
        ),
        Op::Devpts { dst } => mount(
            c"devpts",
            dst,
            c"devpts",
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620",
        ),
        // SAFETY: valid path.
        Op::Unlink { path } => sys::check(unsafe { libc::unlink(path.as_ptr()) }).map(drop),
        // SAFETY: valid path.
        Op::Rmdir { path } => sys::check(unsafe { libc::rmdir(path.as_ptr()) }).map(drop),
    }
}

/// Step 3: makes the new root `/`, detaches the host's tree, and makes the root
/// tmpfs read-only.
pub(crate) fn pivot() -> Result<(), i32> {
    let staging = c"/tmp";
    debug_assert_eq!(staging.to_bytes(), STAGING.as_bytes());
    // SAFETY: valid paths; pivot_root(".", ".") stacks the old root on the new one
    // (pivot_root(2), "NOTES"), and the lazy unmount then drops it.
    unsafe {
        sys::check(libc::chdir(staging.as_ptr()))?;
        sys::check(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))?;
        sys::check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        sys::check(libc::chdir(c"/".as_ptr()))?;
    }
    mount_setattr(libc::AT_FDCWD, c"/", 0, MOUNT_ATTR_RDONLY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_host() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for p in ["usr/bin", "usr/lib", "etc/ssh", "etc/ssl/private"] {
            std::fs::create_dir_all(r.join(p)).unwrap();
        }
        std::os::unix::fs::symlink("usr/bin", r.join("bin")).unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        for f in [
            "etc/shadow",
            "etc/passwd",
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
        ] {
            std::fs::write(r.join(f), b"x").unwrap();
        }
        d
    }

    fn descriptions(plan: &MountPlan) -> Vec<String> {
        (0..plan.ops.len()).map(|i| plan.describe_op(i)).collect()
    }

    #[test]
    fn system_dirs_bind_or_mirror_symlinks_and_secrets_are_covered() {
        let host = fake_host();
        let plan = MountPlan::new(&[], host.path(), 1 << 20, None);
        let d = descriptions(&plan);
        assert_eq!(d[0], "tmpfs on /");
        assert!(
            d.contains(&"bind /usr at /usr, read-only".to_string()),
            "{d:#?}"
        );
        assert!(d.contains(&"symlink /bin -> usr/bin".to_string()));
        assert!(d.contains(&"symlink /lib -> usr/lib".to_string()));
        assert!(
            !d.iter()
                .any(|s| s.contains("/sbin") || s.contains("/lib64"))
        );
        assert!(d.contains(&"cover /etc/shadow".to_string()));
        assert!(d.contains(&"cover /etc/ssh/ssh_host_ed25519_key".to_string()));
        assert!(d.contains(&"cover /etc/ssl/private".to_string()));
        assert!(!d.iter().any(|s| s.contains(".pub") || s.contains("passwd")));
        assert_eq!(
            plan.system_dirs,
            [PathBuf::from("/usr"), PathBuf::from("/etc")]
        );
        // /dev is made read-only after its contents, /tmp comes after /dev.
        let dev_ro = d.iter().position(|s| s == "mount_setattr /dev").unwrap();
        let tmp = d.iter().position(|s| s == "tmpfs on /tmp").unwrap();
        assert!(d.iter().position(|s| s == "devpts on /dev/pts").unwrap() < dev_ro);
        assert!(dev_ro < tmp);
    }

    #[test]
    fn the_kernels_resolv_conf_is_bound_where_the_hosts_leads() {
        let own = Path::new("/data/run/resolv.conf");
        // A plain file: bound over it, read-only.
        let host = fake_host();
        std::fs::write(
            host.path().join("etc/resolv.conf"),
            b"nameserver 10.0.0.1\n",
        )
        .unwrap();
        let plan = MountPlan::new(&[], host.path(), 1 << 20, Some(own));
        let d = descriptions(&plan);
        assert!(
            d.contains(&"bind /data/run/resolv.conf at /etc/resolv.conf, read-only".to_string()),
            "{d:#?}"
        );
        assert_eq!(plan.resolv_conf_at, Some(PathBuf::from("/etc/resolv.conf")));
        // systemd-resolved's symlink out of /etc: bound at its end, made in the root tmpfs.
        let host = fake_host();
        std::os::unix::fs::symlink(
            "../run/systemd/resolve/stub-resolv.conf",
            host.path().join("etc/resolv.conf"),
        )
        .unwrap();
        let plan = MountPlan::new(&[], host.path(), 1 << 20, Some(own));
        let d = descriptions(&plan);
        let at = "/run/systemd/resolve/stub-resolv.conf";
        let bind = d
            .iter()
            .position(|s| *s == format!("bind /data/run/resolv.conf at {at}, read-only"))
            .unwrap_or_else(|| panic!("{d:#?}"));
        assert!(d[..bind].contains(&"mkdir /run/systemd/resolve".to_string()));
        assert_eq!(plan.resolv_conf_at, Some(PathBuf::from(at)));
        // Not asked for: the host's stays.
        let plan = MountPlan::new(&[], host.path(), 1 << 20, None);
        assert!(!descriptions(&plan).iter().any(|s| s.contains("resolv")));
        assert_eq!(plan.resolv_conf_at, None);
    }

    #[test]
    fn grants_get_a_skeleton_and_the_right_mode() {
        let host = fake_host();
        let grants = [
            Grant {
                path: "/srv/app".into(),
                write: false,
                is_dir: true,
            },
            Grant {
                path: "/srv/app/data".into(),
                write: true,
                is_dir: true,
            },
            Grant {
                path: "/opt/tool/bin/x".into(),
                write: false,
                is_dir: false,
            },
        ];
        let plan = MountPlan::new(&grants, host.path(), 1 << 20, None);
        let d = descriptions(&plan);
        let tail: Vec<&str> = d
            .iter()
            .skip_while(|s| *s != "tmpfs on /tmp")
            .skip(1)
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "mkdir /srv",
                "mkdir /srv/app",
                "bind /srv/app at /srv/app, read-only",
                "mkdir /srv",
                "mkdir /srv/app",
                "mkdir /srv/app/data",
                "bind /srv/app/data at /srv/app/data",
                "mkdir /opt",
                "mkdir /opt/tool",
                "mkdir /opt/tool/bin",
                "create /opt/tool/bin/x",
                "bind /opt/tool/bin/x at /opt/tool/bin/x, read-only",
            ]
        );
        let last = plan.sources.last().unwrap();
        assert_eq!(last.path.as_bytes(), b"/opt/tool/bin/x");
        assert!(
            plan.describe_source(plan.sources.len() - 1)
                .ends_with("/opt/tool/bin/x")
        );
    }
}
