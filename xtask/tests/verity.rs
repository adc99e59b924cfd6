//! `cargo xtask verity` against cryptsetup's own veritysetup: the same salt and UUID give
//! byte for byte the file `veritysetup format --hash-offset=S --data-blocks=S/4096` writes,
//! and `veritysetup verify` accepts the root hash we print. The init's superblock parser reads
//! what we write.
//!
//! Under `CI=true` a missing veritysetup fails the test; locally it skips, loudly.

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use testbed::skip_or_fail;
use xtask::image::verity;

const SALT: &str = "5eed00112233445566778899aabbccddeeff00112233445566778899aabbccdd";
const UUID: &str = "0f8e2b6c-3a1d-4e5f-9a7b-1c2d3e4f5a6b";

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("verity-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// A squashfs of the standard test root plus `extra` bytes of incompressible data (so the
/// tree has more than one level when it is large).
fn squashfs(dir: &Path, extra: usize) -> PathBuf {
    let tree = testbed::RootSpec::default()
        .build(dir.join("tree"))
        .expect("the test root");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..extra)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(tree.path().join("noise"), noise).expect("writing the noise");
    let image = dir.join("root.squashfs");
    tree.squashfs(&image).expect("packing the squashfs");
    image
}

fn veritysetup() -> bool {
    let found = Command::new("veritysetup")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        skip_or_fail("veritysetup is not installed (cryptsetup-bin)");
    }
    found
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running veritysetup");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_tree_is_veritysetups_byte_for_byte() {
    if !veritysetup() {
        return;
    }
    // The test root alone (some 240 data blocks), and with 600 KiB of noise (some 390).
    for (name, extra) in [("plain", 0), ("noise", 600 << 10)] {
        let dir = scratch(name);
        let ours = squashfs(&dir, extra);
        let theirs = dir.join("veritysetup.squashfs");
        let squashfs_len = std::fs::metadata(&ours).expect("image").len();
        std::fs::copy(&ours, &theirs).expect("copying the image");

        let salt = verity::parse_hex(SALT).expect("salt");
        let uuid = verity::parse_uuid(UUID).expect("uuid");
        let done = verity::append(&ours, Some(salt.clone()), Some(uuid)).expect("appending");
        let offset = done.offset;
        assert_eq!(offset % 4096, 0);
        assert!(offset >= squashfs_len && offset - squashfs_len < 4096);
        assert_eq!(done.data_blocks, offset / 4096);

        // veritysetup pads nothing itself: give it the padded image, as mksquashfs leaves it.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&theirs)
            .expect("opening the copy");
        file.set_len(offset).expect("padding the copy");
        drop(file);
        let printed = run(Command::new("veritysetup")
            .arg("format")
            .arg(format!("--hash-offset={offset}"))
            .arg(format!("--data-blocks={}", offset / 4096))
            .arg(format!("--salt={SALT}"))
            .arg(format!("--uuid={UUID}"))
            .arg(&theirs)
            .arg(&theirs));
        let root_hash = diskless::hex::encode(&done.root_hash);
        assert!(
            printed.contains(&format!("Root hash:      \t{root_hash}")),
            "{name}: veritysetup printed\n{printed}"
        );
        let (a, b) = (
            std::fs::read(&ours).expect("ours"),
            std::fs::read(&theirs).expect("theirs"),
        );
        assert_eq!(a.len(), b.len(), "{name}: lengths");
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert_eq!(first, None, "{name}: the files differ");
        assert_eq!(
            a.len() as u64,
            offset + 4096 * (1 + done.hash_blocks),
            "{name}"
        );

        run(Command::new("veritysetup")
            .arg("verify")
            .arg(format!("--hash-offset={offset}"))
            .arg(&ours)
            .arg(&ours)
            .arg(&root_hash));
        // The node's parser reads it back, the tree covering exactly the padded squashfs.
        let sb = diskless::image::verity::parse_superblock(&a[offset as usize..], offset)
            .expect("the init parses our superblock");
        assert_eq!(sb.salt, salt);
        assert_eq!(sb.data_blocks, offset / 4096);
    }
}

/// A random salt; run twice, the tree is replaced; bytes after the squashfs that are not a
/// verity superblock are never overwritten.
#[test]
fn appending_again_replaces_the_tree_and_foreign_bytes_are_kept() {
    let dir = scratch("again");
    let image = squashfs(&dir, 0);
    let first = verity::append(&image, None, None).expect("first");
    assert_eq!(first.salt.len(), 32);
    assert!(!first.replaced);
    let second = verity::append(&image, None, None).expect("second");
    assert!(second.replaced);
    assert_ne!(first.salt, second.salt);
    assert_ne!(first.root_hash, second.root_hash);
    let len = std::fs::metadata(&image).expect("image").len();
    assert_eq!(len, second.offset + 4096 * (1 + second.hash_blocks));

    let other = dir.join("other.squashfs");
    let mut bytes = std::fs::read(&image).expect("image");
    bytes.truncate(first.offset as usize);
    bytes.extend_from_slice(b"something else entirely");
    std::fs::write(&other, &bytes).expect("writing");
    let err = verity::append(&other, None, None).expect_err("foreign bytes");
    assert!(
        format!("{err:#}").contains("are not a verity superblock"),
        "{err:#}"
    );
    assert_eq!(std::fs::read(&other).expect("kept"), bytes);

    let not_squashfs = dir.join("not.squashfs");
    std::fs::write(&not_squashfs, vec![0u8; 8192]).expect("writing");
    let err = verity::append(&not_squashfs, None, None).expect_err("not a squashfs");
    assert!(format!("{err:#}").contains("bad magic"), "{err:#}");
}
