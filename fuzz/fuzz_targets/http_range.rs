//! HTTP lengths and ranges, alone and through the fetch loop.
//!
//! `Content-Range` and `Content-Length` texts parse to values that print back to themselves
//! (or to nothing). Then [`fetch_to_file`] runs against a server scripted by the input: each
//! request gets the next answer, an honest one (the whole image, or the rest of it for a
//! resume) or any status, headers and body, ending cleanly, cut, stalled or interrupted. Its
//! promise must hold whatever the server does: on Ok the file holds exactly the bytes whose
//! sha256 and length it reports (the pinned image, when a hash is pinned, or when every
//! answer was honest); on Err no file is left. And a server that answers the first request
//! honestly and completely is believed.
#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use diskless::image::failure::Failure;
use diskless::image::fetch::{Job, fetch_to_file};
use diskless::image::http::{
    ContentRange, Response, Resume, Transport, parse_content_length, parse_content_range,
};
use diskless::retry::RetryPolicy;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

#[derive(Arbitrary, Debug)]
struct Input {
    image: Vec<u8>,
    /// 1 to 3 sources (`root=` and mirrors), which share the script.
    sources: u8,
    pin: Pin,
    budget: Option<u16>,
    answers: Vec<Answer>,
    content_range: String,
    content_length: String,
    numbers: (u64, u64, Option<u64>),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Pin {
    None,
    /// `diskless.sha256=` of the image.
    Image,
    /// A hash no answer can have.
    Other,
}

#[derive(Arbitrary, Debug)]
enum Answer {
    /// No response at all.
    Fail(FailKind),
    /// What a correct server sends: 200 and the whole image, or 206 and the rest for a
    /// resume (416 past the end), its body ending as `end` says after at most `cut_at` bytes
    /// when it is cut.
    Honest { end: End, cut_at: u16 },
    /// Anything.
    Send {
        status: Status,
        length: Length,
        range: RangeSpec,
        body: Body,
        end: End,
        validator: Option<String>,
    },
}

#[derive(Arbitrary, Debug)]
enum FailKind {
    Connect,
    Timeout,
    Status(u16),
    Tls,
    Redirect,
    Setup,
}

#[derive(Arbitrary, Debug)]
enum Status {
    Ok,
    Partial,
    RangeNotSatisfiable,
    Other(u16),
}

#[derive(Arbitrary, Debug)]
enum Length {
    Absent,
    /// The body's length.
    Body,
    /// The image's length.
    Image,
    /// A header's text.
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum RangeSpec {
    Absent,
    /// `bytes <offset>-<image end>/<image length>` for the request's offset.
    Honest,
    Numbers(u64, u64, Option<u64>),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    /// The image from the request's offset.
    Rest,
    /// Part of the image.
    Slice {
        from: u16,
        len: u16,
    },
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum End {
    Clean,
    /// The connection resets after the body.
    Cut,
    /// No more data for the stall timeout.
    Stall,
    /// A read interrupted by a signal, then the end.
    Interrupted,
}

/// The body, then `end`.
struct Scripted {
    body: io::Cursor<Vec<u8>>,
    end: End,
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.body.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        match self.end {
            End::Clean => Ok(0),
            End::Cut => Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
            End::Stall => Err(io::Error::new(io::ErrorKind::TimedOut, "no data")),
            End::Interrupted => {
                self.end = End::Clean;
                Err(io::Error::new(io::ErrorKind::Interrupted, "signal"))
            }
        }
    }
}

struct Server<'a> {
    image: &'a [u8],
    answers: RefCell<VecDeque<&'a Answer>>,
}

fn range_text(range: ContentRange) -> String {
    let total = range.total.map_or("*".to_owned(), |t| t.to_string());
    format!("bytes {}-{}/{total}", range.start, range.end)
}

impl Transport for Server<'_> {
    fn get(
        &self,
        _url: &str,
        resume: Option<Resume<'_>>,
        _timeout: Duration,
    ) -> Result<Response, Failure> {
        let Some(answer) = self.answers.borrow_mut().pop_front() else {
            return Err(Failure::Setup("the script ended".to_owned()));
        };
        let offset = resume.map_or(0, |r| r.offset);
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|k| self.image.get(k..))
            .unwrap_or_default();
        let image_len = self.image.len() as u64;
        let honest_range = || {
            (!rest.is_empty()).then(|| {
                range_text(ContentRange {
                    start: offset,
                    end: image_len - 1,
                    total: Some(image_len),
                })
            })
        };
        let response = |status, content_length, content_range, body: Vec<u8>, end, validator| {
            Ok(Response {
                status,
                content_length,
                content_range,
                validator,
                body: Box::new(Scripted {
                    body: io::Cursor::new(body),
                    end,
                }),
            })
        };
        match answer {
            Answer::Fail(kind) => Err(match kind {
                FailKind::Connect => Failure::Connect("refused".to_owned()),
                FailKind::Timeout => Failure::Timeout("no data".to_owned()),
                FailKind::Status(status) => Failure::Status(*status),
                FailKind::Tls => Failure::Tls("unknown issuer".to_owned()),
                FailKind::Redirect => Failure::Redirect("too many".to_owned()),
                FailKind::Setup => Failure::Setup("bad URL".to_owned()),
            }),
            Answer::Honest { end, cut_at } => {
                let body = match end {
                    End::Clean | End::Interrupted => rest,
                    End::Cut | End::Stall => &rest[..rest.len().min(usize::from(*cut_at))],
                };
                match resume {
                    None => response(200, Some(image_len), None, body.to_vec(), *end, None),
                    Some(_) if rest.is_empty() => response(416, None, None, Vec::new(), *end, None),
                    Some(_) => response(
                        206,
                        Some(rest.len() as u64),
                        honest_range(),
                        body.to_vec(),
                        *end,
                        None,
                    ),
                }
            }
            Answer::Send {
                status,
                length,
                range,
                body,
                end,
                validator,
            } => {
                let body = match body {
                    Body::Rest => rest.to_vec(),
                    Body::Slice { from, len } => {
                        let from = usize::from(*from).min(self.image.len());
                        let to = (from + usize::from(*len)).min(self.image.len());
                        self.image[from..to].to_vec()
                    }
                    Body::Bytes(bytes) => bytes.clone(),
                };
                let status = match status {
                    Status::Ok => 200,
                    Status::Partial => 206,
                    Status::RangeNotSatisfiable => 416,
                    Status::Other(status) => *status,
                };
                let content_length = match length {
                    Length::Absent => None,
                    Length::Body => Some(body.len() as u64),
                    Length::Image => Some(image_len),
                    Length::Text(text) => parse_content_length(text),
                };
                let content_range = match range {
                    RangeSpec::Absent => None,
                    RangeSpec::Honest => honest_range(),
                    RangeSpec::Numbers(start, end, total) => Some(range_text(ContentRange {
                        start: *start,
                        end: *end,
                        total: *total,
                    })),
                    RangeSpec::Text(text) => Some(text.clone()),
                };
                response(
                    status,
                    content_length,
                    content_range,
                    body,
                    *end,
                    validator.clone(),
                )
            }
        }
    }
}

fn check_headers(input: &Input) {
    if let Some(range) = parse_content_range(&input.content_range) {
        assert!(range.start <= range.end && range.total.is_none_or(|t| range.end < t));
        assert_eq!(parse_content_range(&range_text(range)), Some(range));
    }
    let (start, end, total) = input.numbers;
    let numbers = ContentRange { start, end, total };
    let fits = start <= end && total.is_none_or(|t| end < t);
    assert_eq!(
        parse_content_range(&range_text(numbers)),
        fits.then_some(numbers)
    );
    if let Some(length) = parse_content_length(&input.content_length) {
        assert_eq!(parse_content_length(&length.to_string()), Some(length));
        assert!(
            input
                .content_length
                .trim()
                .bytes()
                .all(|b| b.is_ascii_digit())
        );
    }
    assert_eq!(parse_content_length(&start.to_string()), Some(start));
}

/// The file the fetch writes: one per fuzzing process, removed by every run that passes.
fn dest() -> &'static Path {
    static DEST: OnceLock<PathBuf> = OnceLock::new();
    DEST.get_or_init(|| {
        // tmpfs when there is one: the loop writes and removes a file on every run.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("diskless-fuzz-http-{}.img", std::process::id()))
    })
}

fuzz_target!(|input: Input| {
    check_headers(&input);

    let urls: Vec<String> = (0..input.sources % 3 + 1)
        .map(|k| format!("http://mirror{k}/image"))
        .collect();
    let image_sha: [u8; 32] = Sha256::digest(&input.image).into();
    let expected = match input.pin {
        Pin::None => None,
        Pin::Image => Some(image_sha),
        Pin::Other => Some(Sha256::digest(b"not the image").into()),
    };
    let dest = dest();
    let job = Job {
        sources: &urls,
        dest,
        expected,
        ram_budget: input.budget.map(u64::from),
        limit: None,
    };
    let policy = RetryPolicy {
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        ..RetryPolicy::with_deadline(Duration::from_secs(3600))
    };
    let server = Server {
        image: &input.image,
        answers: RefCell::new(input.answers.iter().collect()),
    };
    let result = fetch_to_file(&server, &job, &policy, |event| {
        let _ = event.log_line();
    });
    match &result {
        Ok(fetched) => {
            let bytes = std::fs::read(dest).expect("the fetched file");
            assert_eq!(bytes.len() as u64, fetched.bytes);
            assert_eq!(<[u8; 32]>::from(Sha256::digest(&bytes)), fetched.sha256);
            assert!(urls.contains(&fetched.url));
            assert!(fetched.attempts >= 1 && fetched.resumes < fetched.attempts);
            assert!(input.budget.is_none_or(|b| fetched.bytes <= u64::from(b)));
            match input.pin {
                Pin::Image => assert_eq!(bytes, input.image),
                Pin::Other => panic!("a file that is not the pinned image was accepted"),
                Pin::None => {}
            }
            std::fs::remove_file(dest).expect("removing the fetched file");
        }
        Err(error) => {
            assert!(!dest.exists(), "a file is left after {error}");
            assert!(!error.to_string().is_empty());
        }
    }
    // A server that only ever answers honestly, however often its connection breaks, gets
    // its image across: resumes splice the right bytes.
    let all_honest = input
        .answers
        .iter()
        .all(|a| matches!(a, Answer::Honest { .. }));
    if let (true, Ok(fetched)) = (all_honest, &result) {
        assert_eq!(fetched.sha256, image_sha, "resumed wrongly: {fetched:?}");
    }
    // A server that answers the first request with the whole image is believed.
    let first_is_whole = matches!(
        input.answers.first(),
        Some(Answer::Honest {
            end: End::Clean | End::Interrupted,
            ..
        })
    );
    let fits = input
        .budget
        .is_none_or(|b| input.image.len() <= usize::from(b));
    if first_is_whole && fits && input.pin != Pin::Other {
        let fetched = result.expect("an honest, complete answer is accepted");
        assert_eq!(
            (fetched.bytes, fetched.sha256),
            (input.image.len() as u64, image_sha)
        );
        assert_eq!(fetched.attempts, 1);
    }
});
