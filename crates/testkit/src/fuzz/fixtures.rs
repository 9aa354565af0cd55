//! The engines and servers the stateful fuzz targets start from. The seed generator drives
//! clients against the very same fixtures, so that a seed replays exactly: a Main Mode seed
//! reaches Quick Mode only if the responder that reads it draws the same cookies and nonces as
//! the one that answered when the seed was recorded.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use crypto::integ::IntegAlg;
use ike::{Lifetime, Phase1Suite};
use server::Server;
use wire::ip::udp::PseudoHeader;

use super::script::FrameStep;
use crate::world::{ServerParts, TapKind, TapRecord};
use crate::{Error, Profile, Stage, World, WorldConfig};

/// The server's public address in every fixture ([`WorldConfig::default`]'s).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// Steps a stateful target runs at most per input (the longest seed script has about 300).
pub const MAX_STEPS: usize = 1024;

/// The NAT's public address in every fixture world ([`WorldConfig::default`]'s).
pub const NAT_PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

/// A UDP port of the server that is neither IKE, NAT-T nor L2TP.
pub const OTHER_PORT: u16 = 9999;

/// The addresses packets to the server come from in the scripts: the NAT, three clients on
/// the Internet, and strangers (one inside the address pool).
pub const HOSTS: [Ipv4Addr; 8] = [
    NAT_PUBLIC_IP,
    Ipv4Addr::new(192, 0, 2, 10),
    Ipv4Addr::new(192, 0, 2, 11),
    Ipv4Addr::new(192, 0, 2, 12),
    Ipv4Addr::new(203, 0, 113, 99),
    Ipv4Addr::new(198, 18, 0, 1),
    Ipv4Addr::new(100, 64, 0, 1),
    Ipv4Addr::new(10, 99, 0, 2),
];

/// The private address of a client behind the NAT.
pub const PRIVATE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

/// A LAN host behind the server that answers pings ([`WorldConfig::default`]'s).
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);

/// How many server configurations `server_inputs` chooses from (the first input octet).
pub const SERVER_VARIANTS: u8 = 2;

/// The world of `server_inputs` variant `variant % 2`:
/// - 0: the NAT-D trick on (every client floats to UDP 4500), PAP allowed;
/// - 1: the trick off (clients not behind NAT use raw ESP).
///
/// Both have small limits (8 half-open IKE SAs, 16 peers) so that fuzzing reaches them, and dead
/// peer detection after 10 s.
pub fn server_world(variant: u8) -> WorldConfig {
    let trick = variant.is_multiple_of(SERVER_VARIANTS);
    let mut extra = String::from("limits:\n  half_open_ike_sas: 8\n  max_peers: 16\n");
    if trick {
        extra.push_str("ppp:\n  pap: true\n");
    }
    WorldConfig {
        seed: 0x5eed_0000 + u64::from(variant % SERVER_VARIANTS),
        nat_d_trick: trick,
        extra_server_yaml: extra,
        extra_ike_yaml: vec!["dpd_interval_secs: 10".to_owned()],
        ..WorldConfig::default()
    }
}

/// The parsed configuration of [`server_world`] (`variant % 2`), parsed once.
///
/// # Panics
/// If the fixed configuration does not load (a bug caught by the tests).
pub fn server_parts(variant: u8) -> &'static ServerParts {
    static PARTS: OnceLock<Vec<ServerParts>> = OnceLock::new();
    let all = PARTS.get_or_init(|| {
        (0..SERVER_VARIANTS)
            .map(|v| {
                #[allow(clippy::expect_used)]
                server_world(v)
                    .server_parts()
                    .expect("the fixture configuration loads")
            })
            .collect()
    });
    #[allow(clippy::indexing_slicing)]
    &all[usize::from(variant % SERVER_VARIANTS)]
}

/// The pre-shared key of the `ike_responder` fixture.
pub const IKE_PSK: &str = "fuzz pre-shared key";

/// The `ike_responder` fixture: default policy, 8 half-open SAs, DPD after 10 s, fixed seed.
/// It answers on [`SERVER_IP`].
pub fn ike_responder() -> ike::Responder {
    let mut cfg = ike::ResponderConfig::new(Secret::from_slice(IKE_PSK.as_bytes()));
    cfg.max_half_open = 8;
    cfg.dpd_interval = Some(Duration::from_secs(10));
    ike::Responder::new(cfg, [7; 32])
}

/// The PPP user of the `ppp_link` and `ppp_peer` fixtures.
pub const PPP_USER: &str = "User";
/// Its password.
pub const PPP_PASSWORD: &str = "clientPass";
/// A user that exists but is disabled.
pub const PPP_DISABLED_USER: &str = "off";
/// The address the `ppp_link` fixture assigns.
pub const PPP_PEER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// The `ppp_link` authenticator: every protocol, PAP included, in the server's order.
pub fn ppp_link_config() -> ppp::LinkConfig {
    ppp::LinkConfig {
        dns: [Some(Ipv4Addr::new(10, 0, 0, 1)), None],
        wins: [Some(Ipv4Addr::new(10, 0, 0, 3)), None],
        auth_protocols: vec![
            ppp::AuthProtocol::MsChapV2,
            ppp::AuthProtocol::Chap,
            ppp::AuthProtocol::MsChapV1,
            ppp::AuthProtocol::Pap,
        ],
        ..ppp::LinkConfig::default()
    }
}

/// The seed of the `ppp_link` fixture's link.
pub const PPP_LINK_SEED: [u8; 32] = [7; 32];

/// The `ppp_link` fixture's link, started at `now`.
pub fn ppp_link(now: Instant) -> ppp::Link {
    ppp::Link::new(&ppp_link_config(), PPP_LINK_SEED, now)
}

/// The `ppp_peer` fixture's client role: every protocol, PAP last.
pub fn ppp_peer_config() -> ppp::PeerConfig {
    let mut cfg = ppp::PeerConfig::new(PPP_USER, PPP_PASSWORD);
    cfg.auth_protocols.push(ppp::AuthProtocol::Pap);
    cfg.request_wins = true;
    cfg
}

/// The seed of the `ppp_peer` fixture.
pub const PPP_PEER_SEED: [u8; 32] = [8; 32];

/// The `ppp_peer` fixture, started at `now`.
pub fn ppp_peer(now: Instant) -> ppp::Peer {
    ppp::Peer::new(&ppp_peer_config(), PPP_PEER_SEED, now)
}

/// The users of the `ppp_link` fixture.
#[derive(Debug, Clone, Copy, Default)]
pub struct PppUsers;

impl ppp::Authenticator for PppUsers {
    fn lookup(&mut self, user: &str) -> ppp::Lookup {
        match user {
            PPP_USER => ppp::Lookup::Found(ppp::Credential::password(PPP_PASSWORD)),
            PPP_DISABLED_USER => ppp::Lookup::Disabled,
            _ => ppp::Lookup::NotFound,
        }
    }

    fn assign_address(&mut self, _: &str, _: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        Some(PPP_PEER_ADDR)
    }
}

/// The tunnel secret of the `l2tp_lns` fixture when the input asks for one.
pub const L2TP_SECRET: &str = "fuzz";

/// The `l2tp_lns` fixture: an LNS with one tunnel and one session already up, brought up by
/// the in-crate LAC (tunnel ID 7, session ID 1).
#[derive(Debug)]
pub struct LnsFixture {
    /// The LNS.
    pub lns: l2tp::Lns,
    /// The LAC that brought the session up.
    pub lac: l2tp::Lac,
    /// The live session (the LNS's tunnel and session IDs), if it came up.
    pub live: Option<l2tp::SessionKey>,
    /// The same session as the LAC names it.
    pub lac_session: Option<l2tp::SessionKey>,
}

/// What one `l2tp_lns` step did.
#[derive(Debug, Clone, Default)]
pub struct LnsStep {
    /// The datagram as given to the LNS (after aiming).
    pub datagram: Vec<u8>,
    /// Whether a data message was accepted, with its frame inside the datagram as it must be.
    pub data: Option<bool>,
    /// What the LNS sent.
    pub transmits: Vec<Vec<u8>>,
}

impl LnsFixture {
    /// Brings the fixture up at `now`, with the tunnel secret or without.
    pub fn new(secret: bool, now: Instant) -> Self {
        let secret = secret.then(|| l2tp::TunnelSecret::new(L2TP_SECRET));
        let mut lns = l2tp::Lns::new(
            l2tp::LnsConfig {
                secret: secret.clone(),
                ..l2tp::LnsConfig::default()
            },
            [1; 32],
        );
        let mut lac = l2tp::Lac::new(
            l2tp::LacConfig {
                secret,
                tunnel_id: Some(7),
                first_session_id: Some(1),
                ..l2tp::LacConfig::default()
            },
            [2; 32],
        );
        let mut lac_session = None;
        if let Ok(tunnel) = lac.connect(now, crate::L2TP_PORT) {
            exchange(&mut lac, &mut lns, now);
            lac_session = lac.open_session(now, tunnel).ok();
            exchange(&mut lac, &mut lns, now);
        }
        while lac.poll_event().is_some() {}
        while lns.poll_event().is_some() {}
        let live = lns.sessions().first().map(|s| s.key);
        Self {
            lns,
            lac,
            live,
            lac_session,
        }
    }

    /// One step of the `l2tp_lns` target at `now`: timers run, then the datagram arrives from
    /// UDP port 1701 (flag bit 0) or 40000, with its Tunnel ID overwritten by the live tunnel's
    /// (flag bit 1); every output is drained, and the datagram is also framed as data for the
    /// live session.
    pub fn step(&mut self, now: Instant, step: &FrameStep<'_>) -> LnsStep {
        self.lns.handle_timeout(now);
        let mut d = step.data.to_vec();
        if let (true, Some(key)) = (step.flags & 2 != 0, self.live) {
            let at = if d.first().is_some_and(|b| b & 0x40 != 0) {
                4
            } else {
                2
            };
            if let Some(field) = d.get_mut(at..at + 2) {
                field.copy_from_slice(&key.tunnel.to_be_bytes());
            }
        }
        let port = if step.flags & 1 != 0 {
            crate::L2TP_PORT
        } else {
            40_000
        };
        let data = match self.lns.handle_datagram(now, port, &d) {
            Ok(Some(data)) => Some(inside(&d, data.frame)),
            _ => None,
        };
        let mut transmits = Vec::new();
        while let Some(t) = self.lns.poll_transmit() {
            transmits.push(t.payload);
        }
        while self.lns.poll_event().is_some() {}
        if let Some(key) = self.live {
            let mut out = Vec::new();
            let _ = self.lns.encode_data(key, &d, &mut out);
        }
        LnsStep {
            datagram: d,
            data,
            transmits,
        }
    }
}

/// Whether `part` lies inside `whole` (an empty `part` anywhere is fine).
fn inside(whole: &[u8], part: &[u8]) -> bool {
    if part.is_empty() {
        return true;
    }
    let w = whole.as_ptr_range();
    let p = part.as_ptr_range();
    w.start <= p.start && p.end <= w.end
}

/// What one `ppp_link` or `ppp_peer` step did.
#[derive(Debug, Clone, Default)]
pub struct PppStep {
    /// The frames sent.
    pub sent: Vec<Vec<u8>>,
    /// The IPv4 packet the frame carried, if it was accepted as one.
    pub ip: Option<Vec<u8>>,
}

/// One step of the `ppp_link` target at `now`: timers run, the frame arrives (an empty one
/// only moves time), outputs are drained and the frame is also sent as an IP packet.
pub fn ppp_link_step(link: &mut ppp::Link, now: Instant, frame: &[u8]) -> PppStep {
    link.handle_timeout(now);
    let ip = if frame.is_empty() {
        None
    } else {
        link.handle_frame(now, frame, &mut PppUsers)
            .map(<[u8]>::to_vec)
    };
    let mut sent = Vec::new();
    while let Some(f) = link.poll_transmit() {
        sent.push(f);
    }
    while link.poll_event().is_some() {}
    let mut out = Vec::new();
    let _ = link.encapsulate_ip(frame, &mut out);
    PppStep { sent, ip }
}

/// Brings the `ppp_link` fixture to the Network phase with the `ppp_peer` fixture (the
/// `ppp_link` input's header bit 0).
pub fn ppp_link_open(link: &mut ppp::Link, now: Instant) {
    let mut peer = ppp_peer(now);
    for _ in 0..50 {
        let mut moved = false;
        while let Some(f) = link.poll_transmit() {
            moved = true;
            let _ = peer.handle_frame(now, &f);
        }
        while let Some(f) = peer.poll_transmit() {
            moved = true;
            let _ = link.handle_frame(now, &f, &mut PppUsers);
        }
        if !moved {
            break;
        }
    }
    while link.poll_event().is_some() {}
}

/// One step of the `ppp_peer` target at `now`, as [`ppp_link_step`] for the client role.
pub fn ppp_peer_step(peer: &mut ppp::Peer, now: Instant, frame: &[u8]) -> PppStep {
    peer.handle_timeout(now);
    let ip = if frame.is_empty() {
        None
    } else {
        peer.handle_frame(now, frame).map(<[u8]>::to_vec)
    };
    let mut sent = Vec::new();
    while let Some(f) = peer.poll_transmit() {
        sent.push(f);
    }
    while peer.poll_event().is_some() {}
    let mut out = Vec::new();
    let _ = peer.encapsulate_ip(frame, &mut out);
    PppStep { sent, ip }
}

/// Carries datagrams between a LAC and an LNS until both are quiet.
pub fn exchange(lac: &mut l2tp::Lac, lns: &mut l2tp::Lns, now: Instant) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(t) = lac.poll_transmit() {
            let _ = lns.handle_datagram(now, crate::L2TP_PORT, &t.payload);
            moved = true;
        }
        while let Some(t) = lns.poll_transmit() {
            let _ = lac.handle_datagram(now, crate::L2TP_PORT, &t.payload);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// The `esp_open` fixture's SA, by the input's first octet: bit 0 picks 3DES over AES-128,
/// bit 1 raw ESP over UDP encapsulation. Keys are fixed (`0x11…`, `0x22…`), SPI `0x1000`;
/// the client is [`ESP_OPEN_PEER`].
pub fn esp_open_sa(selector: u8, direction: esp::Direction) -> esp::SaParams {
    let cipher = if selector & 1 == 0 {
        CipherAlg::Aes128
    } else {
        CipherAlg::TripleDes
    };
    let (encap, peer) = esp_open_peer(selector & 2 == 0);
    esp::SaParams {
        spi: 0x0000_1000,
        direction,
        cipher,
        enc_key: Secret::new(vec![0x11; cipher.key_len()]),
        integ: IntegAlg::HmacSha1_96,
        auth_key: Secret::new(vec![0x22; 20]),
        encap,
        peer,
        lifetime: esp::Lifetime::UNLIMITED,
    }
}

/// The addresses of the `esp_open` fixture: server `192.0.2.1:4500`, client
/// `198.51.100.7:4500` (ports 0 for raw ESP).
pub const ESP_OPEN_PEER: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 7));

fn esp_open_peer(udp: bool) -> (esp::Encap, wire::FourTuple) {
    let port = if udp { crate::NAT_T_PORT } else { 0 };
    let local = SocketAddr::new(IpAddr::V4(ESP_OPEN_PEER.0), port);
    let remote = SocketAddr::new(IpAddr::V4(ESP_OPEN_PEER.1), port);
    let encap = if udp {
        esp::Encap::Udp { local, remote }
    } else {
        esp::Encap::None
    };
    (encap, wire::FourTuple { local, remote })
}

/// The pseudo header the `ip_udp` target verifies checksums with (client to server).
pub const UDP_PSEUDO: PseudoHeader = PseudoHeader {
    src_addr: Ipv4Addr::new(198, 51, 100, 7),
    dst_addr: Ipv4Addr::new(192, 0, 2, 1),
};

/// One IKE transform on ECP256, the cheapest group: the `dataplane` fixture rebuilds its server
/// for every input.
fn ecp256(cipher: CipherAlg) -> Vec<Phase1Suite> {
    vec![Phase1Suite {
        cipher,
        hash: HashAlg::Sha1,
        group: DhGroup::Ecp256,
        lifetime: Lifetime {
            secs: 28_800,
            kb: None,
        },
    }]
}

/// Virtual time the `dataplane` world may take to bring each client up.
const CONNECT_LIMIT: Duration = Duration::from_secs(120);

/// The world of the `dataplane` target with every client up, and its tap on since the world
/// was built: the NAT-D trick off, two clients behind the NAT (Windows 10 with AES and Linux
/// with 3DES, UDP-encapsulated, sharing the NAT's address) and an XP client on the Internet
/// (raw ESP, 3DES). Deterministic: the same call gives the same world.
pub fn dataplane_world(base: Instant) -> Result<World, Error> {
    let mut w = World::new(
        WorldConfig {
            seed: 0x5eed_fa57,
            nat_d_trick: false,
            ..WorldConfig::default()
        },
        base,
    )?;
    w.set_tap(true);
    w.server_mut().set_keylog(true);
    let clients = [
        (
            Profile::windows_10().with_ike_proposals(ecp256(CipherAlg::Aes128)),
            PRIVATE_IP,
            true,
            "alice",
        ),
        (
            Profile::linux_strongswan().with_ike_proposals(ecp256(CipherAlg::Aes128)),
            Ipv4Addr::new(192, 168, 1, 11),
            true,
            "bob",
        ),
        (
            Profile::windows_xp_sp2().with_ike_proposals(ecp256(CipherAlg::TripleDes)),
            HOSTS[1],
            false,
            "carol",
        ),
    ];
    for (profile, private, behind_nat, user) in clients {
        let id = w.add_client(profile, private, behind_nat, user, &format!("{user}-pass"));
        w.connect(id)?;
        if !w.run_until(|w| w.client(id).stage() >= Stage::Up, CONNECT_LIMIT) {
            return Err(Error::NotReady(
                "a dataplane fixture client did not come up",
            ));
        }
    }
    // Let the last acknowledgements settle so that nothing is in flight.
    w.run_for(Duration::from_secs(2));
    Ok(w)
}

/// A session of the `dataplane` fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPlaneSession {
    /// The assigned address.
    pub addr: Ipv4Addr,
    /// The client's public address (the IKE peer's).
    pub remote: SocketAddr,
    /// Whether ESP runs over UDP (else raw ESP: only the address counts).
    pub udp: bool,
}

/// The `dataplane` fixture: the server inputs that brought [`dataplane_world`] up, to replay
/// into a fresh server for every fuzz input (the data plane shares replay windows and
/// counters with the control plane, so a server reused across inputs would not replay a
/// crash).
#[derive(Debug, Clone)]
pub struct DataPlaneFixture {
    parts: ServerParts,
    transcript: Vec<TapRecord>,
    /// Where the world's clock stood when the fixture was taken.
    end: Duration,
    /// The sessions that are up at the end of the transcript.
    pub sessions: Vec<DataPlaneSession>,
}

impl DataPlaneFixture {
    /// Runs [`dataplane_world`] once and keeps its transcript.
    pub fn new() -> Result<Self, Error> {
        #[allow(clippy::disallowed_methods)]
        let base = Instant::now();
        let mut w = dataplane_world(base)?;
        let parts = w.config().server_parts()?;
        let end = w.elapsed();
        let transcript: Vec<TapRecord> = w
            .take_tap()
            .into_iter()
            .filter(|r| r.kind.is_input())
            .collect();
        let sessions = w
            .snapshot()
            .sessions
            .iter()
            .filter_map(|s| {
                Some(DataPlaneSession {
                    addr: s.assigned_ip?,
                    remote: s.client_public,
                    udp: s.nat,
                })
            })
            .collect();
        Ok(Self {
            parts,
            transcript,
            end,
            sessions,
        })
    }

    /// A fresh server with the transcript replayed from `base`, and the time the world's
    /// clock stood at when the fixture was taken (where the seed scripts start).
    pub fn replay(&self, base: Instant) -> (Server, Instant) {
        let (server, _) = replay(&self.parts, &self.transcript, base);
        (server, base + self.end)
    }

    /// The configuration and users the server was built from.
    pub fn parts(&self) -> &ServerParts {
        &self.parts
    }
}

/// Feeds the inputs of a tap `transcript` into a fresh server built from `parts` at `base`,
/// each at its recorded time, draining the outputs as the world does. Returns the server and
/// the time of the last input.
pub fn replay(parts: &ServerParts, transcript: &[TapRecord], base: Instant) -> (Server, Instant) {
    let mut s = parts.build(base);
    let mut now = base;
    let mut buf = Vec::new();
    for r in transcript {
        now = base + r.at;
        match r.kind {
            TapKind::UdpIn { local, remote } => s.handle_udp(now, local, remote, &r.bytes),
            TapKind::EspIn { local, remote } => s.handle_esp(now, local, remote, &r.bytes),
            TapKind::TunIn => s.handle_tun(now, &r.bytes),
            TapKind::Timeout => s.handle_timeout(now),
            _ => continue,
        }
        while s.poll_transmit(&mut buf).is_some() {}
        while s.poll_event().is_some() {}
    }
    (s, now)
}
