//! Observation: the [`collector`] every subsystem's events go to (with sampling,
//! anomalies, causality, queries), the [`metrics`] it renders for Prometheus, and the
//! eBPF probes and the hub their events fan out from (into the collector too, via
//! [`feed_collector`]).
//!
//! The probes ([`ebpf`]) watch exec and exit on the `sched` tracepoints, filtered in
//! the kernel to the AgentOS kernel's own cgroup subtree, and write records to a BPF
//! ring buffer. A task reads the ring buffer, decodes records ([`event`]) and sends
//! them into a broadcast channel; `WatchEvents` subscribers each get a receiver.
//! Without the probes (object not built, no BTF, not permitted) the hub still works
//! and carries only userspace events; doctor says which.
//!
//! Nothing is pinned: the programs detach when the probes are dropped.

mod btf;
pub mod collector;
pub mod ebpf;
pub mod event;
pub mod metrics;
pub mod serve;

use std::sync::Mutex;

use agentos_proto::v1 as pb;
use tokio::sync::broadcast;

pub use self::{
    ebpf::{CgroupTarget, ProbeError, ProbeStatus, ProcessProbes},
    event::{Denial, ProcessEvent, ProcessEventKind},
};

/// Events buffered per subscriber before it starts losing the oldest.
const EVENT_BACKLOG: usize = 4096;

/// The fan-out point of process events.
pub struct EventHub {
    tx: broadcast::Sender<ProcessEvent>,
    status: Mutex<ProbeStatus>,
    probes: Mutex<Option<ProcessProbes>>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(EVENT_BACKLOG).0,
            status: Mutex::new(ProbeStatus::Unavailable {
                reason: "not started".into(),
            }),
            probes: Mutex::new(None),
        }
    }

    /// Loads and attaches the probes for `target`; records why if that fails.
    pub fn start_probes(&self, target: CgroupTarget) {
        match ProcessProbes::start(target, self.tx.clone()) {
            Ok(p) => {
                *self.lock_status() = p.status();
                *self.probes.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
            }
            Err(e) => {
                tracing::warn!("eBPF probes not loaded: {e}");
                self.set_unavailable(&e.to_string());
            }
        }
    }

    pub fn set_unavailable(&self, reason: &str) {
        *self.lock_status() = ProbeStatus::Unavailable {
            reason: reason.to_owned(),
        };
    }

    /// Detaches the probes.
    pub fn stop(&self) {
        self.probes.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.set_unavailable("the kernel stopped");
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, ProbeStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> ProbeStatus {
        self.lock_status().clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ProcessEvent> {
        self.tx.subscribe()
    }

    /// Publishes an event (userspace sources use this too).
    pub fn publish(&self, ev: ProcessEvent) {
        let _ = self.tx.send(ev);
    }
}

/// Feeds the probes' events into the collector (its ingest point) from a task;
/// events the hub's channel dropped before the task read them are counted as lost.
pub fn feed_collector(hub: &EventHub, collector: &std::sync::Arc<collector::Collector>) {
    let mut rx = hub.subscribe();
    let collector = std::sync::Arc::downgrade(collector);
    tokio::spawn(async move {
        loop {
            let ev = rx.recv().await;
            let Some(c) = collector.upgrade() else { return };
            match ev {
                Ok(ev) => c.ingest(&ev),
                Err(broadcast::error::RecvError::Lagged(n)) => c.count_lost(n),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// The wire form of an event.
pub fn event_to_proto(ev: &ProcessEvent) -> pb::KernelEvent {
    pb::KernelEvent {
        kind: match ev.kind {
            ProcessEventKind::Exec => pb::EventKind::Exec,
            ProcessEventKind::Exit => pb::EventKind::Exit,
            ProcessEventKind::Denial => pb::EventKind::Denial,
        } as i32,
        pid: ev.pid,
        tid: ev.tid,
        ppid: ev.ppid,
        exit_status: ev.exit_code,
        cgroup_id: ev.cgroup_id,
        timestamp_ns: ev.timestamp_ns,
        comm: ev.comm.clone(),
        denial: ev.denial.as_ref().map(|d| pb::Denial {
            access: d.access.clone(),
            reason: d.reason.clone(),
            capability: d.capability.clone().unwrap_or_default(),
        }),
    }
}
