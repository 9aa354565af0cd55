//! The data plane's table and counters: what the control plane publishes ([`Publisher`]),
//! how it is sharded behind `ArcSwap` pointers, and the notes the data plane leaves for the
//! control plane. See the parent module for how packets use it.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use ipnetwork::Ipv4Network;
use wire::FourTuple;

use super::{DataPlane, DataPlaneStats, PeerId, SHARDS};

/// One counter per cache line (128 bytes covers adjacent-line prefetching).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct Padded(AtomicU64);

/// Stripes of a per-packet counter, so that threads carrying different flows do not all write
/// one cache line. The stripe comes from the flow (SPI or address): a flow stays on one thread.
#[derive(Debug, Default)]
pub(super) struct Striped([Padded; 16]);

impl Striped {
    pub(super) fn bump(&self, flow: u32) {
        let i = usize::try_from(flow).unwrap_or(0) % self.0.len();
        if let Some(c) = self.0.get(i) {
            c.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn get(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) to_tun: Striped,
    pub(super) sealed: Striped,
    pub(super) to_owner: AtomicU64,
    pub(super) ike: AtomicU64,
    pub(super) esp_dropped: AtomicU64,
    pub(super) spoofed: AtomicU64,
    pub(super) no_session: AtomicU64,
    pub(super) malformed: AtomicU64,
    pub(super) mss_clamped: AtomicU64,
    pub(super) icmp_too_big: AtomicU64,
    pub(super) fragmented: AtomicU64,
    pub(super) publishes: AtomicU64,
    pub(super) awaiting_qm3: AtomicU64,
    pub(super) policed: AtomicU64,
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One session's traffic counters, shared by the control plane's snapshot and every thread.
/// The inbound half is written by the thread the client's flow lands on, the outbound half by
/// the threads reading the TUN, so each half has its own cache line.
#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    pub(crate) inbound: Traffic,
    pub(crate) outbound: Traffic,
    /// Set by every IPv4 packet from the client; the control plane takes it before the PPP
    /// link's echo timer runs ([`ppp::Link::note_alive`]).
    pub(crate) alive: AtomicBool,
}

/// Packets and bytes one way.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Traffic {
    pub(crate) packets: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// Packets dropped by the session's rate limit this way.
    pub(crate) policed: AtomicU64,
}

impl Traffic {
    pub(crate) fn add(&self, len: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// A peer's sign of life, shared across publishes: set by every authenticated packet, taken
/// by the control plane for PPP echo and IKE dead peer detection (RFC 3706 §5.3: probe only
/// when there is no traffic).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    alive: AtomicBool,
}

impl Activity {
    /// Whether the peer sent anything since the last call.
    pub(crate) fn take(&self) -> bool {
        self.alive.swap(false, Ordering::Relaxed)
    }
}

/// Things the data plane saw that the control plane must act on. Rare, bounded by the number
/// of peers and SAs.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    /// ESP lifetime thresholds crossed: (peer, our inbound SPI of the pair, which limit).
    pub(crate) expiries: Vec<(PeerId, u32, esp::Expiry)>,
    /// Inbound SAs used for the first time while not the pair we send with (the client
    /// rekeyed): (peer, SPI).
    pub(crate) first_use: Vec<(PeerId, u32)>,
    /// Peers that showed a sign of life since the last drain.
    pub(crate) active: Vec<PeerId>,
}

/// The published facts about one session.
#[derive(Debug, Clone)]
pub(crate) struct SessionSpec {
    /// Our tunnel and session IDs: what the client's data messages carry.
    pub(crate) key: l2tp::SessionKey,
    /// The assigned address.
    pub(crate) addr: Ipv4Addr,
    /// How to frame data messages to the client.
    pub(crate) framing: l2tp::DataFraming,
    /// The largest IPv4 packet the client takes (its PPP MRU, RFC 1661 §6.1).
    pub(crate) mtu: u16,
    /// The largest TCP MSS to let through in SYNs, if clamping is on.
    pub(crate) mss: Option<u16>,
    pub(crate) counters: Arc<SessionCounters>,
    /// The session's rate limits, if it has any.
    pub(crate) policer: Option<Arc<super::police::Policer>>,
    /// Networks behind the client (RADIUS Framed-Route, users.yaml `routes`): packets to
    /// them go to this session, and the client may send from them.
    pub(crate) routes: Arc<[Ipv4Network]>,
}

impl PartialEq for SessionSpec {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.addr == other.addr
            && self.framing == other.framing
            && self.mtu == other.mtu
            && self.mss == other.mss
            && self.routes == other.routes
            && Arc::ptr_eq(&self.counters, &other.counters)
            && match (&self.policer, &other.policer) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// What the control plane publishes about one peer.
#[derive(Debug, Clone)]
pub(crate) struct PeerSpec {
    pub(crate) id: PeerId,
    pub(crate) tuple: FourTuple,
    /// Every installed inbound SA, and whether it belongs to the pair we send with.
    pub(crate) inbound: Vec<(Arc<esp::Sa>, bool)>,
    /// The outbound SA we send with and our inbound SPI of its pair.
    pub(crate) outbound: Option<(Arc<esp::Sa>, u32)>,
    /// Sessions whose IPv4 traffic the data plane carries (IPCP up, framing known).
    pub(crate) sessions: Vec<SessionSpec>,
    pub(crate) activity: Arc<Activity>,
}

impl PartialEq for PeerSpec {
    fn eq(&self, other: &Self) -> bool {
        let same_in = self.inbound.len() == other.inbound.len()
            && self
                .inbound
                .iter()
                .zip(&other.inbound)
                .all(|((a, x), (b, y))| Arc::ptr_eq(a, b) && x == y);
        let same_out = match (&self.outbound, &other.outbound) {
            (Some((a, x)), Some((b, y))) => Arc::ptr_eq(a, b) && x == y,
            (None, None) => true,
            _ => false,
        };
        self.id == other.id
            && self.tuple == other.tuple
            && same_in
            && same_out
            && self.sessions == other.sessions
            && Arc::ptr_eq(&self.activity, &other.activity)
    }
}

/// The per-peer part of inbound entries (shared by all of the peer's SPIs).
#[derive(Debug)]
pub(super) struct PeerView {
    pub(super) id: PeerId,
    pub(super) tuple: FourTuple,
    pub(super) sessions: Vec<SessionSpec>,
    pub(super) activity: Arc<Activity>,
}

/// Inbound SPI → everything needed to accept a packet on it.
#[derive(Debug)]
pub(super) struct InEntry {
    pub(super) live: AtomicBool,
    pub(super) sa: Arc<esp::Sa>,
    /// Whether the control plane sends with this SA's pair; if not, the first packet on it is
    /// noted (the client moved to a rekeyed pair).
    pub(super) current: bool,
    pub(super) noted: AtomicBool,
    pub(super) peer: Arc<PeerView>,
}

/// Assigned address → everything needed to send to it.
#[derive(Debug)]
pub(super) struct OutEntry {
    pub(super) live: AtomicBool,
    pub(super) sa: Arc<esp::Sa>,
    /// Our inbound SPI of the pair `sa` belongs to (names the pair in lifetime notes).
    pub(super) spi_in: u32,
    pub(super) peer: PeerId,
    pub(super) tuple: FourTuple,
    pub(super) session: SessionSpec,
}

pub(super) type SpiShard = HashMap<u32, Arc<InEntry>>;
/// Keys to set (`Some`) or remove (`None`) in one shard.
pub(super) type Changes<K, E> = Vec<(K, Option<Arc<E>>)>;
pub(super) type AddrShard = HashMap<Ipv4Addr, Arc<OutEntry>>;

/// Routed networks → the assigned address of the session behind them, for the
/// longest-prefix match that follows a miss of the exact address look-up. One map per prefix
/// length in use, longest first: a look-up costs at most one hash probe per length in use.
#[derive(Debug, Default)]
pub(super) struct Routes {
    by_len: Vec<(u8, HashMap<u32, Ipv4Addr>)>,
}

impl Routes {
    fn build(routes: &HashMap<(u32, u8), Ipv4Addr>) -> Self {
        let mut by_len: Vec<(u8, HashMap<u32, Ipv4Addr>)> = Vec::new();
        for (&(net, len), &addr) in routes {
            match by_len.iter_mut().find(|(l, _)| *l == len) {
                Some((_, m)) => {
                    m.insert(net, addr);
                }
                None => by_len.push((len, HashMap::from([(net, addr)]))),
            }
        }
        by_len.sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
        Self { by_len }
    }

    /// The assigned address of the session whose routed network holds `dst` most
    /// specifically.
    pub(super) fn lookup(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let d = u32::from(dst);
        self.by_len
            .iter()
            .find_map(|(len, m)| m.get(&(d & prefix_mask(*len))).copied())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_len.is_empty()
    }
}

fn prefix_mask(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn route_key(net: &Ipv4Network) -> (u32, u8) {
    (u32::from(net.network()), net.prefix())
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) by_spi: Vec<ArcSwap<SpiShard>>,
    pub(super) by_addr: Vec<ArcSwap<AddrShard>>,
    pub(super) routes: ArcSwap<Routes>,
    pub(super) counters: Counters,
    pub(super) nat_t_port: u16,
    /// Our address on the PPP links: the source of ICMP errors we generate.
    pub(super) server_addr: Ipv4Addr,
    pub(super) notes: Mutex<Notes>,
    pub(super) notes_pending: AtomicBool,
    /// Our inbound SPIs of Quick Modes awaiting their third message (see
    /// [`Inbound::AwaitingQm3`](super::Inbound::AwaitingQm3)).
    pub(super) awaiting: ArcSwap<HashSet<u32>>,
}

pub(super) fn spi_shard(spi: u32) -> usize {
    // SPIs are random (RFC 4303 §2.1 leaves the choice to the receiver; ours come from the
    // seeded RNG), so their low bits spread well.
    usize::try_from(spi).unwrap_or(0) % SHARDS
}

pub(super) fn addr_shard(addr: Ipv4Addr) -> usize {
    // Pool addresses are consecutive: their low bits spread well.
    usize::try_from(u32::from(addr)).unwrap_or(0) % SHARDS
}

impl Shared {
    pub(super) fn new(nat_t_port: u16, server_addr: Ipv4Addr) -> Self {
        Self {
            by_spi: (0..SHARDS).map(|_| ArcSwap::default()).collect(),
            by_addr: (0..SHARDS).map(|_| ArcSwap::default()).collect(),
            routes: ArcSwap::default(),
            counters: Counters::default(),
            nat_t_port,
            server_addr,
            notes: Mutex::new(Notes::default()),
            notes_pending: AtomicBool::new(false),
            awaiting: ArcSwap::default(),
        }
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, Notes> {
        // Each note is one push: a panic while holding the lock leaves nothing half-done.
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn note(&self, f: impl FnOnce(&mut Notes)) {
        f(&mut self.notes());
        self.notes_pending.store(true, Ordering::Release);
    }

    pub(super) fn note_expiry(&self, peer: PeerId, spi_in: u32, expiry: Option<esp::Expiry>) {
        if let Some(e) = expiry {
            self.note(|n| n.expiries.push((peer, spi_in, e)));
        }
    }

    pub(super) fn note_alive(&self, peer: &PeerView) {
        // A plain load first: the flag is set on almost every packet, and a swap would write
        // the cache line every time.
        if !peer.activity.alive.load(Ordering::Relaxed)
            && !peer.activity.alive.swap(true, Ordering::Relaxed)
        {
            let id = peer.id;
            self.note(|n| n.active.push(id));
        }
    }

    /// Runs `f` on the live entry for `spi`, borrowed from the table (no reference count is
    /// touched per packet); a dead one (removed while we looked) makes us look again.
    pub(super) fn with_in_entry<R>(&self, spi: u32, f: impl FnOnce(&InEntry) -> R) -> Option<R> {
        let shard = self.by_spi.get(spi_shard(spi))?;
        for _ in 0..2 {
            let table = shard.load();
            let entry = table.get(&spi)?;
            if entry.live.load(Ordering::Acquire) {
                return Some(f(entry));
            }
        }
        None
    }

    /// As [`Self::with_in_entry`], for the assigned address `addr`.
    pub(super) fn with_out_entry<R>(
        &self,
        addr: Ipv4Addr,
        f: impl FnOnce(&OutEntry) -> R,
    ) -> Option<R> {
        let shard = self.by_addr.get(addr_shard(addr))?;
        for _ in 0..2 {
            let table = shard.load();
            let entry = table.get(&addr)?;
            if entry.live.load(Ordering::Acquire) {
                return Some(f(entry));
            }
        }
        None
    }

    /// As [`Self::with_out_entry`] for the session `dst` belongs to: its assigned address
    /// first, else the longest routed network that holds it. The common case (a pool
    /// address) costs what the exact look-up costs.
    pub(super) fn with_route<R>(
        &self,
        dst: Ipv4Addr,
        mut f: impl FnMut(&OutEntry) -> R,
    ) -> Option<R> {
        if let Some(r) = self.with_out_entry(dst, &mut f) {
            return Some(r);
        }
        let via = {
            let routes = self.routes.load();
            if routes.is_empty() {
                return None;
            }
            routes.lookup(dst)?
        };
        self.with_out_entry(via, f)
    }
}

/// The control plane's side: publishes peers' entries and takes the notes.
#[derive(Debug)]
pub(crate) struct Publisher {
    shared: Arc<Shared>,
    /// What was last published, by peer.
    last: HashMap<PeerId, PeerSpec>,
    /// Every published routed network (address, prefix length) → the session's address.
    routes: HashMap<(u32, u8), Ipv4Addr>,
}

impl Publisher {
    pub(crate) fn new(nat_t_port: u16, server_addr: Ipv4Addr) -> Self {
        Self {
            shared: Arc::new(Shared::new(nat_t_port, server_addr)),
            last: HashMap::new(),
            routes: HashMap::new(),
        }
    }

    pub(crate) fn handle(&self) -> DataPlane {
        DataPlane {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The global counters.
    pub(crate) fn stats(&self) -> DataPlaneStats {
        self.handle().stats()
    }

    /// Replaces the set of inbound SPIs whose Quick Mode awaits its third message.
    pub(crate) fn set_awaiting_qm3(&self, spis: HashSet<u32>) {
        self.shared.awaiting.store(Arc::new(spis));
    }

    /// Everything noted since the last call.
    pub(crate) fn take_notes(&self) -> Notes {
        if !self.shared.notes_pending.swap(false, Ordering::AcqRel) {
            return Notes::default();
        }
        std::mem::take(&mut *self.shared.notes())
    }

    /// Publishes the peers whose part changed (`specs`: the peer's current part, `None` for
    /// a peer that is gone). Each shard is copied at most once; entries that left are
    /// marked dead after the new shards are in place.
    pub(crate) fn publish(&mut self, specs: Vec<(PeerId, Option<PeerSpec>)>) {
        let mut spi_changes: HashMap<usize, Changes<u32, InEntry>> = HashMap::new();
        let mut addr_changes: HashMap<usize, Changes<Ipv4Addr, OutEntry>> = HashMap::new();
        let mut routes_changed = false;
        for (id, spec) in specs {
            let old = self.last.get(&id);
            if old == spec.as_ref() {
                continue;
            }
            // Remove what the old part had; the new part re-adds its own keys.
            if let Some(old) = old {
                for (sa, _) in &old.inbound {
                    let spi = sa.spi();
                    spi_changes
                        .entry(spi_shard(spi))
                        .or_default()
                        .push((spi, None));
                }
                for s in &old.sessions {
                    addr_changes
                        .entry(addr_shard(s.addr))
                        .or_default()
                        .push((s.addr, None));
                    for r in s.routes.iter() {
                        // Only if still ours: another session may have taken it over in
                        // this same publish.
                        let key = route_key(r);
                        if self.routes.get(&key) == Some(&s.addr) {
                            self.routes.remove(&key);
                            routes_changed = true;
                        }
                    }
                }
            }
            match spec {
                Some(spec) => {
                    for s in &spec.sessions {
                        for r in s.routes.iter() {
                            self.routes.insert(route_key(r), s.addr);
                            routes_changed = true;
                        }
                    }
                    let view = Arc::new(PeerView {
                        id,
                        tuple: spec.tuple,
                        sessions: spec.sessions.clone(),
                        activity: Arc::clone(&spec.activity),
                    });
                    for (sa, current) in &spec.inbound {
                        let spi = sa.spi();
                        let entry = InEntry {
                            live: AtomicBool::new(true),
                            sa: Arc::clone(sa),
                            current: *current,
                            noted: AtomicBool::new(false),
                            peer: Arc::clone(&view),
                        };
                        spi_changes
                            .entry(spi_shard(spi))
                            .or_default()
                            .push((spi, Some(Arc::new(entry))));
                    }
                    if let Some((sa, spi_in)) = &spec.outbound {
                        for s in &spec.sessions {
                            let entry = OutEntry {
                                live: AtomicBool::new(true),
                                sa: Arc::clone(sa),
                                spi_in: *spi_in,
                                peer: id,
                                tuple: spec.tuple,
                                session: s.clone(),
                            };
                            addr_changes
                                .entry(addr_shard(s.addr))
                                .or_default()
                                .push((s.addr, Some(Arc::new(entry))));
                        }
                    }
                    self.last.insert(id, spec);
                }
                None => {
                    self.last.remove(&id);
                }
            }
        }
        if routes_changed {
            self.shared
                .routes
                .store(Arc::new(Routes::build(&self.routes)));
        }
        let mut dead_in = Vec::new();
        let mut dead_out = Vec::new();
        for (i, changes) in spi_changes {
            let Some(slot) = self.shared.by_spi.get(i) else {
                continue;
            };
            let mut shard = SpiShard::clone(&slot.load());
            for (spi, entry) in changes {
                let old = match entry {
                    Some(e) => shard.insert(spi, e),
                    None => shard.remove(&spi),
                };
                dead_in.extend(old);
            }
            slot.store(Arc::new(shard));
            bump(&self.shared.counters.publishes);
        }
        for (i, changes) in addr_changes {
            let Some(slot) = self.shared.by_addr.get(i) else {
                continue;
            };
            let mut shard = AddrShard::clone(&slot.load());
            for (addr, entry) in changes {
                let old = match entry {
                    Some(e) => shard.insert(addr, e),
                    None => shard.remove(&addr),
                };
                dead_out.extend(old);
            }
            slot.store(Arc::new(shard));
            bump(&self.shared.counters.publishes);
        }
        // A thread that loaded an old shard finds these dead and loads again.
        for e in dead_in {
            e.live.store(false, Ordering::Release);
        }
        for e in dead_out {
            e.live.store(false, Ordering::Release);
        }
    }
}
