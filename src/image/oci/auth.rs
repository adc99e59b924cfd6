//! Registry authentication, the pure parts: `WWW-Authenticate` challenges (RFC 9110 11.6.1,
//! as registries send them: `Bearer realm="...",service="...",scope="..."` or `Basic
//! realm="..."`), the token request a Bearer challenge calls for and its answer, and the
//! credentials `cargo xtask initrd --registry-auth` bakes in (Docker's and podman's
//! `auth.json`: `{"auths": {"<host>": {"auth": "<base64 of user:password>"}}}`), keyed by
//! scheme and host: a key without a scheme, as `podman login` writes it, is for https only.
//!
//! The credentials, like the TLS client key, live only in the initramfs and in PID 1's
//! memory: nothing here writes them anywhere.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::cmdline::oci::{Registry, Scheme};

/// Where `--registry-auth` puts the credentials in the image (mode 0600).
pub const AUTH_FILE: &str = "etc/diskless/registry-auth.json";

/// One challenge: the scheme (lowercase) and its parameters (names lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A cursor over a header value.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip(&mut self, what: impl Fn(char) -> bool) {
        self.rest = self.rest.trim_start_matches(what);
    }
    fn token(&mut self) -> &'a str {
        let end = self.rest.find(|c| !is_tchar(c)).unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }
    /// A quoted-string, its backslash escapes undone; the opening quote already eaten.
    fn quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = self.rest.get(i + 1..).unwrap_or_default();
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => out.push(escaped),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("an unterminated quoted string".to_owned())
    }
}

/// Parses a `WWW-Authenticate` value: one or more challenges, each a scheme and
/// comma-separated `name=value` or `name="quoted value"` parameters.
pub fn parse_challenges(header: &str) -> Result<Vec<Challenge>, String> {
    let mut cur = Cursor { rest: header };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        cur.skip(|c| c == ' ' || c == '\t' || c == ',');
        if cur.rest.is_empty() {
            break;
        }
        let scheme = cur.token();
        if scheme.is_empty() {
            return Err(format!("no auth scheme at {:?}", cur.rest));
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        loop {
            // A parameter is `name=`: anything else starts the next challenge.
            let before = cur.rest;
            cur.skip(|c| c == ' ' || c == '\t' || c == ',');
            let name = cur.token();
            cur.skip(|c| c == ' ' || c == '\t');
            if name.is_empty() || !cur.eat('=') {
                cur.rest = before;
                break;
            }
            cur.skip(|c| c == ' ' || c == '\t');
            let value = if cur.eat('"') {
                cur.quoted()?
            } else {
                let token = cur.token();
                if token.is_empty() {
                    return Err(format!("parameter {name} has no value"));
                }
                token.to_owned()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        out.push(challenge);
    }
    if out.is_empty() {
        return Err("an empty challenge".to_owned());
    }
    Ok(out)
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token request a Bearer challenge calls for: its realm with `service` and `scope`
/// (the challenge's, else pull access to `repository`).
pub fn token_url(challenge: &Challenge, repository: &str) -> Result<String, String> {
    let realm = challenge
        .param("realm")
        .ok_or_else(|| "a Bearer challenge without a realm".to_owned())?;
    let lower = realm.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(format!("the token realm {realm:?} is not an http(s) URL"));
    }
    let mut query: Vec<String> = Vec::new();
    if let Some(service) = challenge.param("service") {
        query.push(format!("service={}", query_escape(service)));
    }
    let ours = format!("repository:{repository}:pull");
    let scope = challenge.param("scope").unwrap_or(&ours);
    query.push(format!("scope={}", query_escape(scope)));
    let sep = if realm.contains('?') { '&' } else { '?' };
    Ok(format!("{realm}{sep}{}", query.join("&")))
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// The token from a token service's answer (`token`, or OAuth2's `access_token`); it goes
/// into a header, so only visible ASCII is accepted.
pub fn parse_token(body: &[u8]) -> Result<String, String> {
    let answer: TokenResponse =
        serde_json::from_slice(body).map_err(|e| format!("not a token response: {e}"))?;
    let token = answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the token response has no token".to_owned())?;
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token has characters a header cannot carry".to_owned());
    }
    Ok(token)
}

/// The baked credentials: `auth` (base64 of `user:password`, ready for `Basic`) per
/// registry origin (`https://host[:port]` or `http://host[:port]`). `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    by_origin: BTreeMap<String, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.by_origin.keys()).finish()
    }
}

/// What the baked credentials hold for one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login<'a> {
    /// The `auth` for this registry's scheme and host.
    Given(&'a str),
    /// None for this plain-http registry, but one for https on the same host: it is not
    /// sent in clear (the command line naming `http://` is no consent: DHCP can forge it).
    HttpsOnly,
    None,
}

#[derive(Deserialize)]
struct AuthFile {
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

/// `https://index.docker.io/v1/` -> `https://docker.io`; `Registry.Lab:5000` ->
/// `https://registry.lab:5000` (no scheme is https: a login is only sent in clear where the
/// file says `http://`); `http://10.0.0.5:5000` stays.
fn origin_key(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    let (scheme, rest) = match lower.strip_prefix("http://") {
        Some(rest) => ("http", rest),
        None => ("https", lower.strip_prefix("https://").unwrap_or(&lower)),
    };
    let host = rest.split('/').next().unwrap_or(rest);
    let host = match host {
        // Docker Hub's three names.
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    };
    format!("{scheme}://{host}")
}

impl Credentials {
    /// Parses an `auth.json`; entries without `auth` (credential helpers, identity tokens)
    /// are an error, since the node cannot run a helper.
    pub fn parse(text: &[u8]) -> Result<Credentials, String> {
        let file: AuthFile =
            serde_json::from_slice(text).map_err(|e| format!("not an auth.json: {e}"))?;
        let mut by_origin = BTreeMap::new();
        for (key, entry) in file.auths {
            let auth = entry
                .auth
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format!("{key:?} has no \"auth\" (user:password in base64)"))?;
            let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
            if !auth.bytes().all(base64) {
                return Err(format!("the \"auth\" of {key:?} is not base64"));
            }
            by_origin.insert(origin_key(&key), auth);
        }
        Ok(Credentials { by_origin })
    }

    /// The login for `registry`: its scheme and host must match the key's.
    pub fn login(&self, registry: &Registry) -> Login<'_> {
        let get = |r: &Registry| self.by_origin.get(&origin_key(&r.base_url()));
        if let Some(auth) = get(registry) {
            return Login::Given(auth);
        }
        let https = Registry {
            scheme: Scheme::Https,
            host: registry.host.clone(),
        };
        if registry.scheme == Scheme::Http && get(&https).is_some() {
            return Login::HttpsOnly;
        }
        Login::None
    }

    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}

#[cfg(test)]
mod tests;
