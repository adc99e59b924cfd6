//! `root=oci:<registry>/<repository>@sha256:<digest>` (or `:<tag>`) and the registry mirrors
//! of `diskless.mirror=`: image references as the distribution spec and `docker pull` write
//! them, with an explicit registry always (no implied Docker Hub: a node must not guess where
//! its root comes from). Pure: strings in, values or errors out.

use std::fmt;

use crate::hex;

/// How a registry is spoken to: HTTPS by default (the initramfs's CA bundle and client
/// certificate), plain HTTP only when the reference says `http://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

/// A registry: its scheme and `host[:port]`, lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub scheme: Scheme,
    pub host: String,
}

impl Registry {
    /// `https://host:port`: the API lives under `<base>/v2/`.
    pub fn base_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        // Docker Hub's name is not where its API is.
        let host = if self.host == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.host
        };
        format!("{scheme}://{host}")
    }
}

/// What the reference names within a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `@sha256:<hex>`: the manifest's digest; the content cannot change under it.
    Digest([u8; 32]),
    /// `:<tag>`: whatever the registry says the tag is today.
    Tag(String),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Digest(d) => write!(f, "sha256:{}", hex::encode(d)),
            Reference::Tag(t) => f.write_str(t),
        }
    }
}

/// `oci:<registry>/<repository>(@sha256:<hex>|:<tag>)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: Registry,
    pub repository: String,
    /// The tag given alongside a digest (`repo:tag@sha256:...`), for people only.
    pub tag: Option<String>,
    pub reference: Reference,
}

impl ImageRef {
    /// `10.0.2.2:5000/node/root@sha256:...` (with `http://` for a plain registry).
    pub fn describe(&self) -> String {
        let scheme = match self.registry.scheme {
            Scheme::Https => "",
            Scheme::Http => "http://",
        };
        let sep = match self.reference {
            Reference::Digest(_) => '@',
            Reference::Tag(_) => ':',
        };
        format!(
            "{scheme}{}/{}{sep}{}",
            self.registry.host, self.repository, self.reference
        )
    }
}

/// `diskless.mirror=` under an OCI root: another registry serving the same repository,
/// under `prefix` when it keeps mirrored repositories in a namespace (Harbor's proxy-cache
/// projects: `oci:harbor.lab/hub-proxy` serves `hub-proxy/<repository>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub registry: Registry,
    pub prefix: Option<String>,
}

impl Mirror {
    /// The repository's name on this mirror.
    pub fn repository(&self, repository: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}/{repository}"),
            None => repository.to_owned(),
        }
    }
}

/// The part after `root=oci:`.
pub fn parse_ref(text: &str) -> Result<ImageRef, String> {
    let (registry, rest) = split_registry(text)?;
    let rest = rest.ok_or_else(|| {
        "expected <registry>/<repository>@sha256:<digest> (or :<tag>): no repository".to_owned()
    })?;
    let (name, digest) = match rest.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (rest, None),
    };
    // A tag follows the last ':' after the last '/'.
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = match last.rsplit_once(':') {
        Some((_, tag)) => (
            name.get(..name.len() - tag.len() - 1).unwrap_or(name),
            Some(tag),
        ),
        None => (name, None),
    };
    check_repository(repository)?;
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    let reference = match (digest, tag) {
        (Some(digest), _) => {
            let hex = digest.strip_prefix("sha256:").ok_or_else(|| {
                format!("the digest {digest:?} is not sha256:<64 hex digits> (the only algorithm supported)")
            })?;
            Reference::Digest(hex::parse_sha256(hex).map_err(|e| format!("the digest: {e}"))?)
        }
        (None, Some(tag)) => Reference::Tag(tag.to_owned()),
        (None, None) => {
            return Err("expected @sha256:<digest> or :<tag> after the repository".to_owned());
        }
    };
    // Docker Hub's official images live under library/.
    let repository = if registry.host == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    };
    Ok(ImageRef {
        registry,
        repository,
        tag: tag.filter(|_| digest.is_some()).map(str::to_owned),
        reference,
    })
}

/// A registry mirror: `oci:[http://]<host>[:<port>][/<prefix>]` or
/// `http(s)://<host>[:<port>][/<prefix>]`.
pub fn parse_mirror(text: &str) -> Result<Mirror, String> {
    let text = text.strip_prefix("oci:").unwrap_or(text);
    let (registry, prefix) = split_registry(text)?;
    let prefix = prefix
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty());
    if let Some(prefix) = prefix {
        check_repository(prefix).map_err(|e| format!("the mirror's namespace: {e}"))?;
    }
    Ok(Mirror {
        registry,
        prefix: prefix.map(str::to_owned),
    })
}

/// The registry and what follows its first `/`.
fn split_registry(text: &str) -> Result<(Registry, Option<&str>), String> {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        (Scheme::Https, text.get(8..).unwrap_or_default())
    } else if lower.starts_with("http://") {
        (Scheme::Http, text.get(7..).unwrap_or_default())
    } else {
        if let Some((scheme, _)) = text.split_once("://").filter(|(s, _)| !s.contains('/')) {
            return Err(format!(
                "{scheme}:// is not a registry scheme (https://, the default, or http://)"
            ));
        }
        (Scheme::Https, text)
    };
    let (host, path) = match rest.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (rest, None),
    };
    check_host(host)?;
    Ok((
        Registry {
            scheme,
            host: host.to_ascii_lowercase(),
        },
        path,
    ))
}

/// `host[:port]`: a DNS name or IPv4 address (IPv6 literals in brackets), an optional port.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("no registry host".to_owned());
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, _)) if !name.ends_with(']') && name.contains(':') => (host, None),
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("the registry port {port:?} is not a port number")),
        }
    }
    let bracketed = name.starts_with('[') && name.ends_with(']');
    let ok = if bracketed {
        name.get(1..name.len() - 1)
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !name.is_empty()
            && name
                .split('.')
                .all(|label| !label.is_empty() && label.len() <= 63)
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{host:?} is not a registry host[:port]"))
    }
}

/// The distribution spec's repository name: lowercase components separated by `/`, each
/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn check_repository(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("no repository name".to_owned());
    }
    if name.len() > 255 {
        return Err(format!(
            "the repository name is {} characters, over 255",
            name.len()
        ));
    }
    for component in name.split('/') {
        if !valid_component(component) {
            return Err(format!(
                "{component:?} in {name:?} is not a repository name component \
                 (lowercase letters and digits, joined by ., _, __ or -)"
            ));
        }
    }
    Ok(())
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    // Separators sit between alphanumerics: `.` and `_` once, `__`, or any run of `-`.
    let mut run: Vec<u8> = Vec::new();
    for b in bytes {
        if alnum(b) {
            let ok = run.is_empty()
                || run == b"."
                || run == b"_"
                || run == b"__"
                || run.iter().all(|c| *c == b'-');
            if !ok {
                return false;
            }
            run.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            run.push(*b);
        } else {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let first = bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let rest = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first && rest && bytes.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "the tag {tag:?} is not a tag (letters, digits, _ . -, not starting with . or -, at most 128)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "b8b6b771bec4a7b7a5c8e6e8f0bac68180bb145405517011da044c2d5fec5441";

    fn digest() -> Reference {
        Reference::Digest(hex::parse_sha256(D).unwrap())
    }

    fn reg(scheme: Scheme, host: &str) -> Registry {
        Registry {
            scheme,
            host: host.to_owned(),
        }
    }

    #[test]
    fn references() {
        let cases: Vec<(String, Registry, &str, Option<&str>, Reference)> = vec![
            (
                format!("registry.lab/node/root@sha256:{D}"),
                reg(Scheme::Https, "registry.lab"),
                "node/root",
                None,
                digest(),
            ),
            (
                format!("http://10.0.2.2:5000/root@sha256:{}", D.to_uppercase()),
                reg(Scheme::Http, "10.0.2.2:5000"),
                "root",
                None,
                digest(),
            ),
            (
                format!("HTTPS://Registry.Lab:443/a/b/c:v1@sha256:{D}"),
                reg(Scheme::Https, "registry.lab:443"),
                "a/b/c",
                Some("v1"),
                digest(),
            ),
            (
                "10.0.2.2:5000/node/root:2024.05".to_owned(),
                reg(Scheme::Https, "10.0.2.2:5000"),
                "node/root",
                None,
                Reference::Tag("2024.05".to_owned()),
            ),
            (
                "docker.io/busybox:latest".to_owned(),
                reg(Scheme::Https, "docker.io"),
                "library/busybox",
                None,
                Reference::Tag("latest".to_owned()),
            ),
            (
                "localhost:5000/my-app_x.y/a__b:T_1".to_owned(),
                reg(Scheme::Https, "localhost:5000"),
                "my-app_x.y/a__b",
                None,
                Reference::Tag("T_1".to_owned()),
            ),
        ];
        for (text, registry, repository, tag, reference) in cases {
            let r = parse_ref(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.registry, registry, "{text}");
            assert_eq!(r.repository, repository, "{text}");
            assert_eq!(r.tag.as_deref(), tag, "{text}");
            assert_eq!(r.reference, reference, "{text}");
        }
        let r = parse_ref(&format!("http://10.0.2.2:5000/root@sha256:{D}")).unwrap();
        assert_eq!(r.registry.base_url(), "http://10.0.2.2:5000");
        assert_eq!(
            r.describe(),
            format!("http://10.0.2.2:5000/root@sha256:{D}")
        );
        assert_eq!(
            parse_ref("docker.io/busybox:1")
                .unwrap()
                .registry
                .base_url(),
            "https://registry-1.docker.io"
        );
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let cases = [
            ("registry.lab", "no repository"),
            ("registry.lab/", "no repository name"),
            ("/root@sha256:00", "no registry host"),
            ("registry.lab/root", "expected @sha256"),
            ("registry.lab/Root:v1", "\"Root\""),
            ("registry.lab/a//b:v1", "\"\""),
            ("registry.lab/a-:v1", "\"a-\""),
            ("registry.lab/a.-b:v1", "\"a.-b\""),
            ("registry.lab/root:-v1", "the tag"),
            ("registry.lab/root:", "the tag"),
            ("registry.lab/root@md5:00", "not sha256:"),
            ("registry.lab/root@sha256:abc", "64 hex digits"),
            ("registry.lab:99999/root:v1", "not a port number"),
            ("registry.lab:/root:v1", "not a port number"),
            ("reg_istry.lab/root:v1", "not a registry host"),
            ("ftp://x/root:v1", "ftp:// is not a registry scheme"),
        ];
        for (text, want) in cases {
            let err = parse_ref(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn mirrors() {
        let m = parse_mirror("oci:http://10.0.2.2:5001").unwrap();
        assert_eq!(m.registry, reg(Scheme::Http, "10.0.2.2:5001"));
        assert_eq!(m.repository("node/root"), "node/root");
        let m = parse_mirror("https://harbor.lab/hub-proxy/").unwrap();
        assert_eq!(m.registry, reg(Scheme::Https, "harbor.lab"));
        assert_eq!(m.repository("node/root"), "hub-proxy/node/root");
        let m = parse_mirror("oci:mirror.lab:5000").unwrap();
        assert_eq!(m.registry, reg(Scheme::Https, "mirror.lab:5000"));
        assert!(parse_mirror("oci:").is_err());
        assert!(parse_mirror("oci:m.lab/Bad").is_err());
    }

    #[test]
    fn the_command_line_keys_together() {
        use crate::cmdline::config::{BootConfig, RootSource};
        let config = |line: &str| BootConfig::from_params(&crate::cmdline::parse(line));
        let c = config(&format!(
            "root=oci:http://10.0.2.2:5000/node/root@sha256:{D} diskless.mirror=oci:http://10.0.2.2:5001 \
             diskless.mirror=https://harbor.lab/proxy diskless.sha256={D}"
        ))
        .unwrap();
        let Some(RootSource::Oci(image)) = &c.root else {
            panic!("{:?}", c.root)
        };
        assert_eq!(image.repository, "node/root");
        assert_eq!(
            c.mirrors,
            ["oci:http://10.0.2.2:5001", "https://harbor.lab/proxy"]
        );
        // (line, key, reason)
        let cases = [
            (
                format!(
                    "root=oci:r.lab/a@sha256:{D} diskless.sha256={}",
                    "0".repeat(64)
                ),
                "diskless.sha256",
                "make them agree",
            ),
            (
                "root=live:http://a/r.sqfs diskless.mirror=oci:r.lab".to_owned(),
                "diskless.mirror",
                "needs root=oci:",
            ),
            (
                "root=oci:r.lab/a:v1 diskless.mirror=https://m.lab/Bad".to_owned(),
                "diskless.mirror",
                "as a registry mirror",
            ),
            ("root=oci:r.lab/a".to_owned(), "root", "@sha256"),
            (
                "diskless.mirror=oci:/x".to_owned(),
                "diskless.mirror",
                "no registry host",
            ),
        ];
        for (line, key, reason) in cases {
            let err = config(&line).unwrap_err();
            assert_eq!(err.key, key, "{line}");
            assert!(err.reason.contains(reason), "{line}: {}", err.reason);
        }
    }
}
