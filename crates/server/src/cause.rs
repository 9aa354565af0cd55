//! Why a session ended, as a small set of causes ([`EndCause`]) beside the plain-words reason
//! of [`crate::Event::SessionDown`]. The daemon's accounting turns it into Acct-Terminate-Cause
//! (RFC 2866 §5.10); hooks and metrics may use it too.
//!
//! Where each cause comes from:
//!
//! | what happened | cause |
//! |---|---|
//! | the client sent LCP Terminate-Request (RFC 1661 §5.5), a CDN or a StopCCN (RFC 2661 §5.7) | [`EndCause::ClientRequest`] |
//! | the client stopped answering LCP Echo-Requests (RFC 1661 §5.8), IKE dead peer detection (RFC 3706) or L2TP retransmissions (RFC 2661 §5.8) | [`EndCause::LostCarrier`] |
//! | the IPsec SAs under the session went away (deleted or expired) before L2TP and PPP said goodbye | [`EndCause::LostService`] |
//! | the idle timeout ran out | [`EndCause::IdleTimeout`] |
//! | the session timeout ran out | [`EndCause::SessionTimeout`] |
//! | `kick` (any target), a Disconnect-Request, or the user removed or disabled in a users reload | [`EndCause::AdminReset`] |
//! | the server shutting down | [`EndCause::Shutdown`] |
//! | authentication failed (the session never came up) | [`EndCause::AuthFailed`] |
//! | PPP or L2TP negotiation failed, no address, a protocol error | [`EndCause::Failed`] |
//!
//! When the server itself ends a session (kick, limits, shutdown) the cause is fixed at that
//! moment; the PPP and L2TP goodbyes that follow do not change it.

use std::fmt;

/// Why a session ended (see the module documentation for where each comes from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndCause {
    /// The client hung up: LCP Terminate-Request, CDN or StopCCN from it.
    ClientRequest,
    /// The client stopped answering (LCP echo, dead peer detection, L2TP retransmissions).
    LostCarrier,
    /// The IPsec SAs carrying the session went away first.
    LostService,
    /// The idle timeout ran out.
    IdleTimeout,
    /// The session timeout ran out.
    SessionTimeout,
    /// An administrator ended it: `kick`, a Disconnect-Request, or the user removed or
    /// disabled in users.yaml.
    AdminReset,
    /// The server is shutting down.
    Shutdown,
    /// Authentication failed: the session never came up.
    AuthFailed,
    /// Negotiation failed or a protocol error ended it.
    Failed,
}

impl EndCause {
    /// A short, stable name (for hooks and metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientRequest => "client_request",
            Self::LostCarrier => "lost_carrier",
            Self::LostService => "lost_service",
            Self::IdleTimeout => "idle_timeout",
            Self::SessionTimeout => "session_timeout",
            Self::AdminReset => "admin_reset",
            Self::Shutdown => "shutdown",
            Self::AuthFailed => "auth_failed",
            Self::Failed => "failed",
        }
    }

    /// The cause of a PPP link going down on its own.
    pub(crate) fn from_ppp(reason: &ppp::DownReason) -> Self {
        match reason {
            ppp::DownReason::PeerTerminated => Self::ClientRequest,
            ppp::DownReason::DeadPeer => Self::LostCarrier,
            ppp::DownReason::AuthFailed => Self::AuthFailed,
            // `close` is only called by the server, which fixed the cause before.
            ppp::DownReason::LocalClose(_) => Self::AdminReset,
            _ => Self::Failed,
        }
    }

    /// The cause of an L2TP session or tunnel ending on its own.
    pub(crate) fn from_l2tp(reason: &l2tp::Disconnect) -> Self {
        match reason.initiator {
            l2tp::Initiator::Peer => Self::ClientRequest,
            // RFC 2661 §5.8: the tunnel is cleared when the peer stops acknowledging; that is
            // the one local StopCCN with the general error and no error code.
            l2tp::Initiator::Local
                if reason.scope == l2tp::Scope::Tunnel
                    && reason.result == l2tp::codes::stopccn::GENERAL_ERROR
                    && reason.error.is_none() =>
            {
                Self::LostCarrier
            }
            l2tp::Initiator::Local => Self::Failed,
        }
    }
}

impl fmt::Display for EndCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppp_and_l2tp_reasons_map_to_causes() {
        assert_eq!(
            EndCause::from_ppp(&ppp::DownReason::PeerTerminated),
            EndCause::ClientRequest
        );
        assert_eq!(
            EndCause::from_ppp(&ppp::DownReason::DeadPeer),
            EndCause::LostCarrier
        );
        assert_eq!(
            EndCause::from_ppp(&ppp::DownReason::AuthFailed),
            EndCause::AuthFailed
        );
        assert_eq!(
            EndCause::from_ppp(&ppp::DownReason::NoAddress),
            EndCause::Failed
        );
        let d = |initiator, scope, result, error| l2tp::Disconnect {
            initiator,
            scope,
            result,
            error,
            message: None,
        };
        use l2tp::{Initiator, Scope};
        assert_eq!(
            EndCause::from_l2tp(&d(Initiator::Peer, Scope::Session, 3, None)),
            EndCause::ClientRequest
        );
        assert_eq!(
            EndCause::from_l2tp(&d(Initiator::Peer, Scope::Tunnel, 1, None)),
            EndCause::ClientRequest
        );
        assert_eq!(
            EndCause::from_l2tp(&d(Initiator::Local, Scope::Tunnel, 2, None)),
            EndCause::LostCarrier
        );
        assert_eq!(
            EndCause::from_l2tp(&d(Initiator::Local, Scope::Tunnel, 2, Some(4))),
            EndCause::Failed
        );
        assert_eq!(
            EndCause::from_l2tp(&d(Initiator::Local, Scope::Session, 2, Some(8))),
            EndCause::Failed
        );
    }
}
