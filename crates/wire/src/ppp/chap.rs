//! CHAP packets (RFC 1994 §4), also used by MS-CHAPv1 (RFC 2433 §2) and MS-CHAPv2
//! (RFC 2759 §3-§7). The value formats of MS-CHAP live in `ppp::mschap`.
//!
//! CHAP shares the `Code | Identifier | Length` header with LCP, so it is read through
//! `control::Packet`.

use super::control::{HEADER_LEN, Packet, emit_header, write_parts};
use crate::{Error, Result};

enum_with_unknown! {
    /// CHAP codes (RFC 1994 §4; 5 and 6 from RFC 2433 §6 and §7; 7 from RFC 2759 §7).
    pub enum Code(u8) {
        /// Challenge (RFC 1994 §4.1).
        Challenge = 0x01,
        /// Response (RFC 1994 §4.1).
        Response = 0x02,
        /// Success (RFC 1994 §4.2).
        Success = 0x03,
        /// Failure (RFC 1994 §4.2).
        Failure = 0x04,
        /// MS-CHAPv1 Change Password, version 1 (RFC 2433).
        ChangePasswordV1 = 0x05,
        /// MS-CHAPv1 Change Password, version 2 (RFC 2433).
        ChangePasswordV2 = 0x06,
        /// MS-CHAPv2 Change-Password (RFC 2759 §7).
        ChangePassword = 0x07,
    }
}

/// A decoded CHAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Challenge: `Value-Size | Value | Name`.
    Challenge {
        /// Identifier.
        identifier: u8,
        /// The challenge value.
        value: &'a [u8],
        /// The authenticator's name.
        name: &'a [u8],
    },
    /// Response: `Value-Size | Value | Name`.
    Response {
        /// Identifier (copied from the Challenge).
        identifier: u8,
        /// The response value.
        value: &'a [u8],
        /// The peer's name (user name).
        name: &'a [u8],
    },
    /// Success with a message.
    Success {
        /// Identifier.
        identifier: u8,
        /// The message (MS-CHAPv2: `S=<40 hex> M=<text>`).
        message: &'a [u8],
    },
    /// Failure with a message.
    Failure {
        /// Identifier.
        identifier: u8,
        /// The message (MS-CHAP: `E=… R=… C=… V=… M=…`).
        message: &'a [u8],
    },
    /// Any other code (e.g. MS-CHAP change password), kept as data.
    Other {
        /// The code.
        code: Code,
        /// Identifier.
        identifier: u8,
        /// Data.
        data: &'a [u8],
    },
}

fn split_value(data: &[u8]) -> Result<(&[u8], &[u8])> {
    let (&size, rest) = data
        .split_first()
        .ok_or(Error::truncated("chap.value_size"))?;
    rest.split_at_checked(usize::from(size))
        .ok_or(Error::truncated("chap.value"))
}

impl<'a> Repr<'a> {
    /// Decodes a CHAP packet.
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<Self> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let buf: &'a [u8] = packet.into_inner();
        let data = buf
            .get(HEADER_LEN..usize::from(packet.length()))
            .ok_or(Error::truncated("chap.data"))?;
        Ok(match Code::from(packet.code()) {
            Code::Challenge => {
                let (value, name) = split_value(data)?;
                Repr::Challenge {
                    identifier,
                    value,
                    name,
                }
            }
            Code::Response => {
                let (value, name) = split_value(data)?;
                Repr::Response {
                    identifier,
                    value,
                    name,
                }
            }
            Code::Success => Repr::Success {
                identifier,
                message: data,
            },
            Code::Failure => Repr::Failure {
                identifier,
                message: data,
            },
            code => Repr::Other {
                code,
                identifier,
                data,
            },
        })
    }

    fn code(&self) -> Code {
        match self {
            Repr::Challenge { .. } => Code::Challenge,
            Repr::Response { .. } => Code::Response,
            Repr::Success { .. } => Code::Success,
            Repr::Failure { .. } => Code::Failure,
            Repr::Other { code, .. } => *code,
        }
    }

    /// The Identifier octet.
    pub const fn identifier(&self) -> u8 {
        match self {
            Repr::Challenge { identifier, .. }
            | Repr::Response { identifier, .. }
            | Repr::Success { identifier, .. }
            | Repr::Failure { identifier, .. }
            | Repr::Other { identifier, .. } => *identifier,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                1 + value.len() + name.len()
            }
            Repr::Success { message, .. } | Repr::Failure { message, .. } => message.len(),
            Repr::Other { data, .. } => data.len(),
        }
    }

    /// Encoded length, header included.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len()
    }

    /// Writes the packet into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let at = "chap";
        let out = emit_header(
            buf,
            self.code().into(),
            self.identifier(),
            self.data_len(),
            at,
        )?;
        match self {
            Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                let size =
                    u8::try_from(value.len()).map_err(|_| Error::bad_length("chap.value_size"))?;
                write_parts(out, &[&[size], value, name], at)
            }
            Repr::Success { message, .. } | Repr::Failure { message, .. } => {
                write_parts(out, &[message], at)
            }
            Repr::Other { data, .. } => write_parts(out, &[data], at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // chap_md5_computed.json, vector 1 (RFC 1994 §4.1 layout): Challenge with name "server".
    const CHALLENGE: [u8; 27] = [
        0x01, 0x01, 0x00, 0x1b, 0x10, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
        0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, b's', b'e', b'r', b'v', b'e', b'r',
    ];
    // Same file: the Response of "bob" with MD5 204bb003332f6932b63b47c2c4e1a547.
    const RESPONSE: [u8; 24] = [
        0x02, 0x01, 0x00, 0x18, 0x10, 0x20, 0x4b, 0xb0, 0x03, 0x33, 0x2f, 0x69, 0x32, 0xb6, 0x3b,
        0x47, 0xc2, 0xc4, 0xe1, 0xa5, 0x47, b'b', b'o', b'b',
    ];

    #[test]
    fn deconstruct_and_parse() {
        let p = Packet::new_checked(&CHALLENGE[..]).unwrap();
        assert_eq!(p.code(), 1);
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Repr::Challenge {
                identifier: 1,
                value: &CHALLENGE[5..21],
                name: b"server"
            }
        );
        let p = Packet::new_checked(&RESPONSE[..]).unwrap();
        let Repr::Response {
            identifier: 1,
            value,
            name: b"bob",
        } = Repr::parse(&p).unwrap()
        else {
            panic!()
        };
        assert_eq!(value.len(), 16);
    }

    #[test]
    fn construct_and_emit() {
        for bytes in [
            &CHALLENGE[..],
            &RESPONSE[..],
            b"\x03\x3d\x00\x0aS=AB M",
            b"\x04\x02\x00\x04",
            b"\x07\x01\x00\x05\x00",
        ] {
            let p = Packet::new_checked(bytes).unwrap();
            let repr = Repr::parse(&p).unwrap();
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn check_len() {
        // Value-Size missing, Value-Size past the end.
        for bad in [&b"\x01\x01\x00\x04"[..], &b"\x02\x01\x00\x06\x05\x00"[..]] {
            let p = Packet::new_checked(bad).unwrap();
            assert_eq!(
                Repr::parse(&p).unwrap_err().kind,
                crate::ErrorKind::Truncated
            );
        }
        let big = [0u8; 300];
        let repr = Repr::Challenge {
            identifier: 0,
            value: &big[..256],
            name: b"",
        };
        let mut out = vec![0u8; repr.buffer_len()];
        assert!(repr.emit(&mut out).is_err());
    }
}
