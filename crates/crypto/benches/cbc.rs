//! CBC encryption and decryption of 1400 bytes (a full-size ESP payload) with each backend, to
//! choose [`crypto::cipher::Backend::preferred`]. Speed is measured here, never in unit tests.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crypto::cipher::{Backend, CbcCipher, CipherAlg};

const LEN: usize = 1400;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cbc_1400");
    group.throughput(Throughput::Bytes(LEN as u64));
    for (alg, name) in [
        (CipherAlg::TripleDes, "3des"),
        (CipherAlg::Aes128, "aes128"),
        (CipherAlg::Aes256, "aes256"),
    ] {
        for (backend, bname) in [
            (Backend::OpenSsl, "openssl"),
            (Backend::RustCrypto, "rustcrypto"),
        ] {
            let cipher = CbcCipher::with_backend(alg, &vec![0x11; alg.key_len()], backend).unwrap();
            let iv = vec![0x22; alg.block_len()];
            let mut buf = vec![0x5a; LEN / alg.block_len() * alg.block_len()];
            group.bench_function(format!("{name}/{bname}/encrypt"), |b| {
                b.iter(|| cipher.encrypt_in_place(&iv, &mut buf).unwrap())
            });
            group.bench_function(format!("{name}/{bname}/decrypt"), |b| {
                b.iter(|| cipher.decrypt_in_place(&iv, &mut buf).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
