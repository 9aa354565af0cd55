//! CHAP with MD5 (RFC 1994 §4.1, Algorithm 5 in the LCP Authentication-Protocol option).
//!
//! "The Response Value is the one-way hash calculated over a stream of octets consisting of the
//! Identifier, followed by (concatenated with) the "secret", followed by (concatenated with) the
//! Challenge Value." (RFC 1994 §4.1). The hash is MD5 (RFC 1321).

use md5::{Digest, Md5};

/// The CHAP-MD5 Response Value: `MD5(identifier | secret | challenge)` (RFC 1994 §4.1).
///
/// The authenticator compares the peer's value with this one using [`crate::ct_eq`].
pub fn md5_response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([identifier]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}
