//! Paths inside the new root, resolved the way the kernel will resolve them after the chroot:
//! an absolute symlink such as `/sbin/init -> /lib/systemd/systemd` or an NFS root's
//! `/etc/hostname -> /var/local/hostname` points into the new root, not into the initramfs,
//! and `..` stops at the new root's `/`.
//!
//! The init works from the initramfs, where the kernel would follow the same links out of the
//! new root (`/var/local -> /` is the initramfs's own `/`). So every path the init mounts on,
//! writes through or copies from is resolved here first, and only the result, which never
//! leaves the root, is handed to the kernel.

use std::ffi::OsString;
use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use super::error::RootError;
use crate::sys;

/// Symlinks followed before giving up, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: u32 = 40;

/// Where a path lands inside the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path on disk (below the root directory given).
    pub path: PathBuf,
    /// The same place as the real system will name it (`/var/local`).
    pub inside: PathBuf,
    /// Components at the end that do not exist yet (they hold no symlink, being absent).
    pub missing: usize,
    /// The last symlink followed and its target, for messages.
    pub via: Option<(PathBuf, PathBuf)>,
}

impl Resolved {
    /// Whether it is the root directory itself.
    pub fn is_root(&self) -> bool {
        self.inside == Path::new("/")
    }

    /// `(through the symlink /var/local -> /)`, or nothing.
    pub fn through(&self) -> String {
        match &self.via {
            Some((link, target)) => format!(
                " (through the symlink {} -> {})",
                link.display(),
                target.display()
            ),
            None => String::new(),
        }
    }
}

/// A path that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// More than [`MAX_LINKS`] symlinks: a loop.
    Loop { path: String },
    /// A symlink that could not be read.
    Unreadable { link: PathBuf },
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Loop { path } => {
                write!(f, "{path} goes through more than {MAX_LINKS} symlinks")
            }
            PathError::Unreadable { link } => {
                write!(f, "the symlink {} cannot be read", link.display())
            }
        }
    }
}

/// Resolves `path` (absolute as the real system sees it; a relative one is taken from `/`)
/// inside `root`, following every symlink as the kernel will after the chroot. Components
/// that do not exist are kept as given (nothing after a missing one can be a symlink).
pub fn resolve(root: &Path, path: &str) -> Result<Resolved, PathError> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, Path::new(path));
    let mut current = PathBuf::from("/");
    let mut links = 0;
    let mut via = None;
    let mut missing: usize = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            // `..` at the root stays at the root, as in a chroot.
            missing = missing.saturating_sub(1);
            current.pop();
            continue;
        }
        let candidate = current.join(&part);
        if missing > 0 {
            missing += 1;
            current = candidate;
            continue;
        }
        let on_disk = on_disk(root, &candidate);
        let Ok(meta) = std::fs::symlink_metadata(&on_disk) else {
            missing = 1;
            current = candidate;
            continue;
        };
        if !meta.file_type().is_symlink() {
            current = candidate;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(PathError::Loop {
                path: path.to_owned(),
            });
        }
        let target = std::fs::read_link(&on_disk).map_err(|_| PathError::Unreadable {
            link: candidate.clone(),
        })?;
        if target.is_absolute() {
            current = PathBuf::from("/");
        }
        push_components(&mut pending, &target);
        via = Some((candidate, target));
    }
    Ok(Resolved {
        path: on_disk(root, &current),
        inside: current,
        missing,
        via,
    })
}

/// Where a mount or bind from the command line (`key`) goes in the new root: symlinks are
/// followed inside it ([`resolve`]), and a path that comes out as the root itself is refused.
pub fn mount_target(root: &Path, key: &'static str, path: &str) -> Result<PathBuf, RootError> {
    let refuse = |reason: String| RootError::PathInRoot {
        key,
        path: path.to_owned(),
        reason,
    };
    let resolved = resolve(root, path).map_err(|err| refuse(err.to_string()))?;
    if resolved.is_root() {
        return Err(refuse(format!(
            "in the new root it is / itself{}; a mount there would cover the whole root",
            resolved.through()
        )));
    }
    if resolved.via.is_some() {
        log::info!(
            "{key}={path}: {} in the new root{}",
            resolved.inside.display(),
            resolved.through()
        );
    }
    Ok(resolved.path)
}

/// The mount point `target` (a path [`mount_target`] resolved in `root`) held open for
/// the mount, created where missing (on a read-only root it must be there) beneath the
/// root without following a link: one that appeared since it was resolved is refused, never
/// followed out of the root.
pub fn hold_mount_point(root: &Path, target: &Path, dir: bool) -> Result<OwnedFd, RootError> {
    let err = |source| RootError::Storage {
        what: "creating the mount point".to_owned(),
        path: target.to_path_buf(),
        source,
    };
    let rel = target
        .strip_prefix(root)
        .map_err(|_| err(std::io::Error::other("is not in the new root")))?;
    sys::Beneath::open_across_mounts(root)
        .and_then(|beneath| beneath.mount_point(rel, dir))
        .map_err(err)
}

/// Makes sure a mount point exists; on a read-only root it must already be there.
pub fn ensure_mount_point(path: &Path, dir: bool) -> Result<(), RootError> {
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
    created.map_err(|source| RootError::Storage {
        what: "creating the mount point".to_owned(),
        path: path.to_path_buf(),
        source,
    })
}

/// Resolves `path` inside `root`; `None` when it does not exist (or loops).
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    resolve(root, path)
        .ok()
        .filter(|r| r.missing == 0)
        .map(|r| r.path)
}

/// Like [`resolve_in_root`], but the last component may be missing: where a write to `path`
/// inside the chroot would land.
pub fn resolve_for_write(root: &Path, path: &str) -> Option<PathBuf> {
    resolve(root, path)
        .ok()
        .filter(|r| r.missing <= 1)
        .map(|r| r.path)
}

fn on_disk(root: &Path, inside: &Path) -> PathBuf {
    root.join(inside.strip_prefix("/").unwrap_or(inside))
}

/// Pushes the normal components of `path` so that popping yields them in order.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn fresh_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("diskless-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in [
            "lib/systemd",
            "sbin",
            "bin",
            "etc",
            "var/local",
            "srv/nodes",
        ] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        std::fs::write(root.join("lib/systemd/systemd"), b"").expect("write");
        std::fs::write(root.join("bin/busybox"), b"").expect("write");
        root
    }

    #[test]
    fn paths_resolve_inside_the_new_root() {
        let root = fresh_root("resolve");
        // Absolute links must resolve against the new root, not the host's /lib.
        symlink("/lib/systemd/systemd", root.join("sbin/init")).expect("symlink");
        symlink("../bin/busybox", root.join("sbin/relative")).expect("symlink");
        symlink("/nowhere", root.join("sbin/dangling")).expect("symlink");
        symlink("/sbin/loop", root.join("sbin/loop")).expect("symlink");
        // A shared NFS root's /etc/hostname points into the node's directory.
        symlink("/var/local/hostname", root.join("etc/hostname")).expect("symlink");

        let cases = [
            ("/sbin/init", false, Some(root.join("lib/systemd/systemd"))),
            ("/sbin/relative", false, Some(root.join("bin/busybox"))),
            ("/sbin/dangling", false, None),
            ("/sbin/loop", false, None),
            ("/sbin/missing", false, None),
            ("/etc/hostname", false, None),
            ("/etc/hostname", true, Some(root.join("var/local/hostname"))),
            ("/etc/hosts", true, Some(root.join("etc/hosts"))),
            ("/nodir/file", true, None),
        ];
        for (path, for_write, expected) in cases {
            let got = if for_write {
                resolve_for_write(&root, path)
            } else {
                resolve_in_root(&root, path)
            };
            assert_eq!(got, expected, "{path} (for write: {for_write})");
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A mount point is created and held beneath the root without following a link: one
    /// on the way (planted after the path was resolved) is refused, and nothing is created
    /// where it points.
    #[test]
    fn mount_points_are_held_without_following_links() {
        use std::os::unix::fs::MetadataExt;
        let root = fresh_root("hold");
        let outside = root.with_extension("outside");
        let _ = std::fs::remove_dir_all(&outside);
        std::fs::create_dir_all(&outside).expect("mkdir");
        symlink(&outside, root.join("srv/link")).expect("symlink");

        let held = hold_mount_point(&root, &root.join("srv/nodes/a/b"), true).expect("created");
        drop(held);
        assert!(root.join("srv/nodes/a/b").is_dir());
        hold_mount_point(&root, &root.join("etc/machine-id"), false).expect("a file");
        let meta = std::fs::symlink_metadata(root.join("etc/machine-id")).expect("stat");
        assert!(meta.is_file() && meta.mode() & 0o777 == 0o644);
        for target in ["srv/link/x", "srv/link"] {
            let err = hold_mount_point(&root, &root.join(target), true).err();
            assert!(
                err.as_ref()
                    .is_some_and(|e| e.to_string().starts_with(&format!(
                        "creating the mount point {}",
                        root.join(target).display()
                    ))),
                "{target}: {err:?}"
            );
        }
        assert_eq!(std::fs::read_dir(&outside).expect("read").count(), 0);
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_dir_all(&outside);
    }

    /// The kernel would follow these out of the new root when the init mounts or writes from
    /// the initramfs; resolved here, every one lands inside it.
    #[test]
    fn links_that_would_leave_the_root_stay_inside_it() {
        let root = fresh_root("escape");
        std::fs::remove_dir(root.join("var/local")).expect("rmdir");
        symlink("/", root.join("var/local")).expect("symlink");
        symlink("../../../../..", root.join("etc/up")).expect("symlink");
        symlink("/srv/nodes", root.join("srv/here")).expect("symlink");
        std::fs::create_dir_all(root.join("var/lib")).expect("mkdir");
        symlink("../../etc/../..", root.join("var/lib/climb")).expect("symlink");

        // (path, where it lands inside, missing components, the link named)
        let cases: [(&str, &str, usize, Option<&str>); 6] = [
            ("/var/local", "/", 0, Some("/var/local")),
            ("/var/local/etc/ssh", "/etc/ssh", 1, Some("/var/local")),
            ("/etc/up/etc", "/etc", 0, Some("/etc/up")),
            ("/var/lib/climb", "/", 0, Some("/var/lib/climb")),
            ("/srv/here/a/b", "/srv/nodes/a/b", 2, Some("/srv/here")),
            ("/x/../../etc", "/etc", 0, None),
        ];
        for (path, inside, missing, link) in cases {
            let got = resolve(&root, path).expect(path);
            assert_eq!(got.inside, Path::new(inside), "{path}");
            assert_eq!(got.path, on_disk(&root, Path::new(inside)), "{path}");
            assert!(
                got.path.starts_with(&root),
                "{path}: {}",
                got.path.display()
            );
            assert_eq!(got.missing, missing, "{path}");
            assert_eq!(
                got.via.as_ref().map(|(l, _)| l.as_path()),
                link.map(Path::new),
                "{path}"
            );
        }
        assert!(resolve(&root, "/var/local").expect("resolves").is_root());
        assert_eq!(
            resolve(&root, "/var/local").expect("resolves").through(),
            " (through the symlink /var/local -> /)"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
