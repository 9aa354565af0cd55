//! BOOTP/DHCP messages (RFC 2131 §2, §3; RFC 2132; RFC 3442), for answering the DHCPINFORM that
//! Windows remote-access clients send through the tunnel.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------+---------------+---------------+---------------+
//! |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
//! +---------------+---------------+---------------+---------------+
//! |                            xid (4)                            |
//! +-------------------------------+-------------------------------+
//! |           secs (2)            |           flags (2)           |
//! +-------------------------------+-------------------------------+
//! |                          ciaddr  (4)                          |
//! |                          yiaddr  (4)                          |
//! |                          siaddr  (4)                          |
//! |                          giaddr  (4)                          |
//! |                          chaddr  (16)                         |
//! |                          sname   (64)                         |
//! |                          file    (128)                        |
//! +---------------------------------------------------------------+
//! |                          options (variable)                   |
//! +---------------------------------------------------------------+
//! ```
//!
//! - [`Packet`] is the fixed header of RFC 2131 §2 (Figure 1), the magic cookie 99.130.83.99
//!   (RFC 2131 §3, RFC 2132 §2) and the options field after it, viewed in place.
//! - [`Options`] walks the options field (RFC 2132 §2) as an iterator of `Result`: Pad (code 0,
//!   RFC 2132 §3.1) is skipped, End (code 255, §3.2) stops the walk, every other option is a
//!   [`DhcpOption`] whose code may be [`OptionCode::Unknown`] — data, not an error.
//! - [`Repr`] is the whole message with its options in wire order; [`Repr::message_type`] and
//!   [`Repr::parameter_request_list`] read options 53 and 55 (RFC 2132 §9.6, §9.8).
//! - [`ClasslessRoute`] and [`ClasslessRoutes`] are the destination-descriptor/router pairs of
//!   option 121 (RFC 3442) and of Microsoft's option 249, which has "exactly the same" format
//!   (MS-DHCPE §2.2.8).
//!
//! Not interpreted here: option overload (52, RFC 2132 §9.3; `sname` and `file` are opaque
//! bytes) and the concatenation of long options split into several instances (RFC 3396): the
//! options are returned as they appear, and the consumer concatenates if it needs to.
//!
//! The canonical form that [`Repr::emit`] writes, and for which `emit(parse(b)) == b` holds:
//! no Pad option before End, End present, and zero octets after End up to the 300-octet minimum
//! BOOTP message (RFC 951 "vend" is 64 octets; RFC 1542 §2.1), or no octets after End when the
//! message is longer than that.

// Every index below is into a slice whose length was established just before: by `check_len`
// (header getters; a `Packet` made with `new_unchecked` must be checked first, as in smoltcp),
// by `get(..)` (option walker) or by `get_mut(..len)` (emitters).
#![allow(clippy::indexing_slicing)]

use core::net::Ipv4Addr;

use crate::{Error, Result};

/// The UDP port of DHCP servers (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// The UDP port of DHCP clients (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;
/// The magic cookie that starts the options field: 99.130.83.99 (RFC 2131 §3, RFC 2132 §2).
pub const MAGIC_COOKIE: [u8; 4] = [0x63, 0x82, 0x53, 0x63];
/// The length of the fixed BOOTP header, up to and including `file` (RFC 2131 §2).
pub const HEADER_LEN: usize = field::FILE.end;
/// Where the options start: after the fixed header and the magic cookie.
pub const OPTIONS_OFFSET: usize = field::MAGIC.end;
/// The smallest BOOTP message (236-octet header plus the 64-octet "vend" field of RFC 951;
/// RFC 1542 §2.1). [`Repr::emit`] pads shorter messages with zeros after End up to this length.
pub const MIN_MESSAGE_LEN: usize = 300;
/// The `flags` bit asking the server to broadcast its reply (RFC 2131 §2, Figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;
/// The largest value of one option: its length field is one octet (RFC 2132 §2).
pub const MAX_OPTION_LEN: usize = 0xff;

mod field {
    use crate::Field;

    pub(super) const OP: usize = 0;
    pub(super) const HTYPE: usize = 1;
    pub(super) const HLEN: usize = 2;
    pub(super) const HOPS: usize = 3;
    pub(super) const XID: Field = 4..8;
    pub(super) const SECS: Field = 8..10;
    pub(super) const FLAGS: Field = 10..12;
    pub(super) const CIADDR: Field = 12..16;
    pub(super) const YIADDR: Field = 16..20;
    pub(super) const SIADDR: Field = 20..24;
    pub(super) const GIADDR: Field = 24..28;
    pub(super) const CHADDR: Field = 28..44;
    pub(super) const SNAME: Field = 44..108;
    pub(super) const FILE: Field = 108..236;
    pub(super) const MAGIC: Field = 236..240;
}

/// The length of `chaddr` (RFC 2131 §2).
pub const CHADDR_LEN: usize = field::CHADDR.end - field::CHADDR.start;
/// The length of `sname` (RFC 2131 §2).
pub const SNAME_LEN: usize = field::SNAME.end - field::SNAME.start;
/// The length of `file` (RFC 2131 §2).
pub const FILE_LEN: usize = field::FILE.end - field::FILE.start;

enum_with_unknown! {
    /// The `op` field: BOOTREQUEST or BOOTREPLY (RFC 951, RFC 2131 §2).
    pub enum Op(u8) {
        /// BOOTREQUEST: every message from a client.
        Request = 0x01,
        /// BOOTREPLY: every message from a server.
        Reply = 0x02,
    }
}

enum_with_unknown! {
    /// The DHCP Message Type, the value of option 53 (RFC 2132 §9.6).
    pub enum MessageType(u8) {
        /// DHCPDISCOVER.
        Discover = 0x01,
        /// DHCPOFFER.
        Offer = 0x02,
        /// DHCPREQUEST.
        Request = 0x03,
        /// DHCPDECLINE.
        Decline = 0x04,
        /// DHCPACK.
        Ack = 0x05,
        /// DHCPNAK.
        Nak = 0x06,
        /// DHCPRELEASE.
        Release = 0x07,
        /// DHCPINFORM (RFC 2131 §3.4).
        Inform = 0x08,
    }
}

enum_with_unknown! {
    /// Option codes (RFC 2132; RFC 3442; MS-DHCPE §2.2.8). Only the ones this server reads or
    /// writes, or that Windows asks for, are named.
    pub enum OptionCode(u8) {
        /// Pad (RFC 2132 §3.1): one octet, no length.
        Pad = 0x00,
        /// Subnet Mask (RFC 2132 §3.3).
        SubnetMask = 0x01,
        /// Router (RFC 2132 §3.5).
        Router = 0x03,
        /// Domain Name Server (RFC 2132 §3.8).
        DomainNameServer = 0x06,
        /// Host Name (RFC 2132 §3.14).
        HostName = 0x0c,
        /// Domain Name (RFC 2132 §3.17).
        DomainName = 0x0f,
        /// Perform Router Discovery (RFC 2132 §5.5).
        PerformRouterDiscovery = 0x1f,
        /// Static Route, classful (RFC 2132 §5.8; obsoleted by option 121, RFC 3442).
        StaticRoute = 0x21,
        /// Vendor Specific Information (RFC 2132 §8.4).
        VendorSpecific = 0x2b,
        /// NetBIOS over TCP/IP Name Server (RFC 2132 §8.5).
        NetbiosNameServer = 0x2c,
        /// NetBIOS over TCP/IP Node Type (RFC 2132 §8.7).
        NetbiosNodeType = 0x2e,
        /// NetBIOS over TCP/IP Scope (RFC 2132 §8.8).
        NetbiosScope = 0x2f,
        /// Requested IP Address (RFC 2132 §9.1).
        RequestedIpAddress = 0x32,
        /// IP Address Lease Time (RFC 2132 §9.2).
        LeaseTime = 0x33,
        /// Option Overload (RFC 2132 §9.3).
        OptionOverload = 0x34,
        /// DHCP Message Type (RFC 2132 §9.6).
        MessageType = 0x35,
        /// Server Identifier (RFC 2132 §9.7).
        ServerIdentifier = 0x36,
        /// Parameter Request List (RFC 2132 §9.8).
        ParameterRequestList = 0x37,
        /// Message (RFC 2132 §9.9).
        Message = 0x38,
        /// Maximum DHCP Message Size (RFC 2132 §9.10).
        MaxMessageSize = 0x39,
        /// Vendor class identifier (RFC 2132 §9.13).
        VendorClassIdentifier = 0x3c,
        /// Client-identifier (RFC 2132 §9.14).
        ClientIdentifier = 0x3d,
        /// Classless Static Route (RFC 3442).
        ClasslessStaticRoute = 0x79,
        /// Microsoft Classless Static Route: RFC 3442's format under code 249 (MS-DHCPE §2.2.8).
        MsClasslessStaticRoute = 0xf9,
        /// End (RFC 2132 §3.2): one octet, no length.
        End = 0xff,
    }
}

/// A read/write view of a BOOTP/DHCP message (RFC 2131 §2).
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

    /// Checks that the fixed header and the magic cookie fit the buffer. The options field is
    /// the rest of the buffer; its TLVs are checked as they are walked ([`Options`]).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < OPTIONS_OFFSET {
            return Err(Error::truncated("dhcp.header"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn read_u16(&self, f: crate::Field) -> u16 {
        let d = &self.buffer.as_ref()[f];
        u16::from_be_bytes([d[0], d[1]])
    }

    fn read_addr(&self, f: crate::Field) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[f];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// `op`: BOOTREQUEST or BOOTREPLY.
    pub fn op(&self) -> Op {
        Op::from(self.buffer.as_ref()[field::OP])
    }

    /// `htype`: the hardware address type (1 = Ethernet, "Assigned Numbers").
    pub fn htype(&self) -> u8 {
        self.buffer.as_ref()[field::HTYPE]
    }

    /// `hlen`: the hardware address length.
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// `hops`: set by relay agents.
    pub fn hops(&self) -> u8 {
        self.buffer.as_ref()[field::HOPS]
    }

    /// `xid`: the transaction ID chosen by the client.
    pub fn xid(&self) -> u32 {
        let d = &self.buffer.as_ref()[field::XID];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// `secs`: seconds since the client began.
    pub fn secs(&self) -> u16 {
        self.read_u16(field::SECS)
    }

    /// `flags` (RFC 2131 §2, Figure 2): the broadcast bit and reserved zeros.
    pub fn flags(&self) -> u16 {
        self.read_u16(field::FLAGS)
    }

    /// Whether the client asked for a broadcast reply ([`FLAG_BROADCAST`]).
    pub fn broadcast(&self) -> bool {
        self.flags() & FLAG_BROADCAST != 0
    }

    /// `ciaddr`: the client's address, when it already has one (as in DHCPINFORM).
    pub fn ciaddr(&self) -> Ipv4Addr {
        self.read_addr(field::CIADDR)
    }

    /// `yiaddr`: "your" (client) address, filled by the server.
    pub fn yiaddr(&self) -> Ipv4Addr {
        self.read_addr(field::YIADDR)
    }

    /// `siaddr`: the next server to use in bootstrap.
    pub fn siaddr(&self) -> Ipv4Addr {
        self.read_addr(field::SIADDR)
    }

    /// `giaddr`: the relay agent address.
    pub fn giaddr(&self) -> Ipv4Addr {
        self.read_addr(field::GIADDR)
    }

    /// `chaddr`: all 16 octets of the client hardware address field.
    pub fn chaddr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::CHADDR]
    }

    /// The first `hlen` octets of `chaddr` (all 16 when `hlen` is larger).
    pub fn client_hw_addr(&self) -> &[u8] {
        let len = usize::from(self.hlen()).min(CHADDR_LEN);
        &self.chaddr()[..len]
    }

    /// `sname`: 64 octets, the server host name or overloaded options.
    pub fn sname(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SNAME]
    }

    /// `file`: 128 octets, the boot file name or overloaded options.
    pub fn file(&self) -> &[u8] {
        &self.buffer.as_ref()[field::FILE]
    }

    /// The four octets where the magic cookie belongs.
    pub fn magic_cookie(&self) -> [u8; 4] {
        let d = &self.buffer.as_ref()[field::MAGIC];
        [d[0], d[1], d[2], d[3]]
    }

    /// The options field: everything after the magic cookie.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[OPTIONS_OFFSET..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write_u16(&mut self, f: crate::Field, value: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&value.to_be_bytes());
    }

    fn write_addr(&mut self, f: crate::Field, value: Ipv4Addr) {
        self.buffer.as_mut()[f].copy_from_slice(&value.octets());
    }

    /// Sets `op`.
    pub fn set_op(&mut self, value: Op) {
        self.buffer.as_mut()[field::OP] = value.into();
    }

    /// Sets `htype`.
    pub fn set_htype(&mut self, value: u8) {
        self.buffer.as_mut()[field::HTYPE] = value;
    }

    /// Sets `hlen`.
    pub fn set_hlen(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets `hops`.
    pub fn set_hops(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOPS] = value;
    }

    /// Sets `xid`.
    pub fn set_xid(&mut self, value: u32) {
        self.buffer.as_mut()[field::XID].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets `secs`.
    pub fn set_secs(&mut self, value: u16) {
        self.write_u16(field::SECS, value);
    }

    /// Sets `flags`.
    pub fn set_flags(&mut self, value: u16) {
        self.write_u16(field::FLAGS, value);
    }

    /// Sets `ciaddr`.
    pub fn set_ciaddr(&mut self, value: Ipv4Addr) {
        self.write_addr(field::CIADDR, value);
    }

    /// Sets `yiaddr`.
    pub fn set_yiaddr(&mut self, value: Ipv4Addr) {
        self.write_addr(field::YIADDR, value);
    }

    /// Sets `siaddr`.
    pub fn set_siaddr(&mut self, value: Ipv4Addr) {
        self.write_addr(field::SIADDR, value);
    }

    /// Sets `giaddr`.
    pub fn set_giaddr(&mut self, value: Ipv4Addr) {
        self.write_addr(field::GIADDR, value);
    }

    /// Sets all 16 octets of `chaddr`.
    pub fn set_chaddr(&mut self, value: &[u8; CHADDR_LEN]) {
        self.buffer.as_mut()[field::CHADDR].copy_from_slice(value);
    }

    /// Copies `value` into `sname` and zero-fills the rest; an error if it is longer than 64.
    pub fn set_sname(&mut self, value: &[u8]) -> Result<()> {
        copy_padded(&mut self.buffer.as_mut()[field::SNAME], value, "dhcp.sname")
    }

    /// Copies `value` into `file` and zero-fills the rest; an error if it is longer than 128.
    pub fn set_file(&mut self, value: &[u8]) -> Result<()> {
        copy_padded(&mut self.buffer.as_mut()[field::FILE], value, "dhcp.file")
    }

    /// Writes the magic cookie.
    pub fn set_magic_cookie(&mut self) {
        self.buffer.as_mut()[field::MAGIC].copy_from_slice(&MAGIC_COOKIE);
    }

    /// The options field, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[OPTIONS_OFFSET..]
    }
}

fn copy_padded(dst: &mut [u8], src: &[u8], at: &'static str) -> Result<()> {
    let (head, tail) = dst
        .split_at_mut_checked(src.len())
        .ok_or_else(|| Error::bad_length(at))?;
    head.copy_from_slice(src);
    tail.fill(0);
    Ok(())
}

/// One option of the options field (RFC 2132 §2): a code and its value, without the Pad and
/// End octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DhcpOption<'a> {
    /// The option code.
    pub code: OptionCode,
    /// The value, without the code and length octets (at most 255 octets).
    pub data: &'a [u8],
}

impl<'a> DhcpOption<'a> {
    /// Reads one option from the start of `bytes`, which must not start with Pad or End.
    /// Returns the option and the bytes after it.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, &'a [u8])> {
        let [code, len, rest @ ..] = bytes else {
            return Err(Error::truncated("dhcp.option"));
        };
        let (data, rest) = rest
            .split_at_checked(usize::from(*len))
            .ok_or(Error::truncated("dhcp.option.length"))?;
        Ok((
            Self {
                code: OptionCode::from(*code),
                data,
            },
            rest,
        ))
    }

    /// The emitted length: code, length and value.
    pub const fn buffer_len(&self) -> usize {
        2 + self.data.len()
    }

    /// Writes code, length and value into the start of `buffer`. Pad and End carry no length
    /// and are refused here, as are values longer than 255 octets (split those per RFC 3396).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        if matches!(self.code, OptionCode::Pad | OptionCode::End) {
            return Err(Error::bad_value("dhcp.option.code"));
        }
        let len = u8::try_from(self.data.len()).map_err(|_| Error::bad_length("dhcp.option"))?;
        let out = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("dhcp.option"))?;
        out[0] = self.code.into();
        out[1] = len;
        out[2..].copy_from_slice(self.data);
        Ok(())
    }
}

/// Walks an options field (RFC 2132 §2): skips Pad, stops at End or at the end of the bytes,
/// and yields one error (then stops) for an option that runs past the end.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Options<'a> {
    /// Walks the options in `bytes` (the field after the magic cookie).
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            done: false,
        }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<DhcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let code = OptionCode::from(*self.rest.first()?);
            match code {
                // "The pad option can be used to cause subsequent fields to align on word
                // boundaries" (RFC 2132 §3.1): one octet, skipped.
                OptionCode::Pad => self.rest = &self.rest[1..],
                // "The end option marks the end of valid information in the vendor field"
                // (RFC 2132 §3.2).
                OptionCode::End => self.done = true,
                _ => {
                    return match DhcpOption::parse(self.rest) {
                        Ok((opt, rest)) => {
                            self.rest = rest;
                            Some(Ok(opt))
                        }
                        Err(e) => {
                            self.done = true;
                            Some(Err(e))
                        }
                    };
                }
            }
        }
        None
    }
}

/// A parsed BOOTP/DHCP message: every header field, and the options in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr<'a> {
    /// `op`.
    pub op: Op,
    /// `htype` (1 = Ethernet).
    pub htype: u8,
    /// `hlen`.
    pub hlen: u8,
    /// `hops`.
    pub hops: u8,
    /// `xid`.
    pub xid: u32,
    /// `secs`.
    pub secs: u16,
    /// `flags` ([`FLAG_BROADCAST`]).
    pub flags: u16,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// `siaddr`.
    pub siaddr: Ipv4Addr,
    /// `giaddr`.
    pub giaddr: Ipv4Addr,
    /// `chaddr`, all 16 octets.
    pub chaddr: [u8; CHADDR_LEN],
    /// `sname`: at most 64 octets; [`Repr::emit`] zero-fills the rest.
    pub sname: &'a [u8],
    /// `file`: at most 128 octets; [`Repr::emit`] zero-fills the rest.
    pub file: &'a [u8],
    /// The options in wire order, without Pad and End.
    pub options: Vec<DhcpOption<'a>>,
}

impl<'a> Repr<'a> {
    /// Parses a message: the fixed header, the magic cookie (else `BadValue`), every option up
    /// to End or the end of the buffer, and a DHCP Message Type of exactly one octet when
    /// present (RFC 2132 §9.6: "The code for this option is 53, and its length is 1").
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<Self> {
        packet.check_len()?;
        if packet.magic_cookie() != MAGIC_COOKIE {
            return Err(Error::bad_value("dhcp.magic_cookie"));
        }
        let buffer: &'a [u8] = packet.buffer;
        let options = Options::new(&buffer[OPTIONS_OFFSET..]).collect::<Result<Vec<_>>>()?;
        for opt in &options {
            if opt.code == OptionCode::MessageType && opt.data.len() != 1 {
                return Err(Error::bad_length("dhcp.option.message_type"));
            }
        }
        let mut chaddr = [0u8; CHADDR_LEN];
        chaddr.copy_from_slice(packet.chaddr());
        Ok(Self {
            op: packet.op(),
            htype: packet.htype(),
            hlen: packet.hlen(),
            hops: packet.hops(),
            xid: packet.xid(),
            secs: packet.secs(),
            flags: packet.flags(),
            ciaddr: packet.ciaddr(),
            yiaddr: packet.yiaddr(),
            siaddr: packet.siaddr(),
            giaddr: packet.giaddr(),
            chaddr,
            sname: &buffer[field::SNAME],
            file: &buffer[field::FILE],
            options,
        })
    }

    /// The value of the first option with `code`, if any.
    pub fn option(&self, code: OptionCode) -> Option<&'a [u8]> {
        self.options
            .iter()
            .find(|opt| opt.code == code)
            .map(|opt| opt.data)
    }

    /// The DHCP Message Type (option 53, RFC 2132 §9.6); `None` for a plain BOOTP message.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(OptionCode::MessageType)? {
            [t] => Some(MessageType::from(*t)),
            _ => None,
        }
    }

    /// The Parameter Request List (option 55, RFC 2132 §9.8): the option codes the client
    /// asks for, "in the order of the client's preference".
    pub fn parameter_request_list(&self) -> Option<&'a [u8]> {
        self.option(OptionCode::ParameterRequestList)
    }

    /// Whether the client asked for a broadcast reply ([`FLAG_BROADCAST`]).
    pub const fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// The emitted length: header, cookie, options and End, padded to [`MIN_MESSAGE_LEN`].
    pub fn buffer_len(&self) -> usize {
        let options: usize = self.options.iter().map(DhcpOption::buffer_len).sum();
        (OPTIONS_OFFSET + options + 1).max(MIN_MESSAGE_LEN)
    }

    /// Writes the message in canonical form into the first [`Self::buffer_len`] octets of
    /// `buffer`: options in order, End, then zeros up to [`MIN_MESSAGE_LEN`].
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let len = self.buffer_len();
        let out = buffer
            .get_mut(..len)
            .ok_or(Error::buffer_too_small("dhcp"))?;
        let mut packet = Packet::new_unchecked(&mut *out);
        packet.set_op(self.op);
        packet.set_htype(self.htype);
        packet.set_hlen(self.hlen);
        packet.set_hops(self.hops);
        packet.set_xid(self.xid);
        packet.set_secs(self.secs);
        packet.set_flags(self.flags);
        packet.set_ciaddr(self.ciaddr);
        packet.set_yiaddr(self.yiaddr);
        packet.set_siaddr(self.siaddr);
        packet.set_giaddr(self.giaddr);
        packet.set_chaddr(&self.chaddr);
        packet.set_sname(self.sname)?;
        packet.set_file(self.file)?;
        packet.set_magic_cookie();
        let mut at = packet.options_mut();
        for opt in &self.options {
            opt.emit(at)?;
            at = &mut at[opt.buffer_len()..];
        }
        // `buffer_len` counted one octet for End after the options.
        let (end, pad) = at
            .split_first_mut()
            .ok_or(Error::buffer_too_small("dhcp.end"))?;
        *end = OptionCode::End.into();
        pad.fill(0);
        Ok(())
    }
}

/// One route of the Classless Static Route option (RFC 3442; option 121, and option 249 of
/// MS-DHCPE §2.2.8): a destination descriptor (prefix length, then the significant octets of
/// the subnet number) and a router address.
///
/// ```text
///  width | d1 .. dN (N = ceil(width / 8)) | r1 r2 r3 r4
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClasslessRoute {
    /// The subnet number. Octets beyond the significant ones parse as zero; [`Self::emit`]
    /// clears every bit beyond `prefix_len`.
    pub destination: Ipv4Addr,
    /// The width of the subnet mask, 0..=32.
    pub prefix_len: u8,
    /// The router to reach the destination through.
    pub router: Ipv4Addr,
}

impl ClasslessRoute {
    /// The number of significant octets for a prefix length: "the width of the subnet mask
    /// divided by eight, rounding up" (RFC 3442).
    pub const fn significant_octets(prefix_len: u8) -> usize {
        (prefix_len as usize).div_ceil(8)
    }

    /// Reads one route from the start of `bytes`; a width above 32 is `BadValue`. Returns the
    /// route and the bytes after it.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let (&prefix_len, rest) = bytes
            .split_first()
            .ok_or(Error::truncated("dhcp.route.width"))?;
        if prefix_len > 32 {
            return Err(Error::bad_value("dhcp.route.width"));
        }
        let (dest, rest) = rest
            .split_at_checked(Self::significant_octets(prefix_len))
            .ok_or(Error::truncated("dhcp.route.destination"))?;
        let (router, rest) = rest
            .split_at_checked(4)
            .ok_or(Error::truncated("dhcp.route.router"))?;
        let mut octets = [0u8; 4];
        octets[..dest.len()].copy_from_slice(dest);
        Ok((
            Self {
                destination: Ipv4Addr::from(octets),
                prefix_len,
                router: Ipv4Addr::new(router[0], router[1], router[2], router[3]),
            },
            rest,
        ))
    }

    /// The emitted length: width, significant octets, router.
    pub const fn buffer_len(&self) -> usize {
        1 + Self::significant_octets(self.prefix_len) + 4
    }

    /// Writes the route into the start of `buffer`, with the destination masked to
    /// `prefix_len`. A width above 32 is `BadValue`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        if self.prefix_len > 32 {
            return Err(Error::bad_value("dhcp.route.width"));
        }
        let n = Self::significant_octets(self.prefix_len);
        let out = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::buffer_too_small("dhcp.route"))?;
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        let dest = (u32::from(self.destination) & mask).to_be_bytes();
        out[0] = self.prefix_len;
        out[1..1 + n].copy_from_slice(&dest[..n]);
        out[1 + n..].copy_from_slice(&self.router.octets());
        Ok(())
    }
}

/// Walks the value of option 121 or 249 as routes; yields one error (then stops) for a
/// truncated route or a width above 32.
#[derive(Debug, Clone)]
pub struct ClasslessRoutes<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> ClasslessRoutes<'a> {
    /// Walks the routes in an option value.
    pub const fn new(data: &'a [u8]) -> Self {
        Self {
            rest: data,
            failed: false,
        }
    }
}

impl Iterator for ClasslessRoutes<'_> {
    type Item = Result<ClasslessRoute>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match ClasslessRoute::parse(self.rest) {
            Ok((route, rest)) => {
                self.rest = rest;
                Some(Ok(route))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Windows-like Parameter Request List: 1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121,
    /// 249, 252, the list the Windows (Vista and later) DHCP client is commonly seen to send.
    /// Not from a citable source: no public capture of the RAS client's own DHCPINFORM was
    /// found, so this is to be replaced by one (testdata/windows-*.bin) when we have it.
    pub(crate) const WINDOWS_PRL: [u8; 14] = [
        0x01, 0x03, 0x06, 0x0f, 0x1f, 0x21, 0x2b, 0x2c, 0x2e, 0x2f, 0x77, 0x79, 0xf9, 0xfc,
    ];

    pub(crate) const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    pub(crate) const CHADDR: [u8; 6] = [0x02, 0x00, 0x4c, 0x4f, 0x4f, 0x50];
    pub(crate) const XID: u32 = 0x3903_f326;

    /// A DHCPINFORM as RFC 2131 §3.4 and §4.4.3 have the client build it after IPCP: op
    /// BOOTREQUEST, htype 1, hlen 6, a fresh xid, ciaddr = the IPCP address, yiaddr 0, no
    /// Requested IP Address or lease time; with the client identifier (61), host name (12),
    /// vendor class "MSFT 5.0" (60) and parameter request list (55) of a Windows client.
    /// Padded with zeros after End to the 300-octet BOOTP minimum.
    pub(crate) fn windows_inform() -> Vec<u8> {
        let mut b = vec![0x01, 0x01, 0x06, 0x00];
        b.extend(XID.to_be_bytes());
        b.extend([0x00, 0x00, 0x00, 0x00]); // secs, flags
        b.extend(CLIENT.octets()); // ciaddr
        b.extend([0u8; 12]); // yiaddr, siaddr, giaddr
        b.extend(CHADDR);
        b.extend([0u8; 10 + 64 + 128]); // chaddr padding, sname, file
        b.extend(MAGIC_COOKIE);
        b.extend([0x35, 0x01, 0x08]); // DHCP Message Type: DHCPINFORM
        b.extend([0x3d, 0x07, 0x01]); // Client-identifier: type 1 (Ethernet) + chaddr
        b.extend(CHADDR);
        b.extend([0x0c, 0x0c]); // Host Name
        b.extend(b"DESKTOP-L2TP");
        b.extend([0x3c, 0x08]); // Vendor class identifier
        b.extend(b"MSFT 5.0");
        b.extend([0x37, WINDOWS_PRL.len() as u8]);
        b.extend(WINDOWS_PRL);
        b.push(0xff);
        b.resize(MIN_MESSAGE_LEN, 0);
        b
    }

    fn windows_repr(bytes: &[u8]) -> Repr<'_> {
        let (sname, file) = bytes[field::SNAME.start..field::FILE.end].split_at(SNAME_LEN);
        let mut chaddr = [0u8; CHADDR_LEN];
        chaddr[..6].copy_from_slice(&CHADDR);
        Repr {
            op: Op::Request,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: XID,
            secs: 0,
            flags: 0,
            ciaddr: CLIENT,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname,
            file,
            options: vec![
                DhcpOption {
                    code: OptionCode::MessageType,
                    data: &[0x08],
                },
                DhcpOption {
                    code: OptionCode::ClientIdentifier,
                    data: &[0x01, 0x02, 0x00, 0x4c, 0x4f, 0x4f, 0x50],
                },
                DhcpOption {
                    code: OptionCode::HostName,
                    data: b"DESKTOP-L2TP",
                },
                DhcpOption {
                    code: OptionCode::VendorClassIdentifier,
                    data: b"MSFT 5.0",
                },
                DhcpOption {
                    code: OptionCode::ParameterRequestList,
                    data: &WINDOWS_PRL,
                },
            ],
        }
    }

    #[test]
    fn deconstruct() {
        let bytes = windows_inform();
        assert_eq!(bytes.len(), 300);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.op(), Op::Request);
        assert_eq!((p.htype(), p.hlen(), p.hops()), (1, 6, 0));
        assert_eq!(p.xid(), XID);
        assert_eq!((p.secs(), p.flags()), (0, 0));
        assert!(!p.broadcast());
        assert_eq!(p.ciaddr(), CLIENT);
        assert_eq!(p.yiaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(p.siaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(p.giaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(p.client_hw_addr(), &CHADDR);
        assert_eq!(p.chaddr().len(), 16);
        assert!(p.sname().iter().all(|&b| b == 0) && p.sname().len() == 64);
        assert!(p.file().iter().all(|&b| b == 0) && p.file().len() == 128);
        assert_eq!(p.magic_cookie(), [99, 130, 83, 99]);
        assert_eq!(&p.options()[..3], &[0x35, 0x01, 0x08]);
        let codes: Vec<_> = Options::new(p.options()).map(|o| o.unwrap().code).collect();
        assert_eq!(
            codes,
            [
                OptionCode::MessageType,
                OptionCode::ClientIdentifier,
                OptionCode::HostName,
                OptionCode::VendorClassIdentifier,
                OptionCode::ParameterRequestList,
            ]
        );
    }

    #[test]
    fn construct() {
        let bytes = windows_inform();
        let mut out = vec![0xa5u8; 300];
        let mut p = Packet::new_unchecked(&mut out[..]);
        p.set_op(Op::Request);
        p.set_htype(1);
        p.set_hlen(6);
        p.set_hops(0);
        p.set_xid(XID);
        p.set_secs(0);
        p.set_flags(0);
        p.set_ciaddr(CLIENT);
        p.set_yiaddr(Ipv4Addr::UNSPECIFIED);
        p.set_siaddr(Ipv4Addr::UNSPECIFIED);
        p.set_giaddr(Ipv4Addr::UNSPECIFIED);
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&CHADDR);
        p.set_chaddr(&chaddr);
        p.set_sname(b"").unwrap();
        p.set_file(b"").unwrap();
        p.set_magic_cookie();
        p.options_mut().copy_from_slice(&bytes[OPTIONS_OFFSET..]);
        assert_eq!(out, bytes);

        let mut p = Packet::new_unchecked(&mut out[..]);
        assert_eq!(
            p.set_sname(&[b'x'; 65]).unwrap_err(),
            Error::bad_length("dhcp.sname")
        );
        assert_eq!(
            p.set_file(&[b'x'; 129]).unwrap_err(),
            Error::bad_length("dhcp.file")
        );
        p.set_flags(FLAG_BROADCAST);
        assert!(p.broadcast());
    }

    #[test]
    fn check_len() {
        assert_eq!(
            Packet::new_checked(&[][..]).unwrap_err(),
            Error::truncated("dhcp.header")
        );
        let bytes = windows_inform();
        assert_eq!(
            Packet::new_checked(&bytes[..239]).unwrap_err(),
            Error::truncated("dhcp.header")
        );
        // Header and cookie only: an empty options field.
        let p = Packet::new_checked(&bytes[..240]).unwrap();
        assert!(p.options().is_empty());
        assert_eq!(Options::new(p.options()).count(), 0);
    }

    #[test]
    fn options_walk() {
        // Pad, Subnet Mask, Pad Pad, unknown 224 (empty), End, then bytes that are ignored.
        let bytes = [
            0x00, 0x01, 0x04, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0xe0, 0x00, 0xff, 0x35, 0x09,
        ];
        let opts: Vec<_> = Options::new(&bytes).map(Result::unwrap).collect();
        assert_eq!(
            opts,
            [
                DhcpOption {
                    code: OptionCode::SubnetMask,
                    data: &[0xff, 0xff, 0xff, 0x00],
                },
                DhcpOption {
                    code: OptionCode::Unknown(0xe0),
                    data: &[],
                },
            ]
        );
        // Code without a length octet.
        let mut it = Options::new(&[0x35]);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            Error::truncated("dhcp.option")
        );
        assert!(it.next().is_none());
        // A length that runs past the end.
        let mut it = Options::new(&[0x0f, 0x05, b'a', b'b']);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            Error::truncated("dhcp.option.length")
        );
        assert!(it.next().is_none());
        // Only pads: nothing, and no End needed.
        assert_eq!(Options::new(&[0, 0, 0]).count(), 0);
    }

    #[test]
    fn parse() {
        let bytes = windows_inform();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr, windows_repr(&bytes));
        assert_eq!(repr.message_type(), Some(MessageType::Inform));
        assert_eq!(repr.parameter_request_list(), Some(&WINDOWS_PRL[..]));
        assert_eq!(
            repr.option(OptionCode::HostName),
            Some(&b"DESKTOP-L2TP"[..])
        );
        assert_eq!(repr.option(OptionCode::ServerIdentifier), None);
        assert!(!repr.broadcast());
    }

    #[test]
    fn parse_malformed() {
        let good = windows_inform();
        // Bad magic cookie.
        let mut b = good.clone();
        b[236] = 0x64;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p).unwrap_err(),
            Error::bad_value("dhcp.magic_cookie")
        );
        // An option running past the end: cut the message inside the PRL.
        let cut = OPTIONS_OFFSET + 3 + 9 + 14 + 10 + 5;
        let p = Packet::new_checked(&good[..cut]).unwrap();
        assert_eq!(
            Repr::parse(&p).unwrap_err(),
            Error::truncated("dhcp.option.length")
        );
        // A two-octet message type.
        let mut b = good.clone();
        b[OPTIONS_OFFSET + 1] = 2;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(Repr::parse(&p).is_err());
        // Without End: accepted up to the end of the buffer (not canonical).
        let end = good.iter().rposition(|&x| x == 0xff).unwrap();
        let p = Packet::new_checked(&good[..end]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap().options.len(), 5);
        // A BOOTP message without options has no message type.
        let p = Packet::new_checked(&good[..240]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap().message_type(), None);
    }

    #[test]
    fn emit() {
        let bytes = windows_inform();
        let repr = windows_repr(&bytes);
        assert_eq!(repr.buffer_len(), 300);
        let mut out = vec![0xa5u8; 300];
        repr.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
        assert_eq!(
            repr.emit(&mut [0u8; 299]).unwrap_err(),
            Error::buffer_too_small("dhcp")
        );
        // Longer than the BOOTP minimum: End is the last octet.
        let big = [0x61u8; 255];
        let mut long = repr.clone();
        long.options.push(DhcpOption {
            code: OptionCode::Unknown(0xe0),
            data: &big,
        });
        let len = long.buffer_len();
        assert_eq!(len, OPTIONS_OFFSET + 52 + 257 + 1);
        let mut out = vec![0u8; len];
        long.emit(&mut out).unwrap();
        assert_eq!(out[len - 1], 0xff);
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), long);
        // A value longer than 255 octets is refused (split it per RFC 3396).
        let huge = [0u8; 256];
        let mut bad = repr.clone();
        bad.options.push(DhcpOption {
            code: OptionCode::Unknown(0xe0),
            data: &huge,
        });
        assert_eq!(
            bad.emit(&mut vec![0u8; bad.buffer_len()]).unwrap_err(),
            Error::bad_length("dhcp.option")
        );
        // Pad and End are not options with values.
        let mut bad = repr.clone();
        bad.options.push(DhcpOption {
            code: OptionCode::Pad,
            data: &[],
        });
        assert!(bad.emit(&mut vec![0u8; bad.buffer_len()]).is_err());
        // An over-long sname.
        let sname = [b's'; 65];
        let bad = Repr {
            sname: &sname,
            ..repr.clone()
        };
        assert_eq!(
            bad.emit(&mut [0u8; 300]).unwrap_err(),
            Error::bad_length("dhcp.sname")
        );
    }

    #[test]
    fn round_trip_normalises_pads() {
        // Pads between options and garbage after End are dropped by parse and emit.
        let mut b = windows_inform();
        b.truncate(OPTIONS_OFFSET);
        b.extend([0x00, 0x35, 0x01, 0x08, 0x00, 0x00, 0xff, 0x12, 0x34]);
        let p = Packet::new_checked(&b[..]).unwrap();
        let repr = Repr::parse(&p).unwrap();
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out).unwrap();
        assert_eq!(
            &out[OPTIONS_OFFSET..OPTIONS_OFFSET + 4],
            &[0x35, 0x01, 0x08, 0xff]
        );
        assert!(out[OPTIONS_OFFSET + 4..].iter().all(|&x| x == 0));
        let again = Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Repr::parse(&again).unwrap(), repr);
    }

    // RFC 3442, the table of destination descriptors:
    //   0               0                0
    //   10.0.0.0        255.0.0.0        8.10
    //   10.0.0.0        255.255.255.0    24.10.0.0
    //   10.17.0.0       255.255.0.0      16.10.17
    //   10.27.129.0     255.255.255.0    24.10.27.129
    //   10.229.0.128    255.255.255.128  25.10.229.0.128
    //   10.198.122.47   255.255.255.255  32.10.198.122.47
    const RFC3442_EXAMPLES: [(Ipv4Addr, u8, &[u8]); 7] = [
        (Ipv4Addr::new(0, 0, 0, 0), 0, &[0]),
        (Ipv4Addr::new(10, 0, 0, 0), 8, &[8, 10]),
        (Ipv4Addr::new(10, 0, 0, 0), 24, &[24, 10, 0, 0]),
        (Ipv4Addr::new(10, 17, 0, 0), 16, &[16, 10, 17]),
        (Ipv4Addr::new(10, 27, 129, 0), 24, &[24, 10, 27, 129]),
        (Ipv4Addr::new(10, 229, 0, 128), 25, &[25, 10, 229, 0, 128]),
        (Ipv4Addr::new(10, 198, 122, 47), 32, &[32, 10, 198, 122, 47]),
    ];

    #[test]
    fn classless_route_rfc3442_examples() {
        let router = Ipv4Addr::new(10, 99, 0, 1);
        for (destination, prefix_len, descriptor) in RFC3442_EXAMPLES {
            let route = ClasslessRoute {
                destination,
                prefix_len,
                router,
            };
            let mut expected = descriptor.to_vec();
            expected.extend(router.octets());
            assert_eq!(route.buffer_len(), expected.len());
            let mut out = vec![0u8; route.buffer_len()];
            route.emit(&mut out).unwrap();
            assert_eq!(out, expected, "{destination}/{prefix_len}");
            let (back, rest) = ClasslessRoute::parse(&out).unwrap();
            assert!(rest.is_empty());
            assert_eq!(back, route);
        }
        // All seven in one option value.
        let mut value = Vec::new();
        for (_, _, descriptor) in RFC3442_EXAMPLES {
            value.extend(descriptor);
            value.extend(router.octets());
        }
        let routes: Vec<_> = ClasslessRoutes::new(&value).map(Result::unwrap).collect();
        assert_eq!(routes.len(), 7);
        assert_eq!(routes[5].destination, Ipv4Addr::new(10, 229, 0, 128));
        assert_eq!(routes[5].prefix_len, 25);
    }

    #[test]
    fn classless_route_masks_and_rejects() {
        // Host bits beyond the prefix are not sent.
        let route = ClasslessRoute {
            destination: Ipv4Addr::new(192, 168, 10, 77),
            prefix_len: 20,
            router: Ipv4Addr::new(10, 99, 0, 1),
        };
        let mut out = [0u8; 8];
        route.emit(&mut out).unwrap();
        assert_eq!(out, [20, 192, 168, 0, 10, 99, 0, 1]);
        let bad = ClasslessRoute {
            prefix_len: 33,
            ..route
        };
        assert_eq!(
            bad.emit(&mut [0u8; 16]).unwrap_err(),
            Error::bad_value("dhcp.route.width")
        );
        assert_eq!(
            route.emit(&mut [0u8; 7]).unwrap_err(),
            Error::buffer_too_small("dhcp.route")
        );
        let mut it = ClasslessRoutes::new(&[33, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            Error::bad_value("dhcp.route.width")
        );
        assert!(it.next().is_none());
        assert_eq!(
            ClasslessRoute::parse(&[24, 10, 0]).unwrap_err(),
            Error::truncated("dhcp.route.destination")
        );
        assert_eq!(
            ClasslessRoute::parse(&[8, 10, 1, 2, 3]).unwrap_err(),
            Error::truncated("dhcp.route.router")
        );
        assert_eq!(
            ClasslessRoute::parse(&[]).unwrap_err(),
            Error::truncated("dhcp.route.width")
        );
    }
}
