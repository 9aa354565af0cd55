//! The `certificates:` block handed to the server: with `allow_psk: false` no pre-shared key
//! is usable (even one still in the file), and a reload replaces the settings in use.
//! Clients authenticating with certificates come up end to end, show up in the snapshot with
//! their subject, and a revoked certificate is refused.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use der::{EncodePem, pem::LineEnding};
use pki::Certificate;
use pki::PrivateKey;
use pki::issue::{self, Revoked, Spec};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use testkit::{Profile, World, WorldConfig};

/// The test's time origin; the world only moves it forward virtually.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

/// The wall clock for certificate validity (the files are made valid around it).
#[allow(clippy::disallowed_methods)]
fn wall() -> SystemTime {
    SystemTime::now()
}

const DAY: Duration = Duration::from_secs(86_400);

fn key() -> PrivateKey {
    let k = openssl::rsa::Rsa::generate(2048).unwrap();
    PrivateKey::from_pkcs1_der(&k.private_key_to_der().unwrap()).unwrap()
}

/// A CA, a server certificate and its key in a fresh directory, as `l2tpd-rs pki` lays them out.
fn pki_dir(tag: &str) -> PathBuf {
    pki_files(tag).0
}

/// [`pki_dir`], and the CA with its key.
fn pki_files(tag: &str) -> (PathBuf, Certificate, PrivateKey) {
    let dir = std::env::temp_dir().join(format!("l2tpd-testkit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let now = wall();
    let ca_key = key();
    let ca_spec = Spec::ca("CN=Test CA", vec![1], now - DAY, now + 365 * DAY).unwrap();
    let ca = issue::certificate(&ca_spec, &ca_key.to_public_key(), None, &ca_key).unwrap();
    let server_key = key();
    let spec = Spec::server(
        "CN=vpn.example.com",
        vec![2],
        now - DAY,
        now + 365 * DAY,
        vec!["vpn.example.com".into()],
        vec![],
    )
    .unwrap();
    let cert = issue::certificate(&spec, &server_key.to_public_key(), Some(&ca), &ca_key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.to_pem(LineEnding::LF).unwrap()).unwrap();
    std::fs::write(dir.join("server.crt"), cert.to_pem(LineEnding::LF).unwrap()).unwrap();
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, server_key.to_pkcs1_pem(LineEnding::LF).unwrap()).unwrap();
    std::fs::set_permissions(&key_path, PermissionsExt::from_mode(0o600)).unwrap();
    (dir, ca, ca_key)
}

fn world(dir: &std::path::Path, allow_psk: bool) -> World {
    let config = WorldConfig {
        extra_server_yaml: format!(
            "certificates:\n  certificate: {d}/server.crt\n  key: {d}/server.key\n  ca: \
             [{d}/ca.crt]\n  allow_psk: {allow_psk}\n",
            d = dir.display()
        ),
        ..WorldConfig::default()
    };
    World::new(config, base()).expect("world config is valid")
}

/// Whether a Windows 10 client with the world's PSK comes up within a minute.
fn psk_client_connects(w: &mut World) -> bool {
    let id = w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 168, 1, 10),
        true,
        "alice",
        "alice-pass",
    );
    w.connect(id).unwrap();
    w.run_until(|w| w.client(id).is_up(), Duration::from_secs(60))
}

#[test]
fn allow_psk_false_leaves_no_usable_pre_shared_key() {
    let dir = pki_dir("nopsk");
    let mut w = world(&dir, true);
    assert!(
        w.server().certificates().is_some_and(|c| c.allow_psk),
        "the block reached the server"
    );
    assert!(
        psk_client_connects(&mut w),
        "allow_psk: true keeps PSK clients"
    );

    // The same PSK is still in the file, but `allow_psk: false` says it must not be used.
    let mut w = world(&dir, false);
    assert!(!psk_client_connects(&mut w), "{:#?}", w.events());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn set_certificates_replaces_and_removes_the_settings() {
    let dir = pki_dir("swap");
    let mut w = world(&dir, true);
    let old = w.server().certificates().cloned().unwrap();
    assert_eq!(old.chain.len(), 1);

    // A new server certificate and key from another CA, read by a reload.
    let other = pki_dir("swap-new");
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::copy(other.join(f), dir.join(f)).unwrap();
    }
    let (new, warnings) = old.reload(wall()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_ne!(new.chain, old.chain);
    w.server_mut().set_certificates(Some(new.clone()));
    assert_eq!(w.server().certificates(), Some(&new));
    let now = w.now();
    w.server_mut().set_wall_clock(now, wall());
    // PSK clients are unaffected by the swap.
    assert!(psk_client_connects(&mut w));

    w.server_mut().set_certificates(None);
    assert_eq!(w.server().certificates(), None);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&other).unwrap();
}

/// The client side of a certificate world: alice's and carol's certificates (carol's revoked
/// by the CRL in the server's block), their key, and the CA for checking the server.
struct ClientPki {
    dir: PathBuf,
    alice: Vec<u8>,
    carol: Vec<u8>,
    key: Arc<PrivateKey>,
    verifier: Arc<pki::Verifier>,
}

impl ClientPki {
    fn new(tag: &str) -> Self {
        let (dir, ca, ca_key) = pki_files(tag);
        let now = wall();
        let client_key = key();
        let issue_client = |cn: &str, serial: u8| {
            let spec = Spec::client(
                &format!("CN={cn},O=Example"),
                vec![serial],
                now - DAY,
                now + 365 * DAY,
                vec![format!("{cn}@example.com")],
                vec![],
            )
            .unwrap();
            issue::certificate(&spec, &client_key.to_public_key(), Some(&ca), &ca_key).unwrap()
        };
        let alice = issue_client("alice", 10);
        let carol = issue_client("carol", 11);
        let crl = issue::crl(
            &ca,
            &ca_key,
            now - DAY,
            now + 30 * DAY,
            &[Revoked {
                serial: carol.tbs_certificate.serial_number.clone(),
                date: now - DAY,
            }],
        )
        .unwrap();
        let crl_pem = der::pem::encode_string(
            "X509 CRL",
            LineEnding::LF,
            &der::Encode::to_der(&crl).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("crl.pem"), crl_pem).unwrap();
        Self {
            dir,
            alice: pki::certificate_der(&alice).unwrap(),
            carol: pki::certificate_der(&carol).unwrap(),
            key: Arc::new(client_key),
            verifier: Arc::new(pki::Verifier::new(vec![ca], Vec::new()).unwrap()),
        }
    }

    /// A world whose server has the block with the CRL, PSK clients still allowed, and its
    /// wall clock set.
    fn world(&self) -> World {
        let config = WorldConfig {
            extra_server_yaml: format!(
                "certificates:\n  certificate: {d}/server.crt\n  key: {d}/server.key\n  ca: \
                 [{d}/ca.crt]\n  crl: [{d}/crl.pem]\n  allow_psk: true\n",
                d = self.dir.display()
            ),
            ..WorldConfig::default()
        };
        let mut w = World::new(config, base()).expect("world config is valid");
        let now = w.now();
        w.server_mut().set_wall_clock(now, wall());
        w
    }

    /// A Windows 10 client at `192.168.1.n` that authenticates phase 1 with `cert`.
    fn add_client(&self, w: &mut World, n: u8, user: &str, cert: &[u8]) -> testkit::ClientId {
        self.add_client_with(w, Profile::windows_10(), n, user, cert)
    }

    fn add_client_with(
        &self,
        w: &mut World,
        profile: Profile,
        n: u8,
        user: &str,
        cert: &[u8],
    ) -> testkit::ClientId {
        let id = w.add_client(
            profile,
            Ipv4Addr::new(192, 168, 1, n),
            true,
            user,
            &format!("{user}-pass"),
        );
        w.client_mut(id)
            .set_certificate(Some(ike::InitiatorCertificate {
                chain: vec![cert.to_vec()],
                key: Arc::clone(&self.key),
                verifier: Some(Arc::clone(&self.verifier)),
                now: wall(),
                server_accept: vec!["vpn.example.com".parse().unwrap()],
                id: None,
            }));
        id
    }
}

/// Whether an IP packet from `id`'s assigned address reached the LAN after a ping.
fn reaches_lan(w: &mut World, id: testkit::ClientId) -> bool {
    let addr = w
        .client(id)
        .assigned_address()
        .expect("IPCP assigned an address");
    let lan = *w.config().lan_hosts.first().unwrap();
    w.take_lan();
    w.ping(id, lan, 1).unwrap();
    w.run_for(Duration::from_secs(1));
    w.lan_received()
        .iter()
        .any(|p| p.get(12..16) == Some(&addr.octets()[..]))
}

#[test]
fn certificate_and_psk_clients_side_by_side() {
    let p = ClientPki::new("e2e");
    let mut w = p.world();
    let cert = p.add_client(&mut w, 10, "alice", &p.alice);
    let psk = w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 168, 1, 11),
        true,
        "bob",
        "bob-pass",
    );
    w.connect(cert).unwrap();
    w.connect(psk).unwrap();
    assert!(
        w.run_until(
            |w| w.client(cert).is_up() && w.client(psk).is_up(),
            Duration::from_secs(60)
        ),
        "{:#?}",
        w.events()
    );
    assert!(reaches_lan(&mut w, cert), "the certificate client's packet");
    assert!(reaches_lan(&mut w, psk), "the PSK client's packet");

    let snap = w.snapshot();
    let row = |user: &str| {
        snap.sessions
            .iter()
            .find(|r| r.user == user)
            .unwrap_or_else(|| panic!("no row for {user}: {snap:#?}"))
    };
    assert_eq!(row("alice").ike_auth, "cert");
    assert_eq!(
        row("alice").ike_peer_id.as_deref(),
        Some("CN=alice,O=Example")
    );
    assert_eq!(row("alice").assigned_ip, w.client(cert).assigned_address());
    assert_eq!(row("bob").ike_auth, "psk");
    assert_eq!(row("bob").ike_peer_id, None);
    let up = w
        .events()
        .iter()
        .find_map(|e| match e {
            server::Event::SessionUp {
                user,
                ike_auth,
                ike_peer_id,
                ..
            } if user == "alice" => Some((ike_auth.clone(), ike_peer_id.clone())),
            _ => None,
        })
        .expect("alice's SessionUp");
    assert_eq!(
        up,
        ("cert".to_owned(), Some("CN=alice,O=Example".to_owned()))
    );
    std::fs::remove_dir_all(&p.dir).unwrap();
}

#[test]
fn revoked_client_certificate_is_refused() {
    let p = ClientPki::new("revoked");
    let mut w = p.world();
    let id = p.add_client(&mut w, 10, "carol", &p.carol);
    w.connect(id).unwrap();
    assert!(!w.run_until(|w| w.client(id).is_up(), Duration::from_secs(60)));
    let refused: Vec<&String> = w
        .events()
        .iter()
        .filter_map(|e| match e {
            server::Event::Refused { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert!(
        refused.iter().any(|m| m.contains("revoked")),
        "{:#?}",
        w.events()
    );
    assert!(w.snapshot().sessions.is_empty());
    std::fs::remove_dir_all(&p.dir).unwrap();
}

/// Windows XP authenticating IKE with a machine certificate, the default for XP's L2TP/IPsec
/// connections ("certificate-based authentication is the default", Microsoft KB 314831,
/// "Basic L2TP/IPSec Troubleshooting in Windows XP"): the XP profile's proposals with
/// authentication method 3 (RSA signatures, RFC 2409 §5.1), which the client's certificate
/// selects.
#[test]
fn windows_xp_with_a_certificate_connects_with_3des_sha1() {
    let p = ClientPki::new("xp");
    let mut w = p.world();
    let id = p.add_client_with(&mut w, Profile::windows_xp_sp2(), 10, "alice", &p.alice);
    w.connect(id).unwrap();
    assert!(
        w.run_until(|w| w.client(id).is_up(), Duration::from_secs(60)),
        "{:#?}",
        w.events()
    );
    assert!(reaches_lan(&mut w, id));
    let snap = w.snapshot();
    let row = snap.sessions.first().expect("one session");
    assert_eq!(row.ike_auth, "cert");
    assert_eq!(row.ike_peer_id.as_deref(), Some("CN=alice,O=Example"));
    assert!(row.ike_suite.starts_with("3DES"), "{}", row.ike_suite);
    assert!(row.ike_suite.contains("SHA1"), "{}", row.ike_suite);
    assert!(row.os_hint.contains("MS NT5 v4"), "{}", row.os_hint);
    std::fs::remove_dir_all(&p.dir).unwrap();
}
