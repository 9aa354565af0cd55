//! [`Endpoint`]: what the two roles of a PPP session share.
//!
//! Both roles run the phases of RFC 1661 §3 (Establish, Authenticate, Network, Terminate) with
//! the LCP automaton of RFC 1661 §4 and an IPCP automaton (RFC 1332). The driving surface
//! (`poll_transmit`, `poll_event`, `poll_timeout`, `handle_timeout`), closing (LCP
//! Terminate-Request, RFC 1661 §5.5), IPv4 encapsulation (protocol 0x0021, RFC 1332 §1, within
//! the peer's MRU, RFC 1661 §6.1) and the loop that moves automaton output to the wire live here
//! once. What differs, authenticating versus being authenticated and assigning versus receiving
//! an address, is the role `R`: [`crate::role::Server`] ([`crate::Link`]) or
//! [`crate::role::Client`] ([`crate::Peer`]).

use std::collections::VecDeque;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wire::ppp::Protocol;
use wire::ppp::control::{self, Repr};

use crate::fsm::{Fsm, Limits, Negotiator, Signal, State};
use crate::lcp::{self, Lcp};
use crate::{DownReason, Error, Event, Stats};

/// The phases of RFC 1661 §3.2, Terminate folded into LCP closing and Dead meaning "for good".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Establish,
    Authenticate,
    Network,
    Dead,
}

/// One PPP session in role `R`: [`crate::Link`] (authenticator) or [`crate::Peer`] (client).
/// See the crate documentation for the driving contract.
#[derive(Debug)]
pub struct Endpoint<R> {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) phase: Phase,
    pub(crate) lcp: Fsm<Lcp>,
    pub(crate) ip_up: bool,
    pub(crate) down_reason: Option<DownReason>,
    pub(crate) out: VecDeque<Vec<u8>>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
    pub(crate) role: R,
}

/// What a role adds to the shared session. Only [`crate::role::Server`] and
/// [`crate::role::Client`] implement it.
pub(crate) trait Role: Sized {
    /// The IPCP option policy of this role.
    type Ipcp: Negotiator;

    fn ipcp(&self) -> &Fsm<Self::Ipcp>;

    fn ipcp_mut(&mut self) -> &mut Fsm<Self::Ipcp>;

    /// The role's own deadlines (authentication, keepalive).
    fn deadlines(ep: &Endpoint<Self>) -> [Option<Instant>; 2];

    /// Runs the role's own timers; LCP and IPCP timers have run already.
    fn timeout(ep: &mut Endpoint<Self>, now: Instant);

    /// Moves the role's own packets (authentication) to the output; true if there were any.
    fn flush(ep: &mut Endpoint<Self>) -> bool;

    /// Reacts to an LCP layer signal (RFC 1661 §4.4).
    fn lcp_signal(ep: &mut Endpoint<Self>, now: Instant, signal: Signal);

    /// Reacts to an IPCP layer signal.
    fn ipcp_signal(ep: &mut Endpoint<Self>, now: Instant, signal: Signal);
}

impl<R> Endpoint<R> {
    /// The next frame to send to the peer (`FF 03`, two-octet protocol).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let next = self.out.pop_front();
        if next.is_none() {
            // Drained: give back the room a burst took (a link is idle most of the time).
            self.out = VecDeque::new();
        }
        next
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let next = self.events.pop_front();
        if next.is_none() {
            self.events = VecDeque::new();
        }
        next
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The LCP automaton state.
    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    /// True once the session is down for good.
    pub fn is_down(&self) -> bool {
        self.phase == Phase::Dead
    }

    /// Counts an incoming frame and splits it into protocol and payload (RFC 1661 §2; `FF 03`
    /// and protocol compression accepted). `None` when the session is down or the frame does
    /// not parse (counted either way).
    pub(crate) fn frame_in<'f>(&mut self, frame: &'f [u8]) -> Option<(Protocol, &'f [u8])> {
        self.stats.frames_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        if self.phase == Phase::Dead {
            self.stats.discarded += 1;
            return None;
        }
        match wire::ppp::Packet::new_checked(frame) {
            Ok(packet) => Some((
                packet.protocol(),
                frame.get(packet.header_len()..).unwrap_or_default(),
            )),
            Err(e) => self.malformed(e),
        }
    }

    /// Counts and logs a frame dropped as malformed.
    pub(crate) fn malformed<T>(&mut self, e: wire::Error) -> Option<T> {
        self.stats.malformed_drops += 1;
        tracing::debug!(error = %e, "malformed PPP frame dropped");
        None
    }

    /// Queues a packet of `protocol` as a frame: `FF 03`, the protocol, the packet.
    pub(crate) fn push_frame(&mut self, protocol: Protocol, packet: &[u8]) {
        if packet.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(packet.len() + 4);
        frame.extend_from_slice(&[wire::ppp::ADDRESS, wire::ppp::CONTROL]);
        frame.extend_from_slice(&u16::from(protocol).to_be_bytes());
        frame.extend_from_slice(packet);
        self.stats.frames_out += 1;
        self.stats.bytes_out += frame.len() as u64;
        self.out.push_back(frame);
    }

    /// Queues an LCP packet.
    pub(crate) fn send_lcp(&mut self, repr: &Repr<'_>) {
        let mut buf = vec![0u8; repr.buffer_len()];
        if repr.emit(&mut buf).is_ok() {
            self.push_frame(Protocol::Lcp, &buf);
        }
    }

    /// The session is down for good: one `Down` event with the first reason recorded.
    pub(crate) fn finish(&mut self) {
        if self.phase == Phase::Dead {
            return;
        }
        self.phase = Phase::Dead;
        self.ip_up = false;
        let reason = self
            .down_reason
            .clone()
            .unwrap_or(DownReason::NegotiationFailed("LCP finished"));
        tracing::info!(reason = %reason, "PPP link down");
        self.events.push_back(Event::Down { reason });
    }
}

#[expect(
    private_bounds,
    reason = "Role is sealed: only role::Server and role::Client implement it"
)]
impl<R: Role> Endpoint<R> {
    /// Creates the session and starts LCP with our `mru` and `lcp_role`'s options: the L2TP
    /// session is up, so the lower layer is up and our first Configure-Request is queued at
    /// once (RFC 1661 §4.1, Up and Open events).
    pub(crate) fn start(
        rng_seed: [u8; 32],
        limits: Limits,
        lcp_role: lcp::Role,
        mru: u16,
        role: R,
        now: Instant,
    ) -> Self {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let lcp_rng =
            ChaCha20Rng::from_rng(&mut rng).unwrap_or_else(|_| ChaCha20Rng::from_seed(rng_seed));
        let lcp = Fsm::new(Protocol::Lcp, limits, Lcp::new(lcp_role, mru, lcp_rng), 1);
        let mut ep = Self {
            rng,
            phase: Phase::Establish,
            lcp,
            ip_up: false,
            down_reason: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            role,
        };
        ep.lcp.open(now);
        ep.lcp.up(now);
        ep.drive(now);
        ep
    }

    /// Drives the timers. A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.lcp.handle_timeout(now);
        self.role.ipcp_mut().handle_timeout(now);
        R::timeout(self, now);
        self.drive(now);
    }

    /// When `handle_timeout` should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Dead {
            return None;
        }
        let [a, b] = R::deadlines(self);
        [self.lcp.deadline(), self.role.ipcp().deadline(), a, b]
            .into_iter()
            .flatten()
            .min()
    }

    /// The IPCP automaton state.
    pub fn ipcp_state(&self) -> State {
        self.role.ipcp().state()
    }

    /// Closes the session: LCP Terminate-Request carrying `reason`; `Down` follows when the
    /// peer acknowledges or the restart counter runs out.
    pub fn close(&mut self, now: Instant, reason: &str) {
        if self.phase == Phase::Dead {
            return;
        }
        self.down_reason
            .get_or_insert_with(|| DownReason::LocalClose(reason.to_owned()));
        self.lcp.close(now, reason.as_bytes());
        self.drive(now);
    }

    /// Wraps an IPv4 packet for the peer into `out` (cleared first). Fails when IPCP is not
    /// open or the packet exceeds the peer's MRU (then it is counted as an oversize drop).
    pub fn encapsulate_ip(&mut self, ip_packet: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if !self.ip_up || self.phase != Phase::Network {
            return Err(Error::ApiMisuse("IPCP is not open"));
        }
        if ip_packet.len() > usize::from(self.lcp.neg.peer_mru) {
            self.stats.oversize_drops += 1;
            return Err(Error::ApiMisuse("IPv4 packet larger than the peer's MRU"));
        }
        out.clear();
        out.extend_from_slice(&[wire::ppp::ADDRESS, wire::ppp::CONTROL]);
        out.extend_from_slice(&u16::from(Protocol::Ipv4).to_be_bytes());
        out.extend_from_slice(ip_packet);
        self.stats.ip_packets_out += 1;
        self.stats.frames_out += 1;
        self.stats.bytes_out += out.len() as u64;
        Ok(())
    }

    /// Moves queued packets to the output and reacts to layer signals until quiet.
    pub(crate) fn drive(&mut self, now: Instant) {
        loop {
            let mut progressed = R::flush(self);
            while let Some(p) = self.lcp.poll_packet() {
                progressed = true;
                self.push_frame(Protocol::Lcp, &p);
            }
            while let Some(p) = self.role.ipcp_mut().poll_packet() {
                progressed = true;
                self.push_frame(Protocol::Ipcp, &p);
            }
            while let Some(s) = self.lcp.poll_signal() {
                progressed = true;
                R::lcp_signal(self, now, s);
            }
            while let Some(s) = self.role.ipcp_mut().poll_signal() {
                progressed = true;
                R::ipcp_signal(self, now, s);
            }
            if !progressed {
                break;
            }
        }
    }
}

/// Parses an LCP or IPCP packet (RFC 1661 §5).
pub(crate) fn parse_control(payload: &[u8], protocol: Protocol) -> Result<Repr<'_>, wire::Error> {
    let packet = control::Packet::new_checked(payload)?;
    Repr::parse(&packet, protocol)
}
