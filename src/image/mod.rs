//! The root image: fetched into RAM from `root=`'s URL and the mirrors, held to what the
//! initramfs vouches for (CA bundle, client certificate, pinned hash), and checked before
//! anything mounts it. Nothing is mounted from bytes that failed verification.
//!
//! [`fetch`] is the retrying, resuming, hashing download over the [`http`] transport;
//! [`sources`] and [`hashing`] are its parts; [`tls`] and [`trust`] what the initramfs
//! vouches for; [`squashfs`] the superblock check; [`verity`] the dm-verity superblock and
//! table of a block device root.

pub mod block;
pub mod error;
pub mod failure;
pub mod fetch;
pub mod hashing;
pub mod http;
pub mod nbd;
pub mod oci;
pub mod signature;
pub mod sources;
pub mod squashfs;
pub mod tls;
pub mod trust;
pub mod verity;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Settled;
use crate::cmdline::config::BootConfig;
use crate::hex;
use crate::retry::{self, RetryPolicy};
use crate::rundir::STATE_DIR;
use crate::sys;
use error::{Cause, ImageError, SessionError};
use fetch::{Fetched, Job, Progress};
use http::{HttpLimits, HttpTransport};
use tls::Clock;
use trust::{Expected, HashSource, Trust};

/// What the fetch delivered, and the hash it was held to (none: only the superblock check
/// stands between the bytes and the mount).
#[derive(Debug)]
pub struct Downloaded {
    pub fetched: Fetched,
    pub expected: Option<Expected>,
}

/// What every fetch of this boot shares: the trust files, the HTTP(S) transport, the retry
/// policy and the RAM budget.
pub struct Session {
    pub trust: Trust,
    pub transport: HttpTransport,
    pub policy: RetryPolicy,
    pub ram_budget: Option<u64>,
}

impl Session {
    /// Reads the initramfs's trust files and sets up the transport. `node` (the MAC) seeds
    /// the retry jitter.
    pub fn open(
        config: &BootConfig,
        node: &[u8],
        settled: Settled,
    ) -> Result<Session, SessionError> {
        std::fs::create_dir_all(STATE_DIR).map_err(|source| SessionError::StateDir {
            path: STATE_DIR,
            source,
        })?;
        // The trust files live in the initramfs only, which switch_root deletes; the client
        // key is read into this process (replaced by exec) and written nowhere else.
        let trust = Trust::load(Path::new("/")).map_err(SessionError::Trust)?;
        let tls = client_tls(&trust).map_err(SessionError::Tls)?;
        let clock = Clock::system(settled);
        if let Some(doubt) = clock.doubt() {
            log::warn!("{doubt}");
        }
        let boot_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
        let policy = RetryPolicy::with_deadline(Duration::from_secs(u64::from(config.retry_secs)))
            .seeded(retry::jitter_seed(node, boot_nanos));
        // A failed check leaves the budget open: tmpfs still refuses to overfill.
        let ram_budget = sys::free_bytes(Path::new(STATE_DIR))
            .map_err(|e| log::warn!("measuring the free RAM of {}: {e}", STATE_DIR))
            .ok();
        Ok(Session {
            trust,
            transport: HttpTransport::new(tls, HttpLimits::default(), clock),
            policy,
            ram_budget,
        })
    }

    /// Fetches one small file (a configuration archive, a signature) from `url` alone into
    /// `dest`, with the same retries, resumes and TLS as the image; at most `max_bytes`.
    pub fn fetch_file(
        &self,
        url: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> Result<Fetched, fetch::FetchError> {
        let sources = [url.to_owned()];
        let job = Job {
            sources: &sources,
            dest,
            expected: None,
            ram_budget: Some(max_bytes),
            limit: None,
        };
        fetch::fetch_to_file(&self.transport, &job, &self.policy, log_event)
    }
}

/// The boot's one [`Session`], opened by the first step that fetches anything (the root
/// image, a registry pull or the configuration archives) and kept for the later ones, so the
/// trust files are read and the TLS configuration built once per boot.
#[derive(Default)]
pub struct SessionSlot(Option<Session>);

impl SessionSlot {
    /// The session, opened now if no step has opened it yet.
    pub fn get(
        &mut self,
        config: &BootConfig,
        node: &[u8],
        settled: Settled,
    ) -> Result<&Session, SessionError> {
        let session = match self.0.take() {
            Some(session) => session,
            None => Session::open(config, node, settled)?,
        };
        Ok(self.0.insert(session))
    }
}

/// Logs a fetch's events.
pub fn log_event(event: fetch::Event<'_>) {
    let (level, line) = event.log_line();
    log::log!(level, "{line}");
}

/// Fetches the image from `root=`'s URL, then the mirrors, into `dest`, holding it to what
/// the initramfs vouches for. `node` (the MAC) seeds the retry jitter.
pub fn download(
    url: &str,
    dest: &Path,
    config: &BootConfig,
    node: &[u8],
    settled: Settled,
    sessions: &mut SessionSlot,
) -> Result<Downloaded, ImageError> {
    let wrap = |cause: Cause| ImageError::Fetch {
        url: url.to_owned(),
        cause,
    };
    let session = sessions
        .get(config, node, settled)
        .map_err(|e| wrap(e.into()))?;
    let (expected, conflict) = trust::expected_hash(session.trust.pin, config.image_sha256);
    if let Some(conflict) = conflict {
        log::warn!("{conflict}");
    }
    let sources: Vec<String> = std::iter::once(url.to_owned())
        .chain(config.mirrors.iter().cloned())
        .collect();
    for warning in trust::fetch_warnings(&sources, expected.as_ref()) {
        log::warn!("{warning}");
    }
    log::info!(
        "fetching {url} into {}{}",
        dest.display(),
        if config.mirrors.is_empty() {
            String::new()
        } else {
            format!(" (mirrors: {})", config.mirrors.join(", "))
        }
    );
    let job = Job {
        sources: &sources,
        dest,
        expected: expected.map(|e| e.sha256),
        ram_budget: session.ram_budget,
        limit: None,
    };
    let fetched = fetch::fetch_to_file(&session.transport, &job, &session.policy, log_event)
        .map_err(|err| fetch_error(err, expected, &wrap))?;
    log_fetched(&fetched);
    Ok(Downloaded { fetched, expected })
}

/// A failed fetch as an image error (`wrap` says whose: the image's URL, the pulled
/// image): a hash mismatch says who vouched for the hash.
pub fn fetch_error(
    err: fetch::FetchError,
    expected: Option<Expected>,
    wrap: &dyn Fn(Cause) -> ImageError,
) -> ImageError {
    match (err.hash_mismatch(), expected) {
        (Some((source, actual, wanted)), Some(e)) => ImageError::HashMismatch {
            url: source.to_owned(),
            expected: hex::encode(&wanted),
            actual: hex::encode(&actual),
            by: hash_authority(e.source),
        },
        _ => wrap(Cause::Transfer(err)),
    }
}

/// `fetched <url>: 12.0 MiB ..., sha256 <hex> (2 attempts)`
pub fn log_fetched(fetched: &Fetched) {
    let done = Progress {
        bytes: fetched.bytes,
        total: Some(fetched.bytes),
        elapsed: fetched.elapsed,
    };
    log::info!(
        "fetched {}: {}, sha256 {}{}",
        fetched.url,
        done.describe(),
        hex::encode(&fetched.sha256),
        match (fetched.attempts, fetched.resumes) {
            (1, _) => String::new(),
            (n, 0) => format!(" ({n} attempts)"),
            (n, 1) => format!(" ({n} attempts, resumed once)"),
            (n, r) => format!(" ({n} attempts, resumed {r} times)"),
        }
    );
}

/// The TLS client configuration from the initramfs's CA bundle and client certificate; none
/// without a bundle (then https sources fail: never unauthenticated).
fn client_tls(trust: &Trust) -> Result<Option<Arc<rustls::ClientConfig>>, tls::TlsSetupError> {
    let Some(ca) = &trust.ca_pem else {
        if trust.client.is_some() {
            log::warn!("the initramfs has a client certificate but no CA bundle: https is off");
        }
        return Ok(None);
    };
    let client = trust
        .client
        .as_ref()
        .map(|c| (c.cert_pem.as_slice(), c.key_pem.as_slice()));
    let config = tls::client_config(ca, client)?;
    log::info!(
        "https: servers must chain to /{}{}",
        trust::CA_BUNDLE,
        if client.is_some() {
            format!("; client certificate /{}", trust::CLIENT_CERT)
        } else {
            String::new()
        }
    );
    Ok(Some(config))
}

/// Who vouched for an expected hash, for the FATAL line.
fn hash_authority(source: HashSource) -> String {
    match source {
        HashSource::Pin => format!("{}: /{}", source.describe(), trust::IMAGE_PIN),
        other => other.describe().to_owned(),
    }
}

/// Nothing is mounted from data that failed verification: a bad image is deleted here.
/// The fetch already held the bytes to the expected hash as they streamed; this checks
/// again before anything is mounted, then checks the squashfs superblock.
pub fn verify(image: &Path, downloaded: &Downloaded) -> Result<(), ImageError> {
    let Downloaded { fetched, expected } = downloaded;
    let url = fetched.url.as_str();
    let reject = |err: ImageError| {
        let _ = std::fs::remove_file(image);
        err
    };
    match expected {
        Some(e) if fetched.sha256 != e.sha256 => {
            return Err(reject(ImageError::HashMismatch {
                url: url.to_owned(),
                expected: hex::encode(&e.sha256),
                actual: hex::encode(&fetched.sha256),
                by: hash_authority(e.source),
            }));
        }
        Some(e) => log::info!("sha256 matches ({})", e.source.describe()),
        None => log::warn!(
            "no pinned hash and no diskless.sha256: the contents of {url} are not verified, \
             only its squashfs superblock is"
        ),
    }
    let head = read_head(image, squashfs::SUPERBLOCK_LEN).map_err(|source| {
        reject(ImageError::ReadImage {
            path: image.to_path_buf(),
            source,
        })
    })?;
    let superblock = squashfs::check_superblock(&head, fetched.bytes).map_err(|source| {
        reject(ImageError::NotSquashfs {
            url: url.to_owned(),
            source,
        })
    })?;
    log::info!(
        "squashfs image: {} inodes, block size {}, compression id {}",
        superblock.inodes,
        superblock.block_size,
        superblock.compression
    );
    Ok(())
}

/// The first `len` bytes of `path` (fewer if it is shorter).
fn read_head(path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(len);
    std::fs::File::open(path)?
        .take(len as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}
