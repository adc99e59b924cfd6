//! `cargo xtask bench`: boot time, size and fetch throughput of our initramfs, side by side
//! with Debian's initramfs-tools and dracut booting the same root on the same kernel and QEMU,
//! in the same run. Writes `BENCHMARKS.md` (for people) and `BENCHMARKS.json` (the raw runs;
//! also `target/bench/results.json`).
//!
//! Boot time is the *initramfs stage*: kernel printk time of `ROOT-INIT-KMSG` (written by the
//! checker root's /sbin/init) minus that of "Run /init as init process", both read from the
//! `ROOT-DMESG:` lines the checker prints, so both ends are on the same clock
//! (BASELINES.md section 1).
//!
//! - [`measure`]: one boot's figures and the repeated boots of a variant (every variant);
//! - [`ours`]: our images and our squashfs boots; [`nfs`]: the NFS bed (network namespace,
//!   ganesha, portmapper) that ours and initramfs-tools boot against;
//! - [`baselines`]: initramfs-tools and dracut, built and booted as BASELINES.md did;
//! - [`debian`]: a real Debian 12 root from kernel start to multi-user.target, ours against
//!   dracut and initramfs-tools, timed by the root's systemd;
//! - [`fetch`]: host-side fetch throughput against curl + sha256sum;
//! - [`big`]: big images over a tap device, ours against curl + sha256sum in a rescue
//!   initramfs ([`big_rescue`]) and dracut livenet, in the same guest on the same link;
//! - [`sizes`]: image sizes and what each crate adds to /init (cargo-bloat);
//! - [`report`]: BENCHMARKS.md and BENCHMARKS.json.

mod baselines;
mod big;
mod big_rescue;
mod debian;
mod fetch;
mod measure;
mod nfs;
mod ours;
mod report;
mod report_big;
mod sizes;
mod targets;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use ours::Net;
use report::Report;

const HELP: &str = "\
cargo xtask bench: boot time, size and fetch throughput, side by side with initramfs-tools

usage: cargo xtask bench [--boots N] [--quick] [--skip WHAT]...

Boots the Debian cloud kernel in QEMU (TCG) N times per variant and writes BENCHMARKS.md and
BENCHMARKS.json (raw runs; a copy in target/bench/results.json):
  squashfs     our init, checker root as a squashfs over HTTP
  squashfs-256 the same root padded with 256 MiB of random bytes (-m 2048), over slirp
  nfs          our init, seed 003's NFS root with a per-node directory
  smp2         squashfs, nfs and itools netboot again with -smp 2 (what parallelism buys)
  dhcp         squashfs and nfs again with ip=dhcp (QEMU's DHCP), as the baselines boot
  itools       initramfs-tools MODULES=netboot and MODULES=most, BOOT=nfs, same NFS root
  dracut       dracut 059 livenet (systemd), the same squashfs over HTTP
  debian       a real Debian 12 root (systemd) from kernel start to multi-user.target:
               ours and dracut livenet with its squashfs over HTTP, ours and
               initramfs-tools netboot with it as an NFS root (-m 2048; 3 boots each
               unless --boots is given)
  sizes        init binary, modules, zstd and gzip images, per-crate size (cargo-bloat)
  fetch        host-side fetch+verify of 1 GiB against curl + sha256sum, peak RSS
  big          the root padded to 256 MiB and 1 GiB over a tap device in a network
               namespace: ours, curl + sha256sum in a rescue initramfs, and dracut
               livenet, same guest and link; 1 GiB again with -smp 2 (3 boots each
               unless --boots is given)
Needs root (network namespace, /lib/modules for mkinitramfs) and installs what is missing
with scripts/install-deps.sh.

options:
  --boots N    boots per variant (default 5; debian and big: 3)
  --quick      one boot per variant, no cargo-bloat, a 256 MiB fetch, big at 256 MiB only
  --skip WHAT  leave out squashfs, squashfs-256, nfs, smp2, dhcp, itools, dracut, debian,
               bloat, fetch or big (repeatable)
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
    /// Boots per variant of the parts whose boots take a minute or more under TCG (the
    /// Debian root, big images): `--boots` when given, else [`LONG_BOOTS`] (1 with `--quick`).
    long_boots: usize,
    quick: bool,
    skip: Vec<String>,
    /// When this run began: images built since then are reused by later parts.
    started: SystemTime,
}

impl Args {
    fn runs(&self, what: &str) -> bool {
        !self.skip.iter().any(|s| s == what)
    }

    /// Whether an earlier part of this run built `path` (a baseline's image is the same for
    /// every root it boots).
    fn built_this_run(&self, path: &Path) -> bool {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= self.started)
    }
}

const SKIPPABLE: [&str; 11] = [
    "squashfs",
    "squashfs-256",
    "nfs",
    "smp2",
    "dhcp",
    "itools",
    "dracut",
    "debian",
    "bloat",
    "fetch",
    "big",
];

/// Boots per variant of the `debian` and `big` parts unless `--boots` is given.
const LONG_BOOTS: usize = 3;

fn parse(args: Vec<OsString>) -> Result<Option<Args>> {
    use lexopt::prelude::*;
    let mut parsed = Args {
        boots: 5,
        long_boots: LONG_BOOTS,
        quick: false,
        skip: Vec::new(),
        started: SystemTime::now(),
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
    if parsed.quick || boots_given {
        parsed.long_boots = parsed.boots;
    }
    if parsed.boots == 0 {
        bail!("--boots must be at least 1");
    }
    Ok(Some(parsed))
}

pub fn run(args: Vec<OsString>) -> Result<()> {
    // The fetch measurement runs in a child process of its own so that its peak RSS is the
    // fetch's, not that of this process with its images in memory.
    if args.first().is_some_and(|a| a == fetch::CHILD_FLAG) {
        return fetch::child(&args[1..]);
    }
    let Some(args) = parse(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    super::prereqs::ensure()?;
    baselines::ensure_tools()?;
    let out = xtask::project_root().join("target").join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut report = Report::new(&args)?;
    report.previous = targets::Previous::read(&xtask::project_root());

    let kernel = testbed::kernel::ensure().context("fetching the Debian cloud kernel")?;
    report.kernel = kernel.version.clone();
    let init = xtask::build::init_binary()?;
    let ours = ours::build(&kernel, &init, &out, &mut report.sizes)?;

    for (part, big, cpus, net) in [
        ("squashfs", false, 1, Net::Static),
        ("smp2", false, 2, Net::Static),
        ("dhcp", false, 1, Net::Dhcp),
        ("squashfs-256", true, 1, Net::Static),
    ] {
        if args.runs(part) {
            let variant = ours::squashfs(&args, &kernel, &ours, &out, big, cpus, net)?;
            report.variants.push(variant);
        }
    }
    if ["nfs", "itools", "smp2", "dhcp"]
        .iter()
        .any(|part| args.runs(part))
    {
        nfs::run(&args, &kernel, &ours, &out, &mut report)?;
    }
    if args.runs("dracut") {
        let (variant, size) = baselines::dracut(&args, &kernel, &out)?;
        report.sizes.push(size);
        report.variants.push(variant);
    }
    if args.runs("debian") {
        debian::run(&args, &kernel, &ours, &out, &mut report)?;
    }
    if args.runs("fetch") {
        report.fetch = Some(fetch::measure(&args, &out)?);
    }
    if args.runs("big") {
        big::run(&args, &kernel, &ours, &out, &mut report)?;
    }
    if args.runs("bloat") && !args.quick {
        report.bloat = sizes::bloat().unwrap_or_else(|err| {
            eprintln!("bench: cargo-bloat: {err:#}");
            Vec::new()
        });
    }
    report.targets = targets::stage_targets(&report.variants);
    report.targets.extend(report_big::targets(&report));
    report.wall = started.elapsed();
    report.load_end = report::loadavg();
    report.write(&xtask::project_root(), &out)?;
    println!(
        "bench: wrote BENCHMARKS.md and BENCHMARKS.json in {:.0} s",
        report.wall.as_secs_f64()
    );
    Ok(())
}

/// The command that runs only `keep` (our images and their sizes are always built).
fn only(keep: &[&str]) -> String {
    let mut command = "cargo xtask bench".to_owned();
    for what in SKIPPABLE.iter().filter(|w| !keep.contains(w)) {
        let _ = write!(command, " --skip {what}");
    }
    command
}

/// A variant's label on `cpus` vCPUs: `diskless-nfs`, `diskless-nfs-smp2`.
fn with_cpus(label: &str, cpus: u32) -> String {
    if cpus == 1 {
        label.to_owned()
    } else {
        format!("{label}-smp{cpus}")
    }
}

/// What a variant's description says of its vCPUs (nothing for the usual one).
fn smp_note(cpus: u32) -> String {
    if cpus == 1 {
        String::new()
    } else {
        format!(", -smp {cpus}")
    }
}

/// `len` bytes from a xorshift64* stream seeded with [`SEED`]: incompressible and the same
/// every run (the padded squashfs, the fetched file). Kept if the file already has that
/// length.
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

/// Finds `key=value` in lines of `key=value` (os-release, /usr/bin/time's `-f` output).
fn key_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_built_since_the_run_began_are_reused() {
        let image = std::env::temp_dir().join(format!("bench-built-{}", std::process::id()));
        std::fs::write(&image, "image").expect("writes");
        let args = |started| Args {
            boots: 1,
            long_boots: 1,
            quick: true,
            skip: Vec::new(),
            started,
        };
        let hour = Duration::from_secs(3600);
        assert!(args(SystemTime::now() - hour).built_this_run(&image));
        assert!(!args(SystemTime::now() + hour).built_this_run(&image));
        std::fs::remove_file(&image).expect("removes");
        assert!(!args(SystemTime::now() - hour).built_this_run(&image));
    }

    #[test]
    fn debian_boots_three_times_unless_told() {
        let parse = |args: &[&str]| {
            super::parse(args.iter().map(OsString::from).collect())
                .expect("parses")
                .expect("not --help")
        };
        let default = parse(&[]);
        assert_eq!((default.boots, default.long_boots), (5, 3));
        let quick = parse(&["--quick"]);
        assert_eq!((quick.boots, quick.long_boots), (1, 1));
        let given = parse(&["--boots", "2"]);
        assert_eq!((given.boots, given.long_boots), (2, 2));
        assert!(super::parse(vec!["--skip".into(), "debain".into()]).is_err());
    }

    #[test]
    fn rows_run_alone_with_every_other_part_skipped() {
        assert_eq!(
            only(&["nfs"]),
            "cargo xtask bench --skip squashfs --skip squashfs-256 --skip smp2 --skip dhcp --skip itools \
             --skip dracut --skip debian --skip bloat --skip fetch --skip big"
        );
    }
}
