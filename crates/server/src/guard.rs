//! Bounded bookkeeping that keeps strangers and PSK holders from costing us memory or log
//! space, and slows down password guessing.
//!
//! - [`LogLimiter`]: a refusal is logged at most once per (source address, reason) per
//!   [`LOG_WINDOW`], and at most [`LOG_BURST`] refusal lines per second overall; the table is
//!   bounded ([`LOG_ENTRIES`]) and the oldest entries go first. What was not logged is
//!   counted and summed up in the next line.
//! - [`Logins`]: per-user and per-source back-off after failed logins. After
//!   [`FREE_FAILURES`] failures in a row, each further attempt must wait, the wait doubling
//!   from [`FIRST_BLOCK`] up to [`MAX_BLOCK`]; a success, or [`FORGET_AFTER`] without a
//!   failure, clears the record. Both tables are bounded ([`LOGIN_ENTRIES`]). It also counts
//!   each user's sessions for `limits.sessions_per_user`.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a logged refusal keeps the same (source, reason) quiet.
pub(crate) const LOG_WINDOW: Duration = Duration::from_secs(60);
/// How many (source, reason) pairs are remembered.
pub(crate) const LOG_ENTRIES: usize = 4096;
/// Refusal lines per second over all sources.
pub(crate) const LOG_BURST: u32 = 5;

/// Failed logins that cost nothing (typos).
pub(crate) const FREE_FAILURES: u32 = 3;
/// The first wait after [`FREE_FAILURES`].
pub(crate) const FIRST_BLOCK: Duration = Duration::from_secs(5);
/// The longest wait.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(300);
/// A record without a new failure for this long is forgotten.
pub(crate) const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Users and source addresses remembered (each table).
pub(crate) const LOGIN_ENTRIES: usize = 16_384;

/// A map with at most `cap` entries: inserting into a full map evicts the entry touched
/// longest ago. Amortised O(1): the order queue keeps stale positions, skipped on eviction.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, (V, u64)>,
    order: VecDeque<(K, u64)>,
    next: u64,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
            cap,
        }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _)| v)
    }

    fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k).map(|(v, _)| v)
    }

    /// The entry for `k`, made with `make` if missing, marked as touched now.
    fn touch(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        self.next += 1;
        let stamp = self.next;
        if !self.map.contains_key(&k) {
            while self.map.len() >= self.cap.max(1) {
                let Some((old, s)) = self.order.pop_front() else {
                    break;
                };
                if self.map.get(&old).is_some_and(|(_, cur)| *cur == s) {
                    self.map.remove(&old);
                }
            }
        }
        self.order.push_back((k.clone(), stamp));
        // Stale positions would make the queue grow without bound under repeated touches of
        // the same keys: compact when it is much longer than the map.
        if self.order.len() > 4 * self.cap.max(1) {
            let map = &self.map;
            self.order
                .retain(|(key, s)| map.get(key).is_some_and(|(_, cur)| cur == s) || key == &k);
        }
        let slot = self.map.entry(k).or_insert_with(|| (make(), stamp));
        slot.1 = stamp;
        &mut slot.0
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Logs refusals at most once per (source, reason) per minute, and at most [`LOG_BURST`] per
/// second overall.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    seen: Bounded<(IpAddr, u64), Instant>,
    hasher: RandomState,
    second: Option<Instant>,
    in_second: u32,
    suppressed: u64,
}

impl LogLimiter {
    pub(crate) fn new() -> Self {
        Self {
            seen: Bounded::new(LOG_ENTRIES),
            hasher: RandomState::new(),
            second: None,
            in_second: 0,
            suppressed: 0,
        }
    }

    /// Whether to log `reason` for `source` now. On `Some(n)`, log it and mention the `n`
    /// refusals that were not logged since the last line (if any).
    pub(crate) fn allow(&mut self, now: Instant, source: IpAddr, reason: &str) -> Option<u64> {
        let key = (source, self.hasher.hash_one(reason));
        if let Some(last) = self.seen.get(&key)
            && now.saturating_duration_since(*last) < LOG_WINDOW
        {
            self.suppressed += 1;
            return None;
        }
        match self.second {
            Some(s) if now.saturating_duration_since(s) < Duration::from_secs(1) => {
                if self.in_second >= LOG_BURST {
                    self.suppressed += 1;
                    return None;
                }
                self.in_second += 1;
            }
            _ => {
                self.second = Some(now);
                self.in_second = 1;
            }
        }
        *self.seen.touch(key, || now) = now;
        Some(std::mem::take(&mut self.suppressed))
    }

    /// How many (source, reason) pairs are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }
}

/// Failed logins of one user or one source address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Why a login attempt is refused before the password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// Too many failures for this user (or from this address): retry after this long.
    Backoff(Duration),
    /// The user has `limits.sessions_per_user` sessions already.
    TooManySessions(u32),
}

/// Per-user and per-source back-off after failed logins, and per-user session counts.
#[derive(Debug)]
pub(crate) struct Logins {
    users: Bounded<String, Failures>,
    sources: Bounded<IpAddr, Failures>,
    sessions: HashMap<String, u32>,
    sessions_per_user: u32,
}

impl Logins {
    /// `sessions_per_user`: 0 for no limit.
    pub(crate) fn new(sessions_per_user: u32) -> Self {
        Self {
            users: Bounded::new(LOGIN_ENTRIES),
            sources: Bounded::new(LOGIN_ENTRIES),
            sessions: HashMap::new(),
            sessions_per_user,
        }
    }

    /// Whether `user` from `source` may try to log in now.
    #[cfg(test)]
    pub(crate) fn check(&self, now: Instant, user: &str, source: IpAddr) -> Result<(), Blocked> {
        self.check_with(now, user, source, None)
    }

    /// [`Logins::check`] with the user's own session limit (`max_sessions` in users.yaml),
    /// which replaces `limits.sessions_per_user` when given (0: no limit).
    pub(crate) fn check_with(
        &self,
        now: Instant,
        user: &str,
        source: IpAddr,
        own_limit: Option<u32>,
    ) -> Result<(), Blocked> {
        let wait = |f: Option<&Failures>| {
            f.and_then(|f| f.blocked_until)
                .map(|until| until.saturating_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        if let Some(d) = wait(self.users.get(&user.to_owned()))
            .into_iter()
            .chain(wait(self.sources.get(&source)))
            .max()
        {
            return Err(Blocked::Backoff(d));
        }
        let n = self.sessions.get(user).copied().unwrap_or(0);
        let limit = own_limit.unwrap_or(self.sessions_per_user);
        if limit != 0 && n >= limit {
            return Err(Blocked::TooManySessions(limit));
        }
        Ok(())
    }

    /// A failed login (wrong password, unknown or disabled user).
    pub(crate) fn failed(&mut self, now: Instant, user: &str, source: IpAddr) {
        fn bump(f: &mut Failures, now: Instant) {
            if now.saturating_duration_since(f.last) > FORGET_AFTER {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
            if let Some(extra) = f.count.checked_sub(FREE_FAILURES + 1) {
                let block = FIRST_BLOCK
                    .checked_mul(1u32 << extra.min(16))
                    .unwrap_or(MAX_BLOCK)
                    .min(MAX_BLOCK);
                f.blocked_until = Some(now + block);
            }
        }
        let fresh = || Failures {
            count: 0,
            last: now,
            blocked_until: None,
        };
        bump(self.users.touch(user.to_owned(), fresh), now);
        bump(self.sources.touch(source, fresh), now);
    }

    /// A successful login: the user's and the address's records are cleared.
    pub(crate) fn succeeded(&mut self, user: &str, source: IpAddr) {
        self.users.remove(&user.to_owned());
        self.sources.remove(&source);
        *self.sessions.entry(user.to_owned()).or_insert(0) += 1;
    }

    /// How many authenticated sessions `user` has.
    pub(crate) fn sessions_of(&self, user: &str) -> u32 {
        self.sessions.get(user).copied().unwrap_or(0)
    }

    /// An authenticated session of `user` ended.
    pub(crate) fn session_ended(&mut self, user: &str) {
        if let Some(n) = self.sessions.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.sessions.remove(user);
            }
        }
    }

    #[cfg(test)]
    fn remembered(&self) -> (usize, usize) {
        (self.users.len(), self.sources.len())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[allow(clippy::disallowed_methods)] // A test's starting point; every step is explicit.
    fn start() -> Instant {
        Instant::now()
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn a_refusal_is_logged_once_per_source_and_reason_per_minute() {
        let t0 = start();
        let mut l = LogLimiter::new();
        assert_eq!(l.allow(t0, ip(1), "PSK mismatch"), Some(0));
        assert_eq!(
            l.allow(t0 + Duration::from_secs(1), ip(1), "PSK mismatch"),
            None
        );
        assert_eq!(
            l.allow(t0 + Duration::from_secs(1), ip(2), "PSK mismatch"),
            Some(1)
        );
        assert_eq!(
            l.allow(t0 + Duration::from_secs(2), ip(1), "other"),
            Some(0)
        );
        assert_eq!(
            l.allow(t0 + Duration::from_secs(61), ip(1), "PSK mismatch"),
            Some(0)
        );
    }

    #[test]
    fn a_flood_of_sources_neither_grows_the_table_nor_floods_the_log() {
        let t0 = start();
        let mut l = LogLimiter::new();
        let mut logged = 0;
        for i in 0..100_000 {
            let now = t0 + Duration::from_millis(i / 10);
            if l.allow(now, ip(u32::try_from(i).unwrap()), "no proposal")
                .is_some()
            {
                logged += 1;
            }
        }
        assert!(l.len() <= LOG_ENTRIES);
        // 10 s of flood: at most LOG_BURST lines per second.
        assert!(logged <= 11 * LOG_BURST, "{logged} lines");
        assert!(l.seen.order.len() <= 4 * LOG_ENTRIES + 1);
    }

    #[test]
    fn failed_logins_back_off_and_a_success_clears() {
        let t0 = start();
        let mut g = Logins::new(0);
        let src = ip(7);
        for _ in 0..FREE_FAILURES {
            assert_eq!(g.check(t0, "bob", src), Ok(()));
            g.failed(t0, "bob", src);
        }
        assert_eq!(g.check(t0, "bob", src), Ok(()), "typos are free");
        g.failed(t0, "bob", src);
        assert_eq!(g.check(t0, "bob", src), Err(Blocked::Backoff(FIRST_BLOCK)));
        // Another address is blocked for bob too (per user), and bob's address for others.
        assert!(g.check(t0, "bob", ip(8)).is_err());
        assert!(g.check(t0, "alice", src).is_err());
        assert_eq!(g.check(t0, "alice", ip(8)), Ok(()));
        let later = t0 + FIRST_BLOCK;
        assert_eq!(g.check(later, "bob", src), Ok(()));
        g.failed(later, "bob", src);
        assert_eq!(
            g.check(later, "bob", src),
            Err(Blocked::Backoff(FIRST_BLOCK * 2))
        );
        g.succeeded("bob", src);
        assert_eq!(g.check(later, "bob", src), Ok(()));
        assert_eq!(g.sessions_of("bob"), 1);
    }

    #[test]
    fn the_wait_is_capped_and_old_failures_are_forgotten() {
        let t0 = start();
        let mut g = Logins::new(0);
        for _ in 0..100 {
            g.failed(t0, "eve", ip(1));
        }
        assert_eq!(g.check(t0, "eve", ip(2)), Err(Blocked::Backoff(MAX_BLOCK)));
        let much_later = t0 + FORGET_AFTER + MAX_BLOCK + Duration::from_secs(1);
        g.failed(much_later, "eve", ip(1));
        assert_eq!(
            g.check(much_later, "eve", ip(2)),
            Ok(()),
            "count restarted at 1"
        );
    }

    #[test]
    fn sessions_per_user_is_enforced() {
        let mut g = Logins::new(2);
        let t0 = start();
        g.succeeded("carol", ip(1));
        g.succeeded("carol", ip(2));
        assert_eq!(
            g.check(t0, "carol", ip(3)),
            Err(Blocked::TooManySessions(2))
        );
        g.session_ended("carol");
        assert_eq!(g.check(t0, "carol", ip(3)), Ok(()));
        // A user's own limit replaces the global one, both ways; 0 lifts it.
        g.succeeded("carol", ip(2));
        assert_eq!(
            g.check_with(t0, "carol", ip(3), Some(1)),
            Err(Blocked::TooManySessions(1))
        );
        assert_eq!(g.check_with(t0, "carol", ip(3), Some(3)), Ok(()));
        g.succeeded("carol", ip(3));
        assert_eq!(g.check_with(t0, "carol", ip(4), Some(0)), Ok(()));
    }

    #[test]
    fn login_tables_are_bounded() {
        let mut g = Logins::new(0);
        let t0 = start();
        for i in 0..(LOGIN_ENTRIES as u32 + 1000) {
            g.failed(t0, &format!("user{i}"), ip(i));
        }
        let (u, s) = g.remembered();
        assert!(u <= LOGIN_ENTRIES && s <= LOGIN_ENTRIES);
    }
}
