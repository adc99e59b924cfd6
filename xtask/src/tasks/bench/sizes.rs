//! Sizes: one row per image (ours from the builder's summary, the baselines' from their
//! files), and what each crate adds to /init, from cargo-bloat's JSON.

use anyhow::{Context, Result};
use serde::Deserialize;
use xshell::{Shell, cmd};

use super::results::CrateSize;

/// The row that carries the whole .text section, after the crates.
pub(super) const TEXT_TOTAL: &str = ".text total";

/// `cargo bloat --crates --message-format json`:
/// `{"file-size": N, "text-section-size": N, "crates": [{"name": "std", "size": N}, ...]}`.
#[derive(Debug, Deserialize)]
struct BloatJson {
    #[serde(rename = "text-section-size")]
    text_section_size: u64,
    crates: Vec<BloatCrate>,
}

#[derive(Debug, Deserialize)]
struct BloatCrate {
    name: String,
    size: u64,
}

/// The crates in cargo-bloat's order (largest first), then [`TEXT_TOTAL`].
fn parse_bloat(json: &str) -> Result<Vec<CrateSize>> {
    let bloat: BloatJson = serde_json::from_str(json).context("parsing cargo-bloat's JSON")?;
    let mut rows: Vec<CrateSize> = bloat
        .crates
        .into_iter()
        .map(|c| CrateSize {
            name: c.name,
            text_bytes: c.size,
        })
        .collect();
    rows.push(CrateSize {
        name: TEXT_TOTAL.to_owned(),
        text_bytes: bloat.text_section_size,
    });
    Ok(rows)
}

/// `cargo bloat --crates` on the init as released, but with symbols kept (the release profile
/// strips them, and cargo-bloat needs them); its own target directory so the init's is left
/// alone. Sizes are of .text, per crate.
pub(super) fn bloat() -> Result<Vec<CrateSize>> {
    let sh = Shell::new()?;
    sh.change_dir(xtask::project_root());
    if cmd!(sh, "cargo bloat --version")
        .quiet()
        .ignore_stderr()
        .read()
        .is_err()
    {
        cmd!(sh, "cargo install --locked cargo-bloat")
            .run()
            .context("installing cargo-bloat from crates.io")?;
    }
    let target_dir = xtask::project_root()
        .join("target")
        .join("bench")
        .join("bloat");
    let target = xtask::build::INIT_TARGET;
    let json = cmd!(
        sh,
        "cargo bloat --release --package diskless --bin init --target {target} --target-dir {target_dir} --crates -n 30 --message-format json"
    )
    .env("CARGO_PROFILE_RELEASE_STRIP", "false")
    .quiet()
    .read()?;
    parse_bloat(&json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bloat_json_gives_the_crates_in_order_then_the_text_total() {
        // cargo-bloat 0.12's output for `--crates --message-format json`, shortened.
        let json = r#"{"file-size":2385928,"text-section-size":1480712,"crates":[{"name":"std","size":328580},{"name":"rustls","size":304129},{"name":"[Unknown]","size":2872}]}"#;
        let rows = parse_bloat(json).expect("parses");
        let pairs: Vec<(&str, u64)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.text_bytes))
            .collect();
        assert_eq!(
            pairs,
            [
                ("std", 328_580),
                ("rustls", 304_129),
                ("[Unknown]", 2872),
                (TEXT_TOTAL, 1_480_712)
            ]
        );
        assert_eq!(
            serde_json::to_string(&rows[0]).expect("serializes"),
            r#"{"crate":"std","text_bytes":328580}"#
        );
        assert!(parse_bloat("cargo-bloat: error: no such target").is_err());
        assert!(parse_bloat(r#"{"file-size":1,"functions":[]}"#).is_err());
    }
}
