//! Handing the machine to the real root. `pivot_root` cannot leave an initramfs (rootfs can
//! never be unmounted), so: move /dev /proc /sys /run into the new root, delete the
//! initramfs's files to give their RAM back (never crossing into another mount), move the
//! new root onto `/`, chroot into it and exec its init.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use super::error::RootError;
use super::paths::resolve_in_root;
use crate::sys;

/// The API file systems that travel with us into the real root.
pub const MOVED_MOUNTS: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];

/// Removes everything below `dir` that lives on device `dev`, leaving other mounts (and
/// `keep`) alone. Errors are counted, not fatal: a leftover file only costs a little RAM.
fn delete_same_device(dir: &Path, dev: u64, keep: &Path, failures: &mut u32) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        *failures += 1;
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if sys::device_of(&path).ok() != Some(dev) {
            continue;
        }
        let removed = if meta.is_dir() {
            delete_same_device(&path, dev, keep, failures);
            std::fs::remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if removed.is_err() {
            *failures += 1;
        }
    }
}

fn failed(what: impl Into<String>) -> impl FnOnce(io::Error) -> RootError {
    let what = what.into();
    move |source| RootError::SwitchRoot { what, source }
}

/// Switches to `new_root` and execs `init` with `args`. Returns only with an error; once the
/// initramfs has been deleted the error can only come from exec itself.
pub fn switch_root(new_root: &Path, init: &str, args: &[OsString]) -> RootError {
    match prepare(new_root, init) {
        Ok(()) => {}
        Err(err) => return err,
    }
    let err = sys::exec(Path::new(init), args);
    RootError::SwitchRoot {
        what: format!("executing {init}"),
        source: err,
    }
}

fn prepare(new_root: &Path, init: &str) -> Result<(), RootError> {
    if resolve_in_root(new_root, init).is_none() {
        return Err(RootError::NoInit {
            init: init.to_owned(),
        });
    }
    // The guard: only ever delete files from the initramfs itself.
    let on_initramfs =
        sys::is_initramfs_root(Path::new("/")).map_err(failed("checking / is the initramfs"))?;
    if !on_initramfs || !Path::new("/init").exists() {
        return Err(RootError::SwitchRoot {
            what: "refusing to delete /: it is not an initramfs".to_owned(),
            source: io::Error::other("not rootfs"),
        });
    }
    for mount in MOVED_MOUNTS {
        let target = new_root.join(mount.trim_start_matches('/'));
        if !target.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(failed(format!("creating {}", target.display())))?;
        }
        sys::move_mount(Path::new(mount), &target)
            .map_err(failed(format!("moving {mount} to {}", target.display())))?;
    }
    let root_dev = sys::device_of(Path::new("/")).map_err(failed("reading the device of /"))?;
    let mut failures = 0;
    delete_same_device(Path::new("/"), root_dev, new_root, &mut failures);
    if failures > 0 {
        log::warn!("{failures} initramfs files could not be deleted (their RAM stays in use)");
    }
    std::env::set_current_dir(new_root)
        .map_err(failed(format!("entering {}", new_root.display())))?;
    sys::move_mount(Path::new("."), Path::new("/"))
        .map_err(failed(format!("moving {} onto /", new_root.display())))?;
    sys::chroot_here().map_err(failed("chroot into the new root"))?;
    Ok(())
}
