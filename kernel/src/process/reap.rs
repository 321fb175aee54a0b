//! Reaping through the process's [`ProcessHandle`](crate::sandbox::ProcessHandle):
//! when its fd turns readable the process has exited (a pidfd on Linux, a kqueue's
//! `NOTE_EXIT` on macOS); its `wait` collects the status (`waitid(P_PIDFD, WEXITED)`,
//! or `waitpid`), so there is never a zombie nor a reused pid. Then the rest of the tree is killed and the cgroup removed (its Drop),
//! the kernel objects the process held are released (the table's
//! [`ExitHook`](super::ExitHook): its pipes, segments, queues and descriptor
//! table, whose sockets would keep its network namespace and veth alive), its
//! network rules go, the output pumps drain, and the state becomes Exited.

use std::{
    os::fd::{AsFd, AsRawFd, RawFd},
    sync::Arc,
    time::Duration,
};

use tokio::io::unix::AsyncFd;

use super::{ExitInfo, Process, ProcessState};

/// How long the pumps may keep draining after the tree is gone.
const DRAIN: Duration = Duration::from_secs(2);

struct PidFd(RawFd);

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

pub(super) fn start(
    p: Arc<Process>,
    table_cleanup: Arc<crate::cleanup::Orchestrator>,
    on_exit: Option<super::ExitHook>,
) {
    tokio::spawn(async move {
        let status = wait_exit(&p).await;
        let (oom, pids_hit, limits) = {
            let cg = p.cgroup.lock().unwrap_or_else(|e| e.into_inner());
            let oom = cg.as_ref().is_some_and(|c| c.oom_killed());
            let pids = cg.as_ref().is_some_and(|c| c.pids_max_hit());
            (oom, pids, p.limits())
        };
        let info = describe(status, oom, pids_hit, &limits);
        // The rest of the tree dies with its cgroup (kill + rmdir: blocking, bounded).
        let cg = p.cgroup.lock().unwrap_or_else(|e| e.into_inner()).take();
        let _ = tokio::task::spawn_blocking(move || drop(cg)).await;
        // Nothing of the tree is left to use them: release what it held before its
        // network goes (a kernel-held socket pins the namespace) and before
        // `wait` returns.
        if let Some(release) = on_exit {
            release(p.pid);
        }
        // Its rules and forwards go (the veth went with its namespace).
        let mut net = p.net.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(a) = net.as_mut() {
            a.stop_relays().await;
        }
        let _ = tokio::task::spawn_blocking(move || drop(net)).await;
        // A rootless private process's relay stops (its rules went with its namespace).
        let proxy = p.proxy.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(proxy) = proxy {
            proxy.stop().await;
        }
        // So does the helper that made its sockets (killed and reaped: blocking, brief).
        let helper = std::mem::take(&mut *p.sockets.lock().unwrap_or_else(|e| e.into_inner()));
        let _ = tokio::task::spawn_blocking(move || drop(helper)).await;
        // Out of the probes' filter only once the cgroup is gone (the tree's exits are seen),
        // keeping what they counted.
        // The `watched` lock is held until the final figures are in, so a reader never
        // finds neither (lock order: watched, then final_figures, as in `probe_figures`).
        {
            let mut watched = p.watched.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(figures) = watched.take().and_then(crate::observe::Watched::close) {
                *p.final_figures.lock().unwrap_or_else(|e| e.into_inner()) = Some(figures);
            }
        }
        let pumps = std::mem::take(&mut *p.pumps.lock().unwrap_or_else(|e| e.into_inner()));
        for h in pumps {
            let _ = tokio::time::timeout(DRAIN, h).await;
        }
        *p.exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
        p.stdin.lock().await.take();
        // An exited entry keeps no fds.
        p.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        p.relayed.lock().unwrap_or_else(|e| e.into_inner()).take();
        p.pty.lock().unwrap_or_else(|e| e.into_inner()).take();
        p.set_state(ProcessState::Exited);
        if let Some(h) = p.cleanup.lock().unwrap_or_else(|e| e.into_inner()).take() {
            table_cleanup.forget(h);
        }
        p.output.close();
    });
}

/// (code, signal) of the exited program: the status the sandbox's init relayed,
/// or init's own when it was killed first (or with the portable backend, where
/// the pid is the program itself).
async fn wait_exit(p: &Process) -> (Option<i32>, Option<i32>) {
    let Some(handle) = p.handle() else {
        return (None, None);
    };
    // SAFETY: `PidFd` names the fd that `handle` keeps open for longer than this
    // registration lives (it is dropped at the end of this block).
    match unsafe {
        AsyncFd::register_with_interest(
            PidFd(handle.as_fd().as_raw_fd()),
            tokio::io::Interest::READABLE,
        )
    } {
        Ok(afd) => {
            let _ = afd.readable().await;
        }
        Err(e) => tracing::warn!(
            pid = p.pid,
            "exit fd not pollable ({e}); waiting in a blocking task"
        ),
    }
    let own = tokio::task::spawn_blocking(move || handle.wait())
        .await
        .ok()
        .and_then(Result::ok);
    let relayed = p
        .relayed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|fd| crate::sandbox::relayed_status(fd.as_fd()).ok().flatten());
    match relayed.or(own) {
        Some(raw) if libc::WIFEXITED(raw) => (Some(libc::WEXITSTATUS(raw)), None),
        Some(raw) if libc::WIFSIGNALED(raw) => (None, Some(libc::WTERMSIG(raw))),
        _ => (None, None),
    }
}

fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn describe(
    (code, signal): (Option<i32>, Option<i32>),
    oom: bool,
    pids_hit: bool,
    limits: &crate::cgroup::Limits,
) -> ExitInfo {
    let description = if oom {
        let limit = limits
            .memory_max
            .map_or_else(|| "no limit".to_owned(), |m| format!("limit {}", mib(m)));
        format!("killed: out of memory ({limit})")
    } else if let Some(c) = code {
        let mut d = format!("exited with code {c}");
        if pids_hit {
            d.push_str(&format!(
                "; hit the process limit ({} pids)",
                limits.pids_max.unwrap_or(0)
            ));
        }
        d
    } else if let Some(s) = signal {
        let name = nix::sys::signal::Signal::try_from(s)
            .map_or_else(|_| format!("signal {s}"), |sig| sig.as_str().to_owned());
        format!("killed by {name}")
    } else {
        "exited (status unavailable)".to_owned()
    };
    ExitInfo {
        code,
        signal,
        oom_killed: oom,
        pids_limit_hit: pids_hit,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Limits;

    #[test]
    fn says_plainly_how_it_ended() {
        let limits = Limits {
            memory_max: Some(64 << 20),
            pids_max: Some(5),
            ..Limits::default()
        };
        assert_eq!(
            describe((None, Some(9)), true, false, &limits).description,
            "killed: out of memory (limit 64 MiB)"
        );
        assert_eq!(
            describe((Some(3), None), false, false, &limits).description,
            "exited with code 3"
        );
        assert_eq!(
            describe((None, Some(15)), false, false, &limits).description,
            "killed by SIGTERM"
        );
        assert!(
            describe((Some(1), None), false, true, &limits)
                .description
                .contains("process limit (5 pids)")
        );
        assert_eq!(
            describe((None, Some(9)), false, false, &limits).shell_status(),
            137
        );
    }
}
