//! Cutting a segmented IPv4 packet into the packets it stands for: what a network device
//! that offers TCP or UDP segmentation offload does with a packet the kernel handed it
//! whole (Linux `Documentation/networking/segmentation-offloads.rst`, "TCP Segmentation
//! Offload" and "UDP Fragmentation Offload"/"UDP GSO").
//!
//! A segmented packet is one IPv4 header (RFC 791 §3.1), one TCP (RFC 9293 §3.1) or UDP
//! (RFC 768) header and a payload longer than one segment; its Total Length covers all of
//! it. Each packet cut from it carries `size` octets of the payload (the last one the rest)
//! behind a copy of both headers, with the fields a sender would have set per packet:
//!
//! - IPv4: Total Length, an Identification one higher than the previous packet's (as the
//!   kernel's own segmentation numbers them), and the header checksum.
//! - TCP: the Sequence Number advanced by the payload before it; FIN and PSH only on the last
//!   packet and CWR only on the first (RFC 3168 §6.1.2: CWR is set once per window
//!   reduction); the checksum over the pseudo-header and the packet (RFC 9293 §3.1).
//! - UDP: Length and the checksum over the pseudo-header and the datagram (RFC 768), with a
//!   computed zero sent as all ones.
//!
//! Checksums are computed whole, so whatever the checksum fields held on input (the kernel
//! leaves a partial sum there for the device to complete) does not matter. A packet that is
//! not what it claims (not IPv4, a fragment, another protocol, lengths that do not add up)
//! is refused and nothing is emitted.

use core::net::Ipv4Addr;

use super::{Protocol, checksum, ipv4, tcp, udp};
use crate::{Error, Result};

/// The transport a segmented packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP: cut at `size` payload octets, sequence numbers advanced (TSO).
    Tcp,
    /// UDP: each piece its own datagram of `size` payload octets (UDP GSO).
    Udp,
}

/// Cuts `packet` into packets of at most `size` payload octets each and hands each to
/// `emit`, in order, built in `scratch` (which must hold the headers and one segment).
/// Returns how many were emitted. A packet whose payload fits one segment is emitted once,
/// with its checksums completed.
pub fn split(
    packet: &[u8],
    transport: Transport,
    size: u16,
    scratch: &mut [u8],
    mut emit: impl FnMut(&[u8]),
) -> Result<usize> {
    let headers = Headers::parse(packet, transport)?;
    let size = usize::from(size);
    if size == 0 {
        return Err(Error::bad_value("segment size"));
    }
    let payload = packet
        .get(headers.len..)
        .ok_or(Error::truncated("segmented packet"))?;
    let head = packet
        .get(..headers.len)
        .ok_or(Error::truncated("segmented packet"))?;
    if scratch.len() < headers.len + size.min(payload.len()) {
        return Err(Error::buffer_too_small("segment"));
    }
    let count = payload.len().div_ceil(size).max(1);
    let mut chunks = payload.chunks(size);
    for i in 0..count {
        let chunk = chunks.next().unwrap_or_default();
        let len = headers.len + chunk.len();
        let out = scratch
            .get_mut(..len)
            .ok_or(Error::buffer_too_small("segment"))?;
        let (h, body) = out.split_at_mut(headers.len);
        h.copy_from_slice(head);
        body.copy_from_slice(chunk);
        headers.fix(out, i, count, i * size, chunk)?;
        emit(out);
    }
    Ok(count)
}

/// What [`split`] learned from the segmented packet's headers.
struct Headers {
    transport: Transport,
    /// IPv4 header length.
    ip_len: usize,
    /// IPv4 and transport header length.
    len: usize,
    id: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    /// TCP: the first packet's Sequence Number.
    seq: u32,
}

/// TCP control bits (RFC 9293 §3.1) in the header's fourteenth octet.
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;
const TCP_FLAGS: usize = 13;

impl Headers {
    fn parse(p: &[u8], transport: Transport) -> Result<Self> {
        let t = Error::truncated("segmented packet");
        let first = *p.first().ok_or(t)?;
        if first >> 4 != 4 {
            return Err(Error::bad_value("IPv4 version"));
        }
        if p.len() < 20 {
            return Err(t);
        }
        if usize::from(u16::from_be_bytes([
            *p.get(2).ok_or(t)?,
            *p.get(3).ok_or(t)?,
        ])) != p.len()
        {
            return Err(Error::bad_length("IPv4 total length"));
        }
        let ip = ipv4::Packet::new_checked(p)?;
        // A fragment is not segmented.
        if ip.is_fragment() {
            return Err(Error::bad_value("IPv4 fragment"));
        }
        let ip_len = ip.header_len();
        let (l4_len, seq) = match (transport, ip.protocol()) {
            (Transport::Tcp, Protocol::Tcp) => {
                let tcp = tcp::Packet::new_checked(ip.payload())?;
                (tcp.header_len(), tcp.seq_number())
            }
            (Transport::Udp, Protocol::Udp) => (udp::HEADER_LEN, 0),
            _ => return Err(Error::bad_value("segmented packet protocol")),
        };
        let len = ip_len + l4_len;
        if p.len() < len {
            return Err(t);
        }
        Ok(Self {
            transport,
            ip_len,
            len,
            id: ip.ident(),
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            seq,
        })
    }

    /// Sets the fields of packet `i` of `count` in `out` (headers then `chunk`), whose
    /// payload starts `offset` octets into the segmented packet's.
    fn fix(
        &self,
        out: &mut [u8],
        i: usize,
        count: usize,
        offset: usize,
        chunk: &[u8],
    ) -> Result<()> {
        let total = u16::try_from(out.len()).map_err(|_| Error::bad_length("segment"))?;
        let l4_total =
            u16::try_from(out.len() - self.ip_len).map_err(|_| Error::bad_length("segment"))?;
        // `out` holds the checked headers of the segmented packet and `chunk`: every length
        // the views rely on holds, and Total Length is set to all of it.
        let mut ip = ipv4::Packet::new_unchecked(&mut *out);
        ip.set_total_len(total);
        ip.set_ident(self.id.wrapping_add(i as u16));
        ip.fill_checksum();
        let l4 = out
            .get_mut(self.ip_len..)
            .ok_or(Error::truncated("segment"))?;
        match self.transport {
            Transport::Tcp => {
                let mut tcp = tcp::Packet::new_checked(&mut *l4)?;
                tcp.set_seq_number(self.seq.wrapping_add(offset as u32));
                tcp.set_checksum(0);
                // Only FIN, PSH and CWR change; every other bit (reserved ones included) stays.
                let flags = l4.get_mut(TCP_FLAGS).ok_or(Error::truncated("segment"))?;
                if i + 1 < count {
                    *flags &= !(FIN | PSH);
                }
                if i > 0 {
                    *flags &= !CWR;
                }
                // Header lengths are multiples of four, so the payload's sum starts on an even
                // octet and the partial sums add up (RFC 1071 §2 (C), "parallel summation").
                let header = l4
                    .get(..self.len - self.ip_len)
                    .ok_or(Error::truncated("segment"))?;
                let sum = !checksum::combine(&[
                    checksum::pseudo_header(self.src, self.dst, Protocol::Tcp, l4_total),
                    checksum::data(header),
                    checksum::data(chunk),
                ]);
                tcp::Packet::new_unchecked(l4).set_checksum(sum);
            }
            Transport::Udp => {
                let mut udp = udp::Packet::new_unchecked(l4);
                udp.set_len(l4_total);
                udp.fill_checksum(udp::PseudoHeader {
                    src_addr: self.src,
                    dst_addr: self.dst,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{ipv4, udp};

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 7);

    fn ipv4_header(protocol: Protocol, total: usize, id: u16) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, u8::from(protocol), 0, 0];
        h.extend_from_slice(&SRC.octets());
        h.extend_from_slice(&DST.octets());
        h[2..4].copy_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// A segmented TCP packet: 12 octets of options, flags `flags`, sequence `seq`.
    fn tcp(payload: &[u8], flags: u8, seq: u32) -> Vec<u8> {
        let total = 20 + 32 + payload.len();
        let mut p = ipv4_header(Protocol::Tcp, total, 0xfffe);
        let mut t = vec![0u8; 32];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&443u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&77u32.to_be_bytes());
        t[12] = 8 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&501u16.to_be_bytes());
        // Timestamps option (NOP, NOP, kind 8, length 10).
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        // What the kernel leaves for the device: a partial sum, not the checksum.
        t[16..18].copy_from_slice(&[0xab, 0xcd]);
        p.extend_from_slice(&t);
        p.extend_from_slice(payload);
        p
    }

    fn udp(payload: &[u8]) -> Vec<u8> {
        let total = 28 + payload.len();
        let mut p = ipv4_header(Protocol::Udp, total, 9);
        p.extend_from_slice(&5000u16.to_be_bytes());
        p.extend_from_slice(&1701u16.to_be_bytes());
        p.extend_from_slice(&u16::try_from(total - 20).unwrap_or(0).to_be_bytes());
        p.extend_from_slice(&[0x12, 0x34]);
        p.extend_from_slice(payload);
        p
    }

    fn cut(packet: &[u8], transport: Transport, size: u16) -> Result<Vec<Vec<u8>>> {
        let mut scratch = vec![0u8; 65_535];
        let mut out = Vec::new();
        let n = split(packet, transport, size, &mut scratch, |p| {
            out.push(p.to_vec())
        })?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    fn tcp_checksum_ok(p: &[u8]) -> bool {
        let ip = ipv4::Packet::new_checked(p).unwrap();
        let seg = ip.payload();
        checksum::combine(&[
            checksum::pseudo_header(
                ip.src_addr(),
                ip.dst_addr(),
                Protocol::Tcp,
                u16::try_from(seg.len()).unwrap(),
            ),
            checksum::data(seg),
        ]) == 0xffff
    }

    #[test]
    fn a_tcp_packet_is_cut_into_segments_with_their_own_headers() {
        let data = payload(2 * 1000 + 348);
        let packet = tcp(&data, 0x80 | 0x10 | 0x08 | 0x01, 0xffff_fc00); // CWR ACK PSH FIN
        let segs = cut(&packet, Transport::Tcp, 1000).unwrap();
        assert_eq!(segs.len(), 3);
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let ip = ipv4::Packet::new_checked(&s[..]).unwrap();
            assert!(ip.verify_checksum(), "IPv4 checksum of {i}");
            assert_eq!(usize::from(ip.total_len()), s.len());
            assert_eq!(ip.ident(), 0xfffe_u16.wrapping_add(i as u16));
            assert!(ip.dont_frag());
            assert!(tcp_checksum_ok(s), "TCP checksum of {i}");
            let t = ip.payload();
            // Sequence numbers wrap past 2^32.
            let seq = u32::from_be_bytes(t[4..8].try_into().unwrap());
            assert_eq!(seq, 0xffff_fc00_u32.wrapping_add(1000 * i as u32));
            let flags = t[13];
            assert_eq!(flags & 0x10, 0x10, "ACK everywhere");
            assert_eq!(flags & 0x80 != 0, i == 0, "CWR only first");
            assert_eq!(flags & 0x09 != 0, i == 2, "FIN and PSH only last");
            assert_eq!(flags & 0x09, if i == 2 { 0x09 } else { 0 });
            assert_eq!(&t[20..32], &packet[40..52], "options copied");
            joined.extend_from_slice(&t[32..]);
        }
        assert_eq!(segs[2].len(), 52 + 348);
        assert_eq!(joined, data);
    }

    #[test]
    fn a_udp_packet_is_cut_into_datagrams() {
        let data = payload(3 * 1372 + 1);
        let packet = udp(&data);
        let segs = cut(&packet, Transport::Udp, 1372).unwrap();
        assert_eq!(segs.len(), 4);
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let ip = ipv4::Packet::new_checked(&s[..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.ident(), 9 + i as u16);
            let d = udp::Packet::new_checked(ip.payload()).unwrap();
            assert_eq!(usize::from(d.len()), s.len() - 20);
            assert!(d.verify_checksum(udp::PseudoHeader {
                src_addr: SRC,
                dst_addr: DST
            }));
            assert_eq!((d.src_port(), d.dst_port()), (5000, 1701));
            joined.extend_from_slice(d.payload());
        }
        assert_eq!(segs[3].len(), 29);
        assert_eq!(joined, data);
    }

    #[test]
    fn a_packet_that_fits_one_segment_gets_its_checksums_completed() {
        let data = payload(500);
        let segs = cut(&udp(&data), Transport::Udp, 1372).unwrap();
        assert_eq!(segs.len(), 1);
        let ip = ipv4::Packet::new_checked(&segs[0][..]).unwrap();
        let d = udp::Packet::new_checked(ip.payload()).unwrap();
        assert!(d.verify_checksum(udp::PseudoHeader {
            src_addr: SRC,
            dst_addr: DST
        }));
        let segs = cut(&tcp(&[], 0x10, 5), Transport::Tcp, 1000).unwrap();
        assert_eq!(segs.len(), 1);
        assert!(tcp_checksum_ok(&segs[0]));
    }

    #[test]
    fn every_inconsistency_is_refused_and_nothing_emitted() {
        let good = udp(&payload(3000));
        let mut scratch = vec![0u8; 2000];
        let mut emitted = 0;
        let mut try_split = |p: &[u8], t: Transport, size: u16, scratch: &mut [u8]| {
            split(p, t, size, scratch, |_| emitted += 1).map_err(|e| e.kind)
        };
        use crate::ErrorKind::*;
        assert_eq!(
            try_split(&good, Transport::Tcp, 1000, &mut scratch),
            Err(BadValue)
        );
        assert_eq!(
            try_split(&good, Transport::Udp, 0, &mut scratch),
            Err(BadValue)
        );
        assert_eq!(
            try_split(&good, Transport::Udp, 1990, &mut scratch),
            Err(BufferTooSmall)
        );
        assert_eq!(
            try_split(&good[..2000], Transport::Udp, 1000, &mut scratch),
            Err(BadLength)
        );
        assert_eq!(
            try_split(&good[..10], Transport::Udp, 1000, &mut scratch),
            Err(Truncated)
        );
        assert_eq!(
            try_split(&[], Transport::Udp, 1000, &mut scratch),
            Err(Truncated)
        );
        let mut fragment = good.clone();
        fragment[6] |= 0x20; // More Fragments
        assert_eq!(
            try_split(&fragment, Transport::Udp, 1000, &mut scratch),
            Err(BadValue)
        );
        let mut v6 = good.clone();
        v6[0] = 0x60;
        assert_eq!(
            try_split(&v6, Transport::Udp, 1000, &mut scratch),
            Err(BadValue)
        );
        let mut short_ihl = good.clone();
        short_ihl[0] = 0x44;
        assert_eq!(
            try_split(&short_ihl, Transport::Udp, 1000, &mut scratch),
            Err(BadLength)
        );
        let mut bad_offset = tcp(&payload(10), 0x10, 1);
        bad_offset[32] = 4 << 4;
        assert_eq!(
            try_split(&bad_offset, Transport::Tcp, 1000, &mut scratch),
            Err(BadLength)
        );
        let tcp_headers_only = tcp(&[], 0x10, 1);
        assert_eq!(
            try_split(&tcp_headers_only[..45], Transport::Tcp, 1000, &mut scratch),
            Err(BadLength)
        );
        assert_eq!(emitted, 0);
    }
}
