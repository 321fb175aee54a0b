//! The scheduler's policies acting through the host's CPU weights and freezer.

use super::*;

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
