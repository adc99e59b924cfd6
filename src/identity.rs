//! A node's identity derived from its MAC: host name templates and machine-id.
//!
//! `{sha1:N}` is the first N hex chars of sha1 over the MAC exactly as
//! `/sys/class/net/<if>/address` holds it (lowercase, colons, trailing newline), so the names
//! match `sha1sum /sys/class/net/eth0/address | head -c N` (seed 000): 52:54:00:12:34:56 gives
//! `64e59a`. `{mac}` is the 12-hex form (seed 003's `worker-node-{mac}`).

use std::fmt;
use std::str::FromStr;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

/// A MAC that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a MAC address ({reason})")]
pub struct MacParseError {
    pub text: String,
    pub reason: &'static str,
}

impl Mac {
    /// Parses `BOOTIF=`'s value: `01-aa-bb-cc-dd-ee-ff` (`01` = ARP hardware type Ethernet;
    /// other types are rejected). Case-insensitive.
    pub fn from_bootif(value: &str) -> Result<Mac, MacParseError> {
        todo!("helper: {value}")
    }

    /// The bytes sysfs shows in `/sys/class/net/<if>/address`: `"52:54:00:12:34:56\n"`.
    pub fn sysfs_address(&self) -> String {
        todo!("helper")
    }

    /// Twelve lowercase hex digits: `525400123456`.
    pub fn hex12(&self) -> String {
        todo!("helper")
    }
}

/// `aa:bb:cc:dd:ee:ff`, `AA-BB-...` and `aabb.ccdd.eeff`-free plain forms: colon or dash
/// separated pairs, or 12 hex digits. Displays as lowercase with colons.
impl FromStr for Mac {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Mac, MacParseError> {
        todo!("helper: {s}")
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("helper: {:?}", f.width())
    }
}

/// A host name template: literal text with `{sha1:N}` (1 <= N <= 40), `{mac}`, and
/// `{dhcp}` placeholders. The literal `dhcp` (the whole template) means "the name the DHCP
/// server or the `ip=` hostname field gives, else the default template".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostnameTemplate(String);

/// Why a template or its result is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    #[error("template {template:?}: {reason}")]
    Template { template: String, reason: String },
    #[error("{name:?} is not a valid host name: {reason}")]
    Invalid { name: String, reason: &'static str },
}

impl HostnameTemplate {
    /// The default, seed 000's scheme.
    pub const DEFAULT: &'static str = "worker-{sha1:6}";

    /// Validates placeholders (unknown `{...}` or bad N are errors).
    pub fn parse(template: &str) -> Result<HostnameTemplate, HostnameError> {
        todo!("helper: {template}")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Renders the name for `mac`; `given` is a name from DHCP or `ip=`, used by `dhcp`/`{dhcp}`.
    /// The result must be a valid host name (RFC 1123: labels of [a-z0-9-], not starting or
    /// ending with `-`, at most 63 chars per label, at most 64 in all, as sethostname allows).
    pub fn render(&self, mac: &Mac, given: Option<&str>) -> Result<String, HostnameError> {
        todo!("helper: {mac:?} {given:?}")
    }
}

impl Default for HostnameTemplate {
    fn default() -> Self {
        HostnameTemplate(Self::DEFAULT.to_owned())
    }
}

/// Checks a host name as [`HostnameTemplate::render`] does.
pub fn validate_hostname(name: &str) -> Result<(), HostnameError> {
    todo!("helper: {name}")
}

/// A machine-id (32 lowercase hex digits, systemd's format, UUID v4 bits set) derived from the
/// MAC: the same node gets the same id on every boot, different MACs get different ids.
pub fn machine_id(mac: &Mac) -> String {
    todo!("helper: {mac:?}")
}
