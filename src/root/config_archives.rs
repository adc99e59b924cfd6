//! Configuration archives (`diskless.config=`, `apkovl=`) laid over the assembled root
//! before switch_root: each fetched with the image's fetch layer, held to the initramfs's
//! minisign key when it has one, checked whole against the entry policy, and only then
//! written, beneath the new root and never through a symbolic link. Every archive is
//! fetched and verified before the first is applied: a bad one anywhere means none is.

use std::path::Path;

use super::error::{ArchiveCause, RootError};
use crate::archive;
use crate::archive::policy::{Limits, Plain};
use crate::archive::write::{Confined, Probe};
use crate::clock::Settled;
use crate::cmdline::config::BootConfig;
use crate::cmdline::config_archives::Values;
use crate::hex;
use crate::image::SessionSlot;
use crate::image::failure::Failure;
use crate::image::fetch::FetchError;
use crate::image::signature::{self, Binding, Signer};
use crate::image::trust;
use crate::rundir::STATE_DIR;

/// The most an archive may weigh as fetched (it is held in RAM while it is checked).
const MAX_ARCHIVE_BYTES: u64 = 64 * 1024 * 1024;
/// A `.minisig` file is a few hundred bytes.
const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// One archive as applied, for the log and the boot record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub url: String,
    pub sha256: [u8; 32],
    pub bytes: u64,
    pub format: &'static str,
    pub entries: u32,
    /// `None`: no key in the initramfs (then only TLS, if https, vouched for it).
    pub signer: Option<Signer>,
}

/// A fetched, verified archive waiting to be applied.
struct Verified {
    spec_key: &'static str,
    url: String,
    data: Vec<u8>,
    sha256: [u8; 32],
    signer: Option<Signer>,
}

/// Where the archives go.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The new root.
    pub root: &'a Path,
    /// Whether it takes writes (an overlay or a read-write NFS root).
    pub writable: bool,
}

/// Fetches, verifies and applies `config.archives` to the target in order.
pub fn apply(
    config: &BootConfig,
    node: &[u8],
    settled: Settled,
    sessions: &mut SessionSlot,
    values: &Values<'_>,
    target: Target<'_>,
) -> Result<Vec<Applied>, RootError> {
    let Target {
        root: new_root,
        writable: root_writable,
    } = target;
    let Some(first) = config.archives.first() else {
        return Ok(Vec::new());
    };
    // What fails before any archive is fetched is told of the first.
    let setup = |cause: ArchiveCause| RootError::ConfigArchive {
        key: first.key,
        url: first.url.to_string(),
        cause: Box::new(cause),
    };
    if !root_writable {
        return Err(setup(ArchiveCause::Refused(
            "the new root is read-only (an NFS root without an overlay, or \
             diskless.overlay=none): archives need a writable root, give \
             diskless.overlay=tmpfs (or rw for a writable NFS root)"
                .to_owned(),
        )));
    }
    let client = sessions
        .get(config, node, settled)
        .map_err(|e| setup(e.into()))?;
    let key_path = Path::new("/").join(trust::CONFIG_KEY);
    let key = match std::fs::read_to_string(&key_path) {
        Ok(text) => Some(signature::parse_key(&text).map_err(|reason| {
            setup(ArchiveCause::Key {
                path: key_path.clone(),
                reason,
            })
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(setup(ArchiveCause::Key {
                path: key_path.clone(),
                reason: format!("reading it: {e}"),
            }));
        }
    };
    let dir = Path::new(STATE_DIR).join("config");
    std::fs::create_dir_all(&dir).map_err(|source| {
        setup(ArchiveCause::Store {
            path: dir.clone(),
            source,
        })
    })?;

    let mut verified = Vec::new();
    for (index, spec) in config.archives.iter().enumerate() {
        let url = spec
            .url
            .render(values)
            .map_err(|reason| RootError::ConfigArchive {
                key: spec.key,
                url: spec.url.to_string(),
                cause: Box::new(ArchiveCause::Refused(reason)),
            })?;
        let fail = |cause: ArchiveCause| RootError::ConfigArchive {
            key: spec.key,
            url: url.clone(),
            cause: Box::new(cause),
        };
        if key.is_none() && url.starts_with("http://") {
            log::warn!(
                "INSECURE: {url} comes over plain http and the initramfs has no key to check \
                 it with: anyone on the network can change what it lays over the root \
                 (build with --config-key, or serve it over https)"
            );
        }
        let dest = dir.join(format!("{index}.archive"));
        let fetched = client.fetch_file(&url, &dest, MAX_ARCHIVE_BYTES);
        let data = read_and_remove(&dest);
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(err) if spec.optional && not_found(&err) => {
                log::info!("{}={url}: not found, and optional (?): skipped", spec.key);
                continue;
            }
            Err(err) => return Err(fail(ArchiveCause::Fetch(err))),
        };
        let data = data.map_err(|e| fail(ArchiveCause::Read(e)))?;
        let signer = match &key {
            None => None,
            Some((key, comment)) => {
                let sig_url = format!("{url}.minisig");
                let sig_dest = dir.join(format!("{index}.minisig"));
                let got = client.fetch_file(&sig_url, &sig_dest, MAX_SIGNATURE_BYTES);
                let text = read_and_remove(&sig_dest);
                match got {
                    Ok(_) => {}
                    Err(err) if not_found(&err) => {
                        return Err(fail(ArchiveCause::Refused(format!(
                            "no signature at {sig_url}: the initramfs has a key \
                             (/{}) and applies only signed archives",
                            trust::CONFIG_KEY
                        ))));
                    }
                    Err(source) => {
                        return Err(fail(ArchiveCause::FetchSignature {
                            url: sig_url,
                            source,
                        }));
                    }
                }
                let text = text
                    .ok()
                    .and_then(|t| String::from_utf8(t).ok())
                    .ok_or_else(|| fail(ArchiveCause::Refused(format!("{sig_url} is not text"))))?;
                Some(
                    signature::verify(
                        key,
                        comment,
                        &text,
                        &data,
                        Binding {
                            file: signature::file_name(&url),
                            now: settled_now(),
                        },
                    )
                    .map_err(|reason| {
                        fail(ArchiveCause::Signature {
                            url: sig_url.clone(),
                            reason,
                        })
                    })?,
                )
            }
        };
        log::info!(
            "fetched {url}: {} bytes in {:.2} s, sha256 {}{}",
            fetched.bytes,
            fetched.elapsed.as_secs_f64(),
            hex::encode(&fetched.sha256),
            match &signer {
                Some(s) => format!(", signature good ({}; {})", s.key, s.trusted_comment),
                None => String::new(),
            }
        );
        verified.push(Verified {
            spec_key: spec.key,
            url,
            data,
            sha256: fetched.sha256,
            signer,
        });
    }

    // Every entry of every archive is checked against the policy, and against the mounts in
    // the root, before anything is written.
    let limits = Limits::default();
    let open_root = |source| RootError::Storage {
        what: "opening the new root".to_owned(),
        path: new_root.to_path_buf(),
        source,
    };
    let mut probe = Probe::open(new_root).map_err(open_root)?;
    for archive in &verified {
        archive::extract(&archive.data, limits, &mut Plain::new(limits), &mut probe)
            .map_err(|e| refusal(archive, e))?;
    }
    let mut applied = Vec::new();
    for archive in verified {
        let mut sink = Confined::open(new_root).map_err(open_root)?;
        let summary = archive::extract(&archive.data, limits, &mut Plain::new(limits), &mut sink)
            .map_err(|e| refusal(&archive, e))?;
        let format = summary.format.map_or("tar", archive::Format::name);
        log::info!(
            "applied {} ({format}, {} entries, {} bytes of files)",
            archive.url,
            summary.entries,
            summary.file_bytes
        );
        applied.push(Applied {
            url: archive.url,
            sha256: archive.sha256,
            bytes: archive.data.len() as u64,
            format,
            entries: summary.entries,
            signer: archive.signer,
        });
    }
    Ok(applied)
}

fn refusal(archive: &Verified, err: archive::ArchiveError) -> RootError {
    RootError::ConfigArchive {
        key: archive.spec_key,
        url: archive.url.clone(),
        cause: Box::new(ArchiveCause::Extract(err)),
    }
}

/// The node's clock, settled by the clock step, in seconds since the epoch.
fn settled_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The file's bytes; the file is removed either way (archives may hold secrets, and /run
/// moves into the real root).
fn read_and_remove(path: &Path) -> std::io::Result<Vec<u8>> {
    let data = std::fs::read(path);
    let _ = std::fs::remove_file(path);
    data
}

/// Whether every source answered 404 or 410.
fn not_found(err: &FetchError) -> bool {
    !err.failures.is_empty()
        && err
            .failures
            .iter()
            .all(|(_, f)| matches!(f, Failure::Status(404 | 410)))
}

/// The DMI product_uuid, as the firmware gives it (`None` without DMI or a UUID).
pub fn product_uuid() -> Option<String> {
    std::fs::read_to_string("/sys/class/dmi/id/product_uuid")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::tokenize::parse;

    #[test]
    fn a_read_only_root_is_refused_before_anything_is_fetched() {
        let config = BootConfig::from_params(&parse(
            "root=nfs:10.0.2.2:/srv/root apkovl=http://h/{MAC}.tgz",
        ))
        .expect("parses");
        let values = Values {
            mac: "52:54:00:12:34:56",
            hostname: "worker-64e59a",
            ip: "10.0.2.15",
            uuid: None,
        };
        let err = apply(
            &config,
            &[0; 6],
            Settled::default(),
            &mut SessionSlot::default(),
            &values,
            Target {
                root: Path::new("/nonexistent"),
                writable: false,
            },
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.starts_with("apkovl=http://h/{MAC}.tgz: the new root is read-only"),
            "{err}"
        );
        assert!(err.contains("diskless.overlay=tmpfs"), "{err}");
        // Without archives there is nothing to do, writable or not.
        let none = BootConfig::from_params(&parse("root=nfs:10.0.2.2:/r")).expect("parses");
        assert_eq!(
            apply(
                &none,
                &[0; 6],
                Settled::default(),
                &mut SessionSlot::default(),
                &values,
                Target {
                    root: Path::new("/x"),
                    writable: false,
                },
            )
            .ok(),
            Some(Vec::new())
        );
    }
}
