//! minisign signatures over configuration archives: the public key is baked into the
//! initramfs (`cargo xtask initrd --config-key`), the signature is `<url>.minisig`. Only
//! prehashed signatures (minisign's default since 0.8) are accepted.

use minisign_verify::{PublicKey, Signature};

/// Who vouched for an archive, for the log and the boot record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The key file's comment (`minisign public key 5D8A3B...`: it names the key id).
    pub key: String,
    /// The signature's trusted comment (signed too: the time and file name by default).
    pub trusted_comment: String,
}

/// The baked key, parsed from the `.pub` file's text.
pub fn parse_key(text: &str) -> Result<(PublicKey, String), String> {
    let key = PublicKey::decode(text).map_err(|e| format!("not a minisign public key: {e}"))?;
    let comment = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("untrusted comment: "))
        .unwrap_or("minisign public key")
        .trim()
        .to_owned();
    Ok((key, comment))
}

/// Checks `signature` (the `.minisig` file's text) over `data` with `key`.
pub fn verify(
    key: &PublicKey,
    key_comment: &str,
    signature: &str,
    data: &[u8],
) -> Result<Signer, String> {
    let signature =
        Signature::decode(signature).map_err(|e| format!("not a minisign signature: {e}"))?;
    key.verify(data, &signature, false).map_err(|e| match e {
        minisign_verify::Error::UnexpectedKeyId => {
            "signed with another key than the initramfs's (--config-key)".to_owned()
        }
        minisign_verify::Error::UnexpectedAlgorithm => {
            "a legacy (not prehashed) signature: sign with minisign 0.8 or later".to_owned()
        }
        other => format!("the signature does not match the archive: {other}"),
    })?;
    Ok(Signer {
        key: key_comment.to_owned(),
        trusted_comment: signature.trusted_comment().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `minisign -G -W -p k.pub -s k.key`, `printf 'hello\n' > m`,
    // `minisign -S -s k.key -m m -t 'file:m'`.
    const KEY: &str = include_str!("fixtures/test.pub");
    const SIG: &str = include_str!("fixtures/hello.minisig");

    #[test]
    fn good_signatures_pass_and_anything_else_fails() {
        let (key, comment) = parse_key(KEY).expect("the fixture key");
        assert!(comment.starts_with("minisign public key "));
        let signer = verify(&key, &comment, SIG, b"hello\n").expect("a good signature");
        assert_eq!(signer.trusted_comment, "file:m");
        let tampered = verify(&key, &comment, SIG, b"hellO\n")
            .err()
            .unwrap_or_default();
        assert!(
            tampered.starts_with("the signature does not match"),
            "{tampered}"
        );
        assert!(verify(&key, &comment, "<html>404</html>", b"hello\n").is_err());
        assert!(parse_key("untrusted comment: x\nAAAA\n").is_err());
    }
}
