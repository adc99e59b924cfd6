//! `cargo xtask bench`: boot time, size and fetch throughput of our initramfs, side by side
//! with Debian's initramfs-tools and dracut booting the same root on the same kernel and QEMU,
//! in the same run. Writes `BENCHMARKS.md` (for people) and `BENCHMARKS.json` (the raw runs;
//! also `target/bench/results.json`).
//!
//! Boot time is the *initramfs stage*: kernel printk time of `ROOT-INIT-KMSG` (written by the
//! checker root's /sbin/init) minus that of "Run /init as init process", both read from the
//! `ROOT-DMESG:` lines the checker prints, so both ends are on the same clock, and ours and
//! the baselines are measured alike.
//!
//! The modules, in layers: a module imports from the layers below its own and, without cycles,
//! from its own layer. This file runs the parts in order and hands what they return to the
//! report, so that runners and report writers never import each other.
//!
//! - Writers: [`report`] writes BENCHMARKS.md and BENCHMARKS.json, with the sections of
//!   [`targets`] (the speed targets and the step tables before and after), [`report_debian`]
//!   and [`report_big`].
//! - Runners, each returning what it measured: [`ours`] (our images and our squashfs and NFS
//!   boots), [`nfs`] (the NFS bed: network namespace, ganesha, portmapper, that ours and
//!   initramfs-tools boot against), [`baselines`] (initramfs-tools and dracut, built and
//!   booted on the same kernel, root and QEMU), [`debian`] (a real Debian 12 root from kernel
//!   start to multi-user.target, timed by its systemd), [`big`] (big images over a tap device,
//!   ours against curl + sha256sum in a rescue initramfs, [`big_rescue`], and dracut livenet),
//!   [`fetch`] (host-side fetch throughput against curl + sha256sum) and [`sizes`] (what each
//!   crate adds to /init, cargo-bloat); [`measure`] boots and measures every variant alike.
//! - At the bottom: [`results`], what was measured, as BENCHMARKS.json holds it;
//!   [`debian_rows`], the Debian rows' names; [`stats`], medians, ranges and rates; [`args`],
//!   the options; [`guest`], what every guest shares; [`random`], the seeded padding;
//!   [`key_value`], `key=value` lines.

mod args;
mod baselines;
mod big;
mod big_rescue;
mod debian;
mod debian_rows;
mod fetch;
mod guest;
mod key_value;
mod measure;
mod nfs;
mod ours;
mod random;
mod report;
mod report_big;
mod report_debian;
mod results;
mod sizes;
mod stats;
mod targets;

use std::ffi::OsString;
use std::time::Instant;

use anyhow::{Context, Result};

use ours::Net;
use report::Report;

pub fn run(args: Vec<OsString>) -> Result<()> {
    // The fetch measurement runs in a child process of its own so that its peak RSS is the
    // fetch's, not that of this process with its images in memory.
    if args.first().is_some_and(|a| a == fetch::CHILD_FLAG) {
        return fetch::child(&args[1..]);
    }
    let Some(args) = args::parse(args)? else {
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
        let nfs = nfs::run(&args, &kernel, &ours, &out)?;
        report.variants.extend(nfs.variants);
        report.sizes.extend(nfs.sizes);
        report.portmap_queries = nfs.portmap_queries;
    }
    if args.runs("dracut") {
        let (variant, size) = baselines::dracut(&args, &kernel, &out)?;
        report.sizes.push(size);
        report.variants.push(variant);
    }
    if args.runs("debian") {
        report
            .variants
            .extend(debian::run(&args, &kernel, &ours, &out)?);
    }
    if args.runs("fetch") {
        report.fetch = Some(fetch::measure(&args, &out)?);
    }
    if args.runs("big") {
        let (big, variants) = big::run(&args, &kernel, &ours, &out)?;
        report.big.extend(big);
        report.variants.extend(variants);
    }
    if args.runs("bloat") && !args.quick {
        report.bloat = sizes::bloat().unwrap_or_else(|err| {
            eprintln!("bench: cargo-bloat: {err:#}");
            Vec::new()
        });
    }
    report.targets = targets::stage_targets(&report.variants);
    report
        .targets
        .extend(report_big::targets(&report.big, &report.variants));
    report.wall = started.elapsed();
    report.load_end = report::loadavg();
    report.write(&xtask::project_root(), &out)?;
    println!(
        "bench: wrote BENCHMARKS.md and BENCHMARKS.json in {:.0} s",
        report.wall.as_secs_f64()
    );
    Ok(())
}
