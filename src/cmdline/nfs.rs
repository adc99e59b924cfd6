//! NFS shares on the command line and the option string mount(2) wants for them.
//!
//! Without the mount.nfs helper the kernel needs `addr=<server IP>` in the options, for NFSv4
//! also `clientaddr=<our IP>`, and for NFSv3 `nolock` (no rpc.statd in an initramfs). Other
//! options (`vers=`, `port=`, `mountport=`, `proto=`, ...) pass through untouched.

use std::net::IpAddr;

/// Which NFS protocol a share is mounted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NfsVersion {
    V3,
    V4,
}

impl NfsVersion {
    /// The file system type for mount(2).
    pub fn fstype(self) -> &'static str {
        match self {
            NfsVersion::V3 => "nfs",
            NfsVersion::V4 => "nfs4",
        }
    }
}

/// `[<server>:]<path>` plus its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsShare {
    /// A host name, an IPv4 address, or an IPv6 address without brackets; `None` when the
    /// command line left it to the `ip=` server field or DHCP.
    pub server: Option<String>,
    pub path: String,
    pub options: Vec<String>,
}

/// A share spec that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {reason}")]
pub struct NfsParseError {
    pub text: String,
    pub reason: &'static str,
}

/// What to hand to mount(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsMount {
    pub source: String,
    pub fstype: &'static str,
    pub data: String,
    pub read_only: bool,
    /// The protocol version these options ask for (`3`, `4.1`), for the log.
    pub version: String,
}

/// The NFSv4 minor versions tried, newest first, when NFSv4 is asked for without one, as
/// mount.nfs does: mount(2) itself takes `vers=4` as 4.0.
pub const V4_MINOR_VERSIONS: [&str; 3] = ["4.2", "4.1", "4.0"];

impl NfsShare {
    /// Kernel/initramfs-tools syntax, also used by our `diskless.node=` and `diskless.mount=`:
    /// `[<server>:]<path>[,<option>...]`.
    pub fn parse_comma(text: &str) -> Result<NfsShare, NfsParseError> {
        let (location, options) = match text.split_once(',') {
            Some((location, options)) => (location, split_options(options, ',')),
            None => (text, Vec::new()),
        };
        let (server, path) = split_server(text, location)?;
        Ok(NfsShare {
            server,
            path,
            options,
        })
    }

    /// dracut syntax (after `nfs:`/`nfs4:`): `[<server>:]<path>[:<option>,<option>...]`.
    pub fn parse_dracut(text: &str) -> Result<NfsShare, NfsParseError> {
        let (server_text, rest) = split_leading_server(text);
        let (path, options) = match rest.split_once(':') {
            Some((path, options)) => (path, split_options(options, ',')),
            None => (rest, Vec::new()),
        };
        let server = server_text.map(str::to_owned);
        check_path(text, path)?;
        Ok(NfsShare {
            server,
            path: path.to_owned(),
            options,
        })
    }

    fn option_value(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find_map(|opt| opt.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.options.iter().any(|opt| opt == flag)
    }

    /// The version the options ask for (`vers=`, `nfsvers=`, `v3`, `v4`), else `default`.
    pub fn version(&self, default: NfsVersion) -> NfsVersion {
        let asked = self
            .option_value("vers")
            .or_else(|| self.option_value("nfsvers"));
        match asked {
            Some(v) if v.starts_with('4') => NfsVersion::V4,
            Some(v) if v.starts_with('3') || v.starts_with('2') => NfsVersion::V3,
            _ if self.has_flag("v4") => NfsVersion::V4,
            _ if self.has_flag("v3") => NfsVersion::V3,
            _ => default,
        }
    }

    /// Whether the options say `rw` (the last of `ro`/`rw` wins); `None` if neither.
    pub fn read_write(&self) -> Option<bool> {
        self.options
            .iter()
            .rev()
            .find_map(|opt| match opt.as_str() {
                "rw" => Some(true),
                "ro" => Some(false),
                _ => None,
            })
    }

    /// The mount(2) arguments to try in turn for this share, with the server already resolved
    /// to `server_ip`: one, or for NFSv4 without a minor version one per minor version, newest
    /// first ([`V4_MINOR_VERSIONS`]). `read_only` is the caller's decision (command line
    /// `rw`/`ro` and the share's options).
    pub fn mount_specs(
        &self,
        default: NfsVersion,
        server_ip: IpAddr,
        client_ip: IpAddr,
        read_only: bool,
    ) -> Vec<NfsMount> {
        let asked = self
            .option_value("vers")
            .or_else(|| self.option_value("nfsvers"));
        match (self.version(default), asked) {
            (NfsVersion::V4, None | Some("4")) => V4_MINOR_VERSIONS
                .iter()
                .map(|minor| self.mount_spec(default, server_ip, client_ip, read_only, minor))
                .collect(),
            (NfsVersion::V4, Some(vers)) => {
                vec![self.mount_spec(default, server_ip, client_ip, read_only, vers)]
            }
            (NfsVersion::V3, vers) => {
                vec![self.mount_spec(
                    default,
                    server_ip,
                    client_ip,
                    read_only,
                    vers.unwrap_or("3"),
                )]
            }
        }
    }

    /// The mount(2) arguments with `vers=` set to `vers`.
    fn mount_spec(
        &self,
        default: NfsVersion,
        server_ip: IpAddr,
        client_ip: IpAddr,
        read_only: bool,
        vers: &str,
    ) -> NfsMount {
        let version = self.version(default);
        let mut options: Vec<String> = self
            .options
            .iter()
            .filter(|opt| !matches!(opt.as_str(), "ro" | "rw" | "v3" | "v4"))
            .filter(|opt| !opt.starts_with("vers=") && !opt.starts_with("nfsvers="))
            .cloned()
            .collect();
        options.insert(0, format!("vers={vers}"));
        if version == NfsVersion::V3 {
            if !self.has_flag("lock") && !self.has_flag("nolock") {
                options.push("nolock".to_owned());
            }
            // Without a portmapper the MOUNT protocol must say where to go; TCP like the rest.
            if self.option_value("mountproto").is_none()
                && self.option_value("proto").is_none_or(|p| p == "tcp")
            {
                options.push("mountproto=tcp".to_owned());
            }
        }
        if self.option_value("addr").is_none() {
            options.push(format!("addr={server_ip}"));
        }
        if version == NfsVersion::V4 && self.option_value("clientaddr").is_none() {
            options.push(format!("clientaddr={client_ip}"));
        }
        let host = match server_ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        NfsMount {
            source: format!("{host}:{}", self.path),
            fstype: version.fstype(),
            data: options.join(","),
            read_only,
            version: vers.to_owned(),
        }
    }

    /// `server:path` for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}:{}",
            self.server.as_deref().unwrap_or("<server>"),
            self.path
        )
    }
}

fn split_options(text: &str, separator: char) -> Vec<String> {
    text.split(separator)
        .filter(|opt| !opt.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits `[server:]rest`, where the server may be `[v6]`. A `:` only separates a server
/// when what follows starts with `/`, so a bare path with colons stays a path.
fn split_leading_server(text: &str) -> (Option<&str>, &str) {
    if let Some(after_bracket) = text.strip_prefix('[') {
        if let Some((v6, rest)) = after_bracket.split_once("]:") {
            // `[]` names no server; it stays part of the path, which then is not absolute.
            if !v6.is_empty() {
                return (Some(v6), rest);
            }
            return (None, text);
        }
    }
    match text.split_once(':') {
        Some((server, rest))
            if !server.is_empty() && !server.contains('/') && rest.starts_with('/') =>
        {
            (Some(server), rest)
        }
        _ => (None, text),
    }
}

fn split_server(text: &str, location: &str) -> Result<(Option<String>, String), NfsParseError> {
    let (server, path) = split_leading_server(location);
    check_path(text, path)?;
    Ok((server.map(str::to_owned), path.to_owned()))
}

fn check_path(text: &str, path: &str) -> Result<(), NfsParseError> {
    if !path.starts_with('/') {
        return Err(NfsParseError {
            text: text.to_owned(),
            reason: "the export path must start with /",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(server: Option<&str>, path: &str, options: &[&str]) -> NfsShare {
        NfsShare {
            server: server.map(str::to_owned),
            path: path.to_owned(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn kernel_and_dracut_syntaxes() {
        let cases: [(&str, bool, NfsShare); 7] = [
            (
                "192.168.0.254:/clients,ro",
                true,
                share(Some("192.168.0.254"), "/clients", &["ro"]),
            ),
            ("/clients", true, share(None, "/clients", &[])),
            (
                "nas.lab:/srv/root,vers=4.1,port=20490",
                true,
                share(Some("nas.lab"), "/srv/root", &["vers=4.1", "port=20490"]),
            ),
            (
                "[fd00::1]:/x,tcp",
                true,
                share(Some("fd00::1"), "/x", &["tcp"]),
            ),
            (
                "10.0.2.2:/nfsroot:port=20490,vers=4.1",
                false,
                share(Some("10.0.2.2"), "/nfsroot", &["port=20490", "vers=4.1"]),
            ),
            ("/nfsroot", false, share(None, "/nfsroot", &[])),
            (
                "[fd00::1]:/r:ro",
                false,
                share(Some("fd00::1"), "/r", &["ro"]),
            ),
        ];
        for (text, comma, want) in cases {
            let got = if comma {
                NfsShare::parse_comma(text)
            } else {
                NfsShare::parse_dracut(text)
            };
            assert_eq!(got, Ok(want), "{text}");
        }
    }

    #[test]
    fn a_path_must_be_absolute() {
        // Empty brackets name no server (found by fuzzing: they gave the server "").
        assert!(NfsShare::parse_dracut("[]:/x").is_err());
        for text in ["server:relative", "", "srv:", ",ro", "[]:/x"] {
            assert!(NfsShare::parse_comma(text).is_err(), "{text}");
        }
    }

    #[test]
    fn mount_options_carry_what_the_kernel_needs_without_mount_nfs() {
        let server: IpAddr = "10.0.2.2".parse().expect("ip");
        let client: IpAddr = "10.0.2.15".parse().expect("ip");
        let cases = [
            // A shared Debian root over NFSv3: nolock, TCP for MOUNT, the server address.
            (
                share(
                    Some("10.0.2.2"),
                    "/clients",
                    &["ro", "port=2049", "mountport=20048"],
                ),
                NfsVersion::V3,
                "nfs",
                "vers=3,port=2049,mountport=20048,nolock,mountproto=tcp,addr=10.0.2.2",
            ),
            // The REFERENCE's verified v4.1 line.
            (
                share(Some("10.0.2.2"), "/nfsroot", &["vers=4.1", "port=20490"]),
                NfsVersion::V3,
                "nfs4",
                "vers=4.1,port=20490,addr=10.0.2.2,clientaddr=10.0.2.15",
            ),
            (
                share(None, "/r", &["v4"]),
                NfsVersion::V3,
                "nfs4",
                "vers=4.2,addr=10.0.2.2,clientaddr=10.0.2.15",
            ),
            (
                share(None, "/r", &[]),
                NfsVersion::V4,
                "nfs4",
                "vers=4.2,addr=10.0.2.2,clientaddr=10.0.2.15",
            ),
            (
                share(None, "/r", &["nfsvers=4", "port=2049"]),
                NfsVersion::V3,
                "nfs4",
                "vers=4.2,port=2049,addr=10.0.2.2,clientaddr=10.0.2.15",
            ),
            (
                share(None, "/r", &["lock", "proto=udp"]),
                NfsVersion::V3,
                "nfs",
                "vers=3,lock,proto=udp,addr=10.0.2.2",
            ),
        ];
        for (share, default, fstype, data) in cases {
            let spec = share
                .mount_specs(default, server, client, true)
                .into_iter()
                .next()
                .expect("a spec");
            assert_eq!(
                (spec.fstype, spec.data.as_str()),
                (fstype, data),
                "{share:?}"
            );
            assert_eq!(spec.source, format!("10.0.2.2:{}", share.path));
        }
    }

    /// mount(2) takes `vers=4` literally as 4.0; mount.nfs negotiates. So do we.
    #[test]
    fn nfs4_without_a_minor_version_tries_4_2_then_4_1_then_4_0() {
        let (server, client) = (
            "10.0.2.2".parse().expect("ip"),
            "10.0.2.15".parse().expect("ip"),
        );
        let versions = |share: NfsShare, default| -> Vec<String> {
            share
                .mount_specs(default, server, client, true)
                .into_iter()
                .map(|spec| format!("{} {}", spec.version, spec.data))
                .collect()
        };
        let all = [
            "4.2 vers=4.2,addr=10.0.2.2,clientaddr=10.0.2.15",
            "4.1 vers=4.1,addr=10.0.2.2,clientaddr=10.0.2.15",
            "4.0 vers=4.0,addr=10.0.2.2,clientaddr=10.0.2.15",
        ];
        assert_eq!(versions(share(None, "/r", &[]), NfsVersion::V4), all);
        assert_eq!(
            versions(share(None, "/r", &["vers=4"]), NfsVersion::V3),
            all
        );
        assert_eq!(versions(share(None, "/r", &["v4"]), NfsVersion::V3), all);
        assert_eq!(
            versions(share(None, "/r", &["vers=4.1"]), NfsVersion::V4),
            ["4.1 vers=4.1,addr=10.0.2.2,clientaddr=10.0.2.15"]
        );
        assert_eq!(
            versions(share(None, "/r", &["vers=4.0"]), NfsVersion::V3),
            ["4.0 vers=4.0,addr=10.0.2.2,clientaddr=10.0.2.15"]
        );
        assert_eq!(
            versions(share(None, "/r", &[]), NfsVersion::V3),
            ["3 vers=3,nolock,mountproto=tcp,addr=10.0.2.2"]
        );
    }

    #[test]
    fn ro_and_rw_options_are_read_not_passed() {
        let s = share(None, "/r", &["ro", "rw"]);
        assert_eq!(s.read_write(), Some(true));
        assert_eq!(share(None, "/r", &[]).read_write(), None);
        let spec = &s.mount_specs(
            NfsVersion::V3,
            "10.0.2.2".parse().expect("ip"),
            "10.0.2.15".parse().expect("ip"),
            false,
        )[0];
        assert!(
            !spec.data.split(',').any(|o| o == "ro" || o == "rw"),
            "{}",
            spec.data
        );
    }
}
