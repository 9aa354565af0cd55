//! The IKEv1 key schedule and authentication hashes for pre-shared-key Main Mode and Quick Mode
//! (RFC 2409 §5, §5.4, §5.5, §5.7 and Appendix B).
//!
//! Notation follows RFC 2409 §3.2: `prf` is the negotiated PRF (HMAC of the negotiated hash,
//! §4), `Ni_b`/`Nr_b` are nonce payload bodies, `CKY-I`/`CKY-R` the ISAKMP cookies, `SAi_b` the
//! body of the initiator's SA payload and `IDii_b`/`IDir_b` ID payload bodies (all without the
//! generic payload header). `g^xy` is the Diffie-Hellman shared secret in its padded encoding
//! (see [`crate::dh`]).
//!
//! These functions allocate; they run a handful of times per handshake. Key outputs are
//! [`Secret`]s; authentication hashes are plain `Vec<u8>` because they travel in HASH payloads,
//! and callers compare received hashes with [`crate::ct_eq`].

use zeroize::Zeroize;

use crate::Secret;
use crate::hash::{HashAlg, digest, prf as hmac};

/// The phase-1 keying material (RFC 2409 §5).
#[derive(Debug, Clone)]
pub struct Phase1Keys {
    /// `SKEYID = prf(pre-shared-key, Ni_b | Nr_b)` (§5, pre-shared key authentication) or
    /// `prf(Ni_b | Nr_b, g^xy)` (signature authentication).
    pub skeyid: Secret,
    /// `SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)`: derives Quick Mode KEYMAT.
    pub skeyid_d: Secret,
    /// `SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)`: authenticates ISAKMP
    /// messages after Main Mode.
    pub skeyid_a: Secret,
    /// `SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)`: source of the ISAKMP
    /// encryption key (expand with [`expand_key`]).
    pub skeyid_e: Secret,
}

/// `SKEYID` for pre-shared-key authentication: `prf(pre-shared-key, Ni_b | Nr_b)` (RFC 2409 §5).
pub fn skeyid_psk(prf: HashAlg, psk: &[u8], ni_b: &[u8], nr_b: &[u8]) -> Secret {
    Secret::new(hmac(prf, psk, &[ni_b, nr_b]))
}

/// `SKEYID` for signature authentication: `prf(Ni_b | Nr_b, g^xy)` (RFC 2409 §5): the nonces
/// are the key, the shared secret the data.
pub fn skeyid_sig(prf: HashAlg, ni_b: &[u8], nr_b: &[u8], g_xy: &[u8]) -> Secret {
    let mut key = Vec::with_capacity(ni_b.len() + nr_b.len());
    key.extend_from_slice(ni_b);
    key.extend_from_slice(nr_b);
    let out = Secret::new(hmac(prf, &key, &[g_xy]));
    key.zeroize();
    out
}

/// Derives `SKEYID` and `SKEYID_d`, `SKEYID_a`, `SKEYID_e` for pre-shared-key authentication
/// (RFC 2409 §5).
pub fn derive_phase1(
    prf: HashAlg,
    psk: &[u8],
    ni_b: &[u8],
    nr_b: &[u8],
    g_xy: &[u8],
    cky_i: &[u8; 8],
    cky_r: &[u8; 8],
) -> Phase1Keys {
    derive_from_skeyid(prf, skeyid_psk(prf, psk, ni_b, nr_b), g_xy, cky_i, cky_r)
}

/// Derives `SKEYID_d`, `SKEYID_a`, `SKEYID_e` from `skeyid` (RFC 2409 §5), whatever the
/// authentication method that made it ([`skeyid_psk`], [`skeyid_sig`]).
pub fn derive_from_skeyid(
    prf: HashAlg,
    skeyid: Secret,
    g_xy: &[u8],
    cky_i: &[u8; 8],
    cky_r: &[u8; 8],
) -> Phase1Keys {
    let k = skeyid.as_bytes();
    let skeyid_d = Secret::new(hmac(prf, k, &[g_xy, cky_i, cky_r, &[0]]));
    let skeyid_a = Secret::new(hmac(
        prf,
        k,
        &[skeyid_d.as_bytes(), g_xy, cky_i, cky_r, &[1]],
    ));
    let skeyid_e = Secret::new(hmac(
        prf,
        k,
        &[skeyid_a.as_bytes(), g_xy, cky_i, cky_r, &[2]],
    ));
    Phase1Keys {
        skeyid,
        skeyid_d,
        skeyid_a,
        skeyid_e,
    }
}

/// The ISAKMP encryption key of `len` bytes from `SKEYID_e` (RFC 2409 Appendix B).
///
/// If `SKEYID_e` is long enough, the key is its leading `len` bytes. Otherwise
/// `Ka = K1 | K2 | K3 ...` truncated to `len`, with `K1 = prf(SKEYID_e, 0)` (a single zero
/// octet) and `Kn = prf(SKEYID_e, Kn-1)`.
pub fn expand_key(prf: HashAlg, skeyid_e: &[u8], len: usize) -> Secret {
    if skeyid_e.len() >= len {
        return Secret::from_slice(skeyid_e.get(..len).unwrap_or(skeyid_e));
    }
    let mut out = Vec::with_capacity(len + prf.output_len());
    let mut k = hmac(prf, skeyid_e, &[&[0]]);
    while out.len() < len {
        out.extend_from_slice(&k);
        let next = hmac(prf, skeyid_e, &[&k]);
        k.zeroize();
        k = next;
    }
    k.zeroize();
    out.truncate(len);
    Secret::new(out)
}

fn truncated(mut v: Vec<u8>, len: usize) -> Vec<u8> {
    v.truncate(len);
    v
}

/// The phase-1 (Main Mode) IV: `hash(g^xi | g^xr)` truncated to the cipher block length
/// (RFC 2409 Appendix B). `hash` is the negotiated hash algorithm, not the HMAC.
pub fn phase1_iv(hash: HashAlg, g_xi: &[u8], g_xr: &[u8], block_len: usize) -> Vec<u8> {
    truncated(digest(hash, &[g_xi, g_xr]), block_len)
}

/// The IV of the first message of a phase-2 or informational exchange:
/// `hash(last phase-1 CBC output block | M-ID)` truncated to the block length (RFC 2409
/// Appendix B). Later messages of the same exchange chain from the previous message's last
/// ciphertext block.
pub fn phase2_iv(
    hash: HashAlg,
    last_phase1_block: &[u8],
    message_id: u32,
    block_len: usize,
) -> Vec<u8> {
    truncated(
        digest(hash, &[last_phase1_block, &message_id.to_be_bytes()]),
        block_len,
    )
}

/// `HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)` (RFC 2409 §5).
#[allow(clippy::too_many_arguments)]
pub fn hash_i(
    prf: HashAlg,
    skeyid: &[u8],
    g_xi: &[u8],
    g_xr: &[u8],
    cky_i: &[u8; 8],
    cky_r: &[u8; 8],
    sa_i_b: &[u8],
    id_ii_b: &[u8],
) -> Vec<u8> {
    hmac(prf, skeyid, &[g_xi, g_xr, cky_i, cky_r, sa_i_b, id_ii_b])
}

/// `HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)` (RFC 2409 §5).
///
/// Note the argument order mirrors the formula: responder values first. `SAi_b` is still the
/// initiator's SA payload body.
#[allow(clippy::too_many_arguments)]
pub fn hash_r(
    prf: HashAlg,
    skeyid: &[u8],
    g_xr: &[u8],
    g_xi: &[u8],
    cky_r: &[u8; 8],
    cky_i: &[u8; 8],
    sa_i_b: &[u8],
    id_ir_b: &[u8],
) -> Vec<u8> {
    hmac(prf, skeyid, &[g_xr, g_xi, cky_r, cky_i, sa_i_b, id_ir_b])
}

/// Quick Mode `HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ])`
/// (RFC 2409 §5.5). `rest` is the message after the HASH payload, generic headers included.
pub fn qm_hash1(prf: HashAlg, skeyid_a: &[u8], message_id: u32, rest: &[u8]) -> Vec<u8> {
    hmac(prf, skeyid_a, &[&message_id.to_be_bytes(), rest])
}

/// Quick Mode `HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ])`
/// (RFC 2409 §5.5). `rest` is the responder's message after the HASH payload.
pub fn qm_hash2(
    prf: HashAlg,
    skeyid_a: &[u8],
    message_id: u32,
    ni_b: &[u8],
    rest: &[u8],
) -> Vec<u8> {
    hmac(prf, skeyid_a, &[&message_id.to_be_bytes(), ni_b, rest])
}

/// Quick Mode `HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)` (RFC 2409 §5.5).
pub fn qm_hash3(
    prf: HashAlg,
    skeyid_a: &[u8],
    message_id: u32,
    ni_b: &[u8],
    nr_b: &[u8],
) -> Vec<u8> {
    hmac(
        prf,
        skeyid_a,
        &[&[0], &message_id.to_be_bytes(), ni_b, nr_b],
    )
}

/// Quick Mode keying material for one SA (RFC 2409 §5.5), `len` bytes:
/// `KEYMAT = K1 | K2 | ...` with
/// `K1 = prf(SKEYID_d, [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b)` and
/// `Kn = prf(SKEYID_d, Kn-1 | [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b)`.
///
/// `g_qm` is the Quick Mode Diffie-Hellman secret when PFS is used. `spi` is the SPI of the SA
/// being keyed: "The SPI chosen by the destination of the SA is used to derive KEYMAT for that
/// SA" (§5.5), so the responder's inbound SA uses its own SPI and its outbound SA the
/// initiator's. Callers split the result as encryption key first, then authentication key.
#[allow(clippy::too_many_arguments)]
pub fn keymat(
    prf: HashAlg,
    skeyid_d: &[u8],
    g_qm: Option<&[u8]>,
    protocol: u8,
    spi: [u8; 4],
    ni_b: &[u8],
    nr_b: &[u8],
    len: usize,
) -> Secret {
    let g: &[u8] = g_qm.unwrap_or_default();
    let proto = [protocol];
    let mut out = Vec::with_capacity(len + prf.output_len());
    let mut k = hmac(prf, skeyid_d, &[g, &proto, &spi, ni_b, nr_b]);
    while out.len() < len {
        out.extend_from_slice(&k);
        if out.len() >= len {
            break;
        }
        let next = hmac(prf, skeyid_d, &[&k, g, &proto, &spi, ni_b, nr_b]);
        k.zeroize();
        k = next;
    }
    k.zeroize();
    out.truncate(len);
    Secret::new(out)
}

/// Informational exchange `HASH(1) = prf(SKEYID_a, M-ID | N/D)` (RFC 2409 §5.7). `rest` is the
/// Notification or Delete payload (with its generic header) that follows the HASH payload.
pub fn informational_hash(prf: HashAlg, skeyid_a: &[u8], message_id: u32, rest: &[u8]) -> Vec<u8> {
    hmac(prf, skeyid_a, &[&message_id.to_be_bytes(), rest])
}
