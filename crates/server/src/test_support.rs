//! Fixtures shared by the unit tests of this crate.

use wire::FourTuple;

/// The 4-tuple of the one client the unit tests use (behind a NAT, on the NAT-T port).
pub(crate) fn tuple() -> FourTuple {
    FourTuple {
        local: "198.51.100.1:4500".parse().unwrap(),
        remote: "203.0.113.7:40000".parse().unwrap(),
    }
}

/// An AES-128/SHA1 SA over UDP; the same `spi` and `key` in the other direction is the
/// client's end of it.
pub(crate) fn sa(spi: u32, direction: esp::Direction, key: u8) -> esp::Sa {
    let t = tuple();
    esp::Sa::new(esp::SaParams {
        spi,
        direction,
        cipher: crypto::cipher::CipherAlg::Aes128,
        enc_key: crypto::Secret::from_slice(&[key; 16]),
        integ: crypto::integ::IntegAlg::HmacSha1_96,
        auth_key: crypto::Secret::from_slice(&[key ^ 0x55; 20]),
        encap: esp::Encap::Udp {
            local: t.local,
            remote: t.remote,
        },
        peer: t,
        lifetime: esp::Lifetime::UNLIMITED,
    })
    .unwrap()
}
