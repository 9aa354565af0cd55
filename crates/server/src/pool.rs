//! The IPv4 address pool handed out by IPCP (RFC 1332 §3.3, "IP-Address").
//!
//! The pool is a CIDR block minus its network and broadcast addresses and minus the server's
//! own PPP address. Addresses named as `static_ip` in `users.yaml` are *reserved*: only their
//! user gets them, and a dynamic allocation never takes them. Dynamic users get the address they
//! had last time if it is still free (clients keep the same address across reconnects, which
//! makes logs and firewall rules easier to read), else the lowest free address. An address is
//! never handed to two sessions at once.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use config::PoolConfig;

/// How many "last address" memories are kept before the oldest are forgotten. Bounds memory if
/// many distinct users come and go.
const MAX_REMEMBERED: usize = 65_536;

/// Why a pool could not be built or a reservation not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The network is too small or too large (see `config::MIN_POOL_PREFIX`/`MAX_POOL_PREFIX`).
    #[error("pool {0} must be between /16 and /30")]
    BadPrefix(Ipv4Network),
    /// The server address is not a host address of the pool.
    #[error("server address {server} is not a host address of {network}")]
    ServerOutside {
        /// The pool.
        network: Ipv4Network,
        /// The offending server address.
        server: Ipv4Addr,
    },
}

/// An IPv4 address pool.
#[derive(Debug, Clone)]
pub struct Pool {
    network: Ipv4Network,
    server: Ipv4Addr,
    /// Dynamic addresses that are free (not reserved, not in use), lowest first.
    free: BTreeSet<u32>,
    /// Addresses in use, with the user they were given to.
    in_use: HashMap<Ipv4Addr, String>,
    /// Static reservations: address → user, and user → address.
    reserved: HashMap<Ipv4Addr, String>,
    static_of: HashMap<String, Ipv4Addr>,
    /// The address each user had last (dynamic users only).
    last: HashMap<String, Ipv4Addr>,
}

impl Pool {
    /// A pool over `network` with the server's own address `server` excluded.
    pub fn new(network: Ipv4Network, server: Ipv4Addr) -> Result<Self, PoolError> {
        let prefix = network.prefix();
        if !(config::MIN_POOL_PREFIX..=config::MAX_POOL_PREFIX).contains(&prefix) {
            return Err(PoolError::BadPrefix(network));
        }
        let net = u32::from(network.network());
        let bcast = u32::from(network.broadcast());
        let srv = u32::from(server);
        if srv <= net || srv >= bcast {
            return Err(PoolError::ServerOutside { network, server });
        }
        let free = (net.saturating_add(1)..bcast)
            .filter(|a| *a != srv)
            .collect();
        Ok(Self {
            network,
            server,
            free,
            in_use: HashMap::new(),
            reserved: HashMap::new(),
            static_of: HashMap::new(),
            last: HashMap::new(),
        })
    }

    /// The pool of a validated configuration.
    pub fn from_config(config: &PoolConfig) -> Result<Self, PoolError> {
        Self::new(config.cidr, config.server_address)
    }

    /// The pool's network.
    pub fn network(&self) -> Ipv4Network {
        self.network
    }

    /// The server's own PPP address.
    pub fn server_address(&self) -> Ipv4Addr {
        self.server
    }

    /// Whether `addr` can ever be handed to a client: inside the network, not the network or
    /// broadcast address, not the server's address.
    pub fn is_assignable(&self, addr: Ipv4Addr) -> bool {
        self.network.contains(addr)
            && addr != self.network.network()
            && addr != self.network.broadcast()
            && addr != self.server
    }

    /// How many addresses clients can get in total (static and dynamic).
    pub fn capacity(&self) -> usize {
        // prefix is 16..=30, so this is at most 65534 - 1.
        (1usize << (32 - u32::from(self.network.prefix()))).saturating_sub(3)
    }

    /// How many dynamic addresses are free now.
    pub fn free_dynamic(&self) -> usize {
        self.free.len()
    }

    /// How many addresses are in use now.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// The user an address is currently given to.
    pub fn holder(&self, addr: Ipv4Addr) -> Option<&str> {
        self.in_use.get(&addr).map(String::as_str)
    }

    /// Replaces the static reservations (user → address). Addresses outside the pool are
    /// ignored (users.yaml loading has already refused them). Addresses that are in use stay in
    /// use until released; a freed reserved address only goes to its user.
    pub fn set_reservations<I, S>(&mut self, reservations: I)
    where
        I: IntoIterator<Item = (S, Ipv4Addr)>,
        S: Into<String>,
    {
        // Return the old reservations to the dynamic set.
        for addr in self.reserved.keys() {
            if !self.in_use.contains_key(addr) {
                self.free.insert(u32::from(*addr));
            }
        }
        self.reserved.clear();
        self.static_of.clear();
        for (user, addr) in reservations {
            if !self.is_assignable(addr) || self.reserved.contains_key(&addr) {
                continue;
            }
            let user = user.into();
            self.free.remove(&u32::from(addr));
            self.last.remove(&user);
            self.static_of.insert(user.clone(), addr);
            self.reserved.insert(addr, user);
        }
    }

    /// An address for `user`: the reserved one if the user has a reservation (and `None` if it
    /// is in use, e.g. by the same user's other session), else the user's previous address if
    /// free, else the lowest free dynamic address; `None` when the pool is exhausted.
    pub fn allocate(&mut self, user: &str) -> Option<Ipv4Addr> {
        if let Some(addr) = self.static_of.get(user).copied() {
            if self.in_use.contains_key(&addr) {
                return None;
            }
            self.in_use.insert(addr, user.to_owned());
            return Some(addr);
        }
        let remembered = self
            .last
            .get(user)
            .map(|a| u32::from(*a))
            .filter(|a| self.free.contains(a));
        let raw = match remembered {
            Some(a) => a,
            None => *self.free.first()?,
        };
        self.free.remove(&raw);
        let addr = Ipv4Addr::from(raw);
        self.in_use.insert(addr, user.to_owned());
        if self.last.len() >= MAX_REMEMBERED && !self.last.contains_key(user) {
            // Forget an arbitrary memory; reuse of a previous address is a nicety.
            if let Some(k) = self.last.keys().next().cloned() {
                self.last.remove(&k);
            }
        }
        self.last.insert(user.to_owned(), addr);
        Some(addr)
    }

    /// Gives `user` exactly `addr` (an address an authentication server chose, RADIUS
    /// Framed-IP-Address): false if it cannot be handed out, is in use, or is reserved for
    /// another user.
    pub fn claim(&mut self, addr: Ipv4Addr, user: &str) -> bool {
        if !self.is_assignable(addr) || self.in_use.contains_key(&addr) {
            return false;
        }
        if self
            .reserved
            .get(&addr)
            .is_some_and(|holder| holder != user)
        {
            return false;
        }
        self.free.remove(&u32::from(addr));
        self.in_use.insert(addr, user.to_owned());
        true
    }

    /// Gives `addr` back. Returns false if it was not in use (a double release is harmless).
    pub fn release(&mut self, addr: Ipv4Addr) -> bool {
        if self.in_use.remove(&addr).is_none() {
            return false;
        }
        if !self.reserved.contains_key(&addr) && self.is_assignable(addr) {
            self.free.insert(u32::from(addr));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(cidr: &str) -> Pool {
        let net: Ipv4Network = cidr.parse().unwrap();
        Pool::new(net, config::first_host(net)).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn excludes_network_broadcast_and_server() {
        let mut p = pool("10.99.0.0/29");
        assert_eq!(p.capacity(), 5);
        assert!(!p.is_assignable(ip("10.99.0.0")));
        assert!(!p.is_assignable(ip("10.99.0.1")));
        assert!(!p.is_assignable(ip("10.99.0.7")));
        assert!(!p.is_assignable(ip("10.99.1.2")));
        assert!(p.is_assignable(ip("10.99.0.2")));
        let got: Vec<_> = (0..5)
            .map(|i| p.allocate(&format!("u{i}")).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "10.99.0.2",
                "10.99.0.3",
                "10.99.0.4",
                "10.99.0.5",
                "10.99.0.6"
            ]
            .map(ip)
        );
        assert_eq!(p.allocate("u5"), None, "exhausted");
        assert_eq!(p.in_use(), 5);
    }

    #[test]
    fn claim_takes_exactly_the_address_asked_for() {
        let mut p = pool("10.99.0.0/29");
        p.set_reservations([("carol", ip("10.99.0.6"))]);
        assert!(p.claim(ip("10.99.0.4"), "alice"));
        assert_eq!(p.holder(ip("10.99.0.4")), Some("alice"));
        assert!(!p.claim(ip("10.99.0.4"), "bob"), "in use");
        assert!(!p.claim(ip("10.99.0.6"), "bob"), "reserved for carol");
        assert!(p.claim(ip("10.99.0.6"), "carol"));
        for a in ["10.99.0.0", "10.99.0.1", "10.99.0.7", "10.99.1.2"] {
            assert!(!p.claim(ip(a), "bob"), "{a} is not assignable");
        }
        // Claimed addresses are not allocated again, and come back on release.
        let rest: Vec<_> = std::iter::from_fn(|| p.allocate("dave")).collect();
        assert_eq!(rest, ["10.99.0.2", "10.99.0.3", "10.99.0.5"].map(ip));
        assert!(p.release(ip("10.99.0.4")));
        assert_eq!(p.allocate("erin"), Some(ip("10.99.0.4")));
    }

    #[test]
    fn release_and_no_double_assignment() {
        let mut p = pool("10.99.0.0/30");
        let a = p.allocate("alice").unwrap();
        assert_eq!(a, ip("10.99.0.2"));
        assert_eq!(p.allocate("bob"), None);
        assert_eq!(p.holder(a), Some("alice"));
        assert!(p.release(a));
        assert!(!p.release(a), "double release");
        assert!(!p.release(ip("192.0.2.1")));
        assert_eq!(p.allocate("bob"), Some(a));
        assert_eq!(p.allocate("bob"), None, "one address, already in use");
    }

    #[test]
    fn same_user_twice_gets_two_addresses() {
        let mut p = pool("10.99.0.0/24");
        let a = p.allocate("alice").unwrap();
        let b = p.allocate("alice").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn static_reservations() {
        let mut p = pool("10.99.0.0/29");
        p.set_reservations([("carol", ip("10.99.0.2")), ("dave", ip("10.99.0.99"))]);
        // Dynamic users never get carol's address.
        assert_eq!(p.allocate("x"), Some(ip("10.99.0.3")));
        assert_eq!(p.allocate("carol"), Some(ip("10.99.0.2")));
        assert_eq!(p.allocate("carol"), None, "her one address is in use");
        assert!(p.release(ip("10.99.0.2")));
        // Exhaust the dynamic part: .4 .5 .6
        for u in ["y", "z", "w"] {
            assert!(p.allocate(u).is_some());
        }
        assert_eq!(
            p.allocate("v"),
            None,
            "the reserved address is not handed out"
        );
        assert_eq!(p.allocate("carol"), Some(ip("10.99.0.2")));
        // dave's out-of-pool reservation is ignored: he is a dynamic user.
        assert_eq!(p.free_dynamic(), 0);
        assert_eq!(p.allocate("dave"), None);
    }

    #[test]
    fn reservations_can_change() {
        let mut p = pool("10.99.0.0/29");
        p.set_reservations([("carol", ip("10.99.0.2"))]);
        assert_eq!(p.allocate("carol"), Some(ip("10.99.0.2")));
        // carol's reservation moves while she is connected: the old address stays hers until
        // released, then becomes dynamic.
        p.set_reservations([("carol", ip("10.99.0.6"))]);
        assert_eq!(p.holder(ip("10.99.0.2")), Some("carol"));
        assert!(p.release(ip("10.99.0.2")));
        assert_eq!(p.allocate("x"), Some(ip("10.99.0.2")));
        assert_eq!(p.allocate("carol"), Some(ip("10.99.0.6")));
        p.set_reservations(Vec::<(String, Ipv4Addr)>::new());
        assert!(p.release(ip("10.99.0.6")));
        assert_eq!(p.free_dynamic(), 4);
    }

    #[test]
    fn a_user_gets_the_previous_address_back() {
        let mut p = pool("10.99.0.0/24");
        let a = p.allocate("alice").unwrap();
        let b = p.allocate("bob").unwrap();
        assert!(p.release(a));
        assert!(p.release(b));
        assert_eq!(p.allocate("bob"), Some(b));
        assert_eq!(p.allocate("alice"), Some(a));
        // If the old address was taken meanwhile, the lowest free one is used.
        assert!(p.release(a));
        assert_eq!(p.allocate("carol"), Some(a));
        assert_eq!(p.allocate("alice"), Some(ip("10.99.0.4")));
    }

    #[test]
    fn bad_pools() {
        let net: Ipv4Network = "10.99.0.0/31".parse().unwrap();
        assert_eq!(
            Pool::new(net, ip("10.99.0.1")).unwrap_err(),
            PoolError::BadPrefix(net)
        );
        let net: Ipv4Network = "10.0.0.0/8".parse().unwrap();
        assert!(Pool::new(net, ip("10.0.0.1")).is_err());
        let net: Ipv4Network = "10.99.0.0/24".parse().unwrap();
        assert!(matches!(
            Pool::new(net, ip("10.99.0.255")),
            Err(PoolError::ServerOutside { .. })
        ));
        assert!(matches!(
            Pool::new(net, ip("10.99.0.0")),
            Err(PoolError::ServerOutside { .. })
        ));
        let p = Pool::new(net, ip("10.99.0.254")).unwrap();
        assert_eq!(p.capacity(), 253);
        assert_eq!(p.free_dynamic(), 253);
    }

    #[test]
    fn largest_pool_is_usable() {
        let mut p = pool("10.99.0.0/16");
        assert_eq!(p.capacity(), 65_533);
        assert_eq!(p.allocate("a"), Some(ip("10.99.0.2")));
    }
}
