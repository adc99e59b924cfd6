//! A writer for the newc ("070701") cpio format, the one the kernel unpacks into rootfs.
//!
//! The archive is a model first ([`Archive`], a sorted map of paths) and bytes second
//! ([`Archive::encode`]): every entry gets normalised metadata (uid/gid 0, one mtime,
//! sequential inode numbers), so the same inputs always give the same bytes.
//!
//! Format facts followed here (kernel `init/initramfs.c`, `lib/earlycpio.c`):
//! - a header is `070701` then 13 fields of 8 hex digits; the name (with its NUL) and the
//!   data are each padded to 4 bytes from the start of the archive;
//! - the archive ends with an entry named `TRAILER!!!`;
//! - zero bytes between concatenated archives are skipped, so padding the archive to 512
//!   bytes (as GNU cpio does) is harmless and keeps the next archive aligned;
//! - a regular file with nlink >= 2 is treated as a possible hard link: we always write 1.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

const MAGIC: &str = "070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";
/// GNU cpio and the kernel's own `gen_init_cpio` pad archives to this block size.
pub const BLOCK: usize = 512;

/// Why an entry could not be added or the archive not encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpioError {
    #[error("invalid archive path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("{path:?} is already in the archive as a {existing}")]
    Conflict {
        path: String,
        existing: &'static str,
    },
    #[error("{path:?} is {len} bytes, more than newc's 4 GiB limit")]
    TooLarge { path: String, len: usize },
    #[error("alignment {align} for {path:?} must be a power of two of at least 4")]
    BadAlignment { path: String, align: usize },
}

/// What a path in the archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir {
        perm: u32,
    },
    /// `align`: the data must start at a multiple of this offset in the archive (1 = any).
    File {
        perm: u32,
        data: Vec<u8>,
        align: usize,
    },
    Symlink {
        target: String,
    },
    CharDevice {
        perm: u32,
        major: u32,
        minor: u32,
    },
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Dir { .. } => "directory",
            Node::File { .. } => "file",
            Node::Symlink { .. } => "symlink",
            Node::CharDevice { .. } => "character device",
        }
    }
}

/// An archive being assembled: paths are relative (`dev/console`), `/`-separated.
///
/// Entries come out sorted by path; since a parent's path is a prefix of its children's,
/// parents always precede children, which the kernel needs (it does not create parents).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archive {
    entries: BTreeMap<String, Node>,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory (and its missing parents, 0755). Adding an existing directory
    /// again only updates its permissions.
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<(), CpioError> {
        check_path(path)?;
        self.parents(path)?;
        match self.entries.get_mut(path) {
            Some(Node::Dir { perm: p }) => {
                *p = perm & 0o7777;
                Ok(())
            }
            Some(other) => Err(CpioError::Conflict {
                path: path.to_owned(),
                existing: other.kind(),
            }),
            None => {
                self.entries.insert(
                    path.to_owned(),
                    Node::Dir {
                        perm: perm & 0o7777,
                    },
                );
                Ok(())
            }
        }
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, perm: u32, data: Vec<u8>) -> Result<(), CpioError> {
        self.file_aligned(path, perm, data, 1)
    }

    /// Adds a regular file whose data must start at a multiple of `align` bytes from the
    /// start of the archive (the kernel's early microcode loader reads it in place).
    pub fn file_aligned(
        &mut self,
        path: &str,
        perm: u32,
        data: Vec<u8>,
        align: usize,
    ) -> Result<(), CpioError> {
        if align != 1 && (align < 4 || !align.is_power_of_two()) {
            return Err(CpioError::BadAlignment {
                path: path.to_owned(),
                align,
            });
        }
        if u32::try_from(data.len()).is_err() {
            return Err(CpioError::TooLarge {
                path: path.to_owned(),
                len: data.len(),
            });
        }
        self.insert(
            path,
            Node::File {
                perm: perm & 0o7777,
                data,
                align,
            },
        )
    }

    /// Adds a symbolic link; `target` is stored verbatim (absolute or relative).
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        if target.is_empty() || target.contains('\0') {
            return Err(CpioError::InvalidPath {
                path: target.to_owned(),
                reason: "bad symlink target",
            });
        }
        self.insert(
            path,
            Node::Symlink {
                target: target.to_owned(),
            },
        )
    }

    /// Adds a character device node (`dev/console` is 5:1).
    pub fn char_device(
        &mut self,
        path: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.insert(
            path,
            Node::CharDevice {
                perm: perm & 0o7777,
                major,
                minor,
            },
        )
    }

    /// The entries, in archive order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(p, n)| (p.as_str(), n))
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.entries.get(path)
    }

    fn insert(&mut self, path: &str, node: Node) -> Result<(), CpioError> {
        check_path(path)?;
        self.parents(path)?;
        if let Some(existing) = self.entries.get(path) {
            return Err(CpioError::Conflict {
                path: path.to_owned(),
                existing: existing.kind(),
            });
        }
        self.entries.insert(path.to_owned(), node);
        Ok(())
    }

    /// Creates the missing parent directories of `path` (0755).
    fn parents(&mut self, path: &str) -> Result<(), CpioError> {
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            match self.entries.get(parent) {
                Some(Node::Dir { .. }) => {}
                Some(other) => {
                    return Err(CpioError::Conflict {
                        path: parent.to_owned(),
                        existing: other.kind(),
                    });
                }
                None => {
                    self.entries
                        .insert(parent.to_owned(), Node::Dir { perm: 0o755 });
                }
            }
        }
        Ok(())
    }

    /// The archive's bytes: entries in path order, each with `mtime`, then the trailer,
    /// padded with zeros to [`BLOCK`] bytes.
    ///
    /// A file added with an alignment is preceded, when needed, by a padding entry (a
    /// regular file `<dir>/.<name>.align` of `align - 4` zero bytes at most) that
    /// shifts its data onto the boundary; that entry is the only one outside path order.
    pub fn encode(&self, mtime: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ino = 0u32;
        for (path, node) in &self.entries {
            if let Node::File { align, .. } = node
                && *align > 1
            {
                pad_before(&mut out, path, *align, &mut ino, mtime);
            }
            ino += 1;
            let (mode, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match node {
                Node::Dir { perm } => (S_IFDIR | perm, 2, &[], (0, 0)),
                Node::File { perm, data, .. } => (S_IFREG | perm, 1, data, (0, 0)),
                Node::Symlink { target } => (S_IFLNK | 0o777, 1, target.as_bytes(), (0, 0)),
                Node::CharDevice { perm, major, minor } => {
                    (S_IFCHR | perm, 1, &[], (*major, *minor))
                }
            };
            write_entry(
                &mut out,
                &Header {
                    ino,
                    mode,
                    nlink,
                    mtime,
                    rdev,
                },
                path,
                data,
            );
        }
        write_entry(
            &mut out,
            &Header {
                ino: 0,
                mode: 0,
                nlink: 1,
                mtime: 0,
                rdev: (0, 0),
            },
            TRAILER,
            &[],
        );
        out.resize(out.len().next_multiple_of(BLOCK), 0);
        out
    }
}

/// Rejects paths the kernel or an unpacker would treat differently from what we mean.
fn check_path(path: &str) -> Result<(), CpioError> {
    let reason = if path.is_empty() {
        Some("empty")
    } else if path.starts_with('/') {
        Some("must be relative")
    } else if path.contains('\0') {
        Some("contains NUL")
    } else if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        Some("empty, `.` or `..` component")
    } else if path == TRAILER {
        Some("reserved for the trailer")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CpioError::InvalidPath {
            path: path.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    rdev: (u32, u32),
}

fn pad4(n: usize) -> usize {
    n.next_multiple_of(4)
}

fn entry_len(name: &str, data_len: usize) -> usize {
    pad4(pad4(HEADER_LEN + name.len() + 1) + data_len)
}

/// Writes one entry.
fn write_entry(out: &mut Vec<u8>, h: &Header, name: &str, data: &[u8]) {
    let mut header = String::with_capacity(HEADER_LEN);
    header.push_str(MAGIC);
    // Lengths were checked to fit u32 when entries were added.
    let fields = [
        h.ino,
        h.mode,
        0, // uid
        0, // gid
        h.nlink,
        h.mtime,
        data.len() as u32,
        0, // dev major: meaningless for rootfs
        0, // dev minor
        h.rdev.0,
        h.rdev.1,
        (name.len() + 1) as u32,
        0, // check: only used by the "070702" crc variant
    ];
    for field in fields {
        let _ = write!(header, "{field:08X}");
    }
    let start = out.len();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.resize(start + pad4(HEADER_LEN + name.len() + 1), 0);
    out.extend_from_slice(data);
    out.resize(start + entry_len(name, data.len()), 0);
}

/// Emits a padding entry when the data of the file entry `path` would not start on an
/// `align` boundary; the padding file's length is chosen to land it exactly there.
fn pad_before(out: &mut Vec<u8>, path: &str, align: usize, ino: &mut u32, mtime: u32) {
    let data_at = |offset: usize| offset + pad4(HEADER_LEN + path.len() + 1);
    if data_at(out.len()) % align == 0 {
        return;
    }
    let pad_name = match path.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/.{base}.align"),
        None => format!(".{path}.align"),
    };
    let fixed = pad4(HEADER_LEN + pad_name.len() + 1);
    let misalign = data_at(out.len() + fixed) % align;
    // Everything is 4-aligned, so the shortfall is a multiple of 4 below `align`.
    let len = (align - misalign) % align;
    *ino += 1;
    let header = Header {
        ino: *ino,
        mode: S_IFREG | 0o644,
        nlink: 1,
        mtime,
        rdev: (0, 0),
    };
    write_entry(out, &header, &pad_name, &vec![0; len]);
}

/// A parsed newc entry, for tests and for checking images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEntry {
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub rdev: (u32, u32),
    /// Offset of the data from the start of the buffer given to [`parse`].
    pub data_offset: usize,
    pub data: Vec<u8>,
}

/// Parses one newc archive from the start of `buf` up to and including its trailer
/// (which is not returned). Returns the entries and the offset just past the trailer.
pub fn parse(buf: &[u8]) -> Result<(Vec<ParsedEntry>, usize), String> {
    let mut at = 0;
    let mut entries = Vec::new();
    loop {
        let header = buf
            .get(at..at + HEADER_LEN)
            .ok_or_else(|| format!("truncated header at {at}"))?;
        if &header[..6] != MAGIC.as_bytes() {
            return Err(format!("bad magic at {at}"));
        }
        let field = |i: usize| -> Result<u32, String> {
            let s =
                std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).map_err(|e| e.to_string())?;
            u32::from_str_radix(s, 16).map_err(|e| format!("field {i} at {at}: {e}"))
        };
        let namesize = field(11)? as usize;
        let filesize = field(6)? as usize;
        let name_bytes = buf
            .get(at + HEADER_LEN..at + HEADER_LEN + namesize)
            .ok_or("truncated name")?;
        let name = std::str::from_utf8(name_bytes.strip_suffix(&[0]).ok_or("name without NUL")?)
            .map_err(|e| e.to_string())?
            .to_owned();
        let data_offset = at + pad4(HEADER_LEN + namesize);
        let data = buf
            .get(data_offset..data_offset + filesize)
            .ok_or("truncated data")?
            .to_vec();
        let next = pad4(data_offset + filesize);
        if name == TRAILER {
            return Ok((entries, next));
        }
        entries.push(ParsedEntry {
            name,
            ino: field(0)?,
            mode: field(1)?,
            uid: field(2)?,
            gid: field(3)?,
            nlink: field(4)?,
            mtime: field(5)?,
            rdev: (field(9)?, field(10)?),
            data_offset,
            data,
        });
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(a: &Archive) -> Vec<String> {
        let bytes = a.encode(0);
        parse(&bytes)
            .expect("parses")
            .0
            .into_iter()
            .map(|e| e.name)
            .collect()
    }

    #[test]
    fn entries_round_trip_with_normalised_metadata() {
        let mut a = Archive::new();
        a.file("init", 0o755, b"#!x".to_vec()).expect("add");
        a.char_device("dev/console", 0o600, 5, 1).expect("add");
        a.symlink("sbin/modprobe", "/init").expect("add");
        a.dir("proc", 0o555).expect("add");
        let bytes = a.encode(1234);
        let (entries, end) = parse(&bytes).expect("parses");
        type Row<'a> = (&'a str, u32, u32, (u32, u32), &'a [u8]);
        let got: Vec<Row<'_>> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.mode, e.nlink, e.rdev, e.data.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("dev", 0o040_755, 2, (0, 0), &b""[..]),
                ("dev/console", 0o020_600, 1, (5, 1), b""),
                ("init", 0o100_755, 1, (0, 0), b"#!x"),
                ("proc", 0o040_555, 2, (0, 0), b""),
                ("sbin", 0o040_755, 2, (0, 0), b""),
                ("sbin/modprobe", 0o120_777, 1, (0, 0), b"/init"),
            ]
        );
        assert!(
            entries
                .iter()
                .all(|e| e.uid == 0 && e.gid == 0 && e.mtime == 1234)
        );
        assert_eq!(
            entries.iter().map(|e| e.ino).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(bytes.len() % BLOCK, 0, "archive padded to 512");
        assert!(
            bytes[end..].iter().all(|&b| b == 0),
            "only zeros after the trailer"
        );
    }

    #[test]
    fn header_fields_are_what_gnu_cpio_and_the_kernel_read() {
        let mut a = Archive::new();
        a.file("a", 0o644, b"hello".to_vec()).expect("add");
        let bytes = a.encode(0x5f00_0000);
        // magic, ino 1, mode 100644, uid, gid, nlink 1, mtime, size 5, dev, rdev, namesize 2, check
        let expected = "070701\
            00000001000081A4000000000000000000000001\
            5F00000000000005000000000000000000000000\
            0000000000000002\
            00000000";
        assert_eq!(
            std::str::from_utf8(&bytes[..HEADER_LEN]).expect("ascii"),
            expected
        );
        // name "a\0" ends at 112, already 4-aligned; data follows, padded to 120.
        assert_eq!(&bytes[110..112], b"a\0");
        assert_eq!(&bytes[112..117], b"hello");
        assert_eq!(&bytes[117..120], &[0, 0, 0]);
        assert_eq!(&bytes[120..126], b"070701");
    }

    #[test]
    fn parents_are_created_once_and_before_children() {
        let table: &[(&[&str], &[&str])] = &[
            (&["a/b/c"], &["a", "a/b", "a/b/c"]),
            (
                &["a/b/c", "a/b/d", "a/e"],
                &["a", "a/b", "a/b/c", "a/b/d", "a/e"],
            ),
            // `-` sorts before `/`: `lib-x` lands between `lib` and `lib/y`, still after `lib`.
            (&["lib/y", "lib-x"], &["lib", "lib-x", "lib/y"]),
            (&["z", "y/x"], &["y", "y/x", "z"]),
        ];
        for (files, want) in table {
            let mut a = Archive::new();
            for f in *files {
                a.file(f, 0o644, Vec::new()).expect("add");
            }
            assert_eq!(names(&a), *want, "for {files:?}");
        }
    }

    #[test]
    fn explicit_dir_after_implicit_parent_is_one_entry_with_its_mode() {
        let mut a = Archive::new();
        a.file("tmp/x", 0o644, Vec::new()).expect("add");
        a.dir("tmp", 0o1777).expect("add");
        let bytes = a.encode(0);
        let (entries, _) = parse(&bytes).expect("parses");
        let tmp: Vec<_> = entries.iter().filter(|e| e.name == "tmp").collect();
        assert_eq!(tmp.len(), 1);
        assert_eq!(tmp[0].mode, 0o041_777);
    }

    #[test]
    fn bad_paths_and_conflicts_are_rejected_with_the_path() {
        for bad in ["", "/init", "a//b", "a/./b", "../x", "a/", "TRAILER!!!"] {
            let err = Archive::new().file(bad, 0o644, Vec::new()).expect_err(bad);
            assert!(
                matches!(err, CpioError::InvalidPath { ref path, .. } if path == bad),
                "{bad}: {err}"
            );
        }
        let mut a = Archive::new();
        a.file("etc/x", 0o644, Vec::new()).expect("add");
        assert_eq!(
            a.file("etc/x", 0o644, Vec::new()),
            Err(CpioError::Conflict {
                path: "etc/x".into(),
                existing: "file"
            })
        );
        assert_eq!(
            a.file("etc/x/y", 0o644, Vec::new()),
            Err(CpioError::Conflict {
                path: "etc/x".into(),
                existing: "file"
            })
        );
        assert_eq!(
            a.dir("etc/x", 0o755),
            Err(CpioError::Conflict {
                path: "etc/x".into(),
                existing: "file"
            })
        );
    }

    #[test]
    fn aligned_data_starts_on_the_boundary_whatever_precedes_it() {
        // Vary the bytes before the aligned file so every residue mod 16 is exercised.
        for prefix_len in 0..24 {
            for align in [4, 16, 64] {
                let mut a = Archive::new();
                a.file("d/a", 0o644, vec![1; prefix_len]).expect("add");
                a.file_aligned("d/b.bin", 0o644, vec![7; 33], align)
                    .expect("add");
                let bytes = a.encode(0);
                let (entries, _) = parse(&bytes).expect("parses");
                let b = entries
                    .iter()
                    .find(|e| e.name == "d/b.bin")
                    .expect("present");
                assert_eq!(
                    b.data_offset % align,
                    0,
                    "prefix {prefix_len}, align {align}"
                );
                assert_eq!(b.data, vec![7; 33]);
                let inos: Vec<u32> = entries.iter().map(|e| e.ino).collect();
                assert_eq!(
                    inos,
                    (1..=inos.len() as u32).collect::<Vec<_>>(),
                    "inodes stay sequential"
                );
                let pads: Vec<&str> = entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .filter(|n| n.ends_with(".align"))
                    .collect();
                assert!(pads.is_empty() || pads == ["d/.b.bin.align"], "{pads:?}");
            }
        }
    }

    #[test]
    fn same_model_gives_same_bytes_regardless_of_insertion_order() {
        let mut a = Archive::new();
        a.file("b", 0o644, b"1".to_vec()).expect("add");
        a.file("a/c", 0o644, b"2".to_vec()).expect("add");
        let mut b = Archive::new();
        b.file("a/c", 0o644, b"2".to_vec()).expect("add");
        b.file("b", 0o644, b"1".to_vec()).expect("add");
        assert_eq!(a.encode(7), b.encode(7));
    }
}
