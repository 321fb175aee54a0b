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

mod cleanup;
mod limits;
mod rootless_net;
mod scheduler;
mod signals;

fn spec(argv: &[&str]) -> pb::ProcessSpec {
    pb::ProcessSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Every rung of the isolation ladder this host has: the strongest (full as root,
/// rootless otherwise), walls only, and the unconfined portable backend — twice: with
/// its pidfd, and supervised as on macOS (`waitpid`, `kill` before the reap; a pidfd
/// only watching in kqueue's place), so this suite runs the macOS code path.
fn modes() -> Vec<&'static [&'static str]> {
    vec![
        &[],
        &["--sandbox", "walls"],
        &["--sandbox", "portable", "--allow-unconfined"],
        PLAIN,
    ]
}

/// The portable rung supervised as on macOS.
const PLAIN: &[&str] = &[
    "--sandbox",
    "portable",
    "--allow-unconfined",
    "--test-plain-children",
];

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
        // The doctor says how the kernel supervises what it spawns.
        let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
        let supervision = &report.subsystems["sandbox"].details["supervision"];
        assert!(supervision.starts_with("pidfd"), "{supervision}");
        assert_eq!(
            supervision.contains("waitpid"),
            args == PLAIN,
            "{args:?}: {supervision}"
        );
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

/// How a spawned process's limits are enforced, as it reports.
/// The kernel's accounting of `pid` (`GetStats`).
async fn stats_of(c: &mut agentos_client::Client, pid: u32) -> pb::ProcessStats {
    match call(c, Call::GetStats(pb::GetProcessStats { pid })).await {
        Ok(Value::ProcessStats(st)) => st,
        other => panic!("GetStats({pid}): {other:?}"),
    }
}

fn limits_by(p: &pb::ProcessInfo) -> String {
    p.isolation
        .as_ref()
        .expect("isolation reported")
        .limits
        .clone()
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
