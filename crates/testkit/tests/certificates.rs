//! The `certificates:` block handed to the server: with `allow_psk: false` no pre-shared key
//! is usable (even one still in the file), and a reload replaces the settings in use.
//! Certificate authentication itself is the IKE engine's and is tested there.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use der::{EncodePem, pem::LineEnding};
use pki::PrivateKey;
use pki::issue::{self, Spec};
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
    dir
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
