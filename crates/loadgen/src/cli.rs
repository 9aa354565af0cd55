//! The command line: one subcommand per mode. `flood` exists; `connect`, `hold` and
//! `throughput` (whole client sessions from `testkit` profiles) are to come beside it and will
//! share `--target`, `--rate`, `--duration` and `--seed`.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::str::FromStr;
use core::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnetwork::Ipv4Network;

use crate::Error;
use crate::flood::{FloodConfig, Kind, Ports};
use crate::pacer::Pacer;
use crate::sources::{DEFAULT_SPOOF_NET, SourceSpec};

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
        })
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
