//! Control-file I/O: reads, writes, parsing, xattrs and tree removal, each failure a
//! [`CgroupError`] that names the file, the value and the errno.
//!
//! Writes never create files (as youki's `write_cgroup_file`): on cgroupfs every control
//! file exists or the controller is absent, and a unit test's tempdir root holds the
//! files a kernel would have.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};

use super::CgroupError;

/// Core v2 file: kills every process below the directory (Linux 5.14+).
pub(crate) const CGROUP_KILL: &str = "cgroup.kill";
/// Core file (v1 and v2): the processes of exactly this directory.
pub(crate) const CGROUP_PROCS: &str = "cgroup.procs";

/// Writes `value` to the control file `path` in one `write(2)`.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    };
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?
        .write_all(value.as_bytes())
        .map_err(err)
}

/// Reads a control file.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Whether a read or write failed because the file does not exist.
pub(crate) fn is_missing(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Read { source, .. } | CgroupError::Write { source, .. } | CgroupError::Open { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// Parses a single-value file such as `memory.current` or `pids.max`; `max` is
/// `u64::MAX`.
pub(crate) fn parse_single(path: &Path, content: &str) -> Result<u64, CgroupError> {
    let v = content.trim();
    if v == "max" {
        return Ok(u64::MAX);
    }
    v.parse().map_err(|_| CgroupError::Parse {
        path: path.to_owned(),
        content: content.to_owned(),
        why: "expected an unsigned integer or \"max\"",
    })
}

/// Reads a single-value file.
pub(crate) fn read_single(path: &Path) -> Result<u64, CgroupError> {
    parse_single(path, &read(path)?)
}

/// The value of `key` in a flat keyed file (`memory.stat`, `cpu.stat`,
/// `memory.events`, `pids.events`, `memory.oom_control`, `cgroup.events`): lines of
/// `key value`. `None` if there is no such line.
pub(crate) fn parse_keyed(
    path: &Path,
    content: &str,
    key: &str,
) -> Result<Option<u64>, CgroupError> {
    for line in content.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some(key) {
            continue;
        }
        return match it.next().map(str::parse::<u64>) {
            Some(Ok(v)) => Ok(Some(v)),
            _ => Err(CgroupError::Parse {
                path: path.to_owned(),
                content: line.to_owned(),
                why: "expected \"key <unsigned integer>\"",
            }),
        };
    }
    Ok(None)
}

/// Reads one key of a flat keyed file; a missing key is 0 (older kernels omit
/// counters that never fired on some files).
pub(crate) fn read_keyed(path: &Path, key: &str) -> Result<u64, CgroupError> {
    Ok(parse_keyed(path, &read(path)?, key)?.unwrap_or(0))
}

/// Creates a cgroup directory; an existing one is [`CgroupError::Exists`].
pub(crate) fn mkdir(path: &Path) -> Result<(), CgroupError> {
    fs::create_dir(path).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            CgroupError::Exists {
                path: path.to_owned(),
            }
        } else {
            CgroupError::Create {
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// The pids in `cgroup.procs` of `dir` and of every directory below it.
pub(crate) fn procs_below(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = Vec::new();
    for d in dirs_below(dir) {
        let file = d.join(CGROUP_PROCS);
        match read(&file) {
            Ok(s) => pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
            // A child cgroup removed while walking.
            Err(e) if is_missing(&e) && d != dir => {}
            Err(e) => return Err(e),
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// `dir` and every directory below it, parents before children.
pub(crate) fn dirs_below(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_owned()];
    let mut i = 0;
    while i < dirs.len() {
        if let Ok(rd) = fs::read_dir(&dirs[i]) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                }
            }
        }
        i += 1;
    }
    dirs
}

/// SIGKILLs every pid listed in `cgroup.procs` of `dir` (not below it).
pub(crate) fn sigkill_procs(dir: &Path) -> Result<(), CgroupError> {
    let procs = match read(&dir.join(CGROUP_PROCS)) {
        Ok(p) => p,
        Err(e) if is_missing(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        match nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(source) => {
                return Err(CgroupError::Signal {
                    pid,
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// How long [`rmdir`] retries while the kernel still counts exiting tasks.
const RMDIR_RETRIES: u32 = 100;
const RMDIR_PAUSE: Duration = Duration::from_millis(10);

/// Removes one (empty) cgroup directory, retrying on EBUSY for up to a second; a
/// missing directory is fine.
pub(crate) fn rmdir(dir: &Path) -> Result<(), CgroupError> {
    let mut last = Ok(());
    for _ in 0..RMDIR_RETRIES {
        last = fs::remove_dir(dir);
        match &last {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(RMDIR_PAUSE),
            _ => break,
        }
    }
    match last {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(CgroupError::Remove {
            path: dir.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Kills every process below `dir` (`cgroup.kill` on v2, else SIGKILL per pid) and
/// removes the directories, deepest first. Works on v1 and v2 directories.
pub fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let dirs = dirs_below(dir);
    for d in dirs.iter().rev() {
        // cgroup.kill is v2 on 5.14+; otherwise signal each process.
        if write(&d.join(CGROUP_KILL), "1").is_err() {
            sigkill_procs(d)?;
        }
        rmdir(d)?;
    }
    Ok(())
}

/// Extended attributes on cgroupfs directories (kernfs supports `user.*` on v1 and v2).
pub(crate) mod xattr {
    use std::{ffi::CString, io, os::unix::ffi::OsStrExt, path::Path};

    #[cfg(target_os = "linux")]
    use libc::{getxattr, setxattr};
    #[cfg(not(target_os = "linux"))]
    use macos::{getxattr, setxattr};

    /// macOS's calls take Linux's arguments plus a position (0: the whole value) and
    /// options; these take Linux's.
    #[cfg(not(target_os = "linux"))]
    mod macos {
        use libc::{c_char, c_int, c_void, size_t, ssize_t};

        /// # Safety
        ///
        /// As `setxattr(2)`.
        pub(super) unsafe fn setxattr(
            path: *const c_char,
            name: *const c_char,
            value: *const c_void,
            size: size_t,
            flags: c_int,
        ) -> c_int {
            // SAFETY: the caller's.
            unsafe { libc::setxattr(path, name, value, size, 0, flags) }
        }

        /// # Safety
        ///
        /// As `getxattr(2)`.
        pub(super) unsafe fn getxattr(
            path: *const c_char,
            name: *const c_char,
            value: *mut c_void,
            size: size_t,
        ) -> ssize_t {
            // SAFETY: the caller's.
            unsafe { libc::getxattr(path, name, value, size, 0, 0) }
        }
    }

    fn c(p: &Path) -> io::Result<CString> {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
    }

    pub(crate) fn set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
        let (p, n) = (c(path)?, CString::new(name).expect("constant name"));
        // SAFETY: valid C strings and a live slice of the given length.
        let rc = unsafe {
            setxattr(
                p.as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(crate) fn get(path: &Path, name: &str) -> io::Result<Vec<u8>> {
        let (p, n) = (c(path)?, CString::new(name).expect("constant name"));
        let mut buf = vec![0u8; 4096];
        // SAFETY: valid C strings and a live, writable buffer of the given length.
        let rc = unsafe { getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(rc as usize);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_values_and_max() {
        let p = Path::new("memory.max");
        assert_eq!(parse_single(p, "max\n").unwrap(), u64::MAX);
        assert_eq!(parse_single(p, "67108864\n").unwrap(), 64 << 20);
        let e = parse_single(p, "lots").unwrap_err();
        assert!(e.to_string().contains("memory.max"), "{e}");
    }

    #[test]
    fn keyed_files() {
        let p = Path::new("memory.events");
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_keyed(p, events, "oom_kill").unwrap(), Some(1));
        assert_eq!(parse_keyed(p, events, "max").unwrap(), Some(12));
        assert_eq!(parse_keyed(p, events, "absent").unwrap(), None);
        assert!(parse_keyed(p, "oom_kill x\n", "oom_kill").is_err());
    }

    #[test]
    fn writes_replace_and_never_create() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cpu.weight");
        let e = write(&f, "100").unwrap_err();
        assert!(is_missing(&e), "{e}");
        assert!(
            e.to_string().contains("\"100\"") && e.to_string().contains("os error 2"),
            "{e}"
        );
        fs::write(&f, "10000").unwrap();
        write(&f, "100").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "100");
    }

    #[test]
    fn procs_of_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CGROUP_PROCS), "10\n11\n").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub").join(CGROUP_PROCS), "12\n10\n").unwrap();
        assert_eq!(procs_below(dir.path()).unwrap(), vec![10, 11, 12]);
    }
}
