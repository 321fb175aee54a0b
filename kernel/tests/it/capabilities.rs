//! A managed process's own kernel socket: identity comes from the socket, and every
//! syscall on it is checked against the process's capabilities, with the same
//! grants that built its mounts.

use std::time::Duration;

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};
use tonic::Code;

use crate::util::{Daemon, call, error_of, kill_tree, read, require_root, write};

/// The one process socket under the data dir.
fn process_socket(d: &Daemon) -> std::path::PathBuf {
    let dir = d.data_dir().join("run/proc");
    let socks: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(socks.len(), 1, "{socks:?}");
    socks[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_a_process_socket_are_checked_against_its_capabilities() {
    if !require_root("calls_on_a_process_socket_are_checked_against_its_capabilities") {
        return;
    }
    // The checks are the same on both backends: on the portable one they are all
    // the isolation there is.
    for args in [&[][..], &["--sandbox", "portable"][..]] {
        checked_against_capabilities(&Daemon::start(args)).await;
    }
}

async fn checked_against_capabilities(d: &Daemon) {
    let mut user = d.client().await;
    call(
        &mut user,
        Call::Mkdir(pb::MakeDirectory {
            path: "/pub".into(),
            parents: false,
        }),
    )
    .await
    .unwrap();
    call(&mut user, write("/pub/note", b"public"))
        .await
        .unwrap();
    call(&mut user, write("/secret", b"private")).await.unwrap();
    let spec = pb::ProcessSpec {
        argv: vec!["/bin/sleep".into(), "30".into()],
        read_paths: vec![d.files().join("pub").display().to_string()],
        capabilities: vec!["time".into()],
        ..Default::default()
    };
    let p = user
        .create_process(pb::SpawnProcess { spec: Some(spec) })
        .await
        .unwrap()
        .into_inner();
    let socket = process_socket(d);
    let mut me = agentos_client::Client::connect_uds(&socket).await.unwrap();

    // Granted.
    assert!(matches!(
        call(&mut me, Call::Time(pb::GetTime {})).await.unwrap(),
        Value::Time(_)
    ));
    assert_eq!(
        crate::util::data(call(&mut me, read("/pub/note")).await.unwrap()),
        b"public"
    );
    // Not granted: each refusal names what is missing.
    for (c, what) in [
        (Call::SystemInfo(pb::GetSystemInfo {}), "SystemInfo"),
        (read("/secret"), "ReadFile"),
        (write("/pub/new", b"x"), "WriteFile"),
        (
            Call::Spawn(Box::new(pb::SpawnProcess {
                spec: Some(pb::ProcessSpec {
                    argv: vec!["/bin/true".into()],
                    ..Default::default()
                }),
            })),
            "SpawnProcess",
        ),
        (
            Call::Kill(pb::KillProcess {
                pid: 1,
                signal: 9,
                tree: false,
            }),
            "KillProcess",
        ),
    ] {
        let st = call(&mut me, c).await.unwrap_err();
        assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
        assert!(
            error_of(&st).message.contains(what),
            "{}",
            error_of(&st).message
        );
    }
    assert!(!d.files().join("pub/new").exists());
    let st = me
        .create_process(pb::SpawnProcess {
            spec: Some(pb::ProcessSpec {
                argv: vec!["/bin/true".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    // The user's own socket is not limited by the process's grants.
    assert_eq!(
        crate::util::data(call(&mut user, read("/secret")).await.unwrap()),
        b"private"
    );

    // The socket goes away with the process.
    kill_tree(&mut user, p.pid).await;
    call(
        &mut user,
        Call::Wait(pb::WaitProcess {
            pid: p.pid,
            timeout_ms: 10_000,
        }),
    )
    .await
    .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if !socket.exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "{} outlived its process", socket.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_capabilities_are_refused_at_spawn() {
    let d = Daemon::start(&["--sandbox", "portable"]);
    let mut c = d.client().await;
    for bad in ["read:relative/path", "bind:99999", "fly", "read:/a/../etc"] {
        let spec = pb::ProcessSpec {
            argv: vec!["/bin/true".into()],
            capabilities: vec![bad.into()],
            ..Default::default()
        };
        let st = c
            .create_process(pb::SpawnProcess { spec: Some(spec) })
            .await
            .unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{bad}: {st:?}");
    }
}
