//! A simulated world (NAT, loss, reordering, virtual clock) and clients for end-to-end tests.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]
#![warn(missing_docs)]
