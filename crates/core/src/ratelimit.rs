//! Per-API-key rate limiting: a burst, then a sustained rate, per node.
//!
//! The generic cell rate algorithm (GCRA, as in `governor` and Redis's `CL.THROTTLE`): each key
//! keeps one instant, its *theoretical arrival time*. A request is allowed when that instant is
//! no further ahead of now than the burst allows, and moves it one emission interval on. It is
//! a token bucket without a refill timer, one number per key.
//!
//! It is written here rather than taken from `governor` because it runs on certkeeper's
//! injected [`Clock`](certkeeper_domain::Clock): tests move the clock to refill a bucket
//! instead of sleeping, and the whole algorithm is the ten lines of [`RateLimiter::check`].
//!
//! Limits are per node. Behind a load balancer with N nodes a key can reach N times the
//! configured rate; sharing the count through the database would cost a write per request,
//! which is what the limiter exists to protect.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use certkeeper_domain::ids::ApiKeyId;
use time::OffsetDateTime;

/// `serve --rate-limit-burst N --rate-limit-per-second N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a key may send at once after being idle.
    pub burst: u32,
    /// Requests per second it may sustain.
    pub per_second: u32,
}

impl RateLimit {
    /// The documented default: a burst of 200, then 100 per second.
    pub const DEFAULT: RateLimit = RateLimit {
        burst: 200,
        per_second: 100,
    };

    /// `None` when either number is 0: rate limiting is off.
    pub fn enabled(self) -> Option<Self> {
        (self.burst > 0 && self.per_second > 0).then_some(self)
    }

    fn interval(self) -> time::Duration {
        time::Duration::nanoseconds(1_000_000_000 / i64::from(self.per_second.max(1)))
    }
}

/// Past this many tracked keys, the ones whose bucket is full again are dropped.
const MAX_TRACKED: usize = 10_000;

/// The limiter of one node. Off unless built with a limit.
#[derive(Debug, Default)]
pub struct RateLimiter {
    limit: Option<RateLimit>,
    /// Theoretical arrival time per key.
    tat: Mutex<HashMap<ApiKeyId, OffsetDateTime>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit: limit.enabled(),
            tat: Mutex::default(),
        }
    }

    /// Counts one request of `key` at `now`. `Err(wait)`: refused, and the key may try again
    /// after `wait`.
    pub fn check(&self, key: ApiKeyId, now: OffsetDateTime) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let interval = limit.interval();
        let tolerance = interval * i32::try_from(limit.burst.saturating_sub(1)).unwrap_or(i32::MAX);
        let mut map = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, tat| *tat > now);
        }
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        let allowed_at = tat - tolerance;
        if allowed_at > now {
            let wait = allowed_at - now;
            return Err(Duration::try_from(wait).unwrap_or(Duration::from_secs(1)));
        }
        map.insert(key, tat + interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms)
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = RateLimiter::new(RateLimit {
            burst: 3,
            per_second: 2,
        });
        let k = ApiKeyId(1);
        for _ in 0..3 {
            assert!(l.check(k, at(0)).is_ok());
        }
        let wait = l.check(k, at(0)).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another key has its own bucket.
        assert!(l.check(ApiKeyId(2), at(0)).is_ok());
        // Half a second later one more request is allowed, and only one.
        assert!(l.check(k, at(500)).is_ok());
        assert!(l.check(k, at(500)).is_err());
        // Idle long enough, the whole burst is back.
        for _ in 0..3 {
            assert!(l.check(k, at(10_000)).is_ok());
        }
        assert!(l.check(k, at(10_000)).is_err());
    }

    #[test]
    fn zero_turns_it_off() {
        for limit in [
            RateLimit {
                burst: 0,
                per_second: 100,
            },
            RateLimit {
                burst: 100,
                per_second: 0,
            },
        ] {
            let l = RateLimiter::new(limit);
            for _ in 0..10_000 {
                assert!(l.check(ApiKeyId(1), at(0)).is_ok());
            }
        }
    }
}
