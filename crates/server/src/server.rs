//! The [`Server`]: the control plane. It routes every input to the one object it concerns —
//! the IKE responder, a [`Peer`], or the [`DataPlane`] — and publishes what the data plane
//! needs.
//!
//! - UDP 500, and IKE behind the non-ESP marker on UDP 4500 (RFC 3948 §2.2) → IKE.
//! - ESP (UDP 4500 per RFC 3948, or IP protocol 50) → the data plane, which carries
//!   established sessions' IPv4 itself and hands the rest over decrypted, with the reason
//!   ([`Server::handle_decrypted`]) → that peer's L2TP LNS and PPP links.
//! - TUN packets → the data plane.
//! - IKE events create, rekey, move and remove peers; peer events assign and release
//!   addresses, count logins and sessions.
//!
//! Around the pipeline:
//! - NAT rebinding (RFC 3947/3948 leave it open; we apply the IKEv2 rule of RFC 7296 §2.23):
//!   an ESP packet from a new public address or port that verifies under a peer's SA (ICV and
//!   replay window, RFC 4303 §3.4.3-§3.4.4) moves that peer — IKE and ESP SAs, L2TP tunnels,
//!   PPP sessions — to the new 4-tuple. Anything else from a new 4-tuple is a counted drop.
//! - DHCPINFORM (RFC 2131 §4.3.5) from a client is answered by the server with the configured
//!   routes (RFC 3442 option 121 and Microsoft's 249) and domain; it never reaches the TUN.
//! - Liveness: authenticated ESP counts as activity for IKE dead peer detection (RFC 3706
//!   §5.3: probe only when there is no traffic) and for PPP echoes.
//! - Kilobyte lifetimes (RFC 2407 §4.5): crossing the soft limit (90 %) is logged once per
//!   pair (the client is expected to rekey); at the hard limit the pair is deleted with an
//!   IKE Delete.
//! - Limits: peers in total and per source address, sessions per user, login back-off
//!   ([`crate::guard`]); refusals are logged through a bounded limiter.
//! - Remote authentication ([`Server::set_auth_order`]): instead of checking a login against
//!   the users file, an attempt that passes the limits may be handed out as
//!   [`Event::AuthRequest`], for a verifier such as a RADIUS server (RFC 2865), and answered
//!   when [`Server::auth_verdict`] brings the verdict (see [`ppp::remote`]). The verdict's
//!   address (Framed-IP-Address, RFC 2865 §5.8) wins over the pool, and its DNS and NBNS
//!   servers (RFC 2548, Microsoft vendor 311 types 28-31) over the `ppp:` ones. [`AuthOrder`] says per login which source
//!   decides: the users file, the verifier, the users file first and the verifier for names it
//!   does not list, or the verifier first and the users file only when no verifier answers.
//!
//! Costs: an input costs the work of the one peer it concerns. Peers' deadlines sit in an
//! ordered set, so [`Server::poll_timeout`] is O(log n) and [`Server::handle_timeout`] touches
//! only the peers that are due; the data plane's table is republished only for the peers an
//! input touched, and only if their part changed; [`Server::snapshot`] is O(peers).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wire::FourTuple;

use config::ServerConfig;
use config::users::{self, Users};
use ipnetwork::Ipv4Network;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, error, info, warn};

use crate::cause::EndCause;
use crate::dataplane::{
    Batch, DataPlane, Handoff, HandoffReason, Inbound, PeerId, Publisher, Transmit,
};
use crate::escape::Printable;
use crate::guard::{Blocked, LogLimiter, Logins};
use crate::peer::{ChildPair, L2TP_PORT, Peer, PeerEvent, Settings};
use crate::pool::Pool;
use crate::snapshot::{Counters, PeerRow, SessionRow, Snapshot};

/// Something the daemon may want to act on; logging happens inside the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Key material in Wireshark's formats, for `--keylog` (never logged).
    KeylogLine(String),
    /// A user authenticated (PPP), before IPCP assigns the address.
    Authenticated {
        /// The user name the client sent.
        user: String,
        /// The client's public address.
        client: SocketAddr,
        /// The method, as named in `ppp.auth`: `mschapv2`, `chap`, `mschapv1` or `pap`.
        method: &'static str,
    },
    /// A session came up (IPCP opened).
    SessionUp {
        /// Which session (the same in its [`Event::SessionDown`]).
        session: SessionId,
        /// The user.
        user: String,
        /// The assigned address.
        addr: Ipv4Addr,
        /// The client's public address.
        client: SocketAddr,
        /// From the L2TP session's creation (ICRQ) to IPCP assigning the address: the L2TP
        /// and PPP part of connecting.
        setup: Duration,
        /// What the client says it is, as in `status` (MS NT5 vendor ID, LCP Identification,
        /// L2TP vendor); client-chosen text.
        os_hint: String,
        /// How IKE authenticated the client, as in `status`: "psk", "cert" or empty.
        ike_auth: String,
        /// The certificate subject a "cert" client proved.
        ike_peer_id: Option<String>,
        /// Networks behind the client that the server now routes to it (RADIUS
        /// Framed-Route, users.yaml `routes`): the daemon routes them into the TUN device
        /// until the session's [`Event::SessionDown`].
        routes: Vec<Ipv4Network>,
    },
    /// The networks routed to a session up changed: its user's users.yaml `routes` changed on
    /// [`Server::reload_users`], or a session that held a network it was refused ended. The
    /// networks in `removed` are no longer routed to it (the daemon removes their kernel
    /// routes) and those in `added` now are. Its [`Event::SessionDown`] lists what it holds
    /// then.
    RoutesChanged {
        /// Which session.
        session: SessionId,
        /// The user.
        user: String,
        /// The session's address.
        addr: Ipv4Addr,
        /// Networks newly routed to the session.
        added: Vec<Ipv4Network>,
        /// Networks no longer routed to it.
        removed: Vec<Ipv4Network>,
    },
    /// A session went down.
    SessionDown {
        /// Which session.
        session: SessionId,
        /// The user, if authenticated.
        user: Option<String>,
        /// The client's public address.
        client: SocketAddr,
        /// Why, in plain words.
        reason: String,
        /// Why, as one of a few causes (for Acct-Terminate-Cause).
        cause: EndCause,
        /// The address IPCP had assigned, if it got that far.
        addr: Option<Ipv4Addr>,
        /// What the client said it is (see [`Event::SessionUp`]).
        os_hint: String,
        /// How long the L2TP session existed.
        connected: Duration,
        /// Its IPv4 traffic, as `status` counted it.
        traffic: SessionTraffic,
        /// The networks that were routed to it (as in its [`Event::SessionUp`]).
        routes: Vec<Ipv4Network>,
    },
    /// When [`Server::set_auth_order`] hands a login out: it awaits a verdict, to be given with
    /// [`Server::auth_verdict`] within `ppp`'s authentication timeout (30 s), after which the
    /// client is refused ("the authentication server did not answer"). Like every event, it
    /// is dropped if the daemon leaves more than 4096 events undrained.
    AuthRequest {
        /// The session the login is on.
        session: SessionId,
        /// The client's public address.
        client: SocketAddr,
        /// Names the attempt in [`Server::auth_verdict`].
        ticket: ppp::AuthTicket,
        /// What the verifier needs (the client's answer is redacted in `Debug`).
        request: Box<ppp::AuthRequest>,
    },
    /// A client was refused; `message` is the plain-words log line (with the Windows error).
    Refused {
        /// The client's public address.
        client: SocketAddr,
        /// What went wrong and what the user sees.
        message: String,
        /// The same, for counting.
        cause: Refusal,
    },
    /// The NAT in front of a client moved its mapping: an authenticated ESP packet came from
    /// a new public address or port, and the client's IKE, ESP and L2TP state moved there.
    ClientMoved {
        /// The old public address.
        from: SocketAddr,
        /// The new public address.
        to: SocketAddr,
    },
    /// An ESP SA reached a kilobyte lifetime limit (RFC 2407 §4.5). At the soft limit the
    /// client is expected to rekey; at the hard limit the SA pair was deleted (with an IKE
    /// Delete to the client).
    EspLifetime {
        /// The client's public address.
        client: SocketAddr,
        /// Our inbound SPI of the pair.
        spi_in: u32,
        /// Whether the hard limit was reached.
        hard: bool,
    },
}

/// A session's IPv4 traffic through the tunnel ("in" is from the client).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionTraffic {
    /// Bytes from the client.
    pub bytes_in: u64,
    /// Bytes to the client.
    pub bytes_out: u64,
    /// Packets from the client.
    pub packets_in: u64,
    /// Packets to the client.
    pub packets_out: u64,
}

/// Why a client was refused, for counting: the layer, a short stable cause name, and the
/// Windows error the user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// `ike`, `ppp` (authentication), `l2tp` or `limit` (peers per address or in total).
    pub layer: &'static str,
    /// e.g. `psk_mismatch`, `no_ike_proposal`, `wrong_password`, `plaintext_l2tp`.
    pub cause: &'static str,
    /// The Windows error number, when the refusal ends the attempt.
    pub windows_error: Option<u32>,
}

/// One PPP session of the server, as [`Event::AuthRequest`] names it for
/// [`Server::auth_verdict`]. Never reused for another session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId {
    peer: PeerId,
    key: l2tp::SessionKey,
}

/// A session whose IPCP is up, as [`Server::up_sessions_where`] picks it: its address, user,
/// the networks routed to it now, and what the picker returned for it.
struct UpSession<T> {
    id: SessionId,
    addr: Ipv4Addr,
    user: String,
    routes: Arc<[Ipv4Network]>,
    picked: T,
}

/// Written as `PEER-TUNNELSESSION` in hex (e.g. `1a-00070003`): unique among this server's
/// sessions, which makes it the core of an accounting session ID (RFC 2866 §5.5); the daemon
/// prefixes its start time to keep IDs unique across restarts.
impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:x}-{:04x}{:04x}",
            self.peer, self.key.tunnel, self.key.session
        )
    }
}

/// Parses what [`SessionId`]'s `Display` writes.
impl std::str::FromStr for SessionId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (peer, ids) = s.split_once('-').ok_or(())?;
        let hex = |t: &str| t.bytes().all(|b| b.is_ascii_hexdigit());
        if peer.is_empty() || peer.len() > 16 || ids.len() != 8 || !hex(peer) || !hex(ids) {
            return Err(());
        }
        let peer = u64::from_str_radix(peer, 16).map_err(|_| ())?;
        let tunnel = ids.get(..4).ok_or(())?;
        let session = ids.get(4..).ok_or(())?;
        Ok(Self {
            peer,
            key: l2tp::SessionKey {
                tunnel: u16::from_str_radix(tunnel, 16).map_err(|_| ())?,
                session: u16::from_str_radix(session, 16).map_err(|_| ())?,
            },
        })
    }
}

/// Events and transmissions wait here for the daemon; beyond this many events the oldest are
/// dropped (a daemon that never drains them must not make us grow).
const MAX_EVENTS: usize = 4096;

/// The L2TP/IPsec server.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    settings: Settings,
    users: Users,
    pool: Option<Pool>,
    ike: ike::Responder,
    /// Boxed: the table keeps spare slots, and a `Peer` is large.
    peers: HashMap<PeerId, Box<Peer>>,
    by_tuple: HashMap<FourTuple, PeerId>,
    /// Our inbound SPI → its peer.
    by_spi: HashMap<u32, PeerId>,
    /// Assigned address → the session that owns it.
    by_addr: HashMap<Ipv4Addr, (PeerId, l2tp::SessionKey)>,
    /// Networks routed to sessions (Framed-Route, users.yaml `routes`) → the session; no
    /// two overlap (the first session to claim a network keeps it).
    routes: Vec<(Ipv4Network, SessionId)>,
    /// Peers per public source address (`limits.peers_per_source_ip`).
    per_source: HashMap<IpAddr, u32>,
    /// Phase-1 facts that arrived before any child SA (the peer is made by Quick Mode).
    phase1: HashMap<FourTuple, ike::Phase1Info>,
    next_id: PeerId,
    /// Every peer's next deadline, ordered; `scheduled` says what each peer has in it.
    timers: BTreeSet<(Instant, PeerId)>,
    scheduled: HashMap<PeerId, Instant>,
    /// Peers an input touched: their output is drained, their timer and their data-plane
    /// part refreshed at the end of the input.
    touched: Vec<PeerId>,
    touched_set: HashSet<PeerId>,
    /// Peers removed during the input (their data-plane part goes).
    removed: Vec<PeerId>,
    plane: Publisher,
    /// IPv4 packets the control plane sends to clients (DHCP answers) once the table is
    /// published.
    for_clients: Vec<Vec<u8>>,
    out: VecDeque<(Transmit, Vec<u8>)>,
    events: VecDeque<Event>,
    rng: ChaCha20Rng,
    started: Instant,
    counters: Counters,
    log: LogLimiter,
    logins: Logins,
    scratch: Vec<u8>,
    batch: Batch,
    /// The IKE responder's [`ike::Responder::awaiting_qm3_version`] last published.
    awaiting_qm3: u64,
    /// What a DHCPINFORM from a client is answered with (routes, domain, DNS).
    inform: crate::dhcp::InformConfig,
    keylog: bool,
    /// Pairs (by our inbound SPI) whose soft limit was already reported.
    soft_reported: HashSet<u32>,
    /// Who decides logins ([`Server::set_auth_order`]).
    auth_order: AuthOrder,
}

/// Which source decides a login: the users file, a remote verifier (handed out as
/// [`Event::AuthRequest`]), or both in an order. Set with [`Server::set_auth_order`]; the
/// daemon takes it from `radius.order`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthOrder {
    /// Only the users file (no remote verifier).
    #[default]
    Local,
    /// Only the remote verifier; the users file decides no login (it still gives addresses
    /// reserved for a name, and per-user limits).
    Remote,
    /// The users file first: a name it lists is checked against it, and that check is final
    /// (a wrong password or a disabled entry is refused, never handed on, or the remote
    /// verifier would be a way around a local entry); a name it does not list goes to the
    /// remote verifier.
    LocalThenRemote,
    /// The remote verifier first, and its verdict is final (a Reject too); only when no
    /// verifier answered at all ([`ppp::AuthVerdict::NoAnswer`]) is the login checked against
    /// the users file: a fallback account for when the directory is down.
    RemoteThenLocal,
}

impl AuthOrder {
    /// Whether logins may be handed out as [`Event::AuthRequest`].
    pub const fn uses_remote(self) -> bool {
        !matches!(self, Self::Local)
    }
}

/// Which sessions [`Server::kick`] ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KickTarget {
    /// Every session of this user: the name in the users file, or as the client sent it
    /// (`DOMAIN\user`).
    User(String),
    /// The session with this assigned (inner) address, or every session from this public
    /// (outer) address: all clients behind that NAT.
    Address(IpAddr),
    /// The session with this ID (as in [`Event::SessionUp`] and `status --json`).
    Session(SessionId),
}

/// A session [`Server::kick`] ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kicked {
    /// The authenticated user name (empty if the session had not authenticated yet).
    pub user: String,
    /// The address IPCP had assigned.
    pub assigned_ip: Option<Ipv4Addr>,
    /// The client's public address and port.
    pub client_public: SocketAddr,
}

/// The credential and address look-ups PPP needs, over the users file, the pool and the
/// login guard.
struct Auth<'a> {
    users: &'a Users,
    pool: &'a mut Option<Pool>,
    logins: &'a Logins,
    /// Addresses in use, for an address a remote verdict names.
    by_addr: &'a HashMap<Ipv4Addr, (PeerId, l2tp::SessionKey)>,
    source: IpAddr,
    now: Instant,
    /// Which attempts that pass the limits go to a remote verifier.
    order: AuthOrder,
}

impl ppp::Authenticator for Auth<'_> {
    fn lookup(&mut self, user: &str) -> ppp::Lookup {
        let own_limit = self.users.get(user).and_then(|u| u.max_sessions);
        if let Err(blocked) = self
            .logins
            .check_with(self.now, user, self.source, own_limit)
        {
            return throttled(blocked);
        }
        if matches!(self.order, AuthOrder::Remote | AuthOrder::RemoteThenLocal) {
            return ppp::Lookup::Remote;
        }
        match self.users.lookup(user) {
            users::Lookup::NotFound if self.order == AuthOrder::LocalThenRemote => {
                ppp::Lookup::Remote
            }
            users::Lookup::NotFound => ppp::Lookup::NotFound,
            users::Lookup::Disabled => ppp::Lookup::Disabled,
            users::Lookup::Found {
                password, nt_hash, ..
            } => match password.and_then(|p| std::str::from_utf8(p.as_bytes()).ok()) {
                Some(p) => ppp::Lookup::Found(ppp::Credential::password(p)),
                None => ppp::Lookup::Found(ppp::Credential::nt_hash(*nt_hash.as_bytes())),
            },
        }
    }

    fn assign_address(&mut self, user: &str, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let _ = requested; // The pool decides; a static address is what the user gets.
        let name = match self.users.lookup(user) {
            users::Lookup::Found { name, .. } => name,
            // The remote verifier accepted a user the users file need not list.
            _ if self.order.uses_remote() => user,
            _ => return None,
        };
        self.pool.as_mut()?.allocate(name)
    }

    fn assign_remote_address(
        &mut self,
        user: &str,
        framed: ppp::FramedAddress,
        requested: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        let ((ppp::FramedAddress::Fixed(addr), _) | (ppp::FramedAddress::UserChoice, Some(addr))) =
            (framed, requested)
        else {
            return self.assign_address(user, requested);
        };
        let unusable = addr.is_unspecified()
            || addr.is_loopback()
            || addr.is_multicast()
            || addr.is_broadcast()
            || self.by_addr.contains_key(&addr);
        let taken = match self.pool.as_mut() {
            Some(pool) if pool.network().contains(addr) => !pool.claim(addr, user),
            _ => false,
        };
        if unusable || taken {
            warn!(user = %user.printable(), %addr, "the address the authentication server gave is in use or cannot be assigned");
            return None;
        }
        if self
            .pool
            .as_ref()
            .is_some_and(|p| !p.network().contains(addr))
        {
            info!(user = %user.printable(), %addr, "the authentication server gave an address outside the pool: the host needs a route to it through the TUN device");
        }
        Some(addr)
    }
}

/// A login refused before its password is checked.
fn throttled(blocked: Blocked) -> ppp::Lookup {
    match blocked {
        Blocked::Backoff(retry_after) => ppp::Lookup::Throttled { retry_after },
        Blocked::TooManySessions(limit) => ppp::Lookup::SessionLimit { limit },
    }
}

impl Server {
    /// A server with the given configuration and users. `rng_seed` seeds every random choice
    /// (SPIs, cookies, nonces, tunnel and session IDs, LCP magic, CHAP challenges).
    pub fn new(config: ServerConfig, users: Users, rng_seed: [u8; 32], now: Instant) -> Self {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let mut ike_seed = [0; 32];
        rng.fill_bytes(&mut ike_seed);
        let mut ike_config = ike_config(&config);
        let psk_refused = config.certificates.as_ref().is_some_and(|c| !c.allow_psk);
        if ike_config.psk.is_empty() || psk_refused {
            // Certificates alone authenticate (`allow_psk: false`): whatever the engine does
            // with pre-shared-key proposals, no key it holds may be known to anyone (an empty
            // one would be), so it gets a random one nobody knows.
            let mut unknowable = vec![0; 32];
            rng.fill_bytes(&mut unknowable);
            ike_config.psk = crypto::Secret::new(unknowable);
        }
        let ike = ike::Responder::new(ike_config, ike_seed);
        let inform = inform_config(&config);
        let pool = match Pool::from_config(&config.pool) {
            Ok(mut pool) => {
                pool.set_reservations(users.reservations());
                Some(pool)
            }
            Err(e) => {
                // config::Config::load validated the pool, so this is unreachable from the daemon; a
                // server without a pool still runs IKE and L2TP but assigns no address.
                warn!(error = %e, "address pool unusable; no addresses can be assigned");
                None
            }
        };
        let server_addr = pool
            .as_ref()
            .map_or(Ipv4Addr::UNSPECIFIED, Pool::server_address);
        let settings = Settings {
            lns: lns_config(&config),
            link: link_config(&config, server_addr),
            mss_clamp: config.ppp.tcp_mss_clamp,
            // Until the daemon says otherwise (`set_tun_mtu`), the TUN is assumed to send no
            // more than our own MRU.
            tun_mtu: config.ppp.mru,
            session_timeout: secs(config.ppp.session_timeout_secs),
            idle_timeout: secs(config.ppp.idle_timeout_secs),
            rate_limit: config.ppp.rate_limit,
        };
        Self {
            plane: Publisher::new(config.listen.nat_t_port, server_addr),
            logins: Logins::new(config.limits.sessions_per_user),
            config,
            settings,
            users,
            pool,
            ike,
            peers: HashMap::new(),
            by_tuple: HashMap::new(),
            by_spi: HashMap::new(),
            by_addr: HashMap::new(),
            routes: Vec::new(),
            per_source: HashMap::new(),
            phase1: HashMap::new(),
            next_id: 1,
            timers: BTreeSet::new(),
            scheduled: HashMap::new(),
            touched: Vec::new(),
            touched_set: HashSet::new(),
            removed: Vec::new(),
            for_clients: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            started: now,
            counters: Counters::default(),
            log: LogLimiter::new(),
            scratch: Vec::with_capacity(2048),
            batch: Batch::new(),
            awaiting_qm3: 0,
            inform,
            keylog: false,
            soft_reported: HashSet::new(),
            auth_order: AuthOrder::Local,
        }
    }

    /// Turns on [`Event::KeylogLine`]: every IKE and ESP key in Wireshark's UAT formats
    /// (`ikev1_decryption_table`, `esp_sa`), for `l2tpd-rs run --keylog FILE`. Keys never go to
    /// the log; only this explicit switch lets them out, to a file the admin names.
    pub fn set_keylog(&mut self, on: bool) {
        self.keylog = on;
        self.ike.set_keylog(on);
    }

    /// Tells the IKE responder that `now` is `wall` in wall-clock time: certificate validity
    /// and CRL dates are wall-clock times, while everything else runs on `Instant`. The owner
    /// calls it before the first datagram and then on every turn (or tick).
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.ike.set_wall_clock(now, wall);
    }

    /// Replaces the certificate settings (a reload read the files of the `certificates:` block
    /// again: a new CRL, CA or server certificate). IKE SAs already authenticated stay; new
    /// Main Modes use the new settings. `None` turns certificate authentication off.
    pub fn set_certificates(&mut self, certificates: Option<config::CertificateConfig>) {
        let auth = certificates.as_ref().and_then(certificate_auth);
        self.config.certificates = certificates;
        self.ike.set_certificates(auth);
    }

    /// The certificate settings in use (from the configuration or the last
    /// [`Server::set_certificates`]).
    pub fn certificates(&self) -> Option<&config::CertificateConfig> {
        self.config.certificates.as_ref()
    }

    /// The TUN device's MTU: the largest packet the kernel hands us, which bounds the TCP MSS
    /// clamp. Only the daemon knows it (it is a host setting).
    pub fn set_tun_mtu(&mut self, mtu: u16) {
        self.settings.tun_mtu = mtu;
    }

    /// Hands every login that passes the limits to a remote verifier as
    /// [`Event::AuthRequest`] instead of checking it against the users file; the verdict comes
    /// back through [`Server::auth_verdict`]. Addresses still come from the pool (a user's
    /// reservation in the users file included) unless the verdict names one, and reloading the
    /// users file no longer disconnects users it does not list.
    ///
    /// The same as [`Server::set_auth_order`] with [`AuthOrder::Remote`] (`true`) or
    /// [`AuthOrder::Local`] (`false`).
    pub fn set_remote_auth(&mut self, on: bool) {
        self.set_auth_order(if on {
            AuthOrder::Remote
        } else {
            AuthOrder::Local
        });
    }

    /// Which source decides each login from now on (see [`AuthOrder`]). Reloading the users
    /// file disconnects only sessions the users file decided.
    pub fn set_auth_order(&mut self, order: AuthOrder) {
        self.auth_order = order;
    }

    /// Who decides logins.
    pub fn auth_order(&self) -> AuthOrder {
        self.auth_order
    }

    /// A `Clone + Send + Sync` handle on the data plane, for every thread that reads sockets
    /// or the TUN device (see [`DataPlane`]).
    pub fn data_plane(&self) -> DataPlane {
        self.plane.handle()
    }

    // ---- inputs -----------------------------------------------------------------------------

    /// A UDP datagram arrived on `local` from `remote`. ESP runs through the data plane here
    /// too, so this is the one entry point a caller without its own data-plane threads needs.
    pub fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        self.take_notes(now);
        let listen = &self.config.listen;
        if local.port() == listen.ike_port {
            self.ike.handle_datagram(now, local, remote, payload);
            self.after_ike(now);
        } else if local.port() == listen.nat_t_port {
            match wire::natt::Repr::parse(payload) {
                Ok(wire::natt::Repr::Keepalive) => {}
                Ok(wire::natt::Repr::Ike(msg)) => {
                    self.ike.handle_datagram(now, local, remote, msg);
                    self.after_ike(now);
                }
                Ok(wire::natt::Repr::Esp(_)) => {
                    let mut buf = std::mem::take(&mut self.scratch);
                    buf.clear();
                    buf.extend_from_slice(payload);
                    let verdict = self
                        .plane
                        .handle()
                        .inbound_udp(now, local, remote, &mut buf);
                    self.act(now, verdict, &buf);
                    self.scratch = buf;
                }
                Err(e) => {
                    self.counters.malformed += 1;
                    debug!(%remote, error = %e, "malformed datagram on the NAT-T port dropped");
                }
            }
        } else if local.port() == L2TP_PORT {
            // L2TP only inside an ESP SA.
            self.counters.plaintext_l2tp_refused += 1;
            self.refuse(
                now,
                remote,
                "plain L2TP without IPsec refused (the client must use L2TP/IPsec with a pre-shared key) -> Windows error 789"
                    .to_owned(),
                Refusal {
                    layer: "l2tp",
                    cause: "plaintext_l2tp",
                    windows_error: Some(789),
                },
            );
        } else {
            self.counters.malformed += 1;
        }
        self.finish(now);
    }

    /// A raw ESP packet (IP protocol 50) arrived; `esp` starts at the ESP header.
    pub fn handle_esp(&mut self, now: Instant, local: Ipv4Addr, remote: Ipv4Addr, esp: &[u8]) {
        self.take_notes(now);
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(esp);
        let verdict = self
            .plane
            .handle()
            .inbound_esp(now, local, remote, &mut buf);
        self.act(now, verdict, &buf);
        self.scratch = buf;
        self.finish(now);
    }

    /// An IPv4 packet was read from the TUN device.
    pub fn handle_tun(&mut self, now: Instant, packet: &[u8]) {
        self.take_notes(now);
        self.send_to_client(now, packet);
        self.finish(now);
    }

    /// What the data plane handed over ([`Inbound::ToOwner`]): `l2tp` is `buf[handoff.l2tp]`,
    /// an authenticated, decrypted L2TP message.
    pub fn handle_decrypted(&mut self, now: Instant, handoff: &Handoff, l2tp: &[u8]) {
        self.take_notes(now);
        self.decrypted(now, handoff, l2tp);
        self.finish(now);
    }

    /// Time has passed; a spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.take_notes(now);
        self.ike.handle_timeout(now);
        self.after_ike(now);
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.scheduled.remove(&id);
            let mut expired = Vec::new();
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.handle_timeout(now, &self.settings);
                expired = peer.take_expired();
                self.touch(id);
            }
            for (key, why, cause) in expired {
                let peer = self.peers.get(&id);
                let client = peer.map(|p| p.tuple.remote);
                let user = peer
                    .and_then(|p| p.sessions.get(&key))
                    .and_then(|s| s.user.clone())
                    .unwrap_or_default();
                info!(user = %user.printable(), client = ?client, reason = %why, "session limit reached: disconnecting");
                self.disconnect_session(now, id, key, &why, cause);
            }
        }
        self.finish(now);
    }

    /// The verdict on the login [`Event::AuthRequest`] handed out for `session` with
    /// `ticket`: the client gets Success or Failure (see [`ppp::remote`]). Returns false, doing
    /// nothing, when that login is no longer waiting (the session is gone, or timed out
    /// waiting): a late verdict is harmless.
    ///
    /// [`ppp::AuthVerdict::NoAnswer`] (no verifier answered) refuses the login, except with
    /// [`AuthOrder::RemoteThenLocal`]: the client's stored answer is then checked against the
    /// users file, as if that had been asked first.
    pub fn auth_verdict(
        &mut self,
        now: Instant,
        session: SessionId,
        ticket: ppp::AuthTicket,
        verdict: ppp::AuthVerdict,
    ) -> bool {
        self.take_notes(now);
        let fallback =
            verdict == ppp::AuthVerdict::NoAnswer && self.auth_order == AuthOrder::RemoteThenLocal;
        let applied = match self.peers.get_mut(&session.peer) {
            Some(peer) if fallback => {
                let client = peer.tuple.remote;
                let mut auth = Auth {
                    users: &self.users,
                    pool: &mut self.pool,
                    logins: &self.logins,
                    by_addr: &self.by_addr,
                    source: client.ip(),
                    now,
                    order: AuthOrder::Local,
                };
                let applied =
                    peer.resolve_auth_locally(now, session.key, ticket, &self.settings, &mut auth);
                if applied {
                    info!(%client, "no authentication server answered: login checked against users.yaml instead (radius.order)");
                }
                self.touch(session.peer);
                applied
            }
            Some(peer) => {
                let verdict = match verdict {
                    ppp::AuthVerdict::Accept(a) => {
                        // RFC 2865 §5.42 Port-Limit: the most sessions the user may have.
                        let user = peer
                            .sessions
                            .get(&session.key)
                            .and_then(|s| s.link.pending_user(ticket));
                        match (a.port_limit, user) {
                            (Some(limit), Some(user))
                                if limit > 0 && self.logins.sessions_of(user) >= limit =>
                            {
                                ppp::AuthVerdict::Reject(ppp::Reject::port_limit(limit))
                            }
                            _ => ppp::AuthVerdict::Accept(a),
                        }
                    }
                    other => other,
                };
                let applied = peer.resolve_auth(now, session.key, ticket, verdict, &self.settings);
                self.touch(session.peer);
                applied
            }
            None => false,
        };
        if !applied {
            debug!(session = ?session, "verdict for a login that is no longer waiting ignored");
        }
        self.finish(now);
        applied
    }

    // ---- outputs ----------------------------------------------------------------------------

    /// The next datagram to send; its payload is written into `buf` (cleared first).
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        let (transmit, payload) = self.out.pop_front()?;
        buf.extend_from_slice(&payload);
        Some(transmit)
    }

    /// Appends every queued datagram and packet to `batch`, in order, and returns how many:
    /// what one input (a timer turn that sends many keepalives, say) produced can then leave
    /// together, consecutive UDP datagrams from one socket in one `sendmmsg` call.
    pub fn poll_transmits(&mut self, batch: &mut Batch) -> usize {
        let n = self.out.len();
        for (transmit, payload) in self.out.drain(..) {
            batch.push_copy(transmit, &payload);
        }
        n
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Server::handle_timeout`] must next be called: O(log peers).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let peers = self.timers.first().map(|(t, _)| *t);
        match (self.ike.poll_timeout(), peers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- administration ---------------------------------------------------------------------

    /// Replace the user table: removed or disabled users are disconnected; the others stay,
    /// and those whose rate limits came from the users file (or the `ppp:` default it falls
    /// back to), not from a remote verifier or [`Server::set_rate_limit`], get the new file's.
    /// So do the networks routed to them: a session whose routes came from the users file (no
    /// Framed-Route) and whose user's `routes` changed gets the new list, checked as when it
    /// came up ([`Event::RoutesChanged`]).
    pub fn reload_users(&mut self, now: Instant, users: Users) {
        self.take_notes(now);
        let old_users = std::mem::replace(&mut self.users, users);
        if let Some(pool) = &mut self.pool {
            pool.set_reservations(self.users.reservations());
        }
        let mut gone = Vec::new();
        for (id, peer) in &self.peers {
            for session in peer.sessions.values() {
                // A remote verifier's users need not be in the users file.
                if let Some(user) = &session.user
                    && !session.link.verified_remotely()
                    && !matches!(self.users.lookup(user), users::Lookup::Found { .. })
                {
                    gone.push((*id, session.ids, user.clone()));
                }
            }
        }
        // Rate limits that came from users.yaml (or the `ppp:` default it may now fall back
        // to) follow the new file; a remote verifier's, or a CoA-Request's, stay.
        let mut changed = Vec::new();
        for (id, peer) in &mut self.peers {
            for session in peer.sessions.values_mut() {
                if !session.link.ip_up() || session.granted_rate.is_some() || session.rate_set {
                    continue;
                }
                let Some(user) = &session.user else {
                    continue;
                };
                let wanted = file_rate_limit(&self.users, self.settings.rate_limit, user)
                    .filter(|r| !r.is_unlimited());
                let current = session.policer.as_ref().map(|p| p.limit);
                if wanted == current {
                    continue;
                }
                info!(
                    user = %user.printable(),
                    client = %peer.tuple.remote,
                    rate_limit = %wanted.map_or_else(|| "none".to_owned(), |r| r.to_string()),
                    "rate limit changed by the users file"
                );
                session.policer = wanted
                    .and_then(|r| crate::dataplane::police::Policer::new(r, now))
                    .map(Arc::new);
                changed.push(*id);
            }
        }
        for id in changed {
            self.touch(id);
        }
        self.reroute(&old_users, &gone);
        for (id, key, user) in gone {
            let client = self.peers.get(&id).map(|p| p.tuple.remote);
            info!(user = %user.printable(), client = ?client, "user removed or disabled in the users file: disconnecting");
            self.disconnect_session(
                now,
                id,
                key,
                "user removed or disabled",
                EndCause::AdminReset,
            );
        }
        self.finish(now);
    }

    /// Gives the sessions whose user's users.yaml `routes` differ from `old_users`' the new
    /// list (sessions with a remote verifier's Framed-Route keep theirs). A network a session
    /// keeps stays its own against the others' new claims: what the sessions lose is released
    /// first, then each claims its new list. `leaving` (about to be disconnected) are left
    /// alone: their networks go with their [`Event::SessionDown`].
    fn reroute(&mut self, old_users: &Users, leaving: &[(PeerId, l2tp::SessionKey, String)]) {
        let rerouted = self.up_sessions_where(|id, session, user| {
            if !session.granted_routes.is_empty()
                || leaving
                    .iter()
                    .any(|(p, k, _)| *p == id && *k == session.ids)
            {
                return None;
            }
            let wanted = Self::wanted_routes_of(&self.users, session, user);
            (wanted != Self::wanted_routes_of(old_users, session, user)).then_some(wanted)
        });
        for r in &rerouted {
            self.routes
                .retain(|(net, s)| *s != r.id || r.picked.iter().any(|(w, ..)| w == net));
        }
        for r in rerouted {
            self.reclaim_routes(r, "routes changed by the users file");
        }
    }

    /// The sessions whose IPCP is up for which `pick` (given the peer, the session and its
    /// user) returns something.
    fn up_sessions_where<T>(
        &self,
        mut pick: impl FnMut(PeerId, &crate::peer::Session, &str) -> Option<T>,
    ) -> Vec<UpSession<T>> {
        let mut chosen = Vec::new();
        for (id, peer) in &self.peers {
            for session in peer.sessions.values() {
                let (Some(user), Some(addr)) = (&session.user, session.addr) else {
                    continue;
                };
                if !session.link.ip_up() {
                    continue;
                }
                if let Some(picked) = pick(*id, session, user) {
                    chosen.push(UpSession {
                        id: SessionId {
                            peer: *id,
                            key: session.ids,
                        },
                        addr,
                        user: user.clone(),
                        routes: Arc::clone(&session.routes),
                        picked,
                    });
                }
            }
        }
        chosen
    }

    /// Claims session `s`'s networks again ([`Server::claim_routes`]) and, when they differ
    /// from those it held, republishes its peer and tells the daemon
    /// ([`Event::RoutesChanged`]); `why` is the log line.
    fn reclaim_routes<T>(&mut self, s: UpSession<T>, why: &str) {
        let UpSession {
            id: sid,
            addr,
            user,
            routes: old,
            ..
        } = s;
        let new = self.claim_routes(sid, addr, &user);
        if new[..] == old[..] {
            return;
        }
        let added: Vec<Ipv4Network> = new.iter().filter(|r| !old.contains(r)).copied().collect();
        let removed: Vec<Ipv4Network> = old.iter().filter(|r| !new.contains(r)).copied().collect();
        let list = |nets: &[Ipv4Network]| {
            if nets.is_empty() {
                "none".to_owned()
            } else {
                nets.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        info!(user = %user.printable(), %addr, added = %list(&added), removed = %list(&removed), "{why}");
        self.touch(sid.peer);
        self.events.push_back(Event::RoutesChanged {
            session: sid,
            user,
            addr,
            added,
            removed,
        });
    }

    /// Ends the sessions `target` names, as an administrator's `kick`: LCP Terminate-Request,
    /// CDN, and (when the client has nothing else here) StopCCN and IKE Delete, the same
    /// goodbye as [`Server::reload_users`] gives a removed user. The user may connect again at
    /// once; to keep them out, disable them in the users file. Returns what was ended.
    pub fn kick(&mut self, now: Instant, target: &KickTarget) -> Vec<Kicked> {
        self.take_notes(now);
        let mut chosen = Vec::new();
        for (id, peer) in &self.peers {
            for session in peer.sessions.values() {
                let hit = match target {
                    KickTarget::User(name) => session
                        .user
                        .as_deref()
                        .is_some_and(|u| u == name || users::strip_domain(u) == name),
                    KickTarget::Address(ip) => {
                        peer.tuple.remote.ip() == *ip
                            || session.addr.is_some_and(|a| IpAddr::V4(a) == *ip)
                    }
                    KickTarget::Session(sid) => sid.peer == *id && sid.key == session.ids,
                };
                if hit {
                    chosen.push((
                        *id,
                        session.ids,
                        Kicked {
                            user: session.user.clone().unwrap_or_default(),
                            assigned_ip: session.addr,
                            client_public: peer.tuple.remote,
                        },
                    ));
                }
            }
        }
        let mut kicked = Vec::with_capacity(chosen.len());
        for (id, key, row) in chosen {
            info!(user = %row.user.printable(), client = %row.client_public, "session ended by the administrator (kick)");
            self.disconnect_session(
                now,
                id,
                key,
                "ended by the administrator",
                EndCause::AdminReset,
            );
            kicked.push(row);
        }
        self.finish(now);
        kicked
    }

    /// Changes the limits of session `session` at `now`, as a CoA-Request does (RFC 5176 §2.2):
    /// `None` keeps a limit, `Some(None)` lifts it, `Some(Some(t))` sets it to `t` counted from
    /// `now`. A session whose IPCP is not up yet keeps a new limit for when its limits are
    /// fixed (it then counts from IPCP up, like a verifier's Accept; a lifted one falls back to
    /// users.yaml and the defaults). Returns false, changing nothing, when there is no such
    /// session.
    pub fn set_session_limits(
        &mut self,
        now: Instant,
        session: SessionId,
        session_timeout: Option<Option<Duration>>,
        idle_timeout: Option<Option<Duration>>,
    ) -> bool {
        self.take_notes(now);
        let Some(s) = self
            .peers
            .get_mut(&session.peer)
            .and_then(|p| p.sessions.get_mut(&session.key))
        else {
            self.finish(now);
            return false;
        };
        // What a later `fix_policy` takes: a new limit wins over users.yaml and the defaults.
        if let Some(Some(t)) = session_timeout {
            s.granted.0 = Some(t);
        }
        if let Some(Some(t)) = idle_timeout {
            s.granted.1 = Some(t);
        }
        if s.link.ip_up() {
            let count = s.packet_count();
            s.policy =
                crate::peer::Policy::changed(s.policy, now, count, session_timeout, idle_timeout);
        }
        let fmt = |t: Option<Option<Duration>>| match t {
            None => "unchanged".to_owned(),
            Some(None) => "none".to_owned(),
            Some(Some(t)) => format!("{} s", t.as_secs()),
        };
        info!(
            user = %s.user.as_deref().unwrap_or("-").printable(),
            session = %session,
            session_timeout = %fmt(session_timeout),
            idle_timeout = %fmt(idle_timeout),
            "session limits changed"
        );
        self.touch(session.peer);
        self.finish(now);
        true
    }

    /// Graceful shutdown: LCP Terminate, CDN, StopCCN and IKE Delete go to every peer.
    pub fn shutdown(&mut self, now: Instant) {
        self.take_notes(now);
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.close_all(
                    now,
                    "server shutting down",
                    EndCause::Shutdown,
                    &self.settings,
                );
                let ike_peer = peer.ike;
                self.touch(id);
                self.drain_peer(now, id);
                self.ike.delete_peer(now, ike_peer);
            }
        }
        self.after_ike(now);
        self.finish(now);
    }

    /// The IPv4 traffic of one session so far (as in [`Event::SessionDown`]), for accounting
    /// updates: O(sessions of its peer). `None` when the session is gone.
    #[must_use]
    pub fn session_traffic(&self, session: SessionId) -> Option<SessionTraffic> {
        let s = self.peers.get(&session.peer)?.sessions.get(&session.key)?;
        let (packets_in, bytes_in) = s.counters.inbound.get();
        let (packets_out, bytes_out) = s.counters.outbound.get();
        Some(SessionTraffic {
            bytes_in,
            bytes_out,
            packets_in,
            packets_out,
        })
    }

    /// The status view: O(peers + sessions).
    #[must_use]
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let ike_rows: HashMap<FourTuple, ike::PeerSnapshot> = self
            .ike
            .peers(now)
            .into_iter()
            .map(|r| (r.peer, r))
            .collect();
        let mut sessions = Vec::new();
        let mut pending = Vec::new();
        let mut spoofed = 0;
        for peer in self.peers.values() {
            let ike_row = ike_rows.get(&peer.ike);
            let phase1 = peer
                .phase1
                .as_ref()
                .or_else(|| ike_row.and_then(|r| r.phase1.as_ref()));
            let (nat, dialect) = match phase1 {
                Some(p) => (
                    p.nat_detected,
                    p.nat_t
                        .map_or_else(|| "none".to_owned(), |d| d.name().to_owned()),
                ),
                None => (peer.tuple.local.port() != 0, "unknown".to_owned()),
            };
            let current = peer.current_pair();
            if peer.sessions.is_empty() {
                pending.push(PeerRow {
                    client_public: peer.tuple.remote,
                    state: "IPsec up, waiting for L2TP".to_owned(),
                });
            }
            for session in peer.sessions.values() {
                spoofed += session.link.stats().spoofed_drops;
                let (packets_in, bytes_in) = session.counters.inbound.get();
                let (packets_out, bytes_out) = session.counters.outbound.get();
                sessions.push(SessionRow {
                    session_id: SessionId {
                        peer: peer.id,
                        key: session.ids,
                    }
                    .to_string(),
                    user: session.user.clone().unwrap_or_default(),
                    assigned_ip: session.addr,
                    client_public: peer.tuple.remote,
                    nat,
                    nat_t_dialect: dialect.clone(),
                    host_name: session.host_name.clone(),
                    os_hint: os_hint(phase1, session),
                    ike_suite: phase1.map(|p| p.suite.to_string()).unwrap_or_default(),
                    ike_auth: ike_auth(phase1).0,
                    ike_peer_id: ike_auth(phase1).1,
                    esp_suite: current.map(|c| c.suite.clone()).unwrap_or_default(),
                    ike_lifetime_left_secs: ike_row.map(|r| r.ike_expires_in_secs),
                    esp_lifetime_left_secs: current.map(|c| {
                        (c.established + c.lifetime)
                            .saturating_duration_since(now)
                            .as_secs()
                    }),
                    l2tp_tunnel: (session.ids.tunnel, session.peer_ids.0),
                    l2tp_session: (session.ids.session, session.peer_ids.1),
                    state: session_state(&session.link),
                    connected_secs: now.saturating_duration_since(session.since).as_secs(),
                    bytes_in,
                    bytes_out,
                    packets_in,
                    packets_out,
                    session_timeout_secs: session
                        .policy
                        .and_then(|p| p.session_timeout)
                        .map(|d| d.as_secs()),
                    idle_timeout_secs: session
                        .policy
                        .and_then(|p| p.idle_timeout)
                        .map(|d| d.as_secs()),
                    rate_limit_up_bps: session
                        .policer
                        .as_ref()
                        .and_then(|p| p.limit.up)
                        .map(std::num::NonZeroU64::get),
                    rate_limit_down_bps: session
                        .policer
                        .as_ref()
                        .and_then(|p| p.limit.down)
                        .map(std::num::NonZeroU64::get),
                    routes: session.routes.iter().map(ToString::to_string).collect(),
                    policed_in: session
                        .counters
                        .inbound
                        .policed
                        .load(std::sync::atomic::Ordering::Relaxed),
                    policed_out: session
                        .counters
                        .outbound
                        .policed
                        .load(std::sync::atomic::Ordering::Relaxed),
                });
            }
        }
        for row in ike_rows.values() {
            let tuple = row.peer;
            if !self.by_tuple.contains_key(&tuple) {
                pending.push(PeerRow {
                    client_public: row.peer.remote,
                    state: if row.phase1.is_some() {
                        "IKE up, waiting for Quick Mode".to_owned()
                    } else {
                        "IKE Main Mode".to_owned()
                    },
                });
            }
        }
        sessions.sort_by(|a, b| (a.client_public, &a.user).cmp(&(b.client_public, &b.user)));
        pending.sort_by_key(|p| p.client_public);
        let plane = self.plane.stats();
        let mut counters = self.counters.clone();
        counters.malformed += plane.malformed;
        counters.esp_dropped += plane.esp_dropped;
        counters.spoofed += plane.spoofed + spoofed;
        counters.no_session += plane.no_session;
        Snapshot {
            uptime_secs: now.saturating_duration_since(self.started).as_secs(),
            sessions,
            pending_peers: pending,
            counters,
        }
    }

    // ---- routing ----------------------------------------------------------------------------

    /// Acts on the data plane's verdict on a packet in `buf`.
    fn act(&mut self, now: Instant, verdict: Inbound, buf: &[u8]) {
        match verdict {
            Inbound::Tun(range) => {
                if let Some(ip) = buf.get(range) {
                    self.out.push_back((Transmit::Tun, ip.to_vec()));
                }
            }
            Inbound::ToOwner(handoff) => {
                let l2tp = buf.get(handoff.l2tp.clone()).unwrap_or_default();
                self.decrypted(now, &handoff, l2tp);
            }
            // Here the control plane itself asked: the SA is not installed, and its Quick
            // Mode's third message did not come first.
            Inbound::AwaitingQm3 => self.counters.esp_dropped += 1,
            // IKE on the NAT-T port was routed before the data plane saw it.
            Inbound::Ike | Inbound::Drop => {}
        }
    }

    /// The control plane's part of an authenticated, decrypted L2TP message.
    fn decrypted(&mut self, now: Instant, handoff: &Handoff, l2tp: &[u8]) {
        let tuple = handoff.tuple;
        let Some(&id) = self.by_spi.get(&handoff.spi) else {
            // The SA went away while the packet was on its way.
            self.counters.esp_dropped += 1;
            return;
        };
        if let HandoffReason::Moved { .. } = handoff.reason
            && !self.move_peer(id, tuple)
        {
            self.counters.esp_dropped += 1;
            return;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.tuple != tuple {
            // From the peer's old 4-tuple, after it moved: it verified, but the client's NAT
            // sends from the new one now.
            self.counters.esp_dropped += 1;
            return;
        }
        self.ike.note_activity(peer.ike, now);
        let source = tuple.remote.ip();
        let mut auth = Auth {
            users: &self.users,
            pool: &mut self.pool,
            logins: &self.logins,
            by_addr: &self.by_addr,
            source,
            now,
            order: self.auth_order,
        };
        let result = peer.handle_l2tp(
            now,
            handoff.spi,
            handoff.src_port,
            l2tp,
            &self.settings,
            &mut auth,
        );
        self.touch(id);
        match result {
            Ok(Some((key, ip))) => self.ip_from_client(id, key, &ip),
            Ok(None) => {}
            Err(e) => {
                self.counters.malformed += 1;
                debug!(client = %tuple.remote, error = %e, "L2TP datagram dropped");
            }
        }
    }

    /// An IPv4 packet that a PPP link accepted in the control plane: a DHCPINFORM is
    /// answered here (RFC 2131 §4.3.5: nobody behind the TUN would answer it; Windows asks
    /// for routes and the domain this way); anything else raced the session's publication
    /// and goes to the TUN.
    fn ip_from_client(&mut self, id: PeerId, key: l2tp::SessionKey, ip: &[u8]) {
        if let Some(session) = self.peers.get(&id).and_then(|p| p.sessions.get(&key)) {
            session.counters.inbound.add(ip.len());
        }
        match crate::dhcp::answer_inform(ip, &self.inform) {
            Some(reply) => {
                debug!(client = ?self.peers.get(&id).map(|p| p.tuple.remote), "DHCPINFORM answered");
                // The answer goes to the client's own address, through the data plane once
                // this input's changes are published.
                self.for_clients.push(reply);
            }
            None => self.out.push_back((Transmit::Tun, ip.to_vec())),
        }
    }

    /// Seals an IPv4 packet for a client through the data plane.
    fn send_to_client(&mut self, now: Instant, packet: &[u8]) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let _ = self
            .plane
            .handle()
            .outbound(now, packet, &mut batch, &mut self.rng);
        for (t, bytes) in batch.iter() {
            self.out.push_back((t, bytes.to_vec()));
        }
        self.batch = batch;
    }

    /// Takes what the data plane noted since the last input: signs of life (IKE dead peer
    /// detection counts from now), first use of a rekeyed SA (we follow the client), and ESP
    /// lifetime limits crossed.
    fn take_notes(&mut self, now: Instant) {
        let notes = self.plane.take_notes();
        for id in notes.active {
            if let Some(peer) = self.peers.get(&id) {
                // Re-arm the flag: the next packet notes the peer again.
                peer.activity.take();
                self.ike.note_activity(peer.ike, now);
            }
        }
        for (id, spi) in notes.first_use {
            if let Some(peer) = self.peers.get_mut(&id)
                && peer.follow_client_to(spi)
            {
                self.touch(id);
            }
        }
        for (id, spi_in, expiry) in notes.expiries {
            self.on_expiry(now, id, spi_in, expiry);
        }
    }

    /// Marks a peer for the end-of-input work.
    fn touch(&mut self, id: PeerId) {
        if self.touched_set.insert(id) {
            self.touched.push(id);
        }
    }

    /// The end of every input: drain the touched peers (their events may touch others),
    /// refresh their timers, publish their data-plane part, then send what the control plane
    /// has for clients.
    fn finish(&mut self, now: Instant) {
        // What the data plane noted during this input (a client on its rekeyed SA) counts
        // before anything is published or sent.
        self.take_notes(now);
        let mut specs = Vec::new();
        while let Some(id) = self.touched.pop() {
            self.touched_set.remove(&id);
            self.drain_peer(now, id);
            self.reschedule(id);
            let by_addr = &self.by_addr;
            let spec = self.peers.get(&id).map(|p| {
                p.spec(&self.settings, |addr, key| {
                    by_addr.get(&addr) == Some(&(id, key))
                })
            });
            specs.push((id, spec));
        }
        specs.extend(self.removed.drain(..).map(|id| (id, None)));
        if !specs.is_empty() {
            self.plane.publish(specs);
        }
        let awaiting = self.ike.awaiting_qm3_version();
        if awaiting != self.awaiting_qm3 {
            self.awaiting_qm3 = awaiting;
            self.plane
                .set_awaiting_qm3(self.ike.awaiting_qm3().collect());
        }
        for packet in std::mem::take(&mut self.for_clients) {
            self.send_to_client(now, &packet);
        }
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    /// Puts a peer's next deadline in the ordered set.
    fn reschedule(&mut self, id: PeerId) {
        let next = self.peers.get(&id).and_then(|p| p.poll_timeout());
        let old = self.scheduled.get(&id).copied();
        if old == next {
            return;
        }
        if let Some(old) = old {
            self.timers.remove(&(old, id));
            self.scheduled.remove(&id);
        }
        if let Some(next) = next {
            self.timers.insert((next, id));
            self.scheduled.insert(id, next);
        }
    }

    /// Moves a peer whose NAT mapping changed to `new`. The data plane verified a packet from
    /// `new` under one of the peer's SAs (ICV and replay window). The IKE SAs, every ESP SA,
    /// the L2TP tunnels and PPP sessions, and the address routes move together. Returns false,
    /// moving nothing, if `new` belongs to another peer.
    fn move_peer(&mut self, id: PeerId, new: FourTuple) -> bool {
        let Some(old) = self.peers.get(&id).map(|p| p.tuple) else {
            return false;
        };
        if old == new {
            return true;
        }
        if self.by_tuple.contains_key(&new) {
            debug!(from = %old.remote, to = %new.remote, "authenticated ESP from a 4-tuple in use by another client; dropped");
            return false;
        }
        if !self.ike.rebind_peer(old, new) {
            debug!(from = %old.remote, to = %new.remote, "IKE state could not move; ESP packet dropped");
            return false;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return false;
        };
        peer.rebind(new);
        self.by_tuple.remove(&old);
        self.by_tuple.insert(new, id);
        if old.remote.ip() != new.remote.ip() {
            self.leave_source(old.remote.ip());
            *self.per_source.entry(new.remote.ip()).or_insert(0) += 1;
        }
        if let Some(info) = self.phase1.remove(&old) {
            self.phase1.insert(new, info);
        }
        self.touch(id);
        info!(from = %old.remote, to = %new.remote, "client's NAT mapping changed; its session moved to the new address and port");
        self.events.push_back(Event::ClientMoved {
            from: old.remote,
            to: new.remote,
        });
        true
    }

    fn leave_source(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_source.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&ip);
            }
        }
    }

    /// Acts on an ESP lifetime threshold crossed (RFC 2407 §4.5, RFC 4301 §4.4.2.1): the soft
    /// limit is reported once per pair; the hard limit deletes the pair with an IKE Delete.
    fn on_expiry(&mut self, now: Instant, id: PeerId, spi_in: u32, expiry: esp::Expiry) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let (client, ike_peer) = (peer.tuple.remote, peer.ike);
        match expiry {
            esp::Expiry::Soft => {
                if self.soft_reported.insert(spi_in) {
                    info!(%client, spi_in = format_args!("{spi_in:08x}"), "ESP SA reached its soft lifetime; the client is expected to rekey");
                    self.events.push_back(Event::EspLifetime {
                        client,
                        spi_in,
                        hard: false,
                    });
                }
            }
            esp::Expiry::Hard => {
                if !peer.children.iter().any(|c| c.spi_in == spi_in) {
                    return;
                }
                info!(%client, spi_in = format_args!("{spi_in:08x}"), "ESP SA reached its hard lifetime; deleting it");
                self.events.push_back(Event::EspLifetime {
                    client,
                    spi_in,
                    hard: true,
                });
                self.ike.delete_child(now, ike_peer, spi_in);
                self.after_ike(now);
            }
        }
    }

    // ---- engine outputs ---------------------------------------------------------------------

    fn after_ike(&mut self, now: Instant) {
        while let Some(t) = self.ike.poll_transmit() {
            self.out.push_back((
                Transmit::Udp {
                    local: t.local,
                    remote: t.remote,
                },
                t.payload,
            ));
        }
        while let Some(event) = self.ike.poll_event() {
            match event {
                ike::Event::Phase1Established { peer, info } => {
                    info!(client = %peer.remote, suite = %info.suite, nat = info.nat_detected, "IKE SA established");
                    if info.suite.is_legacy()
                        && self
                            .log
                            .allow(now, peer.remote.ip(), "legacy suite")
                            .is_some()
                    {
                        warn!(client = %peer.remote, suite = %info.suite, "the client negotiates a legacy IKE suite (Windows XP has nothing better; newer clients should not need it)");
                    }
                    if let Some(p) = self
                        .by_tuple
                        .get(&peer)
                        .and_then(|id| self.peers.get_mut(id))
                    {
                        p.phase1 = Some(info.clone());
                    }
                    self.phase1.insert(peer, info);
                }
                ike::Event::Phase1Keys { cky_i, enc_key, .. } if self.keylog => {
                    self.events.push_back(Event::KeylogLine(format!(
                        "ikev1_decryption_table: {},{}",
                        hex::encode(cky_i),
                        hex::encode(enc_key.as_bytes())
                    )));
                }
                ike::Event::ChildSaEstablished(child) => {
                    if self.keylog {
                        self.keylog_child(&child);
                    }
                    self.install_child(now, *child);
                }
                ike::Event::SaDeleted { spi_in, .. } => self.remove_child(now, spi_in),
                ike::Event::DeadPeer {
                    peer,
                    unanswered,
                    silent_secs,
                } => {
                    warn!(client = %peer.remote, unanswered, silent_secs, "the client stopped answering dead peer detection; disconnecting it");
                    self.phase1.remove(&peer);
                    self.remove_peer_at(
                        now,
                        peer,
                        "the client stopped answering dead peer detection (RFC 3706)",
                        EndCause::LostCarrier,
                    );
                }
                ike::Event::PeerGone { peer } => {
                    self.phase1.remove(&peer);
                    self.remove_peer_at(now, peer, "IKE SA gone", EndCause::LostService);
                }
                ike::Event::Refused { peer, reason } => {
                    let cause = Refusal {
                        layer: "ike",
                        cause: reason.label(),
                        windows_error: reason.windows_error(),
                    };
                    self.refuse(now, peer.remote, reason.to_string(), cause);
                }
                _ => {}
            }
        }
    }

    /// Wireshark `esp_sa` UAT lines for both directions of a child SA.
    fn keylog_child(&mut self, child: &ike::ChildSa) {
        let cipher = match child.cipher {
            crypto::cipher::CipherAlg::Des => "DES-CBC [RFC2405]",
            crypto::cipher::CipherAlg::TripleDes => "TripleDES-CBC [RFC2451]",
            _ => "AES-CBC [RFC3602]",
        };
        let integ = match child.integ {
            crypto::integ::IntegAlg::HmacMd5_96 => "HMAC-MD5-96 [RFC2403]",
            crypto::integ::IntegAlg::HmacSha1_96 => "HMAC-SHA-1-96 [RFC2404]",
            _ => "HMAC-SHA-256-128 [RFC4868]",
        };
        let (server, client) = (child.peer.local.ip(), child.peer.remote.ip());
        for (src, dst, spi, enc, auth) in [
            (
                client,
                server,
                child.spi_in,
                &child.enc_key_in,
                &child.auth_key_in,
            ),
            (
                server,
                client,
                child.spi_out,
                &child.enc_key_out,
                &child.auth_key_out,
            ),
        ] {
            self.events.push_back(Event::KeylogLine(format!(
                "esp_sa: \"IPv4\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{cipher}\",\"0x{}\",\"{integ}\",\"0x{}\"",
                hex::encode(enc.as_bytes()),
                hex::encode(auth.as_bytes())
            )));
        }
    }

    fn install_child(&mut self, now: Instant, child: ike::ChildSa) {
        let (encap, tuple) = match child.encapsulation {
            ike::Encapsulation::UdpTransport(_) => (
                esp::Encap::Udp {
                    local: child.peer.local,
                    remote: child.peer.remote,
                },
                child.peer,
            ),
            _ => (esp::Encap::None, child.peer.without_ports()),
        };
        if !self.by_tuple.contains_key(&tuple)
            && let Some((why, limit)) = self.peer_limit(tuple.remote.ip())
        {
            let cause = Refusal {
                layer: "limit",
                cause: limit,
                windows_error: Some(809),
            };
            self.refuse(now, child.peer.remote, why, cause);
            self.ike.delete_peer(now, child.peer);
            self.after_ike(now);
            return;
        }
        let lifetime = child.lifetime_kb.map_or(esp::Lifetime::UNLIMITED, |kb| {
            esp::Lifetime::from_kilobytes(kb, 90)
        });
        let params = |direction, spi, enc: &crypto::Secret, auth: &crypto::Secret| esp::SaParams {
            spi,
            direction,
            cipher: child.cipher,
            enc_key: enc.clone(),
            integ: child.integ,
            auth_key: auth.clone(),
            encap,
            peer: tuple,
            lifetime,
        };
        let inbound = esp::Sa::new(params(
            esp::Direction::Inbound,
            child.spi_in,
            &child.enc_key_in,
            &child.auth_key_in,
        ));
        let outbound = esp::Sa::new(params(
            esp::Direction::Outbound,
            child.spi_out,
            &child.enc_key_out,
            &child.auth_key_out,
        ));
        let (inbound, outbound) = match (inbound, outbound) {
            (Ok(i), Ok(o)) => (Arc::new(i), Arc::new(o)),
            (Err(e), _) | (_, Err(e)) => {
                warn!(client = %child.peer.remote, error = %e, "could not build ESP SAs; the client will time out");
                return;
            }
        };
        if self.by_spi.contains_key(&child.spi_in) {
            warn!(client = %child.peer.remote, spi_in = format_args!("{:08x}", child.spi_in), "inbound SPI already in use; ESP SAs not installed");
            return;
        }
        info!(
            client = %child.peer.remote,
            spi_in = format_args!("{:08x}", child.spi_in),
            spi_out = format_args!("{:08x}", child.spi_out),
            suite = %child.suite,
            nat_t = encap.is_udp(),
            "ESP SAs installed"
        );
        let id = match self.by_tuple.get(&tuple) {
            Some(&id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let mut seed = [0; 32];
                self.rng.fill_bytes(&mut seed);
                let peer = Peer::new(id, child.peer, tuple, &self.settings, seed);
                self.peers.insert(id, Box::new(peer));
                self.by_tuple.insert(tuple, id);
                *self.per_source.entry(tuple.remote.ip()).or_insert(0) += 1;
                id
            }
        };
        let phase1 = self.phase1.get(&child.peer).cloned();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.ike = child.peer;
        if phase1.is_some() {
            peer.phase1 = phase1;
        }
        if child.nat_oa_i.is_some() {
            peer.nat_oa = child.nat_oa_i;
        }
        peer.install_child(ChildPair {
            spi_in: child.spi_in,
            inbound,
            outbound,
            suite: match child.encapsulation {
                ike::Encapsulation::Transport => format!("{} transport", child.suite),
                _ => format!("{} UDP-encap transport", child.suite),
            },
            established: now,
            lifetime: Duration::from_secs(child.lifetime_secs),
        });
        self.by_spi.insert(child.spi_in, id);
        self.touch(id);
    }

    /// Why a new peer from `source` would exceed `limits.max_peers` or
    /// `limits.peers_per_source_ip`, if it would.
    /// Why a new peer from `source` is refused, if it is: the log line and the cause name.
    fn peer_limit(&self, source: IpAddr) -> Option<(String, &'static str)> {
        let limits = &self.config.limits;
        if self.peers.len() >= limits.max_peers as usize {
            return Some((
                format!(
                    "server full: {} clients connected (limits.max_peers) -> Windows error 809",
                    self.peers.len()
                ),
                "max_peers",
            ));
        }
        let here = self.per_source.get(&source).copied().unwrap_or(0);
        if here >= limits.peers_per_source_ip {
            return Some((
                format!(
                    "too many clients behind this address: {here} connected (limits.peers_per_source_ip) -> Windows error 809"
                ),
                "peers_per_source_ip",
            ));
        }
        None
    }

    fn remove_child(&mut self, now: Instant, spi_in: u32) {
        self.soft_reported.remove(&spi_in);
        let Some(id) = self.by_spi.remove(&spi_in) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.remove_child(spi_in) {
            return;
        }
        debug!(client = %peer.tuple.remote, spi_in = format_args!("{spi_in:08x}"), "ESP SA pair deleted");
        if peer.children.is_empty() {
            self.remove_peer(now, id, "all ESP SAs deleted", EndCause::LostService);
        } else {
            self.touch(id);
        }
    }

    fn remove_peer_at(&mut self, now: Instant, peer: FourTuple, why: &str, cause: EndCause) {
        let raw = peer.without_ports();
        let id = self
            .by_tuple
            .get(&peer)
            .or_else(|| {
                self.by_tuple
                    .get(&raw)
                    .filter(|id| self.peers.get(id).is_some_and(|p| p.ike == peer))
            })
            .copied();
        if let Some(id) = id {
            self.remove_peer(now, id, why, cause);
        }
    }

    fn remove_peer(&mut self, now: Instant, id: PeerId, why: &str, cause: EndCause) {
        // What the peer had queued (a goodbye) still goes out.
        self.drain_peer(now, id);
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        self.by_tuple.remove(&peer.tuple);
        self.leave_source(peer.tuple.remote.ip());
        for child in &peer.children {
            self.by_spi.remove(&child.spi_in);
            self.soft_reported.remove(&child.spi_in);
        }
        if let Some(at) = self.scheduled.remove(&id) {
            self.timers.remove(&(at, id));
        }
        let client = peer.tuple.remote;
        let phase1 = peer.phase1.take();
        for session in peer.sessions.drain() {
            let os = os_hint(phase1.as_ref(), &session);
            let cause = session.end.unwrap_or(cause);
            self.end_session(now, id, client, session, (why, cause), os);
        }
        self.removed.push(id);
    }

    fn end_session(
        &mut self,
        now: Instant,
        id: PeerId,
        client: SocketAddr,
        session: crate::peer::Session,
        (why, cause): (&str, EndCause),
        os_hint: String,
    ) {
        // Keep the link's anti-spoofing drops in the global counter after the link is gone.
        self.counters.spoofed += session.link.stats().spoofed_drops;
        let assigned = session.addr.or_else(|| session.link.assigned_address());
        if let Some(addr) = assigned {
            if let Some(pool) = &mut self.pool {
                pool.release(addr);
            }
            if self.by_addr.get(&addr) == Some(&(id, session.ids)) {
                self.by_addr.remove(&addr);
            }
        }
        if let Some(user) = &session.user {
            self.logins.session_ended(user);
        }
        let ended = SessionId {
            peer: id,
            key: session.ids,
        };
        self.routes.retain(|(_, s)| *s != ended);
        info!(%client, user = %session.user.as_deref().unwrap_or("-").printable(), reason = why, "session closed");
        let (packets_in, bytes_in) = session.counters.inbound.get();
        let (packets_out, bytes_out) = session.counters.outbound.get();
        self.events.push_back(Event::SessionDown {
            session: SessionId {
                peer: id,
                key: session.ids,
            },
            user: session.user,
            client,
            reason: why.to_owned(),
            cause,
            addr: session.addr,
            os_hint,
            connected: now.saturating_duration_since(session.since),
            traffic: SessionTraffic {
                bytes_in,
                bytes_out,
                packets_in,
                packets_out,
            },
            routes: session.routes.to_vec(),
        });
        if !session.routes.is_empty() {
            self.hand_over_routes(&session.routes);
        }
    }

    /// Networks a session that ended held (`freed`) go to the sessions that wanted an
    /// overlapping network and were refused it because that session held it: a branch router
    /// that reconnects before its old session timed out gets its network once the old one
    /// ends. Each such session claims its whole list again ([`Event::RoutesChanged`]).
    fn hand_over_routes(&mut self, freed: &[Ipv4Network]) {
        let waiting = self.up_sessions_where(|_, session, user| {
            Self::wanted_routes_of(&self.users, session, user)
                .into_iter()
                .any(|(net, ..)| {
                    !session.routes.contains(&net) && freed.iter().any(|f| users::overlaps(net, *f))
                })
                .then_some(())
        });
        for w in waiting {
            self.reclaim_routes(w, "routes handed over from a session that ended");
        }
    }

    fn disconnect_session(
        &mut self,
        now: Instant,
        id: PeerId,
        key: l2tp::SessionKey,
        why: &str,
        cause: EndCause,
    ) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.sessions.contains_key(&key) {
            return;
        }
        let only = peer.sessions.len() <= 1;
        peer.close_session(now, key, why, cause, &self.settings);
        if only {
            // The client has nothing else here: tear down its tunnel and IPsec too.
            peer.close_all(now, why, cause, &self.settings);
            let ike_peer = peer.ike;
            self.touch(id);
            self.drain_peer(now, id);
            self.ike.delete_peer(now, ike_peer);
            self.after_ike(now);
        } else {
            self.touch(id);
        }
    }

    /// Fixes the limits of a session whose IPCP just came up: what a remote verifier granted,
    /// else the user's entry in users.yaml, else the `ppp:` defaults. The peer's deadline is
    /// refreshed at the end of the input.
    fn fix_policy(&mut self, now: Instant, id: PeerId, key: l2tp::SessionKey, user: &str) {
        let entry = self.users.get(user);
        let Some(session) = self
            .peers
            .get_mut(&id)
            .and_then(|p| p.sessions.get_mut(&key))
        else {
            return;
        };
        let pick = |granted: Option<Duration>, own: Option<u32>, default: Option<Duration>| {
            granted.or_else(|| match own {
                Some(s) => secs(s),
                None => default,
            })
        };
        let session_timeout = pick(
            session.granted.0,
            entry.and_then(|u| u.session_timeout_secs),
            self.settings.session_timeout,
        );
        let idle_timeout = pick(
            session.granted.1,
            entry.and_then(|u| u.idle_timeout_secs),
            self.settings.idle_timeout,
        );
        session.policy = (session_timeout.is_some() || idle_timeout.is_some()).then(|| {
            crate::peer::Policy::new(session_timeout, idle_timeout, now, session.packet_count())
        });
        let rate_limit = session
            .granted_rate
            .or_else(|| file_rate_limit(&self.users, self.settings.rate_limit, user));
        session.policer = rate_limit
            .and_then(|r| crate::dataplane::police::Policer::new(r, now))
            .map(Arc::new);
    }

    /// The networks session `session` of `user` asks for, each with its gateway and where it
    /// came from: what a remote verifier granted (Framed-Route), else `users`' `routes`.
    fn wanted_routes_of(
        users: &Users,
        session: &crate::peer::Session,
        user: &str,
    ) -> Vec<(Ipv4Network, Option<Ipv4Addr>, &'static str)> {
        if session.granted_routes.is_empty() {
            users.get(user).map_or_else(Vec::new, |u| {
                u.routes.iter().map(|r| (*r, None, "users.yaml")).collect()
            })
        } else {
            session
                .granted_routes
                .iter()
                .filter_map(|r| {
                    let net = Ipv4Network::new(r.network, r.prefix_len).ok()?;
                    Some((net, r.gateway, "Framed-Route"))
                })
                .collect()
        }
    }

    /// Routes to a session whose IPCP just came up the networks behind its client: what a
    /// remote verifier granted (Framed-Route, RFC 2865 §5.22), else the user's users.yaml
    /// `routes`. A network is refused with a warning when it is the default route, overlaps
    /// the pool, names a gateway other than the session's address, or overlaps a network
    /// already routed to another session (the first keeps it). Returns the networks routed.
    fn claim_routes(&mut self, id: SessionId, addr: Ipv4Addr, user: &str) -> Vec<Ipv4Network> {
        // Renegotiated IPCP: what the session held is claimed again.
        self.routes.retain(|(_, s)| *s != id);
        let Some(session) = self
            .peers
            .get_mut(&id.peer)
            .and_then(|p| p.sessions.get_mut(&id.key))
        else {
            return Vec::new();
        };
        let wanted = Self::wanted_routes_of(&self.users, session, user);
        let pool = self.pool.as_ref().map(Pool::network);
        let mut granted = Vec::new();
        for (net, gateway, from) in wanted {
            let refused = if net.prefix() == 0 {
                Some("it is the default route".to_owned())
            } else if let Some(pool) = pool.filter(|p| users::overlaps(net, *p)) {
                Some(format!("it overlaps the pool {pool}"))
            } else if let Some(g) = gateway.filter(|g| *g != addr) {
                Some(format!(
                    "its gateway {g} is not the session's address {addr}"
                ))
            } else if let Some((held, _)) =
                self.routes.iter().find(|(r, _)| users::overlaps(net, *r))
            {
                Some(format!(
                    "it overlaps {held}, already routed to another session"
                ))
            } else if granted.iter().any(|r| users::overlaps(net, *r)) {
                Some("the session lists it twice".to_owned())
            } else {
                None
            };
            match refused {
                Some(why) => {
                    warn!(user = %user.printable(), %addr, route = %net, "{from} {net} not routed to this session: {why}");
                }
                None => {
                    self.routes.push((net, id));
                    granted.push(net);
                }
            }
        }
        if !granted.is_empty() {
            let list = granted
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            info!(user = %user.printable(), %addr, routes = %list, "networks routed to the session");
        }
        session.routes = granted.clone().into();
        granted
    }

    /// Changes the rate limits of a session in force (`None` lifts them), for example on a
    /// RADIUS CoA-Request (RFC 5176 §3.2); the new buckets start full and are published at
    /// once. Returns whether the session exists and carries IPv4 (IPCP up); before that, the
    /// limits are fixed when IPCP comes up and this call changes nothing.
    pub fn set_rate_limit(
        &mut self,
        now: Instant,
        id: SessionId,
        limit: Option<config::RateLimit>,
    ) -> bool {
        let Some(session) = self
            .peers
            .get_mut(&id.peer)
            .and_then(|p| p.sessions.get_mut(&id.key))
            .filter(|s| s.link.ip_up())
        else {
            return false;
        };
        session.policer = limit
            .and_then(|r| crate::dataplane::police::Policer::new(r, now))
            .map(Arc::new);
        session.rate_set = true;
        self.touch(id.peer);
        self.finish(now);
        true
    }

    /// Takes a peer's sealed packets and acts on its events.
    fn drain_peer(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        while let Some(t) = peer.poll_transmit() {
            self.out.push_back(t);
        }
        let client = peer.tuple.remote;
        let mut events = Vec::new();
        while let Some(e) = peer.poll_event() {
            events.push(e);
        }
        for event in events {
            match event {
                PeerEvent::Authenticated { key, user, method } => {
                    if self.auth_order.uses_remote() {
                        let remote = self
                            .peers
                            .get(&id)
                            .and_then(|p| p.sessions.get(&key))
                            .is_some_and(|s| s.link.verified_remotely());
                        let decided_by = if remote {
                            "the authentication server"
                        } else {
                            "users.yaml"
                        };
                        info!(user = %user.printable(), %client, decided_by, "login accepted");
                    }
                    self.logins.succeeded(&user, client.ip());
                    self.events.push_back(Event::Authenticated {
                        user,
                        client,
                        method: match method {
                            ppp::AuthProtocol::MsChapV2 => "mschapv2",
                            ppp::AuthProtocol::Chap => "chap",
                            ppp::AuthProtocol::MsChapV1 => "mschapv1",
                            ppp::AuthProtocol::Pap => "pap",
                        },
                    });
                }
                PeerEvent::AuthRequest {
                    key,
                    ticket,
                    request,
                } => {
                    debug!(%client, user = %request.user.printable(), method = %request.method, "login handed to the authentication server");
                    self.events.push_back(Event::AuthRequest {
                        session: SessionId { peer: id, key },
                        client,
                        ticket,
                        request,
                    });
                }
                PeerEvent::AuthFailed {
                    user,
                    reason,
                    windows_error,
                } => {
                    // An attempt refused unchecked guessed nothing, and one the authentication
                    // server failed to decide was no guess: neither lengthens the wait of a
                    // user who is retrying.
                    if !matches!(
                        reason,
                        ppp::AuthFailure::Throttled { .. }
                            | ppp::AuthFailure::SessionLimit { .. }
                            | ppp::AuthFailure::PortLimit { .. }
                            | ppp::AuthFailure::NoVerdict
                            | ppp::AuthFailure::IncompleteAccept
                    ) {
                        self.logins.failed(now, &user, client.ip());
                    }
                    // With a remote verifier in use, say when the users file decided.
                    let local = self.auth_order.uses_remote()
                        && matches!(
                            reason,
                            ppp::AuthFailure::UnknownUser
                                | ppp::AuthFailure::UserDisabled
                                | ppp::AuthFailure::WrongPassword
                                | ppp::AuthFailure::CleartextRequired
                        );
                    let message = format!(
                        "user {}: {reason}{} -> Windows error {windows_error}",
                        user.printable(),
                        if local { " (users.yaml)" } else { "" }
                    );
                    let cause = Refusal {
                        layer: "ppp",
                        cause: auth_cause(&reason),
                        windows_error: Some(windows_error),
                    };
                    self.refuse(now, client, message, cause);
                }
                PeerEvent::IpUp { key, addr } => {
                    let peer = self.peers.get(&id);
                    let session = peer.and_then(|p| p.sessions.get(&key));
                    let os_hint = session.map_or_else(String::new, |s| {
                        os_hint(peer.and_then(|p| p.phase1.as_ref()), s)
                    });
                    let (ike_auth, ike_peer_id) = ike_auth(peer.and_then(|p| p.phase1.as_ref()));
                    let user = session.and_then(|s| s.user.clone()).unwrap_or_default();
                    let mru = session.map_or(u16::MAX, |s| s.link.peer_mru());
                    let setup =
                        session.map_or(Duration::ZERO, |s| now.saturating_duration_since(s.since));
                    info!(%client, user = %user.printable(), %addr, "IPCP up: address assigned");
                    if mru < self.settings.tun_mtu {
                        info!(%client, mru, tun_mtu = self.settings.tun_mtu, "the client takes packets of at most {mru} bytes, less than tun.mtu: larger ones are fragmented, or answered with ICMP \"fragmentation needed\" when they forbid it");
                    }
                    self.by_addr.insert(addr, (id, key));
                    self.fix_policy(now, id, key, &user);
                    let routes = self.claim_routes(SessionId { peer: id, key }, addr, &user);
                    self.events.push_back(Event::SessionUp {
                        session: SessionId { peer: id, key },
                        user,
                        addr,
                        client,
                        setup,
                        os_hint,
                        ike_auth,
                        ike_peer_id,
                        routes,
                    });
                }
                PeerEvent::Ended {
                    session,
                    why,
                    cause,
                } => {
                    let phase1 = self.peers.get(&id).and_then(|p| p.phase1.as_ref());
                    let os = os_hint(phase1, &session);
                    self.end_session(now, id, client, *session, (&why, cause), os);
                }
                PeerEvent::EspLifetime { spi_in, expiry } => {
                    self.on_expiry(now, id, spi_in, expiry);
                }
            }
        }
    }

    /// Logs a refusal (at most once per source and reason per minute, through a bounded
    /// table) and reports it to the daemon.
    fn refuse(&mut self, now: Instant, client: SocketAddr, message: String, cause: Refusal) {
        if let Some(suppressed) = self.log.allow(now, client.ip(), &message) {
            if suppressed > 0 {
                warn!(%client, suppressed, "{message} (and {suppressed} refusals not logged: rate limit)");
            } else {
                warn!(%client, "{message}");
            }
        }
        self.events.push_back(Event::Refused {
            client,
            message,
            cause,
        });
    }
}

/// A number of seconds from the configuration, 0 meaning none.
/// The rate limit the files give `user`: its users.yaml entry's, else the `ppp:` default. A
/// remote verifier's or a CoA-Request's limit, when there is one, goes before this.
fn file_rate_limit(
    users: &Users,
    default: Option<config::RateLimit>,
    user: &str,
) -> Option<config::RateLimit> {
    users.get(user).and_then(|u| u.rate_limit).or(default)
}

fn secs(s: u32) -> Option<Duration> {
    (s > 0).then(|| Duration::from_secs(u64::from(s)))
}

/// What a client says it is: its MS NT5 vendor ID version, its first two LCP Identification
/// messages and its L2TP vendor name, joined with `, ` (the `status` OS column).
/// How a peer authenticated in phase 1, for `status` and hooks: "psk", "cert" or "other"
/// (empty when phase 1 is not known), and the certificate subject for "cert".
fn ike_auth(phase1: Option<&ike::Phase1Info>) -> (String, Option<String>) {
    match phase1.map(|p| &p.auth) {
        None => (String::new(), None),
        Some(ike::PeerAuth::Psk) => ("psk".to_owned(), None),
        Some(ike::PeerAuth::Certificate { subject, .. }) => {
            ("cert".to_owned(), Some(subject.clone()))
        }
        Some(_) => ("other".to_owned(), None),
    }
}

fn os_hint(phase1: Option<&ike::Phase1Info>, session: &crate::peer::Session) -> String {
    let mut os = Vec::new();
    if let Some(p) = phase1
        && let Some(v) = p.vendor.ms_nt5_version
    {
        os.push(format!("MS NT5 v{v} ({})", windows_name(v)));
    }
    os.extend(session.link.identifications().iter().take(2).cloned());
    if !session.vendor.is_empty() {
        os.push(format!("L2TP vendor {}", session.vendor));
    }
    os.join(", ")
}

/// A short, stable name for a failed PPP authentication (a metrics label).
fn auth_cause(reason: &ppp::AuthFailure) -> &'static str {
    match reason {
        ppp::AuthFailure::UnknownUser => "unknown_user",
        ppp::AuthFailure::UserDisabled => "user_disabled",
        ppp::AuthFailure::WrongPassword => "wrong_password",
        ppp::AuthFailure::Throttled { .. } => "throttled",
        ppp::AuthFailure::SessionLimit { .. } | ppp::AuthFailure::PortLimit { .. } => {
            "session_limit"
        }
        ppp::AuthFailure::CleartextRequired => "cleartext_required",
        ppp::AuthFailure::MalformedResponse => "malformed_response",
        ppp::AuthFailure::NoResponse => "no_response",
        ppp::AuthFailure::Rejected { .. } => "rejected_by_auth_server",
        ppp::AuthFailure::NoVerdict => "auth_server_timeout",
        ppp::AuthFailure::IncompleteAccept => "incomplete_accept",
        _ => "other",
    }
}

/// The Windows release behind an MS NT5 ISAKMPOAKLEY vendor ID version (the list in
/// ike-scan's `ike-vendor-ids` and Openswan's `vendor.c`).
fn windows_name(version: u32) -> &'static str {
    match version {
        2 => "Windows 2000",
        3 => "Windows XP SP1",
        4 => "Windows XP SP2/SP3 or Server 2003",
        5 => "Windows Vista",
        6 => "Windows Server 2008",
        7 => "Windows 7",
        8 => "Windows Server 2008 R2",
        9 => "Windows 8 or later",
        10 => "Windows Server 2012",
        _ => "Windows",
    }
}

fn session_state(link: &ppp::Link) -> String {
    if link.is_down() {
        "down".to_owned()
    } else if link.assigned_address().is_some() && link.ipcp_state() == ppp::State::Opened {
        "up".to_owned()
    } else if link.user().is_some() {
        "IPCP".to_owned()
    } else if link.lcp_state() == ppp::State::Opened {
        "authenticating".to_owned()
    } else {
        "LCP".to_owned()
    }
}

fn ike_config(config: &ServerConfig) -> ike::ResponderConfig {
    let mut c = ike::ResponderConfig::new(config.psk.clone());
    c.policy = ike::Policy {
        modern: config.ike.profiles.contains(&config::Profile::Modern),
        legacy: config.ike.profiles.contains(&config::Profile::Legacy),
        des: config.ike.legacy_des,
        modp768: config.ike.modp768,
    };
    c.nat_d_trick = config.ike.nat_d_trick;
    c.nat_t_port = config.listen.nat_t_port;
    c.raw_esp = config.listen.raw_esp;
    c.max_half_open = config.limits.half_open_ike_sas as usize;
    c.max_half_open_per_ip = config.limits.half_open_per_source_ip as usize;
    c.dh_rate_limit.per_second = config.limits.key_exchanges_per_source_per_second;
    c.dh_rate_limit.burst = config
        .limits
        .key_exchanges_per_source_per_second
        .saturating_mul(2);
    c.dpd_interval = match config.ike.dpd_interval_secs {
        0 => None,
        secs => Some(Duration::from_secs(u64::from(secs))),
    };
    c.dpd_failures = config.ike.dpd_failures;
    let lt = &config.ike.lifetimes;
    c.phase1_lifetime.min_secs = u64::from(lt.ike_min_secs);
    c.phase1_lifetime.max_secs = u64::from(lt.ike_max_secs);
    c.phase2_lifetime.min_secs = u64::from(lt.esp_min_secs);
    c.phase2_lifetime.max_secs = u64::from(lt.esp_max_secs);
    c.certificates = config.certificates.as_ref().and_then(certificate_auth);
    c
}

/// The responder's certificate settings from the loaded `certificates:` block. `None` (with an
/// error logged) only if the CAs no longer build a verifier, which the configuration check has
/// already refused.
fn certificate_auth(c: &config::CertificateConfig) -> Option<ike::CertificateAuth> {
    let verifier = match c.verifier() {
        Ok(v) => v,
        Err(e) => {
            error!(error = %e, "certificate authentication off: the configured CAs are unusable");
            return None;
        }
    };
    Some(ike::CertificateAuth {
        chain: c.chain_der.clone(),
        key: Arc::clone(&c.key.0),
        verifier: Arc::new(verifier),
        accept: c.accept.clone(),
        allow_psk: c.allow_psk,
    })
}

fn inform_config(config: &ServerConfig) -> crate::dhcp::InformConfig {
    let mut c = crate::dhcp::InformConfig::new(config.pool.server_address);
    c.routes = config
        .client_routes
        .iter()
        .map(|n| (n.network(), n.prefix()))
        .collect();
    c.domain.clone_from(&config.client_domain);
    c.dns.clone_from(&config.dns);
    c
}

fn lns_config(config: &ServerConfig) -> l2tp::LnsConfig {
    let mut c = l2tp::LnsConfig::default();
    c.host_name.clone_from(&config.l2tp.host_name);
    c.hello_interval = Duration::from_secs(u64::from(config.l2tp.hello_interval_secs));
    c.receive_window = config.l2tp.receive_window;
    c.retransmit.max_retries = config.l2tp.max_retransmits;
    c.secret = config
        .l2tp
        .tunnel_secret
        .as_ref()
        .map(|s| l2tp::TunnelSecret::new(s.as_bytes().to_vec()));
    c.max_tunnels = config.limits.tunnels_per_peer as usize;
    c.max_sessions_per_tunnel = config.limits.sessions_per_tunnel as usize;
    c
}

fn link_config(config: &ServerConfig, our_addr: Ipv4Addr) -> ppp::LinkConfig {
    let mut c = ppp::LinkConfig {
        our_addr,
        dns: [config.dns.first().copied(), config.dns.get(1).copied()],
        wins: [config.wins.first().copied(), config.wins.get(1).copied()],
        mru: config.ppp.mru,
        echo_interval: Duration::from_secs(u64::from(config.ppp.echo_interval_secs)),
        echo_failures: config.ppp.echo_failures,
        server_name: config.l2tp.host_name.clone(),
        ..ppp::LinkConfig::default()
    };
    c.auth_protocols = config
        .ppp
        .auth
        .iter()
        .map(|a| match a {
            config::AuthProtocol::MsChapV2 => ppp::AuthProtocol::MsChapV2,
            config::AuthProtocol::Chap => ppp::AuthProtocol::Chap,
            config::AuthProtocol::MsChapV1 => ppp::AuthProtocol::MsChapV1,
        })
        .collect();
    if config.ppp.pap && !c.auth_protocols.contains(&ppp::AuthProtocol::Pap) {
        c.auth_protocols.push(ppp::AuthProtocol::Pap);
    }
    c
}

#[cfg(test)]
mod session_id_tests {
    use super::SessionId;

    #[test]
    fn session_id_text_round_trips_and_rejects_junk() {
        let id = SessionId {
            peer: 0x1a,
            key: l2tp::SessionKey {
                tunnel: 7,
                session: 0xbeef,
            },
        };
        assert_eq!(id.to_string(), "1a-0007beef");
        assert_eq!("1a-0007beef".parse::<SessionId>(), Ok(id));
        for junk in [
            "",
            "1a",
            "-0007beef",
            "1a-0007bee",
            "1a-0007beefx",
            "zz-0007beef",
            "1a-00+7beef",
            "11111111111111111-00070003",
        ] {
            assert!(junk.parse::<SessionId>().is_err(), "{junk}");
        }
    }
}

#[cfg(test)]
mod certificate_tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use pki::issue::{self, Spec};
    use rsa::pkcs1::DecodeRsaPrivateKey;

    use super::ike_config;

    fn key() -> pki::PrivateKey {
        let k = openssl::rsa::Rsa::generate(2048).unwrap();
        pki::PrivateKey::from_pkcs1_der(&k.private_key_to_der().unwrap()).unwrap()
    }

    #[test]
    fn the_responder_gets_the_loaded_certificates_as_they_are() {
        let now = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        let day = Duration::from_secs(86_400);
        let ca_key = key();
        let ca_spec = Spec::ca("CN=CA", vec![1], now - day, now + 30 * day).unwrap();
        let ca = issue::certificate(&ca_spec, &ca_key.to_public_key(), None, &ca_key).unwrap();
        let server_key = key();
        let spec = Spec::server("CN=vpn", vec![2], now - day, now + day, vec![], vec![]).unwrap();
        let cert =
            issue::certificate(&spec, &server_key.to_public_key(), Some(&ca), &ca_key).unwrap();
        let certs = config::CertificateConfig {
            files: config::CertificateFiles {
                certificate: "server.crt".into(),
                key: "server.key".into(),
                ca: vec!["ca.crt".into()],
                crl: vec![],
            },
            chain_der: vec![der::Encode::to_der(&cert).unwrap()],
            chain: vec![cert.clone()],
            key: config::ServerKey(Arc::new(server_key)),
            cas: vec![ca],
            crls: vec![],
            accept: vec!["CN=*".parse().unwrap()],
            allow_psk: false,
            names: vec![],
        };
        let mut config = config::ServerConfig::default();
        assert!(ike_config(&config).certificates.is_none(), "off by default");
        config.certificates = Some(certs.clone());
        let auth = ike_config(&config).certificates.expect("handed over");
        assert_eq!(auth.chain, certs.chain_der);
        assert!(
            Arc::ptr_eq(&auth.key, &certs.key.0),
            "the key is shared, not copied"
        );
        assert_eq!(auth.accept, certs.accept);
        assert!(!auth.allow_psk);
        // The verifier holds the configured CA: it accepts the server's own certificate and
        // nothing past its validity.
        auth.verifier.verify(&cert, &[], now).unwrap();
        assert!(auth.verifier.verify(&cert, &[], now + 2 * day).is_err());
    }
}
