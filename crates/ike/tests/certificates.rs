//! Main Mode with RSA signatures (RFC 2409 §5.1): the initiator against the responder in
//! memory, with a CA, a server certificate and client certificates made by `pki::issue` at test
//! time. Each refusal of the client's certificate is checked with its reason and its line.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use const_oid::ObjectIdentifier;
use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use crypto::integ::IntegAlg;
use ike::suite::EncapsulationMode;
use ike::vendor;
use ike::{
    CertificateAuth, ChildSa, EspSuite, Event, Initiator, InitiatorCertificate, InitiatorConfig,
    Lifetime, PeerAuth, Phase1Suite, RefuseReason, Responder, ResponderConfig,
};
use pki::issue::{self, Revoked, Spec};
use pki::{Certificate, PrivateKey, Verifier};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use wire::isakmp::{CertEncoding, IdType, NotifyType};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const DAY: Duration = Duration::from_secs(86_400);

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// 2026-05-28, the wall-clock "now" of every test.
fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000)
}

fn serial(n: u8) -> Vec<u8> {
    vec![0x21, n, 0x43, 0x65]
}

/// A 1024-bit RSA key from a fixed seed (the smallest size the verifier accepts; keeps debug
/// test runs quick).
fn key(seed: u8) -> PrivateKey {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap()
}

struct Pki {
    ca: Certificate,
    verifier: Arc<Verifier>,
    server_der: Vec<u8>,
    server_key: Arc<PrivateKey>,
    client_key: Arc<PrivateKey>,
    other_key: Arc<PrivateKey>,
    alice: Vec<u8>,
    expired: Vec<u8>,
    revoked: Vec<u8>,
    wrong_eku: Vec<u8>,
    foreign: Vec<u8>,
    foreign_ca_verifier: Arc<Verifier>,
}

fn der(c: &Certificate) -> Vec<u8> {
    pki::certificate_der(c).unwrap()
}

fn client_spec(cn: &str, n: u8) -> Spec {
    Spec::client(
        &format!("CN={cn},O=Example"),
        serial(n),
        wall() - 30 * DAY,
        wall() + 335 * DAY,
        vec![format!("{cn}@example.com")],
        Vec::new(),
    )
    .unwrap()
}

/// Every certificate of the tests, made once per test binary.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = key(1);
        let ca_spec = Spec::ca(
            "CN=Test VPN CA,O=Example",
            serial(1),
            wall() - 365 * DAY,
            wall() + 3650 * DAY,
        )
        .unwrap();
        let ca = issue::certificate(&ca_spec, &ca_key.to_public_key(), None, &ca_key).unwrap();
        let server_key = key(2);
        let server_spec = Spec::server(
            "CN=vpn.example.com,O=Example",
            serial(2),
            wall() - 30 * DAY,
            wall() + 335 * DAY,
            vec!["vpn.example.com".into()],
            vec![SERVER],
        )
        .unwrap();
        let server = issue::certificate(
            &server_spec,
            &server_key.to_public_key(),
            Some(&ca),
            &ca_key,
        )
        .unwrap();
        let client_key = key(3);
        let client_pub = client_key.to_public_key();
        let issue_client =
            |spec: &Spec| issue::certificate(spec, &client_pub, Some(&ca), &ca_key).unwrap();
        let alice = issue_client(&client_spec("alice", 10));
        let mut expired_spec = client_spec("bob", 11);
        expired_spec.not_before = wall() - 400 * DAY;
        expired_spec.not_after = wall() - 35 * DAY;
        let expired = issue_client(&expired_spec);
        let revoked = issue_client(&client_spec("carol", 12));
        let mut eku_spec = client_spec("dave", 13);
        // codeSigning only (RFC 5280 §4.2.1.12): no usage that fits IKE.
        eku_spec.ekus = vec![ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3")];
        let wrong_eku = issue_client(&eku_spec);
        let crl = issue::crl(
            &ca,
            &ca_key,
            wall() - DAY,
            wall() + 30 * DAY,
            &[Revoked {
                serial: revoked.tbs_certificate.serial_number.clone(),
                date: wall() - 2 * DAY,
            }],
        )
        .unwrap();
        let verifier = Arc::new(Verifier::new(vec![ca.clone()], vec![crl]).unwrap());
        let other_key = key(4);
        let other_spec = Spec::ca(
            "CN=Other CA,O=Elsewhere",
            serial(3),
            wall() - 365 * DAY,
            wall() + 3650 * DAY,
        )
        .unwrap();
        let other_ca =
            issue::certificate(&other_spec, &other_key.to_public_key(), None, &other_key).unwrap();
        let foreign = issue::certificate(
            &client_spec("mallory", 14),
            &client_pub,
            Some(&other_ca),
            &other_key,
        )
        .unwrap();
        let foreign_ca_verifier = Arc::new(Verifier::new(vec![other_ca], Vec::new()).unwrap());
        Pki {
            verifier,
            server_der: der(&server),
            server_key: Arc::new(server_key),
            client_key: Arc::new(client_key),
            other_key: Arc::new(other_key),
            alice: der(&alice),
            expired: der(&expired),
            revoked: der(&revoked),
            wrong_eku: der(&wrong_eku),
            foreign: der(&foreign),
            foreign_ca_verifier,
            ca,
        }
    })
}

fn p1(cipher: CipherAlg, hash: HashAlg, group: DhGroup) -> Phase1Suite {
    Phase1Suite {
        cipher,
        hash,
        group,
        lifetime: Lifetime {
            secs: 28800,
            kb: None,
        },
    }
}

fn esp(cipher: CipherAlg, integ: IntegAlg) -> EspSuite {
    EspSuite {
        cipher,
        integ,
        pfs: None,
        mode: EncapsulationMode::Transport,
        mode_value: 2,
        lifetime: Lifetime {
            secs: 3600,
            kb: Some(250_000),
        },
    }
}

/// Windows XP SP2 with certificates: 3DES-SHA1-MODP2048 first, its Vendor IDs.
fn xp_config(n: u8) -> InitiatorConfig {
    InitiatorConfig {
        psk: Secret::from_slice(b"vpn"),
        local: sa(Ipv4Addr::new(192, 0, 2, n), 500),
        remote: sa(SERVER, 500),
        ike_proposals: vec![
            p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp2048),
            p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp1024),
        ],
        esp_proposals: vec![esp(CipherAlg::TripleDes, IntegAlg::HmacSha1_96)],
        vendor_ids: vec![
            vendor::ms_nt5(4),
            vendor::FRAGMENTATION.to_vec(),
            vendor::DRAFT_02N.to_vec(),
            vendor::MS_INITIAL_CONTACT.to_vec(),
        ],
        initial_contact: false,
        l2tp_port: 1701,
        tunnel_mode: false,
        pfs: None,
    }
}

/// A modern client: AES-256, SHA-256, ECP-256, RFC 3947.
fn modern_config(n: u8) -> InitiatorConfig {
    InitiatorConfig {
        ike_proposals: vec![p1(CipherAlg::Aes256, HashAlg::Sha256, DhGroup::Ecp256)],
        esp_proposals: vec![esp(CipherAlg::Aes128, IntegAlg::HmacSha256_128)],
        vendor_ids: vec![vendor::RFC3947.to_vec()],
        ..xp_config(n)
    }
}

/// The client's certificate settings: `cert` with the client key, the test CA for the server.
fn client_cert(cert: &[u8]) -> InitiatorCertificate {
    let p = pki();
    InitiatorCertificate {
        chain: vec![cert.to_vec()],
        key: p.client_key.clone(),
        verifier: Some(p.verifier.clone()),
        now: wall(),
        server_accept: vec!["vpn.example.com".parse().unwrap()],
        id: None,
    }
}

fn server_auth(accept: &[&str], allow_psk: bool) -> CertificateAuth {
    let p = pki();
    CertificateAuth {
        chain: vec![p.server_der.clone()],
        key: p.server_key.clone(),
        verifier: p.verifier.clone(),
        accept: accept.iter().map(|a| a.parse().unwrap()).collect(),
        allow_psk,
    }
}

fn server_config(accept: &[&str], allow_psk: bool) -> ResponderConfig {
    let mut c = ResponderConfig::new(Secret::from_slice(b"vpn"));
    c.certificates = Some(server_auth(accept, allow_psk));
    c
}

#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

struct Client {
    init: Initiator,
    events: Vec<Event>,
}

/// Clients on distinct addresses talk to the responder directly (no NAT in between; the
/// NAT-D trick still makes them float to port 4500).
struct World {
    now: Instant,
    resp: Responder,
    resp_events: Vec<Event>,
    clients: Vec<Client>,
}

impl World {
    fn new(config: ResponderConfig) -> Self {
        let now = origin();
        let mut resp = Responder::new(config, [7; 32]);
        resp.set_wall_clock(now, wall());
        Self {
            now,
            resp,
            resp_events: Vec::new(),
            clients: Vec::new(),
        }
    }

    fn add(&mut self, config: InitiatorConfig, cert: Option<InitiatorCertificate>) -> usize {
        let seed = u8::try_from(self.clients.len()).unwrap() + 40;
        let mut init = Initiator::new(config, [seed; 32]);
        init.set_certificate(cert);
        self.clients.push(Client {
            init,
            events: Vec::new(),
        });
        self.clients.len() - 1
    }

    fn run(&mut self) {
        loop {
            let mut moved = false;
            for c in &mut self.clients {
                while let Some(t) = c.init.poll_transmit() {
                    moved = true;
                    let msg = strip_marker(&t);
                    self.resp.handle_datagram(self.now, t.remote, t.local, &msg);
                }
            }
            while let Some(t) = self.resp.poll_transmit() {
                moved = true;
                let msg = strip_marker(&t);
                let c = self
                    .clients
                    .iter_mut()
                    .find(|c| c.init.peer().local == t.remote)
                    .expect("a client at the destination");
                c.init.handle_datagram(self.now, t.remote, t.local, &msg);
            }
            while let Some(e) = self.resp.poll_event() {
                self.resp_events.push(e);
            }
            for c in &mut self.clients {
                while let Some(e) = c.init.poll_event() {
                    c.events.push(e);
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Main Mode, then (if it was established) one Quick Mode.
    fn connect(&mut self, idx: usize) -> bool {
        self.clients[idx].init.connect(self.now).unwrap();
        self.run();
        if !self.clients[idx].init.is_established() {
            return false;
        }
        self.clients[idx].init.start_quick_mode(self.now).unwrap();
        self.run();
        true
    }

    fn refusals(&self) -> Vec<&RefuseReason> {
        self.resp_events
            .iter()
            .filter_map(|e| match e {
                Event::Refused { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }

    fn phase1_auths(&self) -> Vec<&PeerAuth> {
        self.resp_events
            .iter()
            .filter_map(|e| match e {
                Event::Phase1Established { info, .. } => Some(&info.auth),
                _ => None,
            })
            .collect()
    }

    fn children(events: &[Event]) -> Vec<&ChildSa> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaEstablished(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    /// The client's Quick Mode completed and both ends hold the same SA pair.
    fn assert_quick_mode(&self, idx: usize) {
        let theirs = Self::children(&self.clients[idx].events);
        let ours: Vec<&ChildSa> = Self::children(&self.resp_events)
            .into_iter()
            .filter(|c| theirs.iter().any(|t| t.spi_out == c.spi_in))
            .collect();
        assert_eq!((theirs.len(), ours.len()), (1, 1), "{:?}", self.resp_events);
        let (t, o) = (theirs[0], ours[0]);
        assert_eq!((o.spi_out, o.cipher), (t.spi_in, t.cipher));
        assert_eq!(o.enc_key_in.as_bytes(), t.enc_key_out.as_bytes());
        assert_eq!(o.auth_key_out.as_bytes(), t.auth_key_in.as_bytes());
    }
}

fn strip_marker(t: &ike::Transmit) -> Vec<u8> {
    if t.local.port() == 4500 || t.remote.port() == 4500 {
        t.payload[4..].to_vec()
    } else {
        t.payload.clone()
    }
}

fn alice() -> PeerAuth {
    PeerAuth::Certificate {
        subject: "CN=alice,O=Example".into(),
        ca: "CN=Test VPN CA,O=Example".into(),
    }
}

#[test]
fn xp_like_3des_sha1_modp2048_connects_with_certificates() {
    let mut w = World::new(server_config(&[], false));
    let c = w.add(xp_config(10), Some(client_cert(&pki().alice)));
    assert!(w.connect(c), "{:?}", w.resp_events);
    w.assert_quick_mode(c);
    assert_eq!(w.phase1_auths(), vec![&alice()]);
    let Some(Event::Phase1Established { info, .. }) = w.resp_events.first() else {
        panic!("{:?}", w.resp_events);
    };
    assert_eq!(info.suite.to_string(), "3DES-SHA1-MODP2048");
    assert_eq!(info.auth.to_string(), "certificate CN=alice,O=Example");
    // The status row says how the peer authenticated.
    let rows = w.resp.peers(w.now);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].phase1.as_ref().map(|p| &p.auth), Some(&alice()));
    // MM4 named our CA, as one CERTREQ with its subject DER.
    assert_eq!(
        w.clients[c].init.certificate_requests(),
        &[pki::subject_der(&pki().ca).unwrap()]
    );
    // The client authenticated the server in turn.
    let client_auth: Vec<&PeerAuth> = w.clients[c]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Phase1Established { info, .. } => Some(&info.auth),
            _ => None,
        })
        .collect();
    assert_eq!(
        client_auth,
        vec![&PeerAuth::Certificate {
            subject: "CN=vpn.example.com,O=Example".into(),
            ca: "CN=Test VPN CA,O=Example".into(),
        }]
    );
}

#[test]
fn modern_aes256_sha256_ecp256_connects_with_certificates() {
    let mut w = World::new(server_config(&["*@example.com"], false));
    let c = w.add(modern_config(11), Some(client_cert(&pki().alice)));
    assert!(w.connect(c), "{:?}", w.resp_events);
    w.assert_quick_mode(c);
    assert_eq!(w.phase1_auths(), vec![&alice()]);
    let Some(Event::Phase1Established { info, .. }) = w.resp_events.first() else {
        panic!();
    };
    assert_eq!(info.suite.to_string(), "AES256-SHA256-ECP256");
}

#[test]
fn mm6_carries_the_server_dn_its_certificate_and_a_signature_by_its_key() {
    let mut w = World::new(server_config(&[], false));
    let c = w.add(xp_config(12), Some(client_cert(&pki().alice)));
    assert!(w.connect(c));
    let seen = w.clients[c].init.server_auth().expect("MM6 read").clone();
    let server = pki::load::certificate_der(&pki().server_der).unwrap();
    assert_eq!(seen.id_type, IdType::DerAsn1Dn);
    assert_eq!(seen.id_data, pki::subject_der(&server).unwrap());
    assert_eq!(
        seen.certs,
        vec![(CertEncoding::X509Signature, pki().server_der.clone())]
    );
    // SIG_R is HASH_R signed by the server's key (checked with the key itself, not through
    // the certificate), and a tampered HASH_R does not verify.
    let public = pki().server_key.to_public_key();
    pki::ikev1::verify_with_key(&public, &seen.hash_r, &seen.signature).unwrap();
    let mut other = seen.hash_r.clone();
    other[0] ^= 1;
    assert!(pki::ikev1::verify_with_key(&public, &other, &seen.signature).is_err());
    assert_eq!(seen.signature.len(), 128);
}

#[test]
fn psk_client_beside_certificate_client_when_allow_psk() {
    let mut w = World::new(server_config(&[], true));
    let cert = w.add(xp_config(13), Some(client_cert(&pki().alice)));
    let psk = w.add(xp_config(14), None);
    w.clients[cert].init.connect(w.now).unwrap();
    w.clients[psk].init.connect(w.now).unwrap();
    w.run();
    assert!(w.clients[cert].init.is_established() && w.clients[psk].init.is_established());
    for c in [cert, psk] {
        w.clients[c].init.start_quick_mode(w.now).unwrap();
    }
    w.run();
    w.assert_quick_mode(cert);
    w.assert_quick_mode(psk);
    let mut auths = w.phase1_auths();
    auths.sort_by_key(|a| a.to_string());
    assert_eq!(auths, vec![&alice(), &PeerAuth::Psk]);
    assert!(w.refusals().is_empty(), "{:?}", w.refusals());
}

#[test]
fn psk_client_is_refused_when_certificates_are_required() {
    let mut w = World::new(server_config(&[], false));
    let c = w.add(xp_config(15), None);
    assert!(!w.connect(c));
    let r = w.refusals();
    assert!(
        matches!(r.as_slice(), [RefuseReason::PskNotAllowed { .. }]),
        "{r:?}"
    );
    let text = r[0].to_string();
    assert!(
        text.contains("offered only pre-shared-key authentication")
            && text.contains("requires certificates")
            && text.contains("Windows error 789"),
        "{text}"
    );
    assert_eq!(r[0].notify(), Some(NotifyType::NoProposalChosen));
}

#[test]
fn certificate_client_is_refused_when_no_certificate_is_configured() {
    let mut w = World::new(ResponderConfig::new(Secret::from_slice(b"vpn")));
    let c = w.add(xp_config(16), Some(client_cert(&pki().alice)));
    assert!(!w.connect(c));
    let r = w.refusals();
    assert!(
        matches!(r.as_slice(), [RefuseReason::NoCertificateConfigured { .. }]),
        "{r:?}"
    );
    let text = r[0].to_string();
    assert!(
        text.contains("wants to authenticate with a certificate")
            && text.contains("no certificate configured")
            && text.contains("3DES-SHA1-MODP2048 with certificates"),
        "{text}"
    );
}

/// Connects one client with `cert` (and the certificate settings changed by `tweak`); returns
/// the responder's single refusal and checks that nothing was established.
fn refused(
    config: ResponderConfig,
    tweak: impl FnOnce(&mut InitiatorCertificate),
) -> (RefuseReason, String) {
    let mut w = World::new(config);
    let mut cert = client_cert(&pki().alice);
    tweak(&mut cert);
    let c = w.add(xp_config(20), Some(cert));
    assert!(!w.connect(c));
    assert!(w.phase1_auths().is_empty());
    // The refused SA is gone, as after a PSK mismatch.
    assert!(w.resp.peers(w.now).is_empty());
    let r = w.refusals();
    assert_eq!(r.len(), 1, "{r:?}");
    let text = r[0].to_string();
    assert!(text.contains("Windows error 789"), "{text}");
    (r[0].clone(), text)
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let (r, text) = refused(server_config(&[], false), |c| {
        c.chain = vec![pki().foreign.clone()];
    });
    assert!(
        matches!(
            r,
            RefuseReason::ClientCertificateRefused(pki::ChainError::NotIssuedByConfiguredCa { .. })
        ),
        "{r:?}"
    );
    assert!(
        text.contains("CN=mallory,O=Example is not issued by any configured CA")
            && text.contains("CN=Other CA"),
        "{text}"
    );
    assert_eq!(r.notify(), Some(NotifyType::InvalidCertAuthority));
}

#[test]
fn expired_certificate_is_refused() {
    let (r, text) = refused(server_config(&[], false), |c| {
        c.chain = vec![pki().expired.clone()];
    });
    assert!(
        matches!(
            r,
            RefuseReason::ClientCertificateRefused(pki::ChainError::Expired { .. })
        ),
        "{r:?}"
    );
    assert!(
        text.contains("client certificate refused: peer certificate CN=bob,O=Example expired on"),
        "{text}"
    );
    assert_eq!(r.notify(), Some(NotifyType::InvalidCertificate));
}

#[test]
fn revoked_certificate_is_refused() {
    let (r, text) = refused(server_config(&[], false), |c| {
        c.chain = vec![pki().revoked.clone()];
    });
    assert!(
        matches!(
            r,
            RefuseReason::ClientCertificateRefused(pki::ChainError::Revoked { .. })
        ),
        "{r:?}"
    );
    assert!(
        text.contains("CN=carol,O=Example") && text.contains("was revoked on"),
        "{text}"
    );
}

#[test]
fn certificate_without_an_ike_usage_is_refused() {
    let (r, text) = refused(server_config(&[], false), |c| {
        c.chain = vec![pki().wrong_eku.clone()];
    });
    assert!(
        matches!(
            r,
            RefuseReason::ClientCertificateRefused(pki::ChainError::WrongEku { .. })
        ),
        "{r:?}"
    );
    assert!(
        text.contains("CN=dave,O=Example has an extendedKeyUsage"),
        "{text}"
    );
}

#[test]
fn id_that_does_not_name_the_certificate_is_refused() {
    let (r, text) = refused(server_config(&[], false), |c| {
        c.id = Some((IdType::UserFqdn, b"bob@example.com".to_vec()));
    });
    assert!(
        matches!(r, RefuseReason::ClientIdentityMismatch(_)),
        "{r:?}"
    );
    assert!(
        text.contains("e-mail bob@example.com")
            && text.contains("its certificate CN=alice,O=Example"),
        "{text}"
    );
    assert_eq!(r.notify(), Some(NotifyType::InvalidIdInformation));
}

#[test]
fn id_user_fqdn_in_the_certificate_is_accepted() {
    let mut w = World::new(server_config(&[], false));
    let mut cert = client_cert(&pki().alice);
    cert.id = Some((IdType::UserFqdn, b"alice@example.com".to_vec()));
    let c = w.add(xp_config(21), Some(cert));
    assert!(w.connect(c), "{:?}", w.resp_events);
    assert_eq!(w.phase1_auths(), vec![&alice()]);
}

#[test]
fn certificate_outside_the_accepted_identities_is_refused() {
    let (r, text) = refused(
        server_config(&["CN=bob,O=Example", "*@example.org"], false),
        |_| {},
    );
    assert!(matches!(r, RefuseReason::ClientNotAccepted(_)), "{r:?}");
    assert!(
        text.contains("CN=alice,O=Example is from a trusted CA but matches none"),
        "{text}"
    );
    assert_eq!(r.notify(), Some(NotifyType::AuthenticationFailed));
}

#[test]
fn signature_by_another_key_is_refused() {
    let (r, text) = refused(server_config(&[], false), |c| {
        c.key = pki().other_key.clone();
    });
    assert!(matches!(r, RefuseReason::ClientSignature(_)), "{r:?}");
    assert!(
        text.contains("client authentication failed")
            && text.contains("does not verify with its certificate's key"),
        "{text}"
    );
    assert_eq!(r.notify(), Some(NotifyType::InvalidSignature));
}

#[test]
fn message_5_without_a_certificate_is_refused() {
    let alice = pki::load::certificate_der(&pki().alice).unwrap();
    let (r, text) = refused(server_config(&[], false), |c| {
        c.chain = Vec::new();
        c.id = Some((IdType::DerAsn1Dn, pki::subject_der(&alice).unwrap()));
    });
    assert_eq!(
        r,
        RefuseReason::ClientCertificateMissing {
            other_encodings: Vec::new()
        }
    );
    assert!(text.contains("the client sent no certificate"), "{text}");
    assert_eq!(r.notify(), Some(NotifyType::CertificateUnavailable));
}

#[test]
fn without_wall_clock_certificates_are_refused() {
    let mut w = World::new(server_config(&[], false));
    // A fresh responder that was never told the time.
    w.resp = Responder::new(server_config(&[], false), [9; 32]);
    let c = w.add(xp_config(22), Some(client_cert(&pki().alice)));
    assert!(!w.connect(c));
    assert_eq!(w.refusals(), vec![&RefuseReason::NoWallClock]);
    assert!(w.refusals()[0].to_string().contains("wall-clock"));
}

#[test]
fn client_refuses_a_server_its_cas_did_not_issue() {
    let mut w = World::new(server_config(&[], false));
    let mut cert = client_cert(&pki().alice);
    cert.verifier = Some(pki().foreign_ca_verifier.clone());
    let c = w.add(xp_config(23), Some(cert));
    assert!(!w.connect(c));
    // The responder established (it cannot know); the client refused MM6.
    assert_eq!(w.phase1_auths(), vec![&alice()]);
    let refused: Vec<String> = w.clients[c]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains("CN=vpn.example.com,O=Example is not issued by any configured CA")
            && refused[0].contains("Windows error 787"),
        "{refused:?}"
    );
}

#[test]
fn replaced_certificates_apply_to_new_main_modes() {
    let mut w = World::new(server_config(&[], false));
    let c = w.add(xp_config(24), Some(client_cert(&pki().alice)));
    assert!(w.connect(c));
    // Now only bob is accepted: alice's existing SA stays, a new alice is refused.
    w.resp
        .set_certificates(Some(server_auth(&["CN=bob,O=Example"], false)));
    let d = w.add(xp_config(25), Some(client_cert(&pki().alice)));
    assert!(!w.connect(d));
    assert!(matches!(
        w.refusals().as_slice(),
        [RefuseReason::ClientNotAccepted(_)]
    ));
    assert_eq!(w.resp.peers(w.now).len(), 1);
}
