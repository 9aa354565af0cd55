//! X.509 certificates for IKEv1 authentication with RSA signatures.
//!
//! This crate holds everything the IKE engine and the daemon need to authenticate peers with
//! certificates (RFC 2409 §5.1, authentication method 3), built on RustCrypto's `x509-cert`,
//! `der`, `spki` and `rsa` crates (no hand-written ASN.1 or RSA):
//!
//! - [`load`]: certificates, RSA private keys (PKCS#1 and PKCS#8) and CRLs from PEM or DER;
//! - [`verify`]: a [`Verifier`] built from CA certificates and CRLs that validates a peer's chain
//!   (RFC 5280 §6, reduced to what remote access needs: signatures, validity, basicConstraints,
//!   keyUsage, extendedKeyUsage, CRL revocation, RSA key size);
//! - [`identity`]: the IKEv1 ID payload (RFC 2407 §4.6.2.1) checked against the certificate, and
//!   the [`IdentityPattern`] that says which clients are accepted;
//! - [`ikev1`]: the RFC 2409 §5.1 signature over HASH_I / HASH_R (PKCS#1 v1.5 padding, no
//!   DigestInfo);
//! - [`lint`]: what Windows clients will refuse in the server's own certificate;
//! - [`issue`]: building CA, server and client certificates and CRLs (for `l2tpd-rs pki` and tests).
//!
//! The crate is sans-IO like the engines: it reads no files and no clock. The current time comes
//! in as a `now: SystemTime` argument (certificate validity is wall-clock time, unlike the engines'
//! `Instant`), and randomness (RSA blinding) as a caller-provided RNG.

#![warn(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod identity;
pub mod ikev1;
pub mod issue;
pub mod lint;
pub mod load;
pub mod verify;

mod text;

pub use identity::{Identity, IdentityError, IdentityPattern};
pub use load::{LoadError, PrivateKey};
pub use verify::{ChainError, Verified, Verifier};

/// An X.509 certificate (RFC 5280 §4.1), as decoded by `x509-cert`.
pub type Certificate = x509_cert::Certificate;
/// A certificate revocation list (RFC 5280 §5.1), as decoded by `x509-cert`.
pub type Crl = x509_cert::crl::CertificateList;
/// An RSA public key.
pub type PublicKey = rsa::RsaPublicKey;

/// Smallest RSA modulus accepted anywhere in a chain, in bits.
///
/// Windows refuses RSA keys under 1024 bits in certificate chains since the August 2012 update
/// described in Microsoft's "RSA keys under 1024 bits are blocked"
/// (<https://learn.microsoft.com/en-us/archive/blogs/pki/rsa-keys-under-1024-bits-are-blocked>).
pub const MIN_RSA_BITS: usize = 1024;

/// The subject of `cert` in words, as refusals print it (`CN=alice,O=Example`).
pub fn subject_text(cert: &Certificate) -> String {
    text::subject(cert)
}

/// The DER encoding of the subject Name of `cert`: the data of an ID_DER_ASN1_DN payload
/// (RFC 2407 §4.6.2.1) and the Certificate Authority of a CERTREQ (RFC 2408 §3.10).
pub fn subject_der(cert: &Certificate) -> Result<Vec<u8>, der::Error> {
    der::Encode::to_der(&cert.tbs_certificate.subject)
}

/// The DER encoding of `cert` (the data of a CERT payload, RFC 2408 §3.9).
pub fn certificate_der(cert: &Certificate) -> Result<Vec<u8>, der::Error> {
    der::Encode::to_der(cert)
}
