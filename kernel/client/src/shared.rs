//! Shared-memory streams (Linux): the bytes travel through a sealed memfd that both
//! sides map, and the slot numbers through the stream's control rings
//! ([`crate::control`]), so the gRPC stream carries only the region's
//! announcement and the final status, however many chunks go by.
//!
//! [`Client::read_shared`] and [`Client::write_shared`] open the stream, claim the
//! region's memfd and the control segment's on `kernel.fds.sock` with the
//! stream's one-shot tickets (they arrive as `SCM_RIGHTS`) and map them: the
//! region read-only for a read, writable for a write; the control segment
//! writable. [`SharedRead::next_chunk`] yields each chunk in place, and dropping
//! the chunk hands its slot back to the kernel, which refills it.
//! [`SharedWrite::write`] copies into free slots (the kernel hands each back once
//! written out), and [`SharedWrite::finish`] commits.
//!
//! # Waiting
//!
//! A message already on the ring is taken at once. Otherwise this side looks
//! again for a little while ([`SPIN`], a few chunks' copies: the thread it runs
//! on is busy that long), then raises
//! its sleep flag on the ring and waits in its own event loop for the stream's
//! eventfd, which the kernel writes when it finds the flag up (claimed with the
//! region, a third ticket): a wake-up is then one thread woken. Waking a
//! futex waiter on tokio's blocking pool instead, which then woke the task's
//! thread, cost the 1 GiB read three times the context switches, and the
//! kernel's stream thread was preempted by that chain once per wake-up (the
//! futex wait is still the fallback for a kernel that offers no eventfd).
//! Waits are naps of [`ring::NAP`], between which the gRPC stream is looked
//! at: the kernel's error, or the connection's end, ends the wait. The
//! kernel wakes a sleeping reader once per burst of most of the slots (and
//! before it waits for a slot itself), so a reader that keeps up takes chunks in bursts
//! rather than paying a wake-up per chunk. A write is the same both ways: the
//! client wakes a sleeping kernel once per burst of half the slots it fills,
//! the kernel a sleeping client once per burst of slots it hands back, and
//! each side wakes the other before it waits itself, and at its `End`.

use std::{
    io::{self, IoSliceMut},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    pin::Pin,
    sync::Mutex,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use agentos_proto::v1::{
    self as pb, stream_open::Op, stream_request::Msg as In, stream_response::Msg as Out,
};
use tokio::{
    io::{AsyncWriteExt, Interest, unix::AsyncFd},
    net::UnixStream,
};
use tokio_stream::{Stream, StreamExt};

use crate::{
    CallError, Client,
    control::{Control, Msg, Side},
    mapping::Mapping,
    ring::{self, RingError},
};

/// How long a side that finds the ring empty looks again before it raises its sleep
/// flag: a few 1 MiB chunk copies on this project's machines (~60 µs each at 16 GB/s),
/// so a reader that keeps up with the kernel takes its next chunk without being woken,
/// which cost the kernel's stream thread ~15 µs an eventfd write, ~340 of them a GiB.
/// The 1 GiB read (`benches/ipc.rs`, medians of alternating rounds, three runs each):
/// 79.9 / 83.8 / 80.3 % of a raw io_uring read without it (384-390 context switches),
/// 83.5 % with 100 µs, 90.8 / 86.6 / 89.3 % with 250 µs (60-66). The wait holds the
/// task's thread that long at most, and only while the ring is empty.
const SPIN: Duration = Duration::from_micros(250);

/// A stream whose region and control rings are claimed and mapped.
struct Opened {
    map: Mapping,
    slot_size: usize,
    slots: u32,
    inbound: tonic::Streaming<pb::StreamResponse>,
    /// This side's rings; out of the mutex while a wait holds them.
    control: Mutex<Rings>,
    /// gRPC messages received (the region's announcement included).
    messages: u64,
    /// The kernel's `done`, when it came while the rings were being waited on.
    done: Option<u64>,
    /// The eventfd the kernel writes to wake this side, watched by the event
    /// loop; without one (an older kernel), waits run on the blocking pool.
    wake: Option<AsyncFd<OwnedFd>>,
}

/// This side's control rings, and the error a send from a `Drop` met.
struct Rings {
    control: Option<Control>,
    broken: Option<RingError>,
}

/// A shared-memory read in progress.
pub struct SharedRead {
    stream: Opened,
    bytes: Option<u64>,
}

/// A shared-memory write in progress; nothing is committed before [`Self::finish`].
pub struct SharedWrite {
    stream: Opened,
    /// Slots the kernel has handed back (or never had).
    free: Vec<u32>,
    /// Whether each slot is in `free`.
    is_free: Vec<bool>,
    /// Bytes sent so far.
    offset: u64,
}

/// One chunk, in place in the shared region; its slot goes back on drop.
pub struct SharedChunk<'a> {
    data: &'a [u8],
    /// The chunk's offset in the file.
    pub offset: u64,
    slot: u32,
    stream: &'a Opened,
}

impl std::ops::Deref for SharedChunk<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data
    }
}

impl Drop for SharedChunk<'_> {
    fn drop(&mut self) {
        self.stream.send_now(Msg::Free { slot: self.slot });
    }
}

impl Client {
    /// Reads `length` bytes (0: to the end) of `path` from `offset`, `chunk_size`
    /// bytes at a time (0: 64 KiB), through shared memory. Needs a Unix-socket
    /// connection to the kernel's own socket.
    pub async fn read_shared(
        &mut self,
        path: &str,
        offset: u64,
        length: u64,
        chunk_size: u32,
    ) -> Result<SharedRead, CallError> {
        let read = Op::Read(pb::StreamRead {
            path: path.into(),
            offset,
            length,
            chunk_size,
            transport: pb::StreamTransport::SharedMemory as i32,
        });
        Ok(SharedRead {
            stream: self.open_shared(read, false).await?,
            bytes: None,
        })
    }

    /// Writes `path` through shared memory in slots of `chunk_size` bytes (0: 64
    /// KiB): appended to as chunks arrive, or (`append` false) replaced atomically
    /// at [`SharedWrite::finish`]. Needs a Unix-socket connection.
    pub async fn write_shared(
        &mut self,
        path: &str,
        append: bool,
        chunk_size: u32,
    ) -> Result<SharedWrite, CallError> {
        let write = Op::Write(pb::StreamWrite {
            path: path.into(),
            append,
            transport: pb::StreamTransport::SharedMemory as i32,
            chunk_size,
        });
        let stream = self.open_shared(write, true).await?;
        Ok(SharedWrite {
            free: (0..stream.slots).rev().collect(),
            is_free: vec![true; stream.slots as usize],
            stream,
            offset: 0,
        })
    }

    /// Opens the stream, then claims and maps its region and control rings.
    async fn open_shared(&mut self, op: Op, writable: bool) -> Result<Opened, CallError> {
        let fds = self.fds_socket().map(Path::to_owned).ok_or_else(|| {
            CallError::Handoff("shared-memory streams need a Unix-socket connection".into())
        })?;
        let open = pb::StreamRequest {
            msg: Some(In::Open(pb::StreamOpen { op: Some(op) })),
        };
        // Nothing but the open goes on the request stream.
        let mut inbound = self
            .stream_syscall(tokio_stream::iter([open]))
            .await?
            .into_inner();
        let region = match inbound.next().await.transpose()?.and_then(|m| m.msg) {
            Some(Out::Region(r)) => r,
            _ => return Err(CallError::Empty("a shared-memory stream's region")),
        };
        let size = usize::try_from(region.size)
            .ok()
            .filter(|&s| s >= region.slots as usize * region.slot_size as usize)
            .ok_or_else(|| CallError::Handoff(format!("a region of {} bytes", region.size)))?;
        let prefix = self.fds_prefix();
        let wake = async {
            match region.wake_ticket.is_empty() {
                true => Ok(None),
                false => claim(&fds, prefix, &region.wake_ticket).await.map(Some),
            }
        };
        let (fd, control_fd, wake) = tokio::try_join!(
            claim(&fds, prefix, &region.ticket),
            claim(&fds, prefix, &region.control_ticket),
            wake
        )?;
        let wake = wake
            // SAFETY: the `AsyncFd` owns the fd, so it stays open for as long as
            // it is registered.
            .map(|fd| unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) })
            .transpose()
            .map_err(|e| CallError::Handoff(format!("watching the stream's eventfd: {e}")))?;
        let mut control = Control::attach(&control_fd, Side::Client).map_err(ring_error)?;
        control.set_burst(region.slots as usize / 2);
        Ok(Opened {
            map: Mapping::new(&fd, size, writable)
                .map_err(|e| CallError::Handoff(format!("mapping the region: {e}")))?,
            slot_size: region.slot_size as usize,
            slots: region.slots,
            inbound,
            control: Mutex::new(Rings {
                control: Some(control),
                broken: None,
            }),
            messages: 1,
            done: None,
            wake,
        })
    }
}

/// Looks at the ring for a message until one comes or [`SPIN`] passes (`Timeout`).
fn spin(control: &mut Control) -> Result<Msg, RingError> {
    let until = Instant::now() + SPIN;
    loop {
        match control.recv(Duration::ZERO) {
            Err(RingError::Timeout(_)) if Instant::now() < until => std::hint::spin_loop(),
            got => return got,
        }
    }
}

/// Sleeps until the kernel writes `wake` (it does when it finds this side's
/// sleep flag up) or a nap ([`ring::NAP`]) ends, unless a message came in the
/// meantime; then the next message, or `Timeout`.
async fn sleep_on(wake: &AsyncFd<OwnedFd>, control: &mut Control) -> Result<Msg, RingError> {
    if !control.arm()? {
        if let Ok(Ok(mut ready)) = tokio::time::timeout(ring::NAP, wake.readable()).await {
            // Drain the counter (EAGAIN: the kernel's write was consumed
            // already), and wait for the next write again.
            let _ = nix::unistd::read(wake.get_ref(), &mut [0u8; 8]);
            ready.clear_ready();
        }
        control.disarm();
    }
    control.recv(Duration::ZERO)
}

fn ring_error(e: RingError) -> CallError {
    CallError::Handoff(format!("the shared-memory stream's control ring: {e}"))
}

impl Opened {
    fn rings(&self) -> std::sync::MutexGuard<'_, Rings> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rings, unless a wait that held them was cancelled or a send broke them.
    fn take_control(&self) -> Result<Control, CallError> {
        let mut rings = self.rings();
        if let Some(e) = rings.broken.clone() {
            return Err(ring_error(e));
        }
        rings.control.take().ok_or_else(|| {
            CallError::Handoff("the control rings were lost to a cancelled wait".into())
        })
    }

    fn put_control(&self, control: Control) {
        self.rings().control = Some(control);
    }

    /// Runs `op` on the rings without waiting: the ring always has room for
    /// what the protocol lets this side send. A failure is kept for the next call.
    fn on_rings(&self, op: impl FnOnce(&mut Control) -> Result<(), RingError>) {
        let mut rings = self.rings();
        if rings.broken.is_some() {
            return;
        }
        // Lost to a cancelled wait if absent; the next call says so.
        let Some(control) = rings.control.as_mut() else {
            return;
        };
        if let Err(e) = op(control) {
            rings.broken = Some(e);
        }
    }

    /// Sends `msg` without waiting, waking a sleeping kernel.
    fn send_now(&self, msg: Msg) {
        self.on_rings(|c| c.send(msg, Duration::ZERO));
    }

    /// Sends `msg` without waiting, reporting a failure at once: waking a
    /// sleeping kernel for it, or (`in_burst`) once per burst of half the slots.
    fn send(&self, msg: Msg, in_burst: bool) -> Result<(), CallError> {
        self.on_rings(|c| match in_burst {
            true => c.send_in_burst(msg, Duration::ZERO),
            false => c.send(msg, Duration::ZERO),
        });
        match self.rings().broken.clone() {
            Some(e) => Err(ring_error(e)),
            None => Ok(()),
        }
    }

    /// The kernel's next control message (see the module's "Waiting").
    async fn recv(&mut self) -> Result<Msg, CallError> {
        let mut timeout = Duration::ZERO;
        loop {
            let mut control = self.take_control()?;
            let (control, got) = if timeout.is_zero() {
                let got = control.recv(timeout);
                (control, got)
            } else if let Some(wake) = &self.wake {
                control.wake();
                let got = match spin(&mut control) {
                    Err(RingError::Timeout(_)) => sleep_on(wake, &mut control).await,
                    got => got,
                };
                (control, got)
            } else {
                // Before this side sleeps: the kernel may be asleep on messages of
                // a burst it was not woken for.
                control.wake();
                tokio::task::spawn_blocking(move || {
                    let got = control.recv(timeout);
                    (control, got)
                })
                .await
                .map_err(|e| CallError::Handoff(format!("waiting on the control ring: {e}")))?
            };
            self.put_control(control);
            match got {
                Ok(msg) => return Ok(msg),
                Err(RingError::Timeout(_)) if self.done.is_some() => {
                    // The kernel's final status came before this look at an empty
                    // ring, and it sends that status after everything it puts on
                    // the ring: nothing more will come, so the stream has ended
                    // even if its `End` did not reach the ring.
                    return Ok(Msg::End);
                }
                Err(RingError::Timeout(_)) => {
                    self.peek_status()?;
                    if self.done.is_some() {
                        // One more look without waiting, then the arm above.
                        timeout = Duration::ZERO;
                        continue;
                    }
                }
                Err(e) => return Err(ring_error(e)),
            }
            timeout = ring::NAP;
        }
    }

    /// Takes the gRPC stream's next message if one is there: the kernel's error
    /// ends the wait, its `done` is kept for when its `End` is taken off the ring.
    fn peek_status(&mut self) -> Result<(), CallError> {
        if self.done.is_some() {
            return Ok(());
        }
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.inbound).poll_next(&mut cx) {
            Poll::Pending => Ok(()),
            Poll::Ready(item) => {
                self.done = Some(self.status_of(item)?);
                Ok(())
            }
        }
    }

    /// The stream's final status, once the kernel has sent its `End`.
    async fn status(&mut self) -> Result<u64, CallError> {
        match self.done.take() {
            Some(bytes) => Ok(bytes),
            None => {
                let item = self.inbound.next().await;
                self.status_of(item)
            }
        }
    }

    /// The bytes a final message reports, or its error.
    fn status_of(
        &mut self,
        item: Option<Result<pb::StreamResponse, tonic::Status>>,
    ) -> Result<u64, CallError> {
        self.messages += u64::from(item.is_some());
        match item.transpose()?.and_then(|m| m.msg) {
            Some(Out::Done(d)) => Ok(d.bytes),
            None => Err(CallError::Empty("a shared-memory stream's status")),
            Some(_) => Err(unexpected("stream's status")),
        }
    }

    /// Checks that `len` bytes at `slot` lie inside the region; their offset.
    fn slot_range(&self, slot: u32, len: usize) -> Result<usize, CallError> {
        if slot >= self.slots || len > self.slot_size {
            return Err(CallError::Handoff(format!(
                "slot {slot} of {len} bytes is outside the region"
            )));
        }
        Ok(slot as usize * self.slot_size)
    }
}

impl SharedRead {
    /// The next chunk, or `None` once the kernel has sent the whole range. Drop
    /// the chunk before asking for the next one (the borrow makes you).
    pub async fn next_chunk(&mut self) -> Result<Option<SharedChunk<'_>>, CallError> {
        if self.bytes.is_some() {
            return Ok(None);
        }
        let (slot, offset, len) = match self.stream.recv().await? {
            Msg::Full { slot, offset, len } => (slot, offset, len as usize),
            Msg::End => {
                self.bytes = Some(self.stream.status().await?);
                return Ok(None);
            }
            Msg::Free { .. } => return Err(unexpected("read")),
        };
        let start = self.stream.slot_range(slot, len)?;
        Ok(Some(SharedChunk {
            data: self.stream.map.range(start, len),
            offset,
            slot,
            stream: &self.stream,
        }))
    }

    /// The bytes the kernel reported sent, once the stream has ended.
    pub fn bytes(&self) -> Option<u64> {
        self.bytes
    }

    /// gRPC messages this stream has received: the region's announcement and
    /// the final status, however many chunks (the slot numbers take the rings).
    pub fn messages(&self) -> u64 {
        self.stream.messages
    }
}

impl SharedWrite {
    /// Copies `data` into free slots and names each on the control ring,
    /// waiting for the kernel to hand slots back when none is free.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), CallError> {
        while !data.is_empty() {
            let slot = match self.free.pop() {
                Some(s) => s,
                None => self.released().await?,
            };
            self.is_free[slot as usize] = false;
            let n = data.len().min(self.stream.slot_size);
            let start = self.stream.slot_range(slot, n)?;
            self.stream
                .map
                .write(start, &data[..n])
                .map_err(|e| CallError::Handoff(format!("filling slot {slot}: {e}")))?;
            let full = Msg::Full {
                slot,
                offset: self.offset,
                len: n as u32,
            };
            self.stream.send(full, true)?;
            self.offset += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    /// Commits the write (for a replace, the new content appears now); the bytes
    /// the kernel wrote.
    pub async fn finish(mut self) -> Result<u64, CallError> {
        self.stream.send(Msg::End, false)?;
        self.stream.status().await
    }

    /// gRPC messages this stream has received so far (see [`SharedRead::messages`]).
    pub fn messages(&self) -> u64 {
        self.stream.messages
    }

    /// Waits for the kernel to hand a slot back: one it holds.
    async fn released(&mut self) -> Result<u32, CallError> {
        match self.stream.recv().await? {
            Msg::Free { slot } if self.is_free.get(slot as usize) == Some(&false) => Ok(slot),
            // The kernel stopped early: its status says why.
            Msg::End => Err(self
                .stream
                .status()
                .await
                .err()
                .unwrap_or_else(|| unexpected("write"))),
            _ => Err(unexpected("write")),
        }
    }
}

fn unexpected(what: &str) -> CallError {
    CallError::Handoff(format!("an unexpected message in a shared-memory {what}"))
}

impl Client {
    /// Redeems an `FdTicket` (from `pipe_open`, `shm_attach`): the fd it was
    /// offered for, received as `SCM_RIGHTS`, or the kernel's refusal.
    pub async fn claim_fd(&self, ticket: &pb::FdTicket) -> Result<OwnedFd, CallError> {
        let fds = self.fds_socket().ok_or_else(|| {
            CallError::Handoff("fds are handed over on Unix-socket connections only".into())
        })?;
        claim(fds, self.fds_prefix(), &ticket.ticket).await
    }
}

/// Presents `ticket` (after `prefix`) on the fd socket; the fd, or the kernel's
/// refusal.
async fn claim(fds: &Path, prefix: &[u8], ticket: &[u8]) -> Result<OwnedFd, CallError> {
    let fail =
        |what: &str, e: io::Error| CallError::Handoff(format!("{what} {}: {e}", fds.display()));
    let mut stream = UnixStream::connect(fds)
        .await
        .map_err(|e| fail("connecting to", e))?;
    stream
        .write_all(&[prefix, ticket].concat())
        .await
        .map_err(|e| fail("sending the ticket to", e))?;
    let mut reply = [0u8; 256];
    let (n, fd) = loop {
        stream.readable().await.map_err(|e| fail("waiting on", e))?;
        match stream.try_io(Interest::READABLE, || recv_fd(&stream, &mut reply)) {
            Ok(got) => break got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(fail("receiving from", e)),
        }
    };
    match (reply.first(), fd) {
        (Some(0), Some(fd)) if n == 1 => Ok(fd),
        _ => Err(CallError::Handoff(format!(
            "the kernel refused the ticket: {}",
            String::from_utf8_lossy(reply.get(1..n).unwrap_or_default())
        ))),
    }
}

/// One `recvmsg`: the bytes received and the fd that came with them, if any.
fn recv_fd(stream: &UnixStream, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just installed `raw` in our table; we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                fd.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, fd))
}
