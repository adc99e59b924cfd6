//! Any text as `root=oci:`'s reference and as a registry mirror. Never panics; an accepted
//! reference has a lowercase registry and a valid repository, and describing it and parsing
//! that again gives the same reference (what the log says is what was pulled).
#![no_main]

use diskless::cmdline::oci::{Reference, parse_mirror, parse_ref};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(image) = parse_ref(text) {
        assert_eq!(
            image.registry.host,
            image.registry.host.to_ascii_lowercase()
        );
        assert!(!image.repository.is_empty());
        assert!(image.registry.base_url().starts_with("http"));
        let again = parse_ref(&image.describe()).expect("a described reference parses");
        assert_eq!(again.registry, image.registry);
        assert_eq!(again.repository, image.repository);
        assert_eq!(again.reference, image.reference);
        if let Reference::Tag(tag) = &image.reference {
            assert!(!tag.is_empty() && tag.len() <= 128);
        }
    }
    if let Ok(mirror) = parse_mirror(text) {
        let repo = mirror.repository("a/b");
        assert!(repo.ends_with("a/b"));
        assert!(!mirror.registry.host.is_empty());
    }
});
