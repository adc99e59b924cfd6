//! One GET over HTTP or HTTPS: the [`Transport`] the fetch loop drives, and [`HttpTransport`],
//! ureq with our TLS connector ([`super::tls`]) and IPv4-only name lookups. The unit tests of
//! the fetch loop script fakes of [`Transport`].

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use super::failure::Failure;
use super::tls::{self, Clock, TlsConnector};

/// Continue a transfer from `offset`; `validator` (a strong ETag or a Last-Modified date)
/// goes into `If-Range`, so a server whose file changed sends all of the new one instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume<'a> {
    pub offset: u64,
    pub validator: Option<&'a str>,
}

/// A response's status line, the headers the fetch uses, and the body.
pub struct Response {
    pub status: u16,
    pub content_length: Option<u64>,
    pub content_range: Option<String>,
    /// A strong `ETag`, else `Last-Modified`: for `If-Range` on a resume.
    pub validator: Option<String>,
    /// Read errors of kind `TimedOut` are stalls; any other is a cut connection.
    pub body: Box<dyn Read>,
}

/// One GET, redirects followed.
pub trait Transport {
    /// Fetches `url` (from `resume.offset` when given), all within `timeout`.
    fn get(
        &self,
        url: &str,
        resume: Option<Resume<'_>>,
        timeout: Duration,
    ) -> Result<Response, Failure>;
}

/// `bytes 100-199/1000`: the first byte, the last byte and the total (`None` for `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: Option<u64>,
}

/// Parses a `Content-Range` of a 206 (RFC 9110, 14.4); `None` when it is not one.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (start, end) = (number(start)?, number(end)?);
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    let fits = start <= end && total.is_none_or(|t| end < t);
    fits.then_some(ContentRange { start, end, total })
}

/// Parses a `Content-Length` (RFC 9110, 8.6: one or more digits); `None` when it is not one,
/// so that a sign or a list is never read as a length.
pub fn parse_content_length(value: &str) -> Option<u64> {
    let value = value.trim();
    (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
        .then(|| value.parse().ok())
        .flatten()
}

/// [`Transport`] over ureq: plain TCP for `http`, our rustls configuration for `https`.
pub struct HttpTransport {
    agent: ureq::Agent,
    clock: Clock,
    limits: HttpLimits,
}

/// How long one request may hang, and how far it may be sent; named in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A transfer with no byte for this long is given up on (and resumed).
    pub stall: Duration,
    /// Time to open a TCP connection.
    pub connect: Duration,
    /// Redirects followed per request.
    pub max_redirects: u32,
}

impl Default for HttpLimits {
    /// A 30 s stall timeout, 10 s to connect, 5 redirects (curl's and dracut's order of
    /// magnitude: a booting node waits for a slow server, not for a dead one).
    fn default() -> HttpLimits {
        HttpLimits {
            stall: Duration::from_secs(30),
            connect: Duration::from_secs(10),
            max_redirects: 5,
        }
    }
}

impl HttpLimits {
    /// Which of ureq's timeouts fired, in an operator's words.
    fn timeout(&self, which: ureq::Timeout) -> String {
        match which {
            ureq::Timeout::PerRead => format!("no data for {} s", self.stall.as_secs()),
            ureq::Timeout::Connect => {
                format!("no connection within {} s", self.connect.as_secs())
            }
            ureq::Timeout::Global => "out of time (rd.retry=)".to_owned(),
            other => format!("timed out ({other})"),
        }
    }
}

/// Resolves URL hosts for IPv4 only, through [`crate::sys::resolve_ipv4`]: the boot
/// configures IPv4, and musl fails a dual-stack lookup whenever the server refuses the AAAA
/// half (a dnsmasq without upstream servers does), even when the A answer is right.
#[derive(Debug)]
struct Ipv4Resolver;

impl ureq::unversioned::resolver::Resolver for Ipv4Resolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let mut out = self.empty();
        // An IPv6 literal needs no lookup; everything else is looked up for A records.
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            out.push(std::net::SocketAddr::new(ip, port));
            return Ok(out);
        }
        let addrs = crate::sys::resolve_ipv4(host).map_err(|_| ureq::Error::HostNotFound)?;
        for addr in addrs.into_iter().take(16) {
            out.push(std::net::SocketAddr::new(std::net::IpAddr::V4(addr), port));
        }
        Ok(out)
    }
}

impl HttpTransport {
    /// `tls`: the client configuration from the initramfs's trust files; without it `https`
    /// URLs fail (never unauthenticated). `clock` explains certificate date errors.
    pub fn new(
        tls: Option<Arc<rustls::ClientConfig>>,
        limits: HttpLimits,
        clock: Clock,
    ) -> HttpTransport {
        use ureq::unversioned::transport::{Connector as _, TcpConnector};
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(limits.connect))
            .timeout_per_read(Some(limits.stall))
            .http_status_as_error(false)
            .max_redirects(limits.max_redirects)
            .max_redirects_will_error(true)
            .user_agent(concat!("diskless/", env!("CARGO_PKG_VERSION")))
            .build();
        let connector = ().chain(TcpConnector::default()).chain(TlsConnector::new(tls));
        HttpTransport {
            agent: ureq::Agent::with_parts(config, connector, Ipv4Resolver),
            clock,
            limits,
        }
    }

    fn classify(&self, err: ureq::Error) -> Failure {
        match err {
            ureq::Error::Timeout(which) => Failure::Timeout(self.limits.timeout(which)),
            ureq::Error::Rustls(tls) => Failure::Tls(tls::describe(&tls, &self.clock)),
            ureq::Error::Io(io) => match tls::rustls_cause(&io) {
                Some(tls) => Failure::Tls(tls::describe(tls, &self.clock)),
                None => Failure::Connect(io.to_string()),
            },
            ureq::Error::Tls(why) if why == tls::NO_TRUST_ANCHORS => Failure::Setup(why.to_owned()),
            ureq::Error::Tls(why) => Failure::Tls(why.to_owned()),
            ureq::Error::TooManyRedirects => {
                Failure::Redirect(format!("more than {} redirects", self.limits.max_redirects))
            }
            ureq::Error::RequireHttpsOnly(to) => Failure::Redirect(format!(
                "redirected to {to}: an https source may not lead to plain http"
            )),
            ureq::Error::BadUri(why) => Failure::Setup(format!("bad URL: {why}")),
            ureq::Error::HostNotFound => Failure::Connect("host not found".to_owned()),
            ureq::Error::ConnectionFailed => Failure::Connect("connection failed".to_owned()),
            // Garbled or truncated responses come from servers going down or up: try again.
            other => Failure::Connect(other.to_string()),
        }
    }
}

impl Transport for HttpTransport {
    fn get(
        &self,
        url: &str,
        resume: Option<Resume<'_>>,
        timeout: Duration,
    ) -> Result<Response, Failure> {
        self.request(url, &[], resume, timeout)
            .map(|(response, _)| response)
    }
}

/// What a registry's answer says beyond [`Response`]: how to authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthHeaders {
    /// Every `WWW-Authenticate` of a 401.
    pub www_authenticate: Vec<String>,
}

impl HttpTransport {
    /// One GET with extra request headers (a registry's `Accept` and `Authorization`). ureq
    /// drops `Authorization` on every redirect (its default), so a registry's credentials
    /// never reach the storage its blobs redirect to.
    pub fn request(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        resume: Option<Resume<'_>>,
        timeout: Duration,
    ) -> Result<(Response, AuthHeaders), Failure> {
        let https = url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let mut request = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            // An https source stays https across redirects: a downgrade would drop the
            // server's authentication without anyone noticing.
            .https_only(https)
            .build();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(resume) = resume {
            request = request.header("Range", format!("bytes={}-", resume.offset));
            if let Some(validator) = resume.validator {
                request = request.header("If-Range", validator);
            }
        }
        let response = request.call().map_err(|e| self.classify(e))?;
        let header = |name: &str| -> Option<String> {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
        };
        let etag = header("etag").filter(|t| !t.starts_with("W/"));
        let validator = etag.or_else(|| header("last-modified"));
        let content_range = header("content-range");
        let content_length = header("content-length").and_then(|v| parse_content_length(&v));
        let auth = AuthHeaders {
            www_authenticate: response
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect(),
        };
        let status = response.status().as_u16();
        Ok((
            Response {
                status,
                content_length,
                content_range,
                validator,
                body: Box::new(UreqBody {
                    reader: response.into_body().into_reader(),
                    clock: self.clock,
                    limits: self.limits,
                }),
            },
            auth,
        ))
    }
}

/// ureq's body reader with its errors told apart: stalls as `TimedOut`, TLS failures in
/// words.
struct UreqBody {
    reader: ureq::BodyReader<'static>,
    clock: Clock,
    limits: HttpLimits,
}

impl Read for UreqBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf).map_err(|err| {
            let inner = err.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>());
            match inner {
                Some(ureq::Error::Timeout(which)) => {
                    io::Error::new(io::ErrorKind::TimedOut, self.limits.timeout(*which))
                }
                Some(ureq::Error::Rustls(tls)) => io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS: {}", tls::describe(tls, &self.clock)),
                ),
                _ => err,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let r = |start, end, total| Some(ContentRange { start, end, total });
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            r(100, 199, Some(1000))
        );
        assert_eq!(parse_content_range(" bytes 0-0/1 "), r(0, 0, Some(1)));
        assert_eq!(parse_content_range("bytes 5-9/*"), r(5, 9, None));
        for bad in [
            "bytes */1000",
            "bytes 9-5/10",
            "bytes 5-10/10",
            "items 0-1/2",
            "bytes 1-2",
            "bytes -1-2/3",
            "bytes 0-1/x",
            "",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_lengths() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1048576", Some(1 << 20)),
            (" 42 ", Some(42)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("+42", None),
            ("-1", None),
            ("42, 42", None),
            ("4 2", None),
            ("0x10", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_content_length(text), *want, "{text:?}");
        }
    }
}
