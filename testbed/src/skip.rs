//! Missing test prerequisites (QEMU, the kernel, root, a tool): a loud skip on a developer's
//! machine, a failure under `CI=true`.

use std::io::Write as _;

/// Whether this is a CI run, where missing prerequisites are failures rather than skips.
/// `.ci/run` exports `CI=true` itself, so this holds on any CI runner.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A test prerequisite (QEMU, the kernel, root, a tool) is missing: panics under `CI=true` (a
/// CI run must not pass by skipping); otherwise prints `reason` in a banner and returns, and
/// the calling test returns early and passes.
///
/// The banner goes straight to the process's stderr, not through `eprintln!`: libtest
/// captures the print macros of passing tests and shows nothing of them, so a skip written
/// with `eprintln!` is never seen (`tests/skip.rs` checks that this one is).
pub fn skip_or_fail(reason: &str) {
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(|name| format!("{name}: "))
        .unwrap_or_default();
    if is_ci() {
        panic!("CI=true and a test prerequisite is missing: {test}{reason}");
    }
    let banner = skip_banner(&test, reason);
    // Nothing sensible to do when stderr itself is gone.
    let _ = std::io::stderr().lock().write_all(banner.as_bytes());
}

/// The text [`skip_or_fail`] prints; `test` is `"name: "` or empty.
pub fn skip_banner(test: &str, reason: &str) -> String {
    format!(
        "\n\
         ********************************************************************\n\
         *** SKIPPING {test}{reason}\n\
         *** (the test passes without running; under CI=true it would fail)\n\
         ********************************************************************\n"
    )
}
