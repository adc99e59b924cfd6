//! The init's registry client against Debian's docker-registry, host side (no QEMU): the
//! squashfs artifact by digest and by tag, htpasswd (Basic) and token (Bearer) registries
//! with and without baked credentials, a pull-through cache as a mirror, an index without
//! this platform, and a corrupt blob. Each registry shares one storage, pushed once.

mod fetch_common;

use std::path::Path;
use std::time::Duration;

use diskless::cmdline::oci::{ImageRef, parse_ref};
use diskless::image::Session;
use diskless::image::http::{HttpLimits, HttpTransport};
use diskless::image::oci::{self, Pulled, auth::Credentials};
use diskless::image::tls::Clock;
use diskless::image::trust::Trust;
use diskless::retry::RetryPolicy;
use testbed::registry::{self, Auth, Published, REPOSITORY, Registry};
use testbed::token::TokenService;

fn session() -> Session {
    Session {
        trust: Trust::default(),
        transport: HttpTransport::new(
            None,
            HttpLimits::default(),
            Clock::system(Default::default()),
        ),
        policy: RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            ..RetryPolicy::with_deadline(Duration::from_secs(20))
        },
        ram_budget: None,
    }
}

fn reference(registry: &Registry, what: &str) -> ImageRef {
    parse_ref(&format!(
        "http://127.0.0.1:{}/{REPOSITORY}{what}",
        registry.port
    ))
    .expect("reference")
}

/// The squashfs artifact's blob: these tests push artifacts.
fn blob_of(pulled: &oci::Pulled) -> &diskless::image::Downloaded {
    pulled.squashfs().expect("a squashfs artifact")
}

fn pull(
    image: &ImageRef,
    mirrors: &[String],
    credentials: &Credentials,
    dest: &Path,
) -> Result<Pulled, String> {
    // Each pull starts as a boot does: nothing there yet.
    let _ = std::fs::remove_file(dest);
    oci::pull_with(&session(), credentials, image, mirrors, None, dest).map_err(|e| e.to_string())
}

/// A login for a test registry: plain HTTP, so its key names `http://`.
fn credentials(registry: &Registry, user: &str, password: &str) -> Credentials {
    let key = format!("http://{}", registry.host_addr());
    let text = registry::auth_json(&key, user, password);
    Credentials::parse(text.as_bytes()).expect("auth.json")
}

#[test]
fn pulls_through_every_kind_of_registry() {
    if let Some(tool) = registry::missing_tool() {
        testbed::skip_or_fail(&format!("{tool} is not installed"));
        return;
    }
    let dir = testbed::fresh_dir("fetch_oci").expect("scratch");
    let squashfs: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let published = Published::new(&dir, squashfs.clone()).expect("publishing the root");
    let open = &published.registry;
    let manifest = &published.artifact.manifest.digest;
    let dest = dir.join("root.squashfs");
    let none = Credentials::default();

    // By digest, and by tag (which resolves to the same manifest).
    for what in [format!("@{manifest}"), ":v1".to_owned()] {
        let pulled = pull(&reference(open, &what), &[], &none, &dest).expect(&what);
        assert_eq!(std::fs::read(&dest).expect("blob"), squashfs, "{what}");
        assert_eq!(
            format!("sha256:{}", diskless::hex::encode(&pulled.manifest)),
            *manifest
        );
    }

    // A mirror serving other bytes under the manifest's digest is passed over for the
    // origin; alone, it is FATAL, naming the digest. A digest nobody has is named too.
    let liar = testbed::HttpServer::serve_files(std::collections::BTreeMap::from([(
        format!("v2/{REPOSITORY}/manifests/{manifest}"),
        published.arm64_only.bytes.clone(),
    )]))
    .expect("lying mirror");
    let lying = format!("oci:http://127.0.0.1:{}", liar.port());
    let by_digest = reference(open, &format!("@{manifest}"));
    let pulled = pull(&by_digest, std::slice::from_ref(&lying), &none, &dest)
        .expect("the origin after the lying mirror");
    assert!(
        blob_of(&pulled)
            .fetched
            .url
            .contains(&format!(":{}/", open.port))
    );
    let lone = parse_ref(&format!(
        "http://127.0.0.1:{}/{REPOSITORY}@{manifest}",
        liar.port()
    ))
    .expect("reference");
    let err = pull(&lone, &[], &none, &dest).expect_err("only the liar");
    let hex = manifest.trim_start_matches("sha256:");
    assert!(
        err.contains(&format!(
            "expected {hex} (the digest in root=oci:): not mounting it"
        )),
        "{err}"
    );
    let nobody = format!("@sha256:{}", "0".repeat(64));
    let err = pull(&reference(open, &nobody), &[], &none, &dest).expect_err("unknown digest");
    assert!(
        err.contains(&format!(
            "no manifest {} in http://127.0.0.1:{}/{REPOSITORY} (HTTP 404)",
            &nobody[1..],
            open.port
        )),
        "{err}"
    );

    // HTTPS, the default: with the CA the initramfs would carry, and refused without one.
    let ca = fetch_common::Ca::new("registry CA");
    let leaf = ca.server(&["127.0.0.1"]);
    let (cert, key) = (dir.join("registry.pem"), dir.join("registry.key"));
    std::fs::write(&cert, &leaf.cert_pem).expect("cert");
    std::fs::write(&key, &leaf.key_pem).expect("key");
    let https = Registry::start_tls(&dir, &open.storage, &Auth::None, None, Some((&cert, &key)))
        .expect("https registry");
    let image = parse_ref(&format!("127.0.0.1:{}/{REPOSITORY}@{manifest}", https.port))
        .expect("an https reference");
    let tls = diskless::image::tls::client_config(ca.pem.as_bytes(), None).expect("client TLS");
    let with_ca = Session {
        transport: HttpTransport::new(
            Some(tls),
            HttpLimits::default(),
            Clock::system(Default::default()),
        ),
        ..session()
    };
    let _ = std::fs::remove_file(&dest);
    oci::pull_with(&with_ca, &none, &image, &[], None, &dest).expect("https with the CA");
    assert_eq!(std::fs::read(&dest).expect("blob"), squashfs);
    let err = pull(&image, &[], &none, &dest).expect_err("https without a CA");
    assert!(err.contains("https"), "{err}");

    // htpasswd: refused without credentials, in words; served with them.
    let htpasswd = dir.join("htpasswd");
    registry::htpasswd(&htpasswd, "node", "s3cret").expect("htpasswd");
    let basic = Registry::start(&dir, &open.storage, &Auth::Htpasswd(htpasswd), None)
        .expect("htpasswd registry");
    let image = reference(&basic, &format!("@{manifest}"));
    let err = pull(&image, &[], &none, &dest).expect_err("no credentials");
    assert!(
        err.contains("requires a user name and password (Basic)")
            && err.contains("--registry-auth"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing left behind");
    let wrong = credentials(&basic, "node", "wrong");
    let err = pull(&image, &[], &wrong, &dest).expect_err("wrong password");
    assert!(err.contains("refused the credentials"), "{err}");
    pull(&image, &[], &credentials(&basic, "node", "s3cret"), &dest).expect("Basic");
    assert_eq!(std::fs::read(&dest).expect("blob"), squashfs);

    // Bearer tokens: anonymous, then only with a login.
    let tokens = TokenService::start("diskless-registry").expect("token service");
    let cert = dir.join("token.pem");
    std::fs::write(&cert, &tokens.cert_pem).expect("cert");
    let bearer = Registry::start(
        &dir,
        &open.storage,
        &Auth::Token {
            realm: tokens.host_realm(),
            service: tokens.service.clone(),
            issuer: tokens.issuer.clone(),
            cert,
        },
        None,
    )
    .expect("token registry");
    let image = reference(&bearer, &format!("@{manifest}"));
    pull(&image, &[], &none, &dest).expect("anonymous token");
    let asked = tokens.requests();
    assert!(
        asked.iter().any(|r| r.status == 200
            && r.authorization.is_none()
            && r.path.contains("scope=repository%3Adiskless%2Froot%3Apull")),
        "{asked:?}"
    );
    tokens.require("node", "t0ken");
    let err = pull(&image, &[], &none, &dest).expect_err("login required");
    assert!(err.contains("has no credentials for it"), "{err}");
    pull(&image, &[], &credentials(&bearer, "node", "t0ken"), &dest).expect("token with login");
    assert_eq!(std::fs::read(&dest).expect("blob"), squashfs);

    // A pull-through cache in front of the open registry, as a mirror: it serves.
    let cache = Registry::start(
        &dir,
        &dir.join("cache-storage"),
        &Auth::None,
        Some(&format!("http://127.0.0.1:{}", open.port)),
    )
    .expect("cache");
    let mirror = format!("oci:http://127.0.0.1:{}", cache.port);
    let pulled = pull(
        &reference(open, &format!("@{manifest}")),
        &[mirror],
        &none,
        &dest,
    )
    .expect("through the cache");
    assert!(
        blob_of(&pulled)
            .fetched
            .url
            .contains(&format!(":{}/", cache.port)),
        "{}",
        blob_of(&pulled).fetched.url
    );

    // An index without this platform: named, both sides.
    let err = pull(&reference(open, ":arm64-only"), &[], &none, &dest).expect_err("arm64 only");
    assert!(
        err.contains("no manifest for this node's platform linux/amd64 (it has linux/arm64)"),
        "{err}"
    );

    // A corrupt blob: the digest check refuses it and nothing is left.
    let data = open.blob_data(published.layer_digest());
    let mut bytes = std::fs::read(&data).expect("blob data");
    bytes[1000] ^= 0xff;
    std::fs::write(&data, bytes).expect("corrupting");
    let err =
        pull(&reference(open, &format!("@{manifest}")), &[], &none, &dest).expect_err("corrupt");
    let hex = published.layer_digest().trim_start_matches("sha256:");
    assert!(
        err.contains(&format!("expected {hex}")) && err.contains("verified manifest"),
        "{err}"
    );
    assert!(!dest.exists(), "the corrupt blob is deleted");
}

/// A login baked for `https://<host>` (an unprefixed key, as `podman login` writes it) never
/// goes over plain HTTP: not to a registry or mirror the command line names as `http://`
/// (whoever answers DHCP can), not to its Bearer token realm; nor from an https registry to a
/// plain-http token realm. Only a key naming `http://<host>` allows it. Fake registries that
/// answer 401 to everything and log what they were sent; no docker-registry needed.
#[test]
fn a_login_for_https_never_goes_over_plain_http() {
    let dir = testbed::fresh_dir("fetch_oci_plain_login").expect("scratch");
    let dest = dir.join("root.squashfs");
    let digest = format!("@sha256:{}", "ab".repeat(32));
    let fake = |challenge: &str| {
        let server = testbed::HttpServer::serve_files(Default::default()).expect("fake registry");
        server.demand_login(challenge);
        server
    };
    let at = |server: &testbed::HttpServer| {
        parse_ref(&format!(
            "http://127.0.0.1:{}/{REPOSITORY}{digest}",
            server.port()
        ))
        .expect("reference")
    };
    let login = |key: &str| {
        Credentials::parse(registry::auth_json(key, "node", "s3cret").as_bytes()).expect("auth")
    };
    let authorizations = |server: &testbed::HttpServer| -> Vec<String> {
        server
            .requests()
            .into_iter()
            .filter_map(|r| r.authorization)
            .collect()
    };

    // Basic, root= on plain http, the login baked for https.
    let basic = fake(r#"Basic realm="registry""#);
    let host = format!("127.0.0.1:{}", basic.port());
    let err = pull(&at(&basic), &[], &login(&host), &dest).expect_err("refused");
    assert_eq!(authorizations(&basic), Vec::<String>::new(), "{err}");
    assert!(
        err.contains(&format!(
            "http://{host} asks for a login (401) and the initramfs has one only for \
             https://{host}: not sending it over plain HTTP"
        )),
        "{err}"
    );
    let explicit = login(&format!("https://{host}"));
    pull(&at(&basic), &[], &explicit, &dest).expect_err("refused");
    assert_eq!(authorizations(&basic), Vec::<String>::new());

    // The same registry as a mirror: passed over for root='s registry, the login kept.
    let origin = testbed::HttpServer::serve_files(Default::default()).expect("origin");
    let mirror = format!("oci:http://{host}");
    let err = pull(&at(&origin), &[mirror], &login(&host), &dest).expect_err("neither has it");
    assert!(
        err.contains(&format!("http://{host} asks for a login")),
        "{err}"
    );
    assert_eq!(authorizations(&basic), Vec::<String>::new());

    // Naming http:// in the auth file allows it.
    let allowed = login(&format!("http://{host}"));
    let err = pull(&at(&basic), &[], &allowed, &dest).expect_err("still 401");
    assert!(err.contains("refused the credentials"), "{err}");
    let sent = authorizations(&basic);
    assert!(
        !sent.is_empty() && sent.iter().all(|a| a.starts_with("Basic ")),
        "{sent:?}"
    );

    // Bearer, on plain http: the token service gets no login either.
    let tokens = TokenService::start("fake").expect("token service");
    let bearer = fake(&format!(
        r#"Bearer realm="{}",service="fake""#,
        tokens.host_realm()
    ));
    let host = format!("127.0.0.1:{}", bearer.port());
    let err = pull(&at(&bearer), &[], &login(&host), &dest).expect_err("refused");
    let asked = tokens.requests();
    assert!(asked.iter().all(|r| r.authorization.is_none()), "{asked:?}");
    assert!(
        err.contains(&format!("http://{host} asks for a login (401)")),
        "{err}"
    );
    assert!(
        authorizations(&bearer)
            .iter()
            .all(|a| !a.starts_with("Basic ")),
        "{:?}",
        authorizations(&bearer)
    );

    // An https registry whose token realm is plain http: its login stays home.
    let ca = fetch_common::Ca::new("registry CA");
    let tls = fetch_common::server_tls(&ca.server(&["127.0.0.1"]), None);
    let secure = testbed::HttpServer::serve_files_tls(Default::default(), &tls).expect("https");
    secure.demand_login(&format!(
        r#"Bearer realm="{}",service="fake""#,
        tokens.host_realm()
    ));
    let host = format!("127.0.0.1:{}", secure.port());
    let image = parse_ref(&format!("{host}/{REPOSITORY}{digest}")).expect("https reference");
    let with_ca = Session {
        transport: HttpTransport::new(
            Some(diskless::image::tls::client_config(ca.pem.as_bytes(), None).expect("TLS")),
            HttpLimits::default(),
            Clock::system(Default::default()),
        ),
        ..session()
    };
    let before = tokens.requests().len();
    let err = oci::pull_with(&with_ca, &login(&host), &image, &[], None, &dest)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains(&format!(
            "https://{host} sends its credentials' token request to plain http"
        )),
        "{err}"
    );
    assert_eq!(tokens.requests().len(), before, "no token request at all");
}

/// One client of the storm: when it finished, how many requests its blob took, its bytes'
/// sha256 (the pull already held them to the digest).
struct Outcome {
    done: Duration,
    attempts: u32,
    resumes: u32,
}

/// 200 clients pull at once with the init's fetch code; every one must end with verified
/// bytes. Prints the spread of completion times, the retries and the failed requests the
/// registry logged; asserts no timing.
fn storm(label: &str, image: &ImageRef, mirrors: &[String], dir: &Path, logs: &[&Registry]) {
    const CLIENTS: usize = 200;
    let start = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let began = std::time::Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (image, mirrors, start) = (image.clone(), mirrors.to_vec(), start.clone());
            let dest = dir.join(format!("{label}-{i}.img"));
            std::thread::spawn(move || -> Result<Outcome, String> {
                let mac = [0x52, 0x54, 0x00, 0x00, (i >> 8) as u8, i as u8];
                let session = Session {
                    policy: RetryPolicy::with_deadline(Duration::from_secs(180))
                        .seeded(diskless::retry::jitter_seed(&mac, 0)),
                    ..session()
                };
                start.wait();
                let pulled = oci::pull_with(
                    &session,
                    &Credentials::default(),
                    &image,
                    &mirrors,
                    None,
                    &dest,
                )
                .map_err(|e| e.to_string())?;
                let _ = std::fs::remove_file(&dest);
                Ok(Outcome {
                    done: began.elapsed(),
                    attempts: blob_of(&pulled).fetched.attempts,
                    resumes: blob_of(&pulled).fetched.resumes,
                })
            })
        })
        .collect();
    let outcomes: Vec<Result<Outcome, String>> = clients
        .into_iter()
        .map(|c| c.join().unwrap_or_else(|_| Err("panicked".to_owned())))
        .collect();
    let failed: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{label}: {} clients gave up: {:?}",
        failed.len(),
        failed.first()
    );
    let mut times: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|o| o.done.as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((times.len() - 1) as f64 * q) as usize;
        times.get(index).copied().unwrap_or_default()
    };
    let retries: u32 = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|o| o.attempts - 1)
        .sum();
    let resumes: u32 = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|o| o.resumes)
        .sum();
    println!(
        "STORM {label}: {CLIENTS} clients, all verified; done after min {:.2} s, p50 {:.2} s, \
         p90 {:.2} s, max {:.2} s; blob retries {retries}, resumes {resumes}",
        at(0.0),
        at(0.5),
        at(0.9),
        at(1.0)
    );
    for registry in logs {
        let (requests, failures) = access_counts(registry);
        println!(
            "STORM {label}: registry :{} has served {requests} requests so far, {failures} with status >= 400",
            registry.port
        );
    }
}

/// Requests in a registry's access log, and those answered with a status of 400 or more.
fn access_counts(registry: &Registry) -> (usize, usize) {
    let text = std::fs::read_to_string(&registry.access_log).unwrap_or_default();
    let statuses: Vec<u16> = text
        .lines()
        .filter_map(|l| l.split("HTTP/1.1\" ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    let failures = statuses.iter().filter(|s| **s >= 400).count();
    (statuses.len(), failures)
}

#[test]
#[ignore = "the boot storm: 200 clients, about a minute; run with --ignored --nocapture"]
fn boot_storm_through_one_registry_and_through_a_pull_through_cache() {
    if let Some(tool) = registry::missing_tool() {
        testbed::skip_or_fail(&format!("{tool} is not installed"));
        return;
    }
    let dir = testbed::fresh_dir("fetch_oci_storm").expect("scratch");
    let squashfs: Vec<u8> = (0..2u32 << 20).map(|i| (i * 13 % 251) as u8).collect();
    let published = Published::new(&dir, squashfs).expect("publishing the root");
    let open = &published.registry;
    let image = reference(open, &format!("@{}", published.artifact.manifest.digest));
    let before = access_counts(open);
    let before = (before.0, before.1, blob_gets(open));
    storm("registry", &image, &[], &dir, &[open]);
    let cache = Registry::start(
        &dir,
        &dir.join("cache-storage"),
        &Auth::None,
        Some(&format!("http://127.0.0.1:{}", open.port)),
    )
    .expect("cache");
    let origin = |label: &str, before: (usize, usize, usize)| {
        let now = access_counts(open);
        let blobs = blob_gets(open);
        println!(
            "STORM {label}: the origin registry saw {} requests ({} failed), {} of them blob GETs",
            now.0 - before.0,
            now.1 - before.1,
            blobs - before.2
        );
        (now.0, now.1, blobs)
    };
    let after_direct = origin("registry", before);
    storm(
        "cache (cold)",
        &image,
        &[format!("oci:http://127.0.0.1:{}", cache.port)],
        &dir,
        &[&cache],
    );
    let after_cold = origin("cache (cold)", after_direct);
    storm(
        "cache (warm)",
        &image,
        &[format!("oci:http://127.0.0.1:{}", cache.port)],
        &dir,
        &[&cache],
    );
    origin("cache (warm)", after_cold);
}

/// GETs of blobs in a registry's access log.
fn blob_gets(registry: &Registry) -> usize {
    std::fs::read_to_string(&registry.access_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
        .count()
}
