//! The UDP header (RFC 768).
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |                 |                 |
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! ```
//!
//! The checksum covers the IPv4 pseudo-header, the UDP header and the payload. RFC 768: "An
//! all zero transmitted checksum value means that the transmitter generated no checksum", and a
//! computed checksum of zero is transmitted as all ones. Whether a checksum is verified or
//! generated is the caller's choice: RFC 3948 §3.1.2 has transport-mode NAT-T receivers skip the
//! inner checksum, and RFC 3948 §2.1 has UDP-encapsulated ESP sent with checksum zero.
//!
//! A buffer longer than Length is accepted; [`Packet::payload`] ends at Length.

use core::net::Ipv4Addr;

use super::{Protocol, checksum};
use crate::{Error, Result};

mod field {
    use crate::Field;

    pub(super) const SRC_PORT: Field = 0..2;
    pub(super) const DST_PORT: Field = 2..4;
    pub(super) const LENGTH: Field = 4..6;
    pub(super) const CHECKSUM: Field = 6..8;
}

/// The UDP header length.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// The IPv4 source and destination addresses of the pseudo-header (RFC 768), for checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PseudoHeader {
    /// IPv4 source address.
    pub src_addr: Ipv4Addr,
    /// IPv4 destination address.
    pub dst_addr: Ipv4Addr,
}

/// A read/write view of a UDP datagram.
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

    /// Checks `8 <= Length <= buffer length`.
    #[allow(clippy::indexing_slicing)] // Length checked before indexing.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::truncated("udp.header"));
        }
        let len = usize::from(u16::from_be_bytes([data[4], data[5]]));
        if len < HEADER_LEN {
            return Err(Error::bad_length("udp.length"));
        }
        if data.len() < len {
            return Err(Error::truncated("udp.length"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[allow(clippy::indexing_slicing)] // All fields lie in the checked fixed header.
    fn read_u16(&self, f: crate::Field) -> u16 {
        let d = &self.buffer.as_ref()[f];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The Source Port.
    pub fn src_port(&self) -> u16 {
        self.read_u16(field::SRC_PORT)
    }

    /// The Destination Port.
    pub fn dst_port(&self) -> u16 {
        self.read_u16(field::DST_PORT)
    }

    /// The Length field: header plus payload.
    pub fn len(&self) -> u16 {
        self.read_u16(field::LENGTH)
    }

    /// Whether Length says there is no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    /// The Checksum field (0 means none was generated).
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The payload, up to Length.
    #[allow(clippy::indexing_slicing)] // `check_len`: 8 <= Length <= buffer length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Whether the checksum verifies against the pseudo-header. A zero checksum ("none
    /// generated") verifies.
    #[allow(clippy::indexing_slicing)] // `check_len`: Length <= buffer length.
    pub fn verify_checksum(&self, pseudo: PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let sum = checksum::combine(&[
            checksum::pseudo_header(pseudo.src_addr, pseudo.dst_addr, Protocol::Udp, len),
            checksum::data(&self.buffer.as_ref()[..usize::from(len)]),
        ]);
        sum == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[allow(clippy::indexing_slicing)] // All fields lie in the fixed header.
    fn write_u16(&mut self, f: crate::Field, value: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Source Port.
    pub fn set_src_port(&mut self, value: u16) {
        self.write_u16(field::SRC_PORT, value);
    }

    /// Sets the Destination Port.
    pub fn set_dst_port(&mut self, value: u16) {
        self.write_u16(field::DST_PORT, value);
    }

    /// Sets Length.
    pub fn set_len(&mut self, value: u16) {
        self.write_u16(field::LENGTH, value);
    }

    /// Sets the Checksum field to a raw value (0 = none).
    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM, value);
    }

    /// Computes and stores the checksum over header and payload (up to Length). A computed
    /// zero is sent as 0xffff (RFC 768).
    #[allow(clippy::indexing_slicing)] // Requires a checked packet: Length <= buffer length.
    pub fn fill_checksum(&mut self, pseudo: PseudoHeader) {
        self.set_checksum(0);
        let len = self.len();
        let sum = checksum::combine(&[
            checksum::pseudo_header(pseudo.src_addr, pseudo.dst_addr, Protocol::Udp, len),
            checksum::data(&self.buffer.as_ref()[..usize::from(len)]),
        ]);
        let value = match !sum {
            0 => 0xffff,
            v => v,
        };
        self.set_checksum(value);
    }

    /// The payload, mutably (up to Length).
    #[allow(clippy::indexing_slicing)] // `check_len`: 8 <= Length <= buffer length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source Port.
    pub src_port: u16,
    /// Destination Port.
    pub dst_port: u16,
    /// Payload length (Length minus 8).
    pub payload_len: usize,
}

impl Repr {
    /// Parses a checked packet. With `Some(pseudo)`, a non-zero checksum must verify against
    /// it; with `None` the checksum is not looked at (RFC 3948 §3.1.2 transport-mode NAT-T).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, verify: Option<PseudoHeader>) -> Result<Self> {
        packet.check_len()?;
        if let Some(pseudo) = verify
            && !packet.verify_checksum(pseudo)
        {
            return Err(Error::bad_value("udp.checksum"));
        }
        Ok(Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    /// The emitted length: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header into `buffer`, whose first [`Self::buffer_len`] bytes are the datagram;
    /// the payload must already be in place after the header. With `Some(pseudo)` the checksum
    /// is computed, with `None` it is sent as zero.
    pub fn emit(&self, buffer: &mut [u8], checksum: Option<PseudoHeader>) -> Result<()> {
        let len = HEADER_LEN
            .checked_add(self.payload_len)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(Error::bad_length("udp.length"))?;
        let datagram = buffer
            .get_mut(..usize::from(len))
            .ok_or(Error::buffer_too_small("udp"))?;
        let mut packet = Packet::new_unchecked(datagram);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        match checksum {
            Some(pseudo) => packet.fill_checksum(pseudo),
            None => packet.set_checksum(0),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-made L2TP-like datagram, 10.0.0.1:1701 -> 10.0.0.2:1701, payload c8 02 00 0c (L2TP header start), checksum computed
    // by hand: pseudo = 0a00+0001+0a00+0002+0011+000c = 0x1420; udp = 06a5+06a5+000c+c802+000c
    // = 0xd564 (sans checksum) -> total 0xe984 -> checksum !0xe984 = 0x167b.
    const DATAGRAM: [u8; 12] = [
        0x06, 0xa5, 0x06, 0xa5, 0x00, 0x0c, 0x16, 0x7b, 0xc8, 0x02, 0x00, 0x0c,
    ];

    fn pseudo() -> PseudoHeader {
        PseudoHeader {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    fn repr() -> Repr {
        Repr {
            src_port: 1701,
            dst_port: 1701,
            payload_len: 4,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(p.src_port(), 1701);
        assert_eq!(p.dst_port(), 1701);
        assert_eq!(p.len(), 12);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x167b);
        assert_eq!(p.payload(), &[0xc8, 0x02, 0x00, 0x0c]);
        assert!(p.verify_checksum(pseudo()));
        // Swapped addresses give the same sum (the sum commutes), a different address does not.
        let swapped = PseudoHeader {
            src_addr: pseudo().dst_addr,
            dst_addr: pseudo().src_addr,
        };
        assert!(p.verify_checksum(swapped));
        let other = PseudoHeader {
            src_addr: Ipv4Addr::new(192, 168, 1, 10),
            ..pseudo()
        };
        assert!(!p.verify_checksum(other));
    }

    // tcpdump tests/isakmp4500.pcap frame 18 (the-tcpdump-group/tcpdump @39b50f7): a
    // NAT-keepalive, IPv4 192.1.2.254 -> 192.1.2.23, UDP 4500 -> 4500, length 9, checksum
    // 0x589b, payload ff (RFC 3948 §2.3).
    const KEEPALIVE_IP_UDP: [u8; 29] = [
        0x45, 0x00, 0x00, 0x1d, 0x00, 0x00, 0x40, 0x00, 0x3f, 0x11, 0xb6, 0xb8, 0xc0, 0x01, 0x02,
        0xfe, 0xc0, 0x01, 0x02, 0x17, 0x11, 0x94, 0x11, 0x94, 0x00, 0x09, 0x58, 0x9b, 0xff,
    ];

    #[test]
    fn real_keepalive_checksum() {
        use crate::ip::ipv4;
        let ip = ipv4::Packet::new_checked(&KEEPALIVE_IP_UDP[..]).unwrap();
        let ip_repr = ipv4::Repr::parse(&ip).unwrap();
        assert_eq!(ip_repr.protocol, Protocol::Udp);
        let pseudo = PseudoHeader {
            src_addr: ip_repr.src_addr,
            dst_addr: ip_repr.dst_addr,
        };
        let udp = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!((udp.src_port(), udp.dst_port(), udp.len()), (4500, 4500, 9));
        assert_eq!(udp.checksum(), 0x589b);
        assert!(udp.verify_checksum(pseudo));
        assert_eq!(udp.payload(), &[0xff]);
        assert_eq!(
            crate::natt::Repr::parse(udp.payload()).unwrap(),
            crate::natt::Repr::Keepalive
        );
        // Re-emitting with the same addresses reproduces the real bytes.
        let mut out = ip.payload().to_vec();
        out[..8].fill(0);
        Repr::parse(&udp, Some(pseudo))
            .unwrap()
            .emit(&mut out, Some(pseudo))
            .unwrap();
        assert_eq!(out, ip.payload());
        // And the IPv4 header too.
        let mut hdr = KEEPALIVE_IP_UDP;
        hdr[..20].fill(0);
        ip_repr.emit(&mut hdr).unwrap();
        assert_eq!(hdr, KEEPALIVE_IP_UDP);
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 12];
        bytes[8..].copy_from_slice(&DATAGRAM[8..]);
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_src_port(1701);
        p.set_dst_port(1701);
        p.set_len(12);
        p.fill_checksum(pseudo());
        assert_eq!(bytes, DATAGRAM);
    }

    #[test]
    fn zero_sum_is_sent_as_ones() {
        // Pick a payload so that the one's complement sum is 0xffff: the checksum field would
        // be 0 and must be sent as 0xffff (RFC 768).
        let mut bytes = [0u8; 10];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_src_port(1701);
        p.set_dst_port(1701);
        p.set_len(10);
        let partial = checksum::combine(&[
            checksum::pseudo_header(pseudo().src_addr, pseudo().dst_addr, Protocol::Udp, 10),
            checksum::data(&p.buffer[..]),
        ]);
        p.payload_mut().copy_from_slice(&(!partial).to_be_bytes());
        p.fill_checksum(pseudo());
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(pseudo()));
    }

    #[test]
    fn check_len() {
        assert_eq!(
            Packet::new_checked(&DATAGRAM[..7]).unwrap_err(),
            Error::truncated("udp.header")
        );
        assert_eq!(
            Packet::new_checked(&DATAGRAM[..11]).unwrap_err(),
            Error::truncated("udp.length")
        );
        let mut b = DATAGRAM;
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::bad_length("udp.length")
        );
        // Extra bytes after Length are allowed and excluded from the payload.
        let mut long = DATAGRAM.to_vec();
        long.push(0xee);
        let p = Packet::new_checked(&long[..]).unwrap();
        assert_eq!(p.payload().len(), 4);
        assert!(p.verify_checksum(pseudo()));
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(Repr::parse(&p, Some(pseudo())).unwrap(), repr());
        assert_eq!(Repr::parse(&p, None).unwrap(), repr());
        // A wrong checksum fails only when verification is asked for.
        let mut b = DATAGRAM;
        b[7] ^= 0x01;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, Some(pseudo())).unwrap_err(),
            Error::bad_value("udp.checksum")
        );
        assert_eq!(Repr::parse(&p, None).unwrap(), repr());
        // Checksum zero means none: accepted even when verifying.
        b[6..8].fill(0);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, Some(pseudo())).unwrap(), repr());
    }

    #[test]
    fn emit() {
        assert_eq!(repr().buffer_len(), 12);
        let mut bytes = [0u8; 12];
        bytes[8..].copy_from_slice(&DATAGRAM[8..]);
        repr().emit(&mut bytes, Some(pseudo())).unwrap();
        assert_eq!(bytes, DATAGRAM);
        repr().emit(&mut bytes, None).unwrap();
        assert_eq!(bytes[6..8], [0, 0]);
        assert_eq!(
            repr().emit(&mut [0u8; 11], None).unwrap_err(),
            Error::buffer_too_small("udp")
        );
        let huge = Repr {
            payload_len: 65528,
            ..repr()
        };
        assert_eq!(
            huge.emit(&mut [0u8; 8], None).unwrap_err(),
            Error::bad_length("udp.length")
        );
    }
}
