//! A kernel daemon started by `agentos up`, owned until it is stopped.
//!
//! The child runs `agentos-kernel --data-dir DIR` in its own process group, so a
//! terminal's Ctrl-C reaches only `agentos`, which then stops HTTP first and the
//! kernel second. Its stdout (the "listening on" lines) goes to our stderr: our
//! stdout carries only the one "AgentOS is up" line. Its stderr is copied to ours
//! line by line, and the last lines are kept to explain a kernel that dies at start.
//!
//! # Stopping
//!
//! [`KernelChild::stop`] sends SIGTERM (the kernel then removes its socket and its
//! cgroup), waits up to a grace period, then sends SIGKILL. Dropping a
//! `KernelChild` that was not stopped does the same, blocking, so an error or a
//! panic after the spawn still stops the kernel. If `agentos` itself dies (even by
//! SIGKILL), the kernel gets SIGTERM from its parent-death signal.
//!
//! The parent-death signal fires when the *thread* that spawned the child exits
//! (prctl(2), `PR_SET_PDEATHSIG`), so spawn from a thread that lives as long as the
//! process, such as the main thread running `Runtime::block_on`.

use std::{
    collections::VecDeque,
    env,
    io::{self, BufRead, BufReader, Write},
    os::{fd::AsFd, unix::process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use super::KernelLink;

/// File name of the kernel binary.
pub const KERNEL_BIN: &str = "agentos-kernel";

/// Environment variable naming the kernel binary when `--kernel-bin` is not given.
pub const KERNEL_BIN_ENV: &str = "AGENTOS_KERNEL_BIN";

/// How many of the kernel's last stderr lines an error quotes.
const TAIL_LINES: usize = 20;

/// How often a starting or stopping kernel is checked on.
const POLL: Duration = Duration::from_millis(50);

/// Grace period of the SIGTERM sent when a `KernelChild` is dropped unstopped.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// Why a kernel could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "no {KERNEL_BIN} binary at {} (from {from}); build it with `cargo build -p agentos-kernel` or pass --kernel-bin",
        path.display()
    )]
    NotFound { path: PathBuf, from: &'static str },
    #[error("cannot locate the current executable to find {KERNEL_BIN} next to it")]
    CurrentExe(#[source] io::Error),
    #[error("cannot start {}", bin.display())]
    Spawn {
        bin: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} exited with {status} before its socket answered; last lines of its stderr:\n{stderr}", bin.display())]
    Exited {
        bin: PathBuf,
        status: ExitStatus,
        stderr: String,
    },
    #[error("{KERNEL_BIN} (pid {pid}) did not answer on {} within {after:?}", socket.display())]
    Timeout {
        pid: u32,
        socket: PathBuf,
        after: Duration,
    },
    #[error("cannot check on {KERNEL_BIN} (pid {pid})")]
    Wait {
        pid: u32,
        #[source]
        source: io::Error,
    },
}

/// Why a kernel could not be stopped cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("`kill({pid}, {signal})` failed")]
    Signal {
        pid: u32,
        signal: Signal,
        #[source]
        source: Errno,
    },
    #[error("cannot wait for {KERNEL_BIN} (pid {pid})")]
    Wait {
        pid: u32,
        #[source]
        source: io::Error,
    },
}

/// Finds the kernel binary: `explicit` (`--kernel-bin`), else `$AGENTOS_KERNEL_BIN`,
/// else `agentos-kernel` in the directory of the current executable.
pub fn locate_binary(explicit: Option<&Path>) -> Result<PathBuf, StartError> {
    let (path, from) = if let Some(p) = explicit {
        (p.to_owned(), "--kernel-bin")
    } else if let Some(p) = env::var_os(KERNEL_BIN_ENV) {
        (PathBuf::from(p), "$AGENTOS_KERNEL_BIN")
    } else {
        let exe = env::current_exe().map_err(StartError::CurrentExe)?;
        (
            exe.with_file_name(KERNEL_BIN),
            "the directory of the agentos binary",
        )
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(StartError::NotFound { path, from })
    }
}

/// A running kernel that we started; stopped on [`stop`](Self::stop) or drop.
pub struct KernelChild {
    bin: PathBuf,
    pid: u32,
    /// `None` once the child has been reaped.
    child: Option<Child>,
    stderr: StderrTail,
}

impl KernelChild {
    /// Starts `bin --data-dir data_dir`; see the module docs for its stdio and signals.
    pub fn spawn(bin: &Path, data_dir: &Path) -> Result<Self, StartError> {
        let spawn_err = |source| StartError::Spawn {
            bin: bin.to_owned(),
            source,
        };
        let stdout = io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(spawn_err)?;
        let parent = nix::unistd::getpid();
        let mut cmd = Command::new(bin);
        cmd.arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only makes two
        // async-signal-safe syscalls (prctl, getppid); it allocates nothing and takes no
        // locks. Checking the parent after prctl closes the race in prctl(2): a parent
        // that died before the call would never send the signal.
        unsafe {
            cmd.pre_exec(move || {
                // Linux only: macOS has no parent-death signal, so there a kernel whose
                // `agentos` was SIGKILLed keeps running until stopped.
                #[cfg(target_os = "linux")]
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::other("agentos exited while starting the kernel"));
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let stderr = StderrTail::start(child.stderr.take().expect("stderr is piped"));
        Ok(Self {
            bin: bin.to_owned(),
            pid: child.id(),
            child: Some(child),
            stderr,
        })
    }

    /// The kernel's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the kernel answers on `link`, fails if it exits first or `timeout` passes.
    ///
    /// "Answers" means something answers on the socket. If another `agentos up` started
    /// a kernel on the same directory a moment earlier, that one answers and ours exits
    /// on the directory's lock; `link` then talks to the other kernel, which is what we
    /// want, and stopping ours later is a no-op.
    pub async fn wait_ready(
        &mut self,
        link: &KernelLink,
        timeout: Duration,
    ) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait().map_err(|source| StartError::Wait {
                pid: self.pid,
                source,
            })? {
                return Err(StartError::Exited {
                    bin: self.bin.clone(),
                    status,
                    stderr: self.stderr.tail_after_exit(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StartError::Timeout {
                    pid: self.pid,
                    socket: link.socket().to_owned(),
                    after: timeout,
                });
            }
            if link.doctor(left.min(Duration::from_secs(1))).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(POLL.min(left)).await;
        }
    }

    /// Sends SIGTERM, waits up to `grace` for the kernel to exit, then kills it.
    ///
    /// If this future is dropped before it finishes, dropping `self` finishes the job.
    pub async fn stop(mut self, grace: Duration) -> Result<ExitStatus, StopError> {
        if let Some(status) = self.terminate_start()? {
            return Ok(status);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            if let Some(status) = self.try_wait().map_err(|source| StopError::Wait {
                pid: self.pid,
                source,
            })? {
                return Ok(status);
            }
        }
        self.kill_and_reap()
    }

    /// The blocking form of [`stop`](Self::stop), for `Drop`.
    fn stop_blocking(&mut self, grace: Duration) -> Result<ExitStatus, StopError> {
        if let Some(status) = self.terminate_start()? {
            return Ok(status);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            thread::sleep(POLL);
            if let Some(status) = self.try_wait().map_err(|source| StopError::Wait {
                pid: self.pid,
                source,
            })? {
                return Ok(status);
            }
        }
        self.kill_and_reap()
    }

    /// Reaps the child if it has exited, else sends it SIGTERM.
    fn terminate_start(&mut self) -> Result<Option<ExitStatus>, StopError> {
        if let Some(status) = self.try_wait().map_err(|source| StopError::Wait {
            pid: self.pid,
            source,
        })? {
            return Ok(Some(status));
        }
        self.signal(Signal::SIGTERM)?;
        Ok(None)
    }

    fn kill_and_reap(&mut self) -> Result<ExitStatus, StopError> {
        tracing::warn!(
            "{KERNEL_BIN} (pid {}) did not stop after SIGTERM; sending SIGKILL",
            self.pid
        );
        self.signal(Signal::SIGKILL)?;
        let child = self.child.as_mut().expect("checked by the caller");
        let status = child.wait().map_err(|source| StopError::Wait {
            pid: self.pid,
            source,
        })?;
        self.child = None;
        Ok(status)
    }

    fn signal(&self, signal: Signal) -> Result<(), StopError> {
        let pid = i32::try_from(self.pid).expect("Linux pids fit in i32");
        match kill(Pid::from_raw(pid), signal) {
            // Not reaped yet, so the pid is still ours; ESRCH cannot happen, but is harmless.
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(source) => Err(StopError::Signal {
                pid: self.pid,
                signal,
                source,
            }),
        }
    }

    /// `Some(status)` (and the child reaped) once it has exited.
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Err(io::Error::other("the kernel was already reaped"));
        };
        let status = child.try_wait()?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }
}

impl Drop for KernelChild {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        match self.stop_blocking(DROP_GRACE) {
            Ok(status) => tracing::info!("stopped {KERNEL_BIN} (pid {}): {status}", self.pid),
            Err(e) => tracing::error!("stopping {KERNEL_BIN} (pid {}): {e}", self.pid),
        }
    }
}

/// Copies the kernel's stderr to ours and keeps its last lines.
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    /// Receives (or disconnects) when the copying thread reaches end of file.
    eof: mpsc::Receiver<()>,
}

impl StderrTail {
    fn start(stderr: ChildStderr) -> Self {
        let lines = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let (tx, eof) = mpsc::channel();
        let keep = Arc::clone(&lines);
        thread::Builder::new()
            .name("kernel-stderr".into())
            .spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut buf = Vec::new();
                while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                    let _ = io::stderr().write_all(&buf);
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    let mut keep = keep
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if keep.len() == TAIL_LINES {
                        keep.pop_front();
                    }
                    keep.push_back(line);
                    buf.clear();
                }
                let _ = tx.send(());
            })
            .map(drop)
            .unwrap_or_else(|e| tracing::warn!("cannot copy the kernel's stderr: {e}"));
        Self { lines, eof }
    }

    /// The last lines, after giving the copier a moment to drain an exited child's pipe.
    fn tail_after_exit(&self) -> String {
        // A grandchild holding the pipe open would stall the copier forever; don't wait on it.
        let _ = self.eof.recv_timeout(Duration::from_secs(1));
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lines.is_empty() {
            return "(nothing)".into();
        }
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
