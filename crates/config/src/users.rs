//! `users.yaml`: the user accounts PPP authenticates against.
//!
//! Each user has a name, either a `password` or an `nt_hash` (the MD4 of the UTF-16LE password,
//! RFC 2759 §8.3 `NtPasswordHash`, 32 hex digits as printed by `l2tpd-rs hash-password`), an
//! optional `static_ip` from the pool, and a `disabled` flag. A user with only an `nt_hash` can
//! use MS-CHAPv2 and MS-CHAPv1 but not CHAP-MD5 or PAP, which need the password itself.
//!
//! [`Users::from_yaml_str`] checks the **whole** text before it returns a table: it reports
//! every problem in the file at once, each with file, line and reason, and returns either a
//! complete new table or the errors, never a part. The caller keeps its old table on error, so
//! a bad edit (or a file caught half-written) never replaces a good table already loaded.
//! [`Users::load`] reads the file once into memory first ([`FileText`]).
//!
//! # User names
//! Names are compared **case-sensitively** and exactly as typed in the client. Windows sends the
//! name as typed in the connection dialog, which may be `DOMAIN\user`: when the exact name is
//! not in the table, the part after the last backslash is tried. This matches RFC 2759 §8.2,
//! where `ChallengeHash` uses "only the user name (as presented by the peer and excluding any
//! prepended domain name)"; see [`strip_domain`]. Case is kept significant because the table
//! may hold both `Alice` and `alice` and a guess between them would be a security decision
//! made silently.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crypto::Secret;
use ipnetwork::Ipv4Network;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::de_opt_secret;
use crate::files::{FileText, Readers};
use crate::locate::{Location, nth_key_line, yaml_location, yaml_reason};
use crate::problem::Warning;
use crate::server::PoolConfig;

/// Why a users file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsersErrorKind {
    /// The file could not be read.
    Io,
    /// The YAML is malformed, a key is unknown or a value has the wrong type.
    Syntax,
    /// A user name appears twice.
    Duplicate,
    /// A user name is empty or has control characters.
    BadName,
    /// A user has both or neither of `password` and `nt_hash`, or an empty password.
    Credentials,
    /// An `nt_hash` is not 32 hex digits.
    BadHash,
    /// A `static_ip` is outside the pool or given to two users.
    StaticAddress,
    /// An `idle_timeout_secs` is below the minimum.
    Timeout,
    /// A `routes` entry is not a network, is the default route, overlaps the pool or is
    /// routed to another user too.
    Route,
}

/// One problem in a users file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Location::new(file, *line, *column).prefix_and(reason))]
pub struct UsersError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column, when known.
    pub column: Option<usize>,
    /// What kind of problem it is.
    pub kind: UsersErrorKind,
    /// The reason, in plain words.
    pub reason: String,
}

impl UsersError {
    /// The users file at `path` could not be opened or read.
    pub fn unreadable(path: &Path, e: &std::io::Error) -> Self {
        Self {
            file: path.to_path_buf(),
            line: None,
            column: None,
            kind: UsersErrorKind::Io,
            reason: format!("cannot read the users file: {e}"),
        }
    }
}

/// A warning if users.yaml (passwords and NT hashes, each as good as the password for MS-CHAP)
/// can be read by anyone but its owner. A file readable by its group is accepted without a
/// warning when that group is `daemon_gid`, the group the daemon runs as after dropping
/// privileges (the daemon must still read the file to reload it).
pub fn permission_warning(file: &FileText, daemon_gid: Option<u32>) -> Option<Warning> {
    let who = match file.readable_by()? {
        Readers::Group if daemon_gid == Some(file.gid) => return None,
        who => who,
    };
    Some(Warning {
        file: file.path.clone(),
        line: None,
        message: format!(
            "the users file holds passwords and is readable by {}: chmod 600 it (or 640 with \
             the group the daemon drops to)",
            who.as_str()
        ),
    })
}

/// An NT password hash (MD4 of the UTF-16LE password, RFC 2759 §8.3). It is as good as the
/// password for MS-CHAP, so it is zeroized on drop and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct NtHash([u8; 16]);

impl NtHash {
    /// Wraps 16 hash bytes.
    pub fn new(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for NtHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NtHash([REDACTED])")
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The name the client must send.
    pub name: String,
    /// The password, when `users.yaml` has one (needed for CHAP-MD5 and PAP).
    pub password: Option<Secret>,
    /// The NT hash (from `nt_hash`, or computed from the password).
    pub nt_hash: NtHash,
    /// The address this user always gets.
    pub static_ip: Option<Ipv4Addr>,
    /// A disabled user cannot log in; connected sessions are dropped on reload.
    pub disabled: bool,
    /// `session_timeout_secs`: `None` takes `ppp.session_timeout_secs`; `Some(0)` means no
    /// limit for this user.
    pub session_timeout_secs: Option<u32>,
    /// `idle_timeout_secs`: `None` takes `ppp.idle_timeout_secs`; `Some(0)` means no limit
    /// for this user.
    pub idle_timeout_secs: Option<u32>,
    /// `rate_limit`: `None` takes `ppp.rate_limit`; an entry replaces it whole (a direction
    /// it leaves out is not limited, so `rate_limit: {}` lifts the default for this user).
    pub rate_limit: Option<crate::RateLimit>,
    /// `max_sessions`: how many sessions this user may have at once; `None` takes
    /// `limits.sessions_per_user`, `Some(0)` means no limit for this user.
    pub max_sessions: Option<u32>,
    /// `routes`: networks behind this user's client (a branch-office router dialling in,
    /// like RADIUS Framed-Route, RFC 2865 §5.22): while the session is up, packets to them
    /// go to the session and the client may send from them.
    pub routes: Vec<Ipv4Network>,
}

/// The shortest idle timeout accepted (in users.yaml and as `ppp.idle_timeout_secs`): LCP
/// echoes and L2TP Hellos do not count as use, so a shorter one would end sessions whose user
/// merely paused; a value below a minute is most likely minutes written as seconds.
pub const MIN_IDLE_TIMEOUT_SECS: u32 = 60;

/// The result of [`Users::lookup`]. Exhaustive on purpose: the authenticator must decide
/// what every kind of answer means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// No such user.
    NotFound,
    /// The user exists but is disabled.
    Disabled,
    /// The user may log in with these credentials.
    Found {
        /// The name as written in `users.yaml` (without the client's domain prefix).
        name: &'a str,
        /// The password, if `users.yaml` has it.
        password: Option<&'a Secret>,
        /// The NT password hash.
        nt_hash: &'a NtHash,
        /// The user's reserved address.
        static_ip: Option<Ipv4Addr>,
    },
}

/// The loaded user table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Users {
    users: Vec<User>,
    by_name: HashMap<String, usize>,
}

/// Strips a Windows `DOMAIN\` prefix: `CORP\alice` → `alice` (RFC 2759 §8.2 uses the name
/// "excluding any prepended domain name" in `ChallengeHash`).
pub fn strip_domain(name: &str) -> &str {
    name.rsplit_once('\\').map_or(name, |(_, user)| user)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    users: Vec<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    #[serde(default, deserialize_with = "de_opt_secret")]
    password: Option<Secret>,
    #[serde(default)]
    nt_hash: Option<String>,
    #[serde(default)]
    static_ip: Option<Ipv4Addr>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    session_timeout_secs: Option<u32>,
    #[serde(default)]
    idle_timeout_secs: Option<u32>,
    #[serde(default)]
    rate_limit: Option<crate::RateLimit>,
    #[serde(default)]
    max_sessions: Option<u32>,
    #[serde(default)]
    routes: Vec<String>,
}

impl Users {
    /// Reads `path` once and validates what was read; static addresses must be assignable
    /// addresses of `pool`.
    pub fn load(path: &Path, pool: &PoolConfig) -> Result<Self, Vec<UsersError>> {
        let file = FileText::read(path).map_err(|e| vec![UsersError::unreadable(path, &e)])?;
        Self::from_yaml_str(&file.text, path, pool)
    }

    /// Parses and validates `text` as if it were the contents of `path`.
    pub fn from_yaml_str(
        text: &str,
        path: &Path,
        pool: &PoolConfig,
    ) -> Result<Self, Vec<UsersError>> {
        let err = |line: Option<usize>, kind, reason: String| UsersError {
            file: path.to_path_buf(),
            line,
            column: None,
            kind,
            reason,
        };
        if text.trim().is_empty() {
            return Err(vec![err(
                None,
                UsersErrorKind::Syntax,
                "the file is empty: it needs a `users:` list (`users: []` for none)".to_owned(),
            )]);
        }
        let raw: RawFile = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = yaml_location(&e);
            vec![UsersError {
                file: path.to_path_buf(),
                line,
                column,
                kind: UsersErrorKind::Syntax,
                reason: yaml_reason(&e),
            }]
        })?;

        let mut errors = Vec::new();
        let mut users = Self::default();
        let mut first_line_of: HashMap<String, Option<usize>> = HashMap::new();
        let mut static_owner: HashMap<Ipv4Addr, String> = HashMap::new();
        let mut routed: Vec<(Ipv4Network, String)> = Vec::new();
        for (idx, u) in raw.users.into_iter().enumerate() {
            let line = nth_key_line(text, "name", idx);
            let name = u.name;
            let mut ok = true;
            if name.is_empty() || name.chars().any(char::is_control) || name.len() > 255 {
                errors.push(err(
                    line,
                    UsersErrorKind::BadName,
                    format!("user name {name:?} must be 1 to 255 bytes without control characters"),
                ));
                ok = false;
            }
            if let Some(first) = first_line_of.get(&name) {
                let at = first.map_or_else(String::new, |l| format!(" (first on line {l})"));
                errors.push(err(
                    line,
                    UsersErrorKind::Duplicate,
                    format!("user `{name}` is listed twice{at}"),
                ));
                ok = false;
            } else {
                first_line_of.insert(name.clone(), line);
            }
            let nt_hash = match (&u.password, &u.nt_hash) {
                (Some(_), Some(_)) => {
                    errors.push(err(
                        line,
                        UsersErrorKind::Credentials,
                        format!("user `{name}` has both `password` and `nt_hash`: keep one"),
                    ));
                    None
                }
                (None, None) => {
                    errors.push(err(
                        line,
                        UsersErrorKind::Credentials,
                        format!("user `{name}` has neither `password` nor `nt_hash`"),
                    ));
                    None
                }
                (Some(p), None) => match std::str::from_utf8(p.as_bytes()) {
                    Ok("") => {
                        errors.push(err(
                            line,
                            UsersErrorKind::Credentials,
                            format!("user `{name}` has an empty password"),
                        ));
                        None
                    }
                    Ok(s) => Some(NtHash(crypto::mschap::nt_password_hash(s))),
                    // A YAML string is always UTF-8; keep the branch total anyway.
                    Err(_) => None,
                },
                (None, Some(h)) => match parse_nt_hash(h) {
                    Some(h) => Some(NtHash(h)),
                    None => {
                        errors.push(err(
                            line,
                            UsersErrorKind::BadHash,
                            format!(
                                "user `{name}`: nt_hash must be 32 hex digits (as printed by \
                                 `l2tpd-rs hash-password`), got {} characters",
                                h.trim().len()
                            ),
                        ));
                        None
                    }
                },
            };
            if let Some(ip) = u.static_ip {
                if !pool.is_assignable(ip) {
                    errors.push(err(
                        line,
                        UsersErrorKind::StaticAddress,
                        format!(
                            "user `{name}`: static_ip {ip} is not an assignable address of the pool {} \
                             (server address {})",
                            pool.cidr, pool.server_address
                        ),
                    ));
                    ok = false;
                } else if let Some(owner) = static_owner.get(&ip) {
                    errors.push(err(
                        line,
                        UsersErrorKind::StaticAddress,
                        format!("user `{name}`: static_ip {ip} is already given to `{owner}`"),
                    ));
                    ok = false;
                } else {
                    static_owner.insert(ip, name.clone());
                }
            }
            if let Some(idle) = u.idle_timeout_secs
                && idle > 0
                && idle < MIN_IDLE_TIMEOUT_SECS
            {
                errors.push(err(
                    line,
                    UsersErrorKind::Timeout,
                    format!(
                        "user `{name}`: idle_timeout_secs {idle} is below {MIN_IDLE_TIMEOUT_SECS} \
                         (LCP echoes do not count as use, so such a session ends whenever its \
                         user pauses); use 0 for no idle limit"
                    ),
                ));
                ok = false;
            }
            let mut routes = Vec::new();
            for entry in &u.routes {
                match check_route(entry, pool, &routed) {
                    Ok(net) => {
                        routed.push((net, name.clone()));
                        routes.push(net);
                    }
                    Err(why) => {
                        errors.push(err(
                            line,
                            UsersErrorKind::Route,
                            format!("user `{name}`: routes entry `{entry}` {why}"),
                        ));
                        ok = false;
                    }
                }
            }
            if let (true, Some(nt_hash)) = (ok, nt_hash) {
                users.by_name.insert(name.clone(), users.users.len());
                users.users.push(User {
                    name,
                    password: u.password,
                    nt_hash,
                    static_ip: u.static_ip,
                    disabled: u.disabled,
                    session_timeout_secs: u.session_timeout_secs,
                    idle_timeout_secs: u.idle_timeout_secs,
                    rate_limit: u.rate_limit,
                    max_sessions: u.max_sessions,
                    routes,
                });
            }
        }
        if errors.is_empty() {
            Ok(users)
        } else {
            Err(errors)
        }
    }

    /// Looks a name up as the client sent it (see the module docs on case and domains).
    pub fn lookup(&self, name: &str) -> Lookup<'_> {
        let idx = self.by_name.get(name).or_else(|| {
            let bare = strip_domain(name);
            (bare.len() != name.len())
                .then(|| self.by_name.get(bare))
                .flatten()
        });
        match idx.and_then(|i| self.users.get(*i)) {
            None => Lookup::NotFound,
            Some(u) if u.disabled => Lookup::Disabled,
            Some(u) => Lookup::Found {
                name: &u.name,
                password: u.password.as_ref(),
                nt_hash: &u.nt_hash,
                static_ip: u.static_ip,
            },
        }
    }

    /// The enabled user a name the client sent stands for (as [`Users::lookup`] finds it).
    pub fn get(&self, name: &str) -> Option<&User> {
        let idx = self.by_name.get(name).or_else(|| {
            let bare = strip_domain(name);
            (bare.len() != name.len())
                .then(|| self.by_name.get(bare))
                .flatten()
        });
        idx.and_then(|i| self.users.get(*i)).filter(|u| !u.disabled)
    }

    /// Every user, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The static reservations (user, address), for the server's address pool.
    pub fn reservations(&self) -> impl Iterator<Item = (&str, Ipv4Addr)> {
        self.users
            .iter()
            .filter_map(|u| u.static_ip.map(|ip| (u.name.as_str(), ip)))
    }
}

/// Checks one `routes` entry against the pool and the networks already routed to a user.
fn check_route(
    entry: &str,
    pool: &PoolConfig,
    routed: &[(Ipv4Network, String)],
) -> Result<Ipv4Network, String> {
    let net = entry
        .split_once('/')
        .and_then(|(a, p)| {
            Some((
                a.trim().parse::<Ipv4Addr>().ok()?,
                p.trim().parse::<u8>().ok()?,
            ))
        })
        .and_then(|(a, p)| Ipv4Network::new(a, p).ok())
        .ok_or("is not a network like 192.168.50.0/24")?;
    if net.network() != net.ip() {
        return Err(format!(
            "has host bits set: did you mean {}/{}?",
            net.network(),
            net.prefix()
        ));
    }
    if net.prefix() == 0 {
        return Err("is the default route: a client cannot be the way to everything".to_owned());
    }
    if overlaps(net, pool.cidr) {
        return Err(format!("overlaps the pool {}", pool.cidr));
    }
    if let Some((other, owner)) = routed.iter().find(|(r, _)| overlaps(net, *r)) {
        return Err(format!("overlaps {other}, already routed to `{owner}`"));
    }
    Ok(net)
}

/// Whether two networks share an address (then one contains the other).
pub fn overlaps(a: Ipv4Network, b: Ipv4Network) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

fn parse_nt_hash(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/l2tpd-rs/users.yaml";

    fn pool() -> PoolConfig {
        PoolConfig::default()
    }

    fn load(text: &str) -> Result<Users, Vec<UsersError>> {
        Users::from_yaml_str(text, Path::new(FILE), &pool())
    }

    // RFC 2759 §9.2: UserName "User", Password "clientPass",
    // NtPasswordHash 44EBBA8D5312B8D611474411F56989AE.
    const CLIENT_PASS_HASH: [u8; 16] = [
        0x44, 0xEB, 0xBA, 0x8D, 0x53, 0x12, 0xB8, 0xD6, 0x11, 0x47, 0x44, 0x11, 0xF5, 0x69, 0x89,
        0xAE,
    ];

    const GOOD: &str = "\
users:
  - name: User
    password: clientPass
  - name: bob
    nt_hash: 44ebba8d5312b8d611474411f56989ae
    static_ip: 10.99.0.50
  - name: carol
    password: secret
    disabled: true
";

    #[test]
    fn loads_and_looks_up() {
        let u = load(GOOD).unwrap();
        assert_eq!(u.len(), 3);
        match u.lookup("User") {
            Lookup::Found {
                name,
                password,
                nt_hash,
                static_ip,
            } => {
                assert_eq!(name, "User");
                assert_eq!(password.unwrap().as_bytes(), b"clientPass");
                assert_eq!(nt_hash.as_bytes(), &CLIENT_PASS_HASH);
                assert_eq!(static_ip, None);
            }
            other => panic!("{other:?}"),
        }
        match u.lookup("bob") {
            Lookup::Found {
                password,
                nt_hash,
                static_ip,
                ..
            } => {
                assert!(password.is_none());
                assert_eq!(nt_hash.as_bytes(), &CLIENT_PASS_HASH);
                assert_eq!(static_ip, Some(Ipv4Addr::new(10, 99, 0, 50)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(u.lookup("carol"), Lookup::Disabled);
        assert_eq!(u.lookup("nobody"), Lookup::NotFound);
        let res: Vec<_> = u.reservations().collect();
        assert_eq!(res, vec![("bob", Ipv4Addr::new(10, 99, 0, 50))]);
    }

    #[test]
    fn names_are_case_sensitive_and_domains_are_stripped() {
        let u = load(GOOD).unwrap();
        assert_eq!(u.lookup("user"), Lookup::NotFound);
        assert!(matches!(
            u.lookup("CORP\\User"),
            Lookup::Found { name: "User", .. }
        ));
        assert!(matches!(
            u.lookup("A\\B\\bob"),
            Lookup::Found { name: "bob", .. }
        ));
        assert_eq!(u.lookup("CORP\\carol"), Lookup::Disabled);
        assert_eq!(u.lookup("CORP\\"), Lookup::NotFound);
        // An exact name with a backslash wins over the stripped one.
        let u = load(
            "users:\n  - name: 'CORP\\bob'\n    password: a\n  - name: bob\n    password: b\n",
        )
        .unwrap();
        match u.lookup("CORP\\bob") {
            Lookup::Found { password, .. } => assert_eq!(password.unwrap().as_bytes(), b"a"),
            other => panic!("{other:?}"),
        }
        assert_eq!(strip_domain("D\\x"), "x");
        assert_eq!(strip_domain("x"), "x");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let u = load(GOOD).unwrap();
        let dbg = format!("{u:?} {:?}", u.lookup("User"));
        assert!(!dbg.contains("clientPass"), "{dbg}");
        assert!(!dbg.to_lowercase().contains("44ebba"), "{dbg}");
        assert!(!dbg.contains("68, 235"), "{dbg}");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "\
users:
  - name: alice
    password: a
  - name: alice
    password: b
  - name: both
    password: x
    nt_hash: 44ebba8d5312b8d611474411f56989ae
  - name: neither
  - name: badhash
    nt_hash: 44ebba8d
  - name: outside
    password: x
    static_ip: 10.98.0.5
  - name: server
    password: x
    static_ip: 10.99.0.1
  - name: first
    password: x
    static_ip: 10.99.0.9
  - name: second
    password: x
    static_ip: 10.99.0.9
  - name: \"\"
    password: x
  - name: empty
    password: \"\"
";
        let e = load(text).unwrap_err();
        let find = |kind: UsersErrorKind, needle: &str| {
            e.iter()
                .find(|e| e.kind == kind && e.reason.contains(needle))
                .unwrap_or_else(|| panic!("no {kind:?} {needle:?} in {e:#?}"))
                .line
        };
        assert_eq!(find(UsersErrorKind::Duplicate, "first on line 2"), Some(4));
        assert_eq!(find(UsersErrorKind::Credentials, "both"), Some(6));
        assert_eq!(find(UsersErrorKind::Credentials, "neither"), Some(9));
        assert_eq!(find(UsersErrorKind::BadHash, "32 hex"), Some(10));
        assert_eq!(find(UsersErrorKind::StaticAddress, "10.98.0.5"), Some(12));
        assert_eq!(
            find(UsersErrorKind::StaticAddress, "10.99.0.1 is not"),
            Some(15)
        );
        assert_eq!(
            find(UsersErrorKind::StaticAddress, "already given to `first`"),
            Some(21)
        );
        assert_eq!(find(UsersErrorKind::BadName, "1 to 255"), Some(24));
        assert_eq!(
            find(UsersErrorKind::Credentials, "empty password"),
            Some(26)
        );
        assert_eq!(e.len(), 9, "{e:#?}");
        assert!(
            e[0].to_string().starts_with("/etc/l2tpd-rs/users.yaml:4: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn routes_are_read_and_checked() {
        let u = load(
            "users:\n  - name: branch\n    password: x\n    routes: [192.168.50.0/24, \
             172.16.8.0/22]\n  - name: c\n    password: x\n",
        )
        .unwrap();
        let net = |s: &str| s.parse::<Ipv4Network>().unwrap();
        assert_eq!(
            u.get("branch").unwrap().routes,
            vec![net("192.168.50.0/24"), net("172.16.8.0/22")]
        );
        assert!(u.get("c").unwrap().routes.is_empty());

        for (entry, needle) in [
            ("192.168.50.0", "is not a network like"),
            ("192.168.50.0/33", "is not a network like"),
            ("branch-lan", "is not a network like"),
            ("192.168.50.1/24", "did you mean 192.168.50.0/24?"),
            ("0.0.0.0/0", "default route"),
            ("10.99.0.128/25", "overlaps the pool 10.99.0.0/24"),
            ("10.0.0.0/8", "overlaps the pool 10.99.0.0/24"),
        ] {
            let e = load(&format!(
                "users:\n  - name: a\n    password: x\n    routes: [\"{entry}\"]\n"
            ))
            .unwrap_err();
            assert_eq!(e.len(), 1, "{entry}: {e:#?}");
            assert_eq!(e[0].kind, UsersErrorKind::Route, "{entry}");
            assert_eq!(e[0].line, Some(2), "{entry}");
            assert!(
                e[0].reason
                    .contains(&format!("user `a`: routes entry `{entry}`"))
                    && e[0].reason.contains(needle),
                "{entry}: {}",
                e[0].reason
            );
        }

        // Two users (or one user twice) cannot both be the way to one network.
        let e = load(
            "users:\n  - name: a\n    password: x\n    routes: [192.168.50.0/24]\n  \
             - name: b\n    password: x\n    routes: [192.168.50.128/25]\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].line, Some(5));
        assert!(
            e[0].reason
                .contains("overlaps 192.168.50.0/24, already routed to `a`"),
            "{}",
            e[0].reason
        );
    }

    #[test]
    fn max_sessions_is_read_and_checked() {
        let u = load(
            "users:\n  - name: a\n    password: x\n    max_sessions: 1\n  - name: b\n    \
             password: x\n    max_sessions: 0\n  - name: c\n    password: x\n",
        )
        .unwrap();
        let m = |n: &str| u.get(n).map(|u| u.max_sessions);
        assert_eq!(m("a"), Some(Some(1)));
        assert_eq!(m("b"), Some(Some(0)), "0 is kept: no limit");
        assert_eq!(m("c"), Some(None), "the global limit applies");
        let e = load("users:\n  - name: a\n    password: x\n    max_sessions: -1\n").unwrap_err();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].to_string().contains("max_sessions"), "{}", e[0]);
    }

    #[test]
    fn timeouts_are_read_and_checked() {
        let u = load(
            "users:\n  - name: a\n    password: x\n    session_timeout_secs: 3600\n    \
             idle_timeout_secs: 600\n  - name: b\n    password: x\n    session_timeout_secs: 0\n  \
             - name: c\n    password: x\n    idle_timeout_secs: 60\n",
        )
        .unwrap();
        let t = |n: &str| {
            u.get(n)
                .map(|u| (u.session_timeout_secs, u.idle_timeout_secs))
        };
        assert_eq!(t("a"), Some((Some(3600), Some(600))));
        assert_eq!(t("CORP\\b"), Some((Some(0), None)), "0 is kept: no limit");
        assert_eq!(t("c"), Some((None, Some(60))));

        let e = load(
            "users:\n  - name: a\n    password: x\n  - name: short\n    password: x\n    \
             idle_timeout_secs: 59\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].kind, UsersErrorKind::Timeout);
        assert_eq!(e[0].line, Some(4));
        assert!(e[0].reason.contains("below 60"), "{}", e[0].reason);

        let e =
            load("users:\n  - name: a\n    password: x\n    idle_timeout_secs: -1\n").unwrap_err();
        assert_eq!(e[0].kind, UsersErrorKind::Syntax);
        assert_eq!(e[0].line, Some(4));
    }

    #[test]
    fn rate_limits_are_read_and_checked() {
        let u = load(
            "users:\n  - name: a\n    password: x\n    rate_limit: { up: \"2M\", down: 10M }\n  \
             - name: b\n    password: x\n    rate_limit:\n      down: 512k\n  - name: c\n    \
             password: x\n    rate_limit: {}\n  - name: d\n    password: x\n",
        )
        .unwrap();
        let r = |n: &str| {
            u.get(n).unwrap().rate_limit.map(|r| {
                (
                    r.up.map(std::num::NonZeroU64::get),
                    r.down.map(std::num::NonZeroU64::get),
                )
            })
        };
        assert_eq!(r("a"), Some((Some(2_000_000), Some(10_000_000))));
        assert_eq!(r("b"), Some((None, Some(512_000))));
        assert_eq!(
            r("c"),
            Some((None, None)),
            "an empty entry lifts the default"
        );
        assert_eq!(r("d"), None, "no entry takes the default");

        for (bad, line, why) in [
            ("    rate_limit: { up: 0 }\n", 4, "zero"),
            // The YAML parser places an error inside a block mapping at its first line.
            (
                "    rate_limit:\n      up: 1M\n      down: lots\n",
                5,
                "not a number",
            ),
            ("    rate_limit: { up: 100 }\n", 4, "below"),
            ("    rate_limit: { down: 1T }\n", 4, "not a number"),
            ("    rate_limit: { up: 1M, burst: 2 }\n", 4, "burst"),
        ] {
            let e = load(&format!("users:\n  - name: a\n    password: x\n{bad}")).unwrap_err();
            assert_eq!(e.len(), 1, "{e:#?}");
            assert_eq!(e[0].kind, UsersErrorKind::Syntax);
            assert_eq!(e[0].line, Some(line), "{bad}: {e:#?}");
            assert!(e[0].reason.contains(why), "{bad}: {}", e[0].reason);
            assert!(e[0].to_string().starts_with(&format!("{FILE}:{line}")));
        }
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = load("users:\n  - name: a\n    pasword: x\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, UsersErrorKind::Syntax);
        assert_eq!(e[0].line, Some(3));
        assert!(
            e[0].reason.contains("unknown field `pasword`"),
            "{}",
            e[0].reason
        );

        let e =
            load("users:\n  - name: a\n    password: x\n    static_ip: 10.99.0.300\n").unwrap_err();
        assert_eq!(e[0].line, Some(4));

        let e = load("").unwrap_err();
        assert!(e[0].reason.contains("empty"));
        let e = load("users: [\n").unwrap_err();
        assert!(e[0].line.is_some());
        assert!(load("users: []\n").unwrap().is_empty());
    }

    #[test]
    fn load_reads_files() {
        let dir = std::env::temp_dir().join(format!("l2tpd-users-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.yaml");
        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(Users::load(&path, &pool()).unwrap().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
        let e = Users::load(&path, &pool()).unwrap_err();
        assert_eq!(e[0].kind, UsersErrorKind::Io);
    }

    #[test]
    fn readable_files_are_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("l2tpd-users-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let check = |mode: u32, daemon_gid: Option<u32>| {
            std::fs::set_permissions(&path, PermissionsExt::from_mode(mode)).unwrap();
            let file = FileText::read(&path).unwrap();
            permission_warning(&file, daemon_gid).map(|w| w.to_string())
        };
        let gid = FileText::read(&path).unwrap().gid;
        let w = check(0o644, None).expect("every user can read it");
        assert!(w.starts_with(&path.display().to_string()), "{w}");
        assert!(w.contains("readable by every user: chmod 600"), "{w}");
        assert!(
            check(0o640, None)
                .unwrap()
                .contains("readable by its group")
        );
        assert!(
            check(0o640, Some(gid.wrapping_add(1))).is_some(),
            "another group than the daemon's"
        );
        assert_eq!(check(0o640, Some(gid)), None, "the daemon's own group");
        assert!(check(0o644, Some(gid)).is_some(), "others still can");
        assert_eq!(check(0o600, None), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
