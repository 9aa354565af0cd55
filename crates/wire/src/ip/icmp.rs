//! ICMP for IPv4 (RFC 792): the header view, and the "fragmentation needed and DF set" error
//! that path MTU discovery relies on (RFC 1191).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Type = 3    |   Code = 4    |           Checksum            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           unused = 0          |         Next-Hop MTU          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Internet Header + 64 bits of Original Datagram Data      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Destination Unreachable with code 4 is RFC 792's "fragmentation needed and DF set"; RFC 1191
//! §4 puts the next-hop MTU in the low 16 bits of the unused word. The checksum is "the 16-bit
//! ones's complement of the one's complement sum of the ICMP message starting with the ICMP
//! Type" (RFC 792).
//!
//! [`emit_frag_needed`] builds the whole IPv4 + ICMP packet from the datagram that did not fit:
//! from our address to its source, quoting its IP header and as much of its data as fits in 576
//! bytes in all (RFC 1812 §4.3.2.3; RFC 792 asks for at least the first 64 bits of data).
//! [`may_send_frag_needed`] says whether a datagram may be answered so at all (RFC 1122
//! §3.2.2: never an ICMP error about an ICMP error, a non-first fragment, or a datagram whose
//! source is not one host).

use core::net::Ipv4Addr;

use super::{Protocol, checksum, ipv4};
use crate::{Error, Result};

mod field {
    use crate::Field;

    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Field = 2..4;
    pub(super) const UNUSED: Field = 4..6;
    pub(super) const NEXT_HOP_MTU: Field = 6..8;
}

/// The length of the ICMP header (type, code, checksum and the 32-bit word after them).
pub const HEADER_LEN: usize = field::NEXT_HOP_MTU.end;

/// The longest ICMP error we build, IPv4 header included (RFC 1812 §4.3.2.3: "as much of the
/// original datagram as possible without the length of the ICMP datagram exceeding 576
/// bytes").
pub const MAX_ERROR_LEN: usize = 576;

/// Destination Unreachable code 4: fragmentation needed and DF set (RFC 792).
pub const CODE_FRAG_NEEDED: u8 = 4;

/// The TTL of the errors we send (RFC 1700's default IP TTL, as hosts use).
const TTL: u8 = 64;

/// The TOS octet of the errors we send: precedence 6, internetwork control (RFC 1812
/// §4.3.2.5: Destination Unreachable "SHOULD have their precedence value set to 6").
const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;

enum_with_unknown! {
    /// ICMP message types (RFC 792).
    pub enum Message(u8) {
        /// Echo Reply.
        EchoReply = 0x00,
        /// Destination Unreachable (an error).
        DstUnreachable = 0x03,
        /// Source Quench (an error).
        SourceQuench = 0x04,
        /// Redirect (an error).
        Redirect = 0x05,
        /// Echo Request.
        EchoRequest = 0x08,
        /// Time Exceeded (an error).
        TimeExceeded = 0x0b,
        /// Parameter Problem (an error).
        ParamProblem = 0x0c,
        /// Timestamp.
        Timestamp = 0x0d,
        /// Timestamp Reply.
        TimestampReply = 0x0e,
    }
}

impl Message {
    /// Whether this type is an ICMP error message (RFC 1122 §3.2.2), which must never be
    /// answered with another one. Unknown types are not errors.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Self::DstUnreachable
                | Self::SourceQuench
                | Self::Redirect
                | Self::TimeExceeded
                | Self::ParamProblem
        )
    }
}

/// A read/write view of an ICMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic until [`Self::check_len`] passed.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks it ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the 8-byte header fits. The message is the whole buffer.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::truncated("icmp.header"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Type field.
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the header.
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// The Code field.
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the header.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[allow(clippy::indexing_slicing)] // All fields lie in the checked header.
    fn read_u16(&self, f: crate::Field) -> u16 {
        let d = &self.buffer.as_ref()[f];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The Checksum field.
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The Next-Hop MTU of a "fragmentation needed" message (RFC 1191 §4; 0 from routers
    /// older than it).
    pub fn next_hop_mtu(&self) -> u16 {
        self.read_u16(field::NEXT_HOP_MTU)
    }

    /// What follows the header (for errors: the quoted datagram).
    #[allow(clippy::indexing_slicing)] // `check_len`: HEADER_LEN <= buffer length.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[allow(clippy::indexing_slicing)] // All fields lie in the header.
    fn write_u16(&mut self, f: crate::Field, value: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Type field.
    #[allow(clippy::indexing_slicing)] // Requires a buffer of at least HEADER_LEN.
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the Code field.
    #[allow(clippy::indexing_slicing)] // Requires a buffer of at least HEADER_LEN.
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the Checksum field to a raw value.
    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM, value);
    }

    /// Sets the unused word to zero and the Next-Hop MTU (RFC 1191 §4).
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        self.write_u16(field::UNUSED, 0);
        self.write_u16(field::NEXT_HOP_MTU, value);
    }

    /// The data after the header, mutably.
    #[allow(clippy::indexing_slicing)] // Requires a buffer of at least HEADER_LEN.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(!sum);
    }
}

/// Whether an address names one host, as the source of a datagram we answer must (RFC 1122
/// §3.2.2): not zero, loopback, limited broadcast, multicast or Class E.
fn is_one_host(addr: Ipv4Addr) -> bool {
    !(addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_broadcast()
        || addr.is_multicast()
        || addr.octets()[0] >= 240)
}

/// Whether `packet`, an IPv4 datagram too large for the next hop, may be answered with
/// "fragmentation needed and DF set": it is a well-formed IPv4 header (RFC 791) with Don't
/// Fragment set, and RFC 1122 §3.2.2 does not forbid an ICMP error about it, so it is not
/// itself an ICMP error message (or an ICMP message too short to tell), not a non-first
/// fragment, not sent to a multicast or the limited broadcast address, and from a source that
/// names one host. The caller decides that it is too large.
pub fn may_send_frag_needed(packet: &[u8]) -> bool {
    let Ok(ip) = ipv4::Packet::new_checked(packet) else {
        return false;
    };
    if ip.version() != 4 || !ip.dont_frag() || ip.frag_offset() != 0 {
        return false;
    }
    let dst = ip.dst_addr();
    if !is_one_host(ip.src_addr()) || dst.is_multicast() || dst.is_broadcast() {
        return false;
    }
    if ip.protocol() == Protocol::Icmp {
        // "An ICMP error message MUST NOT be sent as the result of receiving ... an ICMP
        // error message" (RFC 1122 §3.2.2). No type octet: treat it as one.
        return ip
            .payload()
            .first()
            .is_some_and(|&t| !Message::from(t).is_error());
    }
    true
}

/// Writes into `out` a complete IPv4 packet carrying ICMP "fragmentation needed and DF set"
/// (RFC 792 type 3 code 4) with `next_hop_mtu` (RFC 1191 §4), about `offending`: from
/// `our_addr` to the offending datagram's source, quoting its IP header and data up to 576
/// bytes in all (RFC 1812 §4.3.2.3), with both checksums filled. Returns the length written,
/// at most [`MAX_ERROR_LEN`].
///
/// `offending` must be a well-formed IPv4 header; check [`may_send_frag_needed`] first.
/// Errors: `offending` does not parse, or `out` is too small.
pub fn emit_frag_needed(
    offending: &[u8],
    next_hop_mtu: u16,
    our_addr: Ipv4Addr,
    out: &mut [u8],
) -> Result<usize> {
    let ip = ipv4::Packet::new_checked(offending)?;
    if ip.version() != 4 {
        return Err(Error::bad_value("ipv4.version"));
    }
    let room = MAX_ERROR_LEN - ipv4::HEADER_LEN - HEADER_LEN;
    let quote = offending
        .get(..usize::from(ip.total_len()).min(room))
        .ok_or(Error::truncated("icmp.quote"))?;
    let icmp_len = HEADER_LEN + quote.len();
    let total = ipv4::HEADER_LEN + icmp_len;
    let out = out
        .get_mut(..total)
        .ok_or(Error::buffer_too_small("icmp.frag_needed"))?;
    let (header, message) = out.split_at_mut(ipv4::HEADER_LEN);
    ipv4::Repr {
        src_addr: our_addr,
        dst_addr: ip.src_addr(),
        protocol: Protocol::Icmp,
        payload_len: icmp_len,
        ttl: TTL,
        dscp_ecn: TOS_INTERNETWORK_CONTROL,
        // An atomic datagram (DF set, unfragmented): its Identification is not used (RFC
        // 6864 §4.1), and at 576 bytes or less it fits every path.
        ident: 0,
        dont_frag: true,
    }
    .emit(header)?;
    let mut icmp = Packet::new_unchecked(message);
    icmp.set_msg_type(Message::DstUnreachable);
    icmp.set_code(CODE_FRAG_NEEDED);
    icmp.set_next_hop_mtu(next_hop_mtu);
    icmp.data_mut().copy_from_slice(quote);
    icmp.fill_checksum();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 42, 10);
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 42, 1);
    const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// An IPv4 datagram of `total` bytes from the client, DF as given, payload 0, 1, 2, ...
    fn datagram(protocol: Protocol, total: usize, dont_frag: bool) -> Vec<u8> {
        let mut p: Vec<u8> = (0..total).map(|i| i as u8).collect();
        ipv4::Repr {
            src_addr: CLIENT,
            dst_addr: REMOTE,
            protocol,
            payload_len: total - ipv4::HEADER_LEN,
            ttl: 128,
            dscp_ecn: 0,
            ident: 0x4242,
            dont_frag,
        }
        .emit(&mut p)
        .unwrap();
        p
    }

    fn icmp_datagram(msg_type: u8, total: usize) -> Vec<u8> {
        let mut p = datagram(Protocol::Icmp, total, true);
        if total > ipv4::HEADER_LEN {
            p[ipv4::HEADER_LEN] = msg_type;
        }
        p
    }

    #[test]
    fn frag_needed_for_a_large_datagram() {
        let offending = datagram(Protocol::Tcp, 1400, true);
        let mut out = [0u8; MAX_ERROR_LEN];
        let n = emit_frag_needed(&offending, 1280, SERVER, &mut out).unwrap();
        assert_eq!(n, 576, "RFC 1812: up to 576 bytes in all");
        let ip = ipv4::Packet::new_checked(&out[..n]).unwrap();
        let repr = ipv4::Repr::parse(&ip).unwrap();
        assert_eq!((repr.src_addr, repr.dst_addr), (SERVER, CLIENT));
        assert_eq!(repr.protocol, Protocol::Icmp);
        assert_eq!((repr.ttl, repr.dscp_ecn, repr.dont_frag), (64, 0xc0, true));
        assert!(ip.verify_checksum());
        let icmp = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), Message::DstUnreachable);
        assert_eq!(icmp.code(), CODE_FRAG_NEEDED);
        assert_eq!(icmp.next_hop_mtu(), 1280);
        assert_eq!(&ip.payload()[4..6], &[0, 0], "unused half is zero");
        assert!(icmp.verify_checksum());
        assert_eq!(
            icmp.data(),
            &offending[..548],
            "header and first 528 data bytes"
        );
        // The checksum field equals a computation from scratch.
        let mut copy = ip.payload().to_vec();
        copy[2..4].fill(0);
        assert_eq!(icmp.checksum(), !checksum::data(&copy));
    }

    #[test]
    fn short_datagram_is_quoted_whole_and_padding_is_not() {
        // 28 bytes: the IP header and exactly the 64 bits RFC 792 asks for.
        let mut offending = datagram(Protocol::Udp, 28, true);
        offending.extend_from_slice(&[0xee; 6]); // link padding past Total Length
        let mut out = [0u8; MAX_ERROR_LEN];
        let n = emit_frag_needed(&offending, 576, SERVER, &mut out).unwrap();
        assert_eq!(n, 20 + 8 + 28);
        let ip = ipv4::Packet::new_checked(&out[..n]).unwrap();
        let icmp = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.data(), &offending[..28]);
        assert!(icmp.verify_checksum() && ip.verify_checksum());
    }

    #[test]
    fn emit_errors() {
        let offending = datagram(Protocol::Tcp, 1400, true);
        let mut small = [0u8; 575];
        assert_eq!(
            emit_frag_needed(&offending, 1280, SERVER, &mut small),
            Err(Error::buffer_too_small("icmp.frag_needed"))
        );
        let mut out = [0u8; MAX_ERROR_LEN];
        assert!(emit_frag_needed(&offending[..19], 1280, SERVER, &mut out).is_err());
        assert!(emit_frag_needed(&offending[..100], 1280, SERVER, &mut out).is_err());
        let mut v6 = offending.clone();
        v6[0] = 0x65;
        assert!(emit_frag_needed(&v6, 1280, SERVER, &mut out).is_err());
    }

    #[test]
    fn deconstruct_and_construct() {
        // An Echo Request header, then rebuilt through the setters.
        let bytes = [0x08, 0x00, 0xf7, 0xfd, 0x00, 0x01, 0x00, 0x01];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.msg_type(), Message::EchoRequest);
        assert!(!p.msg_type().is_error());
        assert_eq!((p.code(), p.checksum(), p.next_hop_mtu()), (0, 0xf7fd, 1));
        assert!(p.verify_checksum());
        assert!(p.data().is_empty());
        let mut out = [0xffu8; 8];
        let mut q = Packet::new_unchecked(&mut out[..]);
        q.set_msg_type(Message::EchoRequest);
        q.set_code(0);
        q.set_next_hop_mtu(1);
        out[4..6].copy_from_slice(&[0, 1]);
        Packet::new_unchecked(&mut out[..]).fill_checksum();
        assert_eq!(out, bytes);
        assert_eq!(
            Packet::new_checked(&bytes[..7]).unwrap_err(),
            Error::truncated("icmp.header")
        );
    }

    #[test]
    fn who_may_be_answered() {
        assert!(may_send_frag_needed(&datagram(Protocol::Tcp, 1400, true)));
        assert!(may_send_frag_needed(&datagram(Protocol::Udp, 1400, true)));
        assert!(
            !may_send_frag_needed(&datagram(Protocol::Tcp, 1400, false)),
            "no DF"
        );
        // ICMP queries may be answered; ICMP errors and unreadable ICMP may not.
        assert!(may_send_frag_needed(&icmp_datagram(8, 1400)));
        assert!(may_send_frag_needed(&icmp_datagram(0, 1400)));
        for error_type in [3, 4, 5, 11, 12] {
            assert!(!may_send_frag_needed(&icmp_datagram(error_type, 1400)));
        }
        assert!(!may_send_frag_needed(&icmp_datagram(8, 20)), "no ICMP type");
        // Non-first fragment (offset 185 * 8, DF kept to isolate the rule).
        let mut p = datagram(Protocol::Tcp, 1400, true);
        p[7] = 0xb9;
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
        assert!(!may_send_frag_needed(&p));
        // Sources that are not one host, and group destinations.
        for (src, dst) in [
            (Ipv4Addr::UNSPECIFIED, REMOTE),
            (Ipv4Addr::new(127, 0, 0, 1), REMOTE),
            (Ipv4Addr::BROADCAST, REMOTE),
            (Ipv4Addr::new(224, 0, 0, 5), REMOTE),
            (Ipv4Addr::new(240, 0, 0, 1), REMOTE),
            (CLIENT, Ipv4Addr::new(239, 1, 2, 3)),
            (CLIENT, Ipv4Addr::BROADCAST),
        ] {
            let mut p = datagram(Protocol::Udp, 1400, true);
            let mut v = ipv4::Packet::new_unchecked(&mut p[..]);
            v.set_src_addr(src);
            v.set_dst_addr(dst);
            v.fill_checksum();
            assert!(!may_send_frag_needed(&p), "{src} -> {dst}");
        }
        // Not IPv4 at all.
        assert!(!may_send_frag_needed(&[]));
        assert!(!may_send_frag_needed(&[0x45; 19]));
        let mut v6 = datagram(Protocol::Tcp, 60, true);
        v6[0] = 0x65;
        assert!(!may_send_frag_needed(&v6));
    }

    #[test]
    fn never_panics_on_mutated_or_truncated_input() {
        let good = datagram(Protocol::Icmp, 64, true);
        let mut out = [0u8; MAX_ERROR_LEN];
        for len in 0..=good.len() {
            let p = &good[..len];
            let _ = may_send_frag_needed(p);
            let _ = emit_frag_needed(p, 1280, SERVER, &mut out);
        }
        for i in 0..good.len() {
            for v in [0x00, 0x03, 0x08, 0x40, 0x45, 0x4f, 0xff] {
                let mut p = good.clone();
                p[i] = v;
                let _ = may_send_frag_needed(&p);
                if let Ok(n) = emit_frag_needed(&p, 1280, SERVER, &mut out) {
                    let ip = ipv4::Packet::new_checked(&out[..n]).unwrap();
                    assert!(ip.verify_checksum());
                    assert!(Packet::new_checked(ip.payload()).unwrap().verify_checksum());
                }
            }
        }
    }
}
