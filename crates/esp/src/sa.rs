//! One ESP security association: in-place seal and open (RFC 4303 §3.3, §3.4) with CBC ciphers
//! (RFC 2451, RFC 3602) and truncated HMACs (RFC 2403, RFC 2404, RFC 4868).
//!
//! # Buffer contract
//!
//! [`Sa::seal`] works in one caller buffer laid out as
//!
//! ```text
//! | headroom: overhead_before() | payload: payload_len | tailroom >= max_overhead_after() |
//! ```
//!
//! and leaves `buf[..sealed_len(payload_len)]` = `SPI | Seq | IV | ciphertext | ICV`, where the
//! ciphertext covers payload, padding, Pad Length and Next Header. [`Sa::open`] takes the ESP
//! bytes (after the UDP header on port 4500, or after the outer IPv4 header for protocol 50),
//! decrypts them in place, and returns the range of the plaintext payload inside that buffer.
//! Neither allocates.
//!
//! CBC IVs are drawn from the caller's cryptographic RNG for every packet (RFC 3602 §2.4: "the
//! IV MUST be chosen at random, and MUST be unpredictable"); the daemon gives each data-path
//! thread its own seeded `ChaCha20Rng`.

use core::net::SocketAddr;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use crypto::Secret;
use crypto::cipher::{CbcCipher, CipherAlg};
use crypto::integ::{Integ, IntegAlg};
use rand::{CryptoRng, RngCore};
use wire::esp::{HEADER_LEN, TrailerRepr};
use wire::ip::Protocol;

use crate::counters::{DropCounters, DropCounts};
use crate::replay::{ReplayError, ReplayWindow};
use crate::{DropReason, Error};

/// The highest outbound sequence number we send; the next packet needs a new SA
/// (RFC 4303 §3.3.3: without ESN the counter "MUST NOT be allowed to cycle").
pub const MAX_SEQ: u32 = u32::MAX - 1;

/// The outbound sequence number at which [`Expiry::Soft`] is reported, so that IKE rekeys
/// long before [`MAX_SEQ`] (local policy: 2^31).
pub const SOFT_SEQ: u32 = 1 << 31;

/// Which way an SA carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Packets from the peer to us: [`Sa::open`].
    Inbound,
    /// Packets from us to the peer: [`Sa::seal`].
    Outbound,
}

/// The outer framing of the SA's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// Plain ESP, IP protocol 50 (RFC 4303).
    None,
    /// UDP-encapsulated ESP on port 4500 (RFC 3948 §2.1), negotiated by NAT-T (RFC 3947).
    Udp {
        /// Our address and port.
        local: SocketAddr,
        /// The peer's public (post-NAT) address and port.
        remote: SocketAddr,
    },
}

impl Encap {
    /// Whether the SA runs over UDP (NAT traversal).
    pub const fn is_udp(&self) -> bool {
        matches!(self, Self::Udp { .. })
    }
}

pub use wire::FourTuple;

/// Lifetime limits (RFC 2407 §4.5 SA Life Type kilobytes; packets as a local policy). Bytes
/// count the protected payload (the plaintext handed to seal or returned by open). Crossing a
/// soft limit is reported once ([`Expiry::Soft`]); at a hard limit the SA refuses packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lifetime {
    /// Soft byte limit.
    pub soft_bytes: Option<u64>,
    /// Hard byte limit.
    pub hard_bytes: Option<u64>,
    /// Soft packet limit.
    pub soft_packets: Option<u64>,
    /// Hard packet limit.
    pub hard_packets: Option<u64>,
}

impl Lifetime {
    /// No limits.
    pub const UNLIMITED: Self = Self {
        soft_bytes: None,
        hard_bytes: None,
        soft_packets: None,
        hard_packets: None,
    };

    /// Byte limits from a negotiated kilobyte lifetime (RFC 2407 §4.5: 1 KB = 1024 bytes), with
    /// the soft limit at `soft_percent` of it.
    pub fn from_kilobytes(hard_kb: u64, soft_percent: u8) -> Self {
        let hard = hard_kb.saturating_mul(1024);
        let soft = hard / 100 * u64::from(soft_percent.min(100));
        Self {
            soft_bytes: Some(soft),
            hard_bytes: Some(hard),
            ..Self::UNLIMITED
        }
    }
}

/// A lifetime threshold crossed by the packet just processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// A soft limit: start a rekey (RFC 4301 §4.4.2.1).
    Soft,
    /// A hard limit: this was the last packet; the SA must be deleted.
    Hard,
}

/// Everything needed to build an SA. Keys are [`Secret`]s (zeroized, redacted `Debug`).
#[derive(Debug, Clone)]
pub struct SaParams {
    /// The SPI: the peer's choice for outbound SAs, ours for inbound SAs.
    pub spi: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The encryption algorithm (CBC).
    pub cipher: CipherAlg,
    /// The encryption key, exactly `cipher.key_len()` bytes.
    pub enc_key: Secret,
    /// The integrity algorithm.
    pub integ: IntegAlg,
    /// The integrity key, exactly `integ.key_len()` bytes.
    pub auth_key: Secret,
    /// Plain or UDP-encapsulated ESP.
    pub encap: Encap,
    /// The peer 4-tuple the SA is bound to. Inbound packets for this SPI from any other
    /// 4-tuple are dropped by [`crate::SaDb`].
    pub peer: FourTuple,
    /// Byte and packet limits.
    pub lifetime: Lifetime,
}

/// The result of [`Sa::seal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Sealed {
    /// The ESP packet is `buf[..len]`.
    pub len: usize,
    /// The sequence number used.
    pub seq: u32,
    /// A lifetime threshold this packet crossed.
    pub expiry: Option<Expiry>,
}

/// The result of [`Sa::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Opened {
    /// The SPI of the SA that opened the packet.
    pub spi: u32,
    /// The packet's sequence number.
    pub seq: u32,
    /// The Next Header of the payload (UDP for L2TP transport mode).
    pub next_header: Protocol,
    /// Where the decrypted payload lies in the caller's buffer.
    pub payload: Range<usize>,
    /// A lifetime threshold this packet crossed.
    pub expiry: Option<Expiry>,
    /// Whether this is the highest sequence number the SA has accepted so far (not a late
    /// packet that the window still admits, RFC 4303 §3.4.3). Only such a packet may move a
    /// peer to a new NAT mapping: a delayed one from the old mapping must not move it back.
    pub newest: bool,
}

/// An ESP security association, shareable across threads (`Sync`).
///
/// The outbound sequence counter is an `AtomicU64`, the inbound replay window a short-held
/// `Mutex`, and the traffic and drop counters are atomics, like boringtun's `Session`.
#[derive(Debug)]
pub struct Sa {
    spi: u32,
    direction: Direction,
    /// The framing and the bound 4-tuple; they change only when the peer's NAT mapping moves
    /// ([`Sa::rebind`]).
    binding: RwLock<(Encap, FourTuple)>,
    cipher: CbcCipher,
    integ: Integ,
    lifetime: Lifetime,
    /// Outbound: the last sequence number handed out (0 = none yet).
    seq: AtomicU64,
    replay: Mutex<ReplayWindow>,
    bytes: AtomicU64,
    packets: AtomicU64,
    drops: DropCounters,
}

impl Sa {
    /// Builds an SA, keying the cipher and the HMAC.
    pub fn new(params: SaParams) -> Result<Self, Error> {
        let cipher = CbcCipher::new(params.cipher, params.enc_key.as_bytes())?;
        let integ = Integ::new(params.integ, params.auth_key.as_bytes())?;
        Ok(Self {
            spi: params.spi,
            direction: params.direction,
            binding: RwLock::new((params.encap, params.peer)),
            cipher,
            integ,
            lifetime: params.lifetime,
            seq: AtomicU64::new(0),
            replay: Mutex::new(ReplayWindow::new()),
            bytes: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            drops: DropCounters::default(),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Inbound or outbound.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Plain or UDP-encapsulated.
    pub fn encap(&self) -> Encap {
        self.binding().0
    }

    /// The peer 4-tuple the SA is bound to.
    pub fn peer(&self) -> FourTuple {
        self.binding().1
    }

    fn binding(&self) -> (Encap, FourTuple) {
        // Two plain copies: a panic cannot leave them half-written, so poison is harmless.
        *self.binding.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Binds a UDP-encapsulated SA to a new peer 4-tuple: the NAT in front of the peer moved
    /// its mapping, and a packet from `peer` verified under this SA (the IKEv2 rule of RFC 7296
    /// §2.23; IKEv1 NAT-T leaves it open). Later
    /// outbound packets go to `peer.remote`, and inbound ones are accepted only from `peer`.
    ///
    /// Errors: [`Error::ApiMisuse`] for plain ESP (protocol 50 has no ports to move).
    pub fn rebind(&self, peer: FourTuple) -> Result<(), Error> {
        let mut b = self.binding.write().unwrap_or_else(PoisonError::into_inner);
        match b.0 {
            Encap::Udp { .. } => {
                *b = (
                    Encap::Udp {
                        local: peer.local,
                        remote: peer.remote,
                    },
                    peer,
                );
                Ok(())
            }
            Encap::None => Err(Error::ApiMisuse("rebind of a plain ESP SA")),
        }
    }

    /// The cipher algorithm.
    pub fn cipher_alg(&self) -> CipherAlg {
        self.cipher.alg()
    }

    /// The integrity algorithm.
    pub fn integ_alg(&self) -> IntegAlg {
        self.integ.alg()
    }

    /// Bytes in front of the payload that seal fills: ESP header and IV.
    pub fn overhead_before(&self) -> usize {
        HEADER_LEN + self.cipher.block_len()
    }

    /// The most bytes seal appends after a payload: padding, Pad Length, Next Header, ICV.
    pub fn max_overhead_after(&self) -> usize {
        self.align() - 1 + wire::esp::TRAILER_LEN + self.integ.icv_len()
    }

    /// The exact ESP packet length for a payload of `payload_len` bytes.
    /// Saturates at `usize::MAX` for absurd lengths.
    pub fn sealed_len(&self, payload_len: usize) -> usize {
        payload_len
            .saturating_add(self.overhead_before())
            .saturating_add(self.trailer_for(payload_len, Protocol::Udp).buffer_len())
            .saturating_add(self.integ.icv_len())
    }

    fn align(&self) -> usize {
        self.cipher.block_len().max(4)
    }

    fn trailer_for(&self, payload_len: usize, next_header: Protocol) -> TrailerRepr {
        TrailerRepr::for_payload(payload_len, self.cipher.block_len(), next_header)
    }

    /// Payload bytes protected so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Packets protected so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Inbound packets this SA dropped, by reason.
    pub fn drops(&self) -> DropCounts {
        self.drops.snapshot()
    }

    pub(crate) fn count_drop(&self, reason: DropReason) {
        self.drops.bump(reason);
    }

    fn hard_expired(&self) -> bool {
        let over = |limit: Option<u64>, value: &AtomicU64| {
            limit.is_some_and(|l| value.load(Ordering::Relaxed) >= l)
        };
        over(self.lifetime.hard_bytes, &self.bytes)
            || over(self.lifetime.hard_packets, &self.packets)
    }

    /// Adds one packet of `len` bytes and reports a threshold crossed by it.
    fn account(&self, len: usize) -> Option<Expiry> {
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        let old_bytes = self.bytes.fetch_add(len, Ordering::Relaxed);
        let old_packets = self.packets.fetch_add(1, Ordering::Relaxed);
        let crossed = |limit: Option<u64>, old: u64, add: u64| {
            limit.is_some_and(|l| old < l && old.saturating_add(add) >= l)
        };
        let lt = &self.lifetime;
        if crossed(lt.hard_bytes, old_bytes, len) || crossed(lt.hard_packets, old_packets, 1) {
            Some(Expiry::Hard)
        } else if crossed(lt.soft_bytes, old_bytes, len) || crossed(lt.soft_packets, old_packets, 1)
        {
            Some(Expiry::Soft)
        } else {
            None
        }
    }

    /// Encrypts and authenticates the payload at `buf[overhead_before()..][..payload_len]` in
    /// place (RFC 4303 §3.3), writing the ESP header and a fresh IV in front and the trailer
    /// and ICV behind. Returns the packet length: the packet is `buf[..len]`.
    ///
    /// Errors: [`Error::ApiMisuse`] for an inbound SA or a buffer shorter than
    /// [`Self::sealed_len`]; [`Error::Expired`] past the hard lifetime; [`Error::SeqExhausted`]
    /// once [`MAX_SEQ`] was used (rekey).
    pub fn seal(
        &self,
        buf: &mut [u8],
        payload_len: usize,
        next_header: Protocol,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Sealed, Error> {
        if self.direction != Direction::Outbound {
            return Err(Error::ApiMisuse("seal on an inbound SA"));
        }
        let trailer = self.trailer_for(payload_len, next_header);
        let total = self.sealed_len(payload_len);
        if buf.len() < total {
            return Err(Error::ApiMisuse("seal buffer too small"));
        }
        // `total` fits in `buf`, so none of these sums overflow.
        let body_end = total - self.integ.icv_len();
        if self.hard_expired() {
            return Err(Error::Expired);
        }
        let seq64 = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let seq = match u32::try_from(seq64) {
            Ok(seq) if seq <= MAX_SEQ => seq,
            _ => {
                // Keep the counter parked so that it can never wrap into valid numbers.
                self.seq.store(u64::from(u32::MAX), Ordering::Relaxed);
                return Err(Error::SeqExhausted);
            }
        };

        let (packet, _) = buf.split_at_mut(total);
        let (authed, icv) = packet.split_at_mut(body_end);
        let (header, rest) = authed.split_at_mut(HEADER_LEN);
        let (iv, body) = rest.split_at_mut(self.cipher.block_len());
        wire::esp::Repr {
            spi: self.spi,
            seq_number: seq,
        }
        .emit(header)?;
        rng.fill_bytes(iv);
        let (_, trailer_buf) = body.split_at_mut(payload_len);
        trailer.emit(trailer_buf)?;
        self.cipher.encrypt_in_place(iv, body)?;
        self.integ.compute(&[authed], icv);

        let mut expiry = self.account(payload_len);
        if seq == SOFT_SEQ && expiry.is_none() {
            expiry = Some(Expiry::Soft);
        }
        if seq == MAX_SEQ {
            expiry = Some(Expiry::Hard);
        }
        Ok(Sealed {
            len: total,
            seq,
            expiry,
        })
    }

    /// Verifies, replay-checks and decrypts the ESP packet `buf` in place (RFC 4303 §3.4).
    /// `buf` is exactly the ESP packet: SPI to the end of the ICV. Counts the drop on error.
    pub fn open(&self, buf: &mut [u8]) -> Result<Opened, Error> {
        let result = self.open_inner(buf);
        if let Err(e) = &result
            && let Some(reason) = e.drop_reason()
        {
            self.drops.bump(reason);
        }
        result
    }

    fn open_inner(&self, buf: &mut [u8]) -> Result<Opened, Error> {
        if self.direction != Direction::Inbound {
            return Err(Error::ApiMisuse("open on an outbound SA"));
        }
        let header = wire::esp::Packet::new_checked(&*buf)?;
        let repr = wire::esp::Repr::parse(&header)?;
        if repr.spi != self.spi {
            return Err(Error::UnknownSpi { spi: repr.spi });
        }
        let seq = repr.seq_number;
        let block = self.cipher.block_len();
        let icv_len = self.integ.icv_len();
        // RFC 4303 §3.4.2: IV, at least one block of ciphertext (it holds the 2-byte trailer),
        // a whole number of blocks, and the ICV.
        let body_len = buf
            .len()
            .checked_sub(HEADER_LEN + block + icv_len)
            .filter(|&n| n >= block && n % block == 0)
            .ok_or(wire::Error::truncated("esp.ciphertext"))?;
        if self.hard_expired() {
            return Err(Error::Expired);
        }
        // RFC 4303 §3.4.3: reject duplicates before spending an HMAC on them.
        self.window()
            .check(seq)
            .map_err(|_| Error::Replay { seq })?;

        let (authed, icv) = buf.split_at_mut(buf.len() - icv_len);
        if !self.icv_ok(authed, icv) {
            return Err(Error::BadIcv);
        }
        // Only now may the window move (RFC 4303 §3.4.3). Two threads racing with the same
        // number both pass `check`; only one passes here.
        let newest = {
            let mut window = self.window();
            window
                .check_and_update(seq)
                .map_err(|_: ReplayError| Error::Replay { seq })?;
            window.top() == seq
        };

        let (_, rest) = authed.split_at_mut(HEADER_LEN);
        let (iv, body) = rest.split_at_mut(block);
        self.cipher.decrypt_in_place(iv, body)?;
        let trailer = wire::esp::Trailer::new_checked(&*body).map_err(|_| Error::BadPadding)?;
        let parsed = TrailerRepr::parse(&trailer).map_err(|_| Error::BadPadding)?;
        let data_len = trailer.data_len();
        debug_assert_eq!(body_len, body.len());
        let start = HEADER_LEN + block;
        let expiry = self.account(data_len);
        Ok(Opened {
            spi: self.spi,
            seq,
            next_header: parsed.next_header,
            payload: start..start + data_len,
            expiry,
            newest,
        })
    }

    #[cfg(not(fuzzing))]
    fn icv_ok(&self, authed: &[u8], icv: &[u8]) -> bool {
        self.integ.verify(&[authed], icv)
    }

    /// Under `cfg(fuzzing)` the ICV is not checked, so fuzzers reach the decryption and trailer
    /// code (as smoltcp skips checksums under `cfg(fuzzing)`).
    #[cfg(fuzzing)]
    fn icv_ok(&self, _authed: &[u8], _icv: &[u8]) -> bool {
        true
    }

    fn window(&self) -> std::sync::MutexGuard<'_, ReplayWindow> {
        // A panic while holding this lock cannot leave the window inconsistent (each update is
        // a few plain stores), so a poisoned lock is still usable.
        self.replay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, SocketAddr};

    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn sa(direction: Direction) -> Sa {
        let peer = FourTuple {
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4500),
            remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 4500),
        };
        Sa::new(SaParams {
            spi: 0x1234,
            direction,
            cipher: CipherAlg::Aes128,
            enc_key: Secret::new(vec![1; 16]),
            integ: IntegAlg::HmacSha1_96,
            auth_key: Secret::new(vec![2; 20]),
            encap: Encap::None,
            peer,
            lifetime: Lifetime::UNLIMITED,
        })
        .unwrap()
    }

    fn seal_one(sa: &Sa, rng: &mut ChaCha20Rng) -> Result<Sealed, Error> {
        let mut buf = [0u8; 128];
        sa.seal(&mut buf, 16, Protocol::Udp, rng)
    }

    /// RFC 4303 §3.3.3: no wrap. The last number is MAX_SEQ = 2^32 - 2 (reported as a hard
    /// expiry); after it, seal refuses for good and asks for a rekey.
    #[test]
    fn sequence_numbers_never_wrap() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let out = sa(Direction::Outbound);
        out.seq.store(u64::from(MAX_SEQ) - 2, Ordering::Relaxed);
        let s = seal_one(&out, &mut rng).unwrap();
        assert_eq!((s.seq, s.expiry), (MAX_SEQ - 1, None));
        let s = seal_one(&out, &mut rng).unwrap();
        assert_eq!((s.seq, s.expiry), (MAX_SEQ, Some(Expiry::Hard)));
        for _ in 0..3 {
            assert_eq!(seal_one(&out, &mut rng).unwrap_err(), Error::SeqExhausted);
        }
        assert_eq!(out.seq.load(Ordering::Relaxed), u64::from(u32::MAX));
    }

    #[test]
    fn soft_sequence_threshold_is_reported_once() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let out = sa(Direction::Outbound);
        out.seq.store(u64::from(SOFT_SEQ) - 2, Ordering::Relaxed);
        let got: Vec<_> = (0..3)
            .map(|_| seal_one(&out, &mut rng).unwrap().expiry)
            .collect();
        assert_eq!(got, [None, Some(Expiry::Soft), None]);
    }

    #[test]
    fn opened_sequence_numbers_near_the_top_are_accepted() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let out = sa(Direction::Outbound);
        let inb = sa(Direction::Inbound);
        out.seq.store(u64::from(MAX_SEQ) - 1, Ordering::Relaxed);
        let mut buf = [0u8; 128];
        let s = out.seal(&mut buf, 16, Protocol::Udp, &mut rng).unwrap();
        let opened = inb.open(&mut buf[..s.len]).unwrap();
        assert_eq!(opened.seq, MAX_SEQ);
    }
}
