//! The engine's error type: why one datagram or one API call was refused.

/// Why a datagram was dropped or an API call failed. Split by cause, as in rustls: the cause
/// picks the reaction (count and drop, StopCCN/CDN, or a bug in the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram does not parse (header, AVP chain or a mandatory AVP value).
    #[error("malformed L2TP message: {0}")]
    Malformed(#[from] wire::Error),
    /// The peer broke the protocol (a missing required AVP, a message in the wrong state).
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(&'static str),
    /// Something we do not implement, such as a hidden AVP without a tunnel secret.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The message names a tunnel this peer does not have.
    #[error("no tunnel {0} for this peer")]
    UnknownTunnel(u16),
    /// The message names a session that does not exist or is not established.
    #[error("no established session {session} in tunnel {tunnel}")]
    UnknownSession {
        /// Our tunnel ID.
        tunnel: u16,
        /// Our session ID.
        session: u16,
    },
    /// A configured limit (tunnels per peer, sessions per tunnel) was reached.
    #[error("limit reached: {0}")]
    LimitReached(&'static str),
    /// The caller used the API wrongly (e.g. a LAC call on a tunnel that is not up).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
}
