//! Any text as a registry's `WWW-Authenticate`, and any bytes as a token service's answer
//! and as the baked auth.json. Never panics; every challenge has a lowercase scheme of token
//! characters, a token request goes to the challenge's own realm, and a token accepted for
//! a header carries nothing a header cannot (no CR, LF or space).
#![no_main]

use diskless::cmdline::oci::{Registry, Scheme};
use diskless::image::oci::auth::{Credentials, parse_challenges, parse_token, token_url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(challenges) = parse_challenges(text) {
            assert!(!challenges.is_empty());
            for c in &challenges {
                assert!(!c.scheme.is_empty());
                assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
                if let Ok(url) = token_url(c, "node/root") {
                    let realm = c.param("realm").expect("a token URL has a realm");
                    assert!(url.starts_with(realm));
                    assert!(!url[realm.len()..].contains(['\r', '\n', ' ']));
                }
            }
        }
    }
    if let Ok(token) = parse_token(data) {
        assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
    }
    if let Ok(credentials) = Credentials::parse(data) {
        for scheme in [Scheme::Https, Scheme::Http] {
            let registry = Registry {
                scheme,
                host: "10.0.2.2:5000".to_owned(),
            };
            let _ = credentials.login(&registry);
        }
    }
});
