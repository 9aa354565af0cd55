//! The inbound SA database: SAs keyed by SPI and bound to the peer's outer 4-tuple.
//!
//! The SPI alone does not identify the sender: two clients behind one NAT share the public IP,
//! and a forged packet can carry anybody's SPI. Every inbound packet must arrive from the
//! 4-tuple its SA was negotiated with; otherwise it is dropped and counted as
//! [`DropReason::WrongPeer`] before any cryptography runs (DESIGN.md, "Per-client demux").
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
