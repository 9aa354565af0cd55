//! The IKEv1 responder: Main Mode with a pre-shared key (RFC 2409 §5.4) or RSA signatures and
//! X.509 certificates (§5.1, when [`ResponderConfig::certificates`] is set), Quick Mode (§5.5),
//! Informational exchanges (§5.7; Delete and Notify of RFC 2408 §3.14/§3.15, DPD of RFC 3706),
//! and NAT traversal (RFC 3947; the draft-02 dialect Windows XP speaks).
//!
//! - [`main_mode`]: the phase 1 states `ExpectMm3` → `ExpectMm5` → `Established`, consumed by
//!   each transition; HASH_I's proof lives in `Established`, the only way to the keys.
//! - [`quick_mode`] and [`informational`]: phase 2 on an established SA.
//! - [`reply`]: our last message of an exchange and its retransmission, apart from the states.
//! - [`message`]: each datagram parsed once.
//! - This module: the tables (IKE SAs by cookie pair, ESP SA pairs by SPI, an index by
//!   4-tuple), every deadline in one set ([`crate::timers`]), and the bounds that keep strangers
//!   and PSK holders alike from exhausting us ([`crate::half_open`], [`crate::rate_limit`],
//!   the per-SA and per-4-tuple caps of [`ResponderConfig`]).
//!
//! Each IKE SA is found by its cookie pair and bound to the outer 4-tuple it was created on;
//! it moves only with the NAT-T float from port 500 to 4500 (RFC 3947 §4), committed once a
//! message from the new port decrypted and its HASH verified, or when the owner saw an
//! authenticated ESP packet from a new NAT mapping ([`Responder::rebind_peer`], the IKEv2 rule
//! of RFC 7296 §2.23; RFC 3947/3948 leave it open).
//!
//! Dead peer detection (RFC 3706 §5): peers that sent the DPD vendor ID get R-U-THERE after
//! [`crate::ResponderConfig::dpd_interval`] without any sign of life (an authenticated IKE
//! message, or ESP reported through [`Responder::note_activity`]), then once per interval;
//! after [`crate::ResponderConfig::dpd_failures`] unanswered ones every SA of the peer goes
//! ([`Event::DeadPeer`]). Peers without the VID (Windows) are never probed. INITIAL-CONTACT
//! (the notify, or Microsoft's Vid-Initial-Contact VID) clears the older SAs of **that 4-tuple
//! only**, never those of another client behind the same NAT.

mod informational;
mod main_mode;
mod message;
mod quick_mode;
mod reply;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, info};
use wire::isakmp::{ExchangeType, protocol};

use self::informational::cookie_spi;
use self::main_mode::{Cx, Established, ExpectMm3, ExpectMm5, Mm1, Mm3, no_proposal_chosen};
use self::message::{Message, walk};
use self::reply::{Reply, Resend};
use crate::config::{CertificateAuth, LifetimeBounds, ResponderConfig};
use crate::crypt::frame;
use crate::error::Error;
use crate::event::MAX_SA_PAYLOAD;
use crate::event::{Event, FourTuple, PeerSnapshot, RefuseReason, Stats, Transmit, secs_left};
use crate::half_open::{Admission, HalfOpen};
use crate::rate_limit::RateLimiter;
use crate::suite::Lifetime;
use crate::timers::Timers;
use crate::vendor::NatDialect;

/// Nonce length we send (RFC 2409 §5: 8..256 octets).
const NONCE_LEN: usize = 32;
/// Nonce lengths we accept (RFC 2409 §5).
const NONCE_RANGE: core::ops::RangeInclusive<usize> = 8..=256;

/// (initiator cookie, responder cookie): an IKE SA's name (RFC 2408 §2.5.3).
type Cookies = ([u8; 8], [u8; 8]);

/// Where an IKE SA is in Main Mode. The large states are boxed, so that an SA waiting for MM3
/// (the one a flood creates) stays small.
enum State {
    Mm3(ExpectMm3),
    Mm5(Box<ExpectMm5>),
    Established(Box<Established>),
    /// Only while a transition runs; an SA left here failed and is dropped.
    Failed,
}

struct IkeSa {
    peer: FourTuple,
    cookies: Cookies,
    state: State,
    /// Our last Main Mode message (MM2, MM4 with its timer, MM6), for the peer's
    /// retransmissions.
    reply: Reply,
    /// The half-open expiry, then the phase 1 lifetime.
    expires: Instant,
    /// This SA's entry in [`Responder::timers`]: its earliest deadline.
    timer: Option<Instant>,
}

impl IkeSa {
    fn established(&self) -> Result<&Established, Error> {
        match &self.state {
            State::Established(e) => Ok(e),
            _ => Err(Error::PeerMisbehaved("exchange not allowed in this state")),
        }
    }

    fn established_mut(&mut self) -> Result<&mut Established, Error> {
        match &mut self.state {
            State::Established(e) => Ok(e),
            _ => Err(Error::PeerMisbehaved("exchange not allowed in this state")),
        }
    }

    fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// The NAT-T dialect negotiated in MM3, if any.
    fn nat_t(&self) -> Option<NatDialect> {
        match &self.state {
            State::Mm5(s) => s.nat_t(),
            State::Established(e) => e.nat_t(),
            State::Mm3(_) | State::Failed => None,
        }
    }

    /// The SA's earliest deadline apart from DPD: its lifetime (or half-open expiry), MM4's
    /// retransmission, and the retransmission and expiry of its Quick Modes.
    fn deadline(&self) -> Instant {
        let own = self
            .reply
            .deadline()
            .map_or(self.expires, |t| t.min(self.expires));
        match &self.state {
            State::Established(e) => e
                .qms
                .values()
                .map(quick_mode::Qm::deadline)
                .fold(own, Instant::min),
            _ => own,
        }
    }
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

/// An installed ESP SA pair.
struct Child {
    peer: FourTuple,
    /// The IKE SA that negotiated it.
    ike: Cookies,
    spi_out: u32,
    expires: Instant,
    /// This pair's entry in [`Responder::timers`].
    timer: Option<Instant>,
    /// The 4-tuple this plain-ESP pair is counted under in [`Responder::plain_esp`].
    plain: Option<FourTuple>,
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
    /// Boxed: the table keeps spare slots, and an `IkeSa` is large.
    sas: HashMap<Cookies, Box<IkeSa>>,
    /// (client address, initiator cookie) of every half-open SA, to its responder cookie.
    half_open_index: HashMap<(SocketAddr, [u8; 8]), [u8; 8]>,
    /// The half-open SAs (Main Mode not finished), counted per source address and in total.
    half_open: HalfOpen,
    children: HashMap<u32, Child>,
    /// The SAs and ESP SA pairs of each 4-tuple.
    peers: HashMap<FourTuple, PeerEntry>,
    /// Every deadline: one entry per IKE SA and per ESP SA pair.
    timers: Timers<TimerKey>,
    /// Diffie-Hellman computations per source address.
    dh_limit: RateLimiter,
    /// Our SPIs of every pending Quick Mode, of any IKE SA.
    pending_spis: HashSet<u32>,
    /// Changes whenever `pending_spis` does.
    pending_version: u64,
    /// Plain-ESP pairs and Quick Modes in progress, by public address and 4-tuple: plain ESP
    /// is told apart by address alone, so one address serves one such peer at a time.
    plain_esp: HashMap<IpAddr, HashMap<FourTuple, usize>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// The wall-clock time at an `Instant`, set by the owner (certificate validity and CRLs
    /// are wall-clock time; the engine's clock is `Instant`). `None` until first set.
    wall_clock: Option<(Instant, SystemTime)>,
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

/// The initiator's lifetime clamped into our bounds (RFC 2407 §4.5), and whether it got
/// shorter (then RESPONDER-LIFETIME says so, RFC 2407 §4.6.3.1).
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
            pending_version: 0,
            plain_esp: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            wall_clock: None,
        }
    }

    /// Replaces the certificate settings (after the owner reloaded CRLs, CAs or our
    /// certificate). IKE SAs already authenticated stay; new Main Modes use `auth`.
    pub fn set_certificates(&mut self, auth: Option<CertificateAuth>) {
        self.config.certificates = auth;
    }

    /// Tells the engine that `now` is `wall` in wall-clock time. The owner calls it at start
    /// and again whenever it likes (each turn is fine); certificate checks use the last anchor
    /// moved forward by the `Instant` elapsed since.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall_clock = Some((now, wall));
    }

    /// The wall-clock time at `now`, from the last [`Responder::set_wall_clock`].
    fn wall_time(&self, now: Instant) -> Option<SystemTime> {
        let (at, wall) = self.wall_clock?;
        match now.checked_duration_since(at) {
            Some(ahead) => wall.checked_add(ahead),
            None => wall.checked_sub(at.saturating_duration_since(now)),
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
        let Err(e) = self.process(now, FourTuple { local, remote }, msg) else {
            return;
        };
        match e {
            Error::Malformed(w) => {
                self.stats.malformed += 1;
                debug!(%remote, error = %w, "dropping malformed ISAKMP message");
            }
            Error::RateLimited(reason) => {
                self.stats.dh_rate_limited += 1;
                debug!(%remote, %reason, "IKE message dropped by a rate limit");
                self.events.push_back(Event::Refused {
                    peer: FourTuple { local, remote },
                    reason,
                });
            }
            Error::Refused(reason) => {
                self.stats.dropped += 1;
                // Refusals are reported as events; the owner logs them rate-limited. A
                // stream of refused packets must never become a stream of warnings.
                debug!(%remote, %reason, "IKE negotiation refused");
                self.events.push_back(Event::Refused {
                    peer: FourTuple { local, remote },
                    reason,
                });
            }
            other => {
                self.stats.dropped += 1;
                debug!(%remote, error = %other, "dropping ISAKMP message");
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

    /// Our inbound SPIs of the Quick Modes answered with message 2 and awaiting message 3
    /// (RFC 2409 §5.5). A client sends ESP under such an SPI right behind message 3 (its
    /// L2TP SCCRQ, RFC 3193 §4); a caller that reads datagrams on several threads uses this
    /// set to keep that ESP behind message 3 instead of dropping it as unknown.
    pub fn awaiting_qm3(&self) -> impl Iterator<Item = u32> + '_ {
        self.pending_spis.iter().copied()
    }

    /// A number that changes whenever [`Self::awaiting_qm3`] does.
    pub fn awaiting_qm3_version(&self) -> u64 {
        self.pending_version
    }

    /// The peer showed it is alive outside IKE (an ESP packet that verified): dead peer
    /// detection counts from now (RFC 3706 §5.3: DPD is needed only when there is no traffic).
    /// Only established peers are tracked; other 4-tuples are ignored. O(1): the DPD timer is
    /// not moved; when it fires it looks at the latest activity.
    pub fn note_activity(&mut self, peer: FourTuple, now: Instant) {
        if let Some(e) = self.peers.get_mut(&peer)
            && let Some(t) = &mut e.activity
        {
            *t = (*t).max(now);
        }
    }

    /// Moves every SA of `from` to the 4-tuple `to`: the NAT in front of the peer changed its
    /// public address or port, and the owner saw a packet from `to` that authenticated under
    /// one of the peer's SAs (as in IKEv2, RFC 7296 §2.23, the end not behind the NAT follows
    /// the last valid UDP-encapsulated packet). Returns false, moving nothing, when `to`
    /// already belongs to another peer or `from` has nothing. Costs O(SAs of the peer).
    pub fn rebind_peer(&mut self, from: FourTuple, to: FourTuple) -> bool {
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
                phase1: sa.established().ok().map(|e| e.info.clone()),
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
    pub fn delete_child(&mut self, now: Instant, peer: FourTuple, spi_in: u32) {
        if self.children.get(&spi_in).is_none_or(|c| c.peer != peer) {
            return;
        }
        self.send_delete(now, peer, protocol::ESP, &spi_in.to_be_bytes());
        self.drop_child(spi_in, "ESP SA deleted by us");
    }

    /// Deletes everything of `peer` (for disconnecting a user) and tells the peer.
    pub fn delete_peer(&mut self, now: Instant, peer: FourTuple) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let spis: Vec<u32> = entry.children.iter().copied().collect();
        let keys: Vec<Cookies> = entry.sas.iter().copied().collect();
        for spi in spis {
            self.delete_child(now, peer, spi);
        }
        for k in keys {
            self.send_delete_via(k, protocol::ISAKMP, &cookie_spi(k));
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

    // ---- timers ------------------------------------------------------------------------------

    fn resend(&self) -> Resend {
        Resend {
            interval: self.config.retransmit_interval,
            tries: self.config.retransmit_tries,
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
            self.expire_sa(sa);
            return;
        }
        let resend = self.resend();
        if let Some(m) = sa.reply.on_timeout(now, resend) {
            let m = m.to_vec();
            self.stats.retransmitted += 1;
            self.push_tx(peer, m);
        }
        if let State::Established(est) = &mut sa.state {
            let expired: Vec<u32> = est
                .qms
                .iter()
                .filter(|(_, q)| q.expires <= now)
                .map(|(id, _)| *id)
                .collect();
            for id in expired {
                if let Some(q) = est.qms.remove(&id) {
                    debug!(message_id = id, "Quick Mode expired unfinished");
                    self.forget_qm(&q);
                }
            }
            if est.qms.is_empty() {
                est.qms.shrink_to_fit();
            }
            let mut resent = Vec::new();
            for q in est.qms.values_mut() {
                if let Some(m) = q.reply.on_timeout(now, resend) {
                    resent.push(m.to_vec());
                }
            }
            for m in resent {
                self.stats.retransmitted += 1;
                self.push_tx(peer, m);
            }
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

    /// The SA's lifetime or half-open time ran out. An established SA says so to the peer
    /// (RFC 2408 §3.15: Delete, protocol ISAKMP, the cookie pair as SPI), so that it does not
    /// keep using an SA we have forgotten.
    fn expire_sa(&mut self, sa: Box<IkeSa>) {
        let peer = sa.peer;
        if let Ok(est) = sa.established() {
            info!(%peer, "IKE SA lifetime expired");
            self.send_delete_on(
                peer,
                sa.cookies,
                est,
                protocol::ISAKMP,
                &cookie_spi(sa.cookies),
            );
        } else {
            debug!(%peer, reason = %RefuseReason::Timeout, "half-open IKE SA expired");
            self.events.push_back(Event::Refused {
                peer,
                reason: RefuseReason::Timeout,
            });
        }
        self.drop_sa(sa);
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

    fn dpd_interval(&self) -> Option<Duration> {
        self.config.dpd_interval.filter(|i| !i.is_zero())
    }

    /// When DPD next wants to look at this SA (RFC 3706 §5.3): the pending probe's deadline,
    /// or one interval after the peer was last heard from.
    fn dpd_due(&self, sa: &IkeSa) -> Option<Instant> {
        let interval = self.dpd_interval()?;
        let est = sa.established().ok().filter(|e| e.info.vendor.dpd)?;
        match (est.dpd.probe_since, est.dpd.next) {
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
        let (peer, cookies) = (sa.peer, sa.cookies);
        let est = sa.established_mut().ok()?;
        if est.dpd.probe_since.is_some_and(|since| last >= since) {
            est.dpd = Dpd {
                seq: est.dpd.seq,
                ..Dpd::default()
            };
        }
        match (est.dpd.probe_since, est.dpd.next) {
            (None, _) if now >= last + interval => {
                est.dpd.probe_since = Some(now);
                est.dpd.next = Some(now + interval);
                self.send_r_u_there(peer, cookies, est);
            }
            (Some(_), Some(next)) if now >= next => {
                if est.dpd.unanswered >= failures {
                    return Some((est.dpd.unanswered, now.saturating_duration_since(last)));
                }
                est.dpd.next = Some(now + interval);
                self.send_r_u_there(peer, cookies, est);
            }
            _ => {}
        }
        None
    }

    /// DPD gave up on `peer` (RFC 3706 §5.5): every ESP SA pair and every other IKE SA of the
    /// 4-tuple goes. The caller drops the SA it holds.
    fn declare_dead(&mut self, peer: FourTuple, unanswered: u32, silent: Duration) {
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

    // ---- messages ----------------------------------------------------------------------------

    fn process(&mut self, now: Instant, peer: FourTuple, datagram: &[u8]) -> Result<(), Error> {
        let msg = Message::parse(datagram)?;
        let h = msg.header;
        if h.responder_cookie == [0; 8] {
            return match h.exchange {
                ExchangeType::IdentityProtection => self.on_mm1(now, peer, &msg),
                ExchangeType::Aggressive => {
                    // Walk the payloads first so that garbage is counted as malformed.
                    if !msg.encrypted() {
                        walk(msg.first, msg.body, false)?;
                    }
                    Err(Error::Refused(RefuseReason::UnsupportedExchange(
                        h.exchange.into(),
                    )))
                }
                _ => Err(Error::PeerMisbehaved(
                    "zero responder cookie outside Main Mode",
                )),
            };
        }
        let Some(mut sa) = self.sas.remove(&(h.initiator_cookie, h.responder_cookie)) else {
            self.stats.unknown_sa += 1;
            return Err(Error::PeerMisbehaved("unknown IKE SA"));
        };
        let r = self.on_existing(now, peer, &msg, &mut sa);
        if matches!(r, Ok(true)) && sa.is_established() {
            // An authenticated message (or a retransmission of one) from the peer.
            self.note_activity(sa.peer, now);
        }
        // A failed Quick Mode or Informational never costs the IKE SA; a refused Main Mode
        // does, and so does any failure inside a Main Mode transition (the state is consumed).
        let keep = match &r {
            _ if matches!(sa.state, State::Failed) => false,
            Ok(keep) => *keep,
            Err(
                Error::Malformed(_)
                | Error::PeerMisbehaved(_)
                | Error::Unsupported(_)
                | Error::RateLimited(_),
            ) => true,
            Err(_) => h.exchange != ExchangeType::IdentityProtection,
        };
        if keep {
            self.put_sa(sa);
        } else {
            self.drop_sa(sa);
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
        from: FourTuple,
        msg: &Message<'_>,
        sa: &mut IkeSa,
    ) -> Result<bool, Error> {
        if from != sa.peer && !self.may_float(sa, from) {
            self.stats.wrong_peer += 1;
            return Err(Error::PeerMisbehaved("message from another 4-tuple"));
        }
        match msg.header.exchange {
            ExchangeType::IdentityProtection => self.on_main_mode(now, from, msg, sa),
            ExchangeType::QuickMode if sa.is_established() => {
                self.on_quick_mode(now, from, msg, sa)?;
                Ok(true)
            }
            ExchangeType::Informational if sa.is_established() => {
                self.on_informational(now, from, msg, sa)
            }
            _ => Err(Error::PeerMisbehaved("exchange not allowed in this state")),
        }
    }

    /// Whether `sa` may move to `to` by the NAT-T float (RFC 3947 §4): NAT-T was negotiated,
    /// the SA is not on our NAT-T port yet, `to` is, and both addresses stay.
    fn may_float(&self, sa: &IkeSa, to: FourTuple) -> bool {
        sa.nat_t().is_some()
            && to.local.port() == self.config.nat_t_port
            && sa.peer.local.port() != self.config.nat_t_port
            && to.remote.ip() == sa.peer.remote.ip()
            && to.local.ip() == sa.peer.local.ip()
    }

    /// Commits the NAT-T float of `sa` to `from`, once a message from there authenticated.
    fn commit_float(&mut self, now: Instant, sa: &mut IkeSa, from: FourTuple) {
        if from != sa.peer {
            info!(from = %sa.peer, to = %from, "peer floated to the NAT-T port");
            self.move_sa(now, sa, from);
        }
    }

    /// Our last message again, for a retransmission from the SA's own 4-tuple.
    fn answer_again(
        &mut self,
        from: FourTuple,
        peer: FourTuple,
        message: Vec<u8>,
    ) -> Result<(), Error> {
        if from != peer {
            self.stats.wrong_peer += 1;
            return Err(Error::PeerMisbehaved("retransmission from another 4-tuple"));
        }
        self.stats.retransmitted += 1;
        self.push_tx(peer, message);
        Ok(())
    }

    /// Main Mode message 1: a retransmission gets MM2 again; otherwise a proposal is chosen,
    /// room is made in the half-open table, and MM2 answers.
    fn on_mm1(&mut self, now: Instant, peer: FourTuple, msg: &Message<'_>) -> Result<(), Error> {
        let icky = msg.header.initiator_cookie;
        if let Some(rcky) = self.half_open_index.get(&(peer.remote, icky)) {
            let again = self
                .sas
                .get(&(icky, *rcky))
                .and_then(|sa| sa.reply.again(msg.bytes))
                .map(<[u8]>::to_vec)
                .ok_or(Error::PeerMisbehaved(
                    "second Main Mode message 1 with a cookie in use",
                ))?;
            return self.answer_again(peer, peer, again);
        }
        let mm1 = Mm1::read(msg)?;
        if mm1.sa_b.len() > MAX_SA_PAYLOAD {
            return Err(Error::Refused(RefuseReason::OfferTooLarge {
                len: mm1.sa_b.len(),
            }));
        }
        let Some(choice) = mm1.choose(&self.config) else {
            let notify = no_proposal_chosen(&mut self.rng, msg.header)?;
            self.push_tx(peer, notify);
            return Err(Error::Refused(mm1.refusal(&self.config)));
        };
        self.make_room_for(peer)?;
        let cookies = (icky, self.new_responder_cookie(icky));
        let cx = Cx {
            rng: &mut self.rng,
            config: &self.config,
            peer,
            cookies,
            header: msg.header,
            wall: None,
        };
        let (state, mm2) = ExpectMm3::answer(cx, &mm1, &choice)?;
        self.half_open_index.insert((peer.remote, icky), cookies.1);
        self.half_open.insert(peer.remote.ip(), cookies);
        self.peers.entry(peer).or_default().sas.insert(cookies);
        self.put_sa(Box::new(IkeSa {
            peer,
            cookies,
            state: State::Mm3(state),
            // No timer resends MM2: MM1's source address is unproven (see [`reply`]).
            reply: Reply::on_request(msg.bytes, mm2.clone()),
            expires: now + self.config.half_open_timeout,
            timer: None,
        }));
        self.push_tx(peer, mm2);
        Ok(())
    }

    fn new_responder_cookie(&mut self, icky: [u8; 8]) -> [u8; 8] {
        let mut rcky = [0u8; 8];
        while rcky == [0; 8] || self.sas.contains_key(&(icky, rcky)) {
            self.rng.fill_bytes(&mut rcky);
        }
        rcky
    }

    /// Main Mode messages 3 and 5 drive the state forward; a retransmission gets our last
    /// message again.
    fn on_main_mode(
        &mut self,
        now: Instant,
        from: FourTuple,
        msg: &Message<'_>,
        sa: &mut IkeSa,
    ) -> Result<bool, Error> {
        if let Some(again) = sa.reply.again(msg.bytes) {
            let again = again.to_vec();
            self.answer_again(from, sa.peer, again)?;
            return Ok(true);
        }
        match sa.state {
            State::Mm3(_) => self.on_mm3(now, msg, sa)?,
            State::Mm5(_) => self.on_mm5(now, from, msg, sa)?,
            State::Established(_) | State::Failed => {
                return Err(Error::PeerMisbehaved(
                    "Main Mode message after establishment",
                ));
            }
        }
        Ok(true)
    }

    /// MM3. What may fail without costing the SA is checked before the state is consumed:
    /// the message's shape, and the Diffie-Hellman rate limit of the sender's address. Only a
    /// peer that echoed our responder cookie, from the 4-tuple of its MM1, gets here (the SA
    /// is found by both cookies and [`Responder::on_existing`] checks the 4-tuple): it
    /// receives what we send.
    fn on_mm3(&mut self, now: Instant, msg: &Message<'_>, sa: &mut IkeSa) -> Result<(), Error> {
        let mm3 = Mm3::read(msg)?;
        self.take_dh_token(sa.peer, now)?;
        let State::Mm3(state) = core::mem::replace(&mut sa.state, State::Failed) else {
            return Err(Error::PeerMisbehaved("not waiting for Main Mode message 3"));
        };
        let cx = Cx {
            rng: &mut self.rng,
            config: &self.config,
            peer: sa.peer,
            cookies: sa.cookies,
            header: msg.header,
            wall: None,
        };
        let (next, mm4) = state.handle(cx, &mm3)?;
        sa.state = State::Mm5(Box::new(next));
        // Return-routable and DH done: no newcomer may evict it any more.
        self.half_open.promote(&sa.cookies);
        sa.reply = Reply::with_timer(msg.bytes, mm4.clone(), now, self.resend());
        self.push_tx(sa.peer, mm4);
        Ok(())
    }

    /// MM5: the initiator's identity and HASH_I; MM6 answers and the SA is established.
    fn on_mm5(
        &mut self,
        now: Instant,
        from: FourTuple,
        msg: &Message<'_>,
        sa: &mut IkeSa,
    ) -> Result<(), Error> {
        let ciphertext = msg.ciphertext("unencrypted Main Mode message 5")?;
        let room = self.established_sas_of(from) < self.config.max_ike_sas_per_peer;
        let wall = self.wall_time(now);
        let State::Mm5(state) = core::mem::replace(&mut sa.state, State::Failed) else {
            return Err(Error::PeerMisbehaved("not waiting for Main Mode message 5"));
        };
        let cx = Cx {
            rng: &mut self.rng,
            config: &self.config,
            peer: from,
            cookies: sa.cookies,
            header: msg.header,
            wall,
        };
        let (est, mm6) = state.handle(cx, msg.first, ciphertext, room)?;
        self.commit_float(now, sa, from);
        self.half_open_index.remove(&(sa.peer.remote, sa.cookies.0));
        self.half_open.remove(&sa.cookies);
        sa.expires = now + Duration::from_secs(est.info.lifetime_secs);
        sa.reply = Reply::on_request(msg.bytes, mm6.message.clone());
        self.push_tx(sa.peer, mm6.message);
        self.announce_lifetime(sa.peer, sa.cookies, &est);
        info!(peer = %sa.peer, suite = %est.info.suite, auth = %est.info.auth, "IKE SA established");
        let entry = self.peers.entry(sa.peer).or_default();
        entry.established = true;
        entry.activity = Some(entry.activity.map_or(now, |t| t.max(now)));
        if self.config.keylog {
            self.events.push_back(Event::Phase1Keys {
                peer: sa.peer,
                cky_i: sa.cookies.0,
                enc_key: est.keylog_key(),
            });
        }
        self.events.push_back(Event::Phase1Established {
            peer: sa.peer,
            info: est.info.clone(),
        });
        sa.state = State::Established(Box::new(est));
        if mm6.initial_contact {
            self.initial_contact(sa.peer, sa.cookies);
        }
        Ok(())
    }

    // ---- bounds ------------------------------------------------------------------------------

    /// Makes room for a new half-open SA from `peer` (see [`crate::half_open`]): evicts entries
    /// still waiting for MM3 as the bounds require, or refuses when only entries past MM3 fill
    /// a bound.
    fn make_room_for(&mut self, peer: FourTuple) -> Result<(), Error> {
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
    fn established_sas_of(&self, peer: FourTuple) -> usize {
        self.peers.get(&peer).map_or(0, |e| {
            e.sas
                .iter()
                .filter(|k| self.sas.get(k).is_some_and(|sa| sa.is_established()))
                .count()
        })
    }

    /// Whether `sa` may start one more Quick Mode: pending ones per IKE SA, and ESP SA pairs
    /// per IKE SA (live plus pending) and per 4-tuple (live, including those whose IKE SA is
    /// gone) stay under their caps. O(SAs of the peer), itself capped.
    fn check_child_room(&self, sa: &IkeSa) -> Result<(), Error> {
        let c = &self.config;
        let pending = sa.established()?.qms.len();
        if pending >= c.max_quick_modes_per_ike_sa {
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
        if of_sa + pending >= c.max_child_sas_per_ike_sa || of_peer.len() >= per_peer {
            return Err(Error::Refused(RefuseReason::TooManyChildSas));
        }
        Ok(())
    }

    /// Takes a token of `peer`'s address for one Diffie-Hellman computation
    /// ([`ResponderConfig::dh_rate_limit`]).
    fn take_dh_token(&mut self, peer: FourTuple, now: Instant) -> Result<(), Error> {
        if !self.dh_limit.allow(peer.remote.ip(), now) {
            return Err(Error::RateLimited(RefuseReason::KeyExchangeRateLimited));
        }
        self.stats.key_exchanges += 1;
        Ok(())
    }

    /// Whether `sa` may have a plain-ESP pair (transport mode without UDP encapsulation):
    /// raw ESP is on, no NAT was detected, and no other 4-tuple of the address holds one (the
    /// owner tells plain ESP apart by address alone, so two such clients behind one address
    /// would be merged).
    fn check_plain_esp(&self, sa: &IkeSa) -> Result<(), Error> {
        if !self.config.raw_esp {
            return Err(Error::Refused(RefuseReason::PlainEspUnavailable));
        }
        if sa.established()?.info.nat_detected {
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

    /// Counts a plain-ESP pair or Quick Mode of `peer` in or out.
    fn count_plain_esp(&mut self, peer: FourTuple, add: bool) {
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

    // ---- tables ------------------------------------------------------------------------------

    /// Sends a Delete for `spi` to `peer` under one of its established IKE SAs, if it has one.
    fn send_delete(&mut self, _now: Instant, peer: FourTuple, proto: u8, spi: &[u8]) {
        let key = self.peers.get(&peer).and_then(|e| {
            e.sas
                .iter()
                .copied()
                .find(|k| self.sas.get(k).is_some_and(|sa| sa.is_established()))
        });
        if let Some(k) = key {
            self.send_delete_via(k, proto, spi);
        }
    }

    /// Sends a Delete on the IKE SA `key`, if it is established.
    fn send_delete_via(&mut self, key: Cookies, proto: u8, spi: &[u8]) {
        // Out of the table for the call, back without touching its timer.
        let Some(sa) = self.sas.remove(&key) else {
            return;
        };
        if let Ok(est) = sa.established() {
            self.send_delete_on(sa.peer, key, est, proto, spi);
        }
        self.sas.insert(key, sa);
    }

    /// (Re)inserts `sa`, with its timer entry at its earliest deadline.
    fn put_sa(&mut self, mut sa: Box<IkeSa>) {
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

    /// Forgets an IKE SA that is out of the table: its timer, its Quick Modes, its half-open
    /// accounting and its place in the peer index (possibly [`Event::PeerGone`]).
    fn drop_sa(&mut self, mut sa: Box<IkeSa>) {
        self.timers
            .set(&mut sa.timer, TimerKey::Sa(sa.cookies), None);
        if let State::Established(est) = &sa.state {
            for q in est.qms.values() {
                self.forget_qm(q);
            }
        }
        if !sa.is_established() {
            self.half_open_index.remove(&(sa.peer.remote, sa.cookies.0));
            self.half_open.remove(&sa.cookies);
        }
        if let Some(e) = self.peers.get_mut(&sa.peer) {
            e.sas.remove(&sa.cookies);
        }
        self.tidy_peer(sa.peer);
    }

    /// Moves `sa` (out of the table) to another 4-tuple in the peer index.
    fn move_sa(&mut self, now: Instant, sa: &mut IkeSa, to: FourTuple) {
        let from = sa.peer;
        if let Some(e) = self.peers.get_mut(&from) {
            e.sas.remove(&sa.cookies);
        }
        self.half_open_index.remove(&(from.remote, sa.cookies.0));
        let e = self.peers.entry(to).or_default();
        e.sas.insert(sa.cookies);
        if sa.is_established() {
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
    fn forget_qm(&mut self, q: &quick_mode::Qm) {
        self.settle_spi(q.spi_in());
        if let Some(p) = q.plain {
            self.count_plain_esp(p, false);
        }
    }

    /// `spi` is no longer awaited by a Quick Mode (it completed or ended).
    fn settle_spi(&mut self, spi: u32) {
        if self.pending_spis.remove(&spi) {
            self.pending_version = self.pending_version.wrapping_add(1);
        }
    }

    /// Removes the entry of a 4-tuple that has nothing left; [`Event::PeerGone`] if it had been
    /// established.
    fn tidy_peer(&mut self, peer: FourTuple) {
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

    fn push_tx(&mut self, peer: FourTuple, msg: Vec<u8>) {
        self.transmits.push_back(Transmit {
            local: peer.local,
            remote: peer.remote,
            payload: frame(peer.local.port() == self.config.nat_t_port, msg),
        });
    }
}

#[cfg(test)]
mod tests;
