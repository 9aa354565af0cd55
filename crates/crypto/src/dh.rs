//! Diffie-Hellman groups for IKEv1 phase 1 and Quick Mode PFS.
//!
//! MODP groups 1 and 2 (RFC 2409 §6.1, §6.2), 5 and 14 (RFC 3526 §2, §3), all with generator 2,
//! and the elliptic-curve groups 19 and 20 (RFC 5903: NIST P-256 and P-384).
//!
//! # Encodings
//!
//! - MODP public values and the shared secret `g^xy` are big-endian and left-padded with zeros
//!   to the length of the prime (RFC 2409 §5: "the Diffie-Hellman public value passed in a KE
//!   payload ... MUST be padded with zeros"; the same convention is used for `g^xy` in SKEYID
//!   derivations, RFC 2409 §5 and RFC 3526).
//! - ECP public values are `x | y` without a point-format octet, and the shared secret is the
//!   x coordinate only (RFC 5903 §7, §9).
//!
//! # Modular exponentiation
//!
//! MODP exponentiations go to OpenSSL's constant-time Montgomery exponentiation
//! (`BN_mod_exp_mont_consttime`, chosen by `BN_mod_exp` for an exponent flagged
//! `BN_FLG_CONSTTIME`): constant time in the exponent value matters because the private exponent
//! lives for a whole handshake and the peer can time responses. Measured per exponentiation with
//! a 512-bit exponent, it is about 2.4 times as fast by the clock as `crypto-bigint` 0.5's
//! `DynResidue::pow`, and executes about
//! 40 % fewer instructions, for MODP1024 to MODP2048; the key exchange is most of the cost of a
//! connect. `crypto-bigint` still holds the primes, checks the peer's value and is the fallback
//! should OpenSSL fail (it allocates, so it can run out of memory); its Montgomery parameters are
//! built once per group. Each group uses a `Uint` sized exactly to its prime, so the padded
//! encoding falls out of the limb layout.
//!
//! # Private exponents and validation
//!
//! MODP private exponents are 512 uniformly random bits from the injected RNG (top bit set),
//! at least twice the strength estimates of RFC 3526 §8 for every supported group. Peer values
//! are checked: MODP `1 < y < p - 1` with the exact padded length (these primes are safe
//! primes, so {1, p-1} is the only small subgroup; RFC 2409 §5 and RFC 6989 §2.1's
//! reasoning); ECP points must decode to a valid non-identity point on the curve (RFC 5903 §7,
//! RFC 6989 §2.3), which `p256`/`p384` check on decoding.

use std::sync::OnceLock;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{U512, U768, U1024, U1536, U2048, Uint, Word};
use openssl::bn::{BigNum, BigNumContext};
use openssl::error::ErrorStack;
use rand::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Secret};

/// The MODP768 prime, RFC 2409 §6.1 (First Oakley Group): `p = 2^768 - 2^704 - 1 + 2^64 * { [2^638 pi] + 149686 }`, generator 2.
const P_MODP768: U768 = U768::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
));

/// The MODP1024 prime, RFC 2409 §6.2 (Second Oakley Group): `p = 2^1024 - 2^960 - 1 + 2^64 * { [2^894 pi] + 129093 }`, generator 2.
const P_MODP1024: U1024 = U1024::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
));

/// The MODP1536 prime, RFC 3526 §2 (1536-bit MODP Group): `p = 2^1536 - 2^1472 - 1 + 2^64 * { [2^1406 pi] + 741804 }`, generator 2.
const P_MODP1536: U1536 = U1536::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
));

/// The MODP2048 prime, RFC 3526 §3 (2048-bit MODP Group): `p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }`, generator 2.
const P_MODP2048: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// A Diffie-Hellman group, by its IKE Group Description number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DhGroup {
    /// Group 1, 768-bit MODP (RFC 2409 §6.1). Weak; accepted only for old clients.
    Modp768,
    /// Group 2, 1024-bit MODP (RFC 2409 §6.2).
    Modp1024,
    /// Group 5, 1536-bit MODP (RFC 3526 §2).
    Modp1536,
    /// Group 14, 2048-bit MODP (RFC 3526 §3).
    Modp2048,
    /// Group 19, 256-bit random ECP group, NIST P-256 (RFC 5903 §3.1).
    Ecp256,
    /// Group 20, 384-bit random ECP group, NIST P-384 (RFC 5903 §3.2).
    Ecp384,
}

impl DhGroup {
    /// Maps an IKE Group Description value (RFC 2409 Appendix A, RFC 3526, RFC 5903 §5).
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            1 => Some(Self::Modp768),
            2 => Some(Self::Modp1024),
            5 => Some(Self::Modp1536),
            14 => Some(Self::Modp2048),
            19 => Some(Self::Ecp256),
            20 => Some(Self::Ecp384),
            _ => None,
        }
    }

    /// The IKE Group Description value.
    pub const fn id(self) -> u16 {
        match self {
            Self::Modp768 => 1,
            Self::Modp1024 => 2,
            Self::Modp1536 => 5,
            Self::Modp2048 => 14,
            Self::Ecp256 => 19,
            Self::Ecp384 => 20,
        }
    }

    /// The length in bytes of a public value (the KE payload data).
    pub const fn public_len(self) -> usize {
        match self {
            Self::Modp768 => 96,
            Self::Modp1024 => 128,
            Self::Modp1536 => 192,
            Self::Modp2048 => 256,
            Self::Ecp256 => 64,
            Self::Ecp384 => 96,
        }
    }

    /// The length in bytes of the shared secret returned by [`DhPrivate::compute_shared`].
    pub const fn shared_len(self) -> usize {
        match self {
            Self::Ecp256 => 32,
            Self::Ecp384 => 48,
            other => other.public_len(),
        }
    }

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Modp768 => "MODP768",
            Self::Modp1024 => "MODP1024",
            Self::Modp1536 => "MODP1536",
            Self::Modp2048 => "MODP2048",
            Self::Ecp256 => "ECP256",
            Self::Ecp384 => "ECP384",
        }
    }

    /// Draws a fresh private value from `rng` and returns it with the matching public value
    /// (encoded as described in the module documentation).
    pub fn generate(self, rng: &mut (impl RngCore + CryptoRng)) -> (DhPrivate, Vec<u8>) {
        let inner = match self {
            Self::Modp768 | Self::Modp1024 | Self::Modp1536 | Self::Modp2048 => {
                let mut bytes = Zeroizing::new([0u8; 64]);
                rng.fill_bytes(bytes.as_mut());
                if let Some(top) = bytes.first_mut() {
                    *top |= 0x80;
                }
                PrivInner::Modp(Exponent(U512::from_be_slice(bytes.as_ref())))
            }
            Self::Ecp256 => PrivInner::Ecp256(p256::SecretKey::random(rng)),
            Self::Ecp384 => PrivInner::Ecp384(p384::SecretKey::random(rng)),
        };
        let private = DhPrivate { group: self, inner };
        let public = private.public_value();
        (private, public)
    }
}

/// A MODP private exponent, wiped on drop.
struct Exponent(U512);

impl Drop for Exponent {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

enum PrivInner {
    Modp(Exponent),
    Ecp256(p256::SecretKey),
    Ecp384(p384::SecretKey),
}

/// A Diffie-Hellman private value. Zeroized on drop; `Debug` shows only the group.
pub struct DhPrivate {
    group: DhGroup,
    inner: PrivInner,
}

impl core::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .field("private", &"[REDACTED]")
            .finish()
    }
}

/// Big-endian bytes of `x`, exactly `LIMBS * Limb::BYTES` long (the padded encoding).
fn to_be_bytes<const LIMBS: usize>(x: &Uint<LIMBS>) -> Vec<u8> {
    let mut out = Vec::with_capacity(LIMBS * size_of::<Word>());
    for w in x.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// The Montgomery parameters of each MODP prime for `crypto-bigint`, computed on first use and
/// kept: building them cost about an eighth of a MODP1024 exponentiation, redone for each.
macro_rules! group_params {
    ($name:ident, $prime:expr, $uint:ty) => {
        fn $name() -> &'static DynResidueParams<{ <$uint>::LIMBS }> {
            static PARAMS: OnceLock<DynResidueParams<{ <$uint>::LIMBS }>> = OnceLock::new();
            PARAMS.get_or_init(|| DynResidueParams::new(&$prime))
        }
    };
}
group_params!(params_768, P_MODP768, U768);
group_params!(params_1024, P_MODP1024, U1024);
group_params!(params_1536, P_MODP1536, U1536);
group_params!(params_2048, P_MODP2048, U2048);

/// An OpenSSL big number that is wiped before it is freed (`BN_free` alone does not).
struct Cleared(BigNum);

impl Drop for Cleared {
    fn drop(&mut self) {
        self.0.clear();
    }
}

/// `base^x mod p` with OpenSSL's constant-time exponentiation.
fn ossl_pow<const LIMBS: usize>(
    p: &Uint<LIMBS>,
    base: &Uint<LIMBS>,
    x: &U512,
) -> Result<Uint<LIMBS>, ErrorStack> {
    let len = i32::try_from(LIMBS * size_of::<Word>()).unwrap_or(i32::MAX);
    let m = BigNum::from_slice(&to_be_bytes(p))?;
    let b = Cleared(BigNum::from_slice(&Zeroizing::new(to_be_bytes(base)))?);
    let mut e = Cleared(BigNum::from_slice(&Zeroizing::new(to_be_bytes(x)))?);
    e.0.set_const_time();
    let mut r = Cleared(BigNum::new()?);
    let mut ctx = BigNumContext::new()?;
    r.0.mod_exp(&b.0, &e.0, &m, &mut ctx)?;
    let bytes = Zeroizing::new(r.0.to_vec_padded(len)?);
    Ok(Uint::from_be_slice(&bytes))
}

/// `base^x mod p` with `crypto-bigint`: the fallback, and the cross-check in tests.
fn bigint_pow<const LIMBS: usize>(
    params: &DynResidueParams<LIMBS>,
    base: &Uint<LIMBS>,
    x: &U512,
) -> Uint<LIMBS> {
    DynResidue::new(base, *params).pow(x).retrieve()
}

fn modp_pow<const LIMBS: usize>(
    params: &DynResidueParams<LIMBS>,
    base: &Uint<LIMBS>,
    x: &U512,
) -> Uint<LIMBS> {
    ossl_pow(params.modulus(), base, x).unwrap_or_else(|_| bigint_pow(params, base, x))
}

fn modp_public<const LIMBS: usize>(params: &DynResidueParams<LIMBS>, x: &U512) -> Vec<u8> {
    to_be_bytes(&modp_pow(params, &Uint::<LIMBS>::from_u8(2), x))
}

fn modp_shared<const LIMBS: usize>(
    group: DhGroup,
    params: &DynResidueParams<LIMBS>,
    x: &U512,
    peer: &[u8],
) -> Result<Secret, Error> {
    let invalid = Error::PeerInvalidPublic {
        group: group.name(),
    };
    if peer.len() != LIMBS * size_of::<Word>() {
        return Err(invalid);
    }
    let y = Uint::<LIMBS>::from_be_slice(peer);
    let p_minus_1 = params.modulus().wrapping_sub(&Uint::ONE);
    // RFC 2409 §5 / RFC 6989 §2.1: reject 0, 1, p-1 and anything >= p.
    if y <= Uint::ONE || y >= p_minus_1 {
        return Err(invalid);
    }
    let mut z = modp_pow(params, &y, x);
    let out = Secret::new(to_be_bytes(&z));
    let degenerate = z <= Uint::ONE || z >= p_minus_1;
    z.zeroize();
    if degenerate {
        return Err(invalid);
    }
    Ok(out)
}

impl DhPrivate {
    /// The group of this private value.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The public value for this private value (the KE payload data).
    pub fn public_value(&self) -> Vec<u8> {
        match (&self.inner, self.group) {
            (PrivInner::Modp(x), DhGroup::Modp768) => modp_public(params_768(), &x.0),
            (PrivInner::Modp(x), DhGroup::Modp1024) => modp_public(params_1024(), &x.0),
            (PrivInner::Modp(x), DhGroup::Modp1536) => modp_public(params_1536(), &x.0),
            (PrivInner::Modp(x), _) => modp_public(params_2048(), &x.0),
            (PrivInner::Ecp256(sk), _) => {
                let point = p256::EncodedPoint::from(sk.public_key());
                ecp_xy(point.as_bytes())
            }
            (PrivInner::Ecp384(sk), _) => {
                let point = p384::EncodedPoint::from(sk.public_key());
                ecp_xy(point.as_bytes())
            }
        }
    }

    /// Computes the shared secret with the peer's public value: for MODP `g^xy` padded to the
    /// prime length, for ECP the x coordinate of the shared point (RFC 5903 §7).
    ///
    /// Fails with [`Error::PeerInvalidPublic`] if the peer value has the wrong length, is out of
    /// range (0, 1, p-1, >= p) or is not a point on the curve.
    pub fn compute_shared(&self, peer_public: &[u8]) -> Result<Secret, Error> {
        let invalid = Error::PeerInvalidPublic {
            group: self.group.name(),
        };
        match (&self.inner, self.group) {
            (PrivInner::Modp(x), DhGroup::Modp768) => {
                modp_shared(self.group, params_768(), &x.0, peer_public)
            }
            (PrivInner::Modp(x), DhGroup::Modp1024) => {
                modp_shared(self.group, params_1024(), &x.0, peer_public)
            }
            (PrivInner::Modp(x), DhGroup::Modp1536) => {
                modp_shared(self.group, params_1536(), &x.0, peer_public)
            }
            (PrivInner::Modp(x), _) => modp_shared(self.group, params_2048(), &x.0, peer_public),
            (PrivInner::Ecp256(sk), _) => {
                if peer_public.len() != 64 {
                    return Err(invalid);
                }
                let sec1 = Zeroizing::new([&[0x04u8][..], peer_public].concat());
                let pk = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| invalid)?;
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Secret::from_slice(shared.raw_secret_bytes()))
            }
            (PrivInner::Ecp384(sk), _) => {
                if peer_public.len() != 96 {
                    return Err(invalid);
                }
                let sec1 = Zeroizing::new([&[0x04u8][..], peer_public].concat());
                let pk = p384::PublicKey::from_sec1_bytes(&sec1).map_err(|_| invalid)?;
                let shared = p384::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Secret::from_slice(shared.raw_secret_bytes()))
            }
        }
    }
}

/// Strips the SEC1 uncompressed-point octet (0x04), leaving `x | y` (RFC 5903 §7).
fn ecp_xy(sec1: &[u8]) -> Vec<u8> {
    sec1.get(1..).unwrap_or_default().to_vec()
}

#[cfg(test)]
impl DhPrivate {
    /// Builds a private value from fixed bytes, for known-answer tests: a 64-byte big-endian
    /// MODP exponent or an ECP scalar.
    fn from_fixed(group: DhGroup, bytes: &[u8]) -> Self {
        let inner = match group {
            DhGroup::Ecp256 => PrivInner::Ecp256(p256::SecretKey::from_slice(bytes).unwrap()),
            DhGroup::Ecp384 => PrivInner::Ecp384(p384::SecretKey::from_slice(bytes).unwrap()),
            _ => PrivInner::Modp(Exponent(U512::from_be_slice(bytes))),
        };
        Self { group, inner }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    const ALL: [DhGroup; 6] = [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
    ];

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(s).unwrap()
    }

    fn prime_bytes(group: DhGroup) -> Vec<u8> {
        match group {
            DhGroup::Modp768 => to_be_bytes(&P_MODP768),
            DhGroup::Modp1024 => to_be_bytes(&P_MODP1024),
            DhGroup::Modp1536 => to_be_bytes(&P_MODP1536),
            DhGroup::Modp2048 => to_be_bytes(&P_MODP2048),
            _ => unreachable!(),
        }
    }

    #[test]
    fn ids_round_trip() {
        for g in ALL {
            assert_eq!(DhGroup::from_id(g.id()), Some(g));
        }
        assert_eq!(DhGroup::from_id(3), None); // EC2N: not supported
        assert_eq!(DhGroup::from_id(0), None);
        assert_eq!(DhGroup::from_id(24), None);
    }

    #[test]
    fn two_sides_agree_in_every_group() {
        let mut rng_a = ChaCha20Rng::from_seed([1; 32]);
        let mut rng_b = ChaCha20Rng::from_seed([2; 32]);
        for g in ALL {
            let (a, pa) = g.generate(&mut rng_a);
            let (b, pb) = g.generate(&mut rng_b);
            assert_eq!(pa.len(), g.public_len(), "{g:?}");
            assert_eq!(pb.len(), g.public_len(), "{g:?}");
            assert_ne!(pa, pb);
            assert_eq!(a.public_value(), pa);
            let sa = a.compute_shared(&pb).unwrap();
            let sb = b.compute_shared(&pa).unwrap();
            assert_eq!(sa.as_bytes(), sb.as_bytes(), "{g:?}");
            assert_eq!(sa.len(), g.shared_len());
            assert_eq!(a.group(), g);
            let dbg = format!("{a:?}");
            assert!(dbg.contains("REDACTED"), "{dbg}");
        }
    }

    #[test]
    fn generation_is_deterministic_for_a_seed() {
        for g in [DhGroup::Modp1024, DhGroup::Ecp256] {
            let (_, p1) = g.generate(&mut ChaCha20Rng::from_seed([9; 32]));
            let (_, p2) = g.generate(&mut ChaCha20Rng::from_seed([9; 32]));
            let (_, p3) = g.generate(&mut ChaCha20Rng::from_seed([10; 32]));
            assert_eq!(p1, p2);
            assert_ne!(p1, p3);
        }
    }

    /// `2^x mod p` and `y^x mod p`, COMPUTED independently with Python's built-in `pow` for a
    /// fixed exponent `x = 0x80 | 0x1f * 63` and `y = 0x0123456789abcdef` repeated 12 times.
    #[test]
    fn modp_known_answers() {
        let mut x = vec![0x1f; 64];
        x[0] = 0x80;
        let y_short = hex(&"0123456789abcdef".repeat(12));
        let cases = [
            (
                DhGroup::Modp768,
                "6799f50419ab30ee2bd8234a32f41dcd7a8c4b6ab603cd8e642aba21c5befe4079626b1f91265da2\
                 b62f319b0657a3c7692d9d6d85427d29c944637f3f85456964f6f403549ee827dfe80ba16f8210e8\
                 df4696e2a1a4170d23c5177484b682e9",
                "893cfcc994ac1cca0cac3d81786a8b1a153014f15b62d3b3ac6a00eaaae90ccfd368cd141fccc0e0\
                 3297a1829437181bda21522ff569d09ddc545e255dcf55570e129e52c870ead42e9405ee82ce9004\
                 083bd28391beb83d9d4e790ea5c7d286",
            ),
            (
                DhGroup::Modp2048,
                "b838c2d3ebd85ae97fc33b79b89ed98be5a4bb94b6247e0326192b355a6599c6c59ec66c9c8711b3\
                 335c5418dafbd5c82d84b381bf1f5717848046a0c9b32031becd096a4217aaf4935c4825cf78190d\
                 dc1172906b7706e829f51ed68958967de32383a89e046599eae92ed740341e0d30081f099a924640\
                 2fc04fede77bebb09c7bea9aafc4c57ef76d9bf3277b2157d2151be34bcc406be206427923d0daae\
                 dd4b367cc3d248ea1fbbc41d3e567683528010b4488de27022fdc955f6bb22a71589cbec71e9021f\
                 37145a69e32232cd62bcd40072b58598f577d9d37bfed8350c2814763c532b3e2c9a813bc61646bd\
                 925c0b463848634119683ba2cf2f5d71",
                "fbded38454cfcabb1d7f871e2a423473ab74280f4763e528df2f88a6bd3953063ccd78ebfe5f04b8\
                 57903232a65208959c496b3ba33b06ee5aa814770cfd42abeadb8076b1271049c1dda5fa740cdf36\
                 46991ec3bb5251a4ee79dc94fb2df9455210ad9f132511102ae4eb31cdb9e108ec52b2ad9563513c\
                 b5529701eb6cb13c0b78d192290b1f7e7eef5f4e87a968e2966df91a7d659fb2422c27799f11ff8d\
                 7598a92b1596cb416cf4cb1a746b5c10b1672ccb9e1bf531024587cf3ccd178e3cbab414d3f8aed9\
                 6affe61c78cd6efa15debdf86d65016a15f5d32910ed80add54ba848675f28fb8c000cb52d49cff9\
                 7cb44795a810b3b14f7a4801ca9837d0",
            ),
        ];
        for (g, public, shared) in cases {
            let k = DhPrivate::from_fixed(g, &x);
            assert_eq!(k.public_value(), hex(public), "{g:?}");
            // The peer value is left-padded to the prime length.
            let mut y = vec![0; g.public_len() - y_short.len()];
            y.extend_from_slice(&y_short);
            assert_eq!(
                k.compute_shared(&y).unwrap().as_bytes(),
                hex(shared),
                "{g:?}"
            );
            // Values shorter than the prime are refused rather than guessed at.
            assert!(k.compute_shared(&y[1..]).is_err());
        }
    }

    /// OpenSSL's exponentiation and `crypto-bigint`'s agree on random bases and exponents in
    /// every MODP group.
    #[test]
    fn modp_openssl_agrees_with_crypto_bigint() {
        fn check<const LIMBS: usize>(params: &DynResidueParams<LIMBS>, rng: &mut ChaCha20Rng) {
            for _ in 0..4 {
                let mut xb = [0u8; 64];
                rng.fill_bytes(&mut xb);
                let x = U512::from_be_slice(&xb);
                let mut bb = vec![0u8; LIMBS * size_of::<Word>()];
                rng.fill_bytes(&mut bb);
                bb[0] &= 0x7f; // below p
                let base = Uint::<LIMBS>::from_be_slice(&bb);
                let ossl = ossl_pow(params.modulus(), &base, &x).unwrap();
                assert_eq!(ossl, bigint_pow(params, &base, &x));
                assert_ne!(ossl, base);
            }
        }
        let mut rng = ChaCha20Rng::from_seed([6; 32]);
        check(params_768(), &mut rng);
        check(params_1024(), &mut rng);
        check(params_1536(), &mut rng);
        check(params_2048(), &mut rng);
    }

    #[test]
    fn modp_rejects_degenerate_peer_values() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        for g in [
            DhGroup::Modp768,
            DhGroup::Modp1024,
            DhGroup::Modp1536,
            DhGroup::Modp2048,
        ] {
            let (k, public) = g.generate(&mut rng);
            let n = g.public_len();
            let p = prime_bytes(g);
            let mut p_minus_1 = p.clone();
            *p_minus_1.last_mut().unwrap() -= 1;
            let mut one = vec![0; n];
            one[n - 1] = 1;
            let mut two = vec![0; n];
            two[n - 1] = 2;
            for bad in [vec![0; n], one, p_minus_1, p.clone(), vec![0xff; n]] {
                assert_eq!(
                    k.compute_shared(&bad).unwrap_err(),
                    Error::PeerInvalidPublic { group: g.name() },
                    "{g:?}"
                );
            }
            assert!(k.compute_shared(&public[1..]).is_err());
            assert!(
                k.compute_shared(&[public.clone(), vec![0]].concat())
                    .is_err()
            );
            assert!(k.compute_shared(&[]).is_err());
            // The smallest valid value is accepted.
            assert!(k.compute_shared(&two).is_ok());
        }
    }

    /// RFC 5903 §8.1 (256-bit random ECP group) and §8.2 (384-bit) test vectors.
    #[test]
    fn ecp_rfc5903_section8() {
        let cases = [
            (
                DhGroup::Ecp256,
                "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
                "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180
                 5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
                "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
                "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63
                 56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
                "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
            ),
            (
                DhGroup::Ecp384,
                "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655
                 E35B5380 41E649EE 3FAEF896 783AB194",
                "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6
                 DE3AC808 ACB4BDB4 C88732AE E95F41AA 9482ED1F C0EEB9CA FC498462 5CCFC23F
                 65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C",
                "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942
                 E0308312 916B8ED2 960E4BD5 5A7448FC",
                "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D
                 0D1AC43A 0336DEF9 6FDA41D0 774A3571 DCFBEC7A ACF31964 72169E83 8430367F
                 66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C",
                "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4
                 D6031355 69B9E9D0 9CF5D4A2 70F59746",
            ),
        ];
        for (g, i, gi, r, gr, gir) in cases {
            let ki = DhPrivate::from_fixed(g, &hex(i));
            let kr = DhPrivate::from_fixed(g, &hex(r));
            assert_eq!(ki.public_value(), hex(gi), "{g:?} g^i");
            assert_eq!(kr.public_value(), hex(gr), "{g:?} g^r");
            assert_eq!(ki.compute_shared(&hex(gr)).unwrap().as_bytes(), hex(gir));
            assert_eq!(kr.compute_shared(&hex(gi)).unwrap().as_bytes(), hex(gir));
        }
    }

    #[test]
    fn ecp_rejects_invalid_points() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        for g in [DhGroup::Ecp256, DhGroup::Ecp384] {
            let (k, public) = g.generate(&mut rng);
            let n = g.public_len();
            // Off the curve: flip a bit of y.
            let mut off = public.clone();
            off[n - 1] ^= 1;
            for bad in [off, vec![0; n], vec![0xff; n], public[1..].to_vec(), vec![]] {
                assert!(k.compute_shared(&bad).is_err(), "{g:?}");
            }
            // A SEC1-prefixed value is the wrong length: the KE payload carries bare x | y.
            assert!(k.compute_shared(&[&[4u8][..], &public].concat()).is_err());
        }
    }
}
