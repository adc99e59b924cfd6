//! Building the init itself: a static musl binary with the size-tuned release profile.

use anyhow::{Context, Result};
use std::path::PathBuf;
use xshell::{Shell, cmd};

/// The Rust target the init is built for (static, no libc on the node).
pub const INIT_TARGET: &str = "x86_64-unknown-linux-musl";

/// Builds `init` for [`INIT_TARGET`] in release mode and returns its path.
///
/// Uses its own target directory so that it can run while an outer cargo (for example
/// `cargo test`) holds the lock on `target/`.
pub fn init_binary() -> Result<PathBuf> {
    let root = crate::project_root();
    let target_dir = root.join("target").join("init");
    let sh = Shell::new()?;
    sh.change_dir(&root);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    cmd!(sh, "{cargo} build --quiet --release --package diskless --bin init --target {INIT_TARGET} --target-dir {target_dir}")
        .run()
        .context("building the init (is the musl target installed? rustup target add x86_64-unknown-linux-musl)")?;
    Ok(target_dir.join(INIT_TARGET).join("release").join("init"))
}
