//! What can stop the boot: each module's own error, converted here once, its cause kept
//! ([`std::error::Error::source`]). Every message carries the path, URL or the admin's own
//! value, and names the key to change where a key decides it. PID 1 logs an error once, at
//! the top, with the step that was running (`diskless: FATAL <step>: <cause>`).

use std::io;

use crate::cmdline::config::ConfigError;
use crate::identity::HostnameError;
use crate::image::error::ImageError;
use crate::kmod::error::KmodError;
use crate::net::error::NetError;
use crate::plan::PlanError;
use crate::root::error::RootError;

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("mounting {fstype} on {target}: {source}")]
    EarlyMount {
        fstype: &'static str,
        target: &'static str,
        source: io::Error,
    },
    #[error("reading /proc/cmdline: {0}")]
    ReadCmdline(#[source] io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Modules(#[from] KmodError),
    #[error(transparent)]
    Network(#[from] NetError),
    #[error("{key}: {source}")]
    Hostname {
        key: &'static str,
        source: HostnameError,
    },
    #[error("setting host name {name}: {source}")]
    SetHostname { name: String, source: io::Error },
    // Boxed: the largest errors would otherwise make every step's result as large.
    #[error(transparent)]
    Image(Box<ImageError>),
    #[error(transparent)]
    Root(Box<RootError>),
}

impl From<ImageError> for BootError {
    fn from(err: ImageError) -> BootError {
        BootError::Image(Box::new(err))
    }
}

impl From<RootError> for BootError {
    fn from(err: RootError) -> BootError {
        BootError::Root(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::image::error::Cause;
    use crate::image::fetch::FetchError;

    /// Each module's error reads the same through the boot's, and its cause stays reachable.
    #[test]
    fn module_errors_keep_their_words_and_their_cause() {
        let denied = || io::Error::from_raw_os_error(nix::libc::EACCES);
        let cases: Vec<(BootError, &str, bool)> = vec![
            (
                PlanError::UnsupportedIp {
                    value: "ibft".into(),
                    reason: "firmware (iBFT) configuration is not read by diskless",
                }
                .into(),
                "ip=ibft: firmware (iBFT) configuration is not read by diskless",
                false,
            ),
            (
                RootError::NoInit {
                    init: "/sbin/nope".into(),
                }
                .into(),
                "init=/sbin/nope: no such program in the new root",
                false,
            ),
            (
                RootError::Storage {
                    what: "creating the node directory".into(),
                    path: "/run/diskless/node-share/n1".into(),
                    source: denied(),
                }
                .into(),
                "creating the node directory /run/diskless/node-share/n1: Permission denied",
                true,
            ),
            (
                ImageError::Fetch {
                    url: "http://h/r.sqfs".into(),
                    cause: Cause::Transfer(FetchError {
                        failures: Vec::new(),
                        attempts: 0,
                        elapsed: std::time::Duration::ZERO,
                        deadline: None,
                    }),
                }
                .into(),
                "fetching http://h/r.sqfs: ",
                true,
            ),
        ];
        for (err, start, has_source) in cases {
            let text = err.to_string();
            assert!(text.starts_with(start), "{text}");
            assert!(!text.contains("{ "), "a Debug struct in: {text}");
            assert_eq!(err.source().is_some(), has_source, "{text}");
        }
    }
}
