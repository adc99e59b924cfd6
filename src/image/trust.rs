//! What the initramfs itself vouches for, put there at build time by `cargo xtask initrd`:
//! trust anchors for HTTPS (`--ca`), the node's client certificate and key (`--client-cert`,
//! `--client-key`, Anchor's mutual TLS), and the pinned sha256 of the root image (`--image`,
//! `--image-sha256`).
//!
//! The command line comes from DHCP, TFTP or a boot menu, any of which a neighbour on the
//! network may forge; the initramfs is what the admin built. So what the initramfs pins wins
//! over the command line ([`expected_hash`]).
//!
//! The client key lives only in the initramfs (rootfs) and in PID 1's memory: switch_root
//! deletes every initramfs file and exec replaces PID 1's memory, and nothing here writes the
//! key anywhere else (not into /run, which moves into the real root, nor into the boot
//! record). Keep it that way.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::hex;

/// The PEM bundle of CA certificates HTTPS servers are checked against (`--ca`).
pub const CA_BUNDLE: &str = "etc/diskless/ca.pem";
/// The node's client certificate chain, PEM (`--client-cert`).
pub const CLIENT_CERT: &str = "etc/diskless/client.pem";
/// The key of [`CLIENT_CERT`], PEM (`--client-key`); mode 0600 in the image.
pub const CLIENT_KEY: &str = "etc/diskless/client.key";
/// The image's pinned sha256: 64 hex digits, optionally followed by a file name as
/// `sha256sum` prints it (`--image`, `--image-sha256`).
pub const IMAGE_PIN: &str = "etc/diskless/image.sha256";

/// The minisign public key configuration archives must be signed with (`--config-key`).
pub const CONFIG_KEY: &str = "etc/diskless/config.pub";

/// The dm-verity root hash a block device root must have (`--verity-roothash`): 64 hex
/// digits, as the image pin.
pub const VERITY_PIN: &str = "etc/diskless/verity.roothash";

/// The node's TLS client identity, as PEM text. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"(not shown)")
            .finish()
    }
}

/// Everything the initramfs vouches for; each part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pub ca_pem: Option<Vec<u8>>,
    pub client: Option<ClientIdentity>,
    pub pin: Option<[u8; 32]>,
    /// The pinned dm-verity root hash ([`VERITY_PIN`]).
    pub verity_pin: Option<[u8; 32]>,
}

/// A trust file that is there but unusable: the image was built wrong, and guessing would
/// defeat the point of the file.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{present} is in the initramfs but {missing} is not: a client certificate needs both")]
    HalfIdentity {
        present: &'static str,
        missing: &'static str,
    },
}

impl Trust {
    /// Reads the trust files under `root` (`/` at boot). Absent files mean "not configured";
    /// a file that is present but unreadable or malformed is an error.
    pub fn load(root: &Path) -> Result<Trust, TrustError> {
        let read = |rel: &str| -> Result<Option<Vec<u8>>, TrustError> {
            let path = root.join(rel);
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(TrustError::Read { path, source }),
            }
        };
        let client = match (read(CLIENT_CERT)?, read(CLIENT_KEY)?) {
            (Some(cert_pem), Some(key_pem)) => Some(ClientIdentity { cert_pem, key_pem }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(TrustError::HalfIdentity {
                    present: CLIENT_CERT,
                    missing: CLIENT_KEY,
                });
            }
            (None, Some(_)) => {
                return Err(TrustError::HalfIdentity {
                    present: CLIENT_KEY,
                    missing: CLIENT_CERT,
                });
            }
        };
        Ok(Trust {
            ca_pem: read(CA_BUNDLE)?,
            client,
            pin: load_pin(root, IMAGE_PIN)?,
            verity_pin: load_pin(root, VERITY_PIN)?,
        })
    }
}

/// A pin file under `root` (`rel`: [`IMAGE_PIN`] or [`VERITY_PIN`]); `None` when absent.
pub fn load_pin(root: &Path, rel: &str) -> Result<Option<[u8; 32]>, TrustError> {
    let path = root.join(rel);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(TrustError::Read { path, source }),
    };
    let invalid = |reason: String| TrustError::Invalid {
        path: path.clone(),
        reason,
    };
    let text = String::from_utf8(bytes).map_err(|_| invalid("not text".to_owned()))?;
    Ok(Some(parse_pin(&text).map_err(invalid)?))
}

/// The pin file: its first word is the hash (so `sha256sum image > image.sha256` works);
/// anything else on that line is a name for people. Exactly one hash line is allowed: a
/// second one would leave it unclear which image was meant.
pub fn parse_pin(text: &str) -> Result<[u8; 32], String> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let line = lines.next().ok_or_else(|| "empty: no hash".to_owned())?;
    if lines.next().is_some() {
        return Err("more than one hash line".to_owned());
    }
    let word = line.split_whitespace().next().unwrap_or_default();
    hex::parse_sha256(word)
}

/// The pin file's contents for a hash.
pub fn pin_file(sha256: &[u8; 32], name: Option<&str>) -> String {
    let hex = hex::encode(sha256);
    match name {
        Some(name) => format!("{hex}  {name}\n"),
        None => format!("{hex}\n"),
    }
}

/// Where the required hash came from; said in every message about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashSource {
    /// [`IMAGE_PIN`] in the initramfs.
    Pin,
    /// `diskless.sha256=` on the command line.
    Cmdline,
    /// The manifest digest in `root=oci:...@sha256:<digest>` (the command line too).
    Reference,
    /// A digest inside a manifest that was itself verified (a layer, a platform's manifest).
    Manifest,
}

impl HashSource {
    pub fn describe(self) -> &'static str {
        match self {
            HashSource::Pin => "pinned in the initramfs",
            HashSource::Cmdline => "diskless.sha256",
            HashSource::Reference => "the digest in root=oci:",
            HashSource::Manifest => "the digest in the verified manifest",
        }
    }
}

/// The hash the image must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub sha256: [u8; 32],
    pub source: HashSource,
}

/// The hash to enforce: the pin if there is one (the command line cannot override it), else
/// `diskless.sha256=`. The second value is a warning to log when the two disagree.
pub fn expected_hash(
    pin: Option<[u8; 32]>,
    cmdline: Option<[u8; 32]>,
) -> (Option<Expected>, Option<String>) {
    match (pin, cmdline) {
        (Some(pin), cmdline) => {
            let warning = cmdline.filter(|c| *c != pin).map(|c| {
                format!(
                    "diskless.sha256={} differs from the sha256 pinned in the initramfs ({}): \
                     the pin wins; the command line cannot change the image",
                    hex::encode(&c),
                    hex::encode(&pin)
                )
            });
            (
                Some(Expected {
                    sha256: pin,
                    source: HashSource::Pin,
                }),
                warning,
            )
        }
        (None, Some(sha256)) => (
            Some(Expected {
                sha256,
                source: HashSource::Cmdline,
            }),
            None,
        ),
        (None, None) => (None, None),
    }
}

/// Who vouched for a dm-verity root hash; said in every message about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootHashSource {
    /// [`VERITY_PIN`] in the initramfs.
    Pin,
    /// `diskless.verity=` on the command line.
    Cmdline,
}

impl RootHashSource {
    pub fn describe(self) -> &'static str {
        match self {
            RootHashSource::Pin => "pinned in the initramfs: /etc/diskless/verity.roothash",
            RootHashSource::Cmdline => "diskless.verity",
        }
    }
}

/// The dm-verity root hash to enforce, by the image pin's rule: the initramfs's pin if there
/// is one, else `diskless.verity=`; the second value is a warning to log when they disagree.
pub fn expected_root_hash(
    pin: Option<[u8; 32]>,
    cmdline: Option<[u8; 32]>,
) -> (Option<([u8; 32], RootHashSource)>, Option<String>) {
    match (pin, cmdline) {
        (Some(pin), cmdline) => {
            let warning = cmdline.filter(|c| *c != pin).map(|c| {
                format!(
                    "diskless.verity={} differs from the root hash pinned in the initramfs \
                     ({}): the pin wins; the command line cannot change the root",
                    hex::encode(&c),
                    hex::encode(&pin)
                )
            });
            (Some((pin, RootHashSource::Pin)), warning)
        }
        (None, Some(hash)) => (Some((hash, RootHashSource::Cmdline)), None),
        (None, None) => (None, None),
    }
}

/// What to warn about before fetching from `urls` with this `expected` hash. Without a pin,
/// plain HTTP lets anyone on the path swap the image (a `diskless.sha256=` on the command line
/// travels as unprotected as the image does), and without any hash nothing is checked at all.
pub fn fetch_warnings(urls: &[String], expected: Option<&Expected>) -> Vec<String> {
    let plain: Vec<&str> = urls
        .iter()
        .filter(|u| {
            u.get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        })
        .map(String::as_str)
        .collect();
    let mut warnings = Vec::new();
    match expected.map(|e| e.source) {
        Some(HashSource::Pin | HashSource::Manifest) => {}
        Some(HashSource::Cmdline | HashSource::Reference) if !plain.is_empty() => {
            warnings.push(format!(
                "INSECURE: fetching over plain HTTP ({}) with only diskless.sha256= to check it: \
             whoever can change the command line (DHCP, TFTP) can change the image too; \
             pin the hash in the initramfs (cargo xtask initrd --image-sha256) or use https",
                plain.join(", ")
            ))
        }
        Some(HashSource::Cmdline | HashSource::Reference) => {}
        None if !plain.is_empty() => warnings.push(format!(
            "INSECURE: fetching over plain HTTP ({}) with no hash to check: anyone on the \
             network path can swap the image; pin it (cargo xtask initrd --image-sha256) or \
             at least give diskless.sha256=",
            plain.join(", ")
        )),
        None => warnings.push(
            "no pinned hash and no diskless.sha256=: the image is not verified, only TLS \
             vouches for it"
                .to_owned(),
        ),
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sha(byte: u8) -> [u8; 32] {
        [byte; 32]
    }

    #[test]
    fn pins_read_like_sha256sum_writes_them() {
        let want = hex::parse_sha256(HEX).unwrap();
        assert_eq!(want[0], 0xe3);
        assert_eq!(want[31], 0x55);
        for text in [
            format!("{HEX}\n"),
            format!("{HEX}  root.squashfs\n"),
            format!("# built 2024-05-01\n\n  {}\n", HEX.to_uppercase()),
        ] {
            assert_eq!(parse_pin(&text), Ok(want), "{text:?}");
        }
        assert_eq!(
            pin_file(&want, Some("root.squashfs")),
            format!("{HEX}  root.squashfs\n")
        );
        assert_eq!(parse_pin(&pin_file(&want, None)), Ok(want));
    }

    #[test]
    fn malformed_pins_are_errors() {
        for (text, reason) in [
            ("", "empty"),
            ("# only a comment\n", "empty"),
            ("abc\n", "64 hex"),
            (&format!("{HEX}\n{HEX}\n") as &str, "more than one"),
            (&HEX.replace('e', "g") as &str, "found 'g'"),
        ] {
            let err = parse_pin(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_pin_beats_the_command_line() {
        let (e, w) = expected_hash(Some(sha(1)), Some(sha(2)));
        assert_eq!(
            e,
            Some(Expected {
                sha256: sha(1),
                source: HashSource::Pin
            })
        );
        let w = w.expect("a warning when they differ");
        assert!(w.contains("the pin wins"), "{w}");
        assert_eq!(expected_hash(Some(sha(1)), Some(sha(1))).1, None);
        assert_eq!(expected_hash(Some(sha(1)), None).1, None);
        let (e, w) = expected_hash(None, Some(sha(2)));
        assert_eq!(e.map(|e| e.source), Some(HashSource::Cmdline));
        assert_eq!(w, None);
        assert_eq!(expected_hash(None, None), (None, None));
    }

    #[test]
    fn the_verity_pin_beats_the_command_line_too() {
        let (e, w) = expected_root_hash(Some(sha(1)), Some(sha(2)));
        assert_eq!(e, Some((sha(1), RootHashSource::Pin)));
        let w = w.expect("a warning when they differ");
        assert!(
            w.starts_with("diskless.verity=0202") && w.contains("the pin wins"),
            "{w}"
        );
        assert_eq!(expected_root_hash(Some(sha(1)), Some(sha(1))).1, None);
        assert_eq!(
            expected_root_hash(None, Some(sha(2))),
            (Some((sha(2), RootHashSource::Cmdline)), None)
        );
        assert_eq!(expected_root_hash(None, None), (None, None));
    }

    #[test]
    fn plain_http_is_loud_unless_pinned() {
        let urls = vec![
            "HTTP://10.0.2.2/root.squashfs".to_owned(),
            "https://mirror/root.squashfs".to_owned(),
        ];
        let pin = Expected {
            sha256: sha(1),
            source: HashSource::Pin,
        };
        let cmdline = Expected {
            sha256: sha(1),
            source: HashSource::Cmdline,
        };
        assert!(fetch_warnings(&urls, Some(&pin)).is_empty());
        let w = fetch_warnings(&urls, Some(&cmdline));
        assert!(
            w[0].starts_with("INSECURE") && w[0].contains("HTTP://10.0.2.2"),
            "{w:?}"
        );
        assert!(!w[0].contains("https://mirror"), "{w:?}");
        let w = fetch_warnings(&urls, None);
        assert!(
            w[0].starts_with("INSECURE") && w[0].contains("no hash"),
            "{w:?}"
        );
        let https = vec!["https://mirror/root.squashfs".to_owned()];
        assert!(fetch_warnings(&https, Some(&cmdline)).is_empty());
        assert!(fetch_warnings(&https, None)[0].contains("not verified"));
    }

    #[test]
    fn loading_reads_what_is_there_and_rejects_half_an_identity() {
        let dir = std::env::temp_dir().join(format!("diskless-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc/diskless")).unwrap();
        assert_eq!(Trust::load(&dir).unwrap(), Trust::default());

        std::fs::write(dir.join(CA_BUNDLE), b"CA").unwrap();
        std::fs::write(dir.join(IMAGE_PIN), format!("{HEX}  root.squashfs\n")).unwrap();
        std::fs::write(dir.join(CLIENT_CERT), b"CERT").unwrap();
        let err = Trust::load(&dir).unwrap_err();
        assert!(err.to_string().contains("client.key is not"), "{err}");

        std::fs::write(dir.join(CLIENT_KEY), b"KEY").unwrap();
        let trust = Trust::load(&dir).unwrap();
        assert_eq!(trust.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert_eq!(trust.pin, Some(hex::parse_sha256(HEX).unwrap()));
        assert_eq!(trust.verity_pin, None);
        std::fs::write(dir.join(VERITY_PIN), format!("{HEX}\n")).unwrap();
        let trust = Trust::load(&dir).unwrap();
        assert_eq!(trust.verity_pin, Some(hex::parse_sha256(HEX).unwrap()));
        let shown = format!("{trust:?}");
        assert!(
            !shown.contains("KEY") && shown.contains("not shown"),
            "{shown}"
        );

        std::fs::write(dir.join(IMAGE_PIN), "nonsense").unwrap();
        let err = Trust::load(&dir).unwrap_err();
        assert!(
            err.to_string().contains("image.sha256: expected 64 hex"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
