//! The test traffic of `throughput`: UDP datagrams (RFC 768) in IPv4 whose payload says which
//! session sent them and in which order, so the receiving side can count per session and check
//! that what arrived is what was sent.
//!
//! Payload layout (all big-endian):
//!
//! ```text
//!  0       4          8                 16
//! +-------+----------+-----------------+---------------------------+
//! | "l2lg"| session  |  sequence       | filler: octet j = session ^ j |
//! +-------+----------+-----------------+---------------------------+
//! ```
//!
//! The filler depends on the session only, so a sender patches just the sequence number of a
//! reused buffer; a receiver checks the header of every datagram and the filler of a sample.

use core::net::{Ipv4Addr, SocketAddrV4};

use wire::ip::{Protocol, ipv4, udp};

/// The first four octets of every test payload.
pub const MAGIC: [u8; 4] = *b"l2lg";
/// Magic, session and sequence number.
pub const HEADER_LEN: usize = 16;
/// IPv4 (without options) and UDP headers.
pub const IP_UDP_LEN: usize = 20 + udp::HEADER_LEN;
/// The smallest IPv4 packet the traffic can use.
pub const MIN_PACKET: usize = IP_UDP_LEN + HEADER_LEN;

/// Why a received datagram is not one we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Bad {
    /// Shorter than the header.
    #[error("shorter than the test header")]
    Short,
    /// The magic is wrong.
    #[error("not a test payload (magic)")]
    Magic,
    /// A session number nobody uses.
    #[error("unknown session")]
    Session,
    /// Another length than was sent.
    #[error("wrong length")]
    Length,
    /// The filler differs from what the session sends.
    #[error("payload corrupted")]
    Pattern,
    /// Not an IPv4/UDP packet, or for another address or port: not test traffic at all.
    #[error("not the expected IPv4/UDP packet")]
    Ip,
}

/// The UDP payload length of an IPv4 packet of `packet_size` octets.
pub fn payload_len(packet_size: usize) -> Option<usize> {
    (packet_size >= MIN_PACKET).then(|| packet_size - IP_UDP_LEN)
}

fn filler(session: u32, j: usize) -> u8 {
    (session as u8) ^ (j as u8)
}

/// A payload of `len` octets (at least [`HEADER_LEN`]) for `session` and `seq`.
pub fn payload(len: usize, session: u32, seq: u64) -> Vec<u8> {
    let mut p = vec![0u8; len.max(HEADER_LEN)];
    for (j, b) in p.iter_mut().enumerate().skip(HEADER_LEN) {
        *b = filler(session, j);
    }
    if let Some(h) = p.get_mut(..8) {
        h[..4].copy_from_slice(&MAGIC);
        h[4..].copy_from_slice(&session.to_be_bytes());
    }
    set_seq(&mut p, seq);
    p
}

/// Writes `seq` into a payload built by [`payload`].
pub fn set_seq(payload: &mut [u8], seq: u64) {
    if let Some(s) = payload.get_mut(8..16) {
        s.copy_from_slice(&seq.to_be_bytes());
    }
}

/// A whole IPv4 packet of `size` octets from `src` to `dst` carrying [`payload`].
pub fn packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    size: usize,
    session: u32,
    seq: u64,
) -> Vec<u8> {
    let len = payload_len(size).unwrap_or(HEADER_LEN);
    testkit::packet::udp_packet(src, dst, &payload(len, session, seq))
}

/// Checks a received payload: header always, filler when `full`. Returns the session and
/// sequence number.
pub fn check(
    payload: &[u8],
    expect_len: usize,
    sessions: u32,
    full: bool,
) -> Result<(u32, u64), Bad> {
    let head: &[u8; HEADER_LEN] = payload
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Bad::Short)?;
    let (magic, rest) = head.split_at(4);
    let (session, seq) = rest.split_at(4);
    if magic != MAGIC {
        return Err(Bad::Magic);
    }
    let session = u32::from_be_bytes(session.try_into().map_err(|_| Bad::Short)?);
    let seq = u64::from_be_bytes(seq.try_into().map_err(|_| Bad::Short)?);
    if session >= sessions {
        return Err(Bad::Session);
    }
    if payload.len() != expect_len {
        return Err(Bad::Length);
    }
    if full
        && payload
            .iter()
            .enumerate()
            .skip(HEADER_LEN)
            .any(|(j, b)| *b != filler(session, j))
    {
        return Err(Bad::Pattern);
    }
    Ok((session, seq))
}

/// Checks a whole IPv4 packet received by a client: UDP to `dst`, valid IPv4 header, and a
/// payload as [`check`] with `full`.
pub fn check_ip(
    packet: &[u8],
    dst: SocketAddrV4,
    expect_len: usize,
    sessions: u32,
) -> Result<(u32, u64), Bad> {
    let p = ipv4::Packet::new_checked(packet).map_err(|_| Bad::Ip)?;
    let repr = ipv4::Repr::parse(&p).map_err(|_| Bad::Ip)?;
    if repr.protocol != Protocol::Udp || repr.dst_addr != *dst.ip() {
        return Err(Bad::Ip);
    }
    let body = p.payload().get(..repr.payload_len).ok_or(Bad::Ip)?;
    let u = udp::Packet::new_checked(body).map_err(|_| Bad::Ip)?;
    if u.dst_port() != dst.port() {
        return Err(Bad::Ip);
    }
    let data = u.payload();
    check(data, expect_len, sessions, true)
}

/// The source address of an IPv4 packet, if it parses.
pub fn source(packet: &[u8]) -> Option<Ipv4Addr> {
    testkit::packet::addresses(packet).map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn payload_round_trip_and_every_defect_is_named() {
        let len = payload_len(1400).unwrap();
        assert_eq!(len, 1372);
        assert_eq!(payload_len(MIN_PACKET - 1), None);
        let mut p = payload(len, 7, 1);
        assert_eq!(check(&p, len, 8, true), Ok((7, 1)));
        set_seq(&mut p, 0x0102_0304_0506_0708);
        assert_eq!(check(&p, len, 8, true), Ok((7, 0x0102_0304_0506_0708)));
        assert_eq!(check(&p, len, 7, true), Err(Bad::Session));
        assert_eq!(check(&p, len + 1, 8, true), Err(Bad::Length));
        assert_eq!(check(&p[..10], len, 8, true), Err(Bad::Short));
        let mut corrupt = p.clone();
        corrupt[900] ^= 1;
        assert_eq!(check(&corrupt, len, 8, true), Err(Bad::Pattern));
        // Only the header is looked at without `full`.
        assert_eq!(
            check(&corrupt, len, 8, false),
            Ok((7, 0x0102_0304_0506_0708))
        );
        let mut magic = p.clone();
        magic[0] = b'x';
        assert_eq!(check(&magic, len, 8, false), Err(Bad::Magic));
        // Two sessions' fillers differ.
        assert_ne!(payload(len, 1, 0)[100], payload(len, 2, 0)[100]);
    }

    #[test]
    fn whole_packets_are_checked_against_their_destination() {
        let src = a("10.77.0.2:9000");
        let dst = a("10.78.0.5:40001");
        let pkt = packet(src, dst, 1400, 3, 42);
        assert_eq!(pkt.len(), 1400);
        let len = payload_len(1400).unwrap();
        assert_eq!(check_ip(&pkt, dst, len, 4), Ok((3, 42)));
        assert_eq!(source(&pkt), Some(*src.ip()));
        assert_eq!(check_ip(&pkt, a("10.78.0.6:40001"), len, 4), Err(Bad::Ip));
        assert_eq!(check_ip(&pkt, a("10.78.0.5:40002"), len, 4), Err(Bad::Ip));
        let mut corrupt = pkt.clone();
        corrupt[1000] ^= 0x80;
        assert_eq!(check_ip(&corrupt, dst, len, 4), Err(Bad::Pattern));
        assert_eq!(check_ip(&pkt[..10], dst, len, 4), Err(Bad::Ip));
        // A small packet still carries the header.
        let small = packet(src, dst, MIN_PACKET, 0, 9);
        assert_eq!(small.len(), MIN_PACKET);
        assert_eq!(check_ip(&small, dst, HEADER_LEN, 1), Ok((0, 9)));
    }
}
