//! Cutting a segmented IPv4 packet (TCP or UDP segmentation offload) on arbitrary bytes and
//! segment sizes: never panics; what it emits are packets of at most one segment each whose
//! IPv4 and transport checksums verify and whose payloads, joined, are the input's payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::ip::gso::{Transport, split};
use wire::ip::{Protocol, checksum, ipv4};

fuzz_target!(|input: (u16, bool, Vec<u8>)| {
    let (size, tcp, data) = input;
    let (transport, protocol) = if tcp {
        (Transport::Tcp, Protocol::Tcp)
    } else {
        (Transport::Udp, Protocol::Udp)
    };
    let mut scratch = vec![0u8; 65_535];
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let Ok(n) = split(&data, transport, size, &mut scratch, |p| pieces.push(p.to_vec())) else {
        assert!(pieces.is_empty(), "nothing emitted on a refusal");
        return;
    };
    assert_eq!(n, pieces.len());
    let input = ipv4::Packet::new_checked(&data[..]).expect("accepted input is IPv4");
    let mut joined = Vec::new();
    let mut headers = None;
    for p in &pieces {
        let ip = ipv4::Packet::new_checked(&p[..]).expect("a piece is IPv4");
        assert!(ip.verify_checksum());
        assert_eq!(ip.protocol(), protocol);
        let l4 = ip.payload();
        let len = u16::try_from(l4.len()).unwrap();
        let sum = checksum::combine(&[
            checksum::pseudo_header(ip.src_addr(), ip.dst_addr(), protocol, len),
            checksum::data(l4),
        ]);
        assert_eq!(sum, 0xffff, "transport checksum");
        let hlen = if tcp { usize::from(l4[12] >> 4) * 4 } else { 8 };
        let h = ip.header_len() + hlen;
        assert!(p.len() - h <= usize::from(size));
        assert_eq!(*headers.get_or_insert(h), h);
        joined.extend_from_slice(&p[h..]);
    }
    let h = headers.expect("at least one piece");
    assert_eq!(&joined[..], &input.into_inner()[h..]);
});
