//! The sans-IO L2TP/IPsec server: composes IKE, ESP, L2TP and PPP per peer.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]
#![warn(missing_docs)]
