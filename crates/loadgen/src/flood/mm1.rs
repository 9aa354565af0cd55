//! Main Mode message 1 (RFC 2409 §5; RFC 2408 §4.6 "Identity Protection Exchange") as a
//! client profile sends it: its SA payload with one ISAKMP proposal carrying the profile's
//! transforms in order, then its vendor IDs. `ike`'s initiator builds the message once; every
//! copy then gets its own initiator cookie (RFC 2408 §2.5.3), so that to a responder each one
//! is a new exchange.

use core::net::{Ipv4Addr, SocketAddr};

use crypto::Secret;
use rand::RngCore;
use testkit::Profile;
use wire::isakmp;

use crate::{Error, clock};

/// The non-ESP marker that precedes IKE on the NAT-T port (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = wire::natt::NON_ESP_MARKER;

/// A built Main Mode message 1, ready to be copied with fresh cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mm1Template {
    /// The ISAKMP message, without a non-ESP marker.
    message: Vec<u8>,
}

impl Mm1Template {
    /// The message 1 of `profile`: its Main Mode proposals and vendor IDs.
    pub fn from_profile(profile: &Profile) -> Result<Self, Error> {
        let any = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), testkit::IKE_PORT);
        let config = ike::InitiatorConfig {
            // Message 1 carries nothing derived from the key.
            psk: Secret::from_slice(b"unused"),
            local: any,
            remote: any,
            ike_proposals: profile.ike_proposals.clone(),
            esp_proposals: profile.esp_proposals.clone(),
            vendor_ids: profile.vendor_ids.clone(),
            initial_contact: profile.initial_contact,
            l2tp_port: profile.ike_id_port,
            tunnel_mode: false,
            pfs: profile.pfs,
        };
        let mut initiator = ike::Initiator::new(config, [0x4d; 32]);
        initiator
            .connect(clock::now())
            .map_err(|e| Error::Build(format!("Main Mode message 1: {e}")))?;
        let t = initiator
            .poll_transmit()
            .ok_or_else(|| Error::Build("the initiator sent no message 1".to_owned()))?;
        Ok(Self { message: t.payload })
    }

    /// Windows 10/11's message 1 (`testkit::Profile::windows_10`).
    pub fn windows_10() -> Result<Self, Error> {
        Self::from_profile(&Profile::windows_10())
    }

    /// The ISAKMP message as built (the initiator's own cookie).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// A UDP payload: the message with `cookie`, behind a non-ESP marker when it goes to the
    /// NAT-T port. Also returns where the cookie sits in that payload.
    pub fn payload(&self, cookie: [u8; 8], nat_t: bool) -> (Vec<u8>, usize) {
        let at = if nat_t { NON_ESP_MARKER.len() } else { 0 };
        let mut v = Vec::with_capacity(at + self.message.len());
        if nat_t {
            v.extend_from_slice(&NON_ESP_MARKER);
        }
        v.extend_from_slice(&self.message);
        if let Some(msg) = v.get_mut(at..) {
            set_cookie(msg, cookie);
        }
        (v, at)
    }
}

/// Writes the initiator cookie of the ISAKMP message at the start of `msg` (no-op if `msg` is
/// shorter than an ISAKMP header).
pub fn set_cookie(msg: &mut [u8], cookie: [u8; 8]) {
    if let Ok(mut p) = isakmp::Packet::new_checked(msg) {
        p.set_initiator_cookie(cookie);
    }
}

/// A random, non-zero initiator cookie (a zero cookie is what a responder cookie is before the
/// responder answers, RFC 2408 §3.1).
pub fn fresh_cookie<R: RngCore>(rng: &mut R) -> [u8; 8] {
    let mut c = [0u8; 8];
    while c == [0; 8] {
        rng.fill_bytes(&mut c);
    }
    c
}

#[cfg(test)]
mod tests {
    use ike::suite::LifeBytes;
    use ike::{Responder, ResponderConfig};
    use isakmp::{Body, ExchangeType, Payload, Repr};

    use super::*;

    #[test]
    fn parses_and_carries_the_windows_10_proposals_and_vendor_ids() {
        let profile = Profile::windows_10();
        let t = Mm1Template::windows_10().unwrap();
        let cookie = [1, 2, 3, 4, 5, 6, 7, 8];
        let (payload, at) = t.payload(cookie, false);
        assert_eq!(at, 0);
        let m = Repr::parse(&payload).unwrap();
        assert_eq!(m.header.initiator_cookie, cookie);
        assert_eq!(m.header.responder_cookie, [0; 8]);
        assert_eq!(m.header.exchange, ExchangeType::IdentityProtection);
        assert_eq!(m.header.message_id, 0);
        assert_eq!(m.header.flags, 0);
        let Body::Plain(payloads) = m.body else {
            panic!("message 1 is not encrypted");
        };
        let Some(Payload::Sa(sa)) = payloads.first() else {
            panic!("the SA payload comes first: {payloads:?}");
        };
        assert_eq!(sa.doi, isakmp::DOI_IPSEC);
        assert_eq!(sa.proposals.len(), 1);
        let proposal = &sa.proposals[0];
        assert_eq!(proposal.protocol, isakmp::protocol::ISAKMP);
        assert_eq!(proposal.transforms.len(), profile.ike_proposals.len());
        for (i, (got, want)) in proposal
            .transforms
            .iter()
            .zip(&profile.ike_proposals)
            .enumerate()
        {
            let life = LifeBytes::new(want.lifetime);
            assert_eq!(usize::from(got.number), i + 1);
            assert_eq!(
                got.attributes,
                want.attributes(&life),
                "transform {}",
                i + 1
            );
        }
        let vids: Vec<&[u8]> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::VendorId(v) => Some(*v),
                _ => None,
            })
            .collect();
        let want: Vec<&[u8]> = profile.vendor_ids.iter().map(Vec::as_slice).collect();
        assert_eq!(vids, want);
        assert_eq!(payloads.len(), 1 + want.len());
    }

    #[test]
    fn nat_t_copies_carry_the_marker_and_parse_as_ike() {
        let t = Mm1Template::windows_10().unwrap();
        let cookie = [9; 8];
        let (payload, at) = t.payload(cookie, true);
        assert_eq!(at, 4);
        let wire::natt::Repr::Ike(msg) = wire::natt::Repr::parse(&payload).unwrap() else {
            panic!("not classified as IKE on 4500");
        };
        assert_eq!(Repr::parse(msg).unwrap().header.initiator_cookie, cookie);
        assert_eq!(msg, {
            let (plain, _) = t.payload(cookie, false);
            plain
        });
    }

    #[test]
    fn a_responder_answers_it_with_message_2() {
        // "Valid-looking" means a responder that accepts Windows 10 starts an exchange for it.
        let t = Mm1Template::windows_10().unwrap();
        let cfg = ResponderConfig::new(Secret::from_slice(b"flood-test"));
        let mut r = Responder::new(cfg, [7; 32]);
        let local: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let remote: SocketAddr = "198.18.0.9:40000".parse().unwrap();
        let cookie = [0x11; 8];
        let (payload, _) = t.payload(cookie, false);
        r.handle_datagram(clock::now(), local, remote, &payload);
        let reply = r.poll_transmit().expect("message 2");
        assert_eq!(reply.remote, remote);
        let m2 = Repr::parse(&reply.payload).unwrap();
        assert_eq!(m2.header.initiator_cookie, cookie);
        assert_ne!(m2.header.responder_cookie, [0; 8]);
    }

    #[test]
    fn cookies_are_fresh_and_non_zero() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::from_seed([5; 32]);
        let set: std::collections::HashSet<[u8; 8]> =
            (0..10_000).map(|_| fresh_cookie(&mut rng)).collect();
        assert_eq!(set.len(), 10_000);
        assert!(!set.contains(&[0; 8]));
        let mut short = [0u8; 10];
        set_cookie(&mut short, [1; 8]);
        assert_eq!(short, [0; 10], "too short for an ISAKMP header: untouched");
    }
}
