//! cgroups on the real host, checked from outside: each test makes a `KernelCgroup` for a
//! temporary data directory (`agentos-test-cgroups-*`, its `kernel.lock` held, so other
//! kernels' sweeps leave it alone), puts forked children in a `ProcessCgroup`, and
//! watches what the kernel does to them. The kernel cgroup is removed on drop, also when
//! a test panics; children are SIGKILLed and reaped by their guards.
//!
//! The children run only async-signal-safe code after `fork` (raw syscalls, no
//! allocation): the test binary has many threads.

use std::{
    ffi::CString,
    fs::File,
    os::fd::{AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use agentos_kernel::cgroup::{
    CgroupLayout, CgroupManager, CpuMax, KernelCgroup, Limits, ProcessCgroup, sweep_orphans_in,
};
use nix::{
    fcntl::{Flock, FlockArg},
    sched::CpuSet,
    sys::{
        signal::{Signal, kill},
        wait::{WaitStatus, waitpid},
    },
    unistd::{ForkResult, Pid, fork, pipe},
};

use crate::util::require_root;

const MIB: u64 = 1 << 20;
/// `CLONE_INTO_CGROUP` (Linux 5.7); libc's constant has the wrong width.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A kernel cgroup for a temporary data directory, with its lock held; removed on drop.
struct Fixture {
    // Field order is drop order: the cgroups go before the lock is released.
    manager: CgroupManager,
    kernel: Option<KernelCgroup>,
    lock: Option<Flock<File>>,
    layout: CgroupLayout,
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn new(test: &str) -> Self {
        let layout = CgroupLayout::detect(Path::new("/sys/fs/cgroup"));
        assert!(
            layout.v2_root().is_some(),
            "{test}: no cgroup v2 tree on this host ({layout:?})"
        );
        let tmp = tempfile::Builder::new()
            .prefix(&format!("agentos-test-cgroups-{test}-"))
            .tempdir()
            .expect("tempdir");
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let lock = File::create(data.join("kernel.lock")).unwrap();
        let lock = Flock::lock(lock, FlockArg::LockExclusiveNonblock).expect("lock the data dir");
        let kernel = KernelCgroup::create_in(&layout, &data).expect("create the kernel cgroup");
        let manager = CgroupManager::new(&layout, &kernel);
        let report = manager.report();
        assert!(report.available, "{test}: {report:?}");
        Self {
            manager,
            kernel: Some(kernel),
            lock: Some(lock),
            layout,
            tmp,
        }
    }

    fn group(&self, name: &str, limits: Limits) -> ProcessCgroup {
        self.manager
            .create(name, &limits)
            .unwrap_or_else(|e| panic!("creating group {name}: {e}"))
    }

    /// Every directory the kernel cgroup made (v2 and v1).
    fn kernel_dirs(&self) -> Vec<PathBuf> {
        let k = self.kernel.as_ref().unwrap();
        std::iter::once(k.path().to_owned())
            .chain(k.v1_dirs().iter().cloned())
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.kernel.take());
        drop(self.lock.take());
    }
}

/// A forked child that waits for [`Child::start`] before running its workload; SIGKILLed
/// and reaped on drop.
struct Child {
    pid: Pid,
    go: Option<OwnedFd>,
    reaped: bool,
}

impl Child {
    /// Forks; the child blocks until started, then runs `work` (async-signal-safe only).
    fn spawn(work: fn() -> !) -> Self {
        let (rx, tx) = pipe().unwrap();
        // SAFETY: the child only calls read(2) and then `work`, which is restricted to
        // async-signal-safe calls, and never returns.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let mut b = 0u8;
                // SAFETY: a valid fd and a one-byte buffer.
                unsafe { libc::read(rx.as_raw_fd(), (&raw mut b).cast(), 1) };
                work()
            }
            ForkResult::Parent { child } => Self {
                pid: child,
                go: Some(tx),
                reaped: false,
            },
        }
    }

    fn start(&mut self) {
        let tx = self.go.take().expect("started once");
        nix::unistd::write(&tx, b"g").unwrap();
    }

    fn raw(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Waits for the child to end, at most `limit`.
    fn wait(&mut self, limit: Duration) -> WaitStatus {
        let deadline = Instant::now() + limit;
        loop {
            match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::StillAlive => {
                    assert!(
                        Instant::now() < deadline,
                        "child {} still running",
                        self.pid
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                s => {
                    self.reaped = true;
                    return s;
                }
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { libc::_exit(code) }
}

fn pause_forever() -> ! {
    loop {
        // SAFETY: pause(2) has no preconditions.
        unsafe { libc::pause() };
    }
}

fn spin() -> ! {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Maps 200 MiB and touches every page.
fn hog() -> ! {
    let len = 200 * MIB as usize;
    // SAFETY: a fresh private anonymous mapping; every write is inside it.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            exit(2);
        }
        let p = p.cast::<u8>();
        for off in (0..len).step_by(4096) {
            std::ptr::write_volatile(p.add(off), 1);
        }
    }
    exit(0)
}

/// Forks ten children that pause, then pauses.
fn forker() -> ! {
    for _ in 0..10 {
        // SAFETY: the children only pause.
        if unsafe { libc::fork() } == 0 {
            pause_forever();
        }
    }
    pause_forever()
}

/// Three children, each with a grandchild, all pausing: seven processes.
fn tree() -> ! {
    for _ in 0..3 {
        // SAFETY: the children only fork and pause.
        if unsafe { libc::fork() } == 0 {
            // SAFETY: as above.
            unsafe { libc::fork() };
            pause_forever();
        }
    }
    pause_forever()
}

/// Polls `f` until it is true or `limit` passes.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn memory_max_oom_kills_and_says_so() {
    if !require_root("memory_max_oom_kills_and_says_so") {
        return;
    }
    let fx = Fixture::new("oom");
    let g = fx.group(
        "oom",
        Limits {
            memory_max: Some(64 * MIB),
            ..Default::default()
        },
    );
    let mut c = Child::spawn(hog);
    g.add_pid(c.raw()).unwrap();
    assert!(!g.oom_killed());
    c.start();
    let status = c.wait(Duration::from_secs(20));
    assert_eq!(
        status,
        WaitStatus::Signaled(c.pid, Signal::SIGKILL, false),
        "a 200 MiB allocation under a 64 MiB limit is OOM-killed"
    );
    assert!(g.oom_killed(), "oom_killed() reports the kill");
    let s = g.stats().unwrap();
    eprintln!(
        "oom: peak {} KiB, oom_kills {}",
        s.memory_peak / 1024,
        s.oom_kills
    );
    assert!(s.oom_kills >= 1);
    assert!(
        s.memory_peak <= 64 * MIB && s.memory_peak > 32 * MIB,
        "peak {} within the limit",
        s.memory_peak
    );
}

#[test]
fn pids_max_stops_a_fork_loop() {
    if !require_root("pids_max_stops_a_fork_loop") {
        return;
    }
    let fx = Fixture::new("pids");
    let g = fx.group(
        "pids",
        Limits {
            pids_max: Some(5),
            ..Default::default()
        },
    );
    let mut c = Child::spawn(forker);
    g.add_pid(c.raw()).unwrap();
    assert!(!g.pids_max_hit());
    c.start();
    assert!(
        eventually(Duration::from_secs(10), || g.pids_max_hit()),
        "pids.events counts refused forks"
    );
    assert!(eventually(Duration::from_secs(5), || g
        .procs()
        .unwrap()
        .len()
        == 5));
    let s = g.stats().unwrap();
    eprintln!(
        "pids: current {}, refused forks {}",
        s.pids_current, s.pids_max_events
    );
    assert_eq!(s.pids_current, 5, "the forker and four children, no more");
    assert!(s.pids_max_events >= 1);
    g.kill().unwrap();
    assert_eq!(
        c.wait(Duration::from_secs(5)),
        WaitStatus::Signaled(c.pid, Signal::SIGKILL, false)
    );
}

#[test]
fn freeze_stops_cpu_accounting_and_thaw_resumes_it() {
    if !require_root("freeze_stops_cpu_accounting_and_thaw_resumes_it") {
        return;
    }
    let fx = Fixture::new("freeze");
    let g = fx.group("freeze", Limits::default());
    let mut c = Child::spawn(spin);
    g.add_pid(c.raw()).unwrap();
    c.start();
    std::thread::sleep(Duration::from_millis(300));
    let usage = || g.stats().unwrap().cpu_usage_usec;

    let t = Instant::now();
    g.freeze(true).unwrap();
    let freeze_took = t.elapsed();
    assert!(g.stats().unwrap().frozen);
    let frozen_at = usage();
    std::thread::sleep(Duration::from_millis(500));
    let frozen_delta = usage() - frozen_at;

    let t = Instant::now();
    g.freeze(false).unwrap();
    let thaw_took = t.elapsed();
    assert!(!g.stats().unwrap().frozen);
    let thawed_at = usage();
    std::thread::sleep(Duration::from_millis(500));
    let thawed_delta = usage() - thawed_at;
    eprintln!(
        "freeze: took {freeze_took:?}, +{frozen_delta} µs CPU in 500 ms frozen; thaw took {thaw_took:?}, +{thawed_delta} µs in 500 ms thawed"
    );
    assert!(
        frozen_delta < 5_000,
        "a frozen busy loop uses no CPU ({frozen_delta} µs)"
    );
    assert!(
        thawed_delta > 100_000,
        "a thawed busy loop runs again ({thawed_delta} µs)"
    );
}

#[test]
fn kill_kills_the_whole_tree() {
    if !require_root("kill_kills_the_whole_tree") {
        return;
    }
    let fx = Fixture::new("kill");
    let g = fx.group("tree", Limits::default());
    let mut c = Child::spawn(tree);
    g.add_pid(c.raw()).unwrap();
    c.start();
    assert!(
        eventually(Duration::from_secs(5), || g.procs().unwrap().len() == 7),
        "seven processes: {:?}",
        g.procs()
    );
    let pids = g.procs().unwrap();
    let t = Instant::now();
    g.kill().unwrap();
    eprintln!("kill: 7 processes gone in {:?}", t.elapsed());
    assert_eq!(g.procs().unwrap(), Vec::<i32>::new());
    assert_eq!(
        c.wait(Duration::from_secs(5)),
        WaitStatus::Signaled(c.pid, Signal::SIGKILL, false)
    );
    // The grandchildren were reparented; none of them lives on.
    for pid in pids.into_iter().filter(|p| *p != c.raw()) {
        let alive = eventually(Duration::from_secs(2), || {
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
        assert!(alive, "pid {pid} survived the kill");
    }
}

#[test]
fn cpu_weights_share_one_core_in_proportion() {
    if !require_root("cpu_weights_share_one_core_in_proportion") {
        return;
    }
    let fx = Fixture::new("weights");
    let light = fx.group(
        "w100",
        Limits {
            cpu_weight: Some(100),
            ..Default::default()
        },
    );
    let heavy = fx.group(
        "w300",
        Limits {
            cpu_weight: Some(300),
            ..Default::default()
        },
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut one_core = CpuSet::new();
    one_core.set(cores - 1).unwrap();
    let mut a = Child::spawn(spin);
    let mut b = Child::spawn(spin);
    for (c, g) in [(&a, &light), (&b, &heavy)] {
        nix::sched::sched_setaffinity(c.pid, &one_core).unwrap();
        g.add_pid(c.raw()).unwrap();
    }
    a.start();
    b.start();
    std::thread::sleep(Duration::from_millis(500));
    let (l0, h0) = (
        light.stats().unwrap().cpu_usage_usec,
        heavy.stats().unwrap().cpu_usage_usec,
    );
    std::thread::sleep(Duration::from_secs(3));
    let (l1, h1) = (
        light.stats().unwrap().cpu_usage_usec,
        heavy.stats().unwrap().cpu_usage_usec,
    );
    let (l, h) = (l1 - l0, h1 - h0);
    let ratio = h as f64 / l as f64;
    eprintln!(
        "weights 100:300 on cpu {}: {} ms vs {} ms in 3 s, ratio {ratio:.2}",
        cores - 1,
        l / 1000,
        h / 1000
    );
    assert!(
        (2.0..=4.5).contains(&ratio),
        "CPU split {l} µs : {h} µs (ratio {ratio:.2}) is not roughly 1:3"
    );
    // Other tests may spin on the same core: the split between these two still holds,
    // but only enough CPU to measure it is required.
    assert!(
        l + h > 500_000,
        "too little CPU to measure a split ({l} + {h} µs)"
    );
}

#[test]
fn cpu_max_caps_a_busy_loop() {
    if !require_root("cpu_max_caps_a_busy_loop") {
        return;
    }
    let fx = Fixture::new("cpumax");
    let g = fx.group(
        "capped",
        Limits {
            cpu_max: Some(CpuMax {
                quota_us: 20_000,
                period_us: 100_000,
            }),
            ..Default::default()
        },
    );
    let mut c = Child::spawn(spin);
    g.add_pid(c.raw()).unwrap();
    c.start();
    std::thread::sleep(Duration::from_millis(200));
    let u0 = g.stats().unwrap().cpu_usage_usec;
    std::thread::sleep(Duration::from_secs(1));
    let capped = g.stats().unwrap().cpu_usage_usec - u0;
    // Lifting the cap lets it run.
    g.apply(&Limits {
        cpu_max: Some(CpuMax::UNLIMITED),
        ..Default::default()
    })
    .unwrap();
    let u0 = g.stats().unwrap().cpu_usage_usec;
    std::thread::sleep(Duration::from_secs(1));
    let uncapped = g.stats().unwrap().cpu_usage_usec - u0;
    eprintln!(
        "cpu.max 20%: {} ms of CPU in 1 s; uncapped: {} ms",
        capped / 1000,
        uncapped / 1000
    );
    // The cap is a ceiling (other tests may take the core too, so no floor beyond
    // "it ran").
    assert!(
        (20_000..=260_000).contains(&capped),
        "a 20% cap gives at most about 200 ms per second, not {capped} µs"
    );
    assert!(
        uncapped > capped * 3 / 2,
        "uncapped ({uncapped} µs) runs more than capped ({capped} µs)"
    );
}

#[test]
fn reclaim_frees_the_page_cache_of_a_group() {
    if !require_root("reclaim_frees_the_page_cache_of_a_group") {
        return;
    }
    let fx = Fixture::new("reclaim");
    let g = fx.group("gc", Limits::default());
    // The child writes 64 MiB to a file (page cache charged to the group), syncs it so
    // the pages are clean and reclaimable, and waits.
    let path = fx.tmp.path().join("cache");
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    // Stored where the forked child can read it without allocating.
    PATH.set(cpath).unwrap();
    fn writer() -> ! {
        let path = PATH.get().unwrap();
        let buf = [7u8; 65536];
        // SAFETY: open/write/fsync with a valid C string and buffer.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
            if fd < 0 {
                exit(2);
            }
            for _ in 0..1024 {
                if libc::write(fd, buf.as_ptr().cast(), buf.len()) != buf.len() as isize {
                    exit(3);
                }
            }
            libc::fsync(fd);
        }
        pause_forever()
    }
    static PATH: std::sync::OnceLock<CString> = std::sync::OnceLock::new();
    let mut c = Child::spawn(writer);
    g.add_pid(c.raw()).unwrap();
    c.start();
    assert!(
        eventually(Duration::from_secs(20), || g.stats().unwrap().memory_file
            >= 48 * MIB),
        "page cache charged: {:?}",
        g.stats()
    );
    std::thread::sleep(Duration::from_millis(200));
    let before = g.stats().unwrap();
    let freed = g.reclaim(None).unwrap();
    let after = g.stats().unwrap();
    eprintln!(
        "reclaim: charge {} -> {} KiB (file {} -> {} KiB), reported {} KiB freed; child alive: {}",
        before.memory_current / 1024,
        after.memory_current / 1024,
        before.memory_file / 1024,
        after.memory_file / 1024,
        freed / 1024,
        g.procs().unwrap().contains(&c.raw())
    );
    assert!(freed >= 32 * MIB, "freed {freed} bytes");
    assert!(after.memory_file < before.memory_file / 2);
    assert!(
        g.procs().unwrap().contains(&c.raw()),
        "reclaim does not kill"
    );
}

#[test]
fn clone3_places_a_child_in_the_group_by_fd() {
    if !require_root("clone3_places_a_child_in_the_group_by_fd") {
        return;
    }
    let fx = Fixture::new("clone3");
    let g = fx.group("clone3", Limits::default());
    // SAFETY: clone_args is plain old data; all-zero is a valid start.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = libc::SIGCHLD as u64;
    args.cgroup = g.v2_dir().expect("a v2 node").as_raw_fd() as u64;
    // SAFETY: clone3 without CLONE_VM is a fork; the child only pauses.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw const args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    assert!(rc >= 0, "clone3: {}", std::io::Error::last_os_error());
    if rc == 0 {
        pause_forever();
    }
    let pid = rc as i32;
    let c = Child {
        pid: Pid::from_raw(pid),
        go: None,
        reaped: false,
    };
    assert_eq!(g.procs().unwrap(), vec![pid], "placed by clone3");
    g.add_pid(pid).unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let member = cgroups.lines().filter(|l| l.ends_with("/clone3")).count();
    eprintln!("clone3: /proc/{pid}/cgroup:\n{cgroups}");
    assert_eq!(
        member,
        1 + g.v1_dirs().len(),
        "in the v2 node and every v1 node"
    );
    let id = std::fs::metadata(g.path()).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    assert_eq!(id.unwrap(), g.id());
    drop(c);
}

#[test]
fn nothing_is_left_after_drop_or_after_a_crash() {
    if !require_root("nothing_is_left_after_drop_or_after_a_crash") {
        return;
    }
    let mut fx = Fixture::new("drop");
    let kernel_dirs = fx.kernel_dirs();
    let report = fx.manager.report();
    eprintln!("doctor: {report:?}");
    if matches!(fx.layout, CgroupLayout::Hybrid { .. }) {
        assert!(
            !fx.kernel.as_ref().unwrap().v1_dirs().is_empty(),
            "a hybrid host gets v1 directories"
        );
        assert_eq!(report.backend, "hybrid");
    }
    for c in ["memory", "cpu", "pids"] {
        assert!(
            !report.details[c].starts_with("unavailable"),
            "{c}: {}",
            report.details[c]
        );
    }
    let g = fx.group(
        "gone",
        Limits {
            memory_max: Some(32 * MIB),
            pids_max: Some(10),
            ..Default::default()
        },
    );
    let mut c = Child::spawn(pause_forever);
    g.add_pid(c.raw()).unwrap();
    c.start();
    let group_dirs: Vec<PathBuf> = std::iter::once(g.path().to_owned())
        .chain(g.v1_dirs().iter().cloned())
        .collect();
    assert!(group_dirs.iter().all(|d| d.is_dir()));
    drop(g);
    assert_eq!(
        c.wait(Duration::from_secs(5)),
        WaitStatus::Signaled(c.pid, Signal::SIGKILL, false),
        "dropping the group kills its processes"
    );
    for d in &group_dirs {
        assert!(!d.exists(), "{} removed with its group", d.display());
    }
    let _live = fx.group("live", Limits::default());
    let _ = fx.kernel.take();
    for d in &kernel_dirs {
        assert!(
            !d.exists(),
            "{} removed with the kernel cgroup",
            d.display()
        );
    }

    // A crash: the kernel cgroup is never dropped and the lock goes away. The next
    // kernel's sweep removes every directory, v1 and v2.
    let data = fx.tmp.path().join("data");
    let crashed = KernelCgroup::create_in(&fx.layout, &data).unwrap();
    let crashed_dirs: Vec<PathBuf> = std::iter::once(crashed.path().to_owned())
        .chain(crashed.v1_dirs().iter().cloned())
        .collect();
    let orphan = CgroupManager::new(&fx.layout, &crashed)
        .create("orphan", &Limits::default())
        .unwrap();
    std::mem::forget(orphan);
    std::mem::forget(crashed);
    let kept = sweep_orphans_in(&fx.layout);
    assert!(
        crashed_dirs.iter().all(|d| d.exists()),
        "a live kernel's cgroups are kept: swept {kept:?}"
    );
    drop(fx.lock.take());
    let swept = sweep_orphans_in(&fx.layout);
    eprintln!("sweep after a crash removed {swept:?}");
    for d in &crashed_dirs {
        // Another test's kernel may have swept it first; either way it is gone.
        assert!(!d.exists(), "{} swept", d.display());
    }
}
