//! The command line: one subcommand per mode. `flood` sends unsolicited datagrams; `connect`,
//! `hold` and `throughput` run whole client sessions built from `testkit` profiles and share
//! [`SessionArgs`] (`--target`, `--suite`, `--sources`, `--clients`, `--rate`, ...).

use core::net::{Ipv4Addr, SocketAddrV4};
use core::str::FromStr;
use core::time::Duration;

use clap::{Args, Parser, Subcommand};
use crypto::Secret;
use ipnetwork::Ipv4Network;
use rand::SeedableRng;

use crate::Error;
use crate::fleet::FleetConfig;
use crate::flood::{FloodConfig, Kind, Ports};
use crate::pacer::Pacer;
use crate::session::SessionConfig;
use crate::session::throughput::{Direction, ThroughputConfig};
use crate::sources::{DEFAULT_SPOOF_NET, SourceSpec};
use crate::suite::{Esp, Suite};

/// The most datagrams per second a run may ask for.
pub const MAX_RATE: u64 = 10_000_000;

/// Load and attack traffic against an L2TP/IPsec server, for tests. Prints one JSON summary
/// line on standard output when a run ends (also on SIGINT/SIGTERM).
#[derive(Debug, Parser)]
#[command(name = "l2tpd-load", version, about)]
pub struct Cli {
    /// The mode.
    #[command(subcommand)]
    pub command: Command,
}

/// The modes.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Flood the server's IKE/NAT-T ports with unsolicited datagrams from many (spoofed)
    /// sources: Main Mode message 1s in the Windows 10 layout, or garbage.
    Flood(FloodArgs),
    /// Connect N clients (IKE, L2TP, PPP with MS-CHAPv2, IPCP): connects per second, latency
    /// percentiles, failures by cause.
    Connect(ConnectArgs),
    /// Bring N sessions up and keep them for T seconds: the server's memory per session and
    /// its CPU use while idle.
    Hold(HoldArgs),
    /// Carry test traffic through M sessions to, from or both ways with a LAN host behind the
    /// server: delivered packets per second, Mbit/s, loss.
    Throughput(ThroughputArgs),
}

/// What every session mode takes.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// The server's address (it must listen on UDP 500 and 4500).
    #[arg(long, value_name = "IP")]
    pub target: Ipv4Addr,
    /// The simulated client.
    #[arg(long, value_enum, default_value = "xp-modp1024")]
    pub suite: Suite,
    /// Offer only this ESP transform (default: the suite's proposals).
    #[arg(long, value_enum)]
    pub esp: Option<Esp>,
    /// Source addresses, all local to the generator's network namespace (for example a
    /// range made local with `ip route add local 10.201.0.0/16 dev lo`); client i uses the
    /// i-th host address, wrapping around.
    #[arg(long, value_name = "CIDR")]
    pub sources: Ipv4Network,
    /// How many clients (sessions).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub clients: u64,
    /// Connects started per second (as fast as --concurrency allows if not given).
    #[arg(long, value_name = "PER_SEC", value_parser = clap::value_parser!(u64).range(1..=MAX_RATE))]
    pub rate: Option<u64>,
    /// The most clients connecting at once.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// A connect that takes longer fails as a timeout.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    pub connect_timeout: Duration,
    /// The IPsec pre-shared key.
    #[arg(long, env = "L2TPD_LOAD_PSK", hide_env_values = true)]
    pub psk: String,
    /// The PPP user name every client logs in with.
    #[arg(long, default_value = "bench")]
    pub user: String,
    /// The PPP password.
    #[arg(long, env = "L2TPD_LOAD_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// A server process to measure (RSS and CPU from /proc, with its descendants); repeat
    /// for several.
    #[arg(long = "server-pid", value_name = "PID")]
    pub server_pids: Vec<u32>,
    /// The server's name in the summary.
    #[arg(long, default_value = "server")]
    pub server_name: String,
    /// Start no more clients (and stop holding) once the server's RSS passes this many MiB.
    #[arg(long, value_name = "MIB")]
    pub server_rss_limit_mib: Option<u64>,
    /// 64 hex digits: seed every client's random choices.
    #[arg(long, value_name = "HEX", value_parser = parse_seed)]
    pub seed: Option<[u8; 32]>,
}

impl SessionArgs {
    /// The sessions' configuration; `os_seed` supplies the seed when `--seed` is absent.
    pub fn into_config(self, os_seed: impl FnOnce() -> [u8; 32]) -> Result<SessionConfig, Error> {
        let clients = usize::try_from(self.clients).map_err(|e| Error::Usage(e.to_string()))?;
        let mut rng = rand_chacha::ChaCha8Rng::from_seed([0; 32]);
        let mut sources = SourceSpec::Net(self.sources).addresses(self.sources, &mut rng)?;
        sources.truncate(clients);
        if sources.is_empty() {
            return Err(Error::Usage(format!(
                "{} has no host address",
                self.sources
            )));
        }
        if self.concurrency == Some(0) {
            return Err(Error::Usage("--concurrency must be at least 1".to_owned()));
        }
        Ok(SessionConfig {
            fleet: FleetConfig {
                server: self.target,
                suite: self.suite,
                esp: self.esp,
                psk: Secret::from_slice(self.psk.as_bytes()),
                user: self.user,
                password: self.password,
                sources,
                connect_timeout: self.connect_timeout,
                seed: self.seed.unwrap_or_else(os_seed),
            },
            clients,
            rate: self.rate,
            concurrency: self.concurrency,
            server_pids: self.server_pids,
            server_name: self.server_name,
            server_rss_limit_kib: self.server_rss_limit_mib.map(|m| m.saturating_mul(1024)),
        })
    }
}

/// `l2tpd-load connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// The sessions.
    #[command(flatten)]
    pub session: SessionArgs,
}

/// `l2tpd-load hold`.
#[derive(Debug, Clone, Args)]
pub struct HoldArgs {
    /// The sessions.
    #[command(flatten)]
    pub session: SessionArgs,
    /// How long to keep the sessions once all are up, seconds.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    pub duration: Duration,
}

/// `l2tpd-load throughput`.
#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    /// The sessions (`--clients` is M; `--rate` paces the connects).
    #[command(flatten)]
    pub session: SessionArgs,
    /// Which way the test datagrams go: in (clients to the LAN host), out, or both.
    #[arg(long, value_enum, default_value = "in")]
    pub direction: Direction,
    /// The inner IPv4 packet size, octets (IP and UDP headers included).
    #[arg(long, value_name = "OCTETS", default_value_t = 1400)]
    pub size: usize,
    /// How long the timed phase lasts, seconds.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub duration: Duration,
    /// Datagrams per second each way, all sessions together (default: as fast as the
    /// generator can).
    #[arg(long, value_name = "PPS", value_parser = clap::value_parser!(u64).range(1..=MAX_RATE))]
    pub pps: Option<u64>,
    /// The most memory for pre-sealed ESP datagrams, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub ring_mib: usize,
    /// The most time spent sealing them, seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub seal_secs: Duration,
    /// The network namespace of the LAN host behind the server (`ip netns` name); the
    /// generator's own if not given.
    #[arg(long, value_name = "NAME")]
    pub lan_netns: Option<String>,
    /// The LAN host's address and UDP port.
    #[arg(long, value_name = "IP:PORT", default_value = "10.77.0.2:9000")]
    pub lan: SocketAddrV4,
    /// Check the whole payload of every n-th datagram (the header of all).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub check_every: u64,
    /// Send each client's burst, and the LAN host's towards each session, datagram by
    /// datagram, not as UDP segmentation offload messages (udp(7) `UDP_SEGMENT`; a server
    /// socket with `UDP_GRO` then receives each run whole, as from a NIC that coalesces
    /// back-to-back datagrams of a flow, and a server TUN device with offloads reads the LAN
    /// host's runs whole, as a bulk transfer arrives from a host with segmentation offload).
    #[arg(long)]
    pub no_gso: bool,
}

impl ThroughputArgs {
    /// The mode's own configuration.
    pub fn throughput_config(&self) -> ThroughputConfig {
        ThroughputConfig {
            direction: self.direction,
            size: self.size,
            duration: self.duration,
            rate: self.pps,
            ring_bytes: self.ring_mib.saturating_mul(1 << 20),
            seal_limit: self.seal_secs,
            lan_netns: self.lan_netns.clone(),
            lan: self.lan,
            check_every: self.check_every,
            gso: !self.no_gso,
        }
    }
}

/// `l2tpd-load flood`.
#[derive(Debug, Clone, Args)]
pub struct FloodArgs {
    /// The server: IP, or IP:PORT to use another IKE port than 500.
    #[arg(long, value_name = "IP[:PORT]")]
    pub target: Target,
    /// What to send: mm1 (Main Mode message 1, fresh cookie each) or garbage (random bytes,
    /// and ESP-looking datagrams with random SPIs on the NAT-T port).
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Source addresses: every host of a CIDR, or COUNT distinct addresses from
    /// --source-pool. Without spoofing: min(COUNT, 256) UDP sockets (source ports).
    #[arg(long, value_name = "CIDR|COUNT", default_value = "1000")]
    pub sources: SourceSpec,
    /// Datagrams per second, all ports together.
    #[arg(long, value_name = "PPS", value_parser = clap::value_parser!(u64).range(1..=MAX_RATE))]
    pub rate: u64,
    /// How long to send, seconds (fractions allowed).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Duration,
    /// Which ports: 500 (IKE), 4500 (NAT-T) or both (alternating).
    #[arg(long, value_enum, default_value = "both")]
    pub port: Ports,
    /// The server's NAT-T port.
    #[arg(long, value_name = "PORT", default_value_t = 4500)]
    pub nat_t_port: u16,
    /// Send from ordinary UDP sockets with the host's own address, even as root.
    #[arg(long)]
    pub no_spoof: bool,
    /// Where --sources COUNT draws addresses from (default: the benchmarking range, RFC 2544).
    #[arg(long, value_name = "CIDR", default_value_t = DEFAULT_SPOOF_NET)]
    pub source_pool: Ipv4Network,
    /// The address UDP sockets bind to without spoofing.
    #[arg(long, value_name = "IP", default_value_t = Ipv4Addr::UNSPECIFIED)]
    pub bind: Ipv4Addr,
    /// Token bucket depth in datagrams (default: 50 ms worth of --rate).
    #[arg(long, value_name = "N")]
    pub burst: Option<u64>,
    /// The most datagrams built before sending starts (the ring is reused after that).
    #[arg(long, value_name = "N", default_value_t = 16_384)]
    pub ring: usize,
    /// 64 hex digits: seed every random choice (addresses, ports, cookies, bytes) for a
    /// reproducible run.
    #[arg(long, value_name = "HEX", value_parser = parse_seed)]
    pub seed: Option<[u8; 32]>,
}

impl FloodArgs {
    /// The run's configuration; `os_seed` supplies the seed when `--seed` is absent.
    pub fn into_config(self, os_seed: impl FnOnce() -> [u8; 32]) -> Result<FloodConfig, Error> {
        if self.ring == 0 {
            return Err(Error::Usage("--ring must be at least 1".to_owned()));
        }
        Ok(FloodConfig {
            target: self.target.ip,
            ike_port: self.target.port.unwrap_or(testkit::IKE_PORT),
            nat_t_port: self.nat_t_port,
            ports: self.port,
            kind: self.kind,
            sources: self.sources,
            source_pool: self.source_pool,
            rate: self.rate,
            duration: self.duration,
            burst: self
                .burst
                .unwrap_or_else(|| Pacer::default_burst(self.rate)),
            ring: self.ring,
            spoof: !self.no_spoof,
            bind: self.bind,
            seed: self.seed.unwrap_or_else(os_seed),
        })
    }
}

/// `--target IP[:PORT]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The address.
    pub ip: Ipv4Addr,
    /// The IKE port, if not 500.
    pub port: Option<u16>,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(a) = s.parse::<SocketAddrV4>() {
            return Ok(Self {
                ip: *a.ip(),
                port: Some(a.port()),
            });
        }
        s.parse::<Ipv4Addr>()
            .map(|ip| Self { ip, port: None })
            .map_err(|_| format!("'{s}' is not IPv4 or IPv4:PORT"))
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_nan() || v <= 0.0 {
        return Err("the duration must be positive".to_owned());
    }
    Duration::try_from_secs_f64(v).map_err(|e| e.to_string())
}

fn parse_seed(s: &str) -> Result<[u8; 32], String> {
    let v = hex::decode(s).map_err(|e| format!("not hex: {e}"))?;
    <[u8; 32]>::try_from(v).map_err(|v| format!("{} octets, need 32", v.len()))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn flood(args: &[&str]) -> Result<FloodArgs, clap::Error> {
        let mut argv = vec!["l2tpd-load", "flood"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|c| match c.command {
            Command::Flood(f) => f,
            other => panic!("not flood: {other:?}"),
        })
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let mut argv = vec!["l2tpd-load"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|c| c.command)
    }

    const SESSION: [&str; 8] = [
        "--target",
        "198.51.100.1",
        "--sources",
        "10.201.0.0/16",
        "--psk",
        "k",
        "--password",
        "p",
    ];

    #[test]
    fn session_modes_parse_with_their_defaults() {
        let mut a = vec!["hold"];
        a.extend_from_slice(&SESSION);
        a.extend_from_slice(&["--clients", "3", "--server-pid", "7", "--server-pid", "8"]);
        let Command::Hold(h) = parse(&a).unwrap() else {
            panic!("hold");
        };
        assert_eq!(h.duration, Duration::from_secs(60));
        let cfg = h.session.into_config(|| [1; 32]).unwrap();
        assert_eq!(cfg.clients, 3);
        assert_eq!(cfg.server_pids, vec![7, 8]);
        assert_eq!(cfg.fleet.suite, Suite::XpModp1024);
        assert_eq!(cfg.fleet.user, "bench");
        assert_eq!(
            cfg.fleet.sources,
            vec![
                Ipv4Addr::new(10, 201, 0, 1),
                Ipv4Addr::new(10, 201, 0, 2),
                Ipv4Addr::new(10, 201, 0, 3)
            ]
        );
        assert_eq!(cfg.fleet.connect_timeout, Duration::from_secs(60));
        assert_eq!(cfg.fleet.seed, [1; 32]);

        let mut a = vec!["throughput"];
        a.extend_from_slice(&SESSION);
        a.extend_from_slice(&[
            "--suite",
            "strongswan-aes",
            "--esp",
            "3des-sha1",
            "--direction",
            "both",
            "--lan-netns",
            "lan",
            "--pps",
            "5000",
        ]);
        let Command::Throughput(t) = parse(&a).unwrap() else {
            panic!("throughput");
        };
        let tc = t.throughput_config();
        assert_eq!(tc.direction, Direction::Both);
        assert_eq!(tc.size, 1400);
        assert_eq!(tc.rate, Some(5000));
        assert_eq!(tc.ring_bytes, 1 << 30);
        assert_eq!(tc.lan, "10.77.0.2:9000".parse().unwrap());
        assert_eq!(tc.lan_netns.as_deref(), Some("lan"));
        let cfg = t.session.into_config(|| [0; 32]).unwrap();
        assert_eq!(cfg.fleet.esp, Some(Esp::TripleDesSha1));
        assert_eq!(cfg.fleet.suite, Suite::StrongswanAes);

        let mut a = vec!["connect"];
        a.extend_from_slice(&SESSION);
        a.extend_from_slice(&[
            "--suite",
            "win10-ecp384",
            "--rate",
            "300",
            "--concurrency",
            "50",
        ]);
        let Command::Connect(c) = parse(&a).unwrap() else {
            panic!("connect");
        };
        let cfg = c.session.into_config(|| [0; 32]).unwrap();
        assert_eq!((cfg.rate, cfg.concurrency), (Some(300), Some(50)));
        // A /32 gives one address, used by every client.
        let mut a = vec!["connect"];
        a.extend_from_slice(&SESSION);
        a[4] = "10.201.0.9/32";
        let Command::Connect(c) = parse(&a).unwrap() else {
            panic!("connect");
        };
        assert_eq!(
            c.session.into_config(|| [0; 32]).unwrap().fleet.sources,
            vec![Ipv4Addr::new(10, 201, 0, 9)]
        );
    }

    #[test]
    fn session_modes_refuse_bad_values() {
        for bad in [
            &["--clients", "0"][..],
            &["--suite", "xp"],
            &["--esp", "des"],
            &["--connect-timeout", "0"],
        ] {
            let mut a = vec!["connect"];
            a.extend_from_slice(&SESSION);
            a.extend_from_slice(bad);
            assert!(parse(&a).is_err(), "{bad:?}");
        }
        let mut a = vec!["connect"];
        a.extend_from_slice(&SESSION);
        a.extend_from_slice(&["--concurrency", "0"]);
        let Command::Connect(c) = parse(&a).unwrap() else {
            panic!("connect");
        };
        assert!(c.session.into_config(|| [0; 32]).is_err());
        // Without --psk (and without its environment variable) nothing runs.
        if std::env::var_os("L2TPD_LOAD_PSK").is_none() {
            assert!(
                parse(&[
                    "connect",
                    "--target",
                    "1.2.3.4",
                    "--sources",
                    "10.0.0.0/24",
                    "--password",
                    "p"
                ])
                .is_err()
            );
        }
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_invocation() {
        let f = flood(&[
            "--target",
            "198.51.100.1",
            "--kind",
            "mm1",
            "--sources",
            "1000",
            "--rate",
            "2000",
            "--duration",
            "1.5",
            "--port",
            "both",
        ])
        .unwrap();
        let cfg = f.into_config(|| [3; 32]).unwrap();
        assert_eq!(cfg.target, Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!((cfg.ike_port, cfg.nat_t_port), (500, 4500));
        assert_eq!(cfg.ports, Ports::Both);
        assert_eq!(cfg.kind, Kind::Mm1);
        assert_eq!(cfg.sources, SourceSpec::Count(1000));
        assert_eq!(cfg.rate, 2000);
        assert_eq!(cfg.burst, 100);
        assert_eq!(cfg.duration, Duration::from_millis(1500));
        assert!(cfg.spoof);
        assert_eq!(cfg.seed, [3; 32]);
        assert_eq!(cfg.source_pool, DEFAULT_SPOOF_NET);
    }

    #[test]
    fn ports_targets_and_seeds() {
        let f = flood(&[
            "--target",
            "127.0.0.1:10500",
            "--kind",
            "garbage",
            "--sources",
            "198.18.0.0/24",
            "--rate",
            "5",
            "--duration",
            "2",
            "--port",
            "4500",
            "--nat-t-port",
            "14500",
            "--no-spoof",
            "--seed",
            &"ab".repeat(32),
        ])
        .unwrap();
        let cfg = f.into_config(|| unreachable!("seed given")).unwrap();
        assert_eq!((cfg.ike_port, cfg.nat_t_port), (10500, 14500));
        assert_eq!(cfg.ports, Ports::NatT);
        assert!(!cfg.spoof);
        assert_eq!(cfg.seed, [0xab; 32]);
        assert_eq!(cfg.burst, 1);
        assert!(
            flood(&[
                "--target",
                "h",
                "--kind",
                "mm1",
                "--rate",
                "1",
                "--duration",
                "1"
            ])
            .is_err()
        );
        for bad in [
            ["--rate", "0"],
            ["--duration", "0"],
            ["--duration", "-1"],
            ["--seed", "00"],
        ] {
            let mut a = vec![
                "--target",
                "10.0.0.1",
                "--kind",
                "mm1",
                "--rate",
                "1",
                "--duration",
                "1",
            ];
            a.extend_from_slice(&bad);
            assert!(flood(&a).is_err(), "{bad:?}");
        }
        let ike = flood(&[
            "--target",
            "10.0.0.1",
            "--kind",
            "mm1",
            "--rate",
            "1",
            "--duration",
            "1",
            "--port",
            "ike",
        ])
        .unwrap();
        assert_eq!(ike.port, Ports::Ike);
    }
}
