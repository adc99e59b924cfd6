use super::request::{Request, parse_request};
use super::*;

#[test]
fn ranges_follow_rfc_9110() {
    use RangeRequest::*;
    assert_eq!(parse_range(None, 10), Full);
    assert_eq!(
        parse_range(Some("bytes=0-"), 10),
        Partial { start: 0, end: 9 }
    );
    assert_eq!(
        parse_range(Some("bytes=4-"), 10),
        Partial { start: 4, end: 9 }
    );
    assert_eq!(
        parse_range(Some("bytes=2-5"), 10),
        Partial { start: 2, end: 5 }
    );
    assert_eq!(
        parse_range(Some(" bytes=2-5 "), 10),
        Partial { start: 2, end: 5 }
    );
    // The last byte position is clamped to the file.
    assert_eq!(
        parse_range(Some("bytes=8-100"), 10),
        Partial { start: 8, end: 9 }
    );
    assert_eq!(
        parse_range(Some("bytes=-3"), 10),
        Partial { start: 7, end: 9 }
    );
    assert_eq!(
        parse_range(Some("bytes=-30"), 10),
        Partial { start: 0, end: 9 }
    );
    assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=10-12"), 10), Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
    // Ignored, as the RFC says: served whole.
    assert_eq!(parse_range(Some("bytes=5-2"), 10), Full);
    assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Full);
    assert_eq!(parse_range(Some("items=0-1"), 10), Full);
    assert_eq!(parse_range(Some("bytes=x-"), 10), Full);
    assert_eq!(parse_range(Some("bytes=+1-2"), 10), Full);
    assert_eq!(parse_range(Some("bytes=-"), 10), Full);
}

#[test]
fn request_heads_parse_method_target_range_and_authorization() {
    let req = parse_request(
        "GET /root.squashfs HTTP/1.1\r\nHost: x\r\nrange: bytes=5-\r\nAuthorization: Basic eDp5\r\n\r\n",
    )
    .expect("valid request");
    assert_eq!(
        req,
        Request {
            method: "GET".into(),
            target: "/root.squashfs".into(),
            range: Some("bytes=5-".into()),
            authorization: Some("Basic eDp5".into()),
        }
    );
    assert_eq!(parse_request("GET root HTTP/1.1\r\n\r\n"), None);
    assert_eq!(parse_request("GET /x SPDY\r\n\r\n"), None);
    assert_eq!(parse_request("\r\n\r\n"), None);
}

#[test]
fn counted_behaviours_are_used_up() {
    let mut rule = Rule::new(Behavior::FailFirst {
        count: 2,
        status: 503,
    });
    assert!(take(&mut rule).is_some());
    assert!(take(&mut rule).is_some());
    assert_eq!(take(&mut rule), None);
    let mut rule = Rule::new(Behavior::CorruptByte(3));
    assert!(take(&mut rule).is_some());
    assert!(take(&mut rule).is_some());
    let mut rule = Rule::new(Behavior::Normal);
    assert_eq!(take(&mut rule), None);
}

#[test]
fn serves_a_file_to_a_tcp_client() {
    let server = HttpServer::serve_files(BTreeMap::from([("a".to_owned(), b"hello".to_vec())]))
        .expect("server starts");
    let mut client = TcpStream::connect(server.addr()).expect("connects");
    client
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("sends");
    let mut response = String::new();
    client.read_to_string(&mut response).expect("reads");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Content-Length: 5\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
    assert_eq!(
        server.url_for("a"),
        format!("http://10.0.2.2:{}/a", server.port())
    );
}
