//! What each syscall needs from a managed process's capabilities.
//!
//! Calls from the user (the services layer, the CLI: `Caller::managed` is `None`) are
//! not checked: they act for the person at the desktop. Calls that come in on a
//! managed process's own kernel socket are checked, every one, against that
//! process's [`Policy`](crate::capability::Policy) through the permission cache.
//! Paths are checked as host paths when a LocalFS mount backs them (the same
//! namespace the sandbox's mounts use, so checks and walls cannot disagree), and as
//! virtual paths otherwise (MemFS).

use std::path::PathBuf;

use agentos_proto::v1::syscall::Call;

use super::Kernel;
use crate::{capability::Access, error::KernelError, identity::Caller, vfs::VirtPath};

/// The host path a virtual path names (or the virtual path itself for MemFS).
fn host(k: &Kernel, caller: &Caller, raw: &str) -> Result<PathBuf, KernelError> {
    let p = super::fs_path(k, caller, raw)?;
    Ok(k.vfs
        .host_path(&p)
        .unwrap_or_else(|| PathBuf::from(p.as_str())))
}

fn cwd_host(k: &Kernel, caller: &Caller) -> PathBuf {
    let cwd: VirtPath = k.callers.cwd(caller);
    k.vfs
        .host_path(&cwd)
        .unwrap_or_else(|| PathBuf::from(cwd.as_str()))
}

/// The accesses `call` makes.
pub fn accesses(k: &Kernel, caller: &Caller, call: &Call) -> Result<Vec<Access>, KernelError> {
    let h = |raw: &str| host(k, caller, raw);
    Ok(match call {
        Call::Read(c) => vec![Access::Read(h(&c.path)?)],
        Call::Write(c) => vec![Access::Write(h(&c.path)?)],
        Call::Create(c) => vec![Access::Create(h(&c.path)?)],
        Call::Delete(c) => vec![Access::Delete(h(&c.path)?)],
        Call::List(c) => vec![Access::List(h(&c.path)?)],
        Call::Stat(c) => vec![Access::Read(h(&c.path)?)],
        Call::Exists(c) => vec![Access::Read(h(&c.path)?)],
        Call::Move(c) => vec![Access::Delete(h(&c.from)?), Access::Create(h(&c.to)?)],
        Call::Copy(c) => vec![Access::Read(h(&c.from)?), Access::Create(h(&c.to)?)],
        Call::Mkdir(c) => vec![Access::Create(h(&c.path)?)],
        Call::Rmdir(c) => vec![Access::Delete(h(&c.path)?)],
        Call::Truncate(c) => vec![Access::Write(h(&c.path)?)],
        Call::Getcwd(_) => vec![Access::List(cwd_host(k, caller))],
        Call::Setcwd(c) => vec![Access::List(h(&c.path)?)],
        Call::Time(_) | Call::Sleep(_) | Call::Uptime(_) => vec![Access::Time],
        Call::SystemInfo(_) | Call::GetEnv(_) | Call::SetEnv(_) => vec![Access::SystemInfo],
        Call::Spawn(_) => vec![Access::Spawn],
        Call::Kill(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        Call::SendSignal(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        Call::BlockSignal(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        Call::UnblockSignal(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        // A process's own handler registrations and waits concern only itself.
        Call::RegisterHandler(_) | Call::UnregisterHandler(_) => vec![],
        Call::WaitForSignal(c) if c.pid == 0 => vec![],
        Call::Freeze(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        Call::SetPriority(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        Call::BoostPriority(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        Call::LowerPriority(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        Call::TriggerGc(c) => vec![Access::Kill {
            target_owned: owned(caller, c.pid),
        }],
        // Scheduler control is the desktop's; processes may only look.
        Call::SetPolicy(_) | Call::SetQuantum(_) | Call::SetFocus(_) | Call::ScheduleNext(_) => {
            vec![Access::Kill {
                target_owned: false,
            }]
        }
        Call::Yield(c) if c.pid == 0 => vec![],
        Call::Yield(_)
        | Call::WaitForSignal(_)
        | Call::GetInfo(_)
        | Call::ListProcesses(_)
        | Call::GetState(_)
        | Call::GetStats(_)
        | Call::Wait(_)
        | Call::GetPending(_)
        | Call::GetSignalState(_)
        | Call::GetCurrent(_)
        | Call::SchedulerStats(_)
        | Call::GetPolicy(_)
        | Call::GetQuantum(_)
        | Call::MemoryStats(_)
        | Call::ProcessMemoryStats(_) => vec![Access::SystemInfo],
    })
}

/// Whether a managed caller targets itself.
fn owned(caller: &Caller, pid: u32) -> bool {
    caller.managed == Some(pid)
}

impl Kernel {
    /// Checks `accesses` against the managed caller's capabilities (user callers
    /// pass); the first denial is the error.
    pub fn authorize(&self, caller: &Caller, accesses: &[Access]) -> Result<(), KernelError> {
        let Some(pid) = caller.managed else {
            return Ok(());
        };
        let process = self.processes.get(pid)?;
        for a in accesses {
            if let crate::capability::Decision::Deny { reason } =
                self.permissions.check(pid, &process.policy(), a)
            {
                return Err(KernelError::PermissionDenied(reason));
            }
        }
        Ok(())
    }
}
