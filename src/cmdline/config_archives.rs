//! `diskless.config=[?]<url>` and Alpine's `apkovl=<url>`: configuration archives laid over
//! the new root, in the order given. The URL is a template: `{mac}` (12 hex digits), `{sha1:N}`
//! (as in host names), `{hostname}`, `{ip}`, `{uuid}` (DMI product_uuid, lowercase), and
//! Alpine's `{MAC}` (`52:54:00:12:34:56`, as sysfs shows it) and `{UUID}` (product_uuid as the
//! firmware gives it). A leading `?` makes an archive optional: a 404 skips it.

use std::fmt;

/// One archive to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSpec {
    /// The key it came from (`diskless.config` or `apkovl`), for messages.
    pub key: &'static str,
    pub url: UrlTemplate,
    /// `?`: missing (HTTP 404 or 410) is not an error.
    pub optional: bool,
}

/// A URL with placeholders, checked when the command line is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Mac,
    MacColons,
    Sha1(usize),
    Hostname,
    Ip,
    Uuid,
    UuidAsGiven,
}

/// What the placeholders stand for on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values<'a> {
    /// `52:54:00:12:34:56`.
    pub mac: &'a str,
    pub hostname: &'a str,
    pub ip: &'a str,
    /// DMI product_uuid as the firmware gives it; `None` when the machine has none.
    pub uuid: Option<&'a str>,
}

impl UrlTemplate {
    /// Parses `text`: an http:// or https:// URL whose placeholders are known.
    pub fn parse(text: &str) -> Result<UrlTemplate, String> {
        if !(text.starts_with("http://") || text.starts_with("https://")) {
            return Err("expected an http:// or https:// URL".to_owned());
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "a URL is printable ASCII without spaces: percent-encode other characters"
                    .to_owned(),
            );
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.get(open..).is_some_and(|r| r.starts_with('}')) {
                return Err("'}' without '{'".to_owned());
            }
            if open > 0 {
                pieces.push(Piece::Literal(
                    rest.get(..open).unwrap_or_default().to_owned(),
                ));
            }
            let after = rest.get(open + 1..).unwrap_or_default();
            let close = after.find('}').ok_or("'{' without '}'")?;
            let body = after.get(..close).unwrap_or_default();
            pieces.push(match body {
                "mac" => Piece::Mac,
                "MAC" => Piece::MacColons,
                "hostname" => Piece::Hostname,
                "ip" => Piece::Ip,
                "uuid" => Piece::Uuid,
                "UUID" => Piece::UuidAsGiven,
                _ => match body.strip_prefix("sha1:").map(|n| {
                    n.bytes()
                        .all(|b| b.is_ascii_digit())
                        .then(|| n.parse::<usize>())
                }) {
                    Some(Some(Ok(n @ 1..=40))) => Piece::Sha1(n),
                    _ => {
                        return Err(format!(
                            "unknown placeholder {{{body}}} (known: {{mac}}, {{MAC}}, \
                             {{sha1:N}} with N 1 to 40, {{hostname}}, {{ip}}, {{uuid}}, {{UUID}})"
                        ));
                    }
                },
            });
            rest = after.get(close + 1..).unwrap_or_default();
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        Ok(UrlTemplate {
            text: text.to_owned(),
            pieces,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the URL needs the DMI product_uuid.
    pub fn needs_uuid(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Uuid | Piece::UuidAsGiven))
    }

    /// The URL for this node.
    pub fn render(&self, values: &Values<'_>) -> Result<String, String> {
        let mut url = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => url.push_str(text),
                Piece::Mac => url.extend(values.mac.chars().filter(|&c| c != ':')),
                Piece::MacColons => url.push_str(values.mac),
                Piece::Sha1(n) => {
                    // As host names hash it: the sysfs text with its newline.
                    let sha1 = sha1_smol::Sha1::from(format!("{}\n", values.mac))
                        .digest()
                        .to_string();
                    url.push_str(sha1.get(..*n).unwrap_or(&sha1));
                }
                Piece::Hostname => url.push_str(values.hostname),
                Piece::Ip => url.push_str(values.ip),
                Piece::Uuid | Piece::UuidAsGiven => {
                    let uuid = values
                        .uuid
                        .ok_or("{uuid}: this machine has no DMI product_uuid")?;
                    if !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                        return Err(format!(
                            "{{uuid}}: the DMI product_uuid {uuid:?} is not a UUID"
                        ));
                    }
                    if *piece == Piece::Uuid {
                        url.push_str(&uuid.to_ascii_lowercase());
                    } else {
                        url.push_str(uuid);
                    }
                }
            }
        }
        Ok(url)
    }
}

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `diskless.config=` and `apkovl=` values.
pub fn parse_spec(key: &'static str, value: &str) -> Result<ArchiveSpec, String> {
    let (optional, url) = match value.strip_prefix('?') {
        Some(url) => (true, url),
        None => (false, value),
    };
    Ok(ArchiveSpec {
        key,
        url: UrlTemplate::parse(url)?,
        optional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: Values<'static> = Values {
        mac: "52:54:00:12:34:56",
        hostname: "worker-64e59a",
        ip: "10.0.2.15",
        uuid: Some("4C4C4544-0042-3510-8054-B2C04F4E3432"),
    };

    #[test]
    fn placeholders_render_for_the_node() {
        let cases = [
            (
                "http://10.0.2.2/{MAC}.tar.gz",
                "http://10.0.2.2/52:54:00:12:34:56.tar.gz",
            ),
            (
                "http://h/nodes/{mac}.tgz",
                "http://h/nodes/525400123456.tgz",
            ),
            (
                "http://h/{sha1:6}/{hostname}",
                "http://h/64e59a/worker-64e59a",
            ),
            ("https://h/by-ip/{ip}.tar", "https://h/by-ip/10.0.2.15.tar"),
            (
                "http://h/{uuid}/{UUID}",
                "http://h/4c4c4544-0042-3510-8054-b2c04f4e3432/4C4C4544-0042-3510-8054-B2C04F4E3432",
            ),
            ("http://h/cluster.tar.zst", "http://h/cluster.tar.zst"),
        ];
        for (template, want) in cases {
            let parsed = UrlTemplate::parse(template).expect(template);
            assert_eq!(parsed.render(&NODE).as_deref(), Ok(want), "{template}");
        }
    }

    #[test]
    fn bad_templates_are_refused_when_read() {
        let cases = [
            ("ftp://h/x.tar", "expected an http:// or https:// URL"),
            ("/x.tar", "expected an http:// or https:// URL"),
            ("http://h/{serial}.tar", "unknown placeholder {serial}"),
            ("http://h/{sha1:0}", "unknown placeholder {sha1:0}"),
            ("http://h/{mac", "'{' without '}'"),
            ("http://h/mac}", "'}' without '{'"),
            // Found by the `config` fuzz target: a stray '}' before a placeholder.
            ("http://h/x}/{ip}", "'}' without '{'"),
            ("http://h/caf\u{e9}", "a URL is printable ASCII"),
            ("http://h/a b", "a URL is printable ASCII"),
        ];
        for (template, want) in cases {
            let err = UrlTemplate::parse(template).err().unwrap_or_default();
            assert!(err.starts_with(want), "{template}: {err}");
        }
    }

    #[test]
    fn both_keys_collect_in_command_line_order() {
        use crate::cmdline::config::BootConfig;
        use crate::cmdline::tokenize::parse;
        let line = "root=live:http://h/r.squashfs diskless.config=http://h/cluster.tar.gz \
                    apkovl=http://h/{MAC}.tar.gz diskless.config=?https://h/nodes/{mac}.tar";
        let config = BootConfig::from_params(&parse(line)).expect("parses");
        let got: Vec<(&str, &str, bool)> = config
            .archives
            .iter()
            .map(|a| (a.key, a.url.as_str(), a.optional))
            .collect();
        assert_eq!(
            got,
            [
                ("diskless.config", "http://h/cluster.tar.gz", false),
                ("apkovl", "http://h/{MAC}.tar.gz", false),
                ("diskless.config", "https://h/nodes/{mac}.tar", true),
            ]
        );
        let err = BootConfig::from_params(&parse("diskless.config=http://h/{serial}"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("diskless.config=\"http://h/{serial}\": unknown placeholder {serial}"),
            "{err}"
        );
    }

    #[test]
    fn optional_archives_start_with_a_question_mark() {
        let spec = parse_spec("diskless.config", "?http://h/{mac}.tar").expect("parses");
        assert!(spec.optional);
        assert_eq!(spec.url.as_str(), "http://h/{mac}.tar");
        assert!(!parse_spec("apkovl", "http://h/x").expect("parses").optional);
        let no_uuid = Values { uuid: None, ..NODE };
        let uuid = UrlTemplate::parse("http://h/{uuid}").expect("parses");
        assert!(uuid.needs_uuid());
        assert!(uuid.render(&no_uuid).is_err());
    }
}
