//! PPP frames (RFC 1661 §2) as carried in L2TP data messages, and the control protocols that
//! ride on them.
//!
//! RFC 2661 §5.2: L2TP carries PPP frames without HDLC flags, transparency or FCS, and the
//! Address and Control fields (`FF 03`) may or may not be present. The Protocol field is two
//! octets, or one once Protocol-Field-Compression is negotiated (RFC 1661 §6.5): a first octet
//! with its least significant bit set is a compressed protocol. `Packet` accepts every form.
//!
//! Submodules: `control` (the LCP/NCP packet of RFC 1661 §5 and option chains), `lcp`, `ipcp`,
//! `ncp` (CCP/IPV6CP options), `chap` (RFC 1994), `mschap` (RFC 2433/2759 value formats) and
//! `pap` (RFC 1334).

pub mod chap;
pub mod control;
pub mod ipcp;
pub mod lcp;
pub mod mschap;
pub mod ncp;
pub mod pap;

use crate::{Error, Result};

enum_with_unknown! {
    /// PPP protocol numbers (RFC 1661 §2; IANA "PPP DLL Protocol Numbers").
    pub enum Protocol(u16) {
        /// Internet Protocol version 4 (RFC 1332).
        Ipv4 = 0x0021,
        /// Van Jacobson compressed TCP/IP (RFC 1332 §3.2).
        VjCompressedTcp = 0x002d,
        /// Van Jacobson uncompressed TCP/IP.
        VjUncompressedTcp = 0x002f,
        /// Multilink (RFC 1990).
        Multilink = 0x003d,
        /// Internet Protocol version 6 (RFC 5072).
        Ipv6 = 0x0057,
        /// Compressed datagram (RFC 1962).
        CompressedDatagram = 0x00fd,
        /// IP Control Protocol (RFC 1332).
        Ipcp = 0x8021,
        /// IPv6 Control Protocol (RFC 5072).
        Ipv6cp = 0x8057,
        /// Compression Control Protocol (RFC 1962).
        Ccp = 0x80fd,
        /// Link Control Protocol (RFC 1661).
        Lcp = 0xc021,
        /// Password Authentication Protocol (RFC 1334).
        Pap = 0xc023,
        /// Link Quality Report (RFC 1989).
        Lqr = 0xc025,
        /// Callback Control Protocol (Microsoft CBCP).
        Cbcp = 0xc029,
        /// Bandwidth Allocation Control Protocol (RFC 2125).
        Bacp = 0xc02b,
        /// Bandwidth Allocation Protocol (RFC 2125).
        Bap = 0xc02d,
        /// Challenge Handshake Authentication Protocol (RFC 1994).
        Chap = 0xc223,
        /// Extensible Authentication Protocol (RFC 3748).
        Eap = 0xc227,
    }
}

/// The HDLC all-stations address (RFC 1662 §3.1).
pub const ADDRESS: u8 = 0xff;
/// The HDLC Unnumbered Information control value (RFC 1662 §3.1).
pub const CONTROL: u8 = 0x03;

/// A view of a PPP frame: `[FF 03] Protocol(1 or 2) Information`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic until `check_len` succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks it (`check_len`).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the address/control and protocol fields.
    ///
    /// A frame starting with `FF` must continue with `03` (RFC 1662 §3.1; `0x00FF` is not a
    /// valid compressed protocol). An uncompressed protocol must be odd with an even first
    /// octet (RFC 1661 §2).
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let proto = match buf {
            [ADDRESS, CONTROL, rest @ ..] => rest,
            [ADDRESS, ..] => return Err(Error::bad_value("ppp.control")),
            rest => rest,
        };
        match proto {
            [] => Err(Error::truncated("ppp.protocol")),
            [first, ..] if first & 1 == 1 => Ok(()),
            [_] => Err(Error::truncated("ppp.protocol")),
            [_, second, ..] if second & 1 == 0 => Err(Error::bad_value("ppp.protocol")),
            _ => Ok(()),
        }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// True when the frame carries the `FF 03` address and control fields.
    pub fn has_address_control(&self) -> bool {
        self.buffer.as_ref().starts_with(&[ADDRESS, CONTROL])
    }

    fn protocol_offset(&self) -> usize {
        if self.has_address_control() { 2 } else { 0 }
    }

    /// True when the Protocol field is compressed to one octet.
    pub fn protocol_compressed(&self) -> bool {
        self.buffer
            .as_ref()
            .get(self.protocol_offset())
            .is_some_and(|b| b & 1 == 1)
    }

    /// Length of address/control plus protocol.
    pub fn header_len(&self) -> usize {
        self.protocol_offset() + if self.protocol_compressed() { 1 } else { 2 }
    }

    /// The Protocol field.
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the protocol field.
    pub fn protocol(&self) -> Protocol {
        let buf = self.buffer.as_ref();
        let off = self.protocol_offset();
        if self.protocol_compressed() {
            Protocol::from(u16::from(buf[off]))
        } else {
            Protocol::from(u16::from_be_bytes([buf[off], buf[off + 1]]))
        }
    }

    /// The Information field.
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// The Information field, for writing.
    #[allow(clippy::indexing_slicing)] // Requires a checked frame.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// The header of a PPP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Whether `FF 03` is present.
    pub address_control: bool,
    /// The protocol.
    pub protocol: Protocol,
    /// Whether the protocol field is one octet (PFC).
    pub protocol_compressed: bool,
}

impl Repr {
    /// An uncompressed header (`FF 03` and a two-octet protocol), what we send.
    pub const fn new(protocol: Protocol) -> Self {
        Self {
            address_control: true,
            protocol,
            protocol_compressed: false,
        }
    }

    /// Decodes the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        Ok(Self {
            address_control: packet.has_address_control(),
            protocol: packet.protocol(),
            protocol_compressed: packet.protocol_compressed(),
        })
    }

    /// Header length.
    pub const fn buffer_len(&self) -> usize {
        (if self.address_control { 2 } else { 0 }) + if self.protocol_compressed { 1 } else { 2 }
    }

    /// Writes the header into the front of `buf`. A compressed protocol must fit one odd octet.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let proto = u16::from(self.protocol);
        let [hi, lo] = proto.to_be_bytes();
        let ac: &[u8] = if self.address_control {
            &[ADDRESS, CONTROL]
        } else {
            &[]
        };
        let compressed = [lo];
        let full = [hi, lo];
        let proto: &[u8] = if self.protocol_compressed {
            if hi != 0 || lo & 1 == 0 {
                return Err(Error::bad_value("ppp.protocol"));
            }
            &compressed
        } else {
            &full
        };
        let len = ac.len() + proto.len();
        let out = buf
            .get_mut(..len)
            .ok_or(Error::buffer_too_small("ppp.header"))?;
        let (a, p) = out.split_at_mut(ac.len());
        a.copy_from_slice(ac);
        p.copy_from_slice(proto);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Windows XP client's first LCP ConfReq frame: c021 + the packet.
    const LCP_FRAME: [u8; 22] = [
        0xff, 0x03, 0xc0, 0x21, 0x01, 0x02, 0x00, 0x12, 0x01, 0x04, 0x05, 0x78, 0x05, 0x06, 0x74,
        0xcd, 0x45, 0xcf, 0x07, 0x02, 0x08, 0x02,
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&LCP_FRAME[..]).unwrap();
        assert!(p.has_address_control());
        assert!(!p.protocol_compressed());
        assert_eq!(p.protocol(), Protocol::Lcp);
        assert_eq!(p.header_len(), 4);
        assert_eq!(p.payload(), &LCP_FRAME[4..]);

        let p = Packet::new_checked(&LCP_FRAME[2..]).unwrap();
        assert!(!p.has_address_control());
        assert_eq!(p.protocol(), Protocol::Lcp);

        // PFC: one-octet protocol 0x21 with and without FF 03.
        let p = Packet::new_checked(&[0x21, 0x45][..]).unwrap();
        assert!(p.protocol_compressed());
        assert_eq!(p.protocol(), Protocol::Ipv4);
        assert_eq!(p.payload(), &[0x45]);
        let p = Packet::new_checked(&[0xff, 0x03, 0x21, 0x45][..]).unwrap();
        assert_eq!(p.protocol(), Protocol::Ipv4);
        assert_eq!(p.header_len(), 3);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 6];
        Repr::new(Protocol::Ipv4).emit(&mut buf).unwrap();
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.payload_mut().copy_from_slice(&[0x45, 0x00]);
        assert_eq!(buf, [0xff, 0x03, 0x00, 0x21, 0x45, 0x00]);
    }

    #[test]
    fn check_len() {
        for (bad, kind) in [
            (&[][..], crate::ErrorKind::Truncated),
            (&[0xff, 0x03][..], crate::ErrorKind::Truncated),
            (&[0xff, 0x05, 0x00, 0x21][..], crate::ErrorKind::BadValue),
            (&[0xff][..], crate::ErrorKind::BadValue),
            (&[0xc0][..], crate::ErrorKind::Truncated),
            (&[0xc0, 0x20][..], crate::ErrorKind::BadValue),
        ] {
            assert_eq!(
                Packet::new_checked(bad).unwrap_err().kind,
                kind,
                "{bad:02x?}"
            );
        }
    }

    #[test]
    fn parse_emit_round_trip() {
        for bytes in [
            &LCP_FRAME[..4],
            &LCP_FRAME[2..4],
            &[0xff, 0x03, 0x21][..],
            &[0x21][..],
            &[0x80, 0xfd][..],
        ] {
            let repr = Repr::parse(&Packet::new_checked(bytes).unwrap()).unwrap();
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            assert_eq!(out, bytes);
        }
        let bad = Repr {
            address_control: false,
            protocol: Protocol::Lcp,
            protocol_compressed: true,
        };
        assert!(bad.emit(&mut [0u8; 2]).is_err());
    }
}
