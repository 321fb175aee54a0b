//! A realistic workload under the probes, `probe_cost/unpack_10k_files`: a child in the
//! bench's cgroup unpacks a 10,000-file tar archive and checksums every file (`tar`, `find`,
//! `sha256sum`), with nothing attached (`no_bpf`, the baseline) and then with every probe
//! watching that cgroup (`probes_managed`; target: the probes cost at most 2 %).
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.

mod support;

use std::{fs, path::Path, process::Command, time::Duration};

use agentos_kernel::observe::{ProgramRunTime, RunTimeStats, Watched};
use criterion::{Criterion, criterion_group, criterion_main};
use support::probes::{LiveProbes, load_average, place_in, privileged};

/// How many files the archive holds.
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
    let Some(cgroup) = privileged("probes-unpack") else {
        return;
    };
    let archive = Archive::make();
    // In the bench's cgroup both times: nothing attached, then every probe watching it.
    let mut group = c.benchmark_group("probe_cost/unpack_10k_files");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("no_bpf", |b| {
        b.iter_custom(|n| archive.unpack_and_checksum(n, Some(cgroup.path())))
    });
    let Some(probes) = LiveProbes::start(&cgroup) else {
        return;
    };
    let _watched = probes.managed.watch(cgroup.id());
    assert!(probes.managed.hot_attached());
    group.bench_function("probes_managed", |b| {
        b.iter_custom(|n| archive.unpack_and_checksum(n, Some(cgroup.path())))
    });
    group.finish();
    kernel_counts(&archive, &probes, &_watched, cgroup.path());
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
