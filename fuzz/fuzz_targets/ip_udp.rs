//! UDP header (RFC 768) on arbitrary bytes: parse with and without checksum verification, emit,
//! byte-exact round trip.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use wire::ip::udp::{Packet, PseudoHeader, Repr};

const PSEUDO: PseudoHeader = PseudoHeader {
    src_addr: Ipv4Addr::new(198, 51, 100, 7),
    dst_addr: Ipv4Addr::new(192, 0, 2, 1),
};

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
