//! Fetching the root image into RAM: from a list of sources (`root=`'s URL, then each
//! `diskless.mirror=`), over HTTP or HTTPS, retrying with backoff and jitter, resuming a cut
//! transfer with `Range`, hashing while it streams and checking the hash before saying done.
//!
//! Small pieces, each tested on its own, composed by [`fetch_to_file`]:
//! - [`RetryPolicy`]: the deadline and the backoff with per-node jitter;
//!   [`Failure::verdict`]: which failures are worth another try, and where;
//! - [`Sources`]: which URL next (rotation, sources given up on);
//! - [`HashingWriter`]: the file and its sha256 state, which carries on across a resume;
//! - [`Transport`]: one GET ([`super::http`]); the unit tests script fakes.
//!
//! The promise: the file left behind holds exactly the bytes whose sha256 is reported, and it
//! matches the expected hash when there is one; after an error there is no file.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

use super::failure::{Failure, Verdict};
use super::hashing::HashingWriter;
use super::http::{Resume, Transport, parse_content_range};
use super::sources::Sources;
use crate::retry::RetryPolicy;

/// What a finished fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The source that served the image (`root=`'s URL or a mirror).
    pub url: String,
    pub bytes: u64,
    pub sha256: [u8; 32],
    pub elapsed: Duration,
    /// Requests made, the successful one included.
    pub attempts: u32,
    /// How many times a cut transfer was continued with `Range` instead of restarted.
    pub resumes: u32,
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

/// What to fetch, where to, and what it must be.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// `root=`'s URL first, then the mirrors.
    pub sources: &'a [String],
    pub dest: &'a Path,
    /// The sha256 the image must have; a source serving anything else is given up on.
    pub expected: Option<[u8; 32]>,
    /// The most bytes the image may take ([`crate::sys::free_bytes`] of the destination's file system).
    pub ram_budget: Option<u64>,
    /// The most bytes a source may send, when the file's size is known beforehand (an OCI
    /// descriptor's): a source sending more is dropped for the next, before it fills RAM.
    pub limit: Option<Limit>,
}

/// The most bytes a source may send for a file, and who says so (for the log: "its
/// descriptor names").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    pub by: &'static str,
}

impl Limit {
    /// `bytes` received or announced are too many.
    fn exceeded(self, bytes: u64) -> Option<Failure> {
        (bytes > self.bytes).then_some(Failure::Oversize {
            bytes,
            limit: self.bytes,
            by: self.by,
        })
    }
}

/// What happened, for the log (and for tests to count).
#[derive(Debug)]
pub enum Event<'a> {
    Progress {
        url: &'a str,
        progress: Progress,
    },
    /// A transfer continues from `offset` after a cut.
    Resumed {
        url: &'a str,
        offset: u64,
    },
    /// The partial file was thrown away; the transfer starts over.
    Restarted {
        url: &'a str,
        why: &'a str,
    },
    /// An attempt failed. `next` is the source tried after `delay`; `None`: giving up.
    Failed {
        url: &'a str,
        failure: &'a Failure,
        dropped: bool,
        next: Option<&'a str>,
        delay: Duration,
    },
}

impl Event<'_> {
    /// The log line for this event, and its level.
    pub fn log_line(&self) -> (log::Level, String) {
        match self {
            Event::Progress { url, progress } => (
                log::Level::Info,
                format!("fetching {url}: {}", progress.describe()),
            ),
            Event::Resumed { url, offset } => (
                log::Level::Info,
                format!("fetching {url}: resuming from byte {offset}"),
            ),
            Event::Restarted { url, why } => (
                log::Level::Warn,
                format!("fetching {url}: starting over: {why}"),
            ),
            Event::Failed {
                url,
                failure,
                dropped,
                next,
                delay,
            } => {
                let then = match next {
                    None => "giving up".to_owned(),
                    Some(next) if next == url => {
                        format!("retrying in {:.1} s", delay.as_secs_f64())
                    }
                    Some(next) if delay.is_zero() => format!("trying {next}"),
                    Some(next) => format!("trying {next} in {:.1} s", delay.as_secs_f64()),
                };
                let dropped = if *dropped {
                    "; not trying it again"
                } else {
                    ""
                };
                (
                    log::Level::Warn,
                    format!("fetching {url}: {failure}{dropped}; {then}"),
                )
            }
        }
    }
}

/// Why the fetch gave up: the last failure of each source that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub failures: Vec<(String, Failure)>,
    pub attempts: u32,
    pub elapsed: Duration,
    /// The deadline, when running out of time is what ended it.
    pub deadline: Option<Duration>,
}

impl FetchError {
    /// When the one failure is a hash mismatch: the source, the actual and expected hash.
    pub fn hash_mismatch(&self) -> Option<(&str, [u8; 32], [u8; 32])> {
        match self.failures.as_slice() {
            [(url, Failure::HashMismatch { actual, expected })] => {
                Some((url.as_str(), *actual, *expected))
            }
            _ => None,
        }
    }
}

impl std::error::Error for FetchError {}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.as_slice() {
            [] => f.write_str("no source to fetch from")?,
            [(_, failure)] => write!(f, "{failure}")?,
            many => {
                let each: Vec<String> = many.iter().map(|(u, e)| format!("{u}: {e}")).collect();
                write!(f, "every source failed: {}", each.join("; "))?;
            }
        }
        if self.attempts > 1 {
            write!(
                f,
                " ({} attempts in {:.1} s)",
                self.attempts,
                self.elapsed.as_secs_f64()
            )?;
        }
        if let Some(deadline) = self.deadline {
            write!(
                f,
                "; gave up at the {} s deadline (rd.retry=)",
                deadline.as_secs()
            )?;
        }
        Ok(())
    }
}

/// A source stuck this many tries in a row without a byte is left even with a partial
/// transfer on it: another source starting over beats waiting out the deadline.
const MAX_STUCK: u32 = 3;
const BUFFER: usize = 256 * 1024;

/// The partial transfer in the file: whose it is, and how to check a resume against it.
#[derive(Debug, Clone)]
struct Partial {
    source: usize,
    total: Option<u64>,
    validator: Option<String>,
}

/// Downloads the image of `job` into `job.dest` (created or truncated) from its sources
/// in turn, until one serves all of it with the expected hash or the policy gives up. On
/// error `job.dest` is removed: a partial or mismatching file is never left to be mounted.
pub fn fetch_to_file(
    transport: &dyn Transport,
    job: &Job<'_>,
    policy: &RetryPolicy,
    mut observe: impl FnMut(Event<'_>),
) -> Result<Fetched, FetchError> {
    let started = Instant::now();
    let result = fetch_loop(transport, job, policy, started, &mut observe);
    if result.is_err() {
        let _ = std::fs::remove_file(job.dest);
    }
    result
}

fn fetch_loop(
    transport: &dyn Transport,
    job: &Job<'_>,
    policy: &RetryPolicy,
    started: Instant,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Fetched, FetchError> {
    let mut sources = Sources::new(job.sources.iter().cloned());
    let mut attempts = 0u32;
    let give_up = |sources: &Sources, attempts: u32, deadline: bool| FetchError {
        failures: sources.failures(),
        attempts,
        elapsed: started.elapsed(),
        deadline: deadline.then_some(policy.deadline),
    };
    let local = |url: &str, what: String, attempts: u32| FetchError {
        failures: vec![(url.to_owned(), Failure::Local(what))],
        attempts,
        elapsed: started.elapsed(),
        deadline: None,
    };
    if sources.is_empty() {
        return Err(give_up(&sources, 0, false));
    }
    // Read as well as written: the hashing thread reads the image back. For root alone: the
    // image's own file modes (its /etc/shadow, its host keys) mean nothing to whoever can
    // read the image whole, and /run/diskless stays on the node after boot.
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(job.dest)
        .and_then(|file| {
            // A file left from an earlier try keeps its mode through `open`.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            Ok(file)
        })
        .map_err(|e| {
            local(
                sources.current().1,
                format!("creating {}: {e}", job.dest.display()),
                0,
            )
        })?;
    let mut out = HashingWriter::reading_back(file);
    let mut partial: Option<Partial> = None;
    let mut resumes = 0u32;
    let mut waits = 0u32;
    let mut stuck = 0u32;
    loop {
        let remaining = policy.deadline.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Err(give_up(&sources, attempts, true));
        }
        let (index, url) = sources.current();
        let url = url.to_owned();
        // A partial transfer is only ever continued from the source that sent it.
        if partial.as_ref().is_some_and(|p| p.source != index) {
            out.restart().map_err(|e| {
                local(
                    &url,
                    format!("emptying {}: {e}", job.dest.display()),
                    attempts,
                )
            })?;
            partial = None;
        }
        attempts += 1;
        let before = out.position();
        let mut attempt = Attempt {
            transport,
            job,
            url: &url,
            source: index,
            started,
            observe: &mut *observe,
        };
        let failure = match attempt.run(&mut out, &mut partial, remaining) {
            Ok(resumed) => {
                resumes += u32::from(resumed);
                let sha256 = out
                    .digest()
                    .map_err(|e| local(&url, format!("{}: {e}", job.dest.display()), attempts))?;
                return Ok(Fetched {
                    url,
                    bytes: out.position(),
                    sha256,
                    elapsed: started.elapsed(),
                    attempts,
                    resumes,
                });
            }
            Err((failure, resumed)) => {
                resumes += u32::from(resumed);
                failure
            }
        };
        if out.position() > before {
            // The server is working: back off from scratch, and stay for the rest.
            waits = 0;
            stuck = 0;
        } else {
            stuck += 1;
        }
        sources.record(failure.clone());
        let verdict = failure.verdict();
        let dropped = verdict == Verdict::DropSource;
        if verdict == Verdict::Stop {
            observe(Event::Failed {
                url: &url,
                failure: &failure,
                dropped: false,
                next: None,
                delay: Duration::ZERO,
            });
            return Err(give_up(&sources, attempts, false));
        }
        if dropped {
            sources.drop_current();
        }
        let resumable = verdict == Verdict::Retry
            && partial.as_ref().is_some_and(|p| p.source == index)
            && stuck < MAX_STUCK;
        let wait = if resumable {
            true
        } else {
            match sources.advance() {
                Some(wrapped) => wrapped,
                None => {
                    observe(Event::Failed {
                        url: &url,
                        failure: &failure,
                        dropped,
                        next: None,
                        delay: Duration::ZERO,
                    });
                    return Err(give_up(&sources, attempts, false));
                }
            }
        };
        // Another source is tried at once; the same source, or a new round, after a pause.
        let delay = if wait {
            waits += 1;
            policy.delay(waits)
        } else {
            Duration::ZERO
        };
        let out_of_time = started.elapsed() + delay >= policy.deadline;
        observe(Event::Failed {
            url: &url,
            failure: &failure,
            dropped,
            next: (!out_of_time).then_some(sources.current().1),
            delay,
        });
        if out_of_time {
            return Err(give_up(&sources, attempts, true));
        }
        std::thread::sleep(delay);
    }
}

/// One request and its transfer.
struct Attempt<'a, 'o> {
    transport: &'a dyn Transport,
    job: &'a Job<'a>,
    url: &'a str,
    source: usize,
    started: Instant,
    observe: &'o mut dyn FnMut(Event<'_>),
}

impl Attempt<'_, '_> {
    /// Ok or the failure, each with whether this attempt resumed a transfer.
    fn run(
        &mut self,
        out: &mut HashingWriter<File>,
        partial: &mut Option<Partial>,
        remaining: Duration,
    ) -> Result<bool, (Failure, bool)> {
        let mut resumed = false;
        self.transfer(out, partial, remaining, &mut resumed)
            .map(|()| resumed)
            .map_err(|failure| (failure, resumed))
    }

    fn local(&self, what: &str, err: &io::Error) -> Failure {
        Failure::Local(format!(
            "{what} {}: {err} (out of RAM?)",
            self.job.dest.display()
        ))
    }

    fn start_over(
        &mut self,
        out: &mut HashingWriter<File>,
        partial: &mut Option<Partial>,
        why: &str,
    ) -> Result<(), Failure> {
        (self.observe)(Event::Restarted { url: self.url, why });
        *partial = None;
        out.restart().map_err(|e| self.local("emptying", &e))
    }

    fn transfer(
        &mut self,
        out: &mut HashingWriter<File>,
        partial: &mut Option<Partial>,
        remaining: Duration,
        resumed: &mut bool,
    ) -> Result<(), Failure> {
        let offset = out.position();
        let validator = partial.as_ref().and_then(|p| p.validator.clone());
        let resume = (offset > 0).then_some(Resume {
            offset,
            validator: validator.as_deref(),
        });
        let mut response = self.transport.get(self.url, resume, remaining)?;
        let total = match (response.status, resume) {
            (200, None) => response.content_length,
            (200, Some(_)) => {
                self.start_over(
                    out,
                    partial,
                    "the server sent the whole file (200) instead of the rest (206)",
                )?;
                response.content_length
            }
            (206, Some(resume)) => {
                let range = response
                    .content_range
                    .as_deref()
                    .and_then(parse_content_range);
                let known = partial.as_ref().and_then(|p| p.total);
                match range {
                    Some(range) if range.start == resume.offset => {
                        if let (Some(now), Some(before)) = (range.total, known) {
                            if now != before {
                                self.start_over(out, partial, "the file changed size")?;
                                return Err(Failure::BadResponse(format!(
                                    "the file was {before} bytes and is now {now}"
                                )));
                            }
                        }
                        *resumed = true;
                        (self.observe)(Event::Resumed {
                            url: self.url,
                            offset,
                        });
                        range.total.or(known)
                    }
                    _ => {
                        // Splicing bytes from elsewhere would corrupt the image: start over.
                        self.start_over(out, partial, "the server sent the wrong range")?;
                        return Err(Failure::BadResponse(format!(
                            "asked for the bytes from {offset} on, got Content-Range {:?}",
                            response.content_range.as_deref().unwrap_or("(none)")
                        )));
                    }
                }
            }
            (206, None) => {
                return Err(Failure::BadResponse(
                    "206 Partial Content to a request without Range".to_owned(),
                ));
            }
            (416, Some(_)) => {
                self.start_over(out, partial, "the server cannot send the rest (416)")?;
                return Err(Failure::BadResponse(format!(
                    "416 to a resume from byte {offset}: the file shrank or changed"
                )));
            }
            (status, _) => return Err(Failure::Status(status)),
        };
        if let Some(failure) = total.and_then(|t| self.job.limit?.exceeded(t)) {
            return Err(failure);
        }
        if let (Some(total), Some(budget)) = (total, self.job.ram_budget) {
            if total > budget {
                return Err(Failure::TooLarge {
                    bytes: total,
                    budget,
                });
            }
        }
        *partial = Some(Partial {
            source: self.source,
            total,
            validator: response.validator.take().or(validator),
        });
        self.stream(&mut *response.body, out, total)?;
        if let Some(expected) = self.job.expected {
            let actual = out.digest().map_err(|e| self.local("hashing", &e))?;
            if actual != expected {
                return Err(Failure::HashMismatch { actual, expected });
            }
        }
        Ok(())
    }

    fn stream(
        &mut self,
        body: &mut dyn Read,
        out: &mut HashingWriter<File>,
        total: Option<u64>,
    ) -> Result<(), Failure> {
        let mut buffer = vec![0u8; BUFFER];
        let mut last_report = Instant::now();
        loop {
            let n = match body.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                    return Err(Failure::Timeout(format!(
                        "{err} after {} bytes",
                        out.position()
                    )));
                }
                Err(err) => {
                    return Err(Failure::Cut {
                        at: out.position(),
                        reason: err.to_string(),
                    });
                }
            };
            let after = out.position() + n as u64;
            if total.is_some_and(|t| after > t) {
                return Err(Failure::BadResponse(format!(
                    "the server sent more than the {} bytes it announced",
                    total.unwrap_or_default()
                )));
            }
            // Without a Content-Length the limits are checked as the bytes come.
            if let Some(failure) = self.job.limit.and_then(|l| l.exceeded(after)) {
                return Err(failure);
            }
            if let Some(budget) = self.job.ram_budget.filter(|b| after > *b) {
                return Err(Failure::TooLarge {
                    bytes: after,
                    budget,
                });
            }
            let chunk = buffer.get(..n).unwrap_or_default();
            out.write_all(chunk)
                .map_err(|e| self.local("writing", &e))?;
            if last_report.elapsed() >= Duration::from_secs(1) {
                last_report = Instant::now();
                (self.observe)(Event::Progress {
                    url: self.url,
                    progress: Progress {
                        bytes: out.position(),
                        total,
                        elapsed: self.started.elapsed(),
                    },
                });
            }
        }
        match total {
            Some(total) if out.position() < total => Err(Failure::Cut {
                at: out.position(),
                reason: format!(
                    "the connection closed at {} of {total} bytes",
                    out.position()
                ),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
