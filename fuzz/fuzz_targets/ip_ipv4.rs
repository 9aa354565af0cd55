//! IPv4 header (RFC 791) on arbitrary bytes: parse, emit, byte-exact round trip for canonical
//! headers (no options, reserved flag clear).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::ip::ipv4::{HEADER_LEN, Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.options(), packet.payload(), packet.is_fragment());
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let mut out = vec![0u8; HEADER_LEN + repr.payload_len];
    out[HEADER_LEN..].copy_from_slice(packet.payload());
    repr.emit(&mut out).unwrap();
    let again = Packet::new_checked(&out[..]).unwrap();
    assert_eq!(Repr::parse(&again).unwrap(), repr);
    assert_eq!(again.payload(), packet.payload());
    // Canonical: no options, reserved flag clear, and not the alternative checksum 0xffff (a
    // one's-complement "-0" that verifies when the true sum is zero; we emit 0x0000).
    if packet.header_len() == HEADER_LEN && !packet.reserved_flag() && packet.checksum() != 0xffff {
        assert_eq!(&out[..], &data[..usize::from(packet.total_len())]);
    }
});
