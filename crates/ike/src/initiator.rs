//! A minimal but real IKEv1 initiator: Main Mode with a pre-shared key or RSA signatures
//! (RFC 2409 §5.1; [`Initiator::set_certificate`]), NAT-T in either dialect
//! (float to 4500 when NAT is detected, RFC 3947 §4), Quick Mode for ESP transport with optional
//! PFS (also a second Quick Mode on the same IKE SA, as a rekey), INITIAL-CONTACT, DPD
//! R-U-THERE and R-U-THERE-ACK (RFC 3706), and Delete of ESP SAs and of the IKE SA. It exists
//! so that tests pair it with the [`crate::Responder`] in memory (as quinn-proto's tests pair
//! client and server) and for the load generator; it does not retransmit (the test driver
//! controls loss).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crypto::Secret;
use crypto::dh::{DhGroup, DhPrivate};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::debug;
use wire::isakmp::{
    self, Body, CertEncoding, CertRepr, CertReqRepr, DeleteRepr, ExchangeType, HeaderRepr, IdRepr,
    IdType, NatOaRepr, NotifyRepr, NotifyType, Payload, PayloadType, Payloads, ProposalRepr, Repr,
    SaRepr, SigRepr, TransformRepr, flags, protocol,
};

use crate::crypt::{Keys, frame, hashed_rest, nat_d, split_keymat};
use crate::error::Error;
use crate::event::{
    ChildSa, Encapsulation, Event, FourTuple, PeerAuth, Phase1Info, PskSymptom, RefuseReason,
    Transmit,
};
use crate::suite::{
    self, AuthMethod, EncapsulationMode, EspSuite, LifeBytes, Phase1Suite, p1attr, p2attr,
};
use crate::vendor::{NatDialect, VendorInfo};

/// How the initiator behaves.
#[derive(Debug, Clone)]
pub struct InitiatorConfig {
    /// The pre-shared key.
    pub psk: Secret,
    /// Our (private) address, port 500.
    pub local: SocketAddr,
    /// The responder, port 500.
    pub remote: SocketAddr,
    /// Main Mode transforms, in order of preference.
    pub ike_proposals: Vec<Phase1Suite>,
    /// Quick Mode transforms, in order of preference (the encapsulation mode is filled in).
    pub esp_proposals: Vec<EspSuite>,
    /// Vendor IDs to send in message 1 (their NAT-T VIDs pick the dialects we speak).
    pub vendor_ids: Vec<Vec<u8>>,
    /// Send the INITIAL-CONTACT notify in Main Mode message 5.
    pub initial_contact: bool,
    /// Our L2TP port for IDci (1701 for Windows, 0 = any for iOS).
    pub l2tp_port: u16,
    /// Ask for tunnel mode instead of transport (to exercise the refusal).
    pub tunnel_mode: bool,
    /// PFS group for Quick Mode.
    pub pfs: Option<DhGroup>,
}

/// Certificate authentication for the initiator (RFC 2409 §5.1): proposals with
/// authentication method 3, CERTREQ in message 3, IDii (ID_DER_ASN1_DN of our subject), CERT
/// and SIG_I in message 5, and the responder's CERT and SIG_R checked in message 6.
#[derive(Clone)]
pub struct InitiatorCertificate {
    /// Our certificate first, then intermediates, each in DER.
    pub chain: Vec<Vec<u8>>,
    /// The key SIG_I is made with (normally that of `chain[0]`).
    pub key: Arc<pki::PrivateKey>,
    /// The CAs the responder's chain must lead to; `None`: the chain is not validated (SIG_R
    /// is still verified with the key of the certificate the responder sent).
    pub verifier: Option<Arc<pki::Verifier>>,
    /// The wall-clock time for the responder's certificate validity.
    pub now: SystemTime,
    /// Identities the responder's certificate must match (empty: any).
    pub server_accept: Vec<pki::IdentityPattern>,
    /// IDii to send instead of our certificate's subject DN: (ID type, data).
    pub id: Option<(IdType, Vec<u8>)>,
}

impl core::fmt::Debug for InitiatorCertificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InitiatorCertificate")
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What the responder's Main Mode message 6 carried, with signature authentication.
#[derive(Debug, Clone)]
pub struct ServerAuthSeen {
    /// IDir's type and identification data.
    pub id_type: IdType,
    /// IDir's data.
    pub id_data: Vec<u8>,
    /// The CERT payloads: (encoding, data).
    pub certs: Vec<(CertEncoding, Vec<u8>)>,
    /// SIG_R.
    pub signature: Vec<u8>,
    /// HASH_R as we computed it (what SIG_R signs).
    pub hash_r: Vec<u8>,
}

struct Qm {
    iv: Vec<u8>,
    spi_in: u32,
    ni_b: Vec<u8>,
    dh: Option<DhPrivate>,
}

/// The initiator state machine (one IKE SA).
pub struct Initiator {
    config: InitiatorConfig,
    rng: ChaCha20Rng,
    peer: FourTuple,
    icky: [u8; 8],
    rcky: [u8; 8],
    stage: u8,
    sa_i_b: Vec<u8>,
    suite: Option<Phase1Suite>,
    auth: AuthMethod,
    certificate: Option<InitiatorCertificate>,
    /// The Certificate Authority fields of the responder's CERTREQs in message 4.
    certreqs: Vec<Vec<u8>>,
    server_auth: Option<ServerAuthSeen>,
    nat_t: Option<NatDialect>,
    nat_detected: bool,
    server_behind_nat: bool,
    dh: Option<DhPrivate>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    ni_b: Vec<u8>,
    keys: Option<Keys>,
    qms: HashMap<u32, Qm>,
    dpd_acks: Vec<u32>,
    dpd_requests: u64,
    ike_deleted: bool,
    ike_lifetime: Option<u64>,
    nonce_len: usize,
    force_plain: bool,
    last_error: Option<Error>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl core::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Initiator")
            .field("peer", &self.peer)
            .field("stage", &self.stage)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// The responder's certificate authentication in message 6: its first X.509 CERT, validated
/// against our CAs when we have any, IDir naming it, the accepted identities, then SIG_R over
/// HASH_R with its key.
fn check_server(
    ours: Option<&InitiatorCertificate>,
    seen: &ServerAuthSeen,
) -> Result<PeerAuth, String> {
    let ours = ours.ok_or("signatures chosen without a certificate of ours")?;
    let mut certs = seen
        .certs
        .iter()
        .filter(|(e, _)| *e == CertEncoding::X509Signature)
        .map(|(_, d)| pki::load::certificate_der(d).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err("the server sent no X.509 certificate".into());
    }
    let ee = certs.remove(0);
    let ca = match &ours.verifier {
        Some(v) => {
            let verified = v.verify(&ee, &certs, ours.now).map_err(|e| e.to_string())?;
            pki::subject_text(&verified.anchor)
        }
        None => String::new(),
    };
    pki::Identity::from_payload(seen.id_type.into(), &seen.id_data)
        .and_then(|id| id.check(&ee))
        .map_err(|e| e.to_string())?;
    if !ours.server_accept.is_empty() {
        pki::IdentityPattern::accept(&ours.server_accept, &ee).map_err(|e| e.to_string())?;
    }
    pki::ikev1::verify(&ee, &seen.hash_r, &seen.signature).map_err(|e| e.to_string())?;
    Ok(PeerAuth::Certificate {
        subject: pki::subject_text(&ee),
        ca,
    })
}

fn v4(a: SocketAddr) -> [u8; 4] {
    match a.ip() {
        IpAddr::V4(v) => v.octets(),
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED.octets(),
    }
}

impl Initiator {
    /// A new initiator; call [`Initiator::connect`] to start.
    pub fn new(config: InitiatorConfig, rng_seed: [u8; 32]) -> Self {
        let peer = FourTuple {
            local: config.local,
            remote: config.remote,
        };
        Self {
            config,
            rng: ChaCha20Rng::from_seed(rng_seed),
            peer,
            icky: [0; 8],
            rcky: [0; 8],
            stage: 0,
            sa_i_b: Vec::new(),
            suite: None,
            auth: AuthMethod::PreSharedKey,
            certificate: None,
            certreqs: Vec::new(),
            server_auth: None,
            nat_t: None,
            nat_detected: false,
            server_behind_nat: false,
            dh: None,
            g_xi: Vec::new(),
            g_xr: Vec::new(),
            ni_b: Vec::new(),
            keys: None,
            qms: HashMap::new(),
            dpd_acks: Vec::new(),
            dpd_requests: 0,
            ike_deleted: false,
            ike_lifetime: None,
            nonce_len: 24,
            force_plain: false,
            last_error: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The current 4-tuple (after a float, ports 4500).
    pub fn peer(&self) -> FourTuple {
        self.peer
    }

    /// Whether Main Mode finished.
    pub fn is_established(&self) -> bool {
        self.stage == 3
    }

    /// Whether the responder's NAT-D made us believe we are behind NAT.
    pub fn nat_detected(&self) -> bool {
        self.nat_detected
    }

    /// Whether the responder's NAT-D said the responder is behind NAT (Windows would refuse).
    pub fn server_behind_nat(&self) -> bool {
        self.server_behind_nat
    }

    /// Sequence numbers of the R-U-THERE-ACKs received.
    pub fn dpd_acks(&self) -> &[u32] {
        &self.dpd_acks
    }

    /// How many R-U-THEREs the responder sent us (each was answered with an ACK).
    pub fn dpd_requests(&self) -> u64 {
        self.dpd_requests
    }

    /// Whether the responder deleted this IKE SA (an ISAKMP Delete naming our cookies).
    pub fn ike_sa_deleted(&self) -> bool {
        self.ike_deleted
    }

    /// The phase 1 lifetime in seconds the responder announced with RESPONDER-LIFETIME.
    pub fn responder_ike_lifetime(&self) -> Option<u64> {
        self.ike_lifetime
    }

    /// The cookie pair.
    pub fn cookies(&self) -> ([u8; 8], [u8; 8]) {
        (self.icky, self.rcky)
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Authenticates with a certificate instead of the pre-shared key (call before
    /// [`Initiator::connect`]).
    pub fn set_certificate(&mut self, cert: Option<InitiatorCertificate>) {
        self.certificate = cert;
    }

    /// The Certificate Authority fields of the CERTREQs in the responder's message 4.
    pub fn certificate_requests(&self) -> &[Vec<u8>] {
        &self.certreqs
    }

    /// What the responder's message 6 carried, with signature authentication.
    pub fn server_auth(&self) -> Option<&ServerAuthSeen> {
        self.server_auth.as_ref()
    }

    /// Sends Main Mode message 1.
    pub fn connect(&mut self, _now: Instant) -> Result<(), Error> {
        while self.icky == [0; 8] {
            self.rng.fill_bytes(&mut self.icky);
        }
        let lifes: Vec<LifeBytes> = self
            .config
            .ike_proposals
            .iter()
            .map(|s| LifeBytes::new(s.lifetime))
            .collect();
        let auth = if self.certificate.is_some() {
            AuthMethod::RsaSignature
        } else {
            AuthMethod::PreSharedKey
        };
        let transforms: Vec<TransformRepr<'_>> = self
            .config
            .ike_proposals
            .iter()
            .zip(&lifes)
            .enumerate()
            .map(|(i, (s, l))| TransformRepr {
                number: u8::try_from(i + 1).unwrap_or(u8::MAX),
                id: 1,
                attributes: s.attributes_with(l, auth),
            })
            .collect();
        let sa = SaRepr {
            doi: isakmp::DOI_IPSEC,
            situation: isakmp::SIT_IDENTITY_ONLY,
            proposals: vec![ProposalRepr {
                number: 1,
                protocol: protocol::ISAKMP,
                spi: &[],
                transforms,
            }],
        };
        let sa_p = Payload::Sa(sa);
        self.sa_i_b = sa_p.body_bytes()?;
        let mut out = vec![sa_p];
        for v in &self.config.vendor_ids {
            out.push(Payload::VendorId(v));
        }
        let msg = Repr {
            header: self.header(ExchangeType::IdentityProtection, 0, 0),
            body: Body::Plain(out),
        }
        .to_vec()?;
        self.stage = 1;
        self.send(msg);
        Ok(())
    }

    fn header(&self, exchange: ExchangeType, flags: u8, message_id: u32) -> HeaderRepr {
        HeaderRepr {
            initiator_cookie: self.icky,
            responder_cookie: self.rcky,
            version: isakmp::VERSION_1_0,
            exchange,
            flags,
            message_id,
        }
    }

    fn send(&mut self, msg: Vec<u8>) {
        let p = self.peer;
        self.transmits.push_back(Transmit {
            local: p.local,
            remote: p.remote,
            payload: frame(p.remote.port() == 4500, msg),
        });
    }

    /// Handles one ISAKMP message (non-ESP marker already stripped).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
    ) {
        if let Err(e) = self.process(now, FourTuple { local, remote }, msg) {
            debug!(error = %e, "initiator dropped a message");
            if let Error::Refused(reason) = &e {
                self.events.push_back(Event::Refused {
                    peer: self.peer,
                    reason: reason.clone(),
                });
            }
            self.last_error = Some(e);
        }
    }

    fn process(&mut self, now: Instant, peer: FourTuple, msg: &[u8]) -> Result<(), Error> {
        if peer != self.peer {
            return Err(Error::PeerMisbehaved("wrong 4-tuple"));
        }
        let repr = Repr::parse(msg)?;
        let h = repr.header;
        if h.initiator_cookie != self.icky {
            return Err(Error::PeerMisbehaved("not our cookie"));
        }
        match (h.exchange, self.stage, &repr.body) {
            (ExchangeType::IdentityProtection, 1, Body::Plain(ps)) => self.on_mm2(h, ps),
            (ExchangeType::IdentityProtection, 2, Body::Plain(ps)) => self.on_mm4(now, ps),
            (ExchangeType::IdentityProtection, 4, Body::Encrypted { first, data }) => {
                self.on_mm6(*first, data)
            }
            (ExchangeType::QuickMode, 3, Body::Encrypted { first, data }) => {
                self.on_qm2(h, *first, data)
            }
            (ExchangeType::Informational, 3, Body::Encrypted { first, data }) => {
                self.on_info(h, *first, data)
            }
            _ => Err(Error::PeerMisbehaved("unexpected message")),
        }
    }

    fn on_mm2(&mut self, h: HeaderRepr, ps: &[Payload<'_>]) -> Result<(), Error> {
        let Some(Payload::Sa(sa)) = ps.first() else {
            return Err(Error::PeerMisbehaved("MM2 without SA"));
        };
        let t = sa
            .proposals
            .first()
            .and_then(|p| p.transforms.first())
            .ok_or(Error::PeerMisbehaved("MM2 SA empty"))?;
        let chosen = suite::choose_phase1(
            &[ProposalRepr {
                number: 1,
                protocol: protocol::ISAKMP,
                spi: &[],
                transforms: vec![t.clone()],
            }],
            &suite::Policy {
                modern: true,
                legacy: true,
                des: true,
                modp768: true,
            },
        )
        .ok_or(Error::PeerMisbehaved("MM2 transform not understood"))?;
        let mut mine = VendorInfo::default();
        for v in &self.config.vendor_ids {
            mine.observe(v);
        }
        let mut theirs = VendorInfo::default();
        for p in ps {
            if let Payload::VendorId(v) = p {
                theirs.observe(v);
            }
        }
        self.nat_t = match (mine.nat_t, theirs.nat_t) {
            (Some(_), Some(t)) => Some(t),
            _ => None,
        };
        self.rcky = h.responder_cookie;
        self.suite = Some(chosen.suite);
        self.auth = chosen.auth;
        let (dh, g_xi) = chosen.suite.group.generate(&mut self.rng);
        let mut ni = vec![0u8; self.nonce_len];
        self.rng.fill_bytes(&mut ni);
        let mut out = vec![Payload::KeyExchange(&g_xi), Payload::Nonce(&ni)];
        let natd: Vec<Vec<u8>> = if let Some(d) = self.nat_t {
            let _ = d;
            vec![
                nat_d(chosen.suite.hash, &self.icky, &self.rcky, self.peer.remote),
                nat_d(chosen.suite.hash, &self.icky, &self.rcky, self.peer.local),
            ]
        } else {
            Vec::new()
        };
        let draft = self.nat_t.is_some_and(NatDialect::is_draft);
        for d in &natd {
            out.push(Payload::NatD { draft, hash: d });
        }
        // As Windows does: ask for the responder's certificate, naming the CAs we trust.
        let authorities: Vec<Vec<u8>> = match &self.certificate {
            Some(c) if chosen.auth == AuthMethod::RsaSignature => match &c.verifier {
                Some(v) => v.cas().filter_map(|ca| pki::subject_der(ca).ok()).collect(),
                None => vec![Vec::new()],
            },
            _ => Vec::new(),
        };
        for a in &authorities {
            out.push(Payload::CertificateRequest(CertReqRepr {
                cert_type: CertEncoding::X509Signature,
                authority: a,
            }));
        }
        let msg = Repr {
            header: self.header(ExchangeType::IdentityProtection, 0, 0),
            body: Body::Plain(out),
        }
        .to_vec()?;
        self.g_xi = g_xi.clone();
        self.ni_b = ni.clone();
        self.dh = Some(dh);
        self.stage = 2;
        self.send(msg);
        Ok(())
    }

    fn on_mm4(&mut self, _now: Instant, ps: &[Payload<'_>]) -> Result<(), Error> {
        let suite = self.suite.ok_or(Error::PeerMisbehaved("no suite"))?;
        let mut ke = None;
        let mut nr = None;
        let mut natd = Vec::new();
        for p in ps {
            match p {
                Payload::KeyExchange(k) => ke = Some(*k),
                Payload::Nonce(n) => nr = Some(*n),
                Payload::NatD { hash, .. } => natd.push(*hash),
                Payload::CertificateRequest(r) => self.certreqs.push(r.authority.to_vec()),
                _ => {}
            }
        }
        let (Some(ke), Some(nr)) = (ke, nr) else {
            return Err(Error::PeerMisbehaved("MM4 without KE or Nonce"));
        };
        let dh = self.dh.take().ok_or(Error::PeerMisbehaved("no DH"))?;
        let g_xy = dh
            .compute_shared(ke)
            .map_err(|_| Error::Refused(RefuseReason::BadKeyExchange))?;
        let keys = Keys::derive(
            suite,
            self.auth,
            self.config.psk.as_bytes(),
            &self.ni_b,
            nr,
            g_xy.as_bytes(),
            &self.g_xi,
            ke,
            &self.icky,
            &self.rcky,
        )?;
        self.g_xr = ke.to_vec();
        if self.nat_t.is_some() && natd.len() >= 2 {
            let me = nat_d(suite.hash, &self.icky, &self.rcky, self.peer.local);
            let them = nat_d(suite.hash, &self.icky, &self.rcky, self.peer.remote);
            self.nat_detected = natd.first().is_none_or(|d| !crypto::ct_eq(d, &me));
            self.server_behind_nat = !natd.iter().skip(1).any(|d| crypto::ct_eq(d, &them));
            if self.nat_detected || self.server_behind_nat {
                // RFC 3947 §4: float to port 4500 for the rest of the exchange.
                self.peer.local.set_port(4500);
                self.peer.remote.set_port(4500);
            }
        }
        let signing = self
            .certificate
            .clone()
            .filter(|_| self.auth == AuthMethod::RsaSignature);
        let addr = v4(self.config.local);
        let (id_type, id_data) = match &signing {
            Some(c) => match &c.id {
                Some((t, d)) => (*t, d.clone()),
                None => {
                    let der = c
                        .chain
                        .first()
                        .ok_or(Error::Unsupported("no certificate in our chain"))?;
                    let cert = pki::load::certificate_der(der)
                        .map_err(|_| Error::Unsupported("our certificate does not decode"))?;
                    let dn = pki::subject_der(&cert)
                        .map_err(|_| Error::Unsupported("our name does not encode"))?;
                    (IdType::DerAsn1Dn, dn)
                }
            },
            None => (IdType::Ipv4Addr, addr.to_vec()),
        };
        let id = IdRepr {
            id_type,
            protocol: 17,
            port: 500,
            data: &id_data,
        };
        let id_b = Payload::Identification(id).body_bytes()?;
        let hash_i = crypto::ikev1::hash_i(
            keys.prf(),
            keys.skeyid.as_bytes(),
            &self.g_xi,
            &self.g_xr,
            &self.icky,
            &self.rcky,
            &self.sa_i_b,
            &id_b,
        );
        let mut cookies = [0u8; 16];
        cookies[..8].copy_from_slice(&self.icky);
        cookies[8..].copy_from_slice(&self.rcky);
        let sig = match &signing {
            Some(c) => Some(
                pki::ikev1::sign(&c.key, &hash_i, &mut self.rng)
                    .map_err(|e| Error::Refused(RefuseReason::OwnSignature(e)))?,
            ),
            None => None,
        };
        let mut out = vec![Payload::Identification(id)];
        match (&signing, &sig) {
            (Some(c), Some(sig)) => {
                for der in &c.chain {
                    out.push(Payload::Certificate(CertRepr {
                        encoding: CertEncoding::X509Signature,
                        data: der,
                    }));
                }
                out.push(Payload::Signature(SigRepr { data: sig }));
            }
            _ => out.push(Payload::Hash(&hash_i)),
        }
        if self.config.initial_contact {
            out.push(Payload::Notification(NotifyRepr {
                doi: isakmp::DOI_IPSEC,
                protocol: protocol::ISAKMP,
                kind: NotifyType::InitialContact,
                spi: &cookies,
                data: &[],
            }));
        }
        let (msg, iv) = keys.encrypt_message(
            self.header(ExchangeType::IdentityProtection, 0, 0),
            &out,
            &keys.iv,
        )?;
        let mut keys = keys;
        keys.iv = iv;
        self.keys = Some(keys);
        self.stage = 4;
        self.send(msg);
        Ok(())
    }

    fn on_mm6(&mut self, first: PayloadType, data: &[u8]) -> Result<(), Error> {
        let signatures = self.auth == AuthMethod::RsaSignature;
        let keys = self.keys.as_mut().ok_or(Error::PeerMisbehaved("no keys"))?;
        let bad = if signatures {
            Error::Refused(RefuseReason::ServerCertificate(
                "message 6 is garbage or incomplete".into(),
            ))
        } else {
            Error::Refused(RefuseReason::PskMismatch(PskSymptom::ResponderHash))
        };
        let (plain, next_iv) = keys.decrypt(&keys.iv, data).map_err(|_| bad.clone())?;
        let mut id_b = None;
        let mut hash = None;
        let mut certs = Vec::new();
        for p in Payloads::new(first, &plain) {
            let p = p.map_err(|_| bad.clone())?;
            match p.kind {
                PayloadType::Identification => id_b = Some(p.body),
                PayloadType::Hash if !signatures => hash = Some(p.body),
                PayloadType::Signature if signatures => hash = Some(p.body),
                PayloadType::Certificate => {
                    let c = CertRepr::parse(p.body).map_err(|_| bad.clone())?;
                    certs.push((c.encoding, c.data.to_vec()));
                }
                _ => {}
            }
        }
        let (Some(id_b), Some(hash)) = (id_b, hash) else {
            return Err(bad);
        };
        let expected = crypto::ikev1::hash_r(
            keys.prf(),
            keys.skeyid.as_bytes(),
            &self.g_xr,
            &self.g_xi,
            &self.rcky,
            &self.icky,
            &self.sa_i_b,
            id_b,
        );
        let auth = if signatures {
            let id = IdRepr::parse(id_b).map_err(|_| bad.clone())?;
            let seen = ServerAuthSeen {
                id_type: id.id_type,
                id_data: id.data.to_vec(),
                certs,
                signature: hash.to_vec(),
                hash_r: expected,
            };
            let auth = check_server(self.certificate.as_ref(), &seen)
                .map_err(|e| Error::Refused(RefuseReason::ServerCertificate(e)))?;
            self.server_auth = Some(seen);
            auth
        } else {
            if !crypto::ct_eq(&expected, hash) {
                return Err(bad);
            }
            PeerAuth::Psk
        };
        keys.iv = next_iv;
        self.stage = 3;
        let suite = keys.suite;
        self.events.push_back(Event::Phase1Established {
            peer: self.peer,
            info: Phase1Info {
                suite,
                vendor: VendorInfo::default(),
                nat_t: self.nat_t,
                nat_detected: self.nat_detected,
                lifetime_secs: suite.lifetime.secs,
                auth,
            },
        });
        Ok(())
    }

    /// Starts a Quick Mode (a new ESP SA pair, also used to rekey); returns its message ID.
    pub fn start_quick_mode(&mut self, _now: Instant) -> Result<u32, Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(Error::PeerMisbehaved("phase 1 not established"))?;
        let mut id = 0u32;
        while id == 0 || self.qms.contains_key(&id) {
            id = self.rng.r#gen();
        }
        let mut spi_in = 0u32;
        while spi_in < 0x100 {
            spi_in = self.rng.r#gen();
        }
        let spi_b = spi_in.to_be_bytes();
        let udp = self
            .nat_t
            .filter(|_| (self.nat_detected || self.server_behind_nat) && !self.force_plain);
        let mode = match (udp, self.config.tunnel_mode) {
            (Some(d), false) => d.udp_transport_mode(),
            (Some(d), true) => d.udp_tunnel_mode(),
            (None, false) => 2,
            (None, true) => 1,
        };
        let suites: Vec<EspSuite> = self
            .config
            .esp_proposals
            .iter()
            .map(|s| EspSuite {
                mode_value: mode,
                pfs: self.config.pfs,
                ..*s
            })
            .collect();
        let lifes: Vec<LifeBytes> = suites.iter().map(|s| LifeBytes::new(s.lifetime)).collect();
        let transforms: Vec<TransformRepr<'_>> = suites
            .iter()
            .zip(&lifes)
            .enumerate()
            .map(|(i, (s, l))| s.transform(u8::try_from(i + 1).unwrap_or(u8::MAX), l))
            .collect();
        let sa = SaRepr {
            doi: isakmp::DOI_IPSEC,
            situation: isakmp::SIT_IDENTITY_ONLY,
            proposals: vec![ProposalRepr {
                number: 1,
                protocol: protocol::ESP,
                spi: &spi_b,
                transforms,
            }],
        };
        let mut ni = vec![0u8; self.nonce_len];
        self.rng.fill_bytes(&mut ni);
        let (dh, ke) = match self.config.pfs {
            Some(g) => {
                let (d, k) = g.generate(&mut self.rng);
                (Some(d), Some(k))
            }
            None => (None, None),
        };
        let me = v4(self.config.local);
        let them = v4(self.config.remote);
        let mut out = vec![Payload::Sa(sa), Payload::Nonce(&ni)];
        if let Some(k) = &ke {
            out.push(Payload::KeyExchange(k));
        }
        out.push(Payload::Identification(IdRepr {
            id_type: IdType::Ipv4Addr,
            protocol: 17,
            port: self.config.l2tp_port,
            data: &me,
        }));
        out.push(Payload::Identification(IdRepr {
            id_type: IdType::Ipv4Addr,
            protocol: 17,
            port: 1701,
            data: &them,
        }));
        if let Some(d) = udp {
            // RFC 3947 §5.2: NAT-OAi (our own address) and NAT-OAr (the responder's); the drafts
            // send only our own.
            out.push(Payload::NatOa {
                draft: d.is_draft(),
                oa: NatOaRepr {
                    id_type: IdType::Ipv4Addr,
                    address: &me,
                },
            });
            if !d.is_draft() {
                out.push(Payload::NatOa {
                    draft: false,
                    oa: NatOaRepr {
                        id_type: IdType::Ipv4Addr,
                        address: &them,
                    },
                });
            }
        }
        let mut rest = vec![0u8; isakmp::payloads_len(&out)];
        isakmp::emit_payloads(&out, &mut rest)?;
        let hash = crypto::ikev1::qm_hash1(keys.prf(), keys.skeyid_a.as_bytes(), id, &rest);
        let mut all = vec![Payload::Hash(&hash)];
        all.extend(out);
        let (msg, iv) = keys.encrypt_message(
            self.header(ExchangeType::QuickMode, flags::ENCRYPTION, id),
            &all,
            &keys.phase2_iv(id),
        )?;
        self.qms.insert(
            id,
            Qm {
                iv,
                spi_in,
                ni_b: ni,
                dh,
            },
        );
        self.send(msg);
        Ok(id)
    }

    fn on_qm2(&mut self, h: HeaderRepr, first: PayloadType, data: &[u8]) -> Result<(), Error> {
        let id = h.message_id;
        let keys = self.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
        let q = self
            .qms
            .remove(&id)
            .ok_or(Error::PeerMisbehaved("unknown Quick Mode"))?;
        let (plain, iv) = keys.decrypt(&q.iv, data)?;
        let (hash, rest) = hashed_rest(first, &plain)?;
        let expected =
            crypto::ikev1::qm_hash2(keys.prf(), keys.skeyid_a.as_bytes(), id, &q.ni_b, rest);
        if !crypto::ct_eq(&expected, hash) {
            return Err(Error::Refused(RefuseReason::QuickModeHash));
        }
        let (ps, _) = isakmp::parse_payloads(first, &plain, true)?;
        let mut sa_r = None;
        let mut nr = None;
        let mut ke = None;
        let mut responder_lifetime = None;
        for p in &ps {
            match p {
                Payload::Sa(s) => sa_r = Some(s),
                Payload::Nonce(n) => nr = Some(*n),
                Payload::KeyExchange(k) => ke = Some(*k),
                Payload::Notification(n) if n.kind == NotifyType::ResponderLifetime => {
                    responder_lifetime = Some(n);
                }
                _ => {}
            }
        }
        let (Some(sa_r), Some(nr)) = (sa_r, nr) else {
            return Err(Error::PeerMisbehaved("QM2 without SA or Nonce"));
        };
        let prop = sa_r
            .proposals
            .first()
            .ok_or(Error::PeerMisbehaved("QM2 SA empty"))?;
        let t = prop
            .transforms
            .first()
            .ok_or(Error::PeerMisbehaved("QM2 SA empty"))?;
        let esp = suite::decode_esp(t).map_err(|_| Error::PeerMisbehaved("QM2 transform"))?;
        let spi_out = u32::from_be_bytes(
            prop.spi
                .try_into()
                .map_err(|_| Error::PeerMisbehaved("SPI size"))?,
        );
        // RFC 2407 §4.6.3.1: the notify names the sender's inbound SPI, our outbound one.
        let lifetime_override = responder_lifetime
            .filter(|n| n.spi == spi_out.to_be_bytes().as_slice())
            .and_then(|n| life_seconds(n.data, p2attr::LIFE_TYPE, p2attr::LIFE_DURATION));
        let g_qm = match (&q.dh, ke) {
            (Some(d), Some(k)) => Some(
                d.compute_shared(k)
                    .map_err(|_| Error::Refused(RefuseReason::BadKeyExchange))?,
            ),
            (None, None) => None,
            _ => return Err(Error::PeerMisbehaved("PFS mismatch")),
        };
        let klen = esp.cipher.key_len() + esp.integ.key_len();
        let km = |spi: u32| {
            crypto::ikev1::keymat(
                keys.prf(),
                keys.skeyid_d.as_bytes(),
                g_qm.as_ref().map(Secret::as_bytes),
                protocol::ESP,
                spi.to_be_bytes(),
                &q.ni_b,
                nr,
                klen,
            )
        };
        let (enc_in, auth_in) = split_keymat(&km(q.spi_in), esp.cipher.key_len());
        let (enc_out, auth_out) = split_keymat(&km(spi_out), esp.cipher.key_len());
        let h3 = crypto::ikev1::qm_hash3(keys.prf(), keys.skeyid_a.as_bytes(), id, &q.ni_b, nr);
        let (msg, _) = keys.encrypt_message(
            self.header(ExchangeType::QuickMode, flags::ENCRYPTION, id),
            &[Payload::Hash(&h3)],
            &iv,
        )?;
        let encapsulation = match (esp.mode, self.nat_t) {
            (EncapsulationMode::UdpTransport, Some(d)) => Encapsulation::UdpTransport(d),
            _ => Encapsulation::Transport,
        };
        let child = ChildSa {
            peer: self.peer,
            spi_in: q.spi_in,
            spi_out,
            cipher: esp.cipher,
            integ: esp.integ,
            enc_key_in: enc_in,
            auth_key_in: auth_in,
            enc_key_out: enc_out,
            auth_key_out: auth_out,
            encapsulation,
            nat_oa_i: None,
            nat_oa_r: None,
            lifetime_secs: lifetime_override.unwrap_or(esp.lifetime.secs),
            lifetime_kb: esp.lifetime.kb,
            client_id: Some(Ipv4Addr::from(v4(self.config.local))),
            client_port: self.config.l2tp_port,
            suite: esp,
        };
        self.send(msg);
        self.events
            .push_back(Event::ChildSaEstablished(Box::new(child)));
        Ok(())
    }

    fn on_info(&mut self, h: HeaderRepr, first: PayloadType, data: &[u8]) -> Result<(), Error> {
        let keys = self.keys.as_ref().ok_or(Error::PeerMisbehaved("no keys"))?;
        let id = h.message_id;
        let (plain, _) = keys.decrypt(&keys.phase2_iv(id), data)?;
        let (hash, rest) = hashed_rest(first, &plain)?;
        let expected =
            crypto::ikev1::informational_hash(keys.prf(), keys.skeyid_a.as_bytes(), id, rest);
        if !crypto::ct_eq(&expected, hash) {
            return Err(Error::PeerMisbehaved("Informational HASH"));
        }
        let (ps, _) = isakmp::parse_payloads(first, &plain, true)?;
        let mut acks: Vec<Vec<u8>> = Vec::new();
        for p in ps {
            match p {
                Payload::Notification(n) if n.kind == NotifyType::RUThere => {
                    self.dpd_requests += 1;
                    acks.push(n.data.to_vec());
                }
                Payload::Notification(n) if n.kind == NotifyType::RUThereAck => {
                    if let Ok(b) = <[u8; 4]>::try_from(n.data) {
                        self.dpd_acks.push(u32::from_be_bytes(b));
                    }
                }
                Payload::Notification(n)
                    if n.kind == NotifyType::ResponderLifetime
                        && n.protocol == protocol::ISAKMP
                        && n.spi == [self.icky, self.rcky].concat().as_slice() =>
                {
                    self.ike_lifetime =
                        life_seconds(n.data, p1attr::LIFE_TYPE, p1attr::LIFE_DURATION);
                }
                Payload::Delete(d) if d.protocol == protocol::ISAKMP => {
                    let mine = [self.icky, self.rcky].concat();
                    if d.spis().any(|spi| spi == mine.as_slice()) {
                        self.ike_deleted = true;
                    }
                }
                Payload::Delete(d) if d.protocol == protocol::ESP => {
                    for spi in d.spis() {
                        if let Ok(b) = <[u8; 4]>::try_from(spi) {
                            let x = u32::from_be_bytes(b);
                            self.events.push_back(Event::SaDeleted {
                                peer: self.peer,
                                spi_in: 0,
                                spi_out: x,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        let mut cookies = [0u8; 16];
        cookies[..8].copy_from_slice(&self.icky);
        cookies[8..].copy_from_slice(&self.rcky);
        for seq in acks {
            // RFC 3706 §5.1: the ACK carries the R-U-THERE's sequence number.
            self.send_informational(&[Payload::Notification(NotifyRepr {
                doi: isakmp::DOI_IPSEC,
                protocol: protocol::ISAKMP,
                kind: NotifyType::RUThereAck,
                spi: &cookies,
                data: &seq,
            })])?;
        }
        Ok(())
    }

    fn send_informational(&mut self, payloads: &[Payload<'_>]) -> Result<(), Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(Error::PeerMisbehaved("phase 1 not established"))?;
        let mut id = 0u32;
        while id == 0 {
            id = self.rng.r#gen();
        }
        let mut rest = vec![0u8; isakmp::payloads_len(payloads)];
        isakmp::emit_payloads(payloads, &mut rest)?;
        let hash =
            crypto::ikev1::informational_hash(keys.prf(), keys.skeyid_a.as_bytes(), id, &rest);
        let mut all = vec![Payload::Hash(&hash)];
        all.extend(payloads.iter().cloned());
        let (msg, _) = keys.encrypt_message(
            self.header(ExchangeType::Informational, flags::ENCRYPTION, id),
            &all,
            &keys.phase2_iv(id),
        )?;
        self.send(msg);
        Ok(())
    }

    /// Changes the length of the nonces we send from now on (default 24 octets; RFC 2409 §5
    /// allows 8 to 256, other lengths exercise the responder's check).
    pub fn set_nonce_len(&mut self, len: usize) {
        self.nonce_len = len;
    }

    /// Makes later Quick Modes ask for plain ESP transport (no UDP encapsulation) even when
    /// NAT was detected (to exercise the responder's refusal).
    pub fn force_plain_transport(&mut self, on: bool) {
        self.force_plain = on;
    }

    /// Changes whether later Quick Modes ask for tunnel mode.
    pub fn set_tunnel_mode(&mut self, on: bool) {
        self.config.tunnel_mode = on;
    }

    /// Sends DPD R-U-THERE with `seq` (RFC 3706 §5).
    pub fn send_dpd(&mut self, _now: Instant, seq: u32) -> Result<(), Error> {
        let mut cookies = [0u8; 16];
        cookies[..8].copy_from_slice(&self.icky);
        cookies[8..].copy_from_slice(&self.rcky);
        let seq_b = seq.to_be_bytes();
        self.send_informational(&[Payload::Notification(NotifyRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ISAKMP,
            kind: NotifyType::RUThere,
            spi: &cookies,
            data: &seq_b,
        })])
    }

    /// Sends a Delete for our inbound ESP SA `spi_in`.
    pub fn send_delete(&mut self, _now: Instant, spi_in: u32) -> Result<(), Error> {
        let b = spi_in.to_be_bytes();
        self.send_informational(&[Payload::Delete(DeleteRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ESP,
            spi_size: 4,
            spis: &b,
        })])
    }

    /// Sends a Delete for this IKE SA (RFC 2408 §3.15: protocol ISAKMP, the cookie pair as
    /// SPI), as Windows does for the old IKE SA after a Main Mode rekey.
    pub fn delete_ike_sa(&mut self, _now: Instant) -> Result<(), Error> {
        let mut cookies = [0u8; 16];
        cookies[..8].copy_from_slice(&self.icky);
        cookies[8..].copy_from_slice(&self.rcky);
        self.send_informational(&[Payload::Delete(DeleteRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ISAKMP,
            spi_size: 16,
            spis: &cookies,
        })])
    }

    /// Sends an INITIAL-CONTACT notify in an Informational exchange.
    pub fn send_initial_contact(&mut self, _now: Instant) -> Result<(), Error> {
        let mut cookies = [0u8; 16];
        cookies[..8].copy_from_slice(&self.icky);
        cookies[8..].copy_from_slice(&self.rcky);
        self.send_informational(&[Payload::Notification(NotifyRepr {
            doi: isakmp::DOI_IPSEC,
            protocol: protocol::ISAKMP,
            kind: NotifyType::InitialContact,
            spi: &cookies,
            data: &[],
        })])
    }
}

/// The seconds lifetime in a RESPONDER-LIFETIME attribute list (RFC 2407 §4.6.3.1).
fn life_seconds(mut data: &[u8], type_attr: u16, duration_attr: u16) -> Option<u64> {
    let mut kind = 0;
    let mut secs = None;
    while let Ok((a, rest)) = isakmp::Attribute::parse(data) {
        if a.kind() == type_attr {
            kind = a.value_u64().unwrap_or(0);
        } else if a.kind() == duration_attr && kind == 1 {
            secs = a.value_u64();
        }
        data = rest;
    }
    secs
}
