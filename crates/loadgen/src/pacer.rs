//! A token bucket that paces a sender to a fixed packet rate.
//!
//! Tokens accrue at `rate` per second up to `burst`; each datagram spends one. The caller asks
//! [`Pacer::grant`] how many it may send now and, when that is zero, sleeps for
//! [`Pacer::until_next`]. Time is an offset from the start of the run, passed in, so the
//! arithmetic is exact and testable: the level is kept in token-nanoseconds (tokens × 10⁹) in
//! integers, and `n` calls spread over `t` seconds grant exactly `1 + ⌊rate·t⌋` tokens as long
//! as the bucket never overflows (there is no floating-point drift over long runs).
//!
//! The bucket depth bounds how far a sender that was descheduled may catch up: deeper keeps
//! the average rate through short stalls, shallower keeps the spacing even.

use core::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A token bucket (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    rate: u64,
    burst: u64,
    /// Tokens in the bucket × 10⁹.
    level: u128,
    /// The offset of the last refill.
    last: Duration,
}

impl Pacer {
    /// A bucket filling at `rate` tokens per second, holding at most `burst` (both at least 1).
    /// It starts with one token, so the first datagram leaves at once.
    pub fn new(rate: u64, burst: u64) -> Self {
        Self {
            rate: rate.max(1),
            burst: burst.max(1),
            level: NANOS_PER_SEC,
            last: Duration::ZERO,
        }
    }

    /// The depth a sender at `rate` gets by default: 50 ms worth of tokens, at least 1. On a
    /// busy machine a sleeping sender is often woken several milliseconds late; a shallower
    /// bucket would turn every such delay into a lower average rate.
    pub fn default_burst(rate: u64) -> u64 {
        (rate / 20).max(1)
    }

    /// Tokens per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Changes the rate from `now` on (at least 1): tokens earned until `now` accrue at the
    /// old rate, later ones at the new. The depth becomes `burst` (at least 1).
    pub fn set_rate(&mut self, now: Duration, rate: u64, burst: u64) {
        if let Some(dt) = now.checked_sub(self.last) {
            let cap = u128::from(self.burst) * NANOS_PER_SEC;
            let added = dt.as_nanos().saturating_mul(u128::from(self.rate));
            self.level = self.level.saturating_add(added).min(cap);
            self.last = now;
        }
        self.rate = rate.max(1);
        self.burst = burst.max(1);
        self.level = self.level.min(u128::from(self.burst) * NANOS_PER_SEC);
    }

    /// Refills the bucket up to `now` (an offset from the start; a time before the last call
    /// counts as no time passing) and takes every whole token: the number of datagrams the
    /// caller may send now.
    pub fn grant(&mut self, now: Duration) -> u64 {
        if let Some(dt) = now.checked_sub(self.last) {
            let cap = u128::from(self.burst) * NANOS_PER_SEC;
            let added = dt.as_nanos().saturating_mul(u128::from(self.rate));
            self.level = self.level.saturating_add(added).min(cap);
            self.last = now;
        }
        let whole = self.level / NANOS_PER_SEC;
        self.level -= whole * NANOS_PER_SEC;
        // `whole` ≤ burst, a u64.
        u64::try_from(whole).unwrap_or(u64::MAX)
    }

    /// How long after the last [`Pacer::grant`] the next token is complete (zero if one is).
    pub fn until_next(&self) -> Duration {
        let missing = NANOS_PER_SEC.saturating_sub(self.level);
        let nanos = missing.div_ceil(u128::from(self.rate));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn first_token_is_immediate_then_one_per_period() {
        let mut p = Pacer::new(1000, 10);
        assert_eq!(p.grant(Duration::ZERO), 1);
        assert_eq!(p.grant(Duration::from_micros(999)), 0);
        assert_eq!(p.until_next(), Duration::from_micros(1));
        assert_eq!(p.grant(ms(1)), 1);
        assert_eq!(p.grant(Duration::from_micros(1500)), 0);
        assert_eq!(p.until_next(), Duration::from_micros(500));
        assert_eq!(p.grant(ms(2)), 1);
    }

    #[test]
    fn a_stalled_sender_catches_up_at_most_the_burst() {
        let mut p = Pacer::new(1000, 10);
        assert_eq!(p.grant(Duration::ZERO), 1);
        // One second asleep earns 1000 tokens, but the bucket holds 10.
        assert_eq!(p.grant(ms(1000)), 10);
        assert_eq!(p.grant(ms(1000)), 0);
        assert_eq!(p.grant(ms(1001)), 1);
    }

    #[test]
    fn fractional_periods_are_exact() {
        // 3 per second: a token every 333,333,333.3 ns.
        let mut p = Pacer::new(3, 3);
        assert_eq!(p.grant(Duration::ZERO), 1);
        assert_eq!(p.grant(Duration::from_nanos(333_333_333)), 0);
        assert_eq!(p.until_next(), Duration::from_nanos(1));
        assert_eq!(p.grant(Duration::from_nanos(333_333_334)), 1);
        // After exactly one second: the remaining two tokens, no more.
        assert_eq!(p.grant(ms(1000)), 2);
        assert_eq!(p.until_next(), Duration::from_nanos(333_333_334));
    }

    #[test]
    fn irregular_polling_grants_exactly_rate_times_time() {
        // 20,000 per second, polled at uneven intervals below the bucket's 50 ms depth: after
        // 10 s exactly 1 + 200,000 tokens, whatever the polling pattern.
        let rate = 20_000;
        let mut p = Pacer::new(rate, Pacer::default_burst(rate));
        let mut now = Duration::ZERO;
        let mut total = 0u64;
        let mut step = 17u64;
        while now < Duration::from_secs(10) {
            total += p.grant(now);
            step = (step * 7919 + 13) % 40_000; // 0..40 ms in µs, deterministic
            now = (now + Duration::from_micros(step)).min(Duration::from_secs(10));
        }
        total += p.grant(Duration::from_secs(10));
        assert_eq!(total, 1 + 200_000);
    }

    #[test]
    fn time_going_backwards_grants_nothing_new() {
        let mut p = Pacer::new(100, 5);
        assert_eq!(p.grant(ms(50)), 5);
        assert_eq!(p.grant(ms(10)), 0);
        assert_eq!(p.grant(ms(60)), 1);
    }

    #[test]
    fn zero_rate_and_burst_are_clamped() {
        let mut p = Pacer::new(0, 0);
        assert_eq!(p.rate(), 1);
        assert_eq!(p.grant(ms(5000)), 1);
        assert_eq!(Pacer::default_burst(1), 1);
        assert_eq!(Pacer::default_burst(20_000), 1000);
    }

    #[test]
    fn a_new_rate_applies_from_the_change_on() {
        let mut p = Pacer::new(1000, 1000);
        assert_eq!(p.grant(Duration::ZERO), 1);
        // 100 ms at 1000/s, then 100 ms at 10,000/s.
        p.set_rate(ms(100), 10_000, 2000);
        assert_eq!(p.rate(), 10_000);
        assert_eq!(p.grant(ms(200)), 100 + 1000);
        // Lowering the depth drops what does not fit.
        assert_eq!(p.grant(ms(400)), 2000);
        p.set_rate(ms(600), 10, 1);
        assert_eq!(p.grant(ms(600)), 1);
        assert_eq!(p.grant(ms(650)), 0);
        assert_eq!(p.grant(ms(700)), 1);
    }

    #[test]
    fn huge_rates_do_not_overflow() {
        let mut p = Pacer::new(u64::MAX, u64::MAX);
        assert_eq!(p.grant(Duration::from_secs(u64::MAX)), u64::MAX);
        assert_eq!(p.until_next(), Duration::from_nanos(1));
    }
}
