//! Parses arbitrary L2TP headers (RFC 2661 §3.1) and asserts the round trip: emit(parse(b))
//! re-parses to the same header, and is byte-exact for canonical input (reserved bits and
//! offset padding zero, nothing after Length).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::l2tp::{Packet, Repr};

/// The reserved bits of the flags word: |T|L|x|x|S|x|O|P|x|x|x|x|Ver|.
const RESERVED: u16 = 0x34f0;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let repr = Repr::parse(&packet).unwrap();
    let payload = packet.payload();
    assert_eq!(payload.len(), repr.payload_len);
    let mut out = vec![0u8; repr.total_len()];
    repr.emit(&mut out).unwrap();
    out[repr.buffer_len()..].copy_from_slice(payload);
    let again = Packet::new_checked(&out[..]).unwrap();
    assert_eq!(Repr::parse(&again).unwrap(), repr);
    assert_eq!(again.payload(), payload);

    let pad = &data[packet.header_len() - repr.offset.unwrap_or(0) as usize..packet.header_len()];
    let canonical = packet.flags() & RESERVED == 0
        && pad.iter().all(|b| *b == 0)
        && packet.total_len() == data.len();
    if canonical {
        assert_eq!(out, data);
    }
});
