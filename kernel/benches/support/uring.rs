//! Raw io_uring baselines (the `io-uring` crate, no AgentOS in the way) and the
//! big file they and the kernel's streams read.

#![allow(dead_code, reason = "each bench uses only some of these")]

use std::{fs, io::Write, os::fd::AsRawFd, path::Path};

/// Writes `total` bytes of a repeating `block`-byte pattern to `path`, synced.
pub fn write_file(path: &Path, total: u64, block: usize) {
    let mut f = fs::File::create(path).expect("creating the bench's file");
    let pattern: Vec<u8> = (0..block).map(|i| i as u8).collect();
    for _ in 0..total / block as u64 {
        f.write_all(&pattern).expect("writing the bench's file");
    }
    // Written back now, not by a flusher thread competing with what is timed.
    f.sync_all().expect("syncing the bench's file");
}

/// Sequential reads of `block` bytes at queue depth 1 on a plain io_uring; the
/// bytes read.
pub fn read(path: &Path, block: usize) -> u64 {
    let f = fs::File::open(path).unwrap();
    let mut ring = io_uring::IoUring::new(8).unwrap();
    let mut buf = vec![0u8; block];
    let mut off = 0u64;
    loop {
        let e = io_uring::opcode::Read::new(
            io_uring::types::Fd(f.as_raw_fd()),
            buf.as_mut_ptr(),
            block as u32,
        )
        .offset(off)
        .build();
        let n = once(&mut ring, &e);
        if n == 0 {
            return off;
        }
        off += u64::from(n);
    }
}

/// Writes `total` bytes of `block`s at queue depth 1 on a plain io_uring, then fsyncs.
pub fn write(path: &Path, block: &[u8], total: usize) {
    let f = fs::File::create(path).unwrap();
    let mut ring = io_uring::IoUring::new(8).unwrap();
    let fd = io_uring::types::Fd(f.as_raw_fd());
    let mut off = 0u64;
    while off < total as u64 {
        let e = io_uring::opcode::Write::new(fd, block.as_ptr(), block.len() as u32)
            .offset(off)
            .build();
        off += once(&mut ring, &e) as u64;
    }
    once(&mut ring, &io_uring::opcode::Fsync::new(fd).build());
}

/// Runs one entry to completion; its non-negative result.
fn once(ring: &mut io_uring::IoUring, e: &io_uring::squeue::Entry) -> u32 {
    // SAFETY: every buffer the entry points to outlives this call, which waits
    // for the entry's completion.
    unsafe { ring.submission().push(e).unwrap() };
    ring.submit_and_wait(1).unwrap();
    let n = ring.completion().next().unwrap().result();
    assert!(n >= 0, "io_uring: errno {}", -n);
    n as u32
}
