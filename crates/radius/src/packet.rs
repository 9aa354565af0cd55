//! The RADIUS packet (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3 and §3).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! |                         Authenticator                         |
//! |                                                               |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attributes ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! - [`Packet`] views a datagram in place. RFC 2865 §3 on Length: "The minimum length is 20
//!   and maximum length is 4096. [...] If the packet is shorter than the Length field
//!   indicates, it MUST be silently discarded. [...] Octets outside the range of the Length
//!   field MUST be treated as padding and ignored on reception." [`Packet::check_len`] enforces
//!   the first two; every getter reads only inside Length.
//! - [`Repr`] is the parsed packet: code, identifier, authenticator and the typed
//!   [`Attribute`]s. `emit(parse(b)) == b` for every `b` that parses, up to the padding after
//!   Length: attributes that are unknown, or known but malformed, are kept raw
//!   ([`Attribute::Other`]).
//!
//! Computing and checking the Authenticator field and Message-Authenticator is in
//! [`crate::auth`]; `Repr::emit` writes the authenticator it is given.

use crate::attr::{Attribute, Attrs, RawAttr};
use wire::enum_with_unknown;
use wire::{Error, Result};

/// The fixed header: Code, Identifier, Length, Authenticator (RFC 2865 §3).
pub const HEADER_LEN: usize = 20;
/// The largest packet (RFC 2865 §3: "maximum length is 4096").
pub const MAX_LEN: usize = 4096;
/// Length of the Authenticator field (RFC 2865 §3).
pub const AUTHENTICATOR_LEN: usize = 16;
/// The authentication port (RFC 2865 §3).
pub const AUTH_PORT: u16 = 1812;
/// The accounting port (RFC 2866 §3).
pub const ACCT_PORT: u16 = 1813;
/// The port a NAS listens on for Disconnect and CoA requests (RFC 5176 §2.3).
pub const DYNAUTH_PORT: u16 = 3799;

/// A Request or Response Authenticator.
pub type Authenticator = [u8; AUTHENTICATOR_LEN];

enum_with_unknown! {
    /// Packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3).
    pub enum Code(u8) {
        /// Access-Request (RFC 2865 §4.1).
        AccessRequest = 1,
        /// Access-Accept (RFC 2865 §4.2).
        AccessAccept = 2,
        /// Access-Reject (RFC 2865 §4.3).
        AccessReject = 3,
        /// Accounting-Request (RFC 2866 §4.1).
        AccountingRequest = 4,
        /// Accounting-Response (RFC 2866 §4.2).
        AccountingResponse = 5,
        /// Access-Challenge (RFC 2865 §4.4).
        AccessChallenge = 11,
        /// Disconnect-Request (RFC 5176 §2.3).
        DisconnectRequest = 40,
        /// Disconnect-ACK (RFC 5176 §2.3).
        DisconnectAck = 41,
        /// Disconnect-NAK (RFC 5176 §2.3).
        DisconnectNak = 42,
        /// CoA-Request (RFC 5176 §2.3).
        CoaRequest = 43,
        /// CoA-ACK (RFC 5176 §2.3).
        CoaAck = 44,
        /// CoA-NAK (RFC 5176 §2.3).
        CoaNak = 45,
    }
}

impl Code {
    /// Whether this code is a request (its Authenticator is a Request Authenticator).
    pub fn is_request(self) -> bool {
        matches!(
            self,
            Self::AccessRequest
                | Self::AccountingRequest
                | Self::DisconnectRequest
                | Self::CoaRequest
        )
    }

    /// Whether this code answers `request`.
    pub fn answers(self, request: Self) -> bool {
        match request {
            Self::AccessRequest => matches!(
                self,
                Self::AccessAccept | Self::AccessReject | Self::AccessChallenge
            ),
            Self::AccountingRequest => self == Self::AccountingResponse,
            Self::DisconnectRequest => matches!(self, Self::DisconnectAck | Self::DisconnectNak),
            Self::CoaRequest => matches!(self, Self::CoaAck | Self::CoaNak),
            _ => false,
        }
    }
}

mod field {
    use wire::Field;

    pub(super) const CODE: usize = 0;
    pub(super) const IDENTIFIER: usize = 1;
    pub(super) const LENGTH: Field = 2..4;
    pub(super) const AUTHENTICATOR: Field = 4..20;
}

/// Where the Authenticator field sits in a packet.
pub const AUTHENTICATOR_FIELD: core::ops::Range<usize> = field::AUTHENTICATOR;

/// A read/write view of a RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

// Every index below is behind `check_len`: the header fits, and 20 <= Length <= buffer length.
#[allow(clippy::indexing_slicing)]
impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic until [`Self::check_len`] passed.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks it ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the header fits and that Length is within 20..=4096 and within the buffer (RFC
    /// 2865 §3). Bytes past Length are padding and ignored. The attribute chain is checked by
    /// [`Attrs`] (and so by [`Repr::parse`]).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::truncated("radius.header"));
        }
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if !(HEADER_LEN..=MAX_LEN).contains(&len) {
            return Err(Error::bad_length("radius.length"));
        }
        if len > b.len() {
            return Err(Error::truncated("radius.length"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Code field.
    pub fn code(&self) -> Code {
        Code::from(self.buffer.as_ref()[field::CODE])
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }

    /// The Length field.
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The Authenticator field.
    pub fn authenticator(&self) -> Authenticator {
        let mut a = [0u8; AUTHENTICATOR_LEN];
        a.copy_from_slice(&self.buffer.as_ref()[field::AUTHENTICATOR]);
        a
    }

    /// The packet inside Length (padding after it cut off).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.length())]
    }

    /// The attribute bytes: from octet 20 up to Length.
    pub fn attributes(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }

    /// The attributes, one `Result` each.
    pub fn attrs(&self) -> Attrs<'_> {
        Attrs::new(self.attributes())
    }
}

#[allow(clippy::indexing_slicing)] // Setters need a buffer of at least HEADER_LEN bytes.
impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Code field.
    pub fn set_code(&mut self, code: Code) {
        self.buffer.as_mut()[field::CODE] = code.into();
    }

    /// Sets the Identifier field.
    pub fn set_identifier(&mut self, id: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = id;
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the Authenticator field.
    pub fn set_authenticator(&mut self, a: &Authenticator) {
        self.buffer.as_mut()[field::AUTHENTICATOR].copy_from_slice(a);
    }
}

/// A parsed RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// The Code.
    pub code: Code,
    /// The Identifier: matches a response to its request (RFC 2865 §3).
    pub identifier: u8,
    /// The Request or Response Authenticator, as on the wire.
    pub authenticator: Authenticator,
    /// The attributes, in order (RFC 2865 §5: order matters among attributes of one type).
    pub attributes: Vec<Attribute>,
}

impl Repr {
    /// Parses a checked packet: every attribute must be well-formed as a type-length-value
    /// (RFC 2865 §5); the values are typed where this crate knows them, raw otherwise.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        let attributes = packet
            .attrs()
            .map(|a| a.map(|a| Attribute::parse(&a)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            code: packet.code(),
            identifier: packet.identifier(),
            authenticator: packet.authenticator(),
            attributes,
        })
    }

    /// Parses a datagram (a convenience for `Repr::parse(&Packet::new_checked(bytes)?)`).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// The emitted length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self
                .attributes
                .iter()
                .map(Attribute::buffer_len)
                .sum::<usize>()
    }

    /// Writes the packet into the first [`Self::buffer_len`] bytes of `buffer`. Fails if it
    /// would exceed 4096 octets or an attribute cannot be encoded.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let len = self.buffer_len();
        if len > MAX_LEN {
            return Err(Error::bad_length("radius.length"));
        }
        let out = buffer
            .get_mut(..len)
            .ok_or(Error::buffer_too_small("radius.packet"))?;
        let (header, mut rest) = out.split_at_mut(HEADER_LEN);
        let mut p = Packet::new_unchecked(header);
        p.set_code(self.code);
        p.set_identifier(self.identifier);
        // `len <= MAX_LEN` fits in 16 bits.
        p.set_length(len as u16);
        p.set_authenticator(&self.authenticator);
        for a in &self.attributes {
            let n = a.buffer_len();
            let (this, tail) = rest
                .split_at_mut_checked(n)
                .ok_or(Error::buffer_too_small("radius.attribute"))?;
            a.emit(this)?;
            rest = tail;
        }
        Ok(())
    }

    /// Emits into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.buffer_len()];
        self.emit(&mut out)?;
        Ok(out)
    }

    /// The first attribute for which `f` returns `Some`.
    pub fn find<'a, R>(&'a self, f: impl FnMut(&'a Attribute) -> Option<R>) -> Option<R> {
        self.attributes.iter().find_map(f)
    }
}

/// Finds the one Message-Authenticator of a packet's attribute chain: returns the offset of its
/// 16-octet value inside `attributes`, `None` if there is none. More than one, or one whose
/// length is not 18, is an error (RFC 3579 §3.2: "Length = 18"; RFC 2869 §5.19 table: at most
/// one per packet).
pub(crate) fn message_authenticator_at(attributes: &[u8]) -> Result<Option<usize>> {
    let mut at = None;
    let mut offset = 0usize;
    for a in Attrs::new(attributes) {
        let a: RawAttr<'_> = a?;
        if a.attr_type == u8::from(crate::attr::AttrType::MessageAuthenticator) {
            if a.value.len() != AUTHENTICATOR_LEN {
                return Err(Error::bad_length("radius.message_authenticator"));
            }
            if at.is_some() {
                return Err(Error::bad_value("radius.message_authenticator.duplicate"));
            }
            at = Some(offset + 2);
        }
        offset += a.buffer_len();
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u16) -> Vec<u8> {
        let mut b = vec![1u8, 7];
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[0xaa; 16]);
        b
    }

    #[test]
    fn check_len_refuses_short_and_bad_lengths() {
        let b = header(20);
        for n in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&b[..n]).unwrap_err(),
                Error::truncated("radius.header")
            );
        }
        assert!(Packet::new_checked(&b[..]).is_ok());
        assert_eq!(
            Packet::new_checked(&header(19)[..]).unwrap_err(),
            Error::bad_length("radius.length")
        );
        let mut big = header(4097);
        big.resize(5000, 0);
        assert_eq!(
            Packet::new_checked(&big[..]).unwrap_err(),
            Error::bad_length("radius.length")
        );
        assert_eq!(
            Packet::new_checked(&header(21)[..]).unwrap_err(),
            Error::truncated("radius.length")
        );
    }

    #[test]
    fn padding_after_length_is_ignored() {
        let mut b = header(23);
        b.extend_from_slice(&[18, 3, b'x', 0xde, 0xad]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.as_bytes().len(), 23);
        assert_eq!(p.attributes(), &[18, 3, b'x']);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.to_vec().unwrap(), b[..23]);
    }

    #[test]
    fn deconstruct_and_construct() {
        let mut b = header(26);
        b.extend_from_slice(&[5, 6, 0, 0, 0, 3]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.code(), Code::AccessRequest);
        assert_eq!(p.identifier(), 7);
        assert_eq!(p.length(), 26);
        assert_eq!(p.authenticator(), [0xaa; 16]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.attributes, vec![Attribute::NasPort(3)]);
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut out).unwrap();
        assert_eq!(out, b);
        assert_eq!(
            r.emit(&mut [0u8; 25]).unwrap_err(),
            Error::buffer_too_small("radius.packet")
        );
        let mut q = Packet::new_unchecked(&mut out[..]);
        q.set_code(Code::CoaRequest);
        q.set_identifier(9);
        q.set_authenticator(&[1; 16]);
        assert_eq!(out[0], 43);
        assert_eq!(out[1], 9);
        assert_eq!(out[4..20], [1; 16]);
    }

    #[test]
    fn malformed_attribute_chains_are_refused() {
        // Length 1 (below the 2-octet header), and one running past Length.
        for tail in [&[1u8, 1][..], &[1, 3], &[1]] {
            let mut b = header(20 + tail.len() as u16);
            b.extend_from_slice(tail);
            assert!(Repr::parse_bytes(&b).is_err(), "{tail:?}");
        }
    }

    #[test]
    fn too_long_a_packet_is_not_emitted() {
        let r = Repr {
            code: Code::AccessRequest,
            identifier: 0,
            authenticator: [0; 16],
            attributes: vec![Attribute::Class(vec![0; 253]); 17],
        };
        assert!(r.buffer_len() > MAX_LEN);
        assert_eq!(r.to_vec().unwrap_err(), Error::bad_length("radius.length"));
    }

    #[test]
    fn codes_answer_their_requests() {
        use Code::*;
        assert!(AccessAccept.answers(AccessRequest));
        assert!(AccessChallenge.answers(AccessRequest));
        assert!(!AccountingResponse.answers(AccessRequest));
        assert!(AccountingResponse.answers(AccountingRequest));
        assert!(DisconnectNak.answers(DisconnectRequest));
        assert!(CoaAck.answers(CoaRequest));
        assert!(!CoaAck.answers(AccessAccept));
        assert!(CoaRequest.is_request() && !CoaAck.is_request());
        for c in 0..=255u8 {
            assert_eq!(u8::from(Code::from(c)), c);
        }
    }

    #[test]
    fn message_authenticator_is_found_once() {
        let mut attrs = vec![1, 3, b'a', 80, 18];
        attrs.extend_from_slice(&[0; 16]);
        assert_eq!(message_authenticator_at(&attrs).unwrap(), Some(5));
        assert_eq!(message_authenticator_at(&[1, 3, b'a']).unwrap(), None);
        let mut two = attrs.clone();
        two.extend_from_slice(&attrs[3..]);
        assert!(message_authenticator_at(&two).is_err());
        assert!(message_authenticator_at(&[80, 4, 0, 0]).is_err());
    }
}
