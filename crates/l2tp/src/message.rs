//! Control messages as owned values: parsing (with hidden AVPs revealed) and building.
//!
//! Control messages are the slow path, so a parsed message owns its AVP values. The first AVP
//! must be the Message Type (RFC 2661 §4.1); a message without AVPs is a ZLB acknowledgement
//! (RFC 2661 §5.8). Known AVPs are checked here: a malformed mandatory AVP makes the message
//! malformed, a malformed non-mandatory one is skipped. Unknown AVPs are kept; the engine
//! decides whether one with the M bit set tears down the session or the tunnel (§4.1).

use wire::l2tp::{self as w, AttrType, AvpRepr, MessageType, Packet, Sequence};

use crate::{Error, hidden};

/// One AVP with its value revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedAvp {
    pub(crate) mandatory: bool,
    pub(crate) vendor_id: u16,
    pub(crate) attr_type: u16,
    pub(crate) value: Vec<u8>,
}

impl OwnedAvp {
    pub(crate) fn typed(&self) -> Option<AvpRepr<'_>> {
        AvpRepr::parse_value(self.vendor_id, self.attr_type, &self.value).ok()
    }
}

/// A parsed control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) tunnel_id: u16,
    pub(crate) session_id: u16,
    pub(crate) seq: Sequence,
    /// `None` for a ZLB.
    pub(crate) msg_type: Option<MessageType>,
    /// The M bit of the Message Type AVP.
    pub(crate) type_mandatory: bool,
    pub(crate) avps: Vec<OwnedAvp>,
}

impl Message {
    /// Parses a checked control packet; `secret` reveals hidden AVPs.
    pub(crate) fn parse(packet: &Packet<&[u8]>, secret: Option<&[u8]>) -> Result<Self, Error> {
        let (Some(ns), Some(nr)) = (packet.ns(), packet.nr()) else {
            return Err(Error::Malformed(wire::Error::bad_value(
                "l2tp.control_flags",
            )));
        };
        let mut msg = Self {
            tunnel_id: packet.tunnel_id(),
            session_id: packet.session_id(),
            seq: Sequence { ns, nr },
            msg_type: None,
            type_mandatory: false,
            avps: Vec::new(),
        };
        let mut random_vector: Option<Vec<u8>> = None;
        for (i, raw) in w::Avps::new(packet.payload()).enumerate() {
            let raw = raw?;
            let value = if raw.hidden {
                let Some(secret) = secret else {
                    return Err(Error::Unsupported("hidden AVP without a tunnel secret"));
                };
                let Some(rv) = random_vector.as_deref() else {
                    return Err(Error::PeerMisbehaved("hidden AVP before any Random Vector"));
                };
                hidden::reveal(raw.attr_type, secret, rv, raw.value)?
            } else {
                raw.value.to_vec()
            };
            let typed = AvpRepr::parse_value(raw.vendor_id, raw.attr_type, &value);
            if i == 0 {
                match typed {
                    Ok(AvpRepr::MessageType(t)) if !raw.hidden => {
                        msg.msg_type = Some(t);
                        msg.type_mandatory = raw.mandatory;
                        continue;
                    }
                    _ => {
                        return Err(Error::Malformed(wire::Error::bad_value(
                            "l2tp.avp.first_not_message_type",
                        )));
                    }
                }
            }
            match typed {
                Ok(AvpRepr::RandomVector(rv)) => random_vector = Some(rv.to_vec()),
                Ok(_) => {}
                Err(e) if raw.mandatory => return Err(Error::Malformed(e)),
                Err(e) => {
                    tracing::debug!(vendor = raw.vendor_id, attr = raw.attr_type, error = %e, "ignoring malformed optional AVP");
                    continue;
                }
            }
            msg.avps.push(OwnedAvp {
                mandatory: raw.mandatory,
                vendor_id: raw.vendor_id,
                attr_type: raw.attr_type,
                value,
            });
        }
        Ok(msg)
    }

    /// Whether this is a ZLB acknowledgement.
    pub(crate) fn is_zlb(&self) -> bool {
        self.msg_type.is_none()
    }

    fn find(&self, t: AttrType) -> Option<AvpRepr<'_>> {
        let key = u16::from(t);
        self.avps
            .iter()
            .find(|a| a.vendor_id == w::VENDOR_IETF && a.attr_type == key)
            .and_then(OwnedAvp::typed)
    }

    /// The first unknown AVP with the M bit set, as `(vendor, type)` (RFC 2661 §4.1).
    pub(crate) fn unknown_mandatory(&self) -> Option<(u16, u16)> {
        self.avps
            .iter()
            .filter(|a| a.mandatory)
            .find(|a| matches!(a.typed(), Some(AvpRepr::Unknown { .. }) | None))
            .map(|a| (a.vendor_id, a.attr_type))
    }

    pub(crate) fn u16_avp(&self, t: AttrType) -> Option<u16> {
        match self.find(t)? {
            AvpRepr::AssignedTunnelId(v)
            | AvpRepr::AssignedSessionId(v)
            | AvpRepr::ReceiveWindowSize(v)
            | AvpRepr::FirmwareRevision(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn u32_avp(&self, t: AttrType) -> Option<u32> {
        match self.find(t)? {
            AvpRepr::FramingCapabilities(v)
            | AvpRepr::BearerCapabilities(v)
            | AvpRepr::FramingType(v)
            | AvpRepr::BearerType(v)
            | AvpRepr::CallSerialNumber(v)
            | AvpRepr::TxConnectSpeed(v)
            | AvpRepr::RxConnectSpeed(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn bytes_avp(&self, t: AttrType) -> Option<&[u8]> {
        let key = u16::from(t);
        self.avps
            .iter()
            .find(|a| a.vendor_id == w::VENDOR_IETF && a.attr_type == key)
            .map(|a| a.value.as_slice())
    }

    pub(crate) fn text_avp(&self, t: AttrType) -> Option<String> {
        self.bytes_avp(t)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub(crate) fn has(&self, t: AttrType) -> bool {
        self.bytes_avp(t).is_some()
    }

    pub(crate) fn protocol_version(&self) -> Option<(u8, u8)> {
        match self.find(AttrType::ProtocolVersion)? {
            AvpRepr::ProtocolVersion { version, revision } => Some((version, revision)),
            _ => None,
        }
    }

    pub(crate) fn result_code(&self) -> Option<(u16, Option<u16>, Option<String>)> {
        match self.find(AttrType::ResultCode)? {
            AvpRepr::ResultCode(rc) => Some((
                rc.result,
                rc.error,
                rc.message
                    .filter(|m| !m.is_empty())
                    .map(|m| String::from_utf8_lossy(m).into_owned()),
            )),
            _ => None,
        }
    }
}

/// An AVP to send: its typed value, and whether to hide it.
pub(crate) struct OutAvp<'a> {
    pub(crate) repr: AvpRepr<'a>,
    pub(crate) hide: bool,
}

impl<'a> From<AvpRepr<'a>> for OutAvp<'a> {
    fn from(repr: AvpRepr<'a>) -> Self {
        Self { repr, hide: false }
    }
}

/// What hiding needs: the secret, the random vector (sent as a Random Vector AVP right after
/// the Message Type) and the padding.
pub(crate) struct Hiding<'a> {
    pub(crate) secret: &'a [u8],
    pub(crate) random_vector: [u8; 16],
}

/// Builds a control message with placeholder Ns/Nr (the channel writes them).
pub(crate) fn build(
    tunnel_id: u16,
    session_id: u16,
    msg_type: MessageType,
    avps: &[OutAvp<'_>],
    hiding: Option<&Hiding<'_>>,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::with_capacity(128);
    let put = |body: &mut Vec<u8>, repr: &AvpRepr<'_>, mandatory: bool| -> Result<(), Error> {
        let at = body.len();
        body.resize(at + repr.buffer_len(), 0);
        repr.emit(mandatory, body.get_mut(at..).unwrap_or_default())?;
        Ok(())
    };
    put(&mut body, &AvpRepr::MessageType(msg_type), true)?;
    let hiding = hiding.filter(|_| avps.iter().any(|a| a.hide));
    if let Some(h) = hiding {
        put(&mut body, &AvpRepr::RandomVector(&h.random_vector), true)?;
    }
    for a in avps {
        match hiding {
            Some(h) if a.hide => {
                let mut value = vec![0u8; a.repr.value_len()];
                a.repr.emit_value(&mut value)?;
                let (vendor_id, attr_type) = a.repr.key();
                let hidden =
                    hidden::hide(attr_type, h.secret, &h.random_vector, &value, &[0u8; 3])?;
                let raw = w::Avp {
                    mandatory: a.repr.default_mandatory(),
                    hidden: true,
                    reserved: 0,
                    vendor_id,
                    attr_type,
                    value: &hidden,
                };
                let at = body.len();
                body.resize(at + raw.buffer_len(), 0);
                raw.emit(body.get_mut(at..).unwrap_or_default())?;
            }
            _ => put(&mut body, &a.repr, a.repr.default_mandatory())?,
        }
    }
    let header = w::Repr::control(tunnel_id, session_id, Sequence::default(), body.len());
    let mut out = vec![0u8; header.buffer_len()];
    header.emit(&mut out)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Builds a ZLB acknowledgement (RFC 2661 §5.8).
pub(crate) fn zlb(tunnel_id: u16, seq: Sequence) -> Vec<u8> {
    let header = w::Repr::control(tunnel_id, 0, seq, 0);
    let mut out = vec![0u8; header.buffer_len()];
    // A 12-octet header always fits its own buffer_len.
    let _ = header.emit(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], secret: Option<&[u8]>) -> Result<Message, Error> {
        let p = Packet::new_checked(bytes).unwrap();
        Message::parse(&p, secret)
    }

    #[test]
    fn build_parse() {
        let avps = [
            OutAvp::from(AvpRepr::AssignedSessionId(7)),
            OutAvp::from(AvpRepr::CallSerialNumber(1)),
        ];
        let b = build(5, 0, MessageType::Icrq, &avps, None).unwrap();
        let m = parse(&b, None).unwrap();
        assert_eq!(m.msg_type, Some(MessageType::Icrq));
        assert_eq!(m.tunnel_id, 5);
        assert_eq!(m.u16_avp(AttrType::AssignedSessionId), Some(7));
        assert_eq!(m.u32_avp(AttrType::CallSerialNumber), Some(1));
        assert_eq!(m.unknown_mandatory(), None);
        let z = zlb(5, Sequence { ns: 1, nr: 2 });
        assert!(parse(&z, None).unwrap().is_zlb());
    }

    #[test]
    fn hidden_round_trip() {
        let h = Hiding {
            secret: b"s3cr3t",
            random_vector: [7; 16],
        };
        let avps = [
            OutAvp {
                repr: AvpRepr::HostName(b"lac-host"),
                hide: true,
            },
            OutAvp {
                repr: AvpRepr::AssignedTunnelId(9),
                hide: true,
            },
        ];
        let b = build(0, 0, MessageType::Sccrq, &avps, Some(&h)).unwrap();
        let m = parse(&b, Some(b"s3cr3t")).unwrap();
        assert_eq!(m.text_avp(AttrType::HostName).as_deref(), Some("lac-host"));
        assert_eq!(m.u16_avp(AttrType::AssignedTunnelId), Some(9));
        assert!(matches!(parse(&b, None), Err(Error::Unsupported(_))));
        // A wrong secret reveals garbage: the mandatory Assigned Tunnel ID is then malformed
        // or the original-length check fails.
        assert!(
            parse(&b, Some(b"wrong")).is_err()
                || parse(&b, Some(b"wrong"))
                    .unwrap()
                    .u16_avp(AttrType::AssignedTunnelId)
                    != Some(9)
        );
    }

    #[test]
    fn first_avp_must_be_message_type() {
        let mut b = build(
            1,
            0,
            MessageType::Hello,
            &[OutAvp::from(AvpRepr::ReceiveWindowSize(4))],
            None,
        )
        .unwrap();
        // Swap the two AVPs.
        let (mt, rws) = (b[12..20].to_vec(), b[20..28].to_vec());
        b[12..20].copy_from_slice(&rws);
        b[20..28].copy_from_slice(&mt);
        assert!(matches!(parse(&b, None), Err(Error::Malformed(_))));
    }

    #[test]
    fn unknown_and_malformed_avps() {
        let avps = [
            OutAvp::from(AvpRepr::Unknown {
                vendor_id: 0,
                attr_type: 0x77,
                value: &[1],
            }),
            OutAvp::from(AvpRepr::MsCorrelationId([1; 16])),
        ];
        let b = build(1, 0, MessageType::Icrq, &avps, None).unwrap();
        let m = parse(&b, None).unwrap();
        // Unknown AVPs are emitted with M=0 by default: nothing mandatory.
        assert_eq!(m.unknown_mandatory(), None);
        let mut mb = b.clone();
        mb[20] |= 0x80; // set M on the unknown AVP
        assert_eq!(
            parse(&mb, None).unwrap().unknown_mandatory(),
            Some((0, 0x77))
        );

        // A malformed optional AVP (Firmware Revision of 1 octet) is skipped; a malformed
        // mandatory one (Assigned Tunnel ID of 1 octet) makes the message malformed.
        let mut opt = build(1, 0, MessageType::Hello, &[], None).unwrap();
        opt.extend_from_slice(&[0x00, 0x07, 0, 0, 0, 6, 1]);
        opt[3] = opt.len() as u8;
        assert!(parse(&opt, None).unwrap().avps.is_empty());
        let mut man = build(1, 0, MessageType::Hello, &[], None).unwrap();
        man.extend_from_slice(&[0x80, 0x07, 0, 0, 0, 9, 1]);
        man[3] = man.len() as u8;
        assert!(matches!(parse(&man, None), Err(Error::Malformed(_))));
    }
}
