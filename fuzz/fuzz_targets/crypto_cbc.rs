//! CBC encryption and decryption with arbitrary keys, IVs and buffers never panic, reject
//! partial blocks, and round-trip: decrypt(encrypt(b)) == b.
#![no_main]

use crypto::cipher::{CbcCipher, CipherAlg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let algs = [
        CipherAlg::Des,
        CipherAlg::TripleDes,
        CipherAlg::Aes128,
        CipherAlg::Aes192,
        CipherAlg::Aes256,
    ];
    let alg = algs[usize::from(sel) % algs.len()];
    if rest.len() < alg.key_len() + alg.block_len() {
        return;
    }
    let (key, rest) = rest.split_at(alg.key_len());
    let (iv, body) = rest.split_at(alg.block_len());
    let cipher = CbcCipher::new(alg, key).unwrap();
    let mut buf = body.to_vec();
    let whole = body.len() % alg.block_len() == 0;
    assert_eq!(cipher.encrypt_in_place(iv, &mut buf).is_ok(), whole);
    if whole {
        cipher.decrypt_in_place(iv, &mut buf).unwrap();
        assert_eq!(buf, body);
    } else {
        assert_eq!(buf, body, "a rejected buffer is left untouched");
        assert!(cipher.decrypt_in_place(iv, &mut buf).is_err());
    }
});
