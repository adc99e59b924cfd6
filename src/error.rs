//! What can stop the boot: one variant per failure, each carrying the path, URL or the
//! admin's own value, and naming the key to change where a key decides it. PID 1 logs an error
//! once, at the top, with the step that was running (`diskless: FATAL <step>: <cause>`).

use std::io;
use std::path::PathBuf;

use crate::cmdline::config::ConfigError;
use crate::identity::HostnameError;
use crate::image::squashfs::SquashfsError;

/// The boot steps, named as they appear in log and FATAL lines and in the boot record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    EarlyMounts,
    Cmdline,
    Modules,
    Link,
    Identity,
    Network,
    Clock,
    RootModules,
    Fetch,
    Verify,
    Mount,
    ShareModules,
    Storage,
    Archives,
    Configure,
    SwitchRoot,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::EarlyMounts => "early-mounts",
            Step::Cmdline => "cmdline",
            Step::Modules => "modules",
            Step::Link => "link",
            Step::Identity => "identity",
            Step::Network => "network",
            Step::Clock => "clock",
            Step::RootModules => "root-modules",
            Step::Fetch => "fetch",
            Step::Verify => "verify",
            Step::Mount => "mount",
            Step::ShareModules => "share-modules",
            Step::Storage => "storage",
            Step::Archives => "archives",
            Step::Configure => "configure",
            Step::SwitchRoot => "switch-root",
        }
    }
}

/// `; driver e1000e failed to load (Invalid argument)` for a NIC that never appeared.
fn failed_drivers_note(failed: &[String]) -> String {
    match failed {
        [] => String::new(),
        [one] => format!("; the driver {one} failed to load"),
        many => format!("; these drivers failed to load: {}", many.join(", ")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("mounting {fstype} on {target}: {source}")]
    EarlyMount {
        fstype: &'static str,
        target: &'static str,
        source: io::Error,
    },

    #[error("reading /proc/cmdline: {0}")]
    ReadCmdline(io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "no root= on the kernel command line: give root=live:<url> (a squashfs image), \
         root=/dev/nfs nfsroot=<server>:<path>, root=nfs:<server>:<path> or root=dhcp"
    )]
    NoRoot,
    #[error(
        "root={0} is not a root diskless boots: give root=live:<url> (a squashfs image), \
         root=/dev/nfs nfsroot=<server>:<path>, root=nfs:<server>:<path> or root=dhcp"
    )]
    UnsupportedRoot(String),
    #[error(
        "{wanted}: the DHCP server gave no root path (option 17); set one on the server \
         (dnsmasq: dhcp-option=option:root-path,<url or server:/path>) or name the root in root="
    )]
    NoRootPath { wanted: &'static str },
    #[error("{wanted}: the DHCP root path {path:?}: {reason}")]
    BadRootPath {
        wanted: &'static str,
        path: String,
        reason: String,
    },
    #[error("ip={value}: {reason}")]
    UnsupportedIp { value: String, reason: &'static str },

    #[error("reading the module index in {dir}: {reason}")]
    ModuleIndex { dir: PathBuf, reason: String },
    #[error("loading module {failure}: the root cannot be mounted without it")]
    LoadModule { failure: String },

    #[error(
        "no network interface {wanted} appeared within {secs} s (rd.timeout=; present: {present}){}",
        failed_drivers_note(failed_drivers)
    )]
    NoInterface {
        wanted: String,
        secs: u32,
        present: String,
        /// Drivers that failed to load (name and why): the likely cause.
        failed_drivers: Vec<String>,
    },
    #[error("bringing up {iface}: {source}")]
    InterfaceUp { iface: String, source: io::Error },
    #[error(
        "no carrier on {iface} within {secs} s (rd.net.timeout.carrier=): is the cable plugged in?"
    )]
    NoCarrier { iface: String, secs: u32 },

    #[error("{key}: {source}")]
    Hostname {
        key: &'static str,
        source: HostnameError,
    },
    #[error("setting host name {name}: {source}")]
    SetHostname { name: String, source: io::Error },

    #[error("{} (rd.net.timeout.dhcp={secs})", failures.join("; "))]
    Dhcp { failures: Vec<String>, secs: u32 },
    #[error("configuring {iface} with {what}: {source}")]
    Network {
        iface: String,
        what: String,
        source: io::Error,
    },

    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("pulling {image}: {reason}")]
    Oci { image: String, reason: String },
    #[error("applying layer {layer} of {image}: {reason}")]
    Layer {
        image: String,
        layer: String,
        reason: String,
    },
    #[error("writing {path}: {source}")]
    Store { path: PathBuf, source: io::Error },

    #[error("image {url} has sha256 {actual}, expected {expected} ({by}): not mounting it")]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
        /// Who vouched for the expected hash: `diskless.sha256` or the initramfs's pin.
        by: String,
    },
    #[error("reading the image {path}: {source}")]
    ReadImage { path: PathBuf, source: io::Error },
    #[error("{url} is not a usable squashfs image: {source}")]
    NotSquashfs { url: String, source: SquashfsError },

    #[error("{what} {target}: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        source: io::Error,
    },

    #[error("no NFS server for {share}: give <server>:<path>, or the server field of ip=")]
    NfsNoServer { share: String },
    #[error("resolving NFS server {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("mounting NFS {source_spec} ({options}) on {target}: {cause}{attempts}")]
    NfsMount {
        source_spec: String,
        options: String,
        target: PathBuf,
        cause: io::Error,
        attempts: String,
    },
    #[error("{key}={path}: {reason}")]
    PathInRoot {
        key: &'static str,
        path: String,
        reason: String,
    },
    #[error("{what} {path}: {source}")]
    Storage {
        what: String,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{key}={url}: {reason}")]
    ConfigArchive {
        key: &'static str,
        url: String,
        reason: String,
    },

    #[error("writing {path} in the new root: {source}")]
    Configure { path: PathBuf, source: io::Error },

    #[error("{what}: {source}")]
    SwitchRoot { what: String, source: io::Error },
    #[error("init={init}: no such program in the new root (give init= the root's own init)")]
    NoInit { init: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_key_to_change() {
        let cases: Vec<(BootError, &str)> = vec![
            (
                BootError::NoCarrier {
                    iface: "eth0".into(),
                    secs: 10,
                },
                "no carrier on eth0 within 10 s (rd.net.timeout.carrier=): is the cable plugged in?",
            ),
            (
                BootError::Dhcp {
                    failures: vec![
                        "dhcp: no DHCP server answered on eth0: 6 DISCOVERs sent in 5.0 s".into(),
                    ],
                    secs: 5,
                },
                "dhcp: no DHCP server answered on eth0: 6 DISCOVERs sent in 5.0 s (rd.net.timeout.dhcp=5)",
            ),
            (
                BootError::NoInterface {
                    wanted: "of type Ethernet".into(),
                    secs: 10,
                    present: "lo".into(),
                    failed_drivers: vec!["e1000e (Invalid argument)".into()],
                },
                "no network interface of type Ethernet appeared within 10 s (rd.timeout=; present: lo); the driver e1000e (Invalid argument) failed to load",
            ),
            (
                BootError::NoRootPath {
                    wanted: "root=dhcp",
                },
                "root=dhcp: the DHCP server gave no root path (option 17)",
            ),
            (
                BootError::UnsupportedIp {
                    value: "dhcp6".into(),
                    reason: "IPv6 configuration is left to the real system; use ip=dhcp",
                },
                "ip=dhcp6: IPv6 configuration is left to the real system; use ip=dhcp",
            ),
            (
                BootError::UnsupportedRoot("/dev/sda1".into()),
                "root=/dev/sda1 is not a root diskless boots: give root=live:<url>",
            ),
            (
                BootError::NoInit {
                    init: "/sbin/nope".into(),
                },
                "init=/sbin/nope: no such program in the new root",
            ),
        ];
        for (err, start) in cases {
            let text = err.to_string();
            assert!(text.starts_with(start), "{text}");
            assert!(!text.contains("root=root="), "{text}");
            assert!(!text.contains("{ "), "a Debug struct in: {text}");
            assert!(!text.contains("not supported yet"), "{text}");
        }
    }
}
