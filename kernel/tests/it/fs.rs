//! Every filesystem syscall, success and error paths, on LocalFS (io_uring and
//! portable backends) and on MemFS.

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};
use tonic::Code;

use crate::util::{Client, Daemon, call, data, error_of, read, write};

fn p(base: &str, rel: &str) -> String {
    format!("{base}/{rel}")
}

async fn expect_err(
    c: &mut Client,
    call_: Call,
    code: Code,
    wire: pb::ErrorCode,
) -> pb::SyscallError {
    let st = call(c, call_).await.expect_err("the call must fail");
    assert_eq!(st.code(), code, "{st:?}");
    let e = error_of(&st);
    assert_eq!(e.code, wire as i32, "{e:?}");
    assert!(!e.message.is_empty());
    e
}

/// The whole syscall surface below `base` (a fresh directory is made there).
async fn suite(c: &mut Client, base: &str) {
    call(
        c,
        Call::Mkdir(pb::MakeDirectory {
            path: base.into(),
            parents: true,
        }),
    )
    .await
    .unwrap();

    // write / read / append / offsets
    assert_eq!(
        call(c, write(&p(base, "a.txt"), b"hello")).await.unwrap(),
        Value::Count(5)
    );
    assert_eq!(
        data(call(c, read(&p(base, "a.txt"))).await.unwrap()),
        b"hello"
    );
    call(
        c,
        Call::Write(pb::WriteFile {
            path: p(base, "a.txt"),
            data: b" world".to_vec(),
            append: true,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        data(call(c, read(&p(base, "a.txt"))).await.unwrap()),
        b"hello world"
    );
    let part = call(
        c,
        Call::Read(pb::ReadFile {
            path: p(base, "a.txt"),
            offset: 6,
            length: 3,
        }),
    )
    .await
    .unwrap();
    assert_eq!(data(part), b"wor");
    let past = call(
        c,
        Call::Read(pb::ReadFile {
            path: p(base, "a.txt"),
            offset: 100,
            length: 0,
        }),
    )
    .await
    .unwrap();
    assert!(data(past).is_empty());
    call(c, write(&p(base, "a.txt"), b"replaced"))
        .await
        .unwrap();
    assert_eq!(
        data(call(c, read(&p(base, "a.txt"))).await.unwrap()),
        b"replaced"
    );
    expect_err(
        c,
        read(&p(base, "missing")),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;
    expect_err(
        c,
        write(&p(base, "nodir/x"), b"x"),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;

    // create
    call(
        c,
        Call::Create(pb::CreateFile {
            path: p(base, "new"),
            data: b"n".to_vec(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(data(call(c, read(&p(base, "new"))).await.unwrap()), b"n");
    let e = expect_err(
        c,
        Call::Create(pb::CreateFile {
            path: p(base, "new"),
            data: vec![],
        }),
        Code::AlreadyExists,
        pb::ErrorCode::AlreadyExists,
    )
    .await;
    assert_eq!(e.syscall, "create");
    assert_eq!(e.path, p(base, "new"));

    // exists / stat
    assert_eq!(
        call(
            c,
            Call::Exists(pb::FileExists {
                path: p(base, "new")
            })
        )
        .await
        .unwrap(),
        Value::Flag(true)
    );
    assert_eq!(
        call(
            c,
            Call::Exists(pb::FileExists {
                path: p(base, "nope")
            })
        )
        .await
        .unwrap(),
        Value::Flag(false)
    );
    let Value::Stat(st) = call(
        c,
        Call::Stat(pb::StatFile {
            path: p(base, "a.txt"),
        }),
    )
    .await
    .unwrap() else {
        panic!("stat")
    };
    assert_eq!((st.kind, st.size), (pb::FileKind::File as i32, 8));
    assert!(st.modified_unix_ns > 0);
    let Value::Stat(st) = call(c, Call::Stat(pb::StatFile { path: base.into() }))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(st.kind, pb::FileKind::Directory as i32);
    expect_err(
        c,
        Call::Stat(pb::StatFile {
            path: p(base, "nope"),
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;

    // truncate
    call(
        c,
        Call::Truncate(pb::TruncateFile {
            path: p(base, "a.txt"),
            size: 3,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        data(call(c, read(&p(base, "a.txt"))).await.unwrap()),
        b"rep"
    );
    call(
        c,
        Call::Truncate(pb::TruncateFile {
            path: p(base, "a.txt"),
            size: 5,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        data(call(c, read(&p(base, "a.txt"))).await.unwrap()),
        b"rep\0\0"
    );
    expect_err(
        c,
        Call::Truncate(pb::TruncateFile {
            path: p(base, "nope"),
            size: 0,
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;

    // mkdir / list
    call(
        c,
        Call::Mkdir(pb::MakeDirectory {
            path: p(base, "d"),
            parents: false,
        }),
    )
    .await
    .unwrap();
    expect_err(
        c,
        Call::Mkdir(pb::MakeDirectory {
            path: p(base, "d"),
            parents: false,
        }),
        Code::AlreadyExists,
        pb::ErrorCode::AlreadyExists,
    )
    .await;
    call(
        c,
        Call::Mkdir(pb::MakeDirectory {
            path: p(base, "d"),
            parents: true,
        }),
    )
    .await
    .unwrap();
    call(
        c,
        Call::Mkdir(pb::MakeDirectory {
            path: p(base, "deep/er/est"),
            parents: true,
        }),
    )
    .await
    .unwrap();
    expect_err(
        c,
        Call::Mkdir(pb::MakeDirectory {
            path: p(base, "x/y"),
            parents: false,
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;
    call(c, write(&p(base, "d/inner"), b"i")).await.unwrap();
    let Value::Listing(l) = call(c, Call::List(pb::ListDirectory { path: base.into() }))
        .await
        .unwrap()
    else {
        panic!()
    };
    let mut names: Vec<_> = l
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("a.txt", pb::FileKind::File as i32),
            ("d", pb::FileKind::Directory as i32),
            ("deep", pb::FileKind::Directory as i32),
            ("new", pb::FileKind::File as i32),
        ]
    );
    expect_err(
        c,
        Call::List(pb::ListDirectory {
            path: p(base, "a.txt"),
        }),
        Code::FailedPrecondition,
        pb::ErrorCode::FailedPrecondition,
    )
    .await;
    expect_err(
        c,
        Call::List(pb::ListDirectory {
            path: p(base, "nope"),
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;

    // copy / move
    assert_eq!(
        call(
            c,
            Call::Copy(pb::CopyFile {
                from: p(base, "new"),
                to: p(base, "d/copy")
            })
        )
        .await
        .unwrap(),
        Value::Count(1)
    );
    assert_eq!(data(call(c, read(&p(base, "d/copy"))).await.unwrap()), b"n");
    expect_err(
        c,
        Call::Copy(pb::CopyFile {
            from: p(base, "nope"),
            to: p(base, "x"),
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;
    call(
        c,
        Call::Move(pb::MoveFile {
            from: p(base, "d/copy"),
            to: p(base, "moved"),
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        call(
            c,
            Call::Exists(pb::FileExists {
                path: p(base, "d/copy")
            })
        )
        .await
        .unwrap(),
        Value::Flag(false)
    );
    assert_eq!(data(call(c, read(&p(base, "moved"))).await.unwrap()), b"n");
    expect_err(
        c,
        Call::Move(pb::MoveFile {
            from: p(base, "nope"),
            to: p(base, "x"),
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;

    // delete / rmdir
    expect_err(
        c,
        Call::Delete(pb::DeleteFile { path: p(base, "d") }),
        Code::FailedPrecondition,
        pb::ErrorCode::FailedPrecondition,
    )
    .await;
    call(
        c,
        Call::Delete(pb::DeleteFile {
            path: p(base, "moved"),
        }),
    )
    .await
    .unwrap();
    expect_err(
        c,
        Call::Delete(pb::DeleteFile {
            path: p(base, "moved"),
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;
    expect_err(
        c,
        Call::Rmdir(pb::RemoveDirectory {
            path: p(base, "d"),
            recursive: false,
        }),
        Code::FailedPrecondition,
        pb::ErrorCode::FailedPrecondition,
    )
    .await;
    call(
        c,
        Call::Rmdir(pb::RemoveDirectory {
            path: p(base, "deep"),
            recursive: true,
        }),
    )
    .await
    .unwrap();
    call(
        c,
        Call::Delete(pb::DeleteFile {
            path: p(base, "d/inner"),
        }),
    )
    .await
    .unwrap();
    call(
        c,
        Call::Rmdir(pb::RemoveDirectory {
            path: p(base, "d"),
            recursive: false,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        call(
            c,
            Call::Exists(pb::FileExists {
                path: p(base, "deep")
            })
        )
        .await
        .unwrap(),
        Value::Flag(false)
    );

    // getcwd / setcwd and relative paths
    assert_eq!(
        call(c, Call::Setcwd(pb::SetCwd { path: base.into() }))
            .await
            .unwrap(),
        Value::Path(base.into())
    );
    assert_eq!(
        call(c, Call::Getcwd(pb::GetCwd {})).await.unwrap(),
        Value::Path(base.into())
    );
    assert_eq!(data(call(c, read("new")).await.unwrap()), b"n");
    expect_err(
        c,
        Call::Setcwd(pb::SetCwd {
            path: p(base, "new"),
        }),
        Code::FailedPrecondition,
        pb::ErrorCode::FailedPrecondition,
    )
    .await;
    expect_err(
        c,
        Call::Setcwd(pb::SetCwd {
            path: p(base, "nope"),
        }),
        Code::NotFound,
        pb::ErrorCode::NotFound,
    )
    .await;
    call(c, Call::Setcwd(pb::SetCwd { path: "/".into() }))
        .await
        .unwrap();

    // bad input at the edge
    for bad in ["", "a\0b"] {
        expect_err(
            c,
            read(bad),
            Code::InvalidArgument,
            pb::ErrorCode::InvalidArgument,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localfs_on_io_uring() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let Value::SystemInfo(_) = call(&mut c, Call::SystemInfo(pb::GetSystemInfo {}))
        .await
        .unwrap()
    else {
        panic!()
    };
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    assert_eq!(
        report.subsystems["io_uring"].backend, "io_uring",
        "{report:?}"
    );
    suite(&mut c, "/work").await;
    // The files really are on the host, in the mount's directory.
    assert_eq!(
        std::fs::read(d.files().join("work/a.txt")).unwrap(),
        b"rep\0\0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localfs_on_the_portable_backend() {
    let d = Daemon::start(&["--vfs-backend", "portable"]);
    let mut c = d.client().await;
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    assert_eq!(report.subsystems["io_uring"].backend, "std::fs");
    assert!(!report.subsystems["io_uring"].available);
    suite(&mut c, "/work").await;
    assert_eq!(std::fs::read(d.files().join("work/new")).unwrap(), b"n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memfs() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    suite(&mut c, "/tmp/work").await;
    assert!(
        !d.files().join("tmp").exists(),
        "MemFS must not touch the host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_across_mounts_copy_then_delete() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/tmp/x", b"cross")).await.unwrap();
    call(
        &mut c,
        Call::Move(pb::MoveFile {
            from: "/tmp/x".into(),
            to: "/x".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(d.files().join("x")).unwrap(), b"cross");
    assert_eq!(
        call(
            &mut c,
            Call::Exists(pb::FileExists {
                path: "/tmp/x".into()
            })
        )
        .await
        .unwrap(),
        Value::Flag(false)
    );
    // Mount points are listed and cannot be removed.
    let Value::Listing(l) = call(&mut c, Call::List(pb::ListDirectory { path: "/".into() }))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(
        l.entries
            .iter()
            .any(|e| e.name == "tmp" && e.kind == pb::FileKind::Directory as i32)
    );
    let st = call(
        &mut c,
        Call::Rmdir(pb::RemoveDirectory {
            path: "/tmp".into(),
            recursive: true,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_system_and_env_syscalls() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let Value::Time(t) = call(&mut c, Call::Time(pb::GetTime {})).await.unwrap() else {
        panic!()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(
        (now - t.unix_ns).abs() < 5_000_000_000,
        "kernel time {} vs test time {now}",
        t.unix_ns
    );
    assert!(
        t.rfc3339.ends_with('Z') && t.rfc3339.len() == 24,
        "{}",
        t.rfc3339
    );
    let Value::Count(up1) = call(&mut c, Call::Uptime(pb::GetUptime {})).await.unwrap() else {
        panic!()
    };
    let Value::Count(slept) = call(&mut c, Call::Sleep(pb::Sleep { duration_ms: 120 }))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(slept >= 120);
    let Value::Count(up2) = call(&mut c, Call::Uptime(pb::GetUptime {})).await.unwrap() else {
        panic!()
    };
    assert!(up2 >= up1 + 120, "{up1} -> {up2}");
    let st = call(
        &mut c,
        Call::Sleep(pb::Sleep {
            duration_ms: u64::MAX,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);

    let Value::SystemInfo(info) = call(&mut c, Call::SystemInfo(pb::GetSystemInfo {}))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(info.os, "Linux");
    assert!(info.cpus >= 1 && info.memory_total_bytes > 0);

    // The caller's environment: seeded from this test process, not the daemon's
    // (which alone was started with AGENTOS_LOG=warn).
    let own = std::fs::read("/proc/self/environ").unwrap();
    let own = String::from_utf8_lossy(&own);
    let manifest = own
        .split('\0')
        .find_map(|kv| kv.strip_prefix("CARGO_MANIFEST_DIR="))
        .expect("cargo sets it");
    let Value::Env(env) = call(
        &mut c,
        Call::GetEnv(pb::GetEnv {
            key: "CARGO_MANIFEST_DIR".into(),
        }),
    )
    .await
    .unwrap() else {
        panic!()
    };
    assert_eq!(env.vars["CARGO_MANIFEST_DIR"], manifest);
    if !own.split('\0').any(|kv| kv.starts_with("AGENTOS_LOG=")) {
        let st = call(
            &mut c,
            Call::GetEnv(pb::GetEnv {
                key: "AGENTOS_LOG".into(),
            }),
        )
        .await
        .unwrap_err();
        assert_eq!(
            st.code(),
            Code::NotFound,
            "the daemon's own environment leaked"
        );
    }
    call(
        &mut c,
        Call::SetEnv(pb::SetEnv {
            key: "K".into(),
            value: "v".into(),
            unset: false,
        }),
    )
    .await
    .unwrap();
    let Value::Env(env) = call(&mut c, Call::GetEnv(pb::GetEnv { key: "K".into() }))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(env.vars["K"], "v");
    let daemon_env = std::fs::read(format!("/proc/{}/environ", d.pid())).unwrap();
    assert!(
        !String::from_utf8_lossy(&daemon_env).contains("K=v"),
        "set_env must not touch the daemon"
    );
    call(
        &mut c,
        Call::SetEnv(pb::SetEnv {
            key: "K".into(),
            value: String::new(),
            unset: true,
        }),
    )
    .await
    .unwrap();
    let st = call(&mut c, Call::GetEnv(pb::GetEnv { key: "K".into() }))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
    let st = call(
        &mut c,
        Call::SetEnv(pb::SetEnv {
            key: "A=B".into(),
            value: "x".into(),
            unset: false,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
}
