//! NFS mounts through mount(2), without mount.nfs: the server resolved, the option string
//! the kernel wants ([`crate::cmdline::nfs`]), and transient failures retried with this
//! node's jitter until `rd.retry=`. A missing export or a refusal is final at once.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::RootError;
use crate::cmdline::nfs::{NfsMount, NfsShare, NfsVersion};
use crate::identity::Mac;
use crate::net::Configured;
use crate::retry::{self, RetryPolicy};
use crate::sys::{self, MountOptions};

/// What every NFS mount of one boot shares: our address, and how long to keep trying.
#[derive(Debug, Clone, Copy)]
pub struct NfsContext {
    pub client: IpAddr,
    /// The server named by `ip=` (later: DHCP's next-server), for shares without one.
    pub default_server: Option<IpAddr>,
    pub deadline: Instant,
    /// Backoff between tries, with this node's jitter so a cluster that lost its server
    /// does not come back in lockstep.
    pub retry: RetryPolicy,
    /// The version of per-node and shared shares whose options name none
    /// ([`crate::plan::Root::share_default_version`]).
    pub share_default: NfsVersion,
}

impl NfsContext {
    /// This boot's: our address and the network's default server, `rd.retry=` seconds to
    /// keep trying, with this node's jitter.
    pub fn new(
        net: &Configured,
        mac: &Mac,
        retry_secs: u32,
        share_default: NfsVersion,
    ) -> NfsContext {
        let retry_for = Duration::from_secs(u64::from(retry_secs));
        NfsContext {
            client: IpAddr::V4(net.address),
            default_server: net.server,
            deadline: Instant::now() + retry_for,
            retry: RetryPolicy::with_deadline(retry_for)
                .seeded(retry::jitter_seed(&mac.0, u64::from(net.address.to_bits()))),
            share_default,
        }
    }

    /// Resolves the share's server (an address, or a name through the initramfs's resolver).
    pub fn server_of(&self, share: &NfsShare) -> Result<IpAddr, RootError> {
        let Some(host) = share.server.as_deref() else {
            return self.default_server.ok_or_else(|| RootError::NfsNoServer {
                share: share.describe(),
            });
        };
        if let Ok(addr) = host.parse::<IpAddr>() {
            return Ok(addr);
        }
        let addrs = sys::resolve_ipv4(host).map_err(|err| RootError::Resolve {
            host: host.to_owned(),
            reason: err.to_string(),
        })?;
        addrs
            .first()
            .map(|addr| IpAddr::V4(*addr))
            .ok_or_else(|| RootError::Resolve {
                host: host.to_owned(),
                reason: "no IPv4 address".to_owned(),
            })
    }

    /// Mounts `share` on `target`, retrying transient failures (server not up yet, network
    /// still settling) until the deadline. A missing export or a refusal is final at once.
    /// NFSv4 without a minor version tries 4.2, 4.1 and 4.0 in turn, as mount.nfs does.
    pub fn mount(
        &self,
        share: &NfsShare,
        default: NfsVersion,
        target: &Path,
        read_only: bool,
    ) -> Result<(), RootError> {
        let server = self.server_of(share)?;
        let specs = share.mount_specs(default, server, self.client, read_only);
        let mut tried = Vec::new();
        for (n, spec) in specs.iter().enumerate() {
            let last = n + 1 == specs.len();
            match self.mount_one(spec, target) {
                Err(Failed::VersionRefused(_)) if !last => {
                    tried.push(spec.version.clone());
                    log::info!(
                        "mounting NFS {}: the server does not speak NFS {}; trying the next version",
                        spec.source,
                        spec.version
                    );
                }
                Err(Failed::VersionRefused(err) | Failed::Final(err)) => return Err(err),
                Ok(()) => {
                    if !tried.is_empty() {
                        log::info!(
                            "NFS {} negotiated after {} was refused",
                            spec.version,
                            tried.join(", ")
                        );
                    }
                    return Ok(());
                }
            }
        }
        // mount_specs gives at least one spec, and the last one's failure returned above.
        Err(RootError::NfsNoServer {
            share: share.describe(),
        })
    }

    /// One version of the mount, retried while the failure is transient.
    fn mount_one(&self, spec: &NfsMount, target: &Path) -> Result<(), Failed> {
        let options = MountOptions {
            read_only: spec.read_only,
            ..MountOptions::default()
        };
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let err = match sys::mount(&spec.source, target, spec.fstype, options, &spec.data) {
                Ok(()) => {
                    log::info!(
                        "mounted NFS {} {} ({}, {}) on {} in {:.0} ms",
                        spec.version,
                        spec.source,
                        spec.data,
                        if spec.read_only { "ro" } else { "rw" },
                        target.display(),
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                    return Ok(());
                }
                Err(err) => err,
            };
            let delay = self.retry.delay(attempt);
            let version_refused = err.raw_os_error() == Some(nix::libc::EPROTONOSUPPORT);
            if version_refused || !retryable(&err) || Instant::now() + delay > self.deadline {
                let attempts = if attempt > 1 {
                    format!(" (after {attempt} attempts)")
                } else {
                    String::new()
                };
                let failure = RootError::NfsMount {
                    source_spec: spec.source.clone(),
                    options: spec.data.clone(),
                    target: target.to_path_buf(),
                    cause: explain(err),
                    attempts,
                };
                return Err(if version_refused {
                    Failed::VersionRefused(failure)
                } else {
                    Failed::Final(failure)
                });
            }
            log::warn!(
                "mounting NFS {}: {err}; retrying in {:.1} s",
                spec.source,
                delay.as_secs_f64()
            );
            std::thread::sleep(delay);
        }
    }
}

/// Why one version of a mount failed.
enum Failed {
    /// The server does not speak this protocol version: the next one may do.
    VersionRefused(RootError),
    Final(RootError),
}

fn retryable(err: &io::Error) -> bool {
    use nix::libc::{ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH, EIO, ENETUNREACH, ETIMEDOUT};
    matches!(
        err.raw_os_error(),
        Some(ECONNREFUSED | EHOSTDOWN | EHOSTUNREACH | EIO | ENETUNREACH | ETIMEDOUT)
    )
}

/// The kernel's bare errno says little; name the usual cause.
fn explain(err: io::Error) -> io::Error {
    let hint = match err.raw_os_error() {
        Some(nix::libc::ENOENT) => "the server does not export that path",
        Some(nix::libc::EACCES) | Some(nix::libc::EPERM) => "the server refused this client",
        Some(nix::libc::ECONNREFUSED) => "nothing answers on the NFS port",
        Some(nix::libc::ETIMEDOUT) => "the server did not answer",
        Some(nix::libc::ENODEV) => "no NFS support in this kernel or image",
        Some(nix::libc::EPROTONOSUPPORT) => "the server does not speak this NFS version",
        _ => return err,
    };
    io::Error::new(err.kind(), format!("{err}: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_nfs_errors_get_a_plain_cause() {
        let cases = [
            (nix::libc::ENOENT, "the server does not export that path"),
            (nix::libc::ECONNREFUSED, "nothing answers on the NFS port"),
            (nix::libc::EACCES, "the server refused this client"),
        ];
        for (errno, hint) in cases {
            let text = explain(io::Error::from_raw_os_error(errno)).to_string();
            assert!(text.contains(hint), "{text}");
        }
        assert!(retryable(&io::Error::from_raw_os_error(
            nix::libc::ETIMEDOUT
        )));
        assert!(
            !retryable(&io::Error::from_raw_os_error(nix::libc::ENOENT)),
            "a missing export will not appear"
        );
    }
}
