//! The network: mode `none` is a fresh network namespace with only `lo`, up.
//!
//! The clone creates the namespace (owned by the sandbox's user namespace, so its
//! init holds `CAP_NET_ADMIN` there); bringing `lo` up is one `SIOCSIFFLAGS`
//! ioctl, no netlink needed. The host's interfaces, including its loopback and
//! whatever listens on 127.0.0.1, are unreachable. The namespace dies with the
//! sandbox's last process: nothing is left on the host. `private` and `bridged`
//! add a veth to this namespace (`net/`); `shared` ([`super::NetworkMode::Host`])
//! makes no namespace at all, so nothing here runs, and the kernel wall's cgroup
//! programs hold its grants.
//!
//! # Rootless `private` ([`super::NetworkMode::Proxied`])
//!
//! A rootless kernel can make no veth into the host's namespace, and `/dev/net/tun`
//! (slirp4netns, pasta) is root's. So the sandbox's namespace gets a way out that
//! ends inside it: [`proxy_setup`] gives `lo` a second address, [`super::PROXY_ADDR`]
//! (label `lo:agentos`), and a default route over `lo`, so a connect to any address gets
//! as far as the output hook; the kernel's nftables rules there (`net/proxied.rs`,
//! loaded before the parent's "go") refuse what the grants refuse and redirect the
//! rest of the non-local TCP to [`PROXY_PORT`] on the namespace's loopback, where
//! init listens, and DNS over UDP to the relay's address to a UDP socket on the same
//! port. Init sends both to the kernel over the net socket (as the console master,
//! `SCM_RIGHTS`), and the kernel, in the host's namespace, accepts, reads
//! `SO_ORIGINAL_DST` and carries each connection out, and relays the queries. Where the
//! host has IPv6, [`proxy_setup6`] does the same for TCP over IPv6: `lo` gets
//! [`PROXY_ADDR6`]/128 and a default IPv6 route, and init listens on `[::1]:`[`PROXY_PORT`]
//! too (sent last; without IPv6 nothing is sent and the program's IPv6 connects find no
//! route). All of it is ioctls and plain sockets in the child (no netlink, no host
//! tools), done while init still holds `CAP_NET_ADMIN` in its user namespace; the
//! program holds none.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{
    channel,
    spec::{PROXY_ADDR6, PROXY_PORT},
    sys, udp_out,
};
/// Connections waiting for the kernel to accept them.
const PROXY_BACKLOG: i32 = 128;

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// `struct ifreq` with the address member of its union.
#[repr(C)]
struct IfReqAddr {
    name: [u8; libc::IFNAMSIZ],
    addr: libc::sockaddr_in,
    _pad: [u8; 8],
}

/// An IPv4 socket address for ioctls and `bind`.
fn sockaddr(ip: [u8; 4], port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    }
}

/// The steps of [`proxy_setup`], the index of a failure report.
const STEPS: &[&str] = &[
    "socket(AF_INET, SOCK_DGRAM) for the ioctls",
    "SIOCSIFADDR lo:agentos (the sandbox's address)",
    "SIOCSIFNETMASK lo:agentos 255.255.255.255",
    "SIOCADDRT default dev lo",
    "socket(AF_INET, SOCK_STREAM) for the listener",
    "bind 127.0.0.1:1023",
    "listen",
    "sending the listener to the kernel",
    "socket(AF_INET, SOCK_DGRAM) for DNS",
    "bind udp 127.0.0.1:1023",
    "sending the DNS socket to the kernel",
];

/// What step `index` of [`proxy_setup`] was.
pub(crate) fn describe(index: u32) -> &'static str {
    match index.checked_sub(udp_out::FIRST_STEP) {
        Some(i) => udp_out::STEPS.get(i as usize),
        None => STEPS.get(index as usize),
    }
    .copied()
    .unwrap_or("")
}

/// Child, after [`loopback_up`]: `lo:agentos` with `address`/32 ([`super::PROXY_ADDR`] for
/// `private`, the member's for `bridged`), a default route over
/// `lo`, a listener on `127.0.0.1:`[`PROXY_PORT`], a UDP socket on the same port
/// (where the kernel's rules send DNS queries) and the way out for other UDP
/// (`udp_out.rs`, with `routing`'s requests), each socket sent over `sock`, in that
/// order. Errors name the step ([`describe`]) and the errno.
pub(crate) fn proxy_setup(
    sock: RawFd,
    address: [u8; 4],
    routing: &udp_out::Routing,
) -> Result<(), (u32, i32)> {
    let ctl = socket(libc::AF_INET, libc::SOCK_DGRAM).map_err(|e| (0, e))?;
    route_out(ctl.as_raw_fd(), address)?;
    let l = socket(libc::AF_INET, libc::SOCK_STREAM).map_err(|e| (4, e))?;
    listen_and_send(l.as_raw_fd(), sock)?;
    let u = socket(libc::AF_INET, libc::SOCK_DGRAM).map_err(|e| (8, e))?;
    bind_loopback(u.as_raw_fd(), PROXY_PORT).map_err(|e| (9, e))?;
    channel::send_fd(sock, u.as_raw_fd()).map_err(|e| (10, e))?;
    udp_out::setup(sock, &routing.v4)
}

/// A new socket of `family` and `kind` (close-on-exec), closed when dropped.
pub(super) fn socket(family: libc::c_int, kind: libc::c_int) -> Result<OwnedFd, i32> {
    // SAFETY: plain socket(2).
    let fd = sys::check(unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: just made, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `lo`'s interface index in every network namespace (`LOOPBACK_IFINDEX`).
const LOOPBACK_IFINDEX: i32 = 1;

/// `struct in6_rtmsg` of `<linux/ipv6_route.h>` (the `libc` crate's has private fields).
#[repr(C)]
struct In6RtMsg {
    dst: libc::in6_addr,
    src: libc::in6_addr,
    gateway: libc::in6_addr,
    kind: u32,
    dst_len: u16,
    src_len: u16,
    metric: u32,
    info: libc::c_ulong,
    flags: u32,
    ifindex: libc::c_int,
}

/// Child, after [`proxy_setup`], where the host has IPv6: [`PROXY_ADDR6`]/128 on `lo`, a
/// default IPv6 route over `lo`, and a listener on `[::1]:`[`PROXY_PORT`] sent over `sock`,
/// then the way out for UDP over IPv6 (`udp_out.rs`, with `routing`'s requests).
/// Best effort: a namespace without IPv6 (the host disabled it) sends nothing.
pub(crate) fn proxy_setup6(sock: RawFd, routing: &udp_out::Routing) {
    let Ok(ctl) = socket(libc::AF_INET6, libc::SOCK_DGRAM) else {
        return;
    };
    if route_out6(ctl.as_raw_fd()).is_err() {
        return;
    }
    let Ok(l) = socket(libc::AF_INET6, libc::SOCK_STREAM) else {
        return;
    };
    // SAFETY: listen on the bound socket.
    let listening = bind_loopback6(l.as_raw_fd(), PROXY_PORT)
        .and_then(|()| sys::check(unsafe { libc::listen(l.as_raw_fd(), PROXY_BACKLOG) }));
    if listening.is_ok() && channel::send_fd(sock, l.as_raw_fd()).is_ok() {
        udp_out::setup6(sock, &routing.v6);
    }
}

/// Binds `fd` to `[::1]:port`.
pub(super) fn bind_loopback6(fd: RawFd, port: u16) -> Result<(), i32> {
    let at = sockaddr6(std::net::Ipv6Addr::LOCALHOST.octets(), port);
    // SAFETY: `at` is a sockaddr_in6 of the size given.
    sys::check(unsafe {
        libc::bind(
            fd,
            std::ptr::from_ref(&at).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// An IPv6 socket address for `bind`.
fn sockaddr6(ip: [u8; 16], port: u16) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr { s6_addr: ip },
        sin6_scope_id: 0,
    }
}

/// [`PROXY_ADDR6`]/128 on `lo` and a default IPv6 route over it.
fn route_out6(ctl: RawFd) -> Result<(), i32> {
    let addr = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr {
            s6_addr: PROXY_ADDR6,
        },
        ifr6_prefixlen: 128,
        ifr6_ifindex: LOOPBACK_IFINDEX,
    };
    // SAFETY: `addr` is a valid in6_ifreq for the ioctl.
    sys::check(unsafe { libc::ioctl(ctl, libc::SIOCSIFADDR, &addr) })?;
    let any = libc::in6_addr { s6_addr: [0; 16] };
    let rt = In6RtMsg {
        dst: any,
        src: any,
        gateway: any,
        kind: 0,
        dst_len: 0,
        src_len: 0,
        metric: 1,
        info: 0,
        flags: libc::RTF_UP as u32,
        ifindex: LOOPBACK_IFINDEX,
    };
    // SAFETY: `rt` is a valid in6_rtmsg for the ioctl.
    sys::check(unsafe { libc::ioctl(ctl, libc::SIOCADDRT, &rt) }).map(drop)
}

/// Binds `fd` to `127.0.0.1:port`.
pub(super) fn bind_loopback(fd: RawFd, port: u16) -> Result<(), i32> {
    let at = sockaddr([127, 0, 0, 1], port);
    // SAFETY: `at` is a sockaddr_in of the size given.
    sys::check(unsafe {
        libc::bind(
            fd,
            std::ptr::from_ref(&at).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `address` on `lo:agentos` and the default route (steps 1-3).
fn route_out(ctl: RawFd, address: [u8; 4]) -> Result<(), (u32, i32)> {
    let mut name = [0u8; libc::IFNAMSIZ];
    name[..10].copy_from_slice(b"lo:agentos");
    for (step, req, ip) in [
        (1, libc::SIOCSIFADDR, address),
        (2, libc::SIOCSIFNETMASK, [255; 4]),
    ] {
        let r = IfReqAddr {
            name,
            addr: sockaddr(ip, 0),
            _pad: [0; 8],
        };
        // SAFETY: `r` is a valid ifreq for both ioctls.
        sys::check(unsafe { libc::ioctl(ctl, req, &r) }).map_err(|e| (step, e))?;
    }
    // SAFETY: rtentry is plain data, valid when zeroed (a default route: destination
    // and mask 0.0.0.0).
    let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
    let any = sockaddr([0; 4], 0);
    // SAFETY: sockaddr_in fits in a sockaddr (both 16 bytes).
    unsafe {
        rt.rt_dst = std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(any);
        rt.rt_genmask = std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(any);
    }
    rt.rt_flags = libc::RTF_UP;
    rt.rt_dev = c"lo".as_ptr().cast_mut();
    // SAFETY: `rt` is a valid rtentry whose device name outlives the call.
    sys::check(unsafe { libc::ioctl(ctl, libc::SIOCADDRT, &rt) }).map_err(|e| (3, e))?;
    Ok(())
}

/// The listener (steps 5-7).
fn listen_and_send(l: RawFd, sock: RawFd) -> Result<(), (u32, i32)> {
    bind_loopback(l, PROXY_PORT).map_err(|e| (5, e))?;
    // SAFETY: listen on a bound socket.
    sys::check(unsafe { libc::listen(l, PROXY_BACKLOG) }).map_err(|e| (6, e))?;
    channel::send_fd(sock, l).map_err(|e| (7, e))
}

/// Child: sets `IFF_UP` on `lo`.
pub(crate) fn loopback_up() -> Result<(), i32> {
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM)?;
    let fd = sock.as_raw_fd();
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: `req` is a valid ifreq for both ioctls.
    let r = unsafe {
        sys::check(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req)).and_then(|_| {
            req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            sys::check(libc::ioctl(fd, libc::SIOCSIFFLAGS, &req))
        })
    };
    r.map(drop)
}
