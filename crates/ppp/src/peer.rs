//! [`Peer`]: the minimal client role, so that engine tests (and the testkit client) can pair an
//! authenticator and a client in memory.
//!
//! It negotiates LCP (agreeing to the authentication protocols in its config), answers CHAP
//! Challenges for MS-CHAPv2 (RFC 2759 §4, checking the server's `S=` per §5), CHAP-MD5 and
//! MS-CHAPv1, sends PAP requests, retries after an MS-CHAP Failure with `R=1` using the `C=`
//! challenge (RFC 2759 §6), and asks IPCP for an address (and DNS/WINS), taking the server's
//! Naks. It answers LCP Echo-Requests but sends none.

use std::net::Ipv4Addr;
use std::time::Instant;

use rand::RngCore;
use wire::ppp::control::{self, Repr};
use wire::ppp::mschap::{FailureChallenge, FailureMessage, SuccessMessage, V1Response, V2Response};
use wire::ppp::{Protocol, chap, pap};
use zeroize::Zeroizing;

use crate::auth::AuthFailure;
use crate::config::{AuthProtocol, PeerConfig};
use crate::endpoint::{Endpoint, Phase, Role, parse_control};
use crate::fsm::{Fsm, Signal, State};
use crate::ipcp::ClientIpcp;
use crate::lcp;
use crate::{DownReason, Event, WINDOWS_ERROR_AUTH_FAILURE};

/// Attempts after an MS-CHAP Failure with `R=1`.
const MAX_ATTEMPTS: u32 = 3;

/// The client's part of a [`Peer`]: configuration, IPCP asking for an address, and the
/// state of answering the server's authentication.
#[derive(Debug)]
pub struct Client {
    cfg: PeerConfig,
    ipcp: Fsm<ClientIpcp>,
    method: Option<AuthProtocol>,
    expected_s: Option<[u8; 20]>,
    /// The last Challenge answered (identifier and value) and the Response frame sent: a
    /// retransmitted Challenge (RFC 1994 §4.1: same identifier, same value, sent when our
    /// Response was late or lost) gets the same Response again. A fresh MS-CHAPv2 Response
    /// would carry a new Peer-Challenge, and the server's Success, which answers the first one
    /// (RFC 2759 §5), would then not match what we expect.
    answered: Option<(u8, Vec<u8>, Vec<u8>)>,
    attempts: u32,
    pap_id: u8,
    auth_deadline: Option<Instant>,
    #[cfg(test)]
    pub(crate) forced_peer_challenge: Option<[u8; 16]>,
    #[cfg(test)]
    pub(crate) last_nt_response: Option<[u8; 24]>,
}

/// The client role of a PPP session.
pub type Peer = Endpoint<Client>;

impl Endpoint<Client> {
    /// Creates the client and starts LCP.
    pub fn new(config: &PeerConfig, rng_seed: [u8; 32], now: Instant) -> Self {
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
        let lcp_role = lcp::Role::Peer {
            accepted: config.auth_protocols.clone(),
            extra: config.extra_lcp_options.clone(),
        };
        let client = Client {
            cfg: config.clone(),
            ipcp,
            method: None,
            expected_s: None,
            answered: None,
            attempts: 0,
            pap_id: 0,
            auth_deadline: None,
            #[cfg(test)]
            forced_peer_challenge: None,
            #[cfg(test)]
            last_nt_response: None,
        };
        Self::start(rng_seed, config.limits(), lcp_role, config.mru, client, now)
    }

    /// Replaces the password (for a retry after a Failure).
    pub fn set_password(&mut self, password: &str) {
        self.role.cfg.password = Zeroizing::new(password.to_owned());
    }

    /// Handles one PPP frame from the server; returns a carried IPv4 packet once IPCP is open.
    pub fn handle_frame<'f>(&mut self, now: Instant, frame: &'f [u8]) -> Option<&'f [u8]> {
        let (protocol, payload) = self.frame_in(frame)?;
        let mut ip = None;
        let result = match protocol {
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
                parse_control(payload, Protocol::Ipcp)
                    .map(|r| self.role.ipcp.receive(now, &r, payload))
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
        if let Err(e) = result {
            self.malformed::<()>(e);
        }
        self.drive(now);
        ip
    }

    /// Our address (0.0.0.0 until assigned).
    pub fn address(&self) -> Ipv4Addr {
        self.role.ipcp.neg.addr
    }

    // --- internals ---

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
        let Some(method) = self.role.method else {
            return;
        };
        if let Some((id, value, frame)) = &self.role.answered
            && *id == identifier
            && value.as_slice() == challenge
        {
            let frame = frame.clone();
            self.push_frame(Protocol::Chap, &frame);
            return;
        }
        let password = self.role.cfg.password.clone();
        let user = self.role.cfg.user.clone();
        let value: Vec<u8> = match method {
            AuthProtocol::MsChapV2 => {
                let Ok(auth_challenge) = <[u8; 16]>::try_from(challenge) else {
                    return;
                };
                let mut peer_challenge = [0u8; 16];
                self.rng.fill_bytes(&mut peer_challenge);
                #[cfg(test)]
                if let Some(c) = self.role.forced_peer_challenge {
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
                    self.role.last_nt_response = Some(nt_response);
                }
                self.role.expected_s = Some(crypto::mschap::generate_authenticator_response(
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
        let repr = chap::Repr {
            identifier,
            body: chap::Body::Response {
                value: &value,
                name: user.as_bytes(),
            },
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        if repr.emit(&mut buf).is_ok() {
            self.push_frame(Protocol::Chap, &buf);
            self.role.answered = Some((identifier, challenge.to_vec(), buf));
        }
    }

    fn handle_chap(&mut self, now: Instant, repr: &chap::Repr<'_>) {
        if self.phase != Phase::Authenticate {
            return;
        }
        let identifier = repr.identifier;
        match repr.body {
            chap::Body::Challenge { value, .. } => self.respond(identifier, value),
            chap::Body::Success(message) => {
                if self.role.method == Some(AuthProtocol::MsChapV2) {
                    let ok = match (SuccessMessage::parse(message), self.role.expected_s) {
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
            chap::Body::Failure(message) => {
                let parsed = FailureMessage::parse(message).ok();
                self.events.push_back(Event::AuthFailed {
                    user: self.role.cfg.user.clone(),
                    reason: AuthFailure::WrongPassword,
                    windows_error: parsed.map_or(WINDOWS_ERROR_AUTH_FAILURE, |f| f.error),
                });
                self.role.attempts += 1;
                match parsed {
                    Some(FailureMessage {
                        retry: true,
                        challenge: Some(c),
                        ..
                    }) if self.role.attempts < MAX_ATTEMPTS => {
                        let challenge = match c {
                            FailureChallenge::V1(b) => b.to_vec(),
                            FailureChallenge::V2(b) => b.to_vec(),
                        };
                        self.respond(identifier.wrapping_add(1), &challenge);
                    }
                    // CHAP-MD5: the server may challenge again; otherwise it terminates.
                    _ if self.role.method == Some(AuthProtocol::Chap) => {}
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
        self.role.pap_id = self.role.pap_id.wrapping_add(1);
        let password = self.role.cfg.password.clone();
        let repr = pap::Repr {
            identifier: self.role.pap_id,
            body: pap::Body::AuthenticateRequest {
                peer_id: self.role.cfg.user.as_bytes(),
                password: password.as_bytes(),
            },
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
        if repr.identifier != self.role.pap_id {
            return;
        }
        match repr.body {
            pap::Body::AuthenticateAck(_) => self.authenticated(now),
            pap::Body::AuthenticateNak(_) => {
                self.events.push_back(Event::AuthFailed {
                    user: self.role.cfg.user.clone(),
                    reason: AuthFailure::WrongPassword,
                    windows_error: WINDOWS_ERROR_AUTH_FAILURE,
                });
                self.role.attempts += 1;
                if self.role.attempts < MAX_ATTEMPTS {
                    self.send_pap();
                    self.role.auth_deadline = Some(now + self.role.cfg.restart_interval);
                } else {
                    self.down_reason.get_or_insert(DownReason::AuthFailed);
                    self.lcp.close(now, b"authentication failed");
                }
            }
            _ => {}
        }
    }

    fn authenticated(&mut self, now: Instant) {
        self.role.auth_deadline = None;
        if let Some(method) = self.role.method {
            self.events.push_back(Event::Authenticated {
                user: self.role.cfg.user.clone(),
                method,
            });
        }
        self.phase = Phase::Network;
        self.role.ipcp.open(now);
        self.role.ipcp.up(now);
    }
}

impl Role for Client {
    type Ipcp = ClientIpcp;

    fn ipcp(&self) -> &Fsm<ClientIpcp> {
        &self.ipcp
    }

    fn ipcp_mut(&mut self) -> &mut Fsm<ClientIpcp> {
        &mut self.ipcp
    }

    fn deadlines(ep: &Peer) -> [Option<Instant>; 2] {
        [ep.role.auth_deadline, None]
    }

    fn timeout(ep: &mut Peer, now: Instant) {
        if ep.role.auth_deadline.is_some_and(|d| now >= d) {
            ep.role.auth_deadline = None;
            if ep.role.method == Some(AuthProtocol::Pap) && ep.phase == Phase::Authenticate {
                ep.send_pap();
                ep.role.auth_deadline = Some(now + ep.role.cfg.restart_interval);
            }
        }
    }

    fn flush(_: &mut Peer) -> bool {
        false
    }

    fn lcp_signal(ep: &mut Peer, now: Instant, signal: Signal) {
        match signal {
            Signal::Up => {
                ep.role.method = ep.lcp.neg.auth;
                ep.phase = Phase::Authenticate;
                match ep.role.method {
                    None => ep.authenticated(now),
                    Some(AuthProtocol::Pap) => {
                        ep.send_pap();
                        ep.role.auth_deadline = Some(now + ep.role.cfg.restart_interval);
                    }
                    Some(_) => {}
                }
            }
            Signal::Down => {
                ep.role.ipcp.down();
                ep.ip_up = false;
                if ep.down_reason == Some(DownReason::PeerTerminated) {
                    ep.finish();
                } else {
                    ep.phase = Phase::Establish;
                }
            }
            Signal::Started => {}
            Signal::Finished => ep.finish(),
        }
    }

    fn ipcp_signal(ep: &mut Peer, now: Instant, signal: Signal) {
        match signal {
            Signal::Up => {
                ep.ip_up = true;
                let n = &ep.role.ipcp.neg;
                ep.events.push_back(Event::IpUp {
                    peer_addr: n.addr,
                    our_addr: n.server_addr.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    dns: n.dns,
                    wins: n.wins,
                });
            }
            Signal::Down => ep.ip_up = false,
            Signal::Started => {}
            Signal::Finished => {
                ep.down_reason
                    .get_or_insert(DownReason::NegotiationFailed("IPCP did not converge"));
                ep.lcp.close(now, b"IPCP failed");
            }
        }
    }
}
