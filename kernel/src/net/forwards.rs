//! Port forwards from the host's loopback into a process (`--publish
//! 127.0.0.1:8080:80`, `--publish [::1]:8080:80`).
//!
//! An IPv4 forward is a DNAT in the kernel's nftables table (hook `output`: traffic
//! the host itself sends to `127.0.0.1:8080` goes to the process's address, port 80),
//! plus a masquerade on the way into the bridge, since a `127.0.0.0/8` source may not
//! leave the loopback device (`route_localnet` is set on the bridge alone, so the
//! answer un-NATed to `127.0.0.1` is taken there).
//!
//! An IPv6 forward cannot be one: IPv6 drops `::1` arriving on any interface but `lo`,
//! and has no `route_localnet`. The kernel relays it instead (`forward_relay.rs` says
//! why at length): the socket that reserves `[::1]:8080` is served by the kernel and
//! carried to the process's IPv6 address.
//!
//! Either way the kernel binds the host port while the forward lives, so no host
//! program can take it and no second forward can claim it.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    str::FromStr,
};

use super::{NetError, forward_relay};

/// The protocol of a forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardProto {
    Tcp,
    Udp,
}

impl ForwardProto {
    pub(crate) fn nft(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// One port forward: `host:host_port` on the loopback to the process's `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// A loopback address of either family.
    pub host: IpAddr,
    pub host_port: u16,
    pub port: u16,
    pub proto: ForwardProto,
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, port, proto) = (self.host, self.port, self.proto.nft());
        match host {
            IpAddr::V4(h) => write!(f, "{h}:{}:{port}/{proto}", self.host_port),
            IpAddr::V6(h) => write!(f, "[{h}]:{}:{port}/{proto}", self.host_port),
        }
    }
}

/// The forms `--publish` takes.
const FORMS: &str = "[127.0.0.1:]HOST_PORT:PORT[/tcp|/udp] or [::1]:HOST_PORT:PORT[/tcp|/udp]";

impl FromStr for Forward {
    type Err = NetError;

    /// `[127.x.y.z:]HOST_PORT:PORT[/tcp|/udp]` or `[::1]:HOST_PORT:PORT[/tcp|/udp]`.
    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad =
            |why: &str| NetError::Invalid(format!("port forward {s:?}: {why} (expected {FORMS})"));
        let (spec, proto) = match s.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, ForwardProto::Tcp),
            Some((spec, "udp")) => (spec, ForwardProto::Udp),
            Some(_) => return Err(bad("the protocol must be tcp or udp")),
            None => (s, ForwardProto::Tcp),
        };
        let (host, ports): (IpAddr, &str) = if let Some(rest) = spec.strip_prefix('[') {
            let (h, ports) = rest
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 host needs its closing bracket"))?;
            let ports = ports
                .strip_prefix(':')
                .ok_or_else(|| bad("a ':' goes between the bracketed host and the ports"))?;
            let h = h
                .parse::<Ipv6Addr>()
                .map_err(|_| bad("bad IPv6 host address"))?;
            (h.into(), ports)
        } else {
            match (spec.matches(':').count(), spec.split_once(':')) {
                (2, Some((h, ports))) => (
                    h.parse::<Ipv4Addr>()
                        .map_err(|_| bad("bad host address"))?
                        .into(),
                    ports,
                ),
                (1, _) => (Ipv4Addr::LOCALHOST.into(), spec),
                (n, _) if n > 2 => return Err(bad("an IPv6 host goes in brackets, as [::1]")),
                _ => return Err(bad("wrong number of fields")),
            }
        };
        if !host.is_loopback() {
            return Err(bad(
                "only the host's loopback (127.0.0.0/8 or ::1) can be forwarded",
            ));
        }
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad("ports are 1-65535")),
            Ok(n) => Ok(n),
        };
        let Some((a, b)) = ports.split_once(':').filter(|(_, b)| !b.contains(':')) else {
            return Err(bad("wrong number of fields"));
        };
        Ok(Self {
            host,
            host_port: port(a)?,
            port: port(b)?,
            proto,
        })
    }
}

/// The host port, bound by the kernel while the forward lives.
#[derive(Debug)]
pub(crate) enum Reservation {
    Tcp(TcpListener),
    Udp(UdpSocket),
    /// An IPv6 forward's socket, served by the kernel's relay.
    Relayed(forward_relay::Relay),
}

impl Forward {
    /// Binds the host side; fails when anything holds the port.
    pub(crate) fn reserve(&self) -> Result<Reservation, NetError> {
        let addr = SocketAddr::new(self.host, self.host_port);
        let taken = |e: std::io::Error| {
            NetError::Exhausted(format!("port forward {self}: {addr} is taken ({e})"))
        };
        match self.proto {
            ForwardProto::Tcp => TcpListener::bind(addr).map(Reservation::Tcp).map_err(taken),
            ForwardProto::Udp => UdpSocket::bind(addr).map(Reservation::Udp).map_err(taken),
        }
    }

    /// The `published` map key: `tcp . 127.0.0.1 . 8080` (IPv4 forwards).
    pub(crate) fn key(&self) -> String {
        format!("{} . {} . {}", self.proto.nft(), self.host, self.host_port)
    }

    /// The DNAT rule body of an IPv4 forward to a process at `to`.
    pub(crate) fn dnat(&self, to: Ipv4Addr) -> String {
        format!(
            "meta l4proto {} ip daddr {} th dport {} dnat ip to {to}:{}",
            self.proto.nft(),
            self.host,
            self.host_port,
            self.port
        )
    }
}

impl Reservation {
    /// For an IPv6 forward `f`: the reserved socket, served by the kernel on `rt` and
    /// carried to the process at `to6`. An IPv4 forward's reservation stays as it is
    /// (its DNAT carries the traffic).
    pub(crate) fn carry(
        self,
        f: &Forward,
        to6: Option<Ipv6Addr>,
        rt: Option<&tokio::runtime::Handle>,
    ) -> Result<Self, NetError> {
        if f.host.is_ipv4() {
            return Ok(self);
        }
        let to6 = to6.ok_or_else(|| {
            NetError::Unavailable(format!(
                "port forward {f}: the process has no IPv6 address (see agentos doctor)"
            ))
        })?;
        let rt = rt.ok_or_else(|| {
            NetError::Unavailable(format!(
                "port forward {f}: the kernel has no runtime to relay it"
            ))
        })?;
        let to = SocketAddr::new(to6.into(), f.port);
        let relayed = match self {
            Self::Tcp(l) => forward_relay::tcp(rt, l, forward_relay::Dial::Host, to),
            Self::Udp(s) => forward_relay::udp(rt, s, forward_relay::Dial::Host, to),
            relayed @ Self::Relayed(_) => return Ok(relayed),
        };
        relayed
            .map(Self::Relayed)
            .map_err(NetError::io(format!("relaying port forward {f}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_publish_forms() {
        let f: Forward = "127.0.0.1:8080:80".parse().unwrap();
        assert_eq!(
            (f.host_port, f.port, f.proto),
            (8080, 80, ForwardProto::Tcp)
        );
        let f: Forward = "9000:90/udp".parse().unwrap();
        assert_eq!(
            (f.host, f.proto),
            (IpAddr::from(Ipv4Addr::LOCALHOST), ForwardProto::Udp)
        );
        assert_eq!(f.to_string(), "127.0.0.1:9000:90/udp");
        assert_eq!(f.key(), "udp . 127.0.0.1 . 9000");
        assert_eq!(
            f.dnat(Ipv4Addr::new(10, 213, 0, 2)),
            "meta l4proto udp ip daddr 127.0.0.1 th dport 9000 dnat ip to 10.213.0.2:90"
        );
    }

    #[test]
    fn parses_the_ipv6_loopback() {
        for (form, proto) in [
            ("[::1]:8080:80", ForwardProto::Tcp),
            ("[::1]:8080:80/udp", ForwardProto::Udp),
        ] {
            let f: Forward = form.parse().unwrap();
            assert_eq!(
                (f.host, f.host_port, f.port, f.proto),
                (IpAddr::from(Ipv6Addr::LOCALHOST), 8080, 80, proto)
            );
            assert_eq!(f.to_string(), format!("[::1]:8080:80/{}", proto.nft()));
        }
    }

    /// An IPv6 forward is relayed, so its process needs an IPv6 address.
    #[tokio::test]
    async fn an_ipv6_forward_needs_an_ipv6_address() {
        let f: Forward = "[::1]:8080:80".parse().unwrap();
        let free = std::net::TcpListener::bind("[::1]:0").unwrap();
        let r = Reservation::Tcp(free);
        let rt = tokio::runtime::Handle::current();
        assert!(matches!(
            r.carry(&f, None, Some(&rt)),
            Err(NetError::Unavailable(_))
        ));
    }

    #[test]
    fn refuses_other_hosts_and_bad_ports() {
        for bad in [
            "0.0.0.0:8080:80",
            "192.0.2.1:8080:80",
            "8080",
            "0:80",
            "8080:70000",
            "8080:80/sctp",
            "a:b:c:d",
            "[::1]8080:80",
            "[::1:8080:80",
            "::1:8080:80",
            "[::]:8080:80",
            "[fd00::1]:8080:80",
            "[::1]:0:80",
            "[::1]:8080:0",
            "[::1]:8080",
            "[::1]:8080:80:90",
            "[127.0.0.1]:8080:80",
        ] {
            assert!(
                matches!(bad.parse::<Forward>(), Err(NetError::Invalid(_))),
                "{bad}"
            );
        }
        let e = "[::1]8080:80".parse::<Forward>().unwrap_err().to_string();
        assert!(
            e.contains("between the bracketed host and the ports"),
            "{e}"
        );
        let e = "[fd00::1]:8080:80"
            .parse::<Forward>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("only the host's loopback"), "{e}");
    }
}
