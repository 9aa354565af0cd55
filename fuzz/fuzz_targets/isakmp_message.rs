//! ISAKMP message parser: never panics, and parse -> emit -> parse is a fixed point with a
//! byte-exact second emit (canonical form).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::isakmp::{Body, Payloads, Repr, parse_payloads};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Repr::parse(data) {
        let e = r.to_vec().expect("a parsed message emits");
        let r2 = Repr::parse(&e).expect("an emitted message parses");
        assert_eq!(r, r2);
        assert_eq!(r2.to_vec().expect("re-emit"), e);
        // An encrypted body, once "decrypted", goes through the padded chain parser too.
        if let Body::Encrypted { first, data } = r.body {
            let _ = parse_payloads(first, data, true);
            for p in Payloads::new(first, data) {
                if p.is_err() {
                    break;
                }
            }
        }
    }
});
