//! The boot record: what the init did, written as JSON to /run/diskless/boot.json so the real
//! system (and `cargo xtask bench`) can read it. A tiny writer of our own: the record is flat
//! and the init's size is RAM on every node.

/// One boot step and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTime {
    pub step: String,
    pub millis: f64,
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
    pub root: Option<String>,
    pub image_url: Option<String>,
    pub image_sha256: Option<String>,
    pub image_bytes: Option<u64>,
    pub modules_loaded: Vec<String>,
    pub steps: Vec<StepTime>,
}

impl BootRecord {
    /// Serialises to pretty JSON, strings escaped per RFC 8259, `null` for `None`.
    pub fn to_json(&self) -> String {
        todo!("helper: {self:?}")
    }
}
