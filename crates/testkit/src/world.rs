//! [`World`]: one `server::Server`, N [`Client`]s, an optional NAT, a lossy network with
//! reordering, a virtual clock and a LAN (after smoltcp `tests/netsim.rs` and quinn
//! `tests/util.rs`).
//!
//! - The NAT behaves like iptables MASQUERADE with random ports (RFC 4787 "endpoint-dependent
//!   mapping"): each (client, private source, destination) gets a fresh public port on the
//!   NAT's public address, and replies to that port go back. Each NATed client is thought of as
//!   sitting on its own private segment, so several clients may use the same private address
//!   and ports (docs/clients.md#several-clients-one-nat: the case that breaks kernel-based
//!   servers). Raw ESP through the NAT goes back to the last client that sent ESP to that
//!   server address (conntrack's ESP behaviour, roughly). [`World::remap_nat`] makes the NAT
//!   forget a client's mappings, as a mapping timeout does, so its next datagrams leave from
//!   new public ports.
//! - The network loses each datagram between clients and server with probability `loss` and
//!   delays it by `latency`, plus a random extra delay up to `reorder_delay` with probability
//!   `reorder`, so later datagrams can overtake it. All of it is drawn from the world's seed.
//! - Time is virtual: when nothing is in flight the clock jumps to the next deadline of the
//!   server, a client or the network.
//! - The LAN side records every packet the server writes to TUN and can inject packets into
//!   `handle_tun`; hosts listed in `lan_hosts` answer ICMP Echo Requests.
//! - A tap ([`World::set_tap`]) records every input the world gives the server and every
//!   output it takes, with the virtual time: replaying the inputs into a server built from the
//!   same [`ServerParts`] at the same times reproduces the run (the fuzz seed corpora use it).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crypto::Secret;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use server::{Event, Server, Snapshot};
use tracing::{debug, trace};

use crate::client::{Client, ClientConfig, Transmit as ClientTransmit};
use crate::profile::Profile;
use crate::{Error, packet};

/// A client's index in the world.
pub type ClientId = usize;

/// Steps taken at one instant before the clock is nudged forward (guards against an engine
/// whose deadline does not move after `handle_timeout`).
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// How the world is built.
#[derive(Clone)]
pub struct WorldConfig {
    /// The pre-shared key the server is configured with (clients get it by default).
    pub psk: String,
    /// The server's NAT-D trick (docs/clients.md#nat-d-trick).
    pub nat_d_trick: bool,
    /// Extra top-level YAML appended to the server configuration.
    pub extra_server_yaml: String,
    /// Extra keys of the server's `ike:` section, one per line without indentation
    /// (`"dpd_interval_secs: 10"`).
    pub extra_ike_yaml: Vec<String>,
    /// The users file.
    pub users_yaml: String,
    /// The server's public address.
    pub server_ip: Ipv4Addr,
    /// The NAT's public address.
    pub nat_public_ip: Ipv4Addr,
    /// The address pool (CIDR).
    pub pool_cidr: String,
    /// DNS servers handed out by IPCP.
    pub dns: Vec<Ipv4Addr>,
    /// WINS servers handed out by IPCP.
    pub wins: Vec<Ipv4Addr>,
    /// LAN hosts that answer ICMP Echo Requests.
    pub lan_hosts: Vec<Ipv4Addr>,
    /// Seeds the server, the clients, the NAT and the network.
    pub seed: u64,
    /// Probability that a datagram between a client and the server is lost.
    pub loss: f64,
    /// Probability that a datagram gets an extra random delay (and so may be overtaken).
    pub reorder: f64,
    /// One-way delay of every datagram.
    pub latency: Duration,
    /// The largest extra delay of a reordered datagram.
    pub reorder_delay: Duration,
}

impl core::fmt::Debug for WorldConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorldConfig")
            .field("nat_d_trick", &self.nat_d_trick)
            .field("server_ip", &self.server_ip)
            .field("seed", &self.seed)
            .field("loss", &self.loss)
            .field("reorder", &self.reorder)
            .finish_non_exhaustive()
    }
}

/// The users of [`WorldConfig::default`]: alice, bob, carol and dave, password `<name>-pass`.
pub const DEFAULT_USERS: &str = "\
users:
  - name: alice
    password: alice-pass
  - name: bob
    password: bob-pass
  - name: carol
    password: carol-pass
  - name: dave
    password: dave-pass
";

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            psk: "testkit pre-shared key".to_owned(),
            nat_d_trick: true,
            extra_server_yaml: String::new(),
            extra_ike_yaml: Vec::new(),
            users_yaml: DEFAULT_USERS.to_owned(),
            // RFC 5737 documentation addresses.
            server_ip: Ipv4Addr::new(198, 51, 100, 1),
            nat_public_ip: Ipv4Addr::new(203, 0, 113, 7),
            pool_cidr: "10.99.0.0/24".to_owned(),
            dns: vec![
                Ipv4Addr::new(192, 168, 100, 53),
                Ipv4Addr::new(192, 168, 100, 153),
            ],
            wins: vec![
                Ipv4Addr::new(192, 168, 100, 54),
                Ipv4Addr::new(192, 168, 100, 154),
            ],
            lan_hosts: vec![Ipv4Addr::new(192, 168, 100, 5)],
            seed: 1,
            loss: 0.0,
            reorder: 0.0,
            latency: Duration::from_millis(10),
            reorder_delay: Duration::from_millis(40),
        }
    }
}

impl WorldConfig {
    /// The `l2tpd.yaml` text the server is built from.
    pub fn server_yaml(&self) -> String {
        let list = |v: &[Ipv4Addr]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "listen:\n  addresses: [{server}]\n  raw_esp: {raw}\npsk: \"{psk}\"\npool:\n  cidr: {pool}\n\
             dns: [{dns}]\nwins: [{wins}]\nike:\n  nat_d_trick: {trick}\n{ike}{extra}",
            server = self.server_ip,
            raw = !self.nat_d_trick,
            psk = self.psk,
            pool = self.pool_cidr,
            dns = list(&self.dns),
            wins = list(&self.wins),
            trick = self.nat_d_trick,
            ike = self
                .extra_ike_yaml
                .iter()
                .map(|l| format!("  {l}\n"))
                .collect::<String>(),
            extra = self.extra_server_yaml,
        )
    }
}

impl WorldConfig {
    /// The parsed configuration, users and seed the world builds its server from; a server
    /// built from them at the world's base instant and fed the same inputs at the same times
    /// behaves exactly as the world's (see [`World::set_tap`]).
    pub fn server_parts(&self) -> Result<ServerParts, Error> {
        let (file, _warnings) =
            config::Config::from_yaml_str(&self.server_yaml(), Path::new("l2tpd.yaml"))
                .map_err(|e| Error::Config(format!("{e:?}")))?;
        let config = file.server;
        let users = load_users(&config, &self.users_yaml)?;
        let mut rng_seed = [0u8; 32];
        ChaCha20Rng::seed_from_u64(self.seed).fill_bytes(&mut rng_seed);
        Ok(ServerParts {
            config,
            users,
            rng_seed,
        })
    }
}

/// Which way a datagram travels, for [`World::set_drop_filter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a client to the server.
    ToServer(ClientId),
    /// From the server to a client.
    ToClient(ClientId),
}

/// Decides whether to drop a datagram (the UDP payload or raw ESP packet) on purpose.
pub type DropFilter = Box<dyn FnMut(Direction, &[u8]) -> bool>;

/// Network counters of the world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetStats {
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams lost on purpose (the `loss` setting).
    pub lost: u64,
    /// Datagrams given an extra delay (the `reorder` setting).
    pub delayed: u64,
    /// Datagrams the NAT had no mapping for, or addressed to nobody.
    pub unroutable: u64,
}

/// What the world builds its server from: [`WorldConfig::server_parts`].
#[derive(Debug, Clone)]
pub struct ServerParts {
    /// The server's part of the parsed `l2tpd.yaml`.
    pub config: config::ServerConfig,
    /// The parsed users file.
    pub users: config::users::Users,
    /// The server's random seed, drawn from the world's seed.
    pub rng_seed: [u8; 32],
}

impl ServerParts {
    /// A new server from these parts, started at `now`.
    pub fn build(&self, now: Instant) -> Server {
        Server::new(self.config.clone(), self.users.clone(), self.rng_seed, now)
    }
}

/// One record of the tap: what the server got or gave, `at` virtual time since the world was
/// built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRecord {
    /// When, since the world was built.
    pub at: Duration,
    /// Which call or output.
    pub kind: TapKind,
    /// The datagram, ESP packet or IPv4 packet (empty for a timeout).
    pub bytes: Vec<u8>,
}

/// Which server call (input) or output a [`TapRecord`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TapKind {
    /// `Server::handle_udp(local, remote)`.
    UdpIn {
        /// The server's address and port.
        local: SocketAddr,
        /// The sender as the server sees it (after the NAT).
        remote: SocketAddr,
    },
    /// `Server::handle_esp(local, remote)`.
    EspIn {
        /// The server's address.
        local: Ipv4Addr,
        /// The sender as the server sees it.
        remote: Ipv4Addr,
    },
    /// `Server::handle_tun`.
    TunIn,
    /// `Server::handle_timeout`.
    Timeout,
    /// A UDP datagram the server sent.
    UdpOut {
        /// The server's address and port.
        local: SocketAddr,
        /// The destination.
        remote: SocketAddr,
    },
    /// A raw ESP packet the server sent.
    EspOut {
        /// The server's address.
        local: Ipv4Addr,
        /// The destination.
        remote: Ipv4Addr,
    },
    /// A packet the server wrote to TUN.
    TunOut,
}

impl TapKind {
    /// Whether this is an input to the server (what a replay feeds).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Self::UdpIn { .. } | Self::EspIn { .. } | Self::TunIn | Self::Timeout
        )
    }
}

#[derive(Debug, Clone)]
enum Hop {
    /// From client `from` to the server's UDP socket `local` from `remote` (as the server
    /// sees it).
    ServerUdp {
        from: ClientId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Raw ESP from client `from` to the server.
    ServerEsp {
        from: ClientId,
        local: Ipv4Addr,
        remote: Ipv4Addr,
    },
    /// A packet read from the server's TUN device.
    ServerTun,
    /// To a client's `local` (private) address from `remote`.
    ClientUdp {
        id: ClientId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Raw ESP to a client.
    ClientEsp {
        id: ClientId,
        local: Ipv4Addr,
        remote: Ipv4Addr,
    },
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    hop: Hop,
    payload: Vec<u8>,
}

#[derive(Debug)]
struct Slot {
    client: Client,
    behind_nat: bool,
}

#[derive(Debug, Default)]
struct Nat {
    next_port: u16,
    out: HashMap<(ClientId, SocketAddr, SocketAddr), u16>,
    back: HashMap<(u16, SocketAddr), (ClientId, SocketAddr)>,
    esp: HashMap<Ipv4Addr, ClientId>,
}

/// The simulated world.
pub struct World {
    config: WorldConfig,
    server_config: config::ServerConfig,
    now: Instant,
    start: Instant,
    server: Server,
    clients: Vec<Slot>,
    nat: Nat,
    rng: ChaCha20Rng,
    in_flight: Vec<InFlight>,
    seq: u64,
    lan: Vec<Vec<u8>>,
    events: Vec<Event>,
    stats: NetStats,
    scratch: Vec<u8>,
    /// What the server sends, taken a turn at a time.
    out: server::Batch,
    steps_at_instant: u32,
    drop_filter: Option<DropFilter>,
    tap: Option<Vec<TapRecord>>,
}

impl core::fmt::Debug for World {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("World")
            .field("config", &self.config)
            .field("elapsed", &self.elapsed())
            .field("clients", &self.clients)
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl World {
    /// Builds the server from `config` at virtual time `base` (any `Instant`; nothing reads
    /// the clock).
    pub fn new(config: WorldConfig, base: Instant) -> Result<Self, Error> {
        let parts = config.server_parts()?;
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        // The first 32 bytes are the server's seed (drawn again in `server_parts`).
        let mut server_seed = [0u8; 32];
        rng.fill_bytes(&mut server_seed);
        let server = parts.build(base);
        Ok(Self {
            config,
            server_config: parts.config,
            now: base,
            start: base,
            server,
            clients: Vec::new(),
            nat: Nat {
                next_port: 40000,
                ..Nat::default()
            },
            rng,
            in_flight: Vec::new(),
            seq: 0,
            lan: Vec::new(),
            events: Vec::new(),
            stats: NetStats::default(),
            scratch: Vec::with_capacity(2048),
            out: server::Batch::new(),
            steps_at_instant: 0,
            drop_filter: None,
            tap: None,
        })
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the world was built.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    /// The world's configuration.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// The server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The server, to call its API directly (drain outputs with [`World::step`] afterwards).
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// Adds a client with `profile` at `private` (behind the NAT or directly on the
    /// Internet), logging in as `user`/`password` with the world's PSK. It does not connect yet.
    pub fn add_client(
        &mut self,
        profile: Profile,
        private: Ipv4Addr,
        behind_nat: bool,
        user: &str,
        password: &str,
    ) -> ClientId {
        let psk = Secret::from_slice(self.config.psk.as_bytes());
        let mut rng_seed = [0u8; 32];
        self.rng.fill_bytes(&mut rng_seed);
        self.add_client_with(
            ClientConfig {
                profile,
                local: private,
                server: self.config.server_ip,
                psk,
                user: user.to_owned(),
                password: password.to_owned(),
                rng_seed,
            },
            behind_nat,
        )
    }

    /// Adds a client built from a full configuration.
    pub fn add_client_with(&mut self, config: ClientConfig, behind_nat: bool) -> ClientId {
        self.clients.push(Slot {
            client: Client::new(config),
            behind_nat,
        });
        self.clients.len() - 1
    }

    /// A client.
    ///
    /// # Panics
    /// If `id` was not returned by `add_client`.
    pub fn client(&self, id: ClientId) -> &Client {
        #[allow(clippy::indexing_slicing)]
        &self.clients[id].client
    }

    /// A client, mutably.
    ///
    /// # Panics
    /// If `id` was not returned by `add_client`.
    pub fn client_mut(&mut self, id: ClientId) -> &mut Client {
        #[allow(clippy::indexing_slicing)]
        &mut self.clients[id].client
    }

    /// How many clients there are.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Starts a client's Main Mode now.
    pub fn connect(&mut self, id: ClientId) -> Result<(), Error> {
        let now = self.now;
        self.client_mut(id).connect(now)?;
        self.collect();
        Ok(())
    }

    /// Sends an ICMP Echo Request from a client's assigned address to `dst`.
    pub fn ping(&mut self, id: ClientId, dst: Ipv4Addr, seq: u16) -> Result<(), Error> {
        let now = self.now;
        self.client_mut(id).ping(now, dst, seq)?;
        self.collect();
        Ok(())
    }

    /// Sends an arbitrary IPv4 packet from a client.
    pub fn send_ip(&mut self, id: ClientId, packet: &[u8]) -> Result<(), Error> {
        let now = self.now;
        self.client_mut(id).send_ip(now, packet)?;
        self.collect();
        Ok(())
    }

    /// Injects a packet from the LAN into the server's `handle_tun`, now.
    pub fn lan_send(&mut self, packet: &[u8]) {
        self.record(TapKind::TunIn, packet);
        self.server.handle_tun(self.now, packet);
        self.collect();
    }

    /// Every packet the server wrote to TUN so far.
    pub fn lan_received(&self) -> &[Vec<u8>] {
        &self.lan
    }

    /// Takes the packets the server wrote to TUN so far.
    pub fn take_lan(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.lan)
    }

    /// Drops every datagram between clients and server for which `filter` returns true
    /// (counted as lost), on top of the random loss; `None` removes the filter.
    pub fn set_drop_filter(&mut self, filter: Option<DropFilter>) {
        self.drop_filter = filter;
    }

    /// Starts (`true`) or stops recording every server input the world makes (datagrams,
    /// raw ESP, TUN packets, timeouts) and every server output, with the virtual time. Calls
    /// made through [`World::server_mut`] are not recorded.
    pub fn set_tap(&mut self, on: bool) {
        match (on, self.tap.is_some()) {
            (true, false) => self.tap = Some(Vec::new()),
            (false, true) => self.tap = None,
            _ => {}
        }
    }

    /// Takes what the tap recorded so far (it keeps recording).
    pub fn take_tap(&mut self) -> Vec<TapRecord> {
        self.tap.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn record(&mut self, kind: TapKind, bytes: &[u8]) {
        let at = self.elapsed();
        if let Some(tap) = &mut self.tap {
            tap.push(TapRecord {
                at,
                kind,
                bytes: bytes.to_vec(),
            });
        }
    }

    /// Every server event so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Network counters.
    pub fn net_stats(&self) -> NetStats {
        self.stats
    }

    /// The server's status snapshot now.
    pub fn snapshot(&self) -> Snapshot {
        self.server.snapshot(self.now)
    }

    /// The public UDP address the NAT gave a client's `private` source towards `remote`.
    pub fn nat_mapping(
        &self,
        id: ClientId,
        private: SocketAddr,
        remote: SocketAddr,
    ) -> Option<SocketAddr> {
        self.nat
            .out
            .get(&(id, private, remote))
            .map(|p| SocketAddr::new(IpAddr::V4(self.config.nat_public_ip), *p))
    }

    /// The NAT forgets every mapping of client `id` (a mapping timeout, or a NAT reboot):
    /// the client's next datagrams leave from fresh public ports, and datagrams to the old
    /// ports are unroutable. Returns the (old, new) public addresses of the mappings that
    /// existed, with the new ones allocated already.
    pub fn remap_nat(&mut self, id: ClientId) -> Vec<(SocketAddr, SocketAddr)> {
        let public_ip = IpAddr::V4(self.config.nat_public_ip);
        let mut keys: Vec<(ClientId, SocketAddr, SocketAddr)> =
            self.nat.out.keys().filter(|k| k.0 == id).copied().collect();
        // In a fixed order, so that the new ports do not depend on the hash map's order.
        keys.sort_unstable();
        let mut moved = Vec::new();
        for key in keys {
            let Some(old) = self.nat.out.remove(&key) else {
                continue;
            };
            self.nat.back.remove(&(old, key.2));
            let new = self.nat_out(id, key.1, key.2);
            debug!(client = id, old, new = %new, "NAT mapping moved");
            moved.push((SocketAddr::new(public_ip, old), new));
        }
        moved
    }

    /// Sends a datagram to the server's UDP `local` from any `remote` (an attacker on the
    /// Internet, for forged-packet tests). It goes through the network like any other.
    pub fn inject_udp_to_server(&mut self, local: SocketAddr, remote: SocketAddr, payload: &[u8]) {
        self.send(
            Hop::ServerUdp {
                from: usize::MAX,
                local,
                remote,
            },
            payload,
            false,
        );
    }

    /// Replaces the server's users file with `users_yaml` (as the daemon does on SIGHUP).
    pub fn reload_users(&mut self, users_yaml: &str) -> Result<(), Error> {
        let users = load_users(&self.server_config, users_yaml)?;
        self.server.reload_users(self.now, users);
        self.collect();
        Ok(())
    }

    /// Ends the sessions `target` names, as `l2tpd-rs kick` does.
    pub fn kick(&mut self, target: &server::KickTarget) -> Vec<server::Kicked> {
        let kicked = self.server.kick(self.now, target);
        self.collect();
        kicked
    }

    /// Runs until `done` holds or `max` of virtual time has passed; returns whether `done`
    /// held.
    pub fn run_until(&mut self, mut done: impl FnMut(&Self) -> bool, max: Duration) -> bool {
        let limit = self.now + max;
        loop {
            if done(self) {
                return true;
            }
            if self.now >= limit || !self.step(limit) {
                return done(self);
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = self.now.max(limit);
    }

    /// One step: deliver the earliest due datagram, or else move the clock to the next
    /// deadline (not past `limit`) and run the timers that are due. Returns false when the
    /// clock reached `limit` with nothing left to do before it.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.collect();
        if let Some(i) = self.due_index() {
            let item = self.in_flight.swap_remove(i);
            self.deliver(item);
            self.collect();
            self.count_step();
            return true;
        }
        let next = [
            self.in_flight.iter().map(|f| f.at).min(),
            self.server.poll_timeout(),
            self.clients
                .iter()
                .filter_map(|s| s.client.poll_timeout())
                .min(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return false;
        };
        if next > limit {
            self.now = self.now.max(limit);
            return false;
        }
        if next > self.now {
            self.now = next;
            self.steps_at_instant = 0;
        }
        let now = self.now;
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.record(TapKind::Timeout, &[]);
            self.server.handle_timeout(now);
        }
        for slot in &mut self.clients {
            if slot.client.poll_timeout().is_some_and(|t| t <= now) {
                slot.client.handle_timeout(now);
            }
        }
        self.collect();
        self.count_step();
        true
    }

    fn count_step(&mut self) {
        self.steps_at_instant += 1;
        if self.steps_at_instant > MAX_STEPS_PER_INSTANT {
            debug!("too many steps at one instant; nudging the clock by 1 ms");
            self.now += Duration::from_millis(1);
            self.steps_at_instant = 0;
        }
    }

    fn due_index(&self) -> Option<usize> {
        self.in_flight
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at <= self.now)
            .min_by_key(|(_, f)| (f.at, f.seq))
            .map(|(i, _)| i)
    }

    /// Drains every output of the server and the clients into the network.
    fn collect(&mut self) {
        loop {
            let mut moved = false;
            let mut buf = std::mem::take(&mut self.scratch);
            // All at once, as the daemon takes them.
            let mut out = std::mem::take(&mut self.out);
            out.clear();
            if self.server.poll_transmits(&mut out) > 0 {
                moved = true;
                for (t, payload) in out.iter() {
                    self.route_from_server(t, payload);
                }
            }
            self.out = out;
            while let Some(e) = self.server.poll_event() {
                moved = true;
                debug!(event = ?e, "server event");
                self.events.push(e);
            }
            for id in 0..self.clients.len() {
                while let Some(t) = self
                    .clients
                    .get_mut(id)
                    .and_then(|slot| slot.client.poll_transmit(&mut buf))
                {
                    moved = true;
                    self.route_from_client(id, t, &buf);
                }
            }
            self.scratch = buf;
            if !moved {
                break;
            }
        }
    }

    fn send(&mut self, hop: Hop, payload: &[u8], lossy: bool) {
        let direction = match hop {
            Hop::ClientUdp { id, .. } | Hop::ClientEsp { id, .. } => Some(Direction::ToClient(id)),
            Hop::ServerUdp { from, .. } | Hop::ServerEsp { from, .. } => {
                Some(Direction::ToServer(from))
            }
            Hop::ServerTun => None,
        };
        if let (Some(d), Some(filter)) = (direction, &mut self.drop_filter)
            && lossy
            && filter(d, payload)
        {
            debug!(?hop, "datagram dropped by the filter");
            self.stats.lost += 1;
            return;
        }
        if lossy && self.config.loss > 0.0 && self.rng.gen_bool(self.config.loss.min(1.0)) {
            trace!(?hop, "datagram lost");
            self.stats.lost += 1;
            return;
        }
        let mut delay = self.config.latency;
        if lossy && self.config.reorder > 0.0 && self.rng.gen_bool(self.config.reorder.min(1.0)) {
            let max = u64::try_from(self.config.reorder_delay.as_micros()).unwrap_or(u64::MAX);
            delay += Duration::from_micros(self.rng.gen_range(0..=max));
            self.stats.delayed += 1;
        }
        self.seq += 1;
        self.in_flight.push(InFlight {
            at: self.now + delay,
            seq: self.seq,
            hop,
            payload: payload.to_vec(),
        });
    }

    fn route_from_client(&mut self, id: ClientId, t: ClientTransmit, payload: &[u8]) {
        let behind_nat = self.clients.get(id).is_some_and(|s| s.behind_nat);
        match t {
            ClientTransmit::Udp { local, remote } => {
                if remote.ip() != IpAddr::V4(self.config.server_ip) {
                    self.stats.unroutable += 1;
                    return;
                }
                let src = if behind_nat {
                    self.nat_out(id, local, remote)
                } else {
                    local
                };
                self.send(
                    Hop::ServerUdp {
                        from: id,
                        local: remote,
                        remote: src,
                    },
                    payload,
                    true,
                );
            }
            ClientTransmit::Esp { local, remote } => {
                if remote != self.config.server_ip {
                    self.stats.unroutable += 1;
                    return;
                }
                let src = if behind_nat {
                    self.nat.esp.insert(remote, id);
                    self.config.nat_public_ip
                } else {
                    local
                };
                self.send(
                    Hop::ServerEsp {
                        from: id,
                        local: remote,
                        remote: src,
                    },
                    payload,
                    true,
                );
            }
        }
    }

    fn nat_out(&mut self, id: ClientId, private: SocketAddr, remote: SocketAddr) -> SocketAddr {
        let public_ip = IpAddr::V4(self.config.nat_public_ip);
        if let Some(p) = self.nat.out.get(&(id, private, remote)) {
            return SocketAddr::new(public_ip, *p);
        }
        let port = self.nat.next_port;
        self.nat.next_port = self.nat.next_port.checked_add(1).unwrap_or(40000);
        self.nat.out.insert((id, private, remote), port);
        self.nat.back.insert((port, remote), (id, private));
        debug!(client = id, %private, public = port, "NAT mapping created");
        SocketAddr::new(public_ip, port)
    }

    fn route_from_server(&mut self, t: server::Transmit, payload: &[u8]) {
        let kind = match t {
            server::Transmit::Udp { local, remote } => Some(TapKind::UdpOut { local, remote }),
            server::Transmit::Esp { local, remote } => Some(TapKind::EspOut { local, remote }),
            server::Transmit::Tun => Some(TapKind::TunOut),
            _ => None,
        };
        if let Some(kind) = kind {
            self.record(kind, payload);
        }
        let public = self.config.nat_public_ip;
        match t {
            server::Transmit::Udp { local, remote } => {
                let target = if remote.ip() == IpAddr::V4(public) {
                    self.nat
                        .back
                        .get(&(remote.port(), local))
                        .map(|(id, private)| (*id, *private))
                } else {
                    self.direct_client(remote.ip()).map(|id| (id, remote))
                };
                match target {
                    Some((id, private)) => self.send(
                        Hop::ClientUdp {
                            id,
                            local: private,
                            remote: local,
                        },
                        payload,
                        true,
                    ),
                    None => self.stats.unroutable += 1,
                }
            }
            server::Transmit::Esp { local, remote } => {
                let target = if remote == public {
                    self.nat
                        .esp
                        .get(&local)
                        .copied()
                        .map(|id| (id, self.private_ip(id)))
                } else {
                    self.direct_client(IpAddr::V4(remote))
                        .map(|id| (id, remote))
                };
                match target {
                    Some((id, private)) => self.send(
                        Hop::ClientEsp {
                            id,
                            local: private,
                            remote: local,
                        },
                        payload,
                        true,
                    ),
                    None => self.stats.unroutable += 1,
                }
            }
            server::Transmit::Tun => self.send(Hop::ServerTun, payload, false),
            _ => self.stats.unroutable += 1,
        }
    }

    fn private_ip(&self, id: ClientId) -> Ipv4Addr {
        self.clients
            .get(id)
            .map_or(Ipv4Addr::UNSPECIFIED, |s| s.client.config().local)
    }

    fn direct_client(&self, ip: IpAddr) -> Option<ClientId> {
        self.clients
            .iter()
            .position(|s| !s.behind_nat && IpAddr::V4(s.client.config().local) == ip)
    }

    fn deliver(&mut self, item: InFlight) {
        self.stats.delivered += 1;
        let now = self.now;
        match item.hop {
            Hop::ServerUdp { local, remote, .. } => {
                self.record(TapKind::UdpIn { local, remote }, &item.payload);
                self.server.handle_udp(now, local, remote, &item.payload);
            }
            Hop::ServerEsp { local, remote, .. } => {
                self.record(TapKind::EspIn { local, remote }, &item.payload);
                self.server.handle_esp(now, local, remote, &item.payload);
            }
            Hop::ServerTun => {
                let reply = packet::addresses(&item.payload)
                    .filter(|(_, dst)| self.config.lan_hosts.contains(dst))
                    .and_then(|_| packet::echo_reply_to(&item.payload));
                self.lan.push(item.payload);
                if let Some(reply) = reply {
                    self.record(TapKind::TunIn, &reply);
                    self.server.handle_tun(now, &reply);
                }
            }
            Hop::ClientUdp { id, local, remote } => {
                if let Some(slot) = self.clients.get_mut(id) {
                    slot.client.handle_udp(now, local, remote, &item.payload);
                }
            }
            Hop::ClientEsp { id, local, remote } => {
                if let Some(slot) = self.clients.get_mut(id) {
                    slot.client.handle_esp(now, local, remote, &item.payload);
                }
            }
        }
    }
}

fn load_users(config: &config::ServerConfig, text: &str) -> Result<config::users::Users, Error> {
    config::users::Users::from_yaml_str(text, Path::new("users.yaml"), &config.pool)
        .map_err(|e| Error::Config(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)]
    fn base() -> Instant {
        Instant::now()
    }

    /// A NAT rebinding hands out the new ports in the order of the old mappings, not in the
    /// hash map's (random) order, so that a seeded world replays exactly.
    #[test]
    fn remap_nat_is_deterministic() {
        for _ in 0..8 {
            let mut w = World::new(WorldConfig::default(), base()).unwrap();
            let id = w.add_client(
                Profile::windows_xp_sp2(),
                Ipv4Addr::new(192, 168, 1, 10),
                true,
                "alice",
                "alice-pass",
            );
            w.connect(id).unwrap();
            assert!(w.run_until(
                |w| w.client(id).stage() >= crate::Stage::QuickMode,
                Duration::from_secs(30)
            ));
            let moved = w.remap_nat(id);
            assert_eq!(moved.len(), 2, "IKE from 500 and 4500");
            let mut by_key: Vec<_> = w.nat.out.iter().map(|(k, port)| (*k, *port)).collect();
            by_key.sort_unstable();
            let ports: Vec<u16> = by_key.iter().map(|(_, p)| *p).collect();
            let mut sorted = ports.clone();
            sorted.sort_unstable();
            assert_eq!(ports, sorted, "new ports follow the mappings' order");
        }
    }
}
