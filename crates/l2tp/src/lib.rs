//! A sans-IO L2TPv2 LNS (RFC 2661), and a minimal LAC.
//!
//! # Contract
//!
//! [`Lns`] holds every tunnel of **one** IKE peer (one outer 4-tuple): the server creates one
//! per peer, so tunnel IDs chosen by different clients never meet (the SoftEther model;
//! Windows numbers tunnels by attempts since boot and iOS always uses 1).
//! It never touches sockets, the clock or the OS RNG: time is passed in as `now`, randomness
//! comes from the seed given to [`Lns::new`]. The driving surface is quinn's:
//!
//! - inputs: [`Lns::handle_datagram`] (the UDP payload of an L2TP datagram from the peer, and
//!   the peer's UDP source port, which is learned per tunnel) and [`Lns::handle_timeout`];
//! - outputs, drained after every input: [`Lns::poll_transmit`] (control messages, ZLB acks,
//!   Hellos, retransmissions), [`Lns::poll_event`] and [`Lns::poll_timeout`].
//!
//! Data messages never queue: `handle_datagram` returns the PPP frame of an established session
//! as a slice of its input (zero copy), and [`Lns::encode_data`] frames PPP for the peer.
//!
//! # What is implemented
//!
//! - The reliable control channel of RFC 2661 §5.8: Ns/Nr, the peer's receive
//!   window honoured and ours advertised, in-order delivery with a reorder buffer, duplicates
//!   acknowledged and dropped, retransmission with exponential backoff and a cap, ZLB acks,
//!   and teardown after the retransmission limit. Hello keepalive (§6.5).
//! - Bounded state for a peer that is already through IPsec but misbehaves: tunnels per peer
//!   and sessions per tunnel are capped, and requests over a cap are refused (StopCCN or CDN,
//!   result "general error" or "temporary lack of facilities" with General Error Code 4,
//!   insufficient resources, §4.4.2) without creating tunnel or session state. At most
//!   `max_queued_control` control messages per tunnel wait for the peer's acknowledgement; a
//!   peer that stops acknowledging while it keeps sending (e.g. a flood of ICRQs over the
//!   session limit behind a receive window of 1) has its tunnel torn down with one StopCCN
//!   instead of growing our queue.
//! - The tunnel state machine of §7.2 (SCCRQ, SCCRP, SCCCN, StopCCN), with optional tunnel
//!   authentication (Challenge / Challenge Response, §5.1.1) and hidden AVPs (§4.3) when a
//!   secret is configured.
//! - The incoming-call session state machine of §7.4 (ICRQ, ICRP, ICCN, CDN). Outgoing calls
//!   are refused with a CDN. WAN-Error-Notify and Set-Link-Info are accepted.
//! - Unknown AVPs with the M bit set tear down the session or tunnel with Result Code 2 and
//!   General Error Code 8 (§4.1, §4.4.2); without the M bit they are ignored.
//! - Windows' StopCCN/CDN with a wrong tunnel ID are matched within the peer (xl2tpd CHANGES,
//!   v1.1.05).
//! - [`Lac`]: a minimal but real LAC (one or more tunnels, incoming calls) so that tests can
//!   pair the two roles in memory.
//!
//! Both roles are one [`Endpoint`] type over the same engine: [`Lns`] and [`Lac`] are
//! `Endpoint<role::Lns>` and `Endpoint<role::Lac>`, which share the driving surface and differ
//! only in their constructors and the LAC's call-placing methods.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod channel;
pub mod codes;
mod config;
mod engine;
mod error;
mod event;
pub mod hidden;
mod message;

pub use config::{
    DEFAULT_HELLO_INTERVAL, DEFAULT_MAX_QUEUED_CONTROL, DEFAULT_MAX_RETRANSMITS,
    DEFAULT_PEER_WINDOW, DEFAULT_RETRANSMIT_CAP, DEFAULT_RETRANSMIT_INITIAL, DataSequencing,
    LacConfig, LnsConfig, Retransmit, TunnelSecret,
};
pub use engine::{Data, DataFraming, Endpoint, SessionInfo, Stats, Transmit};
pub use error::Error;
pub use event::{Disconnect, Event, Framing, Initiator, Scope, SessionKey};

use engine::{Common, Role};

/// The roles an [`Endpoint`] takes (type-level markers; they have no values).
pub mod role {
    /// The L2TP Network Server: answers tunnels and incoming calls ([`crate::Lns`]).
    #[derive(Debug)]
    pub enum Lns {}

    /// The L2TP Access Concentrator: places tunnels and incoming calls ([`crate::Lac`]).
    #[derive(Debug)]
    pub enum Lac {}
}

/// The L2TP Network Server for one peer: all of that peer's tunnels and sessions.
pub type Lns = Endpoint<role::Lns>;

/// A minimal L2TP Access Concentrator: it opens tunnels and incoming calls towards an LNS.
pub type Lac = Endpoint<role::Lac>;

impl Endpoint<role::Lns> {
    /// Creates the LNS of one peer. `rng_seed` drives tunnel and session IDs, challenges and
    /// random vectors.
    pub fn new(config: LnsConfig, rng_seed: [u8; 32]) -> Self {
        Self::with(
            Common {
                role: Role::Lns,
                host_name: config.host_name,
                vendor_name: config.vendor_name,
                firmware_revision: config.firmware_revision,
                receive_window: config.receive_window,
                hello_interval: config.hello_interval,
                retransmit: config.retransmit,
                secret: config.secret,
                max_tunnels: config.max_tunnels,
                max_sessions: config.max_sessions_per_tunnel,
                max_queued: config
                    .max_queued_control
                    .max(config.max_sessions_per_tunnel.saturating_add(8)),
                data_sequencing: config.data_sequencing,
                data_length_field: config.data_length_field,
                hide_avps: false,
                fixed_tunnel_id: None,
                next_session_id: None,
                request_sequencing: false,
            },
            rng_seed,
        )
    }
}

impl Endpoint<role::Lac> {
    /// Creates a LAC.
    pub fn new(config: LacConfig, rng_seed: [u8; 32]) -> Self {
        Self::with(
            Common {
                role: Role::Lac,
                host_name: config.host_name,
                vendor_name: config.vendor_name,
                firmware_revision: config.firmware_revision,
                receive_window: config.receive_window,
                hello_interval: config.hello_interval,
                retransmit: config.retransmit,
                secret: config.secret,
                max_tunnels: usize::MAX,
                max_sessions: usize::from(u16::MAX),
                max_queued: usize::MAX,
                data_sequencing: DataSequencing::OnRequest,
                data_length_field: config.data_length_field,
                hide_avps: config.hide_avps,
                fixed_tunnel_id: config.tunnel_id,
                next_session_id: config.first_session_id,
                request_sequencing: config.request_sequencing,
            },
            rng_seed,
        )
    }
}
