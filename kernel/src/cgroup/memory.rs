//! The memory controller, v2 and v1: the limit, usage, OOM kills and reclaim.
//!
//! # Limit semantics
//!
//! `memory_max` bounds RAM plus swap, the same on both versions: v2 writes `memory.max`
//! and `memory.swap.max = 0`; v1 writes `memory.limit_in_bytes` and
//! `memory.memsw.limit_in_bytes` to the same value (memsw counts memory + swap). Where
//! swap accounting is off (no `memory.swap.max` / `memory.memsw.*`), only RAM is bounded.
//!
//! # Reclaim (`trigger_gc`)
//!
//! * v2: `memory.reclaim` (Linux 5.19+) with the requested byte count, or the whole
//!   current charge when none is given. The kernel reclaims up to that much (clean page
//!   cache first, anonymous memory only to swap) and answers EAGAIN when it got less;
//!   that is not an error here.
//! * v1 has no bounded reclaim. The equivalent is `memory.force_empty`: the kernel
//!   reclaims everything reclaimable in the group (page cache, reclaimable slab, and
//!   anonymous memory if there is swap), retrying until the charge is 0 or reclaim stops
//!   making progress; the tasks keep running and fault pages back in as they touch them.
//!   The byte count is therefore ignored on v1. Lowering `memory.limit_in_bytes` for a
//!   moment would bound it, but any allocation in that window could OOM-kill the group,
//!   so it is not done.
//!
//! Both report what was freed as the drop in the group's charge, measured around the
//! write (other tasks' allocations in the meantime make it an estimate).

use super::{
    CgroupError, Limits, Site,
    files::{self, is_missing},
};

// v2 files.
const MEMORY_MAX: &str = "memory.max";
const MEMORY_SWAP_MAX: &str = "memory.swap.max";
const MEMORY_CURRENT: &str = "memory.current";
const MEMORY_PEAK: &str = "memory.peak";
const MEMORY_STAT: &str = "memory.stat";
const MEMORY_EVENTS: &str = "memory.events";
const MEMORY_RECLAIM: &str = "memory.reclaim";
// v1 files.
const MEMORY_LIMIT_IN_BYTES: &str = "memory.limit_in_bytes";
const MEMORY_MEMSW_LIMIT_IN_BYTES: &str = "memory.memsw.limit_in_bytes";
const MEMORY_USAGE_IN_BYTES: &str = "memory.usage_in_bytes";
const MEMORY_MAX_USAGE_IN_BYTES: &str = "memory.max_usage_in_bytes";
const MEMORY_OOM_CONTROL: &str = "memory.oom_control";
const MEMORY_FORCE_EMPTY: &str = "memory.force_empty";

/// Sets the limit (`Limits::UNLIMITED` lifts it).
pub(crate) fn apply(site: &Site, max: u64) -> Result<(), CgroupError> {
    match site {
        Site::V2(dir) => {
            let (mem, swap) = if max == Limits::UNLIMITED {
                ("max".to_owned(), "max")
            } else {
                (max.to_string(), "0")
            };
            files::write(&dir.join(MEMORY_MAX), &mem)?;
            match files::write(&dir.join(MEMORY_SWAP_MAX), swap) {
                Err(e) if is_missing(&e) => Ok(()),
                other => other,
            }
        }
        Site::V1(dir) => {
            let value = if max == Limits::UNLIMITED {
                "-1".to_owned()
            } else {
                max.to_string()
            };
            let mem = dir.join(MEMORY_LIMIT_IN_BYTES);
            let memsw = dir.join(MEMORY_MEMSW_LIMIT_IN_BYTES);
            if !memsw.exists() {
                return files::write(&mem, &value);
            }
            // The kernel keeps memsw >= mem at every step: raise memsw first, lower it last.
            let current = files::read_single(&mem)?;
            if max > current {
                files::write(&memsw, &value)?;
                files::write(&mem, &value)
            } else {
                files::write(&mem, &value)?;
                files::write(&memsw, &value)
            }
        }
    }
}

/// The memory part of [`super::CgroupStats`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryStats {
    pub current: u64,
    pub peak: u64,
    pub anon: u64,
    pub file: u64,
    pub oom_kills: u64,
}

pub(crate) fn stats(site: &Site) -> Result<MemoryStats, CgroupError> {
    let (current, peak, stat_keys) = match site {
        Site::V2(dir) => {
            let current = files::read_single(&dir.join(MEMORY_CURRENT))?;
            let peak = match files::read_single(&dir.join(MEMORY_PEAK)) {
                Err(e) if is_missing(&e) => current,
                other => other?,
            };
            (current, peak, ("anon", "file"))
        }
        Site::V1(dir) => (
            files::read_single(&dir.join(MEMORY_USAGE_IN_BYTES))?,
            files::read_single(&dir.join(MEMORY_MAX_USAGE_IN_BYTES))?,
            // The total_ lines include descendants, like v2's.
            ("total_rss", "total_cache"),
        ),
    };
    let stat_path = site.dir().join(MEMORY_STAT);
    let stat = files::read(&stat_path)?;
    Ok(MemoryStats {
        current,
        peak,
        anon: files::parse_keyed(&stat_path, &stat, stat_keys.0)?.unwrap_or(0),
        file: files::parse_keyed(&stat_path, &stat, stat_keys.1)?.unwrap_or(0),
        oom_kills: oom_kills(site)?,
    })
}

/// How many processes the OOM killer killed in the group.
pub(crate) fn oom_kills(site: &Site) -> Result<u64, CgroupError> {
    match site {
        Site::V2(dir) => files::read_keyed(&dir.join(MEMORY_EVENTS), "oom_kill"),
        Site::V1(dir) => files::read_keyed(&dir.join(MEMORY_OOM_CONTROL), "oom_kill"),
    }
}

/// Reclaims memory from the group (see the module docs); returns the bytes freed.
pub(crate) fn reclaim(site: &Site, bytes: Option<u64>) -> Result<u64, CgroupError> {
    let (usage, file) = match site {
        Site::V2(_) => (MEMORY_CURRENT, MEMORY_RECLAIM),
        Site::V1(_) => (MEMORY_USAGE_IN_BYTES, MEMORY_FORCE_EMPTY),
    };
    let usage = site.dir().join(usage);
    let file = site.dir().join(file);
    let before = files::read_single(&usage)?;
    let value = match site {
        Site::V2(_) => match bytes.unwrap_or(before) {
            0 => return Ok(0),
            n => n.to_string(),
        },
        Site::V1(_) => "0".to_owned(),
    };
    match files::write(&file, &value) {
        Ok(()) => {}
        // memory.reclaim: "fewer bytes were reclaimed than requested".
        Err(CgroupError::Write { source, .. }) if source.raw_os_error() == Some(libc::EAGAIN) => {}
        Err(e) if is_missing(&e) => {
            return Err(CgroupError::Unsupported {
                what: "memory reclaim",
                path: file,
            });
        }
        Err(e) => return Err(e),
    }
    Ok(before.saturating_sub(files::read_single(&usage)?))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, content) in files {
            fs::write(d.path().join(name), content).unwrap();
        }
        d
    }

    fn read(d: &tempfile::TempDir, name: &str) -> String {
        fs::read_to_string(d.path().join(name)).unwrap()
    }

    #[test]
    fn v2_limit_bounds_swap_too_and_lifts_both() {
        let d = fixture(&[(MEMORY_MAX, "max\n"), (MEMORY_SWAP_MAX, "max\n")]);
        let site = Site::V2(d.path().to_owned());
        apply(&site, 64 << 20).unwrap();
        assert_eq!(read(&d, MEMORY_MAX), "67108864");
        assert_eq!(read(&d, MEMORY_SWAP_MAX), "0");
        apply(&site, Limits::UNLIMITED).unwrap();
        assert_eq!(read(&d, MEMORY_MAX), "max");
        assert_eq!(read(&d, MEMORY_SWAP_MAX), "max");
        // Without swap accounting, only memory.max.
        fs::remove_file(d.path().join(MEMORY_SWAP_MAX)).unwrap();
        apply(&site, 1 << 30).unwrap();
        assert_eq!(read(&d, MEMORY_MAX), "1073741824");
    }

    #[test]
    fn v1_limit_sets_memsw_in_an_order_the_kernel_accepts() {
        let d = fixture(&[
            (MEMORY_LIMIT_IN_BYTES, "9223372036854771712\n"),
            (MEMORY_MEMSW_LIMIT_IN_BYTES, "9223372036854771712\n"),
        ]);
        let site = Site::V1(d.path().to_owned());
        apply(&site, 64 << 20).unwrap();
        assert_eq!(read(&d, MEMORY_LIMIT_IN_BYTES), "67108864");
        assert_eq!(read(&d, MEMORY_MEMSW_LIMIT_IN_BYTES), "67108864");
        apply(&site, Limits::UNLIMITED).unwrap();
        assert_eq!(read(&d, MEMORY_LIMIT_IN_BYTES), "-1");
        assert_eq!(read(&d, MEMORY_MEMSW_LIMIT_IN_BYTES), "-1");

        // A memsw that cannot be written shows which write came first.
        let memsw = d.path().join(MEMORY_MEMSW_LIMIT_IN_BYTES);
        fs::remove_file(&memsw).unwrap();
        fs::create_dir(&memsw).unwrap();
        fs::write(d.path().join(MEMORY_LIMIT_IN_BYTES), "67108864").unwrap();
        assert!(apply(&site, 32 << 20).is_err());
        assert_eq!(
            read(&d, MEMORY_LIMIT_IN_BYTES),
            "33554432",
            "lowering: memory first"
        );
        assert!(apply(&site, 128 << 20).is_err());
        assert_eq!(
            read(&d, MEMORY_LIMIT_IN_BYTES),
            "33554432",
            "raising: memsw first"
        );
    }

    #[test]
    fn v2_stats() {
        let d = fixture(&[
            (MEMORY_CURRENT, "1048576\n"),
            (MEMORY_PEAK, "4194304\n"),
            (
                MEMORY_STAT,
                "anon 786432\nfile 262144\nkernel 4096\nanon_thp 0\nfile_mapped 0\n",
            ),
            (
                MEMORY_EVENTS,
                "low 0\nhigh 0\nmax 31\noom 2\noom_kill 2\noom_group_kill 0\n",
            ),
        ]);
        let s = stats(&Site::V2(d.path().to_owned())).unwrap();
        assert_eq!(
            s,
            MemoryStats {
                current: 1 << 20,
                peak: 4 << 20,
                anon: 786_432,
                file: 262_144,
                oom_kills: 2
            }
        );
        // Before 5.19 there is no memory.peak: the current charge stands in.
        fs::remove_file(d.path().join(MEMORY_PEAK)).unwrap();
        assert_eq!(stats(&Site::V2(d.path().to_owned())).unwrap().peak, 1 << 20);
    }

    #[test]
    fn v1_stats() {
        let d = fixture(&[
            (MEMORY_USAGE_IN_BYTES, "2097152\n"),
            (MEMORY_MAX_USAGE_IN_BYTES, "67108864\n"),
            (
                MEMORY_STAT,
                "cache 0\nrss 0\ntotal_cache 8192\ntotal_rss 2088960\n",
            ),
            (
                MEMORY_OOM_CONTROL,
                "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            ),
        ]);
        let s = stats(&Site::V1(d.path().to_owned())).unwrap();
        assert_eq!(
            s,
            MemoryStats {
                current: 2 << 20,
                peak: 64 << 20,
                anon: 2_088_960,
                file: 8192,
                oom_kills: 1
            }
        );
    }

    #[test]
    fn reclaim_writes_the_amount_on_v2_and_force_empty_on_v1() {
        let d = fixture(&[(MEMORY_CURRENT, "1000\n"), (MEMORY_RECLAIM, "")]);
        let v2 = Site::V2(d.path().to_owned());
        assert_eq!(reclaim(&v2, Some(4096)).unwrap(), 0);
        assert_eq!(read(&d, MEMORY_RECLAIM), "4096");
        reclaim(&v2, None).unwrap();
        assert_eq!(read(&d, MEMORY_RECLAIM), "1000", "everything charged");
        fs::remove_file(d.path().join(MEMORY_RECLAIM)).unwrap();
        assert!(reclaim(&v2, None).unwrap_err().is_unsupported());

        let d = fixture(&[(MEMORY_USAGE_IN_BYTES, "1000\n"), (MEMORY_FORCE_EMPTY, "")]);
        reclaim(&Site::V1(d.path().to_owned()), Some(1)).unwrap();
        assert_eq!(read(&d, MEMORY_FORCE_EMPTY), "0");
    }
}
