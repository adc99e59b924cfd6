//! Speaking to registries: [`Registries`] is the fetch loop's [`Transport`] for manifest and
//! blob URLs of every registry (the mirrors and `root=`'s), adding `Accept` to manifest
//! requests and answering a 401 once per registry: `Basic` with the baked credentials, or
//! `Bearer` with a token from the challenge's realm (anonymous, or with the credentials).
//! A login goes over plain HTTP only where the credentials name `http://` for that host.
//! Retries, mirrors, resume and the RAM budget stay the fetch loop's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use super::auth::{self, Challenge, Credentials, Login};
use super::manifest;
use crate::cmdline::oci::{Registry, Scheme};
use crate::image::failure::Failure;
use crate::image::http::{HttpTransport, Response, Resume, Transport};

/// One registry serving the image: `base` (`https://host:port`), its host as the admin wrote
/// it (for the credentials) and the repository's name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub registry: Registry,
    pub repository: String,
}

impl Endpoint {
    /// `<base>/v2/<repository>/manifests/<reference>`
    pub fn manifest_url(&self, reference: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{reference}",
            self.registry.base_url(),
            self.repository
        )
    }

    /// `<base>/v2/<repository>/blobs/sha256:<hex>`
    pub fn blob_url(&self, digest: &str) -> String {
        format!(
            "{}/v2/{}/blobs/{digest}",
            self.registry.base_url(),
            self.repository
        )
    }

    fn prefix(&self) -> String {
        format!("{}/v2/{}/", self.registry.base_url(), self.repository)
    }
}

/// A token answer is small; anything bigger is not one.
const MAX_TOKEN_RESPONSE: u64 = 64 * 1024;

/// The registries' transport, with the `Authorization` each has earned this boot.
pub struct Registries<'a> {
    http: &'a HttpTransport,
    endpoints: Vec<Endpoint>,
    credentials: &'a Credentials,
    authorization: RefCell<BTreeMap<usize, String>>,
}

impl<'a> Registries<'a> {
    pub fn new(
        http: &'a HttpTransport,
        endpoints: Vec<Endpoint>,
        credentials: &'a Credentials,
    ) -> Registries<'a> {
        Registries {
            http,
            endpoints,
            credentials,
            authorization: RefCell::new(BTreeMap::new()),
        }
    }

    fn send(
        &self,
        url: &str,
        index: Option<usize>,
        resume: Option<Resume<'_>>,
        timeout: Duration,
    ) -> Result<(Response, Vec<String>), Failure> {
        let authorization = index.and_then(|i| self.authorization.borrow().get(&i).cloned());
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if url.contains("/manifests/") {
            headers.push(("Accept", manifest::ACCEPT));
        }
        if let Some(value) = authorization.as_deref() {
            headers.push(("Authorization", value));
        }
        let (response, auth) = self.http.request(url, &headers, resume, timeout)?;
        Ok((response, auth.www_authenticate))
    }

    /// The `Authorization` a 401's challenges call for, for endpoint `index`.
    fn authorize(
        &self,
        endpoint: &Endpoint,
        challenges: &[String],
        timeout: Duration,
    ) -> Result<String, Failure> {
        let host = endpoint.registry.base_url();
        let parsed: Vec<Challenge> = challenges
            .iter()
            .filter_map(|c| auth::parse_challenges(c).ok())
            .flatten()
            .collect();
        let credentials = match self.credentials.login(&endpoint.registry) {
            Login::Given(auth) => Some(auth),
            Login::None => None,
            // Whoever answers DHCP can name an http:// registry or mirror. Refused outright,
            // not tried anonymously: the error then says what the admin can change.
            Login::HttpsOnly => {
                return Err(Failure::Setup(format!(
                    "{host} asks for a login (401) and the initramfs has one only for \
                     https://{}: not sending it over plain HTTP; name {host} in the auth \
                     file (cargo xtask initrd --registry-auth) to allow it",
                    endpoint.registry.host
                )));
            }
        };
        let none = |how: &str| {
            Failure::Setup(format!(
                "{host} requires {how} and this initramfs has no credentials for it \
                 (build it with cargo xtask initrd --registry-auth <auth.json>)"
            ))
        };
        if let Some(bearer) = parsed.iter().find(|c| c.scheme == "bearer") {
            let url = auth::token_url(bearer, &endpoint.repository)
                .map_err(|e| Failure::BadResponse(format!("{host}'s challenge: {e}")))?;
            // Credentials go to a token service no less protected than the registry.
            let downgrade = endpoint.registry.scheme == Scheme::Https
                && !url.to_ascii_lowercase().starts_with("https://");
            if downgrade && credentials.is_some() {
                return Err(Failure::Setup(format!(
                    "{host} sends its credentials' token request to plain http ({url}): refused"
                )));
            }
            if credentials.is_some() && !url.to_ascii_lowercase().starts_with("https://") {
                log::warn!(
                    "INSECURE: {host} has its login sent to {url} over plain HTTP, as the auth \
                     file allows: anyone on the path can read it; use https"
                );
            }
            let basic = credentials.map(|c| format!("Basic {c}"));
            let mut headers: Vec<(&str, &str)> = Vec::new();
            if let Some(value) = basic.as_deref() {
                headers.push(("Authorization", value));
            }
            let (response, _) = self.http.request(&url, &headers, None, timeout)?;
            match response.status {
                200 => {}
                401 | 403 if credentials.is_none() => {
                    return Err(none("a token for which the token service wants a login"));
                }
                401 | 403 => {
                    return Err(Failure::Setup(format!(
                        "the token service of {host} refused the credentials in /{} (HTTP {})",
                        auth::AUTH_FILE,
                        response.status
                    )));
                }
                status => return Err(Failure::Status(status)),
            }
            let mut body = Vec::new();
            response
                .body
                .take(MAX_TOKEN_RESPONSE)
                .read_to_end(&mut body)
                .map_err(|e| Failure::Connect(format!("reading the token from {url}: {e}")))?;
            let token = auth::parse_token(&body)
                .map_err(|e| Failure::BadResponse(format!("the token service {url}: {e}")))?;
            log::info!(
                "{host}: bearer token from {} ({})",
                bearer.param("realm").unwrap_or_default(),
                if credentials.is_some() {
                    "with the baked credentials"
                } else {
                    "anonymous"
                }
            );
            return Ok(format!("Bearer {token}"));
        }
        if parsed.iter().any(|c| c.scheme == "basic") {
            let credentials =
                credentials.ok_or_else(|| none("a user name and password (Basic)"))?;
            log::info!("{host}: Basic authentication with the baked credentials");
            if endpoint.registry.scheme == Scheme::Http {
                log::warn!(
                    "INSECURE: {host} takes its login over plain HTTP, as the auth file \
                     allows: anyone on the path can read it; use https"
                );
            }
            return Ok(format!("Basic {credentials}"));
        }
        Err(Failure::Setup(format!(
            "{host} answered 401 with no Basic or Bearer challenge ({})",
            challenges.join("; ")
        )))
    }
}

impl Transport for Registries<'_> {
    fn get(
        &self,
        url: &str,
        resume: Option<Resume<'_>>,
        timeout: Duration,
    ) -> Result<Response, Failure> {
        let index = self
            .endpoints
            .iter()
            .position(|e| url.starts_with(&e.prefix()));
        let (response, challenges) = self.send(url, index, resume, timeout)?;
        let (Some(index), 401) = (index, response.status) else {
            return Ok(response);
        };
        let endpoint = self
            .endpoints
            .get(index)
            .ok_or_else(|| Failure::Setup(format!("no registry for {url}")))?;
        let had = self.authorization.borrow().contains_key(&index);
        if had {
            // What was earned stopped working (a token expired): earn it again, once.
            self.authorization.borrow_mut().remove(&index);
        }
        let value = self.authorize(endpoint, &challenges, timeout)?;
        self.authorization.borrow_mut().insert(index, value);
        let (response, _) = self.send(url, Some(index), resume, timeout)?;
        if response.status == 401 {
            let host = endpoint.registry.base_url();
            return Err(Failure::Setup(
                match self.credentials.login(&endpoint.registry) {
                    Login::Given(_) => format!(
                        "{host} refused the credentials in /{} for {}",
                        auth::AUTH_FILE,
                        endpoint.repository
                    ),
                    Login::HttpsOnly | Login::None => format!(
                        "{host} refused an anonymous pull of {}",
                        endpoint.repository
                    ),
                },
            ));
        }
        Ok(response)
    }
}
