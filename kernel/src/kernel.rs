//! [`Kernel`]: the state every connection shares, and the operations the gRPC edge
//! calls that are not single syscalls (doctor, process creation, sandbox updates).
//!
//! # The path of a syscall
//!
//! ```text
//! rpc (proto in, status out)
//!   → Kernel::execute            syscall/mod.rs: timeout, then `dispatch`, one match
//!   → handler                    syscall/<category>.rs: its first line is its access
//!                                rule (`Kernel::path` resolves a path once and checks
//!                                it; `Kernel::check` for the rest), all decided in
//!                                `Kernel::authorize` (syscall/access.rs)
//!   → backend                    vfs, process, sched, signal, shm ...
//!   → event                      `execute` records the call (name, caller, causality,
//!                                latency, outcome) in the collector (observe/collector);
//!                                handlers add their own (spawn, exit, vfs, sched,
//!                                denied)
//! ```

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use agentos_proto::v1 as pb;

use crate::{
    backend::Backends,
    capability::{CacheConfig, PermissionCache},
    observe::{
        EventHub,
        collector::{Collector, DEFAULT_TARGET},
    },
    process::ProcessTable,
    sched::Scheduler,
    shm::Broker,
    signal::Signals,
    syscall::{callers::Callers, completion::CompletionQueues, tasks::Tasks},
    vfs::Vfs,
};

/// The kernel's state, shared by every connection.
pub struct Kernel {
    pub vfs: Vfs,
    pub backends: Backends,
    pub callers: Callers,
    pub tasks: Tasks,
    pub completions: CompletionQueues,
    pub events: EventHub,
    /// Every subsystem's events, the probes' too (`observe::collector`).
    pub collector: Arc<Collector>,
    pub processes: Arc<ProcessTable>,
    pub scheduler: Arc<Scheduler>,
    pub signals: Signals,
    pub permissions: PermissionCache,
    /// Shared-memory regions and the tickets that hand their fds out.
    pub shm: Arc<Broker>,
    /// Pipes, shared-memory segments, queues, clipboards and fd tables.
    pub ipc: crate::ipc::Ipc,
    /// What open `StreamSyscall` streams may buffer, together.
    pub streams: crate::syscall::stream::Budget,
    started: Instant,
}

impl Kernel {
    pub fn new(
        vfs: Vfs,
        backends: Backends,
        events: EventHub,
        processes: Arc<ProcessTable>,
    ) -> Arc<Self> {
        let collector = Collector::start(DEFAULT_TARGET);
        Arc::new(Self {
            vfs,
            backends,
            scheduler: Scheduler::new(Arc::clone(&processes), Arc::clone(&collector)),
            signals: Signals::default(),
            shm: Arc::default(),
            ipc: crate::ipc::Ipc::default(),
            streams: crate::syscall::stream::Budget::default(),
            permissions: PermissionCache::new(CacheConfig::default()),
            processes,
            callers: Callers::default(),
            tasks: Tasks::default(),
            completions: CompletionQueues::default(),
            events,
            collector,
            started: Instant::now(),
        })
    }

    /// Time since the kernel started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The instant the kernel started (the zero of monotonic time).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The Prometheus text of `/metrics`.
    pub fn prometheus(&self) -> String {
        use crate::observe::metrics::{AppUsage, Snapshot, render};
        let (spawned, exited) = self.collector.lifecycles();
        let apps = self
            .processes
            .list()
            .iter()
            .filter(|p| !p.state().is_final())
            .filter_map(|p| {
                let s = p.stats().ok()?;
                Some(AppUsage {
                    app: p.name.clone(),
                    pid: p.pid,
                    cpu_usec: s.cpu_usage_usec,
                    memory_bytes: s.memory_current,
                    pids: s.pids_current,
                    observe_cpu_ns: p.probe_figures().map_or(0, |f| f.observe.cpu_ns),
                })
            })
            .collect();
        render(&Snapshot {
            histograms: self.collector.histograms(),
            stats: self.collector.stats(),
            spawned,
            exited,
            apps,
            probes: self.events.managed().run_times(),
        })
    }

    /// The doctor report: the start-up probes plus the live eBPF status and network (whose
    /// DNS relay starts with the first private or bridged process).
    pub fn doctor_report(&self) -> BTreeMap<String, pb::SubsystemReport> {
        let mut r = self.backends.to_proto();
        if let Some(net) = self.processes.network() {
            r.insert("network".into(), net.report().to_proto());
        }
        r.insert(
            "ebpf".into(),
            crate::backend::ebpf_report(&self.events.status()).to_proto(),
        );
        r.insert(
            "lsm_wall".into(),
            crate::backend::lsm_wall_report(&self.events.status()).to_proto(),
        );
        r.insert("sched".into(), self.scheduler.report().to_proto());
        r.insert(
            "cleanup".into(),
            self.processes.cleanup().report().to_proto(),
        );
        r
    }
}
