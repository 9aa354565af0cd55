//! SHA-1 and SHA-256 over 1420 bytes (an ESP packet's authenticated part) with the RustCrypto
//! crates used by `integ::Integ` and with OpenSSL's, to decide where HMAC runs: an HMAC costs
//! its two hashes, so OpenSSL's HMAC cannot be faster per packet unless its hash is.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha1::Digest;

const LEN: usize = 1420;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_1420");
    group.throughput(Throughput::Bytes(LEN as u64));
    let data = vec![0x5a; LEN];
    group.bench_function("sha1/rustcrypto", |b| b.iter(|| sha1::Sha1::digest(&data)));
    group.bench_function("sha1/openssl", |b| b.iter(|| openssl::sha::sha1(&data)));
    group.bench_function("sha256/rustcrypto", |b| {
        b.iter(|| sha2::Sha256::digest(&data))
    });
    group.bench_function("sha256/openssl", |b| b.iter(|| openssl::sha::sha256(&data)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
