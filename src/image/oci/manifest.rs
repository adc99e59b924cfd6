//! The registry's documents, parsed: image manifests (OCI and Docker schema 2), image indexes
//! (OCI and Docker manifest lists) resolved to the node's platform, and what kind of root a
//! manifest describes. Pure: bytes in (already checked against their digest), values or an
//! error in words out.

use serde::Deserialize;

use crate::hex;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The `Accept` of a manifest request: every document this module reads.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";
/// The one layer of a squashfs root pushed as an OCI artifact (`cargo xtask push`).
pub const SQUASHFS_LAYER: &str = "application/vnd.diskless.squashfs";
/// The artifact type `cargo xtask push` gives such a manifest (for people and registries' UIs).
pub const ARTIFACT_TYPE: &str = "application/vnd.diskless.image.v1";
/// Layer types of ordinary container images (tar, gzip or zstd).
const TAR_LAYERS: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];
/// Registries refuse manifests over 4 MiB; so does the node.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// A content descriptor: what a blob or manifest is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub sha256: [u8; 32],
    pub size: u64,
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// `sha256:<hex>`, as registries name blobs.
    pub fn digest(&self) -> String {
        digest_string(&self.sha256)
    }
}

pub fn digest_string(sha256: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(sha256))
}

/// `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    pub fn describe(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// An image manifest: the config blob and the layers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// What a manifest request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    Manifest(Manifest),
    /// An image index (or Docker manifest list): one manifest per platform.
    Index(Vec<Descriptor>),
}

/// What kind of root a manifest describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootKind {
    /// One [`SQUASHFS_LAYER`]: mounted as a squashfs root, as `root=live:` images are.
    Squashfs(Descriptor),
    /// An ordinary container image: tar layers, applied in order.
    Layers(Vec<Descriptor>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocument {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
}

/// `sha256:<64 hex>`; other algorithms are refused by name.
pub fn parse_digest(text: &str) -> Result<[u8; 32], String> {
    let (algorithm, hex) = text
        .split_once(':')
        .ok_or_else(|| format!("digest {text:?} is not <algorithm>:<hex>"))?;
    if algorithm != "sha256" {
        return Err(format!(
            "digest {text:?} uses {algorithm:?}; this node checks sha256 only"
        ));
    }
    // The spec's encoding is lowercase hex; a registry sending uppercase is not one.
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("digest {text:?} is not lowercase hex"));
    }
    hex::parse_sha256(hex).map_err(|e| format!("digest {text:?}: {e}"))
}

fn descriptor(raw: RawDescriptor) -> Result<Descriptor, String> {
    Ok(Descriptor {
        sha256: parse_digest(&raw.digest)?,
        media_type: raw.media_type,
        size: raw.size,
        platform: raw.platform,
    })
}

/// Parses a manifest or an index. The document's own `mediaType` decides (it is covered by
/// the digest; the response's Content-Type is not); without one, its fields do.
pub fn parse(bytes: &[u8]) -> Result<Document, String> {
    let raw: RawDocument =
        serde_json::from_slice(bytes).map_err(|e| format!("not a manifest: {e}"))?;
    if raw.schema_version != 2 {
        return Err(format!(
            "schemaVersion {} (only 2 is an OCI or Docker schema 2 manifest)",
            raw.schema_version
        ));
    }
    let index = match raw.media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) => return Err(format!("unknown manifest media type {other:?}")),
        None => raw.manifests.is_some() && raw.layers.is_none(),
    };
    if index {
        let manifests = raw
            .manifests
            .ok_or_else(|| "an image index without manifests".to_owned())?;
        return Ok(Document::Index(
            manifests
                .into_iter()
                .map(descriptor)
                .collect::<Result<_, _>>()?,
        ));
    }
    let config = raw
        .config
        .ok_or_else(|| "a manifest without a config".to_owned())?;
    let layers = raw
        .layers
        .ok_or_else(|| "a manifest without layers".to_owned())?;
    Ok(Document::Manifest(Manifest {
        media_type: raw.media_type.unwrap_or_else(|| OCI_MANIFEST.to_owned()),
        artifact_type: raw.artifact_type,
        config: descriptor(config)?,
        layers: layers
            .into_iter()
            .map(descriptor)
            .collect::<Result<_, _>>()?,
    }))
}

/// The node's platform in the image spec's words: the init runs on the node, so its own
/// architecture is the node's.
pub fn node_platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        other => other,
    };
    Platform {
        os: "linux".to_owned(),
        architecture: architecture.to_owned(),
        variant: None,
    }
}

/// The index's manifest for `node` (os and architecture; a variant only matters when the
/// index offers several for the architecture, then arm64's `v8` is taken). No match is an
/// error that names the node's platform and the index's.
pub fn select<'a>(manifests: &'a [Descriptor], node: &Platform) -> Result<&'a Descriptor, String> {
    let matching: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == node.os && p.architecture == node.architecture)
        })
        .collect();
    let preferred = matching.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.variant.is_none() || p.variant.as_deref() == Some("v8"))
    });
    if let Some(found) = preferred.or(matching.first()) {
        return Ok(found);
    }
    let offered: Vec<String> = manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        // buildx's attestation manifests are "unknown/unknown": not a platform.
        .filter(|p| p.os != "unknown")
        .map(Platform::describe)
        .collect();
    Err(format!(
        "the image index has no manifest for this node's platform {} (it has {})",
        node.describe(),
        if offered.is_empty() {
            "none with a platform".to_owned()
        } else {
            offered.join(", ")
        }
    ))
}

/// A squashfs artifact, or an ordinary image's layers; anything else is refused by its
/// media types.
pub fn root_kind(manifest: &Manifest) -> Result<RootKind, String> {
    match manifest.layers.as_slice() {
        [one] if one.media_type == SQUASHFS_LAYER => return Ok(RootKind::Squashfs(one.clone())),
        [] => return Err("the manifest has no layers".to_owned()),
        _ => {}
    }
    if let Some(odd) = manifest
        .layers
        .iter()
        .find(|l| !TAR_LAYERS.contains(&l.media_type.as_str()))
    {
        return Err(format!(
            "layer {} has media type {:?}: neither one {SQUASHFS_LAYER} layer nor tar layers",
            odd.digest(),
            odd.media_type
        ));
    }
    Ok(RootKind::Layers(manifest.layers.clone()))
}

#[derive(Deserialize)]
struct RawConfig {
    rootfs: RawRootfs,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<String>,
}

/// The image config's `rootfs.diff_ids`: the sha256 of each layer's decompressed tar, in
/// order, one per layer of the manifest.
pub fn diff_ids(config: &[u8], layers: usize) -> Result<Vec<[u8; 32]>, String> {
    let raw: RawConfig =
        serde_json::from_slice(config).map_err(|e| format!("not an image config: {e}"))?;
    if raw.rootfs.kind != "layers" {
        return Err(format!(
            "rootfs.type is {:?}, not \"layers\"",
            raw.rootfs.kind
        ));
    }
    if raw.rootfs.diff_ids.len() != layers {
        return Err(format!(
            "rootfs.diff_ids names {} layers, the manifest {layers}",
            raw.rootfs.diff_ids.len()
        ));
    }
    raw.rootfs
        .diff_ids
        .iter()
        .map(|d| parse_digest(d))
        .collect()
}

#[cfg(test)]
mod tests;
