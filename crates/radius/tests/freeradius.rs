//! Packets exchanged with FreeRADIUS 3.2.1 (Debian 12 `freeradius`, `freeradius -X`, shared
//! secret `testing123`) and its `radclient`, kept as interoperability vectors.
//!
//! - An MS-CHAPv2 Access-Request built by this crate's client with the inputs of RFC 2759 §9.2
//!   (user "User", password "clientPass"), and FreeRADIUS' Access-Accept: it carries the
//!   authenticator response of RFC 2759 §9.2 and MPPE keys that decrypt to the RFC 3079 §3.5.3
//!   start keys.
//! - A PAP Access-Request from the client and FreeRADIUS' Access-Accept, which has no
//!   Message-Authenticator (3.2.1 adds one only when configured to), so the client refuses it.
//! - Requests sent by `radclient` (Access-Request with User-Password and
//!   Message-Authenticator, Accounting-Request, Disconnect-Request), checked with this crate.

use radius::attr::{AcctStatusType, MsAttribute};
use radius::auth::{self, MessageAuthenticator};
use radius::{Attribute, Code, Error, Repr, SharedSecret};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

fn secret() -> SharedSecret {
    SharedSecret::new("testing123")
}

const MSCHAPV2_REQUEST: &str = "0100008e023f37203a2476c42566a61cc55c3ca8501223994d5d698bf25fa2b5
    7135ad13f7d70106557365721a18000001370b125b5d7c7d7b3f2f3e3c2c6021322626281a3a000001371934
    010021402324255e262a28295f2b3a337c7e000000000000000082309ecd8d708b5ea08faa3981cd83544233
    114a3d85d6df200a6c327470642d72733d0600000005";

const MSCHAPV2_ACCEPT: &str = "020000cb2f860a2dc247fa7e2642cf845c54894008060a09000650124210402251
    3f8e4580e5e687214dd6c71a33000001371a2d01533d343037413535383931313546443044363230394635
    313046453943303435363639333243444135361a2a000001371124840181829bc7feee4edbd5ad1b739fa361
    3d95958455b69eb7f9d491623a513c30781a2a0000013710248c3c5d50187d047bbf7122ff7a7324a0be1203
    0ef7f2a9583a58afef961908f6910f1a0c000001370706000000011a0c00000137080600000006";

#[test]
fn mschapv2_accept_from_freeradius() {
    let req = hex(MSCHAPV2_REQUEST);
    let acc = hex(MSCHAPV2_ACCEPT);
    let r = Repr::parse_bytes(&req).unwrap();
    assert_eq!(r.code, Code::AccessRequest);
    // Our request re-emits byte for byte and its Message-Authenticator checks.
    assert_eq!(r.to_vec().unwrap(), req);
    auth::verify_request(&req, &secret(), MessageAuthenticator::Required).unwrap();
    assert!(r.attributes.iter().any(|a| matches!(
        a,
        Attribute::Microsoft(MsAttribute::Chap2Response {
            ident: 1,
            flags: 0,
            ..
        })
    )));

    auth::verify_response(
        &acc,
        &r.authenticator,
        &secret(),
        MessageAuthenticator::Required,
    )
    .unwrap();
    let a = Repr::parse_bytes(&acc).unwrap();
    assert_eq!(a.code, Code::AccessAccept);
    assert_eq!(a.to_vec().unwrap(), acc);
    let success = a
        .find(|x| match x {
            Attribute::Microsoft(MsAttribute::Chap2Success { ident, message }) => {
                Some((*ident, message.clone()))
            }
            _ => None,
        })
        .unwrap();
    // RFC 2759 §9.2: AuthenticatorResponse.
    assert_eq!(
        (success.0, &success.1[..]),
        (1, &b"S=407A5589115FD0D6209F510FE9C04566932CDA56"[..])
    );
    let key = |send: bool| {
        a.find(|x| match x {
            Attribute::Microsoft(MsAttribute::MppeSendKey { salt, encrypted }) if send => {
                Some(auth::decrypt_mppe_key(encrypted, &secret(), &r.authenticator, *salt).unwrap())
            }
            Attribute::Microsoft(MsAttribute::MppeRecvKey { salt, encrypted }) if !send => {
                Some(auth::decrypt_mppe_key(encrypted, &secret(), &r.authenticator, *salt).unwrap())
            }
            _ => None,
        })
        .unwrap()
    };
    // RFC 3079 §3.5.3: the server's send start key; the receive key is the client's send key.
    assert_eq!(
        hex::encode_upper(&*key(true)),
        "8B7CDC149B993A1BA118CB153F56DCCB"
    );
    assert_eq!(
        hex::encode_upper(&*key(false)),
        "D5F0E9521E3EA9589645E86051C82226"
    );
    assert!(
        a.attributes
            .contains(&Attribute::Microsoft(MsAttribute::MppeEncryptionTypes(6)))
    );
}

const PAP_REQUEST: &str = "0100004f023f37203a2476c42566a61cc55c3ca85012d9fa9ae58d3a0f9c25247e
    a7d2f3a5850107616c696365200a6c327470642d72733d06000000050212326fc35b806e9b282f13afb77a5a
    81a3";
const PAP_ACCEPT_WITHOUT_MA: &str = "02000026b5d7aea711f78ef4fb9c4354ea66e1b008060a0900051b060000
    0e1055060000012c";

#[test]
fn pap_accept_without_message_authenticator_is_refused() {
    let req = hex(PAP_REQUEST);
    let r = Repr::parse_bytes(&req).unwrap();
    let hidden = r
        .find(|a| match a {
            Attribute::UserPassword(h) => Some(h.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        &*auth::reveal_password(&hidden, &secret(), &r.authenticator).unwrap(),
        b"correct horse"
    );
    let acc = hex(PAP_ACCEPT_WITHOUT_MA);
    // The Response Authenticator is right ...
    auth::verify_response(
        &acc,
        &r.authenticator,
        &secret(),
        MessageAuthenticator::IfPresent,
    )
    .unwrap();
    // ... but without a Message-Authenticator the response is refused (CVE-2024-3596).
    assert_eq!(
        auth::verify_response(
            &acc,
            &r.authenticator,
            &secret(),
            MessageAuthenticator::Required
        ),
        Err(Error::MissingMessageAuthenticator)
    );
    let a = Repr::parse_bytes(&acc).unwrap();
    assert_eq!(
        a.attributes,
        vec![
            Attribute::FramedIpAddress([10, 9, 0, 5].into()),
            Attribute::SessionTimeout(3600),
            Attribute::AcctInterimInterval(300),
        ]
    );
}

/// `radclient 127.0.0.1:19999 auth s3cr3t` with User-Name=bob, a 30-octet User-Password (two
/// blocks), Message-Authenticator, NAS-Port-Type=Virtual.
const RADCLIENT_AUTH: &str = "01400053d17cf50ca7987024ff664cb8f5e26de40105626f620222fc434b425b49
    23f2ca9e70c0b58185ed7e77ff1b94a2c7889e1f150427ac2e9c5012d627df309385a050ec2ea712432beebb
    3d0600000005";
/// `radclient ... acct s3cr3t`: Interim-Update, Acct-Session-Id=abc, Acct-Session-Time=30,
/// Acct-Input-Gigawords=2.
const RADCLIENT_ACCT: &str = "0492002b14c9b067b14e0f48d2c8ed1ee0b40cc02806000000032c0561626
    32e060000001e340600000002";
/// `radclient ... disconnect s3cr3t`: Acct-Session-Id=abc, User-Name=bob,
/// Message-Authenticator.
const RADCLIENT_DISCONNECT: &str = "280a003065f63f4de8146e25c5e4f99c3e8343ca2c056162630105626f
    625012da83df96818b301da529471ef6b08074";

#[test]
fn requests_from_radclient() {
    let s = SharedSecret::new("s3cr3t");
    let wrong = SharedSecret::new("s3cr3T");
    let auth_req = hex(RADCLIENT_AUTH);
    auth::verify_request(&auth_req, &s, MessageAuthenticator::Required).unwrap();
    assert_eq!(
        auth::verify_request(&auth_req, &wrong, MessageAuthenticator::Required),
        Err(Error::BadMessageAuthenticator)
    );
    let r = Repr::parse_bytes(&auth_req).unwrap();
    assert_eq!(r.to_vec().unwrap(), auth_req);
    let hidden = r
        .find(|a| match a {
            Attribute::UserPassword(h) => Some(h.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(hidden.len(), 32);
    assert_eq!(
        &*auth::reveal_password(&hidden, &s, &r.authenticator).unwrap(),
        b"a-password-longer-than-sixteen"
    );
    assert_eq!(
        auth::hide_password(b"a-password-longer-than-sixteen", &s, &r.authenticator).unwrap(),
        hidden
    );

    let acct = hex(RADCLIENT_ACCT);
    auth::verify_request(&acct, &s, MessageAuthenticator::IfPresent).unwrap();
    assert_eq!(
        auth::verify_request(&acct, &wrong, MessageAuthenticator::IfPresent),
        Err(Error::BadAuthenticator)
    );
    let a = Repr::parse_bytes(&acct).unwrap();
    assert_eq!(a.code, Code::AccountingRequest);
    assert_eq!(
        a.attributes,
        vec![
            Attribute::AcctStatusType(AcctStatusType::InterimUpdate),
            Attribute::AcctSessionId(b"abc".to_vec()),
            Attribute::AcctSessionTime(30),
            Attribute::AcctInputGigawords(2),
        ]
    );
    // Re-signing the parsed record reproduces radclient's Request Authenticator (RFC 2866 §3).
    let mut again = a.to_vec().unwrap();
    auth::sign_request(&mut again, &s).unwrap();
    assert_eq!(again, acct);

    let dis = hex(RADCLIENT_DISCONNECT);
    auth::verify_request(&dis, &s, MessageAuthenticator::Required).unwrap();
    // The Message-Authenticator of a Disconnect-Request is over a zeroed authenticator
    // (RFC 5176 §3.3): re-signing gives radclient's bytes exactly.
    let mut again = Repr::parse_bytes(&dis).unwrap().to_vec().unwrap();
    auth::sign_request(&mut again, &s).unwrap();
    assert_eq!(again, dis);
}

/// A Disconnect-Request and CoA-Request from `radclient` (secret `dae-secret`) and this
/// crate's Disconnect-NAK and CoA-ACK, which radclient accepted ("Received Disconnect-NAK",
/// "Received CoA-ACK").
const DAE_DISCONNECT: &str = "28d700304f4f5e873b02204796a75f57173df8272c056162630105626f6250
    12e889007f356825dc99cd5b999c830953";
const DAE_NAK: &str = "2ad7002cad07dd0d36e1a90012262930373fa120501231e42ad35fc4b664d753d095b0cd
    0f1f6506000001f7";
const DAE_COA: &str = "2bdc001fde8c43ac5381df0fd4cda3c1bfb369bc2c056162631b0600000258";
const DAE_COA_ACK: &str = "2cdc002615de966ead1ecdfdc97ea685056be81450126680a4c7c7fb6524f4f804
    cf250b4452";

#[test]
fn dynamic_authorization_answers_radclient_accepted() {
    let s = SharedSecret::new("dae-secret");
    for (req, resp, code) in [
        (DAE_DISCONNECT, DAE_NAK, Code::DisconnectNak),
        (DAE_COA, DAE_COA_ACK, Code::CoaAck),
    ] {
        let (req, resp) = (hex(req), hex(resp));
        auth::verify_request(&req, &s, MessageAuthenticator::IfPresent).unwrap();
        let ra = Repr::parse_bytes(&req).unwrap().authenticator;
        auth::verify_response(&resp, &ra, &s, MessageAuthenticator::Required).unwrap();
        assert_eq!(Repr::parse_bytes(&resp).unwrap().code, code);
    }
}
