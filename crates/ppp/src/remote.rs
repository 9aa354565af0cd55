//! Authentication decided elsewhere: the attempt a remote verifier (a RADIUS server, RFC 2865)
//! needs, and the verdict it answers with.
//!
//! # The flow
//! When the [`crate::Authenticator`] answers a look-up with [`crate::Lookup::Remote`], the link
//! checks nothing itself. It hands the attempt out as [`crate::Event::AuthRequest`]: an
//! [`AuthTicket`] and an [`AuthRequest`] with the method, the CHAP Identifier, the user name
//! as the peer gave it, our challenge and the peer's answer ([`AuthResponse`]). A RADIUS
//! client maps these onto an Access-Request: MS-CHAP-Challenge and MS-CHAP2-Response for
//! MS-CHAPv2 or MS-CHAP-Response for MS-CHAPv1 (RFC 2548), CHAP-Challenge and
//! CHAP-Password for CHAP-MD5 (RFC 2865 §5.3, §5.40), User-Password for PAP (RFC 2865 §5.2).
//! The link then waits, and the caller answers with [`crate::Link::resolve_auth`] and an
//! [`AuthVerdict`]:
//!
//! - [`Accept`]: the link sends Success. For MS-CHAPv2 that is `S=<authenticator response>
//!   M=<message>` (RFC 2759 §5); only the verifier, who knows the password, can compute the
//!   authenticator response, so it must come with the verdict (RADIUS: MS-CHAP2-Success, RFC
//!   2548). An Accept without it is answered with a Failure, since the peer would
//!   reject our Success (Windows error 778). CHAP-MD5 and MS-CHAPv1 get a CHAP Success (RFC
//!   1994 §4.2), PAP an Authenticate-Ack (RFC 1334 §2.2.2). The verdict's address (RADIUS
//!   Framed-IP-Address, RFC 2865 §5.8) is what IPCP then hands out, through
//!   [`crate::Authenticator::assign_remote_address`].
//!   An Accept may also name the session's DNS and NBNS servers (RADIUS
//!   MS-Primary/Secondary-DNS-Server and -NBNS-Server, RFC 2548, Microsoft vendor 311 types 28-31): IPCP then offers
//!   those (RFC 1877 options 129-132) instead of the configured ones (see [`Accept::dns`]).
//! - [`Reject`]: the link sends the usual Failure (RFC 1994 §4.2; for MS-CHAP `E=<code> R=<0|1>
//!   C=<new challenge> V=<n> M=<text>`, RFC 2759 §6) with the verifier's error code and text
//!   if it gave them (RADIUS: MS-CHAP-Error, RFC 2548, and Reply-Message, RFC 2865
//!   §5.18), or PAP's Authenticate-Nak. `R=0`, and the end of the link, when the verdict
//!   allows no retry or the link's `auth_retries` are used up; with `R=1` the peer's next
//!   Response is a new attempt, handed out again.
//! - [`AuthVerdict::NoAnswer`]: no verifier answered (every RADIUS server timed out). The link
//!   fails the attempt as if its own wait had run out (`R=0`, "the authentication server did
//!   not answer"). Instead of giving this verdict, the caller may check the attempt against
//!   local credentials with [`crate::Link::resolve_auth_locally`]: the stored Response is
//!   verified exactly as if the [`crate::Authenticator`] had found the user at once (a
//!   fallback account for when the directory is down).
//!
//! While a verdict is pending the link never retransmits its Challenge: RFC 1994 §4.1 has
//! Challenges sent "until a valid Response packet is received", and the Response that arrived
//! is being judged. A client that answered a resent Challenge would compute a new Response,
//! with a new peer challenge for MS-CHAPv2, and then reject the Success computed over its
//! first one (Windows error 778). A repeated Response with the pending Identifier is
//! absorbed; a Response with another Identifier answers no Challenge of ours and is ignored
//! (RFC 1994 §4.1: the Identifier "MUST" change with each Challenge). PAP has no Challenge:
//! a peer repeats its Authenticate-Request with a new Identifier (RFC 1334 §2.2.1), so a
//! repeat with the same name and password moves the pending answer to the new Identifier.
//! If no verdict comes within `LinkConfig::auth_timeout` (30 s by default) the peer gets a
//! Failure with `R=0` and the link ends ("the authentication server did not answer"). A
//! verdict for a ticket that is no longer pending (the link timed out, failed, renegotiated
//! LCP or went down) is ignored.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use wire::ppp::mschap::{FailureMessage, SuccessMessage, V1Response, V2Response};
use zeroize::Zeroizing;

use crate::config::AuthProtocol;

/// Texts from a verdict are cut to this many octets on the wire: a Success or Failure must
/// fit in one PPP frame well within the peer's MRU.
pub(crate) const MAX_VERDICT_TEXT: usize = 200;

/// Names one authentication attempt handed out for a remote verdict. Drawn at random per
/// attempt, so a verdict meant for an earlier attempt (or another link) is not taken for the
/// current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthTicket(pub(crate) u64);

impl AuthTicket {
    /// The ticket's value (for the caller's own tables).
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Everything a remote verifier needs about one attempt. The peer's answer is zeroized on
/// drop and never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRequest {
    /// The method negotiated by LCP.
    pub method: AuthProtocol,
    /// The Identifier of the peer's Response (or PAP Authenticate-Request) being verified;
    /// CHAP-MD5 hashes it (RFC 1994 §4.1), and RADIUS carries it in CHAP-Password and
    /// MS-CHAP2-Response.
    pub identifier: u8,
    /// The user name as the peer gave it (e.g. `DOMAIN\user`), as text for logs and tables;
    /// invalid UTF-8 is replaced.
    pub user: String,
    /// The same name, octet for octet (RADIUS User-Name; MS-CHAPv2 hashes it, RFC 2759 §4).
    pub name: Vec<u8>,
    /// Our challenge and the peer's answer.
    pub response: AuthResponse,
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRequest")
            .field("method", &self.method)
            .field("identifier", &self.identifier)
            .field("user", &self.user)
            .field("response", &self.response)
            .finish()
    }
}

/// Our challenge and the peer's answer, per method.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthResponse {
    /// MS-CHAPv2 (RFC 2759 §4).
    MsChapV2 {
        /// Our 16-octet authenticator challenge.
        challenge: [u8; 16],
        /// The peer's challenge.
        peer_challenge: Zeroizing<[u8; 16]>,
        /// The NT-Response.
        nt_response: Zeroizing<[u8; 24]>,
        /// The Flags octet.
        flags: u8,
    },
    /// MS-CHAPv1 (RFC 2433 §2.2); only NT responses (Use-NT = 1) are handed out.
    MsChapV1 {
        /// Our 8-octet challenge.
        challenge: [u8; 8],
        /// The LAN Manager response (zeros from Windows).
        lm_response: Zeroizing<[u8; 24]>,
        /// The NT response.
        nt_response: Zeroizing<[u8; 24]>,
    },
    /// CHAP with MD5 (RFC 1994 §4.1): `MD5(identifier | secret | challenge)`.
    Chap {
        /// Our challenge.
        challenge: [u8; 16],
        /// The peer's 16-octet response.
        response: Zeroizing<[u8; 16]>,
    },
    /// PAP (RFC 1334 §2.2.1): the password in clear.
    Pap {
        /// The password the peer sent.
        password: Zeroizing<Vec<u8>>,
    },
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MsChapV2 { .. } => "MsChapV2(<redacted>)",
            Self::MsChapV1 { .. } => "MsChapV1(<redacted>)",
            Self::Chap { .. } => "Chap(<redacted>)",
            Self::Pap { .. } => "Pap(<redacted>)",
        })
    }
}

impl AuthResponse {
    /// The peer's Response `value` (the password for PAP) to `challenge`, or `None` when it
    /// has the wrong size or flags (the attempt then fails here as a malformed response).
    pub(crate) fn new(method: AuthProtocol, challenge: &[u8], value: &[u8]) -> Option<Self> {
        Some(match method {
            AuthProtocol::MsChapV2 => {
                let r = V2Response::parse(value).ok()?;
                Self::MsChapV2 {
                    challenge: challenge.try_into().ok()?,
                    peer_challenge: Zeroizing::new(r.peer_challenge),
                    nt_response: Zeroizing::new(r.nt_response),
                    flags: r.flags,
                }
            }
            AuthProtocol::MsChapV1 => {
                let r = V1Response::parse(value).ok()?;
                if r.use_nt != 1 {
                    // LAN Manager responses are not supported (as in the local check).
                    return None;
                }
                Self::MsChapV1 {
                    challenge: challenge.try_into().ok()?,
                    lm_response: Zeroizing::new(r.lm_response),
                    nt_response: Zeroizing::new(r.nt_response),
                }
            }
            AuthProtocol::Chap => Self::Chap {
                challenge: challenge.try_into().ok()?,
                response: Zeroizing::new(value.try_into().ok()?),
            },
            AuthProtocol::Pap => Self::Pap {
                password: Zeroizing::new(value.to_vec()),
            },
        })
    }
}

/// A remote verifier's answer to an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthVerdict {
    /// The peer is authenticated (RADIUS Access-Accept).
    Accept(Accept),
    /// The peer is not (RADIUS Access-Reject).
    Reject(Reject),
    /// No verifier answered (no RADIUS server did, after every retry): the attempt fails
    /// as when no verdict comes in time ([`crate::AuthFailure::NoVerdict`], `R=0`).
    NoAnswer,
}

/// What comes with an accepted attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accept {
    /// MS-CHAPv2: the 20-octet authenticator response of the Success message (RFC 2759 §5;
    /// RADIUS MS-CHAP2-Success). Required for MS-CHAPv2, unused by the other methods.
    pub authenticator_response: Option<[u8; 20]>,
    /// The text of the Success (`M=` for MS-CHAPv2); `Access granted` when `None`.
    pub message: Option<String>,
    /// The peer's address (RADIUS Framed-IP-Address); `None` lets the address source choose.
    pub address: Option<FramedAddress>,
    /// How long the session may last (RADIUS Session-Timeout, RFC 2865 §5.27). The link does
    /// not act on it: it is carried for whoever enforces session limits.
    pub session_timeout: Option<Duration>,
    /// How long the session may stay idle (RADIUS Idle-Timeout, RFC 2865 §5.28). Carried like
    /// `session_timeout`, never acted on by the link.
    pub idle_timeout: Option<Duration>,
    /// Primary and secondary DNS server (RADIUS MS-Primary-DNS-Server and
    /// MS-Secondary-DNS-Server, RFC 2548, Microsoft vendor 311 types 28 and 29). When either is set, the pair replaces
    /// the link's configured DNS servers for this session's IPCP (RFC 1877 options 129, 131);
    /// a slot left `None` is then rejected rather than filled from the configuration, so the
    /// client never mixes the directory's servers with ours. Both `None`: the configured ones.
    pub dns: [Option<Ipv4Addr>; 2],
    /// Primary and secondary NBNS (WINS) server (RADIUS MS-Primary-NBNS-Server and
    /// MS-Secondary-NBNS-Server, RFC 2548, types 30 and 31), for options 130 and 132; replaces
    /// the configured pair the same way as `dns`.
    pub nbns: [Option<Ipv4Addr>; 2],
    /// Rate limits for the session (RADIUS vendor attributes such as Mikrotik-Rate-Limit or
    /// WISPr-Bandwidth-Max-Up/-Down). Carried like `session_timeout`.
    pub rate_limit: Option<RateLimit>,
    /// Networks behind the peer (RADIUS Framed-Route, RFC 2865 §5.22). Carried like
    /// `session_timeout`, never acted on by the link.
    pub routes: Vec<FramedRoute>,
    /// How many sessions the user may have at once (RADIUS Port-Limit, RFC 2865 §5.42: "the
    /// maximum number of ports to be provided to the user by the NAS"); the caller refuses
    /// the login with [`Reject::port_limit`] when the user has that many already.
    pub port_limit: Option<u32>,
}

/// A network behind the peer: the peer is the way to it (RADIUS Framed-Route, RFC 2865
/// §5.22, "routing information to be configured for the user on the NAS").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramedRoute {
    /// The network's first address (host bits clear).
    pub network: Ipv4Addr,
    /// Its prefix length, 0 to 32.
    pub prefix_len: u8,
    /// The gateway the route names; `None` when it names none or 0.0.0.0, which §5.22 says
    /// means the user's own address.
    pub gateway: Option<Ipv4Addr>,
}

/// A session's rate limits in bits per second, as a remote verifier grants them; `None` is
/// no limit that way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// From the client (what it uploads).
    pub up: Option<std::num::NonZeroU64>,
    /// To the client (what it downloads).
    pub down: Option<std::num::NonZeroU64>,
}

impl Accept {
    /// An Accept with nothing but the decision.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the authenticator response from an MS-CHAPv2 Success text `S=<40 hex digits>`,
    /// optionally followed by ` M=<text>` (which then becomes the message): the RADIUS
    /// MS-CHAP2-Success value after its Ident octet (RFC 2548).
    pub fn with_mschapv2_success(mut self, text: &[u8]) -> Result<Self, crate::Error> {
        let success = SuccessMessage::parse(text)?;
        self.authenticator_response = Some(success.authenticator_response);
        if let Some(m) = success.message {
            self.message = Some(String::from_utf8_lossy(m).into_owned());
        }
        Ok(self)
    }

    /// Sets the text of the Success.
    pub fn with_message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    /// Sets the address from a RADIUS Framed-IP-Address value (RFC 2865 §5.8, see
    /// [`FramedAddress`]).
    pub fn with_address(mut self, framed_ip_address: Ipv4Addr) -> Self {
        self.address = Some(FramedAddress::from(framed_ip_address));
        self
    }

    /// Sets the session limit (RADIUS Session-Timeout, RFC 2865 §5.27).
    pub fn with_session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = Some(timeout);
        self
    }

    /// Sets the idle limit (RADIUS Idle-Timeout, RFC 2865 §5.28).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Sets the session's DNS servers, primary and secondary (see [`Accept::dns`]).
    pub fn with_dns(mut self, primary: Option<Ipv4Addr>, secondary: Option<Ipv4Addr>) -> Self {
        self.dns = [primary, secondary];
        self
    }

    /// Sets the session's NBNS (WINS) servers, primary and secondary (see [`Accept::nbns`]).
    pub fn with_nbns(mut self, primary: Option<Ipv4Addr>, secondary: Option<Ipv4Addr>) -> Self {
        self.nbns = [primary, secondary];
        self
    }

    /// Sets the rate limits.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Sets the most sessions the user may have at once (see [`Accept::port_limit`]).
    pub fn with_port_limit(mut self, limit: u32) -> Self {
        self.port_limit = Some(limit);
        self
    }

    /// Adds a network behind the peer (see [`Accept::routes`]).
    pub fn with_route(mut self, route: FramedRoute) -> Self {
        self.routes.push(route);
        self
    }
}

/// What comes with a rejected attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reject {
    /// The MS-CHAP error code for `E=` (RFC 2759 §6; e.g. 646 restricted hours, 647 account
    /// disabled, 648 password expired, 691 authentication failure); 691 when `None`. It is
    /// also the Windows error the event reports.
    pub error: Option<u32>,
    /// Whether the peer may try again (`R=1`, and for CHAP-MD5 a new Challenge); the link's
    /// `auth_retries` still bound the attempts.
    pub retry: bool,
    /// The text of the Failure (`M=` for MS-CHAP); `Authentication failed` when `None`.
    pub message: Option<String>,
    /// Set when the verifier accepted the peer but the user already has the sessions its
    /// Port-Limit allows (see [`Reject::port_limit`]).
    pub port_limit: Option<u32>,
}

impl Default for Reject {
    fn default() -> Self {
        Self::new()
    }
}

impl Reject {
    /// A Reject with the usual error (691) and text, that allows a retry.
    pub fn new() -> Self {
        Self {
            error: None,
            retry: true,
            message: None,
            port_limit: None,
        }
    }

    /// The Reject for an accepted peer whose user already has `limit` sessions, the most
    /// its [`Accept::port_limit`] allows: 691, no retry, and the failure reads
    /// [`crate::AuthFailure::PortLimit`].
    pub fn port_limit(limit: u32) -> Self {
        Self {
            error: None,
            retry: false,
            message: None,
            port_limit: Some(limit),
        }
    }

    /// A Reject that allows no retry: the Failure says `R=0` and the link ends.
    pub fn final_attempt(mut self) -> Self {
        self.retry = false;
        self
    }

    /// Sets the error code.
    pub fn with_error(mut self, error: u32) -> Self {
        self.error = Some(error);
        self
    }

    /// Sets the text of the Failure (e.g. from a RADIUS Reply-Message).
    pub fn with_message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    /// Takes the error code, the retry flag and the text from an MS-CHAP Failure text
    /// `E=<code> R=<0|1> ... M=<text>` (RFC 2759 §6): the RADIUS MS-CHAP-Error value after
    /// its Ident octet (RFC 2548). Its `C=` is not used: the link draws its own
    /// challenge for a retry.
    pub fn with_ms_chap_error(mut self, text: &[u8]) -> Result<Self, crate::Error> {
        let failure = FailureMessage::parse(text)?;
        self.error = Some(failure.error);
        self.retry = failure.retry;
        if let Some(m) = failure.message {
            self.message = Some(String::from_utf8_lossy(m).into_owned());
        }
        Ok(self)
    }
}

/// The address a verdict gives the peer: the value of a RADIUS Framed-IP-Address (RFC 2865
/// §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramedAddress {
    /// This address.
    Fixed(Ipv4Addr),
    /// 255.255.255.254: "the NAS should select an address for the user" (our pool does).
    /// 0.0.0.0, which names no address, is read the same way.
    NasChoice,
    /// 255.255.255.255: "the NAS should allow the user to select an address" (the address the
    /// peer asks for in IPCP).
    UserChoice,
}

impl From<Ipv4Addr> for FramedAddress {
    fn from(addr: Ipv4Addr) -> Self {
        match u32::from(addr) {
            0xffff_fffe | 0 => Self::NasChoice,
            0xffff_ffff => Self::UserChoice,
            _ => Self::Fixed(addr),
        }
    }
}
