//! Attributes (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5, RFC 3579 §3.2, RFC 5176 §3.5) and the
//! Microsoft vendor-specific attributes (RFC 2548 §2).
//!
//! ```text
//!  0                   1                   2
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |  Value ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! - [`RawAttr`] is one type-length-value; [`Attrs`] walks a chain as an iterator of `Result`
//!   and stops after the first error. A Length below 2 or past the end of the chain is
//!   malformed (RFC 2865 §5: "Length [...] indicates the length of this Attribute including
//!   the Type, Length and Value fields").
//! - [`Attribute`] is the typed value of every attribute a NAS sends or needs to read. Values
//!   follow the data types of RFC 2865 §5: *text* and *string* are 1-253 octets (kept as bytes:
//!   a peer's user name need not be UTF-8), *address* is 4 octets, *integer* and *time* are 4
//!   octets. An attribute whose type is unknown, or whose value does not fit its type (a
//!   3-octet integer, an empty string), is kept raw as [`Attribute::Other`]: RFC 6929 §2.8 says
//!   such an "invalid attribute" is to be treated like an unknown one, so parsing never fails
//!   on a value, only on the framing, and every parsed attribute re-emits byte for byte.
//! - Vendor-Specific (type 26, RFC 2865 §5.26) carries a 4-octet Vendor-Id and, for Microsoft
//!   (311, RFC 2548 §2), one sub-attribute `Vendor-Type (1) | Vendor-Length (1) | value`. A VSA
//!   with exactly one well-formed Microsoft sub-attribute of a type listed in [`MsAttribute`]
//!   is typed; any other VSA is [`Attribute::VendorSpecific`] (raw).
//! - User-Password (RFC 2865 §5.2), MS-MPPE-Send-Key/Recv-Key (RFC 2548 §2.4.2, §2.4.3) are
//!   carried as their encrypted bytes; [`crate::auth`] hides and reveals them.

use std::net::Ipv4Addr;
use wire::enum_with_unknown;

use wire::{Error, Result};

/// Length of the Type and Length octets.
pub const HEADER_LEN: usize = 2;
/// The largest value: the Length octet counts the header too (RFC 2865 §5).
pub const MAX_VALUE_LEN: usize = 253;
/// The Microsoft SMI Network Management Private Enterprise Code (RFC 2548 §2).
pub const VENDOR_MICROSOFT: u32 = 311;
/// The longest User-Password value (RFC 2865 §5.2: "between 16 and 128 octets").
pub const MAX_PASSWORD_LEN: usize = 128;

enum_with_unknown! {
    /// Attribute types.
    pub enum AttrType(u8) {
        /// User-Name (RFC 2865 §5.1).
        UserName = 1,
        /// User-Password (RFC 2865 §5.2).
        UserPassword = 2,
        /// CHAP-Password (RFC 2865 §5.3).
        ChapPassword = 3,
        /// NAS-IP-Address (RFC 2865 §5.4).
        NasIpAddress = 4,
        /// NAS-Port (RFC 2865 §5.5).
        NasPort = 5,
        /// Service-Type (RFC 2865 §5.6).
        ServiceType = 6,
        /// Framed-Protocol (RFC 2865 §5.7).
        FramedProtocol = 7,
        /// Framed-IP-Address (RFC 2865 §5.8).
        FramedIpAddress = 8,
        /// Framed-IP-Netmask (RFC 2865 §5.9).
        FramedIpNetmask = 9,
        /// Reply-Message (RFC 2865 §5.18).
        ReplyMessage = 18,
        /// Framed-Route (RFC 2865 §5.22).
        FramedRoute = 22,
        /// State (RFC 2865 §5.24).
        State = 24,
        /// Class (RFC 2865 §5.25).
        Class = 25,
        /// Vendor-Specific (RFC 2865 §5.26).
        VendorSpecific = 26,
        /// Session-Timeout (RFC 2865 §5.27).
        SessionTimeout = 27,
        /// Idle-Timeout (RFC 2865 §5.28).
        IdleTimeout = 28,
        /// Called-Station-Id (RFC 2865 §5.30).
        CalledStationId = 30,
        /// Calling-Station-Id (RFC 2865 §5.31).
        CallingStationId = 31,
        /// NAS-Identifier (RFC 2865 §5.32).
        NasIdentifier = 32,
        /// Proxy-State (RFC 2865 §5.33).
        ProxyState = 33,
        /// Acct-Status-Type (RFC 2866 §5.1).
        AcctStatusType = 40,
        /// Acct-Delay-Time (RFC 2866 §5.2).
        AcctDelayTime = 41,
        /// Acct-Input-Octets (RFC 2866 §5.3).
        AcctInputOctets = 42,
        /// Acct-Output-Octets (RFC 2866 §5.4).
        AcctOutputOctets = 43,
        /// Acct-Session-Id (RFC 2866 §5.5).
        AcctSessionId = 44,
        /// Acct-Authentic (RFC 2866 §5.6).
        AcctAuthentic = 45,
        /// Acct-Session-Time (RFC 2866 §5.7).
        AcctSessionTime = 46,
        /// Acct-Input-Packets (RFC 2866 §5.8).
        AcctInputPackets = 47,
        /// Acct-Output-Packets (RFC 2866 §5.9).
        AcctOutputPackets = 48,
        /// Acct-Terminate-Cause (RFC 2866 §5.10).
        AcctTerminateCause = 49,
        /// Acct-Multi-Session-Id (RFC 2866 §5.11).
        AcctMultiSessionId = 50,
        /// Acct-Link-Count (RFC 2866 §5.12).
        AcctLinkCount = 51,
        /// Acct-Input-Gigawords (RFC 2869 §5.1).
        AcctInputGigawords = 52,
        /// Acct-Output-Gigawords (RFC 2869 §5.2).
        AcctOutputGigawords = 53,
        /// Event-Timestamp (RFC 2869 §5.3).
        EventTimestamp = 55,
        /// CHAP-Challenge (RFC 2865 §5.40).
        ChapChallenge = 60,
        /// NAS-Port-Type (RFC 2865 §5.41).
        NasPortType = 61,
        /// Port-Limit (RFC 2865 §5.42).
        PortLimit = 62,
        /// Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2).
        MessageAuthenticator = 80,
        /// Acct-Interim-Interval (RFC 2869 §5.16).
        AcctInterimInterval = 85,
        /// NAS-Port-Id (RFC 2869 §5.17).
        NasPortId = 87,
        /// Error-Cause (RFC 5176 §3.5).
        ErrorCause = 101,
    }
}

enum_with_unknown! {
    /// Service-Type values (RFC 2865 §5.6; Authorize-Only from RFC 5176 §3.2).
    pub enum ServiceType(u32) {
        /// Login.
        Login = 1,
        /// Framed: the user gets a framed protocol such as PPP.
        Framed = 2,
        /// Callback Login.
        CallbackLogin = 3,
        /// Callback Framed.
        CallbackFramed = 4,
        /// Outbound.
        Outbound = 5,
        /// Administrative.
        Administrative = 6,
        /// NAS Prompt.
        NasPrompt = 7,
        /// Authenticate Only.
        AuthenticateOnly = 8,
        /// Callback NAS Prompt.
        CallbackNasPrompt = 9,
        /// Call Check.
        CallCheck = 10,
        /// Callback Administrative.
        CallbackAdministrative = 11,
        /// Authorize Only (RFC 5176 §3.2).
        AuthorizeOnly = 17,
    }
}

enum_with_unknown! {
    /// Framed-Protocol values (RFC 2865 §5.7).
    pub enum FramedProtocol(u32) {
        /// PPP.
        Ppp = 1,
        /// SLIP.
        Slip = 2,
        /// AppleTalk Remote Access Protocol.
        Arap = 3,
        /// Gandalf proprietary SingleLink/MultiLink.
        Gandalf = 4,
        /// Xylogics proprietary IPX/SLIP.
        Xylogics = 5,
        /// X.75 Synchronous.
        X75 = 6,
    }
}

enum_with_unknown! {
    /// NAS-Port-Type values (RFC 2865 §5.41).
    pub enum NasPortType(u32) {
        /// Async.
        Async = 0,
        /// Sync.
        Sync = 1,
        /// ISDN Sync.
        IsdnSync = 2,
        /// ISDN Async V.120.
        IsdnAsyncV120 = 3,
        /// ISDN Async V.110.
        IsdnAsyncV110 = 4,
        /// Virtual: "a connection to the NAS via some transport protocol, instead of through a
        /// physical port", a tunnel such as L2TP.
        Virtual = 5,
        /// PIAFS.
        Piafs = 6,
        /// HDLC Clear Channel.
        HdlcClearChannel = 7,
        /// X.25.
        X25 = 8,
        /// X.75.
        X75 = 9,
        /// G.3 Fax.
        G3Fax = 10,
        /// SDSL.
        Sdsl = 11,
        /// ADSL-CAP.
        AdslCap = 12,
        /// ADSL-DMT.
        AdslDmt = 13,
        /// IDSL.
        Idsl = 14,
        /// Ethernet.
        Ethernet = 15,
        /// xDSL.
        Xdsl = 16,
        /// Cable.
        Cable = 17,
        /// Wireless - Other.
        WirelessOther = 18,
        /// Wireless - IEEE 802.11.
        Wireless80211 = 19,
    }
}

enum_with_unknown! {
    /// Acct-Status-Type values (RFC 2866 §5.1).
    pub enum AcctStatusType(u32) {
        /// Start: the beginning of the user's service.
        Start = 1,
        /// Stop: the end of the user's service.
        Stop = 2,
        /// Interim-Update (RFC 2869 §2.1).
        InterimUpdate = 3,
        /// Accounting-On: the NAS starts (all its sessions are new).
        AccountingOn = 7,
        /// Accounting-Off: the NAS stops (all its sessions are over).
        AccountingOff = 8,
    }
}

enum_with_unknown! {
    /// Acct-Authentic values (RFC 2866 §5.6).
    pub enum AcctAuthentic(u32) {
        /// Authenticated by RADIUS.
        Radius = 1,
        /// Authenticated locally.
        Local = 2,
        /// Authenticated remotely.
        Remote = 3,
    }
}

enum_with_unknown! {
    /// Acct-Terminate-Cause values (RFC 2866 §5.10).
    pub enum AcctTerminateCause(u32) {
        /// User Request: the user asked to end the session (LCP Terminate, L2TP CDN from it).
        UserRequest = 1,
        /// Lost Carrier.
        LostCarrier = 2,
        /// Lost Service: the service can no longer be provided (e.g. keepalives lost).
        LostService = 3,
        /// Idle Timeout.
        IdleTimeout = 4,
        /// Session Timeout.
        SessionTimeout = 5,
        /// Admin Reset.
        AdminReset = 6,
        /// Admin Reboot.
        AdminReboot = 7,
        /// Port Error.
        PortError = 8,
        /// NAS Error.
        NasError = 9,
        /// NAS Request: the NAS ended the session for a reason other than an error.
        NasRequest = 10,
        /// NAS Reboot.
        NasReboot = 11,
        /// Port Unneeded.
        PortUnneeded = 12,
        /// Port Preempted.
        PortPreempted = 13,
        /// Port Suspended.
        PortSuspended = 14,
        /// Service Unavailable.
        ServiceUnavailable = 15,
        /// Callback.
        Callback = 16,
        /// User Error.
        UserError = 17,
        /// Host Request.
        HostRequest = 18,
    }
}

enum_with_unknown! {
    /// Error-Cause values (RFC 5176 §3.5).
    pub enum ErrorCause(u32) {
        /// Residual Session Context Removed.
        ResidualSessionContextRemoved = 201,
        /// Invalid EAP Packet (Ignored).
        InvalidEapPacket = 202,
        /// Unsupported Attribute.
        UnsupportedAttribute = 401,
        /// Missing Attribute.
        MissingAttribute = 402,
        /// NAS Identification Mismatch.
        NasIdentificationMismatch = 403,
        /// Invalid Request.
        InvalidRequest = 404,
        /// Unsupported Service.
        UnsupportedService = 405,
        /// Unsupported Extension.
        UnsupportedExtension = 406,
        /// Invalid Attribute Value.
        InvalidAttributeValue = 407,
        /// Administratively Prohibited.
        AdministrativelyProhibited = 501,
        /// Request Not Routable (Proxy).
        RequestNotRoutable = 502,
        /// Session Context Not Found.
        SessionContextNotFound = 503,
        /// Session Context Not Removable.
        SessionContextNotRemovable = 504,
        /// Other Proxy Processing Error.
        OtherProxyProcessingError = 505,
        /// Resources Unavailable.
        ResourcesUnavailable = 506,
        /// Request Initiated.
        RequestInitiated = 507,
        /// Multiple Session Selection Unsupported.
        MultipleSessionSelectionUnsupported = 508,
    }
}

enum_with_unknown! {
    /// Microsoft vendor types (RFC 2548 §2).
    pub enum MsType(u8) {
        /// MS-CHAP-Response (RFC 2548 §2.1.3).
        ChapResponse = 1,
        /// MS-CHAP-Error (RFC 2548 §2.1.5).
        ChapError = 2,
        /// MS-MPPE-Encryption-Policy (RFC 2548 §2.4.4).
        MppeEncryptionPolicy = 7,
        /// MS-MPPE-Encryption-Types (RFC 2548 §2.4.5).
        MppeEncryptionTypes = 8,
        /// MS-CHAP-Challenge (RFC 2548 §2.1.2).
        ChapChallenge = 11,
        /// MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1).
        ChapMppeKeys = 12,
        /// MS-MPPE-Send-Key (RFC 2548 §2.4.2).
        MppeSendKey = 16,
        /// MS-MPPE-Recv-Key (RFC 2548 §2.4.3).
        MppeRecvKey = 17,
        /// MS-CHAP2-Response (RFC 2548 §2.3.2).
        Chap2Response = 25,
        /// MS-CHAP2-Success (RFC 2548 §2.3.3).
        Chap2Success = 26,
        /// MS-Primary-DNS-Server (RFC 2548 §2.2.4).
        PrimaryDnsServer = 28,
        /// MS-Secondary-DNS-Server (RFC 2548 §2.2.5).
        SecondaryDnsServer = 29,
        /// MS-Primary-NBNS-Server (RFC 2548 §2.2.6).
        PrimaryNbnsServer = 30,
        /// MS-Secondary-NBNS-Server (RFC 2548 §2.2.7).
        SecondaryNbnsServer = 31,
    }
}

/// One raw attribute: Type and the Value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawAttr<'a> {
    /// The Type octet.
    pub attr_type: u8,
    /// The Value (Length - 2 octets).
    pub value: &'a [u8],
}

impl<'a> RawAttr<'a> {
    /// Parses one attribute from the front of `bytes`; returns it and the bytes after it.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, &'a [u8])> {
        let [attr_type, len, ..] = *bytes else {
            return Err(Error::truncated("radius.attribute.header"));
        };
        let len = usize::from(len);
        if len < HEADER_LEN {
            return Err(Error::bad_length("radius.attribute.length"));
        }
        let (whole, rest) = bytes
            .split_at_checked(len)
            .ok_or(Error::truncated("radius.attribute.length"))?;
        let value = whole
            .get(HEADER_LEN..)
            .ok_or(Error::truncated("radius.attribute.length"))?;
        Ok((Self { attr_type, value }, rest))
    }

    /// The emitted length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.value.len()
    }

    /// Writes the attribute into the first [`Self::buffer_len`] bytes of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        emit_tlv(buffer, self.attr_type, self.value, "radius.attribute")
    }
}

/// Writes `type | length | value`; the value must be at most 253 octets.
fn emit_tlv(buffer: &mut [u8], t: u8, value: &[u8], at: &'static str) -> Result<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::bad_length(at));
    }
    let out = buffer
        .get_mut(..HEADER_LEN + value.len())
        .ok_or_else(|| Error::buffer_too_small(at))?;
    let (head, body) = out.split_at_mut(HEADER_LEN);
    // `value.len() <= 253`, so the length fits in an octet.
    head.copy_from_slice(&[t, (HEADER_LEN + value.len()) as u8]);
    body.copy_from_slice(value);
    Ok(())
}

/// An iterator over an attribute chain. It yields one error and then stops if the chain is
/// malformed.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Attrs<'a> {
    /// Walks the attributes in `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            failed: false,
        }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<RawAttr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match RawAttr::parse(self.rest) {
            Ok((a, rest)) => {
                self.rest = rest;
                Some(Ok(a))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// A typed attribute. Strings are bytes (1-253 octets on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attribute {
    /// User-Name (RFC 2865 §5.1).
    UserName(Vec<u8>),
    /// User-Password, still hidden (RFC 2865 §5.2): 16-128 octets, a multiple of 16. See
    /// [`crate::auth::hide_password`] and [`crate::auth::reveal_password`].
    UserPassword(Vec<u8>),
    /// CHAP-Password (RFC 2865 §5.3): the CHAP Identifier and the 16-octet MD5 response.
    ChapPassword {
        /// The CHAP Identifier of the user's Response.
        ident: u8,
        /// The CHAP Response value.
        response: [u8; 16],
    },
    /// NAS-IP-Address (RFC 2865 §5.4).
    NasIpAddress(Ipv4Addr),
    /// NAS-Port (RFC 2865 §5.5).
    NasPort(u32),
    /// Service-Type (RFC 2865 §5.6).
    ServiceType(ServiceType),
    /// Framed-Protocol (RFC 2865 §5.7).
    FramedProtocol(FramedProtocol),
    /// Framed-IP-Address (RFC 2865 §5.8). 255.255.255.254 means "the NAS chooses from its
    /// pool", 255.255.255.255 "let the user choose".
    FramedIpAddress(Ipv4Addr),
    /// Framed-IP-Netmask (RFC 2865 §5.9).
    FramedIpNetmask(Ipv4Addr),
    /// Reply-Message (RFC 2865 §5.18): text for the user.
    ReplyMessage(Vec<u8>),
    /// Framed-Route (RFC 2865 §5.22): text, "a destination prefix [...] a gateway address
    /// [...] and one or more metrics".
    FramedRoute(Vec<u8>),
    /// State (RFC 2865 §5.24): returned unmodified in the next Access-Request.
    State(Vec<u8>),
    /// Class (RFC 2865 §5.25): sent unmodified in accounting.
    Class(Vec<u8>),
    /// Session-Timeout in seconds (RFC 2865 §5.27).
    SessionTimeout(u32),
    /// Idle-Timeout in seconds (RFC 2865 §5.28).
    IdleTimeout(u32),
    /// Port-Limit (RFC 2865 §5.42): "the maximum number of ports to be provided to the user
    /// by the NAS".
    PortLimit(u32),
    /// Called-Station-Id (RFC 2865 §5.30).
    CalledStationId(Vec<u8>),
    /// Calling-Station-Id (RFC 2865 §5.31).
    CallingStationId(Vec<u8>),
    /// NAS-Identifier (RFC 2865 §5.32).
    NasIdentifier(Vec<u8>),
    /// Proxy-State (RFC 2865 §5.33): echoed unmodified in a response.
    ProxyState(Vec<u8>),
    /// Acct-Status-Type (RFC 2866 §5.1).
    AcctStatusType(AcctStatusType),
    /// Acct-Delay-Time in seconds (RFC 2866 §5.2).
    AcctDelayTime(u32),
    /// Acct-Input-Octets (RFC 2866 §5.3), modulo 2^32 (see Acct-Input-Gigawords).
    AcctInputOctets(u32),
    /// Acct-Output-Octets (RFC 2866 §5.4), modulo 2^32.
    AcctOutputOctets(u32),
    /// Acct-Session-Id (RFC 2866 §5.5).
    AcctSessionId(Vec<u8>),
    /// Acct-Authentic (RFC 2866 §5.6).
    AcctAuthentic(AcctAuthentic),
    /// Acct-Session-Time in seconds (RFC 2866 §5.7).
    AcctSessionTime(u32),
    /// Acct-Input-Packets (RFC 2866 §5.8).
    AcctInputPackets(u32),
    /// Acct-Output-Packets (RFC 2866 §5.9).
    AcctOutputPackets(u32),
    /// Acct-Terminate-Cause (RFC 2866 §5.10).
    AcctTerminateCause(AcctTerminateCause),
    /// Acct-Multi-Session-Id (RFC 2866 §5.11).
    AcctMultiSessionId(Vec<u8>),
    /// Acct-Link-Count (RFC 2866 §5.12).
    AcctLinkCount(u32),
    /// Acct-Input-Gigawords (RFC 2869 §5.1): how many times Acct-Input-Octets wrapped.
    AcctInputGigawords(u32),
    /// Acct-Output-Gigawords (RFC 2869 §5.2).
    AcctOutputGigawords(u32),
    /// Event-Timestamp, seconds since 1970-01-01 UTC (RFC 2869 §5.3).
    EventTimestamp(u32),
    /// CHAP-Challenge (RFC 2865 §5.40).
    ChapChallenge(Vec<u8>),
    /// NAS-Port-Type (RFC 2865 §5.41).
    NasPortType(NasPortType),
    /// Message-Authenticator (RFC 3579 §3.2): HMAC-MD5 over the packet; see [`crate::auth`].
    MessageAuthenticator([u8; 16]),
    /// Acct-Interim-Interval in seconds (RFC 2869 §5.16).
    AcctInterimInterval(u32),
    /// NAS-Port-Id (RFC 2869 §5.17).
    NasPortId(Vec<u8>),
    /// Error-Cause (RFC 5176 §3.5).
    ErrorCause(ErrorCause),
    /// A Microsoft vendor-specific attribute (RFC 2548).
    Microsoft(MsAttribute),
    /// Any other Vendor-Specific attribute, or a Microsoft one this crate does not type (RFC
    /// 2865 §5.26): the Vendor-Id and the bytes after it.
    VendorSpecific {
        /// The Vendor-Id (the high octet is 0, RFC 2865 §5.26).
        vendor_id: u32,
        /// The String field: the vendor's sub-attributes.
        data: Vec<u8>,
    },
    /// An attribute of an unknown type, or of a known type with an invalid value: raw.
    Other {
        /// The Type octet.
        attr_type: u8,
        /// The Value bytes.
        value: Vec<u8>,
    },
}

/// A typed Microsoft vendor-specific attribute (RFC 2548 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsAttribute {
    /// MS-CHAP-Response (RFC 2548 §2.1.3): the MS-CHAPv1 response.
    ChapResponse {
        /// The PPP CHAP Identifier.
        ident: u8,
        /// Flags: 1 means use the NT-Response.
        flags: u8,
        /// The LAN Manager response.
        lm_response: [u8; 24],
        /// The NT response.
        nt_response: [u8; 24],
    },
    /// MS-CHAP-Error (RFC 2548 §2.1.5): the PPP CHAP Identifier and the failure text
    /// (`E=691 R=0 ...`, RFC 2759 §6).
    ChapError {
        /// The PPP CHAP Identifier.
        ident: u8,
        /// The failure message.
        message: Vec<u8>,
    },
    /// MS-MPPE-Encryption-Policy (RFC 2548 §2.4.4): 1 allowed, 2 required.
    MppeEncryptionPolicy(u32),
    /// MS-MPPE-Encryption-Types (RFC 2548 §2.4.5): bit 2 RC4-40, bit 4 RC4-128.
    MppeEncryptionTypes(u32),
    /// MS-CHAP-Challenge (RFC 2548 §2.1.2): 8 octets for MS-CHAPv1, 16 for MS-CHAPv2.
    ChapChallenge(Vec<u8>),
    /// MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1), still encrypted.
    ChapMppeKeys(Vec<u8>),
    /// MS-MPPE-Send-Key (RFC 2548 §2.4.2): the key the NAS sends with, still encrypted; see
    /// [`crate::auth::decrypt_mppe_key`].
    MppeSendKey {
        /// The Salt (its high bit set).
        salt: [u8; 2],
        /// The encrypted String (a multiple of 16 octets).
        encrypted: Vec<u8>,
    },
    /// MS-MPPE-Recv-Key (RFC 2548 §2.4.3): the key the NAS receives with, still encrypted.
    MppeRecvKey {
        /// The Salt (its high bit set).
        salt: [u8; 2],
        /// The encrypted String (a multiple of 16 octets).
        encrypted: Vec<u8>,
    },
    /// MS-CHAP2-Response (RFC 2548 §2.3.2). Note the order differs from the PPP Response
    /// value (RFC 2759 §4), where Flags comes last.
    Chap2Response {
        /// The PPP CHAP Identifier.
        ident: u8,
        /// Flags (zero, RFC 2759 §4).
        flags: u8,
        /// The Peer-Challenge.
        peer_challenge: [u8; 16],
        /// Reserved (zero).
        reserved: [u8; 8],
        /// The NT-Response.
        nt_response: [u8; 24],
    },
    /// MS-CHAP2-Success (RFC 2548 §2.3.3): the PPP CHAP Identifier and the authenticator
    /// response string `S=<40 hex digits>` (RFC 2759 §5), sometimes followed by ` M=...`.
    Chap2Success {
        /// The PPP CHAP Identifier.
        ident: u8,
        /// The Success message for the CHAP Success packet.
        message: Vec<u8>,
    },
    /// MS-Primary-DNS-Server (RFC 2548 §2.2.4).
    PrimaryDnsServer(Ipv4Addr),
    /// MS-Secondary-DNS-Server (RFC 2548 §2.2.5).
    SecondaryDnsServer(Ipv4Addr),
    /// MS-Primary-NBNS-Server (RFC 2548 §2.2.6).
    PrimaryNbnsServer(Ipv4Addr),
    /// MS-Secondary-NBNS-Server (RFC 2548 §2.2.7).
    SecondaryNbnsServer(Ipv4Addr),
}

fn int(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(*<&[u8; 4]>::try_from(v).ok()?))
}

fn addr(v: &[u8]) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(*<&[u8; 4]>::try_from(v).ok()?))
}

/// A *string* or *text* value: 1-253 octets (RFC 2865 §5: zero-length values "MUST NOT be
/// sent").
fn string(v: &[u8]) -> Option<Vec<u8>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn arr<const N: usize>(v: &[u8]) -> Option<[u8; N]> {
    <[u8; N]>::try_from(v).ok()
}

impl Attribute {
    /// Types a raw attribute; a value that does not fit the type's format gives
    /// [`Attribute::Other`] (never an error: see the module docs).
    pub fn parse(raw: &RawAttr<'_>) -> Self {
        Self::typed(raw).unwrap_or_else(|| Self::Other {
            attr_type: raw.attr_type,
            value: raw.value.to_vec(),
        })
    }

    fn typed(raw: &RawAttr<'_>) -> Option<Self> {
        use AttrType as T;
        let v = raw.value;
        Some(match AttrType::from(raw.attr_type) {
            T::UserName => Self::UserName(string(v)?),
            T::UserPassword => {
                let ok = (16..=MAX_PASSWORD_LEN).contains(&v.len()) && v.len().is_multiple_of(16);
                Self::UserPassword(ok.then(|| v.to_vec())?)
            }
            T::ChapPassword => {
                let (&ident, rest) = v.split_first()?;
                Self::ChapPassword {
                    ident,
                    response: arr(rest)?,
                }
            }
            T::NasIpAddress => Self::NasIpAddress(addr(v)?),
            T::NasPort => Self::NasPort(int(v)?),
            T::ServiceType => Self::ServiceType(int(v)?.into()),
            T::FramedProtocol => Self::FramedProtocol(int(v)?.into()),
            T::FramedIpAddress => Self::FramedIpAddress(addr(v)?),
            T::FramedIpNetmask => Self::FramedIpNetmask(addr(v)?),
            T::ReplyMessage => Self::ReplyMessage(string(v)?),
            T::FramedRoute => Self::FramedRoute(string(v)?),
            T::State => Self::State(string(v)?),
            T::Class => Self::Class(string(v)?),
            T::VendorSpecific => Self::vendor(v)?,
            T::SessionTimeout => Self::SessionTimeout(int(v)?),
            T::IdleTimeout => Self::IdleTimeout(int(v)?),
            T::CalledStationId => Self::CalledStationId(string(v)?),
            T::CallingStationId => Self::CallingStationId(string(v)?),
            T::NasIdentifier => Self::NasIdentifier(string(v)?),
            T::ProxyState => Self::ProxyState(string(v)?),
            T::AcctStatusType => Self::AcctStatusType(int(v)?.into()),
            T::AcctDelayTime => Self::AcctDelayTime(int(v)?),
            T::AcctInputOctets => Self::AcctInputOctets(int(v)?),
            T::AcctOutputOctets => Self::AcctOutputOctets(int(v)?),
            T::AcctSessionId => Self::AcctSessionId(string(v)?),
            T::AcctAuthentic => Self::AcctAuthentic(int(v)?.into()),
            T::AcctSessionTime => Self::AcctSessionTime(int(v)?),
            T::AcctInputPackets => Self::AcctInputPackets(int(v)?),
            T::AcctOutputPackets => Self::AcctOutputPackets(int(v)?),
            T::AcctTerminateCause => Self::AcctTerminateCause(int(v)?.into()),
            T::AcctMultiSessionId => Self::AcctMultiSessionId(string(v)?),
            T::AcctLinkCount => Self::AcctLinkCount(int(v)?),
            T::AcctInputGigawords => Self::AcctInputGigawords(int(v)?),
            T::AcctOutputGigawords => Self::AcctOutputGigawords(int(v)?),
            T::EventTimestamp => Self::EventTimestamp(int(v)?),
            T::ChapChallenge => Self::ChapChallenge(string(v)?),
            T::NasPortType => Self::NasPortType(int(v)?.into()),
            T::PortLimit => Self::PortLimit(int(v)?),
            T::MessageAuthenticator => Self::MessageAuthenticator(arr(v)?),
            T::AcctInterimInterval => Self::AcctInterimInterval(int(v)?),
            T::NasPortId => Self::NasPortId(string(v)?),
            T::ErrorCause => Self::ErrorCause(int(v)?.into()),
            T::Unknown(_) => return None,
        })
    }

    /// Vendor-Specific: `Vendor-Id (4) | String`. A Vendor-Id whose high octet is not zero is
    /// invalid (RFC 2865 §5.26) and the String must not be empty.
    fn vendor(v: &[u8]) -> Option<Self> {
        let (id, data) = v.split_first_chunk::<4>()?;
        let vendor_id = u32::from_be_bytes(*id);
        if vendor_id >> 24 != 0 || data.is_empty() {
            return None;
        }
        if vendor_id == VENDOR_MICROSOFT
            && let Some(ms) = MsAttribute::parse_sub(data)
        {
            return Some(Self::Microsoft(ms));
        }
        Some(Self::VendorSpecific {
            vendor_id,
            data: data.to_vec(),
        })
    }

    /// The Type octet this attribute is emitted with.
    pub fn attr_type(&self) -> u8 {
        use AttrType as T;
        let t = match self {
            Self::UserName(_) => T::UserName,
            Self::UserPassword(_) => T::UserPassword,
            Self::ChapPassword { .. } => T::ChapPassword,
            Self::NasIpAddress(_) => T::NasIpAddress,
            Self::NasPort(_) => T::NasPort,
            Self::ServiceType(_) => T::ServiceType,
            Self::FramedProtocol(_) => T::FramedProtocol,
            Self::FramedIpAddress(_) => T::FramedIpAddress,
            Self::FramedIpNetmask(_) => T::FramedIpNetmask,
            Self::ReplyMessage(_) => T::ReplyMessage,
            Self::FramedRoute(_) => T::FramedRoute,
            Self::State(_) => T::State,
            Self::Class(_) => T::Class,
            Self::SessionTimeout(_) => T::SessionTimeout,
            Self::IdleTimeout(_) => T::IdleTimeout,
            Self::CalledStationId(_) => T::CalledStationId,
            Self::CallingStationId(_) => T::CallingStationId,
            Self::NasIdentifier(_) => T::NasIdentifier,
            Self::ProxyState(_) => T::ProxyState,
            Self::AcctStatusType(_) => T::AcctStatusType,
            Self::AcctDelayTime(_) => T::AcctDelayTime,
            Self::AcctInputOctets(_) => T::AcctInputOctets,
            Self::AcctOutputOctets(_) => T::AcctOutputOctets,
            Self::AcctSessionId(_) => T::AcctSessionId,
            Self::AcctAuthentic(_) => T::AcctAuthentic,
            Self::AcctSessionTime(_) => T::AcctSessionTime,
            Self::AcctInputPackets(_) => T::AcctInputPackets,
            Self::AcctOutputPackets(_) => T::AcctOutputPackets,
            Self::AcctTerminateCause(_) => T::AcctTerminateCause,
            Self::AcctMultiSessionId(_) => T::AcctMultiSessionId,
            Self::AcctLinkCount(_) => T::AcctLinkCount,
            Self::AcctInputGigawords(_) => T::AcctInputGigawords,
            Self::AcctOutputGigawords(_) => T::AcctOutputGigawords,
            Self::EventTimestamp(_) => T::EventTimestamp,
            Self::ChapChallenge(_) => T::ChapChallenge,
            Self::NasPortType(_) => T::NasPortType,
            Self::PortLimit(_) => T::PortLimit,
            Self::MessageAuthenticator(_) => T::MessageAuthenticator,
            Self::AcctInterimInterval(_) => T::AcctInterimInterval,
            Self::NasPortId(_) => T::NasPortId,
            Self::ErrorCause(_) => T::ErrorCause,
            Self::Microsoft(_) | Self::VendorSpecific { .. } => T::VendorSpecific,
            Self::Other { attr_type, .. } => return *attr_type,
        };
        t.into()
    }

    /// The Value bytes this attribute is emitted with.
    pub fn value(&self) -> Vec<u8> {
        match self {
            Self::UserName(s)
            | Self::UserPassword(s)
            | Self::ReplyMessage(s)
            | Self::FramedRoute(s)
            | Self::State(s)
            | Self::Class(s)
            | Self::CalledStationId(s)
            | Self::CallingStationId(s)
            | Self::NasIdentifier(s)
            | Self::ProxyState(s)
            | Self::AcctSessionId(s)
            | Self::AcctMultiSessionId(s)
            | Self::ChapChallenge(s)
            | Self::NasPortId(s)
            | Self::Other { value: s, .. } => s.clone(),
            Self::ChapPassword { ident, response } => [&[*ident][..], response].concat(),
            Self::NasIpAddress(a) | Self::FramedIpAddress(a) | Self::FramedIpNetmask(a) => {
                a.octets().to_vec()
            }
            Self::NasPort(n)
            | Self::SessionTimeout(n)
            | Self::IdleTimeout(n)
            | Self::PortLimit(n)
            | Self::AcctDelayTime(n)
            | Self::AcctInputOctets(n)
            | Self::AcctOutputOctets(n)
            | Self::AcctSessionTime(n)
            | Self::AcctInputPackets(n)
            | Self::AcctOutputPackets(n)
            | Self::AcctLinkCount(n)
            | Self::AcctInputGigawords(n)
            | Self::AcctOutputGigawords(n)
            | Self::EventTimestamp(n)
            | Self::AcctInterimInterval(n) => n.to_be_bytes().to_vec(),
            Self::ServiceType(v) => u32::from(*v).to_be_bytes().to_vec(),
            Self::FramedProtocol(v) => u32::from(*v).to_be_bytes().to_vec(),
            Self::AcctStatusType(v) => u32::from(*v).to_be_bytes().to_vec(),
            Self::AcctAuthentic(v) => u32::from(*v).to_be_bytes().to_vec(),
            Self::AcctTerminateCause(v) => u32::from(*v).to_be_bytes().to_vec(),
            Self::NasPortType(v) => u32::from(*v).to_be_bytes().to_vec(),
            Self::ErrorCause(v) => u32::from(*v).to_be_bytes().to_vec(),
            Self::MessageAuthenticator(m) => m.to_vec(),
            Self::Microsoft(ms) => {
                let sub = ms.value();
                let mut v = Vec::with_capacity(6 + sub.len());
                v.extend_from_slice(&VENDOR_MICROSOFT.to_be_bytes());
                v.push(ms.vendor_type().into());
                // Checked in `emit`: a sub-value over 247 octets fails there.
                v.push(sub.len().saturating_add(2).min(255) as u8);
                v.extend_from_slice(&sub);
                v
            }
            Self::VendorSpecific { vendor_id, data } => {
                [&vendor_id.to_be_bytes()[..], data].concat()
            }
        }
    }

    /// Whether the typed value may be emitted: strings are not empty, a hidden password is
    /// 16-128 octets in 16-octet blocks, a Microsoft sub-attribute fits its Vendor-Length.
    fn check_emit(&self) -> Result<()> {
        match self {
            Self::UserName(s)
            | Self::ReplyMessage(s)
            | Self::FramedRoute(s)
            | Self::State(s)
            | Self::Class(s)
            | Self::CalledStationId(s)
            | Self::CallingStationId(s)
            | Self::NasIdentifier(s)
            | Self::ProxyState(s)
            | Self::AcctSessionId(s)
            | Self::AcctMultiSessionId(s)
            | Self::ChapChallenge(s)
            | Self::NasPortId(s)
                if s.is_empty() =>
            {
                Err(Error::bad_length("radius.attribute.empty"))
            }
            Self::UserPassword(p)
                if !(16..=MAX_PASSWORD_LEN).contains(&p.len()) || !p.len().is_multiple_of(16) =>
            {
                Err(Error::bad_length("radius.user_password"))
            }
            Self::Microsoft(ms) if ms.value().len() > MAX_VALUE_LEN - 6 => {
                Err(Error::bad_length("radius.vsa.microsoft"))
            }
            Self::VendorSpecific { vendor_id, .. } if vendor_id >> 24 != 0 => {
                Err(Error::bad_value("radius.vsa.vendor_id"))
            }
            _ => Ok(()),
        }
    }

    /// The emitted length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.value().len()
    }

    /// Writes the attribute into the first [`Self::buffer_len`] bytes of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        self.check_emit()?;
        emit_tlv(buffer, self.attr_type(), &self.value(), "radius.attribute")
    }
}

impl MsAttribute {
    /// MS-CHAP2-Response from the Value of a PPP MS-CHAPv2 Response packet (RFC 2759 §4) and
    /// its CHAP Identifier: RFC 2548 §2.3.2 moves Flags from the end to after the Ident.
    pub fn chap2_response(ident: u8, r: &wire::ppp::mschap::V2Response) -> Self {
        Self::Chap2Response {
            ident,
            flags: r.flags,
            peer_challenge: r.peer_challenge,
            reserved: r.reserved,
            nt_response: r.nt_response,
        }
    }

    /// MS-CHAP-Response from the Value of a PPP MS-CHAPv1 Response packet (RFC 2433 §2.2) and
    /// its CHAP Identifier: RFC 2548 §2.1.3 puts the Use-NT flag after the Ident.
    pub fn chap_response(ident: u8, r: &wire::ppp::mschap::V1Response) -> Self {
        Self::ChapResponse {
            ident,
            flags: r.use_nt,
            lm_response: r.lm_response,
            nt_response: r.nt_response,
        }
    }

    /// Parses a Microsoft VSA String that holds exactly one sub-attribute of a type this crate
    /// types, with a value of the right format; `None` otherwise.
    fn parse_sub(data: &[u8]) -> Option<Self> {
        let [t, len, ref v @ ..] = *data else {
            return None;
        };
        if usize::from(len) != data.len() {
            return None;
        }
        use MsType as M;
        Some(match MsType::from(t) {
            M::ChapResponse => {
                let (&ident, rest) = v.split_first()?;
                let (&flags, rest) = rest.split_first()?;
                let (lm, nt) = rest.split_first_chunk::<24>()?;
                Self::ChapResponse {
                    ident,
                    flags,
                    lm_response: *lm,
                    nt_response: arr(nt)?,
                }
            }
            M::ChapError => {
                let (&ident, message) = v.split_first()?;
                Self::ChapError {
                    ident,
                    message: message.to_vec(),
                }
            }
            M::MppeEncryptionPolicy => Self::MppeEncryptionPolicy(int(v)?),
            M::MppeEncryptionTypes => Self::MppeEncryptionTypes(int(v)?),
            M::ChapChallenge => Self::ChapChallenge(string(v)?),
            M::ChapMppeKeys => Self::ChapMppeKeys(string(v)?),
            M::MppeSendKey | M::MppeRecvKey => {
                let (salt, encrypted) = v.split_first_chunk::<2>()?;
                if encrypted.is_empty() || !encrypted.len().is_multiple_of(16) {
                    return None;
                }
                let (salt, encrypted) = (*salt, encrypted.to_vec());
                if MsType::from(t) == M::MppeSendKey {
                    Self::MppeSendKey { salt, encrypted }
                } else {
                    Self::MppeRecvKey { salt, encrypted }
                }
            }
            M::Chap2Response => {
                let (&ident, rest) = v.split_first()?;
                let (&flags, rest) = rest.split_first()?;
                let (peer_challenge, rest) = rest.split_first_chunk::<16>()?;
                let (reserved, nt) = rest.split_first_chunk::<8>()?;
                Self::Chap2Response {
                    ident,
                    flags,
                    peer_challenge: *peer_challenge,
                    reserved: *reserved,
                    nt_response: arr(nt)?,
                }
            }
            M::Chap2Success => {
                let (&ident, message) = v.split_first()?;
                Self::Chap2Success {
                    ident,
                    message: message.to_vec(),
                }
            }
            M::PrimaryDnsServer => Self::PrimaryDnsServer(addr(v)?),
            M::SecondaryDnsServer => Self::SecondaryDnsServer(addr(v)?),
            M::PrimaryNbnsServer => Self::PrimaryNbnsServer(addr(v)?),
            M::SecondaryNbnsServer => Self::SecondaryNbnsServer(addr(v)?),
            M::Unknown(_) => return None,
        })
    }

    /// The Vendor-Type.
    pub fn vendor_type(&self) -> MsType {
        match self {
            Self::ChapResponse { .. } => MsType::ChapResponse,
            Self::ChapError { .. } => MsType::ChapError,
            Self::MppeEncryptionPolicy(_) => MsType::MppeEncryptionPolicy,
            Self::MppeEncryptionTypes(_) => MsType::MppeEncryptionTypes,
            Self::ChapChallenge(_) => MsType::ChapChallenge,
            Self::ChapMppeKeys(_) => MsType::ChapMppeKeys,
            Self::MppeSendKey { .. } => MsType::MppeSendKey,
            Self::MppeRecvKey { .. } => MsType::MppeRecvKey,
            Self::Chap2Response { .. } => MsType::Chap2Response,
            Self::Chap2Success { .. } => MsType::Chap2Success,
            Self::PrimaryDnsServer(_) => MsType::PrimaryDnsServer,
            Self::SecondaryDnsServer(_) => MsType::SecondaryDnsServer,
            Self::PrimaryNbnsServer(_) => MsType::PrimaryNbnsServer,
            Self::SecondaryNbnsServer(_) => MsType::SecondaryNbnsServer,
        }
    }

    /// The sub-attribute's value bytes (after Vendor-Type and Vendor-Length).
    pub fn value(&self) -> Vec<u8> {
        match self {
            Self::ChapResponse {
                ident,
                flags,
                lm_response,
                nt_response,
            } => [&[*ident, *flags][..], lm_response, nt_response].concat(),
            Self::ChapError { ident, message } | Self::Chap2Success { ident, message } => {
                [&[*ident][..], message].concat()
            }
            Self::MppeEncryptionPolicy(n) | Self::MppeEncryptionTypes(n) => {
                n.to_be_bytes().to_vec()
            }
            Self::ChapChallenge(v) | Self::ChapMppeKeys(v) => v.clone(),
            Self::MppeSendKey { salt, encrypted } | Self::MppeRecvKey { salt, encrypted } => {
                [&salt[..], encrypted].concat()
            }
            Self::Chap2Response {
                ident,
                flags,
                peer_challenge,
                reserved,
                nt_response,
            } => [&[*ident, *flags][..], peer_challenge, reserved, nt_response].concat(),
            Self::PrimaryDnsServer(a)
            | Self::SecondaryDnsServer(a)
            | Self::PrimaryNbnsServer(a)
            | Self::SecondaryNbnsServer(a) => a.octets().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(a: &Attribute) -> Vec<u8> {
        let mut out = vec![0u8; a.buffer_len()];
        a.emit(&mut out).unwrap();
        let (raw, rest) = RawAttr::parse(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(&Attribute::parse(&raw), a);
        out
    }

    #[test]
    fn raw_attribute_framing() {
        assert_eq!(
            RawAttr::parse(&[]).unwrap_err(),
            Error::truncated("radius.attribute.header")
        );
        assert_eq!(
            RawAttr::parse(&[1]).unwrap_err(),
            Error::truncated("radius.attribute.header")
        );
        for len in [0u8, 1] {
            assert_eq!(
                RawAttr::parse(&[1, len, 0]).unwrap_err(),
                Error::bad_length("radius.attribute.length")
            );
        }
        assert_eq!(
            RawAttr::parse(&[1, 4, 0]).unwrap_err(),
            Error::truncated("radius.attribute.length")
        );
        let (a, rest) = RawAttr::parse(&[1, 2, 9]).unwrap();
        assert_eq!((a.attr_type, a.value, rest), (1, &[][..], &[9][..]));
        let mut out = [0u8; 2];
        a.emit(&mut out).unwrap();
        assert_eq!(out, [1, 2]);
        assert_eq!(
            a.emit(&mut [0u8; 1]).unwrap_err(),
            Error::buffer_too_small("radius.attribute")
        );
        let long = [0u8; 254];
        let big = RawAttr {
            attr_type: 1,
            value: &long,
        };
        assert_eq!(
            big.emit(&mut [0u8; 300]).unwrap_err(),
            Error::bad_length("radius.attribute")
        );
    }

    #[test]
    fn attrs_stop_after_an_error() {
        let mut it = Attrs::new(&[1, 3, b'a', 2, 1, 5, 3, 0]);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn every_typed_attribute_round_trips() {
        let ip = Ipv4Addr::new(10, 1, 2, 3);
        let all = vec![
            Attribute::UserName(b"nemo".to_vec()),
            Attribute::UserPassword(vec![7; 32]),
            Attribute::ChapPassword {
                ident: 22,
                response: [5; 16],
            },
            Attribute::NasIpAddress(ip),
            Attribute::NasPort(3),
            Attribute::ServiceType(ServiceType::Framed),
            Attribute::FramedProtocol(FramedProtocol::Ppp),
            Attribute::FramedIpAddress(ip),
            Attribute::FramedIpNetmask(Ipv4Addr::new(255, 255, 255, 0)),
            Attribute::ReplyMessage(b"hi".to_vec()),
            Attribute::FramedRoute(b"10.0.0.0/8 10.1.2.3 1".to_vec()),
            Attribute::State(b"s".to_vec()),
            Attribute::Class(vec![0, 1]),
            Attribute::SessionTimeout(3600),
            Attribute::IdleTimeout(600),
            Attribute::CalledStationId(b"192.0.2.1".to_vec()),
            Attribute::CallingStationId(b"198.51.100.7".to_vec()),
            Attribute::NasIdentifier(b"l2tpd".to_vec()),
            Attribute::ProxyState(vec![1]),
            Attribute::AcctStatusType(AcctStatusType::InterimUpdate),
            Attribute::AcctDelayTime(4),
            Attribute::AcctInputOctets(1),
            Attribute::AcctOutputOctets(2),
            Attribute::AcctSessionId(b"0001".to_vec()),
            Attribute::AcctAuthentic(AcctAuthentic::Radius),
            Attribute::AcctSessionTime(60),
            Attribute::AcctInputPackets(3),
            Attribute::AcctOutputPackets(4),
            Attribute::AcctTerminateCause(AcctTerminateCause::UserRequest),
            Attribute::AcctMultiSessionId(b"m".to_vec()),
            Attribute::AcctLinkCount(1),
            Attribute::AcctInputGigawords(5),
            Attribute::AcctOutputGigawords(6),
            Attribute::EventTimestamp(1_700_000_000),
            Attribute::ChapChallenge(vec![1; 16]),
            Attribute::NasPortType(NasPortType::Virtual),
            Attribute::PortLimit(2),
            Attribute::MessageAuthenticator([9; 16]),
            Attribute::AcctInterimInterval(300),
            Attribute::NasPortId(b"tunnel 1".to_vec()),
            Attribute::ErrorCause(ErrorCause::SessionContextNotFound),
            Attribute::VendorSpecific {
                vendor_id: 9,
                data: vec![1, 3, b'x'],
            },
            Attribute::Other {
                attr_type: 200,
                value: vec![],
            },
            Attribute::Other {
                attr_type: 5,
                value: vec![1, 2, 3],
            },
        ];
        for a in &all {
            round_trip(a);
        }
        let ms = [
            MsAttribute::ChapResponse {
                ident: 1,
                flags: 1,
                lm_response: [2; 24],
                nt_response: [3; 24],
            },
            MsAttribute::ChapError {
                ident: 1,
                message: b"E=691 R=0 V=3".to_vec(),
            },
            MsAttribute::MppeEncryptionPolicy(2),
            MsAttribute::MppeEncryptionTypes(6),
            MsAttribute::ChapChallenge(vec![4; 16]),
            MsAttribute::ChapMppeKeys(vec![5; 32]),
            MsAttribute::MppeSendKey {
                salt: [0x80, 1],
                encrypted: vec![6; 32],
            },
            MsAttribute::MppeRecvKey {
                salt: [0x80, 2],
                encrypted: vec![7; 32],
            },
            MsAttribute::Chap2Response {
                ident: 1,
                flags: 0,
                peer_challenge: [8; 16],
                reserved: [0; 8],
                nt_response: [9; 24],
            },
            MsAttribute::Chap2Success {
                ident: 1,
                message: b"S=407A5589115FD0D6209F510FE9C04566932CDA56".to_vec(),
            },
            MsAttribute::PrimaryDnsServer(ip),
            MsAttribute::SecondaryDnsServer(ip),
            MsAttribute::PrimaryNbnsServer(ip),
            MsAttribute::SecondaryNbnsServer(ip),
        ];
        for m in ms {
            let bytes = round_trip(&Attribute::Microsoft(m.clone()));
            assert_eq!(bytes[0], 26);
            assert_eq!(bytes[2..6], 311u32.to_be_bytes());
            assert_eq!(bytes[6], u8::from(m.vendor_type()));
            assert_eq!(usize::from(bytes[7]), bytes.len() - 6);
        }
    }

    #[test]
    fn invalid_values_are_kept_raw() {
        // (type, value) pairs whose value does not fit the type.
        let cases: &[(u8, &[u8])] = &[
            (1, &[]),                  // empty text
            (2, &[0; 15]),             // password not a block
            (2, &[0; 144]),            // password over 128
            (3, &[0; 16]),             // CHAP-Password short
            (4, &[0; 5]),              // address too long
            (5, &[0; 3]),              // integer too short
            (80, &[0; 15]),            // Message-Authenticator short
            (26, &[0, 0, 1]),          // VSA shorter than a Vendor-Id
            (26, &[1, 0, 0, 9, 1, 3]), // Vendor-Id high octet set
            (26, &[0, 0, 0, 9]),       // VSA with no String
        ];
        for (t, v) in cases {
            let raw = RawAttr {
                attr_type: *t,
                value: v,
            };
            let a = Attribute::parse(&raw);
            assert_eq!(
                a,
                Attribute::Other {
                    attr_type: *t,
                    value: v.to_vec()
                },
                "type {t}"
            );
            let mut out = vec![0u8; raw.buffer_len()];
            a.emit(&mut out).unwrap();
            assert_eq!(out[2..], **v);
        }
    }

    #[test]
    fn malformed_microsoft_subattributes_stay_vendor_specific() {
        let cases: &[&[u8]] = &[
            &[26, 5, 1, 2],                             // Vendor-Length past the end
            &[26, 3],                                   // Vendor-Length past the end
            &[1, 10, 0, 0, 0, 0, 0, 0, 0, 0],           // MS-CHAP-Response too short
            &[28, 5, 1, 2, 3],                          // address too short
            &[7, 6, 0, 0, 0, 1, 9],                     // trailing byte after the sub-attribute
            &[16, 4, 0x80, 1],                          // MPPE key without a block
            &[99, 3, 0],                                // unknown Microsoft type
            &[2, 2],                                    // MS-CHAP-Error with no ident
            &[11, 2],                                   // empty MS-CHAP-Challenge
            &[25, 51, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // MS-CHAP2-Response, bad length
            &[5],                                       // one lone octet
        ];
        for data in cases {
            let mut v = 311u32.to_be_bytes().to_vec();
            v.extend_from_slice(data);
            let raw = RawAttr {
                attr_type: 26,
                value: &v,
            };
            assert_eq!(
                Attribute::parse(&raw),
                Attribute::VendorSpecific {
                    vendor_id: 311,
                    data: data.to_vec()
                },
                "{data:?}"
            );
        }
    }

    #[test]
    fn typed_values_that_cannot_be_sent_are_refused() {
        let mut buf = [0u8; 300];
        assert_eq!(
            Attribute::UserName(vec![]).emit(&mut buf).unwrap_err(),
            Error::bad_length("radius.attribute.empty")
        );
        assert_eq!(
            Attribute::UserPassword(vec![0; 17])
                .emit(&mut buf)
                .unwrap_err(),
            Error::bad_length("radius.user_password")
        );
        assert_eq!(
            Attribute::Microsoft(MsAttribute::ChapMppeKeys(vec![0; 248]))
                .emit(&mut buf)
                .unwrap_err(),
            Error::bad_length("radius.vsa.microsoft")
        );
        assert_eq!(
            Attribute::VendorSpecific {
                vendor_id: 0x0100_0000,
                data: vec![1]
            }
            .emit(&mut buf)
            .unwrap_err(),
            Error::bad_value("radius.vsa.vendor_id")
        );
        assert_eq!(
            Attribute::Class(vec![0; 254]).emit(&mut buf).unwrap_err(),
            Error::bad_length("radius.attribute")
        );
        // The largest Microsoft sub-value fits exactly.
        round_trip(&Attribute::Microsoft(MsAttribute::ChapMppeKeys(vec![
            0;
            247
        ])));
    }

    #[test]
    fn ppp_responses_convert_to_rfc2548_layout() {
        use wire::ppp::mschap::{V1Response, V2Response};
        // The PPP value: Peer-Challenge, Reserved, NT-Response, Flags (RFC 2759 §4).
        let mut ppp = [0u8; 49];
        for (i, b) in ppp.iter_mut().enumerate() {
            *b = i as u8;
        }
        let v2 = V2Response::parse(&ppp).unwrap();
        let a = Attribute::Microsoft(MsAttribute::chap2_response(9, &v2));
        let mut out = vec![0u8; a.buffer_len()];
        a.emit(&mut out).unwrap();
        // RADIUS: Ident, Flags, Peer-Challenge, Reserved, Response (RFC 2548 §2.3.2).
        assert_eq!(out[8..10], [9, 48]);
        assert_eq!(out[10..], ppp[..48]);
        // MS-CHAPv1 (RFC 2433 §2.2 -> RFC 2548 §2.1.3): LM, NT, Use-NT -> Ident, Flags, LM, NT.
        let v1 = V1Response::parse(&ppp).unwrap();
        let a = Attribute::Microsoft(MsAttribute::chap_response(9, &v1));
        let mut out = vec![0u8; a.buffer_len()];
        a.emit(&mut out).unwrap();
        assert_eq!(out[8..10], [9, 48]);
        assert_eq!(out[10..], ppp[..48]);
    }

    #[test]
    fn codepoints_are_lossless() {
        for v in 0..=300u32 {
            assert_eq!(u32::from(ServiceType::from(v)), v);
            assert_eq!(u32::from(AcctTerminateCause::from(v)), v);
            assert_eq!(u32::from(ErrorCause::from(v + 200)), v + 200);
        }
        assert_eq!(NasPortType::from(5), NasPortType::Virtual);
        assert_eq!(u8::from(AttrType::ErrorCause), 101);
        assert_eq!(u8::from(MsType::Chap2Success), 26);
    }
}
