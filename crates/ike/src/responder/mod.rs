//! The IKEv1 responder: Main Mode with a pre-shared key (RFC 2409 §5.4), Quick Mode (§5.5),
//! Informational exchanges (§5.7; Delete and Notify of RFC 2408 §3.14/§3.15, DPD of RFC 3706),
//! and NAT traversal (RFC 3947; draft-02 for Windows XP, clients.md C.1).
//!
//! Each IKE SA is found by its cookie pair and bound to the outer 4-tuple it was created on;
//! it moves only with the NAT-T float from port 500 to 4500 (RFC 3947 §4), committed once a
//! message from the new port decrypted and its HASH verified, or when the owner
//! saw an authenticated ESP packet from a new NAT mapping ([`Responder::rebind_peer`],
//! the IKEv2 rule of RFC 7296 §2.23; RFC 3947/3948 leave it open).
//!
//! Dead peer detection (RFC 3706 §5): peers that sent the DPD vendor ID get R-U-THERE after
//! [`crate::ResponderConfig::dpd_interval`] without any sign of life (an authenticated IKE
//! message, or ESP reported through [`Responder::note_activity`]), then once per interval;
//! after [`crate::ResponderConfig::dpd_failures`] unanswered ones every SA of the peer goes
//! ([`Event::DeadPeer`]). Peers without the VID (Windows) are never probed. INITIAL-CONTACT
//! (the notify, or Microsoft's Vid-Initial-Contact VID, clients.md C.1) clears the older SAs of
//! **that 4-tuple only**, never those of another client behind the same NAT (DESIGN.md
//! "Security rules").

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crypto::Secret;
use crypto::dh::DhPrivate;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, info};
use wire::isakmp::{
    self, Attribute, Body, DeleteRepr, ExchangeType, HeaderRepr, IdRepr, IdType, NatOaRepr,
    NotifyRepr, NotifyType, Packet, Payload, PayloadType, Payloads, ProposalRepr, Repr, SaRepr,
    flags, protocol,
};

use crate::config::{LifetimeBounds, ResponderConfig};
use crate::crypt::{Fingerprint, HashVerified, Keys, fingerprint, frame, nat_d, verify_hash};
use crate::error::Error;
use crate::event::{
    ChildSa, Encapsulation, Event, Peer, PeerSnapshot, Phase1Info, PskSymptom, RefuseReason, Stats,
    Transmit, secs_left,
};
use crate::half_open::{Admission, HalfOpen};
use crate::rate_limit::RateLimiter;
use crate::suite::{self, EncapsulationMode, EspRefusal, Lifetime, Phase1Suite, p1attr, p2attr};
use crate::timers::Timers;
use crate::vendor::{self, NatDialect, VendorInfo};

/// L2TP's UDP port (RFC 2661 §8.1).
const L2TP_PORT: u16 = 1701;
/// Nonce length we send (RFC 2409 §5: 8..256 octets).
const NONCE_LEN: usize = 32;
/// Nonce lengths we accept (RFC 2409 §5).
const NONCE_RANGE: core::ops::RangeInclusive<usize> = 8..=256;

type Cookies = ([u8; 8], [u8; 8]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MmState {
    AwaitMm3,
    AwaitMm5,
    Established,
}

#[derive(Debug, Clone, Copy)]
struct Retx {
    at: Instant,
    tries: u32,
}

struct Qm {
    iv: Vec<u8>,
    /// Fingerprint of the last message received, to recognise its retransmissions.
    last_rx: Fingerprint,
    last_tx: Vec<u8>,
    retx: Option<Retx>,
    expires: Instant,
    ni_b: Vec<u8>,
    nr_b: Vec<u8>,
    pending: Box<ChildSa>,
    /// The 4-tuple this plain-ESP Quick Mode is counted under in [`Responder::plain_esp`].
    plain: Option<Peer>,
}

impl Qm {
    /// The keys leave the exchange only once HASH(3) verified.
    fn complete(self, _proof: HashVerified) -> Box<ChildSa> {
        self.pending
    }
}

struct IkeSa {
    peer: Peer,
    cookies: Cookies,
    state: MmState,
    suite: Phase1Suite,
    vendor: VendorInfo,
    sa_i_b: Vec<u8>,
    dh: Option<DhPrivate>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    ni_b: Vec<u8>,
    nr_b: Vec<u8>,
    /// Boxed: the cipher state is large and half-open SAs waiting for MM3 have none.
    keys: Option<Box<Keys>>,
    nat_t: Option<NatDialect>,
    nat_detected: bool,
    /// Fingerprint of the last message received, to recognise its retransmissions.
    last_rx: Fingerprint,
    last_tx: Vec<u8>,
    retx: Option<Retx>,
    expires: Instant,
    lifetime_secs: u64,
    /// The phase 1 lifetime to announce after MM6, when we shortened the client's.
    lifetime_announce: Option<Lifetime>,
    qms: HashMap<u32, Qm>,
    done_qms: VecDeque<u32>,
    info: Option<Phase1Info>,
    dpd: Dpd,
    /// This SA's entry in [`Responder::timers`]: its earliest deadline.
    timer: Option<Instant>,
}

/// Dead peer detection state of one IKE SA (RFC 3706 §5.3-§5.5).
#[derive(Debug, Clone, Copy, Default)]
struct Dpd {
    /// The last R-U-THERE sequence number sent (RFC 3706 §7: random start, then +1).
    seq: u32,
    /// R-U-THEREs sent since the peer was last heard from.
    unanswered: u32,
    /// When the current round of probing began (`None`: not probing).
    probe_since: Option<Instant>,
    /// When the next R-U-THERE (or the verdict) is due while probing.
    next: Option<Instant>,
}

impl IkeSa {
    /// Main Mode is finished only once HASH_I verified.
    fn establish(&mut self, _proof: HashVerified) {
        self.state = MmState::Established;
    }
}

impl IkeSa {
    /// The SA's earliest deadline apart from DPD: its lifetime (or half-open expiry), and the
    /// retransmission and expiry of its Quick Modes.
    fn deadline(&self) -> Instant {
        let qms = self
            .qms
            .values()
            .flat_map(|q| [Some(q.expires), q.retx.map(|r| r.at)])
            .flatten();
        [Some(self.expires), self.retx.map(|r| r.at)]
            .into_iter()
            .flatten()
            .chain(qms)
            .fold(self.expires, Instant::min)
    }
}

struct Child {
    peer: Peer,
    /// The IKE SA that negotiated it.
    ike: Cookies,
    spi_out: u32,
    expires: Instant,
    /// This pair's entry in [`Responder::timers`].
    timer: Option<Instant>,
    /// The 4-tuple this plain-ESP pair is counted under in [`Responder::plain_esp`].
    plain: Option<Peer>,
}

/// What lives in [`Responder::timers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    /// An IKE SA: lifetime or half-open expiry, retransmission, Quick Modes, DPD.
    Sa(Cookies),
    /// An ESP SA pair, by our SPI: its lifetime.
    Child(u32),
}

/// Everything of one 4-tuple, so that per-peer work never scans all SAs.
#[derive(Debug, Default)]
struct PeerEntry {
    /// Its IKE SAs (any state).
    sas: HashSet<Cookies>,
    /// Its ESP SA pairs, by our SPI.
    children: HashSet<u32>,
    /// An IKE SA of this 4-tuple was established: [`Event::PeerGone`] is due when the entry
    /// empties.
    established: bool,
    /// When the peer was last heard from (authenticated IKE, or ESP through
    /// [`Responder::note_activity`]); set once established.
    activity: Option<Instant>,
}

/// A sans-IO IKEv1 responder for many peers.
///
/// Feed it datagrams with [`Responder::handle_datagram`] and time with
/// [`Responder::handle_timeout`]; drain [`Responder::poll_transmit`], [`Responder::poll_event`]
/// and [`Responder::poll_timeout`] after each call.
pub struct Responder {
    config: ResponderConfig,
    rng: ChaCha20Rng,
    sas: HashMap<Cookies, IkeSa>,
    /// (client address, initiator cookie) of every half-open SA, to its responder cookie.
    half_open_index: HashMap<(SocketAddr, [u8; 8]), [u8; 8]>,
    /// The half-open SAs (Main Mode not finished), counted per source address and in total.
    half_open: HalfOpen,
    children: HashMap<u32, Child>,
    /// The SAs and ESP SA pairs of each 4-tuple.
    peers: HashMap<Peer, PeerEntry>,
    /// Every deadline: one entry per IKE SA and per ESP SA pair.
    timers: Timers<TimerKey>,
    /// Diffie-Hellman computations per source address.
    dh_limit: RateLimiter,
    /// Our SPIs of every pending Quick Mode, of any IKE SA.
    pending_spis: HashSet<u32>,
    /// Plain-ESP pairs and Quick Modes in progress, by public address and 4-tuple: plain ESP
    /// is told apart by address alone, so one address serves one such peer at a time.
    plain_esp: HashMap<IpAddr, HashMap<Peer, usize>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl core::fmt::Debug for Responder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responder")
            .field("ike_sas", &self.sas.len())
            .field("child_sas", &self.children.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn clamp_lifetime(offered: Lifetime, b: &LifetimeBounds) -> (Lifetime, bool) {
    let secs = offered.secs.clamp(b.min_secs, b.max_secs.max(b.min_secs));
    let kb = match (offered.kb, b.max_kb) {
        (Some(o), Some(m)) => Some(o.min(m)),
        (None, Some(m)) => Some(m),
        (o, None) => o,
    };
    let shortened = secs < offered.secs
        || matches!((offered.kb, kb), (Some(o), Some(k)) if k < o)
        || (offered.kb.is_none() && kb.is_some());
    (Lifetime { secs, kb }, shortened)
}

fn local_v4(a: SocketAddr) -> Ipv4Addr {
    match a.ip() {
        IpAddr::V4(v) => v,
        IpAddr::V6(v) => v.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

impl Responder {
    /// A responder with `config`, drawing cookies, nonces, SPIs and DH secrets from `rng_seed`.
    pub fn new(config: ResponderConfig, rng_seed: [u8; 32]) -> Self {
        Self {
            half_open: HalfOpen::new(config.max_half_open, config.max_half_open_per_ip),
            dh_limit: RateLimiter::new(config.dh_rate_limit),
            config,
            rng: ChaCha20Rng::from_seed(rng_seed),
            sas: HashMap::new(),
            half_open_index: HashMap::new(),
            children: HashMap::new(),
            peers: HashMap::new(),
            timers: Timers::new(),
            pending_spis: HashSet::new(),
            plain_esp: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Turns [`Event::Phase1Keys`] on or off (see [`ResponderConfig::keylog`]).
    pub fn set_keylog(&mut self, on: bool) {
        self.config.keylog = on;
    }

    /// Handles one ISAKMP message (the non-ESP marker already stripped on port 4500).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
    ) {
        if let Err(e) = self.process(now, Peer { local, remote }, msg) {
            match &e {
                Error::Malformed(w) => {
                    self.stats.malformed += 1;
                    debug!(%remote, error = %w, "dropping malformed ISAKMP message");
                }
                Error::RateLimited(reason) => {
                    self.stats.dh_rate_limited += 1;
                    debug!(%remote, %reason, "IKE message dropped by a rate limit");
                    self.events.push_back(Event::Refused {
                        peer: Peer { local, remote },
                        reason: reason.clone(),
                    });
                }
                Error::Refused(reason) => {
                    self.stats.dropped += 1;
                    // Refusals are reported as events; the owner logs them rate-limited. A
                    // stream of refused packets must never become a stream of warnings.
                    debug!(%remote, %reason, "IKE negotiation refused");
                    self.events.push_back(Event::Refused {
                        peer: Peer { local, remote },
                        reason: reason.clone(),
                    });
                }
                other => {
                    self.stats.dropped += 1;
                    debug!(%remote, error = %other, "dropping ISAKMP message");
                }
            }
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The earliest deadline, if any: O(log n), whatever the number of SAs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn dpd_interval(&self) -> Option<Duration> {
        self.config.dpd_interval.filter(|i| !i.is_zero())
    }

    /// The peer showed it is alive outside IKE (an ESP packet that verified): dead peer
    /// detection counts from now (RFC 3706 §5.3: DPD is needed only when there is no traffic).
    /// Only established peers are tracked; other 4-tuples are ignored. O(1): the DPD timer is
    /// not moved; when it fires it looks at the latest activity.
    pub fn note_activity(&mut self, peer: Peer, now: Instant) {
        if let Some(e) = self.peers.get_mut(&peer)
            && let Some(t) = &mut e.activity
        {
            *t = (*t).max(now);
        }
    }

    /// Moves every SA of `from` to the 4-tuple `to`: the NAT in front of the peer changed its
    /// public address or port, and the owner saw a packet from `to` that authenticated under
    /// one of the peer's SAs (as in IKEv2, RFC 7296 §2.23, the end not behind the NAT follows the
    /// last valid
    /// UDP-encapsulated packet). Returns false, moving nothing, when `to` already belongs to
    /// another peer or `from` has nothing. Costs O(SAs of the peer).
    pub fn rebind_peer(&mut self, from: Peer, to: Peer) -> bool {
        if from == to || self.peers.contains_key(&to) {
            return false;
        }
        let Some(entry) = self.peers.remove(&from) else {
            return false;
        };
        for key in &entry.sas {
            if let Some(sa) = self.sas.get_mut(key) {
                sa.peer = to;
                if let Some(rcky) = self.half_open_index.remove(&(from.remote, key.0)) {
                    self.half_open_index.insert((to.remote, key.0), rcky);
                }
            }
        }
        for spi in &entry.children {
            if let Some(c) = self.children.get_mut(spi) {
                c.peer = to;
            }
        }
        self.peers.insert(to, entry);
        info!(%from, %to, "peer moved to a new 4-tuple (NAT mapping changed)");
        true
    }

    /// Status rows, one per IKE SA.
    pub fn peers(&self, now: Instant) -> Vec<PeerSnapshot> {
        let mut rows: Vec<PeerSnapshot> = self
            .sas
            .values()
            .map(|sa| PeerSnapshot {
                peer: sa.peer,
                phase1: sa.info.clone(),
                ike_expires_in_secs: secs_left(now, sa.expires),
                children: self
                    .peers
                    .get(&sa.peer)
                    .into_iter()
                    .flat_map(|e| e.children.iter())
                    .filter_map(|spi| self.children.get(spi).map(|c| (spi, c)))
                    .map(|(spi, c)| (*spi, c.spi_out, secs_left(now, c.expires)))
                    .collect(),
            })
            .collect();
        for r in &mut rows {
            r.children.sort_unstable();
        }
        rows.sort_by_key(|r| r.peer);
        rows
    }

    /// Deletes one ESP SA pair of `peer` (our SPI `spi_in`) and tells the peer.
    pub fn delete_child(&mut self, now: Instant, peer: Peer, spi_in: u32) {
        if self.children.get(&spi_in).is_none_or(|c| c.peer != peer) {
            return;
        }
        self.send_delete(now, peer, protocol::ESP, &spi_in.to_be_bytes());
        self.drop_child(spi_in, "ESP SA deleted by us");
    }

    /// Deletes everything of `peer` (for disconnecting a user) and tells the peer.
    pub fn delete_peer(&mut self, now: Instant, peer: Peer) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let spis: Vec<u32> = entry.children.iter().copied().collect();
        let keys: Vec<Cookies> = entry.sas.iter().copied().collect();
        for spi in spis {
            self.delete_child(now, peer, spi);
        }
        for k in keys {
            self.send_delete_via(now, k, protocol::ISAKMP, &cookie_spi(k));
            self.remove_sa(&k);
        }
    }

    /// Advances timers: retransmissions, half-open expiry, SA lifetimes, DPD. Costs
    /// O(due · log n): only the objects whose deadline passed are looked at.
    pub fn handle_timeout(&mut self, now: Instant) {
        for key in self.timers.expire(now) {
            match key {
                TimerKey::Sa(k) => self.on_sa_timer(now, k),
                TimerKey::Child(spi) => self.on_child_timer(now, spi),
            }
        }
    }

    fn on_sa_timer(&mut self, now: Instant, key: Cookies) {
        let Some(mut sa) = self.sas.remove(&key) else {
            return;
        };
        // The entry was taken out of the set by `expire`.
        sa.timer = None;
        let peer = sa.peer;
        if sa.expires <= now {
            if sa.state == MmState::Established {
                info!(%peer, "IKE SA lifetime expired");
                // Tell the peer (RFC 2408 §3.15: protocol ISAKMP, the cookie pair as SPI), so
                // that it does not keep using an SA we have forgotten.
                let spi = cookie_spi(sa.cookies);
                let d = Payload::Delete(DeleteRepr {
                    doi: isakmp::DOI_IPSEC,
                    protocol: protocol::ISAKMP,
                    spi_size: 16,
                    spis: &spi,
                });
                match informational(&mut self.rng, &sa, &[d]) {
                    Ok(m) => self.push_tx(peer, m),
                    Err(e) => debug!(error = %e, "could not build Delete"),
                }
            } else {
                debug!(%peer, reason = %RefuseReason::Timeout, "half-open IKE SA expired");
                self.events.push_back(Event::Refused {
                    peer,
                    reason: RefuseReason::Timeout,
                });
            }
            self.drop_sa(sa);
            return;
        }
        let interval = self.config.retransmit_interval;
        let max = self.config.retransmit_tries;
        let mut resend = Vec::new();
        if let Some(r) = &mut sa.retx
            && r.at <= now
        {
            if r.tries < max {
                r.tries += 1;
                r.at = now + interval;
                resend.push(sa.last_tx.clone());
            } else {
                sa.retx = None;
            }
        }
        let expired: Vec<u32> = sa
            .qms
            .iter()
            .filter(|(_, q)| q.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(q) = sa.qms.remove(&id) {
                debug!(message_id = id, "Quick Mode expired unfinished");
                self.forget_qm(&q);
            }
        }
        sa.qms.retain(|_, q| {
            if let Some(r) = &mut q.retx
                && r.at <= now
            {
                if r.tries < max {
                    r.tries += 1;
                    r.at = now + interval;
                    resend.push(q.last_tx.clone());
                } else {
                    q.retx = None;
                }
            }
            true
        });
        for msg in resend {
            self.stats.retransmitted += 1;
            self.push_tx(peer, msg);
        }
        if self.dpd_due(&sa).is_some_and(|due| due <= now)
            && let Some((unanswered, silent)) = self.dpd_step(now, &mut sa)
        {
            self.declare_dead(peer, unanswered, silent);
            self.drop_sa(sa);
            return;
        }
        self.put_sa(sa);
    }

    fn on_child_timer(&mut self, now: Instant, spi: u32) {
        let Some(c) = self.children.get_mut(&spi) else {
            return;
        };
        c.timer = None;
        let peer = c.peer;
        self.send_delete(now, peer, protocol::ESP, &spi.to_be_bytes());
        self.drop_child(spi, "ESP SA lifetime expired");
    }

    /// When DPD next wants to look at this SA (RFC 3706 §5.3): the pending probe's deadline,
    /// or one interval after the peer was last heard from.
    fn dpd_due(&self, sa: &IkeSa) -> Option<Instant> {
        let interval = self.dpd_interval()?;
        if sa.state != MmState::Established || !sa.vendor.dpd {
            return None;
        }
        match (sa.dpd.probe_since, sa.dpd.next) {
            (Some(_), Some(next)) => Some(next),
            _ => self
                .peers
                .get(&sa.peer)
                .and_then(|e| e.activity)
                .map(|t| t + interval),
        }
    }

    /// RFC 3706 §5.3-§5.5 for one SA whose DPD time came: probe an idle peer, or give up on a
    /// silent one (returns the unanswered count and how long the peer was silent).
    fn dpd_step(&mut self, now: Instant, sa: &mut IkeSa) -> Option<(u32, Duration)> {
        let interval = self.dpd_interval()?;
        let failures = self.config.dpd_failures.max(1);
        let last = self.peers.get(&sa.peer).and_then(|e| e.activity)?;
        if sa.dpd.probe_since.is_some_and(|since| last >= since) {
            sa.dpd = Dpd {
                seq: sa.dpd.seq,
                ..Dpd::default()
            };
        }
        match (sa.dpd.probe_since, sa.dpd.next) {
            (None, _) if now >= last + interval => {
                sa.dpd.probe_since = Some(now);
                sa.dpd.next = Some(now + interval);
                self.send_r_u_there(sa);
            }
            (Some(_), Some(next)) if now >= next => {
                if sa.dpd.unanswered >= failures {
                    return Some((sa.dpd.unanswered, now.saturating_duration_since(last)));
                }
                sa.dpd.next = Some(now + interval);
                self.send_r_u_there(sa);
            }
            _ => {}
        }
        None
    }

    /// DPD gave up on `peer` (RFC 3706 §5.5): every ESP SA pair and every other IKE SA of the
    /// 4-tuple goes. The caller drops the SA it holds.
    fn declare_dead(&mut self, peer: Peer, unanswered: u32, silent: Duration) {
        // Once per authenticated peer; the owner logs the event for the operator.
        info!(
            %peer,
            unanswered,
            silent_secs = silent.as_secs(),
            "the client stopped answering dead peer detection (R-U-THERE); removing it"
        );
        self.events.push_back(Event::DeadPeer {
            peer,
            unanswered,
            silent_secs: silent.as_secs(),
        });
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let spis: Vec<u32> = entry.children.iter().copied().collect();
        let keys: Vec<Cookies> = entry.sas.iter().copied().collect();
        for spi in spis {
            self.drop_child(spi, "ESP SA of a dead peer removed");
        }
        for k in keys {
            self.remove_sa(&k);
        }
    }

    /// Sends one R-U-THERE on `sa` (RFC 3706 §5.1: Notify 36136, the cookies as SPI, a 32-bit
    /// sequence number as data).
    fn send_r_u_there(&mut self, sa: &mut IkeSa) {
        if sa.dpd.seq == 0 {
            // RFC 3706 §7: the first sequence number is random.
            sa.dpd.seq = self.rng.r#gen::<u32>() >> 1 | 1;
        } else {
            sa.dpd.seq = sa.dpd.seq.wrapping_add(1);
        }
        sa.dpd.unanswered += 1;
        let seq = sa.dpd.seq.to_be_bytes();
        let spi = cookie_spi(sa.cookies);
        let n = Payload::Notification(NotifyRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ISAKMP,
            kind: NotifyType::RUThere,
            spi: &spi,
            data: &seq,
        });
        match informational(&mut self.rng, sa, &[n]) {
            Ok(m) => {
                debug!(peer = %sa.peer, seq = sa.dpd.seq, unanswered = sa.dpd.unanswered, "DPD R-U-THERE sent");
                self.push_tx(sa.peer, m);
            }
            Err(e) => debug!(error = %e, "could not build R-U-THERE"),
        }
    }

    fn process(&mut self, now: Instant, peer: Peer, msg: &[u8]) -> Result<(), Error> {
        let packet = Packet::new_checked(msg)?;
        let header = HeaderRepr::parse(&packet);
        let msg = msg.get(..packet.length() as usize).unwrap_or(msg);
        if header.version >> 4 != 1 {
            return Err(wire::Error::bad_value("isakmp.version").into());
        }
        let key = (header.initiator_cookie, header.responder_cookie);
        if header.responder_cookie == [0; 8] {
            return match header.exchange {
                ExchangeType::IdentityProtection => self.on_mm1(now, peer, header, msg),
                ExchangeType::Aggressive => {
                    // Validate the structure first so that garbage is counted as malformed.
                    Repr::parse(msg)?;
                    Err(Error::Refused(RefuseReason::UnsupportedExchange(
                        header.exchange.into(),
                    )))
                }
                _ => Err(Error::PeerMisbehaved(
                    "zero responder cookie outside Main Mode",
                )),
            };
        }
        let Some(mut sa) = self.sas.remove(&key) else {
            self.stats.unknown_sa += 1;
            return Err(Error::PeerMisbehaved("unknown IKE SA"));
        };
        let r = self.on_existing(now, peer, header, msg, &mut sa);
        if matches!(r, Ok(true)) && sa.state == MmState::Established {
            // An authenticated message (or a retransmission of one) from the peer.
            self.note_activity(sa.peer, now);
        }
        // A failed Quick Mode or Informational never costs the IKE SA; a refused Main Mode does.
        let phase2 = header.exchange != ExchangeType::IdentityProtection;
        match r {
            Ok(true)
            | Err(
                Error::Malformed(_)
                | Error::PeerMisbehaved(_)
                | Error::Unsupported(_)
                | Error::RateLimited(_),
            ) => {
                self.put_sa(sa);
            }
            Err(_) if phase2 => self.put_sa(sa),
            Ok(false) | Err(_) => self.drop_sa(sa),
        }
        r.map(|_| ())
    }

    /// Returns whether the SA stays.
    ///
    /// `from` is the message's 4-tuple. It differs from the SA's only for the NAT-T float
    /// (RFC 3947 §4: to our NAT-T port, same addresses, after NAT-T was negotiated), and the
    /// float is committed only once the message decrypted and its HASH verified: a forged
    /// message from the new port moves nothing.
    fn on_existing(
        &mut self,
        now: Instant,
        from: Peer,
        header: HeaderRepr,
        msg: &[u8],
        sa: &mut IkeSa,
    ) -> Result<bool, Error> {
        let floats = from != sa.peer;
        if floats && !self.may_float(sa, from) {
            self.stats.wrong_peer += 1;
            return Err(Error::PeerMisbehaved("message from another 4-tuple"));
        }
        match header.exchange {
            ExchangeType::IdentityProtection => {
                if fingerprint(msg) == sa.last_rx {
                    if floats {
                        self.stats.wrong_peer += 1;
                        return Err(Error::PeerMisbehaved("retransmission from another 4-tuple"));
                    }
                    self.stats.retransmitted += 1;
                    self.push_tx(sa.peer, sa.last_tx.clone());
                    return Ok(true);
                }
                match sa.state {
                    MmState::AwaitMm3 => self.on_mm3(now, header, msg, sa),
                    MmState::AwaitMm5 => self.on_mm5(now, from, header, msg, sa),
                    MmState::Established => Err(Error::PeerMisbehaved(
                        "Main Mode message after establishment",
                    )),
                }
            }
            ExchangeType::QuickMode if sa.state == MmState::Established => {
                self.on_quick_mode(now, from, header, msg, sa)?;
                Ok(true)
            }
            ExchangeType::Informational if sa.state == MmState::Established => {
                self.on_informational(now, from, header, msg, sa)
            }
            _ => Err(Error::PeerMisbehaved("exchange not allowed in this state")),
        }
    }

    /// Whether `sa` may move to `to` by the NAT-T float (RFC 3947 §4): NAT-T was negotiated,
    /// the SA is not on our NAT-T port yet, `to` is, and both addresses stay.
    fn may_float(&self, sa: &IkeSa, to: Peer) -> bool {
        sa.nat_t.is_some()
            && to.local.port() == self.config.nat_t_port
            && sa.peer.local.port() != self.config.nat_t_port
            && to.remote.ip() == sa.peer.remote.ip()
            && to.local.ip() == sa.peer.local.ip()
    }

    /// Commits the NAT-T float of `sa` to `from`, once a message from there authenticated.
    fn commit_float(&mut self, now: Instant, sa: &mut IkeSa, from: Peer) {
        if from != sa.peer {
            info!(from = %sa.peer, to = %from, "peer floated to the NAT-T port");
            self.move_sa(now, sa, from);
        }
    }

    fn on_mm1(
        &mut self,
        now: Instant,
        peer: Peer,
        header: HeaderRepr,
        msg: &[u8],
    ) -> Result<(), Error> {
        let repr = Repr::parse(msg)?;
        if let Some(rcky) = self
            .half_open_index
            .get(&(peer.remote, header.initiator_cookie))
        {
            if let Some(sa) = self.sas.get(&(header.initiator_cookie, *rcky))
                && sa.last_rx == fingerprint(msg)
            {
                self.stats.retransmitted += 1;
                let (p, m) = (sa.peer, sa.last_tx.clone());
                self.push_tx(p, m);
                return Ok(());
            }
            return Err(Error::PeerMisbehaved(
                "second Main Mode message 1 with a cookie in use",
            ));
        }
        let Body::Plain(payloads) = &repr.body else {
            return Err(Error::PeerMisbehaved("encrypted Main Mode message 1"));
        };
        let Some(Payload::Sa(sa_i)) = payloads.first() else {
            return Err(Error::PeerMisbehaved(
                "Main Mode message 1 without SA first",
            ));
        };
        let mut vendor = VendorInfo::default();
        for p in payloads {
            if let Payload::VendorId(v) = p {
                vendor.observe(v);
            }
        }
        let Some(choice) = suite::choose_phase1(&sa_i.proposals, &self.config.policy) else {
            // Tell the client at once (RFC 2408 §5.4: NO-PROPOSAL-CHOSEN in an unprotected
            // Informational), so that it fails fast instead of retransmitting.
            let mut rcky = [0u8; 8];
            self.rng.fill_bytes(&mut rcky);
            let notify = Payload::Notification(NotifyRepr {
                doi: isakmp::DOI_IPSEC,
                protocol: protocol::ISAKMP,
                kind: NotifyType::NoProposalChosen,
                spi: &[],
                data: &[],
            });
            let h = HeaderRepr {
                responder_cookie: rcky,
                exchange: ExchangeType::Informational,
                flags: 0,
                message_id: 0,
                ..header
            };
            let m = Repr {
                header: h,
                body: Body::Plain(vec![notify]),
            }
            .to_vec()?;
            self.push_tx(peer, m);
            return Err(Error::Refused(RefuseReason::NoIkeProposal {
                offered: suite::describe_p1_offer(&sa_i.proposals),
                hint: suite::policy_hint(&sa_i.proposals, &self.config.policy),
            }));
        };
        let sa_i_b = raw_first_body(&packet_payload(msg)?, PayloadType::Sa)?;
        self.make_room_for(peer)?;
        let mut rcky = [0u8; 8];
        while rcky == [0; 8] || self.sas.contains_key(&(header.initiator_cookie, rcky)) {
            self.rng.fill_bytes(&mut rcky);
        }
        let (pi, ti) = (choice.proposal, choice.transform);
        let prop = sa_i
            .proposals
            .get(pi)
            .ok_or(Error::PeerMisbehaved("proposal index"))?;
        let t = prop
            .transforms
            .get(ti)
            .ok_or(Error::PeerMisbehaved("transform index"))?
            .clone();
        let sa_r = SaRepr {
            doi: sa_i.doi,
            situation: sa_i.situation,
            proposals: vec![ProposalRepr {
                number: prop.number,
                protocol: prop.protocol,
                spi: prop.spi,
                transforms: vec![t],
            }],
        };
        let mut out = vec![Payload::Sa(sa_r)];
        let nat_vid = vendor.nat_t.map(NatDialect::vendor_id);
        if let Some(v) = &nat_vid {
            out.push(Payload::VendorId(v));
        }
        if vendor.dpd {
            out.push(Payload::VendorId(&vendor::DPD));
        }
        let h = HeaderRepr {
            responder_cookie: rcky,
            flags: 0,
            ..header
        };
        let mm2 = Repr {
            header: h,
            body: Body::Plain(out),
        }
        .to_vec()?;
        let (lt, shortened) = clamp_lifetime(choice.suite.lifetime, &self.config.phase1_lifetime);
        info!(%peer, suite = %choice.suite, nat_t = ?vendor.nat_t, ms_nt5 = ?vendor.ms_nt5_version, "Main Mode 1: proposal chosen");
        let sa = IkeSa {
            peer,
            cookies: (header.initiator_cookie, rcky),
            state: MmState::AwaitMm3,
            suite: choice.suite,
            vendor,
            sa_i_b,
            dh: None,
            g_xi: Vec::new(),
            g_xr: Vec::new(),
            ni_b: Vec::new(),
            nr_b: Vec::new(),
            keys: None,
            nat_t: None,
            nat_detected: false,
            last_rx: fingerprint(msg),
            last_tx: mm2.clone(),
            // No timer resends MM2: MM1's source address is unproven (it may be spoofed, and a
            // timer would reflect MM2 at it several times). A client that lost MM2 resends MM1,
            // and an identical MM1 gets MM2 again, once per copy.
            retx: None,
            expires: now + self.config.half_open_timeout,
            lifetime_secs: lt.secs,
            lifetime_announce: shortened.then_some(lt),
            qms: HashMap::new(),
            done_qms: VecDeque::new(),
            info: None,
            dpd: Dpd::default(),
            timer: None,
        };
        self.half_open_index
            .insert((peer.remote, header.initiator_cookie), rcky);
        self.half_open.insert(peer.remote.ip(), sa.cookies);
        self.peers.entry(peer).or_default().sas.insert(sa.cookies);
        self.put_sa(sa);
        self.push_tx(peer, mm2);
        Ok(())
    }

    /// Makes room for a new half-open SA from `peer` (see [`crate::half_open`]): evicts entries
    /// still waiting for MM3 as the bounds require, or refuses when only entries past MM3 fill
    /// a bound.
    fn make_room_for(&mut self, peer: Peer) -> Result<(), Error> {
        loop {
            match self.half_open.admit(peer.remote.ip()) {
                Admission::Admit => return Ok(()),
                Admission::Evict(victim) => {
                    self.stats.half_open_evicted += 1;
                    if let Some(sa) = self.sas.remove(&victim) {
                        debug!(peer = %sa.peer, for_ = %peer, "half-open IKE SA evicted for a newcomer");
                        self.drop_sa(sa);
                    } else {
                        // Not in the table (cannot happen: both are updated together); forget
                        // it so the loop ends.
                        self.half_open.remove(&victim);
                    }
                }
                Admission::Refuse => return Err(Error::Refused(RefuseReason::HalfOpenLimit)),
            }
        }
    }

    /// Established IKE SAs of `peer` (in the table; O(its SAs)).
    fn established_sas_of(&self, peer: Peer) -> usize {
        self.peers.get(&peer).map_or(0, |e| {
            e.sas
                .iter()
                .filter(|k| {
                    self.sas
                        .get(k)
                        .is_some_and(|s| s.state == MmState::Established)
                })
                .count()
        })
    }

    /// Whether `sa` may start one more Quick Mode: pending ones per IKE SA, and ESP SA pairs
    /// per IKE SA (live plus pending) and per 4-tuple (live, including those whose IKE SA is
    /// gone) stay under their caps. O(SAs of the peer), itself capped.
    fn check_child_room(&self, sa: &IkeSa) -> Result<(), Error> {
        let c = &self.config;
        if sa.qms.len() >= c.max_quick_modes_per_ike_sa {
            return Err(Error::Refused(RefuseReason::TooManyQuickModes));
        }
        let of_peer: Vec<&Child> = self
            .peers
            .get(&sa.peer)
            .into_iter()
            .flat_map(|e| e.children.iter())
            .filter_map(|spi| self.children.get(spi))
            .collect();
        let of_sa = of_peer.iter().filter(|ch| ch.ike == sa.cookies).count();
        let per_peer = c
            .max_child_sas_per_ike_sa
            .saturating_mul(c.max_ike_sas_per_peer);
        if of_sa + sa.qms.len() >= c.max_child_sas_per_ike_sa || of_peer.len() >= per_peer {
            return Err(Error::Refused(RefuseReason::TooManyChildSas));
        }
        Ok(())
    }

    /// Takes a token of `peer`'s address for one Diffie-Hellman computation
    /// ([`ResponderConfig::dh_rate_limit`]).
    fn take_dh_token(&mut self, peer: Peer, now: Instant) -> Result<(), Error> {
        if !self.dh_limit.allow(peer.remote.ip(), now) {
            return Err(Error::RateLimited(RefuseReason::KeyExchangeRateLimited));
        }
        self.stats.key_exchanges += 1;
        Ok(())
    }

    fn on_mm3(
        &mut self,
        now: Instant,
        header: HeaderRepr,
        msg: &[u8],
        sa: &mut IkeSa,
    ) -> Result<bool, Error> {
        let repr = Repr::parse(msg)?;
        let Body::Plain(payloads) = &repr.body else {
            return Err(Error::PeerMisbehaved("encrypted Main Mode message 3"));
        };
        let mut ke = None;
        let mut nonce = None;
        let mut natd: Vec<&[u8]> = Vec::new();
        for p in payloads {
            match p {
                Payload::KeyExchange(k) => ke = Some(*k),
                Payload::Nonce(n) => nonce = Some(*n),
                Payload::NatD { hash, .. } => natd.push(hash),
                _ => {}
            }
        }
        let (Some(ke), Some(ni)) = (ke, nonce) else {
            return Err(Error::PeerMisbehaved(
                "Main Mode message 3 without KE or Nonce",
            ));
        };
        check_nonce(ni, false)?;
        // Only a peer that echoed our responder cookie, from the 4-tuple of its MM1, gets
        // here (the SA is found by both cookies and `on_existing` checks the 4-tuple): it
        // receives what we send. Even so, its address pays for the work.
        self.take_dh_token(sa.peer, now)?;
        let (dh, g_xr) = sa.suite.group.generate(&mut self.rng);
        let g_xy = dh
            .compute_shared(ke)
            .map_err(|_| Error::Refused(RefuseReason::BadKeyExchange))?;
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nr);
        let (icky, rcky) = sa.cookies;
        let keys = Keys::derive(
            sa.suite,
            self.config.psk.as_bytes(),
            ni,
            &nr,
            g_xy.as_bytes(),
            ke,
            &g_xr,
            &icky,
            &rcky,
        )?;
        let h = sa.suite.hash;
        let mut out_natd: Vec<Vec<u8>> = Vec::new();
        if let (Some(dialect), Some(first)) = (sa.vendor.nat_t, natd.first()) {
            let ours = nat_d(h, &icky, &rcky, sa.peer.local);
            let theirs = nat_d(h, &icky, &rcky, sa.peer.remote);
            let us_behind = !crypto::ct_eq(first, &ours);
            let client_behind = !natd.iter().skip(1).any(|d| crypto::ct_eq(d, &theirs));
            let trick = self.config.nat_d_trick;
            sa.nat_t = Some(dialect);
            sa.nat_detected = trick || us_behind || client_behind;
            // First NAT-D: the destination (the client). With the trick it can never match
            // (clients.md A.1: "Randomize in order to be forced to use NAT").
            let for_client = if trick {
                let mut r = vec![0u8; h.output_len()];
                self.rng.fill_bytes(&mut r);
                r
            } else {
                theirs
            };
            // Second NAT-D: us. For Microsoft peers the trick parrots the client's own hash of
            // our address, so Windows never thinks the server is behind NAT (clients.md B.2).
            let for_us = if trick && sa.vendor.is_microsoft() {
                first.to_vec()
            } else {
                ours
            };
            out_natd.push(for_client);
            out_natd.push(for_us);
            info!(peer = %sa.peer, dialect = dialect.name(), us_behind, client_behind, trick, "NAT detection");
        }
        let mut out = vec![Payload::KeyExchange(&g_xr), Payload::Nonce(&nr)];
        let draft = sa.nat_t.is_some_and(NatDialect::is_draft);
        for d in &out_natd {
            out.push(Payload::NatD { draft, hash: d });
        }
        let mm4 = Repr {
            header: HeaderRepr { flags: 0, ..header },
            body: Body::Plain(out),
        }
        .to_vec()?;
        sa.g_xi = ke.to_vec();
        sa.g_xr = g_xr.clone();
        sa.ni_b = ni.to_vec();
        sa.nr_b = nr;
        sa.dh = Some(dh);
        sa.keys = Some(Box::new(keys));
        sa.state = MmState::AwaitMm5;
        // Return-routable and DH done: no newcomer may evict it any more.
        self.half_open.promote(&sa.cookies);
        sa.last_rx = fingerprint(msg);
        sa.last_tx = mm4.clone();
        sa.retx = Some(Retx {
            at: now + self.config.retransmit_interval,
            tries: 0,
        });
        self.push_tx(sa.peer, mm4);
        Ok(true)
    }

    fn on_mm5(
        &mut self,
        now: Instant,
        from: Peer,
        header: HeaderRepr,
        msg: &[u8],
        sa: &mut IkeSa,
    ) -> Result<bool, Error> {
        let repr = Repr::parse(msg)?;
        let Body::Encrypted { first, data } = repr.body else {
            return Err(Error::PeerMisbehaved("unencrypted Main Mode message 5"));
        };
        let keys = sa.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
        let garbage = Error::Refused(RefuseReason::PskMismatch(PskSymptom::Mm5Garbage));
        let (plain, next_iv) = keys.decrypt(&keys.iv, data).map_err(|_| garbage.clone())?;
        let mut id_b = None;
        let mut hash = None;
        let mut initial_contact = false;
        let mut it = Payloads::new(first, &plain);
        for p in &mut it {
            let p = p.map_err(|_| garbage.clone())?;
            match Payload::parse(p.kind, p.body).map_err(|_| garbage.clone())? {
                Payload::Identification(_) => id_b = Some(p.body),
                Payload::Hash(h) => hash = Some(h),
                Payload::Notification(n) if n.kind == NotifyType::InitialContact => {
                    initial_contact = true
                }
                _ => {}
            }
        }
        let (Some(id_b), Some(hash)) = (id_b, hash) else {
            return Err(garbage);
        };
        let (icky, rcky) = sa.cookies;
        let expected = crypto::ikev1::hash_i(
            keys.prf(),
            keys.skeyid.as_bytes(),
            &sa.g_xi,
            &sa.g_xr,
            &icky,
            &rcky,
            &sa.sa_i_b,
            id_b,
        );
        let proof = verify_hash(&expected, hash).ok_or(Error::Refused(
            RefuseReason::PskMismatch(PskSymptom::HashMismatch),
        ))?;
        self.commit_float(now, sa, from);
        let keys = sa.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
        if self.established_sas_of(sa.peer) >= self.config.max_ike_sas_per_peer {
            return Err(Error::Refused(RefuseReason::TooManyIkeSas));
        }
        let me = self
            .config
            .identity
            .unwrap_or_else(|| local_v4(sa.peer.local))
            .octets();
        // RFC 2407 §4.6.2: in phase 1 the ID port and protocol are zero or UDP/500.
        let id_r = IdRepr {
            id_type: IdType::Ipv4Addr,
            protocol: 17,
            port: 500,
            data: &me,
        };
        let id_r_b = Payload::Identification(id_r).body_bytes()?;
        let hash_r = crypto::ikev1::hash_r(
            keys.prf(),
            keys.skeyid.as_bytes(),
            &sa.g_xr,
            &sa.g_xi,
            &rcky,
            &icky,
            &sa.sa_i_b,
            &id_r_b,
        );
        let (mm6, last_block) = keys.encrypt_message(
            header,
            &[Payload::Identification(id_r), Payload::Hash(&hash_r)],
            &next_iv,
        )?;
        if let Some(k) = sa.keys.as_mut() {
            k.iv = last_block;
        }
        sa.dh = None;
        sa.establish(proof);
        sa.last_rx = fingerprint(msg);
        sa.last_tx = mm6.clone();
        sa.retx = None;
        sa.expires = now + Duration::from_secs(sa.lifetime_secs);
        self.half_open_index.remove(&(sa.peer.remote, icky));
        self.half_open.remove(&sa.cookies);
        let info = Phase1Info {
            suite: sa.suite,
            vendor: sa.vendor.clone(),
            nat_t: sa.nat_t,
            nat_detected: sa.nat_detected,
            lifetime_secs: sa.lifetime_secs,
        };
        sa.info = Some(info.clone());
        self.push_tx(sa.peer, mm6);
        if let Some(lt) = sa.lifetime_announce.take() {
            self.announce_lifetime(sa, lt);
        }
        info!(peer = %sa.peer, suite = %sa.suite, "IKE SA established");
        let entry = self.peers.entry(sa.peer).or_default();
        entry.established = true;
        entry.activity = Some(entry.activity.map_or(now, |t| t.max(now)));
        if self.config.keylog
            && let Some(k) = sa.keys.as_ref()
        {
            self.events.push_back(Event::Phase1Keys {
                peer: sa.peer,
                cky_i: icky,
                enc_key: k.enc_key.clone(),
            });
        }
        self.events.push_back(Event::Phase1Established {
            peer: sa.peer,
            info,
        });
        if initial_contact || sa.vendor.ms_initial_contact {
            self.initial_contact(sa.peer, sa.cookies);
        }
        Ok(true)
    }

    /// Tells the peer the phase 1 lifetime we granted when we shortened its proposal: the
    /// RESPONDER-LIFETIME notify (RFC 2407 §4.6.3.1; protocol ISAKMP, the cookie pair as SPI,
    /// Life Type/Duration attributes of RFC 2409 Appendix A) in an Informational exchange right
    /// after MM6. That is where Apple's racoon (macOS, iOS) handles a phase 1
    /// RESPONDER-LIFETIME (`isakmp_info_recv_n` in its `isakmp_inf.c`); strongSwan logs and
    /// ignores a status notify it does not know (`src/libcharon/sa/ikev1/tasks/informational.c`),
    /// as libreswan does ("ignoring informational payload", `programs/pluto/ikev1.c`), and a
    /// peer that ignores it still learns the end from our Delete when the SA expires.
    fn announce_lifetime(&mut self, sa: &IkeSa, lt: Lifetime) {
        let spi = cookie_spi(sa.cookies);
        let data = life_attributes(p1attr::LIFE_TYPE, p1attr::LIFE_DURATION, lt);
        let n = Payload::Notification(NotifyRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ISAKMP,
            kind: NotifyType::ResponderLifetime,
            spi: &spi,
            data: &data,
        });
        match informational(&mut self.rng, sa, &[n]) {
            Ok(m) => {
                info!(peer = %sa.peer, offered = sa.suite.lifetime.secs, granted = lt.secs, "shortening the IKE SA lifetime");
                self.push_tx(sa.peer, m);
            }
            Err(e) => debug!(error = %e, "could not build RESPONDER-LIFETIME"),
        }
    }

    /// INITIAL-CONTACT (RFC 2407 §4.6.3.3): the peer has rebooted; forget its older SAs. Only
    /// this exact 4-tuple is affected.
    fn initial_contact(&mut self, peer: Peer, keep: Cookies) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let old: Vec<Cookies> = entry.sas.iter().filter(|k| **k != keep).copied().collect();
        let spis: Vec<u32> = entry
            .children
            .iter()
            .filter(|spi| self.children.get(spi).is_some_and(|c| c.ike != keep))
            .copied()
            .collect();
        for k in old {
            debug!(%peer, "INITIAL-CONTACT: dropping an older IKE SA");
            self.remove_sa(&k);
        }
        for spi in spis {
            self.drop_child(spi, "INITIAL-CONTACT: dropping an older ESP SA");
        }
    }

    fn on_quick_mode(
        &mut self,
        now: Instant,
        from: Peer,
        header: HeaderRepr,
        msg: &[u8],
        sa: &mut IkeSa,
    ) -> Result<(), Error> {
        let id = header.message_id;
        if id == 0 {
            return Err(Error::PeerMisbehaved("Quick Mode with message ID 0"));
        }
        let repr = Repr::parse(msg)?;
        let Body::Encrypted { first, data } = repr.body else {
            return Err(Error::PeerMisbehaved("unencrypted Quick Mode"));
        };
        let keys = sa.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
        if let Some(q) = sa.qms.get(&id) {
            if q.last_rx == fingerprint(msg) {
                if from != sa.peer {
                    self.stats.wrong_peer += 1;
                    return Err(Error::PeerMisbehaved("retransmission from another 4-tuple"));
                }
                self.stats.retransmitted += 1;
                self.push_tx(sa.peer, q.last_tx.clone());
                return Ok(());
            }
            // Message 3: HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
            let (plain, _) = keys.decrypt(&q.iv, data)?;
            let (ps, _) = isakmp::parse_payloads(first, &plain, true)?;
            let Some(Payload::Hash(h)) = ps.first() else {
                return Err(Error::PeerMisbehaved("Quick Mode 3 without HASH"));
            };
            let expected =
                crypto::ikev1::qm_hash3(keys.prf(), keys.skeyid_a.as_bytes(), id, &q.ni_b, &q.nr_b);
            let proof = verify_hash(&expected, h)
                .ok_or(Error::PeerMisbehaved("Quick Mode HASH(3) did not verify"))?;
            self.commit_float(now, sa, from);
            let Some(q) = sa.qms.remove(&id) else {
                return Ok(());
            };
            self.pending_spis.remove(&q.pending.spi_in);
            let plain = q.plain;
            let mut child = q.complete(proof);
            child.peer = sa.peer;
            info!(peer = %sa.peer, spi_in = format_args!("{:08x}", child.spi_in), spi_out = format_args!("{:08x}", child.spi_out),
                suite = %child.suite, "ESP SA established");
            self.add_child(
                child.spi_in,
                Child {
                    peer: sa.peer,
                    ike: sa.cookies,
                    spi_out: child.spi_out,
                    expires: now + Duration::from_secs(child.lifetime_secs),
                    timer: None,
                    plain,
                },
            );
            sa.done_qms.push_back(id);
            if sa.done_qms.len() > 32 {
                sa.done_qms.pop_front();
            }
            self.events.push_back(Event::ChildSaEstablished(child));
            return Ok(());
        }
        if sa.done_qms.contains(&id) {
            return Err(Error::PeerMisbehaved("message for a finished Quick Mode"));
        }
        let iv = keys.phase2_iv(id);
        let (plain, next_iv) = keys.decrypt(&iv, data)?;
        let (hash, rest) = hashed_rest(first, &plain)?;
        let expected = crypto::ikev1::qm_hash1(keys.prf(), keys.skeyid_a.as_bytes(), id, rest);
        if !crypto::ct_eq(&expected, hash) {
            return Err(Error::Refused(RefuseReason::QuickModeHash));
        }
        self.commit_float(now, sa, from);
        let keys = sa.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
        self.check_child_room(sa)?;
        let (ps, _) = isakmp::parse_payloads(first, &plain, true)?;
        let mut sa_i = None;
        let mut ni = None;
        let mut ke = None;
        let mut ids: Vec<IdRepr<'_>> = Vec::new();
        let mut nat_oa: Vec<Ipv4Addr> = Vec::new();
        let mut nat_oa_draft = false;
        for p in &ps {
            match p {
                Payload::Sa(s) => sa_i = Some(s),
                Payload::Nonce(n) => ni = Some(*n),
                Payload::KeyExchange(k) => ke = Some(*k),
                Payload::Identification(i) => ids.push(*i),
                Payload::NatOa { draft, oa } => {
                    nat_oa_draft = *draft;
                    if let Some(a) = oa.ipv4() {
                        nat_oa.push(a);
                    }
                }
                _ => {}
            }
        }
        let (Some(sa_i), Some(ni)) = (sa_i, ni) else {
            return Err(Error::PeerMisbehaved("Quick Mode 1 without SA or Nonce"));
        };
        check_nonce(ni, true)?;
        let choice = suite::choose_esp(&sa_i.proposals, &self.config.policy).map_err(|e| {
            Error::Refused(match e {
                EspRefusal::Tunnel => RefuseReason::TunnelMode,
                EspRefusal::Unsupported => RefuseReason::NoEspProposal {
                    offered: suite::describe_esp_offer(&sa_i.proposals),
                },
            })
        })?;
        let esp = choice.suite;
        if ids.len() == 2 {
            for i in &ids {
                if !matches!(i.protocol, 0 | 17) || !matches!(i.port, 0 | L2TP_PORT) {
                    return Err(Error::Refused(RefuseReason::NotL2tp {
                        protocol: i.protocol,
                        port: i.port,
                    }));
                }
            }
        } else if !ids.is_empty() {
            return Err(Error::PeerMisbehaved("Quick Mode with one ID payload"));
        }
        let encapsulation = match esp.mode {
            EncapsulationMode::UdpTransport => {
                let dialect = sa.nat_t.unwrap_or(if esp.mode_value == 4 {
                    NatDialect::Rfc3947
                } else {
                    NatDialect::Draft02N
                });
                Encapsulation::UdpTransport(dialect)
            }
            _ => Encapsulation::Transport,
        };
        if encapsulation == Encapsulation::Transport {
            self.check_plain_esp(sa)?;
        }
        let prop = sa_i
            .proposals
            .get(choice.proposal)
            .ok_or(Error::PeerMisbehaved("proposal index"))?;
        let spi_out = u32::from_be_bytes(
            prop.spi
                .try_into()
                .map_err(|_| Error::PeerMisbehaved("ESP SPI size"))?,
        );
        let mut spi_in = 0u32;
        // Unique among every installed pair and every pending Quick Mode of any IKE SA: the
        // owner finds the SA by this SPI alone (RFC 4301 §4.1 lets the receiver pick it).
        while spi_in < 0x100
            || self.children.contains_key(&spi_in)
            || self.pending_spis.contains(&spi_in)
        {
            spi_in = self.rng.r#gen();
        }
        let (pfs_priv, g_qm) = match (esp.pfs, ke) {
            (Some(g), Some(ke)) => {
                self.take_dh_token(sa.peer, now)?;
                let (d, pubv) = g.generate(&mut self.rng);
                let shared = d
                    .compute_shared(ke)
                    .map_err(|_| Error::Refused(RefuseReason::BadKeyExchange))?;
                (Some(pubv), Some(shared))
            }
            (None, None) => (None, None),
            _ => return Err(Error::PeerMisbehaved("KE payload and PFS group disagree")),
        };
        let (lt, shortened) = clamp_lifetime(esp.lifetime, &self.config.phase2_lifetime);
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nr);
        let klen = esp.cipher.key_len() + esp.integ.key_len();
        let km = |spi: u32| {
            crypto::ikev1::keymat(
                keys.prf(),
                keys.skeyid_d.as_bytes(),
                g_qm.as_ref().map(Secret::as_bytes),
                protocol::ESP,
                spi.to_be_bytes(),
                ni,
                &nr,
                klen,
            )
        };
        let (enc_in, auth_in) = split_keymat(&km(spi_in), esp.cipher.key_len());
        let (enc_out, auth_out) = split_keymat(&km(spi_out), esp.cipher.key_len());
        let t = prop
            .transforms
            .get(choice.transform)
            .ok_or(Error::PeerMisbehaved("transform index"))?
            .clone();
        let spi_in_b = spi_in.to_be_bytes();
        let sa_r = SaRepr {
            doi: sa_i.doi,
            situation: sa_i.situation,
            proposals: vec![ProposalRepr {
                number: prop.number,
                protocol: protocol::ESP,
                spi: &spi_in_b,
                transforms: vec![t],
            }],
        };
        let mut out = vec![Payload::Hash(&[]), Payload::Sa(sa_r), Payload::Nonce(&nr)];
        if let Some(k) = &pfs_priv {
            out.push(Payload::KeyExchange(k));
        }
        for i in &ids {
            out.push(Payload::Identification(*i));
        }
        let remote_ip = local_v4(sa.peer.remote).octets();
        let local_ip = local_v4(sa.peer.local).octets();
        if !nat_oa.is_empty() {
            // RFC 3947 §5.2: the responder sends NAT-OAi (the initiator as it sees it) and
            // NAT-OAr (itself); the drafts carry only the sender's own address.
            if nat_oa_draft {
                out.push(Payload::NatOa {
                    draft: true,
                    oa: NatOaRepr {
                        id_type: IdType::Ipv4Addr,
                        address: &local_ip,
                    },
                });
            } else {
                out.push(Payload::NatOa {
                    draft: false,
                    oa: NatOaRepr {
                        id_type: IdType::Ipv4Addr,
                        address: &remote_ip,
                    },
                });
                out.push(Payload::NatOa {
                    draft: false,
                    oa: NatOaRepr {
                        id_type: IdType::Ipv4Addr,
                        address: &local_ip,
                    },
                });
            }
        }
        let life_attrs = life_attributes(p2attr::LIFE_TYPE, p2attr::LIFE_DURATION, lt);
        if shortened {
            // RFC 2407 §4.6.3.1 RESPONDER-LIFETIME, with the lifetime we actually grant; its
            // SPI is "the sender's inbound IPSEC SPI", ours.
            out.push(Payload::Notification(NotifyRepr {
                doi: isakmp::DOI_IPSEC,
                protocol: protocol::ESP,
                kind: NotifyType::ResponderLifetime,
                spi: &spi_in_b,
                data: &life_attrs,
            }));
            info!(peer = %sa.peer, offered = esp.lifetime.secs, granted = lt.secs, "shortening the ESP lifetime");
        }
        let rest_len = isakmp::payloads_len(out.get(1..).unwrap_or_default());
        let mut rest = vec![0u8; rest_len];
        isakmp::emit_payloads(out.get(1..).unwrap_or_default(), &mut rest)?;
        let hash2 = crypto::ikev1::qm_hash2(keys.prf(), keys.skeyid_a.as_bytes(), id, ni, &rest);
        if let Some(first) = out.first_mut() {
            *first = Payload::Hash(&hash2);
        }
        let (qm2, iv_after) = keys.encrypt_message(header, &out, &next_iv)?;
        let client = ids.first();
        let child = Box::new(ChildSa {
            peer: sa.peer,
            spi_in,
            spi_out,
            cipher: esp.cipher,
            integ: esp.integ,
            enc_key_in: enc_in,
            auth_key_in: auth_in,
            enc_key_out: enc_out,
            auth_key_out: auth_out,
            encapsulation,
            nat_oa_i: nat_oa.first().copied(),
            nat_oa_r: if nat_oa_draft {
                None
            } else {
                nat_oa.get(1).copied()
            },
            lifetime_secs: lt.secs,
            lifetime_kb: lt.kb,
            client_id: client.and_then(IdRepr::ipv4),
            client_port: client.map_or(0, |i| i.port),
            suite: esp,
        });
        self.pending_spis.insert(spi_in);
        let plain = (encapsulation == Encapsulation::Transport).then_some(sa.peer);
        if let Some(p) = plain {
            self.count_plain_esp(p, true);
        }
        sa.qms.insert(
            id,
            Qm {
                iv: iv_after,
                last_rx: fingerprint(msg),
                last_tx: qm2.clone(),
                retx: Some(Retx {
                    at: now + self.config.retransmit_interval,
                    tries: 0,
                }),
                expires: now + self.config.half_open_timeout,
                ni_b: ni.to_vec(),
                nr_b: nr.clone(),
                pending: child,
                plain,
            },
        );
        self.push_tx(sa.peer, qm2);
        Ok(())
    }

    fn on_informational(
        &mut self,
        now: Instant,
        from: Peer,
        header: HeaderRepr,
        msg: &[u8],
        sa: &mut IkeSa,
    ) -> Result<bool, Error> {
        let repr = Repr::parse(msg)?;
        let Body::Encrypted { first, data } = repr.body else {
            return Err(Error::PeerMisbehaved(
                "unencrypted Informational after phase 1",
            ));
        };
        let keys = sa.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
        let id = header.message_id;
        let (plain, _) = keys.decrypt(&keys.phase2_iv(id), data)?;
        let (hash, rest) = hashed_rest(first, &plain)?;
        let expected =
            crypto::ikev1::informational_hash(keys.prf(), keys.skeyid_a.as_bytes(), id, rest);
        if !crypto::ct_eq(&expected, hash) {
            return Err(Error::PeerMisbehaved("Informational HASH did not verify"));
        }
        self.commit_float(now, sa, from);
        let (ps, _) = isakmp::parse_payloads(first, &plain, true)?;
        let mut keep = true;
        let peer = sa.peer;
        let mut acks: Vec<Vec<u8>> = Vec::new();
        for p in &ps {
            match p {
                Payload::Notification(n) if n.kind == NotifyType::RUThere => {
                    acks.push(n.data.to_vec())
                }
                Payload::Notification(n) if n.kind == NotifyType::RUThereAck => {
                    // RFC 3706 §5.5: the answer to our R-U-THERE; any authenticated message
                    // counts as proof of life (activity is noted by the caller).
                    debug!(%peer, seq = ?n.data, "DPD R-U-THERE-ACK received");
                    sa.dpd = Dpd {
                        seq: sa.dpd.seq,
                        ..Dpd::default()
                    };
                }
                Payload::Notification(n) if n.kind == NotifyType::InitialContact => {
                    self.initial_contact(peer, sa.cookies);
                }
                Payload::Delete(d) if d.protocol == protocol::ESP && d.spi_size == 4 => {
                    for spi in d.spis() {
                        let Ok(b) = <[u8; 4]>::try_from(spi) else {
                            continue;
                        };
                        let x = u32::from_be_bytes(b);
                        // The sender names its inbound SPI (our spi_out); accept ours too.
                        let found = self.peers.get(&peer).and_then(|e| {
                            e.children.iter().copied().find(|s| {
                                *s == x || self.children.get(s).is_some_and(|c| c.spi_out == x)
                            })
                        });
                        if let Some(spi_in) = found {
                            self.drop_child(spi_in, "ESP SA deleted by the peer");
                        }
                    }
                }
                Payload::Delete(d) if d.protocol == protocol::ISAKMP => {
                    for spi in d.spis() {
                        if spi.get(..8) == Some(&sa.cookies.0[..])
                            && spi.get(8..) == Some(&sa.cookies.1[..])
                        {
                            info!(%peer, "IKE SA deleted by the peer");
                            keep = false;
                        }
                    }
                }
                _ => {}
            }
        }
        for seq in acks {
            let spi = cookie_spi(sa.cookies);
            let n = Payload::Notification(NotifyRepr {
                doi: isakmp::DOI_IPSEC,
                protocol: protocol::ISAKMP,
                kind: NotifyType::RUThereAck,
                spi: &spi,
                data: &seq,
            });
            let m = informational(&mut self.rng, sa, &[n])?;
            self.push_tx(peer, m);
        }
        let _ = now;
        Ok(keep)
    }

    /// Sends a Delete for `spi` to `peer` under one of its established IKE SAs, if it has one.
    fn send_delete(&mut self, now: Instant, peer: Peer, proto: u8, spi: &[u8]) {
        let key = self.peers.get(&peer).and_then(|e| {
            e.sas.iter().copied().find(|k| {
                self.sas
                    .get(k)
                    .is_some_and(|s| s.state == MmState::Established)
            })
        });
        if let Some(k) = key {
            self.send_delete_via(now, k, proto, spi);
        }
    }

    fn send_delete_via(&mut self, _now: Instant, key: Cookies, proto: u8, spi: &[u8]) {
        let Some(sa) = self.sas.get(&key) else {
            return;
        };
        if sa.state != MmState::Established {
            return;
        }
        let d = Payload::Delete(DeleteRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: proto,
            spi_size: u8::try_from(spi.len()).unwrap_or(0),
            spis: spi,
        });
        let peer = sa.peer;
        match informational(&mut self.rng, sa, &[d]) {
            Ok(m) => self.push_tx(peer, m),
            Err(e) => debug!(error = %e, "could not build Delete"),
        }
    }

    /// (Re)inserts `sa`, with its timer entry at its earliest deadline.
    fn put_sa(&mut self, mut sa: IkeSa) {
        let own = sa.deadline();
        let at = self.dpd_due(&sa).map_or(own, |d| d.min(own));
        self.timers
            .set(&mut sa.timer, TimerKey::Sa(sa.cookies), Some(at));
        self.sas.insert(sa.cookies, sa);
    }

    fn remove_sa(&mut self, key: &Cookies) {
        if let Some(sa) = self.sas.remove(key) {
            self.drop_sa(sa);
        }
    }

    /// Forgets an IKE SA that is out of the table: its timer, its half-open accounting and its
    /// place in the peer index (possibly [`Event::PeerGone`]).
    fn drop_sa(&mut self, mut sa: IkeSa) {
        self.timers
            .set(&mut sa.timer, TimerKey::Sa(sa.cookies), None);
        for q in sa.qms.values() {
            self.forget_qm(q);
        }
        if sa.state != MmState::Established {
            self.half_open_index.remove(&(sa.peer.remote, sa.cookies.0));
            self.half_open.remove(&sa.cookies);
        }
        if let Some(e) = self.peers.get_mut(&sa.peer) {
            e.sas.remove(&sa.cookies);
        }
        self.tidy_peer(sa.peer);
    }

    /// Moves `sa` (out of the table) to another 4-tuple in the peer index.
    fn move_sa(&mut self, now: Instant, sa: &mut IkeSa, to: Peer) {
        let from = sa.peer;
        if let Some(e) = self.peers.get_mut(&from) {
            e.sas.remove(&sa.cookies);
        }
        self.half_open_index.remove(&(from.remote, sa.cookies.0));
        let e = self.peers.entry(to).or_default();
        e.sas.insert(sa.cookies);
        if sa.state == MmState::Established {
            e.established = true;
            e.activity = Some(e.activity.map_or(now, |t| t.max(now)));
        }
        sa.peer = to;
        self.tidy_peer(from);
    }

    fn add_child(&mut self, spi_in: u32, mut c: Child) {
        self.timers
            .set(&mut c.timer, TimerKey::Child(spi_in), Some(c.expires));
        self.peers
            .entry(c.peer)
            .or_default()
            .children
            .insert(spi_in);
        self.children.insert(spi_in, c);
    }

    /// Removes one ESP SA pair, says so ([`Event::SaDeleted`]) and tidies its peer.
    fn drop_child(&mut self, spi_in: u32, why: &'static str) {
        let Some(mut c) = self.children.remove(&spi_in) else {
            return;
        };
        self.timers.set(&mut c.timer, TimerKey::Child(spi_in), None);
        info!(peer = %c.peer, spi_in = format_args!("{spi_in:08x}"), "{why}");
        if let Some(p) = c.plain {
            self.count_plain_esp(p, false);
        }
        self.events.push_back(Event::SaDeleted {
            peer: c.peer,
            spi_in,
            spi_out: c.spi_out,
        });
        if let Some(e) = self.peers.get_mut(&c.peer) {
            e.children.remove(&spi_in);
        }
        self.tidy_peer(c.peer);
    }

    /// Forgets the bookkeeping of a Quick Mode that ends unfinished.
    fn forget_qm(&mut self, q: &Qm) {
        self.pending_spis.remove(&q.pending.spi_in);
        if let Some(p) = q.plain {
            self.count_plain_esp(p, false);
        }
    }

    /// Counts a plain-ESP pair or Quick Mode of `peer` in or out.
    fn count_plain_esp(&mut self, peer: Peer, add: bool) {
        let ip = peer.remote.ip();
        let of_ip = self.plain_esp.entry(ip).or_default();
        let n = of_ip.entry(peer).or_default();
        if add {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
        }
        if *n == 0 {
            of_ip.remove(&peer);
        }
        if of_ip.is_empty() {
            self.plain_esp.remove(&ip);
        }
    }

    /// Whether `sa` may have a plain-ESP pair (transport mode without UDP encapsulation):
    /// raw ESP is on, no NAT was detected, and no other 4-tuple of the address holds one (the
    /// owner tells plain ESP apart by address alone, so two such clients behind one address
    /// would be merged).
    fn check_plain_esp(&self, sa: &IkeSa) -> Result<(), Error> {
        if !self.config.raw_esp {
            return Err(Error::Refused(RefuseReason::PlainEspUnavailable));
        }
        if sa.nat_detected {
            return Err(Error::Refused(RefuseReason::PlainEspBehindNat));
        }
        let taken = self
            .plain_esp
            .get(&sa.peer.remote.ip())
            .is_some_and(|of_ip| of_ip.keys().any(|p| *p != sa.peer));
        if taken {
            return Err(Error::Refused(RefuseReason::PlainEspAddressInUse));
        }
        Ok(())
    }

    /// Removes the entry of a 4-tuple that has nothing left; [`Event::PeerGone`] if it had been
    /// established.
    fn tidy_peer(&mut self, peer: Peer) {
        let Some(e) = self.peers.get(&peer) else {
            return;
        };
        if !e.sas.is_empty() || !e.children.is_empty() {
            return;
        }
        let established = e.established;
        self.peers.remove(&peer);
        if established {
            info!(%peer, "peer gone");
            self.events.push_back(Event::PeerGone { peer });
        }
    }

    fn push_tx(&mut self, peer: Peer, msg: Vec<u8>) {
        self.transmits.push_back(Transmit {
            local: peer.local,
            remote: peer.remote,
            payload: frame(peer.local.port() == self.config.nat_t_port, msg),
        });
    }
}

/// RFC 2409 §5: "The length of nonce payload MUST be between 8 and 256 bytes inclusive."
fn check_nonce(nonce: &[u8], quick_mode: bool) -> Result<(), Error> {
    if NONCE_RANGE.contains(&nonce.len()) {
        Ok(())
    } else {
        Err(Error::Refused(RefuseReason::NonceLength {
            len: nonce.len(),
            quick_mode,
        }))
    }
}

/// A lifetime as SA attributes (RFC 2407 §4.5, RFC 2409 Appendix A): Life Type seconds and its
/// Duration, then Life Type kilobytes and its Duration when limited. Durations use the
/// variable form, four octets, as Windows sends them.
fn life_attributes(type_attr: u16, duration_attr: u16, lt: Lifetime) -> Vec<u8> {
    let four = |v: u64| u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
    let secs = four(lt.secs);
    let kb = lt.kb.map(four);
    let mut attrs = vec![
        Attribute::Basic {
            kind: type_attr,
            value: 1,
        },
        Attribute::Variable {
            kind: duration_attr,
            value: &secs,
        },
    ];
    if let Some(kb) = &kb {
        attrs.push(Attribute::Basic {
            kind: type_attr,
            value: 2,
        });
        attrs.push(Attribute::Variable {
            kind: duration_attr,
            value: kb,
        });
    }
    let mut out = vec![0u8; attrs.iter().map(Attribute::buffer_len).sum()];
    let mut at = 0;
    for a in &attrs {
        if let Some(buf) = out.get_mut(at..) {
            // Cannot fail: `out` was sized from the same attributes.
            let _ = a.emit(buf);
        }
        at += a.buffer_len();
    }
    out
}

/// The ISAKMP SA's SPI in Notify and Delete payloads: CKY-I | CKY-R (RFC 2408 §3.14, §3.15).
fn cookie_spi(c: Cookies) -> [u8; 16] {
    let mut spi = [0u8; 16];
    spi[..8].copy_from_slice(&c.0);
    spi[8..].copy_from_slice(&c.1);
    spi
}

/// An Informational exchange on `sa` (RFC 2409 §5.7): HASH(1) = prf(SKEYID_a, M-ID | payloads),
/// encrypted from the phase 2 IV of a fresh message ID.
fn informational(
    rng: &mut ChaCha20Rng,
    sa: &IkeSa,
    payloads: &[Payload<'_>],
) -> Result<Vec<u8>, Error> {
    let keys = sa.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
    let mut id = 0u32;
    while id == 0 {
        id = rng.r#gen();
    }
    let rest_len = isakmp::payloads_len(payloads);
    let mut rest = vec![0u8; rest_len];
    isakmp::emit_payloads(payloads, &mut rest)?;
    let hash = crypto::ikev1::informational_hash(keys.prf(), keys.skeyid_a.as_bytes(), id, &rest);
    let mut all = vec![Payload::Hash(&hash)];
    all.extend(payloads.iter().cloned());
    let header = HeaderRepr {
        initiator_cookie: sa.cookies.0,
        responder_cookie: sa.cookies.1,
        version: isakmp::VERSION_1_0,
        exchange: ExchangeType::Informational,
        flags: flags::ENCRYPTION,
        message_id: id,
    };
    Ok(keys.encrypt_message(header, &all, &keys.phase2_iv(id))?.0)
}

/// The payload bytes after the header, up to Length.
fn packet_payload(msg: &[u8]) -> Result<Vec<u8>, Error> {
    let p = Packet::new_checked(msg)?;
    Ok(p.payload().to_vec())
}

/// The raw body of the first payload, which must be of type `kind`.
fn raw_first_body(payloads: &[u8], kind: PayloadType) -> Result<Vec<u8>, Error> {
    match Payloads::new(kind, payloads).next() {
        Some(Ok(p)) => Ok(p.body.to_vec()),
        Some(Err(e)) => Err(e.into()),
        None => Err(Error::PeerMisbehaved("missing payload")),
    }
}

/// Splits a decrypted phase 2 body into its leading HASH and the bytes the HASH covers (the
/// payloads after it, without padding; RFC 2409 §5.5).
pub(crate) fn hashed_rest(first: PayloadType, plain: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let mut it = Payloads::new(first, plain);
    let h = match it.next() {
        Some(Ok(p)) if p.kind == PayloadType::Hash => p.body,
        Some(Err(e)) => return Err(e.into()),
        _ => {
            return Err(Error::PeerMisbehaved(
                "phase 2 message does not start with HASH",
            ));
        }
    };
    let start = it.consumed();
    for p in &mut it {
        p?;
    }
    let rest = plain
        .get(start..it.consumed())
        .ok_or(Error::PeerMisbehaved("payload bounds"))?;
    Ok((h, rest))
}

/// KEYMAT = encryption key | authentication key (RFC 2409 §5.5; the order all implementations use).
pub(crate) fn split_keymat(km: &Secret, enc_len: usize) -> (Secret, Secret) {
    let b = km.as_bytes();
    let (e, a) = b.split_at_checked(enc_len).unwrap_or((b, &[]));
    (Secret::from_slice(e), Secret::from_slice(a))
}

#[cfg(test)]
mod tests;
