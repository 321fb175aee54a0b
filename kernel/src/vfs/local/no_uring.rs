//! LocalFS without io_uring, on hosts that are not Linux (macOS): the ring and its
//! [`UringIo`] exist only as types that cannot be made, so that [`super`] keeps one
//! shape on every host. [`Ring::new`] says why; `Backends::detect` then picks the
//! `std::fs` backend and reports it. [`batched`] runs its future as it is.

use std::{convert::Infallible, future::Future, io, os::fd::OwnedFd, path::Path, sync::Arc};

use super::OpenMode;
use crate::{
    shm::SharedBuf,
    vfs::{Metadata, Payload},
};

/// No ring can be started here.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RingError {
    #[error("io_uring is Linux's; this host has none")]
    NotLinux,
}

/// A ring, which is never made on this host.
#[derive(Clone)]
pub(crate) struct Ring {
    _private: (),
}

impl Ring {
    /// Always fails: there is no io_uring here.
    pub fn new() -> Result<Self, RingError> {
        Err(RingError::NotLinux)
    }

    pub fn len(&self) -> usize {
        0
    }
}

/// Nothing to batch: `fut` runs as it is.
pub async fn batched<F: Future>(fut: F) -> F::Output {
    fut.await
}

/// The io_uring backend of a mount, which cannot be made here.
pub(crate) struct UringIo {
    never: Infallible,
}

impl UringIo {
    /// Always fails: there is no ring to run on.
    pub fn new(_ring: Ring, _host_root: &Path) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            RingError::NotLinux,
        ))
    }

    pub async fn resolves(&self, _rel: &str) -> io::Result<()> {
        match self.never {}
    }

    pub async fn open(&self, _rel: &str, _mode: OpenMode) -> io::Result<Arc<OwnedFd>> {
        match self.never {}
    }

    pub async fn open_dir(&self, _rel: &str) -> io::Result<Arc<OwnedFd>> {
        match self.never {}
    }

    pub async fn open_at(
        &self,
        _dir: &Arc<OwnedFd>,
        _name: &str,
        _mode: OpenMode,
    ) -> io::Result<Arc<OwnedFd>> {
        match self.never {}
    }

    pub async fn read_at(
        &self,
        _file: &Arc<OwnedFd>,
        _len: usize,
        _offset: u64,
    ) -> io::Result<Vec<u8>> {
        match self.never {}
    }

    pub async fn read_into(
        &self,
        _file: &Arc<OwnedFd>,
        _buf: SharedBuf,
        _offset: u64,
    ) -> io::Result<usize> {
        match self.never {}
    }

    pub async fn write_all_at(
        &self,
        _file: &Arc<OwnedFd>,
        _data: Payload,
        _offset: Option<u64>,
    ) -> io::Result<()> {
        match self.never {}
    }

    pub async fn fsync(&self, _file: &Arc<OwnedFd>) -> io::Result<()> {
        match self.never {}
    }

    pub async fn ftruncate(&self, _file: &Arc<OwnedFd>, _len: u64) -> io::Result<()> {
        match self.never {}
    }

    pub async fn fstat(&self, _file: &Arc<OwnedFd>) -> io::Result<Metadata> {
        match self.never {}
    }

    pub async fn stat(&self, _rel: &str) -> io::Result<Metadata> {
        match self.never {}
    }

    pub async fn mkdir_at(&self, _dir: &Arc<OwnedFd>, _name: &str) -> io::Result<()> {
        match self.never {}
    }

    pub async fn unlink_at(
        &self,
        _dir: &Arc<OwnedFd>,
        _name: &str,
        _is_dir: bool,
    ) -> io::Result<()> {
        match self.never {}
    }

    pub async fn rename_at(
        &self,
        _from_dir: &Arc<OwnedFd>,
        _from: &str,
        _to_dir: &Arc<OwnedFd>,
        _to: &str,
        _noreplace: bool,
    ) -> io::Result<()> {
        match self.never {}
    }
}
