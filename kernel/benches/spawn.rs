//! Spawn-to-exit of `/bin/true`, fully sandboxed beside its raw baselines in the
//! same run (group `spawn_to_exit_true`):
//!
//! * `baseline_fork_exec`: `std::process::Command::new("/bin/true").status()`;
//! * `baseline_bwrap_unshare_all`: `bwrap --unshare-all --ro-bind / / --dev /dev
//!   --proc /proc /bin/true` (Debian's bubblewrap; `cargo xtask bench` installs it):
//!   user, mount, pid, network, IPC, UTS and cgroup namespaces, a read-only view of
//!   the host root, its own `/proc` and a minimal `/dev`;
//! * `agentos_sandbox`: [`sandbox::spawn`] of `/bin/true` with the default spec
//!   (every namespace, the tmpfs root with the system directories, `/proc`, `/dev`
//!   and `/tmp`, landlock, no capabilities, `no_new_privs`, seccomp; uid/gid 65534),
//!   then [`sandbox::ProcessHandle::wait`] (`waitid(P_PIDFD)`) on init and the relayed status read.
//!
//! * `agentos_sandbox_viewed`: the same through [`sandbox::spawn_viewed`], as the process
//!   table spawns while the probes are loaded: init stops once its view is built, the
//!   parent opens `/proc/PID/root` and `/proc/PID/ns/mnt` (what the probes' reader holds),
//!   and init goes on. Its excess over `agentos_sandbox` is that round trip: measured here
//!   (2 vCPUs, 2026-12-05) 2.54 → 2.76–2.93 ms, about the same with the opens left out, so
//!   it is the two wake-ups, not the opens.
//!
//! * `portable_pidfd`: [`sandbox::spawn_portable`] of `/bin/true` (a plain child,
//!   pipes, a new session; no isolation), supervised by its pidfd as Linux does, then
//!   [`sandbox::ProcessHandle::wait`];
//! * `portable_plain`: the same with the supervision macOS uses (`waitpid`, the reap
//!   guard; a pidfd stands in for the kqueue watch), against `baseline_fork_exec`.
//!
//! Target: `agentos_sandbox` no slower than `baseline_bwrap_unshare_all`'s median.
//! As root the sandbox runs as `nobody` (the full rung); as an ordinary user it is
//! the rootless rung (a user namespace of the user's own ids) and the functions are
//! suffixed `_rootless`, bubblewrap running as the same user. `cargo xtask bench`
//! runs this bench both ways. A missing `/usr/bin/bwrap` skips its function, with
//! the reason printed.
//!
//! Run: `cargo bench -p agentos-kernel --bench spawn`. Criterion prints means; the
//! medians are in `target/criterion/spawn_to_exit_true/*/new/estimates.json`.

use std::{os::fd::AsFd, path::Path, process::Command, time::Duration};

use agentos_kernel::sandbox::{self, SandboxSpec};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

const TRUE: &str = "/bin/true";
const BWRAP: &str = "/usr/bin/bwrap";
/// `nobody`: as root, the sandbox's host ids must be unprivileged.
const NOBODY: u32 = 65534;

/// The sandbox's ids and the suffix naming the rung: `nobody` as root, the user's
/// own ids rootless.
fn ids() -> (u32, u32, &'static str) {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    if uid.is_root() {
        (NOBODY, NOBODY, "")
    } else {
        (uid.as_raw(), gid.as_raw(), "_rootless")
    }
}

fn bwrap() -> Command {
    let mut c = Command::new(BWRAP);
    c.args([
        "--unshare-all",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        TRUE,
    ]);
    c
}

/// One sandboxed `/bin/true`, from the spec to the reaped init; `viewed`, with the view
/// opened by the parent before the program runs.
fn sandboxed(spec: &SandboxSpec<'_>, viewed: bool) {
    let spawned = if viewed {
        sandbox::spawn_viewed(
            spec,
            |_| Ok(()),
            |pid| {
                for what in ["root", "ns/mnt"] {
                    std::fs::File::open(format!("/proc/{pid}/{what}"))
                        .unwrap_or_else(|e| panic!("/proc/{pid}/{what}: {e}"));
                }
            },
        )
    } else {
        sandbox::spawn(spec, |_| Ok(()))
    }
    .unwrap_or_else(|e| panic!("spawn: {e}"));
    let init = spawned.handle.wait().expect("waitid on init");
    let status = spawned
        .status
        .as_ref()
        .map(|fd| sandbox::relayed_status(fd.as_fd()).expect("status pipe"));
    assert_eq!((init, status), (0, Some(Some(0))), "/bin/true failed");
}

/// One `/bin/true` as a plain child, from the spec to the reaped child.
fn portable(spec: &SandboxSpec<'_>) {
    let spawned = sandbox::spawn_portable(spec).unwrap_or_else(|e| panic!("spawn: {e}"));
    let status = spawned.handle.wait().expect("reap");
    assert_eq!(status, 0, "/bin/true failed");
}

fn spawn_to_exit(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_to_exit_true");
    // Milliseconds per iteration: flat sampling, 30 samples, ~10 s per function.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));

    g.bench_function("baseline_fork_exec", |b| {
        b.iter(|| {
            let s = Command::new(TRUE).status().expect("running /bin/true");
            assert!(s.success(), "/bin/true: {s}");
        });
    });

    let (uid, gid, rung) = ids();
    if Path::new(BWRAP).exists() {
        let s = bwrap().status().expect("running bwrap");
        assert!(s.success(), "{:?}: {s}", bwrap());
        g.bench_function(format!("baseline_bwrap_unshare_all{rung}"), |b| {
            b.iter(|| {
                let s = bwrap().status().expect("running bwrap");
                assert!(s.success(), "bwrap: {s}");
            });
        });
    } else {
        eprintln!(
            "skipping baseline_bwrap_unshare_all: {BWRAP} is missing \
             (`cargo xtask bench` installs Debian's bubblewrap)"
        );
    }

    let spec = SandboxSpec::new(TRUE, vec![TRUE.into()], uid, gid);
    for (name, viewed) in [("agentos_sandbox", false), ("agentos_sandbox_viewed", true)] {
        sandboxed(&spec, viewed);
        g.bench_function(format!("{name}{rung}"), |b| {
            b.iter(|| sandboxed(&spec, viewed))
        });
    }
    for (name, plain) in [("portable_pidfd", false), ("portable_plain", true)] {
        let mut spec = spec.clone();
        spec.plain_child_for_tests = plain;
        portable(&spec);
        g.bench_function(format!("{name}{rung}"), |b| b.iter(|| portable(&spec)));
    }
    g.finish();
}

criterion_group!(benches, spawn_to_exit);
criterion_main!(benches);
