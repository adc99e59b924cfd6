//! Typed boot configuration from the command line parameters: our `diskless.*` keys, the
//! kernel/klibc/dracut keys we honour (`ip=`, `BOOTIF=`, `root=`, `init=`, `nameserver=`,
//! `rd.*`, `modprobe.blacklist=`).
//!
//! Unknown keys are left to the real system, except in our own `diskless.` namespace, where
//! an unknown key is a typo and an error. A malformed value of a key we honour is an error
//! naming the key and the value; nothing falls back silently. Parameters after `--` are the
//! kernel's arguments for init, not parameters, and are not read.

use crate::cmdline::Param;
use crate::cmdline::ifname;
use crate::cmdline::ip::IpParam;
use crate::cmdline::modules::normalize_name;
use crate::cmdline::nbd::{self, NbdSpec};
use crate::cmdline::nfs::{NfsShare, NfsVersion};
use crate::cmdline::ntp::NtpServer;
use crate::cmdline::oci::{self, ImageRef};
use crate::hex;
use crate::identity::{HostnameTemplate, Mac};
use std::net::{IpAddr, Ipv6Addr};

/// What `rd.emergency=` asks for after a fatal error when no shell is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmergencyAction {
    /// The default: an unattended node tries again.
    #[default]
    Reboot,
    Poweroff,
    Halt,
}

impl EmergencyAction {
    /// `reboot`, `poweroff` or `halt`, as `rd.emergency=` takes them.
    pub fn parse(value: &str) -> Option<EmergencyAction> {
        match value {
            "reboot" => Some(EmergencyAction::Reboot),
            "poweroff" => Some(EmergencyAction::Poweroff),
            "halt" => Some(EmergencyAction::Halt),
            _ => None,
        }
    }
}

/// What PID 1 does after a fatal error: `rd.shell` opens a shell (when the image has one),
/// else `rd.emergency=` reboots, powers off or halts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailurePolicy {
    /// `rd.shell` / `rd.shell=1`; `rd.shell=0` does not.
    pub shell: bool,
    /// `rd.emergency=reboot|poweroff|halt`.
    pub action: EmergencyAction,
}

impl FailurePolicy {
    /// The policy keys alone, so that a fatal error anywhere on the line (these keys' own
    /// included) still ends as the admin asked: every well-formed occurrence counts (the
    /// last wins), a malformed one keeps what came before and is returned as the error.
    fn from_params(params: &[Param]) -> (FailurePolicy, Option<ConfigError>) {
        let mut policy = FailurePolicy::default();
        let mut first_error = None;
        for param in params {
            let (key, value) = (param.key.as_str(), param.value.as_deref());
            if key == "--" && value.is_none() {
                break;
            }
            let err = |reason: &str| ConfigError {
                key: key.to_owned(),
                value: value.unwrap_or_default().to_owned(),
                reason: reason.to_owned(),
            };
            let parsed = match key {
                "rd.shell" => parse_flag(value)
                    .map(|shell| policy.shell = shell)
                    .map_err(|why| err(&why)),
                "rd.emergency" => match value {
                    None | Some("") => Err(err("needs a value")),
                    Some(v) => EmergencyAction::parse(v)
                        .map(|action| policy.action = action)
                        .ok_or_else(|| err("expected reboot, poweroff or halt")),
                },
                _ => Ok(()),
            };
            if let Err(error) = parsed {
                first_error.get_or_insert(error);
            }
        }
        (policy, first_error)
    }
}

/// `rd.driver.blacklist=` and `modprobe.blacklist=` alone, for the `/sbin/modprobe` helper,
/// which must honour them even when the rest of the line does not parse.
pub fn blacklist(params: &[Param]) -> Vec<String> {
    let mut list = Vec::new();
    for param in params
        .iter()
        .take_while(|p| !(p.key == "--" && p.value.is_none()))
    {
        if let ("rd.driver.blacklist" | "modprobe.blacklist", Some(value)) =
            (param.key.as_str(), param.value.as_deref())
        {
            push_modules(&mut list, value);
        }
    }
    list
}

/// Reads the command line: the failure policy, which stands even when the rest fails, and
/// the configuration.
pub fn read(params: &[Param]) -> (FailurePolicy, Result<BootConfig, ConfigError>) {
    let (on_failure, policy_error) = FailurePolicy::from_params(params);
    let config = match policy_error {
        Some(error) => Err(error),
        None => BootConfig::from_rest(params, on_failure),
    };
    (on_failure, config)
}

/// Where the root comes from (`root=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// `root=live:<url>` (dracut livenet) or a bare `root=http(s)://...`:
    /// a squashfs image fetched into RAM.
    LiveImage { url: String },
    /// An NFS root: `root=/dev/nfs nfsroot=[<server>:]<path>[,<options>]` (kernel,
    /// initramfs-tools; NFSv3 unless the options say otherwise) or
    /// `root=nfs:[<server>:]<path>[:<options>]` / `root=nfs4:...` (dracut). `share` is `None`
    /// for `root=/dev/nfs` without `nfsroot=`: the path must then come from DHCP.
    Nfs {
        share: Option<NfsShare>,
        default_version: NfsVersion,
        syntax: NfsSyntax,
    },
    /// `root=oci:<registry>/<repository>@sha256:<digest>` (or `:<tag>`): a root image
    /// pulled from an OCI registry.
    Oci(ImageRef),
    /// An NBD export holding a squashfs (and, after it, its dm-verity hash tree):
    /// `root=nbd:<server>:<port|export>[:<fstype>[:<mountopts>]]` (dracut),
    /// `root=nbd://<server>[:<port>][/<export>]` (the NBD URI), or `root=/dev/nbd0` with
    /// `nbdroot=` (dracut's again; `nbdroot=` alone also does).
    Nbd(NbdSpec),
    /// `root=dhcp`: the DHCP root path (option 17) says: `nfs:`/`nfs4:`/`live:` or an
    /// http(s) URL as for `root=`, or `[<server>:]<path>` for NFS (next-server by default).
    Dhcp,
    /// Any other `root=` value (`/dev/nfs`, `nfs:...`, `/dev/sda1`, `live:/dev/sr0`, ...),
    /// kept as given so the boot can say "root=X is not supported by this build".
    Other(String),
}

/// Which command line syntax named the NFS root: `%s` in its path means the client's IP
/// address in the kernel's syntax and the host name in dracut's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NfsSyntax {
    Kernel,
    Dracut,
}

/// `diskless.overlay=`: a writable layer in RAM on top of the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayMode {
    Tmpfs,
    None,
}

/// `diskless.handover=`: whether the root's network manager is handed what keeps the boot
/// NIC's configuration (the root on the network needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverMode {
    /// Files in /run that make systemd-networkd and ifupdown keep the boot NIC as it is.
    Keep,
    /// Only `/run/net-<dev>.conf`: the root's own configuration decides.
    None,
}

/// `diskless.mount=<server>:<export>,<mountpoint>[,<options>]`: a share mounted in the new
/// root (an HPC cluster's shared /home).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMount {
    pub share: NfsShare,
    pub mountpoint: String,
}

/// `diskless.tmpfs=<path>[,size=<n>][,mode=<m>]`: a plain tmpfs in the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    pub path: String,
    /// tmpfs `size=` as given (checked like `diskless.overlay.size=`); tmpfs's own default
    /// (half of RAM, a cap) when absent.
    pub size: Option<String>,
    /// The root directory's mode (octal); 0755 when absent.
    pub mode: u32,
}

/// Everything the boot needs from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct BootConfig {
    /// `BOOTIF=01-aa-bb-cc-dd-ee-ff` (hardware type 01 = Ethernet).
    pub bootif: Option<Mac>,
    /// `net.ifnames=0` turns off the predictable names the root's udev would give NICs
    /// (then the kernel's `eth0` stays).
    pub predictable_names: bool,
    /// dracut's `ifname=<name>:<mac>`, repeatable: names pinned to MACs.
    pub pinned_names: Vec<(String, Mac)>,
    /// The last `ip=` on the line (the kernel's and klibc's rule). Every `ip=` must parse.
    pub ip: Option<IpParam>,
    /// That `ip=` as the admin wrote it, for messages.
    pub ip_given: Option<String>,
    /// `root=` (the last one, as the kernel reads it); `None` when absent (a fatal error
    /// later, not here).
    pub root: Option<RootSource>,
    /// `init=`: the program to exec in the new root; default `/sbin/init`.
    pub init: String,
    /// `diskless.hostname=`; default `worker-{sha1:6}`.
    pub hostname: HostnameTemplate,
    /// `diskless.sha256=<64 hex>`: the image must hash to this.
    pub image_sha256: Option<[u8; 32]>,
    /// `diskless.verity=<64 hex>`: the dm-verity root hash of a block device root.
    pub verity_roothash: Option<[u8; 32]>,
    /// `diskless.mirror=<url>`, repeatable: more sources of the same image, tried in turn
    /// after `root=`'s URL.
    pub mirrors: Vec<String>,
    /// `diskless.overlay.size=`: tmpfs size for the overlay upper layer, passed to tmpfs
    /// as given after validation (`512M`, `2G`, `50%`, plain bytes).
    pub overlay_size: Option<String>,
    /// `diskless.ntp=<host>[:<port>]`, repeatable: NTP servers asked before the network's.
    pub ntp: Vec<NtpServer>,
    /// `nameserver=` (dracut), repeatable.
    pub nameservers: Vec<IpAddr>,
    /// `rd.shell`, `rd.emergency=`.
    pub on_failure: FailurePolicy,
    /// `rd.debug`: log debug lines too.
    pub debug: bool,
    /// `rd.retry=<s>`: total deadline for retried steps (fetches, mounts); default 180.
    pub retry_secs: u32,
    /// `rd.timeout=<s>`, `rd.net.timeout.carrier=<s>`: how long to wait for the boot NIC and
    /// its carrier; default 10 (the last of the two on the line wins).
    pub link_timeout_secs: u32,
    /// `rd.net.timeout.dhcp=<s>`: how long DHCP may take in all; default 30.
    pub dhcp_timeout_secs: u32,
    /// `rd.driver.pre=a,b`: modules to load first (repeatable; names normalised `-` -> `_`).
    pub driver_pre: Vec<String>,
    /// `rd.driver.blacklist=a,b` (and `modprobe.blacklist=`): modules never to load
    /// (repeatable; names normalised `-` -> `_`).
    pub driver_blacklist: Vec<String>,
    /// The kernel's `rw` / `ro` flags (last wins); `None` when neither is given.
    pub root_rw: Option<bool>,
    /// `diskless.overlay=tmpfs|none`; `None`: tmpfs for images, none for NFS roots.
    pub overlay: Option<OverlayMode>,
    /// `diskless.node=[<server>:]<export>[,<options>]`: the share holding one writable
    /// directory per node.
    pub node: Option<NfsShare>,
    /// `diskless.node.dir=<template>`: the node's directory name; default `{mac}`.
    pub node_dir: HostnameTemplate,
    /// `diskless.node.mount=<path>`: where the node's directory appears; default `/var/local`.
    pub node_mount: String,
    /// `diskless.mount=`, repeatable.
    pub mounts: Vec<SharedMount>,
    /// `diskless.persist=/etc/ssh,/var/log`: paths kept in the node's directory.
    pub persist: Vec<String>,
    /// `diskless.volatile=<path>,...|none`: paths of a read-only root that take writes in
    /// RAM; `None` until given (the plan's default applies).
    pub volatile: Option<Vec<String>>,
    /// `diskless.tmpfs=<path>[,size=<n>][,mode=<m>]`, repeatable: an empty tmpfs at a path
    /// of the new root (container runtimes' state).
    pub tmpfs: Vec<TmpfsMount>,
    /// `diskless.config=[?]<url>` and `apkovl=<url>`, repeatable, in the order given:
    /// archives laid over the new root.
    pub archives: Vec<crate::cmdline::config_archives::ArchiveSpec>,
    /// `diskless.handover=keep|none`; `None` until given (the plan keeps the boot NIC's
    /// configuration when the root depends on the network).
    pub handover: Option<HandoverMode>,
}

/// A value of one of our keys that we cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// The per-node directory's default name: `/workers/<12 hex digits>` on the share.
pub const DEFAULT_NODE_DIR: &str = "{mac}";

/// Our `diskless.*` keys; any other key in that namespace is an error.
pub const DISKLESS_KEYS: [&str; 16] = [
    "diskless.hostname",
    "diskless.sha256",
    "diskless.verity",
    "diskless.mirror",
    "diskless.overlay.size",
    "diskless.overlay",
    "diskless.node",
    "diskless.node.dir",
    "diskless.node.mount",
    "diskless.mount",
    "diskless.persist",
    "diskless.volatile",
    "diskless.tmpfs",
    "diskless.config",
    "diskless.ntp",
    "diskless.handover",
];

impl Default for BootConfig {
    /// What an empty command line gives.
    fn default() -> Self {
        BootConfig {
            bootif: None,
            predictable_names: true,
            pinned_names: Vec::new(),
            ip: None,
            ip_given: None,
            root: None,
            init: "/sbin/init".to_owned(),
            hostname: HostnameTemplate::default(),
            image_sha256: None,
            verity_roothash: None,
            mirrors: Vec::new(),
            overlay_size: None,
            ntp: Vec::new(),
            nameservers: Vec::new(),
            on_failure: FailurePolicy::default(),
            debug: false,
            retry_secs: 180,
            link_timeout_secs: 10,
            dhcp_timeout_secs: 30,
            driver_pre: Vec::new(),
            driver_blacklist: Vec::new(),
            root_rw: None,
            overlay: None,
            node: None,
            node_dir: HostnameTemplate::parse(DEFAULT_NODE_DIR).unwrap_or_default(),
            node_mount: "/var/local".to_owned(),
            mounts: Vec::new(),
            persist: Vec::new(),
            volatile: None,
            tmpfs: Vec::new(),
            archives: Vec::new(),
            handover: None,
        }
    }
}

impl BootConfig {
    /// Builds the configuration from the parsed command line (see [`read`]).
    pub fn from_params(params: &[Param]) -> Result<BootConfig, ConfigError> {
        read(params).1
    }

    /// Everything but the failure policy, which [`read`] took first.
    fn from_rest(params: &[Param], on_failure: FailurePolicy) -> Result<BootConfig, ConfigError> {
        let mut config = BootConfig {
            on_failure,
            ..BootConfig::default()
        };
        let mut nfsroot: Option<(String, String)> = None;
        let mut nbdroot: Option<(String, NbdSpec)> = None;
        for param in params {
            let key = param.key.as_str();
            if key == "--" && param.value.is_none() {
                break;
            }
            let value = param.value.as_deref();
            let err = |reason: String| ConfigError {
                key: key.to_owned(),
                value: value.unwrap_or_default().to_owned(),
                reason,
            };
            match key {
                "ip" => {
                    let parsed = crate::cmdline::ip::parse(value.unwrap_or_default())
                        .map_err(|e| err(e.to_string()))?;
                    config.ip = Some(parsed);
                    config.ip_given = value.map(str::to_owned);
                }
                "net.ifnames" => {
                    config.predictable_names = match value {
                        Some("0") => false,
                        Some("1") => true,
                        _ => return Err(err("expected 0 or 1".to_owned())),
                    };
                }
                "ifname" => {
                    let (name, mac) = ifname::pinned_name(needs(value, &err)?).map_err(err)?;
                    config.pinned_names.retain(|(_, pinned)| *pinned != mac);
                    config.pinned_names.push((name, mac));
                }
                "BOOTIF" => {
                    let mac = Mac::from_bootif(value.unwrap_or_default())
                        .map_err(|e| err(e.to_string()))?;
                    config.bootif = Some(mac);
                }
                "root" => config.root = Some(parse_root(needs(value, &err)?).map_err(err)?),
                "init" => {
                    let path = needs(value, &err)?;
                    if !path.starts_with('/') {
                        return Err(err("must be an absolute path".to_owned()));
                    }
                    config.init = path.to_owned();
                }
                "diskless.hostname" => {
                    config.hostname = HostnameTemplate::parse(needs(value, &err)?)
                        .map_err(|e| err(e.to_string()))?;
                }
                "diskless.sha256" => {
                    config.image_sha256 =
                        Some(hex::parse_sha256(needs(value, &err)?).map_err(err)?);
                }
                "diskless.verity" => {
                    config.verity_roothash =
                        Some(hex::parse_sha256(needs(value, &err)?).map_err(err)?);
                }
                "nbdroot" => {
                    let text = needs(value, &err)?;
                    nbdroot = Some((text.to_owned(), nbd::parse_nbdroot(text).map_err(err)?));
                }
                "diskless.mirror" => {
                    config
                        .mirrors
                        .push(parse_mirror(needs(value, &err)?).map_err(err)?);
                }
                "diskless.overlay.size" => {
                    let size = needs(value, &err)?;
                    check_size(size).map_err(err)?;
                    config.overlay_size = Some(size.to_owned());
                }
                "diskless.ntp" => config
                    .ntp
                    .push(NtpServer::parse(needs(value, &err)?).map_err(err)?),
                "nameserver" => {
                    let text = needs(value, &err)?;
                    let addr = parse_ip(text).ok_or_else(|| err("not an IP address".to_owned()))?;
                    config.nameservers.push(addr);
                }
                "nfsroot" => nfsroot = Some((needs(value, &err)?.to_owned(), key.to_owned())),
                "rw" if value.is_none() => config.root_rw = Some(true),
                "ro" if value.is_none() => config.root_rw = Some(false),
                "diskless.overlay" => {
                    config.overlay = Some(match needs(value, &err)? {
                        "tmpfs" => OverlayMode::Tmpfs,
                        "none" => OverlayMode::None,
                        _ => return Err(err("expected tmpfs or none".to_owned())),
                    });
                }
                "diskless.handover" => {
                    config.handover = Some(match needs(value, &err)? {
                        "keep" => HandoverMode::Keep,
                        "none" => HandoverMode::None,
                        _ => return Err(err("expected keep or none".to_owned())),
                    });
                }
                "diskless.node" => {
                    config.node = Some(
                        NfsShare::parse_comma(needs(value, &err)?)
                            .map_err(|e| err(e.reason.to_owned()))?,
                    );
                }
                "diskless.node.dir" => {
                    let template = needs(value, &err)?;
                    if template.contains("{dhcp}") || template == "dhcp" {
                        return Err(err("the node directory must not depend on DHCP".to_owned()));
                    }
                    config.node_dir =
                        HostnameTemplate::parse(template).map_err(|e| err(e.to_string()))?;
                }
                "diskless.node.mount" => {
                    config.node_mount = parse_abs_path(needs(value, &err)?).map_err(err)?
                }
                "diskless.mount" => config
                    .mounts
                    .push(parse_shared_mount(needs(value, &err)?).map_err(err)?),
                "diskless.volatile" => {
                    config.volatile = Some(parse_volatile(needs(value, &err)?).map_err(err)?);
                }
                "diskless.tmpfs" => config
                    .tmpfs
                    .push(parse_tmpfs(needs(value, &err)?).map_err(err)?),
                "diskless.config" | "apkovl" => {
                    let key = if key == "apkovl" {
                        "apkovl"
                    } else {
                        "diskless.config"
                    };
                    config.archives.push(
                        crate::cmdline::config_archives::parse_spec(key, needs(value, &err)?)
                            .map_err(err)?,
                    );
                }
                "diskless.persist" => {
                    for path in needs(value, &err)?.split(',').filter(|p| !p.is_empty()) {
                        config.persist.push(parse_abs_path(path).map_err(&err)?);
                    }
                }
                "rd.debug" => config.debug = parse_flag(value).map_err(err)?,
                "rd.net.timeout.dhcp" => {
                    config.dhcp_timeout_secs = parse_secs(needs(value, &err)?).map_err(err)?
                }
                "rd.retry" => config.retry_secs = parse_secs(needs(value, &err)?).map_err(err)?,
                "rd.timeout" | "rd.net.timeout.carrier" => {
                    config.link_timeout_secs = parse_secs(needs(value, &err)?).map_err(err)?;
                }
                "rd.driver.pre" => push_modules(&mut config.driver_pre, needs(value, &err)?),
                "rd.driver.blacklist" | "modprobe.blacklist" => {
                    push_modules(&mut config.driver_blacklist, needs(value, &err)?);
                }
                _ if key.starts_with("diskless.") => {
                    return Err(err(format!(
                        "unknown key (known: {})",
                        DISKLESS_KEYS.join(", ")
                    )));
                }
                _ => {}
            }
        }
        if config.root == Some(RootSource::Other("/dev/nfs".to_owned())) {
            let share = match nfsroot {
                Some((text, key)) => {
                    Some(NfsShare::parse_comma(&text).map_err(|e| ConfigError {
                        key,
                        value: text.clone(),
                        reason: e.reason.to_owned(),
                    })?)
                }
                None => None,
            };
            config.root = Some(RootSource::Nfs {
                share,
                default_version: NfsVersion::V3,
                syntax: NfsSyntax::Kernel,
            });
        }
        nbd_root(&mut config, nbdroot)?;
        check_oci(&config)?;
        if !config.persist.is_empty() && config.node.is_none() {
            return Err(ConfigError {
                key: "diskless.persist".to_owned(),
                value: config.persist.join(","),
                reason: "needs diskless.node= (the node's directory keeps the files)".to_owned(),
            });
        }
        Ok(config)
    }
}

/// dracut's `root=/dev/nbd0 nbdroot=<spec>` (or `nbdroot=` alone) as an NBD root; and
/// `diskless.verity=` only where a block device root may come.
fn nbd_root(
    config: &mut BootConfig,
    nbdroot: Option<(String, NbdSpec)>,
) -> Result<(), ConfigError> {
    let err = |key: &str, value: &str, reason: &str| ConfigError {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let nbd_device = config.root == Some(RootSource::Other("/dev/nbd0".to_owned()));
    match nbdroot {
        Some((_, spec)) if nbd_device || config.root.is_none() => {
            config.root = Some(RootSource::Nbd(spec));
        }
        Some((text, _)) => {
            return Err(err(
                "nbdroot",
                &text,
                "another root= is given: nbdroot= goes with root=/dev/nbd0 (or no root=)",
            ));
        }
        None if nbd_device => {
            return Err(err(
                "root",
                "/dev/nbd0",
                "needs nbdroot=<server>:<port|export> (or give root=nbd:<server>:<port|export>)",
            ));
        }
        None => {}
    }
    if let (Some(hash), Some(root)) = (config.verity_roothash, &config.root) {
        if !matches!(root, RootSource::Nbd(_) | RootSource::Dhcp) {
            return Err(err(
                "diskless.verity",
                &hex::encode(&hash),
                "dm-verity guards a block device root: give root=nbd:<server>:<port|export>",
            ));
        }
    }
    Ok(())
}

/// Mirrors fit the root: registries for an OCI root, image URLs otherwise; and a digest in
/// `root=oci:` leaves no room for a different `diskless.sha256=`.
fn check_oci(config: &BootConfig) -> Result<(), ConfigError> {
    let mirror_err = |value: &str, reason: String| ConfigError {
        key: "diskless.mirror".to_owned(),
        value: value.to_owned(),
        reason,
    };
    match &config.root {
        Some(RootSource::Oci(image)) => {
            for mirror in &config.mirrors {
                oci::parse_mirror(mirror)
                    .map_err(|e| mirror_err(mirror, format!("as a registry mirror: {e}")))?;
            }
            if let (oci::Reference::Digest(digest), Some(sha)) =
                (&image.reference, config.image_sha256)
            {
                if *digest != sha {
                    return Err(ConfigError {
                        key: "diskless.sha256".to_owned(),
                        value: hex::encode(&sha),
                        reason: format!(
                            "root= names the manifest sha256:{}: drop diskless.sha256= or make them agree",
                            hex::encode(digest)
                        ),
                    });
                }
            }
        }
        // DHCP's root path may name an OCI root: its mirrors are checked when it does.
        Some(RootSource::Dhcp) => {}
        _ => {
            if let Some(mirror) = config.mirrors.iter().find(|m| m.starts_with("oci:")) {
                return Err(mirror_err(
                    mirror,
                    "a registry mirror needs root=oci:...; image mirrors are http(s) URLs"
                        .to_owned(),
                ));
            }
        }
    }
    Ok(())
}

/// The value of a key that needs one (a bare `key` or `key=` is an error).
fn needs<'a>(
    value: Option<&'a str>,
    err: &impl Fn(String) -> ConfigError,
) -> Result<&'a str, ConfigError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(err("needs a value".to_owned())),
    }
}

/// An absolute path without `..`, `.` or empty components (it is joined onto the new root).
fn parse_abs_path(path: &str) -> Result<String, String> {
    let clean = path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|part| !matches!(part, "" | "." | ".."));
    if path == "/" || !clean {
        return Err(format!("{path:?} is not an absolute path below /"));
    }
    Ok(path.to_owned())
}

/// `none`, or absolute paths separated by commas.
fn parse_volatile(value: &str) -> Result<Vec<String>, String> {
    if value == "none" {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .filter(|p| !p.is_empty())
        .map(parse_abs_path)
        .collect()
}

/// `<path>[,size=<n>][,mode=<octal>]`.
fn parse_tmpfs(value: &str) -> Result<TmpfsMount, String> {
    let mut parts = value.split(',');
    let path = parse_abs_path(parts.next().unwrap_or_default())?;
    let mut mount = TmpfsMount {
        path,
        size: None,
        mode: 0o755,
    };
    for option in parts.filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", size)) => {
                check_size(size)?;
                mount.size = Some(size.to_owned());
            }
            Some(("mode", mode)) => {
                mount.mode = u32::from_str_radix(mode, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777 && mode.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("mode {mode:?} is not an octal mode such as 0755"))?;
            }
            _ => {
                return Err(format!(
                    "unknown option {option:?} (expected <path>[,size=<n>][,mode=<octal>])"
                ));
            }
        }
    }
    Ok(mount)
}

/// `[<server>:]<export>,<mountpoint>[,<options>]`.
fn parse_shared_mount(text: &str) -> Result<SharedMount, String> {
    let share = NfsShare::parse_comma(text).map_err(|e| e.reason.to_owned())?;
    let mut options = share.options.into_iter();
    let mountpoint = options
        .next()
        .ok_or("expected <server>:<export>,<mountpoint>[,<options>]")?;
    Ok(SharedMount {
        mountpoint: parse_abs_path(&mountpoint)?,
        share: NfsShare {
            options: options.collect(),
            ..NfsShare {
                server: share.server,
                path: share.path,
                options: Vec::new(),
            }
        },
    })
}

/// `diskless.mirror=`: an http(s) URL, with or without dracut's `live:`, checked as
/// `root=`'s is.
fn parse_mirror(value: &str) -> Result<String, String> {
    // A registry mirror, for an OCI root (checked against `root=` once the line is read).
    if value.starts_with("oci:") {
        return oci::parse_mirror(value).map(|_| value.to_owned());
    }
    match parse_root(value)? {
        RootSource::LiveImage { url } => Ok(url),
        _ => Err("expected an http:// or https:// URL".to_owned()),
    }
}

pub(crate) fn parse_root(value: &str) -> Result<RootSource, String> {
    if value == "dhcp" {
        return Ok(RootSource::Dhcp);
    }
    if let Some(reference) = value.strip_prefix("oci:") {
        return oci::parse_ref(reference).map(RootSource::Oci);
    }
    if let Some(uri) = value.strip_prefix("nbd://") {
        return nbd::parse_uri(uri).map(RootSource::Nbd);
    }
    if let Some(spec) = value.strip_prefix("nbd:") {
        return nbd::parse_dracut(spec).map(RootSource::Nbd);
    }
    for (prefix, default_version) in [("nfs:", NfsVersion::V3), ("nfs4:", NfsVersion::V4)] {
        if let Some(rest) = value.strip_prefix(prefix) {
            let share = NfsShare::parse_dracut(rest).map_err(|e| e.reason.to_owned())?;
            return Ok(RootSource::Nfs {
                share: Some(share),
                default_version,
                syntax: NfsSyntax::Dracut,
            });
        }
    }
    let url = value.strip_prefix("live:").unwrap_or(value);
    let lower = url.to_ascii_lowercase();
    let Some(rest) = ["http://", "https://"]
        .iter()
        .find_map(|s| lower.strip_prefix(s))
    else {
        return Ok(RootSource::Other(value.to_owned()));
    };
    // An http(s) URL is meant for us: a missing host is a typo, not "another kind of root".
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the URL has no host".to_owned());
    }
    Ok(RootSource::LiveImage {
        url: url.to_owned(),
    })
}

/// tmpfs `size=`: bytes with an optional k/m/g suffix, or a percentage of RAM (1..=100).
fn check_size(text: &str) -> Result<(), String> {
    if let Some(pct) = text.strip_suffix('%') {
        return match digits(pct) {
            Some(1..=100) => Ok(()),
            _ => Err("a percentage must be 1% to 100%".to_owned()),
        };
    }
    let number = text
        .strip_suffix(['k', 'K', 'm', 'M', 'g', 'G'])
        .unwrap_or(text);
    match digits(number) {
        // tmpfs reads size=0 as "unlimited": not what a size limit should mean here.
        Some(0) => Err("size 0 would mean no limit at all".to_owned()),
        Some(_) => Ok(()),
        None => {
            Err("expected bytes with an optional k, m or g suffix (512M, 2G), or N%".to_owned())
        }
    }
}

/// A plain decimal number (no sign, no spaces), if it fits.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_secs(text: &str) -> Result<u32, String> {
    match digits(text).map(u32::try_from) {
        Some(Ok(secs)) if secs > 0 => Ok(secs),
        _ => Err("expected a positive number of seconds".to_owned()),
    }
}

/// dracut's boolean (`getargbool`): a bare `key` or `key=` is true. Unlike dracut, which
/// reads any other word as true, a word that is not a boolean is an error.
fn parse_flag(value: Option<&str>) -> Result<bool, String> {
    let Some(value) = value else { return Ok(true) };
    // Case-sensitive, as dracut and the kernel compare.
    match value {
        "" | "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err("expected 0, 1, yes, no, true, false, on or off".to_owned()),
    }
}

/// A plain or bracketed address.
fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => text.parse().ok(),
    }
}

fn push_modules(list: &mut Vec<String>, value: &str) {
    for name in value
        .split(',')
        .filter(|n| !n.is_empty())
        .map(normalize_name)
    {
        if !name.is_empty() && !list.contains(&name) {
            list.push(name);
        }
    }
}

#[cfg(test)]
mod tests;
