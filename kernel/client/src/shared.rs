//! Shared-memory streams (Linux): the bytes travel through a sealed memfd that both
//! sides map, and only slot numbers cross the socket.
//!
//! [`Client::read_shared`] and [`Client::write_shared`] open the stream, claim the
//! memfd on `kernel.fds.sock` with the stream's one-shot ticket (it arrives as
//! `SCM_RIGHTS`) and map it: read-only for a read, writable for a write.
//! [`SharedRead::next_chunk`] yields each chunk in place, and dropping the chunk
//! hands its slot back to the kernel, which refills it. [`SharedWrite::write`]
//! copies into free slots (the kernel hands each back once written out), and
//! [`SharedWrite::finish`] commits.
//!
//! Releases and announcements go out in bursts: each message handed to the
//! connection's task may wake it, and on a VM that wake costs the caller tens of
//! µs. They are held until half the region's slots are named, or until the client
//! would otherwise wait for the kernel (which may be waiting for them).

use std::{
    io::{self, IoSliceMut},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    pin::Pin,
    sync::Mutex,
    task::{Context, Poll, Waker},
};

use agentos_proto::v1::{
    self as pb, stream_open::Op, stream_request::Msg as In, stream_response::Msg as Out,
};
use tokio::{
    io::{AsyncWriteExt, Interest},
    net::UnixStream,
    sync::mpsc,
};
use tokio_stream::{Stream, StreamExt, wrappers::UnboundedReceiverStream};

use crate::{CallError, Client, mapping::Mapping};

/// A stream whose region is claimed and mapped.
struct Opened {
    map: Mapping,
    slot_size: usize,
    slots: u32,
    inbound: tonic::Streaming<pb::StreamResponse>,
    requests: mpsc::UnboundedSender<pb::StreamRequest>,
    /// Messages not sent yet, to go out in one burst.
    held: Mutex<Vec<pb::StreamRequest>>,
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
        self.stream.hold(In::Release(self.slot));
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
            stream,
            offset: 0,
        })
    }

    /// Opens the stream, then claims and maps its region.
    async fn open_shared(&mut self, op: Op, writable: bool) -> Result<Opened, CallError> {
        let fds = self.fds_socket().map(Path::to_owned).ok_or_else(|| {
            CallError::Handoff("shared-memory streams need a Unix-socket connection".into())
        })?;
        let (requests, rx) = mpsc::unbounded_channel();
        let open = pb::StreamRequest {
            msg: Some(In::Open(pb::StreamOpen { op: Some(op) })),
        };
        requests.send(open).expect("the receiver is alive");
        let mut inbound = self
            .stream_syscall(UnboundedReceiverStream::new(rx))
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
        let fd = claim(&fds, self.fds_prefix(), &region.ticket).await?;
        Ok(Opened {
            map: Mapping::new(&fd, size, writable)
                .map_err(|e| CallError::Handoff(format!("mapping the region: {e}")))?,
            slot_size: region.slot_size as usize,
            slots: region.slots,
            inbound,
            requests,
            held: Mutex::default(),
        })
    }
}

impl Opened {
    /// The next message's payload; `what` names what was expected, for errors.
    /// Sends what is held first unless a message is already there.
    async fn next(&mut self, what: &'static str) -> Result<Out, CallError> {
        let ready =
            match Pin::new(&mut self.inbound).poll_next(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(item) => item,
                Poll::Pending => {
                    self.flush();
                    self.inbound.next().await
                }
            };
        ready
            .transpose()?
            .and_then(|m| m.msg)
            .ok_or(CallError::Empty(what))
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

    /// Holds `msg` for the next burst; sends the burst once it names half the slots.
    fn hold(&self, msg: In) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.push(pb::StreamRequest { msg: Some(msg) });
        if held.len() >= (self.slots as usize / 2).max(1) {
            self.send_all(&mut held);
        }
    }

    /// Sends what is held.
    fn flush(&self) {
        self.send_all(&mut self.held.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn send_all(&self, held: &mut Vec<pb::StreamRequest>) {
        for msg in held.drain(..) {
            // Fails only once the stream is gone, when the next receive reports why.
            let _ = self.requests.send(msg);
        }
    }
}

impl SharedRead {
    /// The next chunk, or `None` once the kernel has sent the whole range. Drop
    /// the chunk before asking for the next one (the borrow makes you).
    pub async fn next_chunk(&mut self) -> Result<Option<SharedChunk<'_>>, CallError> {
        if self.bytes.is_some() {
            return Ok(None);
        }
        let c = match self.stream.next("a shared-memory read's end").await? {
            Out::Shared(c) => c,
            Out::Done(d) => {
                self.bytes = Some(d.bytes);
                return Ok(None);
            }
            _ => return Err(unexpected("read")),
        };
        let start = self.stream.slot_range(c.slot, c.len as usize)?;
        Ok(Some(SharedChunk {
            data: self.stream.map.range(start, c.len as usize),
            offset: c.offset,
            slot: c.slot,
            stream: &self.stream,
        }))
    }

    /// The bytes the kernel reported sent, once the stream has ended.
    pub fn bytes(&self) -> Option<u64> {
        self.bytes
    }
}

impl SharedWrite {
    /// Copies `data` into free slots and sends them (in bursts: the last ones may
    /// go out with the next call or with [`Self::finish`]), waiting for the kernel
    /// to hand slots back when none is free.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), CallError> {
        while !data.is_empty() {
            let slot = match self.free.pop() {
                Some(s) => s,
                None => self.released().await?,
            };
            let n = data.len().min(self.stream.slot_size);
            let start = self.stream.slot_range(slot, n)?;
            self.stream
                .map
                .write(start, &data[..n])
                .map_err(|e| CallError::Handoff(format!("filling slot {slot}: {e}")))?;
            self.stream.hold(In::Shared(pb::SharedChunk {
                slot,
                offset: self.offset,
                len: n as u32,
            }));
            self.offset += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    /// Commits the write (for a replace, the new content appears now); the bytes
    /// the kernel wrote.
    pub async fn finish(mut self) -> Result<u64, CallError> {
        self.stream.hold(In::Finish(pb::StreamFinish {}));
        self.stream.flush();
        loop {
            match self.stream.next("a shared-memory write's end").await? {
                Out::Release(_) => {}
                Out::Done(d) => return Ok(d.bytes),
                _ => return Err(unexpected("write")),
            }
        }
    }

    /// Waits for the kernel to hand a slot back.
    async fn released(&mut self) -> Result<u32, CallError> {
        match self.stream.next("a slot released").await? {
            Out::Release(s) if s < self.stream.slots => Ok(s),
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
