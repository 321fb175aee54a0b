//! [`ProcessTable`]: every managed process by pid, how the kernel was set up to spawn
//! them (backend, ids, data directory, network, probes' filter) and the hooks the daemon
//! sets for each new process and each reaped one.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::SystemTime,
};

use super::{Process, ProcessError, SandboxBackend, spawn, spawner};
use crate::{cgroup::CgroupManager, error::KernelError};

/// Exited entries kept for `get_info`/`wait` before the oldest are forgotten.
const KEEP_EXITED: usize = 256;

/// Every managed process.
pub struct ProcessTable {
    pub(super) procs: Mutex<BTreeMap<u32, Arc<Process>>>,
    pub(super) cgroups: CgroupManager,
    /// The eBPF probes' filter, kept in step with the processes' cgroups.
    pub(super) managed: Option<crate::observe::ManagedCgroups>,
    pub(super) backend: SandboxBackend,
    pub(super) spawner: spawner::Spawner,
    pub(super) next: AtomicU64,
    /// The kernel's data directory, canonical (none: processes get no socket).
    /// Per-process kernel sockets live in its `run/proc`; no grant may contain it.
    pub(super) data_dir: Option<std::path::PathBuf>,
    /// Serves a new process's kernel socket (set by the daemon, which owns the
    /// gRPC service).
    pub(super) socket_hook: std::sync::OnceLock<SocketHook>,
    /// Releases what a process held in the kernel once its exit is reaped (set
    /// by the daemon, which owns the IPC tables).
    pub(super) exit_hook: std::sync::OnceLock<ExitHook>,
    pub(super) cleanup: Arc<crate::cleanup::Orchestrator>,
    /// Whether the portable backend may run programs without any wall.
    pub(super) allow_unconfined: bool,
    /// TESTS ONLY: sandboxes get no landlock ruleset (`--test-skip-landlock`).
    pub(super) skip_landlock_for_tests: bool,
    pub(super) plain_children_for_tests: bool,
    /// The host uid and gid sandboxes run as, and whether they are the account's
    /// subordinate ids (rootless, mapped through newuidmap).
    pub(super) ids: (u32, u32, bool),
    /// Bridges and rules for private and bridged processes (none: only mode none).
    pub(super) net: Option<Arc<crate::net::Network>>,
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
            plain_children_for_tests: false,
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

    /// The network manager, if processes have modes beyond `none`.
    pub fn network(&self) -> Option<&Arc<crate::net::Network>> {
        self.net.as_ref()
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

    /// TESTS ONLY: portable processes are supervised as on macOS, by `waitpid` and
    /// `kill` (`agentos-kernel --test-plain-children`); see [`crate::sandbox::ProcessHandle`].
    pub fn with_plain_children_for_tests(mut self, plain: bool) -> Self {
        self.plain_children_for_tests = plain;
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
    pub(super) fn run_dir(&self) -> Option<std::path::PathBuf> {
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

    pub(super) fn insert(&self, p: Arc<Process>) {
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
