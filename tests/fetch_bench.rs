//! Fetch throughput on loopback against `curl -o` + `sha256sum` on the same file, over
//! HTTP and HTTPS (our server, 127.0.0.1). Ignored by default: it moves gigabytes. Run with
//! `cargo test -p testbed --test fetch_bench -- --ignored --nocapture`; `DISKLESS_BENCH_MIB` sets the
//! size (default 256).

mod fetch_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fetch_common::{Ca, fetch, pseudo_random, quick_policy, server_tls, sha256};
use testbed::HttpServer;

const RUNS: usize = 3;

/// A tmpfs like the node's /run when there is one: the disk must not be what is measured.
fn ram_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.join(format!("diskless-bench-{}", std::process::id()))
    } else {
        fetch_common::scratch("bench")
    };
    std::fs::create_dir_all(&dir).expect("bench directory");
    dir
}

fn best(mut f: impl FnMut() -> Duration) -> Duration {
    (0..RUNS).map(|_| f()).min().unwrap_or_default()
}

/// `curl -o`, then `sha256sum` unless `want` is `None`.
fn curl_and_sha256sum(
    url: &str,
    dest: &Path,
    cacert: Option<&Path>,
    want: Option<&str>,
) -> Duration {
    let started = Instant::now();
    let mut curl = Command::new("curl");
    curl.args(["--silent", "--show-error", "--fail", "-o"])
        .arg(dest);
    if let Some(ca) = cacert {
        curl.arg("--cacert").arg(ca);
    }
    let status = curl.arg(url).status().expect("running curl");
    assert!(status.success(), "curl {url}: {status}");
    let Some(want) = want else {
        let elapsed = started.elapsed();
        let _ = std::fs::remove_file(dest);
        return elapsed;
    };
    let out = Command::new("sha256sum")
        .arg(dest)
        .output()
        .expect("running sha256sum");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(want), "sha256sum: {text}");
    let _ = std::fs::remove_file(dest);
    elapsed
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

#[test]
#[ignore = "moves gigabytes over loopback; run on demand"]
fn fetch_throughput_against_curl_and_sha256sum() {
    if Command::new("curl").arg("--version").output().is_err() {
        testbed::skip_or_fail("no curl (Debian: apt-get install curl)");
        return;
    }
    let mib: usize = std::env::var("DISKLESS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let data = pseudo_random(mib << 20, 11);
    let want = sha256(&data);
    let want_hex = fetch_common::hex(&want);
    let dir = ram_dir();
    let dest = dir.join("image");
    let ca = Ca::new("bench CA");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("writing the CA");
    let files = || BTreeMap::from([("image".to_owned(), data.clone())]);
    let plain = HttpServer::serve_files(files()).expect("server");
    let tls = HttpServer::serve_files_tls(files(), &server_tls(&ca.server(&["127.0.0.1"]), None))
        .expect("tls server");
    let policy = quick_policy(Duration::from_secs(600), 1);

    let mut report = Vec::new();
    for (label, server, ca) in [("http", &plain, None), ("https", &tls, Some(&ca))] {
        let url = server.host_url_for("image");
        let ours = best(|| {
            let started = Instant::now();
            let (result, _) = fetch(
                std::slice::from_ref(&url),
                &dest,
                ca,
                None,
                Some(want),
                &policy,
            );
            let elapsed = started.elapsed();
            assert_eq!(result.expect("fetch").sha256, want);
            let _ = std::fs::remove_file(&dest);
            elapsed
        });
        let cacert = ca.map(|_| ca_file.as_path());
        let curl = best(|| curl_and_sha256sum(&url, &dest, cacert, Some(&want_hex)));
        let curl_alone = best(|| curl_and_sha256sum(&url, &dest, cacert, None));
        report.push(format!(
            "{label}: {mib} MiB: diskless fetch (hashing as it streams) {:.2} s ({:.0} MB/s); \
             curl -o + sha256sum {:.2} s ({:.0} MB/s): ratio {:.2}; curl -o alone {:.2} s \
             ({:.0} MB/s): ratio {:.2} (time, ours / theirs; < 1 is faster)",
            ours.as_secs_f64(),
            mb_per_s(data.len(), ours),
            curl.as_secs_f64(),
            mb_per_s(data.len(), curl),
            ours.as_secs_f64() / curl.as_secs_f64(),
            curl_alone.as_secs_f64(),
            mb_per_s(data.len(), curl_alone),
            ours.as_secs_f64() / curl_alone.as_secs_f64()
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    for line in &report {
        println!("{line}");
    }
}
