//! RAM where the new root needs it: on a read-only root, paths that take writes in RAM over
//! the image's own content (`diskless.volatile=`, default /etc, /var and /tmp: what systemd
//! and the usual services write at boot), and plain tmpfs mounts the admin asks for
//! (`diskless.tmpfs=`, for container runtimes: overlayfs cannot put its upper layer on an
//! overlay root, so containerd's and kubelet's state needs a file system of its own).
//!
//! A volatile path is an overlay: the image's directory below, a directory of one tmpfs
//! (`/run/diskless/volatile`) above. Nothing is ever written to the image or the export.

use std::path::Path;

use super::error::RootError;
use super::paths;
use crate::cmdline::config::TmpfsMount;
use crate::sys::{self, MountOptions};

/// The tmpfs holding every volatile path's upper and work directories.
const VOLATILE: &str = "/run/diskless/volatile";

fn mount_err(what: String, target: &Path) -> impl FnOnce(std::io::Error) -> RootError {
    let target = target.to_path_buf();
    move |source| RootError::Mount {
        what,
        target,
        source,
    }
}

/// Makes each of `paths` in `root` writable in RAM, keeping what the image holds there.
/// `size` caps the one tmpfs they share (`diskless.overlay.size=`, default half of RAM).
pub fn mount_volatile(root: &Path, paths: &[String], size: Option<&str>) -> Result<(), RootError> {
    if paths.is_empty() {
        return Ok(());
    }
    let base = Path::new(VOLATILE);
    std::fs::create_dir_all(base).map_err(mount_err("creating".to_owned(), base))?;
    let options = format!("mode=0755,size={}", size.unwrap_or("50%"));
    sys::mount(
        "diskless-volatile",
        base,
        "tmpfs",
        MountOptions::default(),
        &options,
    )
    .map_err(mount_err(format!("mounting tmpfs ({options}) on"), base))?;
    for (n, path) in paths.iter().enumerate() {
        let target = paths::mount_target(root, "diskless.volatile", path)?;
        if !target.is_dir() {
            return Err(RootError::PathInRoot {
                key: "diskless.volatile",
                path: path.clone(),
                reason: "is not a directory in the image (a volatile path keeps the image's \
                         directory below what the node writes)"
                    .to_owned(),
            });
        }
        let layer = base.join(n.to_string());
        let (upper, work) = (layer.join("upper"), layer.join("work"));
        for dir in [&upper, &work] {
            std::fs::create_dir_all(dir).map_err(mount_err("creating".to_owned(), dir))?;
        }
        let options = overlay_options(&target, &upper, &work);
        sys::mount(
            "diskless-volatile",
            &target,
            "overlay",
            MountOptions::default(),
            &options,
        )
        .map_err(mount_err(
            format!("making {path} writable in RAM (overlay {options}) on"),
            &target,
        ))?;
        log::info!("{path}: writable in RAM over the image's content");
    }
    Ok(())
}

/// The overlay option string for one lower, upper and work directory. A path is the admin's
/// (`diskless.volatile=`) resolved in the image: its `,` would start another option and its
/// `:` another lower layer, so both are escaped, as overlayfs reads them (and `\\` itself).
pub fn overlay_options(lower: &Path, upper: &Path, work: &Path) -> String {
    format!(
        "lowerdir={},upperdir={},workdir={}",
        escape(lower),
        escape(upper),
        escape(work)
    )
}

fn escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Mounts each `diskless.tmpfs=` at its path in `root`, creating the directory if missing.
pub fn mount_tmpfs(root: &Path, mounts: &[TmpfsMount]) -> Result<(), RootError> {
    for mount in mounts {
        let target = paths::mount_target(root, "diskless.tmpfs", &mount.path)?;
        paths::ensure_mount_point(&target, true)?;
        let options = tmpfs_options(mount);
        sys::mount(
            "diskless-tmpfs",
            &target,
            "tmpfs",
            MountOptions {
                nodev: true,
                nosuid: true,
                ..MountOptions::default()
            },
            &options,
        )
        .map_err(mount_err(format!("mounting tmpfs ({options}) on"), &target))?;
        log::info!("{}: tmpfs ({options})", mount.path);
    }
    Ok(())
}

/// The tmpfs option string: the mode, and the size when one was given.
fn tmpfs_options(mount: &TmpfsMount) -> String {
    let mut options = format!("mode={:04o}", mount.mode);
    if let Some(size) = &mount.size {
        options.push_str(&format!(",size={size}"));
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path's `,` would end the option and start another (`/etc,upperdir=/x`), its `:`
    /// would add a lower layer: overlayfs takes both, and `\\`, escaped with a backslash.
    #[test]
    fn overlay_options_escape_what_overlayfs_splits_on() {
        let cases = [
            ("/l", "lowerdir=/l,upperdir=/u,workdir=/w"),
            (
                "/sysroot/etc,upperdir=/x",
                "lowerdir=/sysroot/etc\\,upperdir=/x,upperdir=/u,workdir=/w",
            ),
            (
                "/sysroot/a:b",
                "lowerdir=/sysroot/a\\:b,upperdir=/u,workdir=/w",
            ),
            (
                "/sysroot/a\\b",
                "lowerdir=/sysroot/a\\\\b,upperdir=/u,workdir=/w",
            ),
            ("/x\\,y:", "lowerdir=/x\\\\\\,y\\:,upperdir=/u,workdir=/w"),
        ];
        for (lower, want) in cases {
            assert_eq!(
                overlay_options(Path::new(lower), Path::new("/u"), Path::new("/w")),
                want,
                "{lower}"
            );
        }
        assert_eq!(
            overlay_options(Path::new("/l"), Path::new("/r,u"), Path::new("/r:w")),
            "lowerdir=/l,upperdir=/r\\,u,workdir=/r\\:w"
        );
    }

    /// The kernel reads the escaped options back as the one directory named.
    #[test]
    fn an_overlay_mounts_over_a_directory_named_with_commas_and_colons() {
        use crate::sys::testing::{MountScratch, may_mount};
        if !may_mount() {
            return;
        }
        let scratch = MountScratch::new("overlay-escape");
        let base = scratch.path();
        scratch.tmpfs(base, "mode=0755");
        let lower = base.join("etc,upperdir=x:y\\z");
        let (upper, work, target) = (base.join("u"), base.join("w"), base.join("t"));
        for dir in [&lower, &upper, &work, &target] {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(lower.join("hostname"), b"image\n").expect("write");
        let options = overlay_options(&lower, &upper, &work);
        sys::mount(
            "test",
            &target,
            "overlay",
            MountOptions::default(),
            &options,
        )
        .unwrap_or_else(|e| panic!("overlay {options}: {e}"));
        assert_eq!(
            std::fs::read(target.join("hostname")).expect("read"),
            b"image\n"
        );
    }

    #[test]
    fn tmpfs_options_carry_mode_and_size() {
        let mount = |size: Option<&str>, mode| TmpfsMount {
            path: "/var/lib/containerd".into(),
            size: size.map(str::to_owned),
            mode,
        };
        assert_eq!(tmpfs_options(&mount(None, 0o755)), "mode=0755");
        assert_eq!(
            tmpfs_options(&mount(Some("2G"), 0o700)),
            "mode=0700,size=2G"
        );
        assert_eq!(
            tmpfs_options(&mount(Some("25%"), 0o1777)),
            "mode=1777,size=25%"
        );
    }
}
