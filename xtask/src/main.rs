//! `cargo xtask <task>`: one file per task under `tasks/`; this file only dispatches.

#![allow(
    clippy::indexing_slicing,
    reason = "build and test tooling: an out-of-bounds index is a failed run with a backtrace, not a node that cannot boot (the lint guards the init)"
)]

mod tasks;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let task = args
        .next()
        .and_then(|a| a.into_string().ok())
        .unwrap_or_default();
    let rest: Vec<std::ffi::OsString> = args.collect();
    match task.as_str() {
        "initrd" => tasks::initrd::run(rest),
        "kernel" => tasks::kernel::run(rest),
        "boot" => tasks::boot::run(rest),
        "hostname" => tasks::hostname::run(rest),
        "fleet" => tasks::fleet::run(rest),
        "test" => tasks::test::run(rest),
        "bench" => tasks::bench::run(rest),
        "fuzz" => tasks::fuzz::run(rest),
        "push" => tasks::push::run(rest),
        "verity" => tasks::verity::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task> [options]\n\n\
                 tasks:\n  \
                 initrd    build an initramfs image (the main job)\n  \
                 kernel    fetch the Debian cloud kernel used by the tests and the demo\n  \
                 boot      demo: build, serve a root image, boot a node in QEMU\n  \
                 hostname  print the host names nodes will take for their MACs\n  \
                 fleet     dnsmasq, pxelinux and iPXE files for an inventory of nodes\n  \
                 push      publish a squashfs root to an OCI registry (root=oci:)\n  \
                 verity    append a dm-verity hash tree to a squashfs root (root=nbd:)\n  \
                 bench     boot time, size and fetch throughput against initramfs-tools\n  \
                 test      run every test (unit, image, QEMU)\n  \
                 fuzz      run the fuzz targets of every parser of untrusted input\n\n\
                 `cargo xtask <task> --help` describes a task's options."
            );
            std::process::exit(2)
        }
    }
}
