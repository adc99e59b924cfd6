//! What a bench run measured, as BENCHMARKS.json holds it: the runners (ours, the baselines,
//! the Debian root, big images, fetch, sizes) return these, and the report writers read them.
//! Plain data with the figures derived from it; no runner or writer is imported here.

use std::path::PathBuf;

use serde::Serialize;
use testbed::record::Step;

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
    pub systemd: Option<Systemd>,
    /// Our init's peak RSS just before switch_root, from the same record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
}

/// One row of the report: a way of booting, and its boots.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Variant {
    pub label: String,
    /// The root booted: [`CHECKER`] or [`super::debian_rows::ROOT`].
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
    /// Kernel time at which the root's systemd started.
    pub fn root_init(&self) -> Option<f64> {
        Some(self.kernel_s? + self.initrd_s.unwrap_or(0.0))
    }

    pub fn clean(&self) -> bool {
        self.state == "running" && self.failed_units.is_empty() && self.sshd == "active"
    }
}

/// One image size's rows, as BENCHMARKS.json's `big` holds them. The ours and dracut boots
/// are in `variants` under the labels named here.
#[derive(Debug, Clone, Serialize)]
pub(super) struct BigSize {
    /// The padding (MiB) added to the checker root.
    pub pad_mib: u64,
    pub image_bytes: u64,
    /// `-m` of every boot of this size.
    pub memory_mb: u32,
    /// `-smp` of every boot of this size.
    pub cpus: u32,
    pub ours: String,
    pub dracut: Option<String>,
    pub curl: Vec<CurlRun>,
}

/// One rescue boot's figures, as BENCHMARKS.json's `big[].curl` holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(super) struct CurlRun {
    /// curl exited 0 and the file hashed to the image's sha256.
    pub ok: bool,
    pub curl_s: Option<f64>,
    pub sha256sum_s: Option<f64>,
    pub curl_maxrss_kib: Option<u64>,
    pub log: PathBuf,
}

impl CurlRun {
    /// curl and sha256sum together: what ours does in its fetch and verify steps.
    pub fn total_s(&self) -> Option<f64> {
        Some(self.curl_s? + self.sha256sum_s?)
    }
}

/// The rounds' figures, as BENCHMARKS.json's `fetch` holds them.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct FetchResult {
    pub bytes: u64,
    pub ours_s: Vec<f64>,
    #[serde(rename = "ours_maxrss_kib")]
    pub ours_rss_kib: Vec<u64>,
    /// curl and sha256sum together.
    #[serde(rename = "curl_sha256sum_s")]
    pub curl_s: Vec<f64>,
    /// sha256sum alone.
    #[serde(rename = "sha256sum_s")]
    pub sha_s: Vec<f64>,
    #[serde(rename = "curl_maxrss_kib")]
    pub curl_rss_kib: Vec<u64>,
}

/// One image's sizes in bytes (0: not known), as BENCHMARKS.json's `sizes` holds them.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SizeRow {
    #[serde(rename = "image")]
    pub what: String,
    /// The image file, compressed.
    #[serde(rename = "compressed")]
    pub image: u64,
    pub cpio: u64,
    pub init: u64,
    pub modules: u64,
    pub module_count: usize,
}

/// One crate's share of /init's .text, as BENCHMARKS.json's `bloat` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct CrateSize {
    #[serde(rename = "crate")]
    pub name: String,
    pub text_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variants_stages_are_of_the_boots_that_reached_the_root() {
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
