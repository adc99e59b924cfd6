//! Request heads and Range headers, as the test server reads them.

use std::io::Read;

/// The largest request head accepted; the guest sends a few short headers.
const MAX_HEAD: usize = 16 * 1024;

/// The parts of a request the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) range: Option<String>,
    pub(super) authorization: Option<String>,
}

/// Reads the request head (up to the blank line). `None` for a client that closed, timed out,
/// or sent something that is not HTTP.
pub(super) fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_request(&String::from_utf8_lossy(&head))
}

pub(super) fn parse_request(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    if !request_line.next()?.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| (*value).to_owned())
    };
    Some(Request {
        method,
        target,
        range: header("range"),
        authorization: header("authorization"),
    })
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RangeRequest {
    /// No usable range: send the whole file with 200.
    Full,
    /// Bytes `start..=end`, within the file: 206.
    Partial { start: u64, end: u64 },
    /// A range starting at or past the end: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range. RFC 9110 (14.2) says a server ignores a Range header it
/// does not understand or will not honour, so unknown units, malformed specs and multiple
/// ranges (no multipart responses here) give `Full`.
pub(super) fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `-S`: the last S bytes.
        (true, false) => match number(last) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(suffix) => RangeRequest::Partial {
                start: len.saturating_sub(suffix),
                end: len - 1,
            },
        },
        // `N-`: from N to the end.
        (false, true) => match number(first) {
            None => RangeRequest::Full,
            Some(start) if start >= len => RangeRequest::Unsatisfiable,
            Some(start) => RangeRequest::Partial {
                start,
                end: len - 1,
            },
        },
        // `N-M`, M clamped to the end.
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= len {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Partial {
                        start,
                        end: end.min(len - 1),
                    }
                }
            }
            _ => RangeRequest::Full,
        },
        (true, true) => RangeRequest::Full,
    }
}
