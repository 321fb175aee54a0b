//! The child side of a spawn: everything between `clone` and `execve`, in one
//! function, in this order.
//!
//! | # | step | as | why here |
//! |---|---|---|---|
//! | 0 | reset signal handlers, name the process `agentos:init`, close every fd but its own | host uid 0, all caps in the new user namespace | the daemon's handlers and fds must not act or leak in the child |
//! | 1 | wait for the parent's go | | the uid/gid maps and the cgroup placement happen in between |
//! | 2 | make `/` private, `open_tree` every bind source | host uid 0 | root-only parents of a grant are still traversable |
//! | 3 | `unshare(CLONE_NEWCGROUP)` | | the final cgroup becomes the namespace's root |
//! | 4 | drop groups, switch to the mapped uid/gid | mapped ids, caps kept in the namespace | everything created from here belongs to the sandbox's uid |
//! | 4b | `PR_SET_PDEATHSIG(SIGKILL)` | | after the id change, which clears it; the sandbox dies with the spawner thread |
//! | 5 | build the new root, `pivot_root`, detach the host's tree | | [`super::mounts`] |
//! | 5b | (PTY mode) open a terminal on the view's own `/dev/ptmx`, send the master to the parent | | the program's terminal is then one of its own devpts ([`super::stdio`]) |
//! | 6 | `chdir`, `sethostname`, `lo` up | | |
//! | 6b | (rootless private) `lo:agentos`, a default route over `lo`, the proxy's listener sent to the parent; the same for IPv6 where the host has it | caps still held in the namespace | [`super::net`]: the kernel's rules were loaded before the go |
//! | 7 | `no_new_privs`, then landlock | | landlock needs `CAP_SYS_ADMIN` or no_new_privs |
//! | 8 | capabilities down to the kept set | | [`super::caps`] |
//! | 9 | seccomp | | the filter is last, so setup needs none of the calls it denies |
//! | 10 | (rlimit fallback) `RLIMIT_NPROC`; fork the program; init stays as pid 1 ([`super::init`]) | | the count is the sandbox's own user namespace's |
//! | 11 | (program, named `agentos:exec`) `setsid`, controlling tty, stdio, (rlimit fallback) `RLIMIT_AS`/`RLIMIT_CPU`, unblock signals, `execve` | | |
//!
//! At the walls-only level (`ChildPlan::walls`, no namespaces) steps 2, 3, 5 and
//! the host name and loopback of 6 do not apply; step 4 only leaves root (a root
//! daemon's child, without keeping capabilities), step 8 is skipped, init becomes
//! a child subreaper that watches the kernel instead of taking a parent-death
//! signal (so it can take what the program forked down with it, see
//! [`super::init`]), and the program gets its own parent-death signal.
//!
//! Nothing here allocates, takes a lock, or panics by design: the child is a copy of
//! a multi-threaded daemon whose other threads do not exist in it (see
//! [`super::sys`]). Everything it needs was prepared in a [`ChildPlan`] by the
//! parent. A failing step sends `(step, index, errno)` over the report pipe and
//! exits; `execve` success closes the pipe.

use std::{
    ffi::{CStr, CString},
    os::fd::RawFd,
};

use super::{
    caps::CapsPlan,
    channel,
    clone::raw_fork,
    error::ChildStep,
    init,
    landlock::LandlockPlan,
    mounts::{self, MountPlan},
    net,
    rlimit::{self, Rlimits},
    seccomp::{self, Filters},
    stdio, sys, userns,
};

/// Everything the child needs, prepared (and allocated) by the parent.
pub(crate) struct ChildPlan {
    pub sync_rd: RawFd,
    pub report_wr: RawFd,
    pub status_wr: RawFd,
    pub stdio: [RawFd; 3],
    pub pty: bool,
    /// PTY mode: the console socket (-1 otherwise) and the terminal's size.
    pub console: RawFd,
    pub pty_size: (u16, u16),
    /// Fds the child keeps through step 0, sorted ascending.
    pub keep_fds: Vec<RawFd>,
    pub uid: u32,
    pub gid: u32,
    /// Whether to drop the supplementary groups (only a root daemon's child can).
    pub drop_groups: bool,
    /// Walls only: no namespaces, so no maps, mounts, host name or loopback; the
    /// landlock rules describe the host's tree ([`super::landlock::View::Host`]).
    pub walls: bool,
    /// Say when the view is built and wait for the parent's second byte (`spawn_viewed`).
    pub announce_view: bool,
    /// The host's network namespace (network mode `shared`): no loopback to bring up.
    pub host_net: bool,
    /// Rootless `private`: the socket the proxy's listener is sent over (-1 otherwise;
    /// [`super::net::proxy_setup`]).
    pub proxy: RawFd,
    /// Rootless `private`: the sandbox's own address on `lo:agentos`.
    pub proxy_address: [u8; 4],
    /// Rootless private: the rtnetlink requests of its UDP way out (`udp_out.rs`).
    pub proxy_routing: super::udp_out::Routing,
    /// Limits of the rlimit fallback (none when a cgroup holds the limits).
    pub rlimits: Rlimits,
    pub mounts: MountPlan,
    /// One slot per mount source, filled in step 2.
    pub tree_fds: Vec<RawFd>,
    pub cwd: CString,
    pub hostname: CString,
    pub landlock: Option<LandlockPlan>,
    pub caps: CapsPlan,
    pub seccomp: &'static Filters,
    pub program: CString,
    /// NULL-terminated pointer arrays into `argv`/`env`, which own the strings.
    pub argv_ptrs: Vec<*const libc::c_char>,
    pub env_ptrs: Vec<*const libc::c_char>,
    #[expect(dead_code, reason = "owns the strings argv_ptrs points into")]
    pub argv: Vec<CString>,
    #[expect(dead_code, reason = "owns the strings env_ptrs points into")]
    pub env: Vec<CString>,
}

const NAME: &CStr = c"agentos:init";

/// Reports a failed step to the parent and exits.
fn fail(plan: &ChildPlan, step: ChildStep, index: u32, errno: i32) -> ! {
    channel::send_report(plan.report_wr, step, index, errno);
    sys::exit(1)
}

fn reset_signal_handlers() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction is plain data; SIG_DFL with an empty mask is valid for
        // every catchable signal (the others fail harmlessly with EINVAL).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Closes every fd except `keep` (sorted): close_range over the gaps, or a loop
/// when the kernel has no close_range (before 5.9).
fn close_fds_except(keep: &[RawFd]) {
    let close_range = |lo: u32, hi: u32| {
        // SAFETY: closing fd numbers this process owns.
        let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
        if r == -1 {
            // SAFETY: getrlimit writes one rlimit.
            let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
            let top = hi.min(lim.rlim_cur.min(1 << 20) as u32);
            for fd in lo..=top {
                sys::close(fd as RawFd);
            }
        }
    };
    let mut lo: u32 = 0;
    for &k in keep {
        let k = k as u32;
        if k > lo {
            close_range(lo, k - 1);
        }
        lo = k + 1;
    }
    close_range(lo, u32::MAX);
}

/// Runs the child's setup and becomes the sandbox's init. Never returns.
pub(crate) fn run(plan: &mut ChildPlan) -> ! {
    let _guard = sys::ExitOnUnwind;

    // 0. A clean process.
    reset_signal_handlers();
    // SAFETY: PR_SET_NAME reads a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, NAME.as_ptr(), 0, 0, 0) };
    close_fds_except(&plan.keep_fds);

    // 1. Wait for the parent: maps written, cgroups placed.
    let mut go = [0u8; 1];
    match sys::read_full(plan.sync_rd, &mut go) {
        Ok(1) => {}
        // The parent gave up (and will kill us): leave quietly.
        _ => sys::exit(1),
    }

    if plan.walls {
        walls_setup(plan);
    } else {
        namespaced_setup(plan);
        // 7b. (if asked) the view is built: the parent looks at it before we go on.
        if plan.announce_view {
            if let Err(e) = channel::send_viewed(plan.report_wr) {
                fail(plan, ChildStep::WaitParent, 1, e);
            }
            match sys::read_full(plan.sync_rd, &mut go) {
                Ok(1) => {}
                _ => sys::exit(1),
            }
        }
    }
    sys::close(plan.sync_rd);

    // 8. Capabilities (walls only: none were gained, and the bounding set cannot be
    // cut without CAP_SETPCAP; no_new_privs keeps it from mattering).
    if !plan.walls
        && let Err((i, e)) = plan.caps.drop_to_keep()
    {
        fail(plan, ChildStep::Capabilities, i, e);
    }

    // 9. seccomp (no_new_privs was set before landlock).
    if let Err((i, e)) = seccomp::install(plan.seccomp) {
        fail(plan, ChildStep::Seccomp, i, e);
    }

    // 10. The program, as pid 2; we stay as init. Init is not dumpable, so the
    // program (same uid) cannot open its /proc/1/{mem,environ,root}; the
    // program's own execve makes it dumpable again.
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // Walls only, init is no pid namespace's pid 1: it becomes the subreaper of
    // what the program leaves behind instead.
    if plan.walls {
        // SAFETY: prctl with constant arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    // The process count covers init and the program, as a pids cgroup would.
    if let Err((i, e)) = rlimit::apply_to_init(&plan.rlimits) {
        fail(plan, ChildStep::Rlimit, i, e);
    }
    let pid = match raw_fork() {
        Ok(0) => exec_program(plan),
        Ok(pid) => pid,
        Err(e) => fail(plan, ChildStep::Fork, 0, e),
    };
    for fd in plan.stdio {
        sys::close(fd);
    }
    sys::close(plan.report_wr);
    let watch = plan.walls.then(|| init::Watch {
        kill_all: plan
            .landlock
            .as_ref()
            .is_some_and(LandlockPlan::scopes_signals),
    });
    init::run(pid, plan.status_wr, watch)
}

/// Steps 2-7 in the sandbox's own namespaces.
fn namespaced_setup(plan: &mut ChildPlan) {
    // 2. Bind sources, cloned while still host uid 0.
    if let Err((i, e)) = mounts::clone_sources(&plan.mounts, &mut plan.tree_fds) {
        fail(plan, ChildStep::BindSource, i, e);
    }

    // 3. The cgroup namespace, rooted at the cgroup we were placed in.
    // SAFETY: unshare with a constant flag.
    if let Err(e) = sys::check(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) }) {
        fail(plan, ChildStep::CgroupNamespace, 0, e);
    }

    // 4. The mapped ids.
    if let Err((i, e)) = userns::switch_ids(plan.uid, plan.gid, plan.drop_groups) {
        fail(plan, ChildStep::Ids, i, e);
    }

    // Die with the daemon: SIGKILL when the thread that cloned us (the kernel's
    // long-lived spawner thread) exits, which takes the pid namespace along. Set
    // after step 4 because changing the effective ids clears it.
    // SAFETY: PR_SET_PDEATHSIG takes a signal number.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        fail(plan, ChildStep::Ids, 0, sys::errno());
    }

    // 5. The view.
    if let Err((i, e)) = mounts::build(&plan.mounts, &mut plan.tree_fds) {
        fail(plan, ChildStep::Mount, i, e);
    }
    if let Err(e) = mounts::pivot() {
        fail(plan, ChildStep::PivotRoot, 0, e);
    }

    // 5b. The terminal, made in the view's own devpts.
    open_terminal(plan);
    // 6. Working directory, host name, loopback.
    change_dir(plan);
    let name = plan.hostname.as_bytes();
    // SAFETY: `name` is valid for its length.
    if let Err(e) = sys::check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }) {
        fail(plan, ChildStep::Hostname, 0, e);
    }
    if !plan.host_net
        && let Err(e) = net::loopback_up()
    {
        fail(plan, ChildStep::Loopback, 0, e);
    }
    // 6b. (rootless private) the way out, and the listener sent to the kernel.
    if plan.proxy >= 0 {
        if let Err((i, e)) = net::proxy_setup(plan.proxy, plan.proxy_address, &plan.proxy_routing) {
            fail(plan, ChildStep::Proxy, i, e);
        }
        net::proxy_setup6(plan.proxy, &plan.proxy_routing);
        sys::close(plan.proxy);
    }

    // 7. no_new_privs, then landlock.
    no_new_privs_and_landlock(plan);
}

/// Steps 4-7 at the walls-only level: no namespaces, the host's tree.
fn walls_setup(plan: &mut ChildPlan) {
    // 5b. The terminal, on the host's /dev/ptmx, which no rule opens.
    open_terminal(plan);
    // 7 first: no_new_privs (landlock needs it without CAP_SYS_ADMIN), then
    // landlock, while a root daemon's child can still open every rule's path.
    no_new_privs_and_landlock(plan);
    // 4. A root daemon's child leaves root for good (no KEEPCAPS: every
    // capability goes with it); a user's child already has the user's ids.
    if plan.drop_groups
        && let Err((i, e)) = userns::drop_to(plan.uid, plan.gid)
    {
        fail(plan, ChildStep::Ids, i, e);
    }
    // No parent-death signal for init here: it watches the kernel itself (see
    // `init`), so that it can take what the program forked down with it.
    // 6. Working directory, as the program's ids.
    change_dir(plan);
}

/// (PTY mode) a terminal on `/dev/ptmx` as the process sees it, its master sent to
/// the parent.
fn open_terminal(plan: &mut ChildPlan) {
    if plan.console >= 0 {
        match stdio::open_console(c"/dev/ptmx", plan.console, plan.pty_size) {
            Ok(slave) => plan.stdio = [slave; 3],
            Err((i, e)) => fail(plan, ChildStep::Console, i, e),
        }
    }
}

/// `chdir` to the working directory.
fn change_dir(plan: &ChildPlan) {
    // SAFETY: valid NUL-terminated path.
    if let Err(e) = sys::check(unsafe { libc::chdir(plan.cwd.as_ptr()) }) {
        fail(plan, ChildStep::Chdir, 0, e);
    }
}

/// `no_new_privs`, then the landlock ruleset.
fn no_new_privs_and_landlock(plan: &ChildPlan) {
    // SAFETY: prctl with constant arguments.
    if let Err(e) = sys::check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }) {
        fail(plan, ChildStep::NoNewPrivs, 0, e);
    }
    if let Some(Err((i, e))) = plan.landlock.as_ref().map(LandlockPlan::enforce) {
        fail(plan, ChildStep::Landlock, i, e);
    }
}

/// 11. The program's last steps before `execve`.
fn exec_program(plan: &ChildPlan) -> ! {
    // SAFETY: PR_SET_NAME reads a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"agentos:exec".as_ptr(), 0, 0, 0) };
    sys::close(plan.status_wr);
    // Walls only, no pid namespace takes the program down with init: it gets its
    // own parent-death signal.
    // SAFETY: PR_SET_PDEATHSIG takes a signal number.
    if plan.walls && unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        fail(plan, ChildStep::Fork, 1, sys::errno());
    }
    if let Err((i, e)) = stdio::install(plan.stdio, plan.pty) {
        fail(plan, ChildStep::Stdio, i, e);
    }
    // Address space and CPU time bind the program alone: init's address space is
    // a copy of the daemon's and must not count.
    if let Err((i, e)) = rlimit::apply_to_program(&plan.rlimits) {
        fail(plan, ChildStep::Rlimit, i, e);
    }
    // SAFETY: an empty set; unblocking everything before exec restores the normal
    // signal mask the program expects (handlers were reset in step 0).
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    // SAFETY: program, argv and envp are NUL-terminated strings and NULL-terminated
    // arrays owned by the plan.
    unsafe {
        libc::execve(
            plan.program.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.env_ptrs.as_ptr(),
        )
    };
    let e = sys::errno();
    channel::send_report(plan.report_wr, ChildStep::Exec, 0, e);
    sys::exit(127)
}
