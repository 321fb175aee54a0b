//! Process syscalls: spawn, kill, get_info, list, set_priority, get_state, get_stats,
//! wait, freeze. Semantics are those of the real processes behind them: kill is
//! `pidfd_send_signal` (or `cgroup.kill` for the tree), freeze is the cgroup's
//! freezer (`cgroup.freeze`, waiting for `cgroup.events`), set_priority is
//! `setpriority` plus the cgroup CPU weight, stats are the cgroup's accounting, wait
//! returns when the pidfd reports the exit.

use std::{
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::{
    Kernel,
    access::{DESKTOP, control},
};
use crate::{
    capability::{Access, Capability},
    error::KernelError,
    identity::Caller,
    observe::collector::{Category, Lifecycle, Record, Severity},
    process::{
        ExitInfo, Process, ProcessRequest,
        spawn::{limits_from_proto, limits_to_proto},
    },
};

pub(super) async fn spawn(
    k: &Kernel,
    c: &Caller,
    r: pb::SpawnProcess,
) -> Result<Value, KernelError> {
    let p = create(k, c, r).await?;
    Ok(Value::Process(info(&p)))
}

/// Starts a managed process (the `spawn` syscall and the `CreateProcess` RPC).
pub async fn create(
    k: &Kernel,
    c: &Caller,
    r: pb::SpawnProcess,
) -> Result<Arc<Process>, KernelError> {
    k.check(c, Access::Spawn)?;
    let req = ProcessRequest::try_from(
        r.spec
            .ok_or_else(|| KernelError::InvalidArgument("spawn needs a spec".into()))?,
    )?;
    let p = k.processes.spawn(req).await?;
    k.collector.register_process(p.pid, &p.name, c.causality);
    k.collector.lifecycle(Lifecycle::Spawned);
    k.collector.emit(
        super::event(c, Category::Process, Severity::Info, "spawn")
            .pid(p.pid)
            .code(c.managed.unwrap_or(0) as i32),
    );
    // The exit, when it comes, continues the same chain.
    let (collector, process, causality) = (Arc::clone(&k.collector), Arc::clone(&p), c.causality);
    tokio::spawn(async move {
        let exit = process.wait(None).await.unwrap_or_default();
        collector.lifecycle(Lifecycle::Exited);
        collector.emit(
            Record::now(Category::Process, Severity::Info, "exit")
                .pid(process.pid)
                .causality(causality)
                .code(exit.shell_status()),
        );
    });
    Ok(p)
}

pub(super) fn kill(k: &Kernel, c: &Caller, r: pb::KillProcess) -> Result<Value, KernelError> {
    k.check(c, control(c, r.pid))?;
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

pub(super) fn get_info(
    k: &Kernel,
    c: &Caller,
    r: pb::GetProcessInfo,
) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let p = k.processes.get(r.pid)?;
    Ok(Value::Process(info(&p)))
}

pub(super) fn list(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    Ok(Value::Processes(pb::ProcessList {
        processes: k.processes.list().iter().map(|p| info(p)).collect(),
    }))
}

pub(super) fn set_priority(
    k: &Kernel,
    c: &Caller,
    r: pb::SetPriority,
) -> Result<Value, KernelError> {
    k.check(c, control(c, r.pid))?;
    let p = k.processes.get(r.pid)?;
    p.set_priority(r.priority)?;
    Ok(Value::Process(info(&p)))
}

pub(super) fn freeze(k: &Kernel, c: &Caller, r: pb::FreezeProcess) -> Result<Value, KernelError> {
    k.check(c, control(c, r.pid))?;
    let p = k.processes.get(r.pid)?;
    p.hold(r.frozen)?;
    Ok(Value::Process(info(&p)))
}

pub(super) fn get_state(
    k: &Kernel,
    c: &Caller,
    r: pb::GetProcessState,
) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let p = k.processes.get(r.pid)?;
    Ok(Value::Process(pb::ProcessInfo {
        pid: p.pid,
        state: p.state().to_proto() as i32,
        ..Default::default()
    }))
}

pub(super) fn get_stats(k: &Kernel, c: &Caller, pid: u32) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let p = k.processes.get(pid)?;
    let s = p.stats()?;
    let observe = p.probe_figures().map(|f| f.observe).unwrap_or_default();
    Ok(Value::ProcessStats(pb::ProcessStats {
        pid,
        observe_cpu_ns: observe.cpu_ns,
        observe_runs: observe.runs,
        memory_current_bytes: s.memory_current,
        memory_peak_bytes: s.memory_peak,
        cpu_usage_usec: s.cpu_usage_usec,
        pids_current: s.pids_current,
        oom_kills: s.oom_kills,
        frozen: s.frozen,
    }))
}

pub(super) async fn wait(k: &Kernel, c: &Caller, r: pb::WaitProcess) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let p = k.processes.get(r.pid)?;
    let timeout = (r.timeout_ms > 0).then(|| Duration::from_millis(u64::from(r.timeout_ms)));
    p.wait(timeout).await?;
    Ok(Value::Process(info(&p)))
}

/// Changes a running process's sandbox: revokes grants, updates limits and/or adds
/// grants to the kernel's checks (the `UpdateSandbox` RPC). Everything is checked before anything changes.
pub async fn update_sandbox(
    k: &Kernel,
    c: &Caller,
    r: pb::UpdateSandboxRequest,
) -> Result<Arc<Process>, KernelError> {
    k.check(c, DESKTOP)?;
    let p = k.processes.get(r.pid)?;
    let revoke = r
        .revoke
        .iter()
        .map(|c| c.parse::<Capability>())
        .collect::<Result<Vec<_>, _>>()?;
    let grant = r
        .grant
        .iter()
        .map(|c| c.parse::<Capability>())
        .collect::<Result<Vec<_>, _>>()?;
    if r.once && grant.is_empty() {
        return Err(KernelError::InvalidArgument(
            "`once` applies to `grant`, which is empty".into(),
        ));
    }
    let limits = r.limits.as_ref().map(limits_from_proto).transpose()?;
    if !revoke.is_empty() {
        let target = Arc::clone(&p);
        tokio::task::spawn_blocking(move || target.revoke(&revoke))
            .await
            .map_err(|e| KernelError::Internal(format!("revoking grants: {e}")))??;
        k.permissions.invalidate_process(p.pid);
    }
    if let Some(l) = limits {
        p.update_limits(l)?;
    }
    if !grant.is_empty() {
        p.grant(grant, r.once);
    }
    Ok(p)
}

/// The process whose terminal the caller attaches to (the `ProcessIo` RPC): the
/// desktop's only.
pub fn attach(k: &Kernel, c: &Caller, pid: u32) -> Result<Arc<Process>, KernelError> {
    k.check(c, DESKTOP)?;
    k.processes.get(pid)
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
        network: network_to_proto(&p.net_mode) as i32,
        net_address: p.net_address.map(|a| a.to_string()).unwrap_or_default(),
        net_address6: p.net_address6.map(|a| a.to_string()).unwrap_or_default(),
    }
}

/// The wire form of a network mode.
pub fn network_to_proto(m: &crate::net::NetMode) -> pb::NetworkMode {
    use crate::net::NetMode;
    match m {
        NetMode::None => pb::NetworkMode::None,
        NetMode::Private => pb::NetworkMode::Private,
        NetMode::Shared => pb::NetworkMode::Shared,
        NetMode::Bridged { .. } => pb::NetworkMode::Bridged,
    }
}
