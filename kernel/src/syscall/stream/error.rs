//! [`StreamError`]: why a `StreamSyscall` stream was refused or stopped.

/// Why a stream was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("empty stream: the first message must be `open`")]
    Empty,
    #[error("the first message must be `open` with a read or a write")]
    NotOpened,
    #[error("chunk_size {size} exceeds {max}")]
    ChunkTooLarge { size: u32, max: u32 },
    #[error("unknown stream transport {0}")]
    UnknownTransport(i32),
    #[error("only {allowed} may follow the `open` of {what}")]
    Unexpected {
        allowed: &'static str,
        what: &'static str,
    },
    #[error("stream ended without `finish`; nothing was written")]
    Unfinished,
    #[error("release of slot {0}, which the client does not hold")]
    NotHeld(u32),
    #[error("only {allowed} may come from the client on the control ring of {what}")]
    UnexpectedControl {
        allowed: &'static str,
        what: &'static str,
    },
    #[error(
        "a shared-memory stream takes no message after `open`: its slots travel on its \
         control rings"
    )]
    AfterOpen,
    #[error("the client broke the stream's control ring: {0}")]
    Control(String),
    #[error("slot {slot} with {len} bytes is outside a region of {slots} slots of {chunk}")]
    OutsideRegion {
        slot: usize,
        len: usize,
        slots: usize,
        chunk: usize,
    },
    #[error("a chunk at offset {offset}, but {sent} bytes were sent so far")]
    OutOfOrder { offset: u64, sent: u64 },
    #[error(
        "shared-memory streams need the kernel's own Unix socket (the memfd is handed over \
         on kernel.fds.sock beside it); use the inline transport"
    )]
    NoFdSocket,
    #[error("the request stream failed: {0}")]
    Broken(String),
    #[error("a request message was refused: {0}")]
    BadMessage(String),
    #[error(
        "open streams hold their whole budget of {budget} bytes of buffers; this one needs \
         {wanted}: retry when some have finished (or use smaller chunks)"
    )]
    Busy { wanted: usize, budget: usize },
}

impl StreamError {
    /// Whether the client's request is at fault (rather than its going away).
    pub fn is_invalid_input(&self) -> bool {
        !matches!(
            self,
            Self::Unfinished | Self::Broken(_) | Self::NoFdSocket | Self::Busy { .. }
        )
    }
}
