//! Chain validation: every refusal has its own variant.

mod common;

use common::*;
use const_oid::db::rfc5280;
use der::{DecodePem, EncodePem, pem::LineEnding};
use pki::{
    Certificate, ChainError, Crl, Verifier,
    issue::{self, Revoked, SignatureDigest, Spec},
    load,
    verify::Role,
};
use x509_cert::ext::pkix::KeyUsages;

fn verifier(crls: Vec<Crl>) -> Verifier {
    Verifier::new(vec![pki().ca.clone()], crls).unwrap()
}

#[test]
fn a_good_client_certificate_is_accepted() {
    let cert = issue_client(&client_spec(10));
    let v = verifier(vec![]).verify(&cert, &[], now()).unwrap();
    assert_eq!(v.chain.len(), 1);
    assert_eq!(v.anchor, pki().ca);
}

#[test]
fn a_sha1_signed_certificate_from_an_old_ca_is_accepted() {
    let mut spec = client_spec(11);
    spec.digest = SignatureDigest::Sha1;
    let cert = issue_client(&spec);
    assert_eq!(
        cert.signature_algorithm.oid,
        const_oid::db::rfc5912::SHA_1_WITH_RSA_ENCRYPTION
    );
    verifier(vec![]).verify(&cert, &[], now()).unwrap();
}

#[test]
fn an_expired_certificate_is_refused() {
    let mut spec = client_spec(12);
    spec.not_before = now() - 400 * DAY;
    spec.not_after = now() - DAY;
    let err = verifier(vec![])
        .verify(&issue_client(&spec), &[], now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Expired {
                role: Role::Peer,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("peer certificate CN=alice,O=Example expired on 2026-05-"),
        "{err}"
    );
}

#[test]
fn a_not_yet_valid_certificate_is_refused() {
    let mut spec = client_spec(13);
    spec.not_before = now() + DAY;
    let err = verifier(vec![])
        .verify(&issue_client(&spec), &[], now())
        .unwrap_err();
    assert!(matches!(err, ChainError::NotYetValid { .. }), "{err}");
    assert!(err.to_string().contains("check the clocks"), "{err}");
}

#[test]
fn a_revoked_certificate_is_refused_by_the_cas_crl() {
    let p = pki();
    let revoked = issue_client(&client_spec(14));
    let good = issue_client(&client_spec(15));
    let crl = issue::crl(
        &p.ca,
        &p.ca_key,
        now() - DAY,
        now() + 7 * DAY,
        &[Revoked {
            serial: revoked.tbs_certificate.serial_number.clone(),
            date: now() - DAY,
        }],
    )
    .unwrap();
    let v = verifier(vec![crl]);
    let err = v.verify(&revoked, &[], now()).unwrap_err();
    assert!(matches!(err, ChainError::Revoked { .. }), "{err}");
    assert!(
        err.to_string().contains("revoked on 2026-05-")
            && err.to_string().contains("by the CRL of CN=Test Root CA"),
        "{err}"
    );
    v.verify(&good, &[], now()).unwrap();
}

#[test]
fn an_expired_crl_refuses_every_certificate_of_its_ca() {
    let p = pki();
    let crl = issue::crl(&p.ca, &p.ca_key, now() - 10 * DAY, now() - DAY, &[]).unwrap();
    let err = verifier(vec![crl])
        .verify(&issue_client(&client_spec(16)), &[], now())
        .unwrap_err();
    assert!(matches!(err, ChainError::CrlExpired { .. }), "{err}");
}

#[test]
fn a_crl_not_signed_by_the_ca_is_refused() {
    let p = pki();
    let other = key(1024);
    let crl = issue::crl(&p.ca, &other, now() - DAY, now() + DAY, &[]).unwrap();
    let err = verifier(vec![crl])
        .verify(&issue_client(&client_spec(17)), &[], now())
        .unwrap_err();
    assert!(matches!(err, ChainError::CrlBadSignature { .. }), "{err}");
}

#[test]
fn a_wrong_eku_is_refused() {
    let mut spec = client_spec(18);
    spec.ekus = vec![rfc5280::ID_KP_CODE_SIGNING, rfc5280::ID_KP_EMAIL_PROTECTION];
    let err = verifier(vec![])
        .verify(&issue_client(&spec), &[], now())
        .unwrap_err();
    assert!(matches!(err, ChainError::WrongEku { .. }), "{err}");
}

#[test]
fn a_key_usage_without_digital_signature_is_refused() {
    let mut spec = client_spec(19);
    spec.key_usage = Some(KeyUsages::KeyEncipherment.into());
    let err = verifier(vec![])
        .verify(&issue_client(&spec), &[], now())
        .unwrap_err();
    assert!(matches!(err, ChainError::KeyUsage { .. }), "{err}");
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let other_key = key(1024);
    let other_ca = issue::certificate(
        &Spec::ca("CN=Other CA", serial(2), now() - DAY, now() + DAY).unwrap(),
        &other_key.to_public_key(),
        None,
        &other_key,
    )
    .unwrap();
    let cert = issue::certificate(
        &client_spec(20),
        &pki().leaf_pub,
        Some(&other_ca),
        &other_key,
    )
    .unwrap();
    let err = verifier(vec![]).verify(&cert, &[], now()).unwrap_err();
    assert!(
        matches!(err, ChainError::NotIssuedByConfiguredCa { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "peer certificate CN=alice,O=Example is not issued by any configured CA (its issuer is CN=Other CA)"
    );
}

#[test]
fn a_forged_issuer_name_is_refused_by_the_signature() {
    let p = pki();
    let forger = key(1024);
    let fake_ca = issue::certificate(
        &Spec::ca(
            "CN=Test Root CA,O=Example",
            serial(3),
            now() - DAY,
            now() + DAY,
        )
        .unwrap(),
        &forger.to_public_key(),
        None,
        &forger,
    )
    .unwrap();
    let cert = issue::certificate(&client_spec(21), &p.leaf_pub, Some(&fake_ca), &forger).unwrap();
    let err = verifier(vec![]).verify(&cert, &[], now()).unwrap_err();
    assert!(matches!(err, ChainError::BadSignature { .. }), "{err}");
}

#[test]
fn a_512_bit_key_is_refused() {
    let small = key(512);
    let cert = issue::certificate(
        &client_spec(22),
        &small.to_public_key(),
        Some(&pki().ca),
        &pki().ca_key,
    )
    .unwrap();
    let err = verifier(vec![]).verify(&cert, &[], now()).unwrap_err();
    assert_eq!(
        err,
        ChainError::KeyTooSmall {
            role: Role::Peer,
            subject: "CN=alice,O=Example".into(),
            bits: 512
        }
    );
}

#[test]
fn a_chain_through_an_intermediate_is_accepted_and_a_non_ca_intermediate_is_refused() {
    let p = pki();
    let int_key = key(1024);
    let int_spec = Spec::ca("CN=Issuing CA", serial(4), now() - DAY, now() + 100 * DAY).unwrap();
    let int =
        issue::certificate(&int_spec, &int_key.to_public_key(), Some(&p.ca), &p.ca_key).unwrap();
    let leaf = issue::certificate(&client_spec(23), &p.leaf_pub, Some(&int), &int_key).unwrap();
    let v = verifier(vec![]);
    let ok = v.verify(&leaf, std::slice::from_ref(&int), now()).unwrap();
    assert_eq!(ok.chain.len(), 2);
    // Without the intermediate there is no path.
    assert!(matches!(
        v.verify(&leaf, &[], now()),
        Err(ChainError::NotIssuedByConfiguredCa { .. })
    ));

    // An end-entity certificate used as an issuer.
    let mut not_ca = int_spec.clone();
    not_ca.ca = false;
    not_ca.key_usage = Some(KeyUsages::DigitalSignature | KeyUsages::KeyCertSign);
    let fake_int =
        issue::certificate(&not_ca, &int_key.to_public_key(), Some(&p.ca), &p.ca_key).unwrap();
    let err = v.verify(&leaf, &[fake_int], now()).unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::NotCa {
                role: Role::Intermediate,
                ..
            }
        ),
        "{err}"
    );

    // The CA's CRL revokes the intermediate.
    let crl = issue::crl(
        &p.ca,
        &p.ca_key,
        now() - DAY,
        now() + DAY,
        &[Revoked {
            serial: int.tbs_certificate.serial_number.clone(),
            date: now() - DAY,
        }],
    )
    .unwrap();
    let err = verifier(vec![crl])
        .verify(&leaf, &[int], now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Revoked {
                role: Role::Intermediate,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_ca_certificate_that_is_not_a_ca_is_refused_at_configuration() {
    let cert = issue_client(&client_spec(24));
    let err = Verifier::new(vec![cert], vec![]).unwrap_err();
    assert!(
        matches!(err, ChainError::NotCa { role: Role::Ca, .. }),
        "{err}"
    );
}

#[test]
fn pem_files_round_trip() {
    let p = pki();
    let cert = issue_client(&client_spec(25));
    let mut bundle = String::from("Example bundle\n");
    bundle += &p.ca.to_pem(LineEnding::LF).unwrap();
    bundle += &cert.to_pem(LineEnding::LF).unwrap();
    let certs = load::certificates(bundle.as_bytes()).unwrap();
    assert_eq!(certs, vec![p.ca.clone(), cert.clone()]);
    assert_eq!(
        load::certificates(&der::Encode::to_der(&cert).unwrap()).unwrap(),
        vec![cert.clone()]
    );
    assert_eq!(
        Certificate::from_pem(cert.to_pem(LineEnding::LF).unwrap()).unwrap(),
        cert
    );

    use rsa::{pkcs1::EncodeRsaPrivateKey, pkcs8::EncodePrivateKey};
    let pkcs1 = p.leaf_key.to_pkcs1_pem(LineEnding::LF).unwrap();
    let pkcs8 = p.leaf_key.to_pkcs8_pem(LineEnding::LF).unwrap();
    assert_eq!(load::private_key(pkcs1.as_bytes()).unwrap(), p.leaf_key);
    assert_eq!(load::private_key(pkcs8.as_bytes()).unwrap(), p.leaf_key);
    assert_eq!(
        load::private_key(p.leaf_key.to_pkcs8_der().unwrap().as_bytes()).unwrap(),
        p.leaf_key
    );

    let crl = issue::crl(&p.ca, &p.ca_key, now(), now() + DAY, &[]).unwrap();
    let pem = der::pem::encode_string(
        "X509 CRL",
        LineEnding::LF,
        &der::Encode::to_der(&crl).unwrap(),
    )
    .unwrap();
    assert_eq!(load::crls(pem.as_bytes()).unwrap(), vec![crl]);
}
