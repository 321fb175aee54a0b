//! Daemon lifecycle: one daemon per data directory, clean shutdown, and a SIGKILL in
//! the middle of replacing a file.

use std::{os::unix::fs::PermissionsExt, process::Command, time::Duration};

use agentos_proto::v1::{self as pb, stream_open::Op, stream_request::Msg as In};

use crate::util::{Daemon, call, data, read, temp_files_under, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_replace_keeps_the_old_content_and_leaves_no_temp_file() {
    let mut d = Daemon::start(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/victim.txt", b"the old content"))
        .await
        .unwrap();

    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tx.send(pb::StreamRequest {
        msg: Some(In::Open(pb::StreamOpen {
            op: Some(Op::Write(pb::StreamWrite {
                path: "/victim.txt".into(),
                append: false,
                ..Default::default()
            })),
        })),
    })
    .await
    .unwrap();
    let _resp = c
        .stream_syscall(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap();
    for _ in 0..8 {
        tx.send(pb::StreamRequest {
            msg: Some(In::Chunk(vec![b'N'; 1 << 20])),
        })
        .await
        .unwrap();
    }
    // Wait until the new content is really being written next to the target.
    let mut waited = 0;
    while temp_files_under(&d.files()).is_empty() {
        assert!(waited < 500, "no temp file appeared");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    d.kill9();
    assert_eq!(
        std::fs::read(d.files().join("victim.txt")).unwrap(),
        b"the old content"
    );
    assert!(
        !temp_files_under(&d.files()).is_empty(),
        "the crash left its temp file (swept at restart)"
    );

    d.spawn();
    assert!(
        temp_files_under(&d.files()).is_empty(),
        "restart must sweep interrupted writes"
    );
    let mut c = d.client().await;
    assert_eq!(
        data(call(&mut c, read("/victim.txt")).await.unwrap()),
        b"the old content"
    );
    let journal = d.data_dir().join("run/journal");
    assert_eq!(std::fs::read_dir(journal).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_dir_refuses_to_start() {
    let d = Daemon::start(&[]);
    let out = Command::new(crate::util::kernel_bin())
        .arg("--data-dir")
        .arg(d.data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already running") && err.contains(&d.pid().to_string()),
        "{err}"
    );
    // The first daemon still serves on its socket.
    let mut c = d.client().await;
    call(&mut c, write("/still-here", b"yes")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_permissions_are_tight() {
    let mut d = Daemon::start(&[]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.data_dir()), 0o700);
    assert_eq!(mode(&d.socket()), 0o600);
    assert_eq!(mode(&d.data_dir().join("kernel.token")), 0o600);
    let cgroup = {
        let mut c = d.client().await;
        let r = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
        r.subsystems["cgroups"]
            .details
            .get("kernel_cgroup")
            .cloned()
    };
    let status = d.terminate();
    assert!(status.success(), "{status}");
    assert!(!d.socket().exists(), "the socket is removed on shutdown");
    if let Some(cg) = cgroup {
        assert!(
            !std::path::Path::new(&cg).exists(),
            "the kernel cgroup {cg} is removed on shutdown"
        );
    }
}

async fn kernel_cgroup(d: &Daemon) -> String {
    let mut c = d.client().await;
    let r = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    r.subsystems["cgroups"].details["kernel_cgroup"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroups_of_dead_kernels_are_swept_and_live_ones_kept() {
    if !crate::util::require_root("cgroups_of_dead_kernels_are_swept_and_live_ones_kept") {
        return;
    }
    let mut dead = Daemon::start(&[]);
    let live = Daemon::start(&[]);
    let (dead_cg, live_cg) = (kernel_cgroup(&dead).await, kernel_cgroup(&live).await);
    dead.kill9();
    assert!(
        std::path::Path::new(&dead_cg).exists(),
        "a SIGKILLed kernel cannot clean up"
    );
    let _next = Daemon::start(&[]);
    assert!(
        !std::path::Path::new(&dead_cg).exists(),
        "the next kernel sweeps the orphan {dead_cg}"
    );
    assert!(
        std::path::Path::new(&live_cg).exists(),
        "a live kernel's cgroup is kept"
    );
}

/// A point of the kernel's start-up, seen from outside: the first thing of the
/// data directory's that exists once the kernel got that far.
#[derive(Debug, Clone, Copy)]
enum StartupPoint {
    /// The lock file: signals are blocked by then, nothing else exists yet.
    Lock,
    /// The kernel's cgroup in the v2 tree (root only): start-up is half-way.
    Cgroup,
    /// The socket: start-up is over.
    Socket,
}

/// SIGTERM at each of several points of start-up stops the kernel cleanly: it
/// exits with success, and none of its `agentos-k-*` cgroups is left in any
/// hierarchy (the default action of SIGTERM before the handlers were installed
/// used to leave them until the next start swept them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_any_point_of_start_up_leaves_no_cgroup() {
    use agentos_kernel::cgroup::{CgroupLayout, KernelCgroup};
    let layout = CgroupLayout::detect(std::path::Path::new("/sys/fs/cgroup"));
    let mut points = vec![StartupPoint::Lock, StartupPoint::Socket];
    if crate::util::privileged() {
        points.push(StartupPoint::Cgroup);
    }
    for point in points {
        let dir = tempfile::Builder::new()
            .prefix("agentos-test-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let cgroup = layout
            .v2_root()
            .map(|root| root.join(KernelCgroup::name_for(&data)));
        let mut child = Command::new(crate::util::kernel_bin())
            .arg("--data-dir")
            .arg(&data)
            .env("AGENTOS_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let marker = match point {
            StartupPoint::Lock => data.join("kernel.lock"),
            StartupPoint::Socket => data.join("kernel.sock"),
            StartupPoint::Cgroup => cgroup.clone().expect("a cgroup v2 tree as root"),
        };
        // Polls without sleeping, so that the signal lands as close to the point
        // as possible; the kernel exiting first is a failure.
        while !marker.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{point:?}: the kernel exited before {marker:?} appeared: {status}");
            }
            std::thread::yield_now();
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "{point:?}: SIGTERM during start-up: {status}"
        );
        if let Some(cg) = &cgroup {
            let left: Vec<_> = crate::util::kernel_cgroup_dirs(cg)
                .into_iter()
                .filter(|d| d.exists())
                .collect();
            assert!(left.is_empty(), "{point:?}: cgroups left behind: {left:?}");
        }
        assert!(!data.join("kernel.sock").exists(), "{point:?}: socket left");
    }
}
