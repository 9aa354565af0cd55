//! Sans-IO PPP (RFC 1661) for an L2TP network server: the LCP/IPCP option automaton,
//! the authenticator side of MS-CHAPv2 (RFC 2759), CHAP-MD5 (RFC 1994), MS-CHAPv1 (RFC 2433)
//! and PAP (RFC 1334), IPCP address assignment with DNS/NBNS (RFC 1332, RFC 1877), LCP echo
//! keepalive, and a minimal client role for tests.
//!
//! # Contract
//! [`Link`] is one PPP session in the authenticator role, [`Peer`] the client role: both are
//! an [`Endpoint`], which holds what the roles share (LCP, the phases, the output queues, IPv4
//! encapsulation), over a role ([`role::Server`], [`role::Client`]). Both are driven the quinn
//! way: feed input with `handle_frame(now, frame, ..)` and
//! `handle_timeout(now)`, then drain `poll_transmit()`, `poll_event()` and `poll_timeout()`.
//! Nothing here reads the clock, the OS random generator, sockets or threads: time is the
//! `now: Instant` passed in, randomness comes from the `rng_seed` (LCP magic numbers, CHAP
//! challenges). Frames are PPP frames as carried in L2TP data messages (RFC 2661 §5.2):
//! `FF 03` may or may not be present and the protocol may be compressed; both forms are always
//! accepted. We send `FF 03` and an uncompressed protocol.
//!
//! Credentials are looked up through the [`Authenticator`] trait so that the server (users file,
//! address pool) can answer. A look-up may also answer [`Lookup::Remote`]: the link then checks
//! nothing itself, hands the challenge and the peer's response out as [`Event::AuthRequest`]
//! and waits for [`Link::resolve_auth`] with the verdict of a remote verifier such as a RADIUS
//! server (RFC 2865); see [`remote`] for the flow (RFC 2759 §5-§6, RFC 1994 §4). Secrets never
//! reach logs or `Debug`.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod auth;
mod config;
mod endpoint;
mod fsm;
mod ipcp;
mod lcp;
mod link;
mod peer;
pub mod remote;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::Ipv4Addr;

pub use auth::{AuthFailure, Authenticator, Credential, Lookup};
pub use config::{AuthProtocol, LinkConfig, PeerConfig};
pub use endpoint::Endpoint;
pub use fsm::State;
pub use link::Link;
pub use peer::Peer;
pub use remote::{
    Accept, AuthRequest, AuthResponse, AuthTicket, AuthVerdict, FramedAddress, FramedRoute,
    RateLimit, Reject,
};

/// The roles an [`Endpoint`] takes: each holds what only that role needs.
pub mod role {
    pub use crate::link::Server;
    pub use crate::peer::Client;
}

/// The Windows error a user sees when authentication fails: ERROR_AUTHENTICATION_FAILURE,
/// 691 in Microsoft's RAS error codes (`raserror.h`).
pub const WINDOWS_ERROR_AUTH_FAILURE: u32 = 691;

/// Something that happened on a link, drained with `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer authenticated (authenticator role) or we authenticated to the server (peer role).
    Authenticated {
        /// The user name the peer gave.
        user: String,
        /// The method used.
        method: AuthProtocol,
    },
    /// An authentication attempt failed.
    AuthFailed {
        /// The user name the peer gave.
        user: String,
        /// Why, in plain words (see `Display`).
        reason: AuthFailure,
        /// The Windows error the user will see (691, or a remote verifier's code).
        windows_error: u32,
    },
    /// The [`Authenticator`] answered [`Lookup::Remote`]: this attempt awaits a verdict, given
    /// with [`Link::resolve_auth`] and `ticket` (see [`remote`]).
    AuthRequest {
        /// Names the attempt in [`Link::resolve_auth`].
        ticket: AuthTicket,
        /// What the remote verifier needs (the peer's answer redacted in `Debug`).
        request: Box<AuthRequest>,
    },
    /// IPCP opened. In the authenticator role `peer_addr` is the address assigned to the client;
    /// in the peer role it is our own assigned address and `our_addr` the server's.
    IpUp {
        /// The client's address.
        peer_addr: Ipv4Addr,
        /// The server's address.
        our_addr: Ipv4Addr,
        /// Primary and secondary DNS given to the client.
        dns: [Option<Ipv4Addr>; 2],
        /// Primary and secondary WINS (NBNS) given to the client.
        wins: [Option<Ipv4Addr>; 2],
    },
    /// An LCP Identification message (RFC 1570), e.g. `MSRASV5.10` or `MSRAS-0-<host>`.
    /// Binary messages are shown as `0x` and hex.
    Identification(String),
    /// The link is down; nothing more will happen on it. An assigned address (see
    /// [`Link::assigned_address`]) should go back to the pool.
    Down {
        /// Why.
        reason: DownReason,
    },
}

/// Why a link went down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// No answer to `echo_failures` LCP Echo-Requests.
    DeadPeer,
    /// The peer sent an LCP Terminate-Request.
    PeerTerminated,
    /// Negotiation did not converge or the restart counter ran out.
    NegotiationFailed(&'static str),
    /// Authentication failed too often, or the peer stopped answering challenges.
    AuthFailed,
    /// The peer's configure requests carry our own magic number: the link is looped back.
    LoopDetected,
    /// The address source had no address for this user.
    NoAddress,
    /// The server's MS-CHAPv2 authenticator response was wrong (peer role; Windows error 778).
    ServerNotAuthenticated,
    /// `close` was called.
    LocalClose(String),
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeadPeer => f.write_str("peer stopped answering LCP echo requests"),
            Self::PeerTerminated => f.write_str("peer terminated the link"),
            Self::NegotiationFailed(what) => write!(f, "negotiation failed: {what}"),
            Self::AuthFailed => f.write_str("authentication failed (Windows error 691)"),
            Self::LoopDetected => f.write_str("link is looped back (own magic number seen)"),
            Self::NoAddress => f.write_str("no IP address available for this user"),
            Self::ServerNotAuthenticated => {
                f.write_str("server authenticator response invalid (Windows error 778)")
            }
            Self::LocalClose(reason) => write!(f, "closed locally: {reason}"),
        }
    }
}

/// Counters of one link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Frames received.
    pub frames_in: u64,
    /// Octets received (whole frames).
    pub bytes_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Octets sent (whole frames).
    pub bytes_out: u64,
    /// IPv4 packets handed up.
    pub ip_packets_in: u64,
    /// IPv4 packets encapsulated.
    pub ip_packets_out: u64,
    /// IPv4 packets dropped because their source is not the assigned address.
    pub spoofed_drops: u64,
    /// Frames dropped because they could not be parsed.
    pub malformed_drops: u64,
    /// Frames silently discarded because of the phase (e.g. IP before IPCP is open).
    pub discarded: u64,
    /// LCP Protocol-Rejects sent (CCP, IPV6CP, unknown protocols).
    pub protocol_rejects: u64,
    /// Outgoing IPv4 packets dropped as larger than the peer's MRU.
    pub oversize_drops: u64,
}

/// Errors of the PPP engine, split by cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame could not be parsed; it was dropped and counted.
    #[error("malformed frame: {0}")]
    Malformed(#[from] wire::Error),
    /// The caller used the API in a way the current state does not allow.
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
}

/// A printable form of an Identification message: text when it is printable UTF-8, else hex.
fn printable(message: &[u8]) -> String {
    match core::str::from_utf8(message) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_owned(),
        _ => {
            let mut s = String::from("0x");
            for b in message {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
    }
}
