//! ISAKMP message parser: never panics, and parse -> emit -> parse is a fixed point with a
//! byte-exact second emit (canonical form). CERT, CERTREQ and SIG bodies (RFC 2408 §3.9, §3.10,
//! §3.12), in the clear or in a "decrypted" body, must also re-emit byte for byte on their own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::isakmp::{
    Body, CertRepr, CertReqRepr, Packet, PayloadType, Payloads, Repr, SigRepr, parse_payloads,
};

/// Parses every CERT, CERTREQ and SIG body of a payload chain with its own parser; whatever
/// parses must emit the same bytes.
fn check_cert_payloads(first: PayloadType, bytes: &[u8]) {
    for p in Payloads::new(first, bytes) {
        let Ok(p) = p else { break };
        let mut out = vec![0; p.body.len()];
        let emitted = match p.kind {
            PayloadType::Certificate => CertRepr::parse(p.body).map(|r| r.emit(&mut out)),
            PayloadType::CertificateRequest => {
                CertReqRepr::parse(p.body).map(|r| r.emit(&mut out))
            }
            PayloadType::Signature => SigRepr::parse(p.body).map(|r| r.emit(&mut out)),
            _ => continue,
        };
        if let Ok(e) = emitted {
            e.expect("a parsed body emits");
            assert_eq!(out, p.body);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::new_checked(data) {
        check_cert_payloads(p.next_payload(), p.payload());
    }
    if let Ok(r) = Repr::parse(data) {
        let e = r.to_vec().expect("a parsed message emits");
        let r2 = Repr::parse(&e).expect("an emitted message parses");
        assert_eq!(r, r2);
        assert_eq!(r2.to_vec().expect("re-emit"), e);
        // An encrypted body, once "decrypted", goes through the padded chain parser too.
        if let Body::Encrypted { first, data } = r.body {
            let _ = parse_payloads(first, data, true);
            check_cert_payloads(first, data);
        }
    }
});
