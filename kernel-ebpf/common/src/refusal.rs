//! Refusals by the walls that raise nothing themselves: seccomp (`SECCOMP_RET_ERRNO` makes no
//! record) and landlock (whose audit records need the host's audit subsystem on, which AgentOS
//! does not switch on for the whole host). The `sys_exit` program infers them from what a
//! managed process's syscall returned ([`RefusalEvent`]), from facts the daemon wrote:
//!
//! * `FENCES`: managed cgroup id → the walls installed in it ([`FENCE_SECCOMP`],
//!   [`FENCE_LANDLOCK`]);
//! * `SECCOMP`: syscall number → the errno the installed seccomp filter answers it with
//!   ([`SeccompRule`]).
//!
//! Each cgroup may send at most [`REFUSALS_PER_SECOND`] of these a second (`REFUSAL_RATE`); the
//! refusals held back are counted and the next event sent says how many, so a loop of refused
//! calls cannot flood the ring buffer and nothing is dropped silently.

use crate::PATH_LEN;

/// [`RefusalEvent::kind`].
pub const EVENT_REFUSAL: u32 = 8;

/// Bit of a `FENCES` value: the cgroup's processes run under AgentOS's seccomp filter.
pub const FENCE_SECCOMP: u32 = 1;
/// Bit of a `FENCES` value: the cgroup's processes run in a landlock domain.
pub const FENCE_LANDLOCK: u32 = 2;

/// [`RefusalEvent::wall`]: the syscall's number is one the seccomp filter refuses, and it
/// returned the filter's errno.
pub const REFUSED_BY_SECCOMP: u32 = 1;
/// [`RefusalEvent::wall`]: a filesystem or TCP call of a landlocked process returned `EACCES`,
/// the errno landlock refuses with (file permission bits refuse with it too).
pub const REFUSED_BY_LANDLOCK: u32 = 2;

/// Inferred refusals one cgroup may send in one second; the rest are counted.
pub const REFUSALS_PER_SECOND: u32 = 64;

/// Names of the maps, shared so the two sides cannot drift apart.
pub mod names {
    /// `HashMap<u64, u32>`: managed cgroup id → `FENCE_*` bits.
    pub const FENCES: &str = "AGENTOS_FENCES";
    /// `HashMap<u32, SeccompRule>`: syscall number → how the filter refuses it.
    pub const SECCOMP: &str = "AGENTOS_SECCOMP";
    /// `HashMap<u64, RefusalRate>`: per cgroup, this second's refusals.
    pub const REFUSAL_RATE: &str = "AGENTOS_REFRATE";
}

/// Value of the `SECCOMP` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompRule {
    /// The errno the filter returns (`EPERM`).
    pub errno: u32,
    /// 1 if the filter refuses every call of this number (then that errno can only be the
    /// filter's: seccomp runs before the syscall does anything); 0 if it refuses some
    /// arguments only (`clone` with namespace flags, raw `socket`s, two `ioctl`s), when the
    /// same errno from the call itself cannot be told apart.
    pub every_call: u32,
}

/// Value of the `REFUSAL_RATE` map; the daemon keeps one per cgroup too, for the refusals it
/// infers itself (the mount namespace's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefusalRate {
    /// `bpf_ktime_get_ns` at the start of the current one-second window.
    pub window_ns: u64,
    /// Events sent in the window.
    pub sent: u32,
    /// Refusals held back since the last event sent.
    pub held: u32,
}

impl RefusalRate {
    /// Whether one more refusal may be reported at `now_ns` (`CLOCK_MONOTONIC`); if so, how
    /// many were held back since the last one reported. At most [`REFUSALS_PER_SECOND`] in
    /// a one-second window.
    #[inline(always)]
    pub fn admit(&mut self, now_ns: u64) -> Option<u32> {
        const SECOND_NS: u64 = 1_000_000_000;
        if now_ns.saturating_sub(self.window_ns) >= SECOND_NS {
            self.window_ns = now_ns;
            self.sent = 0;
        }
        if self.sent >= REFUSALS_PER_SECOND {
            self.held = self.held.saturating_add(1);
            return None;
        }
        self.sent += 1;
        let held = self.held;
        self.held = 0;
        Some(held)
    }
}

/// One refusal, written by the `sys_exit` program when the syscall returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalEvent {
    /// [`EVENT_REFUSAL`].
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    /// [`REFUSED_BY_SECCOMP`] or [`REFUSED_BY_LANDLOCK`].
    pub wall: u32,
    pub cgroup_id: u64,
    pub timestamp_ns: u64,
    /// The syscall number (x86_64 numbering).
    pub nr: u32,
    /// The errno it returned.
    pub errno: u32,
    /// Refusals of this cgroup held back by the rate limit since the previous event.
    pub held: u32,
    /// Seccomp: [`SeccompRule::every_call`]. Landlock: 0.
    pub every_call: u32,
    /// Landlock on a path: the path as passed, NUL-terminated, truncated; empty otherwise.
    pub path: [u8; PATH_LEN],
}

const _: () = {
    assert!(size_of::<SeccompRule>() == 8);
    assert!(size_of::<RefusalRate>() == 16);
    assert!(size_of::<RefusalEvent>() == 4 * 4 + 2 * 8 + 4 * 4 + PATH_LEN);
    assert!(align_of::<RefusalEvent>() == 8);
};

#[cfg(feature = "user")]
mod user {
    // SAFETY: each is `#[repr(C)]`, `Copy`, made of integers and integer arrays with no
    // padding (sizes asserted above), so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::SeccompRule {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RefusalRate {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RefusalEvent {}
}
