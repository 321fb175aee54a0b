//! The parent side of a spawn: plan, clone, hand-shake, and undo on failure.
//!
//! 1. validate the spec and prepare everything the child needs ([`ChildPlan`]):
//!    C strings, the mount plan, the landlock rules, the compiled seccomp filter,
//!    pipes and stdio, all before the clone;
//! 2. clone init into its namespaces with every signal blocked ([`super::clone`]);
//! 3. close the child's ends, write its uid/gid maps, place it in its cgroup if
//!    `clone3` could not, call the caller's `placed(pid)`, then send "go";
//! 4. wait for the report pipe ([`super::channel`]): EOF means the program was
//!    exec'd, a report names the failed step.
//!
//! From the clone on, a guard owns the pidfd: any failure (or a panic in `placed`)
//! SIGKILLs init, which takes the whole pid namespace with it, and reaps it.
//! Every other resource is an `OwnedFd` dropped on the way out. This function
//! blocks until the child's setup is done (a few milliseconds): call it from a
//! blocking thread, not an async task.

use std::{
    ffi::CString,
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
    path::Path,
    time::Duration,
};

use super::{
    caps::CapsPlan,
    channel::{self, Outcome},
    child::{self, ChildPlan},
    clone::{self, Forked},
    error::{ChildStep, SpawnError},
    handle::ProcessHandle,
    landlock::{self, LandlockPlan, View},
    mounts::MountPlan,
    seccomp,
    spawned::Spawned,
    spec::{self, SandboxSpec},
    stdio::Stdio,
    subid, sys, userns,
};

/// How long the child may take from the clone to its `execve`.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET) as u64;

/// Owns init's pidfd until the spawn succeeds; kills and reaps otherwise.
struct Reaper {
    pid: i32,
    pidfd: Option<OwnedFd>,
}

impl Reaper {
    /// SIGKILL (the pid namespace dies with init) and reap.
    fn kill(&mut self) -> io::Result<()> {
        let Some(fd) = self.pidfd.take() else {
            return Ok(());
        };
        kill_and_reap(fd.as_fd())
    }

    fn defuse(mut self) -> OwnedFd {
        self.pidfd.take().expect("defused once")
    }

    /// Turns `error` into the final error, killing the child first.
    fn fail(mut self, error: SpawnError) -> SpawnError {
        match self.kill() {
            Ok(()) => error,
            Err(cleanup) => SpawnError::Cleanup {
                error: Box::new(error),
                pid: self.pid,
                cleanup,
            },
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// `pidfd_send_signal(SIGKILL)` then `waitid(P_PIDFD, WEXITED)`.
pub(crate) fn kill_and_reap(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    // ESRCH: already dead (but maybe not reaped), which is fine.
    if r == -1 && sys::errno() != libc::ESRCH {
        return Err(io::Error::last_os_error());
    }
    wait_pidfd(pidfd).map(drop)
}

/// `waitid(P_PIDFD, fd, WEXITED)`, retrying on EINTR: blocks until the process
/// exits, reaps it, and returns its raw wait status.
pub fn wait_pidfd(pidfd: BorrowedFd<'_>) -> io::Result<i32> {
    loop {
        // SAFETY: siginfo_t is plain data for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pidfd and siginfo pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: waitid filled a SIGCHLD siginfo.
        let (code, status) = unsafe { (info.si_code, info.si_status()) };
        return Ok(match code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            _ => status & 0x7f | if code == libc::CLD_DUMPED { 0x80 } else { 0 },
        });
    }
}

/// NULL-terminated array of pointers into `strings`.
fn ptrs(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Starts `spec.program` in a new sandbox. `placed(pid)` runs in the parent after
/// the clone, once the uid/gid maps are written and before the child continues
/// (the caller adds the pid to its v1 cgroups there).
pub fn spawn(
    spec: &SandboxSpec<'_>,
    placed: impl FnOnce(i32) -> Result<(), io::Error>,
) -> Result<Spawned, SpawnError> {
    spawn_in(spec, placed, None, false)
}

/// [`spawn`], and `viewed(pid)` in the parent once init has built the sandbox's view
/// (mounts, `pivot_root`, working directory) and before it goes on towards the program,
/// which waits meanwhile: what reads `/proc/PID/root` there reads the view the program
/// will run in, and has it before the program's first syscall.
pub fn spawn_viewed(
    spec: &SandboxSpec<'_>,
    placed: impl FnOnce(i32) -> Result<(), io::Error>,
    viewed: impl FnOnce(i32),
) -> Result<Spawned, SpawnError> {
    spawn_in(spec, placed, Some(Box::new(viewed)), false)
}

/// Starts `spec.program` behind the walls only: no namespaces, but landlock on the
/// host's tree, seccomp, `no_new_privs`, the rlimits, and an init that reaps and
/// forwards signals. For hosts that forbid unprivileged user namespaces; see
/// `child.rs` for what differs.
pub fn spawn_walls(
    spec: &SandboxSpec<'_>,
    placed: impl FnOnce(i32) -> Result<(), io::Error>,
) -> Result<Spawned, SpawnError> {
    spawn_in(spec, placed, None, true)
}

fn spawn_in<'v>(
    spec: &SandboxSpec<'_>,
    placed: impl FnOnce(i32) -> Result<(), io::Error>,
    viewed: Option<Box<dyn FnOnce(i32) + 'v>>,
    walls: bool,
) -> Result<Spawned, SpawnError> {
    // 1. Everything the child needs, allocated now.
    let checked = spec::check(spec)?;
    let filters = seccomp::filters().map_err(SpawnError::Seccomp)?;
    let mounts = MountPlan::new(
        &checked.grants,
        Path::new("/"),
        spec.tmp_size,
        spec.resolv_conf.as_deref(),
    );
    let abi = landlock::abi()
        .ok()
        .filter(|_| !spec.skip_landlock_for_tests);
    let landlock = abi.map(|abi| {
        let view = if walls { View::Host } else { View::Namespaced };
        // The replaced resolv.conf may sit outside the bound directories (a symlink's end).
        let mut readable = checked.grants.clone();
        readable.extend(mounts.resolv_conf_at.iter().map(|p| spec::Grant {
            path: p.clone(),
            write: false,
            is_dir: false,
        }));
        LandlockPlan::new(abi, &mounts.system_dirs, &readable, view)
    });
    let (sync_rd, sync_wr) = channel::pipe().map_err(SpawnError::sys("pipe2"))?;
    let (report_rd, report_wr) = channel::pipe().map_err(SpawnError::sys("pipe2"))?;
    let (status_rd, status_wr) = channel::pipe().map_err(SpawnError::sys("pipe2"))?;
    let stdio = Stdio::console(spec.stdio).map_err(SpawnError::sys("stdio"))?;
    // Rootless private: init sends the proxy's listener over this pair (`net.rs`).
    let proxy = match spec.network {
        spec::NetworkMode::Proxied { .. } if !walls => {
            Some(channel::console_pair().map_err(SpawnError::sys("socketpair"))?)
        }
        _ => None,
    };
    let mut keep_fds: Vec<RawFd> = [
        sync_rd.as_raw_fd(),
        report_wr.as_raw_fd(),
        status_wr.as_raw_fd(),
    ]
    .into_iter()
    .chain(stdio.targets.into_iter().filter(|fd| *fd >= 0))
    .chain(stdio.console.as_ref().map(|(_, child)| *child))
    .chain(proxy.as_ref().map(|(_, child)| child.as_raw_fd()))
    .collect();
    keep_fds.sort_unstable();
    keep_fds.dedup();
    let argv_ptrs = ptrs(&checked.argv);
    let env_ptrs = ptrs(&checked.env);
    let mut plan = ChildPlan {
        sync_rd: sync_rd.as_raw_fd(),
        report_wr: report_wr.as_raw_fd(),
        status_wr: status_wr.as_raw_fd(),
        stdio: stdio.targets,
        pty: stdio.pty,
        console: stdio.console.as_ref().map_or(-1, |(_, child)| *child),
        pty_size: stdio.size,
        keep_fds,
        uid: spec.host_uid,
        gid: spec.host_gid,
        // A root kernel's child may drop its groups, and so may one mapped through
        // newgidmap (which leaves setgroups allowed); a plain rootless one may not.
        drop_groups: userns::is_root() || (spec.subordinate && !walls),
        walls,
        // Walls only, there is no view of its own to announce.
        announce_view: viewed.is_some() && !walls,
        host_net: spec.network == spec::NetworkMode::Host,
        proxy: proxy.as_ref().map_or(-1, |(_, child)| child.as_raw_fd()),
        proxy_address: match spec.network {
            spec::NetworkMode::Proxied { address } => address,
            _ => spec::PROXY_ADDR,
        },
        proxy_routing: match proxy {
            Some(_) => super::udp_out::routing(),
            None => Default::default(),
        },
        rlimits: spec.rlimits,
        tree_fds: vec![-1; mounts.sources.len()],
        mounts,
        cwd: checked.cwd,
        hostname: checked.hostname,
        landlock,
        caps: CapsPlan::new(checked.keep_caps),
        seccomp: filters,
        program: checked.program,
        argv_ptrs,
        env_ptrs,
        argv: checked.argv,
        env: checked.env,
    };
    let cgroup = spec.cgroup_v2.map(|fd| fd.as_raw_fd());

    // 2. Clone. The child never returns from the closure.
    let forked = clone::with_signals_blocked(|| {
        // SAFETY: the child runs only child::run, which is async-signal-safe.
        let flags = match (walls, spec.network) {
            (true, _) => 0,
            (false, spec::NetworkMode::Host) => NAMESPACE_FLAGS & !(libc::CLONE_NEWNET as u64),
            (false, spec::NetworkMode::None | spec::NetworkMode::Proxied { .. }) => NAMESPACE_FLAGS,
        };
        match unsafe { clone::clone_pidfd(flags, cgroup) } {
            Ok(Forked::Child) => child::run(&mut plan),
            other => other,
        }
    });
    let (pid, pidfd, into_cgroup, clone3) = match forked {
        Ok(Forked::Parent {
            pid,
            pidfd,
            into_cgroup,
            clone3,
        }) => (pid, pidfd, into_cgroup, clone3),
        Ok(Forked::Child) => unreachable!("the child runs child::run"),
        Err(source) => {
            return Err(SpawnError::Sys {
                call: "clone3",
                source,
            });
        }
    };
    let reaper = Reaper {
        pid,
        pidfd: Some(pidfd),
    };

    // 3. The child's ends are its own now; maps, placement, go.
    let proxy = proxy.map(|(parent, _child)| parent);
    drop((sync_rd, report_wr, status_wr, stdio.child));
    if let (Some(fd), false) = (spec.cgroup_v2, into_cgroup)
        && let Err(source) = join_cgroup(fd, pid)
    {
        return Err(reaper.fail(SpawnError::Placement { pid, source }));
    }
    let mapped = match (walls, spec.subordinate && !userns::is_root()) {
        (true, _) => Ok(()),
        (false, true) => subid::map(pid, spec.host_uid, spec.host_gid),
        (false, false) => userns::write_maps(pid, spec.host_uid, spec.host_gid),
    };
    if let Err(e) = mapped {
        return Err(reaper.fail(e));
    }
    if let Err(source) = placed(pid) {
        return Err(reaper.fail(SpawnError::Placement { pid, source }));
    }
    let go = |what: &[u8]| {
        sys::write_all(sync_wr.as_raw_fd(), what).map_err(|e| SpawnError::Sys {
            call: "write",
            source: io::Error::from_raw_os_error(e),
        })
    };
    if let Err(e) = go(b"g") {
        return Err(reaper.fail(e));
    }

    // 4. The report: first (if asked for) that the view is built, then the program's exec.
    let mut viewed = viewed.filter(|_| plan.announce_view);
    loop {
        match channel::await_report(report_rd.as_fd(), SETUP_TIMEOUT) {
            Ok(Outcome::Viewed) => match viewed.take() {
                Some(viewed) => {
                    viewed(pid);
                    if let Err(e) = go(b"v") {
                        return Err(reaper.fail(e));
                    }
                    continue;
                }
                None => return Err(reaper.fail(SpawnError::Protocol { pid })),
            },
            Ok(Outcome::Ready) if viewed.is_none() => {}
            // Init said nothing of the view it was asked to announce.
            Ok(Outcome::Ready) => return Err(reaper.fail(SpawnError::Protocol { pid })),
            Ok(Outcome::Failed(r)) => return Err(reaper.fail(describe(&plan, pid, r))),
            Ok(Outcome::Malformed) => return Err(reaper.fail(SpawnError::Protocol { pid })),
            Ok(Outcome::TimedOut) => {
                return Err(reaper.fail(SpawnError::Timeout {
                    pid,
                    secs: SETUP_TIMEOUT.as_secs(),
                }));
            }
            Err(source) => {
                return Err(reaper.fail(SpawnError::Sys {
                    call: "poll",
                    source,
                }));
            }
        }
        break;
    }
    drop(sync_wr);
    // 5. In PTY mode, the terminal's master, and in rootless private mode the proxy's
    // listener, both sent by init before the program ran.
    let received = |sock: &OwnedFd| match channel::recv_fd(sock.as_fd()) {
        Ok(Some(fd)) => Ok(fd),
        Ok(None) => Err(SpawnError::Protocol { pid }),
        Err(source) => Err(SpawnError::Sys {
            call: "recvmsg",
            source,
        }),
    };
    let pty = match stdio.console.as_ref().map(|(console, _)| received(console)) {
        None => stdio.parent.pty,
        Some(Ok(master)) => Some(master),
        Some(Err(e)) => return Err(reaper.fail(e)),
    };
    let proxy = match proxy.as_ref().map(|s| {
        Ok::<_, SpawnError>(super::spawned::ProxySockets {
            tcp: received(s)?,
            dns: received(s)?,
            udp: received(s)?,
            // Sent only where the namespace got its IPv6 address (`net.rs`).
            tcp6: channel::recv_fd(s.as_fd()).ok().flatten(),
            udp6: channel::recv_fd(s.as_fd()).ok().flatten(),
        })
    }) {
        None => None,
        Some(Ok(sockets)) => Some(sockets),
        Some(Err(e)) => return Err(reaper.fail(e)),
    };
    Ok(Spawned {
        pid,
        handle: ProcessHandle::from_pidfd(pid, reaper.defuse()),
        stdin: stdio.parent.stdin,
        stdout: stdio.parent.stdout,
        stderr: stdio.parent.stderr,
        pty,
        status: Some(status_rd),
        dropped_env: checked.dropped_env,
        clone3,
        proxy,
    })
}

/// Writes `pid` to `cgroup.procs` of the cgroup v2 directory `dir` (the `clone`
/// fallback has no `CLONE_INTO_CGROUP`).
fn join_cgroup(dir: BorrowedFd<'_>, pid: i32) -> io::Result<()> {
    // SAFETY: openat relative to a valid directory fd.
    let fd = sys::cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c"cgroup.procs".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: a fresh fd we own.
    let f = unsafe { OwnedFd::from_raw_fd(fd) };
    sys::write_all(f.as_raw_fd(), pid.to_string().as_bytes()).map_err(io::Error::from_raw_os_error)
}

/// Turns a child report into an error naming the step and its object.
fn describe(plan: &ChildPlan, pid: i32, r: channel::Report) -> SpawnError {
    let source = io::Error::from_raw_os_error(r.errno);
    let Some(step) = ChildStep::from_u32(r.step) else {
        return SpawnError::Protocol { pid };
    };
    let detail = match step {
        ChildStep::BindSource if r.index == u32::MAX => "make / private".to_string(),
        ChildStep::BindSource => plan.mounts.describe_source(r.index as usize),
        ChildStep::Mount => plan.mounts.describe_op(r.index as usize),
        ChildStep::Ids => userns::describe(r.index).to_string(),
        ChildStep::Chdir => plan.cwd.to_string_lossy().into_owned(),
        ChildStep::Hostname => plan.hostname.to_string_lossy().into_owned(),
        ChildStep::Landlock => plan
            .landlock
            .as_ref()
            .map(|l| l.describe(r.index))
            .unwrap_or_default(),
        ChildStep::Capabilities => CapsPlan::describe(r.index).to_string(),
        ChildStep::Seccomp => format!("filter {}", r.index),
        ChildStep::Stdio => super::stdio::describe(r.index).to_string(),
        ChildStep::Console => super::stdio::describe_console(r.index).to_string(),
        ChildStep::Exec => plan.program.to_string_lossy().into_owned(),
        ChildStep::Rlimit => super::rlimit::describe(r.index).to_string(),
        ChildStep::Proxy => super::net::describe(r.index).to_string(),
        _ => String::new(),
    };
    SpawnError::Setup {
        pid,
        step,
        detail,
        source,
    }
}
