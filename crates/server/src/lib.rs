//! The sans-IO L2TP/IPsec server: a control plane of peers and one data plane.
//!
//! [`Server`] is the one state machine the daemon drives: inputs are [`Server::handle_udp`],
//! [`Server::handle_esp`], [`Server::handle_tun`], [`Server::handle_decrypted`] and
//! [`Server::handle_timeout`]; outputs are drained with [`Server::poll_transmit`],
//! [`Server::poll_event`] and [`Server::poll_timeout`]. It never touches sockets, the clock or
//! the OS RNG.
//!
//! [`DataPlane`] is a `Clone + Send + Sync` handle that every thread reading a socket or the
//! TUN device runs first: it carries established sessions' packets itself and hands the rest
//! to the [`Server`], decrypted, with the reason.
//!
//! Peers are keyed by their outer 4-tuple: each has its own IKE state, ESP SAs, L2TP tunnel
//! table and PPP sessions, so clients behind one NAT never meet.
//!
//! The server does no file I/O: it is built from values the `config` crate parsed and checked
//! ([`config::ServerConfig`] and [`config::users::Users`]), and
//! [`Server::reload_users`] takes a new, complete table.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod cause;
mod dataplane;
pub mod dhcp;
pub mod escape;
mod guard;
mod peer;
pub mod pool;
mod server;
pub mod snapshot;
#[cfg(test)]
mod test_support;

pub use cause::EndCause;
pub use dataplane::{
    Batch, DataPlane, DataPlaneStats, Handoff, HandoffReason, Inbound, Outbound, Transmit,
};
pub use server::{
    AuthOrder, Event, KickTarget, Kicked, Refusal, Server, SessionId, SessionTraffic,
};
pub use snapshot::{SessionRow, Snapshot};
