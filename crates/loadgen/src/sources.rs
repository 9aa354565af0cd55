//! The set of (spoofed) source addresses a mode sends from: every host address of a CIDR, or a
//! number of distinct addresses drawn from [`DEFAULT_SPOOF_NET`].

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

use ipnetwork::Ipv4Network;
use rand::Rng;

use crate::Error;

/// Where `--sources COUNT` draws its addresses: 198.18.0.0/15, reserved for benchmarking
/// network devices (RFC 2544 Appendix C.2.2; RFC 6890 §2.2.2 lists it as "Benchmarking").
/// A test network can route it to a sink, and it never belongs to anyone on the internet.
pub const DEFAULT_SPOOF_NET: Ipv4Network =
    match Ipv4Network::new_checked(Ipv4Addr::new(198, 18, 0, 0), 15) {
        Some(n) => n,
        None => panic!("198.18.0.0/15 is a valid network"),
    };

/// The largest address set we build (a /12); larger sets only cost memory.
pub const MAX_SOURCES: u32 = 1 << 20;

/// `--sources CIDR|COUNT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceSpec {
    /// Every host address of this network (without the network and broadcast addresses when
    /// the prefix is /30 or shorter).
    Net(Ipv4Network),
    /// This many distinct addresses.
    Count(u32),
}

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            let net: Ipv4Network = s
                .parse()
                .map_err(|e| format!("'{s}' is not an IPv4 CIDR: {e}"))?;
            // Normalise 10.1.2.3/24 to 10.1.2.0/24.
            Ipv4Network::new(net.network(), net.prefix())
                .map(Self::Net)
                .map_err(|e| e.to_string())
        } else {
            match s.parse::<u32>() {
                Ok(0) | Err(_) => Err(format!(
                    "'{s}' is neither a CIDR (198.18.0.0/16) nor a positive count"
                )),
                Ok(n) => Ok(Self::Count(n)),
            }
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Net(n) => write!(f, "{n}"),
            Self::Count(c) => write!(f, "{c}"),
        }
    }
}

impl SourceSpec {
    /// How many addresses the set has.
    pub fn len(&self) -> u64 {
        match self {
            Self::Net(n) => host_range(*n).1,
            Self::Count(c) => u64::from(*c),
        }
    }

    /// Whether the set is empty (never, for a parsed spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The addresses: a network's in order, a count's drawn without repetition from `pool`.
    pub fn addresses<R: Rng>(
        &self,
        pool: Ipv4Network,
        rng: &mut R,
    ) -> Result<Vec<Ipv4Addr>, Error> {
        match *self {
            Self::Net(net) => {
                let (first, n) = host_range(net);
                check_size(n)?;
                Ok((0..n).filter_map(|i| nth(first, i)).collect())
            }
            Self::Count(count) => {
                let (first, n) = host_range(pool);
                if u64::from(count) > n {
                    return Err(Error::Usage(format!(
                        "{count} sources asked, but {pool} has only {n} host addresses"
                    )));
                }
                check_size(u64::from(count))?;
                let n = usize::try_from(n).map_err(|e| Error::Usage(e.to_string()))?;
                let count = usize::try_from(count).map_err(|e| Error::Usage(e.to_string()))?;
                Ok(rand::seq::index::sample(rng, n, count)
                    .into_iter()
                    .filter_map(|i| nth(first, i as u64))
                    .collect())
            }
        }
    }
}

fn check_size(n: u64) -> Result<(), Error> {
    if n > u64::from(MAX_SOURCES) {
        return Err(Error::Usage(format!(
            "{n} sources are more than the {MAX_SOURCES} supported"
        )));
    }
    Ok(())
}

/// The first host address and the number of host addresses of `net`.
fn host_range(net: Ipv4Network) -> (u32, u64) {
    let base = u32::from(net.network());
    let size = 1u64 << (32 - u32::from(net.prefix()));
    if net.prefix() <= 30 {
        (base.wrapping_add(1), size - 2)
    } else {
        (base, size)
    }
}

fn nth(first: u32, i: u64) -> Option<Ipv4Addr> {
    let i = u32::try_from(i).ok()?;
    first.checked_add(i).map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn parses_cidr_and_count() {
        assert_eq!(
            "10.1.2.3/24".parse::<SourceSpec>(),
            Ok(SourceSpec::Net("10.1.2.0/24".parse().unwrap()))
        );
        assert_eq!("1000".parse::<SourceSpec>(), Ok(SourceSpec::Count(1000)));
        assert!("0".parse::<SourceSpec>().is_err());
        assert!("ten".parse::<SourceSpec>().is_err());
        assert!("10.0.0.0/33".parse::<SourceSpec>().is_err());
    }

    #[test]
    fn a_network_yields_its_host_addresses() {
        let mut rng = ChaCha8Rng::from_seed([1; 32]);
        let s: SourceSpec = "192.0.2.0/29".parse().unwrap();
        let a = s.addresses(DEFAULT_SPOOF_NET, &mut rng).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(a.first(), Some(&Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(a.last(), Some(&Ipv4Addr::new(192, 0, 2, 6)));
        let one: SourceSpec = "192.0.2.7/32".parse().unwrap();
        assert_eq!(
            one.addresses(DEFAULT_SPOOF_NET, &mut rng).unwrap(),
            vec![Ipv4Addr::new(192, 0, 2, 7)]
        );
    }

    #[test]
    fn a_count_yields_distinct_addresses_in_the_pool() {
        let mut rng = ChaCha8Rng::from_seed([2; 32]);
        let a = SourceSpec::Count(5000)
            .addresses(DEFAULT_SPOOF_NET, &mut rng)
            .unwrap();
        assert_eq!(a.len(), 5000);
        assert_eq!(a.iter().collect::<HashSet<_>>().len(), 5000);
        for ip in &a {
            assert!(DEFAULT_SPOOF_NET.contains(*ip), "{ip}");
            assert_ne!(*ip, DEFAULT_SPOOF_NET.network());
            assert_ne!(*ip, DEFAULT_SPOOF_NET.broadcast());
        }
        let small: Ipv4Network = "192.0.2.0/30".parse().unwrap();
        assert!(SourceSpec::Count(3).addresses(small, &mut rng).is_err());
        assert_eq!(
            SourceSpec::Count(2)
                .addresses(small, &mut rng)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn oversized_sets_are_refused() {
        let mut rng = ChaCha8Rng::from_seed([3; 32]);
        let big: SourceSpec = "10.0.0.0/8".parse().unwrap();
        assert!(big.addresses(DEFAULT_SPOOF_NET, &mut rng).is_err());
    }
}
