//! A `CbcCipher` is held by every ESP and IKE SA, so its size and what it keeps between calls
//! matter per session.

use crypto::cipher::{CbcCipher, CipherAlg};

const ALGS: [CipherAlg; 5] = [
    CipherAlg::Des,
    CipherAlg::TripleDes,
    CipherAlg::Aes128,
    CipherAlg::Aes192,
    CipherAlg::Aes256,
];

#[test]
fn a_cipher_is_small_inline_whatever_its_algorithm() {
    // The AES-256 schedule inline made it about 1.4 KiB.
    assert!(
        size_of::<CbcCipher>() <= 192,
        "CbcCipher is {} bytes",
        size_of::<CbcCipher>()
    );
}

#[test]
fn an_occasional_cipher_encrypts_and_decrypts_like_a_pooled_one() {
    for alg in ALGS {
        let key: Vec<u8> = (0..alg.key_len()).map(|i| i as u8 ^ 0x5a).collect();
        let iv: Vec<u8> = (0..alg.block_len()).map(|i| i as u8).collect();
        let plain: Vec<u8> = (0..alg.block_len() * 7).map(|i| (i * 7) as u8).collect();
        let pooled = CbcCipher::new(alg, &key).unwrap();
        let occasional = CbcCipher::new_occasional(alg, &key).unwrap();
        assert_eq!(occasional.backend(), pooled.backend(), "{alg:?}");
        let mut a = plain.clone();
        let mut b = plain.clone();
        pooled.encrypt_in_place(&iv, &mut a).unwrap();
        occasional.encrypt_in_place(&iv, &mut b).unwrap();
        assert_eq!(a, b, "{alg:?}");
        assert_ne!(a, plain, "{alg:?}");
        // Twice, so a context made for one call is not assumed to survive it.
        for _ in 0..2 {
            let mut c = a.clone();
            occasional.decrypt_in_place(&iv, &mut c).unwrap();
            assert_eq!(c, plain, "{alg:?}");
        }
        let clone = occasional.clone();
        let mut d = a.clone();
        clone.decrypt_in_place(&iv, &mut d).unwrap();
        assert_eq!(d, plain, "{alg:?}");
    }
}
