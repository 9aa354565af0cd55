//! TCP MSS clamping (RFC 9293 §3.7.1, RFC 1624) on arbitrary bytes taken as an IPv4 packet:
//! never panics, changes at most the MSS value and the TCP checksum, keeps a valid TCP checksum
//! valid, and is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::ip::tcp::{Packet, clamp_mss};
use wire::ip::{Protocol, checksum, ipv4};

/// Whether the TCP checksum of a checked IPv4 packet verifies (over the whole segment).
fn tcp_checksum_ok(packet: &[u8]) -> bool {
    let Ok(ip) = ipv4::Packet::new_checked(packet) else {
        return false;
    };
    let Ok(len) = u16::try_from(ip.payload().len()) else {
        return false;
    };
    checksum::combine(&[
        checksum::pseudo_header(ip.src_addr(), ip.dst_addr(), Protocol::Tcp, len),
        checksum::data(ip.payload()),
    ]) == 0xffff
}

fuzz_target!(|input: (u16, Vec<u8>)| {
    let (max_mss, mut data) = input;
    let before = data.clone();
    let was_valid = tcp_checksum_ok(&data);
    if !clamp_mss(&mut data, max_mss) {
        assert_eq!(data, before, "untouched unless it says so");
        return;
    }
    let changed = data.iter().zip(&before).filter(|(a, b)| a != b).count();
    assert!(changed <= 4, "only the MSS value and the checksum");
    let ip = ipv4::Packet::new_checked(&data[..]).unwrap();
    let mss = Packet::new_checked(ip.payload()).unwrap().mss().unwrap();
    assert!(mss.is_some_and(|m| m <= max_mss));
    if was_valid {
        assert!(tcp_checksum_ok(&data));
    }
    assert!(!clamp_mss(&mut data, max_mss), "idempotent");
});
