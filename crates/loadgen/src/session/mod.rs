//! The session modes: whole L2TP/IPsec clients (Main Mode, Quick Mode, L2TP, PPP with
//! MS-CHAPv2, IPCP) against a real server over real sockets, many in one process ([`Fleet`]).
//!
//! - [`connect`]: start N clients at a rate and/or with a bound on how many connect at once;
//!   connects per second, latency percentiles, failures by cause, and the server's CPU use
//!   while it accepts them.
//! - [`hold`]: bring N sessions up and keep them (answering LCP Echo, L2TP Hello and DPD) for
//!   T seconds; the server's resident memory per session and its CPU use while idle.
//! - [`throughput`]: M sessions carry test datagrams through the server to a LAN host behind
//!   it, from it, or both ways, for T seconds.
//!
//! Server cost comes from `/proc` ([`crate::procfs`]) for the processes given with
//! `--server-pid`.

pub mod connect;
pub mod hold;
pub mod lan;
pub mod throughput;

use core::time::Duration;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::fleet::{Fleet, FleetConfig};
use crate::pacer::Pacer;
use crate::report::{SessionSummary, round};
use crate::{Error, clock, procfs};

/// What every session mode needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The clients.
    pub fleet: FleetConfig,
    /// How many clients.
    pub clients: usize,
    /// Connects started per second (as fast as allowed if `None`).
    pub rate: Option<u64>,
    /// The most clients connecting at once (no bound if `None`).
    pub concurrency: Option<usize>,
    /// Processes whose memory and CPU are the server's.
    pub server_pids: Vec<u32>,
    /// The server's name in the summary.
    pub server_name: String,
    /// Stop starting clients (and stop holding) once the server's RSS passes this, KiB: a
    /// server that needs megabytes per session must not run the machine out of memory.
    pub server_rss_limit_kib: Option<u64>,
}

/// How often the server's RSS is checked against its limit.
const RSS_CHECK: Duration = Duration::from_millis(500);

/// Whether the server's RSS is over `cfg`'s limit (checked at most every [`RSS_CHECK`]).
fn over_rss_limit(cfg: &SessionConfig, last: &mut Option<Instant>) -> bool {
    let Some(limit) = cfg.server_rss_limit_kib else {
        return false;
    };
    let now = clock::now();
    if last.is_some_and(|t| now.saturating_duration_since(t) < RSS_CHECK) {
        return false;
    }
    *last = Some(now);
    procfs::sample(&cfg.server_pids).is_ok_and(|s| s.rss_kib > limit)
}

/// How a connect phase went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectPhase {
    /// Clients up at the end.
    pub up: usize,
    /// Failed connects.
    pub failed: usize,
    /// From the first start to the last client up (or to the end), seconds.
    pub secs: f64,
    /// Sessions coming up per second, over the middle 80 % of them ([`up_rate`]); `None`
    /// with too few clients up.
    pub rate: Option<f64>,
    /// Stopped by a signal.
    pub interrupted: bool,
    /// Stopped starting clients because the server's RSS passed its limit.
    pub rss_limited: bool,
}

/// Starts every client of `fleet` as `cfg` allows and drives them until each is up or has
/// failed (each fails by itself at the connect timeout).
pub fn connect_all(
    fleet: &mut Fleet,
    cfg: &SessionConfig,
    stop: &AtomicBool,
) -> Result<ConnectPhase, Error> {
    let n = fleet.len();
    let mut pacer = cfg
        .rate
        .map(|r| Pacer::new(r, Pacer::default_burst(r).min(64)));
    let t0 = clock::now();
    let mut next = 0usize;
    let mut interrupted = false;
    let mut rss_limited = false;
    let mut rss_checked = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if !rss_limited && over_rss_limit(cfg, &mut rss_checked) {
            // Let the clients already connecting finish; start no more.
            rss_limited = true;
            next = n;
        }
        let now = clock::now();
        let mut allowed = n - next;
        if let Some(c) = cfg.concurrency {
            allowed = allowed.min(c.saturating_sub(fleet.stats().connecting));
        }
        if allowed > 0
            && let Some(p) = &mut pacer
        {
            allowed = allowed.min(
                usize::try_from(p.grant(now.saturating_duration_since(t0))).unwrap_or(usize::MAX),
            );
        }
        for _ in 0..allowed {
            fleet.start(next, now);
            next += 1;
        }
        let st = fleet.stats();
        if next == n && st.connecting == 0 {
            break;
        }
        let wait = match (&pacer, next < n) {
            (Some(p), true) => p.until_next().max(Duration::from_micros(200)),
            (None, true) if cfg.concurrency.is_none() => Duration::ZERO,
            _ => Duration::from_millis(50),
        };
        fleet.turn(wait, clock::now)?;
    }
    let st = fleet.stats();
    let end = fleet
        .connect_window()
        .map_or_else(clock::now, |(_, last)| last);
    let start = fleet.connect_window().map_or(t0, |(first, _)| first);
    Ok(ConnectPhase {
        up: st.up,
        failed: st.failed,
        secs: end.saturating_duration_since(start).as_secs_f64(),
        rate: up_rate(fleet.up_times()),
        interrupted,
        rss_limited,
    })
}

/// Sessions coming up per second between the 10th and the 90th percentile of the times they
/// came up (`times` in order). The first and last tenth are left out: at the start the rate
/// includes one connect's latency, at the end the stragglers' retransmissions, and neither is
/// the rate the server sustains. `None` with fewer than 10 sessions or no time between.
pub fn up_rate(times: &[Instant]) -> Option<f64> {
    let n = times.len();
    if n < 10 {
        return None;
    }
    let (lo, hi) = (n / 10, n - 1 - n / 10);
    let secs = times
        .get(hi)?
        .saturating_duration_since(*times.get(lo)?)
        .as_secs_f64();
    (secs > 0.0).then(|| round((hi - lo) as f64 / secs, 1))
}

/// Drives `fleet` (answering the server) for `d` or until `stop`.
pub fn drive_for(fleet: &mut Fleet, d: Duration, stop: &AtomicBool) -> Result<bool, Error> {
    drive_for_limited(fleet, d, stop, None)
}

/// [`drive_for`], also stopping (returning false) when the server's RSS passes `cfg`'s limit.
pub fn drive_for_limited(
    fleet: &mut Fleet,
    d: Duration,
    stop: &AtomicBool,
    cfg: Option<&SessionConfig>,
) -> Result<bool, Error> {
    let end = clock::now() + d;
    let mut rss_checked = None;
    loop {
        if stop.load(Ordering::Relaxed) || cfg.is_some_and(|c| over_rss_limit(c, &mut rss_checked))
        {
            return Ok(false);
        }
        let now = clock::now();
        if now >= end {
            return Ok(true);
        }
        fleet.turn((end - now).min(Duration::from_millis(200)), clock::now)?;
    }
}

/// CPU use of the server between two samples, percent of one core.
pub fn server_cpu(a: &procfs::Sample, b: &procfs::Sample, wall: Duration) -> f64 {
    round(
        procfs::cpu_percent(
            b.cpu_ticks.saturating_sub(a.cpu_ticks),
            procfs::ticks_per_second(),
            wall,
        ),
        1,
    )
}

/// Samples the server's processes, if any were given.
pub fn sample_server(pids: &[u32]) -> Result<Option<(procfs::Sample, Instant)>, Error> {
    if pids.is_empty() {
        return Ok(None);
    }
    procfs::sample(pids)
        .map(|s| Some((s, clock::now())))
        .map_err(|e| Error::Socket {
            what: format!("reading /proc for the server processes {pids:?}"),
            source: e,
        })
}

/// The generator's own CPU use since `since` (ticks, time), percent of one core.
pub fn own_cpu(since: (u64, Instant)) -> Option<f64> {
    let now = procfs::self_cpu_ticks()?;
    Some(round(
        procfs::cpu_percent(
            now.saturating_sub(since.0),
            procfs::ticks_per_second(),
            clock::now().saturating_duration_since(since.1),
        ),
        1,
    ))
}

/// The summary fields every session mode fills the same way.
pub fn base_summary(mode: &'static str, cfg: &SessionConfig, fleet: &mut Fleet) -> SessionSummary {
    let (ike, esp) = fleet.negotiated();
    let stage_ms = fleet.stage_means().into_iter().collect();
    let failures = fleet.failures().clone();
    let lat = fleet.latencies();
    SessionSummary {
        server: cfg.server_name.clone(),
        mode,
        suite: cfg.fleet.suite.name(),
        esp: cfg.fleet.esp.map(|e| e.name()),
        clients: cfg.clients,
        up: 0,
        connects_per_s: None,
        p50_ms: lat.percentile_ms(50.0),
        p95_ms: lat.percentile_ms(95.0),
        p99_ms: lat.percentile_ms(99.0),
        failures: failures.total(),
        stage_ms,
        failure_causes: failures.counts().clone(),
        failure_examples: failures.examples().clone(),
        offered_rate: cfg.rate,
        ike_negotiated: ike,
        esp_negotiated: esp,
        ..SessionSummary::default()
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;

    #[test]
    fn the_up_rate_is_taken_over_the_middle_of_the_run() {
        let t = clock::now();
        let ms = |v: u64| t + Duration::from_millis(v);
        // 100 sessions, one every 10 ms (100/s), then ten stragglers a second later.
        let mut times: Vec<Instant> = (0..100).map(|i| ms(i * 10)).collect();
        times.extend((0..10).map(|i| ms(2000 + i)));
        // n = 110: from the 11th (100 ms) to the 99th (980 ms): 88 in 0.88 s.
        assert_eq!(up_rate(&times), Some(100.0));
        assert_eq!(up_rate(&times[..9]), None);
        assert_eq!(up_rate(&[t; 20]), None);
    }
}
