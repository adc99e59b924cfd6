//! `/init`: PID 1 of a diskless node's initramfs. Also answers as `/sbin/modprobe` (a link to
//! this binary) when the kernel asks for a module.

use std::ffi::OsString;
use std::path::Path;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let called_as = args
        .first()
        .and_then(|arg0| Path::new(arg0).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if called_as == "modprobe" {
        diskless::kmsg::KmsgLogger::install(log::LevelFilter::Info);
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(diskless::kmod::load::modprobe_main(&args));
    }
    if std::process::id() != 1 {
        eprintln!(
            "init: this is the diskless initramfs init; it must run as PID 1 (it mounts /proc and switches root)"
        );
        std::process::exit(2);
    }
    diskless::boot::pid1(args)
}
