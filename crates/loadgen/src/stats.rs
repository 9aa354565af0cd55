//! Small statistics for the summaries: latency percentiles and failures counted by cause.

use core::time::Duration;
use std::collections::BTreeMap;

/// Latencies collected during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latencies {
    samples: Vec<Duration>,
    sorted: bool,
}

impl Latencies {
    /// No samples yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    pub fn push(&mut self, d: Duration) {
        self.samples.push(d);
        self.sorted = false;
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `p`-th percentile (0 < p ≤ 100) by the nearest-rank method: the smallest sample
    /// such that at least `p` % of the samples are less than or equal to it. `None` without
    /// samples.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.samples.is_empty() || !(p > 0.0 && p <= 100.0) {
            return None;
        }
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
        let n = self.samples.len();
        // rank = ceil(p/100 · n), 1-based; computed in integers of 1/1000 % to avoid
        // 0.95 · 100 = 94.999… rounding up wrongly.
        let milli = (p * 1000.0).round() as u64;
        let rank = (milli * n as u64).div_ceil(100_000).max(1);
        let idx = usize::try_from(rank - 1).unwrap_or(usize::MAX).min(n - 1);
        self.samples.get(idx).copied()
    }

    /// The `p`-th percentile in milliseconds, rounded to 0.01 ms.
    pub fn percentile_ms(&mut self, p: f64) -> Option<f64> {
        self.percentile(p)
            .map(|d| crate::report::round(d.as_secs_f64() * 1000.0, 2))
    }
}

/// Failures counted by cause, with the first detailed reason seen for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    counts: BTreeMap<String, u64>,
    examples: BTreeMap<String, String>,
}

impl Failures {
    /// The most characters of an example reason kept.
    pub const EXAMPLE_LEN: usize = 200;

    /// No failures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one failure of `cause`; `detail` is kept if it is the first of its cause.
    pub fn add(&mut self, cause: &str, detail: &str) {
        *self.counts.entry(cause.to_owned()).or_default() += 1;
        self.examples
            .entry(cause.to_owned())
            .or_insert_with(|| detail.chars().take(Self::EXAMPLE_LEN).collect());
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Counts by cause.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// The first detailed reason of each cause.
    pub fn examples(&self) -> &BTreeMap<String, String> {
        &self.examples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::new();
        assert_eq!(l.percentile(50.0), None);
        // 1..=100 ms in a scrambled order.
        for i in 0..100u64 {
            l.push(ms((i * 37) % 100 + 1));
        }
        assert_eq!(l.len(), 100);
        assert_eq!(l.percentile(50.0), Some(ms(50)));
        assert_eq!(l.percentile(95.0), Some(ms(95)));
        assert_eq!(l.percentile(99.0), Some(ms(99)));
        assert_eq!(l.percentile(100.0), Some(ms(100)));
        assert_eq!(l.percentile(0.5), Some(ms(1)));
        assert_eq!(l.percentile(0.0), None);
        assert_eq!(l.percentile(101.0), None);
        assert_eq!(l.percentile(f64::NAN), None);
    }

    #[test]
    fn small_sets_round_the_rank_up() {
        let mut l = Latencies::new();
        for v in [30, 10, 20] {
            l.push(ms(v));
        }
        // ceil(0.5·3) = 2nd, ceil(0.99·3) = 3rd, ceil(0.3·3) = 1st.
        assert_eq!(l.percentile(50.0), Some(ms(20)));
        assert_eq!(l.percentile(99.0), Some(ms(30)));
        assert_eq!(l.percentile(30.0), Some(ms(10)));
        // A sample added later is taken into account.
        l.push(ms(5));
        assert_eq!(l.percentile(25.0), Some(ms(5)));
        assert_eq!(l.percentile_ms(50.0), Some(10.0));
        let mut one = Latencies::new();
        one.push(Duration::from_micros(1234));
        assert_eq!(one.percentile_ms(99.0), Some(1.23));
    }

    #[test]
    fn failures_are_counted_by_cause_with_the_first_example() {
        let mut f = Failures::new();
        f.add("main_mode/ike_timeout", "no answer to MM1");
        f.add("ppp/auth_failed", "E=691");
        f.add("main_mode/ike_timeout", "second");
        assert_eq!(f.total(), 3);
        assert_eq!(f.counts()["main_mode/ike_timeout"], 2);
        assert_eq!(f.examples()["main_mode/ike_timeout"], "no answer to MM1");
        f.add("long", &"x".repeat(500));
        assert_eq!(f.examples()["long"].len(), Failures::EXAMPLE_LEN);
    }
}
