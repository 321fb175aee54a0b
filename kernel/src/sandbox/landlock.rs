//! The landlock ruleset: the second wall, derived from the same grants as the
//! mounts, so the two can never disagree.
//!
//! After `pivot_root` every path in the view is where its grant says, and the
//! ruleset allows exactly that: read and execute under the system directories and
//! read grants, everything under write grants and `/tmp`, read/write/ioctl on
//! `/dev`, read (and writes the files' own modes allow) on `/proc`, and listing `/`.
//! Every filesystem right the host's landlock ABI knows is handled, so anything not
//! listed is refused, whatever the permission bits; on ABI ≥ 6 the domain is also
//! scoped, so it can neither signal nor reach abstract Unix sockets of processes
//! outside it. At the walls-only level ([`View::Host`]) the same rules describe the
//! host's own tree, narrowed where the namespaces would have given a private copy.
//!
//! The rules are built with raw syscalls in the child (the `landlock` crate
//! allocates, which the child of a multi-threaded daemon must not): the parent
//! precomputes paths and access masks, the child opens each path `O_PATH`, adds the
//! rule and calls `landlock_restrict_self`. A host without landlock (ENOSYS or
//! EOPNOTSUPP from the ABI query) gets the mount walls only; [`abi`] says which, for
//! `doctor`. Landlock domains die with their processes: nothing is left on the host.

use std::{
    ffi::CString,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use super::{
    mounts::TMP_DIR,
    spec::{Grant, cpath},
    sys,
};

// From <linux/landlock.h>.
const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: i32 = 1;
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
/// Rights of ABI 1 (bits 0-12: execute … make_sym).
const ABI1_ALL: u64 = (1 << 13) - 1;
/// Rights that apply to files (the rest only make sense on directories).
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;

/// Which tree the rules describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The sandbox's own view after `pivot_root`: `/tmp`, `/dev` and `/proc` are
    /// its own.
    Namespaced,
    /// The host's tree itself (walls only, no namespaces): no `/tmp`, only the
    /// harmless device nodes, `/proc` read-only, and no TCP at all (ABI ≥ 4),
    /// since there is no network namespace to keep the host's listeners apart.
    Host,
}

/// Device nodes a program may use at the walls-only level (the host's own).
const HOST_DEV_NODES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The host's landlock ABI version, or why there is none (probed once).
pub fn abi() -> Result<u32, i32> {
    static ABI: OnceLock<Result<u32, i32>> = OnceLock::new();
    *ABI.get_or_init(|| {
        // SAFETY: the version query takes no attribute.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<RulesetAttr>(),
                0usize,
                CREATE_RULESET_VERSION,
            )
        };
        sys::check(r).map(|v| v as u32)
    })
}

/// Every filesystem right `abi` knows.
fn handled_fs(abi: u32) -> u64 {
    let mut m = ABI1_ALL;
    if abi >= 2 {
        m |= REFER;
    }
    if abi >= 3 {
        m |= TRUNCATE;
    }
    if abi >= 5 {
        m |= IOCTL_DEV;
    }
    m
}

/// One rule: a path in the sandbox and the rights beneath it.
#[derive(Debug)]
pub(crate) struct Rule {
    pub path: CString,
    pub access: u64,
}

/// The ruleset for one sandbox.
#[derive(Debug)]
pub(crate) struct LandlockPlan {
    pub handled: u64,
    /// Network rights handled (and, with no net rule, refused).
    pub handled_net: u64,
    pub scoped: u64,
    pub rules: Vec<Rule>,
}

impl LandlockPlan {
    /// Whether the domain confines signals to itself (ABI 6): then its processes can
    /// signal only each other, and `kill(-1)` from inside reaches this domain alone.
    pub(crate) fn scopes_signals(&self) -> bool {
        self.scoped & SCOPE_SIGNAL != 0
    }

    /// Builds the rules for `abi` from the bound system directories and the grants.
    pub(crate) fn new(abi: u32, system_dirs: &[PathBuf], grants: &[Grant], view: View) -> Self {
        let handled = handled_fs(abi);
        let read = EXECUTE | READ_FILE | READ_DIR;
        // Listing `/` of the sandbox's own tmpfs root shows only its skeleton; on
        // the host's tree a rule on `/` would let every directory be listed.
        let mut rules = match view {
            View::Namespaced => vec![Rule {
                path: c"/".into(),
                access: READ_DIR,
            }],
            View::Host => Vec::new(),
        };
        let mut add = |p: &Path, access: u64, is_dir: bool| {
            let access = access & handled & if is_dir { u64::MAX } else { FILE_RIGHTS };
            rules.push(Rule {
                path: cpath(p),
                access,
            });
        };
        for d in system_dirs {
            add(d, read, true);
        }
        let dev = READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV;
        match view {
            View::Namespaced => {
                add(Path::new("/proc"), READ_FILE | READ_DIR | WRITE_FILE, true);
                add(Path::new("/dev"), dev | READ_DIR, true);
                add(Path::new("/dev/shm"), handled, true);
                add(Path::new(TMP_DIR), handled, true);
            }
            View::Host => {
                add(Path::new("/proc"), READ_FILE | READ_DIR, true);
                for node in HOST_DEV_NODES {
                    add(Path::new(node), dev, false);
                }
                // The PTY mode's terminal (opened before the rules apply).
                add(Path::new("/dev/pts"), dev, true);
            }
        }
        for g in grants {
            add(&g.path, if g.write { handled } else { read }, g.is_dir);
        }
        let scoped = if abi >= 6 {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        };
        let handled_net = if view == View::Host && abi >= 4 {
            NET_BIND_TCP | NET_CONNECT_TCP
        } else {
            0
        };
        Self {
            handled,
            handled_net,
            scoped,
            rules,
        }
    }

    /// Child side: creates the ruleset, adds every rule, and restricts the calling
    /// process. On failure returns the rule's index (`u32::MAX` for the ruleset
    /// itself, `u32::MAX - 1` for the restriction).
    pub(crate) fn enforce(&self) -> Result<(), (u32, i32)> {
        let attr = RulesetAttr {
            handled_access_fs: self.handled,
            handled_access_net: self.handled_net,
            scoped: self.scoped,
        };
        // Pass only the fields this ABI knows: `scoped` needs ABI 6 (24 bytes),
        // `handled_access_net` ABI 4 (16), before that `handled_access_fs` alone.
        let size = if self.scoped != 0 {
            std::mem::size_of::<RulesetAttr>()
        } else if self.handled_net != 0 {
            2 * std::mem::size_of::<u64>()
        } else {
            std::mem::size_of::<u64>()
        };
        // SAFETY: `attr` is valid for `size` bytes.
        let rs = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &attr as *const RulesetAttr,
                size,
                0u32,
            )
        };
        let rs = sys::check(rs).map_err(|e| (u32::MAX, e))? as i32;
        for (i, r) in self.rules.iter().enumerate() {
            let fd = match sys::open(&r.path, libc::O_PATH, 0) {
                Ok(fd) => fd,
                Err(e) => {
                    sys::close(rs);
                    return Err((i as u32, e));
                }
            };
            let pb = PathBeneathAttr {
                allowed_access: r.access,
                parent_fd: fd,
            };
            // SAFETY: `pb` is a valid landlock_path_beneath_attr.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    rs,
                    RULE_PATH_BENEATH,
                    &pb as *const PathBeneathAttr,
                    0u32,
                )
            };
            sys::close(fd);
            if let Err(e) = sys::check(ret) {
                sys::close(rs);
                return Err((i as u32, e));
            }
        }
        // SAFETY: `rs` is the ruleset fd created above.
        let ret = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, rs, 0u32) };
        sys::close(rs);
        sys::check(ret).map(drop).map_err(|e| (u32::MAX - 1, e))
    }

    /// A description of rule `i` for error messages.
    pub(crate) fn describe(&self, i: u32) -> String {
        match i {
            u32::MAX => "landlock_create_ruleset".into(),
            n if n == u32::MAX - 1 => "landlock_restrict_self".into(),
            n => self
                .rules
                .get(n as usize)
                .map(|r| format!("rule for {} ({:#x})", r.path.to_string_lossy(), r.access))
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn rights_follow_the_abi_and_the_grants() {
        assert_eq!(handled_fs(1), 0x1fff);
        assert_eq!(handled_fs(3), 0x7fff);
        assert_eq!(handled_fs(6), 0xffff);
        let grants = [
            Grant {
                path: "/srv/ro".into(),
                write: false,
                is_dir: true,
            },
            Grant {
                path: "/srv/rw".into(),
                write: true,
                is_dir: true,
            },
            Grant {
                path: "/srv/tool".into(),
                write: true,
                is_dir: false,
            },
        ];
        let p = LandlockPlan::new(6, &[PathBuf::from("/usr")], &grants, View::Namespaced);
        let rule = |path: &str| {
            p.rules
                .iter()
                .find(|r| r.path.as_bytes() == Path::new(path).as_os_str().as_bytes())
                .unwrap_or_else(|| panic!("no rule for {path}"))
                .access
        };
        assert_eq!(rule("/"), READ_DIR);
        assert_eq!(rule("/usr"), EXECUTE | READ_FILE | READ_DIR);
        assert_eq!(rule("/srv/ro"), EXECUTE | READ_FILE | READ_DIR);
        assert_eq!(rule("/srv/rw"), 0xffff);
        assert_eq!(rule("/tmp"), 0xffff);
        // A file gets only file rights (landlock refuses directory rights on files).
        assert_eq!(rule("/srv/tool"), FILE_RIGHTS);
        assert_eq!(p.scoped, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL);
        // An older ABI handles fewer rights and grants none it does not handle.
        let old = LandlockPlan::new(1, &[], &grants, View::Namespaced);
        assert!(old.rules.iter().all(|r| r.access & !0x1fff == 0));
        assert_eq!(old.scoped, 0);
        assert_eq!(
            p.handled_net, 0,
            "the namespaced view has a network namespace"
        );
        // On the host's own tree: no /tmp, /dev node by node, /proc read-only, no TCP.
        let h = LandlockPlan::new(6, &[PathBuf::from("/usr")], &grants, View::Host);
        let has = |path: &str| h.rules.iter().any(|r| r.path.as_bytes() == path.as_bytes());
        assert!(!has("/") && !has("/tmp") && !has("/dev") && !has("/dev/shm"));
        assert!(has("/dev/null") && has("/srv/rw"));
        let proc_rule = h
            .rules
            .iter()
            .find(|r| r.path.as_bytes() == b"/proc")
            .unwrap();
        assert_eq!(proc_rule.access & WRITE_FILE, 0);
        assert_eq!(h.handled_net, NET_BIND_TCP | NET_CONNECT_TCP);
        assert_eq!(
            LandlockPlan::new(3, &[], &grants, View::Host).handled_net,
            0
        );
    }

    /// Enforces a plan in a forked child (landlock needs no privilege once
    /// no_new_privs is set) and checks that a file outside the rules is refused
    /// while one inside is readable: the rules themselves work, apart from mounts.
    #[test]
    fn enforced_rules_refuse_reads_outside_them() {
        if abi().is_err() {
            crate::testing::skip(
                "enforced_rules_refuse_reads_outside_them",
                "no landlock on this host",
            );
            return;
        }
        // Not under /tmp, which every plan grants (in a sandbox it is private).
        let Ok(outside) = tempfile::tempdir_in("/var/tmp") else {
            crate::testing::skip("enforced_rules_refuse_reads_outside_them", "no /var/tmp");
            return;
        };
        let inside = tempfile::tempdir().unwrap();
        std::fs::write(inside.path().join("f"), b"in").unwrap();
        std::fs::write(outside.path().join("f"), b"out").unwrap();
        let grants = [Grant {
            path: inside.path().to_owned(),
            write: false,
            is_dir: true,
        }];
        let plan = LandlockPlan::new(abi().unwrap(), &[], &grants, View::Namespaced);
        let in_f = cpath(&inside.path().join("f"));
        let out_f = cpath(&outside.path().join("f"));
        // SAFETY: the child only makes raw syscalls on memory prepared before the
        // fork, then _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: prctl with constant arguments.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            if plan.enforce().is_err() {
                sys::exit(10);
            }
            let code = match (
                sys::open(&in_f, libc::O_RDONLY, 0),
                sys::open(&out_f, libc::O_RDONLY, 0),
            ) {
                (Ok(_), Err(libc::EACCES)) => 0,
                (Err(_), _) => 11,
                (Ok(_), _) => 12,
            };
            sys::exit(code);
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "10: enforce failed, 11: inside refused, 12: outside readable"
        );
    }
}
