//! The writer for a real root: every entry goes through [`crate::sys::Beneath`], so it lands under
//! the root and never through a symbolic link.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::ops::Bound;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Sink;
use super::policy::{Meta, Op, RelPath};
use crate::sys::{Attributes, Beneath};

/// Writes beneath one directory (the new root).
#[derive(Debug)]
pub struct Confined {
    root: Beneath,
    /// Every path this archive wrote (an opaque whiteout keeps them), each once as one
    /// string; a directory's with the archive's metadata, which `finish` sets.
    written: BTreeMap<Box<[u8]>, Option<Meta>>,
}

impl Confined {
    pub fn open(root: &Path) -> io::Result<Confined> {
        Ok(Confined {
            root: Beneath::open(root)?,
            written: BTreeMap::new(),
        })
    }
}

fn path_of(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

fn attributes(meta: &Meta) -> Attributes {
    Attributes {
        uid: meta.uid,
        gid: meta.gid,
        mode: meta.mode,
        mtime: meta.mtime,
    }
}

/// [`explain`]ed, or else with the path before it.
fn naming(path: &Path, err: io::Error) -> io::Error {
    let code = err.raw_os_error();
    let explained = [rustix::io::Errno::LOOP, rustix::io::Errno::XDEV]
        .iter()
        .any(|e| code == Some(e.raw_os_error()));
    if explained {
        return explain(path, err);
    }
    io::Error::other(format!("{}: {err}", path.display()))
}

/// ELOOP from openat2 means a symbolic link on the way; EXDEV a mount crossed (the writer
/// never resolves `..` or a link, the other ways out it refuses so): say so in words.
fn explain(parent: &Path, err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => io::Error::other(format!(
            "{} goes through a symbolic link in the new root: nothing is written through \
             symbolic links (name the real directory)",
            parent.display()
        )),
        Some(code) if code == rustix::io::Errno::XDEV.raw_os_error() => io::Error::other(format!(
            "{} is another mount in the new root (a share, a persisted path, the node's \
             directory, a diskless.tmpfs= mount): archives write only into the root's own \
             file system, never onto another mount",
            parent.display()
        )),
        _ => err,
    }
}

impl Confined {
    /// Opens (creating as needed) the parent directories of `path`, one level at a time,
    /// each from the one above.
    fn parent(&self, path: &RelPath) -> io::Result<OwnedFd> {
        let (parents, _) = path.split_last();
        let mut dir = self.root.dir(Path::new(""))?;
        if parents.is_empty() {
            return Ok(dir);
        }
        let mut start = 0;
        for part in parents.split(|&b| b == b'/') {
            let end = start + part.len();
            let walked = path_of(parents.get(..end).unwrap_or_default());
            start = end + 1;
            let name = OsStr::from_bytes(part);
            // Parents the archive does not list get the usual 0755, as tar gives them.
            self.root
                .make_dir(&dir, name, 0o755)
                .map_err(|e| naming(walked, e))?;
            dir = self
                .root
                .subdir(&dir, name)
                .map_err(|e| explain(walked, e))?;
        }
        Ok(dir)
    }

    /// Whether this archive wrote `path` or anything below it.
    fn wrote_at_or_below(&self, path: &[u8]) -> bool {
        if self.written.contains_key(path) {
            return true;
        }
        let mut prefix = path.to_vec();
        prefix.push(b'/');
        self.written
            .range::<[u8], _>((Bound::Included(prefix.as_slice()), Bound::Unbounded))
            .next()
            .is_some_and(|(below, _)| below.starts_with(&prefix))
    }

    /// Removes what `rel` holds except this archive's own entries (and the directories on
    /// the way to them, whose other contents go).
    fn clear_below(&self, rel: &[u8]) -> io::Result<()> {
        let fd = match self.root.dir(path_of(rel)) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(explain(path_of(rel), e)),
        };
        for name in Beneath::list(&fd)? {
            let mut child = rel.to_vec();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(name.as_bytes());
            if self.wrote_at_or_below(&child) {
                // A directory this archive wrote or wrote into: only its lower content goes.
                if self.root.dir(path_of(&child)).is_ok() {
                    self.clear_below(&child)?;
                }
                continue;
            }
            self.root
                .remove_tree(&fd, &name)
                .map_err(|e| explain(path_of(&child), e))?;
        }
        Ok(())
    }
}

/// The dry run before anything is written: reads every file's contents (a truncated archive
/// fails here) and refuses an entry that would land on another mount of the root, as
/// [`Confined`] would; writes nothing.
#[derive(Debug)]
pub struct Probe {
    root: Beneath,
}

impl Probe {
    pub fn open(root: &Path) -> io::Result<Probe> {
        Ok(Probe {
            root: Beneath::open(root)?,
        })
    }
}

impl Sink for Probe {
    fn create(
        &mut self,
        path: &RelPath,
        op: &Op,
        _meta: &Meta,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        if let Some(mount) = self.root.mount_on_the_way(path_of(path.as_bytes()))? {
            return Err(explain(&mount, Beneath::crossing()));
        }
        if let Op::File { size } = op {
            let copied = io::copy(&mut contents.take(*size), &mut io::sink())?;
            if copied != *size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the archive ends {copied} bytes into a {size}-byte file"),
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Confined {
    fn create(
        &mut self,
        path: &RelPath,
        op: &Op,
        meta: &Meta,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        let dir = self.parent(path)?;
        let (_, last) = path.split_last();
        let name = OsStr::from_bytes(last);
        let full = path_of(path.as_bytes());
        // A bound file or a mount point at the name itself.
        let on_mount = |e| explain(full, e);
        let dir_meta = matches!(op, Op::Dir).then_some(*meta);
        self.written.insert(path.as_bytes().into(), dir_meta);
        match op {
            Op::File { size } => {
                let mut file = self.root.create_file(&dir, name).map_err(on_mount)?;
                let copied = io::copy(&mut contents.take(*size), &mut file)?;
                if copied != *size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the archive ends {copied} bytes into a {size}-byte file"),
                    ));
                }
                self.root.set_attributes(&file, attributes(meta))?;
            }
            Op::Dir => {
                // 0700 until `finish` sets the archive's mode.
                self.root.make_dir(&dir, name, 0o700).map_err(on_mount)?;
                self.root.subdir(&dir, name).map_err(on_mount)?;
            }
            Op::Symlink { target } => {
                self.root
                    .make_symlink(&dir, name, OsStr::from_bytes(target))
                    .map_err(on_mount)?;
                Beneath::set_link_attributes(&dir, name, attributes(meta))?;
            }
            Op::HardLink { target } => {
                let (from_parents, from_last) = target.split_last();
                let from_dir = self.root.dir(path_of(from_parents))?;
                self.root
                    .make_hard_link(&from_dir, OsStr::from_bytes(from_last), &dir, name)
                    .map_err(on_mount)?;
            }
        }
        Ok(())
    }

    fn remove(&mut self, path: &RelPath) -> io::Result<()> {
        let (parents, last) = path.split_last();
        let parent = path_of(parents);
        // ELOOP for a link on the way, ENOTDIR for one as the last component.
        let through_link = |e: &io::Error| {
            [rustix::io::Errno::LOOP, rustix::io::Errno::NOTDIR]
                .iter()
                .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
        };
        let dir = match self.root.dir(parent) {
            // A lower layer's link on the way (`lib -> usr/lib`, as usrmerge images have): the
            // whiteout names the file as the image reaches it, so resolve it so, inside the
            // root. Only removal goes through links; nothing is created through them.
            Err(e) if through_link(&e) => self.root.dir_in_root(parent),
            other => other,
        };
        let dir = match dir {
            Ok(dir) => dir,
            // Nothing below a missing directory to remove.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(explain(parent, e)),
        };
        self.root
            .remove_tree(&dir, OsStr::from_bytes(last))
            .map_err(|e| explain(path_of(path.as_bytes()), e))
    }

    fn clear(&mut self, dir: Option<&RelPath>) -> io::Result<()> {
        self.clear_below(dir.map(RelPath::as_bytes).unwrap_or_default())
    }

    fn finish(&mut self) -> io::Result<()> {
        // A path sorts after its parent's, so in reverse every directory comes after all
        // below it: a mode that closes it is set once nothing below needs a way through.
        for (dir, meta) in self.written.iter().rev() {
            let Some(meta) = meta else { continue };
            let dir = path_of(dir);
            let fd = self.root.dir(dir).map_err(|e| explain(dir, e))?;
            self.root
                .set_attributes(&fd, attributes(meta))
                .map_err(|e| naming(dir, e))?;
        }
        Ok(())
    }
}
