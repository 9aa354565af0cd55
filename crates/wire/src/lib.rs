//! Wire formats: zero-copy packet views and high-level `Repr`s for every protocol that
//! l2tpd-rs speaks.
//!
//! The shape follows smoltcp's `wire` module. Each format has a `Packet<T: AsRef<[u8]>>` view with
//! `new_unchecked`, `new_checked` and `check_len`, field getters and (for `T: AsMut<[u8]>`) setters,
//! and beside it a `Repr` with `parse`, `buffer_len` and `emit`. `check_len` validates **every**
//! length-derived range before a getter may index, so no getter on a checked packet can panic.
//! Type-length-value chains (ISAKMP payloads, L2TP AVPs, PPP options) are iterators of
//! `Result<_, Error>`. Unknown codepoints are data (`Unknown(n)` variants), never errors: the state
//! layer decides how to reject them.
//!
//! The law every `Repr` keeps: `emit(parse(b)) == b` for canonical `b`.
//!
//! This crate is sans-IO and allocation-light; it never panics on peer input.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

#[macro_use]
mod macros;

mod error;

pub mod dhcp;
pub mod esp;
pub mod ip;
pub mod isakmp;
pub mod l2tp;
pub mod natt;
pub mod ppp;
mod tuple;

pub use error::{Error, ErrorKind, Result};
pub use tuple::FourTuple;

/// A byte range inside a fixed-layout header (smoltcp's `Field`).
pub type Field = core::ops::Range<usize>;
/// An open byte range that runs from an offset to the end of the buffer.
pub type Rest = core::ops::RangeFrom<usize>;
