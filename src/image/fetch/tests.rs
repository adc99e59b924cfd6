use super::*;
use crate::image::http::Response;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::PathBuf;

#[test]
fn verdicts() {
    let cases = [
        (Failure::Connect("refused".into()), Verdict::Retry),
        (Failure::Timeout("stall".into()), Verdict::Retry),
        (
            Failure::Cut {
                at: 5,
                reason: "reset".into(),
            },
            Verdict::Retry,
        ),
        (Failure::Status(503), Verdict::Retry),
        (Failure::Status(429), Verdict::Retry),
        (Failure::Status(404), Verdict::DropSource),
        (Failure::Status(403), Verdict::DropSource),
        (Failure::Tls("unknown issuer".into()), Verdict::DropSource),
        (
            Failure::HashMismatch {
                actual: [0; 32],
                expected: [1; 32],
            },
            Verdict::DropSource,
        ),
        (
            Failure::TooLarge {
                bytes: 2,
                budget: 1,
            },
            Verdict::DropSource,
        ),
        (
            Failure::Oversize {
                bytes: 2,
                limit: 1,
                by: "its descriptor names",
            },
            Verdict::DropSource,
        ),
        (Failure::Local("ENOSPC".into()), Verdict::Stop),
    ];
    for (failure, want) in cases {
        assert_eq!(failure.verdict(), want, "{failure}");
    }
}

/// One scripted answer.
enum Answer {
    Fail(Failure),
    /// A response of `status` with these headers, whose body yields `body` and then, with
    /// `cut`, an error instead of the end.
    Send {
        status: u16,
        length: Option<u64>,
        range: Option<String>,
        body: Vec<u8>,
        cut: bool,
    },
}

fn full(data: &[u8]) -> Answer {
    Answer::Send {
        status: 200,
        length: Some(data.len() as u64),
        range: None,
        body: data.to_vec(),
        cut: false,
    }
}

fn cut(data: &[u8], at: usize) -> Answer {
    Answer::Send {
        status: 200,
        length: Some(data.len() as u64),
        range: None,
        body: data[..at].to_vec(),
        cut: true,
    }
}

fn part(data: &[u8], from: usize) -> Answer {
    Answer::Send {
        status: 206,
        length: Some((data.len() - from) as u64),
        range: Some(format!("bytes {from}-{}/{}", data.len() - 1, data.len())),
        body: data[from..].to_vec(),
        cut: false,
    }
}

/// Answers per URL, in order; records every request as `(url, resume offset)`.
struct Script {
    answers: RefCell<Vec<(String, VecDeque<Answer>)>>,
    requests: RefCell<Vec<(String, Option<u64>)>>,
}

impl Script {
    fn new(per_url: Vec<(&str, Vec<Answer>)>) -> Script {
        Script {
            answers: RefCell::new(
                per_url
                    .into_iter()
                    .map(|(u, a)| (u.to_owned(), a.into()))
                    .collect(),
            ),
            requests: RefCell::new(Vec::new()),
        }
    }
}

struct Broken;
impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "reset by peer",
        ))
    }
}

impl Transport for Script {
    fn get(
        &self,
        url: &str,
        resume: Option<Resume<'_>>,
        _timeout: Duration,
    ) -> Result<Response, Failure> {
        self.requests
            .borrow_mut()
            .push((url.to_owned(), resume.map(|r| r.offset)));
        let mut answers = self.answers.borrow_mut();
        let queue = answers
            .iter_mut()
            .find(|(u, _)| u == url)
            .map(|(_, q)| q)
            .expect("a scripted URL");
        match queue
            .pop_front()
            .unwrap_or(Answer::Fail(Failure::Status(500)))
        {
            Answer::Fail(failure) => Err(failure),
            Answer::Send {
                status,
                length,
                range,
                body,
                cut,
            } => {
                let body: Box<dyn Read> = if cut {
                    Box::new(io::Cursor::new(body).chain(Broken))
                } else {
                    Box::new(io::Cursor::new(body))
                };
                Ok(Response {
                    status,
                    content_length: length,
                    content_range: range,
                    validator: None,
                    body,
                })
            }
        }
    }
}

fn quick(deadline_ms: u64) -> RetryPolicy {
    RetryPolicy {
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        ..RetryPolicy::with_deadline(Duration::from_millis(deadline_ms)).seeded(42)
    }
}

fn dest(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("diskless-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn image() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Runs a fetch; returns the result, the requests and the log lines of the events.
fn run(
    script: &Script,
    urls: &[&str],
    file: &Path,
    expected: Option<[u8; 32]>,
    budget: Option<u64>,
    policy: RetryPolicy,
) -> (Result<Fetched, FetchError>, Vec<String>) {
    run_limited(script, urls, file, expected, budget, None, policy)
}

/// [`run`] with a limit on what a source may send.
fn run_limited(
    script: &Script,
    urls: &[&str],
    file: &Path,
    expected: Option<[u8; 32]>,
    budget: Option<u64>,
    limit: Option<Limit>,
    policy: RetryPolicy,
) -> (Result<Fetched, FetchError>, Vec<String>) {
    let urls: Vec<String> = urls.iter().map(|u| (*u).to_owned()).collect();
    let job = Job {
        sources: &urls,
        dest: file,
        expected,
        ram_budget: budget,
        limit,
    };
    let mut events = Vec::new();
    let result = fetch_to_file(script, &job, &policy, |e| {
        events.push(match e {
            Event::Progress { .. } => "progress".to_owned(),
            Event::Resumed { url, offset } => format!("resumed {url} {offset}"),
            Event::Restarted { url, why } => format!("restarted {url}: {why}"),
            Event::Failed {
                url,
                failure,
                dropped,
                next,
                delay,
            } => format!(
                "failed {url}: {failure}; dropped {dropped}; next {}; waited {}",
                next.unwrap_or("-"),
                !delay.is_zero()
            ),
        })
    });
    (result, events)
}

#[test]
fn a_cut_transfer_resumes_and_the_hash_covers_both_parts() {
    let data = image();
    let script = Script::new(vec![("u", vec![cut(&data, 40_000), part(&data, 40_000)])]);
    let file = dest("resume");
    let (result, events) = run(&script, &["u"], &file, Some(sha(&data)), None, quick(5_000));
    let fetched = result.expect("fetched");
    assert_eq!(
        (fetched.bytes, fetched.sha256),
        (data.len() as u64, sha(&data))
    );
    assert_eq!((fetched.attempts, fetched.resumes), (2, 1));
    assert_eq!(std::fs::read(&file).unwrap(), data);
    assert_eq!(
        *script.requests.borrow(),
        [("u".to_owned(), None), ("u".to_owned(), Some(40_000))]
    );
    assert!(events[0].starts_with("failed u: connection lost after 40000 bytes"));
    assert!(events.contains(&"resumed u 40000".to_owned()), "{events:?}");
}

/// The image holds files whose modes inside it say who may read them (/etc/shadow, host
/// keys); the file itself must not let any user of the node read it whole.
#[test]
fn fetched_files_are_for_root_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = image();
    let script = Script::new(vec![("u", vec![full(&data)])]);
    let file = dest("mode");
    let (result, _) = run(&script, &["u"], &file, None, None, quick(5_000));
    result.expect("fetched");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the fetched file is {mode:o}");
}

#[test]
fn a_200_to_a_range_request_starts_over() {
    let data = image();
    let script = Script::new(vec![("u", vec![cut(&data, 1000), full(&data)])]);
    let file = dest("restart");
    let (result, events) = run(&script, &["u"], &file, Some(sha(&data)), None, quick(5_000));
    assert_eq!(result.expect("fetched").sha256, sha(&data));
    assert_eq!(std::fs::read(&file).unwrap(), data);
    assert!(
        events
            .iter()
            .any(|e| e.contains("restarted u: the server sent the whole file")),
        "{events:?}"
    );
}

#[test]
fn a_range_from_the_wrong_place_is_not_spliced_in() {
    let data = image();
    let script = Script::new(vec![(
        "u",
        vec![cut(&data, 1000), part(&data, 999), full(&data)],
    )]);
    let file = dest("wrong-range");
    let (result, events) = run(&script, &["u"], &file, Some(sha(&data)), None, quick(5_000));
    assert_eq!(result.expect("fetched").sha256, sha(&data));
    let requests = script.requests.borrow();
    assert_eq!(requests[2], ("u".to_owned(), None), "{requests:?}");
    assert!(
        events
            .iter()
            .any(|e| e.contains("asked for the bytes from 1000 on, got Content-Range")),
        "{events:?}"
    );
}

#[test]
fn a_dead_source_passes_to_the_next_at_once() {
    let data = image();
    let script = Script::new(vec![
        ("a", vec![Answer::Fail(Failure::Connect("refused".into()))]),
        ("b", vec![full(&data)]),
    ]);
    let file = dest("mirror");
    let (result, events) = run(
        &script,
        &["a", "b"],
        &file,
        Some(sha(&data)),
        None,
        quick(5_000),
    );
    assert_eq!(result.expect("fetched").url, "b");
    assert_eq!(
        events,
        ["failed a: refused; dropped false; next b; waited false"]
    );
}

#[test]
fn a_wrong_image_drops_its_source_and_never_stays_on_disk() {
    let data = image();
    let mut other = data.clone();
    other[500] ^= 1;
    let file = dest("mismatch");
    let script = Script::new(vec![("a", vec![full(&other)]), ("b", vec![full(&data)])]);
    let (result, _) = run(
        &script,
        &["a", "b"],
        &file,
        Some(sha(&data)),
        None,
        quick(5_000),
    );
    assert_eq!(result.expect("b is good").url, "b");
    assert_eq!(std::fs::read(&file).unwrap(), data);

    let script = Script::new(vec![("a", vec![full(&other), full(&data)])]);
    let (result, events) = run(&script, &["a"], &file, Some(sha(&data)), None, quick(5_000));
    let err = result.expect_err("a mismatch is final for its source");
    assert_eq!(err.hash_mismatch(), Some(("a", sha(&other), sha(&data))));
    assert!(err.to_string().starts_with("has sha256 "), "{err}");
    assert_eq!(script.requests.borrow().len(), 1, "{events:?}");
    assert!(!file.exists(), "a mismatching file was left behind");
}

#[test]
fn too_large_for_ram_fails_before_writing() {
    let data = image();
    let file = dest("large");
    let script = Script::new(vec![("a", vec![full(&data)])]);
    let (result, _) = run(&script, &["a"], &file, None, Some(1000), quick(5_000));
    let err = result.expect_err("too large");
    assert!(
        err.to_string().contains("more than the 0.0 MiB free"),
        "{err}"
    );
    assert!(!file.exists());
    // Without a Content-Length the bytes are counted as they come.
    let script = Script::new(vec![(
        "a",
        vec![Answer::Send {
            status: 200,
            length: None,
            range: None,
            body: data.clone(),
            cut: false,
        }],
    )]);
    let (result, _) = run(&script, &["a"], &file, None, Some(1000), quick(5_000));
    assert!(matches!(
        result.expect_err("too large").failures[0].1,
        Failure::TooLarge { .. }
    ));
}

#[test]
fn a_source_sending_more_than_the_limit_is_dropped_for_the_next() {
    let data = image();
    let limit = Some(Limit {
        bytes: data.len() as u64,
        by: "its descriptor names",
    });
    let flood = vec![0xa5; 4 << 20];
    let file = dest("oversize");
    // Announced, refused before its first byte; streamed, refused at the limit. Either way
    // the source is at fault, dropped, and the next one serves: RAM is not what ran out.
    for length in [Some(flood.len() as u64), None] {
        let script = Script::new(vec![
            (
                "a",
                vec![Answer::Send {
                    status: 200,
                    length,
                    range: None,
                    body: flood.clone(),
                    cut: false,
                }],
            ),
            ("b", vec![full(&data)]),
        ]);
        let (result, events) = run_limited(
            &script,
            &["a", "b"],
            &file,
            Some(sha(&data)),
            Some(64 << 20),
            limit,
            quick(5_000),
        );
        assert_eq!(result.expect("b serves").url, "b", "{events:?}");
        assert_eq!(std::fs::read(&file).unwrap(), data);
        let seen = if length.is_some() { 4 << 20 } else { 262_144 };
        assert_eq!(
            events,
            [format!(
                "failed a: serves at least {seen} bytes, more than the 100000 its descriptor \
                 names; dropped true; next b; waited false"
            )]
        );
        // Alone, it fails naming the limit, and leaves nothing behind.
        let script = Script::new(vec![(
            "a",
            vec![Answer::Send {
                status: 200,
                length,
                range: None,
                body: flood.clone(),
                cut: false,
            }],
        )]);
        let (result, _) = run_limited(
            &script,
            &["a"],
            &file,
            Some(sha(&data)),
            Some(64 << 20),
            limit,
            quick(5_000),
        );
        let err = result.expect_err("too much");
        assert!(
            matches!(err.failures[0].1, Failure::Oversize { .. }),
            "{err}"
        );
        assert!(!file.exists());
    }
}

#[test]
fn every_source_failing_names_each_cause() {
    let file = dest("all-fail");
    let script = Script::new(vec![
        ("a", vec![Answer::Fail(Failure::Status(404))]),
        (
            "b",
            vec![Answer::Fail(Failure::Tls("unknown issuer".into()))],
        ),
    ]);
    let (result, _) = run(&script, &["a", "b"], &file, None, None, quick(5_000));
    let err = result.expect_err("nothing works");
    assert_eq!(
        err.to_string(),
        format!(
            "every source failed: a: HTTP status 404; b: TLS: unknown issuer (2 attempts in {:.1} s)",
            err.elapsed.as_secs_f64()
        )
    );
    assert_eq!(err.deadline, None);
    assert!(!file.exists());
}

#[test]
fn transient_failures_retry_until_the_deadline() {
    let file = dest("deadline");
    let refusals = (0..1000)
        .map(|_| Answer::Fail(Failure::Connect("refused".into())))
        .collect();
    let script = Script::new(vec![("a", refusals)]);
    let started = Instant::now();
    let (result, events) = run(&script, &["a"], &file, None, None, quick(60));
    let err = result.expect_err("deadline");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.deadline, Some(Duration::from_millis(60)));
    assert!(err.attempts > 3, "{err}");
    assert!(err.to_string().contains("deadline (rd.retry=)"), "{err}");
    assert!(
        events
            .iter()
            .all(|e| e.contains("waited true") || e.contains("next -"))
    );
    assert!(!file.exists());
}

#[test]
fn retries_after_a_server_error_then_succeed() {
    let data = image();
    let file = dest("503");
    let script = Script::new(vec![(
        "a",
        vec![Answer::Fail(Failure::Status(503)), full(&data)],
    )]);
    let (result, events) = run(&script, &["a"], &file, Some(sha(&data)), None, quick(5_000));
    assert_eq!(result.expect("fetched").attempts, 2);
    assert_eq!(
        events,
        ["failed a: HTTP status 503; dropped false; next a; waited true"]
    );
}

#[test]
fn events_read_as_log_lines() {
    let refused = Failure::Connect("connection refused".into());
    let line = |next, delay, dropped| {
        Event::Failed {
            url: "http://a/r",
            failure: &refused,
            dropped,
            next,
            delay,
        }
        .log_line()
        .1
    };
    assert_eq!(
        line(Some("http://a/r"), Duration::from_millis(1500), false),
        "fetching http://a/r: connection refused; retrying in 1.5 s"
    );
    assert_eq!(
        line(Some("http://b/r"), Duration::ZERO, true),
        "fetching http://a/r: connection refused; not trying it again; trying http://b/r"
    );
    assert_eq!(
        line(None, Duration::ZERO, false),
        "fetching http://a/r: connection refused; giving up"
    );
    let (level, text) = Event::Resumed {
        url: "u",
        offset: 7,
    }
    .log_line();
    assert_eq!(
        (level, text.as_str()),
        (log::Level::Info, "fetching u: resuming from byte 7")
    );
}

#[test]
fn an_unwritable_destination_stops_at_once() {
    let script = Script::new(vec![("a", vec![])]);
    let file = Path::new("/nonexistent-diskless-dir/image");
    let (result, _) = run(&script, &["a"], file, None, None, quick(5_000));
    let err = result.expect_err("local");
    assert!(matches!(err.failures[0].1, Failure::Local(_)), "{err}");
    assert!(script.requests.borrow().is_empty());
}
