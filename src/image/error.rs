//! What stops the boot while fetching, pulling or checking a root image. Each error keeps
//! its cause ([`std::error::Error::source`]) and says which URL or image it was about; a
//! hash mismatch says who vouched for the hash.

use std::io;
use std::path::PathBuf;

use super::fetch::FetchError;
use super::nbd::NbdError;
use super::squashfs::SquashfsError;
use super::tls::TlsSetupError;
use super::trust::TrustError;
use super::verity::VerityError;

/// Why the boot's fetch session could not be opened: the initramfs's trust files or the
/// room for the image.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("creating {path}: {source}")]
    StateDir {
        path: &'static str,
        source: io::Error,
    },
    #[error("reading the initramfs's trust files: {0}")]
    Trust(#[source] TrustError),
    #[error("the TLS files in the initramfs: {0}")]
    Tls(#[source] TlsSetupError),
}

/// Why a fetch or a pull did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Transfer(#[from] FetchError),
    /// `/etc/diskless/registry-auth.json` is there but unusable.
    #[error("{}: {reason}", path.display())]
    Credentials { path: PathBuf, reason: String },
    /// What a registry served that the node refuses: a missing manifest, an index in an
    /// index, a blob larger than its descriptor or the RAM, a malformed document.
    #[error("{0}")]
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("fetching {url}: {cause}")]
    Fetch {
        url: String,
        #[source]
        cause: Cause,
    },
    #[error("pulling {image}: {cause}")]
    Pull {
        image: String,
        #[source]
        cause: Cause,
    },
    #[error("image {url} has sha256 {actual}, expected {expected} ({by}): not mounting it")]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
        /// Who vouched for the expected hash: `diskless.sha256` or the initramfs's pin.
        by: String,
    },
    #[error("reading the image {}: {source}", path.display())]
    ReadImage { path: PathBuf, source: io::Error },
    #[error("{url} is not a usable squashfs image: {source}")]
    NotSquashfs { url: String, source: SquashfsError },
    #[error("attaching the NBD export {export}: {cause}")]
    Nbd {
        export: String,
        #[source]
        cause: NbdError,
    },
    #[error("reading the initramfs's trust files: {0}")]
    Pin(#[source] TrustError),
    #[error("{export}: {source}: not mounting it (a dm-verity root hash is required)")]
    Verity { export: String, source: VerityError },
    #[error(
        "setting up dm-verity over {}: {source} (are dm_mod and dm_verity in the initramfs? \
         cargo xtask initrd packs them by default)",
        device.display()
    )]
    VerityDevice { device: PathBuf, source: io::Error },
    #[error(
        "{export} does not match the dm-verity root hash {root_hash} ({by}): its first block \
         fails verification ({source}): not mounting it"
    )]
    VerityMismatch {
        export: String,
        root_hash: String,
        by: &'static str,
        source: io::Error,
    },
}
