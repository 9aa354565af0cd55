//! CHAP packets (RFC 1994 §4), also used by MS-CHAPv1 (RFC 2433 §2) and MS-CHAPv2
//! (RFC 2759 §3-§7). The value formats of MS-CHAP live in `ppp::mschap`.
//!
//! CHAP shares the `Code | Identifier | Length` header with LCP, so it is read through
//! `control::Packet`, and decoded as a `control::Message` whose body is a [`Body`].

use super::control::{Message, MessageBody, counted_len, split_counted, write_parts};
use crate::Result;

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

/// A decoded CHAP packet: the Identifier and the [`Body`].
pub type Repr<'a> = Message<Body<'a>>;

/// The Code and Data of a CHAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Challenge: `Value-Size | Value | Name`.
    Challenge {
        /// The challenge value.
        value: &'a [u8],
        /// The authenticator's name.
        name: &'a [u8],
    },
    /// Response (its Identifier copied from the Challenge): `Value-Size | Value | Name`.
    Response {
        /// The response value.
        value: &'a [u8],
        /// The peer's name (user name).
        name: &'a [u8],
    },
    /// Success with a message (MS-CHAPv2: `S=<40 hex> M=<text>`).
    Success(&'a [u8]),
    /// Failure with a message (MS-CHAP: `E=… R=… C=… V=… M=…`).
    Failure(&'a [u8]),
    /// Any other code (e.g. MS-CHAP change password), kept as data.
    Other {
        /// The code.
        code: Code,
        /// Data.
        data: &'a [u8],
    },
}

impl<'a> MessageBody<'a> for Body<'a> {
    const AT: &'static str = "chap";

    fn parse(code: u8, data: &'a [u8]) -> Result<Self> {
        Ok(match Code::from(code) {
            Code::Challenge => {
                let (value, name) = split_counted(data, "chap.value")?;
                Body::Challenge { value, name }
            }
            Code::Response => {
                let (value, name) = split_counted(data, "chap.value")?;
                Body::Response { value, name }
            }
            Code::Success => Body::Success(data),
            Code::Failure => Body::Failure(data),
            code => Body::Other { code, data },
        })
    }

    fn code(&self) -> u8 {
        match self {
            Body::Challenge { .. } => Code::Challenge,
            Body::Response { .. } => Code::Response,
            Body::Success(_) => Code::Success,
            Body::Failure(_) => Code::Failure,
            Body::Other { code, .. } => *code,
        }
        .into()
    }

    fn data_len(&self) -> usize {
        match self {
            Body::Challenge { value, name } | Body::Response { value, name } => {
                1 + value.len() + name.len()
            }
            Body::Success(message) | Body::Failure(message) => message.len(),
            Body::Other { data, .. } => data.len(),
        }
    }

    fn emit_data(&self, out: &mut [u8]) -> Result<()> {
        match self {
            Body::Challenge { value, name } | Body::Response { value, name } => {
                let size = counted_len(value, "chap.value_size")?;
                write_parts(out, &[&[size], value, name], Self::AT)
            }
            Body::Success(data) | Body::Failure(data) | Body::Other { data, .. } => {
                write_parts(out, &[data], Self::AT)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::control::Packet;

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
            Repr {
                identifier: 1,
                body: Body::Challenge {
                    value: &CHALLENGE[5..21],
                    name: b"server"
                }
            }
        );
        let p = Packet::new_checked(&RESPONSE[..]).unwrap();
        let Repr {
            identifier: 1,
            body:
                Body::Response {
                    value,
                    name: b"bob",
                },
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
        let repr = Repr {
            identifier: 0,
            body: Body::Challenge {
                value: &big[..256],
                name: b"",
            },
        };
        let mut out = vec![0u8; repr.buffer_len()];
        assert!(repr.emit(&mut out).is_err());
    }
}
