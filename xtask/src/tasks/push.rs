//! `cargo xtask push`: publish a squashfs root to an OCI registry (see `xtask::registry`).

use anyhow::{Result, bail};
use std::ffi::OsString;
use std::path::PathBuf;

const HELP: &str = "\
cargo xtask push [OPTIONS] SQUASHFS [http://]REGISTRY/REPOSITORY:TAG

Publishes a squashfs root image to an OCI registry as an artifact (one layer of media
type application/vnd.diskless.squashfs) with skopeo, and prints the manifest digest and
the root= line that boots it. The same bytes from any registry, mirror or cache boot the
same node: the digest names them.

Options:
  --authfile FILE   registry login (auth.json, as skopeo login / podman login write it)
  -h, --help        this help

A http:// prefix pushes to a plain-HTTP registry (nodes then say root=oci:http://...).
";

pub fn run(args: Vec<OsString>) -> Result<()> {
    use lexopt::prelude::*;
    let mut authfile: Option<PathBuf> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("authfile") => authfile = Some(parser.value()?.into()),
            Value(v) => positional.push(v.string()?),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(());
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    let [squashfs, dest] = positional.as_slice() else {
        bail!("expected SQUASHFS and REGISTRY/REPOSITORY:TAG (cargo xtask push --help)");
    };
    let work = xtask::project_root().join("target").join("push");
    std::fs::create_dir_all(&work)?;
    let pushed = xtask::registry::push(squashfs.as_ref(), dest, authfile.as_deref(), &work)?;
    let name = dest.strip_prefix("oci:").unwrap_or(dest);
    let repository = name.rsplit_once(':').map_or(name, |(r, _)| r);
    println!("pushed:    {squashfs} ({} bytes) as {name}", pushed.bytes);
    println!("manifest:  {}", pushed.manifest);
    println!("layer:     {}", pushed.layer);
    println!("boot with: root=oci:{repository}@{}", pushed.manifest);
    println!(
        "pin with:  cargo xtask initrd --image-sha256 {}",
        pushed.manifest.trim_start_matches("sha256:")
    );
    Ok(())
}
