//! Private files in the data directory, written atomically.
//!
//! The auth files (users, the signing key, the API token) stay out of the kernel's
//! filesystem on purpose: that tree is what apps and managed processes get grants
//! into, and these secrets must never be one grant away. They are written here with
//! mode 0600, through a temp file that is fsynced and renamed over the target, then
//! the directory fsynced: a crash leaves the old file or the new one, never half.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// Why a private file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct FileError {
    op: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn wrap(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FileError + use<> {
    let path = path.to_owned();
    move |source| FileError { op, path, source }
}

/// Replaces `path` with `data` atomically, mode 0600; missing directories are
/// made 0700.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(wrap("creating", dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(wrap("creating", &tmp))?;
        // An older temp file of the same name keeps its mode; make sure.
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(wrap("chmod", &tmp))?;
        f.write_all(data).map_err(wrap("writing", &tmp))?;
        f.sync_all().map_err(wrap("fsync", &tmp))?;
        fs::rename(&tmp, path).map_err(wrap("renaming over", path))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(wrap("fsync", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The content of `path`, or `None` when it does not exist. A file that others
/// could read is made 0600 first (someone may have copied it with a loose mode).
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    match fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(wrap("chmod", path))?;
        }
        _ => {}
    }
    match fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(wrap("reading", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_atomically_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/secret");
        assert_eq!(read_optional(&p).unwrap(), None);
        write_private(&p, b"one").unwrap();
        write_private(&p, b"two").unwrap();
        assert_eq!(read_optional(&p).unwrap().as_deref(), Some(&b"two"[..]));
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"], "no temp file is left");
        let dir_mode = fs::metadata(p.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        read_optional(&p).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a loose mode is tightened on read");
    }
}
