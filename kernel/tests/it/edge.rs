//! Bad input at the gRPC edge: oversized messages, a batch of 100,000 calls, empty
//! and deeply nested `oneof`s, 1,000 concurrent streams and a client that opens
//! streams and never reads. Each gets a typed status, the daemon keeps serving,
//! and its memory stays bounded: its resident set (`VmRSS`, and the peak `VmHWM`,
//! from `/proc/PID/status`) is read before and after.

use agentos_kernel::syscall::stream::STREAM_BUDGET;
use agentos_proto::v1::{self as pb, stream_open::Op, stream_request::Msg as In, syscall::Call};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::util::{Daemon, call, open_read, req, write};

/// Memory the daemon may take beyond its streams' budget for the connections,
/// tasks and allocator slack of a test (a leak or an unbounded buffer per stream
/// goes far past it: a thousand streams of a few 64 KiB chunks are 320 MiB).
const SLACK: u64 = 128 << 20;

/// Asserts that the daemon's peak resident set grew by at most `limit` over
/// `before`, and that it still answers.
async fn assert_bounded(d: &Daemon, before: u64, limit: u64, what: &str) {
    let peak = d.peak_rss();
    eprintln!(
        "{what}: VmRSS before {} MiB, peak {} MiB, now {} MiB",
        before >> 20,
        peak >> 20,
        d.rss() >> 20
    );
    assert!(
        peak.saturating_sub(before) <= limit,
        "{what}: the daemon's peak RSS grew by {} MiB (limit {} MiB)",
        peak.saturating_sub(before) >> 20,
        limit >> 20
    );
    let mut c = d.client().await;
    call(&mut c, Call::Time(pb::GetTime {}))
        .await
        .expect("the daemon still answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_get_typed_statuses() {
    let d = Daemon::start(&[]);
    let before = d.rss();
    let limit = agentos_client::connect::MAX_MESSAGE;
    // A client that does not hold itself to the limit (ours does).
    let mut c = d.client().await;
    let mut raw = c.raw().clone().max_encoding_message_size(usize::MAX);
    let big = write("/big", &vec![7; limit + 1]);
    let err = raw.execute_syscall(req(big)).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    // The same inside a stream: the open is fine, the chunk is not.
    let open = pb::StreamRequest {
        msg: Some(In::Open(pb::StreamOpen {
            op: Some(Op::Write(pb::StreamWrite {
                path: "/big".into(),
                ..Default::default()
            })),
        })),
    };
    let chunk = pb::StreamRequest {
        msg: Some(In::Chunk(vec![7; limit + 1])),
    };
    let outcome = match raw.stream_syscall(tokio_stream::iter([open, chunk])).await {
        Err(status) => status,
        Ok(resp) => {
            let mut answers = resp.into_inner();
            loop {
                match answers.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(status)) => break status,
                    None => panic!("an oversized chunk ended the stream without a status"),
                }
            }
        }
    };
    assert_eq!(outcome.code(), Code::InvalidArgument, "{outcome:?}");
    assert!(outcome.message().contains("too large"), "{outcome:?}");
    assert!(!d.files().join("big").exists(), "nothing was written");
    assert_bounded(&d, before, 2 * limit as u64 + SLACK, "oversized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_100000_calls_is_refused() {
    let d = Daemon::start(&[]);
    let before = d.rss();
    let mut c = d.client().await;
    let err = c
        .execute_syscall_batch(pb::BatchRequest {
            calls: (0..100_000)
                .map(|_| req(Call::Time(pb::GetTime {})))
                .collect(),
            mode: pb::BatchMode::Parallel as i32,
            stop_on_error: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("at most 10000 calls"), "{err:?}");
    assert_bounded(&d, before, SLACK, "batch").await;
}

/// Bytes sent as they are, as a message (what the generated client never sends).
#[derive(Debug, Default, Clone)]
struct Raw(Vec<u8>);

impl prost::Message for Raw {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        _: u32,
        _: prost::encoding::WireType,
        _: &mut impl prost::bytes::Buf,
        _: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        unreachable!("only sent")
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// A group nested `depth` deep under a field number no message of ours uses:
/// decoders skip unknown fields, and skipping a group recurses.
fn nested_group(depth: usize) -> Raw {
    const FIELD: u32 = 9999;
    let key = |wire: u32| {
        let mut k = Vec::new();
        prost::encoding::encode_varint(u64::from(FIELD << 3 | wire), &mut k);
        k
    };
    let (start, end) = (key(3), key(4));
    Raw([start.repeat(depth), end.repeat(depth)].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_deeply_nested_oneofs_get_typed_statuses() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    // No syscall, and a syscall naming no call.
    for empty in [
        pb::SyscallRequest::default(),
        pb::SyscallRequest {
            syscall: Some(pb::Syscall { call: None }),
            timeout_ms: 0,
        },
    ] {
        let err = c.execute_syscall(empty.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        // In a batch, the empty call is that call's error, not the batch's.
        let batch = c
            .execute_syscall_batch(pb::BatchRequest {
                calls: vec![empty, req(Call::Time(pb::GetTime {}))],
                mode: pb::BatchMode::Sequential as i32,
                stop_on_error: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((batch.succeeded, batch.failed), (1, 1), "{batch:?}");
    }
    let err = c
        .create_process(pb::SpawnProcess { spec: None })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // Streams: no message at all, a first message that is not `open`, an `open`
    // of nothing.
    let firsts: [Vec<pb::StreamRequest>; 3] = [
        vec![],
        vec![pb::StreamRequest { msg: None }],
        vec![pb::StreamRequest {
            msg: Some(In::Open(pb::StreamOpen { op: None })),
        }],
    ];
    for msgs in firsts {
        let err = c
            .stream_syscall(tokio_stream::iter(msgs.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{msgs:?}: {err:?}");
    }
    // Nesting: within prost's recursion limit the unknown group is skipped (and
    // the request names no call); past it, decoding stops with a typed status.
    let channel = agentos_client::uds_channel(&d.socket()).await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/agentos.kernel.v1.KernelService/ExecuteSyscall",
    );
    for (depth, says) in [
        (10, "names no syscall"),
        (1000, "not a valid SyscallRequest"),
    ] {
        grpc.ready().await.unwrap();
        let err = grpc
            .unary::<Raw, pb::SyscallResponse, _>(
                tonic::Request::new(nested_group(depth)),
                path.clone(),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "nesting {depth}: {err:?}"
        );
        assert!(err.message().contains(says), "nesting {depth}: {err:?}");
    }
    // Bytes that are no message at all (a truncated length-delimited field).
    grpc.ready().await.unwrap();
    let err = grpc
        .unary::<Raw, pb::SyscallResponse, _>(
            tonic::Request::new(Raw(vec![0x0a, 0xff, 0x01])),
            path.clone(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    call(&mut c, Call::Time(pb::GetTime {}))
        .await
        .expect("the daemon still answers");
}

/// Opens a stream read of `path` with `chunk`-byte chunks; the status when the
/// kernel refuses it.
async fn open_stream(
    c: &mut crate::util::Client,
    path: &str,
    chunk: u32,
) -> Result<tonic::Streaming<pb::StreamResponse>, tonic::Status> {
    let open = open_read(path, chunk, pb::StreamTransport::Inline);
    c.stream_syscall(tokio_stream::iter([open]))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_streams_each_end_in_done_or_a_typed_status() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    call(&mut c, write("/one-mib", &vec![1; 1 << 20]))
        .await
        .unwrap();
    let before = d.rss();
    let streams = (0..1000).map(|_| {
        let mut c = c.clone();
        tokio::spawn(async move {
            let mut answers = open_stream(&mut c, "/one-mib", 0).await?;
            let mut bytes = 0;
            while let Some(m) = answers.next().await {
                match m?.msg {
                    Some(pb::stream_response::Msg::Done(done)) => return Ok(done.bytes),
                    Some(pb::stream_response::Msg::Chunk(ch)) => bytes += ch.data.len() as u64,
                    other => panic!("unexpected answer {other:?} after {bytes} bytes"),
                }
            }
            panic!("a stream ended without `done` or a status");
        })
    });
    let mut done = 0;
    let mut refused = 0;
    for s in futures_join(streams).await {
        match s.unwrap() {
            Ok(bytes) => {
                assert_eq!(bytes, 1 << 20);
                done += 1;
            }
            Err::<u64, tonic::Status>(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                refused += 1;
            }
        }
    }
    eprintln!("1000 streams: {done} done, {refused} refused (budget full)");
    assert_eq!(done + refused, 1000);
    assert!(done > 0, "no stream was served");
    assert_bounded(&d, before, STREAM_BUDGET as u64 + SLACK, "1000 streams").await;
}

/// Awaits every handle, in order.
async fn futures_join<T>(
    handles: impl IntoIterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let handles: Vec<_> = handles.into_iter().collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_opens_streams_and_never_reads_holds_bounded_memory() {
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    // 64 MiB, in the largest chunks a stream may ask for (4 MiB).
    let file = d.files().join("large");
    std::fs::write(&file, vec![3; 64 << 20]).unwrap();
    let before = d.rss();
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        match open_stream(&mut c, "/large", 4 << 20).await {
            Ok(s) => held.push(s),
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(status.message().contains("budget"), "{status:?}");
                refused += 1;
            }
        }
    }
    eprintln!("never read: {} streams open, {refused} refused", held.len());
    assert!(refused > 0, "200 streams of 4 MiB chunks fit in the budget");
    // Give every open stream's reader the time to fill what it may (the bound
    // holds whatever the time; a short wait would only make the test weaker).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_bounded(&d, before, STREAM_BUDGET as u64 + SLACK, "never read").await;
    // The held streams are intact: the first reads to its end once the others
    // are dropped (on one HTTP/2 connection, streams the client buffers but never
    // reads hold the connection's window, and the client's own, not the kernel,
    // would stall the first).
    let mut first = held.remove(0);
    drop(held);
    let mut bytes = 0;
    while let Some(m) = first.next().await {
        match m.unwrap().msg {
            Some(pb::stream_response::Msg::Chunk(ch)) => bytes += ch.data.len(),
            Some(pb::stream_response::Msg::Done(_)) => break,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(bytes, 64 << 20);
    // Dropping the client's streams gives the budget back: a new one opens.
    drop(first);
    let mut reopened = None;
    for _ in 0..1200 {
        match open_stream(&mut c, "/large", 4 << 20).await {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            // The kernel notices a dropped stream when it next sends on it.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert!(reopened.is_some(), "the budget never came back");
}
