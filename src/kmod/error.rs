//! What stops the boot in module loading: an index that cannot be read, or a module the
//! root cannot be mounted without.

use std::path::PathBuf;

use super::index::IndexError;

#[derive(Debug, thiserror::Error)]
pub enum KmodError {
    #[error("reading the module index in {}: {source}", dir.display())]
    Index { dir: PathBuf, source: IndexError },
    /// `failure` names the module and why the kernel refused it.
    #[error("loading module {failure}: the root cannot be mounted without it")]
    Required { failure: String },
}
