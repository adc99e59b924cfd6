//! A node's identity derived from its MAC: host name templates and machine-id.
//!
//! `{sha1:N}` is the first N hex chars of sha1 over the MAC exactly as
//! `/sys/class/net/<if>/address` holds it (lowercase, colons, trailing newline), so the names
//! match `sha1sum /sys/class/net/eth0/address | head -c N` (what Raspberry Pi cluster scripts name nodes by): 52:54:00:12:34:56 gives
//! `64e59a`. `{mac}` is the 12-hex form (`worker-node-{mac}`, as NFS-root clusters name node directories).

use std::fmt;
use std::fmt::Write as _;
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

fn hex_byte(pair: &str) -> Option<u8> {
    if pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        u8::from_str_radix(pair, 16).ok()
    } else {
        None
    }
}

/// Six groups of two hex digits separated by `sep`.
fn parse_groups(s: &str, sep: char) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut groups = s.split(sep);
    for byte in &mut out {
        *byte = hex_byte(groups.next()?)?;
    }
    groups.next().is_none().then_some(out)
}

impl Mac {
    /// Parses `BOOTIF=`'s value: `01-aa-bb-cc-dd-ee-ff` (`01` = ARP hardware type Ethernet;
    /// other types are rejected). Case-insensitive.
    pub fn from_bootif(value: &str) -> Result<Mac, MacParseError> {
        let err = |reason| MacParseError {
            text: value.to_owned(),
            reason,
        };
        let (hw_type, mac) = value
            .split_once('-')
            .ok_or_else(|| err("expected 01-aa-bb-cc-dd-ee-ff"))?;
        match hex_byte(hw_type) {
            Some(1) => {}
            Some(_) => return Err(err("hardware type is not 01 (Ethernet)")),
            None => return Err(err("expected 01-aa-bb-cc-dd-ee-ff")),
        }
        parse_groups(mac, '-')
            .map(Mac)
            .ok_or_else(|| err("expected 01-aa-bb-cc-dd-ee-ff"))
    }

    /// The bytes sysfs shows in `/sys/class/net/<if>/address`: `"52:54:00:12:34:56\n"`.
    pub fn sysfs_address(&self) -> String {
        format!("{self}\n")
    }

    /// Twelve lowercase hex digits: `525400123456`.
    pub fn hex12(&self) -> String {
        hex(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF` or `aabbccddeeff`: colon or dash separated pairs
/// (one separator throughout), or 12 hex digits; case-insensitive. Displays as lowercase with
/// colons.
impl FromStr for Mac {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Mac, MacParseError> {
        let parsed = if s.len() == 12 {
            let mut out = [0u8; 6];
            let mut ok = true;
            for (k, byte) in out.iter_mut().enumerate() {
                match s.get(2 * k..2 * k + 2).and_then(hex_byte) {
                    Some(b) => *byte = b,
                    None => ok = false,
                }
            }
            ok.then_some(out)
        } else if s.contains(':') {
            parse_groups(s, ':')
        } else {
            parse_groups(s, '-')
        };
        parsed.map(Mac).ok_or_else(|| MacParseError {
            text: s.to_owned(),
            reason: "expected aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff",
        })
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A host name template: literal text with `{sha1:N}` (1 <= N <= 40), `{mac}`, and
/// `{dhcp}` placeholders. The literal `dhcp` (the whole template) means "the name the DHCP
/// server or the `ip=` hostname field gives, else the default template". `{dhcp}` inside a
/// longer template has no fallback: without a given name, rendering fails.
///
/// [`HostnameTemplate::parse`] rejects what could never render to a valid name (unknown
/// placeholders, characters outside `[a-z0-9.-]`, and, without `{dhcp}`, a result that breaks
/// the host name rules), so a bad `diskless.hostname=` fails when the command line is read.
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

/// One piece of a template.
enum Piece<'a> {
    Literal(&'a str),
    Sha1(usize),
    Mac,
    Dhcp,
}

/// Splits a template into pieces; the error is the reason.
fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let open = rest.find(['{', '}']).unwrap_or(rest.len());
        if open > 0 {
            out.push(Piece::Literal(rest.get(..open).unwrap_or_default()));
        }
        rest = rest.get(open..).unwrap_or_default();
        if rest.starts_with('}') {
            return Err("'}' without '{'".to_owned());
        }
        let Some(body_and_rest) = rest.strip_prefix('{') else {
            continue;
        };
        let close = body_and_rest
            .find('}')
            .ok_or_else(|| "'{' without '}'".to_owned())?;
        let body = body_and_rest.get(..close).unwrap_or_default();
        rest = body_and_rest.get(close + 1..).unwrap_or_default();
        out.push(match body {
            "mac" => Piece::Mac,
            "dhcp" => Piece::Dhcp,
            _ => match body.strip_prefix("sha1:") {
                // Digits only: `usize::from_str` would also take "+6".
                Some(n) => match n.bytes().all(|b| b.is_ascii_digit()).then(|| n.parse()) {
                    Some(Ok(len @ 1..=40)) => Piece::Sha1(len),
                    _ => return Err(format!("{{sha1:{n}}}: N must be 1 to 40")),
                },
                None => {
                    return Err(format!(
                        "unknown placeholder {{{body}}} (known: {{sha1:N}}, {{mac}}, {{dhcp}})"
                    ));
                }
            },
        });
    }
    Ok(out)
}

impl HostnameTemplate {
    /// The default: `worker-` and the first six hex of the MAC's sha1.
    pub const DEFAULT: &'static str = "worker-{sha1:6}";

    /// Validates placeholders (unknown `{...}` or bad N are errors), the literal characters
    /// and, when the result does not depend on a given name, the rendered name itself.
    pub fn parse(template: &str) -> Result<HostnameTemplate, HostnameError> {
        let err = |reason: String| HostnameError::Template {
            template: template.to_owned(),
            reason,
        };
        if template == "dhcp" {
            return Ok(HostnameTemplate(template.to_owned()));
        }
        if template.is_empty() {
            return Err(err("empty".to_owned()));
        }
        let parsed = pieces(template).map_err(err)?;
        let mut has_dhcp = false;
        for piece in &parsed {
            match piece {
                Piece::Literal(text) => {
                    if let Some(c) = text.chars().find(|&c| !is_name_char(c)) {
                        return Err(err(format!(
                            "{c:?} cannot be in a host name (use a-z, 0-9, '-' and '.')"
                        )));
                    }
                }
                Piece::Dhcp => has_dhcp = true,
                Piece::Sha1(_) | Piece::Mac => {}
            }
        }
        let checked = HostnameTemplate(template.to_owned());
        if !has_dhcp {
            // Hex digits are valid anywhere, so one MAC stands for all: a name that is bad
            // for it (too long, a label ending in '-', ...) is bad for every node.
            checked
                .render(&Mac([0; 6]), None)
                .map_err(|e| err(format!("renders an invalid name: {e}")))?;
        }
        Ok(checked)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Renders the name for `mac`; `given` is a name from DHCP or `ip=`, used by `dhcp`/`{dhcp}`
    /// (lowercased, since host names are case-insensitive; an empty one counts as none).
    /// The result must be a valid host name (RFC 1123: labels of [a-z0-9-], not starting or
    /// ending with `-`, at most 63 chars per label, at most 64 in all, as sethostname allows).
    pub fn render(&self, mac: &Mac, given: Option<&str>) -> Result<String, HostnameError> {
        let given = given.filter(|g| !g.is_empty()).map(str::to_ascii_lowercase);
        if self.0 == "dhcp" {
            return match given {
                Some(name) => validate_hostname(&name).map(|()| name),
                None => HostnameTemplate::default().render(mac, None),
            };
        }
        let err = |reason: String| HostnameError::Template {
            template: self.0.clone(),
            reason,
        };
        let parsed = pieces(&self.0).map_err(err)?;
        let sha1 = sha1_smol::Sha1::from(mac.sysfs_address())
            .digest()
            .to_string();
        let mut name = String::new();
        for piece in parsed {
            match piece {
                Piece::Literal(text) => name.push_str(text),
                Piece::Sha1(n) => name.push_str(sha1.get(..n).unwrap_or(&sha1)),
                Piece::Mac => name.push_str(&mac.hex12()),
                Piece::Dhcp => match &given {
                    Some(g) => name.push_str(g),
                    None => {
                        return Err(err(
                            "{dhcp}: neither DHCP nor ip= gave a host name".to_owned()
                        ));
                    }
                },
            }
        }
        validate_hostname(&name)?;
        Ok(name)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
}

impl Default for HostnameTemplate {
    fn default() -> Self {
        HostnameTemplate(Self::DEFAULT.to_owned())
    }
}

/// Checks a host name as [`HostnameTemplate::render`] does.
pub fn validate_hostname(name: &str) -> Result<(), HostnameError> {
    let invalid = |reason| {
        Err(HostnameError::Invalid {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("empty");
    }
    // HOST_NAME_MAX: sethostname(2) refuses longer names.
    if name.len() > 64 {
        return invalid("longer than 64 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return invalid("empty label (leading, trailing or doubled '.')");
        }
        if label.len() > 63 {
            return invalid("a label is longer than 63 characters");
        }
        if !label.chars().all(is_name_char) {
            return invalid("only a-z, 0-9 and '-' are allowed in a label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return invalid("a label starts or ends with '-'");
        }
    }
    Ok(())
}

/// Keeps derived machine-ids apart from any other use of sha256 over a MAC; changing it
/// changes every node's machine-id.
const MACHINE_ID_DOMAIN: &[u8] = b"diskless machine-id v1\0";

/// A machine-id (32 lowercase hex digits, systemd's format, UUID v4 bits set) derived from the
/// MAC: the same node gets the same id on every boot, different MACs get different ids.
pub fn machine_id(mac: &Mac) -> String {
    let digest = crate::sha256::Sha256::new()
        .chain(MACHINE_ID_DOMAIN)
        .chain(&mac.0)
        .finish();
    let mut id = [0u8; 16];
    for (byte, from) in id.iter_mut().zip(digest.iter()) {
        *byte = *from;
    }
    // systemd-id128 expects a v4 UUID layout: version nibble 4, variant bits 10.
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    hex(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn mac_forms() {
        let ok: &[(&str, &str)] = &[
            ("52:54:00:12:34:56", "52:54:00:12:34:56"),
            ("AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff"),
            ("aabbccddeeff", "aa:bb:cc:dd:ee:ff"),
            ("00:23:24:94:34:Ae", "00:23:24:94:34:ae"),
        ];
        for (text, shown) in ok {
            assert_eq!(mac(text).to_string(), *shown, "{text}");
        }
        let bad = [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:56:78",
            "52:54:00-12:34:56",
            "5:54:00:12:34:56:7",
            "52:54:00:12:34:5g",
            "aabbccddeefg",
            "+abbccddeeff",
            "52:54:00:12:34:56\n",
            "ééééééé",
        ];
        for text in bad {
            assert!(text.parse::<Mac>().is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn bootif() {
        let cases: &[(&str, Option<&str>)] = &[
            ("01-52-54-00-12-34-56", Some("52:54:00:12:34:56")),
            ("01-00-23-24-94-34-AE", Some("00:23:24:94:34:ae")),
            ("06-52-54-00-12-34-56", None), // IEEE 802 (type 6), not Ethernet
            ("52-54-00-12-34-56", None),    // no hardware type
            ("01:52:54:00:12:34:56", None),
            ("01-52-54-00-12-34", None),
            ("", None),
        ];
        for (value, want) in cases {
            let got = Mac::from_bootif(value).ok().map(|m| m.to_string());
            assert_eq!(got.as_deref(), *want, "{value:?}");
        }
        let err = Mac::from_bootif("06-52-54-00-12-34-56").unwrap_err();
        assert!(err.to_string().contains("06-52-54-00-12-34-56"), "{err}");
        assert!(err.to_string().contains("Ethernet"), "{err}");
    }

    #[test]
    fn sysfs_and_hex_forms() {
        assert_eq!(QEMU.sysfs_address(), "52:54:00:12:34:56\n");
        assert_eq!(QEMU.hex12(), "525400123456");
    }

    #[test]
    fn names_match_sha1sum_of_the_sysfs_file() {
        // Expected values from `printf '<mac>\n' | sha1sum`.
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            (
                "52:54:00:12:34:56",
                HostnameTemplate::DEFAULT,
                None,
                "worker-64e59a",
            ),
            (
                "aa:bb:cc:dd:ee:ff",
                HostnameTemplate::DEFAULT,
                None,
                "worker-fc06e0",
            ),
            (
                "00:23:24:94:34:ae",
                "node-{sha1:10}",
                None,
                "node-718a34bc63",
            ),
            (
                "44:8a:5b:dd:d8:ba",
                "{sha1:40}",
                None,
                "0a30c8a9156b80c02a7df83f3b6b68fc69b0e154",
            ),
            (
                "00:23:24:94:34:ae",
                "worker-node-{mac}",
                None,
                "worker-node-0023249434ae",
            ),
            ("52:54:00:12:34:56", "dhcp", Some("Node7"), "node7"),
            ("52:54:00:12:34:56", "dhcp", None, "worker-64e59a"),
            ("52:54:00:12:34:56", "dhcp", Some(""), "worker-64e59a"),
            (
                "52:54:00:12:34:56",
                "{dhcp}-{sha1:4}",
                Some("rack1"),
                "rack1-64e5",
            ),
            (
                "52:54:00:12:34:56",
                "n.{mac}.lab",
                None,
                "n.525400123456.lab",
            ),
        ];
        for (m, template, given, want) in cases {
            let t = HostnameTemplate::parse(template).unwrap();
            assert_eq!(
                t.render(&mac(m), *given).unwrap(),
                *want,
                "{template} for {m}"
            );
        }
    }

    #[test]
    fn bad_templates_fail_at_parse() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("worker-{sha1:0}", "N must be 1 to 40"),
            ("worker-{sha1:41}", "N must be 1 to 40"),
            ("worker-{sha1:x}", "N must be 1 to 40"),
            ("worker-{sha1:+6}", "N must be 1 to 40"),
            ("worker-{ip}", "unknown placeholder {ip}"),
            ("worker-{mac", "without '}'"),
            ("worker-mac}", "without '{'"),
            ("Worker-{mac}", "'W' cannot be in a host name"),
            ("worker_{mac}", "'_' cannot be in a host name"),
            ("-{mac}", "starts or ends with '-'"),
            ("{mac}.", "empty label"),
            ("{sha1:40}{sha1:25}", "longer than 64"),
            ("{sha1:40}-{sha1:23}", "label is longer than 63"),
        ];
        for (template, reason) in cases {
            let err = HostnameTemplate::parse(template).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(reason), "{template:?}: {msg}");
            assert!(
                msg.contains(&format!("{template:?}")),
                "{msg} does not name the template"
            );
        }
    }

    #[test]
    fn dhcp_placeholder_needs_a_given_name() {
        let t = HostnameTemplate::parse("{dhcp}-x").unwrap();
        assert!(t.render(&QEMU, None).is_err());
        let err = t.render(&QEMU, Some("bad_name")).unwrap_err();
        assert!(matches!(err, HostnameError::Invalid { .. }), "{err}");
    }

    #[test]
    fn host_name_rules() {
        let long_label = "a".repeat(63);
        let too_long_label = "a".repeat(64);
        let max = format!("{}.{}", "a".repeat(31), "b".repeat(32));
        let over = format!("{}.{}", "a".repeat(32), "b".repeat(32));
        let cases: &[(&str, bool)] = &[
            ("worker-64e59a", true),
            ("a", true),
            ("0", true),
            ("node1.example", true),
            (&long_label, true),
            (&max, true),
            ("", false),
            (&too_long_label, false),
            (&over, false),
            ("-a", false),
            ("a-", false),
            ("a..b", false),
            (".a", false),
            ("a.", false),
            ("A", false),
            ("a b", false),
            ("a_b", false),
        ];
        for (name, ok) in cases {
            assert_eq!(validate_hostname(name).is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn machine_id_is_stable_per_mac_and_well_formed() {
        let a = machine_id(&QEMU);
        assert_eq!(a, machine_id(&QEMU), "same MAC, same id on every boot");
        assert_ne!(
            a,
            machine_id(&mac("52:54:00:12:34:57")),
            "neighbour MAC, different id"
        );
        for m in [QEMU, mac("aa:bb:cc:dd:ee:ff"), Mac([0; 6]), Mac([0xff; 6])] {
            let id = machine_id(&m);
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
            assert_eq!(&id[12..13], "4", "UUID version 4: {id}");
            assert!("89ab".contains(&id[16..17]), "UUID variant: {id}");
            assert_ne!(id, "0".repeat(32), "systemd rejects the all-zero id");
        }
    }

    #[test]
    fn machine_id_pinned() {
        // Pinned so that a change of the derivation (which renames every node's journal and
        // DHCP DUID) is a deliberate one.
        assert_eq!(machine_id(&QEMU), PINNED_QEMU_ID);
    }

    /// `printf 'diskless machine-id v1\0\x52\x54\x00\x12\x34\x56' | sha256sum` starts
    /// `c8f8edfd63602d2afaaae58a...`; with the version nibble (byte 6: 2d -> 4d) and the
    /// variant bits (byte 8: fa -> ba) set:
    const PINNED_QEMU_ID: &str = "c8f8edfd63604d2abaaae58ae7689835";
}
