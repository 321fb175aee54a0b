//! Descriptor tables: each caller's numbered open files, real fds the kernel
//! holds for it.
//!
//! `FdOpen` opens a file of a LocalFS mount through the VFS's confined walk
//! (`openat2(RESOLVE_BENEATH)`), then reopens it through `/proc/self/fd` so the
//! entry owns an open file description of its own (the VFS may cache and share
//! the one its walk returned). `dup`/`dup2` are real `dup`s: the copies share
//! that description, so `lseek` on one moves the other, as in a process's own
//! table. A managed process can take any entry as a real fd of its own
//! (`FdHandOver`, a ticket redeemed on its socket), and the two then share the
//! description too: the kernel's `lseek` is the process's offset.

use std::{
    collections::{BTreeMap, HashMap},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::{Arc, Mutex},
};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::error::KernelError;

/// Most entries in one caller's table.
pub const MAX_FDS: usize = 256;
/// The first number handed out (0–2 are the process's stdio).
pub const FIRST_FD: u32 = 3;

/// How an entry's file is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Append,
    /// Created (it must not exist), open read-write.
    Create,
}

impl Access {
    /// The flags of the entry's own description.
    pub fn flags(self) -> OFlag {
        match self {
            Self::Read => OFlag::O_RDONLY,
            Self::Write => OFlag::O_WRONLY,
            Self::Append => OFlag::O_WRONLY | OFlag::O_APPEND,
            Self::Create => OFlag::O_RDWR,
        }
    }
}

/// A new open file description of the file `fd` names, with `flags`.
pub fn reopen(fd: &OwnedFd, flags: OFlag) -> Result<OwnedFd, KernelError> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::fcntl::open(
        path.as_str(),
        flags | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| KernelError::Internal(format!("reopening an open file: {e}")))
}

/// Every caller's table, by caller key.
#[derive(Default)]
pub struct FdTables {
    tables: Mutex<HashMap<String, BTreeMap<u32, Arc<OwnedFd>>>>,
}

fn bad_fd(n: u32) -> KernelError {
    KernelError::InvalidArgument(format!("fd {n} is not open (EBADF)"))
}

/// The lowest free number at or above `from`.
fn lowest_free(t: &BTreeMap<u32, Arc<OwnedFd>>, from: u32) -> u32 {
    let mut n = from;
    while t.contains_key(&n) {
        n += 1;
    }
    n
}

impl FdTables {
    fn with<T>(
        &self,
        who: &str,
        f: impl FnOnce(&mut BTreeMap<u32, Arc<OwnedFd>>) -> Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        let mut tables = self.tables.lock().expect("fd tables lock");
        f(tables.entry(who.to_owned()).or_default())
    }

    fn room(t: &BTreeMap<u32, Arc<OwnedFd>>) -> Result<(), KernelError> {
        if t.len() >= MAX_FDS {
            return Err(KernelError::ResourceExhausted(format!(
                "{MAX_FDS} fds open, the limit (EMFILE)"
            )));
        }
        Ok(())
    }

    /// Enters `fd` at the lowest free number.
    pub fn insert(&self, who: &str, fd: OwnedFd) -> Result<u32, KernelError> {
        self.with(who, |t| {
            Self::room(t)?;
            let n = lowest_free(t, FIRST_FD);
            t.insert(n, Arc::new(fd));
            Ok(n)
        })
    }

    pub fn get(&self, who: &str, n: u32) -> Result<Arc<OwnedFd>, KernelError> {
        self.with(who, |t| t.get(&n).cloned().ok_or_else(|| bad_fd(n)))
    }

    pub fn close(&self, who: &str, n: u32) -> Result<(), KernelError> {
        self.with(who, |t| t.remove(&n).map(drop).ok_or_else(|| bad_fd(n)))
    }

    /// `dup`: a new number for the same description.
    pub fn dup(&self, who: &str, n: u32) -> Result<u32, KernelError> {
        self.with(who, |t| {
            Self::room(t)?;
            let copy = dup_of(t.get(&n).ok_or_else(|| bad_fd(n))?)?;
            let m = lowest_free(t, FIRST_FD);
            t.insert(m, Arc::new(copy));
            Ok(m)
        })
    }

    /// `dup2`: `to` becomes a copy of `n` (closing what `to` was).
    pub fn dup2(&self, who: &str, n: u32, to: u32) -> Result<u32, KernelError> {
        if to as usize >= MAX_FDS + FIRST_FD as usize {
            return Err(KernelError::InvalidArgument(format!(
                "fd {to}: numbers stop at {} (EBADF)",
                MAX_FDS + FIRST_FD as usize - 1
            )));
        }
        self.with(who, |t| {
            let copy = dup_of(t.get(&n).ok_or_else(|| bad_fd(n))?)?;
            if n == to {
                return Ok(to);
            }
            if !t.contains_key(&to) {
                Self::room(t)?;
            }
            t.insert(to, Arc::new(copy));
            Ok(to)
        })
    }

    /// `lseek` on the entry's description; the new offset.
    pub fn lseek(&self, who: &str, n: u32, offset: i64, whence: i32) -> Result<u64, KernelError> {
        let fd = self.get(who, n)?;
        let whence = match whence {
            libc::SEEK_SET => nix::unistd::Whence::SeekSet,
            libc::SEEK_CUR => nix::unistd::Whence::SeekCur,
            libc::SEEK_END => nix::unistd::Whence::SeekEnd,
            w => {
                return Err(KernelError::InvalidArgument(format!(
                    "whence {w}: SEEK_SET (0), SEEK_CUR (1) or SEEK_END (2)"
                )));
            }
        };
        nix::unistd::lseek(fd.as_fd(), offset, whence)
            .map(|o| o as u64)
            .map_err(|e| KernelError::InvalidArgument(format!("lseek fd {n}: {e}")))
    }

    /// `fcntl(F_GETFL)`, or `F_SETFL` of `O_APPEND`/`O_NONBLOCK` (what Linux lets
    /// F_SETFL change on a file); the flags after.
    pub fn fcntl(&self, who: &str, n: u32, set: Option<i32>) -> Result<i32, KernelError> {
        let fd = self.get(who, n)?;
        let err = |e: nix::Error| KernelError::InvalidArgument(format!("fcntl fd {n}: {e}"));
        if let Some(flags) = set {
            let allowed = libc::O_APPEND | libc::O_NONBLOCK;
            if flags & !allowed != 0 {
                return Err(KernelError::InvalidArgument(format!(
                    "F_SETFL {flags:#o}: only O_APPEND and O_NONBLOCK may change"
                )));
            }
            fcntl(
                fd.as_fd(),
                FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags)),
            )
            .map_err(err)?;
        }
        fcntl(fd.as_fd(), FcntlArg::F_GETFL).map_err(err)
    }

    /// Drops `who`'s table (its exit).
    pub fn release(&self, who: &str) {
        self.tables.lock().expect("fd tables lock").remove(who);
    }
}

fn dup_of(fd: &OwnedFd) -> Result<OwnedFd, KernelError> {
    fd.try_clone()
        .map_err(|e| KernelError::ResourceExhausted(format!("dup: {e}")))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file(content: &[u8]) -> (tempfile::NamedTempFile, OwnedFd) {
        let mut f = tempfile::Builder::new()
            .prefix("agentos-test-fd-")
            .tempfile()
            .unwrap();
        f.write_all(content).unwrap();
        let fd = OwnedFd::from(f.reopen().unwrap());
        (f, fd)
    }

    #[test]
    fn dup_shares_the_offset_and_close_frees_the_number() {
        let t = FdTables::default();
        let (_f, fd) = file(b"0123456789");
        let a = t.insert("me", fd).unwrap();
        assert_eq!(a, FIRST_FD);
        let b = t.dup("me", a).unwrap();
        assert_eq!(b, FIRST_FD + 1);
        assert_eq!(t.lseek("me", a, 4, libc::SEEK_SET).unwrap(), 4);
        // one description: b moved too
        assert_eq!(t.lseek("me", b, 0, libc::SEEK_CUR).unwrap(), 4);
        let mut buf = [0u8; 2];
        nix::unistd::read(t.get("me", b).unwrap().as_fd(), &mut buf).unwrap();
        assert_eq!(&buf, b"45");
        assert_eq!(t.lseek("me", a, 0, libc::SEEK_CUR).unwrap(), 6);
        assert_eq!(t.lseek("me", a, 0, libc::SEEK_END).unwrap(), 10);
        t.close("me", a).unwrap();
        assert!(t.close("me", a).is_err(), "EBADF");
        assert_eq!(t.dup("me", b).unwrap(), FIRST_FD, "the lowest free number");
        assert!(t.get("other", b).is_err(), "tables are per caller");
        assert!(t.lseek("me", b, 0, 7).is_err());
    }

    #[test]
    fn dup2_replaces_and_fcntl_sets_only_what_linux_allows() {
        let t = FdTables::default();
        let (_f, fd) = file(b"x");
        let a = t.insert("me", fd).unwrap();
        assert_eq!(t.dup2("me", a, 40).unwrap(), 40);
        assert_eq!(t.dup2("me", a, 40).unwrap(), 40, "again: replaced");
        assert_eq!(t.dup2("me", a, a).unwrap(), a);
        assert!(t.dup2("me", 99, 41).is_err());
        let flags = t.fcntl("me", 40, Some(libc::O_APPEND)).unwrap();
        assert_ne!(flags & libc::O_APPEND, 0);
        // shared description: the flag is on the original too
        assert_ne!(t.fcntl("me", a, None).unwrap() & libc::O_APPEND, 0);
        assert!(t.fcntl("me", a, Some(libc::O_TRUNC)).is_err());
        t.release("me");
        assert!(t.get("me", a).is_err());
    }
}
