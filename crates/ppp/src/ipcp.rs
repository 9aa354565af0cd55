//! IPCP option policy (RFC 1332 §3, RFC 1877) for both roles.
//!
//! Authenticator role: the peer's IP-Address option is acknowledged only when it equals the
//! address assigned to this session; anything else (0.0.0.0 included) is Nak'd with that address,
//! and the option is never rejected (rejecting it makes Windows hang up). DNS and
//! NBNS (129-132) are Nak'd to the configured values (or those a remote verdict gave for the
//! session, RFC 2548, Microsoft vendor 311 types 28-31), or rejected when not configured (as pppd rejects `ms-wins` from
//! Windows). When the peer does not ask for an address at all,
//! the assigned address is appended to a Nak (RFC 1661 §5.3 allows prompting). Everything else,
//! VJ compression included, is rejected.

use std::net::Ipv4Addr;

use wire::ppp::control::{ConfigOption, Options};
use wire::ppp::ipcp::IpcpOption;

use crate::fsm::{Negotiator, Verdict};
use crate::lcp::{Judgement, push};

/// Server-side IPCP.
#[derive(Debug)]
pub(crate) struct ServerIpcp {
    our_addr: Option<Ipv4Addr>,
    /// The address assigned to the peer (set by the link before IPCP requests are judged).
    pub(crate) assigned: Option<Ipv4Addr>,
    /// The DNS servers offered (the configured ones, or a remote verdict's; see
    /// [`crate::Accept::dns`]).
    pub(crate) dns: [Option<Ipv4Addr>; 2],
    /// The NBNS servers offered, likewise.
    pub(crate) wins: [Option<Ipv4Addr>; 2],
}

impl ServerIpcp {
    pub(crate) fn new(
        our_addr: Ipv4Addr,
        dns: [Option<Ipv4Addr>; 2],
        wins: [Option<Ipv4Addr>; 2],
    ) -> Self {
        Self {
            our_addr: Some(our_addr),
            assigned: None,
            dns,
            wins,
        }
    }

    pub(crate) fn our_addr(&self) -> Ipv4Addr {
        self.our_addr.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

/// The first non-zero IP-Address option of a request, the hint given to the address source.
pub(crate) fn requested_address(options: Options<'_>) -> Option<Ipv4Addr> {
    options
        .typed::<IpcpOption<'_>>()
        .flatten()
        .find_map(|o| match o {
            IpcpOption::IpAddress(a) if !a.is_unspecified() => Some(a),
            _ => None,
        })
}

impl Negotiator for ServerIpcp {
    fn request(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(addr) = self.our_addr {
            push(&mut out, &IpcpOption::IpAddress(addr));
        }
        out
    }

    fn judge(&mut self, options: Options<'_>, nak_allowed: bool) -> Verdict {
        let mut j = Judgement::default();
        let mut saw_address = false;
        for raw in options.iter() {
            let Ok(raw) = raw else { continue };
            let Ok(option) = IpcpOption::parse(raw) else {
                j.reject(raw);
                continue;
            };
            let (wanted, make): (Option<Ipv4Addr>, fn(Ipv4Addr) -> IpcpOption<'static>) =
                match option {
                    IpcpOption::IpAddress(_) => {
                        saw_address = true;
                        (self.assigned, IpcpOption::IpAddress)
                    }
                    IpcpOption::PrimaryDns(_) => (self.dns[0], IpcpOption::PrimaryDns),
                    IpcpOption::SecondaryDns(_) => (self.dns[1], IpcpOption::SecondaryDns),
                    IpcpOption::PrimaryNbns(_) => (self.wins[0], IpcpOption::PrimaryNbns),
                    IpcpOption::SecondaryNbns(_) => (self.wins[1], IpcpOption::SecondaryNbns),
                    IpcpOption::IpCompression { .. } | IpcpOption::Other { .. } => {
                        j.reject(raw);
                        continue;
                    }
                };
            match wanted {
                Some(w) if option.address() == Some(w) => {}
                Some(w) => j.nak(&make(w)),
                // No address to give yet: keep asking, never reject the address option.
                None if matches!(option, IpcpOption::IpAddress(_)) => {
                    j.nak(&IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED));
                }
                None => j.reject(raw),
            }
        }
        if !saw_address && let Some(addr) = self.assigned {
            j.nak(&IpcpOption::IpAddress(addr));
        }
        // The address option is never rejected (Windows hangs up), so Naks stay Naks even past
        // Max-Failure; a peer that never converges gives up on its own restart counter.
        let _ = nak_allowed;
        j.verdict(true, &[])
    }

    fn acked(&mut self, _options: Options<'_>) {}

    fn nakked(&mut self, _options: Options<'_>) {
        // Our own address is configuration, not negotiable.
    }

    fn rejected(&mut self, options: Options<'_>) {
        if options.iter().flatten().any(|o| o.kind == 3) {
            self.our_addr = None;
        }
    }
}

/// Client-side IPCP: asks for an address (and DNS/WINS) and takes the server's Naks.
#[derive(Debug)]
pub(crate) struct ClientIpcp {
    /// Our address (0.0.0.0 until assigned).
    pub(crate) addr: Ipv4Addr,
    /// DNS values asked for / received; `None` once rejected or not wanted.
    pub(crate) dns: [Option<Ipv4Addr>; 2],
    /// WINS values asked for / received.
    pub(crate) wins: [Option<Ipv4Addr>; 2],
    /// The server's address from its request.
    pub(crate) server_addr: Option<Ipv4Addr>,
}

impl ClientIpcp {
    pub(crate) fn new(addr: Ipv4Addr, request_dns: bool, request_wins: bool) -> Self {
        let z = Some(Ipv4Addr::UNSPECIFIED);
        Self {
            addr,
            dns: if request_dns { [z, z] } else { [None, None] },
            wins: if request_wins { [z, z] } else { [None, None] },
            server_addr: None,
        }
    }
}

impl Negotiator for ClientIpcp {
    fn request(&mut self) -> Vec<u8> {
        // Windows order: 3, 129, 130, 131, 132.
        let mut out = Vec::new();
        push(&mut out, &IpcpOption::IpAddress(self.addr));
        if let Some(a) = self.dns[0] {
            push(&mut out, &IpcpOption::PrimaryDns(a));
        }
        if let Some(a) = self.wins[0] {
            push(&mut out, &IpcpOption::PrimaryNbns(a));
        }
        if let Some(a) = self.dns[1] {
            push(&mut out, &IpcpOption::SecondaryDns(a));
        }
        if let Some(a) = self.wins[1] {
            push(&mut out, &IpcpOption::SecondaryNbns(a));
        }
        out
    }

    fn judge(&mut self, options: Options<'_>, nak_allowed: bool) -> Verdict {
        let mut j = Judgement::default();
        let mut server = None;
        for raw in options.iter().flatten() {
            match IpcpOption::parse(raw) {
                Ok(IpcpOption::IpAddress(a)) => server = Some(a),
                _ => j.reject(raw),
            }
        }
        let v = j.verdict(nak_allowed, &[]);
        if v == Verdict::Ack {
            self.server_addr = server;
        }
        v
    }

    fn acked(&mut self, _options: Options<'_>) {}

    fn nakked(&mut self, options: Options<'_>) {
        for option in options.typed::<IpcpOption<'_>>().flatten() {
            match option {
                IpcpOption::IpAddress(a) => self.addr = a,
                IpcpOption::PrimaryDns(a) => self.dns[0] = Some(a),
                IpcpOption::SecondaryDns(a) => self.dns[1] = Some(a),
                IpcpOption::PrimaryNbns(a) => self.wins[0] = Some(a),
                IpcpOption::SecondaryNbns(a) => self.wins[1] = Some(a),
                _ => {}
            }
        }
    }

    fn rejected(&mut self, options: Options<'_>) {
        for raw in options.iter().flatten() {
            match raw.kind {
                0x81 => self.dns[0] = None,
                0x83 => self.dns[1] = None,
                0x82 => self.wins[0] = None,
                0x84 => self.wins[1] = None,
                _ => {}
            }
        }
    }
}
