//! Seal/open round trips, anti-replay, malformed packets, the SA database and the L2TP
//! transport rules.

mod support;

use std::sync::Arc;

use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use esp::{Direction, DropReason, Error, Expiry, Lifetime, Sa, SaDb, transport};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use support::{SUITES, keys, natt_peer, pair, params};
use wire::ip::Protocol;

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([7; 32])
}

/// Seals `payload` with `sa` into a fresh buffer and returns the ESP packet.
fn seal(sa: &Sa, payload: &[u8], next_header: Protocol, rng: &mut ChaCha20Rng) -> Vec<u8> {
    let head = sa.overhead_before();
    let mut buf = vec![0u8; head + payload.len() + sa.max_overhead_after()];
    buf[head..head + payload.len()].copy_from_slice(payload);
    let sealed = sa.seal(&mut buf, payload.len(), next_header, rng).unwrap();
    assert_eq!(sealed.len, sa.sealed_len(payload.len()));
    buf.truncate(sealed.len);
    buf
}

#[test]
fn round_trip_every_suite_and_length() {
    let mut rng = rng();
    for (cipher, integ) in SUITES {
        let (out, inb) = pair(cipher, integ, 0x1000, natt_peer(4500), true);
        for (i, len) in [0usize, 1, 2, 13, 14, 15, 16, 17, 100, 1400]
            .into_iter()
            .enumerate()
        {
            let payload: Vec<u8> = (0..len).map(|j| (j * 7 + len) as u8).collect();
            let mut packet = seal(&out, &payload, Protocol::Udp, &mut rng);
            let block = cipher.block_len();
            // Ciphertext is a whole number of blocks and the payload is not visible.
            let ct_len = packet.len() - 8 - block - integ.icv_len();
            assert_eq!(ct_len % block, 0);
            assert_eq!((ct_len) % 4, 0);
            if len >= 16 {
                assert!(!packet.windows(16).any(|w| w == &payload[..16]));
            }
            let opened = inb.open(&mut packet).unwrap();
            assert_eq!(opened.seq, i as u32 + 1);
            assert_eq!(opened.next_header, Protocol::Udp);
            assert_eq!(
                &packet[opened.payload],
                &payload[..],
                "{cipher:?} {integ:?} {len}"
            );
        }
    }
}

#[test]
fn ivs_differ_between_packets() {
    let mut rng = rng();
    let (out, _) = pair(
        CipherAlg::Aes128,
        IntegAlg::HmacSha1_96,
        0x1000,
        natt_peer(4500),
        true,
    );
    let a = seal(&out, b"same payload", Protocol::Udp, &mut rng);
    let b = seal(&out, b"same payload", Protocol::Udp, &mut rng);
    assert_ne!(a[8..24], b[8..24]);
    assert_ne!(a[24..], b[24..]);
}

#[test]
fn seal_buffer_contract() {
    let mut rng = rng();
    let (out, inb) = pair(
        CipherAlg::TripleDes,
        IntegAlg::HmacMd5_96,
        0x1000,
        natt_peer(4500),
        true,
    );
    assert_eq!(out.overhead_before(), 16);
    assert_eq!(out.max_overhead_after(), 7 + 2 + 12);
    // One byte short of the sealed length is refused without consuming a sequence number.
    let need = out.sealed_len(10);
    let mut buf = vec![0u8; need - 1];
    assert!(matches!(
        out.seal(&mut buf, 10, Protocol::Udp, &mut rng),
        Err(Error::ApiMisuse(_))
    ));
    // An absurd payload length is refused, not an arithmetic panic.
    assert_eq!(out.sealed_len(usize::MAX), usize::MAX);
    assert!(matches!(
        out.seal(&mut buf, usize::MAX, Protocol::Udp, &mut rng),
        Err(Error::ApiMisuse(_))
    ));
    let mut buf = vec![0u8; need];
    let sealed = out.seal(&mut buf, 10, Protocol::Udp, &mut rng).unwrap();
    assert_eq!(sealed.seq, 1);
    // Direction is enforced.
    assert!(matches!(
        inb.seal(&mut buf, 10, Protocol::Udp, &mut rng),
        Err(Error::ApiMisuse(_))
    ));
    assert!(matches!(out.open(&mut buf), Err(Error::ApiMisuse(_))));
}

#[test]
fn bad_key_lengths_are_rejected() {
    let peer = natt_peer(4500);
    let (enc, auth) = keys(CipherAlg::Aes128, IntegAlg::HmacSha1_96);
    let p = params(
        1000,
        Direction::Inbound,
        CipherAlg::Aes256,
        &enc,
        IntegAlg::HmacSha1_96,
        &auth,
        peer,
        true,
    );
    assert!(matches!(Sa::new(p), Err(Error::Crypto(_))));
    let p = params(
        1000,
        Direction::Inbound,
        CipherAlg::Aes128,
        &enc,
        IntegAlg::HmacSha256_128,
        &auth,
        peer,
        true,
    );
    assert!(matches!(Sa::new(p), Err(Error::Crypto(_))));
}

#[test]
fn keys_do_not_leak_through_debug() {
    let peer = natt_peer(4500);
    let p = params(
        1000,
        Direction::Inbound,
        CipherAlg::Aes128,
        &[0x41; 16],
        IntegAlg::HmacSha1_96,
        &[0x42; 20],
        peer,
        true,
    );
    let text = format!("{p:?}");
    assert!(!text.contains("65, 65") && !text.contains("4141"), "{text}");
    let sa = Sa::new(p).unwrap();
    let text = format!("{sa:?}");
    assert!(!text.contains("65, 65") && !text.contains("4141"), "{text}");
}

/// RFC 4303 §3.4.3: duplicates and too-old numbers are dropped, in-window out-of-order
/// packets are accepted exactly once.
#[test]
fn replay_table() {
    let mut rng = rng();
    let peer = natt_peer(4500);
    let (out, inb) = pair(
        CipherAlg::Aes128,
        IntegAlg::HmacSha256_128,
        0x2000,
        peer,
        true,
    );
    let db = SaDb::new();
    let inb = db.insert(inb).unwrap();
    // Seal 1100 packets; packet n has sequence number n.
    let packets: Vec<Vec<u8>> = (0..1100)
        .map(|i| seal(&out, &[i as u8; 20], Protocol::Udp, &mut rng))
        .collect();
    let p = |seq: usize| packets[seq - 1].clone();
    let steps: &[(usize, Option<DropReason>)] = &[
        (1, None),
        (1, Some(DropReason::Replay)), // duplicate
        (5, None),
        (3, None), // in window, out of order
        (3, Some(DropReason::Replay)),
        (2, None),
        (4, None),
        (1000, None),
        (41, None),                     // 959 below the top: inside
        (40, Some(DropReason::Replay)), // 960 below: too old
        (999, None),
        (1000, Some(DropReason::Replay)),
        (1100, None),
        (6, Some(DropReason::Replay)),
    ];
    let mut replays = 0;
    for &(seq, want) in steps {
        let mut buf = p(seq);
        let got = db.open(&peer, &mut buf);
        match want {
            None => assert_eq!(got.unwrap().seq, seq as u32),
            Some(reason) => {
                let err = got.unwrap_err();
                assert_eq!(err, Error::Replay { seq: seq as u32 }, "seq {seq}");
                assert_eq!(err.drop_reason(), Some(reason));
                replays += 1;
            }
        }
    }
    assert_eq!(db.drops().get(DropReason::Replay), replays);
    assert_eq!(inb.drops().get(DropReason::Replay), replays);
    assert_eq!(db.drops().total(), replays);
}

/// A forged packet with a fresh sequence number but a bad ICV must not move the window: the
/// genuine packet with that number is still accepted afterwards.
#[test]
fn window_moves_only_after_icv() {
    let mut rng = rng();
    let (out, inb) = pair(
        CipherAlg::Aes128,
        IntegAlg::HmacSha1_96,
        0x2000,
        natt_peer(4500),
        true,
    );
    let genuine = seal(&out, b"hello", Protocol::Udp, &mut rng);
    let mut forged = genuine.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    assert_eq!(inb.open(&mut forged).unwrap_err(), Error::BadIcv);
    let mut buf = genuine.clone();
    assert_eq!(inb.open(&mut buf).unwrap().seq, 1);
}

/// Malformed and hostile packets: each is dropped with the right reason, counted, and nothing
/// panics.
#[test]
fn malformed_table() {
    let mut rng = rng();
    let peer = natt_peer(4500);
    let other_client = natt_peer(4501); // same NAT, another port: the second client
    let db = SaDb::new();
    let (out, inb) = pair(
        CipherAlg::TripleDes,
        IntegAlg::HmacSha1_96,
        0x3000,
        peer,
        true,
    );
    db.insert(inb).unwrap();
    let good = seal(&out, &[0xab; 30], Protocol::Udp, &mut rng);

    // A packet with a valid ICV but a broken padding: seal by hand under the same keys with
    // padding that is not 1, 2, 3, ...
    let bad_padding = {
        use crypto::cipher::CbcCipher;
        use crypto::integ::Integ;
        let (enc, auth) = keys(CipherAlg::TripleDes, IntegAlg::HmacSha1_96);
        let c = CbcCipher::new(CipherAlg::TripleDes, &enc).unwrap();
        let m = Integ::new(IntegAlg::HmacSha1_96, &auth).unwrap();
        let mut p = vec![0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x09];
        p.extend([0x11; 8]); // IV
        // data cc cc cc cc | padding 01 09 (should be 01 02) | pad len 2 | next header 17
        let mut body = vec![0xcc, 0xcc, 0xcc, 0xcc, 0x01, 0x09, 0x02, 0x11];
        c.encrypt_in_place(&[0x11; 8], &mut body).unwrap();
        p.extend(body);
        let mut icv = [0u8; 12];
        m.compute(&[&p], &mut icv);
        p.extend(icv);
        p
    };
    // Pad Length larger than the plaintext, behind a valid ICV.
    let bad_pad_len = {
        use crypto::cipher::CbcCipher;
        use crypto::integ::Integ;
        let (enc, auth) = keys(CipherAlg::TripleDes, IntegAlg::HmacSha1_96);
        let c = CbcCipher::new(CipherAlg::TripleDes, &enc).unwrap();
        let m = Integ::new(IntegAlg::HmacSha1_96, &auth).unwrap();
        let mut p = vec![0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x0a];
        p.extend([0x22; 8]);
        let mut body = vec![0, 0, 0, 0, 0, 0, 0xff, 0x11];
        c.encrypt_in_place(&[0x22; 8], &mut body).unwrap();
        p.extend(body);
        let mut icv = [0u8; 12];
        m.compute(&[&p], &mut icv);
        p.extend(icv);
        p
    };

    let mut unknown_spi = good.clone();
    unknown_spi[..4].copy_from_slice(&0x9999u32.to_be_bytes());
    let mut bad_icv = good.clone();
    bad_icv[20] ^= 1;
    let mut misaligned = good.clone();
    misaligned.remove(20);

    let cases: Vec<(&str, Vec<u8>, esp::FourTuple, Error)> = vec![
        (
            "empty",
            vec![],
            peer,
            Error::Malformed(wire::Error::truncated("esp.header")),
        ),
        (
            "header only",
            good[..8].to_vec(),
            peer,
            Error::Malformed(wire::Error::truncated("esp.ciphertext")),
        ),
        (
            "no ciphertext",
            good[..8 + 8 + 12].to_vec(),
            peer,
            Error::Malformed(wire::Error::truncated("esp.ciphertext")),
        ),
        (
            "truncated icv",
            good[..good.len() - 1].to_vec(),
            peer,
            Error::Malformed(wire::Error::truncated("esp.ciphertext")),
        ),
        (
            "misaligned",
            misaligned,
            peer,
            Error::Malformed(wire::Error::truncated("esp.ciphertext")),
        ),
        (
            "unknown spi",
            unknown_spi,
            peer,
            Error::UnknownSpi { spi: 0x9999 },
        ),
        ("zero spi", vec![0; 40], peer, Error::UnknownSpi { spi: 0 }),
        (
            "wrong peer",
            good.clone(),
            other_client,
            Error::WrongPeer { spi: 0x3000 },
        ),
        ("bad icv", bad_icv, peer, Error::BadIcv),
        ("bad padding", bad_padding, peer, Error::BadPadding),
        ("bad pad length", bad_pad_len, peer, Error::BadPadding),
    ];
    for (name, mut bytes, from, want) in cases {
        assert_eq!(db.open(&from, &mut bytes).unwrap_err(), want, "{name}");
    }
    let d = db.drops();
    assert_eq!(d.get(DropReason::Truncated), 5);
    assert_eq!(d.get(DropReason::UnknownSpi), 2);
    assert_eq!(d.get(DropReason::WrongPeer), 1);
    assert_eq!(d.get(DropReason::BadIcv), 1);
    assert_eq!(d.get(DropReason::BadPadding), 2);
    assert_eq!(d.total(), 11);
    // Per-SA counters see what reached the SA: not the unknown SPIs, nor the empty packet
    // (no SPI to look up).
    let sa = db.get(0x3000).unwrap();
    assert_eq!(sa.drops().total(), 8);
    assert_eq!(sa.drops().get(DropReason::Truncated), 4);
    assert_eq!(sa.drops().get(DropReason::WrongPeer), 1);
    // The genuine packet from the right peer still opens after all that.
    let mut buf = good.clone();
    assert!(db.open(&peer, &mut buf).is_ok());
    let mut buf = good;
    assert_eq!(
        db.open(&other_client, &mut buf).unwrap_err(),
        Error::WrongPeer { spi: 0x3000 }
    );
}

/// Two clients behind one NAT, each with its own SA: each packet reaches only its own SA, and
/// removing one peer leaves the other alone.
#[test]
fn two_clients_behind_one_nat() {
    let mut rng = rng();
    let a = natt_peer(4500);
    let b = natt_peer(1024);
    let db = SaDb::new();
    let (out_a, in_a) = pair(CipherAlg::Aes128, IntegAlg::HmacSha1_96, 0xa000, a, true);
    let (out_b, in_b) = pair(CipherAlg::Aes128, IntegAlg::HmacSha1_96, 0xb000, b, true);
    db.insert(in_a).unwrap();
    db.insert(in_b).unwrap();
    assert_eq!(db.len(), 2);
    let pa = seal(&out_a, b"from a", Protocol::Udp, &mut rng);
    let pb = seal(&out_b, b"from b", Protocol::Udp, &mut rng);
    assert_eq!(db.open(&a, &mut pa.clone()).unwrap().spi, 0xa000);
    assert_eq!(db.open(&b, &mut pb.clone()).unwrap().spi, 0xb000);
    // b replays a's packet from its own port: refused before any crypto.
    assert_eq!(
        db.open(&b, &mut pa.clone()).unwrap_err(),
        Error::WrongPeer { spi: 0xa000 }
    );
    let removed = db.remove_peer(&a);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].spi(), 0xa000);
    assert!(!db.contains(0xa000));
    assert!(db.contains(0xb000));
    assert!(db.remove(0xb000).is_some());
    assert!(db.is_empty());
}

#[test]
fn sadb_insert_rules() {
    let peer = natt_peer(4500);
    let db = SaDb::new();
    let (out, inb) = pair(CipherAlg::Aes128, IntegAlg::HmacSha1_96, 0x4000, peer, true);
    assert!(matches!(db.insert(out), Err(Error::ApiMisuse(_))));
    db.insert(inb).unwrap();
    let (_, dup) = pair(CipherAlg::Aes128, IntegAlg::HmacSha1_96, 0x4000, peer, true);
    assert!(matches!(db.insert(dup), Err(Error::ApiMisuse(_))));
    let (_, reserved) = pair(CipherAlg::Aes128, IntegAlg::HmacSha1_96, 255, peer, true);
    assert!(matches!(db.insert(reserved), Err(Error::ApiMisuse(_))));
}

#[test]
fn lifetime_soft_then_hard() {
    let mut rng = rng();
    let peer = natt_peer(4500);
    let (enc, auth) = keys(CipherAlg::Aes128, IntegAlg::HmacSha1_96);
    let lifetime = Lifetime {
        soft_bytes: Some(250),
        hard_bytes: Some(400),
        ..Lifetime::UNLIMITED
    };
    let mk = |direction| {
        let mut p = params(
            0x5000,
            direction,
            CipherAlg::Aes128,
            &enc,
            IntegAlg::HmacSha1_96,
            &auth,
            peer,
            true,
        );
        p.lifetime = lifetime;
        Sa::new(p).unwrap()
    };
    let (out, inb) = (mk(Direction::Outbound), mk(Direction::Inbound));
    let mut expiries = Vec::new();
    let mut packets = Vec::new();
    for _ in 0..4 {
        let head = out.overhead_before();
        let mut buf = vec![0u8; head + 100 + out.max_overhead_after()];
        let sealed = out.seal(&mut buf, 100, Protocol::Udp, &mut rng).unwrap();
        expiries.push(sealed.expiry);
        buf.truncate(sealed.len);
        packets.push(buf);
    }
    // 100, 200, 300 (crosses 250: soft), 400 (reaches 400: hard); the fifth was refused.
    assert_eq!(
        &expiries[..4],
        &[None, None, Some(Expiry::Soft), Some(Expiry::Hard)]
    );
    let mut buf = vec![0u8; 200];
    assert_eq!(
        out.seal(&mut buf, 10, Protocol::Udp, &mut rng).unwrap_err(),
        Error::Expired
    );
    // A fifth packet (sequence number 5) from an unlimited sender with the same keys, to feed
    // the inbound side past its hard limit.
    let unlimited = Sa::new(params(
        0x5000,
        Direction::Outbound,
        CipherAlg::Aes128,
        &enc,
        IntegAlg::HmacSha1_96,
        &auth,
        peer,
        true,
    ))
    .unwrap();
    let fifth = (0..5)
        .map(|_| seal(&unlimited, &[0; 100], Protocol::Udp, &mut rng))
        .last()
        .unwrap();
    packets.push(fifth);
    // Inbound counts the same way and refuses past the hard limit.
    let got: Vec<_> = packets[..4]
        .iter()
        .map(|p| inb.open(&mut p.clone()).unwrap().expiry)
        .collect();
    assert_eq!(got, [None, None, Some(Expiry::Soft), Some(Expiry::Hard)]);
    assert_eq!(
        inb.open(&mut packets[4].clone()).unwrap_err(),
        Error::Expired
    );
    assert_eq!(inb.drops().get(DropReason::Expired), 1);
    assert_eq!(
        Lifetime::from_kilobytes(1000, 90).hard_bytes,
        Some(1_024_000)
    );
    assert_eq!(Lifetime::from_kilobytes(1000, 90).soft_bytes, Some(921_600));
}

/// Many threads open packets of one SA at once: every packet is accepted exactly once.
#[test]
fn concurrent_open_accepts_each_packet_once() {
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Sa>();
    assert_sync::<SaDb>();

    let mut rng = rng();
    let peer = natt_peer(4500);
    let (out, inb) = pair(CipherAlg::Aes128, IntegAlg::HmacSha1_96, 0x6000, peer, true);
    let db = Arc::new(SaDb::new());
    db.insert(inb).unwrap();
    let packets: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..400)
            .map(|_| seal(&out, &[1; 64], Protocol::Udp, &mut rng))
            .collect(),
    );
    // Four threads each try every packet; exactly one open per packet succeeds.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let db = Arc::clone(&db);
            let packets = Arc::clone(&packets);
            std::thread::spawn(move || {
                let mut ok = 0u32;
                for i in 0..packets.len() {
                    let idx = (i + t * 97) % packets.len();
                    let mut buf = packets[idx].clone();
                    if db.open(&peer, &mut buf).is_ok() {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let total: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 400);
    assert_eq!(db.drops().get(DropReason::Replay), 3 * 400);
}

mod l2tp_transport {
    use super::*;
    use wire::ip::udp;

    /// Builds an inner UDP datagram as a client would and seals it.
    fn client_packet(
        out: &Sa,
        src_port: u16,
        dst_port: u16,
        checksum: Option<udp::PseudoHeader>,
        l2tp: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> Vec<u8> {
        let mut dgram = vec![0u8; 8 + l2tp.len()];
        dgram[8..].copy_from_slice(l2tp);
        udp::Repr {
            src_port,
            dst_port,
            payload_len: l2tp.len(),
        }
        .emit(&mut dgram, checksum)
        .unwrap();
        seal(out, &dgram, Protocol::Udp, rng)
    }

    const L2TP: &[u8] = &[
        0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn natt_receive_ignores_inner_checksum() {
        let mut rng = rng();
        let peer = natt_peer(4500);
        let (out, inb) = pair(CipherAlg::Aes128, IntegAlg::HmacSha1_96, 0x7000, peer, true);
        let db = SaDb::new();
        db.insert(inb).unwrap();
        // The client computed its checksum over its private address 10.0.0.5 (RFC 3948 §3.1.2).
        let private = udp::PseudoHeader {
            src_addr: "10.0.0.5".parse().unwrap(),
            dst_addr: "192.0.2.1".parse().unwrap(),
        };
        let mut p = client_packet(&out, 1701, 1701, Some(private), L2TP, &mut rng);
        let (opened, dgram) = db.open_l2tp(&peer, &mut p).unwrap();
        assert_eq!(dgram.src_port, 1701);
        assert_eq!(&p[dgram.payload.clone()], L2TP);
        assert_eq!(dgram.payload.start, opened.payload.start + 8);
    }

    #[test]
    fn plain_receive_verifies_inner_checksum() {
        let mut rng = rng();
        let peer = esp::FourTuple {
            local: support::addr("192.0.2.1:0"),
            remote: support::addr("203.0.113.9:0"),
        };
        let (out, inb) = pair(
            CipherAlg::TripleDes,
            IntegAlg::HmacSha1_96,
            0x7100,
            peer,
            false,
        );
        let db = SaDb::new();
        db.insert(inb).unwrap();
        let real = udp::PseudoHeader {
            src_addr: "203.0.113.9".parse().unwrap(),
            dst_addr: "192.0.2.1".parse().unwrap(),
        };
        let wrong = udp::PseudoHeader {
            src_addr: "10.0.0.5".parse().unwrap(),
            ..real
        };
        // Right checksum, no checksum, wrong checksum.
        let mut p = client_packet(&out, 50000, 1701, Some(real), L2TP, &mut rng);
        assert_eq!(db.open_l2tp(&peer, &mut p).unwrap().1.src_port, 50000);
        let mut p = client_packet(&out, 1701, 1701, None, L2TP, &mut rng);
        assert!(db.open_l2tp(&peer, &mut p).is_ok());
        let mut p = client_packet(&out, 1701, 1701, Some(wrong), L2TP, &mut rng);
        assert_eq!(
            db.open_l2tp(&peer, &mut p).unwrap_err(),
            Error::InnerChecksum
        );
        assert_eq!(db.drops().get(DropReason::NotL2tp), 1);
    }

    #[test]
    fn non_l2tp_payloads_are_dropped_and_counted() {
        let mut rng = rng();
        let peer = natt_peer(4500);
        let (out, inb) = pair(
            CipherAlg::Aes128,
            IntegAlg::HmacSha256_128,
            0x7200,
            peer,
            true,
        );
        let db = SaDb::new();
        let sa = db.insert(inb).unwrap();
        // UDP to port 53.
        let mut p = client_packet(&out, 1701, 53, None, L2TP, &mut rng);
        assert_eq!(
            db.open_l2tp(&peer, &mut p).unwrap_err(),
            Error::NotL2tpPort { port: 53 }
        );
        // TCP.
        let mut p = seal(&out, &[0; 20], Protocol::Tcp, &mut rng);
        assert_eq!(
            db.open_l2tp(&peer, &mut p).unwrap_err(),
            Error::NotUdp {
                protocol: Protocol::Tcp
            }
        );
        // UDP too short for its header.
        let mut p = seal(&out, &[0x06, 0xa5, 0x06], Protocol::Udp, &mut rng);
        assert!(matches!(
            db.open_l2tp(&peer, &mut p).unwrap_err(),
            Error::Malformed(_)
        ));
        assert_eq!(db.drops().get(DropReason::NotL2tp), 2);
        assert_eq!(sa.drops().get(DropReason::NotL2tp), 2);
        assert_eq!(db.drops().get(DropReason::Truncated), 1);
    }

    #[test]
    fn seal_builds_inner_udp() {
        let mut rng = rng();
        for natt in [true, false] {
            let peer = if natt {
                natt_peer(4500)
            } else {
                esp::FourTuple {
                    local: support::addr("192.0.2.1:0"),
                    remote: support::addr("203.0.113.9:0"),
                }
            };
            let (out, inb) = pair(CipherAlg::Aes256, IntegAlg::HmacSha1_96, 0x7300, peer, natt);
            let head = transport::headroom(&out);
            assert_eq!(head, out.overhead_before() + 8);
            let mut buf = vec![0u8; head + L2TP.len() + out.max_overhead_after()];
            buf[head..head + L2TP.len()].copy_from_slice(L2TP);
            let sealed = transport::seal(&out, &mut buf, L2TP.len(), 1024, &mut rng).unwrap();
            buf.truncate(sealed.len);
            let opened = inb.open(&mut buf).unwrap();
            assert_eq!(opened.next_header, Protocol::Udp);
            let inner = udp::Packet::new_checked(&buf[opened.payload.clone()]).unwrap();
            assert_eq!((inner.src_port(), inner.dst_port()), (1701, 1024));
            assert_eq!(inner.payload(), L2TP);
            if natt {
                assert_eq!(inner.checksum(), 0, "RFC 3948 §3.1.2: send zero on NAT-T");
            } else {
                let pseudo = udp::PseudoHeader {
                    src_addr: "192.0.2.1".parse().unwrap(),
                    dst_addr: "203.0.113.9".parse().unwrap(),
                };
                assert_ne!(inner.checksum(), 0);
                assert!(inner.verify_checksum(pseudo));
            }
        }
    }
}
