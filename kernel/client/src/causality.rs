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
///
/// Ids must be distinct, not secret, and one is made per HTTP request, so this
/// reads the system's randomness once per process (a seed) and then costs an
/// atomic add: the seed plus a counter, put through splitmix64's finaliser, a
/// bijection on `u64` — ids from one process never repeat, and two processes'
/// ids collide only by chance.
pub fn new_id() -> u64 {
    use std::sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    };
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut b = [0u8; 8];
        // Fall back to the clock and the pid if the system's randomness is not there.
        if getrandom(&mut b).is_err() {
            let clock = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64;
            b = (clock ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
        }
        u64::from_le_bytes(b)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    splitmix64(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))).max(1)
}

/// splitmix64's output function: a bijection that scatters nearby inputs.
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_never_zero() {
        let ids: std::collections::HashSet<u64> = (0..100_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn splitmix_scatters_neighbours() {
        // Consecutive counters give ids that differ in many bits, not one.
        let (a, b) = (splitmix64(41), splitmix64(42));
        assert!((a ^ b).count_ones() > 16, "{a:x} {b:x}");
    }
}
