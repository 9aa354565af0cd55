//! Lock-free drop counters, one per [`DropReason`].

use core::sync::atomic::{AtomicU64, Ordering};

use crate::DropReason;

const N: usize = DropReason::ALL.len();

/// Atomic drop counters (relaxed ordering: these are statistics).
#[derive(Debug, Default)]
pub(crate) struct DropCounters {
    counts: [AtomicU64; N],
}

impl DropCounters {
    pub(crate) fn bump(&self, reason: DropReason) {
        if let Some(c) = self.counts.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> DropCounts {
        let mut counts = [0; N];
        for (out, c) in counts.iter_mut().zip(&self.counts) {
            *out = c.load(Ordering::Relaxed);
        }
        DropCounts { counts }
    }
}

/// A copy of drop counters, for status output and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounts {
    counts: [u64; N],
}

impl DropCounts {
    /// The count for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason.index()).copied().unwrap_or(0)
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(reason, count)` pairs in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r)))
    }
}
