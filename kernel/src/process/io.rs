//! Wiring a process's stdio: pipes (or a PTY master) made nonblocking and read by
//! tokio tasks into the process's bounded [`super::Output`].
//!
//! A PTY master reports EIO once the last slave fd closes (the process exited):
//! that is its EOF.

use std::{
    io,
    os::fd::{AsRawFd, OwnedFd},
    sync::Arc,
};

use tokio::{io::AsyncReadExt, net::unix::pipe, task::JoinHandle};

use super::{Process, Stream};

/// Read size of the pumps.
const READ_CHUNK: usize = 64 << 10;

/// The read ends still to be pumped.
pub(super) struct Pumps(Vec<(Stream, pipe::Receiver)>);

/// Turns the child's fds into a stdin writer, the PTY fd (kept for resizes) and the
/// output readers.
pub(super) fn wire(
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    pty: Option<OwnedFd>,
) -> io::Result<(Option<pipe::Sender>, Option<OwnedFd>, Pumps)> {
    let mut readers = Vec::new();
    if let Some(master) = pty {
        // pipe::Receiver/Sender's unchecked constructors do not set O_NONBLOCK.
        let flags = nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_GETFL)?;
        let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        let reader = master.try_clone()?;
        let writer = master.try_clone()?;
        readers.push((
            Stream::Stdout,
            pipe::Receiver::from_owned_fd_unchecked(reader)?,
        ));
        return Ok((
            Some(pipe::Sender::from_owned_fd_unchecked(writer)?),
            Some(master),
            Pumps(readers),
        ));
    }
    if let Some(fd) = stdout {
        readers.push((Stream::Stdout, pipe::Receiver::from_owned_fd(fd)?));
    }
    if let Some(fd) = stderr {
        readers.push((Stream::Stderr, pipe::Receiver::from_owned_fd(fd)?));
    }
    let stdin = stdin.map(pipe::Sender::from_owned_fd).transpose()?;
    Ok((stdin, None, Pumps(readers)))
}

/// Starts one task per output stream; the reaper waits for them before closing the
/// output.
pub(super) fn start_pumps(process: &Arc<Process>, pumps: Pumps) {
    let handles: Vec<JoinHandle<()>> = pumps
        .0
        .into_iter()
        .map(|(stream, mut rx)| {
            let p = Arc::clone(process);
            tokio::spawn(async move {
                let mut buf = vec![0u8; READ_CHUNK];
                loop {
                    match rx.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => p.output.push(stream, &buf[..n]),
                        Err(e) if e.raw_os_error() == Some(libc::EIO) => break, // PTY closed
                        Err(e) => {
                            tracing::warn!(pid = p.pid, "reading {stream:?}: {e}");
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    *process.pumps.lock().unwrap_or_else(|p| p.into_inner()) = handles;
}

/// `TIOCSWINSZ` on the PTY master.
pub(super) fn resize(pty: &OwnedFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a live local.
    if unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
