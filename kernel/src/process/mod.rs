//! Managed processes: the table, spawning, I/O and reaping.
//!
//! A process is spawned in two halves that never share a lock: [`crate::sandbox`]
//! builds the isolated child (namespaces, mounts, landlock, capabilities, seccomp,
//! exec) and [`crate::cgroup`] holds its limits and accounting. This module walks the
//! [`state`] machine around them, undoing everything if initialisation fails, wires
//! stdin/stdout/stderr (or a PTY) to the bounded [`output`] buffers, and reaps the
//! process through its pidfd (`waitid(P_PIDFD)`: never a zombie, never a pid race).
//!
//! # Host resources
//!
//! Per process: a cgroup (removed when the process is reaped, its whole tree killed
//! first), a pidfd and the stdio fds (closed when the entry is dropped). The portable
//! backend spawns plain child processes without isolation, and says so.

mod error;
mod io;
pub mod isolation;
pub mod output;
pub mod priority;
mod reap;
pub mod spawn;
mod spawner;
pub mod state;

use std::{
    collections::BTreeMap,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI32, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::sync::watch;

pub use self::{
    error::ProcessError,
    output::{Output, OutputEvent, Stream},
    spawn::ProcessRequest,
    state::ProcessState,
};
use crate::{
    cgroup::{CgroupManager, CgroupStats, Limits, ProcessCgroup},
    error::KernelError,
};

/// Exited entries kept for `get_info`/`wait` before the oldest are forgotten.
const KEEP_EXITED: usize = 256;

/// How a process ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub pids_limit_hit: bool,
    /// For people: "exited with code 3", "killed: out of memory (limit 64 MiB)".
    pub description: String,
}

impl ExitInfo {
    /// The shell convention: the code, or 128 + the signal.
    pub fn shell_status(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}

/// The direct children of `pid`, from `/proc/PID/task/PID/children` (empty when
/// it is gone).
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// How processes are isolated on this host: the rungs of the isolation ladder,
/// strongest first. The daemon picks one at start-up and reports it (`doctor`,
/// `/health`); every process says which it got ([`Process::isolation`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxBackend {
    /// Root: user, pid, mount, net, uts, ipc and cgroup namespaces, the tmpfs view,
    /// landlock, capabilities, seccomp; programs run as an unprivileged uid of the
    /// kernel's choosing.
    Full,
    /// An ordinary user: the same namespaces and walls inside a user namespace that
    /// maps the user's own uid and gid (as bubblewrap does).
    Rootless,
    /// No namespaces (a host that forbids unprivileged user namespaces): landlock,
    /// seccomp, `no_new_privs`, a private `/tmp` directory, rlimits.
    Walls { reason: String },
    /// Plain child processes, capability checks only: no wall at all, so programs
    /// run only when unconfined execution was allowed.
    Portable { reason: String },
}

impl SandboxBackend {
    /// The rung's name: `full`, `rootless`, `walls` or `portable`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Rootless => "rootless",
            Self::Walls { .. } => "walls",
            Self::Portable { .. } => "portable",
        }
    }

    /// Whether programs get their own namespaces (and a view that follows revokes).
    pub fn namespaced(&self) -> bool {
        matches!(self, Self::Full | Self::Rootless)
    }
}

/// Grants added to a running process.
#[derive(Default)]
struct RuntimeGrants {
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
    state: watch::Sender<ProcessState>,
    exit: Mutex<Option<ExitInfo>>,
    limits: Mutex<Limits>,
    /// Replaced (never widened) when grants are revoked; the lock serialises revokes.
    policy: Mutex<Arc<crate::capability::Policy>>,
    /// Grants added while it runs (after a denial): they widen the kernel's checks,
    /// never its walls, which were built at spawn.
    granted: Mutex<RuntimeGrants>,
    /// Whether it runs in a namespace sandbox (whose view follows its policy).
    isolated: bool,
    priority: AtomicI32,
    /// Frozen on request (the `freeze` syscall): the scheduler's passes keep it frozen.
    pub(crate) held: std::sync::atomic::AtomicBool,
    cgroup: Mutex<Option<ProcessCgroup>>,
    /// Its v2 cgroup's id while the probes watched it, kept for its whole life (the cgroup
    /// goes at reap): the key its eBPF events and denials carry.
    pub cgroup_id: Option<u64>,
    cgroup_name: String,
    /// Keeps its cgroup in the eBPF probes' filter until the cgroup is removed.
    watched: Mutex<Option<crate::observe::Watched>>,
    /// What the probes counted for it, kept once its cgroup is gone.
    final_figures: Mutex<Option<crate::observe::ProbeFigures>>,
    /// Held while the process lives; closed once it is reaped (an exited entry
    /// kept for `get_info`/`wait` holds no fds).
    pidfd: Mutex<Option<Arc<OwnedFd>>>,
    /// Where the sandbox's init relays the program's own wait status.
    relayed: Mutex<Option<OwnedFd>>,
    stdin: tokio::sync::Mutex<Option<tokio::net::unix::pipe::Sender>>,
    pty: Mutex<Option<OwnedFd>>,
    pumps: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Its entry in the resource orchestrator (forgotten once reaped).
    cleanup: Mutex<Option<crate::cleanup::Handle>>,
    pub output: Output,
    /// Its network mode, and its address on a bridge (private, bridged).
    pub net_mode: crate::net::NetMode,
    pub net_address: Option<std::net::Ipv4Addr>,
    /// Its veth, rules and forwards; dropped (removed) once it is reaped.
    net: Mutex<Option<crate::net::Attachment>>,
}

impl Process {
    /// Its pidfd while it lives (to enter its namespaces: `setns(pidfd, ..)`).
    pub(crate) fn pidfd(&self) -> Option<Arc<OwnedFd>> {
        self.pidfd.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn state(&self) -> ProcessState {
        *self.state.borrow()
    }

    fn set_state(&self, to: ProcessState) {
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
                let pidfd = self.pidfd.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let pidfd = pidfd.ok_or(ProcessError::Exited { pid: self.pid })?;
                crate::sandbox::narrow_view(pidfd.as_fd(), &changes).map_err(narrow_err)?;
            }
        }
        // A private or bridged process's packet filter narrows with it...
        if let Some(net) = self.net.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            net.set_rules(narrowed.network_rules())?;
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

    /// Sends `signal` through the pidfd (no pid-reuse race).
    pub fn signal(&self, signal: i32) -> Result<(), KernelError> {
        let exited = ProcessError::Exited { pid: self.pid };
        if self.state().is_final() {
            return Err(exited.into());
        }
        let pidfd = self.pidfd.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let pidfd = pidfd.ok_or(exited)?;
        // SAFETY: pidfd_send_signal with a live pidfd and no siginfo.
        #[cfg(target_os = "linux")]
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                signal,
                std::ptr::null::<u8>(),
                0,
            )
        };
        // Other hosts have no pidfd to signal through: kill(2), with its pid-reuse race.
        #[cfg(not(target_os = "linux"))]
        // SAFETY: kill takes plain integers.
        let rc = unsafe {
            let _ = pidfd.as_raw_fd();
            libc::kill(self.pid as libc::pid_t, signal)
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EINVAL) => ProcessError::BadSignal { signal },
                Some(libc::ESRCH) => ProcessError::Exited { pid: self.pid },
                _ => ProcessError::Sys {
                    call: "pidfd_send_signal",
                    pid: self.pid,
                    source: e,
                },
            }
            .into());
        }
        Ok(())
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

    pub fn stats(&self) -> Result<CgroupStats, KernelError> {
        self.with_cgroup(|cg| cg.stats().map_err(|e| self.cgroup_error(e)))
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
        if !(priority::NICE_MIN..=priority::NICE_MAX).contains(&nice) {
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
        limits.cpu_weight = Some(priority::weight_for_nice(nice));
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
    pub fn hold(&self, frozen: bool) -> Result<(), KernelError> {
        self.held.store(frozen, Ordering::Relaxed);
        self.freeze(frozen)
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
        io::resize(pty, rows, cols).map_err(|source| {
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

/// Every managed process.
pub struct ProcessTable {
    procs: Mutex<BTreeMap<u32, Arc<Process>>>,
    cgroups: CgroupManager,
    /// The eBPF probes' filter, kept in step with the processes' cgroups.
    managed: Option<crate::observe::ManagedCgroups>,
    backend: SandboxBackend,
    spawner: spawner::Spawner,
    next: AtomicU64,
    /// The kernel's data directory, canonical (none: processes get no socket).
    /// Per-process kernel sockets live in its `run/proc`; no grant may contain it.
    data_dir: Option<std::path::PathBuf>,
    /// Serves a new process's kernel socket (set by the daemon, which owns the
    /// gRPC service).
    socket_hook: std::sync::OnceLock<SocketHook>,
    /// Releases what a process held in the kernel once its exit is reaped (set
    /// by the daemon, which owns the IPC tables).
    exit_hook: std::sync::OnceLock<ExitHook>,
    cleanup: Arc<crate::cleanup::Orchestrator>,
    /// Whether the portable backend may run programs without any wall.
    allow_unconfined: bool,
    /// TESTS ONLY: sandboxes get no landlock ruleset (`--test-skip-landlock`).
    skip_landlock_for_tests: bool,
    /// The host uid and gid sandboxes run as, and whether they are the account's
    /// subordinate ids (rootless, mapped through newuidmap).
    ids: (u32, u32, bool),
    /// Bridges and rules for private and bridged processes (none: only mode none).
    net: Option<Arc<crate::net::Network>>,
}

/// Called with each new process and its bound kernel socket.
pub type SocketHook = Box<dyn Fn(Arc<Process>, spawn::KernelSocket) + Send + Sync>;

/// Called with the pid of each reaped process, once its tree is dead and before
/// its network goes and its state turns `Exited`: so a `wait` that returns finds
/// the kernel-held objects of that process (pipes, segments, queues, descriptor
/// table, the sockets in its namespace) already released.
pub type ExitHook = Arc<dyn Fn(u32) + Send + Sync>;

impl ProcessTable {
    pub fn new(cgroups: CgroupManager, backend: SandboxBackend) -> std::io::Result<Self> {
        Ok(Self {
            procs: Mutex::default(),
            cgroups,
            managed: None,
            backend,
            spawner: spawner::Spawner::start()?,
            next: AtomicU64::new(1),
            data_dir: None,
            socket_hook: std::sync::OnceLock::new(),
            exit_hook: std::sync::OnceLock::new(),
            cleanup: Arc::default(),
            allow_unconfined: false,
            skip_landlock_for_tests: false,
            ids: {
                let (uid, gid) = spawn::host_ids();
                (uid, gid, false)
            },
            net: None,
        })
    }

    /// Gives processes the network modes beyond `none`, through `net`.
    pub fn with_network(mut self, net: Arc<crate::net::Network>) -> Self {
        self.net = Some(net);
        self
    }

    /// Puts every process's cgroup in the eBPF probes' filter while it exists.
    pub fn with_managed_cgroups(mut self, managed: crate::observe::ManagedCgroups) -> Self {
        self.managed = Some(managed);
        self
    }

    /// Registers processes with `cleanup` (the daemon's orchestrator).
    pub fn with_cleanup(mut self, cleanup: Arc<crate::cleanup::Orchestrator>) -> Self {
        self.cleanup = cleanup;
        self
    }

    /// Rootless: runs namespaced sandboxes as the account's subordinate ids.
    pub fn with_subordinate_ids(mut self, ids: crate::sandbox::SubordinateIds) -> Self {
        self.ids = (ids.uid, ids.gid, true);
        self
    }

    /// [`Self::with_subordinate_ids`] when there are some.
    pub fn with_subordinate_ids_if(self, ids: Option<crate::sandbox::SubordinateIds>) -> Self {
        match ids {
            Some(ids) => self.with_subordinate_ids(ids),
            None => self,
        }
    }

    /// The host uid sandboxes run as (what a process socket's peer must be).
    pub fn sandbox_uid(&self) -> u32 {
        self.ids.0
    }

    /// Lets the portable backend run programs with no wall (`--allow-unconfined`).
    pub fn with_unconfined_allowed(mut self, allowed: bool) -> Self {
        self.allow_unconfined = allowed;
        self
    }

    /// TESTS ONLY: spawns sandboxes without landlock, so a test can show the LSM wall
    /// holds on its own (`agentos-kernel --test-skip-landlock`).
    pub fn with_landlock_skipped_for_tests(mut self, skip: bool) -> Self {
        if skip {
            tracing::warn!("--test-skip-landlock: sandboxes get NO landlock ruleset (tests only)");
        }
        self.skip_landlock_for_tests = skip;
        self
    }

    /// Whether sandboxes are spawned without landlock (`--test-skip-landlock`).
    pub fn landlock_skipped_for_tests(&self) -> bool {
        self.skip_landlock_for_tests
    }

    pub fn cleanup(&self) -> &Arc<crate::cleanup::Orchestrator> {
        &self.cleanup
    }

    /// Gives every process spawned from now on a kernel socket in
    /// `data_dir/run/proc`, and refuses grants that contain `data_dir` (it holds
    /// the kernel's sockets and token).
    pub fn with_data_dir(mut self, data_dir: &std::path::Path) -> Self {
        self.data_dir =
            Some(std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned()));
        self
    }

    /// Where per-process kernel sockets live.
    fn run_dir(&self) -> Option<std::path::PathBuf> {
        self.data_dir.as_ref().map(|d| d.join("run").join("proc"))
    }

    /// Sets the function that serves each process's kernel socket (once).
    pub fn set_socket_hook(&self, hook: SocketHook) {
        let _ = self.socket_hook.set(hook);
    }

    /// Sets the function that releases a reaped process's kernel objects (once).
    pub fn set_exit_hook(&self, hook: ExitHook) {
        let _ = self.exit_hook.set(hook);
    }

    pub fn backend(&self) -> &SandboxBackend {
        &self.backend
    }

    pub fn cgroups(&self) -> &CgroupManager {
        &self.cgroups
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Arc<Process>>> {
        self.procs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, pid: u32) -> Result<Arc<Process>, KernelError> {
        self.lock()
            .get(&pid)
            .cloned()
            .ok_or_else(|| ProcessError::NotFound { pid }.into())
    }

    pub fn list(&self) -> Vec<Arc<Process>> {
        self.lock().values().cloned().collect()
    }

    /// The processes the scheduler may see (Ready or Running).
    pub fn schedulable(&self) -> Vec<Arc<Process>> {
        self.lock()
            .values()
            .filter(|p| p.state().is_schedulable())
            .cloned()
            .collect()
    }

    fn insert(&self, p: Arc<Process>) {
        let mut procs = self.lock();
        procs.insert(p.pid, p);
        // Oldest first by start time, not by pid: host pids wrap (at 32768 by
        // default), and after a wrap the lowest pids are the newest processes,
        // whose exits a caller may be about to `wait` for.
        let mut exited: Vec<(SystemTime, u32)> = procs
            .values()
            .filter(|p| p.state().is_final())
            .map(|p| (p.started, p.pid))
            .collect();
        exited.sort_unstable();
        let exited: Vec<u32> = exited.into_iter().map(|(_, pid)| pid).collect();
        if exited.len() > KEEP_EXITED {
            for pid in &exited[..exited.len() - KEEP_EXITED] {
                procs.remove(pid);
            }
        }
    }

    /// Kills every live process tree (daemon shutdown).
    pub fn kill_all(&self) {
        for p in self.list() {
            if !p.state().is_final() {
                let _ = p.kill_tree().or_else(|_| p.signal(libc::SIGKILL));
            }
        }
    }
}
