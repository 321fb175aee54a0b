//! Port forwards from the host's IPv6 loopback, from the outside: a request sent to
//! `[::1]:PORT` on the host reaches a server in a private process and its answer comes
//! back, over TCP and UDP (the kernel relays them, `net/forward_relay.rs`); the host
//! port is held while the forward lives and free after; malformed forms are refused as
//! invalid arguments.

use std::net::{Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use agentos_proto::v1 as pb;

use super::{NetDaemon, assert_nothing_left, probe, tcp_forward_round_trip, wait_for_line};
use crate::util::{collect, require_root, spawn};

/// A port on `[::1]` nothing holds now (of `proto`).
fn free_v6(udp: bool) -> SocketAddr {
    let any = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    if udp {
        UdpSocket::bind(any).and_then(|s| s.local_addr())
    } else {
        TcpListener::bind(any).and_then(|l| l.local_addr())
    }
    .expect("a free port on ::1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v6_port_forward_carries_tcp_and_udp_from_the_host_loopback() {
    if !require_root("a_v6_port_forward_carries_tcp_and_udp_from_the_host_loopback") {
        return;
    }
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    use pb::NetworkMode::Private;

    // Malformed forms and other hosts are typed refusals at spawn.
    for bad in [
        "[::1]8080:80",
        "[fd00::1]:8080:80",
        "[::1]:0:80",
        "::1:8080:80",
    ] {
        let mut s = probe(Private, &["bind:80"], &["sleep", "1"]);
        s.publish = vec![bad.into()];
        let err = c
            .create_process(pb::SpawnProcess { spec: Some(s) })
            .await
            .expect_err(bad);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad}: {err:?}");
        assert!(err.message().contains(bad), "{bad}: {err:?}");
    }

    // TCP: a server on the process's every address. It sees the bridge's IPv6
    // address (the relay's side), never ::1.
    let out = tcp_forward_round_trip(&mut c, free_v6(false), "::").await;
    assert!(out.contains("ALLOWED served [fd61:6765:6e74:"), "{out}");

    // UDP: one datagram in, its answer back.
    let host = free_v6(true);
    let mut s = probe(Private, &["bind:7001"], &["serve-udp", "7001", "::"]);
    s.publish = vec![format!("[::1]:{}:7001/udp", host.port())];
    let p = spawn(&mut c, s).await;
    wait_for_line(&mut c, p.pid, "LISTENING").await;
    assert!(UdpSocket::bind(host).is_err(), "{host} is not reserved");
    let reply = crate::net::ask_over_udp(host, b"ping6").await;
    assert_eq!(reply, ("pong ping6\n".to_owned(), host));
    let (out, _, _) = collect(&mut c, p.pid).await;
    assert!(out.contains("ALLOWED served-udp [fd61:6765:6e74:"), "{out}");
    assert!(
        UdpSocket::bind(host).is_ok(),
        "{host} still held after the exit"
    );

    d.terminate();
    assert_nothing_left(&d.data_dir());
}
