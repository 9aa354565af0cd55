//! What the tests of the real binary share: running it, a temporary directory, free UDP
//! ports, and waiting until a started daemon answers `status`.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_l2tpd-rs");

pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!("l2tpd-rs-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two UDP ports that were free a moment ago on 127.0.0.1.
pub(crate) fn free_udp_ports() -> (u16, u16) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Polls `status --json` until the daemon answers (returns its output); panics if the daemon
/// exits or stays silent for 20 s.
pub(crate) fn wait_for_status(socket: &Path, child: &mut Child) -> String {
    let start = Instant::now();
    loop {
        let out = run(&["status", "--json", "--socket", socket.to_str().unwrap()]);
        if out.status.success() {
            return text(&out.stdout);
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("daemon exited early with {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "daemon never answered: {}",
            text(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
