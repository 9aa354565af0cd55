//! X.509 certificates and CRLs (RFC 5280 §4, §5.1) and IKEv1 ID payloads (RFC 2407 §4.6.2.1) on
//! arbitrary bytes. A certificate or CRL that decodes re-encodes byte for byte (signatures are
//! checked over the re-encoded TBS, so this must hold); validation, identity checks and the
//! server-certificate lint never panic, whatever the certificate says.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use der::Encode;
use libfuzzer_sys::fuzz_target;
use pki::{Identity, IdentityPattern, Verifier, lint, load};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    match sel % 3 {
        0 => {
            let Ok(cert) = load::certificate_der(rest) else {
                return;
            };
            assert_eq!(cert.to_der().unwrap(), rest);
            // The certificate as its own CA: exercises the signature, validity, extension and
            // key checks on attacker-chosen values.
            if let Ok(v) = Verifier::new(vec![cert.clone()], vec![]) {
                let _ = v.verify(&cert, std::slice::from_ref(&cert), now);
            }
            let _ = lint::server_certificate(&cert, &["vpn.example.com".into()], &[], now);
            for p in ["*", "CN=*", "*@example.com", "*.example.com", "192.0.2.1"] {
                let _ = p.parse::<IdentityPattern>().map(|p| p.matches(&cert));
            }
            let _ = pki::ikev1::verify(&cert, &[0; 20], &[0; 128]);
        }
        1 => {
            // DER only here: `load::crls` also reads PEM, which re-encodes differently.
            if let Ok(crl) = <pki::Crl as der::Decode>::from_der(rest) {
                assert_eq!(crl.to_der().unwrap(), rest);
            }
            let _ = load::crls(rest);
        }
        _ => {
            let Some((&id_type, id)) = rest.split_first() else {
                return;
            };
            if let Ok(identity) = Identity::from_payload(id_type, id) {
                let _ = identity.to_string();
            }
            let _ = load::certificates(rest);
            let _ = load::private_key(rest);
        }
    }
});
