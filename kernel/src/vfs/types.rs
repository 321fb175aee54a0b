//! Plain data the VFS hands out.

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
