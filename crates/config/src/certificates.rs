//! The `certificates:` block of `l2tpd.yaml`: IKEv1 authentication with RSA signatures (RFC 2409
//! §5.1) beside, or instead of, the pre-shared key.
//!
//! ```yaml
//! certificates:
//!   certificate: pki/server.crt   # the server's certificate, then any intermediates
//!   key: pki/server.key           # its RSA key, unencrypted, mode 0600
//!   ca: [pki/ca.crt]              # the CAs client chains must lead to
//!   crl: [pki/crl.pem]            # optional CRLs, read again on every reload
//!   accept: ["*"]                 # client identities accepted (default: any)
//!   allow_psk: true               # PSK clients are still accepted (default)
//!   names: [vpn.example.com]      # what clients type, for check-config's certificate lint
//! ```
//!
//! The default file names are those `l2tpd-rs pki` writes into `/etc/l2tpd-rs/pki`. Paths are
//! relative to the configuration file's directory, like `psk_file`.
//!
//! Files are read and decoded here (`pki::load`), so the server gets certificates, the key and
//! the CRLs as values and never a path. What does not depend on the time is checked at every
//! load: each file is readable and holds what it should, the key is not readable by other users,
//! matches the certificate's public key and has at least 1024 bits (a warning under 2048), the
//! patterns parse. What depends on the wall clock (the CA set verifies the server's own chain
//! now, every CRL is signed by a configured CA and current) is checked by
//! [`crate::Config::load_at`] and by [`CertificateConfig::reload`], which take the time from
//! the caller: this crate reads no clock.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use der::Encode;
use pki::{Certificate, Crl, IdentityPattern, PrivateKey, Verifier};
use rsa::traits::PublicKeyParts;
use serde::Deserialize;

use crate::files::readable_by;
use crate::problem::{Checker, ConfigErrorKind};

/// Smallest RSA key accepted for the server (Windows refuses smaller keys in chains, see
/// [`pki::MIN_RSA_BITS`]).
pub const MIN_SERVER_KEY_BITS: usize = pki::MIN_RSA_BITS;

/// Server keys smaller than this get a warning (NIST SP 800-131A Rev. 2 §3: RSA keys under
/// 2048 bits are disallowed for signatures).
pub const RECOMMENDED_SERVER_KEY_BITS: usize = 2048;

/// The block as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertificates {
    certificate: PathBuf,
    key: PathBuf,
    #[serde(deserialize_with = "one_or_many")]
    ca: Vec<PathBuf>,
    #[serde(default, deserialize_with = "one_or_many")]
    crl: Vec<PathBuf>,
    #[serde(default)]
    accept: Option<Vec<String>>,
    #[serde(default = "yes")]
    allow_psk: bool,
    #[serde(default)]
    names: Vec<String>,
}

impl RawCertificates {
    /// Whether pre-shared-key clients stay accepted.
    pub(crate) fn allow_psk(&self) -> bool {
        self.allow_psk
    }
}

fn yes() -> bool {
    true
}

/// A path or a list of paths (`ca: pki/ca.crt` and `ca: [pki/ca.crt]` mean the same).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

/// The files of the block, resolved against the configuration file's directory: what a reload
/// reads again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The server certificate, followed in the same file by any intermediates.
    pub certificate: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
    /// CA certificates (each file may hold several).
    pub ca: Vec<PathBuf>,
    /// CRL files (each may hold several).
    pub crl: Vec<PathBuf>,
}

/// The server's private key. `Debug` shows its size only; two keys are equal when their
/// components are.
#[derive(Clone, PartialEq)]
pub struct ServerKey(pub Arc<PrivateKey>);

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKey(<{}-bit RSA, redacted>)", self.0.n().bits())
    }
}

/// The `certificates:` block, loaded and checked: everything the IKE responder needs, as
/// values.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateConfig {
    /// Where the values came from (read again by [`CertificateConfig::reload`]).
    pub files: CertificateFiles,
    /// The server certificate first, then the intermediates after it in its file.
    pub chain: Vec<Certificate>,
    /// `chain` in DER, as sent in CERT payloads.
    pub chain_der: Vec<Vec<u8>>,
    /// The private key of `chain[0]`.
    pub key: ServerKey,
    /// The CAs client chains must lead to.
    pub cas: Vec<Certificate>,
    /// The CRLs applied to client chains.
    pub crls: Vec<Crl>,
    /// Client identities accepted (`*` by default).
    pub accept: Vec<IdentityPattern>,
    /// Whether pre-shared-key clients stay accepted beside certificates.
    pub allow_psk: bool,
    /// Host names and addresses clients type to reach the server (for the certificate lint).
    pub names: Vec<String>,
}

impl CertificateConfig {
    /// The server certificate.
    pub fn server_certificate(&self) -> Option<&Certificate> {
        self.chain.first()
    }

    /// A verifier for client chains: the configured CAs and CRLs.
    pub fn verifier(&self) -> Result<Verifier, pki::ChainError> {
        Verifier::new(self.cas.clone(), self.crls.clone())
    }

    /// `names` split into host names and IPv4 addresses (as `pki::lint` takes them).
    pub fn lint_names(&self) -> (Vec<String>, Vec<Ipv4Addr>) {
        let mut hosts = Vec::new();
        let mut addrs = Vec::new();
        for n in &self.names {
            match n.parse::<Ipv4Addr>() {
                Ok(a) => addrs.push(a),
                Err(_) => hosts.push(n.clone()),
            }
        }
        (hosts, addrs)
    }

    /// What Windows clients will refuse in the server certificate ([`pki::lint`]), for the
    /// configured `names` and the `listen` addresses (0.0.0.0 left out), at time `now`.
    pub fn lint(&self, listen: &[Ipv4Addr], now: SystemTime) -> Vec<pki::lint::Finding> {
        let Some(cert) = self.server_certificate() else {
            return Vec::new();
        };
        let (hosts, mut addrs) = self.lint_names();
        for a in listen {
            if !a.is_unspecified() && !addrs.contains(a) {
                addrs.push(*a);
            }
        }
        pki::lint::server_certificate(cert, &hosts, &addrs, now)
    }

    /// Reads every file of the block again (a reload: SIGHUP, `reload-users`, a new CRL) and
    /// checks it as a load at time `now` does. A key file this process may no longer open
    /// (after the daemon dropped its privileges) is not an error: the key in use is kept, and
    /// must still match the certificate. On success, the new settings (same patterns,
    /// `allow_psk` and names) and any warnings; on failure every problem, each naming its file,
    /// and the caller keeps the settings in use.
    pub fn reload(&self, now: SystemTime) -> Result<(Self, Vec<String>), Vec<String>> {
        let mut found = Found::default();
        let loaded = read_files(&self.files, Some(now), Some(&self.key), &mut found);
        if !found.errors.is_empty() {
            return Err(found.errors.into_iter().map(|p| p.message).collect());
        }
        let Some(loaded) = loaded else {
            return Err(vec!["the certificate files could not be read".to_owned()]);
        };
        let config = Self {
            files: self.files.clone(),
            chain: loaded.chain,
            chain_der: loaded.chain_der,
            key: loaded.key,
            cas: loaded.cas,
            crls: loaded.crls,
            accept: self.accept.clone(),
            allow_psk: self.allow_psk,
            names: self.names.clone(),
        };
        Ok((
            config,
            found.warnings.into_iter().map(|p| p.message).collect(),
        ))
    }
}

/// Which key of the block a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Certificate,
    Key,
    Ca,
    Crl,
}

impl Slot {
    fn key(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Key => "key",
            Self::Ca => "ca",
            Self::Crl => "crl",
        }
    }
}

struct Problem {
    slot: Slot,
    kind: ConfigErrorKind,
    message: String,
}

#[derive(Default)]
struct Found {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Found {
    fn error(&mut self, slot: Slot, message: String) {
        self.errors.push(Problem {
            slot,
            kind: ConfigErrorKind::Invalid,
            message,
        });
    }

    fn io(&mut self, slot: Slot, message: String) {
        self.errors.push(Problem {
            slot,
            kind: ConfigErrorKind::Io,
            message,
        });
    }

    fn warn(&mut self, slot: Slot, message: String) {
        self.warnings.push(Problem {
            slot,
            kind: ConfigErrorKind::Invalid,
            message,
        });
    }
}

struct Loaded {
    chain: Vec<Certificate>,
    chain_der: Vec<Vec<u8>>,
    key: ServerKey,
    cas: Vec<Certificate>,
    crls: Vec<Crl>,
}

/// Reads a whole file and its permission bits through one descriptor.
fn read(slot: Slot, path: &Path, found: &mut Found) -> Option<(Vec<u8>, u32)> {
    match crate::load::read_secret_file(path) {
        Ok(v) => Some(v),
        Err(e) => {
            found.io(
                slot,
                format!(
                    "cannot read certificates.{} {}: {e}",
                    slot.key(),
                    path.display()
                ),
            );
            None
        }
    }
}

/// Reads and checks every file; `now` adds the checks that need the time.
fn read_files(
    files: &CertificateFiles,
    now: Option<SystemTime>,
    held_key: Option<&ServerKey>,
    found: &mut Found,
) -> Option<Loaded> {
    let chain = read(Slot::Certificate, &files.certificate, found).and_then(|(bytes, _)| {
        match pki::load::certificates(&bytes) {
            Ok(c) => Some(c),
            Err(e) => {
                found.error(
                    Slot::Certificate,
                    format!("{} is not a certificate: {e}", files.certificate.display()),
                );
                None
            }
        }
    });
    // After the daemon dropped its privileges, the key (mode 0600, owned by root) may no
    // longer open: a reload then keeps the key it holds, which must still match the
    // certificate (checked below).
    let key_bytes = match (crate::load::read_secret_file(&files.key), held_key) {
        (Ok(v), _) => Some(v),
        (Err(e), Some(_)) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
        (Err(e), _) => {
            found.io(
                Slot::Key,
                format!("cannot read certificates.key {}: {e}", files.key.display()),
            );
            None
        }
    };
    let key = match key_bytes {
        None => held_key.map(|k| PrivateKey::clone(&k.0)),
        Some((bytes, mode)) => {
            if let Some(who) = readable_by(mode) {
                found.error(
                    Slot::Key,
                    format!(
                        "{} holds the server's private key and is readable by {}: chmod 600 it",
                        files.key.display(),
                        who.as_str()
                    ),
                );
            }
            match pki::load::private_key(&bytes) {
                Ok(k) => Some(k),
                Err(e) => {
                    found.error(
                        Slot::Key,
                        format!("{} is not a usable private key: {e}", files.key.display()),
                    );
                    None
                }
            }
        }
    };
    if let Some(k) = &key {
        let bits = k.n().bits();
        if bits < MIN_SERVER_KEY_BITS {
            found.error(
                Slot::Key,
                format!(
                    "{} is a {bits}-bit RSA key; clients refuse keys under \
                     {MIN_SERVER_KEY_BITS} bits: make a 2048-bit key (l2tpd-rs pki server)",
                    files.key.display()
                ),
            );
        } else if bits < RECOMMENDED_SERVER_KEY_BITS {
            found.warn(
                Slot::Key,
                format!(
                    "{} is a {bits}-bit RSA key; {RECOMMENDED_SERVER_KEY_BITS} bits is the \
                     usual minimum today",
                    files.key.display()
                ),
            );
        }
    }
    if let (Some(chain), Some(k)) = (&chain, &key)
        && let Some(cert) = chain.first()
    {
        match pki::load::public_key(cert) {
            Ok(public) if public == k.to_public_key() => {}
            Ok(_) => found.error(
                Slot::Key,
                format!(
                    "{} is not the key of the certificate in {} (their public keys differ)",
                    files.key.display(),
                    files.certificate.display()
                ),
            ),
            Err(e) => found.error(
                Slot::Certificate,
                format!("{}: {e}", files.certificate.display()),
            ),
        }
    }

    let mut cas = Vec::new();
    if files.ca.is_empty() {
        found.error(
            Slot::Ca,
            "certificates.ca is empty: name the CA certificate client chains lead to \
             (pki/ca.crt from l2tpd-rs pki ca)"
                .to_owned(),
        );
    }
    for path in &files.ca {
        if let Some((bytes, _)) = read(Slot::Ca, path, found) {
            match pki::load::certificates(&bytes) {
                Ok(c) => cas.extend(c),
                Err(e) => found.error(
                    Slot::Ca,
                    format!("{} is not a CA certificate: {e}", path.display()),
                ),
            }
        }
    }
    let mut crls = Vec::new();
    for path in &files.crl {
        if let Some((bytes, _)) = read(Slot::Crl, path, found) {
            match pki::load::crls(&bytes) {
                Ok(c) => crls.extend(c),
                Err(e) => found.error(Slot::Crl, format!("{} is not a CRL: {e}", path.display())),
            }
        }
    }
    if !found.errors.is_empty() {
        return None;
    }
    let (chain, key) = (chain?, key?);

    // CA certificates the verifier refuses (not a CA, not RSA, too small).
    let verifier = match Verifier::new(cas.clone(), crls.clone()) {
        Ok(v) => v,
        Err(e) => {
            found.error(Slot::Ca, format!("certificates.ca: {e}"));
            return None;
        }
    };
    if let Some(now) = now {
        for e in verifier.check_crls(now) {
            found.error(Slot::Crl, format!("certificates.crl: {e}"));
        }
        if let Some((server, intermediates)) = chain.split_first()
            && let Err(e) = verifier.verify(server, intermediates, now)
        {
            found.error(
                Slot::Ca,
                format!(
                    "the configured CAs do not verify the server's own certificate ({}): {e}",
                    files.certificate.display()
                ),
            );
        }
    }
    if !found.errors.is_empty() {
        return None;
    }
    let mut chain_der = Vec::with_capacity(chain.len());
    for c in &chain {
        match c.to_der() {
            Ok(d) => chain_der.push(d),
            Err(e) => {
                found.error(
                    Slot::Certificate,
                    format!("{}: cannot encode: {e}", files.certificate.display()),
                );
                return None;
            }
        }
    }
    Some(Loaded {
        chain,
        chain_der,
        key: ServerKey(Arc::new(key)),
        cas,
        crls,
    })
}

/// Checks the block (with the time-dependent checks when `now` is given) and returns it
/// loaded, or `None` after reporting why not.
pub(crate) fn check_certificates(
    ck: &mut Checker<'_>,
    raw: RawCertificates,
    base: &Path,
    now: Option<SystemTime>,
) -> Option<CertificateConfig> {
    const SECTION: &str = "certificates";
    let mut accept = Vec::new();
    match &raw.accept {
        None => accept.push(IdentityPattern::Any),
        Some(list) if list.is_empty() => ck.error(
            &[SECTION, "accept"],
            "certificates.accept is empty: no client certificate would be accepted; use [\"*\"] \
             for any certificate the CAs issued",
        ),
        Some(list) => {
            for p in list {
                match check_pattern(p) {
                    Ok(pattern) => accept.push(pattern),
                    Err(why) => ck.error(
                        &[SECTION, "accept"],
                        format!("certificates.accept: `{p}` is not an identity pattern: {why}"),
                    ),
                }
            }
        }
    }
    for n in &raw.names {
        if n.parse::<Ipv4Addr>().is_err() && !is_host_name(n) {
            ck.error(
                &[SECTION, "names"],
                format!("certificates.names: `{n}` is neither a host name nor an IPv4 address"),
            );
        }
    }

    let files = CertificateFiles {
        certificate: base.join(&raw.certificate),
        key: base.join(&raw.key),
        ca: raw.ca.iter().map(|p| base.join(p)).collect(),
        crl: raw.crl.iter().map(|p| base.join(p)).collect(),
    };
    let mut found = Found::default();
    let loaded = read_files(&files, now, None, &mut found);
    for p in found.errors {
        let line = crate::locate::find_key_line(ck.text, &[SECTION, p.slot.key()]);
        match p.kind {
            ConfigErrorKind::Io => ck.io_error_at(line, p.message),
            _ => ck.error_at(line, p.message),
        }
    }
    for p in found.warnings {
        ck.warn(&[SECTION, p.slot.key()], p.message);
    }
    let loaded = loaded?;
    Some(CertificateConfig {
        files,
        chain: loaded.chain,
        chain_der: loaded.chain_der,
        key: loaded.key,
        cas: loaded.cas,
        crls: loaded.crls,
        accept,
        allow_psk: raw.allow_psk,
        names: raw.names,
    })
}

/// Parses an `accept` pattern, refusing what would never match.
fn check_pattern(p: &str) -> Result<IdentityPattern, String> {
    let pattern: IdentityPattern = p.parse().map_err(|e: pki::IdentityError| e.to_string())?;
    let bad_rdn = |rdn: &str| {
        let mut kv = rdn.splitn(2, '=');
        let k = kv.next().unwrap_or_default().trim();
        k.is_empty()
            || kv.next().is_none()
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
    };
    let why = match &pattern {
        IdentityPattern::Subject(s) if s.split(',').any(bad_rdn) => {
            "a subject pattern is attribute=value pairs separated by commas, like CN=*,O=Example"
        }
        IdentityPattern::Email(s)
            if s.chars().any(char::is_whitespace) || s.matches('@').count() != 1 =>
        {
            "an e-mail pattern looks like *@example.com"
        }
        IdentityPattern::Dns(s) if !is_host_name(&s.replace('*', "x")) => {
            "not `*`, a subject (CN=...), an e-mail (*@example.com), an IPv4 address or a host \
             name (*.example.com)"
        }
        _ => return Ok(pattern),
    };
    Err(why.to_owned())
}

/// A DNS host name: dot-separated labels of letters, digits and hyphens (RFC 1123 §2.1).
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
