//! PID 1's boot, in order. Each step logs to /dev/kmsg and is timed into the boot record;
//! any error ends in [`emergency::fatal`], logged once, there.

use std::convert::Infallible;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmdline;
use crate::config::{BootConfig, NfsSyntax, OverlayMode, RootSource};
use crate::dhcp;
use crate::emergency::{self, Policy};
use crate::error::{BootError, Step};
use crate::etcfiles;
use crate::fetch::{self, RetryPolicy};
use crate::identity::Mac;
use crate::ip::{AutoConf, IpParam, StaticIp};
use crate::kmsg::{DevKmsgGuard, KmsgLogger};
use crate::modload::Modules;
use crate::net::{self, Configured, NicChoice, StaticPlan};
use crate::newroot;
use crate::nfs::{NfsShare, NfsVersion};
use crate::record::{BootRecord, StepTime};
use crate::rootfs;
use crate::rootpath;
use crate::shares::{self, NfsContext};
use crate::squashfs;
use crate::switchroot;
use crate::sys::{self, MountOptions};

/// Modules the squashfs root needs that nothing would ask for: /dev/loop-control only exists
/// once `loop` is loaded. The file systems (squashfs, overlay) the kernel requests itself
/// through /sbin/modprobe, i.e. this binary, when they are mounted.
const LIVE_ROOT_MODULES: [&str; 1] = ["loop"];

/// Runs the boot; never returns.
pub fn pid1(args: Vec<OsString>) -> ! {
    emergency::install_panic_hook();
    match run(&args) {
        Err(err) => emergency::fatal(err.step().name(), &err.to_string()),
        Ok(never) => match never {},
    }
}

/// Times steps and keeps them for the record.
struct Timeline {
    steps: Vec<StepTime>,
}

impl Timeline {
    fn run<T>(
        &mut self,
        step: Step,
        work: impl FnOnce() -> Result<T, BootError>,
    ) -> Result<T, BootError> {
        let started = Instant::now();
        let result = work();
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        if result.is_ok() {
            log::info!("{} done in {millis:.1} ms", step.name());
        }
        self.steps.push(StepTime {
            step: step.name().to_owned(),
            millis,
        });
        result
    }
}

fn early_mounts() -> Result<(), BootError> {
    let hardened = MountOptions {
        nosuid: true,
        nodev: true,
        noexec: true,
        ..MountOptions::default()
    };
    let mounts: [(&str, &'static str, &'static str, MountOptions, &str); 4] = [
        ("proc", "/proc", "proc", hardened, ""),
        ("sysfs", "/sys", "sysfs", hardened, ""),
        (
            "devtmpfs",
            "/dev",
            "devtmpfs",
            MountOptions {
                nosuid: true,
                ..MountOptions::default()
            },
            "mode=0755",
        ),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            MountOptions {
                nosuid: true,
                nodev: true,
                ..MountOptions::default()
            },
            "mode=0755",
        ),
    ];
    for (source, target, fstype, options, data) in mounts {
        let _ = std::fs::create_dir_all(target);
        sys::mount(source, Path::new(target), fstype, options, data).map_err(|source| {
            BootError::EarlyMount {
                fstype,
                target,
                source,
            }
        })?;
    }
    Ok(())
}

/// What the network step will do, decided from `ip=` before any hardware is touched.
enum NetworkPlan {
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
    fn device(&self) -> Option<&str> {
        match self {
            NetworkPlan::Static { ip, .. } => ip.device.as_deref(),
            NetworkPlan::Dhcp { device, .. } => device.as_deref(),
        }
    }

    fn given_hostname(&self) -> Option<&str> {
        match self {
            NetworkPlan::Static { ip, .. } | NetworkPlan::Dhcp { ip: Some(ip), .. } => {
                ip.hostname.as_deref()
            }
            NetworkPlan::Dhcp { ip: None, .. } => None,
        }
    }
}

/// The last `ip=` decides, as in the kernel; none at all means DHCP (every root we boot
/// needs the network, as with dracut's rd.neednet).
fn plan_network(ip: Option<&IpParam>) -> Result<NetworkPlan, BootError> {
    let shown = |ip: Option<&IpParam>| {
        ip.map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "(none)".to_owned())
    };
    match ip {
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
        Some(IpParam::Static(static_ip)) if static_ip.autoconf == AutoConf::Dhcp => {
            Ok(NetworkPlan::Dhcp {
                device: static_ip.device.clone(),
                ip: Some(static_ip.clone()),
            })
        }
        Some(IpParam::Static(static_ip))
            if static_ip.client.is_some() && static_ip.autoconf == AutoConf::Off =>
        {
            let plan = StaticPlan::from_ip(static_ip)
                .map_err(|why| BootError::UnsupportedIp(shown(ip), why))?;
            Ok(NetworkPlan::Static {
                ip: static_ip.clone(),
                plan,
            })
        }
        Some(IpParam::Off) => Err(BootError::UnsupportedIp(
            "off".to_owned(),
            "a network root with ip=off",
        )),
        Some(IpParam::Static(_)) => Err(BootError::UnsupportedIp(
            shown(ip),
            "a static ip= without a client address",
        )),
        Some(IpParam::Auto(_) | IpParam::Device { .. }) => Err(BootError::UnsupportedIp(
            shown(ip),
            "IPv6 and firmware (ibft) configuration",
        )),
    }
}

/// Where the root comes from, decided from the command line before any hardware is touched.
enum RootPlan {
    Live {
        url: String,
    },
    Nfs {
        share: NfsShare,
        default_version: NfsVersion,
        syntax: NfsSyntax,
    },
    /// `root=dhcp`, or `root=/dev/nfs` without `nfsroot=` (`nfs`): the DHCP root path.
    FromDhcp {
        nfs: bool,
    },
}

impl RootPlan {
    fn from_config(config: &BootConfig) -> Result<RootPlan, BootError> {
        match &config.root {
            Some(RootSource::LiveImage { url }) => Ok(RootPlan::Live { url: url.clone() }),
            Some(RootSource::Nfs {
                share: Some(share),
                default_version,
                syntax,
            }) => Ok(RootPlan::Nfs {
                share: share.clone(),
                default_version: *default_version,
                syntax: *syntax,
            }),
            Some(RootSource::Nfs { share: None, .. }) => Ok(RootPlan::FromDhcp { nfs: true }),
            Some(RootSource::Dhcp) => Ok(RootPlan::FromDhcp { nfs: false }),
            Some(RootSource::Other(other)) => Err(BootError::UnsupportedRoot(other.clone())),
            None => Err(BootError::NoRoot),
        }
    }

    /// Whether the root gets a tmpfs overlay: `diskless.overlay=`, else yes for an image (a
    /// squashfs is read-only) and no for NFS (seed 003's read-only root).
    fn overlay(&self, config: &BootConfig) -> bool {
        match config.overlay {
            Some(mode) => mode == OverlayMode::Tmpfs,
            None => matches!(
                self,
                RootPlan::Live { .. } | RootPlan::FromDhcp { nfs: false }
            ),
        }
    }

    /// Modules nothing would ask the kernel for (see [`LIVE_ROOT_MODULES`]).
    fn modules(&self) -> &'static [&'static str] {
        match self {
            RootPlan::Live { .. } | RootPlan::FromDhcp { nfs: false } => &LIVE_ROOT_MODULES,
            RootPlan::Nfs { .. } | RootPlan::FromDhcp { nfs: true } => &[],
        }
    }

    /// Settles a root that DHCP was to name, from the lease's root path (option 17).
    fn resolve(self, net: &Configured) -> Result<RootPlan, BootError> {
        let RootPlan::FromDhcp { nfs } = self else {
            return Ok(self);
        };
        let wanted = if nfs {
            "root=/dev/nfs without nfsroot="
        } else {
            "root=dhcp"
        };
        let Some(path) = net.root_path.as_deref() else {
            return Err(BootError::UnsupportedRoot(format!(
                "{wanted}, but the network gave no root path (DHCP option 17)"
            )));
        };
        log::info!("root path from DHCP: {path}");
        let kernel_nfs = |path: &str| {
            NfsShare::parse_comma(path)
                .map(|share| RootPlan::Nfs {
                    share,
                    default_version: NfsVersion::V3,
                    syntax: NfsSyntax::Kernel,
                })
                .map_err(|err| BootError::UnsupportedRoot(format!("DHCP root path {err}")))
        };
        if nfs {
            return kernel_nfs(path);
        }
        match crate::config::parse_root(path) {
            Ok(RootSource::LiveImage { url }) => Ok(RootPlan::Live { url }),
            Ok(RootSource::Nfs {
                share: Some(share),
                default_version,
                syntax,
            }) => Ok(RootPlan::Nfs {
                share,
                default_version,
                syntax,
            }),
            _ => kernel_nfs(path),
        }
    }
}

/// The boot in progress: the step timings and the record written for the real system.
struct Boot {
    timeline: Timeline,
    record: BootRecord,
}

fn run(args: &[OsString]) -> Result<Infallible, BootError> {
    early_mounts()?;
    KmsgLogger::install(log::LevelFilter::Info);
    let devkmsg = DevKmsgGuard::lift();
    log::info!("diskless {} starting as PID 1", env!("CARGO_PKG_VERSION"));
    let mut boot = Boot {
        timeline: Timeline { steps: Vec::new() },
        record: BootRecord {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..BootRecord::default()
        },
    };

    let (config, cmdline_text) = boot.timeline.run(Step::Cmdline, || {
        let line = std::fs::read_to_string("/proc/cmdline").map_err(BootError::ReadCmdline)?;
        let params = cmdline::parse(&line);
        emergency::set_policy(Policy::from_params(&params));
        Ok((BootConfig::from_params(&params)?, line))
    })?;
    if config.debug {
        log::set_max_level(log::LevelFilter::Debug);
    }
    let root_plan = RootPlan::from_config(&config)?;
    let net_plan = plan_network(config.ip.as_ref())?;

    let modules = boot
        .timeline
        .run(Step::Modules, || load_modules(&config, root_plan.modules()))?;
    boot.record.modules_loaded = modules.loaded();

    let link_timeout = Duration::from_secs(u64::from(config.link_timeout_secs));
    let choice = match (&config.bootif, net_plan.device()) {
        (Some(mac), _) => NicChoice::Mac(*mac),
        (None, Some(device)) => NicChoice::Name(device.to_owned()),
        (None, None) => NicChoice::FirstEthernet,
    };
    let (iface, mac) = boot
        .timeline
        .run(Step::Link, || find_nic(&choice, &config, link_timeout))?;
    boot.record.mac = Some(mac.to_string());

    // The name is set before any interface comes up, so no packet (DHCP's included, which
    // carries it) leaves without it.
    let mut name = boot.timeline.run(Step::Identity, || {
        set_name(&config, &mac, net_plan.given_hostname())
    })?;

    let net = boot.timeline.run(Step::Network, || match &net_plan {
        NetworkPlan::Static { ip, plan } => {
            let net = Configured::from_static(&iface, ip, plan, &config.nameservers);
            bring_up(std::slice::from_ref(&iface), &config, link_timeout)?;
            configure_interface(&net)?;
            Ok(net)
        }
        NetworkPlan::Dhcp { ip, .. } => {
            // Only BOOTIF's or ip='s NIC; otherwise every Ethernet NIC may answer.
            let candidates = match choice {
                NicChoice::FirstEthernet => net::ethernet_interfaces(),
                _ => vec![iface.clone()],
            };
            let with_carrier = bring_up(&candidates, &config, link_timeout)?;
            let net = dhcp_configure(&with_carrier, &mac, &name, ip.as_ref(), &config)?;
            configure_interface(&net)?;
            Ok(net)
        }
    })?;
    boot.record.interface = Some(net.iface.clone());
    boot.record.addresses = vec![format!("{}/{}", net.address, net.prefix_len)];
    boot.record.gateway = net.gateway.map(|gw| gw.to_string());
    boot.record.dns = net.dns.iter().map(ToString::to_string).collect();
    if config.hostname.as_str() == "dhcp" && net.hostname.is_some() {
        name = set_name(&config, &mac, net.hostname.as_deref())?;
    }
    boot.record.hostname = Some(name.clone());
    write_net_conf(&net, &name);

    let deadline = Instant::now() + Duration::from_secs(u64::from(config.retry_secs));
    let nfs = NfsContext {
        client: IpAddr::V4(net.address),
        default_server: net.server,
        deadline,
        retry: RetryPolicy::with_deadline(Duration::from_secs(u64::from(config.retry_secs)))
            .seeded(fetch::jitter_seed(&mac.0, u64::from(net.address.to_bits()))),
    };
    let root_plan = root_plan.resolve(&net)?;
    let overlay = root_plan.overlay(&config);
    let new_root = Path::new(rootfs::NEW_ROOT);
    // Whether /etc of the new root takes writes: an overlay, or an NFS root mounted rw.
    let root_writable = match &root_plan {
        RootPlan::Live { url } => {
            assemble_live_root(&mut boot, url, &config, overlay)?;
            overlay
        }
        RootPlan::Nfs {
            share,
            default_version,
            syntax,
        } => {
            let share = expand_percent_s(share, *syntax, net.address, &name);
            let read_write = boot.timeline.run(Step::Mount, || {
                mount_nfs_root(&nfs, &share, *default_version, &config, overlay)
            })?;
            let layer = if overlay {
                " under a tmpfs overlay"
            } else if read_write {
                ", read-write"
            } else {
                ", read-only"
            };
            boot.record.root = Some(format!("NFS {}{layer}", share.describe()));
            overlay || read_write
        }
        RootPlan::FromDhcp { .. } => {
            return Err(BootError::UnsupportedRoot(
                "a root the network did not name".to_owned(),
            ));
        }
    };

    boot.timeline.run(Step::Storage, || {
        attach_storage(&nfs, &config, new_root, &name, &mac, &cmdline_text)
    })?;

    let written = boot.timeline.run(Step::Configure, || {
        newroot::write_identity(new_root, root_writable, &name, &mac, &net)
    })?;
    boot.record.machine_id = Some(written.machine_id);

    boot.record.steps = boot.timeline.steps;
    write_record(&boot.record);
    log::info!(
        "switching root to {} and running {}",
        rootfs::NEW_ROOT,
        config.init
    );
    devkmsg.restore();
    Err(switchroot::switch_root(
        new_root,
        &config.init,
        args.get(1..).unwrap_or_default(),
    ))
}

fn load_modules(config: &BootConfig, root_modules: &[&str]) -> Result<Modules, BootError> {
    let mut modules = Modules::open(&sys::kernel_release(), &config.driver_blacklist)?;
    let pre = modules.load(&config.driver_pre)?;
    for name in pre.unknown {
        log::warn!("rd.driver.pre={name}: no such module in this image");
    }
    modules.coldplug()?;
    let wanted: Vec<String> = root_modules.iter().map(|m| (*m).to_owned()).collect();
    let root = modules.load(&wanted)?;
    if !root.newly.is_empty() {
        log::info!("loaded modules for the root: {}", root.newly.join(" "));
    }
    Ok(modules)
}

fn find_nic(
    choice: &NicChoice,
    config: &BootConfig,
    timeout: Duration,
) -> Result<(String, Mac), BootError> {
    let nic =
        net::wait_for_interface(choice, timeout).map_err(|present| BootError::NoInterface {
            wanted: choice.describe(),
            secs: config.link_timeout_secs,
            present: present
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let mac = nic.mac.ok_or_else(|| BootError::NoInterface {
        wanted: format!("{} with a MAC address", nic.name),
        secs: config.link_timeout_secs,
        present: nic.name.clone(),
    })?;
    log::info!(
        "boot interface {} ({mac}), chosen {}",
        nic.name,
        choice.describe()
    );
    Ok((nic.name, mac))
}

/// Fetches, verifies and mounts a squashfs image: nothing is mounted unless it verified.
fn assemble_live_root(
    boot: &mut Boot,
    url: &str,
    config: &BootConfig,
    overlay: bool,
) -> Result<(), BootError> {
    let image = Path::new(rootfs::IMAGE_PATH);
    let node = boot.record.mac.as_deref();
    let (fetched, expected) = boot
        .timeline
        .run(Step::Fetch, || fetch_image(url, image, config, node))?;
    boot.record.image_url = Some(fetched.url.clone());
    boot.record.image_sha256 = Some(fetch::hex(&fetched.sha256));
    boot.record.image_bytes = Some(fetched.bytes);

    boot.timeline.run(Step::Verify, || {
        verify_image(&fetched.url, image, &fetched, expected.as_ref())
    })?;
    boot.timeline.run(Step::Mount, || {
        if overlay {
            rootfs::mount_squashfs(image, rootfs::LOWER)?;
            rootfs::mount_overlay(config.overlay_size.as_deref())
        } else {
            rootfs::mount_squashfs(image, rootfs::NEW_ROOT)
        }
    })?;
    boot.record.root = Some(format!(
        "squashfs {}{}",
        image.display(),
        if overlay {
            " under a tmpfs overlay"
        } else {
            ", read-only"
        }
    ));
    Ok(())
}

/// `%s` in an NFS root path: the client's address in the kernel's syntax, the host name in
/// dracut's.
fn expand_percent_s(
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

/// Mounts the NFS root read-only (unless `rw`), directly or under a tmpfs overlay; returns
/// whether the NFS root itself is mounted read-write.
fn mount_nfs_root(
    nfs: &NfsContext,
    share: &NfsShare,
    default: NfsVersion,
    config: &BootConfig,
    overlay: bool,
) -> Result<bool, BootError> {
    if overlay {
        rootfs::mkdir(rootfs::LOWER)?;
        nfs.mount(share, default, Path::new(rootfs::LOWER), true)?;
        rootfs::mount_overlay(config.overlay_size.as_deref())?;
        return Ok(false);
    }
    // The kernel's `rw` wins, then the share's own ro/rw option; read-only by default.
    let read_write = config.root_rw.or(share.read_write()).unwrap_or(false);
    rootfs::mkdir(rootfs::NEW_ROOT)?;
    nfs.mount(share, default, Path::new(rootfs::NEW_ROOT), !read_write)?;
    Ok(read_write)
}

/// The node's directory, shared mounts and persistent paths (seed 003).
fn attach_storage(
    nfs: &NfsContext,
    config: &BootConfig,
    root: &Path,
    name: &str,
    mac: &Mac,
    cmdline_text: &str,
) -> Result<(), BootError> {
    if let Some(node) = &config.node {
        let dir = config.node_dir.render(mac, None)?;
        let created = shares::ensure_node_dir(nfs, node, &dir)?;
        log::info!(
            "node directory {}/{dir} {}",
            node.describe(),
            if created {
                "created (first boot)"
            } else {
                "found"
            }
        );
        let node_dir = shares::in_root(root, &config.node_mount);
        shares::mount_node_dir(nfs, node, &dir, &node_dir)?;
        // Seed 003 keeps these on the node's directory, so images that link /etc/hostname
        // to /var/local/hostname keep working and the server shows which node is which.
        let image_hosts = rootpath::resolve_in_root(root, "/etc/hosts")
            .and_then(|p| std::fs::read_to_string(p).ok());
        for (file, contents) in [
            ("hostname", etcfiles::hostname_file(name)),
            ("hosts", etcfiles::hosts_file(image_hosts.as_deref(), name)),
            ("cmdline", cmdline_text.to_owned()),
        ] {
            let path = node_dir.join(file);
            std::fs::write(&path, contents).map_err(|source| BootError::Storage {
                what: "writing".to_owned(),
                path,
                source,
            })?;
        }
        for path in &config.persist {
            shares::persist(root, &node_dir, path)?;
        }
    }
    for mount in &config.mounts {
        shares::mount_shared(nfs, &mount.share, &shares::in_root(root, &mount.mountpoint))?;
    }
    Ok(())
}

/// Renders and sets the host name; `given` is the network's name, for `diskless.hostname=dhcp`.
fn set_name(config: &BootConfig, mac: &Mac, given: Option<&str>) -> Result<String, BootError> {
    let name = config.hostname.render(mac, given)?;
    sys::set_hostname(&name).map_err(|source| BootError::SetHostname {
        name: name.clone(),
        source,
    })?;
    log::info!("host name {name} (template {})", config.hostname.as_str());
    Ok(name)
}

/// Brings `lo` and the candidate NICs up and waits (bounded) for carrier; returns those that
/// have it. The one place a link comes up, for static and DHCP configuration alike.
fn bring_up(
    candidates: &[String],
    config: &BootConfig,
    link_timeout: Duration,
) -> Result<Vec<String>, BootError> {
    if let Err(err) = sys::interface_up("lo") {
        log::warn!("bringing up lo: {err}");
    }
    for iface in candidates {
        sys::interface_up(iface).map_err(|source| BootError::InterfaceUp {
            iface: iface.clone(),
            source,
        })?;
    }
    let with_carrier = net::wait_for_any_carrier(candidates, link_timeout);
    if with_carrier.is_empty() {
        return Err(BootError::NoCarrier {
            iface: candidates.join(", "),
            secs: config.link_timeout_secs,
        });
    }
    Ok(with_carrier)
}

/// Runs DHCP on every NIC given (up, with carrier); the first lease wins (the others keep
/// trying until their own timeout, then stop).
fn dhcp_configure(
    with_carrier: &[String],
    mac: &Mac,
    name: &str,
    ip: Option<&StaticIp>,
    config: &BootConfig,
) -> Result<Configured, BootError> {
    let timeout = Duration::from_secs(u64::from(config.dhcp_timeout_secs));
    let nics = net::interfaces();
    let (tx, rx) = std::sync::mpsc::channel();
    for iface in with_carrier {
        let iface_mac = nics
            .iter()
            .find(|nic| &nic.name == iface)
            .and_then(|nic| nic.mac)
            .unwrap_or(*mac);
        let client = dhcp::ClientConfig::new(iface, iface_mac, name, timeout);
        let tx = tx.clone();
        let iface = iface.clone();
        std::thread::spawn(move || {
            let _ = tx.send((iface, dhcp::acquire(&client)));
        });
    }
    drop(tx);
    let mut failures = Vec::new();
    for (iface, result) in rx {
        match result {
            Ok(lease) => {
                return Ok(Configured::from_lease(
                    &iface,
                    &lease,
                    ip,
                    &config.nameservers,
                ));
            }
            Err(err) => failures.push(err.to_string()),
        }
    }
    Err(BootError::Dhcp {
        reason: failures.join("; "),
    })
}

/// Applies an address, routes and MTU to the interface (up, with carrier: [`bring_up`]), and gives our own resolver (musl's,
/// inside the initramfs) the DNS servers so images can be fetched by host name.
fn configure_interface(net: &Configured) -> Result<(), BootError> {
    let iface = net.iface.as_str();
    let net_err = |what: String| {
        move |source| BootError::Network {
            iface: iface.to_owned(),
            what,
            source,
        }
    };
    if let Some(mtu) = net.mtu {
        sys::set_mtu(iface, mtu).map_err(net_err(format!("MTU {mtu}")))?;
    }
    sys::set_ipv4_address(iface, net.address, net.netmask()).map_err(net_err(format!(
        "address {}/{}",
        net.address, net.prefix_len
    )))?;
    for route in &net.routes {
        sys::add_route(iface, route.dest, route.prefix_len, route.gateway).map_err(net_err(
            format!("route {}/{}", route.dest, route.prefix_len),
        ))?;
    }
    if let Some(gateway) = net.gateway {
        sys::add_default_route(iface, gateway)
            .map_err(net_err(format!("default route via {gateway}")))?;
    }
    log::info!(
        "{iface}: {}/{}{} ({})",
        net.address,
        net.prefix_len,
        net.gateway
            .map(|gw| format!(" via {gw}"))
            .unwrap_or_default(),
        net.proto
    );
    if let Some(contents) = etcfiles::resolv_conf(&net.dns, net.domain.as_deref(), &net.search) {
        std::fs::write("/etc/resolv.conf", contents).map_err(|source| BootError::Network {
            iface: iface.to_owned(),
            what: "/etc/resolv.conf".to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// `/run/net-<dev>.conf` for the real system (initramfs-tools' format) and a copy in
/// /run/diskless. A failure costs the real system a convenience, not the boot.
fn write_net_conf(net: &Configured, name: &str) {
    let mask = u32::from(net.netmask());
    let conf = etcfiles::NetConf {
        device: &net.iface,
        proto: net.proto,
        address: net.address.to_string(),
        netmask: net.netmask().to_string(),
        broadcast: Ipv4Addr::from(u32::from(net.address) | !mask).to_string(),
        gateway: net
            .gateway
            .map(|gw| gw.to_string())
            .unwrap_or_else(|| "0.0.0.0".to_owned()),
        dns: net.dns.iter().map(ToString::to_string).collect(),
        hostname: name,
        domain: net.domain.as_deref().unwrap_or_default(),
        root_server: net.server.map(|s| s.to_string()).unwrap_or_default(),
        root_path: net.root_path.as_deref().unwrap_or_default(),
        lease_secs: net.lease_secs,
        search: net.search.clone(),
    };
    let contents = etcfiles::net_conf(&conf);
    let _ = std::fs::create_dir_all(rootfs::STATE_DIR);
    for path in [
        format!("/run/net-{}.conf", net.iface),
        format!("{}/net-{}.conf", rootfs::STATE_DIR, net.iface),
    ] {
        if let Err(err) = std::fs::write(&path, &contents) {
            log::warn!("writing {path}: {err}");
        }
    }
}

/// Fetches the image from `root=`'s URL, then the mirrors, holding it to what the initramfs
/// vouches for (`trust`: CA bundle, client certificate, pinned hash). `node` (the MAC) seeds
/// the retry jitter. Returns what was fetched and the hash it was held to, if any.
fn fetch_image(
    url: &str,
    image: &Path,
    config: &BootConfig,
    node: Option<&str>,
) -> Result<(fetch::Fetched, Option<crate::trust::Expected>), BootError> {
    use crate::trust::{self, Trust};
    let fail = |reason: String| BootError::Fetch {
        url: url.to_owned(),
        reason,
    };
    std::fs::create_dir_all(rootfs::STATE_DIR).map_err(|source| BootError::Store {
        path: rootfs::STATE_DIR.into(),
        source,
    })?;
    // The trust files live in the initramfs only, which switch_root deletes; the client key
    // is read into this process (replaced by exec) and written nowhere else.
    let trust = Trust::load(Path::new("/"))
        .map_err(|e| fail(format!("reading the initramfs's trust files: {e}")))?;
    let (expected, conflict) = trust::expected_hash(trust.pin, config.image_sha256);
    if let Some(conflict) = conflict {
        log::warn!("{conflict}");
    }
    let sources: Vec<String> = std::iter::once(url.to_owned())
        .chain(config.mirrors.iter().cloned())
        .collect();
    for warning in trust::fetch_warnings(&sources, expected.as_ref()) {
        log::warn!("{warning}");
    }
    let tls = match &trust.ca_pem {
        Some(ca) => {
            let client = trust
                .client
                .as_ref()
                .map(|c| (c.cert_pem.as_slice(), c.key_pem.as_slice()));
            let config = crate::tls::client_config(ca, client)
                .map_err(|e| fail(format!("the TLS files in the initramfs: {e}")))?;
            log::info!(
                "https: servers must chain to /{}{}",
                trust::CA_BUNDLE,
                if client.is_some() {
                    format!("; client certificate /{}", trust::CLIENT_CERT)
                } else {
                    String::new()
                }
            );
            Some(config)
        }
        None => {
            if trust.client.is_some() {
                log::warn!("the initramfs has a client certificate but no CA bundle: https is off");
            }
            None
        }
    };
    // The initramfs's files carry its build time (SOURCE_DATE_EPOCH): a floor for the clock.
    let built = std::fs::metadata("/init").and_then(|m| m.modified()).ok();
    let clock = crate::tls::Clock::system(built);
    if let Some(doubt) = clock.doubt() {
        log::warn!("{doubt}");
    }
    let boot_nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let seed = fetch::jitter_seed(node.unwrap_or_default().as_bytes(), boot_nanos);
    let policy =
        RetryPolicy::with_deadline(Duration::from_secs(u64::from(config.retry_secs))).seeded(seed);
    // A failed check leaves the budget open: tmpfs still refuses to overfill.
    let ram_budget = fetch::free_bytes(Path::new(rootfs::STATE_DIR))
        .map_err(|e| log::warn!("measuring the free RAM of {}: {e}", rootfs::STATE_DIR))
        .ok();
    let transport = fetch::HttpTransport::new(tls, &policy, clock);
    log::info!(
        "fetching {url} into {}{}",
        image.display(),
        if config.mirrors.is_empty() {
            String::new()
        } else {
            format!(" (mirrors: {})", config.mirrors.join(", "))
        }
    );
    let job = fetch::Job {
        sources: &sources,
        dest: image,
        expected: expected.map(|e| e.sha256),
        ram_budget,
    };
    let fetched = fetch::fetch_to_file(&transport, &job, &policy, |event| {
        let (level, line) = event.log_line();
        log::log!(level, "{line}");
    })
    .map_err(|err| match (err.hash_mismatch(), expected) {
        (Some((source, actual, wanted)), Some(e)) => BootError::HashMismatch {
            url: source.to_owned(),
            expected: fetch::hex(&wanted),
            actual: fetch::hex(&actual),
            by: hash_authority(e.source),
        },
        _ => fail(err.to_string()),
    })?;
    let done = fetch::Progress {
        bytes: fetched.bytes,
        total: Some(fetched.bytes),
        elapsed: fetched.elapsed,
    };
    log::info!(
        "fetched {}: {}, sha256 {}{}",
        fetched.url,
        done.describe(),
        fetch::hex(&fetched.sha256),
        match (fetched.attempts, fetched.resumes) {
            (1, _) => String::new(),
            (n, 0) => format!(" ({n} attempts)"),
            (n, 1) => format!(" ({n} attempts, resumed once)"),
            (n, r) => format!(" ({n} attempts, resumed {r} times)"),
        }
    );
    Ok((fetched, expected))
}

/// Who vouched for an expected hash, for the FATAL line.
fn hash_authority(source: crate::trust::HashSource) -> String {
    match source {
        crate::trust::HashSource::Cmdline => "diskless.sha256".to_owned(),
        crate::trust::HashSource::Pin => {
            format!("{}: /{}", source.describe(), crate::trust::IMAGE_PIN)
        }
    }
}

/// Nothing is mounted from data that failed verification: a bad image is deleted here.
/// The fetch already held the bytes to the expected hash as they streamed; this checks
/// again before anything is mounted, then checks the squashfs superblock.
fn verify_image(
    url: &str,
    image: &Path,
    fetched: &fetch::Fetched,
    expected: Option<&crate::trust::Expected>,
) -> Result<(), BootError> {
    let reject = |err: BootError| {
        let _ = std::fs::remove_file(image);
        err
    };
    match expected {
        Some(e) if fetched.sha256 != e.sha256 => {
            return Err(reject(BootError::HashMismatch {
                url: url.to_owned(),
                expected: fetch::hex(&e.sha256),
                actual: fetch::hex(&fetched.sha256),
                by: hash_authority(e.source),
            }));
        }
        Some(e) => log::info!("sha256 matches ({})", e.source.describe()),
        None => log::warn!(
            "no pinned hash and no diskless.sha256: the contents of {url} are not verified, \
             only its squashfs superblock is"
        ),
    }
    let mut head = [0u8; 96];
    let read = read_head(image, &mut head).map_err(|source| BootError::Store {
        path: image.to_path_buf(),
        source,
    })?;
    let superblock =
        squashfs::check_superblock(&head[..read], fetched.bytes).map_err(|source| {
            reject(BootError::NotSquashfs {
                url: url.to_owned(),
                source,
            })
        })?;
    log::info!(
        "squashfs image: {} inodes, block size {}, compression id {}",
        superblock.inodes,
        superblock.block_size,
        superblock.compression
    );
    Ok(())
}

fn read_head(path: &Path, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The record is for people and tools after boot; failing to write it must not stop the boot.
fn write_record(record: &BootRecord) {
    let path = Path::new(rootfs::STATE_DIR).join("boot.json");
    if let Err(err) = std::fs::write(&path, record.to_json()) {
        log::warn!("writing {}: {err}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(line: &str) -> Result<NetworkPlan, BootError> {
        let config = BootConfig::from_params(&cmdline::parse(line)).expect("config");
        plan_network(config.ip.as_ref())
    }

    /// What each `ip=` form makes the network step do; the last `ip=` wins, as in the kernel.
    #[test]
    fn network_plans() {
        let pxelinux =
            "ip=dhcp ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 BOOTIF=01-52-54-00-12-34-56";
        match plan(pxelinux) {
            Ok(NetworkPlan::Static { plan, ip }) => {
                assert_eq!(plan.address.to_string(), "10.0.2.15");
                assert_eq!(
                    ip.server.map(|s| s.to_string()).as_deref(),
                    Some("10.0.2.2")
                );
            }
            _ => panic!("pxelinux's appended ip= must win"),
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
            match plan(line) {
                Ok(NetworkPlan::Dhcp { device: got, .. }) => {
                    assert_eq!(got.as_deref(), device, "{line}")
                }
                _ => panic!("{line}: expected DHCP"),
            }
        }
        for (line, reason) in [
            ("ip=off", "ip=off"),
            ("ip=dhcp6", "IPv6"),
            ("ip=::::node1:eth0:none", "client address"),
        ] {
            let err = plan(line).err().expect("an error");
            assert!(err.to_string().contains(reason), "{line}: {err}");
        }
    }
}
