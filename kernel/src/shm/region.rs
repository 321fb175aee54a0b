//! A shared-memory region: a sealed memfd mapped into the kernel. A client receives
//! the memfd (through [`super::Broker`]) and maps it itself; the seals guarantee it
//! can neither shrink the region under the kernel's mapping (which would turn the
//! kernel's next access into SIGBUS) nor write into it through a mapping of its own.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    ptr::NonNull,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

/// What a client may do with a region's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAccess {
    /// Map them read-only: the kernel fills them (stream reads).
    Read,
    /// Map them writable: the client fills them (stream writes).
    ReadWrite,
}

impl ClientAccess {
    /// The seals a region carries once the kernel's own mapping is in place: it
    /// never shrinks or grows, and a read's region can be mapped writable by no one.
    #[cfg(target_os = "linux")]
    pub(super) fn seals(self) -> libc::c_int {
        let fixed = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        match self {
            Self::Read => fixed | libc::F_SEAL_FUTURE_WRITE,
            Self::ReadWrite => fixed,
        }
    }
}

/// A memfd mapped read-write into the kernel, and nowhere writable else.
pub struct Region {
    fd: OwnedFd,
    base: NonNull<u8>,
    len: usize,
    /// This region's share of the broker's budget, given back on drop.
    _charge: Charge,
}

// SAFETY: the mapping is plain shared memory, valid until drop; the region only
// hands out raw pointers into it (through `SharedBuf`), never references.
unsafe impl Send for Region {}
// SAFETY: as above; nothing in `Region` itself is mutated after construction.
unsafe impl Sync for Region {}

impl Region {
    /// A zeroed region of `len` bytes, named `name` in
    /// `/proc/PID/fd` (`/memfd:NAME`), paid for by `charge` (returned on every path).
    pub(super) fn new(
        name: &std::ffi::CStr,
        charge: Charge,
        access: ClientAccess,
    ) -> io::Result<Self> {
        let len = charge.len;
        let fd = memfd(name)?;
        #[cfg(not(target_os = "linux"))]
        let _ = access; // no seals to add
        nix::unistd::ftruncate(&fd, len as libc::off_t)?;
        // Not MAP_POPULATE: a stream touches only the slots its round trip needs,
        // and faulting in all of a 16 MiB region cost ~10 ms per stream here.
        // SAFETY: a new shared mapping of the whole memfd; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let region = Self {
            fd,
            base: NonNull::new(base.cast()).expect("mmap does not return NULL on success"),
            len,
            _charge: charge,
        };
        // SAFETY: a valid fd and seal set; checked.
        #[cfg(target_os = "linux")]
        if unsafe { libc::fcntl(region.fd.as_raw_fd(), libc::F_ADD_SEALS, access.seals()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(region)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memfd, to hand to a client.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The `len` bytes at `start`, as a buffer an I/O operation may fill; it keeps
    /// the region mapped for as long as the operation holds it.
    ///
    /// # Panics
    /// If the range is not inside the region.
    pub fn slice(self: &Arc<Self>, start: usize, len: usize) -> SharedBuf {
        assert!(
            start.checked_add(len).is_some_and(|end| end <= self.len),
            "{start}+{len} is outside a region of {} bytes",
            self.len
        );
        SharedBuf {
            region: Arc::clone(self),
            start,
            len,
        }
    }
}

impl AsFd for Region {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no `SharedBuf` is left
        // (each holds an `Arc` of the region).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// `len` bytes taken from a budget of live region bytes, given back on drop.
pub(super) struct Charge {
    budget: Arc<AtomicUsize>,
    len: usize,
}

impl Charge {
    /// Takes `len` bytes from `budget` if that leaves it at most `limit`.
    pub(super) fn take(budget: &Arc<AtomicUsize>, len: usize, limit: usize) -> Option<Self> {
        budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len).filter(|&total| total <= limit)
            })
            .ok()?;
        Some(Self {
            budget: Arc::clone(budget),
            len,
        })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.fetch_sub(self.len, Ordering::AcqRel);
    }
}

/// A range of a [`Region`] that I/O fills or drains.
///
/// The client maps the same pages. The kernel fills a read's slots through raw
/// pointers only, and reads a write's slots ([`SharedBuf::as_slice`]) only to copy
/// them out or hand them to the OS: a client that scribbles on a slot it gave away
/// changes nothing but the bytes of its own write.
pub struct SharedBuf {
    region: Arc<Region>,
    start: usize,
    len: usize,
}

impl SharedBuf {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first byte; `len()` bytes from it are writable for as long as `self` lives.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        // SAFETY: `start` is inside the mapping (checked in `Region::slice`).
        unsafe { self.region.base.as_ptr().add(self.start) }
    }

    /// The bytes a client put there.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: inside the mapping (checked in `Region::slice`), which `self`
        // keeps alive; see the type's comment on what a racing client can do.
        unsafe { std::slice::from_raw_parts(self.as_mut_ptr(), self.len) }
    }

    /// Copies `data` (at most `len()` bytes) into the buffer.
    pub fn fill(&self, data: &[u8]) -> usize {
        let n = data.len().min(self.len);
        // SAFETY: `n` bytes fit in the buffer, and `data` is ordinary memory that
        // cannot overlap the kernel's private view of a memfd.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_mut_ptr(), n) };
        n
    }
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`.
#[cfg(target_os = "linux")]
fn memfd(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: a valid C string and flags; the result is checked.
    let raw =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// No sealed memfd on other hosts (macOS): streams send their bytes inline, and the
/// start-up report says so.
#[cfg(not(target_os = "linux"))]
fn memfd(_name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "sealed memfd regions are Linux's; this host has none",
    ))
}
