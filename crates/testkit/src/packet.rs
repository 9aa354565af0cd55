//! Minimal IPv4 packets for the LAN side of tests: ICMP echo (RFC 792), UDP (RFC 768) and
//! TCP SYNs with an MSS option (RFC 9293 §3.1, §3.2), built and read with `wire::ip`.

use core::net::{Ipv4Addr, SocketAddrV4};

use wire::ip::Protocol;
use wire::ip::{checksum, ipv4, tcp, udp};

/// The ICMP header length of an echo message (type, code, checksum, identifier, sequence).
const ICMP_ECHO_HEADER_LEN: usize = 8;
/// ICMP Echo Reply (RFC 792).
const ICMP_ECHO_REPLY: u8 = 0;
/// ICMP Echo Request (RFC 792).
const ICMP_ECHO_REQUEST: u8 = 8;
/// The TTL of packets we build.
const TTL: u8 = 64;

/// An ICMP echo message read from an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpEcho {
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// Reply (type 0) or request (type 8).
    pub reply: bool,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
    /// Data.
    pub data: Vec<u8>,
}

fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: Protocol, payload: &[u8]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: payload.len(),
        ttl: TTL,
        dscp_ecn: 0,
        ident: 0x1234,
        dont_frag: true,
    };
    let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
    let (header, body) = buf.split_at_mut(repr.buffer_len());
    body.copy_from_slice(payload);
    // The buffer holds exactly the header and a payload of at most a few KB.
    if repr.emit(header).is_err() {
        return Vec::new();
    }
    buf
}

/// An ICMP Echo Request (`reply == false`) or Echo Reply from `src` to `dst`.
pub fn icmp_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    reply: bool,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(ICMP_ECHO_HEADER_LEN + data.len());
    icmp.push(if reply {
        ICMP_ECHO_REPLY
    } else {
        ICMP_ECHO_REQUEST
    });
    icmp.push(0);
    icmp.extend_from_slice(&[0, 0]);
    icmp.extend_from_slice(&ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let sum = !checksum::data(&icmp);
    if let Some(c) = icmp.get_mut(2..4) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    ipv4_packet(src, dst, Protocol::Icmp, &icmp)
}

/// A UDP datagram in IPv4 with a computed checksum.
pub fn udp_packet(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let repr = udp::Repr {
        src_port: src.port(),
        dst_port: dst.port(),
        payload_len: payload.len(),
    };
    let mut datagram = vec![0u8; repr.buffer_len()];
    if let Some(body) = datagram.get_mut(udp::HEADER_LEN..) {
        body.copy_from_slice(payload);
    }
    let pseudo = udp::PseudoHeader {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
    };
    if repr.emit(&mut datagram, Some(pseudo)).is_err() {
        return Vec::new();
    }
    ipv4_packet(*src.ip(), *dst.ip(), Protocol::Udp, &datagram)
}

/// The source and destination of an IPv4 packet, if it parses.
pub fn addresses(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let p = ipv4::Packet::new_checked(packet).ok()?;
    let repr = ipv4::Repr::parse(&p).ok()?;
    Some((repr.src_addr, repr.dst_addr))
}

/// Reads an ICMP echo message (with a valid IPv4 and ICMP checksum).
pub fn parse_icmp_echo(packet: &[u8]) -> Option<IcmpEcho> {
    let p = ipv4::Packet::new_checked(packet).ok()?;
    let repr = ipv4::Repr::parse(&p).ok()?;
    if repr.protocol != Protocol::Icmp {
        return None;
    }
    let icmp = p.payload().get(..repr.payload_len)?;
    if checksum::data(icmp) != 0xffff {
        return None;
    }
    let (&kind, rest) = icmp.split_first()?;
    let reply = match kind {
        ICMP_ECHO_REPLY => true,
        ICMP_ECHO_REQUEST => false,
        _ => return None,
    };
    let (&code, rest) = rest.split_first()?;
    if code != 0 {
        return None;
    }
    let (_, rest) = rest.split_at_checked(2)?;
    let (ident, rest) = rest.split_at_checked(2)?;
    let (seq, data) = rest.split_at_checked(2)?;
    Some(IcmpEcho {
        src: repr.src_addr,
        dst: repr.dst_addr,
        reply,
        ident: u16::from_be_bytes(ident.try_into().ok()?),
        seq: u16::from_be_bytes(seq.try_into().ok()?),
        data: data.to_vec(),
    })
}

/// The Echo Reply a host at the request's destination sends back, if `packet` is a request.
pub fn echo_reply_to(packet: &[u8]) -> Option<Vec<u8>> {
    let req = parse_icmp_echo(packet)?;
    if req.reply {
        return None;
    }
    Some(icmp_echo(
        req.dst, req.src, true, req.ident, req.seq, &req.data,
    ))
}

/// The Parameter Request List of the DHCPINFORMs built by [`dhcp_inform`]: subnet mask,
/// domain name, router, DNS, NetBIOS options, static routes (33), classless routes (121) and
/// Microsoft's (249), vendor specific (43).
pub const INFORM_REQUEST_LIST: [u8; 12] = [1, 15, 3, 6, 44, 46, 47, 31, 33, 121, 249, 43];

/// A DHCPINFORM (RFC 2131 §3.4, §4.4.3) from `client` (its IPCP address, also `ciaddr`),
/// UDP 68 → 255.255.255.255:67, with transaction ID `xid`, asking for
/// [`INFORM_REQUEST_LIST`]: what a Windows client sends through the link after IPCP.
pub fn dhcp_inform(client: Ipv4Addr, xid: u32) -> Vec<u8> {
    use wire::dhcp::{DhcpOption, MessageType, Op, OptionCode, Repr};
    let inform_type = [u8::from(MessageType::Inform)];
    let mut chaddr = [0u8; 16];
    chaddr[..6].copy_from_slice(&[0x02, 0x00, 0x4c, 0x4f, 0x4f, 0x50]);
    let repr = Repr {
        op: Op::Request,
        htype: 1,
        hlen: 6,
        hops: 0,
        xid,
        secs: 0,
        flags: 0,
        ciaddr: client,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        siaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        chaddr,
        sname: &[],
        file: &[],
        options: vec![
            DhcpOption {
                code: OptionCode::MessageType,
                data: &inform_type,
            },
            DhcpOption {
                code: OptionCode::ParameterRequestList,
                data: &INFORM_REQUEST_LIST,
            },
        ],
    };
    let mut dhcp = vec![0; repr.buffer_len()];
    if repr.emit(&mut dhcp).is_err() {
        return Vec::new();
    }
    udp_packet(
        SocketAddrV4::new(client, 68),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
        &dhcp,
    )
}

/// The length of the MSS option (RFC 9293 §3.2: kind 2, length 4).
const TCP_MSS_OPTION_LEN: usize = 4;

/// A TCP SYN (or SYN-ACK, `ack`) from `src` to `dst` announcing `mss`, with a computed
/// checksum, in IPv4 with "don't fragment" set, as hosts open connections.
pub fn tcp_syn(src: SocketAddrV4, dst: SocketAddrV4, ack: bool, mss: u16) -> Vec<u8> {
    let header_len = tcp::HEADER_LEN + TCP_MSS_OPTION_LEN;
    let mut segment = vec![0u8; header_len];
    let mut p = tcp::Packet::new_unchecked(&mut segment[..]);
    p.set_src_port(src.port());
    p.set_dst_port(dst.port());
    p.set_seq_number(0x5eed_0001);
    let flags = if ack {
        p.set_ack_number(0x5eed_1001);
        tcp::flags::SYN | tcp::flags::ACK
    } else {
        tcp::flags::SYN
    };
    p.set_header_len_and_flags(header_len, flags);
    p.set_window_len(0xffff);
    let [hi, lo] = mss.to_be_bytes();
    p.options_mut().copy_from_slice(&[2, 4, hi, lo]);
    let len = u16::try_from(header_len).unwrap_or(u16::MAX);
    let sum = checksum::combine(&[
        checksum::pseudo_header(*src.ip(), *dst.ip(), Protocol::Tcp, len),
        checksum::data(&segment),
    ]);
    tcp::Packet::new_unchecked(&mut segment[..]).set_checksum(!sum);
    ipv4_packet(*src.ip(), *dst.ip(), Protocol::Tcp, &segment)
}

/// `packet` (an IPv4 packet of ours) with "don't fragment" cleared and the header checksum
/// recomputed: a router may cut it into fragments (RFC 791 §2.3).
pub fn may_fragment(mut packet: Vec<u8>) -> Vec<u8> {
    if let Ok(mut p) = ipv4::Packet::new_checked(&mut packet[..]) {
        p.set_unfragmented(false);
        p.fill_checksum();
    }
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip() {
        let a = Ipv4Addr::new(10, 99, 0, 2);
        let b = Ipv4Addr::new(192, 168, 100, 5);
        let req = icmp_echo(a, b, false, 0x4242, 7, b"ping");
        assert_eq!(addresses(&req), Some((a, b)));
        let parsed = parse_icmp_echo(&req).unwrap();
        assert_eq!(
            parsed,
            IcmpEcho {
                src: a,
                dst: b,
                reply: false,
                ident: 0x4242,
                seq: 7,
                data: b"ping".to_vec()
            }
        );
        let reply = echo_reply_to(&req).unwrap();
        let r = parse_icmp_echo(&reply).unwrap();
        assert!(r.reply);
        assert_eq!((r.src, r.dst, r.ident, r.seq), (b, a, 0x4242, 7));
        assert_eq!(echo_reply_to(&reply), None);
    }

    #[test]
    fn corrupted_icmp_is_refused() {
        let mut req = icmp_echo(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            false,
            1,
            1,
            b"x",
        );
        let last = req.len() - 1;
        req[last] ^= 0xff;
        assert_eq!(parse_icmp_echo(&req), None);
    }

    #[test]
    fn udp_has_a_valid_checksum() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 2), 5000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 168, 100, 5), 53);
        let pkt = udp_packet(src, dst, b"hello");
        let p = ipv4::Packet::new_checked(&pkt[..]).unwrap();
        let u = udp::Packet::new_checked(p.payload()).unwrap();
        assert!(u.verify_checksum(udp::PseudoHeader {
            src_addr: *src.ip(),
            dst_addr: *dst.ip()
        }));
        assert_eq!((u.src_port(), u.dst_port()), (5000, 53));
    }

    /// The TCP checksum of an IPv4 packet verifies.
    fn tcp_checksum_ok(packet: &[u8]) -> bool {
        let p = ipv4::Packet::new_checked(packet).unwrap();
        let len = u16::try_from(p.payload().len()).unwrap();
        checksum::combine(&[
            checksum::pseudo_header(p.src_addr(), p.dst_addr(), Protocol::Tcp, len),
            checksum::data(p.payload()),
        ]) == 0xffff
    }

    #[test]
    fn tcp_syn_announces_its_mss_and_clamps() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 2), 50000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 168, 100, 5), 80);
        for ack in [false, true] {
            let mut pkt = tcp_syn(src, dst, ack, 1460);
            assert!(tcp_checksum_ok(&pkt));
            let p = ipv4::Packet::new_checked(&pkt[..]).unwrap();
            assert!(p.dont_frag());
            let t = tcp::Packet::new_checked(p.payload()).unwrap();
            assert_eq!((t.syn(), t.ack()), (true, ack));
            assert_eq!(t.mss().unwrap(), Some(1460));
            assert!(tcp::clamp_mss(&mut pkt, 1360));
            assert!(tcp_checksum_ok(&pkt));
        }
    }

    #[test]
    fn may_fragment_clears_df_only() {
        let src = SocketAddrV4::new(Ipv4Addr::new(192, 168, 100, 5), 53);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, 2), 5353);
        let df = udp_packet(src, dst, &[7; 1472]);
        let pkt = may_fragment(df.clone());
        let p = ipv4::Packet::new_checked(&pkt[..]).unwrap();
        assert!(!p.dont_frag() && !p.is_fragment());
        assert!(p.verify_checksum());
        let changed = pkt.iter().zip(&df).filter(|(a, b)| a != b).count();
        assert!(changed <= 3, "flags and checksum only");
    }
}
