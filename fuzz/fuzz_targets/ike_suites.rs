//! Choosing from an SA payload (RFC 2408 §3.4-§3.6, RFC 2407 §4.5): the Main Mode and Quick
//! Mode proposal selection, the offer descriptions and the policy hint, on arbitrary SA payload
//! bodies under every algorithm policy (the first octet: bit 0 modern, 1 legacy, 2 DES,
//! 3 MODP768). A choice points at an offered transform of the right protocol, decodes to the
//! suite chosen, and stays available under the policy that allows everything.
//!
//! Seeds are the SA payloads of the testkit clients' Main Modes and (decrypted) Quick Modes.
#![no_main]

use ike::Policy;
use ike::suite::{
    choose_esp, choose_phase1, decode_esp, describe_esp_offer, describe_p1_offer, policy_hint,
};
use libfuzzer_sys::fuzz_target;
use wire::isakmp::{SaRepr, protocol};

const ALL: Policy = Policy {
    modern: true,
    legacy: true,
    des: true,
    modp768: true,
};

fuzz_target!(|data: &[u8]| {
    let Some((&bits, body)) = data.split_first() else {
        return;
    };
    let policy = Policy {
        modern: bits & 1 != 0,
        legacy: bits & 2 != 0,
        des: bits & 4 != 0,
        modp768: bits & 8 != 0,
    };
    let Ok(sa) = SaRepr::parse(body) else {
        return;
    };
    let proposals = &sa.proposals;
    if let Some(c) = choose_phase1(proposals, &policy) {
        let p = &proposals[c.proposal];
        assert!(c.transform < p.transforms.len());
        assert_eq!(p.protocol, protocol::ISAKMP);
        assert!(choose_phase1(proposals, &ALL).is_some());
    }
    if let Ok(c) = choose_esp(proposals, &policy) {
        let p = &proposals[c.proposal];
        assert_eq!((p.protocol, p.spi.len()), (protocol::ESP, 4));
        assert_eq!(decode_esp(&p.transforms[c.transform]), Ok(c.suite));
        assert!(choose_esp(proposals, &ALL).is_ok());
    }
    let _ = (
        describe_p1_offer(proposals),
        describe_esp_offer(proposals),
        policy_hint(proposals, &policy),
    );
});
