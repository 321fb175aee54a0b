//! Sockets for callers: real sockets made in the caller's network namespace and
//! driven by the kernel on its behalf (`socket`, `bind`, `listen`, `accept`,
//! `connect`, `send`, `recv`, `sendto`, `recvfrom`, `setsockopt`).
//!
//! A socket belongs to the namespace it was created in, whatever thread later
//! uses it. So [`create`] makes it on a short-lived thread that first entered the
//! managed process's network namespace (`setns(pidfd, CLONE_NEWNET)`: the pidfd
//! names the process, no pid race); a user caller's socket is made in the
//! kernel's own. Every socket is non-blocking; an operation that would block
//! waits for readiness on tokio's reactor under the caller's deadline. Sockets
//! live in the caller's descriptor table (`ipc::fdtable`): closed with it, or
//! with the caller's exit. The access checks (ports, hosts) are the syscall
//! handler's; the host's own errors come back as [`SocketError`] with their
//! errno.
//!
//! # Portable backend
//!
//! None needed: sockets are plain POSIX. Without a pidfd (the portable rung) the
//! socket is made in the kernel's namespace, which is the process's own there.

use std::{
    net::SocketAddr,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    time::Duration,
};

#[cfg(target_os = "linux")]
use nix::sys::socket::SockFlag;
use nix::{
    errno::Errno,
    sys::socket::{
        self as sock, AddressFamily, Backlog, MsgFlags, SockProtocol, SockType, SockaddrStorage,
        sockopt,
    },
};
use tokio::io::{Interest, unix::AsyncFd};

/// Most bytes one `recv`/`recvfrom` returns.
pub const MAX_RECV: usize = 1 << 20;
/// Bytes a `recv` returns when the caller names no maximum.
pub const DEFAULT_RECV: usize = 64 << 10;

/// A socket call the host refused, or one that waited too long.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("`{call}` failed: {errno}")]
    Host { call: &'static str, errno: Errno },
    #[error("`{call}` did not complete within {wait:?}")]
    Timeout { call: &'static str, wait: Duration },
}

impl SocketError {
    pub fn errno(&self) -> i32 {
        match self {
            Self::Host { errno, .. } => *errno as i32,
            Self::Timeout { .. } => Errno::ETIMEDOUT as i32,
        }
    }
}

fn host(call: &'static str) -> impl Fn(Errno) -> SocketError {
    move |errno| SocketError::Host { call, errno }
}

/// No SIGPIPE for a peer that hung up (Rust programs ignore it anyway; macOS has no
/// `MSG_NOSIGNAL`).
#[cfg(target_os = "linux")]
const NO_SIGPIPE: MsgFlags = MsgFlags::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const NO_SIGPIPE: MsgFlags = MsgFlags::empty();

/// Stream (TCP) or datagram (UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Datagram,
}

/// A new non-blocking socket of `kind`, in the network namespace of the process
/// `pidfd` names (the kernel's own for `None`).
pub fn create(
    kind: Kind,
    ipv6: bool,
    pidfd: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd, SocketError> {
    let family = if ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let (ty, proto) = match kind {
        Kind::Stream => (SockType::Stream, SockProtocol::Tcp),
        Kind::Datagram => (SockType::Datagram, SockProtocol::Udp),
    };
    in_namespace(family, ty, proto, pidfd)
}

/// Sockets made inside a process's network namespace, non-blocking from birth:
/// Linux's.
#[cfg(target_os = "linux")]
fn in_namespace(
    family: AddressFamily,
    ty: SockType,
    proto: SockProtocol,
    pidfd: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd, SocketError> {
    let make = || {
        sock::socket(
            family,
            ty,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            proto,
        )
        .map_err(host("socket"))
    };
    let Some(pidfd) = pidfd else {
        return make();
    };
    // setns changes only the calling thread's namespace: a thread of its own,
    // which ends here, so no other task ever runs in the process's namespace.
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(pidfd, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(host("setns"))?;
            make()
        })
        .join()
        .unwrap_or(Err(SocketError::Host {
            call: "setns",
            errno: Errno::EINVAL,
        }))
    })
}

/// The portable backend has no network namespaces, and says so.
#[cfg(not(target_os = "linux"))]
fn in_namespace(
    _family: AddressFamily,
    _ty: SockType,
    _proto: SockProtocol,
    _pidfd: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd, SocketError> {
    Err(SocketError::Host {
        call: "socket",
        errno: Errno::ENOSYS,
    })
}

/// An I/O failure of `call` as the socket error of its errno (`EIO` for one with none).
pub(crate) fn io_errno(call: &'static str) -> impl Fn(std::io::Error) -> SocketError {
    move |e| SocketError::Host {
        call,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// Runs `op` until it does not say `EAGAIN` (or `EINPROGRESS`), waiting for
/// `interest` between tries, for at most `wait`.
async fn retry<T>(
    fd: &OwnedFd,
    call: &'static str,
    interest: Interest,
    wait: Duration,
    mut op: impl FnMut() -> Result<T, Errno>,
) -> Result<T, SocketError> {
    match op() {
        Err(Errno::EAGAIN | Errno::EINPROGRESS) => {}
        done => return done.map_err(host(call)),
    }
    // A duplicate, so two calls on one socket register with epoll separately.
    let dup = fd.try_clone().map_err(io_errno("dup"))?;
    // SAFETY: the reactor owns the duplicate, which stays open until it drops.
    let afd = unsafe { AsyncFd::register_with_interest(dup, interest) }
        .map_err(|e| io_errno("epoll_ctl")(e.into_parts().1))?;
    let waited = tokio::time::timeout(wait, async {
        loop {
            let mut ready = afd.ready(interest).await.map_err(io_errno(call))?;
            match op() {
                Err(Errno::EAGAIN) => ready.clear_ready(),
                done => return done.map_err(host(call)),
            }
        }
    })
    .await;
    waited.unwrap_or(Err(SocketError::Timeout { call, wait }))
}

/// `bind`; the port bound.
pub fn bind(fd: &OwnedFd, addr: SocketAddr) -> Result<u16, SocketError> {
    sock::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)).map_err(host("bind"))?;
    let local: SockaddrStorage = sock::getsockname(fd.as_raw_fd()).map_err(host("getsockname"))?;
    Ok(port_of(&local))
}

fn port_of(a: &SockaddrStorage) -> u16 {
    a.as_sockaddr_in()
        .map(|v| v.port())
        .or_else(|| a.as_sockaddr_in6().map(|v| v.port()))
        .unwrap_or(0)
}

fn addr_of(a: &SockaddrStorage) -> String {
    a.as_sockaddr_in()
        .map(|v| SocketAddr::from(std::net::SocketAddrV4::from(*v)).to_string())
        .or_else(|| {
            a.as_sockaddr_in6()
                .map(|v| SocketAddr::from(std::net::SocketAddrV6::from(*v)).to_string())
        })
        .unwrap_or_default()
}

pub fn listen(fd: &OwnedFd, backlog: u32) -> Result<(), SocketError> {
    let backlog = Backlog::new(if backlog == 0 { 128 } else { backlog.min(4096) } as i32)
        .map_err(host("listen"))?;
    sock::listen(&fd.as_fd(), backlog).map_err(host("listen"))
}

/// `accept4`: the connection (non-blocking too) and the peer's address.
pub async fn accept(fd: &OwnedFd, wait: Duration) -> Result<(OwnedFd, String), SocketError> {
    let raw = retry(fd, "accept", Interest::READABLE, wait, || {
        #[cfg(target_os = "linux")]
        return sock::accept4(
            fd.as_raw_fd(),
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        );
        // No socket reaches here off Linux (`create` refuses).
        #[cfg(not(target_os = "linux"))]
        Err(Errno::ENOSYS)
    })
    .await?;
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let conn = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let peer: SockaddrStorage = sock::getpeername(conn.as_raw_fd()).map_err(host("getpeername"))?;
    Ok((conn, addr_of(&peer)))
}

/// `connect`, waiting for a stream's handshake.
pub async fn connect(fd: &OwnedFd, addr: SocketAddr, wait: Duration) -> Result<(), SocketError> {
    let to = SockaddrStorage::from(addr);
    match sock::connect(fd.as_raw_fd(), &to) {
        Ok(()) => return Ok(()),
        Err(Errno::EINPROGRESS) => {}
        Err(e) => return Err(host("connect")(e)),
    }
    retry(
        fd,
        "connect",
        Interest::WRITABLE,
        wait,
        || match sock::getsockopt(&fd.as_fd(), sockopt::SocketError)? {
            0 => Ok(()),
            e => Err(Errno::from_raw(e)),
        },
    )
    .await
}

pub async fn send(fd: &OwnedFd, data: &[u8], wait: Duration) -> Result<usize, SocketError> {
    retry(fd, "send", Interest::WRITABLE, wait, || {
        sock::send(fd.as_raw_fd(), data, NO_SIGPIPE)
    })
    .await
}

pub async fn recv(fd: &OwnedFd, max: usize, wait: Duration) -> Result<Vec<u8>, SocketError> {
    let mut buf = vec![0u8; max];
    let n = retry(fd, "recv", Interest::READABLE, wait, || {
        sock::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
    })
    .await?;
    buf.truncate(n);
    Ok(buf)
}

pub fn send_to(fd: &OwnedFd, data: &[u8], to: SocketAddr) -> Result<usize, SocketError> {
    sock::sendto(
        fd.as_raw_fd(),
        data,
        &SockaddrStorage::from(to),
        NO_SIGPIPE | MsgFlags::MSG_DONTWAIT,
    )
    .map_err(host("sendto"))
}

/// One datagram and its sender.
pub async fn recv_from(
    fd: &OwnedFd,
    max: usize,
    wait: Duration,
) -> Result<(Vec<u8>, String), SocketError> {
    let mut buf = vec![0u8; max];
    let (n, from) = retry(fd, "recvfrom", Interest::READABLE, wait, || {
        sock::recvfrom::<SockaddrStorage>(fd.as_raw_fd(), &mut buf)
    })
    .await?;
    buf.truncate(n);
    Ok((buf, from.as_ref().map(addr_of).unwrap_or_default()))
}

/// The options `setsockopt` may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    ReuseAddr,
    KeepAlive,
    TcpNoDelay,
    RcvBuf,
    SndBuf,
    Broadcast,
}

pub fn set_option(fd: &OwnedFd, opt: Opt, value: i32) -> Result<(), SocketError> {
    let fd = fd.as_fd();
    let on = value != 0;
    let size = usize::try_from(value).map_err(|_| host("setsockopt")(Errno::EINVAL))?;
    match opt {
        Opt::ReuseAddr => sock::setsockopt(&fd, sockopt::ReuseAddr, &on),
        Opt::KeepAlive => sock::setsockopt(&fd, sockopt::KeepAlive, &on),
        Opt::TcpNoDelay => sock::setsockopt(&fd, sockopt::TcpNoDelay, &on),
        Opt::RcvBuf => sock::setsockopt(&fd, sockopt::RcvBuf, &size),
        Opt::SndBuf => sock::setsockopt(&fd, sockopt::SndBuf, &size),
        Opt::Broadcast => sock::setsockopt(&fd, sockopt::Broadcast, &on),
    }
    .map_err(host("setsockopt"))
}

/// The socket's type, to tell the protocol of a `connect`/`sendto` for its check.
pub fn kind_of(fd: &OwnedFd) -> Result<Kind, SocketError> {
    match sock::getsockopt(&fd.as_fd(), sockopt::SockType).map_err(host("getsockopt"))? {
        SockType::Datagram => Ok(Kind::Datagram),
        _ => Ok(Kind::Stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_connects_accepts_and_carries_bytes_and_errors_keep_their_errno() {
        let l = create(Kind::Stream, false, None).unwrap();
        let port = bind(&l, "127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(port, 0);
        listen(&l, 0).unwrap();
        let short = Duration::from_millis(10);
        assert!(matches!(
            accept(&l, short).await,
            Err(SocketError::Timeout { .. })
        ));
        let c = create(Kind::Stream, false, None).unwrap();
        set_option(&c, Opt::TcpNoDelay, 1).unwrap();
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        connect(&c, to, Duration::from_secs(5)).await.unwrap();
        let (s, peer) = accept(&l, Duration::from_secs(5)).await.unwrap();
        assert!(peer.starts_with("127.0.0.1:"), "{peer}");
        assert_eq!(send(&c, b"ping", Duration::ZERO).await.unwrap(), 4);
        assert_eq!(recv(&s, 16, Duration::from_secs(5)).await.unwrap(), b"ping");
        let again = create(Kind::Stream, false, None).unwrap();
        let e = bind(&again, to).unwrap_err();
        assert_eq!(e.errno(), Errno::EADDRINUSE as i32, "{e}");
        assert_eq!(kind_of(&again).unwrap(), Kind::Stream);
    }

    #[tokio::test]
    async fn datagrams_carry_their_sender_and_a_wait_runs_out() {
        let a = create(Kind::Datagram, false, None).unwrap();
        let port = bind(&a, "127.0.0.1:0".parse().unwrap()).unwrap();
        let b = create(Kind::Datagram, false, None).unwrap();
        let from = bind(&b, "127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(kind_of(&a).unwrap(), Kind::Datagram);
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(send_to(&b, b"ping", to).unwrap(), 4);
        let (data, sender) = recv_from(&a, 2, Duration::from_secs(5)).await.unwrap();
        // At most `max` bytes: the rest of the datagram is dropped, as recvfrom does.
        assert_eq!(
            (data.as_slice(), sender),
            (&b"pi"[..], format!("127.0.0.1:{from}"))
        );
        assert!(matches!(
            recv_from(&a, 16, Duration::from_millis(10)).await,
            Err(SocketError::Timeout { .. })
        ));
    }
}
