//! [`DaemonConfig`]: the part of `l2tpd.yaml` only the `l2tpd-rs` daemon reads, with its checks.
//!
//! These keys set up the host around the server: the TUN device, the control socket and its
//! group, logging, the users file, the account to drop to and the data-path threads. The
//! sans-IO `server` crate never sees them ([`crate::ServerConfig`] is what it gets). They live
//! here rather than in the daemon because they are keys of the same file: one parser reads
//! `l2tpd.yaml` and reports every problem in it at once, each with its line.

use std::path::PathBuf;

use serde::Deserialize;

use crate::problem::Checker;
use crate::server::PppOptions;

/// The control socket path used when the configuration names none.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/l2tpd-rs/l2tpd-rs.sock";

/// The largest `workers` value accepted.
pub const MAX_WORKERS: u16 = 128;

/// The daemon's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The TUN device.
    pub tun: TunOptions,
    /// The Unix control socket `l2tpd-rs status` talks to (mode 0660).
    pub control_socket: PathBuf,
    /// The group that owns the control socket, so its members may run `l2tpd-rs status`
    /// (`control_socket_group`). `None`: the daemon's own group, as created.
    pub control_socket_group: Option<String>,
    /// The log level (`RUST_LOG` overrides it).
    pub log_level: LogLevel,
    /// The users file (`users.yaml`).
    pub users_file: PathBuf,
    /// Drop root privileges after set-up.
    pub privileges: Option<Privileges>,
    /// Data-path worker threads (`workers`): `None` means one per CPU, decided by the daemon;
    /// `Some(1)` keeps every packet on the single owner task. At most [`MAX_WORKERS`].
    pub workers: Option<u16>,
    /// The Prometheus endpoint (`metrics`); `None`: off (the default).
    pub metrics: Option<MetricsOptions>,
    /// Commands run when sessions come up and go down (`hooks`).
    pub hooks: Hooks,
    /// RADIUS authentication (`radius`); `None`: users.yaml decides (the default).
    pub radius: Option<crate::radius::RadiusOptions>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            tun: TunOptions::default(),
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            control_socket_group: None,
            log_level: LogLevel::default(),
            users_file: PathBuf::from("users.yaml"),
            privileges: None,
            workers: None,
            metrics: None,
            hooks: Hooks::default(),
            radius: None,
        }
    }
}

/// The longest a hook may run (`hooks.timeout_secs`) before it is killed.
pub const MAX_HOOK_TIMEOUT_SECS: u64 = 300;

/// Commands run on session events (`hooks:`), as pppd runs ip-up and ip-down. Each is an
/// argument vector run directly, never through a shell; what happened is in its environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hooks {
    /// Run when a session gets its address (IPCP up): program and arguments.
    pub session_up: Vec<String>,
    /// Run when a session ends.
    pub session_down: Vec<String>,
    /// Seconds a hook may run before it is killed.
    pub timeout_secs: u64,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            session_up: Vec::new(),
            session_down: Vec::new(),
            timeout_secs: 10,
        }
    }
}

pub(crate) fn check_hooks(ck: &mut Checker<'_>, hooks: &Hooks) {
    for (key, argv) in [
        ("session_up", &hooks.session_up),
        ("session_down", &hooks.session_down),
    ] {
        let Some(program) = argv.first() else {
            continue;
        };
        let path = std::path::Path::new(program);
        if !path.is_absolute() {
            ck.error(
                &["hooks", key],
                format!(
                    "hooks.{key}: `{program}` must be an absolute path (hooks run without a \
                     shell and with a minimal PATH)"
                ),
            );
            continue;
        }
        match std::fs::metadata(path) {
            Err(e) => ck.error(
                &["hooks", key],
                format!("hooks.{key}: cannot use `{program}`: {e}"),
            ),
            Ok(m) => {
                use std::os::unix::fs::PermissionsExt;
                if !m.is_file() || m.permissions().mode() & 0o111 == 0 {
                    ck.error(
                        &["hooks", key],
                        format!("hooks.{key}: `{program}` is not an executable file"),
                    );
                } else if m.permissions().mode() & 0o002 != 0 {
                    ck.warn(
                        &["hooks", key],
                        format!(
                            "hooks.{key}: anyone can write to `{program}`, and the daemon runs \
                             it: chmod o-w it"
                        ),
                    );
                }
            }
        }
    }
    if !(1..=MAX_HOOK_TIMEOUT_SECS).contains(&hooks.timeout_secs) {
        ck.error(
            &["hooks", "timeout_secs"],
            format!(
                "hooks.timeout_secs must be between 1 and {MAX_HOOK_TIMEOUT_SECS}, not {}",
                hooks.timeout_secs
            ),
        );
    }
}

/// The Prometheus text-format endpoint (`metrics:`), off unless configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsOptions {
    /// Where `GET /metrics` is served, e.g. `127.0.0.1:9812`.
    pub listen: std::net::SocketAddr,
    /// Also export per-user series (sessions and traffic by user name). Off by default: one
    /// series per user can be many, and user names become visible to whoever scrapes.
    #[serde(default)]
    pub per_user: bool,
}

pub(crate) fn check_metrics(ck: &mut Checker<'_>, metrics: Option<&MetricsOptions>) {
    let Some(m) = metrics else {
        return;
    };
    if m.listen.port() == 0 {
        ck.error(
            &["metrics", "listen"],
            "metrics.listen needs a port, e.g. 127.0.0.1:9812",
        );
    }
    if !m.listen.ip().is_loopback() {
        ck.warn(
            &["metrics", "listen"],
            format!(
                "metrics.listen {} is reachable from the network: the endpoint has no \
                 authentication; firewall it or listen on 127.0.0.1",
                m.listen
            ),
        );
    }
}

/// The TUN device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TunOptions {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// Interface MTU.
    pub mtu: u16,
    /// Add a route for the pool through the device.
    pub create_routes: bool,
    /// Take TCP and UDP towards clients from the kernel unsegmented (up to 64 KiB of one
    /// flow per read) and cut it in the data path; off: one packet per read.
    pub offload: bool,
}

impl Default for TunOptions {
    fn default() -> Self {
        Self {
            name: "l2tp0".to_owned(),
            mtu: 1400,
            create_routes: true,
            offload: true,
        }
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// One line per connection event (default).
    #[default]
    Info,
    /// Protocol detail.
    Debug,
    /// Everything, including packet decodes.
    Trace,
}

impl LogLevel {
    /// The `tracing` filter name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// The unprivileged account to switch to after set-up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privileges {
    /// User name.
    pub user: String,
    /// Group name (default: the user's primary group).
    #[serde(default)]
    pub group: Option<String>,
}

pub(crate) fn check_tun(ck: &mut Checker<'_>, tun: &TunOptions, ppp: &PppOptions) {
    let name = &tun.name;
    if name.is_empty() || name.len() > 15 {
        ck.error(
            &["tun", "name"],
            format!("tun.name `{name}` must be 1 to 15 bytes long"),
        );
    } else if name == "."
        || name == ".."
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
    {
        ck.error(
            &["tun", "name"],
            format!("tun.name `{name}` is not a valid interface name"),
        );
    }
    if !(576..=1500).contains(&tun.mtu) {
        ck.error(
            &["tun", "mtu"],
            format!("tun.mtu {} is outside 576..=1500", tun.mtu),
        );
    } else if tun.mtu > ppp.mru {
        ck.warn(
            &["tun", "mtu"],
            format!(
                "tun.mtu {} is above ppp.mru {}: large packets to clients will be dropped",
                tun.mtu, ppp.mru
            ),
        );
    }
}

pub(crate) fn check_privileges(ck: &mut Checker<'_>, p: Option<&Privileges>) {
    if let Some(p) = p {
        if p.user.trim().is_empty() {
            ck.error(&["privileges", "user"], "privileges.user is empty");
        }
        if p.group.as_deref().is_some_and(|g| g.trim().is_empty()) {
            ck.error(&["privileges", "group"], "privileges.group is empty");
        }
    }
}

pub(crate) fn check_workers(ck: &mut Checker<'_>, workers: Option<u16>) {
    if let Some(n) = workers
        && !(1..=MAX_WORKERS).contains(&n)
    {
        ck.error(
            &["workers"],
            format!("workers must be between 1 and {MAX_WORKERS} (or left out: one per CPU)"),
        );
    }
}

pub(crate) fn check_control_socket(
    ck: &mut Checker<'_>,
    path: &std::path::Path,
    group: Option<&str>,
) {
    if path.as_os_str().to_string_lossy().ends_with('/') {
        ck.error(
            &["control_socket"],
            "control_socket must name a file, not a directory",
        );
    }
    if let Some(g) = group
        && (g.trim().is_empty() || g.contains(['/', ':', '\n']))
    {
        ck.error(
            &["control_socket_group"],
            format!("control_socket_group `{g}` is not a group name"),
        );
    }
}
