//! Hash functions and HMAC, used as the IKEv1 hash and pseudo-random function.
//!
//! RFC 2409 §4: "the HMAC version of the negotiated hash algorithm is used as a default prf".
//! HMAC is RFC 2104; the hash algorithms are MD5 (RFC 1321), SHA-1 and SHA-2 (FIPS 180-4), with
//! the IKEv1 Hash Algorithm codepoints of RFC 2409 Appendix A and RFC 4868 §2.
//!
//! These helpers allocate their output; they run on the control plane (a few calls per
//! handshake). The per-packet ESP integrity path is [`crate::integ`], which does not allocate.

use hmac::{Hmac, Mac};
use sha2::Digest;

/// A hash algorithm, usable as a plain hash or (through HMAC) as the IKEv1 PRF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlg {
    /// MD5 (RFC 1321); IKEv1 Hash Algorithm 1.
    Md5,
    /// SHA-1; IKEv1 Hash Algorithm 2.
    Sha1,
    /// SHA2-256; IKEv1 Hash Algorithm 4.
    Sha256,
    /// SHA2-384; IKEv1 Hash Algorithm 5.
    Sha384,
    /// SHA2-512; IKEv1 Hash Algorithm 6.
    Sha512,
}

impl HashAlg {
    /// The digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Maps an IKEv1 Hash Algorithm attribute value (RFC 2409 Appendix A; 4-6 from RFC 4868 §2)
    /// to the algorithm, if supported.
    pub const fn from_ike_id(id: u16) -> Option<Self> {
        match id {
            1 => Some(Self::Md5),
            2 => Some(Self::Sha1),
            4 => Some(Self::Sha256),
            5 => Some(Self::Sha384),
            6 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The IKEv1 Hash Algorithm attribute value.
    pub const fn ike_id(self) -> u16 {
        match self {
            Self::Md5 => 1,
            Self::Sha1 => 2,
            Self::Sha256 => 4,
            Self::Sha384 => 5,
            Self::Sha512 => 6,
        }
    }
}

fn digest_with<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = D::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

fn hmac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length (RFC 2104 §2), so `new_from_slice` cannot fail.
    let Ok(mut m) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Hashes the concatenation of `parts`.
pub fn digest(alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    match alg {
        HashAlg::Md5 => digest_with::<md5::Md5>(parts),
        HashAlg::Sha1 => digest_with::<sha1::Sha1>(parts),
        HashAlg::Sha256 => digest_with::<sha2::Sha256>(parts),
        HashAlg::Sha384 => digest_with::<sha2::Sha384>(parts),
        HashAlg::Sha512 => digest_with::<sha2::Sha512>(parts),
    }
}

/// HMAC of the concatenation of `parts` under `key` (RFC 2104): the IKEv1 `prf` of RFC 2409 §4.
///
/// The output is `alg.output_len()` bytes. Callers that derive keys wrap it in a
/// [`crate::Secret`].
pub fn prf(alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match alg {
        HashAlg::Md5 => hmac_with::<Hmac<md5::Md5>>(key, parts),
        HashAlg::Sha1 => hmac_with::<Hmac<sha1::Sha1>>(key, parts),
        HashAlg::Sha256 => hmac_with::<Hmac<sha2::Sha256>>(key, parts),
        HashAlg::Sha384 => hmac_with::<Hmac<sha2::Sha384>>(key, parts),
        HashAlg::Sha512 => hmac_with::<Hmac<sha2::Sha512>>(key, parts),
    }
}
