//! Cryptographic primitives and key derivations: ciphers, HMACs, Diffie-Hellman, the IKEv1 key
//! schedule (RFC 2409 §5), and PPP authentication math (RFC 1994, 2433, 2759).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]
#![warn(missing_docs)]
