//! `/init`: PID 1 of a diskless node's initramfs.
fn main() {}
