//! The AgentOS kernel: a daemon that serves syscalls over gRPC.
//!
//! # Organization
//!
//! * [`backend`] probes the host once at start-up and records which backend each
//!   subsystem got and why (`agentos-kernel doctor`, `/health`).
//! * [`vfs`] is the mount table (LocalFS on io_uring, MemFS).
//! * [`kernel`] holds [`Kernel`], the state every connection shares, and says how a
//!   syscall travels from the gRPC edge to a backend.
//! * [`syscall`] executes syscalls: one file per category, plus batches, async
//!   tasks and the submit/reap completion queues.
//! * [`rpc`] is the gRPC edge: proto in, proto out, errors mapped in one place.
//! * [`identity`] says who a connection is (SO_PEERCRED or the TCP bearer token).
//! * [`process`] runs managed processes through their state machine: [`sandbox`]
//!   builds the isolated child, [`cgroup`] limits and accounts for it.
//! * [`sched`] and [`signal`] give them scheduling and signals through real controls.
//! * [`capability`] is the grant model every syscall is checked against.
//! * [`cgroup`] also holds the kernel's own cgroup subtree; the eBPF probes watch the managed processes' cgroups in it.
//! * [`shm`] makes sealed memfd regions and hands their fds to clients (SCM_RIGHTS).
//! * [`ipc`] holds pipes and shared-memory segments between managed processes,
//!   their fds handed over on each process's own socket.
//! * [`observe`] runs the eBPF probes and fans their events out.
//! * [`cleanup`] is the resource orchestrator: every host resource registers its undo.
//! * [`daemon`] ties it together: data directory, lock, sockets, shutdown.
//!
//! Clients (the services layer, `agentos call`, tests) use the small `agentos-client`
//! crate, which also says where a kernel listens.

pub mod backend;
pub mod capability;
pub mod cgroup;
pub mod cleanup;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod identity;
pub mod ipc;
pub mod kernel;
pub mod net;
pub mod observe;
pub mod process;
pub mod rpc;
#[cfg_attr(
    not(target_os = "linux"),
    expect(
        dead_code,
        unused_imports,
        reason = "spec validation and the child-side helpers serve the Linux spawn only"
    )
)]
pub mod sandbox;
pub mod sched;
pub mod shm;
pub mod signal;
pub mod syscall;
#[doc(hidden)]
pub mod testing;
pub mod vfs;

pub use config::KernelConfig;
pub use error::KernelError;
pub use kernel::Kernel;
