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

/// `CLOCK_MONOTONIC` in microseconds, for systemd's `MONOTONIC_USEC` (sd_notify(3)).
pub(crate) fn monotonic_usec() -> Option<u64> {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let secs = u64::try_from(ts.tv_sec()).ok()?;
    let micros = u64::try_from(ts.tv_nsec()).ok()? / 1000;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Wall-clock time for certificate validity (`pki`): the one place it is read.
#[expect(
    clippy::disallowed_methods,
    reason = "certificates carry wall-clock validity; the pki crate gets it passed in"
)]
pub(crate) fn wall_now() -> std::time::SystemTime {
    std::time::SystemTime::now()
}
