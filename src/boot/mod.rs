//! PID 1's boot, as the list of its steps (`Boot::run`). Each step is timed into the boot
//! record and logged to /dev/kmsg; the work of each lives in its own module, and the helpers
//! here only connect them. Any error ends in [`emergency::fatal`], logged once there, with
//! the step that was running.

mod step;

use std::convert::Infallible;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::clock::{self, Settled, TimeServer};
use crate::cmdline::nbd::NbdSpec;
use crate::cmdline::{self, config::BootConfig, config_archives::Values, ntp::NtpServer};
use crate::emergency;
use crate::error::BootError;
use crate::hex;
use crate::identity::Mac;
use crate::image::oci::{LayerBlob, PulledRoot};
use crate::image::{self, Downloaded, SessionSlot};
use crate::kmod::ahead::Ahead;
use crate::kmod::load::Modules;
use crate::kmsg::{KmsgGuard, KmsgLogger};
use crate::net::{self, Configured, dhcp, link};
use crate::plan::{self, NetworkPlan, Root, RootLayout, RootPlan};
use crate::record::{ArchiveRecord, BootRecord, StepTime};
use crate::retry::{self, RetryPolicy};
use crate::root::{assemble, config_archives, identity_files, layers, storage, switch};
use crate::root::{nfs::NfsContext, paths, volatile};
use crate::rundir;
use crate::sys::{self, MountOptions};
pub use step::Step;

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

/// The boot NIC, found and named.
struct Nic {
    iface: String,
    mac: Mac,
}

/// The module index, and the root's modules loading ahead.
struct Loading {
    modules: Modules,
    ahead: Ahead,
}

/// The node on its network: the configuration applied, its final name, and the root's
/// layout settled with what the network said.
struct Network {
    net: Configured,
    name: String,
    layout: RootLayout,
}

/// What every fetch of this boot shares: the settled clock, the session opened by the first
/// fetch; and the NTP servers, handed over to the real system.
struct Fetching {
    clock: Settled,
    sessions: SessionSlot,
    ntp_servers: Vec<TimeServer>,
}

impl Boot {
    fn run(&mut self, args: &[OsString]) -> Result<Infallible, BootError> {
        self.step(Step::EarlyMounts, early_mounts)?;
        let mut kmsg = start_logging();
        let plans = self.step(Step::Cmdline, read_cmdline)?;
        if plans.config.debug {
            kmsg.show_debug_on_console();
        }
        // The NIC's driver is on the critical path; the root's modules load beside it.
        let mut loading = self.step(Step::Modules, || load_modules(&plans))?;
        let nic = self.step(Step::Link, || find_nic(&plans, &loading.modules))?;
        self.record.mac = Some(nic.mac.to_string());
        // Set before any interface comes up, so no packet (DHCP's, which carries it) leaves
        // without it.
        let name = self.step(Step::Hostname, || {
            set_name(&plans.config, &nic.mac, plans.network.given_hostname())
        })?;
        let Network { net, name, layout } =
            self.step(Step::Network, || bring_up_network(&plans, &nic, name))?;
        self.record_network(&net, &name);
        net::apply::hand_over(&net, &name);
        // Before any TLS handshake: a board without an RTC starts in 1970.
        let mut fetching = self.step(Step::Clock, || Ok(settle_clock(&plans.config, &net)))?;
        self.record.clock = Some(fetching.clock.source.describe(fetching.clock.floor));

        let nfs = NfsContext::new(
            &net,
            &nic.mac,
            plans.config.retry_secs,
            layout.share_default_version(),
        );
        self.assemble_root(&plans, &nic, &layout, &nfs, &mut fetching, &mut loading)?;
        // The shares' NFS version went on loading while the root mounted.
        let Loading { mut modules, ahead } = loading;
        if ahead.has_shares() {
            self.step(Step::ShareModules, || {
                Ok(ahead.wait_for_shares(&mut modules)?)
            })?;
        }
        self.record.modules_loaded = modules.loaded();
        self.record.modules_failed = modules.failed().to_vec();

        let new_root = Path::new(rundir::NEW_ROOT);
        let init = plans.config.init.as_str();
        self.step(Step::Storage, || {
            storage::attach(
                &nfs,
                &plans.config,
                new_root,
                &name,
                &nic.mac,
                &plans.cmdline,
            )?;
            Ok(volatile::mount_tmpfs(new_root, &plans.config.tmpfs)?)
        })?;
        // Archives go before the identity files, which merge over them (an archive's
        // /etc/hosts lines stay, its valid machine-id is kept).
        let applied = self.step(Step::ConfigArchives, || {
            apply_config_archives(&plans.config, &nic.mac, &name, &net, &layout, &mut fetching)
        })?;
        self.record.archives = applied.iter().map(ArchiveRecord::from).collect();
        let written = self.step(Step::IdentityFiles, || {
            hand_over(&plans.config, &nic.mac, &name, &net, &layout, &fetching)
        })?;
        self.record.machine_id = Some(written.machine_id);

        self.record.steps = std::mem::take(&mut self.steps);
        self.record.peak_rss_kib = sys::peak_rss_kib();
        write_record(&self.record);
        log::info!("switching root to {} and running {init}", rundir::NEW_ROOT);
        kmsg.restore();
        self.step(Step::SwitchRoot, || {
            let init_args = args.get(1..).unwrap_or_default();
            Err(switch::switch_root(new_root, init, init_args).into())
        })
    }

    /// Fetches (or pulls), verifies and mounts the root as `layout` says. Each kind waits for
    /// the root's modules, which were loading ahead while the network came up and the image
    /// came in, just before it mounts.
    fn assemble_root(
        &mut self,
        plans: &Plans,
        nic: &Nic,
        layout: &RootLayout,
        nfs: &NfsContext,
        fetching: &mut Fetching,
        loading: &mut Loading,
    ) -> Result<(), BootError> {
        let (config, mac) = (&plans.config, &nic.mac);
        let Loading { modules, ahead } = loading;
        let image = Path::new(rundir::IMAGE_PATH);
        match &layout.source {
            Root::Image { url } => {
                let downloaded = self.step(Step::Fetch, || {
                    let (clock, sessions) = (fetching.clock, &mut fetching.sessions);
                    Ok(image::download(
                        url, image, config, &mac.0, clock, sessions,
                    )?)
                })?;
                self.step(Step::RootModules, || Ok(ahead.wait_for_root(modules)?))?;
                self.mount_squashfs(image, &downloaded, layout, url)
            }
            Root::Oci { image: reference } => {
                let pulled = self.step(Step::Fetch, || {
                    let (clock, sessions) = (fetching.clock, &mut fetching.sessions);
                    Ok(image::oci::pull(
                        reference, image, config, &mac.0, clock, sessions,
                    )?)
                })?;
                self.record.image_manifest =
                    Some(format!("sha256:{}", hex::encode(&pulled.manifest)));
                let from = reference.describe();
                self.step(Step::RootModules, || Ok(ahead.wait_for_root(modules)?))?;
                match &pulled.root {
                    PulledRoot::Squashfs(downloaded) => {
                        self.mount_squashfs(image, downloaded, layout, &from)
                    }
                    PulledRoot::Layers(blobs) => self.unpack_layers(blobs, layout, &from),
                }
            }
            Root::Nbd { spec } => {
                // The nbd driver and device-mapper must be there before the export attaches.
                self.step(Step::RootModules, || Ok(ahead.wait_for_root(modules)?))?;
                self.mount_nbd(spec, config, mac, layout)
            }
            Root::Nfs {
                share,
                default_version,
                ..
            } => {
                self.step(Step::RootModules, || Ok(ahead.wait_for_root(modules)?))?;
                self.step(Step::Mount, || {
                    Ok(assemble::mount_nfs(nfs, share, *default_version, layout)?)
                })?;
                let writes = match layout.writes {
                    plan::Writes::Overlay => " under a tmpfs overlay",
                    plan::Writes::ReadWrite => ", read-write",
                    plan::Writes::ReadOnly { .. } => ", read-only",
                };
                self.record.root = Some(format!("NFS {}{writes}", share.describe()));
                Ok(())
            }
        }
    }

    /// Attaches an NBD export, puts dm-verity over it when a root hash is pinned or given,
    /// and mounts its squashfs as the new root.
    fn mount_nbd(
        &mut self,
        spec: &NbdSpec,
        config: &BootConfig,
        mac: &Mac,
        layout: &RootLayout,
    ) -> Result<(), BootError> {
        let export = spec.describe();
        self.record.image_url = Some(export.clone());
        let attached = self.step(Step::Attach, || {
            let policy =
                RetryPolicy::with_deadline(Duration::from_secs(u64::from(config.retry_secs)))
                    .seeded(retry::jitter_seed(&mac.0, u64::from(spec.port)));
            image::nbd::attach(spec, &policy).map_err(|cause| {
                BootError::from(image::error::ImageError::Nbd {
                    export: export.clone(),
                    cause,
                })
            })
        })?;
        log::info!(
            "NBD {export} ({}) attached read-only as {}: {} bytes",
            attached.server,
            attached.device.display(),
            attached.export.size
        );
        self.record.image_bytes = Some(attached.export.size);
        let block = self.step(Step::Verify, || {
            Ok(image::block::prepare(
                &attached.device,
                attached.export.size,
                &export,
                config.verity_roothash,
            )?)
        })?;
        self.record.verified = Some(block.verity.is_some());
        self.record.verity_roothash = block.verity.as_ref().map(|(hash, _)| hash.clone());
        let data = spec.mount_options.as_deref().unwrap_or_default();
        self.step(Step::Mount, || {
            Ok(assemble::mount_block(&block.device, data, layout)?)
        })?;
        self.record.root = Some(format!(
            "squashfs {} from {export}{}{}",
            block.device.display(),
            match &block.verity {
                Some((hash, by)) => format!(", dm-verity root hash {hash} ({})", by.describe()),
                None => ", not verified".to_owned(),
            },
            if layout.overlay() {
                " under a tmpfs overlay"
            } else {
                ", read-only"
            }
        ));
        Ok(())
    }

    /// Verifies a fetched squashfs and mounts it as the new root; `from` names where it came
    /// from in the record.
    fn mount_squashfs(
        &mut self,
        image: &Path,
        downloaded: &Downloaded,
        layout: &RootLayout,
        from: &str,
    ) -> Result<(), BootError> {
        self.record.image_url = Some(downloaded.fetched.url.clone());
        self.record.image_sha256 = Some(hex::encode(&downloaded.fetched.sha256));
        self.record.image_bytes = Some(downloaded.fetched.bytes);
        self.step(Step::Verify, || Ok(image::verify(image, downloaded)?))?;
        self.step(Step::Mount, || Ok(assemble::mount_image(image, layout)?))?;
        self.record.root = Some(format!(
            "squashfs {} from {from}{}",
            image.display(),
            if layout.overlay() {
                " under a tmpfs overlay"
            } else {
                ", read-only"
            }
        ));
        Ok(())
    }

    /// Applies an ordinary image's verified layers into a tmpfs as the new root; `from`
    /// names the image.
    fn unpack_layers(
        &mut self,
        blobs: &[LayerBlob],
        layout: &RootLayout,
        from: &str,
    ) -> Result<(), BootError> {
        self.record.image_bytes = Some(
            blobs
                .iter()
                .map(|l| l.downloaded.fetched.bytes)
                .fold(0, u64::saturating_add),
        );
        let unpacked = self.step(Step::Mount, || Ok(layers::unpack(blobs, from, layout)?))?;
        self.record.root = Some(format!(
            "tmpfs of {} layers of {from} ({} entries, {} bytes of files){}",
            blobs.len(),
            unpacked.entries,
            unpacked.file_bytes,
            if layout.overlay() { "" } else { ", read-only" }
        ));
        Ok(())
    }

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

/// The kmsg logger, from here on; the console shows our lines while the stage runs.
fn start_logging() -> KmsgGuard {
    KmsgLogger::install(log::LevelFilter::Info);
    let kmsg = KmsgGuard::lift();
    log::info!("diskless {} starting as PID 1", env!("CARGO_PKG_VERSION"));
    kmsg
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

/// The index, `rd.driver.pre=` first, the root's modules loading ahead in a worker, then
/// the drivers the hardware asks for.
fn load_modules(plans: &Plans) -> Result<Loading, BootError> {
    let config = &plans.config;
    let mut modules = Modules::open_for_boot(&config.driver_pre, &config.driver_blacklist)?;
    let ahead = modules.load_ahead(
        plans.root.modules_ahead().clone(),
        plan::REQUIRED_ROOT_MODULES,
    );
    modules.coldplug();
    Ok(Loading { modules, ahead })
}

/// The boot NIC (BOOTIF's, the `ip=` device's, or the first Ethernet), named as the root's
/// udev would name it.
fn find_nic(plans: &Plans, modules: &Modules) -> Result<Nic, BootError> {
    let config = &plans.config;
    let naming = link::Naming {
        predictable: config.predictable_names,
        pinned: config.pinned_names.clone(),
    };
    let choice = plans.network.nic_choice(config);
    let (iface, mac) =
        link::find_nic(&choice, &naming, config.link_timeout_secs, modules.failed())?;
    Ok(Nic { iface, mac })
}

/// Links up, the address static or from DHCP and applied; with `diskless.hostname=dhcp`
/// the network's name replaces the fallback; the root's layout settled with DHCP's root
/// path and the address.
fn bring_up_network(plans: &Plans, nic: &Nic, name: String) -> Result<Network, BootError> {
    let config = &plans.config;
    let choice = plans.network.nic_choice(config);
    let candidates = if plans.network.dhcp_on_every_nic(&choice) {
        link::ethernet_interfaces()
    } else {
        vec![nic.iface.clone()]
    };
    let up = link::bring_up(&candidates, config.link_timeout_secs)?;
    let net = match &plans.network {
        NetworkPlan::Static { ip, plan } => {
            Configured::from_static(&nic.iface, ip, plan, &config.nameservers)
        }
        NetworkPlan::Dhcp { ip, .. } => {
            let (iface, lease) = dhcp::lease(&up, &nic.mac, &name, config.dhcp_timeout_secs)?;
            Configured::from_lease(&iface, &lease, ip.as_ref(), &config.nameservers)
        }
    };
    net::apply::apply(&net)?;
    let name = match &net.hostname {
        Some(given) if config.hostname.as_str() == "dhcp" => {
            set_name(config, &nic.mac, Some(given))?
        }
        _ => name,
    };
    if let (true, Some(path)) = (plans.root.from_dhcp(), &net.root_path) {
        log::info!("root path from DHCP: {path}");
    }
    let layout = plans
        .root
        .clone()
        .settle(net.root_path.as_deref(), net.address, &name)?;
    Ok(Network { net, name, layout })
}

/// The clock raised to its floor and, where servers are named, set by SNTP.
fn settle_clock(config: &BootConfig, net: &Configured) -> Fetching {
    let ntp_servers = clock::servers(&config.ntp, &net.ntp_named, &net.ntp_offered);
    Fetching {
        clock: clock::settle(Path::new("/"), &ntp_servers),
        sessions: SessionSlot::default(),
        ntp_servers,
    }
}

/// Fetches, verifies and lays the configuration archives over the new root, their URLs'
/// placeholders filled in for this node.
fn apply_config_archives(
    config: &BootConfig,
    mac: &Mac,
    name: &str,
    net: &Configured,
    layout: &RootLayout,
    fetching: &mut Fetching,
) -> Result<Vec<config_archives::Applied>, BootError> {
    let uuid = config
        .archives
        .iter()
        .any(|a| a.url.needs_uuid())
        .then(config_archives::product_uuid)
        .flatten();
    let values = Values {
        mac: &mac.to_string(),
        hostname: name,
        ip: &net.address.to_string(),
        uuid: uuid.as_deref(),
    };
    let target = config_archives::Target {
        root: Path::new(rundir::NEW_ROOT),
        writable: layout.writable(),
    };
    Ok(config_archives::apply(
        config,
        &mac.0,
        fetching.clock,
        &mut fetching.sessions,
        &values,
        target,
    )?)
}

/// What the real system takes over, written into the new root: the time servers, what
/// keeps the boot NIC configured when the root depends on the network, and the identity
/// files (host name, hosts, machine-id, resolv.conf).
fn hand_over(
    config: &BootConfig,
    mac: &Mac,
    name: &str,
    net: &Configured,
    layout: &RootLayout,
    fetching: &Fetching,
) -> Result<identity_files::Written, BootError> {
    let new_root = Path::new(rundir::NEW_ROOT);
    let servers: Vec<NtpServer> = fetching
        .ntp_servers
        .iter()
        .map(|t| t.server.clone())
        .collect();
    clock::handover::hand_over(new_root, &servers);
    if layout.keep_network {
        let systemd = paths::resolve_in_root(new_root, &config.init)
            .is_some_and(|path| path.file_name() == Some("systemd".as_ref()));
        net::apply::keep_configured(net, new_root, systemd);
    }
    Ok(identity_files::write(
        new_root,
        layout.identity_files,
        name,
        mac,
        net,
    )?)
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
    let written = std::fs::create_dir_all(rundir::STATE_DIR)
        .and_then(|()| std::fs::write(rundir::RECORD_PATH, record.to_json()));
    if let Err(err) = written {
        log::warn!("writing {}: {err}", rundir::RECORD_PATH);
    }
}
