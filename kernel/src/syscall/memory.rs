//! Memory syscalls: system memory, a process's memory accounting, and trigger_gc,
//! which asks the kernel to reclaim memory from the process's cgroup.

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::{Kernel, access::control};
use crate::{capability::Access, error::KernelError, identity::Caller};

pub(super) fn stats(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    k.check(c, Access::SystemInfo)?;
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| super::system::meminfo_field(&text, name);
    let managed = k
        .processes
        .list()
        .iter()
        .filter_map(|p| p.stats().ok())
        .map(|s| s.memory_current)
        .sum();
    Ok(Value::MemoryStats(pb::MemoryStats {
        total_bytes: field("MemTotal:"),
        available_bytes: field("MemAvailable:"),
        free_bytes: field("MemFree:"),
        cached_bytes: field("Cached:"),
        swap_total_bytes: field("SwapTotal:"),
        swap_free_bytes: field("SwapFree:"),
        managed_current_bytes: managed,
    }))
}

pub(super) fn trigger_gc(k: &Kernel, c: &Caller, r: pb::TriggerGc) -> Result<Value, KernelError> {
    k.check(c, control(c, r.pid))?;
    let p = k.processes.get(r.pid)?;
    let reclaimed = p.reclaim((r.bytes > 0).then_some(r.bytes))?;
    Ok(Value::Count(reclaimed))
}
