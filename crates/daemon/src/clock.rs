//! The daemon's clock reads and its one OS randomness read (ARCHITECTURE.md "Crates"): every
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

/// Seconds since the Unix epoch, for time stamps people read (`status --watch`).
#[expect(
    clippy::disallowed_methods,
    reason = "wall-clock time for a human-readable stamp, never given to an engine"
)]
pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh 32-byte seed from the operating system for the server's `ChaCha20Rng`.
// The one OS randomness read; the engines only ever see this seed.
pub(crate) fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}
