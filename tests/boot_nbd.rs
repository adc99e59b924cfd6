//! An NBD root on the real kernel in QEMU: Debian's nbd-server on 127.0.0.1 serves a squashfs
//! with its dm-verity hash tree appended by `cargo xtask verity`, and one byte of a large file
//! in it flipped. With the root hash the node boots, the file's corrupted block fails its read
//! (an I/O error and the kernel's verity line) and nothing else does; a wrong root hash stops
//! the boot before anything mounts; a hash pinned in the initramfs wins over the command
//! line's; without a hash the node boots with a loud warning and reads the flipped byte as it
//! comes.

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{BOOTIF, MAC, STATIC_IP, assert_fatal, block, fixture, record};
use testbed::{NbdServer, RootSpec, require_nbd_server};
use xtask::image::initrd::{self, Compression, InitrdOptions};
use xtask::image::trust::Trust;

/// The large file whose middle block is corrupted, and what the checker does with it.
const PADDING: usize = 2 << 20;
const HOOK: &str = "\
cat /padding > /dev/null 2> /tmp/cat-err; echo \"NBD-CAT-STATUS=$?\"
sed 's/^/NBD-CAT-ERR: /' /tmp/cat-err
dmesg | grep -i -E 'verity|nbd' | sed 's/^/NBD-KMSG: /'
";

/// Incompressible bytes: squashfs stores them as they are, so a byte of the file is a byte
/// of the image.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

struct Image {
    /// The squashfs and its hash tree, one byte in the padding's middle flipped.
    path: std::path::PathBuf,
    root_hash: String,
    len: u64,
}

/// The checker root with the padding file, packed, its hash tree appended, then corrupted.
fn image(fx: &common::Fixture) -> Image {
    let tree = RootSpec::default()
        .hook(HOOK)
        .build(fx.scratch.join("nbd.tree"))
        .expect("building the test root");
    let padding = noise(PADDING);
    std::fs::write(tree.path().join("padding"), &padding).expect("writing the padding");
    let path = fx.scratch.join("nbd.squashfs");
    tree.squashfs(&path).expect("packing the squashfs");
    let appended = xtask::image::verity::append(&path, None, None).expect("cargo xtask verity");
    let mut bytes = std::fs::read(&path).expect("reading the image");
    let needle = &padding[PADDING / 2..PADDING / 2 + 64];
    let found: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(found.len(), 1, "the padding's middle, stored as it is");
    assert!((found[0] as u64) < appended.offset);
    bytes[found[0]] ^= 0x01;
    std::fs::write(&path, &bytes).expect("corrupting the image");
    Image {
        path,
        root_hash: diskless::hex::encode(&appended.root_hash),
        len: bytes.len() as u64,
    }
}

/// The standard initrd's modules with `root_hash` pinned, as `cargo xtask initrd
/// --verity-roothash` bakes it.
fn pinned_initrd(fx: &common::Fixture, root_hash: &str) -> std::path::PathBuf {
    let init = xtask::build::init_binary().expect("building the musl init");
    let out = fx.scratch.join("nbd-pinned.initrd");
    let mut options = InitrdOptions::new(init, out.clone());
    options.modules_dir = Some(fx.kernel.modules_dir.clone());
    options.compress = Compression::None;
    options.files = Trust {
        verity_pin: Some(diskless::hex::parse_sha256(root_hash).expect("hex")),
        ..Trust::default()
    }
    .files()
    .expect("trust files");
    initrd::build(&options).expect("building the initrd");
    out
}

/// The node's own handshake against nbd-server, on the host: `NBD_OPT_GO` gives the export's
/// real size (nbd-server 3.24 answers `NBD_OPT_INFO` with 0), read-only as configured.
fn probe(server: &NbdServer, image: &Image) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port));
    let export = diskless::image::nbd::probe(addr, "root", Duration::from_secs(10))
        .expect("the handshake with nbd-server");
    assert_eq!(export.size, image.len);
    assert_ne!(export.flags & 2, 0, "read-only: {:#x}", export.flags);
    let err = diskless::image::nbd::probe(addr, "nope", Duration::from_secs(10))
        .expect_err("an unknown export");
    assert!(
        err.to_string()
            .contains("refused the export: unknown export"),
        "{err}"
    );
}

#[test]
fn nbd_roots_under_dm_verity() {
    let Some(fx) = fixture() else { return };
    if !require_nbd_server() {
        return;
    }
    let image = image(fx);
    let server = NbdServer::start(&[("root", &image.path)]).expect("nbd-server");
    probe(&server, &image);
    let uri = server.guest_uri("root");
    let line = |extra: &str| format!("{BOOTIF} {STATIC_IP} rd.emergency=poweroff {extra}");

    // Verified: the root boots, the corrupted block fails its read and only it.
    let log = fx.boot(
        "nbd-verity",
        &line(&format!("root={uri} diskless.verity={}", image.root_hash)),
        &[MAC],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    let mounts = block(&log, "ROOT-MOUNT: ");
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("/dev/dm-0 /run/diskless/lower squashfs ro")),
        "{mounts:?}"
    );
    assert!(
        mounts.iter().any(|m| m.starts_with("overlay / overlay rw")),
        "{mounts:?}"
    );
    assert_eq!(log.value("NBD-CAT-STATUS").as_deref(), Some("1"));
    let cat = block(&log, "NBD-CAT-ERR: ").join("\n");
    assert!(cat.contains("Input/output error"), "{cat}");
    let kmsg = block(&log, "NBD-KMSG: ").join("\n");
    assert!(
        kmsg.contains("is corrupted"),
        "the kernel's verity line: {kmsg}"
    );
    let verified = record(&log);
    assert_eq!(verified.verified, Some(true), "{verified:?}");
    assert_eq!(
        verified.verity_roothash.as_deref(),
        Some(image.root_hash.as_str())
    );
    assert_eq!(verified.image_url.as_deref(), Some(uri.as_str()));
    assert_eq!(verified.image_bytes, Some(image.len));
    let root = verified.root.clone().unwrap_or_default();
    assert!(
        root.contains("dm-verity root hash") && root.contains("(diskless.verity)"),
        "{root}"
    );
    for step in ["attach", "verify", "mount"] {
        assert!(
            verified.step(step).is_some(),
            "no {step} step: {verified:?}"
        );
    }
    common::assert_loaded_beside_the_network(
        &log,
        &["nbd", "dm_verity", "squashfs", "overlay"],
        &[],
    );

    // A wrong root hash: nothing mounts, the FATAL line names the key and the hash.
    let mut wrong = image.root_hash.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("hex");
    let log = fx.boot(
        "nbd-verity-wrong-hash",
        &line(&format!("root={uri} diskless.verity={wrong}")),
        &[MAC],
    );
    assert_fatal(
        &log,
        "a wrong root hash",
        &[
            "FATAL verify:",
            &format!("does not match the dm-verity root hash {wrong} (diskless.verity)"),
        ],
    );

    // The root hash pinned in the initramfs (cargo xtask initrd --verity-roothash) wins over
    // a wrong diskless.verity=, with a warning.
    let pinned = pinned_initrd(fx, &image.root_hash);
    let log = fx.boot_with(
        "nbd-verity-pinned",
        &pinned,
        &line(&format!("root={uri} diskless.verity={wrong}")),
        &[MAC],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains(&format!(
            "diskless.verity={wrong} differs from the root hash pinned in the initramfs"
        )),
        "{dmesg}"
    );
    let root = record(&log).root.unwrap_or_default();
    assert!(
        root.contains(&format!(
            "dm-verity root hash {} (pinned in the initramfs: /etc/diskless/verity.roothash)",
            image.root_hash
        )),
        "{root}"
    );

    // No root hash (dracut's root=/dev/nbd0 nbdroot=): it boots, loudly unverified, and the
    // flipped byte is read as it comes.
    let log = fx.boot(
        "nbd-unverified",
        &line(&format!("root=/dev/nbd0 nbdroot={uri}")),
        &[MAC],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    log.assert_contains("the blocks of nbd://");
    log.assert_contains("are not verified");
    assert_eq!(log.value("NBD-CAT-STATUS").as_deref(), Some("0"));
    let mounts = block(&log, "ROOT-MOUNT: ");
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("/dev/nbd0 /run/diskless/lower squashfs ro")),
        "{mounts:?}"
    );
    let unverified = record(&log);
    assert_eq!(unverified.verified, Some(false), "{unverified:?}");
    assert_eq!(unverified.verity_roothash, None);
}
