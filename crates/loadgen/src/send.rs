//! Transports: a raw IPv4 socket that sends whole packets with forged source addresses, and a
//! pool of ordinary UDP sockets (one source port each) for runs without that privilege.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, sendto, setsockopt,
    socket, sockopt,
};

use crate::Error;

/// The send buffer we ask for, so that short stalls of the receiver side do not turn into
/// `ENOBUFS` at high rates.
const SEND_BUFFER: usize = 4 << 20;

/// The most UDP sockets a run without spoofing opens (each is one source port).
pub const MAX_UDP_SOCKETS: usize = 256;

/// A raw IPv4 socket with protocol `IPPROTO_RAW`, which implies `IP_HDRINCL` (raw(7)): the
/// caller writes the whole IPv4 header, source address included. Needs `CAP_NET_RAW`.
#[derive(Debug)]
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    /// Opens the socket. A missing privilege comes back as an [`Error::Socket`] whose source
    /// has kind [`io::ErrorKind::PermissionDenied`].
    pub fn open() -> Result<Self, Error> {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Raw,
        )
        .map_err(|e| Error::Socket {
            what: "opening a raw IPv4 socket (IPPROTO_RAW)".to_owned(),
            source: e.into(),
        })?;
        // Best effort: a smaller buffer only means more ENOBUFS at very high rates.
        let _ = setsockopt(&fd, sockopt::SndBuf, &SEND_BUFFER);
        Ok(Self { fd })
    }

    /// Sends one packet built by [`crate::ip::udp_v4`] towards `dst` (the address the kernel
    /// routes by; it must equal the packet's destination).
    pub fn send(&self, packet: &[u8], dst: SocketAddrV4) -> io::Result<()> {
        // The port of a raw socket's destination is ignored (raw(7)).
        let to = SockaddrIn::from(SocketAddrV4::new(*dst.ip(), 0));
        sendto(self.fd.as_raw_fd(), packet, &to, MsgFlags::empty())
            .map(drop)
            .map_err(io::Error::from)
    }
}

/// Ordinary UDP sockets bound to ephemeral ports: every datagram leaves from the host's own
/// address, from one of these ports.
#[derive(Debug)]
pub struct UdpPool {
    sockets: Vec<UdpSocket>,
}

impl UdpPool {
    /// Binds `n` sockets (at least 1, at most [`MAX_UDP_SOCKETS`]) to `bind:0`.
    pub fn bind(n: usize, bind: Ipv4Addr) -> Result<Self, Error> {
        let n = n.clamp(1, MAX_UDP_SOCKETS);
        let sockets = (0..n)
            .map(|_| UdpSocket::bind(SocketAddrV4::new(bind, 0)))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| Error::Socket {
                what: format!("binding {n} UDP sockets on {bind}"),
                source: e,
            })?;
        Ok(Self { sockets })
    }

    /// How many sockets (source ports) the pool has.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Whether the pool is empty (never, once bound).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Sends `payload` to `dst` from socket `index` (modulo the pool size).
    pub fn send(&self, index: usize, payload: &[u8], dst: SocketAddrV4) -> io::Result<()> {
        let Some(s) = self.sockets.get(index % self.sockets.len().max(1)) else {
            return Err(io::Error::other("empty UDP socket pool"));
        };
        s.send_to(payload, dst).map(drop)
    }
}

/// Whether an error means "not allowed" (no root, no `CAP_NET_RAW`).
pub fn is_permission_error(e: &Error) -> bool {
    match e {
        Error::Socket { source, .. } => source.kind() == io::ErrorKind::PermissionDenied,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::*;

    #[test]
    fn a_udp_pool_sends_from_distinct_ports() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let std::net::SocketAddr::V4(dst) = rx.local_addr().unwrap() else {
            panic!("IPv4 socket");
        };
        let pool = UdpPool::bind(3, Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(pool.len(), 3);
        for i in 0..3 {
            pool.send(i, &[i as u8], dst).unwrap();
        }
        let mut ports = std::collections::HashSet::new();
        let mut buf = [0u8; 16];
        for _ in 0..3 {
            let (n, from) = rx.recv_from(&mut buf).unwrap();
            assert_eq!(n, 1);
            ports.insert(from.port());
        }
        assert_eq!(ports.len(), 3);
    }

    #[test]
    fn permission_errors_are_told_apart() {
        let err = |e: Errno| Error::Socket {
            what: "raw socket".to_owned(),
            source: e.into(),
        };
        assert!(is_permission_error(&err(Errno::EPERM)));
        assert!(is_permission_error(&err(Errno::EACCES)));
        assert!(!is_permission_error(&err(Errno::ENOBUFS)));
        assert!(!is_permission_error(&Error::Usage("x".to_owned())));
    }

    #[test]
    fn pool_size_is_clamped() {
        assert_eq!(UdpPool::bind(0, Ipv4Addr::LOCALHOST).unwrap().len(), 1);
    }
}
