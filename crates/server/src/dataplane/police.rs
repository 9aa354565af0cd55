//! Per-session rate limits: a policer per direction, checked per packet by any thread.
//!
//! Each direction is a token bucket written as the Generic Cell Rate Algorithm's virtual
//! scheduling form (ITU-T I.371 Annex A; the same test as a token bucket of the same rate and
//! depth): one atomic "theoretical arrival time" (TAT) in nanoseconds. A packet of `L` bytes
//! at time `t` conforms when `TAT - t` is at most the burst tolerance; it then moves the TAT
//! to `max(TAT, t) + L × 8 / rate`. A packet that does not conform is dropped (policing, as
//! RFC 2697 §3 colours it red and a policer discards it) and counted; nothing is queued, so
//! the data plane keeps no per-packet state and no lock: a compare-and-swap on one word per
//! packet, on limited sessions only.
//!
//! The bucket is [`BURST`] of traffic at the rate deep, and never less than
//! [`BURST_FLOOR_BYTES`]. Policing a TCP flow with a bucket much shallower than its window
//! makes it lose whole windows and deliver far below the limit; a fifth of a second covers the
//! round trip of most remote-access clients, and adds at most 2 % over ten seconds to what a
//! constant stream above the limit gets through. The floor keeps slow limits usable: a few
//! full-size packets must always fit.
//!
//! Time comes from the caller (`now` of [`DataPlane`](super::DataPlane)'s entry points),
//! counted from the policer's creation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use config::RateLimit;

/// How much traffic at the rate the bucket holds.
pub(crate) const BURST: Duration = Duration::from_millis(200);

/// The smallest bucket: eight 1500-byte packets.
pub(crate) const BURST_FLOOR_BYTES: u64 = 8 * 1500;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// One direction's bucket.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Bucket {
    /// Bits per second.
    rate: u64,
    /// How far ahead of now the TAT may be for a packet to conform, in nanoseconds.
    tolerance: u64,
    /// The theoretical arrival time, in nanoseconds since the policer's epoch.
    tat: AtomicU64,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        let rate = rate.max(1);
        let depth = u128::from(rate) * BURST.as_nanos() / u128::from(NANOS_PER_SEC * 8);
        let depth = u64::try_from(depth)
            .unwrap_or(u64::MAX)
            .max(BURST_FLOOR_BYTES);
        Self {
            rate,
            tolerance: Self::nanos_for(rate, depth),
            tat: AtomicU64::new(0),
        }
    }

    /// Nanoseconds `bytes` take at `rate` bits per second.
    fn nanos_for(rate: u64, bytes: u64) -> u64 {
        let ns = u128::from(bytes) * 8 * u128::from(NANOS_PER_SEC) / u128::from(rate);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Whether a packet of `bytes` at `t` (nanoseconds since the epoch) conforms; if it does,
    /// it is charged.
    pub(crate) fn admit(&self, t: u64, bytes: usize) -> bool {
        let cost = Self::nanos_for(self.rate, bytes as u64);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let base = tat.max(t);
            if base - t > self.tolerance {
                return false;
            }
            match self.tat.compare_exchange_weak(
                tat,
                base.saturating_add(cost),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now_tat) => tat = now_tat,
            }
        }
    }

    /// The bucket's depth in bytes.
    #[cfg(test)]
    pub(crate) fn depth(&self) -> u64 {
        u64::try_from(u128::from(self.tolerance) * u128::from(self.rate) / 8 / 1_000_000_000)
            .unwrap_or(u64::MAX)
    }
}

/// A session's policer: one bucket per limited direction.
#[derive(Debug)]
pub(crate) struct Policer {
    /// What it enforces.
    pub(crate) limit: RateLimit,
    epoch: Instant,
    /// From the client (inbound).
    pub(crate) up: Option<Bucket>,
    /// To the client (outbound).
    pub(crate) down: Option<Bucket>,
}

impl Policer {
    /// A policer for `limit`, full at `now`; `None` when neither direction is limited.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Option<Self> {
        if limit.up.is_none() && limit.down.is_none() {
            return None;
        }
        Some(Self {
            limit,
            epoch: now,
            up: limit.up.map(|r| Bucket::new(r.get())),
            down: limit.down.map(|r| Bucket::new(r.get())),
        })
    }

    /// `now` in the buckets' nanoseconds.
    pub(crate) fn clock(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::num::NonZeroU64;

    fn limit(up: u64, down: u64) -> RateLimit {
        RateLimit {
            up: NonZeroU64::new(up),
            down: NonZeroU64::new(down),
        }
    }

    /// Offers `offered` bits per second in `size`-byte packets for `secs` of virtual time;
    /// returns the bits per second that conformed.
    fn run(b: &Bucket, offered: u64, size: usize, secs: u64) -> f64 {
        let gap = Bucket::nanos_for(offered, size as u64);
        let end = secs * NANOS_PER_SEC;
        let (mut t, mut passed) = (0u64, 0u64);
        while t < end {
            if b.admit(t, size) {
                passed += size as u64;
            }
            t += gap;
        }
        (passed * 8) as f64 / secs as f64
    }

    #[test]
    fn a_stream_above_the_rate_gets_the_rate() {
        for (rate, size) in [(2_000_000, 1400), (10_000_000, 1400), (64_000, 576)] {
            let b = Bucket::new(rate);
            let got = run(&b, rate * 3, size, 10);
            // At most the rate, plus the bucket it starts with, plus one packet.
            let most = rate as f64 + ((b.depth() + size as u64) * 8) as f64 / 10.0;
            assert!(
                got >= rate as f64 * 0.99 && got <= most,
                "{rate}: {got} (at most {most})"
            );
        }
        // The bucket is a fifth of a second at fast rates: 2 % over ten seconds.
        let b = Bucket::new(10_000_000);
        assert!(run(&b, 30_000_000, 1400, 10) < 10_000_000.0 * 1.025);
    }

    #[test]
    fn a_stream_below_the_rate_is_untouched() {
        let b = Bucket::new(10_000_000);
        let got = run(&b, 5_000_000, 1400, 10);
        assert!((got / 5_000_000.0 - 1.0).abs() < 0.01, "{got}");
    }

    #[test]
    fn the_burst_is_a_fifth_of_a_second_with_a_floor() {
        assert_eq!(Bucket::new(10_000_000).depth(), 250_000);
        assert_eq!(Bucket::new(64_000).depth(), BURST_FLOOR_BYTES);
        // Full at the start: a depth's worth of packets at one instant, then nothing.
        let b = Bucket::new(8_000_000);
        let n = (0..1000).take_while(|_| b.admit(0, 1000)).count();
        assert_eq!(n, 201); // 200 000 bytes of tolerance, and the packet that reaches it.
        assert!(!b.admit(0, 1000));
        // A millisecond later, a millisecond's worth (1000 bytes at 8 Mbit/s) fits again.
        assert!(b.admit(1_000_000, 1000));
        assert!(!b.admit(1_000_000, 1000));
    }

    #[test]
    fn idle_time_refills_only_up_to_the_depth() {
        let b = Bucket::new(8_000_000);
        while b.admit(0, 1000) {}
        let later = 60 * NANOS_PER_SEC;
        let n = (0..1000).take_while(|_| b.admit(later, 1000)).count();
        assert_eq!(n, 201);
    }

    #[test]
    fn threads_share_one_bucket() {
        let b = std::sync::Arc::new(Bucket::new(8_000_000));
        let passed: u64 = (0..4)
            .map(|_| {
                let b = std::sync::Arc::clone(&b);
                std::thread::spawn(move || (0..10_000).filter(|_| b.admit(0, 1000)).count() as u64)
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(passed, 201);
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn only_limited_directions_get_a_bucket() {
        let t0 = Instant::now();
        assert!(Policer::new(limit(0, 0), t0).is_none());
        let p = Policer::new(limit(1_000_000, 0), t0).unwrap();
        assert!(p.up.is_some() && p.down.is_none());
        assert_eq!(p.clock(t0 + Duration::from_millis(3)), 3_000_000);
        assert_eq!(
            p.clock(t0.checked_sub(Duration::from_millis(3)).unwrap_or(t0)),
            0
        );
    }
}
