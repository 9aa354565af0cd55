//! The one-line JSON summary a run prints on standard output when it ends.
//!
//! Session modes print [`SessionSummary`]: first the fields every mode shares (`server`, `mode`,
//! `suite`, `clients`, `connects_per_s`, `p50_ms`, `p99_ms`, `failures`, `rss_kib_per_session`,
//! `cpu_pct`, `pps`, `mbit_s`, `loss_pct`; `null` where a mode does not measure it), then the
//! details of the mode.

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

/// What a `connect`, `hold` or `throughput` run measured (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionSummary {
    /// The server's name as given (`--server-name`).
    pub server: String,
    /// `"connect"`, `"hold"` or `"throughput"`.
    pub mode: &'static str,
    /// The client suite.
    pub suite: &'static str,
    /// Clients (sessions) asked for.
    pub clients: usize,
    /// Sessions coming up per second: all but the first over the time from the first client
    /// up to the last (so one connect's latency is not counted as a lower rate).
    pub connects_per_s: Option<f64>,
    /// Connect latency (start of Main Mode to IPCP open), median, ms.
    pub p50_ms: Option<f64>,
    /// Connect latency, 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Connects that failed.
    pub failures: u64,
    /// `hold`: the server's resident memory growth per session held, KiB.
    pub rss_kib_per_session: Option<f64>,
    /// The server's CPU use, percent of one core: while accepting (`connect`), while idle
    /// with the sessions up (`hold`), during the timed phase (`throughput`).
    pub cpu_pct: Option<f64>,
    /// `throughput`: test datagrams delivered per second (both directions added).
    pub pps: Option<f64>,
    /// `throughput`: inner IPv4 megabits per second delivered (both directions added).
    pub mbit_s: Option<f64>,
    /// `throughput`: percent of the datagrams sent that were not delivered.
    pub loss_pct: Option<f64>,
    /// The ESP transform asked for (`--esp`), if any.
    pub esp: Option<&'static str>,
    /// Clients up at the end.
    pub up: usize,
    /// Connects started per second (`--rate`), if paced.
    pub offered_rate: Option<u64>,
    /// `connect`: the server's CPU time per session that came up, ms (its capacity on one
    /// core is about 1000 / this, whatever held the measured rate back).
    pub server_cpu_ms_per_connect: Option<f64>,
    /// Connect latency, 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// Mean time per connect stage of the clients that came up, ms.
    pub stage_ms: BTreeMap<&'static str, f64>,
    /// Failures by cause (`stage/cause`).
    pub failure_causes: BTreeMap<String, u64>,
    /// The first detailed reason of each cause.
    pub failure_examples: BTreeMap<String, String>,
    /// Sessions that were up and went down during the run.
    pub dropped: u64,
    /// Why they went down.
    pub drop_causes: BTreeMap<String, u64>,
    /// The Main Mode suite the server chose.
    pub ike_negotiated: Option<String>,
    /// The ESP suite the server chose.
    pub esp_negotiated: Option<String>,
    /// How long the measured phase lasted, seconds.
    pub duration_secs: Option<f64>,
    /// `hold`: the server's RSS before any client, KiB.
    pub rss_kib_before: Option<u64>,
    /// `hold`: the server's RSS with the sessions up, KiB.
    pub rss_kib_after: Option<u64>,
    /// The generator's own CPU use over the run, percent of one core.
    pub generator_cpu_pct: Option<f64>,
    /// `throughput`: the server's CPU time per datagram delivered (both ways), µs, over the
    /// timed phase and the drain (one core's capacity is about 10⁶ / this datagrams per
    /// second, whatever else held the measured rate back).
    pub server_cpu_us_per_packet: Option<f64>,
    /// `throughput`: the direction (`in`: clients to the LAN, `out`, `both`).
    pub direction: Option<&'static str>,
    /// `throughput`: the inner IPv4 packet size, octets.
    pub packet_size: Option<usize>,
    /// `throughput`: datagrams the clients sent (the pre-sealed ring).
    pub sent_in: Option<u64>,
    /// `throughput`: of them, delivered to the LAN host.
    pub delivered_in: Option<u64>,
    /// `throughput`: datagrams the LAN host sent towards the clients.
    pub sent_out: Option<u64>,
    /// `throughput`: ESP datagrams the clients received.
    pub delivered_out: Option<u64>,
    /// `throughput`: delivered datagrams per second, clients to LAN.
    pub pps_in: Option<f64>,
    /// `throughput`: delivered datagrams per second, LAN to clients.
    pub pps_out: Option<f64>,
    /// `throughput`: delivered datagrams whose whole content was checked.
    pub checked: Option<u64>,
    /// `throughput`: delivered datagrams that were not what was sent.
    pub bad: Option<u64>,
    /// `throughput`: the first bad datagram, in words.
    pub first_bad: Option<String>,
    /// `throughput`: ESP datagrams sealed before the timed phase.
    pub ring_packets: Option<u64>,
    /// `throughput`: seconds spent sealing them.
    pub seal_secs: Option<f64>,
    /// `throughput`: the ring ran out before the duration did.
    pub ring_exhausted: Option<bool>,
    /// `throughput` with an adaptive offer: what held it back over the measurement window,
    /// `server` (datagrams were lost), `generator` (nothing lost, but the sender could not
    /// send at its rate) or `none` (still growing at the end); per direction for `both`.
    pub limited_by: Option<String>,
    /// `hold`: datagrams per held session per minute over the hold, by kind, as the clients
    /// counted them: `server_sent.KIND` (what the clients received) and `server_received.KIND`
    /// (what they sent); kinds that did not occur are left out.
    pub per_session_per_min: BTreeMap<String, f64>,
    /// `hold`: datagrams per second the server sent over the hold (all sessions).
    pub server_sent_per_s: Option<f64>,
    /// `hold`: datagrams per second the server received over the hold.
    pub server_received_per_s: Option<f64>,
    /// Stopped by SIGINT or SIGTERM.
    pub interrupted: bool,
    /// Anything else the reader should know.
    pub notes: Vec<String>,
    /// Whether the run met its correctness conditions (every client up and kept up, every
    /// delivered datagram intact, something delivered); never about speed.
    pub ok: bool,
}

impl SessionSummary {
    /// The summary as one JSON line.
    pub fn to_json_line(&self) -> String {
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

    #[test]
    fn session_summary_starts_with_the_shared_fields() {
        let s = SessionSummary {
            server: "l2tpd-rs-w1".to_owned(),
            mode: "hold",
            suite: "xp-modp1024",
            clients: 10,
            rss_kib_per_session: Some(12.5),
            ok: true,
            ..SessionSummary::default()
        };
        let line = s.to_json_line();
        assert!(!line.contains('\n'));
        let keys: Vec<&str> = [
            "server",
            "mode",
            "suite",
            "clients",
            "connects_per_s",
            "p50_ms",
            "p99_ms",
            "failures",
            "rss_kib_per_session",
            "cpu_pct",
            "pps",
            "mbit_s",
            "loss_pct",
        ]
        .to_vec();
        let mut at = 0;
        for k in &keys {
            let pos = line
                .find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing"));
            assert!(pos >= at, "{k} out of order");
            at = pos;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["rss_kib_per_session"], 12.5);
        assert!(v["pps"].is_null());
        assert_eq!(v["ok"], true);
    }
}
