//! One client of the control plane: an outer 4-tuple with its ESP SA pairs, its own L2TP LNS
//! (RFC 2661) and the PPP sessions inside it (RFC 1661).
//!
//! Every client has its own tunnel table, so clients behind one NAT that use the same inner
//! addresses, ports, tunnel and session IDs never meet: Windows numbers its tunnels by
//! connection attempts since boot and iOS always uses 1, so tunnel and session IDs are only
//! unique per client.
//!
//! A [`Peer`] is a sans-IO object like the engines it holds: inputs are
//! [`Peer::handle_l2tp`] (an L2TP message the data plane decrypted and handed over) and
//! [`Peer::handle_timeout`]; outputs are sealed ESP packets ([`Peer::poll_transmit`]), events
//! for the server ([`Peer::poll_event`]) and its next deadline ([`Peer::poll_timeout`]). What
//! the data plane needs about it is [`Peer::spec`].
//!
//! Rekeying (RFC 2409 §5.5): a new ESP pair is installed next to the old one. We keep sending
//! on the old outbound SA until the client sends on the new inbound SA, and keep the old
//! inbound SA until the client deletes it or it expires, so nothing is lost in the switch.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use wire::FourTuple;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, info};

use config::MssClamp;

use crate::cause::EndCause;
use crate::dataplane::{self, Activity, PeerId, PeerSpec, SessionCounters, SessionSpec, Transmit};
use crate::escape::Printable;

/// The L2TP port (RFC 2661 §8.1).
pub(crate) const L2TP_PORT: u16 = 1701;

/// The IPv4 and TCP headers without options (RFC 791 §3.1, RFC 9293 §3.1): what an MSS leaves
/// out of an MTU.
const TCP_IP_HEADERS: u16 = 40;

/// The engine settings every peer shares.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) lns: l2tp::LnsConfig,
    pub(crate) link: ppp::LinkConfig,
    /// TCP MSS clamping in SYNs.
    pub(crate) mss_clamp: MssClamp,
    /// The TUN device's MTU: what the kernel sends us at most.
    pub(crate) tun_mtu: u16,
    /// `ppp.session_timeout_secs` (`None` for 0).
    pub(crate) session_timeout: Option<Duration>,
    /// `ppp.idle_timeout_secs` (`None` for 0).
    pub(crate) idle_timeout: Option<Duration>,
    /// `ppp.rate_limit`.
    pub(crate) rate_limit: Option<config::RateLimit>,
}

/// A session's limits, fixed when its IPCP comes up (see [`Policy::next_deadline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// How long the session may last.
    pub(crate) session_timeout: Option<Duration>,
    /// How long it may carry no IPv4 packet either way.
    pub(crate) idle_timeout: Option<Duration>,
    /// When the session timeout ends it.
    ends_at: Option<Instant>,
    /// When the idle counters are next compared.
    idle_check: Option<Instant>,
    /// IPv4 packets both ways at the last comparison.
    last_count: u64,
    /// The last comparison that saw the count change (or IPCP coming up).
    last_use: Instant,
}

impl Policy {
    /// The limits, counted from `now` (IPCP up) with `count` packets carried so far.
    pub(crate) fn new(
        session_timeout: Option<Duration>,
        idle_timeout: Option<Duration>,
        now: Instant,
        count: u64,
    ) -> Self {
        let mut p = Self {
            session_timeout,
            idle_timeout,
            ends_at: session_timeout.and_then(|t| now.checked_add(t)),
            idle_check: None,
            last_count: count,
            last_use: now,
        };
        p.idle_check = p.next_idle_check(now);
        p
    }

    /// Changes the limits of a running session at `now` (`count`: its IPv4 packets so far):
    /// `None` keeps a limit, `Some(None)` lifts it, `Some(Some(t))` sets it to `t` counted from
    /// `now` (a new session timeout ends the session `t` after the change; a new idle timeout
    /// counts idleness from the change). `None` when no limit is left.
    pub(crate) fn changed(
        current: Option<Self>,
        now: Instant,
        count: u64,
        session_timeout: Option<Option<Duration>>,
        idle_timeout: Option<Option<Duration>>,
    ) -> Option<Self> {
        let mut p = current.unwrap_or_else(|| Self::new(None, None, now, count));
        if let Some(t) = session_timeout {
            p.session_timeout = t;
            p.ends_at = t.and_then(|t| now.checked_add(t));
        }
        if let Some(t) = idle_timeout {
            p.idle_timeout = t;
            p.last_count = count;
            p.last_use = now;
            p.idle_check = p.next_idle_check(now);
        }
        (p.session_timeout.is_some() || p.idle_timeout.is_some()).then_some(p)
    }

    /// The counters are compared every quarter of the idle timeout, so a session ends between
    /// one and one and a quarter idle timeouts after its last packet.
    fn next_idle_check(&self, now: Instant) -> Option<Instant> {
        let idle = self.idle_timeout?;
        let step = (idle / 4).max(Duration::from_secs(1));
        let limit = self.last_use.checked_add(idle)?;
        Some(limit.min(now.checked_add(step)?))
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.ends_at, self.idle_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Why the session must end now, if it must; `count` is its IPv4 packets both ways.
    fn check(&mut self, now: Instant, count: u64) -> Option<(String, EndCause)> {
        if let (Some(at), Some(t)) = (self.ends_at, self.session_timeout)
            && now >= at
        {
            return Some((
                format!("session timeout ({} s)", t.as_secs()),
                EndCause::SessionTimeout,
            ));
        }
        let (Some(check), Some(idle)) = (self.idle_check, self.idle_timeout) else {
            return None;
        };
        if now < check {
            return None;
        }
        if count != self.last_count {
            self.last_count = count;
            self.last_use = now;
        } else if now.saturating_duration_since(self.last_use) >= idle {
            return Some((
                format!("idle for {} s", idle.as_secs()),
                EndCause::IdleTimeout,
            ));
        }
        self.idle_check = self.next_idle_check(now);
        None
    }
}

/// An ESP SA pair of the peer: our inbound SA and the outbound SA negotiated with it.
#[derive(Debug)]
pub(crate) struct ChildPair {
    pub(crate) spi_in: u32,
    pub(crate) inbound: Arc<esp::Sa>,
    pub(crate) outbound: Arc<esp::Sa>,
    pub(crate) suite: String,
    pub(crate) established: Instant,
    pub(crate) lifetime: Duration,
}

/// A PPP session inside one of the peer's L2TP tunnels.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) link: ppp::Link,
    /// Our tunnel and session IDs.
    pub(crate) ids: l2tp::SessionKey,
    /// The client's tunnel and session IDs.
    pub(crate) peer_ids: (u16, u16),
    pub(crate) host_name: String,
    pub(crate) vendor: String,
    pub(crate) since: Instant,
    pub(crate) addr: Option<Ipv4Addr>,
    pub(crate) user: Option<String>,
    /// Traffic counters, shared with the data plane.
    pub(crate) counters: Arc<SessionCounters>,
    /// The limits a remote verifier granted with its Accept (session, idle).
    pub(crate) granted: (Option<Duration>, Option<Duration>),
    /// The limits in force, from IPCP up.
    pub(crate) policy: Option<Policy>,
    /// Why the server ended the session, fixed when it decided to (the goodbyes that follow
    /// do not change it).
    pub(crate) end: Option<EndCause>,
    /// The rate limits a remote verifier granted with its Accept.
    pub(crate) granted_rate: Option<config::RateLimit>,
    /// The rate limits in force (from IPCP up), published with the session.
    pub(crate) policer: Option<Arc<dataplane::police::Policer>>,
    /// Whether the rate limits were set for this session by [`crate::Server::set_rate_limit`]
    /// (a CoA-Request): a users reload leaves them alone.
    pub(crate) rate_set: bool,
    /// The networks a remote verifier routed to the session with its Accept (Framed-Route).
    pub(crate) granted_routes: Vec<ppp::FramedRoute>,
    /// The networks routed to the session (from IPCP up, after the server's checks),
    /// published with it.
    pub(crate) routes: Arc<[ipnetwork::Ipv4Network]>,
}

impl Session {
    /// IPv4 packets both ways so far.
    pub(crate) fn packet_count(&self) -> u64 {
        let (packets_in, _) = self.counters.inbound.get();
        let (packets_out, _) = self.counters.outbound.get();
        packets_in.wrapping_add(packets_out)
    }
}

/// A peer's sessions, keyed by our [`l2tp::SessionKey`] (`Session::ids`).
///
/// A peer almost always has one session, and `limits.tunnels_per_peer` ×
/// `limits.sessions_per_tunnel` bound how many it may have, so a vector searched in order is
/// as fast as a hash table here and keeps no empty slots of a large `Session`: it grows one
/// session at a time.
#[derive(Debug, Default)]
pub(crate) struct Sessions(Vec<Session>);

impl Sessions {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn contains_key(&self, key: &l2tp::SessionKey) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn get(&self, key: &l2tp::SessionKey) -> Option<&Session> {
        self.0.iter().find(|s| s.ids == *key)
    }

    pub(crate) fn get_mut(&mut self, key: &l2tp::SessionKey) -> Option<&mut Session> {
        self.0.iter_mut().find(|s| s.ids == *key)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Session> {
        self.0.iter()
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Session> {
        self.0.iter_mut()
    }

    /// Adds `session` under its `ids`, replacing a session with the same key.
    pub(crate) fn insert(&mut self, session: Session) {
        if let Some(old) = self.get_mut(&session.ids) {
            *old = session;
        } else {
            // Exactly one more: a second session is rare, and a spare slot costs a whole
            // `Session`.
            self.0.reserve_exact(1);
            self.0.push(session);
        }
    }

    pub(crate) fn remove(&mut self, key: &l2tp::SessionKey) -> Option<Session> {
        let i = self.0.iter().position(|s| s.ids == *key)?;
        let session = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        Some(session)
    }

    /// Removes every session.
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, Session> {
        self.0.drain(..)
    }
}

/// What a peer tells the server.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// A user authenticated on a session.
    Authenticated {
        key: l2tp::SessionKey,
        user: String,
        method: ppp::AuthProtocol,
    },
    /// A login on a session awaits a remote verdict ([`Peer::resolve_auth`]).
    AuthRequest {
        key: l2tp::SessionKey,
        ticket: ppp::AuthTicket,
        request: Box<ppp::AuthRequest>,
    },
    /// An authentication attempt failed.
    AuthFailed {
        user: String,
        reason: ppp::AuthFailure,
        windows_error: u32,
    },
    /// IPCP opened: the session has its address.
    IpUp {
        key: l2tp::SessionKey,
        addr: Ipv4Addr,
    },
    /// A session ended (its address, if any, goes back to the pool).
    Ended {
        session: Box<Session>,
        why: String,
        cause: EndCause,
    },
    /// An SA pair crossed an ESP lifetime limit while sealing (RFC 2407 §4.5).
    EspLifetime { spi_in: u32, expiry: esp::Expiry },
}

/// One client: an outer 4-tuple.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) ike: FourTuple,
    pub(crate) tuple: FourTuple,
    lns: l2tp::Lns,
    /// The client's L2TP UDP source port (learned from the decrypted datagrams).
    l2tp_port: u16,
    pub(crate) children: Vec<ChildPair>,
    /// Index into `children` of the SA pair we send with.
    current: Option<usize>,
    pub(crate) sessions: Sessions,
    /// Our tunnel ID → the client's (bounded by `limits.tunnels_per_peer`).
    peer_tunnels: Vec<(u16, u16)>,
    pub(crate) phase1: Option<ike::Phase1Info>,
    pub(crate) nat_oa: Option<Ipv4Addr>,
    pub(crate) activity: Arc<Activity>,
    rng: ChaCha20Rng,
    out: VecDeque<(Transmit, Vec<u8>)>,
    events: VecDeque<PeerEvent>,
    /// Sessions whose limits ran out, for the server to end ([`Peer::take_expired`]).
    expired: Vec<(l2tp::SessionKey, String, EndCause)>,
}

impl Peer {
    pub(crate) fn new(
        id: PeerId,
        ike: FourTuple,
        tuple: FourTuple,
        settings: &Settings,
        seed: [u8; 32],
    ) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut lns_seed = [0; 32];
        rng.fill_bytes(&mut lns_seed);
        Self {
            id,
            ike,
            tuple,
            lns: l2tp::Lns::new(settings.lns.clone(), lns_seed),
            l2tp_port: L2TP_PORT,
            children: Vec::new(),
            current: None,
            sessions: Sessions::default(),
            peer_tunnels: Vec::new(),
            phase1: None,
            nat_oa: None,
            activity: Arc::default(),
            rng,
            out: VecDeque::new(),
            events: VecDeque::new(),
            expired: Vec::new(),
        }
    }

    // ---- inputs -----------------------------------------------------------------------------

    /// An L2TP message from the client's UDP port `port`, decrypted by the data plane under
    /// inbound SA `spi`. Returns an IPv4 packet that the session's PPP link accepted (the data
    /// plane carries established traffic; this is what reaches the control plane anyway, e.g.
    /// a DHCPINFORM or a packet that raced a session's publication).
    pub(crate) fn handle_l2tp(
        &mut self,
        now: Instant,
        spi: u32,
        port: u16,
        datagram: &[u8],
        settings: &Settings,
        auth: &mut dyn ppp::Authenticator,
    ) -> Result<Option<(l2tp::SessionKey, Vec<u8>)>, l2tp::Error> {
        self.l2tp_port = port;
        self.follow_client_to(spi);
        let mut ip = None;
        if let Some(data) = self.lns.handle_datagram(now, port, datagram)? {
            let key = data.session;
            // Data arrives only for sessions the LNS established; their events (and so the
            // Session) are processed in `drive`, which has run for every earlier input.
            if let Some(session) = self.sessions.get_mut(&key)
                && let Some(packet) = session.link.handle_frame(now, data.frame, auth)
            {
                ip = Some((key, packet.to_vec()));
            }
        }
        self.drive(now, settings);
        Ok(ip)
    }

    /// The client sent on inbound SA `spi`. Rekey (RFC 2409 §5.5): we keep sending on the old
    /// outbound SA until the client shows it installed the new pair by sending on it; then
    /// outbound follows. Only ever forward: `children` is in the order the pairs were
    /// established, and a late packet on an old SA must not move us back. Returns whether the
    /// pair we send with changed.
    pub(crate) fn follow_client_to(&mut self, spi: u32) -> bool {
        let Some(i) = self.children.iter().position(|c| c.spi_in == spi) else {
            return false;
        };
        if self.current.is_some_and(|c| i <= c) {
            return false;
        }
        info!(client = %self.tuple.remote, spi_in = format_args!("{spi:08x}"), "client sends on the rekeyed ESP SA; answering on it too");
        self.current = Some(i);
        true
    }

    /// Time passed; a spurious call is a no-op.
    pub(crate) fn handle_timeout(&mut self, now: Instant, settings: &Settings) {
        for session in self.sessions.values_mut() {
            // Traffic the data plane carried counts as LCP liveness (RFC 1661 §5.8: echoes
            // only matter when nothing else shows the peer is there) and, being L2TP data
            // messages, defers the tunnel's Hello (RFC 2661 §6.5).
            if session.counters.alive.swap(false, Ordering::Relaxed) {
                session.link.note_alive();
                self.lns.note_data(session.ids);
            }
        }
        self.lns.handle_timeout(now);
        for session in self.sessions.values_mut() {
            session.link.handle_timeout(now);
            let count = session.packet_count();
            if let Some((why, cause)) = session.policy.as_mut().and_then(|p| p.check(now, count)) {
                session.policy = None;
                self.expired.push((session.ids, why, cause));
            }
        }
        self.drive(now, settings);
    }

    /// The sessions whose limits ran out since the last call, with the reason; the server
    /// ends them.
    pub(crate) fn take_expired(&mut self) -> Vec<(l2tp::SessionKey, String, EndCause)> {
        std::mem::take(&mut self.expired)
    }

    /// The remote verdict on the login of session `key` handed out with `ticket`; false when
    /// the session is gone or no longer waiting for it.
    pub(crate) fn resolve_auth(
        &mut self,
        now: Instant,
        key: l2tp::SessionKey,
        ticket: ppp::AuthTicket,
        verdict: ppp::AuthVerdict,
        settings: &Settings,
    ) -> bool {
        let Some(session) = self.sessions.get_mut(&key) else {
            return false;
        };
        let granted = match &verdict {
            ppp::AuthVerdict::Accept(a) => (a.session_timeout, a.idle_timeout),
            _ => (None, None),
        };
        let granted_rate = match &verdict {
            ppp::AuthVerdict::Accept(a) => a.rate_limit,
            _ => None,
        };
        let granted_routes = match &verdict {
            ppp::AuthVerdict::Accept(a) => a.routes.clone(),
            _ => Vec::new(),
        };
        let applied = session.link.resolve_auth(now, ticket, verdict);
        if applied {
            session.granted = granted;
            session.granted_rate = granted_rate.map(|r| config::RateLimit {
                up: r.up,
                down: r.down,
            });
            session.granted_routes = granted_routes;
        }
        self.drive(now, settings);
        applied
    }

    /// Checks the login of session `key` handed out with `ticket` against `auth` after all
    /// (no remote verifier answered); false when the session is gone or no longer waiting.
    pub(crate) fn resolve_auth_locally(
        &mut self,
        now: Instant,
        key: l2tp::SessionKey,
        ticket: ppp::AuthTicket,
        settings: &Settings,
        auth: &mut dyn ppp::Authenticator,
    ) -> bool {
        let Some(session) = self.sessions.get_mut(&key) else {
            return false;
        };
        let applied = session.link.resolve_auth_locally(now, ticket, auth);
        if applied {
            session.granted = (None, None);
        }
        self.drive(now, settings);
        applied
    }

    /// Closes one session (LCP Terminate-Request, then CDN) for `cause`.
    pub(crate) fn close_session(
        &mut self,
        now: Instant,
        key: l2tp::SessionKey,
        why: &str,
        cause: EndCause,
        settings: &Settings,
    ) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        session.end.get_or_insert(cause);
        session.link.close(now, why);
        self.drive(now, settings);
        let _ = self
            .lns
            .close_session(now, key, l2tp::codes::cdn::ADMINISTRATIVE, Some(why));
        self.drive(now, settings);
    }

    /// Says goodbye on every layer inside IPsec: LCP Terminate-Request on every session, then
    /// CDN and StopCCN (RFC 2661 §5.7).
    pub(crate) fn close_all(
        &mut self,
        now: Instant,
        why: &str,
        cause: EndCause,
        settings: &Settings,
    ) {
        for session in self.sessions.values_mut() {
            session.end.get_or_insert(cause);
            session.link.close(now, why);
        }
        self.drive(now, settings);
        self.lns.close_all(now);
        self.drive(now, settings);
    }

    /// A new ESP SA pair negotiated by Quick Mode.
    pub(crate) fn install_child(&mut self, pair: ChildPair) {
        self.children.push(pair);
        if self.current.is_none() {
            self.current = Some(self.children.len() - 1);
        }
    }

    /// Removes the SA pair with our inbound SPI `spi_in`; returns whether it was ours.
    pub(crate) fn remove_child(&mut self, spi_in: u32) -> bool {
        let Some(i) = self.children.iter().position(|c| c.spi_in == spi_in) else {
            return false;
        };
        let current_spi = self.current_pair().map(|c| c.spi_in);
        self.children.remove(i);
        self.current = match current_spi {
            Some(spi) if spi != spi_in => self.children.iter().position(|c| c.spi_in == spi),
            _ => self.children.len().checked_sub(1),
        };
        true
    }

    /// The client's NAT moved its mapping: every SA follows to `tuple` (only UDP-encapsulated
    /// peers move, so the IKE 4-tuple is the same one).
    pub(crate) fn rebind(&mut self, tuple: FourTuple) {
        for child in &self.children {
            for sa in [&child.inbound, &child.outbound] {
                if let Err(e) = sa.rebind(tuple) {
                    debug!(error = %e, "ESP SA not rebound");
                }
            }
        }
        self.tuple = tuple;
        self.ike = tuple;
    }

    // ---- outputs ----------------------------------------------------------------------------

    /// The next sealed packet for the client.
    pub(crate) fn poll_transmit(&mut self) -> Option<(Transmit, Vec<u8>)> {
        let next = self.out.pop_front();
        if next.is_none() {
            // Drained: give back the room a burst took (most peers are idle most of the time).
            self.out = VecDeque::new();
        }
        next
    }

    /// The next event for the server.
    pub(crate) fn poll_event(&mut self) -> Option<PeerEvent> {
        let next = self.events.pop_front();
        if next.is_none() {
            self.events = VecDeque::new();
        }
        next
    }

    /// When [`Peer::handle_timeout`] must next run: O(this peer's tunnels and sessions).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(|s| s.link.poll_timeout())
            .chain(
                self.sessions
                    .values()
                    .filter_map(|s| s.policy.and_then(|p| p.next_deadline())),
            )
            .chain(self.lns.poll_timeout())
            .min()
    }

    /// The SA pair we send with.
    pub(crate) fn current_pair(&self) -> Option<&ChildPair> {
        self.current.and_then(|i| self.children.get(i))
    }

    /// What the data plane needs about this peer. `owns(addr, key)` says whether the server's
    /// address table gives `addr` to this session.
    pub(crate) fn spec(
        &self,
        settings: &Settings,
        owns: impl Fn(Ipv4Addr, l2tp::SessionKey) -> bool,
    ) -> PeerSpec {
        let current = self.current_pair();
        let sessions = self
            .sessions
            .values()
            .filter_map(|s| {
                let key = &s.ids;
                let addr = s.addr.filter(|a| owns(*a, *key))?;
                let framing = self.lns.data_framing(*key)?;
                if !s.link.ip_up() {
                    return None;
                }
                let mtu = s.link.peer_mru();
                let inner = mtu.min(settings.link.mru).min(settings.tun_mtu);
                let auto = inner.saturating_sub(TCP_IP_HEADERS);
                let mss = match settings.mss_clamp {
                    MssClamp::Off => None,
                    MssClamp::Auto => Some(auto),
                    MssClamp::Max(max) => Some(auto.min(max)),
                };
                Some(SessionSpec {
                    key: *key,
                    addr,
                    framing,
                    mtu,
                    mss,
                    counters: Arc::clone(&s.counters),
                    policer: s.policer.clone(),
                    routes: Arc::clone(&s.routes),
                })
            })
            .collect();
        PeerSpec {
            id: self.id,
            tuple: self.tuple,
            inbound: self
                .children
                .iter()
                .map(|c| {
                    (
                        Arc::clone(&c.inbound),
                        current.is_some_and(|p| p.spi_in == c.spi_in),
                    )
                })
                .collect(),
            outbound: current.map(|c| (Arc::clone(&c.outbound), c.spi_in)),
            sessions,
            activity: Arc::clone(&self.activity),
        }
    }

    // ---- plumbing ---------------------------------------------------------------------------

    /// Drains the LNS and the PPP links: sessions made and ended, frames sealed, events.
    fn drive(&mut self, now: Instant, settings: &Settings) {
        // L2TP events first: they create and remove sessions.
        while let Some(event) = self.lns.poll_event() {
            self.on_l2tp_event(now, event, settings);
        }
        let mut closed = Vec::new();
        let mut frames = Vec::new();
        for session in self.sessions.values_mut() {
            let key = session.ids;
            while let Some(frame) = session.link.poll_transmit() {
                frames.push((key, frame));
            }
            while let Some(event) = session.link.poll_event() {
                match event {
                    ppp::Event::Authenticated { user, method } => {
                        info!(client = %self.tuple.remote, user = %user.printable(), method = ?method, "user authenticated");
                        session.user = Some(user.clone());
                        self.events
                            .push_back(PeerEvent::Authenticated { key, user, method });
                    }
                    ppp::Event::AuthFailed {
                        user,
                        reason,
                        windows_error,
                    } => self.events.push_back(PeerEvent::AuthFailed {
                        user,
                        reason,
                        windows_error,
                    }),
                    ppp::Event::AuthRequest { ticket, request } => {
                        self.events.push_back(PeerEvent::AuthRequest {
                            key,
                            ticket,
                            request,
                        });
                    }
                    ppp::Event::IpUp { peer_addr, .. } => {
                        session.addr = Some(peer_addr);
                        self.events.push_back(PeerEvent::IpUp {
                            key,
                            addr: peer_addr,
                        });
                    }
                    ppp::Event::Identification(text) => {
                        debug!(client = %self.tuple.remote, ident = %text.printable(), "LCP Identification");
                    }
                    ppp::Event::Down { reason } => {
                        closed.push((key, reason.to_string(), EndCause::from_ppp(&reason)))
                    }
                    _ => {}
                }
            }
        }
        for (key, frame) in frames {
            let mut msg = Vec::with_capacity(frame.len() + 16);
            match self.lns.encode_data(key, &frame, &mut msg) {
                Ok(port) => self.seal(port, &msg),
                Err(e) => debug!(error = %e, "L2TP data not sent"),
            }
        }
        for (key, why, cause) in closed {
            let _ = self
                .lns
                .close_session(now, key, l2tp::codes::cdn::ADMINISTRATIVE, Some(&why));
            if let Some(session) = self.sessions.remove(&key) {
                let cause = session.end.unwrap_or(cause);
                self.events.push_back(PeerEvent::Ended {
                    session: Box::new(session),
                    why,
                    cause,
                });
            }
        }
        // Whatever L2TP wants to send (control messages, ZLBs, CDNs), and the events a close
        // above produced.
        while let Some(t) = self.lns.poll_transmit() {
            self.seal(t.peer_port, &t.payload);
        }
        while let Some(event) = self.lns.poll_event() {
            self.on_l2tp_event(now, event, settings);
        }
    }

    fn on_l2tp_event(&mut self, now: Instant, event: l2tp::Event, settings: &Settings) {
        match event {
            l2tp::Event::TunnelUp {
                tunnel,
                peer_tunnel,
                peer_host_name,
                vendor,
            } => {
                info!(client = %self.tuple.remote, host = %peer_host_name.printable(), vendor = %vendor.as_deref().unwrap_or("-").printable(), tunnel, peer_tunnel, "L2TP tunnel up");
                match self.peer_tunnels.iter_mut().find(|(t, _)| *t == tunnel) {
                    Some(entry) => entry.1 = peer_tunnel,
                    None => self.peer_tunnels.push((tunnel, peer_tunnel)),
                }
            }
            l2tp::Event::SessionUp {
                key,
                peer_session,
                peer_host_name,
                vendor,
                ..
            } => {
                let mut seed = [0; 32];
                self.rng.fill_bytes(&mut seed);
                info!(client = %self.tuple.remote, host = %peer_host_name.printable(), tunnel = key.tunnel, session = key.session, "L2TP session up");
                let link = ppp::Link::new(&settings.link, seed, now);
                let peer_tunnel = self
                    .peer_tunnels
                    .iter()
                    .find(|(t, _)| *t == key.tunnel)
                    .map_or(0, |(_, p)| *p);
                self.sessions.insert(Session {
                    link,
                    ids: key,
                    peer_ids: (peer_tunnel, peer_session),
                    host_name: peer_host_name,
                    vendor: vendor.unwrap_or_default(),
                    since: now,
                    addr: None,
                    user: None,
                    counters: Arc::default(),
                    granted: (None, None),
                    policy: None,
                    end: None,
                    granted_rate: None,
                    policer: None,
                    rate_set: false,
                    granted_routes: Vec::new(),
                    routes: Arc::new([]),
                });
            }
            l2tp::Event::SessionDown { key, reason } => {
                if let Some(session) = self.sessions.remove(&key) {
                    let why = format!("L2TP session closed: {reason}");
                    let cause = session.end.unwrap_or_else(|| EndCause::from_l2tp(&reason));
                    self.events.push_back(PeerEvent::Ended {
                        session: Box::new(session),
                        why,
                        cause,
                    });
                }
            }
            l2tp::Event::TunnelDown { tunnel, reason } => {
                self.peer_tunnels.retain(|(t, _)| *t != tunnel);
                let keys: Vec<l2tp::SessionKey> = self
                    .sessions
                    .values()
                    .map(|s| s.ids)
                    .filter(|k| k.tunnel == tunnel)
                    .collect();
                for key in keys {
                    if let Some(session) = self.sessions.remove(&key) {
                        let why = format!("L2TP tunnel closed: {reason}");
                        let cause = session.end.unwrap_or_else(|| EndCause::from_l2tp(&reason));
                        self.events.push_back(PeerEvent::Ended {
                            session: Box::new(session),
                            why,
                            cause,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Wraps an L2TP message in inner UDP (1701 → the client's `port`) and ESP with the SA
    /// pair we send with.
    fn seal(&mut self, port: u16, msg: &[u8]) {
        let Some(pair) = self.current.and_then(|i| self.children.get(i)) else {
            debug!(client = %self.tuple.remote, "no ESP SA to send with; L2TP message dropped");
            return;
        };
        let port = if port == 0 { self.l2tp_port } else { port };
        match dataplane::seal_l2tp(&pair.outbound, self.tuple, msg, port, &mut self.rng) {
            Ok((transmit, packet, expiry)) => {
                if let Some(expiry) = expiry {
                    self.events.push_back(PeerEvent::EspLifetime {
                        spi_in: pair.spi_in,
                        expiry,
                    });
                }
                self.out.push_back((transmit, packet));
            }
            Err(e) => debug!(error = %e, "ESP seal failed; packet dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{sa, tuple};

    fn session(tunnel: u16, session: u16, now: Instant) -> Session {
        let key = l2tp::SessionKey { tunnel, session };
        Session {
            link: ppp::Link::new(&ppp::LinkConfig::default(), [7; 32], now),
            ids: key,
            peer_ids: (tunnel + 100, session + 100),
            host_name: format!("host-{tunnel}-{session}"),
            vendor: String::new(),
            since: now,
            addr: None,
            user: None,
            counters: Arc::default(),
            granted: (None, None),
            policy: None,
            end: None,
            granted_rate: None,
            policer: None,
            rate_set: false,
            granted_routes: Vec::new(),
            routes: Arc::new([]),
        }
    }

    /// The idle limit counts only changes of the packet count, compared every quarter of the
    /// limit; the session limit ends the session at its time whatever the traffic.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn policy_deadlines() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut p = Policy::new(None, Some(s(60)), t0, 5);
        assert_eq!(p.next_deadline(), Some(t0 + s(15)));
        assert_eq!(p.check(t0 + s(15), 5), None);
        // Traffic seen at 30 s: idle counts from there.
        assert_eq!(p.check(t0 + s(30), 7), None);
        assert_eq!(p.next_deadline(), Some(t0 + s(45)));
        for at in [45, 60, 75] {
            assert_eq!(p.check(t0 + s(at), 7), None, "at {at} s");
        }
        assert_eq!(p.next_deadline(), Some(t0 + s(90)));
        assert_eq!(
            p.check(t0 + s(90), 7),
            Some(("idle for 60 s".to_owned(), EndCause::IdleTimeout))
        );

        let mut p = Policy::new(Some(s(100)), None, t0, 0);
        assert_eq!(p.next_deadline(), Some(t0 + s(100)));
        assert_eq!(p.check(t0 + s(99), 1), None);
        assert_eq!(
            p.check(t0 + s(100), 2),
            Some((
                "session timeout (100 s)".to_owned(),
                EndCause::SessionTimeout
            ))
        );
        assert_eq!(Policy::new(None, None, t0, 0).next_deadline(), None);
    }

    /// A change counts from its own time; what it leaves out stays as it was.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn policy_changes_count_from_the_change() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let p = Policy::new(Some(s(3600)), Some(s(600)), t0, 0);
        // At 100 s the session timeout becomes 30 s: the end is at 130 s, the idle limit stays.
        let mut p = Policy::changed(Some(p), t0 + s(100), 4, Some(Some(s(30))), None).unwrap();
        assert_eq!(p.session_timeout, Some(s(30)));
        assert_eq!(p.idle_timeout, Some(s(600)));
        assert_eq!(p.check(t0 + s(129), 4), None);
        assert_eq!(
            p.check(t0 + s(130), 4),
            Some((
                "session timeout (30 s)".to_owned(),
                EndCause::SessionTimeout
            ))
        );
        // Lifting both leaves no policy; setting one on a session without any makes one.
        let p = Policy::new(Some(s(60)), None, t0, 0);
        assert_eq!(
            Policy::changed(Some(p), t0, 0, Some(None), Some(None)),
            None
        );
        let p = Policy::changed(None, t0 + s(10), 7, None, Some(Some(s(40)))).unwrap();
        assert_eq!((p.session_timeout, p.idle_timeout), (None, Some(s(40))));
        assert_eq!(p.next_deadline(), Some(t0 + s(20)));
        assert_eq!(Policy::changed(None, t0, 0, None, None), None);
    }

    fn keys(s: &Sessions) -> Vec<(u16, u16)> {
        s.values().map(|s| (s.ids.tunnel, s.ids.session)).collect()
    }

    /// Several tunnels with several sessions each: every session is found by its key, a
    /// removal takes only its own, and a key seen again replaces the old session.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn sessions_of_several_tunnels_are_kept_apart() {
        let now = Instant::now();
        let mut s = Sessions::default();
        for (t, n) in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)] {
            s.insert(session(t, n, now));
        }
        assert_eq!(s.len(), 5);
        assert_eq!(keys(&s), [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]);
        for (t, n) in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)] {
            let key = l2tp::SessionKey {
                tunnel: t,
                session: n,
            };
            let found = s.get(&key).map(|s| (s.ids, s.peer_ids));
            assert_eq!(found, Some((key, (t + 100, n + 100))));
            assert!(s.contains_key(&key));
        }
        let missing = l2tp::SessionKey {
            tunnel: 3,
            session: 2,
        };
        assert!(s.get(&missing).is_none() && s.remove(&missing).is_none());

        let key = l2tp::SessionKey {
            tunnel: 2,
            session: 1,
        };
        let removed = s.remove(&key).map(|s| s.host_name);
        assert_eq!(removed.as_deref(), Some("host-2-1"));
        assert_eq!(keys(&s), [(1, 1), (1, 2), (2, 2), (3, 1)]);
        assert!(s.get(&key).is_none());

        let mut again = session(1, 2, now);
        again.host_name = "again".to_owned();
        s.insert(again);
        assert_eq!(s.len(), 4);
        let key = l2tp::SessionKey {
            tunnel: 1,
            session: 2,
        };
        assert_eq!(s.get(&key).map(|s| s.host_name.as_str()), Some("again"));
        if let Some(found) = s.get_mut(&key) {
            found.user = Some("alice".to_owned());
        }
        assert_eq!(
            s.values()
                .filter_map(|s| s.user.as_deref())
                .collect::<Vec<_>>(),
            ["alice"]
        );

        let drained: Vec<(u16, u16)> = s.drain().map(|s| (s.ids.tunnel, s.ids.session)).collect();
        assert_eq!(drained, [(1, 1), (1, 2), (2, 2), (3, 1)]);
        assert!(s.is_empty());
    }

    /// One session takes room for one, and a peer whose sessions all ended keeps none.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn sessions_keep_no_spare_room() {
        let now = Instant::now();
        let mut s = Sessions::default();
        s.insert(session(1, 1, now));
        assert_eq!(s.0.capacity(), 1);
        s.insert(session(1, 2, now));
        assert_eq!(s.0.capacity(), 2);
        for n in [1, 2] {
            s.remove(&l2tp::SessionKey {
                tunnel: 1,
                session: n,
            });
        }
        assert_eq!(s.0.capacity(), 0);
    }

    struct NoUsers;

    impl ppp::Authenticator for NoUsers {
        fn lookup(&mut self, _user: &str) -> ppp::Lookup {
            ppp::Lookup::NotFound
        }

        fn assign_address(
            &mut self,
            _user: &str,
            _requested: Option<Ipv4Addr>,
        ) -> Option<Ipv4Addr> {
            None
        }
    }

    /// A peer with its ESP pair, and a LAC (the client's L2TP) talking to it through ESP.
    struct Pair {
        now: Instant,
        settings: Settings,
        peer: Peer,
        /// The client's end of the peer's outbound SA.
        client_in: esp::Sa,
        lac: l2tp::Lac,
        lac_events: Vec<l2tp::Event>,
        ended: Vec<(l2tp::SessionKey, String)>,
    }

    impl Pair {
        #[allow(clippy::disallowed_methods)]
        fn new() -> Self {
            let now = Instant::now();
            let settings = Settings {
                lns: l2tp::LnsConfig::default(),
                link: ppp::LinkConfig::default(),
                mss_clamp: MssClamp::Auto,
                tun_mtu: 1400,
                session_timeout: None,
                idle_timeout: None,
                rate_limit: None,
            };
            let t = tuple();
            let mut peer = Peer::new(1, t, t, &settings, [3; 32]);
            peer.install_child(ChildPair {
                spi_in: 0x1001,
                inbound: Arc::new(sa(0x1001, esp::Direction::Inbound, 1)),
                outbound: Arc::new(sa(0x2001, esp::Direction::Outbound, 2)),
                suite: "AES128-SHA1".to_owned(),
                established: now,
                lifetime: Duration::from_secs(3600),
            });
            Self {
                now,
                settings,
                peer,
                client_in: sa(0x2001, esp::Direction::Inbound, 2),
                lac: l2tp::Lac::new(l2tp::LacConfig::default(), [5; 32]),
                lac_events: Vec::new(),
                ended: Vec::new(),
            }
        }

        /// Moves messages both ways until both sides are quiet.
        fn pump(&mut self) {
            loop {
                let mut moved = false;
                while let Some(t) = self.lac.poll_transmit() {
                    moved = true;
                    // The data plane would have decrypted it under our inbound SA.
                    self.peer
                        .handle_l2tp(
                            self.now,
                            0x1001,
                            L2TP_PORT,
                            &t.payload,
                            &self.settings,
                            &mut NoUsers,
                        )
                        .unwrap();
                }
                while let Some((_, mut packet)) = self.peer.poll_transmit() {
                    moved = true;
                    let opened = self.client_in.open(&mut packet).unwrap();
                    // Skip the inner UDP header (RFC 768).
                    let msg = packet[opened.payload][8..].to_vec();
                    let _ = self.lac.handle_datagram(self.now, L2TP_PORT, &msg);
                }
                while let Some(e) = self.peer.poll_event() {
                    if let PeerEvent::Ended { session, why, .. } = e {
                        self.ended.push((session.ids, why));
                    }
                }
                while let Some(e) = self.lac.poll_event() {
                    moved = true;
                    self.lac_events.push(e);
                }
                if !moved {
                    return;
                }
            }
        }

        /// The client's (tunnel, session) IDs of the peer's sessions, sorted.
        fn peer_ids(&self) -> Vec<(u16, u16)> {
            let mut ids: Vec<(u16, u16)> =
                self.peer.sessions.values().map(|s| s.peer_ids).collect();
            ids.sort_unstable();
            ids
        }

        /// The client's sessions that came up, with our session IDs, sorted.
        fn lac_sessions(&self) -> Vec<(u16, u16)> {
            let mut up: Vec<(u16, u16)> = self
                .lac_events
                .iter()
                .filter_map(|e| match e {
                    l2tp::Event::SessionUp { key, .. } => Some((key.tunnel, key.session)),
                    _ => None,
                })
                .collect();
            up.sort_unstable();
            up
        }
    }

    /// One client with two tunnels of two sessions each: the peer holds four sessions, each
    /// tied to the client's own tunnel and session IDs, and ending one session, then one
    /// tunnel, ends exactly those.
    #[test]
    fn a_peer_with_several_tunnels_and_sessions() {
        let mut p = Pair::new();
        let tunnels = [
            p.lac.connect(p.now, L2TP_PORT).unwrap(),
            p.lac.connect(p.now, L2TP_PORT).unwrap(),
        ];
        p.pump();
        let mut lac_keys = Vec::new();
        for t in tunnels {
            for _ in 0..2 {
                lac_keys.push(p.lac.open_session(p.now, t).unwrap());
                p.pump();
            }
        }
        let mut expected: Vec<(u16, u16)> =
            lac_keys.iter().map(|k| (k.tunnel, k.session)).collect();
        expected.sort_unstable();
        assert_eq!(p.lac_sessions(), expected, "{:?}", p.lac_events);
        assert_eq!(p.peer.sessions.len(), 4);
        assert_eq!(p.peer_ids(), expected);
        // Our keys are distinct, and each session is found by its own.
        let ours: Vec<l2tp::SessionKey> = p.peer.sessions.values().map(|s| s.ids).collect();
        for key in &ours {
            assert_eq!(p.peer.sessions.get(key).map(|s| s.ids), Some(*key));
        }
        let mut distinct = ours.clone();
        distinct.sort_unstable_by_key(|k| (k.tunnel, k.session));
        distinct.dedup();
        assert_eq!(distinct.len(), 4);

        // The client ends its second session on the first tunnel.
        let gone = lac_keys[1];
        p.lac
            .close_session(p.now, gone, l2tp::codes::cdn::ADMINISTRATIVE, None)
            .unwrap();
        p.pump();
        assert_eq!(p.ended.len(), 1, "{:?}", p.ended);
        assert_eq!(p.peer.sessions.len(), 3);
        assert!(!p.peer_ids().contains(&(gone.tunnel, gone.session)));

        // Then the whole second tunnel: its two sessions end, the first tunnel's stays.
        p.lac
            .close_tunnel(p.now, tunnels[1], l2tp::codes::stopccn::CLEAR, None)
            .unwrap();
        p.pump();
        assert_eq!(p.ended.len(), 3, "{:?}", p.ended);
        assert_eq!(p.peer_ids(), [(lac_keys[0].tunnel, lac_keys[0].session)]);
        assert!(
            p.peer.poll_timeout().is_some(),
            "the last session's timers still run"
        );
    }
}
