//! Where the test bed keeps its files: the workspace root, the QEMU console logs and the
//! scratch space of test fixtures, all under `target/`.

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where QEMU console logs go: `target/testbed-logs/`.
pub fn logs_dir() -> PathBuf {
    project_root().join("target").join("testbed-logs")
}

/// Scratch space for test fixtures (trees, images, cpio archives): `target/testbed-tmp/`.
/// Kept under `target/` rather than /tmp so failed runs can be inspected next to their logs.
pub fn scratch_dir() -> PathBuf {
    project_root().join("target").join("testbed-tmp")
}

/// A fresh, empty directory `name` under [`scratch_dir`] for one test.
pub fn fresh_dir(name: &str) -> std::io::Result<PathBuf> {
    let dir = scratch_dir().join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
