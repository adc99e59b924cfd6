//! BENCHMARKS.md's "Big images over a tap device" section and targets, from the big-image
//! rows ([`BigSize`]) and the ours and dracut variants they name.

use std::fmt::Write as _;

use super::results::{BigSize, Variant};
use super::stats::{mb_per_s, median};
use super::targets::{Goal, Target};

/// The init's RAM budget besides the image (issue 15): 16 MB.
const RSS_BUDGET_KIB: f64 = 16.0 * 1000.0 * 1000.0 / 1024.0;

/// Seconds of ours' fetch and verify steps, per boot that reached the root.
fn ours_fetch_s(v: &Variant) -> Vec<f64> {
    v.boots
        .iter()
        .filter(|b| b.ok)
        .filter_map(|b| {
            let step = |name: &str| b.steps.iter().find(|s| s.step == name)?.millis;
            Some((step("fetch")? + step("verify").unwrap_or(0.0)) / 1000.0)
        })
        .collect()
}

fn fmt_s(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |x| format!("{x:.2}"))
}

fn fmt_rate(bytes: u64, secs: Option<f64>) -> String {
    secs.and_then(|t| mb_per_s(bytes, t))
        .map_or("-".to_owned(), |r| format!("{r:.1}"))
}

fn fmt_rss(kib: Option<f64>) -> String {
    kib.map_or("-".to_owned(), |k| {
        format!(
            "{:.1} MiB ({:.0} % of 16 MB)",
            k / 1024.0,
            k / RSS_BUDGET_KIB * 100.0
        )
    })
}

/// `, -smp N` for a run on more than one CPU.
fn smp(cpus: u32) -> String {
    if cpus > 1 {
        format!(", -smp {cpus}")
    } else {
        String::new()
    }
}

/// One table row: fetcher, boots ok of all, median seconds, and the figures derived from them.
struct Row {
    fetcher: String,
    ok: usize,
    boots: usize,
    seconds: Option<f64>,
    stage: Option<f64>,
    rss_kib: Option<f64>,
}

/// The variant labelled `label`.
fn variant<'a>(variants: &'a [Variant], label: &str) -> Option<&'a Variant> {
    variants.iter().find(|v| v.label == label)
}

fn rows(variants: &[Variant], size: &BigSize) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(v) = variant(variants, &size.ours) {
        let rss: Vec<f64> = v
            .boots
            .iter()
            .filter_map(|b| b.peak_rss_kib)
            .map(|k| k as f64)
            .collect();
        rows.push(Row {
            fetcher: format!("ours (`{}`), fetch + verify steps", v.label),
            ok: v.boots.iter().filter(|b| b.ok).count(),
            boots: v.boots.len(),
            seconds: median(&ours_fetch_s(v)),
            stage: median(&v.stages()),
            rss_kib: median(&rss),
        });
    }
    let curl_ok: Vec<_> = size.curl.iter().filter(|r| r.ok).collect();
    let totals: Vec<f64> = curl_ok.iter().filter_map(|r| r.total_s()).collect();
    let sha: Vec<f64> = curl_ok.iter().filter_map(|r| r.sha256sum_s).collect();
    let rss: Vec<f64> = curl_ok
        .iter()
        .filter_map(|r| r.curl_maxrss_kib)
        .map(|k| k as f64)
        .collect();
    rows.push(Row {
        fetcher: format!(
            "`curl -o` to tmpfs, then `sha256sum` (rescue initramfs; sha256sum alone {} s)",
            fmt_s(median(&sha))
        ),
        ok: curl_ok.len(),
        boots: size.curl.len(),
        seconds: median(&totals),
        stage: None,
        rss_kib: median(&rss),
    });
    if let Some(v) = size.dracut.as_deref().and_then(|l| variant(variants, l)) {
        let stage = median(&v.stages());
        rows.push(Row {
            fetcher: format!("dracut livenet (`{}`), whole stage", v.label),
            ok: v.boots.iter().filter(|b| b.ok).count(),
            boots: v.boots.len(),
            seconds: stage,
            stage,
            rss_kib: None,
        });
    }
    rows
}

/// The big-image target per size: ours' fetch + verify throughput over curl + sha256sum's.
pub(super) fn targets(big: &[BigSize], variants: &[Variant]) -> Vec<Target> {
    big.iter()
        .map(|size| {
            let rows = rows(variants, size);
            let seconds = |prefix: &str| {
                rows.iter()
                    .find(|r| r.fetcher.starts_with(prefix))
                    .and_then(|r| r.seconds)
            };
            // Same bytes both ways: the throughput ratio is the inverse ratio of the times.
            let ratio = match (seconds("ours"), seconds("`curl")) {
                (Some(ours), Some(curl)) if ours > 0.0 => Some(curl / ours),
                _ => None,
            };
            Target {
                what: format!(
                    "{} MiB image over a tap{}: fetch + verify throughput",
                    size.pad_mib,
                    smp(size.cpus)
                ),
                ours: size.ours.clone(),
                against: "curl -o + sha256sum".to_owned(),
                ratio,
                against_fastest: None,
                goal: Goal::AtLeast(1.0),
            }
        })
        .collect()
}

/// Appends the section to `s` (nothing when the part did not run).
pub(super) fn section(big: &[BigSize], variants: &[Variant], s: &mut String) {
    if big.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Big images over a tap device\n");
    let _ = writeln!(
        s,
        "The checker root padded with incompressible bytes, served by busybox httpd from a \
         network namespace over a tap device (10.99.0.1 → guest 10.99.0.2, virtio-net), not \
         QEMU's slirp. Every fetcher runs in the same guest kernel on the same link. MB/s is \
         image bytes (10⁶) over the median seconds; \"vs curl\" divides by curl + sha256sum's \
         MB/s (target for ours: ≥ 1.00×). Ours' peak RSS is the init's `VmHWM` just before \
         switch_root (`peak_rss_kib` in boot.json), curl's is busybox `time -v`'s maximum \
         resident set. dracut's row is its whole stage (systemd, network, curl into /tmp, \
         loop mount); it verifies nothing. With `-smp 2` ours hashes beside the transfer (a \
         thread reading the image back from tmpfs); curl's `sha256sum` can only follow it.\n"
    );
    let _ = writeln!(
        s,
        "| size | fetcher | boots ok | median s | MB/s | vs curl | whole stage s | peak RSS |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for size in big {
        let rows = rows(variants, size);
        let rate = |r: &Row| r.seconds.and_then(|t| mb_per_s(size.image_bytes, t));
        let curl = rows
            .iter()
            .find(|r| r.fetcher.starts_with("`curl"))
            .and_then(rate);
        let label = format!(
            "{} MiB ({:.1} MiB image, -m {}{})",
            size.pad_mib,
            size.image_bytes as f64 / (1024.0 * 1024.0),
            size.memory_mb,
            smp(size.cpus)
        );
        for row in &rows {
            let ratio = match (rate(row), curl) {
                (Some(a), Some(c)) if c > 0.0 => format!("{:.2}×", a / c),
                _ => "-".to_owned(),
            };
            if row.fetcher.starts_with("ours") {
                verdicts.push(format!("{} MiB{}: {ratio}", size.pad_mib, smp(size.cpus)));
            }
            let _ = writeln!(
                s,
                "| {label} | {} | {}/{} | {} | {} | {ratio} | {} | {} |",
                row.fetcher,
                row.ok,
                row.boots,
                fmt_s(row.seconds),
                fmt_rate(size.image_bytes, row.seconds),
                fmt_s(row.stage),
                fmt_rss(row.rss_kib),
            );
        }
    }
    let _ = writeln!(
        s,
        "\nOurs against curl + sha256sum, throughput: {}.",
        verdicts.join("; ")
    );
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use testbed::record::Step;

    use super::*;
    use crate::tasks::bench::results::{Boot, CurlRun};

    #[test]
    fn the_table_divides_by_curl() {
        let boot = |ok, fetch_ms: f64, stage| Boot {
            ok,
            stage: Some(stage),
            steps: vec![
                Step {
                    step: "fetch".to_owned(),
                    millis: Some(fetch_ms),
                    cpu_millis: None,
                },
                Step {
                    step: "verify".to_owned(),
                    millis: Some(0.0),
                    cpu_millis: None,
                },
            ],
            peak_rss_kib: Some(4096),
            ..Boot::default()
        };
        let mut ours = Variant::new("diskless-tap-256m", String::new(), String::new());
        ours.boots = vec![boot(true, 2000.0, 3.0), boot(false, 100.0, 0.5)];
        let mut dracut = Variant::new("dracut-livenet-tap-256m", String::new(), String::new());
        dracut.boots = vec![Boot {
            ok: true,
            stage: Some(40.0),
            ..Boot::default()
        }];
        let curl = CurlRun {
            ok: true,
            curl_s: Some(3.0),
            sha256sum_s: Some(1.0),
            curl_maxrss_kib: Some(9000),
            log: PathBuf::new(),
        };
        let variants = vec![ours, dracut];
        let big = vec![BigSize {
            pad_mib: 256,
            image_bytes: 400_000_000,
            memory_mb: 2048,
            cpus: 1,
            ours: "diskless-tap-256m".to_owned(),
            dracut: Some("dracut-livenet-tap-256m".to_owned()),
            curl: vec![curl, CurlRun::default()],
        }];
        let mut s = String::new();
        section(&big, &variants, &mut s);
        // Ours: 400 MB in 2 s = 200 MB/s; curl: 4 s = 100 MB/s; dracut: 40 s = 10 MB/s.
        assert!(
            s.contains("| 1/2 | 2.00 | 200.0 | 2.00× | 3.00 | 4.0 MiB (26 % of 16 MB) |"),
            "{s}"
        );
        assert!(
            s.contains("| 1/2 | 4.00 | 100.0 | 1.00× | - | 8.8 MiB"),
            "{s}"
        );
        assert!(
            s.contains("| 1/1 | 40.00 | 10.0 | 0.10× | 40.00 | - |"),
            "{s}"
        );
        assert!(s.contains("throughput: 256 MiB: 2.00×."), "{s}");
        let target = targets(&big, &variants);
        assert_eq!(target.len(), 1);
        assert_eq!(target[0].ratio, Some(2.0));
        assert_eq!(target[0].met(), Some(true));
    }
}
