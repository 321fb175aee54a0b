//! What the kernel wall's connect check costs a connect (`wall_cost/udp_connect`: one UDP
//! socket `connect`ed over and over in a child, `agentos-probe udpconnect ADDR N`, no packet
//! sent), in this order, all in one run:
//!
//! * `no_bpf`: nothing attached, the raw baseline;
//! * `managed`: in the managed cgroup with the probes, but not walled;
//! * `walled_shared`: walled with the rules of a `shared` process whose grant is the last of
//!   three (the decision list walked to its end).
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.

mod support;

use std::{path::Path, time::Duration};

use agentos_kernel::{capability::Policy, observe::WallRules};
use criterion::{Criterion, criterion_group, criterion_main};
use support::probes::{LiveProbes, child_time, group, privileged};

/// What the bench connects to (UDP: no packet leaves, nothing need listen).
const WALL_TARGET: &str = "127.0.0.1:9";
/// The grant that lets it through the wall, last in a list the check walks in order.
const WALL_GRANTS: &[&str] = &[
    "net:deny:10.0.0.0/8",
    "net:allow:192.0.2.0/24:443/tcp",
    "net:allow:127.0.0.1:9/udp",
];

/// Connects a UDP socket to [`WALL_TARGET`] `iters` times in a child (in `cgroup` if given).
fn connect_loop(iters: u64, cgroup: Option<&Path>) -> Duration {
    child_time(cgroup, &["udpconnect", WALL_TARGET, &iters.to_string()])
}

fn bench(c: &mut Criterion) {
    let Some(cgroup) = privileged("probes-wall") else {
        return;
    };
    let mut group = group(c, "wall_cost/udp_connect");
    group.bench_function("no_bpf", |b| b.iter_custom(|n| connect_loop(n, None)));
    let Some(probes) = LiveProbes::start(&cgroup) else {
        return;
    };
    let watched = probes.managed.watch(cgroup.id());
    group.bench_function("managed", |b| {
        b.iter_custom(|n| connect_loop(n, Some(cgroup.path())))
    });
    let grants = Policy::parse_cli(WALL_GRANTS).expect("the bench's grants");
    let rules = WallRules::from_grants(&grants.sandbox_grants(), &[], false);
    match watched.wall(&rules) {
        Ok(()) => {
            group.bench_function("walled_shared", |b| {
                b.iter_custom(|n| connect_loop(n, Some(cgroup.path())))
            });
        }
        Err(e) => eprintln!("walled_shared skipped: {e}"),
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
