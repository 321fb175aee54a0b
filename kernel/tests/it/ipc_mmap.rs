//! A VFS file mapped into managed processes: `agentos-ipc-peer` takes the real
//! file's fd (`mmap_open`, handed over on its socket), maps it, stores, msyncs
//! and unmaps; the host file and a second process's mapping see the same bytes,
//! and a read-only grant cannot become a writable mapping.

use std::os::unix::fs::FileExt;

use agentos_proto::v1::{self as pb, syscall::Call};
use tonic::Code;

use crate::{
    ipc::{kernel, line_of, peer},
    util::{call, error_of},
};

fn mmap_open(path: &str, writable: bool) -> Call {
    Call::MmapOpen(pb::MmapOpen {
        path: path.into(),
        writable,
    })
}

/// The daemon's open fds that name `file`.
fn fds_on(daemon: u32, file: &std::path::Path) -> usize {
    std::fs::read_dir(format!("/proc/{daemon}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t == file)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vfs_file_mapped_by_processes_is_the_file_and_read_only_grants_map_read_only() {
    let Some((d, mut user)) =
        kernel("a_vfs_file_mapped_by_processes_is_the_file_and_read_only_grants_map_read_only")
            .await
    else {
        return;
    };
    let mkdir = Call::Mkdir(pb::MakeDirectory {
        path: "/pub".into(),
        parents: false,
    });
    call(&mut user, mkdir).await.unwrap();
    call(&mut user, crate::util::write("/pub/map.bin", &[b'.'; 8192]))
        .await
        .unwrap();
    let host = d.files().join("pub/map.bin");
    let dir = d.files().join("pub").display().to_string();
    let (read, write) = (format!("read:{dir}"), format!("write:{dir}"));

    // One process maps it writable and stores "agentos" at 5000 (msync, munmap).
    let w = peer(
        &mut user,
        &["mmap-put", "/pub/map.bin", "5000", "6167656e746f73"],
        &[&read, &write],
    )
    .await;
    assert_eq!(
        line_of(&mut user, w).await,
        "OK mapped /pub/map.bin wrote 7 at 5000"
    );
    // The host file has them (its size unchanged).
    let bytes = std::fs::read(&host).unwrap();
    assert_eq!((bytes.len(), &bytes[5000..5007]), (8192, &b"agentos"[..]));

    // The host writes too; another process maps it read-only and sees both.
    let f = std::fs::OpenOptions::new().write(true).open(&host).unwrap();
    f.write_all_at(b"host", 4996).unwrap();
    let r = peer(
        &mut user,
        &["mmap-get", "/pub/map.bin", "4996", "11"],
        &[&read],
    )
    .await;
    assert_eq!(
        line_of(&mut user, r).await,
        "OK mapped /pub/map.bin of 8192 read 686f73746167656e746f73"
    );

    // A read-only grant: a writable mapping is refused at the kernel (a denial)…
    let p = peer(
        &mut user,
        &["mmap-put", "/pub/map.bin", "0", "00"],
        &[&read],
    )
    .await;
    let line = line_of(&mut user, p).await;
    assert!(
        line.starts_with("ERR mmap_open") && line.contains("WriteFile"),
        "{line}"
    );
    // …and its read-only descriptor is refused PROT_WRITE|MAP_SHARED by Linux,
    // inside the process.
    let p = peer(&mut user, &["mmap-map-writable", "/pub/map.bin"], &[&read]).await;
    let line = line_of(&mut user, p).await;
    assert!(
        line.starts_with("OK refused mmap") && line.contains("(os error 13)"),
        "{line}"
    );
    // No grant: no descriptor.
    let p = peer(&mut user, &["mmap-get", "/pub/map.bin", "0", "1"], &[]).await;
    let line = line_of(&mut user, p).await;
    assert!(line.starts_with("ERR mmap_open"), "{line}");
    assert_eq!(std::fs::read(&host).unwrap()[..1], *b".", "untouched");
    // The kernel kept none of the descriptors it handed over.
    assert_eq!(fds_on(d.pid(), &host), 0);

    // Bad input: a directory, an in-memory file, a missing file.
    let st = call(&mut user, mmap_open("/pub", false)).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{:?}", error_of(&st));
    call(&mut user, crate::util::write("/tmp/m", b"m"))
        .await
        .unwrap();
    let st = call(&mut user, mmap_open("/tmp/m", true))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unimplemented, "{:?}", error_of(&st));
    let st = call(&mut user, mmap_open("/pub/none", false))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{:?}", error_of(&st));
}
