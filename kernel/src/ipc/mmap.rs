//! File mappings: the descriptor a managed process maps a VFS file through.
//!
//! The kernel only opens: `MmapOpen` walks to the file through the VFS's confined
//! walk (`openat2(RESOLVE_BENEATH)`), reopens it through `/proc/self/fd` with the
//! mode the grant allows (`O_RDONLY`, or `O_RDWR` for a writable mapping) so the
//! process gets an open file description of its own, and hands it over like a
//! pipe end. The process then calls `mmap(MAP_SHARED)`, `msync` and `munmap`
//! itself (`agentos_client::mmap`): its stores land in the file's page cache,
//! where every other mapping and every `read` sees them, and the kernel never
//! carries the bytes. Linux refuses `PROT_WRITE` with `MAP_SHARED` on an
//! `O_RDONLY` description (`EACCES`), so a read-only grant is a read-only
//! mapping however the process asks. The kernel keeps nothing: the description
//! lives as long as the process holds the fd or the mapping.

use std::os::fd::{AsFd, OwnedFd};

use nix::{fcntl::OFlag, sys::stat::SFlag};

use super::fdtable::reopen;
use crate::error::KernelError;

/// A description of the file `walked` names that the caller may map:
/// `O_RDWR` when `writable`, else `O_RDONLY`; regular files only.
pub fn mappable(walked: &OwnedFd, writable: bool, path: &str) -> Result<OwnedFd, KernelError> {
    let st = nix::sys::stat::fstat(walked.as_fd())
        .map_err(|e| KernelError::Internal(format!("fstat {path}: {e}")))?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(KernelError::InvalidArgument(format!(
            "{path}: only a regular file can be mapped"
        )));
    }
    let flags = if writable {
        OFlag::O_RDWR
    } else {
        OFlag::O_RDONLY
    };
    reopen(walked, flags)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    fn map(fd: &OwnedFd, prot: libc::c_int) -> Result<(), nix::errno::Errno> {
        // SAFETY: a new mapping of one page, unmapped at once.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            );
            if p == libc::MAP_FAILED {
                return Err(nix::errno::Errno::last());
            }
            libc::munmap(p, 4096);
        }
        Ok(())
    }

    #[test]
    fn read_only_descriptions_refuse_a_writable_shared_mapping() {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-mmap-")
            .tempdir()
            .unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, [7u8; 4096]).unwrap();
        let walked = OwnedFd::from(std::fs::File::open(&file).unwrap());
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let ro = mappable(&walked, false, "f").unwrap();
        assert_eq!(map(&ro, rw), Err(nix::errno::Errno::EACCES));
        assert_eq!(map(&ro, libc::PROT_READ), Ok(()));
        assert_eq!(map(&mappable(&walked, true, "f").unwrap(), rw), Ok(()));
        let d = OwnedFd::from(std::fs::File::open(dir.path()).unwrap());
        assert!(matches!(
            mappable(&d, false, "/"),
            Err(KernelError::InvalidArgument(_))
        ));
    }
}
