//! The crate's error type: why a datagram was dropped or an API call refused.

/// Why a datagram was dropped or a call failed, split by cause (as in rustls): the cause picks
/// the reaction (count and drop, or a bug in the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The packet does not parse (header, Length or attribute framing).
    #[error("malformed RADIUS packet: {0}")]
    Malformed(#[from] wire::Error),
    /// The Request or Response Authenticator is wrong (wrong secret, or forged).
    #[error("bad authenticator")]
    BadAuthenticator,
    /// The Message-Authenticator is wrong (RFC 3579 §3.2).
    #[error("bad Message-Authenticator")]
    BadMessageAuthenticator,
    /// A response without the Message-Authenticator we require (BlastRADIUS, CVE-2024-3596).
    #[error("no Message-Authenticator")]
    MissingMessageAuthenticator,
    /// A datagram from an address that is not a configured server.
    #[error("datagram from an unknown server")]
    UnknownServer,
    /// A packet nobody waits for: a duplicate or late response, a code we never accept from
    /// that peer.
    #[error("unexpected packet: {0}")]
    Unexpected(&'static str),
    /// The bounded accounting queue is full; the record was not queued.
    #[error("accounting queue full")]
    QueueFull,
    /// Too many access requests are waiting; the request was not queued.
    #[error("too many requests pending")]
    Busy,
    /// No server answered (after every retransmission to every server).
    #[error("no RADIUS server answered")]
    NoResponse,
    /// The caller used the API wrongly (a password over 128 octets, no servers, ...).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
}
