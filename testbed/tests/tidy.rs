//! Tidy checks on the project's layout, as tests.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// The top-level `tests/*.rs` are test targets of the `testbed` package only because
/// testbed/Cargo.toml lists each one as a `[[test]]` (the root package has `autotests =
/// false`). A file added there and not listed would never build or run: cargo says nothing.
#[test]
fn every_file_in_the_top_level_tests_directory_is_a_test_target() {
    let root = testbed::project_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(&root)
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("a package list");
    let test_targets: BTreeSet<PathBuf> = packages
        .iter()
        .flat_map(|package| package["targets"].as_array().into_iter().flatten())
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "test"))
        })
        .filter_map(|target| target["src_path"].as_str())
        .filter_map(|path| std::fs::canonicalize(path).ok())
        .collect();

    let dir = root.join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no tests in {}", dir.display());
    let unlisted: Vec<String> = files
        .iter()
        .filter(|file| {
            let file = std::fs::canonicalize(file).expect("canonical path");
            !test_targets.contains(&file)
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        unlisted.is_empty(),
        "not a test target of any package, so never built or run: {unlisted:?}\n\
         add a [[test]] entry for each to testbed/Cargo.toml"
    );
}
