//! The engine's internal error type: why one datagram was dropped.

use crate::event::RefuseReason;

/// Why a datagram was not processed. Split by cause: the cause picks the reaction (count and
/// drop, or refuse the negotiation with an event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram does not parse.
    #[error("malformed ISAKMP message: {0}")]
    Malformed(#[from] wire::Error),
    /// The peer broke the protocol (wrong state, bad hash, missing payload).
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(&'static str),
    /// Something we do not implement.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The negotiation is refused; the reason is reported as an event.
    #[error("refused: {0}")]
    Refused(RefuseReason),
    /// Over a rate limit: the message is dropped without harm to its SA, whose peer
    /// retransmits.
    #[error("rate-limited: {0}")]
    RateLimited(RefuseReason),
    /// A crypto operation failed (inconsistent lengths after negotiation).
    #[error("crypto: {0}")]
    Crypto(#[from] crypto::Error),
}
