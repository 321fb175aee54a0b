//! Soak: concurrent clients load a real daemon for minutes (spawn/kill cycles,
//! parallel file batches, stream reads, signal traffic) while its resident set,
//! open fds, threads and cgroups are sampled from the host every few seconds.
//!
//! Growth is judged between two quiet points, so that work in flight does not
//! count: after a warm-up (a fifth of the run, when lazily made things — the
//! io_uring rings, pools, caches — exist) the load stops, every process but the
//! long-lived signal target is gone, and the baseline is taken; the rest of the
//! run loads it again and the final sample is taken the same way. Then:
//!
//! * cgroups: none more than the baseline (each process's cgroup goes with it);
//! * fds: at most [`FD_SLACK`] more;
//! * threads: at most [`THREAD_SLACK`] more (tokio's blocking pool grows on
//!   demand and retires a thread only after 10 s idle);
//! * resident set: at most a quarter or [`RSS_FLOOR`] more, whichever is larger
//!   (allocator arenas and caches settle, a leak per operation does not).
//!
//! Ignored by `cargo test`: `cargo xtask soak [--minutes N]` runs it, and `cargo
//! xtask test` runs it for one minute (`AGENTOS_SOAK_MINUTES`).

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use agentos_proto::v1::{self as pb, syscall::Call};
use tokio_stream::StreamExt;

use crate::util::{
    Client, Daemon, call, cgroup_children, collect, fd_count, kernel_cgroup_dirs, open_read,
    proc_status, req, spawn, write,
};

/// Minutes the soak runs (default 1).
const MINUTES_ENV: &str = "AGENTOS_SOAK_MINUTES";
const SAMPLE_EVERY: Duration = Duration::from_secs(3);
const FD_SLACK: usize = 8;
const THREAD_SLACK: u64 = 32;
const RSS_FLOOR: u64 = 32 << 20;

/// One look at the daemon from the host.
#[derive(Clone, Copy, Debug)]
struct Sample {
    secs: u64,
    rss: u64,
    fds: usize,
    threads: u64,
    cgroups: usize,
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "t={:>4}s rss={:>4} MiB fds={:>3} threads={:>3} cgroups={:>3}",
            self.secs,
            self.rss >> 20,
            self.fds,
            self.threads,
            self.cgroups
        )
    }
}

/// Every cgroup below the kernel's, in every hierarchy.
fn cgroups_below(kernel_cg: Option<&Path>) -> usize {
    let mut n = 0;
    let mut stack: Vec<PathBuf> = kernel_cg.map(kernel_cgroup_dirs).unwrap_or_default();
    while let Some(dir) = stack.pop() {
        for child in cgroup_children(&dir) {
            n += 1;
            stack.push(dir.join(child));
        }
    }
    n
}

fn sample(d: &Daemon, kernel_cg: Option<&Path>, start: Instant) -> Sample {
    let pid = d.pid();
    Sample {
        secs: start.elapsed().as_secs(),
        rss: d.rss(),
        fds: fd_count(pid),
        threads: proc_status(pid, "Threads"),
        cgroups: cgroups_below(kernel_cg),
    }
}

/// Operations done, by kind.
#[derive(Default)]
struct Counts {
    spawns: AtomicU64,
    batches: AtomicU64,
    streams: AtomicU64,
    signals: AtomicU64,
}

/// Spawn and kill: a short program collected to its exit, then a long one killed
/// with its tree and waited for.
async fn spawn_cycle(c: &mut Client) {
    let spec = |argv: &[&str]| pb::ProcessSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let p = spawn(c, spec(&["/bin/sh", "-c", "echo soak"])).await;
    let (out, err, exit) = collect(c, p.pid).await;
    assert_eq!((out.as_str(), exit.code), ("soak\n", Some(0)), "{err}");
    let p = spawn(c, spec(&["/bin/sleep", "600"])).await;
    crate::util::kill_tree(c, p.pid).await;
    call(
        c,
        Call::Wait(pb::WaitProcess {
            pid: p.pid,
            timeout_ms: 0,
        }),
    )
    .await
    .expect("wait for the killed process");
}

/// A parallel batch of writes, one of reads, one of deletes.
async fn file_batches(c: &mut Client, worker: u64) {
    let names: Vec<String> = (0..32).map(|i| format!("/soak/w{worker}-{i}")).collect();
    let batch = |calls: Vec<pb::SyscallRequest>| pb::BatchRequest {
        calls,
        mode: pb::BatchMode::Parallel as i32,
        stop_on_error: false,
    };
    let writes = names.iter().map(|n| req(write(n, &[7; 4096]))).collect();
    let reads = names.iter().map(|n| req(crate::util::read(n))).collect();
    let deletes = names
        .iter()
        .map(|n| req(Call::Delete(pb::DeleteFile { path: n.clone() })))
        .collect();
    for calls in [writes, reads, deletes] {
        let r = c
            .execute_syscall_batch(batch(calls))
            .await
            .expect("a file batch")
            .into_inner();
        assert_eq!((r.succeeded, r.failed), (32, 0), "{r:?}");
    }
}

/// A stream read of the 4 MiB file to its end.
async fn stream_read(c: &mut Client) {
    let open = open_read("/soak/big", 0, pb::StreamTransport::Inline);
    let mut answers = c
        .stream_syscall(tokio_stream::iter([open]))
        .await
        .expect("open a stream read")
        .into_inner();
    let mut bytes = 0;
    while let Some(m) = answers.next().await {
        match m.expect("a stream answer").msg {
            Some(pb::stream_response::Msg::Chunk(ch)) => bytes += ch.data.len(),
            Some(pb::stream_response::Msg::Done(_)) => break,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(bytes, 4 << 20);
}

/// SIGCONT (harmless) to the long-lived target, and a look at its signal state.
async fn signal_traffic(c: &mut Client, target: u32) {
    call(
        c,
        Call::SendSignal(pb::SendSignal {
            pid: target,
            signal: libc::SIGCONT,
        }),
    )
    .await
    .expect("send SIGCONT");
    call(c, Call::GetPending(pb::GetPendingSignals { pid: target }))
        .await
        .expect("pending signals");
    call(c, Call::GetSignalState(pb::GetSignalState { pid: target }))
        .await
        .expect("signal state");
}

/// Runs the four kinds of load, two clients each, for `length`, sampling all the
/// while; returns when every client has stopped.
async fn load(
    d: &Daemon,
    target: u32,
    length: Duration,
    counts: &Arc<Counts>,
    samples: &mut Vec<Sample>,
    kernel_cg: Option<&Path>,
    start: Instant,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for worker in 0..8u64 {
        let mut c = d.client().await;
        let (stop, counts) = (Arc::clone(&stop), Arc::clone(counts));
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match worker % 4 {
                    0 => {
                        spawn_cycle(&mut c).await;
                        counts.spawns.fetch_add(1, Ordering::Relaxed);
                    }
                    1 => {
                        file_batches(&mut c, worker).await;
                        counts.batches.fetch_add(3, Ordering::Relaxed);
                    }
                    2 => {
                        stream_read(&mut c).await;
                        counts.streams.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        signal_traffic(&mut c, target).await;
                        counts.signals.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let end = Instant::now() + length;
    while Instant::now() < end {
        tokio::time::sleep(SAMPLE_EVERY.min(end - Instant::now())).await;
        let s = sample(d, kernel_cg, start);
        eprintln!("soak: {s}");
        samples.push(s);
        assert!(
            clients.iter().all(|c| !c.is_finished()),
            "a client stopped early (it panicked)"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("a soak client failed");
    }
}

/// Waits until every process but `target` has ended, and samples.
async fn quiet_sample(
    d: &Daemon,
    c: &mut Client,
    target: u32,
    kernel_cg: Option<&Path>,
    start: Instant,
) -> Sample {
    loop {
        let pb::syscall_result::Value::Processes(list) =
            call(c, Call::ListProcesses(pb::ListProcesses {}))
                .await
                .expect("list processes")
        else {
            panic!("list_processes answers a process list");
        };
        let done = |p: &pb::ProcessInfo| {
            p.pid == target
                || [pb::ProcessState::Exited, pb::ProcessState::Failed].contains(&p.state())
        };
        if list.processes.iter().all(done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sample(d, kernel_cg, start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: `cargo xtask soak`, or `cargo xtask test`'s one-minute run"]
async fn soak() {
    let minutes: f64 = std::env::var(MINUTES_ENV)
        .ok()
        .map(|m| m.parse().expect("AGENTOS_SOAK_MINUTES is a number"))
        .unwrap_or(1.0);
    let total = Duration::from_secs_f64(minutes * 60.0);
    let warmup = total / 5;
    let d = Daemon::start(&[]);
    let mut c = d.client().await;
    let report = c.doctor(pb::DoctorRequest {}).await.unwrap().into_inner();
    let kernel_cg = report.subsystems["cgroups"]
        .details
        .get("kernel_cgroup")
        .map(PathBuf::from);
    let kernel_cg = kernel_cg.as_deref();
    call(
        &mut c,
        Call::Mkdir(pb::MakeDirectory {
            path: "/soak".into(),
            parents: false,
        }),
    )
    .await
    .unwrap();
    call(&mut c, write("/soak/big", &vec![5; 4 << 20]))
        .await
        .unwrap();
    let target = spawn(
        &mut c,
        pb::ProcessSpec {
            argv: vec!["/bin/sleep".into(), "100000".into()],
            ..Default::default()
        },
    )
    .await
    .pid;

    let start = Instant::now();
    let counts = Arc::new(Counts::default());
    let mut samples = Vec::new();
    load(&d, target, warmup, &counts, &mut samples, kernel_cg, start).await;
    let baseline = quiet_sample(&d, &mut c, target, kernel_cg, start).await;
    eprintln!("soak: baseline {baseline}");
    load(
        &d,
        target,
        total - warmup,
        &counts,
        &mut samples,
        kernel_cg,
        start,
    )
    .await;
    let last = quiet_sample(&d, &mut c, target, kernel_cg, start).await;
    eprintln!("soak: final    {last}");
    let peak = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    eprintln!(
        "soak: {minutes} min; {} spawn/kill cycles, {} file batches, {} stream reads, {} signal rounds; \
         peak rss {} MiB, fds {}, threads {}, cgroups {}",
        counts.spawns.load(Ordering::Relaxed),
        counts.batches.load(Ordering::Relaxed),
        counts.streams.load(Ordering::Relaxed),
        counts.signals.load(Ordering::Relaxed),
        peak(|s| s.rss) >> 20,
        peak(|s| s.fds as u64),
        peak(|s| s.threads),
        peak(|s| s.cgroups as u64),
    );
    assert!(
        counts.spawns.load(Ordering::Relaxed) > 0 && counts.streams.load(Ordering::Relaxed) > 0,
        "the load did nothing"
    );
    assert!(
        last.cgroups <= baseline.cgroups,
        "cgroups grew: {baseline} → {last}"
    );
    assert!(
        last.fds <= baseline.fds + FD_SLACK,
        "fds grew: {baseline} → {last}"
    );
    assert!(
        last.threads <= baseline.threads + THREAD_SLACK,
        "threads grew: {baseline} → {last}"
    );
    assert!(
        last.rss <= baseline.rss + (baseline.rss / 4).max(RSS_FLOOR),
        "resident set grew: {baseline} → {last}"
    );
}
