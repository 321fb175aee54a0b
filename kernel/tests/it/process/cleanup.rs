//! Clean-up read from the host: after 200 spawn/kill cycles and after the kernel is
//! SIGKILLed, no mount, process, cgroup or fd of AgentOS is left.

use super::*;

/// The kernel's own cgroup: always there as root; rootless only where a cgroup
/// was delegated to the user (not on these hosts), which the doctor says.
fn kernel_cgroup(report: &pb::DoctorReport) -> Option<String> {
    let cg = report.subsystems["cgroups"]
        .details
        .get("kernel_cgroup")
        .cloned();
    assert!(cg.is_some() || !privileged(), "root has a kernel cgroup");
    cg
}

/// Known gap (issue 14): the portable rung has neither a pid namespace nor a
/// cgroup, so what a program forked outlives a tree kill or a SIGKILLed kernel,
/// and no restart can find it. Said out loud; the test kills those processes.
fn kill_known_gap_survivors(trees: &[HostPid], after: &str) {
    let survivors: Vec<_> = trees.iter().filter(|p| p.alive()).copied().collect();
    if !survivors.is_empty() {
        eprintln!("KNOWN GAP: no pid namespace and no cgroup, survivors of {after}: {survivors:?}");
    }
    for p in survivors {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// What a kernel may leave on the host, read from the host: no mount below its
/// data directory in the host's or the daemon's mount table, no process left in a
/// sandbox's mount namespace, and no group left below the kernel's cgroup in any
/// hierarchy (an unreadable one fails).
fn assert_nothing_left(d: &Daemon, kernel_cg: Option<&str>, sandbox_ns: &[u64], trees: &[HostPid]) {
    // A reparented process is killed by the sweep of its cgroup; give that a moment.
    let mut survivors: Vec<_> = trees.iter().filter(|p| p.alive()).collect();
    for _ in 0..100 {
        if survivors.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        survivors = trees.iter().filter(|p| p.alive()).collect();
    }
    assert!(
        survivors.is_empty(),
        "processes of killed trees survive: {survivors:?}"
    );
    let held = processes_in_mnt_ns(sandbox_ns, d.pid());
    assert!(
        held.is_empty(),
        "processes still in a sandbox's mount namespace: {:?}",
        held.iter()
            .map(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
            .collect::<Vec<_>>()
    );
    for who in ["self".to_string(), d.pid().to_string()] {
        let m = mounts_below(&who, d.dir.path());
        assert!(
            m.is_empty(),
            "/proc/{who}/mountinfo holds AgentOS mounts: {m:#?}"
        );
    }
    if let Some(kernel_cg) = kernel_cg {
        for dir in kernel_cgroup_dirs(std::path::Path::new(kernel_cg)) {
            let left = cgroup_children(&dir);
            assert!(
                left.is_empty(),
                "cgroups left in {}: {left:?}",
                dir.display()
            );
        }
    }
}

fn zombies_of(pid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
            let f: Vec<&str> = after.split_whitespace().collect();
            f.first() == Some(&"Z") && f.get(1) == Some(&pid.to_string().as_str())
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_spawn_kill_cycles_leave_nothing_behind() {
    for args in modes() {
        two_hundred_spawn_kill_cycles_leave_nothing_behind_in(args).await;
    }
}

async fn two_hundred_spawn_kill_cycles_leave_nothing_behind_in(args: &[&str]) {
    let d = Daemon::start(args);
    let mut c = d.client().await;
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let kernel_cg = kernel_cgroup(&report);
    // Warm up (first spawn starts threads, rings...), then count.
    let p = spawn(&mut c, spec(&["/bin/true"])).await;
    collect(&mut c, p.pid).await;
    // Let the warm-up's transient fds (its output pipes, its pidfd) close first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fds_before = fd_count(d.pid());
    let (mut trees, mut sandbox_ns) = (vec![], vec![]);
    for i in 0..200 {
        let argv: &[&str] = if i % 10 == 0 {
            THREE_LEVELS
        } else {
            &["/bin/sleep", "30"]
        };
        let p = spawn(&mut c, spec(argv)).await;
        // Every tenth tree is recorded whole (init, sh, sh, three sleeps), pid by pid.
        if i % 10 == 0 {
            trees.extend(wait_for_tree(p.pid).await);
            // As root the test may look into the sandbox's namespaces.
            let ns = mnt_ns(p.pid);
            assert!(
                ns.is_some() || !privileged(),
                "root reads /proc/{}/ns/mnt",
                p.pid
            );
            sandbox_ns.extend(ns.filter(|n| Some(*n) != mnt_ns(d.pid())));
        }
        crate::util::kill_and_reap(&mut c, p.pid).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(trees.len() >= 20 * 5, "{}", trees.len());
    if args.contains(&"portable") {
        kill_known_gap_survivors(&trees, "a tree kill");
    }
    assert_nothing_left(&d, kernel_cg.as_deref(), &sandbox_ns, &trees);
    assert_eq!(zombies_of(d.pid()), 0, "zombies of the daemon");
    // The orchestrator saw every process come and go.
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let procs = &report.subsystems["cleanup"].details["process"];
    assert!(procs.starts_with("live=0 registered=201 "), "{procs}");
    let fds_after = fd_count(d.pid());
    assert_eq!(
        fds_after, fds_before,
        "the daemon's fd count changed over 200 cycles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_processes_die_with_a_sigkilled_kernel() {
    for args in modes() {
        managed_processes_die_with_a_sigkilled_kernel_in(args).await;
    }
}

async fn managed_processes_die_with_a_sigkilled_kernel_in(args: &[&str]) {
    let mut d = Daemon::start(args);
    let mut c = d.client().await;
    let kernel_cg = kernel_cgroup(&c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner());
    // A fresh daemon's fd count, after a doctor call and one spawn; the restarted
    // daemon must come to exactly the same.
    let p = spawn(&mut c, spec(&["/bin/true"])).await;
    call(
        &mut c,
        Call::Wait(pb::WaitProcess {
            pid: p.pid,
            timeout_ms: 10_000,
        }),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fds_fresh = fd_count(d.pid());
    let (mut trees, mut sandbox_ns) = (vec![], vec![]);
    for _ in 0..3 {
        let p = spawn(&mut c, spec(THREE_LEVELS)).await;
        trees.extend(wait_for_tree(p.pid).await);
        let ns = mnt_ns(p.pid);
        assert!(
            ns.is_some() || !privileged(),
            "root reads /proc/{}/ns/mnt",
            p.pid
        );
        sandbox_ns.extend(ns.filter(|n| Some(*n) != mnt_ns(d.pid())));
    }
    // With a pid namespace (full, rootless), the init's death takes the whole tree
    // at once. At the walls rung init sees the kernel go (its status pipe loses its
    // reader) and kills the program's group and, in its signal-scoped landlock
    // domain, everything the program left. The portable rung has no init: the
    // program dies of its parent-death signal, what it forked lives on (the known
    // gap).
    let own_pid_ns = std::fs::read_to_string(format!("/proc/{}/status", trees[0].pid))
        .unwrap()
        .lines()
        .any(|l| l.starts_with("NSpid:") && l.split_whitespace().count() > 2);
    d.kill9();
    let wait_dead = |trees: Vec<HostPid>| async move {
        let mut survivors = vec![];
        for _ in 0..100 {
            survivors = trees.iter().filter(|p| p.alive()).copied().collect();
            if survivors.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        survivors
    };
    if own_pid_ns || args.contains(&"walls") {
        let survivors = wait_dead(trees.clone()).await;
        assert!(
            survivors.is_empty(),
            "{args:?}: processes outlived their kernel: {survivors:?}"
        );
    } else {
        let first: Vec<HostPid> = trees.iter().take(1).copied().collect();
        let survivors = wait_dead(first).await;
        assert!(
            survivors.is_empty(),
            "the program outlived its kernel: {survivors:?}"
        );
    }
    d.spawn();
    // Without a pid namespace, an init or a cgroup (portable), what the program
    // forked outlives a SIGKILLed kernel: the known gap the README states. Count
    // it, then clean up.
    if args.contains(&"portable") {
        kill_known_gap_survivors(&trees, "a SIGKILLed kernel");
    }
    let mut c = d.client().await;
    c.doctor(pb::DoctorRequest {}).await.unwrap();
    let p = spawn(&mut c, spec(&["/bin/true"])).await;
    call(
        &mut c,
        Call::Wait(pb::WaitProcess {
            pid: p.pid,
            timeout_ms: 10_000,
        }),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_nothing_left(&d, kernel_cg.as_deref(), &sandbox_ns, &trees);
    // The restarted daemon swept the dead one's leftovers; it holds no more fds
    // than a fresh daemon at the same point (the exact count is the 200-cycle
    // test's: a daemon's first minutes may open or close one lazily).
    let fds = fd_count(d.pid());
    assert!(
        fds <= fds_fresh,
        "the restarted daemon holds {fds} fds, a fresh one {fds_fresh}"
    );
}
