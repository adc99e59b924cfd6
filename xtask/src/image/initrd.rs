//! The image builder: an optional uncompressed early cpio with CPU microcode, followed by
//! the compressed main cpio holding the init, the repo's `initramfs/` tree, kernel modules,
//! an optional rescue shell and extra files.
//!
//! Reproducible by construction: entries are sorted, metadata normalised, one mtime for all
//! (`SOURCE_DATE_EPOCH` or 0), compressors run single-threaded with fixed settings, and no
//! host path goes into the image.

use super::cpio::{self, Archive};
use super::extra::ExtraFile;
use super::kmod;
use super::microcode::Microcode;
use anyhow::{Context, Result, bail};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How the main cpio is compressed. The early microcode cpio is never compressed: the
/// kernel reads it before any decompressor runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    Zstd,
    Gzip,
    None,
}

impl FromStr for Compression {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "zstd" => Ok(Compression::Zstd),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            other => bail!("unknown compression {other:?} (expected zstd, gzip or none)"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        })
    }
}

/// zstd level: high ratio; its default window (2^23 at level 19) is within what the
/// kernel's decompressor accepts. Levels 20+ ("ultra") raise the window: do not use them.
const ZSTD_LEVEL: i32 = 19;
/// The largest zstd window the image may ask for (8 MiB).
pub const ZSTD_MAX_WINDOW_LOG: u32 = 23;

/// Compresses the main cpio. Deterministic: single-threaded, no timestamps or names.
pub fn compress(data: &[u8], compression: Compression) -> Result<Vec<u8>> {
    match compression {
        Compression::Zstd => {
            use zstd::zstd_safe::CParameter;
            let mut c =
                zstd::bulk::Compressor::new(ZSTD_LEVEL).context("creating the zstd compressor")?;
            c.set_parameter(CParameter::ChecksumFlag(true))
                .context("enabling the zstd checksum")?;
            c.set_parameter(CParameter::WindowLog(ZSTD_MAX_WINDOW_LOG))
                .context("limiting the zstd window")?;
            c.compress(data).context("compressing with zstd")
        }
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            enc.write_all(data).context("compressing with gzip")?;
            enc.finish().context("compressing with gzip")
        }
        Compression::None => Ok(data.to_vec()),
    }
}

/// Everything an image is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitrdOptions {
    pub output: PathBuf,
    /// The init binary (packed as `/init`).
    pub init: PathBuf,
    /// A `lib/modules/<kver>` tree; without it no modules are packed.
    pub modules_dir: Option<PathBuf>,
    /// Pack [`kmod::DEFAULT_MODULES`] (those the kernel has).
    pub default_modules: bool,
    /// More modules; each must exist (or be built in).
    pub modules: Vec<String>,
    /// Microcode files or directories.
    pub microcode: Vec<PathBuf>,
    pub compress: Compression,
    /// A static busybox for the rescue shell.
    pub shell: Option<PathBuf>,
    pub files: Vec<ExtraFile>,
    /// The mtime of every entry (see [`source_date_epoch`]).
    pub mtime: u64,
    /// The nodes' architecture; `None`: the init's. The init and the modules must be built
    /// for it.
    pub arch: Option<testbed::Arch>,
    /// The node's clock floor (`etc/diskless/clock-floor`, seconds since the epoch); `None`:
    /// `mtime` when set (SOURCE_DATE_EPOCH), else the init binary's mtime (its build time).
    pub clock_floor: Option<u64>,
}

impl InitrdOptions {
    /// An image of just the init and the baked-in files: default modules on (they apply
    /// once `modules_dir` is set), zstd, mtime 0.
    pub fn new(init: PathBuf, output: PathBuf) -> Self {
        InitrdOptions {
            output,
            init,
            modules_dir: None,
            default_modules: true,
            modules: Vec::new(),
            microcode: Vec::new(),
            compress: Compression::Zstd,
            shell: None,
            files: Vec::new(),
            mtime: 0,
            arch: None,
            clock_floor: None,
        }
    }
}

/// `SOURCE_DATE_EPOCH` (the reproducible-builds convention) or 0.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        _ => Ok(0),
    }
}

/// What went into an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitrdSummary {
    pub output: PathBuf,
    pub image_bytes: u64,
    /// The uncompressed microcode cpio (0 without microcode).
    pub early_bytes: u64,
    /// The main cpio before compression.
    pub main_cpio_bytes: u64,
    pub compression: Compression,
    pub init_bytes: u64,
    pub kernel_version: Option<String>,
    /// `(name, size)` of packed modules, in load order.
    pub modules: Vec<(String, u64)>,
    /// Requested modules the kernel has built in.
    pub builtin_modules: Vec<String>,
    /// Default-set modules this kernel lacks (skipped).
    pub skipped_modules: Vec<String>,
    pub microcode_bytes: u64,
    /// `kernel/x86/microcode/...` files written.
    pub microcode_files: Vec<String>,
    /// Applets linked to the rescue busybox (empty without `--shell`).
    pub shell_applets: Vec<String>,
    pub extra_files: usize,
    /// `etc/diskless/clock-floor`.
    pub clock_floor: u64,
    pub arch: testbed::Arch,
}

impl InitrdSummary {
    /// Things the user should know but that did not stop the build.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.skipped_modules.is_empty() {
            warnings.push(format!(
                "default modules not in kernel {} (neither modules nor built in), skipped: {}",
                self.kernel_version.as_deref().unwrap_or("?"),
                self.skipped_modules.join(" ")
            ));
        }
        warnings
    }
}

fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / KIB),
        _ => format!("{:.1} MiB", bytes as f64 / (KIB * KIB)),
    }
}

impl fmt::Display for InitrdSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "image:     {} ({}, {} bytes; main cpio {} before {})",
            self.output.display(),
            size(self.image_bytes),
            self.image_bytes,
            size(self.main_cpio_bytes),
            self.compression
        )?;
        writeln!(f, "init:      {} ({})", size(self.init_bytes), self.arch)?;
        writeln!(
            f,
            "clock:     never before {} (etc/diskless/clock-floor)",
            diskless::clock::utc(self.clock_floor)
        )?;
        if self.microcode_files.is_empty() {
            writeln!(f, "microcode: none")?;
        } else {
            writeln!(
                f,
                "microcode: {} ({})",
                size(self.microcode_bytes),
                self.microcode_files.join(", ")
            )?;
        }
        match &self.kernel_version {
            None => writeln!(f, "modules:   none (no module tree given)")?,
            Some(kver) => {
                let total: u64 = self.modules.iter().map(|(_, s)| s).sum();
                writeln!(
                    f,
                    "modules:   {} for {kver}, {}",
                    self.modules.len(),
                    size(total)
                )?;
                let names: Vec<&str> = self.modules.iter().map(|(n, _)| n.as_str()).collect();
                for line in wrap(&names, 78) {
                    writeln!(f, "  {line}")?;
                }
                if !self.builtin_modules.is_empty() {
                    writeln!(f, "built in:  {}", self.builtin_modules.join(" "))?;
                }
                if !self.skipped_modules.is_empty() {
                    writeln!(
                        f,
                        "skipped:   {} (not in this kernel)",
                        self.skipped_modules.join(" ")
                    )?;
                }
            }
        }
        if !self.shell_applets.is_empty() {
            writeln!(
                f,
                "shell:     bin/busybox ({})",
                self.shell_applets.join(" ")
            )?;
        }
        if self.extra_files > 0 {
            writeln!(f, "files:     {} extra", self.extra_files)?;
        }
        Ok(())
    }
}

fn wrap(words: &[&str], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in words {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push((*word).to_owned()),
        }
    }
    lines
}

/// Rescue applets linked into `bin/` next to `bin/busybox`. Not `modprobe`: `/sbin/modprobe`
/// is the init, which also serves the kernel's module requests.
pub const SHELL_APPLETS: &[&str] = &[
    "sh", "ls", "cat", "mount", "umount", "dmesg", "grep", "ip", "ps", "mkdir", "ln", "rm", "cp",
    "mv", "vi", "less",
];

/// The skeleton every image has: the init, `/sbin/modprobe` pointing at it, the console
/// the kernel opens for PID 1, and the mount points.
pub fn base_archive(init: Vec<u8>) -> Result<Archive> {
    let mut a = Archive::new();
    a.file("init", 0o755, init)?;
    // The kernel runs /sbin/modprobe for its own requests (fs-overlay, net-pf-17...);
    // the init answers when called under that name.
    a.symlink("sbin/modprobe", "/init")?;
    // Without /dev/console PID 1 starts with no stdin/stdout/stderr.
    a.char_device("dev/console", 0o600, 5, 1)?;
    for dir in ["dev", "proc", "sys", "run", "etc"] {
        a.dir(dir, 0o755)?;
    }
    a.dir("tmp", 0o1777)?;
    a.dir("root", 0o700)?;
    Ok(a)
}

/// Copies a host directory into the archive: directories and executables 0755, other
/// files 0644, symlinks as they are.
pub fn add_tree(archive: &mut Archive, dir: &Path, prefix: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .with_context(|| format!("{} is not UTF-8", path.display()))?;
        let dest = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            archive.dir(&dest, 0o755)?;
            add_tree(archive, &path, &dest)?;
        } else if kind.is_symlink() {
            let target =
                std::fs::read_link(&path).with_context(|| format!("reading {}", path.display()))?;
            let target = target
                .to_str()
                .with_context(|| format!("link {} is not UTF-8", path.display()))?;
            archive.symlink(&dest, target)?;
        } else if kind.is_file() {
            let perm = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let data =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            archive.file(&dest, perm, data)?;
        } else {
            bail!(
                "{} is neither a file, a directory nor a symlink",
                path.display()
            );
        }
    }
    Ok(())
}

/// Whether an ELF binary asks for a dynamic loader (then it cannot run in the image).
fn is_dynamic_elf(data: &[u8]) -> Result<bool> {
    use object::read::elf::{ElfFile64, ProgramHeader as _};
    let elf = ElfFile64::<object::Endianness>::parse(data).context("parsing as a 64-bit ELF")?;
    let endian = elf.endian();
    Ok(elf
        .elf_program_headers()
        .iter()
        .any(|ph| ph.p_type(endian) == object::elf::PT_INTERP))
}

/// Adds `bin/busybox` and links for [`SHELL_APPLETS`].
pub fn add_shell(archive: &mut Archive, busybox: Vec<u8>) -> Result<Vec<String>> {
    archive.file("bin/busybox", 0o755, busybox)?;
    for applet in SHELL_APPLETS {
        archive.symlink(&format!("bin/{applet}"), "busybox")?;
    }
    Ok(SHELL_APPLETS.iter().map(|a| (*a).to_owned()).collect())
}

/// The directory of files baked into every image.
pub fn baked_dir() -> PathBuf {
    testbed::project_root().join("initramfs")
}

/// Builds the image described by `opts` and writes it to `opts.output`.
pub fn build(opts: &InitrdOptions) -> Result<InitrdSummary> {
    let mtime = u32::try_from(opts.mtime)
        .with_context(|| format!("mtime {} does not fit newc's 32-bit field", opts.mtime))?;

    let init = std::fs::read(&opts.init)
        .with_context(|| format!("reading the init {}", opts.init.display()))?;
    let clock_floor = clock_floor(opts)?;
    let init_arch = testbed::Arch::of_elf(&init).with_context(|| {
        format!(
            "{} is not an x86_64 or arm64 executable: is it the init?",
            opts.init.display()
        )
    })?;
    let arch = opts.arch.unwrap_or(init_arch);
    if init_arch != arch {
        bail!(
            "the init {} is built for {init_arch}, but the image is for {arch} (--arch): build \
             the init with --target {}",
            opts.init.display(),
            arch.rust_target()
        );
    }
    if arch != testbed::Arch::X86_64 && !opts.microcode.is_empty() {
        bail!(
            "--microcode is for x86 CPUs (the kernel's early microcode loader reads \
             kernel/x86/microcode/ from an uncompressed cpio); {arch} firmware loads its own \
             CPU updates: leave --microcode out"
        );
    }
    let init_bytes = init.len() as u64;
    let mut archive = base_archive(init)?;

    let baked = baked_dir();
    add_tree(&mut archive, &baked, "")
        .with_context(|| format!("adding the baked-in files of {}", baked.display()))?;

    let packed = match &opts.modules_dir {
        Some(dir) => {
            let tree = kmod::scan(dir)
                .with_context(|| format!("indexing modules in {}", dir.display()))?;
            if let Some(modules_arch) = tree.arch()? {
                if modules_arch != arch {
                    bail!(
                        "the modules in {} are built for {modules_arch}, but the init {} is \
                         for {arch}: give the module tree of a {arch} kernel, or an init built \
                         for {modules_arch}",
                        dir.display(),
                        opts.init.display()
                    );
                }
            }
            let requests = kmod::Request::list(opts.default_modules, &opts.modules);
            Some(
                kmod::pack(&tree, &requests, &mut archive)
                    .with_context(|| format!("packing modules from {}", dir.display()))?,
            )
        }
        None if !opts.modules.is_empty() => {
            bail!(
                "modules {:?} were asked for but no module tree was given (--modules-dir or --kernel)",
                opts.modules
            )
        }
        None => None,
    };

    let shell_applets = match &opts.shell {
        Some(path) => {
            let busybox = std::fs::read(path)
                .with_context(|| format!("reading the shell {}", path.display()))?;
            if is_dynamic_elf(&busybox)
                .with_context(|| format!("checking the shell {}", path.display()))?
            {
                bail!(
                    "{} is dynamically linked; the image has no libc: use a static busybox (busybox-static)",
                    path.display()
                );
            }
            add_shell(&mut archive, busybox)?
        }
        None => Vec::new(),
    };

    // A board without an RTC starts in 1970: the init raises its clock to this.
    archive
        .file(
            diskless::clock::FLOOR_FILE,
            0o644,
            format!("{clock_floor}\n").into_bytes(),
        )
        .context("adding the clock floor")?;

    for file in &opts.files {
        archive
            .file(
                file.dest.trim_start_matches('/'),
                file.mode & 0o7777,
                file.contents.clone(),
            )
            .with_context(|| format!("adding extra file {}", file.dest))?;
    }

    let microcode = Microcode::read(&opts.microcode)?;
    let early = if microcode.is_empty() {
        Vec::new()
    } else {
        microcode.archive()?.encode(mtime)
    };

    let main = archive.encode(mtime);
    let compressed = compress(&main, opts.compress)?;
    let mut image = early.clone();
    image.extend_from_slice(&compressed);
    write_atomically(&opts.output, &image)?;

    let has_modules = packed.is_some();
    let kmod::Packed {
        kver,
        modules,
        builtin,
        missing,
    } = packed.unwrap_or_default();
    Ok(InitrdSummary {
        output: opts.output.clone(),
        image_bytes: image.len() as u64,
        early_bytes: early.len() as u64,
        main_cpio_bytes: main.len() as u64,
        compression: opts.compress,
        init_bytes,
        kernel_version: has_modules.then_some(kver),
        modules,
        builtin_modules: builtin,
        skipped_modules: missing,
        microcode_bytes: microcode.len(),
        microcode_files: microcode
            .blobs
            .iter()
            .map(|(v, _)| v.archive_path().to_owned())
            .collect(),
        shell_applets,
        extra_files: opts.files.len(),
        clock_floor,
        arch,
    })
}

/// The clock floor an image carries: the option, else SOURCE_DATE_EPOCH (the `mtime`), else
/// when the init binary was built.
fn clock_floor(opts: &InitrdOptions) -> Result<u64> {
    if let Some(floor) = opts.clock_floor {
        return Ok(floor);
    }
    if opts.mtime > 0 {
        return Ok(opts.mtime);
    }
    let modified = std::fs::metadata(&opts.init)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the build time of {}", opts.init.display()))?;
    Ok(modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}

/// The main archive of an image [`build`] wrote, decompressed: the cpio after the early
/// microcode archive, if there is one (which ends on a 512-byte boundary), zstd, gzip or
/// plain. For checking images: the tests read the packed files from it.
pub fn main_archive(image: &[u8]) -> Result<Vec<u8>> {
    const CPIO: &[u8] = b"070701";
    let mut main = image;
    if image.starts_with(CPIO) {
        let (entries, end) = cpio::parse(image).map_err(|e| anyhow::anyhow!("cpio: {e}"))?;
        let early = entries
            .iter()
            .any(|e| e.name.starts_with("kernel/x86/microcode/"));
        if !early {
            // Uncompressed and without microcode: the image is the main archive.
            return Ok(image.to_vec());
        }
        main = image.get(end.next_multiple_of(512)..).unwrap_or_default();
    }
    if main.starts_with(CPIO) {
        return Ok(main.to_vec());
    }
    if main.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return zstd::decode_all(main).context("decompressing the main archive (zstd)");
    }
    if main.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(main), &mut out)
            .context("decompressing the main archive (gzip)")?;
        return Ok(out);
    }
    bail!("the main archive is neither a cpio nor zstd or gzip data")
}

/// Writes next to `path`, then renames: a reader never sees half an image.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, data).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("moving the image to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names() {
        let table = [
            ("zstd", Compression::Zstd),
            ("gzip", Compression::Gzip),
            ("gz", Compression::Gzip),
            ("none", Compression::None),
        ];
        for (s, want) in table {
            assert_eq!(s.parse::<Compression>().expect(s), want);
        }
        let err = "xz".parse::<Compression>().expect_err("unsupported");
        assert!(err.to_string().contains("\"xz\""), "{err}");
    }

    #[test]
    fn main_archive_is_found_after_the_early_one_and_decompressed() {
        let mut early = Archive::new();
        early
            .file("kernel/x86/microcode/GenuineIntel.bin", 0o644, vec![1; 48])
            .expect("early file");
        let early = early.encode(0);
        assert_eq!(early.len() % 512, 0, "the early archive ends on a block");
        let mut main = Archive::new();
        main.file("init", 0o755, b"init".to_vec())
            .expect("main file");
        let main = main.encode(0);
        for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let compressed = compress(&main, compression).expect("compresses");
            let mut with_early = early.clone();
            with_early.extend_from_slice(&compressed);
            for image in [&compressed, &with_early] {
                assert_eq!(
                    main_archive(image).expect("found"),
                    main,
                    "{compression}, {} bytes",
                    image.len()
                );
            }
        }
        assert!(main_archive(b"BZh91AY&SY").is_err());
    }

    /// The window size a zstd frame asks the decompressor for (RFC 8878, 3.1.1.1).
    fn zstd_window(frame: &[u8]) -> u64 {
        assert_eq!(&frame[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
        let descriptor = frame[4];
        let single_segment = descriptor & 0x20 != 0;
        assert!(descriptor & 0x04 != 0, "content checksum flag set");
        if single_segment {
            // The window is the content size; only happens for small inputs here.
            return u64::MAX >> 1;
        }
        let wd = frame[5];
        let log = 10 + u64::from(wd >> 3);
        let base = 1u64 << log;
        base + (base / 8) * u64::from(wd & 7)
    }

    #[test]
    fn zstd_frames_stay_within_the_kernels_window_and_carry_a_checksum() {
        // 12 MiB, more than the window, so zstd would pick its full window for the level;
        // one pseudo-random MiB repeated keeps level 19 quick.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let block: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let data = block.repeat(12);
        let frame = compress(&data, Compression::Zstd).expect("compresses");
        assert!(
            zstd_window(&frame) <= 1 << ZSTD_MAX_WINDOW_LOG,
            "window {}",
            zstd_window(&frame)
        );
        assert_eq!(zstd::decode_all(frame.as_slice()).expect("decodes"), data);
    }

    #[test]
    fn gzip_has_no_timestamp_or_name_and_repeats_exactly() {
        let a = compress(b"same input", Compression::Gzip).expect("gzip");
        let b = compress(b"same input", Compression::Gzip).expect("gzip");
        assert_eq!(a, b);
        assert_eq!(&a[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(a[3] & 0x08, 0, "FNAME flag clear");
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "MTIME zero");
    }

    #[test]
    fn base_archive_has_what_the_kernel_and_the_init_need() {
        let bytes = base_archive(b"INIT".to_vec()).expect("archive").encode(0);
        let (entries, _) = cpio::parse(&bytes).expect("parses");
        let find = |n: &str| {
            entries
                .iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        assert_eq!(
            (find("init").mode, find("init").data.as_slice()),
            (0o100_755, &b"INIT"[..])
        );
        assert_eq!(
            (find("dev/console").mode, find("dev/console").rdev),
            (0o020_600, (5, 1))
        );
        assert_eq!(
            (
                find("sbin/modprobe").mode,
                find("sbin/modprobe").data.as_slice()
            ),
            (0o120_777, &b"/init"[..])
        );
        for dir in ["dev", "proc", "sys", "run", "tmp", "root", "etc"] {
            assert_eq!(
                find(dir).mode & 0o170_000,
                0o040_000,
                "{dir} is a directory"
            );
        }
    }

    #[test]
    fn the_shell_never_shadows_our_modprobe() {
        let mut a = base_archive(Vec::new()).expect("archive");
        let applets = add_shell(&mut a, b"busybox".to_vec()).expect("shell");
        assert!(!applets.iter().any(|a| a == "modprobe"));
        assert!(applets.iter().any(|a| a == "sh") && applets.iter().any(|a| a == "grep"));
        assert_eq!(
            a.get("sbin/modprobe"),
            Some(&cpio::Node::Symlink {
                target: "/init".into()
            })
        );
    }

    #[test]
    fn baked_files_mark_the_image_as_an_initrd() {
        let mut a = Archive::new();
        add_tree(&mut a, &baked_dir(), "").expect("baked tree");
        let Some(cpio::Node::File { data, perm, .. }) = a.get("etc/initrd-release") else {
            panic!("etc/initrd-release missing")
        };
        assert_eq!(*perm, 0o644);
        assert!(
            String::from_utf8_lossy(data)
                .lines()
                .any(|l| l == "ID=diskless")
        );
        assert!(matches!(
            a.get("etc/profile"),
            Some(cpio::Node::File { .. })
        ));
    }
}
