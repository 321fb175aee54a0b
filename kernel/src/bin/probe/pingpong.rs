//! `pingpong-cpu COUNT`: the scheduling probes' workload (`benches/probes_sched.rs`). Two
//! processes, this one and a forked child, both pinned to the CPU this one started on, hand
//! one byte back and forth over a pair of pipes COUNT times. Each hand-over blocks the sender
//! in `read` and wakes the receiver, so a round trip is two wake-ups and two context
//! switches, each from one end straight to the other (unless a third task on that CPU gets
//! in between).
//!
//! It prints the CPU time both spent on the loop, in nanoseconds (each end's
//! `CLOCK_THREAD_CPUTIME_ID`; the child sends its own back over its pipe when done). CPU time
//! rather than wall time, as `getppid-cpu`: the time other work on a shared machine ran
//! while the pair waited is not counted. Pinning both ends to one CPU is what makes CPU time
//! see the probes: `__schedule` charges the time after it updated the clock, the
//! `sched_switch` tracepoint included, to the incoming task, which on one CPU is the other
//! end; across two CPUs it would be the idle task, whose time nobody counts.

use std::io::{self, Read, Write};

/// The CPU time the calling thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Pins the calling process (and the children it forks after) to the CPU it runs on.
fn pin_here() -> io::Result<()> {
    // SAFETY: no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    let cpu = usize::try_from(cpu).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: a zeroed cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is a CPU number the kernel just gave, below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `count` times: `send` one byte on `tx`, then wait for one on `rx` (`send` false: the
/// other way round). Returns the thread's CPU time over the loop.
fn rally(count: u64, mut rx: impl Read, mut tx: impl Write, send: bool) -> io::Result<u64> {
    let start = thread_cpu_ns();
    let mut byte = [0u8; 1];
    for _ in 0..count {
        if send {
            tx.write_all(&byte)?;
            rx.read_exact(&mut byte)?;
        } else {
            rx.read_exact(&mut byte)?;
            tx.write_all(&byte)?;
        }
    }
    Ok(thread_cpu_ns() - start)
}

/// Runs the rally of COUNT (`args[1]`) round trips and returns the nanoseconds of CPU time
/// both ends spent on it.
pub fn run(args: &[String]) -> Result<u64, String> {
    let count: u64 = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .ok_or("usage: agentos-probe pingpong-cpu COUNT")?;
    pin_here().map_err(|e| format!("sched_setaffinity: {e}"))?;
    let (down_rx, down_tx) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (up_rx, mut up_tx) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: this process is single-threaded, so the child may do anything after fork.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", io::Error::last_os_error())),
        0 => {
            drop((down_tx, up_rx));
            let code = match rally(count, down_rx, &mut up_tx, false) {
                Ok(ns) if up_tx.write_all(&ns.to_ne_bytes()).is_ok() => 0,
                _ => 1,
            };
            // SAFETY: ends the child without running the parent's exit handlers twice.
            unsafe { libc::_exit(code) }
        }
        child => {
            drop((down_rx, up_tx));
            let mut up_rx = up_rx;
            let ours =
                rally(count, &mut up_rx, down_tx, true).map_err(|e| format!("rally: {e}"))?;
            let mut theirs = [0u8; 8];
            let read = up_rx.read_exact(&mut theirs);
            let mut status = 0;
            // SAFETY: `child` is this process's child; `status` is a valid int to write.
            unsafe { libc::waitpid(child, &mut status, 0) };
            read.map_err(|e| format!("the child's CPU time: {e}"))?;
            if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
                return Err(format!("the child failed: wait status {status}"));
            }
            Ok(ours + u64::from_ne_bytes(theirs))
        }
    }
}
