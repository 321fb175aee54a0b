//! Errors of a spawn: [`SpawnError`], and [`ChildStep`], the names of the child's
//! setup steps that a failure report carries back to the parent.

use std::{fmt, io, path::PathBuf};

use super::spec::SpecError;

/// One step of the child's setup, in the order `child.rs` runs them. The child
/// sends the step's number (and an errno) over the report pipe; the parent turns it
/// back into this and a description of the object involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ChildStep {
    /// Waiting for the parent's go (it closed the pipe instead).
    WaitParent = 1,
    /// Cloning a bind source with `open_tree` (before the uid switch).
    BindSource,
    /// `unshare(CLONE_NEWCGROUP)` after placement.
    CgroupNamespace,
    /// `setgroups`, `setresgid`, `setresuid`, `capset` into the mapped ids.
    Ids,
    /// One mount operation; the index names which.
    Mount,
    /// `pivot_root` into the new root and detaching the old one.
    PivotRoot,
    /// `chdir` to the working directory.
    Chdir,
    /// `sethostname`.
    Hostname,
    /// Bringing `lo` up.
    Loopback,
    /// Building or enforcing the landlock ruleset; the index names the rule.
    Landlock,
    /// Dropping capabilities (bounding, inheritable, ambient, effective/permitted).
    Capabilities,
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// Installing a seccomp filter.
    Seccomp,
    /// Opening the terminal inside the sandbox and sending its master out.
    Console,
    /// Forking the program from the sandbox's init.
    Fork,
    /// `setsid`, controlling terminal, `dup2` of stdio.
    Stdio,
    /// `execve` of the program.
    Exec,
    /// `setrlimit` of the rlimit fallback; the index names the resource.
    Rlimit,
    /// Rootless private: the address, route and listener of the kernel's proxy; the
    /// index names the step.
    Proxy,
}

impl ChildStep {
    pub(crate) fn from_u32(v: u32) -> Option<Self> {
        use ChildStep::*;
        [
            WaitParent,
            BindSource,
            CgroupNamespace,
            Ids,
            Mount,
            PivotRoot,
            Chdir,
            Hostname,
            Loopback,
            Landlock,
            Capabilities,
            NoNewPrivs,
            Seccomp,
            Console,
            Fork,
            Stdio,
            Exec,
            Rlimit,
            Proxy,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }
}

impl fmt::Display for ChildStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WaitParent => "waiting for the parent",
            Self::BindSource => "open_tree of a bind source",
            Self::CgroupNamespace => "unshare(CLONE_NEWCGROUP)",
            Self::Ids => "switching to the mapped uid/gid",
            Self::Mount => "mount",
            Self::PivotRoot => "pivot_root",
            Self::Chdir => "chdir",
            Self::Hostname => "sethostname",
            Self::Loopback => "bringing up lo",
            Self::Landlock => "landlock",
            Self::Capabilities => "dropping capabilities",
            Self::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Self::Seccomp => "seccomp",
            Self::Console => "opening the sandbox's terminal",
            Self::Fork => "fork of the program",
            Self::Stdio => "stdio and terminal setup",
            Self::Exec => "execve",
            Self::Rlimit => "setrlimit",
            Self::Proxy => "the rootless network's address, route and listener",
        })
    }
}

/// Why a sandboxed spawn failed. Whatever the variant, everything the spawn had
/// created is gone: the child is killed and reaped, its fds closed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The spec was refused before anything was created.
    #[error("invalid sandbox spec: {0}")]
    Spec(#[from] SpecError),
    /// A call in the parent failed (pipes, pty, clone, pidfd).
    #[error("`{call}` failed: {source}")]
    Sys {
        call: &'static str,
        #[source]
        source: io::Error,
    },
    /// Writing the child's uid or gid map failed.
    #[error("writing {path}: {source}")]
    IdMap {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `newuidmap` or `newgidmap` refused the subordinate map.
    #[error("{helper} for pid {pid} failed: {message}")]
    IdHelper {
        helper: &'static str,
        pid: i32,
        message: String,
    },
    /// The caller's `placed` hook failed.
    #[error("placing pid {pid}: {source}")]
    Placement {
        pid: i32,
        #[source]
        source: io::Error,
    },
    /// The seccomp filter could not be compiled (a bug or an unsupported arch).
    #[error("compiling the seccomp filter: {0}")]
    Seccomp(String),
    /// A step of the child's setup failed; `detail` names the object.
    #[error("sandbox setup of pid {pid} failed at {step}{}: {source}", fmt_detail(.detail))]
    Setup {
        pid: i32,
        step: ChildStep,
        detail: String,
        #[source]
        source: io::Error,
    },
    /// The child sent something that is not a report.
    #[error("sandbox child {pid} sent a malformed report")]
    Protocol { pid: i32 },
    /// The child did not finish its setup in time.
    #[error("sandbox child {pid} did not finish its setup within {secs} s")]
    Timeout { pid: i32, secs: u64 },
    /// Clean-up after a failure failed too; both are kept.
    #[error("{error}; cleaning up pid {pid} also failed: {cleanup}")]
    Cleanup {
        error: Box<SpawnError>,
        pid: i32,
        cleanup: io::Error,
    },
}

fn fmt_detail(d: &str) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(" ({d})")
    }
}

impl SpawnError {
    pub(crate) fn sys(call: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Sys { call, source }
    }

    /// Whether the caller's input was at fault (invalid argument rather than a
    /// host or internal failure). A program that does not exist or may not be
    /// executed in the view counts as the caller's fault.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::Spec(_) => true,
            Self::Setup {
                step: ChildStep::Exec | ChildStep::Chdir,
                source,
                ..
            } => matches!(
                source.raw_os_error(),
                Some(libc::ENOENT | libc::EACCES | libc::ENOEXEC | libc::ENOTDIR | libc::ELOOP)
            ),
            Self::Cleanup { error, .. } => error.is_invalid_input(),
            _ => false,
        }
    }

    /// Whether the host lacks a facility the sandbox needs (ENOSYS, EOPNOTSUPP):
    /// the caller should fall back to the portable backend and say so.
    pub fn is_unsupported(&self) -> bool {
        let errno = match self {
            Self::Sys { source, .. } | Self::Setup { source, .. } => source.raw_os_error(),
            Self::Seccomp(_) => return true,
            _ => None,
        };
        matches!(errno, Some(libc::ENOSYS | libc::EOPNOTSUPP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_and_messages_name_the_object() {
        for v in 1..=16 {
            let s = ChildStep::from_u32(v).unwrap();
            assert_eq!(s as u32, v);
        }
        assert_eq!(ChildStep::from_u32(0), None);
        assert_eq!(ChildStep::from_u32(99), None);
        let e = SpawnError::Setup {
            pid: 42,
            step: ChildStep::Mount,
            detail: "bind /usr at /usr, read-only".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "sandbox setup of pid 42 failed at mount (bind /usr at /usr, read-only): "
            ),
            "{msg}"
        );
        assert!(!e.is_invalid_input());
        let e = SpawnError::Setup {
            pid: 1,
            step: ChildStep::Exec,
            detail: "/usr/bin/nope".into(),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert!(e.is_invalid_input());
    }
}
