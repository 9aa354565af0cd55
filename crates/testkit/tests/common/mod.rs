//! Helpers shared by the policy tests: a world with users.yaml, a Windows 10 client per user
//! (password `<user>-pass`, public address 192.168.1.`last_octet` behind NAT), waiting for it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ppp::AuthProtocol;
use testkit::{ClientId, Profile, World, WorldConfig};

/// How long a client may take to come up, in the world's virtual time.
pub(crate) const CONNECT_LIMIT: Duration = Duration::from_secs(120);

#[allow(clippy::disallowed_methods)] // The world's time origin; the world moves it virtually.
fn base() -> Instant {
    Instant::now()
}

/// A world whose server has `extra` in l2tpd.yaml and `users` as users.yaml.
pub(crate) fn world(extra: &str, users: &str) -> World {
    World::new(
        WorldConfig {
            extra_server_yaml: extra.to_owned(),
            users_yaml: users.to_owned(),
            ..WorldConfig::default()
        },
        base(),
    )
    .expect("world config is valid")
}

/// Adds and starts a Windows 10 client for `user`, offering only `auth` when given.
pub(crate) fn connect(
    w: &mut World,
    user: &str,
    last_octet: u8,
    auth: Option<AuthProtocol>,
) -> ClientId {
    let mut profile = Profile::windows_10();
    if let Some(a) = auth {
        profile.auth_protocols = vec![a];
    }
    let id = w.add_client(
        profile,
        Ipv4Addr::new(192, 168, 1, last_octet),
        true,
        user,
        &format!("{user}-pass"),
    );
    w.connect(id).unwrap();
    id
}

/// Runs the world until client `id` is up; fails the test with the world's events if not.
pub(crate) fn wait_up(w: &mut World, id: ClientId) {
    let up = w.run_until(|w| w.client(id).is_up(), CONNECT_LIMIT);
    assert!(up, "the client did not come up: {:#?}", w.events());
}
