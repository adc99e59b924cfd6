//! Paths inside the new root, resolved the way the kernel will resolve them after the chroot:
//! an absolute symlink such as `/sbin/init -> /lib/systemd/systemd` or seed 003's
//! `/etc/hostname -> /var/local/hostname` points into the new root, not into the initramfs.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Resolves `path` inside `root`, following every symlink. `None` when it does not exist (or
/// loops).
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    resolve(root, path, false)
}

/// Like [`resolve_in_root`], but the last component may be missing: where a write to `path`
/// inside the chroot would land.
pub fn resolve_for_write(root: &Path, path: &str) -> Option<PathBuf> {
    resolve(root, path, true)
}

fn resolve(root: &Path, path: &str, allow_missing_leaf: bool) -> Option<PathBuf> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, Path::new(path));
    let mut current = PathBuf::from("/");
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&part);
        let on_disk = root.join(candidate.strip_prefix("/").unwrap_or(&candidate));
        let meta = match std::fs::symlink_metadata(&on_disk) {
            Ok(meta) => meta,
            Err(_) if allow_missing_leaf && pending.is_empty() => {
                current = candidate;
                break;
            }
            Err(_) => return None,
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&on_disk).ok()?;
            if target.is_absolute() {
                current = PathBuf::from("/");
            }
            push_components(&mut pending, &target);
        } else {
            current = candidate;
        }
    }
    Some(root.join(current.strip_prefix("/").unwrap_or(&current)))
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

    #[test]
    fn paths_resolve_inside_the_new_root() {
        let root = std::env::temp_dir().join(format!("diskless-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["lib/systemd", "sbin", "bin", "etc", "var/local"] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        std::fs::write(root.join("lib/systemd/systemd"), b"").expect("write");
        std::fs::write(root.join("bin/busybox"), b"").expect("write");
        // Absolute links must resolve against the new root, not the host's /lib.
        symlink("/lib/systemd/systemd", root.join("sbin/init")).expect("symlink");
        symlink("../bin/busybox", root.join("sbin/relative")).expect("symlink");
        symlink("/nowhere", root.join("sbin/dangling")).expect("symlink");
        symlink("/sbin/loop", root.join("sbin/loop")).expect("symlink");
        // Seed 003: the read-only root's /etc/hostname points into the node's directory.
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
}
