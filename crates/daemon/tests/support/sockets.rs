//! A testkit client's two real UDP sockets towards a daemon on 127.0.0.1, for the tests of
//! the real binary that connect whole clients.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use testkit::{Client, NAT_T_PORT, Transmit};

/// The client's private address as it believes it is: the server sees 127.0.0.1 and a
/// different port, which is exactly what a NAT looks like.
pub(crate) const CLIENT_PRIVATE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
pub(crate) const SERVER: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The client's two real sockets: what it thinks of as its port 500 and its port 4500.
pub(crate) struct Sockets {
    pub(crate) ike: UdpSocket,
    pub(crate) natt: UdpSocket,
    server_ike: u16,
    server_natt: u16,
}

impl Sockets {
    pub(crate) fn new(server_ike: u16, server_natt: u16) -> Self {
        let ike = UdpSocket::bind((SERVER, 0)).unwrap();
        let natt = UdpSocket::bind((SERVER, 0)).unwrap();
        ike.set_nonblocking(true).unwrap();
        natt.set_nonblocking(true).unwrap();
        Self {
            ike,
            natt,
            server_ike,
            server_natt,
        }
    }

    /// Sends everything the client queued, mapping its ports 500/4500 to our sockets and the
    /// server's 500/4500 to the daemon's configured ports.
    pub(crate) fn flush(&self, client: &mut Client) {
        let mut buf = Vec::new();
        while let Some(t) = client.poll_transmit(&mut buf) {
            let Transmit::Udp { local, remote } = t else {
                panic!("the client sent raw ESP although it floated to UDP: {t:?}");
            };
            let sock = if local.port() == NAT_T_PORT {
                &self.natt
            } else {
                &self.ike
            };
            let port = if remote.port() == NAT_T_PORT {
                self.server_natt
            } else {
                self.server_ike
            };
            sock.send_to(&buf, (SERVER, port)).unwrap();
        }
    }

    /// Feeds what arrived to the client; returns whether anything did.
    pub(crate) fn receive(&self, client: &mut Client, now: Instant) -> bool {
        let mut got = false;
        let mut buf = [0u8; 65536];
        for (sock, our_port) in [(&self.ike, 500), (&self.natt, NAT_T_PORT)] {
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        let server_port = if from.port() == self.server_natt {
                            NAT_T_PORT
                        } else {
                            500
                        };
                        client.handle_udp(
                            now,
                            SocketAddr::V4(SocketAddrV4::new(CLIENT_PRIVATE, our_port)),
                            SocketAddr::V4(SocketAddrV4::new(SERVER, server_port)),
                            &buf[..n],
                        );
                        got = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        got
    }

    /// Drives the client over the real sockets until `done` holds or `limit` passes.
    pub(crate) fn pump(
        &self,
        client: &mut Client,
        limit: Duration,
        done: impl Fn(&Client) -> bool,
    ) -> bool {
        let start = Instant::now();
        loop {
            let now = Instant::now();
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
            }
            self.flush(client);
            if done(client) {
                return true;
            }
            if now.duration_since(start) > limit {
                return false;
            }
            if !self.receive(client, now) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}
