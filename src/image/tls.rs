//! HTTPS for the fetch: a rustls client configuration from the initramfs's PEM CA bundle and
//! optional client certificate, the connector that puts it under ureq, and plain words for
//! what went wrong in a handshake.
//!
//! Trust anchors come only from the initramfs (no built-in web PKI roots: an image server
//! is the admin's, not the internet's), and there is deliberately no way to skip
//! verification: a node either checks the server or uses a pinned hash over plain HTTP.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::clock::utc;
use crate::clock::{self, Settled, Source};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, InconsistentKeys,
    RootCertStore, StreamOwned,
};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// Why the TLS material in the initramfs cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{what}: {reason}")]
    Pem { what: &'static str, reason: String },
    #[error("{what}: no certificate in it")]
    NoCertificate { what: &'static str },
    #[error("CA bundle: certificate {index} is not a usable trust anchor: {source}")]
    Anchor { index: usize, source: rustls::Error },
    #[error("client certificate and key: {0}")]
    ClientAuth(rustls::Error),
    #[error("client certificate and key: the key does not belong to the certificate")]
    KeyMismatch,
    #[error("setting up TLS: {0}")]
    Config(rustls::Error),
}

fn pem_err(what: &'static str) -> impl Fn(rustls::pki_types::pem::Error) -> TlsSetupError {
    move |err| TlsSetupError::Pem {
        what,
        reason: err.to_string(),
    }
}

/// All certificates of a PEM bundle, in order; other PEM sections (keys, CRLs) are skipped.
pub fn parse_certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(what))?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate { what });
    }
    Ok(certs)
}

/// The rustls client configuration for every HTTPS fetch: servers must chain to a CA of
/// `ca_pem`; with `client`, `(certificate chain PEM, key PEM)`, the node presents that
/// certificate when asked. The key is checked against the certificate here, so a mismatch
/// is found when the image is built (the xtask calls this) rather than during a boot.
/// webpki cannot parse X.509 v1 certificates (what `openssl x509 -req` makes without
/// extensions), which servers such as nginx accept: for those the public keys are compared
/// here ([`spki_of`]).
pub fn client_config(
    ca_pem: &[u8],
    client: Option<(&[u8], &[u8])>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for (index, cert) in parse_certificates(ca_pem, "CA bundle")?
        .into_iter()
        .enumerate()
    {
        roots
            .add(cert)
            .map_err(|source| TlsSetupError::Anchor { index, source })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Config)?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain = parse_certificates(cert_pem, "client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(pem_err("client key"))?;
            let key = provider
                .key_provider
                .load_private_key(key)
                .map_err(TlsSetupError::ClientAuth)?;
            let certified = CertifiedKey::new(chain, key);
            let mismatch = match certified.keys_match() {
                Ok(()) => false,
                Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => true,
                // webpki could not read the certificate (X.509 v1): compare ourselves. A key
                // that cannot state its public half is let through, as rustls does.
                Err(_) => {
                    let key_spki = certified.key.public_key();
                    let cert_spki = certified.end_entity_cert().ok().and_then(|c| spki_of(c));
                    matches!((key_spki, cert_spki), (Some(k), Some(c)) if k.as_ref() != c)
                }
            };
            if mismatch {
                return Err(TlsSetupError::KeyMismatch);
            }
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
    };
    Ok(Arc::new(config))
}

/// One DER item: its tag, its contents, the whole item, and what follows it.
struct Der<'a> {
    tag: u8,
    whole: &'a [u8],
    contents: &'a [u8],
    rest: &'a [u8],
}

/// The DER item at the start of `input`; `None` for anything malformed or cut short.
fn der_item(input: &[u8]) -> Option<Der<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, body) = match first {
        0..=0x7f => (usize::from(first), after_len),
        0x81..=0x84 => {
            let (bytes, body) = after_len.split_at_checked(usize::from(first & 0x7f))?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, body)
        }
        _ => return None,
    };
    let (contents, rest) = body.split_at_checked(len)?;
    Some(Der {
        tag,
        whole: input.get(..input.len() - rest.len())?,
        contents,
        rest,
    })
}

/// The SubjectPublicKeyInfo (the whole DER item) of an X.509 certificate of any version:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serial,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }` (RFC 5280).
pub fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    let certificate = der_item(cert).filter(|d| d.tag == SEQUENCE)?;
    let tbs = der_item(certificate.contents).filter(|d| d.tag == SEQUENCE)?;
    let mut fields = tbs.contents;
    if let Some(version) = der_item(fields).filter(|d| d.tag == VERSION) {
        fields = version.rest;
    }
    // serial, signature algorithm, issuer, validity, subject
    for _ in 0..5 {
        fields = der_item(fields)?.rest;
    }
    der_item(fields)
        .filter(|d| d.tag == SEQUENCE)
        .map(|d| d.whole)
}

/// What the node knows about its own clock, to tell a bad certificate from a bad clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Now, in seconds since the epoch, as the node believes.
    pub now: u64,
    /// The node cannot be earlier than this: when the initramfs was built, or 2024-01-01.
    pub floor: u64,
    /// Where the reading came from (the RTC, the floor, SNTP).
    pub source: Source,
}

/// 2024-01-01T00:00:00Z: no node runs this code before then.
pub const CLOCK_FLOOR_2024: u64 = clock::FLOOR_2024;

impl Clock {
    /// The system clock as the clock step left it.
    pub fn system(settled: Settled) -> Clock {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Clock {
            now,
            floor: settled.floor.max(CLOCK_FLOOR_2024),
            source: settled.source,
        }
    }

    /// A sentence for the operator when the clock is evidently wrong.
    pub fn doubt(&self) -> Option<String> {
        (self.now < self.floor).then(|| {
            let why = if self.floor == CLOCK_FLOOR_2024 {
                "before 2024".to_owned()
            } else {
                format!("before this initramfs was built ({})", utc(self.floor))
            };
            format!(
                "the node's clock reads {}, {why}: it is wrong (no RTC, or a flat RTC battery?), \
                 and certificate dates cannot be checked against it",
                utc(self.now)
            )
        })
    }
}

/// The TLS cause in words an operator can act on, ending with the rustls term in
/// parentheses (`unknown issuer`, `name mismatch`, `expired`).
pub fn describe(err: &rustls::Error, clock: &Clock) -> String {
    let doubt = clock.doubt().map(|d| format!("; {d}")).unwrap_or_default();
    // A certificate date against the node's clock: when that clock is evidently wrong, the
    // doubt says so (and gives the reading); otherwise just the reading.
    let reading = |time: &rustls::pki_types::UnixTime| {
        clock.doubt().unwrap_or_else(|| {
            format!(
                "the node's clock reads {}, {}",
                utc(time.as_secs()),
                clock.source.describe(clock.floor)
            )
        })
    };
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "the server's certificate is not signed by a CA in the initramfs's bundle \
                 (unknown issuer)"
                    .to_owned()
            }
            CertificateError::NotValidForName => {
                "the server's certificate is not valid for this host (name mismatch)".to_owned()
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "the server's certificate is for {} but the URL names {} (name mismatch)",
                if presented.is_empty() {
                    "no name at all".to_owned()
                } else {
                    presented
                        .iter()
                        .map(|p| presented_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                server_name(expected)
            ),
            CertificateError::Expired => {
                format!("the server's certificate has expired (expired){doubt}")
            }
            CertificateError::ExpiredContext { time, not_after } => format!(
                "the server's certificate expired on {} (expired); {}",
                utc(not_after.as_secs()),
                reading(time)
            ),
            CertificateError::NotValidYet => {
                format!("the server's certificate is not valid yet (not yet valid){doubt}")
            }
            CertificateError::NotValidYetContext { time, not_before } => format!(
                "the server's certificate is valid only from {} (not yet valid); {}",
                utc(not_before.as_secs()),
                reading(time)
            ),
            CertificateError::BadSignature => {
                "a signature in the server's certificate chain is invalid (bad signature)"
                    .to_owned()
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "the server's certificate is not for TLS servers (invalid purpose)".to_owned()
            }
            other => format!("the server's certificate was rejected ({other:?})"),
        },
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => {
                "the server requires a client certificate and this initramfs has none \
                 (build it with --client-cert and --client-key) (certificate required)"
                    .to_owned()
            }
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied => format!(
                "the server refused this node's client certificate ({})",
                alert_name(*alert)
            ),
            AlertDescription::CertificateExpired | AlertDescription::CertificateRevoked => {
                format!(
                    "the server refused this node's client certificate ({}){doubt}",
                    alert_name(*alert)
                )
            }
            other => format!("the server ended the handshake ({})", alert_name(*other)),
        },
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".to_owned(),
        other => other.to_string(),
    }
}

fn server_name(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// webpki lists a certificate's names as `DnsName("a.lab")` or `IpAddress(10.0.2.2)`.
fn presented_name(debug: &str) -> &str {
    debug
        .strip_prefix("DnsName(\"")
        .and_then(|s| s.strip_suffix("\")"))
        .or_else(|| {
            debug
                .strip_prefix("IpAddress(")
                .and_then(|s| s.strip_suffix(')'))
        })
        .unwrap_or(debug)
}

fn alert_name(alert: AlertDescription) -> String {
    // `BadCertificate` -> `bad certificate`, `UnknownCA` -> `unknown ca`.
    let raw = format!("{alert:?}");
    let mut out = String::with_capacity(raw.len() + 4);
    let mut previous_lower = false;
    for c in raw.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push(' ');
        }
        previous_lower = c.is_ascii_lowercase();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The rustls error inside an I/O error, if that is what it is: rustls reports handshake
/// and record failures through `io::Error`s of its streams.
pub fn rustls_cause(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}

/// What an https fetch fails with when the initramfs has no CA bundle.
pub const NO_TRUST_ANCHORS: &str =
    "https needs trust anchors, and this initramfs has no CA bundle (cargo xtask initrd --ca)";

/// ureq connector that wraps `https` connections in TLS with our [`ClientConfig`]. Without a
/// configuration (no CA bundle in the initramfs) it refuses `https` rather than ever
/// speaking to such a server unauthenticated.
#[derive(Debug, Clone)]
pub struct TlsConnector {
    config: Option<Arc<ClientConfig>>,
}

impl TlsConnector {
    pub fn new(config: Option<Arc<ClientConfig>>) -> TlsConnector {
        TlsConnector { config }
    }
}

/// Maps an I/O error from a TLS stream to the ureq error that says the most.
fn from_io(err: io::Error) -> ureq::Error {
    if rustls_cause(&err).is_some() {
        if let Some(inner) = err.into_inner() {
            if let Ok(tls) = inner.downcast::<rustls::Error>() {
                return ureq::Error::Rustls(*tls);
            }
        }
        return ureq::Error::Tls("TLS error");
    }
    ureq::Error::from(err)
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let Some(config) = &self.config else {
            return Err(ureq::Error::Tls(NO_TRUST_ANCHORS));
        };
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("an https URL without a host"))?;
        // IPv6 literals come bracketed in URIs; certificates name the bare address.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ureq::Error::Tls("the host is neither a DNS name nor an IP address"))?;
        let mut conn = ClientConnection::new(Arc::clone(config), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(from_io)?;
        }
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// An established TLS connection, as ureq's transport.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        // The timeout passes unchanged: the TCP transport below applies the per-write limit.
        self.stream.sock.set_timeout(timeout);
        let output = self.buffers.output();
        let output = output.get(..amount).unwrap_or(output);
        self.stream.write_all(output).map_err(from_io)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input).map_err(from_io)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;
    use std::time::Duration;

    fn clock(now: u64) -> Clock {
        Clock {
            now,
            floor: CLOCK_FLOOR_2024,
            source: Source::Rtc,
        }
    }

    #[test]
    fn a_clock_before_2024_or_the_build_is_called_wrong() {
        assert_eq!(clock(CLOCK_FLOOR_2024 + 5).doubt(), None);
        let doubt = clock(12).doubt().expect("1970 is wrong");
        assert!(
            doubt.contains("1970-01-01 00:00:12 UTC, before 2024"),
            "{doubt}"
        );
        let c = Clock::system(Settled {
            floor: 1_750_000_000,
            source: Source::Rtc,
        });
        assert_eq!(c.floor, 1_750_000_000);
        let doubt = Clock {
            now: 1_740_000_000,
            floor: c.floor,
            source: Source::Unset,
        }
        .doubt()
        .expect("before the build");
        assert!(
            doubt.contains("before this initramfs was built (2025-06-15"),
            "{doubt}"
        );
        assert_eq!(
            Clock::system(Settled {
                floor: 0,
                source: Source::Rtc
            })
            .floor,
            CLOCK_FLOOR_2024
        );
    }

    fn future_of(not_before: u64, now: u64) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(now)),
            not_before: UnixTime::since_unix_epoch(Duration::from_secs(not_before)),
        })
    }

    #[test]
    fn causes_are_named() {
        let c = clock(1_750_000_000);
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(describe(&unknown, &c).ends_with("(unknown issuer)"));
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("10.0.2.2").expect("ip"),
            presented: vec![
                "DnsName(\"images.lab\")".to_owned(),
                "IpAddress(10.0.2.3)".to_owned(),
            ],
        });
        let text = describe(&name, &c);
        assert!(
            text.contains("is for images.lab, 10.0.2.3 but the URL names 10.0.2.2 (name mismatch)"),
            "{text}"
        );
        let expired = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_750_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_740_000_000)),
        });
        let text = describe(&expired, &c);
        assert_eq!(
            text,
            "the server's certificate expired on 2025-02-19 21:20:00 UTC (expired); \
             the node's clock reads 2025-06-15 15:06:40 UTC, from the RTC (no NTP server \
             answered or was given: diskless.ntp=, the ip= ntp field or DHCP option 42)"
        );
        // Raised to the build time with no NTP server: the reading says so.
        let raised = Clock {
            now: 1_750_000_000,
            floor: 1_749_999_990,
            source: Source::Floor { asked: false },
        };
        let text = describe(&future_of(1_760_000_000, 1_750_000_000), &raised);
        assert_eq!(
            text,
            "the server's certificate is valid only from 2025-10-09 08:53:20 UTC (not yet \
             valid); the node's clock reads 2025-06-15 15:06:40 UTC, raised to this \
             initramfs's build time (2025-06-15 15:06:30 UTC) because no NTP server was given \
             (diskless.ntp=, the ip= ntp field or DHCP option 42)"
        );
        // The same with a clock stuck in 1970: the clock is the suspect.
        let future = rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(40)),
            not_before: UnixTime::since_unix_epoch(Duration::from_secs(1_740_000_000)),
        });
        let text = describe(&future, &clock(40));
        assert_eq!(
            text,
            "the server's certificate is valid only from 2025-02-19 21:20:00 UTC (not yet \
             valid); the node's clock reads 1970-01-01 00:00:40 UTC, before 2024: it is wrong \
             (no RTC, or a flat RTC battery?), and certificate dates cannot be checked against it"
        );
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(describe(&required, &c).contains("--client-cert"));
        let refused = rustls::Error::AlertReceived(AlertDescription::UnknownCA);
        let text = describe(&refused, &c);
        assert!(
            text.ends_with("refused this node's client certificate (unknown ca)"),
            "{text}"
        );
    }

    #[test]
    fn bad_material_is_an_error_not_a_panic() {
        let err = client_config(b"not pem", None).unwrap_err();
        assert!(
            err.to_string().contains("CA bundle: no certificate"),
            "{err}"
        );
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = client_config(garbage, None).unwrap_err();
        assert!(
            err.to_string().starts_with("CA bundle: certificate 0"),
            "{err}"
        );
    }
}
