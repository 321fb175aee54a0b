//! Sandboxed processes: real OS processes in their own namespaces, with a
//! filesystem view built from their grants, landlock, dropped capabilities,
//! `no_new_privs` and a seccomp filter.
//!
//! [`spawn`] starts one program and returns its pid, a [`ProcessHandle`] (its pidfd)
//! and its stdio; it is the whole API the process subsystem needs, beside
//! [`resize_pty`] and [`relayed_status`]. [`spawn_portable`] is the same call without
//! isolation, for hosts where [`probe`] says the real thing cannot work and for
//! macOS, where the handle is a kqueue-watched plain child; the caller picks one at
//! start-up and `doctor` reports which.
//!
//! # What a sandboxed program gets
//!
//! * **Namespaces** — user, mount, pid, UTS, IPC, network and cgroup. It runs as
//!   the spec's unprivileged host uid/gid, mapped to themselves (`userns.rs`); host
//!   root is not mapped.
//! * **A filesystem view** (`mounts.rs`) — a tmpfs root with the system directories
//!   read-only (`/etc`'s secrets covered), its own `/proc`, a minimal `/dev`, a
//!   private `/tmp`, its grants at their host paths; nothing else of the host.
//! * **Landlock** (`landlock.rs`) from the same grants, so mounts and rules agree.
//! * **No capabilities** unless kept (`caps.rs`), **`no_new_privs`**, and a **seccomp
//!   filter** (`seccomp.rs`) refusing mount, ptrace, bpf, perf, kexec, modules,
//!   keyrings, namespaces, raw sockets and more.
//! * **Network mode `none`** (`net.rs`): loopback only; rootless `private`
//!   ([`NetworkMode::Proxied`]) adds a route out over `lo` and hands the kernel a
//!   listener its outgoing TCP is redirected to, a socket for its DNS, and transparent
//!   sockets its other outgoing UDP is handed to (`udp_out.rs`). The kernel reaches into
//!   such a sandbox's network through its [`Namespaces`], taken at spawn, and a
//!   [`Dialer`] forked into them (`dialer.rs`).
//! * **A sanitised environment** ([`env`](mod@env)) and a **validated argv** ([`argv`](mod@argv)),
//!   exec'd directly (no shell).
//! * **stdio** as pipes or a PTY (`stdio.rs`).
//! * **An init** as pid 1 (`init.rs`) that forwards signals and reaps, so the program
//!   (pid 2) has ordinary signal semantics.
//!
//! # Organization
//!
//! The parent side is [`spawn`](spawn()) (`spawn.rs`): validation (`spec.rs`),
//! planning, `clone3` (`clone.rs`), the hand-shake (`channel.rs`); [`spawn_viewed`]
//! adds a stop once the view is built, for the caller to look at it before the program
//! runs. The child side is
//! one function in `child.rs`, in a documented order, allocation-free. Each
//! facility's file holds both its plan (built in the parent) and its child-side
//! calls.
//!
//! # What it leaves on the host
//!
//! Nothing that outlives the sandbox: namespaces, mounts, the landlock domain and
//! the filter die with its last process, which dies with init. Files the program
//! writes into its write grants stay, owned by its uid. Cgroups are the caller's
//! (it passes a cgroup v2 directory for `CLONE_INTO_CGROUP` and places the pid in
//! v1 hierarchies from `placed`).
//!
//! # Host requirements
//!
//! Linux 5.12 (`mount_setattr`), user namespaces, seccomp; landlock when present
//! (ABI 1-6 handled; without it the mount walls stand alone, and [`probe`] says
//! so). `clone3` falls back to `clone` on ENOSYS.
//!
//! # Example
//!
//! ```no_run
//! use agentos_kernel::sandbox::{self, SandboxSpec};
//!
//! let mut spec = SandboxSpec::new("/usr/bin/echo", vec!["echo".into(), "hi".into()], 10_000, 10_000);
//! spec.write.push("/var/lib/agentos/apps/echo".into());
//! let child = sandbox::spawn(&spec, |_pid| Ok(()))?;
//! // read child.stdout, wait on child.pidfd, then:
//! // let status = sandbox::relayed_status(child.status.as_ref().unwrap().as_fd())?;
//! # Ok::<(), sandbox::SpawnError>(())
//! ```

pub mod argv;
#[cfg(target_os = "linux")]
mod caps;
#[cfg(target_os = "linux")]
mod channel;
#[cfg(target_os = "linux")]
mod child;
#[cfg(target_os = "linux")]
mod clone;
#[cfg(target_os = "linux")]
mod dialer;
pub mod env;
mod error;
mod handle;
#[cfg(target_os = "linux")]
mod init;
#[cfg(target_os = "linux")]
mod landlock;
#[cfg(target_os = "linux")]
mod mounts;
mod namespaces;
mod narrow;
#[cfg(target_os = "linux")]
mod net;
mod portable;
#[cfg(target_os = "linux")]
mod probe;
mod pty;
mod rlimit;
#[cfg(target_os = "linux")]
mod seccomp;
#[cfg(target_os = "linux")]
mod spawn;
mod spawned;
mod spec;
#[cfg(target_os = "linux")]
mod stdio;
mod subid;
mod sys;
#[cfg(target_os = "linux")]
mod udp_out;
#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(target_os = "linux")]
mod userns;

#[cfg(target_os = "linux")]
pub use ::caps::Capability;
pub use argv::{ArgvError, validate_argv};
#[cfg(target_os = "linux")]
pub(crate) use caps::{CAP_NET_ADMIN, keep_through_exec};
#[cfg(target_os = "linux")]
pub use channel::relayed_status;
#[cfg(target_os = "linux")]
pub use dialer::{Dialer, SocketKind};
pub use env::{EnvError, SanitizedEnv, sanitize_env};
pub use error::{ChildStep, SpawnError};
pub use handle::{ProcessHandle, supervision};
#[cfg(target_os = "linux")]
pub use landlock::abi as landlock_abi;
#[cfg(target_os = "linux")]
pub use mounts::SECRET_DIRS;
#[cfg(target_os = "linux")]
pub use mounts::SECRET_FILES;
pub use namespaces::Namespaces;
#[cfg(target_os = "linux")]
pub use narrow::narrow_view;
pub use narrow::{NarrowError, ViewChange, view_changes};
pub use portable::spawn_portable;
#[cfg(target_os = "linux")]
pub use probe::{SandboxProbe, probe, walls_probe};
pub use pty::resize_pty;
pub use rlimit::Rlimits;
#[cfg(target_os = "linux")]
pub use seccomp::denied_syscalls;
#[cfg(target_os = "linux")]
pub use seccomp::refusals as seccomp_refusals;
#[cfg(target_os = "linux")]
pub use spawn::{spawn, spawn_viewed, spawn_walls, wait_pidfd};
pub use spawned::{ProxySockets, Spawned};
pub use spec::{
    DEFAULT_TMP_SIZE, NetworkMode, PROXY_ADDR, PROXY_ADDR6, PROXY_PORT, PROXY_UDP_MARK,
    PROXY_UDP_PORT, PROXY_UDP_TABLE, SYSTEM_DIRS, SandboxSpec, SpecError, StdioMode,
};
pub use subid::{SubordinateIds, find as find_subordinate_ids};
#[cfg(not(target_os = "linux"))]
pub use unsupported::{
    Capability, Dialer, SocketKind, landlock_abi, narrow_view, relayed_status, spawn, spawn_viewed,
    spawn_walls,
};
