//! IPv6 in `private`, from the outside: a process reaches a server in a namespace the
//! test made over IPv6 as its grants say (a granted port answers, another port of the
//! same server and a denied network are refused, `allow:*` does not open the
//! unique-local range), and a `none` process has no IPv6 route at all; the spawn reply
//! names the IPv6 address the process's `eth0` really has.

use std::net::SocketAddr;

use agentos_proto::v1 as pb;

use super::{NetDaemon, TestNet, assert_nothing_left, network_details, probe, run};
use crate::util::{collect, require_root, spawn};

/// What `connect` prints when the egress chain refuses an IPv6 destination: its
/// `reject with icmpx admin-prohibited` is ICMPv6 "administratively prohibited", which
/// Linux reports as `EACCES` (IPv4's is `EHOSTUNREACH`).
const REFUSED6: &str = "DENIED EACCES";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_reaches_a_v6_server_by_its_grants_and_none_has_no_v6_route() {
    if !require_root("private_reaches_a_v6_server_by_its_grants_and_none_has_no_v6_route") {
        return;
    }
    let net = TestNet::new("ipv6", 4);
    let listeners = net.listen(net.server6.into(), 2);
    let addr = |i: usize| -> SocketAddr { listeners[i].local_addr().expect("v6 listener") };
    let (open, closed) = (addr(0).to_string(), addr(1).to_string());
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    let allow = format!("net:allow:[{}/128]:{}/tcp", net.server6, addr(0).port());
    use pb::NetworkMode::{None as NoNet, Private};

    // The granted port answers over IPv6 (through the bridge's ULA, NATed).
    let p = spawn(&mut c, probe(Private, &[&allow], &["connect", &open])).await;
    assert_eq!(
        crate::util::collect(&mut c, p.pid).await.0.trim(),
        "ALLOWED connected"
    );
    // Another port of the same server listens too, but is not granted.
    assert_eq!(
        run(&mut c, probe(Private, &[&allow], &["connect", &closed])).await,
        REFUSED6
    );
    // A denied network beats the allow.
    let [s0, s1, s2, s3, ..] = net.server6.segments();
    let deny = format!("net:deny:[{s0:x}:{s1:x}:{s2:x}:{s3:x}::/64]");
    assert_eq!(
        run(
            &mut c,
            probe(Private, &[&allow, &deny], &["connect", &open])
        )
        .await,
        REFUSED6
    );
    // `allow:*` does not open the unique-local range (fc00::/7).
    assert_eq!(
        run(
            &mut c,
            probe(Private, &["net:allow:*"], &["connect", &open])
        )
        .await,
        REFUSED6
    );
    // Mode none: no IPv6 route at all, whatever the grants.
    assert_eq!(
        run(&mut c, probe(NoNet, &[&allow], &["connect", &open])).await,
        "DENIED ENETUNREACH"
    );
    // The doctor names the IPv6 subnets.
    let details = network_details(&mut c).await;
    let v6 = &details["ipv6"];
    assert!(v6.starts_with("fd61:6765:6e74:NN::/64"), "{details:?}");
    assert!(
        v6.contains("port forwards from [::1]")
            && v6.contains("DNS over IPv6 at fd61:6765:6e74:ff::53"),
        "{v6}"
    );

    d.terminate();
    assert_nothing_left(&d.data_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spawn_reply_names_the_v6_address_eth0_has() {
    if !require_root("the_spawn_reply_names_the_v6_address_eth0_has") {
        return;
    }
    let mut d = NetDaemon::start();
    let mut c = d.client().await;
    use pb::NetworkMode::{None as NoNet, Private};
    // Two at once, so the second's address is not the first host number by chance.
    let first = spawn(&mut c, probe(Private, &[], &["sleep", "30"])).await;
    let p = spawn(&mut c, probe(Private, &[], &["addrs6", "eth0"])).await;
    let inside = collect(&mut c, p.pid).await.0;
    assert!(p.net_address6.starts_with("fd61:6765:6e74:"), "{p:?}");
    assert_ne!(p.net_address6, first.net_address6);
    // What eth0 holds, read from inside (getifaddrs), is what the reply said.
    assert_eq!(inside.trim(), format!("INFO {}", p.net_address6));
    // Mode none has neither address.
    let none = spawn(&mut c, probe(NoNet, &[], &["addrs6", "lo"])).await;
    assert_eq!(
        (none.net_address.as_str(), none.net_address6.as_str()),
        ("", "")
    );
    assert_eq!(collect(&mut c, none.pid).await.0.trim(), "INFO ::1");
    crate::util::kill_tree(&mut c, first.pid).await;

    d.terminate();
    assert_nothing_left(&d.data_dir());
}
