//! For tests that need real mounts (tmpfs, bind mounts, overlays) in scratch directories: a
//! root check that skips loudly (or fails under `CI=true`, where a run must not pass by
//! skipping), and clean-up of every mount left below a scratch directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Whether this test may mount: it runs as root. Otherwise it says so in a banner on stderr
/// (libtest hides the print macros of passing tests) and the test returns; under `CI=true`
/// it panics instead.
pub fn may_mount() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    skip_or_fail("not root: this test mounts file systems");
    false
}

/// A prerequisite is missing: panics under `CI=true`, else prints a banner and returns.
pub fn skip_or_fail(reason: &str) {
    let test = std::thread::current()
        .name()
        .map(|name| format!("{name}: "))
        .unwrap_or_default();
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true and a test prerequisite is missing: {test}{reason}"
    );
    let _ = std::io::stderr().lock().write_all(
        format!(
            "\n*** SKIPPING {test}{reason}\n*** (the test passes without running; under \
             CI=true it would fail)\n"
        )
        .as_bytes(),
    );
}

/// A scratch directory for one test, under the system's temporary directory; on drop every
/// mount below it is detached (deepest first) and the directory removed.
#[derive(Debug)]
pub struct MountScratch(pub PathBuf);

impl MountScratch {
    pub fn new(name: &str) -> MountScratch {
        let dir = std::env::temp_dir().join(format!("diskless-{name}-{}", std::process::id()));
        detach_below(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        MountScratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A tmpfs with `options` on `dir` (created if missing) below the scratch directory.
    pub fn tmpfs(&self, dir: &Path, options: &str) {
        std::fs::create_dir_all(dir).expect("creating a mount point");
        super::mount(
            "diskless-test",
            dir,
            "tmpfs",
            super::MountOptions::default(),
            options,
        )
        .unwrap_or_else(|e| panic!("mounting tmpfs on {}: {e}", dir.display()));
    }
}

impl Drop for MountScratch {
    fn drop(&mut self) {
        detach_below(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The mount points at or below `dir`, from /proc/self/mountinfo (its fifth field; scratch
/// paths have no characters the kernel escapes).
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|point| point.starts_with(dir))
        .collect()
}

fn detach_below(dir: &Path) {
    let mut points = mounts_below(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
    }
}
