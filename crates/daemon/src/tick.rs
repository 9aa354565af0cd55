//! When the owner's one timer wakes: the earliest deadline the server (and the RADIUS
//! client) asks for, rounded up to a fixed grid of [`SLOT`]s.
//!
//! Every held session has its own keepalive deadlines (LCP Echo-Request, RFC 1661 §5.8; L2TP
//! Hello, RFC 2661 §6.5; DPD, RFC 3706 §5.3), set when it came up, so with thousands of
//! sessions the next deadline is never more than a few milliseconds away and waking for each
//! one costs a loop turn, a timer re-arm and a send system call per keepalive. On the grid,
//! every deadline that falls within one slot is handled by the same turn
//! (`Server::handle_timeout` runs every timer then due) and what they send leaves together.
//! No protocol timer here is shorter than a second (retransmissions start at 1 s, keepalives
//! are tens of seconds), so a wake-up up to one slot late changes nothing a peer can see.

use std::time::{Duration, Instant};

/// The grid's step: timer wake-ups are at most this late.
pub(crate) const SLOT: Duration = Duration::from_millis(50);

/// A grid of wake-up times, `origin + k * slot`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    origin: Instant,
    slot: Duration,
}

impl Grid {
    /// A grid starting at `origin`; a zero `slot` leaves every deadline as it is.
    pub(crate) fn new(origin: Instant, slot: Duration) -> Self {
        Self { origin, slot }
    }

    /// When to wake for `deadline`, the time being `now`: a deadline already reached is
    /// due now and stays as it is; a later one moves to the first grid point at or after it.
    pub(crate) fn wake_at(&self, deadline: Instant, now: Instant) -> Instant {
        if deadline <= now || self.slot.is_zero() {
            return deadline;
        }
        let Some(since) = deadline.checked_duration_since(self.origin) else {
            return deadline;
        };
        let slot = self.slot.as_nanos();
        let rounded = since.as_nanos().div_ceil(slot).saturating_mul(slot);
        u64::try_from(rounded)
            .ok()
            .and_then(|ns| self.origin.checked_add(Duration::from_nanos(ns)))
            .unwrap_or(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn future_deadlines_move_to_the_next_grid_point() {
        let t0 = crate::clock::now();
        let grid = Grid::new(t0, ms(50));
        assert_eq!(grid.wake_at(t0 + ms(1), t0), t0 + ms(50));
        assert_eq!(grid.wake_at(t0 + ms(49), t0), t0 + ms(50));
        assert_eq!(grid.wake_at(t0 + ms(50), t0), t0 + ms(50));
        assert_eq!(grid.wake_at(t0 + ms(51), t0 + ms(10)), t0 + ms(100));
        assert_eq!(
            grid.wake_at(t0 + Duration::from_secs(30) + ms(7), t0),
            t0 + Duration::from_secs(30) + ms(50)
        );
    }

    #[test]
    fn deadlines_in_one_slot_share_a_wake_up() {
        let t0 = crate::clock::now();
        let grid = Grid::new(t0, SLOT);
        let now = t0 + ms(1_000);
        let wakes: std::collections::BTreeSet<Instant> =
            (1..=49).map(|i| grid.wake_at(now + ms(i), now)).collect();
        assert_eq!(wakes.len(), 1);
        // Never earlier than the deadline, never more than a slot late.
        for i in 1..=200 {
            let d = now + ms(i);
            let w = grid.wake_at(d, now);
            assert!(w >= d && w - d < SLOT, "deadline +{i} ms woke at {w:?}");
        }
    }

    #[test]
    fn a_reached_deadline_is_due_at_once() {
        let t0 = crate::clock::now();
        let grid = Grid::new(t0, ms(50));
        let now = t0 + ms(120);
        assert_eq!(grid.wake_at(t0 + ms(110), now), t0 + ms(110));
        assert_eq!(grid.wake_at(now, now), now);
    }

    #[test]
    fn a_zero_slot_keeps_deadlines() {
        let t0 = crate::clock::now();
        let grid = Grid::new(t0, Duration::ZERO);
        assert_eq!(grid.wake_at(t0 + ms(7), t0), t0 + ms(7));
    }
}
