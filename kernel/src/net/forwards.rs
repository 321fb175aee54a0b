//! Port forwards from the host's loopback into a process (`--publish
//! 127.0.0.1:8080:80`, `--publish [::1]:8080:80`).
//!
//! A forward is a DNAT in the kernel's nftables table (hook `output`: traffic the
//! host itself sends to `127.0.0.1:8080` or `[::1]:8080` goes to the process's
//! address of that family, port 80), plus a masquerade on the way into the bridge,
//! since a loopback source may not leave the loopback device.
//!
//! The answers come back un-NATed to the loopback address, arriving on the bridge.
//! IPv4 takes them there because `route_localnet` is set on the bridge alone. IPv6 has
//! no such switch: Linux looks a loopback destination up strictly by the interface it
//! came in on, and `::1`'s only route is on `lo`, so each bridge with IPv6 gets a
//! `local ::1` route of its own in a table its rule sends `::1`-bound packets from that
//! bridge to (`links.rs`, `rtnl::add_loopback6`). Without them the handshake's answer
//! is dropped as "no route"; with them the whole forward stays in the host kernel, no
//! userspace relay in the path.
//!
//! The kernel also binds the host port while the forward lives, so no host program can
//! take it and no second forward can claim it.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    str::FromStr,
};

use super::NetError;

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
    Tcp(#[expect(dead_code, reason = "held, never read: its fd is the reservation")] TcpListener),
    Udp(#[expect(dead_code, reason = "held, never read: its fd is the reservation")] UdpSocket),
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

    /// The map its key goes in: `published` (IPv4) or `published6`.
    pub(crate) fn map(&self) -> &'static str {
        if self.host.is_ipv4() {
            "published"
        } else {
            "published6"
        }
    }

    /// The key in [`Self::map`]: `tcp . 127.0.0.1 . 8080`.
    pub(crate) fn key(&self) -> String {
        format!("{} . {} . {}", self.proto.nft(), self.host, self.host_port)
    }

    /// The DNAT rule body for a process at `to` (an address of the forward's family), or
    /// why there is none (an IPv6 forward to a process without IPv6).
    pub(crate) fn dnat(&self, (to, to6): (Ipv4Addr, Option<Ipv6Addr>)) -> Result<String, NetError> {
        let (family, to) = match (self.host, to6) {
            (IpAddr::V4(_), _) => ("ip", to.to_string()),
            (IpAddr::V6(_), Some(to6)) => ("ip6", format!("[{to6}]")),
            (IpAddr::V6(_), None) => {
                return Err(NetError::Unavailable(format!(
                    "port forward {self}: the process has no IPv6 address (IPv6 is off on \
                     this host; see agentos doctor)"
                )));
            }
        };
        Ok(format!(
            "meta l4proto {} {family} daddr {} th dport {} dnat {family} to {to}:{}",
            self.proto.nft(),
            self.host,
            self.host_port,
            self.port
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCESS: (Ipv4Addr, Option<Ipv6Addr>) = (
        Ipv4Addr::new(10, 213, 0, 2),
        Some(Ipv6Addr::new(0xfd61, 0x6765, 0x6e74, 0, 0, 0, 0, 2)),
    );

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
        assert_eq!(
            (f.map(), f.key().as_str()),
            ("published", "udp . 127.0.0.1 . 9000")
        );
        assert_eq!(
            f.dnat(PROCESS).unwrap(),
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
            assert_eq!(f.map(), "published6");
            assert_eq!(f.to_string(), format!("[::1]:8080:80/{}", proto.nft()));
            assert_eq!(
                f.dnat(PROCESS).unwrap(),
                format!(
                    "meta l4proto {} ip6 daddr ::1 th dport 8080 dnat ip6 to [fd61:6765:6e74::2]:80",
                    proto.nft()
                )
            );
            // A process without IPv6 cannot take it.
            assert!(matches!(
                f.dnat((PROCESS.0, None)),
                Err(NetError::Unavailable(_))
            ));
        }
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
