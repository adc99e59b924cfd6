//! BENCHMARKS.md's section on the real Debian 12 root, kernel to multi-user.target: each of
//! ours against its baseline, with what the root's systemd reported of every boot.

use super::debian_rows::{MEMORY_MB, PAIRS, ROOT};
use super::results::{Boot, Variant};
use super::stats::{fmt_opt, max, median, min};

/// The section (empty when the part did not run).
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
    use crate::tasks::bench::debian_rows::{ITOOLS, OURS_NFS};
    use crate::tasks::bench::results::Systemd;

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
            let mut v = Variant::new(label, "w".to_owned(), String::new());
            v.root = ROOT;
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
}
