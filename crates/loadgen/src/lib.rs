//! `l2tpd-load`: traffic that tests an L2TP/IPsec server from the outside, as real clients and
//! attackers would send it.
//!
//! One binary, one subcommand per mode ([`cli::Command`]):
//!
//! - `flood` ([`flood`]): a paced stream of unsolicited datagrams towards UDP 500 and/or 4500,
//!   from many (spoofed) sources. `--kind mm1` sends valid-looking IKEv1 Main Mode message 1s
//!   (RFC 2409 §5) in the Windows 10 layout, each with a fresh initiator cookie; `--kind garbage`
//!   sends random bytes and ESP-looking datagrams with random SPIs (RFC 3948 §2.1). With root
//!   (or `CAP_NET_RAW`) every datagram leaves through a raw IPv4 socket with a forged source
//!   address and port; without, or with `--no-spoof`, from ordinary UDP sockets.
//!
//! - `connect`, `hold`, `throughput` ([`session`]): whole L2TP/IPsec clients (IKEv1 Main
//!   Mode + Quick Mode, L2TP, PPP with MS-CHAPv2, IPCP) built from `testkit`'s client profiles
//!   ([`suite`]), many in one thread ([`fleet`]: sans-IO `testkit::Client`s over one UDP socket
//!   each, one `epoll` loop and one timer heap), against any L2TP/IPsec server. They measure
//!   connects per second and latency, memory and idle CPU per held session (from `/proc`,
//!   [`procfs`]), and packets per second through the server to and from a LAN host behind
//!   it ([`session::lan`], [`traffic`]), in another network namespace if asked ([`netns`]).
//!
//! Shared parts: [`pacer`] (token bucket), [`sources`] (address sets), [`ip`] (IPv4/UDP headers
//! for raw sockets), [`send`] (raw and UDP transports, `sendmmsg`), [`stats`] (percentiles,
//! failures by cause), [`report`] (the one-line JSON summaries) and [`clock`] (the crate's only
//! clock and OS-randomness reads).
//!
//! Only the Windows 10 Main Mode message layout comes from `testkit` for `flood`; the message
//! itself is built by `ike`'s initiator and `wire`, never assembled by hand here.

pub mod cli;
pub mod clock;
pub mod fleet;
pub mod flood;
pub mod ip;
pub mod netns;
pub mod pacer;
pub mod procfs;
pub mod report;
pub mod send;
pub mod session;
pub mod sources;
pub mod stats;
pub mod suite;
pub mod traffic;

/// Why a load-generator run could not start or went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line asks for something impossible (too many sources, a zero rate, ...).
    #[error("invalid arguments: {0}")]
    Usage(String),
    /// A packet could not be built.
    #[error("building a packet: {0}")]
    Build(String),
    /// A socket could not be opened or configured.
    #[error("{what}: {source}")]
    Socket {
        /// What we tried to do.
        what: String,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// Nothing could be sent at all.
    #[error("no datagram was sent: {0}")]
    NothingSent(String),
}
