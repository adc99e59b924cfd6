//! Writing the node's identity into the new root: /etc/hostname, /etc/hosts, /etc/machine-id
//! and /etc/resolv.conf. The shared image itself never changes: the writes land in the
//! overlay's upper layer, or, on a read-only root, in the node's directory or in /run copies
//! bind-mounted over the image's files. The contents come from the pure [`super::etcfiles`].

use std::path::{Path, PathBuf};

use super::error::RootError;
use super::{etcfiles, paths};
use crate::identity::{self, Mac};
use crate::net::Configured;
use crate::net::netconf;
use crate::plan::IdentityFiles;
use crate::sys;

/// What the identity step decided, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub machine_id: String,
    pub wrote_machine_id: bool,
    pub wrote_resolv_conf: bool,
}

fn read_optional(root: &Path, relative: &str) -> Option<String> {
    let path = paths::resolve_in_root(root, relative)?;
    std::fs::read_to_string(path).ok()
}

/// Where the files shown over a read-only root live (in /run, which moves with us).
const OVERLAID_FILES: &str = "/run/diskless/etc";

/// Puts `contents` at `relative` in the new root.
///
/// On a writable root (an overlay) the file is replaced, never written through a symlink
/// (e.g. /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf is replaced by a file).
/// On a read-only root nothing of the export is written: a symlink into a writable place
/// (an NFS root's /etc/hostname -> /var/local/hostname, on the node's directory) is written
/// through; otherwise a copy in /run is bind-mounted over the image's file.
fn place(root: &Path, writable: bool, relative: &str, contents: &str) -> Result<(), RootError> {
    let shown = PathBuf::from("/").join(relative);
    let fail = |source| RootError::IdentityFile {
        path: shown.clone(),
        source,
    };
    if writable {
        let path = root.join(relative);
        if std::fs::symlink_metadata(&path)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
        {
            std::fs::remove_file(&path).map_err(fail)?;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        return std::fs::write(&path, contents).map_err(fail);
    }
    let Some(target) = paths::resolve_for_write(root, &shown.to_string_lossy()) else {
        log::warn!(
            "{} cannot be shown: its directory is missing from the read-only root",
            shown.display()
        );
        return Ok(());
    };
    match std::fs::write(&target, contents) {
        Ok(()) => return Ok(()),
        Err(err) if err.raw_os_error() == Some(nix::libc::EROFS) => {}
        Err(err) => return Err(fail(err)),
    }
    if !target.is_file() {
        log::warn!(
            "{} cannot be shown: the read-only root has no such file to cover",
            shown.display()
        );
        return Ok(());
    }
    let copy = Path::new(OVERLAID_FILES).join(relative.replace('/', "_"));
    std::fs::create_dir_all(OVERLAID_FILES).map_err(fail)?;
    std::fs::write(&copy, contents).map_err(fail)?;
    sys::bind_mount(&copy, &target, true).map_err(fail)
}

/// Writes the identity files into `root`, into its /etc or over it as `files` says.
pub fn write(
    root: &Path,
    files: IdentityFiles,
    name: &str,
    mac: &Mac,
    net: &Configured,
) -> Result<Written, RootError> {
    let writable = files == IdentityFiles::Written;
    place(
        root,
        writable,
        "etc/hostname",
        &etcfiles::hostname_file(name),
    )?;
    let hosts = read_optional(root, "/etc/hosts");
    place(
        root,
        writable,
        "etc/hosts",
        &etcfiles::hosts_file(hosts.as_deref(), name),
    )?;

    let image_id = read_optional(root, "/etc/machine-id");
    let (machine_id, wrote_machine_id) = if etcfiles::machine_id_needs_setting(image_id.as_deref())
    {
        let id = identity::machine_id(mac);
        place(root, writable, "etc/machine-id", &format!("{id}\n"))?;
        (id, true)
    } else {
        let id = image_id.unwrap_or_default().trim().to_owned();
        log::warn!(
            "the image carries machine-id {id}: every node booting it shares that id (empty /etc/machine-id in the image to derive one per node)"
        );
        (id, false)
    };

    let wrote_resolv_conf = match netconf::resolv_conf(&net.dns, net.domain.as_deref(), &net.search)
    {
        Some(contents) => {
            place(root, writable, "etc/resolv.conf", &contents)?;
            true
        }
        None => false,
    };
    Ok(Written {
        machine_id,
        wrote_machine_id,
        wrote_resolv_conf,
    })
}
