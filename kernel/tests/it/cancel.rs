//! Cancelling real work half-way, checked on the host: a large async copy cancelled
//! with `CancelAsync`, and a large streamed write whose call the client abandons.
//! The destination is the old content (never partial), no temp file is left, and a
//! task reads CANCELLED only once its work has stopped (its temp file is already gone
//! when `CancelAsync` answers, and nothing changes afterwards).

use std::time::{Duration, Instant};

use agentos_proto::v1::{self as pb, stream_open::Op, stream_request::Msg as In, syscall::Call};

use crate::util::{Daemon, call, data, read, req, temp_files_under, write};

const OLD: &[u8] = b"old content";

/// A file of `mib` MiB of non-zero bytes, written on the host behind `/`.
fn big_source(d: &Daemon, name: &str, mib: usize) {
    use std::io::Write;
    let block: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8 + 1).collect();
    let mut f = std::fs::File::create(d.files().join(name)).unwrap();
    for _ in 0..mib {
        f.write_all(&block).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_copy_cancelled_half_way_leaves_the_old_file_and_no_temp() {
    let d = Daemon::start_in_memory(&[]);
    let mut c = d.client().await;
    big_source(&d, "big.bin", 512);
    call(&mut c, write("/dst.bin", OLD)).await.unwrap();
    let id = c
        .execute_syscall_async(req(Call::Copy(pb::CopyFile {
            from: "/big.bin".into(),
            to: "/dst.bin".into(),
        })))
        .await
        .unwrap()
        .into_inner();
    // Half-way, as the task itself and the host both see it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = c.get_async_status(id.clone()).await.unwrap().into_inner();
        assert_eq!(
            st.state,
            pb::TaskState::Running as i32,
            "the copy ended before it could be cancelled: {st:?}"
        );
        if st.progress >= 0.2 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress in 60 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let temps = temp_files_under(&d.files());
    assert_eq!(temps.len(), 1, "the copy writes one temp file: {temps:?}");
    let st = c.cancel_async(id.clone()).await.unwrap().into_inner();
    // Read the host before anything else: if the work were still going, its temp
    // file would still be there.
    let left = temp_files_under(&d.files());
    assert_eq!(st.state, pb::TaskState::Cancelled as i32, "{st:?}");
    assert!(
        left.is_empty(),
        "CANCELLED was answered while the copy's temp file still existed: {left:?}"
    );
    assert!(st.progress < 1.0, "{st:?}");
    assert_eq!(std::fs::read(d.files().join("dst.bin")).unwrap(), OLD);
    // Nothing happens later either: no late rename, no temp file reappearing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(data(call(&mut c, read("/dst.bin")).await.unwrap()), OLD);
    assert!(temp_files_under(&d.files()).is_empty());
    let st = c.get_async_status(id).await.unwrap().into_inner();
    assert_eq!(st.state, pb::TaskState::Cancelled as i32);
    assert!(st.result.is_none());

    // Control: the same copy left alone completes and replaces the content.
    let id = c
        .execute_syscall_async(req(Call::Copy(pb::CopyFile {
            from: "/big.bin".into(),
            to: "/dst.bin".into(),
        })))
        .await
        .unwrap()
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = c.get_async_status(id.clone()).await.unwrap().into_inner();
        if st.state == pb::TaskState::Completed as i32 {
            break;
        }
        assert_eq!(st.state, pb::TaskState::Running as i32, "{st:?}");
        assert!(
            Instant::now() < deadline,
            "the copy did not finish in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let meta = std::fs::metadata(d.files().join("dst.bin")).unwrap();
    assert_eq!(meta.len(), 512 << 20);
    assert!(temp_files_under(&d.files()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_write_abandoned_half_way_leaves_the_old_file_and_no_temp() {
    let d = Daemon::start_in_memory(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/dst.bin", OLD)).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::StreamRequest {
        msg: Some(In::Open(pb::StreamOpen {
            op: Some(Op::Write(pb::StreamWrite {
                path: "/dst.bin".into(),
                append: false,
                ..Default::default()
            })),
        })),
    })
    .await
    .unwrap();
    let resp = c
        .stream_syscall(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    // 64 of 128 MiB, and wait until the host shows them in the temp file.
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..64 {
        tx.send(pb::StreamRequest {
            msg: Some(In::Chunk(chunk.clone())),
        })
        .await
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let temps = temp_files_under(&d.files());
        let size = temps
            .first()
            .and_then(|t| std::fs::metadata(t).ok())
            .map_or(0, |m| m.len());
        if size >= 32 << 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the write did not get half-way: {temps:?} {size}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The client goes away in the middle of the call (RST_STREAM, not a clean end).
    drop(resp);
    drop(tx);
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !temp_files_under(&d.files()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the abandoned write's temp file is still there after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(std::fs::read(d.files().join("dst.bin")).unwrap(), OLD);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(temp_files_under(&d.files()).is_empty());
    let mut c = d.client().await;
    assert_eq!(data(call(&mut c, read("/dst.bin")).await.unwrap()), OLD);
}
