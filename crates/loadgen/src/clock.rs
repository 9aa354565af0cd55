//! The load generator's one clock read and its one OS randomness read (the workspace's
//! `clippy.toml` forbids both everywhere else): the pacer and the packet builders get time as
//! offsets and randomness as a seed from here, so their arithmetic is testable.

use std::time::Instant;

use rand::RngCore;

/// The current time.
#[expect(
    clippy::disallowed_methods,
    reason = "the load generator's one clock read"
)]
pub fn now() -> Instant {
    Instant::now()
}

/// A fresh 32-byte seed from the operating system (used when `--seed` is not given).
// The one OS randomness read; everything random in a run comes from this seed.
pub fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}
