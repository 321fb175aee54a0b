//! Shared-memory stream reads (Linux): the kernel reads a file straight into a
//! sealed memfd that both sides map, and only slot numbers cross the socket.
//!
//! [`Client::read_shared`] opens the stream, claims the memfd on `kernel.fds.sock`
//! with the stream's one-shot ticket (it arrives as `SCM_RIGHTS`) and maps it
//! read-only. [`SharedRead::next_chunk`] then yields each chunk in place; dropping
//! the chunk hands its slot back to the kernel, which refills it.

use std::{
    io::{self, IoSliceMut},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    ptr::NonNull,
};

use agentos_proto::v1::{
    self as pb, stream_open::Op, stream_request::Msg as In, stream_response::Msg as Out,
};
use tokio::{
    io::{AsyncWriteExt, Interest},
    net::UnixStream,
    sync::mpsc,
};
use tokio_stream::{StreamExt, wrappers::UnboundedReceiverStream};

use crate::{CallError, Client};

/// A shared-memory read in progress.
pub struct SharedRead {
    map: Mapping,
    slot_size: usize,
    slots: u32,
    inbound: tonic::Streaming<pb::StreamResponse>,
    releases: mpsc::UnboundedSender<pb::StreamRequest>,
    bytes: Option<u64>,
}

/// One chunk, in place in the shared region; its slot goes back on drop.
pub struct SharedChunk<'a> {
    data: &'a [u8],
    /// The chunk's offset in the file.
    pub offset: u64,
    slot: u32,
    releases: &'a mpsc::UnboundedSender<pb::StreamRequest>,
}

impl std::ops::Deref for SharedChunk<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data
    }
}

impl Drop for SharedChunk<'_> {
    fn drop(&mut self) {
        // Fails only once the stream is gone, when nobody needs the slot back.
        let _ = self.releases.send(pb::StreamRequest {
            msg: Some(In::Release(self.slot)),
        });
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
        let fds = self.fds_socket().map(Path::to_owned).ok_or_else(|| {
            CallError::Handoff("shared-memory streams need a Unix-socket connection".into())
        })?;
        let (releases, rx) = mpsc::unbounded_channel();
        let open = pb::StreamRequest {
            msg: Some(In::Open(pb::StreamOpen {
                op: Some(Op::Read(pb::StreamRead {
                    path: path.into(),
                    offset,
                    length,
                    chunk_size,
                    transport: pb::StreamTransport::SharedMemory as i32,
                })),
            })),
        };
        releases.send(open).expect("the receiver is alive");
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
        let fd = claim(&fds, &region.ticket).await?;
        Ok(SharedRead {
            map: Mapping::new(&fd, size)?,
            slot_size: region.slot_size as usize,
            slots: region.slots,
            inbound,
            releases,
            bytes: None,
        })
    }
}

impl SharedRead {
    /// The next chunk, or `None` once the kernel has sent the whole range. Drop
    /// the chunk before asking for the next one (the borrow makes you).
    pub async fn next_chunk(&mut self) -> Result<Option<SharedChunk<'_>>, CallError> {
        if self.bytes.is_some() {
            return Ok(None);
        }
        let msg = self.inbound.next().await.transpose()?.and_then(|m| m.msg);
        let c = match msg {
            Some(Out::Shared(c)) => c,
            Some(Out::Done(d)) => {
                self.bytes = Some(d.bytes);
                return Ok(None);
            }
            None => return Err(CallError::Empty("a shared-memory stream's end")),
            Some(_) => {
                return Err(CallError::Handoff(
                    "an inline message in a shared-memory stream".into(),
                ));
            }
        };
        if c.slot >= self.slots || c.len as usize > self.slot_size {
            return Err(CallError::Handoff(format!(
                "slot {} of {} bytes is outside the region",
                c.slot, c.len
            )));
        }
        let start = c.slot as usize * self.slot_size;
        Ok(Some(SharedChunk {
            data: self.map.range(start, c.len as usize),
            offset: c.offset,
            slot: c.slot,
            releases: &self.releases,
        }))
    }

    /// The bytes the kernel reported sent, once the stream has ended.
    pub fn bytes(&self) -> Option<u64> {
        self.bytes
    }
}

/// Presents `ticket` on the fd socket; the memfd, or the kernel's refusal.
async fn claim(fds: &Path, ticket: &[u8]) -> Result<OwnedFd, CallError> {
    let fail =
        |what: &str, e: io::Error| CallError::Handoff(format!("{what} {}: {e}", fds.display()));
    let mut stream = UnixStream::connect(fds)
        .await
        .map_err(|e| fail("connecting to", e))?;
    stream
        .write_all(ticket)
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

/// A read-only shared mapping of a whole memfd.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a plain read-only mapping, valid until drop.
unsafe impl Send for Mapping {}
// SAFETY: as above; only read through.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(fd: &OwnedFd, len: usize) -> Result<Self, CallError> {
        // SAFETY: a new read-only shared mapping of `fd`; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(CallError::Handoff(format!(
                "mapping the region: {}",
                io::Error::last_os_error()
            )));
        }
        Ok(Self {
            base: NonNull::new(base.cast()).expect("mmap does not return NULL on success"),
            len,
        })
    }

    /// Bytes `start..start + len`, which the caller has checked are inside.
    fn range(&self, start: usize, len: usize) -> &[u8] {
        assert!(start + len <= self.len, "range outside the mapping");
        // SAFETY: inside the mapping; the kernel leaves a slot alone while the
        // client holds it, and the memfd's seals keep it from shrinking.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(start), len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
