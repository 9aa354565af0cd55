//! ID payload checks, identity patterns, the RFC 2409 signature and the server-certificate lint.

mod common;

use std::net::Ipv4Addr;

use common::*;
use const_oid::db::rfc5280;
use der::Encode;
use pki::{
    Identity, IdentityError, IdentityPattern,
    identity::{ID_DER_ASN1_DN, ID_FQDN, ID_IPV4_ADDR, ID_USER_FQDN},
    ikev1::{self, SignatureError},
    issue::{self, Spec},
    lint::{self, Severity},
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

fn server_cert(spec: &Spec) -> pki::Certificate {
    let p = pki();
    issue::certificate(spec, &p.leaf_pub, Some(&p.ca), &p.ca_key).unwrap()
}

fn server_spec() -> Spec {
    Spec::server(
        "CN=vpn.example.com",
        serial(40),
        now() - DAY,
        now() + 365 * DAY,
        vec!["vpn.example.com".into()],
        vec![Ipv4Addr::new(192, 0, 2, 10)],
    )
    .unwrap()
}

#[test]
fn id_payloads_are_checked_against_the_certificate() {
    let cert = issue_client(&client_spec(30));
    let dn = cert.tbs_certificate.subject.to_der().unwrap();
    Identity::from_payload(ID_DER_ASN1_DN, &dn)
        .unwrap()
        .check(&cert)
        .unwrap();
    Identity::from_payload(ID_USER_FQDN, b"alice@example.com")
        .unwrap()
        .check(&cert)
        .unwrap();
    Identity::from_payload(ID_FQDN, b"ALICE-PC.example.com")
        .unwrap()
        .check(&cert)
        .unwrap();

    let other_dn = issue::name("CN=bob,O=Example").unwrap().to_der().unwrap();
    let err = Identity::from_payload(ID_DER_ASN1_DN, &other_dn)
        .unwrap()
        .check(&cert)
        .unwrap_err();
    assert!(matches!(err, IdentityError::Mismatch { .. }));
    assert_eq!(
        err.to_string(),
        "the peer says it is subject CN=bob,O=Example, but its certificate CN=alice,O=Example names DNS:alice-pc.example.com, email:alice@example.com"
    );
    assert!(
        Identity::from_payload(ID_USER_FQDN, b"bob@example.com")
            .unwrap()
            .check(&cert)
            .is_err()
    );
    assert!(
        Identity::from_payload(ID_FQDN, b"example.com")
            .unwrap()
            .check(&cert)
            .is_err()
    );
    // The client certificate has no address.
    assert!(
        Identity::from_payload(ID_IPV4_ADDR, &[192, 0, 2, 10])
            .unwrap()
            .check(&cert)
            .is_err()
    );

    let server = server_cert(&server_spec());
    Identity::from_payload(ID_IPV4_ADDR, &[192, 0, 2, 10])
        .unwrap()
        .check(&server)
        .unwrap();
    assert!(
        Identity::from_payload(ID_IPV4_ADDR, &[192, 0, 2, 11])
            .unwrap()
            .check(&server)
            .is_err()
    );
}

#[test]
fn identity_patterns_choose_which_clients_are_accepted() {
    let alice = issue_client(&client_spec(31));
    let accept = |p: &str| p.parse::<IdentityPattern>().unwrap().matches(&alice);
    assert!(accept("*"));
    assert!(accept("CN=*,O=Example"));
    assert!(!accept("CN=*,O=Other"));
    assert!(accept("*@example.com"));
    assert!(!accept("*@example.org"));
    assert!(accept("*.example.com"));
    assert!(!accept("192.0.2.10"));
    let patterns: Vec<IdentityPattern> = vec![
        "CN=bob,*".parse().unwrap(),
        "*@example.org".parse().unwrap(),
    ];
    assert_eq!(
        IdentityPattern::accept(&patterns, &alice),
        Err(IdentityError::NotAccepted {
            subject: "CN=alice,O=Example".into()
        })
    );
}

#[test]
fn ikev1_signatures_round_trip_and_tampering_is_caught() {
    let p = pki();
    let cert = issue_client(&client_spec(32));
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    for hash in [
        vec![0xab; 20],
        vec![0x5a; 32],
        vec![0x01; 48],
        vec![0x02; 64],
    ] {
        let sig = ikev1::sign(&p.leaf_key, &hash, &mut rng).unwrap();
        assert_eq!(sig.len(), 128);
        ikev1::verify(&cert, &hash, &sig).unwrap();
        let mut bad = hash.clone();
        bad[0] ^= 1;
        assert_eq!(ikev1::verify(&cert, &bad, &sig), Err(SignatureError::Bad));
        let mut bad_sig = sig.clone();
        bad_sig[5] ^= 1;
        assert_eq!(
            ikev1::verify(&cert, &hash, &bad_sig),
            Err(SignatureError::Bad)
        );
    }
    // A hash that does not fit in a 1024-bit block with 11 bytes of padding.
    assert_eq!(
        ikev1::sign(&p.leaf_key, &[0; 118], &mut rng),
        Err(SignatureError::KeyTooShort(118))
    );
}

/// Known answer against an independent implementation: OpenSSL's RSA_private_encrypt with
/// RSA_PKCS1_PADDING is exactly block type 1 padding with no DigestInfo, and PKCS#1 v1.5
/// signatures are deterministic, so the bytes must be equal.
#[test]
fn ikev1_signature_equals_openssl_raw_pkcs1_type_1() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let p = pki();
    let hash = hex::decode("9f0c1b6a4e2d3c5b7a8f9e0d1c2b3a4f5e6d7c8b").unwrap();
    let ours = ikev1::sign(&p.leaf_key, &hash, &mut ChaCha20Rng::from_seed([1; 32])).unwrap();
    let der = p.leaf_key.to_pkcs1_der().unwrap();
    let ossl = openssl::rsa::Rsa::private_key_from_der(der.as_bytes()).unwrap();
    let mut theirs = vec![0; ossl.size() as usize];
    let n = ossl
        .private_encrypt(&hash, &mut theirs, openssl::rsa::Padding::PKCS1)
        .unwrap();
    theirs.truncate(n);
    assert_eq!(ours, theirs);
    // And the opened block is 00 01 FF.. 00 || HASH (RFC 8017 §9.2 step 5) with no DigestInfo.
    let mut opened = vec![0; ossl.size() as usize];
    let m = ossl
        .public_decrypt(&ours, &mut opened, openssl::rsa::Padding::NONE)
        .unwrap();
    assert_eq!(m, 128);
    assert_eq!(&opened[..2], &[0x00, 0x01]);
    assert!(opened[2..128 - 21].iter().all(|&b| b == 0xff));
    assert_eq!(opened[128 - 21], 0x00);
    assert_eq!(&opened[128 - 20..], &hash[..]);
}

#[test]
fn a_server_certificate_made_by_spec_server_has_no_findings() {
    let cert = server_cert(&server_spec());
    let f = lint::server_certificate(
        &cert,
        &["vpn.example.com".into()],
        &[Ipv4Addr::new(192, 0, 2, 10)],
        now(),
    );
    // The shared test leaf key is 1024 bits: only the advice to use 2048 remains.
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].severity, Severity::Advice);
    assert!(f[0].message.contains("1024-bit"));
}

#[test]
fn the_lint_names_error_787_for_what_windows_refuses() {
    let mut spec = server_spec();
    spec.ekus = vec![rfc5280::ID_KP_CLIENT_AUTH];
    spec.not_after = now() + 10 * DAY;
    let cert = server_cert(&spec);
    let f = lint::server_certificate(
        &cert,
        &["vpn.example.com".into(), "other.example.com".into()],
        &[Ipv4Addr::new(198, 51, 100, 1)],
        now(),
    );
    let errors: Vec<&str> = f
        .iter()
        .filter(|x| x.severity == Severity::Error)
        .map(|x| x.message.as_str())
        .collect();
    assert_eq!(errors.len(), 3, "{f:#?}");
    assert!(
        errors.iter().all(|m| m.contains("error 787")),
        "{errors:#?}"
    );
    assert!(errors[0].contains("Server Authentication EKU"));
    assert!(errors[1].contains("does not name other.example.com"));
    assert!(errors[2].contains("does not name the address 198.51.100.1"));
    assert!(
        f.iter()
            .any(|x| x.severity == Severity::Warning && x.message.contains("expires on"))
    );
    assert!(
        f.iter()
            .any(|x| x.severity == Severity::Advice && x.message.contains("IKE intermediate"))
    );

    let small = key(512);
    let cert = issue::certificate(
        &server_spec(),
        &small.to_public_key(),
        Some(&pki().ca),
        &pki().ca_key,
    )
    .unwrap();
    let f = lint::server_certificate(&cert, &[], &[], now());
    assert!(
        f.iter()
            .any(|x| x.severity == Severity::Error && x.message.contains("512-bit")),
        "{f:#?}"
    );
}

/// The subject of `cert` with every value re-encoded as a PrintableString by `f`, as
/// strongSwan builds a DN its admin wrote as text.
fn printable_subject(cert: &pki::Certificate, f: impl Fn(&str) -> String) -> Vec<u8> {
    let mut name = cert.tbs_certificate.subject.clone();
    for rdn in &mut name.0 {
        let atvs: Vec<_> = rdn
            .0
            .iter()
            .map(|atv| {
                let text = std::str::from_utf8(atv.value.value()).unwrap();
                let mut atv = atv.clone();
                atv.value = der::Any::new(der::Tag::PrintableString, f(text).as_bytes()).unwrap();
                atv
            })
            .collect();
        rdn.0 = der::asn1::SetOfVec::try_from(atvs).unwrap();
    }
    name.to_der().unwrap()
}

#[test]
fn a_dn_is_the_same_name_in_another_string_type_case_or_spacing_rfc_5280_7_1() {
    let cert = issue_client(&client_spec(31));
    // The certificate holds UTF8Strings; the same text as PrintableStrings is the same name.
    use der::Tagged;
    let first = &cert.tbs_certificate.subject.0[0].0.as_slice()[0];
    assert_eq!(first.value.tag(), der::Tag::Utf8String);
    for variant in [
        |s: &str| s.to_owned(),
        |s: &str| s.to_uppercase(),
        |s: &str| format!("  {}  ", s.replace(' ', "   ")),
    ] {
        let dn = printable_subject(&cert, variant);
        assert_ne!(dn, cert.tbs_certificate.subject.to_der().unwrap());
        Identity::from_payload(ID_DER_ASN1_DN, &dn)
            .unwrap()
            .check(&cert)
            .unwrap();
    }
    // Other text is still another name.
    let dn = printable_subject(&cert, |s| format!("{s}x"));
    let err = Identity::from_payload(ID_DER_ASN1_DN, &dn)
        .unwrap()
        .check(&cert)
        .unwrap_err();
    assert!(matches!(err, IdentityError::Mismatch { .. }), "{err}");
}
