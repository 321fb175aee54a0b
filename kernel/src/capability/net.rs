//! Network rules: which hosts, ports and protocols a `NetworkAccess` grant allows or
//! denies, and the port ranges of `BindPort`.
//!
//! The matching rules are on [`NetworkRule`].

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

/// An inclusive range of ports. `*` is every port, 0 included (binding port 0
/// asks the host for an ephemeral port, as landlock's `NET_BIND_TCP` rule for
/// port 0 does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "PortRangeRepr", into = "String")]
pub struct PortRange {
    start: u16,
    end: u16,
}

/// Why a port range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    #[error("invalid port range `{0}`: expected `*`, `PORT` or `FIRST-LAST` with ports 0-65535")]
    Invalid(String),
    #[error("invalid port range `{0}`: the first port is after the last")]
    Reversed(String),
}

impl PortRange {
    /// Every port.
    pub const ALL: Self = Self {
        start: 0,
        end: u16::MAX,
    };

    /// The ports `start..=end`.
    pub fn new(start: u16, end: u16) -> Result<Self, PortRangeError> {
        if start > end {
            return Err(PortRangeError::Reversed(format!("{start}-{end}")));
        }
        Ok(Self { start, end })
    }

    /// One port.
    pub fn single(port: u16) -> Self {
        Self {
            start: port,
            end: port,
        }
    }

    pub fn start(&self) -> u16 {
        self.start
    }

    pub fn end(&self) -> u16 {
        self.end
    }

    pub fn contains(&self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| PortRangeError::Invalid(s.to_owned()))
        };
        match s.trim() {
            "*" => Ok(Self::ALL),
            t => match t.split_once('-') {
                Some((a, b)) => {
                    let (start, end) = (port(a)?, port(b)?);
                    if start > end {
                        return Err(PortRangeError::Reversed(s.to_owned()));
                    }
                    Ok(Self { start, end })
                }
                None => port(t).map(Self::single),
            },
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            f.write_str("*")
        } else if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl From<PortRange> for String {
    fn from(r: PortRange) -> Self {
        r.to_string()
    }
}

/// JSON accepts a port as a number (`8080`) or any string form (`"8000-8100"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum PortRangeRepr {
    Port(u16),
    Text(String),
}

impl TryFrom<PortRangeRepr> for PortRange {
    type Error = PortRangeError;

    fn try_from(r: PortRangeRepr) -> Result<Self, Self::Error> {
        match r {
            PortRangeRepr::Port(p) => Ok(Self::single(p)),
            PortRangeRepr::Text(s) => s.parse(),
        }
    }
}

/// A transport protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

/// The protocols a rule applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolMatch {
    #[default]
    Any,
    Tcp,
    Udp,
}

impl ProtocolMatch {
    pub fn matches(self, proto: Protocol) -> bool {
        matches!(
            (self, proto),
            (Self::Any, _) | (Self::Tcp, Protocol::Tcp) | (Self::Udp, Protocol::Udp)
        )
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "any" => Some(Self::Any),
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Any => "any",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

/// An IP network: an address and a prefix length, with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network `addr/prefix`; refuses a prefix longer than the address and
    /// host bits that are set. An IPv4-mapped IPv6 network becomes the IPv4 one.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, HostPatternError> {
        let bad = || HostPatternError::Cidr(format!("{addr}/{prefix}"));
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let ok = match addr {
            IpAddr::V4(a) => prefix <= 32 && u32::from(a) & !mask32(prefix) == 0,
            IpAddr::V6(a) => prefix <= 128 && u128::from(a) & !mask128(prefix) == 0,
        };
        if ok {
            Ok(Self { addr, prefix })
        } else {
            Err(bad())
        }
    }

    /// One address.
    pub fn host(addr: IpAddr) -> Self {
        let addr = addr.to_canonical();
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (canonicalised) lies in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    fn is_single_host(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// The hosts a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HostPattern {
    /// `*`: every host.
    Any,
    /// An address (`127.0.0.1`, `::1`) or a network (`10.0.0.0/8`, `fd00::/8`).
    Cidr(Cidr),
    /// One host name, lower case, without a trailing dot (`example.com`).
    Name(String),
    /// `*.example.com`: every name below `example.com`, not `example.com` itself.
    Subdomains(String),
}

/// Why a host pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPatternError {
    #[error("host pattern is empty")]
    Empty,
    #[error(
        "invalid network `{0}`: expected ADDRESS/PREFIX with a prefix that fits the address and no host bits set"
    )]
    Cidr(String),
    #[error(
        "invalid host `{0}`: expected `*`, an IP address, a CIDR block, a host name or `*.domain`"
    )]
    Invalid(String),
}

impl HostPattern {
    /// Whether the rule's hosts include `host`. A name that is an IP address
    /// literal is treated as that address.
    pub fn matches(&self, host: &Host) -> bool {
        let ip = match host {
            Host::Ip(ip) => Some(*ip),
            Host::Name(n) => n.parse::<IpAddr>().ok(),
        };
        match (self, ip, host) {
            (Self::Any, _, _) => true,
            (Self::Cidr(net), Some(ip), _) => net.contains(ip),
            (Self::Name(want), None, Host::Name(name)) => trim_dot(name).eq_ignore_ascii_case(want),
            (Self::Subdomains(domain), None, Host::Name(name)) => {
                let name = trim_dot(name);
                name.len() > domain.len() + 1
                    && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
                    && name[name.len() - domain.len()..].eq_ignore_ascii_case(domain)
            }
            _ => false,
        }
    }

    /// Whether the pattern names only loopback addresses.
    pub fn is_loopback(&self) -> bool {
        match self {
            Self::Cidr(c) => match c.addr {
                IpAddr::V4(a) => a.is_loopback() && c.prefix >= 8,
                IpAddr::V6(a) => a.is_loopback(),
            },
            Self::Name(n) => n == "localhost",
            Self::Any | Self::Subdomains(_) => false,
        }
    }
}

fn trim_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// A host name of 1-63-byte labels of letters, digits, `-` and `_`, at most 253
/// bytes, lower-cased, trailing dot dropped. The last label may not be all digits
/// (RFC 3696 §2, as URL parsers hold): `10.0.0.1.` or `10.1` would otherwise be a
/// *name* that no connect to that address ever matches, so a deny rule written
/// that way would deny nothing (found by the `capability` fuzz target).
fn host_name(s: &str) -> Option<String> {
    let s = trim_dot(s);
    if s.rsplit('.')
        .next()
        .is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (!s.is_empty() && s.len() <= 253 && s.split('.').all(label_ok)).then(|| s.to_ascii_lowercase())
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(t);
        if t.is_empty() {
            return Err(HostPatternError::Empty);
        }
        if t == "*" {
            return Ok(Self::Any);
        }
        if let Some((addr, prefix)) = t.split_once('/') {
            let bad = || HostPatternError::Cidr(s.to_owned());
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let prefix: u8 = prefix.parse().map_err(|_| bad())?;
            return Cidr::new(addr, prefix).map(Self::Cidr).map_err(|_| bad());
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(Self::Cidr(Cidr::host(ip)));
        }
        if let Some(domain) = t.strip_prefix("*.") {
            return host_name(domain)
                .map(Self::Subdomains)
                .ok_or_else(|| HostPatternError::Invalid(s.to_owned()));
        }
        host_name(t)
            .map(Self::Name)
            .ok_or_else(|| HostPatternError::Invalid(s.to_owned()))
    }
}

impl TryFrom<String> for HostPattern {
    type Error = HostPatternError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<HostPattern> for String {
    fn from(h: HostPattern) -> Self {
        h.to_string()
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Cidr(c) => c.fmt(f),
            Self::Name(n) => f.write_str(n),
            Self::Subdomains(d) => write!(f, "*.{d}"),
        }
    }
}

/// The host a connection goes to: an address, or a name not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

impl From<Ipv4Addr> for Host {
    fn from(ip: Ipv4Addr) -> Self {
        Self::Ip(ip.into())
    }
}

impl From<Ipv6Addr> for Host {
    fn from(ip: Ipv6Addr) -> Self {
        Self::Ip(ip.into())
    }
}

impl FromStr for Host {
    type Err = std::convert::Infallible;

    /// An address if `s` is one (brackets allowed around IPv6), a name otherwise.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(s);
        Ok(t.parse::<IpAddr>()
            .map_or_else(|_| Self::Name(s.to_owned()), Self::Ip))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Self::Ip(a) => a.fmt(f),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// Whether a rule lets matching connections through or stops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Allow,
    Deny,
}

impl fmt::Display for RuleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

/// One network rule.
///
/// A rule is an action (allow or deny), a [`HostPattern`] (`*`, an IP
/// address, a CIDR block, a host name, or `*.domain` for its subdomains), a
/// [`PortRange`] and a [`ProtocolMatch`]. When rules disagree, deny wins. Addresses
/// are compared in canonical form, so `::ffff:10.0.0.1` is `10.0.0.1` to a rule.
/// Name rules match only requests that carry a name: a connection by address is
/// checked against address rules alone. Deny rules that must hold against
/// connections by address should therefore use CIDR blocks.
///
/// JSON: `{"action": "allow", "host": "127.0.0.1", "ports": 8080, "protocol": "tcp"}`;
/// `ports` defaults to `"*"` and `protocol` to `"any"`. CLI (after `net:`):
/// `allow:127.0.0.1:8080/tcp`, `deny:10.0.0.0/8`, `allow:[::1]:8000-8100/udp`,
/// `allow:*.example.com:443/tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRule {
    pub action: RuleAction,
    pub host: HostPattern,
    #[serde(default = "all_ports")]
    pub ports: PortRange,
    #[serde(default)]
    pub protocol: ProtocolMatch,
}

fn all_ports() -> PortRange {
    PortRange::ALL
}

/// Why a network rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkRuleError {
    #[error("network rule `{0}` must start with `allow:` or `deny:`")]
    Action(String),
    #[error("network rule `{input}`: unknown protocol `{proto}` (expected tcp, udp or any)")]
    Protocol { input: String, proto: String },
    #[error("network rule `{0}`: write IPv6 addresses in brackets, as in `[::1]:8080/tcp`")]
    Ipv6NeedsBrackets(String),
    #[error(transparent)]
    Host(#[from] HostPatternError),
    #[error(transparent)]
    Ports(#[from] PortRangeError),
}

impl NetworkRule {
    /// Whether the rule applies to a connection (its action aside).
    pub fn matches(&self, host: &Host, port: u16, proto: Protocol) -> bool {
        self.ports.contains(port) && self.protocol.matches(proto) && self.host.matches(host)
    }
}

impl FromStr for NetworkRule {
    type Err = NetworkRuleError;

    /// The CLI form after `net:`: `ACTION:HOST[:PORTS][/PROTO]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (action, rest) = s
            .split_once(':')
            .ok_or_else(|| NetworkRuleError::Action(s.to_owned()))?;
        let action = match action {
            "allow" => RuleAction::Allow,
            "deny" => RuleAction::Deny,
            _ => return Err(NetworkRuleError::Action(s.to_owned())),
        };
        // A trailing `/tcp`, `/udp` or `/any`; any other `/` belongs to a CIDR block.
        let (rest, protocol) = match rest.rsplit_once('/') {
            Some((head, tail)) if tail.bytes().all(|b| b.is_ascii_alphabetic()) => {
                match ProtocolMatch::parse(tail) {
                    Some(p) => (head, p),
                    None => {
                        return Err(NetworkRuleError::Protocol {
                            input: s.to_owned(),
                            proto: tail.to_owned(),
                        });
                    }
                }
            }
            _ => (rest, ProtocolMatch::Any),
        };
        let (host, ports) = if let Some(inner) = rest.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| HostPatternError::Invalid(rest.to_owned()))?;
            match after {
                "" => (host, None),
                a => match a.strip_prefix(':') {
                    Some(p) => (host, Some(p)),
                    None => return Err(HostPatternError::Invalid(rest.to_owned()).into()),
                },
            }
        } else {
            match rest.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(NetworkRuleError::Ipv6NeedsBrackets(s.to_owned()));
                }
                Some((host, ports)) => (host, Some(ports)),
                None => (rest, None),
            }
        };
        Ok(Self {
            action,
            host: host.parse()?,
            ports: ports.map_or(Ok(PortRange::ALL), str::parse)?,
            protocol,
        })
    }
}

impl fmt::Display for NetworkRule {
    /// The CLI form after `net:`, with every part spelt out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v6 = matches!(&self.host, HostPattern::Cidr(c) if c.addr.is_ipv6());
        if v6 {
            write!(
                f,
                "{}:[{}]:{}/{}",
                self.action, self.host, self.ports, self.protocol
            )
        } else {
            write!(
                f,
                "{}:{}:{}/{}",
                self.action, self.host, self.ports, self.protocol
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> NetworkRule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn port_ranges_parse_and_bound_inclusively() {
        let r: PortRange = "8000-8100".parse().unwrap();
        assert!(r.contains(8000) && r.contains(8100) && r.contains(8050));
        assert!(!r.contains(7999) && !r.contains(8101));
        assert_eq!("80".parse::<PortRange>().unwrap(), PortRange::single(80));
        assert_eq!("*".parse::<PortRange>().unwrap(), PortRange::ALL);
        assert!(PortRange::ALL.contains(0) && PortRange::ALL.contains(65535));
        assert_eq!(
            "90-80".parse::<PortRange>(),
            Err(PortRangeError::Reversed("90-80".into()))
        );
        assert_eq!(
            PortRange::new(2, 1),
            Err(PortRangeError::Reversed("2-1".into()))
        );
        for bad in ["", "x", "65536", "1-", "-1", "1-2-3", "80 tcp"] {
            assert_eq!(
                bad.parse::<PortRange>(),
                Err(PortRangeError::Invalid(bad.into())),
                "{bad:?}"
            );
        }
        for r in [
            PortRange::ALL,
            PortRange::single(1),
            PortRange::new(3, 9).unwrap(),
        ] {
            assert_eq!(r.to_string().parse::<PortRange>().unwrap(), r);
        }
    }

    #[test]
    fn port_range_json_takes_numbers_and_strings() {
        let a: PortRange = serde_json::from_str("8080").unwrap();
        let b: PortRange = serde_json::from_str(r#""8080""#).unwrap();
        let c: PortRange = serde_json::from_str(r#""1-2""#).unwrap();
        assert_eq!(a, PortRange::single(8080));
        assert_eq!(a, b);
        assert_eq!(c, PortRange::new(1, 2).unwrap());
        assert!(serde_json::from_str::<PortRange>(r#""2-1""#).is_err());
        assert!(serde_json::from_str::<PortRange>("70000").is_err());
        assert_eq!(serde_json::to_string(&c).unwrap(), r#""1-2""#);
    }

    #[test]
    fn cidr_matching_masks_correctly() {
        let net = Cidr::new("10.0.0.0".parse().unwrap(), 8).unwrap();
        assert!(net.contains("10.255.1.2".parse().unwrap()));
        assert!(!net.contains("11.0.0.0".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let all = Cidr::new("0.0.0.0".parse().unwrap(), 0).unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6 = Cidr::new("fd00::".parse().unwrap(), 8).unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(Cidr::new("10.0.0.1".parse().unwrap(), 8).is_err());
        assert!(Cidr::new("10.0.0.0".parse().unwrap(), 33).is_err());
        assert!(Cidr::new("::".parse().unwrap(), 129).is_err());
    }

    #[test]
    fn ipv4_mapped_addresses_meet_ipv4_rules() {
        let net = Cidr::new("10.0.0.0".parse().unwrap(), 8).unwrap();
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        let mapped = Cidr::new("::ffff:10.0.0.0".parse().unwrap(), 104).unwrap();
        assert_eq!(mapped, net);
        let h: HostPattern = "::ffff:127.0.0.1".parse().unwrap();
        assert!(h.matches(&ip("127.0.0.1")));
    }

    #[test]
    fn a_name_that_looks_like_an_address_is_refused_not_taken_as_a_name() {
        for s in ["10.0.0.1.", "0.0.0.9.", "10.1", "1.2.3", "127.1."] {
            assert!(
                s.parse::<HostPattern>().is_err(),
                "{s:?} must not become a name that no address matches"
            );
        }
        assert_eq!(
            "10.0.0.1".parse::<HostPattern>(),
            Ok(HostPattern::Cidr(Cidr::host("10.0.0.1".parse().unwrap())))
        );
        assert_eq!(
            "example.com.".parse::<HostPattern>(),
            Ok(HostPattern::Name("example.com".into()))
        );
        assert_eq!(
            "s3.eu-1.example".parse::<HostPattern>(),
            Ok(HostPattern::Name("s3.eu-1.example".into()))
        );
    }

    #[test]
    fn host_patterns_parse_and_match() {
        let any: HostPattern = "*".parse().unwrap();
        assert!(any.matches(&ip("1.2.3.4")) && any.matches(&Host::Name("x.org".into())));

        let name: HostPattern = "Example.COM.".parse().unwrap();
        assert_eq!(name, HostPattern::Name("example.com".into()));
        assert!(name.matches(&Host::Name("EXAMPLE.com".into())));
        assert!(name.matches(&Host::Name("example.com.".into())));
        assert!(!name.matches(&Host::Name("www.example.com".into())));
        assert!(!name.matches(&Host::Name("badexample.com".into())));
        assert!(!name.matches(&ip("93.184.216.34")));

        let sub: HostPattern = "*.example.com".parse().unwrap();
        assert!(sub.matches(&Host::Name("api.example.com".into())));
        assert!(sub.matches(&Host::Name("a.b.Example.com".into())));
        assert!(!sub.matches(&Host::Name("example.com".into())));
        assert!(!sub.matches(&Host::Name("badexample.com".into())));
        assert!(!sub.matches(&Host::Name(".example.com".into())));

        let lit: HostPattern = "[::1]".parse().unwrap();
        assert!(lit.matches(&ip("::1")));
        // A name that is an address literal is that address.
        let net: HostPattern = "10.0.0.0/8".parse().unwrap();
        assert!(net.matches(&Host::Name("10.1.2.3".into())));

        for bad in [
            "",
            "a b",
            "-x.com",
            "x..com",
            "*.",
            "*.*.com",
            "1.2.3.4/40",
            "10.0.0.1/8",
            "x/8",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad:?}");
        }
        let msg = "a b".parse::<HostPattern>().unwrap_err().to_string();
        assert!(msg.contains("`a b`"), "{msg}");
    }

    #[test]
    fn rule_cli_forms_parse() {
        let r = rule("allow:127.0.0.1:8080/tcp");
        assert_eq!(r.action, RuleAction::Allow);
        assert_eq!(r.host, "127.0.0.1".parse().unwrap());
        assert_eq!(r.ports, PortRange::single(8080));
        assert_eq!(r.protocol, ProtocolMatch::Tcp);

        let r = rule("deny:10.0.0.0/8");
        assert_eq!(r.action, RuleAction::Deny);
        assert_eq!(r.host, "10.0.0.0/8".parse().unwrap());
        assert_eq!((r.ports, r.protocol), (PortRange::ALL, ProtocolMatch::Any));

        let r = rule("deny:10.0.0.0/8:22/tcp");
        assert_eq!(r.host, "10.0.0.0/8".parse().unwrap());
        assert_eq!(r.ports, PortRange::single(22));

        let r = rule("allow:[::1]:8000-8100/udp");
        assert_eq!(r.host, "::1".parse().unwrap());
        assert_eq!(r.ports, PortRange::new(8000, 8100).unwrap());
        assert_eq!(r.protocol, ProtocolMatch::Udp);

        let r = rule("allow:[fd00::/8]");
        assert_eq!(r.host, "fd00::/8".parse().unwrap());

        let r = rule("allow:*.example.com:443");
        assert_eq!(r.host, HostPattern::Subdomains("example.com".into()));
        assert_eq!(r.protocol, ProtocolMatch::Any);

        let r = rule("allow:*:*/any");
        assert_eq!(r.host, HostPattern::Any);
    }

    #[test]
    fn rule_cli_errors_name_the_input() {
        let e = "permit:1.2.3.4".parse::<NetworkRule>().unwrap_err();
        assert_eq!(e, NetworkRuleError::Action("permit:1.2.3.4".into()));
        assert_eq!(
            "1.2.3.4".parse::<NetworkRule>().unwrap_err(),
            NetworkRuleError::Action("1.2.3.4".into())
        );
        assert_eq!(
            "allow:1.2.3.4:80/sctp".parse::<NetworkRule>().unwrap_err(),
            NetworkRuleError::Protocol {
                input: "allow:1.2.3.4:80/sctp".into(),
                proto: "sctp".into()
            }
        );
        assert_eq!(
            "allow:::1:80".parse::<NetworkRule>().unwrap_err(),
            NetworkRuleError::Ipv6NeedsBrackets("allow:::1:80".into())
        );
        assert!(matches!(
            "allow:1.2.3.4:99999".parse::<NetworkRule>(),
            Err(NetworkRuleError::Ports(PortRangeError::Invalid(p))) if p == "99999"
        ));
        assert!(matches!(
            "allow:[::1".parse::<NetworkRule>(),
            Err(NetworkRuleError::Host(_))
        ));
        assert!(matches!(
            "allow:[::1]x".parse::<NetworkRule>(),
            Err(NetworkRuleError::Host(_))
        ));
        assert!(matches!(
            "allow:no such host".parse::<NetworkRule>(),
            Err(NetworkRuleError::Host(HostPatternError::Invalid(h))) if h == "no such host"
        ));
    }

    #[test]
    fn rule_display_round_trips() {
        for s in [
            "allow:127.0.0.1:8080/tcp",
            "deny:10.0.0.0/8:*/any",
            "allow:[::1]:8000-8100/udp",
            "allow:[fd00::/8]:*/any",
            "allow:*.example.com:443/tcp",
            "deny:*:0-1023/tcp",
        ] {
            assert_eq!(rule(s).to_string(), s);
            assert_eq!(rule(&rule(s).to_string()), rule(s));
        }
    }

    #[test]
    fn rule_json_is_readable_and_strict() {
        let r: NetworkRule = serde_json::from_str(
            r#"{"action": "deny", "host": "10.0.0.0/8", "ports": "22", "protocol": "tcp"}"#,
        )
        .unwrap();
        assert_eq!(r, rule("deny:10.0.0.0/8:22/tcp"));
        let r: NetworkRule =
            serde_json::from_str(r#"{"action": "allow", "host": "example.com"}"#).unwrap();
        assert_eq!(r, rule("allow:example.com:*/any"));
        assert!(
            serde_json::from_str::<NetworkRule>(r#"{"action": "allow", "host": "*", "prots": 1}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<NetworkRule>(r#"{"host": "*"}"#).is_err());
        let back: NetworkRule =
            serde_json::from_str(&serde_json::to_string(&rule("allow:[::1]:80/tcp")).unwrap())
                .unwrap();
        assert_eq!(back, rule("allow:[::1]:80/tcp"));
    }

    #[test]
    fn rule_matching_needs_host_port_and_protocol() {
        let r = rule("allow:127.0.0.1:8080/tcp");
        assert!(r.matches(&ip("127.0.0.1"), 8080, Protocol::Tcp));
        assert!(!r.matches(&ip("127.0.0.1"), 8081, Protocol::Tcp));
        assert!(!r.matches(&ip("127.0.0.1"), 8080, Protocol::Udp));
        assert!(!r.matches(&ip("127.0.0.2"), 8080, Protocol::Tcp));
        let any = rule("allow:127.0.0.1:8080/any");
        assert!(any.matches(&ip("127.0.0.1"), 8080, Protocol::Udp));
    }

    #[test]
    fn loopback_patterns_are_recognised() {
        for s in ["127.0.0.1", "127.0.0.0/8", "::1", "localhost"] {
            assert!(s.parse::<HostPattern>().unwrap().is_loopback(), "{s}");
        }
        for s in ["*", "0.0.0.0/0", "10.0.0.1", "*.localhost", "::/0"] {
            assert!(!s.parse::<HostPattern>().unwrap().is_loopback(), "{s}");
        }
    }
}
