//! UDP socket helpers: `SO_REUSEPORT` (socket(7)), `IP_PKTINFO` (ip(7)), batched sends and
//! receives (sendmmsg(2), recvmmsg(2)) and UDP segmentation offload (udp(7) `UDP_SEGMENT`).
//!
//! With `IP_PKTINFO` on, a socket bound to 0.0.0.0 learns the local address each datagram was
//! sent to, and can answer from that same address. The server keys peers by their full 4-tuple
//! (docs/clients.md#several-clients-one-nat), so it needs the local address even on a wildcard
//! bind.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, recvmsg,
    sendmsg, setsockopt, sockopt,
};

use crate::{Error, Result};

/// Lets several sockets bind the same address and port; the kernel spreads datagrams over
/// them by flow hash (the multi-core receive design in ARCHITECTURE.md).
pub fn set_reuseport(fd: &impl AsFd) -> Result<()> {
    setsockopt(fd, sockopt::ReusePort, &true).map_err(|e| Error::io("setsockopt SO_REUSEPORT", e))
}

/// Asks for `receive` and `send` bytes of socket buffer (socket(7) `SO_RCVBUF`/`SO_SNDBUF`):
/// first with `SO_RCVBUFFORCE`/`SO_SNDBUFFORCE`, which a process with `CAP_NET_ADMIN` may use
/// beyond the `net.core.rmem_max`/`wmem_max` limits, then within them. Returns the sizes the
/// kernel granted (it reports twice what was asked, for its own bookkeeping).
///
/// The default receive buffer (about 208 KiB) holds about 90 full-size datagrams: at tens of
/// thousands of ESP datagrams per second that is a millisecond or two, less than a busy
/// thread's scheduling delay, and the kernel drops what does not fit.
pub fn set_buffers(fd: &impl AsFd, receive: usize, send: usize) -> Result<(usize, usize)> {
    if setsockopt(fd, sockopt::RcvBufForce, &receive).is_err() {
        setsockopt(fd, sockopt::RcvBuf, &receive)
            .map_err(|e| Error::io("setsockopt SO_RCVBUF", e))?;
    }
    if setsockopt(fd, sockopt::SndBufForce, &send).is_err() {
        setsockopt(fd, sockopt::SndBuf, &send).map_err(|e| Error::io("setsockopt SO_SNDBUF", e))?;
    }
    let got_receive = nix::sys::socket::getsockopt(fd, sockopt::RcvBuf)
        .map_err(|e| Error::io("getsockopt SO_RCVBUF", e))?;
    let got_send = nix::sys::socket::getsockopt(fd, sockopt::SndBuf)
        .map_err(|e| Error::io("getsockopt SO_SNDBUF", e))?;
    Ok((got_receive, got_send))
}

/// Turns on `IP_PKTINFO`: [`recv_with_pktinfo`] then reports each datagram's local address.
pub fn set_pktinfo(fd: &impl AsFd) -> Result<()> {
    setsockopt(fd, sockopt::Ipv4PacketInfo, &true)
        .map_err(|e| Error::io("setsockopt IP_PKTINFO", e))
}

/// Turns on UDP receive coalescing (udp(7) `UDP_GRO`, Linux 5.0): where the device does GRO
/// (most NICs by default), back-to-back datagrams of one flow reach the socket as one buffer,
/// having crossed the IP and UDP receive path once; [`RecvMeta::segment`] then says where to
/// cut. Only for sockets read with [`recv_batch`] (which reports the segment size).
pub fn set_gro(fd: &impl AsFd) -> Result<()> {
    setsockopt(fd, sockopt::UdpGroSegment, &true).map_err(|e| Error::io("setsockopt UDP_GRO", e))
}

/// Where a datagram came from and which local address it was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// The datagram's length (of all of them, for coalesced datagrams).
    pub len: usize,
    /// The sender.
    pub source: SocketAddrV4,
    /// The local (destination) address, from `IP_PKTINFO`; `None` if the control message was
    /// missing (the option is off).
    pub local: Option<Ipv4Addr>,
    /// For datagrams the kernel coalesced ([`set_gro`]): each is this long but the last,
    /// which may be shorter. `None` for one datagram.
    pub segment: Option<usize>,
}

impl RecvMeta {
    /// The length of each datagram a buffer of this metadata holds, in order.
    pub fn datagram_len(&self) -> usize {
        self.segment.filter(|&s| s > 0).unwrap_or(self.len).max(1)
    }
}

/// Receives one datagram, or one run of them the kernel coalesced ([`set_gro`]), into `buf`
/// (`recvmsg`); `WouldBlock` on an empty non-blocking socket.
pub fn recv_with_pktinfo(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let mut cmsg = recv_cmsg_space();
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(io::Error::from)?;
    meta_of(&msg)
}

fn meta_of(msg: &nix::sys::socket::RecvMsg<'_, '_, SockaddrIn>) -> io::Result<RecvMeta> {
    let len = msg.bytes;
    let source = msg
        .address
        .map(|a| SocketAddrV4::new(a.ip(), a.port()))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "datagram without a source address",
            )
        })?;
    let mut local = None;
    let mut segment = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                local = Some(Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)));
            }
            ControlMessageOwned::UdpGroSegments(size) => segment = usize::try_from(size).ok(),
            _ => {}
        }
    }
    Ok(RecvMeta {
        len,
        source,
        local,
        segment,
    })
}

/// Buffers and headers for [`recv_batch`]: `count` datagrams of up to `size` bytes each.
pub struct RecvBatch {
    headers: MultiHeaders<SockaddrIn>,
    bufs: Vec<Vec<u8>>,
    metas: Vec<RecvMeta>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("count", &self.bufs.len())
            .field("received", &self.metas.len())
            .finish_non_exhaustive()
    }
}

impl RecvBatch {
    /// Room for `count` datagrams (at least one) of up to `size` bytes, with `IP_PKTINFO`.
    pub fn new(count: usize, size: usize) -> Self {
        let count = count.max(1);
        Self {
            headers: MultiHeaders::preallocate(count, Some(recv_cmsg_space())),
            bufs: vec![vec![0; size]; count],
            metas: Vec::with_capacity(count),
        }
    }

    /// The datagrams of the last [`recv_batch`]: each one's metadata and its bytes (mutable,
    /// for in-place decryption).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (RecvMeta, &mut [u8])> + '_ {
        self.metas
            .iter()
            .zip(self.bufs.iter_mut())
            .filter_map(|(m, b)| b.get_mut(..m.len).map(|d| (*m, d)))
    }
}

/// Room for the control messages a received datagram may carry: `IP_PKTINFO` and the
/// `UDP_GRO` segment size.
fn recv_cmsg_space() -> Vec<u8> {
    nix::cmsg_space!(libc::in_pktinfo, libc::c_int)
}

/// Receives up to a batch of datagrams with one `recvmmsg` call (each with its `IP_PKTINFO`
/// local address, as [`recv_with_pktinfo`]); returns how many. `WouldBlock` when none is
/// queued on a non-blocking socket. A datagram without a source address is skipped.
pub fn recv_batch(fd: &impl AsRawFd, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.metas.clear();
    // Fresh headers: the kernel shrinks each header's control length to what its last
    // datagram used, and nix keeps it, so a datagram with more control messages than the one
    // before (the `UDP_GRO` segment size) would come truncated (`MSG_CTRUNC`) and be lost.
    batch.headers = MultiHeaders::preallocate(batch.bufs.len(), Some(recv_cmsg_space()));
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = batch
        .bufs
        .iter_mut()
        .map(|b| [IoSliceMut::new(b)])
        .collect();
    let results = recvmmsg(
        fd.as_raw_fd(),
        &mut batch.headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )
    .map_err(io::Error::from)?;
    for msg in results {
        // Keep the positions aligned with the buffers: a bad entry becomes an empty one.
        let meta = meta_of(&msg).unwrap_or(RecvMeta {
            len: 0,
            source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            local: None,
            segment: None,
        });
        batch.metas.push(meta);
    }
    Ok(batch.metas.len())
}

/// Sends `payload` to `to`, from local address `from` when given (an `IP_PKTINFO` control
/// message; needed on a socket bound to 0.0.0.0 so replies leave from the address the client
/// talked to).
pub fn send_from(
    fd: &impl AsRawFd,
    payload: &[u8],
    from: Option<Ipv4Addr>,
    to: SocketAddrV4,
) -> io::Result<usize> {
    let iov = [IoSlice::new(payload)];
    let dest = SockaddrIn::from(to);
    match source_info(from) {
        Some(info) => {
            let cmsgs = [ControlMessage::Ipv4PacketInfo(&info)];
            sendmsg(fd.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), Some(&dest))
                .map_err(io::Error::from)
        }
        None => sendmsg(fd.as_raw_fd(), &iov, &[], MsgFlags::empty(), Some(&dest))
            .map_err(io::Error::from),
    }
}

/// The `IP_PKTINFO` control message that makes a datagram leave from `from` (ip(7):
/// `ipi_spec_dst` is the source address), or `None` for no address or the wildcard.
fn source_info(from: Option<Ipv4Addr>) -> Option<libc::in_pktinfo> {
    from.filter(|a| !a.is_unspecified())
        .map(|src| libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(src).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        })
}

/// Headers for [`send_batch_from`]: room for `count` datagrams per call.
pub struct SendBatch {
    /// With room for one `IP_PKTINFO` message each, for sends with a source address.
    with_source: MultiHeaders<SockaddrIn>,
    /// Without control messages: the kernel refuses a control buffer that holds none.
    plain: MultiHeaders<SockaddrIn>,
    /// With `IP_PKTINFO` and `UDP_SEGMENT` ([`send_segments_from`]).
    segments_with_source: MultiHeaders<SockaddrIn>,
    /// With `UDP_SEGMENT` only.
    segments: MultiHeaders<SockaddrIn>,
    addrs: Vec<Option<SockaddrIn>>,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("count", &self.addrs.capacity())
            .finish_non_exhaustive()
    }
}

impl SendBatch {
    /// Room for `count` datagrams (at least one) per `sendmmsg` call, with `IP_PKTINFO`.
    pub fn new(count: usize) -> Self {
        let count = count.max(1);
        // Each header's control buffer must be exactly as long as the messages encoded into
        // it (the kernel parses all of it), hence one set of headers per combination.
        Self {
            with_source: MultiHeaders::preallocate(count, Some(nix::cmsg_space!(libc::in_pktinfo))),
            plain: MultiHeaders::preallocate(count, None),
            segments_with_source: MultiHeaders::preallocate(
                count,
                Some(nix::cmsg_space!(libc::in_pktinfo, u16)),
            ),
            segments: MultiHeaders::preallocate(count, Some(nix::cmsg_space!(u16))),
            addrs: Vec::with_capacity(count),
        }
    }

    /// How many datagrams one call takes at most.
    pub fn capacity(&self) -> usize {
        self.addrs.capacity()
    }
}

/// Sends datagrams with one `sendmmsg` call (sendmmsg(2)): `datagrams[i]` to `to[i]`, all from
/// local address `from` when given (as [`send_from`]). Takes at most
/// [`SendBatch::capacity`] of them; returns how many the kernel took, counted from the first
/// (fewer than given when the socket's buffer filled). `WouldBlock` when it took none.
pub fn send_batch_from(
    fd: &impl AsRawFd,
    batch: &mut SendBatch,
    datagrams: &[&[u8]],
    from: Option<Ipv4Addr>,
    to: &[SocketAddrV4],
) -> io::Result<usize> {
    let iovs: Vec<[IoSlice<'_>; 1]> = datagrams
        .iter()
        .take(batch.capacity())
        .map(|d| [IoSlice::new(d)])
        .collect();
    send_messages(fd, batch, &iovs, None, from, to)
}

/// One `sendmmsg` call: `messages[i]` (its slices) to `to[i]`, with `IP_PKTINFO` for `from`
/// and `UDP_SEGMENT` for `segment` when given; how many messages the kernel took.
fn send_messages<'s, I: AsRef<[IoSlice<'s>]>>(
    fd: &impl AsRawFd,
    batch: &mut SendBatch,
    messages: &[I],
    segment: Option<u16>,
    from: Option<Ipv4Addr>,
    to: &[SocketAddrV4],
) -> io::Result<usize> {
    let n = messages.len().min(to.len()).min(batch.capacity());
    if n == 0 {
        return Ok(0);
    }
    batch.addrs.clear();
    batch
        .addrs
        .extend(to.iter().take(n).map(|a| Some(SockaddrIn::from(*a))));
    let info = source_info(from);
    let cmsgs: Vec<ControlMessage<'_>> = info
        .as_ref()
        .map(ControlMessage::Ipv4PacketInfo)
        .into_iter()
        .chain(segment.as_ref().map(ControlMessage::UdpGsoSegments))
        .collect();
    let headers = match (info.is_some(), segment.is_some()) {
        (true, false) => &mut batch.with_source,
        (false, false) => &mut batch.plain,
        (true, true) => &mut batch.segments_with_source,
        (false, true) => &mut batch.segments,
    };
    // Slices (covariant) so that every lifetime can shrink to this call, as sendmmsg asks.
    let slices: Vec<&[IoSlice<'_>]> = messages.iter().take(n).map(AsRef::as_ref).collect();
    let sent = nix::sys::socket::sendmmsg(
        fd.as_raw_fd(),
        headers,
        &slices,
        &batch.addrs,
        &cmsgs,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    Ok(sent.count())
}

/// The most datagrams one [`send_segments_from`] message may carry (the kernel's
/// `UDP_MAX_SEGMENTS` was 64 before Linux 6.6 and 128 since).
pub const MAX_SEGMENTS: usize = 64;

/// The most bytes one [`send_segments_from`] message may carry: the UDP payload of an IPv4
/// datagram before segmentation (65,535 less the IPv4 and UDP headers).
pub const MAX_SEGMENTED_BYTES: usize = 65_535 - 20 - 8;

/// Sends messages with one `sendmmsg` call, each a run of datagrams to one address that the
/// kernel cuts every `segment` bytes (UDP segmentation offload, udp(7) `UDP_SEGMENT`, Linux
/// 4.18): `messages[i]` (the datagrams, one slice each, all `segment` bytes long but the last,
/// which may be shorter; at most [`MAX_SEGMENTS`] and [`MAX_SEGMENTED_BYTES`] in all) goes to
/// `to[i]`, from local address `from` when given (as [`send_from`]). The run crosses the
/// stack once instead of once per datagram. A message not longer than `segment` is an ordinary
/// datagram.
///
/// Returns how many messages the kernel took (at most [`SendBatch::capacity`]), counted from
/// the first; `WouldBlock` when it took none. A kernel or route that cannot segment answers
/// the first message with `EIO` (`ErrorKind::Other`), `EINVAL` or, for a segment longer than
/// the path MTU, `EMSGSIZE`: the caller sends those datagrams one by one instead.
pub fn send_segments_from(
    fd: &impl AsRawFd,
    batch: &mut SendBatch,
    segment: u16,
    messages: &[&[IoSlice<'_>]],
    from: Option<Ipv4Addr>,
    to: &[SocketAddrV4],
) -> io::Result<usize> {
    send_messages(fd, batch, messages, Some(segment), from, to)
}

/// Why the kernel refused a [`send_segments_from`] message because of the segmentation
/// itself rather than its destination (udp(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentRefusal {
    /// `EIO` (the route or device cannot segment, e.g. kernel IPsec on the route), `EINVAL`
    /// or `ENOPROTOOPT` (a kernel without `UDP_SEGMENT`): no later message will do better.
    Unsupported,
    /// `EMSGSIZE`: a segment is longer than the path MTU (sent alone, it would be fragmented).
    TooLong,
}

/// Whether `e`, from [`send_segments_from`], is a [`SegmentRefusal`].
pub fn segment_refusal(e: &io::Error) -> Option<SegmentRefusal> {
    match e.raw_os_error()? {
        libc::EIO | libc::EINVAL | libc::ENOPROTOOPT => Some(SegmentRefusal::Unsupported),
        libc::EMSGSIZE => Some(SegmentRefusal::TooLong),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    #[test]
    fn a_batch_goes_out_in_order_from_the_given_address() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client_addr = match client.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let mut batch = SendBatch::new(4);
        let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let to = vec![client_addr; refs.len()];
        // At most the batch's capacity per call.
        let first =
            send_batch_from(&server, &mut batch, &refs, Some(Ipv4Addr::LOCALHOST), &to).unwrap();
        assert_eq!(first, 4);
        let rest = send_batch_from(
            &server,
            &mut batch,
            &refs[first..],
            Some(Ipv4Addr::LOCALHOST),
            &to[first..],
        )
        .unwrap();
        assert_eq!(rest, 2);
        let mut buf = [0u8; 64];
        for want in &payloads {
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_slice());
            assert_eq!(from, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        }
        // Without a source address (a socket bound to one address needs none).
        assert_eq!(
            send_batch_from(&server, &mut batch, &refs[..3], None, &to[..3]).unwrap(),
            3
        );
        for want in &payloads[..3] {
            let (n, _) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_slice());
        }
        assert_eq!(
            send_batch_from(&server, &mut batch, &[], None, &[]).unwrap(),
            0
        );
    }

    #[test]
    fn segmented_messages_arrive_as_separate_datagrams_in_order() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let v4 = |s: &UdpSocket| match s.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let (a, b) = (
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        // To `a`: three full segments and a short last one; to `b`: one short datagram.
        let to_a: Vec<Vec<u8>> = vec![vec![1; 100], vec![2; 100], vec![3; 100], vec![4; 40]];
        let to_b = vec![9u8; 60];
        let slices_a: Vec<IoSlice<'_>> = to_a.iter().map(|d| IoSlice::new(d)).collect();
        let slices_b = [IoSlice::new(&to_b)];
        let messages: [&[IoSlice<'_>]; 2] = [&slices_a, &slices_b];
        let mut batch = SendBatch::new(4);
        let sent = send_segments_from(
            &server,
            &mut batch,
            100,
            &messages,
            Some(Ipv4Addr::LOCALHOST),
            &[v4(&a), v4(&b)],
        )
        .unwrap();
        assert_eq!(sent, 2);
        let mut buf = [0u8; 512];
        for want in &to_a {
            let (n, from) = a.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_slice());
            assert_eq!(from, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        }
        let (n, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], to_b.as_slice());
        // Without a source address, too.
        let sent =
            send_segments_from(&server, &mut batch, 100, &messages[..1], None, &[v4(&a)]).unwrap();
        assert_eq!(sent, 1);
        for want in &to_a {
            let (n, _) = a.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_slice());
        }
    }

    #[test]
    fn a_coalesced_run_arrives_in_one_entry_with_its_segment_size() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_pktinfo(&server).unwrap();
        set_gro(&server).unwrap();
        let server_addr = match server.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let run: Vec<Vec<u8>> = vec![vec![1; 100], vec![2; 100], vec![3; 30]];
        let slices: Vec<IoSlice<'_>> = run.iter().map(|d| IoSlice::new(d)).collect();
        let lone = vec![7u8; 50];
        let lone_slice = [IoSlice::new(&lone)];
        let mut sender = SendBatch::new(2);
        let messages: [&[IoSlice<'_>]; 2] = [&slices, &lone_slice];
        let mut batch = RecvBatch::new(4, 65_535);
        // A plain datagram first, in a call of its own: the next call must still have room for
        // the segment size.
        client.send_to(b"plain", server_addr).unwrap();
        let mut first = Vec::new();
        while first.is_empty() {
            match recv_batch(&server, &mut batch) {
                Ok(_) => first.extend(batch.iter_mut().map(|(m, d)| (m.segment, d.to_vec()))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(first, vec![(None, b"plain".to_vec())]);
        send_segments_from(
            &client,
            &mut sender,
            100,
            &messages,
            None,
            &[server_addr; 2],
        )
        .unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            match recv_batch(&server, &mut batch) {
                Ok(_) => {
                    for (meta, data) in batch.iter_mut() {
                        assert_eq!(meta.local, Some(Ipv4Addr::LOCALHOST));
                        got.push((meta.segment, meta.datagram_len(), data.to_vec()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        let (segment, each, data) = &got[0];
        assert_eq!((*segment, *each), (Some(100), 100));
        let cut: Vec<&[u8]> = data.chunks(*each).collect();
        assert_eq!(cut, run.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // A lone datagram has no segment size and is its own length.
        assert_eq!((got[1].0, got[1].1), (None, 50));
        assert_eq!(got[1].2, lone);
    }

    #[test]
    fn buffers_grow_at_least_to_the_default_and_report_what_was_granted() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = nix::sys::socket::getsockopt(&socket, sockopt::RcvBuf).unwrap();
        let (receive, send) = set_buffers(&socket, 4 << 20, 1 << 20).unwrap();
        // Privileged, the force options give what was asked (doubled by the kernel);
        // unprivileged, at most the system limit, never less than before.
        assert!(receive >= before, "{receive} < {before}");
        assert!(send > 0);
        if nix::unistd::geteuid().is_root() {
            assert_eq!((receive, send), (8 << 20, 2 << 20));
        }
    }

    #[test]
    fn pktinfo_reports_the_local_address_on_a_wildcard_bind() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        set_pktinfo(&server).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"hello", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 64];
        let meta = recv_with_pktinfo(&server, &mut buf).unwrap();
        assert_eq!(&buf[..meta.len], b"hello");
        assert_eq!(meta.local, Some(Ipv4Addr::LOCALHOST));
        let client_addr = match client.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        assert_eq!(meta.source, client_addr);

        // Reply from the learnt local address.
        assert_eq!(
            send_from(&server, b"back", meta.local, meta.source).unwrap(),
            4
        );
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"back");
        assert_eq!(
            from,
            std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port))
        );
    }

    #[test]
    fn one_read_reports_a_coalesced_runs_segment_size_and_a_plain_one_none() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_pktinfo(&rx).unwrap();
        let std::net::SocketAddr::V4(to) = rx.local_addr().unwrap() else {
            panic!("not IPv4");
        };
        let parts = [vec![1u8; 100], vec![2; 100], vec![3; 40]];
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut batch = SendBatch::new(1);
        let mut buf = vec![0u8; 4096];
        // Without UDP_GRO the kernel hands the datagrams over one by one.
        send_segments_from(&tx, &mut batch, 100, &[&slices[..]], None, &[to]).unwrap();
        for want in &parts {
            let meta = recv_with_pktinfo(&rx, &mut buf).unwrap();
            assert_eq!(&buf[..meta.len], want.as_slice());
            assert_eq!(
                (meta.segment, meta.local),
                (None, Some(Ipv4Addr::LOCALHOST))
            );
        }
        // With it, as one read whose chunks are the datagrams, the local address still known.
        set_gro(&rx).unwrap();
        send_segments_from(&tx, &mut batch, 100, &[&slices[..]], None, &[to]).unwrap();
        let meta = recv_with_pktinfo(&rx, &mut buf).unwrap();
        assert_eq!(
            (meta.segment, meta.local),
            (Some(100), Some(Ipv4Addr::LOCALHOST))
        );
        let got: Vec<&[u8]> = buf[..meta.len].chunks(meta.datagram_len()).collect();
        let want: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want);
        rx.set_nonblocking(true).unwrap();
        let e = recv_with_pktinfo(&rx, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn without_pktinfo_local_is_unknown() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"x", server.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        let meta = recv_with_pktinfo(&server, &mut buf).unwrap();
        assert_eq!(meta.local, None);
        assert_eq!(send_from(&server, b"y", None, meta.source).unwrap(), 1);
    }

    #[test]
    fn recv_batch_takes_every_queued_datagram_with_its_addresses() {
        let server = UdpSocket::bind("0.0.0.0:0").unwrap();
        set_pktinfo(&server).unwrap();
        server.set_nonblocking(true).unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client_addr = match client.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let mut batch = RecvBatch::new(4, 2048);
        assert_eq!(
            recv_batch(&server, &mut batch).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let sent: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        for d in &sent {
            client.send_to(d, ("127.0.0.1", port)).unwrap();
        }
        let mut got = Vec::new();
        let mut largest = 0;
        let mut tries = 0;
        while got.len() < sent.len() && tries < 5000 {
            tries += 1;
            match recv_batch(&server, &mut batch) {
                Ok(n) => {
                    assert!((1..=4).contains(&n));
                    largest = largest.max(n);
                    for (meta, data) in batch.iter_mut() {
                        assert_eq!(meta.source, client_addr);
                        assert_eq!(meta.local, Some(Ipv4Addr::LOCALHOST));
                        data[0] ^= 0xff; // writable in place
                        got.push(data.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        let expected: Vec<Vec<u8>> = sent
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d[0] ^= 0xff;
                d
            })
            .collect();
        assert_eq!(got, expected, "all six, in order, in at least two batches");
        assert!(largest > 1, "one call returned several datagrams");
    }

    #[test]
    fn reuseport_allows_two_binds() {
        let a = socket2_like_bind();
        let port = a.1;
        let b = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Datagram,
            nix::sys::socket::SockFlag::empty(),
            None,
        )
        .unwrap();
        set_reuseport(&b).unwrap();
        nix::sys::socket::bind(b.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, port)).unwrap();
    }

    fn socket2_like_bind() -> (std::os::fd::OwnedFd, u16) {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, bind, getsockname, socket};
        let a = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        set_reuseport(&a).unwrap();
        bind(a.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
        let addr: SockaddrIn = getsockname(a.as_raw_fd()).unwrap();
        (a, addr.port())
    }
}
