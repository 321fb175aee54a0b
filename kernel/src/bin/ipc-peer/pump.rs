//! Bytes through a pipe as fast as it carries them, for the pipe benchmark
//! (`kernel/benches/ipc.rs`): the same loops run in two managed processes on a
//! kernel pipe and in two plain host processes on a pipe they inherited.
//!
//! * `pump-write NAME BYTES`: write `BYTES` bytes in [`CHUNK`] writes to the
//!   write end of kernel pipe `NAME`, or to inherited descriptor `N` when `NAME`
//!   is `fd:N`.
//! * `pump-read NAME BYTES`: read `BYTES` bytes in [`CHUNK`] reads from the read
//!   end (or `fd:N`), and print `pumped N bytes in T ns`: the bytes after the
//!   first read and the time from the first read's return to the last's, so the
//!   peer's start-up (which the first read may wait out) is not counted.

use std::{
    fs::File,
    io::{self, Read, Write},
    os::fd::{FromRawFd, RawFd},
    time::{Duration, Instant},
};

use agentos_client::{Client, pb};

/// Bytes per `write` and `read` (the pipe's default capacity; 64 KiB beats 1 MiB
/// here, see TOOLCHAIN.md).
pub const CHUNK: usize = 64 << 10;

/// Runs a `pump-*` subcommand (`args[0]`), or `None` for any other.
pub async fn command(args: &[String]) -> Option<Result<String, String>> {
    let write = match args.first().map(String::as_str) {
        Some("pump-write") => true,
        Some("pump-read") => false,
        _ => return None,
    };
    Some(run(args, write).await)
}

async fn run(args: &[String], write: bool) -> Result<String, String> {
    let name = args.get(1).ok_or("a pipe name, or fd:N")?;
    let total: u64 = super::num(args.get(2), "BYTES")?;
    let end = if write {
        pb::PipeEnd::Write
    } else {
        pb::PipeEnd::Read
    };
    let file = match name.strip_prefix("fd:") {
        Some(n) => inherited(n.parse().map_err(|_| format!("{name}: fd:N"))?)?,
        None => {
            let mut k = Client::connect_env()
                .await
                .map_err(|e| format!("connect: {e}"))?;
            super::pipe_end(&mut k, name, end).await?
        }
    };
    if write {
        pump_out(file, total).map_err(|e| format!("write: {e}"))?;
        return Ok(format!("wrote {total}"));
    }
    let (bytes, took) = pump_in(file, total).map_err(|e| format!("read: {e}"))?;
    Ok(format!("pumped {bytes} bytes in {} ns", took.as_nanos()))
}

/// Descriptor `fd`, which the parent left open for this process (above stderr).
fn inherited(fd: RawFd) -> Result<File, String> {
    // SAFETY: F_GETFD only reads the flags of a descriptor number.
    if fd <= 2 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(format!("fd:{fd}: not an inherited descriptor"));
    }
    // SAFETY: open (checked above), not stdio, and nothing else in this process
    // owns it: the parent passed it for this use alone.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Writes `total` bytes to `w`.
fn pump_out(mut w: impl Write, total: u64) -> io::Result<()> {
    let chunk = vec![0x5a; CHUNK];
    let mut left = total;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        w.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    w.flush()
}

/// Reads `total` bytes from `r`: the bytes after the first read, and the time
/// they took.
fn pump_in(mut r: impl Read, total: u64) -> io::Result<(u64, Duration)> {
    let mut buf = vec![0u8; CHUNK];
    let mut read = |buf: &mut [u8]| match r.read(buf)? {
        0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
        n => Ok(n as u64),
    };
    let first = read(&mut buf)?;
    let start = Instant::now();
    let mut got = first;
    while got < total {
        got += read(&mut buf)?;
    }
    Ok((got - first, start.elapsed()))
}
