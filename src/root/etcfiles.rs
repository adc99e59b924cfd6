//! Contents of the identity files the init writes into the new root (never into the image
//! itself): /etc/hostname, /etc/hosts, /etc/machine-id. Pure string transforms; resolv.conf
//! is the network's ([`crate::net::netconf`]).

/// `/etc/hostname`: the name and a newline.
pub fn hostname_file(name: &str) -> String {
    format!("{name}\n")
}

/// What an image without /etc/hosts gets: Debian's localhost lines.
const STANDARD_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// The address and the names of a hosts line, without its comment.
fn hosts_entry(line: &str) -> Option<(&str, Vec<&str>)> {
    let data = line.split('#').next().unwrap_or_default();
    let mut words = data.split_whitespace();
    let addr = words.next()?;
    Some((addr, words.collect()))
}

/// `/etc/hosts`: keeps the image's lines (if any) and maps `name` to IPv4 loopback
/// (`127.0.0.1`) and IPv6 loopback (`::1`), as diskless Debian nodes do; idempotent (a second call with
/// the same name adds nothing), and drops an earlier mapping of the image's *own* build-time
/// name on 127.0.1.1 (Debian's convention: every line on that address goes) so the node does
/// not answer to two names. Without image content (missing, or only whitespace), starts from
/// the standard localhost lines.
pub fn hosts_file(image_hosts: Option<&str>, name: &str) -> String {
    let base = image_hosts
        .filter(|h| !h.trim().is_empty())
        .unwrap_or(STANDARD_HOSTS);
    let mut out = String::with_capacity(base.len() + 2 * name.len() + 16);
    let (mut has_v4, mut has_v6) = (false, false);
    for line in base.lines() {
        if let Some((addr, names)) = hosts_entry(line) {
            if addr == "127.0.1.1" {
                continue;
            }
            let maps_name = names.iter().any(|n| n.eq_ignore_ascii_case(name));
            has_v4 |= maps_name && addr == "127.0.0.1";
            has_v6 |= maps_name && addr == "::1";
        }
        out.push_str(line);
        out.push('\n');
    }
    if !has_v4 {
        out.push_str(&format!("127.0.0.1 {name}\n"));
    }
    if !has_v6 {
        out.push_str(&format!("::1 {name}\n"));
    }
    out
}

/// Whether the image's /etc/machine-id (None = missing) must be replaced with a derived one:
/// missing, empty, whitespace only, `uninitialized` (systemd's first-boot marker), or not an
/// id at all (not 32 hex digits, or all zeros), which systemd would replace with a random,
/// per-boot one.
///
/// A valid id baked into the image is kept: then every node shares it (systemd then sees one machine many times over),
/// which is the image builder's choice to undo.
pub fn machine_id_needs_setting(image_machine_id: Option<&str>) -> bool {
    let Some(id) = image_machine_id.map(str::trim) else {
        return true;
    };
    let valid = id.len() == 32
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && id.bytes().any(|b| b != b'0');
    !valid
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_HOSTS: &str = "\
127.0.0.1\tlocalhost
127.0.1.1\tbuildbox.example.org\tbuildbox

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
";

    #[test]
    fn hostname_file_is_name_and_newline() {
        assert_eq!(hostname_file("worker-64e59a"), "worker-64e59a\n");
    }

    #[test]
    fn hosts_file_cases() {
        let cases: &[(Option<&str>, &str, &str)] = &[
            (
                None,
                "worker-64e59a",
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
                 127.0.0.1 worker-64e59a\n::1 worker-64e59a\n",
            ),
            (
                Some("  \n"),
                "n1",
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
                 127.0.0.1 n1\n::1 n1\n",
            ),
            (
                Some(DEBIAN_HOSTS),
                "worker-node-0023249434ae",
                "127.0.0.1\tlocalhost\n\n\
                 # The following lines are desirable for IPv6 capable hosts\n\
                 ::1     localhost ip6-localhost ip6-loopback\n\
                 ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n\
                 127.0.0.1 worker-node-0023249434ae\n::1 worker-node-0023249434ae\n",
            ),
            (
                // no trailing newline in the image's file
                Some("127.0.0.1 localhost"),
                "n1",
                "127.0.0.1 localhost\n127.0.0.1 n1\n::1 n1\n",
            ),
            (
                // mapped already on both: nothing added
                Some("127.0.0.1 localhost n1\n::1 localhost n1 # ours\n"),
                "n1",
                "127.0.0.1 localhost n1\n::1 localhost n1 # ours\n",
            ),
            (
                // a name in a comment is not a mapping
                Some("127.0.0.1 localhost # n1\n"),
                "n1",
                "127.0.0.1 localhost # n1\n127.0.0.1 n1\n::1 n1\n",
            ),
        ];
        for (image, name, want) in cases {
            assert_eq!(hosts_file(*image, name), *want, "{image:?} {name}");
        }
    }

    #[test]
    fn hosts_file_is_idempotent() {
        for image in [None, Some(DEBIAN_HOSTS), Some("10.0.0.1 nfs-server\n")] {
            let once = hosts_file(image, "worker-64e59a");
            assert_eq!(hosts_file(Some(&once), "worker-64e59a"), once, "{image:?}");
            assert_eq!(once.matches("worker-64e59a").count(), 2, "{once}");
            assert!(!once.contains("127.0.1.1"), "{once}");
        }
    }

    #[test]
    fn machine_id_needs_setting_cases() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, true),
            (Some(""), true),
            (Some(" \n"), true),
            (Some("uninitialized\n"), true),
            (Some("uninitialized"), true),
            (Some("not-an-id\n"), true),
            (Some("00000000000000000000000000000000\n"), true),
            (Some("0123456789abcdef0123456789abcde"), true),
            (Some("0123456789abcdef0123456789abcdef\n"), false),
            (Some("0123456789ABCDEF0123456789ABCDEF"), false),
        ];
        for (image, want) in cases {
            assert_eq!(machine_id_needs_setting(*image), *want, "{image:?}");
        }
    }
}
