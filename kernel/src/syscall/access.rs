//! Access checks: the one place a managed process's syscall is allowed or refused.
//!
//! Calls from the user (the services layer, the CLI: `Caller::managed` is `None`) are
//! not checked: they act for the person at the desktop. Calls that come in on a
//! managed process's own kernel socket are checked, every one, against that
//! process's [`Policy`](crate::capability::Policy) through the permission cache.
//!
//! Each handler states its own rule as its first line, beside its code in its
//! category file: [`Kernel::path`] for a path (resolved once, against the caller's
//! working directory, and that same resolution is what the handler then uses),
//! [`Kernel::check`] for anything else. Both end in [`Kernel::authorize`], so a
//! refusal (and whatever records it) happens in one place.
//!
//! Paths are checked as host paths when a LocalFS mount backs them (the same
//! namespace the sandbox's mounts use, so checks and walls cannot disagree), and as
//! virtual paths otherwise (MemFS). A denial is told to people in the process's own
//! view (the virtual path it asked for); only the grant it offers names the host path,
//! since that is what the policy holds.

use std::path::PathBuf;

use super::Kernel;
use crate::{
    capability::{Access, Decision},
    error::KernelError,
    identity::Caller,
    observe::collector::{Category, Severity},
    vfs::VirtPath,
};

/// Builds the access a path needs, from its host path (e.g. `Access::Read`).
pub type PathAccess = fn(PathBuf) -> Access;

impl Kernel {
    /// Checks `accesses` against the managed caller's capabilities (user callers
    /// pass); the first denial is the error.
    pub fn authorize(&self, caller: &Caller, accesses: &[Access]) -> Result<(), KernelError> {
        self.authorize_at(caller, accesses, None)
    }

    /// [`Kernel::authorize`] for accesses to `path`, the virtual path the caller
    /// named, which a denial reports instead of the host path.
    fn authorize_at(
        &self,
        caller: &Caller,
        accesses: &[Access],
        path: Option<&VirtPath>,
    ) -> Result<(), KernelError> {
        let Some(pid) = caller.managed else {
            return Ok(());
        };
        let process = self.processes.get(pid)?;
        for a in accesses {
            if let Decision::Deny { reason } = self.permissions.check(pid, &process.policy(), a)
                && !process.granted_at_run_time(a)
            {
                self.collector.emit(super::event(
                    caller,
                    Category::Sandbox,
                    Severity::Warn,
                    "denied",
                ));
                let denial = denial(a, &reason, path);
                let message = denial.reason.clone();
                self.publish_denial(&process, denial);
                return Err(KernelError::PermissionDenied(message));
            }
        }
        Ok(())
    }

    /// Tells `WatchEvents` subscribers (the services layer, which tells the app's
    /// window) what `process` was refused and which grant would allow it.
    fn publish_denial(&self, process: &crate::process::Process, denial: crate::observe::Denial) {
        use crate::observe::{Owner, ProcessEvent};
        self.events.publish(ProcessEvent {
            comm: process.name.clone(),
            owner: Some(Owner {
                pid: process.pid,
                app: process.name.as_str().into(),
            }),
            ..ProcessEvent::denied(
                process.pid,
                process.pid,
                process.cgroup_id.unwrap_or(0),
                crate::observe::event::monotonic_ns(),
                denial,
            )
        });
    }

    /// Checks one access that names no path.
    pub fn check(&self, caller: &Caller, access: Access) -> Result<(), KernelError> {
        self.authorize(caller, &[access])
    }

    /// Resolves `raw` against the caller's working directory, once, and checks
    /// `access` on it: the path a handler then works on.
    pub fn path(
        &self,
        caller: &Caller,
        raw: &str,
        access: PathAccess,
    ) -> Result<VirtPath, KernelError> {
        let path = self.resolve(caller, raw)?;
        // Only a managed caller pays for working out the host path.
        if caller.managed.is_some() {
            self.authorize_at(caller, &[access(self.host_path(&path))], Some(&path))?;
        }
        Ok(path)
    }

    /// Resolves `raw` against the caller's working directory, unchecked.
    pub(crate) fn resolve(&self, caller: &Caller, raw: &str) -> Result<VirtPath, KernelError> {
        // Absolute paths need no working directory (and no lookup of the caller's state).
        if raw.starts_with('/') {
            return Ok(VirtPath::parse(raw, &VirtPath::root())?);
        }
        Ok(VirtPath::parse(raw, &self.callers.cwd(caller))?)
    }

    /// The host path a virtual path names (or the virtual path itself for MemFS).
    pub(crate) fn host_path(&self, path: &VirtPath) -> PathBuf {
        self.vfs
            .host_path(path)
            .unwrap_or_else(|| PathBuf::from(path.as_str()))
    }
}

/// What `access` was refused, for people: in the caller's view when it named the
/// virtual path `path` (the host path it maps to is replaced in the text), with the
/// grant that would allow it, which keeps the host path the policy checks.
fn denial(access: &Access, reason: &str, path: Option<&VirtPath>) -> crate::observe::Denial {
    let mut d = crate::observe::Denial {
        access: access.to_string(),
        reason: reason.to_owned(),
        capability: access.grant().map(|c| c.to_string()),
        path: None,
        wall: crate::observe::event::WALL_CAPABILITY,
    };
    if let Some(path) = path {
        if let Some(host) = access.path().map(|p| p.display().to_string())
            && host != path.as_str()
        {
            d.access = d.access.replacen(&host, path.as_str(), 1);
            d.reason = d.reason.replace(&host, path.as_str());
        }
        d.path = Some(path.as_str().to_owned());
    }
    d
}

/// The access a call about process `pid` needs: control over a process, its own
/// or another's.
pub(crate) fn control(caller: &Caller, pid: u32) -> Access {
    Access::Kill {
        target_owned: caller.managed == Some(pid),
    }
}

/// The access reserved to the desktop (scheduler control, sandbox updates).
pub(crate) const DESKTOP: Access = Access::Kill {
    target_owned: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_names_the_path_the_process_asked_for_and_offers_the_host_grant() {
        let host = PathBuf::from("/var/lib/agentos/vfs/home/notes.txt");
        let virt = VirtPath::parse("/home/notes.txt", &VirtPath::root()).unwrap();
        let reason = format!("no ReadFile grant covers {}", host.display());
        let d = denial(&Access::Read(host.clone()), &reason, Some(&virt));
        assert_eq!(d.access, "read /home/notes.txt");
        assert_eq!(d.reason, "no ReadFile grant covers /home/notes.txt");
        assert_eq!(d.path.as_deref(), Some("/home/notes.txt"));
        assert_eq!(
            d.capability.as_deref(),
            Some("read:/var/lib/agentos/vfs/home/notes.txt")
        );

        // No virtual path (a check that names none): the text is left as it was.
        let d = denial(&Access::Time, "no TimeAccess grant", None);
        assert_eq!((d.access.as_str(), d.path), ("read the time", None));
    }
}
