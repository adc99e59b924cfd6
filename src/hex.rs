//! Hex as admins read and write it: digests and MACs shown in lowercase, sha256 digests
//! taken in either case (`diskless.sha256=`, the pin file, `--image-sha256`).

/// Lowercase hex of `bytes`.
#[expect(
    clippy::indexing_slicing,
    reason = "a nibble (byte >> 4, byte & 0x0f) is below 16, the table's length"
)]
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// A sha256 digest written as 64 hex digits (either case); the error says what was wrong.
pub fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    if let Some(c) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("expected 64 hex digits, found {c:?}"));
    }
    // All ASCII now: one byte per character.
    if text.len() != 64 {
        return Err(format!(
            "expected 64 hex digits, got {} characters",
            text.len()
        ));
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lowercase() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn sha256_round_trips_and_errors_say_why() {
        let digest: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(parse_sha256(&encode(&digest)), Ok(digest));
        assert_eq!(parse_sha256(&encode(&digest).to_uppercase()), Ok(digest));
        let cases = [
            ("", "got 0 characters"),
            ("abc", "got 3 characters"),
            (&"a".repeat(65), "got 65 characters"),
            (&format!("{}g", "a".repeat(63)), "found 'g'"),
            (&format!("{}é", "a".repeat(62)), "found 'é'"),
            (&format!(" {}", "a".repeat(63)), "found ' '"),
        ];
        for (text, why) in cases {
            let err = parse_sha256(text).expect_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
