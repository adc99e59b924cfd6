//! Shared by the fetch and HTTPS tests: a throwaway PKI made with rcgen (a CA, server and
//! client certificates) and a host-side fetch helper.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::path::Path;
use std::time::Duration;

use diskless::image::fetch::{self, Event, FetchError, Fetched, Job};
use diskless::image::http::{HttpLimits, HttpTransport};
use diskless::image::tls::Clock;
use diskless::retry::RetryPolicy;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use testbed::http::ServerTls;

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A test certificate authority.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signing the CA");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for these names (IP addresses or DNS names).
    pub fn server(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.leaf(params)
    }

    /// A server certificate valid from the start (00:00 UTC) of the day holding `unix`
    /// (seconds since 1970) on.
    pub fn server_valid_from(&self, names: &[&str], unix: u64) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // diskless's own civil-date conversion: "YYYY-MM-DD hh:mm:ss UTC".
        let day = diskless::clock::utc(unix);
        let field = |range: std::ops::Range<usize>| day[range].parse::<i32>().expect("date");
        params.not_before =
            date_time_ymd(field(0..4), u8::try_from(field(5..7)).expect("month"), {
                u8::try_from(field(8..10)).expect("day")
            });
        self.leaf(params)
    }

    /// A server certificate valid only in 2020.
    pub fn expired_server(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2020, 12, 31);
        self.leaf(params)
    }

    /// A client certificate for a node.
    pub fn client(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.leaf(params)
    }
}

/// The test server's TLS side: `leaf` as its certificate; with `clients`, client
/// certificates must chain to that CA.
pub fn server_tls(leaf: &Leaf, clients: Option<&Ca>) -> ServerTls {
    ServerTls {
        cert_chain_pem: leaf.cert_pem.clone().into_bytes(),
        key_pem: leaf.key_pem.clone().into_bytes(),
        client_ca_pem: clients.map(|ca| ca.pem.clone().into_bytes()),
    }
}

/// How a host test fetches: the retry policy and the HTTP limits.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub policy: RetryPolicy,
    pub limits: HttpLimits,
}

/// Quick settings for host tests: short waits and deadline, a 5 s stall, the given jitter
/// seed.
pub fn quick_policy(deadline: Duration, seed: u64) -> Settings {
    Settings {
        policy: RetryPolicy {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(400),
            ..RetryPolicy::with_deadline(deadline).seeded(seed)
        },
        limits: HttpLimits {
            stall: Duration::from_secs(5),
            ..HttpLimits::default()
        },
    }
}

/// Fetches `urls` into `dest` on the host with the node's code: TLS from `ca` (and the
/// client identity), expecting `expected`. Returns the result and the event log lines.
pub fn fetch(
    urls: &[String],
    dest: &Path,
    ca: Option<&Ca>,
    client: Option<&Leaf>,
    expected: Option<[u8; 32]>,
    settings: &Settings,
) -> (Result<Fetched, FetchError>, Vec<String>) {
    let tls = ca.map(|ca| {
        let client = client.map(|c| (c.cert_pem.as_bytes(), c.key_pem.as_bytes()));
        diskless::image::tls::client_config(ca.pem.as_bytes(), client).expect("client TLS config")
    });
    let transport = HttpTransport::new(tls, settings.limits, Clock::system(Default::default()));
    let job = Job {
        sources: urls,
        dest,
        expected,
        ram_budget: None,
        limit: None,
    };
    let mut lines = Vec::new();
    let result = fetch::fetch_to_file(&transport, &job, &settings.policy, |event: Event<'_>| {
        lines.push(event.log_line().1);
    });
    (result, lines)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// Deterministic, incompressible-looking test data.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A fresh scratch directory for one test (under target/testbed-tmp/).
pub fn scratch(name: &str) -> std::path::PathBuf {
    testbed::fresh_dir(&format!("{name}-{}", std::process::id()))
        .expect("creating the scratch directory")
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    diskless::hex::encode(bytes)
}
