//! Hidden AVPs (RFC 2661 §4.3) and tunnel authentication (RFC 2661 §4.4.3, §5.1.1), both built
//! on MD5 and the tunnel secret.
//!
//! Hiding: the value becomes the subformat `original length (2) || value || padding`, XORed
//! with a key stream: `b1 = MD5(attribute type (2) || secret || random vector)`, then
//! `b(i) = MD5(secret || c(i-1))` where `c(i-1)` is the previous 16 octets of *ciphertext*. The
//! random vector is the value of the last Random Vector AVP before the hidden AVP.
//!
//! Challenge Response: `MD5(message type of the response (2 = SCCRP, 3 = SCCCN) || secret ||
//! challenge)`, the CHAP computation of RFC 1994 §4.1 with the Message Type as CHAP ID, so it
//! is `crypto::chap::md5_response`. The MD5 itself is `crypto`'s (RFC 1321).

use crypto::hash::{HashAlg, digest};

use crate::Error;

/// The key-stream block for position `i` of the subformat (16 octets, an MD5 digest).
fn block(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    prev_cipher: Option<&[u8]>,
) -> Vec<u8> {
    match prev_cipher {
        None => digest(
            HashAlg::Md5,
            &[&attr_type.to_be_bytes(), secret, random_vector],
        ),
        Some(prev) => digest(HashAlg::Md5, &[secret, prev]),
    }
}

/// Reveals a hidden AVP value: returns the original value (RFC 2661 §4.3).
pub fn reveal(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    hidden: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut plain = Vec::with_capacity(hidden.len());
    for (i, chunk) in hidden.chunks(16).enumerate() {
        let prev = match i.checked_sub(1) {
            Some(p) => hidden.get(p * 16..i * 16),
            None => None,
        };
        let b = block(attr_type, secret, random_vector, prev);
        plain.extend(chunk.iter().zip(b.iter()).map(|(c, k)| c ^ k));
    }
    let (len, rest) = plain
        .split_first_chunk::<2>()
        .ok_or(Error::Malformed(wire::Error::truncated("l2tp.avp.hidden")))?;
    let len = usize::from(u16::from_be_bytes(*len));
    let value = rest
        .get(..len)
        .ok_or(Error::Malformed(wire::Error::bad_length("l2tp.avp.hidden")))?;
    Ok(value.to_vec())
}

/// Hides `value` with `padding` extra octets (RFC 2661 §4.3); the inverse of [`reveal`].
pub fn hide(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    value: &[u8],
    padding: &[u8],
) -> Result<Vec<u8>, Error> {
    let len = u16::try_from(value.len()).map_err(|_| Error::ApiMisuse("hidden value too long"))?;
    let mut out = Vec::with_capacity(2 + value.len() + padding.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(padding);
    let mut prev = [0u8; 16];
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let b = block(
            attr_type,
            secret,
            random_vector,
            (i > 0).then_some(&prev[..]),
        );
        for (c, k) in chunk.iter_mut().zip(b.iter()) {
            *c ^= k;
        }
        if chunk.len() == 16 {
            prev.copy_from_slice(chunk);
        }
    }
    Ok(out)
}

/// The Challenge Response for a challenge, sent in the message of type `response_type`
/// (2 = SCCRP, 3 = SCCCN; RFC 2661 §4.4.3).
pub fn challenge_response(response_type: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    crypto::chap::md5_response(response_type, secret, challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(parts: &[&[u8]]) -> Vec<u8> {
        digest(HashAlg::Md5, parts)
    }

    #[test]
    fn hide_known_answer() {
        // RFC 2661 §4.3 worked by hand with the md-5 crate: Host Name (type 7) "lac1" hidden
        // with secret "s3cr3t", random vector 00..0f and two pad octets.
        let secret = b"s3cr3t";
        let rv: Vec<u8> = (0u8..16).collect();
        let b1 = md5(&[&[0x00, 0x07], secret, &rv]);
        let sub = [0x00, 0x04, b'l', b'a', b'c', b'1', 0xaa, 0xbb];
        let expected: Vec<u8> = sub.iter().zip(b1.iter()).map(|(p, k)| p ^ k).collect();
        let hidden = hide(7, secret, &rv, b"lac1", &[0xaa, 0xbb]).unwrap();
        assert_eq!(hidden, expected);
        assert_eq!(reveal(7, secret, &rv, &hidden).unwrap(), b"lac1");
    }

    #[test]
    fn hide_two_blocks() {
        // A 30-octet value: the second key block is MD5(secret || first 16 ciphertext octets).
        let secret = b"k";
        let rv = [0x42u8; 4];
        let value: Vec<u8> = (0u8..30).collect();
        let hidden = hide(14, secret, &rv, &value, &[]).unwrap();
        assert_eq!(hidden.len(), 32);
        let b2 = md5(&[secret, &hidden[..16]]);
        assert_eq!(hidden[16] ^ b2[0], value[14]);
        assert_eq!(reveal(14, secret, &rv, &hidden).unwrap(), value);
        // A different secret does not reveal it.
        assert_ne!(reveal(14, b"x", &rv, &hidden).ok(), Some(value));
    }

    #[test]
    fn reveal_malformed() {
        assert!(matches!(
            reveal(7, b"s", b"r", &[1]),
            Err(Error::Malformed(_))
        ));
        // The original length claims more than is there.
        let hidden = hide(7, b"s", b"r", b"abc", &[]).unwrap();
        assert!(matches!(
            reveal(7, b"s", b"r", &hidden[..4]),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn challenge_response_is_chap_md5() {
        // CHAP ID = message type 2, secret "secret", challenge 01 02 03 04.
        let want = md5(&[&[2u8], b"secret", &[1u8, 2, 3, 4]]);
        assert_eq!(
            challenge_response(2, b"secret", &[1, 2, 3, 4])[..],
            want[..]
        );
        assert_ne!(
            challenge_response(3, b"secret", &[1, 2, 3, 4])[..],
            want[..]
        );
    }
}
