//! Main Mode with a pre-shared key (RFC 2409 §5.4) or RSA signatures (§5.1) as consuming
//! states, in the style of rustls' `Expect*`:
//!
//! ```text
//!   MM1 -> [MM2] -> ExpectMm3 -> [MM4] -> ExpectMm5 -> [MM6] -> Established
//! ```
//!
//! [`ExpectMm3::handle`] and [`ExpectMm5::handle`] take the state by value and return the next
//! one with our reply, or an error after which the IKE SA is gone. Whatever may fail without
//! costing the SA (a malformed or incomplete message, the Diffie-Hellman rate limit) is checked
//! by the responder before the state is consumed. The [`HashVerified`] proof that HASH_I
//! verified is kept in [`Established`], and the phase 1 keys can be reached only through it:
//! Quick Mode KEYMAT and the key log come from a state that holds the proof.
//!
//! With signatures (the client chooses by its proposal; [`ResponderConfig::certificates`] says
//! which methods we accept), SKEYID is `prf(Ni_b | Nr_b, g^xy)` (RFC 2409 §5); MM4 adds one
//! CERTREQ per configured CA (RFC 2408 §3.10, encoding 4, the CA's subject DER as authority);
//! MM5 brings IDii, CERT (RFC 2408 §3.9: only encoding 4, X.509 Certificate - Signature, is
//! used) and SIG_I instead of HASH_I. The client's chain is checked against the configured CAs
//! and CRLs at the wall-clock time, then IDii against the certificate (RFC 4945 §3.1), then the
//! accepted identity patterns, then SIG_I over HASH_I. MM6 answers IDir as ID_DER_ASN1_DN of
//! our certificate's subject (RFC 4945 §3.1 recommends the DN; Windows expects it), our chain
//! as CERT payloads, and SIG_R over HASH_R.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use crypto::Secret;
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use tracing::{debug, info};
use wire::isakmp::{
    self, Body, CertEncoding, CertRepr, CertReqRepr, ExchangeType, HeaderRepr, IdRepr, IdType,
    NotifyRepr, NotifyType, Payload, PayloadType, ProposalRepr, Repr, SaRepr, SigRepr, protocol,
};

use super::message::{Item, Message, walk};
use super::quick_mode::Qm;
use super::{Cookies, Dpd, NONCE_LEN, check_nonce, clamp_lifetime, local_v4};
use crate::config::{CertificateAuth, ResponderConfig};
use crate::crypt::{HashVerified, Keys, nat_d, verify_hash, verify_signature};
use crate::error::Error;
use crate::event::{FourTuple, PeerAuth, Phase1Info, PskSymptom, RefuseReason};
use crate::suite::{self, AuthMethod, Lifetime, Phase1Choice, Phase1Suite};
use crate::vendor::{self, NatDialect, VendorInfo};

/// What a state transition needs from the responder.
pub(super) struct Cx<'a> {
    pub(super) rng: &'a mut ChaCha20Rng,
    pub(super) config: &'a ResponderConfig,
    /// The SA's 4-tuple (for MM5, the one it floats to).
    pub(super) peer: FourTuple,
    pub(super) cookies: Cookies,
    /// The header of the message being answered.
    pub(super) header: HeaderRepr,
    /// The wall-clock time (certificate validity), if the owner set it.
    pub(super) wall: Option<SystemTime>,
}

/// The authentication methods `config` accepts.
fn accepted_methods(config: &ResponderConfig) -> &'static [AuthMethod] {
    match &config.certificates {
        None => &[AuthMethod::PreSharedKey],
        Some(c) if c.allow_psk => suite::ALL_AUTH_METHODS,
        Some(_) => &[AuthMethod::RsaSignature],
    }
}

/// The certificate settings, for an SA that chose signatures.
fn certificates(config: &ResponderConfig) -> Result<&CertificateAuth, Error> {
    config.certificates.as_ref().ok_or_else(|| {
        Error::Refused(RefuseReason::NoCertificateConfigured {
            offered: "signatures, chosen before the certificates were removed".into(),
        })
    })
}

/// What Main Mode message 1 offers.
pub(super) struct Mm1<'a> {
    sa: SaRepr<'a>,
    /// The SA payload's body: SAi_b, hashed into HASH_I and HASH_R (RFC 2409 §5).
    pub(super) sa_b: &'a [u8],
    vendor: VendorInfo,
}

impl<'a> Mm1<'a> {
    /// Reads MM1: an SA payload first (RFC 2409 §5.4), then Vendor IDs that change our
    /// behaviour (NAT-T dialect, DPD, Microsoft).
    pub(super) fn read(msg: &Message<'a>) -> Result<Self, Error> {
        let items = msg.plain("encrypted Main Mode message 1")?;
        let mut vendor = VendorInfo::default();
        for i in &items {
            if let Payload::VendorId(v) = i.payload {
                vendor.observe(v);
            }
        }
        let Some(Item {
            payload: Payload::Sa(sa),
            body,
            ..
        }) = items.into_iter().next()
        else {
            return Err(Error::PeerMisbehaved(
                "Main Mode message 1 without SA first",
            ));
        };
        Ok(Self {
            sa,
            sa_b: body,
            vendor,
        })
    }

    /// The first acceptable transform in the initiator's order.
    pub(super) fn choose(&self, config: &ResponderConfig) -> Option<Phase1Choice> {
        suite::choose_phase1_with(&self.sa.proposals, &config.policy, accepted_methods(config))
    }

    /// Why nothing was acceptable, in plain words: the authentication method when every
    /// transform the policy allows asks for a method not configured, else the algorithms.
    pub(super) fn refusal(&self, config: &ResponderConfig) -> RefuseReason {
        let offered = suite::describe_p1_offer(&self.sa.proposals);
        let methods = suite::offered_auth_methods(&self.sa.proposals, &config.policy);
        let accepted = accepted_methods(config);
        if !methods.is_empty() && methods.iter().all(|m| !accepted.contains(m)) {
            return if methods.contains(&AuthMethod::RsaSignature) {
                RefuseReason::NoCertificateConfigured { offered }
            } else {
                RefuseReason::PskNotAllowed { offered }
            };
        }
        RefuseReason::NoIkeProposal {
            offered,
            hint: suite::policy_hint(&self.sa.proposals, &config.policy),
        }
    }
}

/// NO-PROPOSAL-CHOSEN in an unprotected Informational (RFC 2408 §5.4), so that the client
/// fails at once instead of retransmitting; under a fresh responder cookie no SA holds.
pub(super) fn no_proposal_chosen(
    rng: &mut ChaCha20Rng,
    header: HeaderRepr,
) -> Result<Vec<u8>, Error> {
    let mut rcky = [0u8; 8];
    rng.fill_bytes(&mut rcky);
    let notify = Payload::Notification(NotifyRepr {
        doi: isakmp::DOI_IPSEC,
        protocol: protocol::ISAKMP,
        kind: NotifyType::NoProposalChosen,
        spi: &[],
        data: &[],
    });
    Ok(Repr {
        header: HeaderRepr {
            responder_cookie: rcky,
            exchange: ExchangeType::Informational,
            flags: 0,
            message_id: 0,
            ..header
        },
        body: Body::Plain(vec![notify]),
    }
    .to_vec()?)
}

/// The phase 1 lifetime we grant, and whether it is shorter than the one offered.
#[derive(Debug, Clone, Copy)]
struct Granted {
    lifetime: Lifetime,
    shortened: bool,
}

/// MM1 answered with MM2; waiting for the key exchange (MM3).
pub(super) struct ExpectMm3 {
    suite: Phase1Suite,
    auth: AuthMethod,
    vendor: VendorInfo,
    sa_i_b: Vec<u8>,
    granted: Granted,
}

impl ExpectMm3 {
    /// Answers `mm1` with the chosen transform (MM2): one proposal with one transform, as
    /// offered (RFC 2408 §4.2), and our NAT-T and DPD Vendor IDs where the client sent them.
    pub(super) fn answer(
        cx: Cx<'_>,
        mm1: &Mm1<'_>,
        choice: &Phase1Choice,
    ) -> Result<(Self, Vec<u8>), Error> {
        let prop = mm1
            .sa
            .proposals
            .get(choice.proposal)
            .ok_or(Error::PeerMisbehaved("proposal index"))?;
        let t = prop
            .transforms
            .get(choice.transform)
            .ok_or(Error::PeerMisbehaved("transform index"))?
            .clone();
        let sa_r = SaRepr {
            doi: mm1.sa.doi,
            situation: mm1.sa.situation,
            proposals: vec![ProposalRepr {
                number: prop.number,
                protocol: prop.protocol,
                spi: prop.spi,
                transforms: vec![t],
            }],
        };
        let mut out = vec![Payload::Sa(sa_r)];
        let nat_vid = mm1.vendor.nat_t.map(NatDialect::vendor_id);
        if let Some(v) = &nat_vid {
            out.push(Payload::VendorId(v));
        }
        if mm1.vendor.dpd {
            out.push(Payload::VendorId(&vendor::DPD));
        }
        let mm2 = Repr {
            header: HeaderRepr {
                responder_cookie: cx.cookies.1,
                flags: 0,
                ..cx.header
            },
            body: Body::Plain(out),
        }
        .to_vec()?;
        let (lifetime, shortened) =
            clamp_lifetime(choice.suite.lifetime, &cx.config.phase1_lifetime);
        // Debug only: anyone can send MM1 from any address, at any rate.
        debug!(peer = %cx.peer, suite = %choice.suite, auth = %choice.auth, nat_t = ?mm1.vendor.nat_t, ms_nt5 = ?mm1.vendor.ms_nt5_version, "Main Mode 1: proposal chosen");
        let state = Self {
            suite: choice.suite,
            auth: choice.auth,
            vendor: mm1.vendor.clone(),
            sa_i_b: mm1.sa_b.to_vec(),
            granted: Granted {
                lifetime,
                shortened,
            },
        };
        Ok((state, mm2))
    }

    /// Bytes this state holds on the heap.
    #[cfg(test)]
    pub(super) fn heap_len(&self) -> usize {
        self.sa_i_b.capacity()
    }

    /// MM3 (RFC 2409 §5.4: KE, Ni, and NAT-D of RFC 3947 §3.2): the Diffie-Hellman exchange,
    /// SKEYID and its derivatives, our NAT-D, and MM4.
    pub(super) fn handle(
        self,
        mut cx: Cx<'_>,
        mm3: &Mm3<'_>,
    ) -> Result<(ExpectMm5, Vec<u8>), Error> {
        let (dh, g_xr) = self.suite.group.generate(&mut *cx.rng);
        let g_xy = dh
            .compute_shared(mm3.ke)
            .map_err(|_| Error::Refused(RefuseReason::BadKeyExchange))?;
        let mut nr = vec![0u8; NONCE_LEN];
        cx.rng.fill_bytes(&mut nr);
        let (icky, rcky) = cx.cookies;
        let keys = Keys::derive(
            self.suite,
            self.auth,
            cx.config.psk.as_bytes(),
            mm3.ni,
            &nr,
            g_xy.as_bytes(),
            mm3.ke,
            &g_xr,
            &icky,
            &rcky,
        )?;
        let nat = self.nat_detection(&mut cx, mm3);
        // RFC 2408 §3.10: one CERTREQ per CA we accept, naming it by its subject DER.
        let authorities = match self.auth {
            AuthMethod::RsaSignature => ca_names(certificates(cx.config)?)?,
            _ => Vec::new(),
        };
        if mm3.certreqs > 0 {
            debug!(peer = %cx.peer, certreqs = mm3.certreqs, "Main Mode 3: the client asks for our certificate");
        }
        let mut out = vec![Payload::KeyExchange(&g_xr), Payload::Nonce(&nr)];
        for a in &authorities {
            out.push(Payload::CertificateRequest(CertReqRepr {
                cert_type: CertEncoding::X509Signature,
                authority: a,
            }));
        }
        if let Some(n) = &nat {
            let draft = n.dialect.is_draft();
            out.push(Payload::NatD {
                draft,
                hash: &n.for_client,
            });
            out.push(Payload::NatD {
                draft,
                hash: &n.for_us,
            });
        }
        let mm4 = Repr {
            header: HeaderRepr {
                flags: 0,
                ..cx.header
            },
            body: Body::Plain(out),
        }
        .to_vec()?;
        let next = ExpectMm5 {
            suite: self.suite,
            auth: self.auth,
            vendor: self.vendor,
            sa_i_b: self.sa_i_b,
            g_xi: mm3.ke.to_vec(),
            g_xr,
            keys: Box::new(keys),
            nat_t: nat.as_ref().map(|n| n.dialect),
            nat_detected: nat.as_ref().is_some_and(|n| n.detected),
            granted: self.granted,
        };
        Ok((next, mm4))
    }

    /// NAT detection (RFC 3947 §3.2), when both sides speak NAT-T and the client sent NAT-D.
    ///
    /// The NAT-D trick (docs/clients.md#nat-d-trick, as SoftEther does it): our first NAT-D,
    /// which should be the hash of the client's address, is random bytes. It can never match,
    /// so every client concludes that it is behind NAT and floats to UDP 4500. For Microsoft
    /// peers our second NAT-D is a copy of the client's own hash of our address, so Windows never
    /// concludes that the server is behind NAT (which it refuses without a registry change).
    fn nat_detection(&self, cx: &mut Cx<'_>, mm3: &Mm3<'_>) -> Option<NatD> {
        let dialect = self.vendor.nat_t?;
        let first = mm3.natd.first()?;
        let (icky, rcky) = cx.cookies;
        let h = self.suite.hash;
        let ours = nat_d(h, &icky, &rcky, cx.peer.local);
        let theirs = nat_d(h, &icky, &rcky, cx.peer.remote);
        let us_behind = !crypto::ct_eq(first, &ours);
        let client_behind = !mm3.natd.iter().skip(1).any(|d| crypto::ct_eq(d, &theirs));
        let trick = cx.config.nat_d_trick;
        info!(peer = %cx.peer, dialect = dialect.name(), us_behind, client_behind, trick, "NAT detection");
        let for_client = if trick {
            let mut r = vec![0u8; h.output_len()];
            cx.rng.fill_bytes(&mut r);
            r
        } else {
            theirs
        };
        let for_us = if trick && self.vendor.is_microsoft() {
            first.to_vec()
        } else {
            ours
        };
        Some(NatD {
            dialect,
            detected: trick || us_behind || client_behind,
            for_client,
            for_us,
        })
    }
}

/// Our NAT-D payloads and what they concluded.
struct NatD {
    dialect: NatDialect,
    detected: bool,
    /// The hash of the client's address (first NAT-D: the destination).
    for_client: Vec<u8>,
    /// The hash of ours (second: the source).
    for_us: Vec<u8>,
}

/// Main Mode message 3 as read.
pub(super) struct Mm3<'a> {
    ke: &'a [u8],
    ni: &'a [u8],
    natd: Vec<&'a [u8]>,
    /// CERTREQ payloads (Windows sends them when it authenticates with certificates).
    certreqs: usize,
}

impl<'a> Mm3<'a> {
    /// Reads MM3; KE and Nonce are required, the nonce 8 to 256 octets long (RFC 2409 §5).
    pub(super) fn read(msg: &Message<'a>) -> Result<Self, Error> {
        let items = msg.plain("encrypted Main Mode message 3")?;
        let (mut ke, mut ni, mut natd, mut certreqs) = (None, None, Vec::new(), 0);
        for i in items {
            match i.payload {
                Payload::KeyExchange(k) => ke = Some(k),
                Payload::Nonce(n) => ni = Some(n),
                Payload::NatD { hash, .. } => natd.push(hash),
                Payload::CertificateRequest(_) => certreqs += 1,
                _ => {}
            }
        }
        let (Some(ke), Some(ni)) = (ke, ni) else {
            return Err(Error::PeerMisbehaved(
                "Main Mode message 3 without KE or Nonce",
            ));
        };
        check_nonce(ni, false)?;
        Ok(Self {
            ke,
            ni,
            natd,
            certreqs,
        })
    }
}

/// MM3 answered with MM4; waiting for the initiator's identity and HASH_I (MM5).
pub(super) struct ExpectMm5 {
    suite: Phase1Suite,
    auth: AuthMethod,
    vendor: VendorInfo,
    sa_i_b: Vec<u8>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    keys: Box<Keys>,
    nat_t: Option<NatDialect>,
    nat_detected: bool,
    granted: Granted,
}

/// Our answer to MM5, and what MM5 asked for.
pub(super) struct Mm6 {
    pub(super) message: Vec<u8>,
    /// MM5 carried INITIAL-CONTACT (RFC 2407 §4.6.3.3), or MM1 Microsoft's
    /// Vid-Initial-Contact.
    pub(super) initial_contact: bool,
}

impl ExpectMm5 {
    /// The NAT-T dialect negotiated in MM3, if any.
    pub(super) fn nat_t(&self) -> Option<NatDialect> {
        self.nat_t
    }

    /// MM5 (encrypted: IDii and HASH_I, RFC 2409 §5.4; or IDii, CERT and SIG_I, §5.1). With a
    /// pre-shared key, a body that does not decrypt to payloads and a HASH_I that does not
    /// verify both mean a different PSK (no oracle on which). `room`: the 4-tuple may hold one
    /// more IKE SA ([`ResponderConfig::max_ike_sas_per_peer`], checked after authentication).
    pub(super) fn handle(
        self,
        mut cx: Cx<'_>,
        first: PayloadType,
        ciphertext: &[u8],
        room: bool,
    ) -> Result<(Established, Mm6), Error> {
        let mm5 = self.open(first, ciphertext)?;
        let (proof, auth) = match self.auth {
            AuthMethod::RsaSignature => self.verify_signature(&cx, &mm5)?,
            _ => (self.verify(&cx, &mm5)?, PeerAuth::Psk),
        };
        if !room {
            return Err(Error::Refused(RefuseReason::TooManyIkeSas));
        }
        let (mm6, last_block) = self.mm6(&mut cx, &mm5.next_iv)?;
        let mut keys = self.keys;
        keys.iv = last_block;
        let established = Established {
            proof,
            keys,
            info: Phase1Info {
                suite: self.suite,
                vendor: self.vendor,
                nat_t: self.nat_t,
                nat_detected: self.nat_detected,
                lifetime_secs: self.granted.lifetime.secs,
                auth,
            },
            announce: self.granted.shortened.then_some(self.granted.lifetime),
            qms: HashMap::new(),
            done_qms: VecDeque::new(),
            dpd: Dpd::default(),
        };
        let initial_contact = mm5.initial_contact || established.info.vendor.ms_initial_contact;
        Ok((
            established,
            Mm6 {
                message: mm6,
                initial_contact,
            },
        ))
    }

    /// Decrypts MM5 and reads IDii_b, HASH_I or SIG_I, the CERTs and INITIAL-CONTACT.
    fn open(&self, first: PayloadType, ciphertext: &[u8]) -> Result<Mm5, Error> {
        let signatures = self.auth == AuthMethod::RsaSignature;
        let garbage = |what: &'static str| {
            Error::Refused(if signatures {
                RefuseReason::CertificateMessageIncomplete(what)
            } else {
                RefuseReason::PskMismatch(PskSymptom::Mm5Garbage)
            })
        };
        let (plain, next_iv) = self
            .keys
            .decrypt(&self.keys.iv, ciphertext)
            .map_err(|_| garbage("it does not decrypt"))?;
        let items =
            walk(first, &plain, true).map_err(|_| garbage("it does not decrypt to payloads"))?;
        let mut m = Mm5 {
            id_b: Vec::new(),
            id_type: 0,
            id_data: Vec::new(),
            hash: Vec::new(),
            certs: Vec::new(),
            initial_contact: false,
            next_iv,
        };
        let (mut id, mut auth) = (false, false);
        for i in &items {
            match i.payload {
                Payload::Identification(r) if !id => {
                    id = true;
                    m.id_b = i.body.to_vec();
                    m.id_type = r.id_type.into();
                    m.id_data = r.data.to_vec();
                }
                Payload::Hash(h) if !signatures => {
                    auth = true;
                    m.hash = h.to_vec();
                }
                Payload::Signature(SigRepr { data }) if signatures => {
                    auth = true;
                    m.hash = data.to_vec();
                }
                Payload::Certificate(c) if signatures => {
                    m.certs.push((c.encoding.into(), c.data.to_vec()));
                }
                Payload::Notification(n) if n.kind == NotifyType::InitialContact => {
                    m.initial_contact = true;
                }
                _ => {}
            }
        }
        if !id {
            return Err(garbage("no ID payload"));
        }
        if !auth {
            return Err(garbage(if signatures {
                "no SIG payload"
            } else {
                "no HASH payload"
            }));
        }
        Ok(m)
    }

    /// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b) (RFC 2409 §5).
    fn hash_i(&self, cx: &Cx<'_>, mm5: &Mm5) -> Vec<u8> {
        let (icky, rcky) = cx.cookies;
        let k = &self.keys;
        crypto::ikev1::hash_i(
            k.prf(),
            k.skeyid.as_bytes(),
            &self.g_xi,
            &self.g_xr,
            &icky,
            &rcky,
            &self.sa_i_b,
            &mm5.id_b,
        )
    }

    /// HASH_I against the received HASH payload (pre-shared key).
    fn verify(&self, cx: &Cx<'_>, mm5: &Mm5) -> Result<HashVerified, Error> {
        let expected = self.hash_i(cx, mm5);
        verify_hash(&expected, &mm5.hash).ok_or(Error::Refused(RefuseReason::PskMismatch(
            PskSymptom::HashMismatch,
        )))
    }

    /// Signature authentication of MM5, in order: a usable X.509 certificate, its chain
    /// against the configured CAs and CRLs, IDii against it (RFC 4945 §3.1), the accepted
    /// identities, then SIG_I over HASH_I with its key (RFC 2409 §5.1).
    fn verify_signature(&self, cx: &Cx<'_>, mm5: &Mm5) -> Result<(HashVerified, PeerAuth), Error> {
        let refuse = |r| Error::Refused(r);
        let auth = certificates(cx.config)?;
        let x509 = CertEncoding::X509Signature.into();
        let mut certs = Vec::new();
        let mut other_encodings = Vec::new();
        for (enc, der) in &mm5.certs {
            if *enc == x509 {
                let cert = pki::load::certificate_der(der).map_err(|e| {
                    refuse(RefuseReason::ClientCertificateMalformed {
                        reason: e.to_string(),
                    })
                })?;
                certs.push(cert);
            } else if !other_encodings.contains(enc) {
                other_encodings.push(*enc);
            }
        }
        let identity = pki::Identity::from_payload(mm5.id_type, &mm5.id_data)
            .map_err(|e| refuse(RefuseReason::ClientIdentityMismatch(e)));
        // The end entity: the certificate IDii names (Windows sends its own certificate
        // only; others may add intermediates in any order), else the first.
        let ee_index = identity
            .as_ref()
            .ok()
            .and_then(|id| certs.iter().position(|c| id.check(c).is_ok()))
            .unwrap_or(0);
        if ee_index >= certs.len() {
            return Err(refuse(RefuseReason::ClientCertificateMissing {
                other_encodings,
            }));
        }
        let ee = certs.remove(ee_index);
        let wall = cx.wall.ok_or_else(|| refuse(RefuseReason::NoWallClock))?;
        let verified = auth
            .verifier
            .verify(&ee, &certs, wall)
            .map_err(|e| refuse(RefuseReason::ClientCertificateRefused(e)))?;
        identity?
            .check(&ee)
            .map_err(|e| refuse(RefuseReason::ClientIdentityMismatch(e)))?;
        if !auth.accept.is_empty() {
            pki::IdentityPattern::accept(&auth.accept, &ee)
                .map_err(|e| refuse(RefuseReason::ClientNotAccepted(e)))?;
        }
        let hash_i = self.hash_i(cx, mm5);
        let proof = verify_signature(&ee, &hash_i, &mm5.hash)
            .map_err(|e| refuse(RefuseReason::ClientSignature(e)))?;
        Ok((
            proof,
            PeerAuth::Certificate {
                subject: pki::subject_text(&ee),
                ca: pki::subject_text(&verified.anchor),
            },
        ))
    }

    /// MM6: our identity and HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b |
    /// IDir_b); with signatures our chain and SIG_R over HASH_R instead of the HASH. Returns it
    /// and its last ciphertext block (the IV of phase 2).
    fn mm6(&self, cx: &mut Cx<'_>, iv: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let (icky, rcky) = cx.cookies;
        let k = &self.keys;
        let me = cx
            .config
            .identity
            .unwrap_or_else(|| local_v4(cx.peer.local))
            .octets();
        let signing = match self.auth {
            AuthMethod::RsaSignature => Some(certificates(cx.config)?),
            _ => None,
        };
        let dn = match signing {
            Some(a) => Some(own_subject_der(a)?),
            None => None,
        };
        // RFC 2407 §4.6.2: in phase 1 the ID port and protocol are zero or UDP/500.
        let id_r = match &dn {
            Some(dn) => IdRepr {
                id_type: IdType::DerAsn1Dn,
                protocol: 17,
                port: 500,
                data: dn,
            },
            None => IdRepr {
                id_type: IdType::Ipv4Addr,
                protocol: 17,
                port: 500,
                data: &me,
            },
        };
        let id_r_b = Payload::Identification(id_r).body_bytes()?;
        let hash_r = crypto::ikev1::hash_r(
            k.prf(),
            k.skeyid.as_bytes(),
            &self.g_xr,
            &self.g_xi,
            &rcky,
            &icky,
            &self.sa_i_b,
            &id_r_b,
        );
        let Some(a) = signing else {
            return k.encrypt_message(
                cx.header,
                &[Payload::Identification(id_r), Payload::Hash(&hash_r)],
                iv,
            );
        };
        let sig = pki::ikev1::sign(&a.key, &hash_r, &mut *cx.rng)
            .map_err(|e| Error::Refused(RefuseReason::OwnSignature(e)))?;
        let mut out = vec![Payload::Identification(id_r)];
        for der in &a.chain {
            out.push(Payload::Certificate(CertRepr {
                encoding: CertEncoding::X509Signature,
                data: der,
            }));
        }
        out.push(Payload::Signature(SigRepr { data: &sig }));
        k.encrypt_message(cx.header, &out, iv)
    }
}

/// The subject DER of each configured CA, for CERTREQ payloads.
fn ca_names(auth: &CertificateAuth) -> Result<Vec<Vec<u8>>, Error> {
    auth.verifier
        .cas()
        .map(|ca| pki::subject_der(ca).map_err(|_| Error::Unsupported("a CA name does not encode")))
        .collect()
}

/// The subject DER of our certificate (`chain[0]`): IDir as ID_DER_ASN1_DN.
fn own_subject_der(auth: &CertificateAuth) -> Result<Vec<u8>, Error> {
    let der = auth
        .chain
        .first()
        .ok_or(Error::Unsupported("no server certificate in the chain"))?;
    let cert = pki::load::certificate_der(der)
        .map_err(|_| Error::Unsupported("the server certificate does not decode"))?;
    pki::subject_der(&cert).map_err(|_| Error::Unsupported("the server name does not encode"))
}

/// Main Mode message 5 as read.
struct Mm5 {
    /// IDii_b, hashed into HASH_I.
    id_b: Vec<u8>,
    /// IDii's type and identification data.
    id_type: u8,
    id_data: Vec<u8>,
    /// HASH_I (pre-shared key) or SIG_I (signatures).
    hash: Vec<u8>,
    /// (encoding, data) of each CERT payload.
    certs: Vec<(u8, Vec<u8>)>,
    initial_contact: bool,
    /// The IV for MM6: MM5's last ciphertext block.
    next_iv: Vec<u8>,
}

/// Main Mode finished: HASH_I (or SIG_I) verified. Quick Modes and Informational exchanges run here.
pub(super) struct Established {
    /// How this state was reached: HASH_I or SIG_I verified. Only [`ExpectMm5::handle`] builds an
    /// `Established`, and it needs this proof to do so.
    #[expect(dead_code, reason = "held, never read: its presence is the point")]
    proof: HashVerified,
    keys: Box<Keys>,
    pub(super) info: Phase1Info,
    /// The lifetime to announce with RESPONDER-LIFETIME, when we shortened the client's.
    pub(super) announce: Option<Lifetime>,
    /// Quick Modes answered, waiting for message 3, by message ID.
    pub(super) qms: HashMap<u32, Qm>,
    /// Message IDs of the last finished Quick Modes, to ignore their late messages.
    pub(super) done_qms: VecDeque<u32>,
    pub(super) dpd: Dpd,
}

impl Established {
    /// The phase 1 keys (SKEYID_d for KEYMAT, SKEYID_a for HASHes, the cipher).
    pub(super) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The expanded phase 1 encryption key, for a key log line.
    pub(super) fn keylog_key(&self) -> Secret {
        self.keys.enc_key.clone()
    }

    /// The NAT-T dialect negotiated, if any.
    pub(super) fn nat_t(&self) -> Option<NatDialect> {
        self.info.nat_t
    }
}
