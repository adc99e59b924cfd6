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

/// `sys` is the init's one syscall seam: the core depends on it, never the reverse, so a
/// change in how the boot is planned can never change what a syscall wrapper does.
#[test]
fn the_syscall_seam_imports_nothing_of_the_core() {
    let dir = testbed::project_root().join("src/sys");
    let mut offending = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sources in {}", dir.display());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        for (number, line) in text.lines().enumerate() {
            let outside_sys = line.match_indices("crate::").any(|(at, _)| {
                line.get(at..)
                    .is_some_and(|rest| !rest.starts_with("crate::sys"))
            });
            if outside_sys || line.contains("super::super") {
                offending.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "src/sys must not import the core:\n{}",
        offending.join("\n")
    );
}
