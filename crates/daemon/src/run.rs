//! `l2tpd-rs run`: set-up, then one task that owns [`server::Server`] and drives it.
//!
//! The loop (quinn's `drive_timer` pattern: one state machine, one timer) selects over: datagrams from the UDP
//! sockets (one small reader task per socket forwards them over a bounded channel), the TUN
//! device and the raw ESP socket (`AsyncFd`), a single `Sleep` re-armed from
//! [`Server::poll_timeout`] (and the RADIUS client's `poll_timeout`), control-socket requests,
//! answers on the RADIUS socket (with `radius:`, see [`crate::remote_auth`]), Disconnect and
//! CoA requests (with `radius.dynamic_authorization`, see [`crate::dynauth`]), a 2-second
//! users-file poll and the signals. A turn takes up to [`INPUTS_PER_TURN`] queued inputs from
//! one channel; after every turn it drains [`Server::poll_transmits`] (sent together, with
//! `sendmmsg`) and [`Server::poll_event`]; logins the server hands out go to RADIUS, and its
//! verdicts back to the server in the same drain. The `Sleep` wakes on the grid of
//! [`crate::tick`], so the keepalive timers of many sessions share a turn.
//!
//! SIGHUP, `reload-users` on the control socket, or a change of the users file seen by the
//! periodic check reloads users.yaml: read once, checked whole, applied only when valid; a bad
//! file is reported and the previous table kept (see [`crate::reload`] for when a change is
//! acted on). SIGTERM/SIGINT call [`Server::shutdown`], keep
//! the loop going for at most [`SHUTDOWN_GRACE`] so the goodbyes get out, and exit 0.
//!
//! Under systemd (`Type=notify`) the loop reports through [`crate::notify`]: `READY=1` once
//! set-up is done and the loop is about to run, `RELOADING=1`/`READY=1` around a users reload,
//! `STOPPING=1` at shutdown, and `WATCHDOG=1` pings from the loop itself.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use anyhow::Context;
use config::Config;
use config::files::FileStamp;
use config::users::Users;
use server::escape::Printable;
use server::{Event, Server};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::{UdpSocket, UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::accounting::Accounting;
use crate::acct_id::AcctSessionIds;
use crate::clock;
use crate::control::{self, DaemonInfo, Request, Response};
use crate::datapath::{self, Input, Lane, Listener, Owner};
use crate::dynauth::{self, DynAuth};
use crate::logging::LogFormat;
use crate::notify::Notifier;
use crate::reload::UsersWatch;
use crate::remote_auth::{self, RemoteAuth};
use crate::tick;

/// How long a shutdown may take to send its Delete/StopCCN messages.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How often the users file's modification time is checked.
const USERS_POLL: Duration = Duration::from_secs(2);

/// Depth of each of the owner's input channels (hand-offs, and IKE).
const CHANNEL_DEPTH: usize = 1024;

/// Inputs the owner takes from one channel in one turn before it sends what they produced:
/// keepalive answers that arrive together are handled together, and the datagrams they
/// cause leave together.
const INPUTS_PER_TURN: usize = 64;

/// The sockets and TUN queues made for the worker threads, handed to them once the server
/// exists.
struct WorkerIo {
    sockets: Vec<(std::net::UdpSocket, SocketAddrV4)>,
    tun: Option<tun::Tun>,
}

/// Everything set up before the loop starts.
struct Runtime {
    config: Config,
    /// The owner's sockets (moved into its [`Lane`] when the loop starts).
    listeners: Vec<Listener>,
    /// The owner's TUN queue (moved into its [`Lane`]).
    tun: Option<AsyncFd<tun::Tun>>,
    raw_esp: Option<AsyncFd<OwnedFd>>,
    /// For `status`: the TUN device's name and the addresses we listen on.
    tun_name: Option<String>,
    listening: Vec<String>,
    control: UnixListener,
    keylog: Option<BufWriter<File>>,
    /// When to reload users.yaml.
    users_watch: UsersWatch,
    user_count: usize,
    /// One entry per data-path worker thread (empty with `workers: 1`), until started.
    workers: Vec<WorkerIo>,
    /// Worker threads started.
    worker_count: usize,
    /// Packets each worker read.
    worker_packets: Vec<Arc<AtomicU64>>,
    /// The service manager (systemd), if one is listening.
    notifier: Notifier,
    /// The metrics endpoint's socket (moved into its task when the loop starts).
    metrics_listener: Option<tokio::net::TcpListener>,
    /// Counters for the metrics endpoint, kept from the server's events.
    metrics: crate::metrics::Metrics,
    /// The session hooks (`hooks`).
    hooks: crate::hooks::Hooks,
    /// RADIUS authentication, if configured (`radius`).
    radius: Option<RemoteAuth>,
    /// Disconnect and CoA requests, if configured (`radius.dynamic_authorization`).
    dynauth: Option<DynAuth>,
    /// RADIUS accounting, if on (`radius.accounting`); its records go through `radius`.
    accounting: Option<Accounting>,
}

/// `l2tpd-rs run`.
pub(crate) fn main(
    config_path: &Path,
    keylog: Option<&Path>,
    no_tun: bool,
    log_format: LogFormat,
) -> ExitCode {
    let crate::check::Loaded {
        config,
        warnings,
        users,
        users_stamp,
    } = match crate::check::load_all(config_path) {
        Ok(v) => v,
        Err(messages) => {
            for m in &messages {
                eprintln!("{m}");
            }
            eprintln!(
                "l2tpd-rs: not starting: fix the problems above (`l2tpd-rs check-config` lists them)"
            );
            return ExitCode::FAILURE;
        }
    };
    init_logging(&config, log_format);
    for w in &warnings {
        warn!("{w}");
    }
    if config.server.psk_is_example() {
        warn!(
            config = %config.path.display(),
            "THE PRE-SHARED KEY IS THE SHIPPED EXAMPLE: anyone who has read the example can connect. \
             Change `psk` before exposing this server"
        );
    }
    if config.server.allow_plaintext_l2tp {
        warn!("allow_plaintext_l2tp is on: L2TP without IPsec will be accepted");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Local tasks: the readers' batch receive buffers hold raw `mmsghdr` pointers (not `Send`).
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&runtime, async move {
        let rt = setup(config, keylog, no_tun, users.len(), users_stamp).await?;
        serve(rt, users).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("l2tpd-rs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.daemon.log_level.as_str()));
    crate::logging::init(format, filter);
}

async fn setup(
    mut config: Config,
    keylog: Option<&Path>,
    no_tun: bool,
    user_count: usize,
    users_stamp: Option<FileStamp>,
) -> anyhow::Result<Runtime> {
    // Acct-Session-Ids name this daemon's start: every user of them shares this one value.
    // One start time for every Acct-Session-Id, so a Disconnect-Request can name what
    // accounting sent.
    let boot_unix = clock::unix_seconds();
    let acct_ids = AcctSessionIds::new(boot_unix);
    // Control socket first: it tells us whether another daemon is already running.
    let control = crate::files::bind_control(
        &config.daemon.control_socket,
        config.daemon.control_socket_group.as_deref(),
    )
    .await?;
    let unbind_on_error = crate::files::UnbindOnError::new(&config.daemon.control_socket);
    let metrics_listener = match &config.daemon.metrics {
        Some(m) => Some(
            tokio::net::TcpListener::bind(m.listen)
                .await
                .with_context(|| {
                    format!("cannot serve metrics on {} (metrics.listen)", m.listen)
                })?,
        ),
        None => None,
    };

    // `workers: 1` is the single owner task; more means that many worker threads besides it.
    let worker_count = match config.daemon.workers {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let worker_count = if worker_count > 1 { worker_count } else { 0 };
    let mut workers: Vec<WorkerIo> = (0..worker_count)
        .map(|_| WorkerIo {
            sockets: Vec::new(),
            tun: None,
        })
        .collect();

    let listen = &config.server.listen;
    let mut listeners = Vec::new();
    for addr in &listen.addresses {
        for port in [listen.ike_port, listen.nat_t_port] {
            let bound = SocketAddrV4::new(*addr, port);
            // Every NAT-T socket joins one SO_REUSEPORT group: the owner's and one per worker.
            let reuse = port == listen.nat_t_port && worker_count > 0;
            if reuse {
                for w in &mut workers {
                    let socket = bind_std_udp(bound, true)
                        .with_context(|| format!("cannot bind a worker socket on UDP {bound}"))?;
                    w.sockets.push((socket, bound));
                }
            }
            let socket = bind_udp(bound, reuse).with_context(|| {
                format!(
                    "cannot bind UDP {bound} (is another IKE daemon such as strongSwan or libreswan \
                     running, or are you not root for ports below 1024?)"
                )
            })?;
            info!(%bound, "listening");
            listeners.push(Listener::new(Arc::new(socket), bound));
        }
    }

    let raw_esp = if listen.raw_esp {
        let local = listen
            .addresses
            .first()
            .copied()
            .filter(|a| !a.is_unspecified());
        match tun::open_raw_esp(local).and_then(|fd| {
            datapath::register(fd, Interest::READABLE | Interest::WRITABLE).map_err(|e| {
                tun::Error::Io {
                    op: "register raw ESP with tokio".into(),
                    source: e,
                }
            })
        }) {
            Ok(fd) => {
                info!("raw ESP (IP protocol 50) socket open");
                Some(fd)
            }
            Err(e) => {
                warn!(
                    "raw ESP is configured but unavailable ({e}): only UDP-encapsulated ESP (port {}) \
                     will work, and clients that are not behind a NAT are refused ESP without \
                     UDP encapsulation; run as root or with CAP_NET_RAW",
                    listen.nat_t_port
                );
                None
            }
        }
    } else {
        None
    };
    // Without the socket, negotiating plain ESP would set up SAs whose packets nobody reads:
    // the IKE responder refuses it instead (a clear "no proposal chosen" for the client).
    if raw_esp.is_none() {
        config.server.listen.raw_esp = false;
    }

    let tun = if no_tun {
        warn!("running without a TUN device (--no-tun): client traffic is dropped");
        None
    } else {
        let mut queues = open_tun(&config, worker_count + 1).with_context(|| {
            format!(
                "cannot set up the TUN device {} (needs root or CAP_NET_ADMIN, and /dev/net/tun)",
                config.daemon.tun.name
            )
        })?;
        for w in workers.iter_mut().rev() {
            w.tun = queues.pop();
        }
        let owner_queue = queues
            .pop()
            .context("the TUN device has no queue for the owner")?;
        Some(datapath::register(owner_queue, Interest::READABLE)?)
    };
    if worker_count > 0 {
        info!(
            workers = worker_count,
            "multi-core data path: worker threads with SO_REUSEPORT sockets and TUN queues"
        );
    }

    let keylog = match keylog {
        Some(path) => {
            let file = crate::files::open_keylog(path)?;
            warn!(file = %path.display(), "writing IKE/ESP keys to a key log: for debugging only");
            Some(BufWriter::new(file))
        }
        None => None,
    };

    // Bound before privileges are dropped, so any port may be configured.
    let dynauth = match config
        .daemon
        .radius
        .as_ref()
        .and_then(|r| r.dynamic_authorization.as_ref().map(|d| (r, d)))
    {
        Some((opts, d)) => {
            // NAS-IP-Address names us if it is the configured one or an address we listen on
            // (when neither is known, any is taken: we cannot tell).
            let mut addresses: Vec<Ipv4Addr> = opts.nas_ip_address.into_iter().collect();
            addresses.extend(
                config
                    .server
                    .listen
                    .addresses
                    .iter()
                    .filter(|a| !a.is_unspecified()),
            );
            if let std::net::IpAddr::V4(a) = d.listen.ip()
                && !a.is_unspecified()
            {
                addresses.push(a);
            }
            let nas = dynauth::Nas {
                identifier: remote_auth::nas_identifier(opts),
                addresses,
            };
            Some(DynAuth::new(d, nas, acct_ids, clock::os_seed()).await?)
        }
        None => None,
    };

    if let Some(p) = &config.daemon.privileges {
        let group = crate::check::daemon_group_name(p);
        tun::drop_privileges(&p.user, p.group.as_deref())
            .with_context(|| format!("cannot drop privileges to {}", p.user))?;
        info!(user = %p.user, "dropped root privileges");
        // Reloads run as this account from now on: find out now, not at the first edit.
        crate::files::check_users_file_readable(&config.daemon.users_file, &p.user, &group)?;
        if let Some(c) = &config.server.certificates {
            // Certificate reloads run as this account too. The key may stay root's (a reload
            // keeps the key in use while the certificate still matches it); the rest must open.
            for path in std::iter::once(&c.files.certificate)
                .chain(&c.files.ca)
                .chain(&c.files.crl)
            {
                if let Err(e) = File::open(path) {
                    warn!(
                        file = %path.display(),
                        "after dropping privileges to {}, this certificate file cannot be read \
                         ({e}): reloads (SIGHUP) will keep the files read at start until {} may \
                         read it",
                        p.user,
                        p.user
                    );
                }
            }
        }
    }

    let mut accounting = None;
    let radius = match &config.daemon.radius {
        Some(opts) => {
            // Called-Station-Id: the address clients dial, when we know it.
            let called = config
                .server
                .listen
                .addresses
                .iter()
                .copied()
                .find(|a| !a.is_unspecified())
                .or(opts.nas_ip_address)
                .map(std::net::IpAddr::V4);
            let acct = &opts.accounting;
            if acct.enabled && !acct.servers.is_empty() {
                let servers = acct
                    .servers
                    .iter()
                    .map(|s| s.address.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                info!(
                    servers = %servers,
                    interim_secs = acct.interim_interval.map_or(0, |d| d.as_secs()),
                    "RADIUS accounting on: Start, Interim-Update and Stop for every session"
                );
                accounting = Some(Accounting::new(
                    boot_unix,
                    clock::now(),
                    called.map(|a| a.to_string()),
                    acct.interim_interval,
                ));
            }
            Some(RemoteAuth::new(opts, called, clock::os_seed()).await?)
        }
        None => None,
    };

    unbind_on_error.keep();
    let hooks = crate::hooks::Hooks::new(&config.daemon.hooks);
    Ok(Runtime {
        tun_name: tun.as_ref().map(|t| t.get_ref().name().to_owned()),
        listening: listeners.iter().map(|l| l.bound.to_string()).collect(),
        config,
        listeners,
        tun,
        raw_esp,
        control,
        keylog,
        users_watch: UsersWatch::new(users_stamp),
        user_count,
        workers,
        worker_count: 0,
        worker_packets: Vec::new(),
        notifier: Notifier::from_env(clock::now()),
        metrics_listener,
        metrics: crate::metrics::Metrics::default(),
        hooks,
        radius,
        dynauth,
        accounting,
    })
}

/// Bytes of socket buffer asked for each UDP socket (granted beyond `net.core.rmem_max` while
/// we still run as root). 4 MiB holds about 2,800 full-size datagrams, a few tens of
/// milliseconds at the rates one thread carries, instead of the default's one or two.
const SOCKET_RECEIVE_BUFFER: usize = 4 << 20;
const SOCKET_SEND_BUFFER: usize = 1 << 20;

fn bind_udp(addr: SocketAddrV4, reuseport: bool) -> anyhow::Result<UdpSocket> {
    Ok(UdpSocket::from_std(bind_std_udp(addr, reuseport)?)?)
}

/// A non-blocking UDP socket with `IP_PKTINFO`, and `SO_REUSEPORT` if asked, bound to `addr`.
fn bind_std_udp(addr: SocketAddrV4, reuseport: bool) -> anyhow::Result<std::net::UdpSocket> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // The local address of every datagram is part of the peer key
    // (docs/clients.md#several-clients-one-nat), also on a wildcard bind.
    tun::set_pktinfo(&fd)?;
    // Back-to-back datagrams of one client, coalesced by the NIC's GRO, cross the receive
    // path once; the reader cuts them apart (datapath::udp_loop).
    if let Err(e) = tun::set_gro(&fd) {
        debug!(%addr, "UDP receive coalescing unavailable: {e}");
    }
    if reuseport {
        tun::set_reuseport(&fd)?;
    }
    match tun::set_buffers(&fd, SOCKET_RECEIVE_BUFFER, SOCKET_SEND_BUFFER) {
        Ok((receive, send)) => debug!(%addr, receive, send, "UDP socket buffers"),
        Err(e) => warn!(%addr, "UDP socket buffers left at the system default: {e}"),
    }
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(addr),
    )?;
    Ok(std::net::UdpSocket::from(fd))
}

/// Creates and configures the TUN device: one plain queue, or `queues` queues of a
/// multi-queue device (the owner's and one per worker).
fn open_tun(config: &Config, queues: usize) -> anyhow::Result<Vec<tun::Tun>> {
    let (tun_options, pool) = (&config.daemon.tun, &config.server.pool);
    let devs = if queues > 1 {
        tun::Tun::create_multi_queue(&tun_options.name, queues)?
    } else {
        vec![tun::Tun::create(&tun_options.name)?]
    };
    let name = devs
        .first()
        .map(|d| d.name().to_owned())
        .context("no TUN queue")?;
    let net = pool.cidr;
    let mask = if tun_options.create_routes {
        net.mask()
    } else {
        Ipv4Addr::BROADCAST
    };
    tun::set_ipv4_address(&name, pool.server_address, mask)?;
    tun::set_mtu(&name, tun_options.mtu)?;
    // The pool is IPv4 only: without this the kernel sends router solicitations and MLD
    // reports into the TUN. Best effort (no IPv6 in the kernel is fine too).
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    tun::set_up(&name)?;
    let offload = match devs.first() {
        Some(dev) if tun_options.offload => match dev.enable_offloads() {
            Ok(tun::Offloads { udp: true, .. }) => "tcp, udp",
            Ok(_) => "tcp (this kernel cannot hand over UDP unsegmented before Linux 6.2)",
            Err(e) => {
                warn!(tun = %name, "segmentation offload refused ({e}): one packet per read");
                "none"
            }
        },
        _ => "off",
    };
    if tun_options.create_routes {
        // Setting the pool netmask already made the kernel add the connected route; adding it
        // explicitly is a no-op then, and covers kernels that did not.
        tun::add_route(net.network(), net.prefix(), &name)?;
    }
    info!(
        tun = %name,
        address = %pool.server_address,
        route = %if tun_options.create_routes { net.to_string() } else { "none".to_owned() },
        mtu = tun_options.mtu,
        queues = devs.len(),
        offload,
        "TUN device up"
    );
    Ok(devs)
}

/// Spawns the handler of one control connection.
fn spawn_control(mut stream: UnixStream, tx: mpsc::Sender<Input>) {
    tokio::spawn(async move {
        let response = match control::read_request(&mut stream).await {
            Ok(req) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                if tx.send(Input::Control(req, reply_tx)).await.is_err() {
                    Response::error("the server is shutting down")
                } else {
                    reply_rx
                        .await
                        .unwrap_or_else(|_| Response::error("the server is shutting down"))
                }
            }
            Err(msg) => Response::error(msg),
        };
        if let Err(e) = control::write_response(&mut stream, &response).await {
            debug!("control client went away: {e}");
        }
    });
}

async fn serve(mut rt: Runtime, users: Users) -> anyhow::Result<()> {
    let mut server = Server::new(
        rt.config.server.clone(),
        users,
        clock::os_seed(),
        clock::now(),
    );
    // Certificate validity and CRL dates are wall-clock times: the anchor is renewed on
    // every turn of the loop.
    server.set_wall_clock(clock::now(), clock::wall_now());
    server.set_tun_mtu(rt.config.daemon.tun.mtu);
    if rt.keylog.is_some() {
        server.set_keylog(true);
    }
    if let Some(opts) = &rt.config.daemon.radius {
        server.set_auth_order(remote_auth::auth_order(&opts.order));
    }
    let (control_tx, mut control_rx) = mpsc::channel::<Input>(CHANNEL_DEPTH);
    let (ike_tx, mut ike_rx) = mpsc::channel::<Input>(CHANNEL_DEPTH);
    let counters = Arc::new(datapath::Counters::default());
    let owner = Owner {
        control: control_tx.clone(),
        ike: ike_tx,
        wake_queued: Arc::new(AtomicBool::new(false)),
        counters: Arc::clone(&counters),
    };
    let dp = server.data_plane();
    let nat_t_port = rt.config.server.listen.nat_t_port;
    let raw_send = |fd: Option<&AsyncFd<OwnedFd>>| match fd.map(|fd| fd.get_ref().try_clone()) {
        Some(Ok(fd)) => Some(fd),
        Some(Err(e)) => {
            warn!("cannot share the raw ESP socket: {e}");
            None
        }
        None => None,
    };
    // The data plane's worker threads: each reads its own sockets and TUN queue.
    for (index, io) in std::mem::take(&mut rt.workers).into_iter().enumerate() {
        let mut sockets = Vec::new();
        for (socket, bound) in io.sockets {
            sockets.push((socket, bound));
        }
        let packets = Arc::new(AtomicU64::new(0));
        let path = WorkerPath {
            sockets,
            tun: io.tun,
            raw_esp: raw_send(rt.raw_esp.as_ref()),
        };
        let (dp, owner, counters) = (dp.clone(), owner.clone(), Arc::clone(&packets));
        crate::workers::spawn(index, move || {
            path.into_path(index, dp, nat_t_port, owner, counters)
        })
        .context("cannot start a worker thread")?;
        rt.worker_count += 1;
        rt.worker_packets.push(packets);
    }
    // The owner runs the same reader tasks on its own sockets, TUN queue and raw ESP socket.
    let path = Arc::new(Lane {
        name: "owner".to_owned(),
        dp: dp.clone(),
        nat_t_port,
        sockets: std::mem::take(&mut rt.listeners),
        tun: rt.tun.take(),
        raw_esp: raw_send(rt.raw_esp.as_ref()),
        owner: owner.clone(),
        packets: Arc::new(AtomicU64::new(0)),
        tun_runs: AtomicBool::new(true),
    });
    let mut readers = tokio::task::JoinSet::new();
    datapath::spawn_readers(&path, &mut readers);
    if let Some(listener) = rt.metrics_listener.take() {
        if let Ok(a) = listener.local_addr() {
            info!(address = %a, "serving Prometheus metrics at http://{a}/metrics");
        }
        readers.spawn(crate::metrics::serve(listener, control_tx.clone()));
    }
    if let Some(fd) = rt.raw_esp.take() {
        readers.spawn_local(datapath::esp_loop(Arc::clone(&path), Arc::new(fd)));
    }
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut users_poll = tokio::time::interval(USERS_POLL);
    users_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut out = Outbox {
        batch: server::Batch::new(),
        sender: tun::SendBatch::new(datapath::BATCH),
    };
    let grid = tick::Grid::new(clock::now(), tick::SLOT);
    let mut armed_at: Option<Instant> = None;
    let mut radius_buf = vec![0u8; remote_auth::MAX_RADIUS_PACKET];
    let mut dynauth_buf = vec![0u8; remote_auth::MAX_RADIUS_PACKET];

    // Before any session's Start: the accounting servers may close what a previous run of
    // ours left open.
    accounting_nas(&mut rt, true).await;
    info!(
        users = rt.user_count,
        pool = %rt.config.server.pool.cidr,
        "l2tpd-rs {} started",
        env!("CARGO_PKG_VERSION")
    );
    if rt.notifier.is_active() {
        info!(
            watchdog = ?rt.notifier.watchdog_every(),
            "telling the service manager we are ready (NOTIFY_SOCKET)"
        );
    }
    rt.notifier
        .ready(&format!("serving {} users", rt.user_count));
    // Idle wake-ups for the watchdog; a busy loop pings from the top of every turn.
    let mut watchdog_tick = tokio::time::interval(
        rt.notifier
            .watchdog_wake()
            .unwrap_or(Duration::from_secs(3600)),
    );
    watchdog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watchdog_on = rt.notifier.watchdog_every().is_some();
    let mut shutdown_deadline: Option<Instant> = None;
    let mut accounting_off_sent = false;
    loop {
        rt.notifier.watchdog(clock::now());
        server.set_wall_clock(clock::now(), clock::wall_now());
        let timeout = [
            server.poll_timeout(),
            rt.radius.as_ref().and_then(RemoteAuth::poll_timeout),
            rt.accounting.as_ref().and_then(Accounting::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(deadline) = shutdown_deadline {
            // Keep going only while the server still has work and the grace period lasts.
            if timeout.is_none() || clock::now() >= deadline {
                break;
            }
        }
        let wake = match (timeout, shutdown_deadline) {
            (Some(t), Some(d)) => Some(t.min(d)),
            (t, d) => t.or(d),
        };
        // On the grid, so that the deadlines of many sessions share one wake-up.
        let wake = wake.map(|w| grid.wake_at(w, clock::now()));
        if let Some(w) = wake
            && armed_at != Some(w)
        {
            sleep.as_mut().reset(tokio::time::Instant::from_std(w));
            armed_at = Some(w);
        }
        let armed = wake.is_some();

        tokio::select! {
            // Authenticated clients and the admin first, strangers' IKE after.
            biased;
            Some(input) = control_rx.recv() => take_turn(&mut control_rx, input, |i| {
                owner_input(&mut rt, &mut server, &path, &owner, &counters, i);
            }),
            () = &mut sleep, if armed => {
                armed_at = None;
                let now = clock::now();
                server.handle_timeout(now);
                if let Some(r) = rt.radius.as_mut() {
                    if let Some(acct) = rt.accounting.as_mut() {
                        for record in acct.handle_timeout(now, |s| server.session_traffic(s)) {
                            acct.submit(r.client_mut(), now, record);
                        }
                    }
                    r.handle_timeout(now);
                }
            },
            received = remote_auth::recv(rt.radius.as_ref(), &mut radius_buf) => match received {
                Ok((n, from)) => {
                    if let Some(r) = rt.radius.as_mut() {
                        r.handle_datagram(clock::now(), from, radius_buf.get(..n).unwrap_or_default());
                    }
                }
                Err(e) => debug!("RADIUS socket: {e}"),
            },
            received = dynauth::recv(rt.dynauth.as_ref(), &mut dynauth_buf) => match received {
                Ok((n, from)) => {
                    if let Some(d) = rt.dynauth.as_mut() {
                        let data = dynauth_buf.get(..n).unwrap_or_default();
                        d.handle_datagram(clock::now(), clock::unix_seconds(), from, data, &mut server);
                    }
                }
                Err(e) => debug!("Dynamic Authorization socket: {e}"),
            },
            Some(input) = ike_rx.recv() => take_turn(&mut ike_rx, input, |i| {
                owner_input(&mut rt, &mut server, &path, &owner, &counters, i);
            }),
            accepted = rt.control.accept(), if shutdown_deadline.is_none() => match accepted {
                Ok((stream, _)) => spawn_control(stream, control_tx.clone()),
                Err(e) => warn!("control socket accept failed: {e}"),
            },
            _ = users_poll.tick(), if shutdown_deadline.is_none() => poll_users(&mut rt, &mut server),
            _ = watchdog_tick.tick(), if watchdog_on => {}
            _ = sighup.recv() => {
                info!("SIGHUP: reloading the users file and the certificate files");
                let _ = reload_users(&mut rt, &mut server);
                let _ = reload_certificates(&mut server);
            },
            _ = sigterm.recv(), if shutdown_deadline.is_none() => {
                info!("SIGTERM: disconnecting every client and stopping");
                rt.notifier.stopping();
                server.shutdown(clock::now());
                shutdown_deadline = Some(clock::now() + SHUTDOWN_GRACE);
            },
            _ = sigint.recv(), if shutdown_deadline.is_none() => {
                info!("SIGINT: disconnecting every client and stopping");
                rt.notifier.stopping();
                server.shutdown(clock::now());
                shutdown_deadline = Some(clock::now() + SHUTDOWN_GRACE);
            },
        }
        drain(&mut rt, &path, &mut server, &mut out).await;
        if shutdown_deadline.is_some() && !accounting_off_sent {
            // After the Stops of the sessions the shutdown ended (queued by the drain).
            accounting_off_sent = true;
            accounting_nas(&mut rt, false).await;
        }
    }
    readers.abort_all();
    if let Some(k) = rt.keylog.as_mut() {
        let _ = k.flush();
    }
    crate::files::remove_control_socket(&rt.config.daemon.control_socket);
    info!("stopped");
    Ok(())
}

/// What a worker thread is given; it builds its [`Lane`] on its own runtime (tokio sockets
/// and `AsyncFd`s belong to the runtime that registers them).
struct WorkerPath {
    sockets: Vec<(std::net::UdpSocket, SocketAddrV4)>,
    tun: Option<tun::Tun>,
    raw_esp: Option<OwnedFd>,
}

impl WorkerPath {
    fn into_path(
        self,
        index: usize,
        dp: server::DataPlane,
        nat_t_port: u16,
        owner: Owner,
        packets: Arc<AtomicU64>,
    ) -> std::io::Result<Lane> {
        let mut sockets = Vec::new();
        for (socket, bound) in self.sockets {
            sockets.push(Listener::new(Arc::new(UdpSocket::from_std(socket)?), bound));
        }
        let tun = self
            .tun
            .map(|t| datapath::register(t, Interest::READABLE))
            .transpose()?;
        Ok(Lane {
            name: format!("worker {index}"),
            dp,
            nat_t_port,
            sockets,
            tun,
            raw_esp: self.raw_esp,
            owner,
            packets,
            tun_runs: AtomicBool::new(true),
        })
    }
}

fn handle_control(
    rt: &mut Runtime,
    server: &mut Server,
    path: &Lane,
    counters: &datapath::Counters,
    req: Request,
) -> Response {
    match req {
        Request::Status => Response {
            ok: true,
            snapshot: Some(server.snapshot(clock::now())),
            info: Some(daemon_info(rt, path, counters)),
            ..Response::default()
        },
        Request::Metrics => {
            let per_user = rt
                .config
                .daemon
                .metrics
                .as_ref()
                .is_some_and(|m| m.per_user);
            let info = daemon_info(rt, path, counters);
            Response {
                ok: true,
                metrics: Some(
                    rt.metrics
                        .render(&server.snapshot(clock::now()), &info, per_user),
                ),
                ..Response::default()
            }
        }
        Request::ReloadUsers => {
            let users = reload_users(rt, server);
            let certificates = reload_certificates(server);
            match (users, certificates) {
                (Ok(n), Ok(certs)) => Response {
                    ok: true,
                    message: Some(match certs {
                        Some(c) => format!("reloaded {n} users; {c}"),
                        None => format!("reloaded {n} users"),
                    }),
                    ..Response::default()
                },
                (Err(errors), _) => Response::error(errors.join("\n")),
                (Ok(n), Err(errors)) => Response::error(format!(
                    "reloaded {n} users, but the certificate files were NOT reloaded (the \
                     previous ones stay in use):\n{}",
                    errors.join("\n")
                )),
            }
        }
        Request::Kick { target } => {
            let kicked = server.kick(clock::now(), &Request::kick_target(&target));
            info!(target = %target.escape_debug(), sessions = kicked.len(), "kick requested on the control socket");
            Response {
                ok: true,
                kicked: Some(kicked),
                ..Response::default()
            }
        }
    }
}

/// The daemon's own facts, for `status` and the metrics.
fn daemon_info(rt: &Runtime, path: &Lane, counters: &datapath::Counters) -> DaemonInfo {
    DaemonInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        config: rt.config.path.clone(),
        tun: rt.tun_name.clone(),
        listening: rt.listening.clone(),
        raw_esp: path.raw_esp.is_some(),
        users: rt.user_count,
        workers: rt.worker_count,
        worker_packets: rt
            .worker_packets
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .collect(),
        owner_packets: path.packets.load(std::sync::atomic::Ordering::Relaxed),
        owner_busy: counters
            .owner_busy
            .load(std::sync::atomic::Ordering::Relaxed),
        data_plane: Some(path.dp.stats()),
    }
}

/// Reads the files of the `certificates:` block again (SIGHUP, `reload-users`): new CRLs above
/// all, or a renewed server certificate or CA. Valid files replace the responder's settings
/// for new Main Modes; anything wrong keeps the previous settings, with every problem and one
/// summary line logged. `Ok(None)` when certificates are off.
fn reload_certificates(server: &mut Server) -> Result<Option<String>, Vec<String>> {
    let Some(current) = server.certificates() else {
        return Ok(None);
    };
    match current.reload(clock::wall_now()) {
        Ok((new, warnings)) => {
            for w in &warnings {
                warn!("{w}");
            }
            let summary = format!(
                "certificate files reloaded ({} CA certificate(s), {} CRL(s))",
                new.cas.len(),
                new.crls.len()
            );
            info!(
                cas = new.cas.len(),
                crls = new.crls.len(),
                "certificate files reloaded"
            );
            server.set_certificates(Some(new));
            Ok(Some(summary))
        }
        Err(errors) => {
            for e in &errors {
                error!("{e}");
            }
            error!(
                "certificate files NOT reloaded: keeping the previous certificates, CAs and CRLs \
                 until the files are fixed"
            );
            Err(errors)
        }
    }
}

/// The periodic check of users.yaml: reloads it when [`UsersWatch`] says so.
fn poll_users(rt: &mut Runtime, server: &mut Server) {
    let file = &rt.config.daemon.users_file;
    if rt.users_watch.poll(FileStamp::of_path(file)) {
        info!(file = %file.display(), "users file changed");
        let _ = reload_users(rt, server);
    }
}

/// Reads users.yaml once and checks all of it; a complete valid table replaces the server's,
/// anything else keeps the old table.
fn reload_users(rt: &mut Runtime, server: &mut Server) -> Result<usize, Vec<String>> {
    rt.notifier.reloading(clock::monotonic_usec());
    let result = reload_users_now(rt, server);
    // Ready again whatever the outcome: a failed reload keeps serving the previous users.
    rt.notifier
        .ready(&format!("serving {} users", rt.user_count));
    result
}

fn reload_users_now(rt: &mut Runtime, server: &mut Server) -> Result<usize, Vec<String>> {
    let load = crate::check::load_users(&rt.config);
    let file = &rt.config.daemon.users_file;
    match load.result {
        Ok((users, warnings)) => {
            for w in &warnings {
                warn!("{w}");
            }
            let n = users.len();
            server.reload_users(clock::now(), users);
            rt.user_count = n;
            if let Some(stamp) = load.stamp {
                rt.users_watch.applied(stamp);
            }
            info!(users = n, file = %file.display(), "users file reloaded");
            Ok(n)
        }
        Err(errors) => {
            rt.users_watch.failed(load.stamp);
            for e in &errors {
                error!("{e}");
            }
            error!(
                file = %file.display(),
                kept = rt.user_count,
                "users file NOT reloaded: keeping the previous users until the file is fixed"
            );
            Err(errors)
        }
    }
}
/// Queues an Accounting-On (`on`, at start) or Accounting-Off (at an orderly stop) record
/// for the accounting servers and sends it, when accounting is on (RFC 2866 §5.1).
async fn accounting_nas(rt: &mut Runtime, on: bool) {
    let (Some(acct), Some(r)) = (rt.accounting.as_mut(), rt.radius.as_mut()) else {
        return;
    };
    let now = clock::now();
    let record = acct.nas_record(now, on);
    acct.submit(r.client_mut(), now, record);
    // Sent now, not after the client's first timeout: Starts must not overtake it.
    r.flush_waiting().await;
    debug!(
        "RADIUS {} queued",
        if on {
            "Accounting-On"
        } else {
            "Accounting-Off"
        }
    );
}

/// Routes the networks behind a client into the TUN device while its session is up, or
/// removes them when it ends or a users file reload takes them from it (RADIUS Framed-Route,
/// users.yaml `routes`), unless
/// `tun.create_routes` is off. A failure is logged; the session stays up.
fn kernel_routes(rt: &Runtime, add: bool, routes: &[ipnetwork::Ipv4Network], user: &str) {
    let Some(dev) = rt.tun_name.as_deref() else {
        return;
    };
    if !rt.config.daemon.tun.create_routes {
        return;
    }
    let user = user.printable();
    // Without root (`privileges.user`) the kernel refuses every route change.
    let hint = if rt.config.daemon.privileges.is_some() {
        "; the daemon dropped its privileges (privileges.user), so route it into the TUN device yourself"
    } else {
        ""
    };
    for net in routes {
        let done = if add {
            tun::add_route(net.network(), net.prefix(), dev)
        } else {
            tun::del_route(net.network(), net.prefix(), dev)
        };
        match done {
            Ok(()) => debug!(%user, route = %net, tun = dev, add, "kernel route changed"),
            Err(e) if add => {
                warn!(%user, route = %net, tun = dev, "could not route {net} into {dev} for this session ({e}): packets to it will not reach the client{hint}");
            }
            Err(e) => {
                warn!(%user, route = %net, tun = dev, "could not remove the route to {net} from {dev} after the session ended ({e})");
            }
        }
    }
}

/// One turn on one of the owner's channels: `first` (just received) and whatever else is
/// already queued there, up to [`INPUTS_PER_TURN`] inputs in all, each given to `handle`.
fn take_turn<T>(rx: &mut mpsc::Receiver<T>, first: T, mut handle: impl FnMut(T)) {
    let mut input = Some(first);
    let mut taken = 0;
    while let Some(i) = input.take() {
        handle(i);
        taken += 1;
        if taken < INPUTS_PER_TURN {
            input = rx.try_recv().ok();
        }
    }
}

/// One input from either of the owner's channels (the IKE channel carries only `Udp` and
/// `Esp`).
fn owner_input(
    rt: &mut Runtime,
    server: &mut Server,
    path: &Lane,
    owner: &Owner,
    counters: &datapath::Counters,
    input: Input,
) {
    match input {
        Input::Decrypted { handoff, data } => {
            server.handle_decrypted(clock::now(), &handoff, &data);
        }
        Input::Wake => {
            owner
                .wake_queued
                .store(false, std::sync::atomic::Ordering::Release);
            server.handle_timeout(clock::now());
        }
        Input::Control(req, reply) => {
            let response = handle_control(rt, server, path, counters, req);
            let _ = reply.send(response);
        }
        Input::Udp {
            local,
            remote,
            data,
        } => server.handle_udp(clock::now(), local, remote, &data),
        Input::Esp {
            local,
            remote,
            data,
        } => server.handle_esp(clock::now(), local, remote, &data),
    }
}

/// What the owner sends after a turn, and the headers to send it with; kept between turns.
struct Outbox {
    batch: server::Batch,
    sender: tun::SendBatch,
}

/// Sends everything the server has queued and handles its events; logins go to RADIUS, whose
/// requests are sent and whose verdicts go back to the server (until neither has more). The
/// datagrams of a turn leave together: consecutive ones from the same socket in one
/// `sendmmsg` call.
async fn drain(rt: &mut Runtime, path: &Lane, server: &mut Server, out: &mut Outbox) {
    loop {
        out.batch.clear();
        if server.poll_transmits(&mut out.batch) > 0 {
            datapath::send_batch(path, &out.batch, &mut out.sender).await;
        }
        // Sessions and refusals: the server has logged them already; they are counted for the
        // metrics, start the session hooks, and key log lines are written; logins go to RADIUS.
        while let Some(event) = server.poll_event() {
            rt.metrics.observe(&event);
            rt.hooks.on_event(&event);
            if let (Some(acct), Some(r)) = (rt.accounting.as_mut(), rt.radius.as_mut())
                && let Some(record) = acct.on_event(clock::now(), &event)
            {
                acct.submit(r.client_mut(), clock::now(), record);
            }
            match event {
                Event::KeylogLine(line) => {
                    if let Some(k) = rt.keylog.as_mut() {
                        let _ = writeln!(k, "{line}").and_then(|()| k.flush());
                    }
                }
                Event::AuthRequest {
                    session,
                    client,
                    ticket,
                    request,
                } => {
                    if let Some(r) = rt.radius.as_mut() {
                        r.request(clock::now(), session, client, ticket, &request);
                    }
                }
                Event::SessionUp { user, routes, .. } => {
                    kernel_routes(rt, true, &routes, &user);
                }
                Event::RoutesChanged {
                    user,
                    added,
                    removed,
                    ..
                } => {
                    kernel_routes(rt, false, &removed, &user);
                    kernel_routes(rt, true, &added, &user);
                }
                Event::SessionDown { user, routes, .. } => {
                    kernel_routes(rt, false, &routes, user.as_deref().unwrap_or("-"));
                }
                _ => {}
            }
        }
        let Some(radius) = rt.radius.as_mut() else {
            break;
        };
        radius.flush();
        let verdicts = radius.take_verdicts();
        let mut accepted = radius.take_accepted();
        if verdicts.is_empty() {
            break;
        }
        let now = clock::now();
        for (session, ticket, verdict) in verdicts {
            if server.auth_verdict(now, session, ticket, verdict) {
                // Its Class and interim interval, for the session's accounting.
                if let Some(i) = accepted.iter().position(|(s, _)| *s == session)
                    && let Some(acct) = rt.accounting.as_mut()
                {
                    acct.note_login(session, accepted.swap_remove(i).1);
                }
            } else {
                debug!("a RADIUS verdict came for a login that is no longer waiting");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_takes_what_is_queued_up_to_the_limit() {
        let (tx, mut rx) = mpsc::channel::<usize>(4 * INPUTS_PER_TURN);
        for i in 1..=INPUTS_PER_TURN + 10 {
            tx.try_send(i).unwrap();
        }
        let mut seen = Vec::new();
        take_turn(&mut rx, 0, |i| seen.push(i));
        // The first input and the next INPUTS_PER_TURN - 1 queued ones, in order.
        assert_eq!(seen, (0..INPUTS_PER_TURN).collect::<Vec<_>>());
        // The rest waits for the next turn.
        let mut next = Vec::new();
        take_turn(&mut rx, 1000, |i| next.push(i));
        assert_eq!(next.first(), Some(&1000));
        assert_eq!(
            &next[1..],
            (INPUTS_PER_TURN..=INPUTS_PER_TURN + 10).collect::<Vec<_>>()
        );
        // A turn on an empty channel handles only its first input.
        let mut alone = Vec::new();
        take_turn(&mut rx, 7, |i| alone.push(i));
        assert_eq!(alone, vec![7]);
    }
}
