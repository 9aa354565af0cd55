//! [`Link`]: one PPP session in the authenticator (LNS) role.
//!
//! Phases follow RFC 1661 §3: Establish (LCP), Authenticate, Network (IPCP), Terminate.
//! Non-LCP packets before LCP is open, and NCP packets before authentication succeeds, are
//! silently discarded (RFC 1661 §3.4, §3.5). Once LCP is open, CCP and IPV6CP get an LCP
//! Protocol-Reject (SoftEther Protocol-Rejects CCP, and Windows tolerates it for IPV6CP as well:
//! it then goes on without them), as does any unknown protocol (RFC 1661 §5.7).
//!
//! Keepalive (RFC 1661 §5.8 leaves when to send Echo-Requests to the implementation): the echo
//! timer ticks every `echo_interval`; any valid frame from the peer counts as a sign of life
//! (like pppd's "lcp-echo-adaptive"). A tick after which the peer was heard from sends nothing:
//! it has just shown it is there, an Echo-Reply to our last request included, so a peer that
//! only answers gets a request every other interval. A tick after a silent interval sends an
//! Echo-Request; the peer is dead at the tick that ends `echo_failures` silent intervals in a
//! row (at least one request unanswered), i.e. between `echo_failures` and `echo_failures + 1`
//! intervals after its last frame, as when a request went out at every tick (for
//! `echo_failures` 1: two silent intervals, one request).
//!
//! Inbound IPv4 comes back from `handle_frame` as a slice of the caller's frame: no copy, no
//! allocation and no event-queue growth on the data path, and the borrow ends before the next
//! call. It is returned only after the anti-spoofing check (source == assigned address).

use std::net::Ipv4Addr;
use std::time::Instant;

use wire::ppp::control::{self, Repr};
use wire::ppp::{Protocol, chap, pap};

use crate::auth::{Authenticator, Outcome, ServerAuth};
use crate::config::LinkConfig;
use crate::endpoint::{Endpoint, Phase, Role, parse_control};
use crate::fsm::{Fsm, Signal, State};
use crate::ipcp::{ServerIpcp, requested_address};
use crate::lcp;
use crate::remote::{AuthTicket, AuthVerdict};
use crate::{DownReason, Event, printable};

/// At most this many Identification messages are kept per link (bounded state).
const MAX_IDENTIFICATIONS: usize = 8;

/// The authenticator's part of a [`Link`]: configuration, IPCP with address assignment,
/// the authentication exchange and the LCP echo keepalive.
#[derive(Debug)]
pub struct Server {
    cfg: LinkConfig,
    ipcp: Fsm<ServerIpcp>,
    auth: Option<ServerAuth>,
    user: Option<String>,
    echo_next: Option<Instant>,
    /// Echo-Requests sent since the peer was last heard from.
    echo_outstanding: u32,
    /// A valid frame came from the peer since the last echo tick.
    echo_heard: bool,
    aux_id: u8,
    identifications: Vec<String>,
    #[cfg(test)]
    pub(crate) forced_challenge: Option<[u8; 16]>,
    /// Responses the authentication checked (against a real or the dummy credential).
    #[cfg(test)]
    pub(crate) auth_checks: u32,
}

/// One PPP session in the authenticator (LNS) role. See the crate documentation for the
/// driving contract.
pub type Link = Endpoint<Server>;

impl Endpoint<Server> {
    /// Creates the link and starts LCP (the L2TP session is up, so the lower layer is up and
    /// our first Configure-Request is queued at once).
    pub fn new(config: &LinkConfig, rng_seed: [u8; 32], now: Instant) -> Self {
        let ipcp = Fsm::new(
            Protocol::Ipcp,
            config.limits(),
            ServerIpcp::new(config.our_addr, config.dns, config.wins),
            1,
        );
        let lcp_role = lcp::Role::Authenticator {
            order: config.auth_protocols.clone(),
            index: 0,
        };
        let server = Server {
            cfg: config.clone(),
            ipcp,
            auth: None,
            user: None,
            echo_next: None,
            echo_outstanding: 0,
            echo_heard: false,
            aux_id: 0x80,
            identifications: Vec::new(),
            #[cfg(test)]
            forced_challenge: None,
            #[cfg(test)]
            auth_checks: 0,
        };
        Self::start(rng_seed, config.limits(), lcp_role, config.mru, server, now)
    }

    /// Handles one PPP frame from the peer. Returns the IPv4 packet it carries, if any, after the
    /// anti-spoofing check; everything else is consumed (answers go to `poll_transmit`).
    pub fn handle_frame<'f>(
        &mut self,
        now: Instant,
        frame: &'f [u8],
        auth: &mut dyn Authenticator,
    ) -> Option<&'f [u8]> {
        let (protocol, payload) = self.frame_in(frame)?;
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

    /// Answers the attempt handed out as [`Event::AuthRequest`] with `ticket` (see
    /// [`crate::remote`]): Success or Failure goes to the peer, and the usual
    /// [`Event::Authenticated`] or [`Event::AuthFailed`] follows. Returns false, doing nothing,
    /// when `ticket` is not pending any more (the link timed out waiting, renegotiated or went
    /// down): a late verdict is harmless.
    pub fn resolve_auth(&mut self, now: Instant, ticket: AuthTicket, verdict: AuthVerdict) -> bool {
        let outcome = match self.role.auth.as_mut() {
            Some(a) if self.phase != Phase::Dead => {
                a.resolve(now, ticket, verdict, &self.role.cfg, &mut self.rng)
            }
            _ => None,
        };
        let Some(outcome) = outcome else {
            tracing::debug!(
                ticket = ticket.get(),
                "verdict for no pending attempt ignored"
            );
            return false;
        };
        self.auth_outcome(now, outcome);
        self.drive(now);
        true
    }

    /// Checks the attempt handed out as [`Event::AuthRequest`] with `ticket` against `auth`
    /// after all, as if its look-up had found the user at once: for a caller whose remote
    /// verifier did not answer and who keeps local credentials as a fallback (see
    /// [`crate::remote`]). The stored Response is verified against our unchanged challenge;
    /// Success or Failure and the usual event follow. Returns false, doing nothing, when
    /// `ticket` is not pending any more.
    pub fn resolve_auth_locally(
        &mut self,
        now: Instant,
        ticket: AuthTicket,
        auth: &mut dyn Authenticator,
    ) -> bool {
        let outcome = match self.role.auth.as_mut() {
            Some(a) if self.phase != Phase::Dead => {
                a.resolve_locally(now, ticket, &self.role.cfg, auth, &mut self.rng)
            }
            _ => None,
        };
        let Some(outcome) = outcome else {
            tracing::debug!(
                ticket = ticket.get(),
                "local check for no pending attempt ignored"
            );
            return false;
        };
        #[cfg(test)]
        if let Some(a) = self.role.auth.as_ref() {
            self.role.auth_checks = a.checks;
        }
        self.auth_outcome(now, outcome);
        self.drive(now);
        true
    }

    /// Whether the peer's authentication was decided by a remote verdict
    /// ([`Link::resolve_auth`]) rather than checked here; false before it succeeded.
    pub fn verified_remotely(&self) -> bool {
        self.role.user.is_some()
            && self
                .role
                .auth
                .as_ref()
                .is_some_and(ServerAuth::remote_success)
    }

    /// The user name of the attempt handed out as [`Event::AuthRequest`] with `ticket`, while
    /// it awaits its verdict.
    pub fn pending_user(&self, ticket: AuthTicket) -> Option<&str> {
        self.role.auth.as_ref()?.pending_user(ticket)
    }

    /// The authenticated user, once authentication succeeded.
    pub fn user(&self) -> Option<&str> {
        self.role.user.as_deref()
    }

    /// The address assigned to the peer, once the address source gave one.
    pub fn assigned_address(&self) -> Option<Ipv4Addr> {
        self.role.ipcp.neg.assigned
    }

    /// The LCP Identification messages received (at most 8).
    pub fn identifications(&self) -> &[String] {
        &self.role.identifications
    }

    /// The peer's MRU (the largest IPv4 packet `encapsulate_ip` accepts).
    pub fn peer_mru(&self) -> u16 {
        self.lcp.neg.peer_mru
    }

    /// Whether IPv4 frames flow both ways right now: LCP is opened, IPCP is up and the peer has
    /// an address. This is the precondition under which [`Link::handle_frame`] returns IPv4
    /// packets (after the anti-spoofing check) and [`Link::encapsulate_ip`] succeeds, so a fast
    /// path that carries IPv4 frames without the link may do so exactly while this holds.
    pub fn ip_up(&self) -> bool {
        self.ip_up
            && self.phase == Phase::Network
            && self.lcp.state() == State::Opened
            && self.role.ipcp.neg.assigned.is_some()
    }

    /// Records a sign of life from the peer that was seen outside [`Link::handle_frame`] (an
    /// IPv4 frame carried by a fast path): like any valid frame, it resets the count of
    /// unanswered LCP Echo-Requests (pppd's "lcp-echo-adaptive", see the module docs).
    pub fn note_alive(&mut self) {
        self.alive();
    }

    // --- internals ---

    fn alive(&mut self) {
        self.role.echo_outstanding = 0;
        self.role.echo_heard = true;
    }

    fn next_aux_id(&mut self) -> u8 {
        self.role.aux_id = self.role.aux_id.wrapping_add(1);
        self.role.aux_id
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
                if self.lcp.neg.magic_collisions >= self.role.cfg.max_failure {
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
                Protocol::Ipcp => self.role.ipcp.rxj(now, true),
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
                if self.role.identifications.len() < MAX_IDENTIFICATIONS {
                    self.role.identifications.push(text.clone());
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
        let Some(a) = self.role.auth.as_mut() else {
            self.stats.discarded += 1;
            return Ok(());
        };
        let outcome = if protocol == Protocol::Chap {
            let repr = chap::Repr::parse(&packet)?;
            a.handle_chap(now, &repr, &self.role.cfg, authenticator, &mut self.rng)
        } else {
            let repr = pap::Repr::parse(&packet)?;
            a.handle_pap(now, &repr, &self.role.cfg, authenticator, &mut self.rng)
        };
        #[cfg(test)]
        {
            self.role.auth_checks = a.checks;
        }
        self.auth_outcome(now, outcome);
        Ok(())
    }

    fn auth_outcome(&mut self, now: Instant, outcome: Outcome) {
        let method = self.role.auth.as_ref().map(ServerAuth::method);
        match (outcome, method) {
            (Outcome::Pending, _) | (_, None) => {}
            (Outcome::Deferred { ticket, request }, Some(method)) => {
                tracing::info!(user = %request.user, method = %method, "authentication handed to the remote server");
                self.events
                    .push_back(Event::AuthRequest { ticket, request });
            }
            (Outcome::Success { user }, Some(method)) => {
                tracing::info!(user = %user, method = %method, "peer authenticated");
                self.events.push_back(Event::Authenticated {
                    user: user.clone(),
                    method,
                });
                self.role.user = Some(user);
                // A remote verdict's name servers replace the configured pair for this
                // session (RFC 2548, vendor 311 types 28-31); a local check gets the configured ones.
                let given = self.role.auth.as_ref().map(ServerAuth::name_servers);
                let given = given.unwrap_or_default();
                let ipcp = &mut self.role.ipcp.neg;
                ipcp.dns = given.dns.unwrap_or(self.role.cfg.dns);
                ipcp.wins = given.nbns.unwrap_or(self.role.cfg.wins);
                if self.phase == Phase::Authenticate {
                    self.phase = Phase::Network;
                    self.role.ipcp.open(now);
                    self.role.ipcp.up(now);
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
                let windows_error = reason.windows_error();
                tracing::info!(user = %user, method = %method, reason = %reason, fatal, "authentication failed (Windows error {windows_error})");
                self.events.push_back(Event::AuthFailed {
                    user,
                    reason,
                    windows_error,
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
            && self.role.ipcp.neg.assigned.is_none()
        {
            {
                let user = self.role.user.clone().unwrap_or_default();
                let requested = requested_address(options);
                // A remote verdict's address wins over the pool (RFC 2865 §5.8).
                let framed = self.role.auth.as_ref().and_then(ServerAuth::framed);
                let addr = match framed {
                    Some(framed) => auth.assign_remote_address(&user, framed, requested),
                    None => auth.assign_address(&user, requested),
                };
                match addr {
                    Some(addr) => self.role.ipcp.neg.assigned = Some(addr),
                    None => {
                        tracing::warn!(user = %user, "no address available");
                        self.down_reason.get_or_insert(DownReason::NoAddress);
                        self.lcp.close(now, b"no address available");
                        return;
                    }
                }
            }
        }
        self.role.ipcp.receive(now, repr, raw);
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
        if Some(src) != self.role.ipcp.neg.assigned {
            self.stats.spoofed_drops += 1;
            tracing::debug!(src = %src, "spoofed source address dropped");
            return None;
        }
        self.stats.ip_packets_in += 1;
        Some(payload)
    }
}

impl Role for Server {
    type Ipcp = ServerIpcp;

    fn ipcp(&self) -> &Fsm<ServerIpcp> {
        &self.ipcp
    }

    fn ipcp_mut(&mut self) -> &mut Fsm<ServerIpcp> {
        &mut self.ipcp
    }

    fn deadlines(ep: &Link) -> [Option<Instant>; 2] {
        let echo = ep
            .role
            .echo_next
            .filter(|_| ep.lcp.state() == State::Opened);
        [ep.role.auth.as_ref().and_then(ServerAuth::deadline), echo]
    }

    fn timeout(ep: &mut Link, now: Instant) {
        if let Some(a) = ep.role.auth.as_mut() {
            let outcome = a.handle_timeout(now, &ep.role.cfg, &mut ep.rng);
            ep.auth_outcome(now, outcome);
        }
        let echo_due = ep.role.echo_next.is_some_and(|next| now >= next);
        if !echo_due || ep.lcp.state() != State::Opened {
            return;
        }
        ep.role.echo_next = Some(now + ep.role.cfg.echo_interval);
        if core::mem::take(&mut ep.role.echo_heard) {
            // Heard from within the interval: no need to ask (see the module docs).
            return;
        }
        // This tick ends silent interval number `echo_outstanding + 1` (each earlier one
        // sent a request).
        let limit = ep.role.cfg.echo_failures.saturating_sub(1).max(1);
        if ep.role.echo_outstanding >= limit {
            tracing::info!(
                unanswered = ep.role.echo_outstanding,
                "peer dead: no LCP echo reply"
            );
            ep.down_reason.get_or_insert(DownReason::DeadPeer);
            ep.lcp.close(now, b"peer not responding");
            ep.drive(now);
            ep.finish();
            return;
        }
        let id = ep.next_aux_id();
        let magic = ep.lcp.neg.our_magic();
        ep.send_lcp(&Repr::EchoRequest {
            identifier: id,
            magic,
            data: &[],
        });
        ep.role.echo_outstanding += 1;
    }

    fn flush(ep: &mut Link) -> bool {
        let Some(a) = ep.role.auth.as_mut() else {
            return false;
        };
        let packets: Vec<_> = a.out.drain(..).collect();
        let any = !packets.is_empty();
        for (protocol, p) in packets {
            ep.push_frame(protocol, &p);
        }
        any
    }

    fn lcp_signal(ep: &mut Link, now: Instant, signal: Signal) {
        match signal {
            Signal::Up => {
                let Some(method) = ep.lcp.neg.auth else {
                    ep.down_reason.get_or_insert(DownReason::NegotiationFailed(
                        "no authentication protocol agreed",
                    ));
                    ep.lcp.close(now, b"authentication required");
                    return;
                };
                tracing::debug!(method = %method, peer_mru = ep.lcp.neg.peer_mru, "LCP opened");
                let mut a = ServerAuth::new(method);
                #[cfg(test)]
                {
                    a.forced_challenge = ep.role.forced_challenge;
                }
                a.start(now, &ep.role.cfg, &mut ep.rng);
                ep.role.auth = Some(a);
                ep.phase = Phase::Authenticate;
                ep.role.echo_outstanding = 0;
                ep.role.echo_heard = false;
                ep.role.echo_next =
                    (!ep.role.cfg.echo_interval.is_zero()).then(|| now + ep.role.cfg.echo_interval);
            }
            Signal::Down => {
                ep.role.ipcp.down();
                let was_ip_up = ep.ip_up;
                ep.ip_up = false;
                ep.role.echo_next = None;
                ep.phase = Phase::Establish;
                ep.role.auth = None;
                if ep.down_reason == Some(DownReason::PeerTerminated) {
                    ep.finish();
                } else if was_ip_up && ep.down_reason.is_none() {
                    // RFC 1661 §4.3 (Configure-Request in Opened): renegotiate. Before IPCP is
                    // up this is what a peer does when our Configure-Ack was lost and its
                    // restart timer fired (Windows retransmits every 3 s), so the automaton
                    // renegotiates and authentication starts again on This-Layer-Up. Once an
                    // address is in use we end the session instead of re-authenticating a
                    // live link.
                    ep.down_reason = Some(DownReason::NegotiationFailed("peer renegotiated LCP"));
                    ep.lcp.close(now, b"renegotiation not supported");
                }
            }
            Signal::Started => {}
            Signal::Finished => {
                ep.down_reason
                    .get_or_insert(DownReason::NegotiationFailed("LCP did not converge"));
                ep.finish();
            }
        }
    }

    fn ipcp_signal(ep: &mut Link, now: Instant, signal: Signal) {
        match signal {
            Signal::Up => {
                let Some(peer_addr) = ep.role.ipcp.neg.assigned else {
                    return;
                };
                ep.ip_up = true;
                tracing::info!(peer_addr = %peer_addr, "IPCP opened");
                ep.events.push_back(Event::IpUp {
                    peer_addr,
                    our_addr: ep.role.ipcp.neg.our_addr(),
                    dns: ep.role.cfg.dns,
                    wins: ep.role.cfg.wins,
                });
            }
            Signal::Down => ep.ip_up = false,
            Signal::Started => {}
            Signal::Finished => {
                if ep.phase == Phase::Network {
                    ep.down_reason
                        .get_or_insert(DownReason::NegotiationFailed("IPCP did not converge"));
                    ep.lcp.close(now, b"IPCP failed");
                }
            }
        }
    }
}
