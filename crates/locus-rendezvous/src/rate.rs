//! A rate limit per caller on the calls that write (`AnnounceGroup`, `Enroll`, `Renew`): a
//! token bucket per caller — the identity of its certificate, or its IP address without one —
//! refilled at `rate` per second up to `burst`. A caller past it is refused with
//! `RESOURCE_EXHAUSTED` and costs nothing more; others are not slowed.
//!
//! The buckets are bounded: past [`MAX_CALLERS`] the full ones (callers quiet long enough to
//! have refilled) are forgotten, at most once a second, and until then new callers share one
//! overflow bucket, so a flood of new identities can neither grow the map nor make every call
//! scan it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Callers with a bucket of their own at most.
pub(crate) const MAX_CALLERS: usize = 100_000;

/// The per-caller buckets.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_caller: HashMap<String, Bucket>,
    pruned: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The key of the bucket new callers share when the map is full of active callers.
const OVERFLOW: &str = "";

impl RateLimit {
    /// `rate` calls per second per caller, `burst` at once.
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        RateLimit {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Buckets::default()),
        }
    }

    /// Whether `caller` may make one more call at `now`; takes a token if so.
    pub(crate) fn allow(&self, caller: &str, now: Instant) -> bool {
        let mut guard = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let b = &mut *guard;
        let key = if b.by_caller.contains_key(caller) || b.by_caller.len() < MAX_CALLERS {
            caller
        } else {
            if b.pruned
                .is_none_or(|at| now.saturating_duration_since(at).as_secs() >= 1)
            {
                b.pruned = Some(now);
                self.forget_full(&mut b.by_caller, now);
            }
            if b.by_caller.len() < MAX_CALLERS {
                caller
            } else {
                OVERFLOW
            }
        };
        let bucket = b.by_caller.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Drops the buckets that have refilled: their callers start afresh when they come back.
    fn forget_full(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_caller_gets_its_burst_then_its_rate_and_others_are_not_slowed() {
        let limit = RateLimit::new(10.0, 5);
        let t0 = Instant::now();
        let allowed = (0..20).filter(|_| limit.allow("a", t0)).count();
        assert_eq!(allowed, 5);
        assert!(limit.allow("b", t0), "another caller has its own bucket");
        // A tenth of a second later: one more token.
        let t1 = t0 + Duration::from_millis(100);
        assert!(limit.allow("a", t1));
        assert!(!limit.allow("a", t1));
        // Long quiet: the burst again, never more.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| limit.allow("a", t2)).count(), 5);
    }
}
