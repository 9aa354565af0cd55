//! Transport-mode rules for L2TP SAs (RFC 3193 §4, RFC 3948 §3.1.2).
//!
//! An L2TP/IPsec SA protects exactly one thing: UDP to the LNS port 1701 (RFC 3193 §4: the
//! Quick Mode selectors are UDP/1701). After decryption the next header must be UDP and the
//! destination port 1701; anything else is dropped and counted ([`DropReason::NotL2tp`]).
//!
//! Inner UDP checksums:
//! - On UDP-encapsulated (NAT-T) SAs the client computed the inner checksum over its private
//!   address, which the NAT then hid, so it cannot verify here. RFC 3948 §3.1.2 lets a
//!   transport-mode receiver skip the check, as the ICV already authenticates the datagram; we
//!   skip it, and we send checksum 0 (docs/clients.md#inner-udp-checksum).
//! - On plain ESP SAs the addresses are real, and a non-zero checksum is verified against the
//!   peer's address (source) and ours (destination). We send a computed checksum.
//!
//! The inner IP header is not present in transport mode: the pseudo-header addresses come from
//! the SA's 4-tuple (IPv4 only).

use core::net::{IpAddr, Ipv4Addr};
use core::ops::Range;

use rand::{CryptoRng, RngCore};
use wire::ip::Protocol;
use wire::ip::udp::{self, PseudoHeader};

use crate::sa::{FourTuple, Opened, Sa, Sealed};
use crate::{DropReason, Error};

/// The L2TP port (RFC 2661 §8.1).
pub const L2TP_PORT: u16 = 1701;

/// An L2TP datagram found inside a transport-mode ESP payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct L2tpDatagram {
    /// The client's UDP source port (1701 for most clients, a random one for some); replies go
    /// back to it.
    pub src_port: u16,
    /// Where the L2TP message lies in the caller's buffer.
    pub payload: Range<usize>,
}

fn ipv4_pair(peer: &FourTuple) -> Result<(Ipv4Addr, Ipv4Addr), Error> {
    match (peer.local.ip(), peer.remote.ip()) {
        (IpAddr::V4(local), IpAddr::V4(remote)) => Ok((local, remote)),
        _ => Err(Error::ApiMisuse("transport checksums need an IPv4 binding")),
    }
}

/// Applies the transport-mode L2TP rules to a packet that `sa` opened in `buf`. Counts a
/// [`DropReason::NotL2tp`] drop on the SA when a rule fails.
pub fn receive(sa: &Sa, opened: &Opened, buf: &[u8]) -> Result<L2tpDatagram, Error> {
    let result = receive_inner(sa, opened, buf);
    if let Err(e) = &result
        && e.drop_reason() == Some(DropReason::NotL2tp)
    {
        sa.count_drop(DropReason::NotL2tp);
    }
    result
}

fn receive_inner(sa: &Sa, opened: &Opened, buf: &[u8]) -> Result<L2tpDatagram, Error> {
    if opened.next_header != Protocol::Udp {
        return Err(Error::NotUdp {
            protocol: opened.next_header,
        });
    }
    let inner = buf
        .get(opened.payload.clone())
        .ok_or(Error::ApiMisuse("payload range outside the buffer"))?;
    let packet = udp::Packet::new_checked(inner)?;
    let verify = if sa.encap().is_udp() {
        None // RFC 3948 §3.1.2: skip; the ICV covers the datagram.
    } else {
        let (local, remote) = ipv4_pair(&sa.peer())?;
        Some(PseudoHeader {
            src_addr: remote,
            dst_addr: local,
        })
    };
    let repr = udp::Repr::parse(&packet, verify).map_err(|e| match e.kind {
        wire::ErrorKind::BadValue => Error::InnerChecksum,
        _ => Error::Malformed(e),
    })?;
    if repr.dst_port != L2TP_PORT {
        return Err(Error::NotL2tpPort {
            port: repr.dst_port,
        });
    }
    let start = opened.payload.start + udp::HEADER_LEN;
    Ok(L2tpDatagram {
        src_port: repr.src_port,
        payload: start..start + repr.payload_len,
    })
}

/// The headroom an L2TP message needs for [`seal`]: ESP header, IV and inner UDP header. The
/// caller's UDP or IP outer header, if built in the same buffer, comes in front of this.
pub fn headroom(sa: &Sa) -> usize {
    sa.overhead_before() + udp::HEADER_LEN
}

/// Seals an L2TP message for the client: the message is at `buf[headroom(sa)..][..l2tp_len]`;
/// this writes the inner UDP header (1701 -> `client_port`, checksum 0 on NAT-T SAs, computed
/// on plain ones) in front of it and then seals with next header UDP ([`Sa::seal`]).
pub fn seal(
    sa: &Sa,
    buf: &mut [u8],
    l2tp_len: usize,
    client_port: u16,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Sealed, Error> {
    let udp_len = udp::HEADER_LEN + l2tp_len;
    let start = sa.overhead_before();
    let datagram = buf
        .get_mut(start..)
        .ok_or(Error::ApiMisuse("seal buffer too small"))?;
    let checksum = if sa.encap().is_udp() {
        None
    } else {
        let (local, remote) = ipv4_pair(&sa.peer())?;
        Some(PseudoHeader {
            src_addr: local,
            dst_addr: remote,
        })
    };
    udp::Repr {
        src_port: L2TP_PORT,
        dst_port: client_port,
        payload_len: l2tp_len,
    }
    .emit(datagram, checksum)
    .map_err(|_| Error::ApiMisuse("seal buffer too small"))?;
    sa.seal(buf, udp_len, Protocol::Udp, rng)
}
