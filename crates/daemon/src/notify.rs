//! Telling a service manager how the daemon is doing: the `sd_notify` datagram protocol
//! (systemd's sd_notify(3) and "Service Notifications" in systemd.service(5)).
//!
//! When the daemon is started with `Type=notify`, systemd passes the path of a Unix datagram
//! socket in `NOTIFY_SOCKET` (a file system path, or an abstract name written with a leading
//! `@`). Each message is one datagram of newline-separated `KEY=VALUE` assignments:
//! - `READY=1` once the sockets are bound, the TUN device is up and the loop runs;
//! - `RELOADING=1` (with `MONOTONIC_USEC`, the time it started) before a reload of users.yaml
//!   and `READY=1` after it;
//! - `STOPPING=1` when a shutdown starts;
//! - `WATCHDOG=1` every half of `WATCHDOG_USEC` (`WatchdogSec=`), sent from the owner's loop,
//!   so a loop that stops turning stops the pings and systemd restarts the daemon;
//! - `STATUS=...` a line for `systemctl status`.
//!
//! `WATCHDOG_USEC` applies only to the process named in `WATCHDOG_PID` when that is set.
//! Without `NOTIFY_SOCKET` every call here does nothing, so the daemon behaves the same outside
//! systemd. A failed send is logged once at debug level and otherwise ignored: the service
//! manager's troubles never stop the VPN.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

use tracing::debug;

/// Where the service manager listens, parsed from `NOTIFY_SOCKET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A socket in the file system.
    Path(std::path::PathBuf),
    /// A Linux abstract socket name (written `@name`; the leading NUL is implied).
    Abstract(Vec<u8>),
}

impl Target {
    /// Parses `NOTIFY_SOCKET`. Anything but an absolute path or `@name` is ignored, as
    /// sd_notify(3) does.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        if let Some(name) = value.strip_prefix('@') {
            (!name.is_empty()).then(|| Self::Abstract(name.as_bytes().to_vec()))
        } else if value.starts_with('/') {
            Some(Self::Path(value.into()))
        } else {
            None
        }
    }

    fn address(&self) -> std::io::Result<SocketAddr> {
        match self {
            Self::Path(p) => SocketAddr::from_pathname(p),
            Self::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name)
            }
        }
    }
}

/// The watchdog interval to keep, from `WATCHDOG_USEC` and `WATCHDOG_PID`: half the timeout,
/// and only if the timeout is meant for process `pid`.
pub(crate) fn watchdog_interval(
    usec: Option<&str>,
    for_pid: Option<&str>,
    pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(p) = for_pid
        && p.trim().parse::<u32>().ok() != Some(pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec) / 2)
}

/// The daemon's link to the service manager; a no-op when there is none.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    link: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Watchdog>,
    /// A send failed already (logged once).
    failed: bool,
}

/// When the next watchdog ping is due.
#[derive(Debug, Clone, Copy)]
struct Watchdog {
    every: Duration,
    next: Instant,
}

impl Notifier {
    /// From the process environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`).
    pub(crate) fn from_env(now: Instant) -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self::new(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            now,
        )
    }

    /// From the values of `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub(crate) fn new(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        now: Instant,
    ) -> Self {
        let Some(target) = socket.and_then(Target::parse) else {
            return Self::default();
        };
        let link = match (UnixDatagram::unbound(), target.address()) {
            (Ok(sock), Ok(addr)) => {
                // A stuck service manager must never block the owner's loop.
                let _ = sock.set_nonblocking(true);
                Some((sock, addr))
            }
            (Err(e), _) | (_, Err(e)) => {
                debug!("NOTIFY_SOCKET is set but unusable: {e}");
                None
            }
        };
        let watchdog = link.as_ref().and_then(|_| {
            watchdog_interval(watchdog_usec, watchdog_pid, std::process::id())
                .map(|every| Watchdog { every, next: now })
        });
        Self {
            link,
            watchdog,
            failed: false,
        }
    }

    /// Whether a service manager is listening.
    pub(crate) fn is_active(&self) -> bool {
        self.link.is_some()
    }

    /// The watchdog ping interval, if systemd asked for pings.
    pub(crate) fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w.every)
    }

    /// How often an idle loop must wake to keep the pings on time: half the ping interval.
    /// Waking once per interval is not enough: a wake-up that comes a moment early finds no
    /// ping due and the next one comes a whole interval later, so two pings could be the full
    /// `WATCHDOG_USEC` apart. Half-interval wake-ups keep them at most 3/4 of it apart.
    pub(crate) fn watchdog_wake(&self) -> Option<Duration> {
        self.watchdog.map(|w| w.every / 2)
    }

    /// Sends one message (newline-separated assignments).
    pub(crate) fn send(&mut self, message: &str) {
        let Some((sock, addr)) = &self.link else {
            return;
        };
        if let Err(e) = sock.send_to_addr(message.as_bytes(), addr)
            && !self.failed
        {
            self.failed = true;
            debug!("cannot notify the service manager: {e}");
        }
    }

    /// The daemon is serving.
    pub(crate) fn ready(&mut self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// A reload starts at `monotonic_usec` (`CLOCK_MONOTONIC`, if it could be read).
    pub(crate) fn reloading(&mut self, monotonic_usec: Option<u64>) {
        let mut message = String::from("RELOADING=1\n");
        if let Some(t) = monotonic_usec {
            message.push_str(&format!("MONOTONIC_USEC={t}\n"));
        }
        message.push_str("STATUS=reloading the users file");
        self.send(&message);
    }

    /// A shutdown starts.
    pub(crate) fn stopping(&mut self) {
        self.send("STOPPING=1\nSTATUS=disconnecting clients and stopping");
    }

    /// Sends `WATCHDOG=1` if a ping is due at `now`; call it on every turn of the loop.
    pub(crate) fn watchdog(&mut self, now: Instant) {
        let Some(w) = &mut self.watchdog else {
            return;
        };
        if now < w.next {
            return;
        }
        w.next = now + w.every;
        self.send("WATCHDOG=1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(clippy::disallowed_methods, reason = "a test needs some instant")]
    fn t0() -> Instant {
        Instant::now()
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("l2tpd-notify-{tag}-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn pending(sock: &UnixDatagram) -> bool {
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let got = sock.recv(&mut buf).is_ok();
        sock.set_nonblocking(false).unwrap();
        got
    }

    #[test]
    fn notify_socket_values() {
        assert_eq!(
            Target::parse("/run/systemd/notify"),
            Some(Target::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            Target::parse("@/org/freedesktop/systemd1/notify/123"),
            Some(Target::Abstract(
                b"/org/freedesktop/systemd1/notify/123".to_vec()
            ))
        );
        assert_eq!(Target::parse("relative/path"), None);
        assert_eq!(Target::parse("@"), None);
        assert_eq!(Target::parse(""), None);
    }

    #[test]
    fn watchdog_is_half_the_timeout_and_only_for_our_pid() {
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, Some("7"), 7), None);
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = temp_dir("path");
        let path = dir.join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let now = t0();
        let mut n = Notifier::new(path.to_str(), Some("2000000"), None, now);
        assert!(n.is_active());
        assert_eq!(n.watchdog_every(), Some(Duration::from_secs(1)));

        n.ready("serving 3 users");
        assert_eq!(recv(&listener), "READY=1\nSTATUS=serving 3 users");
        n.reloading(Some(12_345_678));
        assert_eq!(
            recv(&listener),
            "RELOADING=1\nMONOTONIC_USEC=12345678\nSTATUS=reloading the users file"
        );
        n.reloading(None);
        assert_eq!(
            recv(&listener),
            "RELOADING=1\nSTATUS=reloading the users file"
        );
        n.stopping();
        assert!(recv(&listener).starts_with("STOPPING=1\n"));

        // The first ping at once, then one per interval, never more often.
        n.watchdog(now);
        assert_eq!(recv(&listener), "WATCHDOG=1");
        n.watchdog(now + Duration::from_millis(999));
        assert!(!pending(&listener), "no ping before the interval");
        n.watchdog(now + Duration::from_millis(1000));
        assert_eq!(recv(&listener), "WATCHDOG=1");
        n.watchdog(now + Duration::from_millis(1500));
        assert!(!pending(&listener));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn early_idle_wake_ups_keep_pings_within_three_quarters_of_the_timeout() {
        let dir = temp_dir("early");
        let path = dir.join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let now = t0();
        // WATCHDOG_USEC 2 s: pings every 1 s, idle wake-ups every 0.5 s, each one 1 ms early.
        let mut n = Notifier::new(path.to_str(), Some("2000000"), None, now);
        let wake = n.watchdog_wake().unwrap();
        assert_eq!(wake, Duration::from_millis(500));
        let mut last_ping = None;
        let mut longest = Duration::ZERO;
        let mut t = now;
        for _ in 0..40 {
            n.watchdog(t);
            // `pending` takes the ping it finds.
            if pending(&listener) {
                if let Some(l) = last_ping {
                    longest = longest.max(t - l);
                }
                last_ping = Some(t);
            }
            t += wake - Duration::from_millis(1);
        }
        assert!(
            longest <= Duration::from_millis(1500),
            "pings {longest:?} apart with a 2 s watchdog"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("l2tpd-rs-notify-test-{}", std::process::id());
        let listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let mut n = Notifier::new(Some(&format!("@{name}")), None, None, t0());
        assert!(n.is_active());
        assert_eq!(n.watchdog_every(), None, "no WATCHDOG_USEC, no pings");
        n.ready("x");
        assert_eq!(recv(&listener), "READY=1\nSTATUS=x");
        n.watchdog(t0() + Duration::from_secs(3600));
        assert!(!pending(&listener));
    }

    #[test]
    fn without_notify_socket_nothing_is_sent() {
        let mut n = Notifier::new(None, Some("2000000"), None, t0());
        assert!(!n.is_active());
        assert_eq!(n.watchdog_every(), None);
        // Nothing to send to: these must be no-ops, not errors.
        n.ready("x");
        n.watchdog(t0());
        n.stopping();
    }

    #[test]
    fn a_vanished_manager_does_not_fail_the_daemon() {
        let dir = temp_dir("gone");
        let path = dir.join("notify");
        let mut n = Notifier::new(path.to_str(), None, None, t0());
        assert!(n.is_active());
        n.ready("x");
        n.ready("y");
        assert!(n.failed, "the failure is noted (and logged once)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
