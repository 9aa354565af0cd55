//! The seed corpora: what our own simulated clients put on the wire, cut into the input format
//! of every fuzz target.
//!
//! - `server_inputs`: worlds of one or two clients (the Windows XP, Windows 10, Linux
//!   strongSwan and iOS profiles, behind the NAT and not, MS-CHAPv2, CHAP, MS-CHAPv1 and PAP,
//!   a wrong password) against the server of [`fixtures::server_world`], tapped, as scripts: a
//!   seed replays the whole life of a connection (Main Mode, Quick Mode, L2TP, PPP, pings, a
//!   DHCPINFORM, LCP echo, L2TP Hello, DPD, a Quick Mode rekey with its Delete, a Main Mode
//!   rekey, the hang-up).
//! - The parser targets get every message of those worlds at its layer: ISAKMP messages (and
//!   their encrypted bodies decrypted with the server's key log, with the E flag kept and as
//!   plain messages), NAT-T datagrams, ESP packets and their decrypted payloads with the
//!   trailer, inner UDP datagrams, L2TP messages and AVP chains, PPP frames, CHAP/PAP packets
//!   and MS-CHAP values, IPv4 packets, DHCP messages; the L2TP datagrams re-sealed with the
//!   `esp_open` fixture's SA; DH public values and CBC inputs.
//! - The engine targets (`ike_responder`, `ppp_link`, `ppp_peer`, `l2tp_lns`) and `dataplane`
//!   get exchanges recorded against their own fixture, so that every seed replays exactly.
//!   `dataplane`'s include TCP handshakes and LAN packets larger than the sessions' MTU;
//!   every packet through the TUN also seeds `ip_icmp_frag_needed` and, if TCP, `ip_tcp_mss`.
//!
//! Everything is seeded: two calls give the same corpus byte for byte.

use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use server::Event;
use wire::dhcp::{DhcpOption, MessageType, Op, OptionCode};
use wire::ip::{Protocol, ipv4, udp};
use wire::isakmp::{self, Payload};

use super::decode::{self, IkeDecryptor, Keys};
use super::fixtures::{self, HOSTS, LAN_HOST, SERVER_IP};
use super::script::{FrameStep, Step, Writer};
use crate::client::{Client, ClientConfig, Stage, Transmit};
use crate::world::{TapKind, TapRecord};
use crate::{Error, Profile, World, packet};

/// Seeds one run may add to one parser target (the first ones are kept).
const MAX_PER_RUN: usize = 80;
/// L2TP datagrams of one run re-sealed for `esp_open`.
const MAX_RESEALED_PER_RUN: usize = 12;
/// Virtual time a client may take to come up.
const CONNECT_LIMIT: Duration = Duration::from_secs(120);

/// The fuzz targets, with the groups of seeds they get.
pub const TARGETS: &[&str] = &[
    "config_yaml",
    "crypto_cbc",
    "crypto_dh_peer",
    "dhcp_inform",
    "dhcp_message",
    "esp_header",
    "esp_open",
    "dataplane",
    "esp_replay",
    "ike_responder",
    "ike_suites",
    "ip_gso_split",
    "ip_icmp_frag_needed",
    "ip_ipv4",
    "ip_tcp_mss",
    "ip_udp",
    "isakmp_message",
    "l2tp_avp",
    "l2tp_header",
    "l2tp_hidden",
    "l2tp_lns",
    "natt_classify",
    "ppp_auth",
    "ppp_frame",
    "ppp_link",
    "ppp_peer",
    "server_inputs",
];

/// Seeds by target, each with a name (`<run>-<kind>-<n>`).
#[derive(Debug, Default, Clone)]
pub struct Corpus {
    seeds: BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>,
    seen: HashMap<&'static str, HashSet<Vec<u8>>>,
    per_run: HashMap<(&'static str, String), usize>,
}

impl Corpus {
    /// Adds a seed unless the target has it already or the run gave it enough.
    fn add(&mut self, target: &'static str, run: &str, kind: &str, bytes: Vec<u8>) {
        let count = self.per_run.entry((target, run.to_owned())).or_default();
        if *count >= MAX_PER_RUN && !is_script(target) {
            return;
        }
        if !self.seen.entry(target).or_default().insert(bytes.clone()) {
            return;
        }
        *count += 1;
        let seeds = self.seeds.entry(target).or_default();
        let name = format!("{run}-{kind}-{:04}", seeds.len());
        seeds.insert(name, bytes);
    }

    /// The seeds of `target` by name.
    pub fn get(&self, target: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.seeds.get(target)
    }

    /// Every target with its seeds.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &BTreeMap<String, Vec<u8>>)> {
        self.seeds.iter().map(|(t, s)| (*t, s))
    }

    /// Writes every seed to `dir/<target>/<name>`; returns how many were written. Files
    /// already there (inputs a fuzzer found) are left alone.
    pub fn write(&self, dir: &Path) -> std::io::Result<usize> {
        let mut n = 0;
        for (target, seeds) in &self.seeds {
            let sub = dir.join(target);
            std::fs::create_dir_all(&sub)?;
            for (name, bytes) in seeds {
                std::fs::write(sub.join(name), bytes)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn is_script(target: &str) -> bool {
    matches!(
        target,
        "server_inputs" | "ike_responder" | "dataplane" | "ppp_link" | "ppp_peer" | "l2tp_lns"
    )
}

/// Makes every seed. `base` is any instant (nothing reads the clock).
pub fn generate(base: Instant) -> Result<Corpus, Error> {
    let mut c = Corpus::default();
    for run in world_runs() {
        let rec = record_world(&run, base)?;
        c.add(
            "server_inputs",
            run.name,
            "script",
            server_script(run.variant, &rec.records),
        );
        Dissect::new(&mut c, run.name, &rec.keys).run(&rec.records);
    }
    for (name, profile, behind_nat, rekey_ike) in ike_runs() {
        let script = ike_script(profile, behind_nat, rekey_ike, base)?;
        c.add("ike_responder", name, "script", script);
    }
    ppp_seeds(&mut c, base);
    l2tp_seeds(&mut c, base);
    dataplane_seeds(&mut c, base)?;
    for v in 0..fixtures::SERVER_VARIANTS {
        let w = fixtures::server_world(v);
        c.add(
            "config_yaml",
            "fixture",
            "l2tpd",
            w.server_yaml().into_bytes(),
        );
    }
    c.add(
        "config_yaml",
        "fixture",
        "users",
        crate::DEFAULT_USERS.as_bytes().to_vec(),
    );
    Ok(c)
}

// ---- worlds -------------------------------------------------------------------------------

/// One client of a world run.
struct ClientSpec {
    profile: Profile,
    behind_nat: bool,
    user: &'static str,
    password: &'static str,
}

/// One tapped world.
struct WorldRun {
    name: &'static str,
    variant: u8,
    clients: Vec<ClientSpec>,
    rekey_ike: bool,
}

fn with_auth(mut p: Profile, auth: ppp::AuthProtocol) -> Profile {
    p.auth_protocols = vec![auth];
    p
}

fn world_runs() -> Vec<WorldRun> {
    let one = |name, variant, profile: Profile, behind_nat| WorldRun {
        name,
        variant,
        clients: vec![ClientSpec {
            profile,
            behind_nat,
            user: "alice",
            password: "alice-pass",
        }],
        rekey_ike: false,
    };
    let ios = || Profile::ios(50431);
    let mut runs = vec![
        one("xp-nat", 0, Profile::windows_xp_sp2(), true),
        one("xp-direct", 0, Profile::windows_xp_sp2(), false),
        one("win10-nat", 0, Profile::windows_10(), true),
        one("win10-direct", 0, Profile::windows_10(), false),
        one("strongswan-nat", 0, Profile::linux_strongswan(), true),
        one("ios-nat", 0, ios(), true),
        one("xp-raw", 1, Profile::windows_xp_sp2(), false),
        one("win10-raw", 1, Profile::windows_10(), false),
        one("win10-nat-notrick", 1, Profile::windows_10(), true),
        one("strongswan-raw", 1, Profile::linux_strongswan(), false),
        one("ios-nat-notrick", 1, ios(), true),
        one(
            "chap",
            0,
            with_auth(Profile::linux_strongswan(), ppp::AuthProtocol::Chap),
            true,
        ),
        one(
            "mschapv1",
            1,
            with_auth(Profile::windows_xp_sp2(), ppp::AuthProtocol::MsChapV1),
            false,
        ),
        one(
            "pap",
            0,
            with_auth(Profile::linux_strongswan(), ppp::AuthProtocol::Pap),
            true,
        ),
    ];
    let mut rekey = one("win10-rekey-ike", 0, Profile::windows_10(), true);
    rekey.rekey_ike = true;
    runs.push(rekey);
    let mut wrong = one("wrong-password", 0, Profile::windows_10(), true);
    if let Some(c) = wrong.clients.first_mut() {
        c.password = "not-the-password";
    }
    runs.push(wrong);
    runs.push(WorldRun {
        name: "two-behind-nat",
        variant: 0,
        clients: vec![
            ClientSpec {
                profile: Profile::windows_xp_sp2(),
                behind_nat: true,
                user: "alice",
                password: "alice-pass",
            },
            ClientSpec {
                profile: Profile::windows_10().with_host_name("OFFICE-2"),
                behind_nat: true,
                user: "bob",
                password: "bob-pass",
            },
        ],
        rekey_ike: false,
    });
    runs
}

/// What a tapped world gave.
struct Recorded {
    records: Vec<TapRecord>,
    keys: Keys,
}

fn record_world(run: &WorldRun, base: Instant) -> Result<Recorded, Error> {
    let mut w = World::new(fixtures::server_world(run.variant), base)?;
    w.set_tap(true);
    w.server_mut().set_keylog(true);
    let mut ids = Vec::new();
    let mut direct = HOSTS.iter().skip(1);
    for (i, spec) in run.clients.iter().enumerate() {
        let private = if spec.behind_nat {
            Ipv4Addr::new(192, 168, 1, 10 + u8::try_from(i).unwrap_or(0))
        } else {
            *direct
                .next()
                .ok_or(Error::NotReady("too many direct clients"))?
        };
        let id = w.add_client(
            spec.profile.clone(),
            private,
            spec.behind_nat,
            spec.user,
            spec.password,
        );
        w.connect(id)?;
        w.run_until(
            |w| matches!(w.client(id).stage(), Stage::Up | Stage::Down),
            CONNECT_LIMIT,
        );
        ids.push(id);
    }
    let up: Vec<_> = ids
        .iter()
        .copied()
        .filter(|id| w.client(*id).is_up())
        .collect();
    for (n, &id) in up.iter().enumerate() {
        let seq = u16::try_from(n).unwrap_or(0);
        w.ping(id, LAN_HOST, seq)?;
        let Some(addr) = w.client(id).assigned_address() else {
            continue;
        };
        if w.client(id).config().profile.name.starts_with("windows") {
            let host = w.client(id).config().profile.host_name.clone();
            w.send_ip(id, &windows_inform(addr, &host))?;
        }
        w.lan_send(&packet::icmp_echo(
            LAN_HOST,
            addr,
            false,
            0x4c41,
            seq,
            b"from the LAN",
        ));
    }
    // LCP echo (30 s timer), DPD (10 s) and NAT keepalives while idle (the echoes, L2TP
    // data messages, defer the Hellos).
    w.run_for(Duration::from_secs(65));
    for &id in &up {
        let now = w.now();
        w.client_mut(id).rekey(now)?;
        w.run_for(Duration::from_secs(5));
        if run.rekey_ike {
            let now = w.now();
            w.client_mut(id).rekey_ike(now)?;
            w.run_for(Duration::from_secs(5));
        }
    }
    for &id in &up {
        let now = w.now();
        w.client_mut(id).disconnect(now);
    }
    w.run_for(Duration::from_secs(10));
    let mut keys = Keys::default();
    for e in w.events() {
        if let Event::KeylogLine(line) = e {
            keys.add_line(line);
        }
    }
    Ok(Recorded {
        records: w.take_tap(),
        keys,
    })
}

/// [`packet::dhcp_inform`] with the options a Windows client adds (RFC 2131 §4.4.3): a client
/// identifier, its host name and the vendor class `MSFT 5.0`, so that the DHCP seeds carry
/// them too.
fn windows_inform(addr: Ipv4Addr, host: &str) -> Vec<u8> {
    let mac = [0x02, 0x00, 0x4c, 0x4f, 0x4f, 0x50];
    let mut chaddr = [0u8; wire::dhcp::CHADDR_LEN];
    if let Some(c) = chaddr.get_mut(..6) {
        c.copy_from_slice(&mac);
    }
    let mut client_id = vec![1];
    client_id.extend_from_slice(&mac);
    let message_type = [u8::from(MessageType::Inform)];
    let repr = wire::dhcp::Repr {
        op: Op::Request,
        htype: 1,
        hlen: 6,
        hops: 0,
        xid: 0x5eed_1234,
        secs: 0,
        flags: 0,
        ciaddr: addr,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        siaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        chaddr,
        sname: &[],
        file: &[],
        options: vec![
            DhcpOption {
                code: OptionCode::MessageType,
                data: &message_type,
            },
            DhcpOption {
                code: OptionCode::ClientIdentifier,
                data: &client_id,
            },
            DhcpOption {
                code: OptionCode::HostName,
                data: host.as_bytes(),
            },
            DhcpOption {
                code: OptionCode::VendorClassIdentifier,
                data: b"MSFT 5.0",
            },
            DhcpOption {
                code: OptionCode::ParameterRequestList,
                data: &packet::INFORM_REQUEST_LIST,
            },
        ],
    };
    let mut dhcp = vec![0; repr.buffer_len()];
    if repr.emit(&mut dhcp).is_err() {
        return Vec::new();
    }
    packet::udp_packet(
        SocketAddrV4::new(addr, 68),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
        &dhcp,
    )
}

/// The server inputs of a tap as a `server_inputs` script (variant octet first).
fn server_script(variant: u8, records: &[TapRecord]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(variant);
    write_inputs(&mut w, records);
    w.finish()
}

/// Writes the inputs of a tap as [`Step`]s: an `Advance` before every input at a later
/// millisecond and for every timeout (the world runs timers only when due; spurious ones are
/// no-ops), then the input.
fn write_inputs(w: &mut Writer, records: &[TapRecord]) {
    let mut last_ms = 0u128;
    for r in records.iter().filter(|r| r.kind.is_input()) {
        let ms = r.at.as_millis();
        if ms > last_ms || r.kind == TapKind::Timeout {
            let delta = u32::try_from(ms.saturating_sub(last_ms)).unwrap_or(u32::MAX);
            let _ = Step::Advance { ms: delta }.write(w);
            last_ms = ms;
        }
        let step = match r.kind {
            TapKind::UdpIn { local, remote } => Step::Udp {
                local,
                remote,
                data: &r.bytes,
            },
            TapKind::EspIn { remote, .. } => Step::Esp {
                remote,
                data: &r.bytes,
            },
            TapKind::TunIn => Step::Tun { data: &r.bytes },
            _ => continue,
        };
        let _ = step.write(w);
    }
}

// ---- the layers of the recorded traffic ---------------------------------------------------

/// The DH groups in the order of the `crypto_dh_peer` target's selector.
const DH_GROUPS: [DhGroup; 6] = [
    DhGroup::Modp768,
    DhGroup::Modp1024,
    DhGroup::Modp1536,
    DhGroup::Modp2048,
    DhGroup::Ecp256,
    DhGroup::Ecp384,
];

/// The ciphers in the order of the `crypto_cbc` target's selector.
const CBC_CIPHERS: [CipherAlg; 5] = [
    CipherAlg::Des,
    CipherAlg::TripleDes,
    CipherAlg::Aes128,
    CipherAlg::Aes192,
    CipherAlg::Aes256,
];

/// A `crypto_cbc` input: cipher selector, key, IV, ciphertext.
fn cbc_seed(cipher: CipherAlg, key: &[u8], iv: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let sel = CBC_CIPHERS.iter().position(|c| *c == cipher)?;
    let mut v = vec![u8::try_from(sel).ok()?];
    v.extend_from_slice(key);
    v.extend_from_slice(iv);
    v.extend_from_slice(body);
    Some(v)
}

/// Walks a tap layer by layer and adds what it finds at each layer.
struct Dissect<'c> {
    c: &'c mut Corpus,
    run: &'static str,
    keys: &'c Keys,
    ike: IkeDecryptor,
    /// L2TP datagrams from clients: (their UDP source port, the message).
    inner: Vec<(u16, Vec<u8>)>,
    /// ESP sequence numbers by SPI, in wire order.
    seqs: BTreeMap<u32, Vec<u32>>,
}

impl<'c> Dissect<'c> {
    fn new(c: &'c mut Corpus, run: &'static str, keys: &'c Keys) -> Self {
        Self {
            c,
            run,
            keys,
            ike: IkeDecryptor::default(),
            inner: Vec::new(),
            seqs: BTreeMap::new(),
        }
    }

    fn add(&mut self, target: &'static str, kind: &str, bytes: Vec<u8>) {
        self.c.add(target, self.run, kind, bytes);
    }

    fn run(mut self, records: &[TapRecord]) {
        for r in records {
            match r.kind {
                TapKind::UdpIn { local, .. } | TapKind::UdpOut { local, .. } => {
                    let from_server = matches!(r.kind, TapKind::UdpOut { .. });
                    match local.port() {
                        crate::IKE_PORT => self.ike(&r.bytes, from_server),
                        crate::NAT_T_PORT => self.nat_t(&r.bytes, from_server),
                        _ => {}
                    }
                }
                TapKind::EspIn { .. } => self.esp(&r.bytes, false),
                TapKind::EspOut { .. } => self.esp(&r.bytes, true),
                TapKind::TunIn | TapKind::TunOut => self.ipv4(&r.bytes),
                _ => {}
            }
        }
        self.reseal();
        self.replay_windows();
    }

    /// The sequence numbers of each SA as `esp_replay` steps relative to the highest one (the
    /// tap holds each packet once, so these are the senders' orders).
    fn replay_windows(&mut self) {
        for seqs in std::mem::take(&mut self.seqs).into_values() {
            let mut top = 0u32;
            let mut seed = Vec::new();
            for seq in seqs {
                let (mode, value) = if seq >= top {
                    (1u8, seq - top)
                } else {
                    (2u8, top - seq)
                };
                let Ok(value) = u16::try_from(value) else {
                    continue;
                };
                seed.push(mode);
                seed.extend_from_slice(&value.to_be_bytes());
                top = top.max(seq);
            }
            self.add("esp_replay", "seqs", seed);
        }
    }

    /// The SA payload bodies of an ISAKMP message (plain, or decrypted with the E flag kept),
    /// as `ike_suites` inputs under the default policy (modern and legacy).
    fn sa_payloads(&mut self, msg: &[u8]) {
        let Ok(packet) = isakmp::Packet::new_checked(msg) else {
            return;
        };
        let body = msg.get(isakmp::HEADER_LEN..).unwrap_or_default();
        let mut bodies = Vec::new();
        for p in isakmp::Payloads::new(packet.next_payload(), body) {
            let Ok(p) = p else { break };
            if p.kind == isakmp::PayloadType::Sa {
                let mut seed = vec![0b0011];
                seed.extend_from_slice(p.body);
                bodies.push(seed);
            }
        }
        for seed in bodies {
            self.add("ike_suites", "sa", seed);
        }
    }

    fn nat_t(&mut self, payload: &[u8], from_server: bool) {
        self.add("natt_classify", "natt", payload.to_vec());
        match wire::natt::Repr::parse(payload) {
            Ok(wire::natt::Repr::Ike(msg)) => self.ike(msg, from_server),
            Ok(wire::natt::Repr::Esp(esp)) => self.esp(esp, from_server),
            _ => {}
        }
    }

    fn ike(&mut self, msg: &[u8], from_server: bool) {
        self.add("isakmp_message", "ike", msg.to_vec());
        let decrypted = self.ike.observe(self.keys, msg, from_server);
        if let Some(d) = decrypted {
            let body = msg.get(isakmp::HEADER_LEN..).unwrap_or_default();
            if let Some(seed) = cbc_seed(d.cipher, &d.key, &d.iv, body) {
                self.add("crypto_cbc", "ike", seed);
            }
            if let Some(plain) = decode::as_plain(&d.message) {
                self.sa_payloads(&plain);
                self.add("isakmp_message", "ike-plain", plain);
            }
            self.add("isakmp_message", "ike-decrypted", d.message);
            return;
        }
        self.sa_payloads(msg);
        // Key exchange data of Main Mode messages 3 and 4.
        let Ok(repr) = isakmp::Repr::parse(msg) else {
            return;
        };
        let isakmp::Body::Plain(payloads) = repr.body else {
            return;
        };
        let group = self.ike.group(&repr.header.initiator_cookie);
        for p in payloads {
            if let (Payload::KeyExchange(ke), Some(g)) = (p, group)
                && let Some(sel) = DH_GROUPS.iter().position(|x| *x == g)
            {
                let mut seed = vec![u8::try_from(sel).unwrap_or(0)];
                seed.extend_from_slice(ke);
                self.add("crypto_dh_peer", "ke", seed);
            }
        }
    }

    fn esp(&mut self, packet: &[u8], from_server: bool) {
        self.add("esp_header", "esp", packet.to_vec());
        let Some(spi) = packet
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
        else {
            return;
        };
        if let Some(seq) = packet
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
        {
            self.seqs.entry(spi).or_default().push(seq);
        }
        let Some(keys) = self.keys.esp(spi).cloned() else {
            return;
        };
        let Some(sa) = keys.inbound_sa(spi) else {
            return;
        };
        let mut buf = packet.to_vec();
        let Ok(opened) = sa.open(&mut buf) else {
            return;
        };
        let iv_end = wire::esp::HEADER_LEN + keys.cipher.block_len();
        let body_end = buf.len().saturating_sub(keys.integ.icv_len());
        if let Some(plain) = buf.get(iv_end..body_end) {
            self.add("esp_header", "esp-decrypted", plain.to_vec());
        }
        if let (Some(iv), Some(body)) = (
            packet.get(wire::esp::HEADER_LEN..iv_end),
            packet.get(iv_end..body_end),
        ) && let Some(seed) = cbc_seed(keys.cipher, &keys.enc_key, iv, body)
        {
            self.add("crypto_cbc", "esp", seed);
        }
        if opened.next_header == Protocol::Udp
            && let Some(datagram) = buf.get(opened.payload)
        {
            self.udp(datagram, from_server);
        }
    }

    fn udp(&mut self, datagram: &[u8], from_server: bool) {
        self.add("ip_udp", "udp", datagram.to_vec());
        let Ok(packet) = udp::Packet::new_checked(datagram) else {
            return;
        };
        let Ok(repr) = udp::Repr::parse(&packet, None) else {
            return;
        };
        // The same datagram with the checksum the ip_udp target verifies.
        let mut sum = datagram.to_vec();
        if repr.emit(&mut sum, Some(fixtures::UDP_PSEUDO)).is_ok() {
            self.add("ip_udp", "udp-checksum", sum);
        }
        let Some(msg) = packet.payload().get(..repr.payload_len) else {
            return;
        };
        if !from_server {
            self.inner.push((repr.src_port, msg.to_vec()));
        }
        self.l2tp(msg);
    }

    fn l2tp(&mut self, msg: &[u8]) {
        self.add("l2tp_header", "l2tp", msg.to_vec());
        let Ok(packet) = wire::l2tp::Packet::new_checked(msg) else {
            return;
        };
        let payload = packet.payload();
        if packet.is_control() {
            if !payload.is_empty() {
                self.add("l2tp_avp", "avps", payload.to_vec());
            }
        } else {
            self.ppp(payload);
        }
    }

    fn ppp(&mut self, frame: &[u8]) {
        self.add("ppp_frame", "ppp", frame.to_vec());
        let Ok(packet) = wire::ppp::Packet::new_checked(frame) else {
            return;
        };
        let Ok(header) = wire::ppp::Repr::parse(&packet) else {
            return;
        };
        let payload = frame.get(header.buffer_len()..).unwrap_or_default();
        match header.protocol {
            wire::ppp::Protocol::Chap | wire::ppp::Protocol::Pap => {
                self.add("ppp_auth", "auth", payload.to_vec());
                self.chap_values(payload);
            }
            wire::ppp::Protocol::Ipv4 => self.ipv4(payload),
            _ => {}
        }
    }

    /// The MS-CHAP values inside CHAP packets, on their own (the formats `ppp_auth` also
    /// parses).
    fn chap_values(&mut self, payload: &[u8]) {
        let Ok(p) = wire::ppp::control::Packet::new_checked(payload) else {
            return;
        };
        let Ok(msg) = wire::ppp::chap::Repr::parse(&p) else {
            return;
        };
        match msg.body {
            wire::ppp::chap::Body::Response { value, .. } => {
                self.add("ppp_auth", "chap-value", value.to_vec());
            }
            wire::ppp::chap::Body::Success(message) | wire::ppp::chap::Body::Failure(message) => {
                self.add("ppp_auth", "chap-message", message.to_vec());
            }
            _ => {}
        }
    }

    fn ipv4(&mut self, ip: &[u8]) {
        self.add("ip_ipv4", "ipv4", ip.to_vec());
        for (target, seed) in ip_helper_seeds(ip) {
            self.add(target, "ipv4", seed);
        }
        let Ok(packet) = ipv4::Packet::new_checked(ip) else {
            return;
        };
        let Ok(repr) = ipv4::Repr::parse(&packet) else {
            return;
        };
        if repr.protocol != Protocol::Udp {
            return;
        }
        let Ok(datagram) = udp::Packet::new_checked(packet.payload()) else {
            return;
        };
        let ports = (datagram.src_port(), datagram.dst_port());
        if ports == (68, 67) || ports == (67, 68) {
            self.add("dhcp_message", "dhcp", datagram.payload().to_vec());
            self.add("dhcp_inform", "dhcp", ip.to_vec());
            self.add("dhcp_inform", "dhcp-payload", datagram.payload().to_vec());
        }
    }

    /// The clients' L2TP datagrams sealed with the `esp_open` fixture's SA, for each of its
    /// four variants (the input's first octet).
    fn reseal(&mut self) {
        let mut rng = ChaCha20Rng::seed_from_u64(0xe5b0);
        let mut seen = HashSet::new();
        let inner = std::mem::take(&mut self.inner);
        let picked: Vec<_> = inner
            .into_iter()
            .filter(|(_, m)| seen.insert(m.clone()))
            .take(MAX_RESEALED_PER_RUN)
            .collect();
        for (port, msg) in picked {
            for selector in 0..4u8 {
                if let Some(packet) = seal_for_esp_open(selector, port, &msg, &mut rng) {
                    let mut seed = vec![selector];
                    seed.extend_from_slice(&packet);
                    self.add("esp_open", "sealed", seed);
                }
            }
        }
    }
}

/// The MTU of the fixtures' sessions: the clients' MRU, which is also `ppp.mru`'s default.
const SESSION_MTU: u16 = 1400;

/// The input of a target that reads `(u16, Vec<u8>)` through `arbitrary`: the `u16`
/// little-endian (as `arbitrary` reads integers), then the bytes.
fn u16_and(value: u16, data: &[u8]) -> Vec<u8> {
    let mut seed = value.to_le_bytes().to_vec();
    seed.extend_from_slice(data);
    seed
}

/// An IPv4 packet as the input of `ip_icmp_frag_needed` (the offending datagram, with the
/// sessions' MTU), of `ip_gso_split` (cut every 100 octets, as TCP or UDP by its protocol)
/// and, if it is TCP, of `ip_tcp_mss` (clamped to what fits that MTU, RFC 9293 §3.7.1: MTU
/// minus 40 octets of IPv4 and TCP headers).
fn ip_helper_seeds(ip: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = vec![("ip_icmp_frag_needed", u16_and(SESSION_MTU, ip))];
    let tcp = ipv4::Packet::new_checked(ip).is_ok_and(|p| p.protocol() == Protocol::Tcp);
    // `(u16, bool, Vec<u8>)` through `arbitrary`: the size, a byte whose low bit is the bool.
    let mut split = u16_and(100, &[u8::from(tcp)]);
    split.extend_from_slice(ip);
    seeds.push(("ip_gso_split", split));
    if tcp {
        seeds.push(("ip_tcp_mss", u16_and(SESSION_MTU - 40, ip)));
    }
    seeds
}

/// An L2TP message from UDP `port` to 1701 in a checksummed UDP datagram (client to server of
/// the `esp_open` fixture), sealed with the fixture's SA variant `selector`.
fn seal_for_esp_open(
    selector: u8,
    port: u16,
    msg: &[u8],
    rng: &mut ChaCha20Rng,
) -> Option<Vec<u8>> {
    let sa = esp::Sa::new(fixtures::esp_open_sa(selector, esp::Direction::Outbound)).ok()?;
    let repr = udp::Repr {
        src_port: port,
        dst_port: crate::L2TP_PORT,
        payload_len: msg.len(),
    };
    let udp_len = repr.buffer_len();
    let head = sa.overhead_before();
    let mut buf = vec![0u8; sa.sealed_len(udp_len)];
    let datagram = buf.get_mut(head..head + udp_len)?;
    datagram.get_mut(udp::HEADER_LEN..)?.copy_from_slice(msg);
    let pseudo = udp::PseudoHeader {
        src_addr: fixtures::ESP_OPEN_PEER.1,
        dst_addr: fixtures::ESP_OPEN_PEER.0,
    };
    repr.emit(datagram, Some(pseudo)).ok()?;
    let sealed = sa.seal(&mut buf, udp_len, Protocol::Udp, rng).ok()?;
    buf.truncate(sealed.len);
    Some(buf)
}

// ---- IKE against the ike_responder fixture ------------------------------------------------

fn ike_runs() -> Vec<(&'static str, Profile, bool, bool)> {
    vec![
        ("xp-nat", Profile::windows_xp_sp2(), true, false),
        ("xp-direct", Profile::windows_xp_sp2(), false, false),
        ("win10-nat", Profile::windows_10(), true, true),
        ("win10-direct", Profile::windows_10(), false, false),
        ("strongswan-nat", Profile::linux_strongswan(), true, false),
        (
            "strongswan-direct",
            Profile::linux_strongswan(),
            false,
            true,
        ),
        ("ios-nat", Profile::ios(50431), true, false),
        ("ios-direct", Profile::ios(50431), false, false),
    ]
}

/// A client of `profile` against the `ike_responder` fixture: Main Mode, Quick Mode, a Quick
/// Mode rekey and its Delete, optionally a Main Mode rekey with the Delete of the old IKE SA,
/// and dead peer detection for the profiles that announce it. Behind the NAT its ports are
/// mapped to the NAT's address. Returns the client's datagrams as a script.
fn ike_script(
    profile: Profile,
    behind_nat: bool,
    rekey_ike: bool,
    base: Instant,
) -> Result<Vec<u8>, Error> {
    let private = if behind_nat {
        fixtures::PRIVATE_IP
    } else {
        HOSTS[1]
    };
    let mut d = IkeDriver {
        r: fixtures::ike_responder(),
        c: Client::new(ClientConfig {
            profile,
            local: private,
            server: SERVER_IP,
            psk: Secret::from_slice(fixtures::IKE_PSK.as_bytes()),
            user: fixtures::PPP_USER.to_owned(),
            password: fixtures::PPP_PASSWORD.to_owned(),
            rng_seed: [0x1c; 32],
        }),
        behind_nat,
        nat: HashMap::new(),
        base,
        now: base,
        last_ms: 0,
        w: Writer::new(),
        buf: Vec::new(),
    };
    d.c.connect(base)?;
    d.pump();
    d.run_until(|c| c.stage() >= Stage::L2tpTunnel, Duration::from_secs(60));
    let now = d.now;
    d.c.rekey(now)?;
    d.pump();
    d.run_for(Duration::from_secs(4));
    if rekey_ike {
        let now = d.now;
        d.c.rekey_ike(now)?;
        d.pump();
        d.run_for(Duration::from_secs(4));
    }
    // Idle: dead peer detection for the clients that announced it.
    d.run_for(Duration::from_secs(25));
    Ok(d.w.finish())
}

struct IkeDriver {
    r: ike::Responder,
    c: Client,
    behind_nat: bool,
    nat: HashMap<SocketAddr, SocketAddr>,
    base: Instant,
    now: Instant,
    last_ms: u128,
    w: Writer,
    buf: Vec<u8>,
}

impl IkeDriver {
    fn public(&mut self, private: SocketAddr) -> SocketAddr {
        if !self.behind_nat {
            return private;
        }
        let next = 40_000 + u16::try_from(self.nat.len()).unwrap_or(0);
        *self
            .nat
            .entry(private)
            .or_insert_with(|| SocketAddr::new(IpAddr::V4(fixtures::NAT_PUBLIC_IP), next))
    }

    fn private(&self, public: SocketAddr) -> SocketAddr {
        self.nat
            .iter()
            .find(|(_, p)| **p == public)
            .map_or(public, |(private, _)| *private)
    }

    /// Moves time to `to`, as the target's `Advance` does (the responder's timers run).
    fn set_time(&mut self, to: Instant) {
        let ms = to.saturating_duration_since(self.base).as_millis();
        if ms > self.last_ms {
            let delta = u32::try_from(ms - self.last_ms).unwrap_or(u32::MAX);
            let _ = Step::Advance { ms: delta }.write(&mut self.w);
            self.last_ms = ms;
            self.now = self.base + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            self.r.handle_timeout(self.now);
        }
        if self.c.poll_timeout().is_some_and(|t| t <= self.now) {
            self.c.handle_timeout(self.now);
        }
    }

    /// Carries IKE datagrams until both sides are quiet; ESP goes nowhere.
    fn pump(&mut self) {
        for _ in 0..64 {
            let mut moved = false;
            while let Some(t) = self.c.poll_transmit(&mut self.buf) {
                let Transmit::Udp { local, remote } = t else {
                    continue;
                };
                let payload = std::mem::take(&mut self.buf);
                let msg = if remote.port() == crate::NAT_T_PORT {
                    match wire::natt::Repr::parse(&payload) {
                        Ok(wire::natt::Repr::Ike(m)) => m,
                        _ => continue,
                    }
                } else {
                    &payload[..]
                };
                let public = self.public(local);
                let step = Step::Udp {
                    local: remote,
                    remote: public,
                    data: msg,
                };
                if step.write(&mut self.w).is_some() {
                    self.r.handle_datagram(self.now, remote, public, msg);
                    moved = true;
                }
            }
            while let Some(t) = self.r.poll_transmit() {
                let private = self.private(t.remote);
                self.c.handle_udp(self.now, private, t.local, &t.payload);
                moved = true;
            }
            while self.r.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.c.poll_timeout(), self.r.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn run_until(&mut self, done: impl Fn(&Client) -> bool, max: Duration) {
        let limit = self.now + max;
        while !done(&self.c) {
            match self.next_deadline() {
                Some(t) if t <= limit => {
                    self.set_time(t.max(self.now));
                    self.pump();
                }
                _ => break,
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while let Some(t) = self.next_deadline().filter(|t| *t <= limit) {
            self.set_time(t.max(self.now));
            self.pump();
        }
        self.set_time(limit);
        self.pump();
    }
}

// ---- PPP against the ppp_link and ppp_peer fixtures ---------------------------------------

/// The longest time one frame step can move (its field is 2 octets of milliseconds).
const MAX_STEP_MS: u128 = 60_000;

/// Records frame steps with their time: `advance_ms` is the time since the previous step.
struct FrameRecorder {
    base: Instant,
    last_ms: u128,
    steps: Vec<(u16, Vec<u8>)>,
}

impl FrameRecorder {
    fn new(base: Instant) -> Self {
        Self {
            base,
            last_ms: 0,
            steps: Vec::new(),
        }
    }

    /// Records a step at `now` (whole milliseconds from `base`; long gaps get empty steps
    /// first) and returns the instant the target will use for it.
    fn step(&mut self, now: Instant, data: &[u8], mut on_gap: impl FnMut(Instant)) -> Instant {
        let ms = now.saturating_duration_since(self.base).as_millis();
        while ms.saturating_sub(self.last_ms) > MAX_STEP_MS {
            self.last_ms += MAX_STEP_MS;
            self.steps
                .push((u16::try_from(MAX_STEP_MS).unwrap_or(u16::MAX), Vec::new()));
            on_gap(self.at(self.last_ms));
        }
        let delta = u16::try_from(ms.saturating_sub(self.last_ms)).unwrap_or(u16::MAX);
        self.last_ms = ms;
        self.steps.push((delta, data.to_vec()));
        self.at(ms)
    }

    fn at(&self, ms: u128) -> Instant {
        self.base + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    fn finish(&self, header: u8, flags: u8) -> Vec<u8> {
        let steps: Vec<FrameStep<'_>> = self
            .steps
            .iter()
            .map(|(ms, data)| FrameStep {
                advance_ms: *ms,
                flags,
                data,
            })
            .collect();
        FrameStep::write_input(header, &steps)
    }
}

/// A PPP client config in the manner of `profile` (as the testkit client builds it).
fn peer_config(profile: &Profile) -> ppp::PeerConfig {
    let mut cfg = ppp::PeerConfig::new(fixtures::PPP_USER, fixtures::PPP_PASSWORD);
    cfg.auth_protocols = profile.auth_protocols.clone();
    cfg.mru = profile.mru;
    cfg.extra_lcp_options = profile.lcp_extra_options.clone();
    cfg.request_dns = profile.request_dns;
    cfg.request_wins = profile.request_wins;
    cfg
}

fn ppp_profiles() -> Vec<(&'static str, Profile)> {
    vec![
        ("xp", Profile::windows_xp_sp2()),
        ("win10", Profile::windows_10()),
        ("strongswan", Profile::linux_strongswan()),
        ("ios", Profile::ios(50431)),
        (
            "chap",
            with_auth(Profile::linux_strongswan(), ppp::AuthProtocol::Chap),
        ),
        (
            "mschapv1",
            with_auth(Profile::windows_xp_sp2(), ppp::AuthProtocol::MsChapV1),
        ),
        (
            "pap",
            with_auth(Profile::linux_strongswan(), ppp::AuthProtocol::Pap),
        ),
    ]
}

fn ppp_seeds(c: &mut Corpus, base: Instant) {
    for (name, profile) in ppp_profiles() {
        c.add("ppp_link", name, "script", ppp_link_script(&profile, base));
    }
    for auth in [
        ppp::AuthProtocol::MsChapV2,
        ppp::AuthProtocol::Chap,
        ppp::AuthProtocol::MsChapV1,
        ppp::AuthProtocol::Pap,
    ] {
        let name = match auth {
            ppp::AuthProtocol::MsChapV2 => "mschapv2",
            ppp::AuthProtocol::Chap => "chap",
            ppp::AuthProtocol::MsChapV1 => "mschapv1",
            _ => "pap",
        };
        c.add("ppp_peer", name, "script", ppp_peer_script(auth, base));
    }
}

/// A client in the manner of `profile` against the `ppp_link` fixture: LCP (with the
/// profile's Identification, CCP and IPV6CP frames), authentication, IPCP, a ping and a
/// DHCPINFORM, LCP echo while idle, and the hang-up. The client's frames are the script.
fn ppp_link_script(profile: &Profile, base: Instant) -> Vec<u8> {
    let mut link = fixtures::ppp_link(base);
    let mut peer = ppp::Peer::new(&peer_config(profile), [0x99; 32], base);
    let mut rec = FrameRecorder::new(base);
    let mut to_peer: Vec<Vec<u8>> = Vec::new();
    while let Some(f) = link.poll_transmit() {
        to_peer.push(f);
    }
    let mut now = base;
    let mut extras_sent = false;
    let mut ip_sent = false;
    let mut closed = false;
    let limit = base + Duration::from_secs(100);
    for _ in 0..10_000 {
        for f in std::mem::take(&mut to_peer) {
            let _ = peer.handle_frame(now, &f);
        }
        let mut frames = Vec::new();
        while let Some(f) = peer.poll_transmit() {
            frames.push(f);
        }
        while peer.poll_event().is_some() {}
        if !extras_sent && peer.lcp_state() == ppp::State::Opened {
            extras_sent = true;
            frames.extend(crate::client::extra_frames(profile));
        }
        if !ip_sent && peer.ipcp_state() == ppp::State::Opened {
            ip_sent = true;
            let addr = peer.address();
            for ip in [
                packet::icmp_echo(addr, LAN_HOST, false, 1, 1, b"ping"),
                windows_inform(addr, &profile.host_name),
            ] {
                let mut frame = Vec::new();
                if peer.encapsulate_ip(&ip, &mut frame).is_ok() {
                    frames.push(frame);
                }
            }
        }
        if !frames.is_empty() {
            for f in frames {
                let at = rec.step(now, &f, |t| {
                    to_peer.extend(fixtures::ppp_link_step(&mut link, t, &[]).sent);
                });
                to_peer.extend(fixtures::ppp_link_step(&mut link, at, &f).sent);
            }
            continue;
        }
        if !closed && now >= base + Duration::from_secs(70) {
            closed = true;
            peer.close(now, "user hung up");
            continue;
        }
        let next = [peer.poll_timeout(), link.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.max(now))
            .unwrap_or(limit)
            .min(if closed {
                limit
            } else {
                base + Duration::from_secs(70)
            });
        if next >= limit {
            break;
        }
        now = next.max(now + Duration::from_millis(1));
        peer.handle_timeout(now);
        if link.poll_timeout().is_some_and(|t| t <= now) {
            let at = rec.step(now, &[], |t| {
                to_peer.extend(fixtures::ppp_link_step(&mut link, t, &[]).sent);
            });
            to_peer.extend(fixtures::ppp_link_step(&mut link, at, &[]).sent);
        }
    }
    rec.finish(0, 0)
}

/// The `ppp_peer` fixture against an authenticator that asks for `auth`; the authenticator's
/// frames are the script (with LCP echo while idle and a Terminate-Request at the end).
fn ppp_peer_script(auth: ppp::AuthProtocol, base: Instant) -> Vec<u8> {
    let cfg = ppp::LinkConfig {
        auth_protocols: vec![auth],
        echo_interval: Duration::from_secs(20),
        ..fixtures::ppp_link_config()
    };
    let mut link = ppp::Link::new(&cfg, [0x55; 32], base);
    let mut peer = fixtures::ppp_peer(base);
    let mut rec = FrameRecorder::new(base);
    let mut to_link: Vec<Vec<u8>> = Vec::new();
    let mut now = base;
    let mut closed = false;
    let limit = base + Duration::from_secs(60);
    for _ in 0..10_000 {
        for f in std::mem::take(&mut to_link) {
            let _ = link.handle_frame(now, &f, &mut fixtures::PppUsers);
        }
        while link.poll_event().is_some() {}
        let mut frames = Vec::new();
        while let Some(f) = link.poll_transmit() {
            frames.push(f);
        }
        if !frames.is_empty() {
            for f in frames {
                let at = rec.step(now, &f, |t| {
                    to_link.extend(fixtures::ppp_peer_step(&mut peer, t, &[]).sent);
                });
                to_link.extend(fixtures::ppp_peer_step(&mut peer, at, &f).sent);
            }
            continue;
        }
        if !closed && now >= base + Duration::from_secs(45) {
            closed = true;
            link.close(now, "administratively closed");
            continue;
        }
        let next = [peer.poll_timeout(), link.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(limit);
        if next >= limit {
            break;
        }
        now = next.max(now + Duration::from_millis(1));
        link.handle_timeout(now);
        if peer.poll_timeout().is_some_and(|t| t <= now) {
            let at = rec.step(now, &[], |t| {
                to_link.extend(fixtures::ppp_peer_step(&mut peer, t, &[]).sent);
            });
            to_link.extend(fixtures::ppp_peer_step(&mut peer, at, &[]).sent);
        }
    }
    rec.finish(0, 0)
}

// ---- L2TP against the l2tp_lns fixture ----------------------------------------------------

/// A LAC in the manner of a profile (host name, vendor, firmware, window, IDs).
fn lac_config(profile: &Profile, secret: bool) -> l2tp::LacConfig {
    l2tp::LacConfig {
        host_name: profile.host_name.clone(),
        vendor_name: profile.vendor_name.clone(),
        firmware_revision: profile.firmware_revision,
        receive_window: profile.receive_window,
        tunnel_id: profile.tunnel_id,
        first_session_id: profile.session_id,
        data_length_field: profile.data_length_field,
        secret: secret.then(|| l2tp::TunnelSecret::new(fixtures::L2TP_SECRET)),
        hide_avps: secret,
        ..l2tp::LacConfig::default()
    }
}

fn l2tp_seeds(c: &mut Corpus, base: Instant) {
    for (name, profile, secret) in [
        ("xp", Profile::windows_xp_sp2(), false),
        ("win10", Profile::windows_10(), false),
        ("strongswan", Profile::linux_strongswan(), false),
        ("ios-secret", Profile::ios(50431), true),
        ("win10-secret", Profile::windows_10(), true),
    ] {
        let (script, sent) = lns_script(&profile, secret, base);
        c.add("l2tp_lns", name, "script", script);
        if secret {
            for seed in hidden_seeds(&sent) {
                c.add("l2tp_hidden", name, "hidden", seed);
            }
        }
    }
    // Data for the fixture's live session, aimed at its tunnel.
    for secret in [false, true] {
        let mut fx = fixtures::LnsFixture::new(secret, base);
        let Some(key) = fx.lac_session else {
            continue;
        };
        let frames: [&[u8]; 3] = [
            &[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04],
            &[0xff, 0x03, 0x00, 0x21, 0x45, 0x00, 0x00, 0x14],
            &[0xc0, 0x21, 0x09, 0x07, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00],
        ];
        let mut steps = Vec::new();
        for f in frames {
            let mut out = Vec::new();
            if fx.lac.encode_data(key, f, &mut out).is_ok() {
                steps.push(out);
            }
        }
        let steps: Vec<FrameStep<'_>> = steps
            .iter()
            .map(|d| FrameStep {
                advance_ms: 10,
                flags: 3,
                data: d,
            })
            .collect();
        c.add(
            "l2tp_lns",
            "live",
            "data",
            FrameStep::write_input(u8::from(secret), &steps),
        );
    }
}

/// A LAC in the manner of `profile` against the `l2tp_lns` fixture: tunnel, session, PPP
/// frames, an idle minute (Hello), the session's CDN and the tunnel's StopCCN. Returns the
/// script and every datagram the LAC sent.
fn lns_script(profile: &Profile, secret: bool, base: Instant) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut fx = fixtures::LnsFixture::new(secret, base);
    let mut lac = l2tp::Lac::new(lac_config(profile, secret), [0x3c; 32]);
    let mut rec = FrameRecorder::new(base);
    let mut sent = Vec::new();
    let mut now = base;
    let mut to_lac: Vec<Vec<u8>> = Vec::new();
    let tunnel = lac.connect(now, crate::L2TP_PORT).ok();
    let mut session = None;
    let mut data_sent = false;
    let mut closed = false;
    let limit = base + Duration::from_secs(120);
    let flags = 1;
    for _ in 0..10_000 {
        for d in std::mem::take(&mut to_lac) {
            let _ = lac.handle_datagram(now, crate::L2TP_PORT, &d);
        }
        let mut out = Vec::new();
        while let Some(t) = lac.poll_transmit() {
            out.push(t.payload);
        }
        while let Some(e) = lac.poll_event() {
            match e {
                l2tp::Event::TunnelUp { tunnel: t, .. } if session.is_none() => {
                    session = lac.open_session(now, t).ok();
                }
                l2tp::Event::SessionUp { .. } if !data_sent => {
                    data_sent = true;
                    if let Some(key) = session {
                        for f in crate::client::extra_frames(profile) {
                            let mut d = Vec::new();
                            if lac.encode_data(key, &f, &mut d).is_ok() {
                                out.push(d);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !out.is_empty() {
            for d in out {
                let step = |fx: &mut fixtures::LnsFixture, t: Instant, data: &[u8]| {
                    fx.step(
                        t,
                        &FrameStep {
                            advance_ms: 0,
                            flags,
                            data,
                        },
                    )
                    .transmits
                };
                let at = rec.step(now, &d, |t| to_lac.extend(step(&mut fx, t, &[])));
                to_lac.extend(step(&mut fx, at, &d));
                sent.push(d);
            }
            continue;
        }
        if !closed && now >= base + Duration::from_secs(75) {
            closed = true;
            if let Some(key) = session {
                let _ = lac.close_session(
                    now,
                    key,
                    l2tp::codes::cdn::ADMINISTRATIVE,
                    Some("user hung up"),
                );
            }
            continue;
        }
        if closed && now >= base + Duration::from_secs(80) && tunnel.is_some() {
            lac.close_all(now);
        }
        let next = [lac.poll_timeout(), fx.lns.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(limit)
            .min((base + Duration::from_secs(if closed { 80 } else { 75 })).max(now));
        if next >= limit
            || (closed && lac.poll_timeout().is_none() && now > base + Duration::from_secs(80))
        {
            break;
        }
        now = next.max(now + Duration::from_millis(1));
        lac.handle_timeout(now);
        if fx.lns.poll_timeout().is_some_and(|t| t <= now) {
            let at = rec.step(now, &[], |_| {});
            to_lac.extend(
                fx.step(
                    at,
                    &FrameStep {
                        advance_ms: 0,
                        flags,
                        data: &[],
                    },
                )
                .transmits,
            );
        }
    }
    (rec.finish(u8::from(secret), flags), sent)
}

/// `l2tp_hidden` inputs from the hidden AVPs of control messages: attribute type, the tunnel
/// secret, the Random Vector in force, the hidden value.
fn hidden_seeds(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for msg in messages {
        let Ok(packet) = wire::l2tp::Packet::new_checked(&msg[..]) else {
            continue;
        };
        if !packet.is_control() {
            continue;
        }
        let mut rv: Vec<u8> = Vec::new();
        for avp in wire::l2tp::Avps::new(packet.payload()) {
            let Ok(avp) = avp else { break };
            if let Ok(wire::l2tp::AvpRepr::RandomVector(v)) = wire::l2tp::AvpRepr::parse(&avp) {
                rv = v.to_vec();
            }
            if avp.hidden {
                let mut w = Writer::new();
                w.u16(avp.attr_type)
                    .bytes(fixtures::L2TP_SECRET.as_bytes())
                    .bytes(&rv);
                let mut seed = w.finish();
                seed.extend_from_slice(avp.value);
                out.push(seed);
            }
        }
    }
    out
}

// ---- the data plane -----------------------------------------------------------------------

/// Traffic of the `dataplane` fixture's sessions after they came up, as scripts: the clients'
/// pings and DHCPINFORMs (ESP), LAN packets to them (TUN), TCP handshakes (MSS clamping both
/// ways) and LAN packets larger than the sessions' MTU (an ICMP error with "don't fragment",
/// else fragments), an idle minute (echo, Hello, keepalives), a NAT rebinding, a rekey. The
/// packets through the TUN also seed the IPv4 helper targets.
fn dataplane_seeds(c: &mut Corpus, base: Instant) -> Result<(), Error> {
    let mut w = fixtures::dataplane_world(base)?;
    let ids: Vec<_> = (0..w.client_count()).collect();
    // Start the script where the fixture's transcript ends.
    let start = w.elapsed();
    let _ = w.take_tap();
    let mut scripts = Vec::new();
    let mut tun_packets = Vec::new();
    let mut cut = |w: &mut World, name: &'static str| {
        let records = w.take_tap();
        let mut rebased: Vec<TapRecord> = records
            .into_iter()
            .map(|mut r| {
                r.at = r.at.saturating_sub(start);
                r
            })
            .collect();
        tun_packets.extend(
            rebased
                .iter()
                .filter(|r| matches!(r.kind, TapKind::TunIn | TapKind::TunOut))
                .map(|r| r.bytes.clone()),
        );
        rebased.retain(|r| r.kind.is_input());
        let mut wr = Writer::new();
        write_inputs(&mut wr, &rebased);
        scripts.push((name, wr.finish()));
    };
    for (n, &id) in ids.iter().enumerate() {
        let seq = u16::try_from(n).unwrap_or(0);
        w.ping(id, LAN_HOST, seq)?;
        if let Some(addr) = w.client(id).assigned_address() {
            w.send_ip(id, &windows_inform(addr, "DATAPLANE"))?;
            w.lan_send(&packet::icmp_echo(LAN_HOST, addr, false, 7, seq, b"lan"));
            w.lan_send(&packet::udp_packet(
                SocketAddrV4::new(LAN_HOST, 53),
                SocketAddrV4::new(addr, 5353),
                b"dns answer",
            ));
        }
        w.run_for(Duration::from_millis(200));
    }
    cut(&mut w, "traffic");
    for (n, &id) in ids.iter().enumerate() {
        let Some(addr) = w.client(id).assigned_address() else {
            continue;
        };
        let client = SocketAddrV4::new(addr, 50_000 + u16::try_from(n).unwrap_or(0));
        let server = SocketAddrV4::new(LAN_HOST, 80);
        w.send_ip(id, &packet::tcp_syn(client, server, false, 1460))?;
        w.run_for(Duration::from_millis(50));
        w.lan_send(&packet::tcp_syn(server, client, true, 1460));
        let dns = SocketAddrV4::new(LAN_HOST, 53);
        let big = packet::udp_packet(dns, SocketAddrV4::new(addr, 5353), &[0x5a; 1472]);
        w.lan_send(&big);
        w.lan_send(&packet::may_fragment(big));
        w.run_for(Duration::from_millis(200));
    }
    cut(&mut w, "sizes");
    w.run_for(Duration::from_secs(65));
    cut(&mut w, "idle");
    if let Some(&first) = ids.first() {
        w.remap_nat(first);
        w.ping(first, LAN_HOST, 99)?;
        w.run_for(Duration::from_millis(200));
        cut(&mut w, "rebind");
        let now = w.now();
        w.client_mut(first).rekey(now)?;
        w.run_for(Duration::from_secs(5));
        w.ping(first, LAN_HOST, 100)?;
        w.run_for(Duration::from_millis(200));
        cut(&mut w, "rekey");
    }
    for (name, script) in scripts {
        c.add("dataplane", name, "script", script);
    }
    for ip in &tun_packets {
        for (target, seed) in ip_helper_seeds(ip) {
            c.add(target, "dataplane", "ipv4", seed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Every kind of seed replays as recorded when read back the way its target reads it.

    use super::*;
    use crate::fuzz::script::Reader;

    #[allow(clippy::disallowed_methods)]
    fn base() -> Instant {
        Instant::now()
    }

    fn run(name: &str) -> WorldRun {
        world_runs().into_iter().find(|r| r.name == name).unwrap()
    }

    /// What the `server_inputs` target does with a script, returning every output.
    fn replay_server(script: &[u8], base: Instant) -> (Vec<(TapKind, Vec<u8>)>, Vec<Event>) {
        let mut r = Reader::new(script);
        let variant = r.u8().unwrap();
        let parts = fixtures::server_parts(variant);
        let mut s = parts.build(base);
        let mut now = base;
        let mut out = Vec::new();
        let mut events = Vec::new();
        let mut buf = Vec::new();
        while let Some(step) = Step::read(&mut r) {
            match step {
                Step::Udp {
                    local,
                    remote,
                    data,
                } => s.handle_udp(now, local, remote, data),
                Step::Esp { remote, data } => s.handle_esp(now, SERVER_IP, remote, data),
                Step::Tun { data } => s.handle_tun(now, data),
                Step::Advance { ms } => {
                    now += Duration::from_millis(u64::from(ms));
                    s.handle_timeout(now);
                }
                Step::ReloadUsers => s.reload_users(now, parts.users.clone()),
                Step::Hold => {}
            }
            while let Some(t) = s.poll_transmit(&mut buf) {
                let kind = match t {
                    server::Transmit::Udp { local, remote } => TapKind::UdpOut { local, remote },
                    server::Transmit::Esp { local, remote } => TapKind::EspOut { local, remote },
                    _ => TapKind::TunOut,
                };
                out.push((kind, buf.clone()));
            }
            events.extend(core::iter::from_fn(|| s.poll_event()));
        }
        (out, events)
    }

    /// A server script makes the fixture server send exactly what the world's server sent, so
    /// the fuzzer starts from the inside of a whole connection, past Main Mode.
    #[test]
    fn server_scripts_replay_byte_for_byte() {
        for name in ["xp-nat", "win10-raw", "two-behind-nat", "pap"] {
            let run = run(name);
            let base = base();
            let rec = record_world(&run, base).unwrap();
            let script = server_script(run.variant, &rec.records);
            let (out, events) = replay_server(&script, base);
            let recorded: Vec<(TapKind, Vec<u8>)> = rec
                .records
                .iter()
                .filter(|r| !r.kind.is_input())
                .map(|r| (r.kind, r.bytes.clone()))
                .collect();
            assert_eq!(out.len(), recorded.len(), "{name}: number of outputs");
            for (i, (a, b)) in out.iter().zip(&recorded).enumerate() {
                assert_eq!(a, b, "{name}: output {i}");
            }
            let ups = events
                .iter()
                .filter(|e| matches!(e, Event::SessionUp { .. }))
                .count();
            assert_eq!(ups, run.clients.len(), "{name}: sessions up");
        }
    }

    #[test]
    fn ike_scripts_reach_quick_mode_rekey_delete_and_dpd() {
        for (name, profile, behind_nat, rekey_ike) in ike_runs() {
            let dpd = profile
                .vendor_ids
                .iter()
                .any(|v| v[..] == ike::vendor::DPD[..]);
            let script = ike_script(profile, behind_nat, rekey_ike, base()).unwrap();
            let mut r = fixtures::ike_responder();
            let mut now = base();
            let (mut children, mut deleted, mut sent_informational) = (0, 0, 0);
            for step in Step::read_all(&script) {
                match step {
                    Step::Udp {
                        local,
                        remote,
                        data,
                    } => r.handle_datagram(now, local, remote, data),
                    Step::Advance { ms } => {
                        now += Duration::from_millis(u64::from(ms));
                        r.handle_timeout(now);
                    }
                    _ => {}
                }
                while let Some(t) = r.poll_transmit() {
                    let msg = t.payload.strip_prefix(&[0, 0, 0, 0]).unwrap_or(&t.payload);
                    if msg.get(18) == Some(&u8::from(isakmp::ExchangeType::Informational)) {
                        sent_informational += 1;
                    }
                }
                while let Some(e) = r.poll_event() {
                    match e {
                        ike::Event::ChildSaEstablished(_) => children += 1,
                        ike::Event::SaDeleted { .. } => deleted += 1,
                        _ => {}
                    }
                }
            }
            let expected = if rekey_ike { 3 } else { 2 };
            assert_eq!(children, expected, "{name}: Quick Modes");
            assert!(deleted >= expected - 1, "{name}: Deletes {deleted}");
            if dpd {
                assert!(sent_informational > 0, "{name}: no R-U-THERE");
            }
        }
    }

    /// The PPP protocol number and code of a frame as the engines send it (`FF 03` first).
    fn proto_code(frame: &[u8]) -> Option<(u16, u8)> {
        let p = frame.get(2..4)?;
        Some((u16::from_be_bytes([p[0], p[1]]), *frame.get(4)?))
    }

    #[test]
    fn ppp_link_scripts_reach_ipcp_and_ip() {
        for (name, profile) in ppp_profiles() {
            let script = ppp_link_script(&profile, base());
            let base = base();
            let mut link = fixtures::ppp_link(base);
            let (_, steps) = FrameStep::read_input(&script);
            let mut now = base;
            let mut ip_up = false;
            let mut acked_ipcp = false;
            for s in steps {
                now += Duration::from_millis(u64::from(s.advance_ms));
                for f in fixtures::ppp_link_step(&mut link, now, s.data).sent {
                    acked_ipcp |= proto_code(&f) == Some((0x8021, 2));
                }
                ip_up |= link.ip_up();
            }
            assert!(acked_ipcp && ip_up, "{name}: IPCP did not open");
            assert_eq!(link.user(), Some(fixtures::PPP_USER), "{name}");
        }
    }

    #[test]
    fn ppp_peer_scripts_reach_ipcp() {
        for auth in [
            ppp::AuthProtocol::MsChapV2,
            ppp::AuthProtocol::Chap,
            ppp::AuthProtocol::MsChapV1,
            ppp::AuthProtocol::Pap,
        ] {
            let script = ppp_peer_script(auth, base());
            let base = base();
            let mut peer = fixtures::ppp_peer(base);
            let (_, steps) = FrameStep::read_input(&script);
            let mut now = base;
            let mut opened = false;
            for s in steps {
                now += Duration::from_millis(u64::from(s.advance_ms));
                let _ = fixtures::ppp_peer_step(&mut peer, now, s.data);
                opened |= peer.ipcp_state() == ppp::State::Opened;
            }
            assert!(opened, "{auth}: IPCP did not open");
        }
    }

    #[test]
    fn lns_scripts_open_a_second_session_and_close_it() {
        for (name, profile, secret) in [
            ("xp", Profile::windows_xp_sp2(), false),
            ("ios-secret", Profile::ios(50431), true),
        ] {
            let (script, sent) = lns_script(&profile, secret, base());
            let base = base();
            let (header, steps) = FrameStep::read_input(&script);
            let mut fx = fixtures::LnsFixture::new(header & 1 != 0, base);
            let mut now = base;
            let mut most = 0;
            for s in steps {
                now += Duration::from_millis(u64::from(s.advance_ms));
                let _ = fx.step(now, &s);
                most = most.max(fx.lns.sessions().len());
            }
            assert_eq!(most, 2, "{name}: the script's session did not come up");
            assert_eq!(fx.lns.tunnel_count(), 1, "{name}: StopCCN did not close");
            if secret {
                assert!(!hidden_seeds(&sent).is_empty(), "{name}: nothing hidden");
            }
        }
    }

    /// What one `dataplane` seed does to the data plane of a fresh fixture server, driven as
    /// the target drives it: the counters it moved and the DHCPINFORMs handed over.
    fn drive_data_plane(
        fixture: &fixtures::DataPlaneFixture,
        script: &[u8],
    ) -> (server::DataPlaneStats, usize) {
        let (mut server, mut now) = fixture.replay(base());
        let dp = server.data_plane();
        let before = dp.stats();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut batch = server::Batch::new();
        let mut dhcp = 0;
        let mut act = |server: &mut server::Server, now, verdict, buf: &[u8]| {
            if let server::Inbound::ToOwner(h) = verdict {
                dhcp += usize::from(h.reason == server::HandoffReason::Dhcp);
                server.handle_decrypted(now, &h, &buf[h.l2tp.clone()]);
            }
        };
        for step in Step::read_all(script) {
            match step {
                Step::Udp {
                    local,
                    remote,
                    data,
                } => {
                    let mut buf = data.to_vec();
                    let v = dp.inbound_udp(now, local, remote, &mut buf);
                    act(&mut server, now, v, &buf);
                }
                Step::Esp { remote, data } => {
                    let mut buf = data.to_vec();
                    let v = dp.inbound_esp(now, SERVER_IP, remote, &mut buf);
                    act(&mut server, now, v, &buf);
                }
                Step::Tun { data } => {
                    batch.clear();
                    let _ = dp.outbound(now, data, &mut batch, &mut rng);
                }
                Step::Advance { ms } => {
                    now += Duration::from_millis(u64::from(ms));
                    server.handle_timeout(now);
                }
                _ => {}
            }
            if dp.notes_pending() {
                server.handle_timeout(now);
            }
        }
        let after = dp.stats();
        let mut delta = server::DataPlaneStats::default();
        delta.to_tun = after.to_tun - before.to_tun;
        delta.sealed = after.sealed - before.sealed;
        delta.mss_clamped = after.mss_clamped - before.mss_clamped;
        delta.icmp_too_big = after.icmp_too_big - before.icmp_too_big;
        delta.fragmented = after.fragmented - before.fragmented;
        (delta, dhcp)
    }

    /// The seeds of the data plane reach it: packets to the TUN and sealed for clients,
    /// DHCPINFORMs handed over, MSS clamping both ways, an ICMP error for a packet too big
    /// with "don't fragment", fragments without.
    #[test]
    fn dataplane_scripts_use_the_data_plane() {
        let fixture = fixtures::DataPlaneFixture::new().unwrap();
        assert_eq!(fixture.sessions.len(), 3);
        let mut c = Corpus::default();
        dataplane_seeds(&mut c, base()).unwrap();
        let seeds = c.get("dataplane").unwrap();
        let script = |name: &str| seeds.iter().find(|(n, _)| n.starts_with(name)).unwrap().1;
        // Three clients ping and send a DHCPINFORM; the LAN answers and writes to each
        // client twice.
        let (traffic, dhcp) = drive_data_plane(&fixture, script("traffic"));
        assert!(traffic.to_tun >= 3, "to TUN: {traffic:?}");
        assert_eq!(dhcp, 3, "DHCPINFORMs handed over");
        assert!(traffic.sealed >= 6, "sealed: {traffic:?}");
        // Each client opens a TCP connection to the LAN, and the LAN sends each a packet
        // larger than its MTU, first with "don't fragment", then without.
        let (sizes, _) = drive_data_plane(&fixture, script("sizes"));
        assert_eq!(sizes.mss_clamped, 6, "SYN and SYN-ACK clamped: {sizes:?}");
        assert_eq!(sizes.icmp_too_big, 3, "{sizes:?}");
        assert_eq!(sizes.fragmented, 3, "{sizes:?}");
        assert!(c.get("ip_tcp_mss").is_some_and(|s| s.len() >= 6));
        assert!(c.get("ip_icmp_frag_needed").is_some_and(|s| !s.is_empty()));
    }

    /// The layers inside ESP and the IKE encryption are in the corpus: every L2TP control
    /// message and ZLB, the decrypted Quick Mode and Informational messages, the auth
    /// protocols, the DHCPINFORM.
    #[test]
    fn inner_layers_are_decrypted() {
        let mut c = Corpus::default();
        for name in [
            "xp-nat",
            "win10-raw",
            "strongswan-nat",
            "chap",
            "mschapv1",
            "pap",
        ] {
            let run = run(name);
            let rec = record_world(&run, base()).unwrap();
            Dissect::new(&mut c, run.name, &rec.keys).run(&rec.records);
        }
        // L2TP control messages by Message Type (RFC 2661 §3.2), and a ZLB.
        let mut types = HashSet::new();
        let mut zlb = false;
        for msg in c.get("l2tp_header").unwrap().values() {
            let p = wire::l2tp::Packet::new_checked(&msg[..]).unwrap();
            if !p.is_control() {
                continue;
            }
            match wire::l2tp::Avp::parse(p.payload()) {
                Ok((avp, _)) => {
                    if let Ok(wire::l2tp::AvpRepr::MessageType(t)) =
                        wire::l2tp::AvpRepr::parse(&avp)
                    {
                        types.insert(u16::from(t));
                    }
                }
                Err(_) => zlb |= p.payload().is_empty(),
            }
        }
        // No Hello (6) here: the LCP echoes of the idle minute are L2TP data messages, which
        // defer it on both sides (RFC 2661 §6.5). The LNS script's LAC, which receives no
        // data, sends one (checked below).
        for t in [1, 2, 3, 4, 10, 11, 12, 14] {
            assert!(types.contains(&t), "no L2TP message type {t}: {types:?}");
        }
        let (_, lac_sent) = lns_script(&Profile::windows_xp_sp2(), false, base());
        assert!(
            lac_sent.iter().any(|d| {
                wire::l2tp::Packet::new_checked(&d[..]).is_ok_and(|p| {
                    p.is_control()
                        && wire::l2tp::Avp::parse(p.payload()).is_ok_and(|(avp, _)| {
                            matches!(
                                wire::l2tp::AvpRepr::parse(&avp),
                                Ok(wire::l2tp::AvpRepr::MessageType(
                                    wire::l2tp::MessageType::Hello
                                ))
                            )
                        })
                })
            }),
            "no Hello in the LNS script"
        );
        assert!(zlb, "no ZLB");
        // Decrypted IKE: Main Mode 5/6 (ID), Quick Mode (SA + Nonce), Informational with
        // Delete and with Notify (DPD, INITIAL-CONTACT).
        let mut seen = HashSet::new();
        for msg in c.get("isakmp_message").unwrap().values() {
            let Ok(repr) = isakmp::Repr::parse(msg) else {
                continue;
            };
            let isakmp::Body::Plain(payloads) = repr.body else {
                continue;
            };
            for p in payloads {
                seen.insert((u8::from(repr.header.exchange), u8::from(p.kind())));
            }
        }
        for (exchange, payload) in [(2, 5), (32, 1), (32, 10), (5, 12), (5, 11)] {
            assert!(
                seen.contains(&(exchange, payload)),
                "no decrypted exchange {exchange} with payload {payload}"
            );
        }
        // PPP authentication: CHAP codes 1-4 and PAP requests.
        let auth = c.get("ppp_auth").unwrap();
        for code in [1u8, 2, 3] {
            assert!(auth.values().any(|p| p.first() == Some(&code)));
        }
        assert!(
            c.get("ppp_frame")
                .unwrap()
                .values()
                .any(|f| f.get(2..4) == Some(&[0xc0, 0x23]))
        );
        assert!(c.get("dhcp_inform").unwrap().len() >= 2);
        assert!(!c.get("esp_open").unwrap().is_empty());
        // Quick Mode SA payloads (ESP proposals) for the selection target.
        let esp_offer = c.get("ike_suites").unwrap().values().any(|s| {
            isakmp::SaRepr::parse(&s[1..]).is_ok_and(|sa| {
                sa.proposals
                    .iter()
                    .any(|p| p.protocol == isakmp::protocol::ESP)
            })
        });
        assert!(esp_offer, "no ESP proposal among the SA payloads");
        assert!(!c.get("esp_replay").unwrap().is_empty());
    }
}
