//! Skips must be loud. libtest captures what the print macros (`eprintln!` among them) write
//! in a passing test and shows it only when the test fails, so a skip banner written that way
//! is never seen. `testbed::skip_or_fail` writes to the process's stderr directly; this test
//! runs a skipping test in a child process and reads what reached its terminal.

use std::process::{Command, Output};

/// Set by the test below for its child; without it the helper does nothing, so that
/// `cargo test -- --include-ignored` neither skips nor fails here.
const HELPER_ENV: &str = "TESTBED_SKIP_HELPER";
const REASON: &str = "a prerequisite the skip test invents";

#[test]
#[ignore = "a helper: a_skipping_test_passes_and_its_banner_reaches_stderr runs it"]
fn helper_skips() {
    if std::env::var_os(HELPER_ENV).is_some() {
        testbed::skip_or_fail(REASON);
    }
}

fn run_helper(ci: Option<&str>) -> Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args(["--ignored", "--exact", "helper_skips", "--test-threads=1"])
        .env(HELPER_ENV, "1")
        .env_remove("CI");
    if let Some(ci) = ci {
        command.env("CI", ci);
    }
    command.output().expect("running the test binary")
}

#[test]
fn a_skipping_test_passes_and_its_banner_reaches_stderr() {
    let out = run_helper(None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test helper_skips ... ok"),
        "the skipping test must pass:\n{stdout}\n{stderr}"
    );
    let banner = testbed::skip_banner("helper_skips: ", REASON);
    assert!(
        stderr.contains(&banner),
        "the banner did not reach stderr; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

#[test]
fn under_ci_a_missing_prerequisite_fails_the_test() {
    let out = run_helper(Some("true"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("test helper_skips ... FAILED"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "CI=true and a test prerequisite is missing: helper_skips: {REASON}"
        )),
        "{stdout}"
    );
}
