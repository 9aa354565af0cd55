//! Plain-words rendering of names and times for error messages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::DateTime;
use x509_cert::{name::Name, time::Time};

use crate::Certificate;

/// `CN=alice,O=Example` (RFC 4514 order as `x509-cert` prints it).
pub(crate) fn name(n: &Name) -> String {
    let s = n.to_string();
    if s.is_empty() {
        "(empty name)".to_owned()
    } else {
        s
    }
}

/// The subject of `cert` in words.
pub(crate) fn subject(cert: &Certificate) -> String {
    name(&cert.tbs_certificate.subject)
}

/// `2026-12-03 04:05:06 UTC`.
pub(crate) fn time(t: &Time) -> String {
    date_time(&t.to_date_time())
}

pub(crate) fn date_time(d: &DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds()
    )
}

/// `now` in the same words as certificate times (times before 1970 print as the epoch).
pub(crate) fn system_time(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    match DateTime::from_unix_duration(since) {
        Ok(d) => date_time(&d),
        Err(_) => format!("{} s after 1970", since.as_secs()),
    }
}

/// Seconds since the epoch of a certificate time, for comparisons.
pub(crate) fn secs(t: &Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// Seconds since the epoch of `now` (0 before 1970).
pub(crate) fn now_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A serial number as colon-separated hex, as `openssl x509 -serial` prints it without colons.
pub(crate) fn serial(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}
