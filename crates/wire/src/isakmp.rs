//! ISAKMP (RFC 2408) header and payloads, with the IKEv1 (RFC 2409) and NAT-T (RFC 3947) additions.
//!
//! - [`Packet`] is the fixed 28-octet header of RFC 2408 §3.1, viewed in place.
//! - [`Payloads`] walks the generic payload chain of RFC 2408 §3.2 and yields [`RawPayload`]s,
//!   whose body bytes are what RFC 2409 §5 hashes (`SAi_b`, `IDii_b`, `Ni_b`, ...).
//! - [`Payload`] is the parsed form of one payload body: SA/Proposal/Transform (§3.4-§3.6) with
//!   basic and variable attributes (§3.3), KE (§3.7), ID (§3.8, RFC 2407 §4.6.2), Certificate
//!   (§3.9), Certificate Request (§3.10), Hash (§3.11), Signature (§3.12), Nonce (§3.13),
//!   Notification (§3.14), Delete (§3.15), Vendor ID (§3.16), and NAT-D / NAT-OA
//!   (RFC 3947 §3.2, §5.2) under both the RFC payload types 20/21 and the draft-02 types 130/131
//!   (the XP SP2 dialect, docs/clients.md#windows-xp-nat-t).
//! - [`Repr`] is a whole plaintext message (header plus payloads), or a header plus an opaque
//!   encrypted body.
//!
//! RFC 2409 appendix A lets Life-Duration use either attribute form, and Windows is reported to
//! send the variable (long) form even for small values (docs/clients.md#windows-xp-ike, marked
//! unverified there), so attributes keep their form: [`Attribute::Basic`] and
//! [`Attribute::Variable`] both round-trip.
//! Parsing allocates small vectors for the proposal/transform/attribute lists: ISAKMP is control
//! plane only.

// Every index below is into a slice whose length was established just before: by `check_len`
// (header getters), by `split_at_checked` (payload parsers) or by `get_mut(..buffer_len())`
// (emitters). A `Packet` made with `new_unchecked` must be checked before its getters are used,
// as in smoltcp.
#![allow(clippy::indexing_slicing)]

use crate::{Error, Result};

/// Length of the fixed ISAKMP header (RFC 2408 §3.1).
pub const HEADER_LEN: usize = 28;
/// Length of the generic payload header (RFC 2408 §3.2).
pub const PAYLOAD_HEADER_LEN: usize = 4;
/// ISAKMP version 1.0 (major 1, minor 0), RFC 2408 §3.1.
pub const VERSION_1_0: u8 = 0x10;

/// Header flag bits (RFC 2408 §3.1).
pub mod flags {
    /// E(ncryption): the payloads after the header are encrypted.
    pub const ENCRYPTION: u8 = 0x01;
    /// C(ommit).
    pub const COMMIT: u8 = 0x02;
    /// A(uthentication Only).
    pub const AUTH_ONLY: u8 = 0x04;
}

enum_with_unknown! {
    /// Next Payload codepoints (RFC 2408 §3.1, RFC 3947 §3.1/§5.2, draft-ietf-ipsec-nat-t-ike-02).
    pub enum PayloadType(u8) {
        /// No next payload.
        None = 0x00,
        /// Security Association.
        Sa = 0x01,
        /// Proposal (inside an SA only).
        Proposal = 0x02,
        /// Transform (inside a Proposal only).
        Transform = 0x03,
        /// Key Exchange.
        KeyExchange = 0x04,
        /// Identification.
        Identification = 0x05,
        /// Certificate.
        Certificate = 0x06,
        /// Certificate Request.
        CertificateRequest = 0x07,
        /// Hash.
        Hash = 0x08,
        /// Signature.
        Signature = 0x09,
        /// Nonce.
        Nonce = 0x0a,
        /// Notification.
        Notification = 0x0b,
        /// Delete.
        Delete = 0x0c,
        /// Vendor ID.
        VendorId = 0x0d,
        /// NAT-D, RFC 3947 §3.2.
        NatD = 0x14,
        /// NAT-OA, RFC 3947 §5.2.
        NatOa = 0x15,
        /// NAT-D under the draft-02/03 private-use number.
        NatDDraft = 0x82,
        /// NAT-OA under the draft-02/03 private-use number.
        NatOaDraft = 0x83,
    }
}

enum_with_unknown! {
    /// Exchange types (RFC 2408 §3.1, RFC 2409 §5.5 Quick Mode).
    pub enum ExchangeType(u8) {
        /// None.
        None = 0x00,
        /// Base.
        Base = 0x01,
        /// Identity Protection (IKEv1 Main Mode).
        IdentityProtection = 0x02,
        /// Authentication Only.
        AuthenticationOnly = 0x03,
        /// Aggressive.
        Aggressive = 0x04,
        /// Informational.
        Informational = 0x05,
        /// IKEv1 Quick Mode (RFC 2409 §5.5).
        QuickMode = 0x20,
    }
}

enum_with_unknown! {
    /// Notify Message Types (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706 §5).
    pub enum NotifyType(u16) {
        /// INVALID-PAYLOAD-TYPE.
        InvalidPayloadType = 0x0001,
        /// INVALID-SPI.
        InvalidSpi = 0x000b,
        /// NO-PROPOSAL-CHOSEN.
        NoProposalChosen = 0x000e,
        /// PAYLOAD-MALFORMED.
        PayloadMalformed = 0x0010,
        /// INVALID-ID-INFORMATION.
        InvalidIdInformation = 0x0012,
        /// INVALID-CERT-ENCODING.
        InvalidCertEncoding = 0x0013,
        /// INVALID-CERTIFICATE.
        InvalidCertificate = 0x0014,
        /// CERT-TYPE-UNSUPPORTED.
        CertTypeUnsupported = 0x0015,
        /// INVALID-CERT-AUTHORITY.
        InvalidCertAuthority = 0x0016,
        /// INVALID-HASH-INFORMATION.
        InvalidHashInformation = 0x0017,
        /// AUTHENTICATION-FAILED.
        AuthenticationFailed = 0x0018,
        /// INVALID-SIGNATURE.
        InvalidSignature = 0x0019,
        /// CERTIFICATE-UNAVAILABLE.
        CertificateUnavailable = 0x001c,
        /// RESPONDER-LIFETIME (RFC 2407 §4.6.3.1).
        ResponderLifetime = 0x6000,
        /// REPLAY-STATUS (RFC 2407 §4.6.3.2).
        ReplayStatus = 0x6001,
        /// INITIAL-CONTACT (RFC 2407 §4.6.3.3).
        InitialContact = 0x6002,
        /// R-U-THERE (RFC 3706 §5).
        RUThere = 0x8d28,
        /// R-U-THERE-ACK (RFC 3706 §5).
        RUThereAck = 0x8d29,
    }
}

enum_with_unknown! {
    /// Identification types (RFC 2407 §4.6.2.1); also the NAT-OA address type (RFC 3947 §5.2).
    pub enum IdType(u8) {
        /// ID_IPV4_ADDR.
        Ipv4Addr = 0x01,
        /// ID_FQDN.
        Fqdn = 0x02,
        /// ID_USER_FQDN.
        UserFqdn = 0x03,
        /// ID_IPV4_ADDR_SUBNET.
        Ipv4AddrSubnet = 0x04,
        /// ID_IPV6_ADDR.
        Ipv6Addr = 0x05,
        /// ID_IPV6_ADDR_SUBNET.
        Ipv6AddrSubnet = 0x06,
        /// ID_IPV4_ADDR_RANGE.
        Ipv4AddrRange = 0x07,
        /// ID_IPV6_ADDR_RANGE.
        Ipv6AddrRange = 0x08,
        /// ID_DER_ASN1_DN.
        DerAsn1Dn = 0x09,
        /// ID_DER_ASN1_GN.
        DerAsn1Gn = 0x0a,
        /// ID_KEY_ID.
        KeyId = 0x0b,
    }
}

/// Protocol identifiers (RFC 2407 §4.4.1).
pub mod protocol {
    /// PROTO_ISAKMP.
    pub const ISAKMP: u8 = 1;
    /// PROTO_IPSEC_AH.
    pub const AH: u8 = 2;
    /// PROTO_IPSEC_ESP.
    pub const ESP: u8 = 3;
}

/// The IPsec DOI (RFC 2407 §4.2).
pub const DOI_IPSEC: u32 = 1;
/// SIT_IDENTITY_ONLY (RFC 2407 §4.2.1).
pub const SIT_IDENTITY_ONLY: u32 = 1;

mod field {
    use crate::Field;
    pub(crate) const ICOOKIE: Field = 0..8;
    pub(crate) const RCOOKIE: Field = 8..16;
    pub(crate) const NEXT_PAYLOAD: usize = 16;
    pub(crate) const VERSION: usize = 17;
    pub(crate) const EXCHANGE: usize = 18;
    pub(crate) const FLAGS: usize = 19;
    pub(crate) const MESSAGE_ID: Field = 20..24;
    pub(crate) const LENGTH: Field = 24..28;
}

/// A read/write view of an ISAKMP header and the payload bytes that follow (RFC 2408 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks it with [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header fits and that the Length field covers at least the header and at
    /// most the buffer. Bytes past Length are ignored (UDP may carry trailing garbage).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::truncated("isakmp.header"));
        }
        let len = self.length() as usize;
        if len < HEADER_LEN {
            return Err(Error::bad_length("isakmp.length"));
        }
        if len > b.len() {
            return Err(Error::truncated("isakmp.length"));
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Initiator cookie.
    pub fn initiator_cookie(&self) -> [u8; 8] {
        let mut c = [0; 8];
        c.copy_from_slice(&self.buffer.as_ref()[field::ICOOKIE]);
        c
    }

    /// Responder cookie.
    pub fn responder_cookie(&self) -> [u8; 8] {
        let mut c = [0; 8];
        c.copy_from_slice(&self.buffer.as_ref()[field::RCOOKIE]);
        c
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType::from(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    /// Version octet (major in the high nibble).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// Exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType::from(self.buffer.as_ref()[field::EXCHANGE])
    }

    /// Flags octet (see [`flags`]).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Message ID.
    pub fn message_id(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::MESSAGE_ID])
    }

    /// Length of the whole message, header included.
    pub fn length(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::LENGTH])
    }

    /// The bytes after the header, up to Length.
    pub fn payload(&self) -> &[u8] {
        let len = self.length() as usize;
        &self.buffer.as_ref()[HEADER_LEN..len]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the initiator cookie.
    pub fn set_initiator_cookie(&mut self, c: [u8; 8]) {
        self.buffer.as_mut()[field::ICOOKIE].copy_from_slice(&c);
    }

    /// Sets the responder cookie.
    pub fn set_responder_cookie(&mut self, c: [u8; 8]) {
        self.buffer.as_mut()[field::RCOOKIE].copy_from_slice(&c);
    }

    /// Sets the first payload type.
    pub fn set_next_payload(&mut self, t: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = t.into();
    }

    /// Sets the version octet.
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[field::VERSION] = v;
    }

    /// Sets the exchange type.
    pub fn set_exchange_type(&mut self, t: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE] = t.into();
    }

    /// Sets the flags octet.
    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    /// Sets the message ID.
    pub fn set_message_id(&mut self, id: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&id.to_be_bytes());
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, len: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }
}

/// One payload of a chain: its type, its body (without the generic header) and the type of the
/// payload after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// This payload's type (from the previous Next Payload field).
    pub kind: PayloadType,
    /// The Next Payload field of this payload.
    pub next: PayloadType,
    /// The body, without the 4-octet generic header.
    pub body: &'a [u8],
}

/// An iterator over a generic payload chain (RFC 2408 §3.2).
///
/// It stops after the payload whose Next Payload is NONE; any bytes after it (the block padding
/// of a decrypted message, RFC 2409 Appendix B) are left in [`Payloads::remainder`].
#[derive(Debug, Clone)]
pub struct Payloads<'a> {
    next: PayloadType,
    rest: &'a [u8],
    consumed: usize,
    failed: bool,
}

impl<'a> Payloads<'a> {
    /// Walks `bytes`, whose first payload has type `first`.
    pub fn new(first: PayloadType, bytes: &'a [u8]) -> Self {
        Self {
            next: first,
            rest: bytes,
            consumed: 0,
            failed: false,
        }
    }

    /// Bytes consumed by the payloads yielded so far.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The bytes not yet consumed (after the end of the chain: padding).
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Payloads<'a> {
    type Item = Result<RawPayload<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next == PayloadType::None {
            return None;
        }
        let r = (|| {
            let (hdr, _) = self
                .rest
                .split_at_checked(PAYLOAD_HEADER_LEN)
                .ok_or(Error::truncated("payload.header"))?;
            let next = PayloadType::from(hdr[0]);
            let len = be16(&hdr[2..4]) as usize;
            if len < PAYLOAD_HEADER_LEN {
                return Err(Error::bad_length("payload.length"));
            }
            let (whole, rest) = self
                .rest
                .split_at_checked(len)
                .ok_or(Error::truncated("payload.length"))?;
            let body = &whole[PAYLOAD_HEADER_LEN..];
            let raw = RawPayload {
                kind: self.next,
                next,
                body,
            };
            self.rest = rest;
            self.consumed += len;
            self.next = next;
            Ok(raw)
        })();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// An SA attribute (RFC 2408 §3.3): basic (AF=1, 16-bit value) or variable (AF=0, length+value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute<'a> {
    /// TV form.
    Basic {
        /// Attribute type (without the AF bit).
        kind: u16,
        /// Value.
        value: u16,
    },
    /// TLV form.
    Variable {
        /// Attribute type (without the AF bit).
        kind: u16,
        /// Value bytes.
        value: &'a [u8],
    },
}

impl<'a> Attribute<'a> {
    /// The attribute type.
    pub fn kind(&self) -> u16 {
        match *self {
            Self::Basic { kind, .. } | Self::Variable { kind, .. } => kind,
        }
    }

    /// The value as an integer, if it fits in 64 bits (long-form Life-Duration included).
    pub fn value_u64(&self) -> Option<u64> {
        match *self {
            Self::Basic { value, .. } => Some(u64::from(value)),
            Self::Variable { value, .. } => {
                if value.is_empty() || value.len() > 8 {
                    return None;
                }
                Some(value.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            }
        }
    }

    /// Parses one attribute from the front of `b`, returning it and the rest.
    pub fn parse(b: &'a [u8]) -> Result<(Self, &'a [u8])> {
        let (h, rest) = b.split_at_checked(4).ok_or(Error::truncated("attribute"))?;
        let t = be16(&h[0..2]);
        let v = be16(&h[2..4]);
        if t & 0x8000 != 0 {
            Ok((
                Self::Basic {
                    kind: t & 0x7fff,
                    value: v,
                },
                rest,
            ))
        } else {
            let (value, rest) = rest
                .split_at_checked(v as usize)
                .ok_or(Error::truncated("attribute.length"))?;
            Ok((Self::Variable { kind: t, value }, rest))
        }
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::Basic { .. } => 4,
            Self::Variable { value, .. } => 4 + value.len(),
        }
    }

    /// Writes the attribute; `buf` must hold [`Attribute::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("attribute"))?;
        match *self {
            Self::Basic { kind, value } => {
                buf[0..2].copy_from_slice(&(kind | 0x8000).to_be_bytes());
                buf[2..4].copy_from_slice(&value.to_be_bytes());
            }
            Self::Variable { kind, value } => {
                let len = u16::try_from(value.len())
                    .map_err(|_| Error::bad_length("attribute.length"))?;
                buf[0..2].copy_from_slice(&(kind & 0x7fff).to_be_bytes());
                buf[2..4].copy_from_slice(&len.to_be_bytes());
                buf[4..].copy_from_slice(value);
            }
        }
        Ok(())
    }
}

/// A Transform payload (RFC 2408 §3.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransformRepr<'a> {
    /// Transform number.
    pub number: u8,
    /// Transform ID (KEY_IKE = 1, or an ESP transform ID of RFC 2407 §4.4.4).
    pub id: u8,
    /// SA attributes, in wire order.
    pub attributes: Vec<Attribute<'a>>,
}

impl<'a> TransformRepr<'a> {
    /// Parses a Transform body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (h, mut rest) = body
            .split_at_checked(4)
            .ok_or(Error::truncated("transform"))?;
        let mut attributes = Vec::new();
        while !rest.is_empty() {
            let (a, r) = Attribute::parse(rest)?;
            attributes.push(a);
            rest = r;
        }
        Ok(Self {
            number: h[0],
            id: h[1],
            attributes,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        4 + self
            .attributes
            .iter()
            .map(Attribute::buffer_len)
            .sum::<usize>()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("transform"))?;
        let (h, mut rest) = buf.split_at_mut(4);
        h.copy_from_slice(&[self.number, self.id, 0, 0]);
        for a in &self.attributes {
            a.emit(rest)?;
            rest = &mut rest[a.buffer_len()..];
        }
        Ok(())
    }
}

/// A Proposal payload (RFC 2408 §3.5) with its transforms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProposalRepr<'a> {
    /// Proposal number (proposals with equal numbers form one AND-ed offer).
    pub number: u8,
    /// Protocol ID ([`protocol`]).
    pub protocol: u8,
    /// SPI (empty for ISAKMP in Main Mode, 4 octets for ESP).
    pub spi: &'a [u8],
    /// Transforms in the initiator's order.
    pub transforms: Vec<TransformRepr<'a>>,
}

impl<'a> ProposalRepr<'a> {
    /// Parses a Proposal body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (h, rest) = body
            .split_at_checked(4)
            .ok_or(Error::truncated("proposal"))?;
        let (spi, rest) = rest
            .split_at_checked(h[2] as usize)
            .ok_or(Error::truncated("proposal.spi"))?;
        let count = h[3] as usize;
        let mut transforms = Vec::with_capacity(count);
        let mut it = Payloads::new(PayloadType::Transform, rest);
        for p in &mut it {
            let p = p?;
            if p.kind != PayloadType::Transform {
                return Err(Error::bad_value("transform.next_payload"));
            }
            transforms.push(TransformRepr::parse(p.body)?);
        }
        if !it.remainder().is_empty() {
            return Err(Error::bad_length("proposal.length"));
        }
        if transforms.len() != count {
            return Err(Error::bad_value("proposal.transforms"));
        }
        Ok(Self {
            number: h[0],
            protocol: h[1],
            spi,
            transforms,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        4 + self.spi.len()
            + self
                .transforms
                .iter()
                .map(|t| PAYLOAD_HEADER_LEN + t.buffer_len())
                .sum::<usize>()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("proposal"))?;
        let spi_len =
            u8::try_from(self.spi.len()).map_err(|_| Error::bad_length("proposal.spi"))?;
        let count = u8::try_from(self.transforms.len())
            .map_err(|_| Error::bad_value("proposal.transforms"))?;
        let (h, rest) = buf.split_at_mut(4);
        h.copy_from_slice(&[self.number, self.protocol, spi_len, count]);
        let (spi, mut rest) = rest.split_at_mut(self.spi.len());
        spi.copy_from_slice(self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            let next = if i + 1 == self.transforms.len() {
                PayloadType::None
            } else {
                PayloadType::Transform
            };
            let n = emit_generic(rest, next, t.buffer_len(), |b| t.emit(b))?;
            rest = &mut rest[n..];
        }
        Ok(())
    }
}

/// A Security Association payload (RFC 2408 §3.4, RFC 2407 §4.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaRepr<'a> {
    /// Domain of Interpretation ([`DOI_IPSEC`]).
    pub doi: u32,
    /// Situation ([`SIT_IDENTITY_ONLY`]).
    pub situation: u32,
    /// Proposals in the initiator's order.
    pub proposals: Vec<ProposalRepr<'a>>,
}

impl<'a> SaRepr<'a> {
    /// Parses an SA body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (h, rest) = body.split_at_checked(8).ok_or(Error::truncated("sa"))?;
        let mut proposals = Vec::new();
        let mut it = Payloads::new(PayloadType::Proposal, rest);
        for p in &mut it {
            let p = p?;
            if p.kind != PayloadType::Proposal {
                return Err(Error::bad_value("proposal.next_payload"));
            }
            proposals.push(ProposalRepr::parse(p.body)?);
        }
        if !it.remainder().is_empty() {
            return Err(Error::bad_length("sa.length"));
        }
        Ok(Self {
            doi: be32(&h[0..4]),
            situation: be32(&h[4..8]),
            proposals,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        8 + self
            .proposals
            .iter()
            .map(|p| PAYLOAD_HEADER_LEN + p.buffer_len())
            .sum::<usize>()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("sa"))?;
        let (h, mut rest) = buf.split_at_mut(8);
        h[0..4].copy_from_slice(&self.doi.to_be_bytes());
        h[4..8].copy_from_slice(&self.situation.to_be_bytes());
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 == self.proposals.len() {
                PayloadType::None
            } else {
                PayloadType::Proposal
            };
            let n = emit_generic(rest, next, p.buffer_len(), |b| p.emit(b))?;
            rest = &mut rest[n..];
        }
        Ok(())
    }
}

/// An Identification payload (RFC 2408 §3.8, IPsec DOI form of RFC 2407 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdRepr<'a> {
    /// ID type.
    pub id_type: IdType,
    /// IP protocol (0 = any, 17 = UDP).
    pub protocol: u8,
    /// Port (0 = any).
    pub port: u16,
    /// Identification data (4 octets for ID_IPV4_ADDR).
    pub data: &'a [u8],
}

impl<'a> IdRepr<'a> {
    /// Parses an ID body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (h, data) = body.split_at_checked(4).ok_or(Error::truncated("id"))?;
        Ok(Self {
            id_type: IdType::from(h[0]),
            protocol: h[1],
            port: be16(&h[2..4]),
            data,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("id"))?;
        buf[0] = self.id_type.into();
        buf[1] = self.protocol;
        buf[2..4].copy_from_slice(&self.port.to_be_bytes());
        buf[4..].copy_from_slice(self.data);
        Ok(())
    }

    /// The address of an ID_IPV4_ADDR identity.
    pub fn ipv4(&self) -> Option<core::net::Ipv4Addr> {
        match (self.id_type, <[u8; 4]>::try_from(self.data)) {
            (IdType::Ipv4Addr, Ok(a)) => Some(a.into()),
            _ => None,
        }
    }
}

/// A Notification payload (RFC 2408 §3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyRepr<'a> {
    /// DOI.
    pub doi: u32,
    /// Protocol ID.
    pub protocol: u8,
    /// Notify message type.
    pub kind: NotifyType,
    /// SPI (16 octets of cookies for ISAKMP in DPD, 4 for ESP).
    pub spi: &'a [u8],
    /// Notification data.
    pub data: &'a [u8],
}

impl<'a> NotifyRepr<'a> {
    /// Parses a Notification body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (h, rest) = body.split_at_checked(8).ok_or(Error::truncated("notify"))?;
        let (spi, data) = rest
            .split_at_checked(h[5] as usize)
            .ok_or(Error::truncated("notify.spi"))?;
        Ok(Self {
            doi: be32(&h[0..4]),
            protocol: h[4],
            kind: NotifyType::from(be16(&h[6..8])),
            spi,
            data,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        8 + self.spi.len() + self.data.len()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("notify"))?;
        let spi_len = u8::try_from(self.spi.len()).map_err(|_| Error::bad_length("notify.spi"))?;
        buf[0..4].copy_from_slice(&self.doi.to_be_bytes());
        buf[4] = self.protocol;
        buf[5] = spi_len;
        buf[6..8].copy_from_slice(&u16::from(self.kind).to_be_bytes());
        let (spi, data) = buf[8..].split_at_mut(self.spi.len());
        spi.copy_from_slice(self.spi);
        data.copy_from_slice(self.data);
        Ok(())
    }
}

/// A Delete payload (RFC 2408 §3.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeleteRepr<'a> {
    /// DOI.
    pub doi: u32,
    /// Protocol ID.
    pub protocol: u8,
    /// SPI size.
    pub spi_size: u8,
    /// The concatenated SPIs (count × `spi_size` octets).
    pub spis: &'a [u8],
}

impl<'a> DeleteRepr<'a> {
    /// Parses a Delete body; the SPI count must match the remaining bytes exactly.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (h, spis) = body.split_at_checked(8).ok_or(Error::truncated("delete"))?;
        let count = be16(&h[6..8]) as usize;
        if count.checked_mul(h[5] as usize) != Some(spis.len()) || h[5] == 0 {
            return Err(Error::bad_length("delete.spis"));
        }
        Ok(Self {
            doi: be32(&h[0..4]),
            protocol: h[4],
            spi_size: h[5],
            spis,
        })
    }

    /// The SPIs, one slice each.
    pub fn spis(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.spis.chunks_exact(self.spi_size.max(1) as usize)
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        8 + self.spis.len()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("delete"))?;
        let size = self.spi_size.max(1) as usize;
        if !self.spis.len().is_multiple_of(size) {
            return Err(Error::bad_length("delete.spis"));
        }
        let count =
            u16::try_from(self.spis.len() / size).map_err(|_| Error::bad_length("delete.spis"))?;
        buf[0..4].copy_from_slice(&self.doi.to_be_bytes());
        buf[4] = self.protocol;
        buf[5] = self.spi_size;
        buf[6..8].copy_from_slice(&count.to_be_bytes());
        buf[8..].copy_from_slice(self.spis);
        Ok(())
    }
}

/// A NAT-OA payload body (RFC 3947 §5.2): ID type, 3 reserved octets, address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatOaRepr<'a> {
    /// ID_IPV4_ADDR or ID_IPV6_ADDR.
    pub id_type: IdType,
    /// The address octets.
    pub address: &'a [u8],
}

impl<'a> NatOaRepr<'a> {
    /// Parses a NAT-OA body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (h, address) = body.split_at_checked(4).ok_or(Error::truncated("nat_oa"))?;
        Ok(Self {
            id_type: IdType::from(h[0]),
            address,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        4 + self.address.len()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("nat_oa"))?;
        buf[0..4].copy_from_slice(&[self.id_type.into(), 0, 0, 0]);
        buf[4..].copy_from_slice(self.address);
        Ok(())
    }

    /// The IPv4 address, if this is one.
    pub fn ipv4(&self) -> Option<core::net::Ipv4Addr> {
        match (self.id_type, <[u8; 4]>::try_from(self.address)) {
            (IdType::Ipv4Addr, Ok(a)) => Some(a.into()),
            _ => None,
        }
    }
}

enum_with_unknown! {
    /// Certificate Encoding / Cert Type codepoints (RFC 2408 §3.9; the same table is used by the
    /// CERTREQ payload, §3.10).
    pub enum CertEncoding(u8) {
        /// NONE.
        None = 0,
        /// PKCS #7 wrapped X.509 certificate.
        Pkcs7 = 1,
        /// PGP Certificate.
        Pgp = 2,
        /// DNS Signed Key.
        DnsSignedKey = 3,
        /// X.509 Certificate - Signature.
        X509Signature = 4,
        /// X.509 Certificate - Key Exchange.
        X509KeyExchange = 5,
        /// Kerberos Tokens.
        KerberosTokens = 6,
        /// Certificate Revocation List (CRL).
        Crl = 7,
        /// Authority Revocation List (ARL).
        Arl = 8,
        /// SPKI Certificate.
        Spki = 9,
        /// X.509 Certificate - Attribute.
        X509Attribute = 10,
    }
}

/// A Certificate payload body (RFC 2408 §3.9): one octet of Certificate Encoding, then the
/// Certificate Data (for [`CertEncoding::X509Signature`], one DER-encoded X.509 certificate).
///
/// The data must not be empty: a CERT payload without a certificate carries nothing to verify,
/// and is refused as `BadLength` at `cert.data`. The data is not decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertRepr<'a> {
    /// Certificate Encoding.
    pub encoding: CertEncoding,
    /// Certificate Data.
    pub data: &'a [u8],
}

impl<'a> CertRepr<'a> {
    /// Parses a CERT body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (&encoding, data) = body.split_first().ok_or(Error::truncated("cert"))?;
        if data.is_empty() {
            return Err(Error::bad_length("cert.data"));
        }
        Ok(Self {
            encoding: CertEncoding::from(encoding),
            data,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        1 + self.data.len()
    }

    /// Writes the body; refuses empty Certificate Data, which [`CertRepr::parse`] would refuse.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if self.data.is_empty() {
            return Err(Error::bad_length("cert.data"));
        }
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("cert"))?;
        buf[0] = self.encoding.into();
        buf[1..].copy_from_slice(self.data);
        Ok(())
    }
}

/// A Certificate Request payload body (RFC 2408 §3.10): one octet of Cert Type, then the
/// Certificate Authority.
///
/// For X.509 types the authority is a DER-encoded DistinguishedName of an acceptable CA
/// (RFC 2408 §3.10, RFC 4945 §3.2); it may be empty, which asks for a certificate of that type
/// from any CA (RFC 4945 §3.2). The name is not decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertReqRepr<'a> {
    /// Cert Type.
    pub cert_type: CertEncoding,
    /// Certificate Authority (possibly empty).
    pub authority: &'a [u8],
}

impl<'a> CertReqRepr<'a> {
    /// Parses a CERTREQ body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let (&cert_type, authority) = body.split_first().ok_or(Error::truncated("certreq"))?;
        Ok(Self {
            cert_type: CertEncoding::from(cert_type),
            authority,
        })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        1 + self.authority.len()
    }

    /// Writes the body.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("certreq"))?;
        buf[0] = self.cert_type.into();
        buf[1..].copy_from_slice(self.authority);
        Ok(())
    }
}

/// A Signature payload body (RFC 2408 §3.12): the Signature Data only (for RSA in IKEv1 Main
/// Mode, SIG_I or SIG_R of RFC 2409 §5.1, as long as the signer's modulus).
///
/// Empty Signature Data is refused as `BadLength` at `sig`: there is nothing to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SigRepr<'a> {
    /// Signature Data.
    pub data: &'a [u8],
}

impl<'a> SigRepr<'a> {
    /// Parses a SIG body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        if body.is_empty() {
            return Err(Error::bad_length("sig"));
        }
        Ok(Self { data: body })
    }

    /// Body length.
    pub fn buffer_len(&self) -> usize {
        self.data.len()
    }

    /// Writes the body; refuses empty Signature Data, which [`SigRepr::parse`] would refuse.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if self.data.is_empty() {
            return Err(Error::bad_length("sig"));
        }
        let buf = buf
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("sig"))?;
        buf.copy_from_slice(self.data);
        Ok(())
    }
}

/// One parsed payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// Security Association.
    Sa(SaRepr<'a>),
    /// Key Exchange data.
    KeyExchange(&'a [u8]),
    /// Identification.
    Identification(IdRepr<'a>),
    /// Certificate.
    Certificate(CertRepr<'a>),
    /// Certificate Request.
    CertificateRequest(CertReqRepr<'a>),
    /// Hash data.
    Hash(&'a [u8]),
    /// Signature.
    Signature(SigRepr<'a>),
    /// Nonce data.
    Nonce(&'a [u8]),
    /// Notification.
    Notification(NotifyRepr<'a>),
    /// Delete.
    Delete(DeleteRepr<'a>),
    /// Vendor ID.
    VendorId(&'a [u8]),
    /// NAT-D hash; `draft` selects payload type 130 instead of 20.
    NatD {
        /// Draft-02/03 numbering (130).
        draft: bool,
        /// The hash.
        hash: &'a [u8],
    },
    /// NAT-OA; `draft` selects payload type 131 instead of 21.
    NatOa {
        /// Draft-02/03 numbering (131).
        draft: bool,
        /// The original address.
        oa: NatOaRepr<'a>,
    },
    /// Any other payload type, kept as bytes (unknown types).
    Other {
        /// Payload type.
        kind: PayloadType,
        /// Body.
        body: &'a [u8],
    },
}

impl<'a> Payload<'a> {
    /// Parses a body of payload type `kind`.
    pub fn parse(kind: PayloadType, body: &'a [u8]) -> Result<Self> {
        Ok(match kind {
            PayloadType::Sa => Self::Sa(SaRepr::parse(body)?),
            PayloadType::KeyExchange => Self::KeyExchange(body),
            PayloadType::Identification => Self::Identification(IdRepr::parse(body)?),
            PayloadType::Certificate => Self::Certificate(CertRepr::parse(body)?),
            PayloadType::CertificateRequest => Self::CertificateRequest(CertReqRepr::parse(body)?),
            PayloadType::Hash => Self::Hash(body),
            PayloadType::Signature => Self::Signature(SigRepr::parse(body)?),
            PayloadType::Nonce => Self::Nonce(body),
            PayloadType::Notification => Self::Notification(NotifyRepr::parse(body)?),
            PayloadType::Delete => Self::Delete(DeleteRepr::parse(body)?),
            PayloadType::VendorId => Self::VendorId(body),
            PayloadType::NatD => Self::NatD {
                draft: false,
                hash: body,
            },
            PayloadType::NatDDraft => Self::NatD {
                draft: true,
                hash: body,
            },
            PayloadType::NatOa => Self::NatOa {
                draft: false,
                oa: NatOaRepr::parse(body)?,
            },
            PayloadType::NatOaDraft => Self::NatOa {
                draft: true,
                oa: NatOaRepr::parse(body)?,
            },
            PayloadType::None | PayloadType::Proposal | PayloadType::Transform => {
                return Err(Error::bad_value("payload.type"));
            }
            kind => Self::Other { kind, body },
        })
    }

    /// This payload's type code.
    pub fn kind(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::Sa,
            Self::KeyExchange(_) => PayloadType::KeyExchange,
            Self::Identification(_) => PayloadType::Identification,
            Self::Certificate(_) => PayloadType::Certificate,
            Self::CertificateRequest(_) => PayloadType::CertificateRequest,
            Self::Hash(_) => PayloadType::Hash,
            Self::Signature(_) => PayloadType::Signature,
            Self::Nonce(_) => PayloadType::Nonce,
            Self::Notification(_) => PayloadType::Notification,
            Self::Delete(_) => PayloadType::Delete,
            Self::VendorId(_) => PayloadType::VendorId,
            Self::NatD { draft: false, .. } => PayloadType::NatD,
            Self::NatD { draft: true, .. } => PayloadType::NatDDraft,
            Self::NatOa { draft: false, .. } => PayloadType::NatOa,
            Self::NatOa { draft: true, .. } => PayloadType::NatOaDraft,
            Self::Other { kind, .. } => *kind,
        }
    }

    /// Body length (without the generic header).
    pub fn body_len(&self) -> usize {
        match self {
            Self::Sa(r) => r.buffer_len(),
            Self::Identification(r) => r.buffer_len(),
            Self::Certificate(r) => r.buffer_len(),
            Self::CertificateRequest(r) => r.buffer_len(),
            Self::Signature(r) => r.buffer_len(),
            Self::Notification(r) => r.buffer_len(),
            Self::Delete(r) => r.buffer_len(),
            Self::NatOa { oa, .. } => oa.buffer_len(),
            Self::KeyExchange(b) | Self::Hash(b) | Self::Nonce(b) | Self::VendorId(b) => b.len(),
            Self::NatD { hash, .. } => hash.len(),
            Self::Other { body, .. } => body.len(),
        }
    }

    /// Writes the body only.
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<()> {
        let buf = buf
            .get_mut(..self.body_len())
            .ok_or(Error::buffer_too_small("payload"))?;
        match self {
            Self::Sa(r) => r.emit(buf),
            Self::Identification(r) => r.emit(buf),
            Self::Certificate(r) => r.emit(buf),
            Self::CertificateRequest(r) => r.emit(buf),
            Self::Signature(r) => r.emit(buf),
            Self::Notification(r) => r.emit(buf),
            Self::Delete(r) => r.emit(buf),
            Self::NatOa { oa, .. } => oa.emit(buf),
            Self::KeyExchange(b) | Self::Hash(b) | Self::Nonce(b) | Self::VendorId(b) => {
                buf.copy_from_slice(b);
                Ok(())
            }
            Self::NatD { hash, .. } => {
                buf.copy_from_slice(hash);
                Ok(())
            }
            Self::Other { body, .. } => {
                buf.copy_from_slice(body);
                Ok(())
            }
        }
    }

    /// The body as bytes (what RFC 2409 §5 calls `X_b`).
    pub fn body_bytes(&self) -> Result<Vec<u8>> {
        let mut v = vec![0; self.body_len()];
        self.emit_body(&mut v)?;
        Ok(v)
    }
}

/// Writes a generic payload header plus a body of `body_len` bytes produced by `f`; returns the
/// total length written.
fn emit_generic(
    buf: &mut [u8],
    next: PayloadType,
    body_len: usize,
    f: impl FnOnce(&mut [u8]) -> Result<()>,
) -> Result<usize> {
    let total = PAYLOAD_HEADER_LEN + body_len;
    let len = u16::try_from(total).map_err(|_| Error::bad_length("payload.length"))?;
    let buf = buf
        .get_mut(..total)
        .ok_or(Error::buffer_too_small("payload"))?;
    buf[0] = next.into();
    buf[1] = 0;
    buf[2..4].copy_from_slice(&len.to_be_bytes());
    f(&mut buf[PAYLOAD_HEADER_LEN..])?;
    Ok(total)
}

/// Parses a payload chain completely. Returns the payloads and the number of bytes they used;
/// bytes after the last payload are allowed only if `allow_padding` (decrypted bodies).
pub fn parse_payloads(
    first: PayloadType,
    bytes: &[u8],
    allow_padding: bool,
) -> Result<(Vec<Payload<'_>>, usize)> {
    let mut it = Payloads::new(first, bytes);
    let mut out = Vec::new();
    for p in &mut it {
        let p = p?;
        out.push(Payload::parse(p.kind, p.body)?);
    }
    if !allow_padding && !it.remainder().is_empty() {
        return Err(Error::bad_length("isakmp.length"));
    }
    Ok((out, it.consumed()))
}

/// Length of a payload chain.
pub fn payloads_len(payloads: &[Payload<'_>]) -> usize {
    payloads
        .iter()
        .map(|p| PAYLOAD_HEADER_LEN + p.body_len())
        .sum()
}

/// Writes a payload chain (with correct Next Payload links); returns the bytes written.
pub fn emit_payloads(payloads: &[Payload<'_>], buf: &mut [u8]) -> Result<usize> {
    let mut off = 0;
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(PayloadType::None, Payload::kind);
        let rest = buf
            .get_mut(off..)
            .ok_or(Error::buffer_too_small("payloads"))?;
        off += emit_generic(rest, next, p.body_len(), |b| p.emit_body(b))?;
    }
    Ok(off)
}

/// The header fields of a message (Length is computed on emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRepr {
    /// Initiator cookie.
    pub initiator_cookie: [u8; 8],
    /// Responder cookie.
    pub responder_cookie: [u8; 8],
    /// Version octet (normally [`VERSION_1_0`]).
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: u8,
    /// Message ID.
    pub message_id: u32,
}

impl HeaderRepr {
    /// Reads the header fields of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Self {
        Self {
            initiator_cookie: p.initiator_cookie(),
            responder_cookie: p.responder_cookie(),
            version: p.version(),
            exchange: p.exchange_type(),
            flags: p.flags(),
            message_id: p.message_id(),
        }
    }

    /// Writes the header with `first` payload type and total `length`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        first: PayloadType,
        length: u32,
    ) {
        p.set_initiator_cookie(self.initiator_cookie);
        p.set_responder_cookie(self.responder_cookie);
        p.set_next_payload(first);
        p.set_version(self.version);
        p.set_exchange_type(self.exchange);
        p.set_flags(self.flags);
        p.set_message_id(self.message_id);
        p.set_length(length);
    }
}

/// The body of a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Body<'a> {
    /// Plaintext payloads.
    Plain(Vec<Payload<'a>>),
    /// Encrypted payloads (E flag set): the first payload type and the ciphertext.
    Encrypted {
        /// Type of the first (encrypted) payload.
        first: PayloadType,
        /// Ciphertext.
        data: &'a [u8],
    },
}

/// A whole ISAKMP message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Header fields.
    pub header: HeaderRepr,
    /// Payloads.
    pub body: Body<'a>,
}

impl<'a> Repr<'a> {
    /// Parses a message from bytes. With the E flag set the body stays opaque.
    pub fn parse(b: &'a [u8]) -> Result<Self> {
        let p = Packet::new_checked(b)?;
        let header = HeaderRepr::parse(&p);
        let len = p.length() as usize;
        let data = b
            .get(HEADER_LEN..len)
            .ok_or(Error::truncated("isakmp.length"))?;
        let body = if header.flags & flags::ENCRYPTION != 0 {
            Body::Encrypted {
                first: p.next_payload(),
                data,
            }
        } else {
            Body::Plain(parse_payloads(p.next_payload(), data, false)?.0)
        };
        Ok(Self { header, body })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match &self.body {
                Body::Plain(p) => payloads_len(p),
                Body::Encrypted { data, .. } => data.len(),
            }
    }

    /// Writes the message into `buf` (at least [`Repr::buffer_len`] bytes).
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let len = self.buffer_len();
        let len32 = u32::try_from(len).map_err(|_| Error::bad_length("isakmp.length"))?;
        let buf = buf
            .get_mut(..len)
            .ok_or(Error::buffer_too_small("isakmp"))?;
        let (h, rest) = buf.split_at_mut(HEADER_LEN);
        let first = match &self.body {
            Body::Plain(p) => {
                emit_payloads(p, rest)?;
                p.first().map_or(PayloadType::None, Payload::kind)
            }
            Body::Encrypted { first, data } => {
                rest.copy_from_slice(data);
                *first
            }
        };
        self.header
            .emit(&mut Packet::new_unchecked(h), first, len32);
        Ok(())
    }

    /// Emits into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// strongSwan 5.9.8 Main Mode message 1 as decoded in the project's reference capture
    /// (3DES/SHA1/MODP1024/PSK/28800 s, five Vendor IDs), rebuilt byte for byte from the decode.
    fn mm1() -> Vec<u8> {
        let mut v = hex::decode(concat!(
            "1019b6fa9ff37f73",
            "0000000000000000",
            "01",
            "10",
            "02",
            "00",
            "00000000",
            "000000b0",
            // SA
            "0d000034",
            "00000001",
            "00000001",
            // Proposal #1, ISAKMP, no SPI, 1 transform
            "00000028",
            "01010001",
            // Transform #1 KEY_IKE
            "00000020",
            "01010000",
            "80010005",
            "80020002",
            "80040002",
            "80030001",
            "800b0001",
            "800c7080",
            // VIDs
            "0d00000c",
            "09002689dfd6b712",
            "0d000014",
            "afcad71368a1f1c96b8696fc77570100",
            "0d000018",
            "4048b7d56ebce88525e7de7f00d6c2d380000000",
            "0d000014",
            "4a131c81070358455c5728f20e95452f",
            "00000014",
            "90cb80913ebb696e086381b5ec427b1f",
        ))
        .unwrap();
        assert_eq!(v.len(), 176);
        v.shrink_to_fit();
        v
    }

    #[test]
    fn deconstruct() {
        let b = mm1();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            p.initiator_cookie(),
            [0x10, 0x19, 0xb6, 0xfa, 0x9f, 0xf3, 0x7f, 0x73]
        );
        assert_eq!(p.responder_cookie(), [0; 8]);
        assert_eq!(p.next_payload(), PayloadType::Sa);
        assert_eq!(p.version(), VERSION_1_0);
        assert_eq!(p.exchange_type(), ExchangeType::IdentityProtection);
        assert_eq!(p.flags(), 0);
        assert_eq!(p.message_id(), 0);
        assert_eq!(p.length(), 176);
        let kinds: Vec<_> = Payloads::new(p.next_payload(), p.payload())
            .map(|r| r.unwrap().kind)
            .collect();
        assert_eq!(kinds[0], PayloadType::Sa);
        assert_eq!(kinds.len(), 6);
        assert!(kinds[1..].iter().all(|k| *k == PayloadType::VendorId));
    }

    #[test]
    fn parse() {
        let b = mm1();
        let r = Repr::parse(&b).unwrap();
        let Body::Plain(ps) = &r.body else { panic!() };
        let Payload::Sa(sa) = &ps[0] else { panic!() };
        assert_eq!(sa.doi, DOI_IPSEC);
        assert_eq!(sa.situation, SIT_IDENTITY_ONLY);
        assert_eq!(sa.proposals.len(), 1);
        let t = &sa.proposals[0].transforms[0];
        assert_eq!((t.number, t.id), (1, 1));
        assert_eq!(t.attributes[0], Attribute::Basic { kind: 1, value: 5 });
        assert_eq!(t.attributes[5].value_u64(), Some(28800));
        assert_eq!(
            ps[5],
            Payload::VendorId(&hex::decode("90cb80913ebb696e086381b5ec427b1f").unwrap())
        );
    }

    #[test]
    fn emit() {
        let b = mm1();
        let r = Repr::parse(&b).unwrap();
        assert_eq!(r.buffer_len(), b.len());
        assert_eq!(r.to_vec().unwrap(), b);
    }

    #[test]
    fn construct() {
        let mut buf = [0xffu8; 28];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_initiator_cookie([1; 8]);
        p.set_responder_cookie([2; 8]);
        p.set_next_payload(PayloadType::None);
        p.set_version(VERSION_1_0);
        p.set_exchange_type(ExchangeType::Informational);
        p.set_flags(flags::ENCRYPTION);
        p.set_message_id(0xdeadbeef);
        p.set_length(28);
        assert_eq!(
            &buf[..],
            &hex::decode(
                "01010101010101010202020202020202001005 01deadbeef0000001c".replace(' ', "")
            )
            .unwrap()[..]
        );
    }

    #[test]
    fn check_len() {
        let b = mm1();
        assert_eq!(
            Packet::new_checked(&b[..27]).unwrap_err(),
            Error::truncated("isakmp.header")
        );
        assert_eq!(
            Packet::new_checked(&b[..175]).unwrap_err(),
            Error::truncated("isakmp.length")
        );
        let mut c = b.clone();
        c[24..28].copy_from_slice(&27u32.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&c[..]).unwrap_err(),
            Error::bad_length("isakmp.length")
        );
        // Trailing bytes past Length are ignored.
        let mut d = b.clone();
        d.extend_from_slice(&[0, 0]);
        assert_eq!(Repr::parse(&d).unwrap().to_vec().unwrap(), b);
    }

    /// Life-Duration in long form, as Windows is reported to send it
    /// (docs/clients.md#windows-xp-ike); it must round-trip as such.
    #[test]
    fn long_form_life_duration() {
        let body = hex::decode("01010000800b0001000c000400007080").unwrap();
        let t = TransformRepr::parse(&body).unwrap();
        assert_eq!(
            t.attributes[1],
            Attribute::Variable {
                kind: 12,
                value: &[0, 0, 0x70, 0x80]
            }
        );
        assert_eq!(t.attributes[1].value_u64(), Some(28800));
        let mut out = vec![0; t.buffer_len()];
        t.emit(&mut out).unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn quick_mode_payloads_round_trip() {
        let spi = [0xc1, 0x2d, 0x3e, 0x4f];
        let attrs = vec![
            Attribute::Basic { kind: 1, value: 1 },
            Attribute::Basic {
                kind: 2,
                value: 3600,
            },
            Attribute::Basic {
                kind: 4,
                value: 61444,
            },
            Attribute::Basic { kind: 5, value: 2 },
        ];
        let sa = SaRepr {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![ProposalRepr {
                number: 1,
                protocol: protocol::ESP,
                spi: &spi,
                transforms: vec![
                    TransformRepr {
                        number: 1,
                        id: 3,
                        attributes: attrs.clone(),
                    },
                    TransformRepr {
                        number: 2,
                        id: 2,
                        attributes: attrs,
                    },
                ],
            }],
        };
        let payloads = vec![
            Payload::Hash(&[7; 20]),
            Payload::Sa(sa),
            Payload::Nonce(&[9; 16]),
            Payload::Identification(IdRepr {
                id_type: IdType::Ipv4Addr,
                protocol: 17,
                port: 1701,
                data: &[10, 0, 0, 2],
            }),
            Payload::Identification(IdRepr {
                id_type: IdType::Ipv4Addr,
                protocol: 17,
                port: 0,
                data: &[192, 0, 2, 1],
            }),
            Payload::NatOa {
                draft: true,
                oa: NatOaRepr {
                    id_type: IdType::Ipv4Addr,
                    address: &[10, 0, 0, 2],
                },
            },
            Payload::NatOa {
                draft: false,
                oa: NatOaRepr {
                    id_type: IdType::Ipv4Addr,
                    address: &[10, 0, 0, 2],
                },
            },
            Payload::NatD {
                draft: true,
                hash: &[1; 20],
            },
            Payload::NatD {
                draft: false,
                hash: &[2; 20],
            },
            Payload::Notification(NotifyRepr {
                doi: DOI_IPSEC,
                protocol: protocol::ESP,
                kind: NotifyType::ResponderLifetime,
                spi: &spi,
                data: &[0x80, 0x01, 0x00, 0x01, 0x80, 0x02, 0x0e, 0x10],
            }),
            Payload::Delete(DeleteRepr {
                doi: DOI_IPSEC,
                protocol: protocol::ESP,
                spi_size: 4,
                spis: &[1, 2, 3, 4, 5, 6, 7, 8],
            }),
            Payload::Other {
                kind: PayloadType::Unknown(200),
                body: &[1, 2, 3],
            },
        ];
        let r = Repr {
            header: HeaderRepr {
                initiator_cookie: [1; 8],
                responder_cookie: [2; 8],
                version: VERSION_1_0,
                exchange: ExchangeType::QuickMode,
                flags: 0,
                message_id: 0x01020304,
            },
            body: Body::Plain(payloads),
        };
        let b = r.to_vec().unwrap();
        assert_eq!(b[16], 8, "first payload is HASH");
        assert_eq!(b[HEADER_LEN], 1, "HASH links to SA");
        assert_eq!(b[HEADER_LEN + 24], 10, "SA links to Nonce");
        let back = Repr::parse(&b).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_vec().unwrap(), b);
        let Body::Plain(ps) = &back.body else {
            panic!()
        };
        let Payload::Delete(d) = ps[10] else { panic!() };
        assert_eq!(
            d.spis().collect::<Vec<_>>(),
            vec![&[1, 2, 3, 4][..], &[5, 6, 7, 8][..]]
        );
        assert_eq!(ps[5].kind(), PayloadType::NatOaDraft);
        assert_eq!(ps[8].kind(), PayloadType::NatD);
    }

    #[test]
    fn encrypted_body_is_opaque() {
        let mut b = mm1()[..28].to_vec();
        b[16] = 8;
        b[19] = flags::ENCRYPTION;
        b.extend_from_slice(&[0xaa; 16]);
        b[24..28].copy_from_slice(&44u32.to_be_bytes());
        let r = Repr::parse(&b).unwrap();
        assert_eq!(
            r.body,
            Body::Encrypted {
                first: PayloadType::Hash,
                data: &[0xaa; 16]
            }
        );
        assert_eq!(r.to_vec().unwrap(), b);
    }

    #[test]
    fn padding_allowed_only_when_asked() {
        let chain = hex::decode("0000000801020304000000").unwrap();
        assert!(parse_payloads(PayloadType::Nonce, &chain, false).is_err());
        let (ps, used) = parse_payloads(PayloadType::Nonce, &chain, true).unwrap();
        assert_eq!(used, 8);
        assert_eq!(ps, vec![Payload::Nonce(&[1, 2, 3, 4])]);
    }

    /// A malformed-input table: every entry must be refused with the named error, never panic.
    #[test]
    fn malformed_table() {
        let good = mm1();
        let set_len =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_be_bytes());
        type Case = (&'static str, Box<dyn Fn(&mut Vec<u8>)>, Error);
        let cases: Vec<Case> = vec![
            (
                "truncated message",
                Box::new(|b| b.truncate(100)),
                Error::truncated("isakmp.length"),
            ),
            (
                "sa length 0",
                Box::new(move |b| set_len(b, 30, 0)),
                Error::bad_length("payload.length"),
            ),
            (
                "sa length 3",
                Box::new(move |b| set_len(b, 30, 3)),
                Error::bad_length("payload.length"),
            ),
            (
                "sa length past end",
                Box::new(move |b| set_len(b, 30, 400)),
                Error::truncated("payload.length"),
            ),
            (
                "proposal length past sa",
                Box::new(move |b| set_len(b, 42, 41)),
                Error::truncated("payload.length"),
            ),
            (
                "transform count wrong",
                Box::new(|b| b[47] = 2),
                Error::bad_value("proposal.transforms"),
            ),
            (
                "spi size past end",
                Box::new(|b| b[46] = 200),
                Error::truncated("proposal.spi"),
            ),
            (
                "variable attribute past end",
                Box::new(|b| b[76..80].copy_from_slice(&[0x00, 0x0c, 0x00, 0x40])),
                Error::truncated("attribute.length"),
            ),
            (
                "last vid claims a next payload",
                Box::new(|b| b[156] = 13),
                Error::truncated("payload.header"),
            ),
            (
                "first payload is a transform",
                Box::new(|b| b[16] = 3),
                Error::bad_value("payload.type"),
            ),
            (
                "trailing bytes inside length",
                Box::new(|b| {
                    b.extend_from_slice(&[0; 4]);
                    let l = b.len() as u32;
                    b[24..28].copy_from_slice(&l.to_be_bytes());
                }),
                Error::bad_length("isakmp.length"),
            ),
            (
                "header only 10 bytes",
                Box::new(|b| b.truncate(10)),
                Error::truncated("isakmp.header"),
            ),
        ];
        for (name, mutate, want) in cases {
            let mut b = good.clone();
            mutate(&mut b);
            assert_eq!(Repr::parse(&b).unwrap_err(), want, "{name}");
        }
        // An unknown payload type is data, not an error.
        let mut b = good.clone();
        b[156] = 0;
        b[136] = 0xc8;
        let r = Repr::parse(&b).unwrap();
        let Body::Plain(ps) = &r.body else { panic!() };
        assert_eq!(ps[5].kind(), PayloadType::Unknown(0xc8));
        assert_eq!(r.to_vec().unwrap(), b);
    }

    #[test]
    fn delete_and_notify_check_len() {
        assert_eq!(
            DeleteRepr::parse(&[0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4]).unwrap_err(),
            Error::bad_length("delete.spis")
        );
        assert_eq!(
            NotifyRepr::parse(&[0, 0, 0, 1, 1, 16, 0x8d, 0x28]).unwrap_err(),
            Error::truncated("notify.spi")
        );
        assert_eq!(IdRepr::parse(&[1, 17]).unwrap_err(), Error::truncated("id"));
        assert_eq!(
            NatOaRepr::parse(&[1, 0, 0]).unwrap_err(),
            Error::truncated("nat_oa")
        );
        let n = NotifyRepr::parse(&[0, 0, 0, 1, 1, 0, 0x8d, 0x29, 0, 0, 0, 5]).unwrap();
        assert_eq!(n.kind, NotifyType::RUThereAck);
        assert_eq!(n.data, &[0, 0, 0, 5]);
    }

    /// DER of the DistinguishedName `CN=Test CA` (SEQUENCE of one RDN SET of one
    /// AttributeTypeAndValue: OID 2.5.4.3, UTF8String "Test CA"), assembled by hand.
    const TEST_CA_DN: &str = "30123110300e06035504030c0754657374204341";

    /// The MM5 payload chain of a certificate-authenticated Main Mode (RFC 2409 §5.1:
    /// IDii, CERT, CERTREQ, SIG_I), written field by field from RFC 2408 §3.2, §3.8-§3.10 and
    /// §3.12 without the emitter.
    fn mm5_chain() -> Vec<u8> {
        hex::decode(
            [
                // ID: next CERT (6), length 4+4+20, ID_DER_ASN1_DN, protocol 17, port 500.
                "0600001c",
                "091101f4",
                TEST_CA_DN,
                // CERT: next CERTREQ (7), length 4+1+6, X.509 Certificate - Signature (4).
                "0700000b",
                "04",
                "300402020102",
                // CERTREQ: next SIG (9), length 4+1+20, X.509 Certificate - Signature (4).
                "09000019",
                "04",
                TEST_CA_DN,
                // SIG: next NONE, length 4+8.
                "0000000c",
                "0001ffffffff00aa",
            ]
            .concat(),
        )
        .unwrap()
    }

    #[test]
    fn cert_certreq_sig_round_trip() {
        let dn = hex::decode(TEST_CA_DN).unwrap();
        let want = vec![
            Payload::Identification(IdRepr {
                id_type: IdType::DerAsn1Dn,
                protocol: 17,
                port: 500,
                data: &dn,
            }),
            Payload::Certificate(CertRepr {
                encoding: CertEncoding::X509Signature,
                data: &[0x30, 0x04, 0x02, 0x02, 0x01, 0x02],
            }),
            Payload::CertificateRequest(CertReqRepr {
                cert_type: CertEncoding::X509Signature,
                authority: &dn,
            }),
            Payload::Signature(SigRepr {
                data: &[0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x00, 0xaa],
            }),
        ];
        let chain = mm5_chain();
        let (got, used) = parse_payloads(PayloadType::Identification, &chain, false).unwrap();
        assert_eq!(got, want);
        assert_eq!(used, chain.len());
        assert_eq!(payloads_len(&want), chain.len());
        let mut out = vec![0; chain.len()];
        assert_eq!(emit_payloads(&want, &mut out).unwrap(), chain.len());
        assert_eq!(out, chain);
        let kinds: Vec<_> = want.iter().map(Payload::kind).collect();
        assert_eq!(
            kinds,
            [
                PayloadType::Identification,
                PayloadType::Certificate,
                PayloadType::CertificateRequest,
                PayloadType::Signature
            ]
        );
        // Body bytes, as RFC 2409 §5 would hash them, exclude the generic header.
        assert_eq!(want[1].body_bytes().unwrap(), &chain[32..39]);

        // Codepoints of the RFC 2408 §3.9 table keep their numbers; unknown ones are data.
        assert_eq!(u8::from(CertEncoding::Crl), 7);
        assert_eq!(CertEncoding::from(4), CertEncoding::X509Signature);
        assert_eq!(CertEncoding::from(12), CertEncoding::Unknown(12));
        let c = CertRepr::parse(&[200, 1]).unwrap();
        assert_eq!(c.encoding, CertEncoding::Unknown(200));
        let mut b = [0; 2];
        c.emit(&mut b).unwrap();
        assert_eq!(b, [200, 1]);
    }

    /// An empty Certificate Authority is allowed (RFC 4945 §3.2): a request for any CA.
    #[test]
    fn certreq_empty_authority() {
        let chain = hex::decode("0000000504").unwrap();
        let (got, _) = parse_payloads(PayloadType::CertificateRequest, &chain, false).unwrap();
        assert_eq!(
            got,
            [Payload::CertificateRequest(CertReqRepr {
                cert_type: CertEncoding::X509Signature,
                authority: &[],
            })]
        );
        let mut out = vec![0; 5];
        emit_payloads(&got, &mut out).unwrap();
        assert_eq!(out, chain);
    }

    /// Each of the three payloads with a body that is too short for it, and with a Payload
    /// Length that runs past the message or into the next payload.
    #[test]
    fn cert_certreq_sig_bad_lengths() {
        let parse = |first: PayloadType, hex_chain: &str| {
            let chain = hex::decode(hex_chain).unwrap();
            parse_payloads(first, &chain, false)
                .map(|_| ())
                .unwrap_err()
        };
        type Case = (&'static str, PayloadType, &'static str, Error);
        let cases: [Case; 10] = [
            (
                "cert without an encoding",
                PayloadType::Certificate,
                "00000004",
                Error::truncated("cert"),
            ),
            (
                "cert without data",
                PayloadType::Certificate,
                "0000000504",
                Error::bad_length("cert.data"),
            ),
            (
                "cert length past the end",
                PayloadType::Certificate,
                "0000000a04300402",
                Error::truncated("payload.length"),
            ),
            (
                "cert length one short: the last octet is read as the next header",
                PayloadType::Certificate,
                "0900000a043004020201020000000500",
                Error::bad_length("payload.length"),
            ),
            (
                "certreq without a type",
                PayloadType::CertificateRequest,
                "00000004",
                Error::truncated("certreq"),
            ),
            (
                "certreq length past the end",
                PayloadType::CertificateRequest,
                "000000190430123110",
                Error::truncated("payload.length"),
            ),
            (
                "certreq length under the header",
                PayloadType::CertificateRequest,
                "0000000304",
                Error::bad_length("payload.length"),
            ),
            (
                "sig without data",
                PayloadType::Signature,
                "00000004",
                Error::bad_length("sig"),
            ),
            (
                "sig length past the end",
                PayloadType::Signature,
                "00000084000102",
                Error::truncated("payload.length"),
            ),
            (
                "sig length short of the end",
                PayloadType::Signature,
                "00000006000102",
                Error::bad_length("isakmp.length"),
            ),
        ];
        for (name, first, chain, want) in cases {
            assert_eq!(parse(first, chain), want, "{name}");
        }
        // With the right length, the "one short" chain is a CERT and a one-octet SIG.
        let chain = hex::decode("0900000b043004020201020000000500").unwrap();
        let (got, _) = parse_payloads(PayloadType::Certificate, &chain, false).unwrap();
        assert_eq!(got[1], Payload::Signature(SigRepr { data: &[0] }));
        // The body parsers on their own.
        assert_eq!(CertRepr::parse(&[]).unwrap_err(), Error::truncated("cert"));
        assert_eq!(
            CertReqRepr::parse(&[]).unwrap_err(),
            Error::truncated("certreq")
        );
        assert_eq!(SigRepr::parse(&[]).unwrap_err(), Error::bad_length("sig"));
    }

    #[test]
    fn cert_certreq_sig_emit_checks() {
        let cert = CertRepr {
            encoding: CertEncoding::X509Signature,
            data: &[1, 2, 3],
        };
        assert_eq!(
            cert.emit(&mut [0; 3]).unwrap_err(),
            Error::buffer_too_small("cert")
        );
        let empty = CertRepr {
            encoding: CertEncoding::X509Signature,
            data: &[],
        };
        assert_eq!(
            empty.emit(&mut [0; 8]).unwrap_err(),
            Error::bad_length("cert.data")
        );
        let req = CertReqRepr {
            cert_type: CertEncoding::X509Signature,
            authority: &[1, 2],
        };
        assert_eq!(
            req.emit(&mut [0; 2]).unwrap_err(),
            Error::buffer_too_small("certreq")
        );
        assert_eq!(
            SigRepr { data: &[] }.emit(&mut [0; 4]).unwrap_err(),
            Error::bad_length("sig")
        );
        assert_eq!(
            SigRepr { data: &[1, 2] }.emit(&mut [0; 1]).unwrap_err(),
            Error::buffer_too_small("sig")
        );
        // A certificate too long for the 16-bit Payload Length is refused, not truncated.
        let big = vec![0x30; usize::from(u16::MAX) - PAYLOAD_HEADER_LEN];
        let too_big = [Payload::Certificate(CertRepr {
            encoding: CertEncoding::X509Signature,
            data: &big,
        })];
        let mut out = vec![0; payloads_len(&too_big)];
        assert_eq!(
            emit_payloads(&too_big, &mut out).unwrap_err(),
            Error::bad_length("payload.length")
        );
        // One octet less fits exactly.
        let fits = [Payload::Certificate(CertRepr {
            encoding: CertEncoding::X509Signature,
            data: &big[1..],
        })];
        let mut out = vec![0; payloads_len(&fits)];
        assert_eq!(emit_payloads(&fits, &mut out).unwrap(), 0xffff);
        assert_eq!(out[2..4], [0xff, 0xff]);
    }
}
