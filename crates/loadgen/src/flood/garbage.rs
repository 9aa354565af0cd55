//! Junk for the IKE and NAT-T ports: random bytes of random length, and datagrams that look
//! like UDP-encapsulated ESP (RFC 3948 §2.1: a non-zero SPI first) under random SPIs, which a
//! server can only reject after looking the SPI up.

use rand::Rng;
use wire::esp;

/// The largest garbage datagram: a UDP payload that fits a 1500-octet IPv4 packet.
pub const MAX_LEN: usize = 1500 - crate::ip::HEADERS_LEN;

/// The IV of AES-CBC (RFC 3602 §3), which the ESP-looking datagrams imitate.
const IV_LEN: usize = 16;
/// The cipher block they pad to.
const BLOCK_LEN: usize = 16;
/// The truncated HMAC-SHA1-96 ICV (RFC 2404 §2.2).
const ICV_LEN: usize = 12;

/// Random bytes, 1 to [`MAX_LEN`] of them.
pub fn random_bytes<R: Rng>(rng: &mut R) -> Vec<u8> {
    let mut v = vec![0u8; rng.gen_range(1..=MAX_LEN)];
    rng.fill_bytes(&mut v);
    v
}

/// An ESP-looking datagram: a random SPI (never one of the reserved values 0-255, RFC 4303
/// §2.1), a small sequence number, then IV, whole cipher blocks and an ICV of random bytes,
/// as AES-CBC with HMAC-SHA1-96 would make them.
pub fn esp_like<R: Rng>(rng: &mut R) -> Vec<u8> {
    let max_blocks = (MAX_LEN - esp::HEADER_LEN - IV_LEN - ICV_LEN) / BLOCK_LEN;
    let blocks = rng.gen_range(1..=max_blocks);
    let mut v = vec![0u8; esp::HEADER_LEN + IV_LEN + blocks * BLOCK_LEN + ICV_LEN];
    rng.fill_bytes(&mut v);
    let header = esp::Repr {
        spi: rng.gen_range(esp::MIN_SPI..=u32::MAX),
        seq_number: rng.gen_range(1..=1 << 20),
    };
    // The buffer is longer than the header, so this cannot fail; keep the random bytes if it did.
    let _ = header.emit(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn random_bytes_vary_in_length_within_bounds() {
        let mut rng = ChaCha8Rng::from_seed([4; 32]);
        let lens: Vec<usize> = (0..2000).map(|_| random_bytes(&mut rng).len()).collect();
        assert!(lens.iter().all(|&l| (1..=MAX_LEN).contains(&l)));
        assert!(lens.iter().any(|&l| l < 100) && lens.iter().any(|&l| l > 1400));
        assert_eq!(MAX_LEN, 1472);
    }

    #[test]
    fn esp_like_datagrams_classify_as_esp_with_random_spis() {
        let mut rng = ChaCha8Rng::from_seed([6; 32]);
        let mut spis = std::collections::HashSet::new();
        for _ in 0..1000 {
            let d = esp_like(&mut rng);
            assert!(d.len() <= MAX_LEN);
            assert_eq!(
                (d.len() - esp::HEADER_LEN - IV_LEN - ICV_LEN) % BLOCK_LEN,
                0
            );
            let wire::natt::Repr::Esp(e) = wire::natt::Repr::parse(&d).unwrap() else {
                panic!("not classified as ESP on the NAT-T port");
            };
            let h = esp::Repr::parse(&esp::Packet::new_checked(e).unwrap()).unwrap();
            assert!(h.spi >= esp::MIN_SPI);
            spis.insert(h.spi);
        }
        assert!(spis.len() > 990, "SPIs repeat too often: {}", spis.len());
    }
}
