//! Image tests: build initrds from the real Debian cloud kernel's module tree and check them
//! with the tools a user would reach for (Debian's `unmkinitramfs`, GNU `cpio`, `zstd`).
//!
//! Under `CI=true` a missing tool or kernel fails the test; locally it skips, loudly.

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use testbed::kernel::Kernel;
use testbed::skip_or_fail;
use xshell::{Shell, cmd};
use xtask::image::extra::ExtraFile;
use xtask::image::initrd::{self, Compression, InitrdOptions};

/// Whether `tool` is on PATH; skips (or fails in CI) when not.
fn have(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join(tool).is_file());
    if !found {
        skip_or_fail(&format!("{tool} is not installed"));
    }
    found
}

fn kernel() -> Option<Kernel> {
    match testbed::kernel::ensure() {
        Ok(k) => Some(k),
        Err(e) => {
            skip_or_fail(&format!("no test kernel: {e:#}"));
            None
        }
    }
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("initrd-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// Stands in for the init: the image builder only packs it.
/// An x86_64 ELF header (class 64, little-endian, machine 62) and then just bytes to pack.
const FAKE_INIT: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0 not really an init\n";
/// The same for arm64 (machine 183).
const FAKE_ARM64_INIT: &[u8] =
    b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\xb7\0 not really an init\n";

/// An Intel microcode update as the kernel's loader expects it: a 48-byte header (header
/// version 1, loader revision 1, data and total sizes) then the payload, with the checksum
/// making the sum of all dwords zero.
fn synthetic_intel_microcode() -> Vec<u8> {
    let payload_words = 252u32; // 1008 bytes: total 1056, a multiple of 16 like real ones
    let mut words = vec![
        1,           // header version
        0x0000_00f0, // update revision
        0x0320_2024, // date
        0x0009_06ea, // processor signature
        0,           // checksum, fixed below
        1,           // loader revision
        0x22,        // processor flags
        payload_words * 4,
        payload_words * 4 + 48,
        0,
        0,
        0,
    ];
    words.extend((0..payload_words).map(|i| i.wrapping_mul(2_654_435_761)));
    let sum = words.iter().fold(0u32, |a, w| a.wrapping_add(*w));
    words[4] = 0u32.wrapping_sub(sum);
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn options(dir: &Path, name: &str, kernel: &Kernel) -> InitrdOptions {
    let init = dir.join("init");
    std::fs::write(&init, FAKE_INIT).expect("writing the fake init");
    let mut opts = InitrdOptions::new(init, dir.join(name));
    opts.modules_dir = Some(kernel.modules_dir.clone());
    opts
}

/// The main archive's entries.
fn main_entries(image: &Path) -> Vec<xtask::image::cpio::ParsedEntry> {
    let bytes = std::fs::read(image).expect("reading the image");
    let cpio = initrd::main_archive(&bytes).expect("the image has a main archive");
    xtask::image::cpio::parse(&cpio)
        .expect("the main archive parses")
        .0
}

fn modules_dep(entries: &[xtask::image::cpio::ParsedEntry], kver: &str) -> String {
    let name = format!("lib/modules/{kver}/modules.dep");
    let e = entries
        .iter()
        .find(|e| e.name == name)
        .expect("modules.dep is packed");
    String::from_utf8(e.data.clone()).expect("modules.dep is text")
}

fn module_name(path: &str) -> &str {
    path.rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".ko")
}

#[test]
fn unmkinitramfs_finds_microcode_in_early_and_the_system_in_main() {
    if !have("unmkinitramfs") || !have("cpio") || !have("zstd") {
        return;
    }
    let Some(kernel) = kernel() else { return };
    let dir = scratch("unmkinitramfs");
    let microcode = synthetic_intel_microcode();
    std::fs::write(dir.join("06-9e-0a"), &microcode).expect("writing microcode");
    let mut opts = options(&dir, "initrd.img", &kernel);
    opts.microcode = vec![dir.join("06-9e-0a")];
    let summary = initrd::build(&opts).expect("building the image");
    assert_eq!(summary.microcode_bytes, microcode.len() as u64);

    let out = dir.join("unpacked");
    let sh = Shell::new().expect("shell");
    let image = &opts.output;
    cmd!(sh, "unmkinitramfs {image} {out}")
        .run()
        .expect("unmkinitramfs unpacks the image");

    let early = std::fs::read(out.join("early/kernel/x86/microcode/GenuineIntel.bin"))
        .expect("microcode in early/");
    assert_eq!(early, microcode, "the microcode comes out byte for byte");
    assert_eq!(
        std::fs::read(out.join("main/init")).expect("main/init"),
        FAKE_INIT
    );

    // The kernel's early loader uses the blob in place: it must sit 16-byte aligned.
    let bytes = std::fs::read(image).expect("reading the image");
    let (early_entries, _) = xtask::image::cpio::parse(&bytes).expect("early archive parses");
    let blob = early_entries
        .iter()
        .find(|e| e.name.ends_with("GenuineIntel.bin"))
        .expect("blob");
    assert_eq!(
        blob.data_offset % 16,
        0,
        "microcode data at offset {}",
        blob.data_offset
    );

    let main = out.join("main");
    let modules = main.join("lib/modules").join(&kernel.version);
    let virtio_net = modules.join("kernel/drivers/net/virtio_net.ko");
    assert_eq!(
        std::fs::read(&virtio_net).expect("virtio_net.ko in main/"),
        std::fs::read(kernel.modules_dir.join("kernel/drivers/net/virtio_net.ko"))
            .expect("the tree's virtio_net.ko"),
    );
    let dep = std::fs::read_to_string(modules.join("modules.dep")).expect("modules.dep");
    let line = dep
        .lines()
        .find(|l| l.starts_with("kernel/drivers/net/virtio_net.ko:"))
        .expect("virtio_net line");
    for path in line.split_once(':').expect("colon").1.split_whitespace() {
        assert!(
            modules.join(path).is_file(),
            "{path}, a dependency of virtio_net, is in the image"
        );
    }

    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let console = std::fs::symlink_metadata(main.join("dev/console")).expect("dev/console");
    assert!(
        console.file_type().is_char_device(),
        "dev/console is a character device"
    );
    assert_eq!(
        (console.rdev() >> 8, console.rdev() & 0xff),
        (5, 1),
        "dev/console is 5:1"
    );
    assert_eq!(
        std::fs::read_link(main.join("sbin/modprobe")).expect("symlink"),
        Path::new("/init")
    );
    let release =
        std::fs::read_to_string(main.join("etc/initrd-release")).expect("etc/initrd-release");
    assert!(release.lines().any(|l| l == "ID=diskless"), "{release}");
}

#[test]
fn same_inputs_give_byte_identical_images() {
    let Some(kernel) = kernel() else { return };
    let dir = scratch("reproducible");
    let microcode = dir.join("ucode");
    std::fs::write(&microcode, synthetic_intel_microcode()).expect("writing microcode");
    for compression in [Compression::Zstd, Compression::Gzip] {
        let mut images = Vec::new();
        // Different output directories: nothing of the host's paths may leak in.
        for attempt in ["a", "b"] {
            let sub = dir.join(format!("{compression}-{attempt}"));
            std::fs::create_dir_all(&sub).expect("mkdir");
            let mut opts = options(&sub, "initrd.img", &kernel);
            opts.compress = compression;
            opts.microcode = vec![microcode.clone()];
            opts.mtime = 1_700_000_000;
            initrd::build(&opts).expect("building the image");
            images.push(std::fs::read(&opts.output).expect("reading the image"));
        }
        assert!(images[0] == images[1], "two {compression} builds differ");
        let needle = dir.to_string_lossy();
        // The compressed archive starts at the next 512-byte block after the early one.
        let (_, early_end) = xtask::image::cpio::parse(&images[0]).expect("early archive parses");
        let compressed = &images[0][early_end.next_multiple_of(512)..];
        let main = match compression {
            Compression::Gzip => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(compressed), &mut out)
                    .expect("gunzip");
                out
            }
            _ => zstd::decode_all(compressed).expect("unzstd"),
        };
        assert!(
            !main.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "a host path leaked into the image"
        );
        let (entries, _) = xtask::image::cpio::parse(&main).expect("parses");
        assert!(
            entries
                .iter()
                .all(|e| e.mtime == 1_700_000_000 && e.uid == 0 && e.gid == 0)
        );
    }
}

#[test]
fn modules_dep_gives_virtio_net_and_virtio_pci_their_dependencies_in_loadable_order() {
    let Some(kernel) = kernel() else { return };
    let dir = scratch("modules-dep");
    let mut opts = options(&dir, "initrd.img", &kernel);
    opts.compress = Compression::None; // what is packed does not depend on it; saves time
    let summary = initrd::build(&opts).expect("building the image");
    assert!(
        summary.builtin_modules.iter().any(|m| m == "af_packet"),
        "af_packet is built into the cloud kernel"
    );

    let entries = main_entries(&opts.output);
    let dep = modules_dep(&entries, &kernel.version);
    let deps_of = |module: &str| -> Vec<String> {
        let line = dep
            .lines()
            .find(|l| module_name(l.split_once(':').expect("colon").0) == module)
            .unwrap_or_else(|| panic!("no modules.dep line for {module}:\n{dep}"));
        line.split_once(':')
            .expect("colon")
            .1
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let virtio_net_deps = deps_of("virtio_net");
    let names: BTreeSet<&str> = virtio_net_deps.iter().map(|p| module_name(p)).collect();
    for want in ["failover", "net_failover", "virtio", "virtio_ring"] {
        assert!(
            names.contains(want),
            "virtio_net's line lists {want}: {names:?}"
        );
    }
    let packed: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let prefix = format!("lib/modules/{}/", kernel.version);
    for path in deps_of("virtio_pci") {
        assert!(
            packed.contains(format!("{prefix}{path}").as_str()),
            "virtio_pci needs {path}, which is missing"
        );
    }

    // Load every module's list from last to first, then the module: each one's own
    // dependencies must already be loaded, as modprobe would require.
    for line in dep.lines() {
        let (module, list) = line.split_once(':').expect("colon");
        let mut loaded: Vec<&str> = Vec::new();
        for path in list.split_whitespace().rev().chain([module]) {
            for needed in deps_of(module_name(path)) {
                assert!(
                    loaded.contains(&needed.as_str()),
                    "{path} loads before its dependency {needed} ({line})"
                );
            }
            loaded.push(path);
        }
    }
}

#[test]
fn gnu_cpio_lists_the_decompressed_main_archive() {
    if !have("cpio") || !have("zstd") {
        return;
    }
    let Some(kernel) = kernel() else { return };
    let dir = scratch("cpio-t");
    let opts = options(&dir, "initrd.img", &kernel);
    initrd::build(&opts).expect("building the image");
    let sh = Shell::new().expect("shell");
    let image = &opts.output;
    let cpio = cmd!(sh, "zstd -q -dc {image}")
        .output()
        .expect("zstd -dc decompresses the image")
        .stdout;
    let listing = cmd!(sh, "cpio -t --quiet")
        .stdin(&cpio)
        .read()
        .expect("cpio -t reads the archive");
    let names: Vec<&str> = listing.lines().collect();
    let kver = &kernel.version;
    for want in [
        "init".to_owned(),
        "dev/console".to_owned(),
        "sbin/modprobe".to_owned(),
        "etc/initrd-release".to_owned(),
        format!("lib/modules/{kver}/modules.dep"),
        format!("lib/modules/{kver}/modules.alias"),
        format!("lib/modules/{kver}/modules.builtin"),
        format!("lib/modules/{kver}/kernel/drivers/net/virtio_net.ko"),
    ] {
        assert!(names.contains(&want.as_str()), "cpio -t lists {want}");
    }
    // Parents come first: the kernel does not create missing directories.
    for (i, name) in names.iter().enumerate() {
        if let Some((parent, _)) = name.rsplit_once('/') {
            assert!(names[..i].contains(&parent), "{parent} comes before {name}");
        }
    }
    let long = cmd!(sh, "cpio -tv --quiet")
        .stdin(&cpio)
        .read()
        .expect("cpio -tv");
    let console = long
        .lines()
        .find(|l| l.ends_with(" dev/console"))
        .expect("dev/console listed");
    assert!(
        console.starts_with("crw-------") && console.contains("5,   1"),
        "{console}"
    );
}

#[test]
fn rescue_shell_needs_a_static_busybox_and_leaves_modprobe_to_the_init() {
    let busybox = Path::new("/bin/busybox");
    if !have("busybox") {
        return;
    }
    let dir = scratch("shell");
    std::fs::write(dir.join("init"), FAKE_INIT).expect("init");
    let mut opts = InitrdOptions::new(dir.join("init"), dir.join("initrd.img"));
    opts.shell = Some(busybox.to_owned());
    match initrd::build(&opts) {
        Ok(summary) => {
            assert!(summary.shell_applets.iter().any(|a| a == "sh"));
            let entries = main_entries(&opts.output);
            let find = |n: &str| entries.iter().find(|e| e.name == n);
            assert_eq!(
                find("bin/sh").map(|e| e.data.as_slice()),
                Some(&b"busybox"[..])
            );
            assert!(
                find("bin/modprobe").is_none(),
                "the rescue shell must not bring its own modprobe"
            );
            assert_eq!(
                find("sbin/modprobe").map(|e| e.data.as_slice()),
                Some(&b"/init"[..])
            );
            assert!(find("etc/profile").is_some_and(|e| {
                String::from_utf8_lossy(&e.data).contains("dmesg | grep diskless")
            }));
        }
        // Debian's /bin/busybox is the dynamic one unless busybox-static is installed.
        Err(e) => assert!(format!("{e:#}").contains("static busybox"), "{e:#}"),
    }
    // A dynamically linked binary would not run in the image: refused, naming it.
    let dynamic = Path::new("/bin/ls");
    opts.shell = Some(dynamic.to_owned());
    let err = initrd::build(&opts).expect_err("a dynamic binary is refused");
    assert!(format!("{err:#}").contains("/bin/ls"), "{err:#}");
}

#[test]
fn a_module_the_user_asks_for_must_exist_default_ones_may_not() {
    let Some(kernel) = kernel() else { return };
    let dir = scratch("missing-module");
    let mut opts = options(&dir, "initrd.img", &kernel);
    opts.compress = Compression::None;
    let summary = initrd::build(&opts).expect("defaults the cloud kernel lacks are skipped");
    assert!(
        summary.skipped_modules.iter().any(|m| m == "e1000e"),
        "{:?}",
        summary.skipped_modules
    );
    assert!(summary.warnings().iter().any(|w| w.contains("e1000e")));

    opts.default_modules = false;
    opts.modules = vec!["no_such_driver".to_owned()];
    let err = initrd::build(&opts).expect_err("an unknown --module fails the build");
    assert!(format!("{err:#}").contains("no_such_driver"), "{err:#}");

    opts.modules = vec!["virtio-net".to_owned()];
    let summary = initrd::build(&opts).expect("dashes name the same module");
    let names: Vec<&str> = summary.modules.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names.last(),
        Some(&"virtio_net"),
        "dependencies load first: {names:?}"
    );
    assert!(
        !names.contains(&"nfs"),
        "--no-default-modules packs only what was asked: {names:?}"
    );
}

#[test]
fn an_init_and_modules_of_different_architectures_are_refused_naming_both() {
    let Some(kernel) = kernel() else { return };
    let dir = scratch("arch-mismatch");
    let mut opts = options(&dir, "initrd.img", &kernel);
    std::fs::write(&opts.init, FAKE_ARM64_INIT).expect("init");
    let err = format!(
        "{:#}",
        initrd::build(&opts).expect_err("arm64 init, x86_64 modules")
    );
    assert!(
        err.contains("are built for x86_64, but the init") && err.contains("is for arm64"),
        "{err}"
    );
    // --arch says what the image is for: an init of another architecture is refused too.
    std::fs::write(&opts.init, FAKE_INIT).expect("init");
    opts.arch = Some(testbed::Arch::Arm64);
    let err = format!(
        "{:#}",
        initrd::build(&opts).expect_err("x86_64 init for arm64")
    );
    assert!(
        err.contains("is built for x86_64, but the image is for arm64"),
        "{err}"
    );
}

#[test]
fn microcode_is_refused_for_arm64_with_the_reason() {
    let dir = scratch("arm64-microcode");
    std::fs::write(dir.join("init"), FAKE_ARM64_INIT).expect("init");
    std::fs::write(dir.join("ucode"), synthetic_intel_microcode()).expect("microcode");
    let mut opts = InitrdOptions::new(dir.join("init"), dir.join("initrd.img"));
    opts.microcode = vec![dir.join("ucode")];
    let err = format!(
        "{:#}",
        initrd::build(&opts).expect_err("microcode on arm64")
    );
    assert!(err.contains("--microcode is for x86 CPUs"), "{err}");
    opts.microcode.clear();
    let summary = initrd::build(&opts).expect("an arm64 image without microcode");
    assert_eq!(summary.arch, testbed::Arch::Arm64);
}

#[test]
fn extra_files_land_where_asked_and_cannot_replace_the_init() {
    let dir = scratch("extra-files");
    std::fs::write(dir.join("init"), FAKE_INIT).expect("init");
    let mut opts = InitrdOptions::new(dir.join("init"), dir.join("initrd.img"));
    opts.compress = Compression::None;
    opts.files = vec![ExtraFile {
        dest: "/etc/ssl/certs/ca.pem".to_owned(),
        contents: b"-----BEGIN CERTIFICATE-----\n".to_vec(),
        mode: 0o644,
    }];
    let summary = initrd::build(&opts).expect("building the image");
    assert_eq!(summary.extra_files, 1);
    assert_eq!(summary.kernel_version, None, "no module tree, no modules");
    let entries = main_entries(&opts.output);
    let ca = entries
        .iter()
        .find(|e| e.name == "etc/ssl/certs/ca.pem")
        .expect("the CA bundle is packed");
    assert_eq!(
        (ca.mode, ca.data.as_slice()),
        (0o100_644, &b"-----BEGIN CERTIFICATE-----\n"[..])
    );
    assert!(
        entries
            .iter()
            .any(|e| e.name == "etc/ssl/certs" && e.mode == 0o040_755),
        "parents are created"
    );

    opts.files.push(ExtraFile {
        dest: "init".to_owned(),
        contents: b"evil".to_vec(),
        mode: 0o755,
    });
    let err = initrd::build(&opts).expect_err("the init cannot be replaced by an extra file");
    assert!(format!("{err:#}").contains("\"init\""), "{err:#}");
}

/// The init runs before any library exists on the node: `file` must call it static.
#[test]
fn the_init_is_a_static_executable() {
    if !have("file") {
        return;
    }
    let init = xtask::build::init_binary().expect("building the init");
    let sh = Shell::new().expect("shell");
    let description = cmd!(sh, "file --brief {init}")
        .read()
        .expect("running file");
    assert!(description.contains("statically linked"), "{description}");
    assert!(description.contains("x86-64"), "{description}");
    let size = std::fs::metadata(&init).expect("metadata").len();
    eprintln!("init: {size} bytes ({description})");
}

/// `--config-key`: a minisign public key is checked when the image is built, then baked
/// where the init reads it.
#[test]
fn a_config_key_is_checked_and_baked() {
    let key = include_bytes!("../../src/image/fixtures/test.pub").to_vec();
    let trust = xtask::image::trust::Trust {
        config_key: Some(key.clone()),
        ..xtask::image::trust::Trust::default()
    };
    let files = trust.files().expect("a good key");
    assert_eq!(files[0].dest, diskless::image::trust::CONFIG_KEY);
    assert_eq!(files[0].contents, key);
    let bad = xtask::image::trust::Trust {
        config_key: Some(b"untrusted comment: x\nnot base64\n".to_vec()),
        ..xtask::image::trust::Trust::default()
    };
    let err = bad.files().expect_err("not a key");
    assert!(
        err.to_string()
            .starts_with("--config-key: not a minisign public key")
    );
}
