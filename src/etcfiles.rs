//! Contents of the files the init writes into the new root (never into the image itself):
//! /etc/hostname, /etc/hosts, /etc/machine-id, /etc/resolv.conf. Pure string transforms.

use std::net::IpAddr;

/// `/etc/hostname`: the name and a newline.
pub fn hostname_file(name: &str) -> String {
    todo!("helper: {name}")
}

/// `/etc/hosts`: keeps the image's lines (if any) and maps `name` to IPv4 loopback
/// (`127.0.0.1`) and IPv6 loopback (`::1`), as seed 003 does; idempotent (a second call with
/// the same name adds nothing), and drops an earlier mapping of the image's *own* build-time
/// name on 127.0.1.1 (Debian's convention) so the node does not answer to two names.
/// Without image content, starts from the standard localhost lines.
pub fn hosts_file(image_hosts: Option<&str>, name: &str) -> String {
    todo!("helper: {image_hosts:?} {name}")
}

/// Whether the image's /etc/machine-id (None = missing) must be replaced with a derived one:
/// missing, empty, whitespace only, or `uninitialized` (systemd's first-boot marker).
pub fn machine_id_needs_setting(image_machine_id: Option<&str>) -> bool {
    todo!("helper: {image_machine_id:?}")
}

/// `/etc/resolv.conf`: `search`/`domain` then one `nameserver` line per server (at most 3,
/// as the resolver reads), with a header saying diskless wrote it. `None` when there are no
/// servers (then the image's file is left alone).
pub fn resolv_conf(servers: &[IpAddr], domain: Option<&str>, search: &[String]) -> Option<String> {
    todo!("helper: {servers:?} {domain:?} {search:?}")
}
