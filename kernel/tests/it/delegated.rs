//! A cgroup subtree delegated to an ordinary user, as systemd's `Delegate=yes`
//! makes one: a rootless kernel started inside it puts its groups there, so its
//! process trees are killed as a group without root. Root only sets the stage (a
//! v2 directory owned by the test user, the kernel placed in it); the kernel runs
//! as that user. On these hybrid hosts the v2 tree has no controllers, so the
//! limits still come by rlimit, and each process says so.

use std::{
    io::Write,
    os::unix::fs::chown,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use agentos_proto::v1 as pb;

use crate::util::{Client, kernel_bin, kill_tree, require_root, spawn};

/// The account `cargo xtask test` makes for the rootless pass.
const USER: &str = "agentos-test";

/// The delegated directory and the kernel inside it; both undone on drop.
struct Delegation {
    dir: PathBuf,
    kernel: Option<Child>,
}

impl Drop for Delegation {
    fn drop(&mut self) {
        if let Some(mut k) = self.kernel.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(k.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while k.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = k.kill();
            let _ = k.wait();
        }
        // Whatever the kernel left (it removes its own directory on exit).
        let _ = agentos_kernel::cgroup::remove_tree(&self.dir);
    }
}

fn v2_root() -> PathBuf {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
        .expect("a cgroup v2 tree")
}

fn procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rootless_kernel_uses_a_delegated_cgroup() {
    if !require_root("a_rootless_kernel_uses_a_delegated_cgroup") {
        return;
    }
    let user = nix::unistd::User::from_name(USER)
        .unwrap()
        .unwrap_or_else(|| panic!("the user {USER} (cargo xtask test makes it)"));
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    let dir = v2_root().join(format!("agentos-test-deleg-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let mut d = Delegation {
        dir: dir.clone(),
        kernel: None,
    };
    // What systemd hands a delegated unit: the directory and its control files.
    for f in [
        "",
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
    ] {
        chown(dir.join(f), Some(uid), Some(gid)).unwrap();
    }
    let data = tempfile::Builder::new()
        .prefix("agentos-test-deleg-")
        .tempdir()
        .unwrap();
    chown(data.path(), Some(uid), Some(gid)).unwrap();
    let data_dir = data.path().join("data");

    // The kernel as the user, moved into the delegated cgroup before it execs.
    let mut k = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
            "/bin/sh",
            "-c",
            "read go && exec \"$0\" --data-dir \"$1\"",
        ])
        .arg(kernel_bin())
        .arg(&data_dir)
        .env("AGENTOS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(dir.join("cgroup.procs"), k.id().to_string()).unwrap();
    k.stdin.take().unwrap().write_all(b"go\n").unwrap();
    d.kernel = Some(k);
    let socket = data_dir.join("kernel.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the kernel did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = Client::connect_uds(&socket).await.unwrap();

    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let cg = &report.subsystems["cgroups"].details;
    assert_eq!(cg["delegated"], "true", "{cg:?}");
    let kernel_cg = PathBuf::from(&cg["kernel_cgroup"]);
    assert!(kernel_cg.starts_with(&dir), "{kernel_cg:?} below {dir:?}");
    assert_eq!(report.subsystems["sandbox"].backend, "rootless");

    // A tree with a grandchild in a session of its own: only a group kill gets it.
    let p = spawn(
        &mut c,
        pb::ProcessSpec {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "setsid /bin/sleep 300 & /bin/sleep 301".into(),
            ],
            limits: Some(pb::ResourceLimits {
                pids_max: 16,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let iso = p.isolation.clone().unwrap();
    assert_eq!(iso.level, "rootless");
    // Hybrid: no v2 controller here, and v1 belongs to root.
    assert_eq!(iso.limits, "cgroup+rlimit", "{iso:?}");
    let group = kernel_cg.join(&p.cgroup);
    let deadline = Instant::now() + Duration::from_secs(10);
    while procs(&group).len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", procs(&group));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let members = procs(&group);
    kill_tree(&mut c, p.pid).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while members
        .iter()
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(Instant::now() < deadline, "survivors of {members:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(d);
    assert!(!dir.exists(), "the delegated directory is gone");
}
