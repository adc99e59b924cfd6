//! Tar archives applied to the new root: format detection by content, one walker over the
//! entries, a [`policy`] that decides what each entry may do (pure), and a [`Sink`] that
//! does it ([`write::Confined`] writes beneath a directory through `sys`, never following a
//! symbolic link). An archive is applied whole or refused at its first bad entry, which the
//! error names.
//!
//! Configuration overlays use [`policy::Plain`]; OCI image layers [`policy::Layer`], which
//! adds whiteouts over the same rules, walker and writer.
//!
//! # Memory
//!
//! One extraction holds, beyond the archive's own bytes, at most
//! [`Limits::memory_bound`]: `2 × (5/4 × max_path_bytes + 128 B × max_entries)` for the
//! paths the policy and the writer remember, plus fixed buffers: a zstd window of at most
//! 8 MiB, one PAX header of at most 64 KiB, two long names of at most 4097 bytes, and 1 MiB
//! for the decoders and readers. Configuration archives (100,000 entries, 8 MiB of paths):
//! 53.5 MiB. What bounds it:
//!
//! - a GNU long name (`L`, `K`) or PAX header (`x`) is refused on its header's size, before
//!   it is read: the tar crate reads them whole, so the walker takes them itself
//!   (`entries().raw(true)`, module `extended`);
//! - a path is at most [`policy::MAX_PATH`] bytes and [`policy::MAX_DEPTH`] levels, and
//!   every path is kept as one string, so its cost is its length, not its depth;
//! - the paths of one archive are at most `max_path_bytes` in all;
//! - a zstd frame's window is read from its header and refused over 8 MiB.

mod extended;
pub mod policy;
pub mod write;

#[cfg(test)]
mod tests;

use std::io::{self, Read};

use crate::sha256::Sha256;

use extended::{Extended, Record};
use policy::{Action, Header, Kind, Limits, MAX_ZSTD_WINDOW, Meta, Op, Policy, Refusal, RelPath};

/// How the archive's bytes are wrapped, detected from their first bytes (never from a name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    Gzip,
    Zstd,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];
const BZIP2_MAGIC: [u8; 3] = *b"BZh";
/// POSIX ustar and GNU tar both put `ustar` at offset 257 of the first header.
const USTAR_OFFSET: usize = 257;

/// The format of `head` (the first bytes of the archive, 262 or more for plain tar).
pub fn detect(head: &[u8]) -> Result<Format, ArchiveError> {
    let unsupported = |what: &str| {
        Err(ArchiveError::Format(format!(
            "{what}: give a tar archive, plain or compressed with gzip or zstd"
        )))
    };
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Format::Gzip)
    } else if head.starts_with(&ZSTD_MAGIC) {
        match zstd_window(head) {
            Some(window) if window > MAX_ZSTD_WINDOW => Err(ArchiveError::Format(format!(
                "a zstd window of {} MiB, over the {} MiB the init decodes with: compress with \
                 zstd -19 or lower, without --ultra or --long",
                window >> 20,
                MAX_ZSTD_WINDOW >> 20
            ))),
            _ => Ok(Format::Zstd),
        }
    } else if head.starts_with(&XZ_MAGIC) {
        unsupported("xz-compressed")
    } else if head.starts_with(&BZIP2_MAGIC) {
        unsupported("bzip2-compressed")
    } else if head.get(USTAR_OFFSET..USTAR_OFFSET + 5) == Some(b"ustar") {
        Ok(Format::Tar)
    } else {
        unsupported("not a tar archive (no ustar header, no gzip or zstd magic)")
    }
}

/// The window a zstd frame asks its decoder to keep (RFC 8878, 3.1.1.1), from its first
/// bytes; `None` if they are too few (the decoder then says what is wrong).
fn zstd_window(head: &[u8]) -> Option<u64> {
    let descriptor = *head.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let window = *head.get(5)?;
        let log = 10 + u32::from(window >> 3);
        let base = 1u64 << log;
        return Some(base + (base / 8) * u64::from(window & 7));
    }
    // A single segment's window is its content size, after the dictionary id.
    let dict_bytes = match descriptor & 3 {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 4,
    };
    let size_bytes = match descriptor >> 6 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let start = 5 + dict_bytes;
    let field = head.get(start..start + size_bytes)?;
    let size = field
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Some(if size_bytes == 2 { size + 256 } else { size })
}

/// Where admitted entries go.
pub trait Sink {
    /// Creates `path`; for [`Op::File`] the contents are read from `contents` (exactly the
    /// entry's size).
    fn create(
        &mut self,
        path: &RelPath,
        op: &Op,
        meta: &Meta,
        contents: &mut dyn Read,
    ) -> io::Result<()>;
    /// Deletes `path` and everything below it (an OCI whiteout); missing is not an error.
    fn remove(&mut self, path: &RelPath) -> io::Result<()> {
        let _ = path;
        Err(io::Error::other("this writer does not apply whiteouts"))
    }
    /// Deletes what `dir` (`None`: the root) held before this archive (an OCI opaque
    /// whiteout); what this archive wrote there stays.
    fn clear(&mut self, dir: Option<&RelPath>) -> io::Result<()> {
        let _ = dir;
        Err(io::Error::other("this writer does not apply whiteouts"))
    }
    /// Called once after the last entry (directory times and modes are set last, since
    /// creating their entries changed them).
    fn finish(&mut self) -> io::Result<()>;
}

/// What an applied archive held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub format: Option<Format>,
    pub entries: u32,
    pub file_bytes: u64,
    /// The sha256 of the whole decompressed tar stream (an OCI layer's `diff_id`).
    pub tar_sha256: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Format(String),
    #[error("entry {entry:?} is {refusal}")]
    Refused { entry: String, refusal: Refusal },
    #[error("entry {entry:?}: {source}")]
    Write { entry: String, source: io::Error },
    #[error("reading the archive after {entries} entries: {source}")]
    Read { entries: u32, source: io::Error },
}

/// Applies `data` (a whole archive, already verified) through `policy` into `sink`.
/// Stops at the first refused entry or failed write; what was written before stays (the
/// caller applies only archives it has verified, so a refusal is the archive's own fault).
pub fn extract(
    data: &[u8],
    limits: Limits,
    policy: &mut dyn Policy,
    sink: &mut dyn Sink,
) -> Result<Summary, ArchiveError> {
    extract_from(data, limits, policy, sink)
}

/// [`extract`] reading the archive from `input` (an image layer in a file: it is not read
/// into memory whole).
pub fn extract_from(
    mut input: impl Read,
    limits: Limits,
    policy: &mut dyn Policy,
    sink: &mut dyn Sink,
) -> Result<Summary, ArchiveError> {
    let mut head = Vec::with_capacity(512);
    (&mut input)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|source| ArchiveError::Read { entries: 0, source })?;
    let format = detect(&head)?;
    let data = io::Cursor::new(head).chain(input);
    // Headers, padding and long names ride on top of the file contents: bound the whole
    // decompressed stream too, so a bomb of long-name entries cannot fill RAM.
    let stream_limit = limits
        .max_bytes
        .saturating_add(u64::from(limits.max_entries).saturating_mul(3 * 512))
        .saturating_add(1 << 20);
    let decoded: Box<dyn Read + '_> = match format {
        Format::Tar => Box::new(data),
        Format::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        Format::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(data)
                .map_err(|e| ArchiveError::Format(format!("zstd: {e}")))?,
        ),
    };
    let bounded = Bounded {
        inner: decoded,
        left: stream_limit,
    };
    let mut archive = tar::Archive::new(Hashing {
        inner: bounded,
        hasher: Sha256::new(),
    });
    let mut summary = Summary {
        format: Some(format),
        ..Summary::default()
    };
    let read_err = |entries: u32| move |source: io::Error| ArchiveError::Read { entries, source };
    // Raw entries: long names and PAX headers come as entries of their own, so their size
    // is seen before anything of them is read.
    let mut extended = Extended::default();
    for entry in archive.entries().map_err(read_err(0))?.raw(true) {
        let mut entry = entry.map_err(read_err(summary.entries))?;
        let head = entry.header();
        let recognized = head.as_ustar().is_some() || head.as_gnu().is_some();
        if let Some(record) = Record::of(head.entry_type()).filter(|_| recognized) {
            let data = read_record(&mut entry, record, summary.entries)?;
            let shown = policy::shown(&entry.header().path_bytes());
            extended
                .add(record, data)
                .map_err(|refusal| refused(&shown, refusal))?;
            continue;
        }
        let ext = std::mem::take(&mut extended);
        let path = ext.path(&head.path_bytes()).to_vec();
        let shown = policy::shown(&path);
        let header_link = head.link_name_bytes();
        let link = ext.link(header_link.as_deref()).map(<[u8]>::to_vec);
        let size = entry.size();
        ext.check_size(size).map_err(|r| refused(&shown, r))?;
        let id = |pax: Option<u64>, header: io::Result<u64>, what: &'static str| {
            let id = match pax {
                Some(id) => id,
                None => header.map_err(read_err(summary.entries))?,
            };
            u32::try_from(id).map_err(|_| refused(&shown, Refusal::Special(what)))
        };
        let meta = Meta {
            mode: head.mode().map_err(read_err(summary.entries))?,
            uid: id(ext.uid(), head.uid(), "owner id over 32 bits")?,
            gid: id(ext.gid(), head.gid(), "group id over 32 bits")?,
            mtime: i64::try_from(head.mtime().map_err(read_err(summary.entries))?)
                .unwrap_or(i64::MAX),
        };
        let kind = kind_of(head.entry_type());
        let header = Header {
            path: &path,
            kind,
            link: link.as_deref(),
            size,
            meta,
        };
        summary.entries = summary.entries.saturating_add(1);
        match policy.admit(&header).map_err(|r| refused(&shown, r))? {
            Action::Skip => {}
            Action::Create { path, op, meta } => {
                if let Op::File { size } = op {
                    summary.file_bytes = summary.file_bytes.saturating_add(size);
                }
                sink.create(&path, &op, &meta, &mut entry)
                    .map_err(|source| ArchiveError::Write {
                        entry: shown,
                        source,
                    })?;
            }
            Action::Remove { path } => {
                sink.remove(&path).map_err(|source| ArchiveError::Write {
                    entry: shown,
                    source,
                })?
            }
            Action::Opaque { dir } => {
                sink.clear(dir.as_ref())
                    .map_err(|source| ArchiveError::Write {
                        entry: shown,
                        source,
                    })?
            }
        }
    }
    if !extended.is_empty() {
        return Err(ArchiveError::Read {
            entries: summary.entries,
            source: io::Error::other(
                "the archive ends after a long name or PAX header, with no entry for it",
            ),
        });
    }
    sink.finish().map_err(|source| ArchiveError::Write {
        entry: "(directory modes and times)".to_owned(),
        source,
    })?;
    // The stream's digest covers what follows the end-of-archive blocks too (tar pads to
    // its record size), so read it to its end.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_err(summary.entries))?;
    summary.tar_sha256 = rest.hasher.finish();
    Ok(summary)
}

/// A long name's or PAX header's bytes, refused on its header's size if over its bound;
/// then only the first bytes of a long name are read, to name the entry.
fn read_record<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    record: Record,
    entries: u32,
) -> Result<Vec<u8>, ArchiveError> {
    let (what, max) = record.bound();
    let size = entry.size();
    let read_err = |source: io::Error| ArchiveError::Read { entries, source };
    if size > max {
        let shown = if record == Record::LongName {
            let mut head = Vec::new();
            entry.take(64).read_to_end(&mut head).map_err(read_err)?;
            format!("{}…", String::from_utf8_lossy(&head))
        } else {
            policy::shown(&entry.header().path_bytes())
        };
        return Err(refused(&shown, Refusal::Oversized { what, size, max }));
    }
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry.read_to_end(&mut data).map_err(read_err)?;
    if data.len() as u64 != size {
        return Err(read_err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the archive ends inside {what}"),
        )));
    }
    Ok(data)
}

fn refused(entry: &str, refusal: Refusal) -> ArchiveError {
    ArchiveError::Refused {
        entry: entry.to_owned(),
        refusal,
    }
}

fn kind_of(kind: tar::EntryType) -> Kind {
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink,
        tar::EntryType::Link => Kind::HardLink,
        tar::EntryType::Char => Kind::CharDevice,
        tar::EntryType::Block => Kind::BlockDevice,
        tar::EntryType::Fifo => Kind::Fifo,
        other => Kind::Other(other.as_byte()),
    }
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// A reader that fails once it has given `left` bytes.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other(
                "the decompressed archive is larger than its bounds allow",
            ));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}
