//! What the fuzz targets in `fuzz/` share with this crate: the byte formats of the stateful
//! targets' inputs ([`script`]), the engines and servers they start from ([`fixtures`]), and
//! the seed corpora made from our own simulated clients ([`seeds`]; `cargo run -p testkit
//! --example fuzz-seeds -- fuzz/corpus` writes them).
//!
//! The targets and the seed generator use the same fixtures and formats, so a seed is read
//! back exactly as it was written and replays exactly: a recorded Main Mode gets past its
//! HASH check only if the responder that reads it is the one that answered it.

mod decode;
pub mod fixtures;
pub mod script;
pub mod seeds;
