//! Paths that try to leave their mount are refused with a clear error, and the
//! secret outside is never returned.

use std::{
    os::unix::{ffi::OsStrExt, fs::symlink},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value};
use tonic::Code;

use crate::util::{Daemon, call, data, error_of, read, write};

const SECRET: &[u8] = b"TOP-SECRET-OUTSIDE-THE-MOUNT";

/// A directory outside every mount holding a secret file.
fn outside(d: &Daemon) -> std::path::PathBuf {
    let o = d.dir.path().join("outside");
    std::fs::create_dir_all(&o).unwrap();
    std::fs::write(o.join("secret"), SECRET).unwrap();
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotdot_and_malformed_paths_are_invalid_arguments() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    outside(&d);
    let long = format!("/{}", "a/".repeat(2100));
    let long_name = format!("/{}", "n".repeat(256));
    for bad in [
        "../outside/secret",
        "/../../outside/secret",
        "/a/../../b",
        "a\0b",
        long.as_str(),
        long_name.as_str(),
    ] {
        let st = call(&mut c, read(bad)).await.expect_err(bad);
        assert_eq!(st.code(), Code::InvalidArgument, "{bad:?}: {st:?}");
        let e = error_of(&st);
        assert_eq!(e.syscall, "read");
        assert!(e.message.contains("invalid path"), "{}", e.message);
    }
    // Writes are refused the same way, and nothing appears outside.
    let st = call(&mut c, write("../../outside/planted", b"x"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(!d.dir.path().join("outside/planted").exists());
}

async fn escape_suite(d: &Daemon) {
    let mut c = d.client().await;
    let out = outside(d);
    let files = d.files();
    symlink(&out, files.join("abs")).unwrap();
    symlink("../../outside", files.join("rel")).unwrap();
    symlink("/proc/self/root", files.join("procroot")).unwrap();
    std::fs::create_dir(files.join("sub")).unwrap();
    symlink("../ok.txt", files.join("sub/up")).unwrap();
    std::fs::write(files.join("ok.txt"), b"inside").unwrap();

    for p in [
        "/abs/secret",
        "/rel/secret",
        &format!("/procroot{}/secret", out.display()),
    ] {
        let st = call(&mut c, read(p)).await.expect_err(p);
        assert_eq!(st.code(), Code::PermissionDenied, "{p}: {st:?}");
        assert!(
            error_of(&st).message.contains("outside its mount")
                || error_of(&st).message.contains("refused")
        );
        let st = call(&mut c, write(&format!("{p}-new"), b"x"))
            .await
            .expect_err(p);
        assert_eq!(st.code(), Code::PermissionDenied, "{p}: {st:?}");
        let st = call(&mut c, Call::Stat(pb::StatFile { path: p.into() }))
            .await
            .expect_err(p);
        assert_eq!(st.code(), Code::PermissionDenied, "{p}: {st:?}");
    }
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "nothing was created outside"
    );
    // A symlink that stays inside the mount still works.
    assert_eq!(
        data(call(&mut c, read("/sub/up")).await.unwrap()),
        b"inside"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_out_of_the_mount_are_refused_on_io_uring() {
    escape_suite(&Daemon::start(&[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_out_of_the_mount_are_refused_on_the_portable_backend() {
    escape_suite(&Daemon::start(&["--vfs-backend", "portable"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_magic_links_are_refused() {
    // Mount the host's /proc: `self/root` there is a magic link to the daemon's root.
    let d = Daemon::start(&["--mount", "/hostproc=/proc"]);
    let mut c = d.client().await;
    let st = call(&mut c, read("/hostproc/self/root/etc/hostname"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    let st = call(&mut c, read("/hostproc/self/cwd/kernel.token"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    // Plain /proc files are readable: the mount works, only magic links are refused.
    let Value::Data(v) = call(&mut c, read("/hostproc/self/comm")).await.unwrap() else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&v).starts_with("agentos"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_swapped_in_after_the_check_never_leaks() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let out = outside(&d);
    let files = d.files();
    std::fs::create_dir(files.join("d")).unwrap();
    std::fs::write(files.join("d/secret"), b"inside").unwrap();
    symlink(&out, files.join("swap")).unwrap();

    // Swap `d` (a real directory) and `swap` (a symlink out) atomically, forever.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (a, b) = (files.join("d"), files.join("swap"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &a,
                    nix::fcntl::AT_FDCWD,
                    &b,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let (mut inside, mut refused) = (0, 0);
    for _ in 0..1500 {
        match call(&mut c, read("/d/secret")).await {
            Ok(v) => {
                let v = data(v);
                assert_ne!(
                    v, SECRET,
                    "the secret outside the mount leaked through a swapped symlink"
                );
                assert_eq!(v, b"inside");
                inside += 1;
            }
            Err(st) => {
                assert!(
                    matches!(st.code(), Code::PermissionDenied | Code::NotFound),
                    "{st:?}"
                );
                refused += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 100, "the race barely ran ({swaps} swaps)");
    assert!(
        inside > 0 && refused > 0,
        "both outcomes must occur: {inside} inside, {refused} refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_names_are_listed_lossily_and_flagged() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name");
    std::fs::write(d.files().join(name), b"x").unwrap();
    let Value::Listing(l) = call(&mut c, Call::List(pb::ListDirectory { path: "/".into() }))
        .await
        .unwrap()
    else {
        panic!()
    };
    let e = l
        .entries
        .iter()
        .find(|e| e.name.starts_with("bad-"))
        .expect("listed");
    assert!(!e.utf8);
    assert_eq!(e.name, "bad-\u{fffd}-name");
    // The lossy name does not resolve to the file (nor to anything else).
    let st = call(&mut c, read(&format!("/{}", e.name)))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
}
