//! Process events as the rest of the kernel sees them: decoded from the raw records the eBPF
//! programs write ([`ProcEvent`] for exec/fork/exit, [`FileEvent`] for opens, [`ConnectEvent`]
//! for connects; see `probes/`), owned and `Clone` so one event can fan out over a
//! `tokio::sync::broadcast` channel.
//!
//! Pure data: no host facility, nothing left on the host.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::unix::process::ExitStatusExt as _,
    process::ExitStatus,
    sync::Arc,
};

use agentos_ebpf_common::{
    ConnectEvent, EVENT_CONNECT, EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EVENT_OPEN, EVENT_TCP_STATE,
    EVENT_WALL_DENIAL, FileEvent, ProcEvent, TcpStateEvent, WALL_OP_BIND, WALL_OP_OPEN,
    WALL_OP_SEND, WALL_READ, WALL_WRITE, WallDenialEvent,
    refusal::{EVENT_REFUSAL, REFUSED_BY_SECCOMP, RefusalEvent},
};

/// What happened to the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessEventKind {
    /// It called `execve` successfully; `comm` is the new program's name.
    Exec,
    /// Its last thread exited; `exit_code` says how.
    Exit,
    /// It was forked by a managed process (`ppid`); a new process, not a thread.
    Fork,
    /// It opened a file; see [`EventDetail::Open`].
    Open,
    /// It connected a socket to an IP address; see [`EventDetail::Connect`].
    Connect,
    /// One of its TCP sockets changed state; see [`EventDetail::TcpState`].
    TcpState,
    /// The kernel refused it a syscall (on its own kernel socket); see
    /// [`EventDetail::Denial`]. Published by the kernel, not by a probe.
    Denial,
}

/// What a managed process was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// What it tried, for people (`read /home/u/notes.txt`).
    pub access: String,
    /// The missing grant or the rule that refused it.
    pub reason: String,
    /// The narrowest grant that would allow it, in CLI form; `None` when none can.
    /// It names the host path (what the policy holds), not the process's view.
    pub capability: Option<String>,
    /// The path as the process named it (its virtual view), when the access is to one.
    pub path: Option<String>,
    /// Which wall refused it: [`WALL_CAPABILITY`] (the kernel's own check of a syscall on
    /// its socket), [`WALL_LSM`] (the BPF LSM program on file opens) or
    /// [`WALL_CGROUP_CONNECT`] (the cgroup connect programs), both in the host kernel, or
    /// [`WALL_SECCOMP`] / [`WALL_LANDLOCK`], inferred in the host kernel from the call's
    /// result, or [`WALL_MOUNT_NAMESPACE`], inferred by the daemon from a failed open.
    pub wall: &'static str,
}

impl Denial {
    /// This denial, its reason saying that `held` earlier refusals of the same kind were
    /// held back by the rate limit of inferred refusals (none: unchanged).
    pub fn with_held(self, held: u32) -> Self {
        if held == 0 {
            return self;
        }
        Self {
            reason: format!(
                "{}; {held} earlier refusals were not reported (at most {} a second)",
                self.reason,
                agentos_ebpf_common::refusal::REFUSALS_PER_SECOND
            ),
            ..self
        }
    }
}

/// [`Denial::wall`]: the kernel's capability check of a call on its own socket.
pub const WALL_CAPABILITY: &str = "capability";
/// [`Denial::wall`]: the BPF LSM program on `file_open` in the host kernel (`probes/wall.rs`).
pub const WALL_LSM: &str = "lsm";
/// [`Denial::wall`]: the `cgroup/connect4`/`connect6` (and `sendmsg4`/`sendmsg6`) programs in
/// the host kernel.
pub const WALL_CGROUP_CONNECT: &str = "cgroup_connect";
/// [`Denial::wall`]: the `cgroup/bind4`/`bind6` programs in the host kernel (network mode
/// `shared`).
pub const WALL_CGROUP_BIND: &str = "cgroup_bind";
/// [`Denial::wall`]: the seccomp filter, inferred by the `sys_exit` probe: the syscall's
/// number is one the filter refuses and it returned the filter's errno (certain for numbers
/// refused whatever their arguments, since seccomp runs before the call; the reason says
/// when it is not).
pub const WALL_SECCOMP: &str = "seccomp";
/// [`Denial::wall`]: landlock, inferred by the `sys_exit` probe: a path or TCP call of a
/// landlocked process returned `EACCES`, landlock's errno (which file permission bits share,
/// as the reason says).
pub const WALL_LANDLOCK: &str = "landlock";
/// [`Denial::wall`]: the sandbox's mount namespace, inferred by the daemon
/// (`probes/mountns.rs`): an absolute path a managed process failed to open with `ENOENT` or
/// `ENOTDIR` exists on the host but not under the process's root.
pub const WALL_MOUNT_NAMESPACE: &str = "mount_namespace";

/// The managed process an event is attributed to: the one the kernel started (its pid as
/// the kernel handed it out) whose cgroup the task that acted is in, and its app. A child it
/// forked acts in the same cgroup, so its events name the same owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub app: Arc<str>,
}

/// What an open or connect event adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventDetail {
    /// Lifecycle events carry nothing more.
    None,
    Open {
        /// The path as passed to the syscall (possibly relative; at most 255 bytes).
        path: String,
        /// The `O_*` flags.
        flags: u32,
        /// The fd returned, or `-errno`.
        result: i64,
    },
    Connect {
        address: IpAddr,
        port: u16,
        /// 0, or `-errno` (`-EINPROGRESS` for a non-blocking socket).
        result: i64,
    },
    TcpState {
        source: SocketAddr,
        dest: SocketAddr,
        /// `TCP_*` states (`include/net/tcp_states.h`: 1 ESTABLISHED, 2 SYN_SENT, 7 CLOSE…).
        old_state: u32,
        new_state: u32,
    },
    Denial(Box<Denial>),
}
/// One event of a managed process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessEvent {
    pub kind: ProcessEventKind,
    /// Process id (the kernel's tgid), in the host's pid namespace.
    pub pid: u32,
    /// Thread id of the thread that exec'd or exited.
    pub tid: u32,
    /// Process id of the real parent; 0 if the probe could not read it.
    pub ppid: u32,
    /// For exits, the raw wait status, `(code << 8) | signal` (0x80 added on a core dump),
    /// as `task_struct::exit_code` holds it; 0 for execs. See [`ProcessEvent::exit_status`].
    pub exit_code: i32,
    /// Real uid of the process.
    pub uid: u32,
    /// Id of the process's v2 cgroup (the inode number of its directory).
    pub cgroup_id: u64,
    /// `CLOCK_MONOTONIC` time of the event, in nanoseconds.
    pub timestamp_ns: u64,
    /// The kernel's short name of the program (at most 15 bytes; not UTF-8-checked by the
    /// kernel, so invalid bytes are replaced); empty for opens and connects.
    pub comm: String,
    pub detail: EventDetail,
    /// The managed process (and app) whose cgroup the task is in; `None` until the hub's
    /// reader resolves `cgroup_id`, or for a cgroup no managed process owns (any more).
    pub owner: Option<Owner>,
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: the clock the probes stamp their events with
/// (`bpf_ktime_get_ns`), so userspace events sort with theirs.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` that outlives the call, which writes
    // only to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Why a ring-buffer record could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("event record is {actual} bytes, expected {expected}")]
    Size { actual: usize, expected: usize },
    #[error("event record has unknown kind {0}")]
    Kind(u32),
    #[error("connect record has address family {0}, not AF_INET or AF_INET6")]
    Family(u16),
}

// What a ring-buffer record decodes into: aya's `Pod` where the probes run; plain data
// elsewhere, where no record ever arrives.
#[cfg(not(target_os = "linux"))]
use Copy as Record;
#[cfg(target_os = "linux")]
use aya::Pod as Record;

/// Reads a `T` from exactly `size_of::<T>()` bytes.
fn record<T: Record>(bytes: &[u8]) -> Result<T, DecodeError> {
    let expected = size_of::<T>();
    if bytes.len() != expected {
        return Err(DecodeError::Size {
            actual: bytes.len(),
            expected,
        });
    }
    // SAFETY: the slice holds exactly `size_of::<T>()` bytes (checked above); `T: Pod` is
    // plain data for which any bytes are a valid value; `read_unaligned` makes no alignment
    // assumption about the ring buffer.
    Ok(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}

/// An address of `family` from the 16 bytes the probes write (IPv4 in the first 4).
fn ip(family: u16, bytes: [u8; 16]) -> Result<IpAddr, DecodeError> {
    match i32::from(family) {
        libc::AF_INET => {
            let [a, b, c, d, ..] = bytes;
            Ok(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
        }
        libc::AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(bytes))),
        _ => Err(DecodeError::Family(family)),
    }
}

/// The text before the first NUL, invalid UTF-8 replaced.
fn c_string(bytes: &[u8]) -> String {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

impl ProcessEvent {
    /// Decodes one record from the `EVENTS` ring buffer; its first four bytes are its kind.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let Some(kind) = bytes.first_chunk::<4>() else {
            return Err(DecodeError::Size {
                actual: bytes.len(),
                expected: size_of::<ProcEvent>(),
            });
        };
        match u32::from_ne_bytes(*kind) {
            EVENT_OPEN => Ok(Self::from(record::<FileEvent>(bytes)?)),
            EVENT_CONNECT => Self::try_from(record::<ConnectEvent>(bytes)?),
            EVENT_TCP_STATE => Self::try_from(record::<TcpStateEvent>(bytes)?),
            EVENT_WALL_DENIAL => Self::try_from(record::<WallDenialEvent>(bytes)?),
            EVENT_REFUSAL => Ok(Self::from(record::<RefusalEvent>(bytes)?)),
            _ => Self::try_from(record::<ProcEvent>(bytes)?),
        }
    }

    /// An event that says what it says in `detail`: the lifecycle fields (parent, exit
    /// code, uid, name) are left empty.
    pub fn detailed(
        kind: ProcessEventKind,
        pid: u32,
        tid: u32,
        cgroup_id: u64,
        timestamp_ns: u64,
        detail: EventDetail,
    ) -> Self {
        Self {
            kind,
            pid,
            tid,
            ppid: 0,
            exit_code: 0,
            uid: 0,
            cgroup_id,
            timestamp_ns,
            comm: String::new(),
            detail,
            owner: None,
        }
    }

    /// A denial event: what `denial` says the task `pid`/`tid` in `cgroup_id` was refused.
    pub fn denied(pid: u32, tid: u32, cgroup_id: u64, timestamp_ns: u64, denial: Denial) -> Self {
        Self::detailed(
            ProcessEventKind::Denial,
            pid,
            tid,
            cgroup_id,
            timestamp_ns,
            EventDetail::Denial(Box::new(denial)),
        )
    }

    /// How the process ended, for exit events: `code()` for a normal exit, `signal()` and
    /// `core_dumped()` for a fatal signal (via `std::os::unix::process::ExitStatusExt`).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        (self.kind == ProcessEventKind::Exit).then(|| ExitStatus::from_raw(self.exit_code))
    }
}

impl TryFrom<ProcEvent> for ProcessEvent {
    type Error = DecodeError;

    fn try_from(raw: ProcEvent) -> Result<Self, Self::Error> {
        let ProcEvent {
            kind,
            pid,
            tid,
            ppid,
            exit_code,
            uid,
            cgroup_id,
            timestamp_ns,
            comm,
        } = raw;
        let kind = match kind {
            EVENT_EXEC => ProcessEventKind::Exec,
            EVENT_EXIT => ProcessEventKind::Exit,
            EVENT_FORK => ProcessEventKind::Fork,
            other => return Err(DecodeError::Kind(other)),
        };
        Ok(Self {
            kind,
            pid,
            tid,
            ppid,
            exit_code,
            uid,
            cgroup_id,
            timestamp_ns,
            comm: c_string(&comm),
            detail: EventDetail::None,
            owner: None,
        })
    }
}

impl From<FileEvent> for ProcessEvent {
    fn from(raw: FileEvent) -> Self {
        Self::detailed(
            ProcessEventKind::Open,
            raw.pid,
            raw.tid,
            raw.cgroup_id,
            raw.timestamp_ns,
            EventDetail::Open {
                path: c_string(&raw.path),
                flags: raw.flags,
                result: raw.ret,
            },
        )
    }
}

impl TryFrom<ConnectEvent> for ProcessEvent {
    type Error = DecodeError;

    fn try_from(raw: ConnectEvent) -> Result<Self, Self::Error> {
        let address = ip(raw.family, raw.addr)?;
        Ok(Self {
            uid: raw.uid,
            ..Self::detailed(
                ProcessEventKind::Connect,
                raw.pid,
                raw.tid,
                raw.cgroup_id,
                raw.timestamp_ns,
                EventDetail::Connect {
                    address,
                    port: raw.port,
                    result: i64::from(raw.ret),
                },
            )
        })
    }
}

impl TryFrom<TcpStateEvent> for ProcessEvent {
    type Error = DecodeError;

    fn try_from(raw: TcpStateEvent) -> Result<Self, Self::Error> {
        Ok(Self::detailed(
            ProcessEventKind::TcpState,
            raw.pid,
            0,
            raw.cgroup_id,
            raw.timestamp_ns,
            EventDetail::TcpState {
                source: SocketAddr::new(ip(raw.family, raw.source_addr)?, raw.source_port),
                dest: SocketAddr::new(ip(raw.family, raw.dest_addr)?, raw.dest_port),
                old_state: raw.old_state,
                new_state: raw.new_state,
            },
        ))
    }
}

impl TryFrom<WallDenialEvent> for ProcessEvent {
    type Error = DecodeError;

    /// A refusal by the LSM wall, as the same [`Denial`] the kernel's own checks publish.
    fn try_from(raw: WallDenialEvent) -> Result<Self, Self::Error> {
        let denial = match raw.op {
            WALL_OP_OPEN => wall_open_denial(&raw),
            WALL_OP_BIND => Denial {
                access: format!("bind port {}", raw.port),
                reason: "no BindPort grant covers it (refused in the host kernel by the cgroup \
                         bind wall)"
                    .to_owned(),
                capability: Some(format!("bind:{}", raw.port)),
                path: None,
                wall: WALL_CGROUP_BIND,
            },
            op => {
                let address = ip(raw.family, raw.addr)?;
                let proto = match raw.access {
                    1 => "/tcp",
                    2 => "/udp",
                    _ => "",
                };
                let target = SocketAddr::new(address, raw.port);
                let verb = if op == WALL_OP_SEND {
                    "send to"
                } else {
                    "connect"
                };
                Denial {
                    access: format!("{verb} {target}{proto}"),
                    reason: "no network rule allows it (refused in the host kernel by the \
                             cgroup connect wall)"
                        .to_owned(),
                    capability: Some(format!(
                        "net:allow:{}:{}{proto}",
                        crate::capability::Host::Ip(address),
                        raw.port
                    )),
                    path: None,
                    wall: WALL_CGROUP_CONNECT,
                }
            }
        };
        Ok(Self::denied(
            raw.pid,
            raw.tid,
            raw.cgroup_id,
            raw.timestamp_ns,
            denial,
        ))
    }
}

impl From<RefusalEvent> for ProcessEvent {
    /// A refusal by seccomp or landlock, inferred from a call's result, as a [`Denial`].
    fn from(raw: RefusalEvent) -> Self {
        let call = syscall_name(raw.nr);
        let errno = errno_name(raw.errno);
        let path = c_string(&raw.path);
        let denial = if raw.wall == REFUSED_BY_SECCOMP {
            Denial {
                access: format!("syscall {call}"),
                reason: if raw.every_call != 0 {
                    format!("the seccomp filter refuses every {call} call ({errno})")
                } else {
                    format!(
                        "the seccomp filter refuses {call} with these arguments ({errno}; \
                         inferred from the errno, which the call itself can return too)"
                    )
                },
                capability: None,
                path: None,
                wall: WALL_SECCOMP,
            }
        } else {
            Denial {
                access: if path.is_empty() {
                    call.into_owned()
                } else {
                    format!("{call} {path}")
                },
                reason: format!(
                    "no landlock rule allows it (inferred from {errno}, landlock's errno, \
                     which file permission bits return too)"
                ),
                capability: None,
                path: Some(path).filter(|p| !p.is_empty()),
                wall: WALL_LANDLOCK,
            }
        };
        Self::denied(
            raw.pid,
            raw.tid,
            raw.cgroup_id,
            raw.timestamp_ns,
            denial.with_held(raw.held),
        )
    }
}

/// The name of x86_64 syscall `nr` where the refusal probes report it, else `#nr`.
fn syscall_name(nr: u32) -> std::borrow::Cow<'static, str> {
    #[cfg(target_os = "linux")]
    let refused = crate::sandbox::seccomp_refusals()
        .find(|r| r.1 == i64::from(nr))
        .map(|r| r.0);
    #[cfg(not(target_os = "linux"))]
    let refused = None;
    // The calls landlock judges (`kernel-ebpf/src/refusals.rs`).
    let judged = match nr {
        2 => Some("open"),
        42 => Some("connect"),
        49 => Some("bind"),
        59 => Some("execve"),
        76 => Some("truncate"),
        82 => Some("rename"),
        83 => Some("mkdir"),
        84 => Some("rmdir"),
        85 => Some("creat"),
        86 => Some("link"),
        87 => Some("unlink"),
        88 => Some("symlink"),
        133 => Some("mknod"),
        257 => Some("openat"),
        258 => Some("mkdirat"),
        259 => Some("mknodat"),
        263 => Some("unlinkat"),
        264 => Some("renameat"),
        265 => Some("linkat"),
        316 => Some("renameat2"),
        322 => Some("execveat"),
        437 => Some("openat2"),
        _ => None,
    };
    match refused.or(judged) {
        Some(name) => name.into(),
        None => format!("#{nr}").into(),
    }
}

/// `EPERM`, `EACCES`, … for an errno the refusal probes report.
fn errno_name(errno: u32) -> String {
    match i32::try_from(errno).unwrap_or(0) {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::ENOSYS => "ENOSYS".into(),
        other => format!("errno {other}"),
    }
}

/// The denial of an open: its path within its filesystem (the host path when that is the
/// root filesystem), rebuilt from the components the program kept, leaf first.
fn wall_open_denial(raw: &WallDenialEvent) -> Denial {
    let kept = usize::from(raw.names_len).min(raw.names.len());
    let mut path = if raw.truncated != 0 {
        String::from("…")
    } else {
        String::new()
    };
    for name in raw.names[..kept].iter().rev() {
        path.push('/');
        path.push_str(&c_string(name));
    }
    if path.is_empty() {
        path.push('/');
    }
    let mode = match (raw.access & WALL_READ != 0, raw.access & WALL_WRITE != 0) {
        (true, true) => "read and write",
        (false, true) => "write",
        _ => "read",
    };
    let major = raw.dev >> 20;
    let minor = raw.dev & 0xf_ffff;
    Denial {
        access: format!(
            "open {path} for {mode} (inode {} on device {major}:{minor})",
            raw.ino
        ),
        reason: "no grant covers it (refused in the host kernel by the LSM wall)".to_owned(),
        capability: None,
        // The program sees the host side of the open, not the name the process used.
        path: None,
        wall: WALL_LSM,
    }
}

#[cfg(test)]
mod tests {
    use agentos_ebpf_common::{PATH_LEN, TASK_COMM_LEN};

    use super::*;

    fn raw(kind: u32, exit_code: i32, comm: &[u8]) -> ProcEvent {
        let mut name = [0; TASK_COMM_LEN];
        name[..comm.len()].copy_from_slice(comm);
        ProcEvent {
            kind,
            pid: 10,
            tid: 11,
            ppid: 1,
            exit_code,
            uid: 1000,
            cgroup_id: 42,
            timestamp_ns: 7,
            comm: name,
        }
    }

    fn bytes(event: &ProcEvent) -> Vec<u8> {
        as_bytes(event)
    }

    fn as_bytes<T: aya::Pod>(event: &T) -> Vec<u8> {
        // SAFETY: the shared record types are padding-free plain data, so all their bytes
        // are initialised.
        unsafe {
            std::slice::from_raw_parts(std::ptr::from_ref(event).cast::<u8>(), size_of::<T>())
        }
        .to_vec()
    }

    #[test]
    fn decodes_an_exit_with_code_3() {
        let event = ProcessEvent::decode(&bytes(&raw(EVENT_EXIT, 3 << 8, b"sh"))).expect("decodes");
        assert_eq!(event.kind, ProcessEventKind::Exit);
        assert_eq!(
            (event.pid, event.tid, event.ppid, event.uid),
            (10, 11, 1, 1000)
        );
        assert_eq!((event.cgroup_id, event.timestamp_ns), (42, 7));
        assert_eq!(event.comm, "sh");
        let status = event.exit_status().expect("exit events have a status");
        assert_eq!(status.code(), Some(3));
        assert_eq!(status.signal(), None);
    }

    #[test]
    fn decodes_a_signal_death_and_a_full_length_name() {
        let event = ProcessEvent::decode(&bytes(&raw(EVENT_EXIT, 9, b"0123456789abcdef")))
            .expect("decodes");
        assert_eq!(event.comm, "0123456789abcdef");
        let status = event.exit_status().expect("exit events have a status");
        assert_eq!((status.code(), status.signal()), (None, Some(9)));
    }

    #[test]
    fn execs_have_no_exit_status() {
        let event = ProcessEvent::decode(&bytes(&raw(EVENT_EXEC, 0, b"true"))).expect("decodes");
        assert_eq!(event.kind, ProcessEventKind::Exec);
        assert_eq!(event.exit_status(), None);
    }

    #[test]
    fn decodes_an_open_and_a_connect() {
        let mut path = [0; PATH_LEN];
        path[..9].copy_from_slice(b"/tmp/file");
        let open = FileEvent {
            kind: EVENT_OPEN,
            pid: 10,
            tid: 11,
            flags: 0o100,
            ret: -13,
            cgroup_id: 42,
            timestamp_ns: 7,
            path,
        };
        let event = ProcessEvent::decode(&as_bytes(&open)).expect("decodes");
        assert_eq!(event.kind, ProcessEventKind::Open);
        assert_eq!(
            event.detail,
            EventDetail::Open {
                path: "/tmp/file".into(),
                flags: 0o100,
                result: -13
            }
        );
        let mut connect = ConnectEvent {
            kind: EVENT_CONNECT,
            pid: 10,
            tid: 10,
            family: libc::AF_INET as u16,
            port: 8080,
            ret: 0,
            uid: 1,
            cgroup_id: 42,
            timestamp_ns: 8,
            addr: [0; 16],
        };
        connect.addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        let event = ProcessEvent::decode(&as_bytes(&connect)).expect("decodes");
        assert_eq!(
            event.detail,
            EventDetail::Connect {
                address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 8080,
                result: 0
            }
        );
        connect.family = 1;
        assert_eq!(
            ProcessEvent::decode(&as_bytes(&connect)),
            Err(DecodeError::Family(1))
        );
    }

    #[test]
    fn decodes_a_tcp_state_change() {
        let mut raw = TcpStateEvent {
            kind: EVENT_TCP_STATE,
            pid: 0,
            old_state: 2,
            new_state: 1,
            family: libc::AF_INET6 as u16,
            source_port: 40000,
            dest_port: 443,
            reserved: 0,
            cgroup_id: 42,
            timestamp_ns: 9,
            source_addr: Ipv6Addr::LOCALHOST.octets(),
            dest_addr: Ipv6Addr::LOCALHOST.octets(),
        };
        let event = ProcessEvent::decode(&as_bytes(&raw)).expect("decodes");
        assert_eq!(event.kind, ProcessEventKind::TcpState);
        assert_eq!(
            event.detail,
            EventDetail::TcpState {
                source: "[::1]:40000".parse().unwrap(),
                dest: "[::1]:443".parse().unwrap(),
                old_state: 2,
                new_state: 1
            }
        );
        raw.family = 0;
        assert_eq!(
            ProcessEvent::decode(&as_bytes(&raw)),
            Err(DecodeError::Family(0))
        );
    }

    #[test]
    fn rejects_bad_records() {
        let good = bytes(&raw(EVENT_EXEC, 0, b"x"));
        assert_eq!(
            ProcessEvent::decode(&good[..8]),
            Err(DecodeError::Size {
                actual: 8,
                expected: size_of::<ProcEvent>()
            })
        );
        assert_eq!(
            ProcessEvent::decode(&bytes(&raw(99, 0, b"x"))),
            Err(DecodeError::Kind(99))
        );
    }

    #[test]
    fn decodes_the_walls_refusals() {
        let mut names =
            [[0u8; agentos_ebpf_common::WALL_NAME_LEN]; agentos_ebpf_common::WALL_NAMES];
        for (slot, name) in names.iter_mut().zip([&b"secret.txt"[..], b"out", b"srv"]) {
            slot[..name.len()].copy_from_slice(name);
        }
        let open = WallDenialEvent {
            kind: EVENT_WALL_DENIAL,
            pid: 7,
            tid: 7,
            op: WALL_OP_OPEN,
            cgroup_id: 9,
            timestamp_ns: 1,
            ino: 42,
            dev: (254 << 20) | 1,
            access: WALL_READ,
            family: 0,
            port: 0,
            names_len: 3,
            truncated: 0,
            addr: [0; 16],
            names,
        };
        let ev = ProcessEvent::decode(&as_bytes(&open)).expect("decodes");
        assert_eq!(ev.kind, ProcessEventKind::Denial);
        let EventDetail::Denial(d) = ev.detail else {
            panic!("{ev:?}")
        };
        assert_eq!(
            d.access,
            "open /srv/out/secret.txt for read (inode 42 on device 254:1)"
        );
        assert_eq!(d.wall, WALL_LSM);
        let mut addr = [0; 16];
        addr[..4].copy_from_slice(&[192, 0, 2, 1]);
        let connect = WallDenialEvent {
            op: agentos_ebpf_common::WALL_OP_CONNECT,
            access: 1,
            family: libc::AF_INET as u16,
            port: 80,
            names_len: 0,
            addr,
            ..open
        };
        let ev = ProcessEvent::decode(&as_bytes(&connect)).expect("decodes");
        let EventDetail::Denial(d) = ev.detail else {
            panic!("{ev:?}")
        };
        assert_eq!(d.access, "connect 192.0.2.1:80/tcp");
        assert_eq!(d.capability.as_deref(), Some("net:allow:192.0.2.1:80/tcp"));
        assert_eq!(d.wall, WALL_CGROUP_CONNECT);
        let send = WallDenialEvent {
            op: WALL_OP_SEND,
            access: 2,
            port: 53,
            ..connect
        };
        let EventDetail::Denial(d) = ProcessEvent::decode(&as_bytes(&send)).unwrap().detail else {
            panic!("not a denial")
        };
        assert_eq!(d.access, "send to 192.0.2.1:53/udp");
        assert_eq!(d.wall, WALL_CGROUP_CONNECT);
        let bind = WallDenialEvent {
            op: WALL_OP_BIND,
            port: 8080,
            ..connect
        };
        let EventDetail::Denial(d) = ProcessEvent::decode(&as_bytes(&bind)).unwrap().detail else {
            panic!("not a denial")
        };
        assert_eq!(d.access, "bind port 8080");
        assert_eq!(d.capability.as_deref(), Some("bind:8080"));
        assert_eq!(d.wall, WALL_CGROUP_BIND);
    }

    #[test]
    fn decodes_inferred_refusals_naming_their_wall() {
        use agentos_ebpf_common::refusal::{EVENT_REFUSAL, REFUSED_BY_LANDLOCK};
        let mut raw = RefusalEvent {
            kind: EVENT_REFUSAL,
            pid: 20,
            tid: 21,
            wall: REFUSED_BY_SECCOMP,
            cgroup_id: 9,
            timestamp_ns: 3,
            nr: libc::SYS_bpf as u32,
            errno: libc::EPERM as u32,
            held: 0,
            every_call: 1,
            path: [0; PATH_LEN],
        };
        let denial = |raw: &RefusalEvent| {
            let ev = ProcessEvent::decode(&as_bytes(raw)).expect("decodes");
            assert_eq!(
                (ev.kind, ev.pid, ev.cgroup_id),
                (ProcessEventKind::Denial, 20, 9)
            );
            let EventDetail::Denial(d) = ev.detail else {
                panic!("{ev:?}")
            };
            *d
        };
        let d = denial(&raw);
        assert_eq!((d.wall, d.access.as_str()), (WALL_SECCOMP, "syscall bpf"));
        assert_eq!(
            d.reason,
            "the seccomp filter refuses every bpf call (EPERM)"
        );
        raw.nr = libc::SYS_clone as u32;
        raw.every_call = 0;
        raw.held = 5;
        let d = denial(&raw);
        assert!(d.reason.contains("with these arguments"), "{d:?}");
        assert!(d.reason.contains("inferred"), "{d:?}");
        assert!(
            d.reason
                .ends_with("; 5 earlier refusals were not reported (at most 64 a second)"),
            "{d:?}"
        );
        raw.wall = REFUSED_BY_LANDLOCK;
        raw.nr = libc::SYS_openat as u32;
        raw.errno = libc::EACCES as u32;
        raw.held = 0;
        raw.path[..11].copy_from_slice(b"/etc/secret");
        let d = denial(&raw);
        assert_eq!(
            (d.wall, d.access.as_str()),
            (WALL_LANDLOCK, "openat /etc/secret")
        );
        assert_eq!(d.path.as_deref(), Some("/etc/secret"));
        assert!(d.reason.contains("inferred from EACCES"), "{d:?}");
    }
}
