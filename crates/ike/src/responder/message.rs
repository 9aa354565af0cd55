//! Each datagram is parsed once: the header when it arrives ([`Message::parse`]), and its
//! payload chain in one walk (RFC 2408 §3.2) that yields every payload both parsed and as the
//! raw body bytes RFC 2409 §5 hashes (`SAi_b`, `IDii_b`). A decrypted phase 2 body is walked
//! the same way, once, and split into its leading HASH and the bytes that HASH covers
//! (RFC 2409 §5.5, §5.7).

use core::ops::Range;

use wire::isakmp::{self, HeaderRepr, Packet, Payload, PayloadType, Payloads, flags};

use crate::error::Error;

/// One received ISAKMP message: its header, and its body still unparsed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Message<'a> {
    pub(super) header: HeaderRepr,
    /// The type of the first payload.
    pub(super) first: PayloadType,
    /// The payloads after the header (ciphertext when [`Message::encrypted`]).
    pub(super) body: &'a [u8],
    /// The whole message, up to its Length field (what retransmission detection compares).
    pub(super) bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Reads the header (RFC 2408 §3.1): version 1.x, Length inside the datagram.
    pub(super) fn parse(datagram: &'a [u8]) -> Result<Self, Error> {
        let packet = Packet::new_checked(datagram)?;
        let header = HeaderRepr::parse(&packet);
        if header.version >> 4 != 1 {
            return Err(wire::Error::bad_value("isakmp.version").into());
        }
        let len = packet.length() as usize;
        let bytes = datagram
            .get(..len)
            .ok_or(wire::Error::truncated("isakmp.length"))?;
        let body = bytes
            .get(isakmp::HEADER_LEN..)
            .ok_or(wire::Error::truncated("isakmp.header"))?;
        Ok(Self {
            header,
            first: packet.next_payload(),
            body,
            bytes,
        })
    }

    /// Whether the E flag is set (RFC 2408 §3.1).
    pub(super) fn encrypted(&self) -> bool {
        self.header.flags & flags::ENCRYPTION != 0
    }

    /// The payloads of a plaintext message; nothing may follow the last one.
    pub(super) fn plain(&self, what: &'static str) -> Result<Vec<Item<'a>>, Error> {
        if self.encrypted() {
            return Err(Error::PeerMisbehaved(what));
        }
        Ok(walk(self.first, self.body, false)?)
    }

    /// The ciphertext of an encrypted message.
    pub(super) fn ciphertext(&self, what: &'static str) -> Result<&'a [u8], Error> {
        if self.encrypted() {
            Ok(self.body)
        } else {
            Err(Error::PeerMisbehaved(what))
        }
    }
}

/// One payload: parsed, its raw body, and where it sits in the walked bytes.
#[derive(Debug, Clone)]
pub(super) struct Item<'a> {
    pub(super) payload: Payload<'a>,
    /// The body without the generic header (what RFC 2409 §5 calls `*_b`).
    pub(super) body: &'a [u8],
    /// The whole payload, generic header included, within the walked bytes.
    pub(super) span: Range<usize>,
}

/// Walks a payload chain once (RFC 2408 §3.2). After the last payload only padding of a
/// decrypted body may follow (`allow_padding`, RFC 2409 Appendix B).
pub(super) fn walk(
    first: PayloadType,
    bytes: &[u8],
    allow_padding: bool,
) -> Result<Vec<Item<'_>>, wire::Error> {
    let mut it = Payloads::new(first, bytes);
    let mut items = Vec::new();
    let mut start = 0;
    while let Some(raw) = it.next() {
        let raw = raw?;
        let end = it.consumed();
        items.push(Item {
            payload: Payload::parse(raw.kind, raw.body)?,
            body: raw.body,
            span: start..end,
        });
        start = end;
    }
    if !allow_padding && !it.remainder().is_empty() {
        return Err(wire::Error::bad_length("isakmp.length"));
    }
    Ok(items)
}

/// A decrypted phase 2 body: the leading HASH, the bytes it covers (every payload after it,
/// without the padding), and the payloads after it.
#[derive(Debug)]
pub(super) struct Protected<'a> {
    pub(super) hash: &'a [u8],
    pub(super) covered: &'a [u8],
    pub(super) items: Vec<Item<'a>>,
}

impl<'a> Protected<'a> {
    /// Splits a decrypted Quick Mode or Informational body (RFC 2409 §5.5, §5.7: HASH first).
    pub(super) fn parse(first: PayloadType, plain: &'a [u8]) -> Result<Self, Error> {
        let mut items = walk(first, plain, true)?;
        if items.is_empty() {
            return Err(Error::PeerMisbehaved(
                "phase 2 message does not start with HASH",
            ));
        }
        let head = items.remove(0);
        let Payload::Hash(hash) = head.payload else {
            return Err(Error::PeerMisbehaved(
                "phase 2 message does not start with HASH",
            ));
        };
        let end = items.last().map_or(head.span.end, |i| i.span.end);
        let covered = plain
            .get(head.span.end..end)
            .ok_or(Error::PeerMisbehaved("payload bounds"))?;
        Ok(Self {
            hash,
            covered,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use wire::isakmp::{NotifyRepr, NotifyType, emit_payloads, payloads_len};

    use super::*;

    #[test]
    fn one_walk_gives_parsed_payloads_raw_bodies_and_the_hashed_span() {
        let n = Payload::Notification(NotifyRepr {
            doi: 1,
            protocol: 1,
            kind: NotifyType::InitialContact,
            spi: &[7; 16],
            data: &[],
        });
        let payloads = [
            Payload::Hash(&[0xab; 20]),
            n.clone(),
            Payload::Nonce(&[1; 8]),
        ];
        let mut buf = vec![0u8; payloads_len(&payloads) + 5];
        let used = emit_payloads(&payloads, &mut buf).unwrap();
        let p = Protected::parse(PayloadType::Hash, &buf).unwrap();
        assert_eq!(p.hash, &[0xab; 20]);
        assert_eq!(p.covered, &buf[24..used]);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].payload, n);
        assert_eq!(p.items[1].body, &[1; 8]);
        // Padding is allowed only in a decrypted body.
        assert!(walk(PayloadType::Hash, &buf, false).is_err());
        assert_eq!(
            walk(PayloadType::Hash, &buf[..used], false).unwrap().len(),
            3
        );
        assert!(Protected::parse(PayloadType::Nonce, &buf[24..used]).is_err());
    }
}
