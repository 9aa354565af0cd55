//! Data-path worker threads (ARCHITECTURE.md "Multi-core data path").
//!
//! Each worker is an OS thread with its own current-thread tokio runtime, its own
//! `SO_REUSEPORT` UDP socket on every NAT-T listen address (read with `recvmmsg`, up to
//! [`RECV_BATCH`] datagrams per call), its own queue of the multi-queue TUN device and its own
//! `ChaCha20Rng` for CBC IVs. It runs [`server::FastPath`] on every
//! packet: established-session IPv4 goes straight between its socket and its TUN queue, and
//! everything else goes to the owner task over the owner's input channel ([`Input`]), with the
//! metadata the owner needs. The owner publishes the table; workers never touch the `Server`.

use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use server::{FastPath, Inbound, Outbound};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::clock;
use crate::run::{BATCH, Input, Listener, MAX_PACKET, local_of, register};

/// What one worker gets.
pub(crate) struct Worker {
    /// Its index (for logs).
    pub(crate) index: usize,
    /// The fast path.
    pub(crate) fast: FastPath,
    /// Its sockets, one per NAT-T listen address, bound with `SO_REUSEPORT` (std sockets: they
    /// are registered with the worker's own runtime).
    pub(crate) sockets: Vec<(std::net::UdpSocket, SocketAddrV4)>,
    /// Its TUN queue.
    pub(crate) tun: Option<tun::Tun>,
    /// A duplicate of the raw ESP socket, for sending only (the owner reads it).
    pub(crate) raw_esp: Option<OwnedFd>,
    /// The owner's input channel.
    pub(crate) to_owner: mpsc::Sender<Input>,
    /// Datagrams and TUN packets this worker read (for `status`).
    pub(crate) packets: Arc<AtomicU64>,
}

/// Starts the worker thread.
pub(crate) fn spawn(worker: Worker) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("l2tpd-worker-{}", worker.index))
        .spawn(move || {
            let index = worker.index;
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
            if let Err(e) = local.block_on(&rt, run(worker)) {
                warn!(worker = index, "worker stopped: {e}");
            }
        })
}

/// Everything a worker's tasks share.
struct Shared {
    index: usize,
    fast: FastPath,
    sockets: Vec<Listener>,
    tun: Option<AsyncFd<tun::Tun>>,
    raw_esp: Option<OwnedFd>,
    to_owner: mpsc::Sender<Input>,
    packets: Arc<AtomicU64>,
}

async fn run(worker: Worker) -> std::io::Result<()> {
    let mut sockets = Vec::new();
    for (socket, bound) in worker.sockets {
        sockets.push(Listener {
            socket: Arc::new(UdpSocket::from_std(socket)?),
            bound,
        });
    }
    let tun = worker
        .tun
        .map(|t| register(t, Interest::READABLE))
        .transpose()?;
    let shared = Arc::new(Shared {
        index: worker.index,
        fast: worker.fast,
        sockets,
        tun,
        raw_esp: worker.raw_esp,
        to_owner: worker.to_owner,
        packets: worker.packets,
    });
    debug!(
        worker = shared.index,
        sockets = shared.sockets.len(),
        tun = shared.tun.is_some(),
        "worker running"
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..shared.sockets.len() {
        tasks.spawn_local(udp_loop(Arc::clone(&shared), i));
    }
    if shared.tun.is_some() {
        tasks.spawn_local(tun_loop(Arc::clone(&shared)));
    }
    // Every loop ends only when the owner is gone (its channel closed).
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Datagrams taken per `recvmmsg` call.
const RECV_BATCH: usize = 16;

/// Receives on one socket, a batch per system call: fast path, else to the owner.
async fn udp_loop(shared: Arc<Shared>, i: usize) {
    let Some(listener) = shared.sockets.get(i) else {
        return;
    };
    let mut batch = tun::RecvBatch::new(RECV_BATCH, MAX_PACKET);
    let mut to_owner = Vec::new();
    loop {
        let got = listener
            .socket
            .async_io(Interest::READABLE, || {
                tun::recv_batch(&*listener.socket, &mut batch)
            })
            .await;
        if let Err(e) = got {
            debug!(bound = %listener.bound, "UDP receive error: {e}");
            continue;
        }
        for (meta, data) in batch.iter_mut() {
            if meta.source.ip().is_unspecified() {
                continue; // A datagram without a source address.
            }
            shared.packets.fetch_add(1, Ordering::Relaxed);
            let local = local_of(listener.bound, meta.local);
            let remote = SocketAddr::V4(meta.source);
            match shared.fast.inbound_udp(local, remote, data) {
                Inbound::ToTun(r) => write_tun(&shared, data.get(r).unwrap_or_default()),
                Inbound::Drop => {}
                Inbound::ToOwner => to_owner.push(Input::Udp {
                    local,
                    remote,
                    data: data.to_vec(),
                    fast_tried: true,
                }),
                Inbound::ToOwnerDecrypted {
                    local,
                    remote,
                    spi,
                    src_port,
                    l2tp,
                } => to_owner.push(Input::Decrypted {
                    local,
                    remote,
                    spi,
                    src_port,
                    data: data.get(l2tp).unwrap_or_default().to_vec(),
                }),
            }
        }
        for input in to_owner.drain(..) {
            if shared.to_owner.send(input).await.is_err() {
                return;
            }
        }
    }
}

/// Reads the worker's TUN queue: fast path, else to the owner.
async fn tun_loop(shared: Arc<Shared>) {
    let Some(dev) = shared.tun.as_ref() else {
        return;
    };
    let mut rng = ChaCha20Rng::from_seed(clock::os_seed());
    let mut pkt = vec![0u8; MAX_PACKET];
    let mut out = Vec::with_capacity(MAX_PACKET);
    loop {
        let Ok(mut guard) = dev.readable().await else {
            return;
        };
        for _ in 0..BATCH {
            let n = match guard.try_io(|fd| fd.get_ref().read(&mut pkt)) {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    warn!(worker = shared.index, "TUN read error: {e}");
                    break;
                }
                Err(_would_block) => break,
            };
            shared.packets.fetch_add(1, Ordering::Relaxed);
            let ip = pkt.get(..n).unwrap_or_default();
            match shared.fast.outbound(ip, &mut out, &mut rng) {
                Outbound::Udp { local, remote } => send_udp(&shared, local, remote, &out).await,
                Outbound::Esp { remote, .. } => match &shared.raw_esp {
                    Some(fd) => {
                        if let Err(e) = tun::send_esp(fd, &out, remote) {
                            debug!(%remote, "raw ESP send failed: {e}");
                        }
                    }
                    None => debug!(%remote, "no raw ESP socket: packet dropped"),
                },
                Outbound::ToOwner => {
                    if shared.to_owner.send(Input::Tun(ip.to_vec())).await.is_err() {
                        return;
                    }
                }
                Outbound::Drop => {}
            }
        }
    }
}

fn write_tun(shared: &Shared, packet: &[u8]) {
    match &shared.tun {
        Some(dev) => {
            if let Err(e) = dev.get_ref().write(packet) {
                debug!("TUN write failed ({e}): packet dropped");
            }
        }
        None => debug!("no TUN device: packet dropped"),
    }
}

async fn send_udp(shared: &Shared, local: SocketAddr, remote: SocketAddr, payload: &[u8]) {
    let (SocketAddr::V4(local), SocketAddr::V4(remote)) = (local, remote) else {
        return;
    };
    let Some(l) = crate::run::find_listener(&shared.sockets, local) else {
        debug!(%local, "no worker socket for this local address: datagram dropped");
        return;
    };
    let from = l.bound.ip().is_unspecified().then_some(*local.ip());
    let socket = &l.socket;
    let res = socket
        .async_io(Interest::WRITABLE, || {
            tun::send_from(&**socket, payload, from, remote)
        })
        .await;
    if let Err(e) = res {
        debug!(%local, %remote, "UDP send failed: {e}");
    }
}
