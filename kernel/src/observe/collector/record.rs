//! [`Record`]: one event in the collector, fixed-size so that the ring can hold it
//! in atomic words, with its [`Category`] and [`Severity`].

use agentos_proto::v1 as pb;

/// Where an event comes from; sampling rates are kept per category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Category {
    /// A syscall's dispatch and outcome (its latency is the value).
    Syscall = 0,
    /// Scheduler decisions.
    Scheduler = 1,
    /// Process lifecycle as the kernel runs it (spawn, exit).
    Process = 2,
    /// Filesystem operations (latency is the value).
    Vfs = 3,
    /// Access decisions: a refusal by the capability check.
    Sandbox = 4,
    /// A syscall that ran out of time.
    Timeout = 5,
    /// Events from the eBPF probes (exec, exit, ...).
    Ebpf = 6,
    /// The collector's own findings: z-score anomalies, lag.
    Anomaly = 7,
}

impl Category {
    pub const ALL: [Self; 8] = [
        Self::Syscall,
        Self::Scheduler,
        Self::Process,
        Self::Vfs,
        Self::Sandbox,
        Self::Timeout,
        Self::Ebpf,
        Self::Anomaly,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            Self::Syscall => "syscall",
            Self::Scheduler => "scheduler",
            Self::Process => "process",
            Self::Vfs => "vfs",
            Self::Sandbox => "sandbox",
            Self::Timeout => "timeout",
            Self::Ebpf => "ebpf",
            Self::Anomaly => "anomaly",
        }
    }

    pub(super) fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }

    /// The category a name (as `agentos events --category` takes it) stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn to_proto(self) -> pb::EventCategory {
        match self {
            Self::Syscall => pb::EventCategory::Syscall,
            Self::Scheduler => pb::EventCategory::Scheduler,
            Self::Process => pb::EventCategory::Process,
            Self::Vfs => pb::EventCategory::Vfs,
            Self::Sandbox => pb::EventCategory::Sandbox,
            Self::Timeout => pb::EventCategory::Timeout,
            Self::Ebpf => pb::EventCategory::Ebpf,
            Self::Anomaly => pb::EventCategory::Anomaly,
        }
    }

    pub fn from_proto(c: pb::EventCategory) -> Option<Self> {
        Some(match c {
            pb::EventCategory::Unspecified => return None,
            pb::EventCategory::Syscall => Self::Syscall,
            pb::EventCategory::Scheduler => Self::Scheduler,
            pb::EventCategory::Process => Self::Process,
            pb::EventCategory::Vfs => Self::Vfs,
            pb::EventCategory::Sandbox => Self::Sandbox,
            pb::EventCategory::Timeout => Self::Timeout,
            pb::EventCategory::Ebpf => Self::Ebpf,
            pb::EventCategory::Anomaly => Self::Anomaly,
        })
    }
}

/// How much an event matters. Events at [`Severity::Warn`] and above are never
/// sampled out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Severity {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Severity {
    pub(super) fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Debug,
            1 => Self::Info,
            2 => Self::Warn,
            _ => Self::Error,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    pub fn to_proto(self) -> pb::EventSeverity {
        match self {
            Self::Debug => pb::EventSeverity::Debug,
            Self::Info => pb::EventSeverity::Info,
            Self::Warn => pb::EventSeverity::Warn,
            Self::Error => pb::EventSeverity::Error,
        }
    }

    pub fn from_proto(s: pb::EventSeverity) -> Self {
        match s {
            pb::EventSeverity::Unspecified | pb::EventSeverity::Debug => Self::Debug,
            pb::EventSeverity::Info => Self::Info,
            pb::EventSeverity::Warn => Self::Warn,
            pb::EventSeverity::Error => Self::Error,
        }
    }
}

/// One event. `name` says what happened within the category (the syscall's name,
/// `spawn`, `exit`, `exec`, `denied`, the metric an anomaly is about ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// `CLOCK_MONOTONIC` nanoseconds (the eBPF probes' clock too).
    pub ts_ns: u64,
    pub category: Category,
    pub severity: Severity,
    pub name: &'static str,
    /// The managed process the event is about (0: none, e.g. a desktop call).
    pub pid: u32,
    /// The request chain the event belongs to (0: none); see [`super::Causality`].
    pub causality: u64,
    /// The measured figure: a latency in nanoseconds, a count, a z-score × 1000.
    pub value: u64,
    /// A small code: an exit status, an error code, a syscall number.
    pub code: i32,
}

impl Record {
    /// An event stamped now.
    pub fn now(category: Category, severity: Severity, name: &'static str) -> Self {
        Self {
            ts_ns: monotonic_ns(),
            category,
            severity,
            name,
            pid: 0,
            causality: 0,
            value: 0,
            code: 0,
        }
    }

    pub fn pid(mut self, pid: u32) -> Self {
        self.pid = pid;
        self
    }

    pub fn causality(mut self, id: u64) -> Self {
        self.causality = id;
        self
    }

    pub fn value(mut self, v: u64) -> Self {
        self.value = v;
        self
    }

    pub fn code(mut self, c: i32) -> Self {
        self.code = c;
        self
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (a vDSO call, ~20 ns).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
