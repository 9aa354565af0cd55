//! A sans-IO L2TPv2 LNS (RFC 2661), and a minimal LAC.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]
#![warn(missing_docs)]
