//! IPC, each beside its raw baseline in the same run:
//!
//! * `pipe_16MiB_in_64KiB/raw_pipe`: 16 MiB through a plain `pipe2` pair from one
//!   thread to another, 64 KiB writes and reads (the baseline);
//! * `pipe_16MiB_in_64KiB/kernel_pipe`: the same through the two ends a kernel
//!   pipe hands out (what two managed processes receive): the target is
//!   ≥ 90 % of the raw figure;
//! * `pipe_processes_64KiB/raw_host_processes`: `agentos-ipc-peer pump-write` and
//!   `pump-read`, two plain host processes, through a `pipe2` pair they inherit
//!   as fd 3 (the baseline);
//! * `pipe_processes_64KiB/managed_processes`: the same two programs as managed
//!   processes of a kernel embedded in the bench (full sandbox, as root), each
//!   taking its end of one kernel pipe over its own kernel socket: the issue's
//!   target is ≥ 90 % of the raw figure. Each sample is one pair of processes
//!   moving `iters` × 16 MiB; the reader times from its first read's return to
//!   its last (start-up excluded, see `kernel/src/bin/ipc-peer/pump.rs`), and the
//!   time is scaled to all the bytes;
//! * `queue_1000_msgs/std_sync_channel`: 1000 64-byte messages through a bounded
//!   `std::sync::mpsc::sync_channel` (the baseline);
//! * `queue_1000_msgs/kernel_fifo`: the same through a kernel FIFO queue's
//!   send/receive (no gRPC: the queue's own cost).
//! * `pingpong_16B/raw_futex_threads`: a 16-byte round trip between two threads
//!   that hand a turn word back and forth with `FUTEX_WAIT`/`FUTEX_WAKE` (the
//!   baseline);
//! * `pingpong_16B/shm_ring`: the same through two `agentos_client::ring`s in two
//!   kernel shared-memory segments (what two managed processes map): the
//!   issue's target is ≤ 1.5× the baseline.
//! * `shm_stream_read_1GiB/raw_io_uring_read_1MiB`: a 1 GiB file in the page
//!   cache read by sequential 1 MiB io_uring reads at queue depth 1 (the
//!   baseline, the `io-uring` crate);
//! * `shm_stream_read_1GiB/shared_memory_control_ring_1MiB`: the same file, a
//!   VFS file of a kernel embedded in the bench, through a shared-memory stream
//!   of 1 MiB chunks (`read_shared`: the kernel's io_uring reads land in the
//!   region's slots, the slot numbers travel on the control rings): the issue's
//!   target is ≥ 85 % of the baseline. Each sample is one 1 GiB read (flat
//!   sampling), and before the group the two are timed alternately and their
//!   medians printed in MiB/s with the ratio, since criterion's means move with
//!   one VM hiccup. Figures (ipc-8, 2 vCPUs shared with two other builds, load
//!   3.9–5.3; four runs each of the printed medians, alternating the binary
//!   before and after the client's eventfd wake-ups and the 4 MiB region): before
//!   68.9, 78.2, 82.9 and 84.6 % of the baseline (12.7–13.4 GB/s raw, one run
//!   9.9); after 87.1, 84.4, 82.5 and 83.6 % (11.0–11.6 GB/s through the
//!   stream). Then (this session's quiet machine, 2026-12-05 09:50-09:57, raw
//!   18.8-20.7 GB/s), the client looking at the ring for up to 250 µs before it
//!   sleeps (`SPIN`, `kernel/client/src/shared.rs`): without it 79.9, 83.8 and
//!   80.3 % (384-390 context switches a read), with it 90.8, 86.6 and 89.3 %
//!   (60-66), ≥ 85 % in every run. Where the rest went before, measured on the
//!   kernel's stream thread with timers around its steps: the copies themselves
//!   (~95 % of its time, a little slower than the baseline's because the
//!   region's pages are fresh and there are four slots, not one reused buffer:
//!   raw reads into 4 fresh 1 MiB memfd slots ran at 93 % of one buffer), one
//!   wake-up of the client per 3 chunks at ~15 µs each (an eventfd write that
//!   wakes the other vCPU), and the stream's opening (0.6–9 ms from the call to
//!   the region's announcement under this load);
//! * `shm_stream_write_256MiB/raw_io_uring_write_1MiB_fsync`: 256 MiB written in
//!   1 MiB blocks at queue depth 1 on a plain io_uring, then fsynced (the
//!   baseline);
//! * `shm_stream_write_256MiB/shared_memory_control_ring_1MiB`: the same bytes
//!   replacing a VFS file through a shared-memory stream (`write_shared`: the
//!   client fills slots, the kernel's io_uring writes take them; the commit
//!   fsyncs). Printed first as alternating medians, as the read, with the
//!   process's context switches a round (both sides run in this process).
//!   In the same four pairs of runs as the read (ipc-8): before 41.1, 89.5,
//!   69.7 and 71.0 % of the baseline, after 100.7, 78.0, 82.6 and 83.5 % (the
//!   fsync dominates both; 700–990 MiB/s raw).
//!
//! Run: `cargo bench -p agentos-kernel --bench ipc`.

use std::{
    hint::black_box,
    io::{Read, Write},
    os::{
        fd::{AsFd, AsRawFd, OwnedFd, RawFd},
        unix::process::CommandExt,
    },
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use agentos_client::{Client, mapping::Mapping, pb, ring};
use agentos_kernel::{
    ipc::{
        pipe::{End, Pipes},
        queue::{Kind, Queues},
        segment::Segments,
    },
    shm::{Broker, Handout},
};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

mod support;

use support::{EmbeddedKernel, managed_output, uring};

const TOTAL: usize = 16 << 20;
const CHUNK: usize = 64 << 10;
const MSGS: usize = 1000;

/// Moves `TOTAL` bytes from `w` to `r` on two threads.
fn transfer(r: &mut std::fs::File, w: &mut std::fs::File) {
    thread::scope(|s| {
        s.spawn(|| {
            let chunk = vec![7u8; CHUNK];
            for _ in 0..TOTAL / CHUNK {
                w.write_all(&chunk).expect("write");
            }
        });
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        while got < TOTAL {
            got += r.read(&mut buf).expect("read");
        }
        black_box(&buf);
    });
}

/// A copy of a handed-out end, as the process that received it (SCM_RIGHTS
/// installs a duplicate) holds.
fn file_of(end: &Handout) -> std::fs::File {
    std::fs::File::from(end.as_fd().try_clone_to_owned().expect("dup"))
}

fn pipes(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe_16MiB_in_64KiB");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("raw_pipe", |b| {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
        let (mut r, mut w) = (std::fs::File::from(r), std::fs::File::from(w));
        b.iter(|| transfer(&mut r, &mut w));
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _in_runtime = rt.enter();
    let table = Pipes::default();
    let pipe = table.create("bench", 0, None).expect("pipe");
    let (r, w) = (
        pipe.open(End::Read).expect("read end"),
        pipe.open(End::Write).expect("write end"),
    );
    g.bench_function("kernel_pipe", |b| {
        let (mut r, mut w) = (file_of(&r), file_of(&w));
        b.iter(|| transfer(&mut r, &mut w));
    });
    g.finish();
}

/// Bytes one iteration of `pipe_processes_64KiB` moves.
const PUMPED: u64 = 16 << 20;
/// The writer and reader of `pipe_processes_64KiB`.
const PEER: &str = env!("CARGO_BIN_EXE_agentos-ipc-peer");
/// The kernel pipe the managed pair shares.
const PUMP_PIPE: &str = "bench.pump";

/// The time `pump-read`'s line (`OK pumped N bytes in T ns`) reports, scaled
/// from its N bytes to `total`.
fn pumped(line: &str, total: u64) -> Duration {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (bytes, nanos) = match words[..] {
        ["OK", "pumped", n, "bytes", "in", t, "ns"] => (
            n.parse::<u64>().expect("bytes"),
            t.parse::<u64>().expect("ns"),
        ),
        _ => panic!("pump-read said {line:?}"),
    };
    assert!(bytes > 0 && bytes <= total, "{line}");
    Duration::from_nanos((nanos as f64 * total as f64 / bytes as f64) as u64)
}

/// The descriptor number a host pump process finds its pipe end at.
const PUMP_FD: RawFd = 3;

/// The peer running `pump-{what}` on `end`, which it inherits as [`PUMP_FD`].
fn host_pump(what: &str, end: OwnedFd, total: &str) -> std::process::Child {
    let mut cmd = Command::new(PEER);
    cmd.args([&format!("pump-{what}"), &format!("fd:{PUMP_FD}"), total])
        .stdout(Stdio::piped());
    let raw = end.as_raw_fd();
    // SAFETY: between fork and exec only dup2 or fcntl runs, both
    // async-signal-safe. A dup2 leaves the new descriptor without close-on-exec;
    // an end that already is PUMP_FD (a dup2 onto itself changes nothing) has
    // the flag cleared instead. Either way the program keeps it.
    unsafe {
        cmd.pre_exec(move || {
            let done = match raw {
                PUMP_FD => libc::fcntl(raw, libc::F_SETFD, 0),
                _ => libc::dup2(raw, PUMP_FD),
            };
            match done {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            }
        })
    };
    let child = cmd.spawn().expect("a host pump");
    drop(end); // the child holds the only copy now
    child
}

/// `total` bytes between two host processes through a plain pipe.
fn raw_pump(total: u64) -> Duration {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
    let n = total.to_string();
    let writer = host_pump("write", w, &n);
    let reader = host_pump("read", r, &n);
    let out = reader.wait_with_output().expect("reader's output");
    let writer = writer.wait_with_output().expect("writer");
    assert!(writer.status.success(), "writer {writer:?}, reader {out:?}");
    pumped(String::from_utf8_lossy(&out.stdout).trim(), total)
}

/// Spawns the peer with `args` as a managed process that may use the pump pipe.
async fn managed_peer(user: &mut Client, args: &[&str]) -> u32 {
    let spec = pb::ProcessSpec {
        argv: [PEER].iter().chain(args).map(|s| s.to_string()).collect(),
        read_paths: vec![PEER.into()],
        capabilities: vec![format!("send:{PUMP_PIPE}"), format!("recv:{PUMP_PIPE}")],
        ..Default::default()
    };
    user.create_process(pb::SpawnProcess { spec: Some(spec) })
        .await
        .expect("spawn")
        .into_inner()
        .pid
}

/// `total` bytes between two managed processes through the kernel pipe.
async fn managed_pump(user: &mut Client, total: u64) -> Duration {
    let n = total.to_string();
    let writer = managed_peer(user, &["pump-write", PUMP_PIPE, &n]).await;
    let reader = managed_peer(user, &["pump-read", PUMP_PIPE, &n]).await;
    let line = managed_output(user, reader).await;
    managed_output(user, writer).await;
    pumped(&line, total)
}

fn pipe_processes(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe_processes_64KiB");
    g.throughput(Throughput::Bytes(PUMPED));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("raw_host_processes", |b| {
        b.iter_custom(|iters| raw_pump(iters * PUMPED))
    });
    if !nix::unistd::geteuid().is_root() {
        println!("pipe_processes_64KiB/managed_processes: skipped: the full sandbox needs root");
        g.finish();
        return;
    }
    let kernel = EmbeddedKernel::start();
    let (rt, mut user) = kernel.client();
    let create = pb::syscall::Call::PipeCreate(pb::PipeCreate {
        name: PUMP_PIPE.into(),
        capacity: 0,
    });
    rt.block_on(user.call(create)).expect("pipe");
    g.bench_function("managed_processes", |b| {
        b.iter_custom(|iters| rt.block_on(managed_pump(&mut user, iters * PUMPED)))
    });
    g.finish();
}

fn queues(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_1000_msgs");
    g.throughput(Throughput::Elements(MSGS as u64));
    let msg = vec![1u8; 64];
    g.bench_function("std_sync_channel", |b| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(MSGS);
        b.iter(|| {
            for _ in 0..MSGS {
                tx.send(msg.clone()).expect("send");
            }
            for _ in 0..MSGS {
                black_box(rx.recv().expect("recv"));
            }
        });
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let qs = Queues::default();
    let q = qs
        .create("bench", Kind::Fifo, MSGS as u32, None)
        .expect("queue");
    g.bench_function("kernel_fifo", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..MSGS {
                    q.send(msg.clone(), 0, Duration::ZERO).await.expect("send");
                }
                for _ in 0..MSGS {
                    black_box(q.receive("me", Duration::ZERO).await.expect("recv"));
                }
            })
        });
    });
    g.finish();
}

/// `FUTEX_WAIT` while `word` holds `expected` (private: the peer is a thread).
fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: a live, aligned u32; spurious returns are rechecked by callers.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}

/// Round trips on a turn word: 0 is the pinger's turn, 1 the ponger's.
fn futex_round_trips(turn: &AtomicU32, n: u64, me: u32) {
    for _ in 0..n {
        while turn.load(Ordering::Acquire) != me {
            futex_wait(turn, 1 - me);
        }
        turn.store(1 - me, Ordering::Release);
        futex_wake(turn);
    }
}

/// Two writable mappings of a new kernel segment holding a fresh ring.
fn ring_maps(segments: &Segments, broker: &Broker, name: &str) -> (Mapping, Mapping) {
    const SIZE: usize = ring::HEADER + 4096;
    let seg = segments
        .create(broker, name, SIZE as u64, None)
        .expect("segment");
    let map = || Mapping::new(&*seg.attach(0, true).expect("attach"), SIZE, true).expect("map");
    let a = map();
    ring::init(&a).expect("ring");
    (a, map())
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong_16B");
    g.bench_function("raw_futex_threads", |b| {
        b.iter_custom(|iters| {
            let turn = AtomicU32::new(0);
            thread::scope(|s| {
                s.spawn(|| futex_round_trips(&turn, iters, 1));
                let start = Instant::now();
                futex_round_trips(&turn, iters, 0);
                start.elapsed()
            })
        });
    });
    let (broker, segments) = (Broker::new(1 << 20), Segments::default());
    let (ping_a, ping_b) = ring_maps(&segments, &broker, "ping");
    let (pong_a, pong_b) = ring_maps(&segments, &broker, "pong");
    let (mut ping_tx, mut ping_rx) = (
        ring::Producer::attach(ping_a).expect("producer"),
        ring::Consumer::attach(ping_b).expect("consumer"),
    );
    let (mut pong_tx, mut pong_rx) = (
        ring::Producer::attach(pong_a).expect("producer"),
        ring::Consumer::attach(pong_b).expect("consumer"),
    );
    let wait = Duration::from_secs(10);
    g.bench_function("shm_ring", |b| {
        b.iter_custom(|iters| {
            thread::scope(|s| {
                s.spawn(|| {
                    let mut buf = Vec::new();
                    for _ in 0..iters {
                        ping_rx.recv(&mut buf, wait).expect("ping");
                        pong_tx.send(&buf, wait).expect("pong");
                    }
                });
                let (msg, mut buf) = ([5u8; 16], Vec::new());
                let start = Instant::now();
                for _ in 0..iters {
                    ping_tx.send(&msg, wait).expect("ping");
                    pong_rx.recv(&mut buf, wait).expect("pong");
                }
                start.elapsed()
            })
        });
    });
    g.finish();
}

/// The stream bench's file, and its chunks (1 MiB: the size the raw read uses).
const GIB: u64 = 1 << 30;
const STREAM_CHUNK: usize = 1 << 20;
/// Alternating rounds of the printed medians.
const STREAM_ROUNDS: usize = 7;

/// Reads all of `path` through a shared-memory stream, touching each chunk; the bytes.
async fn read_shared(client: &mut Client, path: &str) -> u64 {
    let mut r = client
        .read_shared(path, 0, 0, STREAM_CHUNK as u32)
        .await
        .expect("shared read");
    let mut n = 0u64;
    while let Some(chunk) = r.next_chunk().await.expect("chunk") {
        n += black_box(&*chunk).len() as u64;
    }
    assert_eq!(r.messages(), 2, "the region and done, nothing per chunk");
    n
}

fn shm_stream(c: &mut Criterion) {
    let kernel = EmbeddedKernel::start();
    let (rt, mut client) = kernel.client();
    // In the kernel's temporary directory, which goes when `kernel` drops.
    let big = kernel.files().join("big.bin");
    uring::write_file(&big, GIB, STREAM_CHUNK);
    let mut raw = || assert_eq!(uring::read(&big, STREAM_CHUNK), GIB);
    let mut shared = || assert_eq!(rt.block_on(read_shared(&mut client, "/big.bin")), GIB);

    compare(
        c,
        "shm_stream_read_1GiB",
        ["raw_io_uring_read_1MiB", "shared_memory_control_ring_1MiB"],
        GIB,
        " (target >= 85 %)",
        [&mut raw, &mut shared],
    );
    let _ = std::fs::remove_file(&big);
}

/// Context switches (voluntary and not) of this whole process so far: the
/// client's threads and the embedded kernel's alike.
fn context_switches() -> u64 {
    // SAFETY: an all-zero `rusage` is valid; the kernel fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a live `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    (usage.ru_nvcsw + usage.ru_nivcsw) as u64
}

/// Medians of two contenders timed in alternating rounds: wall time and the
/// process's context switches per round.
struct Medians {
    time: [Duration; 2],
    switches: [u64; 2],
}

impl std::fmt::Display for Medians {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ratio = self.time[0].as_secs_f64() / self.time[1].as_secs_f64();
        write!(
            f,
            "medians of {STREAM_ROUNDS} alternating rounds ({:.1} % of the baseline's throughput)",
            100.0 * ratio
        )
    }
}

impl Medians {
    /// Contender `i`'s throughput over `bytes` and its context switches a round.
    fn show(&self, i: usize, bytes: u64) -> String {
        format!(
            "{:.0} MiB/s ({} context switches)",
            (bytes >> 20) as f64 / self.time[i].as_secs_f64(),
            self.switches[i]
        )
    }
}

/// One untimed round of each contender (the kernel's blocking pool, the first
/// region's pages), then [`STREAM_ROUNDS`] alternating timed ones, since
/// criterion's means move with one VM hiccup.
fn alternate(mut contenders: [&mut dyn FnMut(); 2]) -> Medians {
    for run in contenders.iter_mut() {
        run();
    }
    let mut times: [Vec<Duration>; 2] = Default::default();
    let mut switches: [Vec<u64>; 2] = Default::default();
    for _ in 0..STREAM_ROUNDS {
        for (i, run) in contenders.iter_mut().enumerate() {
            let (start, before) = (Instant::now(), context_switches());
            run();
            times[i].push(start.elapsed());
            switches[i].push(context_switches() - before);
        }
    }
    fn median<T: Ord + Copy>(v: &mut [T]) -> T {
        v.sort_unstable();
        v[v.len() / 2]
    }
    Medians {
        time: times.each_mut().map(|v| median(v)),
        switches: switches.each_mut().map(|v| median(v)),
    }
}

/// Prints the [`alternate`] medians of a baseline and a shared-memory stream
/// moving `bytes` each (with `note`), then benches both as criterion's `group`
/// under `names` (flat sampling: each iteration is long).
fn compare(
    c: &mut Criterion,
    group: &str,
    names: [&str; 2],
    bytes: u64,
    note: &str,
    [raw, shared]: [&mut dyn FnMut(); 2],
) {
    let medians = alternate([&mut *raw, &mut *shared]);
    println!(
        "{group}, {medians}: {} {}, {} {}{note}",
        names[0],
        medians.show(0, bytes),
        names[1],
        medians.show(1, bytes),
    );
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(bytes));
    g.bench_function(names[0], |b| b.iter(&mut *raw));
    g.bench_function(names[1], |b| b.iter(&mut *shared));
    g.finish();
}

/// The write bench's total, in [`STREAM_CHUNK`] pieces.
const WRITE_TOTAL: usize = 256 << 20;

/// Replaces `path` with `total` bytes of `block`s through a shared-memory
/// stream; the bytes the kernel reports written.
async fn write_shared(client: &mut Client, path: &str, block: &[u8], total: usize) -> u64 {
    let mut w = client
        .write_shared(path, false, block.len() as u32)
        .await
        .expect("shared write");
    for _ in 0..total / block.len() {
        w.write(block).await.expect("write");
    }
    assert_eq!(w.messages(), 1, "the region, nothing per chunk");
    w.finish().await.expect("finish")
}

fn shm_stream_write(c: &mut Criterion) {
    let kernel = EmbeddedKernel::start();
    let (rt, mut client) = kernel.client();
    let block: Vec<u8> = (0..STREAM_CHUNK).map(|i| i as u8).collect();
    let target = kernel.files().join("raw.bin");
    let total = WRITE_TOTAL as u64;
    let mut raw = || uring::write(&target, &block, WRITE_TOTAL);
    let mut shared = || {
        let n = rt.block_on(write_shared(&mut client, "/w.bin", &block, WRITE_TOTAL));
        assert_eq!(n, total);
    };
    compare(
        c,
        "shm_stream_write_256MiB",
        [
            "raw_io_uring_write_1MiB_fsync",
            "shared_memory_control_ring_1MiB",
        ],
        total,
        "",
        [&mut raw, &mut shared],
    );
}

criterion_group!(
    benches,
    pipes,
    pipe_processes,
    queues,
    pingpong,
    shm_stream,
    shm_stream_write
);
criterion_main!(benches);
