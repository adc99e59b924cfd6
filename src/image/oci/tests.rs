use super::*;
use crate::cmdline::oci::parse_ref;
use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

const D: &str = "b8b6b771bec4a7b7a5c8e6e8f0bac68180bb145405517011da044c2d5fec5441";

fn sha(byte: u8) -> [u8; 32] {
    [byte; 32]
}

#[test]
fn mirrors_come_first_with_their_namespace_and_duplicates_go() {
    let image = parse_ref(&format!("http://10.0.2.2:5000/node/root@sha256:{D}")).unwrap();
    let mirrors = [
        "oci:http://10.0.2.2:5001".to_owned(),
        "https://harbor.lab/proxy".to_owned(),
        "oci:http://10.0.2.2:5000".to_owned(),
    ];
    let list = endpoints(&image, &mirrors);
    let urls: Vec<String> = list.iter().map(|e| e.blob_url("sha256:x")).collect();
    assert_eq!(
        urls,
        [
            "http://10.0.2.2:5001/v2/node/root/blobs/sha256:x",
            "https://harbor.lab/v2/proxy/node/root/blobs/sha256:x",
            "http://10.0.2.2:5000/v2/node/root/blobs/sha256:x",
        ]
    );
    assert_eq!(
        list[0].manifest_url("v1"),
        "http://10.0.2.2:5001/v2/node/root/manifests/v1"
    );
}

#[test]
fn which_digest_holds_and_what_is_said() {
    let https_digest = parse_ref(&format!("registry.lab/root@sha256:{D}")).unwrap();
    let http_digest = parse_ref(&format!("http://10.0.2.2:5000/root@sha256:{D}")).unwrap();
    let https_tag = parse_ref("registry.lab/root:v1").unwrap();
    let http_tag = parse_ref("http://10.0.2.2:5000/root:v1").unwrap();
    let d = hex::parse_sha256(D).unwrap();
    // (image, pin, diskless.sha256, expected, its source, warnings containing these)
    type Case<'a> = (
        &'a ImageRef,
        Option<[u8; 32]>,
        Option<[u8; 32]>,
        Option<[u8; 32]>,
        Option<HashSource>,
        Vec<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            &https_digest,
            None,
            None,
            Some(d),
            Some(HashSource::Reference),
            vec![],
        ),
        (
            &http_digest,
            None,
            None,
            Some(d),
            Some(HashSource::Reference),
            vec!["INSECURE: pulling over plain HTTP (http://10.0.2.2:5000)"],
        ),
        (
            &http_digest,
            Some(d),
            None,
            Some(d),
            Some(HashSource::Pin),
            vec![],
        ),
        (
            &https_digest,
            Some(sha(1)),
            None,
            Some(sha(1)),
            Some(HashSource::Pin),
            vec!["the pin wins"],
        ),
        (&https_tag, None, None, None, None, vec!["is not pinned"]),
        (
            &http_tag,
            None,
            None,
            None,
            None,
            vec!["is not pinned", "INSECURE"],
        ),
        (
            &https_tag,
            None,
            Some(sha(2)),
            Some(sha(2)),
            Some(HashSource::Cmdline),
            vec![],
        ),
        (
            &https_tag,
            Some(sha(3)),
            None,
            Some(sha(3)),
            Some(HashSource::Pin),
            vec![],
        ),
    ];
    for (image, pin, cmdline, want, source, said) in cases {
        let list = endpoints(image, &[]);
        let (expected, warnings) = expected_manifest(image, pin, cmdline, &list);
        assert_eq!(expected.map(|e| e.sha256), want, "{image:?}");
        assert_eq!(expected.map(|e| e.source), source, "{image:?}");
        assert_eq!(
            warnings.len(),
            usize::from(!said.is_empty()),
            "{warnings:?}"
        );
        for s in said {
            assert!(warnings.iter().any(|w| w.contains(s)), "{s}: {warnings:?}");
        }
    }
}

#[test]
fn layers_wait_beside_the_image_in_ram() {
    let dest = Path::new("/run/diskless/root.squashfs");
    assert_eq!(layer_path(dest, 0), Path::new("/run/diskless/layer0.blob"));
    assert_eq!(
        layer_path(dest, 12),
        Path::new("/run/diskless/layer12.blob")
    );
}

/// Counts the bytes a body gave, for the test to see how much a source got into RAM.
struct Counting {
    inner: Box<dyn Read>,
    read: Rc<Cell<u64>>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// One registry's answer to a blob request: these bytes, with or without a Content-Length.
struct Served {
    url: String,
    bytes: Vec<u8>,
    announce: bool,
    requests: Cell<u32>,
    read: Rc<Cell<u64>>,
}

struct Fake(Vec<Served>);

impl Transport for Fake {
    fn get(
        &self,
        url: &str,
        _resume: Option<crate::image::http::Resume<'_>>,
        _timeout: std::time::Duration,
    ) -> Result<crate::image::http::Response, Failure> {
        let served = self
            .0
            .iter()
            .find(|s| s.url == url)
            .expect("a scripted URL");
        served.requests.set(served.requests.get() + 1);
        Ok(crate::image::http::Response {
            status: 200,
            content_length: served.announce.then_some(served.bytes.len() as u64),
            content_range: None,
            validator: None,
            body: Box::new(Counting {
                inner: Box::new(std::io::Cursor::new(served.bytes.clone())),
                read: Rc::clone(&served.read),
            }),
        })
    }
}

#[test]
fn a_mirror_sending_more_than_the_descriptor_is_dropped_for_the_next() {
    use crate::image::http::{HttpLimits, HttpTransport};
    use crate::image::tls::Clock;
    use crate::retry::RetryPolicy;
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let descriptor = Descriptor {
        media_type: "application/vnd.diskless.squashfs".to_owned(),
        sha256: crate::sha256::digest(&blob),
        size: blob.len() as u64,
        platform: None,
    };
    let image = parse_ref(&format!("http://origin.lab/node/root@sha256:{D}")).unwrap();
    let list = endpoints(&image, &["oci:http://mirror.lab".to_owned()]);
    let digest = descriptor.digest();
    // Far less than the RAM left, far more than the blob: what fills /run at boot.
    let flood = vec![0xa5; 8 << 20];
    let dir = std::env::temp_dir().join(format!("diskless-oci-oversize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let session = Session {
        trust: crate::image::trust::Trust::default(),
        transport: HttpTransport::new(
            None,
            HttpLimits::default(),
            Clock::system(Default::default()),
        ),
        policy: RetryPolicy {
            first_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(4),
            ..RetryPolicy::with_deadline(std::time::Duration::from_secs(5))
        },
        ram_budget: Some(64 << 20),
    };
    let wrap = |cause: Cause| ImageError::Pull {
        image: image.describe(),
        cause,
    };
    for announce in [false, true] {
        let serve = |url: String, bytes: &[u8]| Served {
            url,
            bytes: bytes.to_vec(),
            announce,
            requests: Cell::new(0),
            read: Rc::new(Cell::new(0)),
        };
        let fake = Fake(vec![
            serve(list[0].blob_url(&digest), &flood),
            serve(list[1].blob_url(&digest), &blob),
        ]);
        let dest = dir.join("root.squashfs");
        let puller = Puller {
            session: &session,
            dest: &dest,
            transport: &fake,
            endpoints: &list,
            wrap: &wrap,
        };
        let pulled = puller
            .blob("layer", &descriptor, &dest)
            .unwrap_or_else(|e| panic!("announce {announce}: {e}"));
        assert_eq!(pulled.fetched.url, list[1].blob_url(&digest), "{announce}");
        assert_eq!(std::fs::read(&dest).unwrap(), blob);
        let (mirror, origin) = (&fake.0[0], &fake.0[1]);
        assert_eq!(
            (mirror.requests.get(), origin.requests.get()),
            (1, 1),
            "the mirror is dropped after its first answer (announce {announce})"
        );
        // At most one read past the descriptor's size, not everything the RAM could hold.
        assert!(
            mirror.read.get() <= descriptor.size + (256 << 10),
            "the mirror got {} bytes into RAM for a blob of {} (announce {announce})",
            mirror.read.get(),
            descriptor.size
        );
    }
}
