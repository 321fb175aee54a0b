//! DNS in `private`, from the outside: a tiny responder in a namespace the test made is
//! the kernel's upstream (`--dns`); a private process with no grant resolves a name
//! through the kernel's relay, while the responder's address stays refused to it and
//! the relay's address carries nothing but DNS; a `none` process resolves nothing; the
//! host's `/etc/resolv.conf` is untouched. The same over IPv6: the responder on the test
//! namespace's IPv6 address is the upstream, a private process asks the relay at
//! `fd61:6765:6e74:ff::53`, and the responder itself answers it only with a grant.

use std::{
    net::{Ipv4Addr, Ipv6Addr, UdpSocket},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use agentos_proto::v1 as pb;

use super::{NetDaemon, TestNet, assert_nothing_left, network_details, probe, run};
use crate::util::require_root;

/// The one name the responder knows, and its answers.
pub(crate) const NAME: &str = "agentos-test.example";
pub(crate) const A: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
pub(crate) const AAAA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);

/// A DNS responder answering `A` and `AAAA` of [`NAME`] and NXDOMAIN for the rest,
/// serving on its own thread until dropped; counts the queries it answered.
pub(crate) struct Responder {
    stop: Arc<AtomicBool>,
    pub answered: Arc<AtomicUsize>,
}

impl Responder {
    pub(crate) fn start(sock: UdpSocket) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let (s, n) = (Arc::clone(&stop), Arc::clone(&answered));
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::Relaxed) {
                let Ok((len, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..len]) {
                    let _ = sock.send_to(&reply, from);
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self { stop, answered }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The reply to one query (RFC 1035 §4.1): its ID and question, and one answer record
/// for the known name and type.
fn answer(q: &[u8]) -> Option<Vec<u8>> {
    // The header, then the question's name (labels), type and class.
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = q.get(12..i + 4)?;
    let rdata: Option<Vec<u8>> = match (labels.join(".") == NAME, qtype) {
        (true, 1) => Some(A.octets().to_vec()),
        (true, 28) => Some(AAAA.octets().to_vec()),
        _ => None,
    };
    let known = labels.join(".") == NAME;
    let mut r = Vec::new();
    r.extend_from_slice(&q[..2]);
    // QR, RD, RA; NXDOMAIN for an unknown name.
    r.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]);
    r.extend_from_slice(&[0, 1, 0, u8::from(rdata.is_some()), 0, 0, 0, 0]);
    r.extend_from_slice(question);
    if let Some(data) = rdata {
        // The name as a pointer to the question's, type, class IN, TTL 60, data.
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    Some(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_resolves_through_the_relay_and_none_does_not() {
    if !require_root("private_resolves_through_the_relay_and_none_does_not") {
        return;
    }
    let host_resolv = std::fs::read("/etc/resolv.conf").ok();
    let net = TestNet::new("dns", 3);
    let server = net.server;
    let responder = Responder::start(
        net.inside(move || UdpSocket::bind((server, 53)).expect("port 53 in the test namespace")),
    );
    let upstream = server.to_string();
    let mut d = NetDaemon::start_with(&["--dns", &upstream]);
    let mut c = d.client().await;
    use pb::NetworkMode::{None as NoNet, Private};
    // Before any private process, the live doctor says when the relay will start.
    let dns = &network_details(&mut c).await["dns"];
    assert!(
        dns.contains("started with the first private or bridged process"),
        "{dns}"
    );

    // No grant at all: names resolve through the relay, both families' records.
    assert_eq!(
        run(&mut c, probe(Private, &[], &["resolve", NAME])).await,
        format!("ALLOWED resolved {AAAA} {A}")
    );
    assert!(responder.answered.load(Ordering::Relaxed) >= 1);
    // The sandbox's resolv.conf names the relay, not the upstream.
    let conf = run(&mut c, probe(Private, &[], &["cat", "/etc/resolv.conf"])).await;
    let text = hex_text(conf.strip_prefix("ALLOWED ").expect("read resolv.conf"));
    assert!(text.contains("nameserver 10.213.255.53\n"), "{text}");
    assert!(!text.contains(&format!("nameserver {upstream}")), "{text}");
    // The upstream itself stays in a refused range (its other port is not reachable);
    // DNS over TCP reaches the relay too (it accepts before asking upstream); the
    // relay's address carries DNS only.
    let other = net.addr(0).to_string();
    for (target, expected) in [
        (other.as_str(), "DENIED EHOSTUNREACH"),
        ("10.213.255.53:53", "ALLOWED connected"),
        ("10.213.255.53:80", "DENIED EHOSTUNREACH"),
    ] {
        let got = run(&mut c, probe(Private, &[], &["connect", target])).await;
        assert_eq!(got, expected, "connect {target}");
    }
    // Mode none: the host's resolv.conf, whose resolvers it cannot reach.
    let none = run(&mut c, probe(NoNet, &[], &["resolve", NAME])).await;
    assert!(none.starts_with("DENIED "), "{none}");
    // The doctor says where names go.
    let dns = &network_details(&mut c).await["dns"];
    assert!(
        dns.contains("10.213.255.53") && dns.contains(&format!("asking {upstream}:53")),
        "{dns}"
    );

    d.terminate();
    assert_nothing_left(&d.data_dir());
    assert_eq!(
        std::fs::read("/etc/resolv.conf").ok(),
        host_resolv,
        "the host's resolv.conf changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_resolves_over_ipv6_through_the_relay() {
    if !require_root("private_resolves_over_ipv6_through_the_relay") {
        return;
    }
    let net = TestNet::new("dns6", 5);
    let server6 = net.server6;
    let responder =
        Responder::start(net.inside(move || {
            UdpSocket::bind((server6, 53)).expect("[::]:53 in the test namespace")
        }));
    let upstream = server6.to_string();
    let mut d = NetDaemon::start_with(&["--dns", &upstream]);
    let mut c = d.client().await;
    use pb::NetworkMode::Private;
    let relay6 = "[fd61:6765:6e74:ff::53]:53";
    let direct = format!("[{server6}]:53");

    // The sandbox's resolv.conf names the relay's IPv6 address too.
    let conf = run(&mut c, probe(Private, &[], &["cat", "/etc/resolv.conf"])).await;
    let text = hex_text(conf.strip_prefix("ALLOWED ").expect("read resolv.conf"));
    assert!(
        text.contains("nameserver fd61:6765:6e74:ff::53\n"),
        "{text}"
    );
    // No grant: a query over IPv6 to the relay's address is answered (the relay asks
    // the responder over IPv6 from the host).
    let before = responder.answered.load(Ordering::Relaxed);
    assert_eq!(
        run(&mut c, probe(Private, &[], &["dns", relay6, NAME])).await,
        format!("ALLOWED resolved {AAAA}")
    );
    assert!(responder.answered.load(Ordering::Relaxed) > before);
    // The responder itself, another :53 over IPv6, is refused without a grant and
    // answers with one.
    assert_eq!(
        run(&mut c, probe(Private, &[], &["dns", &direct, NAME])).await,
        "DENIED EACCES"
    );
    let grant = format!("net:allow:[{server6}/128]:53/udp");
    assert_eq!(
        run(&mut c, probe(Private, &[&grant], &["dns", &direct, NAME])).await,
        format!("ALLOWED resolved {AAAA}")
    );
    // The relay's IPv6 address carries DNS only.
    assert_eq!(
        run(
            &mut c,
            probe(Private, &[], &["connect", "[fd61:6765:6e74:ff::53]:80"])
        )
        .await,
        "DENIED EACCES"
    );
    // The relay's own port on that address answers the host (over its loopback) but
    // nothing arriving on another interface: a query from the test's namespace, routed
    // to the host over its veth, is dropped. (The address is the host's while a bridge
    // holds it: a private process keeps one.)
    let holder = crate::util::spawn(&mut c, probe(Private, &[], &["sleep", "30"])).await;
    let relay_port = relay6_udp_port(&mut c).await;
    let at = format!("[fd61:6765:6e74:ff::53]:{relay_port}");
    let probe_dns = |netns: Option<&str>| {
        let probe = super::probe_bin();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(probe);
                c
            }
            None => Command::new(probe),
        };
        let out = cmd
            .args(["dns", &at, NAME])
            .output()
            .expect("run the probe");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(probe_dns(None), format!("ALLOWED resolved {AAAA}"));
    assert_eq!(probe_dns(Some(&net.ns)), "DENIED EAGAIN");
    crate::util::kill_tree(&mut c, holder.pid).await;
    // The doctor says where names go, in both families (and, above, the port the live
    // relay listens on).
    let dns = &network_details(&mut c).await["dns"];
    assert!(
        dns.contains("10.213.255.53 and fd61:6765:6e74:ff::53")
            && dns.contains(&format!("asking [{upstream}]:53")),
        "{dns}"
    );

    d.terminate();
    assert_nothing_left(&d.data_dir());
}

/// The UDP port this kernel's relay listens on at `fd61:6765:6e74:ff::53`: what the
/// live doctor says (the kernel's, not the start-up report), checked against `ss`, which
/// also lists the relays of other tests' kernels running beside this one.
async fn relay6_udp_port(c: &mut crate::util::Client) -> u16 {
    let dns = &network_details(c).await["dns"];
    let port: u16 = dns
        .split("fd61:6765:6e74:ff::53 udp ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no IPv6 relay port in the doctor: {dns}"));
    let out = Command::new("ss")
        .args(["-Hnlu", "src", "[fd61:6765:6e74:ff::53]"])
        .output()
        .expect("ss");
    let text = String::from_utf8_lossy(&out.stdout);
    let bound = format!("[fd61:6765:6e74:ff::53]:{port}");
    assert!(
        text.split_whitespace().any(|w| w == bound),
        "the doctor's port {port} is not bound: {text:?}"
    );
    port
}

/// The probe's `cat` prints hex.
fn hex_text(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
