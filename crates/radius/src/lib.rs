//! RADIUS for a NAS: the packet codec and a sans-IO client.
//!
//! # What is implemented
//!
//! - [`packet`]: the packet of RFC 2865 §3 (codes of RFC 2865 §4, RFC 2866 §4 and RFC 5176
//!   §2.3), viewed in place ([`Packet`]) and parsed/emitted ([`Repr`]).
//! - [`attr`]: the attributes a NAS sends and reads (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5, RFC
//!   3579 §3.2, RFC 5176 §3.5) and the Microsoft vendor attributes of RFC 2548 (MS-CHAP,
//!   MS-CHAPv2, MPPE keys, DNS and NBNS servers); unknown and invalid attributes are kept raw.
//! - [`auth`]: Request and Response Authenticators, Message-Authenticator, User-Password
//!   hiding and MS-MPPE key encryption; every check in constant time.
//! - [`client`]: a sans-IO NAS client: authentication and accounting servers with failover,
//!   timeouts and retransmission, identifier allocation, a bounded accounting queue that
//!   survives an outage, and Disconnect/CoA requests from the servers (RFC 5176).
//!
//! # Contract
//!
//! Like every engine of this workspace the client never touches sockets, the clock or the OS
//! RNG: time comes in as `now: Instant`, randomness from a 32-byte seed. Inputs are
//! [`Client::handle_datagram`] and [`Client::handle_timeout`]; outputs are drained with
//! [`Client::poll_transmit`], [`Client::poll_event`] and [`Client::poll_timeout`].
//!
//! A response is accepted only if its Response Authenticator **and** a Message-Authenticator
//! are present and valid (BlastRADIUS, CVE-2024-3596); see [`auth`].
//!
//! Shared secrets are [`SharedSecret`]: zeroized on drop and never shown by `Debug`.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

pub mod attr;
pub mod auth;
pub mod client;
mod error;
pub mod packet;
mod secret;

pub use attr::{Attribute, MsAttribute};
pub use client::{Client, ClientConfig, Event, RequestId, Server, Transmit};
pub use error::Error;
pub use packet::{Code, Packet, Repr};
pub use secret::SharedSecret;
