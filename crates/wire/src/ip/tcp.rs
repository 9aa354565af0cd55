//! The TCP header (RFC 9293 §3.1), as much as MSS clamping needs.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Options (RFC 9293 §3.2) are End of Option List (kind 0), No-Operation (kind 1), and
//! `kind | length | data` for every other kind, the length counting kind and length; "an
//! option may begin on any octet boundary". Maximum Segment Size is kind 2, length 4, with a
//! 16-bit value, and is sent only in SYN segments (§3.7.1).
//!
//! [`clamp_mss`] lowers the MSS a SYN or SYN-ACK announces, so that segments fit a tunnel
//! whose MTU is smaller than the hosts believe: it rewrites the option in place and updates
//! the checksum incrementally (RFC 1624 §3, eqn. 3), without reading the payload. Anything it
//! cannot vouch for (not IPv4, not TCP, a non-first fragment, no SYN, a truncated header or
//! option list) is left untouched.

use super::{Protocol, ipv4};
use crate::{Error, Result};

mod field {
    use crate::Field;

    pub(super) const SRC_PORT: Field = 0..2;
    pub(super) const DST_PORT: Field = 2..4;
    pub(super) const SEQ_NUM: Field = 4..8;
    pub(super) const ACK_NUM: Field = 8..12;
    pub(super) const OFFSET_FLAGS: Field = 12..14;
    pub(super) const WINDOW: Field = 14..16;
    pub(super) const CHECKSUM: Field = 16..18;
    pub(super) const URGENT: Field = 18..20;
}

/// The length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// Option kind: End of Option List (RFC 9293 §3.2).
const OPT_END: u8 = 0;
/// Option kind: No-Operation (RFC 9293 §3.2).
const OPT_NOP: u8 = 1;
/// Option kind: Maximum Segment Size (RFC 9293 §3.2), length 4.
const OPT_MSS: u8 = 2;
/// The MSS option's length.
const OPT_MSS_LEN: usize = 4;

/// Control bits (RFC 9293 §3.1), in the low byte of the offset/flags word.
pub mod flags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronize sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset the connection.
    pub const RST: u16 = 0x004;
    /// Push function.
    pub const PSH: u16 = 0x008;
    /// Acknowledgment field is significant.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer field is significant.
    pub const URG: u16 = 0x020;
    /// ECN-Echo (RFC 3168).
    pub const ECE: u16 = 0x040;
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: u16 = 0x080;
}

/// A read/write view of a TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic until [`Self::check_len`] passed.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks it ([`Self::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed header fits and that `20 <= Data Offset * 4 <= buffer length`.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        let Some(&offset) = data.get(field::OFFSET_FLAGS.start) else {
            return Err(Error::truncated("tcp.header"));
        };
        if data.len() < HEADER_LEN {
            return Err(Error::truncated("tcp.header"));
        }
        let header_len = usize::from(offset >> 4) * 4;
        if header_len < HEADER_LEN {
            return Err(Error::bad_length("tcp.data_offset"));
        }
        if data.len() < header_len {
            return Err(Error::truncated("tcp.options"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[allow(clippy::indexing_slicing)] // All fields lie in the checked fixed header.
    fn read_u16(&self, f: crate::Field) -> u16 {
        let d = &self.buffer.as_ref()[f];
        u16::from_be_bytes([d[0], d[1]])
    }

    #[allow(clippy::indexing_slicing)] // All fields lie in the checked fixed header.
    fn read_u32(&self, f: crate::Field) -> u32 {
        let d = &self.buffer.as_ref()[f];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// The Source Port.
    pub fn src_port(&self) -> u16 {
        self.read_u16(field::SRC_PORT)
    }

    /// The Destination Port.
    pub fn dst_port(&self) -> u16 {
        self.read_u16(field::DST_PORT)
    }

    /// The Sequence Number.
    pub fn seq_number(&self) -> u32 {
        self.read_u32(field::SEQ_NUM)
    }

    /// The Acknowledgment Number.
    pub fn ack_number(&self) -> u32 {
        self.read_u32(field::ACK_NUM)
    }

    /// The header length in bytes (Data Offset * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.read_u16(field::OFFSET_FLAGS) >> 12) * 4
    }

    /// The control bits (see [`flags`]).
    pub fn flags(&self) -> u16 {
        self.read_u16(field::OFFSET_FLAGS) & 0x0ff
    }

    /// The SYN bit.
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    /// The ACK bit.
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    /// The Window.
    pub fn window_len(&self) -> u16 {
        self.read_u16(field::WINDOW)
    }

    /// The Checksum field.
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The Urgent Pointer.
    pub fn urgent_at(&self) -> u16 {
        self.read_u16(field::URGENT)
    }

    /// The options bytes (empty when Data Offset is 5).
    #[allow(clippy::indexing_slicing)] // `check_len`: 20 <= header_len <= buffer length.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload: everything after the header.
    #[allow(clippy::indexing_slicing)] // `check_len`: header_len <= buffer length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// The Maximum Segment Size option's value, if the segment carries one (the first one).
    /// A truncated option list is an error: the option may be cut off.
    pub fn mss(&self) -> Result<Option<u16>> {
        Ok(mss_offset(self.options())?.and_then(|at| {
            let opts = self.options();
            Some(u16::from_be_bytes([*opts.get(at)?, *opts.get(at + 1)?]))
        }))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[allow(clippy::indexing_slicing)] // All fields lie in the fixed header.
    fn write_u16(&mut self, f: crate::Field, value: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&value.to_be_bytes());
    }

    #[allow(clippy::indexing_slicing)] // All fields lie in the fixed header.
    fn write_u32(&mut self, f: crate::Field, value: u32) {
        self.buffer.as_mut()[f].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Source Port.
    pub fn set_src_port(&mut self, value: u16) {
        self.write_u16(field::SRC_PORT, value);
    }

    /// Sets the Destination Port.
    pub fn set_dst_port(&mut self, value: u16) {
        self.write_u16(field::DST_PORT, value);
    }

    /// Sets the Sequence Number.
    pub fn set_seq_number(&mut self, value: u32) {
        self.write_u32(field::SEQ_NUM, value);
    }

    /// Sets the Acknowledgment Number.
    pub fn set_ack_number(&mut self, value: u32) {
        self.write_u32(field::ACK_NUM, value);
    }

    /// Sets Data Offset to `header_len / 4` and the control bits to `flags` (reserved bits 0).
    pub fn set_header_len_and_flags(&mut self, header_len: usize, flags: u16) {
        let offset = u16::try_from(header_len / 4).unwrap_or(0x0f).min(0x0f);
        self.write_u16(field::OFFSET_FLAGS, (offset << 12) | (flags & 0x0ff));
    }

    /// Sets the Window.
    pub fn set_window_len(&mut self, value: u16) {
        self.write_u16(field::WINDOW, value);
    }

    /// Sets the Checksum field to a raw value.
    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM, value);
    }

    /// Sets the Urgent Pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        self.write_u16(field::URGENT, value);
    }

    /// The options bytes, mutably.
    #[allow(clippy::indexing_slicing)] // `check_len`: 20 <= header_len <= buffer length.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Lowers the MSS option to `max_mss` if it is larger, updating the checksum incrementally
    /// (RFC 1624 §3). Returns whether the segment changed. The SYN bit is not checked here.
    pub fn clamp_mss(&mut self, max_mss: u16) -> Result<bool> {
        let Some(at) = mss_offset(self.options())? else {
            return Ok(false);
        };
        let opts = self.options_mut();
        let (Some(&hi), Some(&lo)) = (opts.get(at), opts.get(at + 1)) else {
            return Ok(false);
        };
        let old = u16::from_be_bytes([hi, lo]);
        if old <= max_mss {
            return Ok(false);
        }
        if let Some(value) = opts.get_mut(at..at + 2) {
            value.copy_from_slice(&max_mss.to_be_bytes());
        }
        // The checksum sums 16-bit words from the start of the header. A field at an odd
        // offset straddles two words and contributes its bytes swapped (RFC 1071 §2(B)).
        let (old, new) = if (HEADER_LEN + at) & 1 == 0 {
            (old, max_mss)
        } else {
            (old.swap_bytes(), max_mss.swap_bytes())
        };
        let checksum = incremental_update(self.checksum(), old, new);
        self.set_checksum(checksum);
        Ok(true)
    }
}

/// Where the first MSS option's value starts inside `options`, if there is one. The whole list
/// is walked: a truncated or malformed option anywhere is an error, so a damaged header is
/// never half-trusted. Bytes after End of Option List are padding.
fn mss_offset(options: &[u8]) -> Result<Option<usize>> {
    let mut mss = None;
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            OPT_END => break,
            OPT_NOP => at += 1,
            _ => {
                let len = usize::from(
                    *options
                        .get(at + 1)
                        .ok_or(Error::truncated("tcp.option.length"))?,
                );
                if len < 2 {
                    return Err(Error::bad_length("tcp.option.length"));
                }
                if at + len > options.len() {
                    return Err(Error::truncated("tcp.option"));
                }
                if kind == OPT_MSS {
                    if len != OPT_MSS_LEN {
                        return Err(Error::bad_length("tcp.option.mss"));
                    }
                    mss = mss.or(Some(at + 2));
                }
                at += len;
            }
        }
    }
    Ok(mss)
}

/// The checksum after one 16-bit word of the summed data changed from `old` to `new`:
/// `HC' = ~(~HC + ~m + m')`, RFC 1624 §3 eqn. 3 (which avoids the -0 of eqn. 2).
pub fn incremental_update(checksum: u16, old: u16, new: u16) -> u16 {
    !super::checksum::combine(&[!checksum, !old, new])
}

/// Lowers the MSS option of a TCP SYN (or SYN-ACK) inside a whole IPv4 packet to at most
/// `max_mss` (RFC 9293 §3.7.1), fixing the TCP checksum incrementally (RFC 1624). Returns
/// whether the packet changed.
///
/// Left untouched, returning false: anything that is not a well-formed IPv4 header (RFC 791),
/// a protocol other than TCP, a non-first fragment (it holds no TCP header), a first fragment
/// too short for the TCP header and its options, a segment without SYN, an MSS already at or
/// below `max_mss`, and a truncated or malformed option list. Never panics, whatever `packet`
/// holds. The IPv4 header is not changed, so its checksum stays valid.
pub fn clamp_mss(packet: &mut [u8], max_mss: u16) -> bool {
    let Ok(mut ip) = ipv4::Packet::new_checked(&mut *packet) else {
        return false;
    };
    if ip.version() != 4 || ip.protocol() != Protocol::Tcp || ip.frag_offset() != 0 {
        return false;
    }
    let Ok(mut tcp) = Packet::new_checked(ip.payload_mut()) else {
        return false;
    };
    tcp.syn() && tcp.clamp_mss(max_mss).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;
    use crate::ip::checksum;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 42, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// A SYN from 192.168.42.10:49152 to 198.51.100.7:443 with `options` (a multiple of 4
    /// bytes) and `payload`, checksums filled by full computation.
    fn syn(options: &[u8], payload: &[u8], flags: u16) -> Vec<u8> {
        let tcp_len = HEADER_LEN + options.len() + payload.len();
        let mut p = vec![0u8; ipv4::HEADER_LEN + tcp_len];
        let repr = ipv4::Repr {
            src_addr: SRC,
            dst_addr: DST,
            protocol: Protocol::Tcp,
            payload_len: tcp_len,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0x1234,
            dont_frag: true,
        };
        repr.emit(&mut p).unwrap();
        let mut t = Packet::new_unchecked(&mut p[ipv4::HEADER_LEN..]);
        t.set_src_port(49152);
        t.set_dst_port(443);
        t.set_seq_number(0x0102_0304);
        t.set_ack_number(0);
        t.set_header_len_and_flags(HEADER_LEN + options.len(), flags);
        t.set_window_len(64240);
        t.set_urgent_at(0);
        t.options_mut().copy_from_slice(options);
        p[ipv4::HEADER_LEN + HEADER_LEN + options.len()..].copy_from_slice(payload);
        let sum = full_checksum(&p);
        Packet::new_unchecked(&mut p[ipv4::HEADER_LEN..]).set_checksum(sum);
        p
    }

    /// The TCP checksum computed from scratch over the pseudo-header and the whole segment
    /// with its checksum field taken as zero.
    fn full_checksum(packet: &[u8]) -> u16 {
        let ip = ipv4::Packet::new_checked(packet).unwrap();
        let mut seg = ip.payload().to_vec();
        seg[16..18].fill(0);
        let len = u16::try_from(seg.len()).unwrap();
        !checksum::combine(&[
            checksum::pseudo_header(ip.src_addr(), ip.dst_addr(), Protocol::Tcp, len),
            checksum::data(&seg),
        ])
    }

    fn tcp_checksum(packet: &[u8]) -> u16 {
        let ip = ipv4::Packet::new_checked(packet).unwrap();
        Packet::new_checked(ip.payload()).unwrap().checksum()
    }

    // Windows 10 style SYN options: MSS 1460, NOP, WS 8, NOP, NOP, SACK permitted.
    const WIN_OPTS: [u8; 12] = [2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];

    #[test]
    fn deconstruct() {
        let p = syn(&WIN_OPTS, &[], flags::SYN);
        let t = Packet::new_checked(&p[20..]).unwrap();
        assert_eq!(t.src_port(), 49152);
        assert_eq!(t.dst_port(), 443);
        assert_eq!(t.seq_number(), 0x0102_0304);
        assert_eq!(t.ack_number(), 0);
        assert_eq!(t.header_len(), 32);
        assert_eq!(t.flags(), flags::SYN);
        assert!(t.syn() && !t.ack());
        assert_eq!(t.window_len(), 64240);
        assert_eq!(t.urgent_at(), 0);
        assert_eq!(t.options(), &WIN_OPTS);
        assert!(t.payload().is_empty());
        assert_eq!(t.mss(), Ok(Some(1460)));
        assert_eq!(t.checksum(), full_checksum(&p));
    }

    #[test]
    fn construct() {
        // The bytes `syn` builds through the setters, spelled out.
        let p = syn(&[2, 4, 0x05, 0xb4], &[], flags::SYN | flags::ACK);
        assert_eq!(
            &p[20..36],
            &[
                0xc0, 0x00, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0x60, 0x12, 0xfa, 0xf0
            ]
        );
        assert_eq!(&p[38..44], &[0, 0, 2, 4, 0x05, 0xb4]);
    }

    #[test]
    fn check_len() {
        let p = syn(&WIN_OPTS, &[], flags::SYN);
        let seg = &p[20..];
        assert_eq!(
            Packet::new_checked(&seg[..12]).unwrap_err(),
            Error::truncated("tcp.header")
        );
        assert_eq!(
            Packet::new_checked(&seg[..19]).unwrap_err(),
            Error::truncated("tcp.header")
        );
        // Data Offset 8 (32 bytes) but only 31.
        assert_eq!(
            Packet::new_checked(&seg[..31]).unwrap_err(),
            Error::truncated("tcp.options")
        );
        // Data Offset below 5.
        let mut b = seg.to_vec();
        b[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::bad_length("tcp.data_offset")
        );
    }

    #[test]
    fn clamps_syn_and_syn_ack_and_fixes_the_checksum() {
        for fl in [flags::SYN, flags::SYN | flags::ACK] {
            let mut p = syn(&WIN_OPTS, b"early data", fl);
            let before = p.clone();
            assert!(clamp_mss(&mut p, 1360));
            let t = Packet::new_checked(&p[20..]).unwrap();
            assert_eq!(t.mss(), Ok(Some(1360)));
            assert_eq!(tcp_checksum(&p), full_checksum(&p), "incremental == full");
            // Only the MSS value and the checksum changed; the IPv4 header is intact.
            let changed: Vec<usize> = (0..p.len()).filter(|&i| p[i] != before[i]).collect();
            assert!(
                changed.iter().all(|i| [36, 37, 42, 43].contains(i)),
                "{changed:?}"
            );
            assert!(ipv4::Packet::new_checked(&p[..]).unwrap().verify_checksum());
            // Already small enough: nothing to do.
            assert!(!clamp_mss(&mut p, 1360));
            assert!(!clamp_mss(&mut p, 1400));
        }
    }

    #[test]
    fn odd_aligned_mss_and_ip_options() {
        // NOP first: the MSS value sits at an odd offset and straddles two checksum words.
        let opts = [1, 2, 4, 0x05, 0xb4, 1, 1, 0];
        let mut p = syn(&opts, &[0xab; 7], flags::SYN);
        assert!(clamp_mss(&mut p, 1200));
        assert_eq!(tcp_checksum(&p), full_checksum(&p));
        assert_eq!(Packet::new_checked(&p[20..]).unwrap().mss(), Ok(Some(1200)));
        // The same segment behind a 4-byte IPv4 option (IHL 6).
        let plain = syn(&opts, &[0xab; 7], flags::SYN);
        let mut p = plain[..20].to_vec();
        p.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(&plain[20..]);
        p[0] = 0x46;
        let total = u16::try_from(p.len()).unwrap();
        p[2..4].copy_from_slice(&total.to_be_bytes());
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
        assert!(clamp_mss(&mut p, 1200));
        assert_eq!(tcp_checksum(&p), full_checksum(&p));
    }

    #[test]
    fn checksum_edge_values_match_a_full_recomputation() {
        // Vary the sequence number so that the checksum takes many values, 0x0000 and 0xffff
        // among the neighbours, and check every clamp against the full sum.
        for seq in (0u32..=0xffff)
            .step_by(97)
            .chain([0xffff_0000, 0xffff_ffff])
        {
            for (mss, max) in [(1460u16, 1360u16), (0xffff, 0), (0x0100, 0x00ff), (9000, 1)] {
                let opts = [2, 4, (mss >> 8) as u8, mss as u8];
                let mut p = syn(&opts, &[], flags::SYN);
                let mut t = Packet::new_unchecked(&mut p[20..]);
                t.set_seq_number(seq);
                let sum = full_checksum(&p);
                Packet::new_unchecked(&mut p[20..]).set_checksum(sum);
                assert!(clamp_mss(&mut p, max));
                assert_eq!(
                    tcp_checksum(&p),
                    full_checksum(&p),
                    "seq {seq:#x}, MSS {mss}"
                );
            }
        }
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        // RFC 1624 §3: eqn. 3 agrees with a full recomputation, 0x0000 and 0xffff results
        // included, as long as the data is not all zero (a TCP pseudo-header never is).
        let edge = [
            0x0000, 0x0001, 0x00ff, 0x7fff, 0x8000, 0xff00, 0xfffe, 0xffff,
        ];
        for a in edge {
            for b in edge {
                for new in edge {
                    // 0x0006: the protocol word of the pseudo-header.
                    let before = !checksum::combine(&[0x0006, a, b]);
                    let after = !checksum::combine(&[0x0006, new, b]);
                    assert_eq!(
                        incremental_update(before, a, new),
                        after,
                        "{a:x} {b:x} {new:x}"
                    );
                }
            }
        }
    }

    #[test]
    fn left_untouched() {
        let good = syn(&WIN_OPTS, &[], flags::SYN);
        type Mutate = fn(&mut Vec<u8>);
        let cases: &[(&str, Mutate)] = &[
            ("not SYN", |p| p[33] = flags::ACK as u8),
            ("UDP", |p| p[9] = 17),
            ("IPv6 version", |p| p[0] = 0x65),
            ("non-first fragment", |p| p[7] = 1),
            ("truncated IPv4", |p| p.truncate(19)),
            ("Total Length past the buffer", |p| p.truncate(40)),
            ("TCP header cut by Total Length", |p| p[3] = 36),
            ("option length 0 after the MSS", |p| p[46] = 0),
            ("option runs past the header", |p| {
                p[40..52].copy_from_slice(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 9])
            }),
            ("MSS of length 3", |p| p[41] = 3),
            ("no MSS", |p| p[40..44].copy_from_slice(&[1, 1, 1, 1])),
            ("MSS after End of Option List", |p| {
                p[40..52].copy_from_slice(&[0, 0, 0, 0, 1, 1, 1, 1, 2, 4, 0x05, 0xb4])
            }),
        ];
        for (name, mutate) in cases {
            let mut p = good.clone();
            mutate(&mut p);
            if p.len() >= 20 && p[0] >> 4 == 4 {
                ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
            }
            let before = p.clone();
            assert!(!clamp_mss(&mut p, 536), "{name}");
            assert_eq!(p, before, "{name}: untouched");
        }
    }

    #[test]
    fn never_panics_on_mutated_or_truncated_input() {
        // Every truncation and every single-byte value at every position of a valid SYN:
        // whatever the outcome, no panic, and a changed packet keeps a valid checksum.
        let good = syn(&WIN_OPTS, b"xyz", flags::SYN);
        for len in 0..=good.len() {
            let mut p = good[..len].to_vec();
            let _ = clamp_mss(&mut p, 1000);
        }
        for i in 0..good.len() {
            for v in [0x00, 0x01, 0x02, 0x04, 0x0f, 0x45, 0x80, 0xf0, 0xff] {
                let mut p = good.clone();
                p[i] = v;
                let valid = ipv4::Packet::new_checked(&p[..]).is_ok_and(|ip| {
                    ip.protocol() == Protocol::Tcp
                        && Packet::new_checked(ip.payload()).is_ok()
                        && full_checksum(&p) == tcp_checksum(&p)
                });
                if clamp_mss(&mut p, 1000) && valid {
                    assert_eq!(tcp_checksum(&p), full_checksum(&p), "byte {i} = {v:#x}");
                }
            }
        }
    }
}
