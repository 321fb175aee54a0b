//! A process tree's accounting read from `/proc`, for processes the kernel could give
//! no cgroup (a rootless kernel without a delegated subtree).
//!
//! The figures are the host's own per-process counters summed over the tree the
//! managed process heads, read at the moment of asking: what `ps` and `top` show,
//! not a cgroup's charge. They miss what a cgroup would also charge (page cache,
//! kernel memory) and count shared pages once per process, so they are close to but
//! not the same as `memory.current`; a process that left the tree (double fork and
//! exit of its parent) is no longer counted.

use std::{collections::BTreeSet, fs};

use crate::cgroup::CgroupStats;

/// Processes walked at most, so a fork bomb cannot make one reading unbounded.
const MAX_TREE: usize = 4096;

/// The direct children of every thread of `pid` (`/proc/PID/task/*/children`; empty
/// when it is gone). A child belongs to the thread that forked it, so reading only the
/// main thread's file misses children of a threaded program.
pub(super) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// `pid` and everything under it, parents before children, at most [`MAX_TREE`].
fn tree(pid: u32) -> Vec<u32> {
    let mut seen = BTreeSet::from([pid]);
    let mut order = vec![pid];
    let mut next = 0;
    while next < order.len() && order.len() < MAX_TREE {
        for child in children_of(order[next]) {
            if order.len() < MAX_TREE && seen.insert(child) {
                order.push(child);
            }
        }
        next += 1;
    }
    order
}

/// One process's own counters.
#[derive(Debug, Default, PartialEq, Eq)]
struct Own {
    rss: u64,
    hwm: u64,
    anon: u64,
    file: u64,
    threads: u64,
    /// Its CPU time and its reaped children's, in clock ticks.
    ticks: u64,
    /// Stopped by a signal (state `T`).
    stopped: bool,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`; `None` once the process is gone.
fn own(pid: u32) -> Option<Own> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut own = parse_status(&status);
    own.ticks = parse_stat_ticks(&stat)?;
    own.stopped = stat_state(&stat) == Some('T');
    Some(own)
}

/// The memory and thread lines of `/proc/PID/status` (kB, given in bytes).
fn parse_status(status: &str) -> Own {
    let mut own = Own::default();
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = value
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let kib = number * 1024;
        match key {
            "VmRSS" => own.rss = kib,
            "VmHWM" => own.hwm = kib,
            "RssAnon" => own.anon = kib,
            "RssFile" | "RssShmem" => own.file += kib,
            "Threads" => own.threads = number,
            _ => {}
        }
    }
    own
}

/// utime + stime + cutime + cstime from `/proc/PID/stat`. The fields are counted after
/// the command name's closing parenthesis, since the name may hold spaces and ')'.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<i64>().ok();
    let total = field(14)? + field(15)? + field(16)? + field(17)?;
    u64::try_from(total).ok()
}

/// The state letter of `/proc/PID/stat` (`R`, `S`, `T`, ...).
fn stat_state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Rounds [`stop_tree`] walks the tree for processes forked while it was stopping it.
const STOP_ROUNDS: usize = 50;

/// Stops (SIGSTOP) or continues (SIGCONT) every process of the tree `pid` heads: the
/// freeze and thaw of a process the kernel could give no cgroup. Unlike the cgroup
/// freezer a stop is seen (its parent may be told; a process outside the tree with the
/// same uid could continue it), and a process that leaves the tree is not followed.
/// Stopping walks the tree again until every member is stopped, so a child forked
/// during the walk is caught. Fails when the tree does not stop.
pub(super) fn stop_tree(pid: u32, stop: bool) -> std::io::Result<()> {
    let signal = if stop { libc::SIGSTOP } else { libc::SIGCONT };
    let mut signalled = BTreeSet::new();
    for _ in 0..STOP_ROUNDS {
        let members = tree(pid);
        let mut fresh = false;
        for &p in &members {
            if signalled.insert(p) {
                fresh = true;
                // SAFETY: kill with integer arguments; ESRCH (gone meanwhile) is fine.
                unsafe { libc::kill(p as i32, signal) };
            }
        }
        let settled = !stop || members.iter().filter_map(|&p| own(p)).all(|o| o.stopped);
        if !fresh && settled {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(std::io::Error::other(format!(
        "the process tree of {pid} did not stop"
    )))
}

/// The tree's accounting as a [`CgroupStats`]: memory is the sum of resident sets
/// (`VmRSS`, anonymous and file-backed as `RssAnon` and `RssFile` + `RssShmem`), the
/// peak the sum of each process's own high-water mark (`VmHWM`, so at least the
/// tree's true peak), CPU the processes' time and their reaped children's, pids the
/// threads, and frozen when every process is stopped ([`stop_tree`]). Nothing here is
/// OOM-killed by a cgroup. `None` once the head process is gone.
pub(super) fn tree_stats(pid: u32) -> Option<CgroupStats> {
    let head = own(pid)?;
    let rest = tree(pid).into_iter().skip(1).filter_map(own);
    let mut sum = CgroupStats::default();
    let mut ticks = 0u64;
    sum.frozen = true;
    for p in std::iter::once(head).chain(rest) {
        sum.frozen &= p.stopped;
        sum.memory_current += p.rss;
        sum.memory_peak += p.hwm.max(p.rss);
        sum.memory_anon += p.anon;
        sum.memory_file += p.file;
        sum.pids_current += p.threads;
        ticks += p.ticks;
    }
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&hz| hz > 0)
        .unwrap_or(100);
    sum.cpu_usage_usec = ticks.saturating_mul(1_000_000) / hz;
    Some(sum)
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    #[test]
    fn status_lines_become_bytes_and_threads() {
        let status = "Name:\tsh\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nRssAnon:\t     512 kB\n\
                      RssFile:\t     256 kB\nRssShmem:\t     128 kB\nThreads:\t3\n";
        let own = parse_status(status);
        assert_eq!(
            own,
            Own {
                rss: 1024 * 1024,
                hwm: 2048 * 1024,
                anon: 512 * 1024,
                file: 384 * 1024,
                threads: 3,
                ticks: 0,
                stopped: false,
            }
        );
    }

    #[test]
    fn cpu_ticks_are_counted_after_a_name_with_spaces_and_parentheses() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 3 2 20 0 1 0 100 0 0";
        assert_eq!(parse_stat_ticks(stat), Some(7 + 5 + 3 + 2));
        assert_eq!(parse_stat_ticks("42 (truncated"), None);
        assert_eq!(stat_state(stat), Some('S'));
    }

    #[test]
    fn a_tree_counts_its_children_memory_and_threads() {
        // A shell with two sleeping children: the tree has three processes, and its
        // memory is more than the shell's own.
        let mut sh = Command::new("/bin/sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let pid = sh.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tree(pid).len() < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let members = tree(pid);
        let whole = tree_stats(pid).expect("the shell is alive");
        let head = own(pid).expect("the shell is alive");
        for &child in &members[1..] {
            // SAFETY: kill with integer arguments; the children are this test's own.
            unsafe { libc::kill(child as i32, libc::SIGKILL) };
        }
        let _ = sh.kill();
        let _ = sh.wait();
        assert_eq!(members.len(), 3, "sh and its two sleeps: {members:?}");
        assert!(whole.memory_current > head.rss, "{whole:?} vs {head:?}");
        assert!(whole.memory_peak >= whole.memory_current, "{whole:?}");
        assert_eq!(whole.pids_current, 3, "{whole:?}");
        assert!(tree_stats(pid).is_none(), "a reaped process has no figures");
    }
}
