//! Per-node storage (as HPC sites script it around a shared NFS root, here without scripts): the node's own writable directory
//! on an NFS share (created on first boot, never emptied), shared mounts such as /home, and
//! persistent paths bind-mounted from the node's directory.

use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::RootError;
use super::etcfiles;
use super::nfs::NfsContext;
use super::paths;
use crate::cmdline::config::BootConfig;
use crate::cmdline::nfs::NfsShare;
use crate::identity::Mac;
use crate::sys;

/// Where the share holding the node directories is mounted while the node's directory is
/// created; it is unmounted again right after.
const NODE_SHARE_MOUNT: &str = "/run/diskless/node-share";
/// Where the node's directory is mounted while persisted paths are bound from it; it moves
/// to `diskless.node.mount=` last, on top of them.
const NODE_STAGING: &str = "/run/diskless/node";

/// The node's directory, shared mounts and persistent paths, as the command line asks.
///
/// Order matters when paths nest: persisted paths are bound first, then the node's directory
/// moves to its mount point (so `diskless.persist=/var` cannot hide `/var/local`), then the
/// shared mounts. Every target is resolved, and overlaps refused, before the share is
/// touched.
pub fn attach(
    nfs: &NfsContext,
    config: &BootConfig,
    root: &Path,
    name: &str,
    mac: &Mac,
    cmdline_text: &str,
) -> Result<(), RootError> {
    if let Some(node) = &config.node {
        let node_mount = paths::mount_target(root, "diskless.node.mount", &config.node_mount)?;
        for path in &config.persist {
            let target = paths::mount_target(root, "diskless.persist", path)?;
            check_persist_outside_node(path, &target, &config.node_mount, &node_mount)?;
        }
        let dir = config
            .node_dir
            .render(mac, None)
            .map_err(|source| RootError::NodeDir {
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
        let staging = Path::new(NODE_STAGING);
        mount_node_dir(nfs, node, &dir, staging)?;
        // Only now: while the share stays mounted the node's mount reuses its NFS client (and
        // its NFSv4 session) instead of the server tearing one down and setting up another.
        release_node_share();
        // Shared NFS roots keep these on the node's directory, so images that link /etc/hostname
        // to /var/local/hostname keep working and the server shows which node is which.
        let image_hosts = paths::resolve_in_root(root, "/etc/hosts")
            .and_then(|p| std::fs::read_to_string(p).ok());
        write_node_files(
            staging,
            &[
                ("hostname", etcfiles::hostname_file(name)),
                ("hosts", etcfiles::hosts_file(image_hosts.as_deref(), name)),
                ("cmdline", cmdline_text.to_owned()),
            ],
        )?;
        bind_from_node(root, staging, &config.persist, &config.node_mount)?;
    }
    for mount in &config.mounts {
        let target = paths::mount_target(root, "diskless.mount", &mount.mountpoint)?;
        mount_shared(nfs, &mount.share, &target)?;
    }
    Ok(())
}

/// Binds the persisted paths from the node's directory (mounted at `node_dir`) into `root`,
/// then moves the node's directory to `node_mount` in it.
///
/// Each target is resolved only when its turn comes, after the binds before it: a parent's
/// bind brings the share's own links (`<node dir>/persist/var/lib -> /elsewhere` is what
/// /var/lib is once /var is bound), and those are followed inside the root, as the image's
/// are. Each mount then goes on the mount point held open, never on a path resolved again.
fn bind_from_node(
    root: &Path,
    node_dir: &Path,
    persisted_paths: &[String],
    node_mount: &str,
) -> Result<(), RootError> {
    let mut persisted = persisted_paths
        .iter()
        .map(|path| {
            let target = paths::mount_target(root, "diskless.persist", path)?;
            Ok((path.as_str(), target.components().count()))
        })
        .collect::<Result<Vec<_>, RootError>>()?;
    // A parent before what it contains, so the inner bind stays visible.
    persisted.sort_by_key(|(_, depth)| *depth);
    for (path, _) in persisted {
        persist(root, node_dir, path)?;
    }
    let target = paths::mount_target(root, "diskless.node.mount", node_mount)?;
    let held = paths::hold_mount_point(root, &target, true)?;
    sys::move_mount_held(node_dir, &held).map_err(storage_err(
        format!("moving the node directory from {} to", node_dir.display()),
        &target,
    ))
}

/// Writes `files` (name, contents) into the node's directory, mode 0644. Whoever writes the
/// share can plant a symbolic link there: an existing link is replaced, never followed.
fn write_node_files(node_dir: &Path, files: &[(&str, String)]) -> Result<(), RootError> {
    let dir = sys::Beneath::open(node_dir).map_err(storage_err("opening", node_dir))?;
    for (file, contents) in files {
        dir.write_file(file.as_ref(), contents.as_bytes(), 0o644)
            .map_err(storage_err("writing", &node_dir.join(file)))?;
    }
    Ok(())
}

/// A persisted path inside the node's mount point is on the node's directory already:
/// binding it there would only hide the node's own files. Refused by name.
fn check_persist_outside_node(
    path: &str,
    target: &Path,
    node_mount_key: &str,
    node_mount: &Path,
) -> Result<(), RootError> {
    if target.starts_with(node_mount) {
        return Err(RootError::PathInRoot {
            key: "diskless.persist",
            path: path.to_owned(),
            reason: format!(
                "is inside diskless.node.mount={node_mount_key}: it is on the node's directory \
                 already; persist a path outside it"
            ),
        });
    }
    Ok(())
}

fn storage_err(what: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> RootError {
    let what = what.into();
    let path = path.to_path_buf();
    move |source| RootError::Storage { what, path, source }
}

/// The node's directory on the `diskless.node=` share: created with mode 0755 when missing,
/// never emptied or overwritten when present. Returns whether it was created; the share stays
/// mounted at [`NODE_SHARE_MOUNT`] until [`release_node_share`].
fn ensure_node_dir(ctx: &NfsContext, share: &NfsShare, dir: &str) -> Result<bool, RootError> {
    let staging = Path::new(NODE_SHARE_MOUNT);
    std::fs::create_dir_all(staging).map_err(storage_err("creating", staging))?;
    ctx.mount(share, ctx.share_default, staging, false)?;
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
    Ok(created)
}

/// Unmounts the share [`ensure_node_dir`] mounted. Failing costs a mount in /run, nothing
/// else: it is logged, not fatal.
fn release_node_share() {
    let staging = Path::new(NODE_SHARE_MOUNT);
    match sys::unmount(staging) {
        Ok(()) => {
            let _ = std::fs::remove_dir(staging);
        }
        Err(err) => log::warn!("unmounting {}: {err}", staging.display()),
    }
}

/// Mounts the node's directory (`<export>/<dir>`) read-write at `mount_at` in the new root.
fn mount_node_dir(
    ctx: &NfsContext,
    share: &NfsShare,
    dir: &str,
    mount_at: &Path,
) -> Result<(), RootError> {
    let node_share = NfsShare {
        path: format!("{}/{dir}", share.path.trim_end_matches('/')),
        ..share.clone()
    };
    paths::ensure_mount_point(mount_at, true)?;
    ctx.mount(&node_share, ctx.share_default, mount_at, false)
}

/// Mounts a shared share (`diskless.mount=`) read-write unless its options say `ro`.
fn mount_shared(ctx: &NfsContext, share: &NfsShare, mount_at: &Path) -> Result<(), RootError> {
    paths::ensure_mount_point(mount_at, true)?;
    let read_only = share.read_write() == Some(false);
    ctx.mount(share, ctx.share_default, mount_at, read_only)
}

/// Bind-mounts `<node dir>/persist/<path>` onto `path` resolved in the new root now. The
/// first boot seeds the node's copy with the image's content; later boots keep what the
/// node wrote. The source is resolved inside the node's directory: a symlink on the share
/// cannot make the bind expose anything outside it.
fn persist(root: &Path, node_dir: &Path, path: &str) -> Result<(), RootError> {
    let target = paths::mount_target(root, "diskless.persist", path)?;
    let target = target.as_path();
    let stored = paths::resolve(
        node_dir,
        &format!("/persist/{}", path.trim_start_matches('/')),
    )
    .map_err(|err| RootError::PathInRoot {
        key: "diskless.persist",
        path: path.to_owned(),
        reason: format!("in the node directory: {err}"),
    })?
    .path;
    if std::fs::symlink_metadata(&stored).is_err() {
        if let Some(parent) = stored.parent() {
            std::fs::create_dir_all(parent).map_err(storage_err("creating", parent))?;
        }
        if target.exists() {
            let skip =
                mount_points(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
            let copied = copy_tree(target, &stored, &skip).map_err(storage_err(
                format!("seeding it from the image's {path}:"),
                &stored,
            ))?;
            log::info!(
                "persist {path}: first boot, seeded {} from the image ({copied} entries; mount \
                 points inside it left out)",
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
    let bind_err = storage_err(format!("bind-mounting {} on", stored.display()), target);
    let source = stored
        .strip_prefix(node_dir)
        .map_err(|_| io::Error::other("is not in the node's directory"))
        .and_then(|rel| sys::Beneath::open_across_mounts(node_dir)?.open_path(rel));
    let source = match source {
        Ok(source) => source,
        Err(err) => return Err(bind_err(err)),
    };
    // The mount point takes the type of what is bound on it.
    let is_dir = std::fs::symlink_metadata(&stored).map_or(true, |m| m.is_dir());
    let held = paths::hold_mount_point(root, target, is_dir)?;
    sys::bind_mount_held(&source, &held).map_err(bind_err)
}

/// The mount points in `/proc/self/mountinfo` text (its fifth field, with the kernel's octal
/// escapes for space, tab, newline and backslash undone).
fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| {
            let mut out = Vec::with_capacity(field.len());
            let mut bytes = field.bytes();
            while let Some(b) = bytes.next() {
                if b != b'\\' {
                    out.push(b);
                    continue;
                }
                let digits: Vec<u8> = bytes.by_ref().take(3).collect();
                match std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|d| u8::from_str_radix(d, 8).ok())
                {
                    Some(escaped) if digits.len() == 3 => out.push(escaped),
                    _ => {
                        out.push(b);
                        out.extend(digits);
                    }
                }
            }
            PathBuf::from(std::ffi::OsString::from_vec(out))
        })
        .collect()
}

/// Copies a file or a tree with modes, owners and symlinks; returns how many entries it
/// copied. Directories in `skip` (mount points: another file system, the node's own
/// directory among them) are left out, so the copy stays on the image and can never descend
/// into its own destination. Device files are skipped: they have no place on a share.
fn copy_tree(from: &Path, to: &Path, skip: &[PathBuf]) -> io::Result<u64> {
    copy_entry(from, to, to, skip)
}

/// One entry of [`copy_tree`]; `destination` is the whole copy's, never to be entered.
fn copy_entry(from: &Path, to: &Path, destination: &Path, skip: &[PathBuf]) -> io::Result<u64> {
    let meta = std::fs::symlink_metadata(from)?;
    let kind = meta.file_type();
    let mut copied = 1;
    if kind.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if kind.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let path = entry?.path();
            if path == destination || skip.contains(&path) {
                continue;
            }
            let name = path.file_name().unwrap_or_default();
            copied += copy_entry(&path, &to.join(name), destination, skip)?;
        }
    } else if kind.is_file() {
        std::fs::copy(from, to)?;
    } else {
        return Ok(0);
    }
    if !kind.is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    // An export that squashes root cannot take our chown; the content still persists.
    let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    Ok(copied)
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
        assert_eq!(copy_tree(&src, &dst, &[]).expect("copy"), 3);
        let key = dst.join("ssh_host_ed25519_key");
        assert_eq!(std::fs::read(&key).expect("read"), b"secret");
        assert_eq!(std::fs::metadata(&key).expect("meta").mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_link(dst.join("link")).expect("link"),
            Path::new("ssh_host_ed25519_key")
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    /// Whoever writes the node share can plant links in the node's directory: the node's
    /// files replace them and never write through them.
    #[test]
    fn node_files_replace_links_and_never_write_through_them() {
        let base = std::env::temp_dir().join(format!("diskless-nodefiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (node, outside) = (base.join("node"), base.join("outside"));
        std::fs::create_dir_all(&node).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("file"), b"outside\n").expect("write");
        std::os::unix::fs::symlink(outside.join("file"), node.join("hostname")).expect("symlink");
        // A dangling link would create its target.
        std::os::unix::fs::symlink(outside.join("new"), node.join("hosts")).expect("symlink");
        write_node_files(
            &node,
            &[
                ("hostname", "worker-1\n".to_owned()),
                ("hosts", "127.0.0.1 localhost\n".to_owned()),
                ("cmdline", "root=/dev/nfs\n".to_owned()),
            ],
        )
        .expect("writing the node's files");
        assert_eq!(
            std::fs::read(outside.join("file")).expect("read"),
            b"outside\n",
            "written through the link"
        );
        assert!(
            !outside.join("new").exists(),
            "created through a dangling link"
        );
        for (name, contents) in [
            ("hostname", "worker-1\n"),
            ("hosts", "127.0.0.1 localhost\n"),
        ] {
            let meta = std::fs::symlink_metadata(node.join(name)).expect("stat");
            assert!(meta.is_file(), "{name} is still a link");
            assert_eq!(meta.mode() & 0o777, 0o644, "{name}");
            assert_eq!(
                std::fs::read_to_string(node.join(name)).expect("read"),
                contents
            );
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    /// Whoever writes the node share can put links in `<node dir>/persist`: with
    /// `diskless.persist=/var,/var/lib/x` a link at `persist/var/lib` is what /var/lib is
    /// once /var is bound, so /var/lib/x is resolved only then, inside the root; so is the
    /// node's mount point (`persist/var/local`). Nothing is mounted or created outside it.
    #[test]
    fn binds_follow_links_from_the_share_only_inside_the_root() {
        use crate::sys::testing::{MountScratch, may_mount, mounts_below};
        if !may_mount() {
            return;
        }
        let scratch = MountScratch::new("persist-links");
        let base = scratch.path();
        let (root, share, staging) = (base.join("root"), base.join("share"), base.join("node"));
        let (outside, outside_node) = (base.join("outside"), base.join("outside-node"));
        scratch.tmpfs(&root, "mode=0755");
        for dir in ["var/lib/x", "var/local", "etc"] {
            std::fs::create_dir_all(root.join(dir)).expect("the image's directories");
        }
        std::fs::write(root.join("etc/machine-id"), b"image\n").expect("write");
        std::fs::create_dir_all(share.join("persist/var")).expect("an earlier boot's /var");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::create_dir_all(&outside_node).expect("mkdir");
        std::os::unix::fs::symlink(&outside, share.join("persist/var/lib")).expect("symlink");
        std::os::unix::fs::symlink(&outside_node, share.join("persist/var/local"))
            .expect("symlink");
        std::fs::write(share.join("hostname"), b"node\n").expect("write");
        // The node's directory is a mount, as the NFS mount at /run/diskless/node is.
        std::fs::create_dir_all(&staging).expect("mkdir");
        sys::bind_mount(&share, &staging, false).expect("bind");

        bind_from_node(
            &root,
            &staging,
            &[
                "/var".to_owned(),
                "/var/lib/x".to_owned(),
                "/etc/machine-id".to_owned(),
            ],
            "/var/local",
        )
        .expect("binding");

        for point in mounts_below(base) {
            assert!(
                point.starts_with(&root),
                "{} is mounted outside the new root",
                point.display()
            );
        }
        for dir in [&outside, &outside_node] {
            assert_eq!(
                std::fs::read_dir(dir).expect("read").count(),
                0,
                "{} created outside the new root",
                dir.display()
            );
        }
        // As the real system will see them: /var/lib -> <outside>, inside the root.
        let inside = |p: &Path| root.join(p.strip_prefix("/").expect("absolute"));
        assert!(mounts_below(&root).contains(&inside(&outside).join("x")));
        assert_eq!(
            std::fs::read(inside(&outside_node).join("hostname")).expect("the node's mount"),
            b"node\n"
        );
        // A persisted file, first boot: seeded from the image, bound over it.
        assert_eq!(
            std::fs::read(share.join("persist/etc/machine-id")).expect("seeded"),
            b"image\n"
        );
        assert!(mounts_below(&root).contains(&root.join("etc/machine-id")));
    }

    #[test]
    fn mount_points_come_from_mountinfo_with_escapes_undone() {
        let mountinfo = "\
22 1 0:21 / / rw - rootfs rootfs rw
25 22 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw
41 22 0:40 / /sysroot/var/local rw - nfs4 10.0.2.2:/workers/x rw
42 22 0:41 / /sysroot/My\\040Files rw - tmpfs t rw
43 22 0:42 / /odd\\134path\\04 rw - tmpfs t rw
";
        assert_eq!(
            mount_points(mountinfo),
            [
                PathBuf::from("/"),
                PathBuf::from("/dev"),
                PathBuf::from("/sysroot/var/local"),
                PathBuf::from("/sysroot/My Files"),
                PathBuf::from("/odd\\path\\04"),
            ]
        );
    }

    /// `diskless.persist=/var` with the node's directory mounted at `/var/local`: the first
    /// boot's copy of /var must not walk into the node's own directory (the copy's
    /// destination), nor into any other mount.
    #[test]
    fn seeding_leaves_out_mount_points_and_its_own_destination() {
        let base = std::env::temp_dir().join(format!("diskless-nest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let var = base.join("root/var");
        for dir in ["log", "lib/dpkg", "local", "cache"] {
            std::fs::create_dir_all(var.join(dir)).expect("mkdir");
        }
        std::fs::write(var.join("log/syslog"), b"log").expect("write");
        std::fs::write(var.join("local/from-the-share"), b"node").expect("write");
        // The destination inside the source, as the node directory at /var/local would be.
        let dest = var.join("local/persist/var");
        std::fs::create_dir_all(var.join("local/persist")).expect("mkdir");
        let skip = [var.join("cache")];
        let copied = copy_tree(&var, &dest, &skip).expect("copy");
        assert!(dest.join("log/syslog").is_file());
        assert!(dest.join("lib/dpkg").is_dir());
        assert!(!dest.join("cache").exists(), "a mount point was copied");
        assert!(
            !dest.join("local/persist/var").exists(),
            "the copy descended into its own destination"
        );
        assert!(
            copied < 12,
            "{copied} entries: the copy did not stay bounded"
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
