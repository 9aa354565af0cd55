//! [`Link`]: one PPP session in the authenticator (LNS) role.
//!
//! Phases follow RFC 1661 §3: Establish (LCP), Authenticate, Network (IPCP), Terminate.
//! Non-LCP packets before LCP is open, and NCP packets before authentication succeeds, are
//! silently discarded (RFC 1661 §3.4, §3.5). Once LCP is open, CCP and IPV6CP get an LCP
//! Protocol-Reject (SoftEther Protocol-Rejects CCP and clients.md C.4 notes Windows tolerates it
//! for IPV6CP: Windows then goes on without them), as does any unknown protocol (RFC 1661 §5.7).
//!
//! Keepalive: every `echo_interval` an LCP Echo-Request goes out; any valid frame from the peer
//! counts as a sign of life (pppd's "lcp-echo-adaptive"); after `echo_failures` unanswered
//! requests the peer is dead.
//!
//! Inbound IPv4 comes back from `handle_frame` as a slice of the caller's frame: no copy, no
//! allocation and no event-queue growth on the data path, and the borrow ends before the next
//! call. It is returned only after the anti-spoofing check (source == assigned address).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wire::ppp::control::{self, Repr};
use wire::ppp::{Protocol, chap, pap};

use crate::auth::{Authenticator, Outcome, ServerAuth};
use crate::config::LinkConfig;
use crate::fsm::{Fsm, Signal, State};
use crate::ipcp::{ServerIpcp, requested_address};
use crate::lcp::{Lcp, Role};
use crate::{DownReason, Error, Event, Stats, WINDOWS_ERROR_AUTH_FAILURE, printable};

/// At most this many Identification messages are kept per link (bounded state).
const MAX_IDENTIFICATIONS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Establish,
    Authenticate,
    Network,
    Dead,
}

/// One PPP session, authenticator role. See the crate documentation for the driving contract.
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    rng: ChaCha20Rng,
    phase: Phase,
    lcp: Fsm<Lcp>,
    ipcp: Fsm<ServerIpcp>,
    auth: Option<ServerAuth>,
    user: Option<String>,
    ip_up: bool,
    echo_next: Option<Instant>,
    echo_outstanding: u32,
    aux_id: u8,
    down_reason: Option<DownReason>,
    identifications: Vec<String>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
    #[cfg(test)]
    pub(crate) forced_challenge: Option<[u8; 16]>,
}

impl Link {
    /// Creates the link and starts LCP (the L2TP session is up, so the lower layer is up and
    /// our first Configure-Request is queued at once).
    pub fn new(config: &LinkConfig, rng_seed: [u8; 32], now: Instant) -> Self {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let lcp_rng =
            ChaCha20Rng::from_rng(&mut rng).unwrap_or_else(|_| ChaCha20Rng::from_seed(rng_seed));
        let role = Role::Authenticator {
            order: config.auth_protocols.clone(),
            index: 0,
        };
        let lcp = Fsm::new(
            Protocol::Lcp,
            config.limits(),
            Lcp::new(role, config.mru, lcp_rng),
            1,
        );
        let ipcp = Fsm::new(
            Protocol::Ipcp,
            config.limits(),
            ServerIpcp::new(config.our_addr, config.dns, config.wins),
            1,
        );
        let mut link = Self {
            cfg: config.clone(),
            rng,
            phase: Phase::Establish,
            lcp,
            ipcp,
            auth: None,
            user: None,
            ip_up: false,
            echo_next: None,
            echo_outstanding: 0,
            aux_id: 0x80,
            down_reason: None,
            identifications: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            #[cfg(test)]
            forced_challenge: None,
        };
        link.lcp.open(now);
        link.lcp.up(now);
        link.drive(now);
        link
    }

    /// Handles one PPP frame from the peer. Returns the IPv4 packet it carries, if any, after the
    /// anti-spoofing check; everything else is consumed (answers go to `poll_transmit`).
    pub fn handle_frame<'f>(
        &mut self,
        now: Instant,
        frame: &'f [u8],
        auth: &mut dyn Authenticator,
    ) -> Option<&'f [u8]> {
        self.stats.frames_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        if self.phase == Phase::Dead {
            self.stats.discarded += 1;
            return None;
        }
        let packet = match wire::ppp::Packet::new_checked(frame) {
            Ok(p) => p,
            Err(e) => return self.malformed(e),
        };
        let payload: &'f [u8] = frame.get(packet.header_len()..).unwrap_or_default();
        let protocol = packet.protocol();
        let mut ip = None;
        match protocol {
            Protocol::Lcp => match parse_control(payload, Protocol::Lcp) {
                Ok(repr) => {
                    self.alive();
                    self.handle_lcp(now, &repr, payload);
                }
                Err(e) => return self.malformed(e),
            },
            _ if self.lcp.state() != State::Opened => self.stats.discarded += 1,
            Protocol::Chap | Protocol::Pap => {
                match self.handle_auth(now, protocol, payload, auth) {
                    Ok(()) => self.alive(),
                    Err(e) => return self.malformed(e),
                }
            }
            Protocol::Ipcp if self.phase == Phase::Network => {
                match parse_control(payload, Protocol::Ipcp) {
                    Ok(repr) => {
                        self.alive();
                        self.handle_ipcp(now, &repr, payload, auth);
                    }
                    Err(e) => return self.malformed(e),
                }
            }
            Protocol::Ipcp => self.stats.discarded += 1,
            Protocol::Ipv4 => {
                self.alive();
                ip = self.check_ip(payload);
            }
            other => {
                if !matches!(other, Protocol::Ccp | Protocol::Ipv6cp) {
                    tracing::debug!(protocol = ?other, "unknown PPP protocol rejected");
                }
                self.protocol_reject(other, payload);
            }
        }
        self.drive(now);
        ip
    }

    /// Drives the timers. A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        if let Some(a) = self.auth.as_mut() {
            let outcome = a.handle_timeout(now, &self.cfg);
            self.auth_outcome(now, outcome);
        }
        if let Some(next) = self.echo_next
            && now >= next
            && self.lcp.state() == State::Opened
        {
            {
                if self.echo_outstanding >= self.cfg.echo_failures {
                    tracing::info!(
                        unanswered = self.echo_outstanding,
                        "peer dead: no LCP echo reply"
                    );
                    self.down_reason.get_or_insert(DownReason::DeadPeer);
                    self.lcp.close(now, b"peer not responding");
                    self.drive(now);
                    self.finish();
                    return;
                }
                let id = self.next_aux_id();
                let magic = self.lcp.neg.our_magic();
                self.send_lcp(&Repr::EchoRequest {
                    identifier: id,
                    magic,
                    data: &[],
                });
                self.echo_outstanding += 1;
                self.echo_next = Some(now + self.cfg.echo_interval);
            }
        }
        self.drive(now);
    }

    /// The next frame to send to the peer (`FF 03`, two-octet protocol).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Dead {
            return None;
        }
        [
            self.lcp.deadline(),
            self.ipcp.deadline(),
            self.auth.as_ref().and_then(ServerAuth::deadline),
            if self.lcp.state() == State::Opened {
                self.echo_next
            } else {
                None
            },
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Closes the link: LCP Terminate-Request carrying `reason`; `Down` follows when the peer
    /// acknowledges or the restart counter runs out.
    pub fn close(&mut self, now: Instant, reason: &str) {
        if self.phase == Phase::Dead {
            return;
        }
        self.down_reason
            .get_or_insert_with(|| DownReason::LocalClose(reason.to_owned()));
        self.lcp.close(now, reason.as_bytes());
        self.drive(now);
    }

    /// Wraps an IPv4 packet for the peer into `out` (cleared first). Fails when IPCP is not open
    /// or the packet exceeds the peer's MRU (then it is counted as an oversize drop).
    pub fn encapsulate_ip(&mut self, ip_packet: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if !self.ip_up || self.phase != Phase::Network {
            return Err(Error::ApiMisuse("IPCP is not open"));
        }
        if ip_packet.len() > usize::from(self.lcp.neg.peer_mru) {
            self.stats.oversize_drops += 1;
            return Err(Error::ApiMisuse("IPv4 packet larger than the peer's MRU"));
        }
        out.clear();
        out.extend_from_slice(&[wire::ppp::ADDRESS, wire::ppp::CONTROL, 0x00, 0x21]);
        out.extend_from_slice(ip_packet);
        self.stats.ip_packets_out += 1;
        self.stats.frames_out += 1;
        self.stats.bytes_out += out.len() as u64;
        Ok(())
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The LCP automaton state.
    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    /// The IPCP automaton state.
    pub fn ipcp_state(&self) -> State {
        self.ipcp.state()
    }

    /// The authenticated user, once authentication succeeded.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The address assigned to the peer, once the address source gave one.
    pub fn assigned_address(&self) -> Option<Ipv4Addr> {
        self.ipcp.neg.assigned
    }

    /// The LCP Identification messages received (at most 8).
    pub fn identifications(&self) -> &[String] {
        &self.identifications
    }

    /// The peer's MRU (the largest IPv4 packet `encapsulate_ip` accepts).
    pub fn peer_mru(&self) -> u16 {
        self.lcp.neg.peer_mru
    }

    /// True once the link is down for good.
    pub fn is_down(&self) -> bool {
        self.phase == Phase::Dead
    }

    /// Whether IPv4 frames flow both ways right now: LCP is opened, IPCP is up and the peer has
    /// an address. This is the precondition under which [`Link::handle_frame`] returns IPv4
    /// packets (after the anti-spoofing check) and [`Link::encapsulate_ip`] succeeds, so a fast
    /// path that carries IPv4 frames without the link may do so exactly while this holds.
    pub fn ip_up(&self) -> bool {
        self.ip_up
            && self.phase == Phase::Network
            && self.lcp.state() == State::Opened
            && self.ipcp.neg.assigned.is_some()
    }

    /// Records a sign of life from the peer that was seen outside [`Link::handle_frame`] (an
    /// IPv4 frame carried by a fast path): like any valid frame, it resets the count of
    /// unanswered LCP Echo-Requests (pppd's "lcp-echo-adaptive", see the module docs).
    pub fn note_alive(&mut self) {
        self.alive();
    }

    // --- internals ---

    fn malformed<T>(&mut self, e: wire::Error) -> Option<T> {
        self.stats.malformed_drops += 1;
        tracing::debug!(error = %e, "malformed PPP frame dropped");
        None
    }

    fn alive(&mut self) {
        self.echo_outstanding = 0;
    }

    fn next_aux_id(&mut self) -> u8 {
        self.aux_id = self.aux_id.wrapping_add(1);
        self.aux_id
    }

    fn push_frame(&mut self, protocol: Protocol, packet: &[u8]) {
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

    fn send_lcp(&mut self, repr: &Repr<'_>) {
        let mut buf = vec![0u8; repr.buffer_len()];
        if repr.emit(&mut buf).is_ok() {
            self.push_frame(Protocol::Lcp, &buf);
        }
    }

    fn protocol_reject(&mut self, protocol: Protocol, payload: &[u8]) {
        if self.lcp.state() != State::Opened {
            // RFC 1661 §5.7: Protocol-Reject is sent only in the Opened state.
            self.stats.discarded += 1;
            return;
        }
        // Keep the reject within the peer's MRU: 4 (LCP header) + 2 (protocol).
        let room = usize::from(self.lcp.neg.peer_mru).saturating_sub(6);
        let information = payload.get(..room.min(payload.len())).unwrap_or_default();
        let id = self.next_aux_id();
        self.send_lcp(&Repr::ProtocolReject {
            identifier: id,
            protocol,
            information,
        });
        self.stats.protocol_rejects += 1;
    }

    fn handle_lcp(&mut self, now: Instant, repr: &Repr<'_>, raw: &[u8]) {
        let opened = self.lcp.state() == State::Opened;
        match *repr {
            Repr::ConfigureRequest { .. }
            | Repr::ConfigureAck { .. }
            | Repr::ConfigureNak { .. }
            | Repr::ConfigureReject { .. }
            | Repr::TerminateRequest { .. }
            | Repr::TerminateAck { .. }
            | Repr::CodeReject { .. } => {
                if matches!(repr, Repr::TerminateRequest { .. }) {
                    self.down_reason.get_or_insert(DownReason::PeerTerminated);
                }
                self.lcp.receive(now, repr, raw);
                if self.lcp.neg.magic_collisions >= self.cfg.max_failure {
                    self.down_reason.get_or_insert(DownReason::LoopDetected);
                    self.lcp.close(now, b"loopback detected");
                }
                if self.lcp.neg.auth_exhausted && self.down_reason.is_none() {
                    self.down_reason = Some(DownReason::NegotiationFailed(
                        "no common authentication protocol",
                    ));
                    self.lcp.close(now, b"no common authentication protocol");
                }
            }
            Repr::ProtocolReject { protocol, .. } => match protocol {
                Protocol::Lcp => self.lcp.rxj(now, true),
                Protocol::Ipcp => self.ipcp.rxj(now, true),
                other => {
                    tracing::debug!(protocol = ?other, "peer rejected a protocol we do not run")
                }
            },
            Repr::EchoRequest {
                identifier,
                magic,
                data,
            } if opened => {
                let ours = self.lcp.neg.our_magic();
                if ours != 0 && magic == ours {
                    tracing::warn!("LCP Echo-Request carries our magic number: looped back?");
                }
                self.send_lcp(&Repr::EchoReply {
                    identifier,
                    magic: ours,
                    data,
                });
            }
            Repr::EchoReply { .. } | Repr::EchoRequest { .. } | Repr::DiscardRequest { .. } => {}
            Repr::Identification { message, .. } => {
                let text = printable(message);
                tracing::info!(identification = %text, "LCP Identification");
                if self.identifications.len() < MAX_IDENTIFICATIONS {
                    self.identifications.push(text.clone());
                    self.events.push_back(Event::Identification(text));
                }
            }
            Repr::TimeRemaining { seconds, .. } => tracing::debug!(seconds, "LCP Time-Remaining"),
            _ => self.lcp.ruc(raw),
        }
    }

    fn handle_auth(
        &mut self,
        now: Instant,
        protocol: Protocol,
        payload: &[u8],
        authenticator: &mut dyn Authenticator,
    ) -> Result<(), wire::Error> {
        let packet = control::Packet::new_checked(payload)?;
        let Some(a) = self.auth.as_mut() else {
            self.stats.discarded += 1;
            return Ok(());
        };
        let outcome = if protocol == Protocol::Chap {
            let repr = chap::Repr::parse(&packet)?;
            a.handle_chap(now, &repr, &self.cfg, authenticator, &mut self.rng)
        } else {
            let repr = pap::Repr::parse(&packet)?;
            a.handle_pap(now, &repr, &self.cfg, authenticator, &mut self.rng)
        };
        self.auth_outcome(now, outcome);
        Ok(())
    }

    fn auth_outcome(&mut self, now: Instant, outcome: Outcome) {
        let method = self.auth.as_ref().map(ServerAuth::method);
        match (outcome, method) {
            (Outcome::Pending, _) | (_, None) => {}
            (Outcome::Success { user }, Some(method)) => {
                tracing::info!(user = %user, method = %method, "peer authenticated");
                self.events.push_back(Event::Authenticated {
                    user: user.clone(),
                    method,
                });
                self.user = Some(user);
                if self.phase == Phase::Authenticate {
                    self.phase = Phase::Network;
                    self.ipcp.open(now);
                    self.ipcp.up(now);
                }
            }
            (
                Outcome::Failure {
                    user,
                    reason,
                    fatal,
                },
                Some(method),
            ) => {
                tracing::info!(user = %user, method = %method, reason = %reason, fatal, "authentication failed (Windows error 691)");
                self.events.push_back(Event::AuthFailed {
                    user,
                    reason,
                    windows_error: WINDOWS_ERROR_AUTH_FAILURE,
                });
                if fatal {
                    self.down_reason.get_or_insert(DownReason::AuthFailed);
                    self.lcp.close(now, b"Authentication failed");
                }
            }
        }
    }

    fn handle_ipcp(
        &mut self,
        now: Instant,
        repr: &Repr<'_>,
        raw: &[u8],
        auth: &mut dyn Authenticator,
    ) {
        if let Repr::ConfigureRequest { options, .. } = *repr
            && self.ipcp.neg.assigned.is_none()
        {
            {
                let user = self.user.clone().unwrap_or_default();
                match auth.assign_address(&user, requested_address(options)) {
                    Some(addr) => self.ipcp.neg.assigned = Some(addr),
                    None => {
                        tracing::warn!(user = %user, "no address available");
                        self.down_reason.get_or_insert(DownReason::NoAddress);
                        self.lcp.close(now, b"no address available");
                        return;
                    }
                }
            }
        }
        self.ipcp.receive(now, repr, raw);
    }

    fn check_ip<'f>(&mut self, payload: &'f [u8]) -> Option<&'f [u8]> {
        if !self.ip_up {
            self.stats.discarded += 1;
            return None;
        }
        let (Some(first), Some(src)) = (payload.first(), payload.get(12..16)) else {
            self.stats.malformed_drops += 1;
            return None;
        };
        if first >> 4 != 4 || payload.len() < 20 {
            self.stats.malformed_drops += 1;
            return None;
        }
        let src = Ipv4Addr::new(
            src.first().copied().unwrap_or(0),
            src.get(1).copied().unwrap_or(0),
            src.get(2).copied().unwrap_or(0),
            src.get(3).copied().unwrap_or(0),
        );
        if Some(src) != self.ipcp.neg.assigned {
            self.stats.spoofed_drops += 1;
            tracing::debug!(src = %src, "spoofed source address dropped");
            return None;
        }
        self.stats.ip_packets_in += 1;
        Some(payload)
    }

    /// Moves queued packets to the output and reacts to layer signals until quiet.
    fn drive(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            if let Some(a) = self.auth.as_mut() {
                let packets: Vec<_> = a.out.drain(..).collect();
                for (protocol, p) in packets {
                    progressed = true;
                    self.push_frame(protocol, &p);
                }
            }
            while let Some(p) = self.lcp.poll_packet() {
                progressed = true;
                self.push_frame(Protocol::Lcp, &p);
            }
            while let Some(p) = self.ipcp.poll_packet() {
                progressed = true;
                self.push_frame(Protocol::Ipcp, &p);
            }
            while let Some(s) = self.lcp.poll_signal() {
                progressed = true;
                self.lcp_signal(now, s);
            }
            while let Some(s) = self.ipcp.poll_signal() {
                progressed = true;
                self.ipcp_signal(now, s);
            }
            if !progressed {
                break;
            }
        }
    }

    fn lcp_signal(&mut self, now: Instant, signal: Signal) {
        match signal {
            Signal::Up => {
                let Some(method) = self.lcp.neg.auth else {
                    self.down_reason
                        .get_or_insert(DownReason::NegotiationFailed(
                            "no authentication protocol agreed",
                        ));
                    self.lcp.close(now, b"authentication required");
                    return;
                };
                tracing::debug!(method = %method, peer_mru = self.lcp.neg.peer_mru, "LCP opened");
                let mut a = ServerAuth::new(method);
                #[cfg(test)]
                {
                    a.forced_challenge = self.forced_challenge;
                }
                a.start(now, &self.cfg, &mut self.rng);
                self.auth = Some(a);
                self.phase = Phase::Authenticate;
                self.echo_outstanding = 0;
                self.echo_next =
                    (!self.cfg.echo_interval.is_zero()).then(|| now + self.cfg.echo_interval);
            }
            Signal::Down => {
                self.ipcp.down();
                let was_ip_up = self.ip_up;
                self.ip_up = false;
                self.echo_next = None;
                self.phase = Phase::Establish;
                self.auth = None;
                if self.down_reason == Some(DownReason::PeerTerminated) {
                    self.finish();
                } else if was_ip_up && self.down_reason.is_none() {
                    // RFC 1661 §4.3 (Configure-Request in Opened): renegotiate. Before IPCP is
                    // up this is what a peer does when our Configure-Ack was lost and its
                    // restart timer fired (Windows retransmits every 3 s), so the automaton
                    // renegotiates and authentication starts again on This-Layer-Up. Once an
                    // address is in use we end the session instead of re-authenticating a
                    // live link.
                    self.down_reason = Some(DownReason::NegotiationFailed("peer renegotiated LCP"));
                    self.lcp.close(now, b"renegotiation not supported");
                }
            }
            Signal::Started => {}
            Signal::Finished => {
                self.down_reason
                    .get_or_insert(DownReason::NegotiationFailed("LCP did not converge"));
                self.finish();
            }
        }
    }

    fn ipcp_signal(&mut self, now: Instant, signal: Signal) {
        match signal {
            Signal::Up => {
                let Some(peer_addr) = self.ipcp.neg.assigned else {
                    return;
                };
                self.ip_up = true;
                tracing::info!(peer_addr = %peer_addr, "IPCP opened");
                self.events.push_back(Event::IpUp {
                    peer_addr,
                    our_addr: self.ipcp.neg.our_addr(),
                    dns: self.cfg.dns,
                    wins: self.cfg.wins,
                });
            }
            Signal::Down => self.ip_up = false,
            Signal::Started => {}
            Signal::Finished => {
                if self.phase == Phase::Network {
                    self.down_reason
                        .get_or_insert(DownReason::NegotiationFailed("IPCP did not converge"));
                    self.lcp.close(now, b"IPCP failed");
                }
            }
        }
    }

    fn finish(&mut self) {
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

fn parse_control(payload: &[u8], protocol: Protocol) -> Result<Repr<'_>, wire::Error> {
    let packet = control::Packet::new_checked(payload)?;
    Repr::parse(&packet, protocol)
}
