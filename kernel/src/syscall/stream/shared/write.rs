//! Stream writes through shared memory: the client puts each chunk in a slot and
//! names it on the control ring (`FULL`); the kernel writes the slot out (on
//! LocalFS, with the io_uring write itself) and hands it back (`FREE`). As with
//! inline writes, a replace becomes visible only at the client's `END`.
//!
//! As for reads, wake-ups come in bursts both ways: the client wakes a sleeping
//! kernel once per half the slots it fills (and before it waits for a slot, and
//! at its `END`), and the kernel wakes a sleeping client once per burst of
//! slots it hands back (`burst_for`), and before it waits for the next `FULL`. Waking for every
//! chunk cost the 256 MiB write a wake-up, and thread hops, per MiB.

use std::sync::Arc;

use agentos_client::control::Msg;
use tokio::runtime::Handle;

use super::{
    super::{Inbound, Sender, StreamError},
    Shared, Stop, open, run,
};
use crate::{
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    shm::ClientAccess,
    vfs::{Payload, Writer},
};

pub(in crate::syscall::stream) fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    writer: Writer,
    chunk: usize,
    inbound: Inbound,
    tx: Sender,
) -> Result<(), KernelError> {
    let shared = open(kernel, caller, chunk, ClientAccess::ReadWrite, inbound, tx)?;
    let rt = Handle::current();
    run(kernel, shared, move |s| drain(s, writer, chunk, &rt));
    Ok(())
}

/// Writes each slot the client names out and hands it back, until its `END`;
/// the bytes written.
fn drain(s: &mut Shared, mut writer: Writer, chunk: usize, rt: &Handle) -> Result<u64, Stop> {
    let mut bytes = 0u64;
    loop {
        match s.next()? {
            Msg::Full { slot, offset, len } => {
                let (at, n) = (slot as usize, len as usize);
                if at >= s.slots || n > chunk {
                    return Err(StreamError::OutsideRegion {
                        slot: at,
                        len: n,
                        slots: s.slots,
                        chunk,
                    }
                    .into());
                }
                if offset != bytes {
                    return Err(StreamError::OutOfOrder {
                        offset,
                        sent: bytes,
                    }
                    .into());
                }
                let data = Payload::Shared(s.region.slice(at * chunk, n));
                rt.block_on(writer.write(data)).map_err(KernelError::from)?;
                bytes += u64::from(len);
                s.send_in_burst(Msg::Free { slot })?;
            }
            Msg::End => {
                rt.block_on(writer.commit()).map_err(KernelError::from)?;
                return Ok(bytes);
            }
            Msg::Free { .. } => {
                return Err(StreamError::UnexpectedControl {
                    allowed: "`FULL` and `END`",
                    what: "a shared-memory write",
                }
                .into());
            }
        }
    }
}
