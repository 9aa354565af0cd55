//! The inbound SA database: SAs keyed by SPI and bound to the peer's outer 4-tuple.
//!
//! The SPI alone does not identify the sender: two clients behind one NAT share the public IP,
//! and a forged packet can carry anybody's SPI. Every inbound packet must arrive from the
//! 4-tuple its SA was negotiated with; otherwise it is dropped and counted as
//! [`DropReason::WrongPeer`] before any cryptography runs
//! (docs/clients.md#several-clients-one-nat).
//!
//! Lookups are read-mostly: a `RwLock<HashMap<u32, Arc<Sa>>>` that many data-path threads read
//! at once; insert and remove take the write lock briefly.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tracing::{debug, trace};

use crate::counters::{DropCounters, DropCounts};
use crate::sa::{Direction, FourTuple, Opened, Sa};
use crate::transport::{self, L2tpDatagram};
use crate::{DropReason, Error};

/// Inbound SAs by SPI, with global drop counters.
#[derive(Debug, Default)]
pub struct SaDb {
    sas: RwLock<HashMap<u32, Arc<Sa>>>,
    drops: DropCounters,
}

impl SaDb {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<u32, Arc<Sa>>> {
        // Map operations cannot leave the map half-updated, so a poisoned lock is still usable.
        self.sas.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<u32, Arc<Sa>>> {
        self.sas.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an inbound SA. Its SPI must be new and not 0..=255 (RFC 4303 §2.1).
    pub fn insert(&self, sa: Sa) -> Result<Arc<Sa>, Error> {
        if sa.direction() != Direction::Inbound {
            return Err(Error::ApiMisuse("SaDb holds inbound SAs only"));
        }
        if sa.spi() < wire::esp::MIN_SPI {
            return Err(Error::ApiMisuse("reserved SPI"));
        }
        let spi = sa.spi();
        let peer = sa.peer();
        match self.write().entry(spi) {
            Entry::Occupied(_) => Err(Error::ApiMisuse("duplicate SPI")),
            Entry::Vacant(slot) => {
                let sa = Arc::new(sa);
                slot.insert(Arc::clone(&sa));
                debug!(spi = %format_args!("{spi:#010x}"), remote = %peer.remote, "inbound SA installed");
                Ok(sa)
            }
        }
    }

    /// Whether `spi` is in use (for choosing a fresh inbound SPI).
    pub fn contains(&self, spi: u32) -> bool {
        self.read().contains_key(&spi)
    }

    /// The SA with this SPI.
    pub fn get(&self, spi: u32) -> Option<Arc<Sa>> {
        self.read().get(&spi).cloned()
    }

    /// Removes and returns the SA with this SPI.
    pub fn remove(&self, spi: u32) -> Option<Arc<Sa>> {
        let removed = self.write().remove(&spi);
        if removed.is_some() {
            debug!(spi = %format_args!("{spi:#010x}"), "inbound SA removed");
        }
        removed
    }

    /// Removes every SA bound to `peer` (INITIAL-CONTACT, peer gone) and returns them.
    pub fn remove_peer(&self, peer: &FourTuple) -> Vec<Arc<Sa>> {
        let mut map = self.write();
        let spis: Vec<u32> = map
            .iter()
            .filter(|(_, sa)| sa.peer() == *peer)
            .map(|(&spi, _)| spi)
            .collect();
        let removed: Vec<Arc<Sa>> = spis.iter().filter_map(|spi| map.remove(spi)).collect();
        debug!(remote = %peer.remote, count = removed.len(), "inbound SAs of peer removed");
        removed
    }

    /// The number of SAs.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the database is empty.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Drops counted by the database, over all SAs (including unknown SPIs and wrong peers).
    pub fn drops(&self) -> DropCounts {
        self.drops.snapshot()
    }

    fn lookup(&self, peer: &FourTuple, buf: &[u8]) -> Result<Arc<Sa>, Error> {
        let header = wire::esp::Packet::new_checked(buf)?;
        let spi = header.spi();
        let sa = self.get(spi).ok_or(Error::UnknownSpi { spi })?;
        if sa.peer() != *peer {
            sa.count_drop(DropReason::WrongPeer);
            return Err(Error::WrongPeer { spi });
        }
        Ok(sa)
    }

    /// [`Self::open_l2tp`] that also accepts a packet from a new 4-tuple when the peer's NAT
    /// mapping moved (RFC 3947/3948 leave this open; like IKEv2, RFC 7296 §2.23, the end not behind
    /// the NAT follows the last valid
    /// UDP-encapsulated packet). Only a UDP-encapsulated SA whose local address and port equal
    /// `from.local` qualifies, and the packet must pass the ICV and the replay window like any
    /// other (RFC 4303 §3.4.3-§3.4.4), so a forged or replayed packet moves nothing and is
    /// counted as a drop. On success from a new 4-tuple the old 4-tuple is returned and the SA
    /// is **not** rebound yet: the caller moves the whole peer (every SA with [`Sa::rebind`],
    /// IKE and L2TP) or drops the packet.
    pub fn open_l2tp_roaming(
        &self,
        from: &FourTuple,
        buf: &mut [u8],
    ) -> Result<(Opened, L2tpDatagram, Option<FourTuple>), Error> {
        let result = (|| {
            let header = wire::esp::Packet::new_checked(&*buf)?;
            let spi = header.spi();
            let sa = self.get(spi).ok_or(Error::UnknownSpi { spi })?;
            let bound = sa.peer();
            let moved = if bound == *from {
                None
            } else if sa.encap().is_udp() && bound.local == from.local {
                Some(bound)
            } else {
                sa.count_drop(DropReason::WrongPeer);
                return Err(Error::WrongPeer { spi });
            };
            let opened = sa.open(buf)?;
            let datagram = transport::receive(&sa, &opened, buf)?;
            Ok((opened, datagram, moved))
        })();
        if let Err(e) = &result {
            self.count(e);
        }
        result
    }

    fn count(&self, error: &Error) {
        if let Some(reason) = error.drop_reason() {
            self.drops.bump(reason);
        }
        trace!(error = %error, "ESP packet dropped");
    }

    /// Opens an inbound ESP packet that arrived from `peer`: finds the SA by SPI, checks the
    /// 4-tuple binding, then verifies, replay-checks and decrypts in place ([`Sa::open`]).
    /// Every failure is counted, per SA where there is one, and globally.
    pub fn open(&self, peer: &FourTuple, buf: &mut [u8]) -> Result<Opened, Error> {
        let result = self.lookup(peer, buf).and_then(|sa| sa.open(buf));
        if let Err(e) = &result {
            self.count(e);
        }
        result
    }

    /// [`Self::open`] followed by the transport-mode L2TP rules ([`transport::receive`]): the
    /// returned datagram gives the client's UDP source port and the L2TP message range.
    pub fn open_l2tp(
        &self,
        peer: &FourTuple,
        buf: &mut [u8],
    ) -> Result<(Opened, L2tpDatagram), Error> {
        let result = self.lookup(peer, buf).and_then(|sa| {
            let opened = sa.open(buf)?;
            let datagram = transport::receive(&sa, &opened, buf)?;
            Ok((opened, datagram))
        });
        if let Err(e) = &result {
            self.count(e);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, SocketAddr};

    use crypto::Secret;
    use crypto::cipher::CipherAlg;
    use crypto::integ::IntegAlg;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::sa::{Encap, Lifetime, SaParams};

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 4500),
            remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), port),
        }
    }

    fn sa(direction: Direction, peer: FourTuple) -> Sa {
        Sa::new(SaParams {
            spi: 0x4000,
            direction,
            cipher: CipherAlg::Aes128,
            enc_key: Secret::new(vec![3; 16]),
            integ: IntegAlg::HmacSha1_96,
            auth_key: Secret::new(vec![4; 20]),
            encap: Encap::Udp {
                local: peer.local,
                remote: peer.remote,
            },
            peer,
            lifetime: Lifetime::UNLIMITED,
        })
        .unwrap()
    }

    /// An L2TP-in-UDP ESP packet for SPI 0x4000 (sealed with the same keys).
    fn packet(out: &Sa, rng: &mut ChaCha20Rng) -> Vec<u8> {
        let l2tp = [0xc8, 0x02, 0x00, 0x0c, 0, 1, 0, 0, 0, 0, 0, 0];
        let head = transport::headroom(out);
        let mut buf = vec![0u8; out.sealed_len(l2tp.len() + wire::ip::udp::HEADER_LEN) + 64];
        buf[head..head + l2tp.len()].copy_from_slice(&l2tp);
        let sealed = transport::seal(out, &mut buf, l2tp.len(), 1701, rng).unwrap();
        buf.truncate(sealed.len);
        buf
    }

    /// RFC 7296 §2.23 (applied to IKEv1 NAT-T) with RFC 4303 §3.4.3-§3.4.4: a packet from a new
    /// port is accepted only if
    /// it verifies and is fresh, and the SA is rebound only by the caller.
    #[test]
    fn roaming_needs_a_valid_fresh_packet() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let (old, new) = (tuple(40000), tuple(40077));
        let db = SaDb::new();
        db.insert(sa(Direction::Inbound, old)).unwrap();
        let out = sa(Direction::Outbound, old);
        let p1 = packet(&out, &mut rng);
        let p2 = packet(&out, &mut rng);

        // From the bound tuple: no move.
        let (_, _, moved) = db.open_l2tp_roaming(&old, &mut p1.clone()).unwrap();
        assert_eq!(moved, None);
        // A replay from a new port: refused, nothing moves.
        assert_eq!(
            db.open_l2tp_roaming(&new, &mut p1.clone()).unwrap_err(),
            Error::Replay { seq: 1 }
        );
        // A bad ICV from a new port: refused.
        let mut forged = p2.clone();
        let n = forged.len();
        forged[n - 1] ^= 1;
        assert_eq!(
            db.open_l2tp_roaming(&new, &mut forged).unwrap_err(),
            Error::BadIcv
        );
        // Another local port (not our NAT-T socket): wrong peer, before any cryptography.
        let mut elsewhere = new;
        elsewhere.local.set_port(500);
        assert_eq!(
            db.open_l2tp_roaming(&elsewhere, &mut p2.clone())
                .unwrap_err(),
            Error::WrongPeer { spi: 0x4000 }
        );
        // A fresh, valid packet from the new port: accepted, and the old tuple is reported.
        let (_, _, moved) = db.open_l2tp_roaming(&new, &mut p2.clone()).unwrap();
        assert_eq!(moved, Some(old));
        let inbound = db.get(0x4000).unwrap();
        assert_eq!(inbound.peer(), old, "not rebound by the database");
        inbound.rebind(new).unwrap();
        out.rebind(new).unwrap();
        assert_eq!(inbound.peer(), new);
        assert_eq!(
            out.encap(),
            Encap::Udp {
                local: new.local,
                remote: new.remote
            }
        );
        let p3 = packet(&out, &mut rng);
        assert_eq!(db.open_l2tp_roaming(&new, &mut p3.clone()).unwrap().2, None);
        assert_eq!(db.drops().total(), 3);
    }

    #[test]
    fn plain_esp_cannot_rebind() {
        let mut peer = tuple(0);
        peer.local.set_port(0);
        let plain = Sa::new(SaParams {
            spi: 0x4001,
            direction: Direction::Inbound,
            cipher: CipherAlg::Aes128,
            enc_key: Secret::new(vec![3; 16]),
            integ: IntegAlg::HmacSha1_96,
            auth_key: Secret::new(vec![4; 20]),
            encap: Encap::None,
            peer,
            lifetime: Lifetime::UNLIMITED,
        })
        .unwrap();
        assert!(matches!(
            plain.rebind(tuple(4500)),
            Err(Error::ApiMisuse(_))
        ));
        assert_eq!(plain.peer(), peer);
    }
}
