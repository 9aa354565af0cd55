//! [`Config`]: reading `l2tpd.yaml`, resolving its paths and checking it.
//!
//! [`Config::load`] reads the file once, rejects unknown keys (every section is
//! `deny_unknown_fields`), resolves relative paths against the file's directory, reads the
//! `psk_file` if one is named, and then validates the values. Validation reports **every**
//! problem at once, each with the file, the line and a plain reason, so an administrator fixes a
//! file in one pass. Things that work but are unwise (the shipped example PSK, the legacy DES
//! suite, plaintext L2TP, a key other users can read) are [`Warning`]s, not errors.

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crypto::Secret;
use ipnetwork::Ipv4Network;
use serde::{Deserialize, Deserializer};

use crate::certificates::{RawCertificates, check_certificates};
use crate::daemon::{
    DEFAULT_CONTROL_SOCKET, DaemonConfig, Hooks, LogLevel, MetricsOptions, Privileges, TunOptions,
    check_control_socket, check_hooks, check_metrics, check_privileges, check_tun, check_workers,
};
use crate::de_opt_secret;
use crate::files::{FileText, readable_by};
use crate::locate::{yaml_location, yaml_reason};
use crate::problem::{Checker, ConfigError, ConfigErrorKind, Warning};
use crate::radius::{RawRadius, check_radius};
use crate::server::{
    EXAMPLE_PSK, IkePolicy, L2tpOptions, Limits, Listen, PppOptions, ServerConfig,
    check_client_routes, check_ike, check_l2tp, check_limits, check_listen, check_pool, check_ppp,
    check_servers,
};

/// `l2tpd.yaml`, loaded and checked: the server's part and the daemon's part.
///
/// Paths are absolute or relative to the current directory (relative paths in the file were
/// resolved against the file's directory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// The file this configuration was loaded from (empty for [`Config::default`]).
    pub path: PathBuf,
    /// What `server::Server::new` takes.
    pub server: ServerConfig,
    /// What only the daemon uses.
    pub daemon: DaemonConfig,
}

/// The file as written (before resolution and validation). The keys are flat, as
/// administrators know them; [`Config`] sorts them into the server's and the daemon's part.
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
    control_socket_group: Option<String>,
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
    #[serde(default)]
    metrics: Option<MetricsOptions>,
    #[serde(default)]
    hooks: Hooks,
    radius: Option<RawRadius>,
    #[serde(default)]
    certificates: Option<RawCertificates>,
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

impl Config {
    /// Reads `path` once and checks it. On success, returns the configuration and any warnings
    /// (including one if the file holds an inline `psk` and others can read it); on failure,
    /// every problem found (syntax errors stop at the first, since serde cannot go on;
    /// validation errors are all reported).
    pub fn load(path: &Path) -> Result<(Self, Vec<Warning>), Vec<ConfigError>> {
        Self::read_and_parse(path, None)
    }

    /// [`Config::load`] plus the checks that need the wall-clock time `now`: the configured
    /// CAs verify the server's own certificate chain, and every CRL is signed by a configured
    /// CA and current (see [`crate::CertificateConfig`]). The daemon loads with this.
    pub fn load_at(path: &Path, now: SystemTime) -> Result<(Self, Vec<Warning>), Vec<ConfigError>> {
        Self::read_and_parse(path, Some(now))
    }

    /// Reads `path` once and parses it, with the wall-clock checks when `now` is given.
    fn read_and_parse(
        path: &Path,
        now: Option<SystemTime>,
    ) -> Result<(Self, Vec<Warning>), Vec<ConfigError>> {
        let file = FileText::read(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                kind: ConfigErrorKind::Io,
                reason: format!("cannot read the configuration file: {e}"),
            }]
        })?;
        parse(&file.text, path, Some(file.mode), now)
    }

    /// Parses and validates `text` as if it were the contents of `path` (relative paths resolve
    /// against `path`'s directory; `psk_file` is read from there).
    pub fn from_yaml_str(
        text: &str,
        path: &Path,
    ) -> Result<(Self, Vec<Warning>), Vec<ConfigError>> {
        parse(text, path, None, None)
    }

    /// [`Config::from_yaml_str`] with the time-dependent checks of [`Config::load_at`].
    pub fn from_yaml_str_at(
        text: &str,
        path: &Path,
        now: SystemTime,
    ) -> Result<(Self, Vec<Warning>), Vec<ConfigError>> {
        parse(text, path, None, Some(now))
    }
}

/// Parses and validates `text`, the contents of `path`; `mode` is the file's permission bits
/// when it was read from disk; `now` adds the checks that need the wall clock.
fn parse(
    text: &str,
    path: &Path,
    mode: Option<u32>,
    now: Option<SystemTime>,
) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
    if text.trim().is_empty() {
        return Err(vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            kind: ConfigErrorKind::Syntax,
            reason: "the file is empty: `psk` (or `psk_file`) and `pool` are required".to_owned(),
        }]);
    }
    let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = yaml_location(&e);
        vec![ConfigError {
            file: path.to_path_buf(),
            line,
            column,
            kind: ConfigErrorKind::Syntax,
            reason: yaml_reason(&e),
        }]
    })?;
    let base = base_dir(path);
    let mut ck = Checker {
        file: path,
        text,
        errors: Vec::new(),
        warnings: Vec::new(),
    };

    let inline_psk = raw.psk.is_some() && raw.psk_file.is_none();
    // With certificates and `allow_psk: false`, no PSK is needed (and one given is unused).
    let certificates_only = raw.certificates.as_ref().is_some_and(|c| !c.allow_psk());
    let psk = if certificates_only && raw.psk.is_none() && raw.psk_file.is_none() {
        Secret::default()
    } else {
        if certificates_only {
            ck.warn(
                &["certificates", "allow_psk"],
                "certificates.allow_psk is false: the pre-shared key is not used; remove \
                 `psk`/`psk_file`",
            );
        }
        resolve_psk(&mut ck, raw.psk, raw.psk_file.as_deref(), &base)
    };
    if let Some(who) = mode.and_then(readable_by).filter(|_| inline_psk) {
        ck.warn(
            &["psk"],
            format!(
                "{} holds the pre-shared key and is readable by {}: chmod 600 it (or move the \
                 key to a psk_file)",
                path.display(),
                who.as_str()
            ),
        );
    }
    let pool = check_pool(&mut ck, raw.pool.cidr, raw.pool.server_address);
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
    check_privileges(&mut ck, raw.privileges.as_ref());
    check_workers(&mut ck, raw.workers);
    check_metrics(&mut ck, raw.metrics.as_ref());
    check_hooks(&mut ck, &raw.hooks);
    let radius = check_radius(&mut ck, raw.radius, &base, mode);
    let control_socket = raw
        .control_socket
        .map_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET), |p| base.join(p));
    check_control_socket(
        &mut ck,
        &control_socket,
        raw.control_socket_group.as_deref(),
    );
    let certificates = raw
        .certificates
        .and_then(|c| check_certificates(&mut ck, c, &base, now));
    if let (Some(c), Some(now)) = (&certificates, now) {
        // What Windows will refuse is a warning: other clients, or clients that type another
        // name, still connect (and a server behind NAT listens on addresses nobody types).
        for f in c.lint(&raw.listen.addresses, now) {
            if f.severity >= pki::lint::Severity::Warning {
                ck.warn(&["certificates", "certificate"], f.message);
            }
        }
    }
    let users_file = base.join(
        raw.users_file
            .unwrap_or_else(|| PathBuf::from("users.yaml")),
    );

    if !ck.errors.is_empty() {
        return Err(ck.errors);
    }
    let config = Config {
        path: path.to_path_buf(),
        server: ServerConfig {
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
            allow_plaintext_l2tp: raw.allow_plaintext_l2tp,
            certificates,
        },
        daemon: DaemonConfig {
            tun: raw.tun,
            control_socket,
            control_socket_group: raw.control_socket_group,
            log_level: raw.log_level,
            users_file,
            privileges: raw.privileges,
            workers: raw.workers,
            metrics: raw.metrics,
            hooks: raw.hooks,
            radius,
        },
    };
    Ok((config, ck.warnings))
}

/// The directory relative paths in `path` resolve against.
fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
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
            ck.error(
                &[],
                "no pre-shared key: set `psk` or `psk_file` (or `certificates` with \
                 `allow_psk: false`)",
            );
            return Secret::default();
        }
        (Some(psk), None) => psk,
        (None, Some(file)) => {
            let full = base.join(file);
            match read_secret_file(&full) {
                Ok((mut bytes, mode)) => {
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    if let Some(who) = readable_by(mode) {
                        ck.warn(
                            &["psk_file"],
                            format!(
                                "{} is readable by {}: chmod 600 it",
                                full.display(),
                                who.as_str()
                            ),
                        );
                    }
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

/// The bytes of a `psk_file` (or a RADIUS `secret_file`) and its permission bits, from one
/// open descriptor.
pub(crate) fn read_secret_file(path: &Path) -> std::io::Result<(Vec<u8>, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut file = std::fs::File::open(path)?;
    let mode = file.metadata()?.mode() & 0o7777;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((bytes, mode))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::server::{AuthProtocol, Profile};

    const FILE: &str = "/etc/l2tpd-rs/l2tpd.yaml";

    fn load(text: &str) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
        Config::from_yaml_str(text, Path::new(FILE))
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        match load(text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e,
        }
    }

    /// A fresh directory for tests that need real files.
    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("l2tpd-config-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const MINIMAL: &str = "psk: a-long-enough-secret\npool:\n  cidr: 10.99.0.0/24\n";

    #[test]
    fn client_routes_and_domain() {
        let base = "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\n";
        let (c, w) = load(&format!(
            "{base}client_routes: [192.168.1.0/24, 172.16.0.0/12]\nclient_domain: corp.example\n"
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.server.client_routes.len(), 2);
        assert_eq!(c.server.client_routes[1].prefix(), 12);
        assert_eq!(c.server.client_domain.as_deref(), Some("corp.example"));
        assert!(load(base).unwrap().0.server.client_routes.is_empty());

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

    #[test]
    fn minimal_file_gets_defaults() {
        let (c, w) = load(MINIMAL).unwrap();
        assert!(w.iter().all(|w| !w.message.contains("PSK")), "{w:?}");
        let s = &c.server;
        assert_eq!(s.psk.as_bytes(), b"a-long-enough-secret");
        assert_eq!(s.pool.cidr, "10.99.0.0/24".parse::<Ipv4Network>().unwrap());
        assert_eq!(s.pool.server_address, Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(s.listen.addresses, vec![Ipv4Addr::UNSPECIFIED]);
        assert_eq!((s.listen.ike_port, s.listen.nat_t_port), (500, 4500));
        assert!(!s.listen.raw_esp);
        assert_eq!(s.ike.profiles, vec![Profile::Modern, Profile::Legacy]);
        assert!(s.ike.nat_d_trick && !s.ike.legacy_des && !s.ike.modp768);
        assert_eq!(
            s.ppp.auth,
            vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::Chap,
                AuthProtocol::MsChapV1
            ]
        );
        assert!(!s.ppp.pap);
        assert_eq!(s.ppp.mru, 1400);
        assert!(!s.allow_plaintext_l2tp);
        assert!(!s.psk_is_example());
        let d = &c.daemon;
        assert_eq!(
            d.tun,
            TunOptions {
                name: "l2tp0".into(),
                mtu: 1400,
                create_routes: true,
                offload: true,
            }
        );
        assert_eq!(d.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
        assert_eq!(d.control_socket_group, None);
        assert_eq!(d.users_file, PathBuf::from("/etc/l2tpd-rs/users.yaml"));
        assert_eq!(d.privileges, None);
        assert_eq!(d.log_level, LogLevel::Info);
        assert_eq!(d.workers, None);
        assert_eq!(c.path, PathBuf::from(FILE));
    }

    #[test]
    fn daemon_keys_stay_out_of_the_server_part() {
        let (plain, _) = load(MINIMAL).unwrap();
        let (with_daemon_keys, _) = load(&format!(
            "{MINIMAL}tun: {{ name: vpn9, mtu: 1300, create_routes: false }}\n\
             control_socket: /run/x.sock\ncontrol_socket_group: l2tpd\nlog_level: trace\n\
             users_file: /srv/u.yaml\nprivileges: {{ user: nobody }}\nworkers: 3\n"
        ))
        .unwrap();
        assert_eq!(plain.server, with_daemon_keys.server);
        assert_ne!(plain.daemon, with_daemon_keys.daemon);
        let d = &with_daemon_keys.daemon;
        assert_eq!(d.tun.name, "vpn9");
        assert_eq!(d.control_socket_group.as_deref(), Some("l2tpd"));
        assert_eq!(d.workers, Some(3));
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
control_socket_group: l2tpd
log_level: debug
users_file: /srv/users.yaml
allow_plaintext_l2tp: true
privileges: { user: nobody, group: nogroup }
"#;
        let (c, w) = load(text).unwrap();
        let s = &c.server;
        assert_eq!(
            s.listen.addresses,
            vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 1)]
        );
        assert_eq!(
            (s.listen.ike_port, s.listen.nat_t_port, s.listen.raw_esp),
            (15500, 15450, true)
        );
        assert_eq!(s.pool.server_address, Ipv4Addr::new(10, 1, 255, 254));
        assert_eq!(s.dns.len(), 2);
        assert_eq!(s.wins, vec![Ipv4Addr::new(10, 1, 0, 54)]);
        assert_eq!(s.ike.lifetimes.esp_max_secs, 1800);
        assert_eq!(s.ppp.auth, vec![AuthProtocol::Chap]);
        assert_eq!(s.l2tp.host_name, "vpn.example");
        assert_eq!(s.limits.sessions_per_tunnel, 1);
        assert!(s.allow_plaintext_l2tp);
        let d = &c.daemon;
        assert_eq!(
            d.control_socket,
            PathBuf::from("/etc/l2tpd-rs/run/ctl.sock")
        );
        assert_eq!(d.control_socket_group.as_deref(), Some("l2tpd"));
        assert_eq!(d.users_file, PathBuf::from("/srv/users.yaml"));
        assert_eq!(d.log_level, LogLevel::Debug);
        assert_eq!(
            d.privileges,
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
        assert_eq!(
            (c.server.ike.dpd_interval_secs, c.server.ike.dpd_failures),
            (30, 5)
        );
        let (c, _) = load(&format!(
            "{MINIMAL}ike:\n  dpd_interval_secs: 10\n  dpd_failures: 3\n"
        ))
        .unwrap();
        assert_eq!(
            (c.server.ike.dpd_interval_secs, c.server.ike.dpd_failures),
            (10, 3)
        );
        // 0 disables DPD; then the failure count does not matter.
        let (c, _) = load(&format!(
            "{MINIMAL}ike:\n  dpd_interval_secs: 0\n  dpd_failures: 0\n"
        ))
        .unwrap();
        assert_eq!(c.server.ike.dpd_interval_secs, 0);
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
    fn ppp_timeouts_default_to_none_and_are_checked() {
        let (c, _) = load("psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
        assert_eq!(
            (
                c.server.ppp.session_timeout_secs,
                c.server.ppp.idle_timeout_secs
            ),
            (0, 0)
        );
        let (c, _) = load(
            "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\nppp:\n  session_timeout_secs: 28800\n  \
             idle_timeout_secs: 900\n",
        )
        .unwrap();
        assert_eq!(
            (
                c.server.ppp.session_timeout_secs,
                c.server.ppp.idle_timeout_secs
            ),
            (28800, 900)
        );
        let e = errors(
            "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\nppp:\n  idle_timeout_secs: 30\n",
        );
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].line, Some(5));
        assert!(e[0].reason.contains("below 60"), "{}", e[0].reason);
    }

    #[test]
    fn ppp_rate_limit_is_read_and_checked() {
        let (c, _) = load("psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
        assert_eq!(c.server.ppp.rate_limit, None);
        let (c, _) = load(
            "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\nppp:\n  rate_limit: { up: 2M, \
             down: \"10M\" }\n",
        )
        .unwrap();
        let r = c.server.ppp.rate_limit.unwrap();
        assert_eq!(
            (r.up.map(|r| r.get()), r.down.map(|r| r.get())),
            (Some(2_000_000), Some(10_000_000))
        );
        for (bad, why) in [
            ("{ up: 0 }", "zero"),
            ("{ up: fast }", "not a number"),
            ("{ down: 500G }", "above"),
            ("{ sideways: 1M }", "sideways"),
        ] {
            let e = errors(&format!(
                "psk: secret-secret\npool:\n  cidr: 10.99.0.0/24\nppp:\n  rate_limit: {bad}\n"
            ));
            assert_eq!(e.len(), 1, "{e:#?}");
            assert_eq!(e[0].line, Some(5), "{bad}");
            assert!(e[0].reason.contains(why), "{bad}: {}", e[0].reason);
        }
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
control_socket_group: \"\"
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
        assert_eq!(find("control_socket_group"), Some(19));
        assert!(e.iter().all(|e| e.kind == ConfigErrorKind::Invalid));
        assert!(e.len() >= 11);
    }

    #[test]
    fn example_psk_is_a_warning() {
        let (c, w) = load("psk: CHANGE-ME-example-psk\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
        assert!(c.server.psk_is_example());
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
        let dir = temp_dir("psk");
        let psk_path = dir.join("psk.txt");
        std::fs::write(&psk_path, "from-a-file-secret\n").unwrap();
        std::fs::set_permissions(&psk_path, PermissionsExt::from_mode(0o600)).unwrap();
        let cfg = dir.join("l2tpd.yaml");
        std::fs::write(&cfg, "psk_file: psk.txt\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
        // The configuration file itself may be readable: it holds no secret.
        std::fs::set_permissions(&cfg, PermissionsExt::from_mode(0o644)).unwrap();
        let (c, w) = Config::load(&cfg).unwrap();
        assert_eq!(c.server.psk.as_bytes(), b"from-a-file-secret");
        assert!(w.is_empty(), "{w:?}");

        std::fs::set_permissions(&psk_path, PermissionsExt::from_mode(0o644)).unwrap();
        let (_, w) = Config::load(&cfg).unwrap();
        assert!(
            w.iter()
                .any(|w| w.message.contains("is readable by every user: chmod 600")),
            "{w:?}"
        );
        std::fs::set_permissions(&psk_path, PermissionsExt::from_mode(0o640)).unwrap();
        let (_, w) = Config::load(&cfg).unwrap();
        assert!(
            w.iter()
                .any(|w| w.message.contains("is readable by its group: chmod 600")),
            "{w:?}"
        );

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
    fn inline_psk_in_a_readable_file_is_a_warning() {
        let dir = temp_dir("inline");
        let cfg = dir.join("l2tpd.yaml");
        std::fs::write(&cfg, MINIMAL).unwrap();
        let warning = |mode: u32| {
            std::fs::set_permissions(&cfg, PermissionsExt::from_mode(mode)).unwrap();
            let (_, w) = Config::load(&cfg).unwrap();
            w.into_iter()
                .find(|w| w.message.contains("holds the pre-shared key"))
        };
        let w = warning(0o644).expect("0644 is readable by every user");
        assert_eq!(w.line, Some(1), "points at `psk`");
        assert!(w.message.contains("every user: chmod 600"), "{w}");
        let w = warning(0o640).expect("0640 is readable by the group");
        assert!(w.message.contains("its group: chmod 600"), "{w}");
        assert_eq!(warning(0o600), None);
        assert_eq!(warning(0o400), None);
        // Text that was not read from a file has no mode to judge.
        let (_, w) = Config::from_yaml_str(MINIMAL, &cfg).unwrap();
        assert!(w.is_empty(), "{w:?}");
        std::fs::remove_dir_all(&dir).unwrap();
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
            load(MINIMAL).unwrap().0.daemon.workers,
            None,
            "default: one per CPU"
        );
        let (c, _) = load(&format!("{MINIMAL}workers: 2\n")).unwrap();
        assert_eq!(c.daemon.workers, Some(2));
        for bad in ["0", "129"] {
            let e = errors(&format!("{MINIMAL}workers: {bad}\n"));
            assert_eq!(e[0].line, Some(4), "{e:?}");
            assert!(e[0].reason.contains("between 1 and 128"), "{e:?}");
        }
        let e = errors(&format!("{MINIMAL}workers: many\n"));
        assert_eq!(e[0].line, Some(4), "{e:?}");
    }

    #[test]
    fn metrics_is_off_unless_configured_and_checked() {
        assert_eq!(load(MINIMAL).unwrap().0.daemon.metrics, None);
        let (c, w) = load(&format!("{MINIMAL}metrics:\n  listen: 127.0.0.1:9812\n")).unwrap();
        let m = c.daemon.metrics.unwrap();
        assert_eq!(m.listen, "127.0.0.1:9812".parse().unwrap());
        assert!(!m.per_user);
        assert!(w.iter().all(|w| !w.message.contains("metrics")), "{w:?}");
        // Reachable from the network: allowed, with a warning on its line.
        let (c, w) = load(&format!(
            "{MINIMAL}metrics:\n  listen: 0.0.0.0:9812\n  per_user: true\n"
        ))
        .unwrap();
        assert!(c.daemon.metrics.unwrap().per_user);
        let warn = w
            .iter()
            .find(|w| w.message.contains("metrics.listen"))
            .unwrap();
        assert_eq!(warn.line, Some(5), "{warn:?}");
        let e = errors(&format!("{MINIMAL}metrics:\n  listen: 127.0.0.1:0\n"));
        assert!(e[0].reason.contains("needs a port"), "{e:?}");
        assert_eq!(e[0].line, Some(5), "{e:?}");
        let e = errors(&format!("{MINIMAL}metrics:\n  listen: localhost\n"));
        assert_eq!(e[0].line, Some(5), "{e:?}");
        let e = errors(&format!(
            "{MINIMAL}metrics:\n  listen: 127.0.0.1:9812\n  port: 1\n"
        ));
        assert!(e[0].reason.contains("unknown field"), "{e:?}");
    }

    #[test]
    fn hooks_are_checked() {
        let d = load(MINIMAL).unwrap().0.daemon.hooks;
        assert!(d.session_up.is_empty() && d.session_down.is_empty());
        assert_eq!(d.timeout_secs, 10);
        // `sh` exists and is executable everywhere these tests run.
        let (c, _) = load(&format!(
            "{MINIMAL}hooks:\n  session_up: [/bin/sh, -c, 'exit 0']\n  timeout_secs: 3\n"
        ))
        .unwrap();
        assert_eq!(c.daemon.hooks.session_up, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(c.daemon.hooks.timeout_secs, 3);
        let e = errors(&format!("{MINIMAL}hooks:\n  session_up: [vpn-up]\n"));
        assert!(e[0].reason.contains("absolute path"), "{e:?}");
        assert_eq!(e[0].line, Some(5), "{e:?}");
        let e = errors(&format!(
            "{MINIMAL}hooks:\n  session_down: [/nonexistent/vpn-down]\n"
        ));
        assert!(e[0].reason.contains("cannot use"), "{e:?}");
        let e = errors(&format!("{MINIMAL}hooks:\n  session_down: [/etc]\n"));
        assert!(e[0].reason.contains("not an executable file"), "{e:?}");
        let e = errors(&format!("{MINIMAL}hooks:\n  timeout_secs: 0\n"));
        assert!(e[0].reason.contains("between 1 and 300"), "{e:?}");
        let e = errors(&format!("{MINIMAL}hooks:\n  session_up: /bin/sh\n"));
        assert_eq!(e[0].line, Some(5), "{e:?}");
    }

    #[test]
    fn control_socket_group_is_validated() {
        let (c, _) = load(&format!("{MINIMAL}control_socket_group: vpnadmins\n")).unwrap();
        assert_eq!(c.daemon.control_socket_group.as_deref(), Some("vpnadmins"));
        for bad in ["\"\"", "\"a/b\"", "\"a:b\""] {
            let e = errors(&format!("{MINIMAL}control_socket_group: {bad}\n"));
            assert_eq!(e[0].line, Some(4), "{e:?}");
            assert!(e[0].reason.contains("not a group name"), "{e:?}");
        }
    }
}
