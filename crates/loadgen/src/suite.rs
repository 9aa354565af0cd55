//! The client suites the session modes simulate: a `testkit` client profile narrowed to one
//! Main Mode transform, so a run measures exactly one key exchange, and optionally one ESP
//! transform.
//!
//! | suite | profile | Main Mode (RFC 2409 §5, groups RFC 2409 §6, RFC 3526, RFC 5903) | ESP (default) |
//! |---|---|---|---|
//! | `xp-modp1024` | Windows XP SP2 | 3DES-SHA1-MODP1024 | 3DES-SHA1 |
//! | `xp-modp2048` | Windows XP SP2 | 3DES-SHA1-MODP2048 | 3DES-SHA1 |
//! | `win10-ecp384` | Windows 10 | AES256-SHA1-ECP384 | AES256-SHA1, AES128-SHA1, 3DES-SHA1 |
//! | `strongswan-aes` | strongSwan + xl2tpd | AES128-SHA1-MODP2048 | AES128-SHA1 |
//!
//! `--esp` replaces the ESP proposals by one transform; throughput runs use it to measure one
//! cipher. The ESP kilobyte lifetime is left out then, so a long run never crosses it.

use core::fmt;

use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use crypto::integ::IntegAlg;
use ike::{EspSuite, Lifetime, Phase1Suite};
use testkit::Profile;

/// Main Mode lifetime the profiles announce (28800 s, as Windows).
const MM_LIFE_SECS: u64 = 28_800;

/// A simulated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Windows XP, 3DES-SHA1-MODP1024 (DH group 2).
    #[value(name = "xp-modp1024")]
    XpModp1024,
    /// Windows XP, 3DES-SHA1-MODP2048 (DH group 14).
    #[value(name = "xp-modp2048")]
    XpModp2048,
    /// Windows 10, AES256-SHA1-ECP384 (DH group 20).
    #[value(name = "win10-ecp384")]
    Win10Ecp384,
    /// strongSwan-like Linux client, AES128-SHA1-MODP2048.
    #[value(name = "strongswan-aes")]
    StrongswanAes,
}

impl Suite {
    /// The name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::XpModp1024 => "xp-modp1024",
            Self::XpModp2048 => "xp-modp2048",
            Self::Win10Ecp384 => "win10-ecp384",
            Self::StrongswanAes => "strongswan-aes",
        }
    }

    /// The one Main Mode transform the client offers.
    pub fn phase1(self) -> Phase1Suite {
        let (cipher, group) = match self {
            Self::XpModp1024 => (CipherAlg::TripleDes, DhGroup::Modp1024),
            Self::XpModp2048 => (CipherAlg::TripleDes, DhGroup::Modp2048),
            Self::Win10Ecp384 => (CipherAlg::Aes256, DhGroup::Ecp384),
            Self::StrongswanAes => (CipherAlg::Aes128, DhGroup::Modp2048),
        };
        Phase1Suite {
            cipher,
            hash: HashAlg::Sha1,
            group,
            lifetime: Lifetime {
                secs: MM_LIFE_SECS,
                kb: None,
            },
        }
    }

    /// The client profile: the suite's base profile offering only [`Suite::phase1`] and, when
    /// `esp` is given, only that ESP transform (without a kilobyte lifetime).
    pub fn profile(self, esp: Option<Esp>) -> Profile {
        let base = match self {
            Self::XpModp1024 | Self::XpModp2048 => Profile::windows_xp_sp2(),
            Self::Win10Ecp384 => Profile::windows_10(),
            Self::StrongswanAes => Profile::linux_strongswan(),
        };
        let mut p = base.with_ike_proposals(vec![self.phase1()]);
        let esp = esp.or(match self {
            Self::StrongswanAes => Some(Esp::Aes128Sha1),
            _ => None,
        });
        if let Some(esp) = esp
            && let Some(template) = p.esp_proposals.first().cloned()
        {
            let (cipher, integ) = esp.algorithms();
            p.esp_proposals = vec![EspSuite {
                cipher,
                integ,
                lifetime: Lifetime {
                    secs: template.lifetime.secs,
                    kb: None,
                },
                ..template
            }];
        }
        p
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One ESP transform (RFC 4303 with the ciphers of RFC 2451 and RFC 3602 and the integrity
/// algorithms of RFC 2404 and RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Esp {
    /// AES-128-CBC with HMAC-SHA1-96.
    #[value(name = "aes128-sha1")]
    Aes128Sha1,
    /// AES-256-CBC with HMAC-SHA1-96.
    #[value(name = "aes256-sha1")]
    Aes256Sha1,
    /// 3DES-CBC with HMAC-SHA1-96.
    #[value(name = "3des-sha1")]
    TripleDesSha1,
    /// AES-128-CBC with HMAC-SHA2-256-128.
    #[value(name = "aes128-sha256")]
    Aes128Sha256,
}

impl Esp {
    /// The name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128Sha1 => "aes128-sha1",
            Self::Aes256Sha1 => "aes256-sha1",
            Self::TripleDesSha1 => "3des-sha1",
            Self::Aes128Sha256 => "aes128-sha256",
        }
    }

    /// The cipher and the integrity algorithm.
    pub fn algorithms(self) -> (CipherAlg, IntegAlg) {
        match self {
            Self::Aes128Sha1 => (CipherAlg::Aes128, IntegAlg::HmacSha1_96),
            Self::Aes256Sha1 => (CipherAlg::Aes256, IntegAlg::HmacSha1_96),
            Self::TripleDesSha1 => (CipherAlg::TripleDes, IntegAlg::HmacSha1_96),
            Self::Aes128Sha256 => (CipherAlg::Aes128, IntegAlg::HmacSha256_128),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_suite_offers_exactly_its_main_mode_transform() {
        for (suite, group) in [
            (Suite::XpModp1024, DhGroup::Modp1024),
            (Suite::XpModp2048, DhGroup::Modp2048),
            (Suite::Win10Ecp384, DhGroup::Ecp384),
            (Suite::StrongswanAes, DhGroup::Modp2048),
        ] {
            let p = suite.profile(None);
            assert_eq!(p.ike_proposals.len(), 1, "{suite}");
            assert_eq!(p.ike_proposals[0].group, group, "{suite}");
            assert_eq!(p.ike_proposals[0].hash, HashAlg::Sha1);
        }
        assert_eq!(Suite::XpModp1024.profile(None).name, "windows-xp-sp2");
        assert_eq!(Suite::Win10Ecp384.profile(None).name, "windows-10");
        let ss = Suite::StrongswanAes.profile(None);
        assert_eq!(ss.name, "linux-strongswan");
        assert_eq!(ss.esp_proposals.len(), 1);
        assert_eq!(ss.esp_proposals[0].cipher, CipherAlg::Aes128);
    }

    #[test]
    fn esp_override_keeps_one_transform_without_a_kilobyte_lifetime() {
        let xp = Suite::XpModp1024.profile(None);
        assert_eq!(xp.esp_proposals[0].lifetime.kb, Some(250_000));
        let p = Suite::XpModp1024.profile(Some(Esp::Aes128Sha256));
        assert_eq!(p.esp_proposals.len(), 1);
        let e = &p.esp_proposals[0];
        assert_eq!(
            (e.cipher, e.integ),
            (CipherAlg::Aes128, IntegAlg::HmacSha256_128)
        );
        assert_eq!(e.lifetime.kb, None);
        assert_eq!(e.lifetime.secs, xp.esp_proposals[0].lifetime.secs);
        assert_eq!(e.mode, xp.esp_proposals[0].mode);
        let w = Suite::Win10Ecp384.profile(Some(Esp::TripleDesSha1));
        assert_eq!(w.esp_proposals.len(), 1);
        assert_eq!(w.esp_proposals[0].cipher, CipherAlg::TripleDes);
    }
}
