//! The DNS relay's cost (`kernel/src/net/dns.rs`), beside its raw baseline in the same
//! run: one 32-byte query at a time, answered by an echoing responder thread on
//! `127.0.0.1`,
//!
//! * `dns_query_udp/direct`: sent straight to the responder (the baseline);
//! * `dns_query_udp/relay`: sent to the relay's UDP socket, which asks the responder
//!   from a socket of its own and hands the answer back (what a private sandbox's
//!   query costs on the host, less the NAT hop `tcp_round_trip_16B` measures).
//!
//! Needs no root: the relay runs in the bench process.

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    thread,
    time::Duration,
};

use agentos_kernel::net::DnsRelay;
use criterion::Criterion;

/// A query-sized datagram; the first two bytes are its ID, which the relay checks.
const QUERY: [u8; 32] = [0x5a; 32];

/// Sends one query to `to` and waits for its answer.
fn ask(client: &UdpSocket, to: SocketAddr) {
    let mut buf = [0u8; 64];
    client.send_to(&QUERY, to).expect("send the query");
    let n = client.recv(&mut buf).expect("an answer");
    assert_eq!(&buf[..n], &QUERY, "the answer");
}

pub fn relay(c: &mut Criterion) {
    let responder = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the responder");
    let upstream = responder.local_addr().expect("address");
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = responder.recv_from(&mut buf) {
            let _ = responder.send_to(&buf[..n], from);
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let relay = DnsRelay::start(rt.handle(), vec![upstream], false).expect("start the relay");
    let via_relay = SocketAddr::from((Ipv4Addr::LOCALHOST, relay.ports.v4.udp));
    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the client");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut g = c.benchmark_group("dns_query_udp");
    g.bench_function("direct", |b| b.iter(|| ask(&client, upstream)));
    g.bench_function("relay", |b| b.iter(|| ask(&client, via_relay)));
    g.finish();
    drop(relay);
}
