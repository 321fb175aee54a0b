//! Syscall execution.
//!
//! [`Kernel::execute`] runs one syscall for one [`Caller`]: it applies the request's
//! timeout and [`dispatch`](Kernel::dispatch)es to the category handler (one file
//! each: `fs`, `process`, `signal`, `sched`, `memory`, `system`, `time`). A
//! handler's first line is its access rule: [`Kernel::path`] resolves a path once and
//! checks it, [`Kernel::check`] checks the rest; both end in [`Kernel::authorize`]
//! ([`access`]), the one place a managed caller is refused. Around it: [`batch`] (sequential or parallel batches), [`tasks`]
//! (background tasks with progress, cancellation and TTL clean-up) and
//! [`completion`] (io_uring-style submit now, reap later, per caller).
//! Per-caller state (working directory, environment) lives in [`callers`].
//! IPC categories ([`pipe`], [`shm`], [`mmap`], [`socket`], [`queue`], [`clipboard`], [`fd`]) keep their access rules beside their handlers.

pub mod access;
pub mod batch;
pub mod callers;
mod clipboard;
pub mod completion;
pub mod events;
mod fd;
mod fs;
mod memory;
mod mmap;
mod pipe;
pub mod process;
mod queue;
mod sched;
mod shm;
mod signal;
mod socket;
pub mod stream;
pub mod system;
pub mod tasks;
mod time;

use std::{sync::Arc, time::Duration};

use agentos_proto::v1 as pb;
use pb::syscall::Call;

pub use crate::kernel::Kernel;
use crate::{
    error::KernelError,
    identity::Caller,
    observe::collector::{Category, Record, Severity, monotonic_ns},
};

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

impl Kernel {
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
        let name = call.name();
        // A managed process's own calls continue the chain it was spawned under.
        let caller = &match caller.managed {
            Some(pid) if caller.causality == 0 => Caller {
                causality: self.collector.causality_of(pid),
                ..caller.clone()
            },
            _ => caller.clone(),
        };
        let start = monotonic_ns();
        let span = tracing::info_span!(
            "syscall",
            name,
            causality = caller.causality,
            managed = caller.managed
        );
        let run = tracing::Instrument::instrument(self.dispatch(caller, call, progress), span);
        let outcome = if req.timeout_ms == 0 {
            run.await
        } else {
            let limit = Duration::from_millis(u64::from(req.timeout_ms));
            match tokio::time::timeout(limit, run).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    self.collector.emit(
                        event(caller, Category::Timeout, Severity::Warn, name)
                            .value(monotonic_ns() - start),
                    );
                    Err(KernelError::Timeout(limit))
                }
            }
        };
        let severity = if outcome.is_ok() {
            Severity::Info
        } else {
            Severity::Warn
        };
        let code = outcome.as_ref().err().map_or(0, |e| e.code() as i32);
        self.collector.emit(
            event(caller, Category::Syscall, severity, name)
                .value(monotonic_ns() - start)
                .code(code),
        );
        outcome
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
            Call::Getcwd(_) => fs::getcwd(self, caller)?,
            Call::Setcwd(c) => fs::setcwd(self, caller, c).await?,
            Call::Truncate(c) => fs::truncate(self, caller, c).await?,
            Call::Exists(c) => fs::exists(self, caller, c).await?,
            Call::SystemInfo(_) => system::info(self, caller)?,
            Call::GetEnv(c) => system::get_env(self, caller, c)?,
            Call::SetEnv(c) => system::set_env(self, caller, c)?,
            Call::Time(_) => time::now(self, caller)?,
            Call::Sleep(c) => time::sleep(self, caller, c, progress).await?,
            Call::Uptime(_) => time::uptime(self, caller)?,
            Call::Spawn(c) => Box::pin(process::spawn(self, caller, *c)).await?,
            Call::Kill(c) => process::kill(self, caller, c)?,
            Call::GetInfo(c) => process::get_info(self, caller, c)?,
            Call::ListProcesses(_) => process::list(self, caller)?,
            Call::SetPriority(c) => process::set_priority(self, caller, c)?,
            Call::GetState(c) => process::get_state(self, caller, c)?,
            Call::GetStats(c) => process::get_stats(self, caller, c.pid)?,
            Call::Wait(c) => process::wait(self, caller, c).await?,
            Call::Freeze(c) => process::freeze(self, caller, c)?,
            Call::MemoryStats(_) => memory::stats(self, caller)?,
            Call::ProcessMemoryStats(c) => process::get_stats(self, caller, c.pid)?,
            Call::TriggerGc(c) => memory::trigger_gc(self, caller, c)?,
            Call::SendSignal(c) => signal::send(self, caller, c)?,
            Call::RegisterHandler(c) => signal::register(self, caller, c.signal, true)?,
            Call::UnregisterHandler(c) => signal::register(self, caller, c.signal, false)?,
            Call::BlockSignal(c) => signal::block(self, caller, c.pid, c.signal, true)?,
            Call::UnblockSignal(c) => signal::block(self, caller, c.pid, c.signal, false)?,
            Call::GetPending(c) => signal::state(self, caller, c.pid)?,
            Call::GetSignalState(c) => signal::state(self, caller, c.pid)?,
            Call::WaitForSignal(c) => signal::wait(self, caller, c).await?,
            Call::ScheduleNext(_) => sched::schedule_next(self, caller)?,
            Call::Yield(c) => sched::yield_cpu(self, caller, c)?,
            Call::GetCurrent(_)
            | Call::SchedulerStats(_)
            | Call::GetPolicy(_)
            | Call::GetQuantum(_) => sched::state(self, caller)?,
            Call::SetPolicy(c) => sched::set_policy(self, caller, c)?,
            Call::SetQuantum(c) => sched::set_quantum(self, caller, c)?,
            Call::BoostPriority(c) => sched::boost(self, caller, c)?,
            Call::LowerPriority(c) => sched::lower(self, caller, c)?,
            Call::SetFocus(c) => sched::set_focus(self, caller, c)?,
            c @ (Call::PipeCreate(_)
            | Call::PipeOpen(_)
            | Call::PipeWrite(_)
            | Call::PipeRead(_)
            | Call::PipeClose(_)
            | Call::PipeDestroy(_)
            | Call::PipeStats(_)) => Box::pin(pipe::dispatch(self, caller, c)).await?,
            c @ (Call::ShmCreate(_)
            | Call::ShmAttach(_)
            | Call::ShmDetach(_)
            | Call::ShmWrite(_)
            | Call::ShmRead(_)
            | Call::ShmDestroy(_)
            | Call::ShmStats(_)) => shm::dispatch(self, caller, c)?,
            c @ (Call::QueueCreate(_)
            | Call::QueueSend(_)
            | Call::QueueReceive(_)
            | Call::QueueSubscribe(_)
            | Call::QueueUnsubscribe(_)
            | Call::QueuePoll(_)
            | Call::QueueDestroy(_)
            | Call::QueueStats(_)) => Box::pin(queue::dispatch(self, caller, c)).await?,
            c @ (Call::ClipboardCopy(_)
            | Call::ClipboardPaste(_)
            | Call::ClipboardHistory(_)
            | Call::ClipboardSubscribe(_)
            | Call::ClipboardClear(_)) => Box::pin(clipboard::dispatch(self, caller, c)).await?,
            c @ (Call::FdOpen(_)
            | Call::FdClose(_)
            | Call::FdDup(_)
            | Call::FdDup2(_)
            | Call::FdLseek(_)
            | Call::FdFcntl(_)
            | Call::FdHandOver(_)) => Box::pin(fd::dispatch(self, caller, c)).await?,
            c @ Call::MmapOpen(_) => Box::pin(mmap::dispatch(self, caller, c)).await?,
            c @ (Call::Socket(_)
            | Call::Bind(_)
            | Call::Listen(_)
            | Call::Accept(_)
            | Call::Connect(_)
            | Call::Send(_)
            | Call::Recv(_)
            | Call::Sendto(_)
            | Call::Recvfrom(_)
            | Call::Setsockopt(_)) => Box::pin(socket::dispatch(self, caller, c)).await?,
        };
        progress.set(1.0);
        Ok(pb::SyscallResult { value: Some(value) })
    }
}

/// An event about `caller`'s call, stamped now.
pub(crate) fn event(
    caller: &Caller,
    category: Category,
    severity: Severity,
    name: &'static str,
) -> Record {
    Record::now(category, severity, name)
        .pid(caller.managed.unwrap_or(0))
        .causality(caller.causality)
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
