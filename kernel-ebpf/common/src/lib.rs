//! Types shared by the eBPF programs in `kernel-ebpf/` and the kernel's loader
//! (`kernel/src/observe/ebpf.rs`): the event records of the ring buffer, the keys and values
//! of the per-CPU statistics maps, the layout facts the loader passes in, and the names of the
//! maps, programs and globals both sides look up.
//!
//! These types cross the kernel/user boundary as raw bytes, so each is `#[repr(C)]`, `Copy`,
//! fixed-size and padding-free, with its size asserted at compile time (as aya's
//! `test/integration-common` does). The `user` feature adds `unsafe impl aya::Pod` so the loader
//! can pass them to `EbpfLoader::override_global` and read them out of maps.
#![no_std]

pub mod refusal;

/// Length of `task_struct::comm`, `TASK_COMM_LEN` in the kernel.
pub const TASK_COMM_LEN: usize = 16;

/// [`ProcEvent::kind`] of an event sent when a process calls `execve` successfully.
pub const EVENT_EXEC: u32 = 1;
/// [`ProcEvent::kind`] of an event sent when a whole process (thread group) exits.
pub const EVENT_EXIT: u32 = 2;
/// [`ProcEvent::kind`] of an event sent when a managed process forks a new process (not a
/// thread); `pid` is the child, `ppid` the parent.
pub const EVENT_FORK: u32 = 3;
/// [`FileEvent::kind`]: an `open`, `openat` or `openat2` returned.
pub const EVENT_OPEN: u32 = 4;
/// [`ConnectEvent::kind`]: a `connect` to an IPv4 or IPv6 address returned.
pub const EVENT_CONNECT: u32 = 5;

/// [`TcpStateEvent::kind`]: a TCP socket of a managed process changed state.
pub const EVENT_TCP_STATE: u32 = 6;
/// [`WallDenialEvent::kind`]: the BPF LSM wall refused a managed process an open or a connect.
pub const EVENT_WALL_DENIAL: u32 = 7;

/// [`WallDenialEvent::op`] of a refused file open.
pub const WALL_OP_OPEN: u32 = 1;
/// [`WallDenialEvent::op`] of a refused connect.
pub const WALL_OP_CONNECT: u32 = 2;
/// [`WallDenialEvent::op`] of a refused bind (`port` the port asked for, `addr` the address).
pub const WALL_OP_BIND: u32 = 3;
/// [`WallDenialEvent::op`] of a refused `sendto`/`sendmsg` with an address (UDP).
pub const WALL_OP_SEND: u32 = 4;
/// Bit of an [`InodeKey`]'s value (and of [`WallDenialEvent::access`] for opens): read.
pub const WALL_READ: u32 = 1;
/// Bit of an [`InodeKey`]'s value (and of [`WallDenialEvent::access`] for opens): write.
pub const WALL_WRITE: u32 = 2;
/// [`WallPolicy::flags`]: connects to loopback addresses pass (the sandbox has a network
/// namespace of its own, so its loopback is its own).
pub const WALL_LOOPBACK: u32 = 1;
/// [`WallPolicy::flags`]: binds are checked against the cgroup's bind ranges (network mode
/// `shared`, where the process binds in the host's network namespace).
pub const WALL_BIND: u32 = 2;
/// Network rules one walled cgroup can have (`NetRuleKey::index` runs below this), its bind
/// ranges included.
pub const MAX_NET_RULES: u32 = 64;
/// Ancestors the open check walks up from the opened dentry before it gives up (and refuses).
pub const MAX_WALL_DEPTH: u32 = 48;
/// Path components kept in a [`WallDenialEvent`], leaf first.
pub const WALL_NAMES: usize = 8;
/// Bytes of one kept component, with its NUL.
pub const WALL_NAME_LEN: usize = 32;
/// (cgroup, inode) entries the `WALL_FS` map can hold.
pub const MAX_WALL_INODES: u32 = 65536;

/// Bytes of a path kept in a [`FileEvent`], with its terminating NUL (`PATH_MAX` is 4096;
/// longer paths are truncated).
pub const PATH_LEN: usize = 256;
/// Buckets of a log2 latency histogram: bucket `i` counts latencies in `[2^i, 2^(i+1))` ns,
/// the last one everything from 2^31 ns (about 2 s) up.
pub const LATENCY_BUCKETS: usize = 32;

/// Programs whose runs are counted per managed cgroup in the `MANAGED` map, by index
/// ([`CostCounts::runs`]): the daemon splits each program's run time (`BPF_ENABLE_STATS`)
/// between the cgroups in proportion to these counts.
pub mod cost {
    pub const EXEC: usize = 0;
    pub const FORK: usize = 1;
    pub const EXIT: usize = 2;
    pub const SYS_IN: usize = 3;
    pub const SYS_OUT: usize = 4;
    pub const TCP: usize = 5;
    pub const SWITCH: usize = 6;
    pub const OPEN_WALL: usize = 7;
    pub const CONNECT4_WALL: usize = 8;
    pub const CONNECT6_WALL: usize = 9;
    pub const SEND4_WALL: usize = 10;
    pub const SEND6_WALL: usize = 11;
    pub const BIND4_WALL: usize = 12;
    pub const BIND6_WALL: usize = 13;
    /// How many programs are counted.
    pub const PROGRAMS: usize = 14;
}

/// Value of the `MANAGED` map: one CPU's runs of each counted program on behalf of one
/// managed cgroup.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostCounts {
    pub runs: [u64; cost::PROGRAMS],
}

/// Managed cgroups the `MANAGED` map can hold at once.
pub const MAX_MANAGED: u32 = 4096;
/// (cgroup, syscall) pairs the `SYSCALLS` map can hold.
pub const MAX_SYSCALL_KEYS: u32 = 16384;
/// Threads of managed processes the per-thread maps can hold at once: every live thread
/// that made a syscall (`SYSCALL_START`), every thread switched out (`RUNQ`).
pub const MAX_THREADS: u32 = 65536;

/// Unread bytes in `EVENTS` from which a program wakes the reader up; below this it submits
/// with `BPF_RB_NO_WAKEUP` and the reader finds the records on its next poll.
pub const WAKEUP_BYTES: u64 = 64 * 1024;

/// Size of the `EVENTS` ring buffer: a power of two and a multiple of the page size, as the
/// kernel requires. At 64 bytes a record (56 + the 8-byte ring header) it holds 4096 events.
pub const EVENTS_BYTE_SIZE: u32 = 256 * 1024;

/// Names of the objects in `agentos-ebpf`, shared so the two sides cannot drift apart.
///
/// Map names are the kernel's object names too (at most 15 bytes), so each starts with
/// `AGENTOS_`, as each program's with `agentos_`, and `bpftool` shows whose they are.
pub mod names {

    /// The `RingBuf` map the programs write their event records to.
    pub const EVENTS: &str = "AGENTOS_EVENTS";
    /// `PerCpuHashMap<u64, CostCounts>`: the v2 cgroup ids of the managed processes, kept by
    /// the daemon. A task is observed only if its v2 cgroup id is a key here; the value
    /// counts, per CPU, the runs of each program made on that cgroup's behalf (created at
    /// zero when the daemon manages the cgroup).
    pub const MANAGED: &str = "AGENTOS_MANAGED";
    /// `CgroupArray` of one slot: the daemon's v2 cgroup, which every managed cgroup is
    /// under; the programs turn away a current task outside it before the `MANAGED` lookup.
    pub const SUBTREE: &str = "AGENTOS_SUBTREE";
    /// `PerCpuHashMap<SyscallKey, SyscallStats>`: per cgroup and syscall number.
    pub const SYSCALLS: &str = "AGENTOS_SYSCALL";
    /// `HashMap<u32, SyscallStart>`: thread id → the syscall it is in (one entry per live
    /// thread, rewritten in place).
    pub const SYSCALL_START: &str = "AGENTOS_SYS_IN";
    /// `PerCpuHashMap<u64, SchedStats>`: per cgroup.
    pub const SCHED: &str = "AGENTOS_SCHED";
    /// `LruHashMap<u32, RunqSeen>`: thread id → the run-queue figures already charged.
    pub const RUNQ: &str = "AGENTOS_RUNQ";

    /// The program attached to `sched_process_exec` (BPF object names are at most 15 bytes).
    pub const EXEC_PROGRAM: &str = "agentos_exec";
    /// The program attached to `sched_process_exit`.
    pub const EXIT_PROGRAM: &str = "agentos_exit";
    /// The program attached to `sched_process_fork`.
    pub const FORK_PROGRAM: &str = "agentos_fork";
    /// The raw tracepoint program on `sys_enter`.
    pub const SYS_ENTER_PROGRAM: &str = "agentos_sys_in";
    /// The raw tracepoint program on `sys_exit`.
    pub const SYS_EXIT_PROGRAM: &str = "agentos_sys_out";
    /// An empty raw tracepoint program: the probe-cost bench's floor, on `sys_enter` alone or
    /// on `sys_enter` and `sys_exit`. This and the next three are never attached by the daemon.
    pub const FLOOR_PROGRAM: &str = "agentos_floor";
    /// A raw tracepoint program that reads the current cgroup id only (the bench's step 1).
    pub const CGROUP_ID_STEP: &str = "agentos_cgid";
    /// A raw tracepoint program that reads the cgroup id and looks it up in `MANAGED`.
    pub const LOOKUP_STEP: &str = "agentos_lookup";
    /// A raw tracepoint program that asks whether the task is under `SUBTREE` only.
    pub const SUBTREE_STEP: &str = "agentos_subtree";
    /// An empty BTF tracepoint program on `sched_switch`: the floor of the scheduling
    /// probe, for its bench only.
    pub const SWITCH_FLOOR: [(&str, &str); 1] = [("agentos_flsw", SWITCH_TRACEPOINT)];
    /// The BTF tracepoint program on `sched_switch`.
    pub const SWITCH_PROGRAM: &str = "agentos_switch";
    /// The BTF tracepoint program on `inet_sock_set_state`.
    pub const TCP_STATE_PROGRAM: &str = "agentos_tcp";

    /// The BTF tracepoint `EXEC_PROGRAM` attaches to.
    pub const EXEC_TRACEPOINT: &str = "sched_process_exec";
    /// The BTF tracepoint `EXIT_PROGRAM` attaches to.
    pub const EXIT_TRACEPOINT: &str = "sched_process_exit";
    /// The BTF tracepoint `FORK_PROGRAM` attaches to.
    pub const FORK_TRACEPOINT: &str = "sched_process_fork";
    /// The raw tracepoint `SYS_ENTER_PROGRAM` attaches to.
    pub const SYS_ENTER_TRACEPOINT: &str = "sys_enter";
    /// The raw tracepoint `SYS_EXIT_PROGRAM` attaches to.
    pub const SYS_EXIT_TRACEPOINT: &str = "sys_exit";
    /// The BTF tracepoint `SWITCH_PROGRAM` attaches to.
    pub const SWITCH_TRACEPOINT: &str = "sched_switch";
    /// The BTF tracepoint `TCP_STATE_PROGRAM` attaches to.
    pub const TCP_STATE_TRACEPOINT: &str = "inet_sock_set_state";
    /// `HashMap<u64, WallPolicy>`: the managed cgroups the LSM wall guards. A cgroup that is
    /// not a key here is not walled (its opens and connects pass this wall).
    pub const WALLED: &str = "AGENTOS_WALLED";
    /// `HashMap<InodeKey, u32>`: per walled cgroup, the inodes whose subtrees it may read
    /// and/or write ([`super::WALL_READ`], [`super::WALL_WRITE`]).
    pub const WALL_FS: &str = "AGENTOS_WALL_FS";
    /// `HashMap<NetRuleKey, NetRuleEntry>`: per walled cgroup, its network rules in order.
    pub const WALL_NET: &str = "AGENTOS_WALLNET";
    /// The LSM program on `file_open`.
    pub const OPEN_WALL_PROGRAM: &str = "agentos_lsmopen";
    /// The LSM hook `OPEN_WALL_PROGRAM` attaches to.
    pub const OPEN_WALL_HOOK: &str = "file_open";
    /// The `cgroup/connect4` program, attached to the daemon's own cgroup.
    pub const CONNECT4_WALL_PROGRAM: &str = "agentos_conn4";
    /// The `cgroup/connect6` program, attached to the daemon's own cgroup.
    pub const CONNECT6_WALL_PROGRAM: &str = "agentos_conn6";
    /// The `cgroup/sendmsg4` program (UDP sends with an address), on the daemon's cgroup.
    pub const SEND4_WALL_PROGRAM: &str = "agentos_send4";
    /// The `cgroup/sendmsg6` program, attached to the daemon's own cgroup.
    pub const SEND6_WALL_PROGRAM: &str = "agentos_send6";
    /// The `cgroup/bind4` program, attached to the daemon's own cgroup.
    pub const BIND4_WALL_PROGRAM: &str = "agentos_bind4";
    /// The `cgroup/bind6` program, attached to the daemon's own cgroup.
    pub const BIND6_WALL_PROGRAM: &str = "agentos_bind6";

    /// `Array<TaskOffsets>` of one slot, written by the loader before it attaches anything.
    pub const CONFIG: &str = "AGENTOS_CONFIG";
}

/// One process lifecycle event, as written to the `EVENTS` ring buffer.
///
/// `uid` fills what would otherwise be padding before `cgroup_id`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcEvent {
    /// [`EVENT_EXEC`], [`EVENT_EXIT`] or [`EVENT_FORK`].
    pub kind: u32,
    /// Process id (the kernel's tgid); for forks, the new child's.
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

/// A file open by a managed process, written when the syscall returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileEvent {
    /// [`EVENT_OPEN`].
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    /// The `O_*` flags passed (the low 32 bits of `open_how.flags` for `openat2`).
    pub flags: u32,
    /// What the syscall returned: the new fd, or `-errno`.
    pub ret: i64,
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    /// The path as passed (relative paths stay relative), NUL-terminated, truncated to
    /// [`PATH_LEN`] - 1 bytes; empty if it could not be read.
    pub path: [u8; PATH_LEN],
}

/// A `connect` by a managed process to an IPv4 or IPv6 address, written when it returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectEvent {
    /// [`EVENT_CONNECT`].
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u16,
    /// Destination port, host byte order.
    pub port: u16,
    /// What the syscall returned: 0, or `-errno` (`-EINPROGRESS` for a non-blocking socket).
    pub ret: i32,
    /// Real uid of the task.
    pub uid: u32,
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    /// Destination address in network byte order: 4 bytes for IPv4, then zeros; 16 for IPv6.
    pub addr: [u8; 16],
}

/// A state change of a TCP socket whose cgroup is managed. It may fire in softirq context
/// (a SYN-ACK arriving), so it is attributed by the socket's cgroup, not the current task's.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpStateEvent {
    /// [`EVENT_TCP_STATE`].
    pub kind: u32,
    /// The current task's process id if it is in the socket's cgroup, else 0 (softirq).
    pub pid: u32,
    /// `TCP_*` states from `include/net/tcp_states.h` (1 ESTABLISHED, 2 SYN_SENT, ...).
    pub old_state: u32,
    pub new_state: u32,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// Local and remote ports, host byte order.
    pub source_port: u16,
    pub dest_port: u16,
    /// Always 0.
    pub reserved: u16,
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    /// Addresses in network byte order: 4 bytes then zeros for IPv4, 16 for IPv6.
    pub source_addr: [u8; 16],
    pub dest_addr: [u8; 16],
}

/// What the LSM wall knows about one walled cgroup (value of the `WALLED` map).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WallPolicy {
    /// How many `WALL_NET` entries are its connect rules (indices `0..net_rules`).
    pub net_rules: u32,
    /// [`WALL_LOOPBACK`] and/or [`WALL_BIND`], or 0.
    pub flags: u32,
    /// How many `WALL_NET` entries after the connect rules are its bind ranges (indices
    /// `net_rules..net_rules + bind_rules`; only the ports of each entry count).
    pub bind_rules: u32,
    /// Where its entries start: 0 or [`WALL_BANK`]. A narrowed set is written to the bank
    /// not in use, then this switches in one map update, so no check ever reads a mix of
    /// the old and the new rules.
    pub base: u32,
}

/// Index of the second bank of a cgroup's `WALL_NET` entries ([`WallPolicy::base`]): room for
/// [`MAX_NET_RULES`] connect rules and as many bind ranges before it.
pub const WALL_BANK: u32 = 2 * MAX_NET_RULES;

/// Key of the `WALL_FS` map: an inode a walled cgroup was granted, as the kernel names it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InodeKey {
    pub cgroup_id: u64,
    /// `inode::i_ino`.
    pub ino: u64,
    /// `super_block::s_dev` in the kernel's encoding, `(major << 20) | minor`.
    pub dev: u32,
    /// Always 0.
    pub reserved: u32,
}

/// Key of the `WALL_NET` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetRuleKey {
    pub cgroup_id: u64,
    pub index: u32,
    /// Always 0.
    pub reserved: u32,
}

/// One network rule of a walled cgroup, as the connect check reads it. The rules are a
/// decision list: the first that matches decides, and a connect none matches is refused.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetRuleEntry {
    /// 1 allow, 0 refuse.
    pub allow: u8,
    /// 0 any address, 4 IPv4, 6 IPv6.
    pub family: u8,
    /// Prefix length of `addr` (ignored when `family` is 0).
    pub prefix: u8,
    /// 0 any, 1 TCP (`SOCK_STREAM`), 2 UDP (`SOCK_DGRAM`).
    pub proto: u8,
    /// Inclusive port range, host byte order.
    pub port_lo: u16,
    pub port_hi: u16,
    /// Network byte order: 4 bytes then zeros for IPv4, 16 for IPv6.
    pub addr: [u8; 16],
}

/// A refusal by the LSM wall, written before the hook returns `-EPERM`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallDenialEvent {
    /// [`EVENT_WALL_DENIAL`].
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    /// [`WALL_OP_OPEN`] or [`WALL_OP_CONNECT`].
    pub op: u32,
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    /// Opens: the file's inode and device (kernel encoding).
    pub ino: u64,
    pub dev: u32,
    /// Opens: [`WALL_READ`] | [`WALL_WRITE`] wanted; connects: 1 TCP, 2 UDP, 0 other.
    pub access: u32,
    /// Connects: `AF_INET` or `AF_INET6`, and the port (host byte order).
    pub family: u16,
    pub port: u16,
    /// Opens: how many of `names` are filled, and 1 if the path had more components.
    pub names_len: u16,
    pub truncated: u16,
    /// Connects: the address, network byte order (IPv4 in the first 4 bytes).
    pub addr: [u8; 16],
    /// Opens: the path's components within its filesystem, leaf first, NUL-terminated.
    pub names: [[u8; WALL_NAME_LEN]; WALL_NAMES],
}

/// Key of the `SYSCALLS` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SyscallKey {
    pub cgroup_id: u64,
    /// The syscall number (x86_64 numbering on x86_64).
    pub nr: u32,
    /// Always 0 (explicit so the key has no padding the hash would see).
    pub reserved: u32,
}

/// One CPU's figures for one (cgroup, syscall) pair.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallStats {
    /// Calls that returned.
    pub count: u64,
    /// Their summed latency, entry to exit, in nanoseconds.
    pub total_ns: u64,
    /// Log2 histogram of the latencies (see [`LATENCY_BUCKETS`]).
    pub latency_log2: [u64; LATENCY_BUCKETS],
}

/// Value of the `SYSCALL_START` map: the syscall a thread is in, since when (`start_ns` 0:
/// none), and the managed cgroup it was in at entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallStart {
    pub start_ns: u64,
    pub nr: u64,
    pub cgroup_id: u64,
}

/// One CPU's scheduling figures for one managed cgroup.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedStats {
    /// Time its tasks ran on this CPU, in nanoseconds.
    pub on_cpu_ns: u64,
    /// Times one of its tasks was switched out.
    pub switches: u64,
    /// Summed time its tasks waited on a run queue (after a wake-up or a preemption), in
    /// nanoseconds: the scheduler's `sched_info.run_delay`.
    pub runq_ns: u64,
    /// Times its tasks arrived on a CPU (`sched_info.pcount`, the count behind `runq_ns`).
    pub runq_count: u64,
}

/// Value of the `RUNQ` map: a thread's `sched_info` totals already charged to its cgroup.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunqSeen {
    /// `sched_info.pcount`: times it arrived on a CPU.
    pub count: u64,
    /// `sched_info.run_delay`: nanoseconds it waited on a run queue.
    pub ns: u64,
}

/// Byte offsets into `struct task_struct` on the running kernel, and how its exit tracepoint
/// is declared.
///
/// aya-ebpf programs get no CO-RE relocations, so the loader reads these from the kernel's
/// BTF (`/sys/kernel/btf/vmlinux`) and writes them to the `CONFIG` map before attaching.
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
    /// `task_struct::pid` (`pid_t`, the thread id).
    pub pid: u32,
    /// `task_struct::cgroups` (`struct css_set *`).
    pub cgroups: u32,
    /// `css_set::dfl_cgrp` (`struct cgroup *`, the task's v2 cgroup).
    pub dfl_cgrp: u32,
    /// `cgroup::kn` (`struct kernfs_node *`).
    pub cgroup_kn: u32,
    /// `kernfs_node::id` (`u64`: the cgroup id).
    pub kn_id: u32,
    /// `sock::sk_cgrp_data` plus `sock_cgroup_data::cgroup` (`struct cgroup *`).
    pub sk_cgroup: u32,
    /// `sock::__sk_common` plus `sock_common::skc_family`, `skc_num` (local port, host
    /// order), `skc_dport` (big-endian), `skc_rcv_saddr`, `skc_daddr`, `skc_v6_rcv_saddr`,
    /// `skc_v6_daddr`.
    pub skc_family: u32,
    pub skc_num: u32,
    pub skc_dport: u32,
    pub skc_rcv_saddr: u32,
    pub skc_daddr: u32,
    pub skc_v6_rcv_saddr: u32,
    pub skc_v6_daddr: u32,
    /// `pt_regs::di`, `si`, `dx`: the first three syscall arguments on x86_64.
    pub regs_di: u32,
    pub regs_si: u32,
    pub regs_dx: u32,
    /// `file::f_path` plus `path::dentry`, and `file::f_mode`.
    pub file_dentry: u32,
    pub file_mode: u32,
    /// `dentry::d_parent`, `d_name` plus `qstr::name`, `d_inode`, `d_sb`.
    pub dentry_parent: u32,
    pub dentry_name: u32,
    pub dentry_inode: u32,
    pub dentry_sb: u32,
    /// `inode::i_ino`.
    pub inode_ino: u32,
    /// `super_block::s_dev`, `super_block::s_user_ns`.
    pub sb_dev: u32,
    pub sb_user_ns: u32,
    /// `user_namespace::level` (0 for the host's).
    pub userns_level: u32,
    /// `socket::type`.
    pub socket_type: u32,
    /// `pt_regs::orig_ax`: the syscall number, also of a call seccomp refused before
    /// `sys_enter` fired.
    pub regs_orig_ax: u32,
    /// `task_struct::se` plus `sched_entity::sum_exec_runtime` and `prev_sum_exec_runtime`
    /// (`u64`s: the task's run time, and what it was when the fair scheduler last put it on
    /// a CPU).
    pub se_sum_exec_runtime: u32,
    pub se_prev_sum_exec_runtime: u32,
    /// `task_struct::sched_info` plus `sched_info::pcount` and `run_delay` (`u64`s: times
    /// the task arrived on a CPU, and nanoseconds it waited on a run queue); 0 for a kernel
    /// without `CONFIG_SCHED_INFO`, which then reports no run-queue figures.
    pub sched_info_pcount: u32,
    pub sched_info_run_delay: u32,
    /// 1 if `sched_switch` has a fourth argument `unsigned int prev_state` (Linux 5.18+).
    pub switch_has_prev_state: u32,
}

const _: () = {
    // No implicit padding: the size is the sum of the fields' sizes.
    assert!(size_of::<ProcEvent>() == 6 * size_of::<u32>() + 2 * size_of::<u64>() + TASK_COMM_LEN);
    assert!(size_of::<ProcEvent>() == 56);
    // `RingBuf::reserve` needs an alignment that divides 8.
    assert!(align_of::<ProcEvent>() == 8);
    assert!(size_of::<TaskOffsets>() == 37 * size_of::<u32>());
    assert!(size_of::<WallPolicy>() == 16);
    assert!(size_of::<CostCounts>() == cost::PROGRAMS * 8);
    assert!(size_of::<InodeKey>() == 24);
    assert!(size_of::<NetRuleKey>() == 16);
    assert!(size_of::<NetRuleEntry>() == 4 + 2 * 2 + 16);
    assert!(
        size_of::<WallDenialEvent>()
            == 4 * 4 + 3 * 8 + 2 * 4 + 4 * 2 + 16 + WALL_NAMES * WALL_NAME_LEN
    );
    assert!(align_of::<WallDenialEvent>() == 8);
    assert!(size_of::<TcpStateEvent>() == 4 * 4 + 4 * 2 + 2 * 8 + 2 * 16);
    assert!(align_of::<TcpStateEvent>() == 8);
    assert!(size_of::<FileEvent>() == 4 * 4 + 3 * 8 + PATH_LEN);
    assert!(align_of::<FileEvent>() == 8);
    assert!(size_of::<ConnectEvent>() == 3 * 4 + 2 * 2 + 2 * 4 + 2 * 8 + 16);
    assert!(align_of::<ConnectEvent>() == 8);
    assert!(size_of::<SyscallKey>() == 16);
    assert!(size_of::<SyscallStats>() == (2 + LATENCY_BUCKETS) * 8);
    assert!(size_of::<SyscallStart>() == 24);
    assert!(size_of::<SchedStats>() == 32);
    assert!(size_of::<RunqSeen>() == 16);
};

#[cfg(feature = "user")]
mod user {
    // SAFETY: `ProcEvent` is `#[repr(C)]` and `Copy`, and made only of integers and an integer
    // array with no padding (asserted above), so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::ProcEvent {}
    // SAFETY: as above: `#[repr(C)]`, `u32`s only, no padding.
    unsafe impl aya::Pod for super::TaskOffsets {}
    // SAFETY: each of these is `#[repr(C)]`, `Copy`, made of integers and integer arrays, with
    // no padding (sizes asserted above), so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::FileEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ConnectEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TcpStateEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SyscallStart {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SchedStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RunqSeen {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::WallPolicy {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::CostCounts {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::InodeKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::NetRuleKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::NetRuleEntry {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::WallDenialEvent {}
}
