//! What an archive may do to the new root, decided per entry as pure data: the walker asks
//! [`Policy::admit`] about each header and hands what it admits to the writer. Nothing here
//! touches a file system, so every rule is a table test, a proptest and a fuzz property.
//!
//! The rules: a path is relative and stays inside (no `..`, no absolute path, no NUL); only
//! directories, regular files, symbolic links and hard links to earlier paths of the archive
//! are created (no device nodes, no FIFOs); the number of entries, the bytes of file
//! contents, each path's length and depth, and the bytes of all paths are bounded.
//! Symbolic links may point anywhere (Alpine's `etc/localtime -> /usr/share/zoneinfo/UTC`):
//! they are created, never followed, because the writer resolves every path without
//! following any symbolic link.
//!
//! OCI layers (whiteouts) are a second policy over the same walker: see [`Action`].

use std::collections::HashSet;
use std::fmt;

/// The longest path or link target an entry may give, in bytes: Linux's `PATH_MAX`.
pub const MAX_PATH: usize = 4096;
/// The deepest path, in components. The writer opens a directory per level; nothing real is
/// this deep.
pub const MAX_DEPTH: usize = 256;
/// The largest GNU long name or long link record: a path and its NUL. The walker refuses a
/// bigger one on its header's size, before reading it.
pub const MAX_LONG_NAME: u64 = MAX_PATH as u64 + 1;
/// The largest PAX extended header: a path, a link target and extended attributes fit
/// many times over.
pub const MAX_PAX_HEADER: u64 = 64 * 1024;
/// The largest zstd window the walker decodes with: the most zstd's own levels use (1 to
/// 19) and what the format's specification asks every decoder to support.
pub const MAX_ZSTD_WINDOW: u64 = 8 * 1024 * 1024;

/// An entry's type, as the tar header gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    /// Anything else the walker does not know (sparse files, vendor types): its type byte.
    Other(u8),
}

/// One entry's header, as the archive states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub path: &'a [u8],
    pub kind: Kind,
    /// A link's target (symbolic: any text; hard: a path of the archive).
    pub link: Option<&'a [u8]>,
    pub size: u64,
    pub meta: Meta,
}

/// Metadata kept on what is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch.
    pub mtime: i64,
}

/// A path inside the root: components without `.`, `..`, `/` or NUL, at least one, kept as
/// one string joined by `/` (`etc/hosts`): what remembering a path costs is its length, not
/// its depth.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(Box<[u8]>);

impl RelPath {
    /// `etc/hosts`, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The components, from the root down.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/')
    }

    /// The parent (empty at the top) and the last name.
    pub fn split_last(&self) -> (&[u8], &[u8]) {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(slash) => (
                self.0.get(..slash).unwrap_or_default(),
                self.0.get(slash + 1..).unwrap_or_default(),
            ),
            None => (&[], &self.0),
        }
    }

    /// `name` in `parent` (empty: the root); both already normalised.
    fn join(parent: &[u8], name: &[u8]) -> RelPath {
        let mut path = Vec::with_capacity(parent.len() + 1 + name.len());
        if !parent.is_empty() {
            path.extend_from_slice(parent);
            path.push(b'/');
        }
        path.extend_from_slice(name);
        RelPath(path.into_boxed_slice())
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A path or link target as an error shows it: lossy UTF-8, cut after 200 bytes (a
/// refused path may be 64 KiB long).
pub fn shown(bytes: &[u8]) -> String {
    const SHOWN: usize = 200;
    match bytes.get(..SHOWN) {
        Some(head) if bytes.len() > SHOWN => format!("{}…", String::from_utf8_lossy(head)),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A regular file of `size` bytes (the entry's contents).
    File {
        size: u64,
    },
    Dir,
    Symlink {
        target: Vec<u8>,
    },
    /// A second name for a file an earlier entry created.
    HardLink {
        target: RelPath,
    },
}

/// The policy's answer for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do (the archive's `./` entry: the root itself keeps its own mode).
    Skip,
    Create {
        path: RelPath,
        op: Op,
        meta: Meta,
    },
    /// OCI whiteout `.wh.<name>`: `path` (and all below it) is deleted from what lower
    /// layers put there.
    Remove {
        path: RelPath,
    },
    /// OCI opaque whiteout `.wh..wh..opq`: what lower layers put in `dir` is hidden (`None`:
    /// the root); this layer's own entries stay.
    Opaque {
        dir: Option<RelPath>,
    },
}

/// Why an entry is refused: the whole archive is then refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("an absolute path: archives are applied at the root, give it relative")]
    Absolute,
    #[error("a '..' component: it would land outside the new root")]
    DotDot,
    #[error("an empty path")]
    Empty,
    #[error("a NUL byte in the path")]
    Nul,
    #[error("a {0}: archives may hold files, directories and links only")]
    Special(&'static str),
    #[error("a hard link without a target")]
    NoLinkTarget,
    #[error("a hard link to {0}: {1}")]
    BadHardLink(String, Box<Refusal>),
    #[error("a hard link to {0}, which no earlier entry of the archive created")]
    HardLinkUnknown(String),
    #[error("a symbolic link with an empty target")]
    EmptySymlink,
    #[error("a whiteout that names no file (.wh. alone, or .wh.. / .wh...)")]
    BadWhiteout,
    #[error("more than {0} entries")]
    TooManyEntries(u32),
    #[error("more than {0} bytes of file contents in all")]
    TooLarge(u64),
    #[error("a path of {0} bytes: paths are at most {MAX_PATH} bytes")]
    PathTooLong(usize),
    #[error("a path {0} levels deep: paths are at most {MAX_DEPTH} levels deep")]
    TooDeep(usize),
    #[error("a link target of {0} bytes: link targets are at most {MAX_PATH} bytes")]
    LinkTooLong(usize),
    #[error("more than {0} bytes of paths in all")]
    TooManyPathBytes(u64),
    /// A GNU long name or PAX extended header larger than the walker reads (it is refused
    /// on its header's size, before any of it is read).
    #[error("{what} of {size} bytes, over the bound of {max}")]
    Oversized {
        what: &'static str,
        size: u64,
        max: u64,
    },
    #[error("{0}")]
    BadExtension(&'static str),
}

/// The bounds of one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: u32,
    /// File contents in all (headers and padding are not counted; the walker bounds the
    /// decompressed stream separately).
    pub max_bytes: u64,
    /// The entries' paths in all: what the policy and the writer remember grows with it.
    pub max_path_bytes: u64,
}

impl Default for Limits {
    /// Configuration overlays are small: an apkovl is a few hundred KiB. 8 MiB of paths is
    /// 84 bytes for each of the 100,000 entries.
    fn default() -> Limits {
        Limits {
            max_entries: 100_000,
            max_bytes: 256 * 1024 * 1024,
            max_path_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// An image layer's bounds: a root image is the size of the RAM it is unpacked into.
    /// `ram` is what the root may take (the tmpfs's size); each entry costs the kernel an
    /// inode and a dentry (about 1 KiB), and the policy a path, so one per 4 KiB of RAM
    /// bounds the entries with room for every real image (Debian's is ~30,000 files in
    /// ~400 MiB).
    ///
    /// Paths get 128 bytes for each of those entries, 1/32 of the RAM: a real image needs
    /// far less (Debian's, 1.8 MB).
    pub fn for_layers(ram: u64) -> Limits {
        let default = Limits::default();
        Limits {
            max_entries: u32::try_from(ram / 4096)
                .unwrap_or(u32::MAX)
                .max(default.max_entries),
            max_bytes: ram,
            max_path_bytes: (ram / 32).max(default.max_path_bytes),
        }
    }

    /// The most one extraction holds in memory, in bytes, beyond the archive's own bytes
    /// (see the module `archive`): every path is remembered at most twice (the policy's
    /// files, the writer's entries), each at most 5/4 of its length (the allocator's
    /// rounding) and [`PER_PATH`] bytes of bookkeeping; and the fixed buffers.
    pub fn memory_bound(&self) -> u64 {
        let paths = self.max_path_bytes.saturating_mul(5) / 4;
        let entries = u64::from(self.max_entries).saturating_mul(PER_PATH);
        paths
            .saturating_add(entries)
            .saturating_mul(2)
            .saturating_add(FIXED_BUFFERS)
    }
}

/// What remembering one path costs beyond its bytes: its pointer and length, a slot in a
/// hash table or a B-tree node, the writer's metadata for a directory, the allocator's
/// header (measured in the tests' peak-memory check).
pub const PER_PATH: u64 = 128;

/// The walker's buffers whatever the archive: the largest zstd window it decodes, a PAX
/// header and two long names, and 1 MiB for the decoders' tables and the readers.
pub const FIXED_BUFFERS: u64 = MAX_ZSTD_WINDOW + MAX_PAX_HEADER + 2 * MAX_LONG_NAME + (1 << 20);

/// Decides entry after entry; keeps the counts and the files created (for hard links).
pub trait Policy {
    fn admit(&mut self, header: &Header<'_>) -> Result<Action, Refusal>;
}

/// Plain archives (apkovl, `diskless.config=`): the rules in the module's comment.
#[derive(Debug, Clone)]
pub struct Plain {
    limits: Limits,
    entries: u32,
    bytes: u64,
    path_bytes: u64,
    /// The files and hard links created so far (a hard link's target must be one).
    files: HashSet<RelPath>,
}

impl Plain {
    pub fn new(limits: Limits) -> Plain {
        Plain {
            limits,
            entries: 0,
            bytes: 0,
            path_bytes: 0,
            files: HashSet::new(),
        }
    }

    fn count_entry(&mut self) -> Result<(), Refusal> {
        self.entries = self.entries.saturating_add(1);
        if self.entries > self.limits.max_entries {
            return Err(Refusal::TooManyEntries(self.limits.max_entries));
        }
        Ok(())
    }

    /// Every entry's path counts, whether it is remembered or not (simpler to state).
    fn count_path(&mut self, path: &RelPath) -> Result<(), Refusal> {
        self.path_bytes = self.path_bytes.saturating_add(path.0.len() as u64);
        if self.path_bytes > self.limits.max_path_bytes {
            return Err(Refusal::TooManyPathBytes(self.limits.max_path_bytes));
        }
        Ok(())
    }
}

impl Policy for Plain {
    fn admit(&mut self, header: &Header<'_>) -> Result<Action, Refusal> {
        self.count_entry()?;
        let Some(path) = normalize(header.path)? else {
            return match header.kind {
                Kind::Dir => Ok(Action::Skip),
                _ => Err(Refusal::Empty),
            };
        };
        self.count_path(&path)?;
        let op = match header.kind {
            Kind::File => {
                self.bytes = self.bytes.saturating_add(header.size);
                if self.bytes > self.limits.max_bytes {
                    return Err(Refusal::TooLarge(self.limits.max_bytes));
                }
                self.files.insert(path.clone());
                Op::File { size: header.size }
            }
            Kind::Dir => Op::Dir,
            Kind::Symlink => match header.link {
                Some(target) if !target.is_empty() => {
                    if target.len() > MAX_PATH {
                        return Err(Refusal::LinkTooLong(target.len()));
                    }
                    if target.contains(&0) {
                        return Err(Refusal::Nul);
                    }
                    // A later entry of the archive may replace this name.
                    self.files.remove(&path);
                    Op::Symlink {
                        target: target.to_vec(),
                    }
                }
                _ => return Err(Refusal::EmptySymlink),
            },
            Kind::HardLink => {
                let raw = header.link.ok_or(Refusal::NoLinkTarget)?;
                let shown = shown(raw);
                let target = normalize(raw)
                    .map_err(|why| Refusal::BadHardLink(shown.clone(), Box::new(why)))?
                    .ok_or(Refusal::NoLinkTarget)?;
                // Only to files this archive wrote: a link to one of the image's files
                // (`etc/shadow`) would hand a path the archive names to a file it does not
                // own, and an overlay only adds what it carries.
                if !self.files.contains(&target) {
                    return Err(Refusal::HardLinkUnknown(shown));
                }
                self.files.insert(path.clone());
                Op::HardLink { target }
            }
            Kind::CharDevice => return Err(Refusal::Special("character device")),
            Kind::BlockDevice => return Err(Refusal::Special("block device")),
            Kind::Fifo => return Err(Refusal::Special("FIFO")),
            Kind::Other(_) => return Err(Refusal::Special("entry of an unsupported type")),
        };
        Ok(Action::Create {
            path,
            op,
            meta: Meta {
                mode: header.meta.mode & 0o7777,
                ..header.meta
            },
        })
    }
}

/// OCI image layers: whiteouts (`.wh.<name>`, `.wh..wh..opq`) delete what lower layers
/// wrote; every other entry is held to [`Plain`]'s rules. Whiteout files themselves are
/// never created.
#[derive(Debug, Clone)]
pub struct Layer {
    plain: Plain,
}

/// The prefix of OCI whiteout names, and the opaque marker.
pub const WHITEOUT: &[u8] = b".wh.";
pub const OPAQUE: &[u8] = b".wh..wh..opq";

impl Layer {
    pub fn new(limits: Limits) -> Layer {
        Layer {
            plain: Plain::new(limits),
        }
    }
}

impl Policy for Layer {
    fn admit(&mut self, header: &Header<'_>) -> Result<Action, Refusal> {
        let Some(path) = normalize(header.path)? else {
            return self.plain.admit(header);
        };
        let (parent, last) = path.split_last();
        if last == OPAQUE {
            // Counted like any entry.
            self.plain.count_entry()?;
            self.plain.count_path(&path)?;
            let dir = (!parent.is_empty()).then(|| RelPath(parent.into()));
            return Ok(Action::Opaque { dir });
        }
        match last.strip_prefix(WHITEOUT) {
            Some(b"" | b"." | b"..") => Err(Refusal::BadWhiteout),
            Some(name) => {
                self.plain.count_entry()?;
                self.plain.count_path(&path)?;
                let removed = RelPath::join(parent, name);
                self.plain.files.remove(&removed);
                Ok(Action::Remove { path: removed })
            }
            None => self.plain.admit(header),
        }
    }
}

/// A tar path as components inside the root: `./etc//hosts` is `etc/hosts`; `./` and `.`
/// are the root itself (`None`). Absolute paths, `..` and NUL are refused, not stripped:
/// an archive that tries them is not one to apply. So are paths over [`MAX_PATH`] bytes or
/// [`MAX_DEPTH`] levels.
pub fn normalize(path: &[u8]) -> Result<Option<RelPath>, Refusal> {
    if path.is_empty() {
        return Err(Refusal::Empty);
    }
    if path.len() > MAX_PATH {
        return Err(Refusal::PathTooLong(path.len()));
    }
    if path.contains(&0) {
        return Err(Refusal::Nul);
    }
    if path.first() == Some(&b'/') {
        return Err(Refusal::Absolute);
    }
    let mut joined = Vec::with_capacity(path.len());
    let mut depth = 0;
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(Refusal::DotDot),
            name => {
                depth += 1;
                if !joined.is_empty() {
                    joined.push(b'/');
                }
                joined.extend_from_slice(name);
            }
        }
    }
    if depth > MAX_DEPTH {
        return Err(Refusal::TooDeep(depth));
    }
    Ok((depth > 0).then(|| RelPath(joined.into_boxed_slice())))
}
