//! UDP header (RFC 768) on arbitrary bytes: parse with and without checksum verification, emit,
//! byte-exact round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testkit::fuzz::fixtures::UDP_PSEUDO as PSEUDO;
use wire::ip::udp::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let repr = Repr::parse(&packet, None).unwrap();
    let len = repr.buffer_len();
    let mut out = data[..len].to_vec();
    if packet.checksum() == 0 {
        repr.emit(&mut out, None).unwrap();
        assert_eq!(&out[..], &data[..len]);
    }
    if let Ok(verified) = Repr::parse(&packet, Some(PSEUDO)) {
        assert_eq!(verified, repr);
        if packet.checksum() != 0 {
            repr.emit(&mut out, Some(PSEUDO)).unwrap();
            assert_eq!(&out[..], &data[..len]);
        }
    }
    let again = Packet::new_checked(&out[..]).unwrap();
    assert_eq!(Repr::parse(&again, None).unwrap(), repr);
});
