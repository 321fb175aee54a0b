//! A TCP request/response round trip (16 bytes each way, one persistent connection),
//! beside its raw baseline in the same run:
//!
//! * `tcp_round_trip_16B/host_loopback`: `agentos-ipc-peer tcp-ping` as a plain host
//!   process, to an echo server on `127.0.0.1` (the baseline);
//! * `tcp_round_trip_16B/private_nat`: the same program as a `private` managed process
//!   of a kernel embedded in the bench (root), granted the server's address and port:
//!   out of its namespace through its veth and the kernel's bridge, the egress chain and
//!   NAT (masquerade) of the kernel's nftables table, to the same echo code in a network
//!   namespace the bench made (`10.214.254.2`, behind a veth `agentostfe<pid hex>` whose
//!   host end is `10.214.254.1/30`).
//!
//! Run as an ordinary user, `private_nat` is skipped and the rootless kind measured
//! instead (`net/linux.rs`): `tcp_round_trip_16B/host_address`, a plain host process to an
//! echo server on one of the host's own non-loopback addresses, beside
//! `tcp_round_trip_16B/rootless_proxy`, the same as a rootless `private` process whose
//! connection the kernel's relay carries (`net/proxied.rs`); and the same pair for UDP,
//! `udp_round_trip_16B/{host_address,rootless_proxy}` (`udp-ping`, a datagram each way;
//! the kernel's UDP relay, `net/udp_egress.rs`). Measured here (2 vCPUs, 2026-12-05,
//! as `agentos-test`), per round trip: TCP 53 µs to the host's address, 81 µs through
//! the relay (1.52×); UDP 43 µs and 70 µs (1.64×).
//!
//! `tcp_pull_64MiB/{host_address,rootless_proxy}` (rootless, `net/linux.rs`): the
//! throughput of one TCP stream from a server on the host's own address, an iteration one
//! `tcp-pull` process reading 64 MiB, timed by itself after the first byte. Measured here
//! (2 vCPUs, 2026-12-05, as `agentos-test`, two runs each, alternated): with the relay's
//! buffers at tokio's 8 KiB, 464 / 411 MiB/s through the relay against 2.73 / 2.70 GiB/s
//! for the host process (17 % / 15 %); at 64 KiB (`RELAY_BUF`), 888 / 981 MiB/s against
//! 2.42 / 2.29 GiB/s (36 % / 42 %). What is left is the relay's two copies through user
//! space and the namespace's extra loopback hop.
//!
//! An iteration is 500 round trips (criterion's time is per 500; its throughput is
//! round trips per second). Each sample is one client process making its iterations'
//! round trips after a first one that warms the path (ARP, conntrack, the NAT binding);
//! it times them itself, so process start-up and the connect are not counted
//! (`kernel/src/bin/ipc-peer/tcp_ping.rs`).
//!
//! The bench's namespace is anonymous (a thread `unshare`s into it), so it and the veth
//! pair go with the bench process whatever happens; the guard also deletes the veth when
//! the group ends. `cargo xtask test`'s sweep removes `agentost*` veths too.
//!
//! `tcp_forward_16B/{host_loopback,v4_dnat,v6_relay}` (`net/linux.rs`): the same round
//! trips from the host into a `private` process through its port forwards, the IPv4
//! one a DNAT, the `[::1]` one the kernel's relay.
//!
//! `dns_query_udp/{direct,relay}` (`net/dns.rs`): the kernel's DNS relay beside a query
//! sent straight to the same responder.
//!
//! Run: `cargo bench -p agentos-kernel --bench net`.

#[cfg(target_os = "linux")]
#[path = "net/dns.rs"]
mod dns;
#[cfg(target_os = "linux")]
#[path = "net/linux.rs"]
mod linux;
#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
criterion::criterion_main!(linux::benches);

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("net bench: network namespaces, veths and NAT are Linux's; nothing to measure here");
}
