//! Port forwards from the host's loopback into a process (`--publish
//! 127.0.0.1:8080:80`).
//!
//! A forward is a DNAT in the kernel's nftables table (hook `output`: traffic the
//! host itself sends to `127.0.0.1:8080` goes to the process's address, port 80),
//! plus a masquerade on the way into the bridge, since a `127.0.0.0/8` source may
//! not leave the loopback device (`route_localnet` is set on the bridge alone). The
//! kernel also binds the host port while the forward lives, so no host program can
//! take it and no second forward can claim it.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket},
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
    pub host: Ipv4Addr,
    pub host_port: u16,
    pub port: u16,
    pub proto: ForwardProto,
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}/{}",
            self.host,
            self.host_port,
            self.port,
            self.proto.nft()
        )
    }
}

impl FromStr for Forward {
    type Err = NetError;

    /// `[127.x.y.z:]HOST_PORT:PORT[/tcp|/udp]`.
    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad = |why: &str| {
            NetError::Invalid(format!(
                "port forward {s:?}: {why} (expected [127.0.0.1:]HOST_PORT:PORT[/tcp|/udp])"
            ))
        };
        let (spec, proto) = match s.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, ForwardProto::Tcp),
            Some((spec, "udp")) => (spec, ForwardProto::Udp),
            Some(_) => return Err(bad("the protocol must be tcp or udp")),
            None => (s, ForwardProto::Tcp),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, ports) = match parts.as_slice() {
            [h, a, b] => (
                h.parse::<Ipv4Addr>().map_err(|_| bad("bad host address"))?,
                (a, b),
            ),
            [a, b] => (Ipv4Addr::LOCALHOST, (a, b)),
            _ => return Err(bad("wrong number of fields")),
        };
        if !host.is_loopback() {
            return Err(bad(
                "only the host's loopback (127.0.0.0/8) can be forwarded",
            ));
        }
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad("ports are 1-65535")),
            Ok(n) => Ok(n),
        };
        Ok(Self {
            host,
            host_port: port(ports.0)?,
            port: port(ports.1)?,
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
        let addr = SocketAddrV4::new(self.host, self.host_port);
        let taken = |e: std::io::Error| {
            NetError::Exhausted(format!("port forward {self}: {addr} is taken ({e})"))
        };
        match self.proto {
            ForwardProto::Tcp => TcpListener::bind(addr).map(Reservation::Tcp).map_err(taken),
            ForwardProto::Udp => UdpSocket::bind(addr).map(Reservation::Udp).map_err(taken),
        }
    }

    /// The `published` map key: `tcp . 127.0.0.1 . 8080`.
    pub(crate) fn key(&self) -> String {
        format!("{} . {} . {}", self.proto.nft(), self.host, self.host_port)
    }

    /// The DNAT rule body for a process at `to`.
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
        assert_eq!((f.host, f.proto), (Ipv4Addr::LOCALHOST, ForwardProto::Udp));
        assert_eq!(f.to_string(), "127.0.0.1:9000:90/udp");
        assert_eq!(
            f.dnat(Ipv4Addr::new(10, 213, 0, 2)),
            "meta l4proto udp ip daddr 127.0.0.1 th dport 9000 dnat ip to 10.213.0.2:90"
        );
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
        ] {
            assert!(
                matches!(bad.parse::<Forward>(), Err(NetError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
