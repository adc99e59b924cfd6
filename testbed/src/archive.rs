//! Configuration archives for the tests (`diskless.config=`, `apkovl=`): tar written header
//! by header, so a test can also write what no honest tool would (`../etc/x`, `/etc/x`, a
//! link and a file through it).

use std::io::Write;

/// A tar archive being written.
#[derive(Debug, Default, Clone)]
pub struct Tar {
    bytes: Vec<u8>,
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    /// A directory owned by root, mode 0755.
    pub fn dir(self, path: &str) -> Tar {
        self.entry(path, tar::EntryType::Directory, "", b"", 0o755)
    }

    /// A regular file owned by root.
    pub fn file(self, path: &str, contents: &[u8], mode: u32) -> Tar {
        self.entry(path, tar::EntryType::Regular, "", contents, mode)
    }

    pub fn symlink(self, path: &str, target: &str) -> Tar {
        self.entry(path, tar::EntryType::Symlink, target, b"", 0o777)
    }

    /// A second name for a file written before.
    pub fn hard_link(self, path: &str, target: &str) -> Tar {
        self.entry(path, tar::EntryType::Link, target, b"", 0o644)
    }

    /// A GNU long name (type `L`) for the entry after it: `name` and a NUL, as GNU tar
    /// writes a path over 100 bytes.
    pub fn long_name(self, name: &[u8]) -> Tar {
        let mut record = name.to_vec();
        record.push(0);
        self.entry(
            "././@LongLink",
            tar::EntryType::GNULongName,
            "",
            &record,
            0o644,
        )
    }

    /// Any entry, the path written as given (up to 100 bytes).
    pub fn entry(
        mut self,
        path: &str,
        kind: tar::EntryType,
        link: &str,
        contents: &[u8],
        mode: u32,
    ) -> Tar {
        let mut header = tar::Header::new_ustar();
        {
            let old = header.as_old_mut();
            let name = path.as_bytes();
            let link = link.as_bytes();
            assert!(name.len() <= old.name.len() && link.len() <= old.linkname.len());
            if let Some(slot) = old.name.get_mut(..name.len()) {
                slot.copy_from_slice(name);
            }
            if let Some(slot) = old.linkname.get_mut(..link.len()) {
                slot.copy_from_slice(link);
            }
        }
        header.set_entry_type(kind);
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(contents);
        self.bytes.resize(self.bytes.len().div_ceil(512) * 512, 0);
        self
    }

    /// The archive, plain.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0; 1024]);
        self.bytes
    }

    /// The archive, gzip-compressed.
    pub fn gzip(self) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&self.finish());
        encoder.finish().unwrap_or_default()
    }
}
