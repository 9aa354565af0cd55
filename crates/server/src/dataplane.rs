//! The data plane: every established-session packet, on every core, in one straight line.
//!
//! Inbound, an ESP packet (RFC 4303, in UDP per RFC 3948 or plain) goes
//! SPI → table entry → 4-tuple check → [`esp::Sa::open`] (ICV, anti-replay §3.4.3, decrypt in
//! place) → [`esp::transport::receive`] (next header UDP to port 1701, RFC 3193 §4) → an
//! unsequenced L2TP data message for a session of *this* peer (RFC 2661 §5.2) → PPP IPv4
//! (RFC 1332) → the session's own source address (anti-spoofing) → TCP MSS clamp → TUN.
//! Outbound, a TUN packet goes destination address → session → MSS clamp → size check (ICMP
//! "fragmentation needed", RFC 1191, or IPv4 fragmentation, RFC 791 §2.3) → `FF 03 00 21` and
//! the session's static L2TP data header → inner UDP and ESP with the peer's current outbound
//! SA ([`esp::transport::seal`]). No copy is made beyond the caller's buffers.
//!
//! The [`Server`](crate::Server) (the control plane) owns every state machine. It publishes
//! what this path needs in a read-mostly table, sharded behind [`ArcSwap`] pointers, so any
//! number of threads run [`DataPlane`] without a lock of their own:
//! - inbound SPI → the SA, its peer's 4-tuple and sessions (our L2TP IDs, the assigned
//!   address, the MSS, counters); every installed inbound SA of a peer is there, so traffic
//!   on a freshly rekeyed SA needs nobody else;
//! - assigned address → the peer's current outbound SA, 4-tuple, the client's L2TP IDs and
//!   port, the Length-field choice, the session MTU and MSS, counters.
//!
//! The [`esp::Sa`]s are the control plane's own objects, so every thread shares the outbound
//! sequence number and the inbound replay window: a packet accepted on one thread is a
//! replay on every other.
//!
//! # What goes to the control plane, explicitly
//! [`Inbound::ToOwner`] carries an authenticated, decrypted L2TP message and the reason
//! ([`Handoff`]): L2TP control or a ZLB, a sequenced data message, PPP other than IPv4 (LCP,
//! authentication, IPCP), a session not up yet, a DHCPINFORM (RFC 2131 §4.3.5; the control
//! plane answers it), or a packet from a new 4-tuple that verified under the SA (NAT
//! rebinding: the control plane moves the peer). [`Inbound::Ike`] is an IKE message on the
//! NAT-T port (RFC 3948 §2.2), untouched. Everything else is dropped here and counted.
//!
//! Signs of life, first use of a rekeyed SA, and ESP lifetime limits crossed are noted for
//! the control plane without blocking ([`DataPlane::notes_pending`]).
//!
//! # Publishing and staleness
//! The control plane republishes a peer's entries only when they changed, replacing the
//! shards that hold them; entries that left are marked dead before the call returns. A lookup
//! that finds a dead entry loads the table again, so it never uses an entry the control plane
//! removed before the lookup began.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use wire::FourTuple;

use arc_swap::ArcSwap;
use rand::{CryptoRng, RngCore};
use wire::ip::Protocol as IpProtocol;
use wire::ppp::Protocol as PppProtocol;

use crate::server::Transmit;

/// The PPP header of an IPv4 frame: address, control, protocol 0x0021 (RFC 1662 §3.1,
/// RFC 1332 §2).
const PPP_IPV4_HEADER: [u8; 4] = [wire::ppp::ADDRESS, wire::ppp::CONTROL, 0x00, 0x21];

/// DHCP's server and client ports (RFC 2131 §4.1).
const DHCP_SERVER_PORT: u16 = 67;
const DHCP_CLIENT_PORT: u16 = 68;

/// Table shards: a change copies one shard, not the whole table.
const SHARDS: usize = 64;

/// Identifies a peer of the control plane for the lifetime of the server.
pub(crate) type PeerId = u64;

/// What to do with an inbound packet after [`DataPlane::inbound_udp`] or
/// [`DataPlane::inbound_esp`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Inbound {
    /// Write `buf[range]` (an IPv4 packet from the session's own address) to the TUN device.
    Tun(Range<usize>),
    /// An IKE message behind the non-ESP marker (RFC 3948 §2.2), or a datagram on another
    /// port: the buffer is unchanged; give it to [`Server::handle_udp`](crate::Server::handle_udp).
    Ike,
    /// Authenticated and decrypted, for the control plane: give `buf[handoff.l2tp]` to
    /// [`Server::handle_decrypted`](crate::Server::handle_decrypted).
    ToOwner(Handoff),
    /// Dropped and counted, or a NAT keepalive (RFC 3948 §2.3), ignored.
    Drop,
}

/// An authenticated, decrypted L2TP message for the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// Where it came from (ports 0 for raw ESP).
    pub tuple: FourTuple,
    /// The inbound SPI that opened the packet.
    pub spi: u32,
    /// The client's inner UDP source port.
    pub src_port: u16,
    /// Where the L2TP message lies in the caller's buffer.
    pub l2tp: Range<usize>,
    /// Why the data plane did not finish it.
    pub reason: HandoffReason,
}

/// Why a decrypted packet goes to the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandoffReason {
    /// L2TP control, a ZLB, a sequenced data message, PPP other than IPv4, or a session that
    /// is not up yet.
    Control,
    /// A DHCPINFORM from the client (RFC 2131 §4.3.5), which the server answers itself.
    Dhcp,
    /// It came from a new 4-tuple and verified under the SA: the client's NAT moved its
    /// mapping (RFC 3947 and RFC 3948 leave this open; we follow IKEv2, RFC 7296 §2.23).
    Moved {
        /// The 4-tuple the peer had.
        from: FourTuple,
    },
}

/// What [`DataPlane::outbound`] did with a TUN packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outbound {
    /// Sealed for the client: this many packets were added to the batch (more than one when
    /// the packet was fragmented).
    Sealed(usize),
    /// Too large for the client with "don't fragment" set: an ICMP "fragmentation needed"
    /// error for the sender was added to the batch, for the TUN.
    TooBig,
    /// Dropped and counted (no session, malformed, an SA past its lifetime), or IPv6 from
    /// the kernel, ignored.
    Drop,
}

/// Datagrams and packets to send, in order. Kept by the caller and reused.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    items: Vec<(Transmit, Range<usize>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything (keeps the memory).
    pub fn clear(&mut self) {
        self.data.clear();
        self.items.clear();
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many datagrams or packets there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Each datagram or packet and where it goes.
    pub fn iter(&self) -> impl Iterator<Item = (Transmit, &[u8])> + '_ {
        self.items
            .iter()
            .map(|(t, r)| (*t, self.data.get(r.clone()).unwrap_or_default()))
    }

    /// Appends `len` zero bytes and returns their range.
    fn reserve(&mut self, len: usize) -> Range<usize> {
        let start = self.data.len();
        self.data.resize(start + len, 0);
        start..start + len
    }

    /// Drops the bytes from `start` on (a packet that could not be finished).
    fn truncate(&mut self, start: usize) {
        self.data.truncate(start);
    }

    fn push(&mut self, transmit: Transmit, range: Range<usize>) {
        self.items.push((transmit, range));
    }
}

/// Global counters of the data plane (relaxed atomics: statistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DataPlaneStats {
    /// Packets written to the TUN.
    pub to_tun: u64,
    /// Packets sealed for a client.
    pub sealed: u64,
    /// Decrypted packets handed to the control plane.
    pub to_owner: u64,
    /// IKE messages on the NAT-T port passed on.
    pub ike: u64,
    /// ESP packets dropped (unknown SPI, wrong peer, ICV, replay, not L2TP, past lifetime).
    pub esp_dropped: u64,
    /// IPv4 packets from a client with a source other than the session's address.
    pub spoofed: u64,
    /// TUN packets for an address with no session.
    pub no_session: u64,
    /// Datagrams or packets that did not parse.
    pub malformed: u64,
    /// TCP SYNs whose MSS option was lowered.
    pub mss_clamped: u64,
    /// ICMP "fragmentation needed" errors sent for packets larger than a client's MTU.
    pub icmp_too_big: u64,
    /// Packets larger than a client's MTU that were fragmented.
    pub fragmented: u64,
    /// Tables published (shard swaps).
    pub publishes: u64,
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
    to_owner: AtomicU64,
    ike: AtomicU64,
    esp_dropped: AtomicU64,
    spoofed: AtomicU64,
    no_session: AtomicU64,
    malformed: AtomicU64,
    mss_clamped: AtomicU64,
    icmp_too_big: AtomicU64,
    fragmented: AtomicU64,
    publishes: AtomicU64,
}

fn bump(c: &AtomicU64) {
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
}

impl PartialEq for SessionSpec {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.addr == other.addr
            && self.framing == other.framing
            && self.mtu == other.mtu
            && self.mss == other.mss
            && Arc::ptr_eq(&self.counters, &other.counters)
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
struct PeerView {
    id: PeerId,
    tuple: FourTuple,
    sessions: Vec<SessionSpec>,
    activity: Arc<Activity>,
}

/// Inbound SPI → everything needed to accept a packet on it.
#[derive(Debug)]
struct InEntry {
    live: AtomicBool,
    sa: Arc<esp::Sa>,
    /// Whether the control plane sends with this SA's pair; if not, the first packet on it is
    /// noted (the client moved to a rekeyed pair).
    current: bool,
    noted: AtomicBool,
    peer: Arc<PeerView>,
}

/// Assigned address → everything needed to send to it.
#[derive(Debug)]
struct OutEntry {
    live: AtomicBool,
    sa: Arc<esp::Sa>,
    /// Our inbound SPI of the pair `sa` belongs to (names the pair in lifetime notes).
    spi_in: u32,
    peer: PeerId,
    tuple: FourTuple,
    session: SessionSpec,
}

type SpiShard = HashMap<u32, Arc<InEntry>>;
/// Keys to set (`Some`) or remove (`None`) in one shard.
type Changes<K, E> = Vec<(K, Option<Arc<E>>)>;
type AddrShard = HashMap<Ipv4Addr, Arc<OutEntry>>;

#[derive(Debug)]
struct Shared {
    by_spi: Vec<ArcSwap<SpiShard>>,
    by_addr: Vec<ArcSwap<AddrShard>>,
    counters: Counters,
    nat_t_port: u16,
    /// Our address on the PPP links: the source of ICMP errors we generate.
    server_addr: Ipv4Addr,
    notes: Mutex<Notes>,
    notes_pending: AtomicBool,
}

fn spi_shard(spi: u32) -> usize {
    // SPIs are random (RFC 4303 §2.1 leaves the choice to the receiver; ours come from the
    // seeded RNG), so their low bits spread well.
    usize::try_from(spi).unwrap_or(0) % SHARDS
}

fn addr_shard(addr: Ipv4Addr) -> usize {
    // Pool addresses are consecutive: their low bits spread well.
    usize::try_from(u32::from(addr)).unwrap_or(0) % SHARDS
}

impl Shared {
    fn new(nat_t_port: u16, server_addr: Ipv4Addr) -> Self {
        Self {
            by_spi: (0..SHARDS).map(|_| ArcSwap::default()).collect(),
            by_addr: (0..SHARDS).map(|_| ArcSwap::default()).collect(),
            counters: Counters::default(),
            nat_t_port,
            server_addr,
            notes: Mutex::new(Notes::default()),
            notes_pending: AtomicBool::new(false),
        }
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, Notes> {
        // Each note is one push: a panic while holding the lock leaves nothing half-done.
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn note(&self, f: impl FnOnce(&mut Notes)) {
        f(&mut self.notes());
        self.notes_pending.store(true, Ordering::Release);
    }

    fn note_expiry(&self, peer: PeerId, spi_in: u32, expiry: Option<esp::Expiry>) {
        if let Some(e) = expiry {
            self.note(|n| n.expiries.push((peer, spi_in, e)));
        }
    }

    fn note_alive(&self, peer: &PeerView) {
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
    fn with_in_entry<R>(&self, spi: u32, f: impl FnOnce(&InEntry) -> R) -> Option<R> {
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
    fn with_out_entry<R>(&self, addr: Ipv4Addr, f: impl FnOnce(&OutEntry) -> R) -> Option<R> {
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
}

/// A `Clone + Send + Sync` handle on the data plane; see the module docs. Get one from
/// [`Server::data_plane`](crate::Server::data_plane).
#[derive(Debug, Clone)]
pub struct DataPlane {
    shared: Arc<Shared>,
}

impl DataPlane {
    /// A UDP datagram arrived on `local` from `remote`; ESP is decrypted in place.
    pub fn inbound_udp(&self, local: SocketAddr, remote: SocketAddr, buf: &mut [u8]) -> Inbound {
        let c = &self.shared.counters;
        if local.port() != self.shared.nat_t_port {
            bump(&c.ike);
            return Inbound::Ike;
        }
        match wire::natt::Repr::parse(buf) {
            Ok(wire::natt::Repr::Keepalive) => Inbound::Drop,
            Ok(wire::natt::Repr::Esp(_)) => self.inbound(FourTuple { local, remote }, buf),
            Ok(wire::natt::Repr::Ike(_)) => {
                bump(&c.ike);
                Inbound::Ike
            }
            Err(_) => {
                bump(&c.malformed);
                Inbound::Drop
            }
        }
    }

    /// A raw ESP packet (IP protocol 50) arrived; `buf` starts at the ESP header.
    pub fn inbound_esp(&self, local: Ipv4Addr, remote: Ipv4Addr, buf: &mut [u8]) -> Inbound {
        self.inbound(raw_tuple(local, remote), buf)
    }

    /// An IPv4 packet was read from the TUN device: what goes out is appended to `batch`;
    /// `rng` supplies the CBC IVs.
    pub fn outbound(
        &self,
        packet: &[u8],
        batch: &mut Batch,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Outbound {
        let c = &self.shared.counters;
        if packet.first().is_some_and(|b| b >> 4 == 6) {
            // The kernel's own IPv6 chatter on the TUN (router solicitations, MLD): the pool
            // is IPv4 only, so this is not an error.
            return Outbound::Drop;
        }
        let Ok(ip) = wire::ip::ipv4::Packet::new_checked(packet) else {
            bump(&c.malformed);
            return Outbound::Drop;
        };
        let sealed = self.shared.with_out_entry(ip.dst_addr(), |entry| {
            if packet.len() > usize::from(entry.session.mtu) {
                return self.too_big(entry, packet, batch, rng);
            }
            match self.seal_ip(entry, packet, batch, rng) {
                0 => Outbound::Drop,
                n => Outbound::Sealed(n),
            }
        });
        sealed.unwrap_or_else(|| {
            bump(&c.no_session);
            Outbound::Drop
        })
    }

    /// Whether the data plane noted something for the control plane since it last looked
    /// (a rekeyed SA in use, an ESP lifetime limit, signs of life). A daemon wakes the
    /// control plane ([`Server::handle_timeout`](crate::Server::handle_timeout)) when it is
    /// set.
    pub fn notes_pending(&self) -> bool {
        self.shared.notes_pending.load(Ordering::Acquire)
    }

    /// The global counters.
    pub fn stats(&self) -> DataPlaneStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DataPlaneStats {
            to_tun: c.to_tun.get(),
            sealed: c.sealed.get(),
            to_owner: get(&c.to_owner),
            ike: get(&c.ike),
            esp_dropped: get(&c.esp_dropped),
            spoofed: get(&c.spoofed),
            no_session: get(&c.no_session),
            malformed: get(&c.malformed),
            mss_clamped: get(&c.mss_clamped),
            icmp_too_big: get(&c.icmp_too_big),
            fragmented: get(&c.fragmented),
            publishes: get(&c.publishes),
        }
    }

    /// How many inbound SPIs and assigned addresses the table holds.
    pub fn table_len(&self) -> (usize, usize) {
        let s = &self.shared;
        (
            s.by_spi.iter().map(|t| t.load().len()).sum(),
            s.by_addr.iter().map(|t| t.load().len()).sum(),
        )
    }

    // ---- inbound ------------------------------------------------------------------------

    fn inbound(&self, tuple: FourTuple, buf: &mut [u8]) -> Inbound {
        let s = &*self.shared;
        let c = &s.counters;
        let Ok(header) = wire::esp::Packet::new_checked(&*buf) else {
            bump(&c.malformed);
            return Inbound::Drop;
        };
        let verdict = s.with_in_entry(header.spi(), |entry| self.inbound_on(entry, tuple, buf));
        verdict.unwrap_or_else(|| {
            bump(&c.esp_dropped);
            Inbound::Drop
        })
    }

    /// [`Self::inbound`] once the SPI's entry is found.
    fn inbound_on(&self, entry: &InEntry, tuple: FourTuple, buf: &mut [u8]) -> Inbound {
        let s = &*self.shared;
        let c = &s.counters;
        // The SA is bound to its peer's 4-tuple. From another 4-tuple, only a packet that
        // verifies under a UDP-encapsulated SA on the same local address and port can be a
        // NAT rebinding; anything else is a forgery.
        let bound = entry.peer.tuple;
        let moved = bound != tuple;
        if moved && !(entry.sa.encap().is_udp() && bound.local == tuple.local) {
            bump(&c.esp_dropped);
            return Inbound::Drop;
        }
        let Ok(opened) = entry.sa.open(buf) else {
            bump(&c.esp_dropped);
            return Inbound::Drop;
        };
        s.note_expiry(entry.peer.id, opened.spi, opened.expiry);
        let Ok(datagram) = esp::transport::receive(&entry.sa, &opened, buf) else {
            bump(&c.esp_dropped);
            return Inbound::Drop;
        };
        s.note_alive(&entry.peer);
        if !entry.current && !entry.noted.swap(true, Ordering::Relaxed) {
            let (peer, spi) = (entry.peer.id, opened.spi);
            s.note(|n| n.first_use.push((peer, spi)));
        }
        let handoff = |reason| {
            bump(&c.to_owner);
            Inbound::ToOwner(Handoff {
                tuple,
                spi: opened.spi,
                src_port: datagram.src_port,
                l2tp: datagram.payload.clone(),
                reason,
            })
        };
        if moved {
            if !opened.newest {
                // A late packet from a mapping the peer already left (RFC 4303 §3.4.3 admits
                // it): it must not move the peer back. Its payload is dropped too: the peer
                // is no longer there.
                bump(&c.esp_dropped);
                return Inbound::Drop;
            }
            return handoff(HandoffReason::Moved { from: bound });
        }
        let Some((session, ip)) = established_ipv4(&entry.peer, buf, datagram.payload.clone())
        else {
            return handoff(HandoffReason::Control);
        };
        let Some(packet) = buf.get_mut(ip.clone()) else {
            return handoff(HandoffReason::Control);
        };
        let Ok(view) = wire::ip::ipv4::Packet::new_checked(&*packet) else {
            // Not a whole IPv4 header: ppp::Link decides (it counts and drops it).
            return handoff(HandoffReason::Control);
        };
        if view.src_addr() != session.addr {
            bump(&c.spoofed);
            return Inbound::Drop;
        }
        if is_dhcp_from_client(&view) {
            return handoff(HandoffReason::Dhcp);
        }
        if let Some(mss) = session.mss
            && wire::ip::tcp::clamp_mss(packet, mss)
        {
            bump(&c.mss_clamped);
        }
        session.counters.inbound.add(ip.len());
        if !session.counters.alive.load(Ordering::Relaxed) {
            session.counters.alive.store(true, Ordering::Relaxed);
        }
        c.to_tun.bump(opened.spi);
        Inbound::Tun(ip)
    }

    // ---- outbound -----------------------------------------------------------------------

    /// Seals one IPv4 packet (at most the session's MTU) into `batch`; returns how many
    /// packets were added (0 or 1).
    fn seal_ip(
        &self,
        entry: &OutEntry,
        packet: &[u8],
        batch: &mut Batch,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> usize {
        let c = &self.shared.counters;
        let f = entry.session.framing;
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
        let start = batch.data.len();
        let head = esp::transport::headroom(&entry.sa);
        let total = entry
            .sa
            .sealed_len(l2tp_len + wire::ip::udp::HEADER_LEN)
            .max(head + l2tp_len);
        let range = batch.reserve(total);
        let Some(buf) = batch.data.get_mut(range.clone()) else {
            batch.truncate(start);
            return 0;
        };
        let hlen = header.buffer_len();
        let Some(l2tp) = buf.get_mut(head..head + l2tp_len) else {
            batch.truncate(start);
            return 0;
        };
        if header.emit(l2tp).is_err() {
            batch.truncate(start);
            return 0;
        }
        let (_, ppp) = l2tp.split_at_mut(hlen);
        let (ppp_header, ip) = ppp.split_at_mut(PPP_IPV4_HEADER.len());
        ppp_header.copy_from_slice(&PPP_IPV4_HEADER);
        ip.copy_from_slice(packet);
        if let Some(mss) = entry.session.mss
            && wire::ip::tcp::clamp_mss(ip, mss)
        {
            bump(&c.mss_clamped);
        }
        match seal_l2tp_in_place(&entry.sa, entry.tuple, buf, l2tp_len, f.peer_port, rng) {
            Ok((transmit, len, expiry)) => {
                self.shared.note_expiry(entry.peer, entry.spi_in, expiry);
                batch.truncate(start + len);
                batch.push(transmit, start..start + len);
                entry.session.counters.outbound.add(packet.len());
                c.sealed.bump(u32::from(entry.session.addr));
                1
            }
            Err(_) => {
                batch.truncate(start);
                0
            }
        }
    }

    /// A packet larger than the session's MTU: an ICMP error when the sender asked us not to
    /// fragment (RFC 1191 §4), else IPv4 fragments (RFC 791 §2.3, §3.2).
    fn too_big(
        &self,
        entry: &OutEntry,
        packet: &[u8],
        batch: &mut Batch,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Outbound {
        let c = &self.shared.counters;
        let Ok(ip) = wire::ip::ipv4::Packet::new_checked(packet) else {
            bump(&c.malformed);
            return Outbound::Drop;
        };
        if ip.dont_frag() {
            if !wire::ip::icmp::may_send_frag_needed(packet) {
                return Outbound::Drop;
            }
            let start = batch.data.len();
            let room = batch.reserve(wire::ip::icmp::MAX_ERROR_LEN);
            let written = batch.data.get_mut(room).and_then(|out| {
                wire::ip::icmp::emit_frag_needed(
                    packet,
                    entry.session.mtu,
                    self.shared.server_addr,
                    out,
                )
                .ok()
            });
            let Some(len) = written else {
                batch.truncate(start);
                return Outbound::Drop;
            };
            batch.truncate(start + len);
            batch.push(Transmit::Tun, start..start + len);
            bump(&c.icmp_too_big);
            return Outbound::TooBig;
        }
        let mut sealed = 0;
        let mut ok = true;
        let whole = fragment(packet, usize::from(entry.session.mtu), |frag| {
            let n = self.seal_ip(entry, frag, batch, rng);
            ok &= n == 1;
            sealed += n;
        });
        if !whole || sealed == 0 || !ok {
            return Outbound::Drop;
        }
        bump(&c.fragmented);
        Outbound::Sealed(sealed)
    }
}

/// The session and the IPv4 packet's range when `buf[l2tp]` is an unsequenced L2TP data
/// message for one of the peer's sessions carrying a PPP IPv4 frame; `None` for everything
/// the control plane must see.
fn established_ipv4<'e>(
    peer: &'e PeerView,
    buf: &[u8],
    l2tp: Range<usize>,
) -> Option<(&'e SessionSpec, Range<usize>)> {
    let msg = wire::l2tp::Packet::new_checked(buf.get(l2tp.clone())?).ok()?;
    if msg.is_control() || msg.has_sequence() {
        return None;
    }
    let (tunnel, session) = (msg.tunnel_id(), msg.session_id());
    let s = peer
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
    Some((s, ip))
}

/// A DHCP message from a client's DHCP port to the DHCP server port: Windows sends its
/// DHCPINFORM (RFC 2131 §4.3.5) over the link to learn routes and the domain.
fn is_dhcp_from_client<T: AsRef<[u8]>>(ip: &wire::ip::ipv4::Packet<T>) -> bool {
    if ip.protocol() != IpProtocol::Udp || ip.is_fragment() {
        return false;
    }
    wire::ip::udp::Packet::new_checked(ip.payload())
        .is_ok_and(|u| u.src_port() == DHCP_CLIENT_PORT && u.dst_port() == DHCP_SERVER_PORT)
}

/// Cuts an IPv4 packet into fragments of at most `mtu` bytes (RFC 791 §2.3, §3.2): the
/// data is split on 8-byte boundaries, each fragment carries the header with Total Length,
/// More Fragments, Fragment Offset and the checksum set; non-first fragments carry only the
/// options whose "copied" flag is set (RFC 791 §3.1, "Options"). Calls `each` per fragment,
/// in order; returns false (calling nothing) when the packet cannot be cut (malformed, DF
/// set, or an MTU too small for a header and 8 bytes of data).
fn fragment(packet: &[u8], mtu: usize, mut each: impl FnMut(&[u8])) -> bool {
    let Ok(ip) = wire::ip::ipv4::Packet::new_checked(packet) else {
        return false;
    };
    if ip.dont_frag() {
        return false;
    }
    let hlen = ip.header_len();
    let total = usize::from(ip.total_len());
    let (Some(header), Some(data)) = (packet.get(..hlen), packet.get(hlen..total)) else {
        return false;
    };
    // Options for the non-first fragments: only those with the copied flag (0x80).
    let mut later_options = Vec::new();
    let mut opts = header.get(wire::ip::ipv4::HEADER_LEN..).unwrap_or_default();
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => break,
            1 => opts = rest,
            _ => {
                let len = usize::from(rest.first().copied().unwrap_or(0));
                let Some(option) = opts.get(..len).filter(|_| len >= 2) else {
                    break;
                };
                if kind & 0x80 != 0 {
                    later_options.extend_from_slice(option);
                }
                opts = opts.get(len..).unwrap_or_default();
            }
        }
    }
    while later_options.len() % 4 != 0 {
        later_options.push(0);
    }
    let later_hlen = wire::ip::ipv4::HEADER_LEN + later_options.len();
    let step = |h: usize| mtu.saturating_sub(h) / 8 * 8;
    if step(hlen) == 0 || step(later_hlen) == 0 {
        return false;
    }
    let base_offset = usize::from(ip.frag_offset());
    let last_mf = ip.more_frags();
    let mut frag = Vec::with_capacity(mtu);
    let mut done = 0;
    while done < data.len() {
        let first = done == 0;
        let h = if first { hlen } else { later_hlen };
        let take = (data.len() - done).min(step(h));
        let last = done + take == data.len();
        frag.clear();
        if first {
            frag.extend_from_slice(header);
        } else {
            frag.extend_from_slice(header.get(..wire::ip::ipv4::HEADER_LEN).unwrap_or_default());
            frag.extend_from_slice(&later_options);
        }
        frag.extend_from_slice(data.get(done..done + take).unwrap_or_default());
        let offset = u16::try_from(base_offset + done / 8).unwrap_or(u16::MAX);
        let mf = if last { last_mf } else { true };
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut frag[..]);
        p.set_version_and_header_len(h);
        p.set_total_len(u16::try_from(h + take).unwrap_or(u16::MAX));
        p.set_fragment(mf, offset);
        p.fill_checksum();
        each(&frag);
        done += take;
    }
    true
}

fn raw_tuple(local: Ipv4Addr, remote: Ipv4Addr) -> FourTuple {
    FourTuple {
        local: SocketAddr::new(IpAddr::V4(local), 0),
        remote: SocketAddr::new(IpAddr::V4(remote), 0),
    }
}

/// Seals the L2TP message at `buf[esp::transport::headroom(sa)..][..l2tp_len]` for the
/// client's UDP port `port` (RFC 3948 §3 for UDP-encapsulated SAs): inner UDP, ESP. Returns
/// where it goes, the sealed length and a lifetime threshold crossed.
pub(crate) fn seal_l2tp_in_place(
    sa: &esp::Sa,
    tuple: FourTuple,
    buf: &mut [u8],
    l2tp_len: usize,
    port: u16,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Transmit, usize, Option<esp::Expiry>), esp::Error> {
    let sealed = esp::transport::seal(sa, buf, l2tp_len, port, rng)?;
    let transmit = match sa.encap() {
        esp::Encap::Udp { local, remote } => Transmit::Udp { local, remote },
        esp::Encap::None => match (tuple.local.ip(), tuple.remote.ip()) {
            (IpAddr::V4(local), IpAddr::V4(remote)) => Transmit::Esp { local, remote },
            _ => return Err(esp::Error::ApiMisuse("plain ESP needs IPv4")),
        },
    };
    Ok((transmit, sealed.len, sealed.expiry))
}

/// Seals a whole L2TP message (control, or a PPP control frame in a data message) for a
/// peer: copies it behind the ESP headroom and seals it ([`seal_l2tp_in_place`]).
pub(crate) fn seal_l2tp(
    sa: &esp::Sa,
    tuple: FourTuple,
    l2tp_msg: &[u8],
    port: u16,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Transmit, Vec<u8>, Option<esp::Expiry>), esp::Error> {
    let head = esp::transport::headroom(sa);
    let total = sa
        .sealed_len(l2tp_msg.len() + wire::ip::udp::HEADER_LEN)
        .max(head + l2tp_msg.len());
    let mut buf = vec![0u8; total];
    buf.get_mut(head..head + l2tp_msg.len())
        .ok_or(esp::Error::ApiMisuse("seal buffer too small"))?
        .copy_from_slice(l2tp_msg);
    let (transmit, len, expiry) =
        seal_l2tp_in_place(sa, tuple, &mut buf, l2tp_msg.len(), port, rng)?;
    buf.truncate(len);
    Ok((transmit, buf, expiry))
}

// ---- the control plane's side ------------------------------------------------------------

/// The control plane's side: publishes peers' entries and takes the notes.
#[derive(Debug)]
pub(crate) struct Publisher {
    shared: Arc<Shared>,
    /// What was last published, by peer.
    last: HashMap<PeerId, PeerSpec>,
}

impl Publisher {
    pub(crate) fn new(nat_t_port: u16, server_addr: Ipv4Addr) -> Self {
        Self {
            shared: Arc::new(Shared::new(nat_t_port, server_addr)),
            last: HashMap::new(),
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
                }
            }
            match spec {
                Some(spec) => {
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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn handle_is_send_sync_clone() {
        assert_send_sync::<DataPlane>();
    }

    const KEY: l2tp::SessionKey = l2tp::SessionKey {
        tunnel: 7,
        session: 9,
    };
    const ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    fn tuple() -> FourTuple {
        FourTuple {
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

    /// An IPv4 packet of `len` bytes from `src` to 192.168.100.5 (protocol `proto`).
    fn ipv4(src: Ipv4Addr, len: usize, proto: u8, df: bool) -> Vec<u8> {
        let mut ip = vec![0u8; len];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        if df {
            ip[6] = 0x40;
        }
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&[192, 168, 100, 5]);
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut ip[..]);
        p.fill_checksum();
        ip
    }

    /// What the client sends on `client_sa`: UDP 1701 → 1701, an L2TP data message for `KEY`
    /// carrying `ppp` (protocol + payload).
    fn client_packet(
        client_sa: &esp::Sa,
        ppp: &[u8],
        rng: &mut rand_chacha::ChaCha20Rng,
    ) -> Vec<u8> {
        let mut inner = Vec::new();
        let udp_len = u16::try_from(8 + 6 + 2 + ppp.len()).unwrap();
        for v in [1701u16, 1701, udp_len, 0, 0x0002, KEY.tunnel, KEY.session] {
            inner.extend_from_slice(&v.to_be_bytes());
        }
        inner.extend_from_slice(&[0xff, 0x03]);
        inner.extend_from_slice(ppp);
        let head = client_sa.overhead_before();
        let mut buf = vec![0; client_sa.sealed_len(inner.len())];
        buf[head..head + inner.len()].copy_from_slice(&inner);
        let sealed = client_sa
            .seal(&mut buf, inner.len(), wire::ip::Protocol::Udp, rng)
            .unwrap();
        buf.truncate(sealed.len);
        buf
    }

    fn ip_frame(ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0x00, 0x21];
        f.extend_from_slice(ip);
        f
    }

    struct Fixture {
        publisher: Publisher,
        plane: DataPlane,
        inbound: Arc<esp::Sa>,
        outbound: Arc<esp::Sa>,
        client: esp::Sa,
        counters: Arc<SessionCounters>,
        activity: Arc<Activity>,
        rng: rand_chacha::ChaCha20Rng,
    }

    fn spec(f: &Fixture, mtu: u16, mss: Option<u16>) -> PeerSpec {
        PeerSpec {
            id: 1,
            tuple: tuple(),
            inbound: vec![(Arc::clone(&f.inbound), true)],
            outbound: Some((Arc::clone(&f.outbound), f.inbound.spi())),
            sessions: vec![SessionSpec {
                key: KEY,
                addr: ADDR,
                framing: l2tp::DataFraming {
                    peer_tunnel: 3,
                    peer_session: 4,
                    peer_port: 1701,
                    length_field: true,
                },
                mtu,
                mss,
                counters: Arc::clone(&f.counters),
            }],
            activity: Arc::clone(&f.activity),
        }
    }

    fn fixture(mtu: u16, mss: Option<u16>) -> Fixture {
        let publisher = Publisher::new(4500, SERVER);
        let plane = publisher.handle();
        let mut f = Fixture {
            publisher,
            plane,
            inbound: Arc::new(sa(0x1001, esp::Direction::Inbound, 1)),
            outbound: Arc::new(sa(0x2001, esp::Direction::Outbound, 2)),
            client: sa(0x1001, esp::Direction::Outbound, 1),
            counters: Arc::default(),
            activity: Arc::default(),
            rng: rand_chacha::ChaCha20Rng::from_seed([1; 32]),
        };
        let s = spec(&f, mtu, mss);
        f.publisher.publish(vec![(1, Some(s))]);
        f
    }

    #[test]
    fn empty_table_drops_esp_and_passes_ike_on() {
        let publisher = Publisher::new(4500, SERVER);
        let dp = publisher.handle();
        let t = tuple();
        let mut esp = vec![0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb];
        assert_eq!(dp.inbound_udp(t.local, t.remote, &mut esp), Inbound::Drop);
        let mut ike = vec![0u8; 4 + 28];
        let before = ike.clone();
        assert_eq!(dp.inbound_udp(t.local, t.remote, &mut ike), Inbound::Ike);
        assert_eq!(ike, before, "IKE is left untouched");
        let port500: SocketAddr = "198.51.100.1:500".parse().unwrap();
        assert_eq!(dp.inbound_udp(port500, t.remote, &mut esp), Inbound::Ike);
        assert_eq!(
            dp.inbound_udp(t.local, t.remote, &mut [0xff]),
            Inbound::Drop
        );
        let mut batch = Batch::new();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
        assert_eq!(
            dp.outbound(&[0x60, 0, 0, 0], &mut batch, &mut rng),
            Outbound::Drop
        );
        let ip = ipv4(Ipv4Addr::new(192, 168, 100, 5), 20, 17, false);
        let mut back = ip.clone();
        back[12..16].copy_from_slice(&[192, 168, 100, 5]);
        back[16..20].copy_from_slice(&ADDR.octets());
        assert_eq!(dp.outbound(&back, &mut batch, &mut rng), Outbound::Drop);
        assert!(batch.is_empty());
        let s = dp.stats();
        assert_eq!((s.esp_dropped, s.ike, s.no_session), (1, 2, 1));
    }

    #[test]
    fn established_ipv4_goes_to_the_tun_and_control_to_the_owner() {
        let mut f = fixture(1400, None);
        let t = tuple();
        let ip = ipv4(ADDR, 60, 17, false);
        let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let Inbound::Tun(r) = f.plane.inbound_udp(t.local, t.remote, &mut p) else {
            panic!("IPv4 from the session's address goes to the TUN");
        };
        assert_eq!(&p[r], &ip[..]);
        assert_eq!(f.counters.inbound.get(), (1, 60));
        assert!(f.activity.take(), "a sign of life was noted");
        // LCP Echo-Request: the control plane's.
        let mut lcp = client_packet(&f.client, &[0xc0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0], &mut f.rng);
        let Inbound::ToOwner(h) = f.plane.inbound_udp(t.local, t.remote, &mut lcp) else {
            panic!("LCP goes to the control plane");
        };
        assert_eq!(h.reason, HandoffReason::Control);
        assert_eq!(&lcp[h.l2tp.clone()][..2], &[0x00, 0x02], "the L2TP message");
        // Spoofed source: dropped and counted.
        let spoof = ipv4(Ipv4Addr::new(10, 99, 0, 3), 40, 17, false);
        let mut p = client_packet(&f.client, &ip_frame(&spoof), &mut f.rng);
        assert_eq!(
            f.plane.inbound_udp(t.local, t.remote, &mut p),
            Inbound::Drop
        );
        assert_eq!(f.plane.stats().spoofed, 1);
        // A replay of an accepted packet.
        let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let copy = p.clone();
        assert!(matches!(
            f.plane.inbound_udp(t.local, t.remote, &mut p),
            Inbound::Tun(_)
        ));
        let mut replay = copy;
        assert_eq!(
            f.plane.inbound_udp(t.local, t.remote, &mut replay),
            Inbound::Drop
        );
    }

    #[test]
    fn dhcpinform_goes_to_the_owner_even_for_an_established_session() {
        let mut f = fixture(1400, None);
        let t = tuple();
        let mut ip = ipv4(ADDR, 28 + 240, 17, false);
        ip[20..22].copy_from_slice(&68u16.to_be_bytes());
        ip[22..24].copy_from_slice(&67u16.to_be_bytes());
        ip[24..26].copy_from_slice(&248u16.to_be_bytes());
        let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let Inbound::ToOwner(h) = f.plane.inbound_udp(t.local, t.remote, &mut p) else {
            panic!("DHCP from the client goes to the control plane");
        };
        assert_eq!(h.reason, HandoffReason::Dhcp);
        assert_eq!(f.plane.stats().to_tun, 0, "never written to the TUN");
    }

    #[test]
    fn a_verified_packet_from_a_new_port_is_handed_over_as_moved_and_a_forgery_is_dropped() {
        let mut f = fixture(1400, None);
        let t = tuple();
        let new = FourTuple {
            local: t.local,
            remote: "203.0.113.7:40001".parse().unwrap(),
        };
        let ip = ipv4(ADDR, 40, 17, false);
        let mut forged = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let n = forged.len();
        forged[n - 1] ^= 1;
        assert_eq!(
            f.plane.inbound_udp(new.local, new.remote, &mut forged),
            Inbound::Drop
        );
        let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let Inbound::ToOwner(h) = f.plane.inbound_udp(new.local, new.remote, &mut p) else {
            panic!("a verified packet from a new 4-tuple goes to the control plane");
        };
        assert_eq!(h.reason, HandoffReason::Moved { from: t });
        // Another local port never qualifies.
        let other: SocketAddr = "198.51.100.1:4501".parse().unwrap();
        let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let mut dp = f.plane.clone();
        std::mem::swap(&mut dp, &mut f.plane);
        assert_eq!(
            dp.inbound(
                FourTuple {
                    local: other,
                    remote: new.remote
                },
                &mut p
            ),
            Inbound::Drop
        );
    }

    /// After a peer moved to a new NAT mapping, a delayed packet from the old one (an older
    /// sequence number the window still admits) must not move it back.
    #[test]
    fn a_late_packet_from_the_old_mapping_does_not_move_the_peer_back() {
        let mut f = fixture(1400, None);
        let old = tuple();
        let new = FourTuple {
            local: old.local,
            remote: "203.0.113.7:40001".parse().unwrap(),
        };
        let ip = ipv4(ADDR, 40, 17, false);
        let mut late = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let mut first = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let Inbound::ToOwner(h) = f.plane.inbound_udp(new.local, new.remote, &mut first) else {
            panic!("the newest packet from a new mapping is handed over");
        };
        assert_eq!(h.reason, HandoffReason::Moved { from: old });
        // The control plane moved the peer and republished.
        f.inbound.rebind(new).unwrap();
        let mut moved = spec(&f, 1400, None);
        moved.tuple = new;
        f.publisher.publish(vec![(1, Some(moved))]);
        let dropped = f.plane.stats().esp_dropped;
        assert_eq!(
            f.plane.inbound_udp(old.local, old.remote, &mut late),
            Inbound::Drop
        );
        assert_eq!(f.plane.stats().esp_dropped, dropped + 1);
    }

    /// The client uses a rekeyed SA before the control plane switched to it: the data plane
    /// carries the traffic and notes the first use once.
    #[test]
    fn first_use_of_a_rekeyed_sa_is_carried_and_noted_once() {
        let mut f = fixture(1400, None);
        let new_in = Arc::new(sa(0x1002, esp::Direction::Inbound, 3));
        let client2 = sa(0x1002, esp::Direction::Outbound, 3);
        let mut s = spec(&f, 1400, None);
        s.inbound.push((Arc::clone(&new_in), false));
        f.publisher.publish(vec![(1, Some(s))]);
        let _ = f.publisher.take_notes();
        let t = tuple();
        let ip = ipv4(ADDR, 40, 17, false);
        for _ in 0..3 {
            let mut p = client_packet(&client2, &ip_frame(&ip), &mut f.rng);
            assert!(matches!(
                f.plane.inbound_udp(t.local, t.remote, &mut p),
                Inbound::Tun(_)
            ));
        }
        assert!(f.plane.notes_pending());
        let notes = f.publisher.take_notes();
        assert_eq!(notes.first_use, vec![(1, 0x1002)]);
        assert!(!f.plane.notes_pending());
    }

    #[test]
    fn outbound_seals_for_the_session_and_publishing_the_same_part_swaps_nothing() {
        let mut f = fixture(1400, None);
        let publishes = f.plane.stats().publishes;
        let s = spec(&f, 1400, None);
        f.publisher.publish(vec![(1, Some(s))]);
        assert_eq!(f.plane.stats().publishes, publishes, "nothing changed");
        let mut back = ipv4(Ipv4Addr::new(192, 168, 100, 5), 100, 17, false);
        back[16..20].copy_from_slice(&ADDR.octets());
        let mut batch = Batch::new();
        assert_eq!(
            f.plane.outbound(&back, &mut batch, &mut f.rng),
            Outbound::Sealed(1)
        );
        let (t, bytes) = batch.iter().next().unwrap();
        assert_eq!(
            t,
            Transmit::Udp {
                local: tuple().local,
                remote: tuple().remote
            }
        );
        assert_eq!(bytes[..4], 0x2001u32.to_be_bytes());
        assert_eq!(f.counters.outbound.get(), (1, 100));
        // The peer leaves: nothing is sealed for it any more.
        f.publisher.publish(vec![(1, None)]);
        assert_eq!(f.plane.table_len(), (0, 0));
        batch.clear();
        assert_eq!(
            f.plane.outbound(&back, &mut batch, &mut f.rng),
            Outbound::Drop
        );
    }

    #[test]
    fn too_big_with_df_gets_icmp_and_without_df_is_fragmented() {
        let mut f = fixture(576, None);
        let mut big = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1000, 17, true);
        big[16..20].copy_from_slice(&ADDR.octets());
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut big[..]);
        p.fill_checksum();
        let mut batch = Batch::new();
        assert_eq!(
            f.plane.outbound(&big, &mut batch, &mut f.rng),
            Outbound::TooBig
        );
        let (t, icmp) = batch.iter().next().unwrap();
        assert_eq!(t, Transmit::Tun);
        let v = wire::ip::ipv4::Packet::new_checked(icmp).unwrap();
        assert_eq!(v.dst_addr(), Ipv4Addr::new(192, 168, 100, 5));
        assert_eq!(v.src_addr(), SERVER);
        assert_eq!(v.protocol(), IpProtocol::Icmp);
        assert_eq!(
            &v.payload()[..2],
            &[3, 4],
            "destination unreachable, fragmentation needed"
        );
        assert_eq!(&v.payload()[6..8], &576u16.to_be_bytes(), "next-hop MTU");
        // Without DF: fragments that each fit.
        let mut big = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1000, 17, false);
        big[16..20].copy_from_slice(&ADDR.octets());
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut big[..]);
        p.fill_checksum();
        batch.clear();
        assert_eq!(
            f.plane.outbound(&big, &mut batch, &mut f.rng),
            Outbound::Sealed(2)
        );
        let (packets, bytes) = f.counters.outbound.get();
        assert_eq!(packets, 2);
        assert!(bytes > 1000, "each fragment carries its own header");
        assert_eq!(f.plane.stats().fragmented, 1);
    }

    /// RFC 791 §3.2: fragments fit, carry the right offsets and flags and valid checksums,
    /// reassemble to the original data, and only "copied" options go past the first.
    #[test]
    fn fragments_reassemble_and_copy_only_copied_options() {
        // A 24-byte header holding one 4-byte option with the copied flag (type 0x83).
        let mut ip = vec![0u8; 24 + 1000];
        ip[0] = 0x46;
        ip[2..4].copy_from_slice(&1024u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[192, 168, 100, 5]);
        ip[16..20].copy_from_slice(&ADDR.octets());
        ip[20..24].copy_from_slice(&[0x83, 4, 0xaa, 0xbb]);
        for (i, b) in ip[24..].iter_mut().enumerate() {
            *b = u8::try_from(i % 251).unwrap();
        }
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut ip[..]);
        p.fill_checksum();
        let mut frags = Vec::new();
        assert!(fragment(&ip, 400, |f| frags.push(f.to_vec())));
        assert_eq!(frags.len(), 3);
        let mut data = vec![0u8; 1000];
        for (i, f) in frags.iter().enumerate() {
            let v = wire::ip::ipv4::Packet::new_checked(&f[..]).unwrap();
            assert!(f.len() <= 400 && v.verify_checksum());
            assert_eq!(v.more_frags(), i + 1 < frags.len());
            assert_eq!(
                v.options(),
                &[0x83, 4, 0xaa, 0xbb],
                "the copied option goes everywhere"
            );
            let at = usize::from(v.frag_offset()) * 8;
            data[at..at + v.payload().len()].copy_from_slice(v.payload());
        }
        assert_eq!(&data[..], &ip[24..]);
        // A non-copied option stays in the first fragment only.
        ip[20] = 0x07;
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut ip[..]);
        p.fill_checksum();
        frags.clear();
        assert!(fragment(&ip, 400, |f| frags.push(f.to_vec())));
        let second = wire::ip::ipv4::Packet::new_checked(&frags[1][..]).unwrap();
        assert!(second.options().is_empty());
        // DF set: not ours to cut.
        ip[6] = 0x40;
        assert!(!fragment(&ip, 400, |_| panic!("no fragment for DF")));
    }

    #[test]
    fn mss_is_clamped_both_ways() {
        let mut f = fixture(1400, Some(1360));
        // A SYN from the client with MSS 1460.
        let mut syn = ipv4(ADDR, 44, 6, true);
        syn[32] = 0x60; // data offset 6 words
        syn[33] = 0x02; // SYN
        syn[40..44].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        let t = tuple();
        let mut p = client_packet(&f.client, &ip_frame(&syn), &mut f.rng);
        let Inbound::Tun(r) = f.plane.inbound_udp(t.local, t.remote, &mut p) else {
            panic!("SYN goes to the TUN");
        };
        assert_eq!(&p[r.start + 42..r.start + 44], &1360u16.to_be_bytes());
        assert_eq!(f.plane.stats().mss_clamped, 1);
        // The SYN-ACK from the LAN host, MSS 1460: sealed with 1360.
        let mut synack = ipv4(Ipv4Addr::new(192, 168, 100, 5), 44, 6, true);
        synack[16..20].copy_from_slice(&ADDR.octets());
        synack[32] = 0x60;
        synack[33] = 0x12; // SYN + ACK
        synack[40..44].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut synack[..]);
        p.fill_checksum();
        let mut batch = Batch::new();
        assert_eq!(
            f.plane.outbound(&synack, &mut batch, &mut f.rng),
            Outbound::Sealed(1)
        );
        assert_eq!(f.plane.stats().mss_clamped, 2);
        // What the client decrypts carries the clamped MSS.
        let (_, sealed) = batch.iter().next().unwrap();
        let mut esp = sealed.to_vec();
        let client_in = sa(0x2001, esp::Direction::Inbound, 2);
        let opened = client_in.open(&mut esp).unwrap();
        let plain = &esp[opened.payload];
        // inner UDP 8, L2TP data header with length 8 (flags, length, tunnel, session), PPP 4.
        let tcp_mss = 8 + 8 + 4 + 20 + 22;
        assert_eq!(&plain[tcp_mss..tcp_mss + 2], &1360u16.to_be_bytes());
    }
}
