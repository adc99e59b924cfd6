//! PID 1's boot, in order. Each step logs to /dev/kmsg and is timed into the boot record;
//! any error ends in [`emergency::fatal`], logged once, there.

use std::convert::Infallible;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmdline;
use crate::config::{BootConfig, RootSource};
use crate::emergency::{self, Policy};
use crate::error::{BootError, Step};
use crate::fetch::{self, RetryPolicy};
use crate::ip::{AutoConf, IpParam, StaticIp};
use crate::kmsg::{DevKmsgGuard, KmsgLogger};
use crate::modload::Modules;
use crate::net::{self, NicChoice, StaticPlan};
use crate::newroot;
use crate::record::{BootRecord, StepTime};
use crate::rootfs;
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
    Static { ip: StaticIp, plan: StaticPlan },
}

fn plan_network(ip: Option<&IpParam>) -> Result<NetworkPlan, BootError> {
    let shown = |ip: Option<&IpParam>| {
        ip.map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "(none)".to_owned())
    };
    match ip {
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
        _ => Err(BootError::UnsupportedIp(shown(ip), "DHCP")),
    }
}

fn run(args: &[OsString]) -> Result<Infallible, BootError> {
    early_mounts()?;
    KmsgLogger::install(log::LevelFilter::Info);
    let devkmsg = DevKmsgGuard::lift();
    log::info!("diskless {} starting as PID 1", env!("CARGO_PKG_VERSION"));
    let mut timeline = Timeline { steps: Vec::new() };
    let mut record = BootRecord {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..BootRecord::default()
    };

    let config = timeline.run(Step::Cmdline, || {
        let line = std::fs::read_to_string("/proc/cmdline").map_err(BootError::ReadCmdline)?;
        let params = cmdline::parse(&line);
        emergency::set_policy(Policy::from_params(&params));
        Ok(BootConfig::from_params(&params)?)
    })?;
    if config.debug {
        log::set_max_level(log::LevelFilter::Debug);
    }
    let url = match &config.root {
        Some(RootSource::LiveImage { url }) => url.clone(),
        Some(RootSource::Other(other)) => return Err(BootError::UnsupportedRoot(other.clone())),
        None => return Err(BootError::NoRoot),
    };
    let NetworkPlan::Static {
        ip: static_ip,
        plan,
    } = plan_network(config.ip.as_ref())?;

    let modules = timeline.run(Step::Modules, || {
        let mut modules = Modules::open(&sys::kernel_release(), &config.driver_blacklist)?;
        let pre = modules.load(&config.driver_pre)?;
        for name in pre.unknown {
            log::warn!("rd.driver.pre={name}: no such module in this image");
        }
        modules.coldplug()?;
        let wanted: Vec<String> = LIVE_ROOT_MODULES.iter().map(|m| (*m).to_owned()).collect();
        let root = modules.load(&wanted)?;
        if !root.newly.is_empty() {
            log::info!("loaded modules for the root: {}", root.newly.join(" "));
        }
        Ok(modules)
    })?;
    record.modules_loaded = modules.loaded();

    let link_timeout = Duration::from_secs(u64::from(config.link_timeout_secs));
    let choice = match (&config.bootif, &static_ip.device) {
        (Some(mac), _) => NicChoice::Mac(*mac),
        (None, Some(device)) => NicChoice::Name(device.clone()),
        (None, None) => NicChoice::FirstEthernet,
    };
    let (iface, mac) = timeline.run(Step::Link, || {
        let nic = net::wait_for_interface(&choice, link_timeout).map_err(|present| {
            BootError::NoInterface {
                wanted: choice.describe(),
                secs: config.link_timeout_secs,
                present: present
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
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
    })?;
    record.interface = Some(iface.clone());
    record.mac = Some(mac.to_string());

    // The name is set before the interface comes up, so no packet leaves without it.
    let name = timeline.run(Step::Identity, || {
        let name = config
            .hostname
            .render(&mac, static_ip.hostname.as_deref())?;
        sys::set_hostname(&name).map_err(|source| BootError::SetHostname {
            name: name.clone(),
            source,
        })?;
        log::info!("host name {name} (template {})", config.hostname.as_str());
        Ok(name)
    })?;
    record.hostname = Some(name.clone());

    let dns: Vec<IpAddr> = plan
        .dns
        .iter()
        .chain(config.nameservers.iter())
        .copied()
        .collect();
    timeline.run(Step::Network, || {
        configure_static(&iface, &plan, &dns, &config, link_timeout)
    })?;
    record.addresses = vec![format!("{}/{}", plan.address, plan.prefix_len)];
    record.gateway = plan.gateway.map(|gw| gw.to_string());
    record.dns = dns.iter().map(ToString::to_string).collect();

    let image = Path::new(rootfs::IMAGE_PATH);
    let fetched = timeline.run(Step::Fetch, || fetch_image(&url, image, &config))?;
    record.image_url = Some(url.clone());
    record.image_sha256 = Some(fetch::hex(&fetched.sha256));
    record.image_bytes = Some(fetched.bytes);

    timeline.run(Step::Verify, || {
        verify_image(&url, image, &fetched, config.image_sha256.as_ref())
    })?;
    timeline.run(Step::Mount, || {
        rootfs::mount_live_image(image, config.overlay_size.as_deref())
    })?;
    record.root = Some(format!(
        "overlay of squashfs {} on {}",
        image.display(),
        rootfs::NEW_ROOT
    ));

    let written = timeline.run(Step::Configure, || {
        newroot::write_identity(Path::new(rootfs::NEW_ROOT), &name, &mac, &dns)
    })?;
    record.machine_id = Some(written.machine_id);

    record.steps = timeline.steps;
    write_record(&record);
    log::info!(
        "switching root to {} and running {}",
        rootfs::NEW_ROOT,
        config.init
    );
    devkmsg.restore();
    Err(switchroot::switch_root(
        Path::new(rootfs::NEW_ROOT),
        &config.init,
        args.get(1..).unwrap_or_default(),
    ))
}

fn configure_static(
    iface: &str,
    plan: &StaticPlan,
    dns: &[IpAddr],
    config: &BootConfig,
    link_timeout: Duration,
) -> Result<(), BootError> {
    let net_err = |what: String| {
        move |source| BootError::Network {
            iface: iface.to_owned(),
            what,
            source,
        }
    };
    if let Err(err) = sys::interface_up("lo") {
        log::warn!("bringing up lo: {err}");
    }
    if let Some(mtu) = plan.mtu {
        sys::set_mtu(iface, mtu).map_err(net_err(format!("MTU {mtu}")))?;
    }
    sys::interface_up(iface).map_err(|source| BootError::InterfaceUp {
        iface: iface.to_owned(),
        source,
    })?;
    if !net::wait_for_carrier(iface, link_timeout) {
        return Err(BootError::NoCarrier {
            iface: iface.to_owned(),
            secs: config.link_timeout_secs,
        });
    }
    sys::set_ipv4_address(iface, plan.address, plan.netmask()).map_err(net_err(format!(
        "address {}/{}",
        plan.address, plan.prefix_len
    )))?;
    if let Some(gateway) = plan.gateway {
        sys::add_default_route(iface, gateway)
            .map_err(net_err(format!("default route via {gateway}")))?;
    }
    log::info!(
        "{iface}: {}/{}{}",
        plan.address,
        plan.prefix_len,
        plan.gateway
            .map(|gw| format!(" via {gw}"))
            .unwrap_or_default()
    );
    // Our own resolver (musl's, inside the initramfs) needs it to fetch by host name.
    if let Some(contents) = crate::etcfiles::resolv_conf(dns, None, &[]) {
        std::fs::write("/etc/resolv.conf", contents).map_err(|source| BootError::Network {
            iface: iface.to_owned(),
            what: "/etc/resolv.conf".to_owned(),
            source,
        })?;
    }
    Ok(())
}

fn fetch_image(url: &str, image: &Path, config: &BootConfig) -> Result<fetch::Fetched, BootError> {
    std::fs::create_dir_all(rootfs::STATE_DIR).map_err(|source| BootError::Store {
        path: rootfs::STATE_DIR.into(),
        source,
    })?;
    log::info!("fetching {url} into {}", image.display());
    let policy = RetryPolicy::with_deadline(Duration::from_secs(u64::from(config.retry_secs)));
    let fetched = fetch::fetch_to_file(
        url,
        image,
        policy,
        |progress| log::info!("fetching {url}: {}", progress.describe()),
        |reason, delay| {
            log::warn!(
                "fetching {url}: {reason}; retrying in {:.1} s",
                delay.as_secs_f64()
            )
        },
    )
    .map_err(|reason| BootError::Fetch {
        url: url.to_owned(),
        reason,
    })?;
    let done = fetch::Progress {
        bytes: fetched.bytes,
        total: Some(fetched.bytes),
        elapsed: fetched.elapsed,
    };
    log::info!(
        "fetched {url}: {}, sha256 {}",
        done.describe(),
        fetch::hex(&fetched.sha256)
    );
    Ok(fetched)
}

/// Nothing is mounted from data that failed verification: a bad image is deleted here.
fn verify_image(
    url: &str,
    image: &Path,
    fetched: &fetch::Fetched,
    expected: Option<&[u8; 32]>,
) -> Result<(), BootError> {
    let reject = |err: BootError| {
        let _ = std::fs::remove_file(image);
        err
    };
    if let Some(expected) = expected {
        if &fetched.sha256 != expected {
            return Err(reject(BootError::HashMismatch {
                url: url.to_owned(),
                expected: fetch::hex(expected),
                actual: fetch::hex(&fetched.sha256),
            }));
        }
        log::info!("sha256 matches diskless.sha256");
    } else {
        log::warn!("no diskless.sha256 given: {url} is not verified");
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
    use crate::identity::Mac;

    #[test]
    fn network_plan_follows_the_last_ip() {
        let line =
            "ip=dhcp ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 BOOTIF=01-52-54-00-12-34-56";
        let config = BootConfig::from_params(&cmdline::parse(line)).expect("config");
        let NetworkPlan::Static { plan, .. } = plan_network(config.ip.as_ref()).expect("static");
        assert_eq!(plan.address.to_string(), "10.0.2.15");
        assert_eq!(Mac::from_bootif("01-52-54-00-12-34-56").ok(), config.bootif);
    }

    #[test]
    fn dhcp_alone_is_reported_not_silently_ignored() {
        let config = BootConfig::from_params(&cmdline::parse("ip=dhcp")).expect("config");
        let err = plan_network(config.ip.as_ref()).err().expect("unsupported");
        assert!(err.to_string().contains("DHCP"), "{err}");
    }
}
