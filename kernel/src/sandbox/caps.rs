//! Capabilities: what the sandboxed program keeps (by default nothing).
//!
//! The sandbox's init holds every capability of its own user namespace while it
//! builds the view (none on the host). Before the program starts, the sets are cut
//! down to the spec's `keep_caps`, in the order the kernel requires:
//!
//! 1. inheritable := keep (needs `CAP_SETPCAP`, still effective);
//! 2. the bounding set loses everything else (`PR_CAPBSET_DROP`), so no exec can
//!    bring a capability back;
//! 3. the ambient set := keep (cleared, then raised one by one: a kept capability
//!    survives `execve` of an ordinary binary only through the ambient set, since
//!    the program runs as a non-root uid);
//! 4. effective and permitted := keep.
//!
//! The program runs as a uid that is not 0 in its namespace (uid 0 is not even
//! mapped), so the kernel's "root gets all capabilities on exec" rule never
//! applies, and `no_new_privs` makes file capabilities and set-id bits inert.
//! The names and numbers come from the `caps` crate; the calls are raw `capget`,
//! `capset` and `prctl`, because the child must not allocate.

use std::sync::OnceLock;

use super::sys;

const CAPS_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub(crate) fn last_cap() -> u32 {
    static LAST: OnceLock<u32> = OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// Which capabilities to keep, as a mask over `0..=last_cap`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CapsPlan {
    keep: u64,
    last_cap: u32,
}

fn split(mask: u64) -> (u32, u32) {
    (mask as u32, (mask >> 32) as u32)
}

fn get() -> Result<[Data; 2], i32> {
    let mut h = Header {
        version: CAPS_VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: header and two data structs, as the v3 ABI requires.
    sys::check(unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) })?;
    Ok(d)
}

fn set(effective: u64, permitted: u64, inheritable: u64) -> Result<(), i32> {
    let mut h = Header {
        version: CAPS_VERSION_3,
        pid: 0,
    };
    let (e0, e1) = split(effective);
    let (p0, p1) = split(permitted);
    let (i0, i1) = split(inheritable);
    let d = [
        Data {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        Data {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: header and two data structs, as the v3 ABI requires.
    sys::check(unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) }).map(drop)
}

fn permitted() -> Result<u64, i32> {
    let d = get()?;
    Ok(u64::from(d[0].permitted) | (u64::from(d[1].permitted) << 32))
}

/// Empties the effective, permitted and inheritable sets (a helper that needs none,
/// `dialer.rs`). Async-signal-safe.
pub(crate) fn drop_all() -> Result<(), i32> {
    set(0, 0, 0)
}

/// `CAP_NET_ADMIN`'s number.
pub(crate) const CAP_NET_ADMIN: u32 = 12;

/// Keeps permitted capability `cap` through the next `execve` as an ambient one
/// (inheritable, then `PR_CAP_AMBIENT_RAISE`): what a process that joined a user
/// namespace as a uid other than its root needs for the program it runs to hold the
/// capability there (the kernel's `nft` in a rootless sandbox, `net/tool.rs`).
/// Async-signal-safe.
pub(crate) fn keep_through_exec(cap: u32) -> Result<(), i32> {
    let p = permitted()?;
    set(p, p, 1 << cap)?;
    // SAFETY: prctl with integer arguments.
    sys::check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

impl CapsPlan {
    pub(crate) fn new(keep: u64) -> Self {
        let last_cap = last_cap().min(63);
        let all = if last_cap == 63 {
            u64::MAX
        } else {
            (1u64 << (last_cap + 1)) - 1
        };
        Self {
            keep: keep & all,
            last_cap,
        }
    }

    /// Child: makes every permitted capability effective again (after the uid switch
    /// with `PR_SET_KEEPCAPS`, effective is empty).
    pub(crate) fn raise_effective() -> Result<(), i32> {
        let p = permitted()?;
        set(p, p, 0)
    }

    /// Child: cuts every set down to `keep` (see the module docs for the order).
    /// On failure returns which of the four steps failed.
    pub(crate) fn drop_to_keep(&self) -> Result<(), (u32, i32)> {
        let p = permitted().map_err(|e| (0, e))?;
        set(p, p, self.keep).map_err(|e| (0, e))?;
        for cap in 0..=self.last_cap {
            if self.keep & (1 << cap) != 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments.
            match sys::check(unsafe {
                libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0)
            }) {
                Ok(_) | Err(libc::EINVAL) => {}
                Err(e) => return Err((1, e)),
            }
        }
        // SAFETY: prctl with integer arguments.
        sys::check(unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            )
        })
        .map_err(|e| (2, e))?;
        for cap in 0..=self.last_cap {
            if self.keep & (1 << cap) == 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments.
            sys::check(unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            })
            .map_err(|e| (2, e))?;
        }
        set(self.keep, self.keep, self.keep).map_err(|e| (3, e))
    }

    /// Names the failed step `i` of [`Self::drop_to_keep`].
    pub(crate) fn describe(i: u32) -> &'static str {
        match i {
            0 => "capset inheritable",
            1 => "PR_CAPBSET_DROP",
            2 => "PR_CAP_AMBIENT",
            _ => "capset effective/permitted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_is_clamped_to_known_capabilities() {
        let p = CapsPlan::new(u64::MAX);
        assert_eq!(p.keep.count_ones(), p.last_cap + 1);
        assert_eq!(CapsPlan::new(1 << 10).keep, 1 << 10);
        assert_eq!(split(1 << 33 | 1), (1, 2));
    }
}
