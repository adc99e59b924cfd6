//! Any bytes as /proc/cmdline: the tokenizer returns, never panics, and keeps the kernel's
//! rules. Whitespace and `=` only get into a key through quotes; NUL ends the line; and a line
//! without quotes is exactly its whitespace-separated tokens, so re-joining them with single
//! spaces and splitting again gives the same parameters.
#![no_main]

use diskless::cmdline::{Param, parse, parse_bytes};
use libfuzzer_sys::fuzz_target;

/// The kernel's `isspace()`, as a `char` of the lossily decoded key or value.
fn is_kernel_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\u{a0}')
}

fn rejoin(params: &[Param]) -> String {
    let tokens: Vec<String> = params
        .iter()
        .map(|p| match &p.value {
            Some(value) => format!("{}={value}", p.key),
            None => p.key.clone(),
        })
        .collect();
    tokens.join(" ")
}

fuzz_target!(|data: &[u8]| {
    let params = parse_bytes(data);
    let line = data.split(|&b| b == 0).next().unwrap_or_default();
    let quoted = line.contains(&b'"');
    let spaces = line
        .iter()
        .filter(|&&b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0))
        .count();
    // Each token after the first needs a space before it.
    assert!(params.len() <= spaces + 1, "{params:?}");
    for param in &params {
        assert!(!param.key.contains('\0'), "{param:?}");
        assert!(
            !param.value.as_deref().unwrap_or_default().contains('\0'),
            "{param:?}"
        );
        // The first `=` (after the key's first byte) always splits.
        assert!(
            !param.key.chars().skip(1).any(|c| c == '='),
            "an unquoted '=' inside a key: {param:?}"
        );
        if !quoted {
            assert!(!param.key.is_empty(), "empty key without quotes: {data:?}");
            assert!(
                !param.key.chars().any(is_kernel_space),
                "whitespace in a key without quotes: {param:?}"
            );
            assert!(
                !param
                    .value
                    .as_deref()
                    .unwrap_or_default()
                    .chars()
                    .any(is_kernel_space),
                "whitespace in a value without quotes: {param:?}"
            );
        }
    }
    if !quoted {
        assert_eq!(parse(&rejoin(&params)), params, "{data:?}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(parse(text), params);
    }
});
