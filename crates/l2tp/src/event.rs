//! What the engine reports to its owner.

use std::fmt;

use crate::codes;

/// One session: our tunnel ID and our session ID, unique within one [`crate::Lns`] (one peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// Our tunnel ID.
    pub tunnel: u16,
    /// Our session ID.
    pub session: u16,
}

/// Who ended a tunnel or session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// We did (API call, limit, protocol error, peer silent).
    Local,
    /// The peer did (StopCCN or CDN received).
    Peer,
}

/// Whether a result code comes from a StopCCN or a CDN (they have different tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A StopCCN result code: the tunnel.
    Tunnel,
    /// A CDN result code: the session.
    Session,
}

impl Scope {
    /// A [`Disconnect`] whose result code is from this scope's table.
    pub(crate) fn reason(
        self,
        initiator: Initiator,
        result: u16,
        error: Option<u16>,
        message: Option<String>,
    ) -> Disconnect {
        Disconnect {
            initiator,
            scope: self,
            result,
            error,
            message,
        }
    }
}

/// Why a tunnel or session went down, with the codes mapped to plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Who ended it.
    pub initiator: Initiator,
    /// Which table `result` is from.
    pub scope: Scope,
    /// Result code (RFC 2661 §4.4.2).
    pub result: u16,
    /// General error code, if any.
    pub error: Option<u16>,
    /// The peer's (or our) error message, if any.
    pub message: Option<String>,
}

impl Disconnect {
    /// The words for the result code.
    pub fn result_text(&self) -> &'static str {
        match self.scope {
            Scope::Tunnel => codes::stopccn_result_text(self.result),
            Scope::Session => codes::cdn_result_text(self.result),
        }
    }

    /// The words for the error code.
    pub fn error_text(&self) -> Option<&'static str> {
        self.error.map(codes::error_text)
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.initiator {
            Initiator::Local => "we",
            Initiator::Peer => "the peer",
        };
        write!(
            f,
            "{who} closed it: {} (result {})",
            self.result_text(),
            self.result
        )?;
        if let (Some(e @ 1..), Some(t)) = (self.error, self.error_text()) {
            write!(f, ", {t} (error {e})")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// PPP framing of a session (the Framing Type AVP of the ICCN, RFC 2661 §4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Synchronous framing.
    pub sync: bool,
    /// Asynchronous framing.
    pub async_: bool,
}

impl Framing {
    pub(crate) fn from_bits(bits: u32) -> Self {
        Self {
            sync: bits & wire::l2tp::framing::SYNC != 0,
            async_: bits & wire::l2tp::framing::ASYNC != 0,
        }
    }
}

/// An event for the owner of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A control connection is established (after SCCCN).
    TunnelUp {
        /// Our tunnel ID.
        tunnel: u16,
        /// The peer's tunnel ID.
        peer_tunnel: u16,
        /// The peer's Host Name AVP.
        peer_host_name: String,
        /// The peer's Vendor Name AVP.
        vendor: Option<String>,
    },
    /// A session is established (after ICCN): PPP frames may flow.
    SessionUp {
        /// The session.
        key: SessionKey,
        /// The peer's session ID.
        peer_session: u16,
        /// The peer's Host Name AVP.
        peer_host_name: String,
        /// The peer's Vendor Name AVP.
        vendor: Option<String>,
        /// The Framing Type.
        framing: Framing,
        /// Whether data messages carry Ns/Nr.
        sequencing: bool,
    },
    /// A session ended (CDN either way, or its tunnel ended).
    SessionDown {
        /// The session.
        key: SessionKey,
        /// Why.
        reason: Disconnect,
    },
    /// A tunnel ended (StopCCN either way, or the peer stopped answering).
    TunnelDown {
        /// Our tunnel ID.
        tunnel: u16,
        /// Why.
        reason: Disconnect,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let d = Disconnect {
            initiator: Initiator::Peer,
            scope: Scope::Tunnel,
            result: 2,
            error: Some(8),
            message: Some("vendor 9 type 77".into()),
        };
        assert_eq!(
            d.to_string(),
            "the peer closed it: general error (result 2), shut down because of an unknown AVP \
             with the M bit set (error 8): vendor 9 type 77"
        );
        let d = Disconnect {
            initiator: Initiator::Local,
            scope: Scope::Session,
            result: 3,
            error: None,
            message: None,
        };
        assert_eq!(
            d.to_string(),
            "we closed it: call disconnected for administrative reasons (result 3)"
        );
    }
}
