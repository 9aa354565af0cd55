//! `l2tpd.yaml`: the server configuration (DESIGN.md "Interfaces").
//!
//! [`Config::load`] reads the file, rejects unknown keys (every section is
//! `deny_unknown_fields`), resolves relative paths against the file's directory, reads the
//! `psk_file` if one is named, and then validates the values. Validation reports **every**
//! problem at once, each with the file, the line and a plain reason, so an administrator fixes a
//! file in one pass. Things that work but are unwise (the shipped example PSK, the legacy DES
//! suite, plaintext L2TP) are [`Warning`]s, not errors.
//!
//! Interop defaults and where they come from:
//! - PPP MRU 1400: Windows asks for MRU 1400 on L2TP (clients.md C.4, decoded-traces.md #3).
//! - Authentication order MS-CHAPv2, CHAP-MD5, MS-CHAPv1 with PAP off (clients.md C.4, E.8).
//! - The NAT-D trick is on by default so Windows needs no registry edit (clients.md B.2, E.2).
//! - Legacy suite (3DES, MODP1024) on by default for Windows XP (clients.md C.1); DES and
//!   MODP768 only when explicitly enabled (clients.md B.7).

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crypto::Secret;
use ipnetwork::Ipv4Network;
use serde::{Deserialize, Deserializer};

/// The example PSK shipped in `config/l2tpd.yaml`. Running with it is allowed (so the example
/// works as shipped) but warned about loudly.
pub const EXAMPLE_PSK: &str = "CHANGE-ME-example-psk";

/// The control socket path used when the configuration names none.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/l2tpd-rs.sock";

/// The smallest pool prefix length accepted (a /16 holds 65534 addresses).
pub const MIN_POOL_PREFIX: u8 = 16;

/// The largest pool prefix length accepted (a /30 holds the server and one client).
pub const MAX_POOL_PREFIX: u8 = 30;

/// Why a configuration file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file (or a file it names, such as `psk_file`) could not be read.
    Io,
    /// The YAML is malformed, a key is unknown or a value has the wrong type.
    Syntax,
    /// The values parse but are not usable together (pool too small, ports equal, ...).
    Invalid,
}

/// One problem in a configuration file: where it is and why it is a problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Location::new(file, *line, *column).prefix_and(reason))]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column, when known.
    pub column: Option<usize>,
    /// What kind of problem it is.
    pub kind: ConfigErrorKind,
    /// The reason, in plain words.
    pub reason: String,
}

/// Something that works but that the administrator should know about (the example PSK, a
/// weak algorithm enabled, plaintext L2TP allowed, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file the warning is about.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The warning, in plain words.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Location::new(&self.file, self.line, None).prefix_and(&self.message))
    }
}

/// `file:line:column: ` formatting shared by every problem type of this crate.
pub(crate) struct Location<'a> {
    file: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
}

impl<'a> Location<'a> {
    pub(crate) fn new(file: &'a Path, line: Option<usize>, column: Option<usize>) -> Self {
        Self { file, line, column }
    }

    pub(crate) fn prefix_and(&self, reason: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}: {reason}", self.file.display()),
            (Some(l), None) => format!("{}:{l}: {reason}", self.file.display()),
            _ => format!("{}: {reason}", self.file.display()),
        }
    }
}

/// The validated server configuration.
///
/// Paths are absolute or relative to the current directory (relative paths in the file were
/// resolved against the file's directory). Secrets are [`Secret`]s: `Debug` does not show them.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this configuration was loaded from (empty for [`Config::default`]).
    pub path: PathBuf,
    /// Where to listen for IKE and NAT-T.
    pub listen: Listen,
    /// The IKE pre-shared key (from `psk` or `psk_file`).
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
    /// Bounds on per-peer and global state (DESIGN.md "Security rules").
    pub limits: Limits,
    /// The TUN device.
    pub tun: TunOptions,
    /// The Unix control socket `l2tpd-rs status` talks to.
    pub control_socket: PathBuf,
    /// The log level (`RUST_LOG` overrides it).
    pub log_level: LogLevel,
    /// The users file (`users.yaml`).
    pub users_file: PathBuf,
    /// Accept L2TP that is not inside an ESP SA. Off by default; on, it is logged loudly.
    pub allow_plaintext_l2tp: bool,
    /// Drop root privileges after set-up.
    pub privileges: Option<Privileges>,
    /// Data-path worker threads (`workers`): `None` means one per CPU, decided by the daemon;
    /// `Some(1)` keeps every packet on the single owner task. At most [`MAX_WORKERS`].
    pub workers: Option<u16>,
}

/// The largest `workers` value accepted.
pub const MAX_WORKERS: u16 = 128;

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

/// An IKE algorithm profile (DESIGN.md "Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Profile {
    /// AES-CBC, SHA1/SHA2, MODP2048, ECP256/384: Windows 7 and later, macOS/iOS, Linux.
    Modern,
    /// 3DES, SHA1/MD5, MODP1024/2048, draft NAT-T: Windows XP (clients.md C.1).
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
    /// behind NAT (clients.md A.1, B.2).
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
    /// Longest IKE SA lifetime accepted (Windows proposes 28800, clients.md C.1).
    pub ike_max_secs: u32,
    /// Shortest ESP (phase 2) SA lifetime accepted.
    pub esp_min_secs: u32,
    /// Longest ESP SA lifetime accepted (Windows 10 proposes 3600, clients.md C.2).
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

/// A PPP authentication protocol the server may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
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
    /// Seconds between LCP Echo-Requests (RFC 1661 §5.8); 0 disables them.
    pub echo_interval_secs: u32,
    /// Unanswered Echo-Requests before the link is declared dead.
    pub echo_failures: u32,
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
        }
    }
}

/// L2TP options (RFC 2661).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct L2tpOptions {
    /// Seconds of control-channel silence before a Hello is sent (RFC 2661 §6.5); 0 disables.
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

/// Bounds on state (DESIGN.md "Bounded state").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// IKE SAs still in Main Mode, over all peers.
    pub half_open_ike_sas: u32,
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
            half_open_ike_sas: 512,
            peers_per_source_ip: 64,
            max_peers: 20_000,
            tunnels_per_peer: 4,
            sessions_per_tunnel: 4,
            sessions_per_user: 4,
        }
    }
}

/// The TUN device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TunOptions {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// Interface MTU.
    pub mtu: u16,
    /// Add a route for the pool through the device.
    pub create_routes: bool,
}

impl Default for TunOptions {
    fn default() -> Self {
        Self {
            name: "l2tp0".to_owned(),
            mtu: 1400,
            create_routes: true,
        }
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// One line per connection event (default).
    #[default]
    Info,
    /// Protocol detail.
    Debug,
    /// Everything, including packet decodes.
    Trace,
}

impl LogLevel {
    /// The `tracing` filter name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// The unprivileged account to switch to after set-up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privileges {
    /// User name.
    pub user: String,
    /// Group name (default: the user's primary group).
    #[serde(default)]
    pub group: Option<String>,
}

impl Default for Config {
    /// The default of every optional key. The required keys get stand-ins (pool
    /// 10.99.0.0/24, an empty PSK), so this is for tests; real configurations come from
    /// [`Config::load`].
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
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
            tun: TunOptions::default(),
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            log_level: LogLevel::default(),
            users_file: PathBuf::from("users.yaml"),
            allow_plaintext_l2tp: false,
            privileges: None,
            workers: None,
        }
    }
}

/// The file as written (before resolution and validation).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    listen: Listen,
    #[serde(default, deserialize_with = "de_opt_secret")]
    psk: Option<Secret>,
    #[serde(default)]
    psk_file: Option<PathBuf>,
    pool: RawPool,
    #[serde(default)]
    dns: Vec<Ipv4Addr>,
    #[serde(default)]
    wins: Vec<Ipv4Addr>,
    #[serde(default, deserialize_with = "de_cidrs")]
    client_routes: Vec<Ipv4Network>,
    #[serde(default)]
    client_domain: Option<String>,
    #[serde(default)]
    ike: IkePolicy,
    #[serde(default)]
    ppp: PppOptions,
    #[serde(default)]
    l2tp: L2tpOptions,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    tun: TunOptions,
    #[serde(default)]
    control_socket: Option<PathBuf>,
    #[serde(default)]
    log_level: LogLevel,
    #[serde(default)]
    users_file: Option<PathBuf>,
    #[serde(default)]
    allow_plaintext_l2tp: bool,
    #[serde(default)]
    privileges: Option<Privileges>,
    #[serde(default)]
    workers: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    #[serde(deserialize_with = "de_cidr")]
    cidr: Ipv4Network,
    #[serde(default)]
    server_address: Option<Ipv4Addr>,
}

fn de_cidr<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Network, D::Error> {
    let s = String::deserialize(d)?;
    let net: Ipv4Network = s.parse().map_err(|e| {
        serde::de::Error::custom(format_args!(
            "`{s}` is not an IPv4 CIDR like 10.99.0.0/24 ({e})"
        ))
    })?;
    if net.network() != net.ip() {
        return Err(serde::de::Error::custom(format_args!(
            "`{s}` has host bits set: did you mean {}/{}?",
            net.network(),
            net.prefix()
        )));
    }
    Ok(net)
}

fn de_cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ipv4Network>, D::Error> {
    #[derive(Deserialize)]
    struct Cidr(#[serde(deserialize_with = "de_cidr")] Ipv4Network);
    let v: Vec<Cidr> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|c| c.0).collect())
}

fn de_opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| Secret::new(s.into_bytes())))
}

/// The first host address of a network (the default server address).
pub fn first_host(net: Ipv4Network) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).saturating_add(1))
}

/// Collects problems while a file is validated.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
    warnings: Vec<Warning>,
}

impl Checker<'_> {
    fn error(&mut self, key: &[&str], reason: impl Into<String>) {
        let line = find_key_line(self.text, key);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column: None,
            kind: ConfigErrorKind::Invalid,
            reason: reason.into(),
        });
    }

    fn io_error(&mut self, key: &[&str], reason: impl Into<String>) {
        let line = find_key_line(self.text, key);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column: None,
            kind: ConfigErrorKind::Io,
            reason: reason.into(),
        });
    }

    fn warn(&mut self, key: &[&str], message: impl Into<String>) {
        let line = find_key_line(self.text, key);
        self.warnings.push(Warning {
            file: self.file.to_path_buf(),
            line,
            message: message.into(),
        });
    }
}

impl Config {
    /// Reads and validates `path`. On success, returns the configuration and any warnings; on
    /// failure, every problem found (syntax errors stop at the first, since serde cannot go on;
    /// validation errors are all reported).
    pub fn load(path: &Path) -> Result<(Self, Vec<Warning>), Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                kind: ConfigErrorKind::Io,
                reason: format!("cannot read the configuration file: {e}"),
            }]
        })?;
        Self::from_yaml_str(&text, path)
    }

    /// Parses and validates `text` as if it were the contents of `path` (relative paths resolve
    /// against `path`'s directory; `psk_file` is read from there).
    pub fn from_yaml_str(
        text: &str,
        path: &Path,
    ) -> Result<(Self, Vec<Warning>), Vec<ConfigError>> {
        if text.trim().is_empty() {
            return Err(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                kind: ConfigErrorKind::Syntax,
                reason: "the file is empty: `psk` (or `psk_file`) and `pool` are required"
                    .to_owned(),
            }]);
        }
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| vec![yaml_error(path, &e)])?;
        let base = base_dir(path);
        let mut ck = Checker {
            file: path,
            text,
            errors: Vec::new(),
            warnings: Vec::new(),
        };

        let psk = resolve_psk(&mut ck, raw.psk, raw.psk_file.as_deref(), &base);
        let pool = check_pool(&mut ck, &raw.pool);
        check_listen(&mut ck, &raw.listen);
        check_servers(&mut ck, "dns", &raw.dns, &pool);
        check_servers(&mut ck, "wins", &raw.wins, &pool);
        check_client_routes(
            &mut ck,
            &raw.client_routes,
            raw.client_domain.as_deref(),
            &pool,
        );
        check_ike(&mut ck, &raw.ike);
        check_ppp(&mut ck, &raw.ppp);
        check_l2tp(&mut ck, &raw.l2tp);
        check_limits(&mut ck, &raw.limits);
        check_tun(&mut ck, &raw.tun, &raw.ppp);
        if raw.allow_plaintext_l2tp {
            ck.warn(
                &["allow_plaintext_l2tp"],
                "allow_plaintext_l2tp is on: L2TP and PPP (user names, CHAP exchanges, traffic) \
                 are accepted without IPsec",
            );
        }
        if let Some(p) = &raw.privileges {
            if p.user.trim().is_empty() {
                ck.error(&["privileges", "user"], "privileges.user is empty");
            }
            if p.group.as_deref().is_some_and(|g| g.trim().is_empty()) {
                ck.error(&["privileges", "group"], "privileges.group is empty");
            }
        }
        if let Some(n) = raw.workers
            && !(1..=MAX_WORKERS).contains(&n)
        {
            ck.error(
                &["workers"],
                format!("workers must be between 1 and {MAX_WORKERS} (or left out: one per CPU)"),
            );
        }
        let control_socket = raw
            .control_socket
            .map_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET), |p| base.join(p));
        if control_socket.as_os_str().to_string_lossy().ends_with('/') {
            ck.error(
                &["control_socket"],
                "control_socket must name a file, not a directory",
            );
        }
        let users_file = base.join(
            raw.users_file
                .unwrap_or_else(|| PathBuf::from("users.yaml")),
        );

        if !ck.errors.is_empty() {
            return Err(ck.errors);
        }
        let config = Self {
            path: path.to_path_buf(),
            listen: raw.listen,
            psk,
            pool,
            dns: raw.dns,
            wins: raw.wins,
            client_routes: raw.client_routes,
            client_domain: raw.client_domain,
            ike: raw.ike,
            ppp: raw.ppp,
            l2tp: raw.l2tp,
            limits: raw.limits,
            tun: raw.tun,
            control_socket,
            log_level: raw.log_level,
            users_file,
            allow_plaintext_l2tp: raw.allow_plaintext_l2tp,
            privileges: raw.privileges,
            workers: raw.workers,
        };
        Ok((config, ck.warnings))
    }

    /// Whether the PSK is the example value shipped in `config/l2tpd.yaml`.
    pub fn psk_is_example(&self) -> bool {
        crypto::ct_eq(self.psk.as_bytes(), EXAMPLE_PSK.as_bytes())
    }
}

/// The directory relative paths in `path` resolve against.
pub(crate) fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Turns a serde_yaml error into a located [`ConfigError`].
fn yaml_error(path: &Path, e: &serde_yaml::Error) -> ConfigError {
    let (line, column) = e
        .location()
        .map_or((None, None), |l| (Some(l.line()), Some(l.column())));
    ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        kind: ConfigErrorKind::Syntax,
        reason: yaml_reason(e),
    }
}

/// The message of a serde_yaml error without its trailing " at line L column C".
pub(crate) fn yaml_reason(e: &serde_yaml::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) if e.location().is_some() => s.get(..i).unwrap_or(&s).to_owned(),
        _ => s,
    }
}

fn resolve_psk(
    ck: &mut Checker<'_>,
    psk: Option<Secret>,
    psk_file: Option<&Path>,
    base: &Path,
) -> Secret {
    let psk = match (psk, psk_file) {
        (Some(_), Some(_)) => {
            ck.error(&["psk_file"], "both `psk` and `psk_file` are set: keep one");
            return Secret::default();
        }
        (None, None) => {
            ck.error(&[], "no pre-shared key: set `psk` or `psk_file`");
            return Secret::default();
        }
        (Some(psk), None) => psk,
        (None, Some(file)) => {
            let full = base.join(file);
            match std::fs::read(&full) {
                Ok(mut bytes) => {
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    warn_if_readable_by_others(ck, &full);
                    Secret::new(bytes)
                }
                Err(e) => {
                    ck.io_error(
                        &["psk_file"],
                        format!("cannot read psk_file {}: {e}", full.display()),
                    );
                    return Secret::default();
                }
            }
        }
    };
    if psk.is_empty() {
        ck.error(&["psk"], "the pre-shared key is empty");
    } else if crypto::ct_eq(psk.as_bytes(), EXAMPLE_PSK.as_bytes()) {
        ck.warn(
            &["psk"],
            "the PSK is the shipped example value: anyone can connect who knows it; change `psk` \
             before real use",
        );
    } else if psk.len() < 8 {
        ck.warn(
            &["psk"],
            "the PSK is shorter than 8 characters and can be guessed offline",
        );
    }
    psk
}

fn warn_if_readable_by_others(ck: &mut Checker<'_>, file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file)
        && meta.permissions().mode() & 0o004 != 0
    {
        ck.warn(
            &["psk_file"],
            format!("{} is readable by every user: chmod 600 it", file.display()),
        );
    }
}

fn check_pool(ck: &mut Checker<'_>, raw: &RawPool) -> PoolConfig {
    let cidr = raw.cidr;
    let server_address = raw.server_address.unwrap_or_else(|| first_host(cidr));
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

fn check_listen(ck: &mut Checker<'_>, l: &Listen) {
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

fn check_servers(ck: &mut Checker<'_>, key: &str, addrs: &[Ipv4Addr], pool: &PoolConfig) {
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

fn check_client_routes(
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

fn check_ike(ck: &mut Checker<'_>, ike: &IkePolicy) {
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

fn check_ppp(ck: &mut Checker<'_>, ppp: &PppOptions) {
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
    if ppp.echo_interval_secs > 0 && ppp.echo_failures == 0 {
        ck.error(
            &["ppp", "echo_failures"],
            "ppp.echo_failures must be at least 1 when echoes are on",
        );
    }
}

fn check_l2tp(ck: &mut Checker<'_>, l2tp: &L2tpOptions) {
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

fn check_limits(ck: &mut Checker<'_>, limits: &Limits) {
    let fields = [
        ("half_open_ike_sas", limits.half_open_ike_sas),
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

fn check_tun(ck: &mut Checker<'_>, tun: &TunOptions, ppp: &PppOptions) {
    let name = &tun.name;
    if name.is_empty() || name.len() > 15 {
        ck.error(
            &["tun", "name"],
            format!("tun.name `{name}` must be 1 to 15 bytes long"),
        );
    } else if name == "."
        || name == ".."
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
    {
        ck.error(
            &["tun", "name"],
            format!("tun.name `{name}` is not a valid interface name"),
        );
    }
    if !(576..=1500).contains(&tun.mtu) {
        ck.error(
            &["tun", "mtu"],
            format!("tun.mtu {} is outside 576..=1500", tun.mtu),
        );
    } else if tun.mtu > ppp.mru {
        ck.warn(
            &["tun", "mtu"],
            format!(
                "tun.mtu {} is above ppp.mru {}: large packets to clients will be dropped",
                tun.mtu, ppp.mru
            ),
        );
    }
}

/// Finds the 1-based line of a nested block-style key, e.g. `["pool", "cidr"]`. An empty path
/// gives `None` (the whole file). If the innermost key is absent, the line of the deepest key
/// found is returned, so a problem with a defaulted value points at its section.
pub(crate) fn find_key_line(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    // Search window: line indices [start, end) and the indentation the parent key had.
    let mut start = 0usize;
    let mut end = lines.len();
    let mut parent_indent: Option<usize> = None;
    for key in path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().take(end).skip(start) {
            let Some((indent, rest)) = split_indent(line) else {
                continue;
            };
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            if parent_indent.is_none() && indent > 0 {
                continue;
            }
            if key_matches(rest, key) {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else { return found };
        found = Some(i + 1);
        start = i + 1;
        parent_indent = Some(indent);
        // The window for the next key ends at the next line at this indent or less.
        end = lines
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, l)| split_indent(l).is_some_and(|(ind, _)| ind <= indent))
            .map_or(lines.len(), |(j, _)| j);
        if start >= end {
            // Inline value (`key: value`): no children to search.
            break;
        }
    }
    found
}

/// Indentation and the rest of a line, skipping blank lines, comments and a list dash.
fn split_indent(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
        return None;
    }
    let indent = line.len() - trimmed.len();
    Some((indent, trimmed.strip_prefix("- ").unwrap_or(trimmed)))
}

fn key_matches(rest: &str, key: &str) -> bool {
    let rest = rest.trim_start_matches(['"', '\'']);
    rest.strip_prefix(key).is_some_and(|r| {
        let r = r.trim_start_matches(['"', '\'']);
        r.starts_with(':')
    })
}

/// The 1-based line of the `n`-th (0-based) occurrence of `key:` in the text (block or flow
/// style), used to point at the `n`-th entry of a list of mappings.
pub(crate) fn nth_key_line(text: &str, key: &str, n: usize) -> Option<usize> {
    let mut count = 0usize;
    for (i, line) in text.lines().enumerate() {
        let code = line.split_once(" #").map_or(line, |(c, _)| c);
        if code.trim_start().starts_with('#') {
            continue;
        }
        let mut from = 0usize;
        while let Some(pos) = code.get(from..).and_then(|s| s.find(key)) {
            let at = from + pos;
            let before_ok = at == 0
                || code
                    .get(..at)
                    .and_then(|s| s.chars().next_back())
                    .is_some_and(|c| matches!(c, ' ' | '\t' | '{' | ',' | '-'));
            let after_ok = code
                .get(at + key.len()..)
                .is_some_and(|s| s.starts_with(':'));
            if before_ok && after_ok {
                if count == n {
                    return Some(i + 1);
                }
                count += 1;
            }
            from = at + key.len();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/l2tpd-rs/l2tpd.yaml";

    fn load(text: &str) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
        Config::from_yaml_str(text, Path::new(FILE))
    }

    #[test]
    fn client_routes_and_domain() {
        let base = "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\n";
        let (c, w) = load(&format!(
            "{base}client_routes: [192.168.1.0/24, 172.16.0.0/12]\nclient_domain: corp.example\n"
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.client_routes.len(), 2);
        assert_eq!(c.client_routes[1].prefix(), 12);
        assert_eq!(c.client_domain.as_deref(), Some("corp.example"));
        assert!(load(base).unwrap().0.client_routes.is_empty());

        let e = errors(&format!("{base}client_routes: [0.0.0.0/0]\n"));
        assert!(e[0].reason.contains("default gateway"), "{}", e[0].reason);
        let e = errors(&format!("{base}client_routes: [192.168.1.1/24]\n"));
        assert!(e[0].reason.contains("host bits"), "{}", e[0].reason);
        let e = errors(&format!("{base}client_domain: \"not a domain!\"\n"));
        assert!(e[0].reason.contains("client_domain"), "{}", e[0].reason);
        let many: Vec<String> = (0..25).map(|i| format!("172.16.{i}.0/24")).collect();
        let e = errors(&format!("{base}client_routes: [{}]\n", many.join(", ")));
        assert!(e[0].reason.contains("at most 24"), "{}", e[0].reason);
        let (_, w) = load(&format!("{base}client_routes: [10.99.0.0/16]\n")).unwrap();
        assert!(
            w.iter()
                .any(|w| w.to_string().contains("overlaps the pool")),
            "{w:?}"
        );
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        match load(text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e,
        }
    }

    const MINIMAL: &str = "psk: a-long-enough-secret\npool:\n  cidr: 10.99.0.0/24\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let (c, w) = load(MINIMAL).unwrap();
        assert!(w.iter().all(|w| !w.message.contains("PSK")), "{w:?}");
        assert_eq!(c.psk.as_bytes(), b"a-long-enough-secret");
        assert_eq!(c.pool.cidr, "10.99.0.0/24".parse::<Ipv4Network>().unwrap());
        assert_eq!(c.pool.server_address, Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(c.listen.addresses, vec![Ipv4Addr::UNSPECIFIED]);
        assert_eq!((c.listen.ike_port, c.listen.nat_t_port), (500, 4500));
        assert!(!c.listen.raw_esp);
        assert_eq!(c.ike.profiles, vec![Profile::Modern, Profile::Legacy]);
        assert!(c.ike.nat_d_trick && !c.ike.legacy_des && !c.ike.modp768);
        assert_eq!(
            c.ppp.auth,
            vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::Chap,
                AuthProtocol::MsChapV1
            ]
        );
        assert!(!c.ppp.pap);
        assert_eq!(c.ppp.mru, 1400);
        assert_eq!(
            c.tun,
            TunOptions {
                name: "l2tp0".into(),
                mtu: 1400,
                create_routes: true
            }
        );
        assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
        assert_eq!(c.users_file, PathBuf::from("/etc/l2tpd-rs/users.yaml"));
        assert!(!c.allow_plaintext_l2tp);
        assert_eq!(c.privileges, None);
        assert_eq!(c.log_level, LogLevel::Info);
        assert!(!c.psk_is_example());
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
listen:
  addresses: [127.0.0.1, 192.0.2.1]
  ike_port: 15500
  nat_t_port: 15450
  raw_esp: true
psk: "another secret value"
pool:
  cidr: 10.1.0.0/16
  server_address: 10.1.255.254
dns: [10.1.0.53, 9.9.9.9]
wins: [10.1.0.54]
ike:
  profiles: [legacy]
  legacy_des: true
  modp768: true
  nat_d_trick: false
  lifetimes: { ike_min_secs: 60, ike_max_secs: 3600, esp_min_secs: 60, esp_max_secs: 1800 }
ppp:
  auth: [chap]
  pap: true
  mru: 1280
  echo_interval_secs: 0
  echo_failures: 0
l2tp:
  hello_interval_secs: 30
  host_name: vpn.example
  receive_window: 8
  max_retransmits: 7
limits:
  half_open_ike_sas: 10
  peers_per_source_ip: 2
  max_peers: 100
  tunnels_per_peer: 1
  sessions_per_tunnel: 1
tun: { name: vpn7, mtu: 1280, create_routes: false }
control_socket: run/ctl.sock
log_level: debug
users_file: /srv/users.yaml
allow_plaintext_l2tp: true
privileges: { user: nobody, group: nogroup }
"#;
        let (c, w) = load(text).unwrap();
        assert_eq!(
            c.listen.addresses,
            vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 1)]
        );
        assert_eq!(
            (c.listen.ike_port, c.listen.nat_t_port, c.listen.raw_esp),
            (15500, 15450, true)
        );
        assert_eq!(c.pool.server_address, Ipv4Addr::new(10, 1, 255, 254));
        assert_eq!(c.dns.len(), 2);
        assert_eq!(c.wins, vec![Ipv4Addr::new(10, 1, 0, 54)]);
        assert_eq!(c.ike.lifetimes.esp_max_secs, 1800);
        assert_eq!(c.ppp.auth, vec![AuthProtocol::Chap]);
        assert_eq!(c.l2tp.host_name, "vpn.example");
        assert_eq!(c.limits.sessions_per_tunnel, 1);
        assert_eq!(
            c.control_socket,
            PathBuf::from("/etc/l2tpd-rs/run/ctl.sock")
        );
        assert_eq!(c.users_file, PathBuf::from("/srv/users.yaml"));
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(
            c.privileges,
            Some(Privileges {
                user: "nobody".into(),
                group: Some("nogroup".into())
            })
        );
        // Every risky choice is a warning.
        let all: String = w.iter().map(|w| format!("{w}\n")).collect();
        for needle in [
            "DES",
            "MODP768",
            "PAP",
            "allow_plaintext_l2tp",
            "IKE on 15500",
        ] {
            assert!(all.contains(needle), "missing warning {needle}: {all}");
        }
    }

    #[test]
    fn dpd_keys_default_parse_and_validate() {
        let (c, _) = load(MINIMAL).unwrap();
        assert_eq!((c.ike.dpd_interval_secs, c.ike.dpd_failures), (30, 5));
        let (c, _) = load(&format!(
            "{MINIMAL}ike:\n  dpd_interval_secs: 10\n  dpd_failures: 3\n"
        ))
        .unwrap();
        assert_eq!((c.ike.dpd_interval_secs, c.ike.dpd_failures), (10, 3));
        // 0 disables DPD; then the failure count does not matter.
        let (c, _) = load(&format!(
            "{MINIMAL}ike:\n  dpd_interval_secs: 0\n  dpd_failures: 0\n"
        ))
        .unwrap();
        assert_eq!(c.ike.dpd_interval_secs, 0);
        let e = errors(&format!("{MINIMAL}ike:\n  dpd_failures: 0\n"));
        assert!(e.iter().any(|e| e.reason.contains("dpd_failures")), "{e:?}");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let e = errors(
            "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\nl2tp:\n  helo_interval_secs: 5\n",
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
        assert_eq!(e[0].line, Some(5));
        assert!(
            e[0].reason.contains("unknown field `helo_interval_secs`"),
            "{}",
            e[0].reason
        );
        let shown = e[0].to_string();
        assert!(shown.starts_with("/etc/l2tpd-rs/l2tpd.yaml:5:"), "{shown}");
    }

    #[test]
    fn bad_values_have_lines() {
        let e =
            errors("psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\ndns: [10.0.0.1, nonsense]\n");
        assert_eq!(e[0].line, Some(4));
        assert!(e[0].reason.contains("dns"), "{}", e[0].reason);

        let e = errors("psk: secret-secret\npool:\n  cidr: 10.99.0.1/24\n");
        assert_eq!(e[0].line, Some(3));
        assert!(e[0].reason.contains("host bits"), "{}", e[0].reason);

        let e = errors("psk: secret-secret\npool:\n  cidr: banana\n");
        assert!(e[0].reason.contains("not an IPv4 CIDR"), "{}", e[0].reason);
    }

    #[test]
    fn broken_yaml_is_located() {
        let e = errors("psk: x\npool: [\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].line.is_some());
        let e = errors("   \n");
        assert!(e[0].reason.contains("empty"));
    }

    #[test]
    fn missing_required_keys() {
        let e = errors("psk: secret-secret\n");
        assert!(e[0].reason.contains("pool"), "{}", e[0].reason);
        let e = errors("pool:\n  cidr: 10.99.0.0/24\n");
        assert!(
            e.iter().any(|e| e.reason.contains("no pre-shared key")),
            "{e:?}"
        );
    }

    #[test]
    fn all_validation_problems_are_reported_at_once() {
        let text = "\
listen:
  addresses: [127.0.0.1, 127.0.0.1]
  ike_port: 4500
  nat_t_port: 4500
psk: \"\"
pool:
  cidr: 10.99.0.0/31
dns: [10.0.0.1, 10.0.0.2, 10.0.0.3]
ike:
  profiles: []
  lifetimes:
    ike_min_secs: 100
    ike_max_secs: 10
ppp:
  auth: []
  mru: 100
tun:
  name: a-very-long-interface-name
";
        let e = errors(text);
        let find = |needle: &str| {
            e.iter()
                .find(|e| e.reason.contains(needle))
                .unwrap_or_else(|| panic!("no error containing {needle:?} in {e:#?}"))
                .line
        };
        assert_eq!(find("listed twice"), Some(2));
        assert_eq!(find("must differ"), Some(4));
        assert_eq!(find("empty"), Some(5));
        assert_eq!(find("too small"), Some(7));
        assert_eq!(find("at most 2"), Some(8));
        assert_eq!(find("ike.profiles is empty"), Some(10));
        assert_eq!(find("ike_max_secs"), Some(12));
        assert_eq!(find("no PPP authentication"), Some(15));
        assert_eq!(find("ppp.mru"), Some(16));
        assert_eq!(find("tun.name"), Some(18));
        assert!(e.iter().all(|e| e.kind == ConfigErrorKind::Invalid));
        assert!(e.len() >= 10);
    }

    #[test]
    fn example_psk_is_a_warning() {
        let (c, w) = load("psk: CHANGE-ME-example-psk\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
        assert!(c.psk_is_example());
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, Some(1));
        assert!(w[0].message.contains("shipped example"));
        assert!(
            !format!("{c:?}").contains("CHANGE-ME"),
            "PSK leaked into Debug"
        );
    }

    #[test]
    fn psk_and_psk_file() {
        let dir = std::env::temp_dir().join(format!("l2tpd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let psk_path = dir.join("psk.txt");
        std::fs::write(&psk_path, "from-a-file-secret\n").unwrap();
        std::fs::set_permissions(
            &psk_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let cfg = dir.join("l2tpd.yaml");
        std::fs::write(&cfg, "psk_file: psk.txt\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
        let (c, w) = Config::load(&cfg).unwrap();
        assert_eq!(c.psk.as_bytes(), b"from-a-file-secret");
        assert!(w.is_empty(), "{w:?}");

        std::fs::set_permissions(
            &psk_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        let (_, w) = Config::load(&cfg).unwrap();
        assert!(w.iter().any(|w| w.message.contains("chmod 600")), "{w:?}");

        std::fs::write(&cfg, "psk_file: missing.txt\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
        let e = Config::load(&cfg).unwrap_err();
        assert_eq!(e[0].kind, ConfigErrorKind::Io);
        assert_eq!(e[0].line, Some(1));

        std::fs::write(
            &cfg,
            "psk: x\npsk_file: psk.txt\npool:\n  cidr: 10.99.0.0/24\n",
        )
        .unwrap();
        let e = Config::load(&cfg).unwrap_err();
        assert!(e[0].reason.contains("both"), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();

        let e = Config::load(&dir.join("nope.yaml")).unwrap_err();
        assert_eq!(e[0].kind, ConfigErrorKind::Io);
    }

    #[test]
    fn server_address_must_be_a_pool_host() {
        let e = errors(
            "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\n  server_address: 10.99.0.255\n",
        );
        assert_eq!(e[0].line, Some(4));
        let e = errors(
            "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\n  server_address: 10.98.0.1\n",
        );
        assert!(e[0].reason.contains("not a host address"));
        let e = errors("psk: secret-secret\npool:\n  cidr: 10.0.0.0/8\n");
        assert!(e[0].reason.contains("too large"));
    }

    #[test]
    fn wildcard_with_other_addresses_is_refused() {
        let e = errors(
            "listen:\n  addresses: [0.0.0.0, 127.0.0.1]\npsk: secret-secret\npool:\n  cidr: 10.99.0.0/24\n",
        );
        assert_eq!(e[0].line, Some(2));
    }

    #[test]
    fn workers_is_validated() {
        assert_eq!(
            load(MINIMAL).unwrap().0.workers,
            None,
            "default: one per CPU"
        );
        let (c, _) = load(&format!("{MINIMAL}workers: 2\n")).unwrap();
        assert_eq!(c.workers, Some(2));
        for bad in ["0", "129"] {
            let e = errors(&format!("{MINIMAL}workers: {bad}\n"));
            assert_eq!(e[0].line, Some(4), "{e:?}");
            assert!(e[0].reason.contains("between 1 and 128"), "{e:?}");
        }
        let e = errors(&format!("{MINIMAL}workers: many\n"));
        assert_eq!(e[0].line, Some(4), "{e:?}");
    }

    #[test]
    fn find_key_line_walks_nesting() {
        let text = "a:\n  b: 1\n  c:\n    d: 2\n# comment\ne: 3\nc:\n  d: 4\n";
        assert_eq!(find_key_line(text, &["a", "c", "d"]), Some(4));
        assert_eq!(find_key_line(text, &["c", "d"]), Some(8));
        assert_eq!(find_key_line(text, &["e"]), Some(6));
        // Missing leaf: the section's line.
        assert_eq!(find_key_line(text, &["a", "zz"]), Some(1));
        assert_eq!(find_key_line(text, &["zz"]), None);
        assert_eq!(find_key_line(text, &[]), None);
    }

    #[test]
    fn nth_key_line_counts_entries() {
        let text = "users:\n  - name: a\n    password: x\n  - {name: b, password: y}\n  # name: c\n  - name: d\n";
        assert_eq!(nth_key_line(text, "name", 0), Some(2));
        assert_eq!(nth_key_line(text, "name", 1), Some(4));
        assert_eq!(nth_key_line(text, "name", 2), Some(6));
        assert_eq!(nth_key_line(text, "name", 3), None);
    }
}
