//! Shared helpers for the esp integration tests.
#![allow(dead_code)]

pub(crate) mod vectors;

use core::net::SocketAddr;

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use esp::{Direction, Encap, FourTuple, Lifetime, SaParams};
use rand::{CryptoRng, RngCore};

/// An "RNG" that returns fixed bytes, to reproduce a published IV. Test-only.
pub(crate) struct FixedRng(pub(crate) Vec<u8>);

impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("only fill_bytes is used")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("only fill_bytes is used")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.copy_from_slice(&self.0[..dest.len()]);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for FixedRng {}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The server at 192.0.2.1:4500 and a client NAT at 198.51.100.7:<port>.
pub(crate) fn natt_peer(client_port: u16) -> FourTuple {
    FourTuple {
        local: addr("192.0.2.1:4500"),
        remote: SocketAddr::new("198.51.100.7".parse().unwrap(), client_port),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn params(
    spi: u32,
    direction: Direction,
    cipher: CipherAlg,
    enc_key: &[u8],
    integ: IntegAlg,
    auth_key: &[u8],
    peer: FourTuple,
    natt: bool,
) -> SaParams {
    SaParams {
        spi,
        direction,
        cipher,
        enc_key: Secret::new(enc_key.to_vec()),
        integ,
        auth_key: Secret::new(auth_key.to_vec()),
        encap: if natt {
            Encap::Udp {
                local: peer.local,
                remote: peer.remote,
            }
        } else {
            Encap::None
        },
        peer,
        lifetime: Lifetime::UNLIMITED,
    }
}

/// Every supported suite.
pub(crate) const SUITES: [(CipherAlg, IntegAlg); 9] = [
    (CipherAlg::TripleDes, IntegAlg::HmacMd5_96),
    (CipherAlg::TripleDes, IntegAlg::HmacSha1_96),
    (CipherAlg::TripleDes, IntegAlg::HmacSha256_128),
    (CipherAlg::Aes128, IntegAlg::HmacMd5_96),
    (CipherAlg::Aes128, IntegAlg::HmacSha1_96),
    (CipherAlg::Aes128, IntegAlg::HmacSha256_128),
    (CipherAlg::Aes256, IntegAlg::HmacMd5_96),
    (CipherAlg::Aes256, IntegAlg::HmacSha1_96),
    (CipherAlg::Aes256, IntegAlg::HmacSha256_128),
];

/// Deterministic keys of the right lengths for a suite.
pub(crate) fn keys(cipher: CipherAlg, integ: IntegAlg) -> (Vec<u8>, Vec<u8>) {
    let enc = (0..cipher.key_len()).map(|i| 0x40 + i as u8).collect();
    let auth = (0..integ.key_len()).map(|i| 0x80 + i as u8).collect();
    (enc, auth)
}

/// An inbound/outbound pair with the same keys and SPI, as the two ends of one SA.
pub(crate) fn pair(
    cipher: CipherAlg,
    integ: IntegAlg,
    spi: u32,
    peer: FourTuple,
    natt: bool,
) -> (esp::Sa, esp::Sa) {
    let (enc, auth) = keys(cipher, integ);
    let out = esp::Sa::new(params(
        spi,
        Direction::Outbound,
        cipher,
        &enc,
        integ,
        &auth,
        peer,
        natt,
    ))
    .unwrap();
    let inb = esp::Sa::new(params(
        spi,
        Direction::Inbound,
        cipher,
        &enc,
        integ,
        &auth,
        peer,
        natt,
    ))
    .unwrap();
    (out, inb)
}
