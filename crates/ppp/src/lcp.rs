//! LCP option policy (RFC 1661 §6) for both roles.
//!
//! Authenticator role: we ask for our MRU, the authentication protocol (in configured order,
//! moving on when the peer Naks) and a magic number. From the peer we accept MRU up to our cap
//! (larger is Nak'd down), ACCM, magic number, PFC and ACFC. Everything else is
//! Configure-Rejected: callback (13), MRRU (17), endpoint discriminator (19), BACP link
//! discriminator (23), quality protocol, an authentication protocol for us, and anything unknown
//! (Windows asks `<callback CBCP>` and, outside L2TP, 17/19/23).
//!
//! Magic numbers (RFC 1661 §6.4): a zero magic or our own magic is Nak'd with a fresh random
//! value; repeated collisions mean a looped-back link.

use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use wire::ppp::control::{ConfigOption, Options, RawOption};
use wire::ppp::lcp::LcpOption;

use crate::config::AuthProtocol;
use crate::fsm::{Negotiator, Verdict};

/// The smallest MRU we agree to (pppd's MINMRU).
const MIN_MRU: u16 = 128;
/// The MRU assumed when none is negotiated (RFC 1661 §6.1).
pub(crate) const DEFAULT_MRU: u16 = 1500;

/// Appends an encoded option to `out`.
pub(crate) fn push<'a, O: ConfigOption<'a>>(out: &mut Vec<u8>, option: &O) {
    let start = out.len();
    out.resize(start + option.buffer_len(), 0);
    if let Some(tail) = out.get_mut(start..)
        && option.emit(tail).is_err()
    {
        out.truncate(start);
    }
}

/// Appends a raw option (Type, Length, Data) to `out`.
pub(crate) fn push_raw(out: &mut Vec<u8>, raw: RawOption<'_>) {
    let start = out.len();
    out.resize(start + raw.buffer_len(), 0);
    if let Some(tail) = out.get_mut(start..)
        && raw.emit(tail).is_err()
    {
        out.truncate(start);
    }
}

/// Collects the answer to a Configure-Request: acks, naks and rejects (RFC 1661 §5.2-§5.4:
/// any Reject wins over Naks, which win over an Ack).
#[derive(Debug, Default)]
pub(crate) struct Judgement {
    naks: Vec<u8>,
    rejects: Vec<u8>,
}

impl Judgement {
    pub(crate) fn nak<'a, O: ConfigOption<'a>>(&mut self, option: &O) {
        push(&mut self.naks, option);
    }

    pub(crate) fn reject(&mut self, raw: RawOption<'_>) {
        push_raw(&mut self.rejects, raw);
    }

    /// Builds the verdict. When Naks are no longer allowed (Max-Failure), the Nak'd options
    /// are rejected instead, using the peer's own option bytes.
    pub(crate) fn verdict(self, nak_allowed: bool, nakked_raw: &[u8]) -> Verdict {
        if !self.rejects.is_empty() {
            Verdict::Reject(self.rejects)
        } else if !self.naks.is_empty() {
            if nak_allowed {
                Verdict::Nak(self.naks)
            } else {
                Verdict::Reject(nakked_raw.to_vec())
            }
        } else {
            Verdict::Ack
        }
    }
}

/// Which side of the authentication we are on.
#[derive(Debug)]
pub(crate) enum Role {
    /// We require the peer to authenticate, asking for `order[index]`.
    Authenticator {
        order: Vec<AuthProtocol>,
        index: usize,
    },
    /// We authenticate to the server with one of `accepted`; `extra` holds raw options for our
    /// requests.
    Peer {
        accepted: Vec<AuthProtocol>,
        extra: Vec<Vec<u8>>,
    },
}

/// The LCP negotiator.
#[derive(Debug)]
pub(crate) struct Lcp {
    role: Role,
    rng: ChaCha20Rng,
    mru_cap: u16,
    our_mru: Option<u16>,
    our_magic: Option<u32>,
    /// The peer's MRU: the largest frame we may send.
    pub(crate) peer_mru: u16,
    /// The peer's magic number, once acknowledged.
    pub(crate) peer_magic: Option<u32>,
    /// The authentication protocol agreed (authenticator role: ours, acknowledged; peer role:
    /// the server's, which we acknowledged).
    pub(crate) auth: Option<AuthProtocol>,
    /// Authenticator role: the peer refused every protocol we offer.
    pub(crate) auth_exhausted: bool,
    /// How many Configure-Requests carried our own magic number.
    pub(crate) magic_collisions: u32,
}

impl Lcp {
    pub(crate) fn new(role: Role, mru: u16, mut rng: ChaCha20Rng) -> Self {
        let magic = nonzero(&mut rng);
        let auth_exhausted = matches!(&role, Role::Authenticator { order, .. } if order.is_empty());
        Self {
            role,
            rng,
            mru_cap: mru,
            our_mru: Some(mru),
            our_magic: Some(magic),
            peer_mru: DEFAULT_MRU,
            peer_magic: None,
            auth: None,
            auth_exhausted,
            magic_collisions: 0,
        }
    }

    /// The magic number we put in Echo packets (0 when magic numbers are not negotiated).
    pub(crate) fn our_magic(&self) -> u32 {
        self.our_magic.unwrap_or(0)
    }

    fn wanted_auth(&self) -> Option<AuthProtocol> {
        match &self.role {
            Role::Authenticator { order, index } => order.get(*index).copied(),
            Role::Peer { .. } => None,
        }
    }
}

fn nonzero(rng: &mut ChaCha20Rng) -> u32 {
    loop {
        let v = rng.next_u32();
        if v != 0 {
            return v;
        }
    }
}

impl Negotiator for Lcp {
    fn request(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(mru) = self.our_mru {
            push(&mut out, &LcpOption::Mru(mru));
        }
        if let Some(auth) = self.wanted_auth() {
            push(&mut out, &auth.option());
        }
        if let Some(magic) = self.our_magic {
            push(&mut out, &LcpOption::MagicNumber(magic));
        }
        if let Role::Peer { extra, .. } = &self.role {
            for option in extra {
                out.extend_from_slice(option);
            }
        }
        out
    }

    fn judge(&mut self, options: Options<'_>, nak_allowed: bool) -> Verdict {
        let mut j = Judgement::default();
        let mut nakked_raw = Vec::new();
        let mut mru = DEFAULT_MRU;
        let mut magic = None;
        let mut auth = None;
        for raw in options.iter() {
            let Ok(raw) = raw else { continue };
            let Ok(option) = LcpOption::parse(raw) else {
                j.reject(raw);
                continue;
            };
            match option {
                LcpOption::Mru(v) if (MIN_MRU..=self.mru_cap).contains(&v) => mru = v,
                LcpOption::Mru(_) => {
                    j.nak(&LcpOption::Mru(self.mru_cap));
                    push_raw(&mut nakked_raw, raw);
                }
                LcpOption::Accm(_) | LcpOption::Pfc | LcpOption::Acfc => {}
                LcpOption::MagicNumber(m) if m != 0 && Some(m) != self.our_magic => {
                    magic = Some(m);
                }
                LcpOption::MagicNumber(m) => {
                    if m != 0 {
                        self.magic_collisions = self.magic_collisions.saturating_add(1);
                    }
                    let fresh = nonzero(&mut self.rng);
                    j.nak(&LcpOption::MagicNumber(fresh));
                    push_raw(&mut nakked_raw, raw);
                }
                LcpOption::AuthProtocol { .. } => match &self.role {
                    Role::Authenticator { .. } => j.reject(raw),
                    Role::Peer { accepted, .. } => {
                        match AuthProtocol::from_option(&option).filter(|p| accepted.contains(p)) {
                            Some(p) => auth = Some(p),
                            None => match accepted.first() {
                                Some(p) => {
                                    j.nak(&p.option());
                                    push_raw(&mut nakked_raw, raw);
                                }
                                None => j.reject(raw),
                            },
                        }
                    }
                },
                LcpOption::QualityProtocol { .. }
                | LcpOption::Callback { .. }
                | LcpOption::Mrru(_)
                | LcpOption::EndpointDiscriminator { .. }
                | LcpOption::Other { .. } => j.reject(raw),
            }
        }
        let verdict = j.verdict(nak_allowed, &nakked_raw);
        if verdict == Verdict::Ack {
            self.peer_mru = mru;
            self.peer_magic = magic;
            if matches!(self.role, Role::Peer { .. }) {
                self.auth = auth;
            }
        }
        verdict
    }

    fn acked(&mut self, _options: Options<'_>) {
        if matches!(self.role, Role::Authenticator { .. }) {
            self.auth = self.wanted_auth();
        }
    }

    fn nakked(&mut self, options: Options<'_>) {
        for option in options.typed::<LcpOption<'_>>() {
            match option {
                Ok(LcpOption::Mru(v)) if (MIN_MRU..=DEFAULT_MRU).contains(&v) => {
                    self.our_mru = Some(v)
                }
                Ok(LcpOption::Mru(_)) => self.our_mru = None,
                Ok(LcpOption::MagicNumber(_)) => self.our_magic = Some(nonzero(&mut self.rng)),
                Ok(ref o @ LcpOption::AuthProtocol { .. }) => {
                    let suggested = AuthProtocol::from_option(o);
                    if let Role::Authenticator { order, index } = &mut self.role {
                        // Take the peer's suggestion if we allow it, else our next choice.
                        match suggested.and_then(|s| order.iter().position(|p| *p == s)) {
                            Some(i) if i != *index => *index = i,
                            _ => *index += 1,
                        }
                        if *index >= order.len() {
                            self.auth_exhausted = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn rejected(&mut self, options: Options<'_>) {
        for raw in options.iter().flatten() {
            match raw.kind {
                1 => self.our_mru = None,
                3 => {
                    if matches!(self.role, Role::Authenticator { .. }) {
                        self.auth_exhausted = true;
                    }
                }
                5 => self.our_magic = None,
                kind => {
                    if let Role::Peer { extra, .. } = &mut self.role {
                        extra.retain(|o| o.first() != Some(&kind));
                    }
                }
            }
        }
    }
}
