//! The packet loops every thread runs: the owner task's and each worker's (ARCHITECTURE.md
//! "Data plane").
//!
//! Every socket and TUN queue has a reader task that runs [`server::DataPlane`] first: an
//! established session's packet goes straight between its socket and the TUN; what needs the
//! control plane goes to the owner task as an [`Input`]. Readers never wait for the owner:
//! its channels are bounded and a full channel drops the packet and counts it
//! ([`Counters::owner_busy`]). Decrypted hand-offs from authenticated clients and IKE from
//! anyone travel in separate channels, and the owner serves the first before the second, so a
//! flood of strangers' IKE messages cannot crowd out established clients' L2TP and PPP
//! control.

use std::io::IoSlice;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use server::{Batch, DataPlane, Handoff, Inbound, Transmit};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::clock;
use crate::control::{Request, Response};

/// The largest datagram or packet read (IPv4 maximum).
pub(crate) const MAX_PACKET: usize = 65_535;

/// Packets read from the TUN or raw ESP socket per wake-up before other tasks get a turn.
pub(crate) const BATCH: usize = 64;

/// Datagrams taken per `recvmmsg` call.
const RECV_BATCH: usize = 16;

/// Something for the owner task.
pub(crate) enum Input {
    /// A UDP datagram for IKE: local and remote addresses and the payload.
    Udp {
        local: SocketAddr,
        remote: SocketAddr,
        data: Vec<u8>,
    },
    /// A raw ESP packet (IP protocol 50) for the owner's own data plane, `data` from the ESP
    /// header on: ESP that followed a Quick Mode's third message
    /// ([`Inbound::AwaitingQm3`]).
    Esp {
        local: Ipv4Addr,
        remote: Ipv4Addr,
        data: Vec<u8>,
    },
    /// A decrypted L2TP message the data plane handed over; `data` is the message.
    Decrypted { handoff: Handoff, data: Vec<u8> },
    /// The data plane noted something for the control plane (a rekeyed SA in use, an ESP
    /// lifetime limit): run the server's timers, which take the notes.
    Wake,
    /// A control request and where to send the answer.
    Control(Request, oneshot::Sender<Response>),
}

/// The owner's two input channels.
#[derive(Clone)]
pub(crate) struct Owner {
    /// Decrypted hand-offs (authenticated clients), wake-ups and control requests.
    pub(crate) control: mpsc::Sender<Input>,
    /// IKE datagrams from anyone, and the ESP that follows a Quick Mode's third message
    /// (in the order read, so it comes after that message).
    pub(crate) ike: mpsc::Sender<Input>,
    /// Set while a [`Input::Wake`] is queued, so that one is enough.
    pub(crate) wake_queued: Arc<AtomicBool>,
    pub(crate) counters: Arc<Counters>,
}

impl Owner {
    fn send(&self, channel: &mpsc::Sender<Input>, input: Input) {
        if channel.try_send(input).is_err() {
            self.counters.owner_busy.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn wake_if_noted(&self, dp: &DataPlane) {
        if dp.notes_pending()
            && !self.wake_queued.swap(true, Ordering::AcqRel)
            && self.control.try_send(Input::Wake).is_err()
        {
            self.wake_queued.store(false, Ordering::Release);
        }
    }
}

/// The daemon's own counters (shown by `status`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Packets dropped because the owner's channel was full.
    pub(crate) owner_busy: AtomicU64,
}

/// A bound UDP socket: the address it was bound to (0.0.0.0 for a wildcard) and the port.
pub(crate) struct Listener {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) bound: SocketAddrV4,
    /// Whether runs of datagrams to one client go out with UDP segmentation offload
    /// ([`crate::gso`]); cleared for good when the kernel or the route cannot segment.
    pub(crate) gso: AtomicBool,
}

impl Listener {
    pub(crate) fn new(socket: Arc<UdpSocket>, bound: SocketAddrV4) -> Self {
        Self {
            socket,
            bound,
            gso: AtomicBool::new(true),
        }
    }
}

/// What one thread's reader tasks share: the data plane, where to send, the owner.
pub(crate) struct Lane {
    /// For logs: "owner" or "worker N".
    pub(crate) name: String,
    pub(crate) dp: DataPlane,
    pub(crate) nat_t_port: u16,
    /// This thread's sockets (it reads them all and sends from the NAT-T ones).
    pub(crate) sockets: Vec<Listener>,
    /// This thread's TUN queue, for reading and writing.
    pub(crate) tun: Option<AsyncFd<tun::Tun>>,
    /// The raw ESP socket, for sending (only the owner reads it).
    pub(crate) raw_esp: Option<OwnedFd>,
    pub(crate) owner: Owner,
    /// Datagrams and TUN packets this thread read (for `status`).
    pub(crate) packets: Arc<AtomicU64>,
    /// Whether runs of one UDP flow go into the TUN as one segmented write
    /// ([`crate::coalesce`]); cleared for good on a kernel that cannot.
    pub(crate) tun_runs: AtomicBool,
}

/// Starts one reader task per socket and one for the TUN queue on the current `LocalSet`.
pub(crate) fn spawn_readers(path: &Arc<Lane>, tasks: &mut tokio::task::JoinSet<()>) {
    for i in 0..path.sockets.len() {
        tasks.spawn_local(udp_loop(Arc::clone(path), i));
    }
    if path.tun.is_some() {
        tasks.spawn_local(tun_loop(Arc::clone(path)));
    }
}

/// Receives on one socket, a batch per system call: the data plane for ESP on the NAT-T
/// port, the owner for IKE.
async fn udp_loop(path: Arc<Lane>, i: usize) {
    let Some(listener) = path.sockets.get(i) else {
        return;
    };
    let mut batch = tun::RecvBatch::new(RECV_BATCH, MAX_PACKET);
    loop {
        let got = listener
            .socket
            .async_io(Interest::READABLE, || {
                tun::recv_batch(&*listener.socket, &mut batch)
            })
            .await;
        if let Err(e) = got {
            // ICMP errors surface here (e.g. ECONNREFUSED); they are not fatal.
            debug!(bound = %listener.bound, "UDP receive error: {e}");
            continue;
        }
        // One clock read per batch: `now` only feeds rate limits, whose bucket depth dwarfs
        // the time a batch takes.
        let now = clock::now();
        // What goes to the TUN is written after the batch, so runs of a flow go together.
        let mut to_tun: Vec<&[u8]> = Vec::new();
        for (meta, run) in batch.iter_mut() {
            if meta.source.ip().is_unspecified() {
                continue; // A datagram without a source address.
            }
            let local = local_of(listener.bound, meta.local);
            let remote = SocketAddr::V4(meta.source);
            // One datagram (maybe empty), or a run the kernel coalesced (`tun::set_gro`).
            let mut rest = run;
            loop {
                let (data, tail) = rest.split_at_mut(meta.datagram_len().min(rest.len()));
                path.packets.fetch_add(1, Ordering::Relaxed);
                let verdict = if local.port() == path.nat_t_port {
                    path.dp.inbound_udp(now, local, remote, data)
                } else {
                    Inbound::Ike
                };
                let data: &[u8] = data;
                match verdict {
                    Inbound::Tun(r) => to_tun.push(data.get(r).unwrap_or_default()),
                    other => inbound(&path, other, local, remote, data),
                }
                if tail.is_empty() {
                    break;
                }
                rest = tail;
            }
        }
        write_tun_batch(&path, &to_tun);
        path.owner.wake_if_noted(&path.dp);
        if matches!(got, Ok(n) if n >= RECV_BATCH) {
            yield_after_full_batch().await;
        }
    }
}

/// Lets the thread's other tasks run before a reader that filled its batch reads again.
///
/// Without it a reader whose socket stays readable goes on reading until tokio's cooperative
/// budget runs out (128 readiness checks: about 2,000 datagrams in batches of 16). On the
/// owner's thread the owner, which takes 64 inputs a turn and does the costly work
/// (Diffie-Hellman, MS-CHAPv2), then got its turn only after all of them: in a burst of
/// connects its channel (1,024 deep) filled, the packets past it were dropped (`owner_busy`),
/// and each drop cost its client a retransmission a second or more later. With the yield,
/// what the owner has not taken yet waits in the socket's receive buffer.
async fn yield_after_full_batch() {
    tokio::task::yield_now().await;
}

/// Acts on the data plane's verdict on one inbound packet.
fn inbound(path: &Lane, verdict: Inbound, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
    match verdict {
        Inbound::Tun(r) => write_tun(path, data.get(r).unwrap_or_default()),
        Inbound::Ike => path.owner.send(
            &path.owner.ike,
            Input::Udp {
                local,
                remote,
                data: data.to_vec(),
            },
        ),
        Inbound::ToOwner(handoff) => {
            let data = data.get(handoff.l2tp.clone()).unwrap_or_default().to_vec();
            path.owner
                .send(&path.owner.control, Input::Decrypted { handoff, data });
        }
        // Behind the Quick Mode message this thread read before it, on the same channel.
        Inbound::AwaitingQm3 => {
            let input = match (local, remote) {
                (SocketAddr::V4(l), SocketAddr::V4(r)) if local.port() == 0 => Input::Esp {
                    local: *l.ip(),
                    remote: *r.ip(),
                    data: data.to_vec(),
                },
                _ => Input::Udp {
                    local,
                    remote,
                    data: data.to_vec(),
                },
            };
            path.owner.send(&path.owner.ike, input);
        }
        Inbound::Drop => {}
    }
}

/// Reads this thread's TUN queue: the data plane seals for the clients. A segmented packet
/// (the device's offloads, [`tun::Tun::enable_offloads`]) is cut into the packets it stands
/// for first ([`wire::ip::gso`]). What one wake-up read (up to [`BATCH`] packets, or the
/// first segmented packet past that) goes out together: runs to one client as segmented
/// sends, consecutive datagrams from the same socket with one `sendmmsg` call.
async fn tun_loop(path: Arc<Lane>) {
    let Some(dev) = path.tun.as_ref() else {
        return;
    };
    let mut rng = ChaCha20Rng::from_seed(clock::os_seed());
    let mut pkt = vec![0u8; MAX_PACKET];
    let mut piece = vec![0u8; MAX_PACKET];
    let mut out = Batch::new();
    let mut sender = tun::SendBatch::new(BATCH);
    loop {
        let Ok(mut guard) = dev.readable().await else {
            return;
        };
        out.clear();
        let now = clock::now();
        let mut taken = 0;
        while taken < BATCH {
            let (n, seg) = match guard.try_io(|fd| fd.get_ref().read_offloaded(&mut pkt)) {
                Ok(Ok(read)) => read,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                    debug!(thread = %path.name, "TUN packet dropped: {e}");
                    taken += 1;
                    continue;
                }
                Ok(Err(e)) => {
                    warn!(thread = %path.name, "TUN read error: {e}");
                    break;
                }
                Err(_would_block) => break,
            };
            let ip = pkt.get(..n).unwrap_or_default();
            let mut seal = |p: &[u8]| {
                let _ = path.dp.outbound(now, p, &mut out, &mut rng);
            };
            let cut = match seg.cut() {
                None => {
                    seal(ip);
                    Ok(1)
                }
                Some((transport, size)) => {
                    wire::ip::gso::split(ip, transport, size, &mut piece, seal)
                }
            };
            let count = cut.unwrap_or_else(|e| {
                debug!(thread = %path.name, "segmented TUN packet ({seg:?}) dropped: {e}");
                1
            });
            path.packets.fetch_add(count as u64, Ordering::Relaxed);
            taken += count;
        }
        drop(guard);
        send_batch(&path, &out, &mut sender).await;
        path.owner.wake_if_noted(&path.dp);
        if taken >= BATCH {
            yield_after_full_batch().await;
        }
    }
}

/// Reads the raw ESP socket (IP protocol 50): the data plane, else the owner.
pub(crate) async fn esp_loop(path: Arc<Lane>, fd: Arc<AsyncFd<OwnedFd>>) {
    let mut pkt = vec![0u8; MAX_PACKET];
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return;
        };
        let now = clock::now();
        let mut drained = false;
        for _ in 0..BATCH {
            match guard.try_io(|fd| tun::recv_esp(fd.get_ref(), &mut pkt)) {
                Ok(Ok(p)) => {
                    path.packets.fetch_add(1, Ordering::Relaxed);
                    let Some(esp) = pkt.get_mut(p.esp_offset..p.len) else {
                        continue;
                    };
                    let verdict = path.dp.inbound_esp(now, p.destination, p.source, esp);
                    let (local, remote) = (
                        SocketAddr::new(p.destination.into(), 0),
                        SocketAddr::new(p.source.into(), 0),
                    );
                    inbound(&path, verdict, local, remote, esp);
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                    debug!("raw ESP: {e}");
                }
                Ok(Err(e)) => {
                    warn!("raw ESP read error: {e}");
                    break;
                }
                Err(_would_block) => {
                    drained = true;
                    break;
                }
            }
        }
        path.owner.wake_if_noted(&path.dp);
        if !drained {
            yield_after_full_batch().await;
        }
    }
}

/// Sends every datagram and packet of a batch, in order: each run of UDP datagrams from the
/// same local address with `sendmmsg` calls, anything else one by one.
pub(crate) async fn send_batch(path: &Lane, batch: &Batch, sender: &mut tun::SendBatch) {
    let items: Vec<(Transmit, &[u8])> = batch.iter().collect();
    let mut i = 0;
    while let Some(&(t, bytes)) = items.get(i) {
        let Transmit::Udp {
            local: SocketAddr::V4(local),
            ..
        } = t
        else {
            send(path, t, bytes).await;
            i += 1;
            continue;
        };
        // The run of datagrams from the same local address, split once into what
        // `sendmmsg` takes.
        let (to, datagrams): (Vec<SocketAddrV4>, Vec<&[u8]>) = items
            .get(i..)
            .unwrap_or_default()
            .iter()
            .map_while(|&(t, bytes)| match t {
                Transmit::Udp {
                    local: SocketAddr::V4(l),
                    remote: SocketAddr::V4(r),
                } if l == local => Some((r, bytes)),
                _ => None,
            })
            .unzip();
        if to.is_empty() {
            // To an IPv6 peer: `send` explains why it is dropped.
            send(path, t, bytes).await;
            i += 1;
            continue;
        }
        i += to.len();
        send_udp_run(&path.sockets, sender, local, &to, &datagrams).await;
    }
}

/// Sends `datagrams[i]` to `to[i]` from `local` with as few system calls as the batch allows:
/// runs to one client as UDP segmentation offload messages ([`crate::gso`]), the rest with
/// `sendmmsg`. A datagram the kernel refuses (an ICMP error pending on the socket, say) is
/// dropped, as with `send`.
async fn send_udp_run(
    listeners: &[Listener],
    sender: &mut tun::SendBatch,
    local: SocketAddrV4,
    to: &[SocketAddrV4],
    datagrams: &[&[u8]],
) {
    let Some(l) = find_listener(listeners, local) else {
        warn!(%local, count = to.len(), "no socket for this local address: datagrams dropped");
        return;
    };
    if to.len() < 2 || !l.gso.load(Ordering::Relaxed) {
        return send_plain(l, sender, local, to, datagrams).await;
    }
    let lens: Vec<usize> = datagrams.iter().map(|d| d.len()).collect();
    for call in crate::gso::plan(to, &lens, tun::MAX_SEGMENTS, tun::MAX_SEGMENTED_BYTES) {
        let (call_to, slices): (Vec<SocketAddrV4>, Vec<Vec<IoSlice<'_>>>) = call
            .messages
            .iter()
            .map(|m| {
                let parts = m
                    .items
                    .iter()
                    .map(|&k| IoSlice::new(datagrams.get(k).copied().unwrap_or_default()))
                    .collect();
                (m.to, parts)
            })
            .unzip();
        if !call.segments_any() || !l.gso.load(Ordering::Relaxed) {
            let flat: Vec<&[u8]> = slices.iter().flatten().map(|s| &**s).collect();
            let flat_to: Vec<SocketAddrV4> = call
                .messages
                .iter()
                .flat_map(|m| std::iter::repeat_n(m.to, m.items.len()))
                .collect();
            send_plain(l, sender, local, &flat_to, &flat).await;
            continue;
        }
        send_segmented(l, sender, local, call.segment, &call_to, &slices).await;
    }
}

/// Sends one planned call's messages with UDP segmentation offload; a message the kernel
/// cannot segment goes out datagram by datagram instead (and, where segmentation itself is
/// unsupported, every later run too).
async fn send_segmented(
    l: &Listener,
    sender: &mut tun::SendBatch,
    local: SocketAddrV4,
    segment: u16,
    to: &[SocketAddrV4],
    slices: &[Vec<IoSlice<'_>>],
) {
    let from = l.bound.ip().is_unspecified().then_some(*local.ip());
    let socket = &l.socket;
    let messages: Vec<&[IoSlice<'_>]> = slices.iter().map(Vec::as_slice).collect();
    let mut k = 0;
    while k < messages.len() {
        let (rest, rest_to) = (
            messages.get(k..).unwrap_or_default(),
            to.get(k..).unwrap_or_default(),
        );
        let res = socket
            .async_io(Interest::WRITABLE, || {
                tun::send_segments_from(&**socket, sender, segment, rest, from, rest_to)
            })
            .await;
        match res {
            Ok(0) => break,
            Ok(n) => k += n,
            Err(e) => {
                let (Some(parts), Some(&dest)) = (messages.get(k), to.get(k)) else {
                    break;
                };
                if let Some(why) = tun::segment_refusal(&e) {
                    if why == tun::SegmentRefusal::Unsupported {
                        l.gso.store(false, Ordering::Relaxed);
                        info!(
                            %local,
                            "UDP segmentation offload refused ({e}): sending datagram by datagram"
                        );
                    }
                    let flat: Vec<&[u8]> = parts.iter().map(|s| &**s).collect();
                    send_plain(l, sender, local, &vec![dest; flat.len()], &flat).await;
                } else {
                    debug!(%local, remote = %dest, "UDP send failed: {e}");
                }
                k += 1;
            }
        }
    }
}

/// Sends `datagrams[i]` to `to[i]` with as few `sendmmsg` calls as the batch allows.
async fn send_plain(
    l: &Listener,
    sender: &mut tun::SendBatch,
    local: SocketAddrV4,
    to: &[SocketAddrV4],
    datagrams: &[&[u8]],
) {
    let from = l.bound.ip().is_unspecified().then_some(*local.ip());
    let socket = &l.socket;
    let mut k = 0;
    while k < to.len() {
        let (rest, rest_to) = (
            datagrams.get(k..).unwrap_or_default(),
            to.get(k..).unwrap_or_default(),
        );
        let res = socket
            .async_io(Interest::WRITABLE, || {
                tun::send_batch_from(&**socket, sender, rest, from, rest_to)
            })
            .await;
        match res {
            Ok(0) => break,
            Ok(n) => k += n,
            Err(e) => {
                debug!(%local, remote = ?rest_to.first(), "UDP send failed: {e}");
                k += 1;
            }
        }
    }
}

/// Sends one datagram or packet where `t` says.
pub(crate) async fn send(path: &Lane, t: Transmit, bytes: &[u8]) {
    match t {
        Transmit::Udp { local, remote } => send_udp(&path.sockets, local, remote, bytes).await,
        Transmit::Esp { local, remote } => send_esp(path.raw_esp.as_ref(), local, remote, bytes),
        Transmit::Tun => write_tun(path, bytes),
        _ => debug!("unknown transmit kind dropped"),
    }
}

/// Writes a reader's decrypted packets to the TUN device in order: each run of one UDP flow
/// as one segmented write ([`crate::coalesce`]), the rest one by one.
fn write_tun_batch(path: &Lane, packets: &[&[u8]]) {
    let dev = match &path.tun {
        Some(dev) if packets.len() > 1 && path.tun_runs.load(Ordering::Relaxed) => dev,
        _ => return packets.iter().for_each(|p| write_tun(path, p)),
    };
    for run in crate::coalesce::plan(packets) {
        let Some(these) = packets.get(run.start..run.start + run.count) else {
            continue;
        };
        if run.count < 2 || !path.tun_runs.load(Ordering::Relaxed) {
            these.iter().for_each(|p| write_tun(path, p));
            continue;
        }
        let payloads: Vec<&[u8]> = these
            .iter()
            .map(|p| p.get(tun::UDP_RUN_HEADERS..).unwrap_or_default())
            .collect();
        match dev
            .get_ref()
            .write_segmented(run.segment, &run.headers, &payloads)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                path.tun_runs.store(false, Ordering::Relaxed);
                info!(
                    thread = %path.name,
                    "the TUN device takes no segmented writes ({e}): writing packet by packet"
                );
                these.iter().for_each(|p| write_tun(path, p));
            }
            Err(e) => debug!("TUN write failed ({e}): {} packets dropped", run.count),
        }
    }
}

fn write_tun(path: &Lane, packet: &[u8]) {
    match &path.tun {
        Some(dev) => {
            if let Err(e) = dev.get_ref().write(packet) {
                debug!("TUN write failed ({e}): packet dropped");
            }
        }
        None => debug!("no TUN device: packet dropped"),
    }
}

fn send_esp(fd: Option<&OwnedFd>, local: Ipv4Addr, remote: Ipv4Addr, esp: &[u8]) {
    match fd {
        Some(fd) => {
            if let Err(e) = tun::send_esp(fd, esp, remote) {
                debug!(%local, %remote, "raw ESP send failed: {e}");
            }
        }
        None => debug!(%remote, "no raw ESP socket: packet dropped"),
    }
}

/// Sends a UDP datagram from `local` (the socket bound to it, or the wildcard on its port,
/// with `IP_PKTINFO` naming the source) to `remote`.
pub(crate) async fn send_udp(
    listeners: &[Listener],
    local: SocketAddr,
    remote: SocketAddr,
    payload: &[u8],
) {
    let (SocketAddr::V4(local), SocketAddr::V4(remote)) = (local, remote) else {
        debug!(%local, %remote, "IPv6 transmit dropped: only IPv4 is served");
        return;
    };
    let Some(l) = find_listener(listeners, local) else {
        warn!(%local, %remote, "no socket for this local address: datagram dropped");
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

/// The local address of a datagram received on a socket bound to `bound`: the bound address,
/// or the `IP_PKTINFO` destination on a wildcard bind.
pub(crate) fn local_of(bound: SocketAddrV4, pktinfo: Option<Ipv4Addr>) -> SocketAddr {
    let ip = if bound.ip().is_unspecified() {
        pktinfo.unwrap_or_else(|| *bound.ip())
    } else {
        *bound.ip()
    };
    SocketAddr::V4(SocketAddrV4::new(ip, bound.port()))
}

/// The socket to send from `local`: bound to exactly it, or the wildcard on its port.
pub(crate) fn find_listener(listeners: &[Listener], local: SocketAddrV4) -> Option<&Listener> {
    listeners
        .iter()
        .find(|l| l.bound.port() == local.port() && l.bound.ip() == local.ip())
        .or_else(|| {
            listeners
                .iter()
                .find(|l| l.bound.port() == local.port() && l.bound.ip().is_unspecified())
        })
}

/// Registers a descriptor with tokio's reactor.
///
/// tokio 1.54 deprecated the safe constructors in favour of an `unsafe` one whose contract is
/// that the descriptor stays open and the same while the `AsyncFd` lives (tokio PR 8587). Both
/// callers pass a value that *owns* its descriptor (`OwnedFd`, `tun::Tun` holding an `OwnedFd`)
/// and is moved into the `AsyncFd`, so the contract holds; this crate forbids `unsafe`, hence
/// the deprecated safe form.
#[allow(deprecated)]
pub(crate) fn register<T: std::os::fd::AsRawFd>(
    inner: T,
    interest: Interest,
) -> std::io::Result<AsyncFd<T>> {
    AsyncFd::with_interest(inner, interest)
}
