//! A sans-IO RADIUS client for a NAS: authentication (RFC 2865), accounting (RFC 2866) and
//! Dynamic Authorization requests from the servers (RFC 5176).
//!
//! # Driving it
//!
//! - Requests: [`Client::send_access_request`] and [`Client::send_accounting_request`] return a
//!   [`RequestId`]; the answer comes back as an [`Event`] with that id.
//! - Inputs: [`Client::handle_datagram`] (a UDP payload and its source address) and
//!   [`Client::handle_timeout`]. A spurious timeout is a no-op.
//! - Outputs, drained after every input: [`Client::poll_transmit`] (a datagram and its
//!   destination), [`Client::poll_event`] and [`Client::poll_timeout`].
//!
//! # Behaviour
//!
//! - **Servers and failover.** Authentication and accounting each have an ordered server
//!   list. A request goes to the first server that is not marked dead. It is retransmitted
//!   `retries` times, `timeout` apart, byte for byte (the same Identifier and Request
//!   Authenticator: RFC 5080 §2.2.1, "retransmissions [...] MUST use the same ID and Request
//!   Authenticator"). Then that server is marked dead for `dead_time`
//!   ([`Event::ServerDown`]) and the request moves to the next server, as a new packet (new
//!   Identifier, new authenticator, the User-Password hidden again with that server's
//!   secret). After the last server an access request fails ([`Event::AccessFailed`]).
//! - **Identifiers** are per server: at most 256 requests are in flight to one server (RFC
//!   2865 §3: the Identifier is one octet). They are handed out round-robin so a late answer
//!   rarely meets a new request with its old Identifier; if it does, the Response
//!   Authenticator, computed over the new request's authenticator, does not match and the
//!   datagram is dropped. A request that finds no free Identifier waits for one.
//! - **Responses** are matched by source address and port, Identifier and code; a response is
//!   accepted only if its Response Authenticator and Message-Authenticator are valid (and,
//!   for Access-Accept, -Reject and -Challenge, the Message-Authenticator present:
//!   BlastRADIUS, CVE-2024-3596). A duplicate or late response finds no request and is dropped
//!   (`Error::Unexpected`).
//! - **Accounting** records sit in a bounded FIFO queue ([`ClientConfig::accounting_queue`]);
//!   a record is never dropped for lack of an answer: after the last server it goes back to
//!   the queue and is tried again, and while every server is dead only the oldest record is in
//!   flight, as a probe. Each transmission carries Acct-Delay-Time, the seconds since the
//!   record was queued (RFC 2866 §5.2). When that value changes the packet is new, so it gets
//!   a new Identifier and a new Request Authenticator (RFC 2866 §5.2: "Note that changing the
//!   Acct-Delay-Time causes the Identifier to change"). The caller's Acct-Session-Id and other
//!   attributes are sent unchanged.
//! - **Dynamic Authorization** (RFC 5176): a Disconnect-Request or CoA-Request from a
//!   configured client address is checked (Request Authenticator, and Message-Authenticator if
//!   present, §3.3) and handed to the caller ([`Event::DynamicRequest`]); the caller answers
//!   with [`Client::respond`].
//!
//! Every request carries a Message-Authenticator as its first attribute, the form the
//! BlastRADIUS mitigations ask clients to send.
//!
//! # Not implemented
//!
//! Status-Server (RFC 5997), RADIUS over TCP or TLS, EAP-Message, and duplicate detection of
//! Dynamic Authorization requests (a retransmitted Disconnect-Request is handed to the caller
//! again).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, warn};
use zeroize::Zeroizing;

use crate::attr::{AttrType, Attribute, MsAttribute};
use crate::auth::{self, MessageAuthenticator};
use crate::packet::{Authenticator, Code, Packet, Repr};
use crate::{Error, SharedSecret};

/// Time to wait for an answer before retransmitting (3 s, the default of FreeRADIUS'
/// `radclient -t` and of pppd's radius plugin).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Retransmissions to one server before failing over to the next.
pub const DEFAULT_RETRIES: u32 = 2;
/// How long a server that did not answer is skipped for new requests.
pub const DEFAULT_DEAD_TIME: Duration = Duration::from_secs(30);
/// Access requests pending at most (in flight or waiting for an Identifier).
pub const DEFAULT_MAX_PENDING_ACCESS: usize = 4096;
/// Accounting records queued at most (in flight or waiting).
pub const DEFAULT_ACCOUNTING_QUEUE: usize = 4096;
/// Accounting records in flight at most while a server is alive.
pub const DEFAULT_ACCOUNTING_IN_FLIGHT: usize = 64;
/// Identifiers per server (RFC 2865 §3: one octet).
pub const IDENTIFIERS: usize = 256;

/// A RADIUS server.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its address and port (1812 for authentication, 1813 for accounting).
    pub address: SocketAddr,
    /// The secret shared with it.
    pub secret: SharedSecret,
}

/// A Dynamic Authorization client (RFC 5176 §2: the server side that sends Disconnect and CoA
/// requests to the NAS), known by its IP address.
#[derive(Debug, Clone)]
pub struct DynAuthClient {
    /// Its address; requests may come from any port.
    pub address: IpAddr,
    /// The secret shared with it.
    pub secret: SharedSecret,
}

/// The client's configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Authentication servers, in order of preference.
    pub auth_servers: Vec<Server>,
    /// Accounting servers, in order of preference.
    pub acct_servers: Vec<Server>,
    /// Who may send Disconnect-Request and CoA-Request (RFC 5176).
    pub dynauth_clients: Vec<DynAuthClient>,
    /// Attributes added to every request, such as NAS-Identifier or NAS-IP-Address (RFC 2865
    /// §4.1: an Access-Request "MUST contain either a NAS-IP-Address attribute or a
    /// NAS-Identifier attribute (or both)").
    pub nas_attributes: Vec<Attribute>,
    /// Time to wait for an answer before retransmitting.
    pub timeout: Duration,
    /// Retransmissions to one server before failing over.
    pub retries: u32,
    /// How long a server that did not answer is skipped.
    pub dead_time: Duration,
    /// Access requests pending at most.
    pub max_pending_access: usize,
    /// Accounting records queued at most.
    pub accounting_queue: usize,
    /// Accounting records in flight at most while a server is alive.
    pub accounting_in_flight: usize,
    /// Whether an Accounting-Response must carry a Message-Authenticator. RFC 2866 does not
    /// define one in accounting and common servers (FreeRADIUS 3.2) send none, so the default
    /// checks it only if present; access responses always require it.
    pub accounting_message_authenticator: MessageAuthenticator,
}

impl ClientConfig {
    /// A configuration with the defaults of this module.
    pub fn new(auth_servers: Vec<Server>, acct_servers: Vec<Server>) -> Self {
        Self {
            auth_servers,
            acct_servers,
            dynauth_clients: Vec::new(),
            nas_attributes: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            dead_time: DEFAULT_DEAD_TIME,
            max_pending_access: DEFAULT_MAX_PENDING_ACCESS,
            accounting_queue: DEFAULT_ACCOUNTING_QUEUE,
            accounting_in_flight: DEFAULT_ACCOUNTING_IN_FLIGHT,
            accounting_message_authenticator: MessageAuthenticator::IfPresent,
        }
    }
}

/// Names a request for the caller; events carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u64);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The RADIUS packet.
    pub payload: Vec<u8>,
}

/// The MPPE keys of an Access-Accept (MS-MPPE-Send-Key and MS-MPPE-Recv-Key, RFC 2548 §2.4.2,
/// §2.4.3), decrypted. "Send" and "receive" are from the NAS's side.
#[derive(Clone, PartialEq, Eq)]
pub struct MppeKeys {
    /// The key the NAS encrypts with.
    pub send: Zeroizing<Vec<u8>>,
    /// The key the NAS decrypts with.
    pub recv: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for MppeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MppeKeys(<{} + {} bytes redacted>)",
            self.send.len(),
            self.recv.len()
        )
    }
}

/// An Access-Accept, Access-Reject or Access-Challenge, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessResponse {
    /// The request it answers.
    pub request: RequestId,
    /// Access-Accept, Access-Reject or Access-Challenge.
    pub code: Code,
    /// Its attributes (the encrypted MPPE keys among them, as received).
    pub attributes: Vec<Attribute>,
    /// The MPPE keys, if the response had both and they decrypt.
    pub mppe_keys: Option<MppeKeys>,
    /// The server that answered.
    pub server: SocketAddr,
}

impl AccessResponse {
    /// Whether it is an Access-Accept.
    pub fn is_accept(&self) -> bool {
        self.code == Code::AccessAccept
    }

    /// The Microsoft attributes, in order.
    pub fn microsoft(&self) -> impl Iterator<Item = &MsAttribute> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Microsoft(m) => Some(m),
            _ => None,
        })
    }

    /// MS-CHAP2-Success: the CHAP Identifier and the message for the PPP Success packet
    /// (`S=<authenticator response>`, RFC 2759 §5).
    pub fn ms_chap2_success(&self) -> Option<(u8, &[u8])> {
        self.microsoft().find_map(|m| match m {
            MsAttribute::Chap2Success { ident, message } => Some((*ident, &message[..])),
            _ => None,
        })
    }

    /// MS-CHAP-Error: the CHAP Identifier and the message for the PPP Failure packet
    /// (`E=691 R=0 ...`, RFC 2759 §6).
    pub fn ms_chap_error(&self) -> Option<(u8, &[u8])> {
        self.microsoft().find_map(|m| match m {
            MsAttribute::ChapError { ident, message } => Some((*ident, &message[..])),
            _ => None,
        })
    }
}

/// A Disconnect-Request or CoA-Request, verified, for the caller to act on and answer with
/// [`Client::respond`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicRequest {
    /// Where it came from (the answer goes back there).
    pub from: SocketAddr,
    /// Disconnect-Request or CoA-Request.
    pub code: Code,
    /// Its Identifier.
    pub identifier: u8,
    /// Its attributes (the session identification and, for CoA, the new authorizations).
    pub attributes: Vec<Attribute>,
    authenticator: Authenticator,
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A verified answer to an access request.
    AccessResponse(AccessResponse),
    /// No server answered an access request (or it could not be encoded again).
    AccessFailed {
        /// The request.
        request: RequestId,
        /// Why.
        error: Error,
    },
    /// An accounting record was acknowledged (Accounting-Response).
    AccountingDone {
        /// The request.
        request: RequestId,
    },
    /// A server stopped answering: it is skipped for `dead_time`.
    ServerDown {
        /// The server.
        address: SocketAddr,
    },
    /// A server marked dead answered again.
    ServerUp {
        /// The server.
        address: SocketAddr,
    },
    /// A verified Disconnect-Request or CoA-Request.
    DynamicRequest(DynamicRequest),
}

/// Counters; every dropped datagram is counted under its cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests sent (first transmissions, to each server tried).
    pub sent: u64,
    /// Retransmissions.
    pub retransmits: u64,
    /// Responses accepted.
    pub responses: u64,
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Datagrams from an unknown address.
    pub unknown_server: u64,
    /// Datagrams nobody waited for (duplicates, late answers, wrong codes).
    pub unexpected: u64,
    /// Datagrams with a bad Request, Response or Message-Authenticator.
    pub bad_authenticator: u64,
    /// Responses without the Message-Authenticator we require.
    pub missing_message_authenticator: u64,
    /// Access requests that no server answered.
    pub access_failed: u64,
    /// Accounting records refused because the queue was full.
    pub accounting_refused: u64,
    /// Dynamic Authorization requests accepted.
    pub dynamic_requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auth,
    Acct,
}

#[derive(Debug)]
struct ServerState {
    address: SocketAddr,
    secret: SharedSecret,
    dead_until: Option<Instant>,
    slots: Vec<Option<RequestId>>,
    in_use: usize,
    next_id: u8,
}

impl ServerState {
    fn new(s: &Server) -> Self {
        Self {
            address: s.address,
            secret: s.secret.clone(),
            dead_until: None,
            slots: vec![None; IDENTIFIERS],
            in_use: 0,
            next_id: 0,
        }
    }

    fn alive(&self, now: Instant) -> bool {
        self.dead_until.is_none_or(|t| t <= now)
    }

    /// The next free Identifier after the last one handed out.
    fn alloc(&mut self, rid: RequestId) -> Option<u8> {
        if self.in_use >= IDENTIFIERS {
            return None;
        }
        for step in 0..=255u8 {
            let id = self.next_id.wrapping_add(step);
            if let Some(slot @ None) = self.slots.get_mut(usize::from(id)) {
                *slot = Some(rid);
                self.in_use += 1;
                self.next_id = id.wrapping_add(1);
                return Some(id);
            }
        }
        None
    }

    fn release(&mut self, id: u8, rid: RequestId) {
        if let Some(slot) = self.slots.get_mut(usize::from(id))
            && *slot == Some(rid)
        {
            *slot = None;
            self.in_use = self.in_use.saturating_sub(1);
        }
    }
}

/// The first server not marked dead; if all are, the one that comes back soonest.
fn pick(servers: &[ServerState], now: Instant) -> usize {
    servers
        .iter()
        .position(|s| s.alive(now))
        .or_else(|| {
            servers
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.dead_until)
                .map(|(i, _)| i)
        })
        .unwrap_or(0)
}

enum Body {
    Access {
        password: Option<Zeroizing<Vec<u8>>>,
    },
    Accounting {
        queued_at: Instant,
        delay_base: u32,
    },
}

struct Flight {
    server: usize,
    identifier: u8,
    authenticator: Authenticator,
    packet: Vec<u8>,
    transmissions: u32,
    deadline: Instant,
    acct_delay: u32,
}

struct Request {
    body: Body,
    attributes: Vec<Attribute>,
    first_server: usize,
    attempt: usize,
    flight: Option<Flight>,
}

impl Request {
    fn kind(&self) -> Kind {
        match self.body {
            Body::Access { .. } => Kind::Auth,
            Body::Accounting { .. } => Kind::Acct,
        }
    }
}

/// Encodes `req` for a server with `secret` and Identifier `id`: returns the packet, its
/// (request) authenticator and the Acct-Delay-Time it carries.
fn encode(
    req: &Request,
    id: u8,
    secret: &SharedSecret,
    rng: &mut ChaCha20Rng,
    now: Instant,
) -> Result<(Vec<u8>, Authenticator, u32), Error> {
    let mut attributes = Vec::with_capacity(req.attributes.len() + 2);
    attributes.push(Attribute::MessageAuthenticator([0; 16]));
    attributes.extend(req.attributes.iter().cloned());
    let (code, authenticator, delay) = match &req.body {
        Body::Access { password } => {
            let mut ra = [0u8; 16];
            rng.fill(&mut ra);
            if let Some(pw) = password {
                attributes.push(Attribute::UserPassword(auth::hide_password(
                    pw, secret, &ra,
                )?));
            }
            (Code::AccessRequest, ra, 0)
        }
        Body::Accounting {
            queued_at,
            delay_base,
        } => {
            let waited = now.saturating_duration_since(*queued_at).as_secs();
            let delay = delay_base.saturating_add(u32::try_from(waited).unwrap_or(u32::MAX));
            attributes.push(Attribute::AcctDelayTime(delay));
            (Code::AccountingRequest, [0; 16], delay)
        }
    };
    let mut packet = Repr {
        code,
        identifier: id,
        authenticator,
        attributes,
    }
    .to_vec()?;
    auth::sign_request(&mut packet, secret)?;
    let authenticator = Packet::new_checked(&packet[..])?.authenticator();
    Ok((packet, authenticator, delay))
}

/// The sans-IO RADIUS client. See the module documentation.
pub struct Client {
    cfg: ClientConfig,
    auth: Vec<ServerState>,
    acct: Vec<ServerState>,
    rng: ChaCha20Rng,
    next_request: u64,
    requests: BTreeMap<RequestId, Request>,
    /// In-flight deadlines, so `poll_timeout` and `handle_timeout` touch only what is due.
    deadlines: BTreeSet<(Instant, RequestId)>,
    access_waiting: VecDeque<RequestId>,
    acct_waiting: BTreeSet<RequestId>,
    acct_queued: usize,
    acct_in_flight: usize,
    access_pending: usize,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("auth_servers", &self.auth.len())
            .field("acct_servers", &self.acct.len())
            .field("requests", &self.requests.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with `cfg`; randomness (Request Authenticators) comes from `rng_seed`.
    pub fn new(cfg: ClientConfig, rng_seed: [u8; 32]) -> Result<Self, Error> {
        let secrets = cfg.auth_servers.iter().chain(&cfg.acct_servers);
        if secrets.clone().any(|s| s.secret.is_empty())
            || cfg.dynauth_clients.iter().any(|c| c.secret.is_empty())
        {
            // RFC 2865 §3: "The secret MUST NOT be empty."
            return Err(Error::ApiMisuse("empty shared secret"));
        }
        if cfg.timeout.is_zero() || cfg.accounting_in_flight == 0 {
            return Err(Error::ApiMisuse("zero timeout or accounting window"));
        }
        Ok(Self {
            auth: cfg.auth_servers.iter().map(ServerState::new).collect(),
            acct: cfg.acct_servers.iter().map(ServerState::new).collect(),
            cfg,
            rng: ChaCha20Rng::from_seed(rng_seed),
            next_request: 0,
            requests: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            access_waiting: VecDeque::new(),
            acct_waiting: BTreeSet::new(),
            acct_queued: 0,
            acct_in_flight: 0,
            access_pending: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Accounting records queued (in flight or waiting).
    pub fn accounting_queued(&self) -> usize {
        self.acct_queued
    }

    /// Sends an Access-Request with `attributes` (User-Name, NAS-Port-Type, CHAP or MS-CHAP
    /// attributes, State, ...) and, if given, `password` as a User-Password hidden with each
    /// server's secret (RFC 2865 §5.2). The client adds the Message-Authenticator and
    /// [`ClientConfig::nas_attributes`]; `attributes` must not hold either, nor a
    /// User-Password.
    pub fn send_access_request(
        &mut self,
        now: Instant,
        attributes: Vec<Attribute>,
        password: Option<&[u8]>,
    ) -> Result<RequestId, Error> {
        if self.auth.is_empty() {
            return Err(Error::ApiMisuse("no authentication servers"));
        }
        if self.access_pending >= self.cfg.max_pending_access {
            return Err(Error::Busy);
        }
        if password.is_some_and(|p| p.len() > crate::attr::MAX_PASSWORD_LEN) {
            return Err(Error::ApiMisuse("User-Password over 128 octets"));
        }
        let body = Body::Access {
            password: password.map(|p| Zeroizing::new(p.to_vec())),
        };
        self.submit(now, body, attributes)
    }

    /// Queues an Accounting-Request with `attributes`, which must hold Acct-Status-Type and
    /// Acct-Session-Id (RFC 2866 §5.1, §5.5). An Acct-Delay-Time among them is the delay
    /// before queueing; the client adds the time spent in the queue (RFC 2866 §5.2). Refused
    /// with [`Error::QueueFull`] when [`ClientConfig::accounting_queue`] records wait.
    pub fn send_accounting_request(
        &mut self,
        now: Instant,
        attributes: Vec<Attribute>,
    ) -> Result<RequestId, Error> {
        if self.acct.is_empty() {
            return Err(Error::ApiMisuse("no accounting servers"));
        }
        let has = |t: AttrType| attributes.iter().any(|a| a.attr_type() == u8::from(t));
        if !has(AttrType::AcctStatusType) || !has(AttrType::AcctSessionId) {
            return Err(Error::ApiMisuse(
                "accounting needs Acct-Status-Type and Acct-Session-Id",
            ));
        }
        if self.acct_queued >= self.cfg.accounting_queue {
            self.stats.accounting_refused += 1;
            return Err(Error::QueueFull);
        }
        let mut delay_base = 0;
        let attributes: Vec<Attribute> = attributes
            .into_iter()
            .filter(|a| match a {
                Attribute::AcctDelayTime(d) => {
                    delay_base = *d;
                    false
                }
                _ => true,
            })
            .collect();
        let body = Body::Accounting {
            queued_at: now,
            delay_base,
        };
        self.submit(now, body, attributes)
    }

    /// Forgets a request (the PPP link it was for went away). Returns whether it was pending.
    /// A late answer to it is dropped as unexpected.
    pub fn cancel(&mut self, request: RequestId) -> bool {
        let Some(req) = self.requests.remove(&request) else {
            return false;
        };
        let kind = req.kind();
        if let Some(f) = &req.flight {
            self.deadlines.remove(&(f.deadline, request));
            if let Some(s) = self.servers_mut(kind).get_mut(f.server) {
                s.release(f.identifier, request);
            }
        }
        match kind {
            Kind::Auth => {
                self.access_pending = self.access_pending.saturating_sub(1);
                self.access_waiting.retain(|r| *r != request);
            }
            Kind::Acct => {
                self.acct_queued = self.acct_queued.saturating_sub(1);
                if req.flight.is_some() {
                    self.acct_in_flight = self.acct_in_flight.saturating_sub(1);
                }
                self.acct_waiting.remove(&request);
            }
        }
        true
    }

    /// Answers a Dynamic Authorization request: Disconnect-ACK/NAK or CoA-ACK/NAK (RFC 5176
    /// §3), with `attributes` (an Error-Cause on a NAK, §3.5). The Proxy-State attributes of
    /// the request are echoed (RFC 2865 §5.33) and a Message-Authenticator added.
    pub fn respond(
        &mut self,
        request: &DynamicRequest,
        ack: bool,
        attributes: Vec<Attribute>,
    ) -> Result<(), Error> {
        let secret = self
            .cfg
            .dynauth_clients
            .iter()
            .find(|c| c.address == request.from.ip())
            .map(|c| c.secret.clone())
            .ok_or(Error::ApiMisuse(
                "no Dynamic Authorization client at that address",
            ))?;
        let code = match (request.code, ack) {
            (Code::DisconnectRequest, true) => Code::DisconnectAck,
            (Code::DisconnectRequest, false) => Code::DisconnectNak,
            (Code::CoaRequest, true) => Code::CoaAck,
            (Code::CoaRequest, false) => Code::CoaNak,
            _ => return Err(Error::ApiMisuse("not a Dynamic Authorization request")),
        };
        let mut all = vec![Attribute::MessageAuthenticator([0; 16])];
        all.extend(
            attributes
                .into_iter()
                .filter(|a| !matches!(a, Attribute::MessageAuthenticator(_))),
        );
        all.extend(
            request
                .attributes
                .iter()
                .filter(|a| matches!(a, Attribute::ProxyState(_)))
                .cloned(),
        );
        let mut packet = Repr {
            code,
            identifier: request.identifier,
            authenticator: [0; 16],
            attributes: all,
        }
        .to_vec()?;
        auth::sign_response(&mut packet, &request.authenticator, &secret)?;
        self.transmits.push_back(Transmit {
            destination: request.from,
            payload: packet,
        });
        Ok(())
    }

    /// Handles a datagram received from `from`. An error means it was dropped (and counted);
    /// nothing else changes.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), Error> {
        let result = self.datagram(now, from, datagram);
        if let Err(e) = &result {
            match e {
                Error::Malformed(_) => self.stats.malformed += 1,
                Error::UnknownServer => self.stats.unknown_server += 1,
                Error::BadAuthenticator | Error::BadMessageAuthenticator => {
                    self.stats.bad_authenticator += 1;
                }
                Error::MissingMessageAuthenticator => {
                    self.stats.missing_message_authenticator += 1;
                }
                _ => self.stats.unexpected += 1,
            }
            debug!(%from, error = %e, "RADIUS datagram dropped");
        }
        result
    }

    fn datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Result<(), Error> {
        let p = Packet::new_checked(datagram)?;
        match p.code() {
            Code::AccessAccept | Code::AccessReject | Code::AccessChallenge => {
                self.response(now, Kind::Auth, from, &p)
            }
            Code::AccountingResponse => self.response(now, Kind::Acct, from, &p),
            Code::DisconnectRequest | Code::CoaRequest => self.dynamic(from, &p),
            _ => Err(Error::Unexpected("a code a NAS does not accept")),
        }
    }

    fn response(
        &mut self,
        now: Instant,
        kind: Kind,
        from: SocketAddr,
        p: &Packet<&[u8]>,
    ) -> Result<(), Error> {
        let servers = self.servers(kind);
        let si = servers
            .iter()
            .position(|s| s.address == from)
            .ok_or(Error::UnknownServer)?;
        let rid = servers
            .get(si)
            .and_then(|s| s.slots.get(usize::from(p.identifier())).copied().flatten())
            .ok_or(Error::Unexpected(
                "no request with this Identifier (late or duplicate)",
            ))?;
        let req = self
            .requests
            .get(&rid)
            .ok_or(Error::Unexpected("request gone"))?;
        let flight = req
            .flight
            .as_ref()
            .filter(|f| f.server == si && f.identifier == p.identifier())
            .ok_or(Error::Unexpected("request not in flight to this server"))?;
        let secret = &self
            .servers(kind)
            .get(si)
            .ok_or(Error::UnknownServer)?
            .secret;
        let policy = match kind {
            Kind::Auth => MessageAuthenticator::Required,
            Kind::Acct => self.cfg.accounting_message_authenticator,
        };
        auth::verify_response(p.as_bytes(), &flight.authenticator, secret, policy)?;
        let repr = Repr::parse(p)?;
        let mppe_keys = match kind {
            Kind::Auth => mppe_keys(&repr.attributes, secret, &flight.authenticator),
            Kind::Acct => None,
        };
        // Accepted: the request is done.
        let (deadline, identifier) = (flight.deadline, flight.identifier);
        self.requests.remove(&rid);
        self.deadlines.remove(&(deadline, rid));
        self.stats.responses += 1;
        if let Some(s) = self.servers_mut(kind).get_mut(si) {
            s.release(identifier, rid);
            if s.dead_until.take().is_some() {
                debug!(server = %s.address, "RADIUS server answers again");
                self.events.push_back(Event::ServerUp { address: from });
            }
        }
        match kind {
            Kind::Auth => {
                self.access_pending = self.access_pending.saturating_sub(1);
                self.events.push_back(Event::AccessResponse(AccessResponse {
                    request: rid,
                    code: repr.code,
                    attributes: repr.attributes,
                    mppe_keys,
                    server: from,
                }));
            }
            Kind::Acct => {
                self.acct_queued = self.acct_queued.saturating_sub(1);
                self.acct_in_flight = self.acct_in_flight.saturating_sub(1);
                self.events
                    .push_back(Event::AccountingDone { request: rid });
            }
        }
        self.pump(now);
        Ok(())
    }

    fn dynamic(&mut self, from: SocketAddr, p: &Packet<&[u8]>) -> Result<(), Error> {
        let client = self
            .cfg
            .dynauth_clients
            .iter()
            .find(|c| c.address == from.ip())
            .ok_or(Error::UnknownServer)?;
        // RFC 5176 §3.3: the Request Authenticator always; Message-Authenticator "MAY" be
        // included, and is checked when it is.
        auth::verify_request(
            p.as_bytes(),
            &client.secret,
            MessageAuthenticator::IfPresent,
        )?;
        let repr = Repr::parse(p)?;
        self.stats.dynamic_requests += 1;
        self.events.push_back(Event::DynamicRequest(DynamicRequest {
            from,
            code: repr.code,
            identifier: repr.identifier,
            attributes: repr.attributes,
            authenticator: repr.authenticator,
        }));
        Ok(())
    }

    /// Runs the timers that are due: retransmissions, failovers, access failures.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, rid)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            self.expire(now, rid);
        }
        self.pump(now);
    }

    /// The earliest retransmission or failover deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn servers(&self, kind: Kind) -> &[ServerState] {
        match kind {
            Kind::Auth => &self.auth,
            Kind::Acct => &self.acct,
        }
    }

    fn servers_mut(&mut self, kind: Kind) -> &mut [ServerState] {
        match kind {
            Kind::Auth => &mut self.auth,
            Kind::Acct => &mut self.acct,
        }
    }

    /// The common tail of the `send_*` calls: adds the NAS attributes, refuses what cannot be
    /// encoded, records the request as pending and sends what the window allows.
    fn submit(
        &mut self,
        now: Instant,
        body: Body,
        attributes: Vec<Attribute>,
    ) -> Result<RequestId, Error> {
        let attributes = self.with_nas_attributes(attributes)?;
        let req = Request {
            body,
            attributes,
            first_server: 0,
            attempt: 0,
            flight: None,
        };
        self.check_encodes(&req, now)?;
        let kind = req.kind();
        let rid = self.insert(req);
        match kind {
            Kind::Auth => {
                self.access_pending += 1;
                self.access_waiting.push_back(rid);
            }
            Kind::Acct => {
                self.acct_queued += 1;
                self.acct_waiting.insert(rid);
            }
        }
        self.pump(now);
        Ok(rid)
    }

    fn insert(&mut self, req: Request) -> RequestId {
        let rid = RequestId(self.next_request);
        self.next_request += 1;
        self.requests.insert(rid, req);
        rid
    }

    fn with_nas_attributes(&self, mut attributes: Vec<Attribute>) -> Result<Vec<Attribute>, Error> {
        if attributes.iter().any(|a| {
            matches!(
                a,
                Attribute::MessageAuthenticator(_) | Attribute::UserPassword(_)
            )
        }) {
            return Err(Error::ApiMisuse(
                "the client adds Message-Authenticator and User-Password itself",
            ));
        }
        for a in &self.cfg.nas_attributes {
            if !attributes.iter().any(|b| b.attr_type() == a.attr_type()) {
                attributes.push(a.clone());
            }
        }
        Ok(attributes)
    }

    /// Refuses a request that cannot be encoded (too long, an attribute that cannot be sent),
    /// so that later transmissions cannot fail.
    fn check_encodes(&mut self, req: &Request, now: Instant) -> Result<(), Error> {
        let secret = match req.kind() {
            Kind::Auth => self.auth.first(),
            Kind::Acct => self.acct.first(),
        }
        .map(|s| s.secret.clone())
        .ok_or(Error::ApiMisuse("no servers"))?;
        // A scratch RNG: the real one is not advanced by the check.
        let mut scratch = ChaCha20Rng::from_seed([0; 32]);
        // Room for an Acct-Delay-Time up to u32::MAX: the attribute has a fixed size.
        encode(req, 0, &secret, &mut scratch, now).map(|_| ())
    }

    /// Sends what waits: access requests first, then accounting records within the window.
    fn pump(&mut self, now: Instant) {
        while let Some(&rid) = self.access_waiting.front() {
            if !self.start(now, rid) {
                break;
            }
            self.access_waiting.pop_front();
        }
        let window = if self.acct.iter().any(|s| s.alive(now)) {
            self.cfg.accounting_in_flight
        } else {
            // Every server is dead: one record probes, the rest wait.
            1
        };
        while self.acct_in_flight < window {
            let Some(&rid) = self.acct_waiting.first() else {
                break;
            };
            if !self.start(now, rid) {
                break;
            }
            self.acct_waiting.pop_first();
            self.acct_in_flight += 1;
        }
    }

    /// Sends request `rid` to its next server; false if that server has no free Identifier.
    fn start(&mut self, now: Instant, rid: RequestId) -> bool {
        let Some(req) = self.requests.get_mut(&rid) else {
            // Cancelled; nothing to send.
            return true;
        };
        let kind = req.kind();
        let servers = match kind {
            Kind::Auth => &mut self.auth,
            Kind::Acct => &mut self.acct,
        };
        if req.attempt == 0 {
            req.first_server = pick(servers, now);
        }
        let n = servers.len().max(1);
        let si = (req.first_server + req.attempt) % n;
        let Some(server) = servers.get_mut(si) else {
            return false;
        };
        let Some(id) = server.alloc(rid) else {
            return false;
        };
        match encode(req, id, &server.secret, &mut self.rng, now) {
            Ok((packet, authenticator, acct_delay)) => {
                let deadline = now + self.cfg.timeout;
                self.transmits.push_back(Transmit {
                    destination: server.address,
                    payload: packet.clone(),
                });
                req.flight = Some(Flight {
                    server: si,
                    identifier: id,
                    authenticator,
                    packet,
                    transmissions: 1,
                    deadline,
                    acct_delay,
                });
                self.deadlines.insert((deadline, rid));
                self.stats.sent += 1;
            }
            Err(error) => {
                // `check_encodes` passed for the same request, so this is not expected.
                server.release(id, rid);
                warn!(%error, "RADIUS request could not be encoded; dropped");
                self.requests.remove(&rid);
                match kind {
                    Kind::Auth => {
                        self.access_pending = self.access_pending.saturating_sub(1);
                        self.events.push_back(Event::AccessFailed {
                            request: rid,
                            error,
                        });
                    }
                    Kind::Acct => {
                        self.acct_queued = self.acct_queued.saturating_sub(1);
                        // The caller's `acct_in_flight += 1` is undone here.
                        self.acct_in_flight = self.acct_in_flight.saturating_sub(1);
                    }
                }
            }
        }
        true
    }

    /// A request's deadline passed: retransmit, fail over, or give up.
    fn expire(&mut self, now: Instant, rid: RequestId) {
        let (timeout, retries, dead_time) =
            (self.cfg.timeout, self.cfg.retries, self.cfg.dead_time);
        let Some(req) = self.requests.get_mut(&rid) else {
            return;
        };
        let kind = req.kind();
        let servers = match kind {
            Kind::Auth => &mut self.auth,
            Kind::Acct => &mut self.acct,
        };
        let Some(mut flight) = req.flight.take() else {
            return;
        };
        let Some(server) = servers.get_mut(flight.server) else {
            return;
        };
        if flight.transmissions <= retries {
            if let Body::Accounting {
                queued_at,
                delay_base,
            } = req.body
            {
                let waited = now.saturating_duration_since(queued_at).as_secs();
                let delay = delay_base.saturating_add(u32::try_from(waited).unwrap_or(u32::MAX));
                if delay != flight.acct_delay {
                    // A new Acct-Delay-Time is a new packet: new Identifier and authenticator
                    // (RFC 2866 §5.2). The Identifier just released is free, so one is found.
                    server.release(flight.identifier, rid);
                    let id = server.alloc(rid).unwrap_or(flight.identifier);
                    match encode(req, id, &server.secret, &mut self.rng, now) {
                        Ok((packet, authenticator, acct_delay)) => {
                            flight.identifier = id;
                            flight.packet = packet;
                            flight.authenticator = authenticator;
                            flight.acct_delay = acct_delay;
                        }
                        Err(error) => {
                            // Not expected: the record encoded when queued, and the delay
                            // attribute has a fixed size. Resend the previous packet.
                            server.release(id, rid);
                            let _ = server.alloc(rid);
                            warn!(%error, "accounting record could not be re-encoded");
                        }
                    }
                }
            }
            flight.transmissions += 1;
            flight.deadline = now + timeout;
            self.deadlines.insert((flight.deadline, rid));
            self.transmits.push_back(Transmit {
                destination: server.address,
                payload: flight.packet.clone(),
            });
            self.stats.retransmits += 1;
            req.flight = Some(flight);
            return;
        }
        // This server did not answer.
        server.release(flight.identifier, rid);
        if server.alive(now) {
            warn!(server = %server.address, "RADIUS server does not answer; failing over");
            self.events.push_back(Event::ServerDown {
                address: server.address,
            });
        }
        server.dead_until = Some(now + dead_time);
        req.attempt += 1;
        let n = servers.len();
        match kind {
            Kind::Auth if req.attempt >= n => {
                self.requests.remove(&rid);
                self.access_pending = self.access_pending.saturating_sub(1);
                self.stats.access_failed += 1;
                self.events.push_back(Event::AccessFailed {
                    request: rid,
                    error: Error::NoResponse,
                });
            }
            Kind::Auth => self.access_waiting.push_front(rid),
            Kind::Acct => {
                if req.attempt >= n {
                    // Every server was tried: back to the queue, from the first server again.
                    req.attempt = 0;
                }
                self.acct_in_flight = self.acct_in_flight.saturating_sub(1);
                self.acct_waiting.insert(rid);
            }
        }
    }
}

/// Decrypts MS-MPPE-Send-Key and MS-MPPE-Recv-Key if both are present.
fn mppe_keys(
    attributes: &[Attribute],
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
) -> Option<MppeKeys> {
    let find = |want_send: bool| {
        attributes.iter().find_map(|a| match a {
            Attribute::Microsoft(MsAttribute::MppeSendKey { salt, encrypted }) if want_send => {
                Some((*salt, encrypted))
            }
            Attribute::Microsoft(MsAttribute::MppeRecvKey { salt, encrypted }) if !want_send => {
                Some((*salt, encrypted))
            }
            _ => None,
        })
    };
    let (send_salt, send) = find(true)?;
    let (recv_salt, recv) = find(false)?;
    let send = auth::decrypt_mppe_key(send, secret, request_authenticator, send_salt);
    let recv = auth::decrypt_mppe_key(recv, secret, request_authenticator, recv_salt);
    match (send, recv) {
        (Ok(send), Ok(recv)) => Some(MppeKeys { send, recv }),
        _ => {
            warn!("MS-MPPE keys in an Access-Accept do not decrypt; ignored");
            None
        }
    }
}
