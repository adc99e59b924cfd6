//! Twenty nodes fetch one image at once from a server that refuses connections while it
//! "restarts" and then keeps cutting transfers: every node ends with the right hash, cut
//! transfers resume with Range, and the nodes' retry delays are spread out, not in lockstep.

mod fetch_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use diskless::image::fetch::{self, Event, Job};
use diskless::image::http::{HttpLimits, HttpTransport};
use diskless::image::tls::Clock;
use diskless::retry::{self, RetryPolicy};
use fetch_common::{pseudo_random, scratch, sha256};
use testbed::{Behavior, HttpServer};

const NODES: u8 = 20;

#[test]
fn twenty_nodes_against_a_flaky_server_all_get_the_image_and_back_off_apart() {
    let data = Arc::new(pseudo_random(4 << 20, 7));
    let want = sha256(&data);
    let server = Arc::new(
        HttpServer::serve_files(BTreeMap::from([("image".to_owned(), data.to_vec())]))
            .expect("server"),
    );
    // Restarting: the first connections are closed unanswered (every node's first try, and
    // some second tries). Then it serves, but the first 15 transfers break after 1 MiB.
    server.set_behavior(Behavior::RefuseFirst(u32::from(NODES) + 5));
    server.set_behavior_for(
        "image",
        Behavior::CutFirst {
            count: 15,
            after: 1 << 20,
        },
    );
    let url = server.host_url_for("image");
    let dir = scratch("flaky");

    let nodes: Vec<_> = (0..NODES)
        .map(|i| {
            let url = url.clone();
            let dest = dir.join(format!("node{i}.img"));
            std::thread::spawn(move || {
                // Each node seeds its jitter from its own MAC, as the init does.
                let mac = [0x52, 0x54, 0x00, 0x12, 0x34, i];
                let policy = RetryPolicy {
                    first_delay: Duration::from_millis(400),
                    max_delay: Duration::from_millis(3200),
                    ..RetryPolicy::with_deadline(Duration::from_secs(60))
                        .seeded(retry::jitter_seed(&mac, 0))
                };
                let limits = HttpLimits {
                    stall: Duration::from_secs(10),
                    ..HttpLimits::default()
                };
                let transport = HttpTransport::new(None, limits, Clock::system(Default::default()));
                let sources = vec![url];
                let job = Job {
                    sources: &sources,
                    dest: &dest,
                    expected: Some(want),
                    ram_budget: None,
                    limit: None,
                };
                let mut delays = Vec::new();
                let result = fetch::fetch_to_file(&transport, &job, &policy, |event| {
                    if let Event::Failed { delay, .. } = event {
                        delays.push(delay);
                    }
                });
                let on_disk = std::fs::read(&dest).ok();
                (result, delays, on_disk)
            })
        })
        .collect();

    let mut first_delays = Vec::new();
    let mut resumed = 0;
    for (i, node) in nodes.into_iter().enumerate() {
        let (result, delays, on_disk) = node.join().expect("node thread");
        let fetched = result.unwrap_or_else(|e| panic!("node {i}: {e}"));
        assert_eq!(fetched.sha256, want, "node {i}");
        assert_eq!(on_disk.as_deref(), Some(data.as_slice()), "node {i}");
        resumed += fetched.resumes;
        assert!(!delays.is_empty(), "node {i} was never refused");
        first_delays.push(delays[0]);
    }

    // Cut transfers were resumed, not restarted: the log shows ranged requests answered 206.
    let resumes = usize::try_from(resumed).unwrap_or(usize::MAX);
    let requests = server.requests_when(Duration::from_secs(5), |log| {
        log.iter().filter(|r| r.status == Some(206)).count() >= resumes
    });
    let ranged: Vec<_> = requests
        .iter()
        .filter(|r| r.range.is_some() && r.status == Some(206))
        .collect();
    assert!(
        ranged.len() >= 10 && resumed >= 10,
        "{resumed} resumes, ranged requests: {ranged:?}"
    );
    assert!(
        ranged
            .iter()
            .all(|r| r.range.as_deref() != Some("bytes=0-")),
        "{ranged:?}"
    );

    // Spread, not lockstep: the nodes' first waits differ and cover much of [200, 400] ms.
    first_delays.sort();
    let mut distinct = first_delays.clone();
    distinct.dedup();
    let spread = first_delays[first_delays.len() - 1] - first_delays[0];
    eprintln!(
        "first retry delays (ms): {:?}",
        first_delays
            .iter()
            .map(Duration::as_millis)
            .collect::<Vec<_>>()
    );
    assert_eq!(distinct.len(), first_delays.len(), "{first_delays:?}");
    assert!(
        spread >= Duration::from_millis(120),
        "spread {spread:?}: {first_delays:?}"
    );
    assert!(
        first_delays
            .iter()
            .all(|d| *d >= Duration::from_millis(200) && *d <= Duration::from_millis(400)),
        "{first_delays:?}"
    );
    // Lockstep would put all twenty in one instant; here no 10 ms window holds more than 3.
    // (The seeds come from fixed MACs, so this is deterministic, not a statistical hope.)
    let crowded = first_delays
        .iter()
        .map(|start| {
            first_delays
                .iter()
                .filter(|d| **d >= *start && **d < *start + Duration::from_millis(10))
                .count()
        })
        .max()
        .unwrap_or_default();
    assert!(
        crowded <= 3,
        "{crowded} nodes within 10 ms: {first_delays:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
