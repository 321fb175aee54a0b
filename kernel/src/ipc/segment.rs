//! Shared-memory segments: a memfd named `agentos-shm`, sealed to its size
//! (`F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL`) and mapped by the kernel, made by
//! the shared-memory [`Broker`](crate::shm::Broker) (which budgets it).
//!
//! A process that attaches receives a descriptor and maps it itself; the bytes
//! then move between processes through the one mapping, never through the kernel.
//! A writable attach gets the memfd; a read-only one gets a new `O_RDONLY`
//! description of it (reopened through `/proc/self/fd`), which Linux refuses to
//! map `PROT_WRITE` with `MAP_SHARED`, so a read-only grant is a read-only mapping.

use std::{
    collections::{BTreeMap, HashMap},
    os::fd::{AsFd, AsRawFd},
    sync::{Arc, Mutex},
};

use nix::fcntl::OFlag;
#[cfg(target_os = "linux")]
use nix::fcntl::{FcntlArg, fcntl};

use super::{check_name, check_owner, not_found};
use crate::{
    error::KernelError,
    shm::{Broker, ClientAccess, Handout, Region},
};

/// Largest segment.
pub const MAX_SIZE: u64 = 64 << 20;
/// Most bytes one `ShmRead` returns.
pub const MAX_READ: u64 = 16 << 20;

/// A segment: its region and who has it attached.
pub struct Segment {
    pub name: String,
    pub owner: Option<u32>,
    region: Arc<Region>,
    /// Attach count by process (0: the user).
    attached: Mutex<BTreeMap<u32, u32>>,
}

/// A segment's state, for `ShmStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentStats {
    pub size: u64,
    pub attached: Vec<u32>,
    pub seals: i32,
}

impl Segment {
    /// The bytes `offset..offset+len`, or an error naming the bounds.
    fn range(&self, offset: u64, len: u64) -> Result<(usize, usize), KernelError> {
        let size = self.region.len() as u64;
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok((offset as usize, len as usize)),
            _ => Err(KernelError::InvalidArgument(format!(
                "{len} bytes at {offset} are outside segment {:?} of {size} bytes",
                self.name
            ))),
        }
    }

    /// A descriptor for `who` to map: the memfd itself, or a read-only one.
    pub fn attach(&self, who: u32, writable: bool) -> Result<Handout, KernelError> {
        let fd: Handout = if writable {
            Arc::clone(&self.region) as Handout
        } else {
            let path = format!("/proc/self/fd/{}", self.region.as_fd().as_raw_fd());
            let ro = nix::fcntl::open(
                path.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| KernelError::Internal(format!("reopening the segment read-only: {e}")))?;
            Arc::new(ro)
        };
        *self
            .attached
            .lock()
            .expect("segment lock")
            .entry(who)
            .or_default() += 1;
        Ok(fd)
    }

    /// Records that `who` unmapped it.
    pub fn detach(&self, who: u32) -> Result<(), KernelError> {
        let mut attached = self.attached.lock().expect("segment lock");
        match attached.get_mut(&who) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => drop(attached.remove(&who)),
            None => {
                return Err(KernelError::FailedPrecondition(format!(
                    "segment {:?} is not attached by this caller",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// Copies `data` in at `offset` through the kernel's mapping.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<u64, KernelError> {
        let (start, len) = self.range(offset, data.len() as u64)?;
        Ok(self.region.slice(start, len).fill(data) as u64)
    }

    /// Copies `len` bytes out from `offset` (0: to the end).
    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, KernelError> {
        let len = match len {
            0 => (self.region.len() as u64).saturating_sub(offset),
            n => n,
        };
        if len > MAX_READ {
            return Err(KernelError::InvalidArgument(format!(
                "a shared-memory read returns at most {MAX_READ} bytes; map the segment for more"
            )));
        }
        let (start, len) = self.range(offset, len)?;
        Ok(self.region.slice(start, len).as_slice().to_vec())
    }

    pub fn stats(&self) -> SegmentStats {
        SegmentStats {
            size: self.region.len() as u64,
            attached: self
                .attached
                .lock()
                .expect("segment lock")
                .keys()
                .copied()
                .collect(),
            #[cfg(target_os = "linux")]
            seals: fcntl(self.region.as_fd(), FcntlArg::F_GET_SEALS).unwrap_or(-1),
            // No seals off Linux (no segment is ever made there: no memfd).
            #[cfg(not(target_os = "linux"))]
            seals: -1,
        }
    }
}

/// The kernel's segments, by name.
#[derive(Default)]
pub struct Segments {
    by_name: Mutex<HashMap<String, Arc<Segment>>>,
}

impl Segments {
    /// A new zeroed segment of `size` bytes from `broker`'s budget.
    pub fn create(
        &self,
        broker: &Broker,
        name: &str,
        size: u64,
        owner: Option<u32>,
    ) -> Result<Arc<Segment>, KernelError> {
        check_name(name)?;
        if size == 0 || size > MAX_SIZE {
            return Err(KernelError::InvalidArgument(format!(
                "segment size {size}: 1 to {MAX_SIZE} bytes"
            )));
        }
        let mut segments = self.by_name.lock().expect("segments lock");
        if segments.contains_key(name) {
            return Err(KernelError::FailedPrecondition(format!(
                "a segment named {name:?} already exists"
            )));
        }
        let region = broker.region_named(c"agentos-shm", size as usize, ClientAccess::ReadWrite)?;
        let segment = Arc::new(Segment {
            name: name.to_owned(),
            owner,
            region,
            attached: Mutex::default(),
        });
        segments.insert(name.to_owned(), Arc::clone(&segment));
        Ok(segment)
    }

    pub fn get(&self, name: &str) -> Result<Arc<Segment>, KernelError> {
        self.by_name
            .lock()
            .expect("segments lock")
            .get(name)
            .cloned()
            .ok_or_else(|| not_found("segment", name))
    }

    /// Forgets the segment; mappings processes made stay valid (like `shm_unlink`).
    pub fn destroy(&self, name: &str, caller: Option<u32>) -> Result<(), KernelError> {
        let mut segments = self.by_name.lock().expect("segments lock");
        let s = segments
            .get(name)
            .ok_or_else(|| not_found("segment", name))?;
        check_owner("segment", name, s.owner, caller)?;
        segments.remove(name);
        Ok(())
    }

    /// Drops the segments `pid` created, and its attachments to the others.
    pub fn release(&self, pid: u32) {
        let mut segments = self.by_name.lock().expect("segments lock");
        segments.retain(|_, s| s.owner != Some(pid));
        for s in segments.values() {
            s.attached.lock().expect("segment lock").remove(&pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared mapping of `len` bytes of `fd`, or MAP_FAILED.
    fn map(fd: &Handout, len: usize, prot: libc::c_int) -> *mut libc::c_void {
        // SAFETY: a new mapping; callers check the result.
        unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_fd().as_raw_fd(),
                0,
            )
        }
    }

    #[test]
    fn two_mappings_of_one_segment_see_each_others_bytes_and_read_only_stays_so() {
        let broker = Broker::new(1 << 20);
        let segs = Segments::default();
        let s = segs.create(&broker, "t.s", 8192, None).unwrap();
        let seals = s.stats().seals;
        let want = libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
        assert_eq!(seals & want, want, "sealed to its size: {seals:#x}");
        let w = s.attach(1, true).unwrap();
        let r = s.attach(2, false).unwrap();
        assert_eq!(
            nix::unistd::ftruncate(w.as_fd(), 1 << 20),
            Err(nix::errno::Errno::EPERM),
            "a writer cannot grow it"
        );
        let wm = map(&w, 8192, libc::PROT_READ | libc::PROT_WRITE);
        assert_ne!(wm, libc::MAP_FAILED);
        assert_eq!(
            map(&r, 8192, libc::PROT_READ | libc::PROT_WRITE),
            libc::MAP_FAILED,
            "a read-only attach cannot map it writable"
        );
        let rm = map(&r, 8192, libc::PROT_READ);
        assert_ne!(rm, libc::MAP_FAILED);
        // SAFETY: both mappings are 8192 bytes long and live until the munmaps.
        unsafe {
            std::ptr::copy_nonoverlapping(b"shared".as_ptr(), wm.cast::<u8>().add(4000), 6);
            assert_eq!(
                std::slice::from_raw_parts(rm.cast::<u8>().add(4000), 6),
                b"shared"
            );
        }
        assert_eq!(s.read(4000, 6).unwrap(), b"shared");
        s.write(10, b"kernel").unwrap();
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                std::slice::from_raw_parts(rm.cast::<u8>().add(10), 6),
                b"kernel"
            );
            libc::munmap(wm, 8192);
            libc::munmap(rm, 8192);
        }
        assert_eq!(s.stats().attached, [1, 2]);
        s.detach(1).unwrap();
        assert!(s.detach(1).is_err());
        assert_eq!(s.stats().attached, [2]);
        assert!(s.write(8190, b"abc").is_err(), "past the end");
        assert!(s.read(u64::MAX, 2).is_err(), "overflow");
    }

    #[test]
    fn segments_come_from_the_budget_and_go_back_on_release() {
        let broker = Broker::new(64 << 10);
        let segs = Segments::default();
        segs.create(&broker, "a", 48 << 10, Some(5)).unwrap();
        let e = segs.create(&broker, "b", 32 << 10, None).err().unwrap();
        assert!(
            matches!(e, KernelError::Shm(crate::shm::ShmError::Exhausted { .. })),
            "{e}"
        );
        assert!(segs.create(&broker, "c", 0, None).is_err());
        assert!(segs.create(&broker, "a", 4096, None).is_err(), "taken");
        segs.release(5);
        assert_eq!(broker.used(), 0);
        segs.create(&broker, "b", 32 << 10, None).unwrap();
    }
}
