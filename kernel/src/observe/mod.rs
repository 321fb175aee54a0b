//! Observation: the [`collector`] every subsystem's events go to (with sampling,
//! anomalies, causality, queries), the [`metrics`] it renders for Prometheus, and the
//! eBPF probes and the hub their events fan out from (into the collector too, via
//! [`feed_collector`]).
//!
//! The probes ([`probes`]) watch exec, fork, exit, file opens and connects, and count
//! syscalls and scheduling, filtered in the host kernel to the managed processes' cgroups
//! ([`ManagedCgroups`], kept in step by the process table). Events go to a BPF ring buffer;
//! a task reads it, decodes records ([`event`]) and sends them into a broadcast channel;
//! `WatchEvents` subscribers each get a receiver. Figures stay in per-CPU maps and are read
//! on demand (`ProbeStats`).
//! Without the probes (object not built, no BTF, not permitted) the hub still works
//! and carries only userspace events; doctor says which.
//!
//! Nothing is pinned: the programs detach when the probes are dropped.

#[cfg(target_os = "linux")]
mod btf;
pub mod collector;
pub mod event;
pub mod metrics;
pub mod probes;
pub mod serve;

use std::sync::Mutex;

use agentos_proto::v1 as pb;
use tokio::sync::broadcast;

pub use self::{
    event::{Denial, EventDetail, Owner, ProcessEvent, ProcessEventKind},
    probes::{
        FloorPrograms, Hooks, ManagedCgroups, Owners, ProbeError, ProbeFigures, ProbeStatus,
        ProcessProbes, ProgramRunTime, RunTimeStats, STATS_REST, STATS_SAMPLE, Step, WallRules,
        WallStatus, Watched, bpf_lsm_active,
    },
};

/// Events buffered per subscriber before it starts losing the oldest.
const EVENT_BACKLOG: usize = 4096;

/// The fan-out point of process events.
pub struct EventHub {
    tx: broadcast::Sender<ProcessEvent>,
    status: Mutex<ProbeStatus>,
    /// The managed cgroups and, while live, the probes that filter on them.
    managed: ManagedCgroups,
    /// Set when the kernel stops: every open subscription ends then.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    /// Ends every subscription made with [`EventHub::until_closed`]: a client that
    /// keeps a stream open must not hold a stopping kernel up.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// `stream`, ended when the kernel stops ([`EventHub::close_streams`]).
    pub fn until_closed<S>(
        &self,
        stream: S,
    ) -> impl tokio_stream::Stream<Item = S::Item> + Send + use<S>
    where
        S: tokio_stream::Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        use tokio_stream::StreamExt as _;
        let closed = tokio_stream::wrappers::WatchStream::new(self.closing.subscribe())
            .filter(|closing| *closing)
            .map(|_| None);
        stream.map(Some).merge(closed).map_while(|item| item)
    }

    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(EVENT_BACKLOG).0,
            status: Mutex::new(ProbeStatus::Unavailable {
                reason: "not started".into(),
            }),
            managed: ManagedCgroups::default(),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Loads the probes and attaches the lifecycle ones; records why if that fails.
    pub fn start_probes(&self, kernel_cgroup: &std::path::Path) {
        match ProcessProbes::start(self.tx.clone(), self.managed.owners(), kernel_cgroup) {
            Ok(p) => {
                *self.lock_status() = p.status();
                self.managed.set_probes(p);
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
        // Dropped here: dropping them detaches everything (off Linux there is nothing).
        let _ = self.managed.take_probes();
        self.set_unavailable("the kernel stopped");
    }

    /// The handle the process table keeps the probes' filter in step with.
    pub fn managed(&self) -> ManagedCgroups {
        self.managed.clone()
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
    let (mut source_address, mut source_port, mut old_state, mut new_state) =
        (String::new(), 0, 0, 0);
    let (path, open_flags, result, address, port) = match &ev.detail {
        EventDetail::None | EventDetail::Denial(_) => (String::new(), 0, 0, String::new(), 0),
        EventDetail::TcpState {
            source,
            dest,
            old_state: old,
            new_state: new,
        } => {
            (source_address, source_port) = (source.ip().to_string(), u32::from(source.port()));
            (old_state, new_state) = (*old, *new);
            (
                String::new(),
                0,
                0,
                dest.ip().to_string(),
                u32::from(dest.port()),
            )
        }
        EventDetail::Open {
            path,
            flags,
            result,
        } => (path.clone(), *flags, *result, String::new(), 0),
        EventDetail::Connect {
            address,
            port,
            result,
        } => (
            String::new(),
            0,
            *result,
            address.to_string(),
            u32::from(*port),
        ),
    };
    pb::KernelEvent {
        kind: match ev.kind {
            ProcessEventKind::Exec => pb::EventKind::Exec,
            ProcessEventKind::Exit => pb::EventKind::Exit,
            ProcessEventKind::Fork => pb::EventKind::Fork,
            ProcessEventKind::Open => pb::EventKind::Open,
            ProcessEventKind::Connect => pb::EventKind::Connect,
            ProcessEventKind::TcpState => pb::EventKind::TcpState,
            ProcessEventKind::Denial => pb::EventKind::Denial,
        } as i32,
        pid: ev.pid,
        tid: ev.tid,
        ppid: ev.ppid,
        exit_status: ev.exit_code,
        cgroup_id: ev.cgroup_id,
        timestamp_ns: ev.timestamp_ns,
        comm: ev.comm.clone(),
        path,
        open_flags,
        result,
        address,
        port,
        uid: ev.uid,
        source_address,
        source_port,
        old_state,
        new_state,
        denial: match &ev.detail {
            EventDetail::Denial(d) => Some(pb::Denial {
                access: d.access.clone(),
                reason: d.reason.clone(),
                capability: d.capability.clone().unwrap_or_default(),
                path: d.path.clone().unwrap_or_default(),
                wall: d.wall.to_owned(),
            }),
            _ => None,
        },
        managed_pid: ev.owner.as_ref().map_or(0, |o| o.pid),
        app: ev
            .owner
            .as_ref()
            .map(|o| o.app.to_string())
            .unwrap_or_default(),
    }
}

/// The wire form of a process's probe figures.
pub fn figures_to_proto(pid: u32, figures: &ProbeFigures) -> pb::ProbeStatsReply {
    pb::ProbeStatsReply {
        pid,
        cgroup_id: figures.cgroup_id,
        syscalls: figures
            .syscalls
            .iter()
            .map(|(&nr, f)| pb::SyscallFigure {
                nr,
                count: f.count,
                total_ns: f.total_ns,
                latency_log2: f.latency_log2.to_vec(),
            })
            .collect(),
        on_cpu_ns: figures.sched.on_cpu_ns,
        context_switches: figures.sched.switches,
        runq_ns: figures.sched.runq_ns,
        runq_count: figures.sched.runq_count,
        observe_cpu_ns: figures.observe.cpu_ns,
        observe_runs: figures.observe.runs,
    }
}
