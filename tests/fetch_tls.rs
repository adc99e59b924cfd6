//! The node's HTTPS fetch against our test server on 127.0.0.1, on the host: trust anchors
//! from a PEM bundle only, client certificates, and a plain cause for each way TLS fails.

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]

mod fetch_common;

use std::collections::BTreeMap;
use std::time::Duration;

use diskless::image::failure::Failure;
use fetch_common::{Ca, fetch, pseudo_random, quick_policy, scratch, server_tls, sha256};
use testbed::{Behavior, HttpServer, RequestLog};

fn files(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([("image".to_owned(), data.to_vec())])
}

fn policy() -> fetch_common::Settings {
    quick_policy(Duration::from_secs(10), 1)
}

#[test]
fn https_with_the_right_ca_fetches_and_verifies() {
    let ca = Ca::new("diskless test CA");
    let data = pseudo_random(3 << 20, 1);
    let server =
        HttpServer::serve_files_tls(files(&data), &server_tls(&ca.server(&["127.0.0.1"]), None))
            .expect("server");
    let dest = scratch("tls-ok").join("image");
    let urls = vec![server.host_url_for("image")];
    assert!(urls[0].starts_with("https://127.0.0.1:"));
    let (result, lines) = fetch(
        &urls,
        &dest,
        Some(&ca),
        None,
        Some(sha256(&data)),
        &policy(),
    );
    let fetched = result.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_eq!(fetched.sha256, sha256(&data));
    assert_eq!(std::fs::read(&dest).expect("file"), data);
}

#[test]
fn each_tls_failure_names_its_cause_and_is_not_retried() {
    let ours = Ca::new("diskless test CA");
    let theirs = Ca::new("someone else's CA");
    let data = pseudo_random(1000, 2);
    let cases = [
        (
            "unknown-issuer",
            theirs.server(&["127.0.0.1"]),
            "(unknown issuer)",
        ),
        (
            "name-mismatch",
            ours.server(&["images.lab", "10.9.9.9"]),
            "is for images.lab, 10.9.9.9 but the URL names 127.0.0.1 (name mismatch)",
        ),
        (
            "expired",
            ours.expired_server(&["127.0.0.1"]),
            "expired on 2020-12-31",
        ),
    ];
    for (label, leaf, cause) in cases {
        let server =
            HttpServer::serve_files_tls(files(&data), &server_tls(&leaf, None)).expect("server");
        let dest = scratch(label).join("image");
        let urls = vec![server.host_url_for("image")];
        let (result, lines) = fetch(&urls, &dest, Some(&ours), None, None, &policy());
        let err = result.expect_err(label);
        let text = err.to_string();
        assert!(text.starts_with("TLS: "), "{label}: {text}");
        assert!(text.contains(cause), "{label}: {text}");
        assert_eq!(
            err.attempts, 1,
            "{label}: a certificate error is not retried: {lines:?}"
        );
        assert!(!dest.exists(), "{label}: a file was left behind");
    }
}

#[test]
fn https_without_a_ca_bundle_is_refused_not_downgraded() {
    let ca = Ca::new("diskless test CA");
    let server =
        HttpServer::serve_files_tls(files(b"x"), &server_tls(&ca.server(&["127.0.0.1"]), None))
            .expect("server");
    let dest = scratch("no-ca").join("image");
    let (result, _) = fetch(
        &[server.host_url_for("image")],
        &dest,
        None,
        None,
        None,
        &policy(),
    );
    let err = result.expect_err("no trust anchors");
    assert!(err.to_string().contains("--ca"), "{err}");
    assert!(matches!(err.failures[0].1, Failure::Setup(_)), "{err:?}");
    assert!(
        server.requests().is_empty() || server.requests().iter().all(|r| r.method.is_empty()),
        "no request may be sent in the clear: {:?}",
        server.requests()
    );
}

#[test]
fn a_server_asking_for_client_certificates_gets_only_the_right_one() {
    let server_ca = Ca::new("image server CA");
    let client_ca = Ca::new("node CA");
    let stranger_ca = Ca::new("stranger CA");
    let data = pseudo_random(200_000, 3);
    let server = HttpServer::serve_files_tls(
        files(&data),
        &server_tls(&server_ca.server(&["127.0.0.1"]), Some(&client_ca)),
    )
    .expect("server");
    let urls = vec![server.host_url_for("image")];

    let node = client_ca.client("worker-64e59a");
    let dest = scratch("mtls-ok").join("image");
    let (result, lines) = fetch(&urls, &dest, Some(&server_ca), Some(&node), None, &policy());
    let fetched = result.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_eq!(fetched.sha256, sha256(&data));
    let with_cert = |log: &[RequestLog]| log.iter().any(|r| r.method == "GET" && r.client_cert);
    let log = server.requests_when(Duration::from_secs(5), with_cert);
    assert!(with_cert(&log), "{log:?}");

    let dest = scratch("mtls-none").join("image");
    let (result, _) = fetch(&urls, &dest, Some(&server_ca), None, None, &policy());
    let err = result.expect_err("no client certificate");
    assert!(
        err.to_string()
            .contains("requires a client certificate and this initramfs has none"),
        "{err}"
    );

    let impostor = stranger_ca.client("worker-64e59a");
    let dest = scratch("mtls-wrong").join("image");
    let (result, _) = fetch(
        &urls,
        &dest,
        Some(&server_ca),
        Some(&impostor),
        None,
        &policy(),
    );
    let err = result.expect_err("a client certificate from the wrong CA");
    assert!(
        err.to_string()
            .contains("refused this node's client certificate"),
        "{err}"
    );
    let two_refusals =
        |log: &[RequestLog]| log.iter().filter(|r| r.tls_error.is_some()).count() >= 2;
    let tls_errors: Vec<String> = server
        .requests_when(Duration::from_secs(5), two_refusals)
        .into_iter()
        .filter_map(|r| r.tls_error)
        .collect();
    assert_eq!(tls_errors.len(), 2, "{tls_errors:?}");
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_caught_before_any_boot() {
    let ca = Ca::new("node CA");
    let a = ca.client("a");
    let b = ca.client("b");
    let err = diskless::image::tls::client_config(
        ca.pem.as_bytes(),
        Some((a.cert_pem.as_bytes(), b.key_pem.as_bytes())),
    )
    .expect_err("mismatched key");
    assert!(
        err.to_string().starts_with("client certificate and key"),
        "{err}"
    );
    let trust = xtask::image::trust::Trust {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        client: Some((a.cert_pem.into_bytes(), b.key_pem.into_bytes())),
        pin: None,
        config_key: None,
        verity_pin: None,
    };
    assert!(trust.files().is_err());
}

#[test]
fn redirects_are_followed_a_bounded_number_of_times_and_never_to_plain_http() {
    let ca = Ca::new("diskless test CA");
    let data = pseudo_random(10_000, 4);
    let tls = server_tls(&ca.server(&["127.0.0.1"]), None);
    let server = HttpServer::serve_files_tls(files(&data), &tls).expect("server");
    server.add_redirect("a", "/b");
    server.add_redirect("b", "/image");
    for i in 0..10 {
        server.add_redirect(&format!("loop{i}"), &format!("/loop{}", (i + 1) % 10));
    }
    let dest = scratch("redirects").join("image");
    let (result, _) = fetch(
        &[server.host_url_for("a")],
        &dest,
        Some(&ca),
        None,
        None,
        &policy(),
    );
    assert_eq!(result.expect("two redirects").sha256, sha256(&data));

    let (result, _) = fetch(
        &[server.host_url_for("loop0")],
        &dest,
        Some(&ca),
        None,
        None,
        &policy(),
    );
    let err = result.expect_err("a loop");
    assert!(err.to_string().contains("more than 5 redirects"), "{err}");
    assert_eq!(err.attempts, 1);

    let plain = HttpServer::serve_files(files(&data)).expect("plain server");
    server.add_redirect("down", &plain.host_url_for("image"));
    let (result, _) = fetch(
        &[server.host_url_for("down")],
        &dest,
        Some(&ca),
        None,
        None,
        &policy(),
    );
    let err = result.expect_err("https must not lead to http");
    assert!(
        err.to_string().contains("may not lead to plain http"),
        "{err}"
    );
    assert!(plain.requests().is_empty(), "{:?}", plain.requests());
}

#[test]
fn a_stalled_transfer_times_out_and_resumes_over_http_and_https() {
    let ca = Ca::new("diskless test CA");
    let data = pseudo_random(2 << 20, 5);
    let tls = server_tls(&ca.server(&["127.0.0.1"]), None);
    for (label, server, trust) in [
        (
            "http",
            HttpServer::serve_files(files(&data)).expect("server"),
            None,
        ),
        (
            "https",
            HttpServer::serve_files_tls(files(&data), &tls).expect("server"),
            Some(&ca),
        ),
    ] {
        server.set_behavior_for("image", Behavior::StallAfter(300_000));
        let policy = fetch_common::Settings {
            limits: diskless::image::http::HttpLimits {
                stall: Duration::from_secs(1),
                ..policy().limits
            },
            ..policy()
        };
        let dest = scratch(&format!("stall-{label}")).join("image");
        let started = std::time::Instant::now();
        let (result, lines) = fetch(
            &[server.host_url_for("image")],
            &dest,
            trust,
            None,
            Some(sha256(&data)),
            &policy,
        );
        let fetched = result.unwrap_or_else(|e| panic!("{label}: {e}\n{lines:#?}"));
        assert_eq!(fetched.resumes, 1, "{label}: {lines:#?}");
        assert!(
            lines[0].contains("no data for 1 s after 300000 bytes"),
            "{label}: {lines:#?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{label}: the stall was not cut short"
        );
    }
}

/// DER: a tag, a length, the contents.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match contents.len() {
        n @ 0..=0x7f => out.push(n as u8),
        n @ 0x80..=0xff => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(contents);
    out
}

/// Splits DER into its items: (tag, contents, whole item).
fn items(mut der: &[u8]) -> Vec<(u8, &[u8], &[u8])> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (tag, first) = (der[0], der[1]);
        let (len, head) = match first {
            0..=0x7f => (usize::from(first), 2),
            0x81 => (usize::from(der[2]), 3),
            0x82 => ((usize::from(der[2]) << 8) | usize::from(der[3]), 4),
            _ => panic!("unexpected DER length form {first:#x}"),
        };
        out.push((tag, &der[head..head + len], &der[..head + len]));
        der = &der[head + len..];
    }
    out
}

/// The same certificate as X.509 v1: no version field, no extensions (its signature no
/// longer verifies, which nothing here checks). What `openssl x509 -req` makes by default.
fn as_x509_v1(pem: &str) -> String {
    let der = diskless::image::tls::parse_certificates(pem.as_bytes(), "test")
        .expect("certificate")
        .remove(0);
    let cert = items(&der);
    let outer = items(cert[0].1);
    let tbs: Vec<u8> = items(outer[0].1)
        .into_iter()
        .filter(|(tag, _, _)| *tag != 0xa0 && *tag != 0xa3)
        .flat_map(|(_, _, whole)| whole.to_vec())
        .collect();
    let mut body = tlv(0x30, &tbs);
    body.extend_from_slice(outer[1].2);
    body.extend_from_slice(outer[2].2);
    let v1 = tlv(0x30, &body);
    use base64_like::encode;
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        encode(&v1)
    )
}

/// Standard base64 for the PEM above (no dependency for twenty lines).
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[test]
fn keys_are_checked_against_x509_v1_certificates_too() {
    let ca = Ca::new("node CA");
    let a = ca.client("a");
    let b = ca.client("b");
    // The public key found by walking the DER is the key's own.
    let der =
        diskless::image::tls::parse_certificates(a.cert_pem.as_bytes(), "a").expect("a")[0].clone();
    use rustls::pki_types::SubjectPublicKeyInfoDer;
    use rustls::pki_types::pem::PemObject as _;
    let public = rcgen::KeyPair::from_pem(&a.key_pem)
        .expect("key")
        .public_key_pem();
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(public.as_bytes()).expect("SPKI");
    assert_eq!(diskless::image::tls::spki_of(&der), Some(spki.as_ref()));

    let v1 = as_x509_v1(&a.cert_pem);
    let v1_der =
        diskless::image::tls::parse_certificates(v1.as_bytes(), "v1").expect("v1")[0].clone();
    assert_eq!(
        diskless::image::tls::spki_of(&v1_der),
        diskless::image::tls::spki_of(&der)
    );
    diskless::image::tls::client_config(
        ca.pem.as_bytes(),
        Some((v1.as_bytes(), a.key_pem.as_bytes())),
    )
    .expect("a v1 certificate with its own key is accepted");
    let err = diskless::image::tls::client_config(
        ca.pem.as_bytes(),
        Some((v1.as_bytes(), b.key_pem.as_bytes())),
    )
    .expect_err("a v1 certificate with another key");
    assert!(
        err.to_string().contains("client certificate and key"),
        "{err}"
    );
    assert_eq!(diskless::image::tls::spki_of(b"\x30\x05junk"), None);
}
