//! ESP (RFC 4303) security associations for transport mode, with UDP encapsulation (RFC 3948).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]
#![warn(missing_docs)]
