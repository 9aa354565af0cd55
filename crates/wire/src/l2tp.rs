//! L2TPv2 header and AVPs (RFC 2661 §3, §4).
//!
//! - [`Packet`] is the variable-layout header of RFC 2661 §3.1 (T, L, S, O, P bits, version 2;
//!   the optional Length, Ns/Nr and Offset Size fields), viewed in place. Data messages are
//!   parsed without copying: [`Packet::payload`] is a sub-slice of the datagram.
//! - [`Repr`] is the high-level header; it emits the header only, the caller writes the payload
//!   after [`Repr::buffer_len`] bytes.
//! - [`Avp`] is one raw Attribute-Value Pair (RFC 2661 §4.1): M and H bits, 10-bit length,
//!   Vendor ID and Attribute Type. [`Avps`] walks an AVP chain as an iterator of `Result`.
//! - [`AvpRepr`] is the typed value of every AVP of RFC 2661 §4.4 (keyed by vendor ID 0 and
//!   attribute type), plus the Microsoft Correlation ID (vendor 311, type 1; MS-L2TPIE §2.2.1.1). Anything else is [`AvpRepr::Unknown`]: data, not an error. Whether an
//!   unknown AVP is ignored (M=0) or tears the tunnel or session down (M=1) is the engine's
//!   decision (RFC 2661 §4.1).
//!
//! Hidden AVPs (H bit, RFC 2661 §4.3) are carried as raw bytes here: un-hiding needs MD5 and the
//! tunnel secret, which live in the `l2tp` engine. [`AvpRepr::parse`] refuses a hidden AVP so
//! that hidden bytes are never read as a value by mistake; the engine reveals the value first
//! and then calls [`AvpRepr::parse_value`].
//!
//! Real messages are in the test section: a Linux LAC (xl2tpd 1.3.18) SCCRQ, ICRQ and ICCN and
//! SoftEther/xl2tpd data messages, retyped from a decrypted capture, and ProL2TP AVP bytes from
//! katalix/go-l2tp's tests.

// Every index below is into a slice whose length was established just before: by `check_len`
// (header getters; a `Packet` made with `new_unchecked` must be checked first, as in smoltcp), by
// `split_at_checked` (AVP parsers) or by `get_mut(..len)` (emitters).
#![allow(clippy::indexing_slicing)]

use crate::{Error, Result};

/// The L2TP version carried in the header (RFC 2661 §3.1).
pub const VERSION: u8 = 2;
/// The UDP port of L2TP (RFC 2661 §8.1).
pub const UDP_PORT: u16 = 1701;
/// Length of the AVP header: flags/length, Vendor ID, Attribute Type (RFC 2661 §4.1).
pub const AVP_HEADER_LEN: usize = 6;
/// The largest AVP: the Length field has 10 bits (RFC 2661 §4.1).
pub const AVP_MAX_LEN: usize = 0x3ff;
/// The IETF vendor ID: the AVPs of RFC 2661 §4.4.
pub const VENDOR_IETF: u16 = 0;
/// The Microsoft SMI enterprise number, used for the Correlation ID AVP (MS-L2TPIE §2.2.1.1).
pub const VENDOR_MICROSOFT: u16 = 311;

/// Header flag bits (RFC 2661 §3.1).
pub mod flags {
    /// T: control message (1) or data message (0).
    pub const TYPE: u16 = 0x8000;
    /// L: the Length field is present.
    pub const LENGTH: u16 = 0x4000;
    /// S: the Ns and Nr fields are present.
    pub const SEQUENCE: u16 = 0x0800;
    /// O: the Offset Size field is present.
    pub const OFFSET: u16 = 0x0200;
    /// P: priority (data messages only).
    pub const PRIORITY: u16 = 0x0100;
    /// The version nibble.
    pub const VERSION_MASK: u16 = 0x000f;
}

/// Framing Capabilities / Framing Type bits (RFC 2661 §4.4.3, §4.4.5): S is bit 0, A is bit 1.
pub mod framing {
    /// Synchronous framing.
    pub const SYNC: u32 = 0x1;
    /// Asynchronous framing.
    pub const ASYNC: u32 = 0x2;
}

/// Bearer Capabilities / Bearer Type bits (RFC 2661 §4.4.3, §4.4.5): D is bit 0, A is bit 1.
pub mod bearer {
    /// Digital access.
    pub const DIGITAL: u32 = 0x1;
    /// Analog access.
    pub const ANALOG: u32 = 0x2;
}

enum_with_unknown! {
    /// Control message types (RFC 2661 §3.2), the value of the Message Type AVP.
    pub enum MessageType(u16) {
        /// Start-Control-Connection-Request.
        Sccrq = 0x0001,
        /// Start-Control-Connection-Reply.
        Sccrp = 0x0002,
        /// Start-Control-Connection-Connected.
        Scccn = 0x0003,
        /// Stop-Control-Connection-Notification.
        StopCcn = 0x0004,
        /// Hello.
        Hello = 0x0006,
        /// Outgoing-Call-Request.
        Ocrq = 0x0007,
        /// Outgoing-Call-Reply.
        Ocrp = 0x0008,
        /// Outgoing-Call-Connected.
        Occn = 0x0009,
        /// Incoming-Call-Request.
        Icrq = 0x000a,
        /// Incoming-Call-Reply.
        Icrp = 0x000b,
        /// Incoming-Call-Connected.
        Iccn = 0x000c,
        /// Call-Disconnect-Notify.
        Cdn = 0x000e,
        /// WAN-Error-Notify.
        Wen = 0x000f,
        /// Set-Link-Info.
        Sli = 0x0010,
    }
}

enum_with_unknown! {
    /// IETF attribute types (RFC 2661 §4.4).
    pub enum AttrType(u16) {
        /// Message Type (§4.4.1).
        MessageType = 0x0000,
        /// Result Code (§4.4.2).
        ResultCode = 0x0001,
        /// Protocol Version (§4.4.3).
        ProtocolVersion = 0x0002,
        /// Framing Capabilities (§4.4.3).
        FramingCapabilities = 0x0003,
        /// Bearer Capabilities (§4.4.3).
        BearerCapabilities = 0x0004,
        /// Tie Breaker (§4.4.3).
        TieBreaker = 0x0005,
        /// Firmware Revision (§4.4.3).
        FirmwareRevision = 0x0006,
        /// Host Name (§4.4.3).
        HostName = 0x0007,
        /// Vendor Name (§4.4.3).
        VendorName = 0x0008,
        /// Assigned Tunnel ID (§4.4.3).
        AssignedTunnelId = 0x0009,
        /// Receive Window Size (§4.4.3).
        ReceiveWindowSize = 0x000a,
        /// Challenge (§4.4.3).
        Challenge = 0x000b,
        /// Q.931 Cause Code (§4.4.4).
        Q931CauseCode = 0x000c,
        /// Challenge Response (§4.4.3).
        ChallengeResponse = 0x000d,
        /// Assigned Session ID (§4.4.4).
        AssignedSessionId = 0x000e,
        /// Call Serial Number (§4.4.4).
        CallSerialNumber = 0x000f,
        /// Minimum BPS (§4.4.4).
        MinimumBps = 0x0010,
        /// Maximum BPS (§4.4.4).
        MaximumBps = 0x0011,
        /// Bearer Type (§4.4.4).
        BearerType = 0x0012,
        /// Framing Type (§4.4.4).
        FramingType = 0x0013,
        /// Called Number (§4.4.4).
        CalledNumber = 0x0015,
        /// Calling Number (§4.4.4).
        CallingNumber = 0x0016,
        /// Sub-Address (§4.4.4).
        SubAddress = 0x0017,
        /// (Tx) Connect Speed (§4.4.4).
        TxConnectSpeed = 0x0018,
        /// Physical Channel ID (§4.4.4).
        PhysicalChannelId = 0x0019,
        /// Initial Received LCP CONFREQ (§4.4.5).
        InitialReceivedLcpConfReq = 0x001a,
        /// Last Sent LCP CONFREQ (§4.4.5).
        LastSentLcpConfReq = 0x001b,
        /// Last Received LCP CONFREQ (§4.4.5).
        LastReceivedLcpConfReq = 0x001c,
        /// Proxy Authen Type (§4.4.5).
        ProxyAuthenType = 0x001d,
        /// Proxy Authen Name (§4.4.5).
        ProxyAuthenName = 0x001e,
        /// Proxy Authen Challenge (§4.4.5).
        ProxyAuthenChallenge = 0x001f,
        /// Proxy Authen ID (§4.4.5).
        ProxyAuthenId = 0x0020,
        /// Proxy Authen Response (§4.4.5).
        ProxyAuthenResponse = 0x0021,
        /// Call Errors (§4.4.6).
        CallErrors = 0x0022,
        /// ACCM (§4.4.6).
        Accm = 0x0023,
        /// Random Vector (§4.4.3, used by hidden AVPs, §4.3).
        RandomVector = 0x0024,
        /// Private Group ID (§4.4.5).
        PrivateGroupId = 0x0025,
        /// Rx Connect Speed (§4.4.5).
        RxConnectSpeed = 0x0026,
        /// Sequencing Required (§4.4.5).
        SequencingRequired = 0x0027,
    }
}

/// The Microsoft Correlation ID attribute type under [`VENDOR_MICROSOFT`] (MS-L2TPIE §2.2.1.1).
pub const MS_ATTR_CORRELATION_ID: u16 = 1;

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A read/write view of an L2TP header and the payload after it (RFC 2661 §3.1).
///
/// ```text
/// |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
/// |           Tunnel ID           |           Session ID          |
/// |             Ns (opt)          |             Nr (opt)          |
/// |      Offset Size (opt)        |    Offset pad... (opt)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    use crate::Field;
    pub(crate) const FLAGS: Field = 0..2;
    pub(crate) const LENGTH: Field = 2..4;
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

    /// Checks every length-derived range: the flags word, version 2, the control-message rules
    /// (L and S set, RFC 2661 §3.1), the optional fields, the offset padding, and a Length field
    /// that covers the header and fits the buffer. Bytes past Length are ignored.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        let Some(fl) = b.get(field::FLAGS) else {
            return Err(Error::truncated("l2tp.flags"));
        };
        let fl = be16(fl);
        if (fl & flags::VERSION_MASK) as u8 != VERSION {
            return Err(Error::bad_value("l2tp.version"));
        }
        if fl & flags::TYPE != 0
            && fl & (flags::LENGTH | flags::SEQUENCE) != flags::LENGTH | flags::SEQUENCE
        {
            // "The L bit MUST be set to 1 for control messages", "the S bit MUST be set to 1
            // for control messages" (RFC 2661 §3.1).
            return Err(Error::bad_value("l2tp.control_flags"));
        }
        let fixed = Self::fixed_len(fl);
        if b.len() < fixed {
            return Err(Error::truncated("l2tp.header"));
        }
        let header_len = if fl & flags::OFFSET != 0 {
            fixed + be16(&b[fixed - 2..fixed]) as usize
        } else {
            fixed
        };
        let total = if fl & flags::LENGTH != 0 {
            let len = be16(&b[field::LENGTH]) as usize;
            if len < fixed {
                return Err(Error::bad_length("l2tp.length"));
            }
            if len > b.len() {
                return Err(Error::truncated("l2tp.length"));
            }
            len
        } else {
            b.len()
        };
        if header_len > total {
            return Err(Error::truncated("l2tp.offset"));
        }
        Ok(())
    }

    /// The header length without the offset padding, for a flags word.
    const fn fixed_len(fl: u16) -> usize {
        let mut n = 6;
        if fl & flags::LENGTH != 0 {
            n += 2;
        }
        if fl & flags::SEQUENCE != 0 {
            n += 4;
        }
        if fl & flags::OFFSET != 0 {
            n += 2;
        }
        n
    }

    /// Where Tunnel ID starts.
    fn ids_at(&self) -> usize {
        if self.has_length() { 4 } else { 2 }
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The flags-and-version word.
    pub fn flags(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLAGS])
    }

    /// T bit: a control message.
    pub fn is_control(&self) -> bool {
        self.flags() & flags::TYPE != 0
    }

    /// L bit: the Length field is present.
    pub fn has_length(&self) -> bool {
        self.flags() & flags::LENGTH != 0
    }

    /// S bit: Ns and Nr are present.
    pub fn has_sequence(&self) -> bool {
        self.flags() & flags::SEQUENCE != 0
    }

    /// O bit: the Offset Size field is present.
    pub fn has_offset(&self) -> bool {
        self.flags() & flags::OFFSET != 0
    }

    /// P bit: the data message asks for preferential treatment.
    pub fn priority(&self) -> bool {
        self.flags() & flags::PRIORITY != 0
    }

    /// The version nibble.
    pub fn version(&self) -> u8 {
        (self.flags() & flags::VERSION_MASK) as u8
    }

    /// The Length field, if present.
    pub fn length(&self) -> Option<u16> {
        self.has_length()
            .then(|| be16(&self.buffer.as_ref()[field::LENGTH]))
    }

    /// Tunnel ID (the receiver's identifier of the control connection).
    pub fn tunnel_id(&self) -> u16 {
        let at = self.ids_at();
        be16(&self.buffer.as_ref()[at..at + 2])
    }

    /// Session ID (the receiver's identifier of the session; 0 for the tunnel itself).
    pub fn session_id(&self) -> u16 {
        let at = self.ids_at() + 2;
        be16(&self.buffer.as_ref()[at..at + 2])
    }

    /// Ns, if the S bit is set.
    pub fn ns(&self) -> Option<u16> {
        let at = self.ids_at() + 4;
        self.has_sequence()
            .then(|| be16(&self.buffer.as_ref()[at..at + 2]))
    }

    /// Nr, if the S bit is set.
    pub fn nr(&self) -> Option<u16> {
        let at = self.ids_at() + 6;
        self.has_sequence()
            .then(|| be16(&self.buffer.as_ref()[at..at + 2]))
    }

    /// Offset Size, if the O bit is set.
    pub fn offset_size(&self) -> Option<u16> {
        let at = Self::fixed_len(self.flags()) - 2;
        self.has_offset()
            .then(|| be16(&self.buffer.as_ref()[at..at + 2]))
    }

    /// The header length, offset padding included: where the payload starts.
    pub fn header_len(&self) -> usize {
        Self::fixed_len(self.flags()) + self.offset_size().unwrap_or(0) as usize
    }

    /// The message length: the Length field, or the whole buffer when there is none.
    pub fn total_len(&self) -> usize {
        self.length()
            .map_or_else(|| self.buffer.as_ref().len(), usize::from)
    }

    /// The payload: AVPs for a control message, the PPP frame for a data message.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len()]
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The payload, borrowed for the lifetime of the underlying datagram (zero copy).
    pub fn payload_slice(&self) -> &'a [u8] {
        let (start, end) = (self.header_len(), self.total_len());
        &self.buffer[start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Length field (the L bit must be set).
    pub fn set_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the Tunnel ID.
    pub fn set_tunnel_id(&mut self, id: u16) {
        let at = self.ids_at();
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&id.to_be_bytes());
    }

    /// Sets the Session ID.
    pub fn set_session_id(&mut self, id: u16) {
        let at = self.ids_at() + 2;
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&id.to_be_bytes());
    }

    /// Sets Ns (the S bit must be set).
    pub fn set_ns(&mut self, ns: u16) {
        let at = self.ids_at() + 4;
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&ns.to_be_bytes());
    }

    /// Sets Nr (the S bit must be set). Retransmissions carry the current Nr.
    pub fn set_nr(&mut self, nr: u16) {
        let at = self.ids_at() + 6;
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&nr.to_be_bytes());
    }
}

/// Ns and Nr of a sequenced message (RFC 2661 §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sequence {
    /// The sequence number of this message.
    pub ns: u16,
    /// The next sequence number the sender expects to receive.
    pub nr: u16,
}

/// A high-level L2TP header (RFC 2661 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// T bit.
    pub control: bool,
    /// L bit (always set for control messages).
    pub length_present: bool,
    /// Tunnel ID.
    pub tunnel_id: u16,
    /// Session ID.
    pub session_id: u16,
    /// Ns/Nr when the S bit is set (always for control messages).
    pub sequence: Option<Sequence>,
    /// Offset Size when the O bit is set; the padding is emitted as zeros.
    pub offset: Option<u16>,
    /// P bit.
    pub priority: bool,
    /// The payload length after the header.
    pub payload_len: usize,
}

impl Repr {
    /// A control-message header (T, L and S set).
    pub const fn control(
        tunnel_id: u16,
        session_id: u16,
        seq: Sequence,
        payload_len: usize,
    ) -> Self {
        Self {
            control: true,
            length_present: true,
            tunnel_id,
            session_id,
            sequence: Some(seq),
            offset: None,
            priority: false,
            payload_len,
        }
    }

    /// Parses a checked header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Self> {
        packet.check_len()?;
        let seq = match (packet.ns(), packet.nr()) {
            (Some(ns), Some(nr)) => Some(Sequence { ns, nr }),
            _ => None,
        };
        Ok(Self {
            control: packet.is_control(),
            length_present: packet.has_length(),
            tunnel_id: packet.tunnel_id(),
            session_id: packet.session_id(),
            sequence: seq,
            offset: packet.offset_size(),
            priority: packet.priority(),
            payload_len: packet.total_len() - packet.header_len(),
        })
    }

    /// The flags word this header emits.
    pub fn flags(&self) -> u16 {
        let mut f = u16::from(VERSION);
        if self.control {
            f |= flags::TYPE;
        }
        if self.length_present || self.control {
            f |= flags::LENGTH;
        }
        if self.sequence.is_some() || self.control {
            f |= flags::SEQUENCE;
        }
        if self.offset.is_some() {
            f |= flags::OFFSET;
        }
        if self.priority {
            f |= flags::PRIORITY;
        }
        f
    }

    /// The header length, offset padding included.
    pub fn buffer_len(&self) -> usize {
        Packet::<&[u8]>::fixed_len(self.flags()) + self.offset.unwrap_or(0) as usize
    }

    /// The whole message length (header and payload).
    pub fn total_len(&self) -> usize {
        self.buffer_len() + self.payload_len
    }

    /// Writes the header into the first [`Repr::buffer_len`] bytes of `buffer`. The payload
    /// goes after it; the Length field counts it.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let total =
            u16::try_from(self.total_len()).map_err(|_| Error::bad_length("l2tp.length"))?;
        let fl = self.flags();
        let out = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("l2tp.header"))?;
        out[field::FLAGS].copy_from_slice(&fl.to_be_bytes());
        let mut at = 2;
        let mut put = |out: &mut [u8], v: u16| {
            out[at..at + 2].copy_from_slice(&v.to_be_bytes());
            at += 2;
        };
        if fl & flags::LENGTH != 0 {
            put(out, total);
        }
        put(out, self.tunnel_id);
        put(out, self.session_id);
        if fl & flags::SEQUENCE != 0 {
            let seq = self.sequence.unwrap_or_default();
            put(out, seq.ns);
            put(out, seq.nr);
        }
        if let Some(off) = self.offset {
            put(out, off);
            out[at..].fill(0);
        }
        Ok(())
    }
}

/// One raw AVP (RFC 2661 §4.1).
///
/// ```text
/// |M|H| rsvd  |      Length       |           Vendor ID           |
/// |         Attribute Type        |        Attribute Value...
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Avp<'a> {
    /// M bit: an unknown AVP with this bit set tears the tunnel or session down.
    pub mandatory: bool,
    /// H bit: the value is hidden (RFC 2661 §4.3).
    pub hidden: bool,
    /// The 4 reserved bits (must be 0; kept so that parse/emit round-trips).
    pub reserved: u8,
    /// Vendor ID (0 = IETF).
    pub vendor_id: u16,
    /// Attribute Type.
    pub attr_type: u16,
    /// The value as it is on the wire (still hidden if `hidden`).
    pub value: &'a [u8],
}

impl<'a> Avp<'a> {
    /// Parses one AVP from the front of `bytes`; returns it and the bytes after it.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, &'a [u8])> {
        let (hdr, _) = bytes
            .split_at_checked(AVP_HEADER_LEN)
            .ok_or(Error::truncated("l2tp.avp.header"))?;
        let word = be16(&hdr[0..2]);
        let len = usize::from(word & 0x03ff);
        if len < AVP_HEADER_LEN {
            return Err(Error::bad_length("l2tp.avp.length"));
        }
        let (whole, rest) = bytes
            .split_at_checked(len)
            .ok_or(Error::truncated("l2tp.avp.length"))?;
        Ok((
            Self {
                mandatory: word & 0x8000 != 0,
                hidden: word & 0x4000 != 0,
                reserved: ((word >> 10) & 0x0f) as u8,
                vendor_id: be16(&hdr[2..4]),
                attr_type: be16(&hdr[4..6]),
                value: &whole[AVP_HEADER_LEN..],
            },
            rest,
        ))
    }

    /// `(vendor ID, attribute type)`: the key an AVP is known by.
    pub const fn key(&self) -> (u16, u16) {
        (self.vendor_id, self.attr_type)
    }

    /// The emitted length.
    pub const fn buffer_len(&self) -> usize {
        AVP_HEADER_LEN + self.value.len()
    }

    /// Writes the AVP into the first [`Avp::buffer_len`] bytes of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let (value_len, out) = emit_avp_header(
            buffer,
            self.mandatory,
            self.hidden,
            self.reserved,
            self.vendor_id,
            self.attr_type,
            self.value.len(),
        )?;
        out[AVP_HEADER_LEN..AVP_HEADER_LEN + value_len].copy_from_slice(self.value);
        Ok(())
    }
}

/// Writes an AVP header for a value of `value_len` bytes; returns the value length and the
/// output slice, which is at least header + value long.
fn emit_avp_header(
    buffer: &mut [u8],
    mandatory: bool,
    hidden: bool,
    reserved: u8,
    vendor_id: u16,
    attr_type: u16,
    value_len: usize,
) -> Result<(usize, &mut [u8])> {
    let len = AVP_HEADER_LEN + value_len;
    if len > AVP_MAX_LEN {
        return Err(Error::bad_length("l2tp.avp.length"));
    }
    let out = buffer
        .get_mut(..len)
        .ok_or(Error::buffer_too_small("l2tp.avp"))?;
    let mut word = len as u16 | (u16::from(reserved & 0x0f) << 10);
    if mandatory {
        word |= 0x8000;
    }
    if hidden {
        word |= 0x4000;
    }
    out[0..2].copy_from_slice(&word.to_be_bytes());
    out[2..4].copy_from_slice(&vendor_id.to_be_bytes());
    out[4..6].copy_from_slice(&attr_type.to_be_bytes());
    Ok((value_len, out))
}

/// An iterator over an AVP chain (the payload of a control message). It yields one error and
/// then stops if the chain is malformed.
#[derive(Debug, Clone)]
pub struct Avps<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Avps<'a> {
    /// Walks the AVPs in `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            failed: false,
        }
    }
}

impl<'a> Iterator for Avps<'a> {
    type Item = Result<Avp<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match Avp::parse(self.rest) {
            Ok((avp, rest)) => {
                self.rest = rest;
                Some(Ok(avp))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The Result Code AVP value (RFC 2661 §4.4.2): result, optional error, optional message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResultCode<'a> {
    /// Result code (its meaning depends on StopCCN vs CDN).
    pub result: u16,
    /// General error code, when present.
    pub error: Option<u16>,
    /// Error message text, when present (only after an error code).
    pub message: Option<&'a [u8]>,
}

/// The Q.931 Cause Code AVP value (RFC 2661 §4.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Q931Cause<'a> {
    /// Cause code.
    pub cause_code: u16,
    /// Cause message.
    pub cause_msg: u8,
    /// Advisory text.
    pub advisory: &'a [u8],
}

/// The Call Errors AVP value (RFC 2661 §4.4.6); the 2 reserved octets are emitted as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CallErrors {
    /// CRC errors.
    pub crc_errors: u32,
    /// Framing errors.
    pub framing_errors: u32,
    /// Hardware overruns.
    pub hardware_overruns: u32,
    /// Buffer overruns.
    pub buffer_overruns: u32,
    /// Time-out errors.
    pub timeout_errors: u32,
    /// Alignment errors.
    pub alignment_errors: u32,
}

/// The typed value of an AVP, keyed by `(vendor ID, attribute type)` (RFC 2661 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AvpRepr<'a> {
    /// Message Type (§4.4.1).
    MessageType(MessageType),
    /// Result Code (§4.4.2).
    ResultCode(ResultCode<'a>),
    /// Protocol Version: version, revision (§4.4.3). L2TPv2 sends 1.0.
    ProtocolVersion {
        /// Version (1).
        version: u8,
        /// Revision (0).
        revision: u8,
    },
    /// Framing Capabilities bits, see [`framing`] (§4.4.3).
    FramingCapabilities(u32),
    /// Bearer Capabilities bits, see [`bearer`] (§4.4.3).
    BearerCapabilities(u32),
    /// Tie Breaker (§4.4.3).
    TieBreaker([u8; 8]),
    /// Firmware Revision (§4.4.3).
    FirmwareRevision(u16),
    /// Host Name (§4.4.3), at least one octet.
    HostName(&'a [u8]),
    /// Vendor Name (§4.4.3).
    VendorName(&'a [u8]),
    /// Assigned Tunnel ID (§4.4.3).
    AssignedTunnelId(u16),
    /// Receive Window Size (§4.4.3).
    ReceiveWindowSize(u16),
    /// Challenge (§4.4.3), at least one octet.
    Challenge(&'a [u8]),
    /// Q.931 Cause Code (§4.4.4).
    Q931CauseCode(Q931Cause<'a>),
    /// Challenge Response (§4.4.3): an MD5 digest.
    ChallengeResponse([u8; 16]),
    /// Assigned Session ID (§4.4.4).
    AssignedSessionId(u16),
    /// Call Serial Number (§4.4.4).
    CallSerialNumber(u32),
    /// Minimum BPS (§4.4.4).
    MinimumBps(u32),
    /// Maximum BPS (§4.4.4).
    MaximumBps(u32),
    /// Bearer Type bits (§4.4.4).
    BearerType(u32),
    /// Framing Type bits (§4.4.4).
    FramingType(u32),
    /// Called Number (§4.4.4).
    CalledNumber(&'a [u8]),
    /// Calling Number (§4.4.4).
    CallingNumber(&'a [u8]),
    /// Sub-Address (§4.4.4).
    SubAddress(&'a [u8]),
    /// (Tx) Connect Speed in bits per second (§4.4.4).
    TxConnectSpeed(u32),
    /// Physical Channel ID (§4.4.4).
    PhysicalChannelId(u32),
    /// Initial Received LCP CONFREQ (§4.4.5).
    InitialReceivedLcpConfReq(&'a [u8]),
    /// Last Sent LCP CONFREQ (§4.4.5).
    LastSentLcpConfReq(&'a [u8]),
    /// Last Received LCP CONFREQ (§4.4.5).
    LastReceivedLcpConfReq(&'a [u8]),
    /// Proxy Authen Type (§4.4.5).
    ProxyAuthenType(u16),
    /// Proxy Authen Name (§4.4.5).
    ProxyAuthenName(&'a [u8]),
    /// Proxy Authen Challenge (§4.4.5).
    ProxyAuthenChallenge(&'a [u8]),
    /// Proxy Authen ID (§4.4.5): the PPP identifier (the reserved octet is emitted as zero).
    ProxyAuthenId(u8),
    /// Proxy Authen Response (§4.4.5).
    ProxyAuthenResponse(&'a [u8]),
    /// Call Errors (§4.4.6).
    CallErrors(CallErrors),
    /// ACCM (§4.4.6); the reserved octets are emitted as zero.
    Accm {
        /// Send ACCM.
        send: u32,
        /// Receive ACCM.
        recv: u32,
    },
    /// Random Vector (§4.4.3), at least one octet.
    RandomVector(&'a [u8]),
    /// Private Group ID (§4.4.5).
    PrivateGroupId(&'a [u8]),
    /// Rx Connect Speed (§4.4.5).
    RxConnectSpeed(u32),
    /// Sequencing Required (§4.4.5): no value.
    SequencingRequired,
    /// Microsoft Correlation ID (vendor 311, type 1): a 16-octet GUID, sent with M=0 in ICRQ by
    /// Vista SP1 and later (MS-L2TPIE §2.2.1.1). Recognised and ignored.
    MsCorrelationId([u8; 16]),
    /// Any other `(vendor, type)`: kept as data.
    Unknown {
        /// Vendor ID.
        vendor_id: u16,
        /// Attribute Type.
        attr_type: u16,
        /// Value.
        value: &'a [u8],
    },
}

fn exact<const N: usize>(v: &[u8], at: &'static str) -> Result<[u8; N]> {
    <[u8; N]>::try_from(v).map_err(|_| Error::bad_length(at))
}

fn non_empty<'a>(v: &'a [u8], at: &'static str) -> Result<&'a [u8]> {
    if v.is_empty() {
        Err(Error::bad_length(at))
    } else {
        Ok(v)
    }
}

impl<'a> AvpRepr<'a> {
    /// Parses a raw AVP. A hidden AVP is refused with `BadValue` at `l2tp.avp.hidden`: reveal it
    /// first (RFC 2661 §4.3) and call [`AvpRepr::parse_value`] on the revealed value.
    pub fn parse(avp: &Avp<'a>) -> Result<Self> {
        if avp.hidden {
            return Err(Error::bad_value("l2tp.avp.hidden"));
        }
        Self::parse_value(avp.vendor_id, avp.attr_type, avp.value)
    }

    /// Parses an AVP value by its key.
    pub fn parse_value(vendor_id: u16, attr_type: u16, v: &'a [u8]) -> Result<Self> {
        use AttrType as A;
        let u16v = |at| exact::<2>(v, at).map(u16::from_be_bytes);
        let u32v = |at| exact::<4>(v, at).map(u32::from_be_bytes);
        if vendor_id == VENDOR_MICROSOFT && attr_type == MS_ATTR_CORRELATION_ID {
            return Ok(Self::MsCorrelationId(exact(
                v,
                "l2tp.avp.ms_correlation_id",
            )?));
        }
        if vendor_id != VENDOR_IETF {
            return Ok(Self::Unknown {
                vendor_id,
                attr_type,
                value: v,
            });
        }
        Ok(match A::from(attr_type) {
            A::MessageType => Self::MessageType(u16v("l2tp.avp.message_type")?.into()),
            A::ResultCode => {
                let (res, rest) = v
                    .split_at_checked(2)
                    .ok_or(Error::bad_length("l2tp.avp.result_code"))?;
                let (error, message) = match rest.len() {
                    0 => (None, None),
                    1 => return Err(Error::bad_length("l2tp.avp.result_code")),
                    2 => (Some(be16(rest)), None),
                    _ => (Some(be16(rest)), Some(&rest[2..])),
                };
                Self::ResultCode(ResultCode {
                    result: be16(res),
                    error,
                    message,
                })
            }
            A::ProtocolVersion => {
                let [version, revision] = exact(v, "l2tp.avp.protocol_version")?;
                Self::ProtocolVersion { version, revision }
            }
            A::FramingCapabilities => Self::FramingCapabilities(u32v("l2tp.avp.framing_caps")?),
            A::BearerCapabilities => Self::BearerCapabilities(u32v("l2tp.avp.bearer_caps")?),
            A::TieBreaker => Self::TieBreaker(exact(v, "l2tp.avp.tie_breaker")?),
            A::FirmwareRevision => Self::FirmwareRevision(u16v("l2tp.avp.firmware_revision")?),
            A::HostName => Self::HostName(non_empty(v, "l2tp.avp.host_name")?),
            A::VendorName => Self::VendorName(v),
            A::AssignedTunnelId => Self::AssignedTunnelId(u16v("l2tp.avp.assigned_tunnel_id")?),
            A::ReceiveWindowSize => Self::ReceiveWindowSize(u16v("l2tp.avp.receive_window")?),
            A::Challenge => Self::Challenge(non_empty(v, "l2tp.avp.challenge")?),
            A::Q931CauseCode => {
                if v.len() < 3 {
                    return Err(Error::bad_length("l2tp.avp.q931"));
                }
                Self::Q931CauseCode(Q931Cause {
                    cause_code: be16(v),
                    cause_msg: v[2],
                    advisory: &v[3..],
                })
            }
            A::ChallengeResponse => {
                Self::ChallengeResponse(exact(v, "l2tp.avp.challenge_response")?)
            }
            A::AssignedSessionId => Self::AssignedSessionId(u16v("l2tp.avp.assigned_session_id")?),
            A::CallSerialNumber => Self::CallSerialNumber(u32v("l2tp.avp.call_serial")?),
            A::MinimumBps => Self::MinimumBps(u32v("l2tp.avp.min_bps")?),
            A::MaximumBps => Self::MaximumBps(u32v("l2tp.avp.max_bps")?),
            A::BearerType => Self::BearerType(u32v("l2tp.avp.bearer_type")?),
            A::FramingType => Self::FramingType(u32v("l2tp.avp.framing_type")?),
            A::CalledNumber => Self::CalledNumber(v),
            A::CallingNumber => Self::CallingNumber(v),
            A::SubAddress => Self::SubAddress(v),
            A::TxConnectSpeed => Self::TxConnectSpeed(u32v("l2tp.avp.tx_connect_speed")?),
            A::PhysicalChannelId => Self::PhysicalChannelId(u32v("l2tp.avp.physical_channel")?),
            A::InitialReceivedLcpConfReq => Self::InitialReceivedLcpConfReq(v),
            A::LastSentLcpConfReq => Self::LastSentLcpConfReq(v),
            A::LastReceivedLcpConfReq => Self::LastReceivedLcpConfReq(v),
            A::ProxyAuthenType => Self::ProxyAuthenType(u16v("l2tp.avp.proxy_authen_type")?),
            A::ProxyAuthenName => Self::ProxyAuthenName(v),
            A::ProxyAuthenChallenge => Self::ProxyAuthenChallenge(v),
            A::ProxyAuthenId => {
                let [_reserved, id] = exact(v, "l2tp.avp.proxy_authen_id")?;
                Self::ProxyAuthenId(id)
            }
            A::ProxyAuthenResponse => Self::ProxyAuthenResponse(v),
            A::CallErrors => {
                let b: [u8; 26] = exact(v, "l2tp.avp.call_errors")?;
                let w = |i: usize| be32(&b[2 + 4 * i..6 + 4 * i]);
                Self::CallErrors(CallErrors {
                    crc_errors: w(0),
                    framing_errors: w(1),
                    hardware_overruns: w(2),
                    buffer_overruns: w(3),
                    timeout_errors: w(4),
                    alignment_errors: w(5),
                })
            }
            A::Accm => {
                let b: [u8; 10] = exact(v, "l2tp.avp.accm")?;
                Self::Accm {
                    send: be32(&b[2..6]),
                    recv: be32(&b[6..10]),
                }
            }
            A::RandomVector => Self::RandomVector(non_empty(v, "l2tp.avp.random_vector")?),
            A::PrivateGroupId => Self::PrivateGroupId(v),
            A::RxConnectSpeed => Self::RxConnectSpeed(u32v("l2tp.avp.rx_connect_speed")?),
            A::SequencingRequired => {
                if !v.is_empty() {
                    return Err(Error::bad_length("l2tp.avp.sequencing_required"));
                }
                Self::SequencingRequired
            }
            A::Unknown(_) => Self::Unknown {
                vendor_id,
                attr_type,
                value: v,
            },
        })
    }

    /// `(vendor ID, attribute type)` of this value.
    pub fn key(&self) -> (u16, u16) {
        use AttrType as A;
        let t = match self {
            Self::MessageType(_) => A::MessageType,
            Self::ResultCode(_) => A::ResultCode,
            Self::ProtocolVersion { .. } => A::ProtocolVersion,
            Self::FramingCapabilities(_) => A::FramingCapabilities,
            Self::BearerCapabilities(_) => A::BearerCapabilities,
            Self::TieBreaker(_) => A::TieBreaker,
            Self::FirmwareRevision(_) => A::FirmwareRevision,
            Self::HostName(_) => A::HostName,
            Self::VendorName(_) => A::VendorName,
            Self::AssignedTunnelId(_) => A::AssignedTunnelId,
            Self::ReceiveWindowSize(_) => A::ReceiveWindowSize,
            Self::Challenge(_) => A::Challenge,
            Self::Q931CauseCode(_) => A::Q931CauseCode,
            Self::ChallengeResponse(_) => A::ChallengeResponse,
            Self::AssignedSessionId(_) => A::AssignedSessionId,
            Self::CallSerialNumber(_) => A::CallSerialNumber,
            Self::MinimumBps(_) => A::MinimumBps,
            Self::MaximumBps(_) => A::MaximumBps,
            Self::BearerType(_) => A::BearerType,
            Self::FramingType(_) => A::FramingType,
            Self::CalledNumber(_) => A::CalledNumber,
            Self::CallingNumber(_) => A::CallingNumber,
            Self::SubAddress(_) => A::SubAddress,
            Self::TxConnectSpeed(_) => A::TxConnectSpeed,
            Self::PhysicalChannelId(_) => A::PhysicalChannelId,
            Self::InitialReceivedLcpConfReq(_) => A::InitialReceivedLcpConfReq,
            Self::LastSentLcpConfReq(_) => A::LastSentLcpConfReq,
            Self::LastReceivedLcpConfReq(_) => A::LastReceivedLcpConfReq,
            Self::ProxyAuthenType(_) => A::ProxyAuthenType,
            Self::ProxyAuthenName(_) => A::ProxyAuthenName,
            Self::ProxyAuthenChallenge(_) => A::ProxyAuthenChallenge,
            Self::ProxyAuthenId(_) => A::ProxyAuthenId,
            Self::ProxyAuthenResponse(_) => A::ProxyAuthenResponse,
            Self::CallErrors(_) => A::CallErrors,
            Self::Accm { .. } => A::Accm,
            Self::RandomVector(_) => A::RandomVector,
            Self::PrivateGroupId(_) => A::PrivateGroupId,
            Self::RxConnectSpeed(_) => A::RxConnectSpeed,
            Self::SequencingRequired => A::SequencingRequired,
            Self::MsCorrelationId(_) => return (VENDOR_MICROSOFT, MS_ATTR_CORRELATION_ID),
            Self::Unknown {
                vendor_id,
                attr_type,
                ..
            } => return (*vendor_id, *attr_type),
        };
        (VENDOR_IETF, t.into())
    }

    /// The M bit RFC 2661 §4.4 gives this AVP when we send it. Unknown AVPs report `false`.
    pub fn default_mandatory(&self) -> bool {
        !matches!(
            self,
            Self::TieBreaker(_)
                | Self::FirmwareRevision(_)
                | Self::VendorName(_)
                | Self::PhysicalChannelId(_)
                | Self::InitialReceivedLcpConfReq(_)
                | Self::LastSentLcpConfReq(_)
                | Self::LastReceivedLcpConfReq(_)
                | Self::ProxyAuthenType(_)
                | Self::ProxyAuthenName(_)
                | Self::ProxyAuthenChallenge(_)
                | Self::ProxyAuthenId(_)
                | Self::ProxyAuthenResponse(_)
                | Self::PrivateGroupId(_)
                | Self::RxConnectSpeed(_)
                | Self::MsCorrelationId(_)
                | Self::Unknown { .. }
        )
    }

    /// The length of the value (without the AVP header).
    pub fn value_len(&self) -> usize {
        match self {
            Self::MessageType(_)
            | Self::FirmwareRevision(_)
            | Self::AssignedTunnelId(_)
            | Self::ReceiveWindowSize(_)
            | Self::AssignedSessionId(_)
            | Self::ProxyAuthenType(_)
            | Self::ProxyAuthenId(_)
            | Self::ProtocolVersion { .. } => 2,
            Self::FramingCapabilities(_)
            | Self::BearerCapabilities(_)
            | Self::CallSerialNumber(_)
            | Self::MinimumBps(_)
            | Self::MaximumBps(_)
            | Self::BearerType(_)
            | Self::FramingType(_)
            | Self::TxConnectSpeed(_)
            | Self::PhysicalChannelId(_)
            | Self::RxConnectSpeed(_) => 4,
            Self::TieBreaker(_) => 8,
            Self::ChallengeResponse(_) | Self::MsCorrelationId(_) => 16,
            Self::CallErrors(_) => 26,
            Self::Accm { .. } => 10,
            Self::SequencingRequired => 0,
            Self::ResultCode(rc) => match (rc.error, rc.message) {
                (None, _) => 2,
                (Some(_), None) => 4,
                (Some(_), Some(m)) => 4 + m.len(),
            },
            Self::Q931CauseCode(q) => 3 + q.advisory.len(),
            Self::HostName(b)
            | Self::VendorName(b)
            | Self::Challenge(b)
            | Self::CalledNumber(b)
            | Self::CallingNumber(b)
            | Self::SubAddress(b)
            | Self::InitialReceivedLcpConfReq(b)
            | Self::LastSentLcpConfReq(b)
            | Self::LastReceivedLcpConfReq(b)
            | Self::ProxyAuthenName(b)
            | Self::ProxyAuthenChallenge(b)
            | Self::ProxyAuthenResponse(b)
            | Self::RandomVector(b)
            | Self::PrivateGroupId(b)
            | Self::Unknown { value: b, .. } => b.len(),
        }
    }

    /// Writes the value into the first [`AvpRepr::value_len`] bytes of `buffer`.
    pub fn emit_value(&self, buffer: &mut [u8]) -> Result<()> {
        let out = buffer
            .get_mut(..self.value_len())
            .ok_or(Error::buffer_too_small("l2tp.avp.value"))?;
        match self {
            Self::MessageType(t) => out.copy_from_slice(&u16::from(*t).to_be_bytes()),
            Self::FirmwareRevision(x)
            | Self::AssignedTunnelId(x)
            | Self::ReceiveWindowSize(x)
            | Self::AssignedSessionId(x)
            | Self::ProxyAuthenType(x) => out.copy_from_slice(&x.to_be_bytes()),
            Self::ProxyAuthenId(id) => out.copy_from_slice(&[0, *id]),
            Self::ProtocolVersion { version, revision } => {
                out.copy_from_slice(&[*version, *revision])
            }
            Self::FramingCapabilities(x)
            | Self::BearerCapabilities(x)
            | Self::CallSerialNumber(x)
            | Self::MinimumBps(x)
            | Self::MaximumBps(x)
            | Self::BearerType(x)
            | Self::FramingType(x)
            | Self::TxConnectSpeed(x)
            | Self::PhysicalChannelId(x)
            | Self::RxConnectSpeed(x) => out.copy_from_slice(&x.to_be_bytes()),
            Self::TieBreaker(b) => out.copy_from_slice(b),
            Self::ChallengeResponse(b) | Self::MsCorrelationId(b) => out.copy_from_slice(b),
            Self::CallErrors(c) => {
                out[..2].fill(0);
                let words = [
                    c.crc_errors,
                    c.framing_errors,
                    c.hardware_overruns,
                    c.buffer_overruns,
                    c.timeout_errors,
                    c.alignment_errors,
                ];
                for (i, w) in words.iter().enumerate() {
                    out[2 + 4 * i..6 + 4 * i].copy_from_slice(&w.to_be_bytes());
                }
            }
            Self::Accm { send, recv } => {
                out[..2].fill(0);
                out[2..6].copy_from_slice(&send.to_be_bytes());
                out[6..10].copy_from_slice(&recv.to_be_bytes());
            }
            Self::SequencingRequired => {}
            Self::ResultCode(rc) => {
                out[..2].copy_from_slice(&rc.result.to_be_bytes());
                if let Some(e) = rc.error {
                    out[2..4].copy_from_slice(&e.to_be_bytes());
                    if let Some(m) = rc.message {
                        out[4..].copy_from_slice(m);
                    }
                }
            }
            Self::Q931CauseCode(q) => {
                out[..2].copy_from_slice(&q.cause_code.to_be_bytes());
                out[2] = q.cause_msg;
                out[3..].copy_from_slice(q.advisory);
            }
            Self::HostName(b)
            | Self::VendorName(b)
            | Self::Challenge(b)
            | Self::CalledNumber(b)
            | Self::CallingNumber(b)
            | Self::SubAddress(b)
            | Self::InitialReceivedLcpConfReq(b)
            | Self::LastSentLcpConfReq(b)
            | Self::LastReceivedLcpConfReq(b)
            | Self::ProxyAuthenName(b)
            | Self::ProxyAuthenChallenge(b)
            | Self::ProxyAuthenResponse(b)
            | Self::RandomVector(b)
            | Self::PrivateGroupId(b)
            | Self::Unknown { value: b, .. } => out.copy_from_slice(b),
        }
        Ok(())
    }

    /// The whole AVP length (header and value).
    pub fn buffer_len(&self) -> usize {
        AVP_HEADER_LEN + self.value_len()
    }

    /// Writes the whole AVP, unhidden, with the given M bit.
    pub fn emit(&self, mandatory: bool, buffer: &mut [u8]) -> Result<()> {
        let (vendor_id, attr_type) = self.key();
        let (_, out) = emit_avp_header(
            buffer,
            mandatory,
            false,
            0,
            vendor_id,
            attr_type,
            self.value_len(),
        )?;
        self.emit_value(&mut out[AVP_HEADER_LEN..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Linux LAC (xl2tpd 1.3.18) SCCRQ, retyped from the decoded fields of a decrypted capture
    // (strongSwan + xl2tpd client against SoftEther, frame 16): flags 0xc802, Length 99,
    // tunnel 0, session 0, Ns 0, Nr 0; Message Type 1, Protocol Version 1.0, Framing Caps 3,
    // Bearer Caps 0, Firmware Revision 0x0690 (M=0), Host Name "c1", Vendor Name
    // "xelerance.com" (M=0), Assigned Tunnel ID 8394, Receive Window Size 4.
    const XL2TPD_SCCRQ: [u8; 99] = [
        0xc8, 0x02, 0x00, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // header
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // Message Type SCCRQ
        0x80, 0x08, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, // Protocol Version 1.0
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, // Framing Caps
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, // Bearer Caps
        0x00, 0x08, 0x00, 0x00, 0x00, 0x06, 0x06, 0x90, // Firmware Revision
        0x80, 0x08, 0x00, 0x00, 0x00, 0x07, b'c', b'1', // Host Name
        0x00, 0x13, 0x00, 0x00, 0x00, 0x08, b'x', b'e', b'l', b'e', b'r', b'a', b'n', b'c', b'e',
        b'.', b'c', b'o', b'm', // Vendor Name
        0x80, 0x08, 0x00, 0x00, 0x00, 0x09, 0x20, 0xca, // Assigned Tunnel ID 8394
        0x80, 0x08, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x04, // Receive Window Size 4
    ];

    // Same capture, frame 20: ICRQ, Length 48, tunnel 1, session 0, Ns 2, Nr 1; Assigned
    // Session ID 36876, Call Serial Number 1, Bearer Type 0.
    const XL2TPD_ICRQ: [u8; 48] = [
        0xc8, 0x02, 0x00, 0x30, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, //
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, //
        0x80, 0x08, 0x00, 0x00, 0x00, 0x0e, 0x90, 0x0c, //
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x01, //
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00,
    ];

    // Same capture, frame 22: ICCN, Length 50, tunnel 1, session 1, Ns 3, Nr 2; Tx Connect
    // Speed 0, Framing Type sync (1), Rx Connect Speed 0 (M=0).
    const XL2TPD_ICCN: [u8; 50] = [
        0xc8, 0x02, 0x00, 0x32, 0x00, 0x01, 0x00, 0x01, 0x00, 0x03, 0x00, 0x02, //
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, //
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, //
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x01, //
        0x00, 0x0a, 0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00,
    ];

    // Same capture, frame 25: SoftEther's data message with the L bit (flags 0x4002), Length
    // 28, tunnel 8394, session 36876, carrying an LCP Configure-Ack.
    const SOFTETHER_DATA: [u8; 28] = [
        0x40, 0x02, 0x00, 0x1c, 0x20, 0xca, 0x90, 0x0c, 0xff, 0x03, 0xc0, 0x21, 0x04, 0x01, 0x00,
        0x10, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x05, 0x06, 0xdd, 0xdf, 0xbf, 0x85,
    ];

    // Same capture, frame 24: xl2tpd's data message without the L bit (flags 0x0002), tunnel
    // 1, session 1, LCP Configure-Request <mru 1400> <asyncmap 0> <magic 0xdddfbf85>.
    const XL2TPD_DATA: [u8; 30] = [
        0x00, 0x02, 0x00, 0x01, 0x00, 0x01, 0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x14, 0x01,
        0x04, 0x05, 0x78, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x05, 0x06, 0xdd, 0xdf, 0xbf, 0x85,
    ];

    // dotpcap/packetnet Test/CaptureFiles/l2tp.pcap @0768401: a data message with the O and P
    // bits (flags 0x0302), tunnel 18994, session 54110, Offset Size 0, LCP Echo-Request.
    const PACKETNET_DATA: [u8; 20] = [
        0x03, 0x02, 0x4a, 0x32, 0xd3, 0x5e, 0x00, 0x00, 0xff, 0x03, 0xc0, 0x21, 0x09, 0x48, 0x00,
        0x0c, 0xc1, 0x34, 0x39, 0x22,
    ];

    // katalix/go-l2tp l2tp/msg_test.go: a ProL2TP Hello and a ZLB ack.
    const PROL2TP_HELLO: [u8; 20] = [
        0xc8, 0x02, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x80, 0x08, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x06,
    ];
    const PROL2TP_ZLB: [u8; 12] = [
        0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    // katalix/go-l2tp l2tp/avp_test.go: ProL2TP StopCCN AVPs (Message Type 4, Result Code 1
    // "general request to clear", Assigned Tunnel ID 0x5f2b).
    const PROL2TP_STOPCCN_AVPS: [u8; 24] = [
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x80, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00,
        0x01, 0x80, 0x08, 0x00, 0x00, 0x00, 0x09, 0x5f, 0x2b,
    ];

    // MS-L2TPIE §2.2.1.1: the Microsoft Correlation ID AVP, M=0 H=0, length
    // 22, vendor 0x0137, type 1, then a 16-octet GUID (an example GUID value here).
    const MS_CORRELATION_AVP: [u8; 22] = [
        0x00, 0x16, 0x01, 0x37, 0x00, 0x01, 0x3f, 0x2a, 0x81, 0x0c, 0x5d, 0x11, 0x4e, 0x8b, 0x9a,
        0x01, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
    ];

    fn avps(bytes: &[u8]) -> Vec<Avp<'_>> {
        Avps::new(bytes).collect::<Result<Vec<_>>>().unwrap()
    }

    fn typed<'a>(list: &[Avp<'a>]) -> Vec<AvpRepr<'a>> {
        list.iter().map(|a| AvpRepr::parse(a).unwrap()).collect()
    }

    fn round_trip_message(bytes: &[u8]) {
        let p = Packet::new_checked(bytes).unwrap();
        let repr = Repr::parse(&p).unwrap();
        let mut out = vec![0u8; repr.total_len()];
        repr.emit(&mut out).unwrap();
        let hl = repr.buffer_len();
        if repr.control {
            // Re-emit every AVP from its typed form, with the M bit it had.
            let mut at = hl;
            for raw in Avps::new(p.payload()) {
                let raw = raw.unwrap();
                let t = AvpRepr::parse(&raw).unwrap();
                t.emit(raw.mandatory, &mut out[at..]).unwrap();
                at += t.buffer_len();
            }
            assert_eq!(at, out.len());
        } else {
            out[hl..].copy_from_slice(p.payload());
        }
        assert_eq!(out, bytes);
    }

    #[test]
    fn deconstruct_control() {
        let p = Packet::new_checked(&XL2TPD_SCCRQ[..]).unwrap();
        assert_eq!(p.flags(), 0xc802);
        assert!(p.is_control() && p.has_length() && p.has_sequence());
        assert!(!p.has_offset() && !p.priority());
        assert_eq!(p.version(), 2);
        assert_eq!(p.length(), Some(99));
        assert_eq!((p.tunnel_id(), p.session_id()), (0, 0));
        assert_eq!((p.ns(), p.nr()), (Some(0), Some(0)));
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.payload().len(), 87);
    }

    #[test]
    fn deconstruct_data() {
        let p = Packet::new_checked(&SOFTETHER_DATA[..]).unwrap();
        assert!(!p.is_control() && p.has_length() && !p.has_sequence());
        assert_eq!((p.tunnel_id(), p.session_id()), (8394, 36876));
        assert_eq!(p.header_len(), 8);
        assert_eq!(&p.payload()[..4], &[0xff, 0x03, 0xc0, 0x21]);

        let p = Packet::new_checked(&XL2TPD_DATA[..]).unwrap();
        assert_eq!(p.flags(), 0x0002);
        assert_eq!((p.length(), p.tunnel_id(), p.session_id()), (None, 1, 1));
        assert_eq!(p.header_len(), 6);
        assert_eq!(p.payload(), &XL2TPD_DATA[6..]);

        let p = Packet::new_checked(&PACKETNET_DATA[..]).unwrap();
        assert!(p.has_offset() && p.priority());
        assert_eq!((p.tunnel_id(), p.session_id()), (18994, 54110));
        assert_eq!(p.offset_size(), Some(0));
        assert_eq!(p.payload_slice(), &PACKETNET_DATA[8..]);
    }

    #[test]
    fn offset_padding_skipped() {
        // O bit with 3 octets of padding: the payload starts after the pad.
        let bytes = [
            0x02, 0x02, 0x00, 0x07, 0x00, 0x09, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0xff, 0x03,
        ];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.header_len(), 11);
        assert_eq!(p.payload(), &[0xff, 0x03]);
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr.offset, Some(3));
        assert_eq!(repr.payload_len, 2);
    }

    #[test]
    fn construct() {
        let mut buf = [0xffu8; 12];
        let repr = Repr::control(1, 0, Sequence { ns: 1, nr: 1 }, 0);
        repr.emit(&mut buf).unwrap();
        assert_eq!(buf, PROL2TP_ZLB);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_ns(0x1234);
        p.set_nr(0x5678);
        p.set_tunnel_id(7);
        p.set_session_id(9);
        p.set_length(12);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            (p.ns(), p.nr(), p.tunnel_id(), p.session_id()),
            (Some(0x1234), Some(0x5678), 7, 9)
        );

        // A data header with the L bit, like SoftEther's.
        let repr = Repr {
            control: false,
            length_present: true,
            tunnel_id: 8394,
            session_id: 36876,
            sequence: None,
            offset: None,
            priority: false,
            payload_len: 20,
        };
        let mut out = [0u8; 28];
        repr.emit(&mut out).unwrap();
        out[8..].copy_from_slice(&SOFTETHER_DATA[8..]);
        assert_eq!(out, SOFTETHER_DATA);
        assert_eq!(
            repr.emit(&mut [0u8; 7]).unwrap_err(),
            Error::buffer_too_small("l2tp.header")
        );
    }

    #[test]
    fn check_len() {
        let cases: &[(&[u8], Error)] = &[
            (&[], Error::truncated("l2tp.flags")),
            (&[0xc8], Error::truncated("l2tp.flags")),
            (
                &[0xc8, 0x03, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0],
                Error::bad_value("l2tp.version"),
            ),
            (
                &[0x88, 0x02, 0, 0, 0, 0, 0, 0, 0, 0],
                Error::bad_value("l2tp.control_flags"),
            ),
            (
                &[0xc0, 0x02, 0, 8, 0, 0, 0, 0],
                Error::bad_value("l2tp.control_flags"),
            ),
            (&PROL2TP_ZLB[..11], Error::truncated("l2tp.header")),
            (
                &[0xc8, 0x02, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0],
                Error::bad_length("l2tp.length"),
            ),
            (
                &[0xc8, 0x02, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0],
                Error::truncated("l2tp.length"),
            ),
            (&[0x00, 0x02, 0, 1, 0], Error::truncated("l2tp.header")),
            (
                &[0x02, 0x02, 0, 1, 0, 1, 0, 4, 0, 0],
                Error::truncated("l2tp.offset"),
            ),
            (
                &[0x42, 0x02, 0, 10, 0, 1, 0, 1, 0, 4, 0, 0, 0, 0],
                Error::truncated("l2tp.offset"),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                Packet::new_checked(*bytes).unwrap_err(),
                *want,
                "{bytes:02x?}"
            );
        }
        // Bytes past Length are ignored.
        let mut long = PROL2TP_ZLB.to_vec();
        long.extend_from_slice(&[1, 2, 3]);
        let p = Packet::new_checked(&long[..]).unwrap();
        assert!(p.payload().is_empty());
    }

    #[test]
    fn parse_xl2tpd_sccrq() {
        let p = Packet::new_checked(&XL2TPD_SCCRQ[..]).unwrap();
        let list = avps(p.payload());
        assert_eq!(list.len(), 9);
        assert!(list.iter().all(|a| a.vendor_id == 0 && !a.hidden));
        let m: Vec<bool> = list.iter().map(|a| a.mandatory).collect();
        assert_eq!(m, [true, true, true, true, false, true, false, true, true]);
        assert_eq!(
            typed(&list),
            [
                AvpRepr::MessageType(MessageType::Sccrq),
                AvpRepr::ProtocolVersion {
                    version: 1,
                    revision: 0
                },
                AvpRepr::FramingCapabilities(framing::SYNC | framing::ASYNC),
                AvpRepr::BearerCapabilities(0),
                AvpRepr::FirmwareRevision(0x0690),
                AvpRepr::HostName(b"c1"),
                AvpRepr::VendorName(b"xelerance.com"),
                AvpRepr::AssignedTunnelId(8394),
                AvpRepr::ReceiveWindowSize(4),
            ]
        );
        // Our default M bits agree with what xl2tpd sends.
        for (raw, t) in list.iter().zip(typed(&list)) {
            assert_eq!(raw.mandatory, t.default_mandatory(), "{t:?}");
        }
    }

    #[test]
    fn parse_xl2tpd_icrq_iccn() {
        let p = Packet::new_checked(&XL2TPD_ICRQ[..]).unwrap();
        assert_eq!(
            (p.tunnel_id(), p.session_id(), p.ns(), p.nr()),
            (1, 0, Some(2), Some(1))
        );
        assert_eq!(
            typed(&avps(p.payload())),
            [
                AvpRepr::MessageType(MessageType::Icrq),
                AvpRepr::AssignedSessionId(36876),
                AvpRepr::CallSerialNumber(1),
                AvpRepr::BearerType(0),
            ]
        );
        let p = Packet::new_checked(&XL2TPD_ICCN[..]).unwrap();
        assert_eq!(
            (p.tunnel_id(), p.session_id(), p.ns(), p.nr()),
            (1, 1, Some(3), Some(2))
        );
        let list = avps(p.payload());
        assert_eq!(
            typed(&list),
            [
                AvpRepr::MessageType(MessageType::Iccn),
                AvpRepr::TxConnectSpeed(0),
                AvpRepr::FramingType(framing::SYNC),
                AvpRepr::RxConnectSpeed(0),
            ]
        );
        assert!(!list[3].mandatory);
    }

    #[test]
    fn windows_sccrq_avp_set() {
        // The Windows SCCRQ AVP set (as a Huawei Quidway debug of a Microsoft LAC shows it):
        // Protocol Version 1.0, Framing Caps 1 (sync), Bearer Caps 0, Firmware Revision
        // 0x0500, Host Name, Vendor Name "Microsoft", Assigned Tunnel ID 4, Receive Window 8.
        // The M bits follow RFC 2661 §4.4 (the decodes do not show them).
        let set = [
            AvpRepr::MessageType(MessageType::Sccrq),
            AvpRepr::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            AvpRepr::FramingCapabilities(framing::SYNC),
            AvpRepr::BearerCapabilities(0),
            AvpRepr::FirmwareRevision(0x0500),
            AvpRepr::HostName(b"RWB-LAPTOP-DELL"),
            AvpRepr::VendorName(b"Microsoft"),
            AvpRepr::AssignedTunnelId(4),
            AvpRepr::ReceiveWindowSize(8),
        ];
        let mut bytes = Vec::new();
        for a in &set {
            let mut b = vec![0u8; a.buffer_len()];
            a.emit(a.default_mandatory(), &mut b).unwrap();
            bytes.extend_from_slice(&b);
        }
        let expected_prefix: &[u8] = &[
            0x80, 0x08, 0, 0, 0, 0, 0, 1, // Message Type
            0x80, 0x08, 0, 0, 0, 2, 1, 0, // Protocol Version
            0x80, 0x0a, 0, 0, 0, 3, 0, 0, 0, 1, // Framing Caps sync
            0x80, 0x0a, 0, 0, 0, 4, 0, 0, 0, 0, // Bearer Caps
            0x00, 0x08, 0, 0, 0, 6, 0x05, 0x00, // Firmware Revision 0x0500
        ];
        assert_eq!(&bytes[..expected_prefix.len()], expected_prefix);
        let vendor: &[u8] = &[
            0x00, 0x0f, 0, 0, 0, 8, b'M', b'i', b'c', b'r', b'o', b's', b'o', b'f', b't',
        ];
        assert!(bytes.windows(vendor.len()).any(|w| w == vendor));
        assert!(bytes.ends_with(&[0x80, 0x08, 0, 0, 0, 9, 0, 4, 0x80, 0x08, 0, 0, 0, 10, 0, 8]));
        let back = typed(&avps(&bytes));
        assert_eq!(back, set);
    }

    #[test]
    fn ms_correlation_id() {
        let (avp, rest) = Avp::parse(&MS_CORRELATION_AVP).unwrap();
        assert!(rest.is_empty());
        assert!(!avp.mandatory && !avp.hidden);
        assert_eq!(avp.key(), (311, 1));
        assert_eq!(avp.buffer_len(), 22);
        let t = AvpRepr::parse(&avp).unwrap();
        assert_eq!(
            t,
            AvpRepr::MsCorrelationId(MS_CORRELATION_AVP[6..].try_into().unwrap())
        );
        assert!(!t.default_mandatory());
        let mut out = [0u8; 22];
        t.emit(false, &mut out).unwrap();
        assert_eq!(out, MS_CORRELATION_AVP);

        // An ICRQ as Vista SP1+ sends it: the Correlation ID after the IETF AVPs.
        let mut icrq = XL2TPD_ICRQ.to_vec();
        icrq.extend_from_slice(&MS_CORRELATION_AVP);
        icrq[3] = icrq.len() as u8;
        let p = Packet::new_checked(&icrq[..]).unwrap();
        let list = typed(&avps(p.payload()));
        assert_eq!(list.len(), 5);
        assert!(matches!(list[4], AvpRepr::MsCorrelationId(_)));
        round_trip_message(&icrq);

        // Another vendor type stays Unknown.
        let other = [0x00, 0x08, 0x01, 0x37, 0x00, 0x02, 0xab, 0xcd];
        let (avp, _) = Avp::parse(&other).unwrap();
        assert_eq!(
            AvpRepr::parse(&avp).unwrap(),
            AvpRepr::Unknown {
                vendor_id: 311,
                attr_type: 2,
                value: &[0xab, 0xcd]
            }
        );
    }

    #[test]
    fn prol2tp_fragments() {
        let p = Packet::new_checked(&PROL2TP_HELLO[..]).unwrap();
        assert_eq!(
            typed(&avps(p.payload())),
            [AvpRepr::MessageType(MessageType::Hello)]
        );
        let p = Packet::new_checked(&PROL2TP_ZLB[..]).unwrap();
        assert!(p.payload().is_empty());
        assert_eq!(
            typed(&avps(&PROL2TP_STOPCCN_AVPS)),
            [
                AvpRepr::MessageType(MessageType::StopCcn),
                AvpRepr::ResultCode(ResultCode {
                    result: 1,
                    error: None,
                    message: None
                }),
                AvpRepr::AssignedTunnelId(0x5f2b),
            ]
        );
        // ProL2TP Host Name "openv3", Receive Window 10, Bearer Caps 3, Session ID 0.
        let bytes: &[u8] = &[
            0x80, 0x0c, 0, 0, 0, 7, b'o', b'p', b'e', b'n', b'v', b'3', 0x80, 0x08, 0, 0, 0, 0x0a,
            0, 0x0a, 0x80, 0x0a, 0, 0, 0, 4, 0, 0, 0, 3, 0x80, 0x08, 0, 0, 0, 0x0e, 0, 0,
        ];
        assert_eq!(
            typed(&avps(bytes)),
            [
                AvpRepr::HostName(b"openv3"),
                AvpRepr::ReceiveWindowSize(10),
                AvpRepr::BearerCapabilities(bearer::DIGITAL | bearer::ANALOG),
                AvpRepr::AssignedSessionId(0),
            ]
        );
    }

    #[test]
    fn round_trips() {
        for m in [
            &XL2TPD_SCCRQ[..],
            &XL2TPD_ICRQ[..],
            &XL2TPD_ICCN[..],
            &SOFTETHER_DATA[..],
            &XL2TPD_DATA[..],
            &PACKETNET_DATA[..],
            &PROL2TP_HELLO[..],
            &PROL2TP_ZLB[..],
        ] {
            round_trip_message(m);
        }
        // Raw AVPs round-trip with their flags, including H and reserved bits.
        let raw = [0xc4, 0x0a, 0x00, 0x00, 0x00, 0x07, 0x01, 0x02, 0x03, 0x04];
        let (avp, _) = Avp::parse(&raw).unwrap();
        assert!(avp.mandatory && avp.hidden);
        assert_eq!(avp.reserved, 1);
        let mut out = [0u8; 10];
        avp.emit(&mut out).unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn every_avp_round_trips() {
        let all = [
            AvpRepr::MessageType(MessageType::Unknown(0x63)),
            AvpRepr::ResultCode(ResultCode {
                result: 2,
                error: Some(8),
                message: Some(b"unknown AVP"),
            }),
            AvpRepr::ResultCode(ResultCode {
                result: 1,
                error: Some(0),
                message: None,
            }),
            AvpRepr::TieBreaker([1, 2, 3, 4, 5, 6, 7, 8]),
            AvpRepr::Challenge(b"\x01\x02"),
            AvpRepr::Q931CauseCode(Q931Cause {
                cause_code: 16,
                cause_msg: 2,
                advisory: b"hi",
            }),
            AvpRepr::ChallengeResponse([9; 16]),
            AvpRepr::MinimumBps(1),
            AvpRepr::MaximumBps(2),
            AvpRepr::CalledNumber(b"123"),
            AvpRepr::CallingNumber(b"456"),
            AvpRepr::SubAddress(b""),
            AvpRepr::PhysicalChannelId(7),
            AvpRepr::InitialReceivedLcpConfReq(&[1, 4, 5, 0x78]),
            AvpRepr::LastSentLcpConfReq(&[1, 4, 5, 0x78]),
            AvpRepr::LastReceivedLcpConfReq(&[1, 4, 5, 0x78]),
            AvpRepr::ProxyAuthenType(2),
            AvpRepr::ProxyAuthenName(b"user"),
            AvpRepr::ProxyAuthenChallenge(&[1; 16]),
            AvpRepr::ProxyAuthenId(7),
            AvpRepr::ProxyAuthenResponse(&[2; 16]),
            AvpRepr::CallErrors(CallErrors {
                crc_errors: 1,
                alignment_errors: 6,
                ..Default::default()
            }),
            AvpRepr::Accm {
                send: 0xffff_ffff,
                recv: 0,
            },
            AvpRepr::RandomVector(&[5; 16]),
            AvpRepr::PrivateGroupId(b"g"),
            AvpRepr::SequencingRequired,
            AvpRepr::Unknown {
                vendor_id: 0,
                attr_type: 0x63,
                value: &[1],
            },
            AvpRepr::Unknown {
                vendor_id: 9,
                attr_type: 1,
                value: &[],
            },
        ];
        for a in all {
            let mut b = vec![0u8; a.buffer_len()];
            a.emit(true, &mut b).unwrap();
            let (raw, rest) = Avp::parse(&b).unwrap();
            assert!(rest.is_empty());
            assert_eq!(AvpRepr::parse(&raw).unwrap(), a);
            assert_eq!(raw.key(), a.key());
        }
    }

    #[test]
    fn malformed_avps() {
        let cases: &[(&[u8], Error)] = &[
            (&[0x80, 0x08, 0, 0, 0], Error::truncated("l2tp.avp.header")),
            (
                &[0x80, 0x05, 0, 0, 0, 0],
                Error::bad_length("l2tp.avp.length"),
            ),
            (
                &[0x80, 0x09, 0, 0, 0, 0, 0, 1],
                Error::truncated("l2tp.avp.length"),
            ),
        ];
        for (bytes, want) in cases {
            let mut it = Avps::new(bytes);
            assert_eq!(it.next().unwrap().unwrap_err(), *want);
            assert!(it.next().is_none(), "the iterator stops after an error");
        }
        let values: &[(u16, &[u8], Error)] = &[
            (0, &[0], Error::bad_length("l2tp.avp.message_type")),
            (1, &[0, 2, 0], Error::bad_length("l2tp.avp.result_code")),
            (1, &[0], Error::bad_length("l2tp.avp.result_code")),
            (7, &[], Error::bad_length("l2tp.avp.host_name")),
            (11, &[], Error::bad_length("l2tp.avp.challenge")),
            (12, &[0, 1], Error::bad_length("l2tp.avp.q931")),
            (
                13,
                &[0; 15],
                Error::bad_length("l2tp.avp.challenge_response"),
            ),
            (34, &[0; 25], Error::bad_length("l2tp.avp.call_errors")),
            (35, &[0; 9], Error::bad_length("l2tp.avp.accm")),
            (36, &[], Error::bad_length("l2tp.avp.random_vector")),
            (39, &[0], Error::bad_length("l2tp.avp.sequencing_required")),
        ];
        for (t, v, want) in values {
            assert_eq!(
                AvpRepr::parse_value(0, *t, v).unwrap_err(),
                *want,
                "type {t}"
            );
        }
        assert_eq!(
            AvpRepr::parse_value(311, 1, &[0; 15]).unwrap_err(),
            Error::bad_length("l2tp.avp.ms_correlation_id")
        );
        let hidden = Avp {
            mandatory: true,
            hidden: true,
            reserved: 0,
            vendor_id: 0,
            attr_type: 7,
            value: &[1, 2, 3],
        };
        assert_eq!(
            AvpRepr::parse(&hidden).unwrap_err(),
            Error::bad_value("l2tp.avp.hidden")
        );
        // Emitting an AVP longer than 1023 octets fails.
        let big = [0u8; 1100];
        assert_eq!(
            AvpRepr::HostName(&big)
                .emit(true, &mut [0u8; 1200])
                .unwrap_err(),
            Error::bad_length("l2tp.avp.length")
        );
    }
}
