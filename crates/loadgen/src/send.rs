//! Transports: a raw IPv4 socket that sends whole packets with forged source addresses, and a
//! pool of ordinary UDP sockets (one source port each) for runs without that privilege.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::io::{self, IoSlice};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, MultiHeaders, SockFlag, SockProtocol, SockType, SockaddrIn, sendmmsg,
    sendto, setsockopt, socket, sockopt,
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

/// Reusable headers for [`send_batch`]: room for up to `max` datagrams per call.
pub struct Batch {
    headers: MultiHeaders<SockaddrIn>,
    max: usize,
}

impl core::fmt::Debug for Batch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Batch").field("max", &self.max).finish()
    }
}

impl Batch {
    /// Headers for up to `max` (at least 1) datagrams.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            headers: MultiHeaders::preallocate(max, None),
            max,
        }
    }

    /// The most datagrams one call sends.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// Sends up to [`Batch::max`] datagrams with one `sendmmsg` call: each to its address, or on
/// a connected socket to the connected peer (`None`). Returns how many the kernel took (the
/// first ones); an error only if it took none.
pub fn send_batch(
    fd: &impl AsRawFd,
    batch: &mut Batch,
    datagrams: &[&[u8]],
    to: &[Option<SocketAddrV4>],
) -> io::Result<usize> {
    let n = datagrams.len().min(batch.max);
    if n == 0 {
        return Ok(0);
    }
    let iovs: Vec<[IoSlice<'_>; 1]> = datagrams
        .iter()
        .take(n)
        .map(|d| [IoSlice::new(d)])
        .collect();
    let addrs: Vec<Option<SockaddrIn>> = (0..n)
        .map(|k| to.get(k).copied().flatten().map(SockaddrIn::from))
        .collect();
    let results = sendmmsg(
        fd.as_raw_fd(),
        &mut batch.headers,
        &iovs,
        &addrs,
        [],
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    Ok(results.count())
}

/// Sends the leading run of `datagrams` that share one length (the last of the run may be
/// shorter), at most `tun::MAX_SEGMENTS` and `tun::MAX_SEGMENTED_BYTES`, as one UDP
/// segmentation offload message (udp(7) `UDP_SEGMENT`) on a connected
/// socket: the kernel cuts it into the datagrams. Returns how many datagrams it carried; an
/// error (`EIO`, `EINVAL` where the kernel or route cannot segment) means none went.
pub fn send_segmented(fd: &impl AsRawFd, datagrams: &[&[u8]]) -> io::Result<usize> {
    let Some(first) = datagrams.first() else {
        return Ok(0);
    };
    let segment = first.len();
    let mut bytes = 0;
    let mut n = 0;
    for d in datagrams.iter().take(tun::MAX_SEGMENTS) {
        if d.len() > segment || d.is_empty() || bytes + d.len() > tun::MAX_SEGMENTED_BYTES {
            break;
        }
        bytes += d.len();
        n += 1;
        if d.len() < segment {
            break;
        }
    }
    let n = n.max(1);
    let iov: Vec<IoSlice<'_>> = datagrams.iter().take(n).map(|d| IoSlice::new(d)).collect();
    let size = u16::try_from(segment).unwrap_or(u16::MAX);
    let cmsgs = [nix::sys::socket::ControlMessage::UdpGsoSegments(&size)];
    let cmsgs: &[nix::sys::socket::ControlMessage<'_>] = if n > 1 { &cmsgs } else { &[] };
    nix::sys::socket::sendmsg::<SockaddrIn>(fd.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)
        .map_err(io::Error::from)?;
    Ok(n)
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
    fn a_run_of_equal_datagrams_goes_as_one_message_and_arrives_as_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        let data: Vec<Vec<u8>> = vec![vec![1; 200], vec![2; 200], vec![3; 50], vec![4; 200]];
        let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        // The run ends with the shorter datagram; the rest is the next call's.
        assert_eq!(send_segmented(&tx, &refs).unwrap(), 3);
        assert_eq!(send_segmented(&tx, &refs[3..]).unwrap(), 1);
        assert_eq!(send_segmented(&tx, &[]).unwrap(), 0);
        let mut buf = [0u8; 512];
        for want in &data {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_slice());
        }
        // A longer datagram ends the run before it.
        let refs: Vec<&[u8]> = vec![&data[2], &data[0]];
        assert_eq!(send_segmented(&tx, &refs).unwrap(), 1);
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
    fn a_batch_goes_out_in_one_call_to_each_address() {
        let rx1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx2 = UdpSocket::bind("127.0.0.1:0").unwrap();
        for r in [&rx1, &rx2] {
            r.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
        }
        let addr = |s: &UdpSocket| match s.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = Batch::new(4);
        let data: [&[u8]; 5] = [b"a", b"bb", b"ccc", b"dddd", b"e"];
        let to = [
            Some(addr(&rx1)),
            Some(addr(&rx2)),
            Some(addr(&rx1)),
            Some(addr(&rx2)),
            None,
        ];
        // At most `max` per call.
        assert_eq!(send_batch(&tx, &mut batch, &data, &to).unwrap(), 4);
        let mut buf = [0u8; 8];
        let mut got1 = Vec::new();
        for _ in 0..2 {
            let n = rx1.recv(&mut buf).unwrap();
            got1.push(buf[..n].to_vec());
        }
        assert_eq!(got1, vec![b"a".to_vec(), b"ccc".to_vec()]);
        let n = rx2.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"bb");
        // A connected socket needs no addresses.
        tx.connect(addr(&rx2)).unwrap();
        assert_eq!(send_batch(&tx, &mut batch, &data[4..], &[None]).unwrap(), 1);
        let n = rx2.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"dddd");
        let n = rx2.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"e");
        assert_eq!(send_batch(&tx, &mut batch, &[], &[]).unwrap(), 0);
    }

    #[test]
    fn pool_size_is_clamped() {
        assert_eq!(UdpPool::bind(0, Ipv4Addr::LOCALHOST).unwrap().len(), 1);
    }
}
