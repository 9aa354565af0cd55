//! The RSA signature of IKEv1 Main Mode with signature authentication (RFC 2409 §5.1,
//! authentication method 3).
//!
//! RFC 2409 §5.1: "SIG_I or SIG_R ... is the result of the negotiated digital signature algorithm
//! applied to HASH_I or HASH_R respectively." For RSA, implementations sign HASH_I / HASH_R
//! directly with PKCS#1 v1.5 block type 1 padding (RFC 8017 §9.2 steps 3-5) **without** the
//! DigestInfo that a normal PKCS#1 v1.5 signature puts before the hash: the hash is the output of
//! the negotiated PRF, not of a named digest. strongSwan signs and verifies IKEv1 RSA
//! authentication with its `SIGN_RSA_EMSA_PKCS1_NULL` scheme for this reason
//! (`src/libcharon/sa/ikev1/authenticators/pubkey_v1_authenticator.c` in
//! <https://github.com/strongswan/strongswan>), which is the `rsa` crate's
//! [`Pkcs1v15Sign::new_unprefixed`].

use rand_core::CryptoRngCore;
use rsa::pkcs1v15::Pkcs1v15Sign;
use thiserror::Error;

use crate::{Certificate, PrivateKey, PublicKey, load};

/// Why a signature could not be made or was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The key is too short for the hash plus 11 bytes of padding (RFC 8017 §9.2 step 3).
    #[error("the RSA key is too short to sign a {0}-byte hash")]
    KeyTooShort(usize),
    /// The signature does not verify.
    #[error("the peer's RSA signature over HASH does not verify with its certificate's key")]
    Bad,
    /// The certificate holds no usable RSA key.
    #[error("the peer certificate holds no usable RSA key: {0}")]
    NoKey(String),
}

/// Signs `hash` (HASH_I or HASH_R) for the SIG payload. `rng` blinds the private-key operation.
pub fn sign(
    key: &PrivateKey,
    hash: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SignatureError> {
    key.sign_with_rng(rng, Pkcs1v15Sign::new_unprefixed(), hash)
        .map_err(|_| SignatureError::KeyTooShort(hash.len()))
}

/// Verifies a SIG payload's `sig` over `hash` with `key`.
pub fn verify_with_key(key: &PublicKey, hash: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
    key.verify(Pkcs1v15Sign::new_unprefixed(), hash, sig)
        .map_err(|_| SignatureError::Bad)
}

/// Verifies a SIG payload's `sig` over `hash` with the key of the peer's certificate.
pub fn verify(cert: &Certificate, hash: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
    let key = load::public_key(cert).map_err(|e| SignatureError::NoKey(e.to_string()))?;
    verify_with_key(&key, hash, sig)
}
