//! Arbitrary bytes into `SaDb::open` and `SaDb::open_l2tp` for a configured SA. Under
//! `cfg(fuzzing)` the ICV check is bypassed, so decryption, the trailer and the transport rules
//! are reached. Nothing may panic; any success must point inside the buffer.
#![no_main]

use std::net::SocketAddr;

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use esp::{Direction, Encap, FourTuple, Lifetime, Sa, SaDb, SaParams};
use libfuzzer_sys::fuzz_target;

fn db(peer: FourTuple, cipher: CipherAlg, natt: bool) -> SaDb {
    let db = SaDb::new();
    let sa = Sa::new(SaParams {
        spi: 0x0000_1000,
        direction: Direction::Inbound,
        cipher,
        enc_key: Secret::new(vec![0x11; cipher.key_len()]),
        integ: IntegAlg::HmacSha1_96,
        auth_key: Secret::new(vec![0x22; 20]),
        encap: if natt {
            Encap::Udp {
                local: peer.local,
                remote: peer.remote,
            }
        } else {
            Encap::None
        },
        peer,
        lifetime: Lifetime::UNLIMITED,
    })
    .unwrap();
    db.insert(sa).unwrap();
    db
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let local: SocketAddr = "192.0.2.1:4500".parse().unwrap();
    let remote: SocketAddr = "198.51.100.7:4500".parse().unwrap();
    let peer = FourTuple { local, remote };
    let cipher = if selector & 1 == 0 {
        CipherAlg::Aes128
    } else {
        CipherAlg::TripleDes
    };
    let db = db(peer, cipher, selector & 2 == 0);

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
        local,
        remote: "198.51.100.7:4501".parse().unwrap(),
    };
    let mut buf = packet.to_vec();
    assert!(db.open(&other, &mut buf).is_err());
});
