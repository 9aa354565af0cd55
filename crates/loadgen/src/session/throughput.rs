//! `l2tpd-load throughput`: M sessions carry test datagrams ([`crate::traffic`]) through the
//! server, so its real sockets, ESP, L2TP, PPP and TUN (or whatever the server has instead)
//! are all in the path:
//!
//! - `in`: each client sends IPv4/UDP datagrams from its pool address to the LAN host behind
//!   the server ([`super::lan`]), which counts and checks them.
//! - `out`: the LAN host sends datagrams to each session's address; the clients count the ESP
//!   datagrams that arrive and check a sample.
//! - `both`: the two at once.
//!
//! Steps: connect the M clients; each sends probes to the LAN host, which learns the address
//! it must send to for each session (the pool address, or a NAT's mapping); for `in`, each
//! client seals a ring of ESP datagrams before the timed phase (the generator's crypto is then
//! not in the measurement: during the timed phase it only calls `sendmmsg` on the client's
//! connected socket); every client is switched to counting, so it sends nothing else and its
//! ESP sequence numbers stay where the ring expects them (RFC 4303 §3.4.3: a later number
//! sent first would push the ring out of the server's replay window); the timed phase runs
//! for the duration or until the rings run out; a short drain lets datagrams in flight
//! arrive; last, the kept samples are decrypted and checked by their clients.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::time::Duration;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use testkit::{NAT_T_PORT, Transmit};

use super::lan::{Lan, LanConfig, LanReport, Phase};
use super::{
    SessionConfig, base_summary, connect_all, drive_for, own_cpu, sample_server, server_cpu,
};
use crate::fleet::{Counter, Fleet, State};
use crate::pacer::Pacer;
use crate::report::{SessionSummary, round};
use crate::send::{Batch, send_batch, send_segmented};
use crate::{Error, clock, procfs, traffic};

/// Datagrams per `sendmmsg` call and session.
const SEND_BATCH: usize = 32;
/// Packets sealed per session before the next session's turn while building the rings.
const SEAL_CHUNK: usize = 256;
/// How long datagrams in flight get to arrive after the timed phase.
const DRAIN: Duration = Duration::from_millis(500);
/// How long the LAN host gets to learn every session from its probes.
const LEARN_TIMEOUT: Duration = Duration::from_secs(5);
/// Keep every n-th datagram a client receives in the timed phase (a prime, so the sample does
/// not beat with any periodic pattern).
const SAMPLE_EVERY: u64 = 97;
/// The most samples kept per session.
const MAX_SAMPLES: usize = 32;
/// The first inner UDP source port; session k sends from this + k.
const FIRST_PORT: u16 = 20_000;

/// Which way the test datagrams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    /// Clients to the LAN host.
    In,
    /// The LAN host to the clients.
    Out,
    /// Both at once.
    Both,
}

impl Direction {
    /// The name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
            Self::Both => "both",
        }
    }

    fn sends_in(self) -> bool {
        matches!(self, Self::In | Self::Both)
    }

    fn sends_out(self) -> bool {
        matches!(self, Self::Out | Self::Both)
    }
}

/// What `throughput` needs besides the sessions.
#[derive(Debug, Clone)]
pub struct ThroughputConfig {
    /// Which way.
    pub direction: Direction,
    /// The inner IPv4 packet size, octets.
    pub size: usize,
    /// How long the timed phase lasts.
    pub duration: Duration,
    /// Datagrams per second each way, all sessions together (as fast as possible if `None`).
    pub rate: Option<u64>,
    /// The most octets of pre-sealed ESP datagrams, all sessions together.
    pub ring_bytes: usize,
    /// The most time spent sealing them; never more than 2.5 times `duration` (at least 2 s).
    pub seal_limit: Duration,
    /// The LAN host's network namespace (`ip netns` name), if not ours.
    pub lan_netns: Option<String>,
    /// The LAN host's address and port.
    pub lan: SocketAddrV4,
    /// The LAN host checks the whole payload of every n-th datagram.
    pub check_every: u64,
    /// Clients send their bursts as UDP segmentation offload messages
    /// ([`crate::send::send_segmented`]), and so does the LAN host towards each session
    /// ([`super::lan::LanConfig::segment`]).
    pub gso: bool,
}

/// One session's pre-sealed datagrams.
#[derive(Debug, Default)]
struct Ring {
    data: Vec<u8>,
    spans: Vec<(usize, usize)>,
    next: usize,
}

impl Ring {
    fn push(&mut self, datagram: &[u8]) {
        self.spans.push((self.data.len(), datagram.len()));
        self.data.extend_from_slice(datagram);
    }

    fn remaining(&self) -> usize {
        self.spans.len().saturating_sub(self.next)
    }

    /// The next `n` datagrams (fewer at the end).
    fn peek(&self, n: usize) -> Vec<&[u8]> {
        self.spans
            .iter()
            .skip(self.next)
            .take(n)
            .filter_map(|(at, len)| self.data.get(*at..at + len))
            .collect()
    }
}

/// A session taking part: its index in the fleet and its inner source address.
#[derive(Debug, Clone, Copy)]
struct Member {
    index: usize,
    src: SocketAddrV4,
}

/// Runs the mode.
pub fn run(
    cfg: &SessionConfig,
    tp: &ThroughputConfig,
    stop: &AtomicBool,
) -> Result<SessionSummary, Error> {
    let payload_len = traffic::payload_len(tp.size).ok_or_else(|| {
        Error::Usage(format!(
            "--size must be at least {} octets",
            traffic::MIN_PACKET
        ))
    })?;
    let mut fleet = Fleet::new(cfg.fleet.clone(), cfg.clients)?;
    let own = procfs::self_cpu_ticks().map(|t| (t, clock::now()));
    let phase = connect_all(&mut fleet, cfg, stop)?;
    let mut s = base_summary("throughput", cfg, &mut fleet);
    s.up = phase.up;
    s.connects_per_s = phase.rate;
    s.direction = Some(tp.direction.name());
    s.packet_size = Some(tp.size);
    let members: Vec<Member> = (0..fleet.len())
        .filter(|i| matches!(fleet.state(*i), Some(State::Up { .. })))
        .filter_map(|i| {
            let addr = fleet.client(i)?.assigned_address()?;
            Some(Member {
                index: i,
                src: inner_source(addr, i)?,
            })
        })
        .collect();
    if members.is_empty() || phase.interrupted {
        s.notes
            .push("no session came up: nothing to measure".to_owned());
        s.interrupted = phase.interrupted;
        return Ok(s);
    }
    let m = u32::try_from(members.len()).map_err(|e| Error::Usage(e.to_string()))?;
    let lan = Lan::start(LanConfig {
        netns: tp.lan_netns.clone(),
        bind: tp.lan,
        sessions: m,
        payload_len,
        send: tp.direction.sends_out(),
        rate: tp.rate,
        check_every: tp.check_every,
        segment: tp.gso,
    })?;

    // Probes: the LAN host learns each session's address; this also proves the path.
    let probe_start = clock::now();
    let mut last_probe: Option<Instant> = None;
    while lan.learned() < m && clock::now().saturating_duration_since(probe_start) < LEARN_TIMEOUT {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let now = clock::now();
        if last_probe.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_millis(500))
        {
            last_probe = Some(now);
            let learned = lan.flows();
            for (k, mem) in members.iter().enumerate() {
                if learned.get(k).copied().flatten().is_some() {
                    continue;
                }
                let pkt = traffic::packet(mem.src, tp.lan, tp.size, k as u32, 0);
                if let Some((client, _, _)) = fleet.client_mut(mem.index) {
                    let _ = client.send_ip(now, &pkt);
                }
                fleet.after(mem.index, now);
            }
        }
        fleet.turn(Duration::from_millis(20), clock::now)?;
    }
    let learned = lan.learned();
    if learned < m {
        s.notes.push(format!(
            "only {learned} of {m} sessions reached the LAN host with their probes"
        ));
    }

    // The rings.
    let mut rings: Vec<Ring> = members.iter().map(|_| Ring::default()).collect();
    if tp.direction.sends_in() {
        let t = clock::now();
        seal_rings(&mut fleet, &members, &mut rings, tp, payload_len)?;
        s.seal_secs = Some(round(
            clock::now().saturating_duration_since(t).as_secs_f64(),
            2,
        ));
        s.ring_packets = Some(rings.iter().map(|r| r.spans.len() as u64).sum());
    }

    // Counting, and connected sockets for the ring.
    let now = clock::now();
    for mem in &members {
        fleet.set_counting(
            mem.index,
            Some(Counter {
                sample_every: SAMPLE_EVERY,
                max_samples: MAX_SAMPLES,
                ..Counter::default()
            }),
            now,
        );
        if tp.direction.sends_in()
            && let Some((_, socket, _)) = fleet.client_mut(mem.index)
        {
            let server = SocketAddr::new(cfg.fleet.server.into(), NAT_T_PORT);
            socket.connect(server).map_err(|e| Error::Socket {
                what: format!("connecting a client socket to {server}"),
                source: e,
            })?;
        }
    }

    // The timed phase.
    let before = sample_server(&cfg.server_pids)?;
    lan.set_phase(Phase::Run);
    let t0 = clock::now();
    let timed = timed_phase(&mut fleet, &lan, &members, &mut rings, tp, stop, t0)?;
    lan.set_phase(Phase::Drain);
    let drain_end = clock::now() + DRAIN;
    while clock::now() < drain_end {
        fleet.turn(Duration::from_millis(20), clock::now)?;
    }
    // After the drain: the server's CPU time then covers every datagram delivered.
    let after = sample_server(&cfg.server_pids)?;
    let report = lan.finish()?;

    // Leave counting; check the samples.
    let now = clock::now();
    let (mut delivered_out, mut checked_out, mut bad_out, mut other_out) = (0u64, 0u64, 0u64, 0u64);
    let mut first_bad = report.first_bad.clone();
    for mem in &members {
        let Some(counter) = fleet.set_counting(mem.index, None, now) else {
            continue;
        };
        delivered_out += counter.packets;
        for sample in &counter.samples {
            fleet.replay(mem.index, sample, now);
        }
        if let Some((client, _, _)) = fleet.client_mut(mem.index) {
            while let Some(ip) = client.poll_ip() {
                match traffic::check_ip(&ip, mem.src, payload_len, m) {
                    Ok(_) => checked_out += 1,
                    // Not test traffic (a server may send its clients other packets, such as
                    // SoftEther's SecureNAT broadcasts): not ours to judge.
                    Err(traffic::Bad::Ip) => other_out += 1,
                    Err(e) => {
                        bad_out += 1;
                        first_bad.get_or_insert_with(|| format!("to {}: {e}", mem.src));
                    }
                }
            }
        }
        fleet.after(mem.index, now);
    }
    // Keep answering the server briefly so the sessions end the run healthy.
    drive_for(&mut fleet, Duration::from_millis(200), stop)?;

    if other_out > 0 {
        s.notes.push(format!(
            "{other_out} sampled packets to the clients were not test traffic (ignored)"
        ));
    }
    let w = window(&timed, report.rx_packets, delivered_out);
    fill(
        &mut s,
        tp,
        &timed,
        &w,
        &report,
        (checked_out, bad_out),
        first_bad,
    );
    s.cpu_pct = match (&before, &after) {
        (Some((a, ta)), Some((b, tb))) => Some(server_cpu(a, b, tb.saturating_duration_since(*ta))),
        _ => None,
    };
    let delivered = report.rx_packets + delivered_out;
    if let (Some((a, _)), Some((b, _))) = (&before, &after)
        && delivered > 0
    {
        let us = b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 * 1e6
            / procfs::ticks_per_second() as f64;
        s.server_cpu_us_per_packet = Some(round(us / delivered as f64, 2));
    }
    s.generator_cpu_pct = own.and_then(own_cpu);
    s.interrupted = timed.interrupted;
    let st = fleet.stats();
    s.dropped = st.dropped as u64;
    s.drop_causes = fleet.drops().counts().clone();
    s.ok = s.ok && phase.up == cfg.clients && learned == m && st.dropped == 0 && !timed.interrupted;
    Ok(s)
}

/// What the timed phase did on the generator's side, and the counts at the start and the
/// end of its measurement window (the phase without its warm-up).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Timed {
    /// Ring datagrams sent in all.
    sent_in: u64,
    send_errors: u64,
    exhausted: bool,
    interrupted: bool,
    /// The window's length, seconds.
    window_secs: f64,
    /// Counts when the window opened: ring datagrams sent, delivered to the LAN host, sent by
    /// the LAN host, delivered to the clients.
    at_open: Counts,
    /// Ring datagrams sent and LAN datagrams sent when it closed (deliveries are read after
    /// the drain).
    sent_in_at_close: u64,
    sent_out_at_close: u64,
    /// The offered rates at the end (adaptive runs).
    rate_in: Option<u64>,
    rate_out: Option<u64>,
    /// What held each adaptive direction back over the measurement window.
    limit_in: Option<Limit>,
    limit_out: Option<Limit>,
}

/// Counters read together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    sent_in: u64,
    delivered_in: u64,
    sent_out: u64,
    delivered_out: u64,
}

/// The measurement window's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Window {
    secs: f64,
    sent_in: u64,
    delivered_in: u64,
    sent_out: u64,
    delivered_out: u64,
}

/// The adaptive rate controller's period.
const CONTROL_PERIOD: Duration = Duration::from_millis(100);
/// An adaptive direction offers this much more than was delivered in the last period.
const OVERSHOOT: f64 = 1.10;
/// An adaptive direction whose offer was all delivered grows this much per period.
const GROWTH: f64 = 1.25;
/// The server kept up in a period if it delivered at least this share of what was sent.
const KEPT_UP: f64 = 0.97;
/// A sender that offered less than this share of its rate fell short of it.
const SHORT: f64 = 0.9;
/// While the server keeps up, the rate may run ahead of what the sender actually offered by
/// this factor, no more: a larger rate deepens the pacer (and so lets a sender that was woken
/// late catch up), but a sender that cannot go faster must not push it to meaningless values.
const AHEAD: f64 = 2.0;
/// Where an adaptive direction starts, datagrams per second.
const START_RATE: u64 = 20_000;
/// The lowest rate an adaptive direction goes down to.
const MIN_RATE: u64 = 1_000;

/// What held the offered load of an adaptive direction back, judged over the measured periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Datagrams were lost: the offer tracked what the server delivered.
    Server,
    /// Everything sent arrived, but the sender could not send at its rate: the row measures
    /// the generator, not the server.
    Generator,
    /// Everything arrived and the sender kept its rate: the search was still growing when the
    /// run ended (a longer run would go higher).
    None,
}

impl Limit {
    /// The name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Generator => "generator",
            Self::None => "none",
        }
    }
}

/// The adaptive offered load of one direction, a pure function of the counts of each control
/// period (no clock, no sockets), so it is tested as such.
///
/// The rule: while the server keeps up (it delivered nearly all that was sent), grow the rate,
/// whether or not the sender reached it; once datagrams are lost, offer a little more than
/// what arrived. A sender that is itself the bottleneck therefore never holds the search at its
/// starting rate: the rate runs ahead of it (by at most [`AHEAD`]) and the periods in which it
/// fell short are counted, so the summary says which side was the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RateSearch {
    rate: u64,
    /// Counted periods in which datagrams were lost.
    lossy: u32,
    /// Counted periods in which the server kept up but the sender fell short of its rate.
    short: u32,
    /// Counted periods in which the server kept up and the sender reached its rate.
    full: u32,
}

impl RateSearch {
    fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(MIN_RATE),
            lossy: 0,
            short: 0,
            full: 0,
        }
    }

    /// The rate to offer now.
    fn rate(&self) -> u64 {
        self.rate
    }

    /// Forgets the verdicts so far (the warm-up is not judged); keeps the rate.
    fn reset_verdicts(&mut self) {
        *self = Self::new(self.rate);
    }

    /// Takes one period's counts (datagrams sent and delivered over `dt`) and returns the next
    /// rate. A period without sends leaves the rate and is not judged.
    fn update(&mut self, sent: u64, delivered: u64, dt: Duration) -> u64 {
        let secs = dt.as_secs_f64();
        if sent == 0 || secs <= 0.0 {
            return self.rate;
        }
        let offered = sent as f64 / secs;
        let got = delivered as f64 / secs;
        let rate = self.rate as f64;
        let next = if got >= KEPT_UP * offered {
            if offered >= SHORT * rate {
                self.full += 1;
            } else {
                self.short += 1;
            }
            // Never down while the server keeps up; up by GROWTH, as far as AHEAD allows.
            (rate * GROWTH).min(offered * AHEAD).max(rate)
        } else {
            self.lossy += 1;
            got * OVERSHOOT
        };
        self.rate = (next as u64).max(MIN_RATE);
        self.rate
    }

    /// What held the offer back over the counted periods: the server if at least a quarter of
    /// them lost datagrams, else the generator if it fell short more often than not, else
    /// neither. `None` before any period was judged.
    fn limit(&self) -> Option<Limit> {
        let n = self.lossy + self.short + self.full;
        if n == 0 {
            None
        } else if self.lossy * 4 >= n {
            Some(Limit::Server)
        } else if self.short * 2 > n {
            Some(Limit::Generator)
        } else {
            Some(Limit::None)
        }
    }
}

/// How long the rings are sealed: `seal_limit`, but no more than 2.5 times the timed phase
/// (at least 2 s). The server opens a datagram at about the cost the generator pays to seal
/// it, per core, so a ring sealed for 2.5 T lasts a server with two cores for T; a slow
/// cipher (3DES) then does not spend minutes filling memory the run never sends.
fn seal_time(tp: &ThroughputConfig) -> Duration {
    tp.seal_limit
        .min(tp.duration.mul_f64(2.5).max(Duration::from_secs(2)))
}

/// How much of the timed phase is warm-up, left out of the measurement.
fn warmup(d: Duration) -> Duration {
    (d / 5).max(Duration::from_secs(1)).min(d / 2)
}

fn seal_rings(
    fleet: &mut Fleet,
    members: &[Member],
    rings: &mut [Ring],
    tp: &ThroughputConfig,
    payload_len: usize,
) -> Result<(), Error> {
    let per_session_bytes = tp.ring_bytes / members.len().max(1);
    // With a rate the ring needs no more than the run sends (plus a margin).
    let cap = tp.rate.map(|r| {
        let total = r as f64 * tp.duration.as_secs_f64() * 1.1;
        (total / members.len().max(1) as f64).ceil() as usize + SEND_BATCH
    });
    for mem in members {
        if let Some((client, _, _)) = fleet.client_mut(mem.index) {
            client.set_auto_rekey(false);
        }
    }
    let start = clock::now();
    let mut pkt_buf = Vec::with_capacity(4096);
    loop {
        let mut progressed = false;
        for (k, mem) in members.iter().enumerate() {
            let Some(ring) = rings.get_mut(k) else {
                continue;
            };
            if ring.data.len() >= per_session_bytes || cap.is_some_and(|c| ring.spans.len() >= c) {
                continue;
            }
            let Some((client, _, _)) = fleet.client_mut(mem.index) else {
                continue;
            };
            let now = clock::now();
            for _ in 0..SEAL_CHUNK {
                let seq = ring.spans.len() as u64 + 1;
                let pkt = traffic::packet(mem.src, tp.lan, tp.size, k as u32, seq);
                debug_assert_eq!(pkt.len(), traffic::IP_UDP_LEN + payload_len);
                client
                    .send_ip(now, &pkt)
                    .map_err(|e| Error::Build(format!("sealing: {e}")))?;
                while let Some(t) = client.poll_transmit(&mut pkt_buf) {
                    if matches!(t, Transmit::Udp { .. }) {
                        ring.push(&pkt_buf);
                    }
                }
            }
            progressed = true;
        }
        if !progressed || clock::now().saturating_duration_since(start) >= seal_time(tp) {
            return Ok(());
        }
    }
}

fn timed_phase(
    fleet: &mut Fleet,
    lan: &Lan,
    members: &[Member],
    rings: &mut [Ring],
    tp: &ThroughputConfig,
    stop: &AtomicBool,
    t0: Instant,
) -> Result<Timed, Error> {
    let mut timed = Timed::default();
    let mut batch = Batch::new(SEND_BATCH);
    let sends_in = tp.direction.sends_in();
    let sends_out = tp.direction.sends_out();
    let adaptive = tp.rate.is_none();
    let mut gso = tp.gso;
    let mut search_in = RateSearch::new(START_RATE);
    let mut search_out = RateSearch::new(START_RATE);
    let rate_in = tp.rate.unwrap_or(START_RATE);
    if sends_out {
        lan.set_rate(tp.rate.unwrap_or(START_RATE));
    }
    let mut pacer = Pacer::new(rate_in, pacer_burst(rate_in));
    let to = [None; SEND_BATCH];
    let warm = warmup(tp.duration);
    let mut window_open: Option<Instant> = None;
    let mut last = (t0, Counts::default());
    let mut round_no = 0u64;
    let read = |fleet: &Fleet, sent_in: u64| Counts {
        sent_in,
        delivered_in: lan.received(),
        sent_out: lan.sent(),
        delivered_out: fleet.counted_packets(),
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            timed.interrupted = true;
            break;
        }
        let now = clock::now();
        let elapsed = now.saturating_duration_since(t0);
        if elapsed >= tp.duration {
            break;
        }
        if window_open.is_none() && elapsed >= warm {
            window_open = Some(now);
            timed.at_open = read(fleet, timed.sent_in);
            // The warm-up is not judged.
            search_in.reset_verdicts();
            search_out.reset_verdicts();
        }
        if adaptive && now.saturating_duration_since(last.0) >= CONTROL_PERIOD {
            let c = read(fleet, timed.sent_in);
            let dt = now.saturating_duration_since(last.0);
            if sends_in {
                let rate = search_in.update(
                    c.sent_in.saturating_sub(last.1.sent_in),
                    c.delivered_in.saturating_sub(last.1.delivered_in),
                    dt,
                );
                pacer.set_rate(elapsed, rate, pacer_burst(rate));
            }
            if sends_out {
                lan.set_rate(search_out.update(
                    c.sent_out.saturating_sub(last.1.sent_out),
                    c.delivered_out.saturating_sub(last.1.delivered_out),
                    dt,
                ));
            }
            last = (now, c);
        }
        if sends_in {
            let mut budget = usize::try_from(pacer.grant(elapsed)).unwrap_or(usize::MAX);
            let mut any = false;
            for (k, mem) in members.iter().enumerate() {
                let Some(ring) = rings.get_mut(k) else {
                    continue;
                };
                if ring.remaining() == 0 {
                    continue;
                }
                any = true;
                if budget == 0 {
                    break;
                }
                let Some((_, socket, _)) = fleet.client_mut(mem.index) else {
                    continue;
                };
                let datagrams = ring.peek(SEND_BATCH.min(budget));
                let sent = if gso {
                    send_segmented(socket, &datagrams).inspect_err(|e| {
                        // A kernel or route that cannot segment: datagram by datagram.
                        gso = e.kind() == io::ErrorKind::WouldBlock;
                    })
                } else {
                    send_batch(socket, &mut batch, &datagrams, &to[..datagrams.len()])
                };
                match sent {
                    Ok(n) => {
                        ring.next += n;
                        timed.sent_in += n as u64;
                        budget = budget.saturating_sub(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => timed.send_errors += 1,
                }
            }
            if !any {
                timed.exhausted = true;
                break;
            }
            round_no += 1;
            if budget == 0 {
                let wait = pacer.until_next().min(Duration::from_millis(2));
                fleet.turn(wait, clock::now)?;
            } else if round_no.is_multiple_of(8) {
                fleet.turn(Duration::ZERO, clock::now)?;
            }
        } else {
            fleet.turn(Duration::from_millis(10), clock::now)?;
        }
    }
    let close = clock::now();
    let open = window_open.unwrap_or(t0);
    if window_open.is_none() {
        timed.at_open = Counts::default();
    }
    timed.window_secs = close.saturating_duration_since(open).as_secs_f64();
    timed.sent_in_at_close = timed.sent_in;
    timed.sent_out_at_close = lan.sent();
    if adaptive {
        timed.rate_in = sends_in.then_some(search_in.rate());
        timed.rate_out = sends_out.then_some(search_out.rate());
        timed.limit_in = search_in.limit().filter(|_| sends_in);
        timed.limit_out = search_out.limit().filter(|_| sends_out);
    }
    Ok(timed)
}

/// The depth of the ring sender's pacer at `rate`: 2 ms worth, at least one batch.
fn pacer_burst(rate: u64) -> u64 {
    (rate / 500).max(SEND_BATCH as u64)
}

/// The window's totals: the counts at its opening against those at its close (deliveries
/// read after the drain, so datagrams in flight at the close count).
fn window(timed: &Timed, delivered_in: u64, delivered_out: u64) -> Window {
    Window {
        secs: timed.window_secs,
        sent_in: timed.sent_in_at_close.saturating_sub(timed.at_open.sent_in),
        delivered_in: delivered_in.saturating_sub(timed.at_open.delivered_in),
        sent_out: timed
            .sent_out_at_close
            .saturating_sub(timed.at_open.sent_out),
        delivered_out: delivered_out.saturating_sub(timed.at_open.delivered_out),
    }
}

fn fill(
    s: &mut SessionSummary,
    tp: &ThroughputConfig,
    timed: &Timed,
    w: &Window,
    lan: &LanReport,
    out_check: (u64, u64),
    first_bad: Option<String>,
) {
    let (checked_out, bad_out) = out_check;
    let per_sec = |n: u64| if w.secs > 0.0 { n as f64 / w.secs } else { 0.0 };
    let mut pps = 0.0;
    let (mut sent, mut lost) = (0u64, 0u64);
    let mut ok = true;
    if tp.direction.sends_in() {
        let pps_in = per_sec(w.delivered_in);
        s.sent_in = Some(w.sent_in);
        s.delivered_in = Some(w.delivered_in);
        s.pps_in = Some(round(pps_in, 1));
        s.ring_exhausted = Some(timed.exhausted);
        pps += pps_in;
        sent += w.sent_in;
        lost += w.sent_in.saturating_sub(w.delivered_in);
        ok &= lan.rx_packets > 0 && lan.rx_checked > 0;
        if timed.exhausted {
            s.notes.push(format!(
                "the pre-sealed ring ran out after {} datagrams (raise --ring-mib or --seal-secs)",
                timed.sent_in
            ));
        }
        if timed.send_errors > 0 {
            s.notes
                .push(format!("{} sendmmsg calls refused", timed.send_errors));
        }
    }
    if tp.direction.sends_out() {
        let pps_out = per_sec(w.delivered_out);
        s.sent_out = Some(w.sent_out);
        s.delivered_out = Some(w.delivered_out);
        s.pps_out = Some(round(pps_out, 1));
        pps += pps_out;
        sent += w.sent_out;
        lost += w.sent_out.saturating_sub(w.delivered_out);
        ok &= w.delivered_out > 0 && checked_out > 0;
        if let Some(e) = &lan.first_tx_error {
            s.notes.push(format!(
                "the LAN host's sends were refused {} times: {e}",
                lan.tx_errors
            ));
        }
    }
    if timed.rate_in.is_some() || timed.rate_out.is_some() {
        s.notes.push(format!(
            "adaptive offered load (offered = delivered + {:.0} %): final rates in {:?} out {:?} pps",
            (OVERSHOOT - 1.0) * 100.0,
            timed.rate_in,
            timed.rate_out
        ));
    }
    let limits: Vec<(&str, Limit)> = [("in", timed.limit_in), ("out", timed.limit_out)]
        .into_iter()
        .filter_map(|(d, l)| Some((d, l?)))
        .collect();
    s.limited_by = match limits.as_slice() {
        [] => None,
        [(_, l)] => Some(l.name().to_owned()),
        many => Some(
            many.iter()
                .map(|(d, l)| format!("{d} {}", l.name()))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    };
    for (d, l) in &limits {
        match l {
            Limit::Generator => s.notes.push(format!(
                "{d}: the generator, not the server, limited the offered load (everything sent \
                 arrived, but the sender fell short of its rate): this row measures the generator"
            )),
            Limit::None => s.notes.push(format!(
                "{d}: no datagram lost and the rate still growing at the end: the server's \
                 ceiling is higher than this row"
            )),
            Limit::Server => {}
        }
    }
    let bad = lan.rx_bad + bad_out;
    s.pps = Some(round(pps, 1));
    s.mbit_s = Some(round(pps * tp.size as f64 * 8.0 / 1e6, 1));
    s.loss_pct = (sent > 0).then(|| round(lost as f64 / sent as f64 * 100.0, 2));
    s.checked = Some(lan.rx_checked + checked_out);
    s.bad = Some(bad);
    s.first_bad = first_bad;
    s.duration_secs = Some(round(w.secs, 3));
    s.ok = ok && bad == 0;
}

/// The address a session's test datagrams come from, for a fleet member with `addr`.
pub fn inner_source(addr: Ipv4Addr, index: usize) -> Option<SocketAddrV4> {
    let port = FIRST_PORT.checked_add(u16::try_from(index).ok()?)?;
    Some(SocketAddrV4::new(addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_hands_out_its_datagrams_in_order() {
        let mut r = Ring::default();
        for i in 0..5u8 {
            r.push(&vec![i; usize::from(i) + 1]);
        }
        assert_eq!(r.remaining(), 5);
        let first = r.peek(3);
        assert_eq!(first, vec![&[0u8][..], &[1, 1][..], &[2, 2, 2][..]]);
        r.next += 3;
        assert_eq!(r.peek(10).len(), 2);
        assert_eq!(r.peek(10)[1], &[4u8; 5][..]);
        r.next += 2;
        assert_eq!(r.remaining(), 0);
        assert!(r.peek(1).is_empty());
    }

    #[test]
    fn inner_sources_are_distinct_per_session() {
        let a = Ipv4Addr::new(10, 78, 0, 9);
        assert_eq!(inner_source(a, 0), Some(SocketAddrV4::new(a, FIRST_PORT)));
        assert_eq!(inner_source(a, 7).map(|s| s.port()), Some(FIRST_PORT + 7));
        assert_eq!(inner_source(a, 60_000), None);
    }

    #[test]
    fn summary_of_a_run_in_both_directions() {
        let tp = ThroughputConfig {
            direction: Direction::Both,
            size: 1000,
            duration: Duration::from_secs(2),
            rate: Some(5000),
            ring_bytes: 1 << 20,
            seal_limit: Duration::from_secs(1),
            lan_netns: None,
            lan: "10.77.0.2:9000".parse().unwrap(),
            check_every: 64,
            gso: true,
        };
        let timed = Timed {
            sent_in: 12_000,
            window_secs: 2.0,
            at_open: Counts {
                sent_in: 2_000,
                delivered_in: 1_000,
                sent_out: 500,
                delivered_out: 100,
            },
            sent_in_at_close: 12_000,
            sent_out_at_close: 4_500,
            ..Timed::default()
        };
        let w = window(&timed, 10_000, 3_100);
        assert_eq!(
            w,
            Window {
                secs: 2.0,
                sent_in: 10_000,
                delivered_in: 9_000,
                sent_out: 4_000,
                delivered_out: 3_000,
            }
        );
        let lan = LanReport {
            rx_packets: 10_000,
            rx_checked: 140,
            tx_packets: 4_500,
            tx_secs: 2.0,
            ..LanReport::default()
        };
        let mut s = SessionSummary::default();
        fill(&mut s, &tp, &timed, &w, &lan, (20, 0), None);
        assert_eq!(s.pps_in, Some(4500.0));
        assert_eq!(s.pps_out, Some(1500.0));
        assert_eq!(s.pps, Some(6000.0));
        // 6000 datagrams of 1000 octets per second: 48 Mbit/s.
        assert_eq!(s.mbit_s, Some(48.0));
        // 2000 of 14000 lost.
        assert_eq!(s.loss_pct, Some(14.29));
        assert_eq!(s.checked, Some(160));
        assert!(s.ok);
        // Nothing checked on the way out, or a corrupted datagram, makes the run fail.
        let mut s = SessionSummary::default();
        fill(&mut s, &tp, &timed, &w, &lan, (0, 0), None);
        assert!(!s.ok);
        let mut s = SessionSummary::default();
        fill(&mut s, &tp, &timed, &w, &lan, (20, 1), Some("x".to_owned()));
        assert!(!s.ok);
        assert_eq!(s.bad, Some(1));
    }

    /// Runs `periods` control periods of a search against a model: the sender offers
    /// `sender(rate)` datagrams per second, the server delivers at most `ceiling` of them.
    /// Returns the search and the last period's delivered rate.
    fn simulate(periods: u32, ceiling: f64, sender: impl Fn(u64) -> f64) -> (RateSearch, f64) {
        let p = CONTROL_PERIOD;
        let mut search = RateSearch::new(START_RATE);
        let mut got = 0.0;
        for i in 0..periods {
            if i == periods / 5 {
                search.reset_verdicts();
            }
            let offered = sender(search.rate());
            got = offered.min(ceiling);
            let sent = (offered * p.as_secs_f64()) as u64;
            let delivered = (got * p.as_secs_f64()) as u64;
            search.update(sent, delivered, p);
        }
        (search, got)
    }

    #[test]
    fn the_rate_grows_while_the_server_keeps_up_even_if_the_sender_fell_short() {
        let p = CONTROL_PERIOD;
        // Everything offered arrived and the offer reached its rate: grow.
        let mut r = RateSearch::new(20_000);
        assert_eq!(r.update(2_000, 2_000, p), 25_000);
        // The case that held the AES `in` runs at their starting rate: the sender offered
        // 12,888/s of 20,000/s and all of it arrived. The old rule stayed at 20,000 for good.
        let mut r = RateSearch::new(20_000);
        assert_eq!(r.update(1_289, 1_289, p), 25_000);
        assert_eq!(r.limit(), Some(Limit::Generator));
        // Running ahead of the sender is bounded: at most AHEAD times what it offered.
        let mut r = RateSearch::new(20_000);
        assert_eq!(r.update(1_100, 1_100, p), 22_000);
        // A sender far behind keeps the rate where it is (never lower while nothing is lost).
        let mut r = RateSearch::new(20_000);
        assert_eq!(r.update(500, 500, p), 20_000);
    }

    #[test]
    fn the_rate_tracks_delivery_once_datagrams_are_lost() {
        let p = CONTROL_PERIOD;
        // A tenth lost: offer 10 % more than arrived.
        let mut r = RateSearch::new(20_000);
        assert_eq!(r.update(2_000, 1_800, p), 19_800);
        assert_eq!(r.limit(), Some(Limit::Server));
        // Nothing arrived: the floor.
        assert_eq!(r.update(2_000, 0, p), MIN_RATE);
        // Nothing sent, or no time: unchanged and not judged.
        let mut r = RateSearch::new(20_000);
        assert_eq!(r.update(0, 0, p), 20_000);
        assert_eq!(r.update(10, 10, Duration::ZERO), 20_000);
        assert_eq!(r.limit(), None);
    }

    #[test]
    fn the_search_finds_the_server_ceiling_behind_a_sender_that_lags_its_rate() {
        // The sender reaches only 65 % of any rate it is given (a pacer losing tokens to late
        // wake-ups), the server delivers at most 90,000/s. 10 s of 100 ms periods.
        let (search, got) = simulate(100, 90_000.0, |rate| rate as f64 * 0.65);
        assert!(got >= 0.95 * 90_000.0, "delivered {got}/s");
        assert_eq!(search.limit(), Some(Limit::Server));
        // A sender that keeps its rate: the same ceiling.
        let (search, got) = simulate(100, 90_000.0, |rate| rate as f64);
        assert!(got >= 0.95 * 90_000.0, "delivered {got}/s");
        assert_eq!(search.limit(), Some(Limit::Server));
    }

    #[test]
    fn a_sender_that_cannot_go_faster_is_reported_as_the_limit() {
        // The sender tops out at 13,000/s, the server could take 90,000/s.
        let (search, got) = simulate(100, 90_000.0, |rate| (rate as f64).min(13_000.0));
        assert_eq!(got, 13_000.0);
        assert_eq!(search.limit(), Some(Limit::Generator));
        // The rate stays within AHEAD of what the sender offers.
        assert!(
            search.rate() <= (13_000.0 * AHEAD) as u64,
            "{}",
            search.rate()
        );
        // A run too short to find anything: neither side was the limit yet.
        let (search, _) = simulate(5, 1e9, |rate| rate as f64);
        assert_eq!(search.limit(), Some(Limit::None));
    }

    #[test]
    fn sealing_time_follows_the_duration() {
        let mut tp = ThroughputConfig {
            direction: Direction::In,
            size: 1400,
            duration: Duration::from_secs(6),
            rate: None,
            ring_bytes: 1 << 30,
            seal_limit: Duration::from_secs(30),
            lan_netns: None,
            lan: "10.77.0.2:9000".parse().unwrap(),
            check_every: 64,
            gso: true,
        };
        assert_eq!(seal_time(&tp), Duration::from_secs(15));
        tp.duration = Duration::from_millis(200);
        assert_eq!(seal_time(&tp), Duration::from_secs(2));
        tp.duration = Duration::from_secs(60);
        assert_eq!(seal_time(&tp), Duration::from_secs(30));
    }

    #[test]
    fn the_warm_up_is_a_fifth_of_at_least_a_second_and_at_most_half() {
        assert_eq!(warmup(Duration::from_secs(10)), Duration::from_secs(2));
        assert_eq!(warmup(Duration::from_secs(3)), Duration::from_secs(1));
        assert_eq!(warmup(Duration::from_secs(1)), Duration::from_millis(500));
    }
}
