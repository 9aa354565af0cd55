//! RADIUS authentication (RFC 2865) for the owner task: one UDP socket, the sans-IO
//! [`radius::Client`], and the table that maps its requests back to the PPP logins the server
//! handed out ([`server::Event::AuthRequest`]).
//!
//! What is sent for a login (RFC 2865 §4.1, §5; RFC 2548 §2.1, §2.3 for MS-CHAP):
//! User-Name as the client sent it, NAS-Identifier and NAS-IP-Address (if configured),
//! NAS-Port-Type Virtual (§5.41), Service-Type Framed (§5.6), Framed-Protocol PPP (§5.7),
//! Calling-Station-Id (the client's public address and port, §5.31), Called-Station-Id (our
//! address, §5.30, when it is known), and per method MS-CHAP-Challenge with MS-CHAP2-Response
//! (MS-CHAPv2) or MS-CHAP-Response (MS-CHAPv1), CHAP-Challenge with CHAP-Password (CHAP-MD5,
//! §5.3, §5.40), or User-Password (PAP, §5.2).
//!
//! What is taken from the answer: Access-Accept gives the MS-CHAP2-Success `S=` string
//! (required for MS-CHAPv2: the client checks the server knew its password, RFC 2759 §5),
//! Framed-IP-Address (§5.8: 255.255.255.254 lets our pool choose, 255.255.255.255 the client),
//! Session-Timeout and Idle-Timeout (§5.27, §5.28; they override users.yaml and the `ppp:` defaults)
//! MS-Primary/Secondary-DNS-Server and MS-Primary/Secondary-NBNS-Server (RFC 2548, Microsoft
//! vendor 311 types 28-31; they replace the `ppp:` dns/wins pair for that session's IPCP)
//! and Reply-Message, and rate limits from the vendor attributes other NASes take for them
//! (see [`rate_limit_from`]); Access-Reject gives the MS-CHAP-Error (`E=691 R=0 ...`, RFC 2759 §6) or
//! Reply-Message. No answer from any server is [`AuthVerdict::NoAnswer`]: the server refuses
//! the login (the client sees error 691), or with `radius.order: [radius, users]` checks it
//! against users.yaml instead. Access-Challenge (needs a second round the PPP methods cannot
//! carry) refuses the login.
//!
//! Which logins come here at all is `radius.order` ([`auth_order`], see
//! [`server::AuthOrder`]).
//!
//! The same client and socket carry accounting (`radius.accounting`, on by default): an
//! Access-Accept's User-Name, Class and Acct-Interim-Interval go to [`crate::accounting`]
//! ([`RemoteAuth::take_accepted`]), which builds the records; the client queues and sends
//! them to the accounting servers. Dynamic Authorization (CoA, Disconnect) is in
//! [`crate::dynauth`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use config::{AuthSource, RadiusOptions};
use ppp::{Accept, AuthProtocol, AuthRequest, AuthResponse, AuthTicket, AuthVerdict, Reject};
use radius::attr::{FramedProtocol, NasPortType, ServiceType};
use radius::client::AccessResponse;
use radius::{Attribute, Client, ClientConfig, Code, Event, MsAttribute, RequestId};
use server::escape::Printable;
use server::{AuthOrder, SessionId};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use crate::accounting::RadiusLogin;

/// NAS-Identifier when neither the configuration nor the host name gives one.
const FALLBACK_NAS_IDENTIFIER: &str = "l2tpd-rs";

/// The largest RADIUS packet (RFC 2865 §3: 4096 octets).
pub(crate) const MAX_RADIUS_PACKET: usize = 4096;

/// The server's [`server::AuthOrder`] for `radius.order` (see [`config::AuthSource`]).
pub(crate) fn auth_order(order: &[AuthSource]) -> AuthOrder {
    match order {
        [AuthSource::Users, AuthSource::Radius] => AuthOrder::LocalThenRemote,
        [AuthSource::Radius, AuthSource::Users] => AuthOrder::RemoteThenLocal,
        [AuthSource::Users] => AuthOrder::Local,
        // `[radius]`, the default; the configuration check allows nothing else.
        _ => AuthOrder::Remote,
    }
}

/// A login waiting for its answer.
struct Pending {
    session: SessionId,
    ticket: AuthTicket,
    user: String,
    /// User-Name as sent, for accounting.
    name: Vec<u8>,
    method: AuthProtocol,
}

/// The daemon's RADIUS client.
pub(crate) struct RemoteAuth {
    client: Client,
    socket: UdpSocket,
    pending: HashMap<RequestId, Pending>,
    verdicts: Vec<(SessionId, AuthTicket, AuthVerdict)>,
    /// What accounting needs from each Access-Accept given out as a verdict.
    accepted: Vec<(SessionId, RadiusLogin)>,
    called_station: Option<String>,
    /// The servers, for log lines.
    servers: String,
    /// When a dropped answer was last logged as a warning (at most one a minute).
    last_drop_warning: Option<Instant>,
    /// Logins go to users.yaml when no server answers (`radius.order: [radius, users]`).
    fallback: bool,
}

/// How often a dropped answer is logged as a warning (a stranger can send them).
const DROP_WARNING_EVERY: Duration = Duration::from_secs(60);

impl RemoteAuth {
    /// Binds the socket (on `source_address`, or any address of the servers' family) and
    /// builds the client. `called_station` is our address, for Called-Station-Id.
    pub(crate) async fn new(
        opts: &RadiusOptions,
        called_station: Option<IpAddr>,
        seed: [u8; 32],
    ) -> anyhow::Result<Self> {
        let first = opts
            .servers
            .first()
            .context("radius: no servers configured")?;
        let any = if first.address.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        let local = opts.source_address.unwrap_or(any);
        if let Some(s) = opts
            .servers
            .iter()
            .find(|s| s.address.is_ipv4() != local.is_ipv4())
        {
            anyhow::bail!(
                "radius: server {} and the RADIUS socket ({local}) are of different address \
                 families: use servers of one family (or set radius.source_address to match)",
                s.address
            );
        }
        let socket = UdpSocket::bind(SocketAddr::new(local, 0))
            .await
            .with_context(|| format!("cannot bind the RADIUS socket on {local}"))?;
        let servers = opts
            .servers
            .iter()
            .map(|s| radius::Server {
                address: s.address,
                secret: radius::SharedSecret::new(s.secret.as_bytes()),
            })
            .collect();
        let acct = &opts.accounting;
        if acct.enabled
            && let Some(s) = acct
                .servers
                .iter()
                .find(|s| s.address.is_ipv4() != local.is_ipv4())
        {
            anyhow::bail!(
                "radius: accounting server {} and the RADIUS socket ({local}) are of different \
                 address families: use servers of one family (or set radius.source_address to \
                 match)",
                s.address
            );
        }
        let acct_servers = acct
            .servers
            .iter()
            .filter(|_| acct.enabled)
            .map(|s| radius::Server {
                address: s.address,
                secret: radius::SharedSecret::new(s.secret.as_bytes()),
            })
            .collect();
        let mut cfg = ClientConfig::new(servers, acct_servers);
        cfg.timeout = opts.timeout;
        cfg.retries = opts.retries;
        let nas_identifier = opts.nas_identifier.clone().unwrap_or_else(host_name);
        cfg.nas_attributes.push(Attribute::NasIdentifier(
            nas_identifier.clone().into_bytes(),
        ));
        if let Some(ip) = opts.nas_ip_address {
            cfg.nas_attributes.push(Attribute::NasIpAddress(ip));
        }
        let client = Client::new(cfg, seed).context("radius: the client refused its settings")?;
        let server_list = opts
            .servers
            .iter()
            .map(|s| s.address.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let order = auth_order(&opts.order);
        let who = match order {
            AuthOrder::LocalThenRemote => {
                "RADIUS authentication on: names users.yaml lists are checked there, all others \
                 by the RADIUS servers (radius.order: [users, radius])"
            }
            AuthOrder::RemoteThenLocal => {
                "RADIUS authentication on: logins are checked by the RADIUS servers, and against \
                 users.yaml only when no server answers (radius.order: [radius, users])"
            }
            AuthOrder::Local => {
                "RADIUS authentication off: users.yaml checks every login (radius.order: [users])"
            }
            _ => {
                "RADIUS authentication on: logins are checked by the RADIUS servers, not users.yaml"
            }
        };
        info!(
            servers = %server_list,
            nas_identifier = %nas_identifier,
            local = %socket.local_addr().map_or_else(|_| local.to_string(), |a| a.to_string()),
            "{who}"
        );
        Ok(Self {
            client,
            socket,
            pending: HashMap::new(),
            verdicts: Vec::new(),
            accepted: Vec::new(),
            called_station: called_station.map(|a| a.to_string()),
            servers: server_list,
            last_drop_warning: None,
            fallback: order == AuthOrder::RemoteThenLocal,
        })
    }

    /// The socket answers come in on.
    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The RADIUS client, for accounting records ([`crate::accounting::Accounting::submit`]).
    pub(crate) fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The Access-Accept facts of the Accept verdicts since the last call (drained with
    /// [`Self::take_verdicts`]).
    pub(crate) fn take_accepted(&mut self) -> Vec<(SessionId, RadiusLogin)> {
        std::mem::take(&mut self.accepted)
    }

    /// When [`Self::handle_timeout`] is next due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// Retransmits and fails over what is due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.take_events();
    }

    /// A datagram on the RADIUS socket.
    pub(crate) fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        match self.client.handle_datagram(now, from, datagram) {
            Ok(()) => {}
            // A late duplicate is normal after a retransmission.
            Err(e @ radius::Error::Unexpected(_)) => debug!(%from, "RADIUS datagram dropped: {e}"),
            Err(e) => {
                let due = self
                    .last_drop_warning
                    .is_none_or(|t| now.saturating_duration_since(t) >= DROP_WARNING_EVERY);
                if !due {
                    debug!(%from, "RADIUS datagram dropped: {e}");
                } else if e == radius::Error::MissingMessageAuthenticator {
                    self.last_drop_warning = Some(now);
                    warn!(
                        %from,
                        "RADIUS answer dropped: it has no Message-Authenticator, which we require \
                         (BlastRADIUS, CVE-2024-3596); FreeRADIUS before 3.2.5 needs \
                         `Message-Authenticator := 0x00` in its reply (at most one such line a minute)"
                    );
                } else {
                    self.last_drop_warning = Some(now);
                    warn!(
                        %from,
                        "RADIUS answer dropped: {e} (a wrong shared secret looks like this; at most \
                         one such line a minute)"
                    );
                }
            }
        }
        self.take_events();
    }

    /// Sends an Access-Request for a login the server handed out. A request that cannot be
    /// sent is refused at once.
    pub(crate) fn request(
        &mut self,
        now: Instant,
        session: SessionId,
        client: SocketAddr,
        ticket: AuthTicket,
        request: &AuthRequest,
    ) {
        let user = request.user.printable().to_string();
        let mut attributes = vec![
            Attribute::UserName(request.name.clone()),
            Attribute::NasPortType(NasPortType::Virtual),
            Attribute::ServiceType(ServiceType::Framed),
            Attribute::FramedProtocol(FramedProtocol::Ppp),
            Attribute::CallingStationId(client.to_string().into_bytes()),
        ];
        if let Some(called) = &self.called_station {
            attributes.push(Attribute::CalledStationId(called.clone().into_bytes()));
        }
        let mut password = None;
        match &request.response {
            AuthResponse::MsChapV2 {
                challenge,
                peer_challenge,
                nt_response,
                flags,
            } => {
                attributes.push(Attribute::Microsoft(MsAttribute::ChapChallenge(
                    challenge.to_vec(),
                )));
                attributes.push(Attribute::Microsoft(MsAttribute::Chap2Response {
                    ident: request.identifier,
                    flags: *flags,
                    peer_challenge: **peer_challenge,
                    reserved: [0; 8],
                    nt_response: **nt_response,
                }));
            }
            AuthResponse::MsChapV1 {
                challenge,
                lm_response,
                nt_response,
            } => {
                attributes.push(Attribute::Microsoft(MsAttribute::ChapChallenge(
                    challenge.to_vec(),
                )));
                attributes.push(Attribute::Microsoft(MsAttribute::ChapResponse {
                    ident: request.identifier,
                    // RFC 2548 §2.1.3: 1 means use the NT-Response (the only kind handed out).
                    flags: 1,
                    lm_response: **lm_response,
                    nt_response: **nt_response,
                }));
            }
            AuthResponse::Chap {
                challenge,
                response,
            } => {
                attributes.push(Attribute::ChapChallenge(challenge.to_vec()));
                attributes.push(Attribute::ChapPassword {
                    ident: request.identifier,
                    response: **response,
                });
            }
            AuthResponse::Pap { password: p } => password = Some(p.clone()),
            _ => {
                warn!(user = %user, %client, method = %request.method, "login refused: this authentication method cannot be sent to RADIUS");
                self.verdicts.push((
                    session,
                    ticket,
                    AuthVerdict::Reject(Reject::new().final_attempt()),
                ));
                return;
            }
        }
        match self
            .client
            .send_access_request(now, attributes, password.as_ref().map(|p| &p[..]))
        {
            Ok(id) => {
                debug!(user = %user, %client, method = %request.method, "Access-Request queued");
                self.pending.insert(
                    id,
                    Pending {
                        session,
                        ticket,
                        user,
                        name: request.name.clone(),
                        method: request.method,
                    },
                );
            }
            Err(e) => {
                warn!(user = %user, %client, "login refused: the RADIUS request could not be sent ({e})");
                self.verdicts.push((
                    session,
                    ticket,
                    AuthVerdict::Reject(Reject::new().final_attempt()),
                ));
            }
        }
        self.take_events();
    }

    /// Sends what the client queued. A datagram the socket cannot take now is dropped; the
    /// client's retransmission covers it.
    pub(crate) fn flush(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            if let Err(e) = self.socket.try_send_to(&t.payload, t.destination) {
                debug!(destination = %t.destination, "RADIUS datagram not sent: {e}");
            }
        }
    }

    /// As [`Self::flush`], waiting for the socket where [`Self::flush`] would give up: for
    /// a socket the loop has not polled yet, whose first `try_send_to` finds it not known
    /// to be writable.
    pub(crate) async fn flush_waiting(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            if let Err(e) = self.socket.send_to(&t.payload, t.destination).await {
                debug!(destination = %t.destination, "RADIUS datagram not sent: {e}");
            }
        }
    }

    /// The verdicts reached since the last call, for [`server::Server::auth_verdict`].
    pub(crate) fn take_verdicts(&mut self) -> Vec<(SessionId, AuthTicket, AuthVerdict)> {
        std::mem::take(&mut self.verdicts)
    }

    fn take_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::AccessResponse(r) => {
                    let Some(p) = self.pending.remove(&r.request) else {
                        continue;
                    };
                    let verdict = verdict(&p.user, p.method, &r);
                    if matches!(verdict, AuthVerdict::Accept(_)) {
                        self.accepted
                            .push((p.session, RadiusLogin::from_accept(p.name, &r.attributes)));
                    }
                    self.verdicts.push((p.session, p.ticket, verdict));
                }
                Event::AccessFailed { request, error } => {
                    let Some(p) = self.pending.remove(&request) else {
                        continue;
                    };
                    if self.fallback {
                        warn!(
                            user = %p.user,
                            servers = %self.servers,
                            "no RADIUS server answered ({error}): the login is checked against \
                             users.yaml instead (radius.order: [radius, users])"
                        );
                    } else {
                        warn!(
                            user = %p.user,
                            servers = %self.servers,
                            "login refused: the RADIUS server did not answer ({error}); the \
                             client sees error 691"
                        );
                    }
                    self.verdicts
                        .push((p.session, p.ticket, AuthVerdict::NoAnswer));
                }
                Event::ServerDown { address } => warn!(
                    server = %address,
                    "RADIUS server did not answer: trying the next one, and skipping it for a while"
                ),
                Event::ServerUp { address } => {
                    info!(server = %address, "RADIUS server answers again");
                }
                _ => {}
            }
        }
    }
}

/// The verdict an answer gives, logged in plain words.
fn verdict(user: &str, method: AuthProtocol, r: &AccessResponse) -> AuthVerdict {
    verdict_from(user, method, r.code, &r.attributes, r.server)
}

fn verdict_from(
    user: &str,
    method: AuthProtocol,
    code: Code,
    attributes: &[Attribute],
    server: SocketAddr,
) -> AuthVerdict {
    let ms = |want: fn(&MsAttribute) -> Option<&[u8]>| {
        attributes.iter().find_map(|a| match a {
            Attribute::Microsoft(m) => want(m),
            _ => None,
        })
    };
    let ms_chap2_success = ms(|m| match m {
        MsAttribute::Chap2Success { message, .. } => Some(&message[..]),
        _ => None,
    });
    let ms_chap_error = ms(|m| match m {
        MsAttribute::ChapError { message, .. } => Some(&message[..]),
        _ => None,
    });
    let reply_message = attributes.iter().find_map(|a| match a {
        Attribute::ReplyMessage(m) => Some(String::from_utf8_lossy(m).into_owned()),
        _ => None,
    });
    let framed_ip = attributes.iter().find_map(|a| match a {
        Attribute::FramedIpAddress(ip) => Some(*ip),
        _ => None,
    });
    // RFC 2548, Microsoft vendor 311 types 28-31: the session's name servers.
    let ms_addr = |want: fn(&MsAttribute) -> Option<Ipv4Addr>| {
        attributes.iter().find_map(|a| match a {
            Attribute::Microsoft(m) => want(m),
            _ => None,
        })
    };
    let dns = [
        ms_addr(|m| match m {
            MsAttribute::PrimaryDnsServer(a) => Some(*a),
            _ => None,
        }),
        ms_addr(|m| match m {
            MsAttribute::SecondaryDnsServer(a) => Some(*a),
            _ => None,
        }),
    ];
    let nbns = [
        ms_addr(|m| match m {
            MsAttribute::PrimaryNbnsServer(a) => Some(*a),
            _ => None,
        }),
        ms_addr(|m| match m {
            MsAttribute::SecondaryNbnsServer(a) => Some(*a),
            _ => None,
        }),
    ];
    match code {
        Code::AccessAccept => {
            let mut accept = Accept::new();
            if method == AuthProtocol::MsChapV2 {
                let Some(success) = ms_chap2_success else {
                    warn!(user = %user, %server, "login refused: the RADIUS server accepted an MS-CHAPv2 login without MS-CHAP2-Success, which the client needs");
                    return AuthVerdict::Reject(Reject::new().final_attempt());
                };
                accept = match accept.with_mschapv2_success(success) {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(user = %user, %server, "login refused: the RADIUS server's MS-CHAP2-Success is malformed ({e})");
                        return AuthVerdict::Reject(Reject::new().final_attempt());
                    }
                };
            }
            if accept.message.is_none()
                && let Some(m) = &reply_message
            {
                accept = accept.with_message(m);
            }
            if let Some(ip) = framed_ip {
                accept = accept.with_address(ip);
            }
            accept = accept.with_dns(dns[0], dns[1]).with_nbns(nbns[0], nbns[1]);
            // RFC 2865 §5.27 and §5.28; 0 is read as no limit, like our own settings.
            for a in attributes {
                match a {
                    Attribute::SessionTimeout(s) if *s > 0 => {
                        accept = accept.with_session_timeout(Duration::from_secs(u64::from(*s)));
                    }
                    Attribute::IdleTimeout(s) if *s > 0 => {
                        accept = accept.with_idle_timeout(Duration::from_secs(u64::from(*s)));
                    }
                    // RFC 2865 §5.42; 0 is read as no limit, like `max_sessions: 0`.
                    Attribute::PortLimit(n) if *n > 0 => {
                        accept = accept.with_port_limit(*n);
                    }
                    _ => {}
                }
            }
            let listed = |pair: [Option<Ipv4Addr>; 2], what: &str| match pair {
                [None, None] => format!("{what} from the ppp: settings"),
                _ => pair
                    .iter()
                    .flatten()
                    .map(Ipv4Addr::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            if let Some(limit) = rate_limit_from(user, server, attributes) {
                accept = accept.with_rate_limit(limit);
            }
            for a in attributes {
                if let Attribute::FramedRoute(text) = a {
                    match parse_framed_route(text) {
                        Some(route) => accept = accept.with_route(route),
                        None => warn!(
                            user = %user,
                            %server,
                            value = %String::from_utf8_lossy(text).printable(),
                            "Framed-Route ignored: not `a.b.c.d[/len] [gateway [metrics]]`"
                        ),
                    }
                }
            }
            info!(
                user = %user,
                decided_by = %format_args!("RADIUS {}", server.ip()),
                %server,
                %method,
                address = %framed_ip.map_or_else(|| "from the pool".to_owned(), framed_ip_text),
                dns = %listed(dns, "DNS"),
                nbns = %listed(nbns, "WINS"),
                rate_limit = %accept.rate_limit.map_or_else(
                    || "none".to_owned(),
                    |r| config::RateLimit { up: r.up, down: r.down }.to_string()
                ),
                session_timeout_secs = accept.session_timeout.map_or(0, |d| d.as_secs()),
                idle_timeout_secs = accept.idle_timeout.map_or(0, |d| d.as_secs()),
                "RADIUS accepted the login"
            );
            AuthVerdict::Accept(accept)
        }
        Code::AccessReject => {
            let mut reject = Reject::new();
            if let Some(error) = ms_chap_error {
                match Reject::new().with_ms_chap_error(error) {
                    Ok(r) => reject = r,
                    Err(e) => debug!(%server, "malformed MS-CHAP-Error ignored: {e}"),
                }
            }
            if reject.message.is_none()
                && let Some(m) = &reply_message
            {
                reject = reject.with_message(m);
            }
            info!(
                user = %user,
                decided_by = %format_args!("RADIUS {}", server.ip()),
                %server,
                %method,
                error = reject.error.unwrap_or(691),
                message = %reply_message.as_deref().unwrap_or("").printable(),
                "RADIUS rejected the login"
            );
            AuthVerdict::Reject(reject)
        }
        _ => {
            warn!(user = %user, %server, "login refused: the RADIUS server sent an Access-Challenge, which PPP logins cannot answer");
            AuthVerdict::Reject(Reject::new().final_attempt())
        }
    }
}

/// Framed-IP-Address in words (RFC 2865 §5.8).
fn framed_ip_text(ip: Ipv4Addr) -> String {
    match u32::from(ip) {
        0xffff_fffe => "from the pool (255.255.255.254)".to_owned(),
        0xffff_ffff => "the client's choice (255.255.255.255)".to_owned(),
        _ => ip.to_string(),
    }
}

/// The NAS-Identifier we send: `radius.nas_identifier`, else the host name.
pub(crate) fn nas_identifier(opts: &RadiusOptions) -> String {
    opts.nas_identifier.clone().unwrap_or_else(host_name)
}

/// This host's name, for NAS-Identifier.
fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty() && h.len() <= 253)
        .unwrap_or_else(|| FALLBACK_NAS_IDENTIFIER.to_owned())
}

/// MikroTik's Vendor-Id and its Mikrotik-Rate-Limit attribute (FreeRADIUS
/// `share/dictionary.mikrotik`: `VENDOR Mikrotik 14988`, `ATTRIBUTE Mikrotik-Rate-Limit 8
/// string`).
pub(crate) const VENDOR_MIKROTIK: u32 = 14988;
const MIKROTIK_RATE_LIMIT: u8 = 8;

/// The Wireless Broadband Alliance's (formerly WISPr) Vendor-Id and its bandwidth attributes
/// (FreeRADIUS `share/dictionary.wispr`: `VENDOR WISPr 14122`, `WISPr-Bandwidth-Max-Up 7
/// integer`, `WISPr-Bandwidth-Max-Down 8 integer`; bits per second).
pub(crate) const VENDOR_WISPR: u32 = 14122;
const WISPR_BANDWIDTH_MAX_UP: u8 = 7;
const WISPR_BANDWIDTH_MAX_DOWN: u8 = 8;

/// The rate limits an Access-Accept grants, from the attributes admins already use with other
/// NASes:
/// - Mikrotik-Rate-Limit, a string `rx[/tx] [bursts...]` seen from the router: `rx` is what
///   the router receives, so the client's upload; only the first pair is read (we do not do
///   MikroTik's burst rates); `k`/`M`/`G` suffixes, one value for both ways, 0 for no limit.
/// - WISPr-Bandwidth-Max-Up / -Down, 4-octet integers in bits per second, 0 for no limit.
///
/// Mikrotik-Rate-Limit wins where both give a direction. A value that does not parse, or is
/// outside what `rate_limit` in users.yaml accepts, is ignored with a warning (the login
/// still succeeds, with the other limits).
pub(crate) fn rate_limit_from(
    user: &str,
    server: impl std::fmt::Display,
    attributes: &[Attribute],
) -> Option<ppp::RateLimit> {
    let mut mikrotik: Option<(Option<u64>, Option<u64>)> = None;
    let (mut wispr_up, mut wispr_down) = (None, None);
    for (vendor, kind, value) in attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::VendorSpecific { vendor_id, data } => Some((*vendor_id, data)),
            _ => None,
        })
        .flat_map(|(vendor, data)| sub_attributes(data).map(move |(k, v)| (vendor, k, v)))
    {
        match (vendor, kind) {
            (VENDOR_MIKROTIK, MIKROTIK_RATE_LIMIT) if mikrotik.is_none() => {
                match parse_mikrotik_rate_limit(value) {
                    Some(pair) => mikrotik = Some(pair),
                    None => warn!(
                        user = %user,
                        %server,
                        value = %String::from_utf8_lossy(value).printable(),
                        "Mikrotik-Rate-Limit ignored: not `rx/tx` rates like 2M/10M"
                    ),
                }
            }
            (VENDOR_WISPR, WISPR_BANDWIDTH_MAX_UP | WISPR_BANDWIDTH_MAX_DOWN) => {
                let Ok(bytes) = <[u8; 4]>::try_from(value) else {
                    warn!(user = %user, %server, "WISPr bandwidth attribute ignored: not 4 octets");
                    continue;
                };
                let slot = if kind == WISPR_BANDWIDTH_MAX_UP {
                    &mut wispr_up
                } else {
                    &mut wispr_down
                };
                slot.get_or_insert(u64::from(u32::from_be_bytes(bytes)));
            }
            _ => {}
        }
    }
    let (m_up, m_down) = mikrotik.unwrap_or((None, None));
    let pick = |name: &str, m: Option<u64>, w: Option<u64>| {
        let bps = m.or(w).filter(|&b| b > 0)?;
        match config::parse_rate(&bps.to_string()) {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(user = %user, %server, "RADIUS {name} rate limit ignored: {e}");
                None
            }
        }
    };
    let limit = ppp::RateLimit {
        up: pick("upload", m_up, wispr_up),
        down: pick("download", m_down, wispr_down),
    };
    (limit.up.is_some() || limit.down.is_some()).then_some(limit)
}

/// A Framed-Route's text (RFC 2865 §5.22): "a destination prefix in dotted quad form
/// optionally followed by a slash and a decimal length specifier", then "a space, a gateway
/// address in dotted quad form, a space, and one or more metrics". Without a length the
/// prefix is classful: "8 bits for class A prefixes, 16 bits for class B prefixes, and 24 bits
/// for class C prefixes" (a class D or E address without a length is refused). The length
/// states "how many high order bits of the prefix to use", so the others are cleared. A
/// gateway of 0.0.0.0 means "the IP address of the user" and comes back as `None`, as does
/// none; metrics are not used (the route goes into our TUN device, whatever they say).
fn parse_framed_route(text: &[u8]) -> Option<ppp::FramedRoute> {
    let text = std::str::from_utf8(text).ok()?;
    let mut words = text.split_whitespace();
    let prefix = words.next()?;
    let (addr, len) = match prefix.split_once('/') {
        Some((a, l)) => {
            if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let len: u8 = l.parse().ok()?;
            (a.parse::<Ipv4Addr>().ok()?, len)
        }
        None => {
            let a = prefix.parse::<Ipv4Addr>().ok()?;
            let len = match a.octets()[0] {
                0..=127 => 8,
                128..=191 => 16,
                192..=223 => 24,
                _ => return None,
            };
            (a, len)
        }
    };
    if len > 32 {
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    let gateway = match words.next() {
        Some(g) => Some(g.parse::<Ipv4Addr>().ok()?).filter(|g| !g.is_unspecified()),
        None => None,
    };
    Some(ppp::FramedRoute {
        network: Ipv4Addr::from(u32::from(addr) & mask),
        prefix_len: len,
        gateway,
    })
}

/// The `Vendor-Type | Vendor-Length | value` sub-attributes of a VSA's String field (RFC 2865
/// §5.26's suggested format); stops at the first malformed one.
fn sub_attributes(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&kind, after) = rest.split_first()?;
        let (&len, _) = after.split_first()?;
        let len = usize::from(len);
        let value = rest.get(2..len)?;
        rest = rest.get(len..)?;
        Some((kind, value))
    })
}

/// The first `rx[/tx]` pair of a Mikrotik-Rate-Limit (bits per second, `k`/`M`/`G`, either
/// case); `None` for a direction given as 0.
fn parse_mikrotik_rate_limit(value: &[u8]) -> Option<(Option<u64>, Option<u64>)> {
    let text = std::str::from_utf8(value).ok()?;
    let first = text.split_whitespace().next()?;
    let (rx, tx) = first.split_once('/').unwrap_or((first, first));
    let one = |t: &str| -> Option<Option<u64>> {
        let (digits, unit) = match t.char_indices().last()? {
            (i, 'k' | 'K') => (t.get(..i)?, 1_000u64),
            (i, 'm' | 'M') => (t.get(..i)?, 1_000_000),
            (i, 'g' | 'G') => (t.get(..i)?, 1_000_000_000),
            _ => (t, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        Some((n > 0).then(|| n.saturating_mul(unit)))
    };
    Some((one(rx)?, one(tx)?))
}

/// Waits for a datagram on the RADIUS socket; never returns without one.
pub(crate) async fn recv(
    auth: Option<&RemoteAuth>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match auth {
        Some(a) => a.socket().recv_from(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use ppp::FramedAddress;

    use super::*;

    const SERVER: &str = "192.0.2.10:1812";
    const SUCCESS: &[u8] = b"S=407A5589115FD0D6209F510FE9C04566932CDA56";

    fn decide(method: AuthProtocol, code: Code, attributes: Vec<Attribute>) -> AuthVerdict {
        verdict_from("alice", method, code, &attributes, SERVER.parse().unwrap())
    }

    fn accepted(v: AuthVerdict) -> Accept {
        match v {
            AuthVerdict::Accept(a) => a,
            other => panic!("expected an Accept: {other:?}"),
        }
    }

    fn rejected(v: AuthVerdict) -> Reject {
        match v {
            AuthVerdict::Reject(r) => r,
            other => panic!("expected a Reject: {other:?}"),
        }
    }

    fn success(message: &[u8]) -> Attribute {
        Attribute::Microsoft(MsAttribute::Chap2Success {
            ident: 1,
            message: message.to_vec(),
        })
    }

    #[test]
    fn mschapv2_accept_takes_the_success_address_and_message() {
        let a = accepted(decide(
            AuthProtocol::MsChapV2,
            Code::AccessAccept,
            vec![
                success(SUCCESS),
                Attribute::FramedIpAddress(Ipv4Addr::new(10, 99, 0, 77)),
                Attribute::ReplyMessage(b"Welcome".to_vec()),
            ],
        ));
        let mut expected = [0u8; 20];
        hex::decode_to_slice(&SUCCESS[2..], &mut expected).unwrap();
        assert_eq!(a.authenticator_response, Some(expected));
        assert_eq!(
            a.address,
            Some(FramedAddress::Fixed(Ipv4Addr::new(10, 99, 0, 77)))
        );
        assert_eq!(a.message.as_deref(), Some("Welcome"));

        // The success's own M= wins over Reply-Message.
        let mut with_m = SUCCESS.to_vec();
        with_m.extend_from_slice(b" M=Hello");
        let a = accepted(decide(
            AuthProtocol::MsChapV2,
            Code::AccessAccept,
            vec![
                success(&with_m),
                Attribute::ReplyMessage(b"Welcome".to_vec()),
            ],
        ));
        assert_eq!(a.message.as_deref(), Some("Hello"));
    }

    #[test]
    fn session_and_idle_timeouts_reach_the_verdict() {
        let a = accepted(decide(
            AuthProtocol::Chap,
            Code::AccessAccept,
            vec![Attribute::SessionTimeout(3600), Attribute::IdleTimeout(600)],
        ));
        assert_eq!(a.session_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(a.idle_timeout, Some(Duration::from_secs(600)));
        let a = accepted(decide(
            AuthProtocol::Chap,
            Code::AccessAccept,
            vec![Attribute::SessionTimeout(0)],
        ));
        assert_eq!((a.session_timeout, a.idle_timeout), (None, None));
    }

    fn vsa(vendor: u32, kind: u8, value: &[u8]) -> Attribute {
        let mut data = vec![kind, u8::try_from(value.len() + 2).unwrap()];
        data.extend_from_slice(value);
        Attribute::VendorSpecific {
            vendor_id: vendor,
            data,
        }
    }

    fn rates(a: &Accept) -> Option<(Option<u64>, Option<u64>)> {
        a.rate_limit.map(|r| {
            (
                r.up.map(std::num::NonZeroU64::get),
                r.down.map(std::num::NonZeroU64::get),
            )
        })
    }

    #[test]
    fn rate_limits_come_from_mikrotik_and_wispr_attributes() {
        let decide_with = |attrs| accepted(decide(AuthProtocol::Chap, Code::AccessAccept, attrs));
        // rx (the router receives: the client's upload) / tx.
        let a = decide_with(vec![vsa(14988, 8, b"2M/10M")]);
        assert_eq!(rates(&a), Some((Some(2_000_000), Some(10_000_000))));
        // Burst fields after the first pair are not ours; lowercase suffixes are MikroTik's too.
        let a = decide_with(vec![vsa(14988, 8, b"512k/4m 1M/8M 256k/2M 8/8")]);
        assert_eq!(rates(&a), Some((Some(512_000), Some(4_000_000))));
        // One value: both ways. 0: no limit that way.
        let a = decide_with(vec![vsa(14988, 8, b"5M")]);
        assert_eq!(rates(&a), Some((Some(5_000_000), Some(5_000_000))));
        let a = decide_with(vec![vsa(14988, 8, b"0/1M")]);
        assert_eq!(rates(&a), Some((None, Some(1_000_000))));
        // WISPr: bits per second, one attribute per direction.
        let a = decide_with(vec![
            vsa(14122, 7, &1_000_000u32.to_be_bytes()),
            vsa(14122, 8, &3_000_000u32.to_be_bytes()),
        ]);
        assert_eq!(rates(&a), Some((Some(1_000_000), Some(3_000_000))));
        // Mikrotik wins; WISPr fills the direction it leaves open.
        let a = decide_with(vec![
            vsa(14122, 7, &1_000_000u32.to_be_bytes()),
            vsa(14122, 8, &3_000_000u32.to_be_bytes()),
            vsa(14988, 8, b"0/10M"),
        ]);
        assert_eq!(rates(&a), Some((Some(1_000_000), Some(10_000_000))));
        // Junk, out of range, wrong sizes, other vendors and attributes: no limit, still in.
        for attrs in [
            vec![vsa(14988, 8, b"fast/faster")],
            vec![vsa(14988, 8, b"100/100")],
            vec![vsa(14988, 8, b"")],
            vec![vsa(14122, 7, &[1, 2, 3])],
            vec![vsa(14122, 7, &0u32.to_be_bytes())],
            vec![vsa(9, 8, b"2M/10M")],
            vec![vsa(14988, 9, b"2M/10M")],
            vec![Attribute::VendorSpecific {
                vendor_id: 14988,
                data: vec![8, 40, b'2'],
            }],
        ] {
            let a = decide_with(attrs.clone());
            assert_eq!(a.rate_limit, None, "{attrs:?}");
        }
    }

    #[test]
    fn port_limit_reaches_the_verdict() {
        let a = accepted(decide(
            AuthProtocol::Pap,
            Code::AccessAccept,
            vec![Attribute::PortLimit(2)],
        ));
        assert_eq!(a.port_limit, Some(2));
        // 0 is no limit, as `max_sessions: 0`.
        let a = accepted(decide(
            AuthProtocol::Pap,
            Code::AccessAccept,
            vec![Attribute::PortLimit(0)],
        ));
        assert_eq!(a.port_limit, None);
        let a = accepted(decide(AuthProtocol::Pap, Code::AccessAccept, vec![]));
        assert_eq!(a.port_limit, None);
    }

    #[test]
    fn framed_routes_are_read_in_every_form_rfc_2865_gives() {
        let route = |text: &str| parse_framed_route(text.as_bytes());
        let r = |net: [u8; 4], len: u8, gw: Option<[u8; 4]>| {
            Some(ppp::FramedRoute {
                network: Ipv4Addr::from(net),
                prefix_len: len,
                gateway: gw.map(Ipv4Addr::from),
            })
        };
        // RFC 2865 §5.22's own examples.
        assert_eq!(
            route("192.168.1.0/24 192.168.1.1 1 2 -1 3 400"),
            r([192, 168, 1, 0], 24, Some([192, 168, 1, 1]))
        );
        assert_eq!(
            route("192.168.1.0 192.168.1.1 1"),
            r([192, 168, 1, 0], 24, Some([192, 168, 1, 1]))
        );
        // Classful lengths, the user's own address as gateway, no gateway at all.
        assert_eq!(route("10.20.0.0 0.0.0.0 1"), r([10, 0, 0, 0], 8, None));
        assert_eq!(route("172.16.0.0"), r([172, 16, 0, 0], 16, None));
        assert_eq!(route("192.168.50.0/24"), r([192, 168, 50, 0], 24, None));
        assert_eq!(
            route("  192.168.50.0/24  0.0.0.0  "),
            r([192, 168, 50, 0], 24, None)
        );
        // Host bits beyond the length are not used.
        assert_eq!(route("192.168.50.77/24"), r([192, 168, 50, 0], 24, None));
        assert_eq!(route("192.168.50.7/32"), r([192, 168, 50, 7], 32, None));
        for bad in [
            "",
            "224.0.0.0",
            "192.168.50.0/33",
            "192.168.50.0/",
            "192.168.50.0/+8",
            "192.168.50/24",
            "branch 0.0.0.0",
            "192.168.50.0/24 gateway",
        ] {
            assert_eq!(route(bad), None, "{bad:?}");
        }
        assert_eq!(parse_framed_route(&[0xff, 0x31]), None);

        // In an Access-Accept, every Framed-Route that parses reaches the verdict.
        let a = accepted(decide(
            AuthProtocol::Pap,
            Code::AccessAccept,
            vec![
                Attribute::FramedRoute(b"192.168.50.0/24 0.0.0.0 1".to_vec()),
                Attribute::FramedRoute(b"not a route".to_vec()),
                Attribute::FramedRoute(b"172.16.0.0".to_vec()),
            ],
        ));
        assert_eq!(
            a.routes,
            vec![
                r([192, 168, 50, 0], 24, None).unwrap(),
                r([172, 16, 0, 0], 16, None).unwrap()
            ]
        );
    }

    #[test]
    fn framed_ip_address_special_values() {
        for (ip, want) in [
            ([255, 255, 255, 254], FramedAddress::NasChoice),
            ([255, 255, 255, 255], FramedAddress::UserChoice),
        ] {
            let a = accepted(decide(
                AuthProtocol::Pap,
                Code::AccessAccept,
                vec![Attribute::FramedIpAddress(ip.into())],
            ));
            assert_eq!(a.address, Some(want));
        }
        let a = accepted(decide(AuthProtocol::Chap, Code::AccessAccept, vec![]));
        assert_eq!(a.address, None, "no Framed-IP-Address: the pool decides");
        assert_eq!(a.authenticator_response, None);
    }

    #[test]
    fn mschapv2_accept_without_a_valid_success_is_refused() {
        for attributes in [vec![], vec![success(b"S=not-hex")]] {
            let r = rejected(decide(
                AuthProtocol::MsChapV2,
                Code::AccessAccept,
                attributes,
            ));
            assert!(!r.retry);
        }
    }

    #[test]
    fn reject_takes_the_ms_chap_error_as_sent() {
        let r = rejected(decide(
            AuthProtocol::MsChapV2,
            Code::AccessReject,
            vec![Attribute::Microsoft(MsAttribute::ChapError {
                ident: 1,
                message: b"E=648 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Password expired"
                    .to_vec(),
            })],
        ));
        assert_eq!(r.error, Some(648));
        assert!(!r.retry);
        assert_eq!(r.message.as_deref(), Some("Password expired"));

        // Without one: 691 (the default), the Reply-Message as the text.
        let r = rejected(decide(
            AuthProtocol::Chap,
            Code::AccessReject,
            vec![Attribute::ReplyMessage(b"Account locked".to_vec())],
        ));
        assert_eq!(r.error, None);
        assert_eq!(r.message.as_deref(), Some("Account locked"));
    }

    #[test]
    fn name_servers_reach_the_verdict() {
        let ip = |d| Ipv4Addr::new(10, 1, 0, d);
        let a = accepted(decide(
            AuthProtocol::Pap,
            Code::AccessAccept,
            vec![
                Attribute::Microsoft(MsAttribute::SecondaryDnsServer(ip(54))),
                Attribute::Microsoft(MsAttribute::PrimaryDnsServer(ip(53))),
                Attribute::Microsoft(MsAttribute::PrimaryNbnsServer(ip(137))),
            ],
        ));
        assert_eq!(a.dns, [Some(ip(53)), Some(ip(54))]);
        assert_eq!(a.nbns, [Some(ip(137)), None]);
        let a = accepted(decide(AuthProtocol::Pap, Code::AccessAccept, vec![]));
        assert_eq!((a.dns, a.nbns), ([None, None], [None, None]));
    }

    #[test]
    fn radius_order_maps_to_the_servers_auth_order() {
        use AuthSource::{Radius, Users};
        assert_eq!(auth_order(&[Radius]), AuthOrder::Remote);
        assert_eq!(auth_order(&[Users, Radius]), AuthOrder::LocalThenRemote);
        assert_eq!(auth_order(&[Radius, Users]), AuthOrder::RemoteThenLocal);
        assert_eq!(auth_order(&[Users]), AuthOrder::Local);
    }

    #[test]
    fn access_challenge_is_refused() {
        let r = rejected(decide(
            AuthProtocol::Pap,
            Code::AccessChallenge,
            vec![Attribute::ReplyMessage(b"Enter your OTP".to_vec())],
        ));
        assert!(!r.retry);
    }
}
