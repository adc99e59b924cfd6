//! The boot record: what the init did, written as JSON to /run/diskless/boot.json so the real
//! system (and `cargo xtask bench`) can read it. A tiny writer of our own: the record is flat
//! and the init's size is RAM on every node.

use std::fmt::Write as _;

/// One boot step and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTime {
    pub step: String,
    pub millis: f64,
    /// Of `millis`, the time PID 1's thread was on the CPU (the kernel's work for its
    /// syscalls included); the rest it waited (network, disks, other threads).
    pub cpu_millis: f64,
}

/// A configuration archive laid over the root.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveRecord {
    pub url: String,
    pub sha256: String,
    pub bytes: u64,
    pub entries: u32,
    /// The minisign key's comment and the signature's trusted comment; `None` unsigned.
    pub signer: Option<String>,
}

impl From<&crate::root::config_archives::Applied> for ArchiveRecord {
    fn from(applied: &crate::root::config_archives::Applied) -> ArchiveRecord {
        ArchiveRecord {
            url: applied.url.clone(),
            sha256: crate::hex::encode(&applied.sha256),
            bytes: applied.bytes,
            entries: applied.entries,
            signer: applied
                .signer
                .as_ref()
                .map(|s| format!("{} ({})", s.key, s.trusted_comment)),
        }
    }
}

/// What was done, in the order the steps ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BootRecord {
    pub version: String,
    pub interface: Option<String>,
    pub mac: Option<String>,
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    /// Addresses in CIDR form (`10.0.2.15/24`).
    pub addresses: Vec<String>,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    /// Where the clock came from (`set by SNTP from ...`, `raised to this initramfs's build
    /// time ...`).
    pub clock: Option<String>,
    pub root: Option<String>,
    pub image_url: Option<String>,
    pub image_sha256: Option<String>,
    pub image_bytes: Option<u64>,
    /// `root=oci:`: the digest of the manifest the image came from (this platform's).
    pub image_manifest: Option<String>,
    /// A block device root (`root=nbd:`): the dm-verity root hash every block is checked
    /// against, and who gave it (`diskless.verity`, or pinned in the initramfs).
    pub verity_roothash: Option<String>,
    /// A block device root: whether dm-verity verifies its blocks; `None` for other roots.
    pub verified: Option<bool>,
    pub modules_loaded: Vec<String>,
    /// Modules that failed to load, each with why; the boot went on without them.
    pub modules_failed: Vec<String>,
    /// Configuration archives applied, in order.
    pub archives: Vec<ArchiveRecord>,
    pub steps: Vec<StepTime>,
    /// The init's peak resident set (`VmHWM`, KiB) just before switch_root: what fetching
    /// the image cost in RAM besides the image itself.
    pub peak_rss_kib: Option<u64>,
}

/// Appends `s` as a JSON string (RFC 8259 section 7).
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // The other control characters must be escaped; everything else may be raw UTF-8.
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A duration in milliseconds: at most 3 decimals, no trailing zeros, `null` when not finite
/// (JSON has no NaN or infinity).
fn push_millis(out: &mut String, millis: f64) {
    if !millis.is_finite() {
        out.push_str("null");
        return;
    }
    let text = format!("{millis:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    // -0.0001 rounds to "-0": plain 0 reads better and means the same.
    out.push_str(if text == "-0" { "0" } else { text });
}

/// Writes `"key": ` at the record's indentation; `first` says whether a comma goes before.
struct Object {
    out: String,
    first: bool,
}

impl Object {
    fn key(&mut self, key: &str) -> &mut String {
        self.out.push_str(if self.first { "\n  " } else { ",\n  " });
        self.first = false;
        push_str(&mut self.out, key);
        self.out.push_str(": ");
        &mut self.out
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        let out = self.key(key);
        match value {
            Some(v) => push_str(out, v),
            None => out.push_str("null"),
        }
    }

    fn opt_u64(&mut self, key: &str, value: Option<u64>) {
        let out = self.key(key);
        match value {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        }
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        let out = self.key(key);
        out.push_str(match value {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        });
    }

    fn str(&mut self, key: &str, value: &str) {
        self.opt_str(key, Some(value));
    }

    fn str_list(&mut self, key: &str, values: &[String]) {
        let out = self.key(key);
        if values.is_empty() {
            out.push_str("[]");
            return;
        }
        out.push('[');
        for (k, v) in values.iter().enumerate() {
            out.push_str(if k == 0 { "\n    " } else { ",\n    " });
            push_str(out, v);
        }
        out.push_str("\n  ]");
    }
}

impl BootRecord {
    /// Serialises to pretty JSON, strings escaped per RFC 8259, `null` for `None`; fields in
    /// declaration order, each step on one line. Ends with a newline.
    pub fn to_json(&self) -> String {
        let mut o = Object {
            out: String::from("{"),
            first: true,
        };
        o.str("version", &self.version);
        o.opt_str("interface", self.interface.as_deref());
        o.opt_str("mac", self.mac.as_deref());
        o.opt_str("hostname", self.hostname.as_deref());
        o.opt_str("machine_id", self.machine_id.as_deref());
        o.str_list("addresses", &self.addresses);
        o.opt_str("gateway", self.gateway.as_deref());
        o.str_list("dns", &self.dns);
        o.opt_str("clock", self.clock.as_deref());
        o.opt_str("root", self.root.as_deref());
        o.opt_str("image_url", self.image_url.as_deref());
        o.opt_str("image_sha256", self.image_sha256.as_deref());
        o.opt_u64("image_bytes", self.image_bytes);
        o.opt_str("image_manifest", self.image_manifest.as_deref());
        o.opt_str("verity_roothash", self.verity_roothash.as_deref());
        o.opt_bool("verified", self.verified);
        o.str_list("modules_loaded", &self.modules_loaded);
        o.str_list("modules_failed", &self.modules_failed);
        let out = o.key("archives");
        if self.archives.is_empty() {
            out.push_str("[]");
        } else {
            out.push('[');
            for (k, a) in self.archives.iter().enumerate() {
                out.push_str(if k == 0 {
                    "\n    {\"url\": "
                } else {
                    ",\n    {\"url\": "
                });
                push_str(out, &a.url);
                out.push_str(", \"sha256\": ");
                push_str(out, &a.sha256);
                let _ = write!(
                    out,
                    ", \"bytes\": {}, \"entries\": {}, \"signer\": ",
                    a.bytes, a.entries
                );
                match &a.signer {
                    Some(signer) => push_str(out, signer),
                    None => out.push_str("null"),
                }
                out.push('}');
            }
            out.push_str("\n  ]");
        }
        let out = o.key("steps");
        if self.steps.is_empty() {
            out.push_str("[]");
        } else {
            out.push('[');
            for (k, step) in self.steps.iter().enumerate() {
                out.push_str(if k == 0 {
                    "\n    {\"step\": "
                } else {
                    ",\n    {\"step\": "
                });
                push_str(out, &step.step);
                out.push_str(", \"millis\": ");
                push_millis(out, step.millis);
                out.push_str(", \"cpu_millis\": ");
                push_millis(out, step.cpu_millis);
                out.push('}');
            }
            out.push_str("\n  ]");
        }
        o.opt_u64("peak_rss_kib", self.peak_rss_kib);
        o.out.push_str("\n}\n");
        o.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_per_rfc_8259() {
        let cases: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            ("a\"b", r#""a\"b""#),
            ("back\\slash", r#""back\\slash""#),
            ("l1\nl2\r\t", r#""l1\nl2\r\t""#),
            ("\u{8}\u{c}", r#""\b\f""#),
            ("\u{0}\u{1}\u{1b}\u{1f}", r#""\u0000\u0001\u001b\u001f""#),
            ("\u{7f} é ✓ /", "\"\u{7f} é ✓ /\""),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            push_str(&mut out, input);
            assert_eq!(out, *want, "{input:?}");
        }
    }

    #[test]
    fn millis_are_finite_numbers_with_up_to_3_decimals() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (-0.0001, "0"),
            (12.0, "12"),
            (12.5, "12.5"),
            (1.23456, "1.235"),
            (0.0004, "0"),
            (1500.25, "1500.25"),
            (1e6, "1000000"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
        ];
        for (millis, want) in cases {
            let mut out = String::new();
            push_millis(&mut out, *millis);
            assert_eq!(out, *want, "{millis}");
        }
    }

    #[test]
    fn empty_record() {
        let want = r#"{
  "version": "",
  "interface": null,
  "mac": null,
  "hostname": null,
  "machine_id": null,
  "addresses": [],
  "gateway": null,
  "dns": [],
  "clock": null,
  "root": null,
  "image_url": null,
  "image_sha256": null,
  "image_bytes": null,
  "image_manifest": null,
  "verity_roothash": null,
  "verified": null,
  "modules_loaded": [],
  "modules_failed": [],
  "archives": [],
  "steps": [],
  "peak_rss_kib": null
}
"#;
        assert_eq!(BootRecord::default().to_json(), want);
    }

    #[test]
    fn full_record() {
        let record = BootRecord {
            version: "0.1.0".into(),
            interface: Some("eth0".into()),
            mac: Some("52:54:00:12:34:56".into()),
            hostname: Some("worker-64e59a".into()),
            machine_id: Some("0123456789abcdef0123456789abcdef".into()),
            addresses: vec!["10.0.2.15/24".into(), "fd00::2/64".into()],
            gateway: Some("10.0.2.2".into()),
            dns: vec!["10.0.2.3".into()],
            clock: Some("set by SNTP from 10.0.2.2:123 (stratum 2)".into()),
            root: Some("live:http://10.0.2.2/root.squashfs".into()),
            image_url: Some("http://10.0.2.2/root.squashfs?a=\"b\"".into()),
            image_sha256: None,
            image_bytes: Some(123_456_789),
            image_manifest: Some("sha256:ab".into()),
            verity_roothash: Some("cd".into()),
            verified: Some(true),
            modules_loaded: vec!["virtio_net".into()],
            modules_failed: vec!["e1000e (Invalid argument)".into()],
            archives: vec![ArchiveRecord {
                url: "http://10.0.2.2/nodes/525400123456.tar.gz".into(),
                sha256: "ab01".into(),
                bytes: 412,
                entries: 3,
                signer: Some("minisign public key 56 (file:x)".into()),
            }],
            steps: vec![
                StepTime {
                    step: "network".into(),
                    millis: 812.3456,
                    cpu_millis: 20.5,
                },
                StepTime {
                    step: "fetch".into(),
                    millis: f64::NAN,
                    cpu_millis: 1.0,
                },
            ],
            peak_rss_kib: Some(3412),
        };
        let want = r#"{
  "version": "0.1.0",
  "interface": "eth0",
  "mac": "52:54:00:12:34:56",
  "hostname": "worker-64e59a",
  "machine_id": "0123456789abcdef0123456789abcdef",
  "addresses": [
    "10.0.2.15/24",
    "fd00::2/64"
  ],
  "gateway": "10.0.2.2",
  "dns": [
    "10.0.2.3"
  ],
  "clock": "set by SNTP from 10.0.2.2:123 (stratum 2)",
  "root": "live:http://10.0.2.2/root.squashfs",
  "image_url": "http://10.0.2.2/root.squashfs?a=\"b\"",
  "image_sha256": null,
  "image_bytes": 123456789,
  "image_manifest": "sha256:ab",
  "verity_roothash": "cd",
  "verified": true,
  "modules_loaded": [
    "virtio_net"
  ],
  "modules_failed": [
    "e1000e (Invalid argument)"
  ],
  "archives": [
    {"url": "http://10.0.2.2/nodes/525400123456.tar.gz", "sha256": "ab01", "bytes": 412, "entries": 3, "signer": "minisign public key 56 (file:x)"}
  ],
  "steps": [
    {"step": "network", "millis": 812.346, "cpu_millis": 20.5},
    {"step": "fetch", "millis": null, "cpu_millis": 1}
  ],
  "peak_rss_kib": 3412
}
"#;
        assert_eq!(record.to_json(), want);
    }
}
