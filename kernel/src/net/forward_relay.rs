//! The kernel's relay for port forwards from the host's IPv6 loopback (`--publish
//! [::1]:8080:80`): the reserved socket on `[::1]:8080` is served by the kernel, and
//! each TCP connection (or each UDP peer's datagrams) is carried to the process's IPv6
//! address, port 80, from the host's side of its bridge.
//!
//! # Why not a DNAT, as IPv4 forwards are
//!
//! A DNAT of `::1` in the output hook does reach the process (a masquerade gives the
//! packet the bridge's address), but its answer cannot come back: un-NATed to `::1`,
//! it arrives on the bridge, and IPv6's input drops loopback addresses arriving on any
//! interface but `lo` (RFC 4291 2.5.3, `ip6_rcv_core`; counted as `Ip6InHdrErrors`
//! here), before routing. IPv4's `route_localnet` has no IPv6 twin. On a host without
//! `br_netfilter` a `local ::1` route on the bridge with a rule sending it there
//! carries the answer (tried: it does); but with `bridge-nf-call-ip6tables` on (as on
//! this project's hosts, and wherever Docker runs) the answer is un-NATed in the
//! bridge's own prerouting hook, before IPv6's input sees it, and is dropped all the
//! same. So the kernel relays, as it does DNS (`dns.rs`).
//!
//! What the process sees is a connection from its bridge's address, as with the
//! masquerade of an IPv4 forward. The relay carries at most [`MAX_FLOWS`] TCP
//! connections and as many UDP peers at once (further connections wait in the
//! backlog; datagrams of further peers are dropped); a UDP peer is forgotten after
//! [`UDP_IDLE`] without an answer. Everything stops when the forward's process is
//! reaped (its [`Relay`] drops), the sockets close with it, and nothing is left on the
//! host.

use std::{collections::HashMap, io, net::SocketAddr, sync::Arc, time::Duration};

use crate::sandbox::{Dialer, SocketKind};

use tokio::{
    net::{TcpListener, TcpSocket, TcpStream, UdpSocket},
    runtime::Handle,
    task::{JoinHandle, JoinSet},
};

/// TCP connections, and UDP peers, one forward carries at once.
pub(crate) const MAX_FLOWS: usize = 256;
/// How long a UDP peer is remembered without an answer from the process.
pub(crate) const UDP_IDLE: Duration = Duration::from_secs(60);
/// The largest datagram carried.
pub(crate) const MAX_DATAGRAM: usize = 65_535;
/// Bytes a TCP flow carries per read and write, each way. Tokio's default, 8 KiB, held
/// one stream through rootless `private`'s relay to 411-464 MiB/s here; 64 KiB carries
/// 0.89-1.06 GiB/s, and 256 KiB no more (`tcp_pull_64MiB` in `benches/net.rs`). A flow
/// holds two, allocated as it starts: at most 32 MiB for a relay's [`MAX_FLOWS`].
const RELAY_BUF: usize = 64 * 1024;

/// A running relay; dropping it stops it and every flow it carries, and its sockets
/// close once the runtime drops the stopped task; [`Relay::stop`] waits for that.
#[derive(Debug)]
pub(crate) struct Relay(Option<JoinHandle<()>>);

impl Relay {
    /// Runs `task` on `rt` as a relay.
    pub(crate) fn spawn(rt: &Handle, task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(Some(rt.spawn(task)))
    }

    /// Stops it and waits until its task, and with it every socket it served, is gone.
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Where the relay's onward connections are made.
#[derive(Clone, Debug)]
pub(crate) enum Dial {
    /// In the kernel's own network namespace.
    Host,
    /// In a sandbox's, on sockets its [`Dialer`] makes there (port forwards into
    /// rootless `private`, `proxied.rs`).
    Within(Arc<Dialer>),
}

impl Dial {
    async fn connect(&self, to: SocketAddr) -> io::Result<TcpStream> {
        match self {
            Self::Host => TcpStream::connect(to).await,
            Self::Within(dialer) => {
                let sock = std::net::TcpStream::from(made(dialer, SocketKind::Tcp).await?);
                sock.set_nonblocking(true)?;
                TcpSocket::from_std_stream(sock).connect(to).await
            }
        }
    }

    async fn connect_udp(&self, to: SocketAddr) -> io::Result<UdpSocket> {
        match self {
            Self::Host => connect_udp(to).await,
            Self::Within(dialer) => {
                let sock = std::net::UdpSocket::from(made(dialer, SocketKind::Udp).await?);
                sock.set_nonblocking(true)?;
                let sock = UdpSocket::from_std(sock)?;
                sock.connect(to).await?;
                Ok(sock)
            }
        }
    }
}

/// A socket of `kind` from `dialer`, asked off the runtime's threads.
pub(crate) async fn made(
    dialer: &Arc<Dialer>,
    kind: SocketKind,
) -> io::Result<std::os::fd::OwnedFd> {
    let dialer = Arc::clone(dialer);
    tokio::task::spawn_blocking(move || dialer.socket(kind))
        .await
        .map_err(io::Error::other)?
}

/// Serves `listener` on `rt`, carrying each connection to `to`, dialled as `dial` says.
pub(crate) fn tcp(
    rt: &Handle,
    listener: std::net::TcpListener,
    dial: Dial,
    to: SocketAddr,
) -> io::Result<Relay> {
    tcp_routed(rt, listener, move |_| Ok((dial.clone(), to)))
}

/// Serves `listener` on `rt`, carrying each connection to where `route` says, dialled
/// as it says, or closing it at once when `route` refuses it (why, for the log): rootless
/// `private`'s proxy (`proxied.rs`), which routes by the connection's original
/// destination.
pub(crate) fn tcp_routed(
    rt: &Handle,
    listener: std::net::TcpListener,
    route: impl Fn(&TcpStream) -> Result<(Dial, SocketAddr), String> + Send + 'static,
) -> io::Result<Relay> {
    listener.set_nonblocking(true)?;
    let _guard = rt.enter();
    let listener = TcpListener::from_std(listener)?;
    Ok(Relay::spawn(rt, serve_tcp(listener, route)))
}

/// Serves `sock` on `rt`, carrying each peer's datagrams to `to`, from a socket made as
/// `dial` says, and the answers back.
pub(crate) fn udp(
    rt: &Handle,
    sock: std::net::UdpSocket,
    dial: Dial,
    to: SocketAddr,
) -> io::Result<Relay> {
    sock.set_nonblocking(true)?;
    let _guard = rt.enter();
    let sock = Arc::new(UdpSocket::from_std(sock)?);
    Ok(Relay::spawn(rt, serve_udp(sock, dial, to)))
}

async fn serve_tcp(
    listener: TcpListener,
    route: impl Fn(&TcpStream) -> Result<(Dial, SocketAddr), String>,
) {
    // Aborted with this task: dropping the set aborts every connection it carries.
    let mut flows = JoinSet::new();
    loop {
        if flows.len() >= MAX_FLOWS {
            flows.join_next().await;
            continue;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((mut client, from)) => {
                    let (dial, to) = match route(&client) {
                        Ok(routed) => routed,
                        Err(why) => {
                            tracing::debug!("relay: {from} refused: {why}");
                            continue;
                        }
                    };
                    flows.spawn(async move {
                        let carried = async {
                            let mut up = dial.connect(to).await?;
                            // Each side's writes go on as they come: the relay adds no
                            // Nagle delay of its own to what its peers send.
                            client.set_nodelay(true)?;
                            up.set_nodelay(true)?;
                            tokio::io::copy_bidirectional_with_sizes(&mut client, &mut up, RELAY_BUF, RELAY_BUF)
                                .await
                        };
                        if let Err(e) = carried.await {
                            tracing::debug!("forward {from} → {to}: {e}");
                        }
                    });
                }
                Err(e) => tracing::debug!("relay: accepting: {e}"),
            },
            Some(_) = flows.join_next(), if !flows.is_empty() => {}
        }
    }
}

async fn serve_udp(sock: Arc<UdpSocket>, dial: Dial, to: SocketAddr) {
    let mut peers: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    // Each peer's answers; a task ends (and its peer is forgotten) after UDP_IDLE.
    let mut answers = JoinSet::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            got = sock.recv_from(&mut buf) => {
                let (n, peer) = match got {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!("forward to {to}: {e}");
                        continue;
                    }
                };
                let up = match peers.get(&peer) {
                    Some(up) => Arc::clone(up),
                    None if peers.len() >= MAX_FLOWS => continue,
                    None => match dial.connect_udp(to).await {
                        Ok(up) => {
                            let up = Arc::new(up);
                            peers.insert(peer, Arc::clone(&up));
                            answers.spawn(carry_answers(Arc::clone(&up), Arc::clone(&sock), peer));
                            up
                        }
                        Err(e) => {
                            tracing::debug!("forward {peer} → {to}: {e}");
                            continue;
                        }
                    },
                };
                if let Err(e) = up.send(&buf[..n]).await {
                    tracing::debug!("forward {peer} → {to}: {e}");
                }
            }
            Some(Ok(peer)) = answers.join_next(), if !answers.is_empty() => {
                peers.remove(&peer);
            }
        }
    }
}

/// A UDP socket of the host's connected to `to` (also how the DNS relay asks upstream).
pub(crate) async fn connect_udp(to: SocketAddr) -> io::Result<UdpSocket> {
    let any = SocketAddr::new(
        match to {
            SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        },
        0,
    );
    let up = UdpSocket::bind(any).await?;
    up.connect(to).await?;
    Ok(up)
}

/// Sends what `up` receives to `peer` through `sock`, until [`UDP_IDLE`] passes without
/// any; returns `peer`.
async fn carry_answers(up: Arc<UdpSocket>, sock: Arc<UdpSocket>, peer: SocketAddr) -> SocketAddr {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, up.recv(&mut buf)).await {
        if let Err(e) = sock.send_to(&buf[..n], peer).await {
            tracing::debug!("forward answer to {peer}: {e}");
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both protocols, between loopback sockets of the test's: bytes go through and come
    /// back; a dropped relay closes its socket.
    #[tokio::test]
    async fn carries_tcp_and_udp_both_ways() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = Handle::current();
        // TCP: an echo server behind the relay.
        let server = TcpListener::bind("[::1]:0").await.unwrap();
        let to = server.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut b = [0u8; 16];
            let n = s.read(&mut b).await.unwrap();
            s.write_all(&[b"pong ", &b[..n]].concat()).await.unwrap();
        });
        let front = std::net::TcpListener::bind("[::1]:0").unwrap();
        let at = front.local_addr().unwrap();
        let relay = tcp(&rt, front, Dial::Host, to).unwrap();
        let mut c = TcpStream::connect(at).await.unwrap();
        c.write_all(b"tcp").await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"pong tcp");
        drop(relay);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while TcpStream::connect(at).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{at} open after the drop"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // UDP: an echo server answering twice per datagram.
        let server = UdpSocket::bind("[::1]:0").await.unwrap();
        let to = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 16];
            let (n, from) = server.recv_from(&mut b).await.unwrap();
            for reply in [b"one ".as_slice(), b"two "] {
                server
                    .send_to(&[reply, &b[..n]].concat(), from)
                    .await
                    .unwrap();
            }
        });
        let front = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let at = front.local_addr().unwrap();
        let _relay = udp(&rt, front, Dial::Host, to).unwrap();
        let c = UdpSocket::bind("[::1]:0").await.unwrap();
        c.send_to(b"udp", at).await.unwrap();
        let mut b = [0u8; 16];
        for want in [b"one udp", b"two udp"] {
            let (n, from) = tokio::time::timeout(Duration::from_secs(5), c.recv_from(&mut b))
                .await
                .expect("an answer through the relay")
                .unwrap();
            assert_eq!((&b[..n], from), (want.as_slice(), at));
        }
    }
}
