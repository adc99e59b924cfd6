//! The new root's layout, decided before anything is mounted: where it comes from, how it
//! takes writes (a tmpfs overlay, a read-write NFS export, or volatile paths in RAM over a
//! read-only root), where the identity files go, and which modules it needs loaded ahead.
//! [`RootPlan`] is what the command line says; [`RootPlan::settle`] adds what the network
//! said (DHCP's root path, the address and name for `%s`) and gives the [`RootLayout`] the
//! root step assembles.

use std::net::Ipv4Addr;

use super::error::PlanError;
use crate::cmdline::config::{
    BootConfig, HandoverMode, NfsSyntax, OverlayMode, RootSource, parse_root,
};
use crate::cmdline::nbd::NbdSpec;
use crate::cmdline::nfs::{NfsShare, NfsVersion};
use crate::cmdline::oci::ImageRef;

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

/// A root the boot can assemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A squashfs image fetched into RAM.
    Image { url: String },
    /// An image pulled from an OCI registry (`root=oci:`), its mirrors from `diskless.mirror=`.
    Oci { image: ImageRef },
    /// A squashfs on an NBD export, read block by block as the root needs it, under
    /// dm-verity when a root hash is pinned or given (`root=nbd:`).
    Nbd { spec: NbdSpec },
    Nfs {
        share: NfsShare,
        default_version: NfsVersion,
        syntax: NfsSyntax,
    },
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
            Root::Image { .. } | Root::Oci { .. } | Root::Nbd { .. } => NfsVersion::V3,
        }
    }
}

/// Where the root is to come from before the network has answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    /// Named on the command line.
    Given(Root),
    /// `root=dhcp`, or `root=/dev/nfs` without `nfsroot=` (`nfs`): the DHCP root path says.
    FromDhcp { nfs: bool },
}

/// The command line's say on how the root takes writes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WriteChoices {
    /// `diskless.overlay=`.
    overlay: Option<OverlayMode>,
    /// The kernel's `rw` / `ro`.
    root_rw: Option<bool>,
    /// `diskless.volatile=`.
    volatile: Option<Vec<String>>,
    /// `diskless.overlay.size=`.
    ram_size: Option<String>,
}

/// How the new root takes writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writes {
    /// A tmpfs layer over the read-only root (an image always has one unless
    /// `diskless.overlay=none`; an NFS root with `diskless.overlay=tmpfs`). For an ordinary
    /// container image, whose layers are unpacked into a tmpfs, the tmpfs stays writable.
    Overlay,
    /// The NFS export itself, mounted read-write (`rw`, or the share's own `rw` option).
    ReadWrite,
    /// Nowhere but these paths, each a tmpfs overlay of its own over the read-only root
    /// (`diskless.volatile=`, else [`DEFAULT_VOLATILE`]; empty with `diskless.volatile=none`).
    ReadOnly { volatile: Vec<String> },
}

/// Where the node's identity files (hostname, hosts, machine-id, resolv.conf) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityFiles {
    /// /etc takes writes: the files are written there.
    Written,
    /// /etc is read-only: copies in /run are bind-mounted over the image's files (or written
    /// through a symlink into a writable place).
    BoundOver,
}

/// The whole new root, as the root step assembles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootLayout {
    /// Where it comes from; an NFS share's `%s` is expanded.
    pub source: Root,
    pub writes: Writes,
    /// `diskless.overlay.size=`: the size of every tmpfs that takes the root's writes (the
    /// overlay, the volatile paths, an ordinary container image's root); half of RAM, a cap,
    /// when `None`.
    pub ram_size: Option<String>,
    pub identity_files: IdentityFiles,
    /// Whether the root's network manager is handed what keeps the boot NIC as the initramfs
    /// configured it: `diskless.handover=`, else whenever the root (NFS or NBD, or an
    /// overlay's lower layer) or the node's storage is on the network. An image in RAM does not need it: the
    /// root's manager may then reconfigure the NIC as its own files say.
    pub keep_network: bool,
}

impl RootLayout {
    /// Whether the root itself takes writes (what configuration archives need).
    pub fn writable(&self) -> bool {
        matches!(self.writes, Writes::Overlay | Writes::ReadWrite)
    }

    /// Whether a tmpfs overlay covers the whole root.
    pub fn overlay(&self) -> bool {
        self.writes == Writes::Overlay
    }

    /// The paths that take writes in RAM over a read-only root.
    pub fn volatile(&self) -> &[String] {
        match &self.writes {
            Writes::ReadOnly { volatile } => volatile,
            Writes::Overlay | Writes::ReadWrite => &[],
        }
    }

    /// The NFS version the node's directory and shared mounts default to.
    pub fn share_default_version(&self) -> NfsVersion {
        self.source.share_default_version()
    }
}

/// Where the root comes from and how it takes writes, as the command line says; the
/// modules to load ahead for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPlan {
    origin: Origin,
    choices: WriteChoices,
    modules: ModulesAhead,
    /// `diskless.handover=`.
    handover: Option<HandoverMode>,
    /// `diskless.node=` or `diskless.mount=`: the node's storage is on the network.
    shares: bool,
}

impl RootPlan {
    pub fn from_config(config: &BootConfig) -> Result<RootPlan, PlanError> {
        let origin = match &config.root {
            Some(RootSource::LiveImage { url }) => Origin::Given(Root::Image { url: url.clone() }),
            Some(RootSource::Nfs {
                share: Some(share),
                default_version,
                syntax,
            }) => Origin::Given(Root::Nfs {
                share: share.clone(),
                default_version: *default_version,
                syntax: *syntax,
            }),
            Some(RootSource::Oci(image)) => Origin::Given(Root::Oci {
                image: image.clone(),
            }),
            Some(RootSource::Nbd(spec)) => Origin::Given(Root::Nbd { spec: spec.clone() }),
            Some(RootSource::Nfs { share: None, .. }) => Origin::FromDhcp { nfs: true },
            Some(RootSource::Dhcp) => Origin::FromDhcp { nfs: false },
            Some(RootSource::Other(other)) => {
                return Err(PlanError::UnsupportedRoot(other.clone()));
            }
            None => return Err(PlanError::NoRoot),
        };
        let choices = WriteChoices {
            overlay: config.overlay,
            root_rw: config.root_rw,
            volatile: config.volatile.clone(),
            ram_size: config.overlay_size.clone(),
        };
        let modules = modules_ahead(&origin.likely_root(), &choices, config);
        Ok(RootPlan {
            origin,
            choices,
            modules,
            handover: config.handover,
            shares: config.node.is_some() || !config.mounts.is_empty(),
        })
    }

    /// The modules this root and the node's shares will need, as module names or the
    /// kernel's own aliases (`fs-squashfs`, `fs-overlay`, `fs-nfs`), in the order they are
    /// needed: loaded while the network comes up. A root DHCP will name is guessed from
    /// `root=dhcp` (an image) or `root=/dev/nfs` (NFS).
    pub fn modules_ahead(&self) -> &ModulesAhead {
        &self.modules
    }

    /// Whether DHCP's root path (option 17) names the root.
    pub fn from_dhcp(&self) -> bool {
        matches!(self.origin, Origin::FromDhcp { .. })
    }

    /// The layout, with what the network said: DHCP's root path (option 17, where the
    /// command line left the root to the network: a URL, `nfs:`/`nfs4:`, or
    /// `[<server>:]<path>` for NFS), and the node's address and name for `%s` in an NFS path.
    pub fn settle(
        self,
        root_path: Option<&str>,
        address: Ipv4Addr,
        name: &str,
    ) -> Result<RootLayout, PlanError> {
        let source = match self.origin {
            Origin::Given(root) => root,
            Origin::FromDhcp { nfs } => root_from_dhcp(nfs, root_path)?,
        };
        let source = match source {
            Root::Nfs {
                share,
                default_version,
                syntax,
            } => Root::Nfs {
                share: expand_percent_s(&share, syntax, address, name),
                default_version,
                syntax,
            },
            other => other,
        };
        let writes = writes(&source, &self.choices);
        let etc_writable = match &writes {
            Writes::Overlay | Writes::ReadWrite => true,
            Writes::ReadOnly { volatile } => volatile.iter().any(|p| p == "/etc"),
        };
        let keep_network = match self.handover {
            Some(mode) => mode == HandoverMode::Keep,
            None => matches!(source, Root::Nfs { .. } | Root::Nbd { .. }) || self.shares,
        };
        Ok(RootLayout {
            source,
            writes,
            ram_size: self.choices.ram_size,
            identity_files: if etc_writable {
                IdentityFiles::Written
            } else {
                IdentityFiles::BoundOver
            },
            keep_network,
        })
    }
}

impl Origin {
    /// The root as far as the command line tells before DHCP: a root DHCP will name is taken
    /// to be an image (`root=dhcp`) or a kernel-syntax NFS share without options
    /// (`root=/dev/nfs`), which is what [`root_from_dhcp`] makes of a bare root path.
    fn likely_root(&self) -> Root {
        match self {
            Origin::Given(root) => root.clone(),
            Origin::FromDhcp { nfs: true } => Root::Nfs {
                share: NfsShare {
                    server: None,
                    path: String::new(),
                    options: Vec::new(),
                },
                default_version: NfsVersion::V3,
                syntax: NfsSyntax::Kernel,
            },
            Origin::FromDhcp { nfs: false } => Root::Image { url: String::new() },
        }
    }
}

/// How `root` takes writes: `diskless.overlay=` first, else an overlay for an image (a
/// squashfs is read-only) and none for NFS (a shared read-only export); an NFS root without
/// an overlay is read-write when the kernel's `rw` or the share's own option says so;
/// otherwise the volatile paths.
fn writes(root: &Root, choices: &WriteChoices) -> Writes {
    let overlay = match choices.overlay {
        Some(mode) => mode == OverlayMode::Tmpfs,
        None => matches!(
            root,
            Root::Image { .. } | Root::Oci { .. } | Root::Nbd { .. }
        ),
    };
    if overlay {
        return Writes::Overlay;
    }
    if let Root::Nfs { share, .. } = root {
        if choices.root_rw.or(share.read_write()).unwrap_or(false) {
            return Writes::ReadWrite;
        }
    }
    Writes::ReadOnly {
        volatile: match &choices.volatile {
            Some(paths) => paths.clone(),
            None => DEFAULT_VOLATILE.iter().map(|p| (*p).to_owned()).collect(),
        },
    }
}

/// The root's file systems first, then the NFS version each share asks for that the root
/// does not load already (the kernel asks for `nfsv3`/`nfsv4` at mount time); the overlay
/// only when something is layered.
fn modules_ahead(root: &Root, choices: &WriteChoices, config: &BootConfig) -> ModulesAhead {
    let nfs_version = |share: &NfsShare, default| match share.version(default) {
        NfsVersion::V3 => "nfsv3",
        NfsVersion::V4 => "nfsv4",
    };
    let mut names: Vec<&str> = match root {
        Root::Image { .. } => vec!["loop", "fs-squashfs"],
        Root::Oci { .. } => vec!["loop", "fs-squashfs", "fs-overlay"],
        // Nothing asks for device-mapper's modules before /dev/mapper/control is opened.
        Root::Nbd { .. } => vec!["nbd", "dm_mod", "dm_verity", "fs-squashfs"],
        Root::Nfs {
            share,
            default_version,
            ..
        } => vec!["fs-nfs", nfs_version(share, *default_version)],
    };
    let layered = match writes(root, choices) {
        Writes::Overlay => true,
        Writes::ReadWrite => false,
        Writes::ReadOnly { volatile } => !volatile.is_empty(),
    };
    if layered {
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

/// The root DHCP's root path names: for `root=/dev/nfs` an NFS share in the kernel's syntax;
/// for `root=dhcp` anything `root=` takes, a bare `[<server>:]<path>` being NFS.
fn root_from_dhcp(nfs: bool, root_path: Option<&str>) -> Result<Root, PlanError> {
    let wanted = if nfs {
        "root=/dev/nfs without nfsroot="
    } else {
        "root=dhcp"
    };
    let path = root_path.ok_or(PlanError::NoRootPath { wanted })?;
    let kernel_nfs = |path: &str| {
        NfsShare::parse_comma(path)
            .map(|share| Root::Nfs {
                share,
                default_version: NfsVersion::V3,
                syntax: NfsSyntax::Kernel,
            })
            .map_err(|err| PlanError::BadRootPath {
                wanted,
                path: path.to_owned(),
                reason: err.reason.to_owned(),
            })
    };
    if nfs {
        return kernel_nfs(path);
    }
    match parse_root(path) {
        Ok(RootSource::LiveImage { url }) => Ok(Root::Image { url }),
        Ok(RootSource::Oci(image)) => Ok(Root::Oci { image }),
        Ok(RootSource::Nbd(spec)) => Ok(Root::Nbd { spec }),
        Ok(RootSource::Nfs {
            share: Some(share),
            default_version,
            syntax,
        }) => Ok(Root::Nfs {
            share,
            default_version,
            syntax,
        }),
        Err(reason) => Err(PlanError::BadRootPath {
            wanted,
            path: path.to_owned(),
            reason,
        }),
        _ => kernel_nfs(path),
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

    fn layout(line: &str) -> RootLayout {
        let plan = RootPlan::from_config(&config(line)).expect(line);
        plan.settle(None, Ipv4Addr::new(10, 0, 2, 15), "node1")
            .expect(line)
    }

    /// How each root takes writes, and where the identity files go.
    #[test]
    fn roots_overlays_and_writes() {
        let read_only = |paths: &[&str]| Writes::ReadOnly {
            volatile: paths.iter().map(|p| (*p).to_owned()).collect(),
        };
        let cases: Vec<(&str, Writes, IdentityFiles)> = vec![
            (
                "root=live:http://h/r.sqfs",
                Writes::Overlay,
                IdentityFiles::Written,
            ),
            (
                "root=oci:r.lab/a:v1",
                Writes::Overlay,
                IdentityFiles::Written,
            ),
            (
                "root=nbd:10.0.2.2:root",
                Writes::Overlay,
                IdentityFiles::Written,
            ),
            (
                "root=nbd:10.0.2.2:root diskless.overlay=none",
                read_only(DEFAULT_VOLATILE),
                IdentityFiles::Written,
            ),
            (
                "root=oci:r.lab/a:v1 diskless.overlay=none",
                read_only(DEFAULT_VOLATILE),
                IdentityFiles::Written,
            ),
            (
                "root=live:http://h/r.sqfs diskless.overlay=none diskless.volatile=/var",
                read_only(&["/var"]),
                IdentityFiles::BoundOver,
            ),
            (
                "root=live:http://h/r.sqfs diskless.overlay=none diskless.volatile=none",
                read_only(&[]),
                IdentityFiles::BoundOver,
            ),
            (
                "root=/dev/nfs nfsroot=h:/clients,ro",
                read_only(DEFAULT_VOLATILE),
                IdentityFiles::Written,
            ),
            (
                "root=/dev/nfs nfsroot=h:/clients,rw",
                Writes::ReadWrite,
                IdentityFiles::Written,
            ),
            (
                "root=/dev/nfs nfsroot=h:/clients,rw ro",
                read_only(DEFAULT_VOLATILE),
                IdentityFiles::Written,
            ),
            (
                "root=nfs:h:/clients rw",
                Writes::ReadWrite,
                IdentityFiles::Written,
            ),
            (
                "root=nfs4:h:/clients diskless.overlay=tmpfs rw",
                Writes::Overlay,
                IdentityFiles::Written,
            ),
            // The volatile paths apply to a read-only root only.
            (
                "root=nfs:h:/clients rw diskless.volatile=/var",
                Writes::ReadWrite,
                IdentityFiles::Written,
            ),
        ];
        for (line, writes, identity_files) in cases {
            let got = layout(line);
            assert_eq!(got.writes, writes, "{line}");
            assert_eq!(got.identity_files, identity_files, "{line}");
            assert_eq!(
                got.writable(),
                matches!(writes, Writes::Overlay | Writes::ReadWrite),
                "{line}"
            );
        }
        let sized = layout("root=live:http://h/r.sqfs diskless.overlay.size=2G");
        assert_eq!(sized.ram_size.as_deref(), Some("2G"));
        let kernel = layout("root=/dev/nfs nfsroot=h:/roots/%s");
        let dracut = layout("root=nfs:h:/roots/%s");
        for (got, path) in [(kernel, "/roots/10.0.2.15"), (dracut, "/roots/node1")] {
            match got.source {
                Root::Nfs { share, .. } => assert_eq!(share.path, path),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Whether the boot NIC's configuration is kept for the root: whenever the root (NFS,
    /// NBD), its lower layer or the node's storage is on the network, unless `diskless.handover=none`.
    #[test]
    fn the_boot_nics_configuration_is_kept_when_the_root_needs_the_network() {
        let cases: &[(&str, bool)] = &[
            ("root=live:http://h/r.sqfs", false),
            ("root=oci:r.lab/a:v1", false),
            ("root=/dev/nfs nfsroot=h:/clients,ro", true),
            ("root=nfs:h:/clients rw", true),
            ("root=nfs4:h:/clients diskless.overlay=tmpfs", true),
            // Every block of an NBD root comes over the network, as an NFS root's files do.
            ("root=nbd:h:root", true),
            ("root=live:http://h/r.sqfs diskless.node=h:/workers", true),
            (
                "root=live:http://h/r.sqfs diskless.mount=h:/home,/home",
                true,
            ),
            ("root=live:http://h/r.sqfs diskless.handover=keep", true),
            (
                "root=nfs4:h:/clients diskless.overlay=tmpfs diskless.handover=none",
                false,
            ),
            (
                "root=live:http://h/r.sqfs diskless.node=h:/workers diskless.handover=none",
                false,
            ),
        ];
        for (line, keep) in cases {
            assert_eq!(layout(line).keep_network, *keep, "{line}");
        }
        // A root DHCP names is judged once settled: NFS or an image.
        let address = Ipv4Addr::new(10, 0, 2, 15);
        for (path, keep) in [("10.0.2.2:/clients", true), ("http://h/r.sqfs", false)] {
            let plan = RootPlan::from_config(&config("root=dhcp")).expect("plan");
            let got = plan.settle(Some(path), address, "node1").expect(path);
            assert_eq!(got.keep_network, keep, "{path}");
        }
    }

    /// Every message that lists the root kinds names each kind `root=` takes.
    #[test]
    fn messages_that_list_roots_name_every_kind() {
        let kinds = [
            "root=live:",
            "root=/dev/nfs",
            "root=nfs:",
            "root=oci:",
            "root=nbd:",
            "root=dhcp",
        ];
        for line in ["", "root=/dev/sda1"] {
            let err = RootPlan::from_config(&config(line))
                .expect_err(line)
                .to_string();
            for kind in kinds {
                assert!(err.contains(kind), "{line}: {err} does not name {kind}");
            }
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
                "nbd:10.0.2.2:root",
                Root::Nbd {
                    spec: crate::cmdline::nbd::parse_dracut("10.0.2.2:root").expect("spec"),
                },
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
        let address = Ipv4Addr::new(10, 0, 2, 15);
        for (line, path, want) in cases {
            let plan = RootPlan::from_config(&config(line)).expect(line);
            let got = plan.settle(Some(path), address, "node1").expect(path);
            assert_eq!(got.source, want, "{line} {path}");
        }
        let no_path = RootPlan::from_config(&config("root=dhcp"))
            .expect("plan")
            .settle(None, address, "node1")
            .expect_err("no root path")
            .to_string();
        assert!(
            no_path.starts_with("root=dhcp: the DHCP server gave no root path"),
            "{no_path}"
        );
        let bad = RootPlan::from_config(&config("root=dhcp"))
            .expect("plan")
            .settle(Some("clients"), address, "node1")
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
            (
                "root=nbd:10.0.2.2:root",
                (
                    &["nbd", "dm_mod", "dm_verity", "fs-squashfs", "fs-overlay"],
                    &[],
                ),
            ),
            (
                "nbdroot=10.0.2.2:2000 diskless.overlay=none diskless.volatile=none \
                 diskless.node=h:/workers",
                (
                    &["nbd", "dm_mod", "dm_verity", "fs-squashfs"],
                    &["fs-nfs", "nfsv3"],
                ),
            ),
            // An HPC site's NFS layout: a v3 root with the volatile paths, a v4.1 node directory and /home:
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
            let ahead = plan.modules_ahead();
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
