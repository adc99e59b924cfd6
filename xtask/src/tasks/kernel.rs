//! `cargo xtask kernel`: fetch (once) the Debian cloud kernel the tests and the demo boot.

use anyhow::Result;
use std::ffi::OsString;

pub fn run(args: Vec<OsString>) -> Result<()> {
    let mut parser = lexopt::Parser::from_args(args);
    if let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => {
                println!(
                    "cargo xtask kernel\n\n\
                     Fetches the Debian cloud kernel into target/kernel/ (once; later runs reuse it)\n\
                     and prints where vmlinuz and the module tree are. The package is the one\n\
                     {meta} depends on, or ${env} if set\n\
                     (e.g. {env}=linux-image-6.1.0-56-cloud-amd64).",
                    meta = testbed::kernel::META_PACKAGE,
                    env = testbed::kernel::PACKAGE_ENV,
                );
                return Ok(());
            }
            other => return Err(other.unexpected().into()),
        }
    }
    let kernel = testbed::kernel::ensure()?;
    println!("version: {}", kernel.version);
    println!("vmlinuz: {}", kernel.vmlinuz.display());
    println!("modules: {}", kernel.modules_dir.display());
    Ok(())
}
