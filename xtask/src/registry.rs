//! `cargo xtask push`: publishes a squashfs root to an OCI registry as an artifact, with
//! skopeo. Publishing, not image building: the registry logins an image carries are
//! [`crate::image::registry_auth`].

use anyhow::{Context, Result, bail};
use std::path::Path;

/// What `cargo xtask push` published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `sha256:<hex>` of the manifest: what `root=oci:...@` and `--image-sha256` name.
    pub manifest: String,
    pub layer: String,
    pub bytes: u64,
}

/// Pushes `squashfs` to `dest` (`[http://]host[:port]/repository:tag`) as an OCI artifact:
/// one `application/vnd.diskless.squashfs` layer, written as an OCI layout under `work`
/// and copied with `skopeo copy` (bytes as they are; `http://` turns TLS off for a plain
/// registry; `authfile` logs in).
pub fn push(squashfs: &Path, dest: &str, authfile: Option<&Path>, work: &Path) -> Result<Pushed> {
    use testbed::registry;
    let bytes =
        std::fs::read(squashfs).with_context(|| format!("reading {}", squashfs.display()))?;
    let head = bytes.get(..4).unwrap_or_default();
    if head != b"hsqs" {
        bail!("{} is not a squashfs (no hsqs magic)", squashfs.display());
    }
    let size = bytes.len() as u64;
    let artifact = registry::squashfs_artifact(bytes)?;
    let (plain, target) = match dest.strip_prefix("http://") {
        Some(rest) => (true, rest),
        None => (false, dest.strip_prefix("https://").unwrap_or(dest)),
    };
    let target = target.strip_prefix("oci:").unwrap_or(target);
    let last = target.rsplit('/').next().unwrap_or(target);
    if !last.contains(':') {
        bail!("{dest}: name a tag (<registry>/<repository>:<tag>)");
    }
    let layout = work.join("push-layout");
    let _ = std::fs::remove_dir_all(&layout);
    let blobs: Vec<&testbed::oci::Blob> =
        artifact.layers.iter().chain([&artifact.config]).collect();
    registry::write_layout(&layout, &blobs, &[("push", &artifact.manifest)])?;
    let mut cmd = std::process::Command::new("skopeo");
    cmd.args(["copy", "--quiet"]);
    if plain {
        cmd.arg("--dest-tls-verify=false");
    }
    if let Some(authfile) = authfile {
        cmd.arg("--dest-authfile").arg(authfile);
    }
    let digest_file = work.join("push-digest");
    let status = cmd
        .arg("--digestfile")
        .arg(&digest_file)
        .arg(format!("oci:{}:push", layout.display()))
        .arg(format!("docker://{target}"))
        .status()
        .context("running skopeo (apt-get install skopeo)")?;
    if !status.success() {
        bail!("skopeo copy to {target} failed ({status})");
    }
    let pushed = std::fs::read_to_string(&digest_file).unwrap_or_default();
    if pushed.trim() != artifact.manifest.digest {
        bail!(
            "the registry stored manifest {} but we wrote {}: it rewrote the manifest",
            pushed.trim(),
            artifact.manifest.digest
        );
    }
    Ok(Pushed {
        manifest: artifact.manifest.digest.clone(),
        layer: artifact
            .layers
            .first()
            .map(|l| l.digest.clone())
            .unwrap_or_default(),
        bytes: size,
    })
}
