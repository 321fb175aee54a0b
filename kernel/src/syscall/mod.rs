//! Syscall execution.
//!
//! [`Kernel::execute`] runs one syscall for one [`Caller`]: it picks the category
//! handler (one file each: [`fs`], [`system`], [`time`]) and applies the request's
//! timeout. Around it: [`batch`] (sequential or parallel batches), [`tasks`]
//! (background tasks with progress, cancellation and TTL clean-up) and
//! [`completion`] (io_uring-style submit now, reap later, per caller).
//! Per-caller state (working directory, environment) lives in [`callers`].

pub mod access;
pub mod batch;
pub mod callers;
pub mod completion;
mod fs;
mod memory;
pub mod process;
mod sched;
mod signal;
mod system;
pub mod tasks;
mod time;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use agentos_proto::v1 as pb;
use pb::syscall::Call;

use crate::{backend::Backends, error::KernelError, identity::Caller, observe::EventHub, vfs::Vfs};

/// Progress of a running syscall, 0.0 ..= 1.0, readable from another task.
#[derive(Clone, Default)]
pub struct Progress(Arc<std::sync::atomic::AtomicU64>);

impl Progress {
    pub fn set(&self, fraction: f64) {
        self.0.store(
            fraction.clamp(0.0, 1.0).to_bits(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The kernel's state, shared by every connection.
pub struct Kernel {
    pub vfs: Vfs,
    pub backends: Backends,
    pub callers: callers::Callers,
    pub tasks: tasks::Tasks,
    pub completions: completion::CompletionQueues,
    pub events: EventHub,
    pub processes: Arc<crate::process::ProcessTable>,
    pub scheduler: Arc<crate::sched::Scheduler>,
    pub signals: crate::signal::Signals,
    pub permissions: crate::capability::PermissionCache,
    /// Shared-memory regions and the tickets that hand their fds out.
    pub shm: Arc<crate::shm::Broker>,
    started: Instant,
}

impl Kernel {
    pub fn new(
        vfs: Vfs,
        backends: Backends,
        events: EventHub,
        processes: Arc<crate::process::ProcessTable>,
    ) -> Arc<Self> {
        Arc::new(Self {
            vfs,
            backends,
            scheduler: crate::sched::Scheduler::new(Arc::clone(&processes)),
            signals: crate::signal::Signals::default(),
            shm: Arc::default(),
            permissions: crate::capability::PermissionCache::new(
                crate::capability::CacheConfig::default(),
            ),
            processes,
            callers: callers::Callers::default(),
            tasks: tasks::Tasks::default(),
            completions: completion::CompletionQueues::default(),
            events,
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

    /// Runs one syscall; `syscall` names it for errors.
    pub async fn execute(
        &self,
        caller: &Caller,
        req: pb::SyscallRequest,
        progress: &Progress,
    ) -> Result<pb::SyscallResult, KernelError> {
        let call = req
            .syscall
            .and_then(|s| s.call)
            .ok_or_else(|| KernelError::InvalidArgument("the request names no syscall".into()))?;
        // Only calls from a managed process's own socket are checked (and only they
        // pay for working out what the call touches).
        if caller.managed.is_some() {
            self.authorize(caller, &access::accesses(self, caller, &call)?)?;
        }
        let run = self.dispatch(caller, call, progress);
        if req.timeout_ms == 0 {
            return run.await;
        }
        let limit = Duration::from_millis(u64::from(req.timeout_ms));
        tokio::time::timeout(limit, run)
            .await
            .map_err(|_| KernelError::Timeout(limit))?
    }

    // The heavy calls' futures are boxed: the future of `dispatch` is as large as
    // its largest arm, and a parallel batch holds one per call.
    async fn dispatch(
        &self,
        caller: &Caller,
        call: Call,
        progress: &Progress,
    ) -> Result<pb::SyscallResult, KernelError> {
        let value = match call {
            Call::Read(c) => fs::read(self, caller, c).await?,
            Call::Write(c) => Box::pin(fs::write(self, caller, c)).await?,
            Call::Create(c) => Box::pin(fs::create(self, caller, c)).await?,
            Call::Delete(c) => fs::delete(self, caller, c).await?,
            Call::List(c) => fs::list(self, caller, c).await?,
            Call::Stat(c) => fs::stat(self, caller, c).await?,
            Call::Move(c) => Box::pin(fs::rename(self, caller, c)).await?,
            Call::Copy(c) => Box::pin(fs::copy(self, caller, c, progress)).await?,
            Call::Mkdir(c) => Box::pin(fs::mkdir(self, caller, c)).await?,
            Call::Rmdir(c) => Box::pin(fs::rmdir(self, caller, c)).await?,
            Call::Getcwd(_) => fs::getcwd(self, caller),
            Call::Setcwd(c) => fs::setcwd(self, caller, c).await?,
            Call::Truncate(c) => fs::truncate(self, caller, c).await?,
            Call::Exists(c) => fs::exists(self, caller, c).await?,
            Call::SystemInfo(_) => system::info(self),
            Call::GetEnv(c) => system::get_env(self, caller, c)?,
            Call::SetEnv(c) => system::set_env(self, caller, c)?,
            Call::Time(_) => time::now(self),
            Call::Sleep(c) => time::sleep(c, progress).await?,
            Call::Uptime(_) => time::uptime(self),
            Call::Spawn(c) => Box::pin(process::spawn(self, *c)).await?,
            Call::Kill(c) => process::kill(self, c)?,
            Call::GetInfo(c) => process::get_info(self, c)?,
            Call::ListProcesses(_) => process::list(self),
            Call::SetPriority(c) => process::set_priority(self, c)?,
            Call::GetState(c) => process::get_state(self, c)?,
            Call::GetStats(c) => process::get_stats(self, c.pid)?,
            Call::Wait(c) => process::wait(self, c).await?,
            Call::Freeze(c) => process::freeze(self, c)?,
            Call::MemoryStats(_) => memory::stats(self),
            Call::ProcessMemoryStats(c) => process::get_stats(self, c.pid)?,
            Call::TriggerGc(c) => memory::trigger_gc(self, c)?,
            Call::SendSignal(c) => signal::send(self, c)?,
            Call::RegisterHandler(c) => signal::register(self, caller, c.signal, true)?,
            Call::UnregisterHandler(c) => signal::register(self, caller, c.signal, false)?,
            Call::BlockSignal(c) => signal::block(self, c.pid, c.signal, true)?,
            Call::UnblockSignal(c) => signal::block(self, c.pid, c.signal, false)?,
            Call::GetPending(c) => signal::state(self, c.pid)?,
            Call::GetSignalState(c) => signal::state(self, c.pid)?,
            Call::WaitForSignal(c) => signal::wait(self, caller, c).await?,
            Call::ScheduleNext(_) => sched::schedule_next(self)?,
            Call::Yield(c) => sched::yield_cpu(self, caller, c)?,
            Call::GetCurrent(_)
            | Call::SchedulerStats(_)
            | Call::GetPolicy(_)
            | Call::GetQuantum(_) => sched::state(self),
            Call::SetPolicy(c) => sched::set_policy(self, c)?,
            Call::SetQuantum(c) => sched::set_quantum(self, c)?,
            Call::BoostPriority(c) => sched::boost(self, c)?,
            Call::LowerPriority(c) => sched::lower(self, c)?,
            Call::SetFocus(c) => sched::set_focus(self, c)?,
        };
        progress.set(1.0);
        Ok(pb::SyscallResult { value: Some(value) })
    }
}

/// Resolves a path argument against the caller's working directory.
pub fn fs_path(
    kernel: &Kernel,
    caller: &Caller,
    raw: &str,
) -> Result<crate::vfs::VirtPath, KernelError> {
    fs::resolve(kernel, caller, raw)
}

impl Kernel {
    /// The doctor report: the start-up probes plus the live eBPF status.
    pub fn doctor_report(&self) -> std::collections::BTreeMap<String, pb::SubsystemReport> {
        let mut r = self.backends.to_proto();
        r.insert(
            "ebpf".into(),
            crate::backend::ebpf_report(&self.events.status()).to_proto(),
        );
        r.insert("sched".into(), self.scheduler.report().to_proto());
        r.insert(
            "cleanup".into(),
            self.processes.cleanup().report().to_proto(),
        );
        r
    }
}

/// The syscall's name, for errors and metrics.
pub fn name_of(req: &pb::SyscallRequest) -> &'static str {
    req.syscall
        .as_ref()
        .and_then(|s| s.call.as_ref())
        .map_or("none", Call::name)
}

/// Runs a syscall and folds the outcome into a `SyscallResponse`.
pub async fn respond(
    kernel: &Kernel,
    caller: &Caller,
    req: pb::SyscallRequest,
    progress: &Progress,
) -> pb::SyscallResponse {
    let name = name_of(&req);
    let outcome = match kernel.execute(caller, req, progress).await {
        Ok(ok) => pb::syscall_response::Outcome::Ok(ok),
        Err(e) => pb::syscall_response::Outcome::Error(e.to_proto(name)),
    };
    pb::SyscallResponse {
        outcome: Some(outcome),
    }
}

/// Whether a response is a success.
pub fn is_ok(resp: &pb::SyscallResponse) -> bool {
    matches!(resp.outcome, Some(pb::syscall_response::Outcome::Ok(_)))
}
