//! Walks arbitrary AVP chains (RFC 2661 §4.1, §4.4) and asserts the round trips: every raw AVP
//! re-emits byte-exact, and every typed value re-parses to itself (byte-exact when canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::l2tp::{Avp, AvpRepr, Avps};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    for avp in Avps::new(data) {
        let Ok(avp) = avp else { break };
        let len = avp.buffer_len();
        let mut raw = vec![0u8; len];
        avp.emit(&mut raw).unwrap();
        assert_eq!(raw, rest[..len]);
        rest = &rest[len..];

        let Ok(typed) = AvpRepr::parse(&avp) else {
            continue;
        };
        let mut out = vec![0u8; typed.buffer_len()];
        typed.emit(avp.mandatory, &mut out).unwrap();
        let (back, tail) = Avp::parse(&out).unwrap();
        assert!(tail.is_empty());
        assert_eq!(AvpRepr::parse(&back).unwrap(), typed);
        // Reserved fields inside these values are emitted as zero.
        let has_reserved = matches!(
            typed,
            AvpRepr::ProxyAuthenId(_) | AvpRepr::CallErrors(_) | AvpRepr::Accm { .. }
        );
        if avp.reserved == 0 && !has_reserved {
            assert_eq!(out, raw);
        }
    }
});
