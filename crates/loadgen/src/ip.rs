//! IPv4 (RFC 791 §3.1) and UDP (RFC 768) headers for datagrams sent through a raw socket with
//! `IP_HDRINCL`, built with `pnet_packet`: the only way to choose the source address and port
//! of each datagram.

use core::net::SocketAddrV4;

use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Flags, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::udp::{self, MutableUdpPacket};

use crate::Error;

/// The IPv4 header we build: 20 octets, no options.
pub const IPV4_HEADER_LEN: usize = 20;
/// The UDP header (RFC 768).
pub const UDP_HEADER_LEN: usize = 8;
/// IPv4 and UDP headers together: where the UDP payload starts in a built packet.
pub const HEADERS_LEN: usize = IPV4_HEADER_LEN + UDP_HEADER_LEN;
/// The largest UDP payload we build: an IPv4 packet's total length is 16 bits.
pub const MAX_PAYLOAD: usize = u16::MAX as usize - HEADERS_LEN;
/// The TTL of built packets (Linux's default).
const TTL: u8 = 64;

/// A whole IPv4/UDP packet from `src` to `dst` carrying `payload`, with both checksums filled
/// in. `ident` is the IPv4 Identification field; DF is set, as Linux sets it on UDP.
pub fn udp_v4(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ident: u16,
    payload: &[u8],
) -> Result<Vec<u8>, Error> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::Build(format!(
            "a {}-octet UDP payload does not fit in an IPv4 packet",
            payload.len()
        )));
    }
    let total = HEADERS_LEN + payload.len();
    let mut buf = vec![0u8; total];
    let (ip_part, udp_part) = buf.split_at_mut(IPV4_HEADER_LEN);
    {
        let mut u = MutableUdpPacket::new(udp_part).ok_or_else(too_short)?;
        u.set_source(src.port());
        u.set_destination(dst.port());
        u.set_length(len16(UDP_HEADER_LEN + payload.len())?);
        u.set_payload(payload);
    }
    {
        let mut ip = MutableIpv4Packet::new(ip_part).ok_or_else(too_short)?;
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length(len16(total)?);
        ip.set_identification(ident);
        ip.set_flags(Ipv4Flags::DontFragment);
        ip.set_ttl(TTL);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Udp);
        ip.set_source(*src.ip());
        ip.set_destination(*dst.ip());
        let c = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(c);
    }
    refill_udp_checksum(&mut buf)?;
    Ok(buf)
}

/// Recomputes the UDP checksum of a packet built by [`udp_v4`] after its payload changed.
pub fn refill_udp_checksum(packet: &mut [u8]) -> Result<(), Error> {
    let (ip_part, udp_part) = packet
        .split_at_mut_checked(IPV4_HEADER_LEN)
        .ok_or_else(too_short)?;
    let ip = Ipv4Packet::new(ip_part).ok_or_else(too_short)?;
    let (src, dst) = (ip.get_source(), ip.get_destination());
    let mut u = MutableUdpPacket::new(udp_part).ok_or_else(too_short)?;
    u.set_checksum(0);
    let c = udp::ipv4_checksum(&u.to_immutable(), &src, &dst);
    // RFC 768: a computed checksum of zero is transmitted as all ones (zero means "none").
    u.set_checksum(if c == 0 { 0xffff } else { c });
    Ok(())
}

/// The UDP payload of a packet built by [`udp_v4`].
pub fn payload_mut(packet: &mut [u8]) -> Option<&mut [u8]> {
    packet.get_mut(HEADERS_LEN..)
}

fn len16(n: usize) -> Result<u16, Error> {
    u16::try_from(n).map_err(|_| Error::Build(format!("length {n} does not fit in 16 bits")))
}

fn too_short() -> Error {
    Error::Build("buffer shorter than the IPv4 and UDP headers".to_owned())
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use wire::ip::{Protocol, ipv4 as wipv4, udp as wudp};

    use super::*;

    /// Checks a built packet with the project's own, independent parsers (`wire::ip`).
    fn verify(packet: &[u8]) -> (SocketAddrV4, SocketAddrV4, Vec<u8>) {
        let ip = wipv4::Packet::new_checked(packet).expect("IPv4 header");
        assert!(ip.verify_checksum(), "IPv4 header checksum");
        assert_eq!(ip.protocol(), Protocol::Udp);
        assert_eq!(usize::from(ip.total_len()), packet.len());
        assert!(ip.dont_frag() && !ip.is_fragment());
        let u = wudp::Packet::new_checked(ip.payload()).expect("UDP header");
        let pseudo = wudp::PseudoHeader {
            src_addr: ip.src_addr(),
            dst_addr: ip.dst_addr(),
        };
        assert!(u.verify_checksum(pseudo), "UDP checksum");
        assert_ne!(u.checksum(), 0, "UDP checksum present");
        (
            SocketAddrV4::new(ip.src_addr(), u.src_port()),
            SocketAddrV4::new(ip.dst_addr(), u.dst_port()),
            u.payload().to_vec(),
        )
    }

    #[test]
    fn built_packets_have_valid_checksums() {
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 18, 3, 77), 40123);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 500);
        for len in [0usize, 1, 2, 3, 28, 333, 1472] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let p = udp_v4(src, dst, 0x1234, &payload).unwrap();
            assert_eq!(p.len(), HEADERS_LEN + len);
            assert_eq!(verify(&p), (src, dst, payload));
        }
    }

    #[test]
    fn checksum_follows_a_changed_payload() {
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 19, 255, 254), 1024);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 4500);
        let mut p = udp_v4(src, dst, 1, &[0u8; 64]).unwrap();
        payload_mut(&mut p).unwrap()[4..12].copy_from_slice(&[0xa5; 8]);
        let stale = wudp::Packet::new_checked(&p[IPV4_HEADER_LEN..]).unwrap();
        let pseudo = wudp::PseudoHeader {
            src_addr: *src.ip(),
            dst_addr: *dst.ip(),
        };
        assert!(
            !stale.verify_checksum(pseudo),
            "the edit must break the old checksum"
        );
        refill_udp_checksum(&mut p).unwrap();
        verify(&p);
    }

    #[test]
    fn a_zero_sum_is_sent_as_all_ones() {
        // Search payloads for one whose checksum computes to zero: it must go out as 0xffff.
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 1);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 2);
        let found = (0..=u16::MAX).find_map(|v| {
            let p = udp_v4(src, dst, 0, &v.to_be_bytes()).unwrap();
            let c = u16::from_be_bytes([p[26], p[27]]);
            (c == 0xffff).then_some(p)
        });
        let p = found.expect("some 2-octet payload sums to zero");
        verify(&p);
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        assert!(udp_v4(a, a, 0, &vec![0; MAX_PAYLOAD + 1]).is_err());
        assert!(udp_v4(a, a, 0, &vec![0; MAX_PAYLOAD]).is_ok());
    }
}
