//! Process syscalls: spawn, kill, get_info, list, set_priority, get_state, get_stats,
//! wait, freeze. Semantics are those of the real processes behind them: kill is
//! `pidfd_send_signal` (or `cgroup.kill` for the tree), freeze is the cgroup's
//! freezer (`cgroup.freeze`, waiting for `cgroup.events`), set_priority is
//! `setpriority` plus the cgroup CPU weight, stats are the cgroup's accounting, wait
//! returns when the pidfd reports the exit.

use std::time::{Duration, UNIX_EPOCH};

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::Kernel;
use crate::{
    error::KernelError,
    process::{ExitInfo, Process, ProcessRequest, spawn::limits_to_proto},
};

pub(super) async fn spawn(k: &Kernel, r: pb::SpawnProcess) -> Result<Value, KernelError> {
    let req = ProcessRequest::try_from(
        r.spec
            .ok_or_else(|| KernelError::InvalidArgument("spawn needs a spec".into()))?,
    )?;
    let p = k.processes.spawn(req).await?;
    Ok(Value::Process(info(&p)))
}

pub(super) fn kill(k: &Kernel, r: pb::KillProcess) -> Result<Value, KernelError> {
    let p = k.processes.get(r.pid)?;
    if r.tree {
        p.kill_tree()?;
    } else {
        p.signal(if r.signal == 0 {
            libc::SIGTERM
        } else {
            r.signal
        })?;
    }
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) fn get_info(k: &Kernel, r: pb::GetProcessInfo) -> Result<Value, KernelError> {
    let p = k.processes.get(r.pid)?;
    Ok(Value::Process(info(&p)))
}

pub(super) fn list(k: &Kernel) -> Value {
    Value::Processes(pb::ProcessList {
        processes: k.processes.list().iter().map(|p| info(p)).collect(),
    })
}

pub(super) fn set_priority(k: &Kernel, r: pb::SetPriority) -> Result<Value, KernelError> {
    let p = k.processes.get(r.pid)?;
    p.set_priority(r.priority)?;
    Ok(Value::Process(info(&p)))
}

pub(super) fn freeze(k: &Kernel, r: pb::FreezeProcess) -> Result<Value, KernelError> {
    let p = k.processes.get(r.pid)?;
    p.hold(r.frozen)?;
    Ok(Value::Process(info(&p)))
}

pub(super) fn get_state(k: &Kernel, r: pb::GetProcessState) -> Result<Value, KernelError> {
    let p = k.processes.get(r.pid)?;
    Ok(Value::Process(pb::ProcessInfo {
        pid: p.pid,
        state: p.state().to_proto() as i32,
        ..Default::default()
    }))
}

pub(super) fn get_stats(k: &Kernel, pid: u32) -> Result<Value, KernelError> {
    let p = k.processes.get(pid)?;
    let s = p.stats()?;
    Ok(Value::ProcessStats(pb::ProcessStats {
        pid,
        memory_current_bytes: s.memory_current,
        memory_peak_bytes: s.memory_peak,
        cpu_usage_usec: s.cpu_usage_usec,
        pids_current: s.pids_current,
        oom_kills: s.oom_kills,
        frozen: s.frozen,
    }))
}

pub(super) async fn wait(k: &Kernel, r: pb::WaitProcess) -> Result<Value, KernelError> {
    let p = k.processes.get(r.pid)?;
    let timeout = (r.timeout_ms > 0).then(|| Duration::from_millis(u64::from(r.timeout_ms)));
    p.wait(timeout).await?;
    Ok(Value::Process(info(&p)))
}

pub fn exit_to_proto(e: &ExitInfo) -> pb::ExitInfo {
    pb::ExitInfo {
        code: e.code,
        signal: e.signal,
        oom_killed: e.oom_killed,
        pids_limit_hit: e.pids_limit_hit,
        description: e.description.clone(),
    }
}

/// The wire form of a process.
pub fn info(p: &Process) -> pb::ProcessInfo {
    pb::ProcessInfo {
        pid: p.pid,
        name: p.name.clone(),
        argv: p.argv.clone(),
        state: p.state().to_proto() as i32,
        priority: p.priority(),
        started_unix_ms: p
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        exit: p.exit().as_ref().map(exit_to_proto),
        sandbox: p.sandbox.to_owned(),
        isolation: Some(p.isolation.to_proto()),
        cgroup: p.cgroup_name().to_owned(),
        limits: Some(limits_to_proto(&p.limits(), p.tmp_size)),
        tty: p.tty,
        error: String::new(),
    }
}
