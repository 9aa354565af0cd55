//! The byte formats of the stateful fuzz targets' inputs: a sequence of steps, each a tag byte
//! and its fields, so that the seed generator can write an input the target reads back step for
//! step, and libFuzzer's byte mutations stay meaningful (a flipped byte changes one field).
//!
//! Fields are big-endian. A data field is a 2-octet length and up to that many octets; at the
//! end of the input it takes what is left. A step whose fixed fields do not fit ends the input.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::fixtures;

/// Reads the fields of an input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One octet.
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    /// Two octets.
    pub fn u16(&mut self) -> Option<u16> {
        let (b, rest) = self.data.split_first_chunk::<2>()?;
        self.data = rest;
        Some(u16::from_be_bytes(*b))
    }

    /// Four octets.
    pub fn u32(&mut self) -> Option<u32> {
        let (b, rest) = self.data.split_first_chunk::<4>()?;
        self.data = rest;
        Some(u32::from_be_bytes(*b))
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.data)
    }

    /// A data field: a 2-octet length, then that many octets or what is left.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u16()?);
        let (field, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        Some(field)
    }
}

/// Writes the fields of an input.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// One octet.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.out.push(v);
        self
    }

    /// Two octets.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Four octets.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A data field. Data longer than 65535 octets is cut (no datagram is that long).
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        self.u16(len);
        self.out
            .extend_from_slice(data.get(..usize::from(len)).unwrap_or(data));
        self
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.out
    }
}

/// The local ports a datagram can arrive on, by selector (`selector % 4`).
const LOCAL_PORTS: [u16; 4] = [
    crate::IKE_PORT,
    crate::NAT_T_PORT,
    crate::L2TP_PORT,
    fixtures::OTHER_PORT,
];

/// One step of the `ike_responder`, `server_inputs` and `dataplane` targets: something that
/// reaches the server from the network or the TUN device, or time passing. The server's own
/// address is [`fixtures::SERVER_IP`]; senders are one of [`fixtures::HOSTS`].
///
/// Encoding: tag (`% 6`), then
/// - 0 `Udp`: local-port selector (500, 4500, 1701, other; `% 4`), host index (`% 8`),
///   remote port (2), data;
/// - 1 `Esp`: host index, data (from the ESP header on);
/// - 2 `Tun`: data (an IPv4 packet);
/// - 3 `Advance`: milliseconds (4), then timers run;
/// - 4 `ReloadUsers`;
/// - 5 `Hold`: the `dataplane` target holds back what goes to the control plane (hand-offs,
///   IKE, wake-ups) from now on, as a busy control plane does, or delivers what it held and
///   stops holding; other targets ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// A UDP datagram to the server.
    Udp {
        /// Our address and port.
        local: SocketAddr,
        /// The sender.
        remote: SocketAddr,
        /// The UDP payload.
        data: &'a [u8],
    },
    /// A raw ESP packet (IP protocol 50) to the server.
    Esp {
        /// The sender.
        remote: Ipv4Addr,
        /// From the ESP header on.
        data: &'a [u8],
    },
    /// A packet read from the TUN device.
    Tun {
        /// The IPv4 packet.
        data: &'a [u8],
    },
    /// Time passes; then timers run.
    Advance {
        /// Milliseconds.
        ms: u32,
    },
    /// The users file is reloaded (unchanged).
    ReloadUsers,
    /// Hold back (or deliver) what goes from the data plane to the control plane.
    Hold,
}

impl<'a> Step<'a> {
    /// Reads the next step; `None` at the end of the input.
    pub fn read(r: &mut Reader<'a>) -> Option<Self> {
        Some(match r.u8()? % 6 {
            0 => {
                let port = local_port(r.u8()?);
                let host = host(r.u8()?);
                let remote_port = r.u16()?;
                Self::Udp {
                    local: SocketAddr::new(IpAddr::V4(fixtures::SERVER_IP), port),
                    remote: SocketAddr::new(IpAddr::V4(host), remote_port),
                    data: r.bytes()?,
                }
            }
            1 => Self::Esp {
                remote: host(r.u8()?),
                data: r.bytes()?,
            },
            2 => Self::Tun { data: r.bytes()? },
            3 => Self::Advance { ms: r.u32()? },
            4 => Self::ReloadUsers,
            _ => Self::Hold,
        })
    }

    /// Every step of `data`.
    pub fn read_all(data: &'a [u8]) -> Vec<Self> {
        let mut r = Reader::new(data);
        core::iter::from_fn(|| Self::read(&mut r)).collect()
    }

    /// Writes the step; `None` if it cannot be expressed (a local address other than
    /// [`fixtures::SERVER_IP`] on one of the four ports, a sender not in [`fixtures::HOSTS`]).
    pub fn write(&self, w: &mut Writer) -> Option<()> {
        match *self {
            Self::Udp {
                local,
                remote,
                data,
            } => {
                if local.ip() != IpAddr::V4(fixtures::SERVER_IP) {
                    return None;
                }
                let port = LOCAL_PORTS.iter().position(|p| *p == local.port())?;
                let IpAddr::V4(ip) = remote.ip() else {
                    return None;
                };
                let host = host_index(ip)?;
                w.u8(0)
                    .u8(u8::try_from(port).ok()?)
                    .u8(host)
                    .u16(remote.port())
                    .bytes(data);
            }
            Self::Esp { remote, data } => {
                w.u8(1).u8(host_index(remote)?).bytes(data);
            }
            Self::Tun { data } => {
                w.u8(2).bytes(data);
            }
            Self::Advance { ms } => {
                w.u8(3).u32(ms);
            }
            Self::ReloadUsers => {
                w.u8(4);
            }
            Self::Hold => {
                w.u8(5);
            }
        }
        Some(())
    }
}

fn local_port(selector: u8) -> u16 {
    LOCAL_PORTS
        .get(usize::from(selector) % LOCAL_PORTS.len())
        .copied()
        .unwrap_or(crate::IKE_PORT)
}

fn host(selector: u8) -> Ipv4Addr {
    fixtures::HOSTS
        .get(usize::from(selector) % fixtures::HOSTS.len())
        .copied()
        .unwrap_or(fixtures::SERVER_IP)
}

fn host_index(ip: Ipv4Addr) -> Option<u8> {
    fixtures::HOSTS
        .iter()
        .position(|h| *h == ip)
        .and_then(|i| u8::try_from(i).ok())
}

/// One step of the engine targets that take frames or datagrams one at a time (`l2tp_lns`,
/// `ppp_link`, `ppp_peer`): time passes by `advance_ms`, then `data` arrives. `flags` is the
/// target's to interpret (`l2tp_lns`: bit 0 = from UDP port 1701, bit 1 = aimed at the live
/// tunnel).
///
/// Encoding: milliseconds (2), flags (1), data. Such an input starts with one header octet of
/// target-specific flags ([`FrameStep::read_input`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameStep<'a> {
    /// Milliseconds before `data` arrives.
    pub advance_ms: u16,
    /// Target-specific flags.
    pub flags: u8,
    /// The frame or datagram.
    pub data: &'a [u8],
}

impl<'a> FrameStep<'a> {
    /// Reads the next step; `None` at the end of the input.
    pub fn read(r: &mut Reader<'a>) -> Option<Self> {
        Some(Self {
            advance_ms: r.u16()?,
            flags: r.u8()?,
            data: r.bytes()?,
        })
    }

    /// Writes the step.
    pub fn write(&self, w: &mut Writer) {
        w.u16(self.advance_ms).u8(self.flags).bytes(self.data);
    }

    /// The header octet and every step of an input (an empty input has header 0).
    pub fn read_input(data: &'a [u8]) -> (u8, Vec<Self>) {
        let mut r = Reader::new(data);
        let header = r.u8().unwrap_or(0);
        let steps = core::iter::from_fn(|| Self::read(&mut r)).collect();
        (header, steps)
    }

    /// An input of `header` and `steps`.
    pub fn write_input(header: u8, steps: &[Self]) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(header);
        for s in steps {
            s.write(&mut w);
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip() {
        let server = |port| SocketAddr::new(IpAddr::V4(fixtures::SERVER_IP), port);
        let steps = [
            Step::Udp {
                local: server(500),
                remote: SocketAddr::new(IpAddr::V4(fixtures::HOSTS[0]), 40001),
                data: b"isakmp",
            },
            Step::Udp {
                local: server(4500),
                remote: SocketAddr::new(IpAddr::V4(fixtures::HOSTS[3]), 4500),
                data: &[],
            },
            Step::Esp {
                remote: fixtures::HOSTS[1],
                data: &[1, 2, 3],
            },
            Step::Tun { data: &[0x45; 20] },
            Step::Advance { ms: 61_000 },
            Step::ReloadUsers,
            Step::Hold,
        ];
        let mut w = Writer::new();
        for s in &steps {
            s.write(&mut w).unwrap();
        }
        let bytes = w.finish();
        assert_eq!(Step::read_all(&bytes), steps);
    }

    #[test]
    fn unrepresentable_steps_are_refused() {
        let mut w = Writer::new();
        let stranger = SocketAddr::from(([8, 8, 8, 8], 500));
        let local = SocketAddr::new(IpAddr::V4(fixtures::SERVER_IP), 500);
        let step = Step::Udp {
            local,
            remote: stranger,
            data: &[],
        };
        assert_eq!(step.write(&mut w), None);
        let step = Step::Udp {
            local: SocketAddr::new(IpAddr::V4(fixtures::SERVER_IP), 1234),
            remote: SocketAddr::new(IpAddr::V4(fixtures::HOSTS[0]), 500),
            data: &[],
        };
        assert_eq!(step.write(&mut w), None);
    }

    #[test]
    fn truncated_input_ends_cleanly() {
        // A data field longer than what is left takes the rest; a cut fixed field ends it.
        let bytes = [2u8, 0xff, 0xff, 0x45, 0x00];
        assert_eq!(
            Step::read_all(&bytes),
            vec![Step::Tun {
                data: &[0x45, 0x00]
            }]
        );
        assert_eq!(Step::read_all(&[0, 1]), Vec::<Step<'_>>::new());
        let frames = FrameStep::write_input(
            3,
            &[FrameStep {
                advance_ms: 10,
                flags: 1,
                data: b"ab",
            }],
        );
        let (header, steps) = FrameStep::read_input(&frames);
        assert_eq!(header, 3);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].data, b"ab");
    }
}
