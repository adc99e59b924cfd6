//! Any text as an NFS share spec, in the kernel's comma syntax (`nfsroot=`, `diskless.node=`,
//! `diskless.mount=`) and dracut's colon syntax (`root=nfs:`): parsing returns, never panics;
//! a share written back in its syntax parses to itself; and the mount(2) data made for it
//! carries the share's options plus what the kernel needs without mount.nfs.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use diskless::cmdline::nfs::{NfsShare, NfsVersion};
use libfuzzer_sys::fuzz_target;

fn server_prefix(share: &NfsShare) -> String {
    match &share.server {
        None => String::new(),
        // Brackets for what would not read as a plain server (none holds "]:").
        Some(server) if server.contains([':', '/', '[']) => format!("[{server}]:"),
        Some(server) => format!("{server}:"),
    }
}

fn check(share: &NfsShare, data: &[u8]) {
    assert!(share.path.starts_with('/'), "{share:?}");
    assert!(
        share.server.as_ref().is_none_or(|s| !s.is_empty()),
        "{share:?}"
    );
    assert!(share.options.iter().all(|o| !o.is_empty()), "{share:?}");
    assert!(!share.describe().is_empty());
    let v4 = Ipv4Addr::new(192, 168, 0, 254);
    let v6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    let read_only = data.first().is_some_and(|b| b & 1 == 1);
    for default in [NfsVersion::V3, NfsVersion::V4] {
        for (server, client) in [
            (IpAddr::V4(v4), IpAddr::V4(Ipv4Addr::new(192, 168, 0, 4))),
            (IpAddr::V6(v6), IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ] {
            let version = share.version(default);
            let specs = share.mount_specs(default, server, client, read_only);
            // One spec, or one per NFSv4 minor version to try, newest first.
            assert!(matches!(specs.len(), 1 | 3), "{specs:?}");
            for mount in &specs {
                assert_eq!(mount.fstype, version.fstype());
                let vers: Vec<&str> = mount
                    .data
                    .split(',')
                    .filter(|o| o.starts_with("vers="))
                    .collect();
                assert_eq!(vers, [format!("vers={}", mount.version)], "{mount:?}");
                assert_eq!(mount.read_only, read_only);
                assert!(
                    mount.source.ends_with(&format!(":{}", share.path)),
                    "{mount:?}"
                );
                let options: Vec<&str> = mount.data.split(',').collect();
                assert!(options.iter().all(|o| !o.is_empty()), "{mount:?}");
                assert!(
                    !options
                        .iter()
                        .any(|o| matches!(*o, "ro" | "rw" | "v3" | "v4")),
                    "{mount:?}"
                );
                // The share's own options pass through, in order.
                let mut rest = options.iter();
                for own in share.options.iter().filter(|o| {
                    !matches!(o.as_str(), "ro" | "rw" | "v3" | "v4")
                        && !o.starts_with("vers=")
                        && !o.starts_with("nfsvers=")
                }) {
                    assert!(rest.any(|o| o == own), "{own:?} lost: {mount:?}");
                }
                assert!(options.iter().any(|o| o.starts_with("addr=")), "{mount:?}");
                if version == NfsVersion::V4 {
                    assert!(
                        options.iter().any(|o| o.starts_with("clientaddr=")),
                        "{mount:?}"
                    );
                } else {
                    assert!(
                        options.iter().any(|o| matches!(*o, "lock" | "nolock")),
                        "{mount:?}"
                    );
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(share) = NfsShare::parse_comma(text) {
        check(&share, data);
        let mut written = format!("{}{}", server_prefix(&share), share.path);
        for option in &share.options {
            written.push(',');
            written.push_str(option);
        }
        assert_eq!(
            NfsShare::parse_comma(&written).as_ref(),
            Ok(&share),
            "{text:?} written back as {written:?}"
        );
    }
    if let Ok(share) = NfsShare::parse_dracut(text) {
        check(&share, data);
        let mut written = format!("{}{}", server_prefix(&share), share.path);
        if !share.options.is_empty() {
            written.push(':');
            written.push_str(&share.options.join(","));
        }
        assert_eq!(
            NfsShare::parse_dracut(&written).as_ref(),
            Ok(&share),
            "{text:?} written back as {written:?}"
        );
    }
});
