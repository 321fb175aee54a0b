//! Stream reads through shared memory: the kernel reads each chunk straight into a
//! free slot (on LocalFS, with the io_uring read itself) and names it on the
//! control ring (`FULL`); the client reads it in place and hands the slot back
//! (`FREE`).
//!
//! A client that keeps up sleeps between chunks, and waking it for each one
//! made it a thread hop or three per chunk (its wait runs on its blocking pool).
//! So a sleeping client is woken once per burst of three quarters of the slots
//! (`burst_for`), and before the kernel itself waits for a slot: it then takes
//! the burst in one go and hands the slots back while the kernel fills the
//! rest. The slots are few (`slots_for`), and the kernel refills the one handed
//! back last, so its copies land in memory still in the cache.

use std::sync::Arc;

use agentos_client::control::Msg;
use tokio::runtime::Handle;

use super::{
    super::{Inbound, Sender, StreamError, read::Span},
    Shared, Stop, open, run,
};
use crate::{error::KernelError, identity::Caller, kernel::Kernel, shm::ClientAccess, vfs::Reader};

pub(in crate::syscall::stream) fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    reader: Reader,
    span: Span,
    inbound: Inbound,
    tx: Sender,
) -> Result<(), KernelError> {
    let shared = open(kernel, caller, span.chunk, ClientAccess::Read, inbound, tx)?;
    let rt = Handle::current();
    run(kernel, shared, move |s| fill(s, &reader, &span, &rt));
    Ok(())
}

/// Reads the span into free slots and names each on the ring; the bytes sent.
fn fill(s: &mut Shared, reader: &Reader, span: &Span, rt: &Handle) -> Result<u64, Stop> {
    let mut free: Vec<usize> = (0..s.slots).rev().collect();
    let mut held = vec![false; s.slots];
    let mut offset = span.start;
    while offset < span.end {
        // Take back every slot already released, so that the next read reuses the
        // one handed back last (still in the CPU's cache) rather than a cold one:
        // the slots in use stay as few as the round trip needs.
        while let Some(msg) = s.poll()? {
            free.push(take_back(msg, &mut held)?);
        }
        let slot = match free.pop() {
            Some(slot) => slot,
            // The client may be asleep on chunks it was not woken for: `next` wakes it.
            None => take_back(s.next()?, &mut held)?,
        };
        let want = span.chunk.min((span.end - offset) as usize);
        let buf = s.region.slice(slot * span.chunk, want);
        let n = rt
            .block_on(reader.read_into(offset, buf))
            .map_err(KernelError::from)?;
        if n == 0 {
            break; // the file shrank since it was opened
        }
        held[slot] = true;
        s.send_in_burst(Msg::Full {
            slot: slot as u32,
            offset,
            len: n as u32,
        })?;
        offset += n as u64;
    }
    // `run` sends `END` with a wake-up, which announces the rest.
    Ok(offset - span.start)
}

/// The slot a `FREE` hands back, which must be one the client holds.
fn take_back(msg: Msg, held: &mut [bool]) -> Result<usize, Stop> {
    match msg {
        Msg::Free { slot } if held.get(slot as usize) == Some(&true) => {
            held[slot as usize] = false;
            Ok(slot as usize)
        }
        Msg::Free { slot } => Err(StreamError::NotHeld(slot).into()),
        _ => Err(StreamError::UnexpectedControl {
            allowed: "`FREE`",
            what: "a shared-memory read",
        }
        .into()),
    }
}
