//! What the eBPF probes cost a syscall: `getppid` in a loop (in a child, `agentos-probe
//! getppid N`, which times itself), in this order, all in one run:
//!
//! * `no_bpf`: nothing attached, the raw baseline;
//! * `empty_raw_tp`: an empty raw tracepoint program on `sys_enter`, the floor any
//!   per-syscall probe pays (TOOLCHAIN.md measured ~+100 ns);
//! * `probes_idle`: the probes loaded with no managed cgroup, so the per-syscall programs are
//!   detached (target: no measurable cost);
//! * `probes_unmanaged`: one managed cgroup, the loop outside it: the cgroup filter only
//!   (target: ≤ 1.3× `empty_raw_tp`);
//! * `probes_managed`: the loop inside the managed cgroup: counted, timed and histogrammed.
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object (`cargo xtask build-ebpf`); without
//! them it says why and measures nothing. It creates one v2 cgroup, `agentos-bench-probes-<pid>`,
//! removed on drop.

use std::{
    fs,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _, unix::process::CommandExt as _},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use agentos_kernel::observe::{EmptyProgram, ManagedCgroups, ProcessProbes};
use criterion::{Criterion, criterion_group, criterion_main};
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

const PROBE: &str = env!("CARGO_BIN_EXE_agentos-probe");
/// Where the v2 hierarchy is mounted on hybrid and on v2-only hosts.
const V2_MOUNTS: [&str; 2] = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"];

/// A v2 cgroup made for the bench, killed and removed on drop.
struct BenchCgroup(PathBuf);

impl BenchCgroup {
    fn create() -> Option<Self> {
        let root = V2_MOUNTS.iter().map(PathBuf::from).find(|path| {
            statfs(path.as_path()).is_ok_and(|fs| fs.filesystem_type() == CGROUP2_SUPER_MAGIC)
        })?;
        let dir = root.join(format!("agentos-bench-probes-{}", std::process::id()));
        fs::create_dir(&dir).ok()?;
        Some(Self(dir))
    }

    fn id(&self) -> u64 {
        fs::metadata(&self.0).expect("stat the bench cgroup").ino()
    }
}

impl Drop for BenchCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.0.join("cgroup.kill"), "1");
        for _ in 0..200 {
            if fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("could not remove {}", self.0.display());
    }
}

/// Runs `getppid` `iters` times in a child (in `cgroup` if given); the child's own timing.
fn child_loop(iters: u64, cgroup: Option<&Path>) -> Duration {
    let mut cmd = Command::new(PROBE);
    cmd.args(["getppid", &iters.to_string()]);
    let procs = cgroup.map(|dir| {
        fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .expect("open cgroup.procs")
    });
    if let Some(procs) = &procs {
        let fd = procs.as_raw_fd();
        // SAFETY: runs in the child between fork and exec and only calls write(2), which is
        // async-signal-safe; "0" moves the writer itself. The fd stays open in the parent
        // until the child has been spawned.
        unsafe {
            cmd.pre_exec(move || {
                if libc::write(fd, b"0".as_ptr().cast(), 1) == 1 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let out = cmd.output().expect("run agentos-probe getppid");
    assert!(out.status.success(), "{out:?}");
    let ns: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("nanoseconds");
    Duration::from_nanos(ns)
}

fn bench(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("probe_cost skipped: needs root");
        return;
    }
    let Some(cgroup) = BenchCgroup::create() else {
        eprintln!("probe_cost skipped: no cgroup v2 hierarchy to make a cgroup in");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("probe_cost/getppid");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));

    group.bench_function("no_bpf", |b| b.iter_custom(|n| child_loop(n, None)));
    match EmptyProgram::attach() {
        Ok(empty) => {
            group.bench_function("empty_raw_tp", |b| b.iter_custom(|n| child_loop(n, None)));
            drop(empty);
        }
        Err(e) => eprintln!("empty_raw_tp skipped: {e}"),
    }
    let managed = ManagedCgroups::default();
    let probes = {
        let _entered = runtime.enter();
        // The wall's connect programs go on the bench's own cgroup.
        ProcessProbes::start(
            tokio::sync::broadcast::channel(16).0,
            managed.owners(),
            &cgroup.0,
        )
    };
    let probes = match probes {
        Ok(p) => p,
        Err(e) => {
            eprintln!("probes skipped: {e}");
            return;
        }
    };
    managed.set_probes(probes);
    group.bench_function("probes_idle", |b| b.iter_custom(|n| child_loop(n, None)));
    let watched = managed.watch(cgroup.id());
    assert!(managed.hot_attached());
    group.bench_function("probes_unmanaged", |b| {
        b.iter_custom(|n| child_loop(n, None))
    });
    group.bench_function("probes_managed", |b| {
        b.iter_custom(|n| child_loop(n, Some(&cgroup.0)))
    });
    group.finish();
    drop(watched);
    drop(managed.take_probes());
}

criterion_group!(benches, bench);
criterion_main!(benches);
