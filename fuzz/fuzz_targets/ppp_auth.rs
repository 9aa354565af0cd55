//! CHAP and PAP packets and the MS-CHAP value formats: parse, emit and parse again must agree;
//! CHAP packets are byte-exact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::ppp::control::Packet;
use wire::ppp::mschap::{FailureMessage, SuccessMessage, V1Response, V2Response};
use wire::ppp::{chap, pap};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::new_checked(data) {
        let canonical = &data[..usize::from(p.length())];
        if let Ok(repr) = chap::Repr::parse(&p) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).expect("emit of a parsed CHAP packet");
            assert_eq!(&out[..], canonical, "CHAP round trip");
        }
        if let Ok(repr) = pap::Repr::parse(&p) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).expect("emit of a parsed PAP packet");
            // PAP ignores octets after the last counted field; the rest is byte-exact.
            assert_eq!(&out[4..], &canonical[4..out.len()], "PAP round trip");
            let again = pap::Repr::parse(&Packet::new_checked(&out[..]).unwrap()).unwrap();
            assert_eq!(again, repr);
        }
    }
    if let Ok(v) = V2Response::parse(data) {
        assert_eq!(&v.to_bytes()[..], data);
    }
    if let Ok(v) = V1Response::parse(data) {
        assert_eq!(&v.to_bytes()[..], data);
    }
    if let Ok(m) = SuccessMessage::parse(data) {
        let mut out = vec![0u8; m.buffer_len()];
        m.emit(&mut out).expect("emit of a parsed Success message");
        assert_eq!(SuccessMessage::parse(&out).unwrap(), m);
    }
    if let Ok(m) = FailureMessage::parse(data) {
        let mut out = vec![0u8; m.buffer_len()];
        m.emit(&mut out).expect("emit of a parsed Failure message");
        assert_eq!(FailureMessage::parse(&out).unwrap(), m);
    }
});
