//! The early microcode archive: an uncompressed newc cpio placed first in the image, from
//! which the kernel's early loader (`arch/x86/kernel/cpu/microcode/`) picks
//! `kernel/x86/microcode/{GenuineIntel,AuthenticAMD}.bin` before it unpacks anything else.
//!
//! The loader uses the blob where it lies in memory, so the data is aligned to 16 bytes in
//! the archive, as Debian's initramfs-tools (through iucode_tool) and dracut do.

use super::cpio::{Archive, CpioError};
use anyhow::{Context, Result, bail};
use std::fmt;
use std::path::{Path, PathBuf};

/// Alignment of the microcode data inside the early cpio.
pub const ALIGN: usize = 16;

/// Whose loader the microcode is for; named as the kernel names the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Vendor {
    Amd,
    Intel,
}

impl Vendor {
    /// The path the kernel looks for in the early cpio.
    pub fn archive_path(self) -> &'static str {
        match self {
            Vendor::Amd => "kernel/x86/microcode/AuthenticAMD.bin",
            Vendor::Intel => "kernel/x86/microcode/GenuineIntel.bin",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vendor::Amd => "AMD",
            Vendor::Intel => "Intel",
        })
    }
}

/// AMD's container format starts with this magic (`UCODE_MAGIC` 0x00414d44, little endian).
const AMD_MAGIC: &[u8; 4] = b"DMA\0";
/// Intel's update header: header version 1 at offset 0 and loader revision 1 at offset 20,
/// 48 bytes long (`struct microcode_header_intel`).
const INTEL_HEADER_LEN: usize = 48;

/// Tells the vendor from the content; `None` when it is neither format.
pub fn detect(data: &[u8]) -> Option<Vendor> {
    if data.starts_with(AMD_MAGIC) {
        return Some(Vendor::Amd);
    }
    let word = |at: usize| {
        data.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    if data.len() >= INTEL_HEADER_LEN && word(0) == Some(1) && word(20) == Some(1) {
        return Some(Vendor::Intel);
    }
    None
}

/// Microcode gathered per vendor, ready to be archived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Microcode {
    /// Per vendor, the concatenation of its files in the order given.
    pub blobs: Vec<(Vendor, Vec<u8>)>,
}

impl Microcode {
    /// Adds one file's content (`name` is for the error message).
    pub fn add(&mut self, name: &Path, data: &[u8]) -> Result<()> {
        let Some(vendor) = detect(data) else {
            bail!(
                "{} is not microcode: no AMD container magic and no Intel update header",
                name.display()
            );
        };
        match self.blobs.iter_mut().find(|(v, _)| *v == vendor) {
            Some((_, blob)) => blob.extend_from_slice(data),
            None => {
                self.blobs.push((vendor, data.to_vec()));
                self.blobs.sort_by_key(|(v, _)| *v);
            }
        }
        Ok(())
    }

    /// Reads each path: a file, or a directory whose regular files are read sorted by name
    /// (as `/lib/firmware/intel-ucode` is laid out).
    pub fn read(paths: &[PathBuf]) -> Result<Microcode> {
        let mut microcode = Microcode::default();
        for path in paths {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("reading microcode {}", path.display()))?;
            let files = if meta.is_dir() {
                let mut files = Vec::new();
                for entry in std::fs::read_dir(path)
                    .with_context(|| format!("listing {}", path.display()))?
                {
                    let entry_path = entry
                        .with_context(|| format!("listing {}", path.display()))?
                        .path();
                    if entry_path.is_file() {
                        files.push(entry_path);
                    }
                }
                files.sort();
                if files.is_empty() {
                    bail!("microcode directory {} holds no files", path.display());
                }
                files
            } else {
                vec![path.clone()]
            };
            for file in files {
                let data = std::fs::read(&file)
                    .with_context(|| format!("reading microcode {}", file.display()))?;
                microcode.add(&file, &data)?;
            }
        }
        Ok(microcode)
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Total bytes of microcode.
    pub fn len(&self) -> u64 {
        self.blobs.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// The early cpio: `kernel/x86/microcode/<Vendor>.bin`, data 16-byte aligned.
    pub fn archive(&self) -> Result<Archive, CpioError> {
        let mut archive = Archive::new();
        for (vendor, blob) in &self.blobs {
            archive.file_aligned(vendor.archive_path(), 0o644, blob.clone(), ALIGN)?;
        }
        Ok(archive)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::cpio;
    use super::*;

    /// A well-formed Intel update: 48-byte header (version 1, loader revision 1, sizes set)
    /// and a payload, with the checksum making the dword sum zero as the spec requires.
    pub(crate) fn synthetic_intel(payload_words: usize, revision: u32) -> Vec<u8> {
        let data_size = (payload_words * 4) as u32;
        let mut words = vec![
            1,
            revision,
            0x2024_0101,
            0x000906ea,
            0,
            1,
            0x22,
            data_size,
            data_size + 48,
            0,
            0,
            0,
        ];
        words.extend((0..payload_words as u32).map(|i| i.wrapping_mul(0x9e37_79b9)));
        let sum = words.iter().fold(0u32, |a, w| a.wrapping_add(*w));
        words[4] = 0u32.wrapping_sub(sum);
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn vendor_is_told_by_content() {
        let intel = synthetic_intel(4, 0x10);
        let mut amd = b"DMA\0".to_vec();
        amd.extend([0; 60]);
        let table: &[(&[u8], Option<Vendor>)] = &[
            (&intel, Some(Vendor::Intel)),
            (&amd, Some(Vendor::Amd)),
            (b"", None),
            (b"DMA", None),
            (&intel[..40], None), // shorter than a header
            (&[0u8; 64], None),   // header version 0
            (b"# README: this is not microcode, honest ......", None),
        ];
        for (data, want) in table {
            assert_eq!(detect(data), *want, "{:?}", &data[..data.len().min(8)]);
        }
    }

    #[test]
    fn unknown_content_is_an_error_naming_the_file() {
        let err = Microcode::default()
            .add(Path::new("/fw/README"), b"hello")
            .expect_err("not microcode");
        assert!(err.to_string().contains("/fw/README"), "{err}");
    }

    #[test]
    fn files_of_one_vendor_are_concatenated_in_order() {
        let (a, b) = (synthetic_intel(4, 1), synthetic_intel(8, 2));
        let mut amd = b"DMA\0".to_vec();
        amd.extend([9; 12]);
        let mut m = Microcode::default();
        m.add(Path::new("06-01"), &a).expect("intel");
        m.add(Path::new("amd.bin"), &amd).expect("amd");
        m.add(Path::new("06-02"), &b).expect("intel");
        assert_eq!(
            m.blobs,
            vec![
                (Vendor::Amd, amd.clone()),
                (Vendor::Intel, [a.clone(), b.clone()].concat())
            ]
        );
        assert_eq!(m.len(), (amd.len() + a.len() + b.len()) as u64);
    }

    #[test]
    fn blobs_sit_16_byte_aligned_under_the_kernels_names() {
        let mut amd = b"DMA\0".to_vec();
        amd.extend([3; 21]);
        let intel = synthetic_intel(5, 7);
        let mut m = Microcode::default();
        m.add(Path::new("a"), &amd).expect("amd");
        m.add(Path::new("i"), &intel).expect("intel");
        let bytes = m.archive().expect("archive").encode(0);
        let (entries, _) = cpio::parse(&bytes).expect("parses");
        for (name, data) in [
            (Vendor::Amd.archive_path(), &amd),
            (Vendor::Intel.archive_path(), &intel),
        ] {
            let e = entries.iter().find(|e| e.name == name).expect("present");
            assert_eq!(&e.data, data);
            assert_eq!(e.data_offset % ALIGN, 0, "{name} at {}", e.data_offset);
        }
    }
}
