//! The new root, assembled as the plan's layout says: from a verified image, an ordinary
//! container image's layers or an NFS export ([`assemble`], [`layers`], [`nfs`]), with RAM
//! where a read-only root needs writes ([`volatile`]), given the node's storage
//! ([`storage`]), its configuration archives ([`config_archives`]) and identity
//! ([`identity_files`], [`etcfiles`]), with every path resolved inside it ([`paths`]), then
//! switched to ([`switch`]). What stops it is a [`error::RootError`].
//!
//! Everything the init leaves for the real system lives under
//! [`crate::rundir::STATE_DIR`] in /run, which moves into the new root.

pub mod assemble;
pub mod config_archives;
pub mod error;
pub mod etcfiles;
pub mod identity_files;
pub mod layers;
pub mod nfs;
pub mod paths;
pub mod storage;
pub mod switch;
pub mod volatile;
