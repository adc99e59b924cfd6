//! NBD roots on the command line: dracut's `root=nbd:<server>:<port|export>[:<fstype>[:
//! <mountopts>]]` and `nbdroot=` (the same without `nbd:`), where a number is a port serving
//! the default export and a name is an export on the standard port; and the NBD project's URI,
//! `nbd://<server>[:<port>][/<export>]`, which names both a port and an export.

/// The IANA port of NBD.
pub const DEFAULT_PORT: u16 = 10809;
/// The NBD protocol's bound on an export name (and on the strings in its replies).
pub const MAX_NAME: usize = 4096;

/// An NBD export to take the root from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdSpec {
    /// A host name or an IPv4 address.
    pub server: String,
    pub port: u16,
    /// The export's name; empty is the server's default export.
    pub export: String,
    /// dracut's `<mountopts>` for the squashfs, without `ro`, `rw` and `defaults` (the root
    /// image is always mounted read-only); `None` when none are given.
    pub mount_options: Option<String>,
}

impl NbdSpec {
    /// The export as the NBD URI names it: `nbd://10.0.2.2:10809/root`.
    pub fn describe(&self) -> String {
        format!("nbd://{}:{}/{}", self.server, self.port, self.export)
    }
}

/// `<server>:<port|export>[:<fstype>[:<mountopts>[:<nbdopts>]]]` (dracut's, after `nbd:`; also
/// `nbdroot=`'s value). An empty or missing second field is the default export on 10809.
pub fn parse_dracut(text: &str) -> Result<NbdSpec, String> {
    let mut fields = text.splitn(5, ':');
    let server = server(fields.next().unwrap_or_default())?;
    let (port, export) = match fields.next().unwrap_or_default() {
        "" => (DEFAULT_PORT, String::new()),
        digits if digits.bytes().all(|b| b.is_ascii_digit()) => (port(digits)?, String::new()),
        name => (DEFAULT_PORT, export(name)?),
    };
    match fields.next().unwrap_or_default() {
        "" | "squashfs" => {}
        other => {
            return Err(format!(
                "file system {other:?}: an NBD root is a squashfs image (made with cargo xtask \
                 verity), mounted under a tmpfs overlay"
            ));
        }
    }
    let mount_options = mount_options(fields.next().unwrap_or_default());
    if let Some(nbdopts) = fields.next().filter(|o| !o.is_empty()) {
        return Err(format!(
            "nbd-client options {nbdopts:?} (the fifth field) are not taken: the init connects \
             itself"
        ));
    }
    Ok(NbdSpec {
        server,
        port,
        export,
        mount_options,
    })
}

/// `nbdroot=`'s value: dracut's fields, optionally after `nbd:`, or an NBD URI.
pub fn parse_nbdroot(text: &str) -> Result<NbdSpec, String> {
    match text.strip_prefix("nbd://") {
        Some(uri) => parse_uri(uri),
        None => parse_dracut(text.strip_prefix("nbd:").unwrap_or(text)),
    }
}

/// `<server>[:<port>][/<export>]`, what follows `nbd://` in an NBD URI. The export name is
/// taken as written: no percent-decoding, so `%` is refused rather than misread.
pub fn parse_uri(rest: &str) -> Result<NbdSpec, String> {
    let (authority, export) = rest.split_once('/').unwrap_or((rest, ""));
    if export.contains(['%', '?', '#']) {
        return Err(format!(
            "export {export:?}: percent-encoding, queries and fragments are not taken"
        ));
    }
    let (server, port) = match authority.rsplit_once(':') {
        Some((host, digits)) => (host, port(digits)?),
        None => (authority, DEFAULT_PORT),
    };
    Ok(NbdSpec {
        server: self::server(server)?,
        port,
        export: if export.is_empty() {
            String::new()
        } else {
            self::export(export)?
        },
        mount_options: None,
    })
}

fn server(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("no server: expected <server>:<port|export>".to_owned());
    }
    if text.starts_with('[') {
        return Err(format!(
            "server {text:?}: IPv6 is not supported; give an IPv4 address or a name"
        ));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!("server {text:?}: not a host name or IPv4 address"));
    }
    Ok(text.to_owned())
}

fn port(digits: &str) -> Result<u16, String> {
    match digits.parse::<u16>() {
        Ok(port) if port > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!("port {digits:?}: expected 1 to 65535")),
    }
}

fn export(name: &str) -> Result<String, String> {
    if name.len() > MAX_NAME {
        return Err(format!(
            "an export name of {} bytes: the NBD protocol allows {MAX_NAME}",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("export {name:?}: control characters"));
    }
    Ok(name.to_owned())
}

/// dracut's mount options without those that mean nothing for a read-only image.
fn mount_options(text: &str) -> Option<String> {
    let kept: Vec<&str> = text
        .split(',')
        .filter(|o| !matches!(*o, "" | "ro" | "rw" | "defaults"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(server: &str, port: u16, export: &str, options: Option<&str>) -> NbdSpec {
        NbdSpec {
            server: server.to_owned(),
            port,
            export: export.to_owned(),
            mount_options: options.map(str::to_owned),
        }
    }

    #[test]
    fn dracuts_fields() {
        let cases = [
            ("10.0.2.2:root", spec("10.0.2.2", 10809, "root", None)),
            ("10.0.2.2:2000", spec("10.0.2.2", 2000, "", None)),
            ("nbd.lab", spec("nbd.lab", 10809, "", None)),
            ("nbd.lab:", spec("nbd.lab", 10809, "", None)),
            (
                "nbd.lab:images/worker-v1:squashfs",
                spec("nbd.lab", 10809, "images/worker-v1", None),
            ),
            (
                "10.0.2.2:root::ro,errors=continue",
                spec("10.0.2.2", 10809, "root", Some("errors=continue")),
            ),
            (
                "10.0.2.2:root:squashfs:defaults,rw:",
                spec("10.0.2.2", 10809, "root", None),
            ),
            ("h:65535", spec("h", 65535, "", None)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_dracut(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn uris_name_a_port_and_an_export() {
        let cases = [
            ("10.0.2.2:20809/root", spec("10.0.2.2", 20809, "root", None)),
            ("10.0.2.2/root", spec("10.0.2.2", 10809, "root", None)),
            ("nbd.lab:2000", spec("nbd.lab", 2000, "", None)),
            ("nbd.lab/", spec("nbd.lab", 10809, "", None)),
            ("nbd.lab/a/b:c", spec("nbd.lab", 10809, "a/b:c", None)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_uri(text), Ok(want.clone()), "{text}");
            assert_eq!(
                parse_uri(want.describe().trim_start_matches("nbd://")),
                Ok(want),
                "{text} described"
            );
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let long = format!("h:{}", "e".repeat(4097));
        let dracut = [
            ("", "no server"),
            (":root", "no server"),
            ("[fd00::1]:root", "IPv6"),
            ("h h:root", "not a host name"),
            ("h:0", "expected 1 to 65535"),
            ("h:65536", "expected 1 to 65535"),
            ("h:root:ext4", "\"ext4\": an NBD root is a squashfs"),
            ("h:root:squashfs::-persist", "fifth field"),
            ("h:ro\u{7}ot", "control characters"),
            (long.as_str(), "4097 bytes"),
        ];
        for (text, want) in dracut {
            let err = parse_dracut(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
        let uri = [
            ("h:x/root", "port \"x\""),
            ("h:/root", "port \"\""),
            ("/root", "no server"),
            ("h/ro%6ft", "percent-encoding"),
            ("h/root?tls=1", "queries"),
        ];
        for (text, want) in uri {
            let err = parse_uri(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
