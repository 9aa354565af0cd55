//! The simulated world of the end-to-end tests (in the manner of smoltcp's `tests/netsim.rs`):
//! a [`Client`] that is a whole L2TP/IPsec client made of the engines' client roles,
//! [`Profile`]s of real clients (docs/clients.md), and a [`World`] that connects one
//! `server::Server` to N clients through an optional NAT (MASQUERADE-like), seeded loss and
//! reordering, a virtual clock and a LAN side.
//!
//! Contract: like the engines, nothing here reads the clock or the OS random generator. Time is
//! a base `Instant` plus a virtual offset that only moves forward to the next deadline of
//! someone; every random choice (client SPIs and nonces, NAT ports, loss and reordering) comes
//! from seeds, so a failing run replays exactly.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod client;
pub mod fuzz;
pub mod packet;
mod profile;
mod tally;
mod world;

pub use client::{
    Client, ClientConfig, ClientEvent, ClientStats, IKE_PORT, L2TP_PORT, NAT_T_PORT, Stage,
    Transmit,
};
pub use profile::{PppExtras, Profile};
pub use tally::{Counts, Traffic};
pub use world::{
    ClientId, DEFAULT_USERS, Direction, DropFilter, NetStats, ServerParts, TapKind, TapRecord,
    World, WorldConfig,
};

/// Why a testkit call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is not far enough along for the call.
    #[error("not ready: {0}")]
    NotReady(&'static str),
    /// The IKE initiator refused the call.
    #[error("IKE: {0}")]
    Ike(#[from] ike::Error),
    /// ESP sealing failed.
    #[error("ESP: {0}")]
    Esp(#[from] esp::Error),
    /// The LAC refused the call.
    #[error("L2TP: {0}")]
    L2tp(#[from] l2tp::Error),
    /// The PPP peer refused the call.
    #[error("PPP: {0}")]
    Ppp(#[from] ppp::Error),
    /// The server configuration or users file given to the world is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A packet could not be built.
    #[error("wire: {0}")]
    Wire(#[from] wire::Error),
}
