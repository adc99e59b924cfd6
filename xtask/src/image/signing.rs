//! `--config-key`: the minisign public key every configuration archive must be signed with,
//! checked when the image is built (a typo fails the build, not a few hundred boots).

use anyhow::{Context, Result};

use super::extra::ExtraFile;

/// The key's file in the image, after checking that the init can parse it.
pub fn key_file(key: &[u8]) -> Result<ExtraFile> {
    let text = std::str::from_utf8(key).context("--config-key: not a text file")?;
    diskless::image::signature::parse_key(text)
        .map_err(|e| anyhow::anyhow!("--config-key: {e}"))?;
    Ok(ExtraFile {
        dest: diskless::image::trust::CONFIG_KEY.to_owned(),
        contents: key.to_vec(),
        mode: 0o644,
    })
}

/// Adds [`key_file`] of `key`, if there is one.
pub fn add_key(files: &mut Vec<ExtraFile>, key: Option<&[u8]>) -> Result<()> {
    if let Some(key) = key {
        files.push(key_file(key)?);
    }
    Ok(())
}
