//! ESP header and trailer views (RFC 4303 §2) on arbitrary bytes: parse, emit, byte-exact
//! round trip for canonical input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::esp::{Packet, Repr, Trailer, TrailerRepr};

fuzz_target!(|data: &[u8]| {
    // Header: SPI and sequence number.
    if let Ok(packet) = Packet::new_checked(data) {
        let _ = packet.payload();
        if let Ok(repr) = Repr::parse(&packet) {
            let mut out = [0u8; 8];
            repr.emit(&mut out).unwrap();
            assert_eq!(&out[..], &data[..8]);
            assert_eq!(
                Repr::parse(&Packet::new_checked(&out[..]).unwrap()).unwrap(),
                repr
            );
        }
    }
    // Trailer: the same bytes read as a decrypted payload.
    if let Ok(trailer) = Trailer::new_checked(data) {
        let data_len = trailer.data_len();
        assert_eq!(trailer.data().len(), data_len);
        let _ = trailer.padding_ok();
        if let Ok(repr) = TrailerRepr::parse(&trailer) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            assert_eq!(&out[..], &data[data_len..]);
        }
    }
});
