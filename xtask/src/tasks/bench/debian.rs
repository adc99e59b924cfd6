//! A real Debian 12 root (the test bed's [`testbed::debian`] root: systemd, udev, sshd,
//! ifupdown) from kernel start to multi-user.target, booted four ways on the same kernel and
//! QEMU: ours and dracut livenet fetching the same squashfs over HTTP, ours (seed 003's
//! read-only NFS root with a per-node directory) and initramfs-tools netboot on the same NFS
//! export.
//!
//! The times are the root's own: `diskless-check.service` (After=multi-user.target) waits for
//! `systemctl is-system-running --wait` and prints `systemd-analyze time`, which every
//! variant's systemd computes the same way from the kernel's monotonic clock. Its state and
//! failed units are recorded as they are: a baseline that degrades is reported degraded.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use testbed::kernel::Kernel;
use testbed::record::Step;
use testbed::{BootLog, Export, HttpServer, Nic, Qemu};

use super::measure::{Boot, Variant, interval, kmsg_time};
use super::nfs::Bed;
use super::ours::Ours;
use super::report::{Report, fmt_opt, max, median, min};
use super::{Args, BOOTIF, MAC, MIB, baselines, only};

/// [`Variant::root`] of this part's rows.
pub(super) const ROOT: &str = "debian-12";
/// The rows, ours first, each with the baseline it is compared with.
pub(super) const OURS_SQUASHFS: &str = "debian-diskless-squashfs";
pub(super) const DRACUT: &str = "debian-dracut-livenet";
pub(super) const OURS_NFS: &str = "debian-diskless-nfs";
pub(super) const ITOOLS: &str = "debian-itools-netboot";
pub(super) const PAIRS: [(&str, &str); 2] = [(OURS_SQUASHFS, DRACUT), (OURS_NFS, ITOOLS)];

/// The squashfs lives in RAM beside a full systemd userland (boot_debian's size).
const MEMORY_MB: u32 = 2048;
/// A Debian boot takes about a minute under TCG, dracut's more; a loaded machine, longer.
const TIMEOUT: Duration = Duration::from_secs(420);
/// The directory seed 003's `diskless.node.dir` default (`{mac}`) gives [`MAC`].
const NODE_DIR: &str = "525400123456";

/// What the Debian root's systemd reported once the boot was done.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(super) struct Systemd {
    /// `systemctl is-system-running`: running, degraded, ...
    pub state: String,
    /// `systemctl --failed`, one unit per entry.
    pub failed_units: Vec<String>,
    /// `systemctl is-active ssh`: whether the node can be logged into.
    pub sshd: String,
    /// Lines the journal holds at priority err or worse.
    pub journal_errors: usize,
    /// `systemd-analyze time`'s first line, as printed.
    pub analyze: String,
    /// Kernel start to the first userspace process systemd knows of (the initrd's systemd, or
    /// the root's when the initramfs has none).
    pub kernel_s: Option<f64>,
    /// Only when the initramfs runs systemd (dracut): its part.
    pub initrd_s: Option<f64>,
    pub userspace_s: Option<f64>,
    /// Kernel start to "Startup finished": the default target (graphical.target, which adds
    /// nothing to multi-user.target on this root) reached and every start job done.
    pub total_s: Option<f64>,
}

impl Systemd {
    fn from_report(report: &testbed::debian::Report) -> Systemd {
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

    /// Kernel time at which the root's systemd started.
    fn root_init(&self) -> Option<f64> {
        Some(self.kernel_s? + self.initrd_s.unwrap_or(0.0))
    }

    fn clean(&self) -> bool {
        self.state == "running" && self.failed_units.is_empty() && self.sshd == "active"
    }
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
        Ok(report) => Some(Systemd::from_report(&report)),
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

pub(super) fn run(
    args: &Args,
    kernel: &Kernel,
    ours: &Ours,
    out: &Path,
    report: &mut Report,
) -> Result<()> {
    let root = testbed::debian::ensure(kernel, Path::new("/bin/busybox"))
        .context("building the Debian test root (mmdebstrap; busybox-static for its container)")?;
    let size = std::fs::metadata(&root.squashfs)?.len() as f64 / MIB as f64;

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
    report.variants.push(row);

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
    report.variants.push(row);
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
    // Seed 003's command line on the bench's network, as [`super::ours::nfs`] has it.
    let cmdline = format!(
        "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro,{v3} ip=dhcp {BOOTIF} \
         diskless.hostname=worker-node-{{mac}} diskless.node=10.0.2.2:/workers,{v4} \
         diskless.mount=10.0.2.2:/workers/home,/home,{v4} diskless.persist=/etc/ssh \
         rd.emergency=poweroff"
    );
    let mut row = variant(
        OURS_NFS,
        "ours, read-only NFSv3 root + NFSv4.1 per-node dir, /home, persisted /etc/ssh (seed 003)"
            .to_owned(),
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
    report.variants.push(row);

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
    report.variants.push(row);
    drop(bed);
    Ok(())
}

/// BENCHMARKS.md's section on this part (empty when it did not run).
pub(super) fn section(variants: &[Variant]) -> String {
    use std::fmt::Write as _;
    let rows: Vec<&Variant> = variants.iter().filter(|v| v.root == ROOT).collect();
    if rows.is_empty() {
        return String::new();
    }
    let totals = |v: &Variant| -> Vec<f64> {
        v.boots
            .iter()
            .filter(|b| b.ok)
            .filter_map(|b| b.systemd.as_ref()?.total_s)
            .collect()
    };
    let median_of = |label: &str| {
        rows.iter()
            .find(|v| v.label == label)
            .and_then(|v| median(&totals(v)))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n## A real Debian 12 root, kernel to multi-user.target (seconds)\n\n\
         The test bed's Debian 12 root (`testbed::debian`: systemd, udev, sshd, ifupdown with \
         dhclient, containerd; built by mmdebstrap with the same kernel's package) booted four \
         ways, `-m {MEMORY_MB}`, 1 vCPU. The times are the root's systemd's own: \
         `diskless-check.service` (After=multi-user.target) waits for `systemctl \
         is-system-running --wait` and prints `systemd-analyze time`, whose total runs from \
         kernel start until the default target (graphical.target, nothing beyond \
         multi-user.target on this root) is reached and every start job is done. The stage is \
         `Run /init` (kmsg) to the root's systemd starting (systemd's kernel + initrd parts); \
         only dracut's initramfs runs systemd, so only it has an initrd part. A boot is ok when \
         the check reported (multi-user.target reached, `systemd-analyze` done), whatever the \
         state; state, failed units, sshd and the journal's errors are as the root reported \
         them.\n"
    );
    let _ = writeln!(
        s,
        "| variant | what | boots ok | **kernel → multi-user.target** median | range | stage | initrd (systemd) | userspace | host launch → multi-user.target | vs baseline | state |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for v in &rows {
        let ok: Vec<_> = v.boots.iter().filter(|b| b.ok).collect();
        let of =
            |f: fn(&Boot) -> Option<f64>| -> Vec<f64> { ok.iter().filter_map(|b| f(b)).collect() };
        let total = totals(v);
        let range = match (min(&total), max(&total)) {
            (Some(a), Some(b)) => format!("{a:.1}–{b:.1}"),
            _ => "-".to_owned(),
        };
        let ratio = PAIRS
            .iter()
            .find(|(ours, base)| v.label == *ours || v.label == *base)
            .and_then(|(ours, base)| {
                let (o, b) = (median_of(ours)?, median_of(base)?);
                (b > 0.0).then(|| {
                    if v.label == *ours {
                        format!("{:.2}× `{base}`", o / b)
                    } else {
                        "1.00×".to_owned()
                    }
                })
            })
            .unwrap_or_else(|| "-".to_owned());
        let one = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.1}"));
        let _ = writeln!(
            s,
            "| `{}` | {} | {}/{} | **{}** | {range} | {} | {} | {} | {} | {ratio} | {} |",
            v.label,
            v.what,
            ok.len(),
            v.boots.len(),
            fmt_opt(median(&total)),
            fmt_opt(median(&of(|b| b.stage))),
            one(median(&of(|b| b.systemd.as_ref()?.initrd_s))),
            one(median(&of(|b| b.systemd.as_ref()?.userspace_s))),
            one(median(&of(|b| b.host_root))),
            states(v),
        );
    }
    let _ = writeln!(
        s,
        "\nThe squashfs rows fetch the whole image over QEMU's user-mode network (slirp, about \
         13 MB/s under TCG) before the root starts; the NFS rows read the root as it runs. \
         Ours on NFS also mounts the node's NFSv4.1 directory, /home and /etc/ssh from it, and \
         keeps /etc, /var and /tmp in RAM over the read-only root (`diskless.volatile`'s \
         default); initramfs-tools mounts the same read-only export and nothing else, so the \
         root's units that write to /etc or /var fail there (the state column), as they would \
         on a node booted that way: its userspace does less than ours, which starts sshd \
         (after making its RSA, ECDSA and Ed25519 host keys, seconds under TCG), logind and \
         containerd. Our first NFS boot is the node's first (its directory is removed \
         before it): it makes its host keys, as every squashfs boot does; the later boots \
         keep them on the node's directory, as a node does every day after its first boot, \
         so with 3 boots the median is such a later boot."
    );
    s
}

/// `running (3)`, or `degraded (2), running (1); failed: ssh.service; sshd failed (2); 45
/// journal errors (median)` for a variant's boots.
fn states(v: &Variant) -> String {
    use std::fmt::Write as _;
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut sshd: Vec<(String, usize)> = Vec::new();
    let mut errors: Vec<f64> = Vec::new();
    for boot in &v.boots {
        if let Some(systemd) = &boot.systemd {
            errors.push(systemd.journal_errors as f64);
            if systemd.sshd != "active" {
                match sshd.iter_mut().find(|(s, _)| *s == systemd.sshd) {
                    Some((_, n)) => *n += 1,
                    None => sshd.push((systemd.sshd.clone(), 1)),
                }
            }
        }
        let state = boot
            .systemd
            .as_ref()
            .map_or("no report", |s| s.state.as_str())
            .to_owned();
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
        for unit in boot.systemd.iter().flat_map(|s| &s.failed_units) {
            if !failed.contains(unit) {
                failed.push(unit.clone());
            }
        }
    }
    let mut text = counts
        .iter()
        .map(|(s, n)| format!("{s} ({n})"))
        .collect::<Vec<_>>()
        .join(", ");
    if !failed.is_empty() {
        text.push_str("; failed: ");
        text.push_str(&failed.join(", "));
    }
    for (state, n) in &sshd {
        let state = if state.is_empty() { "unknown" } else { state };
        let _ = write!(text, "; sshd {state} ({n})");
    }
    if let Some(errors) = median(&errors).filter(|e| *e > 0.0) {
        let _ = write!(text, "; {errors:.0} journal errors");
    }
    text
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
        let systemd = Systemd::from_report(&report);
        assert_eq!(systemd.failed_units, ["ssh.service"]);
        assert!(!systemd.clean());
        assert_eq!(systemd.total_s, Some(33.7));
    }

    #[test]
    fn the_section_compares_ours_with_its_baseline_and_shows_the_states() {
        let boot = |total: f64, state: &str, failed: &[&str]| Boot {
            ok: true,
            run_init: Some(2.0),
            root_kmsg: Some(4.0),
            stage: Some(2.0),
            host_root: Some(total + 0.5),
            systemd: Some(Systemd {
                state: state.to_owned(),
                sshd: if failed.is_empty() {
                    "active"
                } else {
                    "failed"
                }
                .to_owned(),
                journal_errors: failed.len() * 10,
                failed_units: failed.iter().map(|u| (*u).to_owned()).collect(),
                total_s: Some(total),
                userspace_s: Some(total - 4.0),
                ..Systemd::default()
            }),
            ..Boot::default()
        };
        let row = |label: &str, boots: Vec<Boot>| {
            let mut v = variant(label, "w".to_owned(), "x", "");
            v.boots = boots;
            v
        };
        let checker = Variant::new("diskless-squashfs", "w".to_owned(), String::new());
        let variants = [
            checker,
            row(
                OURS_NFS,
                vec![
                    boot(30.0, "running", &[]),
                    boot(31.0, "running", &[]),
                    boot(29.0, "running", &[]),
                ],
            ),
            row(
                ITOOLS,
                vec![
                    boot(40.0, "degraded", &["ssh.service"]),
                    boot(
                        60.0,
                        "degraded",
                        &["ssh.service", "systemd-random-seed.service"],
                    ),
                    Boot::default(),
                ],
            ),
        ];
        let md = section(&variants);
        assert!(
            md.contains(
                "| `debian-diskless-nfs` | w | 3/3 | **30.00** | 29.0–31.0 | 2.00 | - | 26.0 | 30.5 \
                 | 0.60× `debian-itools-netboot` | running (3) |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| 2/3 | **50.00** | 40.0–60.0 | 2.00 | - | 46.0 | 50.5 | 1.00× | degraded (2), \
                 no report (1); failed: ssh.service, systemd-random-seed.service; sshd failed (2); \
                 15 journal errors |"
            ),
            "{md}"
        );
        assert!(!md.contains("`diskless-squashfs`"), "{md}");
        assert_eq!(section(&variants[..1]), "");
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
