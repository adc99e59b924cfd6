//! What the network-boot tests (`boot_dhcp.rs`, `boot_pxe.rs`) share: a checker hook that
//! shows how the node's network ended up, and parsers for its output. Included with
//! `#[path = "common/netboot.rs"] mod netboot;` next to `mod common;`.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use testbed::{BootLog, Qemu};

/// Checker lines showing the node's network as the real system finds it: every
/// `/run/net-<dev>.conf` (initramfs-tools' file) line by line, the IPv4 addresses and the
/// links. Not a format string: `{}` would not survive one.
pub const NET_HOOK: &str = r#"echo ROOT-NETCONF-BEGIN
for f in /run/net-*.conf; do [ -f "$f" ] && sed "s|^|ROOT-NETCONF: ${f##*/}: |" "$f"; done
echo ROOT-NETCONF-END
ip -4 addr show | sed 's/^/ROOT-IPADDR: /'
ip link show | sed 's/^/ROOT-LINK: /'
"#;

/// The `KEY=value` pairs of `/run/<file>` (`net-eth0.conf`) as [`NET_HOOK`] printed them,
/// with initramfs-tools' single quotes removed.
pub fn net_conf(log: &BootLog, file: &str) -> BTreeMap<String, String> {
    let prefix = format!("ROOT-NETCONF: {file}: ");
    log.prefixed(&prefix)
        .iter()
        .filter_map(|line| line.trim_end().split_once('='))
        .map(|(key, value)| {
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value);
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// The `/run/net-*.conf` files the node wrote (`net-eth0.conf`, ...).
pub fn net_conf_files(log: &BootLog) -> Vec<String> {
    let mut files: Vec<String> = log
        .prefixed("ROOT-NETCONF: ")
        .iter()
        .filter_map(|line| line.split_once(": ").map(|(file, _)| file.to_owned()))
        .collect();
    files.dedup();
    files
}

/// Interface name → its IPv4 addresses in CIDR form, from `ip -4 addr show` in [`NET_HOOK`]
/// (`2: eth1: <...>` starts an interface, `    inet 10.0.3.15/24 ...` gives an address).
pub fn ipv4_addresses(log: &BootLog) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in log.prefixed("ROOT-IPADDR: ") {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("inet") => {
                if let (Some(iface), Some(addr)) = (&current, words.next()) {
                    out.entry(iface.clone()).or_default().push(addr.to_owned());
                }
            }
            Some(first)
                if first
                    .strip_suffix(':')
                    .is_some_and(|n| n.parse::<u32>().is_ok()) =>
            {
                current = words
                    .next()
                    .map(|name| name.trim_end_matches(':').to_owned());
                if let Some(iface) = &current {
                    out.entry(iface.clone()).or_default();
                }
            }
            _ => {}
        }
    }
    out
}

/// The kernel and initrd of a boot, a name for its log, and the standard bound on its length.
pub fn qemu(vmlinuz: &Path, initrd: &Path, name: &str, append: &str) -> Qemu {
    Qemu::new(vmlinuz, initrd)
        .name(name)
        .append(append)
        .timeout(Duration::from_secs(120))
}

/// Runs `qemu`, failing on a timeout with the end of the console.
pub fn run(qemu: &Qemu) -> BootLog {
    let log = qemu.run().expect("running QEMU");
    assert!(
        !log.timed_out,
        "{}",
        log.failure_report("the boot timed out")
    );
    eprintln!(
        "{}: {} after {:.1} s",
        log.log_path.display(),
        log.outcome(),
        log.elapsed.as_secs_f64()
    );
    log
}

/// Host seconds from the init's first line to the first line containing `needle`.
pub fn secs_after_init_start(log: &BootLog, needle: &str) -> Option<f64> {
    let start = log.time_of("diskless: diskless ")?;
    Some(log.time_of(needle)? - start)
}
