//! Encrypts or decrypts a 1400-byte buffer a number of times with one backend, for instruction
//! counts under `valgrind --tool=callgrind` (run with two counts and divide the difference by
//! the difference of the counts, so set-up cost falls out).
//!
//! ```text
//! cargo run --release -p crypto --example cbc -- openssl 3des encrypt 1000
//! ```
//!
//! Backends: `openssl`, `rustcrypto`. Algorithms: `3des`, `aes128`, `aes256`. Directions:
//! `encrypt`, `decrypt`.

use crypto::cipher::{Backend, CbcCipher, CipherAlg};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: cbc (openssl|rustcrypto) (3des|aes128|aes256) (encrypt|decrypt) COUNT";
    let [_, backend, alg, dir, count] = args.as_slice() else {
        panic!("{usage}")
    };
    let backend = match backend.as_str() {
        "openssl" => Backend::OpenSsl,
        "rustcrypto" => Backend::RustCrypto,
        _ => panic!("{usage}"),
    };
    let alg = match alg.as_str() {
        "3des" => CipherAlg::TripleDes,
        "aes128" => CipherAlg::Aes128,
        "aes256" => CipherAlg::Aes256,
        _ => panic!("{usage}"),
    };
    let encrypt = match dir.as_str() {
        "encrypt" => true,
        "decrypt" => false,
        _ => panic!("{usage}"),
    };
    let count: u32 = count.parse().expect(usage);
    let key: Vec<u8> = (0..alg.key_len()).map(|i| i as u8 * 7 + 1).collect();
    let cipher = CbcCipher::with_backend(alg, &key, backend).unwrap();
    let mut buf = vec![0x5au8; 1400 / alg.block_len() * alg.block_len()];
    let mut iv = vec![3u8; alg.block_len()];
    for i in 0..count {
        iv[0] = i as u8;
        if encrypt {
            cipher.encrypt_in_place(&iv, &mut buf).unwrap();
        } else {
            cipher.decrypt_in_place(&iv, &mut buf).unwrap();
        }
    }
    println!("{backend:?} {alg:?} {dir} x{count}: {:02x}", buf[0]);
}
