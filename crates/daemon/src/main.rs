//! `l2tpd-rs`: the L2TP/IPsec remote-access VPN server.
//!
//! Subcommands:
//! - `run`: load the configuration and users, bind UDP 500/4500 (and optionally raw ESP), open
//!   the TUN device, serve the control socket and drive [`server::Server`] (see [`run`]).
//! - `status`: ask a running daemon for its [`server::Snapshot`] and print a table that fits
//!   a terminal, every detail with `--wide`, or JSON (see [`status`]).
//! - `check-config`: validate `l2tpd.yaml` and `users.yaml`, printing every problem.
//! - `hash-password`: print the NT hash (RFC 2759 §8.3) of a password for `users.yaml`.
//! - `client-config`: print one user's connection for Windows (a PowerShell script), Windows
//!   XP (filled-in steps), Apple (a `.mobileconfig`), Linux (a NetworkManager keyfile) or
//!   Android (filled-in steps), made from the server's configuration (see [`client_config`]).
//!
//! This is the only crate that reads the clock ([`clock`]), the OS random number generator and
//! uses tokio (ARCHITECTURE.md "Crates").

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod accounting;
mod acct_id;
mod check;
mod client_config;
mod clock;
mod coalesce;
mod control;
mod datapath;
mod dynauth;
mod files;
mod gso;
mod hooks;
mod kick;
mod logging;
mod metrics;
mod notify;
mod pki;
mod reload;
mod remote_auth;
mod run;
mod status;
mod tick;
mod workers;

/// The configuration file used when `--config` is not given and it exists: a source checkout's
/// example, relative to the working directory.
const DEFAULT_CONFIG: &str = "config/l2tpd.yaml";

/// The installed configuration (the Debian package's), used when `--config` is not given and
/// [`DEFAULT_CONFIG`] does not exist.
const SYSTEM_CONFIG: &str = "/etc/l2tpd-rs/l2tpd.yaml";

/// What `--config` means when it is not given.
const CONFIG_HELP: &str = "The configuration file [default: config/l2tpd.yaml if it exists, else /etc/l2tpd-rs/l2tpd.yaml]";

/// The configuration file when `--config` is not given: [`DEFAULT_CONFIG`] if it exists, else
/// [`SYSTEM_CONFIG`].
fn default_config(checkout_exists: bool) -> PathBuf {
    PathBuf::from(if checkout_exists {
        DEFAULT_CONFIG
    } else {
        SYSTEM_CONFIG
    })
}

/// `--config`, or the default.
fn config_or_default(config: Option<PathBuf>) -> PathBuf {
    config.unwrap_or_else(|| default_config(Path::new(DEFAULT_CONFIG).exists()))
}

/// L2TP/IPsec remote-access VPN server for the built-in clients of Windows, macOS/iOS and Linux.
#[derive(Debug, Parser)]
#[command(name = "l2tpd-rs", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server in the foreground.
    Run {
        #[arg(long, short, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Append IKE and ESP keys in Wireshark's formats to FILE (debugging only: anyone who
        /// reads the file can decrypt the captured traffic). FILE is kept mode 0600; a symbolic
        /// link, a non-regular file or a file owned by another user is refused.
        #[arg(long, value_name = "FILE")]
        keylog: Option<PathBuf>,
        /// Do not create the TUN device (control plane only; packets for the network are
        /// dropped). For tests and diagnostics without CAP_NET_ADMIN.
        #[arg(long)]
        no_tun: bool,
        /// How log lines are written to standard error (`log_level` and RUST_LOG choose which).
        #[arg(long, value_enum, default_value_t = logging::LogFormat::Auto, value_name = "FORMAT")]
        log_format: logging::LogFormat,
    },
    /// Show the connected sessions of a running daemon.
    ///
    /// One short row per session (user, address, client, OS, state, uptime, traffic) that fits
    /// an 80-100 column terminal; long names end in `…`. Strings the clients sent (user and
    /// host names, vendor strings) are printed escaped.
    Status {
        /// Every detail of each session (IKE and ESP suites, NAT-T dialect, lifetimes, host
        /// name and full OS hints, packet counts), untruncated: rows are long.
        #[arg(long, conflicts_with = "json")]
        wide: bool,
        /// Print the raw JSON snapshot instead of a table.
        #[arg(long)]
        json: bool,
        /// Redraw every SECS seconds (2 if not given) until interrupted, like `watch`.
        #[arg(long, short, value_name = "SECS", num_args = 0..=1, default_missing_value = "2",
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        watch: Option<u64>,
        /// Only the sessions of this user (as in users.yaml, or with the client's `DOMAIN\`),
        /// or of this assigned or public IPv4 address.
        #[arg(value_name = "USER|IP")]
        filter: Option<String>,
        /// The configuration file naming the control socket.
        #[arg(long, short, conflicts_with = "socket")]
        config: Option<PathBuf>,
        /// The control socket to talk to (members of `control_socket_group` can use it
        /// without reading the configuration file).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Disconnect sessions of a running daemon: every session of a user, the session with an
    /// assigned address, or every session from a public address (all clients behind that
    /// NAT). The client sees a normal hang-up (PPP, L2TP and IKE say goodbye) and may
    /// connect again; disable the user in users.yaml to keep them out. Exit 1 if nothing
    /// matched.
    Kick {
        /// A user name, or an IPv4 address (assigned, or the client's public address).
        #[arg(value_name = "USER|IP")]
        target: String,
        /// The configuration file naming the control socket.
        #[arg(long, short, conflicts_with = "socket")]
        config: Option<PathBuf>,
        /// The control socket to talk to.
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Validate the configuration and users files; exit 1 if there is any problem.
    ///
    /// Every problem is printed as `file:line: reason`. The accounts and groups the
    /// configuration names must exist. Warnings (such as secrets other users can read) do not
    /// fail the check.
    CheckConfig {
        #[arg(long, short, help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Print the NT hash of a password, for `nt_hash:` in users.yaml (reads the password from
    /// standard input if it is not given; prefer that, command lines are visible to others).
    HashPassword {
        /// The password.
        password: Option<String>,
    },
    /// Print a ready connection for one user, made from the server's configuration (its PSK,
    /// IKE profiles, PPP authentication and client routes). The output holds the PSK: hand it
    /// to the user privately. Exit 2 if the user is unknown or disabled, or no address to
    /// dial is known.
    ClientConfig {
        /// The user, as named in users.yaml (must be enabled).
        user: String,
        /// The client: windows (PowerShell script, Windows 8 and later), xp (filled-in steps),
        /// apple (.mobileconfig for macOS/iOS), linux (NetworkManager-l2tp keyfile), android
        /// (filled-in steps).
        #[arg(long, value_enum)]
        format: client_config::Format,
        #[arg(long, short, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// The address or DNS name clients dial (default: the first listen address that is
        /// neither a wildcard nor loopback).
        #[arg(long, value_name = "HOST")]
        server: Option<String>,
        /// The connection's name on the client.
        #[arg(long, default_value = client_config::DEFAULT_NAME)]
        name: String,
        /// Include the user's password, if users.yaml holds it in clear text (not with only
        /// an `nt_hash`).
        #[arg(long)]
        with_password: bool,
        /// Write to FILE (created mode 0600) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// A small certificate authority for certificate authentication: the CA, the server
    /// certificate with the names and addresses Windows checks, client certificates as PKCS#12
    /// files Windows XP and later import, and the revocation list.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            keylog,
            no_tun,
            log_format,
        } => run::main(
            &config_or_default(config),
            keylog.as_deref(),
            no_tun,
            log_format,
        ),
        Command::Status {
            wide,
            json,
            watch,
            filter,
            config,
            socket,
        } => {
            let view = if json {
                status::View::Json
            } else if wide {
                status::View::Wide
            } else {
                status::View::Compact
            };
            status::main(
                view,
                &status::Options {
                    config: config.as_deref(),
                    socket: socket.as_deref(),
                    filter: filter.as_deref(),
                    watch: watch.map(std::time::Duration::from_secs),
                },
            )
        }
        Command::Kick {
            target,
            config,
            socket,
        } => kick::main(&target, config.as_deref(), socket.as_deref()),
        Command::CheckConfig { config } => check::check_config(&config_or_default(config)),
        Command::HashPassword { password } => hash_password(password),
        Command::Pki(cmd) => pki::main(cmd),
        Command::ClientConfig {
            user,
            format,
            config,
            server,
            name,
            with_password,
            output,
        } => client_config::main(&client_config::Request {
            config: &config_or_default(config),
            user: &user,
            format,
            server: server.as_deref(),
            name: &name,
            with_password,
            output: output.as_deref(),
        }),
    }
}

fn hash_password(password: Option<String>) -> ExitCode {
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
                eprintln!("l2tpd-rs: cannot read the password from standard input: {e}");
                return ExitCode::FAILURE;
            }
            let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
            zeroize_string(&mut line);
            trimmed
        }
    };
    if password.is_empty() {
        eprintln!("l2tpd-rs: the password is empty");
        return ExitCode::FAILURE;
    }
    let hash = crypto::mschap::nt_password_hash(&password);
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", hex::encode_upper(hash)).is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn zeroize_string(s: &mut String) {
    // Overwrite in place; `String::clear` alone would leave the bytes in the allocation.
    let len = s.len();
    s.clear();
    s.extend(std::iter::repeat_n('\0', len));
    s.clear();
}

/// The control socket path: `--socket`, else the configuration's `control_socket`, else the
/// default path.
fn socket_path(config: Option<&Path>, socket: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(s) = socket {
        return Ok(s.to_path_buf());
    }
    let config_path = config.map_or_else(|| config_or_default(None), Path::to_path_buf);
    // Without --config, a configuration this user cannot read (the installed one is mode
    // 0600) means the default socket: members of `control_socket_group` need not read it.
    if config.is_none() && std::fs::File::open(&config_path).is_err() {
        return Ok(PathBuf::from(config::DEFAULT_CONTROL_SOCKET));
    }
    match config::Config::load(&config_path) {
        Ok((c, _)) => Ok(c.daemon.control_socket),
        Err(errors) => {
            let mut msg = format!(
                "cannot read the control socket path from {}:",
                config_path.display()
            );
            for e in errors {
                msg.push_str(&format!("\n  {e}"));
            }
            msg.push_str("\n(or name the socket with --socket PATH)");
            Err(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_the_checkout_s_else_the_installed_one() {
        assert_eq!(default_config(true), PathBuf::from("config/l2tpd.yaml"));
        assert_eq!(
            default_config(false),
            PathBuf::from("/etc/l2tpd-rs/l2tpd.yaml")
        );
    }

    #[test]
    fn help_documents_the_new_options() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let run = cmd.find_subcommand_mut("run").unwrap();
        let help = run.render_long_help().to_string();
        assert!(help.contains("--log-format"), "{help}");
        assert!(help.contains("journald"), "{help}");
        assert!(help.contains("/etc/l2tpd-rs/l2tpd.yaml"), "{help}");
    }
}
