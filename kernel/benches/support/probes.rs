//! What the eBPF probe benches (`probes_*.rs`) share: a v2 cgroup made for the bench
//! ([`BenchCgroup`]), children of `agentos-probe` that time their own loops, started in that
//! cgroup or outside it ([`child_output`]), and the probes loaded on the bench's cgroup
//! ([`LiveProbes`]).
//!
//! They need root, a cgroup v2 hierarchy and the eBPF object (`cargo xtask build-ebpf`);
//! without them [`privileged`] and [`LiveProbes::start`] say why and the bench measures
//! nothing. The cgroup, `agentos-bench-<bench>-<pid>`, is killed and removed on drop.

use std::{
    fs,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _, unix::process::CommandExt as _},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use agentos_kernel::observe::{ManagedCgroups, ProcessEvent, ProcessProbes, STATS_SAMPLE};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};
use tokio::sync::broadcast;

/// The probe program the children run.
pub const PROBE: &str = env!("CARGO_BIN_EXE_agentos-probe");
/// Events the hub's channel holds for a bench before it lags (a lag is counted apart from
/// ring-buffer losses).
const CHANNEL: usize = 1 << 18;
/// Where the v2 hierarchy is mounted on hybrid and on v2-only hosts.
const V2_MOUNTS: [&str; 2] = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"];

/// A v2 cgroup made for the bench, killed and removed on drop.
pub struct BenchCgroup(PathBuf);

impl BenchCgroup {
    fn create(bench: &str) -> Option<Self> {
        let root = V2_MOUNTS.iter().map(PathBuf::from).find(|path| {
            statfs(path.as_path()).is_ok_and(|fs| fs.filesystem_type() == CGROUP2_SUPER_MAGIC)
        })?;
        let dir = root.join(format!("agentos-bench-{bench}-{}", std::process::id()));
        fs::create_dir(&dir).ok()?;
        Some(Self(dir))
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Its id (the inode number of its directory).
    pub fn id(&self) -> u64 {
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

/// The bench's cgroup if the bench can run here; otherwise says why (as `bench`) and
/// returns `None`.
pub fn privileged(bench: &str) -> Option<BenchCgroup> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("{bench} skipped: needs root");
        return None;
    }
    let cgroup = BenchCgroup::create(bench);
    if cgroup.is_none() {
        eprintln!("{bench} skipped: no cgroup v2 hierarchy to make a cgroup in");
    }
    cgroup
}

/// A benchmark group sized for child processes' loops: 20 samples of 3 s.
pub fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group
}

/// Puts the child `cmd` will start into `cgroup` (if given) between fork and exec; the
/// returned `cgroup.procs` handle must outlive the spawn.
pub fn place_in(cmd: &mut Command, cgroup: Option<&Path>) -> Option<fs::File> {
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
pub fn child_output(cgroup: Option<&Path>, args: &[&str]) -> std::thread::JoinHandle<Duration> {
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

/// Runs `agentos-probe args` in a child (in `cgroup` if given) to its end; its own timing.
pub fn child_time(cgroup: Option<&Path>, args: &[&str]) -> Duration {
    child_output(cgroup, args)
        .join()
        .expect("the probe's thread")
}

/// The probes, loaded with nothing managed yet, and their events.
pub struct LiveProbes {
    /// The managed set, holding the probes (dropped before the runtime their reader runs on).
    pub managed: ManagedCgroups,
    pub rx: broadcast::Receiver<ProcessEvent>,
    pub runtime: tokio::runtime::Runtime,
}

impl LiveProbes {
    /// Loads the probes, the wall's connect programs on `cgroup`; `None` (and says why) if
    /// they cannot load here.
    pub fn start(cgroup: &BenchCgroup) -> Option<Self> {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let managed = ManagedCgroups::default();
        let (tx, rx) = broadcast::channel(CHANNEL);
        let probes = {
            let _entered = runtime.enter();
            ProcessProbes::start(tx, managed.owners(), cgroup.path())
        };
        match probes {
            Ok(probes) => {
                managed.set_probes(probes);
                Some(Self {
                    managed,
                    rx,
                    runtime,
                })
            }
            Err(e) => {
                eprintln!("probes skipped: {e}");
                None
            }
        }
    }

    /// Waits until the host's BPF run-time statistics are off again: managing a cgroup
    /// takes a first sample of them, on for `STATS_SAMPLE`, while they time every BPF
    /// program's every run.
    pub fn wait_stats_off(&self) {
        let deadline = Instant::now() + STATS_SAMPLE + Duration::from_secs(5);
        while self.managed.run_time_stats() {
            assert!(
                Instant::now() < deadline,
                "the statistics' sample never ended"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The host's load averages (`/proc/loadavg`'s first three fields), to print beside a
/// bench's figures: on a shared machine they say how busy it was.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|avg| avg.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}
