//! A realistic workload under the probes, `probe_cost/unpack_10k_files`: a child in the
//! bench's cgroup unpacks a 10,000-file tar archive and checksums every file (`tar`, `find`,
//! `sha256sum`), with nothing attached (`no_bpf`, the baseline), with an empty program on
//! `sys_enter` and `sys_exit` (`empty_pair`, the floor of any per-syscall probe), and with
//! every probe watching that cgroup (`probes_managed`, the statistics' first sample ended as in a
//! daemon nobody asks what watching costs; target: at most 2 % over `no_bpf`).
//!
//! Three reports: criterion's (the contenders one after the other); the medians of
//! [`ROUNDS`] alternating rounds, with the load average, steadier on a machine shared with
//! other work; and what the kernel counted per unpack (each program's runs and run time,
//! the syscalls counted, the reader's CPU time), steadier still.
//!
//! # On a tmpfs of its own
//!
//! The archive is unpacked on a tmpfs mounted in a mount namespace of the bench's own (gone
//! with the bench, even if it is killed). On the host's ext4 `/tmp` the same unpack slowed
//! from 0.67 s to 6.15 s over five runs in a row (system time 0.37 s to 5.65 s, in ext4's
//! inode allocator skipping the inodes the previous runs deleted, `recently_deleted`), so
//! whichever contender ran later looked slower; the figures before this change (9.38 s
//! against 9.93 s, +5.8 %) were taken that way. On tmpfs five runs took 0.49-0.61 s. With
//! no disk to wait for, this is also the probes' worst case: every syscall is CPU time.
//!
//! # Figures
//!
//! `cargo bench -p agentos-kernel --bench probes_unpack` (about 165,000 syscalls an unpack,
//! 20,000 of them opens; figures from one run, load average beside them):
//!
//! | measure | before (`AGENTOS_SYS_IN` inserted and deleted each call, `MANAGED` and `COST` looked up apart) | after |
//! |---|---|---|
//! | `agentos_sys_in`, kernel's run time | 439 ns a run | 294 ns |
//! | `agentos_sys_out`, kernel's run time | 530 ns a run | 406 ns |
//! | all programs, per unpack (statistics on) | 203.5 ms | 138.3 ms |
//! | ring-buffer reader, per unpack (unchanged; clock ticks, 10 ms each) | 10-30 ms CPU | 13.3 ms CPU |
//! | criterion: `no_bpf` / `empty_pair` / `probes_managed` | | 674 / 819 / 882 ms |
//! | alternating medians: `no_bpf` / `empty_pair` / `probes_managed` | | 776 / 769 (−0.8 %) / 886 ms (**+14.2 %**) |
//!
//! (After: load average 4.3-4.9, two other engineers compiling on the 2 cores; the kernel's
//! run times counted with the statistics on, which add their own clock reads.) The 2 %
//! target is **not met**, and on this workload it leaves next to nothing above the floor of
//! any probe on `sys_enter` and `sys_exit`: the empty pair adds about 140-160 ns a syscall
//! (`probes_syscall.rs`), 165,000 times an unpack, some 25 ms, about 5 % of a 0.5 s unpack on
//! a quiet machine (computed; the alternating medians, taken under load, put it at −0.8 %
//! and, in an earlier run, +2.0 %: within their noise). What is left
//! above that floor, per managed syscall: five hash lookups (`MANAGED` on entry and exit,
//! `AGENTOS_SYS_IN` on entry and exit, `SYSCALLS` on exit), two clock reads and two cgroup-id
//! reads; `perf` puts the lookups (`htab_map_hash`, `lookup_nulls_elem_raw`) at a quarter of
//! a managed `getppid`.
//!
//! ## On a quiet machine (2026-12-05, 09:25-09:35, load 0.5-1.8)
//!
//! The figures above were taken under load, where the unpack itself took 0.7-0.8 s; alone on
//! the machine it takes 0.38 s, and the same probes cost a larger share of it. Four runs,
//! alternating two builds: `c13db60` (before) and the one where `sys_exit` takes the call's
//! cgroup from its entry instead of reading the cgroup id and looking it up in `MANAGED`
//! again (after; `kernel-ebpf/src/syscalls.rs`):
//!
//! | measure | before (two runs) | after (two runs) |
//! |---|---|---|
//! | `agentos_sys_out`, kernel's run time | 302, 296 ns a run | 268, 247 ns |
//! | `agentos_sys_in`, kernel's run time | 243, 237 ns | 249, 240 ns |
//! | all programs, per unpack (statistics on) | 96.7, 95.1 ms | 92.0, 87.1 ms |
//! | alternating medians: `no_bpf` | 387.5, 377.3 ms | 378.4, 375.6 ms |
//! | `empty_pair` | +5.2, +6.9 % | +7.5, +3.7 % |
//! | `probes_managed` | **+26.0, +31.3 %** | **+30.8, +28.5 %** |
//!
//! The programs' own time fell by about 6 ms an unpack (1.5 % of it), inside the wall-clock
//! medians' noise. On a quiet machine the probes cost this workload about 28 %, the empty
//! pair alone 4-7 %: the 2 % target stays out of reach of any program on `sys_enter` and
//! `sys_exit` here. Per managed syscall what is left is four hash lookups (`MANAGED` and
//! `AGENTOS_SYS_IN` on entry, `AGENTOS_SYS_IN` and `SYSCALLS` on exit), two clock reads, the
//! cgroup id on entry, and the open events' path reads (20,000 an unpack).
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.

mod support;

use std::{fs, path::Path, process::Command, time::Duration};

use agentos_kernel::observe::{FloorPrograms, Hooks, ProgramRunTime, RunTimeStats, Step, Watched};
use criterion::{Criterion, criterion_group, criterion_main};
use nix::{
    mount::{MntFlags, MsFlags, mount, umount2},
    sched::{CloneFlags, unshare},
};
use support::probes::{BenchCgroup, LiveProbes, load_average, place_in, privileged};

/// How many files the archive holds.
const ARCHIVE_FILES: usize = 10_000;
/// Alternating rounds of the three contenders.
const ROUNDS: usize = 5;
/// Unpacks per contender per round.
const RUNS_PER_ROUND: u64 = 3;

/// A tar archive of [`ARCHIVE_FILES`] small files (sizes 1..4 KiB, varied content) in a
/// scratch directory on a tmpfs of the bench's own mount namespace, made once per run.
struct Archive {
    dir: tempfile::TempDir,
}

impl Archive {
    fn make() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("agentos-bench-archive")
            .tempdir()
            .expect("scratch dir");
        private_tmpfs(dir.path());
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

impl Drop for Archive {
    fn drop(&mut self) {
        // Before the temporary directory goes: a mount point cannot be removed.
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}

/// Moves this thread (and the children it starts) into a mount namespace of its own, with no
/// propagation to the host's, and mounts a tmpfs on `dir` there. The namespace, and the
/// tmpfs with it, goes with the last task in it.
fn private_tmpfs(dir: &Path) {
    unshare(CloneFlags::CLONE_NEWNS).expect("unshare a mount namespace");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make the bench's mounts private");
    mount(
        Some("agentos-bench-unpack"),
        dir,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1g"),
    )
    .expect("mount a tmpfs for the archive");
}

fn bench(c: &mut Criterion) {
    let Some(cgroup) = privileged("probes-unpack") else {
        return;
    };
    let archive = Archive::make();
    let unpack = |n| archive.unpack_and_checksum(n, Some(cgroup.path()));
    // In the bench's cgroup each time: nothing attached, the empty pair, every probe.
    let mut group = c.benchmark_group("probe_cost/unpack_10k_files");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("no_bpf", |b| b.iter_custom(unpack));
    if let Some(_floor) = empty_pair(&cgroup) {
        group.bench_function("empty_pair", |b| b.iter_custom(unpack));
    }
    let Some(probes) = watching(&cgroup) else {
        return;
    };
    group.bench_function("probes_managed", |b| b.iter_custom(unpack));
    group.finish();
    kernel_counts(&archive, &probes.probes, &probes.watched, cgroup.path());
    drop(probes);
    alternating(&archive, &cgroup);
}

/// The empty program on `sys_enter` and `sys_exit`; `None` (and says why) if it cannot load.
fn empty_pair(cgroup: &BenchCgroup) -> Option<FloorPrograms> {
    FloorPrograms::attach(Step::Empty, Hooks::EnterExit, cgroup.path())
        .inspect_err(|e| eprintln!("empty_pair skipped: {e}"))
        .ok()
}

/// Every probe loaded and watching a cgroup (the guard first, so it drops first).
struct Watching {
    watched: Watched,
    probes: LiveProbes,
}

/// Every probe loaded and watching `cgroup`, the statistics' first sample ended.
fn watching(cgroup: &BenchCgroup) -> Option<Watching> {
    let probes = LiveProbes::start(cgroup)?;
    let watched = probes.managed.watch(cgroup.id());
    assert!(probes.managed.hot_attached());
    probes.wait_stats_off();
    Some(Watching { watched, probes })
}

/// [`ROUNDS`] rounds of [`RUNS_PER_ROUND`] unpacks by each contender, in an order that
/// rotates each round, then each contender's median unpack and its ratio to `no_bpf`'s.
fn alternating(archive: &Archive, cgroup: &BenchCgroup) {
    const NAMES: [&str; 3] = ["no_bpf", "empty_pair", "probes_managed"];
    let mut times: [Vec<Duration>; 3] = Default::default();
    let loads_before = load_average();
    for round in 0..ROUNDS {
        for k in 0..NAMES.len() {
            let contender = (round + k) % NAMES.len();
            // Set up (and, for the probes, wait out the statistics' first sample) untimed.
            let floor = (contender == 1).then(|| empty_pair(cgroup));
            let probes = (contender == 2).then(|| watching(cgroup));
            if matches!(floor, Some(None)) || matches!(probes, Some(None)) {
                return;
            }
            let time = archive.unpack_and_checksum(RUNS_PER_ROUND, Some(cgroup.path()));
            times[contender].push(time / RUNS_PER_ROUND as u32);
            drop((floor, probes));
        }
    }
    let medians = times.map(|mut t| {
        t.sort();
        t[t.len() / 2]
    });
    println!(
        "probe_cost/unpack_10k_files alternating medians ({ROUNDS} rounds x {RUNS_PER_ROUND} unpacks; load {loads_before} before, {} after):",
        load_average()
    );
    for (name, median) in NAMES.iter().zip(medians) {
        println!(
            "  {name:<15} {:>7.1} ms  {:+.1} %",
            median.as_secs_f64() * 1e3,
            (median.as_secs_f64() / medians[0].as_secs_f64() - 1.0) * 100.0
        );
    }
}

/// Unpacks this many times for [`kernel_counts`].
const COUNTED_RUNS: u64 = 3;

/// What the kernel counted while the workload ran under the probes, per unpack: each
/// program's runs and run time (BPF run-time statistics on for the whole pass), the syscalls
/// the probes counted, and the CPU time of this process (the ring-buffer reader; the
/// workload runs in children), beside the load average. Steadier than wall time on a
/// shared machine.
fn kernel_counts(archive: &Archive, probes: &LiveProbes, watched: &Watched, cgroup: &Path) {
    let stats = match RunTimeStats::on() {
        Ok(stats) => stats,
        Err(e) => {
            eprintln!("kernel counts skipped: {e}");
            return;
        }
    };
    let syscalls = || {
        watched
            .figures()
            .map(|f| f.syscalls.values().map(|s| s.count).sum::<u64>())
            .unwrap_or(0)
    };
    let before = (probes.managed.run_times(), syscalls(), reader_cpu());
    let wall = archive.unpack_and_checksum(COUNTED_RUNS, Some(cgroup));
    let after = (probes.managed.run_times(), syscalls(), reader_cpu());
    drop(stats);
    let per_run = |n: u64| n / COUNTED_RUNS;
    println!(
        "probe_cost/unpack_10k_files kernel counts, per unpack ({COUNTED_RUNS} runs, load {}):",
        load_average()
    );
    let mut total_ns = 0;
    for now in &after.0 {
        let was = before
            .0
            .iter()
            .find(|p| p.program == now.program)
            .copied()
            .unwrap_or(ProgramRunTime {
                program: now.program,
                run_time_ns: 0,
                runs: 0,
            });
        let (ns, runs) = (now.run_time_ns - was.run_time_ns, now.runs - was.runs);
        if runs == 0 {
            continue;
        }
        total_ns += ns;
        println!(
            "  {:<18} {:>9} runs {:>6} ns/run {:>8.1} ms",
            now.program,
            per_run(runs),
            ns / runs,
            per_run(ns) as f64 / 1e6
        );
    }
    println!(
        "  programs {:.1} ms; reader (tokio threads) {:.1} ms CPU; {} syscalls counted; wall {:.2} s",
        per_run(total_ns) as f64 / 1e6,
        per_run((after.2 - before.2).as_nanos() as u64) as f64 / 1e6,
        per_run(after.1 - before.1),
        wall.as_secs_f64() / COUNTED_RUNS as f64
    );
}

/// The CPU time (user + system) of this process's tokio threads, where the ring-buffer
/// reader runs (the workload runs in children, and the main thread only waits for them).
fn reader_cpu() -> Duration {
    // SAFETY: no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut total = 0;
    for task in fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let Ok(stat) = fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: utime and stime are fields 14 and 15, the 12th and 13th
        // after the `)` that closes the name.
        let Some((name, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !name.contains("tokio") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        for field in fields.get(11..13).unwrap_or_default() {
            total += field.parse::<u64>().unwrap_or(0);
        }
    }
    Duration::from_nanos(total * 1_000_000_000 / ticks)
}

criterion_group!(benches, bench);
criterion_main!(benches);
