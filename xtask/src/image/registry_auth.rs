//! `--registry-auth`: the registry logins (an `auth.json`) the image carries for `root=oci:`,
//! checked when the image is built (a typo fails the build, not a few hundred boots).

use anyhow::{Context, Result, bail};

use super::extra::ExtraFile;

/// The registry logins of `--registry-auth` (an `auth.json`), checked as the node will read
/// them and each `auth` decoded to `user:password`, so a mistake fails the build. The file
/// is 0600, like the client key, and lives in the initramfs only.
pub fn registry_auth_file(text: &[u8]) -> Result<ExtraFile> {
    use base64::Engine as _;
    use diskless::image::oci::auth::{AUTH_FILE, Credentials};
    Credentials::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let file: serde_json::Value = serde_json::from_slice(text)?;
    if let Some(auths) = file.get("auths").and_then(|a| a.as_object()) {
        for (host, entry) in auths {
            let auth = entry
                .get("auth")
                .and_then(|a| a.as_str())
                .unwrap_or_default();
            let login = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .with_context(|| format!("the \"auth\" of {host:?} is not base64"))?;
            if !login.contains(&b':') {
                bail!("the \"auth\" of {host:?} is not base64 of user:password");
            }
        }
    }
    Ok(ExtraFile {
        dest: AUTH_FILE.to_owned(),
        contents: text.to_vec(),
        mode: 0o600,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_logins_are_checked_when_the_image_is_built() {
        let good = br#"{"auths":{"10.0.2.2:5000":{"auth":"bm9kZTpzM2NyZXQ="}}}"#;
        let file = registry_auth_file(good).expect("good");
        assert_eq!(file.mode, 0o600);
        assert_eq!(file.dest, diskless::image::oci::auth::AUTH_FILE);
        for (bad, want) in [
            (
                &br#"{"auths":{"h":{"auth":"bm9kZQ=="}}}"#[..],
                "user:password",
            ),
            (br#"{"auths":{"h":{"auth":"@@@"}}}"#, "not base64"),
            (
                br#"{"auths":{"h":{"identitytoken":"x"}}}"#,
                "has no \"auth\"",
            ),
        ] {
            let err = format!("{:#}", registry_auth_file(bad).expect_err("bad"));
            assert!(err.contains(want), "{err}");
        }
    }
}
