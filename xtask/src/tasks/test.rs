//! `cargo xtask test [-- <cargo test args>]`: every test, unit to QEMU.
//!
//! Builds the musl init and fetches the test kernel first, so that a missing prerequisite
//! shows up as one clear error instead of a failure in every QEMU test; then runs
//! `cargo test --workspace`.

use std::ffi::OsString;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

pub fn run(args: Vec<OsString>) -> Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "cargo xtask test [-- CARGO-TEST-ARGS]\n\n\
             Builds the init (x86_64-unknown-linux-musl), fetches the Debian cloud kernel into\n\
             target/kernel/, then runs `cargo test --workspace`: unit tests, image tests and the\n\
             QEMU boots. Arguments after `--` go to cargo test (e.g. `-- boot_squashfs`)."
        );
        return Ok(());
    }
    let passthrough: Vec<OsString> = args.into_iter().skip_while(|a| a != "--").skip(1).collect();
    super::prereqs::ensure()?;
    let init = xtask::build::init_binary()?;
    println!(
        "init: {} ({} bytes)",
        init.display(),
        std::fs::metadata(&init).map(|m| m.len()).unwrap_or(0)
    );
    let kernel = testbed::kernel::ensure().context("fetching the test kernel")?;
    println!("kernel: {} ({})", kernel.vmlinuz.display(), kernel.version);
    let sh = Shell::new()?;
    sh.change_dir(xtask::project_root());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    cmd!(
        sh,
        "{cargo} test --workspace --no-fail-fast {passthrough...}"
    )
    .run()
    .context("cargo test failed")?;
    Ok(())
}
