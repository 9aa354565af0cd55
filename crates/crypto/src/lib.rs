//! Cryptographic primitives and key derivations: ciphers, HMACs, Diffie-Hellman, the IKEv1 key
//! schedule (RFC 2409 §5), and PPP authentication math (RFC 1994, 2433, 2759).
//!
//! # Contract
//!
//! This crate is deterministic and sans-IO: it never reads the clock or the operating-system
//! random number generator. Functions that need randomness (Diffie-Hellman private values) take
//! a caller-supplied `RngCore + CryptoRng`, normally a `ChaCha20Rng` seeded by the daemon.
//!
//! Every value that is secret (pre-shared keys, passwords, derived keys, key schedules, private
//! exponents) lives in a type that zeroizes on drop and whose `Debug` output is redacted; see
//! [`Secret`]. MAC and hash comparisons use [`ct_eq`] (constant time, `subtle`).
//!
//! The primitives are RustCrypto crates (`md4`, `md-5`, `sha1`, `sha2`, `hmac`, `des`, `aes`,
//! `cbc`, `p256`, `p384`, `crypto-bigint`) and, for 3DES where it is measured much faster,
//! OpenSSL through the `openssl` crate (built from source, `vendored`); see [`cipher`]. Nothing
//! here re-implements a cipher or hash.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

pub mod chap;
pub mod cipher;
pub mod dh;
mod error;
pub mod hash;
pub mod ikev1;
pub mod integ;
pub mod mppe;
pub mod mschap;
mod secret;

pub use error::Error;
pub use secret::{Secret, ct_eq};

/// Hooks for the fuzz targets in `fuzz/` (compiled only with `cfg(fuzzing)`).
#[cfg(fuzzing)]
pub mod fuzzing {
    use rand::SeedableRng;

    /// A Diffie-Hellman private value drawn from a ChaCha20 RNG seeded with `seed`.
    pub fn dh_private(group: crate::dh::DhGroup, seed: [u8; 32]) -> crate::dh::DhPrivate {
        group
            .generate(&mut rand_chacha::ChaCha20Rng::from_seed(seed))
            .0
    }
}
