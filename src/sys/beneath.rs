//! Writing beneath one directory and nowhere else: every path is resolved with openat2's
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so neither `..` nor a symbolic link (the image's
//! or one written a moment ago) can take a write outside, or anywhere else inside. Names
//! are created in the directory resolved so, with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`: an
//! existing symbolic link is replaced, never written through. One exception resolves
//! links, inside the root only: [`Beneath::dir_in_root`], for deleting (OCI whiteouts).
//!
//! Nor does anything cross a mount (`RESOLVE_NO_XDEV`, and the mount of every name changed
//! checked against the root's): configuration archives are applied after the node's
//! storage is attached, and a share mounted at /home is not the new root's to write. Mount
//! points are the exception ([`Beneath::open_across_mounts`]): one may be below another
//! mount (`/var/lib/x` below a bound `/var`).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Statx, StatxFlags};
use rustix::fs::{Gid, Uid};
use rustix::fs::{Timespec, Timestamps};

/// Owner, permission bits and modification time to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub mtime: i64,
}

/// A directory writes are confined to.
#[derive(Debug)]
pub struct Beneath {
    root: OwnedFd,
    /// The root's mount, which every name changed must be on (`None`: any mount below it).
    mount: Option<Mount>,
    resolve: ResolveFlags,
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Which mount a file is on: the mount id where the kernel gives one (5.8+), else the device
/// (compared for directories only: overlayfs gives its non-directories the device of the
/// layer they come from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mount {
    id: Option<u64>,
    dev: (u32, u32),
}

impl Mount {
    fn of(st: &Statx) -> Mount {
        Mount {
            id: (st.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(st.stx_mnt_id),
            dev: (st.stx_dev_major, st.stx_dev_minor),
        }
    }
}

/// What statx reads here: the type, and the mount.
const STATX_MASK: StatxFlags = StatxFlags::TYPE.union(StatxFlags::MNT_ID);

impl Beneath {
    /// A mount crossed, as openat2's `RESOLVE_NO_XDEV` says it (EXDEV).
    pub fn crossing() -> io::Error {
        io::Error::from_raw_os_error(rustix::io::Errno::XDEV.raw_os_error())
    }

    /// `root`, with every write kept on its mount.
    pub fn open(root: &Path) -> io::Result<Beneath> {
        let root = open_dir(root)?;
        let mount = Mount::of(&rustix::fs::statx(
            &root,
            "",
            AtFlags::EMPTY_PATH,
            STATX_MASK,
        )?);
        Ok(Beneath {
            root,
            mount: Some(mount),
            resolve: RESOLVE,
        })
    }

    /// `root`, where paths may go onto mounts below it (still never through a link): for
    /// mount points, some of which are below other mounts.
    pub fn open_across_mounts(root: &Path) -> io::Result<Beneath> {
        Ok(Beneath {
            root: open_dir(root)?,
            mount: None,
            resolve: RESOLVE.difference(ResolveFlags::NO_XDEV),
        })
    }

    /// `name` in `dir` (not following a link), refused with EXDEV when it is on another
    /// mount than the root's (a mount point: a share, a bound file).
    fn stat_on_root_mount(&self, dir: impl AsFd, name: &OsStr) -> io::Result<Statx> {
        let st = rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, STATX_MASK)?;
        self.on_root_mount(&st)?;
        Ok(st)
    }

    fn on_root_mount(&self, st: &Statx) -> io::Result<()> {
        let Some(mount) = self.mount else {
            return Ok(());
        };
        let here = Mount::of(st);
        let other = match (here.id, mount.id) {
            (Some(here), Some(root)) => here != root,
            _ => {
                FileType::from_raw_mode(u32::from(st.stx_mode)) == FileType::Directory
                    && here.dev != mount.dev
            }
        };
        if other {
            Err(Beneath::crossing())
        } else {
            Ok(())
        }
    }

    /// The directory at `rel` (empty: the root itself), resolved beneath the root without
    /// following any symbolic link or crossing a mount (ELOOP if a link is on the way,
    /// EXDEV if it would leave the root or its mount).
    pub fn dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        Ok(rustix::fs::openat2(
            &self.root,
            rel,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            self.resolve,
        )?)
    }

    /// The first of `rel` and the directories on the way to it that is another mount, if
    /// any. Stops at the first that is missing or a symbolic link (a write would create it,
    /// or refuse it, there). Writes nothing.
    pub fn mount_on_the_way(&self, rel: &Path) -> io::Result<Option<std::path::PathBuf>> {
        let mut walked = std::path::PathBuf::new();
        for part in rel.components() {
            walked.push(part);
            let fd = match rustix::fs::openat2(
                &self.root,
                &walked,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                self.resolve,
            ) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::XDEV) => return Ok(Some(walked)),
                Err(_) => return Ok(None),
            };
            let st = rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, STATX_MASK)?;
            if self.on_root_mount(&st).is_err() {
                return Ok(Some(walked));
            }
            if FileType::from_raw_mode(u32::from(st.stx_mode)) != FileType::Directory {
                break;
            }
        }
        Ok(None)
    }

    /// `rel` itself, held (`O_PATH`) for mounting on, or binding from: no symbolic link on
    /// the way nor at the end (ELOOP).
    pub fn open_path(&self, rel: &Path) -> io::Result<OwnedFd> {
        let fd = rustix::fs::openat2(
            &self.root,
            rel,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            self.resolve,
        )?;
        let st = rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, STATX_MASK)?;
        if FileType::from_raw_mode(u32::from(st.stx_mode)) == FileType::Symlink {
            return Err(rustix::io::Errno::LOOP.into());
        }
        self.on_root_mount(&st)?;
        Ok(fd)
    }

    /// A mount point at `rel`, held open ([`Beneath::open_path`]): a directory (`dir`) or
    /// an empty file, created with what leads to it (mode 0755, 0644 for the file) where
    /// missing, never through a symbolic link. The mount then goes on what this holds, not
    /// on a path the kernel would resolve again.
    pub fn mount_point(&self, rel: &Path, dir: bool) -> io::Result<OwnedFd> {
        let parts: Vec<&OsStr> = rel.iter().collect();
        let Some((last, parents)) = parts.split_last() else {
            return self.open_path(rel);
        };
        let mut walked = std::path::PathBuf::new();
        let mut at = self.dir(&walked)?;
        for part in parents {
            exists_ok(rustix::fs::mkdirat(&at, *part, Mode::from_raw_mode(0o755)))?;
            walked.push(part);
            at = self.dir(&walked)?;
        }
        let made = if dir {
            rustix::fs::mkdirat(&at, *last, Mode::from_raw_mode(0o755))
        } else {
            rustix::fs::openat(
                &at,
                *last,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map(drop)
        };
        exists_ok(made)?;
        walked.push(last);
        self.open_path(&walked)
    }

    /// The directory `name` (one component) in `dir`, opened as [`Beneath::dir`] opens a
    /// path: never through a symbolic link, never above `dir`, never onto another mount. A
    /// walk down a deep path costs one lookup per level this way, not one per level above it
    /// too.
    pub fn subdir(&self, dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            dir,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            self.resolve,
        )?)
    }

    /// The directory at `rel` as the new root itself would resolve it: symbolic links
    /// followed, but with the root as `/` (an absolute target, or `..` past the top, stays
    /// inside: openat2's `RESOLVE_IN_ROOT`), on the root's mount. For OCI whiteouts under a
    /// lower layer's link (`lib -> usr/lib`); nothing is created through it.
    pub fn dir_in_root(&self, rel: &Path) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            &self.root,
            rel,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
        )?)
    }

    /// A new, empty regular file `name` in `dir` (an existing file or link of that name is
    /// replaced; a directory is not).
    pub fn create_file(&self, dir: &OwnedFd, name: &OsStr) -> io::Result<File> {
        self.remove_non_dir(dir, name)?;
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        Ok(File::from(fd))
    }

    /// A regular file `name` directly in the root holding `contents`, with permission bits
    /// `mode` (the owner stays the creator's: a share may squash root). A file or symbolic
    /// link of that name is replaced, never written through.
    pub fn write_file(&self, name: &OsStr, contents: &[u8], mode: u32) -> io::Result<()> {
        use std::io::Write as _;
        let dir = self.dir(Path::new(""))?;
        let mut file = self.create_file(&dir, name)?;
        file.write_all(contents)?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode & 0o7777))?;
        Ok(())
    }

    /// Directory `name` in `dir` with `mode` (less the umask); an existing directory is
    /// kept (on the root's mount: a mount point is refused with EXDEV), anything else refused.
    pub fn make_dir(&self, dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<()> {
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                let st = self.stat_on_root_mount(dir, name)?;
                match FileType::from_raw_mode(u32::from(st.stx_mode)) {
                    FileType::Directory => Ok(()),
                    FileType::Symlink => Err(io::Error::other(
                        "is a symbolic link in the new root: nothing is written through \
                             symbolic links (name the real directory)",
                    )),
                    _ => Err(io::Error::other(
                        "exists in the new root and is not a directory",
                    )),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Symbolic link `name` -> `target` in `dir` (replacing a file or link of that name).
    pub fn make_symlink(&self, dir: &OwnedFd, name: &OsStr, target: &OsStr) -> io::Result<()> {
        self.remove_non_dir(dir, name)?;
        Ok(rustix::fs::symlinkat(target, dir, name)?)
    }

    /// Hard link `name` in `dir` to `from_name` in `from_dir` (a symbolic link there is
    /// linked itself, not followed).
    pub fn make_hard_link(
        &self,
        from_dir: &OwnedFd,
        from_name: &OsStr,
        dir: &OwnedFd,
        name: &OsStr,
    ) -> io::Result<()> {
        self.remove_non_dir(dir, name)?;
        Ok(rustix::fs::linkat(
            from_dir,
            from_name,
            dir,
            name,
            AtFlags::empty(),
        )?)
    }

    /// Owner, mode and time of a regular file or directory through its open descriptor
    /// (owner first: chown clears setuid and setgid bits). Refused with EXDEV for one on
    /// another mount: a mount point's own mode and owner are its file system's.
    pub fn set_attributes(&self, fd: impl AsFd, attrs: Attributes) -> io::Result<()> {
        self.on_root_mount(&rustix::fs::statx(
            &fd,
            "",
            AtFlags::EMPTY_PATH,
            STATX_MASK,
        )?)?;
        rustix::fs::fchown(
            &fd,
            Some(Uid::from_raw_unchecked(attrs.uid)),
            Some(Gid::from_raw_unchecked(attrs.gid)),
        )?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(attrs.mode & 0o7777))?;
        rustix::fs::futimens(&fd, &times(attrs.mtime))?;
        Ok(())
    }

    /// Owner and time of the symbolic link `name` itself (links have no mode of their own).
    pub fn set_link_attributes(dir: &OwnedFd, name: &OsStr, attrs: Attributes) -> io::Result<()> {
        rustix::fs::chownat(
            dir,
            name,
            Some(Uid::from_raw_unchecked(attrs.uid)),
            Some(Gid::from_raw_unchecked(attrs.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        rustix::fs::utimensat(dir, name, &times(attrs.mtime), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// What exists already is what was to be created (its type is checked when it is opened).
fn exists_ok(made: rustix::io::Result<()>) -> io::Result<()> {
    match made {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn times(mtime: i64) -> Timestamps {
    let at = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: at,
        last_modification: at,
    }
}

impl Beneath {
    /// Unlinks `name` unless it is missing or a directory (which is refused), or on another
    /// mount (a bound file: EXDEV).
    fn remove_non_dir(&self, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
        match self.stat_on_root_mount(dir, name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            Ok(st) if FileType::from_raw_mode(u32::from(st.stx_mode)) == FileType::Directory => {
                Err(io::Error::other(
                    "is a directory in the new root: not replacing it",
                ))
            }
            Ok(_) => Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?),
        }
    }

    /// The names in directory `dir` (without `.` and `..`).
    pub fn list(dir: &OwnedFd) -> io::Result<Vec<std::ffi::OsString>> {
        use std::os::unix::ffi::OsStrExt;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        Ok(names)
    }

    /// Removes `name` in `dir` and, for a directory, everything below it, never following a
    /// symbolic link (a link is removed itself) nor entering another mount (EXDEV). A
    /// missing name is not an error.
    pub fn remove_tree(&self, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
        let st = match self.stat_on_root_mount(dir, name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
            Ok(st) => st,
        };
        if FileType::from_raw_mode(u32::from(st.stx_mode)) != FileType::Directory {
            return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
        }
        let inner = rustix::fs::openat(
            dir,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for child in Beneath::list(&inner)? {
            self.remove_tree(&inner, &child)?;
        }
        Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testing::{MountScratch, may_mount};
    use std::os::unix::fs::PermissionsExt;

    /// A descriptor of a mount point however it was had: its mode and owner are its own
    /// file system's, never changed through the root.
    #[test]
    fn attributes_of_another_mount_are_refused() {
        if !may_mount() {
            return;
        }
        let scratch = MountScratch::new("beneath-attrs");
        let root = scratch.path().join("root");
        scratch.tmpfs(&root, "mode=0755");
        let home = root.join("home");
        scratch.tmpfs(&home, "mode=1777");
        std::fs::create_dir(root.join("etc")).expect("mkdir");
        let beneath = Beneath::open(&root).expect("open");
        let attrs = Attributes {
            uid: 0,
            gid: 0,
            mode: 0o700,
            mtime: 0,
        };
        let mount_point = File::open(&home).expect("open the mount point");
        let err = beneath.set_attributes(&mount_point, attrs).err();
        assert_eq!(
            err.and_then(|e| e.raw_os_error()),
            Some(rustix::io::Errno::XDEV.raw_os_error())
        );
        let mode = std::fs::metadata(&home).expect("stat").permissions().mode();
        assert_eq!(mode & 0o7777, 0o1777);
        // The root's own directories, and the root itself, take them.
        beneath
            .set_attributes(File::open(root.join("etc")).expect("open"), attrs)
            .expect("a directory of the root");
        beneath
            .set_attributes(beneath.dir(Path::new("")).expect("open"), attrs)
            .expect("the root itself");
        assert_eq!(
            beneath
                .mount_on_the_way(Path::new("home/a/b"))
                .expect("walk"),
            Some(std::path::PathBuf::from("home"))
        );
        assert_eq!(
            beneath
                .mount_on_the_way(Path::new("etc/a/b"))
                .expect("walk"),
            None
        );
    }
}
