//! Container images for the tests, built by hand so their bytes are known: an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/...`) of layers given as file lists,
//! written as a directory or as one tar archive (`ctr image import`, `skopeo copy
//! oci-archive:...`). Layers are plain tar or gzip; whiteouts (`.wh.<name>`,
//! `.wh..wh..opq`) are ordinary entries, as the OCI image spec has them.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File {
        path: String,
        mode: u32,
        contents: Vec<u8>,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// How a layer blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// An image: its layers, in order, and the config's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub layers: Vec<(Vec<Entry>, Compression)>,
    pub cmd: Vec<String>,
    /// `amd64`, `arm64`.
    pub architecture: String,
    /// The name `ctr image import` gives it (`docker.io/library/marker:1`).
    pub name: String,
}

/// A blob: its digest (`sha256:<hex>`), media type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            digest: digest(&bytes),
            media_type: media_type.to_owned(),
            bytes,
        }
    }

    fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The blobs of an image, the manifest last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub layers: Vec<Blob>,
    pub config: Blob,
    pub manifest: Blob,
}

impl Image {
    /// A one-layer image with a static busybox (`bin/busybox`, `bin/sh`) running `cmd`.
    pub fn busybox(busybox: &Path, name: &str, cmd: &[&str]) -> Result<Image> {
        let bytes = std::fs::read(busybox).with_context(|| {
            format!(
                "reading {} (apt-get install busybox-static)",
                busybox.display()
            )
        })?;
        Ok(Image {
            layers: vec![(
                vec![
                    Entry::Dir {
                        path: "bin".into(),
                        mode: 0o755,
                    },
                    Entry::File {
                        path: "bin/busybox".into(),
                        mode: 0o755,
                        contents: bytes,
                    },
                    Entry::Symlink {
                        path: "bin/sh".into(),
                        target: "busybox".into(),
                    },
                ],
                Compression::Gzip,
            )],
            cmd: cmd.iter().map(|c| (*c).to_owned()).collect(),
            architecture: "amd64".into(),
            name: name.to_owned(),
        })
    }

    /// The layer blobs, the config and the manifest.
    pub fn build(&self) -> Result<Built> {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (entries, compression) in &self.layers {
            let tar = layer_tar(entries)?;
            diff_ids.push(digest(&tar));
            layers.push(match compression {
                Compression::None => Blob::new("application/vnd.oci.image.layer.v1.tar", tar),
                Compression::Gzip => {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    gz.write_all(&tar)?;
                    Blob::new("application/vnd.oci.image.layer.v1.tar+gzip", gz.finish()?)
                }
            });
        }
        let config = json!({
            "architecture": self.architecture,
            "os": "linux",
            "config": {"Cmd": self.cmd},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = Blob::new(
            "application/vnd.oci.image.config.v1+json",
            serde_json::to_vec(&config)?,
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::to_vec(&manifest)?,
        );
        Ok(Built {
            layers,
            config,
            manifest,
        })
    }

    /// The image as an OCI layout in one tar archive (`oci-archive:`).
    pub fn archive(&self) -> Result<Vec<u8>> {
        let built = self.build()?;
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (
                "index.json".into(),
                serde_json::to_vec(&self.index(&built))?,
            ),
        ];
        for blob in built.layers.iter().chain([&built.config, &built.manifest]) {
            let hex = blob.digest.trim_start_matches("sha256:");
            files.push((format!("blobs/sha256/{hex}"), blob.bytes.clone()));
        }
        let mut builder = tar::Builder::new(Vec::new());
        for dir in ["blobs", "blobs/sha256"] {
            append(
                &mut builder,
                &Entry::Dir {
                    path: dir.into(),
                    mode: 0o755,
                },
            )?;
        }
        for (path, contents) in files {
            append(
                &mut builder,
                &Entry::File {
                    path,
                    mode: 0o644,
                    contents,
                },
            )?;
        }
        Ok(builder.into_inner()?)
    }

    /// `index.json`: the one manifest, with the names `ctr` and `skopeo` read.
    fn index(&self, built: &Built) -> serde_json::Value {
        let tag = self.name.rsplit(':').next().unwrap_or("latest");
        let mut manifest = built.manifest.descriptor();
        manifest["annotations"] = json!({
            "io.containerd.image.name": self.name,
            "org.opencontainers.image.ref.name": tag,
        });
        json!({"schemaVersion": 2, "manifests": [manifest]})
    }
}

/// A directory tree as layer entries (files, directories and symbolic links; parents before
/// their children, names sorted), as `docker build` would make a first layer of it.
pub fn entries_of(tree: &Path) -> Result<Vec<Entry>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut entries = Vec::new();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = tree.join(&rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        // Reversed onto the stack so directories are walked in name order.
        for name in names.into_iter().rev() {
            let rel = rel.join(&name);
            let path = tree.join(&rel);
            let meta = std::fs::symlink_metadata(&path)?;
            let shown = rel.to_string_lossy().into_owned();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)?.to_string_lossy().into_owned();
                entries.push(Entry::Symlink {
                    path: shown,
                    target,
                });
            } else if meta.is_dir() {
                entries.push(Entry::Dir { path: shown, mode });
                stack.push(rel);
            } else if meta.is_file() {
                entries.push(Entry::File {
                    path: shown,
                    mode,
                    contents: std::fs::read(&path)?,
                });
            } else {
                anyhow::bail!("{}: not a file, directory or link", path.display());
            }
        }
    }
    Ok(entries)
}

/// A layer's tar: entries in order, owned by root, mtime 0.
fn layer_tar(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        append(&mut builder, entry)?;
    }
    Ok(builder.into_inner()?)
}

fn append(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    match entry {
        Entry::File {
            path,
            mode,
            contents,
        } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(contents.len() as u64);
            builder.append_data(&mut header, path, contents.as_slice())?;
        }
        Entry::Dir { path, mode } => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(*mode);
            header.set_size(0);
            builder.append_data(&mut header, path, std::io::empty())?;
        }
        Entry::Symlink { path, target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, path, target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        Image {
            layers: vec![
                (
                    vec![Entry::File {
                        path: "etc/a".into(),
                        mode: 0o644,
                        contents: b"a\n".to_vec(),
                    }],
                    Compression::None,
                ),
                (
                    vec![Entry::File {
                        path: "etc/.wh.a".into(),
                        mode: 0o644,
                        contents: Vec::new(),
                    }],
                    Compression::Gzip,
                ),
            ],
            cmd: vec!["/bin/sh".into()],
            architecture: "amd64".into(),
            name: "docker.io/library/t:1".into(),
        }
    }

    #[test]
    fn manifest_names_config_and_layers_by_their_digests() {
        let built = image().build().expect("builds");
        let manifest: serde_json::Value =
            serde_json::from_slice(&built.manifest.bytes).expect("json");
        assert_eq!(manifest["config"]["digest"], built.config.digest.as_str());
        assert_eq!(
            manifest["layers"][0]["digest"],
            built.layers[0].digest.as_str()
        );
        assert_eq!(
            manifest["layers"][1]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let config: serde_json::Value = serde_json::from_slice(&built.config.bytes).expect("json");
        // diff_ids are the uncompressed layers' digests.
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            built.layers[0].digest.as_str()
        );
        assert_ne!(
            config["rootfs"]["diff_ids"][1],
            built.layers[1].digest.as_str()
        );
        assert_eq!(built.manifest.digest, digest(&built.manifest.bytes));
        assert_eq!(
            image().build().expect("again"),
            built,
            "the same bytes every time"
        );
    }

    #[test]
    fn the_archive_is_an_oci_layout() {
        let archive = image().archive().expect("archive");
        let mut names = Vec::new();
        for entry in tar::Archive::new(archive.as_slice())
            .entries()
            .expect("tar")
        {
            let entry = entry.expect("entry");
            names.push(entry.path().expect("path").display().to_string());
        }
        assert!(names.contains(&"oci-layout".to_owned()), "{names:?}");
        assert!(names.contains(&"index.json".to_owned()), "{names:?}");
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("blobs/sha256/") && n.len() > 20)
                .count(),
            4,
            "two layers, a config and a manifest: {names:?}"
        );
    }
}
