//! Phase 1 key state and the IKEv1 encryption of messages (RFC 2409 §5 and Appendix B).
//!
//! Main Mode messages 5 and 6 are CBC-encrypted with the IV `hash(g^xi | g^xr)` and then the
//! last ciphertext block of the previous message; every Quick Mode and Informational exchange
//! starts from `hash(last phase 1 block | M-ID)` and chains within the exchange (Appendix B).
//! Plaintext is zero-padded to the block length; the receiver ignores bytes after the last
//! payload.

use core::net::SocketAddr;

use crypto::Secret;
use crypto::cipher::CbcCipher;
use crypto::hash::{self, HashAlg};
use wire::isakmp::{
    Body, HeaderRepr, Payload, PayloadType, Payloads, Repr, emit_payloads, flags, payloads_len,
};

use crate::error::Error;
use crate::suite::{AuthMethod, Phase1Suite};

/// Keys of an established (or establishing) ISAKMP SA.
pub(crate) struct Keys {
    pub(crate) suite: Phase1Suite,
    pub(crate) skeyid: Secret,
    pub(crate) skeyid_d: Secret,
    pub(crate) skeyid_a: Secret,
    pub(crate) cipher: CbcCipher,
    /// The expanded encryption key (Appendix B), kept only for `--keylog`.
    pub(crate) enc_key: Secret,
    /// The IV for the next Main Mode message, then the last block of MM6.
    pub(crate) iv: Vec<u8>,
}

impl Keys {
    /// Derives SKEYID.. and the encryption key (RFC 2409 §5, Appendix B). SKEYID is
    /// `prf(psk, Ni_b | Nr_b)` for a pre-shared key and `prf(Ni_b | Nr_b, g^xy)` for
    /// signatures (`psk` is then unused).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn derive(
        suite: Phase1Suite,
        auth: AuthMethod,
        psk: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        g_xy: &[u8],
        g_xi: &[u8],
        g_xr: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
    ) -> Result<Self, Error> {
        let skeyid = match auth {
            AuthMethod::PreSharedKey => crypto::ikev1::skeyid_psk(suite.hash, psk, ni_b, nr_b),
            AuthMethod::RsaSignature => crypto::ikev1::skeyid_sig(suite.hash, ni_b, nr_b, g_xy),
        };
        let k = crypto::ikev1::derive_from_skeyid(suite.hash, skeyid, g_xy, cky_i, cky_r);
        let enc =
            crypto::ikev1::expand_key(suite.hash, k.skeyid_e.as_bytes(), suite.cipher.key_len());
        // IKE messages come seconds apart: no cipher context kept between them.
        let cipher = CbcCipher::new_occasional(suite.cipher, enc.as_bytes())?;
        let iv = crypto::ikev1::phase1_iv(suite.hash, g_xi, g_xr, suite.cipher.block_len());
        Ok(Self {
            suite,
            skeyid: k.skeyid,
            skeyid_d: k.skeyid_d,
            skeyid_a: k.skeyid_a,
            cipher,
            enc_key: enc,
            iv,
        })
    }

    pub(crate) fn prf(&self) -> HashAlg {
        self.suite.hash
    }

    pub(crate) fn block_len(&self) -> usize {
        self.suite.cipher.block_len()
    }

    /// The first IV of a phase 2 exchange (RFC 2409 Appendix B).
    pub(crate) fn phase2_iv(&self, message_id: u32) -> Vec<u8> {
        crypto::ikev1::phase2_iv(self.suite.hash, &self.iv, message_id, self.block_len())
    }

    /// Decrypts `data` with `iv`; returns the plaintext and the next IV (last ciphertext block).
    pub(crate) fn decrypt(&self, iv: &[u8], data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let bl = self.block_len();
        if data.is_empty() || !data.len().is_multiple_of(bl) {
            return Err(Error::PeerMisbehaved(
                "ciphertext is not a whole number of blocks",
            ));
        }
        let next_iv = data.get(data.len() - bl..).unwrap_or_default().to_vec();
        let mut buf = data.to_vec();
        self.cipher.decrypt_in_place(iv, &mut buf)?;
        Ok((buf, next_iv))
    }

    /// Builds an encrypted message; returns it and the next IV. Its flags are ENCRYPTION and
    /// nothing else, whatever `header` says: a reply must not echo the peer's COMMIT or
    /// AUTHENTICATION-ONLY bit (RFC 2408 §3.1, §4.8: COMMIT promises a CONNECTED notify).
    pub(crate) fn encrypt_message(
        &self,
        header: HeaderRepr,
        payloads: &[Payload<'_>],
        iv: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let bl = self.block_len();
        let plain_len = payloads_len(payloads);
        let padded = plain_len.div_ceil(bl).max(1) * bl;
        let mut body = vec![0u8; padded];
        emit_payloads(payloads, &mut body)?;
        self.cipher.encrypt_in_place(iv, &mut body)?;
        let next_iv = body.get(padded - bl..).unwrap_or_default().to_vec();
        let first = payloads.first().map_or(PayloadType::None, Payload::kind);
        let header = HeaderRepr {
            flags: flags::ENCRYPTION,
            ..header
        };
        let msg = Repr {
            header,
            body: Body::Encrypted { first, data: &body },
        }
        .to_vec()?;
        Ok((msg, next_iv))
    }
}

/// Proof that a peer's HASH payload verified (a proof token, like rustls' `ServerCertVerified`).
/// Only [`verify_hash`] makes one; establishing an IKE SA and exporting ESP keys take it by value.
#[derive(Debug)]
pub(crate) struct HashVerified(());

/// Compares a received HASH with the expected one in constant time.
pub(crate) fn verify_hash(expected: &[u8], received: &[u8]) -> Option<HashVerified> {
    crypto::ct_eq(expected, received).then_some(HashVerified(()))
}

/// Verifies SIG_I (RFC 2409 §5.1) over `hash` with the key of the peer's certificate, which
/// the caller has validated.
pub(crate) fn verify_signature(
    cert: &pki::Certificate,
    hash: &[u8],
    sig: &[u8],
) -> Result<HashVerified, pki::ikev1::SignatureError> {
    pki::ikev1::verify(cert, hash, sig).map(|()| HashVerified(()))
}

/// A message's fingerprint: the first 16 octets of its SHA-256. Retransmission detection keeps
/// this instead of the message (a Main Mode message 1 can be tens of kilobytes); a peer cannot
/// make another message match it.
pub(crate) type Fingerprint = [u8; 16];

/// The [`Fingerprint`] of `msg`.
pub(crate) fn fingerprint(msg: &[u8]) -> Fingerprint {
    let d = hash::digest(HashAlg::Sha256, &[msg]);
    let mut f = [0u8; 16];
    if let Some(head) = d.get(..16) {
        f.copy_from_slice(head);
    }
    f
}

/// NAT-D hash (RFC 3947 §3.2): HASH(CKY-I | CKY-R | IP | Port), HASH = negotiated hash.
pub(crate) fn nat_d(h: HashAlg, cky_i: &[u8; 8], cky_r: &[u8; 8], addr: SocketAddr) -> Vec<u8> {
    let port = addr.port().to_be_bytes();
    match addr.ip() {
        core::net::IpAddr::V4(ip) => hash::digest(h, &[cky_i, cky_r, &ip.octets(), &port]),
        core::net::IpAddr::V6(ip) => hash::digest(h, &[cky_i, cky_r, &ip.octets(), &port]),
    }
}

/// Splits a decrypted phase 2 body into its leading HASH and the bytes the HASH covers (the
/// payloads after it, without padding; RFC 2409 §5.5).
pub(crate) fn hashed_rest(first: PayloadType, plain: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let mut it = Payloads::new(first, plain);
    let h = match it.next() {
        Some(Ok(p)) if p.kind == PayloadType::Hash => p.body,
        Some(Err(e)) => return Err(e.into()),
        _ => {
            return Err(Error::PeerMisbehaved(
                "phase 2 message does not start with HASH",
            ));
        }
    };
    let start = it.consumed();
    for p in &mut it {
        p?;
    }
    let rest = plain
        .get(start..it.consumed())
        .ok_or(Error::PeerMisbehaved("payload bounds"))?;
    Ok((h, rest))
}

/// KEYMAT = encryption key | authentication key (RFC 2409 §5.5; the order all implementations
/// use).
pub(crate) fn split_keymat(km: &Secret, enc_len: usize) -> (Secret, Secret) {
    let b = km.as_bytes();
    let (e, a) = b.split_at_checked(enc_len).unwrap_or((b, &[]));
    (Secret::from_slice(e), Secret::from_slice(a))
}

/// Prepends the non-ESP marker to an IKE message sent over the NAT-T port (RFC 3948 §2.2).
/// Only the server's port decides: a client's public port may be 4500 by chance while it
/// still talks to our port 500, where no marker belongs.
pub(crate) fn frame(on_nat_t_port: bool, msg: Vec<u8>) -> Vec<u8> {
    if on_nat_t_port {
        let mut v = Vec::with_capacity(msg.len() + 4);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&msg);
        v
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c8(s: &str) -> [u8; 8] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// RFC 3947 §3.2 NAT-D. Values: a real IKEv1 exchange in the tcpdump test suite
    /// (tests/isakmp4500.pcap, frame 5, first NAT-D = hash of the destination 192.1.2.23:500,
    /// MD5), and a computed example over the cookies of Wireshark's ikev1-certs capture.
    #[test]
    fn nat_d_known_answers() {
        let got = nat_d(
            HashAlg::Md5,
            &c8("9e89f2388f90bc1e"),
            &c8("0a74357ce3d1a4bf"),
            "192.1.2.23:500".parse().unwrap(),
        );
        assert_eq!(hex::encode(got), "6efe12f04af90dfbcfb15d71b841bb9e");
        let (i, r) = (c8("fafaeb49382a763c"), c8("36e65ad2f66f4403"));
        let a = "192.0.2.1:500".parse().unwrap();
        assert_eq!(
            hex::encode(nat_d(HashAlg::Md5, &i, &r, a)),
            "f6784c302a7722a8dd9538fb1b7256ba"
        );
        assert_eq!(
            hex::encode(nat_d(HashAlg::Sha1, &i, &r, a)),
            "c4ef3c68a520a1c522c63964cd30fc5e2a3c1d63"
        );
        let b = "198.51.100.7:4500".parse().unwrap();
        assert_eq!(
            hex::encode(nat_d(HashAlg::Sha1, &i, &r, b)),
            "35db81b00e426d36e5e57b0e58a36aeef0412dc9"
        );
    }

    #[test]
    fn marker_only_on_the_nat_t_port() {
        assert_eq!(frame(false, vec![1]), vec![1]);
        assert_eq!(frame(true, vec![1]), vec![0, 0, 0, 0, 1]);
    }
}
