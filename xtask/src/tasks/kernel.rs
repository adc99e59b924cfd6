//! `cargo xtask kernel [--arch x86_64|arm64]`: fetch (once) the Debian cloud kernel the
//! tests and the demo boot.

use anyhow::Result;
use std::ffi::OsString;
use testbed::Arch;

pub fn run(args: Vec<OsString>) -> Result<()> {
    use lexopt::prelude::*;
    let mut arch = Arch::X86_64;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("arch") => arch = Arch::parse(&parser.value()?.string()?)?,
            Short('h') | Long("help") => {
                println!(
                    "cargo xtask kernel [--arch x86_64|arm64]\n\n\
                     Fetches the Debian cloud kernel into target/kernel/ (once; later runs reuse it)\n\
                     and prints where vmlinuz and the module tree are. The package is the one\n\
                     {meta} (or linux-image-cloud-arm64) depends on, or ${env}\n\
                     (${env_arm64} for arm64) if set (e.g. {env}=linux-image-6.1.0-56-cloud-amd64).\n\
                     arm64 needs the architecture in dpkg, as root once:\n\
                     dpkg --add-architecture arm64 && apt-get update",
                    meta = testbed::kernel::META_PACKAGE,
                    env = testbed::kernel::PACKAGE_ENV,
                    env_arm64 = testbed::kernel::PACKAGE_ENV_ARM64,
                );
                return Ok(());
            }
            other => return Err(other.unexpected().into()),
        }
    }
    let kernel = testbed::kernel::ensure_for(arch)?;
    println!("arch:    {arch}");
    println!("version: {}", kernel.version);
    println!("vmlinuz: {}", kernel.vmlinuz.display());
    println!("modules: {}", kernel.modules_dir.display());
    Ok(())
}
