//! [`Client`]: a whole L2TP/IPsec client built from the engines' client roles — the IKE
//! initiator (RFC 2409 Main Mode PSK + Quick Mode transport, NAT-T per RFC 3947 or the drafts),
//! two ESP SAs (RFC 4303, UDP-encapsulated per RFC 3948 or plain), the L2TP LAC (RFC 2661 §7.3)
//! and the PPP peer (RFC 1661, MS-CHAPv2 RFC 2759, IPCP RFC 1332/1877) — driven like the server:
//! `handle_udp` / `handle_esp` / `handle_timeout` in, `poll_transmit` / `poll_timeout` out.
//!
//! The client adds what a real client's stack does around the engines:
//! - IKE retransmission with the Windows backoff 1, 2, 4, 8, 16, 32 s (ike-scan's backoff
//!   pattern of Windows as a responder; that the initiator uses it too is an inference,
//!   docs/clients.md#windows-xp-ike); a server retransmission of a message we already
//!   answered gets our answer again (RFC 2408 §5 leaves this to the implementation; every stack
//!   does it), which recovers a lost Quick Mode message 3.
//! - The inner UDP header of L2TP: from the profile's port to 1701, checksum over our private
//!   address (Windows) or 0 (xl2tpd), see docs/clients.md#inner-udp-checksum.
//! - A CHAP Response that gets neither Success nor Failure is sent again every 3 s: a lost
//!   Success would otherwise leave the client waiting while the server runs IPCP (RFC 1994
//!   §4.1: "the authenticator MUST allow repeated Response packets"). The PPP peer role has
//!   no such timer.
//! - PPP frames the PPP peer role does not negotiate: LCP Identification, CCP and IPV6CP
//!   Configure-Requests (docs/clients.md#windows-lcp-identification,
//!   docs/clients.md#windows-ccp, docs/clients.md#windows-ipcp), sent once LCP is open.
//! - Rekeying as Windows does: [`Client::rekey`] runs a new Quick Mode on the IKE SA,
//!   [`Client::rekey_ike`] a new Main Mode (from the floated 4-tuple, without INITIAL-CONTACT)
//!   and then a Quick Mode; the client also rekeys by itself when an ESP SA crosses 90 % of
//!   its kilobyte lifetime. Sending moves to the new pair at once; the old pair keeps receiving
//!   for a grace period and is then deleted with an IKE Delete (and the old IKE SA too).
//! - DPD R-U-THERE from the server is answered with R-U-THERE-ACK (RFC 3706 §5); IKE
//!   Informationals are never retransmitted on a timer.
//! - The Microsoft Correlation ID AVP in the ICRQ (MS-L2TPIE §2.2.1.1,
//!   docs/clients.md#windows-l2tp), spliced into the LAC's
//!   first transmission of the ICRQ (a retransmitted ICRQ goes out without it).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wire::FourTuple;

use crypto::Secret;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, trace};
use wire::ip::{Protocol, udp};
use wire::l2tp::{AvpRepr, MessageType};
use wire::ppp::control::{Options, Repr as ControlRepr};

use crate::Error;
use crate::profile::Profile;
use crate::tally::Traffic;

/// The IKE port (IANA `isakmp`, UDP 500).
pub const IKE_PORT: u16 = 500;
/// The NAT-T port (RFC 3948 §2).
pub const NAT_T_PORT: u16 = 4500;
/// The L2TP port (RFC 2661 §8.1).
pub const L2TP_PORT: u16 = 1701;

/// The first IKE retransmission interval; it doubles after each try
/// (docs/clients.md#windows-xp-ike).
const IKE_RETRANSMIT_INITIAL: Duration = Duration::from_secs(1);
/// Retransmissions of one IKE message before giving up (docs/clients.md#windows-xp-ike: seven
/// packets in all).
const IKE_RETRANSMIT_TRIES: u32 = 6;
/// Resend interval of an unanswered CHAP Response (the PPP restart timer, RFC 1661 §4.6).
const CHAP_RETRANSMIT_INTERVAL: Duration = Duration::from_secs(3);
/// Resends of one CHAP Response (Max-Configure, RFC 1661 §4.6, would allow 10).
const CHAP_RETRANSMIT_TRIES: u32 = 5;
/// Identifiers of the LCP/CCP/IPV6CP packets the client adds (above the PPP peer's own).
const EXTRA_IDENTIFIER_BASE: u8 = 0xa0;
/// How long the old ESP SA pair (and the old IKE SA) is kept after a rekey before the client
/// deletes it: packets the server sent on the old SA before it saw the new one in use are
/// still accepted meanwhile. A local choice (how long Windows waits is unverified); Windows
/// deletes the old SA after the rekey.
const DEFAULT_OLD_SA_GRACE: Duration = Duration::from_secs(2);
/// Server IKE messages whose answers are kept for its retransmissions.
const ANSWER_CACHE: usize = 32;
/// The ISAKMP Informational exchange type (RFC 2408 §3.1): never retransmitted on a timer.
const INFORMATIONAL: u8 = 5;
/// The soft ESP lifetime, in percent of the negotiated kilobytes (as the server's).
const SOFT_LIFETIME_PERCENT: u8 = 90;

/// Where a datagram produced by [`Client::poll_transmit`] goes; the payload is in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// A UDP datagram from `local` (our private address) to `remote`.
    Udp {
        /// Our address and port.
        local: SocketAddr,
        /// The server's address and port.
        remote: SocketAddr,
    },
    /// A raw ESP (IP protocol 50) packet from the ESP header on.
    Esp {
        /// Our address.
        local: Ipv4Addr,
        /// The server's address.
        remote: Ipv4Addr,
    },
}

/// How far the client got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Stage {
    /// `connect` not called yet.
    Idle,
    /// Main Mode in progress.
    MainMode,
    /// Quick Mode in progress.
    QuickMode,
    /// The L2TP control connection is being set up.
    L2tpTunnel,
    /// The L2TP incoming call is being set up.
    L2tpSession,
    /// PPP (LCP, authentication, IPCP) in progress.
    Ppp,
    /// IPCP is open: IP packets flow.
    Up,
    /// Something failed or the server closed the connection (see [`Client::events`]).
    Down,
}

/// What happened to the client, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Main Mode finished.
    Phase1Up {
        /// The suite the server chose ("3DES-SHA1-MODP1024").
        suite: String,
        /// The NAT-T dialect in use.
        nat_t: Option<ike::NatDialect>,
        /// Whether the server's NAT-D made us believe we are behind NAT.
        nat_detected: bool,
        /// Whether the server's NAT-D said the server is behind NAT (Windows would refuse).
        server_behind_nat: bool,
    },
    /// Quick Mode finished and the ESP SAs are installed.
    EspUp {
        /// Our inbound SPI.
        spi_in: u32,
        /// The server's SPI.
        spi_out: u32,
        /// Whether ESP runs over UDP 4500.
        udp: bool,
        /// The ESP suite.
        suite: String,
    },
    /// The server refused the IKE negotiation or its messages did not verify.
    IkeRefused(String),
    /// The server stopped answering IKE.
    IkeTimeout,
    /// The L2TP control connection is up.
    TunnelUp {
        /// Our tunnel ID.
        tunnel: u16,
        /// The server's tunnel ID.
        peer_tunnel: u16,
    },
    /// The L2TP session is up.
    SessionUp {
        /// Our tunnel and session IDs.
        key: l2tp::SessionKey,
    },
    /// PPP authentication succeeded.
    Authenticated,
    /// PPP authentication failed.
    AuthFailed {
        /// The Windows error the server reported (691).
        windows_error: u32,
    },
    /// IPCP is open.
    IpUp {
        /// Our address.
        addr: Ipv4Addr,
        /// The server's address.
        server: Ipv4Addr,
        /// DNS servers given.
        dns: [Option<Ipv4Addr>; 2],
        /// WINS servers given.
        wins: [Option<Ipv4Addr>; 2],
    },
    /// A rekey finished: a new ESP SA pair is installed and used for sending; the old pair
    /// still receives until it is deleted.
    EspRekeyed {
        /// Our new inbound SPI.
        spi_in: u32,
        /// The server's new SPI.
        spi_out: u32,
    },
    /// An old ESP SA pair is gone (we deleted it after a rekey, or the server did).
    EspDeleted {
        /// Our inbound SPI of the pair.
        spi_in: u32,
        /// Whether the server's Delete removed it.
        by_server: bool,
    },
    /// The L2TP session, tunnel or PPP link went down.
    Down(String),
}

/// Everything one client needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// How the client behaves.
    pub profile: Profile,
    /// Our (private) address.
    pub local: Ipv4Addr,
    /// The server's public address.
    pub server: Ipv4Addr,
    /// The pre-shared key.
    pub psk: Secret,
    /// The PPP user name.
    pub user: String,
    /// The PPP password (never printed).
    pub password: String,
    /// Seeds every random choice of this client.
    pub rng_seed: [u8; 32],
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("profile", &self.profile.name)
            .field("local", &self.local)
            .field("server", &self.server)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Counters of what the client dropped or passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// IKE retransmissions sent.
    pub ike_retransmits: u64,
    /// Server IKE retransmissions answered from the reply cache.
    pub ike_duplicates_answered: u64,
    /// ESP packets dropped (unknown SPI, ICV, replay, not UDP, wrong port).
    pub esp_dropped: u64,
    /// L2TP datagrams the LAC refused.
    pub l2tp_dropped: u64,
    /// IPv4 packets received from the server.
    pub ip_in: u64,
    /// IPv4 packets sent to the server.
    pub ip_out: u64,
    /// DPD R-U-THEREs from the server answered with R-U-THERE-ACK.
    pub dpd_answered: u64,
}

struct IkeRetransmit {
    local: SocketAddr,
    remote: SocketAddr,
    payload: Vec<u8>,
    next: Instant,
    interval: Duration,
    tries: u32,
}

struct PppRetransmit {
    frame: Vec<u8>,
    next: Instant,
    tries: u32,
}

struct Child {
    inbound: esp::Sa,
    outbound: esp::Sa,
    udp: bool,
    local: SocketAddr,
    remote: SocketAddr,
}

/// A superseded ESP SA pair, kept for inbound until `delete_at` (never when `None`).
struct OldChild {
    child: Child,
    delete_at: Option<Instant>,
}

/// A superseded IKE SA, deleted at `delete_at`.
struct OldIke {
    ike: ike::Initiator,
    delete_at: Option<Instant>,
}

/// One simulated L2TP/IPsec client.
pub struct Client {
    config: ClientConfig,
    ike_config: ike::InitiatorConfig,
    ike: ike::Initiator,
    /// Authenticate phase 1 with this certificate instead of the pre-shared key.
    certificate: Option<ike::InitiatorCertificate>,
    /// IKE SAs replaced by a Main Mode rekey, until deleted.
    old_ike: Vec<OldIke>,
    /// A Main Mode rekey is running on `ike`: its Quick Mode follows phase 1.
    ike_rekeying: bool,
    /// A Quick Mode rekey is running.
    esp_rekeying: bool,
    /// Start a Quick Mode rekey when an ESP SA crosses its soft kilobyte lifetime.
    auto_rekey: bool,
    old_sa_grace: Option<Duration>,
    rng: ChaCha20Rng,
    stage: Stage,
    retransmit: Option<IkeRetransmit>,
    /// Server messages we answered, and our answer (for their retransmissions).
    answered: Vec<(Vec<u8>, SocketAddr, SocketAddr, Vec<u8>)>,
    child: Option<Child>,
    old_children: Vec<OldChild>,
    lac: l2tp::Lac,
    session: Option<l2tp::SessionKey>,
    correlation_pending: bool,
    ppp: Option<ppp::Peer>,
    /// Our last CHAP Response, resent until Success or Failure arrives.
    chap_retransmit: Option<PppRetransmit>,
    extras_sent: bool,
    addr: Option<Ipv4Addr>,
    out: VecDeque<(Transmit, Vec<u8>)>,
    /// A lifetime threshold an outbound packet crossed, acted on after sending.
    pending_expiry: Option<esp::Expiry>,
    events: Vec<ClientEvent>,
    ip_in: VecDeque<Vec<u8>>,
    stats: ClientStats,
    traffic: Traffic,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("stage", &self.stage)
            .field("addr", &self.addr)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn v4(a: SocketAddr) -> Ipv4Addr {
    match a.ip() {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

impl Client {
    /// A client that has not started; call [`Client::connect`].
    pub fn new(config: ClientConfig) -> Self {
        let mut rng = ChaCha20Rng::from_seed(config.rng_seed);
        let mut ike_seed = [0u8; 32];
        rng.fill_bytes(&mut ike_seed);
        let mut lac_seed = [0u8; 32];
        rng.fill_bytes(&mut lac_seed);
        let p = &config.profile;
        let ike_config = ike::InitiatorConfig {
            psk: config.psk.clone(),
            local: SocketAddr::new(IpAddr::V4(config.local), IKE_PORT),
            remote: SocketAddr::new(IpAddr::V4(config.server), IKE_PORT),
            ike_proposals: p.ike_proposals.clone(),
            esp_proposals: p.esp_proposals.clone(),
            vendor_ids: p.vendor_ids.clone(),
            initial_contact: p.initial_contact,
            l2tp_port: p.ike_id_port,
            tunnel_mode: false,
            pfs: p.pfs,
        };
        let lac_config = l2tp::LacConfig {
            host_name: p.host_name.clone(),
            vendor_name: p.vendor_name.clone(),
            firmware_revision: p.firmware_revision,
            receive_window: p.receive_window,
            tunnel_id: p.tunnel_id,
            first_session_id: p.session_id,
            data_length_field: p.data_length_field,
            ..l2tp::LacConfig::default()
        };
        Self {
            ike: ike::Initiator::new(ike_config.clone(), ike_seed),
            certificate: None,
            ike_config,
            old_ike: Vec::new(),
            ike_rekeying: false,
            esp_rekeying: false,
            auto_rekey: true,
            old_sa_grace: Some(DEFAULT_OLD_SA_GRACE),
            old_children: Vec::new(),
            lac: l2tp::Lac::new(lac_config, lac_seed),
            rng,
            config,
            stage: Stage::Idle,
            retransmit: None,
            answered: Vec::new(),
            child: None,
            session: None,
            correlation_pending: false,
            ppp: None,
            chap_retransmit: None,
            extras_sent: false,
            addr: None,
            out: VecDeque::new(),
            pending_expiry: None,
            events: Vec::new(),
            ip_in: VecDeque::new(),
            stats: ClientStats::default(),
            traffic: Traffic::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// How far the client got.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Whether IPCP is open.
    pub fn is_up(&self) -> bool {
        self.stage == Stage::Up
    }

    /// Our assigned address, once IPCP is open.
    pub fn assigned_address(&self) -> Option<Ipv4Addr> {
        self.addr
    }

    /// Everything that happened, in order.
    pub fn events(&self) -> &[ClientEvent] {
        &self.events
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// The datagrams sent and received so far, by kind.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Our L2TP tunnel and session IDs, once the session was requested.
    pub fn l2tp_session(&self) -> Option<l2tp::SessionKey> {
        self.session
    }

    /// The IKE 4-tuple the client uses now (ports 4500 after a float).
    pub fn ike_peer(&self) -> FourTuple {
        self.ike.peer()
    }

    /// Authenticates phase 1 with an RSA signature and this certificate instead of the
    /// pre-shared key (RFC 2409 §5.1), also in Main Mode rekeys; `None`: the pre-shared key.
    /// Call before [`Client::connect`].
    pub fn set_certificate(&mut self, cert: Option<ike::InitiatorCertificate>) {
        self.ike.set_certificate(cert.clone());
        self.certificate = cert;
    }

    /// Starts Main Mode.
    pub fn connect(&mut self, now: Instant) -> Result<(), Error> {
        self.ike.connect(now)?;
        self.stage = Stage::MainMode;
        self.pump_ike(now, None);
        Ok(())
    }

    /// A UDP datagram arrived on our `local` address from `remote`.
    pub fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        match local.port() {
            IKE_PORT => {
                self.traffic.received.ike(payload);
                self.ike_in(now, local, remote, payload);
            }
            NAT_T_PORT => match wire::natt::Repr::parse(payload) {
                Ok(wire::natt::Repr::Ike(msg)) => {
                    self.traffic.received.ike(msg);
                    self.ike_in(now, local, remote, msg);
                }
                Ok(wire::natt::Repr::Esp(esp)) => {
                    let dropped = self.stats.esp_dropped;
                    self.esp_in(now, esp);
                    if self.stats.esp_dropped != dropped {
                        self.traffic.received.other += 1;
                    }
                }
                Ok(wire::natt::Repr::Keepalive) => self.traffic.received.natt_keepalive += 1,
                Err(_) => {
                    self.traffic.received.other += 1;
                    self.stats.esp_dropped += 1;
                }
            },
            _ => {
                self.traffic.received.other += 1;
                self.stats.esp_dropped += 1;
            }
        }
    }

    /// A raw ESP packet (IP protocol 50) arrived; `esp` starts at the ESP header.
    pub fn handle_esp(&mut self, now: Instant, local: Ipv4Addr, remote: Ipv4Addr, esp: &[u8]) {
        let _ = (local, remote);
        if self.child.as_ref().is_some_and(|c| c.udp) {
            // The SA runs over UDP: raw ESP for it is not ours.
            self.stats.esp_dropped += 1;
            return;
        }
        self.esp_in(now, esp);
    }

    /// Starts a Quick Mode rekey on the current IKE SA (RFC 2409 §5.5), as Windows does before
    /// its ESP lifetime ends. When it finishes, sending moves to the new SA pair at once; the
    /// old pair keeps receiving for the grace period ([`Client::set_old_sa_grace`]) and is
    /// then deleted with an IKE Delete.
    pub fn rekey(&mut self, now: Instant) -> Result<(), Error> {
        if self.child.is_none() {
            return Err(Error::NotReady("no ESP SA to rekey"));
        }
        self.ike.start_quick_mode(now)?;
        self.esp_rekeying = true;
        self.pump_ike(now, None);
        Ok(())
    }

    /// Starts a new Main Mode from the current 4-tuple (port 4500 after a float), then a Quick
    /// Mode on it, as Windows does at the end of the IKE SA lifetime. The rekey announces no
    /// INITIAL-CONTACT (RFC 2407 §4.6.3.3: that is for a peer that lost its state). After the
    /// grace period the old ESP pair and the old IKE SA are deleted.
    pub fn rekey_ike(&mut self, now: Instant) -> Result<(), Error> {
        if self.child.is_none() || !self.ike.is_established() {
            return Err(Error::NotReady("no IKE SA to rekey"));
        }
        let peer = self.ike.peer();
        let mut cfg = self.ike_config.clone();
        cfg.local = peer.local;
        cfg.remote = peer.remote;
        cfg.initial_contact = false;
        cfg.vendor_ids
            .retain(|v| v.as_slice() != ike::vendor::MS_INITIAL_CONTACT.as_slice());
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let mut fresh = ike::Initiator::new(cfg, seed);
        fresh.set_certificate(self.certificate.clone());
        let old = std::mem::replace(&mut self.ike, fresh);
        self.old_ike.push(OldIke {
            ike: old,
            delete_at: None,
        });
        self.ike_rekeying = true;
        self.ike.connect(now)?;
        self.pump_ike(now, None);
        Ok(())
    }

    /// How long an old SA is kept after a rekey before we delete it; `None` never deletes it
    /// (it then lives until the server deletes it or it expires).
    pub fn set_old_sa_grace(&mut self, grace: Option<Duration>) {
        self.old_sa_grace = grace;
    }

    /// Whether crossing a soft kilobyte lifetime starts a Quick Mode rekey (on by default).
    pub fn set_auto_rekey(&mut self, on: bool) {
        self.auto_rekey = on;
    }

    /// Our inbound and the server's SPI of the SA pair we send with.
    pub fn esp_spis(&self) -> Option<(u32, u32)> {
        self.child
            .as_ref()
            .map(|c| (c.inbound.spi(), c.outbound.spi()))
    }

    /// Our inbound SPIs of superseded SA pairs not yet deleted.
    pub fn old_esp_spis(&self) -> Vec<u32> {
        self.old_children
            .iter()
            .map(|o| o.child.inbound.spi())
            .collect()
    }

    /// How many IKE SAs we hold (more than one between a Main Mode rekey and the Delete of
    /// the old IKE SA).
    pub fn ike_sa_count(&self) -> usize {
        1 + self.old_ike.len()
    }

    /// Time has passed; a spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.delete_old(now);
        if let Some(r) = &mut self.retransmit
            && now >= r.next
        {
            if r.tries >= IKE_RETRANSMIT_TRIES {
                self.retransmit = None;
                self.fail(ClientEvent::IkeTimeout);
            } else {
                r.tries += 1;
                r.next = now + r.interval;
                r.interval = r.interval.saturating_mul(2);
                let t = Transmit::Udp {
                    local: r.local,
                    remote: r.remote,
                };
                let payload = r.payload.clone();
                self.stats.ike_retransmits += 1;
                debug!(tries = r.tries, "IKE retransmission");
                self.out.push_back((t, payload));
            }
        }
        let mut resend = None;
        if let Some(r) = &mut self.chap_retransmit
            && now >= r.next
        {
            if r.tries >= CHAP_RETRANSMIT_TRIES {
                self.chap_retransmit = None;
            } else {
                r.tries += 1;
                r.next = now + CHAP_RETRANSMIT_INTERVAL;
                resend = Some(r.frame.clone());
            }
        }
        if let Some(frame) = resend {
            debug!("CHAP Response retransmission");
            if let Err(e) = self.send_frame(&frame) {
                debug!(error = %e, "client could not resend its CHAP Response");
            }
        }
        self.lac.handle_timeout(now);
        if let Some(ppp) = &mut self.ppp {
            ppp.handle_timeout(now);
        }
        self.drive(now);
    }

    /// The next datagram to send; its payload is written into `buf` (cleared first).
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        let (t, payload) = self.out.pop_front()?;
        if let Transmit::Udp { local, .. } = t {
            // ESP was counted when sealed (`seal_l2tp`).
            match (local.port(), wire::natt::Repr::parse(&payload)) {
                (IKE_PORT, _) => self.traffic.sent.ike(&payload),
                (_, Ok(wire::natt::Repr::Ike(msg))) => self.traffic.sent.ike(msg),
                (_, Ok(wire::natt::Repr::Keepalive)) => self.traffic.sent.natt_keepalive += 1,
                _ => {}
            }
        }
        buf.extend_from_slice(&payload);
        Some(t)
    }

    /// When [`Client::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let old = self
            .old_children
            .iter()
            .filter_map(|o| o.delete_at)
            .chain(self.old_ike.iter().filter_map(|o| o.delete_at))
            .min();
        [
            old,
            self.retransmit.as_ref().map(|r| r.next),
            self.chap_retransmit.as_ref().map(|r| r.next),
            self.lac.poll_timeout(),
            self.ppp.as_ref().and_then(ppp::Peer::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends an IPv4 packet to the server through PPP, L2TP and ESP. The packet is sent as
    /// given: its source need not be our address (to test anti-spoofing).
    pub fn send_ip(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        let ppp = self.ppp.as_mut().ok_or(Error::NotReady("no PPP session"))?;
        let mut frame = Vec::with_capacity(packet.len() + 4);
        ppp.encapsulate_ip(packet, &mut frame)?;
        self.send_frame(&frame)?;
        self.stats.ip_out += 1;
        self.drive(now);
        Ok(())
    }

    /// An ICMP Echo Request from our assigned address to `dst`.
    pub fn ping(&mut self, now: Instant, dst: Ipv4Addr, seq: u16) -> Result<(), Error> {
        let src = self.addr.ok_or(Error::NotReady("IPCP is not open"))?;
        let packet = crate::packet::icmp_echo(src, dst, false, 0x7e57, seq, b"l2tpd-rs testkit");
        self.send_ip(now, &packet)
    }

    /// The next IPv4 packet the server sent us.
    #[must_use]
    pub fn poll_ip(&mut self) -> Option<Vec<u8>> {
        self.ip_in.pop_front()
    }

    /// Every IPv4 packet received and not yet polled.
    pub fn received_ip(&self) -> impl Iterator<Item = &[u8]> {
        self.ip_in.iter().map(Vec::as_slice)
    }

    /// Hangs up: LCP Terminate-Request, then a StopCCN once the link is down.
    pub fn disconnect(&mut self, now: Instant) {
        if let Some(ppp) = &mut self.ppp {
            ppp.close(now, "user hung up");
        }
        self.drive(now);
        self.lac.close_all(now);
        self.drive(now);
    }

    // --- IKE ---

    fn ike_in(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, msg: &[u8]) {
        if let Some((_, l, r, reply)) = self.answered.iter().find(|(m, ..)| m.as_slice() == msg) {
            // A retransmission by the server: it did not get our answer.
            let t = Transmit::Udp {
                local: *l,
                remote: *r,
            };
            let reply = reply.clone();
            self.stats.ike_duplicates_answered += 1;
            self.out.push_back((t, reply));
            return;
        }
        // Dispatch by initiator cookie (RFC 2408 §3.1): after a Main Mode rekey the old IKE
        // SA still gets the server's messages until it is deleted.
        let icky = msg.get(..8);
        match self
            .old_ike
            .iter_mut()
            .find(|o| icky == Some(&o.ike.cookies().0[..]))
        {
            Some(old) => old.ike.handle_datagram(now, local, remote, msg),
            None => self.ike.handle_datagram(now, local, remote, msg),
        }
        self.pump_ike(now, Some(msg));
        self.drive(now);
    }

    /// Deletes superseded SAs whose grace period is over: an IKE Delete for our old inbound
    /// SPI (the server removes the pair), then a Delete for an old IKE SA.
    fn delete_old(&mut self, now: Instant) {
        let mut i = 0;
        while let Some(o) = self.old_children.get(i) {
            if o.delete_at.is_some_and(|t| t <= now) {
                let old = self.old_children.remove(i);
                let spi_in = old.child.inbound.spi();
                debug!(
                    spi_in = format_args!("{spi_in:08x}"),
                    "client deletes its old ESP SA"
                );
                if let Err(e) = self.ike.send_delete(now, spi_in) {
                    debug!(error = %e, "client could not send a Delete");
                }
                self.events.push(ClientEvent::EspDeleted {
                    spi_in,
                    by_server: false,
                });
            } else {
                i += 1;
            }
        }
        // The ESP Deletes go out before the Delete of an old IKE SA.
        self.pump_ike(now, None);
        let mut i = 0;
        while let Some(o) = self.old_ike.get(i) {
            if o.delete_at.is_some_and(|t| t <= now) {
                let mut old = self.old_ike.remove(i);
                if let Err(e) = old.ike.delete_ike_sa(now) {
                    debug!(error = %e, "client could not delete its old IKE SA");
                }
                while let Some(t) = old.ike.poll_transmit() {
                    self.out.push_back((
                        Transmit::Udp {
                            local: t.local,
                            remote: t.remote,
                        },
                        t.payload,
                    ));
                }
            } else {
                i += 1;
            }
        }
        self.pump_ike(now, None);
    }

    /// Drains the initiator; `answering` is the server message being processed, if any.
    fn pump_ike(&mut self, now: Instant, answering: Option<&[u8]>) {
        loop {
            let mut progressed = false;
            let mut sent = Vec::new();
            let mut deleted = Vec::new();
            for old in &mut self.old_ike {
                while let Some(t) = old.ike.poll_transmit() {
                    sent.push(t);
                }
                while let Some(e) = old.ike.poll_event() {
                    // The old IKE SA only carries Informationals now; a Delete of an ESP SA
                    // is handled like one on the current IKE SA.
                    if let ike::Event::SaDeleted { spi_out, .. } = e {
                        deleted.push(spi_out);
                    }
                }
            }
            for spi_out in deleted {
                progressed = true;
                self.server_deleted(spi_out);
            }
            while let Some(t) = self.ike.poll_transmit() {
                sent.push(t);
            }
            for t in sent {
                progressed = true;
                if let Some(m) = answering {
                    if self.answered.len() >= ANSWER_CACHE {
                        self.answered.remove(0);
                    }
                    self.answered
                        .push((m.to_vec(), t.local, t.remote, t.payload.clone()));
                }
                if isakmp_exchange(&t.payload) == Some(INFORMATIONAL) {
                    // DPD answers and Deletes are not retransmitted (RFC 3706 §5.5: the
                    // sender of R-U-THERE retransmits; a Delete is best effort, RFC 2408 §5.15).
                    if answering.is_some() {
                        self.stats.dpd_answered = self.ike.dpd_requests()
                            + self
                                .old_ike
                                .iter()
                                .map(|o| o.ike.dpd_requests())
                                .sum::<u64>();
                    }
                } else {
                    self.retransmit = Some(IkeRetransmit {
                        local: t.local,
                        remote: t.remote,
                        payload: t.payload.clone(),
                        next: now + IKE_RETRANSMIT_INITIAL,
                        interval: IKE_RETRANSMIT_INITIAL.saturating_mul(2),
                        tries: 0,
                    });
                }
                self.out.push_back((
                    Transmit::Udp {
                        local: t.local,
                        remote: t.remote,
                    },
                    t.payload,
                ));
            }
            while let Some(e) = self.ike.poll_event() {
                progressed = true;
                self.ike_event(now, e);
            }
            if !progressed {
                break;
            }
        }
    }

    fn ike_event(&mut self, now: Instant, e: ike::Event) {
        match e {
            ike::Event::Phase1Established { .. } if self.ike_rekeying => {
                // The new IKE SA of a Main Mode rekey: its Quick Mode follows at once.
                self.retransmit = None;
                match self.ike.start_quick_mode(now) {
                    Ok(_) => self.esp_rekeying = true,
                    Err(e) => debug!(error = %e, "client could not start the rekey Quick Mode"),
                }
            }
            ike::Event::Phase1Established { info, .. } => {
                self.events.push(ClientEvent::Phase1Up {
                    suite: info.suite.to_string(),
                    nat_t: info.nat_t,
                    nat_detected: self.ike.nat_detected(),
                    server_behind_nat: self.ike.server_behind_nat(),
                });
                self.stage = Stage::QuickMode;
                if let Err(e) = self.ike.start_quick_mode(now) {
                    self.fail(ClientEvent::IkeRefused(e.to_string()));
                }
            }
            ike::Event::ChildSaEstablished(child) => {
                // Quick Mode message 3 is never retransmitted on a timer; a server
                // retransmission of message 2 gets it again from `answered`.
                self.retransmit = None;
                if self.child.is_some() {
                    self.rekeyed(now, &child);
                    return;
                }
                match install(&child) {
                    Ok(c) => {
                        self.events.push(ClientEvent::EspUp {
                            spi_in: child.spi_in,
                            spi_out: child.spi_out,
                            udp: c.udp,
                            suite: child.suite.to_string(),
                        });
                        self.child = Some(c);
                        self.stage = Stage::L2tpTunnel;
                        if let Err(e) = self.lac.connect(now, L2TP_PORT) {
                            self.fail(ClientEvent::Down(format!("L2TP connect: {e}")));
                        }
                    }
                    Err(e) => self.fail(ClientEvent::IkeRefused(format!("ESP SA: {e}"))),
                }
            }
            ike::Event::Refused { reason, .. } => {
                self.retransmit = None;
                self.fail(ClientEvent::IkeRefused(reason.to_string()));
            }
            ike::Event::SaDeleted { spi_out, .. } => self.server_deleted(spi_out),
            ike::Event::PeerGone { .. } => {
                self.fail(ClientEvent::Down(
                    "the server deleted the IPsec SA".to_owned(),
                ));
            }
            _ => {}
        }
    }

    /// A rekey Quick Mode finished: send with the new pair from now on, keep the old one for
    /// inbound until the grace period ends.
    fn rekeyed(&mut self, now: Instant, child: &ike::ChildSa) {
        self.esp_rekeying = false;
        let new = match install(child) {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "client could not install the rekeyed ESP SAs");
                return;
            }
        };
        let delete_at = self.old_sa_grace.map(|g| now + g);
        if let Some(old) = self.child.replace(new) {
            self.old_children.push(OldChild {
                child: old,
                delete_at,
            });
        }
        if self.ike_rekeying {
            self.ike_rekeying = false;
            for o in &mut self.old_ike {
                o.delete_at = o.delete_at.or(delete_at);
            }
        }
        debug!(
            spi_in = format_args!("{:08x}", child.spi_in),
            spi_out = format_args!("{:08x}", child.spi_out),
            "client switched to the rekeyed ESP SAs"
        );
        self.events.push(ClientEvent::EspRekeyed {
            spi_in: child.spi_in,
            spi_out: child.spi_out,
        });
    }

    /// The server deleted the ESP SA pair whose outbound SPI (its inbound SPI) is `spi_out`.
    fn server_deleted(&mut self, spi_out: u32) {
        if let Some(i) = self
            .old_children
            .iter()
            .position(|o| o.child.outbound.spi() == spi_out)
        {
            let old = self.old_children.remove(i);
            self.events.push(ClientEvent::EspDeleted {
                spi_in: old.child.inbound.spi(),
                by_server: true,
            });
            return;
        }
        if self
            .child
            .as_ref()
            .is_some_and(|c| c.outbound.spi() == spi_out)
        {
            let gone = self.child.take();
            if let Some(c) = gone {
                self.events.push(ClientEvent::EspDeleted {
                    spi_in: c.inbound.spi(),
                    by_server: true,
                });
            }
            // Fall back to the newest older pair, if any; without one the connection is gone.
            self.child = self.old_children.pop().map(|o| o.child);
            if self.child.is_none() {
                self.fail(ClientEvent::Down(
                    "the server deleted the IPsec SA".to_owned(),
                ));
            }
        }
    }

    /// Starts a Quick Mode rekey when an SA crossed its soft lifetime (RFC 4301 §4.4.2.1).
    fn on_expiry(&mut self, now: Instant, expiry: Option<esp::Expiry>) {
        if expiry == Some(esp::Expiry::Soft) && self.auto_rekey && !self.esp_rekeying {
            debug!("client ESP SA reached its soft lifetime; rekeying");
            if let Err(e) = self.rekey(now) {
                debug!(error = %e, "client could not start a rekey");
            }
        }
    }

    // --- ESP ---

    fn esp_in(&mut self, now: Instant, esp: &[u8]) {
        let spi = esp
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        let child = self
            .child
            .iter()
            .chain(self.old_children.iter().map(|o| &o.child))
            .find(|c| Some(c.inbound.spi()) == spi);
        let Some(child) = child else {
            self.stats.esp_dropped += 1;
            return;
        };
        let mut buf = esp.to_vec();
        let opened = match child.inbound.open(&mut buf) {
            Ok(o) => o,
            Err(e) => {
                debug!(error = %e, "client dropped an ESP packet");
                self.stats.esp_dropped += 1;
                return;
            }
        };
        if opened.next_header != Protocol::Udp {
            self.stats.esp_dropped += 1;
            return;
        }
        let verify = (!child.udp).then(|| udp::PseudoHeader {
            src_addr: v4(child.remote),
            dst_addr: v4(child.local),
        });
        let Some(datagram) = buf.get(opened.payload.clone()) else {
            self.stats.esp_dropped += 1;
            return;
        };
        let parsed = udp::Packet::new_checked(datagram).and_then(|p| {
            let repr = udp::Repr::parse(&p, verify)?;
            Ok((repr, p))
        });
        let Ok((repr, packet)) = parsed else {
            self.stats.esp_dropped += 1;
            return;
        };
        if repr.dst_port != self.config.profile.l2tp_port {
            self.stats.esp_dropped += 1;
            return;
        }
        let Some(l2tp_msg) = packet.payload().get(..repr.payload_len) else {
            self.stats.esp_dropped += 1;
            return;
        };
        self.traffic.received.l2tp(l2tp_msg);
        let frame = match self.lac.handle_datagram(now, repr.src_port, l2tp_msg) {
            Ok(Some(data)) if Some(data.session) == self.session => Some(data.frame.to_vec()),
            Ok(_) => None,
            Err(e) => {
                debug!(error = %e, "client LAC dropped a datagram");
                self.stats.l2tp_dropped += 1;
                None
            }
        };
        if let Some(f) = &frame {
            trace!(frame = ?f, "client PPP frame in");
        }
        self.on_expiry(now, opened.expiry);
        if let (Some(frame), Some(ppp)) = (frame, self.ppp.as_mut())
            && let Some(ip) = ppp.handle_frame(now, &frame)
        {
            self.stats.ip_in += 1;
            self.ip_in.push_back(ip.to_vec());
        }
        self.drive(now);
    }

    /// Wraps an L2TP message in UDP (our port → `peer_port`) and ESP, and queues it.
    fn seal_l2tp(&mut self, peer_port: u16, l2tp_msg: &[u8]) -> Result<(), Error> {
        let child = self.child.as_ref().ok_or(Error::NotReady("no ESP SA"))?;
        let sa = &child.outbound;
        self.traffic.sent.l2tp(l2tp_msg);
        let udp_len = udp::HEADER_LEN + l2tp_msg.len();
        let head = sa.overhead_before();
        let mut buf = vec![0u8; sa.sealed_len(udp_len)];
        let body = buf
            .get_mut(head + udp::HEADER_LEN..head + udp_len)
            .ok_or(Error::NotReady("ESP buffer"))?;
        body.copy_from_slice(l2tp_msg);
        let checksum = self
            .config
            .profile
            .inner_udp_checksum
            .then(|| udp::PseudoHeader {
                src_addr: v4(child.local),
                dst_addr: v4(child.remote),
            });
        let datagram = buf.get_mut(head..).ok_or(Error::NotReady("ESP buffer"))?;
        udp::Repr {
            src_port: self.config.profile.l2tp_port,
            dst_port: peer_port,
            payload_len: l2tp_msg.len(),
        }
        .emit(datagram, checksum)?;
        let sealed = sa.seal(&mut buf, udp_len, Protocol::Udp, &mut self.rng)?;
        buf.truncate(sealed.len);
        self.pending_expiry = self.pending_expiry.or(sealed.expiry);
        let t = if child.udp {
            Transmit::Udp {
                local: child.local,
                remote: child.remote,
            }
        } else {
            Transmit::Esp {
                local: v4(child.local),
                remote: v4(child.remote),
            }
        };
        self.out.push_back((t, buf));
        Ok(())
    }

    fn send_frame(&mut self, frame: &[u8]) -> Result<(), Error> {
        let key = self.session.ok_or(Error::NotReady("no L2TP session"))?;
        trace!(frame = ?frame, "client PPP frame out");
        let mut msg = Vec::with_capacity(frame.len() + 16);
        let port = self.lac.encode_data(key, frame, &mut msg)?;
        self.seal_l2tp(port, &msg)
    }

    // --- L2TP and PPP ---

    fn drive(&mut self, now: Instant) {
        if let Some(e) = self.pending_expiry.take() {
            self.on_expiry(now, Some(e));
        }
        loop {
            let mut progressed = false;
            while let Some(t) = self.lac.poll_transmit() {
                progressed = true;
                let mut payload = t.payload;
                if self.correlation_pending && is_icrq(&payload) {
                    self.correlation_pending = false;
                    let mut guid = [0u8; 16];
                    self.rng.fill_bytes(&mut guid);
                    add_correlation_id(&mut payload, guid);
                }
                if let Err(e) = self.seal_l2tp(t.peer_port, &payload) {
                    debug!(error = %e, "client could not send an L2TP message");
                }
            }
            while let Some(e) = self.lac.poll_event() {
                progressed = true;
                self.l2tp_event(now, e);
            }
            let mut frames = Vec::new();
            let mut ppp_events = Vec::new();
            if let Some(ppp) = &mut self.ppp {
                while let Some(f) = ppp.poll_transmit() {
                    frames.push(f);
                }
                while let Some(e) = ppp.poll_event() {
                    ppp_events.push(e);
                }
                if !self.extras_sent && ppp.lcp_state() == ppp::State::Opened {
                    self.extras_sent = true;
                    frames.extend(extra_frames(&self.config.profile));
                }
            }
            for f in frames {
                progressed = true;
                if is_chap_response(&f) {
                    self.chap_retransmit = Some(PppRetransmit {
                        frame: f.clone(),
                        next: now + CHAP_RETRANSMIT_INTERVAL,
                        tries: 0,
                    });
                }
                if let Err(e) = self.send_frame(&f) {
                    debug!(error = %e, "client could not send a PPP frame");
                }
            }
            for e in ppp_events {
                progressed = true;
                self.ppp_event(e);
            }
            if !progressed {
                break;
            }
        }
    }

    fn l2tp_event(&mut self, now: Instant, e: l2tp::Event) {
        match e {
            l2tp::Event::TunnelUp {
                tunnel,
                peer_tunnel,
                ..
            } => {
                self.events.push(ClientEvent::TunnelUp {
                    tunnel,
                    peer_tunnel,
                });
                self.stage = Stage::L2tpSession;
                self.correlation_pending = self.config.profile.correlation_id;
                match self.lac.open_session(now, tunnel) {
                    Ok(key) => self.session = Some(key),
                    Err(e) => self.fail(ClientEvent::Down(format!("L2TP open_session: {e}"))),
                }
            }
            l2tp::Event::SessionUp { key, .. } if Some(key) == self.session => {
                self.events.push(ClientEvent::SessionUp { key });
                self.stage = Stage::Ppp;
                let p = &self.config.profile;
                let mut cfg = ppp::PeerConfig::new(&self.config.user, &self.config.password);
                cfg.auth_protocols = p.auth_protocols.clone();
                cfg.mru = p.mru;
                cfg.extra_lcp_options = p.lcp_extra_options.clone();
                cfg.request_dns = p.request_dns;
                cfg.request_wins = p.request_wins;
                let mut seed = [0u8; 32];
                self.rng.fill_bytes(&mut seed);
                self.ppp = Some(ppp::Peer::new(&cfg, seed, now));
            }
            l2tp::Event::SessionDown { key, reason } if Some(key) == self.session => {
                self.fail(ClientEvent::Down(format!("L2TP session down: {reason}")));
            }
            l2tp::Event::TunnelDown { reason, .. } => {
                self.fail(ClientEvent::Down(format!("L2TP tunnel down: {reason}")));
            }
            _ => {}
        }
    }

    fn ppp_event(&mut self, e: ppp::Event) {
        if matches!(
            e,
            ppp::Event::Authenticated { .. }
                | ppp::Event::AuthFailed { .. }
                | ppp::Event::Down { .. }
        ) {
            self.chap_retransmit = None;
        }
        match e {
            ppp::Event::Authenticated { .. } => self.events.push(ClientEvent::Authenticated),
            ppp::Event::AuthFailed { windows_error, .. } => {
                self.events.push(ClientEvent::AuthFailed { windows_error });
            }
            ppp::Event::IpUp {
                peer_addr,
                our_addr,
                dns,
                wins,
            } => {
                self.addr = Some(peer_addr);
                self.stage = Stage::Up;
                self.events.push(ClientEvent::IpUp {
                    addr: peer_addr,
                    server: our_addr,
                    dns,
                    wins,
                });
            }
            ppp::Event::Down { reason } => {
                self.addr = None;
                self.fail(ClientEvent::Down(format!("PPP down: {reason}")));
            }
            _ => {}
        }
    }

    fn fail(&mut self, e: ClientEvent) {
        debug!(event = ?e, "client down");
        self.events.push(e);
        self.stage = Stage::Down;
    }
}

/// Builds the two ESP SAs of a Quick Mode result.
fn install(child: &ike::ChildSa) -> Result<Child, esp::Error> {
    let udp = matches!(child.encapsulation, ike::Encapsulation::UdpTransport(_));
    let (local, remote) = (child.peer.local, child.peer.remote);
    let (encap, peer) = if udp {
        (
            esp::Encap::Udp { local, remote },
            FourTuple { local, remote },
        )
    } else {
        let strip = |a: SocketAddr| SocketAddr::new(a.ip(), 0);
        (
            esp::Encap::None,
            FourTuple {
                local: strip(local),
                remote: strip(remote),
            },
        )
    };
    let params = |spi, direction, enc_key: &Secret, auth_key: &Secret| esp::SaParams {
        spi,
        direction,
        cipher: child.cipher,
        enc_key: enc_key.clone(),
        integ: child.integ,
        auth_key: auth_key.clone(),
        encap,
        peer,
        lifetime: child.lifetime_kb.map_or(esp::Lifetime::UNLIMITED, |kb| {
            esp::Lifetime::from_kilobytes(kb, SOFT_LIFETIME_PERCENT)
        }),
    };
    Ok(Child {
        inbound: esp::Sa::new(params(
            child.spi_in,
            esp::Direction::Inbound,
            &child.enc_key_in,
            &child.auth_key_in,
        ))?,
        outbound: esp::Sa::new(params(
            child.spi_out,
            esp::Direction::Outbound,
            &child.enc_key_out,
            &child.auth_key_out,
        ))?,
        udp,
        local,
        remote,
    })
}

/// The Identification, CCP and IPV6CP frames a profile sends once LCP is open.
pub(crate) fn extra_frames(p: &Profile) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut id = EXTRA_IDENTIFIER_BASE;
    for message in &p.ppp_extras.identification {
        // RFC 1570 §2.1: the Magic-Number field; 0 because the PPP peer role does not expose
        // its negotiated magic number.
        let repr = ControlRepr::Identification {
            identifier: id,
            magic: 0,
            message,
        };
        frames.push(control_frame(wire::ppp::Protocol::Lcp, &repr));
        id = id.wrapping_add(1);
    }
    for (protocol, options) in [
        (wire::ppp::Protocol::Ccp, &p.ppp_extras.ccp_request),
        (wire::ppp::Protocol::Ipv6cp, &p.ppp_extras.ipv6cp_request),
    ] {
        if let Some(options) = options
            && let Ok(options) = Options::parse(options)
        {
            let repr = ControlRepr::ConfigureRequest {
                identifier: id,
                options,
            };
            frames.push(control_frame(protocol, &repr));
            id = id.wrapping_add(1);
        }
    }
    frames.retain(|f| !f.is_empty());
    frames
}

/// `FF 03`, the protocol, and the emitted control packet.
fn control_frame(protocol: wire::ppp::Protocol, repr: &ControlRepr<'_>) -> Vec<u8> {
    let mut frame = vec![wire::ppp::ADDRESS, wire::ppp::CONTROL];
    frame.extend_from_slice(&u16::from(protocol).to_be_bytes());
    let start = frame.len();
    frame.resize(start + repr.buffer_len(), 0);
    let emitted = frame
        .get_mut(start..)
        .is_some_and(|body| repr.emit(body).is_ok());
    if emitted { frame } else { Vec::new() }
}

/// Whether a PPP frame (as the PPP peer role sends it, `FF 03` and a 2-octet protocol) is a
/// CHAP Response (RFC 1994 §4.1, code 2).
fn is_chap_response(frame: &[u8]) -> bool {
    frame.get(..5) == Some(&[wire::ppp::ADDRESS, wire::ppp::CONTROL, 0xc2, 0x23, 0x02][..])
}

/// Whether an L2TP message is an ICRQ (its first AVP is Message Type 10, RFC 2661 §4.4.1).
fn is_icrq(msg: &[u8]) -> bool {
    let Ok(packet) = wire::l2tp::Packet::new_checked(msg) else {
        return false;
    };
    if !packet.is_control() {
        return false;
    }
    let Ok((avp, _)) = wire::l2tp::Avp::parse(packet.payload()) else {
        return false;
    };
    matches!(
        AvpRepr::parse(&avp),
        Ok(AvpRepr::MessageType(MessageType::Icrq))
    )
}

/// Appends the Microsoft Correlation ID AVP (vendor 311, type 1, M=0, 16-octet GUID;
/// MS-L2TPIE §2.2.1.1) to a control message and fixes its Length field.
fn add_correlation_id(msg: &mut Vec<u8>, guid: [u8; 16]) {
    let avp = AvpRepr::MsCorrelationId(guid);
    let start = msg.len();
    msg.resize(start + avp.buffer_len(), 0);
    let emitted = msg
        .get_mut(start..)
        .is_some_and(|out| avp.emit(false, out).is_ok());
    let Ok(len) = u16::try_from(msg.len()) else {
        msg.truncate(start);
        return;
    };
    if !emitted {
        msg.truncate(start);
        return;
    }
    let mut packet = wire::l2tp::Packet::new_unchecked(&mut msg[..]);
    if packet.has_length() {
        packet.set_length(len);
    }
}

/// The ISAKMP exchange type of an IKE datagram as sent (after the non-ESP marker on port 4500;
/// RFC 2408 §3.1: octet 18 of the header).
fn isakmp_exchange(payload: &[u8]) -> Option<u8> {
    let msg = payload.strip_prefix(&[0, 0, 0, 0]).unwrap_or(payload);
    msg.get(18).copied()
}
