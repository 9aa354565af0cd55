//! Classifies arbitrary UDP/4500 payloads (RFC 3948 §2) and asserts the byte-exact round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::natt::Repr;

fuzz_target!(|data: &[u8]| {
    let Ok(repr) = Repr::parse(data) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out).unwrap();
    assert_eq!(out, data);
    assert_eq!(Repr::parse(&out).unwrap(), repr);
});
