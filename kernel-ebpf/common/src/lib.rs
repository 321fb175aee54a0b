//! Types shared by the eBPF programs in `kernel-ebpf/` and the kernel's loader
//! (`kernel/src/observe/ebpf.rs`): the process event record, the layout facts the loader
//! passes in, and the names of the maps, programs and globals both sides look up.
//!
//! These types cross the kernel/user boundary as raw bytes, so each is `#[repr(C)]`, `Copy`,
//! fixed-size and padding-free, with its size asserted at compile time (as aya's
//! `test/integration-common` does). The `user` feature adds `unsafe impl aya::Pod` so the loader
//! can pass them to `EbpfLoader::override_global` and read them out of maps.
#![no_std]

/// Length of `task_struct::comm`, `TASK_COMM_LEN` in the kernel.
pub const TASK_COMM_LEN: usize = 16;

/// [`ProcEvent::kind`] of an event sent when a process calls `execve` successfully.
pub const EVENT_EXEC: u32 = 1;
/// [`ProcEvent::kind`] of an event sent when a whole process (thread group) exits.
pub const EVENT_EXIT: u32 = 2;

/// Size of the `EVENTS` ring buffer: a power of two and a multiple of the page size, as the
/// kernel requires. At 64 bytes a record (56 + the 8-byte ring header) it holds 4096 events.
pub const EVENTS_BYTE_SIZE: u32 = 256 * 1024;

/// Names of the objects in `agentos-ebpf`, shared so the two sides cannot drift apart.
pub mod names {
    /// The `RingBuf` map the programs write [`ProcEvent`](super::ProcEvent)s to.
    pub const EVENTS: &str = "EVENTS";
    /// The program attached to `sched_process_exec` (BPF object names are at most 15 bytes).
    pub const EXEC_PROGRAM: &str = "agentos_exec";
    /// The program attached to `sched_process_exit`.
    pub const EXIT_PROGRAM: &str = "agentos_exit";
    /// The BTF tracepoint `EXEC_PROGRAM` attaches to.
    pub const EXEC_TRACEPOINT: &str = "sched_process_exec";
    /// The BTF tracepoint `EXIT_PROGRAM` attaches to.
    pub const EXIT_TRACEPOINT: &str = "sched_process_exit";
    /// Global `u64`: id of the v2 cgroup whose subtree is observed; 0 observes nothing.
    pub const TARGET_CGROUP_ID: &str = "TARGET_CGROUP_ID";
    /// Global `u32`: depth of that cgroup below the v2 root (the root is level 0).
    pub const TARGET_CGROUP_LEVEL: &str = "TARGET_CGROUP_LEVEL";
    /// Global [`TaskOffsets`](super::TaskOffsets).
    pub const TASK_OFFSETS: &str = "TASK_OFFSETS";
}

/// One process lifecycle event, as written to the `EVENTS` ring buffer.
///
/// `uid` fills what would otherwise be padding before `cgroup_id`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcEvent {
    /// [`EVENT_EXEC`] or [`EVENT_EXIT`].
    pub kind: u32,
    /// Process id (the kernel's tgid).
    pub pid: u32,
    /// Thread id (the kernel's pid) of the thread that exec'd or exited last.
    pub tid: u32,
    /// Process id of the real parent (`task->real_parent->tgid`), 0 if it could not be read.
    pub ppid: u32,
    /// For exits, `task->exit_code` in wait-status form: `(code << 8) | signal`, with 0x80 set
    /// if a core was dumped. 0 for execs.
    pub exit_code: i32,
    /// Real uid of the task.
    pub uid: u32,
    /// Id of the task's v2 cgroup (the inode number of its directory).
    pub cgroup_id: u64,
    /// `CLOCK_MONOTONIC` time of the event in nanoseconds (`bpf_ktime_get_ns`).
    pub timestamp_ns: u64,
    /// `task->comm`: the executable's base name, NUL-padded, truncated to 15 bytes.
    pub comm: [u8; TASK_COMM_LEN],
}

/// Byte offsets into `struct task_struct` on the running kernel, and how its exit tracepoint
/// is declared.
///
/// aya-ebpf programs get no CO-RE relocations, so the loader reads these from the kernel's
/// BTF (`/sys/kernel/btf/vmlinux`) and sets them as a global before loading.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskOffsets {
    /// `task_struct::exit_code` (`int`).
    pub exit_code: u32,
    /// `task_struct::tgid` (`pid_t`).
    pub tgid: u32,
    /// `task_struct::real_parent` (`struct task_struct *`).
    pub real_parent: u32,
    /// 1 if `sched_process_exit` has a second argument `bool group_dead` (recent kernels),
    /// 0 if not; then the exit of the thread-group leader stands for the process's exit.
    pub exit_has_group_dead: u32,
}

const _: () = {
    // No implicit padding: the size is the sum of the fields' sizes.
    assert!(size_of::<ProcEvent>() == 6 * size_of::<u32>() + 2 * size_of::<u64>() + TASK_COMM_LEN);
    assert!(size_of::<ProcEvent>() == 56);
    // `RingBuf::reserve` needs an alignment that divides 8.
    assert!(align_of::<ProcEvent>() == 8);
    assert!(size_of::<TaskOffsets>() == 4 * size_of::<u32>());
};

#[cfg(feature = "user")]
mod user {
    // SAFETY: `ProcEvent` is `#[repr(C)]` and `Copy`, and made only of integers and an integer
    // array with no padding (asserted above), so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::ProcEvent {}
    // SAFETY: as above: `#[repr(C)]`, four `u32`s, no padding.
    unsafe impl aya::Pod for super::TaskOffsets {}
}
