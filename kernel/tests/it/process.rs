//! Managed processes through the daemon: output and exit, limits that really bite
//! (OOM kill, pids.max), signals, and clean-up after many cycles and after a crash.

use std::time::Duration;

use agentos_proto::v1::{
    self as pb, process_input::Msg as In, process_output::Msg as Out, syscall::Call,
    syscall_result::Value,
};
use tokio_stream::StreamExt;

use crate::util::{
    Daemon, HostPid, THREE_LEVELS, call, cgroup_children, collect, fd_count, kernel_cgroup_dirs,
    kill_tree, mnt_ns, mounts_below, privileged, processes_in_mnt_ns, require_root, spawn,
    wait_for_tree,
};

fn spec(argv: &[&str]) -> pb::ProcessSpec {
    pb::ProcessSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Every rung of the isolation ladder this host has: the strongest (full as root,
/// rootless otherwise), walls only, and the unconfined portable backend.
fn modes() -> Vec<&'static [&'static str]> {
    vec![
        &[],
        &["--sandbox", "walls"],
        &["--sandbox", "portable", "--allow-unconfined"],
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_exit_code_and_state_in_both_backends() {
    for args in modes() {
        let d = Daemon::start(args);
        let mut c = d.client().await;
        let p = spawn(
            &mut c,
            spec(&[
                "/bin/sh",
                "-c",
                "echo out; echo err >&2; read x; echo got:$x; exit 3",
            ]),
        )
        .await;
        assert!(p.pid > 0);
        // Each process names its rung of the ladder.
        let want = match args.get(1) {
            None if privileged() => "full",
            None => "rootless",
            Some(rung) => rung,
        };
        let iso = p.isolation.clone().expect("isolation reported");
        assert_eq!((iso.level.as_str(), p.sandbox.as_str()), (want, want));
        assert_eq!(iso.summary == "full", want == "full", "{iso:?}");
        let Value::Process(info) = call(&mut c, Call::GetInfo(pb::GetProcessInfo { pid: p.pid }))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(info.state, pb::ProcessState::Running as i32, "{args:?}");
        // stdin
        let input = tokio_stream::iter([
            pb::ProcessInput {
                msg: Some(In::Attach(p.pid)),
            },
            pb::ProcessInput {
                msg: Some(In::Stdin(b"hello\n".to_vec())),
            },
        ]);
        let _writer = c.process_io(input).await.unwrap();
        let (out, err, exit) = collect(&mut c, p.pid).await;
        assert_eq!(out, "out\ngot:hello\n", "{args:?}");
        assert_eq!(err, "err\n");
        assert_eq!(exit.code, Some(3));
        assert_eq!(exit.description, "exited with code 3");
        let Value::Process(info) = call(
            &mut c,
            Call::Wait(pb::WaitProcess {
                pid: p.pid,
                timeout_ms: 5000,
            }),
        )
        .await
        .unwrap() else {
            panic!()
        };
        assert_eq!(info.state, pb::ProcessState::Exited as i32);
        let st = call(
            &mut c,
            Call::Kill(pb::KillProcess {
                pid: p.pid,
                signal: 15,
                tree: false,
            }),
        )
        .await
        .unwrap_err();
        assert_eq!(
            st.code(),
            tonic::Code::FailedPrecondition,
            "signalling an exited process"
        );
    }
}

/// The bottom of the ladder: where the kernel can put up no wall, it runs a
/// program only when unconfined execution was asked for, per spawn or per kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_with_no_wall_refuses_to_run_programs_unconfined_unless_asked() {
    let d = Daemon::start(&["--sandbox", "portable"]);
    let mut c = d.client().await;
    let st = c
        .create_process(pb::SpawnProcess {
            spec: Some(spec(&["/bin/true"])),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::FailedPrecondition, "{st:?}");
    assert!(
        st.message().contains("allow_unconfined"),
        "{}",
        st.message()
    );
    let mut s = spec(&["/bin/true"]);
    s.allow_unconfined = true;
    let p = spawn(&mut c, s).await;
    assert!(p.isolation.unwrap().summary.starts_with("unconfined"));
    assert_eq!(collect(&mut c, p.pid).await.2.code, Some(0));
    // A kernel started with --allow-unconfined allows it for every spawn.
    let d = Daemon::start(&["--sandbox", "portable", "--allow-unconfined"]);
    let mut c = d.client().await;
    let p = spawn(&mut c, spec(&["/bin/true"])).await;
    assert_eq!(collect(&mut c, p.pid).await.2.code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_really_oom_kills_and_says_so() {
    // Every rung: the portable one isolates nothing, but its cgroup still limits.
    // Without a cgroup (rootless here) the limit is an address-space rlimit: the
    // allocation fails instead of an OOM kill, and the process says so.
    for args in modes() {
        let d = Daemon::start(args);
        let mut c = d.client().await;
        let mut s = spec(&[
            "/bin/dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=200M",
            "count=1",
        ]);
        s.limits = Some(pb::ResourceLimits {
            memory_max_bytes: 64 << 20,
            ..Default::default()
        });
        let p = spawn(&mut c, s).await;
        let limits = limits_by(&p);
        let (_, err, exit) = collect(&mut c, p.pid).await;
        match limits.as_str() {
            "cgroup" => {
                assert!(exit.oom_killed, "{exit:?}");
                assert_eq!(exit.signal, Some(9));
                assert_eq!(exit.description, "killed: out of memory (limit 64 MiB)");
            }
            "rlimit" => {
                assert!(!privileged(), "root always has its cgroup here");
                assert_eq!(exit.code, Some(1), "{exit:?} {err}");
                assert!(err.contains("memory exhausted"), "{err}");
            }
            other => {
                // The portable backend without a cgroup: nothing limits, and the
                // process says so rather than pretending.
                assert_eq!((other, args), ("none", modes()[2]), "{p:?}");
                continue;
            }
        }
        // Control: the same command with room to spare succeeds.
        let mut s = spec(&[
            "/bin/dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=200M",
            "count=1",
        ]);
        s.limits = Some(pb::ResourceLimits {
            memory_max_bytes: 512 << 20,
            ..Default::default()
        });
        let p = spawn(&mut c, s).await;
        assert_eq!(collect(&mut c, p.pid).await.2.code, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_private_tmp_is_capped_at_its_size() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let fill = |mib: u64, tmp: u64| {
        let mut s = spec(&[
            "/bin/sh",
            "-c",
            &format!("/bin/dd if=/dev/zero of=/tmp/fill bs=1M count={mib} 2>&1; echo rc=$?"),
        ]);
        s.limits = Some(pb::ResourceLimits {
            tmp_max_bytes: tmp,
            ..Default::default()
        });
        s
    };
    // 20 MiB into an 8 MiB /tmp: the write stops at the cap.
    let p = spawn(&mut c, fill(20, 8 << 20)).await;
    assert_eq!(p.limits.as_ref().unwrap().tmp_max_bytes, 8 << 20);
    let (out, _, _) = collect(&mut c, p.pid).await;
    assert!(out.contains("No space left on device"), "{out}");
    assert!(!out.contains("rc=0"), "{out}");
    // Control: the same write into a 32 MiB /tmp succeeds.
    let p = spawn(&mut c, fill(20, 32 << 20)).await;
    let (out, _, _) = collect(&mut c, p.pid).await;
    assert!(out.contains("rc=0"), "{out}");
    // Without a size the default applies, lowered to the memory limit.
    let mut s = spec(&["/bin/true"]);
    s.limits = Some(pb::ResourceLimits {
        memory_max_bytes: 32 << 20,
        ..Default::default()
    });
    let p = spawn(&mut c, s).await;
    assert_eq!(p.limits.as_ref().unwrap().tmp_max_bytes, 32 << 20);
    collect(&mut c, p.pid).await;
    let st = c
        .create_process(pb::SpawnProcess {
            spec: Some(fill(1, 100)),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pids_max_stops_a_fork_loop() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let script = "n=0; for i in 1 2 3 4 5 6 7 8 9 10; do /bin/sleep 2 & n=$((n+1)); done; wait; echo started $n";
    let mut s = spec(&["/bin/sh", "-c", script]);
    s.limits = Some(pb::ResourceLimits {
        pids_max: 4,
        ..Default::default()
    });
    let p = spawn(&mut c, s).await;
    let limits = limits_by(&p);
    let (out, err, exit) = collect(&mut c, p.pid).await;
    if limits == "rlimit" {
        // RLIMIT_NPROC in the sandbox's user namespace: init, the shell and two
        // sleeps, then fork fails (fatal to dash).
        assert!(err.contains("Cannot fork"), "{exit:?} {err}");
        assert!(!out.contains("started 10"), "{out}");
    } else {
        assert_eq!(limits, "cgroup");
        assert!(exit.pids_limit_hit, "{exit:?} {err}");
        assert!(
            exit.description.contains("process limit (4 pids)"),
            "{}",
            exit.description
        );
    }
    // Control: the same loop under a higher limit starts all ten.
    let mut s = spec(&["/bin/sh", "-c", script]);
    s.limits = Some(pb::ResourceLimits {
        pids_max: 32,
        ..Default::default()
    });
    let p = spawn(&mut c, s).await;
    let (out, err, exit) = collect(&mut c, p.pid).await;
    assert_eq!(exit.code, Some(0), "{exit:?} {err}");
    assert!(out.contains("started 10"), "{out}");
}

/// How a spawned process's limits are enforced, as it reports.
fn limits_by(p: &pb::ProcessInfo) -> String {
    p.isolation
        .as_ref()
        .expect("isolation reported")
        .limits
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reach_the_process_and_trees_die_together() {
    for args in modes() {
        signals_reach_the_process_and_trees_die_together_in(args).await;
    }
}

async fn signals_reach_the_process_and_trees_die_together_in(args: &[&str]) {
    let d = Daemon::start(args);
    let mut c = d.client().await;
    let p = spawn(&mut c, spec(&["/bin/sleep", "100"])).await;
    call(
        &mut c,
        Call::Kill(pb::KillProcess {
            pid: p.pid,
            signal: libc::SIGTERM,
            tree: false,
        }),
    )
    .await
    .unwrap();
    let exit = collect(&mut c, p.pid).await.2;
    assert_eq!(exit.signal, Some(libc::SIGTERM), "{exit:?}");
    assert_eq!(exit.description, "killed by SIGTERM");

    let p = spawn(
        &mut c,
        spec(&["/bin/sh", "-c", "/bin/sleep 100 & /bin/sleep 100 & wait"]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill_tree(&mut c, p.pid).await;
    let exit = collect(&mut c, p.pid).await.2;
    assert_eq!(exit.signal, Some(libc::SIGKILL), "{exit:?}");
    let st = call(
        &mut c,
        Call::GetInfo(pb::GetProcessInfo { pid: 999_999_999 }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), tonic::Code::NotFound);
    let st = c
        .create_process(pb::SpawnProcess {
            spec: Some(spec(&["relative/prog"])),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
}

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
        kill_tree(&mut c, p.pid).await;
        call(
            &mut c,
            Call::Wait(pb::WaitProcess {
                pid: p.pid,
                timeout_ms: 10_000,
            }),
        )
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_block_hold_release_and_wait() {
    if !require_root("signals_block_hold_release_and_wait") {
        return;
    }
    for args in modes() {
        signals_block_hold_release_and_wait_in(args).await;
    }
}

async fn signals_block_hold_release_and_wait_in(args: &[&str]) {
    let d = Daemon::start(args);
    let mut c = d.client().await;
    let script = "trap 'echo got-usr1' USR1; echo ready; while :; do /bin/sleep 0.05; done";
    let p = spawn(&mut c, spec(&["/bin/sh", "-c", script])).await;
    let input = tokio_stream::iter([pb::ProcessInput {
        msg: Some(In::Attach(p.pid)),
    }]);
    let mut out = c.process_io(input).await.unwrap().into_inner();
    let mut seen = String::new();
    let mut wait_for = async |needle: &str, seen: &mut String| {
        while !seen.contains(needle) {
            let m = tokio::time::timeout(Duration::from_secs(10), out.next())
                .await
                .expect(needle)
                .unwrap()
                .unwrap();
            if let Some(Out::Output(ch)) = m.msg {
                seen.push_str(&String::from_utf8_lossy(&ch.data));
            }
        }
    };
    wait_for("ready", &mut seen).await;
    // The program (not the sandbox's init) is what the masks describe: sh caught USR1.
    let Value::SignalState(st) = call(
        &mut c,
        Call::GetSignalState(pb::GetSignalState { pid: p.pid }),
    )
    .await
    .unwrap() else {
        panic!()
    };
    assert!(st.caught.contains(&libc::SIGUSR1), "{st:?}");
    // Kernel-level block: the signal is held, not delivered.
    call(
        &mut c,
        Call::BlockSignal(pb::BlockSignal {
            pid: p.pid,
            signal: libc::SIGUSR1,
        }),
    )
    .await
    .unwrap();
    let Value::Flag(delivered) = call(
        &mut c,
        Call::SendSignal(pb::SendSignal {
            pid: p.pid,
            signal: libc::SIGUSR1,
        }),
    )
    .await
    .unwrap() else {
        panic!()
    };
    assert!(!delivered);
    let Value::SignalState(st) = call(
        &mut c,
        Call::GetPending(pb::GetPendingSignals { pid: p.pid }),
    )
    .await
    .unwrap() else {
        panic!()
    };
    assert_eq!(st.kernel_pending, vec![libc::SIGUSR1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!seen.contains("got-usr1"));
    // wait_for_signal sees the release; unblocking delivers what was held.
    let waiter = {
        let mut c = c.clone();
        let pid = p.pid;
        tokio::spawn(async move {
            call(
                &mut c,
                Call::WaitForSignal(pb::WaitForSignal {
                    pid,
                    signals: vec![libc::SIGUSR1],
                    timeout_ms: 10_000,
                }),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    call(
        &mut c,
        Call::UnblockSignal(pb::UnblockSignal {
            pid: p.pid,
            signal: libc::SIGUSR1,
        }),
    )
    .await
    .unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), Value::Signal(libc::SIGUSR1));
    wait_for("got-usr1", &mut seen).await;
    let st = call(
        &mut c,
        Call::BlockSignal(pb::BlockSignal {
            pid: p.pid,
            signal: libc::SIGKILL,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        st.code(),
        tonic::Code::InvalidArgument,
        "SIGKILL cannot be blocked"
    );
    kill_tree(&mut c, p.pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_policies_act_through_weights_and_the_freezer() {
    if !require_root("scheduler_policies_act_through_weights_and_the_freezer") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let cores = std::thread::available_parallelism().unwrap().get();
    let mut pids = vec![];
    for _ in 0..cores + 1 {
        pids.push(
            spawn(&mut c, spec(&["/bin/sh", "-c", "while :; do :; done"]))
                .await
                .pid,
        );
    }
    // Priority: nice -5 is weight 305 (the kernel's ×1.25 per step), boost takes 5 more.
    call(
        &mut c,
        Call::SetPriority(pb::SetPriority {
            pid: pids[0],
            priority: -5,
        }),
    )
    .await
    .unwrap();
    let state = |v: Value| match v {
        Value::Scheduler(s) => s,
        other => panic!("{other:?}"),
    };
    let s = state(
        call(&mut c, Call::SchedulerStats(pb::GetSchedulerStats {}))
            .await
            .unwrap(),
    );
    assert_eq!(
        s.entries.iter().find(|e| e.pid == pids[0]).unwrap().weight,
        305
    );
    call(
        &mut c,
        Call::BoostPriority(pb::BoostPriority { pid: pids[1] }),
    )
    .await
    .unwrap();
    let s = state(
        call(&mut c, Call::SchedulerStats(pb::GetSchedulerStats {}))
            .await
            .unwrap(),
    );
    assert_eq!(
        s.entries.iter().find(|e| e.pid == pids[1]).unwrap().nice,
        -5
    );
    // Focus multiplies the weight.
    call(
        &mut c,
        Call::SetFocus(pb::SetFocus {
            pid: pids[2],
            visibility: pb::Visibility::Foreground as i32,
        }),
    )
    .await
    .unwrap();
    let s = state(
        call(&mut c, Call::SchedulerStats(pb::GetSchedulerStats {}))
            .await
            .unwrap(),
    );
    assert_eq!(
        s.entries.iter().find(|e| e.pid == pids[2]).unwrap().weight,
        400
    );
    // Round-robin with more runners than cores: exactly one is frozen, and it rotates.
    let s = state(
        call(
            &mut c,
            Call::SetPolicy(pb::SetPolicy {
                policy: pb::SchedPolicy::RoundRobin as i32,
                freeze_minimised: false,
                focus_boost: 0,
            }),
        )
        .await
        .unwrap(),
    );
    assert_eq!(s.policy, pb::SchedPolicy::RoundRobin as i32);
    call(&mut c, Call::SetQuantum(pb::SetQuantum { quantum_ms: 50 }))
        .await
        .unwrap();
    let frozen = |s: &pb::SchedulerState| {
        s.entries
            .iter()
            .filter(|e| e.frozen)
            .map(|e| e.pid)
            .collect::<Vec<_>>()
    };
    let first = frozen(&state(
        call(&mut c, Call::ScheduleNext(pb::ScheduleNext {}))
            .await
            .unwrap(),
    ));
    assert_eq!(first.len(), 1, "{first:?}");
    let second = frozen(&state(
        call(&mut c, Call::ScheduleNext(pb::ScheduleNext {}))
            .await
            .unwrap(),
    ));
    assert_eq!(second.len(), 1);
    assert_ne!(first, second, "round-robin rotates who waits");
    let st = call(&mut c, Call::SetQuantum(pb::SetQuantum { quantum_ms: 1 }))
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
    // Back to fair: nobody stays frozen.
    let s = state(
        call(
            &mut c,
            Call::SetPolicy(pb::SetPolicy {
                policy: pb::SchedPolicy::Fair as i32,
                freeze_minimised: false,
                focus_boost: 0,
            }),
        )
        .await
        .unwrap(),
    );
    assert!(frozen(&s).is_empty(), "{s:?}");
    for pid in pids {
        call(
            &mut c,
            Call::Kill(pb::KillProcess {
                pid,
                signal: 0,
                tree: true,
            }),
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_sandbox_stats_and_trigger_gc_act_on_the_cgroup() {
    if !require_root("update_sandbox_stats_and_trigger_gc_act_on_the_cgroup") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let mut s = spec(&[
        "/bin/sh",
        "-c",
        "head -c 30000000 /dev/zero > /tmp/fill; /bin/sleep 30",
    ]);
    s.limits = Some(pb::ResourceLimits {
        memory_max_bytes: 64 << 20,
        ..Default::default()
    });
    let p = spawn(&mut c, s).await;
    let info = c
        .update_sandbox(pb::UpdateSandboxRequest {
            pid: p.pid,
            limits: Some(pb::ResourceLimits {
                memory_max_bytes: 128 << 20,
                pids_max: 16,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let limits = info.limits.unwrap();
    assert_eq!((limits.memory_max_bytes, limits.pids_max), (128 << 20, 16));
    let st = c
        .update_sandbox(pb::UpdateSandboxRequest {
            pid: p.pid,
            limits: Some(pb::ResourceLimits {
                cpu_weight: 20_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
    // The private /tmp is memory charged to the process: stats see it, reclaim runs.
    let mut charged = 0;
    for _ in 0..100 {
        let Value::ProcessStats(st) =
            call(&mut c, Call::GetStats(pb::GetProcessStats { pid: p.pid }))
                .await
                .unwrap()
        else {
            panic!()
        };
        charged = st.memory_current_bytes;
        if charged > 20 << 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        charged > 20 << 20,
        "the 30 MB in /tmp is not charged: {charged}"
    );
    let Value::Count(_) = call(
        &mut c,
        Call::TriggerGc(pb::TriggerGc {
            pid: p.pid,
            bytes: 0,
        }),
    )
    .await
    .unwrap() else {
        panic!()
    };
    let Value::MemoryStats(m) = call(&mut c, Call::MemoryStats(pb::GetMemoryStats {}))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(m.total_bytes > 0 && m.managed_current_bytes > 0, "{m:?}");
    kill_tree(&mut c, p.pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_containing_the_data_directory_is_refused_up_front() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    // The directory above the data directory (as `--read /var/tmp` for a kernel
    // whose data directory lies under /var/tmp), as a read and as a write grant.
    let above = d.dir.path().to_str().unwrap().to_owned();
    for (read, write) in [(vec![above.clone()], vec![]), (vec![], vec![above.clone()])] {
        let err = c
            .create_process(pb::SpawnProcess {
                spec: Some(pb::ProcessSpec {
                    read_paths: read,
                    write_paths: write,
                    ..spec(&["/bin/true"])
                }),
            })
            .await
            .expect_err("a grant over the data directory must be refused");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message()
                .contains("contains the kernel's data directory"),
            "{err:?}"
        );
    }
    // The capability form of the same grant is refused the same way.
    let err = c
        .create_process(pb::SpawnProcess {
            spec: Some(pb::ProcessSpec {
                capabilities: vec![format!("read:{above}")],
                ..spec(&["/bin/true"])
            }),
        })
        .await
        .expect_err("a read: capability over the data directory must be refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    // Control: a directory beside the data directory is granted and the program runs.
    let beside = d.dir.path().join("beside");
    std::fs::create_dir(&beside).unwrap();
    let p = spawn(
        &mut c,
        pb::ProcessSpec {
            read_paths: vec![beside.to_str().unwrap().to_owned()],
            ..spec(&["/bin/true"])
        },
    )
    .await;
    let (_, err, exit) = collect(&mut c, p.pid).await;
    assert_eq!(exit.code, Some(0), "{err}");
}
