//! Sans-IO PPP (RFC 1661): the LCP/IPCP option automaton, authentication and a minimal peer.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]
#![warn(missing_docs)]
