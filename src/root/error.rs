//! What stops the boot while the new root is assembled: a mount, a share, a path the admin
//! named, a configuration archive, an identity file, the switch itself. Each names the path,
//! share or URL and, where a key decides it, the key; each keeps its cause.

use std::io;
use std::path::PathBuf;

use crate::archive::ArchiveError;
use crate::identity::HostnameError;
use crate::image::error::SessionError;
use crate::image::fetch::FetchError;

#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("{what} {}: {source}", target.display())]
    Mount {
        what: String,
        target: PathBuf,
        source: io::Error,
    },
    #[error("no NFS server for {share}: give <server>:<path>, or the server field of ip=")]
    NfsNoServer { share: String },
    #[error("resolving NFS server {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("mounting NFS {source_spec} ({options}) on {}: {cause}{attempts}", target.display())]
    NfsMount {
        source_spec: String,
        options: String,
        target: PathBuf,
        #[source]
        cause: io::Error,
        attempts: String,
    },
    #[error("{key}={path}: {reason}")]
    PathInRoot {
        key: &'static str,
        path: String,
        reason: String,
    },
    #[error("{what} {}: {source}", path.display())]
    Storage {
        what: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{key}: {source}")]
    NodeDir {
        key: &'static str,
        source: HostnameError,
    },
    #[error("{key}={url}: {cause}")]
    ConfigArchive {
        key: &'static str,
        url: String,
        #[source]
        cause: Box<ArchiveCause>,
    },
    #[error("applying layer {layer} of {image}: {cause}")]
    Layer {
        image: String,
        layer: String,
        #[source]
        cause: LayerCause,
    },
    #[error("writing {} in the new root: {source}", path.display())]
    IdentityFile { path: PathBuf, source: io::Error },
    #[error("{what}: {source}")]
    SwitchRoot { what: String, source: io::Error },
    #[error("init={init}: no such program in the new root (give init= the root's own init)")]
    NoInit { init: String },
}

/// Why a configuration archive was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveCause {
    /// The command line asks for what cannot be: a read-only root, an unknown placeholder,
    /// a signature missing where the initramfs has a key.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("creating {}: {source}", path.display())]
    Store { path: PathBuf, source: io::Error },
    #[error("fetching it: {0}")]
    Fetch(#[source] FetchError),
    #[error("fetching {url}: {source}")]
    FetchSignature { url: String, source: FetchError },
    #[error("reading the fetched archive: {0}")]
    Read(#[source] io::Error),
    #[error("{url}: {reason}: not applying it")]
    Signature { url: String, reason: String },
    #[error("{0}: not applying it")]
    Extract(#[source] ArchiveError),
}

/// Why an ordinary container image's layer was not applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerCause {
    #[error("opening {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Extract(#[from] ArchiveError),
    /// The unpacked bytes are not the layer the image's config names.
    #[error("{0}")]
    DiffId(String),
}
