//! Why one attempt of a fetch failed, and what to do about it ([`Failure::verdict`]): the
//! vocabulary the transport ([`super::http`]), the source rotation ([`super::sources`]), the
//! fetch loop ([`super::fetch`]) and the registry client share.

use std::fmt;

use crate::hex;

pub(crate) fn mib(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection or no response: the server may be down or restarting.
    Connect(String),
    /// Nothing arrived for the stall timeout, or the attempt ran into the deadline.
    Timeout(String),
    /// The transfer broke off after `at` bytes of the image.
    Cut { at: u64, reason: String },
    /// An HTTP status other than 200 or 206.
    Status(u16),
    /// An answer that does not fit the question (a `Content-Range` from the wrong place, a
    /// file that changed size): the partial file is dropped and the next try starts over.
    BadResponse(String),
    /// The TLS handshake failed: the cause in words ([`super::tls::describe`]).
    Tls(String),
    /// Too many redirects, or a redirect from https to plain http.
    Redirect(String),
    /// More than the RAM budget (the free space of /run's tmpfs).
    TooLarge { bytes: u64, budget: u64 },
    /// More than the source may send for this file (`limit` bytes, as `by` says: an OCI
    /// descriptor's size): that source's fault, not the node's, even where RAM would hold it.
    Oversize {
        bytes: u64,
        limit: u64,
        by: &'static str,
    },
    /// All of it arrived, and it is not the image that was pinned.
    HashMismatch {
        actual: [u8; 32],
        expected: [u8; 32],
    },
    /// This source cannot work as configured (https without trust anchors, a bad URL).
    Setup(String),
    /// Writing into RAM failed: no source can fix that.
    Local(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(why) | Failure::Timeout(why) | Failure::BadResponse(why) => {
                f.write_str(why)
            }
            Failure::Cut { at, reason } => {
                write!(f, "connection lost after {at} bytes: {reason}")
            }
            Failure::Status(status) => write!(f, "HTTP status {status}"),
            Failure::Tls(why) => write!(f, "TLS: {why}"),
            Failure::Redirect(why) | Failure::Setup(why) | Failure::Local(why) => f.write_str(why),
            Failure::TooLarge { bytes, budget } => write!(
                f,
                "the image is {} ({bytes} bytes), more than the {} free in RAM for it",
                mib(*bytes),
                mib(*budget)
            ),
            Failure::Oversize { bytes, limit, by } => write!(
                f,
                "serves at least {bytes} bytes, more than the {limit} {by}"
            ),
            Failure::HashMismatch { actual, expected } => {
                write!(
                    f,
                    "has sha256 {}, expected {}",
                    hex::encode(actual),
                    hex::encode(expected)
                )
            }
        }
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again: the same source to resume a partial transfer, else the next source.
    Retry,
    /// This source will not serve the image during this boot; others may.
    DropSource,
    /// Nothing can succeed: give up now.
    Stop,
}

/// HTTP statuses worth another try: curl's `--retry` list (timeouts, rate limits, server
/// and gateway errors). A 404 or 403 will not heal within a boot.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504 | 522 | 524)
}

impl Failure {
    /// Whether this failure is worth another try, and where.
    pub fn verdict(&self) -> Verdict {
        match self {
            Failure::Connect(_)
            | Failure::Timeout(_)
            | Failure::Cut { .. }
            | Failure::BadResponse(_) => Verdict::Retry,
            Failure::Status(status) if retryable_status(*status) => Verdict::Retry,
            Failure::Status(_)
            | Failure::Tls(_)
            | Failure::Redirect(_)
            | Failure::TooLarge { .. }
            | Failure::Oversize { .. }
            | Failure::HashMismatch { .. }
            | Failure::Setup(_) => Verdict::DropSource,
            Failure::Local(_) => Verdict::Stop,
        }
    }
}
