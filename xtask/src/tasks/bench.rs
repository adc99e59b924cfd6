//! `cargo xtask bench`: boot time, size and fetch throughput of our initramfs, side by side
//! with Debian's initramfs-tools booting the same root on the same kernel and QEMU, in the
//! same run. Writes `BENCHMARKS.md` (for people) and `BENCHMARKS.json` (the raw runs; also
//! `target/bench/results.json`).
//!
//! Boot time is the *initramfs stage*: kernel printk time of `ROOT-INIT-KMSG` (written by the
//! checker root's /sbin/init) minus that of "Run /init as init process", both read from the
//! `ROOT-DMESG:` lines the checker prints, so both ends are on the same clock
//! (BASELINES.md section 1).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use testbed::kernel::Kernel;
use testbed::{Export, HttpServer, NetNs, NfsServer, Nic, Qemu, RootSpec, portmap};
use xshell::{Shell, cmd};
use xtask::initrd::{self, Compression, InitrdOptions};

const HELP: &str = "\
cargo xtask bench: boot time, size and fetch throughput, side by side with initramfs-tools

usage: cargo xtask bench [--boots N] [--quick] [--skip WHAT]...

Boots the Debian cloud kernel in QEMU (TCG) N times per variant and writes BENCHMARKS.md and
BENCHMARKS.json (raw runs; a copy in target/bench/results.json):
  squashfs     our init, checker root as a squashfs over HTTP
  squashfs-256 the same root padded with 256 MiB of random bytes (-m 2048)
  nfs          our init, seed 003's NFS root with a per-node directory
  itools       initramfs-tools MODULES=netboot and MODULES=most, BOOT=nfs, same NFS root
  dracut       dracut 059 livenet (systemd), the same squashfs over HTTP
  sizes        init binary, modules, zstd and gzip images, per-crate size (cargo-bloat)
  fetch        host-side fetch+verify of 1 GiB against curl + sha256sum, peak RSS
Needs root (network namespace, /lib/modules for mkinitramfs) and installs what is missing
with scripts/install-deps.sh.

options:
  --boots N    boots per variant (default 5)
  --quick      one boot per variant, no cargo-bloat, a 256 MiB fetch (development)
  --skip WHAT  leave out squashfs, squashfs-256, nfs, itools, dracut, bloat or fetch
               (repeatable)
  -h, --help   this text
";

/// The MAC of every seed example (as in tests/common).
const MAC: &str = "52:54:00:12:34:56";
const BOOTIF: &str = "BOOTIF=01-52-54-00-12-34-56";
/// What pxelinux's `SYSAPPEND 1` gives on QEMU's user network (as in tests/common).
const STATIC_IP: &str = "ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0";
/// A boot that has not reached the root by then has failed; TCG boots take 5-20 s.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// Seed of the padding and of the fetched file: fixed so every run serves the same bytes.
const SEED: u64 = 0x6469_736b_6c65_7373;
const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
struct Args {
    boots: usize,
    quick: bool,
    skip: Vec<String>,
}

impl Args {
    fn runs(&self, what: &str) -> bool {
        !self.skip.iter().any(|s| s == what)
    }
}

const SKIPPABLE: [&str; 7] = [
    "squashfs",
    "squashfs-256",
    "nfs",
    "itools",
    "dracut",
    "bloat",
    "fetch",
];

fn parse(args: Vec<OsString>) -> Result<Option<Args>> {
    use lexopt::prelude::*;
    let mut parsed = Args {
        boots: 5,
        quick: false,
        skip: Vec::new(),
    };
    let mut boots_given = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("boots") => {
                parsed.boots = parser.value()?.parse()?;
                boots_given = true;
            }
            Long("quick") => parsed.quick = true,
            Long("skip") => {
                let what: String = parser.value()?.parse()?;
                if !SKIPPABLE.contains(&what.as_str()) {
                    bail!("--skip {what}: expected one of {SKIPPABLE:?}");
                }
                parsed.skip.push(what);
            }
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if parsed.quick && !boots_given {
        parsed.boots = 1;
    }
    if parsed.boots == 0 {
        bail!("--boots must be at least 1");
    }
    Ok(Some(parsed))
}

pub fn run(args: Vec<OsString>) -> Result<()> {
    // The fetch measurement runs in a child process of its own so that its peak RSS is the
    // fetch's, not that of this process with its images in memory.
    if args.first().is_some_and(|a| a == "--fetch-child") {
        return fetch_child(&args[1..]);
    }
    let Some(args) = parse(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    super::prereqs::ensure()?;
    ensure_bench_tools()?;
    let out = xtask::project_root().join("target").join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut report = Report::new(&args)?;

    let kernel = testbed::kernel::ensure().context("fetching the Debian cloud kernel")?;
    report.kernel = kernel.version.clone();
    let init = xtask::build::init_binary()?;
    let ours = build_ours(&kernel, &init, &out, &mut report)?;

    if args.runs("squashfs") {
        bench_squashfs(&args, &kernel, &ours, &out, false, &mut report)?;
    }
    if args.runs("squashfs-256") {
        bench_squashfs(&args, &kernel, &ours, &out, true, &mut report)?;
    }
    if args.runs("nfs") || args.runs("itools") {
        bench_nfs(&args, &kernel, &ours, &out, &mut report)?;
    }
    if args.runs("dracut") {
        bench_dracut(&args, &kernel, &out, &mut report)?;
    }
    if args.runs("fetch") {
        report.fetch = Some(bench_fetch(&args, &out)?);
    }
    if args.runs("bloat") && !args.quick {
        report.bloat = bloat().unwrap_or_else(|err| {
            eprintln!("bench: cargo-bloat: {err:#}");
            Vec::new()
        });
    }
    report.wall = started.elapsed();
    report.load_end = loadavg();
    report.write(&xtask::project_root(), &out)?;
    println!(
        "bench: wrote BENCHMARKS.md and BENCHMARKS.json in {:.0} s",
        report.wall.as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Prerequisites

/// initramfs-tools and dracut (the baselines), curl and /usr/bin/time (the fetch comparison) come from
/// scripts/install-deps.sh, which prereqs::ensure only runs for the test bed's own tools.
fn ensure_bench_tools() -> Result<()> {
    let have = |path: &str| Path::new(path).exists();
    // initramfs-tools-core has mkinitramfs; the hooks that make a bootable image (udev, kmod,
    // klibc-utils) come with initramfs-tools itself.
    let missing = !have("/usr/share/initramfs-tools/hooks/klibc-utils")
        || !have("/usr/bin/curl")
        || !have("/usr/bin/time")
        || !have("/usr/sbin/depmod")
        || !have("/usr/bin/dracut")
        || !have("/usr/lib/dracut/modules.d/90livenet");
    if !missing {
        return Ok(());
    }
    let script = xtask::project_root()
        .join("scripts")
        .join("install-deps.sh");
    println!(
        "bench: installing initramfs-tools, curl and time with {}",
        script.display()
    );
    let sh = Shell::new()?;
    cmd!(sh, "bash {script}")
        .run()
        .context("installing the benchmark's prerequisites (needs root)")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Our images and their sizes

struct Ours {
    initrd: PathBuf,
}

fn build_ours(kernel: &Kernel, init: &Path, out: &Path, report: &mut Report) -> Result<Ours> {
    let mut built = Vec::new();
    for compression in [Compression::Zstd, Compression::Gzip] {
        let path = out.join(format!("initrd-diskless-{compression}.img"));
        // The production image: default modules, no rescue shell (the tests add busybox).
        let mut options = InitrdOptions::new(init.to_owned(), path.clone());
        options.modules_dir = Some(kernel.modules_dir.clone());
        options.compress = compression;
        let summary =
            initrd::build(&options).with_context(|| format!("building {}", path.display()))?;
        built.push((path, summary));
    }
    for (_, summary) in &built {
        report.sizes.push(SizeRow {
            what: format!("diskless, {}", summary.compression),
            image: summary.image_bytes,
            cpio: summary.main_cpio_bytes,
            init: summary.init_bytes,
            modules: summary.modules.iter().map(|(_, b)| *b).sum(),
            module_count: summary.modules.len(),
        });
    }
    let (initrd, _) = built
        .into_iter()
        .next()
        .context("the zstd image was not built")?;
    Ok(Ours { initrd })
}

// ---------------------------------------------------------------------------------------------
// Boots

/// One boot's figures (kernel clock unless named host).
#[derive(Debug, Clone, Default)]
struct Boot {
    ok: bool,
    run_init: Option<f64>,
    root_kmsg: Option<f64>,
    /// Host seconds from QEMU's launch to the checker's ROOT-INIT-REACHED line.
    host_root: Option<f64>,
    /// Our init's per-step durations from /run/diskless/boot.json, in ms.
    steps: Vec<(String, f64)>,
    log: PathBuf,
}

impl Boot {
    fn stage(&self) -> Option<f64> {
        Some(self.root_kmsg? - self.run_init?)
    }
}

#[derive(Debug, Clone)]
struct Variant {
    label: String,
    what: String,
    reproduce: String,
    boots: Vec<Boot>,
}

/// The kernel timestamp of a `[    3.785281] message` dmesg line.
fn kmsg_time(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (t, _) = rest.split_once(']')?;
    t.trim().parse().ok()
}

/// `{"step": "fetch", "millis": 569.111},` → ("fetch", 569.111).
fn record_step(line: &str) -> Option<(String, f64)> {
    let (_, after) = line.split_once("\"step\": \"")?;
    let (name, after) = after.split_once('"')?;
    let (_, millis) = after.split_once("\"millis\":")?;
    let millis = millis.trim().trim_end_matches(',').trim_end_matches('}');
    Some((name.to_owned(), millis.trim().parse().ok()?))
}

fn measure(qemu: Qemu) -> Result<Boot> {
    let log = qemu.run().context("running QEMU")?;
    let dmesg = log.prefixed("ROOT-DMESG: ");
    let find = |needle: &str| {
        dmesg
            .iter()
            .find(|l| l.contains(needle))
            .and_then(|l| kmsg_time(l))
    };
    let boot = Boot {
        ok: log.contains("ROOT-INIT-DONE") && !log.timed_out,
        run_init: find("Run /init as init process"),
        root_kmsg: find("ROOT-INIT-KMSG"),
        host_root: log.time_of("ROOT-INIT-REACHED"),
        steps: log
            .prefixed("ROOT-RECORD: ")
            .iter()
            .filter_map(|l| record_step(l))
            .collect(),
        log: log.log_path.clone(),
    };
    if !boot.ok {
        eprintln!(
            "{}",
            log.failure_report("bench: this boot did not reach the root's init")
        );
    }
    Ok(boot)
}

fn boot_n(args: &Args, variant: &mut Variant, make: impl Fn(&str) -> Result<Qemu>) -> Result<()> {
    for n in 1..=args.boots {
        let name = format!("bench-{}-{n}", variant.label);
        let boot = measure(make(&name)?)?;
        println!(
            "bench: {} boot {n}/{}: stage {} s{}",
            variant.label,
            args.boots,
            boot.stage().map_or("-".to_owned(), |s| format!("{s:.3}")),
            if boot.ok { "" } else { " (FAILED)" }
        );
        variant.boots.push(boot);
    }
    Ok(())
}

/// The checker root, optionally padded with `pad` bytes of seeded random data, as a squashfs.
fn squashfs_image(out: &Path, pad: u64) -> Result<PathBuf> {
    let name = if pad == 0 {
        "root".to_owned()
    } else {
        format!("root-{}m", pad / MIB)
    };
    let tree = out.join(format!("{name}.tree"));
    let image = out.join(format!("{name}.squashfs"));
    if pad > 0 && image.is_file() {
        // Same seed, same checker: the slow pack of an earlier run is still right.
        return Ok(image);
    }
    let root = RootSpec::default().build(&tree)?;
    if pad == 0 {
        root.squashfs(&image)?;
        return Ok(image);
    }
    let pad_file = tree.join("pad.bin");
    write_random(&pad_file, pad)?;
    // mksquashfs rather than the test bed's in-process writer: zstd -15 over 256 MiB of
    // incompressible bytes takes minutes on one core for nothing. -noD stores data blocks
    // uncompressed, which random bytes would end up as anyway.
    let sh = Shell::new()?;
    let tmp = image.with_extension("squashfs.tmp");
    cmd!(
        sh,
        "mksquashfs {tree} {tmp} -noappend -all-root -comp zstd -noD -quiet"
    )
    .run()
    .context("packing the padded squashfs (apt-get install squashfs-tools)")?;
    std::fs::rename(&tmp, &image)?;
    Ok(image)
}

/// `len` bytes from a xorshift64* stream seeded with [`SEED`]: incompressible and the same
/// every run. Kept if the file already has that length.
fn write_random(path: &Path, len: u64) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == len) {
        return Ok(());
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(MIB as usize, file);
    let mut state = SEED;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            chunk.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = usize::try_from(left.min(MIB)).unwrap_or(buf.len());
        writer.write_all(&buf[..n])?;
        left -= n as u64;
    }
    writer.flush()?;
    Ok(())
}

fn bench_squashfs(
    args: &Args,
    kernel: &Kernel,
    ours: &Ours,
    out: &Path,
    big: bool,
    report: &mut Report,
) -> Result<()> {
    let pad = if big { 256 * MIB } else { 0 };
    let image = squashfs_image(out, pad)?;
    let sha = diskless::hex::encode(&initrd::sha256_of_file(&image)?);
    let name = image
        .file_name()
        .and_then(|n| n.to_str())
        .context("image name")?
        .to_owned();
    let server = HttpServer::serve_dir(out).context("starting the HTTP server")?;
    let size = std::fs::metadata(&image)?.len();
    let memory = if big { 2048 } else { 1024 };
    let cmdline = format!(
        "{BOOTIF} {STATIC_IP} root=live:{} diskless.sha256={sha} rd.emergency=poweroff",
        server.url_for(&name)
    );
    let mut variant = Variant {
        label: if big {
            "diskless-squashfs-256m"
        } else {
            "diskless-squashfs"
        }
        .to_owned(),
        what: format!(
            "ours, squashfs over HTTP ({:.1} MiB image, -m {memory})",
            size as f64 / MIB as f64
        ),
        reproduce: format!(
            "{}  # append: {cmdline}",
            only(&[if big { "squashfs-256" } else { "squashfs" }])
        ),
        boots: Vec::new(),
    };
    boot_n(args, &mut variant, |log_name| {
        Ok(Qemu::new(&kernel.vmlinuz, &ours.initrd)
            .name(log_name)
            .memory_mb(memory)
            .append(&cmdline)
            .nic_with(Nic::new(MAC))
            .timeout(BOOT_TIMEOUT))
    })?;
    report.variants.push(variant);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// NFS: ours and initramfs-tools against one ganesha, in a network namespace of our own

fn bench_nfs(
    args: &Args,
    kernel: &Kernel,
    ours: &Ours,
    out: &Path,
    report: &mut Report,
) -> Result<()> {
    let base = out.join("nfs");
    let _ = std::fs::remove_dir_all(&base);
    let clients = base.join("clients");
    let workers = base.join("workers");
    RootSpec::default().build(&clients)?;
    // diskless.persist=/etc/ssh needs the directory in the image, as tests/boot_nfs.rs has.
    std::fs::create_dir_all(clients.join("etc/ssh"))?;
    std::fs::write(clients.join("etc/ssh/ssh_host_ed25519_key"), "image key\n")?;
    std::fs::create_dir_all(workers.join("home"))?;

    // klibc's nfsmount asks the portmapper on 10.0.2.2:111 for the NFS and MOUNT ports (it
    // rejects mountport=, BASELINES.md section 5), so the baseline needs one answering on what
    // the guest sees as 10.0.2.2:111, that is 127.0.0.1:111 of QEMU's network namespace: the
    // one ganesha registered with answers there too. A private namespace keeps port 111 off
    // the host. ganesha resolves Bind_addr with
    // AI_ADDRCONFIG, which needs a non-loopback address in the namespace: a tap gives one.
    let ns = NetNs::new("bench").context("creating a network namespace (needs root)")?;
    ns.add_tap("bench0", "192.0.2.1/24")?;
    let exports = [
        Export::read_only(&clients, "/clients"),
        Export::read_write(&workers, "/workers"),
    ];
    let mut server = ns
        .enter(|| NfsServer::start(&exports))?
        .context("starting nfs-ganesha in the namespace")?;
    ns.enter(|| server.serve_portmap(SocketAddrV4::new(Ipv4Addr::LOCALHOST, portmap::PORT)))?
        .context("starting the portmapper")?;

    if args.runs("nfs") {
        let v3 = server.v3_options();
        let v4 = server.v4_options();
        // Seed 003's command line, as tests/boot_nfs.rs adapts it to the test network.
        let cmdline = format!(
            "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro,{v3} ip=dhcp {BOOTIF} {STATIC_IP} \
             diskless.hostname=worker-node-{{mac}} diskless.node=10.0.2.2:/workers,{v4} \
             diskless.mount=10.0.2.2:/workers/home,/home,{v4} diskless.persist=/etc/ssh \
             rd.emergency=poweroff"
        );
        let mut variant = Variant {
            label: "diskless-nfs".to_owned(),
            what: "ours, NFSv3 root + NFSv4.1 per-node dir (seed 003)".to_owned(),
            reproduce: format!("{}  # append: {cmdline}", only(&["nfs"])),
            boots: Vec::new(),
        };
        boot_n(args, &mut variant, |name| {
            let qemu = Qemu::new(&kernel.vmlinuz, &ours.initrd)
                .name(name)
                .append(&cmdline)
                .nic_with(Nic::new(MAC))
                .timeout(BOOT_TIMEOUT);
            Ok(ns.qemu(qemu)?)
        })?;
        report.variants.push(variant);
    }

    if args.runs("itools") {
        install_kernel_for_mkinitramfs(kernel)?;
        // BASELINES.md section 2's command line; `rd.emergency` means nothing to it.
        let cmdline = "root=/dev/nfs nfsroot=10.0.2.2:/clients,tcp,v3 ip=dhcp";
        for modules in ["netboot", "most"] {
            let image = out.join(format!("initrd-itools-{modules}.img"));
            let summary = mkinitramfs(kernel, out, modules, &image)?;
            report.sizes.push(summary);
            let mut variant = Variant {
                label: format!("itools-{modules}"),
                what: format!("initramfs-tools MODULES={modules}, BOOT=nfs, NFSv3 (klibc)"),
                reproduce: format!(
                    "{}  # mkinitramfs MODULES={modules}; append: {cmdline}",
                    only(&["itools"])
                ),
                boots: Vec::new(),
            };
            boot_n(args, &mut variant, |name| {
                let qemu = Qemu::new(&kernel.vmlinuz, &image)
                    .name(name)
                    .append(cmdline)
                    .nic_with(Nic::new(MAC))
                    .timeout(BOOT_TIMEOUT);
                Ok(ns.qemu(qemu)?)
            })?;
            report.variants.push(variant);
        }
        report.portmap_queries = server
            .portmap_queries()
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    drop(server);
    drop(ns);
    Ok(())
}

/// dracut's livenet (with systemd, the image dracut builds by default here) fetching the
/// checker squashfs over HTTP, as BASELINES.md section 2 built and booted it.
fn bench_dracut(args: &Args, kernel: &Kernel, out: &Path, report: &mut Report) -> Result<()> {
    install_kernel_for_mkinitramfs(kernel)?;
    let image = out.join("initrd-dracut-livenet.img");
    let sh = Shell::new()?;
    let version = &kernel.version;
    // network-legacy: with systemd installed dracut 059 picks systemd-networkd, which never
    // runs livenet's netroot hook (dracutdevs/dracut#1822); dhclient does.
    cmd!(
        sh,
        "dracut --force --no-hostonly --zstd --add 'network-legacy livenet dmsquash-live' --kver {version} {image}"
    )
    .run()
    .context("running dracut (apt-get install dracut-core dracut-network dracut-live)")?;
    report.sizes.push(SizeRow {
        what: "dracut livenet (systemd), zstd -15".to_owned(),
        image: std::fs::metadata(&image)?.len(),
        cpio: cmd!(sh, "zstd -dc {image}")
            .quiet()
            .output()
            .map(|o| o.stdout.len() as u64)
            .unwrap_or(0),
        init: 0,
        modules: 0,
        module_count: 0,
    });
    let root = squashfs_image(out, 0)?;
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .context("image name")?
        .to_owned();
    let server = HttpServer::serve_dir(out).context("starting the HTTP server")?;
    let cmdline = format!(
        "root=live:{} rd.live.overlay.overlayfs=1 ip=dhcp rd.neednet=1",
        server.url_for(&name)
    );
    let mut variant = Variant {
        label: "dracut-livenet".to_owned(),
        what: "dracut 059 livenet + systemd, squashfs over HTTP (0.9 MiB image)".to_owned(),
        reproduce: format!("{}  # append: {cmdline}", only(&["dracut"])),
        boots: Vec::new(),
    };
    boot_n(args, &mut variant, |log_name| {
        Ok(Qemu::new(&kernel.vmlinuz, &image)
            .name(log_name)
            .append(&cmdline)
            .nic_with(Nic::new(MAC))
            .timeout(BOOT_TIMEOUT))
    })?;
    report.variants.push(variant);
    Ok(())
}

/// mkinitramfs reads modules from /lib/modules/<kver> and the kernel's config from /boot, as
/// BASELINES.md section 1 set them up; the kernel package itself is never installed.
fn install_kernel_for_mkinitramfs(kernel: &Kernel) -> Result<()> {
    let sh = Shell::new()?;
    let version = &kernel.version;
    let system = PathBuf::from("/lib/modules").join(version);
    if !system.join("modules.dep").is_file() {
        let from = &kernel.modules_dir;
        std::fs::create_dir_all("/lib/modules")?;
        cmd!(sh, "cp -a {from} {system}")
            .run()
            .context("copying the kernel's modules to /lib/modules")?;
        cmd!(sh, "depmod {version}").run()?;
    }
    let boot_dir = kernel
        .vmlinuz
        .parent()
        .context("the kernel image has no directory")?;
    std::fs::create_dir_all("/boot")?;
    for file in ["config", "System.map"] {
        let name = format!("{file}-{version}");
        let src = boot_dir.join(&name);
        let dest = Path::new("/boot").join(&name);
        if src.is_file() && !dest.is_file() {
            std::fs::copy(&src, &dest).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}

/// BASELINES.md section 2's configuration, with MODULES=`modules`.
fn mkinitramfs(kernel: &Kernel, out: &Path, modules: &str, image: &Path) -> Result<SizeRow> {
    let conf = out.join(format!("itools-conf-{modules}"));
    let _ = std::fs::remove_dir_all(&conf);
    for sub in ["conf.d", "hooks", "scripts"] {
        std::fs::create_dir_all(conf.join(sub))?;
    }
    std::fs::write(conf.join("modules"), "")?;
    std::fs::write(
        conf.join("initramfs.conf"),
        format!(
            "MODULES={modules}\nBUSYBOX=auto\nKEYMAP=n\nCOMPRESS=zstd\nDEVICE=\nNFSROOT=auto\n\
             RUNSIZE=10%\nFSTYPE=auto\nBOOT=nfs\n"
        ),
    )?;
    let sh = Shell::new()?;
    let version = &kernel.version;
    cmd!(sh, "mkinitramfs -d {conf} -o {image} {version}")
        .run()
        .context("running mkinitramfs")?;
    let cpio = cmd!(sh, "zstd -dc {image}")
        .quiet()
        .output()
        .map(|o| o.stdout.len() as u64)
        .unwrap_or(0);
    Ok(SizeRow {
        what: format!("initramfs-tools MODULES={modules}, zstd -9"),
        image: std::fs::metadata(image)?.len(),
        cpio,
        init: 0,
        modules: 0,
        module_count: 0,
    })
}

// ---------------------------------------------------------------------------------------------
// Fetch throughput and memory

#[derive(Debug, Clone, Default)]
struct FetchResult {
    bytes: u64,
    ours_s: Vec<f64>,
    ours_rss_kib: Vec<u64>,
    curl_s: Vec<f64>,
    curl_rss_kib: Vec<u64>,
    sha_s: Vec<f64>,
}

fn bench_fetch(args: &Args, out: &Path) -> Result<FetchResult> {
    let bytes = if args.quick { 256 * MIB } else { 1024 * MIB };
    let dir = out.join("fetch");
    std::fs::create_dir_all(&dir)?;
    let name = format!("blob-{}m.bin", bytes / MIB);
    let blob = dir.join(&name);
    write_random(&blob, bytes)?;
    let sha = diskless::hex::encode(&initrd::sha256_of_file(&blob)?);
    let server = HttpServer::serve_dir(&dir).context("starting the HTTP server")?;
    let url = server.host_url_for(&name);
    let dest = out.join("fetched.bin");
    // Our own binary through /proc: another cargo run may replace target/debug/xtask while
    // this one runs (the machine is shared), and the deleted file stays reachable this way.
    let exe = PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    let sh = Shell::new()?;
    let mut result = FetchResult {
        bytes,
        ..FetchResult::default()
    };
    let rounds = args.boots.min(3);
    for _ in 0..rounds {
        let _ = std::fs::remove_file(&dest);
        let text = cmd!(
            sh,
            "/usr/bin/time -f TIME-MAXRSS=%M {exe} bench --fetch-child {url} {dest} {sha}"
        )
        .quiet()
        .read_stderr()
        .context("running the fetch child")?;
        let result_file = dest.with_extension("bin.result");
        let child = std::fs::read_to_string(&result_file).unwrap_or_default();
        let secs = value_of(&child, "FETCH-SECONDS").context("the fetch child's time")?;
        result.ours_s.push(secs.parse()?);
        result.ours_rss_kib.push(
            value_of(&text, "TIME-MAXRSS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        );
        let _ = std::fs::remove_file(&dest);

        let started = Instant::now();
        let text = cmd!(
            sh,
            "/usr/bin/time -f TIME-MAXRSS=%M curl -sS -o {dest} {url}"
        )
        .quiet()
        .read_stderr()
        .context("running curl")?;
        let curl = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let sum = cmd!(sh, "sha256sum {dest}").quiet().read()?;
        let sha_s = started.elapsed().as_secs_f64();
        if !sum.starts_with(&sha) {
            bail!("curl fetched something else: {sum}");
        }
        result.curl_s.push(curl + sha_s);
        result.sha_s.push(sha_s);
        result.curl_rss_kib.push(
            value_of(&text, "TIME-MAXRSS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        );
        let _ = std::fs::remove_file(&dest);
        let _ = std::fs::remove_file(dest.with_extension("bin.result"));
    }
    Ok(result)
}

fn value_of(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}

/// `bench --fetch-child URL DEST SHA256`: one fetch through diskless::image::fetch, as the node does
/// it; the time goes to `DEST.result` so that stderr stays /usr/bin/time's.
fn fetch_child(args: &[OsString]) -> Result<()> {
    use diskless::image::fetch::{Job, fetch_to_file};
    use diskless::image::http::{HttpLimits, HttpTransport};
    use diskless::retry::RetryPolicy;
    let [url, dest, sha] = args else {
        bail!("usage: bench --fetch-child URL DEST SHA256");
    };
    let url = url.to_string_lossy().into_owned();
    let dest = PathBuf::from(dest);
    let sha = sha.to_string_lossy();
    let expected = diskless::hex::parse_sha256(&sha).map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = RetryPolicy::with_deadline(Duration::from_secs(300));
    let transport = HttpTransport::new(
        None,
        HttpLimits::default(),
        diskless::image::tls::Clock::system(None),
    );
    let sources = [url];
    let job = Job {
        sources: &sources,
        dest: &dest,
        expected: Some(expected),
        ram_budget: None,
    };
    let fetched =
        fetch_to_file(&transport, &job, &policy, |_| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut result = dest.into_os_string();
    result.push(".result");
    std::fs::write(
        &result,
        format!(
            "FETCH-SECONDS={}\nFETCH-BYTES={}\n",
            fetched.elapsed.as_secs_f64(),
            fetched.bytes
        ),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// What each crate adds to the init

/// `cargo bloat --crates` on the init as released, but with symbols kept (the release profile
/// strips them, and cargo-bloat needs them); its own target directory so the init's is left
/// alone. Sizes are of .text, per crate.
fn bloat() -> Result<Vec<(String, u64)>> {
    let sh = Shell::new()?;
    sh.change_dir(xtask::project_root());
    if cmd!(sh, "cargo bloat --version")
        .quiet()
        .ignore_stderr()
        .read()
        .is_err()
    {
        cmd!(sh, "cargo install --locked cargo-bloat")
            .run()
            .context("installing cargo-bloat from crates.io")?;
    }
    let target_dir = xtask::project_root()
        .join("target")
        .join("bench")
        .join("bloat");
    let target = xtask::build::INIT_TARGET;
    let text = cmd!(
        sh,
        "cargo bloat --release --package diskless --bin init --target {target} --target-dir {target_dir} --crates -n 30 --message-format json"
    )
    .env("CARGO_PROFILE_RELEASE_STRIP", "false")
    .quiet()
    .read()?;
    Ok(parse_bloat_json(&text))
}

/// cargo-bloat's JSON: `{"file-size":..,"text-section-size":..,"crates":[{"name":"std","size":N},..]}`.
fn parse_bloat_json(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut rest = text;
    if let Some((_, crates)) = text.split_once("\"crates\"") {
        rest = crates;
    }
    while let Some((_, after)) = rest.split_once("\"name\":\"") {
        let Some((name, after)) = after.split_once('"') else {
            break;
        };
        let Some((_, after)) = after.split_once("\"size\":") else {
            break;
        };
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(size) = digits.parse() {
            out.push((name.to_owned(), size));
        }
        rest = after;
    }
    if let Some(total) = text
        .split_once("\"text-section-size\":")
        .map(|(_, a)| {
            a.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
    {
        out.push((".text total".to_owned(), total));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The report

#[derive(Debug, Clone)]
struct SizeRow {
    what: String,
    image: u64,
    cpio: u64,
    init: u64,
    modules: u64,
    module_count: usize,
}

struct Report {
    boots: usize,
    quick: bool,
    date: String,
    machine: String,
    qemu: String,
    kernel: String,
    load_start: String,
    load_end: String,
    wall: Duration,
    sizes: Vec<SizeRow>,
    variants: Vec<Variant>,
    fetch: Option<FetchResult>,
    bloat: Vec<(String, u64)>,
    portmap_queries: Vec<String>,
    sha_ni: bool,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

impl Report {
    fn new(args: &Args) -> Result<Report> {
        let sh = Shell::new()?;
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines().find_map(|l| {
                    l.strip_prefix("model name")?
                        .split_once(':')
                        .map(|(_, m)| m.trim().to_owned())
                })
            })
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|o| value_of(&o, "PRETTY_NAME"))
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned();
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| value_of(&m.replace(": ", "=").replace(' ', ""), "MemTotal"))
            .unwrap_or_default();
        Ok(Report {
            boots: args.boots,
            quick: args.quick,
            date: cmd!(sh, "date -u +%Y-%m-%dT%H:%M:%SZ").quiet().read()?,
            machine: format!("{os}, {cpus} CPUs ({cpu}), {mem} RAM, no KVM (TCG)"),
            qemu: cmd!(sh, "qemu-system-x86_64 --version")
                .quiet()
                .read()?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            kernel: String::new(),
            load_start: loadavg(),
            load_end: String::new(),
            wall: Duration::ZERO,
            sizes: Vec::new(),
            variants: Vec::new(),
            fetch: None,
            bloat: Vec::new(),
            portmap_queries: Vec::new(),
            sha_ni: std::fs::read_to_string("/proc/cpuinfo")
                .is_ok_and(|c| c.split_whitespace().any(|w| w == "sha_ni")),
        })
    }

    /// Whether something else kept the CPUs busy: a 1-minute load average of 0.5 or more
    /// at the start, when this run had not begun its own work yet.
    fn shared(&self) -> bool {
        self.load_start
            .split_whitespace()
            .next()
            .and_then(|l| l.parse::<f64>().ok())
            .is_some_and(|l| l >= 0.5)
    }

    fn variant(&self, label: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.label == label)
    }

    fn write(&self, root: &Path, out: &Path) -> Result<()> {
        let md = self.markdown();
        std::fs::write(root.join("BENCHMARKS.md"), md)?;
        let json = self.json();
        std::fs::write(root.join("BENCHMARKS.json"), &json)?;
        std::fs::write(out.join("results.json"), &json)?;
        Ok(())
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Benchmarks\n");
        let _ = writeln!(
            s,
            "Generated by `cargo xtask bench{}` (`--boots {}`) on {}; the whole run took {:.0} s.\n",
            if self.quick { " --quick" } else { "" },
            self.boots,
            self.date,
            self.wall.as_secs_f64()
        );
        let _ = writeln!(s, "- Machine: {}", self.machine);
        if self.sha_ni {
            let _ = writeln!(s, "- The CPU has SHA extensions (`sha_ni`).");
        }
        let _ = writeln!(
            s,
            "- Load average (1/5/15 min) at the start: {}; at the end: {}.{}",
            self.load_start,
            self.load_end,
            if self.shared() {
                " **The machine was shared** with other work during this run: absolute times \
                 carry its noise (TCG is CPU-bound), while the variants of one run share it, so \
                 the ratios hold better."
            } else {
                ""
            }
        );
        let _ = writeln!(s, "- Kernel: Debian cloud kernel `{}`", self.kernel);
        let _ = writeln!(s, "- {}, 1 vCPU, TCG, `-m 1024` unless stated\n", self.qemu);

        let _ = writeln!(s, "## Initramfs stage (kernel clock, seconds)\n");
        let _ = writeln!(
            s,
            "Stage = `ROOT-INIT-KMSG` − `Run /init as init process` (both printk timestamps). \
             Median over the boots that reached the root, with the range.\n"
        );
        let reference = self
            .variant("itools-netboot")
            .and_then(|v| median(&stages(v)));
        let dracut = self
            .variant("dracut-livenet")
            .and_then(|v| median(&stages(v)));
        let _ = writeln!(
            s,
            "| variant | what | boots ok | **stage** median | range | Run /init (k) | host launch→root init | stage vs itools netboot | vs dracut livenet |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for v in &self.variants {
            let st = stages(v);
            let ok = v.boots.iter().filter(|b| b.ok).count();
            let range = match (min(&st), max(&st)) {
                (Some(a), Some(b)) => format!("{a:.2}–{b:.2}"),
                _ => "-".to_owned(),
            };
            let run_init: Vec<f64> = v.boots.iter().filter_map(|b| b.run_init).collect();
            let host: Vec<f64> = v.boots.iter().filter_map(|b| b.host_root).collect();
            let ratio_to = |to: Option<f64>| match (median(&st), to) {
                (Some(m), Some(r)) if r > 0.0 => format!("{:.2}×", m / r),
                _ => "-".to_owned(),
            };
            let (ratio, ratio_dracut) = (ratio_to(reference), ratio_to(dracut));
            let _ = writeln!(
                s,
                "| `{}` | {} | {ok}/{} | **{}** | {range} | {} | {} | {ratio} | {ratio_dracut} |",
                v.label,
                v.what,
                v.boots.len(),
                fmt_opt(median(&st)),
                fmt_opt(median(&run_init)),
                fmt_opt(median(&host)),
            );
        }

        let ours: Vec<&Variant> = self
            .variants
            .iter()
            .filter(|v| v.label.starts_with("diskless"))
            .collect();
        if !ours.is_empty() {
            let _ = writeln!(
                s,
                "\n## Our stage, step by step (ms, median; from /run/diskless/boot.json)\n"
            );
            let mut steps: Vec<String> = Vec::new();
            for v in &ours {
                for b in &v.boots {
                    for (name, _) in &b.steps {
                        if !steps.contains(name) {
                            steps.push(name.clone());
                        }
                    }
                }
            }
            let _ = write!(s, "| step |");
            for v in &ours {
                let _ = write!(s, " `{}` |", v.label);
            }
            let _ = write!(s, "\n|---|");
            for _ in &ours {
                let _ = write!(s, "---:|");
            }
            let _ = writeln!(s);
            for step in steps.iter().map(String::as_str).chain(["(sum of steps)"]) {
                let _ = write!(s, "| {step} |");
                for v in &ours {
                    let per_boot: Vec<f64> = v
                        .boots
                        .iter()
                        .filter(|b| b.ok)
                        // A step this kind of boot does not have (fetch on NFS) shows as "-".
                        .filter(|b| {
                            b.steps
                                .iter()
                                .any(|(n, _)| n == step || step == "(sum of steps)")
                        })
                        .map(|b| {
                            b.steps
                                .iter()
                                .filter(|(n, _)| n == step || step == "(sum of steps)")
                                .map(|(_, ms)| ms)
                                .sum()
                        })
                        .collect();
                    let _ = write!(
                        s,
                        " {} |",
                        median(&per_boot).map_or("-".to_owned(), |m| format!("{m:.0}"))
                    );
                }
                let _ = writeln!(s);
            }
        }

        let _ = writeln!(s, "\n## Sizes (bytes)\n");
        let reference = self
            .sizes
            .iter()
            .find(|r| r.what.contains("netboot"))
            .map(|r| r.image);
        let _ = writeln!(
            s,
            "| image | compressed | uncompressed cpio | /init | modules (count) | vs initramfs-tools netboot |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for row in &self.sizes {
            let ratio = match reference {
                Some(r) if r > 0 => format!("{:.3}×", row.image as f64 / r as f64),
                _ => "-".to_owned(),
            };
            let dash = |v: u64, text: String| if v == 0 { "-".to_owned() } else { text };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {ratio} |",
                row.what,
                group(row.image),
                dash(row.cpio, group(row.cpio)),
                dash(row.init, group(row.init)),
                dash(
                    row.modules,
                    format!("{} ({})", group(row.modules), row.module_count)
                ),
            );
        }
        if !self.bloat.is_empty() {
            let _ = writeln!(
                s,
                "\n### What each crate adds to /init (`cargo bloat --crates`, .text bytes, unstripped release build)\n"
            );
            let _ = writeln!(s, "| crate | .text bytes |\n|---|---:|");
            for (name, size) in &self.bloat {
                let _ = writeln!(s, "| {name} | {} |", group(*size));
            }
        }

        if let Some(f) = &self.fetch {
            let gib = f.bytes as f64 / (1024.0 * MIB as f64);
            let _ = writeln!(
                s,
                "\n## Fetch and verify on the host ({gib:.2} GiB from 127.0.0.1)\n"
            );
            let rate = |secs: Option<f64>| {
                secs.map_or("-".to_owned(), |t| {
                    format!("{:.0} MiB/s", f.bytes as f64 / MIB as f64 / t)
                })
            };
            let ours = median(&f.ours_s);
            let curl = median(&f.curl_s);
            let rss = |v: &[u64]| {
                let v: Vec<f64> = v.iter().map(|k| *k as f64).collect();
                median(&v).map_or("-".to_owned(), |k| format!("{:.1} MiB", k / 1024.0))
            };
            let _ = writeln!(
                s,
                "| fetcher | median s (runs) | throughput | peak RSS |\n|---|---:|---:|---:|"
            );
            let _ = writeln!(
                s,
                "| `diskless::image::fetch::fetch_to_file` (sha256 while streaming) | {} ({}) | {} | {} |",
                fmt_opt(ours),
                f.ours_s.len(),
                rate(ours),
                rss(&f.ours_rss_kib)
            );
            let _ = writeln!(
                s,
                "| `curl -o` then `sha256sum` (sha256sum alone: {} s) | {} ({}) | {} | {} (curl) |",
                fmt_opt(median(&f.sha_s)),
                fmt_opt(curl),
                f.curl_s.len(),
                rate(curl),
                rss(&f.curl_rss_kib)
            );
            if let (Some(o), Some(c)) = (ours, curl) {
                let _ = writeln!(
                    s,
                    "\nOurs takes {:.2}× the time of curl + sha256sum.",
                    o / c
                );
            }
        }

        let _ = writeln!(s, "\n## How to read this\n");
        let _ = writeln!(
            s,
            "- **Stage** is the time the initramfs owns: from the kernel handing over to /init to \
             the root's own init writing to /dev/kmsg. The kernel's own part (unpacking the \
             initrd, shown as `Run /init (k)`) and QEMU/firmware (in `host launch→root init`) \
             are outside it. Smaller is better; the ratio column divides by initramfs-tools \
             MODULES=netboot's median from this same run, the last by dracut livenet's (the \
             baseline that fetches the same squashfs over HTTP).\n\
             - Every VM here, the baselines' too, has `-device virtio-rng-pci` (the test bed's \
             default; BASELINES.md ran without it), so all variants see the same hardware.\n\
             - initramfs-tools is bimodal on this QEMU (BASELINES.md section 5): klibc ipconfig's \
             first DHCP packet is lost and the retry comes after 2 s or after 10 s. A median over \
             few boots can land in either mode; look at the range.\n\
             - Our step table comes from `/run/diskless/boot.json` (`steps`); the stage also holds \
             time between steps (logging, switch_root, exec of the root's init).\n\
             - The squashfs rows' `fetch` step is the HTTP transfer into RAM; the 256 MiB image \
             (random bytes, stored uncompressed with `mksquashfs -noD`) shows how it scales: \
             its fetch runs at what QEMU's user-mode network (slirp) moves under TCG, about \
             10-15 MB/s here, so that row measures slirp more than the init.\n\
             - Sizes: our images hold the default module set and no rescue shell (what `cargo \
             xtask initrd` builds by default); initramfs-tools' hold udev, klibc, busybox and \
             its MODULES= set.\n\
             - Fetch: the same file from the test bed's std-only HTTP server on 127.0.0.1 to \
             target/bench/ (page cache). Ours runs from the xtask binary (dev profile, \
             dependencies optimised); curl's time includes writing the file and sha256sum \
             reading it back. Peak RSS is /usr/bin/time's maximum resident set. Ours hashes \
             faster than sha256sum: the sha2 crate uses the CPU's SHA extensions when \
             /proc/cpuinfo lists `sha_ni`, which Debian 12's coreutils does not.\n\
             - Ours on NFS does more than initramfs-tools there: besides the read-only NFSv3 root \
             it mounts the node's own NFSv4.1 directory (creating it on the first boot), \
             /home, and bind-mounts /etc/ssh (the `storage` step).\n\
             - dracut: only its livenet image with systemd is booted (BASELINES.md's headline \
             dracut row); the no-systemd and nfs4 variants of BASELINES.md are not part of this \
             task, to keep a run under 20 minutes (a dracut boot takes 20-35 s here). dracut-core \
             installs beside initramfs-tools; only the `dracut` meta package conflicts with it.\n\
             - Per-boot console logs: `target/testbed-logs/bench-<variant>-<n>.log`; raw numbers \
             in BENCHMARKS.json."
        );
        let _ = writeln!(s, "\n## Reproduce\n");
        let _ = writeln!(
            s,
            "Everything: `cargo xtask bench` (as root; `--boots N`, `--quick` for one boot each). One row:\n"
        );
        for v in &self.variants {
            let _ = writeln!(s, "- `{}`: `{}`", v.label, v.reproduce);
        }
        let _ = writeln!(
            s,
            "- sizes: `{}` (the baselines' sizes come with their boots: `{}`)\n\
             - fetch: `{}`",
            only(&["bloat"]),
            only(&["bloat", "itools", "dracut"]),
            only(&["fetch"])
        );
        if !self.portmap_queries.is_empty() {
            let mut q = self.portmap_queries.clone();
            q.sort();
            q.dedup();
            let _ = writeln!(
                s,
                "\nThe baseline's portmapper (a stand-in answering GETPORT on the namespace's port 111) was asked: {}.",
                q.join("; ")
            );
        }
        s
    }

    fn json(&self) -> String {
        let mut s = String::from("{\n");
        let _ = writeln!(s, "  \"date\": {},", quote(&self.date));
        let _ = writeln!(s, "  \"machine\": {},", quote(&self.machine));
        let _ = writeln!(s, "  \"qemu\": {},", quote(&self.qemu));
        let _ = writeln!(s, "  \"kernel\": {},", quote(&self.kernel));
        let _ = writeln!(s, "  \"boots_per_variant\": {},", self.boots);
        let _ = writeln!(s, "  \"load_start\": {},", quote(&self.load_start));
        let _ = writeln!(s, "  \"load_end\": {},", quote(&self.load_end));
        let _ = writeln!(s, "  \"variants\": [");
        for (i, v) in self.variants.iter().enumerate() {
            let _ = writeln!(
                s,
                "    {{\"label\": {}, \"what\": {}, \"boots\": [",
                quote(&v.label),
                quote(&v.what)
            );
            for (j, b) in v.boots.iter().enumerate() {
                let steps: Vec<String> = b
                    .steps
                    .iter()
                    .map(|(n, ms)| format!("{{\"step\": {}, \"millis\": {ms}}}", quote(n)))
                    .collect();
                let _ = writeln!(
                    s,
                    "      {{\"ok\": {}, \"run_init_k\": {}, \"root_kmsg_k\": {}, \"stage_s\": {}, \"host_root_s\": {}, \"log\": {}, \"steps\": [{}]}}{}",
                    b.ok,
                    json_num(b.run_init),
                    json_num(b.root_kmsg),
                    json_num(b.stage()),
                    json_num(b.host_root),
                    quote(&b.log.display().to_string()),
                    steps.join(", "),
                    if j + 1 < v.boots.len() { "," } else { "" }
                );
            }
            let _ = writeln!(
                s,
                "    ]}}{}",
                if i + 1 < self.variants.len() { "," } else { "" }
            );
        }
        let _ = writeln!(s, "  ],");
        let _ = writeln!(s, "  \"sizes\": [");
        for (i, r) in self.sizes.iter().enumerate() {
            let _ = writeln!(
                s,
                "    {{\"image\": {}, \"compressed\": {}, \"cpio\": {}, \"init\": {}, \"modules\": {}, \"module_count\": {}}}{}",
                quote(&r.what),
                r.image,
                r.cpio,
                r.init,
                r.modules,
                r.module_count,
                if i + 1 < self.sizes.len() { "," } else { "" }
            );
        }
        let _ = writeln!(s, "  ],");
        let bloat: Vec<String> = self
            .bloat
            .iter()
            .map(|(n, b)| format!("{{\"crate\": {}, \"text_bytes\": {b}}}", quote(n)))
            .collect();
        let _ = writeln!(s, "  \"bloat\": [{}],", bloat.join(", "));
        match &self.fetch {
            Some(f) => {
                let list = |v: &[f64]| {
                    v.iter()
                        .map(|x| format!("{x:.4}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let ilist = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                let _ = writeln!(
                    s,
                    "  \"fetch\": {{\"bytes\": {}, \"ours_s\": [{}], \"ours_maxrss_kib\": [{}], \"curl_sha256sum_s\": [{}], \"sha256sum_s\": [{}], \"curl_maxrss_kib\": [{}]}}",
                    f.bytes,
                    list(&f.ours_s),
                    ilist(&f.ours_rss_kib),
                    list(&f.curl_s),
                    list(&f.sha_s),
                    ilist(&f.curl_rss_kib)
                );
            }
            None => {
                let _ = writeln!(s, "  \"fetch\": null");
            }
        }
        s.push_str("}\n");
        s
    }
}

/// The command that runs only `keep` (our images and their sizes are always built).
fn only(keep: &[&str]) -> String {
    let mut command = "cargo xtask bench".to_owned();
    for what in SKIPPABLE.iter().filter(|w| !keep.contains(w)) {
        let _ = write!(command, " --skip {what}");
    }
    command
}

fn stages(v: &Variant) -> Vec<f64> {
    v.boots
        .iter()
        .filter(|b| b.ok)
        .filter_map(Boot::stage)
        .collect()
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn min(values: &[f64]) -> Option<f64> {
    values.iter().copied().min_by(f64::total_cmp)
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().max_by(f64::total_cmp)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |x| format!("{x:.2}"))
}

fn json_num(v: Option<f64>) -> String {
    v.map_or("null".to_owned(), |x| format!("{x:.6}"))
}

fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// 12155802 → "12,155,802", as BASELINES.md writes sizes.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kmsg_times_and_record_steps() {
        assert_eq!(
            kmsg_time("[    3.785281] Run /init as init process"),
            Some(3.785281)
        );
        assert_eq!(kmsg_time("no stamp"), None);
        assert_eq!(
            record_step("    {\"step\": \"fetch\", \"millis\": 569.111},"),
            Some(("fetch".to_owned(), 569.111))
        );
        assert_eq!(
            record_step("    {\"step\": \"configure\", \"millis\": 79.92}"),
            Some(("configure".to_owned(), 79.92))
        );
    }

    #[test]
    fn medians_and_groups() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(group(12_155_802), "12,155,802");
        assert_eq!(group(802), "802");
    }

    #[test]
    fn rows_run_alone_with_every_other_part_skipped() {
        assert_eq!(
            only(&["nfs"]),
            "cargo xtask bench --skip squashfs --skip squashfs-256 --skip itools --skip dracut \
             --skip bloat --skip fetch"
        );
    }
}
