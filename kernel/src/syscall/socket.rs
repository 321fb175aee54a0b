//! Socket syscalls (`socket`, `bind`, … `setsockopt`, fields 90–109), each beside
//! its access rule: `bind` needs a `bind:PORT` grant, `connect` and `sendto` a
//! `net:` grant for the host, port and protocol; the rest act on the caller's own
//! descriptors. The sockets are made in the caller's network namespace and
//! driven by [`crate::net::socket`]; they live in its descriptor table.

use std::{net::SocketAddr, os::fd::OwnedFd, sync::Arc, time::Duration};

use agentos_proto::v1 as pb;
use pb::{syscall::Call, syscall_result::Value};

use super::{Kernel, pipe::unit};
use crate::{
    capability::{Access, Host, Protocol},
    error::KernelError,
    identity::Caller,
    net::socket::{self, DEFAULT_RECV, Kind, MAX_RECV, Opt},
};

fn addr(raw: &str) -> Result<SocketAddr, KernelError> {
    raw.parse().map_err(|_| {
        KernelError::InvalidArgument(format!(
            "socket address {raw:?}: IP:PORT (e.g. 127.0.0.1:80, [::1]:80)"
        ))
    })
}

fn wait(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

fn max(n: u32) -> Result<usize, KernelError> {
    match n as usize {
        0 => Ok(DEFAULT_RECV),
        n if n > MAX_RECV => Err(KernelError::InvalidArgument(format!(
            "recv max {n}: at most {MAX_RECV}"
        ))),
        n => Ok(n),
    }
}

/// The check a connection (or datagram) to `to` on `fd` needs.
fn connect_access(fd: &OwnedFd, to: SocketAddr) -> Result<Access, KernelError> {
    let proto = match socket::kind_of(fd)? {
        Kind::Stream => Protocol::Tcp,
        Kind::Datagram => Protocol::Udp,
    };
    Ok(Access::Connect {
        addr: Host::Ip(to.ip()),
        port: to.port(),
        proto,
    })
}

pub(super) async fn dispatch(
    k: &Kernel,
    caller: &Caller,
    call: Call,
) -> Result<Value, KernelError> {
    let fds = &k.ipc.fds;
    let who = caller.key();
    Ok(match call {
        Call::Socket(c) => {
            let kind = match pb::SocketType::try_from(c.r#type) {
                Ok(pb::SocketType::Stream) => Kind::Stream,
                Ok(pb::SocketType::Dgram) => Kind::Datagram,
                _ => {
                    return Err(KernelError::InvalidArgument(format!(
                        "socket type {}: SOCKET_TYPE_STREAM or SOCKET_TYPE_DGRAM",
                        c.r#type
                    )));
                }
            };
            let fd = match caller.managed {
                // Made on the blocking pool: it enters the namespace from a thread of
                // its own, or asks the process's helper (forked at the first socket).
                Some(pid) => {
                    let p = k.processes.get(pid)?;
                    let ipv6 = c.ipv6;
                    tokio::task::spawn_blocking(move || p.socket(kind, ipv6))
                        .await
                        .map_err(|e| KernelError::Internal(format!("making a socket: {e}")))??
                }
                None => socket::create(kind, c.ipv6, None)?,
            };
            Value::Count(u64::from(fds.insert(&who, fd)?))
        }
        Call::Bind(c) => {
            let to = addr(&c.addr)?;
            k.check(caller, Access::Bind(to.port()))?;
            Value::Count(u64::from(socket::bind(&*fds.get(&who, c.fd)?, to)?))
        }
        Call::Listen(c) => {
            socket::listen(&*fds.get(&who, c.fd)?, c.backlog)?;
            unit()
        }
        Call::Accept(c) => {
            let listener: Arc<OwnedFd> = fds.get(&who, c.fd)?;
            let (conn, peer) = socket::accept(&listener, wait(c.wait_ms)).await?;
            let fd = fds.insert(&who, conn)?;
            Value::SocketPeer(pb::SocketPeer { fd, addr: peer })
        }
        Call::Connect(c) => {
            let (to, fd) = (addr(&c.addr)?, fds.get(&who, c.fd)?);
            k.check(caller, connect_access(&fd, to)?)?;
            socket::connect(&fd, to, wait(c.wait_ms)).await?;
            unit()
        }
        Call::Send(c) => {
            let fd = fds.get(&who, c.fd)?;
            Value::Count(socket::send(&fd, &c.data, wait(c.wait_ms)).await? as u64)
        }
        Call::Recv(c) => {
            let fd = fds.get(&who, c.fd)?;
            Value::Data(socket::recv(&fd, max(c.max)?, wait(c.wait_ms)).await?)
        }
        Call::Sendto(c) => {
            let (to, fd) = (addr(&c.addr)?, fds.get(&who, c.fd)?);
            k.check(caller, connect_access(&fd, to)?)?;
            Value::Count(socket::send_to(&fd, &c.data, to)? as u64)
        }
        Call::Recvfrom(c) => {
            let fd = fds.get(&who, c.fd)?;
            let (data, from) = socket::recv_from(&fd, max(c.max)?, wait(c.wait_ms)).await?;
            Value::Datagram(pb::Datagram { data, from })
        }
        Call::Setsockopt(c) => {
            use pb::SocketOption as O;
            let opt = match O::try_from(c.option) {
                Ok(O::Reuseaddr) => Opt::ReuseAddr,
                Ok(O::Keepalive) => Opt::KeepAlive,
                Ok(O::TcpNodelay) => Opt::TcpNoDelay,
                Ok(O::Rcvbuf) => Opt::RcvBuf,
                Ok(O::Sndbuf) => Opt::SndBuf,
                Ok(O::Broadcast) => Opt::Broadcast,
                _ => {
                    return Err(KernelError::InvalidArgument(format!(
                        "socket option {}: one of SocketOption",
                        c.option
                    )));
                }
            };
            socket::set_option(&*fds.get(&who, c.fd)?, opt, c.value)?;
            unit()
        }
        _ => unreachable!("not a socket call"),
    })
}
