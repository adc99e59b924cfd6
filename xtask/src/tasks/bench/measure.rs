//! Measuring boots: one boot's figures from its console, and a variant's repeated boots. Every
//! variant, ours and the baselines', is measured the same way.

use anyhow::{Context, Result};
use testbed::{BootRecord, Qemu};

use super::args::Args;
use super::results::{Boot, Variant};

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
    fn parses_kmsg_times_and_intervals() {
        assert_eq!(
            kmsg_time("[    3.785281] Run /init as init process"),
            Some(3.785281)
        );
        assert_eq!(kmsg_time("no stamp"), None);
        assert_eq!(interval(Some(2.704991), Some(3.396225)), Some(0.691234));
        assert_eq!(interval(None, Some(3.0)), None);
    }
}
