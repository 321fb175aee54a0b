//! A token bucket per client: `burst` requests at once, refilled at `rate` per second.
//!
//! A client is its user when the request carries a valid credential, else its peer
//! address, so a bad or made-up token cannot buy a fresh bucket. Buckets that have
//! refilled completely carry no information and are dropped when the map grows.

use std::{
    collections::HashMap,
    fmt,
    str::FromStr,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Buckets kept before full ones are swept.
const SWEEP_AT: usize = 4096;

/// `BURST/RATE`: at most `burst` requests at once, `rate` more per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

impl Default for RateLimit {
    /// A burst of 100, refilled at 50 per second.
    fn default() -> Self {
        Self {
            burst: 100,
            per_second: 50.0,
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.burst, self.per_second)
    }
}

impl FromStr for RateLimit {
    type Err = String;

    /// `100/50`: a burst of 100 refilled at 50 per second (`0.5` is one every 2 s).
    fn from_str(s: &str) -> Result<Self, String> {
        let (burst, rate) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected BURST/RATE, like 100/50"))?;
        let burst: u32 = burst
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: the burst must be a whole number"))?;
        let per_second: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: the rate must be a number per second"))?;
        if burst == 0 || !(per_second > 0.0 && per_second.is_finite()) {
            return Err(format!("{s:?}: burst and rate must be above 0"));
        }
        Ok(Self { burst, per_second })
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every client.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`: `Ok`, or how long until one is there.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let RateLimit { burst, per_second } = self.limit;
        let burst = f64::from(burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < burst
            });
        }
        // Look up before inserting: the common case allocates nothing.
        if !buckets.contains_key(client) {
            buckets.insert(
                client.to_owned(),
                Bucket {
                    tokens: burst,
                    at: now,
                },
            );
        }
        let b = buckets.get_mut(client).expect("inserted above");
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * per_second;
        b.tokens = (b.tokens + refill).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_burst_and_rate() {
        assert_eq!(
            "100/50".parse(),
            Ok(RateLimit {
                burst: 100,
                per_second: 50.0
            })
        );
        assert_eq!("3/0.5".parse::<RateLimit>().unwrap().per_second, 0.5);
        for bad in ["100", "0/5", "5/0", "x/1", "1/y", "5/-1", "5/inf"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_then_refusals_then_refill_per_client() {
        let l = RateLimiter::new(RateLimit {
            burst: 3,
            per_second: 2.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check("a", t0), Ok(()));
        }
        let wait = l.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(
            l.check("b", t0),
            Ok(()),
            "another client has its own bucket"
        );
        let later = t0 + Duration::from_millis(500);
        assert_eq!(l.check("a", later), Ok(()));
        assert!(l.check("a", later).is_err());
        // A long pause refills only up to the burst.
        let much_later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.check("a", much_later), Ok(()));
        }
        assert!(l.check("a", much_later).is_err());
    }
}
