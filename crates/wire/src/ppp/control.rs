//! The packet format shared by LCP and the network control protocols (RFC 1661 §5), and their
//! Type-Length-Data configuration options (RFC 1661 §6).
//!
//! `Packet` is the four-octet `Code | Identifier | Length` header plus data. CHAP (RFC 1994 §4)
//! and PAP (RFC 1334 §2.2) use the same header, so their modules reuse this view and only bring
//! their own `Code` and `Repr`.
//!
//! RFC 1661 §5: "Octets outside the range of the Length field are treated as padding and are
//! ignored on reception." `data()` therefore ends at `Length`, never at the buffer end.

use super::Protocol;
use crate::{Error, Result};

enum_with_unknown! {
    /// LCP/NCP packet codes (RFC 1661 §5; 12 and 13 from RFC 1570 §2; 14 and 15 from RFC 1962 §2.1).
    pub enum Code(u8) {
        /// Configure-Request (RFC 1661 §5.1).
        ConfigureRequest = 0x01,
        /// Configure-Ack (RFC 1661 §5.2).
        ConfigureAck = 0x02,
        /// Configure-Nak (RFC 1661 §5.3).
        ConfigureNak = 0x03,
        /// Configure-Reject (RFC 1661 §5.4).
        ConfigureReject = 0x04,
        /// Terminate-Request (RFC 1661 §5.5).
        TerminateRequest = 0x05,
        /// Terminate-Ack (RFC 1661 §5.5).
        TerminateAck = 0x06,
        /// Code-Reject (RFC 1661 §5.6).
        CodeReject = 0x07,
        /// Protocol-Reject, LCP only (RFC 1661 §5.7).
        ProtocolReject = 0x08,
        /// Echo-Request, LCP only (RFC 1661 §5.8).
        EchoRequest = 0x09,
        /// Echo-Reply, LCP only (RFC 1661 §5.8).
        EchoReply = 0x0a,
        /// Discard-Request, LCP only (RFC 1661 §5.9).
        DiscardRequest = 0x0b,
        /// Identification, LCP only (RFC 1570 §2.1).
        Identification = 0x0c,
        /// Time-Remaining, LCP only (RFC 1570 §2.2).
        TimeRemaining = 0x0d,
        /// Reset-Request, CCP only (RFC 1962 §2.1).
        ResetRequest = 0x0e,
        /// Reset-Ack, CCP only (RFC 1962 §2.1).
        ResetAck = 0x0f,
    }
}

mod field {
    use crate::Field;

    pub(super) const CODE: usize = 0;
    pub(super) const IDENTIFIER: usize = 1;
    pub(super) const LENGTH: Field = 2..4;
}

/// Length of the `Code | Identifier | Length` header.
pub const HEADER_LEN: usize = 4;

/// A view of a control packet: `Code | Identifier | Length | Data` (RFC 1661 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic until `check_len` succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks every length (`check_len`).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header fits and that `4 <= Length <= buffer length`.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let Some(&[hi, lo]) = buf.get(field::LENGTH) else {
            return Err(Error::truncated("ppp.control.header"));
        };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if length < HEADER_LEN {
            return Err(Error::bad_length("ppp.control.length"));
        }
        if length > buf.len() {
            return Err(Error::truncated("ppp.control.data"));
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The raw Code field; each protocol family maps it to its own `Code` enum.
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the fixed header.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The Identifier field.
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the fixed header.
    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }

    /// The Length field (header included).
    #[allow(clippy::indexing_slicing)] // `check_len` ensures the fixed header.
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The data after the header, up to `Length` (trailing padding excluded).
    #[allow(clippy::indexing_slicing)] // `check_len`: 4 <= Length <= buffer length.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The data after the header, up to `Length`, borrowed for the lifetime of the buffer
    /// (zero copy), as the CHAP and PAP `Repr`s keep it.
    #[allow(clippy::indexing_slicing)] // `check_len`: 4 <= Length <= buffer length.
    pub fn data_slice(&self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..usize::from(self.length())]
    }
}

/// A decoded packet of a protocol that shares the `Code | Identifier | Length` header but
/// decodes its Data its own way, by Code: CHAP (RFC 1994 §4) and PAP (RFC 1334 §2.2). The
/// header is handled here once; `B` is the protocol's body (`chap::Body`, `pap::Body`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<B> {
    /// The Identifier octet, which matches replies to requests.
    pub identifier: u8,
    /// The Code and the decoded Data.
    pub body: B,
}

/// The Code and Data of a [`Message`], as one protocol decodes them.
pub trait MessageBody<'a>: Sized {
    /// The protocol's name, for errors.
    const AT: &'static str;

    /// Decodes the Data (up to Length) of a packet with this Code.
    fn parse(code: u8, data: &'a [u8]) -> Result<Self>;

    /// The Code octet.
    fn code(&self) -> u8;

    /// The encoded Data length.
    fn data_len(&self) -> usize;

    /// Writes the Data into `out`, exactly [`MessageBody::data_len`] octets.
    fn emit_data(&self, out: &mut [u8]) -> Result<()>;
}

impl<'a, B: MessageBody<'a>> Message<B> {
    /// Decodes a packet (its length is checked first).
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<Self> {
        packet.check_len()?;
        Ok(Self {
            identifier: packet.identifier(),
            body: B::parse(packet.code(), packet.data_slice())?,
        })
    }

    /// Encoded length, header included.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body.data_len()
    }

    /// Writes the packet into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let data_len = self.body.data_len();
        let out = emit_header(buf, self.body.code(), self.identifier, data_len, B::AT)?;
        self.body.emit_data(out)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Code field.
    #[allow(clippy::indexing_slicing)] // Requires a buffer of at least `HEADER_LEN`.
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the Identifier field.
    #[allow(clippy::indexing_slicing)] // Requires a buffer of at least `HEADER_LEN`.
    pub fn set_identifier(&mut self, value: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = value;
    }

    /// Sets the Length field.
    #[allow(clippy::indexing_slicing)] // Requires a buffer of at least `HEADER_LEN`.
    pub fn set_length(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// The data after the header, up to `Length`, for writing.
    #[allow(clippy::indexing_slicing)] // Requires a checked packet: Length <= buffer length.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.length());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// Writes a header and returns the data area of `Length - 4` octets.
pub(crate) fn emit_header<'b>(
    buf: &'b mut [u8],
    code: u8,
    identifier: u8,
    data_len: usize,
    at: &'static str,
) -> Result<&'b mut [u8]> {
    let total = HEADER_LEN
        .checked_add(data_len)
        .ok_or_else(|| Error::bad_length(at))?;
    let length = u16::try_from(total).map_err(|_| Error::bad_length(at))?;
    let out = buf
        .get_mut(..total)
        .ok_or_else(|| Error::buffer_too_small(at))?;
    let (header, data) = out.split_at_mut(HEADER_LEN);
    header.copy_from_slice(&[code, identifier, 0, 0]);
    header
        .get_mut(field::LENGTH)
        .ok_or_else(|| Error::buffer_too_small(at))?
        .copy_from_slice(&length.to_be_bytes());
    Ok(data)
}

/// Splits off a counted field: a length octet, then that many octets (CHAP's Value-Size and
/// Value, RFC 1994 §4.1; PAP's Peer-ID, Password and Message, RFC 1334 §2.2).
pub(crate) fn split_counted<'a>(data: &'a [u8], at: &'static str) -> Result<(&'a [u8], &'a [u8])> {
    let (&len, rest) = data.split_first().ok_or_else(|| Error::truncated(at))?;
    rest.split_at_checked(usize::from(len))
        .ok_or_else(|| Error::truncated(at))
}

/// The length octet of a counted field (see [`split_counted`]).
pub(crate) fn counted_len(field: &[u8], at: &'static str) -> Result<u8> {
    u8::try_from(field.len()).map_err(|_| Error::bad_length(at))
}

/// Copies `parts` one after another into `out`, which must be exactly as long as their sum.
pub(crate) fn write_parts(out: &mut [u8], parts: &[&[u8]], at: &'static str) -> Result<()> {
    let mut rest = out;
    for part in parts {
        let (head, tail) = rest
            .split_at_mut_checked(part.len())
            .ok_or_else(|| Error::buffer_too_small(at))?;
        head.copy_from_slice(part);
        rest = tail;
    }
    Ok(())
}

/// Reads a big-endian `u32` from the first four octets of `data`.
pub(crate) fn be_u32<'d>(data: &'d [u8], at: &'static str) -> Result<(u32, &'d [u8])> {
    let (head, tail) = data
        .split_first_chunk::<4>()
        .ok_or_else(|| Error::truncated(at))?;
    Ok((u32::from_be_bytes(*head), tail))
}

/// One raw Type-Length-Data option (RFC 1661 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// The Type octet.
    pub kind: u8,
    /// The Data after Type and Length.
    pub data: &'a [u8],
}

impl RawOption<'_> {
    /// Encoded length (`2 + data`).
    pub const fn buffer_len(&self) -> usize {
        2 + self.data.len()
    }

    /// Writes the option into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        emit_option(buf, self.kind, &[self.data])
    }
}

/// Writes one option `Type | Length | parts...` into the front of `buf`.
pub fn emit_option(buf: &mut [u8], kind: u8, parts: &[&[u8]]) -> Result<()> {
    let data_len: usize = parts.iter().map(|p| p.len()).sum();
    let total = data_len + 2;
    let length = u8::try_from(total).map_err(|_| Error::bad_length("ppp.option.length"))?;
    let out = buf
        .get_mut(..total)
        .ok_or(Error::buffer_too_small("ppp.option"))?;
    let (header, data) = out.split_at_mut(2);
    header.copy_from_slice(&[kind, length]);
    write_parts(data, parts, "ppp.option")
}

/// An iterator over the options of a Configure-* packet. A malformed option ends the chain with
/// one `Err` (RFC 1661 §6: Length counts Type and Length, so it is at least 2).
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> OptionIter<'a> {
    /// Iterates over the options in `data`.
    pub const fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<RawOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        let Some(&[kind, length]) = rest.first_chunk::<2>() else {
            return Some(Err(Error::truncated("ppp.option.header")));
        };
        let length = usize::from(length);
        if length < 2 {
            return Some(Err(Error::bad_length("ppp.option.length")));
        }
        let Some((option, tail)) = rest.split_at_checked(length) else {
            return Some(Err(Error::truncated("ppp.option.data")));
        };
        self.rest = tail;
        Some(Ok(RawOption {
            kind,
            data: option.get(2..).unwrap_or_default(),
        }))
    }
}

/// A validated option list (every Length checked), kept as bytes so that emit is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options<'a> {
    bytes: &'a [u8],
}

impl<'a> Options<'a> {
    /// Validates every option in `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        for option in OptionIter::new(bytes) {
            option?;
        }
        Ok(Self { bytes })
    }

    /// The raw option bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// True when the list holds no option.
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Iterates over the raw options.
    pub const fn iter(&self) -> OptionIter<'a> {
        OptionIter::new(self.bytes)
    }

    /// Iterates over the options decoded as `O` (one protocol family's option type).
    pub fn typed<O: ConfigOption<'a>>(&self) -> impl Iterator<Item = Result<O>> + 'a {
        self.iter().map(|raw| raw.and_then(O::parse))
    }
}

/// A typed configuration option of one protocol family (LCP, IPCP, CCP, IPV6CP).
///
/// Unknown option types parse to a catch-all variant (they are data); a known type with a
/// wrong length is an error, which the negotiation layer answers with Configure-Reject.
pub trait ConfigOption<'a>: Sized {
    /// Decodes one raw option.
    fn parse(raw: RawOption<'a>) -> Result<Self>;
    /// The Type octet.
    fn kind(&self) -> u8;
    /// Encoded length, Type and Length included.
    fn buffer_len(&self) -> usize;
    /// Writes the option into the front of `buf`.
    fn emit(&self, buf: &mut [u8]) -> Result<()>;
}

/// Checks that `data` is exactly `N` octets and returns it as an array.
pub(crate) fn exact<const N: usize>(data: &[u8], at: &'static str) -> Result<[u8; N]> {
    <[u8; N]>::try_from(data).map_err(|_| Error::bad_length(at))
}

/// The decoded body of an LCP or NCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Configure-Request with its options.
    ConfigureRequest {
        /// Identifier.
        identifier: u8,
        /// Options.
        options: Options<'a>,
    },
    /// Configure-Ack: the acknowledged options, copied from the request.
    ConfigureAck {
        /// Identifier.
        identifier: u8,
        /// Options.
        options: Options<'a>,
    },
    /// Configure-Nak: options with acceptable values.
    ConfigureNak {
        /// Identifier.
        identifier: u8,
        /// Options.
        options: Options<'a>,
    },
    /// Configure-Reject: options that are not negotiable.
    ConfigureReject {
        /// Identifier.
        identifier: u8,
        /// Options.
        options: Options<'a>,
    },
    /// Terminate-Request with uninterpreted data.
    TerminateRequest {
        /// Identifier.
        identifier: u8,
        /// Data.
        data: &'a [u8],
    },
    /// Terminate-Ack with uninterpreted data.
    TerminateAck {
        /// Identifier.
        identifier: u8,
        /// Data.
        data: &'a [u8],
    },
    /// Code-Reject carrying (a prefix of) the rejected packet.
    CodeReject {
        /// Identifier.
        identifier: u8,
        /// The rejected packet, starting at its Code field.
        rejected: &'a [u8],
    },
    /// Protocol-Reject (LCP only).
    ProtocolReject {
        /// Identifier.
        identifier: u8,
        /// The rejected protocol.
        protocol: Protocol,
        /// The rejected information (the start of the rejected frame's payload).
        information: &'a [u8],
    },
    /// Echo-Request (LCP only).
    EchoRequest {
        /// Identifier.
        identifier: u8,
        /// Sender's magic number.
        magic: u32,
        /// Data.
        data: &'a [u8],
    },
    /// Echo-Reply (LCP only).
    EchoReply {
        /// Identifier.
        identifier: u8,
        /// Sender's magic number.
        magic: u32,
        /// Data.
        data: &'a [u8],
    },
    /// Discard-Request (LCP only).
    DiscardRequest {
        /// Identifier.
        identifier: u8,
        /// Sender's magic number.
        magic: u32,
        /// Data.
        data: &'a [u8],
    },
    /// Identification (LCP only, RFC 1570 §2.1).
    Identification {
        /// Identifier.
        identifier: u8,
        /// Sender's magic number.
        magic: u32,
        /// The message (not necessarily text; Windows 7 sends 16 binary octets).
        message: &'a [u8],
    },
    /// Time-Remaining (LCP only, RFC 1570 §2.2).
    TimeRemaining {
        /// Identifier.
        identifier: u8,
        /// Sender's magic number.
        magic: u32,
        /// Seconds remaining.
        seconds: u32,
        /// The message.
        message: &'a [u8],
    },
    /// Reset-Request (CCP only).
    ResetRequest {
        /// Identifier.
        identifier: u8,
        /// Data.
        data: &'a [u8],
    },
    /// Reset-Ack (CCP only).
    ResetAck {
        /// Identifier.
        identifier: u8,
        /// Data.
        data: &'a [u8],
    },
    /// A code this protocol does not define; the state layer answers with Code-Reject.
    Unknown {
        /// The code.
        code: u8,
        /// Identifier.
        identifier: u8,
        /// Data.
        data: &'a [u8],
    },
}

/// Whether `code` is defined for `protocol` (LCP: 1..=13; CCP: 1..=7, 14, 15; other NCPs 1..=7).
fn code_defined(protocol: Protocol, code: Code) -> bool {
    match code {
        Code::ConfigureRequest
        | Code::ConfigureAck
        | Code::ConfigureNak
        | Code::ConfigureReject
        | Code::TerminateRequest
        | Code::TerminateAck
        | Code::CodeReject => true,
        Code::ProtocolReject
        | Code::EchoRequest
        | Code::EchoReply
        | Code::DiscardRequest
        | Code::Identification
        | Code::TimeRemaining => protocol == Protocol::Lcp,
        Code::ResetRequest | Code::ResetAck => protocol == Protocol::Ccp,
        Code::Unknown(_) => false,
    }
}

impl<'a> Repr<'a> {
    /// Decodes a checked packet of `protocol` (which decides the codes that are defined).
    pub fn parse(packet: &Packet<&'a [u8]>, protocol: Protocol) -> Result<Self> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let buf: &'a [u8] = packet.buffer;
        let data = buf
            .get(HEADER_LEN..usize::from(packet.length()))
            .ok_or(Error::truncated("ppp.control.data"))?;
        let code = Code::from(packet.code());
        if !code_defined(protocol, code) {
            return Ok(Repr::Unknown {
                code: packet.code(),
                identifier,
                data,
            });
        }
        Ok(match code {
            Code::ConfigureRequest => Repr::ConfigureRequest {
                identifier,
                options: Options::parse(data)?,
            },
            Code::ConfigureAck => Repr::ConfigureAck {
                identifier,
                options: Options::parse(data)?,
            },
            Code::ConfigureNak => Repr::ConfigureNak {
                identifier,
                options: Options::parse(data)?,
            },
            Code::ConfigureReject => Repr::ConfigureReject {
                identifier,
                options: Options::parse(data)?,
            },
            Code::TerminateRequest => Repr::TerminateRequest { identifier, data },
            Code::TerminateAck => Repr::TerminateAck { identifier, data },
            Code::CodeReject => Repr::CodeReject {
                identifier,
                rejected: data,
            },
            Code::ProtocolReject => {
                let (proto, information) = data
                    .split_first_chunk::<2>()
                    .ok_or(Error::truncated("lcp.protocol_reject"))?;
                Repr::ProtocolReject {
                    identifier,
                    protocol: Protocol::from(u16::from_be_bytes(*proto)),
                    information,
                }
            }
            Code::EchoRequest => {
                let (magic, data) = be_u32(data, "lcp.echo.magic")?;
                Repr::EchoRequest {
                    identifier,
                    magic,
                    data,
                }
            }
            Code::EchoReply => {
                let (magic, data) = be_u32(data, "lcp.echo.magic")?;
                Repr::EchoReply {
                    identifier,
                    magic,
                    data,
                }
            }
            Code::DiscardRequest => {
                let (magic, data) = be_u32(data, "lcp.discard.magic")?;
                Repr::DiscardRequest {
                    identifier,
                    magic,
                    data,
                }
            }
            Code::Identification => {
                let (magic, message) = be_u32(data, "lcp.identification.magic")?;
                Repr::Identification {
                    identifier,
                    magic,
                    message,
                }
            }
            Code::TimeRemaining => {
                let (magic, rest) = be_u32(data, "lcp.time_remaining.magic")?;
                let (seconds, message) = be_u32(rest, "lcp.time_remaining.seconds")?;
                Repr::TimeRemaining {
                    identifier,
                    magic,
                    seconds,
                    message,
                }
            }
            Code::ResetRequest => Repr::ResetRequest { identifier, data },
            Code::ResetAck => Repr::ResetAck { identifier, data },
            Code::Unknown(code) => Repr::Unknown {
                code,
                identifier,
                data,
            },
        })
    }

    /// The Code octet of this packet.
    pub fn code(&self) -> u8 {
        let code = match self {
            Repr::ConfigureRequest { .. } => Code::ConfigureRequest,
            Repr::ConfigureAck { .. } => Code::ConfigureAck,
            Repr::ConfigureNak { .. } => Code::ConfigureNak,
            Repr::ConfigureReject { .. } => Code::ConfigureReject,
            Repr::TerminateRequest { .. } => Code::TerminateRequest,
            Repr::TerminateAck { .. } => Code::TerminateAck,
            Repr::CodeReject { .. } => Code::CodeReject,
            Repr::ProtocolReject { .. } => Code::ProtocolReject,
            Repr::EchoRequest { .. } => Code::EchoRequest,
            Repr::EchoReply { .. } => Code::EchoReply,
            Repr::DiscardRequest { .. } => Code::DiscardRequest,
            Repr::Identification { .. } => Code::Identification,
            Repr::TimeRemaining { .. } => Code::TimeRemaining,
            Repr::ResetRequest { .. } => Code::ResetRequest,
            Repr::ResetAck { .. } => Code::ResetAck,
            Repr::Unknown { code, .. } => return *code,
        };
        code.into()
    }

    /// The Identifier octet of this packet.
    pub const fn identifier(&self) -> u8 {
        match self {
            Repr::ConfigureRequest { identifier, .. }
            | Repr::ConfigureAck { identifier, .. }
            | Repr::ConfigureNak { identifier, .. }
            | Repr::ConfigureReject { identifier, .. }
            | Repr::TerminateRequest { identifier, .. }
            | Repr::TerminateAck { identifier, .. }
            | Repr::CodeReject { identifier, .. }
            | Repr::ProtocolReject { identifier, .. }
            | Repr::EchoRequest { identifier, .. }
            | Repr::EchoReply { identifier, .. }
            | Repr::DiscardRequest { identifier, .. }
            | Repr::Identification { identifier, .. }
            | Repr::TimeRemaining { identifier, .. }
            | Repr::ResetRequest { identifier, .. }
            | Repr::ResetAck { identifier, .. }
            | Repr::Unknown { identifier, .. } => *identifier,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Repr::ConfigureRequest { options, .. }
            | Repr::ConfigureAck { options, .. }
            | Repr::ConfigureNak { options, .. }
            | Repr::ConfigureReject { options, .. } => options.as_bytes().len(),
            Repr::TerminateRequest { data, .. }
            | Repr::TerminateAck { data, .. }
            | Repr::ResetRequest { data, .. }
            | Repr::ResetAck { data, .. }
            | Repr::Unknown { data, .. } => data.len(),
            Repr::CodeReject { rejected, .. } => rejected.len(),
            Repr::ProtocolReject { information, .. } => 2 + information.len(),
            Repr::EchoRequest { data, .. }
            | Repr::EchoReply { data, .. }
            | Repr::DiscardRequest { data, .. } => 4 + data.len(),
            Repr::Identification { message, .. } => 4 + message.len(),
            Repr::TimeRemaining { message, .. } => 8 + message.len(),
        }
    }

    /// Encoded length, header included.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len()
    }

    /// Writes the packet into the front of `buf` (at least `buffer_len` octets).
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let out = emit_header(
            buf,
            self.code(),
            self.identifier(),
            self.data_len(),
            "ppp.control",
        )?;
        let at = "ppp.control";
        match self {
            Repr::ConfigureRequest { options, .. }
            | Repr::ConfigureAck { options, .. }
            | Repr::ConfigureNak { options, .. }
            | Repr::ConfigureReject { options, .. } => write_parts(out, &[options.as_bytes()], at),
            Repr::TerminateRequest { data, .. }
            | Repr::TerminateAck { data, .. }
            | Repr::ResetRequest { data, .. }
            | Repr::ResetAck { data, .. }
            | Repr::Unknown { data, .. } => write_parts(out, &[data], at),
            Repr::CodeReject { rejected, .. } => write_parts(out, &[rejected], at),
            Repr::ProtocolReject {
                protocol,
                information,
                ..
            } => write_parts(out, &[&u16::from(*protocol).to_be_bytes(), information], at),
            Repr::EchoRequest { magic, data, .. }
            | Repr::EchoReply { magic, data, .. }
            | Repr::DiscardRequest { magic, data, .. } => {
                write_parts(out, &[&magic.to_be_bytes(), data], at)
            }
            Repr::Identification { magic, message, .. } => {
                write_parts(out, &[&magic.to_be_bytes(), message], at)
            }
            Repr::TimeRemaining {
                magic,
                seconds,
                message,
                ..
            } => write_parts(
                out,
                &[&magic.to_be_bytes(), &seconds.to_be_bytes(), message],
                at,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Windows XP client's first LCP ConfReq, rebuilt from a pppd debug log per RFC 1661 §6 encodings (mru 1400, magic, pcomp, accomp, callback CBCP).
    const XP_CONFREQ: [u8; 21] = [
        0x01, 0x01, 0x00, 0x15, 0x01, 0x04, 0x05, 0x78, 0x05, 0x06, 0x74, 0xcd, 0x45, 0xcf, 0x07,
        0x02, 0x08, 0x02, 0x0d, 0x03, 0x06,
    ];

    // An LCP Identification "MSRASV5.10" with magic 0x74cd45cf (RFC 1570 §2.1 layout).
    const IDENT: [u8; 18] = [
        0x0c, 0x03, 0x00, 0x12, 0x74, 0xcd, 0x45, 0xcf, b'M', b'S', b'R', b'A', b'S', b'V', b'5',
        b'.', b'1', b'0',
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&XP_CONFREQ[..]).unwrap();
        assert_eq!(p.code(), 1);
        assert_eq!(p.identifier(), 1);
        assert_eq!(p.length(), 21);
        assert_eq!(p.data().len(), 17);
        let kinds: Vec<u8> = OptionIter::new(p.data()).map(|o| o.unwrap().kind).collect();
        assert_eq!(kinds, [1, 5, 7, 8, 13]);
    }

    #[test]
    fn padding_is_ignored() {
        let mut padded = XP_CONFREQ.to_vec();
        padded.extend_from_slice(&[0, 0, 0]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.data(), &XP_CONFREQ[4..]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 21];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_code(1);
        p.set_identifier(1);
        p.set_length(21);
        p.data_mut().copy_from_slice(&XP_CONFREQ[4..]);
        assert_eq!(buf, XP_CONFREQ);
    }

    #[test]
    fn check_len() {
        assert_eq!(
            Packet::new_checked(&[0x01, 0x01, 0x00][..])
                .unwrap_err()
                .kind,
            crate::ErrorKind::Truncated
        );
        assert_eq!(
            Packet::new_checked(&[0x01, 0x01, 0x00, 0x03][..])
                .unwrap_err()
                .kind,
            crate::ErrorKind::BadLength
        );
        assert_eq!(
            Packet::new_checked(&[0x01, 0x01, 0x00, 0x08, 0, 0][..])
                .unwrap_err()
                .kind,
            crate::ErrorKind::Truncated
        );
        assert!(Packet::new_checked(&[0x05, 0x01, 0x00, 0x04][..]).is_ok());
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&XP_CONFREQ[..]).unwrap();
        let repr = Repr::parse(&p, Protocol::Lcp).unwrap();
        let Repr::ConfigureRequest {
            identifier: 1,
            options,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!(options.iter().count(), 5);

        let p = Packet::new_checked(&IDENT[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, Protocol::Lcp).unwrap(),
            Repr::Identification {
                identifier: 3,
                magic: 0x74cd_45cf,
                message: b"MSRASV5.10"
            }
        );
        // Identification is LCP-only: inside IPCP it is an unknown code (Code-Reject).
        assert_eq!(
            Repr::parse(&p, Protocol::Ipcp).unwrap(),
            Repr::Unknown {
                code: 12,
                identifier: 3,
                data: &IDENT[4..]
            }
        );
    }

    #[test]
    fn parse_malformed_options() {
        for bad in [
            &[0x01, 0x01, 0x00, 0x05, 0x01][..], // option header truncated
            &[0x01, 0x01, 0x00, 0x06, 0x01, 0x00][..], // option length 0
            &[0x01, 0x01, 0x00, 0x06, 0x01, 0x01][..], // option length 1
            &[0x01, 0x01, 0x00, 0x07, 0x01, 0x04, 0x05][..], // option length past the end
        ] {
            let p = Packet::new_checked(bad).unwrap();
            assert!(Repr::parse(&p, Protocol::Lcp).is_err(), "{bad:02x?}");
        }
        // Echo without a magic number is truncated.
        let p = Packet::new_checked(&[0x09, 0x01, 0x00, 0x06, 0, 0][..]).unwrap();
        assert!(Repr::parse(&p, Protocol::Lcp).is_err());
    }

    #[test]
    fn emit() {
        for (bytes, proto) in [
            (&XP_CONFREQ[..], Protocol::Lcp),
            (&IDENT[..], Protocol::Lcp),
            (
                &[0x08, 0x07, 0x00, 0x0a, 0x80, 0xfd, 0x01, 0x05, 0x00, 0x04][..],
                Protocol::Lcp,
            ),
            (
                &[0x0d, 0x07, 0x00, 0x0d, 1, 2, 3, 4, 0, 0, 0, 60, b'x'][..],
                Protocol::Lcp,
            ),
            (&[0x05, 0x02, 0x00, 0x06, 0xab, 0xcd][..], Protocol::Ipcp),
            (&[0x0e, 0x02, 0x00, 0x04][..], Protocol::Ccp),
            (&[0x20, 0x02, 0x00, 0x05, 0x99][..], Protocol::Ipcp),
        ] {
            let p = Packet::new_checked(bytes).unwrap();
            let repr = Repr::parse(&p, proto).unwrap();
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn emit_too_small() {
        let repr = Repr::TerminateAck {
            identifier: 1,
            data: b"abc",
        };
        let mut out = [0u8; 6];
        assert_eq!(
            repr.emit(&mut out).unwrap_err().kind,
            crate::ErrorKind::BufferTooSmall
        );
    }
}
