//! Writing the node's identity into the new root: /etc/hostname, /etc/hosts, /etc/machine-id
//! and /etc/resolv.conf. The writes land in the overlay's upper layer, so the shared image
//! itself never changes. The contents come from the pure [`crate::etcfiles`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::BootError;
use crate::etcfiles;
use crate::identity::{self, Mac};

/// What the identity step decided, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub machine_id: String,
    pub wrote_machine_id: bool,
    pub wrote_resolv_conf: bool,
}

fn read_optional(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Replaces a file, never writing through a symlink that points out of the root: a link
/// (e.g. /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf) is replaced by a file.
fn write(root: &Path, relative: &str, contents: &str) -> Result<(), BootError> {
    let path: PathBuf = root.join(relative);
    let fail = |source| BootError::Configure {
        path: PathBuf::from("/").join(relative),
        source,
    };
    if std::fs::symlink_metadata(&path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
    {
        std::fs::remove_file(&path).map_err(fail)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(&path, contents).map_err(fail)
}

/// Writes the identity files into `root`.
pub fn write_identity(
    root: &Path,
    name: &str,
    mac: &Mac,
    dns: &[IpAddr],
) -> Result<Written, BootError> {
    write(root, "etc/hostname", &etcfiles::hostname_file(name))?;
    let hosts = read_optional(&root.join("etc/hosts"));
    write(
        root,
        "etc/hosts",
        &etcfiles::hosts_file(hosts.as_deref(), name),
    )?;

    let image_id = read_optional(&root.join("etc/machine-id"));
    let (machine_id, wrote_machine_id) = if etcfiles::machine_id_needs_setting(image_id.as_deref())
    {
        let id = identity::machine_id(mac);
        write(root, "etc/machine-id", &format!("{id}\n"))?;
        (id, true)
    } else {
        let id = image_id.unwrap_or_default().trim().to_owned();
        log::warn!(
            "the image carries machine-id {id}: every node booting it shares that id (empty /etc/machine-id in the image to derive one per node)"
        );
        (id, false)
    };

    let wrote_resolv_conf = match etcfiles::resolv_conf(dns, None, &[]) {
        Some(contents) => {
            write(root, "etc/resolv.conf", &contents)?;
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
