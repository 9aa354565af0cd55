//! CBC through OpenSSL's EVP interface, with the key schedule built once per key.
//!
//! An EVP cipher context holds the expanded key and is re-initialised with only a new IV for
//! each message, which costs neither an allocation nor a key expansion. A context is not safe
//! to use from two threads at once, while an ESP SA is shared by every data-path thread, so
//! each direction has a small pool of contexts: the first is made on first use, a second only
//! when two threads use the same key at the same moment, and a third caller waits for the first.
//! OpenSSL wipes a context's key schedule when it frees it; our copy of the key (kept to make
//! the pool's contexts) is a [`Secret`].

use std::sync::{Mutex, OnceLock, PoisonError, TryLockError};

use openssl::cipher::{Cipher, CipherRef};
use openssl::cipher_ctx::{CipherCtx, CipherCtxRef};
use openssl::error::ErrorStack;

use super::CipherAlg;
use crate::{Error, Secret};

/// Contexts per direction: one per thread that may use a key at the same moment, beyond which
/// callers wait. The daemon's data path runs on one thread per CPU, and one SA is rarely busy on
/// more than two of them at once.
const SLOTS: usize = 2;

type Slot = OnceLock<Option<Mutex<CipherCtx>>>;

/// A keyed OpenSSL CBC cipher (3DES or AES).
pub(super) struct OsslCbc {
    evp: &'static CipherRef,
    block: usize,
    key: Secret,
    enc: [Slot; SLOTS],
    dec: [Slot; SLOTS],
    /// Whether contexts are kept in the slots; if not, each call makes and frees its own.
    pooled: bool,
}

impl OsslCbc {
    /// `None` for an algorithm this backend does not offer (single DES: OpenSSL keeps it in its
    /// legacy provider, which the vendored build leaves out). The key length is the caller's
    /// check.
    pub(super) fn new(alg: CipherAlg, key: &[u8], pooled: bool) -> Option<Self> {
        let evp = match alg {
            CipherAlg::Des => return None,
            CipherAlg::TripleDes => Cipher::des_ede3_cbc(),
            CipherAlg::Aes128 => Cipher::aes_128_cbc(),
            CipherAlg::Aes192 => Cipher::aes_192_cbc(),
            CipherAlg::Aes256 => Cipher::aes_256_cbc(),
        };
        Some(Self {
            evp,
            block: alg.block_len(),
            key: Secret::from_slice(key),
            enc: Default::default(),
            dec: Default::default(),
            pooled,
        })
    }

    fn make(&self, encrypt: bool) -> Result<CipherCtx, ErrorStack> {
        let mut ctx = CipherCtx::new()?;
        let key = Some(self.key.as_bytes());
        if encrypt {
            ctx.encrypt_init(Some(self.evp), key, None)?;
        } else {
            ctx.decrypt_init(Some(self.evp), key, None)?;
        }
        // Padding is the caller's (ESP and ISAKMP have their own); without this, decryption
        // would hold the last block back for a final padding check.
        ctx.set_padding(false);
        Ok(ctx)
    }

    /// Runs `op` on a free context of the direction, made on first use.
    fn with_ctx(
        &self,
        encrypt: bool,
        op: impl FnOnce(&mut CipherCtxRef) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if !self.pooled {
            let mut ctx = self.make(encrypt).map_err(failed)?;
            return op(&mut ctx);
        }
        let slots = if encrypt { &self.enc } else { &self.dec };
        let mut first = None;
        for slot in slots {
            let ctx = slot
                .get_or_init(|| self.make(encrypt).ok().map(Mutex::new))
                .as_ref()
                .ok_or(FAILED)?;
            match ctx.try_lock() {
                Ok(mut guard) => return op(&mut guard),
                // A panic cannot leave a context half-keyed: every use starts with a new IV.
                Err(TryLockError::Poisoned(p)) => return op(&mut p.into_inner()),
                Err(TryLockError::WouldBlock) => {
                    first.get_or_insert(ctx);
                }
            }
        }
        let ctx = first.ok_or(FAILED)?;
        let mut guard = ctx.lock().unwrap_or_else(PoisonError::into_inner);
        op(&mut guard)
    }

    /// CBC over `buf` in place. Lengths are checked by the caller: `iv` is one block and `buf`
    /// a whole number of blocks.
    pub(super) fn crypt(&self, encrypt: bool, iv: &[u8], buf: &mut [u8]) -> Result<(), Error> {
        let bl = self.block;
        let Some(head) = buf.len().checked_sub(bl) else {
            return Ok(()); // empty
        };
        self.with_ctx(encrypt, |ctx| {
            if encrypt {
                ctx.encrypt_init(None, None, Some(iv)).map_err(failed)?;
            } else {
                ctx.decrypt_init(None, None, Some(iv)).map_err(failed)?;
            }
            // The safe in-place update wants a block of slack behind its input, so all but the
            // last block go in place and the last one through a stack copy; the chaining value
            // carries over inside the context.
            if head > 0 && ctx.cipher_update_inplace(buf, head).map_err(failed)? != head {
                return Err(FAILED);
            }
            let last = buf.get_mut(head..).ok_or(FAILED)?;
            let mut input = [0u8; 16];
            let mut output = [0u8; 32];
            let inp = input.get_mut(..bl).ok_or(FAILED)?;
            let out = output.get_mut(..2 * bl).ok_or(FAILED)?;
            inp.copy_from_slice(last);
            if ctx.cipher_update(inp, Some(out)).map_err(failed)? != bl {
                return Err(FAILED);
            }
            last.copy_from_slice(out.get(..bl).ok_or(FAILED)?);
            Ok(())
        })
    }
}

const FAILED: Error = Error::Backend { what: "CBC" };

fn failed(_: ErrorStack) -> Error {
    FAILED
}

impl Clone for OsslCbc {
    fn clone(&self) -> Self {
        Self {
            evp: self.evp,
            block: self.block,
            key: self.key.clone(),
            enc: Default::default(),
            dec: Default::default(),
            pooled: self.pooled,
        }
    }
}
