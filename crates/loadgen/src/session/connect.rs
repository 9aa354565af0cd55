//! `l2tpd-load connect`: N clients connect (Main Mode, Quick Mode, L2TP, PPP with MS-CHAPv2,
//! IPCP), paced by `--rate` and/or bounded by `--concurrency`. Reports connects per second
//! (clients up over the time from the first start to the last client up), the latency
//! percentiles of the clients that came up, failures by cause, and the server's CPU use over
//! the same window.

use std::sync::atomic::AtomicBool;

use super::{SessionConfig, base_summary, connect_all, own_cpu, sample_server, server_cpu};
use crate::fleet::Fleet;
use crate::report::{SessionSummary, round};
use crate::{Error, clock, procfs};

/// Runs the mode.
pub fn run(cfg: &SessionConfig, stop: &AtomicBool) -> Result<SessionSummary, Error> {
    let mut fleet = Fleet::new(cfg.fleet.clone(), cfg.clients)?;
    let own = procfs::self_cpu_ticks().map(|t| (t, clock::now()));
    let before = sample_server(&cfg.server_pids)?;
    let phase = connect_all(&mut fleet, cfg, stop)?;
    let after = sample_server(&cfg.server_pids)?;
    let mut s = base_summary("connect", cfg, &mut fleet);
    s.up = phase.up;
    s.connects_per_s = phase.rate;
    s.duration_secs = Some(round(phase.secs, 3));
    s.cpu_pct = match (&before, &after) {
        (Some((a, ta)), Some((b, tb))) => Some(server_cpu(a, b, tb.saturating_duration_since(*ta))),
        _ => None,
    };
    if let (Some((a, _)), Some((b, _))) = (&before, &after)
        && phase.up > 0
    {
        let ms = b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 * 1000.0
            / procfs::ticks_per_second() as f64;
        s.server_cpu_ms_per_connect = Some(round(ms / phase.up as f64, 3));
    }
    s.generator_cpu_pct = own.and_then(own_cpu);
    s.interrupted = phase.interrupted;
    s.ok = phase.up == cfg.clients && !phase.interrupted;
    let st = fleet.stats();
    if st.send_errors > 0 {
        s.notes
            .push(format!("{} sends refused by the kernel", st.send_errors));
    }
    Ok(s)
}
