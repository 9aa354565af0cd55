//! Hidden AVP values (RFC 2661 §4.3) with arbitrary secrets and random vectors: revealing
//! never panics, a revealed value fits its hidden form, and hiding it again (with the same
//! padding length) reveals the same value at the same length.
//!
//! Input: attribute type (2 octets), then the secret and the Random Vector as
//! `testkit::fuzz::script` data fields, then the hidden value. Seeds are the hidden AVPs a LAC
//! sends when it hides them.
#![no_main]

use l2tp::hidden::{hide, reveal};
use libfuzzer_sys::fuzz_target;
use testkit::fuzz::script::Reader;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let (Some(attr), Some(secret), Some(rv)) = (r.u16(), r.bytes(), r.bytes()) else {
        return;
    };
    let hidden = r.rest();
    let Ok(value) = reveal(attr, secret, rv, hidden) else {
        return;
    };
    assert!(
        2 + value.len() <= hidden.len(),
        "the value is longer than its hidden form"
    );
    let padding = &hidden[2 + value.len()..];
    let again = hide(attr, secret, rv, &value, padding).expect("a revealed value hides");
    assert_eq!(again.len(), hidden.len());
    assert_eq!(reveal(attr, secret, rv, &again).expect("reveals"), value);
});
