//! Fetching the root image over HTTP into RAM, hashing it while it streams.
//!
//! The caller decides what to do with the result; this module only promises that the file it
//! leaves behind holds exactly the bytes whose sha256 it reports, and that a failed fetch
//! leaves no file behind.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// What a finished fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    pub sha256: [u8; 32],
    pub elapsed: Duration,
}

/// A progress report, at most one a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub bytes: u64,
    pub total: Option<u64>,
    pub elapsed: Duration,
}

impl Progress {
    /// `12.0 MiB of 100.0 MiB (12%), 45.6 MB/s`
    pub fn describe(&self) -> String {
        const MIB: f64 = 1024.0 * 1024.0;
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let done = self.bytes as f64;
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        let rate = done / secs / 1e6;
        match self.total {
            Some(total) if total > 0 => {
                #[expect(clippy::cast_precision_loss, reason = "display only")]
                let total_f = total as f64;
                format!(
                    "{:.1} MiB of {:.1} MiB ({:.0}%), {rate:.1} MB/s",
                    done / MIB,
                    total_f / MIB,
                    100.0 * done / total_f
                )
            }
            _ => format!("{:.1} MiB, {rate:.1} MB/s", done / MIB),
        }
    }
}

/// Why one attempt failed, and whether trying again can help.
#[derive(Debug)]
pub struct AttemptError {
    pub reason: String,
    pub retryable: bool,
}

/// When to give up: a total deadline and a backoff between attempts.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub deadline: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn with_deadline(deadline: Duration) -> RetryPolicy {
        RetryPolicy {
            deadline,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }

    /// The pause after the `attempt`-th failure (1-based): doubling, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(16))
            .unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

const BUFFER: usize = 256 * 1024;

/// Downloads `url` into `dest` (created or truncated), retrying transient failures until the
/// policy's deadline. `progress` is called at most once a second. On error `dest` is removed.
pub fn fetch_to_file(
    url: &str,
    dest: &Path,
    policy: RetryPolicy,
    mut progress: impl FnMut(Progress),
    mut on_retry: impl FnMut(&str, Duration),
) -> Result<Fetched, String> {
    let started = Instant::now();
    let agent = agent();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match fetch_once(&agent, url, dest, started, &mut progress) {
            Ok(fetched) => return Ok(fetched),
            Err(err) => {
                let _ = std::fs::remove_file(dest);
                let delay = policy.delay(attempt);
                if !err.retryable || started.elapsed() + delay > policy.deadline {
                    let tries = if attempt == 1 {
                        String::new()
                    } else {
                        format!(" (after {attempt} attempts)")
                    };
                    return Err(format!("{}{tries}", err.reason));
                }
                on_retry(&err.reason, delay);
                std::thread::sleep(delay);
            }
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .max_redirects(10)
        .user_agent(concat!("diskless/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn fetch_once(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    started: Instant,
    progress: &mut impl FnMut(Progress),
) -> Result<Fetched, AttemptError> {
    let response = agent.get(url).call().map_err(classify)?;
    let status = response.status().as_u16();
    if status != 200 {
        // Server errors and rate limits pass; a missing or forbidden image will not appear.
        let retryable = status >= 500 || status == 408 || status == 429;
        return Err(AttemptError {
            reason: format!("HTTP status {status}"),
            retryable,
        });
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = response.into_body().into_reader();
    let mut file = File::create(dest).map_err(|e| AttemptError {
        reason: format!("creating {}: {e}", dest.display()),
        retryable: false,
    })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER];
    let mut bytes = 0u64;
    let mut last_report = Instant::now();
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(AttemptError {
                    reason: format!("connection lost after {bytes} bytes: {err}"),
                    retryable: true,
                });
            }
        };
        let chunk = &buffer[..n];
        hasher.update(chunk);
        file.write_all(chunk).map_err(|e| AttemptError {
            reason: format!("writing {}: {e} (out of RAM?)", dest.display()),
            retryable: false,
        })?;
        bytes += n as u64;
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            progress(Progress {
                bytes,
                total,
                elapsed: started.elapsed(),
            });
        }
    }
    if let Some(total) = total {
        if bytes != total {
            return Err(AttemptError {
                reason: format!("got {bytes} of {total} bytes"),
                retryable: true,
            });
        }
    }
    Ok(Fetched {
        bytes,
        sha256: hasher.finalize().into(),
        elapsed: started.elapsed(),
    })
}

fn classify(err: ureq::Error) -> AttemptError {
    let retryable = matches!(
        err,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
    );
    AttemptError {
        reason: err.to_string(),
        retryable,
    }
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::with_deadline(Duration::from_secs(60));
        let delays: Vec<u64> = (1..=7)
            .map(|n| policy.delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
    }

    #[test]
    fn progress_reads_like_a_person_expects() {
        let p = Progress {
            bytes: 12 * 1024 * 1024,
            total: Some(100 * 1024 * 1024),
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(p.describe(), "12.0 MiB of 100.0 MiB (12%), 12.6 MB/s");
        let p = Progress {
            bytes: 1024 * 1024,
            total: None,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(p.describe(), "1.0 MiB, 0.5 MB/s");
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0xab, 0x01, 0xff]), "ab01ff");
    }
}
