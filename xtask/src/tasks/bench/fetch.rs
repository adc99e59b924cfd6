//! Fetch throughput and memory on the host: our fetcher (`diskless::image::fetch`, hashing
//! while it streams) against `curl -o` followed by `sha256sum`, on the same file from the
//! test bed's HTTP server on 127.0.0.1.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use testbed::HttpServer;
use xshell::{Shell, cmd};
use xtask::image::trust;

use super::args::Args;
use super::key_value::key_value;
use super::random::write_random;
use super::results::FetchResult;
use super::stats::MIB;

/// The first argument that makes `cargo xtask bench` the fetch child.
pub(super) const CHILD_FLAG: &str = "--fetch-child";

/// What the fetch child reports, in `DEST.result`.
#[derive(Debug, Serialize, Deserialize)]
struct ChildResult {
    seconds: f64,
    bytes: u64,
}

/// `/usr/bin/time -f TIME-MAXRSS=%M`'s report: peak RSS in KiB (0 when missing).
fn max_rss_kib(time_stderr: &str) -> u64 {
    key_value(time_stderr, "TIME-MAXRSS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Fetches 1 GiB (256 MiB with `--quick`) up to three times each way.
pub(super) fn measure(args: &Args, out: &Path) -> Result<FetchResult> {
    let bytes = if args.quick { 256 * MIB } else { 1024 * MIB };
    let dir = out.join("fetch");
    std::fs::create_dir_all(&dir)?;
    let name = format!("blob-{}m.bin", bytes / MIB);
    let blob = dir.join(&name);
    write_random(&blob, bytes)?;
    let sha = diskless::hex::encode(&trust::sha256_of_file(&blob)?);
    let server = HttpServer::serve_dir(&dir).context("starting the HTTP server")?;
    let url = server.host_url_for(&name);
    let dest = out.join("fetched.bin");
    let result_file = result_path(&dest);
    // Our own binary through /proc: another cargo run may replace target/debug/xtask while
    // this one runs (the machine is shared), and the deleted file stays reachable this way.
    let exe = PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    let sh = Shell::new()?;
    let mut result = FetchResult {
        bytes,
        ..FetchResult::default()
    };
    let rounds = args.boots.min(3);
    for _ in 0..rounds {
        let _ = std::fs::remove_file(&dest);
        let text = cmd!(
            sh,
            "/usr/bin/time -f TIME-MAXRSS=%M {exe} bench {CHILD_FLAG} {url} {dest} {sha}"
        )
        .quiet()
        .read_stderr()
        .context("running the fetch child")?;
        let child = std::fs::read_to_string(&result_file)
            .with_context(|| format!("reading {}", result_file.display()))?;
        let child: ChildResult = serde_json::from_str(&child)
            .with_context(|| format!("parsing {}", result_file.display()))?;
        result.ours_s.push(child.seconds);
        result.ours_rss_kib.push(max_rss_kib(&text));
        let _ = std::fs::remove_file(&dest);

        let started = Instant::now();
        let text = cmd!(
            sh,
            "/usr/bin/time -f TIME-MAXRSS=%M curl -sS -o {dest} {url}"
        )
        .quiet()
        .read_stderr()
        .context("running curl")?;
        let curl = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let sum = cmd!(sh, "sha256sum {dest}").quiet().read()?;
        let sha_s = started.elapsed().as_secs_f64();
        if !sum.starts_with(&sha) {
            bail!("curl fetched something else: {sum}");
        }
        result.curl_s.push(curl + sha_s);
        result.sha_s.push(sha_s);
        result.curl_rss_kib.push(max_rss_kib(&text));
        let _ = std::fs::remove_file(&dest);
        let _ = std::fs::remove_file(&result_file);
    }
    Ok(result)
}

/// Where the child writes its [`ChildResult`]: `DEST.result`.
fn result_path(dest: &Path) -> PathBuf {
    let mut path = dest.as_os_str().to_owned();
    path.push(".result");
    PathBuf::from(path)
}

/// `bench --fetch-child URL DEST SHA256`: one fetch through diskless::image::fetch, as the
/// node does it; the figures go to `DEST.result` so that stderr stays /usr/bin/time's.
pub(super) fn child(args: &[OsString]) -> Result<()> {
    use diskless::image::fetch::{Job, fetch_to_file};
    use diskless::image::http::{HttpLimits, HttpTransport};
    use diskless::retry::RetryPolicy;
    let [url, dest, sha] = args else {
        bail!("usage: bench {CHILD_FLAG} URL DEST SHA256");
    };
    let url = url.to_string_lossy().into_owned();
    let dest = PathBuf::from(dest);
    let sha = sha.to_string_lossy();
    let expected = diskless::hex::parse_sha256(&sha).map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = RetryPolicy::with_deadline(Duration::from_secs(300));
    let transport = HttpTransport::new(
        None,
        HttpLimits::default(),
        diskless::image::tls::Clock::system(Default::default()),
    );
    let sources = [url];
    let job = Job {
        sources: &sources,
        dest: &dest,
        expected: Some(expected),
        ram_budget: None,
        limit: None,
    };
    let fetched =
        fetch_to_file(&transport, &job, &policy, |_| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
    let result = ChildResult {
        seconds: fetched.elapsed.as_secs_f64(),
        bytes: fetched.bytes,
    };
    std::fs::write(result_path(&dest), serde_json::to_string(&result)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_reports_and_result_files_are_read_back() {
        assert_eq!(max_rss_kib("some curl noise\nTIME-MAXRSS=10432\n"), 10432);
        assert_eq!(max_rss_kib("Command exited with non-zero status 1\n"), 0);
        assert_eq!(
            result_path(Path::new("target/bench/fetched.bin")),
            Path::new("target/bench/fetched.bin.result")
        );
        let json = serde_json::to_string(&ChildResult {
            seconds: 0.5,
            bytes: 268_435_456,
        })
        .expect("serializes");
        let back: ChildResult = serde_json::from_str(&json).expect("parses");
        assert_eq!((back.seconds, back.bytes), (0.5, 268_435_456));
    }
}
