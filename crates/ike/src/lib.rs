//! A sans-IO IKEv1 responder (RFC 2409) with NAT traversal (RFC 3947), and a minimal initiator.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]
#![warn(missing_docs)]
