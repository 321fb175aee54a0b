//! Time syscalls: wall-clock time, sleep (cancellable, with progress), uptime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::{Kernel, Progress};
use crate::{capability::Access, error::KernelError, identity::Caller};

/// Longest accepted sleep.
const MAX_SLEEP: Duration = Duration::from_secs(24 * 3600);
/// Sleeps update their progress this often.
const SLEEP_STEP: Duration = Duration::from_millis(50);

pub(super) fn now(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    k.check(c, Access::Time)?;
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Value::Time(pb::TimeInfo {
        unix_ns: unix.as_nanos() as i64,
        monotonic_ns: k.uptime().as_nanos() as u64,
        rfc3339: rfc3339(unix),
    }))
}

pub(super) fn uptime(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    k.check(c, Access::Time)?;
    Ok(Value::Count(k.uptime().as_millis() as u64))
}

pub(super) async fn sleep(
    k: &Kernel,
    c: &Caller,
    r: pb::Sleep,
    progress: &Progress,
) -> Result<Value, KernelError> {
    k.check(c, Access::Time)?;
    let total = Duration::from_millis(r.duration_ms);
    if total > MAX_SLEEP {
        return Err(KernelError::InvalidArgument(format!(
            "sleep of {total:?} exceeds the 24 h maximum"
        )));
    }
    let start = tokio::time::Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= total {
            break;
        }
        progress.set(elapsed.as_secs_f64() / total.as_secs_f64());
        tokio::time::sleep((total - elapsed).min(SLEEP_STEP)).await;
    }
    Ok(Value::Count(start.elapsed().as_millis() as u64))
}

/// UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` (civil-from-days, H. Hinnant's algorithm).
fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(Duration::from_secs(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Duration::from_millis(1_795_000_000_123)),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(
            rfc3339(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
