//! The daemon's half of the managed-cgroup filter: which v2 cgroup ids are managed, written
//! through to the programs' `MANAGED` map while the probes are live.
//!
//! The process table asks [`ManagedCgroups::watch`] for a [`Watched`] guard right after it
//! creates a process's cgroup (before any process enters it, so the first exec is seen) and
//! keeps the guard with the cgroup; dropping the guard (after the cgroup is killed and
//! removed) takes the id out again and frees that cgroup's figures. The first id in attaches
//! the high-frequency programs and the last id out detaches them ([`super::ProcessProbes`]).
//!
//! Each watched cgroup also gets its owner ([`Watched::own`]: the managed process and its
//! app) in [`Owners`], which the ring-buffer reader reads to attribute every event by its
//! cgroup id, so what a child of a managed process does (a refused connect, an open) names
//! the managed process, not only the child's own pid. An owner outlives its cgroup by
//! [`OWNER_GRACE`], so the events still in the ring when the cgroup goes are attributed too.
//! With it is kept, for a sandbox with its own mount namespace, the sandbox's root
//! ([`OwnerSlot::hold_root`]), against which the reader tells a host path the namespace hides
//! from one that exists nowhere (`mountns.rs`); the root goes as soon as the reader has read
//! everything from before the cgroup retired ([`Owners::release_roots`]), not with the owner.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard, RwLock},
    time::{Duration, Instant},
};

use super::{ProbeFigures, ProcessProbes, SandboxRoot};
use crate::observe::event::{Owner, ProcessEvent};

/// How long an owner is kept after its cgroup left the filter: many times the reader's poll
/// period, so nothing it reads late goes unattributed.
pub const OWNER_GRACE: Duration = Duration::from_secs(2);

/// Managed cgroup id → its owner; shared by the process table (writer) and the ring-buffer
/// reader.
#[derive(Clone, Debug, Default)]
pub struct Owners(Arc<RwLock<HashMap<u64, Owned>>>);

/// An owner, with what the reader needs to know of its cgroup.
#[derive(Debug)]
struct Owned {
    owner: Owner,
    /// When its cgroup left the filter (`None` while it is managed).
    gone: Option<Instant>,
    /// The sandbox's root, for a sandbox with a mount namespace of its own.
    root: Option<Arc<SandboxRoot>>,
}

impl Owners {
    /// Sets `event.owner` from its cgroup id, if a managed process owns that cgroup.
    pub fn attribute(&self, event: &mut ProcessEvent) {
        if event.owner.is_some() || event.cgroup_id == 0 {
            return;
        }
        let owners = self.0.read().unwrap_or_else(|p| p.into_inner());
        event.owner = owners.get(&event.cgroup_id).map(|o| o.owner.clone());
    }

    /// The owner of cgroup `id`.
    pub fn get(&self, id: u64) -> Option<Owner> {
        let owners = self.0.read().unwrap_or_else(|p| p.into_inner());
        owners.get(&id).map(|o| o.owner.clone())
    }

    /// The sandbox root held for cgroup `id`'s owner, if any.
    #[cfg_attr(
        not(target_os = "linux"),
        expect(dead_code, reason = "only the Linux ring-buffer reader asks")
    )]
    pub(super) fn root(&self, id: u64) -> Option<Arc<SandboxRoot>> {
        let owners = self.0.read().unwrap_or_else(|p| p.into_inner());
        owners.get(&id).and_then(|o| o.root.clone())
    }

    /// Names `owner` the owner of cgroup `id`; a root is kept only if it was held for the
    /// same process (named twice: by the spawner, then by the process table).
    pub(super) fn set(&self, id: u64, owner: Owner) {
        let mut owners = self.0.write().unwrap_or_else(|p| p.into_inner());
        // Owners retired more than the grace ago go now (with their roots); each spawn
        // sweeps them.
        owners.retain(|_, o| o.gone.is_none_or(|at| at.elapsed() < OWNER_GRACE));
        let root = owners
            .remove(&id)
            .filter(|o| o.owner.pid == owner.pid && o.gone.is_none())
            .and_then(|o| o.root);
        owners.insert(
            id,
            Owned {
                owner,
                gone: None,
                root,
            },
        );
    }

    /// Holds `root` with cgroup `id`'s owner (set before), for as long as the owner is kept.
    pub(super) fn hold_root(&self, id: u64, root: SandboxRoot) {
        let mut owners = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = owners.get_mut(&id) {
            o.root = Some(Arc::new(root));
        }
    }

    /// Lets go of the sandbox roots of owners retired before `before` (the ring-buffer
    /// reader, after a pass that began then: every event of theirs has been read). A root
    /// holds the sandbox's root directory and mount namespace open; kept for the owner's
    /// whole grace, it held both, and the namespace's mounts, seconds after the exit.
    #[cfg_attr(
        not(target_os = "linux"),
        expect(dead_code, reason = "only the Linux ring-buffer reader lets roots go")
    )]
    pub(super) fn release_roots(&self, before: Instant) {
        let retired = |o: &Owned| o.root.is_some() && o.gone.is_some_and(|at| at < before);
        if !self
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(retired)
        {
            return;
        }
        let mut owners = self.0.write().unwrap_or_else(|p| p.into_inner());
        for o in owners.values_mut().filter(|o| retired(o)) {
            o.root = None;
        }
    }

    pub(super) fn retire(&self, id: u64) {
        let mut owners = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = owners.get_mut(&id) {
            o.gone = Some(Instant::now());
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    ids: BTreeSet<u64>,
    probes: Option<ProcessProbes>,
}

/// A cheap, cloneable handle on the managed set, their owners and the live probes.
#[derive(Clone, Debug, Default)]
pub struct ManagedCgroups {
    shared: Arc<Mutex<Shared>>,
    owners: Owners,
}

/// Sets the owner of one watched cgroup ([`Watched::owner_slot`]).
#[derive(Clone, Debug)]
pub struct OwnerSlot {
    owners: Owners,
    id: u64,
}

impl OwnerSlot {
    /// Names the managed process `pid` of `app` the owner of the cgroup's events.
    pub fn own(&self, pid: u32, app: &str) {
        self.owners.set(
            self.id,
            Owner {
                pid,
                app: app.into(),
            },
        );
    }

    /// Holds the root of the sandbox whose init is `pid`, with the cgroup's owner (set
    /// before), so the reader can tell the paths its mount namespace hides (`mountns.rs`).
    /// Called by the spawner once init has built the view and before the program runs
    /// (`sandbox::spawn_viewed`), so the program's first open already has it. A failure
    /// only means no such inference for this process.
    pub fn hold_root(&self, pid: u32) {
        match SandboxRoot::of(pid) {
            Ok(root) => self.owners.hold_root(self.id, root),
            Err(err) => tracing::debug!(
                pid,
                error = %err,
                "cannot hold a sandbox's root; its mount namespace's refusals go unreported"
            ),
        }
    }
}

/// Keeps one cgroup id managed while it lives.
#[derive(Debug)]
pub struct Watched {
    set: ManagedCgroups,
    id: u64,
}

impl Watched {
    /// The cgroup's final figures (read before they are forgotten), then the id leaves the
    /// filter. `None` if no probes are live or the read failed.
    pub fn close(self) -> Option<ProbeFigures> {
        let figures = self.figures();
        drop(self);
        figures
    }

    /// The cgroup's figures so far; `None` if no probes are live or the read failed.
    pub fn figures(&self) -> Option<ProbeFigures> {
        self.set.figures(self.id).and_then(Result::ok)
    }

    /// Walls the cgroup with `rules` (the kernel wall), if the probes and the wall are live;
    /// `Err` says why it is not walled.
    pub fn wall(&self, rules: &super::WallRules) -> Result<(), String> {
        match &mut self.set.lock().probes {
            Some(probes) => probes.guard(self.id, rules),
            None => Err("the eBPF probes are not live".to_owned()),
        }
    }

    /// Replaces the walled cgroup's network rules with those of `rules` (after a revoke).
    pub fn rewall_network(&self, rules: &super::WallRules) -> Result<(), String> {
        match &mut self.set.lock().probes {
            Some(probes) => probes.renetwork(self.id, rules),
            None => Err("the eBPF probes are not live".to_owned()),
        }
    }

    /// The watched cgroup id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the probes are loaded, so that its events are read at all (what is worth
    /// holding for the reader, like a sandbox's root, is not otherwise).
    pub fn observed(&self) -> bool {
        self.set.lock().probes.is_some()
    }

    /// Names the managed process `pid` of `app` the owner of the cgroup's events.
    pub fn own(&self, pid: u32, app: &str) {
        self.owner_slot().own(pid, app);
    }

    /// A handle that sets the owner from elsewhere (the spawner, between fork and exec, so
    /// the program's first events already name it).
    pub fn owner_slot(&self) -> OwnerSlot {
        OwnerSlot {
            owners: self.set.owners.clone(),
            id: self.id,
        }
    }

    /// Tells the probes which walls that raise nothing themselves (seccomp, landlock:
    /// `agentos_ebpf_common::refusal::FENCE_*` bits) the cgroup's processes run behind, so
    /// their refusals become denial events.
    pub fn fence(&self, walls: u32) {
        if let Some(probes) = &mut self.set.lock().probes {
            probes.fence(self.id, walls);
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.set.owners.retire(self.id);
        let mut shared = self.set.lock();
        shared.ids.remove(&self.id);
        if let Some(probes) = &mut shared.probes {
            probes.unmanage(self.id);
        }
    }
}

impl ManagedCgroups {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The owners of the managed cgroups, for the ring-buffer reader.
    pub fn owners(&self) -> Owners {
        self.owners.clone()
    }

    /// Marks the v2 cgroup `id` managed until the guard drops.
    pub fn watch(&self, id: u64) -> Watched {
        let mut shared = self.lock();
        shared.ids.insert(id);
        if let Some(probes) = &mut shared.probes {
            probes.manage(id);
        }
        Watched {
            set: self.clone(),
            id,
        }
    }

    /// Hands the live probes over, with every id managed so far.
    pub fn set_probes(&self, mut probes: ProcessProbes) {
        let mut shared = self.lock();
        for &id in &shared.ids {
            probes.manage(id);
        }
        shared.probes = Some(probes);
    }

    /// Takes the probes out (dropping them detaches everything).
    pub fn take_probes(&self) -> Option<ProcessProbes> {
        self.lock().probes.take()
    }

    /// The probes' figures for the managed cgroup `id`; `None` if no probes are live.
    pub fn figures(&self, id: u64) -> Option<Result<ProbeFigures, super::ProbeError>> {
        self.lock().probes.as_ref().map(|probes| probes.figures(id))
    }

    /// Each loaded program's run time and runs; empty while no probes are live.
    pub fn run_times(&self) -> Vec<super::ProgramRunTime> {
        self.lock()
            .probes
            .as_ref()
            .map(ProcessProbes::run_times)
            .unwrap_or_default()
    }

    /// Whether the host's BPF run-time statistics are on for the probes now (a sample, which
    /// [`Self::run_times`] and [`Self::figures`] may begin).
    pub fn run_time_stats(&self) -> bool {
        self.lock()
            .probes
            .as_ref()
            .is_some_and(ProcessProbes::run_time_stats)
    }

    /// Whether the high-frequency programs are attached now.
    pub fn hot_attached(&self) -> bool {
        self.lock()
            .probes
            .as_ref()
            .is_some_and(ProcessProbes::hot_attached)
    }
}
