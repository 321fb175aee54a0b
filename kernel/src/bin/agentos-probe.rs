//! `agentos-probe`: runs inside a sandbox and tries one thing per subcommand, so a
//! test outside can tell what the sandbox allows (`tests/it/sandbox.rs`).
//!
//! Every subcommand prints one line, `VERDICT DETAIL`:
//!
//! * `ALLOWED <detail>`: the attempt worked;
//! * `DENIED <ERRNO>`: it failed with that errno (`EACCES`, `EPERM`, `ENOENT`…);
//! * `INFO <facts>`: a report (`status`, `pids`, `argv`, `id`…).
//!
//! `syscall NAME…` prints one `NAME VERDICT ERRNO` line per name: it calls the
//! syscall with arguments the kernel rejects on its own (a bad pointer or fd,
//! invalid flags), as bubblewrap's `tests/try-syscall.c` does, so a call the
//! seccomp filter lets through fails with EFAULT/EBADF/EINVAL/ESRCH and has no
//! effect, and a filtered one fails with EPERM (ENOSYS for clone3).
//!
//! `observe PATH PORT COUNT CODE` is the eBPF probes' workload (`tests/it/probes.rs`): it
//! opens PATH, listens on 127.0.0.1:PORT if it can (in a sandbox's private network
//! namespace it can) and connects to that port, calls `getppid` COUNT times, prints
//! `INFO open=… connect=…` and exits with CODE.
//!
//! `resolve NAME` looks NAME up through the C library (`getaddrinfo`: `/etc/hosts`,
//! then the resolvers of `/etc/resolv.conf`) and prints `ALLOWED resolved ADDR…`, sorted
//! (`tests/it/net/dns.rs`).
//!
//! `serve PORT [ADDR]` answers one TCP connection on `ADDR:PORT` (`0.0.0.0` when left
//! out) with `pong LINE`; `serve-udp`, `dns` and `addrs6` are in `probe/net.rs`.
//!
//! `ask ADDR LINE` sends LINE over TCP to ADDR and prints the answer's first line;
//! `ask-udp ADDR TEXT [N]` sends TEXT N times (2), a datagram at a time, from a socket
//! connected to ADDR and prints the datagrams that come back and their source
//! (`tests/it/process/rootless_net.rs`).
//!
//! `bind ADDR` binds a TCP listener to ADDR; `sendto ADDR` sends one UDP datagram to ADDR
//! from an unconnected socket (network mode `shared`, `tests/it/net/shared_mode.rs`).
//!
//! `getppid COUNT` calls `getppid` COUNT times and prints the nanoseconds it took (the
//! probe-cost bench's workload, `benches/probes_syscall.rs`); `getppid-cpu COUNT` does the
//! same and prints the CPU time its thread spent on it (`CLOCK_THREAD_CPUTIME_ID`: on an idle
//! machine its wall time, as the loop never blocks; on a shared one without the time other
//! processes ran while it waited for a CPU); `udpconnect ADDR COUNT`
//! connects one UDP socket to ADDR COUNT times (no packet is sent) and prints the nanoseconds
//! it took (the connect wall's workload, `benches/probes_wall.rs`); `opens COUNT PATH` opens
//! PATH COUNT times the same way (closing what opens: one open event each, the ring-buffer
//! bench's producer, `benches/probes_ring.rs`); `pingpong-cpu COUNT` hands a byte back and
//! forth between this process and a child on one CPU COUNT times and prints the CPU time the
//! two spent (the scheduling probes' workload, `benches/probes_sched.rs`, see [`pingpong`]).
//!
//! Usage errors print `ERROR <message>` and exit 2. The probe links only libc.

use std::{
    ffi::CString,
    io::Write,
    net::{SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

#[path = "probe/net.rs"]
mod net;
#[path = "probe/pingpong.rs"]
mod pingpong;

unsafe extern "C" {
    /// glibc ≥ 2.32: "EPERM" for EPERM.
    fn strerrorname_np(errnum: libc::c_int) -> *const libc::c_char;
}

fn errno() -> i32 {
    // SAFETY: the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

fn name(e: i32) -> String {
    // SAFETY: strerrorname_np returns a static string or NULL.
    let p = unsafe { strerrorname_np(e) };
    if p.is_null() {
        return format!("E{e}");
    }
    // SAFETY: non-null, NUL-terminated, static.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

fn verdict(r: i64, ok: impl FnOnce(i64) -> String) -> String {
    if r < 0 {
        format!("DENIED {}", name(errno()))
    } else {
        format!("ALLOWED {}", ok(r))
    }
}

fn io_verdict<T>(r: std::io::Result<T>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => format!("ALLOWED {}", ok(v)),
        Err(e) => match e.raw_os_error() {
            Some(n) => format!("DENIED {}", name(n)),
            None if e.kind() == std::io::ErrorKind::TimedOut => "DENIED ETIMEDOUT".into(),
            None => format!("DENIED {e}"),
        },
    }
}

/// The unspecified address (port 0) of `addr`'s family, to bind a socket that talks to it.
fn unspecified(addr: &SocketAddr) -> SocketAddr {
    let ip: std::net::IpAddr = if addr.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    SocketAddr::new(ip, 0)
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| usage("NUL in argument"))
}

fn usage(msg: &str) -> ! {
    println!("ERROR {msg}");
    std::process::exit(2)
}

fn hex(s: &[u8]) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.iter().map(|b| format!("{b:02x}")).collect()
}

/// A pointer the kernel cannot read or write.
const BAD: usize = 1;

/// Calls syscall `name` with arguments the kernel rejects; None if unknown.
#[allow(
    clippy::unnecessary_cast,
    reason = "libc::Ioctl is u64 on some targets, i32 on others"
)]
fn try_syscall(name: &str) -> Option<i64> {
    use libc::*;
    let b = BAD;
    let tiocsti = TIOCSTI as u64;
    // SAFETY: every call gets arguments that make it fail before it has an effect
    // (bad pointers, fds or flags); see the module docs.
    let r = unsafe {
        match name {
            "mount" => syscall(SYS_mount, b, b, b, 0, 0),
            "umount2" => syscall(SYS_umount2, b, 0),
            "pivot_root" => syscall(SYS_pivot_root, b, b),
            "chroot" => syscall(SYS_chroot, b),
            "open_tree" => syscall(SYS_open_tree, -1, b, 0),
            "move_mount" => syscall(SYS_move_mount, -1, b, -1, b, 0),
            "fsopen" => syscall(SYS_fsopen, b, 0),
            "fsconfig" => syscall(SYS_fsconfig, -1, 0, b, b, 0),
            "fsmount" => syscall(SYS_fsmount, -1, 0, 0),
            "fspick" => syscall(SYS_fspick, -1, b, 0),
            "mount_setattr" => syscall(SYS_mount_setattr, -1, b, 0, b, 32),
            "unshare" => syscall(SYS_unshare, 0x1),
            "setns" => syscall(SYS_setns, -1, 0),
            "ptrace" => syscall(SYS_ptrace, PTRACE_ATTACH, -1, 0, 0),
            "process_vm_readv" => syscall(SYS_process_vm_readv, 0, 0, 0, 0, 0, 1),
            "process_vm_writev" => syscall(SYS_process_vm_writev, 0, 0, 0, 0, 0, 1),
            "pidfd_getfd" => syscall(SYS_pidfd_getfd, -1, 0, 0),
            "bpf" => syscall(SYS_bpf, 5, b, 8),
            "perf_event_open" => syscall(SYS_perf_event_open, b, 0, -1, -1, 0),
            "userfaultfd" => syscall(SYS_userfaultfd, 0xffff),
            "io_uring_setup" => syscall(SYS_io_uring_setup, 0, b),
            "io_uring_enter" => syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0),
            "io_uring_register" => syscall(SYS_io_uring_register, -1, 0, 0, 0),
            "keyctl" => syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0),
            "add_key" => syscall(SYS_add_key, b, b, 0, 0, 0),
            "request_key" => syscall(SYS_request_key, b, b, b, 0),
            "kexec_load" => syscall(SYS_kexec_load, 0, 0, 0, 0xffff_ffffu64),
            "kexec_file_load" => syscall(SYS_kexec_file_load, -1, -1, 0, 0, 0xffff_ffffu64),
            "init_module" => syscall(SYS_init_module, b, 0, b),
            "finit_module" => syscall(SYS_finit_module, -1, b, 0),
            "delete_module" => syscall(SYS_delete_module, b, 0),
            "reboot" => syscall(SYS_reboot, 0, 0, 0, 0),
            "swapon" => syscall(SYS_swapon, b, 0),
            "swapoff" => syscall(SYS_swapoff, b),
            "acct" => syscall(SYS_acct, b),
            "quotactl" => syscall(SYS_quotactl, 0, b, 0, b),
            "quotactl_fd" => syscall(SYS_quotactl_fd, -1, 0, 0, b),
            "syslog" => syscall(SYS_syslog, 0x7fff, b, 0),
            "settimeofday" => syscall(SYS_settimeofday, b, b),
            "clock_settime" => syscall(SYS_clock_settime, CLOCK_REALTIME, b),
            "clock_adjtime" => syscall(SYS_clock_adjtime, CLOCK_REALTIME, b),
            "open_by_handle_at" => syscall(SYS_open_by_handle_at, -1, b, 0),
            "name_to_handle_at" => syscall(SYS_name_to_handle_at, -1, b, b, b, 0),
            #[cfg(target_arch = "x86_64")]
            "iopl" => syscall(SYS_iopl, 4),
            #[cfg(target_arch = "x86_64")]
            "ioperm" => syscall(SYS_ioperm, 0, 65537, 1),
            // Filtered by argument.
            "clone-newns" => syscall(SYS_clone, CLONE_NEWNS | CLONE_THREAD, 0, 0, 0, 0),
            "clone-newuts" => syscall(SYS_clone, CLONE_NEWUTS | CLONE_THREAD, 0, 0, 0, 0),
            "clone-newipc" => syscall(SYS_clone, CLONE_NEWIPC | CLONE_THREAD, 0, 0, 0, 0),
            "clone-newuser" => syscall(SYS_clone, CLONE_NEWUSER | CLONE_THREAD, 0, 0, 0, 0),
            "clone-newpid" => syscall(SYS_clone, CLONE_NEWPID | CLONE_THREAD, 0, 0, 0, 0),
            "clone-newnet" => syscall(SYS_clone, CLONE_NEWNET | CLONE_THREAD, 0, 0, 0, 0),
            "clone-newcgroup" => syscall(SYS_clone, CLONE_NEWCGROUP | CLONE_THREAD, 0, 0, 0, 0),
            "clone3" => syscall(SYS_clone3, b, 88),
            "socket-packet" => syscall(SYS_socket, AF_PACKET, SOCK_RAW | 0x100, 0),
            "socket-raw-inet" => syscall(SYS_socket, AF_INET, SOCK_RAW | 0x100, IPPROTO_ICMP),
            "socket-raw-inet6" => syscall(SYS_socket, AF_INET6, SOCK_RAW | 0x100, IPPROTO_ICMPV6),
            "ioctl-tiocsti" => syscall(SYS_ioctl, -1, tiocsti, b),
            "ioctl-tiocsti-high-bits" => syscall(SYS_ioctl, -1, (0x123u64 << 32) | tiocsti, b),
            "ioctl-tioclinux" => syscall(SYS_ioctl, -1, TIOCLINUX as u64, b),
            // Allowed: controls that the filter is not a blanket denial.
            "read" => syscall(SYS_read, -1, b, 1),
            "listen" => syscall(SYS_listen, -1, 1),
            "fchmodat" => syscall(SYS_fchmodat, AT_FDCWD, b, 0o700),
            "prctl" => syscall(SYS_prctl, PR_GET_CHILD_SUBREAPER, b, 0, 0, 0),
            "ioctl-tiocnotty" => syscall(SYS_ioctl, -1, TIOCNOTTY as u64),
            "clone-plain" => syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0),
            "socket-inet-stream" => syscall(SYS_socket, AF_INET, SOCK_STREAM | 0x100, 0),
            "socket-unix" => syscall(SYS_socket, AF_UNIX, SOCK_STREAM | 0x100, 0),
            "kill" => syscall(SYS_kill, 0x3fff_ffff, 0),
            "landlock_create_ruleset" => syscall(SYS_landlock_create_ruleset, b, 24, 0),
            _ => return None,
        }
    };
    Some(r)
}

fn status_fields() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let want = [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
    ];
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            want.contains(&k).then(|| format!("{k}={}", v.trim()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn winsize() -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data for TIOCGWINSZ to fill.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize.
    let r = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some((ws.ws_row, ws.ws_col))
}

fn ptrace_child() -> String {
    // SAFETY: the probe is single-threaded; the child only pauses.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    }
    // SAFETY: PTRACE_SEIZE of our own child.
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) };
    let v = verdict(r, |_| format!("pid {pid}"));
    // SAFETY: killing and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    v
}

/// Leaves an orphan behind (a grandchild whose parent exits first) and checks,
/// after it exited, that someone reaped it: inside a sandbox that is init.
fn orphan() -> String {
    let mut fds = [0; 2];
    // SAFETY: the probe is single-threaded; the children only sleep, write and exit.
    unsafe {
        libc::pipe(fds.as_mut_ptr());
        let child = libc::fork();
        if child == 0 {
            let gc = libc::fork();
            if gc == 0 {
                libc::usleep(200_000);
                libc::_exit(0);
            }
            libc::write(fds[1], (&gc as *const i32).cast(), 4);
            libc::_exit(0);
        }
        libc::waitpid(child, std::ptr::null_mut(), 0);
        let mut gc = 0i32;
        libc::read(fds[0], (&mut gc as *mut i32).cast(), 4);
        libc::usleep(800_000);
        match std::fs::read_to_string(format!("/proc/{gc}/stat")) {
            Err(_) => format!("ALLOWED reaped pid {gc}"),
            Ok(stat) => format!("DENIED left {}", stat.split(' ').nth(2).unwrap_or("?")),
        }
    }
}

fn bpf_load() -> String {
    // mov64 r0, 0; exit — the smallest valid socket filter.
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes()); // insn_cnt
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: BPF_PROG_LOAD with a valid attr of the size passed.
    let r = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) };
    if r >= 0 {
        // SAFETY: closing the program fd just loaded.
        unsafe { libc::close(r as i32) };
    }
    verdict(r, |fd| format!("fd {fd}"))
}

fn run(args: &[String]) -> String {
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| usage("missing argument"))
    };
    match arg(0) {
        "read" => io_verdict(std::fs::read(arg(1)), |d| format!("{} bytes", d.len())),
        "cat" => io_verdict(std::fs::read(arg(1)), |d| hex(&d)),
        "write" => io_verdict(std::fs::write(arg(1), b"agentos-probe\n"), |_| {
            "written".into()
        }),
        "ls" => io_verdict(std::fs::read_dir(arg(1)), |rd| {
            let mut n: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n.join(",")
        }),
        "pids" => {
            let mut p: Vec<u32> = std::fs::read_dir("/proc")
                .map(|rd| {
                    rd.flatten()
                        .filter_map(|e| e.file_name().to_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            p.sort();
            format!(
                "INFO {}",
                p.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            )
        }
        "kill" => {
            let pid = if arg(1) == "self" {
                // SAFETY: getpid has no preconditions.
                unsafe { libc::getpid() }
            } else {
                arg(1).parse().unwrap_or_else(|_| usage("bad pid"))
            };
            // SAFETY: signal 0 only checks.
            verdict(unsafe { libc::kill(pid, 0) } as i64, |_| {
                format!("pid {pid}")
            })
        }
        "ptrace-child" => ptrace_child(),
        "orphan" => orphan(),
        "mount" => {
            let dir = cstr(arg(1));
            // SAFETY: valid strings.
            let r = unsafe {
                libc::mount(
                    c"agentos-probe".as_ptr(),
                    dir.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            if r == 0 {
                // SAFETY: valid path.
                unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
            }
            verdict(r as i64, |_| "mounted and unmounted".into())
        }
        "bpf" => bpf_load(),
        "raw-socket" | "packet-socket" => {
            let (d, p) = if arg(0) == "raw-socket" {
                (libc::AF_INET, libc::IPPROTO_ICMP)
            } else {
                (libc::AF_PACKET, (libc::ETH_P_ALL as u16).to_be() as i32)
            };
            // SAFETY: plain socket(2).
            let fd = unsafe { libc::socket(d, libc::SOCK_RAW | libc::SOCK_CLOEXEC, p) };
            if fd >= 0 {
                // SAFETY: closing the fd just opened.
                unsafe { libc::close(fd) };
            }
            verdict(fd as i64, |_| "socket".into())
        }
        "status" => format!("INFO {}", status_fields()),
        "setuid" => {
            let uid: u32 = arg(1).parse().unwrap_or_else(|_| usage("bad uid"));
            // SAFETY: raw setuid.
            verdict(unsafe { libc::syscall(libc::SYS_setuid, uid) }, |_| {
                "uid changed".into()
            })
        }
        "unshare-user" => {
            // SAFETY: unshare with a constant flag.
            verdict(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as i64, |_| {
                "new user namespace".into()
            })
        }
        "connect" => {
            let addr: SocketAddr = arg(1).parse().unwrap_or_else(|_| usage("bad address"));
            io_verdict(
                TcpStream::connect_timeout(&addr, Duration::from_secs(3)),
                |_| "connected".into(),
            )
        }
        "ask" => ask(arg(1), arg(2)),
        "ask-udp" => ask_udp(arg(1), arg(2), args.get(3).map_or("2", String::as_str)),
        "bind" => {
            let addr: SocketAddr = arg(1).parse().unwrap_or_else(|_| usage("bad address"));
            io_verdict(TcpListener::bind(addr), |l| match l.local_addr() {
                Ok(a) => format!("bound {a}"),
                Err(_) => "bound".into(),
            })
        }
        "sendto" => {
            let addr: SocketAddr = arg(1).parse().unwrap_or_else(|_| usage("bad address"));
            io_verdict(
                std::net::UdpSocket::bind(unspecified(&addr))
                    .and_then(|s| s.send_to(b"agentos", addr)),
                |n| format!("sent {n} bytes"),
            )
        }
        "resolve" => io_verdict(
            std::net::ToSocketAddrs::to_socket_addrs(&(arg(1), 0)),
            |addrs| {
                let mut ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                ips.sort();
                ips.dedup();
                format!("resolved {}", ips.join(" "))
            },
        ),
        "serve" => serve(arg(1), args.get(2).map_or("0.0.0.0", String::as_str)),
        "serve-udp" => net::serve_udp(arg(1), arg(2)),
        "dns" => net::dns(arg(1), arg(2)),
        "addrs6" => net::addrs6(arg(1)),
        "loopback" => io_verdict(
            TcpListener::bind("127.0.0.1:0").and_then(|l| {
                let a = l.local_addr()?;
                TcpStream::connect_timeout(&a, Duration::from_secs(3)).map(|_| a)
            }),
            |a| format!("connected to {a}"),
        ),
        "argv" => {
            let rest: Vec<String> = args[1..].iter().map(|a| hex(a.as_bytes())).collect();
            format!("INFO {} {}", rest.len(), rest.join(" "))
        }
        "env" => match std::env::var_os(arg(1)) {
            Some(v) => format!(
                "ALLOWED {}",
                hex(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()))
            ),
            None => "DENIED UNSET".into(),
        },
        "env-names" => {
            let mut n: Vec<String> = std::env::vars_os()
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect();
            n.sort();
            format!("INFO {}", n.join(","))
        }
        "id" => {
            let mut groups = [0 as libc::gid_t; 64];
            // SAFETY: getuid/getgid have no preconditions; getgroups fills at most 64.
            let (u, g, n) = unsafe {
                (
                    libc::getuid(),
                    libc::getgid(),
                    libc::getgroups(64, groups.as_mut_ptr()),
                )
            };
            let gs: Vec<String> = groups[..n.max(0) as usize]
                .iter()
                .map(|g| g.to_string())
                .collect();
            format!("INFO uid={u} gid={g} groups={}", gs.join(","))
        }
        "hostname" => format!(
            "INFO {}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap_or_default()
                .trim()
        ),
        "cwd" => io_verdict(std::env::current_dir(), |p| p.display().to_string()),
        "sleep" => {
            std::thread::sleep(Duration::from_secs(
                arg(1).parse().unwrap_or_else(|_| usage("bad seconds")),
            ));
            "INFO slept".into()
        }
        "exit" => std::process::exit(arg(1).parse().unwrap_or_else(|_| usage("bad code"))),
        "tty" => {
            // SAFETY: isatty on fd 0.
            let is = unsafe { libc::isatty(0) };
            let (r, c) = winsize().unwrap_or((0, 0));
            let dev = io_verdict(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/tty"),
                |_| String::new(),
            );
            // SAFETY: ttyname returns a static buffer or NULL; copied at once.
            let name = unsafe {
                let p = libc::ttyname(0);
                if p.is_null() {
                    format!("none({})", std::io::Error::last_os_error())
                } else {
                    std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            };
            format!(
                "INFO tty={is} rows={r} cols={c} devtty={} name={name}",
                dev.trim()
            )
        }
        "winch" => {
            // SAFETY: sigset_t is plain data; block SIGWINCH and wait for it.
            let sig = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGWINCH);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                let (r, c) = winsize().unwrap_or((0, 0));
                println!("INFO rows={r} cols={c}");
                let _ = std::io::stdout().flush();
                let ts = libc::timespec {
                    tv_sec: 10,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&set, std::ptr::null_mut(), &ts)
            };
            let (r, c) = winsize().unwrap_or((0, 0));
            format!(
                "INFO rows={r} cols={c} signal={}",
                if sig == libc::SIGWINCH {
                    "SIGWINCH"
                } else {
                    "none"
                }
            )
        }
        "syscall" => {
            if args.len() < 2 {
                usage("syscall needs names");
            }
            args[1..]
                .iter()
                .map(|n| match try_syscall(n) {
                    Some(r) => format!("{n} {}", verdict(r, |v| format!("returned {v}"))),
                    None => format!("{n} ERROR unknown"),
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => usage(&format!("unknown subcommand {other:?}")),
    }
}

/// `observe PATH PORT COUNT CODE`: see the module docs.
fn observe(args: &[String]) -> ! {
    let [path, port, count, code] = args else {
        usage("usage: agentos-probe observe PATH PORT COUNT CODE");
    };
    let number = |s: &str| -> u64 { s.parse().unwrap_or_else(|_| usage("not a number")) };
    let port = u16::try_from(number(port)).unwrap_or_else(|_| usage("not a port"));
    let open = io_verdict(std::fs::File::open(path), |_| "opened".into());
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Kept open until exit, so the connect finds it.
    let _listener = TcpListener::bind(addr);
    let connect = io_verdict(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
        |_| "connected".into(),
    );
    for _ in 0..number(count) {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::getppid() };
    }
    println!("INFO open={open} connect={connect}");
    let _ = std::io::stdout().flush();
    std::process::exit(i32::try_from(number(code)).unwrap_or_else(|_| usage("not an exit code")));
}

pub(crate) fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        usage("usage: agentos-probe SUBCOMMAND [ARGS]");
    }
    if args[0] == "observe" {
        observe(&args[1..]);
    }
    if args[0] == "getppid" || args[0] == "getppid-cpu" {
        let clock = if args[0] == "getppid" {
            libc::CLOCK_MONOTONIC
        } else {
            libc::CLOCK_THREAD_CPUTIME_ID
        };
        let usage_text = "usage: agentos-probe getppid[-cpu] COUNT";
        timed_loop_on(clock, &args, usage_text, || {
            // SAFETY: getppid has no arguments and cannot fail.
            unsafe { libc::getppid() };
        });
    }
    if args[0] == "pingpong-cpu" {
        match pingpong::run(&args) {
            Ok(ns) => println!("{ns}"),
            Err(e) => usage(&e),
        }
        return;
    }
    if args[0] == "opens" {
        let path = cstr(args.get(2).map_or("", String::as_str));
        timed_loop(&args, "usage: agentos-probe opens COUNT PATH", || {
            // SAFETY: a valid NUL-terminated path; an fd that opened is closed at once.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd >= 0 {
                // SAFETY: the fd was just opened by this call and is not used elsewhere.
                unsafe { libc::close(fd) };
            }
        });
    }
    if args[0] == "udpconnect" {
        let (Some(addr), Some(count)) = (
            args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
            args.get(2).and_then(|n| n.parse::<u64>().ok()),
        ) else {
            usage("usage: agentos-probe udpconnect ADDR COUNT");
        };
        let socket =
            std::net::UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| usage(&e.to_string()));
        let start = std::time::Instant::now();
        for _ in 0..count {
            if let Err(e) = socket.connect(addr) {
                usage(&format!("connect {addr}: {e}"));
            }
        }
        println!("{}", start.elapsed().as_nanos());
        return;
    }
    println!("{}", run(&args));
}

/// Calls `once` COUNT (`args[1]`) times, prints the nanoseconds it took and exits.
fn timed_loop(args: &[String], usage_text: &str, once: impl FnMut()) -> ! {
    timed_loop_on(libc::CLOCK_MONOTONIC, args, usage_text, once)
}

/// [`timed_loop`], timed on `clock` (a `clock_gettime` clock id).
fn timed_loop_on(
    clock: libc::clockid_t,
    args: &[String],
    usage_text: &str,
    mut once: impl FnMut(),
) -> ! {
    let count: u64 = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| usage(usage_text));
    let now = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; both clocks used here always exist.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    let start = now();
    for _ in 0..count {
        once();
    }
    println!("{}", now() - start);
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// `serve PORT`: listens on `0.0.0.0:PORT`, prints `LISTENING` at once, takes one
/// connection (within 30 s), reads a line and answers `pong <line>`; then prints
/// the verdict.
/// `ask ADDR LINE`: sends LINE over a TCP connection to ADDR and prints the line that
/// comes back (`ALLOWED reply …`, `ALLOWED reply ` when the peer closed without one).
fn ask(addr: &str, line: &str) -> String {
    use std::io::{BufRead, BufReader};
    let addr: SocketAddr = addr.parse().unwrap_or_else(|_| usage("bad address"));
    let asked = (|| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(format!("{line}\n").as_bytes())?;
        let mut reply = String::new();
        BufReader::new(&s).read_line(&mut reply)?;
        Ok(reply.trim().to_owned())
    })();
    io_verdict(asked, |r| format!("reply {r}"))
}

/// Sends `text` `rounds` times, each in a datagram from one socket connected to `addr`,
/// reading one back after each (within 5 s): says what came back, and from where the
/// last one came.
fn ask_udp(addr: &str, text: &str, rounds: &str) -> String {
    let addr: SocketAddr = addr.parse().unwrap_or_else(|_| usage("bad address"));
    let rounds: u32 = rounds.parse().unwrap_or_else(|_| usage("bad count"));
    let asked = (|| {
        let s = std::net::UdpSocket::bind(unspecified(&addr))?;
        s.connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut replies = Vec::new();
        let mut from = addr;
        for _ in 0..rounds {
            s.send(text.as_bytes())?;
            let mut buf = [0u8; 512];
            let (n, at) = s.recv_from(&mut buf)?;
            replies.push(String::from_utf8_lossy(&buf[..n]).trim().to_owned());
            from = at;
        }
        Ok((replies.join(" / "), from))
    })();
    io_verdict(asked, |(r, from)| format!("reply {r} from {from}"))
}

fn serve(port: &str, addr: &str) -> String {
    use std::io::{BufRead, BufReader};
    let port: u16 = port.parse().unwrap_or_else(|_| usage("bad port"));
    let ip: std::net::IpAddr = addr.parse().unwrap_or_else(|_| usage("bad address"));
    let l = match TcpListener::bind((ip, port)) {
        Ok(l) => l,
        Err(e) => return io_verdict(Err::<(), _>(e), |_| String::new()),
    };
    println!("LISTENING {}", SocketAddr::new(ip, port));
    let _ = std::io::stdout().flush();
    let served = (|| {
        l.set_nonblocking(true)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (s, peer) = loop {
            match l.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        };
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line)?;
        (&s).write_all(format!("pong {}\n", line.trim()).as_bytes())?;
        Ok(format!("served {peer} {}", line.trim()))
    })();
    io_verdict(served, |d| d)
}
