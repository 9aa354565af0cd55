//! Rate limits: `rate_limit: { up: "2M", down: "10M" }` in users.yaml and `ppp:`.
//!
//! Rates are bits per second, written as a whole number or with an SI suffix (`k` = 1000,
//! `M` = 1 000 000, `G` = 1 000 000 000; `1.5M` is allowed). `up` is what the client sends,
//! `down` what it receives. A direction left out is not limited.

use std::fmt;
use std::num::NonZeroU64;

use serde::Deserialize;

/// The lowest rate accepted, in bits per second: below it a limit is more likely a missing
/// suffix than a wish (a Windows client's own chatter needs more).
pub const MIN_RATE_BPS: u64 = 8_000;

/// The highest rate accepted, in bits per second (100 Gbit/s): above it a limit is a typo.
pub const MAX_RATE_BPS: u64 = 100_000_000_000;

/// A session's rate limits, in bits per second; `None` is no limit that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// From the client (what it uploads).
    #[serde(default, deserialize_with = "de_rate")]
    pub up: Option<NonZeroU64>,
    /// To the client (what it downloads).
    #[serde(default, deserialize_with = "de_rate")]
    pub down: Option<NonZeroU64>,
}

impl RateLimit {
    /// Whether neither direction is limited.
    pub fn is_unlimited(&self) -> bool {
        self.up.is_none() && self.down.is_none()
    }
}

/// `up/down` with SI suffixes, `-` for a direction without limit: `2M/10M`, `-/512k`.
impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one =
            |r: Option<NonZeroU64>| r.map_or_else(|| "-".to_owned(), |r| format_rate(r.get()));
        write!(f, "{}/{}", one(self.up), one(self.down))
    }
}

/// A rate with the largest SI suffix that keeps it exact to three decimals: `2M`, `1.5M`,
/// `64k`, `999`.
pub fn format_rate(bps: u64) -> String {
    for (unit, suffix) in [(1_000_000_000u64, "G"), (1_000_000, "M"), (1_000, "k")] {
        let wide = u128::from(bps);
        let unit_wide = u128::from(unit);
        if bps >= unit && (wide * 1000 / unit_wide) * unit_wide / 1000 == wide {
            let whole = bps / unit;
            let frac = (bps % unit) * 1000 / unit;
            return if frac == 0 {
                format!("{whole}{suffix}")
            } else {
                let f = format!("{frac:03}");
                format!("{whole}.{}{suffix}", f.trim_end_matches('0'))
            };
        }
    }
    bps.to_string()
}

/// Reads a rate: a whole number of bits per second, or a number with a `k`, `M` or `G`
/// suffix. Zero, junk and values outside [`MIN_RATE_BPS`]..=[`MAX_RATE_BPS`] are refused with
/// a reason.
pub fn parse_rate(text: &str) -> Result<NonZeroU64, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (t.get(..i), 1_000),
        Some((i, 'M')) => (t.get(..i), 1_000_000),
        Some((i, 'G')) => (t.get(..i), 1_000_000_000),
        _ => (Some(t), 1),
    };
    let junk = || {
        format!(
            "rate `{text}` is not a number of bits per second with an optional k, M or G suffix \
             (like 512k or 10M)"
        )
    };
    let number = number.filter(|n| !n.is_empty()).ok_or_else(junk)?;
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (number.contains('.') && frac.is_empty())
        || frac.len() > 9
    {
        return Err(junk());
    }
    let whole: u128 = whole.parse().map_err(|_| junk())?;
    let mut scaled = whole.saturating_mul(unit);
    if !frac.is_empty() {
        let digits: u128 = frac.parse().map_err(|_| junk())?;
        let div = 10u128.pow(u32::try_from(frac.len()).unwrap_or(9));
        scaled = scaled.saturating_add(digits * unit / div);
    }
    if scaled == 0 {
        return Err(format!(
            "rate `{text}` is zero; leave the direction out for no limit"
        ));
    }
    if scaled < u128::from(MIN_RATE_BPS) {
        return Err(format!(
            "rate `{text}` is below {} bits per second (a missing k or M suffix?)",
            format_rate(MIN_RATE_BPS)
        ));
    }
    if scaled > u128::from(MAX_RATE_BPS) {
        return Err(format!(
            "rate `{text}` is above {} bits per second",
            format_rate(MAX_RATE_BPS)
        ));
    }
    u64::try_from(scaled)
        .ok()
        .and_then(NonZeroU64::new)
        .ok_or_else(junk)
}

fn de_rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NonZeroU64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    let text = match Option::<Raw>::deserialize(d)? {
        None => return Ok(None),
        Some(Raw::Number(n)) => n.to_string(),
        Some(Raw::Text(t)) => t,
    };
    parse_rate(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> u64 {
        parse_rate(s).map(NonZeroU64::get).unwrap_or(0)
    }

    #[test]
    fn rates_are_read_with_si_suffixes() {
        assert_eq!(ok("2M"), 2_000_000);
        assert_eq!(ok("10M"), 10_000_000);
        assert_eq!(ok("512k"), 512_000);
        assert_eq!(ok("512K"), 512_000);
        assert_eq!(ok("1.5M"), 1_500_000);
        assert_eq!(ok("1G"), 1_000_000_000);
        assert_eq!(ok("64000"), 64_000);
        assert_eq!(ok(" 8k "), 8_000);
    }

    #[test]
    fn zero_junk_and_absurd_rates_are_refused() {
        for bad in [
            "0", "0M", "0.0k", "", "M", "abc", "1e3", "-1M", "1.M", "2 M", "10Mbit", "2m",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_rate("0").unwrap_err().contains("zero"));
        assert!(parse_rate("100").unwrap_err().contains("below"));
        assert!(parse_rate("101G").unwrap_err().contains("above"));
        assert!(parse_rate("100G").is_ok());
    }

    #[test]
    fn rates_print_back() {
        for (bps, text) in [
            (2_000_000, "2M"),
            (1_500_000, "1.5M"),
            (64_000, "64k"),
            (999, "999"),
            (1_000_000_000, "1G"),
            (1_234_567, "1234.567k"),
        ] {
            assert_eq!(format_rate(bps), text);
        }
        let l = RateLimit {
            up: NonZeroU64::new(2_000_000),
            down: None,
        };
        assert_eq!(l.to_string(), "2M/-");
    }
}
