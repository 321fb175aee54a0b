//! The sockets the kernel makes for a managed process (the socket syscalls,
//! `syscall/socket.rs`): each in the process's own network namespace, made the way
//! the kernel may enter it.
//!
//! - A root kernel enters it from a thread of its own (`setns` on the process's pidfd,
//!   `net/socket.rs`).
//! - A rootless kernel may not: the namespace belongs to the sandbox's user namespace,
//!   and `setns` into that wants `CAP_SYS_ADMIN` in the kernel's own, or a
//!   single-threaded caller to enter the user namespace first. So the process's
//!   [`Dialer`] makes it, a helper forked into both namespaces (`sandbox/dialer.rs`),
//!   started at the first socket and reaped with the process, from the namespaces
//!   taken at spawn ([`Namespaces`]).
//! - A process with no network namespace of its own (`shared`, or the walls and
//!   portable rungs) gets one made in the kernel's, which is its.

use std::{os::fd::OwnedFd, sync::Arc};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::Process;
use crate::{
    error::KernelError,
    net::{
        NetMode,
        socket::{self, Kind, SocketError, io_errno},
    },
    sandbox::{Dialer, Namespaces, SocketKind},
};

/// How a process's sockets are made: by a rootless kernel, through a helper not yet
/// started (its namespaces held) or running; by any other, with no helper (`None`, also
/// once it is reaped).
#[derive(Debug, Default)]
pub(crate) enum SocketHelper {
    #[default]
    None,
    Waiting(Namespaces),
    Running(Arc<Dialer>),
}

impl Process {
    /// A new non-blocking socket of `kind` (IPv6 if `ipv6`) in its network namespace.
    pub(crate) fn socket(&self, kind: Kind, ipv6: bool) -> Result<OwnedFd, KernelError> {
        let own_namespace = self.isolated && self.net_mode != NetMode::Shared;
        if !own_namespace {
            return Ok(socket::create(kind, ipv6, None)?);
        }
        let Some(dialer) = self.dialer()? else {
            let handle = self
                .handle()
                .ok_or(super::ProcessError::Exited { pid: self.pid })?;
            return Ok(socket::create(kind, ipv6, handle.pidfd())?);
        };
        let kind = match (kind, ipv6) {
            (Kind::Stream, false) => SocketKind::Tcp,
            (Kind::Stream, true) => SocketKind::Tcp6,
            (Kind::Datagram, false) => SocketKind::Udp,
            (Kind::Datagram, true) => SocketKind::Udp6,
        };
        let made = dialer.socket(kind).map_err(io_errno("socket"))?;
        fcntl(&made, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|errno| SocketError::Host {
            call: "fcntl",
            errno,
        })?;
        Ok(made)
    }

    /// Its helper in its namespaces (started now if it has none yet), or `None` where
    /// the kernel needs none.
    fn dialer(&self) -> Result<Option<Arc<Dialer>>, KernelError> {
        let mut helper = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let started = match &*helper {
            SocketHelper::None => return Ok(None),
            SocketHelper::Running(d) => return Ok(Some(Arc::clone(d))),
            SocketHelper::Waiting(ns) => Arc::new(Dialer::start(ns).map_err(io_errno("fork"))?),
        };
        *helper = SocketHelper::Running(Arc::clone(&started));
        Ok(Some(started))
    }
}
