//! The daemon's half of the managed-cgroup filter: which v2 cgroup ids are managed, written
//! through to the programs' `MANAGED` map while the probes are live.
//!
//! The process table asks [`ManagedCgroups::watch`] for a [`Watched`] guard right after it
//! creates a process's cgroup (before any process enters it, so the first exec is seen) and
//! keeps the guard with the cgroup; dropping the guard (after the cgroup is killed and
//! removed) takes the id out again and frees that cgroup's figures. The first id in attaches
//! the high-frequency programs and the last id out detaches them ([`super::ProcessProbes`]).

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, MutexGuard},
};

use super::{ProbeFigures, ProcessProbes};

#[derive(Debug, Default)]
pub(crate) struct Shared {
    ids: BTreeSet<u64>,
    probes: Option<ProcessProbes>,
}

/// A cheap, cloneable handle on the managed set and the live probes.
#[derive(Clone, Debug, Default)]
pub struct ManagedCgroups(Arc<Mutex<Shared>>);

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
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut shared = self.set.lock();
        shared.ids.remove(&self.id);
        if let Some(probes) = &mut shared.probes {
            probes.unmanage(self.id);
        }
    }
}

impl ManagedCgroups {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Whether the high-frequency programs are attached now.
    pub fn hot_attached(&self) -> bool {
        self.lock()
            .probes
            .as_ref()
            .is_some_and(ProcessProbes::hot_attached)
    }
}
