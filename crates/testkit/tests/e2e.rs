//! End-to-end: `server::Server` against simulated clients through NAT, loss and reordering
//! (issue 5 item 2, "Must show"). Every scenario ends with an IPv4 round trip between a client
//! and a LAN address, checked packet by packet.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use ike::{Lifetime, NatDialect, Phase1Suite};
use server::{Event, KickTarget};
use testkit::packet::{self, IcmpEcho};
use testkit::{ClientEvent, ClientId, Profile, Stage, World, WorldConfig};

const PRIVATE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);
/// How long a client may take to come up (virtual time).
const CONNECT_LIMIT: Duration = Duration::from_secs(120);

/// The test's time origin; the world only moves it forward virtually.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

/// Logs go to the test output when `RUST_LOG` is set (e.g. `RUST_LOG=debug`).
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn world(config: WorldConfig) -> World {
    init_logs();
    World::new(config, base()).expect("world config is valid")
}

/// XP as seen against a responder that takes its MODP1024 transform (the Linogate PSK log in
/// docs/clients.md#windows-xp-ike): 3DES-SHA1-MODP1024.
fn xp_modp1024() -> Profile {
    Profile::windows_xp_sp2().with_ike_proposals(vec![Phase1Suite {
        cipher: CipherAlg::TripleDes,
        hash: HashAlg::Sha1,
        group: DhGroup::Modp1024,
        lifetime: Lifetime {
            secs: 28800,
            kb: None,
        },
    }])
}

fn connect(w: &mut World, id: ClientId) {
    w.connect(id).unwrap();
    let up = w.run_until(|w| w.client(id).stage() >= Stage::Up, CONNECT_LIMIT);
    assert!(
        up && w.client(id).is_up(),
        "client {id} did not come up.\nclient events: {:#?}\nserver events: {:#?}\nsnapshot: {:#?}",
        w.client(id).events(),
        w.events(),
        w.snapshot()
    );
}

fn echo_from(p: &[u8]) -> Option<IcmpEcho> {
    packet::parse_icmp_echo(p)
}

/// Client → LAN host (Echo Request seen on TUN with the client's address) → Echo Reply back to
/// the client. Returns the reply.
fn ping_lan(w: &mut World, id: ClientId, seq: u16) -> IcmpEcho {
    let addr = w.client(id).assigned_address().expect("assigned address");
    while w.client_mut(id).poll_ip().is_some() {}
    let lan_before = w.lan_received().len();
    w.ping(id, LAN_HOST, seq).unwrap();
    let got = w.run_until(
        |w| {
            w.client(id)
                .received_ip()
                .any(|p| echo_from(p).is_some_and(|e| e.reply && e.seq == seq))
        },
        Duration::from_secs(10),
    );
    assert!(
        got,
        "no echo reply for client {id} seq {seq}; TUN saw {:?}; server events {:#?}",
        w.lan_received()[lan_before..]
            .iter()
            .map(|p| echo_from(p))
            .collect::<Vec<_>>(),
        w.events()
    );
    let request = w.lan_received()[lan_before..]
        .iter()
        .filter_map(|p| echo_from(p))
        .find(|e| !e.reply && e.seq == seq)
        .expect("the request reached the LAN");
    assert_eq!((request.src, request.dst), (addr, LAN_HOST));
    let reply = w
        .client(id)
        .received_ip()
        .filter_map(echo_from)
        .find(|e| e.reply && e.seq == seq)
        .unwrap();
    assert_eq!((reply.src, reply.dst), (LAN_HOST, addr));
    reply
}

/// LAN host → client's assigned address; returns which clients received it.
fn lan_to_client(w: &mut World, id: ClientId, seq: u16) -> Vec<ClientId> {
    let addr = w.client(id).assigned_address().expect("assigned address");
    for c in 0..w.client_count() {
        while w.client_mut(c).poll_ip().is_some() {}
    }
    let probe = packet::icmp_echo(LAN_HOST, addr, false, 0x1a4, seq, b"from the LAN");
    w.lan_send(&probe);
    w.run_for(Duration::from_secs(2));
    (0..w.client_count())
        .filter(|&c| w.client(c).received_ip().any(|p| p == probe.as_slice()))
        .collect()
}

fn phase1(w: &World, id: ClientId) -> (String, Option<NatDialect>, bool, bool) {
    w.client(id)
        .events()
        .iter()
        .find_map(|e| match e {
            ClientEvent::Phase1Up {
                suite,
                nat_t,
                nat_detected,
                server_behind_nat,
            } => Some((suite.clone(), *nat_t, *nat_detected, *server_behind_nat)),
            _ => None,
        })
        .expect("phase 1 up")
}

fn esp_udp(w: &World, id: ClientId) -> bool {
    w.client(id)
        .events()
        .iter()
        .find_map(|e| match e {
            ClientEvent::EspUp { udp, .. } => Some(*udp),
            _ => None,
        })
        .expect("ESP up")
}

#[test]
fn xp_behind_nat_draft02_mschapv2_dns_wins() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, c);

    let (suite, dialect, nat_detected, server_behind_nat) = phase1(&w, c);
    assert!(
        suite.contains("3DES") && suite.contains("MODP1024"),
        "{suite}"
    );
    assert_eq!(dialect, Some(NatDialect::Draft02N));
    assert!(nat_detected && !server_behind_nat);
    assert!(esp_udp(&w, c));
    assert!(w.client(c).events().contains(&ClientEvent::Authenticated));
    let cfg = w.config().clone();
    assert!(
        w.client(c).events().iter().any(|e| matches!(
            e,
            ClientEvent::IpUp { dns, wins, .. }
                if *dns == [Some(cfg.dns[0]), Some(cfg.dns[1])]
                    && *wins == [Some(cfg.wins[0]), Some(cfg.wins[1])]
        )),
        "{:?}",
        w.client(c).events()
    );

    let snap = w.snapshot();
    assert_eq!(snap.sessions.len(), 1, "{snap:#?}");
    let row = &snap.sessions[0];
    assert_eq!(row.user, "alice");
    assert_eq!(row.assigned_ip, w.client(c).assigned_address());
    assert_eq!(row.client_public.ip(), IpAddr::V4(cfg.nat_public_ip));
    assert!(row.nat);
    assert!(row.nat_t_dialect.contains("draft-02"), "{row:#?}");
    assert_eq!(row.host_name, "XPCLIENT");
    for hint in ["MS NT5 v4", "MSRASV5.10", "MSRAS-0-XPCLIENT", "Microsoft"] {
        assert!(
            row.os_hint.contains(hint),
            "{hint} missing from {:?}",
            row.os_hint
        );
    }
    assert!(
        row.ike_suite.contains("MODP1024") && row.esp_suite.contains("3DES"),
        "{row:#?}"
    );
    assert_eq!(row.l2tp_tunnel.1, 4);
    assert!(
        w.events()
            .iter()
            .any(|e| matches!(e, Event::SessionUp { user, .. } if user == "alice"))
    );

    ping_lan(&mut w, c, 1);
    assert_eq!(lan_to_client(&mut w, c, 2), vec![c]);
}

#[test]
fn modern_client_behind_nat_aes_rfc3947() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(Profile::windows_10(), PRIVATE, true, "bob", "bob-pass");
    connect(&mut w, c);
    let (suite, dialect, nat_detected, server_behind_nat) = phase1(&w, c);
    assert!(suite.contains("AES"), "{suite}");
    assert_eq!(dialect, Some(NatDialect::Rfc3947));
    assert!(nat_detected && !server_behind_nat);
    assert!(esp_udp(&w, c));
    let snap = w.snapshot();
    assert_eq!(snap.sessions.len(), 1, "{snap:#?}");
    assert_eq!(snap.sessions[0].nat_t_dialect, "RFC 3947");
    assert!(snap.sessions[0].os_hint.contains("MSRASV5.20"), "{snap:#?}");
    assert!(snap.sessions[0].esp_suite.contains("AES"), "{snap:#?}");
    ping_lan(&mut w, c, 1);
    assert_eq!(lan_to_client(&mut w, c, 2), vec![c]);
}

#[test]
fn linux_client_behind_nat() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(
        Profile::linux_strongswan(),
        PRIVATE,
        true,
        "carol",
        "carol-pass",
    );
    connect(&mut w, c);
    assert_eq!(phase1(&w, c).1, Some(NatDialect::Rfc3947));
    ping_lan(&mut w, c, 1);
}

#[test]
fn no_nat_with_the_trick_floats_to_4500() {
    let mut w = world(WorldConfig::default());
    let public_client = Ipv4Addr::new(192, 0, 2, 44);
    let c = w.add_client(xp_modp1024(), public_client, false, "alice", "alice-pass");
    connect(&mut w, c);
    let (_, _, nat_detected, server_behind_nat) = phase1(&w, c);
    assert!(
        nat_detected,
        "the NAT-D trick makes the client believe it is behind NAT"
    );
    assert!(
        !server_behind_nat,
        "and never that the server is (no Windows error 809)"
    );
    assert!(esp_udp(&w, c));
    assert_eq!(w.client(c).ike_peer().local.port(), 4500);
    let snap = w.snapshot();
    assert_eq!(
        snap.sessions[0].client_public.ip(),
        IpAddr::V4(public_client)
    );
    assert_eq!(snap.sessions[0].client_public.port(), 4500);
    ping_lan(&mut w, c, 1);
    assert_eq!(lan_to_client(&mut w, c, 2), vec![c]);
}

#[test]
fn no_nat_without_the_trick_uses_plain_esp() {
    let mut w = world(WorldConfig {
        nat_d_trick: false,
        ..WorldConfig::default()
    });
    let public_client = Ipv4Addr::new(192, 0, 2, 45);
    let c = w.add_client(
        Profile::linux_strongswan(),
        public_client,
        false,
        "bob",
        "bob-pass",
    );
    connect(&mut w, c);
    let (_, _, nat_detected, server_behind_nat) = phase1(&w, c);
    assert!(!nat_detected && !server_behind_nat);
    assert!(
        !esp_udp(&w, c),
        "ESP must be IP protocol 50 (Transmit::Esp / handle_esp)"
    );
    assert_eq!(w.client(c).ike_peer().local.port(), 500);
    assert!(!w.snapshot().sessions[0].nat);
    ping_lan(&mut w, c, 1);
    assert_eq!(lan_to_client(&mut w, c, 2), vec![c]);
}

#[test]
fn three_clients_behind_one_nat_with_identical_inner_ids() {
    let mut w = world(WorldConfig::default());
    let users = [
        ("alice", "alice-pass"),
        ("bob", "bob-pass"),
        ("carol", "carol-pass"),
    ];
    let ids: Vec<ClientId> = users
        .iter()
        .map(|(u, p)| w.add_client(xp_modp1024(), PRIVATE, true, u, p))
        .collect();
    for &id in &ids {
        w.connect(id).unwrap();
    }
    let all_up = w.run_until(
        |w| ids.iter().all(|&id| w.client(id).stage() >= Stage::Up),
        CONNECT_LIMIT,
    );
    assert!(
        all_up && ids.iter().all(|&id| w.client(id).is_up()),
        "{:#?}\n{:#?}",
        ids.iter()
            .map(|&id| w.client(id).events().to_vec())
            .collect::<Vec<_>>(),
        w.events()
    );
    // Identical inner identities: private address, IKE/L2TP ports, tunnel and session IDs.
    for &id in &ids {
        let key = w.client(id).l2tp_session().unwrap();
        assert_eq!((key.tunnel, key.session), (4, 1));
        assert_eq!(w.client(id).config().local, PRIVATE);
    }
    let addrs: Vec<Ipv4Addr> = ids
        .iter()
        .map(|&id| w.client(id).assigned_address().unwrap())
        .collect();
    assert!(
        addrs[0] != addrs[1] && addrs[1] != addrs[2] && addrs[0] != addrs[2],
        "{addrs:?}"
    );

    let snap = w.snapshot();
    assert_eq!(snap.sessions.len(), 3, "{snap:#?}");
    let nat_ip = IpAddr::V4(w.config().nat_public_ip);
    assert!(
        snap.sessions.iter().all(|s| s.client_public.ip() == nat_ip),
        "{snap:#?}"
    );
    let mut ports: Vec<u16> = snap
        .sessions
        .iter()
        .map(|s| s.client_public.port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "three different public ports: {snap:#?}");
    assert!(
        snap.sessions
            .iter()
            .all(|s| s.l2tp_tunnel.1 == 4 && s.l2tp_session.1 == 1),
        "{snap:#?}"
    );

    // Each assigned address reaches exactly its own client.
    for (n, &id) in ids.iter().enumerate() {
        assert_eq!(
            lan_to_client(&mut w, id, 10 + n as u16),
            vec![id],
            "LAN packet for client {id}"
        );
    }
    for (n, &id) in ids.iter().enumerate() {
        ping_lan(&mut w, id, 20 + n as u16);
    }
}

#[test]
fn spoofed_source_is_dropped_and_counted() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, c);
    let before = w.snapshot().counters.spoofed;
    let forged = Ipv4Addr::new(10, 99, 0, 200);
    assert_ne!(Some(forged), w.client(c).assigned_address());
    let spoof = packet::icmp_echo(forged, LAN_HOST, false, 0x5b0f, 99, b"spoofed");
    let lan_before = w.lan_received().len();
    w.send_ip(c, &spoof).unwrap();
    w.run_for(Duration::from_secs(2));
    assert!(
        w.lan_received()[lan_before..]
            .iter()
            .all(|p| packet::addresses(p).map(|a| a.0) != Some(forged)),
        "a spoofed packet reached the LAN"
    );
    assert_eq!(
        w.snapshot().counters.spoofed,
        before + 1,
        "{:#?}",
        w.snapshot().counters
    );
    ping_lan(&mut w, c, 1);
}

#[test]
fn disabled_user_is_disconnected_and_the_others_stay() {
    let mut w = world(WorldConfig::default());
    let a = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    let b = w.add_client(Profile::windows_10(), PRIVATE, true, "bob", "bob-pass");
    connect(&mut w, a);
    connect(&mut w, b);
    let disabled = testkit::DEFAULT_USERS.replace(
        "  - name: bob\n    password: bob-pass\n",
        "  - name: bob\n    password: bob-pass\n    disabled: true\n",
    );
    assert_ne!(disabled, testkit::DEFAULT_USERS);
    let bob_addr = w.client(b).assigned_address().unwrap();
    w.reload_users(&disabled).unwrap();
    wait_down(&mut w, b);
    assert!(
        w.events()
            .iter()
            .any(|e| matches!(e, Event::SessionDown { user: Some(u), .. } if u == "bob")),
        "{:#?}",
        w.events()
    );
    let snap = w.snapshot();
    assert_eq!(
        snap.sessions.iter().filter(|s| s.user == "bob").count(),
        0,
        "{snap:#?}"
    );
    assert_eq!(
        snap.sessions.iter().filter(|s| s.user == "alice").count(),
        1,
        "{snap:#?}"
    );
    assert!(w.client(a).is_up());
    ping_lan(&mut w, a, 1);
    assert_eq!(lan_to_client(&mut w, a, 2), vec![a]);
    // Bob's old address leads nowhere now.
    let no_session = w.snapshot().counters.no_session;
    let probe = packet::icmp_echo(LAN_HOST, bob_addr, false, 1, 3, b"anyone?");
    w.lan_send(&probe);
    w.run_for(Duration::from_secs(2));
    assert!(
        (0..w.client_count()).all(|c| w.client(c).received_ip().all(|p| p != probe.as_slice()))
    );
    assert_eq!(w.snapshot().counters.no_session, no_session + 1);
}

/// Waits until client `c` is down, or fails with what it and the server logged.
fn wait_down(w: &mut World, c: ClientId) {
    let gone = w.run_until(
        |w| w.client(c).stage() == Stage::Down,
        Duration::from_secs(30),
    );
    assert!(
        gone,
        "client {c} is still connected: {:#?}\n{:#?}",
        w.client(c).events(),
        w.events()
    );
}

/// Alice (XP) and Bob (Windows 10) connected from behind the same NAT.
fn alice_and_bob_behind_one_nat() -> (World, ClientId, ClientId) {
    let mut w = world(WorldConfig::default());
    let a = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    let b = w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 168, 1, 11),
        true,
        "bob",
        "bob-pass",
    );
    connect(&mut w, a);
    connect(&mut w, b);
    (w, a, b)
}

#[test]
fn kick_by_user_ends_only_that_users_session() {
    let (mut w, a, b) = alice_and_bob_behind_one_nat();
    assert!(w.kick(&KickTarget::User("nobody".into())).is_empty());
    let kicked = w.kick(&KickTarget::User("bob".into()));
    assert_eq!(kicked.len(), 1, "{kicked:?}");
    assert_eq!(kicked[0].user, "bob");
    assert_eq!(kicked[0].assigned_ip, w.client(b).assigned_address());
    wait_down(&mut w, b);
    assert!(
        w.events()
            .iter()
            .any(|e| matches!(e, Event::SessionDown { user: Some(u), .. } if u == "bob")),
        "{:#?}",
        w.events()
    );
    let snap = w.snapshot();
    assert_eq!(snap.sessions.len(), 1, "{snap:#?}");
    assert_eq!(snap.sessions[0].user, "alice");
    assert!(w.client(a).is_up());
    ping_lan(&mut w, a, 1);
}

#[test]
fn kick_by_assigned_address_or_by_public_address() {
    let (mut w, a, b) = alice_and_bob_behind_one_nat();
    // The inner address picks exactly one session.
    let alice_ip = w.client(a).assigned_address().unwrap();
    let kicked = w.kick(&KickTarget::Address(alice_ip.into()));
    assert_eq!(kicked.len(), 1, "{kicked:?}");
    assert_eq!(kicked[0].user, "alice");
    wait_down(&mut w, a);
    assert!(w.client(b).is_up());
    // An address nobody has ends nothing.
    assert!(
        w.kick(&KickTarget::Address(Ipv4Addr::new(10, 99, 0, 250).into()))
            .is_empty()
    );
    assert!(w.client(b).is_up());
    // The public address picks every client behind that NAT (the others share it here).
    let c = w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 168, 1, 12),
        true,
        "carol",
        "carol-pass",
    );
    connect(&mut w, c);
    let snap = w.snapshot();
    assert_eq!(snap.sessions.len(), 2, "{snap:#?}");
    let public = snap.sessions[0].client_public.ip();
    assert_eq!(public, snap.sessions[1].client_public.ip(), "{snap:#?}");
    let kicked = w.kick(&KickTarget::Address(public));
    assert_eq!(kicked.len(), 2, "{kicked:?}");
    wait_down(&mut w, b);
    wait_down(&mut w, c);
    assert!(w.snapshot().sessions.is_empty());
}

#[test]
fn xp_full_profile_gets_its_first_choice_modp2048() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(
        Profile::windows_xp_sp2(),
        PRIVATE,
        true,
        "dave",
        "dave-pass",
    );
    connect(&mut w, c);
    let (suite, dialect, ..) = phase1(&w, c);
    assert!(
        suite.contains("3DES") && suite.contains("MODP2048"),
        "{suite}"
    );
    assert_eq!(dialect, Some(NatDialect::Draft02N));
    ping_lan(&mut w, c, 1);
}

#[test]
fn ios_and_xp_behind_one_nat_tunnel_id_1_and_a_random_l2tp_port() {
    let mut w = world(WorldConfig::default());
    let ios = w.add_client(Profile::ios(50431), PRIVATE, true, "alice", "alice-pass");
    let xp = w.add_client(
        xp_modp1024().with_tunnel_id(1),
        PRIVATE,
        true,
        "bob",
        "bob-pass",
    );
    connect(&mut w, ios);
    connect(&mut w, xp);
    assert_eq!(w.client(ios).l2tp_session().map(|k| k.tunnel), Some(1));
    assert_eq!(w.client(xp).l2tp_session().map(|k| k.tunnel), Some(1));
    assert_eq!(phase1(&w, ios).1, Some(NatDialect::Rfc3947));
    ping_lan(&mut w, ios, 1);
    ping_lan(&mut w, xp, 2);
    assert_eq!(lan_to_client(&mut w, ios, 3), vec![ios]);
    assert_eq!(lan_to_client(&mut w, xp, 4), vec![xp]);
}

fn refusal(w: &World) -> Option<String> {
    w.events().iter().find_map(|e| match e {
        Event::Refused { message, .. } => Some(message.clone()),
        _ => None,
    })
}

#[test]
fn wrong_psk_is_refused_in_plain_words() {
    let mut w = world(WorldConfig::default());
    let mut cfg = testkit::ClientConfig {
        profile: xp_modp1024(),
        local: PRIVATE,
        server: w.config().server_ip,
        psk: crypto::Secret::from_slice(b"not the server's key"),
        user: "alice".into(),
        password: "alice-pass".into(),
        rng_seed: [5; 32],
    };
    cfg.profile = cfg.profile.with_host_name("WRONGPSK");
    let c = w.add_client_with(cfg, true);
    w.connect(c).unwrap();
    let refused = w.run_until(|w| refusal(w).is_some(), Duration::from_secs(60));
    let message = refusal(&w).unwrap_or_default();
    assert!(refused, "no refusal event: {:#?}", w.events());
    assert!(
        message.contains("PSK") && message.contains("789"),
        "{message}"
    );
    w.run_for(Duration::from_secs(60));
    assert!(!w.client(c).is_up());
    assert!(w.snapshot().sessions.is_empty());
}

#[test]
fn wrong_password_is_refused_with_691() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "not-alice-pass");
    w.connect(c).unwrap();
    let refused = w.run_until(|w| refusal(w).is_some(), Duration::from_secs(60));
    let message = refusal(&w).unwrap_or_default();
    assert!(refused, "no refusal event: {:#?}", w.events());
    assert!(
        message.contains("wrong password") && message.contains("691"),
        "{message}"
    );
    w.run_until(
        |w| w.client(c).stage() == Stage::Down,
        Duration::from_secs(60),
    );
    assert!(
        w.client(c)
            .events()
            .contains(&ClientEvent::AuthFailed { windows_error: 691 }),
        "{:?}",
        w.client(c).events()
    );
    assert!(!w.client(c).is_up());
}

#[test]
fn xp_connects_under_loss_and_reordering() {
    let mut lossy_runs = 0;
    let mut failures = Vec::new();
    // `TESTKIT_SEED=n` replays one seed (with `RUST_LOG=trace` to see every frame).
    let seeds: Vec<u64> = match std::env::var("TESTKIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (1..=10).collect(),
    };
    for &seed in &seeds {
        let mut w = world(WorldConfig {
            loss: 0.05,
            reorder: 0.2,
            seed,
            ..WorldConfig::default()
        });
        let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
        w.connect(c).unwrap();
        let up = w.run_until(
            |w| w.client(c).stage() >= Stage::Up,
            Duration::from_secs(300),
        );
        let stats = w.net_stats();
        if stats.lost > 0 {
            lossy_runs += 1;
        }
        if !(up && w.client(c).is_up()) {
            w.run_for(Duration::from_secs(5));
            failures.push(format!(
                "seed {seed}: not connected; client events {:?}; server events {:?}; {stats:?}",
                w.client(c).events(),
                w.events()
            ));
            continue;
        }
        // Pings may be lost too: retry until one round trip completes.
        let addr = w.client(c).assigned_address().unwrap();
        let mut ok = false;
        for seq in 1..=20u16 {
            w.ping(c, LAN_HOST, seq).unwrap();
            if w.run_until(
                |w| {
                    w.client(c).received_ip().any(|p| {
                        echo_from(p).is_some_and(|e| e.reply && e.seq == seq && e.dst == addr)
                    })
                },
                Duration::from_secs(3),
            ) {
                ok = true;
                break;
            }
        }
        if !ok {
            failures.push(format!("seed {seed}: connected but no ping round trip"));
        }
        assert!(
            w.net_stats().delayed > 0,
            "seed {seed}: nothing was reordered"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
    // A connection is only ~40 datagrams, so some seeds lose none; most must lose some.
    assert!(
        lossy_runs * 2 >= seeds.len(),
        "only {lossy_runs} of {} runs lost a datagram",
        seeds.len()
    );
}

#[test]
fn behind_nat_without_the_trick_real_nat_detection_still_floats() {
    let mut w = world(WorldConfig {
        nat_d_trick: false,
        ..WorldConfig::default()
    });
    let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, c);
    let (_, dialect, nat_detected, server_behind_nat) = phase1(&w, c);
    assert_eq!(dialect, Some(NatDialect::Draft02N));
    assert!(nat_detected && !server_behind_nat);
    assert!(esp_udp(&w, c));
    ping_lan(&mut w, c, 1);
}

/// The ISAKMP exchange type of a UDP payload (RFC 2408 §3.1: octet 18 of the header), after
/// the non-ESP marker on port 4500; `None` for ESP and keepalives.
fn isakmp_exchange(payload: &[u8]) -> Option<u8> {
    let msg = match payload.strip_prefix(&[0, 0, 0, 0]) {
        Some(m) => m,
        None => payload,
    };
    // Version 1.0 (octet 17) tells ISAKMP from an ESP packet well enough for a test filter.
    (msg.len() >= 28 && msg[17] == 0x10).then(|| msg[18])
}

const IDENTITY_PROTECTION: u8 = 2;
const QUICK_MODE: u8 = 32;

#[test]
fn lost_main_mode_6_is_recovered_by_client_retransmission() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    let mut dropped = false;
    w.set_drop_filter(Some(Box::new(move |d, p| {
        // MM6 is the only Main Mode message the server sends on 4500 (with the marker).
        let mm6 = matches!(d, testkit::Direction::ToClient(_))
            && p.starts_with(&[0, 0, 0, 0])
            && isakmp_exchange(p) == Some(IDENTITY_PROTECTION);
        let drop = mm6 && !dropped;
        dropped |= drop;
        drop
    })));
    connect(&mut w, c);
    assert_eq!(w.net_stats().lost, 1);
    assert!(
        w.client(c).stats().ike_retransmits >= 1,
        "{:?}",
        w.client(c).stats()
    );
    ping_lan(&mut w, c, 1);
}

#[test]
fn lost_quick_mode_3_is_recovered() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    let mut seen = 0;
    w.set_drop_filter(Some(Box::new(move |d, p| {
        if matches!(d, testkit::Direction::ToServer(_)) && isakmp_exchange(p) == Some(QUICK_MODE) {
            seen += 1;
            return seen == 2; // QM1, then QM3
        }
        false
    })));
    connect(&mut w, c);
    assert_eq!(w.net_stats().lost, 1);
    // The server retransmitted QM2 and got QM3 again from the client's answer cache.
    assert_eq!(
        w.client(c).stats().ike_duplicates_answered,
        1,
        "{:?}",
        w.client(c).stats()
    );
    ping_lan(&mut w, c, 1);
}

#[test]
fn sessions_survive_ten_minutes_of_hellos_and_lcp_echoes() {
    let mut w = world(WorldConfig::default());
    let a = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    let b = w.add_client(
        Profile::linux_strongswan(),
        PRIVATE,
        true,
        "bob",
        "bob-pass",
    );
    connect(&mut w, a);
    connect(&mut w, b);
    let before = w.net_stats().delivered;
    w.run_for(Duration::from_secs(600));
    for id in [a, b] {
        assert!(
            w.client(id).is_up(),
            "client {id}: {:?}\n{:#?}",
            w.client(id).events(),
            w.events()
        );
    }
    assert_eq!(w.snapshot().sessions.len(), 2);
    // Every keepalive is answered: what the clients counted, both ways.
    let keepalives = w.net_stats().delivered - before;
    let counted: u64 = [a, b]
        .iter()
        .map(|&id| {
            let t = w.client(id).traffic();
            t.received.total() + t.sent.total()
        })
        .sum();
    assert!(
        keepalives > 0 && keepalives <= counted,
        "{keepalives} > {counted}"
    );
    ping_lan(&mut w, a, 1);
    ping_lan(&mut w, b, 2);
}

/// Issue 12: what an idle session costs. With the defaults (LCP echo timer 30 s, Hello 60 s),
/// the server sends an idle XP session one LCP Echo-Request a minute (its Echo-Reply shows the
/// client is there for the next tick, RFC 1661 §5.8) and no Hello (the Echo-Reply is an L2TP
/// data message, RFC 2661 §6.5), and nothing else.
#[test]
fn an_idle_session_costs_one_echo_a_minute() {
    let mut w = world(WorldConfig::default());
    let a = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, a);
    w.run_for(Duration::from_secs(60));
    let before = w.client(a).traffic();
    w.run_for(Duration::from_secs(600));
    assert!(w.client(a).is_up(), "{:?}", w.client(a).events());
    let after = w.client(a).traffic();
    let (from_server, to_server) = (after.received, after.sent);
    let sent_echoes = from_server.lcp_echo_request - before.received.lcp_echo_request;
    let replies = to_server.lcp_echo_reply - before.sent.lcp_echo_reply;
    assert!(
        (9..=11).contains(&sent_echoes),
        "{sent_echoes} Echo-Requests in 10 minutes"
    );
    assert_eq!(replies, sent_echoes);
    assert_eq!(
        from_server.l2tp_hello, before.received.l2tp_hello,
        "Hellos were sent"
    );
    assert_eq!(
        from_server.total() - before.received.total(),
        sent_echoes,
        "the server sent more than echoes: {from_server:?}"
    );
    assert_eq!(
        to_server.total() - before.sent.total(),
        replies,
        "{to_server:?}"
    );
}

/// `--keylog` (issue 6 item 4): with the switch on, the server emits one
/// `ikev1_decryption_table` line (initiator cookie, Appendix B key) and an `esp_sa` line per
/// direction, in Wireshark's UAT formats; with it off, none.
#[test]
fn keylog_lines_in_wireshark_formats() {
    for on in [false, true] {
        let mut w = world(WorldConfig::default());
        w.server_mut().set_keylog(on);
        let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
        connect(&mut w, c);
        ping_lan(&mut w, c, 1);
        let lines: Vec<String> = w
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::KeylogLine(l) => Some(l.clone()),
                _ => None,
            })
            .collect();
        if !on {
            assert!(lines.is_empty(), "{lines:?}");
            continue;
        }
        let ike: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("ikev1_decryption_table: "))
            .collect();
        assert_eq!(ike.len(), 1, "{lines:?}");
        let (cookie, key) = ike[0]["ikev1_decryption_table: ".len()..]
            .split_once(',')
            .unwrap();
        // 8-octet cookie; 3DES key of 24 octets (RFC 2409 Appendix B expansion).
        assert_eq!((cookie.len(), key.len()), (16, 48), "{}", ike[0]);
        assert!(
            cookie
                .chars()
                .chain(key.chars())
                .all(|c| c.is_ascii_hexdigit())
        );
        let esp: Vec<&String> = lines.iter().filter(|l| l.starts_with("esp_sa: ")).collect();
        assert_eq!(esp.len(), 2, "{lines:?}");
        for l in esp {
            let fields: Vec<&str> = l["esp_sa: ".len()..]
                .split(',')
                .map(|f| f.trim_matches('"'))
                .collect();
            assert_eq!(fields.len(), 8, "{l}");
            assert_eq!(fields[0], "IPv4");
            assert_eq!(fields[4], "TripleDES-CBC [RFC2451]");
            assert_eq!(fields[5].len(), 2 + 48, "{l}");
            assert_eq!(fields[6], "HMAC-SHA-1-96 [RFC2404]");
            assert_eq!(fields[7].len(), 2 + 40, "{l}");
        }
    }
}

// ---- rekey, NAT rebinding, DPD and kilobyte lifetimes (issue 3) ------------------------------

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

/// A LAN address that is not a host: packets to it are only recorded on TUN (no echo reply),
/// so each direction is counted on its own.
const SINK: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 77);
/// One packet each way per client every this long.
const TICK: Duration = Duration::from_millis(100);

/// The SPI of every ESP datagram on UDP 4500, by direction, in the order they were sent.
type Tap = Rc<RefCell<Vec<(testkit::Direction, u32)>>>;

/// Records ESP SPIs on the wire (drops nothing). ESP on port 4500 starts with a non-zero SPI
/// (RFC 3948 §2.2); IKE starts with the zero non-ESP marker and a keepalive is one 0xFF octet.
fn tap(w: &mut World) -> Tap {
    let seen: Tap = Rc::default();
    let log = Rc::clone(&seen);
    w.set_drop_filter(Some(Box::new(move |d, p| {
        if p.len() > 8 && p[..4] != [0, 0, 0, 0] {
            log.borrow_mut()
                .push((d, u32::from_be_bytes([p[0], p[1], p[2], p[3]])));
        }
        false
    })));
    seen
}

/// Two-way traffic: per client, ICMP Echo Requests (sequence numbers 1, 2, …) from the client
/// to the LAN sink, and from the LAN sink to the client.
#[derive(Default)]
struct Traffic {
    next: BTreeMap<ClientId, u16>,
    /// Sequence numbers received on the LAN, per client.
    at_lan: BTreeMap<ClientId, Vec<u16>>,
    /// Sequence numbers received by each client.
    at_client: BTreeMap<ClientId, Vec<u16>>,
    /// Extra ICMP payload octets per packet.
    payload: usize,
    /// Send only from the LAN to the clients.
    down_only: bool,
}

impl Traffic {
    /// `ticks` rounds of one packet each way per client, `TICK` apart.
    fn run(&mut self, w: &mut World, clients: &[ClientId], ticks: u32) {
        for _ in 0..ticks {
            for &c in clients {
                let addr = w.client(c).assigned_address().expect("client is up");
                let seq = self.next.entry(c).or_insert(0);
                *seq += 1;
                let seq = *seq;
                let data = vec![0x5a; self.payload.max(2)];
                if !self.down_only {
                    let up = packet::icmp_echo(addr, SINK, false, 0x100 + c as u16, seq, &data);
                    w.send_ip(c, &up).unwrap();
                }
                let down = packet::icmp_echo(SINK, addr, false, 0x200 + c as u16, seq, &data);
                w.lan_send(&down);
            }
            w.run_for(TICK);
            self.collect(w, clients);
        }
    }

    fn collect(&mut self, w: &mut World, clients: &[ClientId]) {
        for p in w.take_lan() {
            if let Some(e) = echo_from(&p).filter(|e| e.dst == SINK) {
                let c = clients
                    .iter()
                    .find(|&&c| w.client(c).assigned_address() == Some(e.src));
                if let Some(&c) = c {
                    self.at_lan.entry(c).or_default().push(e.seq);
                }
            }
        }
        for &c in clients {
            while let Some(p) = w.client_mut(c).poll_ip() {
                if let Some(e) = echo_from(&p).filter(|e| e.src == SINK) {
                    self.at_client.entry(c).or_default().push(e.seq);
                }
            }
        }
    }

    /// Every packet sent so far arrived exactly once, in both directions.
    fn assert_lossless(&mut self, w: &mut World, clients: &[ClientId]) {
        w.run_for(Duration::from_secs(1));
        self.collect(w, clients);
        for &c in clients {
            let sent = self.next.get(&c).copied().unwrap_or(0);
            let expect: Vec<u16> = (1..=sent).collect();
            for (what, got) in [
                ("client->LAN", &self.at_lan),
                ("LAN->client", &self.at_client),
            ] {
                if self.down_only && what == "client->LAN" {
                    continue;
                }
                let mut seqs = got.get(&c).cloned().unwrap_or_default();
                seqs.sort_unstable();
                assert_eq!(
                    seqs,
                    expect,
                    "client {c} {what}: every packet exactly once.\nclient events {:?}\nserver events {:?}",
                    w.client(c).events(),
                    w.events()
                );
            }
        }
    }
}

/// SPIs seen on the wire from index `from` on: (client→server, server→client) for client `c`.
fn spis_since(tap: &Tap, from: usize, c: ClientId) -> (Vec<u32>, Vec<u32>) {
    let log = tap.borrow();
    let mut up = Vec::new();
    let mut down = Vec::new();
    for (d, spi) in &log[from..] {
        match d {
            testkit::Direction::ToServer(x) if *x == c => up.push(*spi),
            testkit::Direction::ToClient(x) if *x == c => down.push(*spi),
            _ => {}
        }
    }
    up.dedup();
    down.dedup();
    (up, down)
}

fn xp_and_win10_up(w: &mut World) -> Vec<ClientId> {
    let xp = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    let win = w.add_client(Profile::windows_10(), PRIVATE, true, "bob", "bob-pass");
    connect(w, xp);
    connect(w, win);
    vec![xp, win]
}

fn esp_deleted_by_client(w: &World, c: ClientId, spi_in: u32) -> bool {
    w.client(c).events().iter().any(
        |e| matches!(e, ClientEvent::EspDeleted { spi_in: s, by_server: false } if *s == spi_in),
    )
}

/// Issue 3 must-show: under continuous two-way traffic, an XP and a Windows 10 client start a
/// new Quick Mode on their IKE SA. Nothing is lost or duplicated; afterwards both directions
/// use the new SPIs only, and the old pair is deleted by the client's Delete.
#[test]
fn quick_mode_rekey_under_traffic_loses_nothing() {
    let mut w = world(WorldConfig::default());
    let clients = xp_and_win10_up(&mut w);
    let tap = tap(&mut w);
    let mut t = Traffic::default();
    t.run(&mut w, &clients, 20);
    let old: Vec<(u32, u32)> = clients
        .iter()
        .map(|&c| w.client(c).esp_spis().unwrap())
        .collect();
    let (up, down) = spis_since(&tap, 0, clients[0]);
    assert_eq!((up, down), (vec![old[0].1], vec![old[0].0]));
    let dropped_before = w.snapshot().counters.esp_dropped;

    // The two clients rekey 250 ms apart, in the middle of the stream.
    let now = w.now();
    w.client_mut(clients[0]).rekey(now).unwrap();
    t.run(&mut w, &clients, 3);
    let now = w.now();
    w.client_mut(clients[1]).rekey(now).unwrap();
    // Past the client's grace period (2 s): the old pairs are deleted meanwhile.
    t.run(&mut w, &clients, 40);
    let mark = tap.borrow().len();
    t.run(&mut w, &clients, 20);
    t.assert_lossless(&mut w, &clients);

    for (i, &c) in clients.iter().enumerate() {
        let new = w.client(c).esp_spis().unwrap();
        assert!(
            new.0 != old[i].0 && new.1 != old[i].1,
            "{new:?} vs {:?}",
            old[i]
        );
        assert!(
            w.client(c)
                .events()
                .iter()
                .any(|e| matches!(e, ClientEvent::EspRekeyed { spi_in, .. } if *spi_in == new.0))
        );
        // Both directions on the wire use only the new pair after the rekey.
        assert_eq!(
            spis_since(&tap, mark, c),
            (vec![new.1], vec![new.0]),
            "client {c}"
        );
        // The client deleted its old pair (Windows sends Delete after a rekey).
        assert!(
            esp_deleted_by_client(&w, c, old[i].0),
            "{:?}",
            w.client(c).events()
        );
        assert!(w.client(c).old_esp_spis().is_empty());
        assert!(w.client(c).is_up());
    }
    // The server dropped nothing: no ESP for an unknown or deleted SA, no ICV failures.
    assert_eq!(w.snapshot().counters.esp_dropped, dropped_before);
    for &c in &clients {
        assert_eq!(w.client(c).stats().esp_dropped, 0);
    }
    assert_eq!(w.snapshot().sessions.len(), 2);
}

/// The same with a new Main Mode plus Quick Mode from the same 4-tuple (UDP 4500 through the
/// same NAT mapping), as Windows does when the IKE SA lifetime ends; the old IKE SA and the
/// old ESP pair are deleted by the client afterwards.
#[test]
fn main_mode_rekey_under_traffic_loses_nothing() {
    let mut w = world(WorldConfig::default());
    let clients = xp_and_win10_up(&mut w);
    let tap = tap(&mut w);
    let mut t = Traffic::default();
    t.run(&mut w, &clients, 20);
    let old: Vec<(u32, u32)> = clients
        .iter()
        .map(|&c| w.client(c).esp_spis().unwrap())
        .collect();
    let publics: Vec<SocketAddr> = w
        .snapshot()
        .sessions
        .iter()
        .map(|s| s.client_public)
        .collect();
    let dropped_before = w.snapshot().counters.esp_dropped;
    for &c in &clients {
        let now = w.now();
        w.client_mut(c).rekey_ike(now).unwrap();
        assert_eq!(w.client(c).ike_sa_count(), 2);
        t.run(&mut w, &clients, 2);
    }
    t.run(&mut w, &clients, 40);
    let mark = tap.borrow().len();
    t.run(&mut w, &clients, 20);
    t.assert_lossless(&mut w, &clients);
    for (i, &c) in clients.iter().enumerate() {
        let new = w.client(c).esp_spis().unwrap();
        assert!(new.0 != old[i].0 && new.1 != old[i].1);
        assert_eq!(
            spis_since(&tap, mark, c),
            (vec![new.1], vec![new.0]),
            "client {c}"
        );
        assert!(esp_deleted_by_client(&w, c, old[i].0));
        assert_eq!(w.client(c).ike_sa_count(), 1, "old IKE SA deleted");
        assert!(w.client(c).is_up());
    }
    // Same public 4-tuples, same sessions, nothing dropped.
    let snap = w.snapshot();
    let mut now_publics: Vec<SocketAddr> = snap.sessions.iter().map(|s| s.client_public).collect();
    let mut before = publics.clone();
    before.sort();
    now_publics.sort();
    assert_eq!(now_publics, before);
    assert_eq!(snap.sessions.len(), 2);
    assert_eq!(snap.counters.esp_dropped, dropped_before);
    assert!(
        !w.events()
            .iter()
            .any(|e| matches!(e, Event::SessionDown { .. })),
        "{:?}",
        w.events()
    );
}

/// Issue 3: the NAT forgets a client's mapping mid-session and gives it a new public port.
/// The first ESP packet from the new port that verifies moves the client's whole state there
/// (the IKEv2 rule of RFC 7296 §2.23; RFC 3947/3948 leave it open), and the server answers there.
/// Another client behind the same NAT is
/// unaffected. Only LAN→client packets sent before the client's first packet from the new
/// port can be lost (the NAT has no mapping for the old port any more).
#[test]
fn nat_rebinding_moves_the_session_to_the_new_port() {
    let mut w = world(WorldConfig::default());
    let clients = xp_and_win10_up(&mut w);
    let (xp, win) = (clients[0], clients[1]);
    let mut t = Traffic::default();
    t.run(&mut w, &clients, 10);
    let public = |w: &World, user: &str| {
        w.snapshot()
            .sessions
            .iter()
            .find(|s| s.user == user)
            .map(|s| s.client_public)
            .unwrap()
    };
    let (xp_old, win_old) = (public(&w, "alice"), public(&w, "bob"));
    let moved = w.remap_nat(xp);
    let (_, xp_new) = *moved
        .iter()
        .find(|(old, _)| *old == xp_old)
        .expect("the 4500 mapping moved");
    assert_ne!(xp_new, xp_old);
    // The tick of the remap: the client's packet and the LAN's packet leave at once; the
    // LAN's one still goes to the old port and is lost.
    t.run(&mut w, &clients, 1);
    let lost_tick = t.next[&xp];
    t.run(&mut w, &clients, 30);
    w.run_for(Duration::from_secs(1));
    t.collect(&mut w, &clients);

    assert_eq!(public(&w, "alice"), xp_new, "{:#?}", w.snapshot());
    assert_eq!(public(&w, "bob"), win_old, "the other client did not move");
    assert!(
        w.events().iter().any(
            |e| matches!(e, Event::ClientMoved { from, to } if *from == xp_old && *to == xp_new)
        )
    );
    // Client → LAN: nothing lost. LAN → client: at most the packet of the remap tick.
    let sent = t.next[&xp];
    let mut up = t.at_lan[&xp].clone();
    up.sort_unstable();
    assert_eq!(up, (1..=sent).collect::<Vec<_>>());
    let mut down = t.at_client[&xp].clone();
    down.sort_unstable();
    let expect: Vec<u16> = (1..=sent).filter(|&s| s != lost_tick).collect();
    assert_eq!(down, expect);
    // The other client lost nothing either way.
    t.next.remove(&xp);
    t.assert_lossless(&mut w, &[win]);
    // IKE follows too: a rekey over the moved IKE SA works and traffic continues.
    let now = w.now();
    w.client_mut(xp).rekey(now).unwrap();
    let mut t = Traffic::default();
    t.run(&mut w, &clients, 40);
    t.assert_lossless(&mut w, &clients);
    assert!(
        w.client(xp)
            .events()
            .iter()
            .any(|e| matches!(e, ClientEvent::EspRekeyed { .. }))
    );
}

/// Issue 3: an ESP packet from a new 4-tuple whose ICV fails, or that is a replay of a real
/// packet, moves nothing and is counted as dropped; the session stays where it was.
#[test]
fn forged_or_replayed_esp_from_a_new_port_does_not_hijack() {
    let mut w = world(WorldConfig::default());
    let clients = xp_and_win10_up(&mut w);
    let xp = clients[0];
    let captured: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let log = Rc::clone(&captured);
    w.set_drop_filter(Some(Box::new(move |d, p| {
        if d == testkit::Direction::ToServer(0) && p.len() > 8 && p[..4] != [0, 0, 0, 0] {
            log.borrow_mut().push(p.to_vec());
        }
        false
    })));
    let mut t = Traffic::default();
    t.run(&mut w, &clients, 5);
    let public = w.snapshot().sessions[0].client_public;
    let before: Vec<SocketAddr> = w
        .snapshot()
        .sessions
        .iter()
        .map(|s| s.client_public)
        .collect();
    let dropped = w.snapshot().counters.esp_dropped;
    let real = captured.borrow()[2].clone();
    let mut forged = real.clone();
    let n = forged.len();
    forged[n - 1] ^= 0x01; // a bad ICV
    let server = SocketAddr::new(IpAddr::V4(w.config().server_ip), 4500);
    let attacker = SocketAddr::new(public.ip(), 55_555);
    w.inject_udp_to_server(server, attacker, &forged);
    w.inject_udp_to_server(server, attacker, &real); // a replay
    let other = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)), 4500);
    w.inject_udp_to_server(server, other, &real);
    w.run_for(Duration::from_secs(1));
    assert_eq!(
        w.snapshot().counters.esp_dropped,
        dropped + 3,
        "{:#?}",
        w.snapshot().counters
    );
    assert!(
        !w.events()
            .iter()
            .any(|e| matches!(e, Event::ClientMoved { .. }))
    );
    let after: Vec<SocketAddr> = w
        .snapshot()
        .sessions
        .iter()
        .map(|s| s.client_public)
        .collect();
    assert_eq!(after, before);
    t.run(&mut w, &clients, 10);
    t.assert_lossless(&mut w, &clients);
    let _ = xp;
}

/// A server with DPD every 10 s and 3 failures, and no LCP echoes or L2TP Hellos, so that
/// only DPD watches an idle client.
fn dpd_world() -> World {
    world(WorldConfig {
        extra_ike_yaml: vec![
            "dpd_interval_secs: 10".to_owned(),
            "dpd_failures: 3".to_owned(),
        ],
        extra_server_yaml: "ppp:\n  echo_interval_secs: 0\n".to_owned(),
        ..WorldConfig::default()
    })
}

/// Issue 3, RFC 3706: an idle Linux client (DPD vendor ID) is probed and answers, and keeps
/// its session; an idle XP client (no DPD vendor ID) is never sent R-U-THERE.
#[test]
fn dpd_probes_idle_dpd_clients_only_and_they_stay() {
    let mut w = dpd_world();
    let linux = w.add_client(
        Profile::linux_strongswan(),
        PRIVATE,
        true,
        "carol",
        "carol-pass",
    );
    let xp = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, linux);
    connect(&mut w, xp);
    w.run_for(Duration::from_secs(300));
    let answered = w.client(linux).stats().dpd_answered;
    // One probe per 10 s of silence: about 30 in 5 minutes.
    assert!((25..=31).contains(&answered), "{answered}");
    assert_eq!(
        w.client(xp).stats().dpd_answered,
        0,
        "XP never gets R-U-THERE"
    );
    for c in [linux, xp] {
        assert!(w.client(c).is_up(), "{:?}", w.client(c).events());
    }
    assert_eq!(w.snapshot().sessions.len(), 2);
    ping_lan(&mut w, linux, 1);
    ping_lan(&mut w, xp, 2);
}

/// Issue 3, RFC 3706: a client that vanishes (every datagram to and from it is lost) is
/// removed after its 3 R-U-THEREs go unanswered: (3 + 1) * 10 s after it was last heard.
/// The other client stays.
#[test]
fn dpd_removes_a_vanished_client() {
    let mut w = dpd_world();
    let gone = w.add_client(
        Profile::linux_strongswan(),
        PRIVATE,
        true,
        "carol",
        "carol-pass",
    );
    let stays = w.add_client(
        Profile::linux_strongswan(),
        PRIVATE,
        true,
        "dave",
        "dave-pass",
    );
    connect(&mut w, gone);
    connect(&mut w, stays);
    ping_lan(&mut w, gone, 1);
    let silent_from = w.elapsed();
    w.set_drop_filter(Some(Box::new(move |d, _| {
        matches!(d, testkit::Direction::ToServer(c) | testkit::Direction::ToClient(c) if c == gone)
    })));
    let down = |w: &World| {
        w.events().iter().find_map(|e| match e {
            Event::SessionDown {
                user: Some(u),
                reason,
                ..
            } if u == "carol" => Some(reason.clone()),
            _ => None,
        })
    };
    let removed = w.run_until(|w| down(w).is_some(), Duration::from_secs(120));
    assert!(removed, "{:#?}", w.events());
    let after = w.elapsed() - silent_from;
    assert!(
        after >= Duration::from_secs(30) && after <= Duration::from_secs(41),
        "removed after {after:?}"
    );
    let reason = down(&w).unwrap();
    assert!(reason.contains("dead peer detection"), "{reason}");
    let snap = w.snapshot();
    assert_eq!(snap.sessions.len(), 1, "{snap:#?}");
    assert_eq!(snap.sessions[0].user, "dave");
    assert!(w.client(stays).is_up());
    ping_lan(&mut w, stays, 2);
}

/// XP with a 20 KB ESP lifetime (RFC 2407 §4.5): the server's SAs carry the soft (90 %) and
/// hard limits.
fn xp_small_kb() -> Profile {
    let mut p = xp_modp1024();
    for s in &mut p.esp_proposals {
        s.lifetime.kb = Some(20);
    }
    p
}

fn lifetime_events(w: &World, hard: bool) -> usize {
    w.events()
        .iter()
        .filter(|e| matches!(e, Event::EspLifetime { hard: h, .. } if *h == hard))
        .count()
}

/// Issue 3: crossing the soft kilobyte limit is reported (and logged) once per pair; the
/// client rekeys in time (as Windows does) and traffic continues without loss through
/// several rekeys; the hard limit is never reached.
#[test]
fn kilobyte_soft_limit_and_rekeys_in_time_lose_nothing() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_small_kb(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, c);
    let mut t = Traffic {
        payload: 500,
        ..Traffic::default()
    };
    // 120 packets of about 570 octets each way: about 68 KB, three lifetimes.
    t.run(&mut w, &[c], 120);
    t.assert_lossless(&mut w, &[c]);
    let rekeys = w
        .client(c)
        .events()
        .iter()
        .filter(|e| matches!(e, ClientEvent::EspRekeyed { .. }))
        .count();
    assert!(rekeys >= 3, "{:?}", w.client(c).events());
    assert!(lifetime_events(&w, false) >= 3, "{:#?}", w.events());
    assert_eq!(lifetime_events(&w, true), 0, "{:#?}", w.events());
    assert!(w.client(c).is_up());
}

/// Issue 3: at the hard kilobyte limit the server deletes the pair and tells the client.
/// A client that did not rekey loses its session; one that rekeyed (but still receives on
/// the old pair, because it sent nothing on the new one) keeps getting traffic on the new
/// pair without loss.
#[test]
fn kilobyte_hard_limit_deletes_the_sa() {
    // No rekey: the pair is deleted and with it the session.
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_small_kb(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, c);
    w.client_mut(c).set_auto_rekey(false);
    let mut t = Traffic {
        payload: 500,
        down_only: true,
        ..Traffic::default()
    };
    let spi = w.client(c).esp_spis().unwrap().0;
    t.run(&mut w, &[c], 40);
    assert_eq!(lifetime_events(&w, true), 1, "{:#?}", w.events());
    assert!(
        w.client(c).events().iter().any(
            |e| matches!(e, ClientEvent::EspDeleted { spi_in, by_server: true } if *spi_in == spi)
        ),
        "the server's Delete reached the client: {:?}",
        w.client(c).events()
    );
    assert!(!w.client(c).is_up());
    assert!(w.snapshot().sessions.is_empty());

    // Rekeyed in time, sending nothing: the server keeps the old outbound SA until its hard
    // limit, deletes it, and continues on the new pair.
    let mut w = world(WorldConfig::default());
    let c = w.add_client(xp_small_kb(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, c);
    w.client_mut(c).set_old_sa_grace(None);
    let old = w.client(c).esp_spis().unwrap().0;
    let mut t = Traffic {
        payload: 500,
        down_only: true,
        ..Traffic::default()
    };
    t.run(&mut w, &[c], 60);
    t.assert_lossless(&mut w, &[c]);
    assert!(lifetime_events(&w, true) >= 1, "{:#?}", w.events());
    assert!(
        w.client(c).events().iter().any(
            |e| matches!(e, ClientEvent::EspDeleted { spi_in, by_server: true } if *spi_in == old)
        ),
        "{:?}",
        w.client(c).events()
    );
    assert!(w.client(c).is_up());
    assert_ne!(w.client(c).esp_spis().unwrap().0, old);
    assert_eq!(w.snapshot().sessions.len(), 1);
}

/// The responder rule of a rekey (docs/clients.md#rekey; RFC 2409 §5.5 leaves it open): the
/// server keeps sending on the old outbound SA until the client sends on the new inbound SA,
/// because until then it cannot know the client installed the new pair.
#[test]
fn server_switches_outbound_only_after_the_client_uses_the_new_sa() {
    let mut w = world(WorldConfig::default());
    let c = w.add_client(Profile::windows_10(), PRIVATE, true, "bob", "bob-pass");
    connect(&mut w, c);
    let tap = tap(&mut w);
    w.client_mut(c).set_old_sa_grace(None);
    let old = w.client(c).esp_spis().unwrap();
    let now = w.now();
    w.client_mut(c).rekey(now).unwrap();
    w.run_for(Duration::from_secs(1));
    let new = w.client(c).esp_spis().unwrap();
    assert_ne!(new, old);
    let mut t = Traffic {
        down_only: true,
        ..Traffic::default()
    };
    let mark = tap.borrow().len();
    t.run(&mut w, &[c], 10);
    assert_eq!(
        spis_since(&tap, mark, c).1,
        vec![old.0],
        "still the old pair"
    );
    // One packet from the client on the new pair moves the server over.
    let mark = tap.borrow().len();
    ping_lan(&mut w, c, 1);
    t.run(&mut w, &[c], 10);
    assert_eq!(spis_since(&tap, mark, c), (vec![new.1], vec![new.0]));
    t.assert_lossless(&mut w, &[c]);
}

/// A rekey under traffic with reordering: late packets on the old SA, arriving after the
/// first ones on the new SA, are still accepted and do not move the server back.
#[test]
fn quick_mode_rekey_with_reordering_loses_nothing() {
    let mut w = world(WorldConfig {
        reorder: 0.3,
        reorder_delay: Duration::from_millis(150),
        seed: 7,
        ..WorldConfig::default()
    });
    let clients = xp_and_win10_up(&mut w);
    let tap = tap(&mut w);
    let mut t = Traffic::default();
    t.run(&mut w, &clients, 20);
    for &c in &clients {
        let now = w.now();
        w.client_mut(c).rekey(now).unwrap();
    }
    t.run(&mut w, &clients, 40);
    let mark = tap.borrow().len();
    t.run(&mut w, &clients, 20);
    t.assert_lossless(&mut w, &clients);
    assert!(w.net_stats().delayed > 0);
    for &c in &clients {
        let new = w.client(c).esp_spis().unwrap();
        assert_eq!(
            spis_since(&tap, mark, c),
            (vec![new.1], vec![new.0]),
            "client {c}"
        );
    }
}

/// Windows asks for routes and the DNS domain with a DHCPINFORM through the link (RFC 2131
/// §4.3.5) right after IPCP. The server answers it itself with options 121 and 249 (RFC 3442,
/// MS-DHCPE §2.2.8), so split tunnelling reaches the LAN without manual routes; the INFORM
/// never reaches the LAN side.
#[test]
fn dhcpinform_gets_routes_and_domain_without_reaching_the_lan() {
    use wire::dhcp::{ClasslessRoutes, MessageType, Op, OptionCode, Packet, Repr};
    let mut w = world(WorldConfig {
        extra_server_yaml: "client_routes: [192.168.100.0/24, 172.16.0.0/12]\n\
                            client_domain: corp.example\n"
            .into(),
        ..WorldConfig::default()
    });
    let c = w.add_client(xp_modp1024(), PRIVATE, true, "alice", "alice-pass");
    connect(&mut w, c);
    let addr = w.client(c).assigned_address().unwrap();
    // The first host of the default pool: the server's own address on the links.
    let server_addr = Ipv4Addr::new(10, 99, 0, 1);

    let inform = packet::dhcp_inform(addr, 0x5eed_1234);
    while w.client_mut(c).poll_ip().is_some() {}
    let lan_before = w.lan_received().len();
    w.send_ip(c, &inform).unwrap();
    w.run_for(Duration::from_secs(2));

    // Not forwarded to the LAN side.
    assert!(
        w.lan_received()[lan_before..]
            .iter()
            .all(|p| p.as_slice() != inform.as_slice()),
        "the INFORM leaked into the TUN"
    );
    // One DHCPACK from the server to the client's address, port 67 -> 68.
    let replies: Vec<Vec<u8>> = w.client(c).received_ip().map(<[u8]>::to_vec).collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    let ip = &replies[0];
    assert_eq!(packet::addresses(ip), Some((server_addr, addr)));
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let udp = &ip[ihl..];
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 67);
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 68);
    let msg = Packet::new_checked(&udp[8..]).unwrap();
    let ack = Repr::parse(&msg).unwrap();
    assert_eq!(ack.op, Op::Reply);
    assert_eq!(ack.xid, 0x5eed_1234);
    assert_eq!(ack.ciaddr, addr);
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(
        ack.option(OptionCode::ServerIdentifier),
        Some(&server_addr.octets()[..])
    );
    assert_eq!(
        ack.option(OptionCode::DomainName),
        Some(&b"corp.example"[..])
    );
    for code in [
        OptionCode::ClasslessStaticRoute,
        OptionCode::MsClasslessStaticRoute,
    ] {
        let routes: Vec<(Ipv4Addr, u8, Ipv4Addr)> =
            ClasslessRoutes::new(ack.option(code).expect("routes option"))
                .map(|r| {
                    let r = r.unwrap();
                    (r.destination, r.prefix_len, r.router)
                })
                .collect();
        assert_eq!(
            routes,
            vec![
                (Ipv4Addr::new(192, 168, 100, 0), 24, server_addr),
                (Ipv4Addr::new(172, 16, 0, 0), 12, server_addr),
            ],
            "{code:?}"
        );
    }
}
