//! [`FourTuple`]: the outer addresses and ports of a datagram, seen from the server.
//!
//! Every client is keyed by its 4-tuple, never by an inner address or an L2TP ID: clients
//! behind one NAT share the public address and differ only by port (RFC 3947 §1 and RFC 3948
//! §1 on NAT traversal; the IKE SA, the ESP SAs and the L2TP tunnels all belong to one).

use core::fmt;
use core::net::SocketAddr;

/// The outer 4-tuple of a client: our address and port, the client's public address and
/// port. For plain ESP (IP protocol 50) the ports are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourTuple {
    /// Our address and port (500 or 4500 for UDP).
    pub local: SocketAddr,
    /// The client's address and port as seen on the wire (after its NAT).
    pub remote: SocketAddr,
}

impl FourTuple {
    /// The 4-tuple of a datagram that arrived on `local` from `remote`.
    pub const fn new(local: SocketAddr, remote: SocketAddr) -> Self {
        Self { local, remote }
    }

    /// The same addresses with both ports 0: how plain ESP (IP protocol 50) is keyed.
    pub const fn without_ports(self) -> Self {
        Self {
            local: SocketAddr::new(self.local.ip(), 0),
            remote: SocketAddr::new(self.remote.ip(), 0),
        }
    }
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.remote, self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_ports() {
        let t = FourTuple::new(
            "198.51.100.1:4500".parse().unwrap(),
            "203.0.113.7:40000".parse().unwrap(),
        );
        assert_eq!(t.to_string(), "203.0.113.7:40000 <-> 198.51.100.1:4500");
        let raw = t.without_ports();
        assert_eq!(raw.local.port(), 0);
        assert_eq!(raw.remote.port(), 0);
        assert_eq!(raw.remote.ip(), t.remote.ip());
    }
}
