//! Captured output: a bounded buffer per stream plus a broadcast to live readers.
//!
//! What nobody has read yet is kept up to [`BUFFER_LIMIT`] bytes per stream; past
//! that the oldest bytes are dropped and counted, so a chatty process cannot grow the
//! daemon. A reader that attaches gets the buffered bytes first, then live chunks
//! (subscribing happens under the same lock as the snapshot, so nothing is missed or
//! repeated).

use std::{collections::VecDeque, sync::Mutex};

use tokio::sync::broadcast;

/// Bytes kept per stream for readers that attach later.
pub const BUFFER_LIMIT: usize = 1 << 20;
/// Live chunks a slow reader may lag behind before it loses some.
const LIVE_BACKLOG: usize = 1024;

/// Which output stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a reader receives.
#[derive(Clone, Debug)]
pub enum OutputEvent {
    Chunk {
        stream: Stream,
        data: Vec<u8>,
    },
    /// Every output stream reached EOF and the process has been reaped.
    Closed,
}

/// One stream's buffered bytes and how many were dropped before them.
pub type Buffered = (Stream, Vec<u8>, u64);

#[derive(Default)]
struct Buffers {
    bytes: [VecDeque<u8>; 2],
    dropped: [u64; 2],
    /// Whether [`Output::close`] ran: the buffers hold all there will be.
    closed: bool,
}

/// One process's output.
pub struct Output {
    buffered: Mutex<Buffers>,
    live: broadcast::Sender<OutputEvent>,
}

impl Default for Output {
    fn default() -> Self {
        Self {
            buffered: Mutex::default(),
            live: broadcast::channel(LIVE_BACKLOG).0,
        }
    }
}

fn idx(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl Output {
    fn lock(&self) -> std::sync::MutexGuard<'_, Buffers> {
        self.buffered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a chunk the process wrote.
    pub fn push(&self, stream: Stream, data: &[u8]) {
        let mut b = self.lock();
        let i = idx(stream);
        b.bytes[i].extend(data);
        let over = b.bytes[i].len().saturating_sub(BUFFER_LIMIT);
        if over > 0 {
            b.bytes[i].drain(..over);
            b.dropped[i] += over as u64;
        }
        let _ = self.live.send(OutputEvent::Chunk {
            stream,
            data: data.to_vec(),
        });
    }

    /// Marks the end of all output.
    pub fn close(&self) {
        let mut b = self.lock();
        b.closed = true;
        let _ = self.live.send(OutputEvent::Closed);
    }

    /// The buffered bytes (with drop counts) and a receiver for what comes next,
    /// which ends with [`OutputEvent::Closed`]; no receiver when the output has
    /// closed already (the snapshot is all of it). Deciding this under the lock
    /// `close` takes is what makes it exact: a reader that asked instead whether
    /// the process had exited lost what it wrote between the snapshot and its exit.
    pub fn attach(&self) -> (Vec<Buffered>, Option<broadcast::Receiver<OutputEvent>>) {
        let b = self.lock();
        let rx = (!b.closed).then(|| self.live.subscribe());
        let snapshot = [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .map(|s| {
                (
                    s,
                    b.bytes[idx(s)].iter().copied().collect(),
                    b.dropped[idx(s)],
                )
            })
            .collect();
        (snapshot, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_and_counts_the_rest() {
        let o = Output::default();
        o.push(Stream::Stdout, &vec![1; BUFFER_LIMIT]);
        o.push(Stream::Stdout, &[2; 10]);
        o.push(Stream::Stderr, b"err");
        let (snap, _) = o.attach();
        let (_, out, dropped) = &snap[0];
        assert_eq!(out.len(), BUFFER_LIMIT);
        assert_eq!(*dropped, 10);
        assert_eq!(&out[out.len() - 10..], &[2; 10]);
        assert_eq!(snap[1].1, b"err");
    }

    #[test]
    fn attached_readers_get_live_chunks_after_the_snapshot() {
        let o = Output::default();
        o.push(Stream::Stdout, b"before");
        let (snap, rx) = o.attach();
        let mut rx = rx.expect("open output has a live receiver");
        assert_eq!(snap[0].1, b"before");
        o.push(Stream::Stdout, b"after");
        o.close();
        assert!(
            matches!(rx.try_recv().unwrap(), OutputEvent::Chunk { data, .. } if data == b"after")
        );
        assert!(matches!(rx.try_recv().unwrap(), OutputEvent::Closed));
    }

    #[test]
    fn a_reader_after_close_gets_everything_in_the_snapshot() {
        let o = Output::default();
        o.push(Stream::Stdout, b"all");
        o.close();
        let (snap, rx) = o.attach();
        assert_eq!(snap[0].1, b"all");
        assert!(rx.is_none(), "nothing more will come");
    }
}
