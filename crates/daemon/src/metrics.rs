//! The optional Prometheus endpoint (`metrics.listen` in l2tpd.yaml; off by default).
//!
//! `GET /metrics` answers in the Prometheus text exposition format (version 0.0.4: `# HELP`,
//! `# TYPE`, one sample per line, label values escaped). Everything comes from the owner task:
//! the HTTP task forwards each scrape as a control request ([`Request::Metrics`]), so a scrape
//! sees the same state `l2tpd-rs status` does, and no counter is shared between threads.
//!
//! What is exported:
//! - gauges from the status snapshot: sessions by state, OS family and ESP suite; peers still
//!   negotiating; users loaded; uptime;
//! - counters kept here from the server's events: sessions started and ended, bytes and
//!   packets in and out (ended sessions plus the live ones, so the totals never go back),
//!   successful PPP authentications by method, refusals by layer, cause and Windows error
//!   (IKE proposals and PSK, PPP logins, plain L2TP, limits), NAT rebinding, ESP lifetime
//!   limits, and a histogram of the L2TP + PPP set-up time;
//! - the data plane's counters (packets to the TUN, sealed, handed to the control plane,
//!   drops by reason, MSS clamping, fragmentation) and each worker's packet count;
//! - with `metrics.per_user: true`, sessions and live traffic by user name (one series per
//!   user: off by default for cardinality and privacy).
//!
//! Labels only take values from fixed sets, except the user name behind `per_user`: a client
//! cannot add series by sending odd vendor strings.
//!
//! The HTTP side is deliberately tiny: one request per connection (`Connection: close`), the
//! request head bounded in size and time, at most [`MAX_CONNECTIONS`] scrapes at once, `GET`
//! and `HEAD` only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use server::snapshot::SessionRow;
use server::{Event, SessionTraffic, Snapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::{debug, warn};

use crate::control::{DaemonInfo, Request, Response};
use crate::datapath::Input;

/// Scrapes served at once; more connections are closed at once.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// The longest request head read.
const MAX_REQUEST_HEAD: usize = 8192;
/// How long a scraper may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bounds (seconds) of the set-up time histogram's buckets.
const SETUP_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Counters kept from the server's events.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    sessions_started: u64,
    sessions_ended: u64,
    /// Traffic of the sessions that ended.
    ended: SessionTraffic,
    auth_ok: BTreeMap<&'static str, u64>,
    refusals: BTreeMap<(&'static str, &'static str, Option<u32>), u64>,
    client_moves: u64,
    esp_soft: u64,
    esp_hard: u64,
    /// Cumulative counts per bucket are computed when rendering; these are per bucket, the
    /// last one for "+Inf".
    setup_counts: [u64; SETUP_BUCKETS.len() + 1],
    setup_sum: f64,
}

impl Metrics {
    /// Counts one server event.
    pub(crate) fn observe(&mut self, event: &Event) {
        match event {
            Event::Authenticated { method, .. } => *self.auth_ok.entry(method).or_default() += 1,
            Event::SessionUp { setup, .. } => {
                self.sessions_started += 1;
                let secs = setup.as_secs_f64();
                let bucket = SETUP_BUCKETS
                    .iter()
                    .position(|le| secs <= *le)
                    .unwrap_or(SETUP_BUCKETS.len());
                if let Some(c) = self.setup_counts.get_mut(bucket) {
                    *c += 1;
                }
                self.setup_sum += secs;
            }
            Event::SessionDown { traffic, .. } => {
                self.sessions_ended += 1;
                self.ended.bytes_in += traffic.bytes_in;
                self.ended.bytes_out += traffic.bytes_out;
                self.ended.packets_in += traffic.packets_in;
                self.ended.packets_out += traffic.packets_out;
            }
            Event::Refused { cause, .. } => {
                *self
                    .refusals
                    .entry((cause.layer, cause.cause, cause.windows_error))
                    .or_default() += 1;
            }
            Event::ClientMoved { .. } => self.client_moves += 1,
            Event::EspLifetime { hard, .. } => {
                if *hard {
                    self.esp_hard += 1;
                } else {
                    self.esp_soft += 1;
                }
            }
            _ => {}
        }
    }

    /// The exposition text.
    pub(crate) fn render(&self, s: &Snapshot, info: &DaemonInfo, per_user: bool) -> String {
        let mut out = Text::default();
        out.family("l2tpd_build_info", "gauge", "The running version.");
        out.sample("l2tpd_build_info", &[("version", &info.version)], 1);
        out.family(
            "l2tpd_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        out.sample("l2tpd_uptime_seconds", &[], s.uptime_secs);
        out.family("l2tpd_users_loaded", "gauge", "Users in users.yaml.");
        out.sample("l2tpd_users_loaded", &[], info.users as u64);

        // Sessions by state, OS family and ESP suite.
        let mut groups: BTreeMap<(String, &'static str, String), u64> = BTreeMap::new();
        for r in &s.sessions {
            *groups
                .entry((state_label(&r.state), os_family(&r.os_hint), suite_label(r)))
                .or_default() += 1;
        }
        out.family(
            "l2tpd_sessions",
            "gauge",
            "PPP sessions, by state, OS family and ESP cipher suite.",
        );
        for ((state, os, suite), n) in &groups {
            out.sample(
                "l2tpd_sessions",
                &[("state", state), ("os", os), ("suite", suite)],
                *n,
            );
        }
        out.family(
            "l2tpd_peers_negotiating",
            "gauge",
            "IKE peers without a PPP session yet.",
        );
        out.sample("l2tpd_peers_negotiating", &[], s.pending_peers.len() as u64);

        out.family(
            "l2tpd_sessions_started_total",
            "counter",
            "Sessions that got an address by IPCP.",
        );
        out.sample("l2tpd_sessions_started_total", &[], self.sessions_started);
        out.family(
            "l2tpd_sessions_ended_total",
            "counter",
            "Sessions that ended, for any reason.",
        );
        out.sample("l2tpd_sessions_ended_total", &[], self.sessions_ended);

        // Traffic: what ended sessions carried plus what the live ones carry so far.
        let mut live = SessionTraffic::default();
        for r in &s.sessions {
            live.bytes_in += r.bytes_in;
            live.bytes_out += r.bytes_out;
            live.packets_in += r.packets_in;
            live.packets_out += r.packets_out;
        }
        out.family(
            "l2tpd_traffic_bytes_total",
            "counter",
            "IPv4 bytes through the tunnels (in: from clients).",
        );
        out.sample(
            "l2tpd_traffic_bytes_total",
            &[("direction", "in")],
            self.ended.bytes_in + live.bytes_in,
        );
        out.sample(
            "l2tpd_traffic_bytes_total",
            &[("direction", "out")],
            self.ended.bytes_out + live.bytes_out,
        );
        out.family(
            "l2tpd_traffic_packets_total",
            "counter",
            "IPv4 packets through the tunnels (in: from clients).",
        );
        out.sample(
            "l2tpd_traffic_packets_total",
            &[("direction", "in")],
            self.ended.packets_in + live.packets_in,
        );
        out.sample(
            "l2tpd_traffic_packets_total",
            &[("direction", "out")],
            self.ended.packets_out + live.packets_out,
        );

        out.family(
            "l2tpd_ppp_auth_success_total",
            "counter",
            "Successful PPP authentications, by method.",
        );
        for (method, n) in &self.auth_ok {
            out.sample("l2tpd_ppp_auth_success_total", &[("method", method)], *n);
        }
        out.family(
            "l2tpd_refusals_total",
            "counter",
            "Refused negotiations and logins, by layer (ike, ppp, l2tp, limit), cause and the \
             Windows error the user sees.",
        );
        for ((layer, cause, error), n) in &self.refusals {
            let error = error.map_or_else(String::new, |e| e.to_string());
            out.sample(
                "l2tpd_refusals_total",
                &[
                    ("layer", layer),
                    ("cause", cause),
                    ("windows_error", &error),
                ],
                *n,
            );
        }
        out.family(
            "l2tpd_client_moves_total",
            "counter",
            "Clients whose NAT mapping moved (followed to the new address).",
        );
        out.sample("l2tpd_client_moves_total", &[], self.client_moves);
        out.family(
            "l2tpd_esp_lifetime_limits_total",
            "counter",
            "ESP SA pairs that reached a kilobyte lifetime limit.",
        );
        out.sample(
            "l2tpd_esp_lifetime_limits_total",
            &[("limit", "soft")],
            self.esp_soft,
        );
        out.sample(
            "l2tpd_esp_lifetime_limits_total",
            &[("limit", "hard")],
            self.esp_hard,
        );

        out.family(
            "l2tpd_session_setup_seconds",
            "histogram",
            "From the L2TP session's creation to IPCP assigning the address.",
        );
        let mut cumulative = 0;
        for (le, n) in SETUP_BUCKETS.iter().zip(self.setup_counts) {
            cumulative += n;
            out.sample(
                "l2tpd_session_setup_seconds_bucket",
                &[("le", &le.to_string())],
                cumulative,
            );
        }
        let total: u64 = self.setup_counts.iter().sum();
        out.sample(
            "l2tpd_session_setup_seconds_bucket",
            &[("le", "+Inf")],
            total,
        );
        out.sample_f64("l2tpd_session_setup_seconds_sum", &[], self.setup_sum);
        out.sample("l2tpd_session_setup_seconds_count", &[], total);

        let c = &s.counters;
        out.family(
            "l2tpd_dropped_total",
            "counter",
            "Packets dropped, by reason.",
        );
        for (reason, n) in [
            ("malformed", c.malformed),
            ("esp", c.esp_dropped),
            ("spoofed", c.spoofed),
            ("no_session", c.no_session),
            ("plaintext_l2tp", c.plaintext_l2tp_refused),
        ] {
            out.sample("l2tpd_dropped_total", &[("reason", reason)], n);
        }
        if let Some(d) = &info.data_plane {
            out.family(
                "l2tpd_dataplane_packets_total",
                "counter",
                "Packets the data plane carried, by path.",
            );
            for (path, n) in [
                ("to_tun", d.to_tun),
                ("sealed", d.sealed),
                ("to_control_plane", d.to_owner),
                ("ike", d.ike),
            ] {
                out.sample("l2tpd_dataplane_packets_total", &[("path", path)], n);
            }
            for (name, help, n) in [
                (
                    "l2tpd_dataplane_mss_clamped_total",
                    "TCP SYNs whose MSS option was lowered.",
                    d.mss_clamped,
                ),
                (
                    "l2tpd_dataplane_icmp_too_big_total",
                    "ICMP fragmentation-needed errors sent for packets over a client's MTU.",
                    d.icmp_too_big,
                ),
                (
                    "l2tpd_dataplane_fragmented_total",
                    "Packets over a client's MTU that were fragmented.",
                    d.fragmented,
                ),
                (
                    "l2tpd_dataplane_publishes_total",
                    "Session tables published to the data-path threads.",
                    d.publishes,
                ),
                (
                    "l2tpd_dataplane_policed_total",
                    "IPv4 packets dropped by a session's rate limit, both ways.",
                    d.policed,
                ),
            ] {
                out.family(name, "counter", help);
                out.sample(name, &[], n);
            }
        }
        out.family(
            "l2tpd_worker_packets_total",
            "counter",
            "Datagrams and TUN packets each data-path thread read.",
        );
        out.sample(
            "l2tpd_worker_packets_total",
            &[("worker", "owner")],
            info.owner_packets,
        );
        for (i, n) in info.worker_packets.iter().enumerate() {
            out.sample(
                "l2tpd_worker_packets_total",
                &[("worker", &(i + 1).to_string())],
                *n,
            );
        }
        out.family(
            "l2tpd_owner_busy_drops_total",
            "counter",
            "Packets dropped because the control plane's queue was full.",
        );
        out.sample("l2tpd_owner_busy_drops_total", &[], info.owner_busy);

        if per_user {
            let mut users: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
            for r in s.sessions.iter().filter(|r| !r.user.is_empty()) {
                let u = users.entry(r.user.as_str()).or_default();
                u.0 += 1;
                u.1 += r.bytes_in;
                u.2 += r.bytes_out;
            }
            out.family(
                "l2tpd_user_sessions",
                "gauge",
                "Sessions per user (metrics.per_user).",
            );
            for (user, (n, _, _)) in &users {
                out.sample("l2tpd_user_sessions", &[("user", user)], *n);
            }
            out.family(
                "l2tpd_user_traffic_bytes",
                "gauge",
                "Bytes the user's live sessions carried (in: from the client; metrics.per_user).",
            );
            for (user, (_, bytes_in, bytes_out)) in &users {
                out.sample(
                    "l2tpd_user_traffic_bytes",
                    &[("user", user), ("direction", "in")],
                    *bytes_in,
                );
                out.sample(
                    "l2tpd_user_traffic_bytes",
                    &[("user", user), ("direction", "out")],
                    *bytes_out,
                );
            }
        }
        out.0
    }
}

/// The exposition text being written.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn labels(&mut self, name: &str, labels: &[(&str, &str)]) {
        self.0.push_str(name);
        if labels.is_empty() {
            return;
        }
        self.0.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
        }
        self.0.push('}');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.labels(name, labels);
        let _ = writeln!(self.0, " {value}");
    }

    fn sample_f64(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.labels(name, labels);
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A session's state, from the server's fixed set of words.
fn state_label(state: &str) -> String {
    state.replace(' ', "_")
}

/// The OS family behind a session's hints, from a fixed set (clients choose their vendor
/// strings, and must not be able to add series).
fn os_family(hint: &str) -> &'static str {
    let h = hint.to_ascii_lowercase();
    if h.contains("ms nt5") || h.contains("msrasv") || h.contains("microsoft") {
        "windows"
    } else if h.contains("apple") {
        "apple"
    } else if h.contains("android") {
        "android"
    } else if h.contains("xelerance") || h.contains("xl2tpd") || h.contains("linux") {
        "linux"
    } else {
        "other"
    }
}

/// The ESP cipher and integrity, e.g. `ESP-3DES-SHA1`, from a fixed set; `-` before
/// the SA exists.
fn suite_label(r: &SessionRow) -> String {
    let suite = r.esp_suite.split(' ').next().unwrap_or_default();
    let known = suite
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/');
    if suite.is_empty() {
        "-".to_owned()
    } else if known && suite.len() <= 48 {
        suite.to_owned()
    } else {
        "other".to_owned()
    }
}

/// Accepts scrapes until the listener fails.
pub(crate) async fn serve(listener: TcpListener, control: mpsc::Sender<Input>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "metrics endpoint: too many scrapes at once; connection closed");
            continue;
        };
        let control = control.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, control).await {
                debug!(%peer, "metrics scrape failed: {e}");
            }
            drop(permit);
        });
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `GET /metrics` (`head`: `HEAD /metrics`, headers only).
    Metrics { head: bool },
    /// Anything else, answered with this status line and text.
    Error(&'static str, &'static str),
}

/// Reads the request line of an HTTP/1.x request head.
fn route(head: &[u8]) -> Route {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::Error("400 Bad Request", "bad request line\n");
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Route::Error("400 Bad Request", "bad request line\n");
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::Error("405 Method Not Allowed", "only GET /metrics\n"),
    };
    let path = target.split('?').next().unwrap_or_default();
    if path == "/metrics" {
        Route::Metrics { head }
    } else {
        Route::Error("404 Not Found", "the metrics are at /metrics\n")
    }
}

async fn answer(mut stream: TcpStream, control: mpsc::Sender<Input>) -> std::io::Result<()> {
    let head = tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let (status, body, head_only) = match route(&head) {
        Route::Metrics { head } => {
            let (reply_tx, reply_rx) = oneshot::channel();
            let text = if control
                .send(Input::Control(Request::Metrics, reply_tx))
                .await
                .is_ok()
            {
                reply_rx.await.ok().and_then(|r: Response| r.metrics)
            } else {
                None
            };
            match text {
                Some(t) => ("200 OK", t, head),
                None => (
                    "503 Service Unavailable",
                    "the server is shutting down\n".to_owned(),
                    head,
                ),
            }
        }
        Route::Error(status, text) => (status, text.to_owned(), false),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        response.push_str(&body);
    }
    tokio::time::timeout(IO_TIMEOUT, stream.write_all(response.as_bytes()))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let _ = stream.shutdown().await;
    Ok(())
}

/// Reads up to the blank line that ends a request head (or [`MAX_REQUEST_HEAD`] bytes, or the
/// end of the stream).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while head.len() < MAX_REQUEST_HEAD {
        let n = stream.read(&mut buf).await?;
        let Some(read) = buf.get(..n) else {
            break;
        };
        if read.is_empty() {
            break;
        }
        head.extend_from_slice(read);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break;
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use server::snapshot::{Counters, PeerRow};
    use server::{Refusal, SessionRow};

    use super::*;

    fn row(user: &str, os: &str, esp: &str, state: &str, bytes: (u64, u64)) -> SessionRow {
        SessionRow {
            session_id: "1-00010001".into(),
            user: user.into(),
            assigned_ip: None,
            client_public: SocketAddr::from(([198, 51, 100, 7], 4500)),
            nat: true,
            nat_t_dialect: "RFC 3947".into(),
            host_name: String::new(),
            os_hint: os.into(),
            ike_suite: String::new(),
            ike_auth: "psk".into(),
            ike_peer_id: None,
            esp_suite: esp.into(),
            ike_lifetime_left_secs: None,
            esp_lifetime_left_secs: None,
            l2tp_tunnel: (1, 1),
            l2tp_session: (1, 1),
            state: state.into(),
            connected_secs: 5,
            bytes_in: bytes.0,
            bytes_out: bytes.1,
            packets_in: 1,
            packets_out: 2,
            session_timeout_secs: None,
            idle_timeout_secs: None,
            rate_limit_up_bps: None,
            rate_limit_down_bps: None,
            policed_in: 0,
            policed_out: 0,
            routes: Vec::new(),
        }
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn scenario() -> (Metrics, Snapshot, DaemonInfo) {
        let mut m = Metrics::default();
        let client = SocketAddr::from(([198, 51, 100, 7], 4500));
        m.observe(&Event::Authenticated {
            user: "alice".into(),
            client,
            method: "mschapv2",
        });
        for setup in [Duration::from_millis(30), Duration::from_secs(3)] {
            m.observe(&Event::SessionUp {
                session: "1-00010001".parse().unwrap(),
                user: "alice".into(),
                addr: "10.99.0.2".parse().unwrap(),
                client,
                setup,
                os_hint: String::new(),
                ike_auth: "psk".into(),
                ike_peer_id: None,
                routes: Vec::new(),
            });
        }
        m.observe(&Event::SessionDown {
            session: "1-00010001".parse().unwrap(),
            user: Some("alice".into()),
            client,
            reason: "client hung up".into(),
            cause: server::EndCause::ClientRequest,
            addr: None,
            os_hint: String::new(),
            routes: Vec::new(),
            connected: Duration::from_secs(60),
            traffic: SessionTraffic {
                bytes_in: 1000,
                bytes_out: 2000,
                packets_in: 10,
                packets_out: 20,
            },
        });
        for _ in 0..2 {
            m.observe(&Event::Refused {
                client,
                message: "PSK mismatch".into(),
                cause: Refusal {
                    layer: "ike",
                    cause: "psk_mismatch",
                    windows_error: Some(789),
                },
            });
        }
        let snapshot = Snapshot {
            uptime_secs: 77,
            sessions: vec![
                row(
                    "CORP\\bob\"x",
                    "MS NT5 v4 (Windows XP SP2/SP3 or Server 2003), MSRASV5.10",
                    "ESP-3DES-SHA1 UDP-encap transport",
                    "up",
                    (100, 200),
                ),
                row(
                    "",
                    "L2TP vendor \u{1b}[2Jevil\n",
                    "",
                    "negotiating LCP",
                    (0, 0),
                ),
            ],
            pending_peers: vec![PeerRow {
                client_public: client,
                state: "Main Mode".into(),
            }],
            counters: Counters {
                spoofed: 3,
                ..Counters::default()
            },
        };
        let info = DaemonInfo {
            version: "0.1.0".into(),
            users: 4,
            worker_packets: vec![5, 6],
            owner_packets: 7,
            data_plane: Some({
                let mut d = server::DataPlaneStats::default();
                d.policed = 9;
                d
            }),
            ..DaemonInfo::default()
        };
        (m, snapshot, info)
    }

    #[test]
    fn counters_add_ended_and_live_sessions() {
        let (m, s, info) = scenario();
        let text = m.render(&s, &info, false);
        assert_eq!(sample(&text, "l2tpd_uptime_seconds"), Some(77.0));
        assert_eq!(sample(&text, "l2tpd_sessions_started_total"), Some(2.0));
        assert_eq!(sample(&text, "l2tpd_sessions_ended_total"), Some(1.0));
        assert_eq!(sample(&text, "l2tpd_dataplane_policed_total"), Some(9.0));
        assert_eq!(
            sample(&text, "l2tpd_traffic_bytes_total{direction=\"in\"}"),
            Some(1100.0)
        );
        assert_eq!(
            sample(&text, "l2tpd_traffic_packets_total{direction=\"out\"}"),
            Some(24.0)
        );
        assert_eq!(
            sample(&text, "l2tpd_ppp_auth_success_total{method=\"mschapv2\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "l2tpd_refusals_total{layer=\"ike\",cause=\"psk_mismatch\",windows_error=\"789\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, "l2tpd_dropped_total{reason=\"spoofed\"}"),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, "l2tpd_worker_packets_total{worker=\"2\"}"),
            Some(6.0)
        );
        assert_eq!(sample(&text, "l2tpd_peers_negotiating"), Some(1.0));
    }

    #[test]
    fn sessions_are_grouped_by_fixed_labels() {
        let (m, s, info) = scenario();
        let text = m.render(&s, &info, false);
        assert_eq!(
            sample(
                &text,
                "l2tpd_sessions{state=\"up\",os=\"windows\",suite=\"ESP-3DES-SHA1\"}"
            ),
            Some(1.0)
        );
        // A client's vendor string never becomes a label value.
        assert_eq!(
            sample(
                &text,
                "l2tpd_sessions{state=\"negotiating_LCP\",os=\"other\",suite=\"-\"}"
            ),
            Some(1.0),
            "{text}"
        );
        assert!(!text.contains("evil") && !text.contains('\u{1b}'), "{text}");
        // User names only with per_user.
        assert!(!text.contains("bob"), "{text}");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let (m, s, info) = scenario();
        let text = m.render(&s, &info, false);
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("l2tpd_session_setup_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.025"), Some(0.0));
        assert_eq!(bucket("0.05"), Some(1.0));
        assert_eq!(bucket("2.5"), Some(1.0));
        assert_eq!(bucket("5"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(2.0));
        assert_eq!(
            sample(&text, "l2tpd_session_setup_seconds_count"),
            Some(2.0)
        );
        let sum = sample(&text, "l2tpd_session_setup_seconds_sum").unwrap();
        assert!((sum - 3.03).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn per_user_series_escape_the_name() {
        let (m, s, info) = scenario();
        let text = m.render(&s, &info, true);
        assert_eq!(
            sample(&text, "l2tpd_user_sessions{user=\"CORP\\\\bob\\\"x\"}"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                "l2tpd_user_traffic_bytes{user=\"CORP\\\\bob\\\"x\",direction=\"out\"}"
            ),
            Some(200.0),
            "{text}"
        );
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let (m, s, info) = scenario();
        let text = m.render(&s, &info, true);
        let mut types = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(types.insert(name.to_owned()), "{name} twice");
            } else if !line.starts_with("# HELP ") {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| types.contains(*f)))
                    .unwrap_or(name);
                assert!(types.contains(family), "{line}: no # TYPE before it");
            }
        }
    }

    /// The shipped Grafana dashboard only queries series this endpoint exports.
    #[test]
    fn the_dashboard_queries_exported_series() {
        let dashboard = include_str!("../../../docs/grafana-dashboard.json");
        let (m, s, info) = scenario();
        let text = m.render(&s, &info, true);
        let mut names = 0;
        for (i, _) in dashboard.match_indices("l2tpd_") {
            let name: String = dashboard[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names += 1;
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("{name}{{"))
                        || l.starts_with(&format!("{name} "))),
                "the dashboard queries {name}, which is not exported"
            );
        }
        assert!(names >= 10, "{names}");
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics { head: false }
        );
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { head: true }
        );
        assert!(matches!(
            route(b"GET / HTTP/1.1\r\n\r\n"),
            Route::Error("404 Not Found", _)
        ));
        assert!(matches!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Route::Error("405 Method Not Allowed", _)
        ));
        for bad in [
            &b""[..],
            b"GET",
            b"GET /metrics",
            b"GET /metrics SPDY/3\r\n",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(route(bad), Route::Error("400 Bad Request", _)),
                "{bad:?}"
            );
        }
    }
}
