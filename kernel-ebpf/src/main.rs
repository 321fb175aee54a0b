//! AgentOS's eBPF programs. They observe the managed processes only: every program first asks
//! [`filter::managed_cgroup`] whether the current task is under the AgentOS subtree and its v2
//! cgroup in the `MANAGED` map the daemon keeps in step with its cgroups, and returns at once
//! if not.
//!
//! # Programs
//!
//! | program | hook | what it records |
//! |---|---|---|
//! | `agentos_exec`, `agentos_fork`, `agentos_exit` | `tp_btf/sched_process_{exec,fork,exit}` | [`ProcEvent`]s in the ring buffer ([`lifecycle`]) |
//! | `agentos_sys_in`, `agentos_sys_out` | `raw_tp/sys_enter`, `raw_tp/sys_exit` | per-CPU counts and log2 latency histograms per (cgroup, syscall); open and connect events ([`syscalls`]); refusals by seccomp and landlock, inferred from the result ([`refusals`]) |
//! | `agentos_tcp` | `tp_btf/inet_sock_set_state` | TCP state changes with addresses and ports, by the socket's cgroup ([`net`]) |
//! | `agentos_switch` | `tp_btf/sched_switch` | per-CPU on-CPU time, switches and run-queue latency per cgroup, from the scheduler's own accounts of the outgoing task ([`sched`]) |
//! | `agentos_lsmopen` | `lsm/file_open` | the wall: refuses walled cgroups' opens their grants do not allow ([`wall`]) |
//! | `agentos_conn4`, `agentos_conn6` | `cgroup/connect4`, `cgroup/connect6` on the daemon's cgroup | the wall: refuses connects no network rule allows ([`wall`]) |
//! | `agentos_floor`, `agentos_cgid`, `agentos_lookup`, `agentos_subtree` | `raw_tp/sys_enter` (and `sys_exit`), by the probe-cost bench only | nothing: the floor and each step of the reject path ([`floor`]) |
//! | `agentos_flsw` | `tp_btf/sched_switch`, by the scheduling probe's bench only | nothing: the floor of the per-switch program ([`floor`]) |
//!
//! All are BTF or raw tracepoints, attached through `BPF_RAW_TRACEPOINT_OPEN`: no tracefs
//! (which this host does not mount), no ftrace record (TOOLCHAIN.md measured the classic path
//! at +600 ns a hit against +100 ns for a raw one), and no kprobes (the host has none).
//! Per-syscall and per-switch figures are aggregated here, in per-CPU maps, never sent as one
//! event each; the daemon sums the CPUs when it reads them.
//!
//! # Layout
//!
//! Rust eBPF gets no CO-RE relocations, so the programs read kernel structs at offsets the
//! loader took from the kernel's BTF and wrote to the one-slot `AGENTOS_CONFIG` array
//! ([`TaskOffsets`]) before attaching anything. A map rather than a global: aya would put a
//! global in a map named `.rodata`, and every object AgentOS loads carries its prefix.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

mod emit;
mod filter;
mod floor;
mod lifecycle;
mod net;
mod refusals;
mod sched;
mod syscalls;
mod wall;

use agentos_ebpf_common::TaskOffsets;
use aya_ebpf::{helpers::bpf_probe_read_kernel, macros::map, maps::Array};

/// Slot 0: the layout of `task_struct`, `css_set`, `cgroup`, `kernfs_node` and `pt_regs` on
/// the running kernel, from its BTF. All zeros (the map's state at load) makes every read
/// fail, so a loader that forgets to set it gets events without parents, not garbage.
#[map(name = "AGENTOS_CONFIG")]
static CONFIG: Array<TaskOffsets> = Array::with_max_entries(1, 0);

/// The offsets the loader wrote to `CONFIG`.
#[inline(always)]
fn offsets() -> TaskOffsets {
    match CONFIG.get_ptr(0) {
        // SAFETY: slot 0 of an array map always exists; the loader writes it once, before
        // any program is attached.
        Some(ptr) => unsafe { *ptr },
        None => TaskOffsets::default(),
    }
}

/// Reads a `T` at `base + offset` in kernel memory; `None` for a null base, an offset the
/// loader did not set (0 is never the offset of a field read here, except `pt_regs` members
/// and `kernfs_node::id`, which are read through [`read_kernel_at`]), or a failed read.
fn read_field<T>(base: u64, offset: u32) -> Option<T> {
    if offset == 0 {
        return None;
    }
    read_kernel_at(base, offset)
}

/// Reads a `T` at `base + offset` in kernel memory; `None` for a null base or a failed read.
fn read_kernel_at<T>(base: u64, offset: u32) -> Option<T> {
    if base == 0 {
        return None;
    }
    let src = (base + u64::from(offset)) as *const T;
    // SAFETY: `bpf_probe_read_kernel` copies through the kernel's fault-handling path: a bad
    // address makes it return an error, never fault.
    unsafe { bpf_probe_read_kernel(src) }.ok()
}

/// The object's license. Tracing programs and `bpf_probe_read_kernel` are GPL-only, and
/// "Dual MIT/GPL" is a string the kernel accepts as GPL-compatible; the workspace's
/// "MIT OR Apache-2.0" lets us distribute this object under MIT.
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // A path to here would be an unbounded loop, which the verifier rejects at load time, so
    // a loaded program never panics.
    loop {}
}

/// Built for the host (e.g. by `cargo clippy --workspace`), this is an empty binary; the
/// real object is built for `bpfel-unknown-none` by `cargo xtask build-ebpf`.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
