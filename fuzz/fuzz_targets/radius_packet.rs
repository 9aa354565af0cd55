//! RADIUS packets (RFC 2865 §3, §5; RFC 2548 vendor attributes) on arbitrary bytes: whatever
//! parses re-emits byte for byte (inside Length; padding after it is ignored), every raw
//! attribute re-emits exactly, and the authenticator checks (RFC 2865 §3, RFC 2866 §3, RFC 3579
//! §3.2, RFC 5176 §3.3) and the hidden-value decoders (RFC 2865 §5.2, RFC 2548 §2.4.2) never
//! panic. A packet signed again verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radius::attr::{Attribute, Attrs, MsAttribute};
use radius::auth::{self, MessageAuthenticator};
use radius::{Packet, Repr, SharedSecret};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let secret = SharedSecret::new("fuzz");
    let ra = p.authenticator();
    // Never panics, whatever the bytes.
    let _ = auth::verify_request(data, &secret, MessageAuthenticator::IfPresent);
    let _ = auth::verify_response(data, &ra, &secret, MessageAuthenticator::Required);

    let mut rest = p.attributes();
    for a in Attrs::new(p.attributes()) {
        let Ok(a) = a else { break };
        let mut raw = vec![0u8; a.buffer_len()];
        a.emit(&mut raw).unwrap();
        assert_eq!(raw, rest[..a.buffer_len()]);
        rest = &rest[a.buffer_len()..];
    }

    let Ok(r) = Repr::parse(&p) else {
        return;
    };
    let out = r.to_vec().unwrap();
    assert_eq!(out, p.as_bytes());
    assert_eq!(Repr::parse_bytes(&out).unwrap(), r);

    for a in &r.attributes {
        match a {
            Attribute::UserPassword(h) => {
                let pw = auth::reveal_password(h, &secret, &ra).unwrap();
                // Trailing zeros are padding, so hiding again gives the bytes back only if the
                // password did not end in zeros.
                if h.len() == pw.len().div_ceil(16).max(1) * 16 {
                    assert_eq!(&auth::hide_password(&pw, &secret, &ra).unwrap(), h);
                }
            }
            Attribute::Microsoft(
                MsAttribute::MppeSendKey { salt, encrypted }
                | MsAttribute::MppeRecvKey { salt, encrypted },
            ) => {
                let _ = auth::decrypt_mppe_key(encrypted, &secret, &ra, *salt);
            }
            _ => {}
        }
    }

    // Signing what parsed makes it verify (if its Message-Authenticator is well-formed).
    let mut signed = out;
    let code = r.code;
    if code.is_request() {
        if auth::sign_request(&mut signed, &secret).is_ok() {
            auth::verify_request(&signed, &secret, MessageAuthenticator::IfPresent).unwrap();
        }
    } else if auth::sign_response(&mut signed, &ra, &secret).is_ok() {
        auth::verify_response(&signed, &ra, &secret, MessageAuthenticator::IfPresent).unwrap();
    }
});
