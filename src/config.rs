//! Typed boot configuration from the command line parameters: our `diskless.*` keys, the
//! kernel/klibc/dracut keys we honour (`ip=`, `BOOTIF=`, `root=`, `init=`, `rd.*`).
//!
//! Unknown keys are left to the real system. A malformed value of one of *our* keys is an
//! error naming the key and the value; nothing falls back silently.

use crate::cmdline::Param;
use crate::identity::{HostnameTemplate, Mac};
use crate::ip::IpParam;
use std::net::IpAddr;

/// What `rd.emergency=` asks for after a fatal error when no shell is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmergencyAction {
    /// The default: an unattended node tries again.
    #[default]
    Reboot,
    Poweroff,
    Halt,
}

/// Where the root comes from (`root=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// `root=live:<url>` (dracut livenet) or a bare `root=http(s)://...`:
    /// a squashfs image fetched into RAM.
    LiveImage { url: String },
}

/// Everything the boot needs from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct BootConfig {
    /// `BOOTIF=01-aa-bb-cc-dd-ee-ff` (hardware type 01 = Ethernet).
    pub bootif: Option<Mac>,
    /// The last `ip=` on the line (the kernel's and klibc's rule).
    pub ip: Option<IpParam>,
    /// `root=`; `None` when absent (a fatal error later, not here).
    pub root: Option<RootSource>,
    /// `init=`: the program to exec in the new root; default `/sbin/init`.
    pub init: String,
    /// `diskless.hostname=`; default `worker-{sha1:6}`.
    pub hostname: HostnameTemplate,
    /// `diskless.sha256=<64 hex>`: the image must hash to this.
    pub image_sha256: Option<[u8; 32]>,
    /// `diskless.overlay.size=`: tmpfs size for the overlay upper layer, passed to tmpfs
    /// as given after validation (`512M`, `2G`, `50%`, plain bytes).
    pub overlay_size: Option<String>,
    /// `nameserver=` (dracut), repeatable.
    pub nameservers: Vec<IpAddr>,
    /// `rd.shell` / `rd.shell=1` opens a shell on fatal errors; `rd.shell=0` does not.
    pub shell: bool,
    /// `rd.emergency=reboot|poweroff|halt`.
    pub emergency: EmergencyAction,
    /// `rd.debug`: log debug lines too.
    pub debug: bool,
    /// `rd.retry=<s>`: total deadline for retried steps (fetches, mounts); default 180.
    pub retry_secs: u32,
    /// `rd.timeout=<s>`, `rd.net.timeout.carrier=<s>`: how long to wait for the boot NIC and
    /// its carrier; default 10.
    pub link_timeout_secs: u32,
    /// `rd.driver.pre=a,b`: modules to load first.
    pub driver_pre: Vec<String>,
    /// `rd.driver.blacklist=a,b` (and `modprobe.blacklist=`): modules never to load.
    pub driver_blacklist: Vec<String>,
}

/// A value of one of our keys that we cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl BootConfig {
    /// Builds the configuration from the parsed command line.
    pub fn from_params(params: &[Param]) -> Result<BootConfig, ConfigError> {
        todo!("helper: {params:?}")
    }
}
