//! Network modes from the outside: a `private` process reaches a server in a
//! namespace the test made only as its grants say, and so does a `shared` one
//! (`shared_mode.rs` has the rest of `shared`), a `none` process reaches
//! nothing, members of one `bridged` group reach each other and outsiders do not,
//! a port forward carries a request in; and after every test, and after a SIGKILL
//! of the daemon and a restart, no interface or nftables table of the kernel is left.
//!
//! Everything the test makes is named `agentos-test-net-*` (namespaces) or
//! `agentost*` (its veth), with the test's own subnet `10.214.<k>.0/30`, and is
//! removed by a guard's `Drop`, also on failure.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use agentos_proto::v1::{self as pb, process_input::Msg as In, process_output::Msg as Out};
use tokio_stream::StreamExt;

use crate::util::{Client, Daemon, collect, kill_tree, require_root, spawn};

pub(crate) mod dns;
mod forwards6;
mod ipv6;
mod shared_mode;

fn probe_bin() -> PathBuf {
    crate::util::bin("agentos-probe", env!("CARGO_BIN_EXE_agentos-probe"))
}

/// The probe with `args`, in `mode`, holding `grants`.
fn probe(mode: pb::NetworkMode, grants: &[&str], args: &[&str]) -> pb::ProcessSpec {
    let mut argv = vec![probe_bin().display().to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    pb::ProcessSpec {
        argv,
        read_paths: vec![probe_bin().display().to_string()],
        network: mode as i32,
        capabilities: grants.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace with a veth to the host and two TCP listeners inside (one port a
/// grant will allow, one it will not): `10.214.<k>.1` on the host, `.2` inside; and
/// `fd74:6573:7400:<k>::1` and `::2` ("test" in ASCII, outside the kernel's
/// `fd61:6765:6e74::/48`), the veth forwarding IPv6 on its own (`force_forwarding`).
struct TestNet {
    ns: String,
    veth: String,
    server: Ipv4Addr,
    server6: Ipv6Addr,
    /// Listening (the kernel completes handshakes into the backlog: no accept needed).
    listeners: Vec<TcpListener>,
}

impl TestNet {
    fn new(test: &str, k: u8) -> Self {
        let pid = std::process::id();
        let ns = format!("agentos-test-net-{test}-{pid}");
        let veth = format!("agentost{k:02x}{:05x}", pid & 0xfffff);
        let host = Ipv4Addr::new(10, 214, k, 1);
        let server = Ipv4Addr::new(10, 214, k, 2);
        let host6 = Ipv6Addr::new(0xfd74, 0x6573, 0x7400, k.into(), 0, 0, 0, 1);
        let server6 = Ipv6Addr::new(0xfd74, 0x6573, 0x7400, k.into(), 0, 0, 0, 2);
        let mut t = Self {
            ns,
            veth,
            server,
            server6,
            listeners: Vec::new(),
        };
        ip(&["netns", "add", &t.ns]);
        ip(&[
            "link", "add", &t.veth, "type", "veth", "peer", "name", "eth0", "netns", &t.ns,
        ]);
        ip(&["address", "add", &format!("{host}/30"), "dev", &t.veth]);
        ip(&[
            "-6",
            "address",
            "add",
            &format!("{host6}/64"),
            "dev",
            &t.veth,
            "nodad",
        ]);
        ip(&["link", "set", &t.veth, "up"]);
        // Replies from the namespace are forwarded back to the kernel's bridge.
        for knob in [
            format!("/proc/sys/net/ipv4/conf/{}/forwarding", t.veth),
            format!("/proc/sys/net/ipv6/conf/{}/force_forwarding", t.veth),
        ] {
            std::fs::write(&knob, "1").unwrap_or_else(|e| panic!("{knob}: {e}"));
        }
        let inside = |args: &[&str]| {
            let mut a = vec!["-n", t.ns.as_str()];
            a.extend_from_slice(args);
            ip(&a);
        };
        inside(&["address", "add", &format!("{server}/30"), "dev", "eth0"]);
        inside(&["link", "set", "eth0", "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &host.to_string()]);
        inside(&[
            "-6",
            "address",
            "add",
            &format!("{server6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        inside(&["-6", "route", "add", "default", "via", &host6.to_string()]);
        t.listeners = t.listen(server.into(), 2);
        t
    }

    /// Runs `f` on a thread inside the namespace: sockets it makes live there.
    fn inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.ns);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("open the test namespace");
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("a thread in the test namespace")
    }

    /// `count` TCP listeners on `ip` inside the namespace (the kernel completes
    /// handshakes into the backlog: no accept needed).
    fn listen(&self, ip: std::net::IpAddr, count: usize) -> Vec<TcpListener> {
        self.inside(move || {
            (0..count)
                .map(|_| TcpListener::bind((ip, 0)).expect("listen in the test namespace"))
                .collect()
        })
    }

    /// `server:port` of listener `i`.
    fn addr(&self, i: usize) -> SocketAddr {
        self.listeners[i].local_addr().expect("listener address")
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
    }
}

/// Sends `data` in one datagram to `to` (from the host's loopback of its family) and
/// waits (5 s at most) for one back: its text and where it came from.
pub(crate) async fn ask_over_udp(to: SocketAddr, data: &'static [u8]) -> (String, SocketAddr) {
    tokio::task::spawn_blocking(move || {
        let loopback: std::net::IpAddr = match to {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        let s = std::net::UdpSocket::bind((loopback, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(data, to).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = s
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("an answer from {to}: {e}"));
        (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
    })
    .await
    .expect("the exchange")
}

/// Sends `line` over a TCP connection to `to` (from the host) and reads one line
/// back, trimmed.
pub(crate) async fn ask_over_tcp(to: SocketAddr, line: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let line = format!("{line}\n");
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {to}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(&s)
            .read_line(&mut reply)
            .unwrap_or_else(|e| panic!("a reply from {to}: {e}"));
        reply.trim().to_owned()
    })
    .await
    .expect("the exchange")
}

/// A TCP forward from `host` (free, on the host's loopback) to a private process
/// serving port 7000 on `serve_ip`: the kernel holds the host port while the forward
/// lives, a line sent to it is answered by the process, and the port is free again
/// after the process's exit. Returns the process's output (`ALLOWED served PEER …`).
pub(crate) async fn tcp_forward_round_trip(
    c: &mut Client,
    host: SocketAddr,
    serve_ip: &str,
) -> String {
    let mut s = probe(
        pb::NetworkMode::Private,
        &["bind:7000"],
        &["serve", "7000", serve_ip],
    );
    s.publish = vec![format!("{host}:7000")];
    let p = spawn(c, s).await;
    wait_for_line(c, p.pid, "LISTENING").await;
    assert!(TcpListener::bind(host).is_err(), "{host} is not reserved");
    assert_eq!(ask_over_tcp(host, "hello").await, "pong hello");
    let (out, _, _) = collect(c, p.pid).await;
    assert!(out.contains("hello"), "{out}");
    assert!(
        TcpListener::bind(host).is_ok(),
        "{host} still held after the exit"
    );
    out
}

/// Runs a spec to its end; its stdout, trimmed.
async fn run(c: &mut Client, spec: pb::ProcessSpec) -> String {
    let p = spawn(c, spec).await;
    let (out, err, exit) = collect(c, p.pid).await;
    assert_eq!(exit.code, Some(0), "stdout {out:?} stderr {err:?}");
    out.trim().to_owned()
}

/// The doctor's details of the network subsystem.
pub(crate) async fn network_details(c: &mut Client) -> std::collections::HashMap<String, String> {
    let mut doctor = c
        .doctor(pb::DoctorRequest {})
        .await
        .expect("doctor")
        .into_inner();
    doctor
        .subsystems
        .remove("network")
        .expect("a network subsystem")
        .details
}

/// Revokes `grant` from running process `pid`.
pub(crate) async fn revoke(c: &mut Client, pid: u32, grant: String) {
    c.update_sandbox(pb::UpdateSandboxRequest {
        pid,
        revoke: vec![grant],
        ..Default::default()
    })
    .await
    .expect("revoke");
}

/// Reads a process's output until a line starts with `prefix` (within 20 s).
pub(crate) async fn wait_for_line(c: &mut Client, pid: u32, prefix: &str) {
    let input = tokio_stream::iter([pb::ProcessInput {
        msg: Some(In::Attach(pid)),
    }]);
    let mut out = c.process_io(input).await.expect("attach").into_inner();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Some(m) = tokio::time::timeout_at(deadline, out.next())
        .await
        .unwrap_or_else(|_| {
            let tail = &seen[seen.len().saturating_sub(200)..];
            panic!("no {prefix:?} line within 20 s; the last output: {tail:?}")
        })
    {
        match m.expect("output").msg {
            Some(Out::Output(ch)) => seen.push_str(&String::from_utf8_lossy(&ch.data)),
            Some(Out::Exit(x)) => panic!("exited before {prefix:?}: {x:?} {seen:?}"),
            None => {}
        }
        if seen.lines().any(|l| l.starts_with(prefix)) {
            return;
        }
    }
    panic!("output ended before {prefix:?}: {seen:?}");
}

/// `ip -j ARGS`, parsed.
fn ip_json(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .expect("ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j");
    v.as_array().cloned().unwrap_or_default()
}

/// The host's `agentos*` interfaces tagged with `data_dir`, and `agentos-*` nft
/// tables commented with it.
fn leftovers(data_dir: &Path) -> Vec<String> {
    let dir = data_dir.display().to_string();
    let mut left = Vec::new();
    let links = ip_json(&["link", "show"]);
    for l in &links {
        let name = l["ifname"].as_str().unwrap_or_default();
        if name.starts_with("agentos") && l["ifalias"].as_str() == Some(dir.as_str()) {
            left.push(format!("link {name}"));
        }
    }
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.strip_prefix("table inet ") else {
            continue;
        };
        if !name.starts_with("agentos-") {
            continue;
        }
        let t = Command::new("nft")
            .args(["list", "table", "inet", name])
            .output()
            .expect("nft");
        if String::from_utf8_lossy(&t.stdout).contains(&format!("comment \"{dir}\"")) {
            left.push(format!("nft table inet {name}"));
        }
    }
    left
}

/// A daemon whose network is removed when the test ends, even by a panic: the
/// daemon is SIGKILLed, then every interface and table tagged with its data
/// directory goes.
pub(crate) struct NetDaemon(Daemon);

impl NetDaemon {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra kernel arguments.
    pub(crate) fn start_with(args: &[&str]) -> Self {
        Self(Daemon::start(args))
    }
}

impl std::ops::Deref for NetDaemon {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.0
    }
}

impl std::ops::DerefMut for NetDaemon {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.0
    }
}

impl Drop for NetDaemon {
    fn drop(&mut self) {
        self.0.kill9();
        for what in leftovers(&self.0.data_dir()) {
            let args: Vec<&str> = match what.split_once(' ') {
                Some(("link", name)) => vec!["ip", "link", "del", name],
                _ => {
                    let name = what.rsplit(' ').next().unwrap_or_default();
                    vec!["nft", "delete", "table", "inet", name]
                }
            };
            let _ = Command::new(args[0]).args(&args[1..]).status();
        }
    }
}

/// Waits (a veth goes with its namespace, asynchronously) until nothing of the
/// kernel on `data_dir` is left.
pub(crate) fn assert_nothing_left(data_dir: &Path) {
    assert_none_left_within(data_dir, Duration::from_secs(10), |_| true);
}

/// Waits at most `within` until no interface of the kernel on `data_dir` is
/// left (its nftables table stays while it runs).
pub(crate) fn assert_no_links_within(data_dir: &Path, within: Duration) {
    assert_none_left_within(data_dir, within, |what| what.starts_with("link "));
}

fn assert_none_left_within(data_dir: &Path, within: Duration, counts: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<String> = leftovers(data_dir)
            .into_iter()
            .filter(|w| counts(w))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left on the host after {within:?}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_egress_follows_the_grants_and_none_reaches_nothing() {
    if !require_root("private_egress_follows_the_grants_and_none_reaches_nothing") {
        return;
    }
    let net = TestNet::new("egress", 1);
    let (open, closed) = (net.addr(0), net.addr(1));
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let allow = format!("net:allow:{}:{}/tcp", net.server, open.port());
    let open_s = open.to_string();
    let closed_s = closed.to_string();
    use pb::NetworkMode::{None as NoNet, Private};

    // The granted port answers; its address on the bridge is reported.
    let p = spawn(&mut c, probe(Private, &[&allow], &["connect", &open_s])).await;
    assert!(p.net_address.starts_with("10.213."), "{p:?}");
    assert_eq!(p.network, Private as i32);
    assert_eq!(collect(&mut c, p.pid).await.0.trim(), "ALLOWED connected");
    // Another port of the same server listens too, but is not granted.
    assert_eq!(
        run(&mut c, probe(Private, &[&allow], &["connect", &closed_s])).await,
        "DENIED EHOSTUNREACH"
    );
    // A denied CIDR beats the allow.
    let deny = format!("net:deny:{}/30", Ipv4Addr::new(10, 214, 1, 0));
    assert_eq!(
        run(
            &mut c,
            probe(Private, &[&allow, &deny], &["connect", &open_s])
        )
        .await,
        "DENIED EHOSTUNREACH"
    );
    // `allow:*` does not open the private ranges.
    assert_eq!(
        run(
            &mut c,
            probe(Private, &["net:allow:*"], &["connect", &open_s])
        )
        .await,
        "DENIED EHOSTUNREACH"
    );
    // The doctor says which modes this kernel gives.
    let modes = &network_details(&mut c).await;
    assert_eq!(modes["private"], "available", "{modes:?}");
    assert_eq!(modes["bridged"], "available", "{modes:?}");
    assert!(modes["shared"].starts_with("available: "), "{modes:?}");
    // The same grants in shared mode: the host's own route to the server, the port the
    // grant names reached, the other refused by the kernel wall (EPERM) rather than by
    // the nftables chain (EHOSTUNREACH).
    use pb::NetworkMode::Shared;
    assert_eq!(
        run(&mut c, probe(Shared, &[&allow], &["connect", &open_s])).await,
        "ALLOWED connected"
    );
    assert_eq!(
        run(&mut c, probe(Shared, &[&allow], &["connect", &closed_s])).await,
        "DENIED EPERM"
    );
    // Mode none: loopback only, whatever the grants.
    assert_eq!(
        run(&mut c, probe(NoNet, &[&allow], &["connect", &open_s])).await,
        "DENIED ENETUNREACH"
    );

    d.terminate();
    assert_nothing_left(&d.data_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridged_members_reach_each_other_and_outsiders_do_not() {
    if !require_root("bridged_members_reach_each_other_and_outsiders_do_not") {
        return;
    }
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let bridged = |group: &str, grants: &[&str], args: &[&str]| {
        let mut s = probe(pb::NetworkMode::Bridged, grants, args);
        s.net_group = group.into();
        s
    };
    let a = spawn(&mut c, bridged("web", &[], &["serve", "7000"])).await;
    wait_for_line(&mut c, a.pid, "LISTENING").await;
    let target = format!("{}:7000", a.net_address);

    // Outsiders first (A serves one connection): a private process even with a grant
    // for the whole subnet, and a member of another group.
    let grant = "net:allow:10.213.0.0/16:7000/tcp";
    let outsider = probe(pb::NetworkMode::Private, &[grant], &["connect", &target]);
    assert_eq!(run(&mut c, outsider).await, "DENIED EHOSTUNREACH");
    assert_eq!(
        run(&mut c, bridged("db", &[grant], &["connect", &target])).await,
        "DENIED EHOSTUNREACH"
    );
    // A member of the group, with no grant at all.
    assert_eq!(
        run(&mut c, bridged("web", &[], &["connect", &target])).await,
        "ALLOWED connected"
    );
    let (out, _, _) = collect(&mut c, a.pid).await;
    assert!(out.contains("ALLOWED served 10.213."), "{out}");

    d.terminate();
    assert_nothing_left(&d.data_dir());
}

/// A namespace outlives its last process whenever something pins it (a TCP socket in
/// TIME_WAIT does for a minute): the kernel removes the process's veth itself at exit
/// rather than leave it, and its name, to the namespace's lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_namespace_does_not_keep_the_veth() {
    if !require_root("a_pinned_namespace_does_not_keep_the_veth") {
        return;
    }
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let p = spawn(
        &mut c,
        probe(pb::NetworkMode::Private, &["bind:7000"], &["serve", "7000"]),
    )
    .await;
    wait_for_line(&mut c, p.pid, "LISTENING").await;
    let ns = format!("/proc/{}/ns/net", p.pid);
    assert_ne!(
        std::fs::read_link(&ns).unwrap(),
        std::fs::read_link("/proc/self/ns/net").unwrap(),
        "the process has a namespace of its own"
    );
    let pin = std::fs::File::open(&ns).expect("pin the process's namespace");
    kill_tree(&mut c, p.pid).await;
    collect(&mut c, p.pid).await;
    assert_no_links_within(&d.data_dir(), Duration::from_secs(2));
    drop(pin);
    d.terminate();
    assert_nothing_left(&d.data_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_forward_carries_a_request_in() {
    if !require_root("a_port_forward_carries_a_request_in") {
        return;
    }
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let host = crate::util::free_loopback_addr();
    let out = tcp_forward_round_trip(&mut c, host, "0.0.0.0").await;
    assert!(out.contains("ALLOWED served 10.213."), "{out}");

    d.terminate();
    assert_nothing_left(&d.data_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_left_after_a_daemon_sigkill_and_a_restart() {
    if !require_root("nothing_is_left_after_a_daemon_sigkill_and_a_restart") {
        return;
    }
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let mut s = probe(pb::NetworkMode::Bridged, &["bind:7000"], &["sleep", "100"]);
    s.net_group = "g".into();
    s.publish = vec![format!("{}:7000", crate::util::free_loopback_addr().port())];
    spawn(&mut c, s).await;
    spawn(
        &mut c,
        probe(pb::NetworkMode::Private, &[], &["sleep", "100"]),
    )
    .await;
    let made = leftovers(&d.data_dir());
    // Two bridges, two veths, one table.
    assert_eq!(made.len(), 5, "{made:?}");

    d.kill9();
    assert!(
        !leftovers(&d.data_dir()).is_empty(),
        "a SIGKILLed kernel cleaned up?"
    );
    d.spawn();
    assert_nothing_left(&d.data_dir());
    d.terminate();
    assert_nothing_left(&d.data_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_network_grant_closes_the_path() {
    if !require_root("a_revoked_network_grant_closes_the_path") {
        return;
    }
    let net = TestNet::new("revoke", 2);
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let allow = format!("net:allow:{}:{}/tcp", net.server, net.addr(0).port());
    // Every 100 ms the program tries the granted server.
    let script = format!(
        "while :; do {} connect {}; /bin/sleep 0.1; done",
        probe_bin().display(),
        net.addr(0)
    );
    let mut s = probe(pb::NetworkMode::Private, &[&allow], &[]);
    s.argv = vec!["/bin/sh".into(), "-c".into(), script];
    let p = spawn(&mut c, s).await;
    wait_for_line(&mut c, p.pid, "ALLOWED connected").await;
    revoke(&mut c, p.pid, allow).await;
    wait_for_line(&mut c, p.pid, "DENIED EHOSTUNREACH").await;
    crate::util::kill_tree(&mut c, p.pid).await;

    d.terminate();
    assert_nothing_left(&d.data_dir());
}
