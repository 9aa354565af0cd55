//! Running a thread inside another network namespace (setns(2) with `CLONE_NEWNET`), so one
//! generator process can hold the clients' sockets in one namespace and the LAN host's socket
//! behind the server in another. The switch affects only the calling thread; sockets keep the
//! namespace they were created in.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

use crate::Error;

/// Where `ip netns add NAME` puts the namespace's handle.
fn handle(name: &str) -> PathBuf {
    let run = Path::new("/run/netns").join(name);
    if run.exists() {
        run
    } else {
        Path::new("/var/run/netns").join(name)
    }
}

/// Moves the calling thread into the network namespace `name` (as made by `ip netns add`).
pub fn enter(name: &str) -> Result<(), Error> {
    let path = handle(name);
    let f = File::open(&path).map_err(|e| Error::Socket {
        what: format!("opening network namespace {}", path.display()),
        source: e,
    })?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Socket {
        what: format!("entering network namespace {name} (needs CAP_SYS_ADMIN)"),
        source: e.into(),
    })
}

/// Spawns a thread that runs `f` inside namespace `name` (or in the current one for `None`).
pub fn spawn_in<T: Send + 'static>(
    name: Option<String>,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> JoinHandle<Result<T, Error>> {
    std::thread::spawn(move || {
        if let Some(n) = &name {
            enter(n)?;
        }
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_a_clear_error() {
        let e = spawn_in(Some("l2tpd-load-no-such-netns".to_owned()), || Ok(()))
            .join()
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("l2tpd-load-no-such-netns"), "{e}");
        // Without a name the closure runs where we are.
        assert_eq!(spawn_in(None, || Ok(7)).join().unwrap().unwrap(), 7);
    }
}
