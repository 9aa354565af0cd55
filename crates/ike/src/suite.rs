//! Algorithm policy and proposal selection.
//!
//! Phase 1 attributes: RFC 2409 Appendix A (Encryption 1, Hash 2, Auth 3, Group 4, Life Type 11,
//! Life Duration 12, Key Length 14). Phase 2 attributes: RFC 2407 §4.5 (Life Type 1, Duration 2,
//! Group 3, Encapsulation Mode 4, Auth Algorithm 5, Key Length 6) and the ESP transform IDs of
//! RFC 2407 §4.4.4. We pick the **first acceptable transform in the initiator's order**, as
//! SoftEther does (docs/clients.md#softether). Attributes of a type we do not know are skipped,
//! in either form (RFC 2408 §3.3: basic, or variable-length with the AF bit clear), because
//! Windows 7 puts a variable-length attribute of the private-use type 16384 (RFC 2409
//! appendix A) in its Main Mode transforms (docs/clients.md#windows-modern-ike). When an
//! attribute is absent the lifetime defaults to 28800 seconds (RFC 2407 §4.5).

use core::fmt;

use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use crypto::integ::IntegAlg;
use wire::isakmp::{Attribute, ProposalRepr, TransformRepr, protocol};

/// Default SA lifetime when the proposal carries none (RFC 2407 §4.5).
pub const DEFAULT_LIFETIME_SECS: u64 = 28800;

/// Phase 1 attribute types (RFC 2409 Appendix A).
pub mod p1attr {
    /// Encryption Algorithm.
    pub const ENCRYPTION: u16 = 1;
    /// Hash Algorithm.
    pub const HASH: u16 = 2;
    /// Authentication Method.
    pub const AUTH: u16 = 3;
    /// Group Description.
    pub const GROUP: u16 = 4;
    /// Life Type.
    pub const LIFE_TYPE: u16 = 11;
    /// Life Duration.
    pub const LIFE_DURATION: u16 = 12;
    /// Key Length.
    pub const KEY_LENGTH: u16 = 14;
}

/// Phase 2 attribute types (RFC 2407 §4.5).
pub mod p2attr {
    /// SA Life Type.
    pub const LIFE_TYPE: u16 = 1;
    /// SA Life Duration.
    pub const LIFE_DURATION: u16 = 2;
    /// Group Description (PFS).
    pub const GROUP: u16 = 3;
    /// Encapsulation Mode.
    pub const ENCAPSULATION: u16 = 4;
    /// Authentication Algorithm.
    pub const AUTH: u16 = 5;
    /// Key Length.
    pub const KEY_LENGTH: u16 = 6;
}

/// Which algorithm families we accept. The default accepts both profiles, so Windows XP
/// (docs/clients.md#windows-xp-ike) and Windows 7-11 (docs/clients.md#windows-modern-ike) work
/// out of the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `modern`: AES-CBC, SHA1/SHA2, MODP2048, ECP256/384.
    pub modern: bool,
    /// `legacy`: 3DES, SHA1/MD5, MODP1024/1536/2048.
    pub legacy: bool,
    /// `legacy.des`: also single DES (needs `legacy`).
    pub des: bool,
    /// `legacy.modp768`: also MODP768 (group 1, needs `legacy`).
    pub modp768: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            modern: true,
            legacy: true,
            des: false,
            modp768: false,
        }
    }
}

/// Whether an algorithm is allowed, and whether it is a legacy one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grade {
    Both,
    Modern,
    Legacy,
    Des,
    Modp768,
}

impl Policy {
    fn allows(&self, g: Grade) -> bool {
        match g {
            Grade::Both => self.modern || self.legacy,
            Grade::Modern => self.modern,
            Grade::Legacy => self.legacy,
            Grade::Des => self.legacy && self.des,
            Grade::Modp768 => self.legacy && self.modp768,
        }
    }
}

fn cipher_grade(c: CipherAlg) -> Grade {
    match c {
        CipherAlg::Des => Grade::Des,
        CipherAlg::TripleDes => Grade::Legacy,
        _ => Grade::Modern,
    }
}

fn hash_grade(h: HashAlg) -> Grade {
    match h {
        HashAlg::Md5 => Grade::Legacy,
        HashAlg::Sha1 => Grade::Both,
        _ => Grade::Modern,
    }
}

fn group_grade(g: DhGroup) -> Grade {
    match g {
        DhGroup::Modp768 => Grade::Modp768,
        DhGroup::Modp1024 | DhGroup::Modp1536 => Grade::Legacy,
        DhGroup::Modp2048 => Grade::Both,
        _ => Grade::Modern,
    }
}

fn integ_grade(i: IntegAlg) -> Grade {
    match i {
        IntegAlg::HmacMd5_96 => Grade::Legacy,
        IntegAlg::HmacSha1_96 => Grade::Both,
        _ => Grade::Modern,
    }
}

fn is_legacy(g: Grade) -> bool {
    matches!(g, Grade::Legacy | Grade::Des | Grade::Modp768)
}

/// The short name of a DH group.
pub fn group_name(g: DhGroup) -> &'static str {
    match g {
        DhGroup::Modp768 => "MODP768",
        DhGroup::Modp1024 => "MODP1024",
        DhGroup::Modp1536 => "MODP1536",
        DhGroup::Modp2048 => "MODP2048",
        DhGroup::Ecp256 => "ECP256",
        DhGroup::Ecp384 => "ECP384",
        _ => "DH?",
    }
}

fn hash_name(h: HashAlg) -> &'static str {
    match h {
        HashAlg::Md5 => "MD5",
        HashAlg::Sha1 => "SHA1",
        HashAlg::Sha256 => "SHA256",
        HashAlg::Sha384 => "SHA384",
        HashAlg::Sha512 => "SHA512",
        _ => "HASH?",
    }
}

fn cipher_short(c: CipherAlg) -> &'static str {
    match c {
        CipherAlg::Des => "DES",
        CipherAlg::TripleDes => "3DES",
        CipherAlg::Aes128 => "AES128",
        CipherAlg::Aes192 => "AES192",
        CipherAlg::Aes256 => "AES256",
        _ => "CIPHER?",
    }
}

fn integ_name(i: IntegAlg) -> &'static str {
    match i {
        IntegAlg::HmacMd5_96 => "MD5",
        IntegAlg::HmacSha1_96 => "SHA1",
        IntegAlg::HmacSha256_128 => "SHA256",
        _ => "INTEG?",
    }
}

/// Lifetimes of an SA (RFC 2407 §4.5 Life Type 1 = seconds, 2 = kilobytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// Seconds.
    pub secs: u64,
    /// Kilobytes, if limited.
    pub kb: Option<u64>,
}

/// Reads Life-Type/Life-Duration pairs. Returns `None` for an unknown life type.
fn lifetime(attrs: &[Attribute<'_>], type_attr: u16, dur_attr: u16) -> Option<Lifetime> {
    let mut out = Lifetime {
        secs: DEFAULT_LIFETIME_SECS,
        kb: None,
    };
    let mut kind = None;
    for a in attrs {
        if a.kind() == type_attr {
            kind = Some(a.value_u64()?);
        } else if a.kind() == dur_attr {
            let v = a.value_u64()?;
            match kind {
                Some(1) => out.secs = v,
                Some(2) => out.kb = Some(v),
                _ => return None,
            }
        }
    }
    Some(out)
}

/// A negotiated phase 1 (ISAKMP SA) suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase1Suite {
    /// Encryption.
    pub cipher: CipherAlg,
    /// Hash (and HMAC PRF).
    pub hash: HashAlg,
    /// Diffie-Hellman group.
    pub group: DhGroup,
    /// Lifetime requested by the initiator.
    pub lifetime: Lifetime,
}

impl fmt::Display for Phase1Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            cipher_short(self.cipher),
            hash_name(self.hash),
            group_name(self.group)
        )
    }
}

/// Why one transform was not taken (for the refusal message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    NotAllowed,
}

fn p1_cipher(id: u64, key_len: Option<u64>) -> Option<CipherAlg> {
    Some(match (id, key_len) {
        (1, _) => CipherAlg::Des,
        (5, _) => CipherAlg::TripleDes,
        (7, Some(128)) => CipherAlg::Aes128,
        (7, Some(192)) => CipherAlg::Aes192,
        (7, Some(256)) => CipherAlg::Aes256,
        _ => return None,
    })
}

fn p1_hash(id: u64) -> Option<HashAlg> {
    Some(match id {
        1 => HashAlg::Md5,
        2 => HashAlg::Sha1,
        4 => HashAlg::Sha256,
        5 => HashAlg::Sha384,
        6 => HashAlg::Sha512,
        _ => return None,
    })
}

fn attr(attrs: &[Attribute<'_>], kind: u16) -> Option<u64> {
    attrs
        .iter()
        .find(|a| a.kind() == kind)
        .and_then(Attribute::value_u64)
}

/// Phase 1 authentication methods we speak (RFC 2409 Appendix A, attribute class 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// 1: pre-shared key (RFC 2409 §5.4).
    PreSharedKey,
    /// 3: RSA signatures (RFC 2409 §5.1), with X.509 certificates.
    RsaSignature,
}

impl AuthMethod {
    /// The attribute value (RFC 2409 Appendix A).
    pub fn id(self) -> u16 {
        match self {
            Self::PreSharedKey => 1,
            Self::RsaSignature => 3,
        }
    }

    /// The method of an attribute value, if we speak it.
    pub fn from_id(v: u64) -> Option<Self> {
        match v {
            1 => Some(Self::PreSharedKey),
            3 => Some(Self::RsaSignature),
            _ => None,
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PreSharedKey => "pre-shared key",
            Self::RsaSignature => "certificate (RSA signature)",
        })
    }
}

/// Decodes a phase 1 transform into a suite and its authentication method (without judging
/// policy).
fn decode_p1(t: &TransformRepr<'_>) -> Option<(Phase1Suite, AuthMethod)> {
    if t.id != 1 {
        return None; // KEY_IKE only (RFC 2409 Appendix A).
    }
    let a = &t.attributes;
    let auth = AuthMethod::from_id(attr(a, p1attr::AUTH)?)?;
    let suite = Phase1Suite {
        cipher: p1_cipher(attr(a, p1attr::ENCRYPTION)?, attr(a, p1attr::KEY_LENGTH))?,
        hash: p1_hash(attr(a, p1attr::HASH)?)?,
        group: DhGroup::from_id(u16::try_from(attr(a, p1attr::GROUP)?).ok()?)?,
        lifetime: lifetime(a, p1attr::LIFE_TYPE, p1attr::LIFE_DURATION)?,
    };
    Some((suite, auth))
}

impl Phase1Suite {
    /// Whether any component is from the legacy profile.
    pub fn is_legacy(&self) -> bool {
        is_legacy(cipher_grade(self.cipher))
            || is_legacy(hash_grade(self.hash))
            || is_legacy(group_grade(self.group))
    }

    fn verdict(&self, p: &Policy) -> Verdict {
        let ok = p.allows(cipher_grade(self.cipher))
            && p.allows(hash_grade(self.hash))
            && p.allows(group_grade(self.group));
        if ok { Verdict::Ok } else { Verdict::NotAllowed }
    }

    /// The transform attributes that offer this suite with PSK (for the initiator); `life` is
    /// `LifeBytes::new(self.lifetime)`.
    pub fn attributes<'a>(&self, life: &'a LifeBytes) -> Vec<Attribute<'a>> {
        self.attributes_with(life, AuthMethod::PreSharedKey)
    }

    /// The transform attributes that offer this suite with `auth`.
    pub fn attributes_with<'a>(&self, life: &'a LifeBytes, auth: AuthMethod) -> Vec<Attribute<'a>> {
        let (enc, klen) = match self.cipher {
            CipherAlg::Des => (1, None),
            CipherAlg::TripleDes => (5, None),
            CipherAlg::Aes128 => (7, Some(128)),
            CipherAlg::Aes192 => (7, Some(192)),
            _ => (7, Some(256)),
        };
        let hash = match self.hash {
            HashAlg::Md5 => 1,
            HashAlg::Sha1 => 2,
            HashAlg::Sha256 => 4,
            HashAlg::Sha384 => 5,
            _ => 6,
        };
        let mut v = vec![Attribute::Basic {
            kind: p1attr::ENCRYPTION,
            value: enc,
        }];
        if let Some(k) = klen {
            v.push(Attribute::Basic {
                kind: p1attr::KEY_LENGTH,
                value: k,
            });
        }
        v.extend([
            Attribute::Basic {
                kind: p1attr::HASH,
                value: hash,
            },
            Attribute::Basic {
                kind: p1attr::GROUP,
                value: self.group.id(),
            },
            Attribute::Basic {
                kind: p1attr::AUTH,
                value: auth.id(),
            },
        ]);
        push_life(&mut v, p1attr::LIFE_TYPE, p1attr::LIFE_DURATION, life);
        v
    }
}

/// Big-endian encodings of a [`Lifetime`] that transform attributes can borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifeBytes {
    secs: [u8; 4],
    kb: Option<[u8; 4]>,
}

impl LifeBytes {
    /// Encodes `l` (values above `u32::MAX` are clamped).
    pub fn new(l: Lifetime) -> Self {
        let enc = |v: u64| u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
        Self {
            secs: enc(l.secs),
            kb: l.kb.map(enc),
        }
    }
}

fn push_life<'a>(v: &mut Vec<Attribute<'a>>, ty: u16, dur: u16, l: &'a LifeBytes) {
    // Life Duration in the variable form, as Windows sends it (docs/clients.md#windows-xp-ike).
    v.push(Attribute::Basic { kind: ty, value: 1 });
    v.push(Attribute::Variable {
        kind: dur,
        value: &l.secs,
    });
    if let Some(kb) = &l.kb {
        v.push(Attribute::Basic { kind: ty, value: 2 });
        v.push(Attribute::Variable {
            kind: dur,
            value: kb,
        });
    }
}

/// The outcome of phase 1 selection.
#[derive(Debug, Clone)]
pub struct Phase1Choice {
    /// Index of the chosen proposal in the SA payload.
    pub proposal: usize,
    /// Index of the chosen transform in that proposal.
    pub transform: usize,
    /// The decoded suite.
    pub suite: Phase1Suite,
    /// The authentication method of the chosen transform.
    pub auth: AuthMethod,
}

/// At most this many offered transforms are named in a refusal; the rest are only counted, so
/// that a message with thousands of proposals never turns into a huge log line.
pub const DESCRIBED_TRANSFORMS: usize = 8;

/// Joins the first [`DESCRIBED_TRANSFORMS`] names and counts the others ("A, B, ... and 3
/// more"). Only the names shown are formatted.
fn describe(mut names: impl Iterator<Item = String>) -> String {
    let shown: Vec<String> = names.by_ref().take(DESCRIBED_TRANSFORMS).collect();
    let rest = names.count();
    let mut out = shown.join(", ");
    if rest > 0 {
        out.push_str(&format!(", ... and {rest} more"));
    }
    out
}

/// Describes the transforms offered, for the refusal message ("3DES-MD5-MODP768, ..."): the
/// first [`DESCRIBED_TRANSFORMS`] by name, then how many more.
pub fn describe_p1_offer(proposals: &[ProposalRepr<'_>]) -> String {
    describe(
        proposals
            .iter()
            .flat_map(|p| p.transforms.iter())
            .map(|t| match decode_p1(t) {
                Some((s, AuthMethod::PreSharedKey)) => s.to_string(),
                Some((s, AuthMethod::RsaSignature)) => format!("{s} with certificates"),
                None => format!("unsupported transform #{}", t.number),
            }),
    )
}

/// Every authentication method we speak.
pub const ALL_AUTH_METHODS: &[AuthMethod] = &[AuthMethod::PreSharedKey, AuthMethod::RsaSignature];

/// Picks the first acceptable phase 1 transform in the initiator's order, with any
/// authentication method we speak.
pub fn choose_phase1(proposals: &[ProposalRepr<'_>], policy: &Policy) -> Option<Phase1Choice> {
    choose_phase1_with(proposals, policy, ALL_AUTH_METHODS)
}

/// Picks the first acceptable phase 1 transform in the initiator's order whose authentication
/// method is in `auth`.
pub fn choose_phase1_with(
    proposals: &[ProposalRepr<'_>],
    policy: &Policy,
    auth: &[AuthMethod],
) -> Option<Phase1Choice> {
    for (pi, p) in proposals.iter().enumerate() {
        if p.protocol != protocol::ISAKMP {
            continue;
        }
        for (ti, t) in p.transforms.iter().enumerate() {
            if let Some((suite, method)) = decode_p1(t)
                && auth.contains(&method)
                && suite.verdict(policy) == Verdict::Ok
            {
                return Some(Phase1Choice {
                    proposal: pi,
                    transform: ti,
                    suite,
                    auth: method,
                });
            }
        }
    }
    None
}

/// The authentication methods of the transforms that `policy` allows, in the initiator's
/// order without repeats: why nothing was chosen when these are all methods not configured.
pub fn offered_auth_methods(proposals: &[ProposalRepr<'_>], policy: &Policy) -> Vec<AuthMethod> {
    let mut out = Vec::new();
    for t in proposals
        .iter()
        .filter(|p| p.protocol == protocol::ISAKMP)
        .flat_map(|p| p.transforms.iter())
    {
        if let Some((suite, m)) = decode_p1(t)
            && suite.verdict(policy) == Verdict::Ok
            && !out.contains(&m)
        {
            out.push(m);
        }
    }
    out
}

/// A hint for the refusal message: which switch would have allowed some offered transform.
pub fn policy_hint(proposals: &[ProposalRepr<'_>], policy: &Policy) -> Option<&'static str> {
    let all = Policy {
        modern: true,
        legacy: true,
        des: true,
        modp768: true,
    };
    let offered: Vec<Phase1Suite> = proposals
        .iter()
        .flat_map(|p| p.transforms.iter())
        .filter_map(decode_p1)
        .map(|(s, _)| s)
        .collect();
    if offered.iter().any(|s| {
        s.verdict(&Policy {
            legacy: true,
            ..*policy
        }) == Verdict::Ok
    }) && !policy.legacy
    {
        return Some("enable the legacy profile");
    }
    if offered.iter().any(|s| {
        s.verdict(&Policy {
            modern: true,
            ..*policy
        }) == Verdict::Ok
    }) && !policy.modern
    {
        return Some("enable the modern profile");
    }
    if offered
        .iter()
        .any(|s| s.cipher == CipherAlg::Des && s.verdict(&all) == Verdict::Ok)
        && !policy.des
    {
        return Some("enable legacy.des");
    }
    if offered.iter().any(|s| s.group == DhGroup::Modp768) && !policy.modp768 {
        return Some("enable legacy.modp768");
    }
    None
}

/// ESP encapsulation modes (RFC 2407 §4.5, RFC 3947 §5.1, draft-02 61443/61444).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncapsulationMode {
    /// Tunnel (1).
    Tunnel,
    /// Transport (2).
    Transport,
    /// UDP-Encapsulated-Tunnel (3 or 61443).
    UdpTunnel,
    /// UDP-Encapsulated-Transport (4 or 61444).
    UdpTransport,
}

impl EncapsulationMode {
    /// Decodes a mode value of either dialect.
    pub fn from_value(v: u64) -> Option<Self> {
        Some(match v {
            1 => Self::Tunnel,
            2 => Self::Transport,
            3 | 61443 => Self::UdpTunnel,
            4 | 61444 => Self::UdpTransport,
            _ => return None,
        })
    }
}

/// A negotiated ESP suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspSuite {
    /// Encryption.
    pub cipher: CipherAlg,
    /// Integrity.
    pub integ: IntegAlg,
    /// PFS group, if the initiator asked for one.
    pub pfs: Option<DhGroup>,
    /// Encapsulation mode.
    pub mode: EncapsulationMode,
    /// Raw encapsulation mode value as sent (3/4 or 61443/61444 tell the dialect).
    pub mode_value: u16,
    /// Initiator's lifetime.
    pub lifetime: Lifetime,
}

impl fmt::Display for EspSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ESP-{}-{}",
            cipher_short(self.cipher),
            integ_name(self.integ)
        )?;
        if let Some(g) = self.pfs {
            write!(f, "-PFS-{}", group_name(g))?;
        }
        Ok(())
    }
}

/// Decodes an ESP transform (without judging policy).
pub fn decode_esp(t: &TransformRepr<'_>) -> Result<EspSuite, EspRefusal> {
    let a = &t.attributes;
    let cipher = match (t.id, attr(a, p2attr::KEY_LENGTH)) {
        (2, _) => CipherAlg::Des,
        (3, _) => CipherAlg::TripleDes,
        (12, None | Some(128)) => CipherAlg::Aes128,
        (12, Some(192)) => CipherAlg::Aes192,
        (12, Some(256)) => CipherAlg::Aes256,
        _ => return Err(EspRefusal::Unsupported),
    };
    let integ = attr(a, p2attr::AUTH)
        .and_then(|v| u16::try_from(v).ok())
        .and_then(IntegAlg::from_ipsec_auth_id)
        .ok_or(EspRefusal::Unsupported)?;
    let pfs = match attr(a, p2attr::GROUP) {
        None => None,
        Some(g) => Some(
            u16::try_from(g)
                .ok()
                .and_then(DhGroup::from_id)
                .ok_or(EspRefusal::Unsupported)?,
        ),
    };
    let mode_value = attr(a, p2attr::ENCAPSULATION).unwrap_or(2);
    let mode = EncapsulationMode::from_value(mode_value).ok_or(EspRefusal::Unsupported)?;
    if matches!(
        mode,
        EncapsulationMode::Tunnel | EncapsulationMode::UdpTunnel
    ) {
        return Err(EspRefusal::Tunnel);
    }
    let lifetime =
        lifetime(a, p2attr::LIFE_TYPE, p2attr::LIFE_DURATION).ok_or(EspRefusal::Unsupported)?;
    Ok(EspSuite {
        cipher,
        integ,
        pfs,
        mode,
        mode_value: u16::try_from(mode_value).unwrap_or(2),
        lifetime,
    })
}

impl EspSuite {
    fn allowed(&self, p: &Policy) -> bool {
        p.allows(cipher_grade(self.cipher))
            && p.allows(integ_grade(self.integ))
            && self.pfs.is_none_or(|g| p.allows(group_grade(g)))
    }

    /// Whether any component is from the legacy profile.
    pub fn is_legacy(&self) -> bool {
        is_legacy(cipher_grade(self.cipher)) || is_legacy(integ_grade(self.integ))
    }

    /// ESP transform ID and attributes offering this suite (for the initiator); `life` is
    /// `LifeBytes::new(self.lifetime)`.
    pub fn transform<'a>(&self, number: u8, life: &'a LifeBytes) -> TransformRepr<'a> {
        let (id, klen) = match self.cipher {
            CipherAlg::Des => (2, None),
            CipherAlg::TripleDes => (3, None),
            CipherAlg::Aes128 => (12, Some(128)),
            CipherAlg::Aes192 => (12, Some(192)),
            _ => (12, Some(256)),
        };
        let auth = match self.integ {
            IntegAlg::HmacMd5_96 => 1,
            IntegAlg::HmacSha1_96 => 2,
            _ => 5,
        };
        let mut v = Vec::new();
        push_life(&mut v, p2attr::LIFE_TYPE, p2attr::LIFE_DURATION, life);
        v.push(Attribute::Basic {
            kind: p2attr::ENCAPSULATION,
            value: self.mode_value,
        });
        v.push(Attribute::Basic {
            kind: p2attr::AUTH,
            value: auth,
        });
        if let Some(k) = klen {
            v.push(Attribute::Basic {
                kind: p2attr::KEY_LENGTH,
                value: k,
            });
        }
        if let Some(g) = self.pfs {
            v.push(Attribute::Basic {
                kind: p2attr::GROUP,
                value: g.id(),
            });
        }
        TransformRepr {
            number,
            id,
            attributes: v,
        }
    }
}

/// Why no ESP transform was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EspRefusal {
    /// Only tunnel modes were offered.
    Tunnel,
    /// Algorithms unknown or not allowed.
    Unsupported,
}

/// The outcome of phase 2 selection.
#[derive(Debug, Clone)]
pub struct EspChoice {
    /// Index of the proposal.
    pub proposal: usize,
    /// Index of the transform.
    pub transform: usize,
    /// The suite.
    pub suite: EspSuite,
}

/// Picks the first acceptable ESP transform in the initiator's order. Proposals that AND an AH
/// proposal to the ESP one (same proposal number) are skipped: we do ESP only, as Windows does
/// (docs/clients.md#windows-xp-quick-mode).
pub fn choose_esp(
    proposals: &[ProposalRepr<'_>],
    policy: &Policy,
) -> Result<EspChoice, EspRefusal> {
    let mut saw_tunnel = false;
    // How many proposals carry each proposal number (RFC 2408 §4.2: equal numbers are AND-ed),
    // counted once so that a long offer costs O(n), not O(n^2).
    let mut per_number = [0u32; 256];
    for p in proposals {
        if let Some(n) = per_number.get_mut(usize::from(p.number)) {
            *n = n.saturating_add(1);
        }
    }
    for (pi, p) in proposals.iter().enumerate() {
        let bundled = per_number
            .get(usize::from(p.number))
            .is_some_and(|n| *n > 1);
        if p.protocol != protocol::ESP || bundled || p.spi.len() != 4 {
            continue;
        }
        for (ti, t) in p.transforms.iter().enumerate() {
            match decode_esp(t) {
                Ok(suite) if suite.allowed(policy) => {
                    return Ok(EspChoice {
                        proposal: pi,
                        transform: ti,
                        suite,
                    });
                }
                Ok(_) | Err(EspRefusal::Unsupported) => {}
                Err(EspRefusal::Tunnel) => saw_tunnel = true,
            }
        }
    }
    Err(if saw_tunnel {
        EspRefusal::Tunnel
    } else {
        EspRefusal::Unsupported
    })
}

/// Describes an ESP offer for the refusal message: the first [`DESCRIBED_TRANSFORMS`]
/// transforms by name, then how many more.
pub fn describe_esp_offer(proposals: &[ProposalRepr<'_>]) -> String {
    describe(
        proposals
            .iter()
            .flat_map(|p| p.transforms.iter())
            .map(|t| match decode_esp(t) {
                Ok(s) => s.to_string(),
                Err(EspRefusal::Tunnel) => format!("tunnel-mode transform #{}", t.number),
                Err(EspRefusal::Unsupported) => {
                    format!("unsupported transform #{} (id {})", t.number, t.id)
                }
            }),
    )
}

/// A lifetime as SA attributes (RFC 2407 §4.5, RFC 2409 Appendix A): Life Type seconds and its
/// Duration, then Life Type kilobytes and its Duration when limited. Durations use the
/// variable form, four octets, as Windows sends them.
pub(crate) fn life_attributes(type_attr: u16, duration_attr: u16, lt: Lifetime) -> Vec<u8> {
    let four = |v: u64| u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
    let secs = four(lt.secs);
    let kb = lt.kb.map(four);
    let mut attrs = vec![
        Attribute::Basic {
            kind: type_attr,
            value: 1,
        },
        Attribute::Variable {
            kind: duration_attr,
            value: &secs,
        },
    ];
    if let Some(kb) = &kb {
        attrs.push(Attribute::Basic {
            kind: type_attr,
            value: 2,
        });
        attrs.push(Attribute::Variable {
            kind: duration_attr,
            value: kb,
        });
    }
    let mut out = vec![0u8; attrs.iter().map(Attribute::buffer_len).sum()];
    let mut at = 0;
    for a in &attrs {
        if let Some(buf) = out.get_mut(at..) {
            // Cannot fail: `out` was sized from the same attributes.
            let _ = a.emit(buf);
        }
        at += a.buffer_len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn b(kind: u16, value: u16) -> Attribute<'static> {
        Attribute::Basic { kind, value }
    }

    fn prop(
        protocol: u8,
        spi: &'static [u8],
        transforms: Vec<Vec<Attribute<'static>>>,
        id: u8,
    ) -> ProposalRepr<'static> {
        ProposalRepr {
            number: 1,
            protocol,
            spi,
            transforms: transforms
                .into_iter()
                .enumerate()
                .map(|(i, attributes)| TransformRepr {
                    number: i as u8 + 1,
                    id,
                    attributes,
                })
                .collect(),
        }
    }

    /// Windows 7's unknown attribute as an Openswan log printed it: "af+type ... 16384" is the
    /// whole type field, 0x4000, whose AF bit is clear, so it is a variable-length attribute
    /// (RFC 2408 §3.3) of the private-use type 16384 (RFC 2409 appendix A). Its length and value
    /// are not known (docs/clients.md#windows-modern-ike); here 4 octets.
    const WIN7_ATTR_16384: [u8; 8] = [0x40, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01];

    /// [`WIN7_ATTR_16384`] parsed from its wire form.
    fn win7_attr_16384() -> Attribute<'static> {
        let (a, rest) = Attribute::parse(&WIN7_ATTR_16384).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            a,
            Attribute::Variable {
                kind: 16384,
                value: &[0, 0, 0, 1]
            }
        );
        a
    }

    /// [AES-256/SHA1/ECP384 + Windows 7's variable-length attribute 16384, long-form life],
    /// [3DES/SHA1/MODP1024, kilobytes life].
    fn offer() -> Vec<ProposalRepr<'static>> {
        vec![prop(
            protocol::ISAKMP,
            &[],
            vec![
                vec![
                    b(1, 7),
                    b(14, 256),
                    b(2, 2),
                    b(4, 20),
                    b(3, 1),
                    win7_attr_16384(),
                    b(11, 1),
                    Attribute::Variable {
                        kind: 12,
                        value: &[0, 0, 0x70, 0x80],
                    },
                ],
                vec![b(1, 5), b(2, 2), b(4, 2), b(3, 1), b(11, 2), b(12, 4096)],
            ],
            1,
        )]
    }

    #[test]
    fn first_acceptable_in_initiator_order_ignoring_unknown_attributes() {
        let p = offer();
        let c = choose_phase1(&p, &Policy::default()).unwrap();
        assert_eq!((c.proposal, c.transform), (0, 0));
        assert_eq!(c.suite.to_string(), "AES256-SHA1-ECP384");
        assert_eq!(
            c.suite.lifetime,
            Lifetime {
                secs: 28800,
                kb: None
            }
        );
        assert!(!c.suite.is_legacy());
        let legacy_only = Policy {
            modern: false,
            ..Policy::default()
        };
        let c = choose_phase1(&p, &legacy_only).unwrap();
        assert_eq!(c.transform, 1);
        assert_eq!(
            c.suite.lifetime,
            Lifetime {
                secs: DEFAULT_LIFETIME_SECS,
                kb: Some(4096)
            }
        );
        assert!(c.suite.is_legacy());
        let none = Policy {
            modern: false,
            legacy: false,
            ..Policy::default()
        };
        assert!(choose_phase1(&p, &none).is_none());
        assert_eq!(policy_hint(&p, &none), Some("enable the legacy profile"));
        assert_eq!(
            describe_p1_offer(&p),
            "AES256-SHA1-ECP384, 3DES-SHA1-MODP1024"
        );
    }

    /// Attributes of unknown types are skipped in both forms and both phases, whatever their
    /// value: empty, longer than 8 octets (no integer), or basic.
    #[test]
    fn unknown_attributes_of_either_form_are_skipped() {
        const LONG: &[u8] = &[0xff; 20];
        let unknown = [
            Attribute::Variable {
                kind: 16384,
                value: &[],
            },
            Attribute::Variable {
                kind: 0x7fff,
                value: LONG,
            },
            b(16385, 7),
        ];
        let mut t = vec![b(1, 5), b(2, 2), b(4, 2), b(3, 1)];
        t.extend(unknown);
        let p = vec![prop(protocol::ISAKMP, &[], vec![t], 1)];
        let c = choose_phase1(&p, &Policy::default()).unwrap();
        assert_eq!(c.suite.to_string(), "3DES-SHA1-MODP1024");
        assert_eq!(c.suite.lifetime.secs, DEFAULT_LIFETIME_SECS);
        assert_eq!(describe_p1_offer(&p), "3DES-SHA1-MODP1024");

        // Quick Mode: private-use phase 2 attribute types start at 32001 (RFC 2407 §4.5).
        const SPI: &[u8] = &[0xaa, 0xbb, 0xcc, 0xdd];
        let mut t = vec![
            Attribute::Variable {
                kind: 32001,
                value: LONG,
            },
            b(1, 1),
            b(2, 3600),
            b(4, 4),
            b(5, 2),
        ];
        t.extend(unknown);
        let p = vec![prop(protocol::ESP, SPI, vec![t], 3)];
        let c = choose_esp(&p, &Policy::default()).unwrap();
        assert_eq!(c.suite.to_string(), "ESP-3DES-SHA1");
        assert_eq!(c.suite.mode, EncapsulationMode::UdpTransport);
        assert_eq!(c.suite.lifetime.secs, 3600);
    }

    #[test]
    fn unknown_life_type_or_unknown_auth_rejects_the_transform() {
        let p = vec![prop(
            protocol::ISAKMP,
            &[],
            vec![vec![b(1, 5), b(2, 2), b(4, 2), b(3, 1), b(11, 3), b(12, 1)]],
            1,
        )];
        assert!(choose_phase1(&p, &Policy::default()).is_none());
        // DSS signatures (2) and RSA encryption (4) are not spoken.
        for auth in [2, 4, 5, 65001] {
            let p = vec![prop(
                protocol::ISAKMP,
                &[],
                vec![vec![b(1, 5), b(2, 2), b(4, 2), b(3, auth)]],
                1,
            )];
            assert!(choose_phase1(&p, &Policy::default()).is_none(), "{auth}");
            assert_eq!(describe_p1_offer(&p), "unsupported transform #1");
            assert!(offered_auth_methods(&p, &Policy::default()).is_empty());
        }
    }

    #[test]
    fn rsa_signature_transforms_are_chosen_only_when_allowed() {
        let sig = vec![b(1, 5), b(2, 2), b(4, 14), b(3, 3)];
        let psk = vec![b(1, 7), b(14, 256), b(2, 2), b(4, 14), b(3, 1)];
        let p = vec![prop(protocol::ISAKMP, &[], vec![sig.clone(), psk], 1)];
        let pol = Policy::default();
        let c = choose_phase1(&p, &pol).unwrap();
        assert_eq!((c.transform, c.auth), (0, AuthMethod::RsaSignature));
        assert_eq!(c.suite.to_string(), "3DES-SHA1-MODP2048");
        let c = choose_phase1_with(&p, &pol, &[AuthMethod::PreSharedKey]).unwrap();
        assert_eq!((c.transform, c.auth), (1, AuthMethod::PreSharedKey));
        let only_sig = vec![prop(protocol::ISAKMP, &[], vec![sig], 1)];
        assert!(choose_phase1_with(&only_sig, &pol, &[AuthMethod::PreSharedKey]).is_none());
        assert_eq!(
            offered_auth_methods(&only_sig, &pol),
            vec![AuthMethod::RsaSignature]
        );
        assert_eq!(
            describe_p1_offer(&only_sig),
            "3DES-SHA1-MODP2048 with certificates"
        );
        assert_eq!(
            offered_auth_methods(&p, &pol),
            vec![AuthMethod::RsaSignature, AuthMethod::PreSharedKey]
        );
    }

    #[test]
    fn des_and_modp768_need_their_switches() {
        let p = vec![prop(
            protocol::ISAKMP,
            &[],
            vec![vec![b(1, 1), b(2, 1), b(4, 1), b(3, 1)]],
            1,
        )];
        assert!(choose_phase1(&p, &Policy::default()).is_none());
        assert_eq!(
            policy_hint(&p, &Policy::default()),
            Some("enable legacy.des")
        );
        let des = Policy {
            des: true,
            ..Policy::default()
        };
        assert_eq!(policy_hint(&p, &des), Some("enable legacy.modp768"));
        let both = Policy {
            des: true,
            modp768: true,
            ..Policy::default()
        };
        assert_eq!(
            choose_phase1(&p, &both).unwrap().suite.to_string(),
            "DES-MD5-MODP768"
        );
    }

    #[test]
    fn esp_selection_modes_and_bundles() {
        const SPI: &[u8] = &[0xaa, 0xbb, 0xcc, 0xdd];
        let esp = |mode: u16| {
            vec![prop(
                protocol::ESP,
                SPI,
                vec![vec![b(1, 1), b(2, 3600), b(4, mode), b(5, 2)]],
                3,
            )]
        };
        let c = choose_esp(&esp(61444), &Policy::default()).unwrap();
        assert_eq!(c.suite.mode, EncapsulationMode::UdpTransport);
        assert_eq!(c.suite.mode_value, 61444);
        assert_eq!(c.suite.lifetime.secs, 3600);
        assert_eq!(c.suite.to_string(), "ESP-3DES-SHA1");
        assert_eq!(
            choose_esp(&esp(1), &Policy::default()).unwrap_err(),
            EspRefusal::Tunnel
        );
        assert_eq!(
            choose_esp(&esp(61443), &Policy::default()).unwrap_err(),
            EspRefusal::Tunnel
        );
        // ESP AND-ed with AH (two proposals numbered 1): skipped, ESP only
        // (docs/clients.md#windows-xp-quick-mode).
        let mut bundle = esp(2);
        bundle.push(prop(protocol::AH, SPI, vec![vec![b(5, 2)]], 3));
        assert_eq!(
            choose_esp(&bundle, &Policy::default()).unwrap_err(),
            EspRefusal::Unsupported
        );
        // The initiator's encoding decodes to the same suite.
        let life = LifeBytes::new(c.suite.lifetime);
        let t = c.suite.transform(1, &life);
        assert_eq!(decode_esp(&t).unwrap(), c.suite);
        assert_eq!(describe_esp_offer(&esp(1)), "tunnel-mode transform #1");
    }

    /// A Quick Mode offer with a thousand proposals is described in a short line, and
    /// selection still finds the one acceptable transform at its end.
    #[test]
    fn long_esp_offer_is_described_briefly_and_still_searched() {
        const SPI: &[u8] = &[0xaa, 0xbb, 0xcc, 0xdd];
        let mut offer: Vec<ProposalRepr<'static>> = (0..1000)
            .map(|i| ProposalRepr {
                number: (i % 250) as u8 + 1,
                ..prop(protocol::ESP, SPI, vec![vec![b(4, 1), b(5, 2)]], 3)
            })
            .collect();
        let text = describe_esp_offer(&offer);
        assert_eq!(
            text,
            format!(
                "{}, ... and 992 more",
                ["tunnel-mode transform #1"; 8].join(", ")
            )
        );
        offer.push(ProposalRepr {
            number: 251,
            ..prop(protocol::ESP, SPI, vec![vec![b(4, 2), b(5, 2)]], 3)
        });
        let c = choose_esp(&offer, &Policy::default()).unwrap();
        assert_eq!(c.proposal, 1000);
    }
}
