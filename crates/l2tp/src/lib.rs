//! A sans-IO L2TPv2 LNS (RFC 2661), and a minimal LAC.
//!
//! # Contract
//!
//! [`Lns`] holds every tunnel of **one** IKE peer (one outer 4-tuple): the server creates one
//! per peer, so tunnel IDs chosen by different clients never meet (the SoftEther model,
//! clients.md A.1 / E.1; Windows numbers tunnels by attempts since boot and iOS always uses 1).
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
//! - The tunnel state machine of §7.2 (SCCRQ, SCCRP, SCCCN, StopCCN), with optional tunnel
//!   authentication (Challenge / Challenge Response, §5.1.1) and hidden AVPs (§4.3) when a
//!   secret is configured.
//! - The incoming-call session state machine of §7.4 (ICRQ, ICRP, ICCN, CDN). Outgoing calls
//!   are refused with a CDN. WAN-Error-Notify and Set-Link-Info are accepted.
//! - Unknown AVPs with the M bit set tear down the session or tunnel with Result Code 2 and
//!   General Error Code 8 (§4.1, §4.4.2); without the M bit they are ignored.
//! - Windows' StopCCN/CDN with a wrong tunnel ID are matched within the peer (clients.md C.3).
//! - [`Lac`]: a minimal but real LAC (one or more tunnels, incoming calls) so that tests can
//!   pair the two roles in memory.
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

use std::time::Instant;

pub use config::{
    DEFAULT_HELLO_INTERVAL, DEFAULT_MAX_RETRANSMITS, DEFAULT_PEER_WINDOW, DEFAULT_RETRANSMIT_CAP,
    DEFAULT_RETRANSMIT_INITIAL, DataSequencing, LacConfig, LnsConfig, Retransmit, TunnelSecret,
};
pub use engine::{Data, DataFraming, SessionInfo, Stats, Transmit};
pub use error::Error;
pub use event::{Disconnect, Event, Framing, Initiator, Scope, SessionKey};

use engine::{Common, Engine, Role};

/// The L2TP Network Server for one peer: all of that peer's tunnels and sessions.
#[derive(Debug)]
pub struct Lns {
    engine: Engine,
}

impl Lns {
    /// Creates the LNS of one peer. `rng_seed` drives tunnel and session IDs, challenges and
    /// random vectors.
    pub fn new(config: LnsConfig, rng_seed: [u8; 32]) -> Self {
        let common = Common {
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
            data_sequencing: config.data_sequencing,
            data_length_field: config.data_length_field,
            hide_avps: false,
            fixed_tunnel_id: None,
            next_session_id: None,
            request_sequencing: false,
        };
        Self {
            engine: Engine::new(common, rng_seed),
        }
    }

    /// Processes one L2TP datagram (the UDP payload) from the peer's UDP port `peer_port`.
    ///
    /// Control messages are consumed (drain [`Lns::poll_transmit`] and [`Lns::poll_event`]
    /// afterwards). A data message for an established session returns its PPP frame as a
    /// slice of `payload`. An `Err` means the datagram was dropped; it is counted in
    /// [`Lns::stats`] under its cause.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        peer_port: u16,
        payload: &'a [u8],
    ) -> Result<Option<Data<'a>>, Error> {
        self.engine.handle_datagram(now, peer_port, payload)
    }

    /// Frames a PPP frame for a session into `out` (cleared first) and returns the peer's
    /// L2TP UDP port to send it to.
    pub fn encode_data(
        &mut self,
        session: SessionKey,
        ppp_frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u16, Error> {
        self.engine.encode_data(session, ppp_frame, out)
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.engine.poll_transmit()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.engine.poll_event()
    }

    /// When [`Lns::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Runs the timers due at `now` (retransmission, Hello, teardown). Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
    }

    /// Closes a session with a CDN carrying `result` (see [`codes::cdn`]) and an optional
    /// message. A `SessionDown` event follows.
    pub fn close_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        result: u16,
        message: Option<&str>,
    ) -> Result<(), Error> {
        self.engine.close_session(now, key, result, message)
    }

    /// Closes one tunnel with a StopCCN carrying `result` (see [`codes::stopccn`]).
    pub fn close_tunnel(
        &mut self,
        now: Instant,
        tunnel: u16,
        result: u16,
        message: Option<&str>,
    ) -> Result<(), Error> {
        self.engine.close_tunnel(now, tunnel, result, message)
    }

    /// Graceful shutdown: a StopCCN ("requester is being shut down") on every tunnel.
    pub fn close_all(&mut self, now: Instant) {
        self.engine.close_all(now);
    }

    /// Every session, for `status`.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.engine.sessions()
    }

    /// The framing of `session`'s data messages while it is static (tunnel and session
    /// established, no data sequencing); `None` otherwise. While this is `Some`,
    /// [`Lns::handle_datagram`] returns the payload of every unsequenced data message for the
    /// session unchanged and [`Lns::encode_data`] builds exactly this header, so a fast path may
    /// do both without the LNS. It must re-read this after every input to the LNS.
    pub fn data_framing(&self, session: SessionKey) -> Option<DataFraming> {
        self.engine.data_framing(session)
    }

    /// Tunnels that are up or being set up (not those being torn down).
    pub fn tunnel_count(&self) -> usize {
        self.engine.active_tunnels()
    }

    /// Drop and traffic counters.
    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }
}

/// A minimal L2TP Access Concentrator: it opens tunnels and incoming calls towards an LNS.
#[derive(Debug)]
pub struct Lac {
    engine: Engine,
}

impl Lac {
    /// Creates a LAC.
    pub fn new(config: LacConfig, rng_seed: [u8; 32]) -> Self {
        let common = Common {
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
            data_sequencing: DataSequencing::OnRequest,
            data_length_field: config.data_length_field,
            hide_avps: config.hide_avps,
            fixed_tunnel_id: config.tunnel_id,
            next_session_id: config.first_session_id,
            request_sequencing: config.request_sequencing,
        };
        Self {
            engine: Engine::new(common, rng_seed),
        }
    }

    /// Starts a control connection (SCCRQ) to the LNS at UDP port `lns_port`; returns our
    /// tunnel ID. A `TunnelUp` event follows when the SCCRP arrives.
    pub fn connect(&mut self, now: Instant, lns_port: u16) -> Result<u16, Error> {
        self.engine.connect(now, lns_port)
    }

    /// Starts an incoming call (ICRQ) on an established tunnel. A `SessionUp` event follows
    /// when the ICRP arrives (we then send the ICCN).
    pub fn open_session(&mut self, now: Instant, tunnel: u16) -> Result<SessionKey, Error> {
        self.engine.open_session(now, tunnel)
    }

    /// Processes one L2TP datagram from the LNS; see [`Lns::handle_datagram`].
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        peer_port: u16,
        payload: &'a [u8],
    ) -> Result<Option<Data<'a>>, Error> {
        self.engine.handle_datagram(now, peer_port, payload)
    }

    /// Frames a PPP frame; see [`Lns::encode_data`].
    pub fn encode_data(
        &mut self,
        session: SessionKey,
        ppp_frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u16, Error> {
        self.engine.encode_data(session, ppp_frame, out)
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.engine.poll_transmit()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.engine.poll_event()
    }

    /// When [`Lac::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
    }

    /// Closes a session with a CDN.
    pub fn close_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        result: u16,
        message: Option<&str>,
    ) -> Result<(), Error> {
        self.engine.close_session(now, key, result, message)
    }

    /// Closes one tunnel with a StopCCN.
    pub fn close_tunnel(
        &mut self,
        now: Instant,
        tunnel: u16,
        result: u16,
        message: Option<&str>,
    ) -> Result<(), Error> {
        self.engine.close_tunnel(now, tunnel, result, message)
    }

    /// A StopCCN on every tunnel.
    pub fn close_all(&mut self, now: Instant) {
        self.engine.close_all(now);
    }

    /// Every session.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.engine.sessions()
    }

    /// Sends WAN-Error-Notify with Call Errors for an established session (RFC 2661 §6.13).
    pub fn send_wan_error_notify(
        &mut self,
        now: Instant,
        key: SessionKey,
        errors: wire::l2tp::CallErrors,
    ) -> Result<(), Error> {
        self.engine.send_wan_error_notify(now, key, errors)
    }

    /// Sends Set-Link-Info with an ACCM for an established session (RFC 2661 §6.14).
    pub fn send_set_link_info(
        &mut self,
        now: Instant,
        key: SessionKey,
        send_accm: u32,
        recv_accm: u32,
    ) -> Result<(), Error> {
        self.engine
            .send_set_link_info(now, key, send_accm, recv_accm)
    }

    /// The LNS's tunnel ID for one of our tunnels (0 until the SCCRP).
    pub fn peer_tunnel_id(&self, tunnel: u16) -> Option<u16> {
        self.engine.peer_tunnel_id(tunnel)
    }

    /// Drop and traffic counters.
    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }
}
