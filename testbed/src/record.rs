//! The node's boot record, `/run/diskless/boot.json`, as the checker root prints it on the
//! console (one `ROOT-RECORD: <line>` per line of the file, see [`crate::rootfs`]), read with
//! serde_json: what the tests assert on and `cargo xtask bench` takes the step times from.
//!
//! The fields are those the init writes (`diskless::record::BootRecord::to_json`); unknown
//! fields are an error, so that a change to the record shows up here as a failing test
//! (`to_json_output_parses_field_for_field` below) rather than as a field nobody checks.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::qemu::BootLog;

/// What the init did, as it recorded it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootRecord {
    pub version: String,
    pub interface: Option<String>,
    pub mac: Option<String>,
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    /// CIDR form, `10.0.2.15/24`.
    pub addresses: Vec<String>,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    /// Where the node's clock came from.
    pub clock: Option<String>,
    pub root: Option<String>,
    pub image_url: Option<String>,
    pub image_sha256: Option<String>,
    pub image_bytes: Option<u64>,
    /// `root=oci:`: the manifest's digest.
    pub image_manifest: Option<String>,
    /// A block device root: the dm-verity root hash, and whether its blocks are verified.
    pub verity_roothash: Option<String>,
    pub verified: Option<bool>,
    pub modules_loaded: Vec<String>,
    pub modules_failed: Vec<String>,
    /// Configuration archives applied (`diskless.config=`, `apkovl=`), in order.
    pub archives: Vec<Archive>,
    pub steps: Vec<Step>,
    /// The init's peak resident set in KiB (`VmHWM`) just before switch_root.
    pub peak_rss_kib: Option<u64>,
}

/// A configuration archive the init laid over the root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    pub url: String,
    pub sha256: String,
    pub bytes: u64,
    pub entries: u32,
    /// The minisign key's comment and the signature's trusted comment; `None` unsigned.
    pub signer: Option<String>,
}

/// One boot step and how long it took.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub step: String,
    /// `null` in the file when the duration was not a finite number.
    pub millis: Option<f64>,
    /// Of `millis`, PID 1's time on the CPU (absent from records of older inits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_millis: Option<f64>,
}

impl BootRecord {
    /// Parses the file's text.
    pub fn parse(json: &str) -> Result<BootRecord> {
        serde_json::from_str(json).context("parsing the boot record (/run/diskless/boot.json)")
    }

    /// The record the checker printed during `log`'s boot.
    pub fn from_console(log: &BootLog) -> Result<BootRecord> {
        let lines = log.prefixed("ROOT-RECORD: ");
        if lines.is_empty() {
            bail!(
                "the console shows no boot record (no `ROOT-RECORD: ` lines): {}",
                log.outcome()
            );
        }
        let text = lines.join("\n");
        BootRecord::parse(&text).with_context(|| format!("the record on the console:\n{text}"))
    }

    /// The step named `name`, if the boot had it.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.step == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_output_parses_field_for_field() {
        let written = diskless::record::BootRecord {
            version: "0.1.0".to_owned(),
            interface: Some("eth0".to_owned()),
            mac: Some("52:54:00:12:34:56".to_owned()),
            hostname: Some("worker-64e59a".to_owned()),
            machine_id: Some("c8f8edfd63604d2abaaae58ae7689835".to_owned()),
            addresses: vec!["10.0.2.15/24".to_owned()],
            gateway: Some("10.0.2.2".to_owned()),
            dns: vec!["10.0.2.3".to_owned()],
            clock: Some("set by SNTP from 10.0.2.2:123 (stratum 2)".to_owned()),
            root: Some("squashfs \"quoted\"\\path under a tmpfs overlay".to_owned()),
            image_url: Some("http://10.0.2.2:8080/root.squashfs".to_owned()),
            image_sha256: Some("6ed9".to_owned()),
            image_bytes: Some(983_040),
            image_manifest: Some("sha256:f6df".to_owned()),
            verity_roothash: Some("5eed".to_owned()),
            verified: Some(true),
            modules_loaded: vec!["virtio_net".to_owned(), "loop".to_owned()],
            modules_failed: vec!["e1000: Invalid argument\nsecond line".to_owned()],
            archives: vec![diskless::record::ArchiveRecord {
                url: "http://10.0.2.2/{mac}.tar".to_owned(),
                sha256: "00ff".to_owned(),
                bytes: 10240,
                entries: 2,
                signer: None,
            }],
            steps: vec![
                diskless::record::StepTime {
                    step: "fetch".to_owned(),
                    millis: 569.111,
                    cpu_millis: 120.25,
                },
                diskless::record::StepTime {
                    step: "mount".to_owned(),
                    millis: f64::NAN,
                    cpu_millis: 3.0,
                },
            ],
            peak_rss_kib: Some(3412),
        };
        let read = BootRecord::parse(&written.to_json()).expect("the init's JSON parses");
        assert_eq!(
            read,
            BootRecord {
                version: written.version.clone(),
                interface: written.interface.clone(),
                mac: written.mac.clone(),
                hostname: written.hostname.clone(),
                machine_id: written.machine_id.clone(),
                addresses: written.addresses.clone(),
                gateway: written.gateway.clone(),
                dns: written.dns.clone(),
                clock: written.clock.clone(),
                root: written.root.clone(),
                image_url: written.image_url.clone(),
                image_sha256: written.image_sha256.clone(),
                image_bytes: written.image_bytes,
                image_manifest: written.image_manifest.clone(),
                verity_roothash: written.verity_roothash.clone(),
                verified: written.verified,
                modules_loaded: written.modules_loaded.clone(),
                modules_failed: written.modules_failed.clone(),
                archives: vec![Archive {
                    url: "http://10.0.2.2/{mac}.tar".to_owned(),
                    sha256: "00ff".to_owned(),
                    bytes: 10240,
                    entries: 2,
                    signer: None,
                }],
                steps: vec![
                    Step {
                        step: "fetch".to_owned(),
                        millis: Some(569.111),
                        cpu_millis: Some(120.25),
                    },
                    Step {
                        step: "mount".to_owned(),
                        millis: None,
                        cpu_millis: Some(3.0),
                    },
                ],
                peak_rss_kib: Some(3412),
            }
        );
        assert_eq!(read.step("fetch").and_then(|s| s.millis), Some(569.111));
        assert_eq!(read.step("network"), None);

        // An empty record (nothing happened yet) has nulls and empty lists.
        let empty =
            BootRecord::parse(&diskless::record::BootRecord::default().to_json()).expect("parses");
        assert_eq!(empty.interface, None);
        assert!(empty.steps.is_empty());
    }

    #[test]
    fn unknown_fields_and_broken_json_are_errors() {
        let minimal = r#"{"version": "0.1.0", "interface": null, "mac": null,
            "hostname": null, "machine_id": null, "addresses": [], "gateway": null, "dns": [],
            "clock": null, "root": null, "image_url": null, "image_sha256": null, "image_bytes": null,
            "image_manifest": null, "modules_loaded": [], "modules_failed": [], "archives": [], "steps": []"#;
        assert!(BootRecord::parse(&format!("{minimal}}}")).is_ok());
        assert!(BootRecord::parse(&format!("{minimal}, \"new\": 1}}")).is_err());
        assert!(BootRecord::parse(minimal).is_err());
    }
}
