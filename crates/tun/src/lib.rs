//! TUN device creation and configuration, socket options and privilege dropping.
//!
//! This is the only crate of the workspace that may use `unsafe`; every block has a `// SAFETY:` comment.
#![warn(missing_docs)]
