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
            | pb::EventKind::TcpState => {}
            pb::EventKind::Unspecified => panic!("{ev:?}"),
        }
    }
    let (exec, exit) = (exec.unwrap(), exit.unwrap());
    assert_eq!(exec.comm, "sh");
    assert_eq!(exit.exit_status >> 8, 3, "{exit:?}");
    assert_eq!(exec.cgroup_id, exit.cgroup_id);
    assert!(exit.timestamp_ns > exec.timestamp_ns);
}
