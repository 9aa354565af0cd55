//! Minimal IPv4 (RFC 791) and UDP (RFC 768) views, for transport-mode ESP and the TUN path.
//!
//! - [`ipv4`]: the IPv4 header (RFC 791 §3.1). Options are allowed through IHL and skipped;
//!   fragments are detected and reported, never reassembled.
//! - [`udp`]: the UDP header (RFC 768), with the checksum over the IPv4 pseudo-header. A
//!   transmitted checksum of zero means "no checksum" (RFC 768, "Fields").
//! - [`tcp`]: the TCP header (RFC 9293 §3.1) and its options, enough to clamp the Maximum
//!   Segment Size of a SYN (RFC 9293 §3.7.1) with an incremental checksum update (RFC 1624).
//! - [`icmp`]: ICMP (RFC 792), with the "fragmentation needed and DF set" error and its
//!   next-hop MTU (RFC 1191 §4), built as RFC 1812 §4.3.2.3 and RFC 1122 §3.2.2 require.
//! - [`gso`]: cutting a segmented TCP or UDP packet (what a device with segmentation offload
//!   is handed) into the packets it stands for.
//! - [`checksum`]: the Internet checksum (RFC 1071 §4.1).
//! - [`Protocol`]: the IPv4 Protocol / ESP Next Header codepoints (IANA "Assigned Internet
//!   Protocol Numbers", as used by RFC 791 §3.1 and RFC 4303 §2.6).

pub mod gso;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

enum_with_unknown! {
    /// IP protocol numbers: the IPv4 Protocol field and the ESP Next Header field (RFC 4303 §2.6).
    pub enum Protocol(u8) {
        /// ICMP (RFC 792).
        Icmp = 0x01,
        /// IPv4 in IPv4, the ESP next header of tunnel mode (RFC 2003).
        IpIp = 0x04,
        /// TCP (RFC 793).
        Tcp = 0x06,
        /// UDP (RFC 768): the only next header a transport-mode L2TP SA carries.
        Udp = 0x11,
        /// ESP (RFC 4303).
        Esp = 0x32,
        /// AH (RFC 4302).
        Ah = 0x33,
    }
}

/// The Internet checksum (RFC 1071).
pub mod checksum {
    use core::net::Ipv4Addr;

    use super::Protocol;

    /// The folded 16-bit one's-complement sum of `data` (RFC 1071 §4.1). An odd trailing
    /// byte is padded with a zero byte. This is the sum, not yet complemented.
    pub fn data(data: &[u8]) -> u16 {
        // 32-bit words summed in 64 bits: 2^16 is 1 modulo 2^16 - 1, so folding the wider sum
        // gives the 16-bit one's-complement sum (RFC 1071 §2 (B), "byte order independence"
        // and §4 "deferred carries").
        let mut words = data.chunks_exact(4);
        let mut acc: u64 = 0;
        for w in &mut words {
            if let [a, b, c, d] = w {
                acc += u64::from(u32::from_be_bytes([*a, *b, *c, *d]));
            }
        }
        let mut tail = [0u8; 4];
        for (t, b) in tail.iter_mut().zip(words.remainder()) {
            *t = *b;
        }
        acc += u64::from(u32::from_be_bytes(tail));
        fold(acc)
    }

    /// Adds partial sums together (one's-complement addition).
    pub fn combine(sums: &[u16]) -> u16 {
        fold(sums.iter().map(|&s| u64::from(s)).sum())
    }

    /// The sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, "Fields"): source,
    /// destination, zero, protocol, and the UDP length.
    pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: Protocol, length: u16) -> u16 {
        let s = src.octets();
        let d = dst.octets();
        combine(&[
            u16::from_be_bytes([s[0], s[1]]),
            u16::from_be_bytes([s[2], s[3]]),
            u16::from_be_bytes([d[0], d[1]]),
            u16::from_be_bytes([d[2], d[3]]),
            u16::from(u8::from(protocol)),
            length,
        ])
    }

    fn fold(mut acc: u64) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        // The loop leaves `acc <= 0xffff`.
        acc as u16
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rfc1071_example() {
            // RFC 1071 §3 numerical example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
            assert_eq!(
                data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
                0xddf2
            );
        }

        #[test]
        fn odd_length_pads_with_zero() {
            assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
            assert_eq!(data(&[]), 0);
        }

        #[test]
        fn wide_words_sum_as_16_bit_words_do() {
            // The 16-bit sum of RFC 1071 §1, word by word, against `data` on every length and
            // alignment up to 67 octets of pseudo-random bytes (and all-ones, the carry case).
            let naive = |d: &[u8]| -> u16 {
                let mut acc: u32 = 0;
                for pair in d.chunks(2) {
                    let hi = u32::from(pair[0]) << 8;
                    let lo = pair.get(1).map_or(0, |&b| u32::from(b));
                    acc += hi | lo;
                    acc = (acc & 0xffff) + (acc >> 16);
                }
                acc as u16
            };
            let mut x: u32 = 0x1234_5678;
            let bytes: Vec<u8> = (0..70)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            for start in 0..3 {
                for end in start..bytes.len() {
                    assert_eq!(data(&bytes[start..end]), naive(&bytes[start..end]));
                }
            }
            let ones = [0xffu8; 41];
            for n in 0..ones.len() {
                assert_eq!(data(&ones[..n]), naive(&ones[..n]), "{n} octets of ff");
            }
        }

        #[test]
        fn combine_wraps_carry() {
            assert_eq!(combine(&[0xffff, 0x0001]), 0x0001);
            assert_eq!(combine(&[0x8000, 0x8000]), 0x0001);
        }
    }
}
