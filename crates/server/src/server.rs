//! The [`Server`] state machine: the pipeline of DESIGN.md "Inbound path" and "Outbound path".
//!
//! - Inbound: UDP 500 → IKE; UDP 4500 → non-ESP marker? (RFC 3948 §2.2) → IKE, else ESP → SA by
//!   SPI, checked against the peer 4-tuple → transport-mode L2TP rules → that peer's L2TP LNS →
//!   PPP → IP packets with the session's source address → TUN.
//! - Outbound: TUN packet → destination = assigned address → session → PPP → L2TP data → inner
//!   UDP (1701 → the client's learned port) → ESP with the peer's current outbound SA → UDP (or
//!   raw ESP) to the peer's 4-tuple.
//!
//! Around the pipeline:
//! - Rekeying (RFC 2409 §5.5): a new ESP pair (from a new Quick Mode, or a new Main Mode from
//!   the same 4-tuple) is installed next to the old one. We keep sending on the old outbound SA
//!   until the client sends on the new inbound SA, and keep the old inbound SA until the client
//!   deletes it or it expires, so nothing is lost during the switch.
//! - NAT rebinding (RFC 3947/3948 leave it open; we apply the IKEv2 rule of RFC 7296 §2.23):
//!   an ESP packet from a new public address or port that verifies (ICV and replay window,
//!   RFC 4303 §3.4.3-§3.4.4) under a peer's SA moves that peer — IKE and ESP SAs, L2TP
//!   tunnels, PPP sessions — to the new 4-tuple. Anything else from a new 4-tuple is a counted
//!   drop.
//! - DHCPINFORM (RFC 2131 §4.3.5) from a client is answered by the server with the configured
//!   routes (RFC 3442 option 121 and Microsoft's 249) and domain; it never reaches the TUN.
//! - Liveness: every verified ESP packet is reported to the IKE responder, whose dead peer
//!   detection (RFC 3706) only probes peers that are otherwise silent.
//! - Kilobyte lifetimes (RFC 2407 §4.5): crossing the soft limit (90 %) is logged once per pair
//!   (the client is expected to rekey); at the hard limit the pair is deleted with an IKE Delete.
//!
//! Every peer is keyed by its outer 4-tuple and has its own L2TP tunnel table, so clients behind
//! one NAT that use the same inner addresses, ports, tunnel and session IDs never meet
//! (clients.md A.1 "Multiple clients behind one NAT", E.1).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::fastpath::{self, FastPath};
use crate::pool::Pool;
use crate::snapshot::{Counters, PeerRow, SessionRow, Snapshot};
use crate::users::{self, Users};

/// The L2TP port (RFC 2661 §8.1).
const L2TP_PORT: u16 = 1701;

/// Where a datagram produced by [`Server::poll_transmit`] goes. The payload is in the buffer
/// passed to `poll_transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// A UDP datagram from `local` (500 or 4500) to `remote`.
    Udp {
        /// Our address and port.
        local: SocketAddr,
        /// The peer's address and port.
        remote: SocketAddr,
    },
    /// A raw ESP (IP protocol 50) packet; the buffer holds the ESP header onward.
    Esp {
        /// Our address.
        local: Ipv4Addr,
        /// The peer's address.
        remote: Ipv4Addr,
    },
    /// An IPv4 packet for the TUN device.
    Tun,
}

/// Something the daemon may want to act on; logging happens inside the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Key material in Wireshark's formats, for `--keylog` (never logged).
    KeylogLine(String),
    /// A session came up (IPCP opened).
    SessionUp {
        /// The user.
        user: String,
        /// The assigned address.
        addr: Ipv4Addr,
        /// The client's public address.
        client: SocketAddr,
    },
    /// A session went down.
    SessionDown {
        /// The user, if authenticated.
        user: Option<String>,
        /// The client's public address.
        client: SocketAddr,
        /// Why, in plain words.
        reason: String,
    },
    /// A client was refused; `message` is the plain-words log line (with the Windows error).
    Refused {
        /// The client's public address.
        client: SocketAddr,
        /// What went wrong and what the user sees.
        message: String,
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

/// ESP SA identity inside a peer: our inbound SPI and the paired outbound SA.
#[derive(Debug)]
struct ChildPair {
    spi_in: u32,
    out: Arc<esp::Sa>,
    suite: String,
    established: Instant,
    lifetime: Duration,
}

/// A PPP session inside a peer's L2TP tunnel.
#[derive(Debug)]
struct Session {
    link: ppp::Link,
    /// Our tunnel and session IDs.
    ids: l2tp::SessionKey,
    /// The client's tunnel and session IDs.
    peer_ids: (u16, u16),
    host_name: String,
    vendor: String,
    since: Instant,
    addr: Option<Ipv4Addr>,
    user: Option<String>,
    packets_in: u64,
    packets_out: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// One IKE peer: an outer 4-tuple.
#[derive(Debug)]
struct Peer {
    ike: ike::Peer,
    tuple: esp::FourTuple,
    lns: l2tp::Lns,
    /// The client's L2TP UDP source port (learned from the decrypted datagrams).
    l2tp_port: u16,
    children: Vec<ChildPair>,
    /// Index into `children` of the SA pair we send with.
    current: Option<usize>,
    sessions: HashMap<l2tp::SessionKey, Session>,
    /// Our tunnel ID → the client's.
    peer_tunnels: HashMap<u16, u16>,
    phase1: Option<ike::Phase1Info>,
    nat_oa: Option<Ipv4Addr>,
}

/// The L2TP/IPsec server.
#[derive(Debug)]
pub struct Server {
    config: Config,
    users: Users,
    pool: Option<Pool>,
    ike: ike::Responder,
    sadb: esp::SaDb,
    peers: HashMap<esp::FourTuple, Peer>,
    /// Phase-1 facts that arrived before any child SA (the peer entry is made by Quick Mode).
    phase1: HashMap<ike::Peer, ike::Phase1Info>,
    /// Assigned address → the session that owns it.
    by_addr: HashMap<Ipv4Addr, (esp::FourTuple, l2tp::SessionKey)>,
    out: VecDeque<(Transmit, Vec<u8>)>,
    events: VecDeque<Event>,
    rng: ChaCha20Rng,
    started: Instant,
    counters: Counters,
    /// Refusals already logged, so each is logged once per client address and reason.
    logged: HashSet<(IpAddr, String)>,
    scratch: Vec<u8>,
    /// What a DHCPINFORM from a client is answered with (routes, domain, DNS).
    inform: wire::dhcp::inform::InformConfig,
    keylog: bool,
    /// Lifetime thresholds crossed by packets just sealed or opened: (peer, our inbound SPI of
    /// the pair, which limit).
    expiries: Vec<(esp::FourTuple, u32, esp::Expiry)>,
    /// Pairs (by our inbound SPI) whose soft limit was already reported.
    soft_reported: HashSet<u32>,
    /// The multi-core data path's table, once [`Server::fast_path`] was called.
    fast: Option<fastpath::Publisher>,
}

/// The credential and address look-ups PPP needs, over the users file and the pool.
struct Auth<'a> {
    users: &'a Users,
    pool: &'a mut Option<Pool>,
}

impl ppp::Authenticator for Auth<'_> {
    fn lookup(&mut self, user: &str) -> ppp::Lookup {
        match self.users.lookup(user) {
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
        let users::Lookup::Found { name, .. } = self.users.lookup(user) else {
            return None;
        };
        self.pool.as_mut()?.allocate(name)
    }
}

impl Server {
    /// A server with the given configuration and users. `rng_seed` seeds every random choice
    /// (SPIs, cookies, nonces, tunnel and session IDs, LCP magic, CHAP challenges).
    pub fn new(config: Config, users: Users, rng_seed: [u8; 32], now: Instant) -> Self {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let mut ike_seed = [0; 32];
        rng.fill_bytes(&mut ike_seed);
        let ike = ike::Responder::new(ike_config(&config), ike_seed);
        let inform = inform_config(&config);
        let pool = match Pool::from_config(&config.pool) {
            Ok(mut pool) => {
                pool.set_reservations(users.reservations());
                Some(pool)
            }
            Err(e) => {
                // Config::load validated the pool, so this is unreachable from the daemon; a
                // server without a pool still runs IKE and L2TP but assigns no address.
                warn!(error = %e, "address pool unusable; no addresses can be assigned");
                None
            }
        };
        Self {
            config,
            users,
            pool,
            ike,
            sadb: esp::SaDb::new(),
            peers: HashMap::new(),
            phase1: HashMap::new(),
            by_addr: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            started: now,
            counters: Counters::default(),
            logged: HashSet::new(),
            scratch: Vec::with_capacity(2048),
            inform,
            keylog: false,
            expiries: Vec::new(),
            soft_reported: HashSet::new(),
            fast: None,
        }
    }

    /// Turns on [`Event::KeylogLine`]: every IKE and ESP key in Wireshark's UAT formats
    /// (`ikev1_decryption_table`, `esp_sa`), for `l2tpd-rs run --keylog FILE`. Keys never go to
    /// the log; only this explicit switch lets them out, to a file the admin names.
    pub fn set_keylog(&mut self, on: bool) {
        self.keylog = on;
        self.ike.set_keylog(on);
    }

    /// A UDP datagram arrived on `local` from `remote`.
    pub fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
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
                Ok(wire::natt::Repr::Esp(esp)) => {
                    let tuple = esp::FourTuple { local, remote };
                    self.esp_in(now, tuple, esp);
                }
                Err(e) => {
                    self.counters.malformed += 1;
                    debug!(%remote, error = %e, "malformed datagram on the NAT-T port dropped");
                }
            }
        } else if local.port() == L2TP_PORT {
            // DESIGN.md "Security rules": L2TP only inside an ESP SA.
            self.counters.plaintext_l2tp_refused += 1;
            self.refuse_once(
                remote,
                "plain L2TP without IPsec refused (the client must use L2TP/IPsec with a pre-shared key) -> Windows error 789"
                    .to_owned(),
            );
        } else {
            self.counters.malformed += 1;
        }
        self.publish_fast_path_after_udp(local, remote, payload);
    }

    /// A raw ESP packet (IP protocol 50) arrived; `esp` starts at the ESP header.
    pub fn handle_esp(&mut self, now: Instant, local: Ipv4Addr, remote: Ipv4Addr, esp: &[u8]) {
        let tuple = esp::FourTuple {
            local: SocketAddr::new(IpAddr::V4(local), 0),
            remote: SocketAddr::new(IpAddr::V4(remote), 0),
        };
        self.esp_in(now, tuple, esp);
        self.publish_fast_path_for(tuple);
    }

    /// An IPv4 packet was read from the TUN device.
    pub fn handle_tun(&mut self, now: Instant, packet: &[u8]) {
        if packet.first().is_some_and(|b| b >> 4 == 6) {
            // The kernel's own IPv6 chatter on the TUN (router solicitations, MLD): the
            // pool is IPv4 only, so this is not an error.
            return;
        }
        let dst = match wire::ip::ipv4::Packet::new_checked(packet) {
            Ok(p) => p.dst_addr(),
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let Some(&(tuple, key)) = self.by_addr.get(&dst) else {
            self.counters.no_session += 1;
            return;
        };
        let Some(peer) = self.peers.get_mut(&tuple) else {
            self.counters.no_session += 1;
            return;
        };
        let Some(session) = peer.sessions.get_mut(&key) else {
            self.counters.no_session += 1;
            return;
        };
        let mut frame = Vec::with_capacity(packet.len() + 4);
        if session.link.encapsulate_ip(packet, &mut frame).is_err() {
            self.counters.no_session += 1;
            return;
        }
        session.packets_out += 1;
        session.bytes_out += packet.len() as u64;
        send_ppp(
            peer,
            key,
            &frame,
            &mut self.rng,
            &mut self.out,
            &mut self.counters,
            &mut self.expiries,
        );
        self.handle_expiries(now);
    }

    /// Time has passed; a spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sync_fast_path(now);
        self.ike.handle_timeout(now);
        self.after_ike(now);
        let tuples: Vec<esp::FourTuple> = self.peers.keys().copied().collect();
        for tuple in tuples {
            if let Some(peer) = self.peers.get_mut(&tuple) {
                peer.lns.handle_timeout(now);
                for session in peer.sessions.values_mut() {
                    session.link.handle_timeout(now);
                }
            }
            self.drive_peer(now, tuple);
        }
        self.handle_expiries(now);
        self.publish_fast_path();
    }

    /// The next datagram to send; its payload is written into `buf` (cleared first).
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        let (transmit, payload) = self.out.pop_front()?;
        buf.extend_from_slice(&payload);
        Some(transmit)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Server::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.ike.poll_timeout();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for peer in self.peers.values() {
            consider(peer.lns.poll_timeout());
            for session in peer.sessions.values() {
                consider(session.link.poll_timeout());
            }
        }
        next
    }

    /// Replace the user table: removed or disabled users are disconnected; the others stay.
    pub fn reload_users(&mut self, now: Instant, users: Users) {
        self.users = users;
        if let Some(pool) = &mut self.pool {
            pool.set_reservations(self.users.reservations());
        }
        let mut gone = Vec::new();
        for (tuple, peer) in &self.peers {
            for (key, session) in &peer.sessions {
                if let Some(user) = &session.user
                    && !matches!(self.users.lookup(user), users::Lookup::Found { .. })
                {
                    gone.push((*tuple, *key, user.clone()));
                }
            }
        }
        for (tuple, key, user) in gone {
            info!(%user, client = %tuple.remote, "user removed or disabled in the users file: disconnecting");
            self.disconnect_session(now, tuple, key, "user removed or disabled");
        }
        self.publish_fast_path();
    }

    /// Graceful shutdown: LCP Terminate, CDN, StopCCN and IKE Delete go to every peer.
    pub fn shutdown(&mut self, now: Instant) {
        let tuples: Vec<esp::FourTuple> = self.peers.keys().copied().collect();
        for tuple in tuples {
            if let Some(peer) = self.peers.get_mut(&tuple) {
                for session in peer.sessions.values_mut() {
                    session.link.close(now, "server shutting down");
                }
            }
            self.drive_peer(now, tuple);
            if let Some(peer) = self.peers.get_mut(&tuple) {
                peer.lns.close_all(now);
                let ike_peer = peer.ike;
                self.drive_peer(now, tuple);
                self.ike.delete_peer(now, ike_peer);
            }
        }
        self.after_ike(now);
        self.publish_fast_path();
    }

    /// The status view.
    #[must_use]
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let ike_rows = self.ike.peers(now);
        let mut sessions = Vec::new();
        let mut pending = Vec::new();
        for peer in self.peers.values() {
            let ike_row = ike_rows.iter().find(|r| r.peer == peer.ike);
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
            let current = peer.current.and_then(|i| peer.children.get(i));
            if peer.sessions.is_empty() {
                pending.push(PeerRow {
                    client_public: peer.tuple.remote,
                    state: "IPsec up, waiting for L2TP".to_owned(),
                });
            }
            for session in peer.sessions.values() {
                let fast = self.fast_counters(peer.tuple, session.ids);
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
                sessions.push(SessionRow {
                    user: session.user.clone().unwrap_or_default(),
                    assigned_ip: session.addr,
                    client_public: peer.tuple.remote,
                    nat,
                    nat_t_dialect: dialect.clone(),
                    host_name: session.host_name.clone(),
                    os_hint: os.join(", "),
                    ike_suite: phase1.map(|p| p.suite.to_string()).unwrap_or_default(),
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
                    bytes_in: session.bytes_in + fast[1],
                    bytes_out: session.bytes_out + fast[3],
                    packets_in: session.packets_in + fast[0],
                    packets_out: session.packets_out + fast[2],
                });
            }
        }
        for row in &ike_rows {
            let tuple = esp::FourTuple {
                local: row.peer.local,
                remote: row.peer.remote,
            };
            if !self.peers.contains_key(&tuple) {
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
        let mut counters = self.counters.clone();
        counters.esp_dropped = self.sadb.drops().total();
        counters.spoofed += self
            .peers
            .values()
            .flat_map(|p| p.sessions.values())
            .map(|s| s.link.stats().spoofed_drops)
            .sum::<u64>();
        if let Some(fast) = &self.fast {
            counters.esp_dropped += fast.esp_dropped();
            counters.spoofed += fast.spoofed();
        }
        Snapshot {
            uptime_secs: now.saturating_duration_since(self.started).as_secs(),
            sessions,
            pending_peers: pending,
            counters,
        }
    }

    // ---- multi-core fast path hook (the data path itself is in fastpath.rs) ------------------

    /// A `Clone + Send + Sync` handle on the established-session data path, for worker
    /// threads (see [`FastPath`]). From the first call on, the server publishes its table at
    /// the end of every input.
    pub fn fast_path(&mut self) -> FastPath {
        let fast = self
            .fast
            .get_or_insert_with(|| fastpath::Publisher::new(self.config.listen.nat_t_port));
        let handle = fast.handle();
        self.publish_fast_path();
        handle
    }

    /// An ESP packet from `remote` to `local` that a [`FastPath`] authenticated and decrypted
    /// with inbound SA `spi` but did not handle ([`fastpath::Inbound::ToOwnerDecrypted`],
    /// which carries every argument): `l2tp` is the L2TP message from the client's UDP port
    /// `src_port`. It is processed as [`Server::handle_udp`] or [`Server::handle_esp`] would
    /// after decryption. For raw ESP both ports are 0.
    pub fn handle_decrypted(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        spi: u32,
        src_port: u16,
        l2tp: &[u8],
    ) {
        let tuple = esp::FourTuple { local, remote };
        self.esp_opened(now, tuple, spi, src_port, l2tp);
        self.drive_peer(now, tuple);
        self.publish_fast_path_for(tuple);
    }

    /// Rebuilds the fast path's table from the current state (published only if it changed).
    /// O(peers): used after inputs that may touch any peer (IKE, timers, users, shutdown).
    fn publish_fast_path(&mut self) {
        if self.fast.is_none() {
            return;
        }
        let specs = self
            .peers
            .values()
            .map(|p| self.fast_peer_spec(p))
            .collect();
        if let Some(fast) = &mut self.fast {
            fast.publish(specs);
        }
    }

    /// After an ESP packet from `tuple`: only that peer can have changed (its L2TP and PPP
    /// engines, its sessions and their addresses), so the full rebuild runs only if its part
    /// of the table differs from the last one published. O(sessions of the peer) otherwise.
    fn publish_fast_path_for(&mut self, tuple: esp::FourTuple) {
        let Some(fast) = &self.fast else {
            return;
        };
        let spec = self.peers.get(&tuple).map(|p| self.fast_peer_spec(p));
        if !fast.is_published(tuple, spec.as_ref()) {
            self.publish_fast_path();
        }
    }

    /// After a UDP datagram: ESP on the NAT-T port concerns its own peer only; anything else
    /// (IKE) may touch any peer.
    fn publish_fast_path_after_udp(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        if self.fast.is_none() {
            return;
        }
        let esp = local.port() == self.config.listen.nat_t_port
            && matches!(
                wire::natt::Repr::parse(payload),
                Ok(wire::natt::Repr::Esp(_))
            );
        if esp {
            self.publish_fast_path_for(esp::FourTuple { local, remote });
        } else {
            self.publish_fast_path();
        }
    }

    /// One peer's part of the fast path's table.
    fn fast_peer_spec(&self, peer: &Peer) -> fastpath::PeerSpec {
        let current = peer.current.and_then(|i| peer.children.get(i));
        let sessions = peer
            .sessions
            .iter()
            .map(|(key, s)| {
                let owns = |addr: &Ipv4Addr| self.by_addr.get(addr) == Some(&(peer.tuple, *key));
                let fast = match (s.addr.filter(owns), peer.lns.data_framing(*key)) {
                    (Some(addr), Some(framing)) if s.link.ip_up() => Some(fastpath::FastSession {
                        addr,
                        framing,
                        peer_mru: s.link.peer_mru(),
                    }),
                    _ => None,
                };
                fastpath::SessionSpec { key: *key, fast }
            })
            .collect();
        fastpath::PeerSpec {
            tuple: peer.tuple,
            inbound: current.and_then(|c| self.sadb.get(c.spi_in)),
            outbound: current.map(|c| Arc::clone(&c.out)),
            sessions,
        }
    }

    /// Takes the fast path's signs of life into the PPP links and the IKE responder's dead
    /// peer detection before their timers run, and its crossed ESP lifetimes into
    /// [`Self::handle_expiries`].
    fn sync_fast_path(&mut self, now: Instant) {
        let Some(fast) = &self.fast else {
            return;
        };
        let alive = fast.take_alive();
        self.expiries.extend(fast.take_expiries());
        for (tuple, key) in alive {
            if let Some(p) = self.peers.get_mut(&tuple) {
                if let Some(s) = p.sessions.get_mut(&key) {
                    s.link.note_alive();
                }
                self.ike.note_activity(p.ike, now);
            }
        }
    }

    /// A session's fast-path counters: packets in, bytes in, packets out, bytes out.
    fn fast_counters(&self, tuple: esp::FourTuple, key: l2tp::SessionKey) -> [u64; 4] {
        use std::sync::atomic::Ordering::Relaxed;
        self.fast
            .as_ref()
            .and_then(|f| f.session(tuple, key))
            .map_or([0; 4], |c| {
                [
                    c.inbound.packets.load(Relaxed),
                    c.inbound.bytes.load(Relaxed),
                    c.outbound.packets.load(Relaxed),
                    c.outbound.bytes.load(Relaxed),
                ]
            })
    }

    // ---- inbound ----------------------------------------------------------------------------

    fn esp_in(&mut self, now: Instant, tuple: esp::FourTuple, packet: &[u8]) {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(packet);
        match self.sadb.open_l2tp_roaming(&tuple, &mut buf) {
            Ok((opened, datagram, moved)) => {
                if let Some(old) = moved
                    && !self.move_peer(now, old, tuple)
                {
                    self.counters.esp_dropped += 1;
                } else {
                    if let Some(e) = opened.expiry {
                        self.expiries.push((tuple, opened.spi, e));
                    }
                    if let Some(l2tp) = buf.get(datagram.payload.clone()) {
                        self.esp_opened(now, tuple, opened.spi, datagram.src_port, l2tp);
                    }
                }
            }
            Err(e) => debug!(client = %tuple.remote, error = %e, "ESP packet dropped"),
        }
        self.scratch = buf;
        self.drive_peer(now, tuple);
        self.handle_expiries(now);
    }

    /// Moves a peer whose NAT mapping changed from `old` to `new` (RFC 3947/3948 leave NAT mapping changes open; as in
    /// IKEv2, RFC 7296 §2.23, the end that is not behind the NAT follows the last valid
    /// UDP-encapsulated packet). The caller has
    /// verified a packet from `new` under one of the peer's SAs (ICV and replay window). The
    /// IKE SAs, every ESP SA, the L2TP tunnels and PPP sessions, and the address routes move
    /// together. Returns false, moving nothing, if `new` belongs to another peer.
    fn move_peer(&mut self, now: Instant, old: esp::FourTuple, new: esp::FourTuple) -> bool {
        if self.peers.contains_key(&new) || !self.peers.contains_key(&old) {
            debug!(from = %old.remote, to = %new.remote, "authenticated ESP from a 4-tuple in use by another client; dropped");
            return false;
        }
        let from = ike::Peer {
            local: old.local,
            remote: old.remote,
        };
        let to = ike::Peer {
            local: new.local,
            remote: new.remote,
        };
        if !self.ike.rebind_peer(from, to) {
            debug!(from = %old.remote, to = %new.remote, "IKE state could not move; ESP packet dropped");
            return false;
        }
        let Some(mut peer) = self.peers.remove(&old) else {
            return false;
        };
        for child in &peer.children {
            for sa in [self.sadb.get(child.spi_in), Some(Arc::clone(&child.out))]
                .into_iter()
                .flatten()
            {
                if let Err(e) = sa.rebind(new) {
                    debug!(error = %e, "ESP SA not rebound");
                }
            }
        }
        peer.tuple = new;
        peer.ike = to;
        for route in self.by_addr.values_mut() {
            if route.0 == old {
                route.0 = new;
            }
        }
        if let Some(info) = self.phase1.remove(&from) {
            self.phase1.insert(to, info);
        }
        self.peers.insert(new, peer);
        info!(from = %old.remote, to = %new.remote, "client's NAT mapping changed; its session moved to the new address and port");
        self.events.push_back(Event::ClientMoved {
            from: old.remote,
            to: new.remote,
        });
        let _ = now;
        true
    }

    /// Acts on ESP lifetime thresholds crossed (RFC 2407 §4.5, RFC 4301 §4.4.2.1): the soft
    /// limit is reported once per pair; the hard limit deletes the pair with an IKE Delete.
    fn handle_expiries(&mut self, now: Instant) {
        while let Some((tuple, spi_in, expiry)) = self.expiries.pop() {
            let Some(peer) = self.peers.get(&tuple) else {
                continue;
            };
            let ike_peer = peer.ike;
            match expiry {
                esp::Expiry::Soft => {
                    if self.soft_reported.insert(spi_in) {
                        info!(client = %tuple.remote, spi_in = format_args!("{spi_in:08x}"), "ESP SA reached its soft lifetime; the client is expected to rekey");
                        self.events.push_back(Event::EspLifetime {
                            client: tuple.remote,
                            spi_in,
                            hard: false,
                        });
                    }
                }
                esp::Expiry::Hard => {
                    if !peer.children.iter().any(|c| c.spi_in == spi_in) {
                        continue;
                    }
                    info!(client = %tuple.remote, spi_in = format_args!("{spi_in:08x}"), "ESP SA reached its hard lifetime; deleting it");
                    self.events.push_back(Event::EspLifetime {
                        client: tuple.remote,
                        spi_in,
                        hard: true,
                    });
                    self.ike.delete_child(now, ike_peer, spi_in);
                    self.after_ike(now);
                }
            }
        }
    }

    /// An ESP packet from `tuple` was opened with inbound SA `spi`: `l2tp` is the L2TP message
    /// from the client's UDP port `src_port`.
    fn esp_opened(
        &mut self,
        now: Instant,
        tuple: esp::FourTuple,
        spi: u32,
        src_port: u16,
        l2tp: &[u8],
    ) {
        if let Some(peer) = self.peers.get_mut(&tuple) {
            peer.l2tp_port = src_port;
            // Rekey (RFC 2409 §5.5): the responder keeps sending on the old outbound SA until
            // the client shows it installed the new pair by sending on it; then outbound
            // follows. Only ever forward: `children` is in the order the pairs were
            // established, and a late packet on an old SA must not move us back.
            if let Some(i) = peer.children.iter().position(|c| c.spi_in == spi)
                && peer.current.is_none_or(|c| i > c)
            {
                info!(client = %tuple.remote, spi_in = format_args!("{spi:08x}"), "client sends on the rekeyed ESP SA; answering on it too");
                peer.current = Some(i);
            }
            let ike_peer = peer.ike;
            self.ike.note_activity(ike_peer, now);
            self.l2tp_in(now, tuple, src_port, l2tp);
        } else {
            self.counters.esp_dropped += 1;
        }
    }

    fn l2tp_in(&mut self, now: Instant, tuple: esp::FourTuple, port: u16, datagram: &[u8]) {
        let Some(peer) = self.peers.get_mut(&tuple) else {
            return;
        };
        let data = match peer.lns.handle_datagram(now, port, datagram) {
            Ok(Some(data)) => data,
            Ok(None) => return,
            Err(e) => {
                self.counters.malformed += 1;
                debug!(client = %tuple.remote, error = %e, "L2TP datagram dropped");
                return;
            }
        };
        let key = data.session;
        let frame = data.frame;
        // Control events (SessionUp) are processed in drive_peer, but data can only arrive for a
        // session the LNS has established, so make sure it exists.
        let Some(session) = peer.sessions.get_mut(&key) else {
            return;
        };
        let mut auth = Auth {
            users: &self.users,
            pool: &mut self.pool,
        };
        let mut reply = None;
        if let Some(ip) = session.link.handle_frame(now, frame, &mut auth) {
            session.packets_in += 1;
            session.bytes_in += ip.len() as u64;
            // Windows asks for routes and the domain by DHCPINFORM through the link (RFC 2131
            // §4.3.5); nobody behind the TUN would answer it, so we do. The link has already
            // checked the source address, which answer_inform also requires as ciaddr.
            reply = wire::dhcp::inform::answer_inform(ip, &self.inform);
            if reply.is_none() {
                self.out.push_back((Transmit::Tun, ip.to_vec()));
            }
        }
        if let Some(reply) = reply {
            debug!(client = %tuple.remote, "DHCPINFORM answered");
            // The answer goes to the client's own address, so the TUN path routes it back.
            self.handle_tun(now, &reply);
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
                    // ike::Responder already warns once per client about a legacy suite.
                    let tuple = esp::FourTuple {
                        local: peer.local,
                        remote: peer.remote,
                    };
                    if let Some(p) = self.peers.get_mut(&tuple) {
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
                ike::Event::SaDeleted {
                    peer,
                    spi_in,
                    spi_out,
                } => self.remove_child(now, peer, spi_in, spi_out),
                ike::Event::DeadPeer {
                    peer,
                    unanswered,
                    silent_secs,
                } => {
                    let tuple = esp::FourTuple {
                        local: peer.local,
                        remote: peer.remote,
                    };
                    warn!(client = %peer.remote, unanswered, silent_secs, "the client stopped answering dead peer detection; disconnecting it");
                    self.phase1.remove(&peer);
                    self.remove_peer(
                        now,
                        tuple,
                        "the client stopped answering dead peer detection (RFC 3706)",
                    );
                }
                ike::Event::PeerGone { peer } => {
                    self.phase1.remove(&peer);
                    let tuple = esp::FourTuple {
                        local: peer.local,
                        remote: peer.remote,
                    };
                    self.remove_peer(now, tuple, "IKE SA gone");
                }
                ike::Event::Refused { peer, reason } => {
                    self.refuse_once(peer.remote, reason.to_string());
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
                esp::FourTuple {
                    local: child.peer.local,
                    remote: child.peer.remote,
                },
            ),
            _ => (
                esp::Encap::None,
                esp::FourTuple {
                    local: SocketAddr::new(child.peer.local.ip(), 0),
                    remote: SocketAddr::new(child.peer.remote.ip(), 0),
                },
            ),
        };
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
            (Ok(i), Ok(o)) => (i, Arc::new(o)),
            (Err(e), _) | (_, Err(e)) => {
                warn!(client = %child.peer.remote, error = %e, "could not build ESP SAs; the client will time out");
                return;
            }
        };
        if let Err(e) = self.sadb.insert(inbound) {
            warn!(client = %child.peer.remote, error = %e, "could not install the inbound ESP SA");
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
        let phase1 = self.phase1.get(&child.peer).cloned();
        let peer = self.peers.entry(tuple).or_insert_with(|| {
            let mut seed = [0; 32];
            self.rng.fill_bytes(&mut seed);
            Peer {
                ike: child.peer,
                tuple,
                lns: l2tp::Lns::new(lns_config(&self.config), seed),
                l2tp_port: L2TP_PORT,
                peer_tunnels: HashMap::new(),
                children: Vec::new(),
                current: None,
                sessions: HashMap::new(),
                phase1: None,
                nat_oa: None,
            }
        });
        peer.ike = child.peer;
        if phase1.is_some() {
            peer.phase1 = phase1;
        }
        if child.nat_oa_i.is_some() {
            peer.nat_oa = child.nat_oa_i;
        }
        peer.children.push(ChildPair {
            spi_in: child.spi_in,
            out: outbound,
            suite: match child.encapsulation {
                ike::Encapsulation::Transport => format!("{} transport", child.suite),
                _ => format!("{} UDP-encap transport", child.suite),
            },
            established: now,
            lifetime: Duration::from_secs(child.lifetime_secs),
        });
        if peer.current.is_none() {
            peer.current = Some(peer.children.len() - 1);
        }
    }

    fn remove_child(&mut self, now: Instant, peer: ike::Peer, spi_in: u32, spi_out: u32) {
        self.sadb.remove(spi_in);
        self.soft_reported.remove(&spi_in);
        let Some(tuple) = self
            .peers
            .iter()
            .find(|(_, p)| p.children.iter().any(|c| c.spi_in == spi_in))
            .map(|(t, _)| *t)
        else {
            return;
        };
        let Some(p) = self.peers.get_mut(&tuple) else {
            return;
        };
        debug!(client = %peer.remote, spi_in = format_args!("{spi_in:08x}"), spi_out = format_args!("{spi_out:08x}"), "ESP SA pair deleted");
        self.soft_reported.remove(&spi_in);
        let current_spi = p.current.and_then(|i| p.children.get(i)).map(|c| c.spi_in);
        p.children.retain(|c| c.spi_in != spi_in);
        p.current = match current_spi {
            Some(spi) if spi != spi_in => p.children.iter().position(|c| c.spi_in == spi),
            _ => p.children.len().checked_sub(1),
        };
        if p.children.is_empty() {
            self.remove_peer(now, tuple, "all ESP SAs deleted");
        }
    }

    fn remove_peer(&mut self, now: Instant, tuple: esp::FourTuple, why: &str) {
        let Some(peer) = self.peers.remove(&tuple) else {
            return;
        };
        for spi in peer.children.iter().map(|c| c.spi_in) {
            self.sadb.remove(spi);
            self.soft_reported.remove(&spi);
        }
        for session in peer.sessions.into_values() {
            self.end_session(tuple, session, why);
        }
        let _ = now;
    }

    fn end_session(&mut self, tuple: esp::FourTuple, session: Session, why: &str) {
        // Keep the link's anti-spoofing drops in the global counter after the link is gone.
        self.counters.spoofed += session.link.stats().spoofed_drops;
        if let Some(addr) = session.addr.or_else(|| session.link.assigned_address()) {
            if let Some(pool) = &mut self.pool {
                pool.release(addr);
            }
            self.by_addr.remove(&addr);
        }
        info!(client = %tuple.remote, user = session.user.as_deref().unwrap_or("-"), reason = why, "session closed");
        self.events.push_back(Event::SessionDown {
            user: session.user,
            client: tuple.remote,
            reason: why.to_owned(),
        });
    }

    fn disconnect_session(
        &mut self,
        now: Instant,
        tuple: esp::FourTuple,
        key: l2tp::SessionKey,
        why: &str,
    ) {
        if let Some(peer) = self.peers.get_mut(&tuple)
            && let Some(session) = peer.sessions.get_mut(&key)
        {
            session.link.close(now, why);
            self.drive_peer(now, tuple);
            if let Some(peer) = self.peers.get_mut(&tuple) {
                let _ =
                    peer.lns
                        .close_session(now, key, l2tp::codes::cdn::ADMINISTRATIVE, Some(why));
                let only = peer.sessions.len() <= 1;
                let ike_peer = peer.ike;
                self.drive_peer(now, tuple);
                if only {
                    // The client has nothing else here: tear down its tunnel and IPsec too.
                    if let Some(peer) = self.peers.get_mut(&tuple) {
                        peer.lns.close_all(now);
                    }
                    self.drive_peer(now, tuple);
                    self.ike.delete_peer(now, ike_peer);
                    self.after_ike(now);
                }
            }
        }
    }

    /// Drains one peer's L2TP and PPP outputs and events.
    fn drive_peer(&mut self, now: Instant, tuple: esp::FourTuple) {
        let Some(peer) = self.peers.get_mut(&tuple) else {
            return;
        };
        // L2TP events first: they create and remove sessions.
        let mut ended = Vec::new();
        while let Some(event) = peer.lns.poll_event() {
            match event {
                l2tp::Event::TunnelUp {
                    tunnel,
                    peer_tunnel,
                    peer_host_name,
                    vendor,
                } => {
                    info!(client = %tuple.remote, host = %peer_host_name, vendor = vendor.as_deref().unwrap_or("-"), tunnel, peer_tunnel, "L2TP tunnel up");
                    peer.peer_tunnels.insert(tunnel, peer_tunnel);
                }
                l2tp::Event::SessionUp {
                    key,
                    peer_session,
                    peer_host_name,
                    vendor,
                    ..
                } => {
                    let mut seed = [0; 32];
                    self.rng.fill_bytes(&mut seed);
                    info!(client = %tuple.remote, host = %peer_host_name, tunnel = key.tunnel, session = key.session, "L2TP session up");
                    let our_addr = self
                        .pool
                        .as_ref()
                        .map_or(Ipv4Addr::UNSPECIFIED, Pool::server_address);
                    let link = ppp::Link::new(&link_config(&self.config, our_addr), seed, now);
                    let peer_tunnel = peer.peer_tunnels.get(&key.tunnel).copied().unwrap_or(0);
                    peer.sessions.insert(
                        key,
                        Session {
                            link,
                            ids: key,
                            peer_ids: (peer_tunnel, peer_session),
                            host_name: peer_host_name,
                            vendor: vendor.unwrap_or_default(),
                            since: now,
                            addr: None,
                            user: None,
                            packets_in: 0,
                            packets_out: 0,
                            bytes_in: 0,
                            bytes_out: 0,
                        },
                    );
                }
                l2tp::Event::SessionDown { key, reason } => {
                    if let Some(session) = peer.sessions.remove(&key) {
                        ended.push((session, format!("L2TP session closed: {reason}")));
                    }
                }
                l2tp::Event::TunnelDown { tunnel, reason } => {
                    peer.peer_tunnels.remove(&tunnel);
                    let keys: Vec<l2tp::SessionKey> = peer
                        .sessions
                        .keys()
                        .filter(|k| k.tunnel == tunnel)
                        .copied()
                        .collect();
                    for key in keys {
                        if let Some(session) = peer.sessions.remove(&key) {
                            ended.push((session, format!("L2TP tunnel closed: {reason}")));
                        }
                    }
                }
                _ => {}
            }
        }
        // PPP outputs and events.
        let mut closed = Vec::new();
        for (key, session) in &mut peer.sessions {
            while let Some(frame) = session.link.poll_transmit() {
                send_ppp_frame(
                    peer_out(&mut peer.lns, &peer.children, peer.current, tuple),
                    *key,
                    &frame,
                    &mut self.rng,
                    &mut self.out,
                    &mut self.counters,
                    &mut self.expiries,
                );
            }
            while let Some(event) = session.link.poll_event() {
                match event {
                    ppp::Event::Authenticated { user, method } => {
                        info!(client = %tuple.remote, %user, method = ?method, "user authenticated");
                        session.user = Some(user);
                    }
                    ppp::Event::AuthFailed {
                        user,
                        reason,
                        windows_error,
                    } => {
                        let message =
                            format!("user {user}: {reason} -> Windows error {windows_error}");
                        let key = (tuple.remote.ip(), message.clone());
                        if self.logged.insert(key) {
                            warn!(client = %tuple.remote, "{message}");
                        }
                        self.events.push_back(Event::Refused {
                            client: tuple.remote,
                            message,
                        });
                    }
                    ppp::Event::IpUp { peer_addr, .. } => {
                        info!(client = %tuple.remote, user = session.user.as_deref().unwrap_or("-"), addr = %peer_addr, "IPCP up: address assigned");
                        session.addr = Some(peer_addr);
                        self.by_addr.insert(peer_addr, (tuple, *key));
                        self.events.push_back(Event::SessionUp {
                            user: session.user.clone().unwrap_or_default(),
                            addr: peer_addr,
                            client: tuple.remote,
                        });
                    }
                    ppp::Event::Identification(text) => {
                        debug!(client = %tuple.remote, ident = %text, "LCP Identification");
                    }
                    ppp::Event::Down { reason } => {
                        closed.push((*key, reason.to_string()));
                    }
                    _ => {}
                }
            }
        }
        for (key, why) in closed {
            let _ = peer
                .lns
                .close_session(now, key, l2tp::codes::cdn::ADMINISTRATIVE, Some(&why));
            if let Some(session) = peer.sessions.remove(&key) {
                ended.push((session, why));
            }
        }
        // Whatever L2TP wants to send (control messages, ZLBs, CDNs).
        while let Some(t) = peer.lns.poll_transmit() {
            let port = t.peer_port;
            seal_l2tp(
                &peer.children,
                peer.current,
                port,
                tuple,
                &t.payload,
                &mut self.rng,
                &mut self.out,
                &mut self.counters,
                &mut self.expiries,
            );
        }
        let _ = now;
        for (session, why) in ended {
            self.end_session(tuple, session, &why);
        }
    }

    fn refuse_once(&mut self, client: SocketAddr, message: String) {
        if self.logged.insert((client.ip(), message.clone())) {
            warn!(%client, "{message}");
        }
        self.events.push_back(Event::Refused { client, message });
    }
}

/// Sends one PPP frame of session `key` to the peer: L2TP data → UDP → ESP.
fn send_ppp(
    peer: &mut Peer,
    key: l2tp::SessionKey,
    frame: &[u8],
    rng: &mut ChaCha20Rng,
    out: &mut VecDeque<(Transmit, Vec<u8>)>,
    counters: &mut Counters,
    expiries: &mut Vec<(esp::FourTuple, u32, esp::Expiry)>,
) {
    let tuple = peer.tuple;
    send_ppp_frame(
        peer_out(&mut peer.lns, &peer.children, peer.current, tuple),
        key,
        frame,
        rng,
        out,
        counters,
        expiries,
    );
}

/// What sending on a peer needs, borrowed apart from its sessions.
struct PeerOut<'a> {
    lns: &'a mut l2tp::Lns,
    children: &'a [ChildPair],
    current: Option<usize>,
    tuple: esp::FourTuple,
}

fn peer_out<'a>(
    lns: &'a mut l2tp::Lns,
    children: &'a [ChildPair],
    current: Option<usize>,
    tuple: esp::FourTuple,
) -> PeerOut<'a> {
    PeerOut {
        lns,
        children,
        current,
        tuple,
    }
}

fn send_ppp_frame(
    p: PeerOut<'_>,
    key: l2tp::SessionKey,
    frame: &[u8],
    rng: &mut ChaCha20Rng,
    out: &mut VecDeque<(Transmit, Vec<u8>)>,
    counters: &mut Counters,
    expiries: &mut Vec<(esp::FourTuple, u32, esp::Expiry)>,
) {
    let mut l2tp_msg = Vec::with_capacity(frame.len() + 16);
    match p.lns.encode_data(key, frame, &mut l2tp_msg) {
        Ok(port) => seal_l2tp(
            p.children, p.current, port, p.tuple, &l2tp_msg, rng, out, counters, expiries,
        ),
        Err(e) => debug!(error = %e, "L2TP data not sent"),
    }
}

/// Wraps an L2TP message in inner UDP and ESP with the peer's current outbound SA.
#[allow(clippy::too_many_arguments)]
fn seal_l2tp(
    children: &[ChildPair],
    current: Option<usize>,
    port: u16,
    tuple: esp::FourTuple,
    l2tp_msg: &[u8],
    rng: &mut ChaCha20Rng,
    out: &mut VecDeque<(Transmit, Vec<u8>)>,
    counters: &mut Counters,
    expiries: &mut Vec<(esp::FourTuple, u32, esp::Expiry)>,
) {
    let Some(child) = current.and_then(|i| children.get(i)) else {
        counters.no_session += 1;
        return;
    };
    let sa = &child.out;
    let head = esp::transport::headroom(sa);
    let total = sa.sealed_len(l2tp_msg.len() + wire::ip::udp::HEADER_LEN);
    let mut buf = vec![0u8; total.max(head + l2tp_msg.len())];
    if let Some(dst) = buf.get_mut(head..head + l2tp_msg.len()) {
        dst.copy_from_slice(l2tp_msg);
    } else {
        return;
    }
    match esp::transport::seal(sa, &mut buf, l2tp_msg.len(), port, rng) {
        Ok(sealed) => {
            buf.truncate(sealed.len);
            if let Some(e) = sealed.expiry {
                expiries.push((tuple, child.spi_in, e));
            }
            let transmit = match sa.encap() {
                esp::Encap::Udp { local, remote } => Transmit::Udp { local, remote },
                esp::Encap::None => match (tuple.local.ip(), tuple.remote.ip()) {
                    (IpAddr::V4(local), IpAddr::V4(remote)) => Transmit::Esp { local, remote },
                    _ => return,
                },
            };
            out.push_back((transmit, buf));
        }
        Err(e) => debug!(error = %e, "ESP seal failed; packet dropped"),
    }
}

/// The Windows release behind an MS NT5 ISAKMPOAKLEY vendor ID version (clients.md C.1, from
/// ike-scan's ike-vendor-ids and Openswan's vendor.c).
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

fn ike_config(config: &Config) -> ike::ResponderConfig {
    let mut c = ike::ResponderConfig::new(config.psk.clone());
    c.policy = ike::Policy {
        modern: config
            .ike
            .profiles
            .contains(&crate::config::Profile::Modern),
        legacy: config
            .ike
            .profiles
            .contains(&crate::config::Profile::Legacy),
        des: config.ike.legacy_des,
        modp768: config.ike.modp768,
    };
    c.nat_d_trick = config.ike.nat_d_trick;
    c.nat_t_port = config.listen.nat_t_port;
    c.raw_esp = config.listen.raw_esp;
    c.max_half_open = config.limits.half_open_ike_sas as usize;
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
    c
}

fn inform_config(config: &Config) -> wire::dhcp::inform::InformConfig {
    let mut c = wire::dhcp::inform::InformConfig::new(config.pool.server_address);
    c.routes = config
        .client_routes
        .iter()
        .map(|n| (n.network(), n.prefix()))
        .collect();
    c.domain.clone_from(&config.client_domain);
    c.dns.clone_from(&config.dns);
    c
}

fn lns_config(config: &Config) -> l2tp::LnsConfig {
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

fn link_config(config: &Config, our_addr: Ipv4Addr) -> ppp::LinkConfig {
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
            crate::config::AuthProtocol::MsChapV2 => ppp::AuthProtocol::MsChapV2,
            crate::config::AuthProtocol::Chap => ppp::AuthProtocol::Chap,
            crate::config::AuthProtocol::MsChapV1 => ppp::AuthProtocol::MsChapV1,
        })
        .collect();
    if config.ppp.pap && !c.auth_protocols.contains(&ppp::AuthProtocol::Pap) {
        c.auth_protocols.push(ppp::AuthProtocol::Pap);
    }
    c
}
