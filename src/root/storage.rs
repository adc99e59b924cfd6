//! Per-node storage (seed 003, without hand-made scripts): the node's own writable directory
//! on an NFS share (created on first boot, never emptied), shared mounts such as /home, and
//! persistent paths bind-mounted from the node's directory.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::etcfiles;
use super::nfs::NfsContext;
use super::paths;
use crate::cmdline::config::BootConfig;
use crate::cmdline::nfs::{NfsShare, NfsVersion};
use crate::error::BootError;
use crate::identity::Mac;
use crate::sys;

/// Where the share holding the node directories is mounted while the node's directory is
/// created; it is unmounted again right after.
const NODE_SHARE_MOUNT: &str = "/run/diskless/node-share";

/// The node's directory, shared mounts and persistent paths, as the command line asks.
pub fn attach(
    nfs: &NfsContext,
    config: &BootConfig,
    root: &Path,
    name: &str,
    mac: &Mac,
    cmdline_text: &str,
) -> Result<(), BootError> {
    if let Some(node) = &config.node {
        // Where it goes first: nothing touches the share for a mount point that is refused.
        let node_dir = paths::mount_target(root, "diskless.node.mount", &config.node_mount)?;
        let dir = config
            .node_dir
            .render(mac, None)
            .map_err(|source| BootError::Hostname {
                key: "diskless.node.dir",
                source,
            })?;
        let created = ensure_node_dir(nfs, node, &dir)?;
        log::info!(
            "node directory {}/{dir} {}",
            node.describe(),
            if created {
                "created (first boot)"
            } else {
                "found"
            }
        );
        mount_node_dir(nfs, node, &dir, &node_dir)?;
        // Seed 003 keeps these on the node's directory, so images that link /etc/hostname
        // to /var/local/hostname keep working and the server shows which node is which.
        let image_hosts = paths::resolve_in_root(root, "/etc/hosts")
            .and_then(|p| std::fs::read_to_string(p).ok());
        for (file, contents) in [
            ("hostname", etcfiles::hostname_file(name)),
            ("hosts", etcfiles::hosts_file(image_hosts.as_deref(), name)),
            ("cmdline", cmdline_text.to_owned()),
        ] {
            let path = node_dir.join(file);
            std::fs::write(&path, contents).map_err(storage_err("writing", &path))?;
        }
        for path in &config.persist {
            persist(root, &node_dir, path)?;
        }
    }
    for mount in &config.mounts {
        let target = paths::mount_target(root, "diskless.mount", &mount.mountpoint)?;
        mount_shared(nfs, &mount.share, &target)?;
    }
    Ok(())
}

fn storage_err(what: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> BootError {
    let what = what.into();
    let path = path.to_path_buf();
    move |source| BootError::Storage { what, path, source }
}

/// The node's directory on the `diskless.node=` share: created with mode 0755 when missing,
/// never emptied or overwritten when present. Returns whether it was created.
fn ensure_node_dir(ctx: &NfsContext, share: &NfsShare, dir: &str) -> Result<bool, BootError> {
    let staging = Path::new(NODE_SHARE_MOUNT);
    std::fs::create_dir_all(staging).map_err(storage_err("creating", staging))?;
    ctx.mount(share, NfsVersion::V3, staging, false)?;
    let node_dir = staging.join(dir);
    let created = match std::fs::create_dir(&node_dir) {
        Ok(()) => {
            let _ = std::fs::set_permissions(&node_dir, std::fs::Permissions::from_mode(0o755));
            true
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && node_dir.is_dir() => false,
        Err(err) => {
            let _ = sys::unmount(staging);
            return Err(storage_err(
                format!("creating the node directory on {}:", share.describe()),
                &node_dir,
            )(err));
        }
    };
    sys::unmount(staging).map_err(storage_err("unmounting", staging))?;
    let _ = std::fs::remove_dir(staging);
    Ok(created)
}

/// Mounts the node's directory (`<export>/<dir>`) read-write at `mount_at` in the new root.
fn mount_node_dir(
    ctx: &NfsContext,
    share: &NfsShare,
    dir: &str,
    mount_at: &Path,
) -> Result<(), BootError> {
    let node_share = NfsShare {
        path: format!("{}/{dir}", share.path.trim_end_matches('/')),
        ..share.clone()
    };
    paths::ensure_mount_point(mount_at, true)?;
    ctx.mount(&node_share, NfsVersion::V3, mount_at, false)
}

/// Mounts a shared share (`diskless.mount=`) read-write unless its options say `ro`.
fn mount_shared(ctx: &NfsContext, share: &NfsShare, mount_at: &Path) -> Result<(), BootError> {
    paths::ensure_mount_point(mount_at, true)?;
    let read_only = share.read_write() == Some(false);
    ctx.mount(share, NfsVersion::V3, mount_at, read_only)
}

/// Bind-mounts `<node dir>/persist/<path>` onto `<root>/<path>`. The first boot seeds the
/// node's copy with the image's content; later boots keep what the node wrote. Both ends are
/// resolved inside their own tree: a symlink in the image or on the share cannot make the
/// bind expose or cover anything outside them.
fn persist(root: &Path, node_dir: &Path, path: &str) -> Result<(), BootError> {
    let target = paths::mount_target(root, "diskless.persist", path)?;
    let stored = paths::resolve(
        node_dir,
        &format!("/persist/{}", path.trim_start_matches('/')),
    )
    .map_err(|err| BootError::PathInRoot {
        key: "diskless.persist",
        path: path.to_owned(),
        reason: format!("in the node directory: {err}"),
    })?
    .path;
    let is_dir = std::fs::metadata(&target)
        .map(|m| m.is_dir())
        .unwrap_or(true);
    if std::fs::symlink_metadata(&stored).is_err() {
        if let Some(parent) = stored.parent() {
            std::fs::create_dir_all(parent).map_err(storage_err("creating", parent))?;
        }
        if target.exists() {
            copy_tree(&target, &stored).map_err(storage_err(
                format!("seeding it from the image's {path}:"),
                &stored,
            ))?;
            log::info!(
                "persist {path}: first boot, seeded {} from the image",
                stored.display()
            );
        } else {
            std::fs::create_dir(&stored).map_err(storage_err("creating", &stored))?;
            log::info!(
                "persist {path}: first boot, created {} (empty)",
                stored.display()
            );
        }
    } else {
        log::info!(
            "persist {path}: keeping {} from earlier boots",
            stored.display()
        );
    }
    paths::ensure_mount_point(&target, is_dir)?;
    sys::bind_mount(&stored, &target, false).map_err(storage_err(
        format!("bind-mounting {} on", stored.display()),
        &target,
    ))
}

/// Copies a file or a tree with modes, owners and symlinks (device files are skipped: they
/// have no place on a share).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if kind.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if kind.is_file() {
        std::fs::copy(from, to)?;
    } else {
        return Ok(());
    }
    if !kind.is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    // An export that squashes root cannot take our chown; the content still persists.
    let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_copies_modes_and_links() {
        let base = std::env::temp_dir().join(format!("diskless-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let src = base.join("etc/ssh");
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::write(src.join("ssh_host_ed25519_key"), b"secret").expect("write");
        std::fs::set_permissions(
            src.join("ssh_host_ed25519_key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        std::os::unix::fs::symlink("ssh_host_ed25519_key", src.join("link")).expect("symlink");
        let dst = base.join("persist/etc/ssh");
        std::fs::create_dir_all(base.join("persist/etc")).expect("mkdir");
        copy_tree(&src, &dst).expect("copy");
        let key = dst.join("ssh_host_ed25519_key");
        assert_eq!(std::fs::read(&key).expect("read"), b"secret");
        assert_eq!(std::fs::metadata(&key).expect("meta").mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_link(dst.join("link")).expect("link"),
            Path::new("ssh_host_ed25519_key")
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
