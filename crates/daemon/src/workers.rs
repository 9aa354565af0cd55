//! Data-plane worker threads (ARCHITECTURE.md "Data plane").
//!
//! Each worker is an OS thread with its own current-thread tokio runtime, its own
//! `SO_REUSEPORT` UDP socket on every NAT-T listen address (read with `recvmmsg`), its own
//! queue of the multi-queue TUN device and its own `ChaCha20Rng` for CBC IVs. It runs the same
//! reader tasks as the owner ([`crate::datapath`]); it never touches the `Server`.

use std::sync::Arc;

use tracing::{debug, warn};

use crate::datapath::{self, Lane};

/// Starts a worker thread running the reader tasks of the [`Lane`] that `make` builds on the
/// worker's own runtime.
pub(crate) fn spawn(
    index: usize,
    make: impl FnOnce() -> std::io::Result<Lane> + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("l2tpd-worker-{index}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    warn!(worker = index, "cannot start the worker runtime: {e}");
                    return;
                }
            };
            // Local tasks: the batch receive buffers hold raw `mmsghdr` pointers (not `Send`).
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let path = match make() {
                    Ok(p) => Arc::new(p),
                    Err(e) => {
                        warn!(worker = index, "cannot set up the worker's sockets: {e}");
                        return;
                    }
                };
                debug!(
                    worker = index,
                    sockets = path.sockets.len(),
                    tun = path.tun.is_some(),
                    "worker running"
                );
                let mut tasks = tokio::task::JoinSet::new();
                datapath::spawn_readers(&path, &mut tasks);
                while tasks.join_next().await.is_some() {}
            });
        })
}
