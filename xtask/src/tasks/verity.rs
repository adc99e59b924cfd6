//! `cargo xtask verity IMAGE`: append dm-verity's superblock and hash tree to a squashfs
//! root and print its root hash (see `xtask::image::verity`).

use anyhow::{Result, bail};
use std::ffi::OsString;
use std::path::PathBuf;
use xtask::image::verity;

const HELP: &str = "\
cargo xtask verity IMAGE [--salt HEX] [--uuid UUID]

Appends dm-verity's superblock and hash tree to the squashfs IMAGE, in place, at its size
padded to 4 KiB (S), as `veritysetup format --hash-offset=S --data-blocks=S/4096 IMAGE
IMAGE` writes them: format 1, sha256, 4 KiB blocks. Prints the root hash, which the node
must be given (diskless.verity=<hash>, or pinned: cargo xtask initrd --verity-roothash).
Serve the file whole (root=nbd:); `veritysetup verify --hash-offset=S IMAGE IMAGE <hash>`
checks it. Run again on the same image, it replaces the tree (with a new salt).

Options:
  --salt HEX     the salt (`-` for none) [default: 32 random bytes]
  --uuid UUID    the superblock's UUID [default: random]
  -h, --help     this help
";

pub fn run(args: Vec<OsString>) -> Result<()> {
    use lexopt::prelude::*;
    let mut image: Option<PathBuf> = None;
    let mut salt = None;
    let mut uuid = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("salt") => salt = Some(verity::parse_hex(&parser.value()?.string()?)?),
            Long("uuid") => uuid = Some(verity::parse_uuid(&parser.value()?.string()?)?),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(());
            }
            Value(path) if image.is_none() => image = Some(path.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let Some(image) = image else {
        bail!("which image? cargo xtask verity IMAGE (--help says more)");
    };
    let done = verity::append(&image, salt, uuid)?;
    if done.padded > 0 {
        println!("padded:    {} zero bytes, to 4 KiB", done.padded);
    }
    if done.replaced {
        println!("replaced:  the hash tree that was there");
    }
    println!(
        "verity:    {}: {} data blocks, superblock and {} hash blocks at byte {}",
        image.display(),
        done.data_blocks,
        done.hash_blocks,
        done.offset
    );
    let salt = if done.salt.is_empty() {
        "-".to_owned()
    } else {
        diskless::hex::encode(&done.salt)
    };
    println!("salt:      {salt}");
    let root_hash = diskless::hex::encode(&done.root_hash);
    println!("root hash: {root_hash}");
    println!(
        "boot with: diskless.verity={root_hash} (or cargo xtask initrd --verity-roothash {root_hash})"
    );
    Ok(())
}
