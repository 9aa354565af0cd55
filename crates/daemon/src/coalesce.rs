//! Runs of one UDP flow among the packets a reader decrypted for the TUN device, written as
//! one segmented packet ([`tun::Tun::write_segmented`]): the kernel routes, filters and
//! forwards the run once and cuts it into the datagrams on the way out, as it does with what a
//! NIC's GRO coalesced (the same checks decide what may join: RFC 791 header fields, RFC 768
//! checksum).
//!
//! A run is consecutive packets (nothing is reordered) of one flow: IPv4 without options or
//! fragmentation, UDP, the same addresses, ports, TOS, TTL and DF bit, a valid IPv4 header
//! checksum and a valid (or absent) UDP checksum, every payload as long as the first but the
//! last, which may be shorter. A packet that fails any check is written as it came.

use std::net::Ipv4Addr;

use wire::ip::{Protocol, checksum};

/// IPv4 header (no options) and UDP header.
const HEADERS: usize = tun::UDP_RUN_HEADERS;
/// The most datagrams in one run, and the most payload octets (the kernel's limits on one
/// segmented UDP packet, as for a segmented send).
const MAX_RUN: usize = tun::MAX_SEGMENTS;
const MAX_RUN_PAYLOAD: usize = tun::MAX_SEGMENTED_BYTES;

/// `count` packets from `start`: one written alone, or a run with its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: usize,
    pub(crate) count: usize,
    /// Payload octets per datagram (the first's).
    pub(crate) segment: u16,
    /// For a run of two or more: the IPv4 and UDP headers of the whole run.
    pub(crate) headers: [u8; HEADERS],
}

/// What must match for packets to share a run: TOS, DF, TTL, addresses, ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flow {
    tos: u8,
    df: bool,
    ttl: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ports: [u8; 4],
}

/// The packet's flow and payload length if it may join a run.
fn udp_flow(p: &[u8]) -> Option<(Flow, usize)> {
    let h = p.get(..HEADERS)?;
    let total = usize::from(u16::from_be_bytes([*h.get(2)?, *h.get(3)?]));
    let udp_len = usize::from(u16::from_be_bytes([*h.get(24)?, *h.get(25)?]));
    let flags = *h.get(6)?;
    let no_fragment = flags & 0xbf == 0 && *h.get(7)? == 0; // only DF may be set
    if *h.first()? != 0x45
        || total != p.len()
        || *h.get(9)? != u8::from(Protocol::Udp)
        || !no_fragment
        || udp_len != p.len() - 20
        || p.len() == HEADERS
        || checksum::data(h.get(..20)?) != 0xffff
    {
        return None;
    }
    let addr = |i: usize| -> Option<Ipv4Addr> {
        Some(Ipv4Addr::new(
            *h.get(i)?,
            *h.get(i + 1)?,
            *h.get(i + 2)?,
            *h.get(i + 3)?,
        ))
    };
    let (src, dst) = (addr(12)?, addr(16)?);
    let udp_sum = u16::from_be_bytes([*h.get(26)?, *h.get(27)?]);
    if udp_sum != 0 {
        let len = u16::try_from(udp_len).ok()?;
        let sum = checksum::combine(&[
            checksum::pseudo_header(src, dst, Protocol::Udp, len),
            checksum::data(p.get(20..)?),
        ]);
        if sum != 0xffff {
            return None;
        }
    }
    let flow = Flow {
        tos: *h.get(1)?,
        df: flags & 0x40 != 0,
        ttl: *h.get(8)?,
        src,
        dst,
        ports: [*h.get(20)?, *h.get(21)?, *h.get(22)?, *h.get(23)?],
    };
    Some((flow, p.len() - HEADERS))
}

/// Plans `packets` (in order) as runs and lone packets.
pub(crate) fn plan(packets: &[&[u8]]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut i = 0;
    while let Some(first) = packets.get(i) {
        let Some((flow, segment)) = udp_flow(first) else {
            runs.push(Run {
                start: i,
                count: 1,
                segment: 0,
                headers: [0; HEADERS],
            });
            i += 1;
            continue;
        };
        let (mut count, mut payload, mut last) = (1, segment, segment);
        while let Some(next) = packets.get(i + count) {
            let Some((f, len)) = udp_flow(next) else {
                break;
            };
            if f != flow
                || last != segment
                || len > segment
                || count >= MAX_RUN
                || payload + len > MAX_RUN_PAYLOAD
            {
                break;
            }
            count += 1;
            payload += len;
            last = len;
        }
        runs.push(Run {
            start: i,
            count,
            segment: u16::try_from(segment).unwrap_or(u16::MAX),
            headers: if count > 1 {
                run_headers(first, flow, payload)
            } else {
                [0; HEADERS]
            },
        });
        i += count;
    }
    runs
}

/// The headers of a run of `payload` octets: the first packet's, with the lengths of the
/// whole run, its IPv4 header checksum, and the UDP checksum field holding the pseudo-header
/// sum (not complemented), which the kernel completes per datagram.
fn run_headers(first: &[u8], flow: Flow, payload: usize) -> [u8; HEADERS] {
    let mut h = [0u8; HEADERS];
    if let Some(src) = first.get(..HEADERS) {
        h.copy_from_slice(src);
    }
    let total = u16::try_from(HEADERS + payload).unwrap_or(u16::MAX);
    let udp_len = total.saturating_sub(20);
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[10..12].copy_from_slice(&[0, 0]);
    let ip_sum = !checksum::data(&h[..20]);
    h[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    h[24..26].copy_from_slice(&udp_len.to_be_bytes());
    let pseudo = checksum::pseudo_header(flow.src, flow.dst, Protocol::Udp, udp_len);
    h[26..28].copy_from_slice(&pseudo.to_be_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP packet with valid checksums (or none, `udp_sum: false`).
    fn packet(sport: u16, payload: &[u8], ttl: u8, udp_sum: bool) -> Vec<u8> {
        let src = Ipv4Addr::new(10, 77, 1, 2);
        let dst = Ipv4Addr::new(10, 77, 0, 2);
        let total = (HEADERS + payload.len()) as u16;
        let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, ttl, 17, 0, 0];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        let ip_sum = !checksum::data(&p[..20]);
        p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&9000u16.to_be_bytes());
        p.extend_from_slice(&(total - 20).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        if udp_sum {
            let sum = !checksum::combine(&[
                checksum::pseudo_header(src, dst, Protocol::Udp, total - 20),
                checksum::data(&p[20..]),
            ]);
            p[26..28].copy_from_slice(&sum.to_be_bytes());
        }
        p
    }

    fn shape(runs: &[Run]) -> Vec<(usize, usize)> {
        runs.iter().map(|r| (r.start, r.count)).collect()
    }

    #[test]
    fn consecutive_datagrams_of_a_flow_form_one_run_with_whole_run_headers() {
        let ps: Vec<Vec<u8>> = vec![
            packet(5000, &[1; 100], 64, true),
            packet(5000, &[2; 100], 64, false),
            packet(5000, &[3; 40], 64, true),
        ];
        let refs: Vec<&[u8]> = ps.iter().map(Vec::as_slice).collect();
        let runs = plan(&refs);
        assert_eq!(shape(&runs), vec![(0, 3)]);
        let h = runs[0].headers;
        assert_eq!(runs[0].segment, 100);
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 28 + 240);
        assert_eq!(checksum::data(&h[..20]), 0xffff, "IPv4 header checksum");
        assert_eq!(u16::from_be_bytes([h[24], h[25]]), 8 + 240);
        let pseudo = checksum::pseudo_header(
            Ipv4Addr::new(10, 77, 1, 2),
            Ipv4Addr::new(10, 77, 0, 2),
            Protocol::Udp,
            248,
        );
        assert_eq!(u16::from_be_bytes([h[26], h[27]]), pseudo);
        assert_eq!(&h[20..24], &ps[0][20..24], "ports");
    }

    #[test]
    fn another_flow_a_short_datagram_or_a_bad_checksum_ends_a_run() {
        let mut bad = packet(5000, &[9; 100], 64, true);
        bad[40] ^= 1; // payload changed after the checksum
        let ps: Vec<Vec<u8>> = vec![
            packet(5000, &[1; 100], 64, true),
            packet(5001, &[1; 100], 64, true), // another port
            packet(5001, &[1; 100], 63, true), // another TTL
            packet(5001, &[1; 50], 63, true),  // short: ends its run
            packet(5001, &[1; 50], 63, true),
            bad,
            packet(5000, &[1; 100], 64, true),
            packet(5000, &[1; 120], 64, true), // longer than the first
        ];
        let refs: Vec<&[u8]> = ps.iter().map(Vec::as_slice).collect();
        assert_eq!(
            shape(&plan(&refs)),
            vec![(0, 1), (1, 1), (2, 2), (4, 1), (5, 1), (6, 1), (7, 1)]
        );
    }

    #[test]
    fn what_is_not_plain_ipv4_udp_is_written_alone_and_runs_are_bounded() {
        let mut options = packet(5000, &[1; 100], 64, false);
        options[0] = 0x46;
        let mut fragment = packet(5000, &[1; 100], 64, false);
        fragment[6] = 0x20; // MF
        let mut tcp = packet(5000, &[1; 100], 64, false);
        tcp[9] = 6;
        let short: &[u8] = &[0x45, 0, 0];
        let ps = [options, fragment, tcp];
        let mut refs: Vec<&[u8]> = ps.iter().map(Vec::as_slice).collect();
        refs.push(short);
        assert_eq!(shape(&plan(&refs)), vec![(0, 1), (1, 1), (2, 1), (3, 1)]);
        let many = vec![packet(5000, &[7; 1000], 64, false); 70];
        let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
        assert_eq!(
            shape(&plan(&refs)),
            vec![(0, 64), (64, 6)],
            "at most 64 per run"
        );
        let big = vec![packet(5000, &[7; 1400], 64, false); 50];
        let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
        let runs = plan(&refs);
        assert!(runs.iter().all(|r| 28 + r.count * 1400 <= 65_535));
        assert_eq!(runs.iter().map(|r| r.count).sum::<usize>(), 50);
        assert!(plan(&[]).is_empty());
    }
}
