//! Seals (and opens) a number of 1400-byte payloads with one suite, for instruction counts under
//! `valgrind --tool=callgrind`: run it with two counts and divide the difference by the
//! difference of the counts, so set-up cost falls out.
//!
//! ```text
//! cargo run --release -p esp --example seal_open -- 3des-sha1 pair 1000
//! ```
//!
//! Suites: `3des-sha1`, `aes128-sha1`, `aes256-sha1`, `aes128-sha256`. Modes: `seal` (seal
//! only) and `pair` (seal, then open what was sealed).

use core::net::SocketAddr;

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use esp::{Direction, Encap, FourTuple, Lifetime, Sa, SaParams};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wire::ip::Protocol;

const PAYLOAD: usize = 1400;

fn sa(direction: Direction, cipher: CipherAlg, integ: IntegAlg) -> Sa {
    let local: SocketAddr = "192.0.2.1:4500".parse().unwrap();
    let remote: SocketAddr = "198.51.100.7:4500".parse().unwrap();
    Sa::new(SaParams {
        spi: 0x1000,
        direction,
        cipher,
        enc_key: Secret::new(vec![0x11; cipher.key_len()]),
        integ,
        auth_key: Secret::new(vec![0x22; integ.key_len()]),
        encap: Encap::Udp { local, remote },
        peer: FourTuple { local, remote },
        lifetime: Lifetime::UNLIMITED,
    })
    .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: seal_open SUITE (seal|pair) COUNT";
    let (suite, mode, count) = match args.as_slice() {
        [_, s, m, n] => (s.as_str(), m.as_str(), n.parse::<u32>().expect(usage)),
        _ => panic!("{usage}"),
    };
    let (cipher, integ) = match suite {
        "3des-sha1" => (CipherAlg::TripleDes, IntegAlg::HmacSha1_96),
        "aes128-sha1" => (CipherAlg::Aes128, IntegAlg::HmacSha1_96),
        "aes256-sha1" => (CipherAlg::Aes256, IntegAlg::HmacSha1_96),
        "aes128-sha256" => (CipherAlg::Aes128, IntegAlg::HmacSha256_128),
        _ => panic!("{usage}"),
    };
    let open = match mode {
        "seal" => false,
        "pair" => true,
        _ => panic!("{usage}"),
    };
    let out = sa(Direction::Outbound, cipher, integ);
    let inb = sa(Direction::Inbound, cipher, integ);
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let head = out.overhead_before();
    let mut buf = vec![0x5a; head + PAYLOAD + out.max_overhead_after()];
    let mut check = 0u64;
    for _ in 0..count {
        let sealed = out
            .seal(&mut buf, PAYLOAD, Protocol::Udp, &mut rng)
            .unwrap();
        if open {
            let opened = inb.open(&mut buf[..sealed.len]).unwrap();
            assert_eq!(opened.payload.len(), PAYLOAD);
        }
        check = check.wrapping_add(u64::from(buf[head]));
    }
    println!("{suite} {mode} {count}: {check}");
}
