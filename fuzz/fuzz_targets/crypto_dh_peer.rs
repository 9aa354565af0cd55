//! Arbitrary peer Diffie-Hellman public values must never panic: each is either accepted (and
//! then yields a shared secret of the group's length) or rejected with `PeerInvalidPublic`.
#![no_main]

use crypto::dh::DhGroup;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, peer)) = data.split_first() else {
        return;
    };
    let groups = [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
    ];
    let group = groups[usize::from(sel) % groups.len()];
    let private = crypto::fuzzing::dh_private(group, [7; 32]);
    match private.compute_shared(peer) {
        Ok(shared) => {
            assert_eq!(peer.len(), group.public_len());
            assert_eq!(shared.len(), group.shared_len());
        }
        Err(crypto::Error::PeerInvalidPublic { .. }) => {}
        Err(e) => panic!("unexpected error {e:?}"),
    }
});
