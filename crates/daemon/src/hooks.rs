//! Session hooks (`hooks.session_up` / `hooks.session_down` in l2tpd.yaml): a command run when
//! a session gets its address and when it ends, as pppd runs `/etc/ppp/ip-up` and `ip-down`.
//!
//! - The command is an argument vector run directly, never through a shell, so nothing a
//!   client sends (user name, host and vendor strings) can become shell syntax. What happened
//!   is in the environment, which is cleared first and then holds only `PATH` and the
//!   `L2TPD_*` variables ([`environment`]).
//! - Each run gets `hooks.timeout_secs`; then it is killed and that is logged. A non-zero exit
//!   is logged. Output goes nowhere (use `logger` in the script to reach the journal).
//! - Runs happen beside the server, never in its way: at most [`MAX_RUNNING`] at once, and at
//!   most [`MAX_WAITING`] waiting for a slot; beyond that a run is skipped with a warning.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use server::Event;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// Hooks running at once.
pub(crate) const MAX_RUNNING: usize = 16;
/// Hooks waiting for a slot before new ones are skipped.
pub(crate) const MAX_WAITING: usize = 1024;

/// The `PATH` hooks see.
const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The configured hooks and their bounds.
#[derive(Debug, Clone)]
pub(crate) struct Hooks {
    up: Vec<String>,
    down: Vec<String>,
    timeout: Duration,
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Hooks {
    pub(crate) fn new(config: &config::Hooks) -> Self {
        Self {
            up: config.session_up.clone(),
            down: config.session_down.clone(),
            timeout: Duration::from_secs(config.timeout_secs),
            slots: Arc::new(Semaphore::new(MAX_RUNNING)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Starts the hook `event` calls for, if one is configured. Needs a tokio runtime.
    pub(crate) fn on_event(&self, event: &Event) {
        let argv = match event {
            Event::SessionUp { .. } => &self.up,
            Event::SessionDown { .. } => &self.down,
            _ => return,
        };
        let (Some(program), Some(env)) = (argv.first(), environment(event)) else {
            return;
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            warn!(hook = %program, "too many hooks waiting to run: this one is skipped");
            return;
        }
        let (program, args) = (program.clone(), argv[1..].to_vec());
        let (slots, waiting, timeout) = (
            Arc::clone(&self.slots),
            Arc::clone(&self.waiting),
            self.timeout,
        );
        tokio::spawn(async move {
            let permit = slots.acquire_owned().await;
            waiting.fetch_sub(1, Ordering::AcqRel);
            let Ok(_permit) = permit else {
                return;
            };
            run(&program, &args, &env, timeout).await;
        });
    }
}

/// Runs one hook to completion or its timeout, and logs what went wrong.
async fn run(program: &str, args: &[String], env: &[(&'static str, String)], timeout: Duration) {
    let event = env
        .iter()
        .find(|(k, _)| *k == "L2TPD_EVENT")
        .map_or("", |(_, v)| v.as_str());
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", HOOK_PATH)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            warn!(hook = %program, event, "cannot run the hook: {e}");
            return;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => debug!(hook = %program, event, "hook done"),
        Ok(Ok(status)) => warn!(hook = %program, event, "the hook failed: {status}"),
        Ok(Err(e)) => warn!(hook = %program, event, "cannot wait for the hook: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            warn!(
                hook = %program,
                event,
                "the hook ran longer than hooks.timeout_secs ({} s) and was killed",
                timeout.as_secs()
            );
        }
    }
}

/// Routed networks as `a.b.c.d/len`, separated by spaces.
fn join_routes(routes: &[ipnetwork::Ipv4Network]) -> String {
    routes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The variables a hook gets for `event` (`None` for events without a hook). Text a client
/// chose is passed as it is, except NUL, which no environment can hold (shown as `\0`).
pub(crate) fn environment(event: &Event) -> Option<Vec<(&'static str, String)>> {
    let clean = |s: &str| s.replace('\0', "\\0");
    Some(match event {
        Event::SessionUp {
            session,
            user,
            addr,
            client,
            setup,
            os_hint,
            ike_auth,
            ike_peer_id,
            routes,
        } => vec![
            ("L2TPD_EVENT", "session-up".to_owned()),
            ("L2TPD_SESSION_ID", session.to_string()),
            ("L2TPD_USER", clean(user)),
            ("L2TPD_ASSIGNED_IP", addr.to_string()),
            ("L2TPD_CLIENT_IP", client.ip().to_string()),
            ("L2TPD_CLIENT_PORT", client.port().to_string()),
            ("L2TPD_OS_HINT", clean(os_hint)),
            ("L2TPD_SETUP_MS", setup.as_millis().to_string()),
            ("L2TPD_IKE_AUTH", ike_auth.clone()),
            (
                "L2TPD_IKE_ID",
                clean(ike_peer_id.as_deref().unwrap_or_default()),
            ),
            ("L2TPD_ROUTES", join_routes(routes)),
        ],
        Event::SessionDown {
            session,
            user,
            client,
            reason,
            cause,
            addr,
            os_hint,
            connected,
            traffic,
            routes,
        } => vec![
            ("L2TPD_EVENT", "session-down".to_owned()),
            ("L2TPD_SESSION_ID", session.to_string()),
            ("L2TPD_USER", clean(user.as_deref().unwrap_or_default())),
            (
                "L2TPD_ASSIGNED_IP",
                addr.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("L2TPD_CLIENT_IP", client.ip().to_string()),
            ("L2TPD_CLIENT_PORT", client.port().to_string()),
            ("L2TPD_OS_HINT", clean(os_hint)),
            ("L2TPD_REASON", clean(reason)),
            ("L2TPD_END_CAUSE", cause.as_str().to_owned()),
            ("L2TPD_CONNECTED_SECS", connected.as_secs().to_string()),
            ("L2TPD_BYTES_IN", traffic.bytes_in.to_string()),
            ("L2TPD_BYTES_OUT", traffic.bytes_out.to_string()),
            ("L2TPD_PACKETS_IN", traffic.packets_in.to_string()),
            ("L2TPD_PACKETS_OUT", traffic.packets_out.to_string()),
            ("L2TPD_ROUTES", join_routes(routes)),
        ],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use server::SessionTraffic;

    use super::*;

    fn get<'a>(env: &'a [(&'static str, String)], key: &str) -> &'a str {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn up_and_down_environments() {
        let client = SocketAddr::from(([198, 51, 100, 7], 4500));
        let session: server::SessionId = "1a-00070003".parse().unwrap();
        let up = environment(&Event::SessionUp {
            session,
            user: "CORP\\alice".into(),
            addr: "10.99.0.2".parse().unwrap(),
            client,
            setup: Duration::from_millis(1234),
            os_hint: "MS NT5 v4, x\0y".into(),
            ike_auth: "cert".into(),
            ike_peer_id: Some("CN=alice,O=Example".into()),
            routes: vec![
                "192.168.50.0/24".parse().unwrap(),
                "172.16.0.0/16".parse().unwrap(),
            ],
        })
        .unwrap();
        assert_eq!(get(&up, "L2TPD_EVENT"), "session-up");
        assert_eq!(get(&up, "L2TPD_SESSION_ID"), "1a-00070003");
        assert_eq!(get(&up, "L2TPD_USER"), "CORP\\alice");
        assert_eq!(get(&up, "L2TPD_ASSIGNED_IP"), "10.99.0.2");
        assert_eq!(get(&up, "L2TPD_CLIENT_IP"), "198.51.100.7");
        assert_eq!(get(&up, "L2TPD_CLIENT_PORT"), "4500");
        assert_eq!(get(&up, "L2TPD_OS_HINT"), "MS NT5 v4, x\\0y");
        assert_eq!(get(&up, "L2TPD_SETUP_MS"), "1234");
        assert_eq!(get(&up, "L2TPD_IKE_AUTH"), "cert");
        assert_eq!(get(&up, "L2TPD_IKE_ID"), "CN=alice,O=Example");
        assert_eq!(get(&up, "L2TPD_ROUTES"), "192.168.50.0/24 172.16.0.0/16");
        let down = environment(&Event::SessionDown {
            session,
            user: None,
            client,
            reason: "LCP echo timeout".into(),
            cause: server::EndCause::LostCarrier,
            addr: None,
            os_hint: String::new(),
            routes: Vec::new(),
            connected: Duration::from_secs(61),
            traffic: SessionTraffic {
                bytes_in: 1,
                bytes_out: 2,
                packets_in: 3,
                packets_out: 4,
            },
        })
        .unwrap();
        assert_eq!(get(&down, "L2TPD_EVENT"), "session-down");
        assert_eq!(get(&down, "L2TPD_USER"), "");
        assert_eq!(get(&down, "L2TPD_ROUTES"), "");
        assert_eq!(get(&down, "L2TPD_ASSIGNED_IP"), "");
        assert_eq!(get(&down, "L2TPD_REASON"), "LCP echo timeout");
        assert_eq!(get(&down, "L2TPD_END_CAUSE"), "lost_carrier");
        assert_eq!(get(&down, "L2TPD_CONNECTED_SECS"), "61");
        assert_eq!(get(&down, "L2TPD_BYTES_OUT"), "2");
        assert_eq!(get(&down, "L2TPD_PACKETS_OUT"), "4");
        assert!(
            environment(&Event::KeylogLine("x".into())).is_none(),
            "no hook for other events"
        );
    }

    /// A real run: the hook sees only PATH and our variables, and a shell-looking user name
    /// is data; a hook that overruns is killed.
    #[tokio::test]
    #[allow(clippy::disallowed_methods)] // real time: a real process is killed
    async fn runs_without_a_shell_with_a_clean_environment_and_a_timeout() {
        let dir = std::env::temp_dir().join(format!("l2tpd-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("env.txt");
        let env = vec![
            ("L2TPD_EVENT", "session-up".to_owned()),
            ("L2TPD_USER", "$(touch /tmp/pwned); `id`".to_owned()),
        ];
        let args = vec!["-c".to_owned(), format!("env > {}", out.display())];
        run("/bin/sh", &args, &env, Duration::from_secs(5)).await;
        let seen = std::fs::read_to_string(&out).unwrap();
        assert!(
            seen.lines()
                .any(|l| l == "L2TPD_USER=$(touch /tmp/pwned); `id`"),
            "{seen}"
        );
        assert!(
            seen.lines().any(|l| l == format!("PATH={HOOK_PATH}")),
            "{seen}"
        );
        assert!(!seen.contains("HOME=") && !seen.contains("CARGO"), "{seen}");
        let started = std::time::Instant::now();
        run(
            "/bin/sh",
            &["-c".to_owned(), "sleep 30".to_owned()],
            &env,
            Duration::from_millis(300),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
