//! Reading and checking l2tpd-rs's two files: `l2tpd.yaml` ([`Config`]) and `users.yaml`
//! ([`users::Users`]).
//!
//! Problems are reported the way an administrator fixes them: every problem of a file at once,
//! each as `file:line: reason` ([`ConfigError`], [`users::UsersError`]), and things that work
//! but are unwise as [`Warning`]s. Files are read once into memory ([`files::FileText`]) and
//! checked completely before anything is returned, so a caller either gets a whole, valid
//! value or the list of problems.
//!
//! # Who gets what
//! This crate does the file I/O so that the engines below it never do: the sans-IO `server`
//! crate depends on it only for the parsed types. `l2tpd.yaml` is one flat file for the
//! administrator (its keys are unchanged), but [`Config`] splits it by reader:
//! - [`Config::server`] ([`ServerConfig`]): the protocol policy `server::Server::new` takes by
//!   value: the listen ports and addresses (the server tells IKE from NAT-T by port; the daemon
//!   binds the addresses), the PSK, the pool, IPCP servers, DHCPINFORM routes, IKE, PPP and
//!   L2TP options, limits and `allow_plaintext_l2tp`.
//! - [`Config::daemon`] ([`DaemonConfig`]): what only the `l2tpd-rs` daemon uses to set the
//!   host up around the server: the TUN device, the control socket and its group, the log
//!   level, the users file, the account to drop to, the data-path worker threads and the RADIUS
//!   servers (`radius`, [`RadiusOptions`], with Disconnect/CoA clients in
//!   [`DynAuthOptions`]). The server
//!   never sees these. They are parsed here rather than in the daemon because they are keys of
//!   the same file, and one parser reports every problem of a file in one pass.
//!
//! The key log (`l2tpd-rs run --keylog FILE`) is a command-line switch, not a key, so it is in
//! neither part.

#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod certificates;
mod daemon;
mod dynauth;
pub mod files;
mod load;
mod locate;
mod problem;
mod radius;
mod rate;
mod server;
pub mod users;

pub use certificates::{
    CertificateConfig, CertificateFiles, MIN_SERVER_KEY_BITS, RECOMMENDED_SERVER_KEY_BITS,
    ServerKey,
};
pub use daemon::{
    DEFAULT_CONTROL_SOCKET, DaemonConfig, Hooks, LogLevel, MAX_HOOK_TIMEOUT_SECS, MAX_WORKERS,
    MetricsOptions, Privileges, TunOptions,
};
pub use dynauth::{DEFAULT_DYNAUTH_PORT, DynAuthClient, DynAuthOptions};
pub use load::Config;
pub use problem::{ConfigError, ConfigErrorKind, Warning};
pub use radius::{
    AccountingOptions, AuthSource, DEFAULT_ACCOUNTING_PORT, DEFAULT_RADIUS_PORT,
    DEFAULT_RADIUS_RETRIES, DEFAULT_RADIUS_TIMEOUT_SECS, MAX_RADIUS_RETRIES,
    MAX_RADIUS_TIMEOUT_SECS, MIN_INTERIM_INTERVAL_SECS, MIN_RADIUS_SECRET, RadiusOptions,
    RadiusServer,
};
pub use rate::{MAX_RATE_BPS, MIN_RATE_BPS, RateLimit, format_rate, parse_rate};
pub use server::{
    AuthProtocol, EXAMPLE_PSK, IkePolicy, L2tpOptions, Lifetimes, Limits, Listen, MAX_POOL_PREFIX,
    MIN_POOL_PREFIX, MssClamp, PoolConfig, PppOptions, Profile, ServerConfig, first_host,
};

/// Deserialises an optional string into an optional [`crypto::Secret`] (the string never
/// lives outside the secret longer than the deserialiser needs it).
fn de_opt_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crypto::Secret>, D::Error> {
    use serde::Deserialize;
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| crypto::Secret::new(s.into_bytes())))
}
