//! NAT traversal framing on UDP 4500 (RFC 3948 §2): non-ESP marker and NAT-keepalive.
//!
//! After NAT-T floats to port 4500 (RFC 3947 §4), one UDP port carries three things, told
//! apart by the first payload bytes (RFC 3948 §2.1–§2.3):
//!
//! - a **NAT-keepalive**: a single octet 0xFF (RFC 3948 §2.3), "ignored by the receiver";
//! - **IKE**: a 4-octet non-ESP marker of zeros, then the ISAKMP message (RFC 3948 §2.2);
//! - **ESP**: the ESP header itself, whose first 4 octets are the SPI, never zero (RFC 3948
//!   §2.1; RFC 4303 §2.1 reserves SPI 0).
//!
//! Real examples are in tcpdump's `tests/isakmp4500.pcap` (keepalive frame 18, marker + Main
//! Mode message 5 in frame 7) and `tests/espudp1.pcap` (ESP SPI 0x12345678).

use crate::{Error, Result};

/// The non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The single-octet NAT-keepalive payload (RFC 3948 §2.3).
pub const KEEPALIVE: u8 = 0xff;

/// The fixed ISAKMP header length (RFC 2408 §3.1): the shortest IKE message after the marker.
pub const ISAKMP_HEADER_LEN: usize = 28;

/// The ESP header length (SPI and Sequence Number, RFC 4303 §2): the shortest ESP packet.
pub const ESP_HEADER_LEN: usize = 8;

/// What a UDP/4500 payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr<'a> {
    /// A NAT-keepalive (RFC 3948 §2.3).
    Keepalive,
    /// An IKE message; the slice is the ISAKMP message without the non-ESP marker.
    Ike(&'a [u8]),
    /// An ESP packet, from the SPI to the end of the ICV.
    Esp(&'a [u8]),
}

impl<'a> Repr<'a> {
    /// Classifies a UDP/4500 payload.
    ///
    /// Errors: an empty payload, a one-octet payload other than 0xFF, a marker followed by less
    /// than an ISAKMP header, or a non-zero SPI followed by less than a sequence number.
    pub fn parse(payload: &'a [u8]) -> Result<Self> {
        match payload {
            [] => Err(Error::truncated("natt.payload")),
            [KEEPALIVE] => Ok(Self::Keepalive),
            [_] => Err(Error::bad_value("natt.keepalive")),
            _ => match payload.split_at_checked(NON_ESP_MARKER.len()) {
                Some((marker, ike)) if marker == NON_ESP_MARKER => {
                    if ike.len() < ISAKMP_HEADER_LEN {
                        Err(Error::truncated("natt.ike"))
                    } else {
                        Ok(Self::Ike(ike))
                    }
                }
                Some(_) if payload.len() >= ESP_HEADER_LEN => Ok(Self::Esp(payload)),
                _ => Err(Error::truncated("natt.esp")),
            },
        }
    }

    /// The length of the UDP payload this emits.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Self::Keepalive => 1,
            Self::Ike(msg) => NON_ESP_MARKER.len() + msg.len(),
            Self::Esp(pkt) => pkt.len(),
        }
    }

    /// Writes the UDP payload into `buffer` (at least [`Self::buffer_len`] bytes).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let out = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("natt.payload"))?;
        match self {
            Self::Keepalive => out.fill(KEEPALIVE),
            Self::Ike(msg) => {
                let (marker, rest) = out.split_at_mut(NON_ESP_MARKER.len());
                marker.copy_from_slice(&NON_ESP_MARKER);
                rest.copy_from_slice(msg);
            }
            Self::Esp(pkt) => out.copy_from_slice(pkt),
        }
        Ok(())
    }
}

/// Writes the non-ESP marker into the 4 bytes of headroom in front of an IKE message that is
/// already in place at `buffer[4..]`: the in-place variant of [`Repr::emit`] for IKE.
pub fn prepend_marker(buffer: &mut [u8]) -> Result<()> {
    buffer
        .get_mut(..NON_ESP_MARKER.len())
        .ok_or(Error::buffer_too_small("natt.marker"))?
        .copy_from_slice(&NON_ESP_MARKER);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // tcpdump tests/isakmp4500.pcap frame 7 (the-tcpdump-group/tcpdump @39b50f7): the UDP/4500
    // payload starts with the non-ESP marker, then the ISAKMP header of Main Mode message 5:
    // cookies 9e89f2388f90bc1e / 0a74357ce3d1a4bf, next payload 5 (ID), version 0x10,
    // exchange 2 (Main Mode), flags 1 (encrypted), message ID 0, length 0x144.
    const IKE_PREFIX: [u8; 32] = [
        0x00, 0x00, 0x00, 0x00, 0x9e, 0x89, 0xf2, 0x38, 0x8f, 0x90, 0xbc, 0x1e, 0x0a, 0x74, 0x35,
        0x7c, 0xe3, 0xd1, 0xa4, 0xbf, 0x05, 0x10, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x44,
    ];

    // tcpdump tests/espudp1.pcap frame 1: UDP-encapsulated ESP, SPI 0x12345678, sequence 1,
    // then the 3DES IV a71a51de1cb92923.
    const ESP_PREFIX: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x01, 0xa7, 0x1a, 0x51, 0xde, 0x1c, 0xb9, 0x29,
        0x23,
    ];

    #[test]
    fn parse_keepalive() {
        // tcpdump tests/isakmp4500.pcap frame 18: UDP length 9, payload ff.
        assert_eq!(Repr::parse(&[0xff]).unwrap(), Repr::Keepalive);
    }

    #[test]
    fn parse_ike() {
        assert_eq!(
            Repr::parse(&IKE_PREFIX).unwrap(),
            Repr::Ike(&IKE_PREFIX[4..])
        );
    }

    #[test]
    fn parse_esp() {
        assert_eq!(Repr::parse(&ESP_PREFIX).unwrap(), Repr::Esp(&ESP_PREFIX));
        // The shortest ESP: SPI and sequence only.
        assert_eq!(
            Repr::parse(&ESP_PREFIX[..8]).unwrap(),
            Repr::Esp(&ESP_PREFIX[..8])
        );
    }

    #[test]
    fn malformed() {
        let cases: &[(&[u8], Error)] = &[
            (&[], Error::truncated("natt.payload")),
            (&[0x00], Error::bad_value("natt.keepalive")),
            (&[0xfe], Error::bad_value("natt.keepalive")),
            (&[0xff, 0xff], Error::truncated("natt.esp")),
            (&[0, 0, 0], Error::truncated("natt.esp")),
            (&[0, 0, 0, 0], Error::truncated("natt.ike")),
            (&IKE_PREFIX[..31], Error::truncated("natt.ike")),
            (&ESP_PREFIX[..7], Error::truncated("natt.esp")),
        ];
        for (bytes, want) in cases {
            assert_eq!(Repr::parse(bytes).unwrap_err(), *want, "{bytes:02x?}");
        }
    }

    #[test]
    fn emit() {
        let mut buf = [0xaau8; 40];
        let ike = Repr::Ike(&IKE_PREFIX[4..]);
        assert_eq!(ike.buffer_len(), 32);
        ike.emit(&mut buf).unwrap();
        assert_eq!(buf[..32], IKE_PREFIX);

        let esp = Repr::Esp(&ESP_PREFIX);
        assert_eq!(esp.buffer_len(), 16);
        esp.emit(&mut buf).unwrap();
        assert_eq!(buf[..16], ESP_PREFIX);

        assert_eq!(Repr::Keepalive.buffer_len(), 1);
        Repr::Keepalive.emit(&mut buf).unwrap();
        assert_eq!(buf[0], 0xff);

        assert_eq!(
            ike.emit(&mut [0u8; 31]).unwrap_err(),
            Error::buffer_too_small("natt.payload")
        );
    }

    #[test]
    fn round_trip() {
        for bytes in [&IKE_PREFIX[..], &ESP_PREFIX[..], &[0xff][..]] {
            let repr = Repr::parse(bytes).unwrap();
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn prepend_marker_in_place() {
        let mut buf = IKE_PREFIX;
        buf[..4].fill(0x55);
        prepend_marker(&mut buf).unwrap();
        assert_eq!(buf, IKE_PREFIX);
        assert_eq!(
            prepend_marker(&mut [0u8; 3]).unwrap_err(),
            Error::buffer_too_small("natt.marker")
        );
    }
}
