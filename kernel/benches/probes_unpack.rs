//! A realistic workload under the probes, `probe_cost/unpack_10k_files`: a child in the
//! bench's cgroup unpacks a 10,000-file tar archive and checksums every file (`tar`, `find`,
//! `sha256sum`), with nothing attached (`no_bpf`, the baseline) and then with every probe
//! watching that cgroup (`probes_managed`; target: the probes cost at most 2 %).
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.

mod support;

use std::{fs, path::Path, process::Command, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use support::probes::{LiveProbes, place_in, privileged};

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
