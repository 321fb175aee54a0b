//! TCP round trips on one connection, for the NAT benchmark (`kernel/benches/net.rs`):
//! the same loop runs as a `private` managed process, through its veth, bridge and
//! the kernel's NAT to a server in a namespace the bench made, and as a plain host
//! process over the host's loopback.
//!
//! * `tcp-ping ADDR COUNT`: connect to `ADDR` (`TCP_NODELAY`), make one round trip
//!   to warm the path (ARP, conntrack, NAT binding), then `COUNT` round trips of
//!   [`MSG`] bytes, each echo checked, and print `pinged N round trips in T ns`:
//!   start-up and the connect are not counted.
//! * `tcp-echo PORT`: the other end as a managed process (the port-forward bench):
//!   listens on `[::]:PORT` (both families) and sends every [`MSG`]-byte message
//!   back, one connection at a time, until killed.
//! * `udp-ping ADDR COUNT`: the same round trips as `tcp-ping`, each a datagram each
//!   way from a socket connected to `ADDR` (rootless `private`'s UDP relay,
//!   `net/udp_egress.rs`); a datagram lost (5 s without an answer) fails the run.
//! * `tcp-pull ADDR BYTES`: connect to `ADDR`, read its first byte (the path is warm),
//!   then `BYTES` more in reads of up to 1 MiB, close, and print `pulled N bytes in T
//!   ns`: the throughput of one stream, as a download through the relay would see it.

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

/// Bytes per request and per reply.
pub const MSG: usize = 16;

/// Runs `tcp-ping`, `tcp-echo` or `udp-ping` (`args[0]`), or `None` for any other
/// subcommand.
pub fn command(args: &[String]) -> Option<Result<String, String>> {
    match args.first().map(String::as_str) {
        Some("tcp-ping") => Some(run(args)),
        Some("udp-ping") => Some(run_udp(args)),
        Some("tcp-echo") => Some(echo(args)),
        Some("tcp-pull") => Some(pull(args)),
        _ => None,
    }
}

fn echo(args: &[String]) -> Result<String, String> {
    let port: u16 = super::num(args.get(1), "PORT")?;
    let l = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
        .map_err(|e| format!("listen on [::]:{port}: {e}"))?;
    for conn in l.incoming() {
        let mut c = conn.map_err(|e| format!("accept: {e}"))?;
        let _ = c.set_nodelay(true);
        let mut msg = [0u8; MSG];
        while c.read_exact(&mut msg).is_ok() && c.write_all(&msg).is_ok() {}
    }
    Ok("listener closed".into())
}

fn run(args: &[String]) -> Result<String, String> {
    let addr: SocketAddr = super::num(args.get(1), "ADDR (ip:port)")?;
    let count: u64 = super::num(args.get(2), "COUNT")?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    pings(count, |msg, back| {
        s.write_all(msg)?;
        s.read_exact(back)
    })
}

fn run_udp(args: &[String]) -> Result<String, String> {
    let addr: SocketAddr = super::num(args.get(1), "ADDR (ip:port)")?;
    let count: u64 = super::num(args.get(2), "COUNT")?;
    let any: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any).map_err(|e| format!("bind {any}: {e}"))?;
    s.connect(addr)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    pings(count, |msg, back| {
        s.send(msg)?;
        let n = s.recv(back)?;
        if n == MSG {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("{n} bytes back")))
        }
    })
}

fn pull(args: &[String]) -> Result<String, String> {
    let addr: SocketAddr = super::num(args.get(1), "ADDR (ip:port)")?;
    let bytes: u64 = super::num(args.get(2), "BYTES")?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    let mut buf = vec![0u8; 1 << 20];
    s.read_exact(&mut buf[..1])
        .map_err(|e| format!("the first byte: {e}"))?;
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match s.read(&mut buf[..want]) {
            Ok(0) => return Err(format!("closed with {left} bytes to come")),
            Ok(n) => left -= n as u64,
            Err(e) => return Err(format!("read with {left} bytes to come: {e}")),
        }
    }
    Ok(format!(
        "pulled {bytes} bytes in {} ns",
        start.elapsed().as_nanos()
    ))
}

/// One round trip to warm the path (ARP, conntrack, NAT binding, a relay's flow), then
/// `count` timed ones, each by `exchange(message, answer)`, each answer checked.
fn pings(
    count: u64,
    mut exchange: impl FnMut(&[u8; MSG], &mut [u8; MSG]) -> std::io::Result<()>,
) -> Result<String, String> {
    let mut round_trip = |i: u64| {
        let mut msg = [0u8; MSG];
        msg[..8].copy_from_slice(&i.to_le_bytes());
        let mut back = [0u8; MSG];
        exchange(&msg, &mut back).map_err(|e| format!("round trip {i}: {e}"))?;
        if back != msg {
            return Err(format!("round trip {i}: sent {msg:?}, got {back:?}"));
        }
        Ok(())
    };
    round_trip(0)?;
    let start = Instant::now();
    for i in 1..=count {
        round_trip(i)?;
    }
    Ok(format!(
        "pinged {count} round trips in {} ns",
        start.elapsed().as_nanos()
    ))
}
