//! StreamSyscall: a 1 GiB streamed write and read (inline and through shared
//! memory) in constant daemon memory,
//! cancellation by dropping the stream, and writes that never finish.

use agentos_proto::v1::{
    self as pb, stream_open::Op, stream_request::Msg as In, stream_response::Msg as Out,
    syscall::Call,
};
use tokio_stream::StreamExt;

use crate::util::{Client, Daemon, call, data, read, temp_files_under, write};

const GIB: u64 = 1 << 30;
const CHUNK: usize = 1 << 20;

/// Byte `i` of the test pattern: position-dependent, so misplaced chunks are caught.
fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((offset + i) % 251) as u8)
        .collect()
}

fn open_write(path: &str, append: bool) -> pb::StreamRequest {
    pb::StreamRequest {
        msg: Some(In::Open(pb::StreamOpen {
            op: Some(Op::Write(pb::StreamWrite {
                path: path.into(),
                append,
                ..Default::default()
            })),
        })),
    }
}

fn open_read(path: &str, chunk_size: u32) -> pb::StreamRequest {
    crate::util::open_read(path, chunk_size, pb::StreamTransport::Inline)
}

async fn stream_write(c: &mut Client, path: &str, total: u64) -> u64 {
    let path = path.to_owned();
    let outbound = async_stream(path, total);
    let mut resp = c.stream_syscall(outbound).await.unwrap().into_inner();
    match resp.next().await.unwrap().unwrap().msg {
        Some(Out::Done(d)) => d.bytes,
        other => panic!("expected done, got {other:?}"),
    }
}

fn async_stream(path: String, total: u64) -> impl tokio_stream::Stream<Item = pb::StreamRequest> {
    let chunks = (0..total.div_ceil(CHUNK as u64)).map(move |i| {
        let off = i * CHUNK as u64;
        pb::StreamRequest {
            msg: Some(In::Chunk(pattern(off, CHUNK.min((total - off) as usize)))),
        }
    });
    tokio_stream::iter(
        std::iter::once(open_write(&path, false))
            .chain(chunks)
            .chain(std::iter::once(pb::StreamRequest {
                msg: Some(In::Finish(pb::StreamFinish {})),
            })),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_streams_through_in_constant_memory() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    assert_eq!(stream_write(&mut c, "/big.bin", GIB).await, GIB);
    assert_eq!(
        std::fs::metadata(d.files().join("big.bin")).unwrap().len(),
        GIB
    );

    let mut resp = c
        .stream_syscall(tokio_stream::iter([open_read("/big.bin", CHUNK as u32)]))
        .await
        .unwrap()
        .into_inner();
    let mut expect = 0u64;
    let mut done = None;
    while let Some(msg) = resp.next().await {
        match msg.unwrap().msg {
            Some(Out::Chunk(chunk)) => {
                assert_eq!(chunk.offset, expect);
                assert!(chunk.data.len() <= CHUNK);
                // Check a sample of every chunk (checking all of it would dominate the test).
                let n = chunk.data.len();
                assert_eq!(&chunk.data[..64.min(n)], &pattern(expect, 64.min(n))[..]);
                assert_eq!(chunk.data[n - 1], pattern(expect + n as u64 - 1, 1)[0]);
                expect += n as u64;
            }
            Some(Out::Done(d)) => done = Some(d.bytes),
            other => panic!("an inline read sent {other:?}"),
        }
    }
    assert_eq!((expect, done), (GIB, Some(GIB)));
    // The same file through shared memory: a 16 MiB region of 1 MiB slots.
    let mut shared = c.read_shared("/big.bin", 0, 0, CHUNK as u32).await.unwrap();
    let mut expect = 0u64;
    while let Some(chunk) = shared.next_chunk().await.unwrap() {
        assert_eq!(chunk.offset, expect);
        let n = chunk.len();
        assert_eq!(&chunk[..64.min(n)], &pattern(expect, 64.min(n))[..]);
        assert_eq!(chunk[n - 1], pattern(expect + n as u64 - 1, 1)[0]);
        expect += n as u64;
    }
    assert_eq!((expect, shared.bytes()), (GIB, Some(GIB)));
    let rss = d.peak_rss();
    assert!(
        rss < 200 << 20,
        "daemon peak RSS {} MiB after streaming 1 GiB",
        rss >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_sizes_are_the_callers_and_checked() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/tmp/f", &pattern(0, 10_000)))
        .await
        .unwrap();
    let mut resp = c
        .stream_syscall(tokio_stream::iter([open_read("/tmp/f", 4096)]))
        .await
        .unwrap()
        .into_inner();
    let mut sizes = vec![];
    while let Some(m) = resp.next().await {
        if let Some(Out::Chunk(ch)) = m.unwrap().msg {
            sizes.push(ch.data.len());
        }
    }
    assert_eq!(sizes, [4096, 4096, 1808]);
    let st = c
        .stream_syscall(tokio_stream::iter([open_read("/tmp/f", 64 << 20)]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
    let st = c
        .stream_syscall(tokio_stream::iter([pb::StreamRequest {
            msg: Some(In::Chunk(vec![1])),
        }]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_stream_dropped_before_finish_changes_nothing() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/keep.txt", b"old content"))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(open_write("/keep.txt", false)).await.unwrap();
    tx.send(pb::StreamRequest {
        msg: Some(In::Chunk(vec![b'x'; 4096])),
    })
    .await
    .unwrap();
    let mut resp = c
        .stream_syscall(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    drop(tx); // the client goes away without `finish`
    let end = resp.next().await;
    assert!(
        matches!(end, Some(Err(ref st)) if st.code() == tonic::Code::Cancelled),
        "{end:?}"
    );
    assert_eq!(
        data(call(&mut c, read("/keep.txt")).await.unwrap()),
        b"old content"
    );
    assert!(temp_files_under(&d.files()).is_empty());
    // And a read stream dropped mid-way leaves the daemon serving.
    call(&mut c, write("/tmp/big", &vec![7; 4 << 20]))
        .await
        .unwrap();
    let mut resp = c
        .stream_syscall(tokio_stream::iter([open_read("/tmp/big", 4096)]))
        .await
        .unwrap()
        .into_inner();
    resp.next().await.unwrap().unwrap();
    drop(resp);
    let _ = call(
        &mut c,
        Call::Exists(pb::FileExists {
            path: "/tmp/big".into(),
        }),
    )
    .await
    .unwrap();
}
