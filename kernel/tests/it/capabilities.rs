//! A managed process's own kernel socket: identity comes from the socket, and every
//! syscall on it is checked against the process's capabilities, with the same
//! grants that built its mounts.

use std::time::Duration;

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};
use tonic::Code;

use crate::util::{
    Daemon, call, error_of, kill_tree, process_socket, read, require_root, spawn, write,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_a_process_socket_are_checked_against_its_capabilities() {
    if !require_root("calls_on_a_process_socket_are_checked_against_its_capabilities") {
        return;
    }
    // The checks are the same on both backends: on the portable one they are all
    // the isolation there is.
    for args in [
        &[][..],
        &["--sandbox", "walls"][..],
        &["--sandbox", "portable", "--allow-unconfined"][..],
    ] {
        // Walls only, a root daemon's program (uid nobody, no mount to carry it)
        // cannot traverse the 0700 data directory to its socket: that rung is for
        // ordinary users, and is checked in the rootless pass.
        if args.contains(&"walls") && crate::util::privileged() {
            continue;
        }
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
    let p = spawn(&mut user, spec).await;
    let socket = process_socket(d).await;
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
    crate::util::kill_and_reap(&mut user, p.pid).await;
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
    let d = Daemon::start(&["--sandbox", "portable", "--allow-unconfined"]);
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

/// Reads the process's output until `line` appears (or panics after 10 s).
async fn wait_for_line(out: &mut tonic::Streaming<pb::ProcessOutput>, line: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while let Ok(Ok(Some(msg))) = tokio::time::timeout_at(deadline, out.message()).await {
        if let Some(pb::process_output::Msg::Output(ch)) = msg.msg {
            seen.push_str(&String::from_utf8_lossy(&ch.data));
            // Only lines printed after the last change count.
            if seen.lines().rev().take(2).any(|l| l == line) {
                return;
            }
        }
    }
    panic!("never saw {line:?}; output so far: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_grants_are_refused_and_their_walls_come_down() {
    if !require_root("revoked_grants_are_refused_and_their_walls_come_down") {
        return;
    }
    for (args, isolated) in [
        (&[][..], true),
        (&["--sandbox", "walls"][..], false),
        (&["--sandbox", "portable", "--allow-unconfined"][..], false),
    ] {
        revoke_in(args, isolated).await;
    }
}

async fn revoke_in(args: &[&str], isolated: bool) {
    // A host directory the program sees directly and the kernel mounts at /shared
    // (the data directory itself is 0700: the sandbox's uid could not traverse it).
    let shared = tempfile::Builder::new()
        .prefix("agentos-test-")
        .tempdir()
        .unwrap();
    let mount = format!("/shared={}", shared.path().display());
    let d = &Daemon::start(&[args, &["--mount", &mount]].concat());
    let mut user = d.client().await;
    let (ro, rw) = (shared.path().join("ro"), shared.path().join("rw"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("note"), b"hi").unwrap();
    // The sandbox runs as an unprivileged uid: the directory's bits must let it write.
    std::fs::set_permissions(&rw, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    // Every 50 ms the program says whether it can read ro/note and write into rw.
    let script = format!(
        "while :; do \
           if cat {ro}/note >/dev/null 2>&1; then r=R; else r=-; fi; \
           if echo x > {rw}/probe 2>/dev/null; then w=W; else w=-; fi; \
           echo $r$w; /bin/sleep 0.05; done",
        ro = ro.display(),
        rw = rw.display()
    );
    let spec = pb::ProcessSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        read_paths: vec![ro.display().to_string()],
        write_paths: vec![rw.display().to_string()],
        capabilities: vec!["time".into()],
        ..Default::default()
    };
    let p = spawn(&mut user, spec).await;
    let attach = tokio_stream::iter([pb::ProcessInput {
        msg: Some(pb::process_input::Msg::Attach(p.pid)),
    }]);
    let mut out = user.process_io(attach).await.unwrap().into_inner();
    wait_for_line(&mut out, "RW").await;
    let mut me = agentos_client::Client::connect_uds(&process_socket(d).await)
        .await
        .unwrap();
    let note = "/shared/ro/note";
    assert!(me.read(note).await.is_ok());
    assert!(me.call(Call::Time(pb::GetTime {})).await.is_ok());

    let revoke = |caps: &[String]| pb::UpdateSandboxRequest {
        pid: p.pid,
        revoke: caps.to_vec(),
        ..Default::default()
    };
    // Not held: refused, nothing changes.
    let st = user
        .update_sandbox(revoke(&["sysinfo".into()]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(me.call(Call::Time(pb::GetTime {})).await.is_ok());

    // A kernel-only capability: refused at once (the cache was invalidated).
    user.update_sandbox(revoke(&["time".into()])).await.unwrap();
    let e = me.call(Call::Time(pb::GetTime {})).await.unwrap_err();
    assert_eq!(e.code(), pb::ErrorCode::PermissionDenied, "{e}");

    // rw loses its write grants: writes stop, inside the sandbox too.
    let rw_s = rw.display().to_string();
    let write_caps: Vec<String> = ["write", "create", "delete"]
        .iter()
        .map(|k| format!("{k}:{rw_s}"))
        .collect();
    user.update_sandbox(revoke(&write_caps)).await.unwrap();
    assert_eq!(
        me.write("/shared/rw/x", b"x").await.unwrap_err().code(),
        pb::ErrorCode::PermissionDenied
    );
    if isolated {
        // rw is still readable, so it stays mounted, read-only now.
        wait_for_line(&mut out, "R-").await;
    }
    // ro loses its read grants: the path leaves the view.
    let ro_s = ro.display().to_string();
    user.update_sandbox(revoke(&[format!("read:{ro_s}"), format!("list:{ro_s}")]))
        .await
        .unwrap();
    assert_eq!(
        me.read(note).await.unwrap_err().code(),
        pb::ErrorCode::PermissionDenied
    );
    if isolated {
        // The walls follow: the program can neither read ro/note nor write into rw.
        wait_for_line(&mut out, "--").await;
    }
    kill_tree(&mut user, p.pid).await;
}

/// A refused call is an event naming the grant that would allow it; "allow once"
/// lets exactly one such call through, "always" every one until it is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_is_an_event_and_a_grant_lets_calls_through() {
    if !require_root("a_denial_is_an_event_and_a_grant_lets_calls_through") {
        return;
    }
    use tokio_stream::StreamExt as _;

    let d = Daemon::start(&[]);
    let mut user = d.client().await;
    call(&mut user, write("/secret", b"private")).await.unwrap();
    let p = spawn(
        &mut user,
        pb::ProcessSpec {
            argv: vec!["/bin/sleep".into(), "30".into()],
            ..Default::default()
        },
    )
    .await;
    let mut events = user
        .watch_events(pb::WatchEventsRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut me = agentos_client::Client::connect_uds(&process_socket(&d).await)
        .await
        .unwrap();
    let denied = |r: Result<Value, tonic::Status>| match r {
        Err(st) => st.code() == Code::PermissionDenied,
        Ok(v) => panic!("allowed: {v:?}"),
    };

    assert!(denied(call(&mut me, read("/secret")).await));
    let ev = loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("a denial event within 10 s")
            .unwrap()
            .unwrap();
        if ev.kind == pb::EventKind::Denial as i32 {
            break ev;
        }
    };
    assert_eq!(ev.pid, p.pid);
    let denial = ev.denial.unwrap();
    let secret = d.files().join("secret").display().to_string();
    // The grant names the host path the policy holds; people are told the path the
    // process asked for.
    assert_eq!(denial.capability, format!("read:{secret}"));
    assert_eq!(denial.path, "/secret", "{denial:?}");
    assert_eq!(denial.access, "read /secret", "{denial:?}");
    assert_eq!(
        denial.reason, "no ReadFile grant covers /secret",
        "{denial:?}"
    );

    let grant = |caps: Vec<String>, revoke: Vec<String>, once: bool| pb::UpdateSandboxRequest {
        pid: p.pid,
        grant: caps,
        revoke,
        once,
        ..Default::default()
    };
    // Allow once: one read, then refused again.
    user.update_sandbox(grant(vec![denial.capability.clone()], vec![], true))
        .await
        .unwrap();
    assert_eq!(
        crate::util::data(call(&mut me, read("/secret")).await.unwrap()),
        b"private"
    );
    assert!(denied(call(&mut me, read("/secret")).await));
    // Always: every read, until revoked.
    user.update_sandbox(grant(vec![denial.capability.clone()], vec![], false))
        .await
        .unwrap();
    for _ in 0..2 {
        call(&mut me, read("/secret")).await.unwrap();
    }
    user.update_sandbox(grant(vec![], vec![denial.capability.clone()], false))
        .await
        .unwrap();
    assert!(denied(call(&mut me, read("/secret")).await));
    // Bad input is refused whole.
    for bad in [
        grant(vec!["read:relative".into()], vec![], false),
        grant(vec![], vec![], true),
    ] {
        let st = user.update_sandbox(bad).await.unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    }
    kill_tree(&mut user, p.pid).await;
}
