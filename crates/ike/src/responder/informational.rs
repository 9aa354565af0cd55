//! Informational exchanges on an established IKE SA (RFC 2409 §5.7): Delete and Notify
//! (RFC 2408 §3.14, §3.15), INITIAL-CONTACT and RESPONDER-LIFETIME (RFC 2407 §4.6.3), and
//! dead peer detection's R-U-THERE / R-U-THERE-ACK (RFC 3706 §5).

use std::time::Instant;

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use tracing::{debug, info};
use wire::isakmp::{
    self, DeleteRepr, ExchangeType, HeaderRepr, NotifyRepr, NotifyType, Payload, flags, protocol,
};

use super::main_mode::Established;
use super::message::{Message, Protected};
use super::{Cookies, Dpd, IkeSa, Responder};
use crate::error::Error;
use crate::event::FourTuple;
use crate::suite::{life_attributes, p1attr};

impl Responder {
    /// An Informational exchange from the peer. Returns whether the IKE SA stays (not when
    /// the peer deleted it).
    pub(super) fn on_informational(
        &mut self,
        now: Instant,
        from: FourTuple,
        msg: &Message<'_>,
        sa: &mut IkeSa,
    ) -> Result<bool, Error> {
        let ciphertext = msg.ciphertext("unencrypted Informational after phase 1")?;
        let id = msg.header.message_id;
        let keys = sa.established()?.keys();
        let (plain, _) = keys.decrypt(&keys.phase2_iv(id), ciphertext)?;
        let body = Protected::parse(msg.first, &plain)?;
        // HASH(1) = prf(SKEYID_a, M-ID | N/D).
        let expected = crypto::ikev1::informational_hash(
            keys.prf(),
            keys.skeyid_a.as_bytes(),
            id,
            body.covered,
        );
        if !crypto::ct_eq(&expected, body.hash) {
            return Err(Error::PeerMisbehaved("Informational HASH did not verify"));
        }
        self.commit_float(now, sa, from);
        let peer = sa.peer;
        let mut keep = true;
        let mut acks: Vec<&[u8]> = Vec::new();
        for item in &body.items {
            match &item.payload {
                Payload::Notification(n) if n.kind == NotifyType::RUThere => acks.push(n.data),
                Payload::Notification(n) if n.kind == NotifyType::RUThereAck => {
                    // RFC 3706 §5.5: the answer to our R-U-THERE; any authenticated message
                    // counts as proof of life (activity is noted by the caller).
                    debug!(%peer, seq = ?n.data, "DPD R-U-THERE-ACK received");
                    let est = sa.established_mut()?;
                    est.dpd = Dpd {
                        seq: est.dpd.seq,
                        ..Dpd::default()
                    };
                }
                Payload::Notification(n) if n.kind == NotifyType::InitialContact => {
                    self.initial_contact(peer, sa.cookies);
                }
                Payload::Delete(d) if d.protocol == protocol::ESP && d.spi_size == 4 => {
                    for spi in d.spis() {
                        if let Ok(b) = <[u8; 4]>::try_from(spi) {
                            self.peer_deleted_child(peer, u32::from_be_bytes(b));
                        }
                    }
                }
                Payload::Delete(d)
                    if d.protocol == protocol::ISAKMP
                        && d.spis().any(|spi| spi == cookie_spi(sa.cookies)) =>
                {
                    info!(%peer, "IKE SA deleted by the peer");
                    keep = false;
                }
                _ => {}
            }
        }
        for seq in acks {
            let spi = cookie_spi(sa.cookies);
            let n = Payload::Notification(NotifyRepr {
                doi: isakmp::DOI_IPSEC,
                protocol: protocol::ISAKMP,
                kind: NotifyType::RUThereAck,
                spi: &spi,
                data: seq,
            });
            let m = informational(&mut self.rng, sa.cookies, sa.established()?, &[n])?;
            self.push_tx(peer, m);
        }
        Ok(keep)
    }

    /// The peer deleted an ESP SA pair: the sender names its inbound SPI (our spi_out); ours
    /// is accepted too.
    fn peer_deleted_child(&mut self, peer: FourTuple, spi: u32) {
        let found = self.peers.get(&peer).and_then(|e| {
            e.children
                .iter()
                .copied()
                .find(|s| *s == spi || self.children.get(s).is_some_and(|c| c.spi_out == spi))
        });
        if let Some(spi_in) = found {
            self.drop_child(spi_in, "ESP SA deleted by the peer");
        }
    }

    /// INITIAL-CONTACT (RFC 2407 §4.6.3.3): the peer has rebooted; forget its older SAs. Only
    /// this exact 4-tuple is affected, never another client behind the same NAT.
    pub(super) fn initial_contact(&mut self, peer: FourTuple, keep: Cookies) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let old: Vec<Cookies> = entry.sas.iter().filter(|k| **k != keep).copied().collect();
        let spis: Vec<u32> = entry
            .children
            .iter()
            .filter(|spi| self.children.get(spi).is_some_and(|c| c.ike != keep))
            .copied()
            .collect();
        for k in old {
            debug!(%peer, "INITIAL-CONTACT: dropping an older IKE SA");
            self.remove_sa(&k);
        }
        for spi in spis {
            self.drop_child(spi, "INITIAL-CONTACT: dropping an older ESP SA");
        }
    }

    /// Tells the peer the phase 1 lifetime we granted when we shortened its proposal: the
    /// RESPONDER-LIFETIME notify (RFC 2407 §4.6.3.1; protocol ISAKMP, the cookie pair as SPI,
    /// Life Type/Duration attributes of RFC 2409 Appendix A) in an Informational exchange right
    /// after MM6. That is where Apple's racoon (macOS, iOS) handles a phase 1
    /// RESPONDER-LIFETIME (`isakmp_info_recv_n` in its `isakmp_inf.c`); strongSwan logs and
    /// ignores a status notify it does not know (`src/libcharon/sa/ikev1/tasks/informational.c`),
    /// as libreswan does ("ignoring informational payload", `programs/pluto/ikev1.c`), and a
    /// peer that ignores it still learns the end from our Delete when the SA expires.
    pub(super) fn announce_lifetime(
        &mut self,
        peer: FourTuple,
        cookies: Cookies,
        est: &Established,
    ) {
        let Some(lt) = est.announce else {
            return;
        };
        let spi = cookie_spi(cookies);
        let data = life_attributes(p1attr::LIFE_TYPE, p1attr::LIFE_DURATION, lt);
        let n = Payload::Notification(NotifyRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ISAKMP,
            kind: NotifyType::ResponderLifetime,
            spi: &spi,
            data: &data,
        });
        match informational(&mut self.rng, cookies, est, &[n]) {
            Ok(m) => {
                info!(%peer, offered = est.info.suite.lifetime.secs, granted = lt.secs, "shortening the IKE SA lifetime");
                self.push_tx(peer, m);
            }
            Err(e) => debug!(error = %e, "could not build RESPONDER-LIFETIME"),
        }
    }

    /// Sends a Delete (RFC 2408 §3.15) for `spi` of protocol `proto` on an established SA.
    pub(super) fn send_delete_on(
        &mut self,
        peer: FourTuple,
        cookies: Cookies,
        est: &Established,
        proto: u8,
        spi: &[u8],
    ) {
        let d = Payload::Delete(DeleteRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: proto,
            spi_size: u8::try_from(spi.len()).unwrap_or(0),
            spis: spi,
        });
        match informational(&mut self.rng, cookies, est, &[d]) {
            Ok(m) => self.push_tx(peer, m),
            Err(e) => debug!(error = %e, "could not build Delete"),
        }
    }

    /// Sends one R-U-THERE (RFC 3706 §5.1: Notify 36136, the cookies as SPI, a 32-bit
    /// sequence number as data).
    pub(super) fn send_r_u_there(
        &mut self,
        peer: FourTuple,
        cookies: Cookies,
        est: &mut Established,
    ) {
        if est.dpd.seq == 0 {
            // RFC 3706 §7: the first sequence number is random.
            est.dpd.seq = self.rng.r#gen::<u32>() >> 1 | 1;
        } else {
            est.dpd.seq = est.dpd.seq.wrapping_add(1);
        }
        est.dpd.unanswered += 1;
        let seq = est.dpd.seq.to_be_bytes();
        let spi = cookie_spi(cookies);
        let n = Payload::Notification(NotifyRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ISAKMP,
            kind: NotifyType::RUThere,
            spi: &spi,
            data: &seq,
        });
        match informational(&mut self.rng, cookies, est, &[n]) {
            Ok(m) => {
                debug!(%peer, seq = est.dpd.seq, unanswered = est.dpd.unanswered, "DPD R-U-THERE sent");
                self.push_tx(peer, m);
            }
            Err(e) => debug!(error = %e, "could not build R-U-THERE"),
        }
    }
}

/// The ISAKMP SA's SPI in Notify and Delete payloads: CKY-I | CKY-R (RFC 2408 §3.14, §3.15).
pub(super) fn cookie_spi(c: Cookies) -> [u8; 16] {
    let mut spi = [0u8; 16];
    spi[..8].copy_from_slice(&c.0);
    spi[8..].copy_from_slice(&c.1);
    spi
}

/// An Informational exchange (RFC 2409 §5.7): HASH(1) = prf(SKEYID_a, M-ID | payloads),
/// encrypted from the phase 2 IV of a fresh message ID.
fn informational(
    rng: &mut ChaCha20Rng,
    cookies: Cookies,
    est: &Established,
    payloads: &[Payload<'_>],
) -> Result<Vec<u8>, Error> {
    let keys = est.keys();
    let mut id = 0u32;
    while id == 0 {
        id = rng.r#gen();
    }
    let mut rest = vec![0u8; isakmp::payloads_len(payloads)];
    isakmp::emit_payloads(payloads, &mut rest)?;
    let hash = crypto::ikev1::informational_hash(keys.prf(), keys.skeyid_a.as_bytes(), id, &rest);
    let mut all = vec![Payload::Hash(&hash)];
    all.extend(payloads.iter().cloned());
    let header = HeaderRepr {
        initiator_cookie: cookies.0,
        responder_cookie: cookies.1,
        version: isakmp::VERSION_1_0,
        exchange: ExchangeType::Informational,
        flags: flags::ENCRYPTION,
        message_id: id,
    };
    Ok(keys.encrypt_message(header, &all, &keys.phase2_iv(id))?.0)
}
