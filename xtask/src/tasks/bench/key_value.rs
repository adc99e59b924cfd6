//! `key=value` lines, as os-release and `/usr/bin/time -f` write them.

/// Finds `key=value` in lines of `key=value` (os-release, /usr/bin/time's `-f` output).
pub(super) fn key_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}
