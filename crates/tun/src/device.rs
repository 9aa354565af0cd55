//! The TUN device (Linux `Documentation/networking/tuntap.rst`) and its IPv4 configuration
//! through the `SIOCSIF*` ioctls of netdevice(7) and `SIOCADDRT`/`SIOCDELRT` (route(8)).
// The crate denies unsafe code; this module is one of the two that need it (ioctl and
// raw-socket calls), and every block carries a `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

use crate::{Error, Result};

/// A TUN device opened with `IFF_TUN | IFF_NO_PI | IFF_VNET_HDR`: [`Tun::read`] and
/// [`Tun::write`] take bare IP packets (the `virtio_net_hdr` the kernel puts in front of each
/// is handled here), and [`Tun::write_segmented`] hands the kernel a run of UDP datagrams of
/// one flow as one packet that it cuts apart (UDP segmentation offload, Linux 6.2). The
/// descriptor is non-blocking (for tokio's `AsyncFd`) and close-on-exec. The interface goes
/// away when the value is dropped (it is not made persistent).
///
/// Until [`Tun::enable_offloads`] is called, what the kernel routes into the interface
/// arrives whole, one checksummed packet per read. With offloads on, a read may return one
/// segmented TCP or UDP packet standing for many ([`Tun::read_offloaded`]).
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
}

impl Tun {
    /// Creates (or attaches to) the TUN interface `name`. Needs CAP_NET_ADMIN.
    pub fn create(name: &str) -> Result<Self> {
        Self::open(name, 0)
    }

    /// Creates the TUN interface `name` with `IFF_MULTI_QUEUE` and opens `queues` queues of it
    /// (at least one; the kernel allows 256). Each queue is its own descriptor: the kernel
    /// spreads the packets it routes into the interface over the queues by flow, and a packet
    /// written to any queue enters the stack (tuntap.rst "Multiqueue tuntap interface").
    pub fn create_multi_queue(name: &str, queues: usize) -> Result<Vec<Self>> {
        let flag = libc::IFF_MULTI_QUEUE;
        let first = Self::open(name, flag)?;
        let actual = first.name.clone();
        let mut all = vec![first];
        for _ in 1..queues {
            all.push(Self::open(&actual, flag)?);
        }
        Ok(all)
    }

    fn open(name: &str, extra_flags: libc::c_int) -> Result<Self> {
        let mut req = ifreq(name)?;
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| Error::io("open /dev/net/tun", e))?;
        let fd = OwnedFd::from(file);
        // IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE all fit in a c_short
        // (0x0001 | 0x1000 | 0x4000 | 0x0100).
        req.ifr_ifru.ifru_flags =
            (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR | extra_flags) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq`; `req` is a valid, initialised
        // ifreq that lives across the call, and `fd` is an open /dev/net/tun descriptor.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::TUNSETIFF as _,
                &mut req as *mut libc::ifreq,
            )
        };
        if rc < 0 {
            return Err(Error::io(
                format!("TUNSETIFF {name}"),
                io::Error::last_os_error(),
            ));
        }
        // The kernel may have completed a name template such as "l2tp%d".
        let actual = name_of(&req);
        Ok(Self { fd, name: actual })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one packet; `WouldBlock` when none is queued. A packet whose checksum the
    /// kernel left to the device (`VIRTIO_NET_HDR_F_NEEDS_CSUM`) gets it here; a segmented one
    /// (which the kernel sends only after [`Tun::enable_offloads`]) is `InvalidData`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.read_offloaded(buf)? {
            (n, Segmentation::None) => Ok(n),
            (_, seg) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("segmented packet ({seg:?}) from the device"),
            )),
        }
    }

    /// Reads one packet and how the kernel asks for it to be cut ([`Segmentation`]);
    /// `WouldBlock` when none is queued. An unsegmented packet whose checksum the kernel left
    /// to the device gets it here; a segmented one keeps its headers as the kernel wrote them
    /// (the checksums are computed when it is cut). `buf` should hold 65,535 octets: a
    /// segmented packet can be that long.
    pub fn read_offloaded(&self, buf: &mut [u8]) -> io::Result<(usize, Segmentation)> {
        let mut hdr = [0u8; VNET_HDR_LEN];
        let n = {
            let mut iov = [IoSliceMut::new(&mut hdr), IoSliceMut::new(buf)];
            nix::sys::uio::readv(&self.fd, &mut iov).map_err(io::Error::from)?
        };
        let n = n.checked_sub(VNET_HDR_LEN).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "read shorter than its header")
        })?;
        let vnet = VnetHdr::parse(&hdr);
        // The ECN bit only says the packet has CWR set; cutting handles that either way.
        let seg = match vnet.gso_type & !GSO_ECN {
            GSO_NONE => Segmentation::None,
            GSO_TCPV4 => Segmentation::Tcp(vnet.gso_size),
            GSO_UDP_L4 => Segmentation::Udp(vnet.gso_size),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("segmented packet of GSO type {other} from the device"),
                ));
            }
        };
        if seg == Segmentation::None && vnet.flags & F_NEEDS_CSUM != 0 {
            let packet = buf.get_mut(..n).unwrap_or_default();
            complete_checksum(packet, vnet.csum_start, vnet.csum_offset).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "checksum offsets outside the packet",
                )
            })?;
        }
        Ok((n, seg))
    }

    /// Asks the kernel to hand over TCP and UDP over IPv4 unsegmented (`TUNSETOFFLOAD` with
    /// `TUN_F_CSUM`, `TUN_F_TSO4` and, from Linux 6.2, `TUN_F_USO4 | TUN_F_USO6`, which the
    /// kernel takes only together): what it routes into the interface then arrives as up to
    /// 64 KiB of one flow per read, to be cut by the reader ([`Tun::read_offloaded`]). An
    /// older kernel refuses USO (`EINVAL`) and gets TCP only. The setting is the interface's,
    /// so one queue of a multi-queue device is enough. TCP over IPv6 is not asked for (the
    /// address pool is IPv4).
    pub fn enable_offloads(&self) -> io::Result<Offloads> {
        let base = libc::TUN_F_CSUM | libc::TUN_F_TSO4;
        for (flags, offloads) in [
            (
                base | libc::TUN_F_USO4 | libc::TUN_F_USO6,
                Offloads {
                    tcp: true,
                    udp: true,
                },
            ),
            (
                base,
                Offloads {
                    tcp: true,
                    udp: false,
                },
            ),
        ] {
            // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long of TUN_F_*
            // flags), not through a pointer; `fd` is an open TUN descriptor.
            let rc = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::TUNSETOFFLOAD as _,
                    libc::c_ulong::from(flags),
                )
            };
            if rc == 0 {
                return Ok(offloads);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }

    /// Writes one packet; `WouldBlock` when the queue is full.
    pub fn write(&self, packet: &[u8]) -> io::Result<usize> {
        let hdr = [0u8; VNET_HDR_LEN];
        let n = nix::sys::uio::writev(&self.fd, &[IoSlice::new(&hdr), IoSlice::new(packet)])
            .map_err(io::Error::from)?;
        Ok(n.saturating_sub(VNET_HDR_LEN))
    }

    /// Writes a run of UDP datagrams of one flow as one packet the kernel cuts apart every
    /// `segment` payload octets (`VIRTIO_NET_HDR_GSO_UDP_L4`): `headers` is the 20-octet
    /// IPv4 header (no options) and the 8-octet UDP header of the whole run, whose Length
    /// fields cover all of it and whose UDP Checksum holds the pseudo-header sum (RFC 768)
    /// of that length, not complemented; `payloads` are the datagrams' payloads, each
    /// `segment` octets but the last, which may be shorter. The kernel fills in each
    /// datagram's IP and UDP lengths, identification and checksums. `EINVAL` from a kernel
    /// older than 6.2, which cannot: write the datagrams one by one.
    pub fn write_segmented(
        &self,
        segment: u16,
        headers: &[u8; UDP_RUN_HEADERS],
        payloads: &[&[u8]],
    ) -> io::Result<usize> {
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_UDP_L4,
            hdr_len: UDP_RUN_HEADERS as u16,
            gso_size: segment,
            csum_start: 20,
            csum_offset: 6,
        }
        .encode();
        let mut iov = Vec::with_capacity(payloads.len() + 2);
        iov.push(IoSlice::new(&hdr));
        iov.push(IoSlice::new(headers));
        iov.extend(payloads.iter().map(|p| IoSlice::new(p)));
        let n = nix::sys::uio::writev(&self.fd, &iov).map_err(io::Error::from)?;
        Ok(n.saturating_sub(VNET_HDR_LEN))
    }
}

/// The IPv4 and UDP headers in front of a [`Tun::write_segmented`] run.
pub const UDP_RUN_HEADERS: usize = 28;

/// The segmentation offloads the kernel agreed to ([`Tun::enable_offloads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offloads {
    /// TCP over IPv4 (`TUN_F_TSO4`).
    pub tcp: bool,
    /// UDP over IPv4 (`TUN_F_USO4`, Linux 6.2).
    pub udp: bool,
}

/// How a packet read from the device is to be cut (its `virtio_net_hdr` GSO type and size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segmentation {
    /// One whole packet.
    None,
    /// TCP over IPv4, to be cut into segments of this many payload octets.
    Tcp(u16),
    /// UDP, to be cut into datagrams of this many payload octets.
    Udp(u16),
}

impl Segmentation {
    /// The transport and size to cut with ([`wire::ip::gso::split`]); `None` for one whole
    /// packet.
    pub fn cut(self) -> Option<(wire::ip::gso::Transport, u16)> {
        match self {
            Self::None => None,
            Self::Tcp(size) => Some((wire::ip::gso::Transport::Tcp, size)),
            Self::Udp(size) => Some((wire::ip::gso::Transport::Udp, size)),
        }
    }
}

/// `sizeof(struct virtio_net_hdr)` (include/uapi/linux/virtio_net.h), the tun default.
const VNET_HDR_LEN: usize = 10;
const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_UDP_L4: u8 = 5;
const GSO_ECN: u8 = 0x80;

/// `struct virtio_net_hdr`, in the host's byte order (tun's default, "legacy" virtio).
struct VnetHdr {
    flags: u8,
    gso_type: u8,
    hdr_len: u16,
    gso_size: u16,
    csum_start: u16,
    csum_offset: u16,
}

impl VnetHdr {
    fn parse(b: &[u8; VNET_HDR_LEN]) -> Self {
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        }
    }

    fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        for (i, v) in [
            (2, self.hdr_len),
            (4, self.gso_size),
            (6, self.csum_start),
            (8, self.csum_offset),
        ] {
            b[i..i + 2].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }
}

/// Completes a checksum the kernel left partial: the one's-complement sum (RFC 1071) of
/// everything from `start`, where the field at `start + offset` holds the pseudo-header sum,
/// complemented and stored in that field. `None` if the offsets lie outside the packet.
fn complete_checksum(packet: &mut [u8], start: u16, offset: u16) -> Option<()> {
    let start = usize::from(start);
    let at = start.checked_add(usize::from(offset))?;
    packet.get(at..at.checked_add(2)?)?;
    let sum = !wire::ip::checksum::data(packet.get(start..)?);
    packet
        .get_mut(at..at + 2)?
        .copy_from_slice(&sum.to_be_bytes());
    Some(())
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sets the interface's IPv4 address and netmask (`SIOCSIFADDR`, `SIOCSIFNETMASK`). With a
/// netmask shorter than /32 the kernel adds the connected route for that network through the
/// interface.
pub fn set_ipv4_address(name: &str, addr: Ipv4Addr, netmask: Ipv4Addr) -> Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_addr = sockaddr(addr);
    ctl(name, "SIOCSIFADDR", libc::SIOCSIFADDR, &mut req)?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_netmask = sockaddr(netmask);
    ctl(name, "SIOCSIFNETMASK", libc::SIOCSIFNETMASK, &mut req)
}

/// Sets the point-to-point peer address (`SIOCSIFDSTADDR`).
pub fn set_peer_address(name: &str, peer: Ipv4Addr) -> Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_dstaddr = sockaddr(peer);
    ctl(name, "SIOCSIFDSTADDR", libc::SIOCSIFDSTADDR, &mut req)
}

/// The interface's IPv4 address and netmask (`SIOCGIFADDR`, `SIOCGIFNETMASK`).
pub fn ipv4_address(name: &str) -> Result<(Ipv4Addr, Ipv4Addr)> {
    let mut req = ifreq(name)?;
    ctl(name, "SIOCGIFADDR", libc::SIOCGIFADDR, &mut req)?;
    // SAFETY: SIOCGIFADDR filled the `ifru_addr` member of the union.
    let addr = from_sockaddr(unsafe { req.ifr_ifru.ifru_addr });
    let mut req = ifreq(name)?;
    ctl(name, "SIOCGIFNETMASK", libc::SIOCGIFNETMASK, &mut req)?;
    // SAFETY: SIOCGIFNETMASK filled the `ifru_netmask` member of the union.
    let mask = from_sockaddr(unsafe { req.ifr_ifru.ifru_netmask });
    Ok((addr, mask))
}

/// Sets the MTU (`SIOCSIFMTU`).
pub fn set_mtu(name: &str, mtu: u16) -> Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_mtu = libc::c_int::from(mtu);
    ctl(name, "SIOCSIFMTU", libc::SIOCSIFMTU, &mut req)
}

/// The MTU (`SIOCGIFMTU`).
pub fn mtu(name: &str) -> Result<u32> {
    let mut req = ifreq(name)?;
    ctl(name, "SIOCGIFMTU", libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(u32::try_from(mtu).unwrap_or(0))
}

/// Brings the interface up (`SIOCGIFFLAGS`, then `SIOCSIFFLAGS` with `IFF_UP | IFF_RUNNING`).
pub fn set_up(name: &str) -> Result<()> {
    let mut req = ifreq(name)?;
    ctl(name, "SIOCGIFFLAGS", libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    ctl(name, "SIOCSIFFLAGS", libc::SIOCSIFFLAGS, &mut req)
}

/// Whether the interface is administratively up (`SIOCGIFFLAGS`).
pub fn is_up(name: &str) -> Result<bool> {
    let mut req = ifreq(name)?;
    ctl(name, "SIOCGIFFLAGS", libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(flags & libc::IFF_UP as libc::c_short != 0)
}

/// Adds a route to `dest/prefix` through interface `dev` (`SIOCADDRT`). An existing identical
/// route is not an error.
pub fn add_route(dest: Ipv4Addr, prefix: u8, dev: &str) -> Result<()> {
    route(RouteOp::Add, dest, prefix, dev)
}

/// Removes the route to `dest/prefix` through interface `dev` (`SIOCDELRT`). A route that is
/// not there (removed by someone else, or gone with its interface) is not an error.
pub fn del_route(dest: Ipv4Addr, prefix: u8, dev: &str) -> Result<()> {
    route(RouteOp::Delete, dest, prefix, dev)
}

#[derive(Clone, Copy)]
enum RouteOp {
    Add,
    Delete,
}

fn route(op: RouteOp, dest: Ipv4Addr, prefix: u8, dev: &str) -> Result<()> {
    if prefix > 32 {
        return Err(Error::io(
            format!("route {dest}/{prefix}"),
            io::Error::from(io::ErrorKind::InvalidInput),
        ));
    }
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    let dest = Ipv4Addr::from(u32::from(dest) & mask);
    let mut dev_name = name_bytes(dev)?;
    dev_name.push(0);
    // SAFETY: `rtentry` is a plain C struct of integers, `sockaddr`s and a pointer, for which
    // all-zero bytes are a valid value (a null `rt_dev` means "no device").
    let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
    rt.rt_dst = sockaddr(dest);
    rt.rt_genmask = sockaddr(Ipv4Addr::from(mask));
    rt.rt_gateway = sockaddr(Ipv4Addr::UNSPECIFIED);
    rt.rt_flags = libc::RTF_UP;
    rt.rt_dev = dev_name.as_mut_ptr().cast::<libc::c_char>();
    let (request, name, benign) = match op {
        RouteOp::Add => (libc::SIOCADDRT, "SIOCADDRT", libc::EEXIST),
        RouteOp::Delete => (libc::SIOCDELRT, "SIOCDELRT", libc::ESRCH),
    };
    let sock = ctl_socket()?;
    // SAFETY: SIOCADDRT and SIOCDELRT read a `struct rtentry`; `rt` is initialised and its
    // `rt_dev` points at the NUL-terminated `dev_name`, which outlives the call.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            request as _,
            &mut rt as *mut libc::rtentry,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(benign) {
            return Ok(());
        }
        return Err(Error::io(format!("{name} {dest}/{prefix} dev {dev}"), e));
    }
    Ok(())
}

fn ctl_socket() -> Result<OwnedFd> {
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::io("socket(AF_INET, SOCK_DGRAM)", e))
}

/// Runs one interface ioctl on a fresh `AF_INET` datagram socket.
fn ctl(name: &str, op: &str, request: libc::c_ulong, req: &mut libc::ifreq) -> Result<()> {
    let sock = ctl_socket()?;
    // SAFETY: every request passed here (SIOC[GS]IF*) reads or writes one `struct ifreq`; `req`
    // is a valid ifreq with a NUL-terminated name that lives across the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request as _, req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(Error::io(
            format!("{op} {name}"),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn name_bytes(name: &str) -> Result<Vec<u8>> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(Error::BadName(name.to_owned()));
    }
    Ok(bytes.to_vec())
}

/// A zeroed `ifreq` carrying `name`.
fn ifreq(name: &str) -> Result<libc::ifreq> {
    let bytes = name_bytes(name)?;
    // SAFETY: `ifreq` is a C struct of a char array and a union of integers, sockaddrs and a
    // pointer; all-zero bytes are a valid value for every member.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn name_of(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sockaddr_in` and `sockaddr` are both 16-byte plain C structs (the size equality
    // is checked by `transmute` at compile time); every bit pattern is valid for `sockaddr`,
    // and this is exactly how the kernel interprets an AF_INET `sockaddr`.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn from_sockaddr(sa: libc::sockaddr) -> Ipv4Addr {
    // SAFETY: as in `sockaddr`, the two types have the same size and every bit pattern is a
    // valid `sockaddr_in`.
    let sin = unsafe { std::mem::transmute::<libc::sockaddr, libc::sockaddr_in>(sa) };
    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(matches!(ifreq(""), Err(Error::BadName(_))));
        assert!(matches!(ifreq("sixteen-bytes-xx"), Err(Error::BadName(_))));
        assert!(matches!(ifreq("a\0b"), Err(Error::BadName(_))));
        let req = ifreq("l2tp0").unwrap();
        assert_eq!(name_of(&req), "l2tp0");
    }

    #[test]
    fn a_partial_checksum_is_completed() {
        use wire::ip::{Protocol, checksum};
        let (src, dst) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2));
        let mut p = vec![0x45, 0, 0, 31, 0, 0, 0x40, 0, 64, 17, 0, 0];
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&[0x13, 0x88, 0x06, 0xa5, 0, 11, 0, 0, b'a', b'b', b'c']);
        // What the kernel leaves: the pseudo-header sum, not complemented.
        let pseudo = checksum::pseudo_header(src, dst, Protocol::Udp, 11);
        p[26..28].copy_from_slice(&pseudo.to_be_bytes());
        complete_checksum(&mut p, 20, 6).unwrap();
        // Verifying adds the pseudo-header once more: a valid datagram sums to all ones.
        let verify = checksum::combine(&[pseudo, checksum::data(&p[20..])]);
        assert_eq!(verify, 0xffff);
        assert_eq!(complete_checksum(&mut p, 20, 10), None);
        assert_eq!(complete_checksum(&mut p, 40, 0), None);
    }

    #[test]
    fn sockaddr_round_trip() {
        let a = Ipv4Addr::new(10, 99, 0, 1);
        let sa = sockaddr(a);
        assert_eq!(i32::from(sa.sa_family), libc::AF_INET);
        assert_eq!(from_sockaddr(sa), a);
    }
}
