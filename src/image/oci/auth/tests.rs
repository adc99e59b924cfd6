use super::*;

fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
    Challenge {
        scheme: scheme.to_owned(),
        params: params
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn challenges_as_registries_send_them() {
    let cases: Vec<(&str, Vec<Challenge>)> = vec![
        (
            // Docker Hub's, verbatim.
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
            vec![challenge(
                "bearer",
                &[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:library/busybox:pull"),
                ],
            )],
        ),
        (
            // distribution's htpasswd mode.
            r#"Basic realm="basic-realm""#,
            vec![challenge("basic", &[("realm", "basic-realm")])],
        ),
        (
            r#"Basic realm="a \"quoted\" realm", Bearer Realm = "https://t/tok" , service=x"#,
            vec![
                challenge("basic", &[("realm", "a \"quoted\" realm")]),
                challenge("bearer", &[("realm", "https://t/tok"), ("service", "x")]),
            ],
        ),
        ("Negotiate", vec![challenge("negotiate", &[])]),
        (
            r#"Bearer realm="https://t/token",scope="repository:a:pull,push""#,
            vec![challenge(
                "bearer",
                &[
                    ("realm", "https://t/token"),
                    ("scope", "repository:a:pull,push"),
                ],
            )],
        ),
    ];
    for (header, want) in cases {
        assert_eq!(parse_challenges(header).unwrap(), want, "{header}");
    }
    for bad in ["", " , ", r#"Bearer realm="open"#, "Bearer realm=", "=x"] {
        assert!(parse_challenges(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn token_urls_carry_service_and_scope() {
    let c = challenge(
        "bearer",
        &[
            ("realm", "http://10.0.2.2:5002/token"),
            ("service", "test registry"),
        ],
    );
    assert_eq!(
        token_url(&c, "node/root").unwrap(),
        "http://10.0.2.2:5002/token?service=test%20registry&scope=repository%3Anode%2Froot%3Apull"
    );
    let c = challenge(
        "bearer",
        &[
            ("realm", "https://t/token?x=1"),
            ("scope", "repository:a:pull"),
        ],
    );
    assert_eq!(
        token_url(&c, "ignored").unwrap(),
        "https://t/token?x=1&scope=repository%3Aa%3Apull"
    );
    assert!(token_url(&challenge("bearer", &[]), "a").is_err());
    assert!(token_url(&challenge("bearer", &[("realm", "file:///x")]), "a").is_err());
}

#[test]
fn tokens() {
    assert_eq!(
        parse_token(br#"{"token":"abc.def","expires_in":300}"#).unwrap(),
        "abc.def"
    );
    assert_eq!(parse_token(br#"{"access_token":"xyz"}"#).unwrap(), "xyz");
    for bad in [
        &br#"{}"#[..],
        br#"{"token":""}"#,
        br#"{"token":"a b"}"#,
        b"<html>",
        br#"{"token":"a\r\nX: y"}"#,
    ] {
        assert!(
            parse_token(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn credentials_by_scheme_and_host() {
    let file = br#"{"auths":{
        "10.0.2.2:5000":{"auth":"dXNlcjpwYXNz"},
        "https://index.docker.io/v1/":{"auth":"aHViOmh1Yg=="},
        "Registry.Lab":{"auth":"cjpy","email":"x"},
        "https://secure.lab":{"auth":"czpz"},
        "http://plain.lab:5000":{"auth":"cDpw"},
        "HTTP://Both.Lab":{"auth":"aHR0cA=="},
        "both.lab":{"auth":"aHR0cHM="}}}"#;
    let c = Credentials::parse(file).unwrap();
    let registry = |scheme, host: &str| Registry {
        scheme,
        host: host.to_owned(),
    };
    let (https, http) = (Scheme::Https, Scheme::Http);
    // (scheme, host as the reference gives it, what is sent)
    let cases = [
        // No scheme in the key, as podman login writes it: https only.
        (https, "10.0.2.2:5000", Login::Given("dXNlcjpwYXNz")),
        (http, "10.0.2.2:5000", Login::HttpsOnly),
        (https, "registry.lab", Login::Given("cjpy")),
        (http, "registry.lab", Login::HttpsOnly),
        (https, "docker.io", Login::Given("aHViOmh1Yg==")),
        (http, "docker.io", Login::HttpsOnly),
        // https:// named: the same.
        (https, "secure.lab", Login::Given("czpz")),
        (http, "secure.lab", Login::HttpsOnly),
        // http:// named: plain HTTP allowed, for that host and port only.
        (http, "plain.lab:5000", Login::Given("cDpw")),
        (https, "plain.lab:5000", Login::None),
        (http, "plain.lab", Login::None),
        (http, "plain.lab:5001", Login::None),
        // Each scheme its own login.
        (http, "both.lab", Login::Given("aHR0cA==")),
        (https, "both.lab", Login::Given("aHR0cHM=")),
        // Another port is another registry.
        (https, "10.0.2.2:5001", Login::None),
        (http, "10.0.2.2:5001", Login::None),
    ];
    for (scheme, host, want) in cases {
        assert_eq!(c.login(&registry(scheme, host)), want, "{scheme:?} {host}");
    }
    let debug = format!("{c:?}");
    assert!(!debug.contains("dXNl"), "Debug shows no secret");
    assert!(
        debug.contains("\"https://10.0.2.2:5000\"") && debug.contains("\"http://plain.lab:5000\""),
        "{debug}"
    );
    for (bad, want) in [
        (
            &br#"{"auths":{"h":{"identitytoken":"x"}}}"#[..],
            "has no \"auth\"",
        ),
        (br#"{"auths":{"h":{"auth":"a b"}}}"#, "not base64"),
        (br#"{"credHelpers":{}}"#, "not an auth.json"),
    ] {
        let err = Credentials::parse(bad).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
}
