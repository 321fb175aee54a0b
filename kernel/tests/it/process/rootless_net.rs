//! Rootless `private` from the outside, run as an ordinary user (the rootless pass
//! of `cargo xtask test`): a process reaches a test server on one of the host's own
//! non-loopback addresses (IPv4, and IPv6 where the host has one) only as its grants say, and its bytes arrive and come back
//! through the kernel's relay; names resolve through the kernel's DNS relay; a refused
//! connect fails at once, also after a revoke;
//! a `none` process reaches nothing; the program cannot flush the rules of its
//! namespace; TCP and UDP port forwards carry a request in; outgoing UDP is carried as
//! granted; bridged members reach each other over TCP and UDP; what rootless private does
//! not carry is refused with the reason.

use std::{
    io::{BufRead, BufReader, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener},
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use super::*;
use crate::util::Client;

fn probe_bin() -> PathBuf {
    crate::util::bin("agentos-probe", env!("CARGO_BIN_EXE_agentos-probe"))
}

/// `argv` in network mode `mode`, holding `grants`, the probe readable.
fn in_mode(mode: pb::NetworkMode, grants: &[&str], argv: &[&str]) -> pb::ProcessSpec {
    pb::ProcessSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        read_paths: vec![probe_bin().display().to_string()],
        network: mode as i32,
        capabilities: grants.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The probe with `args`.
fn probe(mode: pb::NetworkMode, grants: &[&str], args: &[&str]) -> pb::ProcessSpec {
    let bin = probe_bin().display().to_string();
    let argv: Vec<&str> = std::iter::once(bin.as_str())
        .chain(args.iter().copied())
        .collect();
    in_mode(mode, grants, &argv)
}

/// One of the host's own IPv4 addresses that is not a loopback one.
fn host_address() -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|i| {
        let a = i.address?.as_sockaddr_in()?.ip();
        (!a.is_loopback()).then_some(a)
    })
}

/// One of the host's own global IPv6 addresses (not loopback, not link-local).
fn host_address6() -> Option<Ipv6Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|i| {
        let a = i.address?.as_sockaddr_in6()?.ip();
        (!a.is_loopback() && !a.is_unicast_link_local()).then_some(a)
    })
}

/// A TCP server on `ip` answering each line with `pong LINE`, counting connections.
fn echo_server(ip: impl Into<IpAddr>) -> (SocketAddr, Arc<AtomicUsize>) {
    let ip = ip.into();
    let l = TcpListener::bind((ip, 0)).expect("a listener on the host's address");
    let at = l.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            if BufReader::new(&s).read_line(&mut line).is_ok() {
                let _ = (&s).write_all(format!("pong {line}").as_bytes());
            }
        }
    });
    (at, seen)
}

/// A UDP server on `ip` answering each datagram with `pong DATAGRAM`, counting them.
fn udp_echo_server(ip: impl Into<IpAddr>) -> (SocketAddr, Arc<AtomicUsize>) {
    let s = std::net::UdpSocket::bind((ip.into(), 0)).expect("a UDP socket on the host's address");
    let at = s.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            count.fetch_add(1, Ordering::SeqCst);
            let mut answer = b"pong ".to_vec();
            answer.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&answer, from);
        }
    });
    (at, seen)
}

/// Runs a spec to its end: (stdout, stderr), trimmed.
async fn run(c: &mut Client, spec: pb::ProcessSpec) -> (String, String) {
    let p = spawn(c, spec).await;
    let (out, err, exit) = collect(c, p.pid).await;
    assert_eq!(exit.code, Some(0), "stdout {out:?} stderr {err:?}");
    (out.trim().to_owned(), err.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rootless_private_carries_granted_tcp_and_refuses_the_rest() {
    const TEST: &str = "rootless_private_carries_granted_tcp_and_refuses_the_rest";
    let Some(ip) = rootless_with_address(TEST) else {
        return;
    };
    let (open, answered) = echo_server(ip);
    let (closed, reached) = echo_server(ip);
    // The kernel's DNS upstream: a responder of the test's on the host's loopback.
    use crate::net::dns::{A, AAAA, NAME, Responder};
    let upstream = std::net::UdpSocket::bind("127.0.0.1:0").expect("a responder's socket");
    let upstream_at = upstream.local_addr().unwrap().to_string();
    let responder = Responder::start(upstream);
    let mut d = Daemon::start(&["--dns", &upstream_at]);
    let mut c = d.client().await;
    use pb::NetworkMode::{Bridged, None as NoNet, Private};
    let allow = format!("net:allow:{ip}:{}/tcp", open.port());
    let (open_s, closed_s) = (open.to_string(), closed.to_string());

    // The doctor says what rootless private is.
    let modes = crate::net::network_details(&mut c).await;
    assert!(
        modes["private"].starts_with("available (rootless"),
        "{modes:?}"
    );
    assert!(
        modes["bridged"].starts_with("available (rootless"),
        "{modes:?}"
    );
    // Names resolve through the relay's IPv4 address alone (the sandbox has no IPv6).
    let dns = &modes["dns"];
    assert!(
        dns.contains("10.213.255.53") && !dns.contains("fd61:"),
        "{dns}"
    );

    // The granted port: the bytes go out, are answered, and come back.
    let p = spawn(
        &mut c,
        probe(Private, &[&allow], &["ask", &open_s, "hello"]),
    )
    .await;
    assert_eq!(p.net_address, "10.213.0.2", "{p:?}");
    let (out, err, _) = collect(&mut c, p.pid).await;
    assert_eq!(out.trim(), "ALLOWED reply pong hello", "stderr {err:?}");
    assert_eq!(answered.load(Ordering::SeqCst), 1);

    // The same over IPv6, where the host has an address of its own (the sandbox's IPv6
    // way out): the granted port answers, another port of the address is refused. A
    // host without one gives the sandbox no IPv6 way out to test (said, not failed: the
    // IPv4 part above is the test's core).
    match host_address6() {
        None => eprintln!("{TEST}: the host has no global IPv6 address; IPv6 part not run"),
        Some(ip6) => {
            let (open6, answered6) = echo_server(ip6);
            let (closed6, reached6) = echo_server(ip6);
            let allow6 = format!("net:allow:[{ip6}/128]:{}/tcp", open6.port());
            let p = spawn(
                &mut c,
                probe(Private, &[&allow6], &["ask", &open6.to_string(), "hello6"]),
            )
            .await;
            assert_eq!(p.net_address6, "fd61:6765:6e74::2", "{p:?}");
            let (out, err, _) = collect(&mut c, p.pid).await;
            assert_eq!(out.trim(), "ALLOWED reply pong hello6", "stderr {err:?}");
            assert_eq!(answered6.load(Ordering::SeqCst), 1);
            let refused = probe(Private, &[&allow6], &["connect", &closed6.to_string()]);
            assert_eq!(run(&mut c, refused).await.0, "DENIED ECONNREFUSED");
            assert_eq!(
                reached6.load(Ordering::SeqCst),
                0,
                "a refused connect got out"
            );
        }
    }
    // The kernel's fds once that process is gone (the DNS relay's sockets included, as
    // it started with the first private process): each later one's go with it.
    let fds = settled_fd_count(d.pid(), usize::MAX).await;

    // Refused at connect time by the namespace's rules (a TCP reset): another port of
    // the same address, which listens; the same port without the grant; and with a
    // deny of the address beside the allow (deny first).
    let refused = [
        probe(Private, &[&allow], &["connect", &closed_s]),
        probe(Private, &[], &["connect", &open_s]),
        probe(
            Private,
            &[&allow, &format!("net:deny:{ip}")],
            &["connect", &open_s],
        ),
    ];
    for spec in refused {
        assert_eq!(run(&mut c, spec).await.0, "DENIED ECONNREFUSED");
    }
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a refused connect got out"
    );
    assert_eq!(
        answered.load(Ordering::SeqCst),
        1,
        "a refused connect got out"
    );

    // Names resolve through the kernel's relay (UDP port 53 redirected in the
    // namespace to init's socket, carried by the kernel), without any grant; the
    // responder itself, on the host's loopback, stays out of reach.
    assert_eq!(
        run(&mut c, probe(Private, &[], &["resolve", NAME])).await.0,
        format!("ALLOWED resolved {AAAA} {A}")
    );
    let asked = responder.answered.load(Ordering::SeqCst);
    assert!(asked >= 2, "{asked} queries answered");
    // 127.0.0.1 inside is the sandbox's own loopback, where nothing answers.
    let direct = run(&mut c, probe(Private, &[], &["dns", &upstream_at, NAME]))
        .await
        .0;
    assert!(direct.starts_with("DENIED "), "{direct}");
    assert_eq!(responder.answered.load(Ordering::SeqCst), asked);

    // Mode none: loopback only, whatever the grants.
    assert_eq!(
        run(&mut c, probe(NoNet, &[&allow], &["connect", &open_s]))
            .await
            .0,
        "DENIED ENETUNREACH"
    );

    // The program holds no capability, cannot flush its namespace's rules, and the
    // refusal stands after it tried.
    let caps = run(&mut c, probe(Private, &[&allow], &["status"])).await.0;
    assert!(caps.contains("CapEff=0000000000000000"), "{caps}");
    let flush = format!(
        "/usr/sbin/nft flush ruleset; echo nft=$?; exec {} connect {closed_s}",
        probe_bin().display()
    );
    let (out, err) = run(
        &mut c,
        in_mode(Private, &[&allow], &["/bin/sh", "-c", &flush]),
    )
    .await;
    assert_eq!(out, "nft=1\nDENIED ECONNREFUSED", "stderr {err:?}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert_eq!(reached.load(Ordering::SeqCst), 0);

    // A revoked grant closes the path (the namespace's chain and the kernel's list
    // narrow): every 100 ms the program tries the granted server.
    revoke_closes(
        &mut c,
        &allow,
        &format!("connect {open_s}"),
        ["ALLOWED connected", "DENIED ECONNREFUSED"],
    )
    .await;

    // A TCP forward from either loopback is carried in by the kernel, through its
    // helper in the sandbox's namespace: the program sees a connection from its own
    // address, and the host port is held while the process lives, free after.
    let v6 = std::net::TcpListener::bind("[::1]:0").and_then(|l| l.local_addr());
    for host in std::iter::once(crate::util::free_loopback_addr()).chain(v6.ok()) {
        let out = crate::net::tcp_forward_round_trip(&mut c, host, "0.0.0.0").await;
        assert!(out.contains("served 10.213.0.2:"), "{host}: {out}");
    }

    // The helper that makes those connections' sockets, seen from the host while a
    // forward lives: the one process below the kernel outside the sandbox's pid
    // namespace (its `NSpid` has one level), holding no capability, and not dumpable
    // (its namespaces cannot be read, as init's cannot).
    let host = crate::util::free_loopback_addr();
    let mut s = probe(Private, &["bind:7000"], &["serve", "7000"]);
    s.publish = vec![format!("{host}:7000")];
    let p = spawn(&mut c, s).await;
    crate::net::wait_for_line(&mut c, p.pid, "LISTENING").await;
    let status =
        |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let levels = |status: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .map_or(0, |ids| ids.split_whitespace().count())
    };
    let helpers: Vec<u32> = crate::util::host_tree(d.pid())
        .into_iter()
        .map(|h| h.pid)
        .filter(|&h| h != d.pid() && levels(&status(h)) == 1)
        .collect();
    let [helper] = helpers[..] else {
        panic!("not one helper below the kernel: {helpers:?}");
    };
    assert!(
        status(helper).contains("CapEff:\t0000000000000000"),
        "{}",
        status(helper)
    );
    assert!(std::fs::read_link(format!("/proc/{helper}/ns/net")).is_err());
    assert_eq!(crate::net::ask_over_tcp(host, "hi").await, "pong hi");
    collect(&mut c, p.pid).await;

    // A UDP forward: one datagram in, its answer back from the forwarded port, the port
    // held while the process lives.
    let host = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap();
    let mut s = probe(Private, &["bind:7001"], &["serve-udp", "7001", "0.0.0.0"]);
    s.publish = vec![format!("{host}:7001/udp")];
    let p = spawn(&mut c, s).await;
    crate::net::wait_for_line(&mut c, p.pid, "LISTENING").await;
    assert!(
        std::net::UdpSocket::bind(host).is_err(),
        "{host} is not held"
    );
    let reply = crate::net::ask_over_udp(host, b"ping").await;
    assert_eq!(reply, ("pong ping\n".to_owned(), host));
    let (out, _, _) = collect(&mut c, p.pid).await;
    assert!(out.contains("ALLOWED served-udp 10.213.0.2:"), "{out}");
    assert!(
        std::net::UdpSocket::bind(host).is_ok(),
        "{host} held after the exit"
    );

    // Bridged: two members of one group reach each other through the kernel (each at
    // an address of the group's /24), without any grant; a private process, a member of
    // another group, and one granted the whole range do not.
    let member = |group: &str, args: &[&str], grants: &[&str]| {
        let mut s = probe(Bridged, grants, args);
        s.net_group = group.into();
        s
    };
    let server = spawn(&mut c, member("g", &["serve", "7000"], &["bind:7000"])).await;
    assert!(server.net_address.starts_with("10.214."), "{server:?}");
    crate::net::wait_for_line(&mut c, server.pid, "LISTENING").await;
    let at = format!("{}:7000", server.net_address);
    let outsiders = [
        probe(Private, &[], &["connect", &at]),
        member("h", &["connect", &at], &[]),
        probe(Private, &["net:allow:10.0.0.0/8"], &["connect", &at]),
    ];
    for spec in outsiders {
        let out = run(&mut c, spec).await.0;
        assert!(
            out.starts_with("DENIED "),
            "an outsider reached {at}: {out}"
        );
    }
    let asker = spawn(&mut c, member("g", &["ask", &at, "peer"], &[])).await;
    assert_ne!(asker.net_address, server.net_address);
    let (out, err, _) = collect(&mut c, asker.pid).await;
    assert_eq!(out.trim(), "ALLOWED reply pong peer", "stderr {err:?}");
    // The kernel's relay makes the connection inside the server's namespace: the server
    // sees it come from its own address, not the asker's.
    let (out, _, _) = collect(&mut c, server.pid).await;
    assert!(
        out.contains(&format!("ALLOWED served {}:", server.net_address)) && out.ends_with("peer\n"),
        "{out:?}"
    );

    // The same over UDP: the kernel carries a member's datagrams into the other's
    // namespace, where they come from the sender's own address, and the answer back from
    // the address asked; nobody else's get out.
    let server = spawn(
        &mut c,
        member("g", &["serve-udp", "7001", "0.0.0.0"], &["bind:7001"]),
    )
    .await;
    crate::net::wait_for_line(&mut c, server.pid, "LISTENING").await;
    let at = format!("{}:7001", server.net_address);
    let outsiders = [
        probe(Private, &[], &["ask-udp", &at, "x", "1"]),
        member("h", &["ask-udp", &at, "x", "1"], &[]),
        probe(
            Private,
            &["net:allow:10.0.0.0/8"],
            &["ask-udp", &at, "x", "1"],
        ),
    ];
    for spec in outsiders {
        let out = run(&mut c, spec).await.0;
        assert_eq!(out, "DENIED EPERM", "an outsider reached {at}");
    }
    let asker = spawn(&mut c, member("g", &["ask-udp", &at, "peer", "1"], &[])).await;
    let (out, err, _) = collect(&mut c, asker.pid).await;
    assert_eq!(
        out.trim(),
        format!("ALLOWED reply pong peer from {at}"),
        "stderr {err:?}"
    );
    let (out, _, _) = collect(&mut c, server.pid).await;
    assert!(
        out.contains(&format!("ALLOWED served-udp {}:", asker.net_address))
            && out.trim_end().ends_with(" peer"),
        "{out:?}"
    );

    // Every process's sockets and namespace handles went with it: the relay tasks
    // that held them ended, and the forwards' helpers were reaped.
    let_go(&d, fds).await;

    d.terminate();
}

/// Under a rootless kernel, one of the host's own non-loopback IPv4 addresses for `test`'s
/// servers; `None` (said) as root or on a host with none.
fn rootless_with_address(test: &str) -> Option<Ipv4Addr> {
    if privileged() {
        eprintln!("{test}: rootless only (as root, private is the veth and NAT of net::)");
        return None;
    }
    let ip = host_address();
    if ip.is_none() {
        crate::util::skip(test, "the host has no non-loopback IPv4 address");
    }
    ip
}

/// A revoked grant closes the way (the namespace's chains and the kernel's list narrow):
/// a private process holding `allow` runs the probe's `probe_args` every 100 ms, which
/// says `lines[0]` until `allow` is revoked and `lines[1]` after.
async fn revoke_closes(c: &mut Client, allow: &str, probe_args: &str, lines: [&str; 2]) {
    let script = format!(
        "while :; do {} {probe_args}; /bin/sleep 0.1; done",
        probe_bin().display()
    );
    let spec = in_mode(
        pb::NetworkMode::Private,
        &[allow],
        &["/bin/sh", "-c", &script],
    );
    let p = spawn(c, spec).await;
    crate::net::wait_for_line(c, p.pid, lines[0]).await;
    crate::net::revoke(c, p.pid, allow.to_owned()).await;
    crate::net::wait_for_line(c, p.pid, lines[1]).await;
    kill_tree(c, p.pid).await;
}

/// The kernel holds at most the `fds` it held before (within 5 s) and has nothing left
/// below it: every process's sockets, namespace handles and helpers went with it.
async fn let_go(d: &Daemon, fds: usize) {
    let now = settled_fd_count(d.pid(), fds).await;
    assert!(now <= fds, "the kernel holds {now} fds, {fds} before");
    let tree = crate::util::host_tree(d.pid());
    assert_eq!(
        tree.len(),
        1,
        "the kernel and what is left below it: {tree:?}"
    );
}

/// The kernel's fd count once it is at most `want` (within 5 s), or the last count.
async fn settled_fd_count(pid: u32, want: usize) -> usize {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let n = fd_count(pid);
        if n <= want || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Outgoing UDP from rootless `private` (over IPv4, and IPv6 where the host has it): a
/// granted flow's datagrams reach a server on the host's address and its answers come
/// back from that address and port (the kernel answers from a transparent socket bound
/// there), the flow's second datagram too (it takes the flow's own socket); a port not
/// granted for UDP, even one granted for TCP, fails at once with `EPERM` and nothing
/// arrives; a revoke closes the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rootless_private_carries_granted_udp_and_drops_the_rest() {
    const TEST: &str = "rootless_private_carries_granted_udp_and_drops_the_rest";
    let Some(ip) = rootless_with_address(TEST) else {
        return;
    };
    let (open, answered) = udp_echo_server(ip);
    let (closed, reached) = udp_echo_server(ip);
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let allow = format!("net:allow:{ip}:{}/udp", open.port());
    let (open_s, closed_s) = (open.to_string(), closed.to_string());

    let (out, err) = run(
        &mut c,
        probe(
            pb::NetworkMode::Private,
            &[&allow],
            &["ask-udp", &open_s, "hello"],
        ),
    )
    .await;
    assert_eq!(
        out,
        format!("ALLOWED reply pong hello / pong hello from {open}"),
        "stderr {err:?}"
    );
    assert_eq!(answered.load(Ordering::SeqCst), 2);

    // The same over IPv6, where the host has an address of its own (said, not failed,
    // where it has none).
    match host_address6() {
        None => eprintln!("{TEST}: the host has no global IPv6 address; IPv6 part not run"),
        Some(ip6) => {
            let (open6, answered6) = udp_echo_server(ip6);
            let (closed6, reached6) = udp_echo_server(ip6);
            let allow6 = format!("net:allow:[{ip6}/128]:{}/udp", open6.port());
            let asks = [
                (
                    open6.to_string(),
                    "hello6",
                    format!("ALLOWED reply pong hello6 / pong hello6 from {open6}"),
                ),
                (closed6.to_string(), "x", "DENIED EPERM".to_owned()),
            ];
            for (to, text, want) in asks {
                let (out, err) = run(
                    &mut c,
                    probe(
                        pb::NetworkMode::Private,
                        &[&allow6],
                        &["ask-udp", &to, text],
                    ),
                )
                .await;
                assert_eq!(out, want, "stderr {err:?}");
            }
            assert_eq!(answered6.load(Ordering::SeqCst), 2);
            assert_eq!(
                reached6.load(Ordering::SeqCst),
                0,
                "a refused datagram got out"
            );
        }
    }

    let tcp_only = format!("net:allow:{ip}:{}/tcp", open.port());
    for (grant, to) in [(&allow, &closed_s), (&tcp_only, &open_s)] {
        let (out, _) = run(
            &mut c,
            probe(pb::NetworkMode::Private, &[grant], &["ask-udp", to, "x"]),
        )
        .await;
        assert_eq!(out, "DENIED EPERM", "{grant} → {to}");
    }
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a refused datagram got out"
    );
    assert_eq!(
        answered.load(Ordering::SeqCst),
        2,
        "a refused datagram got out"
    );
    // The kernel's fds with the first flow's process gone (the DNS relay's included).
    let fds = settled_fd_count(d.pid(), usize::MAX).await;

    // A revoked grant closes the way (the namespace's UDP chain and the kernel's list
    // narrow): every 100 ms the program asks the granted server again.
    revoke_closes(
        &mut c,
        &allow,
        &format!("ask-udp {open_s} again"),
        ["ALLOWED reply pong again", "DENIED EPERM"],
    )
    .await;

    // Its flows' sockets, and the helper the kernel started in its namespace to make
    // them, went with it.
    let_go(&d, fds).await;
    drop(d);
}
