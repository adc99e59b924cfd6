//! Registries: the logins `cargo xtask initrd --registry-auth` bakes into the image, and
//! `cargo xtask push`, which publishes a squashfs root as an OCI artifact with skopeo.

use anyhow::{Context, Result, bail};
use std::path::Path;

use crate::initrd::ExtraFile;

/// The registry logins of `--registry-auth` (an `auth.json`), checked as the node will read
/// them and each `auth` decoded to `user:password`, so a mistake fails the build. The file
/// is 0600, like the client key, and lives in the initramfs only.
pub fn registry_auth_file(text: &[u8]) -> Result<ExtraFile> {
    use base64::Engine as _;
    use diskless::image::oci::auth::{AUTH_FILE, Credentials};
    Credentials::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let file: serde_json::Value = serde_json::from_slice(text)?;
    if let Some(auths) = file.get("auths").and_then(|a| a.as_object()) {
        for (host, entry) in auths {
            let auth = entry
                .get("auth")
                .and_then(|a| a.as_str())
                .unwrap_or_default();
            let login = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .with_context(|| format!("the \"auth\" of {host:?} is not base64"))?;
            if !login.contains(&b':') {
                bail!("the \"auth\" of {host:?} is not base64 of user:password");
            }
        }
    }
    Ok(ExtraFile {
        dest: AUTH_FILE.to_owned(),
        contents: text.to_vec(),
        mode: 0o600,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_logins_are_checked_when_the_image_is_built() {
        let good = br#"{"auths":{"10.0.2.2:5000":{"auth":"bm9kZTpzM2NyZXQ="}}}"#;
        let file = registry_auth_file(good).expect("good");
        assert_eq!(file.mode, 0o600);
        assert_eq!(file.dest, diskless::image::oci::auth::AUTH_FILE);
        for (bad, want) in [
            (
                &br#"{"auths":{"h":{"auth":"bm9kZQ=="}}}"#[..],
                "user:password",
            ),
            (br#"{"auths":{"h":{"auth":"@@@"}}}"#, "not base64"),
            (
                br#"{"auths":{"h":{"identitytoken":"x"}}}"#,
                "has no \"auth\"",
            ),
        ] {
            let err = format!("{:#}", registry_auth_file(bad).expect_err("bad"));
            assert!(err.contains(want), "{err}");
        }
    }
}
