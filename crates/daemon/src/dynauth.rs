//! Dynamic Authorization (RFC 5176) for the owner task: Disconnect-Request and CoA-Request
//! from the RADIUS servers named in `radius.dynamic_authorization`, on one UDP socket
//! (RFC 5176 §2.3: port 3799) that is one more input of the owner's loop.
//!
//! A request is acted on only if all of this holds, else it is dropped without an answer (RFC
//! 2865 §3 "silently discarded") and logged (at most one warning a minute):
//!
//! - it comes from a configured client's address (any port);
//! - its Request Authenticator is right for that client's secret (RFC 5176 §2.3: computed as
//!   for an Accounting-Request, RFC 2866 §3), and so is its Message-Authenticator when it has
//!   one (RFC 5176 §3.4, RFC 3579 §3.2); with `require_message_authenticator` it must have one;
//! - its Event-Timestamp, when present, is within [`EVENT_WINDOW`] of our clock (RFC 5176 §6.3,
//!   replay protection: a request that is "not current" is "silently discarded").
//!
//! A retransmission (same source address and port, Identifier and Request Authenticator, the
//! same bytes) within [`DUPLICATE_WINDOW`] gets the answer sent the first time, and nothing
//! is done twice (RFC 5080 §2.2.2).
//!
//! The sessions a request names (RFC 5176 §3): every session identification attribute given
//! must match. We understand User-Name (as the client sent it, or without its `DOMAIN\`),
//! Acct-Session-Id (ours: [`crate::acct_id`]), Framed-IP-Address (the address IPCP assigned)
//! and Calling-Station-Id (the client's public `IP:port`, as in our Access-Requests). A
//! NAS-Identifier or NAS-IP-Address, when present, must be ours. The answer (RFC 5176 §3.5
//! for the Error-Cause values):
//!
//! - an attribute we do not support (another session identification attribute, a
//!   Vendor-Specific attribute, for CoA anything but Session-Timeout and Idle-Timeout):
//!   NAK 401 Unsupported Attribute; a Service-Type: NAK 405 Unsupported Service; a supported
//!   attribute with a malformed value: NAK 407 Invalid Attribute Value;
//! - a NAS-Identifier or NAS-IP-Address that is not ours: NAK 403 NAS Identification Mismatch;
//! - no session identification attribute: NAK 402 Missing Attribute;
//! - no session matches: NAK 503 Session Context Not Found;
//! - otherwise Disconnect-Request ends every matching session ([`server::Server::kick`]) and
//!   CoA-Request applies its Session-Timeout and Idle-Timeout to every matching session
//!   ([`server::Server::set_session_limits`], counted from the request; 0 lifts the limit)
//!   and its rate-limit attributes (Mikrotik-Rate-Limit, WISPr-Bandwidth-Max-Up/-Down, read as
//!   in an Access-Accept; [`server::Server::set_rate_limit`]), and the answer is an ACK.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use config::DynAuthOptions;
use radius::attr::{AttrType, ErrorCause};
use radius::client::{DynAuthClient, DynamicRequest};
use radius::{Attribute, Client, ClientConfig, Code, Event};
use server::escape::Printable;
use server::{KickTarget, Server, SessionId};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use crate::acct_id::AcctSessionIds;

/// How far an Event-Timestamp may be from our clock (RFC 5176 §6.3: "The default time window
/// is 300 seconds").
pub(crate) const EVENT_WINDOW: u64 = 300;

/// How long an answer is kept for a retransmission of its request. `radclient` retries every
/// 3 s, three times by default; FreeRADIUS' CoA originator uses similar timers.
pub(crate) const DUPLICATE_WINDOW: Duration = Duration::from_secs(30);

/// Answers kept at most for retransmissions.
const DUPLICATES_KEPT: usize = 256;

/// How often a dropped request is logged as a warning (a stranger can send them).
const DROP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// NAS-IPv6-Address (RFC 3162 §2.1), which the codec does not type.
const NAS_IPV6_ADDRESS: u8 = 95;

/// Who we are, for NAS-Identifier and NAS-IP-Address (RFC 5176 §3).
#[derive(Debug, Clone)]
pub(crate) struct Nas {
    /// The NAS-Identifier we send in our Access-Requests.
    pub(crate) identifier: String,
    /// Addresses a NAS-IP-Address may name; empty: any (we cannot tell which are ours).
    pub(crate) addresses: Vec<Ipv4Addr>,
}

/// A session as matching sees it (from the status rows).
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) id: SessionId,
    pub(crate) user: String,
    pub(crate) framed_ip: Option<Ipv4Addr>,
    pub(crate) calling: SocketAddr,
}

/// What a valid request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// End these sessions.
    Disconnect(Vec<SessionId>),
    /// Change these sessions' limits (`None`: unchanged; `Some(None)`: lifted); a rate limit
    /// replaces the session's (`None`: unchanged).
    Coa {
        sessions: Vec<SessionId>,
        session_timeout: Option<Option<Duration>>,
        idle_timeout: Option<Option<Duration>>,
        rate_limit: Option<config::RateLimit>,
    },
}

/// Why a request is refused (the NAK's Error-Cause) and the attribute at fault, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) cause: ErrorCause,
    pub(crate) why: String,
}

impl Refusal {
    fn new(cause: ErrorCause, why: impl Into<String>) -> Self {
        Self {
            cause,
            why: why.into(),
        }
    }
}

/// Why a request is dropped without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// `require_message_authenticator` and the request has none.
    NoMessageAuthenticator,
    /// Its Event-Timestamp is too far from our clock.
    Stale { timestamp: u32, now: u64 },
}

/// Checks what does not depend on the sessions: Message-Authenticator required, and the
/// Event-Timestamp window (RFC 5176 §6.3). `unix_now` is our wall clock in seconds.
pub(crate) fn check_fresh(
    attributes: &[Attribute],
    require_message_authenticator: bool,
    unix_now: u64,
) -> Result<(), Dropped> {
    if require_message_authenticator
        && !attributes
            .iter()
            .any(|a| matches!(a, Attribute::MessageAuthenticator(_)))
    {
        return Err(Dropped::NoMessageAuthenticator);
    }
    for a in attributes {
        if let Attribute::EventTimestamp(t) = a
            && u64::from(*t).abs_diff(unix_now) > EVENT_WINDOW
        {
            return Err(Dropped::Stale {
                timestamp: *t,
                now: unix_now,
            });
        }
    }
    Ok(())
}

/// The session identification of a request, parsed.
#[derive(Debug, Default)]
struct Selector<'a> {
    user_names: Vec<&'a [u8]>,
    acct_session_ids: Vec<&'a [u8]>,
    framed_ips: Vec<Ipv4Addr>,
    calling_station_ids: Vec<&'a [u8]>,
}

impl Selector<'_> {
    fn is_empty(&self) -> bool {
        self.user_names.is_empty()
            && self.acct_session_ids.is_empty()
            && self.framed_ips.is_empty()
            && self.calling_station_ids.is_empty()
    }

    /// Whether `c` matches every attribute given.
    fn matches(&self, c: &Candidate, ids: &AcctSessionIds) -> bool {
        let user = c.user.as_bytes();
        let bare = config::users::strip_domain(&c.user).as_bytes();
        self.user_names
            .iter()
            .all(|n| !c.user.is_empty() && (*n == user || *n == bare))
            && self.acct_session_ids.iter().all(|s| {
                std::str::from_utf8(s)
                    .ok()
                    .and_then(|s| ids.parse(s))
                    .is_some_and(|id| id == c.id)
            })
            && self.framed_ips.iter().all(|ip| c.framed_ip == Some(*ip))
            && self
                .calling_station_ids
                .iter()
                .all(|s| *s == c.calling.to_string().as_bytes())
    }
}

/// Decides a verified request: which sessions, and what to do, or why it is refused.
pub(crate) fn decide(
    code: Code,
    attributes: &[Attribute],
    nas: &Nas,
    ids: &AcctSessionIds,
    sessions: &[Candidate],
) -> Result<Action, Refusal> {
    let coa = code == Code::CoaRequest;
    let mut selector = Selector::default();
    let mut nas_mismatch = None;
    let mut session_timeout = None;
    let mut idle_timeout = None;
    let mut rate_attributes = Vec::new();
    let secs = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
    for a in attributes {
        match a {
            Attribute::UserName(v) => selector.user_names.push(v),
            Attribute::AcctSessionId(v) => selector.acct_session_ids.push(v),
            Attribute::FramedIpAddress(ip) => selector.framed_ips.push(*ip),
            Attribute::CallingStationId(v) => selector.calling_station_ids.push(v),
            Attribute::NasIdentifier(v) => {
                if *v != nas.identifier.as_bytes() {
                    nas_mismatch = Some(format!(
                        "NAS-Identifier {:?} is not ours ({:?})",
                        String::from_utf8_lossy(v).printable().to_string(),
                        nas.identifier
                    ));
                }
            }
            Attribute::NasIpAddress(ip) => {
                if !nas.addresses.is_empty() && !nas.addresses.contains(ip) {
                    nas_mismatch = Some(format!("NAS-IP-Address {ip} is not ours"));
                }
            }
            // Checked before (authenticity, freshness), echoed (Proxy-State), or informative.
            Attribute::MessageAuthenticator(_)
            | Attribute::EventTimestamp(_)
            | Attribute::ProxyState(_)
            | Attribute::ReplyMessage(_) => {}
            // RFC 5176 §3: a Disconnect-Request may say why (Acct-Terminate-Cause).
            Attribute::AcctTerminateCause(_) if !coa => {}
            Attribute::SessionTimeout(s) if coa => session_timeout = Some(secs(*s)),
            Attribute::IdleTimeout(s) if coa => idle_timeout = Some(secs(*s)),
            // The rate-limit attributes an Access-Accept may carry (Mikrotik-Rate-Limit,
            // WISPr-Bandwidth-Max-Up/-Down; see `remote_auth::rate_limit_from`).
            Attribute::VendorSpecific { vendor_id, .. }
                if coa
                    && (*vendor_id == crate::remote_auth::VENDOR_MIKROTIK
                        || *vendor_id == crate::remote_auth::VENDOR_WISPR) =>
            {
                rate_attributes.push(a.clone());
            }
            Attribute::ServiceType(t) => {
                return Err(Refusal::new(
                    ErrorCause::UnsupportedService,
                    format!("Service-Type {t:?} is not supported"),
                ));
            }
            Attribute::Other {
                attr_type: NAS_IPV6_ADDRESS,
                ..
            } => {
                nas_mismatch = Some("NAS-IPv6-Address: we are not an IPv6 NAS".to_owned());
            }
            Attribute::Other { attr_type, .. } if understood(*attr_type, coa) => {
                return Err(Refusal::new(
                    ErrorCause::InvalidAttributeValue,
                    format!("attribute {attr_type} has a malformed value"),
                ));
            }
            other => {
                return Err(Refusal::new(
                    ErrorCause::UnsupportedAttribute,
                    format!("attribute {} is not supported here", name(other)),
                ));
            }
        }
    }
    if let Some(why) = nas_mismatch {
        return Err(Refusal::new(ErrorCause::NasIdentificationMismatch, why));
    }
    // Matched now so that a warning about the rate-limit attributes names the users; an
    // empty selector matches nothing (refused below, after the rate-limit check as before).
    let matched: Vec<&Candidate> = if selector.is_empty() {
        Vec::new()
    } else {
        sessions
            .iter()
            .filter(|c| selector.matches(c, ids))
            .collect()
    };
    let rate_limit = if rate_attributes.is_empty() {
        None
    } else {
        // A value that gives no limit (malformed, or 0 both ways) is refused rather than
        // read as "no limit": lifting a limit by CoA is not offered.
        let limit = crate::remote_auth::rate_limit_from(
            &matched_users(&matched),
            "CoA-Request",
            &rate_attributes,
        )
        .ok_or_else(|| {
            Refusal::new(
                ErrorCause::InvalidAttributeValue,
                "the rate-limit attributes give no rate (malformed, or 0 both ways)",
            )
        })?;
        Some(config::RateLimit {
            up: limit.up,
            down: limit.down,
        })
    };
    if selector.is_empty() {
        return Err(Refusal::new(
            ErrorCause::MissingAttribute,
            "no session identification (User-Name, Acct-Session-Id, Framed-IP-Address or \
             Calling-Station-Id)",
        ));
    }
    let matched: Vec<SessionId> = matched.iter().map(|c| c.id).collect();
    if matched.is_empty() {
        return Err(Refusal::new(
            ErrorCause::SessionContextNotFound,
            "no session matches",
        ));
    }
    Ok(if coa {
        Action::Coa {
            sessions: matched,
            session_timeout,
            idle_timeout,
            rate_limit,
        }
    } else {
        Action::Disconnect(matched)
    })
}

/// The distinct user names of `matched`, comma-separated, for log lines ("-" for none).
fn matched_users(matched: &[&Candidate]) -> String {
    let mut users: Vec<&str> = Vec::new();
    for c in matched {
        if !users.contains(&c.user.as_str()) {
            users.push(&c.user);
        }
    }
    if users.is_empty() {
        "-".to_owned()
    } else {
        users.join(",")
    }
}

/// Whether an attribute type is one `decide` understands (so a raw one is malformed).
fn understood(attr_type: u8, coa: bool) -> bool {
    let t = AttrType::from(attr_type);
    matches!(
        t,
        AttrType::UserName
            | AttrType::AcctSessionId
            | AttrType::FramedIpAddress
            | AttrType::CallingStationId
            | AttrType::NasIdentifier
            | AttrType::NasIpAddress
            | AttrType::EventTimestamp
    ) || (coa && matches!(t, AttrType::SessionTimeout | AttrType::IdleTimeout))
}

/// An attribute's name for a log line.
fn name(a: &Attribute) -> String {
    match a {
        Attribute::VendorSpecific { vendor_id, .. } => format!("Vendor-Specific ({vendor_id})"),
        Attribute::Microsoft(m) => format!("Microsoft {:?}", m.vendor_type()),
        other => format!("{:?}", AttrType::from(other.attr_type())),
    }
}

/// What requests act on: the server, or a stand-in in the tests.
pub(crate) trait Sessions {
    /// The sessions, as matching sees them.
    fn candidates(&self, now: Instant) -> Vec<Candidate>;
    /// Ends a session; returns who it was (`user (client)`), if it was there.
    fn disconnect(&mut self, now: Instant, id: SessionId) -> Vec<String>;
    /// Changes a session's limits (see [`Server::set_session_limits`]).
    fn set_limits(
        &mut self,
        now: Instant,
        id: SessionId,
        session_timeout: Option<Option<Duration>>,
        idle_timeout: Option<Option<Duration>>,
    ) -> bool;
    /// Replaces a session's rate limit (see [`Server::set_rate_limit`]).
    fn set_rate(&mut self, now: Instant, id: SessionId, limit: config::RateLimit) -> bool;
}

impl Sessions for Server {
    fn candidates(&self, now: Instant) -> Vec<Candidate> {
        self.snapshot(now)
            .sessions
            .into_iter()
            .filter_map(|row| {
                Some(Candidate {
                    id: row.session_id.parse().ok()?,
                    user: row.user,
                    framed_ip: row.assigned_ip,
                    calling: row.client_public,
                })
            })
            .collect()
    }

    fn disconnect(&mut self, now: Instant, id: SessionId) -> Vec<String> {
        self.kick(now, &KickTarget::Session(id))
            .into_iter()
            .map(|k| format!("{} ({})", k.user.printable(), k.client_public))
            .collect()
    }

    fn set_limits(
        &mut self,
        now: Instant,
        id: SessionId,
        session_timeout: Option<Option<Duration>>,
        idle_timeout: Option<Option<Duration>>,
    ) -> bool {
        self.set_session_limits(now, id, session_timeout, idle_timeout)
    }

    fn set_rate(&mut self, now: Instant, id: SessionId, limit: config::RateLimit) -> bool {
        self.set_rate_limit(now, id, Some(limit))
    }
}

/// An answer kept for a retransmission (RFC 5080 §2.2.2).
struct Answered {
    from: SocketAddr,
    request: Vec<u8>,
    response: Vec<u8>,
    at: Instant,
}

/// The daemon's Dynamic Authorization server side: the socket and the [`Checker`].
pub(crate) struct DynAuth {
    socket: UdpSocket,
    checker: Checker,
}

/// Everything but the socket: checks requests, acts on [`Sessions`], makes the answers.
pub(crate) struct Checker {
    client: Client,
    clients: Vec<IpAddr>,
    require_message_authenticator: bool,
    nas: Nas,
    ids: AcctSessionIds,
    answered: VecDeque<Answered>,
    last_warning: Option<Instant>,
}

impl DynAuth {
    /// Binds the socket and builds the checker of requests.
    pub(crate) async fn new(
        opts: &DynAuthOptions,
        nas: Nas,
        ids: AcctSessionIds,
        seed: [u8; 32],
    ) -> anyhow::Result<Self> {
        let socket = UdpSocket::bind(opts.listen).await.with_context(|| {
            format!(
                "cannot bind the Dynamic Authorization socket on {} (radius.dynamic_authorization.listen)",
                opts.listen
            )
        })?;
        let checker = Checker::new(opts, nas, ids, seed)?;
        info!(
            listen = %socket.local_addr().map_or_else(|_| opts.listen.to_string(), |a| a.to_string()),
            clients = %checker.clients.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            require_message_authenticator = opts.require_message_authenticator,
            "RADIUS Dynamic Authorization on: Disconnect-Request and CoA-Request are accepted \
             from these clients"
        );
        Ok(Self { socket, checker })
    }

    /// The socket requests come in on.
    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// A datagram on the socket, received at `now` (`unix_now`: the wall clock, for
    /// Event-Timestamp). Acts on `server` and sends the answer.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        unix_now: u64,
        from: SocketAddr,
        datagram: &[u8],
        server: &mut Server,
    ) {
        if let Some(response) = self.checker.answer(now, unix_now, from, datagram, server)
            && let Err(e) = self.socket.try_send_to(&response, from)
        {
            debug!(%from, "Dynamic Authorization answer not sent: {e}");
        }
    }
}

impl Checker {
    /// The checker for `opts`; `seed` is unused randomness the client needs.
    pub(crate) fn new(
        opts: &DynAuthOptions,
        nas: Nas,
        ids: AcctSessionIds,
        seed: [u8; 32],
    ) -> anyhow::Result<Self> {
        let mut cfg = ClientConfig::new(Vec::new(), Vec::new());
        cfg.dynauth_clients = opts
            .clients
            .iter()
            .map(|c| DynAuthClient {
                address: c.address,
                secret: radius::SharedSecret::new(c.secret.as_bytes()),
            })
            .collect();
        let client = Client::new(cfg, seed)
            .context("radius.dynamic_authorization: the client refused its settings")?;
        let clients: Vec<IpAddr> = opts.clients.iter().map(|c| c.address).collect();
        Ok(Self {
            client,
            clients,
            require_message_authenticator: opts.require_message_authenticator,
            nas,
            ids,
            answered: VecDeque::new(),
            last_warning: None,
        })
    }

    /// The answer to a datagram from `from` received at `now` (`unix_now`: the wall clock, for
    /// Event-Timestamp), if it gets one; acts on `sessions`.
    pub(crate) fn answer(
        &mut self,
        now: Instant,
        unix_now: u64,
        from: SocketAddr,
        datagram: &[u8],
        sessions: &mut dyn Sessions,
    ) -> Option<Vec<u8>> {
        if !self.clients.contains(&from.ip()) {
            self.warn(
                now,
                from,
                "it does not come from a radius.dynamic_authorization client",
            );
            return None;
        }
        while self
            .answered
            .front()
            .is_some_and(|a| now.saturating_duration_since(a.at) > DUPLICATE_WINDOW)
        {
            self.answered.pop_front();
        }
        if let Some(a) = self
            .answered
            .iter()
            .find(|a| a.from == from && a.request == datagram)
        {
            // The same Identifier, authenticator and bytes from the same port: a retransmission.
            debug!(%from, "Dynamic Authorization request retransmitted: answered again");
            return Some(a.response.clone());
        }
        match self.client.handle_datagram(now, from, datagram) {
            Ok(()) => {}
            Err(e @ (radius::Error::BadAuthenticator | radius::Error::BadMessageAuthenticator)) => {
                self.warn(
                    now,
                    from,
                    &format!("{e} (a wrong shared secret looks like this)"),
                );
                return None;
            }
            Err(e) => {
                self.warn(now, from, &e.to_string());
                return None;
            }
        }
        let mut response = None;
        while let Some(event) = self.client.poll_event() {
            if let Event::DynamicRequest(request) = event {
                response = self.act(now, unix_now, &request, sessions);
            }
        }
        let response = response?;
        if self.answered.len() >= DUPLICATES_KEPT {
            self.answered.pop_front();
        }
        self.answered.push_back(Answered {
            from,
            request: datagram.to_vec(),
            response: response.clone(),
            at: now,
        });
        Some(response)
    }

    /// Checks and carries out a verified request; returns the encoded answer.
    fn act(
        &mut self,
        now: Instant,
        unix_now: u64,
        request: &DynamicRequest,
        sessions: &mut dyn Sessions,
    ) -> Option<Vec<u8>> {
        let from = request.from;
        match check_fresh(
            &request.attributes,
            self.require_message_authenticator,
            unix_now,
        ) {
            Ok(()) => {}
            Err(Dropped::NoMessageAuthenticator) => {
                self.warn(
                    now,
                    from,
                    "it has no Message-Authenticator, which radius.dynamic_authorization.\
                     require_message_authenticator asks for",
                );
                return None;
            }
            Err(Dropped::Stale {
                timestamp,
                now: ours,
            }) => {
                self.warn(
                    now,
                    from,
                    &format!(
                        "its Event-Timestamp ({timestamp}) is more than {EVENT_WINDOW} s from our \
                         clock ({ours}): a replay, or clocks out of step (RFC 5176 §6.3)"
                    ),
                );
                return None;
            }
        }
        let kind = if request.code == Code::CoaRequest {
            "CoA-Request"
        } else {
            "Disconnect-Request"
        };
        let candidates = sessions.candidates(now);
        let (ack, attributes) = match decide(
            request.code,
            &request.attributes,
            &self.nas,
            &self.ids,
            &candidates,
        ) {
            Ok(Action::Disconnect(ids)) => {
                let mut users = Vec::new();
                for id in &ids {
                    users.extend(sessions.disconnect(now, *id));
                }
                info!(
                    %from,
                    sessions = %users.join(", "),
                    "{kind}: sessions ended at the RADIUS server's request"
                );
                (true, Vec::new())
            }
            Ok(Action::Coa {
                sessions: ids,
                session_timeout,
                idle_timeout,
                rate_limit,
            }) => {
                for id in &ids {
                    if session_timeout.is_some() || idle_timeout.is_some() {
                        sessions.set_limits(now, *id, session_timeout, idle_timeout);
                    }
                    if let Some(limit) = rate_limit {
                        sessions.set_rate(now, *id, limit);
                    }
                }
                info!(
                    %from,
                    sessions = ids.len(),
                    "{kind}: session limits changed at the RADIUS server's request"
                );
                (true, Vec::new())
            }
            Err(r) => {
                info!(
                    %from,
                    error_cause = u32::from(r.cause),
                    "{kind} refused: {}",
                    r.why
                );
                (false, vec![Attribute::ErrorCause(r.cause)])
            }
        };
        if let Err(e) = self.client.respond(request, ack, attributes) {
            warn!(%from, "{kind}: the answer could not be made: {e}");
            return None;
        }
        self.client.poll_transmit().map(|t| t.payload)
    }

    /// One warning a minute about dropped requests, the rest at debug level.
    fn warn(&mut self, now: Instant, from: SocketAddr, why: &str) {
        let due = self
            .last_warning
            .is_none_or(|t| now.saturating_duration_since(t) >= DROP_WARNING_EVERY);
        if due {
            self.last_warning = Some(now);
            warn!(
                %from,
                "Dynamic Authorization request dropped: {why} (at most one such line a minute)"
            );
        } else {
            debug!(%from, "Dynamic Authorization request dropped: {why}");
        }
    }
}

/// Waits for a datagram on the Dynamic Authorization socket; never returns without one.
pub(crate) async fn recv(
    dynauth: Option<&DynAuth>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match dynauth {
        Some(d) => d.socket().recv_from(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use radius::auth::{self, MessageAuthenticator};
    use radius::{Repr, SharedSecret};

    use super::*;

    const SECRET: &str = "dynauth-test-secret-0123";
    const CLIENT: &str = "192.0.2.10:40000";
    const BOOT: u64 = 0x6570_A1B2;
    const NOW: u64 = 1_790_000_000;

    type Change = Option<Option<Duration>>;

    /// Sessions that record what was done to them.
    #[derive(Default)]
    struct Fake {
        sessions: Vec<Candidate>,
        disconnected: Vec<SessionId>,
        limits: Vec<(SessionId, Change, Change)>,
        rates: Vec<(SessionId, config::RateLimit)>,
    }

    impl Sessions for Fake {
        fn candidates(&self, _now: Instant) -> Vec<Candidate> {
            self.sessions.clone()
        }

        fn disconnect(&mut self, _now: Instant, id: SessionId) -> Vec<String> {
            self.disconnected.push(id);
            vec![format!("{id}")]
        }

        fn set_limits(
            &mut self,
            _now: Instant,
            id: SessionId,
            session_timeout: Option<Option<Duration>>,
            idle_timeout: Option<Option<Duration>>,
        ) -> bool {
            self.limits.push((id, session_timeout, idle_timeout));
            true
        }

        fn set_rate(&mut self, _now: Instant, id: SessionId, limit: config::RateLimit) -> bool {
            self.rates.push((id, limit));
            true
        }
    }

    fn sid(text: &str) -> SessionId {
        text.parse().unwrap()
    }

    fn alice() -> Candidate {
        Candidate {
            id: sid("1-00010001"),
            user: "alice".into(),
            framed_ip: Some(Ipv4Addr::new(10, 99, 0, 2)),
            calling: "203.0.113.7:4500".parse().unwrap(),
        }
    }

    fn bob() -> Candidate {
        Candidate {
            id: sid("2-00010001"),
            user: "CORP\\bob".into(),
            framed_ip: Some(Ipv4Addr::new(10, 99, 0, 3)),
            calling: "203.0.113.7:4501".parse().unwrap(),
        }
    }

    fn fake() -> Fake {
        Fake {
            sessions: vec![alice(), bob()],
            ..Fake::default()
        }
    }

    fn nas() -> Nas {
        Nas {
            identifier: "vpn1".into(),
            addresses: vec![Ipv4Addr::new(192, 0, 2, 1)],
        }
    }

    fn ids() -> AcctSessionIds {
        AcctSessionIds::new(BOOT)
    }

    #[allow(clippy::disallowed_methods)]
    fn now() -> Instant {
        Instant::now()
    }

    fn checker(require_message_authenticator: bool) -> Checker {
        let opts = DynAuthOptions {
            listen: "127.0.0.1:3799".parse().unwrap(),
            clients: vec![config::DynAuthClient {
                address: IpAddr::from([192, 0, 2, 10]),
                secret: crypto::Secret::from_slice(SECRET.as_bytes()),
            }],
            require_message_authenticator,
        };
        Checker::new(&opts, nas(), ids(), [7; 32]).unwrap()
    }

    /// A request signed with `secret` (with a Message-Authenticator if `ma`).
    fn request(code: Code, id: u8, attributes: Vec<Attribute>, secret: &str, ma: bool) -> Vec<u8> {
        let mut all = Vec::new();
        if ma {
            all.push(Attribute::MessageAuthenticator([0; 16]));
        }
        all.extend(attributes);
        let mut p = Repr {
            code,
            identifier: id,
            authenticator: [0; 16],
            attributes: all,
        }
        .to_vec()
        .unwrap();
        auth::sign_request(&mut p, &SharedSecret::new(secret)).unwrap();
        p
    }

    fn disconnect(attributes: Vec<Attribute>) -> Vec<u8> {
        request(Code::DisconnectRequest, 1, attributes, SECRET, false)
    }

    /// Sends `datagram` from the client; returns the verified answer's code and Error-Cause.
    fn ask(c: &mut Checker, s: &mut Fake, datagram: &[u8]) -> Option<(Code, Option<ErrorCause>)> {
        let response = c.answer(now(), NOW, CLIENT.parse().unwrap(), datagram, s)?;
        let req = Repr::parse_bytes(datagram).unwrap();
        auth::verify_response(
            &response,
            &req.authenticator,
            &SharedSecret::new(SECRET),
            MessageAuthenticator::Required,
        )
        .expect("answers are signed, with a Message-Authenticator");
        let r = Repr::parse_bytes(&response).unwrap();
        assert_eq!(r.identifier, req.identifier);
        let cause = r.find(|a| match a {
            Attribute::ErrorCause(c) => Some(*c),
            _ => None,
        });
        Some((r.code, cause))
    }

    fn user(name: &str) -> Attribute {
        Attribute::UserName(name.as_bytes().to_vec())
    }

    #[test]
    fn disconnect_by_user_name_ends_exactly_that_session() {
        let (mut c, mut s) = (checker(false), fake());
        let got = ask(&mut c, &mut s, &disconnect(vec![user("alice")]));
        assert_eq!(got, Some((Code::DisconnectAck, None)));
        assert_eq!(s.disconnected, vec![alice().id]);
        // The name without its domain, too.
        let mut s = fake();
        let got = ask(
            &mut c,
            &mut s,
            &request(Code::DisconnectRequest, 2, vec![user("bob")], SECRET, false),
        );
        assert_eq!(got, Some((Code::DisconnectAck, None)));
        assert_eq!(s.disconnected, vec![bob().id]);
    }

    #[test]
    fn other_session_identifications_and_all_must_match() {
        let acct = ids().format(bob().id);
        for attrs in [
            vec![Attribute::AcctSessionId(acct.into_bytes())],
            vec![Attribute::FramedIpAddress(Ipv4Addr::new(10, 99, 0, 3))],
            vec![Attribute::CallingStationId(b"203.0.113.7:4501".to_vec())],
            vec![
                user("CORP\\bob"),
                Attribute::NasIdentifier(b"vpn1".to_vec()),
                Attribute::NasIpAddress(Ipv4Addr::new(192, 0, 2, 1)),
            ],
        ] {
            let (mut c, mut s) = (checker(false), fake());
            let got = ask(&mut c, &mut s, &disconnect(attrs.clone()));
            assert_eq!(got, Some((Code::DisconnectAck, None)), "{attrs:?}");
            assert_eq!(s.disconnected, vec![bob().id], "{attrs:?}");
        }
        // alice's name with bob's address, an Acct-Session-Id from before a restart, the
        // same client address with another port: nothing matches.
        let stale = AcctSessionIds::new(BOOT + 1).format(bob().id);
        for attrs in [
            vec![
                user("alice"),
                Attribute::FramedIpAddress(Ipv4Addr::new(10, 99, 0, 3)),
            ],
            vec![Attribute::AcctSessionId(stale.into_bytes())],
            vec![Attribute::CallingStationId(b"203.0.113.7:9".to_vec())],
            vec![user("carol")],
        ] {
            let (mut c, mut s) = (checker(false), fake());
            let got = ask(&mut c, &mut s, &disconnect(attrs.clone()));
            assert_eq!(
                got,
                Some((
                    Code::DisconnectNak,
                    Some(ErrorCause::SessionContextNotFound)
                )),
                "{attrs:?}"
            );
            assert!(s.disconnected.is_empty());
        }
    }

    #[test]
    fn refusals_carry_their_error_cause() {
        let cases = [
            (
                vec![user("alice"), Attribute::NasIdentifier(b"vpn2".to_vec())],
                ErrorCause::NasIdentificationMismatch,
            ),
            (
                vec![
                    user("alice"),
                    Attribute::NasIpAddress(Ipv4Addr::new(192, 0, 2, 99)),
                ],
                ErrorCause::NasIdentificationMismatch,
            ),
            (
                vec![Attribute::NasIdentifier(b"vpn1".to_vec())],
                ErrorCause::MissingAttribute,
            ),
            (vec![], ErrorCause::MissingAttribute),
            (
                vec![user("alice"), Attribute::NasPort(3)],
                ErrorCause::UnsupportedAttribute,
            ),
            (
                vec![
                    user("alice"),
                    Attribute::VendorSpecific {
                        vendor_id: 9,
                        data: vec![1, 3, 0],
                    },
                ],
                ErrorCause::UnsupportedAttribute,
            ),
            (
                // Session-Timeout belongs in a CoA-Request.
                vec![user("alice"), Attribute::SessionTimeout(30)],
                ErrorCause::UnsupportedAttribute,
            ),
            (
                vec![
                    user("alice"),
                    Attribute::ServiceType(radius::attr::ServiceType::Framed),
                ],
                ErrorCause::UnsupportedService,
            ),
            (
                // A Framed-IP-Address of 3 octets.
                vec![Attribute::Other {
                    attr_type: 8,
                    value: vec![10, 99, 0],
                }],
                ErrorCause::InvalidAttributeValue,
            ),
        ];
        for (attrs, cause) in cases {
            let (mut c, mut s) = (checker(false), fake());
            let got = ask(&mut c, &mut s, &disconnect(attrs.clone()));
            assert_eq!(got, Some((Code::DisconnectNak, Some(cause))), "{attrs:?}");
            assert!(s.disconnected.is_empty(), "{attrs:?}");
        }
    }

    #[test]
    fn strangers_wrong_secrets_and_stale_requests_get_no_answer() {
        let (mut c, mut s) = (checker(false), fake());
        let good = disconnect(vec![user("alice")]);
        // Another address (the right secret, even).
        assert_eq!(
            c.answer(
                now(),
                NOW,
                "192.0.2.11:3799".parse().unwrap(),
                &good,
                &mut s
            ),
            None
        );
        // A wrong secret; a good request with one byte changed.
        let wrong = request(
            Code::DisconnectRequest,
            1,
            vec![user("alice")],
            "not-the-secret-0123456",
            false,
        );
        assert_eq!(ask(&mut c, &mut s, &wrong), None);
        let mut tampered = good.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(ask(&mut c, &mut s, &tampered), None);
        // Event-Timestamp more than 300 s off either way; within it is fine.
        for (t, answered) in [
            (NOW - 301, false),
            (NOW + 301, false),
            (NOW - 300, true),
            (NOW + 5, true),
        ] {
            let mut s = fake();
            let r = request(
                Code::DisconnectRequest,
                9,
                vec![user("alice"), Attribute::EventTimestamp(t as u32)],
                SECRET,
                false,
            );
            assert_eq!(ask(&mut c, &mut s, &r).is_some(), answered, "{t}");
            assert_eq!(s.disconnected.len(), usize::from(answered));
        }
        assert!(s.disconnected.is_empty());
        // Message-Authenticator: required when configured, checked when present.
        let mut c = checker(true);
        assert_eq!(ask(&mut c, &mut s, &good), None);
        let signed = request(
            Code::DisconnectRequest,
            3,
            vec![user("alice")],
            SECRET,
            true,
        );
        assert_eq!(
            ask(&mut c, &mut s, &signed),
            Some((Code::DisconnectAck, None))
        );
        assert_eq!(s.disconnected, vec![alice().id]);
    }

    #[test]
    fn a_retransmission_is_answered_again_without_acting_twice() {
        let (mut c, mut s) = (checker(false), fake());
        let from: SocketAddr = CLIENT.parse().unwrap();
        let r = disconnect(vec![user("alice")]);
        let first = c.answer(now(), NOW, from, &r, &mut s).unwrap();
        let again = c.answer(now(), NOW, from, &r, &mut s).unwrap();
        assert_eq!(first, again);
        assert_eq!(s.disconnected, vec![alice().id]);
        // A new request (new Identifier) is acted on.
        let next = request(
            Code::DisconnectRequest,
            2,
            vec![user("alice")],
            SECRET,
            false,
        );
        assert!(c.answer(now(), NOW, from, &next, &mut s).is_some());
        assert_eq!(s.disconnected.len(), 2);
        // Past the window the same bytes are a new request again.
        let later = now() + DUPLICATE_WINDOW + Duration::from_secs(1);
        assert!(c.answer(later, NOW, from, &r, &mut s).is_some());
        assert_eq!(s.disconnected.len(), 3);
    }

    /// Mikrotik-Rate-Limit (vendor 14988, type 8, "rx/tx") as a VSA.
    fn mikrotik(rate: &str) -> Attribute {
        let mut data = vec![8, u8::try_from(rate.len() + 2).unwrap()];
        data.extend_from_slice(rate.as_bytes());
        Attribute::VendorSpecific {
            vendor_id: 14988,
            data,
        }
    }

    #[test]
    fn rate_limit_warnings_name_the_matched_users() {
        let (a, b) = (alice(), bob());
        assert_eq!(matched_users(&[]), "-");
        assert_eq!(matched_users(&[&a]), "alice");
        assert_eq!(matched_users(&[&a, &b, &a]), "alice,CORP\\bob");
    }

    #[test]
    fn coa_replaces_the_rate_limit_and_refuses_one_that_gives_none() {
        let (mut c, mut s) = (checker(false), fake());
        let r = request(
            Code::CoaRequest,
            1,
            vec![user("alice"), mikrotik("512k/2M")],
            SECRET,
            false,
        );
        assert_eq!(ask(&mut c, &mut s, &r), Some((Code::CoaAck, None)));
        let nz = |v: u64| std::num::NonZeroU64::new(v);
        assert_eq!(
            s.rates,
            vec![(
                alice().id,
                config::RateLimit {
                    up: nz(512_000),
                    down: nz(2_000_000)
                }
            )]
        );
        assert!(s.limits.is_empty(), "no timeout was asked for");
        for (id, bad) in [(2, "fast/slow"), (3, "0/0")] {
            let mut s = fake();
            let r = request(
                Code::CoaRequest,
                id,
                vec![user("alice"), mikrotik(bad)],
                SECRET,
                false,
            );
            assert_eq!(
                ask(&mut c, &mut s, &r),
                Some((Code::CoaNak, Some(ErrorCause::InvalidAttributeValue))),
                "{bad}"
            );
            assert!(s.rates.is_empty(), "{bad}");
        }
        // In a Disconnect-Request the same attribute is not understood.
        let mut s = fake();
        let r = request(
            Code::DisconnectRequest,
            4,
            vec![user("alice"), mikrotik("1M")],
            SECRET,
            false,
        );
        assert_eq!(
            ask(&mut c, &mut s, &r),
            Some((Code::DisconnectNak, Some(ErrorCause::UnsupportedAttribute)))
        );
        assert!(s.disconnected.is_empty());
    }

    #[test]
    fn coa_changes_the_timeouts_and_refuses_anything_else() {
        let (mut c, mut s) = (checker(false), fake());
        let r = request(
            Code::CoaRequest,
            1,
            vec![
                user("alice"),
                Attribute::SessionTimeout(30),
                Attribute::IdleTimeout(0),
            ],
            SECRET,
            false,
        );
        assert_eq!(ask(&mut c, &mut s, &r), Some((Code::CoaAck, None)));
        assert_eq!(
            s.limits,
            vec![(alice().id, Some(Some(Duration::from_secs(30))), Some(None))]
        );
        assert!(s.disconnected.is_empty());
        let mut s = fake();
        let r = request(
            Code::CoaRequest,
            2,
            vec![
                user("alice"),
                // Filter-Id (RFC 2865 §5.11).
                Attribute::Other {
                    attr_type: 11,
                    value: b"slow".to_vec(),
                },
            ],
            SECRET,
            false,
        );
        assert_eq!(
            ask(&mut c, &mut s, &r),
            Some((Code::CoaNak, Some(ErrorCause::UnsupportedAttribute)))
        );
        let r = request(
            Code::CoaRequest,
            3,
            vec![user("nobody"), Attribute::SessionTimeout(30)],
            SECRET,
            false,
        );
        assert_eq!(
            ask(&mut c, &mut s, &r),
            Some((Code::CoaNak, Some(ErrorCause::SessionContextNotFound)))
        );
        assert!(s.limits.is_empty());
    }
}
