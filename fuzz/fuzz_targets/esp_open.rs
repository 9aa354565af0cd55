//! Arbitrary bytes into `SaDb::open` and `SaDb::open_l2tp` for the SA of
//! `testkit::fuzz::fixtures::esp_open_sa` (the first octet picks AES-128 or 3DES and UDP
//! encapsulation or raw ESP). Under `cfg(fuzzing)` the ICV check is bypassed, so decryption,
//! the trailer and the transport rules are reached. Nothing may panic; any success must point
//! inside the buffer; the SA never opens for another port.
//!
//! Seeds are the L2TP datagrams of the testkit clients sealed with this SA.
#![no_main]

use std::net::SocketAddr;

use esp::{Direction, FourTuple, Sa, SaDb};
use libfuzzer_sys::fuzz_target;
use testkit::fuzz::fixtures;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let params = fixtures::esp_open_sa(selector, Direction::Inbound);
    let peer = params.peer;
    let db = SaDb::new();
    db.insert(Sa::new(params).unwrap()).unwrap();

    let mut buf = packet.to_vec();
    if let Ok(opened) = db.open(&peer, &mut buf) {
        assert!(opened.payload.end <= buf.len());
    }
    let mut buf = packet.to_vec();
    if let Ok((opened, l2tp)) = db.open_l2tp(&peer, &mut buf) {
        assert!(opened.payload.end <= buf.len());
        assert!(l2tp.payload.start >= opened.payload.start);
        assert!(l2tp.payload.end <= opened.payload.end);
    }
    // From another port the SA must never open.
    let other = FourTuple {
        local: peer.local,
        remote: SocketAddr::new(peer.remote.ip(), peer.remote.port().wrapping_add(1)),
    };
    let mut buf = packet.to_vec();
    assert!(db.open(&other, &mut buf).is_err());
});
