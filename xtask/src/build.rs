//! Building the init itself: a static musl binary with the size-tuned release profile.

use anyhow::{Context, Result};
use std::path::PathBuf;
use testbed::Arch;
use xshell::{Shell, cmd};

/// The Rust target the init is built for (static, no libc on the node).
pub const INIT_TARGET: &str = "x86_64-unknown-linux-musl";

/// Builds `init` for [`INIT_TARGET`] in release mode and returns its path.
pub fn init_binary() -> Result<PathBuf> {
    init_binary_for(Arch::X86_64)
}

/// Builds `init` for `arch` (static musl, release) and returns its path. arm64 is
/// cross-built with Debian's gcc-aarch64-linux-gnu: ring's C and assembly, and the link
/// (`.cargo/config.toml`); the musl C runtime comes with Rust's target.
///
/// Uses its own target directory so that it can run while an outer cargo (for example
/// `cargo test`) holds the lock on `target/`.
pub fn init_binary_for(arch: Arch) -> Result<PathBuf> {
    let root = testbed::project_root();
    let target_dir = root.join("target").join("init");
    let target = arch.rust_target();
    let sh = Shell::new()?;
    sh.change_dir(&root);
    if arch == Arch::Arm64 {
        sh.set_var("CC_aarch64_unknown_linux_musl", "aarch64-linux-gnu-gcc");
        sh.set_var("AR_aarch64_unknown_linux_musl", "aarch64-linux-gnu-ar");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    cmd!(sh, "{cargo} build --quiet --release --package diskless --bin init --target {target} --target-dir {target_dir}")
        .run()
        .with_context(|| format!(
            "building the init for {arch} (is the target installed? rustup target add {target}{})",
            if arch == Arch::Arm64 { "; apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross" } else { "" }
        ))?;
    Ok(target_dir.join(target).join("release").join("init"))
}
