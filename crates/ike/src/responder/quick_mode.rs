//! Quick Mode (RFC 2409 §5.5) on an established IKE SA, for ESP in transport mode, plain or
//! UDP-encapsulated (RFC 3947 §5): message 1 is checked, answered and kept pending; the HASH(3)
//! of message 3 releases the keys (the [`HashVerified`] proof) as
//! [`Event::ChildSaEstablished`].
//!
//! Message 1 goes through one step per function: open it (decrypt, HASH(1)), check the caps,
//! read it, choose a transform, check the IDs and the encapsulation, pick our SPI, do PFS,
//! then answer (QM2) and keep the exchange pending.

use core::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crypto::Secret;
use rand::{Rng, RngCore};
use tracing::info;
use wire::isakmp::{
    self, HeaderRepr, IdRepr, IdType, NatOaRepr, NotifyRepr, NotifyType, Payload, ProposalRepr,
    SaRepr, protocol,
};

use super::main_mode::Established;
use super::message::{Item, Message, Protected, walk};
use super::reply::Reply;
use super::{Child, IkeSa, NONCE_LEN, Responder, check_nonce, clamp_lifetime, local_v4};
use crate::crypt::{HashVerified, split_keymat, verify_hash};
use crate::error::Error;
use crate::event::{ChildSa, Encapsulation, Event, FourTuple, RefuseReason};
use crate::suite::{
    self, EncapsulationMode, EspChoice, EspRefusal, EspSuite, Lifetime, life_attributes, p2attr,
};
use crate::vendor::NatDialect;

/// L2TP's UDP port (RFC 2661 §8.1).
const L2TP_PORT: u16 = 1701;
/// Message IDs of finished Quick Modes remembered per IKE SA, to ignore their late messages.
const DONE_QMS: usize = 32;

/// A Quick Mode answered with QM2, waiting for QM3.
pub(super) struct Qm {
    /// QM2, for retransmissions of QM1 and on its timer.
    pub(super) reply: Reply,
    /// The CBC IV for QM3: the last block of QM2 (RFC 2409 Appendix B).
    iv: Vec<u8>,
    pub(super) expires: Instant,
    ni_b: Vec<u8>,
    nr_b: Vec<u8>,
    pending: Box<ChildSa>,
    /// The 4-tuple this plain-ESP Quick Mode is counted under in [`Responder::plain_esp`].
    pub(super) plain: Option<FourTuple>,
}

impl Qm {
    /// Our SPI for the pair being negotiated.
    pub(super) fn spi_in(&self) -> u32 {
        self.pending.spi_in
    }

    /// The earliest of its expiry and its retransmission.
    pub(super) fn deadline(&self) -> Instant {
        self.reply
            .deadline()
            .map_or(self.expires, |t| t.min(self.expires))
    }

    /// The keys leave the exchange only once HASH(3) verified.
    fn complete(self, _proof: HashVerified) -> Box<ChildSa> {
        self.pending
    }
}

/// QM1 as read (RFC 2409 §5.5: HASH(1), SA, Ni [, KE] [, IDci, IDcr]; NAT-OA of RFC 3947 §5.2
/// and of the drafts).
struct Qm1<'a> {
    sa: SaRepr<'a>,
    ni: &'a [u8],
    ke: Option<&'a [u8]>,
    ids: Vec<IdRepr<'a>>,
    nat_oa: Vec<Ipv4Addr>,
    nat_oa_draft: bool,
}

impl<'a> Qm1<'a> {
    fn read(items: Vec<Item<'a>>) -> Result<Self, Error> {
        let (mut sa, mut ni, mut ke) = (None, None, None);
        let (mut ids, mut nat_oa, mut nat_oa_draft) = (Vec::new(), Vec::new(), false);
        for i in items {
            match i.payload {
                Payload::Sa(s) => sa = Some(s),
                Payload::Nonce(n) => ni = Some(n),
                Payload::KeyExchange(k) => ke = Some(k),
                Payload::Identification(id) => ids.push(id),
                Payload::NatOa { draft, oa } => {
                    nat_oa_draft = draft;
                    nat_oa.extend(oa.ipv4());
                }
                _ => {}
            }
        }
        let (Some(sa), Some(ni)) = (sa, ni) else {
            return Err(Error::PeerMisbehaved("Quick Mode 1 without SA or Nonce"));
        };
        check_nonce(ni, true)?;
        Ok(Self {
            sa,
            ni,
            ke,
            ids,
            nat_oa,
            nat_oa_draft,
        })
    }

    /// The first acceptable ESP transform in the initiator's order.
    fn choose(&self, policy: &suite::Policy) -> Result<EspChoice, Error> {
        suite::choose_esp(&self.sa.proposals, policy).map_err(|e| {
            Error::Refused(match e {
                EspRefusal::Tunnel => RefuseReason::TunnelMode,
                EspRefusal::Unsupported => RefuseReason::NoEspProposal {
                    offered: suite::describe_esp_offer(&self.sa.proposals),
                },
            })
        })
    }

    /// L2TP only: IDci and IDcr (both or neither, RFC 2409 §5.5) name UDP or any protocol, and
    /// port 1701 or any (RFC 2407 §4.6.2).
    fn check_ids(&self) -> Result<(), Error> {
        match self.ids.len() {
            0 => Ok(()),
            2 => self.ids.iter().try_for_each(|i| {
                if matches!(i.protocol, 0 | 17) && matches!(i.port, 0 | L2TP_PORT) {
                    Ok(())
                } else {
                    Err(Error::Refused(RefuseReason::NotL2tp {
                        protocol: i.protocol,
                        port: i.port,
                    }))
                }
            }),
            _ => Err(Error::PeerMisbehaved("Quick Mode with one ID payload")),
        }
    }

    /// The chosen proposal.
    fn proposal(&self, c: &EspChoice) -> Result<&ProposalRepr<'a>, Error> {
        self.sa
            .proposals
            .get(c.proposal)
            .ok_or(Error::PeerMisbehaved("proposal index"))
    }

    /// The initiator's SPI: we send with it.
    fn spi_out(&self, c: &EspChoice) -> Result<u32, Error> {
        let spi = self.proposal(c)?.spi;
        Ok(u32::from_be_bytes(
            spi.try_into()
                .map_err(|_| Error::PeerMisbehaved("ESP SPI size"))?,
        ))
    }
}

/// How ESP travels with the chosen mode: UDP-encapsulated in the negotiated NAT-T dialect (or
/// the one its mode value names), else plain.
fn encapsulation(esp: &EspSuite, nat_t: Option<NatDialect>) -> Encapsulation {
    match esp.mode {
        EncapsulationMode::UdpTransport => {
            Encapsulation::UdpTransport(nat_t.unwrap_or(if esp.mode_value == 4 {
                NatDialect::Rfc3947
            } else {
                NatDialect::Draft02N
            }))
        }
        _ => Encapsulation::Transport,
    }
}

/// What we decided for one Quick Mode; QM2 and the pending pair are built from it.
struct Answer {
    id: u32,
    choice: EspChoice,
    encapsulation: Encapsulation,
    spi_in: u32,
    spi_out: u32,
    lifetime: Lifetime,
    shortened: bool,
    nr: Vec<u8>,
    /// PFS: our public value and the shared secret.
    pfs: Option<(Vec<u8>, Secret)>,
}

impl Responder {
    /// A Quick Mode message on an established IKE SA: a retransmission of QM1, QM3 of a
    /// pending exchange, or a new QM1.
    pub(super) fn on_quick_mode(
        &mut self,
        now: Instant,
        from: FourTuple,
        msg: &Message<'_>,
        sa: &mut IkeSa,
    ) -> Result<(), Error> {
        let id = msg.header.message_id;
        if id == 0 {
            return Err(Error::PeerMisbehaved("Quick Mode with message ID 0"));
        }
        let ciphertext = msg.ciphertext("unencrypted Quick Mode")?;
        let est = sa.established()?;
        if let Some(q) = est.qms.get(&id) {
            if let Some(qm2) = q.reply.again(msg.bytes) {
                let qm2 = qm2.to_vec();
                return self.answer_again(from, sa.peer, qm2);
            }
            return self.on_qm3(now, from, msg, ciphertext, sa);
        }
        if est.done_qms.contains(&id) {
            return Err(Error::PeerMisbehaved("message for a finished Quick Mode"));
        }
        self.on_qm1(now, from, msg, ciphertext, sa)
    }

    fn on_qm1(
        &mut self,
        now: Instant,
        from: FourTuple,
        msg: &Message<'_>,
        ciphertext: &[u8],
        sa: &mut IkeSa,
    ) -> Result<(), Error> {
        let id = msg.header.message_id;
        let keys = sa.established()?.keys();
        let (plain, next_iv) = keys.decrypt(&keys.phase2_iv(id), ciphertext)?;
        let body = Protected::parse(msg.first, &plain)?;
        // HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ]).
        let expected =
            crypto::ikev1::qm_hash1(keys.prf(), keys.skeyid_a.as_bytes(), id, body.covered);
        if !crypto::ct_eq(&expected, body.hash) {
            return Err(Error::Refused(RefuseReason::QuickModeHash));
        }
        self.commit_float(now, sa, from);
        self.check_child_room(sa)?;
        let qm1 = Qm1::read(body.items)?;
        let choice = qm1.choose(&self.config.policy)?;
        qm1.check_ids()?;
        let encapsulation = encapsulation(&choice.suite, sa.established()?.nat_t());
        if encapsulation == Encapsulation::Transport {
            self.check_plain_esp(sa)?;
        }
        let spi_out = qm1.spi_out(&choice)?;
        let spi_in = self.new_spi();
        let pfs = self.pfs(now, sa.peer, &choice.suite, qm1.ke)?;
        let (lifetime, shortened) =
            clamp_lifetime(choice.suite.lifetime, &self.config.phase2_lifetime);
        if shortened {
            info!(peer = %sa.peer, offered = choice.suite.lifetime.secs, granted = lifetime.secs, "shortening the ESP lifetime");
        }
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nr);
        let answer = Answer {
            id,
            choice,
            encapsulation,
            spi_in,
            spi_out,
            lifetime,
            shortened,
            nr,
            pfs,
        };
        let qm2 = answer_qm1(
            sa.established()?,
            msg.header,
            sa.peer,
            &qm1,
            &answer,
            &next_iv,
        )?;
        let plain_esp = (encapsulation == Encapsulation::Transport).then_some(sa.peer);
        let q = Qm {
            reply: Reply::with_timer(msg.bytes, qm2.message.clone(), now, self.resend()),
            iv: qm2.iv,
            expires: now + self.config.half_open_timeout,
            ni_b: qm1.ni.to_vec(),
            nr_b: answer.nr,
            pending: qm2.pending,
            plain: plain_esp,
        };
        self.keep_pending(sa, id, q)?;
        self.push_tx(sa.peer, qm2.message);
        Ok(())
    }

    /// QM3: HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b) releases the pending pair.
    fn on_qm3(
        &mut self,
        now: Instant,
        from: FourTuple,
        msg: &Message<'_>,
        ciphertext: &[u8],
        sa: &mut IkeSa,
    ) -> Result<(), Error> {
        let id = msg.header.message_id;
        let est = sa.established()?;
        let q = est
            .qms
            .get(&id)
            .ok_or(Error::PeerMisbehaved("unknown Quick Mode"))?;
        let keys = est.keys();
        let (plain, _) = keys.decrypt(&q.iv, ciphertext)?;
        let items = walk(msg.first, &plain, true)?;
        let Some(Item {
            payload: Payload::Hash(h),
            ..
        }) = items.first()
        else {
            return Err(Error::PeerMisbehaved("Quick Mode 3 without HASH"));
        };
        let expected =
            crypto::ikev1::qm_hash3(keys.prf(), keys.skeyid_a.as_bytes(), id, &q.ni_b, &q.nr_b);
        let proof = verify_hash(&expected, h)
            .ok_or(Error::PeerMisbehaved("Quick Mode HASH(3) did not verify"))?;
        self.commit_float(now, sa, from);
        let est = sa.established_mut()?;
        let Some(q) = est.qms.remove(&id) else {
            return Ok(());
        };
        if est.qms.is_empty() {
            // The table's room for Quick Modes is only needed while one runs (rekeys are hours
            // apart): give it back.
            est.qms.shrink_to_fit();
        }
        est.done_qms.push_back(id);
        if est.done_qms.len() > DONE_QMS {
            est.done_qms.pop_front();
        }
        self.settle_spi(q.spi_in());
        let plain_esp = q.plain;
        let mut child = q.complete(proof);
        child.peer = sa.peer;
        info!(peer = %sa.peer, spi_in = format_args!("{:08x}", child.spi_in), spi_out = format_args!("{:08x}", child.spi_out),
            suite = %child.suite, "ESP SA established");
        self.add_child(
            child.spi_in,
            Child {
                peer: sa.peer,
                ike: sa.cookies,
                spi_out: child.spi_out,
                expires: now + Duration::from_secs(child.lifetime_secs),
                timer: None,
                plain: plain_esp,
            },
        );
        self.events.push_back(Event::ChildSaEstablished(child));
        Ok(())
    }

    /// A new inbound SPI, unique among every installed pair and every pending Quick Mode of
    /// any IKE SA: the owner finds the SA by this SPI alone (RFC 4301 §4.1: the receiver picks
    /// it). Values below 256 are reserved (RFC 4303 §2.1).
    fn new_spi(&mut self) -> u32 {
        let mut spi = 0u32;
        while spi < 0x100 || self.children.contains_key(&spi) || self.pending_spis.contains(&spi) {
            spi = self.rng.r#gen();
        }
        spi
    }

    /// PFS (RFC 2409 §5.5): a Diffie-Hellman exchange in the group the transform names, paid
    /// for from the peer address's token bucket.
    fn pfs(
        &mut self,
        now: Instant,
        peer: FourTuple,
        esp: &EspSuite,
        ke: Option<&[u8]>,
    ) -> Result<Option<(Vec<u8>, Secret)>, Error> {
        match (esp.pfs, ke) {
            (Some(group), Some(ke)) => {
                self.take_dh_token(peer, now)?;
                let (dh, public) = group.generate(&mut self.rng);
                let shared = dh
                    .compute_shared(ke)
                    .map_err(|_| Error::Refused(RefuseReason::BadKeyExchange))?;
                Ok(Some((public, shared)))
            }
            (None, None) => Ok(None),
            _ => Err(Error::PeerMisbehaved("KE payload and PFS group disagree")),
        }
    }

    /// Records a Quick Mode answered with QM2 until QM3 comes or it expires.
    fn keep_pending(&mut self, sa: &mut IkeSa, id: u32, q: Qm) -> Result<(), Error> {
        if self.pending_spis.insert(q.spi_in()) {
            self.pending_version = self.pending_version.wrapping_add(1);
        }
        if let Some(p) = q.plain {
            self.count_plain_esp(p, true);
        }
        sa.established_mut()?.qms.insert(id, q);
        Ok(())
    }
}

/// QM2 (RFC 2409 §5.5) and the pending pair with KEYMAT for both directions.
fn answer_qm1(
    est: &Established,
    header: HeaderRepr,
    peer: FourTuple,
    qm1: &Qm1<'_>,
    a: &Answer,
    iv: &[u8],
) -> Result<Qm2, Error> {
    let keys = est.keys();
    let prop = qm1.proposal(&a.choice)?;
    let transform = prop
        .transforms
        .get(a.choice.transform)
        .ok_or(Error::PeerMisbehaved("transform index"))?
        .clone();
    let fields = Qm2Fields {
        spi_in: a.spi_in.to_be_bytes(),
        remote: local_v4(peer.remote).octets(),
        local: local_v4(peer.local).octets(),
        life: life_attributes(p2attr::LIFE_TYPE, p2attr::LIFE_DURATION, a.lifetime),
    };
    let sa_r = SaRepr {
        doi: qm1.sa.doi,
        situation: qm1.sa.situation,
        proposals: vec![ProposalRepr {
            number: prop.number,
            protocol: protocol::ESP,
            spi: &fields.spi_in,
            transforms: vec![transform],
        }],
    };
    let out = fields.payloads(sa_r, qm1, a);
    let mut rest = vec![0u8; isakmp::payloads_len(&out)];
    isakmp::emit_payloads(&out, &mut rest)?;
    // HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ]).
    let hash2 = crypto::ikev1::qm_hash2(keys.prf(), keys.skeyid_a.as_bytes(), a.id, qm1.ni, &rest);
    let mut all = vec![Payload::Hash(&hash2)];
    all.extend(out);
    let (message, iv) = keys.encrypt_message(header, &all, iv)?;
    Ok(Qm2 {
        message,
        iv,
        pending: pending_pair(est, peer, qm1, a),
    })
}

/// The bytes QM2's payloads borrow.
struct Qm2Fields {
    spi_in: [u8; 4],
    remote: [u8; 4],
    local: [u8; 4],
    life: Vec<u8>,
}

impl Qm2Fields {
    /// After HASH(2): our SA with the chosen transform and our SPI, Nr, our KE with PFS, the
    /// IDs as received, NAT-OA (RFC 3947 §5.2) when the client sent it, and RESPONDER-LIFETIME
    /// (RFC 2407 §4.6.3.1) when we shortened the lifetime.
    fn payloads<'a>(
        &'a self,
        sa_r: SaRepr<'a>,
        qm1: &'a Qm1<'a>,
        a: &'a Answer,
    ) -> Vec<Payload<'a>> {
        let mut out = vec![Payload::Sa(sa_r), Payload::Nonce(&a.nr)];
        if let Some((public, _)) = &a.pfs {
            out.push(Payload::KeyExchange(public));
        }
        out.extend(qm1.ids.iter().map(|i| Payload::Identification(*i)));
        let oa = |draft, address| Payload::NatOa {
            draft,
            oa: NatOaRepr {
                id_type: IdType::Ipv4Addr,
                address,
            },
        };
        if !qm1.nat_oa.is_empty() {
            // RFC 3947 §5.2: the responder sends NAT-OAi (the initiator as it sees it) and
            // NAT-OAr (itself); the drafts carry only the sender's own address.
            if qm1.nat_oa_draft {
                out.push(oa(true, &self.local));
            } else {
                out.push(oa(false, &self.remote));
                out.push(oa(false, &self.local));
            }
        }
        if a.shortened {
            // The lifetime we grant; the SPI is "the sender's inbound IPSEC SPI", ours.
            out.push(Payload::Notification(NotifyRepr {
                doi: isakmp::DOI_IPSEC,
                protocol: protocol::ESP,
                kind: NotifyType::ResponderLifetime,
                spi: &self.spi_in,
                data: &self.life,
            }));
        }
        out
    }
}

/// The ESP SA pair being negotiated: KEYMAT = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI |
/// Ni_b | Nr_b), one per direction (RFC 2409 §5.5).
fn pending_pair(est: &Established, peer: FourTuple, qm1: &Qm1<'_>, a: &Answer) -> Box<ChildSa> {
    let keys = est.keys();
    let esp = a.choice.suite;
    let klen = esp.cipher.key_len() + esp.integ.key_len();
    let keymat = |spi: u32| {
        let km = crypto::ikev1::keymat(
            keys.prf(),
            keys.skeyid_d.as_bytes(),
            a.pfs.as_ref().map(|(_, shared)| shared.as_bytes()),
            protocol::ESP,
            spi.to_be_bytes(),
            qm1.ni,
            &a.nr,
            klen,
        );
        split_keymat(&km, esp.cipher.key_len())
    };
    let (enc_key_in, auth_key_in) = keymat(a.spi_in);
    let (enc_key_out, auth_key_out) = keymat(a.spi_out);
    let client = qm1.ids.first();
    Box::new(ChildSa {
        peer,
        spi_in: a.spi_in,
        spi_out: a.spi_out,
        cipher: esp.cipher,
        integ: esp.integ,
        enc_key_in,
        auth_key_in,
        enc_key_out,
        auth_key_out,
        encapsulation: a.encapsulation,
        nat_oa_i: qm1.nat_oa.first().copied(),
        nat_oa_r: if qm1.nat_oa_draft {
            None
        } else {
            qm1.nat_oa.get(1).copied()
        },
        lifetime_secs: a.lifetime.secs,
        lifetime_kb: a.lifetime.kb,
        client_id: client.and_then(IdRepr::ipv4),
        client_port: client.map_or(0, |i| i.port),
        suite: esp,
    })
}

/// Quick Mode message 2 and what it leaves pending.
struct Qm2 {
    message: Vec<u8>,
    /// The CBC IV for QM3.
    iv: Vec<u8>,
    pending: Box<ChildSa>,
}
