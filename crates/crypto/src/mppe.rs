//! MPPE key derivation from MS-CHAPv2 (RFC 3079 §3.3 and §3.4).
//!
//! L2TP/IPsec clients normally do not negotiate MPPE (ESP already encrypts), but the MS-CHAPv2
//! master key is also what RADIUS exports as MS-MPPE-Send-Key/Recv-Key (RFC 2548 §2.4), so the
//! derivation is provided for completeness. Only key derivation is here; RC4 encryption and key
//! reduction for 40/56-bit keys (RFC 3079 §3.1, §3.2) are not implemented.

use sha1::{Digest, Sha1};

/// RFC 3079 §3.4 `Magic1`.
const MAGIC1: &[u8; 27] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 `Magic2`: the client's send key and the server's receive key.
const MAGIC2: &[u8; 84] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 `Magic3`: the client's receive key and the server's send key.
const MAGIC3: &[u8; 84] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
/// RFC 3079 §3.3 `SHSpad1`.
const SHS_PAD1: [u8; 40] = [0x00; 40];
/// RFC 3079 §3.3 `SHSpad2`.
const SHS_PAD2: [u8; 40] = [0xf2; 40];

/// `GetMasterKey` (RFC 3079 §3.4): the first 16 bytes of
/// `SHA1(PasswordHashHash | NT-Response | Magic1)`.
pub fn master_key(password_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> [u8; 16] {
    let mut h = Sha1::new();
    h.update(password_hash_hash);
    h.update(nt_response);
    h.update(MAGIC1);
    first16(&h.finalize())
}

/// `GetAsymmetricStartKey` (RFC 3079 §3.4) for a 128-bit session key: the start key for one
/// direction, seen from the client (`is_server == false`) or the server.
pub fn asymmetric_start_key(master_key: &[u8; 16], is_send: bool, is_server: bool) -> [u8; 16] {
    // "On the client side, this is the send key; on the server side, it is the receive key."
    let magic: &[u8] = if is_send == is_server { MAGIC3 } else { MAGIC2 };
    let mut h = Sha1::new();
    h.update(master_key);
    h.update(SHS_PAD1);
    h.update(magic);
    h.update(SHS_PAD2);
    first16(&h.finalize())
}

/// `GetNewKeyFromSHA` (RFC 3079 §3.3) for 128-bit keys: the first 16 bytes of
/// `SHA1(StartKey | SHSpad1 | SessionKey | SHSpad2)`. The initial session key is
/// `get_new_key_from_sha(start, start)` (§3.4 "the initial session keys").
pub fn get_new_key_from_sha(start_key: &[u8; 16], session_key: &[u8; 16]) -> [u8; 16] {
    let mut h = Sha1::new();
    h.update(start_key);
    h.update(SHS_PAD1);
    h.update(session_key);
    h.update(SHS_PAD2);
    first16(&h.finalize())
}

fn first16(d: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(d) {
        *o = *b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h16(s: &str) -> [u8; 16] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// RFC 3079 §3.5.3 (128-bit keys), inputs of RFC 2759 §9.2. MasterKey and SendStartKey128
    /// are printed in RFC 3079; the client-send start key and the initial session key are
    /// COMPUTED with an independent implementation from the same formulas.
    #[test]
    fn rfc3079_sample_128() {
        let hash_hash = h16("41C00C584BD2D91C4017A2A12FA59F3F");
        let nt: [u8; 24] = hex::decode("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
            .unwrap()
            .try_into()
            .unwrap();
        let mk = master_key(&hash_hash, &nt);
        assert_eq!(mk, h16("FDECE3717A8C838CB388E527AE3CDD31"));
        let server_send = asymmetric_start_key(&mk, true, true);
        assert_eq!(server_send, h16("8B7CDC149B993A1BA118CB153F56DCCB"));
        // The server's send key is the client's receive key, and vice versa.
        assert_eq!(asymmetric_start_key(&mk, false, false), server_send);
        let client_send = asymmetric_start_key(&mk, true, false);
        assert_eq!(client_send, h16("D5F0E9521E3EA9589645E86051C82226"));
        assert_eq!(asymmetric_start_key(&mk, false, true), client_send);
        assert_eq!(
            get_new_key_from_sha(&server_send, &server_send),
            h16("405CB2247A7956E6E211007AE27B22D4")
        );
    }
}
