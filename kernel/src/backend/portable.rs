//! The start-up probes on a host that is not Linux (macOS): each Linux facility is
//! reported missing, with the reason, so `doctor` and `/health` show what this build
//! cannot do instead of a silent substitute.

use super::Report;

/// Said of every facility this host lacks.
const NOT_LINUX: &str = "this host is not Linux";

/// No `openat2`: LocalFS confines paths by canonicalizing them.
pub(super) fn probe_openat2() -> Result<(), String> {
    Err(format!(
        "{NOT_LINUX} (openat2 and RESOLVE_BENEATH are Linux 5.6)"
    ))
}

/// No namespaces, so no sandbox: managed processes run as plain children.
pub(super) fn probe_namespaces() -> Report {
    Report::no(
        "none",
        format!(
            "{NOT_LINUX}: no user, pid, mount or network namespaces; managed processes run \
             as plain child processes with no isolation (see the sandbox report)"
        ),
    )
}

/// No landlock.
pub(super) fn probe_landlock() -> Report {
    Report::no("none", format!("{NOT_LINUX}: no landlock"))
}

/// No seccomp.
pub(super) fn probe_seccomp() -> Report {
    Report::no("none", format!("{NOT_LINUX}: no seccomp"))
}
