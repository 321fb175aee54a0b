//! IPC, each beside its raw baseline in the same run:
//!
//! * `pipe_16MiB_in_64KiB/raw_pipe`: 16 MiB through a plain `pipe2` pair from one
//!   thread to another, 64 KiB writes and reads (the baseline);
//! * `pipe_16MiB_in_64KiB/kernel_pipe`: the same through the two ends a kernel
//!   pipe hands out (what two managed processes receive): the target is
//!   ≥ 90 % of the raw figure;
//! * `queue_1000_msgs/std_sync_channel`: 1000 64-byte messages through a bounded
//!   `std::sync::mpsc::sync_channel` (the baseline);
//! * `queue_1000_msgs/kernel_fifo`: the same through a kernel FIFO queue's
//!   send/receive (no gRPC: the queue's own cost).
//!
//! Run: `cargo bench -p agentos-kernel --bench ipc`.

use std::{
    hint::black_box,
    io::{Read, Write},
    os::fd::AsFd,
    thread,
    time::Duration,
};

use agentos_kernel::{
    ipc::{
        pipe::{End, Pipes},
        queue::{Kind, Queues},
    },
    shm::Handout,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

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

criterion_group!(benches, pipes, queues);
criterion_main!(benches);
