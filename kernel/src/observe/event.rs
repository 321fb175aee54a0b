//! Process lifecycle events as the rest of the kernel sees them: decoded from the raw
//! [`ProcEvent`] records the eBPF programs write (see `ebpf.rs`), owned and `Clone` so one
//! event can fan out over a `tokio::sync::broadcast` channel.
//!
//! Pure data: no host facility, nothing left on the host.

use std::{os::unix::process::ExitStatusExt as _, process::ExitStatus};

use agentos_ebpf_common::{EVENT_EXEC, EVENT_EXIT, ProcEvent};

/// What happened to the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessEventKind {
    /// It called `execve` successfully; `comm` is the new program's name.
    Exec,
    /// Its last thread exited; `exit_code` says how.
    Exit,
    /// The kernel refused it a syscall (on its own kernel socket); `denial` says
    /// what and why. Published by the kernel, not by a probe.
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
    pub capability: Option<String>,
}

/// One exec or exit of a process in the kernel's managed cgroup subtree.
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
    /// kernel, so invalid bytes are replaced).
    pub comm: String,
    /// For [`ProcessEventKind::Denial`].
    pub denial: Option<Box<Denial>>,
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
}

impl ProcessEvent {
    /// Decodes one record from the `EVENTS` ring buffer.
    pub fn decode(record: &[u8]) -> Result<Self, DecodeError> {
        let expected = size_of::<ProcEvent>();
        if record.len() != expected {
            return Err(DecodeError::Size {
                actual: record.len(),
                expected,
            });
        }
        // SAFETY: the slice holds exactly `size_of::<ProcEvent>()` bytes (checked above);
        // `ProcEvent` is `repr(C)` plain integers with no padding, so any bytes are a valid
        // value; `read_unaligned` makes no alignment assumption about the ring buffer.
        let raw = unsafe { record.as_ptr().cast::<ProcEvent>().read_unaligned() };
        Self::try_from(raw)
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
            other => return Err(DecodeError::Kind(other)),
        };
        let len = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
        Ok(Self {
            kind,
            pid,
            tid,
            ppid,
            exit_code,
            uid,
            cgroup_id,
            timestamp_ns,
            comm: String::from_utf8_lossy(&comm[..len]).into_owned(),
            denial: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use agentos_ebpf_common::TASK_COMM_LEN;

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
        // SAFETY: `ProcEvent` is padding-free plain data, so all its bytes are initialised.
        unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(event).cast::<u8>(),
                size_of::<ProcEvent>(),
            )
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
}
