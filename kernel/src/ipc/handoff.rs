//! Handing fds to a managed process on its own kernel socket.
//!
//! gRPC cannot carry an fd, and a sandboxed process reaches only its own socket.
//! So that socket carries two protocols, told apart by a connection's first bytes:
//! HTTP/2 (a gRPC client's preface, `PRI * HTTP/2.0…`) goes to the kernel service;
//! [`MAGIC`] followed by a ticket asks for the fd a syscall offered (`PipeOpen`,
//! `ShmAttach`), and the reply is the broker's: byte `0` with the fd attached
//! (`SCM_RIGHTS`), or byte `1` and the reason. A ticket offered to one process is
//! refused on any other process's socket.

use std::{io, sync::Arc, time::Duration};

use tokio::{
    net::{UnixListener, UnixStream},
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;

use crate::shm::{Broker, Claimant};

/// The first bytes of a connection that redeems a ticket.
pub use agentos_client::paths::FD_MAGIC as MAGIC;
/// How long a new connection may take to send its first bytes.
const FIRST_BYTES: Duration = Duration::from_secs(5);

/// The gRPC connections accepted on `listener` (the socket of process `pid`,
/// whose peers must be `uid` or root); ticket connections are answered here.
/// Accepting stops when the returned stream is dropped.
pub fn incoming(
    listener: UnixListener,
    pid: u32,
    uid: u32,
    broker: Arc<Broker>,
) -> ReceiverStream<io::Result<UnixStream>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = tx.closed() => return,
                a = listener.accept() => a,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(pid, "process socket: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (tx, broker) = (tx.clone(), Arc::clone(&broker));
            tokio::spawn(async move {
                match sort(&stream, uid).await {
                    Ok(true) => {
                        if let Err(e) = broker.redeem(stream, Claimant::Process(pid)).await {
                            tracing::debug!(pid, "fd handoff: {e}");
                        }
                    }
                    Ok(false) => drop(tx.send(Ok(stream)).await),
                    Err(e) => tracing::debug!(pid, "process socket: {e}"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Whether the connection asks for an fd (its magic consumed) rather than gRPC.
async fn sort(stream: &UnixStream, uid: u32) -> io::Result<bool> {
    let mut head = [0u8; MAGIC.len()];
    let peeked = tokio::time::timeout(FIRST_BYTES, async {
        loop {
            stream.readable().await?;
            match stream.try_io(tokio::io::Interest::READABLE, || {
                nix::sys::socket::recv(
                    std::os::fd::AsRawFd::as_raw_fd(stream),
                    &mut head,
                    nix::sys::socket::MsgFlags::MSG_PEEK,
                )
                .map_err(io::Error::from)
            }) {
                Ok(n) if n == head.len() || n == 0 => return Ok::<_, io::Error>(n),
                Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no first bytes"))??;
    if peeked < head.len() || &head != MAGIC {
        return Ok(false);
    }
    let peer = stream.peer_cred()?.uid();
    if peer != uid && peer != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("uid {peer} is not this process's sandbox"),
        ));
    }
    // Consume the magic; the ticket follows.
    let mut skip = [0u8; MAGIC.len()];
    let n = nix::sys::socket::recv(
        std::os::fd::AsRawFd::as_raw_fd(stream),
        &mut skip,
        nix::sys::socket::MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    debug_assert_eq!(n, skip.len());
    Ok(true)
}
