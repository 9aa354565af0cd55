//! ICMP "fragmentation needed" (RFC 792, RFC 1191, RFC 1812 §4.3.2.3) about arbitrary bytes
//! taken as the offending IPv4 datagram: never panics, and whatever is emitted is a valid
//! IPv4 + ICMP packet of at most 576 bytes addressed to the offender, quoting its start.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use wire::ip::icmp::{self, MAX_ERROR_LEN, Packet};
use wire::ip::{Protocol, ipv4};

const OURS: Ipv4Addr = Ipv4Addr::new(192, 168, 42, 1);

fuzz_target!(|input: (u16, Vec<u8>)| {
    let (mtu, data) = input;
    let allowed = icmp::may_send_frag_needed(&data);
    let mut out = [0u8; MAX_ERROR_LEN];
    let Ok(n) = icmp::emit_frag_needed(&data, mtu, OURS, &mut out) else {
        assert!(!allowed, "an answerable datagram is always quotable");
        return;
    };
    assert!(n <= MAX_ERROR_LEN);
    let offending = ipv4::Packet::new_checked(&data[..]).unwrap();
    let ip = ipv4::Packet::new_checked(&out[..n]).unwrap();
    let repr = ipv4::Repr::parse(&ip).unwrap();
    assert_eq!((repr.src_addr, repr.dst_addr), (OURS, offending.src_addr()));
    assert_eq!(repr.protocol, Protocol::Icmp);
    let msg = Packet::new_checked(ip.payload()).unwrap();
    assert!(msg.verify_checksum());
    assert_eq!(
        (msg.code(), msg.next_hop_mtu()),
        (icmp::CODE_FRAG_NEEDED, mtu)
    );
    assert!(data.starts_with(msg.data()));
});
