//! Arbitrary text as l2tpd.yaml and users.yaml: loading must never panic, and every error must
//! name the file. (Configuration is not peer input, but the line-finding helpers index text.)
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/nonexistent-dir/l2tpd.yaml");
    if let Err(errors) = config::Config::from_yaml_str(text, file) {
        assert!(!errors.is_empty());
        for e in errors {
            assert!(e.to_string().starts_with("/nonexistent-dir/l2tpd.yaml"));
        }
    }
    let pool = config::PoolConfig::default();
    let users_file = Path::new("/nonexistent-dir/users.yaml");
    match config::users::Users::from_yaml_str(text, users_file, &pool) {
        Ok(users) => {
            for u in users.iter() {
                // Every loaded user can be looked up, also behind a domain prefix.
                let found = users.lookup(&u.name);
                assert!(!matches!(found, config::users::Lookup::NotFound));
                let _ = users.lookup(&format!("DOMAIN\\{}", u.name));
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
