//! Shared-memory streams: read bytes arrive in place in a memfd the client maps,
//! and written ones leave from it (LocalFS on io_uring, LocalFS on std::fs, MemFS);
//! slot numbers travel on the stream's control rings, so the gRPC stream carries
//! two messages however many chunks; tickets are one-shot, slots belong to one
//! side until released, a client that breaks the rings gets INVALID_ARGUMENT
//! while the daemon goes on serving, a cancelled stream gives its region back,
//! and a replace is atomic as inline.

use std::{
    io::{Read, Write},
    os::{fd::OwnedFd, unix::net::UnixStream},
    time::{Duration, Instant},
};

use agentos_client::{
    control::{self, Control, Msg, Side},
    mapping::Mapping,
    ring,
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
    assert_eq!(r.messages(), 2, "{path}: the region and done on the socket");
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

/// A shared-memory stream driven by hand, as any client could: its announcement,
/// the control segment claimed (the region's ticket is left alone), the client's
/// ends of the rings, and the kernel's answers.
struct Raw {
    region: pb::SharedRegion,
    segment: OwnedFd,
    control: Control,
    resp: tonic::Streaming<pb::StreamResponse>,
}

impl Raw {
    /// Opens a stream with `requests` (the `open` first).
    async fn open(c: &mut Client, requests: Vec<pb::StreamRequest>) -> Self {
        let mut resp = c
            .stream_syscall(tokio_stream::iter(requests))
            .await
            .unwrap()
            .into_inner();
        let Some(Out::Region(region)) = resp.next().await.unwrap().unwrap().msg else {
            panic!("the region comes first");
        };
        let ticket = pb::FdTicket {
            ticket: region.control_ticket.clone(),
        };
        let segment = c.claim_fd(&ticket).await.unwrap();
        let control = Control::attach(&segment, Side::Client).unwrap();
        Self {
            region,
            segment,
            control,
            resp,
        }
    }

    /// `FULL` messages until none comes for 300 ms: their slots.
    fn announced(&mut self) -> Vec<u32> {
        let mut slots = vec![];
        loop {
            match self.control.recv(Duration::from_millis(300)) {
                Ok(Msg::Full { slot, .. }) => slots.push(slot),
                Err(ring::RingError::Timeout(_)) => return slots,
                other => panic!("a read announces slots: {other:?}"),
            }
        }
    }

    /// Writes `bytes` at `at` of the control segment, as a client scribbling on it.
    fn scribble(&self, at: usize, bytes: &[u8]) {
        let map = Mapping::new(&self.segment, control::SEGMENT_BYTES, true).unwrap();
        map.write(at, bytes).unwrap();
    }

    /// How the stream ended: the kernel's next message on the gRPC stream.
    async fn end(&mut self) -> Result<pb::StreamResponse, tonic::Status> {
        tokio::time::timeout(Duration::from_secs(10), self.resp.next())
            .await
            .expect("the stream ends")
            .expect("with a status or done")
    }
}

/// Whether the kernel sends nothing on the gRPC stream for 200 ms.
async fn quiet(resp: &mut tonic::Streaming<pb::StreamResponse>) -> bool {
    tokio::time::timeout(Duration::from_millis(200), resp.next())
        .await
        .is_err()
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
    // once on the ring, then the kernel waits; the gRPC stream says nothing meanwhile.
    let mut raw = Raw::open(&mut c, vec![open_shared("/f.bin", 4096)]).await;
    // 4 KiB chunks get the most slots (64), a 256 KiB region
    assert_eq!(
        (raw.region.slots, raw.region.slot_size, raw.region.size),
        (64, 4096, 64 * 4096)
    );
    let mut slots = raw.announced();
    slots.sort_unstable();
    assert_eq!(
        slots,
        (0..64).collect::<Vec<_>>(),
        "every slot once, none reused"
    );
    assert!(
        quiet(&mut raw.resp).await,
        "no message per chunk on the socket"
    );
    // One slot back: exactly one more chunk, in that slot.
    raw.control
        .send(Msg::Free { slot: 9 }, Duration::ZERO)
        .unwrap();
    assert_eq!(raw.announced(), [9]);
    drop(raw);
    wait_for_no_regions(d.pid());

    // A release of a slot never handed out is refused, on the gRPC stream.
    let mut raw = Raw::open(&mut c, vec![open_shared("/f.bin", 4096)]).await;
    raw.control
        .send(Msg::Free { slot: 9999 }, Duration::ZERO)
        .unwrap();
    let st = raw.end().await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("slot 9999"), "{st:?}");
    // The failed stream withdrew its region's offer.
    assert_eq!(present(&d, &raw.region.ticket).0, 1);
    drop(raw);

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
    for ticket in [&region.ticket, &region.control_ticket] {
        assert_eq!(present(&d, ticket).0, 0);
        assert_eq!(
            present(&d, ticket),
            (1, "unknown, used or expired ticket".into())
        );
    }
    drop((resp, tx2));
    wait_for_no_regions(d.pid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_shared_read_gives_its_region_back() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    // larger than the region (4 slots of 1 MiB), so the kernel must wait for slots
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
async fn a_shared_stream_takes_two_grpc_messages_however_many_chunks() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    // 4 KiB chunks: 64 slots, and 3 times as many chunks, so slots come back on
    // the ring and are refilled.
    const LEN: usize = 192 * 4096 + 100;
    call(&mut c, write("/f.bin", &pattern(0, LEN)))
        .await
        .unwrap();
    let mut r = c.read_shared("/f.bin", 0, 0, 4096).await.unwrap();
    let (mut chunks, mut expect) = (0, 0u64);
    while let Some(ch) = r.next_chunk().await.unwrap() {
        assert!(*ch == pattern(expect, ch.len())[..], "bytes at {expect}");
        expect += ch.len() as u64;
        chunks += 1;
    }
    assert_eq!((chunks, r.bytes()), (193, Some(LEN as u64)));
    assert_eq!(r.messages(), 2, "the region and done, for {chunks} chunks");
    // A write: 3 regions' worth of slots named on the ring, none on the socket.
    let content = pattern(0, LEN);
    let mut w = c.write_shared("/w.bin", false, 4096).await.unwrap();
    w.write(&content).await.unwrap();
    assert_eq!(w.messages(), 1, "only the region while 193 chunks went by");
    assert_eq!(w.finish().await.unwrap(), LEN as u64);
    assert!(data(call(&mut c, read("/w.bin")).await.unwrap()) == content);
}

/// What a hostile client does to a read's control rings once the kernel holds
/// no free slot (it waits on the client's ring), and what the kernel answers.
#[derive(Clone, Copy, Debug)]
enum Breach {
    SlotOutOfRange,
    FullOnARead,
    Malformed,
    HeadScribbled,
    TailScribbled,
}

impl Breach {
    fn commit(self, raw: &mut Raw) {
        let to_kernel = control::RING_BYTES;
        match self {
            Breach::SlotOutOfRange => raw.control.send(Msg::Free { slot: 9999 }, Duration::ZERO),
            Breach::FullOnARead => {
                let full = Msg::Full {
                    slot: 0,
                    offset: 0,
                    len: 1,
                };
                raw.control.send(full, Duration::ZERO)
            }
            Breach::Malformed => {
                // Bytes no control message has, through a ring of its own on the
                // client's side (nothing was sent there yet, so its position agrees).
                let map =
                    Mapping::at(&raw.segment, to_kernel as u64, control::RING_BYTES, true).unwrap();
                let mut ring = ring::Producer::attach(map).unwrap();
                ring.send(b"\x07junk", Duration::ZERO)
            }
            Breach::HeadScribbled => {
                raw.scribble(to_kernel + ring::HEAD_AT, &(1u64 << 40).to_le_bytes());
                Ok(())
            }
            Breach::TailScribbled => {
                // The kernel reads the client's position on its own ring when it
                // next sends: after a good release, for the refilled slot.
                raw.scribble(ring::TAIL_AT, &(1u64 << 40).to_le_bytes());
                raw.control.send(Msg::Free { slot: 0 }, Duration::ZERO)
            }
        }
        .unwrap();
    }

    fn says(self) -> &'static str {
        match self {
            Breach::SlotOutOfRange => "slot 9999",
            Breach::FullOnARead => "only `FREE`",
            Breach::Malformed => "a control message of 5 bytes",
            Breach::HeadScribbled | Breach::TailScribbled => "broke the stream's control ring",
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_breaking_the_control_rings_gets_invalid_argument_and_the_daemon_stays_up() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    // 1 MiB in 4 KiB chunks: more than the 64 slots, so the kernel waits on the ring.
    call(&mut c, write("/f.bin", &pattern(0, 1 << 20)))
        .await
        .unwrap();
    for breach in [
        Breach::SlotOutOfRange,
        Breach::FullOnARead,
        Breach::Malformed,
        Breach::HeadScribbled,
        Breach::TailScribbled,
    ] {
        let mut raw = Raw::open(&mut c, vec![open_shared("/f.bin", 4096)]).await;
        assert_eq!(raw.announced().len(), 64, "{breach:?}");
        breach.commit(&mut raw);
        let st = raw.end().await.unwrap_err();
        assert_eq!(
            st.code(),
            tonic::Code::InvalidArgument,
            "{breach:?}: {st:?}"
        );
        assert!(st.message().contains(breach.says()), "{breach:?}: {st:?}");
        drop(raw);
        wait_for_no_regions(d.pid());
    }
    // The daemon goes on serving, shared reads included.
    assert_eq!(read_and_check(&mut c, "/f.bin", 0, 0, 4096).await, 1 << 20);
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
    let full = |slot, offset, len| Msg::Full { slot, offset, len };
    let cases = [
        (full(9999, 0, 1), "slot 9999"),
        (full(0, 0, 4097), "4097 bytes"),
        (full(0, 5, 1), "offset 5"),
        (Msg::Free { slot: 0 }, "only `FULL` and `END`"),
    ];
    for (bad, says) in cases {
        let mut raw = Raw::open(&mut c, vec![open.clone()]).await;
        raw.control.send(bad, Duration::ZERO).unwrap();
        let st = raw.end().await.unwrap_err();
        assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
        assert!(st.message().contains(says), "{says}: {st:?}");
    }
    // Slots travel on the rings: a chunk on the gRPC stream is refused.
    let chunk = pb::StreamRequest {
        msg: Some(In::Chunk(vec![1])),
    };
    let mut resp = c
        .stream_syscall(tokio_stream::iter([open, chunk]))
        .await
        .unwrap()
        .into_inner();
    let Some(Out::Region(_)) = resp.next().await.unwrap().unwrap().msg else {
        panic!("the region comes first");
    };
    let st = resp.next().await.unwrap().unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("no message after `open`"), "{st:?}");
    assert!(temp_files_under(&d.files()).is_empty());
    assert_eq!(
        call(&mut c, read("/w.bin")).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}
