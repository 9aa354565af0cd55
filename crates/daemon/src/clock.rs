//! The daemon's one clock read and its one OS randomness read (ARCHITECTURE.md "Crates"): every
//! engine gets `now` and a seed from here.

use std::time::Instant;

use rand::RngCore;

/// The current time, passed to the server as `now`.
#[expect(
    clippy::disallowed_methods,
    reason = "the daemon's one clock read; the engines get `now` passed in"
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// A fresh 32-byte seed from the operating system for the server's `ChaCha20Rng`.
// The one OS randomness read; the engines only ever see this seed.
pub(crate) fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}
