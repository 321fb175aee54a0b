//! Shared-memory streams: read bytes arrive in place in a memfd the client maps,
//! and written ones leave from it (LocalFS on io_uring, LocalFS on std::fs, MemFS);
//! tickets are one-shot, slots belong to one side until released, a cancelled
//! stream gives its region back, and a replace is atomic as inline.

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    time::{Duration, Instant},
};

use agentos_proto::v1::{
    self as pb, stream_open::Op, stream_request::Msg as In, stream_response::Msg as Out,
};
use tokio_stream::StreamExt;

use crate::util::{
    Client, Daemon, call, data, free_loopback_addr, read, temp_files_under, wait_for_tcp, write,
};

/// Byte `i` of the test pattern: position-dependent, so misplaced chunks are caught.
fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((offset + i) % 251) as u8)
        .collect()
}

/// Reads `path` through shared memory and checks every byte against the pattern.
async fn read_and_check(c: &mut Client, path: &str, offset: u64, length: u64, chunk: u32) -> u64 {
    let mut r = c.read_shared(path, offset, length, chunk).await.unwrap();
    let mut expect = offset;
    while let Some(ch) = r.next_chunk().await.unwrap() {
        assert_eq!(ch.offset, expect, "{path}: chunks in order");
        assert!(ch.len() <= chunk as usize && !ch.is_empty());
        assert!(
            *ch == pattern(expect, ch.len())[..],
            "{path}: bytes at {expect}"
        );
        expect += ch.len() as u64;
    }
    assert_eq!(r.bytes(), Some(expect - offset));
    expect - offset
}

/// The daemon's memfd regions still open or mapped (their names start `agentos-stream`).
fn live_regions(pid: u32) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().contains("agentos-stream"))
        .count();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    fds + maps
        .lines()
        .filter(|l| l.contains("agentos-stream"))
        .count()
}

fn wait_for_no_regions(pid: u32) {
    let until = Instant::now() + Duration::from_secs(5);
    while live_regions(pid) > 0 {
        assert!(Instant::now() < until, "the daemon still holds a region");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_reads_deliver_every_byte_on_every_backend() {
    const LEN: usize = (3 << 20) + 12_345;
    for backend in ["auto", "portable"] {
        let d = Daemon::start(&["--vfs-backend", backend]);
        let mut c = d.client().await;
        // `/` is LocalFS, `/tmp` MemFS.
        for path in ["/f.bin", "/tmp/f.bin"] {
            call(&mut c, write(path, &pattern(0, LEN))).await.unwrap();
            assert_eq!(
                read_and_check(&mut c, path, 0, 0, 1 << 20).await,
                LEN as u64
            );
            // a sub-range, with chunks that do not divide it
            assert_eq!(
                read_and_check(&mut c, path, 1000, 100_000, 7000).await,
                100_000
            );
            // past the end: nothing, and done
            assert_eq!(
                read_and_check(&mut c, path, LEN as u64 + 5, 0, 4096).await,
                0
            );
        }
        // more chunks than slots, one byte each
        assert_eq!(read_and_check(&mut c, "/f.bin", 0, 9, 1).await, 9);
        wait_for_no_regions(d.pid());
    }
}

fn open_shared(path: &str, chunk_size: u32) -> pb::StreamRequest {
    crate::util::open_read(path, chunk_size, pb::StreamTransport::SharedMemory)
}

/// A shared read of `/f.bin` in 4 KiB chunks whose client sends `releases` and
/// closes its side: the region, the slots announced, and how the stream ended.
async fn shared_stream(
    c: &mut Client,
    releases: Vec<u32>,
) -> (
    (pb::SharedRegion, Vec<u32>),
    Result<pb::StreamResponse, tonic::Status>,
) {
    let requests =
        std::iter::once(open_shared("/f.bin", 4096)).chain(releases.into_iter().map(|s| {
            pb::StreamRequest {
                msg: Some(In::Release(s)),
            }
        }));
    let mut resp = c
        .stream_syscall(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let Some(Out::Region(region)) = resp.next().await.unwrap().unwrap().msg else {
        panic!("the region comes first");
    };
    let mut slots = vec![];
    let end = loop {
        match resp
            .next()
            .await
            .expect("the stream ends with a status or done")
        {
            Ok(pb::StreamResponse {
                msg: Some(Out::Shared(s)),
            }) => slots.push(s.slot),
            other => break other,
        }
    };
    ((region, slots), end)
}

/// Presents `ticket` on the fd socket; the reply's first byte (0: the fd came) and
/// text, or `(0xff, "")` when the kernel hung up without a word.
fn present(d: &Daemon, ticket: &[u8]) -> (u8, String) {
    let mut s = UnixStream::connect(d.data_dir().join("kernel.fds.sock")).unwrap();
    s.write_all(ticket).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    match reply.split_first() {
        Some((&first, text)) => (first, String::from_utf8_lossy(text).into_owned()),
        None => (0xff, String::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_one_shot_and_slots_are_the_clients_until_released() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/f.bin", &pattern(0, 100 * 4096)))
        .await
        .unwrap();

    assert_eq!(
        present(&d, &[0; 16]),
        (1, "unknown, used or expired ticket".into())
    );
    assert_eq!(
        present(&d, b"short").0,
        0xff,
        "a short ticket gets no answer"
    );

    // A client that never releases gets exactly one region's worth: every slot
    // once, then the kernel waits, and ends the stream when the client's side closes.
    let (resp, end) = shared_stream(&mut c, vec![]).await;
    let (region, mut slots) = resp;
    // 4 KiB chunks get the most slots (64), a 256 KiB region
    assert_eq!(
        (region.slots, region.slot_size, region.size),
        (64, 4096, 64 * 4096)
    );
    slots.sort_unstable();
    assert_eq!(
        slots,
        (0..64).collect::<Vec<_>>(),
        "every slot once, none reused"
    );
    let st = end.unwrap_err();
    assert_eq!(st.code(), tonic::Code::Cancelled, "{st:?}");

    // A release of a slot never handed out is refused.
    let ((region, slots), end) = shared_stream(&mut c, vec![9999]).await;
    assert!(slots.len() <= 64);
    let st = end.unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("slot 9999"), "{st:?}");
    // The failed stream withdrew its offer.
    assert_eq!(present(&d, &region.ticket).0, 1);

    // A good ticket works once.
    let (tx2, rx2) = tokio::sync::mpsc::unbounded_channel();
    tx2.send(open_shared("/f.bin", 4096)).unwrap();
    let mut resp = c
        .stream_syscall(tokio_stream::wrappers::UnboundedReceiverStream::new(rx2))
        .await
        .unwrap()
        .into_inner();
    let Some(Out::Region(region)) = resp.next().await.unwrap().unwrap().msg else {
        panic!("the region comes first");
    };
    assert_eq!(present(&d, &region.ticket).0, 0);
    assert_eq!(
        present(&d, &region.ticket),
        (1, "unknown, used or expired ticket".into())
    );
    drop((resp, tx2));
    wait_for_no_regions(d.pid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_shared_read_gives_its_region_back() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    // larger than the region (16 slots of 1 MiB), so the kernel must wait for slots
    std::fs::write(d.files().join("f.bin"), pattern(0, 32 << 20)).unwrap();
    let mut r = c.read_shared("/f.bin", 0, 0, 1 << 20).await.unwrap();
    let first = r.next_chunk().await.unwrap().unwrap();
    assert_eq!(first.len(), 1 << 20);
    drop(first);
    assert!(live_regions(d.pid()) > 0, "the region is live mid-stream");
    drop(r);
    wait_for_no_regions(d.pid());
    // and the daemon goes on serving shared reads
    assert_eq!(
        read_and_check(&mut c, "/f.bin", 0, 0, 1 << 20).await,
        32 << 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_reads_need_the_unix_socket() {
    let addr = free_loopback_addr();
    let d = Daemon::start(&["--tcp", &addr.to_string()]);
    wait_for_tcp(addr).await;
    let mut uds = d.client().await;
    call(&mut uds, write("/f.bin", b"x")).await.unwrap();
    let mut tcp = Client::connect_tcp_with_data_dir(addr, &d.data_dir())
        .await
        .unwrap();
    // The typed client knows it has no fd socket ...
    let e = tcp.read_shared("/f.bin", 0, 0, 0).await.err().unwrap();
    assert!(e.to_string().contains("Unix-socket"), "{e}");
    // ... and the kernel refuses the transport on TCP anyway.
    let st = tcp
        .stream_syscall(tokio_stream::iter([open_shared("/f.bin", 0)]))
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::FailedPrecondition, "{st:?}");
}

/// Writes `content` to `path` through shared memory in `piece`-byte calls.
async fn write_shared(
    c: &mut Client,
    path: &str,
    append: bool,
    content: &[u8],
    piece: usize,
) -> u64 {
    let mut w = c.write_shared(path, append, 64 << 10).await.unwrap();
    for p in content.chunks(piece) {
        w.write(p).await.unwrap();
    }
    w.finish().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_writes_land_every_byte_on_every_backend() {
    const LEN: usize = (3 << 20) + 12_345;
    let content = pattern(0, LEN);
    for backend in ["auto", "portable"] {
        let d = Daemon::start(&["--vfs-backend", backend]);
        let mut c = d.client().await;
        for path in ["/w.bin", "/tmp/w.bin"] {
            // pieces that straddle slots (64 KiB): the region is reused many times over
            assert_eq!(
                write_shared(&mut c, path, false, &content, 100_003).await,
                LEN as u64
            );
            assert!(
                data(call(&mut c, read(path)).await.unwrap()) == content,
                "{backend} {path}"
            );
            // append after it
            assert_eq!(write_shared(&mut c, path, true, b"tail", 4).await, 4);
            let got = data(call(&mut c, read(path)).await.unwrap());
            assert_eq!((got.len(), &got[LEN..]), (LEN + 4, &b"tail"[..]));
        }
        wait_for_no_regions(d.pid());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_replace_dropped_before_finish_changes_nothing() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/keep.txt", b"old content"))
        .await
        .unwrap();
    let mut w = c.write_shared("/keep.txt", false, 4096).await.unwrap();
    w.write(&[b'x'; 100_000]).await.unwrap();
    drop(w);
    wait_for_no_regions(d.pid());
    assert_eq!(
        data(call(&mut c, read("/keep.txt")).await.unwrap()),
        b"old content"
    );
    assert!(temp_files_under(&d.files()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_writes_refuse_what_the_protocol_does_not_allow() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let open = pb::StreamRequest {
        msg: Some(In::Open(pb::StreamOpen {
            op: Some(Op::Write(pb::StreamWrite {
                path: "/w.bin".into(),
                append: false,
                transport: pb::StreamTransport::SharedMemory as i32,
                chunk_size: 4096,
            })),
        })),
    };
    let shared = |slot, offset, len| pb::StreamRequest {
        msg: Some(In::Shared(pb::SharedChunk { slot, offset, len })),
    };
    let cases = [
        (shared(9999, 0, 1), "slot 9999"),
        (shared(0, 0, 4097), "4097 bytes"),
        (shared(0, 5, 1), "offset 5"),
        (
            pb::StreamRequest {
                msg: Some(In::Chunk(vec![1])),
            },
            "only `shared` and `finish`",
        ),
    ];
    for (bad, says) in cases {
        let mut resp = c
            .stream_syscall(tokio_stream::iter([open.clone(), bad]))
            .await
            .unwrap()
            .into_inner();
        let Some(Out::Region(_)) = resp.next().await.unwrap().unwrap().msg else {
            panic!("the region comes first");
        };
        let st = resp.next().await.unwrap().unwrap_err();
        assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
        assert!(st.message().contains(says), "{says}: {st:?}");
    }
    assert!(temp_files_under(&d.files()).is_empty());
    assert_eq!(
        call(&mut c, read("/w.bin")).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}
