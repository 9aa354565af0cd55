//! `l2tpd-load hold`: N sessions come up and are kept for T seconds, answering what the
//! server sends (LCP Echo-Request, RFC 1661 §5.8; L2TP Hello, RFC 2661 §6.5; DPD R-U-THERE,
//! RFC 3706 §5). Reports the server's resident memory growth per session (RSS with the
//! sessions up minus RSS before the first client, over the sessions up) and its CPU use while
//! the sessions are idle (from `/proc/PID/stat`, after a short settling time).

use core::time::Duration;
use std::sync::atomic::AtomicBool;

use super::{
    SessionConfig, base_summary, connect_all, drive_for_limited, own_cpu, sample_server, server_cpu,
};
use crate::fleet::Fleet;
use crate::report::{SessionSummary, round};
use crate::{Error, clock, procfs};
use testkit::{Counts, Traffic};

/// Time after the last connect before idle CPU is measured (lets retransmissions and the
/// connect burst's deferred work die down).
pub const SETTLE: Duration = Duration::from_secs(3);

/// Runs the mode: hold for `hold`.
pub fn run(
    cfg: &SessionConfig,
    hold: Duration,
    stop: &AtomicBool,
) -> Result<SessionSummary, Error> {
    let mut fleet = Fleet::new(cfg.fleet.clone(), cfg.clients)?;
    let own = procfs::self_cpu_ticks().map(|t| (t, clock::now()));
    let baseline = sample_server(&cfg.server_pids)?;
    let phase = connect_all(&mut fleet, cfg, stop)?;
    let mut complete =
        !phase.interrupted && drive_for_limited(&mut fleet, SETTLE, stop, Some(cfg))?;
    let idle_start = sample_server(&cfg.server_pids)?;
    let traffic_start = fleet.traffic();
    let t0 = clock::now();
    if complete {
        complete = drive_for_limited(&mut fleet, hold, stop, Some(cfg))?;
    }
    let held = clock::now().saturating_duration_since(t0);
    let idle_end = sample_server(&cfg.server_pids)?;
    let traffic_end = fleet.traffic();
    let mut s = base_summary("hold", cfg, &mut fleet);
    let st = fleet.stats();
    s.up = st.up;
    s.connects_per_s = phase.rate;
    s.duration_secs = Some(round(held.as_secs_f64(), 3));
    s.dropped = st.dropped as u64;
    tally(&mut s, &traffic_start, &traffic_end, held, st.up);
    s.drop_causes = fleet.drops().counts().clone();
    if let (Some((b, _)), Some((e, _))) = (&baseline, &idle_end) {
        s.rss_kib_before = Some(b.rss_kib);
        s.rss_kib_after = Some(e.rss_kib);
        if st.up > 0 {
            let grown = e.rss_kib.saturating_sub(b.rss_kib) as f64;
            s.rss_kib_per_session = Some(round(grown / st.up as f64, 2));
        }
    }
    if let (Some((a, ta)), Some((b, tb))) = (idle_start, idle_end) {
        s.cpu_pct = Some(server_cpu(&a, &b, tb.saturating_duration_since(ta)));
    }
    s.generator_cpu_pct = own.and_then(own_cpu);
    s.interrupted = !complete;
    if phase.rss_limited || (!complete && !stop.load(core::sync::atomic::Ordering::Relaxed)) {
        s.notes.push(format!(
            "stopped early: the server's RSS passed the limit of {} KiB",
            cfg.server_rss_limit_kib.unwrap_or(0)
        ));
    }
    s.ok = complete && !phase.rss_limited && phase.up == cfg.clients && st.dropped == 0;
    if st.send_errors > 0 {
        s.notes
            .push(format!("{} sends refused by the kernel", st.send_errors));
    }
    Ok(s)
}

/// Fills the hold's datagram counts: per session per minute by kind, and per second each way.
/// The clients' "received" is what the server sent.
fn tally(s: &mut SessionSummary, start: &Traffic, end: &Traffic, held: Duration, up: usize) {
    let secs = held.as_secs_f64();
    if secs <= 0.0 {
        return;
    }
    let diff = |a: &Counts, b: &Counts| -> Vec<(&'static str, u64)> {
        a.named()
            .iter()
            .zip(b.named())
            .map(|((name, x), (_, y))| (*name, y.saturating_sub(*x)))
            .collect()
    };
    for (side, a, b) in [
        ("server_sent", &start.received, &end.received),
        ("server_received", &start.sent, &end.sent),
    ] {
        let d = diff(a, b);
        let total: u64 = d.iter().map(|(_, n)| n).sum();
        if up > 0 {
            for (name, n) in d.iter().filter(|(_, n)| *n > 0) {
                let per = *n as f64 / up as f64 / (secs / 60.0);
                s.per_session_per_min
                    .insert(format!("{side}.{name}"), round(per, 3));
            }
        }
        let rate = Some(round(total as f64 / secs, 1));
        if side == "server_sent" {
            s.server_sent_per_s = rate;
        } else {
            s.server_received_per_s = rate;
        }
    }
}
