//! The `EVENTS` ring buffer and how records are submitted to it: without a wake-up
//! (`BPF_RB_NO_WAKEUP`) while little is unread, so a burst of events costs the reader one
//! wake-up, not one each; the daemon also polls it on a short timer, so nothing waits long.

use agentos_ebpf_common::{EVENTS_BYTE_SIZE, WAKEUP_BYTES};
use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    macros::map,
    maps::RingBuf,
};

#[map(name = "AGENTOS_EVENTS")]
pub(crate) static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTE_SIZE, 0);

/// Returned when the ring buffer is full; tracepoint return values are ignored by the kernel.
pub(crate) const ERR_RING_FULL: u32 = 1;

/// The flags to submit a record with: wake the reader only once enough is waiting.
#[inline(always)]
pub(crate) fn submit_flags() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA.into()) >= WAKEUP_BYTES {
        BPF_RB_FORCE_WAKEUP.into()
    } else {
        BPF_RB_NO_WAKEUP.into()
    }
}
