//! TUN device creation and configuration, socket options, the raw ESP socket and privilege
//! dropping: the operating-system side of l2tpd-rs, as a small synchronous API over file
//! descriptors that the daemon wraps in tokio's `AsyncFd`.
//!
//! This is the only crate of the workspace that may use `unsafe`; every block has a
//! `// SAFETY:` comment. Everything is Linux-specific:
//! - TUN: `/dev/net/tun` with `TUNSETIFF` and `IFF_TUN | IFF_NO_PI | IFF_VNET_HDR` (Linux
//!   `Documentation/networking/tuntap.rst`): each read or write is one IPv4 packet behind a
//!   `virtio_net_hdr`, which lets a run of UDP datagrams of one flow go in as one segmented
//!   write.
//! - Interface configuration with the classic `SIOCSIF*` ioctls on an `AF_INET` datagram socket
//!   (netdevice(7)) and routes with `SIOCADDRT` (route(8)'s interface); no `ip` process is spawned.
//! - UDP sockets: `SO_REUSEPORT` (socket(7)) and `IP_PKTINFO` (ip(7)) so a socket bound to
//!   0.0.0.0 learns which local address each datagram was sent to and answers from it.
//!   `UDP_ENCAP` is deliberately not used: ESP is processed in user space.
//! - Raw ESP: an `IPPROTO_ESP` (50) raw socket (raw(7)); reads return the IPv4 header and the
//!   ESP packet, writes take the ESP packet and the kernel adds the IPv4 header.
//! - Privileges: `setgroups`, `setresgid`, `setresuid` to an unprivileged account, keeping no
//!   supplementary group and no capability.
#![warn(missing_docs)]

mod device;
mod privileges;
mod raw_esp;
mod udp;

pub use device::{
    Offloads, Segmentation, Tun, UDP_RUN_HEADERS, add_route, del_route, ipv4_address, is_up, mtu,
    set_ipv4_address, set_mtu, set_peer_address, set_up,
};
pub use privileges::drop_privileges;
pub use raw_esp::{RawEspPacket, open_raw_esp, parse_raw_esp, recv_esp, send_esp};
pub use udp::{
    MAX_SEGMENTED_BYTES, MAX_SEGMENTS, RecvBatch, RecvMeta, SegmentRefusal, SendBatch, recv_batch,
    recv_with_pktinfo, segment_refusal, send_batch_from, send_from, send_segments_from,
    set_buffers, set_gro, set_pktinfo, set_reuseport,
};

/// An operating-system call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed; `op` says which step.
    #[error("{op}: {source}")]
    Io {
        /// The step that failed, e.g. "TUNSETIFF l2tp0".
        op: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An interface name is empty, longer than 15 bytes, or contains a NUL byte.
    #[error("invalid interface name {0:?}")]
    BadName(String),
    /// No such user account.
    #[error("no such user {0:?}")]
    UnknownUser(String),
    /// No such group.
    #[error("no such group {0:?}")]
    UnknownGroup(String),
    /// Privileges could be regained after dropping them.
    #[error("privileges were not dropped: root could be regained")]
    NotDropped,
}

impl Error {
    pub(crate) fn io(op: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Self::Io {
            op: op.into(),
            source: source.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
