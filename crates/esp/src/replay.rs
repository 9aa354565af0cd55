//! The anti-replay window (RFC 4303 §3.4.3), as a ring of bitmap words (RFC 6479 §2).
//!
//! The window covers the highest sequence number received and the [`ReplayWindow::SIZE`] - 1
//! below it. RFC 4303 §3.4.3 asks for at least 32 and recommends 64; we keep
//! (`WORDS` - 1) * 64 = 960 so that packets reordered by multi-core senders and receivers
//! still pass. Sequence number 0 is never valid: the sender's first packet is 1
//! (RFC 4303 §3.3.3).
//!
//! Checking ([`ReplayWindow::check`]) does not change the window; the window moves only in
//! [`ReplayWindow::check_and_update`], which the SA calls after the ICV has verified
//! (RFC 4303 §3.4.3: "the receive window is updated only if the integrity verification
//! succeeds").

const WORDS: usize = 16;
const BITS: u64 = 64;

/// Why [`ReplayWindow::check`] refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Sequence number 0 (never sent by a conforming sender).
    Zero,
    /// Already received.
    Duplicate,
    /// Below the left edge of the window.
    TooOld,
}

/// An anti-replay window for 32-bit sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// The highest sequence number accepted so far (0: none yet).
    top: u64,
    bitmap: [u64; WORDS],
}

impl ReplayWindow {
    /// How many sequence numbers the window covers, the highest included.
    pub const SIZE: u64 = (WORDS as u64 - 1) * BITS;

    /// An empty window.
    pub const fn new() -> Self {
        Self {
            top: 0,
            bitmap: [0; WORDS],
        }
    }

    /// The highest sequence number accepted so far (0 if none).
    pub fn top(&self) -> u32 {
        u32::try_from(self.top).unwrap_or(u32::MAX)
    }

    fn locate(seq: u64) -> (usize, u64) {
        // `% WORDS` keeps the index in range; the cast cannot truncate.
        let word = ((seq / BITS) % WORDS as u64) as usize;
        (word, 1u64 << (seq % BITS))
    }

    /// Whether `seq` would be accepted now, without recording it.
    pub fn check(&self, seq: u32) -> Result<(), ReplayError> {
        let seq = u64::from(seq);
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= Self::SIZE {
            return Err(ReplayError::TooOld);
        }
        let (word, bit) = Self::locate(seq);
        match self.bitmap.get(word) {
            Some(w) if w & bit == 0 => Ok(()),
            _ => Err(ReplayError::Duplicate),
        }
    }

    /// Checks `seq` and, if acceptable, records it and moves the window forward.
    pub fn check_and_update(&mut self, seq: u32) -> Result<(), ReplayError> {
        self.check(seq)?;
        let seq = u64::from(seq);
        if seq > self.top {
            // Clear the words between the old top's word and the new one (RFC 6479 §2.3).
            let old_block = self.top / BITS;
            let new_block = seq / BITS;
            let clear = (new_block - old_block).min(WORDS as u64);
            for i in 1..=clear {
                let (word, _) = Self::locate((old_block + i) * BITS);
                if let Some(w) = self.bitmap.get_mut(word) {
                    *w = 0;
                }
            }
            self.top = seq;
        }
        let (word, bit) = Self::locate(seq);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w |= bit;
        }
        Ok(())
    }
}

// RFC 4303 §3.4.3: a window of at least 32; 64 recommended.
const _: () = assert!(ReplayWindow::SIZE >= 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use ReplayError::*;
        // (sequence number, expected result), applied in order to one window.
        let steps: &[(u32, Result<(), ReplayError>)] = &[
            (0, Err(Zero)),
            (1, Ok(())),
            (1, Err(Duplicate)),
            (3, Ok(())),
            (2, Ok(())), // in-window out of order: accepted once
            (2, Err(Duplicate)),
            (1000, Ok(())),
            (41, Ok(())),      // 1000 - 41 = 959 < 960: inside
            (40, Err(TooOld)), // 1000 - 40 = 960: outside
            (3, Err(TooOld)),  // seen long ago, now too old
            (999, Ok(())),     // just below the top
            (1000, Err(Duplicate)),
            (5000, Ok(())),      // jump further than the window
            (4999, Ok(())),      // stale bits were cleared
            (4041, Ok(())),      // 5000 - 4041 = 959: the left edge
            (4040, Err(TooOld)), // 5000 - 4040 = 960: just outside
            (u32::MAX, Ok(())),
            (u32::MAX, Err(Duplicate)),
        ];
        let mut w = ReplayWindow::new();
        for &(seq, want) in steps {
            assert_eq!(w.check_and_update(seq), want, "seq {seq}");
        }
        assert_eq!(w.top(), u32::MAX);
    }

    #[test]
    fn check_does_not_update() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.check(7), Ok(()));
        assert_eq!(w.check(7), Ok(()));
        w.check_and_update(7).unwrap();
        assert_eq!(w.check(7), Err(ReplayError::Duplicate));
        assert_eq!(w.top(), 7);
    }

    #[test]
    fn every_in_window_number_accepted_once_in_reverse() {
        let mut w = ReplayWindow::new();
        let top = 2000u32;
        w.check_and_update(top).unwrap();
        let size = ReplayWindow::SIZE as u32;
        for seq in (top - size + 1..top).rev() {
            assert_eq!(w.check_and_update(seq), Ok(()), "seq {seq}");
            assert_eq!(w.check_and_update(seq), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.check(top - size), Err(ReplayError::TooOld));
    }

    #[test]
    fn sliding_by_one_word_keeps_recent_bits() {
        let mut w = ReplayWindow::new();
        for seq in 1..=3000 {
            w.check_and_update(seq).unwrap();
        }
        for seq in 3000 - ReplayWindow::SIZE as u32 + 1..=3000 {
            assert_eq!(w.check(seq), Err(ReplayError::Duplicate), "seq {seq}");
        }
    }
}
