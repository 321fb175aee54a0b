//! Kernel benchmarks, each beside its raw baseline in the same run:
//!
//! * `trivial_syscall`: `exists` over the Unix socket vs a bare tonic echo RPC on the
//!   same transport (target: kernel p50 ≤ 1.5× echo);
//! * `batch_100`: one batch of 100 `exists` vs 100 single calls (target: the batch
//!   ≤ 3× one single call);
//! * `stream_1gib`: a 1 GiB inline `StreamSyscall` read vs a raw io_uring read of
//!   the same file with the same block size (target: ≥ 70 % of the raw
//!   throughput); the shared-memory read is the ipc bench's `shm_stream_read_1GiB`;
//! * `stream_write_256mib`: a 256 MiB `StreamSyscall` replace, inline and through
//!   shared memory, vs a raw io_uring write of the same bytes (each ends in fsync);
//! * `read_4k`: a 4 KiB file through LocalFS's io_uring path vs `std::fs::read`.
//!
//! Both servers run in this process on their own multi-thread runtime; the client
//! runs on a current-thread runtime, as a caller would.
//!
//! The targets are stated on medians, and criterion's estimates are means that one
//! VM hiccup can move; so before the criterion groups, `interleaved_p50` times the
//! contenders call by call, alternating them so that drift hits both alike, and
//! prints their medians and ratios.

use std::{fs, path::PathBuf, sync::Arc, time::Duration};

use agentos_kernel::vfs::{
    MountFs, Vfs, VirtPath,
    local::{LocalFs, RingChoice, RingHandle},
};
use agentos_proto::{
    bench::v1::{
        EchoMessage,
        echo_client::EchoClient,
        echo_server::{Echo, EchoServer},
    },
    v1::{
        self as pb, stream_open::Op, stream_request::Msg as In, stream_response::Msg as Out,
        syscall::Call,
    },
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, transport::Endpoint};

mod support;

use support::{EmbeddedKernel, uring};

const GIB: u64 = 1 << 30;
const STREAM_CHUNK: usize = 1 << 20;
const WRITE_TOTAL: usize = 256 << 20;

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(&self, req: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        Ok(Response::new(req.into_inner()))
    }
}

/// The servers: the kernel and the echo baseline, on the kernel's runtime.
/// Dropping it stops both (see [`EmbeddedKernel`]).
struct Servers(EmbeddedKernel);

impl Servers {
    fn start() -> Self {
        let kernel = EmbeddedKernel::start();
        let echo_socket = kernel.path().join("echo.sock");
        let listener = kernel
            .runtime
            .block_on(async { tokio::net::UnixListener::bind(&echo_socket) })
            .unwrap();
        kernel.runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(EchoServer::new(EchoService))
                .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
        );
        Self(kernel)
    }

    fn kernel_socket(&self) -> PathBuf {
        self.0.socket()
    }

    fn files(&self) -> PathBuf {
        self.0.files()
    }
}

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn echo_client(socket: PathBuf) -> EchoClient<tonic::transport::Channel> {
    let ch = Endpoint::from_static("http://echo")
        .connect_with_connector(tower::service_fn(move |_| {
            let s = socket.clone();
            async move { tokio::net::UnixStream::connect(s).await.map(TokioIo::new) }
        }))
        .await
        .unwrap();
    EchoClient::new(ch)
}

fn exists(path: &str) -> pb::SyscallRequest {
    pb::SyscallRequest {
        syscall: Some(pb::Syscall {
            call: Some(Call::Exists(pb::FileExists { path: path.into() })),
        }),
        timeout_ms: 0,
    }
}

fn rpc(c: &mut Criterion) {
    let servers = Servers::start();
    let rt = client_runtime();
    let mut kernel = rt
        .block_on(agentos_client::Client::connect_uds(
            &servers.kernel_socket(),
        ))
        .unwrap();
    let mut echo = rt.block_on(echo_client(servers.0.path().join("echo.sock")));
    fs::write(servers.files().join("present"), b"x").unwrap();
    interleaved_p50(&rt, &mut kernel, &mut echo);

    let mut g = c.benchmark_group("trivial_syscall");
    g.bench_function("baseline_tonic_echo_uds", |b| {
        b.iter(|| {
            rt.block_on(echo.echo(EchoMessage {
                payload: b"/present".to_vec(),
            }))
            .unwrap()
        })
    });
    g.bench_function("kernel_exists_uds", |b| {
        b.iter(|| {
            rt.block_on(kernel.execute_syscall(exists("/present")))
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("batch_100");
    g.bench_function("baseline_one_single_call", |b| {
        b.iter(|| {
            rt.block_on(kernel.execute_syscall(exists("/present")))
                .unwrap()
        })
    });
    g.bench_function("100_single_calls", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..100 {
                    kernel.execute_syscall(exists("/present")).await.unwrap();
                }
            })
        })
    });
    for (name, mode) in [
        ("batch_of_100_sequential", pb::BatchMode::Sequential),
        ("batch_of_100_parallel", pb::BatchMode::Parallel),
    ] {
        let req = pb::BatchRequest {
            calls: (0..100).map(|_| exists("/present")).collect(),
            mode: mode as i32,
            stop_on_error: false,
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(kernel.execute_syscall_batch(req.clone()))
                    .unwrap()
            })
        });
    }
    g.finish();

    // 1 GiB file, written once; reads come from the page cache for both contenders.
    let big = servers.files().join("big.bin");
    uring::write_file(&big, GIB, STREAM_CHUNK);
    let mut g = c.benchmark_group("stream_1gib");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(GIB));
    g.bench_function("baseline_raw_io_uring_read_1mib_blocks", |b| {
        b.iter(|| uring::read(&big, STREAM_CHUNK))
    });
    g.bench_function("kernel_stream_read_1mib_chunks", |b| {
        b.iter(|| {
            rt.block_on(async {
                let open = pb::StreamRequest {
                    msg: Some(In::Open(pb::StreamOpen {
                        op: Some(Op::Read(pb::StreamRead {
                            path: "/big.bin".into(),
                            offset: 0,
                            length: 0,
                            chunk_size: STREAM_CHUNK as u32,
                            transport: pb::StreamTransport::Inline as i32,
                        })),
                    })),
                };
                let mut s = kernel
                    .stream_syscall(tokio_stream::iter([open]))
                    .await
                    .unwrap()
                    .into_inner();
                let mut n = 0u64;
                while let Some(m) = s.next().await {
                    if let Some(Out::Chunk(ch)) = m.unwrap().msg {
                        n += ch.data.len() as u64;
                    }
                }
                assert_eq!(n, GIB);
            })
        })
    });
    g.finish();
    let _ = fs::remove_file(&big);

    let mut g = c.benchmark_group("stream_write_256mib");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(WRITE_TOTAL as u64));
    let block: Vec<u8> = (0..STREAM_CHUNK).map(|i| i as u8).collect();
    let raw_target = servers.files().join("raw.bin");
    g.bench_function("baseline_raw_io_uring_write_1mib_blocks_fsync", |b| {
        b.iter(|| uring::write(&raw_target, &block, WRITE_TOTAL))
    });
    g.bench_function("kernel_stream_write_1mib_chunks", |b| {
        b.iter(|| {
            let open = pb::StreamRequest {
                msg: Some(In::Open(pb::StreamOpen {
                    op: Some(Op::Write(pb::StreamWrite {
                        path: "/w.bin".into(),
                        ..Default::default()
                    })),
                })),
            };
            let owned = block.clone();
            let chunks = (0..WRITE_TOTAL / STREAM_CHUNK).map(move |_| pb::StreamRequest {
                msg: Some(In::Chunk(owned.clone())),
            });
            let finish = pb::StreamRequest {
                msg: Some(In::Finish(pb::StreamFinish {})),
            };
            let requests = std::iter::once(open)
                .chain(chunks)
                .chain(std::iter::once(finish));
            rt.block_on(async {
                let mut s = kernel
                    .stream_syscall(tokio_stream::iter(requests))
                    .await
                    .unwrap()
                    .into_inner();
                let Some(Out::Done(d)) = s.next().await.unwrap().unwrap().msg else {
                    panic!("the write did not finish");
                };
                assert_eq!(d.bytes, WRITE_TOTAL as u64);
            })
        })
    });
    g.bench_function("kernel_stream_write_shared_memory_1mib_chunks", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut w = kernel
                    .write_shared("/w.bin", false, STREAM_CHUNK as u32)
                    .await
                    .unwrap();
                for _ in 0..WRITE_TOTAL / STREAM_CHUNK {
                    w.write(&block).await.unwrap();
                }
                assert_eq!(w.finish().await.unwrap(), WRITE_TOTAL as u64);
            })
        })
    });
    g.finish();
    let _ = fs::remove_file(&raw_target);
    let _ = fs::remove_file(servers.files().join("w.bin"));
}

/// Rounds of the interleaved comparison; each times every contender once.
const ROUNDS: usize = 3000;

/// Times echo, `exists` and a parallel batch of 100 `exists`, one call each per
/// round, and prints the medians and the two target ratios.
fn interleaved_p50(
    rt: &Runtime,
    kernel: &mut agentos_client::Client,
    echo: &mut EchoClient<tonic::transport::Channel>,
) {
    let batch = pb::BatchRequest {
        calls: (0..100).map(|_| exists("/present")).collect(),
        mode: pb::BatchMode::Parallel as i32,
        stop_on_error: false,
    };
    let mut t = [Vec::with_capacity(ROUNDS), Vec::new(), Vec::new()];
    for round in 0..ROUNDS + 200 {
        let start = std::time::Instant::now();
        rt.block_on(echo.echo(EchoMessage {
            payload: b"/present".to_vec(),
        }))
        .unwrap();
        let echoed = start.elapsed();
        let start = std::time::Instant::now();
        rt.block_on(kernel.execute_syscall(exists("/present")))
            .unwrap();
        let single = start.elapsed();
        let start = std::time::Instant::now();
        rt.block_on(kernel.execute_syscall_batch(batch.clone()))
            .unwrap();
        let batched = start.elapsed();
        if round >= 200 {
            // the first rounds warm up
            for (v, d) in t.iter_mut().zip([echoed, single, batched]) {
                v.push(d);
            }
        }
    }
    let p50 = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let [mut e, mut s, mut b] = t;
    let (e, s, b) = (p50(&mut e), p50(&mut s), p50(&mut b));
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "interleaved p50 over {ROUNDS} rounds: echo {e:?}, exists {s:?} ({:.2}x echo, target <= 1.5x), \
         parallel batch of 100 {b:?} ({:.2}x one call, target <= 3x)",
        ratio(s, e),
        ratio(b, s)
    );
}

fn read_4k(c: &mut Criterion) {
    let rt = client_runtime();
    let dir = tempfile::Builder::new()
        .prefix("agentos-bench-")
        .tempdir()
        .unwrap();
    fs::write(dir.path().join("small"), vec![7u8; 4096]).unwrap();
    let ring = RingChoice::Uring(RingHandle::start().expect("io_uring"));
    let mut vfs = Vfs::new();
    vfs.mount(
        VirtPath::root(),
        MountFs::Local(LocalFs::new(dir.path(), &ring, None).unwrap()),
    );
    let vfs = Arc::new(vfs);
    let path = VirtPath::parse("/small", &VirtPath::root()).unwrap();
    let host = dir.path().join("small");

    let mut g = c.benchmark_group("read_4k");
    g.throughput(Throughput::Bytes(4096));
    g.bench_function("baseline_std_fs_read", |b| {
        b.iter(|| fs::read(&host).unwrap())
    });
    g.bench_function("localfs_io_uring_read", |b| {
        b.iter(|| rt.block_on(vfs.read(&path, 0, 0)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, rpc, read_4k);
criterion_main!(benches);
