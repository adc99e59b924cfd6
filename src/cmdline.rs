//! The kernel command line, split the way the kernel splits it (`lib/cmdline.c`, `next_arg()`).
//!
//! Rules pinned by the tests: tokens are separated by ASCII whitespace; a `"` toggles quoting,
//! so `key="a b"` and `"key=a b"` both give key `key`, value `a b`; there is no escape for `"`;
//! the first `=` splits key from value; quotes are removed from the value. A key may repeat:
//! every occurrence is kept, in order (callers decide that the last `ip=` wins).

/// One `key` or `key=value` token of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    /// `None` for a bare flag (`quiet`), `Some("")` for `key=`.
    pub value: Option<String>,
}

/// Splits a command line (e.g. the contents of /proc/cmdline) into parameters.
pub fn parse(line: &str) -> Vec<Param> {
    todo!("helper: implement per lib/cmdline.c; {line}")
}
