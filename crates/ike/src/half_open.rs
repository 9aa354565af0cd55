//! Bounds on half-open IKE SAs (Main Mode not finished), per source address and in total, and
//! the choice of which one gives way to a newcomer.
//!
//! Main Mode message 1 costs a sender nothing and its source address is unproven (RFC 2408
//! §2.5.3 on clogging), and in L2TP/IPsec the pre-shared key is shared by every user, so a
//! stream of valid-looking MM1s must never lock real clients out. At a bound the newcomer is
//! therefore admitted and an entry that still **waits for MM3** is given up:
//!
//! - at the per-address bound, the oldest such entry of the newcomer's own address;
//! - at the total bound, the oldest such entry of the address that holds the most half-open
//!   entries (ties: the address whose waiting entry is oldest, i.e. the globally oldest).
//!
//! A flood from sources that each hold more entries than a real client (its one) thus never
//! evicts the client's entry, and a client answers MM2 within a round trip anyway. Entries past
//! MM3 have shown they receive our messages and cost us a Diffie-Hellman exchange: newcomers do
//! not evict them, and when only such entries fill a bound the newcomer is refused.
//!
//! Every operation is O(log n); counts are kept as entries come and go, never recounted.

use core::cmp::Reverse;
use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// (initiator cookie, responder cookie).
pub(crate) type Cookies = ([u8; 8], [u8; 8]);

/// What to do with a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// There is room.
    Admit,
    /// Give up this entry (it waits for MM3), then ask again.
    Evict(Cookies),
    /// A bound is full of entries past MM3.
    Refuse,
}

#[derive(Debug)]
struct Entry {
    ip: IpAddr,
    /// Arrival order.
    seq: u64,
    waits_for_mm3: bool,
}

#[derive(Debug, Default)]
struct PerAddress {
    /// Half-open entries of this address, in either state.
    count: usize,
    /// Its entries still waiting for MM3, oldest first.
    waiting: BTreeMap<u64, Cookies>,
}

impl PerAddress {
    /// Its place in [`HalfOpen::ranking`], if it has an entry that may be evicted.
    fn rank(&self, ip: IpAddr) -> Option<Rank> {
        self.waiting
            .keys()
            .next()
            .map(|seq| (self.count, Reverse(*seq), ip))
    }
}

/// (half-open entries, Reverse(oldest waiting entry), address): the best eviction candidate is
/// the largest.
type Rank = (usize, Reverse<u64>, IpAddr);

/// The half-open table's accounting (the SAs themselves live in the responder).
#[derive(Debug)]
pub(crate) struct HalfOpen {
    max_total: usize,
    max_per_address: usize,
    next_seq: u64,
    entries: HashMap<Cookies, Entry>,
    by_address: HashMap<IpAddr, PerAddress>,
    /// Addresses with an entry waiting for MM3, ranked for eviction.
    ranking: BTreeSet<Rank>,
}

impl HalfOpen {
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total,
            max_per_address,
            next_seq: 0,
            entries: HashMap::new(),
            by_address: HashMap::new(),
            ranking: BTreeSet::new(),
        }
    }

    /// Half-open entries in total.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Half-open entries of `ip`.
    #[cfg(test)]
    pub(crate) fn count(&self, ip: IpAddr) -> usize {
        self.by_address.get(&ip).map_or(0, |p| p.count)
    }

    /// Whether a newcomer from `ip` fits, and if not, which entry gives way.
    pub(crate) fn admit(&self, ip: IpAddr) -> Admission {
        let own = self.by_address.get(&ip);
        if own.map_or(0, |p| p.count) >= self.max_per_address {
            return own
                .and_then(|p| p.waiting.values().next())
                .map_or(Admission::Refuse, |c| Admission::Evict(*c));
        }
        if self.entries.len() >= self.max_total {
            return self
                .ranking
                .last()
                .and_then(|(_, _, top)| self.by_address.get(top))
                .and_then(|p| p.waiting.values().next())
                .map_or(Admission::Refuse, |c| Admission::Evict(*c));
        }
        Admission::Admit
    }

    /// Records a new entry from `ip`, waiting for MM3.
    pub(crate) fn insert(&mut self, ip: IpAddr, cookies: Cookies) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.update(ip, |p| {
            p.count += 1;
            p.waiting.insert(seq, cookies);
        });
        self.entries.insert(
            cookies,
            Entry {
                ip,
                seq,
                waits_for_mm3: true,
            },
        );
    }

    /// MM3 arrived: the entry stays half-open but may no longer be evicted.
    pub(crate) fn promote(&mut self, cookies: &Cookies) {
        let Some(e) = self.entries.get_mut(cookies) else {
            return;
        };
        if !e.waits_for_mm3 {
            return;
        }
        e.waits_for_mm3 = false;
        let (ip, seq) = (e.ip, e.seq);
        self.update(ip, |p| {
            p.waiting.remove(&seq);
        });
    }

    /// The entry is gone (established, failed, expired or evicted).
    pub(crate) fn remove(&mut self, cookies: &Cookies) {
        let Some(e) = self.entries.remove(cookies) else {
            return;
        };
        self.update(e.ip, |p| {
            p.count = p.count.saturating_sub(1);
            p.waiting.remove(&e.seq);
        });
    }

    /// Applies `f` to `ip`'s accounting, keeping the ranking in step and dropping empty rows.
    fn update(&mut self, ip: IpAddr, f: impl FnOnce(&mut PerAddress)) {
        let p = self.by_address.entry(ip).or_default();
        if let Some(old) = p.rank(ip) {
            self.ranking.remove(&old);
        }
        f(p);
        if let Some(new) = p.rank(ip) {
            self.ranking.insert(new);
        }
        if p.count == 0 {
            self.by_address.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    fn c(n: u8) -> Cookies {
        ([n; 8], [n; 8])
    }

    /// Admits, evicting as the caller would.
    fn arrive(t: &mut HalfOpen, from: IpAddr, cookies: Cookies) -> Vec<Cookies> {
        let mut evicted = Vec::new();
        loop {
            match t.admit(from) {
                Admission::Admit => break,
                Admission::Evict(v) => {
                    t.remove(&v);
                    evicted.push(v);
                }
                Admission::Refuse => return evicted,
            }
        }
        t.insert(from, cookies);
        evicted
    }

    #[test]
    fn per_address_bound_evicts_that_address_oldest_waiting_entry() {
        let mut t = HalfOpen::new(100, 2);
        assert!(arrive(&mut t, ip(1), c(1)).is_empty());
        assert!(arrive(&mut t, ip(1), c(2)).is_empty());
        assert_eq!(arrive(&mut t, ip(1), c(3)), vec![c(1)]);
        // Past MM3, c(2) may not be evicted; c(3) goes instead.
        t.promote(&c(2));
        assert_eq!(arrive(&mut t, ip(1), c(4)), vec![c(3)]);
        t.promote(&c(4));
        assert_eq!(t.admit(ip(1)), Admission::Refuse);
        assert_eq!((t.len(), t.count(ip(1))), (2, 2));
    }

    #[test]
    fn total_bound_evicts_from_the_busiest_address_then_the_oldest() {
        let mut t = HalfOpen::new(4, 10);
        arrive(&mut t, ip(9), c(90)); // a lone real client, first
        arrive(&mut t, ip(1), c(10));
        arrive(&mut t, ip(1), c(11));
        arrive(&mut t, ip(2), c(20));
        // Full: ip(1) holds the most; its oldest goes.
        assert_eq!(arrive(&mut t, ip(3), c(30)), vec![c(10)]);
        // Now every address holds one: the globally oldest waiting entry goes.
        assert_eq!(arrive(&mut t, ip(4), c(40)), vec![c(90)]);
        // An address past MM3 is skipped even when it holds the most.
        t.promote(&c(20));
        arrive(&mut t, ip(2), c(21));
        t.promote(&c(21));
        assert_eq!(t.count(ip(2)), 2);
        let evicted = arrive(&mut t, ip(5), c(50));
        assert_eq!(evicted.len(), 1);
        assert_ne!(evicted[0], c(20));
        assert_ne!(evicted[0], c(21));
        t.remove(&c(20));
        t.remove(&c(21));
        t.remove(&c(50));
        t.remove(&c(40));
        t.remove(&c(30));
        t.remove(&c(11));
        assert_eq!(t.len(), 0);
        assert!(t.by_address.is_empty() && t.ranking.is_empty());
    }
}
