//! The journal of in-flight atomic replaces.
//!
//! Before a temp file is created, an entry naming it (mount root + mount-relative
//! path) is written to `<data>/run/journal/`; it is removed once the temp file has
//! been renamed or deleted. At start, [`Journal::sweep`] deletes the temp files the
//! entries still name (only names starting with [`super::TMP_PREFIX`]), so a kernel
//! killed in the middle of a replace leaves the old content and no temp file.
//! Entries are not fsynced: they guard against a crash of the daemon, not of the host.

use std::{
    fs, io,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// The journal directory.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    next: AtomicU64,
}

/// One recorded temp file; dropping it removes the entry.
pub(crate) struct JournalEntry {
    path: PathBuf,
}

impl Drop for JournalEntry {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Journal {
    /// Opens (creating) the journal directory.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                next: AtomicU64::new(0),
            }),
        })
    }

    pub(crate) fn record(&self, host_root: &Path, rel_tmp: &str) -> io::Result<JournalEntry> {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let path = self.inner.dir.join(format!("{}-{n}", std::process::id()));
        fs::write(&path, format!("{}\n{rel_tmp}", host_root.display()))?;
        Ok(JournalEntry { path })
    }

    /// Removes temp files left under `host_root` by a previous run, and their entries.
    pub fn sweep(&self, host_root: &Path) -> usize {
        let Ok(entries) = fs::read_dir(&self.inner.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let Ok(text) = fs::read_to_string(entry.path()) else {
                continue;
            };
            let Some((root, rel)) = text.split_once('\n') else {
                let _ = fs::remove_file(entry.path());
                continue;
            };
            if Path::new(root) != host_root {
                continue;
            }
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if name.starts_with(super::TMP_PREFIX) && !rel.split('/').any(|c| c == "..") {
                match fs::remove_file(host_root.join(rel)) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!("journal sweep: removing {rel}: {e}"),
                }
            }
            let _ = fs::remove_file(entry.path());
        }
        if removed > 0 {
            tracing::info!(root = %host_root.display(), removed, "removed temp files of interrupted writes");
        }
        removed
    }
}
