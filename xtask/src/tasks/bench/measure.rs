//! Measuring boots: one boot's figures from its console, and a variant's repeated boots. Every
//! variant, ours and the baselines', is measured the same way.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;
use testbed::record::Step;
use testbed::{BootRecord, Qemu};

use super::Args;

/// One boot's figures (kernel clock unless named host), as BENCHMARKS.json holds them.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Boot {
    /// The checker root's init ran to its end.
    pub ok: bool,
    /// Kernel time of "Run /init as init process".
    #[serde(rename = "run_init_k")]
    pub run_init: Option<f64>,
    /// Kernel time of the root's `ROOT-INIT-KMSG` (on the Debian root: when its systemd
    /// started, `systemd-analyze`'s kernel plus initrd parts).
    #[serde(rename = "root_kmsg_k")]
    pub root_kmsg: Option<f64>,
    /// The initramfs stage: `root_kmsg - run_init`, to the microsecond of the kernel's clock.
    #[serde(rename = "stage_s")]
    pub stage: Option<f64>,
    /// Host seconds from QEMU's launch to the checker's ROOT-INIT-REACHED line (on the Debian
    /// root: to systemd's "Reached target multi-user.target" line).
    #[serde(rename = "host_root_s")]
    pub host_root: Option<f64>,
    pub log: PathBuf,
    /// Our init's steps from /run/diskless/boot.json (none for the baselines).
    pub steps: Vec<Step>,
    /// What the Debian root's systemd reported (none on the checker root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systemd: Option<super::debian::Systemd>,
    /// Our init's peak RSS just before switch_root, from the same record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
}

/// One row of the report: a way of booting, and its boots.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Variant {
    pub label: String,
    /// The root booted: [`CHECKER`] or [`super::debian::ROOT`].
    pub root: &'static str,
    pub what: String,
    /// The command that runs this row alone (BENCHMARKS.md's "Reproduce").
    #[serde(skip)]
    pub reproduce: String,
    pub boots: Vec<Boot>,
}

impl Variant {
    pub fn new(label: &str, what: String, reproduce: String) -> Variant {
        Variant {
            label: label.to_owned(),
            root: CHECKER,
            what,
            reproduce,
            boots: Vec::new(),
        }
    }

    /// The stages of the boots that reached the root.
    pub fn stages(&self) -> Vec<f64> {
        self.boots
            .iter()
            .filter(|b| b.ok)
            .filter_map(|b| b.stage)
            .collect()
    }
}

/// The checker root (testbed::RootSpec): a static /sbin/init that reports and powers off.
pub(super) const CHECKER: &str = "checker";

/// The kernel timestamp of a `[    3.785281] message` dmesg line.
pub(super) fn kmsg_time(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (t, _) = rest.split_once(']')?;
    t.trim().parse().ok()
}

/// `later - earlier` rounded to microseconds, the resolution of the kernel's timestamps.
pub(super) fn interval(earlier: Option<f64>, later: Option<f64>) -> Option<f64> {
    Some(((later? - earlier?) * 1e6).round() / 1e6)
}

/// Boots once and reads the figures off the console.
fn measure(qemu: Qemu) -> Result<Boot> {
    let log = qemu.run().context("running QEMU")?;
    let dmesg = log.prefixed("ROOT-DMESG: ");
    let find = |needle: &str| {
        dmesg
            .iter()
            .find(|l| l.contains(needle))
            .and_then(|l| kmsg_time(l))
    };
    let run_init = find("Run /init as init process");
    let root_kmsg = find("ROOT-INIT-KMSG");
    // Only our init writes a record; a baseline's boot has none.
    let record = if log.prefixed("ROOT-RECORD: ").is_empty() {
        None
    } else {
        BootRecord::from_console(&log)
            .inspect_err(|err| eprintln!("bench: {}: {err:#}", log.log_path.display()))
            .ok()
    };
    let peak_rss_kib = record.as_ref().and_then(|r| r.peak_rss_kib);
    let steps = record.map(|r| r.steps).unwrap_or_default();
    let boot = Boot {
        ok: log.contains("ROOT-INIT-DONE") && !log.timed_out,
        run_init,
        root_kmsg,
        stage: interval(run_init, root_kmsg),
        host_root: log.time_of("ROOT-INIT-REACHED"),
        log: log.log_path.clone(),
        steps,
        systemd: None,
        peak_rss_kib,
    };
    if !boot.ok {
        eprintln!(
            "{}",
            log.failure_report("bench: this boot did not reach the root's init")
        );
    }
    Ok(boot)
}

/// Boots `args.boots` times the QEMU that `make` configures for a log name, adding each boot
/// to `variant`.
pub(super) fn boot_n(
    args: &Args,
    variant: &mut Variant,
    make: impl Fn(&str) -> Result<Qemu>,
) -> Result<()> {
    for n in 1..=args.boots {
        let name = format!("bench-{}-{n}", variant.label);
        let boot = measure(make(&name)?)?;
        println!(
            "bench: {} boot {n}/{}: stage {} s{}",
            variant.label,
            args.boots,
            boot.stage.map_or("-".to_owned(), |s| format!("{s:.3}")),
            if boot.ok { "" } else { " (FAILED)" }
        );
        variant.boots.push(boot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kmsg_times_and_stages() {
        assert_eq!(
            kmsg_time("[    3.785281] Run /init as init process"),
            Some(3.785281)
        );
        assert_eq!(kmsg_time("no stamp"), None);
        assert_eq!(interval(Some(2.704991), Some(3.396225)), Some(0.691234));
        assert_eq!(interval(None, Some(3.0)), None);
        let boot = |ok, stage| Boot {
            ok,
            stage,
            ..Boot::default()
        };
        let mut variant = Variant::new("v", String::new(), String::new());
        variant.boots = vec![
            boot(true, Some(0.5)),
            boot(false, Some(9.0)),
            boot(true, None),
        ];
        assert_eq!(variant.stages(), [0.5]);
    }

    #[test]
    fn boots_serialize_as_benchmarks_json_has_them() {
        let boot = Boot {
            ok: true,
            run_init: Some(2.5),
            root_kmsg: Some(3.25),
            stage: Some(0.75),
            host_root: None,
            log: PathBuf::from("target/testbed-logs/bench-x-1.log"),
            steps: vec![Step {
                step: "fetch".to_owned(),
                millis: Some(569.111),
                cpu_millis: None,
            }],
            systemd: None,
            peak_rss_kib: None,
        };
        assert_eq!(
            serde_json::to_string(&boot).expect("serializes"),
            r#"{"ok":true,"run_init_k":2.5,"root_kmsg_k":3.25,"stage_s":0.75,"host_root_s":null,"log":"target/testbed-logs/bench-x-1.log","steps":[{"step":"fetch","millis":569.111}]}"#
        );
    }
}
