//! A sans-IO IKEv1 responder (RFC 2409) with NAT traversal (RFC 3947), and a minimal initiator.
//!
//! Contract: no sockets, no clock, no OS randomness. Time comes in as `now`, randomness from
//! the seed given to [`Responder::new`], datagrams through [`Responder::handle_datagram`]; the
//! owner drains [`Responder::poll_transmit`], [`Responder::poll_event`] and
//! [`Responder::poll_timeout`]. ISAKMP messages arrive without the non-ESP marker; transmits on
//! port 4500 carry it (RFC 3948 §2.2).
//!
//! What is implemented: Main Mode with a pre-shared key (RFC 2409 §5.4), Quick Mode for ESP
//! transport and UDP-encapsulated transport (§5.5; RFC 3947 §5 and draft-02 numbering), optional
//! PFS, Informational Delete / INITIAL-CONTACT / RESPONDER-LIFETIME / DPD (RFC 2408
//! §3.14-§3.15, RFC 2407 §4.6.3, RFC 3706: answering R-U-THERE, and probing idle peers that
//! announced DPD), rekeying by a new Quick Mode or a new Main Mode from the same 4-tuple,
//! moving a peer to a new NAT mapping (the IKEv2 rule of RFC 7296 §2.23; RFC 3947/3948 leave it
//! open), retransmission and expiry driven by injected time. Aggressive Mode is refused: its
//! second message hands anyone who asks a hash to attack the pre-shared key offline.
//!
//! The responder faces the internet, and in L2TP/IPsec the pre-shared key is shared by every
//! user, so knowing it is no trust boundary. Nobody can make it hold unbounded state or work:
//! half-open SAs are bounded per source address and in total, and a newcomer evicts an entry
//! still waiting for message 3 instead of being refused; MM2 goes out once per MM1 and never on
//! a timer; Diffie-Hellman work needs a peer that echoed our cookie and is rate-limited per
//! address; Quick Modes, ESP SA pairs and IKE SAs per peer are capped; every timer lives in one
//! deadline set, so no call costs more with more SAs; refusals are events, not log lines. See
//! [`ResponderConfig`] for the bounds and their defaults.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod config;
mod crypt;
mod error;
mod event;
mod half_open;
mod initiator;
mod rate_limit;
mod responder;
pub mod suite;
mod timers;
pub mod vendor;

pub use config::{CertificateAuth, LifetimeBounds, RateLimit, ResponderConfig};
pub use error::Error;
pub use event::{
    ChildSa, Encapsulation, Event, FourTuple, PeerAuth, PeerSnapshot, Phase1Info, PskSymptom,
    RefuseReason, Stats, Transmit,
};
pub use initiator::{Initiator, InitiatorCertificate, InitiatorConfig, ServerAuthSeen};
pub use responder::Responder;
pub use suite::{AuthMethod, EspSuite, Lifetime, Phase1Suite, Policy};
pub use vendor::{NatDialect, VendorInfo};
