//! The anti-replay window (RFC 4303 §3.4.3) against a model: a sequence number is accepted
//! exactly when it is not 0, not accepted before, and above the highest accepted one or less
//! than `ReplayWindow::SIZE` below it; `check` agrees with `check_and_update`; `top` is the
//! highest accepted.
//!
//! Input: steps of 3 octets, a mode and a 16-bit value: mode 0 takes the value as the sequence
//! number, 1 the top plus it, 2 the top minus it (saturating), so that inputs reach the window's
//! edges anywhere in the 32-bit space. Seeds are the sequence numbers of the testkit clients'
//! ESP traffic.
#![no_main]

use std::collections::HashSet;

use esp::replay::{ReplayError, ReplayWindow};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut w = ReplayWindow::new();
    let mut accepted: HashSet<u32> = HashSet::new();
    let mut top = 0u32;
    for step in data.chunks_exact(3) {
        let value = u32::from(u16::from_be_bytes([step[1], step[2]]));
        let seq = match step[0] % 3 {
            0 => value,
            1 => top.saturating_add(value),
            _ => top.saturating_sub(value),
        };
        let want = if seq == 0 {
            Err(ReplayError::Zero)
        } else if seq > top {
            Ok(())
        } else if u64::from(top - seq) >= ReplayWindow::SIZE {
            Err(ReplayError::TooOld)
        } else if accepted.contains(&seq) {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        };
        assert_eq!(w.check(seq), want, "check({seq}) with top {top}");
        assert_eq!(
            w.check_and_update(seq),
            want,
            "check_and_update({seq}) with top {top}"
        );
        if want.is_ok() {
            accepted.insert(seq);
            top = top.max(seq);
        }
        assert_eq!(w.top(), top);
    }
});
