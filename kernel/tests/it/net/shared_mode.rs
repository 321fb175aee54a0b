//! Network mode `shared` from the outside: the process stays in the host's network
//! namespace (it reaches a listener the test opened on the host's loopback, which a `none`
//! process cannot see), and what its grants do not allow is refused with EPERM by the kernel
//! wall's cgroup programs in the host kernel, each refusal a `denial` event naming the wall:
//! a connect to a port no rule allows, a connect a deny CIDR covers although an allow names
//! the port, a UDP send no rule allows, and a bind to a port no `bind:` grant covers. The
//! same probe run by the test outside AgentOS connects, sends and binds (the control). A
//! kernel without the wall refuses `shared` by name; a published port needs a `bind:` grant.
//!
//! All traffic stays on the host's loopback, to servers the test opened; nothing is made on
//! the host (no namespace, link or table), so there is nothing to remove but the daemon.

use std::{
    net::{SocketAddr, TcpListener, UdpSocket},
    process::Command,
};

use agentos_proto::v1 as pb;

use super::{probe, probe_bin, run};
use crate::{
    util::{Client, Daemon, require_root},
    wall::next_denial,
};

/// A daemon whose doctor says `shared` is available, and its event stream.
async fn shared_daemon() -> (Daemon, Client, tonic::Streaming<pb::KernelEvent>) {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let events = crate::util::watch_live_probes(&mut c).await;
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let net = &report.subsystems["network"];
    let shared = net.details.get("shared").cloned().unwrap_or_default();
    assert!(shared.starts_with("available"), "doctor: {net:?}");
    let wall = &report.subsystems["lsm_wall"];
    assert!(
        wall.details
            .get("bind")
            .is_some_and(|b| b.starts_with("live: ")),
        "{wall:?}"
    );
    (d, c, events)
}

/// The probe's line when the test runs it on the host, outside AgentOS.
fn on_host(args: &[&str]) -> String {
    let out = Command::new(probe_bin())
        .args(args)
        .output()
        .expect("probe");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A port nothing listens on now (bound and let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn shared(grants: &[&str], args: &[&str]) -> pb::ProcessSpec {
    probe(pb::NetworkMode::Shared, grants, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_connects_and_sends_follow_the_grants_in_the_host_kernel() {
    if !require_root("shared_connects_and_sends_follow_the_grants_in_the_host_kernel") {
        return;
    }
    let (_d, mut c, mut events) = shared_daemon().await;
    // Two servers on the host's loopback: one a grant names, one it does not.
    let granted = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (granted.local_addr().unwrap(), other.local_addr().unwrap());
    let udp_granted = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (ua, ub) = (
        udp_granted.local_addr().unwrap(),
        udp_other.local_addr().unwrap(),
    );
    let allow_a = format!("net:allow:127.0.0.1:{}/tcp", a.port());
    let allow_ua = format!("net:allow:127.0.0.1:{}/udp", ua.port());
    let grants = [allow_a.as_str(), allow_ua.as_str()];
    let (a_s, b_s, ua_s, ub_s) = (a.to_string(), b.to_string(), ua.to_string(), ub.to_string());

    // The granted port is reached: the process is in the host's namespace (a `none`
    // process's loopback is its own, with nothing listening).
    let line = run(&mut c, shared(&grants, &["connect", &a_s])).await;
    assert_eq!(line, "ALLOWED connected", "connect to the granted {a}");

    // The other port is refused by the wall, in the host kernel.
    let line = run(&mut c, shared(&grants, &["connect", &b_s])).await;
    assert_eq!(line, "DENIED EPERM", "connect to the ungranted {b}");
    let denial = next_denial(&mut events, "cgroup_connect").await;
    assert_eq!(denial.access, format!("connect {b}/tcp"), "{denial:?}");

    // A deny CIDR beats the allow that names the port.
    let deny = [allow_a.as_str(), "net:deny:127.0.0.0/8"];
    let line = run(&mut c, shared(&deny, &["connect", &a_s])).await;
    assert_eq!(
        line, "DENIED EPERM",
        "the deny of 127.0.0.0/8 lost to an allow"
    );
    let denial = next_denial(&mut events, "cgroup_connect").await;
    assert_eq!(denial.access, format!("connect {a}/tcp"), "{denial:?}");

    // `allow:*` does not open the host's loopback: it is a guarded range, as in `private`.
    let line = run(&mut c, shared(&["net:allow:*"], &["connect", &a_s])).await;
    assert_eq!(line, "DENIED EPERM", "allow:* reached the host's loopback");
    next_denial(&mut events, "cgroup_connect").await;

    // UDP sends with an address: the granted one goes out and arrives...
    let line = run(&mut c, shared(&grants, &["sendto", &ua_s])).await;
    assert_eq!(line, "ALLOWED sent 7 bytes");
    udp_granted
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = udp_granted.recv(&mut buf).expect("the granted datagram");
    assert_eq!(&buf[..n], b"agentos");
    // ...the other is refused.
    let line = run(&mut c, shared(&grants, &["sendto", &ub_s])).await;
    assert_eq!(line, "DENIED EPERM", "send to the ungranted {ub}");
    let denial = next_denial(&mut events, "cgroup_connect").await;
    assert_eq!(denial.access, format!("send to {ub}/udp"), "{denial:?}");

    // The control: the same probe outside AgentOS reaches what the wall refused.
    assert_eq!(on_host(&["connect", &b_s]), "ALLOWED connected");
    assert_eq!(on_host(&["sendto", &ub_s]), "ALLOWED sent 7 bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_binds_need_a_bind_grant() {
    if !require_root("shared_binds_need_a_bind_grant") {
        return;
    }
    let (_d, mut c, mut events) = shared_daemon().await;
    let (p, q) = (free_port(), free_port());
    let grant = format!("bind:{p}");
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port)).to_string();

    let line = run(&mut c, shared(&[&grant], &["bind", &at(p)])).await;
    assert_eq!(
        line,
        format!("ALLOWED bound {}", at(p)),
        "bind to the granted {p}"
    );
    // Port 0: the kernel picks an ephemeral port, which needs no grant.
    let line = run(&mut c, shared(&[&grant], &["bind", "127.0.0.1:0"])).await;
    assert!(line.starts_with("ALLOWED bound 127.0.0.1:"), "{line}");

    let line = run(&mut c, shared(&[&grant], &["bind", &at(q)])).await;
    assert_eq!(line, "DENIED EPERM", "bind to the ungranted {q}");
    let denial = next_denial(&mut events, "cgroup_bind").await;
    assert_eq!(denial.access, format!("bind port {q}"), "{denial:?}");
    assert_eq!(denial.capability, format!("bind:{q}"));

    // The control: outside AgentOS the same bind works.
    assert_eq!(
        on_host(&["bind", &at(q)]),
        format!("ALLOWED bound {}", at(q))
    );

    // In `none` its binds are its own namespace's business: not checked.
    let line = run(&mut c, probe(pb::NetworkMode::None, &[], &["bind", &at(q)])).await;
    assert_eq!(line, format!("ALLOWED bound {}", at(q)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_is_refused_by_name_without_the_wall() {
    if !require_root("shared_is_refused_by_name_without_the_wall") {
        return;
    }
    let d = Daemon::start(&["--no-ebpf"]);
    let mut c = d.client().await;
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let said = report.subsystems["network"].details["shared"].clone();
    assert!(said.starts_with("unavailable: "), "{said}");
    let err = c
        .create_process(pb::SpawnProcess {
            spec: Some(shared(&["net:allow:*"], &["connect", "127.0.0.1:9"])),
        })
        .await
        .expect_err("shared without the wall");
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
    assert!(
        err.message().contains("network mode shared") && err.message().contains("--no-ebpf"),
        "{}",
        err.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_without_a_bind_grant_is_refused_at_spawn() {
    if !require_root("a_publish_without_a_bind_grant_is_refused_at_spawn") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let host = crate::util::free_loopback_addr();
    let mut s = probe(pb::NetworkMode::Private, &["bind:81"], &["serve", "80"]);
    s.publish = vec![format!("{}:{}:80", host.ip(), host.port())];
    let err = c
        .create_process(pb::SpawnProcess { spec: Some(s) })
        .await
        .expect_err("a publish of port 80 without bind:80");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(
        err.message().contains("no BindPort grant covers port 80"),
        "{}",
        err.message()
    );
    // Nothing of it was made: the host port is free.
    assert!(
        TcpListener::bind(host).is_ok(),
        "{host} held by a refused spawn"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_closes_the_path_of_a_shared_process() {
    if !require_root("a_revoked_grant_closes_the_path_of_a_shared_process") {
        return;
    }
    let (_d, mut c, _events) = shared_daemon().await;
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = server.local_addr().unwrap();
    // Accepted and dropped, so the backlog never fills (a full one times connects out).
    std::thread::spawn(move || server.incoming().for_each(drop));
    let allow = format!("net:allow:127.0.0.1:{}/tcp", at.port());
    // Every 100 ms the program tries the granted server.
    let script = format!(
        "while :; do {} connect {at}; /bin/sleep 0.1; done",
        probe_bin().display()
    );
    let mut s = shared(&[&allow], &[]);
    s.argv = vec!["/bin/sh".into(), "-c".into(), script];
    let p = crate::util::spawn(&mut c, s).await;
    super::wait_for_line(&mut c, p.pid, "ALLOWED connected").await;
    super::revoke(&mut c, p.pid, allow).await;
    // The wall's rules narrowed in the host kernel: the running process is refused now.
    super::wait_for_line(&mut c, p.pid, "DENIED EPERM").await;
    crate::util::kill_tree(&mut c, p.pid).await;
}
