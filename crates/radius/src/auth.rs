//! Authenticators and hidden values: everything in RADIUS that uses the shared secret.
//!
//! - **Request Authenticator** of an Access-Request: 16 random octets (RFC 2865 §3, "SHOULD
//!   exhibit global and temporal uniqueness"); the caller supplies them (the client engine
//!   draws them from its seeded RNG).
//! - **Request Authenticator** of an Accounting-Request (RFC 2866 §3), a Disconnect-Request or a
//!   CoA-Request (RFC 5176 §3.3): `MD5(Code | Identifier | Length | 16 zero octets | Attributes |
//!   Secret)`.
//! - **Response Authenticator** (RFC 2865 §3, RFC 2866 §3, RFC 5176 §3.3): `MD5(Code |
//!   Identifier | Length | Request Authenticator | Attributes | Secret)`.
//! - **Message-Authenticator** (RFC 2869 §5.14, RFC 3579 §3.2): `HMAC-MD5(Secret, packet)`
//!   computed with the attribute's own value set to 16 zero octets and, in the Authenticator
//!   field, the Request Authenticator for an Access-Request, the *request's* Request
//!   Authenticator for a response (RFC 3579 §3.2), and 16 zero octets for an Accounting-,
//!   Disconnect- or CoA-Request (RFC 5176 §3.3: "the Request Authenticator field [...] filled
//!   with zeros"). It is computed first; the MD5 authenticators then cover it.
//! - **User-Password** hiding (RFC 2865 §5.2): the password padded with zeros to a multiple of
//!   16 octets (at most 128) and XORed with `b1 = MD5(Secret | Request Authenticator)`, `bi =
//!   MD5(Secret | c(i-1))`.
//! - **MS-MPPE-Send-Key / Recv-Key** (RFC 2548 §2.4.2, §2.4.3): `Key-Length (1) | Key | zero
//!   padding` to a multiple of 16, XORed with `b1 = MD5(Secret | Request Authenticator | Salt)`,
//!   `bi = MD5(Secret | c(i-1))`.
//!
//! **Accepting a response.** [`verify_response`] checks the Response Authenticator and the
//! Message-Authenticator, and with [`MessageAuthenticator::Required`] refuses a response that has
//! none. The client engine requires it on every Access-Accept, -Reject and -Challenge: the
//! BlastRADIUS attack (CVE-2024-3596, <https://www.blastradius.fail/>) forges an Access-Accept
//! from an Access-Reject with an MD5 chosen-prefix collision, which the Response Authenticator
//! alone cannot detect but an HMAC-MD5 Message-Authenticator does. All comparisons are in
//! constant time (`subtle`).
//!
//! HMAC-MD5 and MD5 are the RustCrypto `hmac` and `md-5` crates.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::Error;
use crate::attr::MAX_PASSWORD_LEN;
use crate::packet::{
    AUTHENTICATOR_FIELD, AUTHENTICATOR_LEN, Authenticator, Code, HEADER_LEN, Packet,
    message_authenticator_at,
};
use crate::secret::SharedSecret;

type HmacMd5 = Hmac<Md5>;

/// Whether a Message-Authenticator must be present for a packet to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAuthenticator {
    /// A packet without one is refused (BlastRADIUS, CVE-2024-3596).
    Required,
    /// One is checked if present.
    IfPresent,
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The header without the authenticator: Code, Identifier, Length.
fn head(packet: &[u8]) -> &[u8] {
    packet.get(..AUTHENTICATOR_FIELD.start).unwrap_or_default()
}

/// `MD5(Code | Identifier | Length | authenticator | Attributes | Secret)` over a checked
/// packet (inside its Length).
fn md5_authenticator(
    packet: &[u8],
    authenticator: &Authenticator,
    secret: &SharedSecret,
) -> [u8; 16] {
    let attrs = packet.get(HEADER_LEN..).unwrap_or_default();
    md5(&[head(packet), authenticator, attrs, secret.as_bytes()])
}

/// The Response Authenticator of `packet` answering a request with `request_authenticator`
/// (RFC 2865 §3).
pub fn response_authenticator(
    packet: &[u8],
    request_authenticator: &Authenticator,
    secret: &SharedSecret,
) -> Authenticator {
    md5_authenticator(packet, request_authenticator, secret)
}

/// The Request Authenticator of an Accounting-, Disconnect- or CoA-Request (RFC 2866 §3, RFC
/// 5176 §3.3): the MD5 with 16 zero octets in place of the authenticator.
pub fn request_authenticator(packet: &[u8], secret: &SharedSecret) -> Authenticator {
    md5_authenticator(packet, &[0; AUTHENTICATOR_LEN], secret)
}

/// HMAC-MD5 over `packet` with `authenticator` in the Authenticator field and 16 zero octets
/// in the Message-Authenticator value at `ma_at` (an offset into the packet).
fn hmac_md5(
    packet: &[u8],
    authenticator: &Authenticator,
    ma_at: usize,
    secret: &SharedSecret,
) -> [u8; 16] {
    let mut mac = <HmacMd5 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    let (before, after) = packet.split_at(ma_at.min(packet.len()));
    let after = after.get(AUTHENTICATOR_LEN..).unwrap_or_default();
    mac.update(head(packet));
    mac.update(authenticator);
    mac.update(before.get(HEADER_LEN..).unwrap_or_default());
    mac.update(&[0; AUTHENTICATOR_LEN]);
    mac.update(after);
    mac.finalize().into_bytes().into()
}

/// What goes into the Authenticator field while the Message-Authenticator is computed.
fn ma_authenticator(
    code: Code,
    in_field: Authenticator,
    request: Option<&Authenticator>,
) -> Authenticator {
    match (code, request) {
        (Code::AccessRequest, _) => in_field,
        (c, _) if c.is_request() => [0; AUTHENTICATOR_LEN],
        (_, Some(req)) => *req,
        (_, None) => in_field,
    }
}

/// Finishes a request emitted into `packet` (exactly its Length): fills the Message-Authenticator
/// if the packet has one (its value is overwritten), then, for an Accounting-, Disconnect- or
/// CoA-Request, the Request Authenticator. An Access-Request keeps the random authenticator it
/// was emitted with.
pub fn sign_request(packet: &mut [u8], secret: &SharedSecret) -> Result<(), Error> {
    let p = Packet::new_checked(&*packet)?;
    let code = p.code();
    if !code.is_request() {
        return Err(Error::ApiMisuse("sign_request on a response"));
    }
    let len = usize::from(p.length());
    let packet = packet
        .get_mut(..len)
        .ok_or(wire::Error::truncated("radius.length"))?;
    if code != Code::AccessRequest {
        packet
            .get_mut(AUTHENTICATOR_FIELD)
            .ok_or(wire::Error::truncated("radius.header"))?
            .fill(0);
    }
    fill_message_authenticator(packet, code, None, secret)?;
    if code != Code::AccessRequest {
        let a = request_authenticator(packet, secret);
        Packet::new_unchecked(&mut *packet).set_authenticator(&a);
    }
    Ok(())
}

/// Finishes a response emitted into `packet` (exactly its Length) to a request whose
/// authenticator was `request_authenticator`: the Message-Authenticator if present, then the
/// Response Authenticator.
pub fn sign_response(
    packet: &mut [u8],
    request_authenticator: &Authenticator,
    secret: &SharedSecret,
) -> Result<(), Error> {
    let p = Packet::new_checked(&*packet)?;
    let code = p.code();
    if code.is_request() {
        return Err(Error::ApiMisuse("sign_response on a request"));
    }
    let len = usize::from(p.length());
    let packet = packet
        .get_mut(..len)
        .ok_or(wire::Error::truncated("radius.length"))?;
    fill_message_authenticator(packet, code, Some(request_authenticator), secret)?;
    let a = response_authenticator(packet, request_authenticator, secret);
    Packet::new_unchecked(&mut *packet).set_authenticator(&a);
    Ok(())
}

fn fill_message_authenticator(
    packet: &mut [u8],
    code: Code,
    request: Option<&Authenticator>,
    secret: &SharedSecret,
) -> Result<(), Error> {
    let p = Packet::new_checked(&*packet)?;
    let Some(at) = message_authenticator_at(p.attributes())? else {
        return Ok(());
    };
    let at = HEADER_LEN + at;
    let auth = ma_authenticator(code, p.authenticator(), request);
    let mac = hmac_md5(packet, &auth, at, secret);
    packet
        .get_mut(at..at + AUTHENTICATOR_LEN)
        .ok_or(wire::Error::truncated("radius.message_authenticator"))?
        .copy_from_slice(&mac);
    Ok(())
}

/// Checks the Message-Authenticator of a checked packet, if it has one; returns whether it had
/// one.
fn check_message_authenticator(
    p: &Packet<&[u8]>,
    request: Option<&Authenticator>,
    secret: &SharedSecret,
) -> Result<bool, Error> {
    let Some(at) = message_authenticator_at(p.attributes())? else {
        return Ok(false);
    };
    let at = HEADER_LEN + at;
    let bytes = p.as_bytes();
    let got = bytes
        .get(at..at + AUTHENTICATOR_LEN)
        .ok_or(wire::Error::truncated("radius.message_authenticator"))?;
    let auth = ma_authenticator(p.code(), p.authenticator(), request);
    let want = hmac_md5(bytes, &auth, at, secret);
    if bool::from(want.ct_eq(got)) {
        Ok(true)
    } else {
        Err(Error::BadMessageAuthenticator)
    }
}

/// Verifies a response to a request whose authenticator was `request_authenticator`: the
/// Response Authenticator (RFC 2865 §3) and the Message-Authenticator (RFC 3579 §3.2), which
/// `policy` may require.
///
/// Both are checked, whatever the order of failure, before the result is known; a response that
/// fails is to be "silently discarded" (RFC 2865 §3).
pub fn verify_response(
    packet: &[u8],
    request_authenticator: &Authenticator,
    secret: &SharedSecret,
    policy: MessageAuthenticator,
) -> Result<(), Error> {
    let p = Packet::new_checked(packet)?;
    if p.code().is_request() {
        return Err(Error::Unexpected("a request where a response was expected"));
    }
    let want = response_authenticator(p.as_bytes(), request_authenticator, secret);
    let auth_ok = bool::from(want.ct_eq(&p.authenticator()));
    let ma = check_message_authenticator(&p, Some(request_authenticator), secret);
    if !auth_ok {
        return Err(Error::BadAuthenticator);
    }
    match ma? {
        false if policy == MessageAuthenticator::Required => {
            Err(Error::MissingMessageAuthenticator)
        }
        _ => Ok(()),
    }
}

/// Verifies a request received: for an Accounting-, Disconnect- or CoA-Request the Request
/// Authenticator (RFC 2866 §3, RFC 5176 §3.3); for any request the Message-Authenticator, which
/// `policy` may require (an Access-Request has nothing else to check).
pub fn verify_request(
    packet: &[u8],
    secret: &SharedSecret,
    policy: MessageAuthenticator,
) -> Result<(), Error> {
    let p = Packet::new_checked(packet)?;
    let code = p.code();
    if !code.is_request() {
        return Err(Error::Unexpected("a response where a request was expected"));
    }
    let auth_ok = code == Code::AccessRequest
        || bool::from(request_authenticator(p.as_bytes(), secret).ct_eq(&p.authenticator()));
    let ma = check_message_authenticator(&p, None, secret);
    if !auth_ok {
        return Err(Error::BadAuthenticator);
    }
    match ma? {
        false if policy == MessageAuthenticator::Required => {
            Err(Error::MissingMessageAuthenticator)
        }
        _ => Ok(()),
    }
}

/// XORs `data` (a multiple of 16 octets) in place with the key stream `b1 = MD5(Secret |
/// first)`, `bi = MD5(Secret | c(i-1))`; `cipher_in` says whether `data` is the ciphertext
/// (reveal) or the plaintext (hide), which decides where `c(i-1)` is read.
fn xor_stream(data: &mut [u8], secret: &SharedSecret, first: &[&[u8]], cipher_in: bool) {
    let mut prev = [0u8; 16];
    for (i, block) in data.chunks_mut(16).enumerate() {
        let b = if i == 0 {
            let mut parts = vec![secret.as_bytes()];
            parts.extend_from_slice(first);
            md5(&parts)
        } else {
            md5(&[secret.as_bytes(), &prev])
        };
        if cipher_in {
            prev.iter_mut().zip(block.iter()).for_each(|(p, c)| *p = *c);
        }
        for (c, k) in block.iter_mut().zip(b) {
            *c ^= k;
        }
        if !cipher_in {
            prev.iter_mut().zip(block.iter()).for_each(|(p, c)| *p = *c);
        }
    }
}

/// Hides a password for User-Password (RFC 2865 §5.2) with the Access-Request's Request
/// Authenticator. Passwords longer than 128 octets are refused; an empty password is one block
/// of zeros.
pub fn hide_password(
    password: &[u8],
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
) -> Result<Vec<u8>, Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::ApiMisuse("User-Password over 128 octets"));
    }
    let padded = password.len().div_ceil(16).max(1) * 16;
    let mut out = vec![0u8; padded];
    out.get_mut(..password.len())
        .unwrap_or_default()
        .copy_from_slice(password);
    xor_stream(&mut out, secret, &[request_authenticator], false);
    Ok(out)
}

/// Reveals a User-Password value (RFC 2865 §5.2); trailing zero octets (the padding) are
/// removed.
pub fn reveal_password(
    hidden: &[u8],
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if hidden.is_empty() || hidden.len() > MAX_PASSWORD_LEN || !hidden.len().is_multiple_of(16) {
        return Err(wire::Error::bad_length("radius.user_password").into());
    }
    let mut out = Zeroizing::new(hidden.to_vec());
    xor_stream(&mut out, secret, &[request_authenticator], true);
    let keep = out.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    out.truncate(keep);
    Ok(out)
}

/// Encrypts an MPPE key for MS-MPPE-Send-Key or MS-MPPE-Recv-Key (RFC 2548 §2.4.2): returns the
/// String field (without the Salt). The Salt's high bit must be set and should be unique per
/// attribute ("Each Salt value MUST be unique per Request Authenticator").
pub fn encrypt_mppe_key(
    key: &[u8],
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    salt: [u8; 2],
) -> Result<Vec<u8>, Error> {
    let key_len = u8::try_from(key.len()).map_err(|_| Error::ApiMisuse("MPPE key too long"))?;
    if salt[0] & 0x80 == 0 {
        return Err(Error::ApiMisuse("MPPE salt without its high bit"));
    }
    let padded = (1 + key.len()).div_ceil(16) * 16;
    let mut out = vec![0u8; padded];
    if let Some(first) = out.first_mut() {
        *first = key_len;
    }
    out.get_mut(1..=key.len())
        .unwrap_or_default()
        .copy_from_slice(key);
    xor_stream(&mut out, secret, &[request_authenticator, &salt], false);
    Ok(out)
}

/// Decrypts the String of an MS-MPPE-Send-Key or MS-MPPE-Recv-Key (RFC 2548 §2.4.2, §2.4.3)
/// received in a response to a request with `request_authenticator`; returns the key (its
/// Key-Length octets).
pub fn decrypt_mppe_key(
    encrypted: &[u8],
    secret: &SharedSecret,
    request_authenticator: &Authenticator,
    salt: [u8; 2],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if encrypted.is_empty() || !encrypted.len().is_multiple_of(16) {
        return Err(wire::Error::bad_length("radius.mppe_key").into());
    }
    let mut plain = Zeroizing::new(encrypted.to_vec());
    xor_stream(&mut plain, secret, &[request_authenticator, &salt], true);
    let (&len, rest) = plain
        .split_first()
        .ok_or(wire::Error::truncated("radius.mppe_key"))?;
    let key = rest
        .get(..usize::from(len))
        .ok_or(wire::Error::bad_length("radius.mppe_key.length"))?;
    Ok(Zeroizing::new(key.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Attribute;
    use crate::packet::Repr;

    fn secret() -> SharedSecret {
        SharedSecret::new(b"xyzzy5461".to_vec())
    }

    /// RFC 2865 §7.1, the Access-Request for "nemo" (password "arctangent").
    const RFC2865_7_1_REQUEST: &str = "0100 0038 0f40 3f94 7397 8057 bd83 d5cb 98f4 227a \
        0106 6e65 6d6f 0212 0dbe 708d 93d4 13ce 3196 e43f 782a 0aee 0406 c0a8 0110 0506 0000 0003";
    /// RFC 2865 §7.1, the Access-Accept answering it.
    const RFC2865_7_1_ACCEPT: &str = "0200 0026 86fe 220e 7624 ba2a 1005 f6bf 9b55 e0b2 \
        0606 0000 0001 0f06 0000 0000 0e06 c0a8 0103";

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    #[test]
    fn rfc2865_7_1_password_and_response_authenticator() {
        let req = hex(RFC2865_7_1_REQUEST);
        let r = Repr::parse_bytes(&req).unwrap();
        let Some(Attribute::UserPassword(hidden)) = r.attributes.get(1) else {
            panic!("{:?}", r.attributes)
        };
        assert_eq!(
            &*reveal_password(hidden, &secret(), &r.authenticator).unwrap(),
            b"arctangent"
        );
        assert_eq!(
            &hide_password(b"arctangent", &secret(), &r.authenticator).unwrap(),
            hidden
        );
        let accept = hex(RFC2865_7_1_ACCEPT);
        assert_eq!(
            response_authenticator(&accept, &r.authenticator, &secret()),
            accept[4..20]
        );
        verify_response(
            &accept,
            &r.authenticator,
            &secret(),
            MessageAuthenticator::IfPresent,
        )
        .unwrap();
        // The example predates Message-Authenticator: with the BlastRADIUS rule it is refused.
        assert_eq!(
            verify_response(
                &accept,
                &r.authenticator,
                &secret(),
                MessageAuthenticator::Required
            ),
            Err(Error::MissingMessageAuthenticator)
        );
        // Re-signing the parsed response gives the same bytes.
        let mut again = Repr::parse_bytes(&accept).unwrap().to_vec().unwrap();
        again[4..20].fill(0);
        sign_response(&mut again, &r.authenticator, &secret()).unwrap();
        assert_eq!(again, accept);
    }

    #[test]
    fn password_hiding_multi_block() {
        let ra = [0x42; 16];
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 128] {
            let pw: Vec<u8> = (1..=len as u8).collect();
            let h = hide_password(&pw, &secret(), &ra).unwrap();
            assert_eq!(h.len(), len.div_ceil(16).max(1) * 16);
            assert_eq!(&*reveal_password(&h, &secret(), &ra).unwrap(), &pw[..]);
            // A different authenticator or secret gives different bytes.
            assert_ne!(h, hide_password(&pw, &secret(), &[0x43; 16]).unwrap());
        }
        // Block 2 chains on ciphertext block 1 (RFC 2865 §5.2): flipping a bit of c1 garbles
        // p2 entirely, not just one bit.
        let pw = [b'a'; 32];
        let mut h = hide_password(&pw, &secret(), &ra).unwrap();
        h[0] ^= 1;
        let back = reveal_password(&h, &secret(), &ra).unwrap();
        assert_eq!(back[0], b'a' ^ 1);
        assert_ne!(back[16..], pw[16..]);
        assert!(hide_password(&[1; 129], &secret(), &ra).is_err());
        for bad in [0usize, 15, 17, 144] {
            assert!(reveal_password(&vec![0; bad], &secret(), &ra).is_err());
        }
    }

    #[test]
    fn mppe_keys_round_trip_and_check_the_salt() {
        let ra = [7u8; 16];
        let key: Vec<u8> = (0..16).collect();
        let enc = encrypt_mppe_key(&key, &secret(), &ra, [0x80, 0x01]).unwrap();
        assert_eq!(enc.len(), 32);
        assert_eq!(
            &*decrypt_mppe_key(&enc, &secret(), &ra, [0x80, 0x01]).unwrap(),
            &key[..]
        );
        // The salt is part of the key stream.
        let other = encrypt_mppe_key(&key, &secret(), &ra, [0x80, 0x02]).unwrap();
        assert_ne!(enc, other);
        assert!(encrypt_mppe_key(&key, &secret(), &ra, [0x00, 0x01]).is_err());
        assert!(decrypt_mppe_key(&enc[..31], &secret(), &ra, [0x80, 1]).is_err());
        assert!(decrypt_mppe_key(&[], &secret(), &ra, [0x80, 1]).is_err());
        // A Key-Length past the String is refused.
        let mut forged = vec![0u8; 16];
        forged[0] = 200;
        xor_stream(&mut forged, &secret(), &[&ra, &[0x80, 1]], false);
        assert!(decrypt_mppe_key(&forged, &secret(), &ra, [0x80, 1]).is_err());
    }

    fn request(code: Code, with_ma: bool) -> Vec<u8> {
        let mut attributes = vec![];
        if with_ma {
            attributes.push(Attribute::MessageAuthenticator([0; 16]));
        }
        attributes.push(Attribute::AcctSessionId(b"abc".to_vec()));
        Repr {
            code,
            identifier: 5,
            authenticator: [0x11; 16],
            attributes,
        }
        .to_vec()
        .unwrap()
    }

    #[test]
    fn requests_sign_and_verify() {
        for code in [
            Code::AccessRequest,
            Code::AccountingRequest,
            Code::DisconnectRequest,
            Code::CoaRequest,
        ] {
            for with_ma in [false, true] {
                let mut p = request(code, with_ma);
                sign_request(&mut p, &secret()).unwrap();
                let policy = MessageAuthenticator::IfPresent;
                verify_request(&p, &secret(), policy).unwrap();
                let wrong = SharedSecret::new(b"other".to_vec());
                if with_ma || code != Code::AccessRequest {
                    assert!(verify_request(&p, &wrong, policy).is_err(), "{code:?}");
                }
                let required = verify_request(&p, &secret(), MessageAuthenticator::Required);
                assert_eq!(required.is_ok(), with_ma, "{code:?}");
                // Any flipped bit after the header is caught (by the MD5 or the HMAC).
                if with_ma || code != Code::AccessRequest {
                    let policy = if with_ma {
                        MessageAuthenticator::Required
                    } else {
                        policy
                    };
                    for i in HEADER_LEN..p.len() {
                        let mut q = p.clone();
                        q[i] ^= 0x01;
                        assert!(
                            verify_request(&q, &secret(), policy).is_err(),
                            "{code:?} {i}"
                        );
                    }
                }
            }
        }
        // The Accounting-Request authenticator is the RFC 2866 §3 MD5 over zeros.
        let mut p = request(Code::AccountingRequest, false);
        sign_request(&mut p, &secret()).unwrap();
        let mut zeroed = p.clone();
        zeroed[4..20].fill(0);
        let want = md5(&[&zeroed, b"xyzzy5461"]);
        assert_eq!(p[4..20], want);
        assert!(matches!(
            sign_request(&mut request(Code::CoaAck, false), &secret()),
            Err(Error::ApiMisuse(_))
        ));
        assert!(matches!(
            verify_request(
                &request(Code::CoaAck, false),
                &secret(),
                MessageAuthenticator::IfPresent
            ),
            Err(Error::Unexpected(_))
        ));
    }

    #[test]
    fn message_authenticator_uses_the_rfc3579_inputs() {
        // Access-Request: HMAC over the packet as sent, MA value zeroed.
        let mut p = request(Code::AccessRequest, true);
        sign_request(&mut p, &secret()).unwrap();
        let mut z = p.clone();
        z[22..38].fill(0);
        let mut mac = <HmacMd5 as Mac>::new_from_slice(b"xyzzy5461").unwrap();
        mac.update(&z);
        assert_eq!(p[22..38], mac.finalize().into_bytes()[..]);
        // Accounting-Request: Authenticator zeroed too (RFC 5176 §3.3 rule), MD5 after.
        let mut p = request(Code::AccountingRequest, true);
        sign_request(&mut p, &secret()).unwrap();
        let mut z = p.clone();
        z[4..20].fill(0);
        z[22..38].fill(0);
        let mut mac = <HmacMd5 as Mac>::new_from_slice(b"xyzzy5461").unwrap();
        mac.update(&z);
        assert_eq!(p[22..38], mac.finalize().into_bytes()[..]);
    }

    #[test]
    fn responses_need_both_authenticators() {
        let ra = [0x5a; 16];
        for code in [
            Code::AccessAccept,
            Code::AccessReject,
            Code::AccessChallenge,
            Code::AccountingResponse,
            Code::DisconnectAck,
            Code::CoaNak,
        ] {
            let mut p = Repr {
                code,
                identifier: 9,
                authenticator: [0; 16],
                attributes: vec![
                    Attribute::MessageAuthenticator([0; 16]),
                    Attribute::ReplyMessage(b"ok".to_vec()),
                ],
            }
            .to_vec()
            .unwrap();
            sign_response(&mut p, &ra, &secret()).unwrap();
            let req = MessageAuthenticator::Required;
            verify_response(&p, &ra, &secret(), req).unwrap();
            assert_eq!(
                verify_response(&p, &[0x5b; 16], &secret(), req),
                Err(Error::BadAuthenticator)
            );
            // A valid Response Authenticator over a bad Message-Authenticator: refused.
            let mut q = p.clone();
            q[22] ^= 0xff;
            let a = response_authenticator(&q, &ra, &secret());
            q[4..20].copy_from_slice(&a);
            assert_eq!(
                verify_response(&q, &ra, &secret(), req),
                Err(Error::BadMessageAuthenticator)
            );
            assert!(matches!(
                sign_response(&mut request(Code::AccessRequest, false), &ra, &secret()),
                Err(Error::ApiMisuse(_))
            ));
        }
        assert!(matches!(
            verify_response(
                &request(Code::AccessRequest, false),
                &ra,
                &secret(),
                MessageAuthenticator::IfPresent
            ),
            Err(Error::Unexpected(_))
        ));
        assert!(matches!(
            verify_response(&[2, 0, 0], &ra, &secret(), MessageAuthenticator::IfPresent),
            Err(Error::Malformed(_))
        ));
    }
}
