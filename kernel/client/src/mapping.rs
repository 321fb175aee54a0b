//! Shared mappings (Linux): [`Mapping`], one `mmap(MAP_SHARED)` of a descriptor
//! the kernel handed over (a shared-memory segment, a stream's region, a VFS
//! file), unmapped on drop; and [`Client::map_file`], which maps a VFS file.
//!
//! A mapping of a file is the file's page cache: stores are visible at once to
//! every other mapping and to `read`, and [`Mapping::sync`] (`msync(MS_SYNC)`)
//! writes them back to the disk. The kernel opens the file (its confined walk,
//! its grants) and hands the fd over; it never carries the bytes. A read-only
//! grant gives an `O_RDONLY` descriptor, which Linux refuses to map writable
//! (`EACCES` from [`Mapping::new`]).
//!
//! Others may write the memory while this process reads it: the accessors copy
//! bytes in and out ([`Mapping::read_into`], [`Mapping::write`]) rather than
//! lend references, except [`Mapping::range`] for regions the protocol keeps
//! still (a stream's slot while the client holds it).

use std::{
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    ptr::NonNull,
};

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};

use crate::{CallError, Client};

/// A shared mapping of the first `len` bytes of a descriptor.
pub struct Mapping {
    base: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: a plain shared mapping, valid until drop; every access copies or goes
// through atomics the caller chooses.
unsafe impl Send for Mapping {}
// SAFETY: as above; concurrent writers are the protocol's business (as with
// another process writing the same memory).
unsafe impl Sync for Mapping {}

fn out_of_range(start: usize, len: usize, size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{len} bytes at {start} are outside a mapping of {size}"),
    )
}

impl Mapping {
    /// Maps `len` bytes of `fd` from offset 0, `PROT_READ` (and `PROT_WRITE`
    /// when `writable`), `MAP_SHARED`. Fails as `mmap` does: `EACCES` for a
    /// writable mapping of a read-only descriptor, `EINVAL` for `len` 0.
    pub fn new<F: AsFd + ?Sized>(fd: &F, len: usize, writable: bool) -> io::Result<Self> {
        Self::at(fd, 0, len, writable)
    }

    /// As [`Mapping::new`], of `len` bytes from `offset` (a multiple of the page
    /// size, else `EINVAL`).
    pub fn at<F: AsFd + ?Sized>(
        fd: &F,
        offset: u64,
        len: usize,
        writable: bool,
    ) -> io::Result<Self> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a new shared mapping of `fd`, owned by the value returned.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_fd().as_raw_fd(),
                offset,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            base: NonNull::new(base.cast()).expect("mmap does not return NULL on success"),
            len,
            writable,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The first byte (page-aligned), for atomics placed in the mapping.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.base
    }

    fn check(&self, start: usize, len: usize) -> io::Result<*mut u8> {
        match start.checked_add(len) {
            Some(end) if end <= self.len => {
                // SAFETY: `start <= len` of the mapping.
                Ok(unsafe { self.base.as_ptr().add(start) })
            }
            _ => Err(out_of_range(start, len, self.len)),
        }
    }

    /// Copies `buf.len()` bytes from `start` into `buf`.
    pub fn read_into(&self, start: usize, buf: &mut [u8]) -> io::Result<()> {
        let p = self.check(start, buf.len())?;
        // SAFETY: inside the mapping (checked); a copy, so a concurrent writer
        // can change what is read but not the memory it is read into.
        unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` to `start`; a read-only mapping refuses.
    pub fn write(&self, start: usize, data: &[u8]) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the mapping is read-only",
            ));
        }
        let p = self.check(start, data.len())?;
        // SAFETY: inside a writable mapping (checked).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    /// Bytes `start..start + len` in place, for a region nobody else writes while
    /// the borrow lives (the protocol's promise, e.g. a stream slot the kernel
    /// has handed over); panics outside the mapping (callers check first).
    pub fn range(&self, start: usize, len: usize) -> &[u8] {
        let p = self.check(start, len).expect("range inside the mapping");
        // SAFETY: inside the mapping; nobody writes it meanwhile (see above).
        unsafe { std::slice::from_raw_parts(p, len) }
    }

    /// `msync(MS_SYNC)`: writes the mapping's dirty pages back to the file.
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: the whole mapping, which is live.
        if unsafe { libc::msync(self.base.as_ptr().cast(), self.len, libc::MS_SYNC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl Client {
    /// The descriptor of the VFS file `path`, to map: `O_RDWR` when `writable`,
    /// else `O_RDONLY` (`mmap_open`, then the ticket redeemed).
    pub async fn open_mappable(
        &mut self,
        path: &str,
        writable: bool,
    ) -> Result<OwnedFd, CallError> {
        let open = Call::MmapOpen(pb::MmapOpen {
            path: path.into(),
            writable,
        });
        match self.call(open).await? {
            Value::FdTicket(t) => self.claim_fd(&t).await,
            _ => Err(CallError::Empty("mmap_open")),
        }
    }

    /// Maps all of the VFS file `path` (shared, writable or not); `munmap` when
    /// the mapping drops. An empty file cannot be mapped (`EINVAL`).
    pub async fn map_file(&mut self, path: &str, writable: bool) -> Result<Mapping, CallError> {
        let fd = self.open_mappable(path, writable).await?;
        let fail = |e: io::Error| CallError::Handoff(format!("mapping {path}: {e}"));
        let size = std::fs::File::from(fd.try_clone().map_err(fail)?)
            .metadata()
            .map_err(fail)?
            .len();
        let len = usize::try_from(size).map_err(|_| fail(io::ErrorKind::FileTooLarge.into()))?;
        Mapping::new(&fd, len, writable).map_err(fail)
    }
}
