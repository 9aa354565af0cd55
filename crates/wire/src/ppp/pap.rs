//! PAP packets (RFC 1334 §2.2). PAP shares the `Code | Identifier | Length` header with LCP,
//! so it is read through `control::Packet` and decoded as a `control::Message` whose body is a
//! [`Body`].

use super::control::{Message, MessageBody, counted_len, split_counted, write_parts};
use crate::Result;

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

/// A decoded PAP packet: the Identifier and the [`Body`].
pub type Repr<'a> = Message<Body<'a>>;

/// The Code and Data of a PAP packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Authenticate-Request: `Peer-ID Length | Peer-ID | Passwd-Length | Password`.
    AuthenticateRequest {
        /// The peer (user) name.
        peer_id: &'a [u8],
        /// The cleartext password (never logged: `Debug` redacts it).
        password: &'a [u8],
    },
    /// Authenticate-Ack: `Msg-Length | Message`.
    AuthenticateAck(&'a [u8]),
    /// Authenticate-Nak: `Msg-Length | Message`.
    AuthenticateNak(&'a [u8]),
    /// Any other code, kept as data.
    Other {
        /// The code.
        code: u8,
        /// Data.
        data: &'a [u8],
    },
}

impl core::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Body::AuthenticateRequest { peer_id, .. } => f
                .debug_struct("AuthenticateRequest")
                .field("peer_id", peer_id)
                .field("password", &"<redacted>")
                .finish(),
            Body::AuthenticateAck(message) => {
                f.debug_tuple("AuthenticateAck").field(message).finish()
            }
            Body::AuthenticateNak(message) => {
                f.debug_tuple("AuthenticateNak").field(message).finish()
            }
            Body::Other { code, data } => f
                .debug_struct("Other")
                .field("code", code)
                .field("data", data)
                .finish(),
        }
    }
}

impl<'a> MessageBody<'a> for Body<'a> {
    const AT: &'static str = "pap";

    /// Octets after the last counted field are ignored, as padding.
    fn parse(code: u8, data: &'a [u8]) -> Result<Self> {
        Ok(match Code::from(code) {
            Code::AuthenticateRequest => {
                let (peer_id, rest) = split_counted(data, "pap.peer_id")?;
                let (password, _) = split_counted(rest, "pap.password")?;
                Body::AuthenticateRequest { peer_id, password }
            }
            Code::AuthenticateAck => Body::AuthenticateAck(split_counted(data, "pap.message")?.0),
            Code::AuthenticateNak => Body::AuthenticateNak(split_counted(data, "pap.message")?.0),
            Code::Unknown(code) => Body::Other { code, data },
        })
    }

    fn code(&self) -> u8 {
        match self {
            Body::AuthenticateRequest { .. } => Code::AuthenticateRequest.into(),
            Body::AuthenticateAck(_) => Code::AuthenticateAck.into(),
            Body::AuthenticateNak(_) => Code::AuthenticateNak.into(),
            Body::Other { code, .. } => *code,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Body::AuthenticateRequest { peer_id, password } => 2 + peer_id.len() + password.len(),
            Body::AuthenticateAck(message) | Body::AuthenticateNak(message) => 1 + message.len(),
            Body::Other { data, .. } => data.len(),
        }
    }

    fn emit_data(&self, out: &mut [u8]) -> Result<()> {
        match self {
            Body::AuthenticateRequest { peer_id, password } => {
                let id_len = counted_len(peer_id, "pap.peer_id")?;
                let pw_len = counted_len(password, "pap.password")?;
                write_parts(out, &[&[id_len], peer_id, &[pw_len], password], Self::AT)
            }
            Body::AuthenticateAck(message) | Body::AuthenticateNak(message) => {
                let len = counted_len(message, "pap.message")?;
                write_parts(out, &[&[len], message], Self::AT)
            }
            Body::Other { data, .. } => write_parts(out, &[data], Self::AT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::control::Packet;

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
            Repr {
                identifier: 7,
                body: Body::AuthenticateRequest {
                    peer_id: b"bob",
                    password: b"pw"
                }
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
