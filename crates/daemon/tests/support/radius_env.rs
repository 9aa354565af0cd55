//! What the RADIUS tests share: a FreeRADIUS of the test's own (a copy of the installed
//! configuration, started with `-X`), the daemon started on a configuration file, and the
//! part of that file every one of them writes.
//!
//! Each test includes this file (`#[path = "support/radius_env.rs"] mod radius_env;`) next
//! to `support`; a test that needs no FreeRADIUS uses only the daemon half.
// Each test uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{BIN, TempDir, wait_for_status};

/// The installed FreeRADIUS configuration (Debian's package), only ever read.
pub(crate) const FREERADIUS_CONFIG: &str = "/etc/freeradius/3.0";

/// Kills a child process when the test ends, however it ends.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The FreeRADIUS binary: on the PATH, or where Debian installs it (/usr/sbin is not on every
/// user's PATH).
pub(crate) fn freeradius_bin() -> &'static str {
    if Command::new("freeradius")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        "freeradius"
    } else {
        "/usr/sbin/freeradius"
    }
}

/// Whether `test` can run; panics when it must (`L2TPD_RS_REQUIRE_FREERADIUS=1`, as CI sets)
/// but cannot.
pub(crate) fn freeradius_available(test: &str) -> bool {
    let required = std::env::var_os("L2TPD_RS_REQUIRE_FREERADIUS").is_some_and(|v| v == "1");
    let installed = Command::new(freeradius_bin())
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
        && Path::new(FREERADIUS_CONFIG).is_dir();
    if !installed {
        assert!(
            !required,
            "L2TPD_RS_REQUIRE_FREERADIUS=1 but freeradius (and {FREERADIUS_CONFIG}) is not installed"
        );
        println!("skipping the {test}: freeradius is not installed");
        return false;
    }
    true
}

/// A FreeRADIUS configuration directory in `dir`: the installed one, copied, with one client
/// (127.0.0.1 with `secret`), the users file `authorize` and the one site `site`, and nothing
/// that needs the package's certificates or system directories.
pub(crate) fn freeradius_config(
    dir: &TempDir,
    secret: &str,
    authorize: &str,
    site: &str,
) -> PathBuf {
    let raddb = dir.path("raddb");
    let out = Command::new("cp")
        .arg("-rL")
        .arg(FREERADIUS_CONFIG)
        .arg(&raddb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot copy {FREERADIUS_CONFIG} (run as root to read it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // EAP needs the package's certificates; the inner tunnel is EAP's. Neither is used here.
    let _ = std::fs::remove_file(raddb.join("mods-enabled/eap"));
    for entry in std::fs::read_dir(raddb.join("sites-enabled")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    // Stay the user who runs the test (no switch to `freerad`, who cannot read this copy).
    let conf = raddb.join("radiusd.conf");
    let text: String = std::fs::read_to_string(&conf)
        .unwrap()
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("user = ") || t.starts_with("group = ") {
                format!("#{l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&conf, text).unwrap();
    std::fs::write(
        raddb.join("clients.conf"),
        format!("client l2tpd {{\n\tipaddr = 127.0.0.1\n\tsecret = {secret}\n}}\n"),
    )
    .unwrap();
    std::fs::write(raddb.join("mods-config/files/authorize"), authorize).unwrap();
    std::fs::write(raddb.join("sites-enabled/l2tpd-test"), site).unwrap();
    raddb
}

/// Starts `freeradius -X` and waits for "Ready to process requests"; its output is collected
/// for a failing test.
pub(crate) fn start_freeradius(raddb: &Path) -> (Killed, mpsc::Receiver<String>) {
    let mut child = Command::new(freeradius_bin())
        .arg("-X")
        .arg("-d")
        .arg(raddb)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    let mut child = Killed(child);
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let ready = line.contains("Ready to process requests");
                seen.push(line);
                if ready {
                    return (child, rx);
                }
            }
            Err(_) => {
                if let Some(status) = child.0.try_wait().unwrap() {
                    panic!("freeradius exited with {status}:\n{}", seen.join("\n"));
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "freeradius did not get ready:\n{}",
            seen.join("\n")
        );
    }
}

/// The start of l2tpd.yaml every RADIUS test writes: listening on 127.0.0.1 at `ike`/`natt`,
/// `psk`, a pool, the control socket `ctl.sock` in the configuration's directory, debug logs
/// and one worker. Each test appends its own `ppp:` and `radius:` sections.
pub(crate) fn daemon_config_head(ike: u16, natt: u16, psk: &str) -> String {
    format!(
        "listen:\n  addresses: [127.0.0.1]\n  ike_port: {ike}\n  nat_t_port: {natt}\n\
         psk: {psk}\npool:\n  cidr: 10.99.0.0/24\n  server_address: 10.99.0.1\n\
         control_socket: ctl.sock\nlog_level: debug\nworkers: 1\n"
    )
}

/// Writes `secret` and a newline to `path`, mode 0600 (as the daemon asks of secret files).
pub(crate) fn write_secret_file(path: &Path, secret: &str) {
    std::fs::write(path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Starts `l2tpd-rs run --no-tun` on `cfg` (whose control socket is `ctl.sock` in `dir`) with
/// its log in `dir`/daemon.log, and waits until it answers `status`.
pub(crate) fn start_daemon(dir: &TempDir, cfg: &Path) -> (Killed, PathBuf) {
    let log_path = dir.path("daemon.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut daemon = Killed(
        Command::new(BIN)
            .args(["run", "--no-tun", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for_status(&dir.path("ctl.sock"), &mut daemon.0);
    (daemon, log_path)
}
