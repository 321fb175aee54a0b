//! The resource orchestrator: everything the kernel makes on the host registers how
//! to undo it, and the undo runs exactly once: when the resource is released, or at
//! shutdown, newest first (a resource registered later may depend on an earlier one:
//! a process depends on its cgroup, the cgroup on the kernel's).
//!
//! Resources that clean themselves up (a reaped process) are `forget`-ed; the
//! per-kind statistics (registered, released, forgotten, failed, live) are in the
//! doctor report. Crash leftovers are a different path: the kernel's start-up sweep
//! (`cgroup::sweep_orphans_in`, the VFS journal) removes what a SIGKILLed kernel left.

use std::{collections::BTreeMap, fmt, sync::Mutex};

/// What kind of host resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    Cgroup,
    Process,
    Socket,
    Probe,
    Task,
    File,
    Network,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cgroup => "cgroup",
            Self::Process => "process",
            Self::Socket => "socket",
            Self::Probe => "probe",
            Self::Task => "task",
            Self::File => "file",
            Self::Network => "network",
        })
    }
}

/// Per-kind counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindStats {
    pub registered: u64,
    pub released: u64,
    pub forgotten: u64,
    pub failed: u64,
    pub live: u64,
}

type Undo = Box<dyn FnOnce() -> Result<(), String> + Send>;

struct Entry {
    id: u64,
    kind: ResourceKind,
    name: String,
    undo: Undo,
}

#[derive(Default)]
struct Inner {
    next: u64,
    live: Vec<Entry>,
    stats: BTreeMap<ResourceKind, KindStats>,
}

/// A registered resource; pass it back to release or forget it.
#[derive(Debug, PartialEq, Eq)]
pub struct Handle(u64);

/// The orchestrator.
#[derive(Default)]
pub struct Orchestrator {
    inner: Mutex<Inner>,
}

/// What one clean-up did.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub kind: ResourceKind,
    pub name: String,
    pub result: Result<(), String>,
}

impl Orchestrator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers how to undo a resource.
    pub fn register(
        &self,
        kind: ResourceKind,
        name: impl Into<String>,
        undo: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> Handle {
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner.live.push(Entry {
            id,
            kind,
            name: name.into(),
            undo: Box::new(undo),
        });
        let s = inner.stats.entry(kind).or_default();
        s.registered += 1;
        s.live += 1;
        Handle(id)
    }

    fn take(&self, h: &Handle) -> Option<Entry> {
        let mut inner = self.lock();
        let i = inner.live.iter().position(|e| e.id == h.0)?;
        let e = inner.live.remove(i);
        inner.stats.entry(e.kind).or_default().live -= 1;
        Some(e)
    }

    fn record(&self, kind: ResourceKind, ok: bool) {
        let mut inner = self.lock();
        let s = inner.stats.entry(kind).or_default();
        if ok { s.released += 1 } else { s.failed += 1 }
    }

    /// Undoes one resource now.
    pub fn release(&self, h: Handle) -> Option<Outcome> {
        let e = self.take(&h)?;
        let result = (e.undo)();
        self.record(e.kind, result.is_ok());
        Some(Outcome {
            kind: e.kind,
            name: e.name,
            result,
        })
    }

    /// The resource went away by itself: drop its undo without running it.
    pub fn forget(&self, h: Handle) {
        if let Some(e) = self.take(&h) {
            self.lock().stats.entry(e.kind).or_default().forgotten += 1;
        }
    }

    /// Undoes every live resource, newest first; each failure is kept, none stops
    /// the others.
    pub fn shutdown(&self) -> Vec<Outcome> {
        let live = std::mem::take(&mut self.lock().live);
        let mut out = Vec::with_capacity(live.len());
        for e in live.into_iter().rev() {
            self.lock().stats.entry(e.kind).or_default().live -= 1;
            let result = (e.undo)();
            if let Err(err) = &result {
                tracing::warn!(kind = %e.kind, name = %e.name, "clean-up failed: {err}");
            }
            self.record(e.kind, result.is_ok());
            out.push(Outcome {
                kind: e.kind,
                name: e.name,
                result,
            });
        }
        out
    }

    pub fn stats(&self) -> BTreeMap<ResourceKind, KindStats> {
        self.lock().stats.clone()
    }

    /// The stats as doctor details: `<kind>` → `live=.. registered=.. released=.. forgotten=.. failed=..`.
    pub fn report(&self) -> crate::backend::Report {
        let mut r = crate::backend::Report::yes(
            "orchestrator",
            "every host resource the kernel makes registers its clean-up; LIFO at shutdown",
        );
        for (k, s) in self.stats() {
            r.details.insert(
                k.to_string(),
                format!(
                    "live={} registered={} released={} forgotten={} failed={}",
                    s.live, s.registered, s.released, s.forgotten, s.failed
                ),
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn shutdown_runs_newest_first_and_keeps_failures() {
        let o = Orchestrator::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        for (kind, name) in [
            (ResourceKind::Cgroup, "kernel"),
            (ResourceKind::Socket, "kernel.sock"),
            (ResourceKind::Process, "p1"),
        ] {
            let order = Arc::clone(&order);
            o.register(kind, name, move || {
                order.lock().unwrap().push(name);
                if name == "kernel.sock" {
                    Err("busy".into())
                } else {
                    Ok(())
                }
            });
        }
        let out = o.shutdown();
        assert_eq!(*order.lock().unwrap(), ["p1", "kernel.sock", "kernel"]);
        assert_eq!(out[1].result, Err("busy".into()));
        let s = o.stats();
        assert_eq!(
            s[&ResourceKind::Socket],
            KindStats {
                registered: 1,
                released: 0,
                forgotten: 0,
                failed: 1,
                live: 0
            }
        );
        assert_eq!(s[&ResourceKind::Cgroup].released, 1);
        assert!(o.shutdown().is_empty(), "each undo runs once");
    }

    #[test]
    fn release_and_forget_run_once_or_never() {
        let o = Orchestrator::default();
        let runs = Arc::new(Mutex::new(0));
        let r = Arc::clone(&runs);
        let a = o.register(ResourceKind::Process, "a", move || {
            *r.lock().unwrap() += 1;
            Ok(())
        });
        let r = Arc::clone(&runs);
        let b = o.register(ResourceKind::Process, "b", move || {
            *r.lock().unwrap() += 1;
            Ok(())
        });
        assert!(o.release(a).unwrap().result.is_ok());
        o.forget(b);
        assert!(o.shutdown().is_empty());
        assert_eq!(*runs.lock().unwrap(), 1);
        let s = o.stats()[&ResourceKind::Process];
        assert_eq!(
            (s.registered, s.released, s.forgotten, s.live),
            (2, 1, 1, 0)
        );
        assert!(o.release(Handle(99)).is_none());
    }
}
