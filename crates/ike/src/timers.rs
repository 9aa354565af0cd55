//! Every deadline of the responder in one ordered set (time is injected: every call takes `now`).
//!
//! Each object (an IKE SA, an ESP SA pair) has at most one entry, at its earliest deadline, and
//! keeps that instant in a slot of its own so the entry can be found and moved in O(log n).
//! [`Timers::next`] is the earliest deadline (what `poll_timeout` returns) and
//! [`Timers::expire`] takes out only the entries that are due, so neither call looks at objects
//! whose time has not come. Entries are removed eagerly when an object goes, so the set never
//! holds stale deadlines that would wake the owner for nothing.

use std::collections::BTreeSet;
use std::time::Instant;

/// An ordered set of `(deadline, key)`.
#[derive(Debug)]
pub(crate) struct Timers<K> {
    set: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Copy> Timers<K> {
    pub(crate) fn new() -> Self {
        Self {
            set: BTreeSet::new(),
        }
    }

    /// Moves `key`'s entry from `*slot` to `at` (`None`: no entry) and records it in `*slot`.
    /// `*slot` must be what an earlier call left there.
    pub(crate) fn set(&mut self, slot: &mut Option<Instant>, key: K, at: Option<Instant>) {
        if *slot == at {
            return;
        }
        if let Some(old) = slot.take() {
            self.set.remove(&(old, key));
        }
        if let Some(at) = at {
            self.set.insert((at, key));
            *slot = Some(at);
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.set.first().map(|(at, _)| *at)
    }

    /// Removes and returns the keys due at `now`, earliest first. Their owners' slots are stale
    /// afterwards and must be reset to `None`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.set.first()
            && *at <= now
        {
            if let Some((_, key)) = self.set.pop_first() {
                due.push(key);
            }
        }
        due
    }

    /// Entries in the set.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // The test's time origin.
    fn one_entry_per_key_moved_and_expired_in_order() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = Timers::new();
        let (mut a, mut b) = (None, None);
        t.set(&mut a, 1u32, Some(t0 + s(5)));
        t.set(&mut b, 2u32, Some(t0 + s(3)));
        assert_eq!(t.next(), Some(t0 + s(3)));
        // Moving an entry replaces it; setting the same instant again is a no-op.
        t.set(&mut b, 2, Some(t0 + s(7)));
        t.set(&mut b, 2, Some(t0 + s(7)));
        assert_eq!((t.len(), t.next()), (2, Some(t0 + s(5))));
        assert!(t.expire(t0 + s(4)).is_empty());
        assert_eq!(t.expire(t0 + s(7)), vec![1, 2]);
        assert_eq!(t.next(), None);
        // Clearing removes the entry.
        let mut c = None;
        t.set(&mut c, 3, Some(t0 + s(1)));
        t.set(&mut c, 3, None);
        assert_eq!((t.len(), c), (0, None));
    }
}
