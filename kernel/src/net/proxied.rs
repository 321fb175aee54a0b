//! Rootless `private`: a sandbox's egress carried by the kernel, for a kernel that
//! cannot make a veth into the host's namespace and has no `/dev/net/tun` (which
//! slirp4netns and pasta need).
//!
//! Everything lives in the sandbox's own network namespace and goes with it:
//!
//! 1. while the sandbox's init waits for its "go", the kernel loads the table
//!    `inet agentos` into the sandbox's namespace: `nft -f -` run [`Within`] its user
//!    and network namespaces (`tool.rs`), which the kernel's uid owns;
//! 2. init then gives `lo` the address `10.213.0.2` (`lo:agentos`) and a default route over
//!    `lo`, listens on `127.0.0.1:1023`, and sends the listener to the kernel
//!    (`sandbox/net.rs`), before it drops its capabilities; where the host has IPv6, the
//!    same with `fd61:6765:6e74::2` and `[::1]:1023`;
//! 3. the kernel, in the host's namespace, accepts each connection, reads its original
//!    destination (`SO_ORIGINAL_DST`, or `IP6T_SO_ORIGINAL_DST`), checks it against the
//!    same decision list as the packet filter ([`Decisions::allows`]), connects out and
//!    relays (`forward_relay.rs`), or closes a refused one at once.
//!
//! ```text
//! table inet agentos
//! chain egress      hook output priority -150 (before the NAT): local destinations →
//!                   accept; DNS (UDP, TCP) to 10.213.255.53:53 → accept; UDP → egress_udp;
//!                   neither TCP nor UDP → drop (sendmsg fails with EPERM); the process's
//!                   decision list (egress.rs) for TCP, refusals as TCP resets; reset
//! chain egress_udp  a bridged group's /24 (its own group's → accept) → drop; the
//!                   decision list for UDP, refusals as drops (EPERM); drop
//! chain udp_mark    hook output priority -140 (route): UDP to a non-local address but
//!                   the relay's → mark 0xa9d5
//! chain proxy       hook output priority -100 (NAT): TCP to a non-local address →
//!                   redirect to :1023; UDP to 10.213.255.53:53 → redirect to :1023
//! chain udp_in      hook prerouting priority -150: marked UDP → tproxy to
//!                   127.0.0.1:1022 or [::1]:1022 (init's transparent sockets, or the
//!                   flow's own)
//! ```
//!
//! Other outgoing UDP (IPv4, and IPv6 where the namespace has it) goes to the kernel too, by way of a policy route and
//! `tproxy` (`sandbox/udp_out.rs` says why it takes both), and the kernel carries each
//! flow the grants allow (`udp_egress.rs`).
//!
//! Name resolution goes through the kernel's DNS relay (`dns.rs`), as in rootful
//! `private`: the sandbox's `resolv.conf` names `10.213.255.53`; a query over TCP
//! reaches the proxy, which sends it to the relay's TCP port; one over UDP reaches
//! init's UDP socket on port 1023, whose datagrams the kernel carries to the relay's
//! UDP port and back (`forward_relay::udp`; conntrack gives the answer the resolver's
//! address again).
//!
//! So a refused connect fails at once, in the sandbox, with `ECONNREFUSED`: a
//! locally made connection never sees the ICMP error rootful `private`'s
//! `admin-prohibited` gives (EHOSTUNREACH there; tried here: the connect only times
//! out), while a TCP reset does reach it. The proxy's own check is the second guard.
//! The program cannot change the table: it holds no capability, and its seccomp
//! filter refuses the raw netlink sockets `nft` needs.
//!
//! # Port forwards
//!
//! A forward (`--publish 127.0.0.1:8080:80`, `[::1]:8080:80`, `…/udp`) is the kernel's:
//! it binds the host port when the process is made, and carries each connection, or each
//! UDP peer's datagrams, to the sandbox's `10.213.0.2:80` (where rootful `private`
//! forwards go too: a program bound to `0.0.0.0` or its address is reached). The kernel
//! cannot enter the sandbox's namespace to connect there (`setns` wants a single-threaded
//! caller), so a helper of its own that did ([`Dialer`], `sandbox/dialer.rs`) makes each
//! flow's socket inside, and the kernel connects it: the program sees a peer at its own
//! address.
//!
//! # What it does not carry
//!
//! TCP and UDP (over IPv4, and over IPv6 where the host has it), DNS through the relay
//! (over IPv4), and port forwards in, only: no ICMP. `bridged` groups are made of such
//! sandboxes (`groups.rs`): a member's connect to another member's address goes through
//! that member's [`Dialer`], so the other sees it come from its own address.
//! The kernel says so in `agentos doctor` and refuses what asks for more.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, RwLock},
};

use tokio::{net::TcpStream, runtime::Handle};

use super::{
    NetError,
    dns::{RESOLVER, RelayPorts},
    egress::{self, Decisions},
    forward_relay::{self, Dial, Relay},
    forwards::{Forward, Reservation},
    tool::{self, Within},
};
use crate::{
    capability::{NetworkRule, ProtocolMatch},
    net::{Membership, groups},
    sandbox::{
        Dialer, Namespaces, PROXY_ADDR, PROXY_ADDR6, PROXY_PORT, PROXY_UDP_MARK, PROXY_UDP_PORT,
        ProxySockets,
    },
};

/// The table in each sandbox's namespace.
const TABLE: &str = "inet agentos";
/// A refusal a locally made connection sees at once (`ECONNREFUSED`).
const REFUSE: &str = "reject with tcp reset";
/// A refusal a datagram's sender sees at once (`EPERM` from `sendmsg`).
const DROP: &str = "drop";

/// What rootless `private` carries, for `agentos doctor`.
pub const CARRIES: &str = "rootless: the process's own network namespace, whose outgoing \
     TCP (IPv4, and IPv6 where the host has it) its nftables rules there redirect to the \
     kernel, which carries what its grants allow from the host's network (refused connects \
     fail with ECONNREFUSED), and its outgoing UDP (tproxy), carried the same way \
     (refused datagrams fail with EPERM); DNS through the kernel's relay; TCP and UDP port \
     forwards in, carried by the kernel; no ICMP";

/// A rootless `private` (or `bridged`) process's network; dropping it stops the kernel's
/// relays and every connection they carry (the namespace, and its rules, go with the
/// process).
pub struct Proxied {
    /// Its sandbox's user and network namespaces, where its rules are loaded.
    ns: Namespaces,
    decisions: Arc<RwLock<Decisions>>,
    /// Everything the kernel carries for it: its outgoing TCP (over IPv4 and, where it
    /// has it, IPv6), its DNS queries, its forwards.
    relays: Vec<Relay>,
    /// Whether its init made the IPv6 way out (the host has IPv6).
    ipv6: bool,
    /// Its forwards' host ports, bound at [`Self::load`], served from [`Self::serve`].
    published: Vec<(Forward, Published)>,
    /// The helper that makes sockets inside, for its forwards and its group's members.
    dialer: Option<Arc<Dialer>>,
    /// Its place in a rootless bridged group (`groups.rs`).
    member: Option<Arc<Membership>>,
    /// Grants the rules cannot enforce (host names).
    pub unenforced: Vec<String>,
}

impl Proxied {
    /// Stops its relays and waits until their sockets (init's, which pin the sandbox's
    /// namespace) are closed.
    pub async fn stop(mut self) {
        for relay in std::mem::take(&mut self.relays) {
            relay.stop().await;
        }
    }

    /// Loads the egress rules for `rules` (NetworkAccess grants) into the namespaces
    /// `ns` of a sandbox whose init has not yet been told to go on, and binds the host
    /// ports of `forwards`, with a [`Dialer`] in the namespaces to carry them.
    pub(crate) fn load(
        ns: Namespaces,
        rules: &[NetworkRule],
        forwards: &[Forward],
        member: Option<Membership>,
    ) -> Result<Self, NetError> {
        let published = forwards
            .iter()
            .map(|f| {
                let reserved = match f.reserve()? {
                    Reservation::Tcp(listener) => Published::Tcp(listener),
                    Reservation::Udp(sock) => Published::Udp(sock),
                    Reservation::Relayed(_) => unreachable!("a fresh reservation is unserved"),
                };
                Ok((*f, reserved))
            })
            .collect::<Result<Vec<_>, NetError>>()?;
        // Forwards come in through the helper, and so do a bridged group's members.
        let dialer = if published.is_empty() && member.is_none() {
            None
        } else {
            let dialer =
                Dialer::start(&ns).map_err(NetError::io("starting the sandbox's dialer"))?;
            Some(Arc::new(dialer))
        };
        if let (Some(member), Some(dialer)) = (&member, &dialer) {
            member.reach_through(dialer);
        }
        let group = member.as_ref().map(Membership::subnet);
        let (egress, unenforced) = egress_script(rules, group.as_deref());
        let proxy = format!(
            "add chain {TABLE} proxy {{ type nat hook output priority -100; policy accept; }}\n\
             add rule {TABLE} proxy meta l4proto tcp fib daddr type != local redirect to \
             :{PROXY_PORT}\n\
             add rule {TABLE} proxy ip daddr {RESOLVER} udp dport 53 redirect to :{PROXY_PORT}\n\
             add chain {TABLE} udp_mark {{ type route hook output priority -140; policy accept; }}\n\
             add rule {TABLE} udp_mark meta l4proto udp ip daddr != {RESOLVER} fib daddr type != \
             local meta mark set {PROXY_UDP_MARK:#x}\n\
             add rule {TABLE} udp_mark meta nfproto ipv6 meta l4proto udp fib daddr type != \
             local meta mark set {PROXY_UDP_MARK:#x}\n\
             add chain {TABLE} udp_in {{ type filter hook prerouting priority -150; policy accept; }}\n\
             add rule {TABLE} udp_in meta mark {PROXY_UDP_MARK:#x} meta l4proto udp tproxy ip to \
             127.0.0.1:{PROXY_UDP_PORT} accept\n\
             add rule {TABLE} udp_in meta mark {PROXY_UDP_MARK:#x} meta l4proto udp tproxy ip6 to \
             [::1]:{PROXY_UDP_PORT} accept\n"
        );
        let script = format!(
            "add table {TABLE}\n\
             add chain {TABLE} egress {{ type filter hook output priority -150; policy accept; }}\n\
             add chain {TABLE} egress_udp\n\
             {egress}{proxy}"
        );
        tool::nft_within(Within::Sandbox(&ns), &script)?;
        Ok(Self {
            ns,
            decisions: Arc::new(RwLock::new(egress::decisions(rules))),
            relays: Vec::new(),
            ipv6: false,
            published,
            dialer,
            member: member.map(Arc::new),
            unenforced,
        })
    }

    /// Starts carrying, on `rt`, the connections `sockets.tcp` (init's listener, in
    /// the sandbox's namespace) accepts, the DNS queries `sockets.dns` receives to the
    /// kernel's DNS relay at `relay` (when it runs), and the connections to its
    /// forwards' host ports into the sandbox.
    pub(crate) fn serve(
        &mut self,
        rt: &Handle,
        sockets: ProxySockets,
        relay: Option<RelayPorts>,
    ) -> io::Result<()> {
        let decisions = Arc::clone(&self.decisions);
        let dns_tcp = relay.map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p.v4.tcp)));
        self.ipv6 = sockets.tcp6.is_some();
        for listener in std::iter::once(sockets.tcp).chain(sockets.tcp6) {
            let decisions = Arc::clone(&decisions);
            let member = self.member.clone();
            self.relays.push(forward_relay::tcp_routed(
                rt,
                std::net::TcpListener::from(listener),
                move |c| route(c, &decisions, dns_tcp, member.as_deref()),
            )?);
        }
        #[cfg(target_os = "linux")]
        {
            use super::udp_egress::{Inside, Reach, serve};
            let inside = Arc::new(Inside::new(self.ns.try_clone()?, self.dialer.clone()));
            let reach = Reach {
                decisions: Arc::clone(&decisions),
                own: self.address(),
                member: self.member.clone(),
            };
            for sock in std::iter::once(sockets.udp).chain(sockets.udp6) {
                let relay = serve(rt, sock, Arc::clone(&inside), reach.clone())?;
                self.relays.push(relay);
            }
        }
        if let Some(p) = relay {
            self.relays.push(forward_relay::udp(
                rt,
                std::net::UdpSocket::from(sockets.dns),
                Dial::Host,
                SocketAddr::from((Ipv4Addr::LOCALHOST, p.v4.udp)),
            )?);
        }
        if let Some(dialer) = &self.dialer {
            for (f, reserved) in std::mem::take(&mut self.published) {
                let inside = SocketAddr::from((self.address(), f.port));
                let dial = Dial::Within(Arc::clone(dialer));
                self.relays.push(match reserved {
                    Published::Tcp(l) => forward_relay::tcp(rt, l, dial, inside)?,
                    Published::Udp(s) => forward_relay::udp(rt, s, dial, inside)?,
                });
            }
        }
        Ok(())
    }

    /// The sandbox's own address: its bridged group's member's, else `10.213.0.2`.
    pub fn address(&self) -> Ipv4Addr {
        self.member
            .as_ref()
            .map_or(Ipv4Addr::from(PROXY_ADDR), |m| m.address())
    }

    /// The sandbox's IPv6 address, once its outgoing TCP over IPv6 is served (where the
    /// host has IPv6).
    pub fn address6(&self) -> Option<Ipv6Addr> {
        self.ipv6.then(|| Ipv6Addr::from(PROXY_ADDR6))
    }

    /// Replaces the process's egress rules (after a revoke): the proxy's list, then
    /// the namespace's chain, in one transaction.
    pub fn set_rules(&self, rules: &[NetworkRule]) -> Result<(), NetError> {
        *self.decisions.write().unwrap_or_else(|e| e.into_inner()) = egress::decisions(rules);
        let group = self.member.as_ref().map(|m| m.subnet());
        let (egress, _) = egress_script(rules, group.as_deref());
        tool::nft_within(
            Within::Sandbox(&self.ns),
            &format!("flush chain {TABLE} egress\nflush chain {TABLE} egress_udp\n{egress}"),
        )
    }
}

impl std::fmt::Debug for Proxied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxied")
            .field("serving", &!self.relays.is_empty())
            .finish_non_exhaustive()
    }
}

/// A forward's host port, bound while the process is made.
#[derive(Debug)]
enum Published {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// The `add rule` lines of the two egress chains for `rules` (with `group`, a bridged
/// group's /24), and the grants they cannot enforce.
fn egress_script(rules: &[NetworkRule], group: Option<&str>) -> (String, Vec<String>) {
    let tcp = egress::protocol_egress(rules, ProtocolMatch::Tcp, REFUSE);
    let udp = egress::protocol_egress(rules, ProtocolMatch::Udp, DROP);
    let script = egress_lines(&tcp.rules, group) + &udp_egress_lines(&udp.rules, group);
    (script, tcp.unenforced)
}

/// The `add rule` lines of the egress chain: the sandbox's own addresses first, then
/// DNS to the relay's address (whatever the grants, as in rootful `private`), then UDP to
/// its own chain, then TCP only, then its bridged group's /24 (`group`), then no other
/// group's, then the decision list.
fn egress_lines(rules: &[String], group: Option<&str>) -> String {
    let dns = format!("ip daddr {RESOLVER} meta l4proto {{ tcp, udp }} th dport 53 accept");
    let peers = group.map(|subnet| format!("ip daddr {subnet} accept"));
    let groups = format!("ip daddr {} {REFUSE}", groups::RANGE);
    [
        "fib daddr type local accept",
        &dns,
        "meta l4proto udp jump egress_udp",
        "meta l4proto != tcp drop",
    ]
    .into_iter()
    .chain(peers.as_deref())
    .chain([groups.as_str()])
    .chain(rules.iter().map(String::as_str))
    .map(|r| format!("add rule {TABLE} egress {r}\n"))
    .collect()
}

/// The `add rule` lines of the UDP chain, for datagrams to outside the namespace: its
/// bridged group's /24 (`group`) but no other group's, then the decision list, whose
/// refusals drop.
fn udp_egress_lines(rules: &[String], group: Option<&str>) -> String {
    let peers = group.map(|subnet| format!("ip daddr {subnet} accept"));
    let groups = format!("ip daddr {} {DROP}", groups::RANGE);
    peers
        .as_deref()
        .into_iter()
        .chain([groups.as_str()])
        .chain(rules.iter().map(String::as_str))
        .map(|r| format!("add rule {TABLE} egress_udp {r}\n"))
        .collect()
}

/// Where the proxy carries connection `c`: DNS to the relay's address to the relay's
/// TCP port `dns` (when the relay runs), anything else to its original destination, if
/// the grants allow it. A connection that was not redirected (made to the listener
/// itself) has the sandbox's own address as its destination and is refused.
fn route(
    c: &TcpStream,
    decisions: &RwLock<Decisions>,
    dns: Option<SocketAddr>,
    member: Option<&Membership>,
) -> Result<(Dial, SocketAddr), String> {
    let to = original_dst(c).map_err(|e| format!("SO_ORIGINAL_DST: {e}"))?;
    if to == SocketAddr::from((RESOLVER, 53)) {
        let relay = dns.ok_or_else(|| format!("{to}: the kernel's DNS relay does not run"))?;
        return Ok((Dial::Host, relay));
    }
    let own = match to.ip() {
        IpAddr::V4(ip) => Some(ip) == member.map(Membership::address) || ip.octets() == PROXY_ADDR,
        IpAddr::V6(ip) => ip.octets() == PROXY_ADDR6,
    };
    if to.ip().is_loopback() || own {
        return Err(format!("{to} is the sandbox's own address"));
    }
    // A member of its bridged group: into that member's namespace, through its helper;
    // no other group's address is anyone's to reach.
    if let IpAddr::V4(ip) = to.ip()
        && groups::in_range(ip)
    {
        let peer = member
            .filter(|m| m.covers(ip))
            .and_then(|m| m.peer(ip))
            .ok_or_else(|| format!("{to}: no member of its group there"))?;
        return Ok((Dial::Within(peer), to));
    }
    let allowed =
        decisions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .allows(to.ip(), to.port(), true);
    if allowed {
        Ok((Dial::Host, to))
    } else {
        Err(format!("{to} is not granted"))
    }
}

/// The destination a connection had before the namespace's NAT redirected it
/// (`SO_ORIGINAL_DST`, or its IPv6 twin for a connection to the IPv6 listener).
#[cfg(target_os = "linux")]
fn original_dst(c: &TcpStream) -> io::Result<SocketAddr> {
    use nix::sys::socket::{
        getsockopt,
        sockopt::{Ip6tOriginalDst, OriginalDst},
    };
    if c.local_addr()?.is_ipv6() {
        let sa = getsockopt(c, Ip6tOriginalDst)?;
        return Ok(SocketAddr::new(
            Ipv6Addr::from(sa.sin6_addr.s6_addr).into(),
            u16::from_be(sa.sin6_port),
        ));
    }
    let sa = getsockopt(c, OriginalDst)?;
    Ok(SocketAddr::new(
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)).into(),
        u16::from_be(sa.sin_port),
    ))
}

/// Off Linux no sandbox has a namespace whose NAT this could ask.
#[cfg(not(target_os = "linux"))]
fn original_dst(_c: &TcpStream) -> io::Result<SocketAddr> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chains_keep_local_traffic_and_refuse_tcp_with_resets_and_udp_with_drops() {
        let rules =
            egress::tests::rules(&["allow:10.1.2.3:8080/tcp", "deny:*:53/udp", "allow:*:443"]);
        let (script, _) = egress_script(&rules, None);
        let tcp: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("add rule inet agentos egress "))
            .collect();
        assert_eq!(
            tcp[..4],
            [
                "add rule inet agentos egress fib daddr type local accept",
                "add rule inet agentos egress ip daddr 10.213.255.53 meta l4proto { tcp, udp } \
                 th dport 53 accept",
                "add rule inet agentos egress meta l4proto udp jump egress_udp",
                "add rule inet agentos egress meta l4proto != tcp drop",
            ]
        );
        // No bridged group's address, whatever the grants (10.0.0.0/8 would cover them).
        assert_eq!(
            tcp[4],
            "add rule inet agentos egress ip daddr 10.214.0.0/16 reject with tcp reset"
        );
        assert_eq!(
            tcp[5],
            "add rule inet agentos egress ip daddr 10.1.2.3/32 meta l4proto tcp th dport 8080 \
             accept"
        );
        assert_eq!(
            *tcp.last().unwrap(),
            "add rule inet agentos egress reject with tcp reset"
        );
        // The TCP chain holds no UDP decision; every one of it is TCP's.
        assert!(!tcp[4..].iter().any(|l| l.contains("udp")));
        assert!(tcp.contains(&"add rule inet agentos egress meta l4proto tcp th dport 443 accept"));

        // The UDP chain: no group, the UDP decisions (a `/udp` deny and the protocol-less
        // allow, with the guarded ranges of both families), refusals dropped; no TCP
        // decision.
        let udp: Vec<&str> = script
            .lines()
            .filter_map(|l| l.strip_prefix("add rule inet agentos egress_udp "))
            .collect();
        assert_eq!(udp[0], "ip daddr 10.214.0.0/16 drop");
        assert!(
            udp.iter()
                .any(|l| l.starts_with("ip6 daddr {") && l.ends_with(" drop")),
            "{udp:?}"
        );
        assert!(
            udp.contains(&"meta l4proto udp th dport 53 drop"),
            "{udp:?}"
        );
        assert!(
            udp.contains(&"meta l4proto udp th dport 443 accept"),
            "{udp:?}"
        );
        assert!(
            !udp.iter().any(|l| l.contains("8080") || l.contains("tcp")),
            "{udp:?}"
        );
        assert_eq!(*udp.last().unwrap(), "drop");

        // A member of a group reaches its group's /24 first, over TCP and UDP.
        let (member, _) = egress_script(&rules, Some("10.214.1.0/24"));
        let member: Vec<&str> = member.lines().collect();
        assert_eq!(
            member[4..6],
            [
                "add rule inet agentos egress ip daddr 10.214.1.0/24 accept",
                "add rule inet agentos egress ip daddr 10.214.0.0/16 reject with tcp reset",
            ]
        );
        let udp_at = member
            .iter()
            .position(|l| l.contains("egress_udp "))
            .unwrap();
        assert_eq!(
            member[udp_at..udp_at + 2],
            [
                "add rule inet agentos egress_udp ip daddr 10.214.1.0/24 accept",
                "add rule inet agentos egress_udp ip daddr 10.214.0.0/16 drop",
            ]
        );
    }
}
