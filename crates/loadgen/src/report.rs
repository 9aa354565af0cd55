//! The one-line JSON summary a run prints on standard output when it ends.

use std::collections::BTreeMap;

use serde::Serialize;

/// What a `flood` run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodSummary {
    /// Always `"flood"`.
    pub mode: &'static str,
    /// `"mm1"` or `"garbage"`.
    pub kind: &'static str,
    /// The target address.
    pub target: String,
    /// Whether source addresses were forged (raw socket) or the host's own (UDP sockets).
    pub spoofed: bool,
    /// Distinct sources used: addresses when spoofed, source ports (sockets) otherwise.
    pub sources: usize,
    /// Datagrams sent per destination port.
    pub ports: BTreeMap<u16, u64>,
    /// The rate asked for, datagrams per second.
    pub rate_asked: u64,
    /// Datagrams sent per second of the run (one decimal).
    pub rate_achieved: f64,
    /// Datagrams handed to the kernel.
    pub packets_sent: u64,
    /// UDP payload octets in them.
    pub payload_bytes: u64,
    /// Sends the kernel refused.
    pub errors: u64,
    /// The first refusal, in words.
    pub first_error: Option<String>,
    /// How long the timed phase ran, seconds (three decimals).
    pub duration_secs: f64,
    /// Stopped by SIGINT or SIGTERM before `--duration` ran out.
    pub interrupted: bool,
    /// Anything the caller should know (a fallback from spoofing to UDP sockets).
    pub note: Option<String>,
}

impl FloodSummary {
    /// The summary as one JSON line.
    pub fn to_json_line(&self) -> String {
        // Serialising plain numbers, strings and a map with integer keys cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// `x` rounded to `digits` decimals (for readable JSON).
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_one_line_with_the_asked_fields() {
        let s = FloodSummary {
            mode: "flood",
            kind: "mm1",
            target: "198.51.100.1".to_owned(),
            spoofed: true,
            sources: 1000,
            ports: BTreeMap::from([(500, 10), (4500, 9)]),
            rate_asked: 2000,
            rate_achieved: round(1999.04, 1),
            packets_sent: 19,
            payload_bytes: 7000,
            errors: 0,
            first_error: None,
            duration_secs: 0.01,
            interrupted: false,
            note: None,
        };
        let line = s.to_json_line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "mm1");
        assert_eq!(v["sources"], 1000);
        assert_eq!(v["rate_asked"], 2000);
        assert_eq!(v["rate_achieved"], 1999.0);
        assert_eq!(v["packets_sent"], 19);
        assert_eq!(v["errors"], 0);
        assert_eq!(v["ports"]["4500"], 9);
    }
}
