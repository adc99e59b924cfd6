//! A real Debian 12 root (the test bed's [`testbed::debian`] root: systemd, udev, sshd,
//! ifupdown) from kernel start to multi-user.target, booted four ways on the same kernel and
//! QEMU: ours and dracut livenet fetching the same squashfs over HTTP, ours (a read-only NFS
//! root with a per-node directory) and initramfs-tools netboot on the same NFS export.
//!
//! The times are the root's own: `diskless-check.service` (After=multi-user.target) waits for
//! `systemctl is-system-running --wait` and prints `systemd-analyze time`, which every
//! variant's systemd computes the same way from the kernel's monotonic clock. Its state and
//! failed units are recorded as they are: a baseline that degrades is reported degraded.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use testbed::kernel::Kernel;
use testbed::record::Step;
use testbed::{BootLog, Export, HttpServer, Nic, Qemu};

use super::args::{Args, only};
use super::baselines;
use super::debian_rows::{DRACUT, ITOOLS, MEMORY_MB, OURS_NFS, OURS_SQUASHFS, ROOT};
use super::guest::{BOOTIF, MAC};
use super::measure::{interval, kmsg_time};
use super::nfs::Bed;
use super::ours::Ours;
use super::results::{Boot, Systemd, Variant};
use super::stats::MIB;

/// A Debian boot takes about a minute under TCG, dracut's more; a loaded machine, longer.
const TIMEOUT: Duration = Duration::from_secs(420);
/// The directory the `diskless.node.dir` default (`{mac}`) gives [`MAC`].
const NODE_DIR: &str = "525400123456";

/// The figures of the root's report: `systemd-analyze time`'s parts, the state, the failed
/// units' names.
fn systemd_figures(report: &testbed::debian::Report) -> Systemd {
    let mut figures = analyze_parts(&report.analyze);
    figures.state.clone_from(&report.state);
    figures.sshd.clone_from(&report.ssh);
    figures.journal_errors = report.journal_errors.len();
    figures.failed_units = report
        .failed_units
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    figures
}

/// `Startup finished in 4.714s (kernel) + 2.1s (initrd) + 27.595s (userspace) = 34.4s`.
fn analyze_parts(line: &str) -> Systemd {
    let mut figures = Systemd {
        analyze: line.trim().to_owned(),
        ..Systemd::default()
    };
    let Some(rest) = line.trim().strip_prefix("Startup finished in ") else {
        return figures;
    };
    // To the millisecond systemd prints: `1min 8.433s` is 68.433, not 68.43299999999999.
    let secs = |span: &str| {
        testbed::debian::parse_systemd_timespan(span).map(|s| (s * 1000.0).round() / 1000.0)
    };
    let (parts, total) = rest.split_once(" = ").unwrap_or((rest, ""));
    figures.total_s = secs(total);
    for part in parts.split(" + ") {
        let Some((span, label)) = part.rsplit_once(" (") else {
            continue;
        };
        match label.trim_end_matches(')') {
            "kernel" => figures.kernel_s = secs(span),
            "initrd" => figures.initrd_s = secs(span),
            "userspace" => figures.userspace_s = secs(span),
            _ => {}
        }
    }
    figures
}

/// Our steps from the kmsg lines `diskless: <step> done in <ms> ms` (the Debian root does not
/// print /run/diskless/boot.json, as the checker does).
fn steps_from_kmsg(lines: &[(f64, String)]) -> Vec<Step> {
    lines
        .iter()
        .filter_map(|(_, line)| {
            let (_, rest) = line.split_once("diskless: ")?;
            let (step, millis) = rest.trim_end().split_once(" done in ")?;
            let millis = millis.strip_suffix(" ms")?.parse().ok()?;
            (!step.contains(' ')).then(|| Step {
                step: step.to_owned(),
                millis: Some(millis),
                cpu_millis: None,
            })
        })
        .collect()
}

/// Boots once and reads systemd's report off the console.
fn measure(qemu: Qemu) -> Result<Boot> {
    let log = qemu
        .memory_mb(MEMORY_MB)
        .timeout(TIMEOUT)
        .run()
        .context("running QEMU")?;
    let run_init = log
        .lines
        .iter()
        .find(|(_, l)| l.contains("Run /init as init process"))
        .and_then(|(_, l)| kmsg_time(l));
    let systemd = match testbed::debian::Report::from_console(&log) {
        Ok(report) => Some(systemd_figures(&report)),
        Err(err) => {
            eprintln!("{}", log.failure_report(&format!("bench: {err:#}")));
            None
        }
    };
    let root_init = systemd.as_ref().and_then(Systemd::root_init);
    Ok(Boot {
        ok: !log.timed_out && systemd.as_ref().is_some_and(|s| s.total_s.is_some()),
        run_init,
        root_kmsg: root_init,
        stage: interval(run_init, root_init),
        host_root: multi_user_reached(&log),
        log: log.log_path.clone(),
        steps: steps_from_kmsg(&log.lines),
        systemd,
        peak_rss_kib: None,
    })
}

/// Host seconds since launch of systemd's "Reached target multi-user.target" console line.
fn multi_user_reached(log: &BootLog) -> Option<f64> {
    log.lines
        .iter()
        .find(|(_, l)| l.contains("Reached target") && l.contains("multi-user.target"))
        .map(|(t, _)| *t)
}

/// Boots `args.long_boots` times, adding each boot to `variant`.
fn boot_n(args: &Args, variant: &mut Variant, make: impl Fn(&str) -> Result<Qemu>) -> Result<()> {
    let ours = variant.label.contains("diskless");
    for n in 1..=args.long_boots {
        let name = format!("bench-{}-{n}", variant.label);
        let boot = measure(make(&name)?)?;
        let systemd = boot.systemd.clone().unwrap_or_default();
        println!(
            "bench: {} boot {n}/{}: kernel to multi-user.target {} s, stage {} s, {}{}",
            variant.label,
            args.long_boots,
            systemd
                .total_s
                .map_or("-".to_owned(), |s| format!("{s:.2}")),
            boot.stage.map_or("-".to_owned(), |s| format!("{s:.2}")),
            if systemd.state.is_empty() {
                "no report"
            } else {
                &systemd.state
            },
            if systemd.failed_units.is_empty() {
                String::new()
            } else {
                format!(", failed: {}", systemd.failed_units.join(" "))
            }
        );
        if ours && !systemd.clean() {
            eprintln!(
                "bench: WARNING: our {} boot {n} is not clean (state {:?}, failed {:?}): see {}",
                variant.label,
                systemd.state,
                systemd.failed_units,
                boot.log.display()
            );
        }
        variant.boots.push(boot);
    }
    Ok(())
}

fn variant(label: &str, what: String, cmdline: &str, note: &str) -> Variant {
    let mut variant = Variant::new(
        label,
        what,
        format!("{}  # {note}append: {cmdline}", only(&["debian"])),
    );
    variant.root = ROOT;
    variant
}

/// Boots the Debian root four ways; its variants, ours first, each before its baseline.
pub(super) fn run(args: &Args, kernel: &Kernel, ours: &Ours, out: &Path) -> Result<Vec<Variant>> {
    let root = testbed::debian::ensure(kernel, Path::new("/bin/busybox"))
        .context("building the Debian test root (mmdebstrap; busybox-static for its container)")?;
    let size = std::fs::metadata(&root.squashfs)?.len() as f64 / MIB as f64;
    let mut variants = Vec::new();

    // a and b: the same squashfs over HTTP.
    let sha = diskless::hex::encode(&xtask::image::trust::sha256_of_file(&root.squashfs)?);
    let dir = root
        .squashfs
        .parent()
        .context("the root's cache directory")?;
    let server = HttpServer::serve_dir(dir).context("starting the HTTP server")?;
    let url = server.url_for("root.squashfs");
    let cmdline =
        format!("{BOOTIF} ip=dhcp root=live:{url} diskless.sha256={sha} rd.emergency=poweroff");
    let mut row = variant(
        OURS_SQUASHFS,
        format!("ours, squashfs over HTTP ({size:.0} MiB), sha256 given"),
        &cmdline,
        "",
    );
    boot_n(args, &mut row, |name| {
        Ok(Qemu::new(&kernel.vmlinuz, &ours.initrd)
            .name(name)
            .append(&cmdline)
            .nic_with(Nic::new(MAC)))
    })?;
    variants.push(row);

    let (dracut, _) = baselines::dracut_image(args, kernel, out)?;
    let cmdline = baselines::dracut_cmdline(&url);
    let mut row = variant(
        DRACUT,
        format!("dracut 059 livenet + systemd, the same squashfs ({size:.0} MiB) under overlayfs"),
        &cmdline,
        "",
    );
    boot_n(args, &mut row, |name| {
        Ok(Qemu::new(&kernel.vmlinuz, &dracut)
            .name(name)
            .append(&cmdline)
            .nic_with(Nic::new(MAC)))
    })?;
    variants.push(row);
    drop(server);

    // c and d: the root's tree as a read-only NFS export.
    let (itools, _) = baselines::itools_image(args, kernel, out, "netboot")?;
    let workers = out.join("debian-nfs-workers");
    let _ = std::fs::remove_dir_all(&workers);
    std::fs::create_dir_all(workers.join("home"))?;
    let bed = Bed::start(
        "bench-debian",
        &[
            Export::read_only(&root.tree, "/clients"),
            Export::read_write(&workers, "/workers"),
        ],
    )?;
    let v3 = bed.server.v3_options();
    let v4 = bed.server.v4_options();
    // The NFS-root cluster's command line on the bench's network, as `ours::nfs` has it.
    let cmdline = format!(
        "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro,{v3} ip=dhcp {BOOTIF} \
         diskless.hostname=worker-node-{{mac}} diskless.node=10.0.2.2:/workers,{v4} \
         diskless.mount=10.0.2.2:/workers/home,/home,{v4} diskless.persist=/etc/ssh \
         rd.emergency=poweroff"
    );
    let mut row = variant(
        OURS_NFS,
        "ours, read-only NFSv3 root + NFSv4.1 per-node dir, /home, persisted /etc/ssh".to_owned(),
        &cmdline,
        "",
    );
    // The first boot is the node's first: it makes its host keys into its directory; the
    // later ones keep them (diskless.persist=/etc/ssh), as a node does every day after.
    let _ = std::fs::remove_dir_all(workers.join(NODE_DIR));
    boot_n(args, &mut row, |name| {
        let qemu = Qemu::new(&kernel.vmlinuz, &ours.initrd)
            .name(name)
            .append(&cmdline)
            .nic_with(Nic::new(MAC));
        Ok(bed.ns.qemu(qemu)?)
    })?;
    variants.push(row);

    let cmdline = baselines::ITOOLS_CMDLINE;
    let mut row = variant(
        ITOOLS,
        "initramfs-tools MODULES=netboot, BOOT=nfs, the same export (NFSv3, klibc)".to_owned(),
        cmdline,
        "mkinitramfs MODULES=netboot; ",
    );
    boot_n(args, &mut row, |name| {
        let qemu = Qemu::new(&kernel.vmlinuz, &itools)
            .name(name)
            .append(cmdline)
            .nic_with(Nic::new(MAC));
        Ok(bed.ns.qemu(qemu)?)
    })?;
    variants.push(row);
    drop(bed);
    Ok(variants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_systemd_analyze_with_and_without_an_initrd_part() {
        let ours =
            analyze_parts("Startup finished in 13.308s (kernel) + 30.044s (userspace) = 43.353s ");
        assert_eq!(ours.kernel_s, Some(13.308));
        assert_eq!(ours.initrd_s, None);
        assert_eq!(ours.userspace_s, Some(30.044));
        assert_eq!(ours.total_s, Some(43.353));
        assert_eq!(ours.root_init(), Some(13.308));

        let dracut = analyze_parts(
            "Startup finished in 2.5s (kernel) + 26.1s (initrd) + 1min 0.5s (userspace) = 1min 29.1s",
        );
        assert_eq!(dracut.initrd_s, Some(26.1));
        assert_eq!(dracut.userspace_s, Some(60.5));
        assert_eq!(dracut.total_s, Some(89.1));
        let minutes = analyze_parts(
            "Startup finished in 25.104s (kernel) + 43.328s (userspace) = 1min 8.433s",
        );
        assert_eq!(minutes.total_s, Some(68.433));
        assert_eq!(dracut.root_init(), Some(28.6));

        // Not finished, or not there: no figures, the line kept as it was.
        let none = analyze_parts("Bootup is not yet finished.");
        assert_eq!(none.total_s, None);
        assert_eq!(none.root_init(), None);
        assert_eq!(none.analyze, "Bootup is not yet finished.");
    }

    #[test]
    fn failed_units_are_their_names() {
        let report = testbed::debian::Report {
            state: "degraded".to_owned(),
            failed_units: vec![
                "ssh.service loaded failed failed OpenBSD Secure Shell server".to_owned(),
            ],
            analyze: "Startup finished in 4.2s (kernel) + 29.5s (userspace) = 33.7s".to_owned(),
            ..testbed::debian::Report::default()
        };
        let systemd = systemd_figures(&report);
        assert_eq!(systemd.failed_units, ["ssh.service"]);
        assert!(!systemd.clean());
        assert_eq!(systemd.total_s, Some(33.7));
    }

    #[test]
    fn our_steps_come_from_the_kmsg_lines() {
        let lines: Vec<(f64, String)> = [
            "[    1.856914] diskless: cmdline done in 5.5 ms",
            "[   12.866673] diskless: fetch done in 10513.4 ms",
            "[   12.866988] diskless: no pinned hash: not verified, done in 3 ms",
            "[   13.451478] systemd[1]: Inserted module 'autofs4'",
        ]
        .iter()
        .map(|l| (0.0, (*l).to_owned()))
        .collect();
        let steps = steps_from_kmsg(&lines);
        let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, ["cmdline", "fetch"]);
        assert_eq!(steps[1].millis, Some(10513.4));
    }
}
