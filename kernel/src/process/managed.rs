//! [`Process`]: one managed process, what it was given (limits, grants, its network) and
//! the controls on it (signals, freezing, priority, stdin, resize, wait).

use std::{
    os::fd::OwnedFd,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI32, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::sync::watch;

use super::{
    ExitInfo, ProcessError, ProcessState, isolation,
    output::Output,
    procfs::{self, children_of},
};
use crate::{
    cgroup::{CgroupStats, Limits, ProcessCgroup},
    error::KernelError,
    sandbox::ProcessHandle,
};

/// Grants added to a running process.
#[derive(Default)]
pub(super) struct RuntimeGrants {
    always: crate::capability::Policy,
    /// Each allows one call, then is gone.
    once: Vec<crate::capability::Capability>,
}

/// One managed process.
pub struct Process {
    pub pid: u32,
    pub name: String,
    pub argv: Vec<String>,
    pub tty: bool,
    /// Bytes its private `/tmp` may hold (0: it has none, on the portable backend).
    pub tmp_size: u64,
    pub started: SystemTime,
    pub sandbox: &'static str,
    /// The rung it got and how its limits are enforced.
    pub isolation: isolation::Isolation,
    pub(super) state: watch::Sender<ProcessState>,
    pub(super) exit: Mutex<Option<ExitInfo>>,
    pub(super) limits: Mutex<Limits>,
    /// Replaced (never widened) when grants are revoked; the lock serialises revokes.
    pub(super) policy: Mutex<Arc<crate::capability::Policy>>,
    /// Grants added while it runs (after a denial): they widen the kernel's checks,
    /// never its walls, which were built at spawn.
    pub(super) granted: Mutex<RuntimeGrants>,
    /// Whether it runs in a namespace sandbox (whose view follows its policy).
    pub(super) isolated: bool,
    pub(super) priority: AtomicI32,
    /// Frozen on request (the `freeze` syscall): the scheduler's passes keep it frozen.
    pub(crate) held: std::sync::atomic::AtomicBool,
    pub(super) cgroup: Mutex<Option<ProcessCgroup>>,
    /// Its v2 cgroup's id while the probes watched it, kept for its whole life (the cgroup
    /// goes at reap): the key its eBPF events and denials carry.
    pub cgroup_id: Option<u64>,
    pub(super) cgroup_name: String,
    /// Keeps its cgroup in the eBPF probes' filter until the cgroup is removed.
    pub(super) watched: Mutex<Option<crate::observe::Watched>>,
    /// What the probes counted for it, kept once its cgroup is gone.
    pub(super) final_figures: Mutex<Option<crate::observe::ProbeFigures>>,
    /// Its handle (a pidfd on Linux) while it lives; closed once it is reaped (an
    /// exited entry kept for `get_info`/`wait` holds no fds).
    pub(super) handle: Mutex<Option<Arc<ProcessHandle>>>,
    /// Where the sandbox's init relays the program's own wait status.
    pub(super) relayed: Mutex<Option<OwnedFd>>,
    pub(super) stdin: tokio::sync::Mutex<Option<tokio::net::unix::pipe::Sender>>,
    pub(super) pty: Mutex<Option<OwnedFd>>,
    pub(super) pumps: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Its entry in the resource orchestrator (forgotten once reaped).
    pub(super) cleanup: Mutex<Option<crate::cleanup::Handle>>,
    pub output: Output,
    /// Its network mode, and its addresses on a bridge (private, bridged; IPv6 where
    /// the host has it).
    pub net_mode: crate::net::NetMode,
    pub net_address: Option<std::net::Ipv4Addr>,
    pub net_address6: Option<std::net::Ipv6Addr>,
    /// Its veth, rules and forwards; dropped (removed) once it is reaped.
    pub(super) net: Mutex<Option<crate::net::Attachment>>,
    /// Rootless private: the kernel's relay of its connections (its rules live in its
    /// namespace); dropped (stopped) once it is reaped.
    pub(super) proxy: Mutex<Option<crate::net::Proxied>>,
    /// Rootless: the helper that makes the sockets it asks the kernel for in its
    /// namespaces (`sockets.rs`), once it asked; reaped with it.
    pub(super) sockets: Mutex<super::sockets::SocketHelper>,
}

impl Process {
    /// Its handle while it lives (its pidfd enters its namespaces: `setns(pidfd, ..)`).
    pub(crate) fn handle(&self) -> Option<Arc<ProcessHandle>> {
        self.handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn state(&self) -> ProcessState {
        *self.state.borrow()
    }

    pub(super) fn set_state(&self, to: ProcessState) {
        self.state.send_modify(|s| match s.advance(to) {
            Ok(next) => *s = next,
            Err(e) => tracing::warn!(pid = self.pid, "{e}"),
        });
    }

    pub fn exit(&self) -> Option<ExitInfo> {
        self.exit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn limits(&self) -> Limits {
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The process's capabilities.
    pub fn policy(&self) -> Arc<crate::capability::Policy> {
        Arc::clone(&self.policy.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds grants to the kernel's checks of this process's syscalls: each allows
    /// one call when `once`, or stays until revoked. Its walls are not widened.
    pub fn grant(&self, caps: Vec<crate::capability::Capability>, once: bool) {
        let mut g = self.granted.lock().unwrap_or_else(|p| p.into_inner());
        if once {
            g.once.extend(caps);
        } else {
            let mut all = g.always.grants().to_vec();
            all.extend(caps);
            g.always = crate::capability::Policy::new(all);
        }
    }

    /// Whether a grant added at run time allows `access`; an "allow once" grant
    /// that does is used up.
    pub fn granted_at_run_time(&self, access: &crate::capability::Access) -> bool {
        use crate::capability::{Decision, Policy};
        let mut g = self.granted.lock().unwrap_or_else(|p| p.into_inner());
        if g.always.check(access) == Decision::Allow {
            return true;
        }
        let used = g
            .once
            .iter()
            .position(|c| Policy::new([c.clone()]).check(access) == Decision::Allow);
        used.map(|i| g.once.remove(i)).is_some()
    }

    /// Every grant it holds now, in CLI form: spawn grants, then those added since
    /// (`once:` marks one not yet used).
    pub fn grant_forms(&self) -> Vec<String> {
        let g = self.granted.lock().unwrap_or_else(|p| p.into_inner());
        let policy = self.policy();
        let mut forms: Vec<String> = policy.grants().iter().map(ToString::to_string).collect();
        forms.extend(g.always.grants().iter().map(ToString::to_string));
        forms.extend(g.once.iter().map(|c| format!("once:{c}")));
        forms
    }

    /// Takes the `revoked` grants away: the sandbox's view first (so that a failure
    /// changes nothing), then the policy every check reads. The caller invalidates
    /// the permission cache. Blocks briefly (a helper process enters the sandbox).
    pub fn revoke(&self, revoked: &[crate::capability::Capability]) -> Result<(), KernelError> {
        // Grants added at run time go first: they never reached the walls.
        let revoked = {
            let mut g = self.granted.lock().unwrap_or_else(|p| p.into_inner());
            let (runtime, spawn): (Vec<_>, Vec<_>) = revoked
                .iter()
                .cloned()
                .partition(|c| g.always.grants().contains(c) || g.once.contains(c));
            if !runtime.is_empty() {
                g.once.retain(|c| !runtime.contains(c));
                let kept = g.always.grants().iter().filter(|c| !runtime.contains(c));
                g.always = crate::capability::Policy::new(kept.cloned().collect::<Vec<_>>());
            }
            spawn
        };
        if revoked.is_empty() {
            return Ok(());
        }
        let revoked = revoked.as_slice();
        let mut policy = self.policy.lock().unwrap_or_else(|p| p.into_inner());
        let narrowed = policy.without(revoked).map_err(|c| ProcessError::NotHeld {
            pid: self.pid,
            capability: c.to_string(),
        })?;
        if self.isolated {
            let (old, new) = (policy.sandbox_grants(), narrowed.sandbox_grants());
            let pid = self.pid;
            let narrow_err = |source| ProcessError::Narrow { pid, source };
            let changes =
                crate::sandbox::view_changes((&old.read, &old.write), (&new.read, &new.write))
                    .map_err(narrow_err)?;
            if !changes.is_empty() {
                let handle = self
                    .handle()
                    .ok_or(ProcessError::Exited { pid: self.pid })?;
                // Only a namespaced sandbox (Linux, a pidfd) gets here.
                let pidfd = handle.pidfd().ok_or_else(|| {
                    narrow_err(crate::sandbox::NarrowError::Helper(std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        "narrowing a view enters it through a pidfd (Linux)",
                    )))
                })?;
                crate::sandbox::narrow_view(pidfd, &changes).map_err(narrow_err)?;
            }
        }
        // A private or bridged process's packet filter narrows with it...
        if let Some(net) = self.net.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            net.set_rules(narrowed.network_rules())?;
        }
        if let Some(proxy) = self
            .proxy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            proxy.set_rules(narrowed.network_rules())?;
        }
        // ...and so does the kernel wall of the others (in shared mode, all that holds them).
        let shared = matches!(self.net_mode, crate::net::NetMode::Shared);
        if matches!(self.net_mode, crate::net::NetMode::None) || shared {
            let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            let own_netns = self.isolated && !shared;
            let rules = crate::observe::WallRules::network(&narrowed.sandbox_grants(), own_netns);
            let rewalled = match &*watched {
                Some(w) => w.rewall_network(&rules),
                None => Ok(()),
            };
            if let (true, Err(why)) = (shared, rewalled) {
                return Err(KernelError::Internal(format!(
                    "narrowing the network of process {} in the kernel wall: {why}",
                    self.pid
                )));
            }
        }
        *policy = Arc::new(narrowed);
        Ok(())
    }

    /// A cgroup failure of this process.
    fn cgroup_error(&self, source: crate::cgroup::CgroupError) -> KernelError {
        ProcessError::Cgroup {
            pid: self.pid,
            source,
        }
        .into()
    }

    pub fn priority(&self) -> i32 {
        self.priority.load(Ordering::Relaxed)
    }

    pub fn cgroup_name(&self) -> &str {
        &self.cgroup_name
    }

    fn with_cgroup<T>(
        &self,
        f: impl FnOnce(&ProcessCgroup) -> Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        let cg = self.cgroup.lock().unwrap_or_else(|p| p.into_inner());
        match cg.as_ref() {
            Some(cg) => f(cg),
            None if self.state().is_final() => Err(ProcessError::Exited { pid: self.pid }.into()),
            None => Err(ProcessError::NoCgroup.into()),
        }
    }

    /// [`Self::with_cgroup`], with `without` standing in for a live process the kernel
    /// could give no cgroup (rootless, nothing delegated): what Linux's `/proc` and
    /// signals can do instead ([`procfs`]). Elsewhere the missing cgroup stays an error.
    fn with_cgroup_or<T>(
        &self,
        f: impl FnOnce(&ProcessCgroup) -> Result<T, KernelError>,
        without: impl FnOnce() -> Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        match self.with_cgroup(f) {
            Err(KernelError::Process(ProcessError::NoCgroup)) if cfg!(target_os = "linux") => {
                without()
            }
            other => other,
        }
    }

    /// Sends `signal` through its handle: the pidfd on Linux, `kill` of the un-reaped
    /// child elsewhere; never to a reused pid ([`ProcessHandle`]).
    pub fn signal(&self, signal: i32) -> Result<(), KernelError> {
        let exited = ProcessError::Exited { pid: self.pid };
        if self.state().is_final() {
            return Err(exited.into());
        }
        let handle = self.handle().ok_or(exited)?;
        handle.signal(signal).map_err(|e| {
            match e.raw_os_error() {
                Some(libc::EINVAL) => ProcessError::BadSignal { signal },
                Some(libc::ESRCH) => ProcessError::Exited { pid: self.pid },
                _ => ProcessError::Sys {
                    call: handle.signal_call(),
                    pid: self.pid,
                    source: e,
                },
            }
            .into()
        })
    }

    /// What the eBPF probes counted for this process's cgroup: live while it runs, the final
    /// figures once it is reaped; `None` if it was never observed (no probes, no cgroup).
    pub fn probe_figures(&self) -> Option<crate::observe::ProbeFigures> {
        if let Some(w) = &*self.watched.lock().unwrap_or_else(|e| e.into_inner()) {
            return w.figures();
        }
        self.final_figures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Kills the whole process tree (cgroup.kill).
    /// SIGKILLs the process and everything it started: `cgroup.kill` when it has a
    /// cgroup. Without one, a namespaced sandbox's tree is its pid namespace, which
    /// the kernel tears down with its init; otherwise (walls only, portable) the
    /// process groups of the process and its children go, and what double-forked
    /// into a session of its own escapes, as its isolation report says.
    pub fn kill_tree(&self) -> Result<(), KernelError> {
        let has_cgroup = self
            .cgroup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if has_cgroup {
            return self.with_cgroup(|cg| cg.kill().map_err(|e| self.cgroup_error(e)));
        }
        let children = if self.isolated {
            Vec::new()
        } else {
            children_of(self.pid)
        };
        self.signal(libc::SIGKILL)?;
        for pid in children.into_iter().chain([self.pid]) {
            // SAFETY: kill with integer arguments; ESRCH (no such group) is fine.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        Ok(())
    }

    /// Its cgroup's accounting; for a process the kernel could give no cgroup (rootless,
    /// nothing delegated), its process tree's from `/proc` ([`procfs`]).
    pub fn stats(&self) -> Result<CgroupStats, KernelError> {
        self.with_cgroup_or(
            |cg| cg.stats().map_err(|e| self.cgroup_error(e)),
            || {
                procfs::tree_stats(self.pid)
                    .ok_or_else(|| ProcessError::Exited { pid: self.pid }.into())
            },
        )
    }

    /// Applies new limits to the running process.
    pub fn update_limits(&self, limits: Limits) -> Result<(), KernelError> {
        self.with_cgroup(|cg| {
            // A bad value is the caller's; a missing controller is the host's
            // (said by doctor); a refused write is a fault, not bad input: the
            // error's kind says which (`KernelError::code`).
            cg.apply(&limits).map_err(|e| self.cgroup_error(e))
        })?;
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        Ok(())
    }

    /// Sets the nice level: `setpriority` on the process and the matching cgroup weight.
    pub fn set_priority(&self, nice: i32) -> Result<(), KernelError> {
        if !(super::priority::NICE_MIN..=super::priority::NICE_MAX).contains(&nice) {
            return Err(ProcessError::BadPriority { nice }.into());
        }
        // SAFETY: setpriority has no memory-safety preconditions.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, self.pid, nice) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(ProcessError::Sys {
                    call: "setpriority",
                    pid: self.pid,
                    source: e,
                }
                .into());
            }
        }
        let mut limits = self.limits();
        limits.cpu_weight = Some(super::priority::weight_for_nice(nice));
        if self
            .cgroup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            self.update_limits(limits)?;
        }
        self.priority.store(nice, Ordering::Relaxed);
        Ok(())
    }

    /// Freezes or thaws the whole process tree on request, and keeps it so: the
    /// scheduler's own freezing never thaws a held process (see [`Self::sched_freeze`]).
    /// A process with no cgroup (rootless, nothing delegated) is stopped and continued
    /// with signals instead ([`procfs::stop_tree`]); the scheduler does not do that.
    pub fn hold(&self, frozen: bool) -> Result<(), KernelError> {
        self.held.store(frozen, Ordering::Relaxed);
        self.with_cgroup_or(
            |cg| cg.freeze(frozen).map_err(|e| self.cgroup_error(e)),
            || {
                procfs::stop_tree(self.pid, frozen).map_err(|source| {
                    ProcessError::Sys {
                        call: "kill",
                        pid: self.pid,
                        source,
                    }
                    .into()
                })
            },
        )
    }

    /// The scheduler's freeze or thaw: a process held frozen stays frozen.
    pub fn sched_freeze(&self, frozen: bool) -> Result<(), KernelError> {
        self.freeze(frozen || self.held.load(Ordering::Relaxed))
    }

    /// Freezes or thaws the whole process tree.
    pub fn freeze(&self, frozen: bool) -> Result<(), KernelError> {
        self.with_cgroup(|cg| cg.freeze(frozen).map_err(|e| self.cgroup_error(e)))
    }

    /// Asks the kernel to reclaim memory from the process's cgroup.
    pub fn reclaim(&self, bytes: Option<u64>) -> Result<u64, KernelError> {
        self.with_cgroup(|cg| cg.reclaim(bytes).map_err(|e| self.cgroup_error(e)))
    }

    /// Writes to the process's stdin (or PTY).
    pub async fn write_stdin(&self, data: &[u8]) -> Result<(), KernelError> {
        use tokio::io::AsyncWriteExt;
        let mut stdin = self.stdin.lock().await;
        let w = stdin.as_mut().ok_or(ProcessError::StdinClosed)?;
        w.write_all(data)
            .await
            .map_err(|e| ProcessError::Stdin(e).into())
    }

    /// Closes stdin (the process reads EOF). A PTY gets ^D instead.
    pub async fn close_stdin(&self) -> Result<(), KernelError> {
        if self.tty {
            return self.write_stdin(&[4]).await;
        }
        self.stdin.lock().await.take();
        Ok(())
    }

    /// Resizes the PTY.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), KernelError> {
        let pty = self.pty.lock().unwrap_or_else(|p| p.into_inner());
        let pty = pty.as_ref().ok_or(ProcessError::NoTerminal)?;
        super::io::resize(pty, rows, cols).map_err(|source| {
            ProcessError::Sys {
                call: "TIOCSWINSZ",
                pid: self.pid,
                source,
            }
            .into()
        })
    }

    /// Waits for the process to end, at most `timeout` (None: forever).
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<ExitInfo, KernelError> {
        let mut rx = self.state.subscribe();
        let done = async {
            let _ = rx.wait_for(|s| s.is_final()).await;
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, done)
                .await
                .map_err(|_| KernelError::Timeout(t))?,
            None => done.await,
        }
        Ok(self.exit().unwrap_or_default())
    }
}
