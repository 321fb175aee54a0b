//! Memory syscalls: system memory, a process's memory accounting, and trigger_gc,
//! which asks the kernel to reclaim memory from the process's cgroup.

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::Kernel;
use crate::error::KernelError;

pub(super) fn stats(k: &Kernel) -> Value {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| super::system::meminfo_field(&text, name);
    let managed = k
        .processes
        .list()
        .iter()
        .filter_map(|p| p.stats().ok())
        .map(|s| s.memory_current)
        .sum();
    Value::MemoryStats(pb::MemoryStats {
        total_bytes: field("MemTotal:"),
        available_bytes: field("MemAvailable:"),
        free_bytes: field("MemFree:"),
        cached_bytes: field("Cached:"),
        swap_total_bytes: field("SwapTotal:"),
        swap_free_bytes: field("SwapFree:"),
        managed_current_bytes: managed,
    })
}

pub(super) fn trigger_gc(k: &Kernel, r: pb::TriggerGc) -> Result<Value, KernelError> {
    let p = k.processes.get(r.pid)?;
    let reclaimed = p.reclaim((r.bytes > 0).then_some(r.bytes))?;
    Ok(Value::Count(reclaimed))
}
