//! The seccomp filter: syscalls a sandboxed program may not make at all.
//!
//! Two classic-BPF programs are installed just before the program is forked (so the
//! sandbox's init runs under them too), after `no_new_privs`:
//!
//! * a deny list compiled with `seccompiler` (pure Rust): each call in
//!   [`denied_syscalls`] fails with EPERM; `clone` fails with EPERM when its flags
//!   ask for a new namespace; `socket` fails with EPERM for `AF_PACKET` and for raw
//!   IPv4/IPv6 sockets; `ioctl` fails with EPERM for `TIOCSTI` and `TIOCLINUX`
//!   (typing into the terminal; the command is compared as 32 bits, as the kernel
//!   reads it, CVE-2019-10063);
//! * a short hand-written program that fails `clone3` with ENOSYS (its flags sit
//!   behind a pointer a filter cannot read, and ENOSYS makes glibc fall back to
//!   `clone`, which the first program can inspect) and, on x86_64, every x32-ABI
//!   syscall number (bit 30) with ENOSYS, which would otherwise slip past the
//!   number-based list.
//!
//! Both kill the process on a foreign architecture (a 32-bit syscall entry).
//! Everything else is allowed: the namespaces, the mount view, landlock and the
//! dropped capabilities are the walls; this filter removes kernel attack surface
//! the program has no business touching, and stays in force even for capabilities
//! the spec keeps. The filter dies with the process: nothing is left on the host.
//!
//! Compiled once per daemon ([`filters`]); the child only calls `seccomp(2)`.

use std::{collections::BTreeMap, sync::OnceLock};

use seccompiler::{
    SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as Cond,
    SeccompFilter, SeccompRule, TargetArch, sock_filter,
};

use super::sys;

/// Calls refused with EPERM whatever their arguments, and why.
const DENIED: &[(&str, i64, &str)] = &[
    ("mount", libc::SYS_mount, "the view is fixed"),
    ("umount2", libc::SYS_umount2, "the view is fixed"),
    ("pivot_root", libc::SYS_pivot_root, "the view is fixed"),
    ("chroot", libc::SYS_chroot, "the view is fixed"),
    (
        "open_tree",
        libc::SYS_open_tree,
        "the view is fixed (new mount API)",
    ),
    (
        "move_mount",
        libc::SYS_move_mount,
        "the view is fixed (new mount API)",
    ),
    (
        "fsopen",
        libc::SYS_fsopen,
        "the view is fixed (new mount API)",
    ),
    (
        "fsconfig",
        libc::SYS_fsconfig,
        "the view is fixed (new mount API)",
    ),
    (
        "fsmount",
        libc::SYS_fsmount,
        "the view is fixed (new mount API)",
    ),
    (
        "fspick",
        libc::SYS_fspick,
        "the view is fixed (new mount API)",
    ),
    (
        "mount_setattr",
        libc::SYS_mount_setattr,
        "the view is fixed (new mount API)",
    ),
    (
        "unshare",
        libc::SYS_unshare,
        "a new user namespace would bring a full capability set",
    ),
    ("setns", libc::SYS_setns, "no joining other namespaces"),
    (
        "ptrace",
        libc::SYS_ptrace,
        "no tracing or poking other processes",
    ),
    (
        "process_vm_readv",
        libc::SYS_process_vm_readv,
        "no reading other processes' memory",
    ),
    (
        "process_vm_writev",
        libc::SYS_process_vm_writev,
        "no writing other processes' memory",
    ),
    (
        "pidfd_getfd",
        libc::SYS_pidfd_getfd,
        "no stealing other processes' fds",
    ),
    (
        "bpf",
        libc::SYS_bpf,
        "kernel attack surface (eBPF verifier and JIT)",
    ),
    (
        "perf_event_open",
        libc::SYS_perf_event_open,
        "kernel attack surface, side channels",
    ),
    (
        "userfaultfd",
        libc::SYS_userfaultfd,
        "used to win kernel races in exploits",
    ),
    (
        "io_uring_setup",
        libc::SYS_io_uring_setup,
        "kernel attack surface; bypasses this filter",
    ),
    (
        "io_uring_enter",
        libc::SYS_io_uring_enter,
        "kernel attack surface; bypasses this filter",
    ),
    (
        "io_uring_register",
        libc::SYS_io_uring_register,
        "kernel attack surface",
    ),
    (
        "keyctl",
        libc::SYS_keyctl,
        "the kernel keyring is not namespaced",
    ),
    (
        "add_key",
        libc::SYS_add_key,
        "the kernel keyring is not namespaced",
    ),
    (
        "request_key",
        libc::SYS_request_key,
        "the kernel keyring is not namespaced",
    ),
    ("kexec_load", libc::SYS_kexec_load, "host kernel state"),
    (
        "kexec_file_load",
        libc::SYS_kexec_file_load,
        "host kernel state",
    ),
    ("init_module", libc::SYS_init_module, "host kernel state"),
    ("finit_module", libc::SYS_finit_module, "host kernel state"),
    (
        "delete_module",
        libc::SYS_delete_module,
        "host kernel state",
    ),
    ("reboot", libc::SYS_reboot, "host state"),
    ("swapon", libc::SYS_swapon, "host state"),
    ("swapoff", libc::SYS_swapoff, "host state"),
    ("acct", libc::SYS_acct, "host state"),
    ("quotactl", libc::SYS_quotactl, "host state"),
    ("quotactl_fd", libc::SYS_quotactl_fd, "host state"),
    (
        "syslog",
        libc::SYS_syslog,
        "the kernel log is not namespaced",
    ),
    (
        "settimeofday",
        libc::SYS_settimeofday,
        "the clock is not namespaced",
    ),
    (
        "clock_settime",
        libc::SYS_clock_settime,
        "the clock is not namespaced",
    ),
    (
        "clock_adjtime",
        libc::SYS_clock_adjtime,
        "the clock is not namespaced",
    ),
    (
        "open_by_handle_at",
        libc::SYS_open_by_handle_at,
        "opens files by handle, bypassing the view (\"shocker\")",
    ),
    (
        "name_to_handle_at",
        libc::SYS_name_to_handle_at,
        "the other half of open_by_handle_at",
    ),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl, "raw I/O port access"),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm, "raw I/O port access"),
];

/// Namespace flags `clone` may not be given.
const CLONE_NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

const SOCK_TYPE_MASK: u64 = 0xf;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The syscalls refused with EPERM whatever their arguments, with the reason.
pub fn denied_syscalls() -> impl Iterator<Item = (&'static str, &'static str)> {
    DENIED.iter().map(|(n, _, why)| (*n, *why))
}

/// How the installed filters refuse calls by number, for the probes that report refusals
/// (`observe::probes`): (name, syscall number, errno, whether every call of that number is
/// refused rather than some arguments only). `clone3` is left out: its ENOSYS is the
/// designed way to make glibc fall back to `clone` (tried on every fork), not a refused
/// attempt.
pub fn refusals() -> impl Iterator<Item = (&'static str, i64, i32, bool)> {
    let by_argument = [
        ("clone", libc::SYS_clone),
        ("socket", libc::SYS_socket),
        ("ioctl", libc::SYS_ioctl),
    ];
    DENIED
        .iter()
        .map(|(name, nr, _)| (*name, *nr, libc::EPERM, true))
        .chain(by_argument.map(|(name, nr)| (name, nr, libc::EPERM, false)))
}

/// The two compiled programs, in installation order.
#[derive(Debug)]
pub(crate) struct Filters {
    pub programs: [Vec<sock_filter>; 2],
}

/// Compiles the filters once.
pub(crate) fn filters() -> Result<&'static Filters, String> {
    static F: OnceLock<Result<Filters, String>> = OnceLock::new();
    F.get_or_init(compile).as_ref().map_err(Clone::clone)
}

fn cond(arg: u8, op: Op, value: u64) -> Result<Cond, String> {
    Cond::new(arg, Len::Dword, op, value).map_err(|e| e.to_string())
}

fn rule(conds: Vec<Cond>) -> Result<SeccompRule, String> {
    SeccompRule::new(conds).map_err(|e| e.to_string())
}

fn arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())
}

fn compile() -> Result<Filters, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr, _) in DENIED {
        rules.insert(*nr, Vec::new());
    }
    let clone_rules = CLONE_NS_FLAGS
        .iter()
        .map(|f| rule(vec![cond(0, Op::MaskedEq(*f), *f)?]))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    let raw = |family: i32| -> Result<SeccompRule, String> {
        rule(vec![
            cond(0, Op::Eq, family as u64)?,
            cond(1, Op::MaskedEq(SOCK_TYPE_MASK), libc::SOCK_RAW as u64)?,
        ])
    };
    rules.insert(
        libc::SYS_socket,
        vec![
            rule(vec![cond(0, Op::Eq, libc::AF_PACKET as u64)?])?,
            raw(libc::AF_INET)?,
            raw(libc::AF_INET6)?,
        ],
    );
    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, Op::Eq, ioctl_nr(libc::TIOCSTI))?])?,
            rule(vec![cond(1, Op::Eq, ioctl_nr(libc::TIOCLINUX))?])?,
        ],
    );
    let deny: seccompiler::BpfProgram = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch()?,
    )
    .map_err(|e| e.to_string())?
    .try_into()
    .map_err(|e: seccompiler::BackendError| e.to_string())?;
    Ok(Filters {
        programs: [deny, enosys_program()],
    })
}

/// An ioctl request number as the filter compares it (libc's type differs by target).
#[allow(
    clippy::unnecessary_cast,
    reason = "libc::Ioctl is u64 on some targets, i32 on others"
)]
fn ioctl_nr(n: libc::Ioctl) -> u64 {
    n as u64
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// `clone3` (and x32 numbers on x86_64) → ENOSYS; foreign arch → kill.
fn enosys_program() -> Vec<sock_filter> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // Offsets into struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xc000_003e;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xc000_00b7;
    #[cfg(target_arch = "riscv64")]
    const AUDIT_ARCH: u32 = 0xc000_00f3;
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    let mut p = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JEQ, AUDIT_ARCH, 1, 0),
        stmt(RET, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, NR),
    ];
    if cfg!(target_arch = "x86_64") {
        // Jump over the clone3 test and the allow to the ENOSYS return.
        p.push(jump(JGE, X32_SYSCALL_BIT, 2, 0));
    }
    p.extend([
        jump(JEQ, libc::SYS_clone3 as u32, 1, 0),
        stmt(RET, libc::SECCOMP_RET_ALLOW),
        stmt(RET, enosys),
    ]);
    p
}

/// Child side: installs both programs (`no_new_privs` must already be set). On
/// failure returns the program's index.
pub(crate) fn install(f: &Filters) -> Result<(), (u32, i32)> {
    for (i, prog) in f.programs.iter().enumerate() {
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            // seccompiler's sock_filter has libc's layout (#[repr(C)], same fields).
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `fprog` points at a valid program that outlives the call; the
        // kernel copies it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        };
        sys::check(r).map_err(|e| (i as u32, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_and_list_their_reasons() {
        let f = filters().unwrap();
        assert!(f.programs[0].len() > DENIED.len());
        assert!(f.programs[1].len() <= 8);
        assert!(denied_syscalls().any(|(n, _)| n == "ptrace"));
        assert!(denied_syscalls().all(|(_, why)| !why.is_empty()));
    }

    /// Installs the filters in a forked child (seccomp needs no privilege once
    /// no_new_privs is set) and checks a denied, an argument-filtered and an
    /// allowed call, each with arguments the kernel would reject on its own with a
    /// different errno.
    #[test]
    fn installed_filters_deny_with_eperm_and_enosys() {
        let f = filters().unwrap();
        // SAFETY: the child only makes raw syscalls on memory prepared before the
        // fork, then _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: prctl with constant arguments.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            if install(f).is_err() {
                sys::exit(10);
            }
            // An address the kernel cannot read.
            let bad = 1usize;
            let errno_of = |r: libc::c_long| if r == -1 { sys::errno() } else { 0 };
            // SAFETY: bad pointers make the kernel fail these with EFAULT/EBADF
            // unless the filter answers first.
            let (mount, clone_ns, clone3, tiocsti, read) = unsafe {
                (
                    errno_of(libc::syscall(libc::SYS_mount, bad, bad, bad, 0, 0)),
                    errno_of(libc::syscall(
                        libc::SYS_clone,
                        libc::CLONE_NEWUSER | libc::CLONE_THREAD,
                        0,
                        0,
                        0,
                        0,
                    )),
                    errno_of(libc::syscall(libc::SYS_clone3, bad, 88)),
                    errno_of(libc::syscall(
                        libc::SYS_ioctl,
                        -1,
                        (0x123u64 << 32) | ioctl_nr(libc::TIOCSTI),
                        bad,
                    )),
                    errno_of(libc::syscall(libc::SYS_read, -1, bad, 1)),
                )
            };
            let ok = mount == libc::EPERM
                && clone_ns == libc::EPERM
                && clone3 == libc::ENOSYS
                && tiocsti == libc::EPERM
                && read == libc::EBADF;
            sys::exit(if ok { 0 } else { 11 });
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "10: install failed, 11: wrong errno"
        );
    }
}
