//! ESP (RFC 4303) security associations for transport mode, with UDP encapsulation (RFC 3948).
//!
//! # Contract
//!
//! Sans-IO and deterministic: no sockets, no clock, no OS randomness. CBC IVs come from a
//! caller-supplied `RngCore + CryptoRng` (normally a per-thread `ChaCha20Rng` seeded by the
//! daemon). Every type here is `Send + Sync`, so the data path on every core can share one
//! [`SaDb`] and the outbound [`Sa`]s without a global lock (boringtun `Session`).
//!
//! # What is here
//!
//! - [`Sa`]: one SA. In-place [`Sa::seal`] (RFC 4303 §3.3) and [`Sa::open`] (§3.4) for
//!   3DES-CBC (RFC 2451) and AES-CBC (RFC 3602) with HMAC-MD5-96 (RFC 2403), HMAC-SHA1-96
//!   (RFC 2404) or HMAC-SHA2-256-128 (RFC 4868); the anti-replay window (§3.4.3, [`replay`]);
//!   sequence numbers without wrap (§3.3.3); byte and packet lifetimes (RFC 2407 §4.5).
//! - [`SaDb`]: inbound SAs by SPI, each bound to the peer's outer 4-tuple, with per-SA and
//!   global drop counters.
//! - [`transport`]: the L2TP transport-mode rules (UDP to 1701 only; inner checksums per
//!   RFC 3948 §3.1.2).
//!
//! The same [`Sa`] serves UDP-encapsulated ESP on port 4500 (the caller strips the UDP header
//! and classifies with `wire::natt`) and raw ESP, IP protocol 50 (the caller strips the outer
//! IPv4 header). Either way, `open` and `seal` see the ESP bytes from the SPI on.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod counters;
mod error;
pub mod replay;
mod sa;
mod sadb;
pub mod transport;

pub use counters::DropCounts;
pub use error::{DropReason, Error};
pub use sa::{
    Direction, Encap, Expiry, FourTuple, Lifetime, MAX_SEQ, Opened, SOFT_SEQ, Sa, SaParams, Sealed,
};
pub use sadb::SaDb;
