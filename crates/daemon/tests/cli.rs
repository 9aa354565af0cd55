//! Runs the real `l2tpd-rs` binary: check-config, hash-password, status without a daemon, and
//! `run` on loopback high ports (without TUN for any user; with TUN in a fresh network
//! namespace when root).
// Real processes need real time for their deadlines.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{BIN, TempDir, free_udp_ports, run, text, wait_for_status};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn shipped_config_passes_check_config() {
    let out = run(&[
        "check-config",
        "--config",
        repo_file("config/l2tpd.yaml").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("3 users (2 enabled)"),
        "{}",
        text(&out.stdout)
    );
    // The example PSK is a warning, with its line.
    assert!(
        text(&out.stderr).contains("l2tpd.yaml:"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("shipped example"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn broken_config_is_reported_with_file_and_line() {
    let dir = TempDir::new("broken");
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        "psk: a-long-secret\npool:\n  cidr: 10.99.0.0/24\n  colour: blue\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:4:", cfg.display())), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");

    // Several validation problems at once, each located.
    std::fs::write(
        &cfg,
        "psk: a-long-secret\nlisten:\n  ike_port: 4500\npool:\n  cidr: 10.99.0.0/24\ndns: [1.1.1.1, 1.0.0.1, 8.8.8.8]\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    // nat_t_port is defaulted, so the error points at the `listen` section.
    assert!(err.contains(&format!("{}:2: ", cfg.display())), "{err}");
    assert!(err.contains(&format!("{}:6: ", cfg.display())), "{err}");
    assert!(err.contains("2 problems found"), "{err}");
    assert!(
        err.contains("must differ") && err.contains("at most 2"),
        "{err}"
    );

    // A bad users file is located too, and `run` refuses to start with it.
    std::fs::write(&cfg, "psk: a-long-secret\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
    std::fs::write(
        dir.path("users.yaml"),
        "users:\n  - name: a\n    nt_hash: 1234\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("users.yaml:2: "),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["run", "--no-tun", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("users.yaml:2: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hash_password_prints_the_rfc_2759_value() {
    // RFC 2759 §9.2: Password "clientPass" -> NtPasswordHash 44EBBA8D5312B8D611474411F56989AE.
    let out = run(&["hash-password", "clientPass"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "44EBBA8D5312B8D611474411F56989AE");

    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"clientPass\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "44EBBA8D5312B8D611474411F56989AE");
}

#[test]
fn status_without_a_daemon_fails_clearly() {
    let dir = TempDir::new("nodaemon");
    let sock = dir.path("none.sock");
    let out = run(&["status", "--socket", sock.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "no l2tpd-rs daemon is listening on {}: is it running?",
            sock.display()
        )),
        "{err}"
    );
}

fn write_config(dir: &TempDir, address: &str, ike: u16, natt: u16, tun: &str) -> PathBuf {
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen:\n  addresses: [{address}]\n  ike_port: {ike}\n  nat_t_port: {natt}\n\
             psk: test-pre-shared-key\npool:\n  cidr: 10.99.0.0/24\ntun:\n  name: {tun}\n\
             control_socket: ctl.sock\nlog_level: debug\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path("users.yaml"),
        "users:\n  - name: alice\n    password: pw\n",
    )
    .unwrap();
    cfg
}

fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no exit within 3 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_empty_snapshot(json: &str) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["sessions"], serde_json::json!([]), "{json}");
    assert!(v["uptime_secs"].is_u64(), "{json}");
}

#[test]
fn run_without_tun_answers_status_survives_garbage_and_stops_on_sigterm() {
    let dir = TempDir::new("run");
    let (ike, natt) = free_udp_ports();
    let cfg = write_config(&dir, "127.0.0.1", ike, natt, "l2tpunused0");
    let mut child = Command::new(BIN)
        .args(["run", "--no-tun", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = dir.path("ctl.sock");
    assert_empty_snapshot(&wait_for_status(&sock, &mut child));

    // Garbage on both ports does not bring it down.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for port in [ike, natt] {
        for junk in [
            &b""[..],
            b"\x00",
            b"\x00\x00\x00\x00garbage",
            &[0xffu8; 300],
        ] {
            s.send_to(junk, ("127.0.0.1", port)).unwrap();
        }
    }
    // A bad users file is refused and the daemon keeps serving.
    std::fs::write(dir.path("users.yaml"), "users:\n  - name: [\n").unwrap();
    let reload = run(&["status", "--socket", sock.to_str().unwrap()]);
    assert!(reload.status.success(), "{}", text(&reload.stderr));
    assert!(
        text(&reload.stdout).contains("no sessions"),
        "{}",
        text(&reload.stdout)
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    assert_empty_snapshot(&wait_for_status(&sock, &mut child));

    // A second daemon on the same control socket refuses to start.
    let second = run(&["run", "--no-tun", "--config", cfg.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(1));

    stop(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("users file NOT reloaded"), "{log}");
    assert!(log.contains("users.yaml:2"), "{log}");
    assert!(
        !log.contains("test-pre-shared-key"),
        "PSK leaked into the log"
    );
    assert!(!sock.exists(), "control socket left behind");
}

#[test]
fn run_as_root_creates_the_tun_in_a_fresh_namespace() {
    if !nix::unistd::Uid::effective().is_root() {
        println!(
            "skipping run_as_root_creates_the_tun_in_a_fresh_namespace: needs root for TUN and namespaces"
        );
        return;
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        println!(
            "skipping run_as_root_creates_the_tun_in_a_fresh_namespace: util-linux `unshare` not found"
        );
        return;
    }
    let dir = TempDir::new("root");
    let (ike, natt) = free_udp_ports();
    // 0.0.0.0: the namespace's loopback is down, and a wildcard bind needs no address.
    let cfg = write_config(&dir, "0.0.0.0", ike, natt, "l2tptest0");
    let mut child = Command::new("unshare")
        .args(["--net", "--", BIN, "run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = dir.path("ctl.sock");
    assert_empty_snapshot(&wait_for_status(&sock, &mut child));
    let table = run(&["status", "--socket", sock.to_str().unwrap()]);
    assert!(
        text(&table.stdout).contains("TUN l2tptest0"),
        "{}",
        text(&table.stdout)
    );
    stop(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("TUN device up"), "{log}");
}

/// A configuration on loopback high ports with `extra` appended, and users.yaml with alice.
fn write_config_with(dir: &TempDir, extra: &str) -> PathBuf {
    let (ike, natt) = free_udp_ports();
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen:\n  addresses: [127.0.0.1]\n  ike_port: {ike}\n  nat_t_port: {natt}\n\
             psk: test-pre-shared-key\npool:\n  cidr: 10.99.0.0/24\n\
             control_socket: ctl.sock\nlog_level: debug\nworkers: 1\n{extra}"
        ),
    )
    .unwrap();
    set_mode(&cfg, 0o600);
    std::fs::write(
        dir.path("users.yaml"),
        "users:\n  - name: alice\n    password: pw\n",
    )
    .unwrap();
    set_mode(&dir.path("users.yaml"), 0o600);
    cfg
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

/// Runs the binary, which must exit by itself within 20 s (a `run` that should refuse to
/// start but serves instead is killed and fails the test rather than hanging it).
fn run_to_exit(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after 20 s: {args:?}\n{}", text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `run --no-tun` with stderr in `log`.
fn start(cfg: &Path, extra_args: &[&str], log: &Path) -> Child {
    Command::new(BIN)
        .args(["run", "--no-tun", "--config", cfg.to_str().unwrap()])
        .args(extra_args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until `cond` holds on the status JSON; panics after 20 s.
fn wait_for_json(sock: &Path, what: &str, cond: impl Fn(&serde_json::Value) -> bool) {
    let start = Instant::now();
    loop {
        let out = run(&["status", "--json", "--socket", sock.to_str().unwrap()]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if cond(&v) {
                return;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_log(log: &Path, needle: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{needle:?} never logged:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn keylog_is_never_followed_through_a_link_and_is_kept_0600() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("keylog");
    let cfg = write_config_with(&dir, "");
    let target = dir.path("target.txt");
    std::fs::write(&target, "precious\n").unwrap();
    let link = dir.path("keys-link.txt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = run_to_exit(&[
        "run",
        "--no-tun",
        "--config",
        cfg.to_str().unwrap(),
        "--keylog",
        link.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is a symbolic link"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"precious\n");
    assert!(!dir.path("ctl.sock").exists(), "refused before serving");

    // A key log that exists with mode 0644 is used, and is 0600 from then on.
    let keys = dir.path("keys.txt");
    std::fs::write(&keys, "").unwrap();
    set_mode(&keys, 0o644);
    let log = dir.path("daemon.log");
    let mut child = start(&cfg, &["--keylog", keys.to_str().unwrap()], &log);
    let sock = dir.path("ctl.sock");
    wait_for_status(&sock, &mut child);
    assert_eq!(std::fs::metadata(&keys).unwrap().mode() & 0o777, 0o600);
    stop(&mut child);
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("was mode 0644 and is now 0600"),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
}

#[test]
fn a_non_socket_at_the_control_socket_path_is_never_deleted() {
    let dir = TempDir::new("ctlfile");
    let cfg = write_config_with(&dir, "");
    let sock = dir.path("ctl.sock");
    std::fs::write(&sock, "someone's file\n").unwrap();
    let out = run_to_exit(&["run", "--no-tun", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("exists and is a regular file, not a socket: refusing to replace it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&sock).unwrap(), b"someone's file\n");
}

#[test]
fn control_socket_group() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("ctlgroup");
    let cfg = write_config_with(&dir, "control_socket_group: no-such-group-l2tpd\n");
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("control_socket_group: group `no-such-group-l2tpd` does not exist"),
        "{}",
        text(&out.stderr)
    );
    let out = run_to_exit(&["run", "--no-tun", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );

    if !nix::unistd::Uid::effective().is_root() {
        println!("skipping the chgrp part of control_socket_group: needs root");
        return;
    }
    let Some(group) = ["nogroup", "nobody", "daemon"]
        .into_iter()
        .find_map(|g| nix::unistd::Group::from_name(g).ok().flatten())
    else {
        println!("skipping the chgrp part of control_socket_group: no system group found");
        return;
    };
    let cfg = write_config_with(&dir, &format!("control_socket_group: {}\n", group.name));
    let mut child = start(&cfg, &[], &dir.path("daemon.log"));
    let sock = dir.path("ctl.sock");
    wait_for_status(&sock, &mut child);
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(meta.gid(), group.gid.as_raw());
    assert_eq!(meta.mode() & 0o7777, 0o660);
    stop(&mut child);
}

/// A users.yaml caught half-written is not applied, and the next change is retried even when
/// it carries the same modification time as the broken one.
#[test]
fn users_reload_keeps_the_old_table_and_retries_the_next_change() {
    let dir = TempDir::new("reload");
    let cfg = write_config_with(&dir, "");
    let users = dir.path("users.yaml");
    let log = dir.path("daemon.log");
    let mut child = start(&cfg, &[], &log);
    let sock = dir.path("ctl.sock");
    wait_for_status(&sock, &mut child);
    let users_loaded = |n: u64| move |v: &serde_json::Value| v["info"]["users"] == n;
    wait_for_json(&sock, "1 user", users_loaded(1));

    // An editor writing in place: the file is cut in the middle of bob's entry.
    let mtime = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let write = |content: &str| {
        std::fs::write(&users, content).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&users)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    };
    write("users:\n  - name: alice\n    password: pw\n  - name: bob\n    pass");
    wait_for_log(&log, "users file NOT reloaded");
    wait_for_json(&sock, "old table kept", users_loaded(1));

    // The writer finishes, with the same modification time.
    write("users:\n  - name: alice\n    password: pw\n  - name: bob\n    password: pw2\n");
    wait_for_json(&sock, "2 users after the retry", users_loaded(2));
    stop(&mut child);
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log.matches("users file NOT reloaded").count(),
        1,
        "a broken version is reported once:\n{log}"
    );
}

#[test]
fn check_config_warns_about_secrets_others_can_read() {
    let dir = TempDir::new("modes");
    let cfg = write_config_with(&dir, "");
    let users = dir.path("users.yaml");
    let warnings = || {
        let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let quiet = warnings();
    assert!(!quiet.contains("chmod 600"), "{quiet}");
    set_mode(&cfg, 0o644);
    set_mode(&users, 0o640);
    let loud = warnings();
    assert!(
        loud.contains(&format!(
            "{}:5: {} holds the pre-shared key and is readable by every user: chmod 600 it",
            cfg.display(),
            cfg.display()
        )),
        "{loud}"
    );
    assert!(
        loud.contains(&format!(
            "{}: the users file holds passwords and is readable by its group: chmod 600 it",
            users.display()
        )),
        "{loud}"
    );
}

#[test]
fn users_file_must_stay_readable_after_the_privilege_drop() {
    if !nix::unistd::Uid::effective().is_root() {
        println!("skipping: dropping privileges needs root");
        return;
    }
    let (Ok(Some(_)), Ok(Some(group))) = (
        nix::unistd::User::from_name("nobody"),
        nix::unistd::Group::from_name("nogroup"),
    ) else {
        println!("skipping: no nobody/nogroup account");
        return;
    };
    let dir = TempDir::new("privdrop");
    let cfg = write_config_with(&dir, "privileges: { user: nobody, group: nogroup }\n");
    // The temporary directory must be searchable by nobody.
    set_mode(&dir.path(""), 0o755);
    let users = dir.path("users.yaml");
    let out = run_to_exit(&["run", "--no-tun", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "after dropping privileges to nobody, the users file {} cannot be read",
            users.display()
        )),
        "{err}"
    );
    assert!(err.contains("chgrp nogroup"), "{err}");

    // Readable by the daemon's group: it starts, and check-config does not call the group
    // read access a problem.
    std::os::unix::fs::chown(&users, None, Some(group.gid.as_raw())).unwrap();
    set_mode(&users, 0o640);
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("users file holds"),
        "{}",
        text(&out.stderr)
    );
    let mut child = start(&cfg, &[], &dir.path("daemon.log"));
    let sock = dir.path("ctl.sock");
    wait_for_status(&sock, &mut child);
    stop(&mut child);
}

/// Under systemd (`Type=notify`): READY=1 once serving, WATCHDOG=1 pings at half of
/// WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM.
#[test]
fn service_manager_notifications() {
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("notify");
    let cfg = write_config_with(&dir, "");
    let notify_path = dir.path("notify.sock");
    let manager = UnixDatagram::bind(&notify_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 1024];
        let n = manager.recv(&mut buf).expect("a notification within 20 s");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    // Everything but watchdog pings, which may come in between.
    let next_state = || loop {
        let m = next();
        if m != "WATCHDOG=1" {
            return m;
        }
    };
    let log = dir.path("daemon.log");
    let mut child = Command::new(BIN)
        .args(["run", "--no-tun", "--config", cfg.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify_path)
        // 400 ms: a ping every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let ready = next_state();
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(ready.contains("STATUS=serving 1 users"), "{ready:?}");
    // Ready means serving: the control socket answers at once.
    let status = run(&[
        "status",
        "--json",
        "--socket",
        dir.path("ctl.sock").to_str().unwrap(),
    ]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    // Pings keep coming while the daemon idles.
    let start = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        if next() == "WATCHDOG=1" {
            pings += 1;
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "3 pings took {:?}",
        start.elapsed()
    );

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let reloading = next_state();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert!(next_state().starts_with("READY=1\n"));

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(next_state().starts_with("STOPPING=1\n"));
    assert!(child.wait().unwrap().success());
}

/// `--log-format journald`: no time stamps, no colours, a syslog priority on each line;
/// `--log-format json`: one JSON object per line.
#[test]
fn log_formats() {
    let dir = TempDir::new("logfmt");
    let cfg = write_config_with(&dir, "");
    let log = dir.path("journald.log");
    let mut child = start(&cfg, &["--log-format", "journald"], &log);
    wait_for_status(&dir.path("ctl.sock"), &mut child);
    stop(&mut child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let (prio, level) = match line.get(..3) {
            Some("<3>") => ("<3>", "ERROR"),
            Some("<4>") => ("<4>", "WARN"),
            Some("<6>") => ("<6>", "INFO"),
            Some("<7>") => ("<7>", "DEBUG"),
            _ => panic!("no priority prefix: {line:?}"),
        };
        assert!(!line.contains('\x1b'), "colour in {line:?}");
        // The level follows the priority at once: no time stamp in between.
        assert!(
            line[prio.len()..].trim_start().starts_with(level),
            "{line:?}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("<6>") && l.contains("started")),
        "{text}"
    );

    let log = dir.path("json.log");
    let mut child = start(&cfg, &["--log-format", "json"], &log);
    wait_for_status(&dir.path("ctl.sock"), &mut child);
    stop(&mut child);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut levels = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        levels.push(v["level"].as_str().unwrap().to_owned());
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    assert!(levels.iter().any(|l| l == "INFO"), "{text}");
}

#[test]
fn check_config_reports_the_radius_section() {
    let dir = TempDir::new("radius-check");
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(dir.path("users.yaml"), "users: []\n").unwrap();
    let base = "psk: a-long-secret\npool:\n  cidr: 10.99.0.0/24\n";
    std::fs::write(
        &cfg,
        format!(
            "{base}radius:\n  servers:\n    - address: 192.0.2.10\n      secret: tiny\n    \
             - address: 192.0.2.11:1645\n      secret: a-secret-of-twenty-bytes\n"
        ),
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("checked by RADIUS (192.0.2.10:1812, 192.0.2.11:1645)"),
        "{stdout}"
    );
    // With radius.order, the line says who decides.
    let cfg2 = dir.path("l2tpd-order.yaml");
    std::fs::write(
        &cfg2,
        format!(
            "{base}radius:\n  servers:\n    - address: 192.0.2.10\n      \
             secret: a-secret-of-twenty-bytes\n  order: [users, radius]\n"
        ),
    )
    .unwrap();
    let out2 = run(&["check-config", "--config", cfg2.to_str().unwrap()]);
    assert!(out2.status.success(), "{}", text(&out2.stderr));
    assert!(
        text(&out2.stdout).contains("by the users file for the names it lists, by RADIUS"),
        "{}",
        text(&out2.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{}:6: ", cfg.display())) && err.contains("RFC 2865"),
        "{err}"
    );
    assert!(
        !err.contains("tiny") && !stdout.contains("tiny"),
        "{err}{stdout}"
    );

    // Problems are located, all at once.
    std::fs::write(
        &cfg,
        format!(
            "{base}radius:\n  servers:\n    - address: radius.example\n      secret_file: none\n  \
             retries: 99\n"
        ),
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for (line, needle) in [
        (6, "not an address"),
        (7, "cannot read secret_file"),
        (8, "radius.retries"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("{}:{line}: ", cfg.display())) && l.contains(needle)),
            "{needle} at line {line}:\n{err}"
        );
    }
}
