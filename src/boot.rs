//! PID 1's boot, as the list of its steps. Each step is timed into the boot record and logged
//! to /dev/kmsg; the work of each lives in its own module. Any error ends in
//! [`emergency::fatal`], logged once there, with the step that was running.

use std::convert::Infallible;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::clock;
use crate::cmdline::archives::Values;
use crate::cmdline::{self, config::BootConfig};
use crate::emergency;
use crate::error::{BootError, Step};
use crate::hex;
use crate::identity::Mac;
use crate::image;
use crate::image::oci::{LayerBlob, PulledRoot};
use crate::kmod::load::Modules;
use crate::kmsg::{KmsgGuard, KmsgLogger};
use crate::net::{Configured, configure, dhcp, link};
use crate::plan::{self, NetworkPlan, Root, RootPlan};
use crate::record::{ArchiveRecord, BootRecord, StepTime};
use crate::root::assemble::{self, Overlay};
use crate::root::nfs::NfsContext;
use crate::root::{self as newroot, configure as identity_files, storage, switch, volatile};
use crate::rundir;
use crate::sys::{self, MountOptions};

/// Runs the boot; never returns.
pub fn pid1(args: Vec<OsString>) -> ! {
    emergency::install_panic_hook();
    let mut boot = Boot::default();
    match boot.run(&args) {
        Err(err) => emergency::fatal(boot.running.name(), &err.to_string()),
        Ok(never) => match never {},
    }
}

/// The boot in progress: the step running, the step timings, and the record written for the
/// real system.
struct Boot {
    running: Step,
    steps: Vec<StepTime>,
    record: BootRecord,
}

impl Default for Boot {
    fn default() -> Boot {
        Boot {
            running: Step::EarlyMounts,
            steps: Vec::new(),
            record: BootRecord {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..BootRecord::default()
            },
        }
    }
}

/// What the command line decided.
struct Plans {
    config: BootConfig,
    cmdline: String,
    network: NetworkPlan,
    root: RootPlan,
}

impl Boot {
    /// Runs one step: named in a FATAL line while it runs, timed for the record.
    fn step<T>(
        &mut self,
        step: Step,
        work: impl FnOnce() -> Result<T, BootError>,
    ) -> Result<T, BootError> {
        let started = self.start(step);
        let result = work();
        self.finish(step, started, result.is_ok());
        result
    }

    // `step` is instantiated once per call site: what does not depend on the step's type
    // lives here, once.
    fn start(&mut self, step: Step) -> (Instant, Duration) {
        // A fatal error in another thread stops the boot here.
        emergency::stop_if_failed();
        self.running = step;
        (Instant::now(), sys::thread_cpu_time())
    }

    fn finish(&mut self, step: Step, (started, cpu_before): (Instant, Duration), ok: bool) {
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        let cpu_millis = sys::thread_cpu_time()
            .saturating_sub(cpu_before)
            .as_secs_f64()
            * 1000.0;
        if ok {
            log::info!("{} done in {millis:.1} ms", step.name());
            log::debug!(
                "{}: {cpu_millis:.1} ms on the CPU, the rest waiting",
                step.name()
            );
        }
        self.steps.push(StepTime {
            step: step.name().to_owned(),
            millis,
            cpu_millis,
        });
    }

    fn run(&mut self, args: &[OsString]) -> Result<Infallible, BootError> {
        self.step(Step::EarlyMounts, early_mounts)?;
        KmsgLogger::install(log::LevelFilter::Info);
        let mut kmsg = KmsgGuard::lift();
        log::info!("diskless {} starting as PID 1", env!("CARGO_PKG_VERSION"));

        let Plans {
            config,
            cmdline,
            network,
            root,
        } = self.step(Step::Cmdline, read_cmdline)?;
        if config.debug {
            kmsg.show_debug_on_console();
        }

        // The NIC's driver is on the critical path; the root's modules load beside it.
        let (mut modules, mut ahead) = self.step(Step::Modules, || {
            let mut modules = Modules::open_for_boot(&config.driver_pre, &config.driver_blacklist)?;
            let ahead =
                modules.load_ahead(root.modules_ahead(&config), plan::REQUIRED_ROOT_MODULES);
            modules.coldplug();
            Ok((modules, ahead))
        })?;

        let choice = network.nic_choice(&config);
        let (iface, mac) = self.step(Step::Link, || {
            let naming = link::Naming {
                predictable: config.predictable_names,
                pinned: config.pinned_names.clone(),
            };
            link::find_nic(&choice, &naming, config.link_timeout_secs, modules.failed())
        })?;
        self.record.mac = Some(mac.to_string());

        // The name is set before any interface comes up, so no packet (DHCP's included, which
        // carries it) leaves without it.
        let name = self.step(Step::Identity, || {
            set_name(&config, &mac, network.given_hostname())
        })?;

        let (net, root, name) = self.step(Step::Network, || {
            let candidates = if network.dhcp_on_every_nic(&choice) {
                link::ethernet_interfaces()
            } else {
                vec![iface.clone()]
            };
            let up = link::bring_up(&candidates, config.link_timeout_secs)?;
            let net = match &network {
                NetworkPlan::Static { ip, plan } => {
                    Configured::from_static(&iface, ip, plan, &config.nameservers)
                }
                NetworkPlan::Dhcp { ip, .. } => {
                    let (iface, lease) = dhcp::lease(&up, &mac, &name, config.dhcp_timeout_secs)?;
                    Configured::from_lease(&iface, &lease, ip.as_ref(), &config.nameservers)
                }
            };
            configure::apply(&net)?;
            // `diskless.hostname=dhcp`: the name the server gave replaces the fallback.
            let name = match &net.hostname {
                Some(given) if config.hostname.as_str() == "dhcp" => {
                    set_name(&config, &mac, Some(given))?
                }
                _ => name,
            };
            if let (RootPlan::FromDhcp { .. }, Some(path)) = (&root, &net.root_path) {
                log::info!("root path from DHCP: {path}");
            }
            let root = root.settle(net.root_path.as_deref())?;
            Ok((net, root, name))
        })?;
        self.record_network(&net, &name);
        configure::hand_over(&net, &name);

        // Before any TLS handshake: a board without an RTC starts in 1970.
        let ntp_servers = clock::servers(&config.ntp, &net.ntp);
        let settled = self.step(Step::Clock, || {
            Ok(clock::settle(Path::new("/"), &ntp_servers))
        })?;
        self.record.clock = Some(settled.source.describe(settled.floor));
        let mut sessions = image::SessionSlot::default();

        let nfs = NfsContext::new(&net, &mac, config.retry_secs, root.share_default_version());
        let new_root = Path::new(rundir::NEW_ROOT);
        let volatile_paths = root.volatile(&config);
        let overlay_size = config.overlay_size.as_deref();
        let overlay = root
            .overlay(&config)
            .then_some(Overlay { size: overlay_size });
        // The root's modules were loading ahead while the network came up and the image came
        // in; each root waits for them just before it mounts.
        match &root {
            Root::Image { url } => {
                let image = Path::new(rundir::IMAGE_PATH);
                let downloaded = self.step(Step::Fetch, || {
                    image::download(url, image, &config, &mac.0, settled, &mut sessions)
                })?;
                self.step(Step::RootModules, || ahead.wait_for_root(&mut modules))?;
                let volatile = (volatile_paths.as_slice(), overlay_size);
                self.mount_squashfs(image, &downloaded, overlay, volatile, url)?;
            }
            Root::Oci { image: reference } => {
                let image = Path::new(rundir::IMAGE_PATH);
                let pulled = self.step(Step::Fetch, || {
                    image::oci::pull(reference, image, &config, &mac.0, settled, &mut sessions)
                })?;
                self.record.image_manifest =
                    Some(format!("sha256:{}", hex::encode(&pulled.manifest)));
                let from = reference.describe();
                self.step(Step::RootModules, || ahead.wait_for_root(&mut modules))?;
                let volatile = (volatile_paths.as_slice(), overlay_size);
                match &pulled.root {
                    PulledRoot::Squashfs(downloaded) => {
                        self.mount_squashfs(image, downloaded, overlay, volatile, &from)?;
                    }
                    PulledRoot::Layers(layers) => {
                        self.unpack_layers(layers, overlay.is_none(), volatile, &from)?;
                    }
                }
            }
            Root::Nfs {
                share,
                default_version,
                syntax,
            } => {
                let share = plan::expand_percent_s(share, *syntax, net.address, &name);
                let read_write = root.read_write(&config);
                self.step(Step::RootModules, || ahead.wait_for_root(&mut modules))?;
                self.step(Step::Mount, || {
                    assemble::mount_nfs(&nfs, &share, *default_version, overlay, read_write)?;
                    volatile::mount_volatile(new_root, &volatile_paths, overlay_size)
                })?;
                let layer = match (overlay, read_write) {
                    (Some(_), _) => " under a tmpfs overlay",
                    (None, true) => ", read-write",
                    (None, false) => ", read-only",
                };
                self.record.root = Some(format!("NFS {}{layer}", share.describe()));
            }
        }

        // The shares' NFS version went on loading while the root mounted.
        if ahead.has_shares() {
            self.step(Step::ShareModules, || ahead.wait_for_shares(&mut modules))?;
        }
        self.record.modules_loaded = modules.loaded();
        self.record.modules_failed = modules.failed().to_vec();
        self.step(Step::Storage, || {
            storage::attach(&nfs, &config, new_root, &name, &mac, &cmdline)?;
            volatile::mount_tmpfs(new_root, &config.tmpfs)
        })?;
        // Archives go before the identity files, which merge over them (an archive's
        // /etc/hosts lines stay, its valid machine-id is kept).
        let applied = self.step(Step::Archives, || {
            let uuid = config
                .archives
                .iter()
                .any(|a| a.url.needs_uuid())
                .then(newroot::archives::product_uuid)
                .flatten();
            let values = Values {
                mac: &mac.to_string(),
                hostname: &name,
                ip: &net.address.to_string(),
                uuid: uuid.as_deref(),
            };
            let writable = root.writable(&config);
            newroot::archives::apply(
                &config,
                &mac.0,
                settled,
                &mut sessions,
                &values,
                new_root,
                writable,
            )
        })?;
        self.record.archives = applied.iter().map(ArchiveRecord::from).collect();
        let written = self.step(Step::Configure, || {
            clock::handover::hand_over(new_root, &ntp_servers);
            identity_files::write_identity(new_root, root.etc_writable(&config), &name, &mac, &net)
        })?;
        self.record.machine_id = Some(written.machine_id);

        self.running = Step::SwitchRoot;
        self.record.steps = std::mem::take(&mut self.steps);
        self.record.peak_rss_kib = sys::peak_rss_kib();
        write_record(&self.record);
        log::info!(
            "switching root to {} and running {}",
            rundir::NEW_ROOT,
            config.init
        );
        kmsg.restore();
        Err(switch::switch_root(
            new_root,
            &config.init,
            args.get(1..).unwrap_or_default(),
        ))
    }

    /// Verifies a fetched squashfs and mounts it as the new root (under `overlay`), with
    /// the volatile paths; `from` names where it came from in the record.
    fn mount_squashfs(
        &mut self,
        image: &Path,
        downloaded: &image::Downloaded,
        overlay: Option<Overlay<'_>>,
        volatile: (&[String], Option<&str>),
        from: &str,
    ) -> Result<(), BootError> {
        let (volatile_paths, volatile_size) = volatile;
        self.record.image_url = Some(downloaded.fetched.url.clone());
        self.record.image_sha256 = Some(hex::encode(&downloaded.fetched.sha256));
        self.record.image_bytes = Some(downloaded.fetched.bytes);
        self.step(Step::Verify, || image::verify(image, downloaded))?;
        let new_root = Path::new(rundir::NEW_ROOT);
        self.step(Step::Mount, || {
            assemble::mount_image(image, overlay)?;
            volatile::mount_volatile(new_root, volatile_paths, volatile_size)
        })?;
        self.record.root = Some(format!(
            "squashfs {} from {from}{}",
            image.display(),
            if overlay.is_some() {
                " under a tmpfs overlay"
            } else {
                ", read-only"
            }
        ));
        Ok(())
    }

    /// Applies an ordinary image's verified layers into a tmpfs as the new root (read-only
    /// after when `read_only`), with the volatile paths; `from` names the image.
    fn unpack_layers(
        &mut self,
        layers: &[LayerBlob],
        read_only: bool,
        volatile: (&[String], Option<&str>),
        from: &str,
    ) -> Result<(), BootError> {
        let (volatile_paths, size) = volatile;
        self.record.image_bytes = Some(
            layers
                .iter()
                .map(|l| l.downloaded.fetched.bytes)
                .fold(0, u64::saturating_add),
        );
        let new_root = Path::new(rundir::NEW_ROOT);
        let unpacked = self.step(Step::Mount, || {
            let unpacked = newroot::layers::unpack(layers, from, size, read_only)?;
            volatile::mount_volatile(new_root, volatile_paths, size)?;
            Ok(unpacked)
        })?;
        self.record.root = Some(format!(
            "tmpfs of {} layers of {from} ({} entries, {} bytes of files){}",
            layers.len(),
            unpacked.entries,
            unpacked.file_bytes,
            if read_only { ", read-only" } else { "" }
        ));
        Ok(())
    }

    fn record_network(&mut self, net: &Configured, name: &str) {
        self.record.interface = Some(net.iface.clone());
        self.record.addresses = vec![format!("{}/{}", net.address, net.prefix_len)];
        self.record.gateway = net.gateway.map(|gw| gw.to_string());
        self.record.dns = net.dns.iter().map(ToString::to_string).collect();
        self.record.hostname = Some(name.to_owned());
    }
}

/// The API file systems every later step needs.
fn early_mounts() -> Result<(), BootError> {
    let hardened = MountOptions {
        nosuid: true,
        nodev: true,
        noexec: true,
        ..MountOptions::default()
    };
    let devices = MountOptions {
        nosuid: true,
        ..MountOptions::default()
    };
    let run = MountOptions {
        nosuid: true,
        nodev: true,
        ..MountOptions::default()
    };
    let mounts: [(&str, &'static str, &'static str, MountOptions, &str); 4] = [
        ("proc", "/proc", "proc", hardened, ""),
        ("sysfs", "/sys", "sysfs", hardened, ""),
        ("devtmpfs", "/dev", "devtmpfs", devices, "mode=0755"),
        ("tmpfs", "/run", "tmpfs", run, "mode=0755"),
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

/// Reads /proc/cmdline as bytes (firmware and boot loaders put non-UTF-8 bytes there; only
/// our own keys' values must be text) and decides the plans. The failure policy is in force
/// before anything else on the line can fail.
fn read_cmdline() -> Result<Plans, BootError> {
    let raw = std::fs::read("/proc/cmdline").map_err(BootError::ReadCmdline)?;
    let params = cmdline::parse_bytes(&raw);
    let (on_failure, config) = cmdline::config::read(&params);
    emergency::set_policy(on_failure);
    let config = config?;
    if config.debug {
        log::set_max_level(log::LevelFilter::Debug);
        log::debug!("rd.debug: debug lines on");
    }
    Ok(Plans {
        network: NetworkPlan::from_config(&config)?,
        root: RootPlan::from_config(&config)?,
        cmdline: String::from_utf8_lossy(&raw).into_owned(),
        config,
    })
}

/// Renders and sets the host name; `given` is the network's name, for `diskless.hostname=dhcp`.
fn set_name(config: &BootConfig, mac: &Mac, given: Option<&str>) -> Result<String, BootError> {
    let name = config
        .hostname
        .render(mac, given)
        .map_err(|source| BootError::Hostname {
            key: "diskless.hostname",
            source,
        })?;
    sys::set_hostname(&name).map_err(|source| BootError::SetHostname {
        name: name.clone(),
        source,
    })?;
    log::info!("host name {name} (template {})", config.hostname.as_str());
    Ok(name)
}

/// The record is for people and tools after boot; failing to write it must not stop the boot.
fn write_record(record: &BootRecord) {
    let path = Path::new(rundir::STATE_DIR).join("boot.json");
    let written = std::fs::create_dir_all(rundir::STATE_DIR)
        .and_then(|()| std::fs::write(&path, record.to_json()));
    if let Err(err) = written {
        log::warn!("writing {}: {err}", path.display());
    }
}
