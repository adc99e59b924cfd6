//! The speed targets (issue 15), each a ratio this run computes from its own variants, and
//! the step tables before and after: "before" is the run BENCHMARKS.json held when this one
//! started (the committed one, in a fresh clone).

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::results::Variant;
use super::stats::median;

/// Which way a ratio must go.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

/// One target: `ours` over `against`, both measured in this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Target {
    pub what: String,
    pub ours: String,
    pub against: String,
    pub ratio: Option<f64>,
    /// Ours' median over the baseline's fastest boot: initramfs-tools' stage is bimodal
    /// (klibc ipconfig's first DHCP packet, sent before the link is up, is lost one boot in
    /// two or three, and the resend comes 10 s later), so its median can be either mode.
    pub against_fastest: Option<f64>,
    pub goal: Goal,
}

impl Goal {
    fn met_by(self, ratio: f64) -> bool {
        match self {
            Goal::AtMost(limit) => ratio <= limit,
            Goal::AtLeast(floor) => ratio >= floor,
        }
    }
}

impl Target {
    pub fn met(&self) -> Option<bool> {
        Some(self.goal.met_by(self.ratio?))
    }

    /// The ratio against the baseline's fastest boot, and whether it meets the goal.
    fn against_fastest_cell(&self) -> String {
        self.against_fastest.map_or("-".to_owned(), |r| {
            let verdict = if self.goal.met_by(r) { "met" } else { "missed" };
            format!("{r:.3}× ({verdict})")
        })
    }

    /// "met", or by how much the ratio missed, relative to the goal.
    fn verdict(&self) -> String {
        match (self.met(), self.ratio) {
            (Some(true), _) => "**met**".to_owned(),
            (Some(false), Some(ratio)) => {
                let (limit, over) = match self.goal {
                    Goal::AtMost(limit) => (limit, ratio / limit),
                    Goal::AtLeast(floor) => (floor, floor / ratio),
                };
                format!("missed: {ratio:.2}× against {limit:.2}×, {over:.1} times off")
            }
            _ => "not measured".to_owned(),
        }
    }
}

/// The stage targets: our squashfs and NFS boots against initramfs-tools netboot's NFS boot,
/// on one vCPU and on two, and on one with our node on DHCP as initramfs-tools is.
pub(super) fn stage_targets(variants: &[Variant]) -> Vec<Target> {
    let stages = |label: &str| {
        variants
            .iter()
            .find(|v| v.label == label)
            .map(Variant::stages)
            .unwrap_or_default()
    };
    let stage = |label: &str| median(&stages(label));
    let fastest = |label: &str| stages(label).into_iter().reduce(f64::min);
    let mut targets = Vec::new();
    for (suffix, against, note) in [
        ("", "itools-netboot", ""),
        ("-smp2", "itools-netboot-smp2", ", -smp 2"),
        ("-dhcp", "itools-netboot", ", both on DHCP"),
    ] {
        for (ours, what, limit) in [
            ("diskless-squashfs", "squashfs over HTTP stage", 0.08),
            ("diskless-nfs", "NFS root + per-node dir stage", 0.20),
        ] {
            let ours = format!("{ours}{suffix}");
            let against = against.to_owned();
            let over = |theirs: Option<f64>| match (stage(&ours), theirs) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let ratio = over(stage(&against));
            let against_fastest = over(fastest(&against));
            if ratio.is_none() && stage(&ours).is_none() {
                continue;
            }
            targets.push(Target {
                what: format!("{what}{note}"),
                ours,
                against,
                ratio,
                against_fastest,
                goal: Goal::AtMost(limit),
            });
        }
    }
    targets
}

pub(super) fn markdown_targets(s: &mut String, targets: &[Target]) {
    if targets.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Targets (ratios of this run's medians)\n");
    let _ = writeln!(
        s,
        "The verdict is the issue's: ours' median over the baseline's median. initramfs-tools' \
         stage is bimodal on this bed (klibc ipconfig sends its first DHCP packet before the \
         virtio link is up; when it is lost the resend comes about 10 s later), \
         so its median is either mode; the last column divides by its fastest boot instead.\n"
    );
    let _ = writeln!(
        s,
        "| target | ours | against | ratio | goal | verdict | against its fastest boot |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---|---:|");
    for t in targets {
        let goal = match t.goal {
            Goal::AtMost(limit) => format!("≤ {limit:.2}×"),
            Goal::AtLeast(floor) => format!("≥ {floor:.2}×"),
        };
        let _ = writeln!(
            s,
            "| {} | `{}` | `{}` | {} | {goal} | {} | {} |",
            t.what,
            t.ours,
            t.against,
            t.ratio.map_or("-".to_owned(), |r| format!("{r:.3}×")),
            t.verdict(),
            t.against_fastest_cell()
        );
    }
    let _ = writeln!(s);
}

/// The run BENCHMARKS.json held before this one: its date and its variants' boots.
#[derive(Debug, Deserialize)]
pub(super) struct Previous {
    pub date: String,
    pub variants: Vec<PreviousVariant>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PreviousVariant {
    pub label: String,
    pub boots: Vec<PreviousBoot>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PreviousBoot {
    pub ok: bool,
    #[serde(rename = "stage_s")]
    pub stage: Option<f64>,
    #[serde(default)]
    pub steps: Vec<testbed::record::Step>,
}

impl Previous {
    /// The previous run, if `root`'s BENCHMARKS.json holds one this can read.
    pub fn read(root: &Path) -> Option<Previous> {
        let text = std::fs::read_to_string(root.join("BENCHMARKS.json")).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The median of one step (or of the stage, `step` = None) over the boots that reached the
/// root.
fn step_median<'a>(
    boots: impl Iterator<Item = (bool, Option<f64>, &'a [testbed::record::Step])>,
    step: Option<&str>,
) -> Option<f64> {
    let values: Vec<f64> = boots
        .filter(|(ok, _, _)| *ok)
        .filter_map(|(_, stage, steps)| match step {
            None => stage.map(|s| s * 1000.0),
            Some(name) => steps.iter().find(|s| s.step == name).and_then(|s| s.millis),
        })
        .collect();
    median(&values)
}

/// Before and after, step by step, for the variants both runs have.
pub(super) fn markdown_before_after(s: &mut String, previous: &Previous, variants: &[Variant]) {
    let pairs: Vec<(&PreviousVariant, &Variant)> = ["diskless-squashfs", "diskless-nfs"]
        .iter()
        .filter_map(|label| {
            let before = previous.variants.iter().find(|v| v.label == *label)?;
            let after = variants.iter().find(|v| v.label == *label)?;
            Some((before, after))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Before and after, step by step (ms, median)\n\nBefore: the run of {} (the \
         BENCHMARKS.json this run replaced); after: this run. A step that did not exist \
         shows as \"-\"; `root-modules` is the wait for the modules that loaded beside the \
         network.\n",
        previous.date
    );
    let mut steps: Vec<String> = Vec::new();
    for (before, after) in &pairs {
        // In the order of this run's boot, then steps only the earlier run had.
        let names = after
            .boots
            .iter()
            .flat_map(|b| b.steps.iter().map(|s| s.step.clone()))
            .chain(
                before
                    .boots
                    .iter()
                    .flat_map(|b| b.steps.iter().map(|s| s.step.clone())),
            );
        for name in names {
            if !steps.contains(&name) {
                steps.push(name);
            }
        }
    }
    let _ = write!(s, "| step |");
    for (_, after) in &pairs {
        let _ = write!(s, " `{0}` before | `{0}` after |", after.label);
    }
    let _ = write!(s, "\n|---|");
    for _ in &pairs {
        let _ = write!(s, "---:|---:|");
    }
    let _ = writeln!(s);
    let rows = steps
        .iter()
        .map(|n| (n.as_str(), Some(n.as_str())))
        .chain([("**stage**", None)]);
    for (title, step) in rows {
        let _ = write!(s, "| {title} |");
        for (before, after) in &pairs {
            let b = step_median(
                before
                    .boots
                    .iter()
                    .map(|b| (b.ok, b.stage, b.steps.as_slice())),
                step,
            );
            let a = step_median(
                after
                    .boots
                    .iter()
                    .map(|b| (b.ok, b.stage, b.steps.as_slice())),
                step,
            );
            let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
            let _ = write!(s, " {} | {} |", fmt(b), fmt(a));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::bench::results::Boot;

    fn variant(label: &str, stages: &[f64]) -> Variant {
        let mut v = Variant::new(label, String::new(), String::new());
        v.boots = stages
            .iter()
            .map(|s| Boot {
                ok: true,
                stage: Some(*s),
                ..Boot::default()
            })
            .collect();
        v
    }

    #[test]
    fn stage_targets_are_ratios_of_medians_on_the_same_vcpus() {
        let variants = [
            variant("diskless-squashfs", &[0.5, 0.3, 0.4]),
            variant("itools-netboot", &[4.0, 5.0, 3.0]),
            variant("diskless-nfs-smp2", &[1.0]),
            variant("itools-netboot-smp2", &[2.0]),
            variant("diskless-nfs-dhcp", &[0.6]),
        ];
        let targets = stage_targets(&variants);
        let got: Vec<(&str, &str, Option<bool>)> = targets
            .iter()
            .map(|t| (t.ours.as_str(), t.against.as_str(), t.met()))
            .collect();
        assert_eq!(
            got,
            [
                ("diskless-squashfs", "itools-netboot", Some(false)),
                ("diskless-nfs-smp2", "itools-netboot-smp2", Some(false)),
                // On DHCP, against the same initramfs-tools boot (which always is).
                ("diskless-nfs-dhcp", "itools-netboot", Some(true)),
            ]
        );
        assert!((targets[0].ratio.unwrap_or_default() - 0.1).abs() < 1e-9);
        // Against initramfs-tools' fastest boot (3.0 s) rather than its median (4.0 s).
        assert!((targets[0].against_fastest.unwrap_or_default() - 0.4 / 3.0).abs() < 1e-9);
        assert_eq!(targets[0].against_fastest_cell(), "0.133× (missed)");
        assert!(
            targets[0]
                .verdict()
                .starts_with("missed: 0.10× against 0.08×")
        );
        let met = Target {
            ratio: Some(0.05),
            ..targets[0].clone()
        };
        assert_eq!(met.verdict(), "**met**");
        let short = Target {
            ratio: Some(0.8),
            goal: Goal::AtLeast(1.0),
            ..targets[0].clone()
        };
        assert!(
            short
                .verdict()
                .starts_with("missed: 0.80× against 1.00×, 1.2 times off")
        );
    }

    #[test]
    fn the_previous_run_is_read_from_its_json() {
        let json = r#"{"date":"2026-11-22T04:47:01Z","variants":[{"label":"diskless-nfs","what":"x",
            "boots":[{"ok":true,"stage_s":1.5,"steps":[{"step":"mount","millis":400.0}]}]}]}"#;
        let previous: Previous = serde_json::from_str(json).expect("parses");
        let boots = &previous.variants[0].boots;
        let iter = || boots.iter().map(|b| (b.ok, b.stage, b.steps.as_slice()));
        assert_eq!(step_median(iter(), Some("mount")), Some(400.0));
        assert_eq!(step_median(iter(), None), Some(1500.0));
        assert_eq!(step_median(iter(), Some("fetch")), None);
    }
}
