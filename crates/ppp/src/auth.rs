//! The authenticator side: credential look-up trait, and the CHAP-MD5 (RFC 1994 §4),
//! MS-CHAPv1 (RFC 2433), MS-CHAPv2 (RFC 2759 §4-§6) and PAP (RFC 1334 §2.2) exchanges.
//!
//! MS-CHAPv2 Success carries `S=<authenticator response> M=Access granted` (RFC 2759 §5); a wrong
//! S= makes Windows drop the link with error 778 (the server could not be authenticated). Failures use pppd's
//! form `E=691 R=<0|1> C=<new challenge> V=<n> M=<text>` (RFC 2759 §6), which Windows shows as
//! error 691. With `R=1` the peer may send a new Response computed over the `C=` challenge; we
//! accept it with the Failure's identifier or the next one.
//!
//! No oracle for user names: an unknown user, a disabled one, a throttled attempt and (for
//! CHAP-MD5) a user without a cleartext password are checked against this link's dummy
//! credential, drawn from the link's seeded generator when authentication starts, with the same
//! computation a wrong password costs, and answered with the same Failure; only the event (and
//! the log) says which cause it was. The exception is on purpose: an attempt the
//! [`Authenticator`] throttles ([`Lookup::Throttled`], too many failures for the user or the
//! source) is the last one on the link, so its Failure says `R=0` (RFC 2759 §6: "'1' if a retry
//! is allowed, and '0' otherwise"; Windows then shows error 691 and hangs up instead of asking
//! for the password again).
//!
//! Remote verification: when the look-up answers [`Lookup::Remote`], nothing is checked here;
//! the attempt is handed out and answered later (see [`crate::remote`]). When no verifier
//! answers, the caller may have the handed-out attempt checked here after all
//! ([`ServerAuth::resolve_locally`]): the Response is kept while the verdict is pending, and
//! our challenge does not change, so the check is the one a local look-up would have made.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use wire::ppp::Protocol;
use wire::ppp::control::{Message, MessageBody};
use wire::ppp::mschap::{FailureChallenge, FailureMessage, SuccessMessage, V1Response, V2Response};
use wire::ppp::{chap, pap};
use zeroize::Zeroizing;

use crate::config::{AuthProtocol, LinkConfig};
use crate::remote::{
    Accept, AuthRequest, AuthResponse, AuthTicket, AuthVerdict, FramedAddress, MAX_VERDICT_TEXT,
};

/// Where the authenticator finds users and addresses. The server implements it over its users
/// file and address pool; a RADIUS client can implement it later.
pub trait Authenticator {
    /// Looks up a user by the name the peer sent (as given, e.g. `DOMAIN\user`; when that is not
    /// found the part after the last `\` is tried).
    ///
    /// Called once or twice per authentication attempt, before the response is checked: this is
    /// where a back-off after failed logins answers [`Lookup::Throttled`]. Every attempt's result
    /// comes back as [`crate::Event::AuthFailed`] or [`crate::Event::Authenticated`].
    fn lookup(&mut self, user: &str) -> Lookup;

    /// The address for an authenticated `user`: the user's reserved address if there is one,
    /// else one from the pool. `requested` is the non-zero address the peer asked for, a hint
    /// the implementation may honour. The link accepts the peer's own request only when it
    /// equals what this returns. `None` means no address is available (the link goes down).
    fn assign_address(&mut self, user: &str, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr>;

    /// The address for a `user` a remote verifier accepted with an address (RADIUS
    /// Framed-IP-Address, RFC 2865 §5.8): it wins over the pool. `requested` is as in
    /// [`Authenticator::assign_address`]. `None` means the address cannot be given (the link
    /// goes down).
    ///
    /// The default gives a [`FramedAddress::Fixed`] address as it is, lets the address source
    /// choose for [`FramedAddress::NasChoice`], and gives the peer the address it asks for on
    /// [`FramedAddress::UserChoice`] (the source chooses when it asks for none). An
    /// implementation that tracks addresses in use should override it.
    fn assign_remote_address(
        &mut self,
        user: &str,
        framed: FramedAddress,
        requested: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        match (framed, requested) {
            (FramedAddress::Fixed(addr), _) => Some(addr),
            (FramedAddress::UserChoice, Some(addr)) => Some(addr),
            (FramedAddress::NasChoice | FramedAddress::UserChoice, _) => {
                self.assign_address(user, requested)
            }
        }
    }
}

/// The result of a user look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookup {
    /// No such user.
    NotFound,
    /// The user exists but may not connect.
    Disabled,
    /// Refuse this attempt without checking the response: too many failed logins (for this
    /// user name or from this source) in a short time. The peer gets the usual 691 Failure,
    /// with `R=0`, and the link ends; the event says "too many failed logins, retry in N s".
    /// To not reveal which names exist, count failures by the name as given, known or not.
    Throttled {
        /// How long until an attempt would be checked again.
        retry_after: Duration,
    },
    /// Refuse this attempt without checking the response: the user already has as many
    /// sessions as the server allows. Answered like [`Lookup::Throttled`] (the usual 691
    /// Failure with `R=0`, and the link ends).
    SessionLimit {
        /// The number of sessions a user may have.
        limit: u32,
    },
    /// The user's credential.
    Found(Credential),
    /// Someone else decides (a RADIUS server): the link checks nothing, hands the attempt out
    /// as [`crate::Event::AuthRequest`] and waits for [`crate::Link::resolve_auth`] (see
    /// [`crate::remote`]).
    Remote,
}

/// What we know about a user's password.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The cleartext password: works for every method.
    Password(Zeroizing<String>),
    /// The NT hash, MD4(UTF-16LE(password)): enough for MS-CHAPv1/v2 and PAP, not CHAP-MD5.
    NtHash(Zeroizing<[u8; 16]>),
}

impl Credential {
    /// A cleartext password credential.
    pub fn password(password: &str) -> Self {
        Self::Password(Zeroizing::new(password.to_owned()))
    }

    /// An NT-hash credential.
    pub fn nt_hash(hash: [u8; 16]) -> Self {
        Self::NtHash(Zeroizing::new(hash))
    }

    fn nt_password_hash(&self) -> Zeroizing<[u8; 16]> {
        match self {
            Self::Password(p) => Zeroizing::new(crypto::mschap::nt_password_hash(p)),
            Self::NtHash(h) => h.clone(),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::NtHash(_) => f.write_str("NtHash(<redacted>)"),
        }
    }
}

/// Why an authentication attempt failed, in plain words (`Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No such user.
    UnknownUser,
    /// The user is disabled.
    UserDisabled,
    /// The response does not match the password.
    WrongPassword,
    /// The attempt was refused unchecked: too many failed logins ([`Lookup::Throttled`]).
    Throttled {
        /// How long until an attempt would be checked again.
        retry_after: Duration,
    },
    /// The attempt was refused unchecked: the user has all the sessions allowed
    /// ([`Lookup::SessionLimit`]).
    SessionLimit {
        /// The number of sessions a user may have.
        limit: u32,
    },
    /// A remote verifier accepted the attempt, but the user already has the sessions its
    /// Port-Limit allows ([`crate::Reject::port_limit`]).
    PortLimit {
        /// The number of sessions the verifier allows the user.
        limit: u32,
    },
    /// The method needs a cleartext password but only an NT hash is stored.
    CleartextRequired,
    /// The response value has the wrong size or flags.
    MalformedResponse,
    /// The peer did not answer.
    NoResponse,
    /// A remote verifier rejected the attempt, with this MS-CHAP error code (691 unless it
    /// gave another).
    Rejected {
        /// The error code the peer was given (the Windows error the user sees).
        error: u32,
    },
    /// A remote verifier gave no verdict within `LinkConfig::auth_timeout`.
    NoVerdict,
    /// A remote verifier accepted an MS-CHAPv2 attempt without the authenticator response the
    /// Success must carry (RADIUS MS-CHAP2-Success), so the peer could not have trusted it.
    IncompleteAccept,
}

impl AuthFailure {
    /// The Windows error the user sees: the remote verifier's code for
    /// [`AuthFailure::Rejected`], else 691 ([`crate::WINDOWS_ERROR_AUTH_FAILURE`]).
    pub const fn windows_error(&self) -> u32 {
        match self {
            Self::Rejected { error } => *error,
            _ => crate::WINDOWS_ERROR_AUTH_FAILURE,
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownUser => "unknown user",
            Self::UserDisabled => "user disabled",
            Self::WrongPassword => "wrong password",
            Self::Throttled { retry_after } => {
                // Whole seconds, rounded up: "retry in 0 s" would be wrong while throttled.
                let secs = retry_after
                    .as_secs()
                    .saturating_add(u64::from(retry_after.subsec_nanos() > 0));
                return write!(f, "too many failed logins, retry in {secs} s");
            }
            Self::SessionLimit { limit } => {
                return write!(
                    f,
                    "already has {limit} session{} (the user's max_sessions, else limits.sessions_per_user)",
                    if *limit == 1 { "" } else { "s" }
                );
            }
            Self::PortLimit { limit } => {
                return write!(
                    f,
                    "already has {limit} session{} (the RADIUS Port-Limit)",
                    if *limit == 1 { "" } else { "s" }
                );
            }
            Self::CleartextRequired => {
                "method needs a cleartext password but only an NT hash is stored"
            }
            Self::MalformedResponse => "malformed response",
            Self::NoResponse => "no response from peer",
            Self::Rejected { error } => {
                return write!(f, "rejected by the authentication server (error {error})");
            }
            Self::NoVerdict => "the authentication server did not answer",
            Self::IncompleteAccept => {
                "the authentication server accepted without an MS-CHAPv2 authenticator response"
            }
        })
    }
}

/// What an authentication input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing decided yet.
    Pending,
    /// The peer is authenticated as `user`.
    Success { user: String },
    /// One attempt failed; `fatal` when no retry is left.
    Failure {
        user: String,
        reason: AuthFailure,
        fatal: bool,
    },
    /// The attempt is handed to a remote verifier ([`Lookup::Remote`]).
    Deferred {
        ticket: AuthTicket,
        request: Box<AuthRequest>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Waiting for a Response (or PAP request) to `id`; `retransmits` Challenges left.
    Waiting {
        id: u8,
        retransmits: u32,
        retry: bool,
    },
    /// A remote verdict on the Response (or PAP request) `id` is awaited: no Challenge is
    /// retransmitted (see [`crate::remote`]).
    Pending {
        id: u8,
        ticket: AuthTicket,
    },
    Done {
        id: u8,
    },
    Failed,
}

/// The DNS and NBNS servers a remote Accept gave for the session, per pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NameServers {
    /// Primary and secondary DNS (RFC 1877 options 129, 131).
    pub(crate) dns: Option<[Option<Ipv4Addr>; 2]>,
    /// Primary and secondary NBNS (options 130, 132).
    pub(crate) nbns: Option<[Option<Ipv4Addr>; 2]>,
}

/// The attempt a pending verdict is about.
#[derive(Debug)]
struct Attempt {
    user: String,
    name: Vec<u8>,
    /// The Response value (the password for PAP), to recognise a PAP repeat.
    value: Zeroizing<Vec<u8>>,
}

/// How a Failure reads: `E=`, `M=`, and whether `R=1` may be offered.
struct FailReply<'a> {
    error: u32,
    message: &'a [u8],
    retry: bool,
}

/// A local check's Failure: 691, the usual text, a retry while `auth_retries` last.
const LOCAL_FAILURE: FailReply<'static> = FailReply {
    error: crate::WINDOWS_ERROR_AUTH_FAILURE,
    message: FAILURE_TEXT,
    retry: true,
};

/// A Failure that ends the link whatever the retries left.
const FINAL_FAILURE: FailReply<'static> = FailReply {
    retry: false,
    ..LOCAL_FAILURE
};

/// Server-side authentication state for one link.
#[derive(Debug)]
pub(crate) struct ServerAuth {
    method: AuthProtocol,
    phase: Phase,
    challenge: [u8; 16],
    failures: u32,
    deadline: Option<Instant>,
    last_reply: Vec<u8>,
    /// What refused attempts are checked against (see the module docs): 16 hex digits from the
    /// link's generator, so it differs per link and is never a constant.
    dummy: Zeroizing<String>,
    /// The attempt a remote verdict is awaited for.
    attempt: Option<Box<Attempt>>,
    /// The address a remote verdict gave.
    framed: Option<FramedAddress>,
    /// The DNS and NBNS servers a remote verdict gave (each pair `None` when it gave none).
    name_servers: NameServers,
    /// Whether the last Success came from a remote verdict (not a local check).
    remote_success: bool,
    pub(crate) out: VecDeque<(Protocol, Vec<u8>)>,
    #[cfg(test)]
    pub(crate) forced_challenge: Option<[u8; 16]>,
    /// Responses checked against a credential (real or dummy).
    #[cfg(test)]
    pub(crate) checks: u32,
}

const SUCCESS_TEXT: &[u8] = b"Access granted";
const FAILURE_TEXT: &[u8] = b"Authentication failed";

/// Encodes a CHAP or PAP packet (empty if it cannot be: the caller then sends nothing).
fn emit<'a, B: MessageBody<'a>>(identifier: u8, body: B) -> Vec<u8> {
    let repr = Message { identifier, body };
    let mut buf = vec![0u8; repr.buffer_len()];
    if repr.emit(&mut buf).is_err() {
        buf.clear();
    }
    buf
}

impl ServerAuth {
    pub(crate) fn new(method: AuthProtocol) -> Self {
        Self {
            method,
            phase: Phase::Idle,
            challenge: [0; 16],
            failures: 0,
            deadline: None,
            last_reply: Vec::new(),
            dummy: Zeroizing::new(String::new()),
            attempt: None,
            framed: None,
            name_servers: NameServers::default(),
            remote_success: false,
            out: VecDeque::new(),
            #[cfg(test)]
            forced_challenge: None,
            #[cfg(test)]
            checks: 0,
        }
    }

    pub(crate) const fn method(&self) -> AuthProtocol {
        self.method
    }

    pub(crate) const fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The address a remote verdict gave, if one did.
    pub(crate) const fn framed(&self) -> Option<FramedAddress> {
        self.framed
    }

    /// The DNS and NBNS servers the last remote Accept gave, per pair (`None`: the configured
    /// pair applies).
    pub(crate) const fn name_servers(&self) -> NameServers {
        self.name_servers
    }

    /// The user name of the attempt awaiting a remote verdict with `ticket`.
    pub(crate) fn pending_user(&self, ticket: AuthTicket) -> Option<&str> {
        match self.phase {
            Phase::Pending { ticket: t, .. } if t == ticket => {
                self.attempt.as_deref().map(|a| a.user.as_str())
            }
            _ => None,
        }
    }

    /// Whether the last Success came from a remote verdict.
    pub(crate) const fn remote_success(&self) -> bool {
        self.remote_success
    }

    fn challenge_len(&self) -> usize {
        match self.method {
            AuthProtocol::MsChapV1 => 8,
            _ => 16,
        }
    }

    fn new_challenge(&mut self, rng: &mut ChaCha20Rng) {
        rng.fill_bytes(&mut self.challenge);
        #[cfg(test)]
        if let Some(c) = self.forced_challenge {
            self.challenge = c;
        }
    }

    fn challenge(&self) -> &[u8] {
        self.challenge
            .get(..self.challenge_len())
            .unwrap_or_default()
    }

    fn send_challenge(&mut self, id: u8, cfg: &LinkConfig) {
        let packet = emit(
            id,
            chap::Body::Challenge {
                value: self.challenge(),
                name: cfg.server_name.as_bytes(),
            },
        );
        self.out.push_back((Protocol::Chap, packet));
    }

    /// Starts authentication once LCP is open.
    pub(crate) fn start(&mut self, now: Instant, cfg: &LinkConfig, rng: &mut ChaCha20Rng) {
        let mut dummy = Zeroizing::new([0u8; 8]);
        rng.fill_bytes(&mut dummy[..]);
        self.dummy = Zeroizing::new(dummy.iter().map(|b| format!("{b:02x}")).collect());
        let id = (rng.next_u32() & 0xff) as u8;
        self.phase = Phase::Waiting {
            id,
            retransmits: cfg.max_configure.saturating_sub(1),
            retry: false,
        };
        if self.method == AuthProtocol::Pap {
            // The peer sends Authenticate-Request on its own (RFC 1334 §2.1).
            self.deadline = Some(now + cfg.restart_interval * cfg.max_configure);
            return;
        }
        self.new_challenge(rng);
        self.send_challenge(id, cfg);
        self.deadline = Some(now + cfg.restart_interval);
    }

    /// The restart timer: retransmit the Challenge, or give up; or a remote verdict that
    /// never came.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        cfg: &LinkConfig,
        rng: &mut ChaCha20Rng,
    ) -> Outcome {
        match self.deadline {
            Some(d) if now >= d => {}
            _ => return Outcome::Pending,
        }
        self.deadline = None;
        match self.phase {
            Phase::Waiting {
                id,
                retransmits,
                retry: false,
            } if retransmits > 0 && self.method != AuthProtocol::Pap => {
                self.phase = Phase::Waiting {
                    id,
                    retransmits: retransmits - 1,
                    retry: false,
                };
                self.send_challenge(id, cfg);
                self.deadline = Some(now + cfg.restart_interval);
                Outcome::Pending
            }
            Phase::Waiting { .. } => {
                self.phase = Phase::Failed;
                Outcome::Failure {
                    user: String::new(),
                    reason: AuthFailure::NoResponse,
                    fatal: true,
                }
            }
            Phase::Pending { id, .. } => {
                let user = self.attempt.take().map(|a| a.user).unwrap_or_default();
                self.fail(
                    now,
                    id,
                    user,
                    AuthFailure::NoVerdict,
                    cfg,
                    rng,
                    &FINAL_FAILURE,
                )
            }
            _ => Outcome::Pending,
        }
    }

    fn expects(&self, identifier: u8) -> bool {
        match self.phase {
            Phase::Waiting {
                id, retry: false, ..
            } => identifier == id,
            Phase::Waiting {
                id, retry: true, ..
            } => identifier == id || identifier == id.wrapping_add(1),
            _ => false,
        }
    }

    /// A CHAP packet from the peer.
    pub(crate) fn handle_chap(
        &mut self,
        now: Instant,
        repr: &chap::Repr<'_>,
        cfg: &LinkConfig,
        auth: &mut dyn Authenticator,
        rng: &mut ChaCha20Rng,
    ) -> Outcome {
        let chap::Repr {
            identifier,
            body: chap::Body::Response { value, name },
        } = *repr
        else {
            tracing::debug!(packet = ?repr, "unexpected CHAP packet ignored");
            return Outcome::Pending;
        };
        if self.method == AuthProtocol::Pap {
            return Outcome::Pending;
        }
        if let Phase::Done { id } = self.phase {
            // RFC 1994 §4.1: a repeated Response gets the same answer (our Success was lost).
            if id == identifier && !self.last_reply.is_empty() {
                self.out
                    .push_back((Protocol::Chap, self.last_reply.clone()));
            }
            return Outcome::Pending;
        }
        if let Phase::Pending { id, .. } = self.phase {
            // Forwarded once: the verdict answers it (see `crate::remote`).
            if id == identifier {
                tracing::debug!(
                    identifier,
                    "repeated CHAP Response absorbed: verdict pending"
                );
            } else {
                tracing::debug!(
                    identifier,
                    pending = id,
                    "CHAP Response with another identifier ignored: verdict pending"
                );
            }
            return Outcome::Pending;
        }
        if !self.expects(identifier) {
            tracing::debug!(
                identifier,
                "CHAP Response with unexpected identifier ignored"
            );
            return Outcome::Pending;
        }
        let user = String::from_utf8_lossy(name).into_owned();
        let found = lookup(auth, &user);
        if found == Lookup::Remote {
            return self.defer(now, identifier, value, name, user, cfg, rng);
        }
        let result = self.verify(identifier, value, name, found);
        self.local_result(now, identifier, user, result, cfg, rng)
    }

    /// Answers attempt `identifier` after a local check: Success (RFC 1994 §4.2, RFC 2759
    /// §5; PAP Authenticate-Ack, RFC 1334 §2.2.2) with `result`'s message, or the usual
    /// Failure.
    fn local_result(
        &mut self,
        now: Instant,
        identifier: u8,
        user: String,
        result: Result<Vec<u8>, AuthFailure>,
        cfg: &LinkConfig,
        rng: &mut ChaCha20Rng,
    ) -> Outcome {
        match result {
            Ok(success_message) => {
                let (protocol, reply) = if self.method == AuthProtocol::Pap {
                    let ack = pap::Body::AuthenticateAck(SUCCESS_TEXT);
                    (Protocol::Pap, emit(identifier, ack))
                } else {
                    let success = chap::Body::Success(&success_message);
                    (Protocol::Chap, emit(identifier, success))
                };
                self.last_reply.clone_from(&reply);
                self.out.push_back((protocol, reply));
                self.phase = Phase::Done { id: identifier };
                self.deadline = None;
                self.framed = None;
                self.name_servers = NameServers::default();
                self.remote_success = false;
                Outcome::Success { user }
            }
            Err(reason) => self.fail(now, identifier, user, reason, cfg, rng, &LOCAL_FAILURE),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the attempt, its context and the reply"
    )]
    fn fail(
        &mut self,
        now: Instant,
        identifier: u8,
        user: String,
        reason: AuthFailure,
        cfg: &LinkConfig,
        rng: &mut ChaCha20Rng,
        reply: &FailReply<'_>,
    ) -> Outcome {
        self.failures = self.failures.saturating_add(1);
        // A throttled attempt is the last: the Failure says R=0 (RFC 2759 §6).
        let fatal = self.failures >= cfg.auth_retries
            || !reply.retry
            || matches!(
                reason,
                AuthFailure::Throttled { .. }
                    | AuthFailure::SessionLimit { .. }
                    | AuthFailure::PortLimit { .. }
            );
        match self.method {
            AuthProtocol::MsChapV2 | AuthProtocol::MsChapV1 => {
                self.new_challenge(rng);
                let challenge = if self.method == AuthProtocol::MsChapV2 {
                    FailureChallenge::V2(self.challenge)
                } else {
                    let mut c = [0u8; 8];
                    c.copy_from_slice(self.challenge.get(..8).unwrap_or(&[0; 8]));
                    FailureChallenge::V1(c)
                };
                let msg = FailureMessage {
                    error: reply.error,
                    retry: !fatal,
                    challenge: Some(challenge),
                    version: Some(cfg.mschap_failure_version),
                    message: Some(reply.message),
                };
                let mut text = vec![0u8; msg.buffer_len()];
                if msg.emit(&mut text).is_err() {
                    text.clear();
                }
                let packet = emit(identifier, chap::Body::Failure(&text));
                self.out.push_back((Protocol::Chap, packet));
                self.phase = Phase::Waiting {
                    id: identifier,
                    retransmits: 0,
                    retry: true,
                };
                // The user may be retyping; give a retry time to arrive.
                self.deadline = Some(now + cfg.restart_interval * cfg.max_configure);
            }
            AuthProtocol::Chap => {
                let packet = emit(identifier, chap::Body::Failure(reply.message));
                self.out.push_back((Protocol::Chap, packet));
                if !fatal {
                    // RFC 1994 §2: the authenticator may challenge again at any time.
                    let id = identifier.wrapping_add(1);
                    self.new_challenge(rng);
                    self.send_challenge(id, cfg);
                    self.phase = Phase::Waiting {
                        id,
                        retransmits: cfg.max_configure.saturating_sub(1),
                        retry: false,
                    };
                    self.deadline = Some(now + cfg.restart_interval);
                }
            }
            AuthProtocol::Pap => {
                let packet = emit(identifier, pap::Body::AuthenticateNak(reply.message));
                self.out.push_back((Protocol::Pap, packet));
                self.phase = Phase::Waiting {
                    id: identifier,
                    retransmits: 0,
                    retry: true,
                };
                self.deadline = Some(now + cfg.restart_interval * cfg.max_configure);
            }
        }
        if fatal {
            self.phase = Phase::Failed;
            self.deadline = None;
        }
        Outcome::Failure {
            user,
            reason,
            fatal,
        }
    }

    /// A PAP packet from the peer.
    pub(crate) fn handle_pap(
        &mut self,
        now: Instant,
        repr: &pap::Repr<'_>,
        cfg: &LinkConfig,
        auth: &mut dyn Authenticator,
        rng: &mut ChaCha20Rng,
    ) -> Outcome {
        let pap::Repr {
            identifier,
            body: pap::Body::AuthenticateRequest { peer_id, password },
        } = *repr
        else {
            return Outcome::Pending;
        };
        if self.method != AuthProtocol::Pap {
            return Outcome::Pending;
        }
        if let Phase::Done { id } = self.phase {
            if id == identifier && !self.last_reply.is_empty() {
                self.out.push_back((Protocol::Pap, self.last_reply.clone()));
            }
            return Outcome::Pending;
        }
        if let Phase::Pending { id, ticket } = self.phase {
            // RFC 1334 §2.2.1: a peer repeats its request with a new Identifier. The same name
            // and password are the same attempt: the verdict answers the newest Identifier.
            let same = self
                .attempt
                .as_ref()
                .is_some_and(|a| a.name == peer_id && crypto::ct_eq(a.value.as_slice(), password));
            if same {
                self.phase = Phase::Pending {
                    id: identifier,
                    ticket,
                };
            }
            tracing::debug!(
                identifier,
                pending = id,
                same,
                "PAP request while a verdict is pending: not forwarded again"
            );
            return Outcome::Pending;
        }
        if !matches!(self.phase, Phase::Waiting { .. }) {
            return Outcome::Pending;
        }
        let user = String::from_utf8_lossy(peer_id).into_owned();
        let found = lookup(auth, &user);
        if found == Lookup::Remote {
            return self.defer(now, identifier, password, peer_id, user, cfg, rng);
        }
        let result = self.verify(identifier, password, peer_id, found);
        self.local_result(now, identifier, user, result, cfg, rng)
    }

    /// Hands the attempt to a remote verifier: nothing is checked here, and the link waits
    /// for [`ServerAuth::resolve`] without retransmitting its Challenge (see
    /// [`crate::remote`]).
    #[expect(clippy::too_many_arguments, reason = "the attempt and its context")]
    fn defer(
        &mut self,
        now: Instant,
        identifier: u8,
        value: &[u8],
        name: &[u8],
        user: String,
        cfg: &LinkConfig,
        rng: &mut ChaCha20Rng,
    ) -> Outcome {
        let Some(response) = AuthResponse::new(self.method, self.challenge(), value) else {
            let reason = AuthFailure::MalformedResponse;
            return self.fail(now, identifier, user, reason, cfg, rng, &LOCAL_FAILURE);
        };
        let ticket = AuthTicket(rng.next_u64());
        self.phase = Phase::Pending {
            id: identifier,
            ticket,
        };
        self.attempt = Some(Box::new(Attempt {
            user: user.clone(),
            name: name.to_vec(),
            value: Zeroizing::new(value.to_vec()),
        }));
        self.deadline = Some(now + cfg.auth_timeout);
        let request = AuthRequest {
            method: self.method,
            identifier,
            user,
            name: name.to_vec(),
            response,
        };
        Outcome::Deferred {
            ticket,
            request: Box::new(request),
        }
    }

    /// The pending phase's identifier and its attempt (taken), when `ticket` is the pending
    /// attempt's; `None` (and nothing taken) otherwise.
    fn take_pending(&mut self, ticket: AuthTicket) -> Option<(u8, Option<Box<Attempt>>)> {
        match self.phase {
            Phase::Pending {
                id,
                ticket: pending,
            } if pending == ticket => Some((id, self.attempt.take())),
            _ => None,
        }
    }

    /// A remote verdict. `None` when `ticket` is not the pending attempt's (a verdict that
    /// came too late, or for an earlier attempt): it is ignored.
    pub(crate) fn resolve(
        &mut self,
        now: Instant,
        ticket: AuthTicket,
        verdict: AuthVerdict,
        cfg: &LinkConfig,
        rng: &mut ChaCha20Rng,
    ) -> Option<Outcome> {
        let (id, attempt) = self.take_pending(ticket)?;
        let user = attempt.map(|a| a.user).unwrap_or_default();
        Some(match verdict {
            AuthVerdict::Accept(accept) => self.accept(now, id, user, accept, cfg, rng),
            AuthVerdict::Reject(reject) => {
                let error = reject.error.unwrap_or(crate::WINDOWS_ERROR_AUTH_FAILURE);
                let reply = FailReply {
                    error,
                    message: verdict_text(reject.message.as_deref(), FAILURE_TEXT),
                    retry: reject.retry,
                };
                let reason = match reject.port_limit {
                    Some(limit) => AuthFailure::PortLimit { limit },
                    None => AuthFailure::Rejected { error },
                };
                self.fail(now, id, user, reason, cfg, rng, &reply)
            }
            AuthVerdict::NoAnswer => {
                let reason = AuthFailure::NoVerdict;
                self.fail(now, id, user, reason, cfg, rng, &FINAL_FAILURE)
            }
        })
    }

    /// Checks the attempt pending with `ticket` here after all, against what `auth` finds for
    /// its user name (see [`crate::remote`]): the verdict a local look-up would have given.
    /// `None` when `ticket` is not the pending attempt's, as in [`ServerAuth::resolve`].
    pub(crate) fn resolve_locally(
        &mut self,
        now: Instant,
        ticket: AuthTicket,
        cfg: &LinkConfig,
        auth: &mut dyn Authenticator,
        rng: &mut ChaCha20Rng,
    ) -> Option<Outcome> {
        let (id, attempt) = self.take_pending(ticket)?;
        let attempt = attempt?;
        let Attempt { user, name, value } = *attempt;
        let found = lookup(auth, &user);
        let result = self.verify(id, &value, &name, found);
        Some(self.local_result(now, id, user, result, cfg, rng))
    }

    /// Answers the attempt `id` a remote verifier accepted with Success (RFC 2759 §5, RFC
    /// 1994 §4.2, RFC 1334 §2.2.2).
    fn accept(
        &mut self,
        now: Instant,
        id: u8,
        user: String,
        accept: Accept,
        cfg: &LinkConfig,
        rng: &mut ChaCha20Rng,
    ) -> Outcome {
        let message = verdict_text(accept.message.as_deref(), SUCCESS_TEXT);
        let (protocol, reply) = match self.method {
            AuthProtocol::MsChapV2 => {
                let Some(authenticator_response) = accept.authenticator_response else {
                    let reason = AuthFailure::IncompleteAccept;
                    return self.fail(now, id, user, reason, cfg, rng, &FINAL_FAILURE);
                };
                let msg = SuccessMessage {
                    authenticator_response,
                    message: Some(message),
                };
                let mut text = vec![0u8; msg.buffer_len()];
                if msg.emit(&mut text).is_err() {
                    text.clear();
                }
                (Protocol::Chap, emit(id, chap::Body::Success(&text)))
            }
            AuthProtocol::MsChapV1 | AuthProtocol::Chap => {
                (Protocol::Chap, emit(id, chap::Body::Success(message)))
            }
            AuthProtocol::Pap => (Protocol::Pap, emit(id, pap::Body::AuthenticateAck(message))),
        };
        self.last_reply.clone_from(&reply);
        self.out.push_back((protocol, reply));
        self.phase = Phase::Done { id };
        self.deadline = None;
        self.framed = accept.address;
        let given = |pair: [Option<Ipv4Addr>; 2]| pair.iter().any(Option::is_some).then_some(pair);
        self.name_servers = NameServers {
            dns: given(accept.dns),
            nbns: given(accept.nbns),
        };
        self.remote_success = true;
        Outcome::Success { user }
    }

    /// Checks a Response value (the password for PAP) from `name`, whose look-up gave
    /// `found`; `Ok` carries the Success message. A refused attempt is checked all the same,
    /// against the dummy credential.
    fn verify(
        &mut self,
        identifier: u8,
        value: &[u8],
        name: &[u8],
        found: Lookup,
    ) -> Result<Vec<u8>, AuthFailure> {
        let (credential, refused) = self.credential_for(found);
        let checked = self.check(identifier, value, name, &credential);
        match refused {
            Some(reason) => Err(reason),
            None => checked,
        }
    }

    /// The credential a response is checked against: the user's, or the dummy when the attempt
    /// is refused whatever the response (unknown, disabled, throttled, or CHAP-MD5 without a
    /// cleartext password), together with the reason.
    fn credential_for(&self, found: Lookup) -> (Credential, Option<AuthFailure>) {
        let dummy = || Credential::Password(self.dummy.clone());
        match found {
            Lookup::Found(Credential::NtHash(_)) if self.method == AuthProtocol::Chap => {
                (dummy(), Some(AuthFailure::CleartextRequired))
            }
            Lookup::Found(credential) => (credential, None),
            Lookup::NotFound => (dummy(), Some(AuthFailure::UnknownUser)),
            Lookup::Disabled => (dummy(), Some(AuthFailure::UserDisabled)),
            Lookup::Throttled { retry_after } => {
                (dummy(), Some(AuthFailure::Throttled { retry_after }))
            }
            Lookup::SessionLimit { limit } => (dummy(), Some(AuthFailure::SessionLimit { limit })),
            // Deferred before any check (`handle_chap`, `handle_pap`); refused if it got here.
            Lookup::Remote => (dummy(), Some(AuthFailure::UnknownUser)),
        }
    }

    /// Checks a response against one credential, in constant time.
    fn check(
        &mut self,
        identifier: u8,
        value: &[u8],
        name: &[u8],
        credential: &Credential,
    ) -> Result<Vec<u8>, AuthFailure> {
        #[cfg(test)]
        {
            self.checks += 1;
        }
        match self.method {
            AuthProtocol::MsChapV2 => {
                let response =
                    V2Response::parse(value).map_err(|_| AuthFailure::MalformedResponse)?;
                let hash = credential.nt_password_hash();
                let auth_challenge = &self.challenge;
                let hash_name = crypto::mschap::user_name_for_hash(name);
                let expected = crypto::mschap::generate_nt_response(
                    auth_challenge,
                    &response.peer_challenge,
                    hash_name,
                    &hash,
                );
                if !crypto::ct_eq(&expected, &response.nt_response) {
                    return Err(AuthFailure::WrongPassword);
                }
                let authenticator_response = crypto::mschap::generate_authenticator_response(
                    &hash,
                    &response.nt_response,
                    &response.peer_challenge,
                    auth_challenge,
                    hash_name,
                );
                let msg = SuccessMessage {
                    authenticator_response,
                    message: Some(SUCCESS_TEXT),
                };
                let mut text = vec![0u8; msg.buffer_len()];
                msg.emit(&mut text)
                    .map_err(|_| AuthFailure::MalformedResponse)?;
                Ok(text)
            }
            AuthProtocol::MsChapV1 => {
                let response =
                    V1Response::parse(value).map_err(|_| AuthFailure::MalformedResponse)?;
                if response.use_nt != 1 {
                    // LAN Manager responses are not supported.
                    return Err(AuthFailure::MalformedResponse);
                }
                let hash = credential.nt_password_hash();
                let mut challenge = [0u8; 8];
                challenge.copy_from_slice(self.challenge.get(..8).unwrap_or(&[0; 8]));
                let expected = crypto::mschap::v1_nt_response(&challenge, &hash);
                if crypto::ct_eq(&expected, &response.nt_response) {
                    Ok(SUCCESS_TEXT.to_vec())
                } else {
                    Err(AuthFailure::WrongPassword)
                }
            }
            AuthProtocol::Chap => {
                let Credential::Password(password) = credential else {
                    return Err(AuthFailure::CleartextRequired);
                };
                if value.len() != 16 {
                    return Err(AuthFailure::MalformedResponse);
                }
                let expected =
                    crypto::chap::md5_response(identifier, password.as_bytes(), self.challenge());
                if crypto::ct_eq(&expected, value) {
                    Ok(SUCCESS_TEXT.to_vec())
                } else {
                    Err(AuthFailure::WrongPassword)
                }
            }
            AuthProtocol::Pap => {
                let ok = match (credential, core::str::from_utf8(value)) {
                    (Credential::Password(p), _) => crypto::ct_eq(p.as_bytes(), value),
                    (Credential::NtHash(h), Ok(given)) => {
                        let given = Zeroizing::new(crypto::mschap::nt_password_hash(given));
                        crypto::ct_eq(&given[..], &h[..])
                    }
                    (Credential::NtHash(_), Err(_)) => false,
                };
                if ok {
                    Ok(SUCCESS_TEXT.to_vec())
                } else {
                    Err(AuthFailure::WrongPassword)
                }
            }
        }
    }
}

/// A verdict's text, or `default`, cut to [`MAX_VERDICT_TEXT`] octets.
fn verdict_text<'a>(text: Option<&'a str>, default: &'a [u8]) -> &'a [u8] {
    let text = text.map_or(default, str::as_bytes);
    text.get(..MAX_VERDICT_TEXT).unwrap_or(text)
}

/// Looks `user` up as given, then without a `DOMAIN\` prefix.
fn lookup(auth: &mut dyn Authenticator, user: &str) -> Lookup {
    match auth.lookup(user) {
        Lookup::NotFound => match user.rsplit_once('\\') {
            Some((_, bare)) if !bare.is_empty() => auth.lookup(bare),
            _ => Lookup::NotFound,
        },
        found => found,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn dummy_credential_is_drawn_per_link() {
        let now = crate::tests::t0();
        let cfg = LinkConfig::default();
        let dummy = |seed: u8| {
            let mut a = ServerAuth::new(AuthProtocol::MsChapV2);
            a.start(now, &cfg, &mut ChaCha20Rng::from_seed([seed; 32]));
            a.dummy.to_string()
        };
        let (a, b) = (dummy(1), dummy(2));
        assert_ne!(a, b, "not a constant");
        assert_eq!(a, dummy(1), "reproducible from the seed");
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        let shown = format!("{:?}", Credential::Password(Zeroizing::new(a.clone())));
        assert!(!shown.contains(&a), "never printed");
    }
}
