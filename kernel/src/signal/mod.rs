//! Signals for managed processes, with semantics that hold for the real processes.
//!
//! * Delivery is `pidfd_send_signal` (see [`crate::process::Process::signal`]).
//! * Pending, blocked, ignored and caught sets are read from `/proc/<pid>/status`
//!   (`SigPnd`/`ShdPnd`, `SigBlk`, `SigIgn`, `SigCgt`): the process's own truth.
//! * The kernel adds two things of its own per process: the signals a process said
//!   (through its kernel socket) it has handlers for, and a kernel-level block set.
//!   A signal sent through the kernel while kernel-blocked is held here and
//!   delivered when unblocked; SIGKILL and SIGSTOP cannot be blocked, as in Linux.
//! * `wait_for_signal` returns when the kernel delivers one of the given signals to
//!   the process, or times out.
//!
//! Nothing is left on the host; state of exited processes is dropped with them.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::Duration,
};

use tokio::sync::broadcast;

use crate::{error::KernelError, process::ProcessTable};

/// Highest signal number (real-time signals included).
pub const SIG_MAX: i32 = 64;

#[derive(Default)]
struct PerProcess {
    handlers: BTreeSet<i32>,
    blocked: BTreeSet<i32>,
    held: BTreeSet<i32>,
}

/// The real masks of a process, from /proc.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcMasks {
    pub pending: Vec<i32>,
    pub blocked: Vec<i32>,
    pub ignored: Vec<i32>,
    pub caught: Vec<i32>,
}

/// What the kernel knows of a process's signals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalState {
    pub masks: ProcMasks,
    pub handlers: Vec<i32>,
    pub kernel_blocked: Vec<i32>,
    pub kernel_pending: Vec<i32>,
}

/// The signal subsystem.
pub struct Signals {
    state: Mutex<HashMap<u32, PerProcess>>,
    delivered: broadcast::Sender<(u32, i32)>,
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            delivered: broadcast::channel(1024).0,
        }
    }
}

/// Checks a signal number (0 is not a signal to send).
pub fn check(sig: i32) -> Result<i32, KernelError> {
    if (1..=SIG_MAX).contains(&sig) {
        Ok(sig)
    } else {
        Err(KernelError::InvalidArgument(format!(
            "signal {sig} is outside 1..={SIG_MAX}"
        )))
    }
}

fn unblockable(sig: i32) -> bool {
    sig == libc::SIGKILL || sig == libc::SIGSTOP
}

/// Decodes a hex signal mask (bit n-1 = signal n).
pub fn mask_signals(hex: &str) -> Vec<i32> {
    let bits = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    (1..=SIG_MAX)
        .filter(|s| bits & (1u64 << (s - 1)) != 0)
        .collect()
}

/// Reads the masks from a `/proc/<pid>/status` text.
pub fn parse_status(status: &str) -> ProcMasks {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(mask_signals)
            .unwrap_or_default()
    };
    let mut pending = field("SigPnd:");
    pending.extend(field("ShdPnd:"));
    pending.sort_unstable();
    pending.dedup();
    ProcMasks {
        pending,
        blocked: field("SigBlk:"),
        ignored: field("SigIgn:"),
        caught: field("SigCgt:"),
    }
}

impl Signals {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, PerProcess>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `sig` to `pid` through its pidfd, unless the kernel-level block set
    /// holds it back. Returns whether it was delivered now.
    pub fn send(&self, table: &ProcessTable, pid: u32, sig: i32) -> Result<bool, KernelError> {
        let sig = check(sig)?;
        let p = table.get(pid)?;
        {
            let mut st = self.lock();
            let e = st.entry(pid).or_default();
            if e.blocked.contains(&sig) && !unblockable(sig) {
                e.held.insert(sig);
                return Ok(false);
            }
        }
        p.signal(sig)?;
        let _ = self.delivered.send((pid, sig));
        Ok(true)
    }

    pub fn register_handler(&self, pid: u32, sig: i32, on: bool) -> Result<(), KernelError> {
        let sig = check(sig)?;
        if unblockable(sig) {
            return Err(KernelError::InvalidArgument(format!(
                "signal {sig} cannot be caught"
            )));
        }
        let mut st = self.lock();
        let e = st.entry(pid).or_default();
        if on {
            e.handlers.insert(sig);
        } else {
            e.handlers.remove(&sig);
        }
        Ok(())
    }

    /// Blocks (holds back) or unblocks `sig` for `pid`; unblocking delivers what was held.
    pub fn block(
        &self,
        table: &ProcessTable,
        pid: u32,
        sig: i32,
        on: bool,
    ) -> Result<(), KernelError> {
        let sig = check(sig)?;
        if on && unblockable(sig) {
            return Err(KernelError::InvalidArgument(format!(
                "signal {sig} cannot be blocked"
            )));
        }
        let p = table.get(pid)?;
        let release = {
            let mut st = self.lock();
            let e = st.entry(pid).or_default();
            if on {
                e.blocked.insert(sig);
                false
            } else {
                e.blocked.remove(&sig);
                e.held.remove(&sig)
            }
        };
        if release {
            p.signal(sig)?;
            let _ = self.delivered.send((pid, sig));
        }
        Ok(())
    }

    /// The real masks plus the kernel's own state.
    pub fn state(&self, table: &ProcessTable, pid: u32) -> Result<SignalState, KernelError> {
        let p = table.get(pid)?;
        let masks = if p.state().is_final() {
            ProcMasks::default()
        } else {
            // The program's masks, not those of the sandbox's init (which catches
            // everything to forward it).
            let program = program_pid(pid).unwrap_or(pid);
            std::fs::read_to_string(format!("/proc/{program}/status"))
                .map(|s| parse_status(&s))
                .unwrap_or_default()
        };
        let st = self.lock();
        let e = st.get(&pid);
        let list = |f: fn(&PerProcess) -> &BTreeSet<i32>| {
            e.map(|e| f(e).iter().copied().collect())
                .unwrap_or_default()
        };
        Ok(SignalState {
            masks,
            handlers: list(|e| &e.handlers),
            kernel_blocked: list(|e| &e.blocked),
            kernel_pending: list(|e| &e.held),
        })
    }

    /// Waits until the kernel delivers one of `sigs` (any if empty) to `pid`.
    pub async fn wait(
        &self,
        pid: u32,
        sigs: &[i32],
        timeout: Duration,
    ) -> Result<i32, KernelError> {
        let mut rx = self.delivered.subscribe();
        let wanted = |s: i32| sigs.is_empty() || sigs.contains(&s);
        let wait = async {
            loop {
                match rx.recv().await {
                    Ok((p, s)) if p == pid && wanted(s) => return Ok(s),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(KernelError::Cancelled),
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| KernelError::Timeout(timeout))?
    }

    /// Forgets an exited process.
    pub fn forget(&self, pid: u32) {
        self.lock().remove(&pid);
    }
}

/// The program behind a sandbox's init: init's child (the portable backend has no
/// init, and then there is none). Found by scanning /proc for the parent pid, since
/// this kernel has no `/proc/<pid>/task/<tid>/children`.
pub fn program_pid(init: u32) -> Option<u32> {
    let comm = std::fs::read_to_string(format!("/proc/{init}/comm")).ok()?;
    if comm.trim() != "agentos:init" {
        return None;
    }
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == init).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_proc_masks() {
        let status = "Name:\tsleep\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000004000\nSigBlk:\t0000000000010002\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000000201\n";
        let m = parse_status(status);
        assert_eq!(m.pending, vec![15]);
        assert_eq!(m.blocked, vec![2, 17]);
        assert_eq!(m.ignored, vec![3]);
        assert_eq!(m.caught, vec![1, 10]);
    }

    #[test]
    fn checks_signal_numbers() {
        assert!(check(0).is_err() && check(65).is_err() && check(-1).is_err());
        assert_eq!(check(15).unwrap(), 15);
        let s = Signals::default();
        assert!(
            s.register_handler(1, libc::SIGKILL, true).is_err(),
            "SIGKILL cannot be caught"
        );
        s.register_handler(1, libc::SIGUSR1, true).unwrap();
        assert!(s.lock()[&1].handlers.contains(&libc::SIGUSR1));
    }
}
