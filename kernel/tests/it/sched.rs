//! The scheduler measured from outside: CPU-bound programs started through the
//! daemon, their CPU time read from the host's `/proc/PID/stat`, their freezer state
//! read from the host's cgroup files. Nothing here reads the scheduler's own
//! bookkeeping to decide a pass.
//!
//! The two measured hogs are pinned (from the host, as root may) to one CPU so they
//! contend whatever else the machine runs; their split is what the weights decide.
//! Ratios are tolerant: the machine is small and shared.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use agentos_proto::v1::{self as pb, syscall::Call};
use nix::{sched::CpuSet, unistd::Pid};

use crate::util::{Client, Daemon, call, kill_tree, require_root, spawn};

const HOG: &[&str] = &["/bin/sh", "-c", "while :; do :; done"];

pub(crate) fn hog() -> pb::ProcessSpec {
    pb::ProcessSpec {
        argv: HOG.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The pids of `pid` and all its descendants, read from the host's `/proc`.
fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![];
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        out.push(p);
        let tasks = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten();
        for t in tasks.flatten() {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            stack.extend(
                children
                    .split_whitespace()
                    .map(|c| c.parse::<u32>().unwrap()),
            );
        }
    }
    out
}

/// The managed program under the sandbox's init: waits until the init has a child.
pub(crate) async fn program_of(pid: u32) -> Vec<u32> {
    for _ in 0..250 {
        let t = tree(pid);
        if t.len() > 1 {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "process {pid} has no program below it after 5 s: {:?}",
        tree(pid)
    );
}

/// utime + stime of `pids`, in clock ticks, from the host's `/proc/PID/stat`.
pub(crate) fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .unwrap_or_else(|e| panic!("reading /proc/{p}/stat: {e}"));
            // Fields after the command's closing parenthesis; utime and stime are
            // fields 14 and 15 of stat(5), so 12 and 13 here.
            let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
        })
        .sum()
}

/// Pins every pid to CPU `cpu`, from the host.
fn pin(pids: &[u32], cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).unwrap();
    for p in pids {
        nix::sched::sched_setaffinity(Pid::from_raw(*p as i32), &set)
            .unwrap_or_else(|e| panic!("pinning {p} to cpu {cpu}: {e}"));
    }
}

/// The CPU ticks each of `a` and `b` gets over `secs` seconds, after a short settle.
async fn split(a: &[u32], b: &[u32], secs: u64) -> (u64, u64) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a0, b0) = (cpu_ticks(a), cpu_ticks(b));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    (cpu_ticks(a) - a0, cpu_ticks(b) - b0)
}

/// Asserts `hi : lo` lies in `range`, with enough CPU to tell.
fn assert_ratio(what: &str, hi: u64, lo: u64, range: std::ops::RangeInclusive<f64>) {
    let ratio = hi as f64 / lo.max(1) as f64;
    eprintln!("{what}: {hi} vs {lo} ticks, ratio {ratio:.2}");
    assert!(
        hi + lo >= 100,
        "{what}: too little CPU to measure a split ({hi} + {lo} ticks)"
    );
    assert!(
        range.contains(&ratio),
        "{what}: CPU split {hi}:{lo} ticks (ratio {ratio:.2}) is not in {range:?}"
    );
}

async fn set_policy(c: &mut Client, policy: pb::SchedPolicy) {
    call(
        c,
        Call::SetPolicy(pb::SetPolicy {
            policy: policy as i32,
            freeze_minimised: false,
            focus_boost: 0,
        }),
    )
    .await
    .unwrap_or_else(|st| panic!("set_policy {policy:?}: {st:?}"));
}

async fn set_priority(c: &mut Client, pid: u32, priority: i32) {
    call(c, Call::SetPriority(pb::SetPriority { pid, priority }))
        .await
        .unwrap_or_else(|st| panic!("set_priority {pid} {priority}: {st:?}"));
}

async fn focus(c: &mut Client, pid: u32) -> Result<(), tonic::Status> {
    call(
        c,
        Call::SetFocus(pb::SetFocus {
            pid,
            visibility: pb::Visibility::Foreground as i32,
        }),
    )
    .await
    .map(drop)
}

/// The v2 node of a process (identity, freeze), from the host's `/proc/PID/cgroup`.
fn v2_dir(pid: u32) -> PathBuf {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("process {pid} has no v2 cgroup: {cg}"));
    let root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/unified"
    };
    PathBuf::from(format!("{root}{rel}"))
}

/// Whether the host says the process's cgroup is frozen (`cgroup.events`).
fn host_frozen(pid: u32) -> bool {
    let path = v2_dir(pid).join("cgroup.events");
    let events = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match events.lines().find_map(|l| l.strip_prefix("frozen ")) {
        Some("1") => true,
        Some("0") => false,
        other => panic!("{}: frozen is {other:?}", path.display()),
    }
}

/// Priority and fair policies: the host's CPU accounting follows the weights set
/// through the daemon (priority, and focus boost), and moves when focus moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_shares_follow_priority_and_focus_measured_on_the_host() {
    if !require_root("cpu_shares_follow_priority_and_focus_measured_on_the_host") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let a = spawn(&mut c, hog()).await.pid;
    let b = spawn(&mut c, hog()).await.pid;
    let (ta, tb) = (program_of(a).await, program_of(b).await);
    let cpu = std::thread::available_parallelism().unwrap().get() - 1;
    pin(&ta, cpu);
    pin(&tb, cpu);

    // Control: the same priority shares one CPU evenly.
    set_policy(&mut c, pb::SchedPolicy::Fair).await;
    let (x, y) = split(&ta, &tb, 2).await;
    assert_ratio("fair, equal priorities", x, y, 0.6..=1.7);

    // Priority: nice -5 is weight 305 against 100.
    set_policy(&mut c, pb::SchedPolicy::Priority).await;
    set_priority(&mut c, a, -5).await;
    let (x, y) = split(&ta, &tb, 3).await;
    assert_ratio("priority, nice -5 against 0", x, y, 2.0..=4.5);

    // Fair with a lowered one: nice 5 is weight 33 against 100.
    set_policy(&mut c, pb::SchedPolicy::Fair).await;
    set_priority(&mut c, a, 0).await;
    set_priority(&mut c, b, 5).await;
    let (x, y) = split(&ta, &tb, 3).await;
    assert_ratio("fair, nice 0 against 5", x, y, 2.0..=4.5);
    set_priority(&mut c, b, 0).await;

    // Focus: the foreground one gets ×4 (400 against 100)...
    focus(&mut c, a).await.unwrap();
    let (x, y) = split(&ta, &tb, 3).await;
    assert_ratio("focus on a", x, y, 2.5..=6.0);
    // ...and loses it when focus moves.
    focus(&mut c, b).await.unwrap();
    let (x, y) = split(&ta, &tb, 3).await;
    assert_ratio("focus moved to b", y, x, 2.5..=6.0);

    kill_tree(&mut c, a).await;
    kill_tree(&mut c, b).await;
}

/// Round-robin with more hogs than cores: the host shows exactly the waiting ones
/// frozen and getting no CPU, the set rotates on `schedule_next`, and leaving the
/// policy thaws everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_freezes_and_thaws_on_the_host() {
    if !require_root("round_robin_freezes_and_thaws_on_the_host") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let cores = std::thread::available_parallelism().unwrap().get();
    let mut pids = vec![];
    for _ in 0..=cores {
        pids.push(spawn(&mut c, hog()).await.pid);
    }
    let mut trees = vec![];
    for p in &pids {
        trees.push(program_of(*p).await);
    }
    assert!(
        pids.iter().all(|p| !host_frozen(*p)),
        "nothing is frozen before round-robin"
    );
    // A long quantum: only `schedule_next` rotates, so the test sees each step.
    call(
        &mut c,
        Call::SetQuantum(pb::SetQuantum { quantum_ms: 10_000 }),
    )
    .await
    .unwrap();
    set_policy(&mut c, pb::SchedPolicy::RoundRobin).await;
    // The rotation task may still be in a sleep of the old (100 ms) quantum; once
    // that ends, nothing rotates for 10 s.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let frozen = || -> Vec<u32> { pids.iter().copied().filter(|p| host_frozen(*p)).collect() };
    let first = frozen();
    assert_eq!(
        first.len(),
        1,
        "one of {} hogs waits on {cores} cores",
        pids.len()
    );
    // The frozen one gets no CPU; the others do.
    let ticks = |f: &[u32]| -> (u64, u64) {
        let (mut frozen_t, mut running_t) = (0, 0);
        for (p, t) in pids.iter().zip(&trees) {
            if f.contains(p) {
                frozen_t += cpu_ticks(t);
            } else {
                running_t += cpu_ticks(t);
            }
        }
        (frozen_t, running_t)
    };
    let before = ticks(&first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = ticks(&first);
    assert_eq!(after.0, before.0, "a frozen hog used CPU");
    assert!(after.1 - before.1 >= 20, "the running hogs got no CPU");

    call(&mut c, Call::ScheduleNext(pb::ScheduleNext {}))
        .await
        .unwrap();
    let second = frozen();
    assert_eq!(second.len(), 1);
    assert_ne!(first, second, "round-robin rotates who waits");
    // The rotation is in the collector: the one that waited thawed, the next frozen.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let seen = |events: &[pb::CollectedEvent], name: &str, pid: u32| {
        events.iter().any(|e| e.name == name && e.pid == pid)
    };
    loop {
        let events = c
            .query_events(pb::EventQuery {
                categories: vec![pb::EventCategory::Scheduler as i32],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        if seen(&events, "rr_freeze", first[0])
            && seen(&events, "rr_thaw", first[0])
            && seen(&events, "rr_freeze", second[0])
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rr_freeze/rr_thaw of {first:?} and rr_freeze of {second:?} in {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The one that waited runs now.
    let t = &trees[pids.iter().position(|p| *p == first[0]).unwrap()];
    let t0 = cpu_ticks(t);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cpu_ticks(t) > t0, "the thawed hog got no CPU");

    set_policy(&mut c, pb::SchedPolicy::Fair).await;
    assert_eq!(frozen(), Vec::<u32>::new(), "leaving round-robin thaws all");
    for p in pids {
        kill_tree(&mut c, p).await;
    }
}

/// The hierarchy holding a process's CPU weight, and its directory there: the v1
/// `cpu` node on a hybrid host, the v2 node on a unified one.
fn weight_dir(pid: u32) -> (PathBuf, PathBuf) {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in cg.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, rel) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if ctrls.split(',').any(|c| c == "cpu") {
            let root = PathBuf::from(format!("/sys/fs/cgroup/{ctrls}"));
            return (root.clone(), root.join(rel.trim_start_matches('/')));
        }
    }
    let v2 = v2_dir(pid);
    let root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup/unified")
    };
    (root, v2)
}

/// A cgroup the test made; its processes are killed and it is removed on drop.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for _ in 0..250 {
            let procs = std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default();
            if procs.trim().is_empty() && std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            for p in procs.split_whitespace() {
                let _ = nix::sys::signal::kill(
                    Pid::from_raw(p.parse().unwrap()),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("could not remove {}", self.0.display());
    }
}

/// A weight the host refuses to take is the syscall's error and a doctor line, not
/// silence: the process's weight directory is taken away from under the daemon
/// (its processes moved to a test cgroup), then focus is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_weight_write_is_an_error_and_a_doctor_line() {
    if !require_root("a_failed_weight_write_is_an_error_and_a_doctor_line") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let a = spawn(&mut c, hog()).await.pid;
    program_of(a).await;
    let doctor = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let sched = &doctor.subsystems["sched"];
    assert!(sched.available, "{sched:?}");
    assert_eq!(sched.details["failed_control_writes"], "0");
    // Control: focus works while the weight file is there.
    focus(&mut c, a).await.unwrap();

    let (root, dir) = weight_dir(a);
    let test_cg = TestCgroup(root.join(format!("agentos-test-sched-{}", std::process::id())));
    std::fs::create_dir(&test_cg.0).unwrap();
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    for p in procs.split_whitespace() {
        std::fs::write(test_cg.0.join("cgroup.procs"), p).unwrap();
    }
    std::fs::remove_dir(&dir)
        .unwrap_or_else(|e| panic!("removing {} to break the weight: {e}", dir.display()));

    let st = focus(&mut c, a)
        .await
        .expect_err("focus with no weight file");
    assert_eq!(st.code(), tonic::Code::Internal, "{st:?}");
    assert!(st.message().contains(&*dir.to_string_lossy()), "{st:?}");
    let doctor = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let sched = &doctor.subsystems["sched"];
    assert!(!sched.available, "{sched:?}");
    assert_ne!(sched.details["failed_control_writes"], "0", "{sched:?}");
    assert!(sched.reason.contains("failed"), "{sched:?}");
    // The daemon may not be able to kill a group it lost a node of (on a unified
    // host that node is the one it kills by): the guard kills what is left.
    let _ = call(
        &mut c,
        Call::Kill(pb::KillProcess {
            pid: a,
            signal: 0,
            tree: true,
        }),
    )
    .await;
    drop(test_cg);
}

/// The `freeze` syscall (the task manager's freeze/thaw): the host's
/// `cgroup.events` says frozen and the program gets no CPU, whatever the scheduler
/// does meanwhile; thawed, it runs again.
/// Another caller's process may not be frozen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_and_thaw_one_process_on_the_host() {
    if !require_root("freeze_and_thaw_one_process_on_the_host") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let pid = spawn(&mut c, hog()).await.pid;
    let tree = program_of(pid).await;
    assert!(!host_frozen(pid), "not frozen before the call");
    let freeze = |frozen| Call::Freeze(pb::FreezeProcess { pid, frozen });
    call(&mut c, freeze(true)).await.unwrap();
    assert!(host_frozen(pid), "cgroup.events says frozen after freeze");
    // The scheduler's passes (a policy change, a focus change) keep it frozen.
    set_policy(&mut c, pb::SchedPolicy::Fair).await;
    focus(&mut c, pid).await.unwrap();
    assert!(
        host_frozen(pid),
        "still frozen after the scheduler re-applied its policy"
    );
    let t0 = cpu_ticks(&tree);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cpu_ticks(&tree), t0, "a frozen hog gets no CPU");
    call(&mut c, freeze(false)).await.unwrap();
    assert!(!host_frozen(pid), "cgroup.events says thawed after thaw");
    let t1 = cpu_ticks(&tree);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cpu_ticks(&tree) > t1, "a thawed hog runs again");
    let st = call(
        &mut c,
        Call::Freeze(pb::FreezeProcess {
            pid: 999_999_999,
            frozen: true,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), tonic::Code::NotFound, "{st:?}");
    kill_tree(&mut c, pid).await;
}

/// The host's CPU weight of a process: v2 `cpu.weight`, or v1 `cpu.shares` on a hybrid
/// host (which the kernel writes as `weight * 1024 / 100`, so ratios carry over).
fn host_weight(pid: u32) -> u64 {
    let (_, dir) = weight_dir(pid);
    let file = ["cpu.weight", "cpu.shares"]
        .iter()
        .map(|f| dir.join(f))
        .find(|f| f.exists())
        .unwrap_or_else(|| panic!("{} has no CPU weight file", dir.display()));
    std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The focus boost is the desktop's to set: the focused process's weight on the host
/// moves with the boost set through `SetPolicy`, a boost out of range is refused and
/// changes nothing, and 0 keeps the boost as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_focus_boost_set_through_the_daemon_is_the_hosts_weight() {
    if !require_root("the_focus_boost_set_through_the_daemon_is_the_hosts_weight") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let pid = spawn(&mut c, hog()).await.pid;
    let boost = |focus_boost| {
        Call::SetPolicy(pb::SetPolicy {
            policy: pb::SchedPolicy::Fair as i32,
            freeze_minimised: false,
            focus_boost,
        })
    };
    call(&mut c, boost(1)).await.unwrap();
    focus(&mut c, pid).await.unwrap();
    let unboosted = host_weight(pid);
    call(&mut c, boost(8)).await.unwrap();
    assert_eq!(host_weight(pid), unboosted * 8, "boost 8 on the host");
    let st = call(&mut c, boost(17)).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
    assert_eq!(
        host_weight(pid),
        unboosted * 8,
        "a refused boost changes nothing"
    );
    let Ok(pb::syscall_result::Value::Scheduler(state)) = call(&mut c, boost(0)).await else {
        panic!("set_policy answers with the scheduler's state")
    };
    assert_eq!(state.focus_boost, 8, "0 keeps the boost");
    assert_eq!(host_weight(pid), unboosted * 8);
    kill_tree(&mut c, pid).await;
}
