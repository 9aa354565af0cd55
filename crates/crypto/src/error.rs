//! The crypto layer's error type.

/// Errors returned by this crate.
///
/// Split by cause, as the engines decide their reaction from it: a [`Error::PeerInvalidPublic`]
/// means the peer sent a bad Diffie-Hellman value (IKE answers with a Notify or drops), while
/// [`Error::InvalidKeyLength`] and [`Error::InvalidLength`] mean the caller passed inconsistent
/// sizes (negotiation bug or malformed packet that escaped the wire layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key had the wrong length for the chosen algorithm.
    #[error("invalid key length {got} for {alg} (expected {expected})")]
    InvalidKeyLength {
        /// The algorithm the key was meant for.
        alg: &'static str,
        /// The length that was expected.
        expected: usize,
        /// The length that was supplied.
        got: usize,
    },
    /// A buffer or IV had a length the operation cannot work with (for example ciphertext that is
    /// not a whole number of blocks).
    #[error("invalid length for {what}: {got}")]
    InvalidLength {
        /// What had the wrong length.
        what: &'static str,
        /// The length that was supplied.
        got: usize,
    },
    /// The peer's Diffie-Hellman public value is invalid (wrong length, out of range, 0, 1, p-1,
    /// or not a point on the curve).
    #[error("invalid peer Diffie-Hellman public value for {group}")]
    PeerInvalidPublic {
        /// The group name.
        group: &'static str,
    },
    /// The OpenSSL library failed an operation that cannot fail on valid input (in practice: it
    /// could not allocate memory).
    #[error("OpenSSL failed: {what}")]
    Backend {
        /// The operation that failed.
        what: &'static str,
    },
}
