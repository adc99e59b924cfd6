//! minisign signatures over configuration archives: the public key is baked into the
//! initramfs (`cargo xtask initrd --config-key`), the signature is `<url>.minisig`. Only
//! prehashed signatures (minisign's default since 0.8) are accepted.
//!
//! A signature alone says "the key signed these bytes", not "these bytes are this node's
//! archive": another node's archive, or an older one, signed with the same key would pass.
//! So the signature's trusted comment (signed with it) must name the file the URL names,
//! `file:<name>` (minisign writes `file:<name>` in its default trusted comment), and may set
//! an end, `expires:<YYYY-MM-DD>` (UTC, the end of that day): `minisign -S -m <name> -t
//! "file:<name> expires:2027-06-30"`.

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

/// What a signature must be bound to: the file the URL names, and the node's time.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The URL's last path segment (`525400123456.tar.gz`).
    pub file: &'a str,
    /// Seconds since the epoch, by the node's settled clock.
    pub now: u64,
}

/// The last path segment of `url`, without its query or fragment.
pub fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// Checks `signature` (the `.minisig` file's text) over `data` with `key`, and that its
/// trusted comment binds it to `binding`.
pub fn verify(
    key: &PublicKey,
    key_comment: &str,
    signature: &str,
    data: &[u8],
    binding: Binding<'_>,
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
    check_trusted_comment(signature.trusted_comment(), binding)?;
    Ok(Signer {
        key: key_comment.to_owned(),
        trusted_comment: signature.trusted_comment().to_owned(),
    })
}

/// The trusted comment's `file:` must be the URL's file name; its `expires:`, if any, not
/// past. Words are separated by white space (minisign's default comment uses tabs).
pub fn check_trusted_comment(comment: &str, binding: Binding<'_>) -> Result<(), String> {
    let word = |key: &str| {
        comment
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix(key))
    };
    let sign_with = format!(
        "sign it with minisign -S -m {} -t \"file:{} [expires:<YYYY-MM-DD>]\"",
        binding.file, binding.file
    );
    match word("file:") {
        Some(file) if file == binding.file => {}
        Some(file) => {
            return Err(format!(
                "the signature is for {file:?} (its trusted comment {comment:?}), not for \
                 {:?}: not applying it",
                binding.file
            ));
        }
        None => {
            return Err(format!(
                "the signature's trusted comment {comment:?} names no file: {sign_with}"
            ));
        }
    }
    if let Some(date) = word("expires:") {
        let end = end_of_day(date).ok_or_else(|| {
            format!("the signature's expires:{date} is not a date such as 2027-06-30")
        })?;
        if binding.now >= end {
            return Err(format!(
                "the signature expired on {date} (its trusted comment {comment:?}): {sign_with}"
            ));
        }
    }
    Ok(())
}

/// Seconds since the epoch at the end of `YYYY-MM-DD` (UTC).
fn end_of_day(date: &str) -> Option<u64> {
    let mut parts = date.splitn(3, '-');
    let mut number = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u64>().ok())
    };
    let (year, month, day) = (number(4)?, number(2)?, number(2)?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days + 1) * 86_400)
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
        let m = Binding {
            file: "m",
            now: 1_800_000_000,
        };
        let signer = verify(&key, &comment, SIG, b"hello\n", m).expect("a good signature");
        assert_eq!(signer.trusted_comment, "file:m");
        let tampered = verify(&key, &comment, SIG, b"hellO\n", m)
            .err()
            .unwrap_or_default();
        assert!(
            tampered.starts_with("the signature does not match"),
            "{tampered}"
        );
        assert!(verify(&key, &comment, "<html>404</html>", b"hello\n", m).is_err());
        // The same good signature, served for another file: another node's archive.
        let other = Binding {
            file: "n.tar.gz",
            ..m
        };
        let moved = verify(&key, &comment, SIG, b"hello\n", other)
            .err()
            .unwrap_or_default();
        assert!(
            moved.contains(r#"is for "m""#) && moved.contains("n.tar.gz"),
            "{moved}"
        );
        assert!(parse_key("untrusted comment: x\nAAAA\n").is_err());
    }

    /// What the trusted comment must say: the URL's file, and no end in the past.
    #[test]
    fn trusted_comments_bind_the_file_and_the_date() {
        // 2027-07-01 00:00 UTC: the first second after 2027-06-30.
        let june_2027 = 1_814_400_000;
        let at = |file, now| Binding { file, now };
        let cases = [
            (
                "timestamp:1700000000\tfile:n1.tar.gz\thashed",
                at("n1.tar.gz", june_2027),
                None,
            ),
            (
                "file:n1.tar.gz expires:2027-07-01",
                at("n1.tar.gz", june_2027),
                None,
            ),
            (
                "file:n1.tar.gz expires:2027-06-30",
                at("n1.tar.gz", june_2027),
                Some("expired on 2027-06-30"),
            ),
            (
                "file:n1.tar.gz expires:2027-6-30",
                at("n1.tar.gz", 0),
                Some("not a date"),
            ),
            (
                "file:n2.tar.gz",
                at("n1.tar.gz", 0),
                Some(r#"is for "n2.tar.gz""#),
            ),
            (
                "node 1, 2026-11-30",
                at("n1.tar.gz", 0),
                Some("names no file"),
            ),
            ("", at("n1.tar.gz", 0), Some("minisign -S -m n1.tar.gz")),
        ];
        for (comment, binding, refused) in cases {
            match (check_trusted_comment(comment, binding), refused) {
                (Ok(()), None) => {}
                (Err(why), Some(want)) => assert!(why.contains(want), "{comment}: {why}"),
                (got, want) => panic!("{comment}: {got:?}, expected {want:?}"),
            }
        }
        assert_eq!(end_of_day("1970-01-01"), Some(86_400));
        assert_eq!(end_of_day("2027-06-30"), Some(1_814_400_000));
        assert_eq!(file_name("https://h/nodes/n1.tar.gz?x=1#y"), "n1.tar.gz");
        assert_eq!(file_name("n1.tar.gz"), "n1.tar.gz");
    }
}
