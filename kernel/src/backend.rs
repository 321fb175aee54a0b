//! Host probing, once at start-up: which backend each subsystem gets, and why.
//!
//! Probes try the facility rather than read version numbers (as tokio's io_uring
//! driver does): `io_uring_setup` and its opcode probe, `openat2` on a real
//! directory, `unshare` in a forked child, the cgroup filesystem magic, landlock's
//! ABI query, seccomp's action query, a sealed memfd. The result feeds `agentos-kernel doctor`,
//! the `Doctor` RPC and, through the services layer, `/health`.

#[cfg(target_os = "linux")]
use std::ffi::CString;
use std::{collections::BTreeMap, path::Path};

use agentos_proto::v1 as pb;

#[cfg(not(target_os = "linux"))]
mod portable;
#[cfg(not(target_os = "linux"))]
use portable::{probe_landlock, probe_namespaces, probe_openat2, probe_seccomp};

use crate::{
    cgroup::CgroupLayout,
    config::VfsBackendChoice,
    vfs::local::{RingChoice, RingHandle},
};

/// One subsystem's verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub backend: String,
    pub available: bool,
    pub reason: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

impl Report {
    pub fn yes(backend: &str, reason: impl Into<String>) -> Self {
        Self {
            backend: backend.into(),
            available: true,
            reason: reason.into(),
            details: BTreeMap::new(),
        }
    }

    pub fn no(backend: &str, reason: impl Into<String>) -> Self {
        Self {
            backend: backend.into(),
            available: false,
            reason: reason.into(),
            details: BTreeMap::new(),
        }
    }

    fn detail(mut self, k: &str, v: impl Into<String>) -> Self {
        self.details.insert(k.into(), v.into());
        self
    }

    pub fn to_proto(&self) -> pb::SubsystemReport {
        pb::SubsystemReport {
            backend: self.backend.clone(),
            available: self.available,
            reason: self.reason.clone(),
            details: self.details.clone().into_iter().collect(),
        }
    }
}

/// The chosen backends.
pub struct Backends {
    pub ring: RingChoice,
    pub cgroups: CgroupLayout,
    pub reports: BTreeMap<String, Report>,
}

impl Backends {
    /// Probes everything except eBPF (which the daemon reports once it tried).
    pub fn detect(vfs: VfsBackendChoice, cgroup_root: &Path) -> Self {
        let mut reports = BTreeMap::new();
        let openat2 = probe_openat2();
        let ring = match (vfs, &openat2) {
            (VfsBackendChoice::Portable, _) => {
                reports.insert(
                    "io_uring".into(),
                    Report::no(
                        "std::fs",
                        "portable backend forced by --vfs-backend portable",
                    ),
                );
                RingChoice::Portable
            }
            (VfsBackendChoice::Auto, Err(why)) => {
                reports.insert("io_uring".into(), Report::no("std::fs", format!("openat2 is missing ({why}), so LocalFS cannot confine paths on io_uring")));
                RingChoice::Portable
            }
            (VfsBackendChoice::Auto, Ok(())) => {
                match RingHandle::start() {
                    Ok(r) => {
                        reports.insert(
                        "io_uring".into(),
                        Report::yes("io_uring", "io_uring_setup succeeded and every opcode LocalFS uses is supported")
                            .detail("entries", "256")
                            .detail("rings", r.rings().to_string())
                            .detail("threads", "agentos-uring<N>, one per ring"),
                    );
                        RingChoice::Uring(r)
                    }
                    Err(why) => {
                        reports.insert(
                            "io_uring".into(),
                            Report::no("std::fs", format!("falling back to std::fs: {why}")),
                        );
                        RingChoice::Portable
                    }
                }
            }
        };
        reports.insert(
            "openat2".into(),
            match &openat2 {
                Ok(()) => Report::yes(
                    "openat2",
                    "RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS confine every LocalFS path",
                ),
                Err(why) => Report::no(
                    "canonicalize",
                    format!(
                        "openat2 unavailable ({why}); confinement is a racy canonicalize-then-check"
                    ),
                ),
            },
        );
        reports.insert("namespaces".into(), probe_namespaces());
        let cgroups = CgroupLayout::detect(cgroup_root);
        reports.insert("cgroups".into(), cgroups.report());
        reports.insert("landlock".into(), probe_landlock());
        reports.insert("seccomp".into(), probe_seccomp());
        reports.insert("shared_memory".into(), probe_shared_memory());
        Self {
            ring,
            cgroups,
            reports,
        }
    }

    /// The whole report, keyed by subsystem.
    pub fn to_proto(&self) -> BTreeMap<String, pb::SubsystemReport> {
        self.reports
            .iter()
            .map(|(k, v)| (k.clone(), v.to_proto()))
            .collect()
    }
}

/// `openat2(RESOLVE_BENEATH)` on `/`: ENOSYS/EPERM mean missing or filtered.
#[cfg(target_os = "linux")]
fn probe_openat2() -> Result<(), String> {
    let path = CString::new(".").expect("no NUL");
    // SAFETY: open_how is plain old data; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    let root = CString::new("/").expect("no NUL");
    // SAFETY: plain syscalls on valid C strings and a live open_how; fds are closed.
    unsafe {
        let dir = libc::open(
            root.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let fd = libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        );
        let err = std::io::Error::last_os_error();
        libc::close(dir);
        if fd < 0 {
            return Err(err.to_string());
        }
        libc::close(fd as i32);
    }
    Ok(())
}

/// Forks a child that unshares every namespace kind the sandbox needs.
/// Shared-memory streams: a sealed memfd made and mapped, as each stream does.
fn probe_shared_memory() -> Report {
    match crate::shm::Broker::new(1 << 20).region(4096, crate::shm::ClientAccess::Read) {
        Ok(_) => Report::yes(
            "memfd",
            "sealed memfd regions; fds handed over as SCM_RIGHTS on kernel.fds.sock",
        ),
        Err(e) => Report::no("inline", format!("{e}; streams send their bytes inline")),
    }
}

#[cfg(target_os = "linux")]
fn probe_namespaces() -> Report {
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWCGROUP;
    // SAFETY: the child only calls async-signal-safe unshare and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Report::no(
            "none",
            format!("fork failed: {}", std::io::Error::last_os_error()),
        );
    }
    if pid == 0 {
        // SAFETY: in the forked child; no allocation, no locks.
        unsafe {
            let rc = libc::unshare(flags);
            libc::_exit(if rc == 0 {
                0
            } else {
                *libc::__errno_location()
            });
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child we just forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = libc::WEXITSTATUS(status);
    if libc::WIFEXITED(status) && code == 0 {
        Report::yes(
            "linux",
            "unshare(user, pid, mount, net, uts, ipc, cgroup) succeeded in a probe child",
        )
    } else {
        Report::no(
            "none",
            format!(
                "unshare failed in a probe child: {}",
                std::io::Error::from_raw_os_error(code)
            ),
        )
    }
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)` returns the ABI.
#[cfg(target_os = "linux")]
fn probe_landlock() -> Report {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: the version query takes no pointer.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi > 0 {
        Report::yes("landlock", format!("landlock ABI {abi}")).detail("abi", abi.to_string())
    } else {
        Report::no(
            "none",
            format!("landlock unavailable: {}", std::io::Error::last_os_error()),
        )
    }
}

/// `seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &SECCOMP_RET_KILL_PROCESS)`.
#[cfg(target_os = "linux")]
fn probe_seccomp() -> Report {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_long = 2;
    const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
    let action = SECCOMP_RET_KILL_PROCESS;
    // SAFETY: the kernel reads one u32 from a live local.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    if rc == 0 {
        Report::yes(
            "seccomp-bpf",
            "seccomp filters with SECCOMP_RET_KILL_PROCESS are available",
        )
    } else {
        Report::no(
            "none",
            format!("seccomp unavailable: {}", std::io::Error::last_os_error()),
        )
    }
}

/// The eBPF report, from the probes' start-up outcome.
pub fn ebpf_report(status: &crate::observe::ProbeStatus) -> Report {
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    let lsm = match crate::observe::bpf_lsm_active() {
        Ok(()) => "true".to_owned(),
        Err(why) => format!("false: {why}"),
    };
    let r = match status {
        crate::observe::ProbeStatus::Live { programs, .. } => Report::yes(
            "aya",
            "lifecycle, open, connect, syscall and scheduling probes, filtered in the host \
             kernel to the managed processes' cgroups",
        )
        .detail("programs", programs.join(",")),
        crate::observe::ProbeStatus::Unavailable { reason } => {
            Report::no("userspace", format!("userspace events only: {reason}"))
        }
    };
    r.detail("btf", btf.to_string()).detail("bpf_lsm", lsm)
}

/// The kernel wall's report: each of its three parts (the `file_open` LSM program, the
/// cgroup connect/sendmsg programs, the cgroup bind programs) live, or why not, in the
/// details; the verdict names the parts that are live and those that are not, and is
/// "available" only when all three are.
pub fn lsm_wall_report(status: &crate::observe::ProbeStatus) -> Report {
    use agentos_ebpf_common::names;

    use crate::observe::ProbeStatus;
    let wall = match status {
        ProbeStatus::Live { wall, .. } => wall,
        ProbeStatus::Unavailable { reason } => {
            return Report::no(
                "none",
                format!(
                    "the kernel wall is not live: it is part of the eBPF probes, which are not \
                     loaded ({reason})"
                ),
            );
        }
    };
    let parts = [
        WallPart {
            key: "open",
            walls: "file opens",
            mechanism: "bpf-lsm",
            state: &wall.open,
            programs: format!(
                "{} on lsm/{}",
                names::OPEN_WALL_PROGRAM,
                names::OPEN_WALL_HOOK
            ),
        },
        WallPart {
            key: "connect",
            walls: "connects/UDP sends",
            mechanism: "cgroup",
            state: &wall.connect,
            programs: format!(
                "{}, {}, {} and {} on the kernel's cgroup",
                names::CONNECT4_WALL_PROGRAM,
                names::CONNECT6_WALL_PROGRAM,
                names::SEND4_WALL_PROGRAM,
                names::SEND6_WALL_PROGRAM
            ),
        },
        WallPart {
            key: "bind",
            walls: "binds",
            mechanism: "cgroup",
            state: &wall.bind,
            programs: format!(
                "{} and {} on the kernel's cgroup (checked for network mode shared)",
                names::BIND4_WALL_PROGRAM,
                names::BIND6_WALL_PROGRAM
            ),
        },
    ];
    let (live, dead): (Vec<&WallPart>, Vec<&WallPart>) =
        parts.iter().partition(|p| p.state.is_ok());
    let mut mechanisms: Vec<&str> = live.iter().map(|p| p.mechanism).collect();
    mechanisms.dedup();
    let backend = match mechanisms.join("+") {
        m if m.is_empty() => "none".to_owned(),
        m => m,
    };
    // "x", "x and y", "x, y and z".
    let walls = |ps: &[&WallPart]| match ps {
        [rest @ .., last] if !rest.is_empty() => {
            let rest: Vec<_> = rest.iter().map(|p| p.walls).collect();
            format!("{} and {}", rest.join(", "), last.walls)
        }
        _ => ps.iter().map(|p| p.walls).collect(),
    };
    let r = if dead.is_empty() {
        Report::yes(
            &backend,
            "file opens, connects, UDP sends and binds of managed processes that their grants \
             do not allow are refused in the host kernel, behind the mount namespace, landlock \
             and seccomp",
        )
    } else {
        let why = dead
            .iter()
            .map(|p| format!("{} {}", p.walls, p.said()))
            .collect::<Vec<_>>()
            .join("; ");
        Report::no(
            &backend,
            if live.is_empty() {
                format!("the kernel wall is not live: {why}")
            } else {
                format!(
                    "only {} are walled in the host kernel; {} are not ({why})",
                    walls(&live),
                    walls(&dead)
                )
            },
        )
    };
    parts.iter().fold(r, |r, p| r.detail(p.key, p.said()))
}

/// One part of the kernel wall, for its report.
struct WallPart<'a> {
    /// Its key in the report's details.
    key: &'static str,
    /// What it refuses.
    walls: &'static str,
    /// The facility it uses (the report's backend names the live ones).
    mechanism: &'static str,
    state: &'a Result<(), String>,
    /// Its programs and where they are attached.
    programs: String,
}

impl WallPart<'_> {
    /// "live: <programs>" or "not live: <why>".
    fn said(&self) -> String {
        match self.state {
            Ok(()) => format!("live: {}", self.programs),
            Err(why) => format!("not live: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{ProbeStatus, WallStatus};

    fn wall(open: Result<(), &str>, connect: Result<(), &str>, bind: Result<(), &str>) -> Report {
        let own = |r: Result<(), &str>| r.map_err(str::to_owned);
        lsm_wall_report(&ProbeStatus::Live {
            programs: Vec::new(),
            wall: WallStatus {
                open: own(open),
                connect: own(connect),
                bind: own(bind),
            },
        })
    }

    #[test]
    fn the_wall_report_says_each_part_and_is_available_only_with_all_three() {
        let all = wall(Ok(()), Ok(()), Ok(()));
        assert!(all.available, "{all:?}");
        assert_eq!(all.backend, "bpf-lsm+cgroup");
        assert!(all.reason.contains("binds"), "{all:?}");

        // The bind half alone missing: not a whole wall, and the verdict says which part.
        let no_bind = wall(Ok(()), Ok(()), Err("EPERM"));
        assert!(!no_bind.available, "{no_bind:?}");
        assert_eq!(no_bind.backend, "bpf-lsm+cgroup");
        assert_eq!(
            no_bind.reason,
            "only file opens and connects/UDP sends are walled in the host kernel; binds \
             are not (binds not live: EPERM)"
        );
        assert_eq!(no_bind.details["bind"], "not live: EPERM");
        assert!(no_bind.details["open"].starts_with("live: "), "{no_bind:?}");
        assert!(
            no_bind.details["connect"].starts_with("live: "),
            "{no_bind:?}"
        );

        // No BPF LSM (this VM): the cgroup halves alone.
        let no_lsm = wall(Err("no BPF LSM"), Ok(()), Ok(()));
        assert!(!no_lsm.available);
        assert_eq!(no_lsm.backend, "cgroup");
        assert!(
            no_lsm
                .reason
                .starts_with("only connects/UDP sends and binds are walled"),
            "{no_lsm:?}"
        );
        assert!(
            no_lsm.reason.contains("file opens not live: no BPF LSM"),
            "{no_lsm:?}"
        );

        let only_open = wall(Ok(()), Err("EPERM"), Err("EBUSY"));
        assert_eq!(only_open.backend, "bpf-lsm");
        assert!(
            only_open
                .reason
                .contains("connects/UDP sends not live: EPERM")
                && only_open.reason.contains("binds not live: EBUSY"),
            "{only_open:?}"
        );

        let none = wall(Err("a"), Err("b"), Err("c"));
        assert!(!none.available);
        assert_eq!(none.backend, "none");
        assert!(
            none.reason
                .starts_with("the kernel wall is not live: file opens not live: a"),
            "{none:?}"
        );
    }
}
