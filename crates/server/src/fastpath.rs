//! [`FastPath`]: the established-session data path, runnable on every core at once (STYLE.md §2,
//! boringtun `Session`; ARCHITECTURE.md "Multi-core data path").
//!
//! The [`Server`](crate::Server) owns every state machine. For the one hot case — IPv4 over PPP
//! over an L2TP data message over ESP (RFC 4303, UDP-encapsulated per RFC 3948 or plain) of a
//! session that is up — it publishes a read-mostly table behind an [`ArcSwap`] pointer, and any
//! number of threads run [`FastPath::inbound_udp`], [`FastPath::inbound_esp`] and
//! [`FastPath::outbound`] against it without a lock of their own:
//!
//! - inbound SPI → the peer's 4-tuple, the shared inbound [`esp::Sa`], and the sessions of that
//!   peer (our L2TP tunnel and session IDs, the assigned address, counters);
//! - assigned address → the peer's current outbound [`esp::Sa`], 4-tuple, the peer's L2TP IDs
//!   and port, the Length-field choice, the peer's MRU and counters.
//!
//! The [`esp::Sa`]s are the very objects the owner uses, so the owner and the workers share the
//! outbound sequence number and the inbound replay window (RFC 4303 §3.4.3): a packet accepted
//! on one thread is a replay on every other thread and on the owner.
//!
//! # Semantics
//!
//! For a packet the fast path handles, the result equals the owner path's exactly: the SA must
//! be bound to the 4-tuple the packet came from; ICV, replay window and decryption are
//! [`esp::Sa::open`]; the transport-mode rules are [`esp::transport::receive`] (next header UDP
//! to port 1701); the L2TP message must be an unsequenced data message (RFC 2661 §5.2) for a
//! session of *this* peer; the PPP protocol must be IPv4 (RFC 1332) and the source must be the
//! session's assigned address (anti-spoofing, counted as the owner counts it). Outbound is
//! [`ppp::Link::encapsulate_ip`] (`FF 03 00 21`), [`l2tp::Lns::encode_data`] with the
//! session's static [`l2tp::DataFraming`], and [`esp::transport::seal`] with the peer's current
//! SA. Per-session byte and packet counters are atomics that the owner adds to
//! [`Server::snapshot`](crate::Server::snapshot).
//!
//! Everything else goes to the owner, which processes it exactly as it always does:
//! - [`Inbound::ToOwner`]: the datagram is untouched (IKE, malformed NAT-T framing, unknown
//!   SPIs — including an SA the client just moved to after a rekey —, a peer without an
//!   established session in the table, a dead entry); the caller hands it to
//!   [`Server::handle_udp`] or
//!   [`Server::handle_esp`](crate::Server::handle_esp).
//! - [`Inbound::ToOwnerDecrypted`]: the ESP packet was authenticated and decrypted (so its
//!   sequence number is used up) but carries something other than established-session IPv4
//!   data: L2TP control or ZLB, a sequenced data message, LCP/IPCP/CCP, a session being set
//!   up. The caller hands the L2TP message to [`Server::handle_decrypted`], which continues
//!   where [`Server::handle_udp`] would have after decryption.
//! - [`Outbound::ToOwner`]: no table entry for the destination, a malformed packet, a packet
//!   larger than the peer's MRU; the caller hands it to
//!   [`Server::handle_tun`](crate::Server::handle_tun).
//!
//! # Publishing and staleness
//!
//! Once [`Server::fast_path`] was called, the server checks the table at the end of every
//! input (`handle_*`, `reload_users`, `shutdown`) and swaps a new one in when it changed: after
//! ESP input by comparing that one peer's part, otherwise by rebuilding from every peer. An
//! entry that leaves the table is marked dead before the call returns, so a thread still
//! holding the old table (a [`Pinned`] view) sends that packet to the owner instead of using
//! the entry. A lookup that starts after the publish returned never uses a removed entry; one
//! already past its liveness check finishes, like any packet in flight at the moment of the
//! change. Nothing is delivered to another peer: the inbound SA checks the 4-tuple it was
//! negotiated with, and an address's outbound entry dies at the end of the owner input that
//! ends its session, before another session can own that address in the table.
//!
//! [`Server`]: crate::Server
//! [`Server::handle_udp`]: crate::Server::handle_udp
//! [`Server::handle_decrypted`]: crate::Server::handle_decrypted
//! [`Server::fast_path`]: crate::Server::fast_path

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rand::{CryptoRng, RngCore};
use wire::ppp::Protocol as PppProtocol;

/// The PPP header the owner's [`ppp::Link::encapsulate_ip`] writes: address, control, IPv4.
const PPP_IPV4_HEADER: [u8; 4] = [wire::ppp::ADDRESS, wire::ppp::CONTROL, 0x00, 0x21];

/// What to do with an inbound packet after [`FastPath::inbound_udp`] or
/// [`FastPath::inbound_esp`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Inbound {
    /// Write `buf[range]` (an IPv4 packet from the session's own address) to the TUN device.
    ToTun(Range<usize>),
    /// Not for the fast path; the buffer is unchanged. Give the datagram to the owner
    /// ([`Server::handle_udp`](crate::Server::handle_udp) or
    /// [`Server::handle_esp`](crate::Server::handle_esp)).
    ToOwner,
    /// Authenticated and decrypted, but not established-session IPv4 data. Give
    /// `buf[l2tp]` and the other fields to
    /// [`Server::handle_decrypted`](crate::Server::handle_decrypted).
    ToOwnerDecrypted {
        /// Our address (port 0 for raw ESP).
        local: SocketAddr,
        /// The client's address (port 0 for raw ESP).
        remote: SocketAddr,
        /// The inbound SPI that opened the packet.
        spi: u32,
        /// The client's inner UDP source port.
        src_port: u16,
        /// Where the L2TP message lies in the caller's buffer.
        l2tp: Range<usize>,
    },
    /// Dropped and counted (ESP failure, wrong peer, spoofed source) or, for a NAT keepalive,
    /// ignored exactly as the owner ignores it.
    Drop,
}

/// What to do with a TUN packet after [`FastPath::outbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outbound {
    /// Send the output buffer (the ESP packet) as a UDP datagram from `local` to `remote`.
    Udp {
        /// Our address and port (the NAT-T port).
        local: SocketAddr,
        /// The client's public address and port.
        remote: SocketAddr,
    },
    /// Send the output buffer as a raw ESP (IP protocol 50) packet.
    Esp {
        /// Our address.
        local: Ipv4Addr,
        /// The client's address.
        remote: Ipv4Addr,
    },
    /// Not for the fast path: give the packet to
    /// [`Server::handle_tun`](crate::Server::handle_tun).
    ToOwner,
    /// Dropped, as the owner drops it (IPv6 from the kernel, an SA past its lifetime).
    Drop,
}

/// Global counters of the fast path (relaxed atomics: statistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FastPathStats {
    /// Packets written to the TUN.
    pub to_tun: u64,
    /// Packets sealed for a client.
    pub sealed: u64,
    /// Inbound packets handed to the owner untouched.
    pub inbound_to_owner: u64,
    /// Inbound packets handed to the owner after decryption.
    pub inbound_to_owner_decrypted: u64,
    /// TUN packets handed to the owner.
    pub outbound_to_owner: u64,
    /// ESP packets dropped (wrong peer, ICV, replay, not L2TP); part of the snapshot's
    /// `esp_dropped`.
    pub esp_dropped: u64,
    /// IPv4 packets with a source other than the session's address; part of the snapshot's
    /// `spoofed`.
    pub spoofed: u64,
    /// Tables published.
    pub publishes: u64,
    /// Times the owner rebuilt the table from all its peers (whether or not it then changed).
    pub rebuilds: u64,
}

/// One counter per cache line (128 bytes covers adjacent-line prefetching).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// Stripes of a per-packet counter, so that threads carrying different flows do not all write
/// one cache line. The stripe comes from the flow (SPI or address): a flow stays on one thread.
#[derive(Debug, Default)]
struct Striped([Padded; 16]);

impl Striped {
    fn bump(&self, flow: u32) {
        let i = usize::try_from(flow).unwrap_or(0) % self.0.len();
        if let Some(c) = self.0.get(i) {
            c.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Debug, Default)]
struct Counters {
    to_tun: Striped,
    sealed: Striped,
    inbound_to_owner: AtomicU64,
    inbound_to_owner_decrypted: AtomicU64,
    outbound_to_owner: AtomicU64,
    esp_dropped: AtomicU64,
    spoofed: AtomicU64,
    publishes: AtomicU64,
    rebuilds: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One session's traffic counters, shared by the owner's snapshot and every worker. The
/// inbound half is written by the thread the client's flow lands on, the outbound half by the
/// threads reading the TUN, so each half has its own cache line.
#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    pub(crate) inbound: Traffic,
    pub(crate) outbound: Traffic,
    /// Set by every IPv4 frame from the client; the owner takes it before its timers run and
    /// tells the PPP link ([`ppp::Link::note_alive`]).
    pub(crate) alive: AtomicBool,
}

/// Packets and bytes one way.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Traffic {
    pub(crate) packets: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

impl Traffic {
    fn add(&self, len: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
    }
}

/// A session of an inbound entry.
#[derive(Debug)]
struct InSession {
    /// Our tunnel and session IDs: what the client's data messages carry.
    key: l2tp::SessionKey,
    addr: Ipv4Addr,
    counters: Arc<SessionCounters>,
}

impl PartialEq for InSession {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.addr == other.addr
            && Arc::ptr_eq(&self.counters, &other.counters)
    }
}

/// Inbound SPI → everything needed to accept a packet on it.
#[derive(Debug)]
struct InEntry {
    live: AtomicBool,
    sa: Arc<esp::Sa>,
    tuple: esp::FourTuple,
    sessions: Vec<InSession>,
}

impl InEntry {
    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.sa, &other.sa)
            && self.tuple == other.tuple
            && self.sessions == other.sessions
    }
}

/// Assigned address → everything needed to send to it.
#[derive(Debug)]
struct OutEntry {
    live: AtomicBool,
    sa: Arc<esp::Sa>,
    /// Our inbound SPI of the pair `sa` belongs to (names the pair in lifetime events).
    spi_in: u32,
    tuple: esp::FourTuple,
    framing: l2tp::DataFraming,
    peer_mru: u16,
    counters: Arc<SessionCounters>,
}

impl OutEntry {
    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.sa, &other.sa)
            && self.spi_in == other.spi_in
            && self.tuple == other.tuple
            && self.framing == other.framing
            && self.peer_mru == other.peer_mru
            && Arc::ptr_eq(&self.counters, &other.counters)
    }
}

#[derive(Debug, Default)]
struct Table {
    by_spi: HashMap<u32, Arc<InEntry>>,
    by_addr: HashMap<Ipv4Addr, Arc<OutEntry>>,
}

#[derive(Debug)]
struct Shared {
    table: ArcSwap<Table>,
    counters: Counters,
    nat_t_port: u16,
    /// ESP lifetime thresholds crossed on the fast path: (peer, our inbound SPI of the pair,
    /// which limit). Rare (twice per SA at most), drained by the owner.
    expiries: Mutex<Vec<(esp::FourTuple, u32, esp::Expiry)>>,
}

impl Shared {
    fn note_expiry(&self, tuple: esp::FourTuple, spi_in: u32, expiry: Option<esp::Expiry>) {
        if let Some(e) = expiry {
            self.expiries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((tuple, spi_in, e));
        }
    }
}

/// What the owner tells the publisher about one peer (built in `server.rs` from its state).
#[derive(Debug)]
pub(crate) struct PeerSpec {
    pub(crate) tuple: esp::FourTuple,
    /// The inbound SA of the pair the owner sends with (`None`: no fast path for this peer).
    pub(crate) inbound: Option<Arc<esp::Sa>>,
    /// The outbound SA of that pair.
    pub(crate) outbound: Option<Arc<esp::Sa>>,
    /// Every session of the peer; `fast` is set for those whose IPv4 data may bypass the owner.
    pub(crate) sessions: Vec<SessionSpec>,
}

/// One session of a [`PeerSpec`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SessionSpec {
    pub(crate) key: l2tp::SessionKey,
    pub(crate) fast: Option<FastSession>,
}

impl PeerSpec {
    fn same(&self, other: &Self) -> bool {
        let same_sa = |a: &Option<Arc<esp::Sa>>, b: &Option<Arc<esp::Sa>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.tuple == other.tuple
            && same_sa(&self.inbound, &other.inbound)
            && same_sa(&self.outbound, &other.outbound)
            && self.sessions.len() == other.sessions.len()
            && self
                .sessions
                .iter()
                .all(|s| other.sessions.iter().any(|o| o == s))
    }
}

/// The facts that let a session's IPv4 data bypass the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastSession {
    pub(crate) addr: Ipv4Addr,
    pub(crate) framing: l2tp::DataFraming,
    pub(crate) peer_mru: u16,
}

/// The owner's side: builds and publishes tables and keeps the session counters.
#[derive(Debug)]
pub(crate) struct Publisher {
    shared: Arc<Shared>,
    counters: HashMap<(esp::FourTuple, l2tp::SessionKey), Arc<SessionCounters>>,
    /// What the last [`Publisher::publish`] was given, by peer.
    last: HashMap<esp::FourTuple, PeerSpec>,
}

impl Publisher {
    pub(crate) fn new(nat_t_port: u16) -> Self {
        Self {
            shared: Arc::new(Shared {
                table: ArcSwap::from_pointee(Table::default()),
                counters: Counters::default(),
                nat_t_port,
                expiries: Mutex::new(Vec::new()),
            }),
            counters: HashMap::new(),
            last: HashMap::new(),
        }
    }

    /// Whether `spec` (`None`: no such peer) is what the last publish had for `tuple`.
    pub(crate) fn is_published(&self, tuple: esp::FourTuple, spec: Option<&PeerSpec>) -> bool {
        match (self.last.get(&tuple), spec) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same(b),
            _ => false,
        }
    }

    pub(crate) fn handle(&self) -> FastPath {
        FastPath {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The fast-path counters of a session, if it has any.
    pub(crate) fn session(
        &self,
        tuple: esp::FourTuple,
        key: l2tp::SessionKey,
    ) -> Option<&SessionCounters> {
        self.counters.get(&(tuple, key)).map(|c| &**c)
    }

    /// ESP lifetime thresholds crossed on the fast path since the last call.
    pub(crate) fn take_expiries(&self) -> Vec<(esp::FourTuple, u32, esp::Expiry)> {
        std::mem::take(
            &mut *self
                .shared
                .expiries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Sessions whose client sent IPv4 through the fast path since the last call.
    pub(crate) fn take_alive(&self) -> Vec<(esp::FourTuple, l2tp::SessionKey)> {
        self.counters
            .iter()
            .filter(|(_, c)| c.alive.swap(false, Ordering::Relaxed))
            .map(|(k, _)| *k)
            .collect()
    }

    /// Spoofed packets dropped by the fast path.
    pub(crate) fn spoofed(&self) -> u64 {
        self.shared.counters.spoofed.load(Ordering::Relaxed)
    }

    /// ESP packets dropped by the fast path.
    pub(crate) fn esp_dropped(&self) -> u64 {
        self.shared.counters.esp_dropped.load(Ordering::Relaxed)
    }

    /// Builds the table from the owner's state and swaps it in if it differs from the current
    /// one; entries that left are marked dead.
    pub(crate) fn publish(&mut self, peers: Vec<PeerSpec>) {
        bump(&self.shared.counters.rebuilds);
        let old = self.shared.table.load_full();
        let mut counters = HashMap::with_capacity(self.counters.len());
        let mut table = Table::default();
        let mut changed = false;
        for peer in &peers {
            let mut in_sessions = Vec::new();
            for s in &peer.sessions {
                let c = self
                    .counters
                    .get(&(peer.tuple, s.key))
                    .map_or_else(Default::default, Arc::clone);
                counters.insert((peer.tuple, s.key), Arc::clone(&c));
                let Some(fast) = s.fast else { continue };
                let Some(out_sa) = &peer.outbound else {
                    continue;
                };
                let entry = OutEntry {
                    live: AtomicBool::new(true),
                    sa: Arc::clone(out_sa),
                    spi_in: peer.inbound.as_ref().map_or(0, |sa| sa.spi()),
                    tuple: peer.tuple,
                    framing: fast.framing,
                    peer_mru: fast.peer_mru,
                    counters: Arc::clone(&c),
                };
                let entry = match old.by_addr.get(&fast.addr) {
                    Some(e) if e.same(&entry) && e.live.load(Ordering::Acquire) => Arc::clone(e),
                    _ => {
                        changed = true;
                        Arc::new(entry)
                    }
                };
                table.by_addr.insert(fast.addr, entry);
                in_sessions.push(InSession {
                    key: s.key,
                    addr: fast.addr,
                    counters: c,
                });
            }
            let Some(sa) = peer.inbound.clone() else {
                continue;
            };
            if in_sessions.is_empty() {
                continue;
            }
            let spi = sa.spi();
            let entry = InEntry {
                live: AtomicBool::new(true),
                sa,
                tuple: peer.tuple,
                sessions: in_sessions,
            };
            let entry = match old.by_spi.get(&spi) {
                Some(e) if e.same(&entry) && e.live.load(Ordering::Acquire) => Arc::clone(e),
                _ => {
                    changed = true;
                    Arc::new(entry)
                }
            };
            table.by_spi.insert(spi, entry);
        }
        self.counters = counters;
        self.last = peers.into_iter().map(|p| (p.tuple, p)).collect();
        if !changed
            && table.by_spi.len() == old.by_spi.len()
            && table.by_addr.len() == old.by_addr.len()
        {
            return;
        }
        let table = Arc::new(table);
        self.shared.table.store(Arc::clone(&table));
        bump(&self.shared.counters.publishes);
        // Kill what left, so that a thread still holding the old table hands those packets to
        // the owner instead of using them.
        for (spi, e) in &old.by_spi {
            if !table.by_spi.get(spi).is_some_and(|n| Arc::ptr_eq(n, e)) {
                e.live.store(false, Ordering::Release);
            }
        }
        for (addr, e) in &old.by_addr {
            if !table.by_addr.get(addr).is_some_and(|n| Arc::ptr_eq(n, e)) {
                e.live.store(false, Ordering::Release);
            }
        }
    }
}

/// A `Clone + Send + Sync` handle on the established-session data path; see the module docs.
/// Get one from [`Server::fast_path`](crate::Server::fast_path).
#[derive(Debug, Clone)]
pub struct FastPath {
    shared: Arc<Shared>,
}

impl FastPath {
    /// A UDP datagram arrived on `local` from `remote` (the UDP payload, decrypted in place).
    /// Anything not on the NAT-T port goes to the owner.
    pub fn inbound_udp(&self, local: SocketAddr, remote: SocketAddr, buf: &mut [u8]) -> Inbound {
        inbound_udp(&self.shared, &self.shared.table.load(), local, remote, buf)
    }

    /// A raw ESP packet (IP protocol 50) arrived; `buf` starts at the ESP header.
    pub fn inbound_esp(&self, local: Ipv4Addr, remote: Ipv4Addr, buf: &mut [u8]) -> Inbound {
        inbound(
            &self.shared,
            &self.shared.table.load(),
            raw_tuple(local, remote),
            buf,
        )
    }

    /// An IPv4 packet was read from the TUN device. On [`Outbound::Udp`] or [`Outbound::Esp`],
    /// `out` holds the ESP packet (cleared first); `rng` supplies the CBC IV.
    pub fn outbound(
        &self,
        packet: &[u8],
        out: &mut Vec<u8>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Outbound {
        outbound(&self.shared, &self.shared.table.load(), packet, out, rng)
    }

    /// The current table, held: for a batch of packets, or to see what a thread that loaded
    /// the table before a change does.
    pub fn pin(&self) -> Pinned {
        Pinned {
            shared: Arc::clone(&self.shared),
            table: self.shared.table.load_full(),
        }
    }

    /// The global counters.
    pub fn stats(&self) -> FastPathStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FastPathStats {
            to_tun: c.to_tun.get(),
            sealed: c.sealed.get(),
            inbound_to_owner: get(&c.inbound_to_owner),
            inbound_to_owner_decrypted: get(&c.inbound_to_owner_decrypted),
            outbound_to_owner: get(&c.outbound_to_owner),
            esp_dropped: get(&c.esp_dropped),
            spoofed: get(&c.spoofed),
            publishes: get(&c.publishes),
            rebuilds: get(&c.rebuilds),
        }
    }

    /// How many inbound SPIs and assigned addresses the current table holds.
    pub fn table_len(&self) -> (usize, usize) {
        let t = self.shared.table.load();
        (t.by_spi.len(), t.by_addr.len())
    }
}

/// One table held across calls (see [`FastPath::pin`]). Entries the owner removed since are
/// dead: their packets go to the owner.
#[derive(Debug, Clone)]
pub struct Pinned {
    shared: Arc<Shared>,
    table: Arc<Table>,
}

impl Pinned {
    /// As [`FastPath::inbound_udp`], against the held table.
    pub fn inbound_udp(&self, local: SocketAddr, remote: SocketAddr, buf: &mut [u8]) -> Inbound {
        inbound_udp(&self.shared, &self.table, local, remote, buf)
    }

    /// As [`FastPath::inbound_esp`], against the held table.
    pub fn inbound_esp(&self, local: Ipv4Addr, remote: Ipv4Addr, buf: &mut [u8]) -> Inbound {
        inbound(&self.shared, &self.table, raw_tuple(local, remote), buf)
    }

    /// As [`FastPath::outbound`], against the held table.
    pub fn outbound(
        &self,
        packet: &[u8],
        out: &mut Vec<u8>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Outbound {
        outbound(&self.shared, &self.table, packet, out, rng)
    }
}

fn raw_tuple(local: Ipv4Addr, remote: Ipv4Addr) -> esp::FourTuple {
    esp::FourTuple {
        local: SocketAddr::new(IpAddr::V4(local), 0),
        remote: SocketAddr::new(IpAddr::V4(remote), 0),
    }
}

fn inbound_udp(
    shared: &Shared,
    table: &Table,
    local: SocketAddr,
    remote: SocketAddr,
    buf: &mut [u8],
) -> Inbound {
    if local.port() != shared.nat_t_port {
        bump(&shared.counters.inbound_to_owner);
        return Inbound::ToOwner;
    }
    match wire::natt::Repr::parse(buf) {
        // The owner ignores keepalives (RFC 3948 §2.3) without counting them.
        Ok(wire::natt::Repr::Keepalive) => Inbound::Drop,
        Ok(wire::natt::Repr::Esp(_)) => {
            inbound(shared, table, esp::FourTuple { local, remote }, buf)
        }
        Ok(wire::natt::Repr::Ike(_)) | Err(_) => {
            bump(&shared.counters.inbound_to_owner);
            Inbound::ToOwner
        }
    }
}

/// The owner's `esp_in` → `l2tp_in` → `ppp::Link::handle_frame` for established IPv4 data.
fn inbound(shared: &Shared, table: &Table, tuple: esp::FourTuple, buf: &mut [u8]) -> Inbound {
    let c = &shared.counters;
    let Ok(header) = wire::esp::Packet::new_checked(&*buf) else {
        bump(&c.inbound_to_owner);
        return Inbound::ToOwner;
    };
    let Some(entry) = table.by_spi.get(&header.spi()) else {
        bump(&c.inbound_to_owner);
        return Inbound::ToOwner;
    };
    if !entry.live.load(Ordering::Acquire) {
        bump(&c.inbound_to_owner);
        return Inbound::ToOwner;
    }
    // The SA is bound to its peer's 4-tuple. A packet from another 4-tuple is either a NAT
    // rebinding (the owner verifies it under the SA and moves the peer, esp::SaDb::
    // open_l2tp_roaming) or a forgery (the owner drops and counts it): the owner decides,
    // with the buffer untouched.
    if entry.sa.peer() != tuple || entry.tuple != tuple {
        bump(&c.inbound_to_owner);
        return Inbound::ToOwner;
    }
    let opened = match entry.sa.open(buf) {
        Ok(o) => o,
        Err(e) => {
            if e.drop_reason().is_some() {
                bump(&c.esp_dropped);
            }
            return Inbound::Drop;
        }
    };
    shared.note_expiry(tuple, opened.spi, opened.expiry);
    let datagram = match esp::transport::receive(&entry.sa, &opened, buf) {
        Ok(d) => d,
        Err(e) => {
            if e.drop_reason().is_some() {
                bump(&c.esp_dropped);
            }
            return Inbound::Drop;
        }
    };
    let to_owner = || {
        bump(&c.inbound_to_owner_decrypted);
        Inbound::ToOwnerDecrypted {
            local: tuple.local,
            remote: tuple.remote,
            spi: opened.spi,
            src_port: datagram.src_port,
            l2tp: datagram.payload.clone(),
        }
    };
    let Some(ip) = established_ipv4(entry, buf, datagram.payload.clone()) else {
        return to_owner();
    };
    let (session, ip) = ip;
    // ppp::Link::handle_frame: any IPv4 frame is a sign of life, then the source check.
    session.counters.alive.store(true, Ordering::Relaxed);
    let Some(src) = buf.get(ip.start + 12..ip.start + 16) else {
        return to_owner();
    };
    if src != session.addr.octets() {
        bump(&c.spoofed);
        return Inbound::Drop;
    }
    session.counters.inbound.add(ip.len());
    c.to_tun.bump(entry.sa.spi());
    Inbound::ToTun(ip)
}

/// The session and the IPv4 packet's range when `buf[l2tp]` is an unsequenced L2TP data
/// message for one of the entry's sessions carrying a PPP IPv4 frame that `ppp::Link` would
/// accept as IPv4 (version 4, at least 20 bytes); `None` for everything the owner must see.
fn established_ipv4<'e>(
    entry: &'e InEntry,
    buf: &[u8],
    l2tp: Range<usize>,
) -> Option<(&'e InSession, Range<usize>)> {
    let msg = wire::l2tp::Packet::new_checked(buf.get(l2tp.clone())?).ok()?;
    if msg.is_control() || msg.has_sequence() {
        return None;
    }
    let (tunnel, session) = (msg.tunnel_id(), msg.session_id());
    let s = entry
        .sessions
        .iter()
        .find(|s| s.key.tunnel == tunnel && s.key.session == session)?;
    let frame =
        l2tp.start.checked_add(msg.header_len())?..l2tp.start.checked_add(msg.total_len())?;
    let ppp = wire::ppp::Packet::new_checked(buf.get(frame.clone())?).ok()?;
    if ppp.protocol() != PppProtocol::Ipv4 {
        return None;
    }
    let ip = frame.start.checked_add(ppp.header_len())?..frame.end;
    let first = *buf.get(ip.start)?;
    if first >> 4 != 4 || ip.len() < 20 {
        return None;
    }
    Some((s, ip))
}

/// The owner's `handle_tun` → `encapsulate_ip` → `encode_data` → `seal_l2tp`.
fn outbound(
    shared: &Shared,
    table: &Table,
    packet: &[u8],
    out: &mut Vec<u8>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Outbound {
    let c = &shared.counters;
    let to_owner = || {
        bump(&c.outbound_to_owner);
        Outbound::ToOwner
    };
    if packet.first().is_some_and(|b| b >> 4 == 6) {
        return Outbound::Drop; // The owner ignores the kernel's IPv6 too.
    }
    let Ok(ip) = wire::ip::ipv4::Packet::new_checked(packet) else {
        return to_owner();
    };
    let Some(entry) = table.by_addr.get(&ip.dst_addr()) else {
        return to_owner();
    };
    if !entry.live.load(Ordering::Acquire) || packet.len() > usize::from(entry.peer_mru) {
        return to_owner();
    }
    entry.counters.outbound.add(packet.len());
    let f = entry.framing;
    let ppp_len = PPP_IPV4_HEADER.len() + packet.len();
    let header = wire::l2tp::Repr {
        control: false,
        length_present: f.length_field,
        tunnel_id: f.peer_tunnel,
        session_id: f.peer_session,
        sequence: None,
        offset: None,
        priority: false,
        payload_len: ppp_len,
    };
    let l2tp_len = header.total_len();
    let sa = &entry.sa;
    let head = esp::transport::headroom(sa);
    let total = sa
        .sealed_len(l2tp_len + wire::ip::udp::HEADER_LEN)
        .max(head + l2tp_len);
    out.clear();
    out.resize(total, 0);
    let hlen = header.buffer_len();
    let Some(l2tp) = out.get_mut(head..head + l2tp_len) else {
        return Outbound::Drop;
    };
    if header.emit(l2tp).is_err() {
        return Outbound::Drop; // encode_data fails the same way; the owner only logs it.
    }
    let (_, ppp) = l2tp.split_at_mut(hlen);
    let (ppp_header, ip_dst) = ppp.split_at_mut(PPP_IPV4_HEADER.len());
    ppp_header.copy_from_slice(&PPP_IPV4_HEADER);
    ip_dst.copy_from_slice(packet);
    match esp::transport::seal(sa, out, l2tp_len, f.peer_port, rng) {
        Ok(sealed) => {
            shared.note_expiry(entry.tuple, entry.spi_in, sealed.expiry);
            out.truncate(sealed.len);
            c.sealed.bump(u32::from(ip.dst_addr()));
            match sa.encap() {
                esp::Encap::Udp { local, remote } => Outbound::Udp { local, remote },
                esp::Encap::None => match (entry.tuple.local.ip(), entry.tuple.remote.ip()) {
                    (IpAddr::V4(local), IpAddr::V4(remote)) => Outbound::Esp { local, remote },
                    _ => Outbound::Drop,
                },
            }
        }
        Err(_) => Outbound::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn handle_is_send_sync_clone() {
        assert_send_sync::<FastPath>();
        assert_send_sync::<Pinned>();
    }

    #[test]
    fn empty_table_hands_everything_to_the_owner() {
        let publisher = Publisher::new(4500);
        let fp = publisher.handle();
        let local: SocketAddr = "198.51.100.1:4500".parse().unwrap();
        let remote: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let mut esp = vec![0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb];
        let before = esp.clone();
        assert_eq!(fp.inbound_udp(local, remote, &mut esp), Inbound::ToOwner);
        assert_eq!(esp, before, "ToOwner leaves the datagram untouched");
        // IKE behind the non-ESP marker, and anything on port 500.
        let mut ike = vec![0u8; 4 + 28];
        assert_eq!(fp.inbound_udp(local, remote, &mut ike), Inbound::ToOwner);
        let ike_port: SocketAddr = "198.51.100.1:500".parse().unwrap();
        assert_eq!(fp.inbound_udp(ike_port, remote, &mut esp), Inbound::ToOwner);
        // A keepalive is ignored, as the owner ignores it.
        assert_eq!(fp.inbound_udp(local, remote, &mut [0xff]), Inbound::Drop);
        // TUN: IPv6 is dropped, an IPv4 packet without a session goes to the owner.
        let mut out = Vec::new();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
        assert_eq!(
            fp.outbound(&[0x60, 0, 0, 0], &mut out, &mut rng),
            Outbound::Drop
        );
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[3] = 20;
        ip[16..20].copy_from_slice(&[10, 99, 0, 2]);
        assert_eq!(fp.outbound(&ip, &mut out, &mut rng), Outbound::ToOwner);
        let s = fp.stats();
        assert_eq!((s.inbound_to_owner, s.outbound_to_owner), (3, 1));
    }

    use rand::SeedableRng;

    const KEY: l2tp::SessionKey = l2tp::SessionKey {
        tunnel: 7,
        session: 9,
    };
    const ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

    fn tuple() -> esp::FourTuple {
        esp::FourTuple {
            local: "198.51.100.1:4500".parse().unwrap(),
            remote: "203.0.113.7:40000".parse().unwrap(),
        }
    }

    /// An AES-128/SHA1 SA over UDP; the same `spi` and `key` in the other direction is the
    /// client's end of it.
    fn sa(spi: u32, direction: esp::Direction, key: u8) -> esp::Sa {
        let t = tuple();
        esp::Sa::new(esp::SaParams {
            spi,
            direction,
            cipher: crypto::cipher::CipherAlg::Aes128,
            enc_key: crypto::Secret::from_slice(&[key; 16]),
            integ: crypto::integ::IntegAlg::HmacSha1_96,
            auth_key: crypto::Secret::from_slice(&[key ^ 0x55; 20]),
            encap: esp::Encap::Udp {
                local: t.local,
                remote: t.remote,
            },
            peer: t,
            lifetime: esp::Lifetime::UNLIMITED,
        })
        .unwrap()
    }

    /// What the client sends on `client_sa`: UDP 1701 → 1701, an L2TP data message for `KEY`,
    /// PPP IPv4, a 28-byte IPv4 packet from `ADDR`.
    fn client_packet(client_sa: &esp::Sa, rng: &mut rand_chacha::ChaCha20Rng) -> Vec<u8> {
        let mut ip = [0u8; 28];
        ip[0] = 0x45;
        ip[3] = 28;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&ADDR.octets());
        ip[16..20].copy_from_slice(&[192, 168, 100, 5]);
        let mut inner = Vec::new();
        let udp_len = u16::try_from(8 + 6 + 4 + ip.len()).unwrap();
        for v in [1701u16, 1701, udp_len, 0, 0x0002, KEY.tunnel, KEY.session] {
            inner.extend_from_slice(&v.to_be_bytes());
        }
        inner.extend_from_slice(&PPP_IPV4_HEADER);
        inner.extend_from_slice(&ip);
        let head = client_sa.overhead_before();
        let mut buf = vec![0; client_sa.sealed_len(inner.len())];
        buf[head..head + inner.len()].copy_from_slice(&inner);
        let sealed = client_sa
            .seal(&mut buf, inner.len(), wire::ip::Protocol::Udp, rng)
            .unwrap();
        buf.truncate(sealed.len);
        buf
    }

    fn spec(inbound: &Arc<esp::Sa>, outbound: &Arc<esp::Sa>) -> Vec<PeerSpec> {
        vec![PeerSpec {
            tuple: tuple(),
            inbound: Some(Arc::clone(inbound)),
            outbound: Some(Arc::clone(outbound)),
            sessions: vec![SessionSpec {
                key: KEY,
                fast: Some(FastSession {
                    addr: ADDR,
                    framing: l2tp::DataFraming {
                        peer_tunnel: 3,
                        peer_session: 4,
                        peer_port: 1701,
                        length_field: true,
                    },
                    peer_mru: 1400,
                }),
            }],
        }]
    }

    /// A rekey as the owner publishes it: the new SA is unknown to the fast path until the
    /// owner followed the client to it; then the old pair's entries are dead even in a table a
    /// thread still holds, the new pair carries traffic, and the counters carry on.
    #[test]
    fn rekey_moves_the_table_to_the_new_pair_and_kills_the_old() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
        let (in1, out1) = (
            Arc::new(sa(0x1001, esp::Direction::Inbound, 1)),
            Arc::new(sa(0x2001, esp::Direction::Outbound, 2)),
        );
        let (in2, out2) = (
            Arc::new(sa(0x1002, esp::Direction::Inbound, 3)),
            Arc::new(sa(0x2002, esp::Direction::Outbound, 4)),
        );
        let client1 = sa(0x1001, esp::Direction::Outbound, 1);
        let client2 = sa(0x1002, esp::Direction::Outbound, 3);
        let mut publisher = Publisher::new(4500);
        let fp = publisher.handle();
        publisher.publish(spec(&in1, &out1));
        assert_eq!((fp.table_len(), fp.stats().publishes), ((1, 1), 1));
        let t = tuple();

        let mut p = client_packet(&client1, &mut rng);
        let Inbound::ToTun(r) = fp.inbound_udp(t.local, t.remote, &mut p) else {
            panic!("old pair carries traffic");
        };
        assert_eq!(p[r.start + 12..r.start + 16], ADDR.octets());
        // The client moved to the new SA before the owner knew: the owner must see it.
        let mut p2 = client_packet(&client2, &mut rng);
        let before = p2.clone();
        assert_eq!(fp.inbound_udp(t.local, t.remote, &mut p2), Inbound::ToOwner);
        assert_eq!(p2, before);

        // The owner followed the client and published; a thread still holds the old table.
        let old = fp.pin();
        publisher.publish(spec(&in2, &out2));
        assert_eq!(fp.stats().publishes, 2);
        let mut p1 = client_packet(&client1, &mut rng);
        assert_eq!(
            old.inbound_udp(t.local, t.remote, &mut p1),
            Inbound::ToOwner
        );
        let mut reply = [0u8; 40];
        reply[0] = 0x45;
        reply[3] = 40;
        reply[16..20].copy_from_slice(&ADDR.octets());
        let mut out = Vec::new();
        assert_eq!(old.outbound(&reply, &mut out, &mut rng), Outbound::ToOwner);
        // The new table: the new inbound SA is accepted, the new outbound SA is used.
        let mut p2 = client_packet(&client2, &mut rng);
        assert!(matches!(
            fp.inbound_udp(t.local, t.remote, &mut p2),
            Inbound::ToTun(_)
        ));
        assert!(matches!(
            fp.outbound(&reply, &mut out, &mut rng),
            Outbound::Udp { .. }
        ));
        assert_eq!(out[..4], 0x2002u32.to_be_bytes());
        assert_eq!(out2.packets(), 1);
        assert_eq!(out1.packets(), 0);

        // Publishing the same state again swaps nothing.
        publisher.publish(spec(&in2, &out2));
        assert_eq!(fp.stats().publishes, 2);
        let c = publisher.session(t, KEY).unwrap();
        assert_eq!(
            c.inbound.packets.load(Ordering::Relaxed),
            2,
            "counters survive the rekey"
        );
        assert_eq!(c.outbound.packets.load(Ordering::Relaxed), 1);
        assert_eq!(publisher.take_alive(), vec![(t, KEY)]);
        assert!(publisher.take_alive().is_empty(), "taken once");

        // The peer goes away: everything is dead, counters are dropped.
        let held = fp.pin();
        publisher.publish(Vec::new());
        assert_eq!(fp.table_len(), (0, 0));
        let mut p3 = client_packet(&client2, &mut rng);
        assert_eq!(
            held.inbound_udp(t.local, t.remote, &mut p3),
            Inbound::ToOwner
        );
        assert!(publisher.session(t, KEY).is_none());
    }
}
