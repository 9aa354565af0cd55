//! MS-CHAP value formats carried in CHAP packets: the MS-CHAPv1 Response (RFC 2433 §2.2), the
//! MS-CHAPv2 Response (RFC 2759 §4), the Success message `S=<auth> M=<text>` (RFC 2759 §5) and
//! the Failure message `E=… R=… C=… V=… M=…` (RFC 2433 §2.3, RFC 2759 §6).
//!
//! The Failure form that Windows turns into error 691 is pppd's, as pppd logs it:
//! `E=691 R=1 C=c9fd54b06ad08bebadeefdd879e8dc85 V=0 M=Wrong Password` (lowercase challenge
//! digits). We emit the challenge in lowercase like pppd, the authenticator response in
//! uppercase as RFC 2759 §5 prescribes, and parse either case.

use crate::{Error, Result};

/// Length of the MS-CHAPv2 authenticator challenge (RFC 2759 §3).
pub const V2_CHALLENGE_LEN: usize = 16;
/// Length of the MS-CHAPv1 challenge (RFC 2433 §2.1).
pub const V1_CHALLENGE_LEN: usize = 8;
/// Length of both Response values (RFC 2433 §2.2, RFC 2759 §4).
pub const RESPONSE_LEN: usize = 49;

/// The MS-CHAPv2 Response value (RFC 2759 §4):
/// `Peer-Challenge(16) | Reserved(8) | NT-Response(24) | Flags(1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Response {
    /// The peer's challenge.
    pub peer_challenge: [u8; 16],
    /// Reserved, "MUST be zero"; kept so that emit is exact.
    pub reserved: [u8; 8],
    /// The NT-Response.
    pub nt_response: [u8; 24],
    /// Flags, "MUST be zero".
    pub flags: u8,
}

impl V2Response {
    /// Decodes a 49-octet Response value.
    pub fn parse(value: &[u8]) -> Result<Self> {
        let value: &[u8; RESPONSE_LEN] = value
            .try_into()
            .map_err(|_| Error::bad_length("mschapv2.response"))?;
        let (peer_challenge, rest) = value
            .split_first_chunk::<16>()
            .ok_or(Error::truncated("mschapv2.response"))?;
        let (reserved, rest) = rest
            .split_first_chunk::<8>()
            .ok_or(Error::truncated("mschapv2.response"))?;
        let (nt_response, rest) = rest
            .split_first_chunk::<24>()
            .ok_or(Error::truncated("mschapv2.response"))?;
        let &[flags] = rest else {
            return Err(Error::bad_length("mschapv2.response"));
        };
        Ok(Self {
            peer_challenge: *peer_challenge,
            reserved: *reserved,
            nt_response: *nt_response,
            flags,
        })
    }

    /// Encodes the 49-octet value.
    pub fn to_bytes(&self) -> [u8; RESPONSE_LEN] {
        let mut out = [0u8; RESPONSE_LEN];
        let (a, rest) = out.split_at_mut(16);
        a.copy_from_slice(&self.peer_challenge);
        let (b, rest) = rest.split_at_mut(8);
        b.copy_from_slice(&self.reserved);
        let (c, d) = rest.split_at_mut(24);
        c.copy_from_slice(&self.nt_response);
        d.copy_from_slice(&[self.flags]);
        out
    }
}

/// The MS-CHAPv1 Response value (RFC 2433 §2.2):
/// `LM-Response(24) | NT-Response(24) | Use-NT flag(1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Response {
    /// The LAN Manager response (Windows XP sends zeros).
    pub lm_response: [u8; 24],
    /// The NT response.
    pub nt_response: [u8; 24],
    /// 1 when `nt_response` is to be used.
    pub use_nt: u8,
}

impl V1Response {
    /// Decodes a 49-octet Response value.
    pub fn parse(value: &[u8]) -> Result<Self> {
        let value: &[u8; RESPONSE_LEN] = value
            .try_into()
            .map_err(|_| Error::bad_length("mschapv1.response"))?;
        let (lm, rest) = value
            .split_first_chunk::<24>()
            .ok_or(Error::truncated("mschapv1.response"))?;
        let (nt, rest) = rest
            .split_first_chunk::<24>()
            .ok_or(Error::truncated("mschapv1.response"))?;
        let &[use_nt] = rest else {
            return Err(Error::bad_length("mschapv1.response"));
        };
        Ok(Self {
            lm_response: *lm,
            nt_response: *nt,
            use_nt,
        })
    }

    /// Encodes the 49-octet value.
    pub fn to_bytes(&self) -> [u8; RESPONSE_LEN] {
        let mut out = [0u8; RESPONSE_LEN];
        let (a, rest) = out.split_at_mut(24);
        a.copy_from_slice(&self.lm_response);
        let (b, c) = rest.split_at_mut(24);
        b.copy_from_slice(&self.nt_response);
        c.copy_from_slice(&[self.use_nt]);
        out
    }
}

/// A writer that never indexes out of bounds.
struct Cursor<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8], at: &'static str) -> Result<()> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or_else(|| Error::buffer_too_small(at))?;
        self.buf
            .get_mut(self.pos..end)
            .ok_or_else(|| Error::buffer_too_small(at))?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn put_hex(&mut self, bytes: &[u8], upper: bool, at: &'static str) -> Result<()> {
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        for &b in bytes {
            let hi = digits.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = digits.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
            self.put(&[hi, lo], at)?;
        }
        Ok(())
    }

    fn put_dec(&mut self, value: u32, at: &'static str) -> Result<()> {
        let mut digits = [0u8; 10];
        let n = dec_len(value);
        let mut v = value;
        for slot in digits.iter_mut().take(n).rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.put(digits.get(..n).unwrap_or_default(), at)
    }
}

fn dec_len(value: u32) -> usize {
    let mut n = 1;
    let mut v = value;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex<const N: usize>(text: &[u8], at: &'static str) -> Result<[u8; N]> {
    if text.len() != 2 * N {
        return Err(Error::bad_length(at));
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (Some(&h), Some(&l)) = (pair.first(), pair.get(1)) else {
            return Err(Error::bad_length(at));
        };
        let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) else {
            return Err(Error::bad_value(at));
        };
        *o = (h << 4) | l;
    }
    Ok(out)
}

fn decode_dec(text: &[u8], at: &'static str) -> Result<u32> {
    if text.is_empty() || text.len() > 10 || !text.iter().all(u8::is_ascii_digit) {
        return Err(Error::bad_value(at));
    }
    text.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u32::from(d - b'0')))
            .ok_or_else(|| Error::bad_value(at))
    })
}

/// The MS-CHAPv2 Success message (RFC 2759 §5): `S=<40 hex digits>` and an optional ` M=<text>`
/// (SoftEther omits `M=`; the Linux capture's Success is `S=E25F…859B` alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessMessage<'a> {
    /// The 20-octet authenticator response.
    pub authenticator_response: [u8; 20],
    /// The optional text after `M=`.
    pub message: Option<&'a [u8]>,
}

impl<'a> SuccessMessage<'a> {
    /// Decodes a Success message.
    pub fn parse(text: &'a [u8]) -> Result<Self> {
        let rest = text
            .strip_prefix(b"S=")
            .ok_or(Error::bad_value("mschapv2.success"))?;
        let (hex, rest) = rest
            .split_at_checked(40)
            .ok_or(Error::truncated("mschapv2.success"))?;
        let authenticator_response = decode_hex::<20>(hex, "mschapv2.success.s")?;
        let message = if rest.is_empty() {
            None
        } else {
            let trimmed = rest.trim_ascii_start();
            Some(
                trimmed
                    .strip_prefix(b"M=")
                    .ok_or(Error::bad_value("mschapv2.success.m"))?,
            )
        };
        Ok(Self {
            authenticator_response,
            message,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        42 + self.message.map_or(0, |m| 3 + m.len())
    }

    /// Writes the message into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let at = "mschapv2.success";
        let mut c = Cursor { buf, pos: 0 };
        c.put(b"S=", at)?;
        c.put_hex(&self.authenticator_response, true, at)?;
        if let Some(m) = self.message {
            c.put(b" M=", at)?;
            c.put(m, at)?;
        }
        Ok(())
    }
}

/// The challenge in a Failure message: 16 hex digits for MS-CHAPv1, 32 for MS-CHAPv2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureChallenge {
    /// MS-CHAPv1 (RFC 2433 §2.3).
    V1([u8; V1_CHALLENGE_LEN]),
    /// MS-CHAPv2 (RFC 2759 §6).
    V2([u8; V2_CHALLENGE_LEN]),
}

impl FailureChallenge {
    /// The challenge octets.
    pub const fn as_bytes(&self) -> &[u8] {
        match self {
            Self::V1(b) => b,
            Self::V2(b) => b,
        }
    }
}

/// An MS-CHAP Failure message (RFC 2759 §6): `E=eee R=r C=ccc V=vvv M=<text>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureMessage<'a> {
    /// Error code (691 = ERROR_AUTHENTICATION_FAILURE, 647 = account disabled, ...).
    pub error: u32,
    /// `R=1`: the peer may retry.
    pub retry: bool,
    /// `C=`: the challenge for the retry.
    pub challenge: Option<FailureChallenge>,
    /// `V=`: the password-change protocol version (3 in RFC 2759 §6; pppd sends 0).
    pub version: Option<u32>,
    /// `M=`: text for the user, the rest of the message.
    pub message: Option<&'a [u8]>,
}

impl<'a> FailureMessage<'a> {
    /// Decodes a Failure message. Fields are space-separated; `M=` runs to the end. Unknown
    /// fields are skipped.
    pub fn parse(text: &'a [u8]) -> Result<Self> {
        let mut error = None;
        let mut retry = false;
        let mut challenge = None;
        let mut version = None;
        let mut message = None;
        let mut rest = text;
        loop {
            rest = rest.trim_ascii_start();
            if rest.is_empty() {
                break;
            }
            if let Some(m) = rest.strip_prefix(b"M=") {
                message = Some(m);
                break;
            }
            let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let (token, tail) = rest
                .split_at_checked(end)
                .ok_or(Error::truncated("mschap.failure"))?;
            rest = tail;
            if let Some(v) = token.strip_prefix(b"E=") {
                error = Some(decode_dec(v, "mschap.failure.e")?);
            } else if let Some(v) = token.strip_prefix(b"R=") {
                retry = match v {
                    b"0" => false,
                    b"1" => true,
                    _ => return Err(Error::bad_value("mschap.failure.r")),
                };
            } else if let Some(v) = token.strip_prefix(b"C=") {
                challenge = Some(match v.len() {
                    16 => FailureChallenge::V1(decode_hex(v, "mschap.failure.c")?),
                    _ => FailureChallenge::V2(decode_hex(v, "mschap.failure.c")?),
                });
            } else if let Some(v) = token.strip_prefix(b"V=") {
                version = Some(decode_dec(v, "mschap.failure.v")?);
            }
        }
        let error = error.ok_or(Error::bad_value("mschap.failure.e"))?;
        Ok(Self {
            error,
            retry,
            challenge,
            version,
            message,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        2 + dec_len(self.error)
            + 4
            + self.challenge.map_or(0, |c| 3 + 2 * c.as_bytes().len())
            + self.version.map_or(0, |v| 3 + dec_len(v))
            + self.message.map_or(0, |m| 3 + m.len())
    }

    /// Writes the message into the front of `buf`, in pppd's field order.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let at = "mschap.failure";
        let mut c = Cursor { buf, pos: 0 };
        c.put(b"E=", at)?;
        c.put_dec(self.error, at)?;
        c.put(if self.retry { b" R=1" } else { b" R=0" }, at)?;
        if let Some(ch) = self.challenge {
            c.put(b" C=", at)?;
            c.put_hex(ch.as_bytes(), false, at)?;
        }
        if let Some(v) = self.version {
            c.put(b" V=", at)?;
            c.put_dec(v, at)?;
        }
        if let Some(m) = self.message {
            c.put(b" M=", at)?;
            c.put(m, at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Windows XP MS-CHAPv2 Response value.
    const XP_V2_RESPONSE: &str = "f5b7143b992c6ee198f917ec6aa0d29a00000000000000005dde9a89837a1ea4b4a11028dc0d6531ee5802f20475034700";
    // A Windows XP MS-CHAPv1 Response value (LM zeros, NT response, use-NT 1).
    const XP_V1_RESPONSE: &str = "0000000000000000000000000000000000000000000000006ccf61cf357b9068cd243bdf21ffd8e796038a49124816bc01";

    #[test]
    fn v2_response() {
        let bytes = hex::decode(XP_V2_RESPONSE).unwrap();
        let r = V2Response::parse(&bytes).unwrap();
        assert_eq!(
            r.peer_challenge[..],
            hex::decode("f5b7143b992c6ee198f917ec6aa0d29a").unwrap()[..]
        );
        assert_eq!(r.reserved, [0; 8]);
        assert_eq!(
            r.nt_response[..],
            hex::decode("5dde9a89837a1ea4b4a11028dc0d6531ee5802f204750347").unwrap()[..]
        );
        assert_eq!(r.flags, 0);
        assert_eq!(r.to_bytes()[..], bytes[..]);
        assert!(V2Response::parse(&bytes[..48]).is_err());
    }

    #[test]
    fn v1_response() {
        let bytes = hex::decode(XP_V1_RESPONSE).unwrap();
        let r = V1Response::parse(&bytes).unwrap();
        assert_eq!(r.lm_response, [0; 24]);
        assert_eq!(r.use_nt, 1);
        assert_eq!(r.to_bytes()[..], bytes[..]);
    }

    #[test]
    fn success_message() {
        // RFC 2759 §9.2 AuthenticatorResponse.
        let text = b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted";
        let s = SuccessMessage::parse(text).unwrap();
        assert_eq!(
            s.authenticator_response[..],
            hex::decode("407A5589115FD0D6209F510FE9C04566932CDA56").unwrap()[..]
        );
        assert_eq!(s.message, Some(&b"Access granted"[..]));
        let mut out = vec![0u8; s.buffer_len()];
        s.emit(&mut out).unwrap();
        assert_eq!(out, text);
        // The Linux-client capture's Success carries no M= (SoftEther).
        let bare = b"S=E25F58865A49E3695A0E11BCDD80ECE0282A859B";
        let s = SuccessMessage::parse(bare).unwrap();
        assert_eq!(s.message, None);
        assert_eq!(s.buffer_len(), bare.len());
        assert!(SuccessMessage::parse(b"S=407A").is_err());
        assert!(SuccessMessage::parse(b"S=407A5589115FD0D6209F510FE9C04566932CDA5G").is_err());
    }

    #[test]
    fn failure_message_pppd_form() {
        // A pppd Failure message.
        let text = b"E=691 R=1 C=c9fd54b06ad08bebadeefdd879e8dc85 V=0 M=Wrong Password";
        let f = FailureMessage::parse(text).unwrap();
        assert_eq!(f.error, 691);
        assert!(f.retry);
        assert_eq!(
            f.challenge,
            Some(FailureChallenge::V2(
                hex::decode("c9fd54b06ad08bebadeefdd879e8dc85")
                    .unwrap()
                    .try_into()
                    .unwrap()
            ))
        );
        assert_eq!(f.version, Some(0));
        assert_eq!(f.message, Some(&b"Wrong Password"[..]));
        assert_eq!(f.buffer_len(), text.len());
        let mut out = vec![0u8; f.buffer_len()];
        f.emit(&mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn failure_message_variants() {
        let f = FailureMessage::parse(b"E=647 R=0 C=0011223344556677 V=3").unwrap();
        assert_eq!(
            f.challenge,
            Some(FailureChallenge::V1([
                0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77
            ]))
        );
        assert_eq!(f.version, Some(3));
        assert_eq!(f.message, None);
        assert!(FailureMessage::parse(b"R=1 M=no error code").is_err());
        assert!(FailureMessage::parse(b"E=99999999999").is_err());
        assert!(FailureMessage::parse(b"E=691 R=2").is_err());
        assert!(FailureMessage::parse(b"E=691 C=abc").is_err());
    }
}
