//! Signals: delivered to the process, trees killed together, and blocked signals held,
//! released and waited for.

use super::*;

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

/// The task manager's Freeze, measured from outside however the process is held: its
/// cgroup's freezer, or, with no cgroup (rootless, nothing delegated), a stop signal to
/// every process of its tree. Frozen, the hog gets no CPU and stats say frozen;
/// thawed, it runs again. (`sched::freeze_and_thaw_one_process_on_the_host` checks the
/// cgroup's own `cgroup.events` as root.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_stops_the_tree_with_a_cgroup_or_without_one() {
    use crate::sched::{cpu_ticks, hog, program_of};
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let p = spawn(&mut c, hog()).await;
    let tree = program_of(p.pid).await;
    let freeze = |frozen| Call::Freeze(pb::FreezeProcess { pid: p.pid, frozen });
    call(&mut c, freeze(true)).await.unwrap();
    let frozen = stats_of(&mut c, p.pid).await;
    let t0 = cpu_ticks(&tree);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t1 = cpu_ticks(&tree);
    call(&mut c, freeze(false)).await.unwrap();
    let thawed = stats_of(&mut c, p.pid).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t2 = cpu_ticks(&tree);
    kill_tree(&mut c, p.pid).await;
    let how = limits_by(&p);
    assert!(
        frozen.frozen,
        "limits by {how}: stats after freeze {frozen:?}"
    );
    assert_eq!(t1, t0, "limits by {how}: a frozen hog got CPU");
    assert!(
        !thawed.frozen,
        "limits by {how}: stats after thaw {thawed:?}"
    );
    assert!(t2 > t1, "limits by {how}: a thawed hog does not run");
}
