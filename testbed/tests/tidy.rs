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

/// `file:line: text` of every line of `files` that `matches`, paths from the project root.
fn lines_where(files: &[PathBuf], matches: impl Fn(&str) -> bool) -> Vec<String> {
    let root = testbed::project_root();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("reading a source file");
        let shown = file.strip_prefix(&root).unwrap_or(file);
        for (number, line) in text.lines().enumerate() {
            if matches(line) {
                found.push(format!(
                    "{}:{}: {}",
                    shown.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

/// `sys` is the init's one syscall seam: the core depends on it, never the reverse, so a
/// change in how the boot is planned can never change what a syscall wrapper does.
#[test]
fn the_syscall_seam_imports_nothing_of_the_core() {
    let dir = testbed::project_root().join("src/sys");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sources in {}", dir.display());
    let offending = lines_where(&files, |line| {
        let outside_sys = line.match_indices("crate::").any(|(at, _)| {
            line.get(at..)
                .is_some_and(|rest| !rest.starts_with("crate::sys"))
        });
        outside_sys || line.contains("super::super")
    });
    assert!(
        offending.is_empty(),
        "src/sys must not import the core:\n{}",
        offending.join("\n")
    );
}

/// Every cycle among sibling modules of the crates rooted at `roots` (workspace-relative).
fn cycles_in(roots: &[&str]) -> String {
    let base = testbed::project_root();
    let mut report = String::new();
    for root in roots {
        let tree = testbed::imports::Tree::from_dir(&base, root)
            .unwrap_or_else(|e| panic!("reading the crate at {root}: {e}"));
        for cycle in tree.cycles() {
            report.push_str(&format!("{root}: {cycle}"));
        }
    }
    report
}

/// A cycle among sibling modules means neither can be understood, tested or moved without the
/// other: modules depend one way. See `testbed::imports` for what counts as a reference.
#[test]
fn no_import_cycles_in_the_init() {
    let report = cycles_in(&["src/lib.rs", "src/main.rs"]);
    assert!(report.is_empty(), "import cycles in the init:\n{report}");
}

#[test]
fn no_import_cycles_in_xtask() {
    let report = cycles_in(&["xtask/src/lib.rs", "xtask/src/main.rs"]);
    assert!(report.is_empty(), "import cycles in xtask:\n{report}");
}

#[test]
fn no_import_cycles_in_the_test_bed() {
    let report = cycles_in(&["testbed/src/lib.rs"]);
    assert!(
        report.is_empty(),
        "import cycles in the test bed:\n{report}"
    );
}

/// The rule for the init's top-level modules, lowest layer first: a module may use its own
/// layer and lower ones, never a higher one, and a new module must be placed here on purpose.
/// docs/architecture.md explains the layers.
const INIT_LAYERS: &[&[&str]] = &[
    // Leaves: nothing of the core.
    &[
        "sys", "hex", "ipv4", "sha256", "kmsg", "rundir", "worker", "retry", "identity",
    ],
    // The command line parsed into typed values; pure.
    &["cmdline"],
    // The boot's decisions as data; pure.
    &["plan"],
    // Mechanisms.
    &["clock", "kmod", "net", "archive", "image"],
    // Assembling the new root.
    &["root"],
    // What a boot reports, records and falls back to.
    &["error", "record", "emergency"],
    // PID 1's list of steps.
    &["boot"],
];

#[test]
fn the_init_layers_point_down() {
    let base = testbed::project_root();
    let tree = testbed::imports::Tree::from_dir(&base, "src/lib.rs").expect("reading src/lib.rs");
    let violations = testbed::imports::check_layers(&tree, "crate", INIT_LAYERS);
    let report: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "the init's modules break INIT_LAYERS:\n{}",
        report.join("\n")
    );
}

/// Things outside this repository that its files must not point at: they are not here for a
/// reader to follow. Matched case-insensitively.
const OUTSIDE_REFERENCES: &[&str] = &[
    "../shared",
    "seeds/",
    "seed 00",
    "baselines.md",
    "reference.md",
    "style.md",
];

#[test]
fn no_references_outside_the_repository() {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("a directory entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() && !name.starts_with('.') && name != "target" {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
                out.push(path);
            }
        }
    }
    let root = testbed::project_root();
    let this_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tidy.rs");
    let mut files = Vec::new();
    for dir in ["src", "xtask", "testbed", "docs"] {
        walk(&root.join(dir), &mut files);
    }
    files.retain(|file| *file != this_file);
    let offending = lines_where(&files, |line| {
        let lower = line.to_lowercase();
        OUTSIDE_REFERENCES
            .iter()
            .any(|pattern| lower.contains(pattern))
    });
    assert!(
        offending.is_empty(),
        "references to things outside the repository:\n{}",
        offending.join("\n")
    );
}
