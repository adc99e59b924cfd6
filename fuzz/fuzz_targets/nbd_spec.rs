//! Any text as an NBD root spec: dracut's fields (`root=nbd:`, `nbdroot=`) and the NBD URI
//! (`root=nbd://`). Parsing returns, never panics; what it accepts names a server and a port,
//! and its URI (`describe`) parses back to the same export.
#![no_main]

use diskless::cmdline::nbd::{self, MAX_NAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [
        nbd::parse_dracut(text),
        nbd::parse_uri(text),
        nbd::parse_nbdroot(text),
    ] {
        let Ok(spec) = parsed else { continue };
        assert!(!spec.server.is_empty() && spec.port > 0);
        assert!(spec.export.len() <= MAX_NAME);
        assert!(spec.mount_options.as_ref().is_none_or(|o| !o.is_empty()));
        let uri = spec.describe();
        if !spec.export.contains(['%', '?', '#']) {
            let back = nbd::parse_uri(uri.trim_start_matches("nbd://")).expect("its own URI");
            assert_eq!(
                (back.server, back.port, back.export),
                (spec.server, spec.port, spec.export)
            );
        }
    }
});
