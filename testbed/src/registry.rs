//! Debian's `docker-registry` (the CNCF distribution registry, 2.8) for the tests: on
//! 127.0.0.1 with a random port, open, behind htpasswd (Basic), behind a token service
//! (`auth: token`, see [`crate::token`]), or as a pull-through cache (`proxy:`) of another.
//! Images go in with `skopeo copy` from an OCI layout ([`write_layout`]); the squashfs root
//! goes in as an OCI artifact ([`squashfs_artifact`]), as `cargo xtask push` does it.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::oci::{Blob, Built, digest};

/// The media type of the squashfs layer (the init's `image::oci::manifest::SQUASHFS_LAYER`).
pub const SQUASHFS_LAYER: &str = "application/vnd.diskless.squashfs";
/// The artifact type of such a manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.diskless.image.v1";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// A squashfs root as an OCI artifact: one [`SQUASHFS_LAYER`] layer, the empty config
/// (`{}`), and [`ARTIFACT_TYPE`] (OCI image spec 1.1's artifact guidance).
pub fn squashfs_artifact(squashfs: Vec<u8>) -> Result<Built> {
    let layer = Blob {
        digest: digest(&squashfs),
        media_type: SQUASHFS_LAYER.to_owned(),
        bytes: squashfs,
    };
    let config = Blob {
        digest: digest(b"{}"),
        media_type: EMPTY_CONFIG.to_owned(),
        bytes: b"{}".to_vec(),
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor(&config),
        "layers": [descriptor(&layer)],
    });
    let manifest = serde_json::to_vec(&manifest)?;
    Ok(Built {
        layers: vec![layer],
        config,
        manifest: Blob {
            digest: digest(&manifest),
            media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
            bytes: manifest,
        },
    })
}

fn descriptor(blob: &Blob) -> serde_json::Value {
    json!({"mediaType": blob.media_type, "digest": blob.digest, "size": blob.bytes.len()})
}

/// An image index over manifests, each for `os/architecture`.
pub fn index(entries: &[(&Blob, &str, &str)]) -> Result<Blob> {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(manifest, os, arch)| {
            let mut d = descriptor(manifest);
            d["platform"] = json!({"os": os, "architecture": arch});
            d
        })
        .collect();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))?;
    Ok(Blob {
        digest: digest(&index),
        media_type: "application/vnd.oci.image.index.v1+json".to_owned(),
        bytes: index,
    })
}

/// Writes an OCI layout directory: every blob, and `index.json` naming `tagged` manifests
/// (or indexes) by tag, for `skopeo copy oci:<dir>:<tag>`.
pub fn write_layout(dir: &Path, blobs: &[&Blob], tagged: &[(&str, &Blob)]) -> Result<()> {
    let blob_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for blob in blobs.iter().chain(tagged.iter().map(|(_, b)| b)) {
        let hex = blob.digest.trim_start_matches("sha256:");
        std::fs::write(blob_dir.join(hex), &blob.bytes)?;
    }
    let manifests: Vec<serde_json::Value> = tagged
        .iter()
        .map(|(tag, blob)| {
            let mut d = descriptor(blob);
            d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
            d
        })
        .collect();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests}))?,
    )?;
    Ok(())
}

/// Copies `oci:<layout>:<tag>` to `docker://<dest>` with skopeo (all of an index's
/// platforms, the bytes as they are); `authfile` logs in. Plain HTTP (`tls_verify` false)
/// for the test registries.
pub fn skopeo_push(layout: &Path, tag: &str, dest: &str, authfile: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--all", "--dest-tls-verify=false"]);
    if let Some(authfile) = authfile {
        cmd.arg("--dest-authfile").arg(authfile);
    }
    let output = cmd
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .context("running skopeo (apt-get install skopeo)")?;
    if !output.status.success() {
        bail!(
            "skopeo copy to {dest}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// How the registry authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// An htpasswd file (bcrypt; `htpasswd -B`).
    Htpasswd(PathBuf),
    /// `auth: token`: tokens from `realm`, signed by the key of `cert` (a PEM certificate).
    Token {
        realm: String,
        service: String,
        issuer: String,
        cert: PathBuf,
    },
}

/// A running `docker-registry`, stopped on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub storage: PathBuf,
    /// Its log (stderr): errors and what it did.
    pub log: PathBuf,
    /// Its access log (stdout, Apache's combined format): every request and its status.
    pub access_log: PathBuf,
}

impl Registry {
    /// Starts a registry on 127.0.0.1 over `storage` (its filesystem driver's root), with
    /// `auth`, as a pull-through cache of `proxy` (`http://127.0.0.1:<port>`) when given.
    pub fn start(dir: &Path, storage: &Path, auth: &Auth, proxy: Option<&str>) -> Result<Registry> {
        Registry::start_tls(dir, storage, auth, proxy, None)
    }

    /// [`Registry::start`] speaking HTTPS with `tls`: a PEM certificate and key file.
    pub fn start_tls(
        dir: &Path,
        storage: &Path,
        auth: &Auth,
        proxy: Option<&str>,
        tls: Option<(&Path, &Path)>,
    ) -> Result<Registry> {
        let port = free_port()?;
        std::fs::create_dir_all(dir)?;
        std::fs::create_dir_all(storage)?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        match auth {
            Auth::None => {}
            Auth::Htpasswd(path) => config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: diskless-test\n    path: {}\n",
                path.display()
            )),
            Auth::Token {
                realm,
                service,
                issuer,
                cert,
            } => config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert.display()
            )),
        }
        if let Some(remote) = proxy {
            config.push_str(&format!("proxy:\n  remoteurl: {remote}\n"));
        }
        let config_path = dir.join(format!("registry-{port}.yml"));
        std::fs::write(&config_path, config)?;
        let access_log = dir.join(format!("registry-{port}.access.log"));
        let log = dir.join(format!("registry-{port}.log"));
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&access_log)?)
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting docker-registry (apt-get install docker-registry)")?;
        let mut registry = Registry {
            child,
            port,
            storage: storage.to_owned(),
            log,
            access_log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "docker-registry did not listen on {port}: see {}",
                    registry.log.display()
                );
            }
            if let Some(status) = registry.child.try_wait()? {
                bail!(
                    "docker-registry exited ({status}): see {}",
                    registry.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(registry)
    }

    /// `127.0.0.1:<port>` for skopeo on the host.
    pub fn host_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://10.0.2.2:<port>` as the guest reaches it.
    pub fn guest_url(&self) -> String {
        format!("http://{}:{}", crate::http::GUEST_HOST_ADDR, self.port)
    }

    /// The registry's log (access log included): which requests it served.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the filesystem driver keeps a blob's bytes (to corrupt one under the registry).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(hex.get(..2).unwrap_or_default())
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// An htpasswd file for `user:password` (bcrypt, as distribution requires), via `htpasswd`.
pub fn htpasswd(path: &Path, user: &str, password: &str) -> Result<()> {
    let status = Command::new("htpasswd")
        .args(["-B", "-b", "-c"])
        .arg(path)
        .args([user, password])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running htpasswd (apt-get install apache2-utils)")?;
    if !status.success() {
        bail!("htpasswd failed: {status}");
    }
    Ok(())
}

/// A Docker/podman `auth.json` with `user:password` for `host`.
pub fn auth_json(host: &str, user: &str, password: &str) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    json!({"auths": {host: {"auth": auth}}}).to_string()
}

/// The repository the tests publish the root to.
pub const REPOSITORY: &str = "diskless/root";

/// A registry holding the root: the squashfs artifact as `diskless/root:v1`, and an image
/// index offering it for `linux/arm64` only as `diskless/root:arm64-only`.
pub struct Published {
    pub registry: Registry,
    pub artifact: Built,
    pub arm64_only: Blob,
}

impl Published {
    /// Starts an open registry over `dir/storage` and pushes the root with skopeo.
    pub fn new(dir: &Path, squashfs: Vec<u8>) -> Result<Published> {
        let storage = dir.join("storage");
        let registry = Registry::start(dir, &storage, &Auth::None, None)?;
        let artifact = squashfs_artifact(squashfs)?;
        let arm64_only = index(&[(&artifact.manifest, "linux", "arm64")])?;
        let layout = dir.join("layout");
        let _ = std::fs::remove_dir_all(&layout);
        let blobs: Vec<&Blob> = artifact.layers.iter().chain([&artifact.config]).collect();
        write_layout(
            &layout,
            &[blobs.as_slice(), &[&artifact.manifest]].concat(),
            &[("v1", &artifact.manifest), ("arm64-only", &arm64_only)],
        )?;
        let dest = format!("{}/{REPOSITORY}", registry.host_addr());
        skopeo_push(&layout, "v1", &format!("{dest}:v1"), None)?;
        skopeo_push(&layout, "arm64-only", &format!("{dest}:arm64-only"), None)?;
        Ok(Published {
            registry,
            artifact,
            arm64_only,
        })
    }

    /// The squashfs layer's digest (`sha256:<hex>`).
    pub fn layer_digest(&self) -> &str {
        self.artifact
            .layers
            .first()
            .map_or("", |l| l.digest.as_str())
    }
}

/// Whether `docker-registry`, `skopeo` and `htpasswd` are installed; the missing one's name.
pub fn missing_tool() -> Option<&'static str> {
    ["docker-registry", "skopeo", "htpasswd"]
        .into_iter()
        .find(|tool| {
            !std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(tool).is_file())
            })
        })
}
