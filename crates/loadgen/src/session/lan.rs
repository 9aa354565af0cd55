//! The LAN host behind the server, for `throughput`: one UDP socket (in its own network
//! namespace if asked) that counts and checks the test datagrams the clients send through the
//! server ("in"), and sends test datagrams back towards the clients ("out").
//!
//! It learns where to send from each session's probes: the probe's source address and port is
//! what the server's LAN side uses for that session (the client's pool address for l2tpd-rs;
//! a NAT's address and port for a server that NATs its clients, as SoftEther's SecureNAT
//! does), so the same code reaches both.
//!
//! Phases, set by the generator: `Learn` (probes), `Run` (count; send if asked), `Drain`
//! (stop sending, keep counting what is still in flight), `Stop`.

use core::net::SocketAddrV4;
use core::time::Duration;
use std::io::{self, IoSlice};
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, poll};

use crate::pacer::Pacer;
use crate::send::{Batch, send_batch};
use crate::{Error, clock, netns, traffic};

/// Datagrams per `sendmmsg`/`recvmmsg`.
const BATCH: usize = 64;
/// Datagrams per segmented message towards one session (as the clients' bursts "in").
pub const BURST: usize = 32;
/// Receive and send buffers we ask for.
const SOCKET_BUFFER: usize = 8 << 20;

/// The phases (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Record each session's address from its probes.
    Learn = 0,
    /// Count (and send, if asked).
    Run = 1,
    /// Count, do not send.
    Drain = 2,
    /// Finish.
    Stop = 3,
}

/// What the LAN host does.
#[derive(Debug, Clone)]
pub struct LanConfig {
    /// The namespace to run in (`ip netns` name); the current one if `None`.
    pub netns: Option<String>,
    /// The address and port the clients send to.
    pub bind: SocketAddrV4,
    /// How many sessions send (session numbers are 0..sessions).
    pub sessions: u32,
    /// The UDP payload length of the test datagrams.
    pub payload_len: usize,
    /// Send towards the clients in the `Run` phase.
    pub send: bool,
    /// Datagrams per second towards the clients, all together, at the start (as fast as
    /// possible if `None`); [`Lan::set_rate`] changes it while running.
    pub rate: Option<u64>,
    /// Check the whole payload of every `check_every`-th datagram (the header of all).
    pub check_every: u64,
    /// Send towards each session in bursts of [`BURST`] datagrams, each burst one UDP
    /// segmentation offload message (udp(7) `UDP_SEGMENT`), as a host sending a bulk
    /// transfer with segmentation offload does; datagram by datagram, flows in turn, if not.
    pub segment: bool,
}

/// What the LAN host saw and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LanReport {
    /// Probes received in the `Learn` phase.
    pub probes: u64,
    /// Test datagrams received in `Run` and `Drain`.
    pub rx_packets: u64,
    /// Their payload octets.
    pub rx_bytes: u64,
    /// Datagrams whose whole payload was checked.
    pub rx_checked: u64,
    /// Datagrams that were not what a session sent.
    pub rx_bad: u64,
    /// The first defect, in words.
    pub first_bad: Option<String>,
    /// Received per session.
    pub rx_per_session: Vec<u64>,
    /// Datagrams sent towards the clients.
    pub tx_packets: u64,
    /// Sends refused by the kernel (each a whole batch).
    pub tx_errors: u64,
    /// The first refusal.
    pub first_tx_error: Option<String>,
    /// How long it sent, seconds.
    pub tx_secs: f64,
}

struct Shared {
    phase: AtomicU8,
    learned: AtomicU32,
    flows: Mutex<Vec<Option<SocketAddrV4>>>,
    /// Test datagrams received so far in `Run` and `Drain`.
    rx: AtomicU64,
    /// Datagrams sent so far.
    tx: AtomicU64,
    /// The send rate asked for (0: as fast as possible).
    rate: AtomicU64,
}

/// The running LAN host.
pub struct Lan {
    shared: Arc<Shared>,
    handle: JoinHandle<Result<LanReport, Error>>,
}

impl core::fmt::Debug for Lan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lan")
            .field("phase", &self.shared.phase.load(Ordering::Relaxed))
            .field("learned", &self.learned())
            .finish_non_exhaustive()
    }
}

impl Lan {
    /// Starts the LAN host's thread in the `Learn` phase. Fails if its socket cannot be bound.
    pub fn start(config: LanConfig) -> Result<Self, Error> {
        let sessions = usize::try_from(config.sessions).unwrap_or(0);
        let shared = Arc::new(Shared {
            phase: AtomicU8::new(Phase::Learn as u8),
            learned: AtomicU32::new(0),
            flows: Mutex::new(vec![None; sessions]),
            rx: AtomicU64::new(0),
            tx: AtomicU64::new(0),
            rate: AtomicU64::new(config.rate.unwrap_or(0)),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sh = Arc::clone(&shared);
        let handle = netns::spawn_in(config.netns.clone(), move || {
            let socket = match bind(config.bind) {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Err(e);
                }
            };
            run(&socket, &config, &sh)
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Self { shared, handle }),
            Ok(Err(e)) => Err(Error::Usage(format!("LAN host: {e}"))),
            Err(_) => match handle.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(Error::Usage("LAN host did not start".to_owned())),
            },
        }
    }

    /// Sessions whose probe arrived.
    pub fn learned(&self) -> u32 {
        self.shared.learned.load(Ordering::Relaxed)
    }

    /// The address the LAN host sends to for each session (learned from its probes).
    pub fn flows(&self) -> Vec<Option<SocketAddrV4>> {
        self.shared
            .flows
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// Test datagrams received so far (in `Run` and `Drain`).
    pub fn received(&self) -> u64 {
        self.shared.rx.load(Ordering::Relaxed)
    }

    /// Datagrams sent towards the clients so far.
    pub fn sent(&self) -> u64 {
        self.shared.tx.load(Ordering::Relaxed)
    }

    /// Sets the send rate (datagrams per second; 0: as fast as possible).
    pub fn set_rate(&self, rate: u64) {
        self.shared.rate.store(rate, Ordering::Relaxed);
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.shared.phase.store(phase as u8, Ordering::Release);
    }

    /// Stops the thread and returns its report.
    pub fn finish(self) -> Result<LanReport, Error> {
        self.set_phase(Phase::Stop);
        self.handle
            .join()
            .map_err(|_| Error::Usage("the LAN host thread panicked".to_owned()))?
    }
}

fn bind(addr: SocketAddrV4) -> Result<UdpSocket, Error> {
    let socket = UdpSocket::bind(addr).map_err(|e| Error::Socket {
        what: format!("binding the LAN host's socket to {addr}"),
        source: e,
    })?;
    socket.set_nonblocking(true).map_err(|e| Error::Socket {
        what: "O_NONBLOCK".to_owned(),
        source: e,
    })?;
    let _ =
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBuf, &SOCKET_BUFFER);
    let _ =
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::SndBuf, &SOCKET_BUFFER);
    // A run of one flow that reaches this host still segmented (the server wrote it to its
    // TUN as one packet) is taken whole and cut here, as a host receiving from a NIC with GRO.
    let _ = tun::set_gro(&socket);
    Ok(socket)
}

/// The pacer depth at `rate`: 2 ms worth, at least one batch (a sender woken late catches
/// up only that much, so the rate stays close to what was asked).
fn burst(rate: u64) -> u64 {
    (rate / 500).max(BATCH as u64)
}

fn phase(sh: &Shared) -> Phase {
    match sh.phase.load(Ordering::Acquire) {
        0 => Phase::Learn,
        1 => Phase::Run,
        2 => Phase::Drain,
        _ => Phase::Stop,
    }
}

/// The sender side: one payload per session, its sequence number bumped per batch.
struct Sender {
    flows: Vec<(u32, SocketAddrV4)>,
    payloads: Vec<Vec<u8>>,
    next: usize,
    seq: u64,
    pacer: Option<Pacer>,
    rate: u64,
    batch: Batch,
    /// Segmented sends, while the kernel takes them.
    segment: bool,
    /// Pacer tokens saved up towards a whole burst.
    credit: usize,
    segments: tun::SendBatch,
    started: Option<Instant>,
    stopped: Option<Instant>,
}

impl Sender {
    fn new(config: &LanConfig, flows: &[Option<SocketAddrV4>]) -> Self {
        let flows: Vec<(u32, SocketAddrV4)> = flows
            .iter()
            .enumerate()
            .filter_map(|(s, a)| Some((u32::try_from(s).ok()?, (*a)?)))
            .collect();
        let payloads = flows
            .iter()
            .map(|(s, _)| traffic::payload(config.payload_len, *s, 0))
            .collect();
        Self {
            flows,
            payloads,
            next: 0,
            seq: 0,
            pacer: None,
            rate: 0,
            batch: Batch::new(BATCH),
            segment: config.segment,
            credit: 0,
            segments: tun::SendBatch::new(BATCH),
            started: None,
            stopped: None,
        }
    }

    /// Sends one batch if the pacer allows; returns how long to wait otherwise.
    fn send(
        &mut self,
        socket: &UdpSocket,
        sh: &Shared,
        report: &mut LanReport,
    ) -> Option<Duration> {
        if self.flows.is_empty() {
            return Some(Duration::from_millis(10));
        }
        let now = clock::now();
        let start = *self.started.get_or_insert(now);
        let rate = sh.rate.load(Ordering::Relaxed);
        if rate != self.rate {
            self.rate = rate;
            let at = now.saturating_duration_since(start);
            if rate == 0 {
                self.pacer = None;
            } else if let Some(p) = &mut self.pacer {
                p.set_rate(at, rate, burst(rate));
            } else {
                let mut p = Pacer::new(rate, burst(rate));
                p.set_rate(at, rate, burst(rate));
                self.pacer = Some(p);
            }
        }
        // Segmented, the pacer's tokens are saved up to whole bursts, as a host with
        // segmentation offload sends a bulk transfer in runs rather than packet by packet.
        let (most, least) = if self.segment {
            (BATCH * BURST, BURST)
        } else {
            (BATCH, 1)
        };
        let mut n = most;
        if let Some(p) = &mut self.pacer {
            let granted =
                usize::try_from(p.grant(now.saturating_duration_since(start))).unwrap_or(most);
            self.credit = (self.credit + granted).min(most);
            if self.credit < least {
                return Some(p.until_next());
            }
            n = self.credit - self.credit % least;
            self.credit -= n;
        }
        self.seq += 1;
        for p in &mut self.payloads {
            traffic::set_seq(p, self.seq);
        }
        let sent = if self.segment {
            self.send_segmented(socket, n)
        } else {
            self.send_plain(socket, n)
        };
        match sent {
            Ok((datagrams, flows)) => {
                report.tx_packets += datagrams as u64;
                sh.tx.fetch_add(datagrams as u64, Ordering::Relaxed);
                self.next = (self.next + flows) % self.flows.len();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                if self.segment && tun::segment_refusal(&e).is_some() {
                    // A kernel or route that cannot segment: datagram by datagram from now.
                    self.segment = false;
                }
                report.tx_errors += 1;
                report.first_tx_error.get_or_insert_with(|| e.to_string());
            }
        }
        None
    }

    /// `n` datagrams, flows in turn from `next`, one `sendmmsg`; how many datagrams went and
    /// how many flows that advanced.
    fn send_plain(&mut self, socket: &UdpSocket, n: usize) -> io::Result<(usize, usize)> {
        let count = self.flows.len();
        let mut data: Vec<&[u8]> = Vec::with_capacity(n);
        let mut to = Vec::with_capacity(n);
        for k in 0..n {
            let f = (self.next + k) % count;
            if let (Some(p), Some((_, a))) = (self.payloads.get(f), self.flows.get(f)) {
                data.push(p);
                to.push(Some(*a));
            }
        }
        send_batch(socket, &mut self.batch, &data, &to).map(|sent| (sent, sent))
    }

    /// `n` datagrams as bursts of up to [`BURST`] to one flow each, flows in turn from
    /// `next`, one `sendmmsg` of segmented messages; how many datagrams went and how many
    /// flows (messages) that advanced.
    fn send_segmented(&mut self, socket: &UdpSocket, n: usize) -> io::Result<(usize, usize)> {
        let count = self.flows.len();
        let Ok(segment) = u16::try_from(self.payloads.first().map_or(0, Vec::len)) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let per_message = BURST
            .min(tun::MAX_SEGMENTED_BYTES / usize::from(segment).max(1))
            .max(1);
        let mut messages: Vec<Vec<IoSlice<'_>>> = Vec::new();
        let mut to = Vec::new();
        let mut left = n;
        let mut k = 0;
        while left > 0 && messages.len() < BATCH {
            let f = (self.next + k) % count;
            k += 1;
            let (Some(p), Some((_, a))) = (self.payloads.get(f), self.flows.get(f)) else {
                continue;
            };
            let take = left.min(per_message);
            messages.push(vec![IoSlice::new(p); take]);
            to.push(*a);
            left -= take;
        }
        let slices: Vec<&[IoSlice<'_>]> = messages.iter().map(Vec::as_slice).collect();
        let taken =
            tun::send_segments_from(socket, &mut self.segments, segment, &slices, None, &to)?;
        let datagrams = messages.iter().take(taken).map(Vec::len).sum();
        Ok((datagrams, taken))
    }
}

fn run(socket: &UdpSocket, config: &LanConfig, sh: &Shared) -> Result<LanReport, Error> {
    let mut report = LanReport {
        rx_per_session: vec![0; usize::try_from(config.sessions).unwrap_or(0)],
        ..LanReport::default()
    };
    let mut rx = tun::RecvBatch::new(BATCH, 65_536);
    let mut sender: Option<Sender> = None;
    loop {
        let ph = phase(sh);
        if ph == Phase::Stop {
            break;
        }
        let mut wait = Duration::from_millis(5);
        if ph == Phase::Run && config.send {
            let s = sender.get_or_insert_with(|| {
                let flows = sh.flows.lock().map(|f| f.clone()).unwrap_or_default();
                Sender::new(config, &flows)
            });
            wait = s.send(socket, sh, &mut report).unwrap_or(Duration::ZERO);
        } else if let Some(s) = &mut sender
            && s.stopped.is_none()
        {
            s.stopped = Some(clock::now());
        }
        let got = receive(socket, &mut rx, config, sh, ph, &mut report)?;
        if got == 0 && !wait.is_zero() {
            let ms = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, ms);
        }
    }
    if let Some(s) = &sender
        && let Some(start) = s.started
    {
        let end = s.stopped.unwrap_or_else(clock::now);
        report.tx_secs = end.saturating_duration_since(start).as_secs_f64();
    }
    Ok(report)
}

/// Takes every queued datagram; returns how many.
fn receive(
    socket: &UdpSocket,
    rx: &mut tun::RecvBatch,
    config: &LanConfig,
    sh: &Shared,
    ph: Phase,
    report: &mut LanReport,
) -> Result<usize, Error> {
    let mut total = 0;
    loop {
        let n = match tun::recv_batch(socket, rx) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Socket {
                    what: "receiving on the LAN host's socket".to_owned(),
                    source: e,
                });
            }
        };
        total += n;
        let datagrams = rx
            .iter_mut()
            .flat_map(|(meta, run)| run.chunks(meta.datagram_len()).map(move |d| (meta, d)));
        for (meta, data) in datagrams {
            if ph == Phase::Learn {
                report.probes += 1;
                if let Ok((s, _)) = traffic::check(data, config.payload_len, config.sessions, false)
                    && let Ok(mut flows) = sh.flows.lock()
                    && let Some(slot) = flows.get_mut(s as usize)
                    && slot.is_none()
                {
                    *slot = Some(meta.source);
                    sh.learned.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            report.rx_packets += 1;
            report.rx_bytes += data.len() as u64;
            sh.rx.fetch_add(1, Ordering::Relaxed);
            let full =
                config.check_every > 0 && report.rx_packets.is_multiple_of(config.check_every);
            match traffic::check(data, config.payload_len, config.sessions, full) {
                Ok((s, _)) => {
                    if full {
                        report.rx_checked += 1;
                    }
                    if let Some(c) = report.rx_per_session.get_mut(s as usize) {
                        *c += 1;
                    }
                }
                Err(e) => {
                    report.rx_bad += 1;
                    report
                        .first_bad
                        .get_or_insert_with(|| format!("from {}: {e}", meta.source));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;

    fn wait_for(mut f: impl FnMut() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("condition not reached");
    }

    #[test]
    fn learns_counts_checks_and_answers_on_loopback() {
        learns_counts_checks_and_answers(false);
    }

    #[test]
    fn learns_counts_checks_and_answers_in_segmented_bursts() {
        learns_counts_checks_and_answers(true);
    }

    fn learns_counts_checks_and_answers(segment: bool) {
        let probe = |s: &UdpSocket, to: SocketAddrV4, session: u32, len: usize| {
            s.send_to(&traffic::payload(len, session, 0), to).unwrap();
        };
        let len = 200;
        // Find a free port for the LAN host.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let lan = Lan::start(LanConfig {
            netns: None,
            bind,
            sessions: 2,
            payload_len: len,
            send: true,
            rate: Some(2000),
            check_every: 1,
            segment,
        })
        .unwrap();
        let c0 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        c0.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        probe(&c0, bind, 0, len);
        probe(&c1, bind, 1, len);
        wait_for(|| lan.learned() == 2);
        let flows = lan.flows();
        assert_eq!(
            flows[0],
            Some(match c0.local_addr().unwrap() {
                std::net::SocketAddr::V4(a) => a,
                other => panic!("{other}"),
            })
        );
        lan.set_phase(Phase::Run);
        // Three good datagrams, one corrupted, one unknown session.
        for _ in 0..3 {
            probe(&c0, bind, 0, len);
        }
        let mut bad = traffic::payload(len, 1, 5);
        bad[100] ^= 1;
        c1.send_to(&bad, bind).unwrap();
        probe(&c1, bind, 7, len);
        // The LAN host sends to the learned flows.
        // (A segmented burst arrives as separate datagrams at a socket without UDP_GRO.)
        let mut buf = [0u8; 512];
        for _ in 0..3 {
            let n = c0.recv(&mut buf).unwrap();
            assert_eq!(traffic::check(&buf[..n], len, 2, true).map(|r| r.0), Ok(0));
        }
        std::thread::sleep(Duration::from_millis(200));
        lan.set_phase(Phase::Drain);
        std::thread::sleep(Duration::from_millis(50));
        let r = lan.finish().unwrap();
        assert_eq!(r.probes, 2);
        assert_eq!(r.rx_packets, 5);
        assert_eq!(r.rx_bad, 2, "{r:?}");
        assert_eq!(r.rx_checked, 3);
        assert_eq!(r.rx_per_session, vec![3, 0]);
        assert!(r.first_bad.is_some());
        assert!(r.tx_packets > 0);
        assert!(r.tx_secs > 0.1, "{r:?}");
        // Paced at 2000/s for about 0.25 s: far fewer than an unpaced sender would manage.
        assert!(r.tx_packets < 2000, "{r:?}");
    }
}
