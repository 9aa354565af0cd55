//! The IPv4 header (RFC 791 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Options are allowed (IHL > 5) and skipped: [`Repr`] does not carry them, so a packet with
//! options is not canonical and re-emits without them. Fragments (MF set or a non-zero offset)
//! are detected ([`Packet::is_fragment`]) and refused by [`Repr::parse`]: we never reassemble.
//! A buffer longer than Total Length (Ethernet padding) is accepted; [`Packet::payload`] ends at
//! Total Length.

use core::net::Ipv4Addr;

use super::{Protocol, checksum};
use crate::{Error, Result};

mod field {
    use crate::Field;

    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const LENGTH: Field = 2..4;
    pub(super) const IDENT: Field = 4..6;
    pub(super) const FLG_OFF: Field = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: Field = 10..12;
    pub(super) const SRC_ADDR: Field = 12..16;
    pub(super) const DST_ADDR: Field = 16..20;
}

/// The length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Flag bit: reserved, must be zero (RFC 791 §3.1).
const FLAG_RESERVED: u16 = 0x8000;
/// Flag bit: Don't Fragment.
const FLAG_DF: u16 = 0x4000;
/// Flag bit: More Fragments.
const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask (in 8-byte units).
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic until [`Self::check_len`] passed.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks every length-derived range ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed header, the header with options (IHL) and Total Length fit the
    /// buffer and are consistent (`20 <= IHL*4 <= Total Length <= buffer length`).
    #[allow(clippy::indexing_slicing)] // Lengths are checked before each index.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::truncated("ipv4.header"));
        }
        let header_len = usize::from(data[field::VER_IHL] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        if header_len < HEADER_LEN {
            return Err(Error::bad_length("ipv4.ihl"));
        }
        if total_len < header_len {
            return Err(Error::bad_length("ipv4.total_length"));
        }
        if data.len() < total_len {
            return Err(Error::truncated("ipv4.total_length"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Version field (4 for IPv4).
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the fixed header.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL * 4), options included.
    #[allow(clippy::indexing_slicing)]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The Type of Service octet (DSCP and ECN, RFC 2474 / RFC 3168).
    #[allow(clippy::indexing_slicing)]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// The Total Length field: header plus payload, in bytes.
    #[allow(clippy::indexing_slicing)]
    pub fn total_len(&self) -> u16 {
        let d = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The Identification field.
    #[allow(clippy::indexing_slicing)]
    pub fn ident(&self) -> u16 {
        let d = &self.buffer.as_ref()[field::IDENT];
        u16::from_be_bytes([d[0], d[1]])
    }

    #[allow(clippy::indexing_slicing)]
    fn flags_offset(&self) -> u16 {
        let d = &self.buffer.as_ref()[field::FLG_OFF];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The reserved flag bit (must be zero).
    pub fn reserved_flag(&self) -> bool {
        self.flags_offset() & FLAG_RESERVED != 0
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// The Fragment Offset, in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        self.flags_offset() & FRAG_OFFSET_MASK
    }

    /// Whether this packet is a fragment (MF set or a non-zero offset). We never reassemble.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// The Time to Live field.
    #[allow(clippy::indexing_slicing)]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The Protocol field.
    #[allow(clippy::indexing_slicing)]
    pub fn protocol(&self) -> Protocol {
        Protocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// The Header Checksum field.
    #[allow(clippy::indexing_slicing)]
    pub fn checksum(&self) -> u16 {
        let d = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The Source Address.
    #[allow(clippy::indexing_slicing)]
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// The Destination Address.
    #[allow(clippy::indexing_slicing)]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// The options bytes (empty when IHL is 5).
    #[allow(clippy::indexing_slicing)] // `check_len`: 20 <= header_len <= buffer length.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum verifies (RFC 791 §3.1: the one's complement sum of the
    /// header, checksum included, is all ones).
    #[allow(clippy::indexing_slicing)] // `check_len`: header_len <= buffer length.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The payload: from the end of the header (options included) to Total Length.
    #[allow(clippy::indexing_slicing)] // `check_len`: header_len <= total_len <= buffer length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets Version to 4 and IHL to `header_len / 4`.
    #[allow(clippy::indexing_slicing)] // Setters require a buffer of at least HEADER_LEN.
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets the Type of Service octet.
    #[allow(clippy::indexing_slicing)]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets Total Length.
    #[allow(clippy::indexing_slicing)]
    pub fn set_total_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets Identification.
    #[allow(clippy::indexing_slicing)]
    pub fn set_ident(&mut self, value: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&value.to_be_bytes());
    }

    /// Clears all flags and the fragment offset, then sets Don't Fragment as given.
    #[allow(clippy::indexing_slicing)]
    pub fn set_unfragmented(&mut self, dont_frag: bool) {
        let value = if dont_frag { FLAG_DF } else { 0 };
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the flags and the fragment offset of a fragment (RFC 791 §3.2): More Fragments as
    /// given, Don't Fragment clear, `offset` in 8-byte units (masked to 13 bits).
    #[allow(clippy::indexing_slicing)]
    pub fn set_fragment(&mut self, more_frags: bool, offset: u16) {
        let value = (offset & FRAG_OFFSET_MASK) | if more_frags { FLAG_MF } else { 0 };
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets Time to Live.
    #[allow(clippy::indexing_slicing)]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets Protocol.
    #[allow(clippy::indexing_slicing)]
    pub fn set_protocol(&mut self, value: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    /// Sets the Header Checksum field to a raw value.
    #[allow(clippy::indexing_slicing)]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Source Address.
    #[allow(clippy::indexing_slicing)]
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the Destination Address.
    #[allow(clippy::indexing_slicing)]
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Computes and stores the header checksum (over `header_len` bytes).
    #[allow(clippy::indexing_slicing)] // Requires a checked packet: header_len <= buffer length.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        let sum = checksum::data(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(!sum);
    }

    /// The payload, mutably (from the end of the header to Total Length).
    #[allow(clippy::indexing_slicing)] // `check_len`: header_len <= total_len <= buffer length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// A parsed, unfragmented IPv4 header (options dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source Address.
    pub src_addr: Ipv4Addr,
    /// Destination Address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: Protocol,
    /// Payload length in bytes (Total Length minus the header).
    pub payload_len: usize,
    /// Time to Live.
    pub ttl: u8,
    /// Type of Service octet (DSCP and ECN).
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Repr {
    /// Parses a checked packet: version 4, a valid header checksum, not a fragment.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::bad_value("ipv4.version"));
        }
        if !packet.verify_checksum() {
            return Err(Error::bad_value("ipv4.checksum"));
        }
        if packet.is_fragment() {
            return Err(Error::bad_value("ipv4.fragment"));
        }
        Ok(Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// The emitted header length (no options).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (no options) with its checksum into `buffer`, which must hold the
    /// header; the payload (of `payload_len` bytes) follows it and is not touched.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let total_len = HEADER_LEN
            .checked_add(self.payload_len)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(Error::bad_length("ipv4.total_length"))?;
        let header = buffer
            .get_mut(..HEADER_LEN)
            .ok_or(Error::buffer_too_small("ipv4.header"))?;
        let mut packet = Packet::new_unchecked(header);
        packet.set_version_and_header_len(HEADER_LEN);
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_unfragmented(self.dont_frag);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Outer IPv4 header of frame 1 of tcpdump's tests/02-sunrise-sunset-esp.pcap
    // (the-tcpdump-group/tcpdump @39b50f7): 192.1.2.23 -> 192.1.2.45, protocol ESP,
    // total length 0x88, ident 0xff67, TTL 64, checksum 0xf695.
    const ESP_OUTER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x88, 0xff, 0x67, 0x00, 0x00, 0x40, 0x32, 0xf6, 0x95, 0xc0, 0x01, 0x02,
        0x17, 0xc0, 0x01, 0x02, 0x2d,
    ];

    // Inner packet of the same frame (decrypted, tunnel mode): ICMP echo 192.0.2.1 -> 192.0.1.1
    // with DF, ident 0, TTL 63, checksum 0xb8a6, total length 0x54.
    const ICMP_INNER_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x54, 0x00, 0x00, 0x40, 0x00, 0x3f, 0x01, 0xb8, 0xa6, 0xc0, 0x00, 0x02,
        0x01, 0xc0, 0x00, 0x01, 0x01,
    ];

    fn inner_packet() -> Vec<u8> {
        let mut p = ICMP_INNER_HEADER.to_vec();
        p.extend((0..0x54 - 20).map(|i| i as u8));
        p
    }

    fn inner_repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(192, 0, 1, 1),
            protocol: Protocol::Icmp,
            payload_len: 0x54 - 20,
            ttl: 63,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
        }
    }

    #[test]
    fn deconstruct() {
        let bytes = inner_packet();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.total_len(), 0x54);
        assert_eq!(p.ident(), 0);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.reserved_flag());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 63);
        assert_eq!(p.protocol(), Protocol::Icmp);
        assert_eq!(p.checksum(), 0xb8a6);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 0, 1, 1));
        assert!(p.options().is_empty());
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &bytes[20..]);
    }

    #[test]
    fn deconstruct_outer_esp_header() {
        // Header only: Total Length says 0x88, so give the view a buffer that long.
        let mut bytes = ESP_OUTER.to_vec();
        bytes.resize(0x88, 0);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.protocol(), Protocol::Esp);
        assert_eq!(p.ident(), 0xff67);
        assert!(!p.dont_frag());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 1, 2, 23));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 1, 2, 45));
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p).unwrap().payload_len, 0x88 - 20);
    }

    #[test]
    fn construct() {
        let mut bytes = vec![0xa5; 0x54];
        bytes[20..].copy_from_slice(&inner_packet()[20..]);
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_version_and_header_len(20);
        p.set_dscp_ecn(0);
        p.set_total_len(0x54);
        p.set_ident(0);
        p.set_unfragmented(true);
        p.set_ttl(63);
        p.set_protocol(Protocol::Icmp);
        p.set_src_addr(Ipv4Addr::new(192, 0, 2, 1));
        p.set_dst_addr(Ipv4Addr::new(192, 0, 1, 1));
        p.fill_checksum();
        assert_eq!(bytes, inner_packet());
    }

    #[test]
    fn check_len() {
        let bytes = inner_packet();
        assert_eq!(
            Packet::new_checked(&bytes[..19]).unwrap_err(),
            Error::truncated("ipv4.header")
        );
        // Total Length 0x54 but only 0x53 bytes.
        assert_eq!(
            Packet::new_checked(&bytes[..0x53]).unwrap_err(),
            Error::truncated("ipv4.total_length")
        );
        // Trailing bytes beyond Total Length (link padding) are allowed and excluded.
        let mut padded = bytes.clone();
        padded.extend([0, 0, 0, 0]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 0x54 - 20);
        // IHL below 5.
        let mut b = bytes.clone();
        b[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::bad_length("ipv4.ihl")
        );
        // Total Length below the header length.
        let mut b = bytes.clone();
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::bad_length("ipv4.total_length")
        );
        // IHL 15 (60 bytes) beyond a 24-byte Total Length.
        let mut b = bytes.clone();
        b[0] = 0x4f;
        b[2..4].copy_from_slice(&24u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::bad_length("ipv4.total_length")
        );
    }

    #[test]
    fn parse() {
        let bytes = inner_packet();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), inner_repr());
    }

    #[test]
    fn parse_skips_options() {
        // IHL 6 with one 4-byte option (NOP NOP NOP EOL).
        let mut b = vec![
            0x46, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        b.extend([1, 1, 1, 0]);
        b.extend([0xde, 0xad, 0xbe, 0xef]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(repr.protocol, Protocol::Udp);
    }

    #[test]
    fn emit() {
        let repr = inner_repr();
        assert_eq!(repr.buffer_len(), 20);
        let mut bytes = inner_packet();
        bytes[..20].fill(0);
        repr.emit(&mut bytes).unwrap();
        assert_eq!(bytes, inner_packet());
        assert_eq!(
            repr.emit(&mut [0u8; 19]).unwrap_err(),
            Error::buffer_too_small("ipv4.header")
        );
        let huge = Repr {
            payload_len: 65516,
            ..repr
        };
        assert_eq!(
            huge.emit(&mut [0u8; 20]).unwrap_err(),
            Error::bad_length("ipv4.total_length")
        );
    }

    #[test]
    fn malformed() {
        let good = inner_packet();
        type Mutate = fn(&mut Vec<u8>);
        let cases: &[(&str, Mutate, Error)] = &[
            (
                "version 6",
                |b| b[0] = 0x65,
                Error::bad_value("ipv4.version"),
            ),
            (
                "bad checksum",
                |b| b[11] ^= 1,
                Error::bad_value("ipv4.checksum"),
            ),
            (
                "more fragments",
                |b| b[6] = 0x20,
                Error::bad_value("ipv4.fragment"),
            ),
            ("offset", |b| b[7] = 0x01, Error::bad_value("ipv4.fragment")),
            ("ihl 4", |b| b[0] = 0x44, Error::bad_length("ipv4.ihl")),
            (
                "truncated",
                |b| b.truncate(10),
                Error::truncated("ipv4.header"),
            ),
        ];
        for (name, mutate, want) in cases {
            let mut b = good.clone();
            mutate(&mut b);
            // Keep the checksum valid where the test is about another field.
            if *name != "bad checksum" && b.len() >= 20 && b[0] & 0x0f >= 5 {
                let mut p = Packet::new_unchecked(&mut b[..]);
                p.fill_checksum();
            }
            let got = Packet::new_checked(&b[..]).and_then(|p| Repr::parse(&p));
            assert_eq!(got.unwrap_err(), *want, "{name}");
        }
    }

    #[test]
    fn fragment_detection() {
        let mut b = inner_packet();
        b[6] = 0x20; // MF
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_fragment());
        assert!(p.more_frags());
        b[6] = 0x00;
        b[7] = 0xb9; // offset 185 * 8
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_fragment());
        assert_eq!(p.frag_offset(), 0xb9);
    }
}
