//! ESP header and trailer views (RFC 4303 §2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
//! |               Security Parameters Index (SPI)                 | ^Int.
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
//! |                      Sequence Number                          | |ered
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ | ----
//! |                    Payload Data* (variable)                   | |   ^
//! ~                                                               ~ |   |
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Conf.
//! |               |     Padding (0-255 bytes)                     | |Cov-
//! +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |ered*
//! |                               |  Pad Length   | Next Header   | v   v
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ------
//! |         Integrity Check Value-ICV   (variable)                |
//! ~                                                               ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! - [`Packet`] / [`Repr`]: the cleartext header, SPI (RFC 4303 §2.1) and Sequence Number
//!   (§2.2). The rest (IV, ciphertext, ICV) is opaque here: its split depends on the SA.
//! - [`Trailer`] / [`TrailerRepr`]: the end of the *decrypted* payload: Padding (§2.4), Pad
//!   Length (§2.5) and Next Header (§2.6). §2.4: "the Padding bytes are initialized with a series
//!   of (unsigned, 1-byte) integer values. The first padding byte appended to the plaintext is
//!   numbered 1"; [`TrailerRepr::parse`] checks that series, so canonical trailers round-trip.

use crate::ip::Protocol;
use crate::{Error, Result};

mod field {
    use crate::{Field, Rest};

    pub(super) const SPI: Field = 0..4;
    pub(super) const SEQ: Field = 4..8;
    pub(super) const PAYLOAD: Rest = 8..;
}

/// The ESP header length: SPI and Sequence Number.
pub const HEADER_LEN: usize = field::SEQ.end;

/// The trailer length after the padding: Pad Length and Next Header.
pub const TRAILER_LEN: usize = 2;

/// SPI values 1..=255 are reserved by IANA and 0 is for local use only (RFC 4303 §2.1).
pub const MIN_SPI: u32 = 256;

/// A read/write view of an ESP packet (header plus opaque protected payload).
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

    /// Checks that the header (SPI and Sequence Number) fits.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::truncated("esp.header"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Security Parameters Index.
    #[allow(clippy::indexing_slicing)] // `check_len`: the header fits.
    pub fn spi(&self) -> u32 {
        let d = &self.buffer.as_ref()[field::SPI];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// The Sequence Number (the low 32 bits; we do not negotiate ESN, RFC 4303 §2.2.1).
    #[allow(clippy::indexing_slicing)]
    pub fn seq_number(&self) -> u32 {
        let d = &self.buffer.as_ref()[field::SEQ];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// The protected payload: IV, ciphertext and ICV.
    #[allow(clippy::indexing_slicing)]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the SPI.
    #[allow(clippy::indexing_slicing)] // Setters require at least HEADER_LEN bytes.
    pub fn set_spi(&mut self, value: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Sequence Number.
    #[allow(clippy::indexing_slicing)]
    pub fn set_seq_number(&mut self, value: u32) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&value.to_be_bytes());
    }

    /// The protected payload, mutably.
    #[allow(clippy::indexing_slicing)]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// A parsed ESP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Security Parameters Index (never 0 on the wire).
    pub spi: u32,
    /// Sequence Number.
    pub seq_number: u32,
}

impl Repr {
    /// Parses the header. SPI 0 is refused: RFC 4303 §2.1 reserves it for local use, and on
    /// UDP 4500 it is the non-ESP marker (RFC 3948 §2.2).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.spi() == 0 {
            return Err(Error::bad_value("esp.spi"));
        }
        Ok(Self {
            spi: packet.spi(),
            seq_number: packet.seq_number(),
        })
    }

    /// The header length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let header = buffer
            .get_mut(..HEADER_LEN)
            .ok_or(Error::buffer_too_small("esp.header"))?;
        let mut packet = Packet::new_unchecked(header);
        packet.set_spi(self.spi);
        packet.set_seq_number(self.seq_number);
        Ok(())
    }
}

/// A view of a decrypted ESP payload: Payload Data, Padding, Pad Length, Next Header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Trailer<T> {
    /// Wraps a decrypted payload without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a decrypted payload and checks it ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let trailer = Self::new_unchecked(buffer);
        trailer.check_len()?;
        Ok(trailer)
    }

    /// Checks that Pad Length and Next Header fit, and that the padding fits before them.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        let [.., pad_len, _] = data else {
            return Err(Error::truncated("esp.trailer"));
        };
        if usize::from(*pad_len) + TRAILER_LEN > data.len() {
            return Err(Error::bad_length("esp.pad_length"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Pad Length field.
    #[allow(clippy::indexing_slicing)] // `check_len`: len >= 2.
    pub fn pad_len(&self) -> u8 {
        let data = self.buffer.as_ref();
        data[data.len() - 2]
    }

    /// The Next Header field.
    #[allow(clippy::indexing_slicing)]
    pub fn next_header(&self) -> Protocol {
        let data = self.buffer.as_ref();
        Protocol::from(data[data.len() - 1])
    }

    /// The length of Payload Data (everything before the padding).
    pub fn data_len(&self) -> usize {
        self.buffer.as_ref().len() - TRAILER_LEN - usize::from(self.pad_len())
    }

    /// The Payload Data.
    #[allow(clippy::indexing_slicing)] // `check_len`: pad_len + 2 <= len.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.data_len()]
    }

    /// The Padding bytes.
    #[allow(clippy::indexing_slicing)]
    pub fn padding(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        &data[self.data_len()..data.len() - TRAILER_LEN]
    }

    /// Whether the padding is the series 1, 2, 3, ... of RFC 4303 §2.4.
    pub fn padding_ok(&self) -> bool {
        self.padding()
            .iter()
            .zip(1u8..)
            .all(|(&byte, want)| byte == want)
    }
}

/// The parsed trailer of a decrypted ESP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrailerRepr {
    /// Pad Length: how many padding bytes precede it.
    pub pad_len: u8,
    /// Next Header: the protocol of Payload Data.
    pub next_header: Protocol,
}

impl TrailerRepr {
    /// Parses a checked trailer whose padding must be the series 1, 2, 3, ... (RFC 4303 §2.4:
    /// the receiver "SHOULD inspect the Padding field"; a mismatch means a wrong key or a
    /// tampered packet, and we drop it).
    pub fn parse<T: AsRef<[u8]>>(trailer: &Trailer<T>) -> Result<Self> {
        trailer.check_len()?;
        if !trailer.padding_ok() {
            return Err(Error::bad_value("esp.padding"));
        }
        Ok(Self {
            pad_len: trailer.pad_len(),
            next_header: trailer.next_header(),
        })
    }

    /// The minimal trailer for `data_len` bytes of Payload Data and a cipher block of
    /// `block_len` bytes: Payload Data, Padding, Pad Length and Next Header together are a
    /// multiple of the block size, and of 4 (RFC 4303 §2.4). `block_len` must be at most 255.
    pub fn for_payload(data_len: usize, block_len: usize, next_header: Protocol) -> Self {
        let align = block_len.max(4);
        let used = (data_len % align + TRAILER_LEN) % align;
        let pad = if used == 0 { 0 } else { align - used };
        Self {
            pad_len: u8::try_from(pad).unwrap_or(u8::MAX),
            next_header,
        }
    }

    /// The trailer length: Padding, Pad Length and Next Header.
    pub const fn buffer_len(&self) -> usize {
        self.pad_len as usize + TRAILER_LEN
    }

    /// Writes Padding (1, 2, 3, ...), Pad Length and Next Header into the first
    /// [`Self::buffer_len`] bytes of `buffer`, which start right after the Payload Data.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let out = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("esp.trailer"))?;
        let (padding, tail) = out.split_at_mut(usize::from(self.pad_len));
        for (byte, value) in padding.iter_mut().zip(1u8..) {
            *byte = value;
        }
        if let [pad_len, next_header] = tail {
            *pad_len = self.pad_len;
            *next_header = self.next_header.into();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 3602 §4 Case #5 as carried by Linux crypto/testmgr.h (@00637a6, "RFC 3602 Case 5"):
    // SPI 0x00004321, sequence 1, then IV e96e8c08ab465763fd098d45dd3ff893 and ciphertext.
    const HEADER: [u8; 24] = [
        0x00, 0x00, 0x43, 0x21, 0x00, 0x00, 0x00, 0x01, 0xe9, 0x6e, 0x8c, 0x08, 0xab, 0x46, 0x57,
        0x63, 0xfd, 0x09, 0x8d, 0x45, 0xdd, 0x3f, 0xf8, 0x93,
    ];

    // The last 16 bytes of the decrypted payload of the same case: ICMP data ... 06 07 08,
    // padding 01..0e, Pad Length 0x0e, Next Header 0x01 (ICMP).
    const PLAIN_TAIL: [u8; 19] = [
        0x06, 0x07, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
        0x0d, 0x0e, 0x0e, 0x01,
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&HEADER[..]).unwrap();
        assert_eq!(p.spi(), 0x4321);
        assert_eq!(p.seq_number(), 1);
        assert_eq!(p.payload(), &HEADER[8..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 24];
        bytes[8..].copy_from_slice(&HEADER[8..]);
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_spi(0x4321);
        p.set_seq_number(1);
        assert_eq!(p.payload_mut().len(), 16);
        assert_eq!(bytes, HEADER);
    }

    #[test]
    fn check_len() {
        assert_eq!(
            Packet::new_checked(&HEADER[..7]).unwrap_err(),
            Error::truncated("esp.header")
        );
        let p = Packet::new_checked(&HEADER[..8]).unwrap();
        assert!(p.payload().is_empty());
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&HEADER[..]).unwrap();
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Repr {
                spi: 0x4321,
                seq_number: 1
            }
        );
        let zero = [0u8; 8];
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&zero[..])).unwrap_err(),
            Error::bad_value("esp.spi")
        );
    }

    #[test]
    fn emit() {
        let repr = Repr {
            spi: 0x4321,
            seq_number: 1,
        };
        assert_eq!(repr.buffer_len(), 8);
        let mut bytes = [0xffu8; 8];
        repr.emit(&mut bytes).unwrap();
        assert_eq!(bytes, HEADER[..8]);
        assert_eq!(
            repr.emit(&mut [0u8; 7]).unwrap_err(),
            Error::buffer_too_small("esp.header")
        );
    }

    #[test]
    fn trailer_deconstruct() {
        let t = Trailer::new_checked(&PLAIN_TAIL[..]).unwrap();
        assert_eq!(t.pad_len(), 14);
        assert_eq!(t.next_header(), Protocol::Icmp);
        assert_eq!(t.data(), &[0x06, 0x07, 0x08]);
        assert_eq!(t.data_len(), 3);
        assert_eq!(t.padding(), &PLAIN_TAIL[3..17]);
        assert!(t.padding_ok());
    }

    #[test]
    fn trailer_check_len() {
        assert_eq!(
            Trailer::new_checked(&[][..]).unwrap_err(),
            Error::truncated("esp.trailer")
        );
        assert_eq!(
            Trailer::new_checked(&[0x04][..]).unwrap_err(),
            Error::truncated("esp.trailer")
        );
        // Pad Length 14 but only 13 bytes before the trailer.
        assert_eq!(
            Trailer::new_checked(&PLAIN_TAIL[4..]).unwrap_err(),
            Error::bad_length("esp.pad_length")
        );
        // No padding and no data.
        let t = Trailer::new_checked(&[0x00, 0x11][..]).unwrap();
        assert_eq!(t.data_len(), 0);
        assert_eq!(t.next_header(), Protocol::Udp);
    }

    #[test]
    fn trailer_parse() {
        let t = Trailer::new_checked(&PLAIN_TAIL[..]).unwrap();
        assert_eq!(
            TrailerRepr::parse(&t).unwrap(),
            TrailerRepr {
                pad_len: 14,
                next_header: Protocol::Icmp
            }
        );
        let mut bad = PLAIN_TAIL;
        bad[5] = 0x00;
        let t = Trailer::new_checked(&bad[..]).unwrap();
        assert!(!t.padding_ok());
        assert_eq!(
            TrailerRepr::parse(&t).unwrap_err(),
            Error::bad_value("esp.padding")
        );
    }

    #[test]
    fn trailer_emit() {
        let repr = TrailerRepr {
            pad_len: 14,
            next_header: Protocol::Icmp,
        };
        assert_eq!(repr.buffer_len(), 16);
        let mut out = [0u8; 16];
        repr.emit(&mut out).unwrap();
        assert_eq!(out, PLAIN_TAIL[3..]);
        assert_eq!(
            repr.emit(&mut [0u8; 15]).unwrap_err(),
            Error::buffer_too_small("esp.trailer")
        );
    }

    #[test]
    fn trailer_for_payload() {
        // RFC 3602 Case 5: 64 bytes of ICMP, AES (16): 64 + 2 -> pad 14.
        assert_eq!(
            TrailerRepr::for_payload(64, 16, Protocol::Icmp),
            TrailerRepr {
                pad_len: 14,
                next_header: Protocol::Icmp
            }
        );
        // tcpdump 02-sunrise-sunset-esp: 84-byte inner packet, 3DES (8): 84 + 2 -> pad 2.
        assert_eq!(TrailerRepr::for_payload(84, 8, Protocol::IpIp).pad_len, 2);
        // Huge lengths do not overflow: usize::MAX % 16 = 15, + 2 -> 17 -> pad 15.
        assert_eq!(
            TrailerRepr::for_payload(usize::MAX, 16, Protocol::Udp).pad_len,
            15
        );
        // Exactly aligned: no padding.
        assert_eq!(TrailerRepr::for_payload(14, 16, Protocol::Udp).pad_len, 0);
        // No cipher block (block 1): still 4-byte aligned (RFC 4303 §2.4).
        assert_eq!(TrailerRepr::for_payload(5, 1, Protocol::Udp).pad_len, 1);
        for len in 0..100 {
            for block in [1, 8, 16] {
                let t = TrailerRepr::for_payload(len, block, Protocol::Udp);
                let total = len + t.buffer_len();
                assert_eq!(total % block.max(4), 0);
                assert!(usize::from(t.pad_len) < block.max(4));
            }
        }
    }
}
