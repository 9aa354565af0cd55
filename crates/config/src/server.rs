//! [`ServerConfig`]: the part of `l2tpd.yaml` the sans-IO `server::Server` is built from (the
//! protocol policy), with its checks.
//!
//! Interop defaults and why:
//! - PPP MRU 1400: the Windows L2TP client asks for an MRU of 1400 in its LCP Configure-Request,
//!   so that value needs no renegotiation.
//! - Authentication order MS-CHAPv2, CHAP-MD5, MS-CHAPv1, with PAP off: every built-in client
//!   speaks MS-CHAPv2 (RFC 2759); the others are fallbacks, and PAP sends the password itself
//!   (RFC 1334 §2).
//! - The NAT-D trick is on by default: since Windows XP SP2, Windows refuses NAT-T security
//!   associations with a server it believes to be behind NAT unless every client sets the
//!   `AssumeUDPEncapsulationContextOnSendRule` registry value (Microsoft KB 885407).
//! - The legacy suite (3DES, MODP1024) is on by default for Windows XP, whose IPsec has no AES
//!   (Microsoft KB 325158 lists its L2TP defaults: 3DES, SHA1, Diffie-Hellman group 2). DES and
//!   MODP768 are broken and only accepted when explicitly enabled.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use crypto::Secret;
use ipnetwork::Ipv4Network;
use serde::Deserialize;

use crate::de_opt_secret;
use crate::problem::Checker;

/// The example PSK shipped in `config/l2tpd.yaml`. Running with it is allowed (so the example
/// works as shipped) but warned about loudly.
pub const EXAMPLE_PSK: &str = "CHANGE-ME-example-psk";

/// The smallest pool prefix length accepted (a /16 holds 65534 addresses).
pub const MIN_POOL_PREFIX: u8 = 16;

/// The largest pool prefix length accepted (a /30 holds the server and one client).
pub const MAX_POOL_PREFIX: u8 = 30;

/// What `server::Server::new` takes: the protocol policy of `l2tpd.yaml`, checked. Nothing here
/// names a file or a host resource; see [`crate::DaemonConfig`] for those.
///
/// Secrets are [`Secret`]s: `Debug` does not show them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The IKE and NAT-T ports the server demultiplexes on, and the addresses the daemon binds.
    pub listen: Listen,
    /// The IKE pre-shared key (from `psk` or `psk_file`); empty when certificates alone
    /// authenticate (`certificates.allow_psk: false`).
    pub psk: Secret,
    /// The client address pool.
    pub pool: PoolConfig,
    /// DNS servers handed to clients in IPCP (RFC 1877), at most 2.
    pub dns: Vec<Ipv4Addr>,
    /// WINS servers handed to clients in IPCP (RFC 1877), at most 2.
    pub wins: Vec<Ipv4Addr>,
    /// Networks behind the server that clients should reach through the tunnel. Sent to
    /// Windows clients in the answer to their DHCPINFORM (options 121 and 249), so that split
    /// tunnelling works without manual routes.
    pub client_routes: Vec<Ipv4Network>,
    /// The DNS domain sent in the answer to a DHCPINFORM (option 15).
    pub client_domain: Option<String>,
    /// IKE algorithm policy and NAT-T behaviour.
    pub ike: IkePolicy,
    /// PPP options.
    pub ppp: PppOptions,
    /// L2TP options.
    pub l2tp: L2tpOptions,
    /// Bounds on per-peer and global state.
    pub limits: Limits,
    /// Accept L2TP that is not inside an ESP SA. Off by default; on, it is logged loudly.
    pub allow_plaintext_l2tp: bool,
    /// Certificate authentication (the `certificates:` block), loaded; `None` when off. With
    /// `allow_psk: false` and no `psk`, [`ServerConfig::psk`] is empty and must not be
    /// offered.
    pub certificates: Option<crate::CertificateConfig>,
}

impl Default for ServerConfig {
    /// The default of every optional key. The required keys get stand-ins (pool
    /// 10.99.0.0/24, an empty PSK), so this is for tests; real configurations come from
    /// [`crate::Config::load`].
    fn default() -> Self {
        Self {
            listen: Listen::default(),
            psk: Secret::default(),
            pool: PoolConfig::default(),
            dns: Vec::new(),
            wins: Vec::new(),
            client_routes: Vec::new(),
            client_domain: None,
            ike: IkePolicy::default(),
            ppp: PppOptions::default(),
            l2tp: L2tpOptions::default(),
            limits: Limits::default(),
            allow_plaintext_l2tp: false,
            certificates: None,
        }
    }
}

impl ServerConfig {
    /// Whether the PSK is the example value shipped in `config/l2tpd.yaml`.
    pub fn psk_is_example(&self) -> bool {
        crypto::ct_eq(self.psk.as_bytes(), EXAMPLE_PSK.as_bytes())
    }
}

/// Listening addresses and ports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// IPv4 addresses to bind (0.0.0.0 = every address; the local address of each datagram is
    /// then learnt with IP_PKTINFO).
    pub addresses: Vec<Ipv4Addr>,
    /// The IKE port (RFC 2409; 500).
    pub ike_port: u16,
    /// The NAT-T port (RFC 3948 §1; 4500).
    pub nat_t_port: u16,
    /// Also open a raw IP protocol 50 socket for ESP without UDP encapsulation (needs
    /// CAP_NET_RAW). With the NAT-D trick on, clients always use UDP 4500 and this is not needed.
    pub raw_esp: bool,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            addresses: vec![Ipv4Addr::UNSPECIFIED],
            ike_port: 500,
            nat_t_port: 4500,
            raw_esp: false,
        }
    }
}

/// The address pool: clients get addresses from `cidr`, except the network and broadcast
/// addresses and the server's own PPP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// The pool network.
    pub cidr: Ipv4Network,
    /// The server's own address on the PPP links (default: the first host of the pool).
    pub server_address: Ipv4Addr,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let cidr = Ipv4Network::new(Ipv4Addr::new(10, 99, 0, 0), 24).unwrap_or_else(|_| {
            // A /24 prefix is always valid; this branch cannot be taken.
            Ipv4Network::from(Ipv4Addr::new(10, 99, 0, 0))
        });
        Self {
            cidr,
            server_address: first_host(cidr),
        }
    }
}

impl PoolConfig {
    /// Whether `addr` can ever be handed to a client: inside the network, not the network or
    /// broadcast address, not the server's address.
    pub fn is_assignable(&self, addr: Ipv4Addr) -> bool {
        self.cidr.contains(addr)
            && addr != self.cidr.network()
            && addr != self.cidr.broadcast()
            && addr != self.server_address
    }
}

/// The first host address of a network (the default server address).
pub fn first_host(net: Ipv4Network) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).saturating_add(1))
}

/// An IKE algorithm profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Profile {
    /// AES-CBC, SHA1/SHA2, MODP2048, ECP256/384: Windows 7 and later, macOS/iOS, Linux.
    Modern,
    /// 3DES, SHA1/MD5, MODP1024/2048, draft NAT-T: Windows XP, whose IPsec has no AES
    /// (Microsoft KB 325158).
    Legacy,
}

/// IKE algorithm policy and NAT-T behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IkePolicy {
    /// The algorithm profiles offered; the client's first acceptable transform wins.
    pub profiles: Vec<Profile>,
    /// Also accept single DES (weak; only with `legacy`).
    pub legacy_des: bool,
    /// Also accept MODP768, DH group 1 (weak; only with `legacy`).
    pub modp768: bool,
    /// Report the client as behind NAT and, to Microsoft peers, echo their own NAT-D hash for
    /// the server, so every client floats to UDP 4500 and Windows never decides the server is
    /// behind NAT (which it refuses by default, Microsoft KB 885407).
    pub nat_d_trick: bool,
    /// Bounds the proposed lifetimes are clamped to.
    pub lifetimes: Lifetimes,
    /// Dead peer detection (RFC 3706): for clients that announced it, send R-U-THERE after
    /// this many seconds without any IKE or ESP packet from them; 0 disables it. Clients
    /// without DPD (Windows) rely on L2TP Hello and LCP echoes instead.
    pub dpd_interval_secs: u32,
    /// Unanswered R-U-THEREs (one per interval) before the client is disconnected.
    pub dpd_failures: u32,
}

impl Default for IkePolicy {
    fn default() -> Self {
        Self {
            profiles: vec![Profile::Modern, Profile::Legacy],
            legacy_des: false,
            modp768: false,
            nat_d_trick: true,
            lifetimes: Lifetimes::default(),
            dpd_interval_secs: 30,
            dpd_failures: 5,
        }
    }
}

/// Lifetime bounds in seconds: a client's proposed lifetime is clamped into `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifetimes {
    /// Shortest IKE (phase 1) SA lifetime accepted.
    pub ike_min_secs: u32,
    /// Longest IKE SA lifetime accepted (Windows uses 28800 s, 8 hours).
    pub ike_max_secs: u32,
    /// Shortest ESP (phase 2) SA lifetime accepted.
    pub esp_min_secs: u32,
    /// Longest ESP SA lifetime accepted (Windows 10 proposes 3600 s).
    pub esp_max_secs: u32,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            ike_min_secs: 600,
            ike_max_secs: 86_400,
            esp_min_secs: 300,
            esp_max_secs: 28_800,
        }
    }
}

/// A PPP authentication protocol the server may ask for. Exhaustive on purpose: a new one must
/// be mapped to the PPP engine's protocol by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum AuthProtocol {
    /// MS-CHAPv2 (RFC 2759).
    #[serde(rename = "mschapv2")]
    MsChapV2,
    /// CHAP with MD5 (RFC 1994).
    #[serde(rename = "chap")]
    Chap,
    /// MS-CHAPv1 (RFC 2433).
    #[serde(rename = "mschapv1")]
    MsChapV1,
}

/// PPP options.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PppOptions {
    /// Authentication protocols in the order they are proposed (a client Configure-Nak moves to
    /// the next one it supports).
    pub auth: Vec<AuthProtocol>,
    /// Also accept PAP (cleartext password inside ESP). Off by default.
    pub pap: bool,
    /// The MRU we ask for and the largest MRU we accept (RFC 1661 §6.1).
    pub mru: u16,
    /// The LCP echo timer's interval in seconds (RFC 1661 §5.8); 0 disables echoes. At each
    /// tick an Echo-Request goes out only if nothing (no PPP frame, an Echo-Reply included)
    /// came from the client during the interval before it, so a client that only answers
    /// gets one every other interval.
    pub echo_interval_secs: u32,
    /// Silent intervals in a row (at least one Echo-Request unanswered) before the link is
    /// declared dead: a client that stops sending is dropped `echo_failures` to
    /// `echo_failures + 1` intervals after its last frame (two to three intervals for 1).
    pub echo_failures: u32,
    /// TCP MSS clamping in SYN and SYN-ACK segments both ways (the classic "some web sites hang
    /// over the VPN" fix): `auto` (the default) clamps to what fits the session's MTU, `off`
    /// never touches TCP, a number is an upper bound.
    pub tcp_mss_clamp: MssClamp,
    /// Seconds a session may last before it is ended; 0 (the default) means no limit. A
    /// user's `session_timeout_secs` in users.yaml, or a RADIUS Session-Timeout, overrides it.
    pub session_timeout_secs: u32,
    /// Seconds without an IPv4 packet from or to the client before its session is ended (LCP
    /// echoes and L2TP Hellos do not count); 0 (the default) means no limit, otherwise at
    /// least 60. A user's `idle_timeout_secs`, or a RADIUS Idle-Timeout, overrides it.
    pub idle_timeout_secs: u32,
    /// Rate limits for every session, in bits per second (`{ up: "2M", down: "10M" }`, see
    /// [`RateLimit`](crate::RateLimit)); none by default. A user's `rate_limit` in users.yaml,
    /// or a RADIUS rate-limit attribute, replaces it.
    pub rate_limit: Option<crate::RateLimit>,
}

/// TCP MSS clamping (RFC 9293 §3.7.1: the MSS a host announces assumes its own MTU, not the
/// tunnel's; RFC 4459 §3.2 discusses clamping by tunnel endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MssClamp {
    /// Never touch TCP.
    Off,
    /// The session's MTU (the smaller of the client's MRU, ours and the TUN's) minus 40.
    #[default]
    Auto,
    /// At most this value (and at most what `Auto` gives).
    Max(u16),
}

impl<'de> Deserialize<'de> for MssClamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Number(u16),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "auto" => Ok(Self::Auto),
            Raw::Word(w) if w == "off" => Ok(Self::Off),
            Raw::Number(n) => Ok(Self::Max(n)),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "tcp_mss_clamp is `auto`, `off` or a number of bytes, not `{w}`"
            ))),
        }
    }
}

impl Default for PppOptions {
    fn default() -> Self {
        Self {
            auth: vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::Chap,
                AuthProtocol::MsChapV1,
            ],
            pap: false,
            mru: 1400,
            echo_interval_secs: 30,
            echo_failures: 4,
            tcp_mss_clamp: MssClamp::Auto,
            session_timeout_secs: 0,
            idle_timeout_secs: 0,
            rate_limit: None,
        }
    }
}

/// L2TP options (RFC 2661).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct L2tpOptions {
    /// Seconds without any message from the client on a tunnel, control or data (LCP
    /// Echo-Replies included), before a Hello is sent (RFC 2661 §6.5); 0 disables. The timer
    /// ticks at this interval, so the Hello goes out one to two intervals after the last
    /// data message.
    pub hello_interval_secs: u32,
    /// Our Host Name AVP (RFC 2661 §4.4.3).
    pub host_name: String,
    /// Tunnel authentication secret (RFC 2661 §5.1.1). Windows has no UI for it; leave unset for
    /// Windows clients.
    #[serde(deserialize_with = "de_opt_secret")]
    pub tunnel_secret: Option<Secret>,
    /// Our Receive Window Size AVP (RFC 2661 §4.4.3).
    pub receive_window: u16,
    /// Retransmissions of a control message before the tunnel is torn down (RFC 2661 §5.8).
    pub max_retransmits: u32,
}

impl Default for L2tpOptions {
    fn default() -> Self {
        Self {
            hello_interval_secs: 60,
            host_name: "l2tpd-rs".to_owned(),
            tunnel_secret: None,
            receive_window: 16,
            max_retransmits: 5,
        }
    }
}

/// Bounds on state: every table a peer can grow has a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// IKE SAs still in Main Mode, over all peers. At the bound a newcomer evicts a
    /// negotiation still waiting for Main Mode message 3, from the address holding the most.
    pub half_open_ike_sas: u32,
    /// IKE SAs still in Main Mode from one source address (strongSwan calls its equivalent
    /// the block threshold).
    pub half_open_per_source_ip: u32,
    /// Diffie-Hellman computations per second one source address may cause (a burst of twice
    /// as many is allowed): each costs milliseconds of CPU.
    pub key_exchanges_per_source_per_second: u32,
    /// Peers (outer 4-tuples) sharing one source IP address (clients behind one NAT).
    pub peers_per_source_ip: u32,
    /// Peers in total.
    pub max_peers: u32,
    /// L2TP tunnels per peer.
    pub tunnels_per_peer: u32,
    /// L2TP sessions per tunnel.
    pub sessions_per_tunnel: u32,
    /// Sessions one user may have at once (0: no limit).
    pub sessions_per_user: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            half_open_ike_sas: 4096,
            half_open_per_source_ip: 16,
            key_exchanges_per_source_per_second: 10,
            peers_per_source_ip: 64,
            max_peers: 20_000,
            tunnels_per_peer: 4,
            sessions_per_tunnel: 4,
            sessions_per_user: 4,
        }
    }
}

pub(crate) fn check_pool(
    ck: &mut Checker<'_>,
    cidr: Ipv4Network,
    server_address: Option<Ipv4Addr>,
) -> PoolConfig {
    let server_address = server_address.unwrap_or_else(|| first_host(cidr));
    let prefix = cidr.prefix();
    if prefix > MAX_POOL_PREFIX {
        ck.error(
            &["pool", "cidr"],
            format!(
                "pool {cidr} is too small: it must hold the server address and at least one client \
                 (use /{MAX_POOL_PREFIX} or shorter)"
            ),
        );
    } else if prefix < MIN_POOL_PREFIX {
        ck.error(
            &["pool", "cidr"],
            format!("pool {cidr} is too large: use /{MIN_POOL_PREFIX} or longer"),
        );
    } else if !cidr.contains(server_address)
        || server_address == cidr.network()
        || server_address == cidr.broadcast()
    {
        ck.error(
            &["pool", "server_address"],
            format!("pool.server_address {server_address} is not a host address of {cidr}"),
        );
    }
    if !is_private(cidr.network()) {
        ck.warn(
            &["pool", "cidr"],
            format!("pool {cidr} is not a private (RFC 1918) or CGNAT range"),
        );
    }
    PoolConfig {
        cidr,
        server_address,
    }
}

fn is_private(a: Ipv4Addr) -> bool {
    let [x, y, ..] = a.octets();
    a.is_private() || (x == 100 && (64..128).contains(&y))
}

pub(crate) fn check_listen(ck: &mut Checker<'_>, l: &Listen) {
    if l.addresses.is_empty() {
        ck.error(
            &["listen", "addresses"],
            "listen.addresses is empty: nothing to listen on",
        );
    }
    let mut seen = HashSet::new();
    for a in &l.addresses {
        if !seen.insert(*a) {
            ck.error(
                &["listen", "addresses"],
                format!("listen address {a} is listed twice"),
            );
        }
        if a.is_multicast() || a.is_broadcast() {
            ck.error(
                &["listen", "addresses"],
                format!("listen address {a} is not a unicast address"),
            );
        }
    }
    if l.addresses.len() > 1 && l.addresses.contains(&Ipv4Addr::UNSPECIFIED) {
        ck.error(
            &["listen", "addresses"],
            "0.0.0.0 already covers every address: list it alone or list specific addresses",
        );
    }
    if l.ike_port == 0 {
        ck.error(&["listen", "ike_port"], "listen.ike_port is 0");
    }
    if l.nat_t_port == 0 {
        ck.error(&["listen", "nat_t_port"], "listen.nat_t_port is 0");
    }
    if l.ike_port == l.nat_t_port {
        ck.error(
            &["listen", "nat_t_port"],
            format!(
                "listen.ike_port and listen.nat_t_port are both {}: they must differ",
                l.ike_port
            ),
        );
    }
    if l.ike_port != 500 || l.nat_t_port != 4500 {
        ck.warn(
            &["listen"],
            format!(
                "IKE on {} and NAT-T on {}: built-in clients only use 500 and 4500",
                l.ike_port, l.nat_t_port
            ),
        );
    }
}

pub(crate) fn check_servers(
    ck: &mut Checker<'_>,
    key: &str,
    addrs: &[Ipv4Addr],
    pool: &PoolConfig,
) {
    if addrs.len() > 2 {
        ck.error(
            &[key],
            format!(
                "{key} lists {} servers; IPCP carries at most 2 (RFC 1877)",
                addrs.len()
            ),
        );
    }
    for a in addrs {
        if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
            ck.error(&[key], format!("{key} server {a} is not a unicast address"));
        } else if pool.cidr.contains(*a) && *a != pool.server_address {
            ck.warn(
                &[key],
                format!("{key} server {a} is inside the pool and may be given to a client"),
            );
        }
    }
}

pub(crate) fn check_client_routes(
    ck: &mut Checker<'_>,
    routes: &[Ipv4Network],
    domain: Option<&str>,
    pool: &PoolConfig,
) {
    // One DHCPACK must stay within the 576 bytes every client accepts (RFC 2131 §2): each
    // route costs up to 9 bytes in option 121 and again in option 249.
    const MAX_ROUTES: usize = 24;
    if routes.len() > MAX_ROUTES {
        ck.error(
            &["client_routes"],
            format!(
                "client_routes lists {} networks; at most {MAX_ROUTES} fit in one DHCP answer",
                routes.len()
            ),
        );
    }
    for r in routes {
        if r.prefix() == 0 {
            ck.error(
                &["client_routes"],
                "client_routes must not contain 0.0.0.0/0: tick \"Use default gateway on \
                 remote network\" on the client instead",
            );
        } else if r.contains(pool.server_address) || pool.cidr.contains(r.network()) {
            ck.warn(
                &["client_routes"],
                format!("client_routes entry {r} overlaps the pool; clients reach the pool anyway"),
            );
        }
    }
    if let Some(d) = domain
        && (d.is_empty()
            || d.len() > 253
            || !d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
    {
        ck.error(
            &["client_domain"],
            format!("client_domain `{d}` is not a DNS name like corp.example.com"),
        );
    }
}

pub(crate) fn check_ike(ck: &mut Checker<'_>, ike: &IkePolicy) {
    if ike.profiles.is_empty() {
        ck.error(
            &["ike", "profiles"],
            "ike.profiles is empty: no client could connect",
        );
    }
    let mut seen = HashSet::new();
    for p in &ike.profiles {
        if !seen.insert(*p) {
            ck.error(
                &["ike", "profiles"],
                format!("ike.profiles lists {p:?} twice"),
            );
        }
    }
    let legacy = ike.profiles.contains(&Profile::Legacy);
    if ike.legacy_des {
        if legacy {
            ck.warn(
                &["ike", "legacy_des"],
                "single DES is enabled: it is broken; enable it only for clients that need it",
            );
        } else {
            ck.warn(
                &["ike", "legacy_des"],
                "ike.legacy_des has no effect without the `legacy` profile",
            );
        }
    }
    if ike.modp768 {
        if legacy {
            ck.warn(&["ike", "modp768"], "MODP768 (DH group 1) is enabled: it is broken; enable it only for clients that need it");
        } else {
            ck.warn(
                &["ike", "modp768"],
                "ike.modp768 has no effect without the `legacy` profile",
            );
        }
    }
    if ike.dpd_interval_secs > 0 && ike.dpd_failures == 0 {
        ck.error(
            &["ike", "dpd_failures"],
            "ike.dpd_failures must be at least 1 when dead peer detection is on",
        );
    }
    let lt = &ike.lifetimes;
    if lt.ike_min_secs == 0 || lt.esp_min_secs == 0 {
        ck.error(
            &["ike", "lifetimes"],
            "lifetime bounds must be at least 1 second",
        );
    }
    if lt.ike_min_secs > lt.ike_max_secs {
        ck.error(
            &["ike", "lifetimes", "ike_min_secs"],
            format!(
                "ike_min_secs {} is above ike_max_secs {}",
                lt.ike_min_secs, lt.ike_max_secs
            ),
        );
    }
    if lt.esp_min_secs > lt.esp_max_secs {
        ck.error(
            &["ike", "lifetimes", "esp_min_secs"],
            format!(
                "esp_min_secs {} is above esp_max_secs {}",
                lt.esp_min_secs, lt.esp_max_secs
            ),
        );
    }
}

pub(crate) fn check_ppp(ck: &mut Checker<'_>, ppp: &PppOptions) {
    if ppp.auth.is_empty() && !ppp.pap {
        ck.error(
            &["ppp", "auth"],
            "no PPP authentication protocol is enabled (ppp.auth is empty and pap is off)",
        );
    }
    let mut seen = HashSet::new();
    for a in &ppp.auth {
        if !seen.insert(*a) {
            ck.error(&["ppp", "auth"], format!("ppp.auth lists {a:?} twice"));
        }
    }
    if ppp.pap {
        ck.warn(
            &["ppp", "pap"],
            "PAP is enabled: passwords travel in clear text inside ESP",
        );
    }
    if !(576..=1500).contains(&ppp.mru) {
        ck.error(
            &["ppp", "mru"],
            format!("ppp.mru {} is outside 576..=1500", ppp.mru),
        );
    }
    if let MssClamp::Max(n) = ppp.tcp_mss_clamp
        && !(536..=1460).contains(&n)
    {
        ck.error(
            &["ppp", "tcp_mss_clamp"],
            format!("ppp.tcp_mss_clamp {n} is outside 536..=1460 (RFC 9293 §3.7.1)"),
        );
    }
    if ppp.idle_timeout_secs > 0 && ppp.idle_timeout_secs < crate::users::MIN_IDLE_TIMEOUT_SECS {
        ck.error(
            &["ppp", "idle_timeout_secs"],
            format!(
                "ppp.idle_timeout_secs {} is below {} (LCP echoes do not count as use, so \
                 sessions would end whenever their user pauses); use 0 for no idle limit",
                ppp.idle_timeout_secs,
                crate::users::MIN_IDLE_TIMEOUT_SECS
            ),
        );
    }
    if ppp.echo_interval_secs > 0 && ppp.echo_failures == 0 {
        ck.error(
            &["ppp", "echo_failures"],
            "ppp.echo_failures must be at least 1 when echoes are on",
        );
    }
}

pub(crate) fn check_l2tp(ck: &mut Checker<'_>, l2tp: &L2tpOptions) {
    let host = l2tp.host_name.trim();
    if host.is_empty() {
        ck.error(
            &["l2tp", "host_name"],
            "l2tp.host_name is empty (the Host Name AVP is mandatory)",
        );
    } else if l2tp.host_name.len() > 255 {
        ck.error(
            &["l2tp", "host_name"],
            "l2tp.host_name is longer than 255 bytes",
        );
    }
    if l2tp.receive_window == 0 {
        ck.error(
            &["l2tp", "receive_window"],
            "l2tp.receive_window must be at least 1",
        );
    }
    if l2tp.max_retransmits == 0 {
        ck.error(
            &["l2tp", "max_retransmits"],
            "l2tp.max_retransmits must be at least 1",
        );
    }
    if l2tp.tunnel_secret.as_ref().is_some_and(Secret::is_empty) {
        ck.error(
            &["l2tp", "tunnel_secret"],
            "l2tp.tunnel_secret is empty: remove the key to disable tunnel authentication",
        );
    } else if l2tp.tunnel_secret.is_some() {
        ck.warn(
            &["l2tp", "tunnel_secret"],
            "l2tp.tunnel_secret is set: Windows, macOS and iOS clients cannot send one and will fail",
        );
    }
}

pub(crate) fn check_limits(ck: &mut Checker<'_>, limits: &Limits) {
    let fields = [
        ("half_open_ike_sas", limits.half_open_ike_sas),
        ("half_open_per_source_ip", limits.half_open_per_source_ip),
        (
            "key_exchanges_per_source_per_second",
            limits.key_exchanges_per_source_per_second,
        ),
        ("peers_per_source_ip", limits.peers_per_source_ip),
        ("max_peers", limits.max_peers),
        ("tunnels_per_peer", limits.tunnels_per_peer),
        ("sessions_per_tunnel", limits.sessions_per_tunnel),
    ];
    for (name, v) in fields {
        if v == 0 {
            ck.error(
                &["limits", name],
                format!("limits.{name} is 0: no client could connect"),
            );
        }
    }
    if limits.peers_per_source_ip > limits.max_peers {
        ck.warn(
            &["limits", "peers_per_source_ip"],
            "limits.peers_per_source_ip is above limits.max_peers",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_assignable_addresses() {
        let pool = PoolConfig::default();
        assert_eq!(pool.server_address, Ipv4Addr::new(10, 99, 0, 1));
        assert!(pool.is_assignable(Ipv4Addr::new(10, 99, 0, 2)));
        assert!(pool.is_assignable(Ipv4Addr::new(10, 99, 0, 254)));
        for no in [
            Ipv4Addr::new(10, 99, 0, 0),
            Ipv4Addr::new(10, 99, 0, 1),
            Ipv4Addr::new(10, 99, 0, 255),
            Ipv4Addr::new(10, 98, 0, 5),
        ] {
            assert!(!pool.is_assignable(no), "{no}");
        }
    }
}
