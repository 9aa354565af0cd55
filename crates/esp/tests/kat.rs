//! Known-answer tests: published ESP packets opened (and re-sealed) by `esp::Sa`.

mod support;

use crypto::cipher::{CbcCipher, CipherAlg};
use crypto::integ::{Integ, IntegAlg};
use esp::{Direction, Sa, SaDb};
use support::vectors::*;
use support::{FixedRng, natt_peer, params};
use wire::ip::Protocol;

/// RFC 3602 Case 5 with HMAC-SHA1-96: the full packet, ICV included, opens to the published
/// plaintext.
#[test]
fn rfc3602_case5_open_sha1() {
    let peer = natt_peer(4500);
    let sa = Sa::new(params(
        0x4321,
        Direction::Inbound,
        CipherAlg::Aes128,
        &RFC3602_ENC_KEY,
        IntegAlg::HmacSha1_96,
        &RFC3602_AUTH_KEY_SHA1,
        peer,
        false,
    ))
    .unwrap();
    let mut buf = RFC3602_PACKET_SHA1;
    let opened = sa.open(&mut buf).unwrap();
    assert_eq!(opened.spi, 0x4321);
    assert_eq!(opened.seq, 1);
    assert_eq!(opened.next_header, Protocol::Icmp);
    assert_eq!(opened.payload, 24..24 + 64);
    assert_eq!(&buf[opened.payload.clone()], &RFC3602_PLAINTEXT[..64]);
    // The trailer was decrypted in place too.
    assert_eq!(&buf[24..24 + 80], &RFC3602_PLAINTEXT[..]);
    assert_eq!(sa.packets(), 1);
    assert_eq!(sa.bytes(), 64);
}

/// Sealing the published plaintext with the published IV reproduces the packet byte for byte:
/// header, RFC 4303 §2.4 padding, ciphertext and ICV.
#[test]
fn rfc3602_case5_seal_sha1_and_sha256() {
    for (integ, auth_key, icv) in [
        (
            IntegAlg::HmacSha1_96,
            &RFC3602_AUTH_KEY_SHA1[..],
            &RFC3602_PACKET_SHA1[104..],
        ),
        (
            IntegAlg::HmacSha256_128,
            &RFC3602_AUTH_KEY_SHA256[..],
            &RFC3602_ICV_SHA256[..],
        ),
    ] {
        let sa = Sa::new(params(
            0x4321,
            Direction::Outbound,
            CipherAlg::Aes128,
            &RFC3602_ENC_KEY,
            integ,
            auth_key,
            natt_peer(4500),
            false,
        ))
        .unwrap();
        assert_eq!(sa.overhead_before(), 24);
        let mut buf = vec![0u8; 24 + 64 + sa.max_overhead_after()];
        buf[24..88].copy_from_slice(&RFC3602_PLAINTEXT[..64]);
        let sealed = sa
            .seal(
                &mut buf,
                64,
                Protocol::Icmp,
                &mut FixedRng(RFC3602_IV.to_vec()),
            )
            .unwrap();
        assert_eq!(sealed.seq, 1);
        assert_eq!(sealed.len, 104 + integ.icv_len());
        assert_eq!(sealed.len, sa.sealed_len(64));
        assert_eq!(&buf[..104], &RFC3602_PACKET_SHA1[..104], "{integ:?}");
        assert_eq!(&buf[104..sealed.len], icv, "{integ:?}");

        // And the SHA-256 variant opens as well.
        let inbound = Sa::new(params(
            0x4321,
            Direction::Inbound,
            CipherAlg::Aes128,
            &RFC3602_ENC_KEY,
            integ,
            auth_key,
            natt_peer(4500),
            false,
        ))
        .unwrap();
        let opened = inbound.open(&mut buf[..sealed.len]).unwrap();
        assert_eq!(&buf[opened.payload], &RFC3602_PLAINTEXT[..64]);
    }
}

/// A flipped bit anywhere in the published packet fails the ICV and is counted.
#[test]
fn rfc3602_case5_tampered() {
    let db = SaDb::new();
    let peer = natt_peer(4500);
    db.insert(
        Sa::new(params(
            0x4321,
            Direction::Inbound,
            CipherAlg::Aes128,
            &RFC3602_ENC_KEY,
            IntegAlg::HmacSha1_96,
            &RFC3602_AUTH_KEY_SHA1,
            peer,
            false,
        ))
        .unwrap(),
    )
    .unwrap();
    // Skip the SPI (that would be an unknown SPI); every other byte, sequence number included,
    // is covered by the ICV.
    for i in (4..RFC3602_PACKET_SHA1.len()).step_by(5) {
        let mut buf = RFC3602_PACKET_SHA1;
        buf[i] ^= 0x01;
        assert_eq!(
            db.open(&peer, &mut buf).unwrap_err(),
            esp::Error::BadIcv,
            "byte {i}"
        );
    }
    let n = (4..RFC3602_PACKET_SHA1.len()).step_by(5).count() as u64;
    assert_eq!(db.drops().get(esp::DropReason::BadIcv), n);
    assert_eq!(
        db.get(0x4321).unwrap().drops().get(esp::DropReason::BadIcv),
        n
    );
    // The untouched packet still opens: failures did not move the replay window.
    let mut buf = RFC3602_PACKET_SHA1;
    assert_eq!(db.open(&peer, &mut buf).unwrap().seq, 1);
}

/// Re-authenticates a published packet under a test HMAC key (the original HMAC keys were never
/// published): the ICV is recomputed with `crypto::integ` directly, so `Sa::open` is checked
/// against the real ciphertext.
fn reauthenticate(packet: &[u8], integ_alg: IntegAlg, auth_key: &[u8]) -> Vec<u8> {
    let integ = Integ::new(integ_alg, auth_key).unwrap();
    let body = &packet[..packet.len() - 12];
    let mut out = body.to_vec();
    let mut icv = vec![0u8; integ.icv_len()];
    integ.compute(&[body], &mut icv);
    out.extend(icv);
    out
}

fn open_tcpdump(cipher: CipherAlg, key: &[u8], packet: &[u8], plaintext: &[u8]) {
    let auth_key = [0x5au8; 20];
    let spi = u32::from_be_bytes(packet[..4].try_into().unwrap());
    let sa = Sa::new(params(
        spi,
        Direction::Inbound,
        cipher,
        key,
        IntegAlg::HmacSha1_96,
        &auth_key,
        natt_peer(4500),
        true,
    ))
    .unwrap();
    let mut buf = reauthenticate(packet, IntegAlg::HmacSha1_96, &auth_key);
    let opened = sa.open(&mut buf).unwrap();
    assert_eq!(opened.seq, 1);
    assert_eq!(opened.next_header, Protocol::IpIp);
    let pad_len = usize::from(plaintext[plaintext.len() - 2]);
    assert_eq!(
        &buf[opened.payload],
        &plaintext[..plaintext.len() - 2 - pad_len]
    );
}

/// Without the ICV: the ciphertext of each capture decrypts with `crypto` to the published
/// plaintext, and `wire::esp::Trailer` reads its padding.
fn decrypt_tcpdump(cipher: CipherAlg, key: &[u8], packet: &[u8], plaintext: &[u8]) {
    let block = cipher.block_len();
    let c = CbcCipher::new(cipher, key).unwrap();
    let (iv, rest) = packet[8..].split_at(block);
    let mut body = rest[..rest.len() - 12].to_vec();
    c.decrypt_in_place(iv, &mut body).unwrap();
    assert_eq!(body, plaintext);
    let t = wire::esp::Trailer::new_checked(&body[..]).unwrap();
    assert!(t.padding_ok());
    assert_eq!(t.next_header(), Protocol::IpIp);
    // The inner packet is an IPv4 ICMP echo whose header checksum verifies.
    let ip = wire::ip::ipv4::Packet::new_checked(t.data()).unwrap();
    let repr = wire::ip::ipv4::Repr::parse(&ip).unwrap();
    assert_eq!(repr.protocol, Protocol::Icmp);
}

#[test]
fn tcpdump_3des() {
    decrypt_tcpdump(
        CipherAlg::TripleDes,
        &TCPDUMP_3DES_KEY,
        &TCPDUMP_3DES_PACKET,
        &TCPDUMP_3DES_PLAINTEXT,
    );
    open_tcpdump(
        CipherAlg::TripleDes,
        &TCPDUMP_3DES_KEY,
        &TCPDUMP_3DES_PACKET,
        &TCPDUMP_3DES_PLAINTEXT,
    );
}

#[test]
fn tcpdump_aes256() {
    decrypt_tcpdump(
        CipherAlg::Aes256,
        &TCPDUMP_AES256_KEY,
        &TCPDUMP_AES256_PACKET,
        &TCPDUMP_AES256_PLAINTEXT,
    );
    open_tcpdump(
        CipherAlg::Aes256,
        &TCPDUMP_AES256_KEY,
        &TCPDUMP_AES256_PACKET,
        &TCPDUMP_AES256_PLAINTEXT,
    );
}

/// espudp1: classify the UDP/4500 payload as ESP (RFC 3948 §2.1), then decrypt it.
#[test]
fn tcpdump_espudp1() {
    let mut frame = TCPDUMP_ESPUDP_IP_UDP.to_vec();
    frame.extend(TCPDUMP_ESPUDP_PACKET);
    let ip = wire::ip::ipv4::Packet::new_checked(&frame[..]).unwrap();
    let ip_repr = wire::ip::ipv4::Repr::parse(&ip).unwrap();
    assert_eq!(ip_repr.protocol, Protocol::Udp);
    let udp = wire::ip::udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (udp.src_port(), udp.dst_port(), udp.checksum()),
        (4500, 4500, 0)
    );
    let esp_bytes = match wire::natt::Repr::parse(udp.payload()).unwrap() {
        wire::natt::Repr::Esp(bytes) => bytes,
        other => panic!("not ESP: {other:?}"),
    };
    assert_eq!(esp_bytes, &TCPDUMP_ESPUDP_PACKET[..]);
    decrypt_tcpdump(
        CipherAlg::TripleDes,
        &TCPDUMP_ESPUDP_KEY,
        esp_bytes,
        &TCPDUMP_ESPUDP_PLAINTEXT,
    );
    open_tcpdump(
        CipherAlg::TripleDes,
        &TCPDUMP_ESPUDP_KEY,
        esp_bytes,
        &TCPDUMP_ESPUDP_PLAINTEXT,
    );
}
