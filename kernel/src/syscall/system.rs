//! System syscalls: system information and the caller's own environment.

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::Kernel;
use crate::{capability::Access, error::KernelError, identity::Caller};

/// Longest accepted environment key or value.
const MAX_ENV_LEN: usize = 32 << 10;

pub(super) fn info(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (total, available) = meminfo();
    Ok(Value::SystemInfo(pb::SystemInfo {
        os: field(|u| u.sysname()),
        kernel_release: field(|u| u.release()),
        hostname: field(|u| u.nodename()),
        arch: std::env::consts::ARCH.to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_total_bytes: total,
        memory_available_bytes: available,
        agentos_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel_uptime_ms: k.uptime().as_millis() as u64,
    }))
}

/// The doctor report (the `Doctor` RPC).
pub fn doctor(k: &Kernel, c: &Caller) -> Result<pb::DoctorReport, KernelError> {
    k.check(c, Access::SystemInfo)?;
    Ok(pb::DoctorReport {
        subsystems: k.doctor_report().into_iter().collect(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_ms: k.uptime().as_millis() as u64,
    })
}

/// The kernel's Prometheus text (the `Metrics` RPC): every app's figures, so
/// only callers that may read the system's state get it.
pub fn metrics(k: &Kernel, c: &Caller) -> Result<pb::MetricsText, KernelError> {
    k.check(c, Access::SystemInfo)?;
    Ok(pb::MetricsText {
        text: k.prometheus(),
    })
}

/// A live feed of kernel events (the `WatchEvents` RPC).
pub fn watch(
    k: &Kernel,
    c: &Caller,
) -> Result<tokio::sync::broadcast::Receiver<crate::observe::ProcessEvent>, KernelError> {
    k.check(c, Access::SystemInfo)?;
    Ok(k.events.subscribe())
}

/// What the eBPF probes counted for one managed process (the `ProbeStats` RPC).
pub fn probe_stats(k: &Kernel, c: &Caller, pid: u32) -> Result<pb::ProbeStatsReply, KernelError> {
    k.check(c, Access::SystemInfo)?;
    if let crate::observe::ProbeStatus::Unavailable { reason } = k.events.status() {
        return Err(KernelError::Unsupported(format!(
            "the eBPF probes are not live: {reason}"
        )));
    }
    let process = k.processes.get(pid)?;
    let figures = process.probe_figures().ok_or_else(|| {
        KernelError::FailedPrecondition(format!(
            "process {pid} was not observed by the probes (it has no cgroup)"
        ))
    })?;
    Ok(crate::observe::figures_to_proto(pid, &figures))
}

/// A `/proc/meminfo` field (e.g. `"MemTotal:"`) in bytes; 0 where missing.
pub(super) fn meminfo_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// (MemTotal, MemAvailable) in bytes; zeros where unreadable.
fn meminfo() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    (
        meminfo_field(&text, "MemTotal:"),
        meminfo_field(&text, "MemAvailable:"),
    )
}

pub(super) fn get_env(k: &Kernel, c: &Caller, r: pb::GetEnv) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let env = k.callers.env(c);
    let vars = if r.key.is_empty() {
        env
    } else {
        let v = env
            .get(&r.key)
            .ok_or_else(|| KernelError::NotFound(format!("environment variable {:?}", r.key)))?;
        [(r.key, v.clone())].into_iter().collect()
    };
    Ok(Value::Env(pb::EnvVars {
        vars: vars.into_iter().collect(),
    }))
}

pub(super) fn set_env(k: &Kernel, c: &Caller, r: pb::SetEnv) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    if r.key.is_empty() || r.key.contains('=') || r.key.contains('\0') || r.key.len() > MAX_ENV_LEN
    {
        return Err(KernelError::InvalidArgument(format!(
            "environment key {:?} must be non-empty, without '=' or NUL, at most 32 KiB",
            r.key.chars().take(64).collect::<String>()
        )));
    }
    if r.value.contains('\0') || r.value.len() > MAX_ENV_LEN {
        return Err(KernelError::InvalidArgument(
            "environment value must be without NUL, at most 32 KiB".into(),
        ));
    }
    k.callers.set_env(c, r.key, (!r.unset).then_some(r.value));
    Ok(Value::Unit(pb::Unit {}))
}
