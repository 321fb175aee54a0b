//! Causality ids: a `u64` naming one request chain. Inside [`with_causality`],
//! every kernel call this task makes carries the id in the `x-agentos-causality`
//! gRPC metadata, and the kernel puts it on the call's events and on the processes
//! the call spawns (see the kernel's `observe::collector`).

use std::future::Future;

/// The gRPC metadata key (a decimal `u64`).
pub const CAUSALITY_HEADER: &str = "x-agentos-causality";

tokio::task_local! {
    static CAUSALITY: u64;
}

/// Runs `fut` with `id` as the causality id of its kernel calls.
pub async fn with_causality<F: Future>(id: u64, fut: F) -> F::Output {
    CAUSALITY.scope(id, fut).await
}

/// The causality id of the current task, if it runs inside [`with_causality`].
pub fn current() -> Option<u64> {
    CAUSALITY.try_with(|id| *id).ok()
}

/// A fresh id (never 0, which means "none").
pub fn new_id() -> u64 {
    let mut b = [0u8; 8];
    // Ids need to be distinct, not secret: fall back to the clock if getrandom fails.
    if getrandom(&mut b).is_err() {
        b = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64)
            .to_le_bytes();
    }
    u64::from_le_bytes(b).max(1)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}
