//! The probe's network subcommands that need more than a line each:
//!
//! * `serve-udp PORT ADDR`: waits (30 s at most) for one datagram on `ADDR:PORT`,
//!   answers `pong DATA`, prints `ALLOWED served-udp PEER DATA` (a UDP port forward's
//!   far end, `tests/it/net/forwards6.rs`);
//! * `dns SERVER NAME`: asks `SERVER` (`IP:PORT`) for the `AAAA` record of `NAME` in one
//!   UDP query of its own, bypassing the C library's choice of resolver, and prints
//!   `ALLOWED resolved ADDR` or the errno that stopped it (`tests/it/net/dns.rs`);
//! * `addrs6 IFACE`: the IPv6 addresses `IFACE` holds (`getifaddrs`), link-local ones
//!   left out: `INFO ADDR…` (`tests/it/net/ipv6.rs`).

use std::{
    io,
    net::{Ipv6Addr, SocketAddr, UdpSocket},
    time::Duration,
};

use super::{io_verdict, unspecified, usage};

pub(super) fn serve_udp(port: &str, addr: &str) -> String {
    let port: u16 = port.parse().unwrap_or_else(|_| usage("bad port"));
    let ip: std::net::IpAddr = addr.parse().unwrap_or_else(|_| usage("bad address"));
    let served = (|| {
        let s = UdpSocket::bind((ip, port))?;
        println!("LISTENING {}", s.local_addr()?);
        std::io::Write::flush(&mut std::io::stdout())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut buf = [0u8; 512];
        let (n, peer) = s.recv_from(&mut buf)?;
        let data = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
        s.send_to(format!("pong {data}\n").as_bytes(), peer)?;
        Ok::<_, io::Error>(format!("served-udp {peer} {data}"))
    })();
    io_verdict(served, |d| d)
}

/// Query ID of the one query `dns` sends.
const QUERY_ID: [u8; 2] = [0x61, 0x67];
/// `AAAA`.
const AAAA: u16 = 28;

pub(super) fn dns(server: &str, name: &str) -> String {
    let server: SocketAddr = server.parse().unwrap_or_else(|_| usage("bad address"));
    let asked = (|| {
        let s = UdpSocket::bind(unspecified(&server))?;
        s.connect(server)?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.send(&query(name))?;
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf)?;
        first_aaaa(&buf[..n]).ok_or_else(|| io::Error::other("no AAAA answer"))
    })();
    io_verdict(asked, |a| format!("resolved {a}"))
}

/// One recursive query (RFC 1035 §4.1) for the `AAAA` of `name`.
fn query(name: &str) -> Vec<u8> {
    let mut q = QUERY_ID.to_vec();
    // RD; one question.
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap_or_else(|_| usage("label over 255 bytes")));
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&AAAA.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// The first `AAAA` record of an answer to [`query`].
fn first_aaaa(r: &[u8]) -> Option<Ipv6Addr> {
    if r.get(..2)? != QUERY_ID {
        return None;
    }
    let answers = u16::from_be_bytes([*r.get(6)?, *r.get(7)?]);
    // Past the header and the question (a name of labels, type, class).
    let mut i = 12;
    i = skip_name(r, i)? + 4;
    for _ in 0..answers {
        i = skip_name(r, i)?;
        let kind = u16::from_be_bytes([*r.get(i)?, *r.get(i + 1)?]);
        let len = usize::from(u16::from_be_bytes([*r.get(i + 8)?, *r.get(i + 9)?]));
        let data = r.get(i + 10..i + 10 + len)?;
        if kind == AAAA && len == 16 {
            return Some(Ipv6Addr::from(<[u8; 16]>::try_from(data).ok()?));
        }
        i += 10 + len;
    }
    None
}

/// The index past the name at `i` (labels, or a compression pointer).
fn skip_name(r: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = *r.get(i)?;
        match len {
            0 => return Some(i + 1),
            l if l & 0xc0 == 0xc0 => return Some(i + 2),
            l => i += 1 + usize::from(l),
        }
    }
}

pub(super) fn addrs6(iface: &str) -> String {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return io_verdict(Err::<(), _>(io::Error::last_os_error()), |_| String::new());
    }
    let mut at = list;
    while !at.is_null() {
        // SAFETY: a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*at };
        at = ifa.ifa_next;
        // SAFETY: ifa_name is a NUL-terminated string of the same list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if ifa.ifa_addr.is_null() || name.to_bytes() != iface.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr whose family says its type.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET6 {
            continue;
        }
        // SAFETY: an AF_INET6 address is a sockaddr_in6.
        let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
        let a = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
        if !a.is_unicast_link_local() {
            found.push(a.to_string());
        }
    }
    // SAFETY: the list getifaddrs returned, not used after this.
    unsafe { libc::freeifaddrs(list) };
    format!("INFO {}", found.join(" "))
}
