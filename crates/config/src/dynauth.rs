//! `radius.dynamic_authorization` in `l2tpd.yaml`: who may send Disconnect-Request and
//! CoA-Request (RFC 5176), with its checks.
//!
//! ```yaml
//! radius:
//!   # ... servers ...
//!   dynamic_authorization:
//!     listen: 0.0.0.0:3799              # the default (RFC 5176 §2.3: UDP port 3799)
//!     clients:
//!       - address: 192.0.2.10           # requests are taken from this address only
//!         secret_file: dynauth.secret   # or `secret: ...`
//!     require_message_authenticator: false
//! ```
//!
//! Off unless the key is present. Only the daemon reads it
//! ([`crate::RadiusOptions::dynamic_authorization`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crypto::Secret;
use serde::Deserialize;

use crate::de_opt_secret;
use crate::locate::{find_key_line, nth_key_line};
use crate::problem::Checker;
use crate::radius::{MIN_RADIUS_SECRET, SecretSource, check_secret};

/// The Dynamic Authorization port (RFC 5176 §2.3: requests go to "UDP port 3799").
pub const DEFAULT_DYNAUTH_PORT: u16 = 3799;

/// Disconnect and CoA requests (`radius.dynamic_authorization`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynAuthOptions {
    /// The address and port the daemon listens on.
    pub listen: SocketAddr,
    /// Who may send requests.
    pub clients: Vec<DynAuthClient>,
    /// Whether a request without Message-Authenticator is dropped (one present is always
    /// checked).
    pub require_message_authenticator: bool,
}

/// A Dynamic Authorization client (RFC 5176 §1.3: the RADIUS server or proxy that sends the
/// requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynAuthClient {
    /// Its IP address; requests from any other address are dropped.
    pub address: IpAddr,
    /// The secret shared with it (never logged).
    pub secret: Secret,
}

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDynAuth {
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    clients: Vec<RawDynAuthClient>,
    #[serde(default)]
    require_message_authenticator: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDynAuthClient {
    address: String,
    #[serde(default, deserialize_with = "de_opt_secret")]
    secret: Option<Secret>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
}

const SECTION: [&str; 2] = ["radius", "dynamic_authorization"];

/// `IP` or `IP:port` (`[v6]:port`), the port 3799 when left out.
fn parse_listen(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, DEFAULT_DYNAUTH_PORT))
}

/// The line of the `n`-th `key:` inside `radius.dynamic_authorization`.
fn client_line(text: &str, key: &str, n: usize) -> Option<usize> {
    let start = find_key_line(text, &SECTION)?;
    let rest: String = text
        .lines()
        .skip(start.saturating_sub(1))
        .collect::<Vec<_>>()
        .join("\n");
    nth_key_line(&rest, key, n).map(|l| l + start - 1)
}

/// Checks the section and reads the secret files (relative to `base`). `inline_secret` is set
/// when a secret is written in the file itself (for the warning about its permissions).
pub(crate) fn check_dynauth(
    ck: &mut Checker<'_>,
    raw: Option<RawDynAuth>,
    base: &Path,
    inline_secret: &mut bool,
) -> Option<DynAuthOptions> {
    let raw = raw?;
    let listen = match raw.listen.as_deref() {
        None => Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            DEFAULT_DYNAUTH_PORT,
        )),
        Some(s) => match parse_listen(s) {
            Some(a) if a.port() == 0 => {
                ck.error(
                    &[SECTION[0], SECTION[1], "listen"],
                    "radius.dynamic_authorization.listen: port 0 is not a port",
                );
                None
            }
            Some(a) => Some(a),
            None => {
                ck.error(
                    &[SECTION[0], SECTION[1], "listen"],
                    format!(
                        "radius.dynamic_authorization.listen: `{}` is not an address like \
                         0.0.0.0:3799 or 192.0.2.1",
                        s.escape_debug()
                    ),
                );
                None
            }
        },
    };
    if raw.clients.is_empty() {
        ck.error(
            &[SECTION[0], SECTION[1], "clients"],
            "radius.dynamic_authorization.clients is empty: name at least one client (the \
             RADIUS server that sends Disconnect and CoA requests: address and secret)",
        );
    }
    let mut clients: Vec<DynAuthClient> = Vec::new();
    for (i, c) in raw.clients.into_iter().enumerate() {
        let line = client_line(ck.text, "address", i);
        let n = i + 1;
        let address = match c.address.trim().parse::<IpAddr>() {
            Ok(a) if a.is_unspecified() || a.is_multicast() => {
                ck.error_at(
                    line,
                    format!("dynamic authorization client {n}: {a} is not a client address"),
                );
                None
            }
            Ok(a) if clients.iter().any(|o| o.address == a) => {
                ck.error_at(
                    line,
                    format!(
                        "dynamic authorization client {n}: {a} is listed twice (one secret per \
                         address)"
                    ),
                );
                None
            }
            Ok(a) => Some(a),
            Err(_) => {
                ck.error_at(
                    line,
                    format!(
                        "dynamic authorization client {n}: `{}` is not an IP address like \
                         192.0.2.10 (requests may come from any port)",
                        c.address.escape_debug()
                    ),
                );
                None
            }
        };
        let secret = read_secret(ck, c.secret, c.secret_file, base, i, line, inline_secret);
        if let (Some(address), Some(secret)) = (address, secret) {
            clients.push(DynAuthClient { address, secret });
        }
    }
    Some(DynAuthOptions {
        listen: listen?,
        clients,
        require_message_authenticator: raw.require_message_authenticator,
    })
}

/// The `n`-th client's secret, inline or from its file, with the same rules as the servers'.
fn read_secret(
    ck: &mut Checker<'_>,
    secret: Option<Secret>,
    secret_file: Option<PathBuf>,
    base: &Path,
    i: usize,
    line: Option<usize>,
    inline_secret: &mut bool,
) -> Option<Secret> {
    let n = i + 1;
    let secret = check_secret(
        ck,
        &format!("dynamic authorization client {n}"),
        SecretSource {
            secret,
            secret_file,
            base,
        },
        line,
        |text| client_line(text, "secret_file", i),
        inline_secret,
    )?;
    if secret.is_empty() {
        ck.error_at(
            line,
            format!("dynamic authorization client {n}: the shared secret is empty"),
        );
        return None;
    }
    if secret.len() > 128 {
        ck.error_at(
            line,
            format!("dynamic authorization client {n}: the shared secret is longer than 128 bytes"),
        );
        return None;
    }
    if secret.len() < MIN_RADIUS_SECRET {
        ck.warn_at(
            line,
            format!(
                "dynamic authorization client {n}: the shared secret is shorter than \
                 {MIN_RADIUS_SECRET} bytes (RFC 2865 §3 asks for at least 16): a forged \
                 Disconnect-Request needs only the secret"
            ),
        );
    }
    Some(secret)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use crate::{Config, ConfigError, ConfigErrorKind, Warning};

    use super::*;

    const BASE: &str = "psk: a-long-enough-secret\npool:\n  cidr: 10.99.0.0/24\nradius:\n  \
                        servers:\n    - address: 192.0.2.1\n      secret: 0123456789abcdef-long\n";
    const SECRET: &str = "fedcba9876543210-long";

    fn load(text: &str) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
        Config::from_yaml_str(
            &format!("{BASE}{text}"),
            Path::new("/etc/l2tpd-rs/l2tpd.yaml"),
        )
    }

    fn options(text: &str) -> Option<DynAuthOptions> {
        load(text)
            .unwrap()
            .0
            .daemon
            .radius
            .unwrap()
            .dynamic_authorization
    }

    fn one_error(text: &str, line: usize, needle: &str) {
        let e = load(text).expect_err(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, Some(line), "{}", e[0]);
        assert!(e[0].reason.contains(needle), "{}", e[0]);
    }

    #[test]
    fn off_unless_configured_and_defaults() {
        assert_eq!(options(""), None);
        let d = options(&format!(
            "  dynamic_authorization:\n    clients:\n      - address: 192.0.2.10\n        \
             secret: {SECRET}\n"
        ))
        .unwrap();
        assert_eq!(d.listen, "0.0.0.0:3799".parse().unwrap());
        assert_eq!(d.clients.len(), 1);
        assert_eq!(d.clients[0].address, IpAddr::from([192, 0, 2, 10]));
        assert_eq!(d.clients[0].secret.as_bytes(), SECRET.as_bytes());
        assert!(!d.require_message_authenticator);

        let d = options(&format!(
            "  dynamic_authorization:\n    listen: 127.0.0.1\n    clients:\n      - {{address: \
             \"2001:db8::1\", secret: {SECRET}}}\n      - address: 192.0.2.11\n        secret: \
             {SECRET}\n    require_message_authenticator: true\n"
        ))
        .unwrap();
        assert_eq!(d.listen, "127.0.0.1:3799".parse().unwrap());
        assert_eq!(d.clients.len(), 2);
        assert!(d.require_message_authenticator);
        assert_eq!(
            options(&format!(
                "  dynamic_authorization:\n    listen: \"[::1]:13799\"\n    clients:\n      - \
                 address: ::1\n        secret: {SECRET}\n"
            ))
            .unwrap()
            .listen,
            "[::1]:13799".parse().unwrap()
        );
    }

    #[test]
    fn every_problem_with_its_line() {
        // BASE has 7 lines; `dynamic_authorization:` is line 8.
        let da = "  dynamic_authorization:\n";
        one_error(&format!("{da}    clients: []\n"), 9, "clients is empty");
        one_error(
            &format!(
                "{da}    listen: nowhere\n    clients:\n      - address: 192.0.2.10\n        \
                 secret: {SECRET}\n"
            ),
            9,
            "not an address",
        );
        one_error(
            &format!(
                "{da}    listen: 127.0.0.1:0\n    clients:\n      - address: 192.0.2.10\n        \
                 secret: {SECRET}\n"
            ),
            9,
            "port 0",
        );
        one_error(
            &format!(
                "{da}    clients:\n      - address: radius.example\n        secret: {SECRET}\n"
            ),
            10,
            "not an IP address",
        );
        one_error(
            &format!("{da}    clients:\n      - address: 0.0.0.0\n        secret: {SECRET}\n"),
            10,
            "not a client address",
        );
        one_error(
            &format!(
                "{da}    clients:\n      - address: 192.0.2.10\n        secret: {SECRET}\n      \
                 - address: 192.0.2.10\n        secret: {SECRET}\n"
            ),
            12,
            "listed twice",
        );
        one_error(
            &format!("{da}    clients:\n      - address: 192.0.2.10\n"),
            10,
            "client 1: no shared secret",
        );
        one_error(
            &format!(
                "{da}    clients:\n      - address: 192.0.2.10\n        secret: {SECRET}\n        \
                 secret_file: x\n"
            ),
            10,
            "both",
        );
        one_error(
            &format!("{da}    clients:\n      - address: 192.0.2.10\n        secret: \"\"\n"),
            10,
            "secret is empty",
        );
        let e = load(&format!(
            "{da}    clients:\n      - address: 192.0.2.10\n        secret: {SECRET}\n    port: 1\n"
        ))
        .unwrap_err();
        assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
        assert!(e[0].reason.contains("port"), "{}", e[0]);
    }

    #[test]
    fn short_secret_warns_without_showing_it() {
        let (_, w) = load(
            "  dynamic_authorization:\n    clients:\n      - address: 192.0.2.10\n        \
             secret: tiny7x\n",
        )
        .unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].line, Some(10));
        assert!(!w[0].message.contains("tiny7x"), "{}", w[0]);
        let (c, _) = load(&format!(
            "  dynamic_authorization:\n    clients:\n      - address: 192.0.2.10\n        \
             secret: {SECRET}\n"
        ))
        .unwrap();
        assert!(!format!("{c:?}").contains(SECRET));
    }

    #[test]
    fn secret_file_is_read_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!("l2tpd-config-dynauth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("dynauth.secret");
        std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cfg = dir.join("l2tpd.yaml");
        std::fs::write(
            &cfg,
            format!(
                "{BASE}  dynamic_authorization:\n    clients:\n      - address: 192.0.2.10\n        \
                 secret_file: dynauth.secret\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (c, _) = Config::load(&cfg).unwrap();
        let d = c.daemon.radius.unwrap().dynamic_authorization.unwrap();
        assert_eq!(d.clients[0].secret.as_bytes(), SECRET.as_bytes());
        std::fs::remove_file(&secret).unwrap();
        let e = Config::load(&cfg).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].kind, ConfigErrorKind::Io);
        assert_eq!(e[0].line, Some(11));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
