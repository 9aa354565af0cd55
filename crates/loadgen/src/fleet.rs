//! Many simulated L2TP/IPsec clients in one thread: `testkit::Client`s (sans-IO) driven over
//! real UDP sockets by one `epoll` loop and one timer heap.
//!
//! Each client has its own UDP socket, bound to its own source address and an ephemeral port,
//! so the server sees every client as a distinct 4-tuple, as it sees clients behind distinct
//! NATs. The client believes it speaks from ports 500 and 4500 (IKE and NAT-T, RFC 3947 §3);
//! the socket maps both to its one real port, the way a NAT maps a client's ports: a datagram
//! from the server's port 4500 is handed to the client as arriving on 4500, anything else as
//! arriving on 500. Because the real port is not 500, the server's NAT detection (RFC 3947
//! §3.2) sees a NAT and both sides float to UDP 4500, so ESP is UDP-encapsulated
//! (RFC 3948): raw ESP (IP protocol 50) is never needed.
//!
//! A client is *connecting* from [`Fleet::start`] until IPCP opens (*up*) or it fails; a
//! connect that takes longer than the connect timeout fails as `…/timeout`. Failures are
//! counted by the stage the client had reached and the cause (`main_mode/ike_timeout`,
//! `ppp/auth_failed_691`, …).
//!
//! For throughput runs a client can be switched to *counting*: its datagrams are then only
//! counted, and a sample of them kept, instead of being processed, so that the client sends
//! nothing on its own (its ESP sequence numbers stay where a pre-sealed ring expects them).

use core::cmp::Reverse;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::time::Duration;
use std::collections::BinaryHeap;
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::Instant;

use crypto::Secret;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use testkit::{Client, ClientConfig, ClientEvent, IKE_PORT, NAT_T_PORT, Stage, Traffic, Transmit};

use crate::Error;
use crate::stats::{Failures, Latencies};
use crate::suite::{Esp, Suite};

/// Datagrams taken from one socket per readiness event before others get a turn.
const RECV_BURST: usize = 64;
/// The largest datagram we expect (an ESP packet of a 1500-octet path plus slack).
const MAX_DATAGRAM: usize = 4096;
/// The receive buffer: a counting client's socket coalesces datagrams (UDP GRO) up to the
/// largest UDP payload.
const MAX_RECEIVE: usize = 65_536;
/// Descriptors kept free beside the clients' sockets.
const SPARE_FDS: u64 = 256;
/// Socket buffer we ask for on every client socket (counting mode receives bursts).
const SOCKET_BUFFER: usize = 1 << 20;

/// What every client of a fleet shares.
#[derive(Clone)]
pub struct FleetConfig {
    /// The server's address (it listens on UDP 500 and 4500).
    pub server: Ipv4Addr,
    /// The simulated client.
    pub suite: Suite,
    /// One ESP transform instead of the profile's proposals.
    pub esp: Option<Esp>,
    /// The pre-shared key.
    pub psk: Secret,
    /// The PPP user name.
    pub user: String,
    /// The PPP password.
    pub password: String,
    /// Source addresses; client `i` uses `sources[i % len]`. They must be local addresses of
    /// this host (or of the namespace the generator runs in).
    pub sources: Vec<Ipv4Addr>,
    /// A connect that takes longer fails as a timeout.
    pub connect_timeout: Duration,
    /// Seeds every client.
    pub seed: [u8; 32],
}

impl core::fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetConfig")
            .field("server", &self.server)
            .field("suite", &self.suite)
            .field("esp", &self.esp)
            .field("user", &self.user)
            .field("sources", &self.sources.len())
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// Where a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started.
    Idle,
    /// Started at `since`, not up yet; `stage` is the furthest it got.
    Connecting {
        /// When [`Fleet::start`] was called.
        since: Instant,
        /// The last stage seen before failure (for the cause).
        stage: Stage,
        /// When the client entered `stage`.
        stage_since: Instant,
    },
    /// IPCP opened at `at`.
    Up {
        /// When.
        at: Instant,
    },
    /// The connect failed.
    Failed,
    /// It was up and then went down.
    Dropped,
}

/// Datagrams of a client in counting mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counter {
    /// Datagrams received.
    pub packets: u64,
    /// Their octets (UDP payload).
    pub bytes: u64,
    /// Keep every `sample_every`-th datagram (0: none).
    pub sample_every: u64,
    /// The most samples kept.
    pub max_samples: usize,
    /// The kept datagrams, in arrival order.
    pub samples: Vec<Vec<u8>>,
}

struct Slot {
    client: Client,
    socket: UdpSocket,
    addr: SocketAddrV4,
    state: State,
    /// The time this slot's entry in the timer heap stands for.
    scheduled: Option<Instant>,
    counter: Option<Counter>,
    /// Time spent in each connect stage so far (index: [`stage_index`]).
    stage_time: [Duration; STAGES],
}

/// Counters of the fleet itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Clients up now.
    pub up: usize,
    /// Clients connecting now.
    pub connecting: usize,
    /// Connects that failed.
    pub failed: usize,
    /// Clients that were up and went down.
    pub dropped: usize,
    /// Datagrams sent.
    pub sent: u64,
    /// Sends the kernel refused.
    pub send_errors: u64,
    /// Datagrams received.
    pub received: u64,
    /// Datagrams from anyone but the server (ignored).
    pub strangers: u64,
    /// Raw ESP the clients wanted to send (never expected; dropped).
    pub raw_esp: u64,
}

/// The clients, their sockets and their timers.
pub struct Fleet {
    config: FleetConfig,
    slots: Vec<Slot>,
    epoll: Epoll,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    events: Vec<EpollEvent>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    stats: FleetStats,
    latencies: Latencies,
    failures: Failures,
    drops: Failures,
    first_up: Option<Instant>,
    last_up: Option<Instant>,
    first_start: Option<Instant>,
    /// When each client came up, in order.
    up_times: Vec<Instant>,
    /// Time spent in each stage by clients that came up, summed (index: [`stage_index`]).
    stage_time: [Duration; STAGES],
}

/// Stages a connect goes through before IPCP opens.
const STAGES: usize = 5;

/// The position of a connecting stage in [`Fleet::stage_means`].
fn stage_index(s: Stage) -> Option<usize> {
    match s {
        Stage::MainMode => Some(0),
        Stage::QuickMode => Some(1),
        Stage::L2tpTunnel => Some(2),
        Stage::L2tpSession => Some(3),
        Stage::Ppp => Some(4),
        _ => None,
    }
}

impl core::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fleet")
            .field("config", &self.config)
            .field("clients", &self.slots.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Raises the soft limit on open files to at least `need` (up to the hard limit, which root
/// may raise too).
pub fn raise_fd_limit(need: u64) -> Result<(), Error> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| Error::Socket {
        what: "reading RLIMIT_NOFILE".to_owned(),
        source: e.into(),
    })?;
    if soft >= need {
        return Ok(());
    }
    let hard = hard.max(need);
    setrlimit(Resource::RLIMIT_NOFILE, need, hard).map_err(|e| Error::Socket {
        what: format!("raising the open-file limit to {need} (needs root above {soft})"),
        source: e.into(),
    })
}

/// A short name for a stage, as used in failure causes.
pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Idle => "idle",
        Stage::MainMode => "main_mode",
        Stage::QuickMode => "quick_mode",
        Stage::L2tpTunnel => "l2tp_tunnel",
        Stage::L2tpSession => "l2tp_session",
        Stage::Ppp => "ppp",
        Stage::Up => "up",
        Stage::Down => "down",
        _ => "other",
    }
}

/// The cause and a detail of a client's failure, from the stage it had reached and its
/// events.
pub fn failure_cause(stage: Stage, events: &[ClientEvent]) -> (String, String) {
    let stage = stage_name(stage);
    if let Some(code) = events.iter().find_map(|e| match e {
        ClientEvent::AuthFailed { windows_error } => Some(*windows_error),
        _ => None,
    }) {
        return (
            format!("ppp/auth_failed_{code}"),
            format!("authentication failed, Windows error {code}"),
        );
    }
    match events.last() {
        Some(ClientEvent::IkeRefused(r)) => (format!("{stage}/ike_refused"), r.clone()),
        Some(ClientEvent::IkeTimeout) => (
            format!("{stage}/ike_timeout"),
            "the server stopped answering IKE (all retransmissions unanswered)".to_owned(),
        ),
        Some(ClientEvent::Down(r)) => (format!("{stage}/down"), r.clone()),
        Some(other) => (format!("{stage}/other"), format!("{other:?}")),
        None => (format!("{stage}/other"), "no event".to_owned()),
    }
}

impl Fleet {
    /// Builds `n` idle clients, each with its socket bound to its source address.
    pub fn new(config: FleetConfig, n: usize) -> Result<Self, Error> {
        if config.sources.is_empty() {
            return Err(Error::Usage("no source addresses".to_owned()));
        }
        raise_fd_limit(n as u64 + SPARE_FDS)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| Error::Socket {
            what: "epoll_create".to_owned(),
            source: e.into(),
        })?;
        let mut rng = ChaCha20Rng::from_seed(config.seed);
        let profile = config.suite.profile(config.esp);
        let mut slots = Vec::with_capacity(n);
        for i in 0..n {
            let ip = config.sources[i % config.sources.len()];
            let socket = UdpSocket::bind(SocketAddrV4::new(ip, 0)).map_err(|e| Error::Socket {
                what: format!(
                    "binding client {i} to {ip} (is it a local address? e.g. `ip route add local \
                     {ip}/16 dev lo` in the generator's namespace)"
                ),
                source: e,
            })?;
            socket.set_nonblocking(true).map_err(|e| Error::Socket {
                what: "O_NONBLOCK".to_owned(),
                source: e,
            })?;
            let _ = nix::sys::socket::setsockopt(
                &socket,
                nix::sys::socket::sockopt::RcvBuf,
                &SOCKET_BUFFER,
            );
            let addr = match socket.local_addr() {
                Ok(SocketAddr::V4(a)) => a,
                Ok(SocketAddr::V6(_)) | Err(_) => SocketAddrV4::new(ip, 0),
            };
            epoll
                .add(
                    socket.as_fd(),
                    EpollEvent::new(EpollFlags::EPOLLIN, i as u64),
                )
                .map_err(|e| Error::Socket {
                    what: "epoll_ctl ADD".to_owned(),
                    source: e.into(),
                })?;
            let mut rng_seed = [0u8; 32];
            rng.fill_bytes(&mut rng_seed);
            let client = Client::new(ClientConfig {
                profile: profile.clone(),
                local: ip,
                server: config.server,
                psk: config.psk.clone(),
                user: config.user.clone(),
                password: config.password.clone(),
                rng_seed,
            });
            slots.push(Slot {
                client,
                socket,
                addr,
                state: State::Idle,
                scheduled: None,
                counter: None,
                stage_time: [Duration::ZERO; STAGES],
            });
        }
        Ok(Self {
            config,
            slots,
            epoll,
            timers: BinaryHeap::new(),
            events: vec![EpollEvent::empty(); 256],
            tx: Vec::with_capacity(MAX_DATAGRAM),
            rx: vec![0u8; MAX_RECEIVE],
            stats: FleetStats::default(),
            latencies: Latencies::new(),
            failures: Failures::new(),
            drops: Failures::new(),
            first_up: None,
            last_up: None,
            first_start: None,
            up_times: Vec::new(),
            stage_time: [Duration::ZERO; STAGES],
        })
    }

    /// How many clients there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The fleet's counters.
    pub fn stats(&self) -> FleetStats {
        self.stats
    }

    /// Connect latencies (start to IPCP open) of every client that came up.
    pub fn latencies(&mut self) -> &mut Latencies {
        &mut self.latencies
    }

    /// Failed connects by cause.
    pub fn failures(&self) -> &Failures {
        &self.failures
    }

    /// Clients that went down after being up, by cause.
    pub fn drops(&self) -> &Failures {
        &self.drops
    }

    /// When the first client was started and the last came up.
    pub fn connect_window(&self) -> Option<(Instant, Instant)> {
        Some((self.first_start?, self.last_up?))
    }

    /// The mean time a client that came up spent in each stage, ms:
    /// `main_mode`, `quick_mode`, `l2tp_tunnel`, `l2tp_session`, `ppp`.
    pub fn stage_means(&self) -> Vec<(&'static str, f64)> {
        let up = self.latencies.len().max(1) as f64;
        [
            Stage::MainMode,
            Stage::QuickMode,
            Stage::L2tpTunnel,
            Stage::L2tpSession,
            Stage::Ppp,
        ]
        .into_iter()
        .zip(self.stage_time)
        .map(|(s, t)| {
            (
                stage_name(s),
                crate::report::round(t.as_secs_f64() * 1000.0 / up, 2),
            )
        })
        .collect()
    }

    /// When each client came up, in order.
    pub fn up_times(&self) -> &[Instant] {
        &self.up_times
    }

    /// When the first client came up.
    pub fn first_up(&self) -> Option<Instant> {
        self.first_up
    }

    /// What every client sent and received so far, by kind.
    pub fn traffic(&self) -> Traffic {
        let mut sum = Traffic::default();
        for s in &self.slots {
            sum.add(&s.client.traffic());
        }
        sum
    }

    /// A client's state.
    pub fn state(&self, i: usize) -> Option<State> {
        self.slots.get(i).map(|s| s.state)
    }

    /// A client (to read its address, counters, events).
    pub fn client(&self, i: usize) -> Option<&Client> {
        self.slots.get(i).map(|s| &s.client)
    }

    /// A client, mutably, with its socket and real address; call [`Fleet::after`] once done
    /// with it so its output is sent and its timer set.
    pub fn client_mut(&mut self, i: usize) -> Option<(&mut Client, &UdpSocket, SocketAddrV4)> {
        self.slots
            .get_mut(i)
            .map(|s| (&mut s.client, &s.socket, s.addr))
    }

    /// The negotiated Main Mode and ESP suites of the first client that has them.
    pub fn negotiated(&self) -> (Option<String>, Option<String>) {
        let mut ike = None;
        let mut esp = None;
        for s in &self.slots {
            for e in s.client.events() {
                match e {
                    ClientEvent::Phase1Up { suite, .. } if ike.is_none() => {
                        ike = Some(suite.clone());
                    }
                    ClientEvent::EspUp { suite, .. } if esp.is_none() => esp = Some(suite.clone()),
                    _ => {}
                }
            }
            if ike.is_some() && esp.is_some() {
                break;
            }
        }
        (ike, esp)
    }

    /// Starts client `i`'s Main Mode now.
    pub fn start(&mut self, i: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.state != State::Idle {
            return;
        }
        self.first_start.get_or_insert(now);
        slot.state = State::Connecting {
            since: now,
            stage: Stage::MainMode,
            stage_since: now,
        };
        self.stats.connecting += 1;
        if let Err(e) = slot.client.connect(now) {
            slot.state = State::Failed;
            self.stats.connecting -= 1;
            self.stats.failed += 1;
            self.failures.add("idle/start", &e.to_string());
            return;
        }
        self.after(i, now);
    }

    /// Switches client `i` to counting mode (`Some`) or back (`None`, which returns the
    /// counter). A client leaving counting mode gets its timer back.
    pub fn set_counting(
        &mut self,
        i: usize,
        counter: Option<Counter>,
        now: Instant,
    ) -> Option<Counter> {
        let slot = self.slots.get_mut(i)?;
        // Counting, the kernel may hand over a run of the server's datagrams at once (udp(7)
        // `UDP_GRO`): the run crosses the receive path once, so this generator, not the server,
        // stays the cheaper side. Where the kernel cannot, datagrams come one by one.
        let _ = nix::sys::socket::setsockopt(
            &slot.socket,
            nix::sys::socket::sockopt::UdpGroSegment,
            &counter.is_some(),
        );
        let old = core::mem::replace(&mut slot.counter, counter);
        if slot.counter.is_none() {
            slot.scheduled = None;
            self.after(i, now);
        }
        old
    }

    /// After anything was done to client `i`: send its output, update its state and set its
    /// timer.
    pub fn after(&mut self, i: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        while let Some(t) = slot.client.poll_transmit(&mut self.tx) {
            match t {
                Transmit::Udp { remote, .. } => match slot.socket.send_to(&self.tx, remote) {
                    Ok(_) => self.stats.sent += 1,
                    Err(_) => self.stats.send_errors += 1,
                },
                _ => self.stats.raw_esp += 1,
            }
        }
        let stage = slot.client.stage();
        if let State::Connecting {
            since,
            stage: before,
            stage_since,
        } = slot.state
            && stage != before
            && stage != Stage::Down
        {
            if let Some(k) = stage_index(before)
                && let Some(t) = slot.stage_time.get_mut(k)
            {
                *t += now.saturating_duration_since(stage_since);
            }
            slot.state = State::Connecting {
                since,
                stage,
                stage_since: now,
            };
        }
        match (slot.state, stage) {
            (State::Connecting { since, .. }, Stage::Up) => {
                slot.state = State::Up { at: now };
                self.stats.connecting -= 1;
                self.stats.up += 1;
                self.latencies.push(now.saturating_duration_since(since));
                self.first_up.get_or_insert(now);
                self.last_up = Some(now);
                self.up_times.push(now);
                for (sum, t) in self.stage_time.iter_mut().zip(slot.stage_time) {
                    *sum += t;
                }
            }
            (State::Connecting { stage: before, .. }, Stage::Down) => {
                slot.state = State::Failed;
                self.stats.connecting -= 1;
                self.stats.failed += 1;
                let (cause, detail) = failure_cause(before, slot.client.events());
                self.failures.add(&cause, &detail);
            }
            (State::Up { .. }, Stage::Down) => {
                slot.state = State::Dropped;
                self.stats.up -= 1;
                self.stats.dropped += 1;
                let (cause, detail) = failure_cause(Stage::Up, slot.client.events());
                self.drops.add(&cause, &detail);
            }
            _ => {}
        }
        // The timer: the client's next deadline, or the connect timeout if sooner.
        let deadline = match slot.state {
            State::Connecting { since, .. } => Some(since + self.config.connect_timeout),
            _ => None,
        };
        let next = match (slot.client.poll_timeout(), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if matches!(slot.state, State::Failed | State::Dropped) {
            slot.scheduled = None;
            return;
        }
        if let Some(t) = next
            && slot.scheduled.is_none_or(|s| t < s)
        {
            slot.scheduled = Some(t);
            self.timers.push(Reverse((t, i)));
        }
    }

    /// The earliest pending timer.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// One turn of the loop: runs due timers, waits for datagrams at most `max_wait` (or until
    /// the next timer), and processes what arrived. `clock` reads the time.
    pub fn turn(&mut self, max_wait: Duration, clock: impl Fn() -> Instant) -> Result<(), Error> {
        let now = clock();
        self.run_timers(now);
        let wait = match self.next_timer() {
            Some(t) => t.saturating_duration_since(now).min(max_wait),
            None => max_wait,
        };
        // Round up to whole milliseconds so a timer 0.3 ms away is not a busy loop.
        let ms = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let n = match self.epoll.wait(&mut self.events, EpollTimeout::from(ms)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => {
                return Err(Error::Socket {
                    what: "epoll_wait".to_owned(),
                    source: e.into(),
                });
            }
        };
        let now = clock();
        for k in 0..n {
            let Some(ev) = self.events.get(k) else {
                break;
            };
            let i = usize::try_from(ev.data()).unwrap_or(usize::MAX);
            self.receive(i, now);
        }
        self.run_timers(now);
        Ok(())
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, i))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(i) else {
                continue;
            };
            if slot.scheduled != Some(t) {
                continue; // superseded by an earlier entry
            }
            slot.scheduled = None;
            if slot.counter.is_some() {
                continue; // counting: the client is left alone until it leaves that mode
            }
            if let State::Connecting { since, stage, .. } = slot.state
                && now >= since + self.config.connect_timeout
            {
                slot.state = State::Failed;
                self.stats.connecting -= 1;
                self.stats.failed += 1;
                let name = stage_name(stage);
                self.failures.add(
                    &format!("{name}/timeout"),
                    &format!(
                        "not up after {:?} (reached {name})",
                        self.config.connect_timeout
                    ),
                );
                continue;
            }
            slot.client.handle_timeout(now);
            self.after(i, now);
        }
    }

    fn receive(&mut self, i: usize, now: Instant) {
        let server = self.config.server;
        for _ in 0..RECV_BURST {
            let Some(slot) = self.slots.get_mut(i) else {
                return;
            };
            let meta = match tun::recv_with_pktinfo(&slot.socket, &mut self.rx) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable from a stopped server) surface here.
                Err(_) => break,
            };
            let (len, from) = (meta.len, meta.source);
            let Some(data) = self.rx.get(..len) else {
                continue;
            };
            // The datagrams of a coalesced read: `segment` bytes each but the last.
            let datagrams = data.chunks(meta.datagram_len());
            if *from.ip() != server {
                let n = datagrams.len().max(1) as u64;
                self.stats.received += n;
                self.stats.strangers += n;
                continue;
            }
            if let Some(c) = &mut slot.counter {
                for datagram in datagrams {
                    self.stats.received += 1;
                    c.packets += 1;
                    c.bytes += datagram.len() as u64;
                    if c.sample_every > 0
                        && c.packets.is_multiple_of(c.sample_every)
                        && c.samples.len() < c.max_samples
                    {
                        c.samples.push(datagram.to_vec());
                    }
                }
                continue;
            }
            self.stats.received += 1;
            if matches!(slot.state, State::Failed | State::Dropped | State::Idle) {
                continue;
            }
            let port = if from.port() == NAT_T_PORT {
                NAT_T_PORT
            } else {
                IKE_PORT
            };
            let local = SocketAddr::new((*slot.addr.ip()).into(), port);
            slot.client
                .handle_udp(now, local, SocketAddr::V4(from), data);
            self.after(i, now);
        }
    }

    /// Datagrams received by every client in counting mode so far.
    pub fn counted_packets(&self) -> u64 {
        self.slots
            .iter()
            .filter_map(|s| s.counter.as_ref())
            .map(|c| c.packets)
            .sum()
    }

    /// Feeds a datagram kept in counting mode to client `i` as if it arrived now from the
    /// server's NAT-T port, and sends what the client answers.
    pub fn replay(&mut self, i: usize, datagram: &[u8], now: Instant) {
        let server = self.config.server;
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let local = SocketAddr::new((*slot.addr.ip()).into(), NAT_T_PORT);
        let remote = SocketAddr::new(server.into(), NAT_T_PORT);
        slot.client.handle_udp(now, local, remote, datagram);
        self.after(i, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_name_the_stage_and_the_reason() {
        let (c, d) = failure_cause(Stage::MainMode, &[ClientEvent::IkeTimeout]);
        assert_eq!(c, "main_mode/ike_timeout");
        assert!(d.contains("stopped answering"));
        let (c, d) = failure_cause(
            Stage::QuickMode,
            &[ClientEvent::IkeRefused("NO-PROPOSAL-CHOSEN".to_owned())],
        );
        assert_eq!(
            (c.as_str(), d.as_str()),
            ("quick_mode/ike_refused", "NO-PROPOSAL-CHOSEN")
        );
        // An authentication failure wins over the Down that follows it.
        let (c, _) = failure_cause(
            Stage::Ppp,
            &[
                ClientEvent::AuthFailed { windows_error: 691 },
                ClientEvent::Down("PPP down: auth".to_owned()),
            ],
        );
        assert_eq!(c, "ppp/auth_failed_691");
        let (c, d) = failure_cause(
            Stage::L2tpTunnel,
            &[ClientEvent::Down("L2TP tunnel down: StopCCN".to_owned())],
        );
        assert_eq!(
            (c.as_str(), d.as_str()),
            ("l2tp_tunnel/down", "L2TP tunnel down: StopCCN")
        );
        assert_eq!(failure_cause(Stage::Ppp, &[]).0, "ppp/other");
    }
}
