//! The `radius:` section of `l2tpd.yaml`: RADIUS authentication servers (RFC 2865), with its
//! checks.
//!
//! ```yaml
//! radius:
//!   servers:
//!     - address: 192.0.2.10          # port 1812 unless given, e.g. 192.0.2.10:1645
//!       secret_file: radius.secret   # or `secret: ...`
//!   timeout_secs: 3
//!   retries: 2
//!   nas_identifier: vpn1            # default: the host name
//!   nas_ip_address: 192.0.2.1       # optional
//!   source_address: 192.0.2.1       # optional: the address RADIUS is sent from
//!   accounting:                     # optional; on by default (RFC 2866)
//!     enabled: true
//!     servers:                      # default: the servers above, port 1813, same secrets
//!       - address: 192.0.2.11       # port 1813 unless given
//!         secret_file: acct.secret
//!     interim_interval_secs: 300    # 0 (default): only if the Access-Accept asks
//!   order: [radius]                 # who decides logins, see below
//! ```
//!
//! When the section is present the daemon sends accounting records (Start, Interim-Update,
//! Stop) for every session. `order` lists who decides a login, `users` (users.yaml) and
//! `radius`, each at most once ([`AuthSource`]):
//! - `[radius]` (the default): every login goes to the RADIUS servers; users.yaml decides none.
//! - `[users, radius]`: a name users.yaml lists is checked against it and that is final (a
//!   wrong password or a disabled entry is refused, never handed to RADIUS, or RADIUS would
//!   be a way around a local entry); any other name goes to RADIUS.
//! - `[radius, users]`: RADIUS decides, and an Access-Reject is final; only when no server
//!   answers at all is the login checked against users.yaml (a fallback account for when
//!   the directory is down).
//! - `[users]`: users.yaml decides every login; the servers are not asked about logins.
//!
//! Only the daemon reads the section ([`crate::DaemonConfig::radius`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crypto::Secret;
use serde::Deserialize;

use crate::de_opt_secret;
use crate::files::readable_by;
use crate::locate::{find_key_line, nth_key_line};
use crate::problem::Checker;

/// The RADIUS authentication port (RFC 2865 §3).
pub const DEFAULT_RADIUS_PORT: u16 = 1812;
/// The RADIUS accounting port (RFC 2866 §3).
pub const DEFAULT_ACCOUNTING_PORT: u16 = 1813;
/// The shortest interim interval (RFC 2869 §5.16: "This value SHOULD NOT be smaller than
/// 60").
pub const MIN_INTERIM_INTERVAL_SECS: u64 = 60;
/// Seconds to wait for an answer before retransmitting.
pub const DEFAULT_RADIUS_TIMEOUT_SECS: u64 = 3;
/// Retransmissions to one server before trying the next.
pub const DEFAULT_RADIUS_RETRIES: u32 = 2;
/// RFC 2865 §3: "The secret [...] SHOULD be at least 16 octets."
pub const MIN_RADIUS_SECRET: usize = 16;
/// The longest `timeout_secs`: a PPP login waits 30 s for a verdict in all.
pub const MAX_RADIUS_TIMEOUT_SECS: u64 = 30;
/// The most `retries` accepted.
pub const MAX_RADIUS_RETRIES: u32 = 10;

/// RADIUS authentication (`radius:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusOptions {
    /// The servers, in order of preference.
    pub servers: Vec<RadiusServer>,
    /// Time to wait for an answer before retransmitting (`timeout_secs`).
    pub timeout: Duration,
    /// Retransmissions to one server before trying the next.
    pub retries: u32,
    /// NAS-Identifier (RFC 2865 §5.32); `None`: the daemon uses the host name.
    pub nas_identifier: Option<String>,
    /// NAS-IP-Address (RFC 2865 §5.4), if set.
    pub nas_ip_address: Option<Ipv4Addr>,
    /// The local address the RADIUS socket binds to; `None`: any.
    pub source_address: Option<IpAddr>,
    /// Accounting (`radius.accounting`).
    pub accounting: AccountingOptions,
    /// Disconnect and CoA requests (RFC 5176), `dynamic_authorization`; `None`: off.
    pub dynamic_authorization: Option<crate::dynauth::DynAuthOptions>,
    /// Who decides logins, in order (`order`; default `[radius]`; see the module docs).
    pub order: Vec<AuthSource>,
}

/// A source of login decisions in `radius.order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthSource {
    /// users.yaml (`users`).
    Users,
    /// The RADIUS servers (`radius`).
    Radius,
}

impl AuthSource {
    /// The name in `radius.order`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Radius => "radius",
        }
    }
}

/// RADIUS accounting (`radius.accounting`, RFC 2866).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingOptions {
    /// Whether Start, Interim-Update and Stop records are sent (default: yes).
    pub enabled: bool,
    /// The accounting servers, in order of preference: as configured, else each
    /// authentication server's address on the accounting port (1813, or the authentication
    /// port + 1 when that is not 1812) with its secret.
    pub servers: Vec<RadiusServer>,
    /// Interim-Update interval (`interim_interval_secs`), at least 60 s; `None`: only when an
    /// Access-Accept carries Acct-Interim-Interval (RFC 2869 §5.16), which also overrides
    /// this.
    pub interim_interval: Option<Duration>,
}

/// One RADIUS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusServer {
    /// Its address and port.
    pub address: SocketAddr,
    /// The secret shared with it (never logged).
    pub secret: Secret,
}

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRadius {
    #[serde(default)]
    servers: Vec<RawRadiusServer>,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default)]
    nas_identifier: Option<String>,
    #[serde(default)]
    nas_ip_address: Option<Ipv4Addr>,
    #[serde(default)]
    source_address: Option<IpAddr>,
    #[serde(default)]
    accounting: Option<RawAccounting>,
    #[serde(default)]
    dynamic_authorization: Option<crate::dynauth::RawDynAuth>,
    order: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccounting {
    #[serde(default = "default_true")]
    enabled: bool,
    #[serde(default)]
    servers: Option<Vec<RawRadiusServer>>,
    #[serde(default)]
    interim_interval_secs: u64,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRadiusServer {
    address: String,
    #[serde(default, deserialize_with = "de_opt_secret")]
    secret: Option<Secret>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
}

fn default_timeout() -> u64 {
    DEFAULT_RADIUS_TIMEOUT_SECS
}

fn default_retries() -> u32 {
    DEFAULT_RADIUS_RETRIES
}

/// `IP` or `IP:port` (`[v6]:port` for IPv6), `default_port` when left out.
fn parse_address(s: &str, default_port: u16) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

/// The accounting server that goes with an authentication server: the same host and secret,
/// port 1813 (RFC 2866 §3), or the authentication port + 1 for a server on another port
/// (1645 → 1646, the older pair).
fn accounting_peer(auth: &RadiusServer) -> RadiusServer {
    let port = match auth.address.port() {
        DEFAULT_RADIUS_PORT => DEFAULT_ACCOUNTING_PORT,
        p => p.checked_add(1).unwrap_or(DEFAULT_ACCOUNTING_PORT),
    };
    RadiusServer {
        address: SocketAddr::new(auth.address.ip(), port),
        secret: auth.secret.clone(),
    }
}

/// The line of the `n`-th `key:` at or after the `section` key.
fn server_line(text: &str, section: &[&str], key: &str, n: usize) -> Option<usize> {
    let start = child_key_line(text, section).or_else(|| find_key_line(text, section))?;
    let rest: String = text
        .lines()
        .skip(start.saturating_sub(1))
        .collect::<Vec<_>>()
        .join("\n");
    nth_key_line(&rest, key, n).map(|l| l + start - 1)
}

/// The 1-based line of a nested block-style key where each key is a direct child of the one
/// before (`radius.servers` is not `radius.accounting.servers`); `None` if one is missing.
fn child_key_line(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent: Option<usize> = None;
    let mut found = None;
    for key in path {
        let mut child_indent = None;
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent.is_some_and(|p| indent <= p) {
                break;
            }
            if indent != *child_indent.get_or_insert(indent) {
                continue;
            }
            if trimmed
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start_matches(['"', '\'']).starts_with(':'))
            {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some(i + 1);
        from = i + 1;
        parent = Some(indent);
    }
    found
}

/// Checks the section and reads the secret files (relative to `base`). `config_mode` is the
/// permission bits of `l2tpd.yaml` when read from disk, for the warning about inline secrets.
pub(crate) fn check_radius(
    ck: &mut Checker<'_>,
    raw: Option<RawRadius>,
    base: &Path,
    config_mode: Option<u32>,
) -> Option<RadiusOptions> {
    let raw = raw?;
    if raw.servers.is_empty() {
        ck.error(
            &["radius", "servers"],
            "radius.servers is empty: name at least one server (address and secret)",
        );
    }
    let mut inline_secret = false;
    let servers = check_servers(
        ck,
        raw.servers,
        &Section {
            path: &["radius", "servers"],
            name: "radius server",
            default_port: DEFAULT_RADIUS_PORT,
        },
        raw.source_address,
        base,
        &mut inline_secret,
    );
    let accounting = check_accounting(
        ck,
        raw.accounting,
        &servers,
        raw.source_address,
        base,
        &mut inline_secret,
    );
    let dynamic_authorization =
        crate::dynauth::check_dynauth(ck, raw.dynamic_authorization, base, &mut inline_secret);
    if inline_secret && let Some(who) = config_mode.and_then(readable_by) {
        ck.warn(
            &["radius", "servers"],
            format!(
                "{} holds a RADIUS shared secret and is readable by {}: chmod 600 it (or move the \
                 secret to a secret_file)",
                ck.file.display(),
                who.as_str()
            ),
        );
    }
    if !(1..=MAX_RADIUS_TIMEOUT_SECS).contains(&raw.timeout_secs) {
        ck.error(
            &["radius", "timeout_secs"],
            format!(
                "radius.timeout_secs must be between 1 and {MAX_RADIUS_TIMEOUT_SECS} (a login \
                 waits 30 s for a verdict in all)"
            ),
        );
    }
    if raw.retries > MAX_RADIUS_RETRIES {
        ck.error(
            &["radius", "retries"],
            format!("radius.retries must be at most {MAX_RADIUS_RETRIES}"),
        );
    }
    if let Some(id) = &raw.nas_identifier
        && (id.trim().is_empty() || id.len() > 253)
    {
        ck.error(
            &["radius", "nas_identifier"],
            "radius.nas_identifier must be 1 to 253 bytes long",
        );
    }
    if let Some(ip) = raw.nas_ip_address
        && (ip.is_unspecified() || ip.is_broadcast())
    {
        ck.error(
            &["radius", "nas_ip_address"],
            format!("radius.nas_ip_address {ip} is not an address of this host"),
        );
    }
    let attempts = u64::from(raw.retries) + 1;
    let servers_n = u64::try_from(servers.len()).unwrap_or(u64::MAX);
    if raw
        .timeout_secs
        .saturating_mul(attempts)
        .saturating_mul(servers_n)
        > 30
    {
        ck.warn(
            &["radius", "timeout_secs"],
            format!(
                "radius: {} servers × {attempts} tries × {} s is more than the 30 s a login \
                 waits for a verdict: the last servers are never asked in time",
                servers_n, raw.timeout_secs
            ),
        );
    }
    let order = check_order(ck, raw.order);
    Some(RadiusOptions {
        servers,
        timeout: Duration::from_secs(raw.timeout_secs),
        retries: raw.retries,
        nas_identifier: raw.nas_identifier,
        nas_ip_address: raw.nas_ip_address,
        source_address: raw.source_address,
        accounting,
        dynamic_authorization,
        order,
    })
}

/// `radius.order`: `users` and `radius`, each at most once, at least one.
fn check_order(ck: &mut Checker<'_>, raw: Option<Vec<String>>) -> Vec<AuthSource> {
    let Some(raw) = raw else {
        return vec![AuthSource::Radius];
    };
    let key = ["radius", "order"];
    if raw.is_empty() {
        ck.error(
            &key,
            "radius.order is empty: list `users`, `radius` or both, e.g. [users, radius]",
        );
    }
    let mut order = Vec::new();
    for name in &raw {
        let source = match name.trim() {
            "users" => AuthSource::Users,
            "radius" => AuthSource::Radius,
            other => {
                ck.error(
                    &key,
                    format!(
                        "radius.order: `{}` is not a source: use `users` (users.yaml) or \
                         `radius`",
                        other.escape_debug()
                    ),
                );
                continue;
            }
        };
        if order.contains(&source) {
            ck.error(
                &key,
                format!(
                    "radius.order names `{}` twice: each source at most once",
                    source.as_str()
                ),
            );
            continue;
        }
        order.push(source);
    }
    order
}

/// Where a server list is and what its entries are called in messages.
struct Section<'a> {
    path: &'a [&'a str],
    name: &'a str,
    default_port: u16,
}

/// Checks a list of servers (addresses, secrets, secret files); `inline_secret` is set when
/// one has its secret in the configuration file itself.
fn check_servers(
    ck: &mut Checker<'_>,
    raw: Vec<RawRadiusServer>,
    section: &Section<'_>,
    source_address: Option<IpAddr>,
    base: &Path,
    inline_secret: &mut bool,
) -> Vec<RadiusServer> {
    let name = section.name;
    let mut servers = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        let line = server_line(ck.text, section.path, "address", i);
        let n = i + 1;
        let address = match parse_address(&s.address, section.default_port) {
            Some(a) if a.port() == 0 => {
                ck.error_at(line, format!("{name} {n}: port 0 is not a port"));
                None
            }
            Some(a) if a.ip().is_unspecified() => {
                ck.error_at(
                    line,
                    format!("{name} {n}: {} is not a server address", a.ip()),
                );
                None
            }
            Some(a) => Some(a),
            None => {
                ck.error_at(
                    line,
                    format!(
                        "{name} {n}: `{}` is not an address like 192.0.2.10 or \
                         192.0.2.10:1812",
                        s.address.escape_debug()
                    ),
                );
                None
            }
        };
        if let (Some(a), Some(src)) = (address, source_address)
            && a.is_ipv4() != src.is_ipv4()
        {
            ck.error_at(
                line,
                format!(
                    "{name} {n} ({a}) cannot be reached from radius.source_address {src}: \
                     one is IPv4, the other IPv6"
                ),
            );
        }
        let secret = check_secret(
            ck,
            &format!("{name} {n}"),
            SecretSource {
                secret: s.secret,
                secret_file: s.secret_file,
                base,
            },
            line,
            |text| server_line(text, section.path, "secret_file", i),
            inline_secret,
        );
        if let Some(secret) = &secret {
            if secret.is_empty() {
                ck.error_at(line, format!("{name} {n}: the shared secret is empty"));
            } else if secret.len() > 128 {
                // The User-Password hiding and the authenticators work with any length, but
                // common servers refuse longer secrets.
                ck.error_at(
                    line,
                    format!("{name} {n}: the shared secret is longer than 128 bytes"),
                );
            } else if secret.len() < MIN_RADIUS_SECRET {
                ck.warn_at(
                    line,
                    format!(
                        "{name} {n}: the shared secret is shorter than {MIN_RADIUS_SECRET} \
                         bytes (RFC 2865 §3 asks for at least 16): it can be guessed offline \
                         from one captured packet"
                    ),
                );
            }
        }
        if let (Some(address), Some(secret)) = (address, secret) {
            servers.push(RadiusServer { address, secret });
        }
    }
    servers
}

/// A shared secret as configured: inline, or the name of a file relative to `base`.
pub(crate) struct SecretSource<'a> {
    pub(crate) secret: Option<Secret>,
    pub(crate) secret_file: Option<PathBuf>,
    pub(crate) base: &'a Path,
}

/// The shared secret of `who` (for example "radius server 2"): the inline `secret` (which sets
/// `inline_secret`) or the contents of `secret_file` without trailing CR/LF, with a warning when
/// others can read the file. Both or neither set, or an unreadable file, is an error (`None`).
/// Errors point at `line`; the file's problems at the line `file_line` finds for `secret_file`
/// in the configuration text, else `line`. Length checks are the caller's.
pub(crate) fn check_secret(
    ck: &mut Checker<'_>,
    who: &str,
    source: SecretSource<'_>,
    line: Option<usize>,
    file_line: impl FnOnce(&str) -> Option<usize>,
    inline_secret: &mut bool,
) -> Option<Secret> {
    match (source.secret, source.secret_file) {
        (Some(_), Some(_)) => {
            ck.error_at(
                line,
                format!("{who}: both `secret` and `secret_file` are set: keep one"),
            );
            None
        }
        (None, None) => {
            ck.error_at(
                line,
                format!("{who}: no shared secret: set `secret` or `secret_file`"),
            );
            None
        }
        (Some(secret), None) => {
            *inline_secret = true;
            Some(secret)
        }
        (None, Some(file)) => {
            let at = file_line(ck.text).or(line);
            let full = source.base.join(file);
            match crate::load::read_secret_file(&full) {
                Ok((mut bytes, mode)) => {
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    if let Some(reader) = readable_by(mode) {
                        ck.warn_at(
                            at,
                            format!(
                                "{} is readable by {}: chmod 600 it",
                                full.display(),
                                reader.as_str()
                            ),
                        );
                    }
                    Some(Secret::new(bytes))
                }
                Err(e) => {
                    ck.io_error_at(
                        at,
                        format!("{who}: cannot read secret_file {}: {e}", full.display()),
                    );
                    None
                }
            }
        }
    }
}

/// Checks `radius.accounting`; `auth` are the authentication servers, the default.
fn check_accounting(
    ck: &mut Checker<'_>,
    raw: Option<RawAccounting>,
    auth: &[RadiusServer],
    source_address: Option<IpAddr>,
    base: &Path,
    inline_secret: &mut bool,
) -> AccountingOptions {
    let Some(raw) = raw else {
        return AccountingOptions {
            enabled: true,
            servers: auth.iter().map(accounting_peer).collect(),
            interim_interval: None,
        };
    };
    let servers = match raw.servers {
        Some(list) => {
            if list.is_empty() && raw.enabled {
                ck.error(
                    &["radius", "accounting", "servers"],
                    "radius.accounting.servers is empty: name at least one server, leave the key \
                     out to use the authentication servers on port 1813, or set `enabled: false`",
                );
            }
            check_servers(
                ck,
                list,
                &Section {
                    path: &["radius", "accounting", "servers"],
                    name: "radius accounting server",
                    default_port: DEFAULT_ACCOUNTING_PORT,
                },
                source_address,
                base,
                inline_secret,
            )
        }
        None => auth.iter().map(accounting_peer).collect(),
    };
    let interim_interval = match raw.interim_interval_secs {
        0 => None,
        s if s < MIN_INTERIM_INTERVAL_SECS => {
            ck.warn(
                &["radius", "accounting", "interim_interval_secs"],
                format!(
                    "radius.accounting.interim_interval_secs is {s}: Interim-Updates are sent \
                     every {MIN_INTERIM_INTERVAL_SECS} s at the most (RFC 2869 §5.16), so \
                     {MIN_INTERIM_INTERVAL_SECS} is used"
                ),
            );
            Some(Duration::from_secs(MIN_INTERIM_INTERVAL_SECS))
        }
        s if s > u64::from(u32::MAX) => {
            ck.error(
                &["radius", "accounting", "interim_interval_secs"],
                "radius.accounting.interim_interval_secs is too large",
            );
            None
        }
        s => Some(Duration::from_secs(s)),
    };
    AccountingOptions {
        enabled: raw.enabled,
        servers,
        interim_interval,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::{Config, ConfigError, ConfigErrorKind, Warning};

    use super::*;

    const BASE: &str = "psk: a-long-enough-secret\npool:\n  cidr: 10.99.0.0/24\n";
    const SECRET: &str = "0123456789abcdef-long";

    fn load(text: &str) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
        Config::from_yaml_str(
            &format!("{BASE}{text}"),
            Path::new("/etc/l2tpd-rs/l2tpd.yaml"),
        )
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        match load(text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e,
        }
    }

    fn one_error(text: &str, line: usize, needle: &str) {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, Some(line), "{}", e[0]);
        assert!(e[0].reason.contains(needle), "{}", e[0]);
    }

    #[test]
    fn absent_section_is_off() {
        assert_eq!(load("").unwrap().0.daemon.radius, None);
    }

    #[test]
    fn defaults_and_every_key() {
        let (c, w) = load(&format!(
            "radius:\n  servers:\n    - address: 192.0.2.10\n      secret: {SECRET}\n"
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        let r = c.daemon.radius.unwrap();
        assert_eq!(r.servers.len(), 1);
        assert_eq!(r.servers[0].address, "192.0.2.10:1812".parse().unwrap());
        assert_eq!(r.servers[0].secret.as_bytes(), SECRET.as_bytes());
        assert_eq!(r.timeout, Duration::from_secs(3));
        assert_eq!(r.retries, 2);
        assert_eq!(r.nas_identifier, None);
        assert_eq!(r.nas_ip_address, None);
        assert_eq!(r.source_address, None);
        assert_eq!(
            r.order,
            [AuthSource::Radius],
            "today's behaviour by default"
        );

        let (c, w) = load(&format!(
            "radius:\n  servers:\n    - address: 192.0.2.10:1645\n      secret: {SECRET}\n    \
             - {{address: \"[2001:db8::1]:11812\", secret: {SECRET}}}\n  timeout_secs: 2\n  \
             retries: 1\n  nas_identifier: vpn1\n  nas_ip_address: 192.0.2.1\n"
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        let r = c.daemon.radius.unwrap();
        assert_eq!(r.servers[0].address, "192.0.2.10:1645".parse().unwrap());
        assert_eq!(r.servers[1].address, "[2001:db8::1]:11812".parse().unwrap());
        assert_eq!(r.timeout, Duration::from_secs(2));
        assert_eq!(r.retries, 1);
        assert_eq!(r.nas_identifier.as_deref(), Some("vpn1"));
        assert_eq!(r.nas_ip_address, Some(Ipv4Addr::new(192, 0, 2, 1)));

        let (c, _) = load(&format!(
            "radius:\n  servers:\n    - address: 127.0.0.1\n      secret: {SECRET}\n  \
             source_address: 127.0.0.1\n"
        ))
        .unwrap();
        assert_eq!(
            c.daemon.radius.unwrap().source_address,
            Some(IpAddr::from([127, 0, 0, 1]))
        );
    }

    #[test]
    fn accounting_defaults_to_the_auth_servers_on_1813() {
        let (c, w) = load(&format!(
            "radius:\n  servers:\n    - address: 192.0.2.10\n      secret: {SECRET}\n    \
             - address: 192.0.2.11:11812\n      secret: {SECRET}x\n"
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        let a = c.daemon.radius.unwrap().accounting;
        assert!(a.enabled);
        assert_eq!(a.interim_interval, None);
        let addrs: Vec<SocketAddr> = a.servers.iter().map(|s| s.address).collect();
        assert_eq!(
            addrs,
            [
                "192.0.2.10:1813".parse().unwrap(),
                "192.0.2.11:11813".parse().unwrap()
            ]
        );
        assert_eq!(
            a.servers[1].secret.as_bytes(),
            format!("{SECRET}x").as_bytes()
        );
    }

    #[test]
    fn accounting_servers_interval_and_switch() {
        let server =
            format!("radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n");
        // Lines: BASE 3, server block 4-7, `accounting:` 8.
        let (c, w) = load(&format!(
            "{server}  accounting:\n    servers:\n      - address: 192.0.2.9\n        \
             secret: {SECRET}y\n      - {{address: \"192.0.2.8:1646\", secret: {SECRET}}}\n    \
             interim_interval_secs: 300\n"
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        let a = c.daemon.radius.unwrap().accounting;
        assert_eq!(a.servers[0].address, "192.0.2.9:1813".parse().unwrap());
        assert_eq!(
            a.servers[0].secret.as_bytes(),
            format!("{SECRET}y").as_bytes()
        );
        assert_eq!(a.servers[1].address, "192.0.2.8:1646".parse().unwrap());
        assert_eq!(a.interim_interval, Some(Duration::from_secs(300)));

        let (c, _) = load(&format!("{server}  accounting:\n    enabled: false\n")).unwrap();
        assert!(!c.daemon.radius.unwrap().accounting.enabled);

        // Below 60 s: raised to 60, with a warning at the line.
        let (c, w) = load(&format!(
            "{server}  accounting:\n    interim_interval_secs: 10\n"
        ))
        .unwrap();
        assert_eq!(
            c.daemon.radius.unwrap().accounting.interim_interval,
            Some(Duration::from_secs(60))
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].line, Some(9));
        assert!(w[0].message.contains("RFC 2869"), "{}", w[0]);

        // Problems in accounting servers point at their own lines.
        one_error(
            &format!("{server}  accounting:\n    servers: []\n"),
            9,
            "accounting.servers is empty",
        );
        one_error(
            &format!(
                "{server}  accounting:\n    servers:\n      - address: 192.0.2.9\n      \
                 - address: 192.0.2.10\n        secret: {SECRET}\n"
            ),
            10,
            "radius accounting server 1: no shared secret",
        );
        one_error(
            &format!(
                "{server}  accounting:\n    servers:\n      - address: 192.0.2.9\n        \
                 secret: {SECRET}\n      - address: nowhere\n        secret: {SECRET}\n"
            ),
            12,
            "radius accounting server 2",
        );
        let e = errors(&format!("{server}  accounting:\n    interval: 5\n"));
        assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
        assert_eq!(e[0].line, Some(9), "{}", e[0]);
    }

    /// An `accounting:` block before `servers:` does not shift the lines of the
    /// authentication servers' problems.
    #[test]
    fn server_lines_do_not_mix_sections() {
        one_error(
            &format!(
                "radius:\n  accounting:\n    servers:\n      - address: 192.0.2.9\n        \
                 secret: {SECRET}\n  servers:\n    - address: 192.0.2.1\n"
            ),
            10,
            "radius server 1: no shared secret",
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let (c, _) = load(&format!(
            "radius:\n  servers:\n    - address: 192.0.2.10\n      secret: {SECRET}\n"
        ))
        .unwrap();
        assert!(!format!("{c:?}").contains(SECRET));
    }

    #[test]
    fn every_problem_with_its_line() {
        // Lines: BASE has 3, `radius:` is line 4.
        one_error("radius:\n  servers: []\n", 5, "servers is empty");
        one_error("radius: {}\n", 4, "servers is empty");
        one_error(
            &format!(
                "radius:\n  servers:\n    - address: radius.example\n      secret: {SECRET}\n"
            ),
            6,
            "not an address",
        );
        one_error(
            &format!("radius:\n  servers:\n    - address: 192.0.2.1:0\n      secret: {SECRET}\n"),
            6,
            "port 0",
        );
        one_error(
            &format!("radius:\n  servers:\n    - address: 0.0.0.0\n      secret: {SECRET}\n"),
            6,
            "not a server address",
        );
        // The second server's problem points at the second entry.
        one_error(
            &format!(
                "radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n    \
                 - address: 192.0.2.2\n"
            ),
            8,
            "server 2: no shared secret",
        );
        one_error(
            &format!(
                "radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n      \
                 secret_file: x\n"
            ),
            6,
            "both `secret` and `secret_file`",
        );
        one_error(
            "radius:\n  servers:\n    - address: 192.0.2.1\n      secret: \"\"\n",
            6,
            "secret is empty",
        );
        one_error(
            &format!(
                "radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {}\n",
                "x".repeat(129)
            ),
            6,
            "longer than 128",
        );
        let server =
            format!("radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n");
        one_error(&format!("{server}  timeout_secs: 0\n"), 8, "timeout_secs");
        one_error(&format!("{server}  timeout_secs: 31\n"), 8, "timeout_secs");
        one_error(&format!("{server}  retries: 11\n"), 8, "retries");
        one_error(
            &format!("{server}  nas_identifier: \"\"\n"),
            8,
            "nas_identifier",
        );
        one_error(
            &format!("{server}  nas_ip_address: 0.0.0.0\n"),
            8,
            "nas_ip_address",
        );
        one_error(
            &format!("{server}  source_address: \"::1\"\n"),
            6,
            "IPv4, the other IPv6",
        );
        // Unknown keys and wrong types are syntax errors with their line.
        let e = errors(&format!("{server}  acct_port: 1813\n"));
        assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
        assert_eq!(e[0].line, Some(8), "{}", e[0]);
        assert!(e[0].reason.contains("acct_port"), "{}", e[0]);
        let e = errors(&format!(
            "radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n      port: 1\n"
        ));
        assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
        assert!(e[0].reason.contains("port"), "{}", e[0]);
        let e = errors(&format!("{server}  nas_ip_address: not-an-ip\n"));
        assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
        assert_eq!(e[0].line, Some(8), "{}", e[0]);
    }

    #[test]
    fn short_secret_and_slow_failover_warn() {
        let (_, w) =
            load("radius:\n  servers:\n    - address: 192.0.2.1\n      secret: tiny7x\n").unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].line, Some(6));
        assert!(w[0].message.contains("RFC 2865 §3"), "{}", w[0]);
        assert!(
            !w[0].message.contains("tiny7x"),
            "the secret is not shown: {}",
            w[0]
        );

        let (_, w) = load(&format!(
            "radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n    \
             - address: 192.0.2.2\n      secret: {SECRET}\n  timeout_secs: 10\n"
        ))
        .unwrap();
        assert!(
            w.iter().any(|w| w.message.contains("never asked in time")),
            "{w:?}"
        );
    }

    #[test]
    fn secret_file_is_read_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!("l2tpd-config-radius-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("radius.secret");
        std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cfg = dir.join("l2tpd.yaml");
        let text = format!(
            "{BASE}radius:\n  servers:\n    - address: 192.0.2.1\n      secret_file: radius.secret\n"
        );
        std::fs::write(&cfg, &text).unwrap();
        let (c, w) = Config::load(&cfg).unwrap();
        assert!(
            w.iter().all(|w| !w.message.contains("radius.secret")),
            "{w:?}"
        );
        let r = c.daemon.radius.unwrap();
        assert_eq!(
            r.servers[0].secret.as_bytes(),
            SECRET.as_bytes(),
            "newline trimmed"
        );

        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_, w) = Config::load(&cfg).unwrap();
        let w: Vec<_> = w
            .iter()
            .filter(|w| w.message.contains("radius.secret is readable"))
            .collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].line, Some(7));
        assert!(w[0].message.contains("chmod 600"), "{}", w[0]);

        std::fs::remove_file(&secret).unwrap();
        let e = Config::load(&cfg).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].kind, ConfigErrorKind::Io);
        assert_eq!(e[0].line, Some(7));
        assert!(e[0].reason.contains("cannot read secret_file"), "{}", e[0]);

        // An inline secret in a file others can read is pointed out.
        std::fs::write(
            &cfg,
            format!(
                "{BASE}radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_, w) = Config::load(&cfg).unwrap();
        assert!(
            w.iter().any(|w| w.message.contains("RADIUS shared secret")),
            "{w:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn order_takes_each_source_once() {
        let server =
            format!("radius:\n  servers:\n    - address: 192.0.2.1\n      secret: {SECRET}\n");
        for (text, want) in [
            (
                "[users, radius]",
                vec![AuthSource::Users, AuthSource::Radius],
            ),
            (
                "[radius, users]",
                vec![AuthSource::Radius, AuthSource::Users],
            ),
            ("[users]", vec![AuthSource::Users]),
            ("\n    - radius", vec![AuthSource::Radius]),
        ] {
            let (c, w) = load(&format!("{server}  order: {text}\n")).unwrap();
            assert!(w.is_empty(), "{w:?}");
            assert_eq!(c.daemon.radius.unwrap().order, want, "{text}");
        }
        one_error(&format!("{server}  order: []\n"), 8, "order is empty");
        one_error(
            &format!("{server}  order: [users, ldap]\n"),
            8,
            "`ldap` is not a source",
        );
        one_error(
            &format!("{server}  order: [radius, users, radius]\n"),
            8,
            "names `radius` twice",
        );
        let e = errors(&format!("{server}  order: radius\n"));
        assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
        assert_eq!(e[0].line, Some(8), "{}", e[0]);
    }
}
