//! Sockets through the kernel: `agentos-ipc-peer` asks its kernel for a TCP
//! socket, which is made in the process's own network namespace; one bridged
//! process listens and accepts, another of its group connects, and the bytes
//! cross. `bind` and `connect` are checked against the `bind:` and `net:` grants.
//! The peers close none of their kernel sockets: the kernel releases each
//! process's descriptor table when it reaps the exit, so right after the last
//! `wait` no veth or bridge of theirs is left (a socket held on would keep its
//! namespace, and so its veth, alive).

use std::time::Duration;

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};

use crate::{
    ipc::peer_bin,
    net::{NetDaemon, assert_no_links_within, assert_nothing_left, wait_for_line},
    util::{call, collect, require_root, spawn},
};

fn peer(group: &str, grants: &[&str], args: &[&str]) -> pb::ProcessSpec {
    let bin = peer_bin().display().to_string();
    let mut argv = vec![bin.clone()];
    argv.extend(args.iter().map(|s| s.to_string()));
    pb::ProcessSpec {
        argv,
        read_paths: vec![bin],
        capabilities: grants.iter().map(|s| s.to_string()).collect(),
        network: if group.is_empty() {
            pb::NetworkMode::None
        } else {
            pb::NetworkMode::Bridged
        } as i32,
        net_group: group.into(),
        ..Default::default()
    }
}

/// How long after the last `wait` the namespaces may take to go: the host
/// kernel frees a namespace (and its veth) asynchronously once nothing holds it.
const NAMESPACES_GO: Duration = Duration::from_secs(2);

/// The last line a process printed, once it exited.
async fn last_line(c: &mut agentos_client::Client, pid: u32) -> String {
    let (out, err, _) = collect(c, pid).await;
    let line = out.trim().lines().last().unwrap_or_default().to_owned();
    assert!(!line.is_empty(), "no output; stderr: {err}");
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_talk_through_kernel_sockets_in_their_own_namespaces_within_their_grants() {
    if !require_root(
        "processes_talk_through_kernel_sockets_in_their_own_namespaces_within_their_grants",
    ) {
        return;
    }
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let server = spawn(&mut c, peer("sk", &["bind:7100"], &["sock-serve", "7100"])).await;
    wait_for_line(&mut c, server.pid, "LISTENING").await;
    let target = format!("{}:7100", server.net_address);

    // Without a `net:` grant the kernel refuses the connection.
    let p = spawn(&mut c, peer("sk", &[], &["sock-connect", &target, "6869"])).await;
    let line = last_line(&mut c, p.pid).await;
    assert!(
        line.starts_with("ERR connect: permission denied") && line.ends_with("(PermissionDenied)"),
        "{line}"
    );
    // With one, it connects from the client's namespace into the server's: the
    // listening socket is in the server's namespace (on the host, nothing listens
    // at its address), and the server sees the client's own address, not the
    // bridge's (which a socket made in the kernel's namespace would have).
    let grant = "net:allow:10.213.0.0/16:7100/tcp";
    let client = spawn(
        &mut c,
        peer("sk", &[grant], &["sock-connect", &target, "6869"]),
    )
    .await;
    assert_eq!(last_line(&mut c, client.pid).await, "OK reply pong hi");
    let served = last_line(&mut c, server.pid).await;
    assert!(
        served.starts_with(&format!("OK served {}:", client.net_address))
            && served.ends_with(" 6869"),
        "{served} (client {})",
        client.net_address
    );

    // A port without a `bind:` grant is refused; a granted one binds.
    let p = spawn(&mut c, peer("", &["bind:7200"], &["sock-bind", "7201"])).await;
    let line = last_line(&mut c, p.pid).await;
    assert!(
        line.starts_with("ERR bind: permission denied") && line.ends_with("(PermissionDenied)"),
        "{line}"
    );
    let p = spawn(&mut c, peer("", &["bind:7200"], &["sock-bind", "7200"])).await;
    assert_eq!(last_line(&mut c, p.pid).await, "OK bound 7200");

    // Every process has exited with its sockets open; once `wait` says so, the
    // kernel holds none of them and their namespaces, veths and bridge go.
    for pid in [server.pid, client.pid, p.pid] {
        let wait = Call::Wait(pb::WaitProcess {
            pid,
            timeout_ms: 5000,
        });
        call(&mut c, wait).await.unwrap();
    }
    assert_no_links_within(&d.data_dir(), NAMESPACES_GO);

    d.terminate();
    assert_nothing_left(&d.data_dir());
}

/// Datagram sockets through the kernel, made in a process's own namespace (mode `none`:
/// its loopback alone) and driven over its kernel socket: one bound with its `bind:` grant
/// receives what another sends it with a `net:` grant for that port over UDP, with the
/// sender's address; a `sendto` the grants do not cover (a port granted over TCP alone,
/// or one not granted) is refused before anything is sent. Under a rootless kernel the
/// sockets are made by a helper in the process's namespaces, which goes at its reap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_cross_and_sendto_is_checked_against_the_net_grants() {
    let d = crate::util::Daemon::start(&[]);
    let mut user = d.client().await;
    let grants = [
        "bind:7100",
        "bind:7101",
        "net:allow:127.0.0.1:7100/udp",
        "net:allow:127.0.0.1:7101/tcp",
    ];
    let spec = pb::ProcessSpec {
        argv: vec!["/bin/sleep".into(), "30".into()],
        capabilities: grants.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    };
    let p = spawn(&mut user, spec).await;
    let socket = crate::util::process_socket(&d).await;
    let mut me = agentos_client::Client::connect_uds(&socket).await.unwrap();
    let mut dgram = async || {
        let made = call(
            &mut me,
            Call::Socket(pb::SocketCreate {
                r#type: pb::SocketType::Dgram as i32,
                ipv6: false,
            }),
        )
        .await;
        match made.unwrap() {
            Value::Count(fd) => fd as u32,
            other => panic!("socket: {other:?}"),
        }
    };
    let (a, b, c) = (dgram().await, dgram().await, dgram().await);
    for (fd, at) in [(a, "127.0.0.1:7100"), (c, "127.0.0.1:7101")] {
        let bound = call(
            &mut me,
            Call::Bind(pb::SocketBind {
                fd,
                addr: at.into(),
            }),
        )
        .await;
        assert!(matches!(bound, Ok(Value::Count(_))), "{at}: {bound:?}");
    }
    let sendto = |to: &str| {
        Call::Sendto(pb::SocketSendTo {
            fd: b,
            data: b"hello".to_vec(),
            addr: to.into(),
        })
    };
    let recvfrom = |fd: u32, wait_ms: u32| {
        Call::Recvfrom(pb::SocketRecvFrom {
            fd,
            max: 0,
            wait_ms,
        })
    };

    let sent = call(&mut me, sendto("127.0.0.1:7100")).await.unwrap();
    assert!(matches!(sent, Value::Count(5)), "{sent:?}");
    let Value::Datagram(got) = call(&mut me, recvfrom(a, 5_000)).await.unwrap() else {
        panic!("no datagram");
    };
    assert_eq!(got.data, b"hello");
    assert!(got.from.starts_with("127.0.0.1:"), "{}", got.from);

    for to in ["127.0.0.1:7101", "127.0.0.1:7102"] {
        let st = call(&mut me, sendto(to)).await.unwrap_err();
        assert_eq!(st.code(), tonic::Code::PermissionDenied, "{to}: {st:?}");
    }
    let st = call(&mut me, recvfrom(c, 200)).await.unwrap_err();
    assert_eq!(
        st.code(),
        tonic::Code::DeadlineExceeded,
        "a refused datagram arrived: {st:?}"
    );
    // Reaped, the process leaves nothing below the kernel (under a rootless kernel, the
    // helper that made its sockets in its namespaces goes with it).
    crate::util::kill_and_reap(&mut user, p.pid).await;
    let tree = crate::util::host_tree(d.pid());
    assert_eq!(
        tree.len(),
        1,
        "the kernel and what is left below it: {tree:?}"
    );
}
