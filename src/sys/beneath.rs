//! Writing beneath one directory and nowhere else: every path is resolved with openat2's
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so neither `..` nor a symbolic link (the image's
//! or one written a moment ago) can take a write outside, or anywhere else inside. Names
//! are created in the directory resolved so, with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`: an
//! existing symbolic link is replaced, never written through. One exception resolves
//! links, inside the root only: [`Beneath::dir_in_root`], for deleting (OCI whiteouts).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::fs::{Gid, Uid};

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
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

impl Beneath {
    pub fn open(root: &Path) -> io::Result<Beneath> {
        let root = rustix::fs::open(
            root,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath { root })
    }

    /// The directory at `rel` (empty: the root itself), resolved beneath the root without
    /// following any symbolic link (ELOOP if one is on the way, EXDEV if it would leave).
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
            RESOLVE,
        )?)
    }

    /// The directory `name` (one component) in `dir`, opened as [`Beneath::dir`] opens a
    /// path: never through a symbolic link, never above `dir`. A walk down a deep path costs
    /// one lookup per level this way, not one per level above it too.
    pub fn subdir(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            dir,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            RESOLVE,
        )?)
    }

    /// The directory at `rel` as the new root itself would resolve it: symbolic links
    /// followed, but with the root as `/` (an absolute target, or `..` past the top, stays
    /// inside: openat2's `RESOLVE_IN_ROOT`). For OCI whiteouts under a lower layer's link
    /// (`lib -> usr/lib`); nothing is created through it.
    pub fn dir_in_root(&self, rel: &Path) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            &self.root,
            rel,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?)
    }

    /// A new, empty regular file `name` in `dir` (an existing file or link of that name is
    /// replaced; a directory is not).
    pub fn create_file(&self, dir: &OwnedFd, name: &OsStr) -> io::Result<File> {
        remove_non_dir(dir, name)?;
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        Ok(File::from(fd))
    }

    /// Directory `name` in `dir` with `mode` (less the umask); an existing directory is
    /// kept, anything else refused.
    pub fn make_dir(&self, dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<()> {
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Ok(()),
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                        Err(io::Error::other(
                            "is a symbolic link in the new root: nothing is written through \
                             symbolic links (name the real directory)",
                        ))
                    }
                    Ok(_) => Err(io::Error::other(
                        "exists in the new root and is not a directory",
                    )),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Symbolic link `name` -> `target` in `dir` (replacing a file or link of that name).
    pub fn make_symlink(&self, dir: &OwnedFd, name: &OsStr, target: &OsStr) -> io::Result<()> {
        remove_non_dir(dir, name)?;
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
        remove_non_dir(dir, name)?;
        Ok(rustix::fs::linkat(
            from_dir,
            from_name,
            dir,
            name,
            AtFlags::empty(),
        )?)
    }

    /// Owner, mode and time of a regular file or directory through its open descriptor
    /// (owner first: chown clears setuid and setgid bits).
    pub fn set_attributes(fd: impl AsFd, attrs: Attributes) -> io::Result<()> {
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

/// Unlinks `name` unless it is missing or a directory (which is refused).
fn remove_non_dir(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Err(
            io::Error::other("is a directory in the new root: not replacing it"),
        ),
        Ok(_) => Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?),
    }
}

impl Beneath {
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
    /// symbolic link (a link is removed itself). A missing name is not an error.
    pub fn remove_tree(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(st) => st,
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
        }
        let inner = rustix::fs::openat(
            dir,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for child in Beneath::list(&inner)? {
            Beneath::remove_tree(&inner, &child)?;
        }
        Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
    }
}
