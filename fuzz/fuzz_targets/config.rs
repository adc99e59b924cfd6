//! Any bytes as /proc/cmdline, through the tokenizer into the typed configuration, as PID 1
//! reads it. Reading returns, never panics; the failure policy stands whatever the rest says;
//! an error names a key that is on the line. Every value is also tried as a host name
//! template and as a MAC (`diskless.hostname=`, `diskless.node.dir=`, `BOOTIF=` are admin
//! input): a template that parses renders for every MAC, and a MAC prints back to itself;
//! every value is also tried as an archive URL template (`diskless.config=`, `apkovl=`).
#![no_main]

use diskless::cmdline::config::{self, BootConfig};
use diskless::cmdline::config_archives::{UrlTemplate, Values};
use diskless::cmdline::{ip, parse_bytes};
use diskless::identity::{HostnameTemplate, Mac, validate_hostname};
use libfuzzer_sys::fuzz_target;

fn check_template(text: &str, mac: &Mac, given: Option<&str>) {
    let Ok(template) = HostnameTemplate::parse(text) else {
        return;
    };
    let rendered = template.render(mac, given);
    if text != "dhcp" && !text.contains("{dhcp}") {
        // parse() promises: without {dhcp}, one MAC standing for all, it renders for every MAC.
        let name = rendered.unwrap_or_else(|e| panic!("{text:?} parsed but fails for {mac}: {e}"));
        assert_eq!(validate_hostname(&name), Ok(()), "{text:?} -> {name:?}");
    } else if let Ok(name) = rendered {
        assert_eq!(validate_hostname(&name), Ok(()), "{text:?} -> {name:?}");
    }
}

/// A `diskless.config=`/`apkovl=` URL that parses renders for every node with a product
/// UUID into an http(s) URL with no placeholder braces left.
fn check_url_template(text: &str, mac: &Mac) {
    let Ok(template) = UrlTemplate::parse(text.strip_prefix('?').unwrap_or(text)) else {
        return;
    };
    let mac = mac.to_string();
    let values = Values {
        mac: &mac,
        hostname: "worker-64e59a",
        ip: "10.0.2.15",
        uuid: Some("4C4C4544-0042-3510-8054-B2C04F4E3432"),
    };
    let url = template
        .render(&values)
        .unwrap_or_else(|e| panic!("{text:?} parsed but fails to render: {e}"));
    assert!(
        url.starts_with("http://") || url.starts_with("https://"),
        "{url}"
    );
    assert!(!url.contains(['{', '}']), "{text:?} -> {url:?}");
}

fn check_mac(text: &str) {
    if let Ok(mac) = text.parse::<Mac>() {
        assert_eq!(mac.to_string().parse::<Mac>(), Ok(mac), "{text:?}");
        assert_eq!(mac.hex12().parse::<Mac>(), Ok(mac), "{text:?}");
        assert_eq!(mac.sysfs_address(), format!("{mac}\n"));
    }
    if let Ok(mac) = Mac::from_bootif(text) {
        let bootif = format!("01-{}", mac.to_string().replace(':', "-"));
        assert_eq!(Mac::from_bootif(&bootif), Ok(mac), "{text:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let params = parse_bytes(data);
    let (policy, config) = config::read(&params);
    assert_eq!(BootConfig::from_params(&params), config);
    let _ = config::blacklist(&params);
    match &config {
        Ok(config) => {
            assert_eq!(config.on_failure, policy);
            // The ip= kept is the last one, and it is what its text says.
            assert_eq!(config.ip.is_some(), config.ip_given.is_some());
            if let (Some(parsed), Some(given)) = (&config.ip, &config.ip_given) {
                assert_eq!(ip::parse(given).as_ref(), Ok(parsed));
            }
            assert!(config.retry_secs > 0 && config.link_timeout_secs > 0);
            assert!(config.dhcp_timeout_secs > 0);
        }
        Err(error) => {
            assert!(
                params.iter().any(|p| p.key == error.key),
                "the error names a key not on the line: {error}"
            );
            assert!(!error.to_string().is_empty());
        }
    }
    let mut mac = [0u8; 6];
    for (slot, byte) in mac.iter_mut().zip(data.iter().rev()) {
        *slot = *byte;
    }
    let mac = Mac(mac);
    let given = params.first().and_then(|p| p.value.as_deref());
    for param in &params {
        for text in [Some(param.key.as_str()), param.value.as_deref()]
            .into_iter()
            .flatten()
        {
            check_template(text, &mac, given);
            check_mac(text);
            check_url_template(text, &mac);
        }
    }
});
