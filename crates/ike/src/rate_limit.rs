//! A token bucket per source address, in a bounded table: what limits the Diffie-Hellman work
//! one address can make us do (each MM3, and each Quick Mode with PFS, costs two modular
//! exponentiations or scalar multiplications).
//!
//! A bucket holds up to `burst` tokens and gains `per_second`; an address untouched for
//! `burst / per_second` seconds has a full bucket, which is the same as having none, so such
//! entries are dropped as time passes (oldest touch first). When the table is still full, the
//! least recently touched address is dropped. Each call costs O(1) amortized.

use core::net::IpAddr;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// Thousandths of a token.
const MILLI: u64 = 1000;

#[derive(Debug)]
struct Bucket {
    /// Tokens, in thousandths.
    milli: u64,
    last: Instant,
    /// The number of the last touch (matches one item of [`RateLimiter::touched`]).
    touch: u64,
}

/// Token buckets by source address.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
    /// (address, touch number), oldest first; items whose number is not the bucket's are stale.
    touched: VecDeque<(IpAddr, u64)>,
    touches: u64,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
            touched: VecDeque::new(),
            touches: 0,
        }
    }

    fn full(&self) -> u64 {
        u64::from(self.limit.burst) * MILLI
    }

    /// How long an untouched bucket takes to fill (`None`: never).
    fn refill_time(&self) -> Option<Duration> {
        (self.limit.per_second > 0).then(|| {
            Duration::from_millis(
                u64::from(self.limit.burst) * MILLI / u64::from(self.limit.per_second),
            )
        })
    }

    /// Takes one token from `ip`'s bucket; false when it is empty.
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.forget_idle(now);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.limit.max_addresses {
            self.forget_least_recent();
        }
        let full = self.full();
        let per_second = u64::from(self.limit.per_second);
        self.touches += 1;
        let touch = self.touches;
        let b = self.buckets.entry(ip).or_insert(Bucket {
            milli: full,
            last: now,
            touch,
        });
        let elapsed =
            u64::try_from(now.saturating_duration_since(b.last).as_millis()).unwrap_or(u64::MAX);
        // per_second tokens per second = per_second thousandths per millisecond.
        b.milli = b
            .milli
            .saturating_add(elapsed.saturating_mul(per_second))
            .min(full);
        b.last = b.last.max(now);
        b.touch = touch;
        let allowed = b.milli >= MILLI;
        if allowed {
            b.milli -= MILLI;
        }
        self.touched.push_back((ip, touch));
        if self.touched.len() > 2 * self.buckets.len() + 16 {
            // Drop stale items; each push pays for at most one of them.
            let buckets = &self.buckets;
            self.touched
                .retain(|(a, t)| buckets.get(a).is_some_and(|b| b.touch == *t));
        }
        allowed
    }

    /// Drops buckets untouched long enough to be full again.
    fn forget_idle(&mut self, now: Instant) {
        let Some(refill) = self.refill_time() else {
            return;
        };
        while let Some(&(ip, t)) = self.touched.front() {
            match self.buckets.get(&ip) {
                Some(b) if b.touch == t => {
                    if now.saturating_duration_since(b.last) < refill {
                        return;
                    }
                    self.buckets.remove(&ip);
                }
                _ => {}
            }
            self.touched.pop_front();
        }
    }

    fn forget_least_recent(&mut self) {
        while let Some((ip, t)) = self.touched.pop_front() {
            if self.buckets.get(&ip).is_some_and(|b| b.touch == t) {
                self.buckets.remove(&ip);
                return;
            }
        }
    }

    /// Addresses tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // The test's time origin.
    fn burst_then_rate_per_address_in_a_bounded_table() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(RateLimit {
            burst: 3,
            per_second: 2,
            max_addresses: 4,
        });
        let took: Vec<bool> = (0..4).map(|_| r.allow(ip(1), t0)).collect();
        assert_eq!(took, vec![true, true, true, false]);
        // Another address has its own bucket.
        assert!(r.allow(ip(2), t0));
        // 2 per second: one token after 500 ms, not before.
        assert!(!r.allow(ip(1), t0 + Duration::from_millis(499)));
        assert!(r.allow(ip(1), t0 + Duration::from_millis(500)));
        // The table never exceeds its bound; the least recently touched address goes.
        for n in 10..30 {
            r.allow(ip(n), t0 + Duration::from_millis(600));
            assert!(r.len() <= 4);
        }
        // Idle addresses are forgotten once their bucket would be full (1.5 s here).
        r.allow(ip(99), t0 + Duration::from_secs(5));
        assert_eq!(r.len(), 1);
        assert!(r.touched.len() <= 2 * r.len() + 16 + 1);
    }
}
