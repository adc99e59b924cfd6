//! NFS shares at boot: the root, the node's own writable directory (created on first boot,
//! never emptied), shared mounts such as /home, and persistent paths bind-mounted from the
//! node's directory (seed 003, without hand-made scripts).

use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::BootError;
use crate::fetch::RetryPolicy;
use crate::nfs::{NfsShare, NfsVersion};
use crate::sys::{self, MountOptions};

/// Where the share holding the node directories is mounted while the node's directory is
/// created; it is unmounted again right after.
const NODE_SHARE_MOUNT: &str = "/run/diskless/node-share";

/// What every NFS mount of one boot shares: our address, and how long to keep trying.
#[derive(Debug, Clone, Copy)]
pub struct NfsContext {
    pub client: IpAddr,
    /// The server named by `ip=` (later: DHCP's next-server), for shares without one.
    pub default_server: Option<IpAddr>,
    pub deadline: Instant,
    /// Backoff between tries, with this node's jitter so a cluster that lost its server
    /// does not come back in lockstep.
    pub retry: RetryPolicy,
}

impl NfsContext {
    /// Resolves the share's server (an address, or a name through the initramfs's resolver).
    pub fn server_of(&self, share: &NfsShare) -> Result<IpAddr, BootError> {
        let Some(host) = share.server.as_deref() else {
            return self.default_server.ok_or_else(|| BootError::NfsNoServer {
                share: share.describe(),
            });
        };
        if let Ok(addr) = host.parse::<IpAddr>() {
            return Ok(addr);
        }
        let addrs = sys::resolve_ipv4(host).map_err(|err| BootError::Resolve {
            host: host.to_owned(),
            reason: err.to_string(),
        })?;
        // resolve_ipv4 never returns an empty list.
        Ok(IpAddr::V4(addrs[0]))
    }

    /// Mounts `share` on `target`, retrying transient failures (server not up yet, network
    /// still settling) until the deadline. A missing export or a refusal is final at once.
    pub fn mount(
        &self,
        share: &NfsShare,
        default: NfsVersion,
        target: &Path,
        read_only: bool,
    ) -> Result<(), BootError> {
        let server = self.server_of(share)?;
        let spec = share.mount_spec(default, server, self.client, read_only);
        let options = MountOptions {
            read_only,
            ..MountOptions::default()
        };
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match sys::mount(&spec.source, target, spec.fstype, options, &spec.data) {
                Ok(()) => {
                    log::info!(
                        "mounted NFS {} ({}, {}) on {} in {:.0} ms",
                        spec.source,
                        spec.data,
                        if read_only { "ro" } else { "rw" },
                        target.display(),
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                    return Ok(());
                }
                Err(err) => {
                    let delay = self.retry.delay(attempt);
                    if !retryable(&err) || Instant::now() + delay > self.deadline {
                        let attempts = if attempt > 1 {
                            format!(" (after {attempt} attempts)")
                        } else {
                            String::new()
                        };
                        return Err(BootError::NfsMount {
                            source_spec: spec.source,
                            options: spec.data,
                            target: target.to_path_buf(),
                            cause: explain(err),
                            attempts,
                        });
                    }
                    log::warn!(
                        "mounting NFS {}: {err}; retrying in {:.1} s",
                        spec.source,
                        delay.as_secs_f64()
                    );
                    std::thread::sleep(delay);
                }
            }
        }
    }
}

fn retryable(err: &io::Error) -> bool {
    use nix::libc::{ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH, EIO, ENETUNREACH, ETIMEDOUT};
    matches!(
        err.raw_os_error(),
        Some(ECONNREFUSED | EHOSTDOWN | EHOSTUNREACH | EIO | ENETUNREACH | ETIMEDOUT)
    )
}

/// The kernel's bare errno says little; name the usual cause.
fn explain(err: io::Error) -> io::Error {
    let hint = match err.raw_os_error() {
        Some(nix::libc::ENOENT) => "the server does not export that path",
        Some(nix::libc::EACCES) | Some(nix::libc::EPERM) => "the server refused this client",
        Some(nix::libc::ECONNREFUSED) => "nothing answers on the NFS port",
        Some(nix::libc::ETIMEDOUT) => "the server did not answer",
        Some(nix::libc::ENODEV) => "no NFS support in this kernel or image",
        _ => return err,
    };
    io::Error::new(err.kind(), format!("{err}: {hint}"))
}

fn storage_err(what: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> BootError {
    let what = what.into();
    let path = path.to_path_buf();
    move |source| BootError::Storage { what, path, source }
}

/// `<root>` joined with an absolute path from the command line.
pub fn in_root(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

/// Makes sure a mount point exists; on a read-only root it must already be there.
fn mount_point(path: &Path, dir: bool) -> Result<(), BootError> {
    if path.exists() {
        return Ok(());
    }
    let created = if dir {
        std::fs::create_dir_all(path)
    } else {
        path.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, b""))
    };
    created.map_err(storage_err("creating the mount point", path))
}

/// The node's directory on the `diskless.node=` share: created with mode 0755 when missing,
/// never emptied or overwritten when present. Returns whether it was created.
pub fn ensure_node_dir(ctx: &NfsContext, share: &NfsShare, dir: &str) -> Result<bool, BootError> {
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
pub fn mount_node_dir(
    ctx: &NfsContext,
    share: &NfsShare,
    dir: &str,
    mount_at: &Path,
) -> Result<(), BootError> {
    let node_share = NfsShare {
        path: format!("{}/{dir}", share.path.trim_end_matches('/')),
        ..share.clone()
    };
    mount_point(mount_at, true)?;
    ctx.mount(&node_share, NfsVersion::V3, mount_at, false)
}

/// Mounts a shared share (`diskless.mount=`) read-write unless its options say `ro`.
pub fn mount_shared(ctx: &NfsContext, share: &NfsShare, mount_at: &Path) -> Result<(), BootError> {
    mount_point(mount_at, true)?;
    let read_only = share.read_write() == Some(false);
    ctx.mount(share, NfsVersion::V3, mount_at, read_only)
}

/// Bind-mounts `<node dir>/persist/<path>` onto `<root>/<path>`. The first boot seeds the
/// node's copy with the image's content; later boots keep what the node wrote.
pub fn persist(root: &Path, node_dir: &Path, path: &str) -> Result<(), BootError> {
    let stored = node_dir.join("persist").join(path.trim_start_matches('/'));
    let target = in_root(root, path);
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
    mount_point(&target, is_dir)?;
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
    fn the_usual_nfs_errors_get_a_plain_cause() {
        let cases = [
            (nix::libc::ENOENT, "the server does not export that path"),
            (nix::libc::ECONNREFUSED, "nothing answers on the NFS port"),
            (nix::libc::EACCES, "the server refused this client"),
        ];
        for (errno, hint) in cases {
            let text = explain(io::Error::from_raw_os_error(errno)).to_string();
            assert!(text.contains(hint), "{text}");
        }
        assert!(retryable(&io::Error::from_raw_os_error(
            nix::libc::ETIMEDOUT
        )));
        assert!(
            !retryable(&io::Error::from_raw_os_error(nix::libc::ENOENT)),
            "a missing export will not appear"
        );
    }

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
