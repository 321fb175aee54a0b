//! The portable backend: a plain child process, no isolation.
//!
//! For hosts where [`super::probe`] says no (no user namespaces, an old kernel, not
//! Linux), chosen by the caller once at start-up and reported by `doctor`. The
//! program gets the same argv and environment checks and the same stdio (pipes or a
//! PTY, new session), the working directory, and, when the daemon runs as root,
//! the spec's unprivileged uid and gid with no supplementary groups. Grants,
//! namespaces, landlock, seccomp and capability dropping do not apply: only the
//! kernel's own capability checks on its syscalls stand between the program and
//! the host, and `doctor` says so. The pid is the program itself
//! ([`Spawned::status`] is `None`); nothing is created on the host but the process.

use std::{
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    process::{Command, Stdio as StdStdio},
};

use super::{
    argv, env,
    error::SpawnError,
    spawned::Spawned,
    spec::{SandboxSpec, SpecError, StdioMode},
    stdio::Stdio,
    sys,
};

/// Starts `spec.program` as a plain child process.
pub fn spawn_portable(spec: &SandboxSpec<'_>) -> Result<Spawned, SpawnError> {
    let arg_bytes = argv::validate_argv(&spec.argv).map_err(SpecError::from)?;
    let env = env::sanitize_env(&spec.env).map_err(SpecError::from)?;
    let bytes = arg_bytes + env.arg_bytes();
    if bytes > argv::MAX_ARG_BYTES {
        return Err(SpecError::ArgsTooBig { bytes }.into());
    }
    let abs = |what: &'static str, p: &std::path::Path| {
        if p.is_absolute() && !p.components().any(|c| c == std::path::Component::ParentDir) {
            Ok(())
        } else {
            Err(SpecError::BadPath {
                what,
                path: p.to_owned(),
            })
        }
    };
    // No view here: a bare name is looked up on the program's PATH on the host.
    let program = super::spec::resolve_program(&spec.program, &spec.env, |_| true)?;
    abs("program", &program)?;
    abs("working directory", &spec.cwd)?;
    if spec.host_uid == 0 || spec.host_gid == 0 {
        return Err(SpecError::RootIds {
            uid: spec.host_uid,
            gid: spec.host_gid,
        }
        .into());
    }

    let mut cmd = Command::new(&program);
    cmd.arg0(&spec.argv[0])
        .args(&spec.argv[1..])
        .env_clear()
        .envs(env.kept.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(spec.host_uid).gid(spec.host_gid);
    }
    let pty = match spec.stdio {
        StdioMode::Pipes => {
            cmd.stdin(StdStdio::piped())
                .stdout(StdStdio::piped())
                .stderr(StdStdio::piped());
            None
        }
        StdioMode::Pty { .. } => {
            let s = Stdio::new(spec.stdio).map_err(SpawnError::sys("openpt"))?;
            let slave = &s.child[0];
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(SpawnError::sys("dup"));
            cmd.stdin(dup(slave)?)
                .stdout(dup(slave)?)
                .stderr(dup(slave)?);
            Some(s)
        }
    };
    let ctty = pty.is_some();
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe calls (setsid, ioctl).
    unsafe {
        cmd.pre_exec(move || {
            sys::cvt(libc::setsid())?;
            // Die with the spawner thread, as a sandbox's init does: without a
            // cgroup nothing else would take the program down with the kernel.
            sys::cvt(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
            if ctty {
                sys::cvt(libc::ioctl(0, libc::TIOCSCTTY, 0))?;
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(SpawnError::sys("fork/exec"))?;
    let pid = child.id() as i32;
    let pidfd = pidfd_open(pid).map_err(SpawnError::sys("pidfd_open"))?;
    let (stdin, stdout, stderr) = (
        child.stdin.take().map(OwnedFd::from),
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
    );
    // Dropping `child` neither kills nor reaps: the caller waits through the pidfd.
    drop(child);
    Ok(Spawned {
        pid,
        pidfd,
        stdin,
        stdout,
        stderr,
        pty: pty.and_then(|s| s.parent.pty),
        status: None,
        dropped_env: env.dropped,
        clone3: false,
    })
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = sys::cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) })?;
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    debug_assert!(fd.as_raw_fd() >= 0);
    Ok(fd)
}
