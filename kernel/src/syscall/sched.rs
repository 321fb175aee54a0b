//! Scheduler syscalls: schedule_next, yield, get_current, get_stats, set_policy,
//! get_policy, set_quantum, get_quantum, boost_priority, lower_priority, and
//! set_focus. What each means for real processes is in [`crate::sched`].

use std::time::Duration;

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::{
    Kernel,
    access::{DESKTOP, control},
};
use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    observe::collector::{Category, Severity},
    process::priority::{NICE_MAX, NICE_MIN},
    sched::{Policy, SchedInfo, Visibility},
};

/// Nice steps of one boost or lowering.
const PRIORITY_STEP: i32 = 5;

fn policy_to_proto(p: Policy) -> pb::SchedPolicy {
    match p {
        Policy::Fair => pb::SchedPolicy::Fair,
        Policy::Priority => pb::SchedPolicy::Priority,
        Policy::RoundRobin => pb::SchedPolicy::RoundRobin,
    }
}

fn vis_to_proto(v: Visibility) -> pb::Visibility {
    match v {
        Visibility::Foreground => pb::Visibility::Foreground,
        Visibility::Background => pb::Visibility::Background,
        Visibility::Minimised => pb::Visibility::Minimised,
    }
}

fn entry(i: &SchedInfo) -> pb::SchedEntry {
    pb::SchedEntry {
        pid: i.pid,
        nice: i.nice,
        weight: i.weight,
        cpu_usage_usec: i.cpu_usage_usec,
        vruntime: i.vruntime,
        frozen: i.frozen,
        visibility: vis_to_proto(i.visibility) as i32,
    }
}

/// Records a scheduling decision about `pid` (0: all).
fn decided(k: &Kernel, c: &Caller, what: &'static str, pid: u32) {
    k.collector
        .emit(super::event(c, Category::Scheduler, Severity::Info, what).pid(pid));
}

/// The scheduler's whole state (get_current, scheduler_stats, get_policy,
/// get_quantum).
pub(super) fn state(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    Ok(snapshot(k))
}

fn snapshot(k: &Kernel) -> Value {
    let s = &k.scheduler;
    Value::Scheduler(pb::SchedulerState {
        policy: policy_to_proto(s.policy()) as i32,
        quantum_ms: s.quantum().as_millis() as u32,
        current: s.current().unwrap_or(0),
        switches: s.switches(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        entries: s.infos().iter().map(entry).collect(),
        focus_boost: s.focus_boost(),
    })
}

// Scheduler control is the desktop's; processes may only look.
pub(super) fn schedule_next(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    k.check(c, DESKTOP)?;
    k.scheduler.schedule_next()?;
    decided(k, c, "schedule_next", k.scheduler.current().unwrap_or(0));
    Ok(snapshot(k))
}

/// The pid a call is about: the given one, or the caller's own when 0.
fn target(k: &Kernel, caller: &Caller, pid: u32) -> Result<u32, KernelError> {
    if pid != 0 {
        return Ok(pid);
    }
    let own = caller
        .pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| k.processes.get(*p).is_ok());
    own.ok_or_else(|| {
        KernelError::FailedPrecondition("the caller is not a managed process; name a pid".into())
    })
}

pub(super) fn yield_cpu(
    k: &Kernel,
    caller: &Caller,
    r: pb::YieldCpu,
) -> Result<Value, KernelError> {
    // Yielding one's own CPU concerns only oneself.
    if r.pid != 0 {
        k.check(caller, Access::SystemInfo)?;
    }
    let pid = target(k, caller, r.pid)?;
    k.processes.get(pid)?;
    k.scheduler.yield_now(pid)?;
    decided(k, caller, "yield", pid);
    Ok(snapshot(k))
}

pub(super) fn set_policy(k: &Kernel, c: &Caller, r: pb::SetPolicy) -> Result<Value, KernelError> {
    k.check(c, DESKTOP)?;
    let policy = match pb::SchedPolicy::try_from(r.policy) {
        Ok(pb::SchedPolicy::Fair) => Policy::Fair,
        Ok(pb::SchedPolicy::Priority) => Policy::Priority,
        Ok(pb::SchedPolicy::RoundRobin) => Policy::RoundRobin,
        Err(_) => {
            return Err(KernelError::InvalidArgument(format!(
                "unknown policy {}",
                r.policy
            )));
        }
    };
    // 0: the boost stays as it is.
    let boost = (r.focus_boost != 0).then_some(r.focus_boost);
    k.scheduler.configure(policy, r.freeze_minimised, boost)?;
    decided(k, c, "set_policy", 0);
    Ok(snapshot(k))
}

pub(super) fn set_quantum(k: &Kernel, c: &Caller, r: pb::SetQuantum) -> Result<Value, KernelError> {
    k.check(c, DESKTOP)?;
    k.scheduler
        .set_quantum(Duration::from_millis(u64::from(r.quantum_ms)))?;
    Ok(snapshot(k))
}

/// Moves a process's nice level by `delta` (clamped) and re-applies weights.
fn nudge(k: &Kernel, c: &Caller, pid: u32, delta: i32) -> Result<Value, KernelError> {
    k.check(c, control(c, pid))?;
    let p = k.processes.get(pid)?;
    p.set_priority((p.priority() + delta).clamp(NICE_MIN, NICE_MAX))?;
    k.scheduler.apply_all()?;
    decided(k, c, "priority", pid);
    Ok(Value::Process(super::process::info(&p)))
}

pub(super) fn boost(k: &Kernel, c: &Caller, r: pb::BoostPriority) -> Result<Value, KernelError> {
    nudge(k, c, r.pid, -PRIORITY_STEP)
}

pub(super) fn lower(k: &Kernel, c: &Caller, r: pb::LowerPriority) -> Result<Value, KernelError> {
    nudge(k, c, r.pid, PRIORITY_STEP)
}

pub(super) fn set_focus(k: &Kernel, c: &Caller, r: pb::SetFocus) -> Result<Value, KernelError> {
    k.check(c, DESKTOP)?;
    let vis = match pb::Visibility::try_from(r.visibility) {
        Ok(pb::Visibility::Foreground) => Visibility::Foreground,
        Ok(pb::Visibility::Background) => Visibility::Background,
        Ok(pb::Visibility::Minimised) => Visibility::Minimised,
        Err(_) => {
            return Err(KernelError::InvalidArgument(format!(
                "unknown visibility {}",
                r.visibility
            )));
        }
    };
    k.scheduler.set_visibility(r.pid, vis)?;
    decided(k, c, "set_focus", r.pid);
    Ok(snapshot(k))
}
