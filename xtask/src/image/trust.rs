//! What the image carries for the node to trust: CA bundle, client certificate and key,
//! the pinned image hash, as files `diskless::image::trust` reads at boot (checked here, at
//! build time, so a mistake fails the build rather than a few hundred boots).

use anyhow::{Context, Result, bail};
use std::path::Path;

use super::extra::ExtraFile;

/// What the node will trust and require when it fetches its root image, baked into the
/// image as files `diskless::image::trust` reads at boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// PEM bundle of the CAs HTTPS servers must chain to (`--ca`).
    pub ca_pem: Option<Vec<u8>>,
    /// The node's client certificate chain and its key, PEM (`--client-cert`, `--client-key`).
    pub client: Option<(Vec<u8>, Vec<u8>)>,
    /// The sha256 the root image must have (`--image`, `--image-sha256`), and a name for it.
    pub pin: Option<([u8; 32], Option<String>)>,
    /// The minisign public key configuration archives must be signed with (`--config-key`).
    pub config_key: Option<Vec<u8>>,
    /// The dm-verity root hash a block device root must have (`--verity-roothash`).
    pub verity_pin: Option<[u8; 32]>,
}

impl Trust {
    /// The files for [`InitrdOptions::files`](super::initrd::InitrdOptions::files), after
    /// checking that the node can use them: every CA certificate parses, and the client key
    /// belongs to the certificate. The key file is 0600; it lives in the initramfs only
    /// (switch_root deletes it with the rest).
    pub fn files(&self) -> Result<Vec<ExtraFile>> {
        use diskless::image::trust::{
            CA_BUNDLE, CLIENT_CERT, CLIENT_KEY, IMAGE_PIN, VERITY_PIN, pin_file,
        };
        let mut files = Vec::new();
        match (&self.ca_pem, &self.client) {
            (None, Some(_)) => bail!(
                "a client certificate is only used for https, which needs --ca (the CAs the \
                 image server's certificate chains to)"
            ),
            (Some(ca), client) => {
                let client = client
                    .as_ref()
                    .map(|(cert, key)| (cert.as_slice(), key.as_slice()));
                diskless::image::tls::client_config(ca, client)
                    .context("checking the TLS files for the node")?;
                files.push(ExtraFile {
                    dest: CA_BUNDLE.to_owned(),
                    contents: ca.clone(),
                    mode: 0o644,
                });
                if let Some((cert, key)) = client {
                    files.push(ExtraFile {
                        dest: CLIENT_CERT.to_owned(),
                        contents: cert.to_vec(),
                        mode: 0o644,
                    });
                    files.push(ExtraFile {
                        dest: CLIENT_KEY.to_owned(),
                        contents: key.to_vec(),
                        mode: 0o600,
                    });
                }
            }
            (None, None) => {}
        }
        super::signing::add_key(&mut files, self.config_key.as_deref())?;
        if let Some((sha256, name)) = &self.pin {
            files.push(ExtraFile {
                dest: IMAGE_PIN.to_owned(),
                contents: pin_file(sha256, name.as_deref()).into_bytes(),
                mode: 0o644,
            });
        }
        if let Some(root_hash) = &self.verity_pin {
            files.push(ExtraFile {
                dest: VERITY_PIN.to_owned(),
                contents: pin_file(root_hash, None).into_bytes(),
                mode: 0o644,
            });
        }
        Ok(files)
    }
}

/// The sha256 of a file, read in pieces (root images are large).
pub fn sha256_of_file(path: &Path) -> Result<[u8; 32]> {
    use sha2::Digest;
    use std::io::Read as _;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_becomes_a_file_the_init_reads() {
        let sha = [0xab; 32];
        let trust = Trust {
            pin: Some((sha, Some("root.squashfs".to_owned()))),
            ..Trust::default()
        };
        let files = trust.files().expect("files");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].dest, diskless::image::trust::IMAGE_PIN);
        let text = String::from_utf8(files[0].contents.clone()).expect("text");
        assert_eq!(diskless::image::trust::parse_pin(&text), Ok(sha));
        assert!(text.ends_with("  root.squashfs\n"), "{text}");
        assert_eq!(Trust::default().files().expect("nothing"), Vec::new());
        let verity = Trust {
            verity_pin: Some([0xcd; 32]),
            ..Trust::default()
        };
        let files = verity.files().expect("files");
        assert_eq!(files[0].dest, diskless::image::trust::VERITY_PIN);
        let text = String::from_utf8(files[0].contents.clone()).expect("text");
        assert_eq!(diskless::image::trust::parse_pin(&text), Ok([0xcd; 32]));
    }

    #[test]
    fn bad_tls_material_fails_the_build_not_the_boot() {
        let no_ca = Trust {
            client: Some((b"cert".to_vec(), b"key".to_vec())),
            ..Trust::default()
        };
        let err = no_ca.files().expect_err("a client certificate needs --ca");
        assert!(err.to_string().contains("needs --ca"), "{err}");
        let garbage = Trust {
            ca_pem: Some(b"not a certificate".to_vec()),
            ..Trust::default()
        };
        let err = garbage.files().expect_err("no certificate");
        assert!(
            format!("{err:#}").contains("CA bundle: no certificate"),
            "{err:#}"
        );
    }
}
