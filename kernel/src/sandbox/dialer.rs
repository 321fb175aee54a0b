//! A helper process in a sandbox's user and network namespaces that makes TCP sockets
//! there for the kernel: how a rootless kernel, which cannot enter those namespaces
//! itself (`setns` wants a single-threaded caller), connects into a sandbox's network
//! (port forwards into rootless `private`, `net/proxied.rs`; its outgoing UDP,
//! `net/udp_egress.rs`; the sockets a process asks the kernel for, `process/sockets.rs`).
//!
//! A socket belongs to the network namespace it was made in, whoever holds it after:
//! the helper makes an unconnected socket (TCP or UDP, over IPv4 or IPv6) per request and sends it
//! back over a `SOCK_SEQPACKET` pair (`SCM_RIGHTS`); the kernel connects it, so the
//! connection is made inside the sandbox, to the sandbox's own address.
//!
//! The helper is a fork of the kernel that runs only async-signal-safe system calls
//! (other threads' locks stay held in a fork) and never `execve`s: it enters the
//! namespaces (allowed to their owner, the kernel's uid, and to a single-threaded
//! process, which a fork is), drops the capabilities that gave it, makes itself
//! undumpable, keeps only its end of the pair (`close_range`), and then answers one byte
//! with one socket until the kernel's end closes. It is not in the sandbox's pid
//! namespace, so the program cannot see or signal it. Dropping the [`Dialer`] closes the
//! pair, kills the helper and reaps it.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd, RawFd},
    sync::Mutex,
    time::Duration,
};

use super::{Namespaces, caps, channel, clone, spawn::kill_and_reap, sys};

/// How long the kernel waits for a socket (the helper answers in microseconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The helper's end of the pair, after it closed every other fd.
const CHANNEL_FD: RawFd = 0;

/// What a [`Dialer`] makes, as the request byte it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SocketKind {
    /// `SOCK_STREAM`: TCP.
    Tcp = b's',
    /// `SOCK_STREAM` of `AF_INET6`: TCP over IPv6.
    Tcp6 = b'S',
    /// `SOCK_DGRAM`: UDP.
    Udp = b'd',
    /// `SOCK_DGRAM` of `AF_INET6`: UDP over IPv6.
    Udp6 = b'D',
}

/// A running helper; makes sockets in its sandbox's network namespace.
#[derive(Debug)]
pub struct Dialer {
    /// The kernel's end of the pair; one request at a time.
    channel: Mutex<OwnedFd>,
    pidfd: OwnedFd,
}

impl Dialer {
    /// Starts the helper in the namespaces `ns` of a sandbox the kernel's uid made.
    pub fn start(ns: &Namespaces) -> io::Result<Self> {
        let (ours, theirs) = channel::console_pair()?;
        let (user, net) = (ns.user().as_raw_fd(), ns.net().as_raw_fd());
        let theirs_raw = theirs.as_raw_fd();
        // SAFETY: the child runs only `serve`, which makes async-signal-safe system calls
        // and never returns; signals stay blocked in it, as none of the daemon's
        // handlers may run there.
        let forked = clone::with_signals_blocked(|| unsafe { clone::clone_pidfd(0, None) })?;
        match forked {
            clone::Forked::Child => serve(user, net, theirs_raw),
            clone::Forked::Parent { pidfd, .. } => {
                drop(theirs);
                Ok(Self {
                    channel: Mutex::new(ours),
                    pidfd,
                })
            }
        }
    }

    /// A fresh, unconnected socket of the sandbox's network namespace, of `kind`
    /// (close-on-exec, blocking). Blocks for at most a couple of seconds.
    pub fn socket(&self, kind: SocketKind) -> io::Result<OwnedFd> {
        let channel = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        let request = [kind as u8];
        // A helper that is gone makes this EPIPE, never a SIGPIPE.
        // SAFETY: a one-byte buffer on a socket this holds.
        let sent = unsafe {
            libc::send(
                channel.as_raw_fd(),
                request.as_ptr().cast(),
                1,
                libc::MSG_NOSIGNAL,
            )
        };
        if sent != 1 {
            return Err(io::Error::last_os_error());
        }
        let mut poll = libc::pollfd {
            fd: channel.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let wait = ANSWER_WITHIN.as_millis() as libc::c_int;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, wait) } {
            r if r < 0 => return Err(io::Error::last_os_error()),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the dialer is stuck",
                ));
            }
            _ => {}
        }
        channel::recv_fd(channel.as_fd())?.ok_or_else(|| {
            io::Error::other("the dialer made no socket (it has exited, or socket() failed)")
        })
    }
}

impl Drop for Dialer {
    fn drop(&mut self) {
        if let Err(e) = kill_and_reap(self.pidfd.as_fd()) {
            tracing::warn!("the dialer helper could not be reaped: {e}");
        }
    }
}

/// The helper: enters the namespaces, keeps only the channel, and answers each byte
/// ([`SocketKind`]) with a socket (or with a byte and no socket when `socket()` fails).
/// Exits when the kernel's end closes; on any failure before that, at once (the kernel's
/// `socket` then says it made none).
fn serve(user: RawFd, net: RawFd, channel: RawFd) -> ! {
    // SAFETY: setns, capset, prctl, dup2, close_range, read, socket, sendmsg, close and _exit are
    // async-signal-safe system calls on fds this process holds.
    unsafe {
        for (fd, kind) in [(user, libc::CLONE_NEWUSER), (net, libc::CLONE_NEWNET)] {
            if libc::setns(fd, kind) != 0 {
                libc::_exit(1);
            }
        }
        // Making a socket needs no capability: it keeps none of those joining the user
        // namespace gave it, and (a copy of the kernel's memory) cannot be dumped or
        // traced by the sandbox's uid.
        if caps::drop_all().is_err() || libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            libc::_exit(1);
        }
        if libc::dup2(channel, CHANNEL_FD) < 0
            || libc::syscall(libc::SYS_close_range, CHANNEL_FD + 1, u32::MAX, 0) != 0
        {
            libc::_exit(1);
        }
        let mut byte = [0u8; 1];
        while libc::read(CHANNEL_FD, byte.as_mut_ptr().cast(), 1) == 1 {
            let (family, kind) = match byte[0] {
                b'd' => (libc::AF_INET, libc::SOCK_DGRAM),
                b'D' => (libc::AF_INET6, libc::SOCK_DGRAM),
                b'S' => (libc::AF_INET6, libc::SOCK_STREAM),
                _ => (libc::AF_INET, libc::SOCK_STREAM),
            };
            let sock = libc::socket(family, kind | libc::SOCK_CLOEXEC, 0);
            let sent = if sock < 0 {
                sys::write_all(CHANNEL_FD, b"e")
            } else {
                let sent = channel::send_fd(CHANNEL_FD, sock);
                libc::close(sock);
                sent
            };
            if sent.is_err() {
                break;
            }
        }
        libc::_exit(0)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        os::{fd::FromRawFd, unix::fs::MetadataExt},
        process::{Child, Command},
        time::Instant,
    };

    use super::*;

    /// `SIOCGSKNS` (`<linux/sockios.h>`): a socket's network namespace, as a new fd.
    const SIOCGSKNS: libc::c_ulong = 0x894C;

    /// A sleeper of the test's own in a new user and network namespace, once it is there.
    fn in_new_namespaces() -> Option<Child> {
        let child = Command::new("unshare")
            .args(["--user", "--map-root-user", "--net", "sleep", "30"])
            .spawn()
            .ok()?;
        let ours = std::fs::metadata("/proc/self/ns/net").ok()?.ino();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let theirs = std::fs::metadata(format!("/proc/{}/ns/net", child.id()));
            if theirs.is_ok_and(|m| m.ino() != ours) {
                return Some(child);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    #[test]
    fn its_sockets_are_the_namespaces_and_a_gone_helper_is_an_error_not_a_wait() {
        let Some(mut child) = in_new_namespaces() else {
            crate::testing::skip(
                "its_sockets_are_the_namespaces_and_a_gone_helper_is_an_error_not_a_wait",
                "unshare could not make a user and network namespace",
            );
            return;
        };
        let ns = |kind: &str| format!("/proc/{}/ns/{kind}", child.id());
        let namespaces = Namespaces::of(child.id() as i32).unwrap();
        let dialer = Dialer::start(&namespaces).expect("the helper starts");

        // Each socket is one of the namespace's, not the kernel's.
        for kind in [SocketKind::Tcp, SocketKind::Udp, SocketKind::Tcp] {
            let sock = dialer.socket(kind).expect("a socket");
            // SAFETY: an ioctl on a socket this test owns; it returns a new fd.
            let raw = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSKNS) };
            assert!(raw >= 0, "SIOCGSKNS: {}", io::Error::last_os_error());
            // SAFETY: just returned to us, owned by nothing else.
            let of_socket = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(raw) });
            assert_eq!(
                of_socket.metadata().unwrap().ino(),
                std::fs::metadata(ns("net")).unwrap().ino()
            );
        }

        // The helper killed behind its back: the next request fails, at once.
        // SAFETY: pidfd_send_signal with a pidfd this holds and no siginfo.
        let killed = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                dialer.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        assert_eq!(killed, 0);
        std::thread::sleep(Duration::from_millis(50));
        let asked = Instant::now();
        assert!(
            dialer.socket(SocketKind::Tcp).is_err(),
            "a socket from a killed helper"
        );
        assert!(asked.elapsed() < ANSWER_WITHIN, "{:?}", asked.elapsed());
        drop(dialer);
        let _ = child.kill();
        let _ = child.wait();
    }
}
