//! Root images from OCI registries (`root=oci:`): the manifest by digest (or tag), an image
//! index resolved to the node's platform, then the root's blobs, each held to the digest
//! that names it as it streams, through the fetch loop (retries, mirrors, `Range` resume,
//! the RAM budget). The chain of digests starts at `root=`'s (or the initramfs's pin): every
//! document and blob is checked before the next one is read from it, and nothing unverified
//! is mounted.
//!
//! Registries are tried mirrors first (`diskless.mirror=`, as containerd and Docker use
//! registry mirrors), then `root=`'s own: the digests make any of them as good as another.
//!
//! [`manifest`] and [`auth`] are the pure parsers; [`client`] the registries' transport.

pub mod auth;
pub mod client;
pub mod manifest;

use std::path::{Path, PathBuf};

use crate::clock::Settled;
use crate::cmdline::config::BootConfig;
use crate::cmdline::oci::{self, ImageRef, Reference, Scheme};
use crate::hex;
use crate::image::error::{Cause, ImageError};
use crate::image::failure::Failure;
use crate::image::fetch::{self, Job, Limit};
use crate::image::http::Transport;
use crate::image::trust::{Expected, HashSource};
use crate::image::{Downloaded, Session, SessionSlot, fetch_error, log_event, log_fetched};
use client::{Endpoint, Registries};
use manifest::{Descriptor, Document, Manifest, RootKind};

/// What the pull produced: the root's blobs, and the manifest they came from.
#[derive(Debug)]
pub struct Pulled {
    pub root: PulledRoot,
    /// The digest of the manifest for this node's platform.
    pub manifest: [u8; 32],
}

/// The root's blobs, each verified against its digest.
#[derive(Debug)]
pub enum PulledRoot {
    /// A squashfs artifact's one blob, at the pull's `dest`.
    Squashfs(Downloaded),
    /// An ordinary container image's layers, in order, beside `dest`.
    Layers(Vec<LayerBlob>),
}

/// One verified layer of an ordinary image, waiting to be applied.
#[derive(Debug)]
pub struct LayerBlob {
    pub path: PathBuf,
    pub descriptor: Descriptor,
    /// What the image config says its decompressed tar hashes to.
    pub diff_id: [u8; 32],
    pub downloaded: Downloaded,
}

impl Pulled {
    /// The squashfs artifact's blob (`None` for an ordinary image).
    pub fn squashfs(&self) -> Option<&Downloaded> {
        match &self.root {
            PulledRoot::Squashfs(d) => Some(d),
            PulledRoot::Layers(_) => None,
        }
    }
}

/// The registries to try, in order: each mirror, then the reference's own registry.
pub fn endpoints(image: &ImageRef, mirrors: &[String]) -> Vec<Endpoint> {
    let mut list: Vec<Endpoint> = mirrors
        .iter()
        .filter_map(|m| oci::parse_mirror(m).ok())
        .map(|m| Endpoint {
            repository: m.repository(&image.repository),
            registry: m.registry,
        })
        .collect();
    list.push(Endpoint {
        registry: image.registry.clone(),
        repository: image.repository.clone(),
    });
    list.dedup();
    list
}

/// The manifest digest to hold the pull to, and the warnings to log: the initramfs's pin
/// wins over `root=`'s digest; a tag alone is unpinned.
pub fn expected_manifest(
    image: &ImageRef,
    pin: Option<[u8; 32]>,
    cmdline_sha256: Option<[u8; 32]>,
    endpoints: &[Endpoint],
) -> (Option<Expected>, Vec<String>) {
    let named = match image.reference {
        Reference::Digest(d) => Some((d, HashSource::Reference)),
        Reference::Tag(_) => cmdline_sha256.map(|d| (d, HashSource::Cmdline)),
    };
    let mut warnings = Vec::new();
    let expected = match (pin, named) {
        (Some(pin), named) => {
            if let Some((other, by)) = named.filter(|(d, _)| *d != pin) {
                warnings.push(format!(
                    "{} names manifest sha256:{}, the initramfs pins sha256:{}: the pin wins; \
                     the command line cannot change the image",
                    by.describe(),
                    hex::encode(&other),
                    hex::encode(&pin)
                ));
            }
            Some(Expected {
                sha256: pin,
                source: HashSource::Pin,
            })
        }
        (None, Some((sha256, source))) => Some(Expected { sha256, source }),
        (None, None) => None,
    };
    let plain: Vec<String> = endpoints
        .iter()
        .filter(|e| e.registry.scheme == Scheme::Http)
        .map(|e| e.registry.base_url())
        .collect();
    match expected.map(|e| e.source) {
        None => warnings.push(format!(
            "root=oci:{} is not pinned: the registry decides what the tag is today; name the \
             manifest with @sha256:<digest> (or pin it: cargo xtask initrd --image-sha256){}",
            image.describe(),
            if plain.is_empty() {
                String::new()
            } else {
                format!(
                    ". INSECURE: over plain HTTP ({}) anyone on the path can swap the image",
                    plain.join(", ")
                )
            }
        )),
        Some(HashSource::Pin) => {}
        Some(_) if !plain.is_empty() => warnings.push(format!(
            "INSECURE: pulling over plain HTTP ({}) with only the command line's digest to \
             check it: whoever can change the command line can change the image; pin it in \
             the initramfs (cargo xtask initrd --image-sha256) or use https",
            plain.join(", ")
        )),
        Some(_) => {}
    }
    (expected, warnings)
}

/// Pulls `image` for this node into `dest`: a squashfs artifact's blob, or an ordinary
/// container image's layers (beside `dest`), each verified against its digest; every blob
/// is fetched and verified before anything is applied.
pub fn pull(
    image: &ImageRef,
    dest: &Path,
    config: &BootConfig,
    node: &[u8],
    settled: Settled,
    sessions: &mut SessionSlot,
) -> Result<Pulled, ImageError> {
    let wrap = |cause: Cause| ImageError::Pull {
        image: image.describe(),
        cause,
    };
    let session = sessions
        .get(config, node, settled)
        .map_err(|e| wrap(e.into()))?;
    let credentials = load_credentials().map_err(wrap)?;
    pull_with(
        session,
        &credentials,
        image,
        &config.mirrors,
        config.image_sha256,
        dest,
    )
}

/// [`pull`] with the session and credentials given: what the boot storm drives host side.
pub fn pull_with(
    session: &Session,
    credentials: &auth::Credentials,
    image: &ImageRef,
    mirrors: &[String],
    cmdline_sha256: Option<[u8; 32]>,
    dest: &Path,
) -> Result<Pulled, ImageError> {
    let name = image.describe();
    let wrap = |cause: Cause| ImageError::Pull {
        image: name.clone(),
        cause,
    };
    let refuse = |reason: String| wrap(Cause::Refused(reason));
    let endpoints = endpoints(image, mirrors);
    let (expected, warnings) =
        expected_manifest(image, session.trust.pin, cmdline_sha256, &endpoints);
    for warning in warnings {
        log::warn!("{warning}");
    }
    let registries = Registries::new(&session.transport, endpoints.clone(), credentials);
    let puller = Puller {
        session,
        transport: &registries,
        endpoints: &endpoints,
        dest,
        wrap: &wrap,
    };
    let reference = match (expected, &image.reference) {
        (Some(e), _) => manifest::digest_string(&e.sha256),
        (None, Reference::Tag(tag)) => tag.clone(),
        (None, Reference::Digest(d)) => manifest::digest_string(d),
    };
    log::info!(
        "pulling {name}{}{}",
        if reference == image.reference.to_string() {
            String::new()
        } else {
            format!(" as {reference}")
        },
        if endpoints.len() > 1 {
            let all: Vec<String> = endpoints
                .iter()
                .map(|e| format!("{}/{}", e.registry.base_url(), e.repository))
                .collect();
            format!(" from {}", all.join(", then "))
        } else {
            String::new()
        }
    );
    let (document, mut digest) = puller.document(&reference, expected, DOCUMENT)?;
    let manifest = match document {
        Document::Manifest(m) => m,
        Document::Index(list) => {
            let platform = manifest::node_platform();
            let chosen = manifest::select(&list, &platform).map_err(refuse)?;
            log::info!(
                "image index: {} for this node's {}",
                chosen.digest(),
                platform.describe()
            );
            let by = Some(Expected {
                sha256: chosen.sha256,
                source: HashSource::Manifest,
            });
            let limit = match chosen.size {
                size if size <= DOCUMENT.bytes => Limit {
                    bytes: size,
                    by: "its descriptor in the index names",
                },
                _ => DOCUMENT,
            };
            let (document, child) = puller.document(&chosen.digest(), by, limit)?;
            digest = child;
            match document {
                Document::Manifest(m) => m,
                Document::Index(_) => {
                    return Err(refuse(format!(
                        "the index's manifest for {} is another index",
                        platform.describe()
                    )));
                }
            }
        }
    };
    let root = match manifest::root_kind(&manifest).map_err(refuse)? {
        RootKind::Squashfs(layer) => PulledRoot::Squashfs(puller.blob("layer", &layer, dest)?),
        RootKind::Layers(layers) => PulledRoot::Layers(puller.layers(&manifest, &layers)?),
    };
    Ok(Pulled {
        root,
        manifest: digest,
    })
}

/// A manifest or index with no descriptor naming its size.
const DOCUMENT: Limit = Limit {
    bytes: manifest::MAX_DOCUMENT,
    by: "a manifest may have",
};

/// Where layer `index` of an ordinary image waits beside the pull's `dest`.
fn layer_path(dest: &Path, index: usize) -> PathBuf {
    dest.with_file_name(format!("layer{index}.blob"))
}

/// `/etc/diskless/registry-auth.json`, when the initramfs has one.
fn load_credentials() -> Result<auth::Credentials, Cause> {
    let path = Path::new("/").join(auth::AUTH_FILE);
    match std::fs::read(&path) {
        Ok(text) => auth::Credentials::parse(&text).map_err(|e| Cause::Credentials {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(auth::Credentials::default()),
        Err(e) => Err(Cause::Credentials {
            reason: format!("reading it: {e}"),
            path,
        }),
    }
}

struct Puller<'a> {
    session: &'a Session,
    dest: &'a Path,
    /// The registries ([`Registries`]); a script in the unit tests.
    transport: &'a dyn Transport,
    endpoints: &'a [Endpoint],
    /// Names the image in an error.
    wrap: &'a dyn Fn(Cause) -> ImageError,
}

impl Puller<'_> {
    fn refuse(&self, reason: String) -> ImageError {
        (self.wrap)(Cause::Refused(reason))
    }

    /// A manifest or index, held to `expected` and `limit`; its digest as it arrived.
    fn document(
        &self,
        reference: &str,
        expected: Option<Expected>,
        limit: Limit,
    ) -> Result<(Document, [u8; 32]), ImageError> {
        let urls: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| e.manifest_url(reference))
            .collect();
        // Beside the blob: /run/diskless at boot.
        let dest = self.dest.with_extension("manifest.json");
        let job = Job {
            sources: &urls,
            dest: &dest,
            expected: expected.map(|e| e.sha256),
            ram_budget: self.session.ram_budget,
            limit: Some(limit),
        };
        let fetched = fetch::fetch_to_file(self.transport, &job, &self.session.policy, log_event)
            .map_err(|err| {
            let missing = !err.failures.is_empty()
                && err.failures.iter().all(|(_, f)| *f == Failure::Status(404));
            if missing {
                // A typo in the digest or tag, or pushed to another repository.
                self.refuse(format!(
                    "no manifest {reference} in {} (HTTP 404): check the digest or tag \
                     in root=, and where it was pushed",
                    self.endpoints
                        .iter()
                        .map(|e| format!("{}/{}", e.registry.base_url(), e.repository))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            } else {
                fetch_error(err, expected, self.wrap)
            }
        })?;
        let bytes = std::fs::read(&dest).map_err(|source| ImageError::ReadImage {
            path: dest.clone(),
            source,
        });
        let _ = std::fs::remove_file(&dest);
        let bytes = bytes?;
        if expected.is_none() {
            log::info!(
                "{reference} is manifest {} (at {})",
                manifest::digest_string(&fetched.sha256),
                fetched.url
            );
        }
        let document = manifest::parse(&bytes)
            .map_err(|e| self.refuse(format!("the manifest at {}: {e}", fetched.url)))?;
        Ok((document, fetched.sha256))
    }

    /// An ordinary image's config (for the layers' diff_ids) and every layer, verified,
    /// beside `dest`. They must fit in RAM together: all are verified before the first is
    /// applied.
    fn layers(
        &self,
        manifest: &Manifest,
        layers: &[Descriptor],
    ) -> Result<Vec<LayerBlob>, ImageError> {
        let total = layers
            .iter()
            .fold(0u64, |sum, l| sum.saturating_add(l.size));
        if let Some(budget) = self.session.ram_budget.filter(|b| total > *b) {
            return Err(self.refuse(format!(
                "its {} layers are {total} bytes, more than the {budget} bytes free in RAM \
                 (they are held in RAM until applied: give the node more RAM or the image \
                 fewer bytes)",
                layers.len()
            )));
        }
        let config = &manifest.config;
        if config.size > manifest::MAX_DOCUMENT {
            return Err(self.refuse(format!(
                "the image config {} is {} bytes, over the {} a config may have",
                config.digest(),
                config.size,
                manifest::MAX_DOCUMENT
            )));
        }
        let config_path = self.dest.with_file_name("config.json");
        self.blob("the image config", config, &config_path)?;
        let text = std::fs::read(&config_path);
        let _ = std::fs::remove_file(&config_path);
        let text = text.map_err(|source| ImageError::ReadImage {
            path: config_path.clone(),
            source,
        })?;
        let diff_ids = manifest::diff_ids(&text, layers.len())
            .map_err(|e| self.refuse(format!("the image config {}: {e}", config.digest())))?;
        let mut pulled: Vec<LayerBlob> = Vec::new();
        for (index, (layer, diff_id)) in layers.iter().zip(diff_ids).enumerate() {
            let path = layer_path(self.dest, index);
            match self.blob("layer", layer, &path) {
                Ok(downloaded) => pulled.push(LayerBlob {
                    path,
                    descriptor: layer.clone(),
                    diff_id,
                    downloaded,
                }),
                Err(err) => {
                    // Free the RAM the verified ones hold (the boot storm pulls in a loop).
                    for done in &pulled {
                        let _ = std::fs::remove_file(&done.path);
                    }
                    return Err(err);
                }
            }
        }
        Ok(pulled)
    }

    /// A blob into `dest`, held to its descriptor's digest and size; larger than the RAM left
    /// fails before the first byte. A source sending more than the size is dropped for the
    /// next: bounded by the RAM left instead, a bad mirror could fill /run and stop the pull.
    fn blob(&self, what: &str, layer: &Descriptor, dest: &Path) -> Result<Downloaded, ImageError> {
        if let Some(budget) = self.session.ram_budget.filter(|b| layer.size > *b) {
            return Err(self.refuse(format!(
                "{what} {} is {} bytes, more than the {budget} bytes free in RAM for it",
                layer.digest(),
                layer.size
            )));
        }
        let urls: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| e.blob_url(&layer.digest()))
            .collect();
        let expected = Some(Expected {
            sha256: layer.sha256,
            source: HashSource::Manifest,
        });
        let job = Job {
            sources: &urls,
            dest,
            expected: Some(layer.sha256),
            ram_budget: self.session.ram_budget,
            limit: Some(Limit {
                bytes: layer.size,
                by: "its descriptor names",
            }),
        };
        log::info!(
            "fetching {what} {} ({} bytes) into {}",
            layer.digest(),
            layer.size,
            dest.display()
        );
        let fetched = fetch::fetch_to_file(self.transport, &job, &self.session.policy, log_event)
            .map_err(|err| fetch_error(err, expected, self.wrap))?;
        if fetched.bytes != layer.size {
            let _ = std::fs::remove_file(dest);
            return Err(self.refuse(format!(
                "{what} {} is {} bytes, the manifest says {}",
                layer.digest(),
                fetched.bytes,
                layer.size
            )));
        }
        log_fetched(&fetched);
        Ok(Downloaded { fetched, expected })
    }
}

#[cfg(test)]
mod tests;
