//! The data plane: every established-session packet, on every core, in one straight line.
//!
//! Inbound, an ESP packet (RFC 4303, in UDP per RFC 3948 or plain) goes
//! SPI → table entry → 4-tuple check → [`esp::Sa::open`] (ICV, anti-replay §3.4.3, decrypt in
//! place) → [`esp::transport::receive`] (next header UDP to port 1701, RFC 3193 §4) → an
//! unsequenced L2TP data message for a session of *this* peer (RFC 2661 §5.2) → PPP IPv4
//! (RFC 1332) → the session's own source address or one of its routed networks
//! (anti-spoofing) → the session's upload rate
//! limit, if any → TCP MSS clamp → TUN.
//! Outbound, a TUN packet goes destination address → session (its assigned address, else the
//! longest of the networks routed to a session that holds it) → the session's download rate
//! limit, if any (module `police`) → MSS clamp → size check (ICMP
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
//! NAT-T port (RFC 3948 §2.2), untouched. [`Inbound::AwaitingQm3`] is ESP under an SPI whose
//! Quick Mode still awaits its third message (the client's SCCRQ right behind that message),
//! untouched, to follow it. Everything else is dropped here and counted.
//!
//! Signs of life, first use of a rekeyed SA, and ESP lifetime limits crossed are noted for
//! the control plane without blocking ([`DataPlane::notes_pending`]).
//!
//! # Publishing and staleness
//! The control plane republishes a peer's entries only when they changed, replacing the
//! shards that hold them; entries that left are marked dead before the call returns. A lookup
//! that finds a dead entry loads the table again, so it never uses an entry the control plane
//! removed before the lookup began.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use wire::FourTuple;

use rand::{CryptoRng, RngCore};
use wire::ip::Protocol as IpProtocol;
use wire::ppp::Protocol as PppProtocol;

mod fragment;
pub(crate) mod police;
mod table;
#[cfg(test)]
mod tests;

use fragment::fragment;
pub(crate) use table::{Activity, PeerSpec, Publisher, SessionCounters, SessionSpec};
use table::{InEntry, OutEntry, PeerView, Shared, bump};

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

/// Where a datagram produced by [`Server::poll_transmit`](crate::Server::poll_transmit) goes. The payload is in the buffer
/// passed to `poll_transmit` (or in the data plane's [`Batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// A UDP datagram from `local` (500 or 4500) to `remote`.
    Udp {
        /// Our address and port.
        local: SocketAddr,
        /// The peer's address and port.
        remote: SocketAddr,
    },
    /// A raw ESP (IP protocol 50) packet; the buffer holds the ESP header onward.
    Esp {
        /// Our address.
        local: Ipv4Addr,
        /// The peer's address.
        remote: Ipv4Addr,
    },
    /// An IPv4 packet for the TUN device.
    Tun,
}

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
    /// ESP under one of our SPIs whose Quick Mode awaits its third message (RFC 2409 §5.5):
    /// clients send their first L2TP message (the SCCRQ, RFC 3193 §4) right behind that
    /// message, so it can be read before the control plane has installed the SA. The buffer
    /// is unchanged: give it to [`Server::handle_udp`](crate::Server::handle_udp) (or
    /// [`Server::handle_esp`](crate::Server::handle_esp) for raw ESP) *after* the IKE
    /// messages read before it, in the same order. Dropping it instead costs the client its
    /// L2TP retransmission time (a second) on every connect.
    AwaitingQm3,
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

    /// Appends a copy of `bytes`, to be sent where `transmit` says.
    pub fn push_copy(&mut self, transmit: Transmit, bytes: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.items.push((transmit, start..self.data.len()));
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

    /// Where the batch ends now, to [`Batch::rewind`] to.
    fn mark(&self) -> (usize, usize) {
        (self.data.len(), self.items.len())
    }

    /// Forgets everything added after `mark`.
    fn rewind(&mut self, mark: (usize, usize)) {
        self.data.truncate(mark.0);
        self.items.truncate(mark.1);
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
    /// ESP packets under an SPI whose Quick Mode awaited its third message, passed on to
    /// follow it.
    pub awaiting_qm3: u64,
    /// IPv4 packets dropped by a session's rate limit, both ways.
    pub policed: u64,
}

/// A `Clone + Send + Sync` handle on the data plane; see the module docs. Get one from
/// [`Server::data_plane`](crate::Server::data_plane).
#[derive(Debug, Clone)]
pub struct DataPlane {
    shared: Arc<Shared>,
}

impl DataPlane {
    /// A UDP datagram arrived on `local` from `remote` at `now`; ESP is decrypted in place.
    /// `now` only feeds rate limits: a reader may read the clock once per batch.
    pub fn inbound_udp(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        buf: &mut [u8],
    ) -> Inbound {
        let c = &self.shared.counters;
        if local.port() != self.shared.nat_t_port {
            bump(&c.ike);
            return Inbound::Ike;
        }
        match wire::natt::Repr::parse(buf) {
            Ok(wire::natt::Repr::Keepalive) => Inbound::Drop,
            Ok(wire::natt::Repr::Esp(_)) => self.inbound(now, FourTuple { local, remote }, buf),
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

    /// A raw ESP packet (IP protocol 50) arrived at `now`; `buf` starts at the ESP header.
    pub fn inbound_esp(
        &self,
        now: Instant,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        buf: &mut [u8],
    ) -> Inbound {
        self.inbound(now, raw_tuple(local, remote), buf)
    }

    /// An IPv4 packet was read from the TUN device at `now`: what goes out is appended to
    /// `batch`; `rng` supplies the CBC IVs.
    pub fn outbound(
        &self,
        now: Instant,
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
        let sealed = self.shared.with_route(ip.dst_addr(), |entry| {
            let too_big = packet.len() > usize::from(entry.session.mtu);
            // A packet answered with an ICMP error never reaches the client: not charged.
            if !(too_big && ip.dont_frag())
                && let Some(p) = &entry.session.policer
                && let Some(down) = &p.down
                && !down.admit(p.clock(now), packet.len())
            {
                bump(&c.policed);
                bump(&entry.session.counters.outbound.policed);
                return Outbound::Drop;
            }
            if too_big {
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
            awaiting_qm3: get(&c.awaiting_qm3),
            policed: get(&c.policed),
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

    fn inbound(&self, now: Instant, tuple: FourTuple, buf: &mut [u8]) -> Inbound {
        let s = &*self.shared;
        let c = &s.counters;
        let Ok(header) = wire::esp::Packet::new_checked(&*buf) else {
            bump(&c.malformed);
            return Inbound::Drop;
        };
        let spi = header.spi();
        let verdict = s.with_in_entry(spi, |entry| self.inbound_on(now, entry, tuple, buf));
        verdict.unwrap_or_else(|| {
            if s.awaiting.load().contains(&spi) {
                bump(&c.awaiting_qm3);
                Inbound::AwaitingQm3
            } else {
                bump(&c.esp_dropped);
                Inbound::Drop
            }
        })
    }

    /// [`Self::inbound`] once the SPI's entry is found.
    fn inbound_on(
        &self,
        now: Instant,
        entry: &InEntry,
        tuple: FourTuple,
        buf: &mut [u8],
    ) -> Inbound {
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
        let src = view.src_addr();
        if src != session.addr && !session.routes.iter().any(|r| r.contains(src)) {
            bump(&c.spoofed);
            return Inbound::Drop;
        }
        if is_dhcp_from_client(&view) {
            return handoff(HandoffReason::Dhcp);
        }
        if let Some(p) = &session.policer
            && let Some(up) = &p.up
            && !up.admit(p.clock(now), ip.len())
        {
            // Policed after the peer's sign of life was noted: it is there, only over its limit.
            bump(&c.policed);
            bump(&session.counters.inbound.policed);
            return Inbound::Drop;
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
        let mark = batch.mark();
        let mut sealed = 0;
        let mut ok = true;
        let whole = fragment(packet, usize::from(entry.session.mtu), |frag| {
            let n = self.seal_ip(entry, frag, batch, rng);
            ok &= n == 1;
            sealed += n;
        });
        if !whole || sealed == 0 || !ok {
            // All fragments or none: a part of a datagram is useless to the client.
            batch.rewind(mark);
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
