//! The kernel command line, split the way the kernel splits it (`lib/cmdline.c`, `next_arg()`).
//!
//! Rules pinned by the tests: tokens are separated by whitespace as the kernel's `isspace()`
//! sees it (space, `\t`, `\n`, `\v`, `\f`, `\r`, and the Latin-1 byte 0xA0); a `"` toggles
//! quoting, so `key="a b"` and `"key=a b"` both give key `key`, value `a b`; there is no escape
//! for `"`; the first `=` splits key from value (an `=` in the very first byte does not count,
//! as in the kernel); a `"` opening the value and a `"` closing the token are removed, quotes
//! in the middle stay. A key may repeat: every occurrence is kept, in order (callers decide
//! that the last `ip=` wins). `--` (after which the kernel hands the rest to init as argv)
//! is kept as a bare key; callers decide what it means.

/// One `key` or `key=value` token of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    /// `None` for a bare flag (`quiet`), `Some("")` for `key=`.
    pub value: Option<String>,
}

/// Splits a command line (e.g. the contents of /proc/cmdline) into parameters.
pub fn parse(line: &str) -> Vec<Param> {
    parse_bytes(line.as_bytes())
}

/// As [`parse`], for the raw bytes of /proc/cmdline (which need not be UTF-8). Invalid UTF-8
/// in a key or value is replaced with U+FFFD.
pub fn parse_bytes(line: &[u8]) -> Vec<Param> {
    let mut params = Vec::new();
    // The kernel stops at the first NUL: it works on C strings.
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    let mut rest = skip_spaces(line);
    while !rest.is_empty() {
        let (param, next) = next_arg(rest);
        params.push(param);
        rest = next;
    }
    params
}

/// The kernel's `isspace()` (lib/ctype.c): ASCII whitespace including `\v`, plus 0xA0, which
/// its Latin-1 table marks as a space.
fn is_kernel_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_kernel_space(b)).count();
    s.get(n..).unwrap_or_default()
}

/// One step of `next_arg()`: the token at the start of `args` (which starts with no space)
/// and what follows it, leading spaces skipped. The kernel writes NULs into its buffer to end
/// the key and the value; here the same cut points become slice ends.
fn next_arg(args: &[u8]) -> (Param, &[u8]) {
    let (args, quoted) = match args.split_first() {
        Some((b'"', rest)) => (rest, true),
        _ => (args, false),
    };
    let mut in_quote = quoted;
    let mut equals = 0;
    let mut i = 0;
    while let Some(&c) = args.get(i) {
        if is_kernel_space(c) && !in_quote {
            break;
        }
        // `equals == 0` doubles as "not found", so an `=` at index 0 is skipped over.
        if equals == 0 && c == b'=' {
            equals = i;
        }
        if c == b'"' {
            in_quote = !in_quote;
        }
        i += 1;
    }
    let token = args.get(..i).unwrap_or_default();
    let next = skip_spaces(args.get(i + 1..).unwrap_or_default());

    // The token's end, moved back by one when its last byte is a quote the kernel drops.
    let ends_in_quote = token.last() == Some(&b'"');
    let (key, value) = if equals == 0 {
        let end = if quoted && ends_in_quote { i - 1 } else { i };
        (token.get(..end).unwrap_or_default(), None)
    } else {
        let key = token.get(..equals).unwrap_or_default();
        let mut start = equals + 1;
        let mut end = i;
        if token.get(start) == Some(&b'"') {
            start += 1;
            if ends_in_quote {
                end = i - 1;
            }
        }
        if quoted && ends_in_quote {
            end = i - 1;
        }
        // `key="` : the opening quote is also the closing one, the value is empty.
        let value = token.get(start..end.max(start)).unwrap_or_default();
        (key, Some(value))
    };
    let param = Param {
        key: String::from_utf8_lossy(key).into_owned(),
        value: value.map(|v| String::from_utf8_lossy(v).into_owned()),
    };
    (param, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(key: &str, value: Option<&str>) -> Param {
        Param {
            key: key.to_owned(),
            value: value.map(str::to_owned),
        }
    }

    fn pairs(line: &str) -> Vec<(String, Option<String>)> {
        parse(line).into_iter().map(|p| (p.key, p.value)).collect()
    }

    /// A line, the `(key, value)` pairs the kernel makes of it, and why.
    type Case = (
        &'static str,
        &'static [(&'static str, Option<&'static str>)],
        &'static str,
    );

    #[test]
    fn tokens_follow_the_kernel_rules() {
        let cases: &[Case] = &[
            ("", &[], "empty line"),
            (
                "   \n",
                &[],
                "only whitespace (/proc/cmdline ends in a newline)",
            ),
            ("quiet", &[("quiet", None)], "bare flag"),
            ("a=", &[("a", Some(""))], "empty value is Some(\"\")"),
            ("a=b=c", &[("a", Some("b=c"))], "first = splits"),
            (
                "a  b\tc\n",
                &[("a", None), ("b", None), ("c", None)],
                "any whitespace separates",
            ),
            (
                "a\x0bb",
                &[("a", None), ("b", None)],
                "vertical tab is a kernel space",
            ),
            (r#"key="a b""#, &[("key", Some("a b"))], "quoted value"),
            (
                r#""key=a b""#,
                &[("key", Some("a b"))],
                "quote before the key",
            ),
            (r#""quiet""#, &[("quiet", None)], "quoted flag"),
            (
                r#"k=a"b c"d"#,
                &[("k", Some(r#"a"b c"d"#))],
                "inner quotes stay, still group",
            ),
            (
                r#"k="a\"b c""#,
                &[("k", Some(r#"a\"b"#)), (r#"c""#, None)],
                "no escape: \\\" closes",
            ),
            (
                r#"k="a b"#,
                &[("k", Some("a b"))],
                "unterminated quote runs to the end",
            ),
            (r#"k=""#, &[("k", Some(""))], "lone quote value is empty"),
            (r#"k="""#, &[("k", Some(""))], "empty quoted value"),
            ("=x", &[("=x", None)], "= in the first byte does not split"),
            ("=x=y", &[("=x", Some("y"))], "the next = splits then"),
            (r#"""#, &[("", None)], "a lone quote is an empty key"),
            (
                "a -- b",
                &[("a", None), ("--", None), ("b", None)],
                "-- is kept",
            ),
            ("a\0b c", &[("a", None)], "the kernel stops at NUL"),
        ];
        for (line, want, why) in cases {
            let want: Vec<_> = want
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect();
            assert_eq!(pairs(line), want, "{why}: {line:?}");
        }
    }

    #[test]
    fn pxelinux_sysappend_line_keeps_both_ip_in_order() {
        let line = "BOOT_IMAGE=vmlinuz console=ttyS0 ip=dhcp initrd=initrd.img \
                    ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 BOOTIF=01-52-54-00-12-34-56\n";
        assert_eq!(
            parse(line),
            vec![
                p("BOOT_IMAGE", Some("vmlinuz")),
                p("console", Some("ttyS0")),
                p("ip", Some("dhcp")),
                p("initrd", Some("initrd.img")),
                p("ip", Some("10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0")),
                p("BOOTIF", Some("01-52-54-00-12-34-56")),
            ]
        );
    }

    #[test]
    fn seed_003_line() {
        let line = "BOOT_IMAGE=vmlinuz-6.1.0-21-amd64 root=/dev/nfs \
                    nfsroot=192.168.0.254:/clients,ro ip=dhcp nfsrootdebug \
                    initrd=initrd-cluster-24_10_12_23_11_02_CEST \
                    ip=192.168.0.4:192.168.0.254:192.168.0.254:255.255.255.0 \
                    BOOTIF=01-00-23-24-94-34-ae CPU=6PVXL";
        let got = parse(line);
        assert_eq!(got.len(), 9);
        assert_eq!(got[1], p("root", Some("/dev/nfs")));
        assert_eq!(got[2], p("nfsroot", Some("192.168.0.254:/clients,ro")));
        assert_eq!(got[4], p("nfsrootdebug", None));
        assert_eq!(
            got[6],
            p(
                "ip",
                Some("192.168.0.4:192.168.0.254:192.168.0.254:255.255.255.0")
            )
        );
        assert_eq!(got[7], p("BOOTIF", Some("01-00-23-24-94-34-ae")));
        assert_eq!(got[8], p("CPU", Some("6PVXL")));
    }

    #[test]
    fn byte_0xa0_separates_like_the_kernel() {
        // lib/ctype.c marks Latin-1 NBSP as a space, so the kernel splits there too.
        assert_eq!(
            parse_bytes(b"a=1\xa0b=2"),
            vec![p("a", Some("1")), p("b", Some("2"))]
        );
        // Inside UTF-8 (U+00E0 is C3 A0) the same byte splits: we see what the kernel saw.
        assert_eq!(
            parse("x=\u{e0}y"),
            vec![p("x", Some("\u{fffd}")), p("y", None)]
        );
    }

    /// A key of the kind admins write: no space, quote or `=`.
    fn key() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_.-]{1,12}"
    }

    /// A token: a bare key, or `key=value` with a value that may hold `=`, `:` and `,`.
    fn token() -> impl Strategy<Value = (String, Option<String>)> {
        (key(), proptest::option::of("[A-Za-z0-9_.:/,=@{}%-]{0,16}"))
    }

    /// One or more of the kernel's spaces, as a separator.
    fn spaces() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(vec![' ', '\t', '\n', '\x0b', '\x0c', '\r']),
            1..4,
        )
        .prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// A line of plain tokens, joined by any run of spaces, splits back into them.
        #[test]
        fn plain_tokens_joined_by_any_spaces_split_back(
            tokens in proptest::collection::vec((token(), spaces()), 0..8),
            lead in "[ \t\n]{0,2}",
        ) {
            let mut line = lead;
            for ((key, value), sep) in &tokens {
                line.push_str(key);
                if let Some(value) = value {
                    line.push('=');
                    line.push_str(value);
                }
                line.push_str(sep);
            }
            let want: Vec<(String, Option<String>)> =
                tokens.into_iter().map(|(token, _)| token).collect();
            prop_assert_eq!(pairs(&line), want);
        }

        /// `key="a value with spaces"` keeps its spaces and loses its quotes, wherever it is.
        #[test]
        fn a_quoted_value_keeps_its_spaces(
            before in proptest::collection::vec(token(), 0..3),
            key in key(),
            value in "[a-z0-9 =\t]{0,16}",
            after in proptest::collection::vec(token(), 0..3),
        ) {
            let plain = |t: &(String, Option<String>)| match &t.1 {
                Some(v) => format!("{}={v}", t.0),
                None => t.0.clone(),
            };
            let mut words: Vec<String> = before.iter().map(plain).collect();
            words.push(format!("{key}=\"{value}\""));
            words.extend(after.iter().map(plain));
            let mut want = before.clone();
            want.push((key, Some(value)));
            want.extend(after);
            prop_assert_eq!(pairs(&words.join(" ")), want);
        }

        /// Any bytes split without panicking; without a quote on the line, no key is empty
        /// and no key or value holds a space.
        #[test]
        fn any_bytes_split_and_spaces_only_enter_through_quotes(
            bytes in proptest::collection::vec(
                proptest::sample::select(b" \t\"=ab\xa0\xc3-\n\0".to_vec()),
                0..24,
            ),
        ) {
            let params = parse_bytes(&bytes);
            let line = bytes.split(|&b| b == 0).next().unwrap_or_default();
            if !line.contains(&b'"') {
                for param in &params {
                    let value = param.value.as_deref().unwrap_or_default();
                    prop_assert!(!param.key.is_empty(), "{:?}", bytes);
                    prop_assert!(
                        !param.key.contains([' ', '\t', '\n']) && !value.contains([' ', '\t', '\n']),
                        "{:?} -> {:?}", bytes, params
                    );
                }
            }
        }
    }
}
