//! RFC examples and the round-trip law, over generated packets and arbitrary bytes.

use radius::attr::{FramedProtocol, MsAttribute, ServiceType, VENDOR_MICROSOFT};
use radius::auth::{self, MessageAuthenticator};
use radius::{Attribute, Code, Packet, Repr, SharedSecret};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// RFC 2865 §7.2: "Framed User Authenticating with CHAP" (user "flopsy", CHAP ID 22).
const RFC2865_7_2_REQUEST: &str = "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
    0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9 75 57 c3 16 18 58 95 f2 93 ff 63 44 07
    72 75 04 06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00 02 07 06 00 00 00 01";

/// RFC 2865 §7.3: an Access-Challenge with a Reply-Message and State.
const RFC2865_7_3_CHALLENGE: &str = "0b 02 00 4e 36 f3 c8 76 4a e8 c7 11 57 40 3c 0c 71 ff
    9c 45 12 30 43 68 61 6c 6c 65 6e 67 65 20 33 32 37 36 39 34 33 30 2e 20 20 45 6e 74 65
    72 20 72 65 73 70 6f 6e 73 65 20 61 74 20 70 72 6f 6d 70 74 2e 18 0a 33 32 37 36 39 34
    33 30";

#[test]
fn rfc2865_7_2_chap_request() {
    let b = hex(RFC2865_7_2_REQUEST);
    let r = Repr::parse_bytes(&b).unwrap();
    assert_eq!((r.code, r.identifier), (Code::AccessRequest, 1));
    let mut response = [0u8; 16];
    response.copy_from_slice(&b[31..47]);
    assert_eq!(
        r.attributes,
        vec![
            Attribute::UserName(b"flopsy".to_vec()),
            Attribute::ChapPassword {
                ident: 22,
                response
            },
            Attribute::NasIpAddress([192, 168, 1, 16].into()),
            Attribute::NasPort(20),
            Attribute::ServiceType(ServiceType::Framed),
            Attribute::FramedProtocol(FramedProtocol::Ppp),
        ]
    );
    assert_eq!(r.to_vec().unwrap(), b);
}

#[test]
fn rfc2865_7_3_challenge() {
    let b = hex(RFC2865_7_3_CHALLENGE);
    let r = Repr::parse_bytes(&b).unwrap();
    assert_eq!((r.code, r.identifier), (Code::AccessChallenge, 2));
    assert_eq!(
        r.attributes,
        vec![
            Attribute::ReplyMessage(b"Challenge 32769430.  Enter response at prompt.".to_vec()),
            Attribute::State(b"32769430".to_vec()),
        ]
    );
    assert_eq!(r.to_vec().unwrap(), b);
}

/// RFC 2548 §2.3.2 lays out MS-CHAP2-Response as Ident, Flags, Peer-Challenge, Reserved,
/// Response; filled with the values of RFC 2759 §9.2, byte by byte.
#[test]
fn rfc2548_mschap2_attributes_carry_rfc2759_values() {
    let peer = hex("21402324255E262A28295F2B3A337C7E");
    let nt = hex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
    let a = Attribute::Microsoft(MsAttribute::Chap2Response {
        ident: 1,
        flags: 0,
        peer_challenge: peer.clone().try_into().unwrap(),
        reserved: [0; 8],
        nt_response: nt.clone().try_into().unwrap(),
    });
    let mut want = vec![26, 58, 0, 0, 0x01, 0x37, 25, 52, 1, 0];
    want.extend_from_slice(&peer);
    want.extend_from_slice(&[0; 8]);
    want.extend_from_slice(&nt);
    let mut out = vec![0u8; a.buffer_len()];
    a.emit(&mut out).unwrap();
    assert_eq!(out, want);

    let challenge = hex("5B5D7C7D7B3F2F3E3C2C602132262628");
    let c = Attribute::Microsoft(MsAttribute::ChapChallenge(challenge.clone()));
    let mut want = vec![26, 24, 0, 0, 0x01, 0x37, 11, 18];
    want.extend_from_slice(&challenge);
    let mut out = vec![0u8; c.buffer_len()];
    c.emit(&mut out).unwrap();
    assert_eq!(out, want);

    // MS-CHAP2-Success (RFC 2548 §2.3.3): Ident then the 42-octet string.
    let msg = b"S=407A5589115FD0D6209F510FE9C04566932CDA56";
    let s = Attribute::Microsoft(MsAttribute::Chap2Success {
        ident: 1,
        message: msg.to_vec(),
    });
    let mut out = vec![0u8; s.buffer_len()];
    s.emit(&mut out).unwrap();
    assert_eq!(out[..9], [26, 51, 0, 0, 0x01, 0x37, 26, 45, 1]);
    assert_eq!(&out[9..], msg);
}

fn random_attribute(rng: &mut ChaCha20Rng) -> Attribute {
    let bytes = |rng: &mut ChaCha20Rng, min: usize, max: usize| -> Vec<u8> {
        let n = rng.gen_range(min..=max);
        (0..n).map(|_| rng.r#gen()).collect()
    };
    match rng.gen_range(0..16) {
        0 => Attribute::UserName(bytes(rng, 1, 253)),
        1 => Attribute::UserPassword(bytes(rng, 1, 8).iter().flat_map(|_| [7u8; 16]).collect()),
        2 => Attribute::NasPort(rng.r#gen()),
        3 => Attribute::FramedIpAddress(rng.r#gen::<u32>().into()),
        4 => Attribute::ServiceType(rng.r#gen::<u32>().into()),
        5 => Attribute::AcctTerminateCause(rng.r#gen::<u32>().into()),
        6 => Attribute::Class(bytes(rng, 1, 253)),
        7 => Attribute::MessageAuthenticator(rng.r#gen()),
        8 => Attribute::ChapPassword {
            ident: rng.r#gen(),
            response: rng.r#gen(),
        },
        9 => Attribute::Microsoft(MsAttribute::ChapError {
            ident: rng.r#gen(),
            message: bytes(rng, 0, 246),
        }),
        10 => Attribute::Microsoft(MsAttribute::MppeRecvKey {
            salt: [0x80 | rng.r#gen::<u8>(), rng.r#gen()],
            encrypted: vec![rng.r#gen(); 16 * rng.gen_range(1..=15)],
        }),
        11 => Attribute::Microsoft(MsAttribute::SecondaryDnsServer(rng.r#gen::<u32>().into())),
        12 => Attribute::VendorSpecific {
            vendor_id: rng.gen_range(1..VENDOR_MICROSOFT),
            data: bytes(rng, 1, 249),
        },
        13 => Attribute::Other {
            attr_type: rng.gen_range(200..=255),
            value: bytes(rng, 0, 253),
        },
        14 => Attribute::EventTimestamp(rng.r#gen()),
        _ => Attribute::Microsoft(MsAttribute::Chap2Response {
            ident: rng.r#gen(),
            flags: rng.r#gen(),
            peer_challenge: rng.r#gen(),
            reserved: rng.r#gen(),
            nt_response: {
                let mut n = [0u8; 24];
                rng.fill(&mut n);
                n
            },
        }),
    }
}

/// Generated packets: `parse(emit(r)) == r`, and signing then verifying succeeds for every
/// code with the right secret only.
#[test]
fn generated_packets_round_trip_and_sign() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let secret = SharedSecret::new("round-trip");
    let codes = [
        Code::AccessRequest,
        Code::AccessAccept,
        Code::AccountingRequest,
        Code::AccountingResponse,
        Code::DisconnectRequest,
        Code::CoaNak,
        Code::Unknown(250),
    ];
    for i in 0..2000 {
        let mut attributes = vec![];
        let mut room = 4096 - 20 - 18;
        while rng.gen_bool(0.9) {
            let a = random_attribute(&mut rng);
            if matches!(a, Attribute::MessageAuthenticator(_)) || a.buffer_len() > room {
                continue;
            }
            room -= a.buffer_len();
            attributes.push(a);
        }
        attributes.insert(
            rng.gen_range(0..=attributes.len()),
            Attribute::MessageAuthenticator([0; 16]),
        );
        let r = Repr {
            code: codes[i % codes.len()],
            identifier: rng.r#gen(),
            authenticator: rng.r#gen(),
            attributes,
        };
        let b = r.to_vec().unwrap();
        assert_eq!(Repr::parse_bytes(&b).unwrap(), r);
        // Padding after Length is ignored.
        let mut padded = b.clone();
        padded.extend_from_slice(&[0xee; 5]);
        assert_eq!(Repr::parse_bytes(&padded).unwrap(), r);

        let mut signed = b.clone();
        let request_auth: [u8; 16] = rng.r#gen();
        let policy = MessageAuthenticator::Required;
        let wrong = SharedSecret::new("Round-trip");
        match r.code {
            Code::Unknown(_) => {
                assert!(auth::sign_request(&mut signed, &secret).is_err());
                continue;
            }
            c if c.is_request() => {
                auth::sign_request(&mut signed, &secret).unwrap();
                auth::verify_request(&signed, &secret, policy).unwrap();
                assert!(auth::verify_request(&signed, &wrong, policy).is_err());
            }
            _ => {
                auth::sign_response(&mut signed, &request_auth, &secret).unwrap();
                auth::verify_response(&signed, &request_auth, &secret, policy).unwrap();
                assert!(auth::verify_response(&signed, &request_auth, &wrong, policy).is_err());
            }
        }
    }
}

/// Arbitrary bytes: parsing never panics, and whatever parses re-emits exactly the bytes
/// inside Length.
#[test]
fn arbitrary_bytes_parse_then_emit_exactly() {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let mut parsed = 0;
    for _ in 0..20000 {
        let len = rng.gen_range(0..120);
        let mut b: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        // Often make the header and the attribute lengths plausible.
        if b.len() >= 20 && rng.gen_bool(0.7) {
            let l = rng.gen_range(20..=b.len()) as u16;
            b[2..4].copy_from_slice(&l.to_be_bytes());
            let mut at = 20;
            while at + 1 < usize::from(l) && rng.gen_bool(0.95) {
                let room = usize::from(l) - at;
                let n = rng.gen_range(2..=room.clamp(2, 255));
                b[at + 1] = n as u8;
                at += n;
            }
        }
        let Ok(p) = Packet::new_checked(&b[..]) else {
            continue;
        };
        let Ok(r) = Repr::parse(&p) else {
            continue;
        };
        parsed += 1;
        assert_eq!(r.to_vec().unwrap(), p.as_bytes());
    }
    assert!(parsed > 1000, "{parsed}");
}
