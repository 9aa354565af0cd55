//! Times MODP Diffie-Hellman exponentiations, for comparing implementations under
//! `valgrind --tool=callgrind` (run with two counts and divide the difference) or by the clock.
//!
//! ```text
//! cargo run --release -p crypto --example modexp -- dh 2 100       # generate + compute_shared
//! cargo run --release -p crypto --example modexp -- openssl 2 100  # BN_mod_exp, constant time
//! ```
//!
//! The group is the IKE number (1, 2, 5, 14); each count is one key pair and one shared secret
//! (two exponentiations with a 512-bit exponent).

use std::time::Instant;

use crypto::dh::DhGroup;
use openssl::bn::{BigNum, BigNumContext};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[expect(
    clippy::disallowed_methods,
    reason = "a measuring tool, not an engine: it reads the clock"
)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: modexp (dh|openssl) GROUP COUNT";
    let [_, which, group, count] = args.as_slice() else {
        panic!("{usage}")
    };
    let group = DhGroup::from_id(group.parse().expect(usage)).expect(usage);
    let count: u32 = count.parse().expect(usage);
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let (_, peer) = group.generate(&mut rng);
    let start = Instant::now();
    let mut check = 0u8;
    match which.as_str() {
        "dh" => {
            for _ in 0..count {
                let (k, public) = group.generate(&mut rng);
                let shared = k.compute_shared(&peer).unwrap();
                check ^= public[0] ^ shared.as_bytes()[0];
            }
        }
        "openssl" => {
            let p = BigNum::from_hex_str(prime_hex(group)).unwrap();
            let g = BigNum::from_u32(2).unwrap();
            let y = BigNum::from_slice(&peer).unwrap();
            let mut ctx = BigNumContext::new().unwrap();
            let len = i32::try_from(group.public_len()).unwrap();
            for _ in 0..count {
                let mut bytes = [0u8; 64];
                rng.fill_bytes(&mut bytes);
                bytes[0] |= 0x80;
                let mut x = BigNum::from_slice(&bytes).unwrap();
                x.set_const_time();
                let mut public = BigNum::new().unwrap();
                public.mod_exp(&g, &x, &p, &mut ctx).unwrap();
                let mut shared = BigNum::new().unwrap();
                shared.mod_exp(&y, &x, &p, &mut ctx).unwrap();
                check ^=
                    public.to_vec_padded(len).unwrap()[0] ^ shared.to_vec_padded(len).unwrap()[0];
                x.clear();
                shared.clear();
            }
        }
        _ => panic!("{usage}"),
    }
    let per = start.elapsed() / count.max(1);
    println!(
        "{which} {} x{count}: {per:?} per key pair + shared secret ({check})",
        group.name()
    );
}

fn prime_hex(group: DhGroup) -> &'static str {
    match group {
        // RFC 2409 §6.2, RFC 3526 §2 and §3.
        DhGroup::Modp1024 => concat!(
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
            "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
            "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
        ),
        DhGroup::Modp1536 => concat!(
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
            "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
            "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
            "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
            "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
        ),
        DhGroup::Modp2048 => concat!(
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
            "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
            "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
            "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
            "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
            "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
        ),
        _ => panic!("only groups 2, 5 and 14"),
    }
}
