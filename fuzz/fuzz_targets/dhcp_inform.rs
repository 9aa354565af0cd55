//! The DHCPINFORM responder (RFC 2131 §4.3.5) on arbitrary bytes: as the IPv4 packet a client
//! sent through its link, and as the DHCP payload of a well-formed IPv4/UDP packet from the
//! message's own `ciaddr`. It never panics, and every answer is a DHCPACK from the server's
//! tunnel address, port 67, to the asking address, port 68, without a lease time or `yiaddr`.
//!
//! The responder is called in one place, [`answer`], so that the target follows it if it moves.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use server::dhcp::{InformConfig, answer_inform};
use wire::dhcp::{MessageType, OptionCode, Packet, Repr};
use wire::ip::{Protocol, ipv4, udp};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// The responder under test: the answer to the IPv4 packet `request`, if any.
fn answer(request: &[u8]) -> Option<Vec<u8>> {
    answer_inform(request, &config())
}

fn config() -> InformConfig {
    InformConfig {
        server_address: SERVER,
        subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        routes: vec![
            (Ipv4Addr::new(0, 0, 0, 0), 0),
            (Ipv4Addr::new(192, 168, 10, 0), 24),
            (Ipv4Addr::new(172, 16, 0, 0), 12),
            (Ipv4Addr::new(10, 1, 2, 3), 32),
        ],
        domain: Some("corp.example".into()),
        dns: vec![Ipv4Addr::new(192, 168, 10, 53)],
    }
}

/// Wraps `message` in IPv4 and UDP 68 -> 67 to the limited broadcast, from `src`.
fn wrap(message: &[u8], src: Ipv4Addr) -> Option<Vec<u8>> {
    let udp_repr = udp::Repr {
        src_port: 68,
        dst_port: 67,
        payload_len: message.len(),
    };
    let ip_repr = ipv4::Repr {
        src_addr: src,
        dst_addr: Ipv4Addr::BROADCAST,
        protocol: Protocol::Udp,
        payload_len: udp_repr.buffer_len(),
        ttl: 128,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: false,
    };
    let mut packet = vec![0u8; ipv4::HEADER_LEN + udp_repr.buffer_len()];
    packet[ipv4::HEADER_LEN + udp::HEADER_LEN..].copy_from_slice(message);
    let pseudo = udp::PseudoHeader {
        src_addr: src,
        dst_addr: Ipv4Addr::BROADCAST,
    };
    udp_repr
        .emit(&mut packet[ipv4::HEADER_LEN..], Some(pseudo))
        .ok()?;
    ip_repr.emit(&mut packet[..ipv4::HEADER_LEN]).ok()?;
    Some(packet)
}

fn check_reply(reply: &[u8], client: Ipv4Addr) {
    let ip = ipv4::Packet::new_checked(reply).unwrap();
    let ip_repr = ipv4::Repr::parse(&ip).unwrap();
    assert_eq!((ip_repr.src_addr, ip_repr.dst_addr), (SERVER, client));
    let pseudo = udp::PseudoHeader {
        src_addr: SERVER,
        dst_addr: client,
    };
    let datagram = udp::Packet::new_checked(ip.payload()).unwrap();
    let udp_repr = udp::Repr::parse(&datagram, Some(pseudo)).unwrap();
    assert_eq!((udp_repr.src_port, udp_repr.dst_port), (67, 68));
    let message = Packet::new_checked(datagram.payload()).unwrap();
    let ack = Repr::parse(&message).unwrap();
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.ciaddr, client);
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.option(OptionCode::LeaseTime), None);
}

fuzz_target!(|data: &[u8]| {
    // The bytes as the IPv4 packet a client sent.
    if let Some(reply) = answer(data) {
        let client = ipv4::Packet::new_checked(data).unwrap().src_addr();
        check_reply(&reply, client);
    }
    // The bytes as the DHCP payload of a well-formed packet from their own ciaddr.
    if let Ok(packet) = Packet::new_checked(data) {
        let client = packet.ciaddr();
        if let Some(request) = wrap(data, client)
            && let Some(reply) = answer(&request)
        {
            check_reply(&reply, client);
        }
    }
});
