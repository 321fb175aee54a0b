//! Name resolution for `private` and `bridged` processes: a DNS relay of the kernel's,
//! and the `/etc/resolv.conf` their sandboxes see.
//!
//! # Why a relay, not the host's resolvers through the NAT
//!
//! Every such sandbox gets a `/etc/resolv.conf` of the kernel's (`DIR/run/resolv.conf`,
//! bound read-only over the host's in its mount namespace; the host's file is never
//! touched) naming one address, [`RESOLVER`] (`10.213.255.53`, in segment 255, which no
//! bridge gets). The kernel's nftables table redirects UDP and TCP port 53 to that
//! address, arriving from any of its bridges, to the relay's two sockets on the host's
//! loopback (`nft.rs`), and accepts only those; the relay sends each query on to the
//! upstream resolvers from the host's own network namespace and hands the answer back.
//!
//! Sending the sandbox straight to the host's resolvers would need the egress chain to
//! open the private range they usually sit in (this host's `/etc/resolv.conf` names
//! `10.255.255.53`), it would break wherever the host resolves on its loopback
//! (systemd-resolved's `127.0.0.53`, unreachable from another namespace), and the
//! answers would need forwarding back into the bridge, which `net.ipv4.ip_forward=0`
//! refuses (the kernel leaves that host setting alone). The relay needs none of it: the
//! sandbox reaches one port of one address that is not the resolver's, the resolver
//! sees the host asking, loopback resolvers work, and no forwarding is involved.
//!
//! # IPv6
//!
//! Where the host has IPv6 the sandbox's file also names [`RESOLVER6`]
//! (`fd61:6765:6e74:ff::53`, segment 255 again), and the relay listens there too. Not
//! on `::1` behind a DNAT, as IPv4 does with `127.0.0.1`: IPv6 drops loopback
//! addresses arriving on any interface but `lo` (the answer, un-NATed to `::1` in the
//! bridge's prerouting hook, would be), and has no `route_localnet`. So every bridge
//! with IPv6 holds that address (`links.rs`), the relay's sockets are bound to it with
//! `IP_FREEBIND` (before any bridge holds it, and across bridges coming and going), and
//! the table sends queries to its port 53 on to the relay's ports and refuses the
//! address from any interface but the loopback and the agentos bridges (`nft.rs`).
//! Queries to any other IPv6 resolver meet the process's grants like any traffic.
//!
//! What it does give: every private and bridged process can ask the upstream
//! resolvers any question, whatever its grants (as any process on the host can). A
//! query is also a channel out (DNS tunnelling through a name server someone controls);
//! a process that must not talk to the world at all belongs in mode `none`.
//!
//! The relay carries bytes and parses nothing but a reply's ID (it must match the
//! query's). It holds at most [`MAX_IN_FLIGHT`] UDP queries and as many TCP connections
//! at once (further connections wait; further UDP queries are dropped: the client
//! retries), gives each upstream [`UPSTREAM_TIMEOUT`] and each TCP connection
//! [`TCP_LIFETIME`]. Its sockets on `127.0.0.1` are open to the host's own processes
//! too, which gain nothing by them: they ask the host's resolvers already.
//!
//! The upstreams are the kernel's `--dns` list when given (a test points it at a
//! responder of its own), else the `nameserver`s of the host's `/etc/resolv.conf`
//! (scoped link-local ones, which need an interface, are left out and reported). The
//! relay's sockets close with the kernel; the file in `DIR/run` is rewritten at start.

use std::{
    fs,
    io::{self, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream, UdpSocket},
    sync::Semaphore,
    task::JoinHandle,
};

use super::links::{SERVICE_SEGMENT, address4, address6};

/// The resolver every private and bridged sandbox is given: `10.213.255.53`.
pub(crate) const RESOLVER: Ipv4Addr = address4(SERVICE_SEGMENT, 53);
/// Its IPv6 twin, given too where the host has IPv6: `fd61:6765:6e74:ff::53`.
pub(crate) const RESOLVER6: Ipv6Addr = address6(SERVICE_SEGMENT, 0x53);
/// The host's resolver configuration.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// UDP queries, and TCP connections, the relay carries at once (each).
pub(crate) const MAX_IN_FLIGHT: usize = 256;
/// How long one upstream gets to answer.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a TCP connection through the relay lives.
pub(crate) const TCP_LIFETIME: Duration = Duration::from_secs(30);
/// The largest DNS message (TCP's 16-bit length; UDP's datagram limit).
const MAX_MESSAGE: usize = 65_535;
/// The port resolvers listen on.
const DNS_PORT: u16 = 53;

/// `IP` or `IP:PORT` (port 53 when left out; an IPv6 address with a port in brackets).
pub fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, DNS_PORT)))
        .map_err(|_| format!("resolver {s:?}: expected IP or IP:PORT"))
}

/// What a `resolv.conf` says: its resolvers, the lines kept for the sandbox's own
/// (`search`, `domain`, `options`), and the resolvers left out and why.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ResolvConf {
    pub nameservers: Vec<SocketAddr>,
    pub kept: Vec<String>,
    pub skipped: Vec<String>,
}

impl ResolvConf {
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for line in text.lines().map(str::trim) {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => match words.next().map(|w| (w, w.parse::<IpAddr>())) {
                    Some((_, Ok(ip))) => out.nameservers.push(SocketAddr::new(ip, DNS_PORT)),
                    Some((w, Err(_))) => out.skipped.push(format!(
                        "{w} (not a plain address: a scoped link-local one needs an interface)"
                    )),
                    None => {}
                },
                Some("search" | "domain" | "options") => out.kept.push(line.to_owned()),
                _ => {}
            }
        }
        out
    }
}

/// Where the relay sends queries, and where that list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upstreams {
    pub addrs: Vec<SocketAddr>,
    /// The host's `search`/`domain`/`options` lines (none when configured).
    pub kept: Vec<String>,
    pub source: String,
}

impl Upstreams {
    /// `configured` (the kernel's `--dns`) when given, else the host's `/etc/resolv.conf`.
    pub fn detect(configured: &[SocketAddr]) -> Result<Self, String> {
        if !configured.is_empty() {
            return Ok(Self {
                addrs: configured.to_vec(),
                kept: Vec::new(),
                source: "the kernel's configuration (--dns)".into(),
            });
        }
        let text = fs::read_to_string(HOST_RESOLV_CONF)
            .map_err(|e| format!("reading {HOST_RESOLV_CONF}: {e}"))?;
        let conf = ResolvConf::parse(&text);
        let mut source = HOST_RESOLV_CONF.to_owned();
        if !conf.skipped.is_empty() {
            source += &format!(" (left out: {})", conf.skipped.join(", "));
        }
        if conf.nameservers.is_empty() {
            return Err(format!("{source} names no usable nameserver"));
        }
        Ok(Self {
            addrs: conf.nameservers,
            kept: conf.kept,
            source,
        })
    }

    /// The sandbox's `resolv.conf`: the relay's addresses (its IPv6 one if `v6`) and
    /// the host's kept lines.
    pub fn sandbox_resolv_conf(&self, v6: bool) -> String {
        let mut s = format!(
            "# Written by agentos-kernel: the kernel's DNS relay, which asks {}.\n\
             nameserver {RESOLVER}\n",
            self.addrs
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if v6 {
            s += &format!("nameserver {RESOLVER6}\n");
        }
        for l in &self.kept {
            s += l;
            s.push('\n');
        }
        s
    }
}

/// Writes `text` to `path` atomically (a temporary file beside it, synced, renamed).
pub(crate) fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// `DIR/run/resolv.conf`.
pub(crate) fn resolv_conf_path(data_dir: &Path) -> PathBuf {
    data_dir.join("run").join("resolv.conf")
}

/// The relay's ports on one loopback address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub udp: u16,
    pub tcp: u16,
}

/// The relay's ports on `127.0.0.1`, and on [`RESOLVER6`] when it listens there too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPorts {
    pub v4: Ports,
    pub v6: Option<Ports>,
}

/// The running relay; dropping it stops it. Public for the bench (`benches/net/dns.rs`).
#[derive(Debug)]
pub struct Relay {
    pub ports: RelayPorts,
    tasks: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Binds the relay's sockets on `127.0.0.1` (and [`RESOLVER6`] if `v6`, when it
    /// can: [`RelayPorts::v6`] says) and serves them on `rt`.
    pub fn start(
        rt: &tokio::runtime::Handle,
        upstreams: Vec<SocketAddr>,
        v6: bool,
    ) -> io::Result<Self> {
        let upstreams: Arc<[SocketAddr]> = upstreams.into();
        // One limit each, shared by both families, so connections held open over TCP
        // cannot starve UDP queries.
        let (udp_limit, tcp_limit) = (
            Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        );
        let mut tasks = Vec::new();
        let mut serve = |(udp, tcp): (std::net::UdpSocket, std::net::TcpListener)| {
            let ports = Ports {
                udp: udp.local_addr()?.port(),
                tcp: tcp.local_addr()?.port(),
            };
            udp.set_nonblocking(true)?;
            tcp.set_nonblocking(true)?;
            let _guard = rt.enter();
            let udp = Arc::new(UdpSocket::from_std(udp)?);
            let tcp = TcpListener::from_std(tcp)?;
            tasks.push(rt.spawn(serve_udp(
                udp,
                Arc::clone(&upstreams),
                Arc::clone(&udp_limit),
            )));
            tasks.push(rt.spawn(serve_tcp(
                tcp,
                Arc::clone(&upstreams),
                Arc::clone(&tcp_limit),
            )));
            Ok::<_, io::Error>(ports)
        };
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let v4 = serve((
            std::net::UdpSocket::bind(loopback)?,
            std::net::TcpListener::bind(loopback)?,
        ))?;
        // IPv6 is an addition: without it sandboxes still resolve over IPv4, and their
        // resolv.conf then names the IPv4 address alone.
        let v6 = v6
            .then(|| bind_nonlocal(RESOLVER6).and_then(&mut serve))
            .and_then(|bound| {
                bound
                    .inspect_err(|e| {
                        tracing::warn!("the DNS relay does not listen on {RESOLVER6}: {e}")
                    })
                    .ok()
            });
        Ok(Self {
            ports: RelayPorts { v4, v6 },
            tasks,
        })
    }
}

/// A UDP socket and a TCP listener on `addr` (ports chosen by the kernel), bound with
/// `IP_FREEBIND`: no bridge need hold the address yet (the relay starts before the
/// first one is made, and outlives each).
#[cfg(target_os = "linux")]
fn bind_nonlocal(addr: Ipv6Addr) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    use std::os::fd::{AsRawFd, OwnedFd};

    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrIn6, bind, listen, setsockopt, socket,
        sockopt::IpFreebind,
    };
    let make = |ty: SockType| -> io::Result<OwnedFd> {
        let fd = socket(AddressFamily::Inet6, ty, SockFlag::SOCK_CLOEXEC, None)?;
        setsockopt(&fd, IpFreebind, &true)?;
        let at = std::net::SocketAddrV6::new(addr, 0, 0, 0);
        bind(fd.as_raw_fd(), &SockaddrIn6::from(at))?;
        Ok(fd)
    };
    let udp = std::net::UdpSocket::from(make(SockType::Datagram)?);
    let tcp = make(SockType::Stream)?;
    listen(&tcp, Backlog::new(128).map_err(io::Error::from)?)?;
    Ok((udp, std::net::TcpListener::from(tcp)))
}

/// Off Linux no private mode is given, so nothing asks for the relay's IPv6 side.
#[cfg(not(target_os = "linux"))]
fn bind_nonlocal(addr: Ipv6Addr) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("binding {addr}, which no interface holds, needs Linux's IP_FREEBIND"),
    ))
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve_udp(sock: Arc<UdpSocket>, upstreams: Arc<[SocketAddr]>, limit: Arc<Semaphore>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let (n, client) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("DNS relay (udp): {e}");
                continue;
            }
        };
        // Busy: drop the query (the client's resolver retries), never queue without bound.
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            continue;
        };
        let query = buf[..n].to_vec();
        let (sock, upstreams) = (Arc::clone(&sock), Arc::clone(&upstreams));
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(reply) = ask_udp(&upstreams, &query).await
                && let Err(e) = sock.send_to(&reply, client).await
            {
                tracing::debug!("DNS relay (udp) answering {client}: {e}");
            }
        });
    }
}

/// The first answer to `query` from `upstreams`, tried in order.
async fn ask_udp(upstreams: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 2 {
        return None;
    }
    let mut buf = vec![0u8; MAX_MESSAGE];
    for up in upstreams {
        let asked = async {
            let s = super::forward_relay::connect_udp(*up).await?;
            s.send(query).await?;
            loop {
                let n = s.recv(&mut buf).await?;
                // The same ID as the query, or it is not this query's answer.
                if n >= 2 && buf[..2] == query[..2] {
                    return Ok::<_, io::Error>(buf[..n].to_vec());
                }
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, asked).await {
            Ok(Ok(reply)) => return Some(reply),
            Ok(Err(e)) => tracing::debug!("DNS relay asking {up}: {e}"),
            Err(_) => tracing::debug!("DNS relay asking {up}: no answer in {UPSTREAM_TIMEOUT:?}"),
        }
    }
    None
}

async fn serve_tcp(listener: TcpListener, upstreams: Arc<[SocketAddr]>, limit: Arc<Semaphore>) {
    loop {
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            return;
        };
        let mut client = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                tracing::debug!("DNS relay (tcp): {e}");
                continue;
            }
        };
        let upstreams = Arc::clone(&upstreams);
        tokio::spawn(async move {
            let _permit = permit;
            let carried = async {
                let mut up = connect_any(&upstreams).await?;
                tokio::io::copy_bidirectional(&mut client, &mut up).await
            };
            match tokio::time::timeout(TCP_LIFETIME, carried).await {
                Ok(Err(e)) => tracing::debug!("DNS relay (tcp): {e}"),
                Err(_) => tracing::debug!("DNS relay (tcp): cut after {TCP_LIFETIME:?}"),
                Ok(Ok(_)) => {}
            }
        });
    }
}

/// A TCP connection to the first upstream that takes one.
async fn connect_any(upstreams: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::other("no upstream resolver");
    for up in upstreams {
        match tokio::time::timeout(UPSTREAM_TIMEOUT, TcpStream::connect(up)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, format!("connecting {up}")),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resolvers_and_keeps_search_and_options() {
        let c = ResolvConf::parse(
            "# comment\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\n\
             nameserver fd00::1\nsearch example.internal\noptions edns0 trust-ad\nsortlist 10.0.0.0\n",
        );
        assert_eq!(
            c.nameservers,
            vec![
                "10.255.255.53:53".parse().unwrap(),
                "[fd00::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(
            c.kept,
            ["search example.internal", "options edns0 trust-ad"]
        );
        assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
        assert!(c.skipped[0].starts_with("fe80::1%eth0"), "{:?}", c.skipped);
    }

    #[test]
    fn resolver_forms() {
        assert_eq!(
            parse_resolver("10.1.2.3"),
            Ok("10.1.2.3:53".parse().unwrap())
        );
        assert_eq!(
            parse_resolver("10.1.2.3:5353"),
            Ok("10.1.2.3:5353".parse().unwrap())
        );
        assert_eq!(
            parse_resolver("fd00::1"),
            Ok("[fd00::1]:53".parse().unwrap())
        );
        assert!(parse_resolver("example.com").is_err());
    }

    #[test]
    fn the_sandbox_is_given_the_relay_alone() {
        let u = Upstreams {
            addrs: vec!["127.0.0.53:53".parse().unwrap()],
            kept: vec!["search lan".into()],
            source: "test".into(),
        };
        let text = u.sandbox_resolv_conf(false);
        let conf = ResolvConf::parse(&text);
        assert_eq!(conf.nameservers, vec![SocketAddr::from((RESOLVER, 53))]);
        assert_eq!(conf.kept, ["search lan"]);
        assert_eq!(RESOLVER, Ipv4Addr::new(10, 213, 255, 53));
        let conf = ResolvConf::parse(&u.sandbox_resolv_conf(true));
        assert_eq!(
            conf.nameservers,
            vec![
                SocketAddr::from((RESOLVER, 53)),
                SocketAddr::from((RESOLVER6, 53))
            ]
        );
        assert_eq!(RESOLVER6.to_string(), "fd61:6765:6e74:ff::53");
    }

    /// A query goes to the first upstream that answers with its ID, over UDP and TCP;
    /// an answer with another ID is not taken for it.
    #[tokio::test]
    async fn the_relay_carries_a_query_to_an_upstream_and_back() {
        // A dead upstream first (its port closed again: refused), then one that answers.
        let dead = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let up = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let up_addr = up.local_addr().unwrap();
        let tcp_up = TcpListener::bind(up_addr).await.unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 512];
            loop {
                let (n, from) = up.recv_from(&mut b).await.unwrap();
                // A stray datagram with the wrong ID first, then the answer.
                up.send_to(b"zz-stray", from).await.unwrap();
                let mut reply = b[..n].to_vec();
                reply.extend_from_slice(b"-answered");
                up.send_to(&reply, from).await.unwrap();
            }
        });
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = tcp_up.accept().await.unwrap();
            let mut b = [0u8; 64];
            let n = s.read(&mut b).await.unwrap();
            s.write_all(&[&b[..n], b"-over-tcp"].concat())
                .await
                .unwrap();
        });
        let relay = Relay::start(
            &tokio::runtime::Handle::current(),
            vec![dead, up_addr],
            true,
        )
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(b"q1-query", ("127.0.0.1", relay.ports.v4.udp))
            .await
            .unwrap();
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(UPSTREAM_TIMEOUT * 2, client.recv(&mut b))
            .await
            .expect("an answer through the relay")
            .unwrap();
        assert_eq!(&b[..n], b"q1-query-answered");

        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let v6 = relay
            .ports
            .v6
            .expect("listening on the IPv6 resolver address");
        // No bridge holds the address here: it is bound all the same (IP_FREEBIND); the
        // host's loopback reaches the v4 side over TCP too.
        assert_ne!(v6.tcp, 0);
        let mut s = TcpStream::connect(("127.0.0.1", relay.ports.v4.tcp))
            .await
            .unwrap();
        s.write_all(b"q2").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"q2-over-tcp");
        drop(relay);
    }
}
