//! Drains the `EVENTS` ring buffer into the hub's broadcast channel, each event attributed
//! to the managed process that owns its cgroup ([`Owners`]).
//!
//! The programs submit with `BPF_RB_NO_WAKEUP` until [`WAKEUP_BYTES`] are unread, so epoll
//! reports the ring only for big batches; a timer drains it every [`POLL_EVERY`] between
//! them. A burst costs one wake-up, and an event waits at most one period.
//!
//! A failed open of a host path that the process's mount namespace hides is followed by the
//! denial [`MountWall`] infers for it. After each pass, the sandbox roots of cgroups retired
//! before the pass began are let go ([`Owners::release_roots`]): their events have all been
//! read, and a held root keeps two fds and the sandbox's mount namespace alive.
//!
//! [`WAKEUP_BYTES`]: agentos_ebpf_common::WAKEUP_BYTES

use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use tokio::{io::unix::AsyncFd, sync::broadcast};

use super::{Owners, mountns::MountWall};
use crate::observe::event::ProcessEvent;

/// How often the ring is drained without a wake-up.
pub(super) const POLL_EVERY: Duration = Duration::from_millis(25);

/// Reads records until the task is aborted.
pub(super) async fn read_events(
    mut events: AsyncFd<RingBuf<MapData>>,
    tx: broadcast::Sender<ProcessEvent>,
    owners: Owners,
) {
    let mut mount = MountWall::default();
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ready = events.readable_mut() => match ready {
                Ok(mut guard) => {
                    drain(guard.get_inner_mut(), &tx, &owners, &mut mount);
                    // Tokio keeps readiness that arrived after this guard was taken, so no
                    // record is stranded between the last `next()` and this call.
                    guard.clear_ready();
                }
                Err(err) => {
                    tracing::error!(error = %err, "polling the eBPF ring buffer failed; no more process events");
                    return;
                }
            },
            _ = tick.tick() => drain(events.get_mut(), &tx, &owners, &mut mount),
        }
    }
}

fn drain(
    ring: &mut RingBuf<MapData>,
    tx: &broadcast::Sender<ProcessEvent>,
    owners: &Owners,
    mount: &mut MountWall,
) {
    // Every event a retired cgroup's processes made was in the ring before it retired, so
    // a pass that began after that has read them: its sandbox root can go after this pass.
    let began = std::time::Instant::now();
    while let Some(record) = ring.next() {
        match ProcessEvent::decode(&record) {
            Ok(mut event) => {
                owners.attribute(&mut event);
                let hidden = mount.check(&event, owners);
                // An error only means nobody is subscribed right now.
                drop(tx.send(event));
                if let Some(denial) = hidden {
                    drop(tx.send(denial));
                }
            }
            Err(err) => tracing::warn!(error = %err, "dropped a malformed eBPF event"),
        }
    }
    owners.release_roots(began);
}
