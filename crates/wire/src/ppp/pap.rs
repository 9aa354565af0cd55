//! PAP packets (RFC 1334 §2.2). PAP shares the `Code | Identifier | Length` header with LCP.

use super::control::{HEADER_LEN, Packet, emit_header, write_parts};
use crate::{Error, Result};

enum_with_unknown! {
    /// PAP codes (RFC 1334 §2.2).
    pub enum Code(u8) {
        /// Authenticate-Request (RFC 1334 §2.2.1).
        AuthenticateRequest = 0x01,
        /// Authenticate-Ack (RFC 1334 §2.2.2).
        AuthenticateAck = 0x02,
        /// Authenticate-Nak (RFC 1334 §2.2.2).
        AuthenticateNak = 0x03,
    }
}

/// A decoded PAP packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Authenticate-Request: `Peer-ID Length | Peer-ID | Passwd-Length | Password`.
    AuthenticateRequest {
        /// Identifier.
        identifier: u8,
        /// The peer (user) name.
        peer_id: &'a [u8],
        /// The cleartext password (never logged: `Debug` redacts it).
        password: &'a [u8],
    },
    /// Authenticate-Ack: `Msg-Length | Message`.
    AuthenticateAck {
        /// Identifier.
        identifier: u8,
        /// Message.
        message: &'a [u8],
    },
    /// Authenticate-Nak: `Msg-Length | Message`.
    AuthenticateNak {
        /// Identifier.
        identifier: u8,
        /// Message.
        message: &'a [u8],
    },
    /// Any other code, kept as data.
    Other {
        /// The code.
        code: u8,
        /// Identifier.
        identifier: u8,
        /// Data.
        data: &'a [u8],
    },
}

impl core::fmt::Debug for Repr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Repr::AuthenticateRequest {
                identifier,
                peer_id,
                ..
            } => f
                .debug_struct("AuthenticateRequest")
                .field("identifier", identifier)
                .field("peer_id", peer_id)
                .field("password", &"<redacted>")
                .finish(),
            Repr::AuthenticateAck {
                identifier,
                message,
            } => f
                .debug_struct("AuthenticateAck")
                .field("identifier", identifier)
                .field("message", message)
                .finish(),
            Repr::AuthenticateNak {
                identifier,
                message,
            } => f
                .debug_struct("AuthenticateNak")
                .field("identifier", identifier)
                .field("message", message)
                .finish(),
            Repr::Other {
                code,
                identifier,
                data,
            } => f
                .debug_struct("Other")
                .field("code", code)
                .field("identifier", identifier)
                .field("data", data)
                .finish(),
        }
    }
}

fn split_counted<'a>(data: &'a [u8], at: &'static str) -> Result<(&'a [u8], &'a [u8])> {
    let (&len, rest) = data.split_first().ok_or_else(|| Error::truncated(at))?;
    rest.split_at_checked(usize::from(len))
        .ok_or_else(|| Error::truncated(at))
}

fn counted_len(field: &[u8]) -> Result<u8> {
    u8::try_from(field.len()).map_err(|_| Error::bad_length("pap.field"))
}

impl<'a> Repr<'a> {
    /// Decodes a PAP packet. Octets after the last counted field are ignored, as padding.
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<Self> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let buf: &'a [u8] = packet.into_inner();
        let data = buf
            .get(HEADER_LEN..usize::from(packet.length()))
            .ok_or(Error::truncated("pap.data"))?;
        Ok(match Code::from(packet.code()) {
            Code::AuthenticateRequest => {
                let (peer_id, rest) = split_counted(data, "pap.peer_id")?;
                let (password, _) = split_counted(rest, "pap.password")?;
                Repr::AuthenticateRequest {
                    identifier,
                    peer_id,
                    password,
                }
            }
            Code::AuthenticateAck => {
                let (message, _) = split_counted(data, "pap.message")?;
                Repr::AuthenticateAck {
                    identifier,
                    message,
                }
            }
            Code::AuthenticateNak => {
                let (message, _) = split_counted(data, "pap.message")?;
                Repr::AuthenticateNak {
                    identifier,
                    message,
                }
            }
            Code::Unknown(code) => Repr::Other {
                code,
                identifier,
                data,
            },
        })
    }

    fn code(&self) -> u8 {
        match self {
            Repr::AuthenticateRequest { .. } => Code::AuthenticateRequest.into(),
            Repr::AuthenticateAck { .. } => Code::AuthenticateAck.into(),
            Repr::AuthenticateNak { .. } => Code::AuthenticateNak.into(),
            Repr::Other { code, .. } => *code,
        }
    }

    /// The Identifier octet.
    pub const fn identifier(&self) -> u8 {
        match self {
            Repr::AuthenticateRequest { identifier, .. }
            | Repr::AuthenticateAck { identifier, .. }
            | Repr::AuthenticateNak { identifier, .. }
            | Repr::Other { identifier, .. } => *identifier,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Repr::AuthenticateRequest {
                peer_id, password, ..
            } => 2 + peer_id.len() + password.len(),
            Repr::AuthenticateAck { message, .. } | Repr::AuthenticateNak { message, .. } => {
                1 + message.len()
            }
            Repr::Other { data, .. } => data.len(),
        }
    }

    /// Encoded length, header included.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len()
    }

    /// Writes the packet into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let at = "pap";
        let out = emit_header(buf, self.code(), self.identifier(), self.data_len(), at)?;
        match self {
            Repr::AuthenticateRequest {
                peer_id, password, ..
            } => write_parts(
                out,
                &[
                    &[counted_len(peer_id)?],
                    peer_id,
                    &[counted_len(password)?],
                    password,
                ],
                at,
            ),
            Repr::AuthenticateAck { message, .. } | Repr::AuthenticateNak { message, .. } => {
                write_parts(out, &[&[counted_len(message)?], message], at)
            }
            Repr::Other { data, .. } => write_parts(out, &[data], at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1334 §2.2.1 layout: user "bob", password "pw".
    const REQUEST: [u8; 11] = [
        0x01, 0x07, 0x00, 0x0b, 0x03, b'b', b'o', b'b', 0x02, b'p', b'w',
    ];
    const ACK: [u8; 7] = [0x02, 0x07, 0x00, 0x07, 0x02, b'o', b'k'];

    #[test]
    fn parse_emit_round_trip() {
        for bytes in [
            &REQUEST[..],
            &ACK[..],
            &[0x03, 0x01, 0x00, 0x05, 0x00][..],
            &[0x09, 0x01, 0x00, 0x05, 0x42][..],
        ] {
            let p = Packet::new_checked(bytes).unwrap();
            let repr = Repr::parse(&p).unwrap();
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            assert_eq!(out, bytes);
        }
        let repr = Repr::parse(&Packet::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            Repr::AuthenticateRequest {
                identifier: 7,
                peer_id: b"bob",
                password: b"pw"
            }
        );
        assert!(
            !format!("{repr:?}").contains("112, 119"),
            "password must be redacted"
        );
    }

    #[test]
    fn truncated_fields() {
        for bad in [
            &[0x01, 0x07, 0x00, 0x04][..],
            &[0x01, 0x07, 0x00, 0x06, 0x03, b'b'][..],
            &[0x01, 0x07, 0x00, 0x08, 0x01, b'b', 0x02, b'p'][..],
            &[0x02, 0x07, 0x00, 0x05, 0x01][..],
        ] {
            let p = Packet::new_checked(bad).unwrap();
            assert!(Repr::parse(&p).is_err(), "{bad:02x?}");
        }
    }
}
