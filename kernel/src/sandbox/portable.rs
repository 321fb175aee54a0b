//! The portable backend: a plain child process, no isolation.
//!
//! For hosts where the sandbox probe says no (no user namespaces, an old kernel)
//! and for macOS, chosen by the caller once at start-up and reported by `doctor`.
//! The program gets the same argv and environment checks and the same stdio (pipes
//! or a PTY from the host, in a new session and so its own process group), the
//! working directory, and, when the daemon runs as root, the spec's unprivileged
//! uid and gid with no supplementary groups. Grants, namespaces, landlock, seccomp
//! and capability dropping do not apply: only the kernel's own capability checks on
//! its syscalls stand between the program and the host, and `doctor` says so. The
//! pid is the program itself ([`Spawned::status`] is `None`); nothing is created on
//! the host but the process.
//!
//! The same code runs on Linux and macOS; only two things differ, both chosen at
//! the `#[cfg]`s below and in [`ProcessHandle::adopt`]:
//!
//! * **supervision**: a pidfd (`pidfd_open`) on Linux; a kqueue `EVFILT_PROC` watch,
//!   `waitpid` and `kill` on macOS ([`ProcessHandle`]);
//! * **dying with the daemon**: Linux's `PR_SET_PDEATHSIG` kills the program when the
//!   spawner thread dies, even by SIGKILL. macOS has no such call: the kernel kills
//!   its programs when it shuts down (the cleanup orchestrator), but a SIGKILLed
//!   kernel leaves them running, and `doctor` says so.

use std::{
    os::{fd::OwnedFd, unix::process::CommandExt},
    process::{Child, Command, Stdio as StdStdio},
};

use super::{
    argv, env,
    error::SpawnError,
    handle::ProcessHandle,
    pty,
    spawned::Spawned,
    spec::{SandboxSpec, SpecError, StdioMode},
    sys,
};

/// Starts `spec.program` as a plain child process.
pub fn spawn_portable(spec: &SandboxSpec<'_>) -> Result<Spawned, SpawnError> {
    if spec.plain_child_for_tests {
        spawn_with(spec, ProcessHandle::plain)
    } else {
        spawn_with(spec, ProcessHandle::adopt)
    }
}

/// [`spawn_portable`], the child handed to `supervise`.
fn spawn_with(
    spec: &SandboxSpec<'_>,
    supervise: impl FnOnce(Child) -> Result<ProcessHandle, SpawnError>,
) -> Result<Spawned, SpawnError> {
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
        StdioMode::Pty { rows, cols } => {
            let (master, slave) = pty::open_pair(rows, cols).map_err(SpawnError::sys("openpt"))?;
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(SpawnError::sys("dup"));
            cmd.stdin(dup(&slave)?)
                .stdout(dup(&slave)?)
                .stderr(dup(&slave)?);
            Some(master)
        }
    };
    let ctty = pty.is_some();
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe calls (setsid, prctl, ioctl).
    unsafe {
        cmd.pre_exec(move || {
            // Its own session, so its own process group: `kill_tree` signals the group.
            sys::cvt(libc::setsid())?;
            // Die with the spawner thread, as a sandbox's init does: without a
            // cgroup nothing else would take the program down with the kernel.
            #[cfg(target_os = "linux")]
            sys::cvt(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
            if ctty {
                sys::cvt(libc::ioctl(0, libc::TIOCSCTTY as _, 0))?;
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(SpawnError::sys("fork/exec"))?;
    let pid = child.id() as i32;
    let (stdin, stdout, stderr) = (
        child.stdin.take().map(OwnedFd::from),
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
    );
    let handle = match supervise(child) {
        Ok(h) => h,
        Err(e) => {
            // Unsupervised, it must not run on: kill and reap it here.
            // SAFETY: kill and waitpid of our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return Err(e);
        }
    };
    Ok(Spawned {
        pid,
        handle,
        stdin,
        stdout,
        stderr,
        pty,
        status: None,
        dropped_env: env.dropped,
        clone3: false,
        proxy: None,
    })
}

#[cfg(test)]
mod tests {
    use std::{fs::File, io::Read};

    use super::*;

    /// The macOS spawn, run here: the shared spawn with the plain-child supervision
    /// (only the kqueue is a pidfd here), in PTY mode.
    #[test]
    fn a_plain_child_gets_its_own_session_and_terminal_and_is_reaped() {
        // SAFETY: geteuid and getegid have no preconditions.
        let (uid, gid) = match unsafe { (libc::geteuid(), libc::getegid()) } {
            (0, _) => (65534, 65534),
            ids => ids,
        };
        let script = "stty size; cut -d' ' -f5,6 /proc/$$/stat; echo pid $$; exit 5";
        let mut spec = SandboxSpec::new(
            "/bin/sh",
            vec!["sh".into(), "-c".into(), script.into()],
            uid,
            gid,
        );
        spec.stdio = StdioMode::Pty { rows: 24, cols: 80 };
        let s = spawn_with(&spec, ProcessHandle::plain).expect("spawn");
        assert!(s.stdin.is_none() && s.stdout.is_none() && s.status.is_none());
        assert_eq!(s.handle.signal_call(), "kill", "not the plain supervision");
        let status = s.handle.wait().expect("wait");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 5,
            "{status:#x}"
        );
        // What it wrote is still in the terminal; EIO once it is drained.
        let mut master = File::from(s.pty.expect("a PTY master"));
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        let out = String::from_utf8_lossy(&out);
        // `stty` found a terminal of the asked size on its stdin...
        assert!(out.contains("24 80"), "{out}");
        // ...and the program leads its own process group and session (setsid).
        let pid = s.pid;
        assert!(out.contains(&format!("{pid} {pid}")), "{out}");
        assert!(out.contains(&format!("pid {pid}")), "{out}");
    }
}
