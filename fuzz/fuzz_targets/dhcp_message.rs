//! BOOTP/DHCP messages (RFC 2131 §2, RFC 2132) on arbitrary bytes: parse, emit, parse again to
//! the same `Repr`, byte-exact for canonical messages (no Pad before End, End present, zeros
//! after End up to 300 octets). Classless routes (RFC 3442) re-parse to themselves. And
//! `answer_inform` never panics, neither on the bytes as an IPv4 packet nor on the bytes as the
//! DHCP payload of a well-formed IPv4/UDP packet from the message's `ciaddr`.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use server::dhcp::{InformConfig, answer_inform};
use wire::dhcp::{
    ClasslessRoute, ClasslessRoutes, MIN_MESSAGE_LEN, MessageType, OPTIONS_OFFSET, OptionCode,
    Packet, Repr,
};
use wire::ip::{Protocol, ipv4, udp};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// Whether `data` is in the form `Repr::emit` writes (the magic cookie is checked by parse).
fn canonical(data: &[u8]) -> bool {
    let mut at = OPTIONS_OFFSET;
    loop {
        match data.get(at) {
            None | Some(0x00) => return false,
            Some(0xff) => break,
            Some(_) => {
                let Some(&len) = data.get(at + 1) else {
                    return false;
                };
                at += 2 + usize::from(len);
            }
        }
    }
    let end = at + 1;
    data.len() == end.max(MIN_MESSAGE_LEN) && data[end..].iter().all(|&b| b == 0)
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
    let cfg = config();
    // The bytes as a whole IPv4 packet.
    if let Some(reply) = answer_inform(data, &cfg) {
        let client = ipv4::Packet::new_checked(data).unwrap().src_addr();
        check_reply(&reply, client);
    }

    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (
        packet.client_hw_addr(),
        packet.broadcast(),
        packet.options(),
    );

    // The bytes as the DHCP payload of a well-formed packet from their own ciaddr.
    let client = packet.ciaddr();
    if let Some(request) = wrap(data, client)
        && let Some(reply) = answer_inform(&request, &cfg)
    {
        check_reply(&reply, client);
    }

    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let _ = (repr.message_type(), repr.parameter_request_list());
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out).unwrap();
    let again = Packet::new_checked(&out[..]).unwrap();
    assert_eq!(Repr::parse(&again).unwrap(), repr);
    if canonical(data) {
        assert_eq!(out, data);
    }

    for opt in &repr.options {
        if !matches!(
            opt.code,
            OptionCode::ClasslessStaticRoute | OptionCode::MsClasslessStaticRoute
        ) {
            continue;
        }
        for route in ClasslessRoutes::new(opt.data) {
            let Ok(route) = route else { break };
            let mut buf = vec![0u8; route.buffer_len()];
            route.emit(&mut buf).unwrap();
            let (back, rest) = ClasslessRoute::parse(&buf).unwrap();
            assert!(rest.is_empty());
            assert_eq!(
                (back.prefix_len, back.router),
                (route.prefix_len, route.router)
            );
            // Emitting clears host bits only.
            let mask = u32::MAX
                .checked_shl(32 - u32::from(route.prefix_len))
                .unwrap_or(0);
            assert_eq!(
                u32::from(back.destination),
                u32::from(route.destination) & mask
            );
        }
    }
});
