//! MemFS: files kept in the daemon's memory, bounded in total size.
//!
//! One `RwLock` over a sorted map from mount-relative path to node; directories are
//! explicit nodes, so listing is a range scan. A replace swaps the content under the
//! lock, which makes it atomic. Nothing is left on the host.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use super::{DirEntry, FileKind, Loc, Metadata, VfsError, WriteMode, path::split_parent};

/// Default bound on the bytes all files of one MemFS may hold.
pub const DEFAULT_CAPACITY: u64 = 256 << 20;

enum Node {
    Dir {
        modified: i64,
        inode: u64,
    },
    File {
        data: Arc<Vec<u8>>,
        modified: i64,
        inode: u64,
    },
}

struct State {
    nodes: BTreeMap<String, Node>,
    used: u64,
    next_inode: u64,
}

/// An in-memory filesystem.
pub struct MemFs {
    state: RwLock<State>,
    capacity: u64,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl MemFs {
    pub fn new(capacity: u64) -> Arc<Self> {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            String::new(),
            Node::Dir {
                modified: now_ns(),
                inode: 1,
            },
        );
        Arc::new(Self {
            state: RwLock::new(State {
                nodes,
                used: 0,
                next_inode: 2,
            }),
            capacity,
        })
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn read(&self, loc: Loc<'_>, offset: u64, len: u64) -> Result<Vec<u8>, VfsError> {
        let data = self.file_data(loc)?;
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(len as usize).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn file_data(&self, loc: Loc<'_>) -> Result<Arc<Vec<u8>>, VfsError> {
        match self.read_state().nodes.get(loc.rel) {
            Some(Node::File { data, .. }) => Ok(Arc::clone(data)),
            Some(Node::Dir { .. }) => Err(VfsError::IsADirectory {
                path: loc.vpath.to_string(),
            }),
            None => Err(self.missing(loc)),
        }
    }

    /// NotFound, or NotADirectory when an ancestor is a file.
    fn missing(&self, loc: Loc<'_>) -> VfsError {
        let st = self.read_state();
        let mut prefix = String::new();
        for comp in loc.rel.split('/') {
            if let Some(Node::File { .. }) = st.nodes.get(&prefix) {
                return VfsError::NotADirectory {
                    path: loc.vpath.to_string(),
                };
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(comp);
        }
        VfsError::NotFound {
            path: loc.vpath.to_string(),
        }
    }

    /// Checks that the parent of `rel` is an existing directory.
    fn check_parent(st: &State, loc: Loc<'_>) -> Result<(), VfsError> {
        let (parent, _) = split_parent(loc.rel).ok_or(VfsError::IsADirectory {
            path: loc.vpath.to_string(),
        })?;
        match st.nodes.get(parent) {
            Some(Node::Dir { .. }) => Ok(()),
            Some(Node::File { .. }) => Err(VfsError::NotADirectory {
                path: loc.vpath.to_string(),
            }),
            None => Err(VfsError::NotFound {
                path: loc.vpath.to_string(),
            }),
        }
    }

    /// Sets a file's content (creating it unless `exclusive` forbids an existing one).
    fn put(
        &self,
        loc: Loc<'_>,
        data: Vec<u8>,
        mode: WriteMode,
        exclusive: bool,
    ) -> Result<(), VfsError> {
        let mut st = self.write_state();
        Self::check_parent(&st, loc)?;
        let (old_len, old_data, inode) = match st.nodes.get(loc.rel) {
            Some(Node::Dir { .. }) => {
                return Err(VfsError::IsADirectory {
                    path: loc.vpath.to_string(),
                });
            }
            Some(Node::File { .. }) if exclusive => {
                return Err(VfsError::AlreadyExists {
                    path: loc.vpath.to_string(),
                });
            }
            Some(Node::File { data, inode, .. }) => {
                (data.len() as u64, Some(Arc::clone(data)), *inode)
            }
            None => (0, None, 0),
        };
        let new = match (mode, old_data) {
            (WriteMode::Append, Some(old)) => {
                let mut v = Vec::with_capacity(old.len() + data.len());
                v.extend_from_slice(&old);
                v.extend_from_slice(&data);
                v
            }
            _ => data,
        };
        let used = st.used - old_len + new.len() as u64;
        if used > self.capacity {
            return Err(VfsError::MountFull {
                path: loc.vpath.to_string(),
                capacity: self.capacity,
            });
        }
        let inode = if inode == 0 {
            st.next_inode += 1;
            st.next_inode
        } else {
            inode
        };
        st.used = used;
        st.nodes.insert(
            loc.rel.to_owned(),
            Node::File {
                data: Arc::new(new),
                modified: now_ns(),
                inode,
            },
        );
        Ok(())
    }

    pub async fn write(
        &self,
        loc: Loc<'_>,
        data: Vec<u8>,
        mode: WriteMode,
    ) -> Result<(), VfsError> {
        self.put(loc, data, mode, false)
    }

    pub async fn create(&self, loc: Loc<'_>, data: Vec<u8>) -> Result<(), VfsError> {
        self.put(loc, data, WriteMode::Replace, true)
    }

    pub async fn delete(&self, loc: Loc<'_>) -> Result<(), VfsError> {
        let mut st = self.write_state();
        match st.nodes.get(loc.rel) {
            Some(Node::File { data, .. }) => {
                let n = data.len() as u64;
                st.used -= n;
                st.nodes.remove(loc.rel);
                Ok(())
            }
            Some(Node::Dir { .. }) => Err(VfsError::IsADirectory {
                path: loc.vpath.to_string(),
            }),
            None => {
                drop(st);
                Err(self.missing(loc))
            }
        }
    }

    fn children<'s>(st: &'s State, rel: &str) -> impl Iterator<Item = (&'s String, &'s Node)> {
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        st.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k.is_empty())
    }

    pub async fn list(&self, loc: Loc<'_>) -> Result<Vec<DirEntry>, VfsError> {
        let st = self.read_state();
        match st.nodes.get(loc.rel) {
            Some(Node::Dir { .. }) => {}
            Some(Node::File { .. }) => {
                return Err(VfsError::NotADirectory {
                    path: loc.vpath.to_string(),
                });
            }
            None => {
                drop(st);
                return Err(self.missing(loc));
            }
        }
        let skip = if loc.rel.is_empty() {
            0
        } else {
            loc.rel.len() + 1
        };
        Ok(Self::children(&st, loc.rel)
            .filter(|(k, _)| !k[skip..].contains('/'))
            .map(|(k, n)| DirEntry {
                name: k[skip..].to_owned(),
                kind: match n {
                    Node::Dir { .. } => FileKind::Directory,
                    Node::File { .. } => FileKind::File,
                },
                utf8: true,
            })
            .collect())
    }

    pub async fn exists(&self, loc: Loc<'_>) -> Result<bool, VfsError> {
        Ok(self.read_state().nodes.contains_key(loc.rel))
    }

    pub async fn stat(&self, loc: Loc<'_>) -> Result<Metadata, VfsError> {
        let st = self.read_state();
        Ok(match st.nodes.get(loc.rel) {
            Some(Node::Dir { modified, inode }) => Metadata {
                kind: FileKind::Directory,
                size: 0,
                mode: 0o755,
                modified_unix_ns: *modified,
                created_unix_ns: 0,
                inode: *inode,
                nlink: 2,
            },
            Some(Node::File {
                data,
                modified,
                inode,
            }) => Metadata {
                kind: FileKind::File,
                size: data.len() as u64,
                mode: 0o644,
                modified_unix_ns: *modified,
                created_unix_ns: 0,
                inode: *inode,
                nlink: 1,
            },
            None => {
                drop(st);
                return Err(self.missing(loc));
            }
        })
    }

    pub async fn mkdir(&self, loc: Loc<'_>, parents: bool) -> Result<(), VfsError> {
        let mut st = self.write_state();
        if parents {
            let mut prefix = String::new();
            for comp in loc.rel.split('/').filter(|c| !c.is_empty()) {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(comp);
                match st.nodes.get(&prefix) {
                    Some(Node::Dir { .. }) => {}
                    Some(Node::File { .. }) => {
                        return Err(VfsError::NotADirectory {
                            path: loc.vpath.to_string(),
                        });
                    }
                    None => {
                        st.next_inode += 1;
                        let inode = st.next_inode;
                        st.nodes.insert(
                            prefix.clone(),
                            Node::Dir {
                                modified: now_ns(),
                                inode,
                            },
                        );
                    }
                }
            }
            return Ok(());
        }
        if st.nodes.contains_key(loc.rel) {
            return Err(VfsError::AlreadyExists {
                path: loc.vpath.to_string(),
            });
        }
        Self::check_parent(&st, loc)?;
        st.next_inode += 1;
        let inode = st.next_inode;
        st.nodes.insert(
            loc.rel.to_owned(),
            Node::Dir {
                modified: now_ns(),
                inode,
            },
        );
        Ok(())
    }

    pub async fn rmdir(&self, loc: Loc<'_>, recursive: bool) -> Result<(), VfsError> {
        let mut st = self.write_state();
        match st.nodes.get(loc.rel) {
            Some(Node::Dir { .. }) => {}
            Some(Node::File { .. }) => {
                return Err(VfsError::NotADirectory {
                    path: loc.vpath.to_string(),
                });
            }
            None => {
                drop(st);
                return Err(self.missing(loc));
            }
        }
        let doomed: Vec<String> = Self::children(&st, loc.rel)
            .map(|(k, _)| k.clone())
            .collect();
        if !doomed.is_empty() && !recursive {
            return Err(VfsError::NotEmpty {
                path: loc.vpath.to_string(),
            });
        }
        for k in doomed {
            if let Some(Node::File { data, .. }) = st.nodes.remove(&k) {
                st.used -= data.len() as u64;
            }
        }
        st.nodes.remove(loc.rel);
        Ok(())
    }

    pub async fn truncate(&self, loc: Loc<'_>, size: u64) -> Result<(), VfsError> {
        let data = self.file_data(loc)?;
        let mut v = data.as_ref().clone();
        v.resize(size as usize, 0);
        let mut st = self.write_state();
        let used = st.used - data.len() as u64 + size;
        if used > self.capacity {
            return Err(VfsError::MountFull {
                path: loc.vpath.to_string(),
                capacity: self.capacity,
            });
        }
        if let Some(Node::File {
            data: d, modified, ..
        }) = st.nodes.get_mut(loc.rel)
        {
            *d = Arc::new(v);
            *modified = now_ns();
            st.used = used;
        }
        Ok(())
    }

    pub async fn rename(&self, from: Loc<'_>, to: Loc<'_>) -> Result<(), VfsError> {
        let mut st = self.write_state();
        if !st.nodes.contains_key(from.rel) {
            drop(st);
            return Err(self.missing(from));
        }
        Self::check_parent(&st, to)?;
        if to.rel == from.rel {
            return Ok(());
        }
        if to.rel.starts_with(&format!("{}/", from.rel)) {
            return Err(VfsError::InvalidPath {
                path: to.vpath.to_string(),
                reason: "cannot move a directory into itself",
            });
        }
        match (st.nodes.get(from.rel), st.nodes.get(to.rel)) {
            (Some(Node::File { .. }), Some(Node::Dir { .. })) => {
                return Err(VfsError::IsADirectory {
                    path: to.vpath.to_string(),
                });
            }
            (Some(Node::Dir { .. }), Some(Node::File { .. })) => {
                return Err(VfsError::NotADirectory {
                    path: to.vpath.to_string(),
                });
            }
            (Some(Node::Dir { .. }), Some(Node::Dir { .. }))
                if Self::children(&st, to.rel).next().is_some() =>
            {
                return Err(VfsError::NotEmpty {
                    path: to.vpath.to_string(),
                });
            }
            _ => {}
        }
        if let Some(Node::File { data, .. }) = st.nodes.remove(to.rel) {
            st.used -= data.len() as u64;
        }
        let moved: Vec<String> = Self::children(&st, from.rel)
            .map(|(k, _)| k.clone())
            .collect();
        let node = st.nodes.remove(from.rel).expect("checked above");
        st.nodes.insert(to.rel.to_owned(), node);
        for k in moved {
            let node = st.nodes.remove(&k).expect("listed above");
            st.nodes
                .insert(format!("{}{}", to.rel, &k[from.rel.len()..]), node);
        }
        Ok(())
    }

    pub fn open_reader(&self, loc: Loc<'_>) -> Result<MemReader, VfsError> {
        Ok(MemReader {
            data: self.file_data(loc)?,
        })
    }

    pub fn open_writer(
        self: &Arc<Self>,
        loc: Loc<'_>,
        mode: WriteMode,
    ) -> Result<MemWriter, VfsError> {
        {
            let st = self.read_state();
            Self::check_parent(&st, loc)?;
            if let Some(Node::Dir { .. }) = st.nodes.get(loc.rel) {
                return Err(VfsError::IsADirectory {
                    path: loc.vpath.to_string(),
                });
            }
        }
        Ok(MemWriter {
            fs: Arc::clone(self),
            rel: loc.rel.to_owned(),
            vpath: loc.vpath.clone(),
            mode,
            buf: Vec::new(),
        })
    }
}

/// A MemFS file open for chunked reads (a snapshot of its content).
pub struct MemReader {
    data: Arc<Vec<u8>>,
}

impl MemReader {
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, VfsError> {
        let start = (offset as usize).min(self.data.len());
        let end = start.saturating_add(len).min(self.data.len());
        Ok(self.data[start..end].to_vec())
    }

    pub fn read_into(&self, offset: u64, buf: &crate::shm::SharedBuf) -> usize {
        let start = (offset as usize).min(self.data.len());
        buf.fill(&self.data[start..])
    }
}

/// A MemFS file open for chunked writes; the content lands on commit.
pub struct MemWriter {
    fs: Arc<MemFs>,
    rel: String,
    vpath: super::VirtPath,
    mode: WriteMode,
    buf: Vec<u8>,
}

impl MemWriter {
    pub fn write(&mut self, data: super::Payload) -> Result<(), VfsError> {
        if self.buf.len() as u64 + data.len() as u64 > self.fs.capacity {
            return Err(VfsError::MountFull {
                path: self.vpath.to_string(),
                capacity: self.fs.capacity,
            });
        }
        self.buf.extend_from_slice(data.as_slice());
        Ok(())
    }

    pub fn commit(self) -> Result<(), VfsError> {
        let loc = Loc {
            vpath: &self.vpath,
            rel: &self.rel,
        };
        self.fs.put(loc, self.buf, self.mode, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::path::VirtPath;

    #[tokio::test]
    async fn a_full_memory_mount_says_so_and_a_full_disk_does_not_blame_memory() {
        let fs = MemFs::new(8);
        let vpath = VirtPath::parse("/tmp/f", &VirtPath::root()).unwrap();
        let loc = Loc {
            vpath: &vpath,
            rel: "f",
        };
        fs.create(loc, b"12345678".to_vec()).await.unwrap();
        let err = fs
            .write(loc, b"123456789".to_vec(), WriteMode::Replace)
            .await
            .unwrap_err();
        assert!(
            matches!(err, VfsError::MountFull { capacity: 8, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "/tmp/f: the memory mount is full (its limit is 8 bytes)"
        );

        let disk = VfsError::from_io(
            "write",
            "/f",
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert!(matches!(disk, VfsError::NoSpace { .. }), "{disk:?}");
        assert!(!disk.to_string().contains("memory"), "{disk}");
    }
}
