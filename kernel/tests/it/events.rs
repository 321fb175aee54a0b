//! The eBPF probes: a managed process is seen exec'ing and exiting (with its exit
//! code); a process outside the kernel's cgroups is not seen at all.

use std::{process::Command, time::Duration};

use agentos_proto::v1 as pb;
use tokio_stream::StreamExt;

use crate::util::{Daemon, require_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_and_exit_of_a_managed_process_are_reported() {
    if !require_root("exec_and_exit_of_a_managed_process_are_reported") {
        return;
    }
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let mut events = crate::util::watch_live_probes(&mut c).await;
    // Outside the kernel's cgroups: must not be reported.
    let outside = Command::new("/bin/sh")
        .args(["-c", "exit 5"])
        .spawn()
        .unwrap();
    let outside_pid = outside.id();
    let _ = outside.wait_with_output();
    // A managed process: the sandbox's init (the pid CreateProcess returns) runs the
    // program as its child, in the process's own cgroup below the kernel's.
    let spec = pb::ProcessSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), "exit 3".into()],
        ..Default::default()
    };
    let init = c
        .create_process(pb::SpawnProcess { spec: Some(spec) })
        .await
        .unwrap()
        .into_inner()
        .pid;

    let (mut exec, mut exit) = (None, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while exec.is_none() || exit.is_none() {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("exec and exit events within 10 s")
            .unwrap()
            .unwrap();
        assert_ne!(
            ev.pid, outside_pid,
            "a process outside the kernel's cgroup was reported: {ev:?}"
        );
        // The program: init's child, exec'd as /bin/sh.
        if ev.ppid != init || ev.comm != "sh" {
            continue;
        }
        match pb::EventKind::try_from(ev.kind).unwrap() {
            pb::EventKind::Exec => exec = Some(ev),
            pb::EventKind::Exit => exit = Some(ev),
            // The shell's loader opening libraries, and the like.
            pb::EventKind::Fork
            | pb::EventKind::Open
            | pb::EventKind::Connect
            | pb::EventKind::TcpState
            | pb::EventKind::Denial => {}
            pb::EventKind::Unspecified => panic!("{ev:?}"),
        }
    }
    let (exec, exit) = (exec.unwrap(), exit.unwrap());
    assert_eq!(exec.comm, "sh");
    assert_eq!(exit.exit_status >> 8, 3, "{exit:?}");
    assert_eq!(exec.cgroup_id, exit.cgroup_id);
    assert!(exit.timestamp_ns > exec.timestamp_ns);
}

/// The collector: a syscall sent with a causality id, the process it spawns and
/// that process's exit all carry the id, and `QueryEvents` finds the chain by it;
/// `StreamEvents` delivers the same events live, filtered in the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_causality_id_follows_a_syscall_into_the_process_it_spawns() {
    use pb::{event_stream_message::Msg, syscall::Call};
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let mut live = c
        .stream_events(pb::EventQuery {
            causality: 4242,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let spec = pb::ProcessSpec {
        name: "exit-three".into(),
        argv: vec!["/bin/sh".into(), "-c".into(), "exit 3".into()],
        ..Default::default()
    };
    let mut spawn =
        tonic::Request::new(crate::util::req(Call::Spawn(Box::new(pb::SpawnProcess {
            spec: Some(spec),
        }))));
    spawn
        .metadata_mut()
        .insert("x-agentos-causality", "4242".parse().unwrap());
    let resp = c.execute_syscall(spawn).await.unwrap().into_inner();
    let Some(pb::syscall_response::Outcome::Ok(pb::SyscallResult {
        value: Some(pb::syscall_result::Value::Process(p)),
    })) = resp.outcome
    else {
        panic!("spawn failed: {resp:?}")
    };
    // Another call, without the id: must not join the chain.
    crate::util::call(&mut c, Call::Uptime(pb::GetUptime {}))
        .await
        .unwrap();
    crate::util::call(
        &mut c,
        Call::Wait(pb::WaitProcess {
            pid: p.pid,
            timeout_ms: 10_000,
        }),
    )
    .await
    .unwrap();

    // The exit event is emitted by a task that waits for the process: poll for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let chain = loop {
        let list = c
            .query_events(pb::EventQuery {
                causality: 4242,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if list.events.iter().any(|e| e.name == "exit") || tokio::time::Instant::now() > deadline {
            break list.events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cat = |e: &pb::CollectedEvent| pb::EventCategory::try_from(e.category).unwrap();
    let find = |c: pb::EventCategory, name: &str| {
        chain
            .iter()
            .find(|e| cat(e) == c && e.name == name)
            .unwrap_or_else(|| panic!("no {c:?} {name} event in the chain: {chain:#?}"))
    };
    let syscall = find(pb::EventCategory::Syscall, "spawn");
    assert!(
        syscall.value > 0,
        "the syscall's latency is measured: {syscall:?}"
    );
    let spawned = find(pb::EventCategory::Process, "spawn");
    assert_eq!((spawned.pid, spawned.app.as_str()), (p.pid, "exit-three"));
    let exit = find(pb::EventCategory::Process, "exit");
    assert_eq!((exit.pid, exit.code), (p.pid, 3), "{exit:?}");
    assert!(
        chain
            .iter()
            .all(|e| e.causality == 4242 && e.name != "uptime"),
        "only the chain's events: {chain:#?}"
    );
    let by_app = c
        .query_events(pb::EventQuery {
            app: "exit-three".into(),
            categories: vec![pb::EventCategory::Process as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_app.events.len(), 2, "{:#?}", by_app.events);

    // The live stream saw the same chain, in order, and nothing else.
    let mut names = Vec::new();
    while names.len() < chain.len() {
        let m = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await
            .expect("live events within 5 s")
            .unwrap()
            .unwrap();
        match m.msg {
            Some(Msg::Event(e)) => {
                assert_eq!(e.causality, 4242, "{e:?}");
                names.push(e.name);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        names,
        chain.iter().map(|e| e.name.clone()).collect::<Vec<_>>()
    );

    // A bad filter is a typed error.
    let bad = c
        .query_events(pb::EventQuery {
            categories: vec![99],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
}

/// `--metrics`: Prometheus text with the syscall latency histogram of a call just
/// made, the process counters and a running app's cgroup figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_syscall_latency_process_counts_and_app_usage() {
    use pb::syscall::Call;
    let addr = crate::util::free_loopback_addr();
    let d = Daemon::start(&["--metrics", &addr.to_string()]);
    let mut c = d.client().await;
    crate::util::call(&mut c, Call::Uptime(pb::GetUptime {}))
        .await
        .unwrap();
    let p = crate::util::spawn(
        &mut c,
        pb::ProcessSpec {
            name: "sleeper".into(),
            argv: vec!["/bin/sleep".into(), "30".into()],
            ..Default::default()
        },
    )
    .await;
    crate::util::wait_for_tcp(addr).await;
    let get = |path: &'static str| crate::util::http_get(addr, path);
    let text = get("/metrics").await;
    crate::util::kill_tree(&mut c, p.pid).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}.. in:\n{text}"))
            .to_owned()
    };
    let count = line("agentos_syscall_latency_seconds_count{syscall=\"uptime\"}");
    assert!(count.ends_with(" 1"), "{count}");
    assert!(line("agentos_process_spawned_total").ends_with(" 1"));
    let pids = line(&format!(
        "agentos_app_pids{{app=\"sleeper\",pid=\"{}\"}}",
        p.pid
    ));
    let n: f64 = pids.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "the app's cgroup holds its tasks: {pids}");
    assert!(get("/other").await.starts_with("HTTP/1.1 404"));
}

/// A stopping kernel ends its event subscriptions cleanly (the stream finishes, it is
/// not cut), so a client that keeps one open (the services layer does, for denials)
/// neither holds the kernel up nor sees a transport error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_kernel_ends_its_event_streams() {
    let mut d = Daemon::start(&[]);
    let mut c = d.client().await;
    let mut watch = c
        .watch_events(pb::WatchEventsRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut live = c
        .stream_events(pb::EventQuery::default())
        .await
        .unwrap()
        .into_inner();
    let stopping = tokio::task::spawn_blocking(move || d.terminate());
    let end = |what: &str, r: Option<Result<_, tonic::Status>>| {
        assert!(r.is_none(), "{what} did not end cleanly: {r:?}");
    };
    let deadline = Duration::from_secs(20);
    loop {
        match tokio::time::timeout(deadline, watch.next()).await.unwrap() {
            Some(Ok(_)) => continue,
            other => break end("WatchEvents", other.map(|r| r.map(drop))),
        }
    }
    loop {
        match tokio::time::timeout(deadline, live.next()).await.unwrap() {
            Some(Ok(_)) => continue,
            other => break end("StreamEvents", other.map(|r| r.map(drop))),
        }
    }
    assert!(stopping.await.unwrap().success());
}
