//! The sans-IO L2TP/IPsec server: composes IKE, ESP, L2TP and PPP per peer.
//!
//! [`Server`] is the one state machine the daemon drives (STYLE.md §2): inputs are
//! [`Server::handle_udp`], [`Server::handle_esp`], [`Server::handle_tun`] and
//! [`Server::handle_timeout`]; outputs are drained with [`Server::poll_transmit`],
//! [`Server::poll_event`] and [`Server::poll_timeout`]. It never touches sockets, the clock or
//! the OS RNG.
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

pub mod fastpath;
pub mod pool;
mod server;
pub mod snapshot;

pub use fastpath::{FastPath, FastPathStats, Inbound, Outbound, Pinned};
pub use server::{Event, Server, Transmit};
pub use snapshot::{SessionRow, Snapshot};
