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
//! Then the ring buffer (`ring_buffer/open_events`): events per second delivered to user space
//! (decoded, on the hub's channel) before the first drop. The producer is `agentos-probe opens
//! N PATH` (an `openat` of a missing file N times: one open event each):
//!
//! * `crossbeam_array_queue`: a push and a pop of a record the size of an open event
//!   (`FileEvent`) through a `crossbeam` `ArrayQueue`, the raw in-process floor;
//! * `opens_unmanaged`: the producer outside the managed cgroup, no events: its own ceiling;
//! * `opens_delivered`: the producer inside it, timed from its start until the last of its N
//!   events arrived on the channel (so it includes the reader's up-to-25 ms poll);
//! * then, outside criterion, bursts of 2^k events from one and from two producers at once,
//!   up to the first burst that loses any (ring full: `reserve` failed), each printed with
//!   its delivered rate and losses (`first_drop` lines).
//!
//! And what the kernel wall's connect check costs a connect (`wall_cost/udp_connect`: one UDP
//! socket `connect`ed over and over, no packet sent): `no_bpf`, nothing attached; `managed`,
//! in the managed cgroup with the probes but not walled; `walled_shared`, walled with the
//! rules of a `shared` process whose grant is the last of three (the decision list walked
//! to its end).
//!
//! Then a realistic workload, `probe_cost/unpack_10k_files`: a child in the bench's cgroup
//! unpacks a 10,000-file tar archive and checksums every file (`tar`, `find`, `sha256sum`),
//! with every probe watching that cgroup (`probes_managed`) and with nothing attached
//! (`no_bpf`, the baseline; target: the probes cost at most 2 %).
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

use agentos_kernel::{
    capability::Policy,
    observe::{EmptyProgram, EventDetail, ManagedCgroups, ProcessEvent, ProcessProbes, WallRules},
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};
use tokio::sync::broadcast;

const PROBE: &str = env!("CARGO_BIN_EXE_agentos-probe");
/// The ring-buffer producer's path: never there, so each open fails fast (ENOENT) and leaves
/// nothing open; its events are told from others' by it.
const MISSING: &str = "/agentos-bench-ring-missing";
/// Events the hub's channel holds for the bench before it lags (a lag is counted apart from
/// ring-buffer losses).
const CHANNEL: usize = 1 << 18;
/// The largest burst the first-drop search tries.
const MAX_BURST: u64 = 1 << 21;
/// What the connect wall bench connects to (UDP: no packet leaves, nothing need listen).
const WALL_TARGET: &str = "127.0.0.1:9";
/// The grant that lets it through the wall, last in a list the check walks in order.
const WALL_GRANTS: &[&str] = &[
    "net:deny:10.0.0.0/8",
    "net:allow:192.0.2.0/24:443/tcp",
    "net:allow:127.0.0.1:9/udp",
];
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
    child_output(cgroup, &["getppid", &iters.to_string()])
        .join()
        .expect("the probe's thread")
}

/// Connects a UDP socket to [`WALL_TARGET`] `iters` times in a child (in `cgroup` if given).
fn connect_loop(iters: u64, cgroup: Option<&Path>) -> Duration {
    child_output(cgroup, &["udpconnect", WALL_TARGET, &iters.to_string()])
        .join()
        .expect("the probe's thread")
}

/// Puts the child `cmd` will start into `cgroup` (if given) between fork and exec; the
/// returned `cgroup.procs` handle must outlive the spawn.
fn place_in(cmd: &mut Command, cgroup: Option<&Path>) -> Option<fs::File> {
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
    procs
}

/// Starts `agentos-probe args` (a timed loop) in a child, in `cgroup` if given; its own
/// timing once it ends.
fn child_output(cgroup: Option<&Path>, args: &[&str]) -> std::thread::JoinHandle<Duration> {
    let mut cmd = Command::new(PROBE);
    cmd.args(args);
    let procs = place_in(&mut cmd, cgroup);
    cmd.stdout(std::process::Stdio::piped());
    let child = cmd.spawn().expect("run agentos-probe");
    drop(procs);
    std::thread::spawn(move || {
        let out = child.wait_with_output().expect("wait for agentos-probe");
        assert!(out.status.success(), "{out:?}");
        let ns: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("nanoseconds");
        Duration::from_nanos(ns)
    })
}

/// How many files the realistic workload's archive holds.
const ARCHIVE_FILES: usize = 10_000;

/// A tar archive of [`ARCHIVE_FILES`] small files (sizes 1..4 KiB, varied content) in a
/// scratch directory, made once per run.
struct Archive {
    dir: tempfile::TempDir,
}

impl Archive {
    fn make() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("agentos-bench-archive")
            .tempdir()
            .expect("scratch dir");
        let src = dir.path().join("src");
        for i in 0..ARCHIVE_FILES {
            let sub = src.join(format!("d{:02}", i % 100));
            fs::create_dir_all(&sub).expect("mkdir");
            let len = 1024 + (i * 37) % 3072;
            let body: Vec<u8> = (0..len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
            fs::write(sub.join(format!("f{i:05}")), body).expect("write");
        }
        let status = Command::new("tar")
            .args(["-cf", "a.tar", "-C", "src", "."])
            .current_dir(dir.path())
            .status()
            .expect("run tar");
        assert!(status.success(), "tar -cf failed");
        fs::remove_dir_all(&src).expect("remove the sources");
        Self { dir }
    }

    /// Unpacks the archive and checksums every file, in a child (in `cgroup` if given),
    /// `iters` times; the wall time of the children.
    fn unpack_and_checksum(&self, iters: u64, cgroup: Option<&Path>) -> Duration {
        let out = self.dir.path().join("out");
        let script = "rm -rf out && mkdir out && tar -xf a.tar -C out && \
                      find out -type f -exec sha256sum {} + | sha256sum";
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", script]).current_dir(self.dir.path());
            let _procs = place_in(&mut cmd, cgroup);
            let start = std::time::Instant::now();
            let res = cmd.output().expect("run the workload");
            total += start.elapsed();
            assert!(res.status.success(), "{res:?}");
        }
        let _ = fs::remove_dir_all(out);
        total
    }
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
    // The raw baseline first, with nothing attached.
    let mut wall_group = c.benchmark_group("wall_cost/udp_connect");
    wall_group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    wall_group.bench_function("no_bpf", |b| b.iter_custom(|n| connect_loop(n, None)));
    wall_group.finish();
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
    let (tx, rx) = broadcast::channel(CHANNEL);
    let probes = {
        let _entered = runtime.enter();
        // The wall's connect programs go on the bench's own cgroup.
        ProcessProbes::start(tx, managed.owners(), &cgroup.0)
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
    ring_buffer(c, &runtime, &cgroup, rx);
    let mut wall_group = c.benchmark_group("wall_cost/udp_connect");
    wall_group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    wall_group.bench_function("managed", |b| {
        b.iter_custom(|n| connect_loop(n, Some(&cgroup.0)))
    });
    let grants = Policy::parse_cli(WALL_GRANTS).expect("the bench's grants");
    let rules = WallRules::from_grants(&grants.sandbox_grants(), &[], false);
    match watched.wall(&rules) {
        Ok(()) => wall_group.bench_function("walled_shared", |b| {
            b.iter_custom(|n| connect_loop(n, Some(&cgroup.0)))
        }),
        Err(e) => {
            eprintln!("walled_shared skipped: {e}");
            &mut wall_group
        }
    };
    wall_group.finish();

    // The realistic workload, in the managed cgroup both times: every probe attached and
    // watching it, then nothing attached (the baseline; target: at most 2 % slower).
    let archive = Archive::make();
    let mut work = c.benchmark_group("probe_cost/unpack_10k_files");
    work.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    work.bench_function("probes_managed", |b| {
        b.iter_custom(|n| archive.unpack_and_checksum(n, Some(&cgroup.0)))
    });
    drop(watched);
    let probes = managed.take_probes();
    assert!(!managed.hot_attached());
    drop(probes);
    work.bench_function("no_bpf", |b| {
        b.iter_custom(|n| archive.unpack_and_checksum(n, Some(&cgroup.0)))
    });
    work.finish();
}

/// What one burst of the producer(s) delivered.
struct Burst {
    delivered: u64,
    /// Events the channel dropped because the bench read too slowly (not the ring's).
    lagged: u64,
    /// From the producers' start to the last event's arrival.
    elapsed: Duration,
    /// The slowest producer's own loop time.
    produced_in: Duration,
}

/// Runs `producers` children of `agentos-probe opens per_producer MISSING` in the managed
/// `cgroup` at once and counts their open events as the hub delivers them.
fn burst(
    runtime: &tokio::runtime::Runtime,
    rx: &mut broadcast::Receiver<ProcessEvent>,
    cgroup: &BenchCgroup,
    producers: u64,
    per_producer: u64,
) -> Burst {
    let (id, want) = (cgroup.id(), producers * per_producer);
    let count = per_producer.to_string();
    let start = std::time::Instant::now();
    let children: Vec<_> = (0..producers)
        .map(|_| child_output(Some(&cgroup.0), &["opens", &count, MISSING]))
        .collect();
    let (mut delivered, mut lagged, mut last) = (0, 0, start);
    runtime.block_on(async {
        // Nothing for a second after the producers ended: the rest was lost.
        while delivered + lagged < want {
            match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                Ok(Ok(ev)) => {
                    if ev.cgroup_id == id
                        && matches!(&ev.detail, EventDetail::Open { path, .. } if path == MISSING)
                    {
                        delivered += 1;
                        last = std::time::Instant::now();
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => lagged += n,
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
    });
    let produced_in = children
        .into_iter()
        .map(|c| c.join().expect("the probe's thread"))
        .max()
        .unwrap_or_default();
    Burst {
        delivered,
        lagged,
        elapsed: last - start,
        produced_in,
    }
}

/// The ring buffer's delivery rate, beside a crossbeam queue and the bare producer.
fn ring_buffer(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    cgroup: &BenchCgroup,
    rx: broadcast::Receiver<ProcessEvent>,
) {
    // From here on: the getppid benches' events are not this bench's.
    let mut rx = rx.resubscribe();
    let mut group = c.benchmark_group("ring_buffer/open_events");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(1));
    let queue = crossbeam_queue::ArrayQueue::new(4096);
    let record = [0u8; size_of::<agentos_ebpf_common::FileEvent>()];
    group.bench_function("crossbeam_array_queue", |b| {
        b.iter(|| {
            let _ = queue.push(std::hint::black_box(record));
            std::hint::black_box(queue.pop())
        })
    });
    group.bench_function("opens_unmanaged", |b| {
        b.iter_custom(|n| {
            child_output(None, &["opens", &n.to_string(), MISSING])
                .join()
                .expect("the probe's thread")
        })
    });
    let mut lost = 0;
    group.bench_function("opens_delivered", |b| {
        b.iter_custom(|n| {
            let got = burst(runtime, &mut rx, cgroup, 1, n);
            lost += n.saturating_sub(got.delivered);
            got.elapsed
        })
    });
    group.finish();
    eprintln!("ring_buffer/open_events/opens_delivered: {lost} events lost over the samples");
    for producers in [1, 2] {
        let mut size = 1024;
        while size <= MAX_BURST {
            let got = burst(runtime, &mut rx, cgroup, producers, size / producers);
            let sent = size / producers * producers;
            let lost = sent.saturating_sub(got.delivered + got.lagged);
            let rate = |d: Duration| got.delivered as f64 / d.as_secs_f64().max(1e-9);
            eprintln!(
                "ring_buffer/first_drop producers={producers} burst={sent}: delivered {} \
                 ({:.0} events/s; produced at {:.0}/s), lost in the ring {lost}, lagged {}",
                got.delivered,
                rate(got.elapsed),
                sent as f64 / got.produced_in.as_secs_f64().max(1e-9),
                got.lagged,
            );
            if lost > 0 {
                break;
            }
            size *= 4;
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
