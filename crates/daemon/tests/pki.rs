//! `l2tpd-rs pki`: a CA, a server certificate and a client PKCS#12 made by the binary, read
//! back through the `pki` crate's verifier and lint, and the PKCS#12 file's algorithms checked
//! with an independent reader, `openssl pkcs12 -info -legacy` (the Debian openssl tool; when it
//! is missing the test prints a skip line, or fails if `L2TPD_RS_REQUIRE_ROOT_TESTS` is set, as
//! CI does). Then a revocation: the CRL it writes refuses the client.
#![allow(clippy::disallowed_methods, dead_code)]

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::SystemTime;

mod support;

use support::{TempDir, run, text};

const PASSWORD: &str = "correct horse";

#[test]
fn pki_makes_a_ca_a_server_and_a_client_windows_can_import() {
    let dir = TempDir::new("pki");
    let d = dir.path("pki");
    let d = d.to_str().unwrap();
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    };
    ok(&[
        "pki",
        "ca",
        "--dir",
        d,
        "--subject",
        "CN=Test VPN CA,O=Example",
    ]);
    let out = ok(&[
        "pki",
        "server",
        "--dir",
        d,
        "--name",
        "vpn.example.com",
        "--ip",
        "192.0.2.10",
    ]);
    assert_eq!(
        text(&out.stderr),
        "",
        "the lint finds nothing in a server certificate pki made"
    );
    std::fs::write(dir.path("pw"), format!("{PASSWORD}\n")).unwrap();
    ok(&[
        "pki",
        "client",
        "alice",
        "--dir",
        d,
        "--email",
        "alice@example.com",
        "--password-file",
        dir.path("pw").to_str().unwrap(),
    ]);

    // Nothing is overwritten.
    let again = run(&["pki", "ca", "--dir", d]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("never overwritten"),
        "{}",
        text(&again.stderr)
    );

    // Keys are private.
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "ca.key",
        "server.key",
        "clients/alice.key",
        "clients/alice.p12",
    ] {
        let mode = std::fs::metadata(format!("{d}/{f}"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }

    let read = |f: &str| std::fs::read(format!("{d}/{f}")).unwrap();
    let ca = pki::load::certificates(&read("ca.crt")).unwrap();
    let server = pki::load::certificates(&read("server.crt"))
        .unwrap()
        .remove(0);
    let alice = pki::load::certificates(&read("clients/alice.crt"))
        .unwrap()
        .remove(0);
    let alice_key = pki::load::private_key(&read("clients/alice.key")).unwrap();
    assert_eq!(
        pki::load::public_key(&alice).unwrap(),
        alice_key.to_public_key()
    );
    let now = SystemTime::now();
    let v = pki::Verifier::new(ca.clone(), vec![]).unwrap();
    v.verify(&alice, &[], now).unwrap();
    v.verify(&server, &[], now).unwrap();
    let findings = pki::lint::server_certificate(
        &server,
        &["vpn.example.com".into()],
        &[Ipv4Addr::new(192, 0, 2, 10)],
        now,
    );
    assert!(findings.is_empty(), "{findings:?}");
    pki::Identity::UserFqdn("alice@example.com".into())
        .check(&alice)
        .unwrap();

    // The PKCS#12 file, read by OpenSSL's own tool.
    let p12 = format!("{d}/clients/alice.p12");
    let pkcs12_info = |password: &str| {
        Command::new("openssl")
            .args(["pkcs12", "-info", "-legacy", "-noout", "-in", &p12])
            .args(["-passin", &format!("pass:{password}")])
            .output()
    };
    match pkcs12_info(PASSWORD) {
        Ok(out) => {
            let info = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert!(out.status.success(), "{info}");
            assert!(info.contains("MAC: sha1"), "{info}");
            assert!(
                info.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"),
                "{info}"
            );
            assert!(
                info.contains("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC"),
                "{info}"
            );
            assert!(!info.contains("PBES2") && !info.contains("AES"), "{info}");
            // Wrong password: refused.
            let bad = pkcs12_info("wrong").unwrap();
            assert!(!bad.status.success());
            // Both certificates and the key come out.
            let out = Command::new("openssl")
                .args([
                    "pkcs12",
                    "-legacy",
                    "-nodes",
                    "-in",
                    &p12,
                    "-passin",
                    &format!("pass:{PASSWORD}"),
                ])
                .output()
                .unwrap();
            let pem = text(&out.stdout);
            assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");
            assert_eq!(pki::load::private_key(pem.as_bytes()).unwrap(), alice_key);
        }
        Err(e) if std::env::var_os("L2TPD_RS_REQUIRE_ROOT_TESTS").is_some() => {
            panic!("openssl tool missing: {e}")
        }
        Err(e) => eprintln!("skipping the openssl pkcs12 check: {e}"),
    }

    // Revocation: the CRL refuses alice and still accepts the server.
    ok(&[
        "pki",
        "revoke",
        &format!("{d}/clients/alice.crt"),
        "--dir",
        d,
    ]);
    let crls = pki::load::crls(&read("crl.pem")).unwrap();
    let v = pki::Verifier::new(ca, crls).unwrap();
    let err = v.verify(&alice, &[], now).unwrap_err();
    assert!(matches!(err, pki::ChainError::Revoked { .. }), "{err}");
    v.verify(&server, &[], now).unwrap();
    // Revoking twice keeps one entry.
    let out = ok(&[
        "pki",
        "revoke",
        &format!("{d}/clients/alice.crt"),
        "--dir",
        d,
    ]);
    assert!(text(&out.stdout).contains("already revoked"));
    assert!(text(&out.stdout).contains("1 revoked"));
}
