//! [`Peer`]: the minimal client role, so that engine tests (and the testkit client) can pair an
//! authenticator and a client in memory.
//!
//! It negotiates LCP (agreeing to the authentication protocols in its config), answers CHAP
//! Challenges for MS-CHAPv2 (RFC 2759 §4, checking the server's `S=` per §5), CHAP-MD5 and
//! MS-CHAPv1, sends PAP requests, retries after an MS-CHAP Failure with `R=1` using the `C=`
//! challenge (RFC 2759 §6), and asks IPCP for an address (and DNS/WINS), taking the server's
//! Naks. It answers LCP Echo-Requests but sends none.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use wire::ppp::control::{self, Repr};
use wire::ppp::mschap::{FailureChallenge, FailureMessage, SuccessMessage, V1Response, V2Response};
use wire::ppp::{Protocol, chap, pap};
use zeroize::Zeroizing;

use crate::auth::AuthFailure;
use crate::config::{AuthProtocol, PeerConfig};
use crate::fsm::{Fsm, Signal, State};
use crate::ipcp::ClientIpcp;
use crate::lcp::{Lcp, Role};
use crate::{DownReason, Error, Event, Stats, WINDOWS_ERROR_AUTH_FAILURE};

/// Attempts after an MS-CHAP Failure with `R=1`.
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Establish,
    Authenticate,
    Network,
    Dead,
}

/// The client role of a PPP session.
#[derive(Debug)]
pub struct Peer {
    cfg: PeerConfig,
    rng: ChaCha20Rng,
    phase: Phase,
    lcp: Fsm<Lcp>,
    ipcp: Fsm<ClientIpcp>,
    method: Option<AuthProtocol>,
    expected_s: Option<[u8; 20]>,
    attempts: u32,
    pap_id: u8,
    auth_deadline: Option<Instant>,
    ip_up: bool,
    down_reason: Option<DownReason>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
    #[cfg(test)]
    pub(crate) forced_peer_challenge: Option<[u8; 16]>,
    #[cfg(test)]
    pub(crate) last_nt_response: Option<[u8; 24]>,
}

impl Peer {
    /// Creates the client and starts LCP.
    pub fn new(config: &PeerConfig, rng_seed: [u8; 32], now: Instant) -> Self {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let lcp_rng =
            ChaCha20Rng::from_rng(&mut rng).unwrap_or_else(|_| ChaCha20Rng::from_seed(rng_seed));
        let role = Role::Peer {
            accepted: config.auth_protocols.clone(),
            extra: config.extra_lcp_options.clone(),
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
            ClientIpcp::new(
                config.requested_addr,
                config.request_dns,
                config.request_wins,
            ),
            6,
        );
        let mut peer = Self {
            cfg: config.clone(),
            rng,
            phase: Phase::Establish,
            lcp,
            ipcp,
            method: None,
            expected_s: None,
            attempts: 0,
            pap_id: 0,
            auth_deadline: None,
            ip_up: false,
            down_reason: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            #[cfg(test)]
            forced_peer_challenge: None,
            #[cfg(test)]
            last_nt_response: None,
        };
        peer.lcp.open(now);
        peer.lcp.up(now);
        peer.drive(now);
        peer
    }

    /// Replaces the password (for a retry after a Failure).
    pub fn set_password(&mut self, password: &str) {
        self.cfg.password = Zeroizing::new(password.to_owned());
    }

    /// Handles one PPP frame from the server; returns a carried IPv4 packet once IPCP is open.
    pub fn handle_frame<'f>(&mut self, now: Instant, frame: &'f [u8]) -> Option<&'f [u8]> {
        self.stats.frames_in += 1;
        self.stats.bytes_in += frame.len() as u64;
        if self.phase == Phase::Dead {
            self.stats.discarded += 1;
            return None;
        }
        let Ok(packet) = wire::ppp::Packet::new_checked(frame) else {
            self.stats.malformed_drops += 1;
            return None;
        };
        let payload: &'f [u8] = frame.get(packet.header_len()..).unwrap_or_default();
        let mut ip = None;
        let result = match packet.protocol() {
            Protocol::Lcp => {
                parse_control(payload, Protocol::Lcp).map(|r| self.handle_lcp(now, &r, payload))
            }
            _ if self.lcp.state() != State::Opened => {
                self.stats.discarded += 1;
                Ok(())
            }
            Protocol::Chap => control::Packet::new_checked(payload)
                .and_then(|p| chap::Repr::parse(&p))
                .map(|r| self.handle_chap(now, &r)),
            Protocol::Pap => control::Packet::new_checked(payload)
                .and_then(|p| pap::Repr::parse(&p))
                .map(|r| self.handle_pap(now, &r)),
            Protocol::Ipcp if self.phase == Phase::Network => {
                parse_control(payload, Protocol::Ipcp).map(|r| self.ipcp.receive(now, &r, payload))
            }
            Protocol::Ipv4 if self.ip_up => {
                self.stats.ip_packets_in += 1;
                ip = Some(payload);
                Ok(())
            }
            _ => {
                self.stats.discarded += 1;
                Ok(())
            }
        };
        if result.is_err() {
            self.stats.malformed_drops += 1;
        }
        self.drive(now);
        ip
    }

    /// Drives the timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        if self.auth_deadline.is_some_and(|d| now >= d) {
            self.auth_deadline = None;
            if self.method == Some(AuthProtocol::Pap) && self.phase == Phase::Authenticate {
                self.send_pap();
                self.auth_deadline = Some(now + self.cfg.restart_interval);
            }
        }
        self.drive(now);
    }

    /// The next frame to send.
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
            self.auth_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Closes the link with an LCP Terminate-Request.
    pub fn close(&mut self, now: Instant, reason: &str) {
        self.down_reason
            .get_or_insert_with(|| DownReason::LocalClose(reason.to_owned()));
        self.lcp.close(now, reason.as_bytes());
        self.drive(now);
    }

    /// Wraps an IPv4 packet for the server into `out`.
    pub fn encapsulate_ip(&mut self, ip_packet: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if !self.ip_up {
            return Err(Error::ApiMisuse("IPCP is not open"));
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

    /// Our address (0.0.0.0 until assigned).
    pub fn address(&self) -> Ipv4Addr {
        self.ipcp.neg.addr
    }

    // --- internals ---

    fn push_frame(&mut self, protocol: Protocol, packet: &[u8]) {
        let mut frame = Vec::with_capacity(packet.len() + 4);
        frame.extend_from_slice(&[wire::ppp::ADDRESS, wire::ppp::CONTROL]);
        frame.extend_from_slice(&u16::from(protocol).to_be_bytes());
        frame.extend_from_slice(packet);
        self.stats.frames_out += 1;
        self.stats.bytes_out += frame.len() as u64;
        self.out.push_back(frame);
    }

    fn handle_lcp(&mut self, now: Instant, repr: &Repr<'_>, raw: &[u8]) {
        match *repr {
            Repr::EchoRequest {
                identifier, data, ..
            } => {
                if self.lcp.state() == State::Opened {
                    let reply = Repr::EchoReply {
                        identifier,
                        magic: self.lcp.neg.our_magic(),
                        data,
                    };
                    let mut buf = vec![0u8; reply.buffer_len()];
                    if reply.emit(&mut buf).is_ok() {
                        self.push_frame(Protocol::Lcp, &buf);
                    }
                }
            }
            Repr::TerminateRequest { .. } => {
                self.down_reason.get_or_insert(DownReason::PeerTerminated);
                self.lcp.receive(now, repr, raw);
            }
            Repr::ProtocolReject { .. }
            | Repr::EchoReply { .. }
            | Repr::DiscardRequest { .. }
            | Repr::Identification { .. }
            | Repr::TimeRemaining { .. } => {}
            _ => self.lcp.receive(now, repr, raw),
        }
    }

    fn respond(&mut self, identifier: u8, challenge: &[u8]) {
        let Some(method) = self.method else { return };
        let password = self.cfg.password.clone();
        let user = self.cfg.user.clone();
        let value: Vec<u8> = match method {
            AuthProtocol::MsChapV2 => {
                let Ok(auth_challenge) = <[u8; 16]>::try_from(challenge) else {
                    return;
                };
                let mut peer_challenge = [0u8; 16];
                self.rng.fill_bytes(&mut peer_challenge);
                #[cfg(test)]
                if let Some(c) = self.forced_peer_challenge {
                    peer_challenge = c;
                }
                let hash = Zeroizing::new(crypto::mschap::nt_password_hash(&password));
                let name = crypto::mschap::user_name_for_hash(user.as_bytes());
                let nt_response = crypto::mschap::generate_nt_response(
                    &auth_challenge,
                    &peer_challenge,
                    name,
                    &hash,
                );
                #[cfg(test)]
                {
                    self.last_nt_response = Some(nt_response);
                }
                self.expected_s = Some(crypto::mschap::generate_authenticator_response(
                    &hash,
                    &nt_response,
                    &peer_challenge,
                    &auth_challenge,
                    name,
                ));
                V2Response {
                    peer_challenge,
                    reserved: [0; 8],
                    nt_response,
                    flags: 0,
                }
                .to_bytes()
                .to_vec()
            }
            AuthProtocol::MsChapV1 => {
                let Ok(c) = <[u8; 8]>::try_from(challenge) else {
                    return;
                };
                let hash = Zeroizing::new(crypto::mschap::nt_password_hash(&password));
                let nt_response = crypto::mschap::v1_nt_response(&c, &hash);
                V1Response {
                    lm_response: [0; 24],
                    nt_response,
                    use_nt: 1,
                }
                .to_bytes()
                .to_vec()
            }
            AuthProtocol::Chap => {
                crypto::chap::md5_response(identifier, password.as_bytes(), challenge).to_vec()
            }
            AuthProtocol::Pap => return,
        };
        let repr = chap::Repr::Response {
            identifier,
            value: &value,
            name: user.as_bytes(),
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        if repr.emit(&mut buf).is_ok() {
            self.push_frame(Protocol::Chap, &buf);
        }
    }

    fn handle_chap(&mut self, now: Instant, repr: &chap::Repr<'_>) {
        if self.phase != Phase::Authenticate {
            return;
        }
        match *repr {
            chap::Repr::Challenge {
                identifier, value, ..
            } => self.respond(identifier, value),
            chap::Repr::Success { message, .. } => {
                if self.method == Some(AuthProtocol::MsChapV2) {
                    let ok = match (SuccessMessage::parse(message), self.expected_s) {
                        (Ok(m), Some(s)) => crypto::ct_eq(&m.authenticator_response, &s),
                        _ => false,
                    };
                    if !ok {
                        self.down_reason
                            .get_or_insert(DownReason::ServerNotAuthenticated);
                        self.lcp.close(now, b"server not authenticated");
                        return;
                    }
                }
                self.authenticated(now);
            }
            chap::Repr::Failure {
                identifier,
                message,
            } => {
                let parsed = FailureMessage::parse(message).ok();
                self.events.push_back(Event::AuthFailed {
                    user: self.cfg.user.clone(),
                    reason: AuthFailure::WrongPassword,
                    windows_error: parsed.map_or(WINDOWS_ERROR_AUTH_FAILURE, |f| f.error),
                });
                self.attempts += 1;
                match parsed {
                    Some(FailureMessage {
                        retry: true,
                        challenge: Some(c),
                        ..
                    }) if self.attempts < MAX_ATTEMPTS => {
                        let challenge = match c {
                            FailureChallenge::V1(b) => b.to_vec(),
                            FailureChallenge::V2(b) => b.to_vec(),
                        };
                        self.respond(identifier.wrapping_add(1), &challenge);
                    }
                    // CHAP-MD5: the server may challenge again; otherwise it terminates.
                    _ if self.method == Some(AuthProtocol::Chap) => {}
                    _ => {
                        self.down_reason.get_or_insert(DownReason::AuthFailed);
                        self.lcp.close(now, b"authentication failed");
                    }
                }
            }
            _ => {}
        }
    }

    fn send_pap(&mut self) {
        self.pap_id = self.pap_id.wrapping_add(1);
        let password = self.cfg.password.clone();
        let repr = pap::Repr::AuthenticateRequest {
            identifier: self.pap_id,
            peer_id: self.cfg.user.as_bytes(),
            password: password.as_bytes(),
        };
        let mut buf = Zeroizing::new(vec![0u8; repr.buffer_len()]);
        if repr.emit(&mut buf).is_ok() {
            self.push_frame(Protocol::Pap, &buf);
        }
    }

    fn handle_pap(&mut self, now: Instant, repr: &pap::Repr<'_>) {
        if self.phase != Phase::Authenticate {
            return;
        }
        match *repr {
            pap::Repr::AuthenticateAck { identifier, .. } if identifier == self.pap_id => {
                self.authenticated(now)
            }
            pap::Repr::AuthenticateNak { identifier, .. } if identifier == self.pap_id => {
                self.events.push_back(Event::AuthFailed {
                    user: self.cfg.user.clone(),
                    reason: AuthFailure::WrongPassword,
                    windows_error: WINDOWS_ERROR_AUTH_FAILURE,
                });
                self.attempts += 1;
                if self.attempts < MAX_ATTEMPTS {
                    self.send_pap();
                    self.auth_deadline = Some(now + self.cfg.restart_interval);
                } else {
                    self.down_reason.get_or_insert(DownReason::AuthFailed);
                    self.lcp.close(now, b"authentication failed");
                }
            }
            _ => {}
        }
    }

    fn authenticated(&mut self, now: Instant) {
        self.auth_deadline = None;
        if let Some(method) = self.method {
            self.events.push_back(Event::Authenticated {
                user: self.cfg.user.clone(),
                method,
            });
        }
        self.phase = Phase::Network;
        self.ipcp.open(now);
        self.ipcp.up(now);
    }

    fn drive(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
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
                match s {
                    Signal::Up => {
                        self.method = self.lcp.neg.auth;
                        self.phase = Phase::Authenticate;
                        match self.method {
                            None => self.authenticated(now),
                            Some(AuthProtocol::Pap) => {
                                self.send_pap();
                                self.auth_deadline = Some(now + self.cfg.restart_interval);
                            }
                            Some(_) => {}
                        }
                    }
                    Signal::Down => {
                        self.ipcp.down();
                        self.ip_up = false;
                        if self.down_reason == Some(DownReason::PeerTerminated) {
                            self.finish();
                        } else {
                            self.phase = Phase::Establish;
                        }
                    }
                    Signal::Started => {}
                    Signal::Finished => self.finish(),
                }
            }
            while let Some(s) = self.ipcp.poll_signal() {
                progressed = true;
                match s {
                    Signal::Up => {
                        self.ip_up = true;
                        let n = &self.ipcp.neg;
                        self.events.push_back(Event::IpUp {
                            peer_addr: n.addr,
                            our_addr: n.server_addr.unwrap_or(Ipv4Addr::UNSPECIFIED),
                            dns: n.dns,
                            wins: n.wins,
                        });
                    }
                    Signal::Down => self.ip_up = false,
                    Signal::Started => {}
                    Signal::Finished => {
                        self.down_reason
                            .get_or_insert(DownReason::NegotiationFailed("IPCP did not converge"));
                        self.lcp.close(now, b"IPCP failed");
                    }
                }
            }
            if !progressed {
                break;
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
        self.events.push_back(Event::Down { reason });
    }
}

fn parse_control(payload: &[u8], protocol: Protocol) -> Result<Repr<'_>, wire::Error> {
    let packet = control::Packet::new_checked(payload)?;
    Repr::parse(&packet, protocol)
}
