//! A real Debian 12 root for the QEMU tests: systemd, udev, openssh-server, iproute2, kmod,
//! ifupdown with ISC's dhclient, containerd and runc, and the test kernel installed from its
//! own package (so /lib/modules is what an admin's `apt install` gives). Built with
//! `mmdebstrap` (a Debian package), then prepared as a diskless image should be (see
//! [`prepare`]), and cached under `target/debian/<key>/` keyed by every input: a second run
//! costs nothing.
//!
//! The root carries `diskless-check.service`: once the boot has finished it prints what an
//! admin would check (`systemctl is-system-running`, failed units, `hostnamectl`, addresses,
//! routes, `findmnt /`, the machine-id, the journal's errors, the network managers' view)
//! as `CHECK-*` lines on the console, then powers off. [`Report`] reads them back.
//!
//! The network manager is chosen at boot: ifupdown by default (`networking.service`, and
//! `ifup@` for `allow-hotplug` interfaces), systemd-networkd with [`NETWORKD`] on the kernel
//! command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};

use crate::kernel::Kernel;
use crate::qemu::BootLog;

/// The Debian release the root is built from.
pub const SUITE: &str = "bookworm";

/// What the root holds besides Debian's required packages.
pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "iproute2",
    "kmod",
    "ifupdown",
    "isc-dhcp-client",
    "containerd",
    "runc",
    "procps",
];

/// Kernel command line words that switch the root from ifupdown to systemd-networkd.
pub const NETWORKD: &str = "systemd.mask=networking.service systemd.mask=ifup@.service systemd.wants=systemd-networkd.service";

/// Kernel command line word that keeps the node up `secs` after the boot before the check
/// reports: then it reads [`LATE_READ`] from its root and writes `/var/local/late-write`.
pub fn stay(secs: u32) -> String {
    format!("testbed.stay={secs}")
}

/// The file of the root the check reads after [`stay`], its page cache dropped first.
pub const LATE_READ: &str = "usr/share/common-licenses/GPL-3";

/// Kernel command line word that makes the check run a container with containerd.
pub const CHECK_CONTAINERD: &str = "testbed.containerd=1";

/// The image `ctr` imports and runs in the container check: a static busybox that prints
/// [`CONTAINER_MARKER`].
pub const CONTAINER_IMAGE: &str = "docker.io/library/diskless-marker:1";
pub const CONTAINER_MARKER: &str = "CONTAINER-MARKER-7c1e";

/// Bumped when [`prepare`] changes what it writes, so that cached roots are rebuilt.
const PREPARE_VERSION: u32 = 3;

/// The check, run by `diskless-check.service` (Type=simple, so the boot does not wait for
/// it and `is-system-running --wait` can).
const CHECK_SCRIPT: &str = r#"#!/bin/sh
# diskless test bed: what an admin checks once the node is up, as CHECK-* lines; then power off.
echo CHECK-BEGIN
state=$(timeout 300 systemctl is-system-running --wait)
echo "CHECK-STATE=$state"
# testbed.stay=<s>: the node stays up that long first (its leases renew, NFS's caches
# expire), then reads its root and writes its node directory again, from the server.
stay=$(sed -n 's/.*testbed\.stay=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$stay" ]; then
    sleep "$stay"
    echo 3 > /proc/sys/vm/drop_caches
    timeout -s KILL 60 sha256sum /LATE_READ | sed 's/^/CHECK-LATE-READ: /'
    timeout -s KILL 60 sh -c 'date +%s > /var/local/late-write' && echo CHECK-LATE-WRITE=ok
    echo "CHECK-STATE-LATE=$(timeout 60 systemctl is-system-running)"
fi
systemctl --failed --no-legend --plain | sed 's/^/CHECK-FAILED: /'
echo "CHECK-HOSTNAME=$(hostname)"
echo "CHECK-ETC-HOSTNAME=$(cat /etc/hostname)"
hostnamectl status | sed 's/^/CHECK-HOSTNAMECTL: /'
echo "CHECK-MACHINE-ID=$(cat /etc/machine-id)"
ip -o -4 addr show | sed 's/^/CHECK-ADDR: /'
ip route | sed 's/^/CHECK-ROUTE: /'
ip -o link show | sed 's/^/CHECK-LINK: /'
findmnt -n -o FSTYPE,SOURCE,OPTIONS / | sed 's/^/CHECK-ROOT: /'
findmnt -n -o TARGET,FSTYPE,SOURCE -l | sed 's/^/CHECK-MOUNT: /'
journalctl -b -p err --no-pager -q | sed 's/^/CHECK-JOURNAL: /'
journalctl -b --no-pager -q | grep -iE 'cannot rename|failed to rename|DHCPDECLINE' | sed 's/^/CHECK-NET-TROUBLE: /'
journalctl --header 2>/dev/null | grep -E '^File path' | sed 's/^/CHECK-JOURNAL-FILE: /'
networkctl list --no-pager --no-legend 2>/dev/null | sed 's/^/CHECK-NETWORKCTL: /'
for link in $(ls /sys/class/net); do
    networkctl status --no-pager "$link" 2>/dev/null | grep -E 'DHCP4|Address:|State:|Network File:' | sed "s/^/CHECK-NETWORKD-$link: /"
done
for f in /var/lib/dhcp/dhclient*.leases; do [ -s "$f" ] && echo "CHECK-LEASE-FILE=$f"; done
pgrep -a dhclient | sed 's/^/CHECK-DHCLIENT: /'
for k in /etc/ssh/ssh_host_ed25519_key.pub; do [ -f "$k" ] && echo "CHECK-SSH-KEY=$(ssh-keygen -lf "$k" | cut -d' ' -f2)"; done
systemctl is-active ssh | sed 's/^/CHECK-SSH=/'
systemd-analyze time 2>/dev/null | head -1 | sed 's/^/CHECK-ANALYZE: /'
if grep -qw testbed.containerd=1 /proc/cmdline; then
    ctr image import /usr/local/share/diskless/marker.tar 2>&1 | sed 's/^/CHECK-CTR: /'
    ctr run --rm --snapshotter overlayfs IMAGE marker 2>&1 | sed 's/^/CHECK-CTR: /'
    findmnt -n -o FSTYPE /var/lib/containerd | sed 's/^/CHECK-CONTAINERD-FS=/'
fi
echo CHECK-DONE
systemctl poweroff
"#;

const CHECK_UNIT: &str = "\
[Unit]
Description=diskless test bed: report the node's state, then power off
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/diskless-check
StandardOutput=tty
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
";

/// Debian's openssh-server generates host keys once, when installed: an image that ships
/// them gives every node the same keys. The image ships none; each node makes its own at
/// boot (kept across reboots with `diskless.persist=/etc/ssh`).
const HOSTKEYS_UNIT: &str = "\
[Unit]
Description=Generate this node's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
";

/// ifupdown, as a modern Debian admin writes it: the predictable name (QEMU's first NIC in
/// slot 3), and the kernel's name for `net.ifnames=0`.
const INTERFACES: &str = "\
# The boot NIC: its predictable name, and the kernel's for net.ifnames=0.
allow-hotplug ens3
iface ens3 inet dhcp
allow-hotplug eth0
iface eth0 inet dhcp
";

/// systemd-networkd, when [`NETWORKD`] starts it: as an admin writes it for any machine,
/// nothing in it for a network root. The initramfs hands networkd what keeps the boot NIC
/// configured when the root needs it; ifupdown's units get their drop-ins the same way.
const NETWORK_FILE: &str = "\
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
";

/// A root, built and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianRoot {
    /// The tree (to export over NFS; never written by tests).
    pub tree: PathBuf,
    /// The same as a zstd squashfs (to serve over HTTP).
    pub squashfs: PathBuf,
}

/// Where built roots are kept.
pub fn cache_dir() -> PathBuf {
    crate::dirs::project_root().join("target").join("debian")
}

/// The cached root for `kernel`, built first if needed (mmdebstrap, about two minutes).
pub fn ensure(kernel: &Kernel, busybox: &Path) -> Result<DebianRoot> {
    let marker = crate::oci::Image::busybox(
        busybox,
        CONTAINER_IMAGE,
        &["/bin/sh", "-c", &format!("echo {CONTAINER_MARKER}")],
    )?
    .archive()?;
    let deb = crate::kernel::package_file(kernel)?;
    let files = files(&marker);
    let key = cache_key(&deb, &files);
    let dir = cache_dir().join(&key);
    let root = DebianRoot {
        tree: dir.join("tree"),
        squashfs: dir.join("root.squashfs"),
    };
    if dir.join("done").is_file() {
        return Ok(root);
    }
    eprintln!(
        "building the Debian {SUITE} test root in {} (mmdebstrap; cached afterwards)",
        dir.display()
    );
    let work = cache_dir().join(format!(".partial-{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let built = build(&deb, &files, &work);
    if let Err(err) = built {
        let _ = std::fs::remove_dir_all(&work);
        return Err(err);
    }
    std::fs::write(work.join("done"), format!("{key}\n"))?;
    if let Err(err) = std::fs::rename(&work, &dir) {
        let _ = std::fs::remove_dir_all(&work);
        // Another process may have finished first; its root is as good as ours.
        if !dir.join("done").is_file() {
            return Err(err).with_context(|| format!("moving the root into {}", dir.display()));
        }
    }
    Ok(root)
}

/// The files [`prepare`] writes (path in the root, mode, contents), `marker` the container
/// image archive.
fn files(marker: &[u8]) -> Vec<(&'static str, u32, Vec<u8>)> {
    vec![
        (
            "usr/local/sbin/diskless-check",
            0o755,
            CHECK_SCRIPT
                .replace("IMAGE", CONTAINER_IMAGE)
                .replace("LATE_READ", LATE_READ)
                .into_bytes(),
        ),
        (
            "etc/systemd/system/diskless-check.service",
            0o644,
            CHECK_UNIT.into(),
        ),
        (
            "etc/systemd/system/ssh-hostkeys.service",
            0o644,
            HOSTKEYS_UNIT.into(),
        ),
        ("etc/network/interfaces.d/boot", 0o644, INTERFACES.into()),
        (
            "etc/systemd/network/20-boot.network",
            0o644,
            NETWORK_FILE.into(),
        ),
        (
            "usr/local/share/diskless/marker.tar",
            0o644,
            marker.to_vec(),
        ),
    ]
}

/// Every input: the suite, the packages, the kernel package, what [`prepare`] writes.
fn cache_key(deb: &Path, files: &[(&str, u32, Vec<u8>)]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!(
        "{SUITE}\n{}\n{PREPARE_VERSION}\n",
        PACKAGES.join(",")
    ));
    hash.update(
        deb.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    for (path, mode, contents) in files {
        hash.update(format!("{path} {mode:o} {}\n", contents.len()));
        hash.update(contents);
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    hex.get(..16).unwrap_or(&hex).to_owned()
}

fn build(deb: &Path, files: &[(&str, u32, Vec<u8>)], work: &Path) -> Result<()> {
    let sh = Shell::new()?;
    ensure!(
        cmd!(sh, "mmdebstrap --version")
            .quiet()
            .ignore_stdout()
            .run()
            .is_ok(),
        "mmdebstrap is missing (apt-get install mmdebstrap)"
    );
    let tarball = work.join("root.tar");
    // A path in --include is taken whole (mmdebstrap does not split it), so on its own.
    let packages = PACKAGES.join(",");
    cmd!(
        sh,
        "mmdebstrap --mode=root --variant=apt --include={packages} --include={deb}
            --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount
            {SUITE} {tarball}"
    )
    .run()
    .context("mmdebstrap (needs root and Debian's mirror)")?;
    let tree = work.join("tree");
    std::fs::create_dir_all(&tree)?;
    cmd!(
        sh,
        "tar --numeric-owner --xattrs --xattrs-include=* -xpf {tarball} -C {tree}"
    )
    .run()
    .context("unpacking the root")?;
    std::fs::remove_file(&tarball)?;
    prepare(&tree, files)?;
    let squashfs = work.join("root.squashfs");
    cmd!(
        sh,
        "mksquashfs {tree} {squashfs} -comp zstd -noappend -quiet"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .context("mksquashfs (apt-get install squashfs-tools)")?;
    Ok(())
}

/// Makes the tree a diskless image, as the README asks of real ones:
/// - `/etc/machine-id` empty and `/etc/hostname` `localhost`, so each node gets its own;
/// - no SSH host keys (each node makes its own, [`HOSTKEYS_UNIT`]);
/// - no initrd in /boot (the node's initramfs is ours);
/// - dhclient identifies itself as the initramfs did (type 1 + MAC), so the DHCP server sees
///   one client renewing, not a second one asking for the address in use;
/// - ifupdown and systemd-networkd configuration for the boot NIC, as for any machine; the
///   check unit enabled.
pub fn prepare(tree: &Path, files: &[(&str, u32, Vec<u8>)]) -> Result<()> {
    use std::os::unix::fs::{PermissionsExt, symlink};
    std::fs::write(tree.join("etc/machine-id"), "")?;
    std::fs::write(tree.join("etc/hostname"), "localhost\n")?;
    let _ = std::fs::remove_file(tree.join("var/lib/dbus/machine-id"));
    for entry in std::fs::read_dir(tree.join("etc/ssh"))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("ssh_host_") {
            std::fs::remove_file(&path)?;
        }
    }
    for entry in std::fs::read_dir(tree.join("boot"))? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("initrd.img"))
        {
            std::fs::remove_file(&path)?;
        }
    }
    let dhclient = tree.join("etc/dhcp/dhclient.conf");
    let conf = std::fs::read_to_string(&dhclient)?;
    ensure!(
        conf.contains("#send dhcp-client-identifier"),
        "{} has no client identifier line to turn on",
        dhclient.display()
    );
    let conf = conf
        .lines()
        .map(|line| {
            if line.starts_with("#send dhcp-client-identifier") {
                "send dhcp-client-identifier = hardware;"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&dhclient, conf + "\n")?;
    for (path, mode, contents) in files {
        let dest = tree.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&dest, contents)?;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(*mode))?;
    }
    // The serial console carries the check's report: no login prompt in the middle of it.
    let getty = tree.join("etc/systemd/system/serial-getty@ttyS0.service");
    let _ = std::fs::remove_file(&getty);
    symlink("/dev/null", &getty)?;
    for (unit, wanted_by) in [
        ("diskless-check.service", "multi-user.target"),
        ("ssh-hostkeys.service", "ssh.service"),
    ] {
        let dir = tree.join(format!("etc/systemd/system/{wanted_by}.wants"));
        std::fs::create_dir_all(&dir)?;
        let link = dir.join(unit);
        let _ = std::fs::remove_file(&link);
        symlink(format!("/etc/systemd/system/{unit}"), &link)?;
    }
    Ok(())
}

/// Kernel lines at level error that say the emulator was slow, not that the node is wrong:
/// the kernel's IO-APIC timer check fails when QEMU's TCG falls behind on a loaded host.
const HOST_TIMING_NOISE: &[&str] = &["MP-BIOS bug: 8254 timer not connected to IO-APIC"];

/// What the check printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// `systemctl is-system-running`.
    pub state: String,
    /// The same after [`stay`]'s time.
    pub state_late: String,
    /// sha256 of [`LATE_READ`] read after [`stay`]'s time (empty when it was not read).
    pub late_read: String,
    /// `/var/local/late-write` was written after [`stay`]'s time.
    pub late_write: bool,
    pub failed_units: Vec<String>,
    pub hostname: String,
    pub etc_hostname: String,
    /// `hostnamectl status`, line by line.
    pub hostnamectl: Vec<String>,
    pub machine_id: String,
    /// `ip -o -4 addr`: interface → addresses.
    pub addresses: BTreeMap<String, Vec<String>>,
    pub links: Vec<String>,
    /// `findmnt /`: file system type, source, options.
    pub root: String,
    pub mounts: Vec<String>,
    pub journal_errors: Vec<String>,
    /// Journal lines about interfaces udev could not rename, or leases declined.
    pub net_trouble: Vec<String>,
    pub journal_files: Vec<String>,
    /// `networkctl list`: link and its setup state, e.g. `ens3 configured`.
    pub networkctl: Vec<String>,
    pub networkd: Vec<String>,
    pub lease_files: Vec<String>,
    pub dhclient: Vec<String>,
    pub ssh_key: Option<String>,
    pub ssh: String,
    pub analyze: String,
    pub containerd: Vec<String>,
    pub containerd_fs: String,
}

impl Report {
    /// Reads the `CHECK-*` lines of a boot; an error when the check never finished.
    pub fn from_console(log: &BootLog) -> Result<Report> {
        if !log.contains("CHECK-DONE") {
            bail!("the root's check did not finish");
        }
        let values = |prefix: &str| -> Vec<String> {
            log.prefixed(prefix)
                .iter()
                .map(|l| l.trim_end().to_owned())
                .collect()
        };
        let value = |key: &str| log.value(key).unwrap_or_default().trim().to_owned();
        let mut addresses: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in values("CHECK-ADDR: ") {
            // `2: ens3    inet 10.0.2.15/24 brd ...`
            let words: Vec<&str> = line.split_whitespace().collect();
            if let (Some(iface), Some(pos)) =
                (words.get(1), words.iter().position(|w| *w == "inet"))
            {
                if let Some(addr) = words.get(pos + 1) {
                    addresses
                        .entry((*iface).to_owned())
                        .or_default()
                        .push((*addr).to_owned());
                }
            }
        }
        Ok(Report {
            state: value("CHECK-STATE"),
            state_late: value("CHECK-STATE-LATE"),
            late_read: values("CHECK-LATE-READ: ")
                .first()
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or_default()
                .to_owned(),
            late_write: value("CHECK-LATE-WRITE") == "ok",
            failed_units: values("CHECK-FAILED: "),
            hostname: value("CHECK-HOSTNAME"),
            etc_hostname: value("CHECK-ETC-HOSTNAME"),
            hostnamectl: values("CHECK-HOSTNAMECTL: "),
            machine_id: value("CHECK-MACHINE-ID"),
            addresses,
            links: values("CHECK-LINK: "),
            root: values("CHECK-ROOT: ")
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            mounts: values("CHECK-MOUNT: "),
            journal_errors: values("CHECK-JOURNAL: ")
                .into_iter()
                .filter(|line| !HOST_TIMING_NOISE.iter().any(|noise| line.contains(noise)))
                .collect(),
            net_trouble: values("CHECK-NET-TROUBLE: "),
            journal_files: values("CHECK-JOURNAL-FILE: "),
            networkctl: values("CHECK-NETWORKCTL: ")
                .iter()
                .map(|l| {
                    // `  2 ens3 ether routable configured`: link and setup state.
                    let words: Vec<&str> = l.split_whitespace().collect();
                    format!(
                        "{} {}",
                        words.get(1).unwrap_or(&""),
                        words.last().unwrap_or(&"")
                    )
                })
                .collect(),
            networkd: log
                .lines
                .iter()
                .filter(|(_, l)| l.starts_with("CHECK-NETWORKD-"))
                .map(|(_, l)| l.trim_end().to_owned())
                .collect(),
            lease_files: log
                .lines
                .iter()
                .filter_map(|(_, l)| l.strip_prefix("CHECK-LEASE-FILE="))
                .map(|l| l.trim().to_owned())
                .collect(),
            dhclient: values("CHECK-DHCLIENT: "),
            ssh_key: log.value("CHECK-SSH-KEY").map(|k| k.trim().to_owned()),
            ssh: value("CHECK-SSH"),
            analyze: values("CHECK-ANALYZE: ").join(" "),
            containerd: values("CHECK-CTR: "),
            containerd_fs: value("CHECK-CONTAINERD-FS"),
        })
    }

    /// Seconds from kernel start to the end of the boot (`systemd-analyze`'s total).
    pub fn startup_secs(&self) -> Option<f64> {
        parse_systemd_timespan(self.analyze.split(" = ").nth(1)?)
    }
}

/// A systemd timespan (`1min 2.398s`, `32.310s`, `850ms`) in seconds.
pub fn parse_systemd_timespan(text: &str) -> Option<f64> {
    let mut total = 0.0;
    for word in text.split_whitespace() {
        let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let value: f64 = digits.parse().ok()?;
        total += value
            * match word.get(digits.len()..)? {
                "ms" => 0.001,
                "s" => 1.0,
                "min" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_every_input() {
        let deb = Path::new("/x/linux-image-6.1.0-57-cloud-amd64_6.1.158-1_amd64.deb");
        let files = files(b"marker");
        let key = cache_key(deb, &files);
        assert_eq!(key.len(), 16);
        assert_eq!(cache_key(deb, &files), key);
        let other_deb = Path::new("/x/linux-image-6.1.0-58-cloud-amd64_6.1.160-1_amd64.deb");
        assert_ne!(cache_key(other_deb, &files), key);
        assert_ne!(cache_key(deb, &super::files(b"other marker")), key);
    }

    #[test]
    fn timespans_read_as_seconds() {
        assert_eq!(parse_systemd_timespan("32.310s"), Some(32.31));
        assert_eq!(parse_systemd_timespan("850ms"), Some(0.85));
        assert_eq!(parse_systemd_timespan("1min 2.5s"), Some(62.5));
        assert_eq!(parse_systemd_timespan("1 fortnight"), None);
        let report = Report {
            analyze: "Startup finished in 4.714s (kernel) + 27.595s (userspace) = 32.310s".into(),
            ..Report::default()
        };
        assert_eq!(report.startup_secs(), Some(32.31));
    }
}
