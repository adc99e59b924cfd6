//! The boot's decisions as data, made from the command line before any hardware is touched
//! and settled once the network has answered: how the network is configured and on which
//! NIC, where the root comes from, whether it gets a writable overlay or takes writes itself,
//! and which modules it needs that nothing would ask for. Pure; the table tests below are the
//! specification.

use std::net::Ipv4Addr;

use crate::cmdline::config::{BootConfig, NfsSyntax, OverlayMode, RootSource};
use crate::cmdline::ip::{AutoConf, IpParam, StaticIp};
use crate::cmdline::nfs::{NfsShare, NfsVersion};
use crate::cmdline::oci::ImageRef;
use crate::error::BootError;
use crate::net::{NicChoice, StaticPlan};

/// What the network step will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkPlan {
    Static {
        ip: StaticIp,
        plan: StaticPlan,
    },
    /// DHCPv4 on `device` (else BOOTIF's NIC, else every Ethernet NIC with carrier).
    /// `ip` keeps the fields of a positional `ip=…:dhcp` (its server, host name, device).
    Dhcp {
        device: Option<String>,
        ip: Option<StaticIp>,
    },
}

impl NetworkPlan {
    /// The last `ip=` decides, as in the kernel; none at all means DHCP (every root we boot
    /// needs the network, as with dracut's rd.neednet).
    pub fn from_config(config: &BootConfig) -> Result<NetworkPlan, BootError> {
        let unsupported = |reason: &'static str| BootError::UnsupportedIp {
            value: config.ip_given.clone().unwrap_or_default(),
            reason,
        };
        match &config.ip {
            None | Some(IpParam::Auto(AutoConf::Dhcp)) => Ok(NetworkPlan::Dhcp {
                device: None,
                ip: None,
            }),
            Some(IpParam::Device {
                device,
                autoconf: AutoConf::Dhcp,
                ..
            }) => Ok(NetworkPlan::Dhcp {
                device: Some(device.clone()),
                ip: None,
            }),
            Some(IpParam::Static(ip)) if ip.autoconf == AutoConf::Dhcp => Ok(NetworkPlan::Dhcp {
                device: ip.device.clone(),
                ip: Some(ip.clone()),
            }),
            Some(IpParam::Static(ip)) if ip.client.is_some() && ip.autoconf == AutoConf::Off => {
                let plan = StaticPlan::from_ip(ip).map_err(unsupported)?;
                Ok(NetworkPlan::Static {
                    ip: ip.clone(),
                    plan,
                })
            }
            Some(IpParam::Off) => Err(unsupported(
                "the root comes over the network, so the initramfs must configure it: \
                 give ip=dhcp or a static ip=",
            )),
            Some(IpParam::Static(ip)) if ip.autoconf == AutoConf::Off => Err(unsupported(
                "a static ip= needs the client address in its first field",
            )),
            Some(IpParam::Static(StaticIp { autoconf, .. }))
            | Some(IpParam::Auto(autoconf))
            | Some(IpParam::Device { autoconf, .. }) => Err(unsupported(match autoconf {
                AutoConf::Ibft => {
                    "firmware (iBFT) configuration is not read by diskless; \
                                   give ip=dhcp or a static ip="
                }
                _ => {
                    "IPv6 configuration is left to the real system; the initramfs needs \
                      IPv4: give ip=dhcp or a static ip="
                }
            })),
        }
    }

    /// The `ip=` device field, if any.
    pub fn device(&self) -> Option<&str> {
        match self {
            NetworkPlan::Static { ip, .. } => ip.device.as_deref(),
            NetworkPlan::Dhcp { device, .. } => device.as_deref(),
        }
    }

    /// The `ip=` host name field, for `diskless.hostname=dhcp`.
    pub fn given_hostname(&self) -> Option<&str> {
        match self {
            NetworkPlan::Static { ip, .. } | NetworkPlan::Dhcp { ip: Some(ip), .. } => {
                ip.hostname.as_deref()
            }
            NetworkPlan::Dhcp { ip: None, .. } => None,
        }
    }

    /// Which NIC boots the node: BOOTIF's, else the `ip=` device, else the first Ethernet.
    pub fn nic_choice(&self, config: &BootConfig) -> NicChoice {
        match (&config.bootif, self.device()) {
            (Some(mac), _) => NicChoice::Mac(*mac),
            (None, Some(device)) => NicChoice::Name(device.to_owned()),
            (None, None) => NicChoice::FirstEthernet,
        }
    }

    /// Whether DHCP may ask on every Ethernet NIC (nothing named one).
    pub fn dhcp_on_every_nic(&self, choice: &NicChoice) -> bool {
        matches!(self, NetworkPlan::Dhcp { .. }) && *choice == NicChoice::FirstEthernet
    }
}

/// What a read-only root makes writable in RAM unless `diskless.volatile=` says otherwise:
/// what systemd and the usual services write at boot (machine and network state in /etc,
/// journals, leases and service state in /var, and /tmp).
pub const DEFAULT_VOLATILE: &[&str] = &["/etc", "/var", "/tmp"];

/// Modules the root needs that nothing would ask for: /dev/loop-control only exists once
/// `loop` is loaded. The file systems the kernel would request itself through /sbin/modprobe
/// (this binary) when they are mounted; loading them ahead spares that and overlaps it with
/// the network ([`RootPlan::modules_ahead`]).
pub const REQUIRED_ROOT_MODULES: &[&str] = &["loop"];

/// The modules to load ahead, in two stages: the root's mount waits only for the first, so
/// the shares' NFS stack (often another version) goes on loading while the root mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesAhead {
    pub root: Vec<String>,
    /// What the node directory and shared mounts need beyond `root`.
    pub shares: Vec<String>,
}

/// `names` in order, each once, leaving out those in `known`.
fn unique<'a>(names: impl IntoIterator<Item = &'a str>, known: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !out.iter().chain(known).any(|seen| seen == name) {
            out.push(name.to_owned());
        }
    }
    out
}

/// Where the root comes from, as the command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootPlan {
    Settled(Root),
    /// `root=dhcp`, or `root=/dev/nfs` without `nfsroot=` (`nfs`): the DHCP root path says.
    FromDhcp {
        nfs: bool,
    },
}

/// A root the boot can assemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A squashfs image fetched into RAM.
    Image { url: String },
    /// An image pulled from an OCI registry (`root=oci:`), its mirrors from `diskless.mirror=`.
    Oci { image: ImageRef },
    Nfs {
        share: NfsShare,
        default_version: NfsVersion,
        syntax: NfsSyntax,
    },
}

impl RootPlan {
    pub fn from_config(config: &BootConfig) -> Result<RootPlan, BootError> {
        match &config.root {
            Some(RootSource::LiveImage { url }) => {
                Ok(RootPlan::Settled(Root::Image { url: url.clone() }))
            }
            Some(RootSource::Nfs {
                share: Some(share),
                default_version,
                syntax,
            }) => Ok(RootPlan::Settled(Root::Nfs {
                share: share.clone(),
                default_version: *default_version,
                syntax: *syntax,
            })),
            Some(RootSource::Oci(image)) => Ok(RootPlan::Settled(Root::Oci {
                image: image.clone(),
            })),
            Some(RootSource::Nfs { share: None, .. }) => Ok(RootPlan::FromDhcp { nfs: true }),
            Some(RootSource::Dhcp) => Ok(RootPlan::FromDhcp { nfs: false }),
            Some(RootSource::Other(other)) => Err(BootError::UnsupportedRoot(other.clone())),
            None => Err(BootError::NoRoot),
        }
    }

    /// The modules this root and the node's shares will need, as module names or the
    /// kernel's own aliases (`fs-squashfs`, `fs-overlay`, `fs-nfs`), in the order they are
    /// needed: loaded while the network comes up. The NFS version modules follow each
    /// share's `vers=` (the kernel asks for `nfsv3`/`nfsv4` at mount time). A root DHCP will
    /// name is guessed from `root=dhcp` (an image) or `root=/dev/nfs` (NFS).
    pub fn modules_ahead(&self, config: &BootConfig) -> ModulesAhead {
        let nfs_version = |share: &NfsShare, default| match share.version(default) {
            NfsVersion::V3 => "nfsv3",
            NfsVersion::V4 => "nfsv4",
        };
        let root = self.likely_root();
        let mut names: Vec<&str> = match &root {
            Root::Image { .. } => vec!["loop", "fs-squashfs"],
            Root::Oci { .. } => vec!["loop", "fs-squashfs", "fs-overlay"],
            Root::Nfs {
                share,
                default_version,
                ..
            } => vec!["fs-nfs", nfs_version(share, *default_version)],
        };
        if root.overlay(config) || !root.volatile(config).is_empty() {
            names.push("fs-overlay");
        }
        let share_default = root.share_default_version();
        let root = unique(names, &[]);
        let shares = config
            .node
            .iter()
            .chain(config.mounts.iter().map(|m| &m.share))
            .flat_map(|share| ["fs-nfs", nfs_version(share, share_default)]);
        let shares = unique(shares, &root);
        ModulesAhead { root, shares }
    }

    /// The root as far as the command line tells before DHCP: a root DHCP will name is taken
    /// to be an image (`root=dhcp`) or a kernel-syntax NFS share without options
    /// (`root=/dev/nfs`), which is what [`RootPlan::settle`] makes of a bare root path.
    fn likely_root(&self) -> Root {
        match self {
            RootPlan::Settled(root) => root.clone(),
            RootPlan::FromDhcp { nfs: true } => Root::Nfs {
                share: NfsShare {
                    server: None,
                    path: String::new(),
                    options: Vec::new(),
                },
                default_version: NfsVersion::V3,
                syntax: NfsSyntax::Kernel,
            },
            RootPlan::FromDhcp { nfs: false } => Root::Image { url: String::new() },
        }
    }

    /// The root, with a root path from DHCP (option 17) where the command line left it to
    /// the network: a URL, `nfs:`/`nfs4:`, or `[<server>:]<path>` for NFS.
    pub fn settle(self, root_path: Option<&str>) -> Result<Root, BootError> {
        let nfs = match self {
            RootPlan::Settled(root) => return Ok(root),
            RootPlan::FromDhcp { nfs } => nfs,
        };
        let wanted = if nfs {
            "root=/dev/nfs without nfsroot="
        } else {
            "root=dhcp"
        };
        let path = root_path.ok_or(BootError::NoRootPath { wanted })?;
        let kernel_nfs = |path: &str| {
            NfsShare::parse_comma(path)
                .map(|share| Root::Nfs {
                    share,
                    default_version: NfsVersion::V3,
                    syntax: NfsSyntax::Kernel,
                })
                .map_err(|err| BootError::BadRootPath {
                    wanted,
                    path: path.to_owned(),
                    reason: err.reason.to_owned(),
                })
        };
        if nfs {
            return kernel_nfs(path);
        }
        match crate::cmdline::config::parse_root(path) {
            Ok(RootSource::LiveImage { url }) => Ok(Root::Image { url }),
            Ok(RootSource::Oci(image)) => Ok(Root::Oci { image }),
            Ok(RootSource::Nfs {
                share: Some(share),
                default_version,
                syntax,
            }) => Ok(Root::Nfs {
                share,
                default_version,
                syntax,
            }),
            Err(reason) => Err(BootError::BadRootPath {
                wanted,
                path: path.to_owned(),
                reason,
            }),
            _ => kernel_nfs(path),
        }
    }
}

impl Root {
    /// The NFS version of the node's directory and the shared mounts when their options
    /// name none: the root's own when the root is NFS, so one module stack (and one kind of
    /// client state on the server) serves them all; otherwise v3, as the kernel's nfsroot.
    pub fn share_default_version(&self) -> NfsVersion {
        match self {
            Root::Nfs {
                share,
                default_version,
                ..
            } => share.version(*default_version),
            Root::Image { .. } | Root::Oci { .. } => NfsVersion::V3,
        }
    }

    /// Whether the root gets a tmpfs overlay: `diskless.overlay=`, else yes for an image (a
    /// squashfs is read-only) and no for NFS (seed 003's read-only root).
    pub fn overlay(&self, config: &BootConfig) -> bool {
        match config.overlay {
            Some(mode) => mode == OverlayMode::Tmpfs,
            None => matches!(self, Root::Image { .. } | Root::Oci { .. }),
        }
    }

    /// Whether an NFS root without an overlay is mounted read-write: the kernel's `rw`
    /// wins, then the share's own ro/rw option; read-only by default. Never for an image.
    pub fn read_write(&self, config: &BootConfig) -> bool {
        match self {
            Root::Nfs { share, .. } if !self.overlay(config) => {
                config.root_rw.or(share.read_write()).unwrap_or(false)
            }
            _ => false,
        }
    }

    /// Whether the root itself takes writes: an overlay, or an NFS root mounted rw.
    pub fn writable(&self, config: &BootConfig) -> bool {
        self.overlay(config) || self.read_write(config)
    }

    /// Paths of a read-only root that take writes in RAM: `diskless.volatile=`, else
    /// [`DEFAULT_VOLATILE`]; none when the root itself takes writes.
    pub fn volatile(&self, config: &BootConfig) -> Vec<String> {
        if self.writable(config) {
            return Vec::new();
        }
        match &config.volatile {
            Some(paths) => paths.clone(),
            None => DEFAULT_VOLATILE.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// Whether /etc takes writes (the identity files are then written, not bind-mounted).
    pub fn etc_writable(&self, config: &BootConfig) -> bool {
        self.writable(config) || self.volatile(config).iter().any(|p| p == "/etc")
    }
}

/// `%s` in an NFS root path: the client's address in the kernel's syntax, the host name in
/// dracut's.
pub fn expand_percent_s(
    share: &NfsShare,
    syntax: NfsSyntax,
    address: Ipv4Addr,
    name: &str,
) -> NfsShare {
    let with = match syntax {
        NfsSyntax::Kernel => address.to_string(),
        NfsSyntax::Dracut => name.to_owned(),
    };
    NfsShare {
        path: share.path.replace("%s", &with),
        ..share.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline;

    fn config(line: &str) -> BootConfig {
        BootConfig::from_params(&cmdline::parse(line)).expect("config")
    }

    fn network(line: &str) -> Result<NetworkPlan, BootError> {
        NetworkPlan::from_config(&config(line))
    }

    /// What each `ip=` form makes the network step do; the last `ip=` wins, as in the kernel.
    #[test]
    fn network_plans() {
        let pxelinux =
            "ip=dhcp ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 BOOTIF=01-52-54-00-12-34-56";
        match network(pxelinux) {
            Ok(NetworkPlan::Static { plan, ip }) => {
                assert_eq!(plan.address.to_string(), "10.0.2.15");
                assert_eq!(
                    ip.server.map(|s| s.to_string()).as_deref(),
                    Some("10.0.2.2")
                );
            }
            other => panic!("pxelinux's appended ip= must win: {other:?}"),
        }
        let dhcp_cases = [
            ("", None),
            ("ip=dhcp", None),
            ("ip=on", None),
            ("ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 ip=dhcp", None),
            ("ip=eth1:dhcp", Some("eth1")),
            ("ip=::::node1:eth0:dhcp", Some("eth0")),
        ];
        for (line, device) in dhcp_cases {
            match network(line) {
                Ok(NetworkPlan::Dhcp { device: got, .. }) => {
                    assert_eq!(got.as_deref(), device, "{line}")
                }
                other => panic!("{line}: expected DHCP, got {other:?}"),
            }
        }
    }

    /// Refusals show the admin's own `ip=` text and say what to give instead.
    #[test]
    fn unusable_ip_forms_are_refused_in_the_admins_words() {
        let cases = [
            ("ip=off", "ip=off: the root comes over the network"),
            ("ip=none", "ip=none: the root comes over the network"),
            (
                "ip=dhcp6",
                "ip=dhcp6: IPv6 configuration is left to the real system",
            ),
            ("ip=eth0:auto6", "ip=eth0:auto6: IPv6 configuration"),
            ("ip=ibft", "ip=ibft: firmware (iBFT)"),
            (
                "ip=::::node1:eth0:none",
                "ip=::::node1:eth0:none: a static ip= needs the client address",
            ),
            (
                "ip=[fd00::15]:::64::eth0:off",
                "ip=[fd00::15]:::64::eth0:off: IPv6 client addresses",
            ),
        ];
        for (line, want) in cases {
            let err = network(line).expect_err(line).to_string();
            assert!(err.starts_with(want), "{line}: {err}");
        }
    }

    #[test]
    fn the_boot_nic_is_bootif_then_the_ip_device_then_the_first_ethernet() {
        let mac = "52:54:00:12:34:56".parse().expect("mac");
        let cases = [
            (
                "BOOTIF=01-52-54-00-12-34-56 ip=eth1:dhcp",
                NicChoice::Mac(mac),
            ),
            ("ip=eth1:dhcp", NicChoice::Name("eth1".into())),
            (
                "ip=10.0.2.15:::255.255.255.0::eth2:off",
                NicChoice::Name("eth2".into()),
            ),
            ("ip=dhcp", NicChoice::FirstEthernet),
        ];
        for (line, want) in cases {
            let c = config(line);
            let plan = NetworkPlan::from_config(&c).expect(line);
            let choice = plan.nic_choice(&c);
            assert_eq!(choice, want, "{line}");
            assert_eq!(plan.dhcp_on_every_nic(&choice), line == "ip=dhcp", "{line}");
        }
    }

    #[test]
    fn roots_overlays_and_writes() {
        // line, overlay, read-write, writable /etc
        let cases: &[(&str, bool, bool, bool)] = &[
            ("root=live:http://h/r.sqfs", true, false, true),
            ("root=oci:r.lab/a:v1", true, false, true),
            (
                "root=oci:r.lab/a:v1 diskless.overlay=none",
                false,
                false,
                false,
            ),
            (
                "root=live:http://h/r.sqfs diskless.overlay=none",
                false,
                false,
                false,
            ),
            ("root=/dev/nfs nfsroot=h:/clients,ro", false, false, false),
            ("root=/dev/nfs nfsroot=h:/clients,rw", false, true, true),
            (
                "root=/dev/nfs nfsroot=h:/clients,rw ro",
                false,
                false,
                false,
            ),
            ("root=nfs:h:/clients rw", false, true, true),
            (
                "root=nfs4:h:/clients diskless.overlay=tmpfs rw",
                true,
                false,
                true,
            ),
        ];
        for (line, overlay, read_write, writable) in cases {
            let c = config(line);
            let plan = RootPlan::from_config(&c).expect(line);
            let root = plan.settle(None).expect(line);
            assert_eq!(root.overlay(&c), *overlay, "{line}");
            assert_eq!(root.read_write(&c), *read_write, "{line}");
            assert_eq!(root.writable(&c), *writable, "{line}");
        }
    }

    #[test]
    fn roots_from_the_dhcp_root_path() {
        let image = |url: &str| Root::Image { url: url.into() };
        let nfs = |server: Option<&str>, path: &str, version, syntax| Root::Nfs {
            share: NfsShare {
                server: server.map(str::to_owned),
                path: path.into(),
                options: Vec::new(),
            },
            default_version: version,
            syntax,
        };
        let cases = [
            (
                "root=dhcp",
                "http://10.0.2.2/r.sqfs",
                image("http://10.0.2.2/r.sqfs"),
            ),
            (
                "root=dhcp",
                "live:https://h/r.sqfs",
                image("https://h/r.sqfs"),
            ),
            (
                "root=dhcp",
                "nfs4:10.0.2.2:/root",
                nfs(Some("10.0.2.2"), "/root", NfsVersion::V4, NfsSyntax::Dracut),
            ),
            (
                "root=dhcp",
                "10.0.2.2:/clients",
                nfs(
                    Some("10.0.2.2"),
                    "/clients",
                    NfsVersion::V3,
                    NfsSyntax::Kernel,
                ),
            ),
            (
                "root=/dev/nfs",
                "/clients",
                nfs(None, "/clients", NfsVersion::V3, NfsSyntax::Kernel),
            ),
            (
                "root=dhcp",
                "oci:registry.lab/nodes/worker:v1",
                Root::Oci {
                    image: crate::cmdline::oci::parse_ref("registry.lab/nodes/worker:v1")
                        .expect("reference"),
                },
            ),
        ];
        for (line, path, want) in cases {
            let plan = RootPlan::from_config(&config(line)).expect(line);
            assert_eq!(plan.settle(Some(path)).expect(path), want, "{line} {path}");
        }
        let no_path = RootPlan::from_config(&config("root=dhcp"))
            .expect("plan")
            .settle(None)
            .expect_err("no root path")
            .to_string();
        assert!(
            no_path.starts_with("root=dhcp: the DHCP server gave no root path"),
            "{no_path}"
        );
        let bad = RootPlan::from_config(&config("root=dhcp"))
            .expect("plan")
            .settle(Some("clients"))
            .expect_err("a relative path")
            .to_string();
        assert!(
            bad.contains("\"clients\"") && bad.contains("must start with /"),
            "{bad}"
        );
        for (line, want) in [
            ("", "no root= on the kernel command line"),
            (
                "root=/dev/sda1",
                "root=/dev/sda1 is not a root diskless boots",
            ),
        ] {
            let err = RootPlan::from_config(&config(line))
                .expect_err(line)
                .to_string();
            assert!(err.starts_with(want), "{line}: {err}");
        }
    }

    /// What loads while the network comes up: each root's file systems first, then the NFS
    /// version each share asks for that the root does not load already; the overlay only
    /// when something is layered.
    #[test]
    fn modules_loaded_ahead() {
        type Stages = (&'static [&'static str], &'static [&'static str]);
        let cases: &[(&str, Stages)] = &[
            (
                "root=live:http://h/r.sqfs",
                (&["loop", "fs-squashfs", "fs-overlay"], &[]),
            ),
            (
                "root=live:http://h/r.sqfs diskless.overlay=none diskless.volatile=none",
                (&["loop", "fs-squashfs"], &[]),
            ),
            (
                "root=oci:r.lab/a:v1",
                (&["loop", "fs-squashfs", "fs-overlay"], &[]),
            ),
            // Seed 003: a v3 root with the volatile paths, a v4.1 node directory and /home:
            // the root mounts while nfsv4 still loads.
            (
                "root=/dev/nfs nfsroot=h:/clients,ro,vers=3 diskless.node=h:/workers,vers=4.1 \
                 diskless.mount=h:/workers/home,/home,vers=4.1",
                (&["fs-nfs", "nfsv3", "fs-overlay"], &["nfsv4"]),
            ),
            (
                "root=/dev/nfs nfsroot=h:/clients,rw",
                (&["fs-nfs", "nfsv3"], &[]),
            ),
            (
                "root=nfs4:h:/clients diskless.overlay=tmpfs",
                (&["fs-nfs", "nfsv4", "fs-overlay"], &[]),
            ),
            (
                "root=/dev/nfs ip=dhcp",
                (&["fs-nfs", "nfsv3", "fs-overlay"], &[]),
            ),
            // A root DHCP will name is judged by the same rules as a settled one: volatile
            // paths named by the admin need the overlay too, a writable root none.
            (
                "root=/dev/nfs ip=dhcp diskless.volatile=/etc",
                (&["fs-nfs", "nfsv3", "fs-overlay"], &[]),
            ),
            (
                "root=dhcp ip=dhcp diskless.overlay=none diskless.volatile=none",
                (&["loop", "fs-squashfs"], &[]),
            ),
            // Shares that name no version follow an NFS root's: nothing more to load.
            (
                "root=nfs4:h:/clients diskless.node=h:/workers diskless.mount=h:/home,/home",
                (&["fs-nfs", "nfsv4", "fs-overlay"], &[]),
            ),
            (
                "root=live:http://h/r.sqfs diskless.node=h:/workers,vers=4.2",
                (&["loop", "fs-squashfs", "fs-overlay"], &["fs-nfs", "nfsv4"]),
            ),
            (
                "root=dhcp ip=dhcp diskless.node=h:/workers",
                (&["loop", "fs-squashfs", "fs-overlay"], &["fs-nfs", "nfsv3"]),
            ),
        ];
        for (line, (root, shares)) in cases {
            let c = config(line);
            let plan = RootPlan::from_config(&c).expect(line);
            let ahead = plan.modules_ahead(&c);
            assert_eq!(ahead.root, *root, "the root's, {line}");
            assert_eq!(ahead.shares, *shares, "the shares', {line}");
        }
    }

    #[test]
    fn percent_s_is_the_address_for_the_kernel_and_the_name_for_dracut() {
        let share = NfsShare {
            server: Some("h".into()),
            path: "/roots/%s".into(),
            options: Vec::new(),
        };
        let address = Ipv4Addr::new(10, 0, 2, 15);
        let kernel = expand_percent_s(&share, NfsSyntax::Kernel, address, "node1");
        let dracut = expand_percent_s(&share, NfsSyntax::Dracut, address, "node1");
        assert_eq!(kernel.path, "/roots/10.0.2.15");
        assert_eq!(dracut.path, "/roots/node1");
    }
}
