//! Limits that really bite, read from the host: the OOM kill, the private /tmp's size,
//! pids.max against a fork loop, and limits changed on a running process.

use super::*;

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
                assert_eq!(
                    (other, args.get(1).copied()),
                    ("none", Some("portable")),
                    "{p:?}"
                );
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

/// Stats have real figures however the process is limited: its cgroup's charge, or,
/// with no cgroup (rootless, nothing delegated), its process tree's from `/proc`. The
/// shell spins before it forks two sleeps, so CPU, memory and three tasks all show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_have_figures_with_a_cgroup_or_without_one() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let p = spawn(
        &mut c,
        spec(&[
            "/bin/sh",
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; /bin/sleep 30 & /bin/sleep 30 & wait",
        ]),
    )
    .await;
    let mut last = None;
    for _ in 0..200 {
        let st = stats_of(&mut c, p.pid).await;
        let done = st.pids_current >= 3 && st.cpu_usage_usec > 0 && st.memory_current_bytes > 0;
        last = Some(st);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = last.unwrap();
    assert!(
        st.pids_current >= 3 && st.cpu_usage_usec > 0 && st.memory_current_bytes > 0,
        "limits by {}: {st:?}",
        limits_by(&p)
    );
    assert!(st.memory_peak_bytes >= st.memory_current_bytes, "{st:?}");
    kill_tree(&mut c, p.pid).await;
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
        let st = stats_of(&mut c, p.pid).await;
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
