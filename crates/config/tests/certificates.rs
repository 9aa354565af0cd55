//! The `certificates:` block: loading, every refusal with its line, and reloads.
//! Certificates and keys are generated at test time (keys by OpenSSL, which is fast in debug
//! builds); nothing binary is committed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use config::{Config, ConfigError, ConfigErrorKind, Warning};
use der::{EncodePem, pem::LineEnding};
use pki::issue::{self, Revoked, Spec};
use pki::{Certificate, IdentityPattern, PrivateKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};

const DAY: Duration = Duration::from_secs(86_400);

/// 2026-05-28, the "now" of every test.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000)
}

fn key(bits: u32) -> PrivateKey {
    let k = openssl::rsa::Rsa::generate(bits).unwrap();
    PrivateKey::from_pkcs1_der(&k.private_key_to_der().unwrap()).unwrap()
}

struct Ca {
    key: PrivateKey,
    cert: Certificate,
}

fn make_ca(subject: &str, serial: u8) -> Ca {
    let key = key(2048);
    let spec = Spec::ca(
        subject,
        vec![1, serial],
        now() - 365 * DAY,
        now() + 3650 * DAY,
    )
    .unwrap();
    let cert = issue::certificate(&spec, &key.to_public_key(), None, &key).unwrap();
    Ca { key, cert }
}

/// The CA of most tests, and a stranger.
fn cas() -> &'static (Ca, Ca) {
    static CAS: OnceLock<(Ca, Ca)> = OnceLock::new();
    CAS.get_or_init(|| {
        (
            make_ca("CN=Test VPN CA,O=Example", 1),
            make_ca("CN=Other CA,O=Elsewhere", 2),
        )
    })
}

/// The server key of most tests.
fn server_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| key(2048))
}

fn server_cert(ca: &Ca, key: &PrivateKey, serial: u8) -> Certificate {
    let spec = Spec::server(
        "CN=vpn.example.com",
        vec![2, serial],
        now() - DAY,
        now() + 365 * DAY,
        vec!["vpn.example.com".into()],
        vec!["192.0.2.10".parse().unwrap()],
    )
    .unwrap();
    issue::certificate(&spec, &key.to_public_key(), Some(&ca.cert), &ca.key).unwrap()
}

fn crl_pem(ca: &Ca, this: SystemTime, next: SystemTime, revoked: &[&Certificate]) -> String {
    let revoked: Vec<Revoked> = revoked
        .iter()
        .map(|c| Revoked {
            serial: c.tbs_certificate.serial_number.clone(),
            date: now() - DAY,
        })
        .collect();
    let crl = issue::crl(&ca.cert, &ca.key, this, next, &revoked).unwrap();
    der::pem::encode_string(
        "X509 CRL",
        LineEnding::LF,
        &der::Encode::to_der(&crl).unwrap(),
    )
    .unwrap()
}

/// A directory laid out as `l2tpd-rs pki` leaves it: l2tpd.yaml beside pki/.
struct Dir {
    root: PathBuf,
}

impl Dir {
    fn new(tag: &str) -> Self {
        let root = std::env::temp_dir().join(format!("l2tpd-certcfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("pki")).unwrap();
        Self { root }
    }

    /// The standard good files: CA, server certificate and key (0600), an empty current CRL.
    fn standard(tag: &str) -> Self {
        let d = Self::new(tag);
        let (ca, _) = cas();
        d.write(
            "pki/ca.crt",
            &ca.cert.to_pem(LineEnding::LF).unwrap(),
            0o644,
        );
        d.write(
            "pki/server.crt",
            &server_cert(ca, server_key(), 1)
                .to_pem(LineEnding::LF)
                .unwrap(),
            0o644,
        );
        d.write_key("pki/server.key", server_key());
        d.write(
            "pki/crl.pem",
            &crl_pem(ca, now() - DAY, now() + 30 * DAY, &[]),
            0o644,
        );
        d
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, text: &str, mode: u32) {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
    }

    fn write_key(&self, rel: &str, key: &PrivateKey) {
        self.write(rel, &key.to_pkcs1_pem(LineEnding::LF).unwrap(), 0o600);
    }

    fn load(&self, yaml: &str) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
        let cfg = self.path("l2tpd.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        std::fs::set_permissions(&cfg, PermissionsExt::from_mode(0o600)).unwrap();
        Config::load_at(&cfg, now())
    }

    fn errors(&self, yaml: &str) -> Vec<ConfigError> {
        match self.load(yaml) {
            Ok((_, w)) => panic!("expected errors, got a configuration ({w:?})"),
            Err(e) => e,
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const PSK_POOL: &str = "psk: a-long-enough-secret\npool:\n  cidr: 10.99.0.0/24\n";

/// The block with the file names `l2tpd-rs pki` writes; lines 4 to 8 of the file.
fn block(extra: &str) -> String {
    format!(
        "{PSK_POOL}certificates:\n  certificate: pki/server.crt\n  key: pki/server.key\n  ca: \
         [pki/ca.crt]\n  crl: [pki/crl.pem]\n{extra}"
    )
}

/// The one error whose reason contains `needle`.
fn find<'a>(e: &'a [ConfigError], needle: &str) -> &'a ConfigError {
    e.iter()
        .find(|e| e.reason.contains(needle))
        .unwrap_or_else(|| panic!("no error containing {needle:?} in {e:#?}"))
}

#[test]
fn the_files_pki_writes_load_as_values() {
    let d = Dir::standard("good");
    let (c, w) = d
        .load(&block("  names: [vpn.example.com, 192.0.2.10]\n"))
        .unwrap();
    assert!(w.is_empty(), "{w:?}");
    let certs = c.server.certificates.as_ref().expect("certificates on");
    assert_eq!(certs.chain.len(), 1);
    assert_eq!(certs.chain_der.len(), 1);
    assert_eq!(
        certs.chain_der[0],
        der::Encode::to_der(&certs.chain[0]).unwrap()
    );
    assert_eq!(certs.cas, vec![cas().0.cert.clone()]);
    assert_eq!(certs.crls.len(), 1);
    assert_eq!(certs.accept, vec![IdentityPattern::Any], "default: any");
    assert!(certs.allow_psk, "default: PSK clients stay");
    assert_eq!(*certs.key.0, *server_key());
    assert_eq!(certs.files.key, d.path("pki/server.key"));
    assert_eq!(
        certs.lint_names().1,
        vec!["192.0.2.10".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    certs.verifier().unwrap();
    assert_eq!(c.server.psk.as_bytes(), b"a-long-enough-secret");

    // The private key never reaches Debug (neither the private exponent nor a prime).
    let shown = format!("{c:?}");
    assert!(shown.contains("2048-bit RSA, redacted"), "{shown}");
    let d_hex = format!("{:?}", rsa::traits::PrivateKeyParts::d(server_key()));
    assert!(!shown.contains(&d_hex));

    // One path instead of a list; DER files.
    std::fs::write(
        d.path("pki/ca.der"),
        der::Encode::to_der(&cas().0.cert).unwrap(),
    )
    .unwrap();
    let (c, _) = d
        .load(&format!(
            "{PSK_POOL}certificates:\n  certificate: pki/server.crt\n  key: pki/server.key\n  ca: \
             pki/ca.der\n"
        ))
        .unwrap();
    assert!(c.server.certificates.unwrap().crls.is_empty());
}

#[test]
fn without_the_block_certificates_are_off() {
    let (c, _) = Config::from_yaml_str(PSK_POOL, Path::new("/etc/l2tpd-rs/l2tpd.yaml")).unwrap();
    assert_eq!(c.server.certificates, None);
}

#[test]
fn psk_is_optional_only_without_allow_psk() {
    let d = Dir::standard("psk");
    let certs_only = "certificates:\n  certificate: pki/server.crt\n  key: pki/server.key\n  ca: \
                      [pki/ca.crt]\n  allow_psk: false\npool:\n  cidr: 10.99.0.0/24\n";
    let (c, w) = d.load(certs_only).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert!(c.server.psk.is_empty());
    assert!(!c.server.certificates.unwrap().allow_psk);

    // A PSK beside allow_psk: false works but is pointless.
    let (c, w) = d
        .load(&format!("psk: a-long-enough-secret\n{certs_only}"))
        .unwrap();
    assert!(!c.server.psk.is_empty());
    let w = w
        .iter()
        .find(|w| w.message.contains("not used"))
        .expect("warning");
    assert_eq!(w.line, Some(6), "points at allow_psk: {w}");

    // With allow_psk (the default), the PSK is still required.
    let e = d.errors(&certs_only.replace("  allow_psk: false\n", ""));
    find(&e, "no pre-shared key");
}

#[test]
fn unreadable_and_wrong_files_are_named_with_their_key_line() {
    let d = Dir::standard("files");
    let e = d.errors(&block("").replace("pki/server.crt", "pki/missing.crt"));
    let err = find(&e, "cannot read certificates.certificate");
    assert_eq!(err.kind, ConfigErrorKind::Io);
    assert_eq!(err.line, Some(5));
    assert!(err.reason.contains("missing.crt"), "{err}");

    d.write("pki/garbage.crt", "hello\n", 0o644);
    let e = d.errors(&block("").replace("pki/server.crt", "pki/garbage.crt"));
    let err = find(&e, "is not a certificate");
    assert_eq!(err.line, Some(5));

    // The key file given as the CA, the certificate given as the key, a CRL that is a
    // certificate: each on its own line, all at once.
    let e = d.errors(
        &block("")
            .replace("key: pki/server.key", "key: pki/server.crt")
            .replace("[pki/ca.crt]", "[pki/missing-ca.crt]")
            .replace("[pki/crl.pem]", "[pki/ca.crt]"),
    );
    assert_eq!(find(&e, "is not a usable private key").line, Some(6));
    assert_eq!(find(&e, "cannot read certificates.ca").line, Some(7));
    assert_eq!(find(&e, "is not a CRL").line, Some(8));

    let e = d.errors(&block("  crt: pki/server.crt\n"));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, ConfigErrorKind::Syntax);
    assert!(e[0].reason.contains("unknown field `crt`"), "{}", e[0]);
}

#[test]
fn a_key_others_can_read_is_refused() {
    let d = Dir::standard("mode");
    for (mode, who) in [(0o644, "every user"), (0o640, "its group")] {
        std::fs::set_permissions(d.path("pki/server.key"), PermissionsExt::from_mode(mode))
            .unwrap();
        let e = d.errors(&block(""));
        let err = find(&e, "holds the server's private key");
        assert!(
            err.reason
                .contains(&format!("readable by {who}: chmod 600")),
            "{err}"
        );
        assert_eq!(err.line, Some(6));
    }
    std::fs::set_permissions(d.path("pki/server.key"), PermissionsExt::from_mode(0o400)).unwrap();
    d.load(&block("")).unwrap();
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let d = Dir::standard("mismatch");
    d.write_key("pki/other.key", &key(2048));
    let e = d.errors(&block("").replace("pki/server.key", "pki/other.key"));
    let err = find(&e, "is not the key of the certificate");
    assert!(err.reason.contains("public keys differ"), "{err}");
    assert_eq!(err.line, Some(6));
}

#[test]
fn key_size_is_a_warning_under_2048_and_an_error_under_1024() {
    let d = Dir::standard("size");
    let (ca, _) = cas();
    for (bits, fatal) in [(1024, false), (512, true)] {
        let k = key(bits);
        d.write_key("pki/small.key", &k);
        d.write(
            "pki/small.crt",
            &server_cert(ca, &k, 2).to_pem(LineEnding::LF).unwrap(),
            0o644,
        );
        let yaml = block("")
            .replace("pki/server.key", "pki/small.key")
            .replace("pki/server.crt", "pki/small.crt");
        if fatal {
            let e = d.errors(&yaml);
            let err = find(&e, "is a 512-bit RSA key");
            assert!(err.reason.contains("under 1024 bits"), "{err}");
            assert_eq!(err.line, Some(6));
        } else {
            let (_, w) = d.load(&yaml).unwrap();
            let w = w
                .iter()
                .find(|w| w.message.contains("1024-bit"))
                .expect("warning");
            assert!(w.message.contains("2048 bits"), "{w}");
            assert_eq!(w.line, Some(6));
        }
    }
}

#[test]
fn the_cas_must_verify_the_servers_own_chain() {
    let d = Dir::standard("chain");
    let (_, other) = cas();
    d.write(
        "pki/other-ca.crt",
        &other.cert.to_pem(LineEnding::LF).unwrap(),
        0o644,
    );
    let yaml = block("")
        .replace("[pki/ca.crt]", "[pki/other-ca.crt]")
        .replace("  crl: [pki/crl.pem]\n", "");
    let e = d.errors(&yaml);
    let err = find(&e, "do not verify the server's own certificate");
    assert!(
        err.reason.contains("not issued by any configured CA"),
        "{err}"
    );
    assert_eq!(err.line, Some(7));
    // Without a time (Config::load), only what does not depend on it is checked.
    let cfg = d.path("l2tpd.yaml");
    Config::load(&cfg).unwrap();

    // An expired server certificate is found the same way.
    let (ca, _) = cas();
    let mut spec = Spec::server(
        "CN=vpn.example.com",
        vec![2, 9],
        now() - 400 * DAY,
        now() - DAY,
        vec!["vpn.example.com".into()],
        vec![],
    )
    .unwrap();
    spec.digest = issue::SignatureDigest::Sha256;
    let old = issue::certificate(
        &spec,
        &server_key().to_public_key(),
        Some(&ca.cert),
        &ca.key,
    )
    .unwrap();
    d.write("pki/old.crt", &old.to_pem(LineEnding::LF).unwrap(), 0o644);
    let e = d.errors(&block("").replace("pki/server.crt", "pki/old.crt"));
    assert!(
        find(&e, "do not verify").reason.contains("expired on"),
        "{e:?}"
    );
}

#[test]
fn crls_must_be_current_and_signed_by_a_configured_ca() {
    let d = Dir::standard("crl");
    let (ca, other) = cas();
    d.write(
        "pki/crl.pem",
        &crl_pem(ca, now() - 40 * DAY, now() - DAY, &[]),
        0o644,
    );
    let e = d.errors(&block(""));
    let err = find(&e, "expired on");
    assert!(
        err.reason
            .starts_with("certificates.crl: the CRL of CN=Test VPN CA"),
        "{err}"
    );
    assert_eq!(err.line, Some(8));

    d.write(
        "pki/crl.pem",
        &crl_pem(other, now() - DAY, now() + DAY, &[]),
        0o644,
    );
    let e = d.errors(&block(""));
    assert_eq!(find(&e, "not issued by any configured CA").line, Some(8));

    // Our CA's name, signed by another key.
    let forged = Ca {
        key: other.key.clone(),
        cert: ca.cert.clone(),
    };
    d.write(
        "pki/crl.pem",
        &crl_pem(&forged, now() - DAY, now() + DAY, &[]),
        0o644,
    );
    let e = d.errors(&block(""));
    assert_eq!(find(&e, "is not signed by that CA's key").line, Some(8));

    // A CRL that revokes the server's own certificate.
    let server = pki::load::certificates(&std::fs::read(d.path("pki/server.crt")).unwrap())
        .unwrap()
        .remove(0);
    d.write(
        "pki/crl.pem",
        &crl_pem(ca, now() - DAY, now() + DAY, &[&server]),
        0o644,
    );
    let e = d.errors(&block(""));
    assert!(
        find(&e, "do not verify").reason.contains("was revoked"),
        "{e:?}"
    );
}

#[test]
fn patterns_and_names_are_checked() {
    let d = Dir::standard("patterns");
    let (c, _) = d
        .load(&block(
            "  accept: [\"CN=*,O=Example\", \"*@example.com\", \"*.clients.example.com\", \
             192.0.2.7]\n",
        ))
        .unwrap();
    let accept = c.server.certificates.unwrap().accept;
    assert_eq!(accept.len(), 4);
    assert!(matches!(accept[0], IdentityPattern::Subject(_)));
    assert!(matches!(accept[3], IdentityPattern::Address(_)));

    for bad in [
        "\"\"",
        "\"CN alice\"",
        "\"a@b@c\"",
        "\"not a host\"",
        "\"=x\"",
    ] {
        let e = d.errors(&block(&format!("  accept: [{bad}]\n")));
        let err = find(&e, "is not an identity pattern");
        assert_eq!(err.line, Some(9), "{bad}: {err}");
    }
    let e = d.errors(&block("  accept: []\n"));
    assert_eq!(find(&e, "accept is empty").line, Some(9));
    let e = d.errors(&block("  names: [\"vpn example\"]\n"));
    assert_eq!(find(&e, "neither a host name").line, Some(9));
}

#[test]
fn reload_reads_the_crls_again_and_a_broken_file_changes_nothing() {
    let d = Dir::standard("reload");
    let (c, _) = d.load(&block("")).unwrap();
    let old = c.server.certificates.unwrap();
    assert!(old.crls[0].tbs_cert_list.revoked_certificates.is_none());

    // A client certificate is revoked: the reload carries the new CRL.
    let (ca, _) = cas();
    let client_spec = Spec::client(
        "CN=alice,O=Example",
        vec![3, 1],
        now() - DAY,
        now() + 365 * DAY,
        vec![],
        vec![],
    )
    .unwrap();
    let client_key = key(1024);
    let alice = issue::certificate(
        &client_spec,
        &client_key.to_public_key(),
        Some(&ca.cert),
        &ca.key,
    )
    .unwrap();
    old.verifier().unwrap().verify(&alice, &[], now()).unwrap();
    d.write(
        "pki/crl.pem",
        &crl_pem(ca, now() - DAY, now() + 30 * DAY, &[&alice]),
        0o644,
    );
    let (new, w) = old.reload(now()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(new.accept, old.accept);
    let err = new
        .verifier()
        .unwrap()
        .verify(&alice, &[], now())
        .unwrap_err();
    assert!(matches!(err, pki::ChainError::Revoked { .. }), "{err}");

    // A half-written CRL: every problem in words, naming the file.
    d.write("pki/crl.pem", "-----BEGIN X509 CRL-----\nAAAA\n", 0o644);
    let e = old.reload(now()).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("crl.pem is not a CRL"), "{}", e[0]);
    // An expired one, and a key made readable.
    d.write(
        "pki/crl.pem",
        &crl_pem(ca, now() - 40 * DAY, now() - DAY, &[]),
        0o644,
    );
    std::fs::set_permissions(d.path("pki/server.key"), PermissionsExt::from_mode(0o644)).unwrap();
    let e = old.reload(now()).unwrap_err();
    assert!(
        e.iter().any(|e| e.contains("readable by every user")),
        "{e:?}"
    );
    std::fs::set_permissions(d.path("pki/server.key"), PermissionsExt::from_mode(0o600)).unwrap();
    let e = old.reload(now()).unwrap_err();
    assert!(e.iter().any(|e| e.contains("expired on")), "{e:?}");
}

#[test]
fn a_reload_that_may_not_open_the_key_keeps_the_one_it_holds() {
    let d = Dir::standard("dropped");
    let (c, _) = d.load(&block("")).unwrap();
    let old = c.server.certificates.unwrap();
    // What the daemon sees after dropping privileges: the key is root's, mode 0600.
    std::fs::set_permissions(d.path("pki/server.key"), PermissionsExt::from_mode(0o000)).unwrap();
    if std::fs::File::open(d.path("pki/server.key")).is_ok() {
        eprintln!("skipped: running as root, every file opens");
        return;
    }
    let (new, _) = old.reload(now()).unwrap();
    assert_eq!(new.key, old.key);
    // A renewed certificate for another key cannot use the key held.
    let (ca, _) = cas();
    d.write(
        "pki/server.crt",
        &server_cert(ca, &key(2048), 3)
            .to_pem(LineEnding::LF)
            .unwrap(),
        0o644,
    );
    let e = old.reload(now()).unwrap_err();
    assert!(
        e.iter()
            .any(|e| e.contains("is not the key of the certificate")),
        "{e:?}"
    );
    // Missing altogether is an error even then.
    std::fs::remove_file(d.path("pki/server.key")).unwrap();
    let e = old.reload(now()).unwrap_err();
    assert!(
        e.iter().any(|e| e.contains("cannot read certificates.key")),
        "{e:?}"
    );
}
