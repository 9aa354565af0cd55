//! Reading recorded traffic with the server's key log (`Server::set_keylog`), as Wireshark
//! does: ESP with the `esp_sa` lines, and IKEv1 encrypted payloads with the
//! `ikev1_decryption_table` lines and the IVs of RFC 2409 Appendix B, so that the seed
//! corpora also hold the messages inside the encrypted layers.

use std::collections::HashMap;

use crypto::Secret;
use crypto::cipher::{CbcCipher, CipherAlg};
use crypto::dh::DhGroup;
use crypto::integ::IntegAlg;
use ike::{Phase1Suite, Policy};
use wire::isakmp::{self, ExchangeType, Payload};

/// The Main Mode exchange type (RFC 2408 §4.4: Identity Protection).
const MAIN_MODE: ExchangeType = ExchangeType::IdentityProtection;

/// Every key of a key log.
#[derive(Debug, Default, Clone)]
pub(crate) struct Keys {
    /// The phase 1 encryption key by initiator cookie.
    ike: HashMap<[u8; 8], Vec<u8>>,
    /// ESP SAs by SPI.
    esp: HashMap<u32, EspKeys>,
}

/// One direction of an ESP SA.
#[derive(Debug, Clone)]
pub(crate) struct EspKeys {
    pub(crate) cipher: CipherAlg,
    pub(crate) enc_key: Vec<u8>,
    pub(crate) integ: IntegAlg,
    pub(crate) auth_key: Vec<u8>,
}

impl EspKeys {
    /// An inbound SA with these keys that accepts the packet from anywhere (the key log says
    /// nothing about UDP encapsulation; the caller strips the non-ESP marker).
    pub(crate) fn inbound_sa(&self, spi: u32) -> Option<esp::Sa> {
        let any = core::net::SocketAddr::from(([0, 0, 0, 0], 0));
        esp::Sa::new(esp::SaParams {
            spi,
            direction: esp::Direction::Inbound,
            cipher: self.cipher,
            enc_key: Secret::new(self.enc_key.clone()),
            integ: self.integ,
            auth_key: Secret::new(self.auth_key.clone()),
            encap: esp::Encap::None,
            peer: esp::FourTuple {
                local: any,
                remote: any,
            },
            lifetime: esp::Lifetime::UNLIMITED,
        })
        .ok()
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_start_matches("0x");
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Keys {
    /// Reads one key log line; other lines are ignored.
    pub(crate) fn add_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("ikev1_decryption_table: ") {
            let mut f = rest.split(',');
            let (Some(cky), Some(key)) = (f.next(), f.next()) else {
                return;
            };
            if let (Some(cky), Some(key)) = (unhex(cky).and_then(|c| c.try_into().ok()), unhex(key))
            {
                self.ike.insert(cky, key);
            }
        } else if let Some(rest) = line.strip_prefix("esp_sa: ") {
            let f: Vec<&str> = rest.split(',').map(|s| s.trim_matches('"')).collect();
            let Some(keys) = esp_line(&f) else { return };
            if let Some(spi) = f
                .get(3)
                .and_then(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            {
                self.esp.insert(spi, keys);
            }
        }
    }

    /// The keys of the ESP SA with `spi`.
    pub(crate) fn esp(&self, spi: u32) -> Option<&EspKeys> {
        self.esp.get(&spi)
    }
}

fn esp_line(f: &[&str]) -> Option<EspKeys> {
    let enc_key = unhex(f.get(5)?)?;
    let auth_key = unhex(f.get(7)?)?;
    let cipher = match (*f.get(4)?, enc_key.len()) {
        ("TripleDES-CBC [RFC2451]", _) => CipherAlg::TripleDes,
        ("DES-CBC [RFC2405]", _) => CipherAlg::Des,
        (_, 16) => CipherAlg::Aes128,
        (_, 24) => CipherAlg::Aes192,
        _ => CipherAlg::Aes256,
    };
    let integ = match *f.get(6)? {
        "HMAC-MD5-96 [RFC2403]" => IntegAlg::HmacMd5_96,
        "HMAC-SHA-1-96 [RFC2404]" => IntegAlg::HmacSha1_96,
        _ => IntegAlg::HmacSha256_128,
    };
    Some(EspKeys {
        cipher,
        enc_key,
        integ,
        auth_key,
    })
}

/// What the decryptor knows of one IKE SA.
#[derive(Debug, Default)]
struct IkeSa {
    suite: Option<Phase1Suite>,
    ke_i: Option<Vec<u8>>,
    ke_r: Option<Vec<u8>>,
    /// The IV of the next phase 1 message.
    phase1_iv: Option<Vec<u8>>,
    /// The last ciphertext block of phase 1 (the seed of phase 2 IVs).
    phase1_last: Option<Vec<u8>>,
    /// The IV of the next message of each phase 2 or informational exchange.
    phase2_iv: HashMap<u32, Vec<u8>>,
}

/// A decrypted IKE message.
#[derive(Debug, Clone)]
pub(crate) struct Decrypted {
    /// The whole message with its body decrypted (E flag still set, padding kept).
    pub(crate) message: Vec<u8>,
    /// The cipher and key, the IV and the ciphertext body (for the CBC target).
    pub(crate) cipher: CipherAlg,
    pub(crate) key: Vec<u8>,
    pub(crate) iv: Vec<u8>,
}

/// Follows IKEv1 exchanges in wire order and decrypts their encrypted messages.
#[derive(Debug, Default)]
pub(crate) struct IkeDecryptor {
    sas: HashMap<[u8; 8], IkeSa>,
    /// Answers for retransmissions (the IV does not advance on a repeated message).
    done: HashMap<Vec<u8>, Option<Decrypted>>,
}

/// Every algorithm allowed: the decryptor only reads what the server chose.
const ANY: Policy = Policy {
    modern: true,
    legacy: true,
    des: true,
    modp768: true,
};

impl IkeDecryptor {
    /// The DH group of the IKE SA of `cookie`, once Main Mode message 2 was seen.
    pub(crate) fn group(&self, cookie: &[u8; 8]) -> Option<DhGroup> {
        self.sas.get(cookie)?.suite.map(|s| s.group)
    }

    /// Looks at the next message on the wire (the ISAKMP message, without the non-ESP
    /// marker), sent by the responder (the server) or the initiator; returns its decryption if
    /// it is encrypted and the keys are known.
    pub(crate) fn observe(
        &mut self,
        keys: &Keys,
        msg: &[u8],
        from_responder: bool,
    ) -> Option<Decrypted> {
        if let Some(d) = self.done.get(msg) {
            return d.clone();
        }
        let out = self.observe_new(keys, msg, from_responder);
        self.done.insert(msg.to_vec(), out.clone());
        out
    }

    fn observe_new(&mut self, keys: &Keys, msg: &[u8], from_responder: bool) -> Option<Decrypted> {
        let packet = isakmp::Packet::new_checked(msg).ok()?;
        let header = isakmp::HeaderRepr::parse(&packet);
        let cky = header.initiator_cookie;
        let sa = self.sas.entry(cky).or_default();
        let len = usize::try_from(packet.length()).ok()?;
        let body = msg.get(isakmp::HEADER_LEN..len)?;
        if header.flags & isakmp::flags::ENCRYPTION == 0 {
            if header.exchange == MAIN_MODE {
                let (payloads, _) =
                    isakmp::parse_payloads(packet.next_payload(), body, false).ok()?;
                for p in payloads {
                    match p {
                        Payload::Sa(s) if from_responder => {
                            sa.suite =
                                ike::suite::choose_phase1(&s.proposals, &ANY).map(|c| c.suite);
                        }
                        Payload::KeyExchange(ke) if from_responder => sa.ke_r = Some(ke.to_vec()),
                        Payload::KeyExchange(ke) => sa.ke_i = Some(ke.to_vec()),
                        _ => {}
                    }
                }
            }
            return None;
        }
        let suite = sa.suite?;
        let key = keys.ike.get(&cky)?.clone();
        let block = suite.cipher.block_len();
        let iv = if header.message_id == 0 {
            match &sa.phase1_iv {
                Some(iv) => iv.clone(),
                None => crypto::ikev1::phase1_iv(
                    suite.hash,
                    sa.ke_i.as_deref()?,
                    sa.ke_r.as_deref()?,
                    block,
                ),
            }
        } else {
            match sa.phase2_iv.get(&header.message_id) {
                Some(iv) => iv.clone(),
                None => crypto::ikev1::phase2_iv(
                    suite.hash,
                    sa.phase1_last.as_deref()?,
                    header.message_id,
                    block,
                ),
            }
        };
        let last = body.get(body.len().checked_sub(block)?..)?.to_vec();
        let mut plain = body.to_vec();
        CbcCipher::new(suite.cipher, &key)
            .ok()?
            .decrypt_in_place(&iv, &mut plain)
            .ok()?;
        // The chain must parse, else the IV or key was wrong and the state is left alone.
        isakmp::parse_payloads(packet.next_payload(), &plain, true).ok()?;
        if header.message_id == 0 {
            sa.phase1_iv = Some(last.clone());
            sa.phase1_last = Some(last);
        } else {
            sa.phase2_iv.insert(header.message_id, last);
        }
        let mut message = msg.get(..isakmp::HEADER_LEN)?.to_vec();
        message.extend_from_slice(&plain);
        Some(Decrypted {
            message,
            cipher: suite.cipher,
            key,
            iv,
        })
    }
}

/// The decrypted message with the E flag cleared, the padding dropped and the Length fixed: a
/// plain message `Repr::parse` reads whole.
pub(crate) fn as_plain(decrypted: &[u8]) -> Option<Vec<u8>> {
    let packet = isakmp::Packet::new_checked(decrypted).ok()?;
    let body = decrypted.get(isakmp::HEADER_LEN..)?;
    let (_, used) = isakmp::parse_payloads(packet.next_payload(), body, true).ok()?;
    let mut out = decrypted.get(..isakmp::HEADER_LEN + used)?.to_vec();
    let mut p = isakmp::Packet::new_unchecked(&mut out[..]);
    p.set_flags(p.flags() & !isakmp::flags::ENCRYPTION);
    p.set_length(u32::try_from(isakmp::HEADER_LEN + used).ok()?);
    Some(out)
}
