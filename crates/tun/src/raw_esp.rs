//! The raw ESP socket: IP protocol 50 (RFC 4303) without UDP encapsulation, for clients that
//! are not behind NAT when the NAT-D trick is off (raw(7): "the IPv4 header is included in
//! received packets"; on send the kernel builds the header since `IP_HDRINCL` is off).
// The crate denies unsafe code; this module is one of the two that need it (ioctl and
// raw-socket calls), and every block carries a `// SAFETY:` comment.
#![allow(unsafe_code)]

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::socket::{MsgFlags, SockaddrIn, bind, recvfrom, sendto};

use crate::{Error, Result};

/// IANA protocol number of ESP.
const IPPROTO_ESP: libc::c_int = 50;

/// Opens a non-blocking raw `IPPROTO_ESP` socket, bound to `local` if given. Needs
/// CAP_NET_RAW.
pub fn open_raw_esp(local: Option<Ipv4Addr>) -> Result<OwnedFd> {
    // SAFETY: `socket` has no memory-safety preconditions; it returns a new descriptor or -1.
    let raw = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            IPPROTO_ESP,
        )
    };
    if raw < 0 {
        return Err(Error::io(
            "socket(AF_INET, SOCK_RAW, IPPROTO_ESP)",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if let Some(a) = local.filter(|a| !a.is_unspecified()) {
        let [o0, o1, o2, o3] = a.octets();
        bind(fd.as_raw_fd(), &SockaddrIn::new(o0, o1, o2, o3, 0))
            .map_err(|e| Error::io(format!("bind raw ESP to {a}"), e))?;
    }
    Ok(fd)
}

/// A received raw ESP packet: addresses from the IPv4 header and where the ESP header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEspPacket {
    /// The sender (IPv4 source).
    pub source: Ipv4Addr,
    /// Our address (IPv4 destination).
    pub destination: Ipv4Addr,
    /// Offset of the ESP header in the buffer (the IPv4 header length).
    pub esp_offset: usize,
    /// Total length read.
    pub len: usize,
}

/// Splits what a raw socket returned (IPv4 header + ESP) into addresses and the ESP offset.
/// `None` if the IPv4 header is malformed or the protocol is not ESP.
pub fn parse_raw_esp(packet: &[u8]) -> Option<RawEspPacket> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || packet.len() < ihl {
        return None;
    }
    if i32::from(*packet.get(9)?) != IPPROTO_ESP {
        return None;
    }
    let src: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    Some(RawEspPacket {
        source: Ipv4Addr::from(src),
        destination: Ipv4Addr::from(dst),
        esp_offset: ihl,
        len: packet.len(),
    })
}

/// Receives one raw ESP packet into `buf` (IPv4 header included); `WouldBlock` when none.
/// Malformed packets are reported as `InvalidData`.
pub fn recv_esp(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<RawEspPacket> {
    let (n, _from) = recvfrom::<SockaddrIn>(fd.as_raw_fd(), buf).map_err(io::Error::from)?;
    buf.get(..n)
        .and_then(parse_raw_esp)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IPv4 ESP packet"))
}

/// Sends an ESP packet (starting at the ESP header) to `to`; the kernel adds the IPv4 header.
pub fn send_esp(fd: &impl AsRawFd, esp: &[u8], to: Ipv4Addr) -> io::Result<usize> {
    let [a, b, c, d] = to.octets();
    sendto(
        fd.as_raw_fd(),
        esp,
        &SockaddrIn::new(a, b, c, d, 0),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ipv4_header() {
        // IPv4, IHL 5, proto 50, 192.0.2.1 -> 198.51.100.2, then an ESP SPI.
        let mut p = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 50, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
        ];
        p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]);
        let r = parse_raw_esp(&p).unwrap();
        assert_eq!(r.source, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(r.destination, Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(r.esp_offset, 20);
        assert_eq!(
            &p[r.esp_offset..r.esp_offset + 4],
            &[0xde, 0xad, 0xbe, 0xef]
        );

        let mut bad = p.clone();
        bad[9] = 17;
        assert_eq!(parse_raw_esp(&bad), None, "not ESP");
        bad = p.clone();
        bad[0] = 0x65;
        assert_eq!(parse_raw_esp(&bad), None, "not IPv4");
        bad = p.clone();
        bad[0] = 0x4f;
        assert_eq!(parse_raw_esp(&bad), None, "IHL beyond the packet");
        assert_eq!(parse_raw_esp(&p[..10]), None);
        assert_eq!(parse_raw_esp(&[]), None);
        bad = p.clone();
        bad[0] = 0x44;
        assert_eq!(parse_raw_esp(&bad), None, "IHL below 5");
    }
}
