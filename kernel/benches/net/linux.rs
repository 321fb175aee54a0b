//! The NAT round-trip bench on Linux (see `benches/net.rs`).

use std::{
    fs::File,
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    os::fd::{AsFd, AsRawFd},
    process::Command,
    sync::mpsc,
    thread,
    time::Duration,
};

use agentos_client::{Client, pb};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, measurement::WallTime,
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, packet_route::link::InfoData};

use crate::support::{EmbeddedKernel, managed_output};

/// The round-trip client.
const PEER: &str = env!("CARGO_BIN_EXE_agentos-ipc-peer");
/// Round trips per criterion iteration: the time shown is per batch, the
/// throughput round trips per second.
const BATCH: u64 = 500;
/// Bytes each way (`tcp_ping::MSG`).
const MSG: usize = 16;
/// The bench's subnet, `10.214.254.0/30`, in the network tests' `10.214.<k>` range.
const HOST_END: Ipv4Addr = Ipv4Addr::new(10, 214, 254, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 214, 254, 2);
const PREFIX: u8 = 30;

/// Echoes [`MSG`]-byte messages on each connection of `l`, one connection at a time
/// (each sample's client makes one), until `l` is shut down.
fn echo(l: TcpListener) {
    for conn in l.incoming() {
        let Ok(mut c) = conn else { return };
        let _ = c.set_nodelay(true);
        let mut buf = [0u8; MSG];
        while c.read_exact(&mut buf).is_ok() && c.write_all(&buf).is_ok() {}
    }
}

/// Runs `f` with an rtnetlink handle on the calling thread (in its network namespace).
fn netlink<T>(f: impl AsyncFnOnce(Handle) -> Result<T, rtnetlink::Error>) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().expect("netlink socket");
        tokio::spawn(conn);
        f(handle).await.expect("netlink")
    })
}

async fn index(h: &Handle, name: &str) -> Result<u32, rtnetlink::Error> {
    use tokio_stream::StreamExt;
    let mut l = h.link().get().match_name(name.to_owned()).execute();
    Ok(l.next().await.expect("the link")?.header.index)
}

/// Gives link `name` of the calling thread's namespace `addr/PREFIX` and brings it up.
async fn address_up(h: &Handle, name: &str, addr: Ipv4Addr) -> Result<(), rtnetlink::Error> {
    let i = index(h, name).await?;
    h.address().add(i, addr.into(), PREFIX).execute().await?;
    h.link()
        .set(LinkUnspec::new_with_index(i).up().build())
        .execute()
        .await
}

/// An anonymous network namespace with an echo server at `SERVER`, joined to the host
/// by a veth; dropping it deletes the veth and ends the server and the namespace.
struct ServerNet {
    veth: String,
    addr: SocketAddr,
    /// The server's listener, to shut down (which ends its `accept`).
    listener: Option<TcpListener>,
    server: Option<thread::JoinHandle<()>>,
}

impl ServerNet {
    fn new() -> Self {
        let veth = format!("agentostfe{:05x}", std::process::id() & 0xfffff);
        let (ns_tx, ns_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (addr_tx, addr_rx) = mpsc::channel();
        let server = thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare net");
            let ns = File::open("/proc/thread-self/ns/net").expect("this thread's namespace");
            ns_tx.send(ns).expect("send the namespace");
            // The host made the veth and moved its peer here.
            if go_rx.recv().is_err() {
                return;
            }
            netlink(async |h| address_up(&h, "eth0", SERVER).await);
            let l = TcpListener::bind((SERVER, 0)).expect("listen in the bench namespace");
            let shut = l.try_clone().expect("the listener's handle");
            addr_tx.send(shut).expect("send");
            echo(l);
        });
        let ns = ns_rx.recv().expect("the bench namespace");
        let mut net = Self {
            veth,
            addr: SocketAddr::from((SERVER, 0)),
            listener: None,
            server: Some(server),
        };
        let (name, fd) = (net.veth.clone(), ns.as_fd().as_raw_fd());
        netlink(async |h| {
            let peer = LinkUnspec::new_with_name("eth0").setns_by_fd(fd).build();
            let pair = LinkVeth::new(&name, "eth0")
                .set_info_data(InfoData::Veth(
                    rtnetlink::packet_route::link::InfoVeth::Peer(peer),
                ))
                .build();
            h.link().add(pair).execute().await?;
            address_up(&h, &name, HOST_END).await
        });
        // Replies from the namespace are forwarded back to the kernel's bridge.
        std::fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/forwarding", net.veth),
            "1",
        )
        .expect("forwarding on the bench veth");
        drop(ns);
        go_tx.send(()).expect("start the server");
        let listener = addr_rx.recv().expect("the server's listener");
        net.addr = listener.local_addr().expect("the server's address");
        net.listener = Some(listener);
        net
    }
}

impl Drop for ServerNet {
    fn drop(&mut self) {
        // Shutting the listener down wakes its `accept`: the server thread ends, and
        // with it the namespace, which takes the veth pair along.
        if let Some(l) = self.listener.take() {
            let _ = nix::sys::socket::shutdown(l.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        }
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
        // Should the pair still be there, it goes now (ENODEV otherwise: nothing to do).
        let veth = self.veth.clone();
        netlink(async |h| {
            let gone = h
                .link()
                .del_with_message(LinkUnspec::new_with_name(&veth).build())
                .execute()
                .await;
            Ok(gone.is_ok())
        });
    }
}

/// Echoes each datagram on `s` back to its sender, for as long as the bench runs.
fn echo_udp(s: UdpSocket) {
    let mut buf = [0u8; 64];
    while let Ok((n, from)) = s.recv_from(&mut buf) {
        let _ = s.send_to(&buf[..n], from);
    }
}

/// The time `tcp-ping`'s line (`OK pinged N round trips in T ns`) reports.
fn pinged(line: &str, n: u64) -> Duration {
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["OK", "pinged", count, "round", "trips", "in", t, "ns"] => {
            assert_eq!(count.parse::<u64>().ok(), Some(n), "{line}");
            Duration::from_nanos(t.parse().expect("ns"))
        }
        _ => panic!("tcp-ping said {line:?}"),
    }
}

/// The time `tcp-pull`'s line (`OK pulled N bytes in T ns`) reports.
fn pulled(line: &str, n: u64) -> Duration {
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["OK", "pulled", count, "bytes", "in", t, "ns"] => {
            assert_eq!(count.parse::<u64>().ok(), Some(n), "{line}");
            Duration::from_nanos(t.parse().expect("ns"))
        }
        _ => panic!("tcp-pull said {line:?}"),
    }
}

/// What the peer's `command` (`tcp-ping`, `udp-ping`, `tcp-pull`) to `addr` with `n`
/// says as a plain host process.
fn on_host(command: &str, addr: SocketAddr, n: u64) -> String {
    let out = Command::new(PEER)
        .args([command, &addr.to_string(), &n.to_string()])
        .output()
        .expect(command);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The same from a `private` managed process granted `addr` over `proto`.
async fn managed(
    user: &mut Client,
    command: &str,
    proto: &str,
    addr: SocketAddr,
    n: u64,
) -> String {
    let spec = pb::ProcessSpec {
        argv: vec![PEER.into(), command.into(), addr.to_string(), n.to_string()],
        read_paths: vec![PEER.into()],
        network: pb::NetworkMode::Private as i32,
        capabilities: vec![format!("net:allow:{}:{}/{proto}", addr.ip(), addr.port())],
        ..Default::default()
    };
    let pid = user
        .create_process(pb::SpawnProcess { spec: Some(spec) })
        .await
        .expect("spawn")
        .into_inner()
        .pid;
    managed_output(user, pid).await
}

/// `n` round trips over `proto` (`tcp` or `udp`) from a plain host process.
fn host_ping(proto: &str, addr: SocketAddr, n: u64) -> Duration {
    pinged(&on_host(&format!("{proto}-ping"), addr, n), n)
}

/// `n` round trips over `proto` from a `private` managed process granted `addr`.
async fn managed_ping(user: &mut Client, proto: &str, addr: SocketAddr, n: u64) -> Duration {
    pinged(
        &managed(user, &format!("{proto}-ping"), proto, addr, n).await,
        n,
    )
}

/// A group of 16-byte round-trip batches, and the host-loopback echo server its
/// `host_loopback` baseline pings. An iteration is a batch of round trips and each
/// sample one client process: criterion sizes samples by wall time, which includes
/// that process's start.
fn round_trip_group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> (BenchmarkGroup<'a, WallTime>, SocketAddr) {
    let mut g = c.benchmark_group(name);
    batches(&mut g);
    let loopback = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("listen on loopback");
    let local = loopback.local_addr().expect("address");
    thread::spawn(move || echo(loopback));
    (g, local)
}

/// Sets `g` to time batches of round trips, one client process a sample.
fn batches(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.throughput(Throughput::Elements(BATCH));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
}

fn round_trip(c: &mut Criterion) {
    let (mut g, local) = round_trip_group(c, "tcp_round_trip_16B");
    g.bench_function("host_loopback", |b| {
        b.iter_custom(|iters| host_ping("tcp", local, iters * BATCH))
    });
    if !nix::unistd::geteuid().is_root() {
        println!("tcp_round_trip_16B/private_nat: skipped: veths, bridges and NAT need root");
        rootless_round_trip(&mut g, "tcp");
        g.finish();
        let mut g = c.benchmark_group("udp_round_trip_16B");
        batches(&mut g);
        rootless_round_trip(&mut g, "udp");
        g.finish();
        rootless_pull(c);
        return;
    }
    let net = ServerNet::new();
    let kernel = EmbeddedKernel::start();
    let (rt, mut user) = kernel.client();
    g.bench_function("private_nat", |b| {
        b.iter_custom(|iters| rt.block_on(managed_ping(&mut user, "tcp", net.addr, iters * BATCH)))
    });
    g.finish();
    drop(kernel);
    drop(net);
}

/// Rootless (the bench run as an ordinary user), to an echo server on one of the host's
/// own non-loopback addresses, over `proto` (`tcp` or `udp`, group `{proto}_round_trip_16B`):
///
/// * `host_address`: `{proto}-ping` as a plain host process;
/// * `rootless_proxy`: the same as a rootless `private` managed process granted the
///   server: redirected (TCP) or handed by `tproxy` (UDP) in its namespace to init's
///   socket, and carried by the kernel's relay (`net/proxied.rs`, `net/udp_egress.rs`)
///   through two sockets of its own.
fn rootless_round_trip(g: &mut BenchmarkGroup<'_, WallTime>, proto: &'static str) {
    let Some(ip) = own_address() else {
        println!("{proto}_round_trip_16B/rootless_proxy: skipped: no non-loopback IPv4 address");
        return;
    };
    let addr = if proto == "udp" {
        let s = UdpSocket::bind((ip, 0)).expect("a UDP socket on the host's address");
        let addr = s.local_addr().expect("address");
        thread::spawn(move || echo_udp(s));
        addr
    } else {
        let l = TcpListener::bind((ip, 0)).expect("listen on the host's address");
        let addr = l.local_addr().expect("address");
        thread::spawn(move || echo(l));
        addr
    };
    g.bench_function("host_address", |b| {
        b.iter_custom(|iters| host_ping(proto, addr, iters * BATCH))
    });
    let kernel = EmbeddedKernel::start();
    let (rt, mut user) = kernel.client();
    g.bench_function("rootless_proxy", |b| {
        b.iter_custom(|iters| rt.block_on(managed_ping(&mut user, proto, addr, iters * BATCH)))
    });
}

/// Bytes one `tcp-pull` reads: an iteration.
const PULL: u64 = 64 << 20;

/// Sends each connection to `l` a stream of 1 MiB writes until it closes, one
/// connection at a time (each sample's client makes one).
fn flood(l: TcpListener) {
    let chunk = vec![0x5a_u8; 1 << 20];
    for mut conn in l.incoming().flatten() {
        while conn.write_all(&chunk).is_ok() {}
    }
}

/// Rootless, the throughput of one TCP stream (group `tcp_pull_64MiB`, an iteration one
/// client process reading [`PULL`] bytes, timed by itself after the first byte) from a
/// server on one of the host's own addresses:
///
/// * `host_address`: `tcp-pull` as a plain host process;
/// * `rootless_proxy`: the same as a rootless `private` managed process, the stream
///   carried by the kernel's relay (`net/forward_relay.rs`) between two sockets.
fn rootless_pull(c: &mut Criterion) {
    let Some(ip) = own_address() else {
        println!("tcp_pull_64MiB: skipped: no non-loopback IPv4 address");
        return;
    };
    let l = TcpListener::bind((ip, 0)).expect("listen on the host's address");
    let addr = l.local_addr().expect("address");
    thread::spawn(move || flood(l));
    let mut g = c.benchmark_group("tcp_pull_64MiB");
    g.throughput(Throughput::Bytes(PULL));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("host_address", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| pulled(&on_host("tcp-pull", addr, PULL), PULL))
                .sum()
        })
    });
    let kernel = EmbeddedKernel::start();
    let (rt, mut user) = kernel.client();
    g.bench_function("rootless_proxy", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let said = rt.block_on(managed(&mut user, "tcp-pull", "tcp", addr, PULL));
                took += pulled(&said, PULL);
            }
            took
        })
    });
    g.finish();
}

/// One of the host's own non-loopback IPv4 addresses.
fn own_address() -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok().and_then(|mut a| {
        a.find_map(|i| {
            let ip = i.address?.as_sockaddr_in()?.ip();
            (!ip.is_loopback()).then_some(ip)
        })
    })
}

/// A port on the host's loopback of `ip`'s family that nothing holds now.
fn free_port(ip: IpAddr) -> SocketAddr {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// Waits (10 s at most) until one [`MSG`]-byte round trip through `addr` works.
fn wait_for_echo(addr: SocketAddr) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let echoed = || -> std::io::Result<()> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut buf = [7u8; MSG];
        s.write_all(&buf)?;
        s.read_exact(&mut buf)
    };
    while let Err(e) = echoed() {
        assert!(
            std::time::Instant::now() < deadline,
            "no echo through {addr}: {e}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Port forwards into a `private` process (`tcp-echo` as a managed process, published
/// on both loopbacks), beside a host loopback echo in the same run:
///
/// * `tcp_forward_16B/host_loopback`: `tcp-ping` to an echo thread on `127.0.0.1`;
/// * `tcp_forward_16B/v4_dnat`: to `127.0.0.1:P`, the nftables DNAT and masquerade
///   into the process's bridge (`net/forwards.rs`);
/// * `tcp_forward_16B/v6_relay`: to `[::1]:P`, the kernel's relay
///   (`net/forward_relay.rs`), which carries each byte through two sockets of its own.
fn forwards(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        println!("tcp_forward_16B: skipped: veths, bridges and NAT need root");
        return;
    }
    let (mut g, local) = round_trip_group(c, "tcp_forward_16B");
    let kernel = EmbeddedKernel::start();
    let (rt, mut user) = kernel.client();
    let (v4, v6) = (
        free_port(Ipv4Addr::LOCALHOST.into()),
        free_port(Ipv6Addr::LOCALHOST.into()),
    );
    let spec = pb::ProcessSpec {
        argv: vec![PEER.into(), "tcp-echo".into(), "7000".into()],
        read_paths: vec![PEER.into()],
        network: pb::NetworkMode::Private as i32,
        capabilities: vec!["bind:7000".into()],
        publish: vec![format!("{v4}:7000"), format!("{v6}:7000")],
        ..Default::default()
    };
    rt.block_on(user.create_process(pb::SpawnProcess { spec: Some(spec) }))
        .expect("spawn the echo server");
    wait_for_echo(v4);
    wait_for_echo(v6);
    for (name, addr) in [("host_loopback", local), ("v4_dnat", v4), ("v6_relay", v6)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| host_ping("tcp", addr, iters * BATCH))
        });
    }
    g.finish();
    // The server goes with the kernel.
    drop(kernel);
}

criterion_group!(benches, round_trip, forwards, crate::dns::relay);
