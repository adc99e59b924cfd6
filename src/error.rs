//! One error variant per boot step, each carrying the path, URL or value it is about. PID 1
//! logs an error once, at the top (`diskless: FATAL <step>: <cause>`).

use std::io;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::identity::HostnameError;
use crate::squashfs::SquashfsError;

/// The boot steps, named as they appear in log and FATAL lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    EarlyMounts,
    Cmdline,
    Modules,
    Link,
    Identity,
    Network,
    Fetch,
    Verify,
    Mount,
    Storage,
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
            Step::Fetch => "fetch",
            Step::Verify => "verify",
            Step::Mount => "mount",
            Step::Storage => "storage",
            Step::Configure => "configure",
            Step::SwitchRoot => "switch-root",
        }
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
    #[error("no root= on the kernel command line (expected root=live:http://…/image.squashfs)")]
    NoRoot,
    #[error("root={0} is not a root this build can boot (expected root=live:<url>)")]
    UnsupportedRoot(String),
    #[error(
        "ip={0}: {1} is not supported yet (give a static ip=<client>:<server>:<gw>:<netmask>…)"
    )]
    UnsupportedIp(String, &'static str),

    #[error("reading the module index in {dir}: {reason}")]
    ModuleIndex { dir: PathBuf, reason: String },
    #[error("loading module {name} from {path}: {source}")]
    LoadModule {
        name: String,
        path: PathBuf,
        source: io::Error,
    },

    #[error("no network interface {wanted} appeared within {secs} s (present: {present})")]
    NoInterface {
        wanted: String,
        secs: u32,
        present: String,
    },
    #[error("bringing up {iface}: {source}")]
    InterfaceUp { iface: String, source: io::Error },
    #[error("no carrier on {iface} within {secs} s (is the cable plugged in?)")]
    NoCarrier { iface: String, secs: u32 },

    #[error(transparent)]
    Hostname(#[from] HostnameError),
    #[error("setting host name {name}: {source}")]
    SetHostname { name: String, source: io::Error },

    #[error("{reason}")]
    Dhcp { reason: String },
    #[error("configuring {iface} with {what}: {source}")]
    Network {
        iface: String,
        what: String,
        source: io::Error,
    },

    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
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
    #[error("{what} {path}: {source}")]
    Storage {
        what: String,
        path: PathBuf,
        source: io::Error,
    },

    #[error("writing {path} in the new root: {source}")]
    Configure { path: PathBuf, source: io::Error },

    #[error("{what}: {source}")]
    SwitchRoot { what: String, source: io::Error },
    #[error("{init} is not in the new root: nothing to run")]
    NoInit { init: String },
}

impl BootError {
    /// The step the error belongs to, for the FATAL line.
    pub fn step(&self) -> Step {
        match self {
            BootError::EarlyMount { .. } => Step::EarlyMounts,
            BootError::ReadCmdline(_)
            | BootError::Config(_)
            | BootError::NoRoot
            | BootError::UnsupportedRoot(_)
            | BootError::UnsupportedIp(..) => Step::Cmdline,
            BootError::ModuleIndex { .. } | BootError::LoadModule { .. } => Step::Modules,
            BootError::NoInterface { .. }
            | BootError::InterfaceUp { .. }
            | BootError::NoCarrier { .. } => Step::Link,
            BootError::Hostname(_) | BootError::SetHostname { .. } => Step::Identity,
            BootError::Network { .. } | BootError::Dhcp { .. } => Step::Network,
            BootError::Fetch { .. } | BootError::Store { .. } => Step::Fetch,
            BootError::HashMismatch { .. } | BootError::NotSquashfs { .. } => Step::Verify,
            BootError::Mount { .. } => Step::Mount,
            BootError::NfsNoServer { .. }
            | BootError::Resolve { .. }
            | BootError::NfsMount { .. } => Step::Mount,
            BootError::Storage { .. } => Step::Storage,
            BootError::Configure { .. } => Step::Configure,
            BootError::SwitchRoot { .. } | BootError::NoInit { .. } => Step::SwitchRoot,
        }
    }
}
