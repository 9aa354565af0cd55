//! Seal + open of one 1400-byte payload per suite: speed is measured here, never in unit tests.
//! Throughput counts payload bytes once per seal+open pair.

use core::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use esp::{Direction, Encap, FourTuple, Lifetime, Sa, SaParams};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wire::ip::Protocol;

const PAYLOAD: usize = 1400;

const SUITES: [(CipherAlg, IntegAlg, &str); 6] = [
    (
        CipherAlg::TripleDes,
        IntegAlg::HmacSha1_96,
        "3des-cbc+hmac-sha1-96",
    ),
    (
        CipherAlg::TripleDes,
        IntegAlg::HmacMd5_96,
        "3des-cbc+hmac-md5-96",
    ),
    (
        CipherAlg::Aes128,
        IntegAlg::HmacSha1_96,
        "aes128-cbc+hmac-sha1-96",
    ),
    (
        CipherAlg::Aes128,
        IntegAlg::HmacSha256_128,
        "aes128-cbc+hmac-sha256-128",
    ),
    (
        CipherAlg::Aes256,
        IntegAlg::HmacSha1_96,
        "aes256-cbc+hmac-sha1-96",
    ),
    (
        CipherAlg::Aes256,
        IntegAlg::HmacSha256_128,
        "aes256-cbc+hmac-sha256-128",
    ),
];

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

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("esp_seal_open_1400");
    group.throughput(Throughput::Bytes(PAYLOAD as u64));
    for (cipher, integ, name) in SUITES {
        let out = sa(Direction::Outbound, cipher, integ);
        let inb = sa(Direction::Inbound, cipher, integ);
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let head = out.overhead_before();
        let mut buf = vec![0x5a; head + PAYLOAD + out.max_overhead_after()];
        group.bench_function(name, |b| {
            b.iter(|| {
                let sealed = out
                    .seal(&mut buf, PAYLOAD, Protocol::Udp, &mut rng)
                    .unwrap();
                let opened = inb.open(&mut buf[..sealed.len]).unwrap();
                assert_eq!(opened.payload.len(), PAYLOAD);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
