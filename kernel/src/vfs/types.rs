//! Plain data the VFS hands out and takes in.

use crate::shm::SharedBuf;

/// Bytes to write: owned, or a range of a shared region that a client filled.
pub enum Payload {
    Owned(Vec<u8>),
    Shared(SharedBuf),
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Self::Owned(v)
    }
}

impl Payload {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Shared(s) => s.as_slice(),
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// A file's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub kind: FileKind,
    pub size: u64,
    pub mode: u32,
    pub modified_unix_ns: i64,
    pub created_unix_ns: i64,
    pub inode: u64,
    pub nlink: u32,
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name; lossily converted when it is not UTF-8 (then `utf8` is false).
    pub name: String,
    pub kind: FileKind,
    pub utf8: bool,
}

/// How a write treats existing content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the whole content atomically; create the file if missing.
    Replace,
    /// Append; create the file if missing.
    Append,
}
