//! Rootless `private`'s way out for UDP: init's half, in the sandbox's own namespace (the
//! kernel's half is `net/udp_egress.rs`).
//!
//! nftables' `tproxy` hands a datagram to a local socket with its destination untouched,
//! but only in the prerouting hook, which a namespace's own outgoing datagrams never pass.
//! So the namespace's rules (`net/proxied.rs`) mark the program's outgoing UDP in the
//! output hook ([`PROXY_UDP_MARK`]); a policy rule sends marked packets to the routing
//! table [`PROXY_UDP_TABLE`], whose one route, `local default dev lo`, loops them back in
//! through `lo`; and there the prerouting rule hands them to init's transparent socket on
//! `127.0.0.1:`[`PROXY_UDP_PORT`], which the kernel reads each datagram from with its
//! original destination (`IP_RECVORIGDSTADDR`). Where the namespace has IPv6 (the host
//! does), the same again for IPv6: a rule and a `local ::/0` route, and a socket on
//! `[::1]:`[`PROXY_UDP_PORT`] ([`setup6`]).
//!
//! The rule and the route are two rtnetlink messages, built before the clone by
//! netlink-packet-route ([`routing`]: the child may not allocate) and sent by init
//! ([`setup`]) while it holds `CAP_NET_ADMIN` in its namespace, which also lets it make
//! the socket transparent. Nothing of it is on the host: it all goes with the namespace.

use std::os::fd::{AsRawFd, RawFd};

use rtnetlink::{
    packet_core::{
        NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
        NetlinkPayload,
    },
    packet_route::{
        AddressFamily, RouteNetlinkMessage,
        route::{RouteAttribute, RouteMessage, RouteScope, RouteType},
        rule::{RuleAction, RuleAttribute, RuleMessage},
    },
};

use super::{
    channel,
    net::{bind_loopback, bind_loopback6, socket},
    spec::{PROXY_UDP_MARK, PROXY_UDP_PORT, PROXY_UDP_TABLE},
    sys,
};

/// `lo`'s interface index in every network namespace.
const LOOPBACK_IFINDEX: u32 = 1;

/// The first index [`setup`]'s failures report, after `net.rs`'s own steps.
pub(crate) const FIRST_STEP: u32 = 11;

/// The steps of [`setup`], from [`FIRST_STEP`] on.
pub(crate) const STEPS: &[&str] = &[
    "socket(AF_NETLINK, NETLINK_ROUTE)",
    "RTM_NEWRULE fwmark 0xa9d5 lookup 213",
    "RTM_NEWROUTE local default dev lo table 213",
    "socket(AF_INET, SOCK_DGRAM) for the other UDP",
    "IP_TRANSPARENT and IP_RECVORIGDSTADDR",
    "bind udp 127.0.0.1:1022",
    "sending the UDP socket to the kernel",
];

/// The requests of both families' ways out, each a rule and a route.
#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub v4: [Vec<u8>; 2],
    pub v6: [Vec<u8>; 2],
}

/// Parent, before the clone: for each family, the rule (`fwmark PROXY_UDP_MARK lookup
/// PROXY_UDP_TABLE`) and the route (`local 0.0.0.0/0`, or `::/0`, `dev lo table
/// PROXY_UDP_TABLE`), each a whole netlink request asking for an acknowledgement.
pub(crate) fn routing() -> Routing {
    Routing {
        v4: requests(AddressFamily::Inet),
        v6: requests(AddressFamily::Inet6),
    }
}

/// The rule and the route of `family`.
fn requests(family: AddressFamily) -> [Vec<u8>; 2] {
    let mut rule = RuleMessage::default();
    rule.header.family = family;
    rule.header.table = PROXY_UDP_TABLE as u8;
    rule.header.action = RuleAction::ToTable;
    rule.attributes = vec![
        RuleAttribute::FwMark(PROXY_UDP_MARK),
        RuleAttribute::Table(PROXY_UDP_TABLE),
    ];
    let mut route = RouteMessage::default();
    route.header.address_family = family;
    route.header.table = PROXY_UDP_TABLE as u8;
    route.header.scope = RouteScope::Host;
    route.header.kind = RouteType::Local;
    route.attributes = vec![
        RouteAttribute::Oif(LOOPBACK_IFINDEX),
        RouteAttribute::Table(PROXY_UDP_TABLE),
    ];
    [
        RouteNetlinkMessage::NewRule(rule),
        RouteNetlinkMessage::NewRoute(route),
    ]
    .map(|inner| {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        bytes
    })
}

/// Child, after `net.rs`'s steps: sends `routing`'s two requests, then makes the
/// transparent socket on `127.0.0.1:`[`PROXY_UDP_PORT`] and sends it over `sock`. Errors
/// name the step (from [`FIRST_STEP`]) and the errno.
pub(crate) fn setup(sock: RawFd, routing: &[Vec<u8>; 2]) -> Result<(), (u32, i32)> {
    way_out(sock, routing, false).map_err(|(i, e)| (FIRST_STEP + i, e))
}

/// Child, after the IPv6 listener went (the namespace has IPv6): the same for IPv6, the
/// socket on `[::1]:`[`PROXY_UDP_PORT`]. Best effort, as the rest of IPv6 is: on a failure
/// nothing is sent, and the kernel carries no UDP over IPv6 for the process.
pub(crate) fn setup6(sock: RawFd, routing: &[Vec<u8>; 2]) {
    let _ = way_out(sock, routing, true);
}

/// The rule, the route and the socket of one family; a failure says which step, from 0.
fn way_out(sock: RawFd, routing: &[Vec<u8>; 2], v6: bool) -> Result<(), (u32, i32)> {
    let step = |i: u32| move |e| (i, e);
    let nl = socket(libc::AF_NETLINK, libc::SOCK_RAW).map_err(step(0))?;
    for (i, request) in (1..).zip(routing) {
        ask(nl.as_raw_fd(), request).map_err(step(i))?;
    }
    let (family, level, options) = if v6 {
        (
            libc::AF_INET6,
            libc::SOL_IPV6,
            [libc::IPV6_TRANSPARENT, libc::IPV6_RECVORIGDSTADDR],
        )
    } else {
        (
            libc::AF_INET,
            libc::SOL_IP,
            [libc::IP_TRANSPARENT, libc::IP_RECVORIGDSTADDR],
        )
    };
    let u = socket(family, libc::SOCK_DGRAM).map_err(step(3))?;
    for opt in options {
        set_int(u.as_raw_fd(), level, opt, 1).map_err(step(4))?;
    }
    let bound = if v6 {
        bind_loopback6(u.as_raw_fd(), PROXY_UDP_PORT)
    } else {
        bind_loopback(u.as_raw_fd(), PROXY_UDP_PORT)
    };
    bound.map_err(step(5))?;
    channel::send_fd(sock, u.as_raw_fd()).map_err(step(6))
}

/// Sends one netlink request on `nl` and reads its acknowledgement: `Ok` for an error
/// code of 0, else that errno.
fn ask(nl: RawFd, request: &[u8]) -> Result<(), i32> {
    // SAFETY: `request` is valid for its length.
    let sent = unsafe { libc::send(nl, request.as_ptr().cast(), request.len(), 0) };
    sys::check(sent as libc::c_int)?;
    // An acknowledgement: `nlmsghdr` (16 bytes), then `nlmsgerr` whose first word is the
    // error code (0 or a negative errno), then the request's header.
    let mut ack = [0u8; 64];
    // SAFETY: `ack` is writable for its length.
    let got = unsafe { libc::recv(nl, ack.as_mut_ptr().cast(), ack.len(), 0) };
    let got = sys::check(got as libc::c_int)? as usize;
    let kind = u16::from_ne_bytes([ack[4], ack[5]]);
    if got < 20 || kind != libc::NLMSG_ERROR as u16 {
        return Err(libc::EPROTO);
    }
    match i32::from_ne_bytes([ack[16], ack[17], ack[18], ack[19]]) {
        0 => Ok(()),
        code => Err(-code),
    }
}

/// `setsockopt(fd, level, opt, &value)` for an `int` option.
fn set_int(fd: RawFd, level: libc::c_int, opt: libc::c_int, value: libc::c_int) -> Result<(), i32> {
    // SAFETY: `value` is an int of the size given.
    sys::check(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The requests are what `ip rule add fwmark 0xa9d5 lookup 213` and `ip route add
    /// local default dev lo table 213` send: checked by parsing them back.
    #[test]
    fn the_requests_parse_back_to_the_rule_and_the_route() {
        let Routing { v4, v6 } = routing();
        let [rule, route] = v4;
        let [rule6, route6] = v6;
        for (bytes, want) in [
            (&rule, "NewRule"),
            (&route, "NewRoute"),
            (&rule6, "NewRule"),
            (&route6, "NewRoute"),
        ] {
            let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).unwrap();
            assert_eq!(parsed.header.length as usize, bytes.len());
            assert_eq!(
                parsed.header.flags,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
            );
            let NetlinkPayload::InnerMessage(inner) = parsed.payload else {
                panic!("{want}: no message");
            };
            match inner {
                RouteNetlinkMessage::NewRule(r) => {
                    assert_eq!(want, "NewRule");
                    assert!(
                        r.attributes
                            .contains(&RuleAttribute::FwMark(PROXY_UDP_MARK))
                    );
                    assert!(
                        r.attributes
                            .contains(&RuleAttribute::Table(PROXY_UDP_TABLE))
                    );
                    assert_eq!(r.header.action, RuleAction::ToTable);
                }
                RouteNetlinkMessage::NewRoute(r) => {
                    assert_eq!(want, "NewRoute");
                    assert_eq!(r.header.kind, RouteType::Local);
                    assert_eq!(r.header.destination_prefix_length, 0);
                    assert!(
                        r.attributes
                            .contains(&RouteAttribute::Oif(LOOPBACK_IFINDEX))
                    );
                }
                other => panic!("{want}: {other:?}"),
            }
        }
    }
}
