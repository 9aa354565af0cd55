//! CBC-mode block ciphers for IKEv1 and ESP: DES-CBC (RFC 2405), 3DES-CBC (RFC 2451) and
//! AES-CBC with 128/192/256-bit keys (RFC 3602; IKEv1 use per RFC 3602 §5 and RFC 2409
//! Appendix A).
//!
//! A [`CbcCipher`] holds the expanded key schedule and encrypts or decrypts caller buffers in
//! place. Padding is the caller's business (ESP trailer, RFC 4303 §2.4; ISAKMP padding, RFC 2408
//! §3.5): buffers must be a whole number of blocks. No call allocates, and no call expands the
//! key again.
//!
//! # Backends
//!
//! Two implementations sit behind [`CbcCipher`] ([`Backend`]); [`CbcCipher::new`] takes the
//! faster one for each algorithm ([`Backend::preferred`]), measured per 1400-byte ESP packet:
//!
//! - **3DES: OpenSSL** (the `openssl` crate, built from source with the `vendored` feature). The
//!   RustCrypto `des` crate computes DES's permutations bit by bit, about 7,400 instructions per
//!   8-byte block; OpenSSL's table-driven rounds take about 2,200 (3.3 times fewer; 2.6 times as
//!   fast by the clock). 3DES is the only ESP cipher of Windows XP, and it also protects the LCP
//!   Echo and L2TP Hello traffic of every idle XP session, so this was most of the server's CPU
//!   with XP clients.
//! - **AES: RustCrypto** (`aes` with AES-NI, chained by the `cbc` crate). Both use the AES
//!   instructions; over 1400 bytes RustCrypto executes about 1,750 instructions to encrypt and
//!   1,550 to decrypt with AES-128, OpenSSL about 6,350 and 2,950 (its per-message set-up and a
//!   rolled round loop). By the clock neither was clearly ahead.
//! - **DES: RustCrypto.** The vendored OpenSSL leaves single DES out (it lives in OpenSSL's
//!   legacy provider), and DES is offered only for old clients.
//!
//! The RustCrypto key schedules are zeroized on drop (the `aes`/`des` crates' `zeroize`
//! feature); OpenSSL wipes its contexts when it frees them, and our copy of the key is a
//! [`crate::Secret`].

use aes::{Aes128, Aes192, Aes256};
use cipher::inout::InOutBuf;
use cipher::{BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut};
use cipher::{InnerIvInit, KeyInit};
use des::{Des, TdesEde3};

use crate::Error;

mod ossl;

/// A CBC-mode cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherAlg {
    /// DES-CBC (RFC 2405): 8-byte key, 8-byte block. Weak; accepted only for old clients.
    Des,
    /// 3DES-EDE-CBC (RFC 2451): 24-byte key (K1|K2|K3), 8-byte block.
    TripleDes,
    /// AES-128-CBC (RFC 3602): 16-byte key, 16-byte block.
    Aes128,
    /// AES-192-CBC (RFC 3602): 24-byte key, 16-byte block.
    Aes192,
    /// AES-256-CBC (RFC 3602): 32-byte key, 16-byte block.
    Aes256,
}

impl CipherAlg {
    /// The key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Des => 8,
            Self::TripleDes | Self::Aes192 => 24,
            Self::Aes128 => 16,
            Self::Aes256 => 32,
        }
    }

    /// The block (and IV) length in bytes.
    pub const fn block_len(self) -> usize {
        match self {
            Self::Des | Self::TripleDes => 8,
            Self::Aes128 | Self::Aes192 | Self::Aes256 => 16,
        }
    }

    /// The algorithm's name, for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Des => "DES-CBC",
            Self::TripleDes => "3DES-CBC",
            Self::Aes128 => "AES-128-CBC",
            Self::Aes192 => "AES-192-CBC",
            Self::Aes256 => "AES-256-CBC",
        }
    }
}

/// An implementation of the ciphers (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// OpenSSL's EVP ciphers: 3DES and AES.
    OpenSsl,
    /// The RustCrypto `des` and `aes` crates with the `cbc` crate: every algorithm.
    RustCrypto,
}

impl Backend {
    /// The faster backend for `alg`, the one [`CbcCipher::new`] uses.
    pub const fn preferred(alg: CipherAlg) -> Self {
        match alg {
            CipherAlg::TripleDes => Self::OpenSsl,
            CipherAlg::Des | CipherAlg::Aes128 | CipherAlg::Aes192 | CipherAlg::Aes256 => {
                Self::RustCrypto
            }
        }
    }

    /// Whether this backend implements `alg`.
    pub const fn supports(self, alg: CipherAlg) -> bool {
        match self {
            Self::OpenSsl => !matches!(alg, CipherAlg::Des),
            Self::RustCrypto => true,
        }
    }
}

#[derive(Clone)]
///
/// The RustCrypto schedules are boxed: inline, the largest (AES-256 with both its AES-NI and
/// its bit-sliced software schedule) made every `CbcCipher` about 1.4 KiB, also one that uses
/// OpenSSL, and every ESP SA and IKE SA holds one.
enum Schedule {
    Des(Box<Des>),
    TripleDes(Box<TdesEde3>),
    Aes128(Box<Aes128>),
    Aes192(Box<Aes192>),
    Aes256(Box<Aes256>),
    OpenSsl(ossl::OsslCbc),
}

/// A keyed CBC cipher. Shareable between threads: encryption and decryption take `&self`.
#[derive(Clone)]
pub struct CbcCipher {
    alg: CipherAlg,
    schedule: Schedule,
}

impl core::fmt::Debug for CbcCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CbcCipher")
            .field("alg", &self.alg)
            .field("backend", &self.backend())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn cbc_encrypt<C: BlockEncrypt + BlockCipher>(
    c: &C,
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), Error> {
    let mut enc =
        cbc::Encryptor::<&C>::inner_iv_slice_init(c, iv).map_err(|_| Error::InvalidLength {
            what: "IV",
            got: iv.len(),
        })?;
    let (blocks, tail) = InOutBuf::from(buf).into_chunks();
    debug_assert!(tail.is_empty(), "length checked by the caller");
    enc.encrypt_blocks_inout_mut(blocks);
    Ok(())
}

fn cbc_decrypt<C: BlockDecrypt + BlockCipher>(
    c: &C,
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), Error> {
    let mut dec =
        cbc::Decryptor::<&C>::inner_iv_slice_init(c, iv).map_err(|_| Error::InvalidLength {
            what: "IV",
            got: iv.len(),
        })?;
    let (blocks, tail) = InOutBuf::from(buf).into_chunks();
    debug_assert!(tail.is_empty(), "length checked by the caller");
    dec.decrypt_blocks_inout_mut(blocks);
    Ok(())
}

impl CbcCipher {
    /// Expands `key` for `alg` with the faster backend ([`Backend::preferred`]). The key must be
    /// exactly `alg.key_len()` bytes (IKEv1 callers first expand or truncate SKEYID_e with
    /// [`crate::ikev1::expand_key`]).
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, Error> {
        Self::with_backend(alg, key, Backend::preferred(alg))
    }

    /// Expands `key` for `alg` with the given backend (for tests and benchmarks that compare
    /// them). Fails with [`Error::Backend`] if the backend does not offer `alg`
    /// ([`Backend::supports`]).
    pub fn with_backend(alg: CipherAlg, key: &[u8], backend: Backend) -> Result<Self, Error> {
        Self::build(alg, key, backend, true)
    }

    /// Like [`CbcCipher::new`], for a key used now and then (IKE messages, which come seconds
    /// apart): the OpenSSL backend keeps no cipher context between calls but makes one per
    /// call (about 0.8 KiB less per direction; costs a key expansion per message).
    pub fn new_occasional(alg: CipherAlg, key: &[u8]) -> Result<Self, Error> {
        Self::build(alg, key, Backend::preferred(alg), false)
    }

    fn build(alg: CipherAlg, key: &[u8], backend: Backend, pooled: bool) -> Result<Self, Error> {
        let bad_len = || Error::InvalidKeyLength {
            alg: alg.name(),
            expected: alg.key_len(),
            got: key.len(),
        };
        if key.len() != alg.key_len() {
            return Err(bad_len());
        }
        if backend == Backend::OpenSsl {
            let cbc = ossl::OsslCbc::new(alg, key, pooled).ok_or(Error::Backend {
                what: "algorithm not offered",
            })?;
            return Ok(Self {
                alg,
                schedule: Schedule::OpenSsl(cbc),
            });
        }
        let schedule = match alg {
            CipherAlg::Des => {
                Schedule::Des(Box::new(Des::new_from_slice(key).map_err(|_| bad_len())?))
            }
            CipherAlg::TripleDes => Schedule::TripleDes(Box::new(
                TdesEde3::new_from_slice(key).map_err(|_| bad_len())?,
            )),
            CipherAlg::Aes128 => Schedule::Aes128(Box::new(
                Aes128::new_from_slice(key).map_err(|_| bad_len())?,
            )),
            CipherAlg::Aes192 => Schedule::Aes192(Box::new(
                Aes192::new_from_slice(key).map_err(|_| bad_len())?,
            )),
            CipherAlg::Aes256 => Schedule::Aes256(Box::new(
                Aes256::new_from_slice(key).map_err(|_| bad_len())?,
            )),
        };
        Ok(Self { alg, schedule })
    }

    /// The algorithm.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// The block (and IV) length in bytes.
    pub fn block_len(&self) -> usize {
        self.alg.block_len()
    }

    /// The backend doing the work.
    pub fn backend(&self) -> Backend {
        match self.schedule {
            Schedule::OpenSsl(_) => Backend::OpenSsl,
            _ => Backend::RustCrypto,
        }
    }

    fn check(&self, iv: &[u8], buf: &[u8]) -> Result<(), Error> {
        let bl = self.alg.block_len();
        if iv.len() != bl {
            return Err(Error::InvalidLength {
                what: "IV",
                got: iv.len(),
            });
        }
        if buf.len().checked_rem(bl) != Some(0) {
            return Err(Error::InvalidLength {
                what: "CBC buffer (not a whole number of blocks)",
                got: buf.len(),
            });
        }
        Ok(())
    }

    /// Encrypts `buf` in place in CBC mode with `iv`. `iv` must be one block and `buf` a whole
    /// number of blocks (possibly zero).
    pub fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), Error> {
        self.check(iv, buf)?;
        match &self.schedule {
            Schedule::Des(c) => cbc_encrypt(&**c, iv, buf),
            Schedule::TripleDes(c) => cbc_encrypt(&**c, iv, buf),
            Schedule::Aes128(c) => cbc_encrypt(&**c, iv, buf),
            Schedule::Aes192(c) => cbc_encrypt(&**c, iv, buf),
            Schedule::Aes256(c) => cbc_encrypt(&**c, iv, buf),
            Schedule::OpenSsl(c) => c.crypt(true, iv, buf),
        }
    }

    /// Decrypts `buf` in place in CBC mode with `iv`. `iv` must be one block and `buf` a whole
    /// number of blocks (possibly zero).
    pub fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), Error> {
        self.check(iv, buf)?;
        match &self.schedule {
            Schedule::Des(c) => cbc_decrypt(&**c, iv, buf),
            Schedule::TripleDes(c) => cbc_decrypt(&**c, iv, buf),
            Schedule::Aes128(c) => cbc_decrypt(&**c, iv, buf),
            Schedule::Aes192(c) => cbc_decrypt(&**c, iv, buf),
            Schedule::Aes256(c) => cbc_decrypt(&**c, iv, buf),
            Schedule::OpenSsl(c) => c.crypt(false, iv, buf),
        }
    }
}
