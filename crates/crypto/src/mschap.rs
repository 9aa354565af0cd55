//! MS-CHAP version 1 (RFC 2433) and version 2 (RFC 2759) response math.
//!
//! Implements the pseudo-code of RFC 2759 §8 (`NtPasswordHash`, `HashNtPasswordHash`,
//! `ChallengeHash`, `ChallengeResponse`, `DesEncrypt`, `GenerateNTResponse`,
//! `GenerateAuthenticatorResponse`) and the NT response of RFC 2433 Appendix A
//! (`NtChallengeResponse`). The LAN Manager response is not implemented: Windows sends it as
//! zeros with the "use NT response" flag set (RFC 2433 §3; observed from Windows XP).
//!
//! User names: RFC 2759 §4 hashes the user name as sent in the Response packet's Name field,
//! but Windows sends `DOMAIN\user` there while computing the hash over `user`; pppd strips the
//! domain the same way. [`user_name_for_hash`] gives that part.
//!
//! DES appears here only as the MS-CHAP response function (56-bit keys from slices of the
//! password hash); it is the protocol's own weakness, not a choice of ours.

use cipher::{BlockEncrypt, KeyInit};
use des::Des;
use md4::Md4;
use sha1::{Digest, Sha1};
use zeroize::Zeroize;

/// RFC 2759 §8.7 `Magic1`.
const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
/// RFC 2759 §8.7 `Magic2`.
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// `NtPasswordHash` (RFC 2759 §8.3): MD4 of the password in UTF-16LE ("Unicode") form.
///
/// The result is password-equivalent: callers keep it in a zeroizing container.
pub fn nt_password_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    for unit in password.encode_utf16() {
        h.update(unit.to_le_bytes());
    }
    h.finalize().into()
}

/// `HashNtPasswordHash` (RFC 2759 §8.4): MD4 of the 16-byte NT password hash.
pub fn hash_nt_password_hash(password_hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(password_hash).into()
}

/// `ChallengeHash` (RFC 2759 §8.2): the first 8 bytes of
/// `SHA1(PeerChallenge | AuthenticatorChallenge | UserName)`.
///
/// `user_name` is the name without any domain prefix (see [`user_name_for_hash`]).
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer_challenge);
    h.update(authenticator_challenge);
    h.update(user_name);
    let d = h.finalize();
    let mut out = [0u8; 8];
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = *b;
    }
    out
}

/// The user name as it enters [`challenge_hash`]: the part after the last `\` of a
/// `DOMAIN\user` name, or the whole name (RFC 2759 §4 leaves this implicit; Windows clients and
/// pppd's `ChallengeHash` strip the domain).
pub fn user_name_for_hash(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'\\') {
        Some(i) => name.get(i + 1..).unwrap_or_default(),
        None => name,
    }
}

/// Expands a 56-bit key into a 64-bit DES key, 7 key bits per byte followed by an odd-parity
/// bit (RFC 2759 §8.6 `DesEncrypt`, "insert a parity bit"; RFC 2759 §9.3 shows the result).
fn des_key_from_7(k: &[u8; 7]) -> [u8; 8] {
    let bits = k.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        // Bits 55..49, 48..42, ... of the 56-bit value, placed in the top 7 bits of each byte.
        let shift = 49 - 7 * i as u32;
        let seven = ((bits >> shift) & 0x7f) as u8;
        let byte = seven << 1;
        // Odd parity over the whole byte.
        *o = byte | u8::from(byte.count_ones() & 1 == 0);
    }
    out
}

/// `DesEncrypt` (RFC 2759 §8.6): one DES block encryption with a 7-byte key.
fn des_encrypt(clear: &[u8; 8], key7: &[u8; 7]) -> [u8; 8] {
    let mut key = des_key_from_7(key7);
    let cipher = Des::new(&key.into());
    key.zeroize();
    let mut block = (*clear).into();
    cipher.encrypt_block(&mut block);
    block.into()
}

/// `ChallengeResponse` (RFC 2759 §8.5): the 16-byte hash zero-padded to 21 bytes, split into
/// three 7-byte DES keys, each encrypting the 8-byte challenge.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    for (d, s) in z.iter_mut().zip(password_hash.iter()) {
        *d = *s;
    }
    let mut out = [0u8; 24];
    for (chunk, dst) in z.chunks_exact(7).zip(out.chunks_exact_mut(8)) {
        let mut k = [0u8; 7];
        k.copy_from_slice(chunk);
        dst.copy_from_slice(&des_encrypt(challenge, &k));
        k.zeroize();
    }
    z.zeroize();
    out
}

/// `GenerateNTResponse` (RFC 2759 §8.1): `ChallengeResponse(ChallengeHash(..), PasswordHash)`.
pub fn generate_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    password_hash: &[u8; 16],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    challenge_response(&challenge, password_hash)
}

/// `GenerateAuthenticatorResponse` (RFC 2759 §8.7), as the 20 raw digest bytes:
/// `SHA1(SHA1(HashNtPasswordHash | NT-Response | Magic1) | ChallengeHash | Magic2)`.
///
/// Format it for the Success packet with [`authenticator_response_string`].
pub fn generate_authenticator_response(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 20] {
    let mut hash_hash = hash_nt_password_hash(password_hash);
    let mut h = Sha1::new();
    h.update(hash_hash);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest = h.finalize();
    hash_hash.zeroize();
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    let mut h = Sha1::new();
    h.update(digest);
    h.update(challenge);
    h.update(MAGIC2);
    h.finalize().into()
}

/// The authenticator response as carried in the MS-CHAPv2 Success message (RFC 2759 §5):
/// `"S="` followed by 40 uppercase hexadecimal digits.
pub fn authenticator_response_string(response: &[u8; 20]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(42);
    s.push_str("S=");
    for b in response {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// The MS-CHAPv1 NT response, `NtChallengeResponse` (RFC 2433 Appendix A.5): the RFC 2759
/// `ChallengeResponse` of the 8-byte authenticator challenge under the NT password hash.
pub fn v1_nt_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    challenge_response(challenge, password_hash)
}
