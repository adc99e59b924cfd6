//! `cargo xtask fuzz [--seconds N] [--runs N] [TARGET]`: runs the cargo-fuzz targets in
//! `fuzz/` one after another, each on its own corpus under `target/fuzz-corpus/<target>`,
//! seeded from real inputs; prints the executions per target and exits non-zero on a crash.
//!
//! Installs cargo-fuzz and the nightly toolchain it needs when they are missing. Builds
//! without a sanitizer: the parsers are safe Rust, where AddressSanitizer finds nothing that
//! a panic would not, and it halves the executions per second.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

const HELP: &str = "\
cargo xtask fuzz: run the fuzz targets (cargo-fuzz, libFuzzer)

usage: cargo xtask fuzz [--seconds N] [--runs N] [TARGET]

Runs every target in fuzz/ (or only TARGET), one after another, each for N seconds
(libFuzzer's -max_total_time), on the corpus in target/fuzz-corpus/<target>/, which is
kept between runs and seeded with real inputs (the command lines of the unit tests,
dnsmasq's DHCP replies, modules.dep and modules.alias as the image builder writes them,
a squashfs superblock, a verity superblock, nbd-server's handshake, configuration archives). Prints the executions of each target; a crash leaves its input
in fuzz/artifacts/<target>/ and makes the exit status non-zero. Installs cargo-fuzz and
the nightly toolchain when missing.

options:
  -s, --seconds N   time per target (default: 60)
  -r, --runs N      stop a target after N executions instead, if that comes first
  -h, --help        this text
";

const DEFAULT_SECONDS: u64 = 60;

#[derive(Debug, PartialEq, Eq)]
enum Invocation {
    Help,
    Fuzz {
        seconds: u64,
        runs: Option<u64>,
        target: Option<String>,
    },
}

fn parse_args(args: Vec<OsString>) -> Result<Invocation> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut seconds = DEFAULT_SECONDS;
    let mut runs = None;
    let mut target = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Short('s') | Long("seconds") => {
                seconds = parser.value()?.parse().context("reading --seconds")?;
            }
            Short('r') | Long("runs") => {
                runs = Some(parser.value()?.parse().context("reading --runs")?);
            }
            Value(name) if target.is_none() => {
                target = Some(name.string().context("reading the target name")?);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    Ok(Invocation::Fuzz {
        seconds,
        runs,
        target,
    })
}

pub fn run(args: Vec<OsString>) -> Result<()> {
    let Invocation::Fuzz {
        seconds,
        runs,
        target,
    } = parse_args(args)?
    else {
        print!("{HELP}");
        return Ok(());
    };
    let root = xtask::project_root();
    let sh = Shell::new()?;
    sh.change_dir(&root);
    ensure_tools(&sh)?;
    let all = cmd!(sh, "cargo +nightly fuzz list")
        .quiet()
        .read()
        .context("listing the fuzz targets")?;
    let all: Vec<&str> = all
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let targets: Vec<&str> = match &target {
        Some(name) if all.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => bail!("no fuzz target {name:?} (targets: {})", all.join(", ")),
        None => all,
    };
    let logs = root.join("target").join("fuzz-logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    for name in &targets {
        let dir = corpus_dir(&root, name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (seed, bytes) in seeds(name)? {
            let path = dir.join(format!("seed-{seed}"));
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    println!("building the fuzz targets");
    cmd!(sh, "cargo +nightly fuzz build --sanitizer none")
        .run()
        .context("building the fuzz targets")?;

    let mut crashed = Vec::new();
    for name in &targets {
        let corpus = corpus_dir(&root, name);
        let mut libfuzzer = vec![format!("-max_total_time={seconds}")];
        libfuzzer.extend(runs.map(|n| format!("-runs={n}")));
        println!("fuzzing {name} for {seconds} s");
        let output = cmd!(
            sh,
            "cargo +nightly fuzz run --sanitizer none {name} {corpus} -- {libfuzzer...}"
        )
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("running cargo fuzz for {name}"))?;
        let log = logs.join(format!("{name}.log"));
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        std::fs::write(&log, &text).with_context(|| format!("writing {}", log.display()))?;
        match (output.status.success(), done_line(&text)) {
            (true, Some((runs, secs))) => {
                println!("{name}: {runs} executions in {secs} s, no crash");
            }
            _ => {
                let artifact = artifact_path(&text).unwrap_or("(none written)");
                println!(
                    "{name}: CRASHED ({}); input: {artifact}; log: {}",
                    output.status,
                    log.display()
                );
                crashed.push(*name);
            }
        }
    }
    if !crashed.is_empty() {
        bail!("fuzz targets crashed: {}", crashed.join(", "));
    }
    Ok(())
}

/// cargo-fuzz (`cargo install`) and a nightly toolchain (`rustup`), when missing.
fn ensure_tools(sh: &Shell) -> Result<()> {
    let toolchains = cmd!(sh, "rustup toolchain list").quiet().read()?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        println!("installing the nightly toolchain (cargo-fuzz needs it)");
        cmd!(sh, "rustup toolchain install nightly --profile minimal")
            .run()
            .context("installing the nightly toolchain")?;
    }
    if cmd!(sh, "cargo fuzz --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_err()
    {
        println!("installing cargo-fuzz");
        cmd!(sh, "cargo install cargo-fuzz --locked")
            .run()
            .context("installing cargo-fuzz")?;
    }
    Ok(())
}

/// libFuzzer's last words on a finished run: `Done 664035 runs in 9 second(s)`.
fn done_line(output: &str) -> Option<(u64, u64)> {
    output.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("Done ")?;
        let (runs, rest) = rest.split_once(" runs in ")?;
        let secs = rest.strip_suffix(" second(s)")?;
        Some((runs.parse().ok()?, secs.parse().ok()?))
    })
}

/// Where libFuzzer saved the input that crashed: `Test unit written to <path>`.
fn artifact_path(output: &str) -> Option<&str> {
    output.lines().find_map(|line| {
        line.split_once("Test unit written to ")
            .map(|(_, p)| p.trim())
    })
}

/// Command lines from the unit tests: pxelinux's with SYSAPPEND, a Debian NFS-root cluster's
/// as its pxelinux config has it, and ones that use every `diskless.*` key.
const COMMAND_LINES: [(&str, &str); 5] = [
    (
        "pxelinux",
        "BOOT_IMAGE=vmlinuz console=ttyS0 ip=dhcp initrd=initrd.img \
         ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 BOOTIF=01-52-54-00-12-34-56\n",
    ),
    (
        "nfs-cluster",
        "BOOT_IMAGE=vmlinuz-6.1.0-21-amd64 root=/dev/nfs nfsroot=192.168.0.254:/clients,ro \
         ip=dhcp nfsrootdebug initrd=initrd-cluster-24_10_12_23_11_02_CEST \
         ip=192.168.0.4:192.168.0.254:192.168.0.254:255.255.255.0 \
         BOOTIF=01-00-23-24-94-34-ae CPU=6PVXL",
    ),
    (
        "node-storage",
        "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro diskless.node=10.0.2.2:/workers,port=2049 \
         diskless.node.dir=node-{sha1:8} diskless.node.mount=/var/local \
         diskless.mount=10.0.2.2:/workers/home,/home diskless.mount=nas:/scratch,/scratch,ro,vers=4.1 \
         diskless.persist=/etc/ssh,/var/log diskless.overlay=tmpfs rw",
    ),
    (
        "image",
        "root=live:https://boot.lab/root.squashfs diskless.mirror=http://10.0.2.2/root.squashfs \
         init=/usr/lib/systemd/systemd diskless.hostname=worker-node-{mac} \
         diskless.sha256=ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789 \
         diskless.overlay.size=50% nameserver=10.0.2.3 nameserver=[fd00::53] \
         rd.shell rd.debug=0 rd.emergency=poweroff rd.retry=60 rd.timeout=5 \
         rd.net.timeout.carrier=7 rd.driver.pre=virtio-net,,e1000 \
         rd.driver.blacklist=nouveau modprobe.blacklist=floppy,pcspkr quiet foo=bar -- single",
    ),
    (
        "archives",
        "root=live:http://10.0.2.2/root.squashfs diskless.config=https://boot.lab/cluster.tar.gz \
         diskless.config=?http://10.0.2.2/nodes/{mac}-{sha1:6}.tar.zst \
         apkovl=http://10.0.2.2/ovl/{MAC}/{UUID}.tar.gz diskless.config=http://h/{hostname}/{ip}/{uuid}",
    ),
];

/// The seed inputs of `target`, by name: real inputs where there are some.
fn seeds(target: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let named = |name: &str, bytes: Vec<u8>| (name.to_owned(), bytes);
    let values = |key: &str| -> Vec<(String, Vec<u8>)> {
        COMMAND_LINES
            .iter()
            .flat_map(|(line_name, line)| {
                diskless::cmdline::parse(line)
                    .into_iter()
                    .enumerate()
                    .filter(|(_, p)| p.key == key)
                    .filter_map(move |(k, p)| {
                        Some((format!("{line_name}-{k}"), p.value?.into_bytes()))
                    })
            })
            .collect()
    };
    Ok(match target {
        "cmdline" | "config" => COMMAND_LINES
            .iter()
            .map(|(name, line)| named(name, line.as_bytes().to_vec()))
            .collect(),
        "ip" => {
            let mut seeds = values("ip");
            seeds.push(named(
                "dracut-device",
                b"eth0:dhcp:9000:52:54:00:12:34:56".to_vec(),
            ));
            seeds.push(named(
                "v6",
                b"[fd00::2]::[fd00::1]:64:node:eth0:off:[fd00::53]".to_vec(),
            ));
            seeds
        }
        "nfs_share" => {
            let mut seeds = values("nfsroot");
            seeds.extend(values("diskless.node"));
            seeds.extend(values("diskless.mount"));
            seeds.push(named(
                "dracut",
                b"10.0.2.2:/nfsroot:port=20490,vers=4.1".to_vec(),
            ));
            seeds.push(named("v6", b"[fd00::1]:/r,tcp".to_vec()));
            seeds
        }
        "dhcp_reply" => dnsmasq_replies()?,
        "dhcp_frame" => dnsmasq_replies()?
            .into_iter()
            .map(|(name, reply)| {
                let frame = diskless::net::dhcp::packet::encode_udp(
                    (
                        "192.168.77.1".parse()?,
                        diskless::net::dhcp::packet::SERVER_PORT,
                    ),
                    (
                        "192.168.77.50".parse()?,
                        diskless::net::dhcp::packet::CLIENT_PORT,
                    ),
                    &reply,
                )?;
                Ok((name, frame))
            })
            .collect::<Result<_>>()?,
        "module_index" => vec![named("builder", module_index_seed())],
        "squashfs" => vec![named("zstd", squashfs_seed()?)],
        "verity" => vec![named("xtask", verity_seed())],
        "nbd_handshake" => vec![named("nbd-server", nbd_handshake_seed())],
        "nbd_spec" => vec![
            named("dracut-export", b"10.0.2.2:root:squashfs:errors=continue".to_vec()),
            named("dracut-port", b"nbd.lab:2000".to_vec()),
            named("uri", b"nbd://10.0.2.2:20809/images/worker".to_vec()),
        ],
        "archive" => archive_seeds()?,
        "oci_ref" => vec![
            named(
                "digest",
                b"http://10.0.2.2:5000/diskless/root@sha256:b8b6b771bec4a7b7a5c8e6e8f0bac68180bb145405517011da044c2d5fec5441".to_vec(),
            ),
            named("tag", b"registry.lab:443/a/b-c/d_e:v1.2".to_vec()),
            named("mirror", b"oci:https://harbor.lab/hub-proxy".to_vec()),
        ],
        "oci_manifest" => oci_manifest_seeds()?,
        "www_authenticate" => vec![
            named(
                "bearer",
                br#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#.to_vec(),
            ),
            named("basic", br#"Basic realm="basic-realm""#.to_vec()),
            named("token", br#"{"token":"abc.def.ghi","expires_in":300}"#.to_vec()),
            named("auth-json", br#"{"auths":{"10.0.2.2:5000":{"auth":"bm9kZTpzM2NyZXQ="}}}"#.to_vec()),
        ],
        "sntp" => {
            // chrony's answer (LI 0, v4, mode 4, stratum 8, LOCL) to a request with nonce 1.
            let mut reply = vec![0x24, 8, 0, 0];
            reply.extend_from_slice(&[0; 8]); // root delay and dispersion
            reply.extend_from_slice(b"LOCL");
            reply.extend_from_slice(&[0; 8]); // reference timestamp
            reply.extend_from_slice(&1u64.to_be_bytes()); // originate: our nonce
            reply.extend_from_slice(&[0; 8]); // receive timestamp
            reply.extend_from_slice(&(0xed00_0000u64 << 32).to_be_bytes()); // transmit
            vec![
                named("chrony", reply),
                named("server", b"10.0.2.2:12300".to_vec()),
                named("name", b"ntp.lab".to_vec()),
            ]
        }
        _ => Vec::new(),
    })
}

/// The test bed's squashfs artifact manifest and an index over it, as pushed to registries.
fn oci_manifest_seeds() -> Result<Vec<(String, Vec<u8>)>> {
    let artifact = testbed::registry::squashfs_artifact(b"hsqs".to_vec())?;
    let index = testbed::registry::index(&[
        (&artifact.manifest, "linux", "amd64"),
        (&artifact.manifest, "linux", "arm64"),
    ])?;
    Ok(vec![
        ("artifact".to_owned(), artifact.manifest.bytes),
        ("index".to_owned(), index.bytes),
    ])
}

/// dnsmasq's OFFER and ACK, as `src/net/dhcp/fixtures/capture.py` recorded them.
fn dnsmasq_replies() -> Result<Vec<(String, Vec<u8>)>> {
    let dir = xtask::project_root().join("src/net/dhcp/fixtures");
    ["offer", "ack"]
        .iter()
        .map(|kind| {
            let path = dir.join(format!("dnsmasq-{kind}.hex"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let bytes = text
                .split_whitespace()
                .map(|pair| u8::from_str_radix(pair, 16))
                .collect::<Result<Vec<u8>, _>>()
                .with_context(|| format!("reading hex in {}", path.display()))?;
            Ok(((*kind).to_owned(), bytes))
        })
        .collect()
}

/// `modules.dep`, `modules.alias` and `modules.builtin` as the image builder writes them for
/// virtio_net, virtio_pci and overlay (their real shape in Debian's cloud kernel), then
/// requests, NUL-separated as the `module_index` target splits its input.
fn module_index_seed() -> Vec<u8> {
    use xtask::image::kmod::{Index, ModuleMeta};
    let meta = |name: &str, depends: &[&str], aliases: &[&str]| ModuleMeta {
        name: name.to_owned(),
        path: format!("kernel/drivers/{name}.ko"),
        depends: depends.iter().map(|d| (*d).to_owned()).collect(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        ..ModuleMeta::default()
    };
    let index = Index::new(
        vec![
            meta("virtio_ring", &[], &[]),
            meta("virtio", &["virtio_ring"], &[]),
            meta("failover", &[], &[]),
            meta("net_failover", &["failover"], &[]),
            meta(
                "virtio_net",
                &["virtio_ring", "virtio", "net_failover"],
                &["virtio:d00000001v*"],
            ),
            meta(
                "virtio_pci",
                &[
                    "virtio_pci_modern_dev",
                    "virtio_pci_legacy_dev",
                    "virtio",
                    "virtio_ring",
                ],
                &["pci:v00001AF4d*sv*sd*bc*sc*i*"],
            ),
            meta("virtio_pci_modern_dev", &[], &[]),
            meta("virtio_pci_legacy_dev", &[], &[]),
            meta("overlay", &[], &["fs-overlay"]),
        ],
        ["af_packet".to_owned()].into(),
    );
    let packed: Vec<String> = [
        "virtio_ring",
        "virtio",
        "failover",
        "net_failover",
        "virtio_net",
        "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev",
        "virtio_pci",
        "overlay",
    ]
    .iter()
    .map(|n| (*n).to_owned())
    .collect();
    let files = [
        index.modules_dep(&packed),
        index.modules_alias(&packed),
        "kernel/net/packet/af_packet.ko\n".to_owned(),
        "virtio:d00000001v00001AF4 pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00 \
         fs-overlay af-packet !virtio-pci"
            .to_owned(),
    ];
    files.join("\0").into_bytes()
}

/// Configuration archives as an admin makes them (an apkovl's etc/ with a link and a hard
/// link), plain, gzip and zstd, an OCI layer with whiteouts, and one that tries to leave
/// the root.
fn archive_seeds() -> Result<Vec<(String, Vec<u8>)>> {
    let apkovl = testbed::archive::Tar::new()
        .dir("etc/")
        .file("etc/hostname", b"worker-1\n", 0o644)
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .hard_link("etc/motd", "etc/hostname")
        .dir("etc/ssh/");
    let zstd = zstd::encode_all(apkovl.clone().finish().as_slice(), 3)?;
    let evil = testbed::archive::Tar::new()
        .symlink("up", "..")
        .file("up/x", b"x", 0o644)
        .file("../etc/x", b"x", 0o644);
    let layer = testbed::archive::Tar::new()
        .file("var/new", b"x", 0o644)
        .file("var/.wh..wh..opq", b"", 0o644)
        .file("etc/.wh.motd", b"", 0o644);
    let named = |name: &str, bytes: Vec<u8>| (name.to_owned(), bytes);
    Ok(vec![
        named("layer", layer.finish()),
        named("tar", apkovl.clone().finish()),
        named("gzip", apkovl.gzip()),
        named("zstd", zstd),
        named("escape", evil.finish()),
    ])
}

/// What Debian's nbd-server 3.24 sends a client asking `NBD_OPT_GO` for a 1 MiB read-only
/// export: the greeting, the export's info and the ack.
fn nbd_handshake_seed() -> Vec<u8> {
    use diskless::image::nbd::handshake::{IHAVEOPT, NBDMAGIC, OPT_GO, REPLY_MAGIC};
    let mut seed = NBDMAGIC.to_be_bytes().to_vec();
    seed.extend_from_slice(&IHAVEOPT.to_be_bytes());
    seed.extend_from_slice(&3u16.to_be_bytes());
    for (kind, payload) in [
        (3u32, &[0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x01, 0x43][..]),
        (1, &[][..]),
    ] {
        seed.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
        seed.extend_from_slice(&OPT_GO.to_be_bytes());
        seed.extend_from_slice(&kind.to_be_bytes());
        seed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        seed.extend_from_slice(payload);
    }
    seed
}

/// A hash offset (8 bytes, little-endian) and the superblock `cargo xtask verity` writes
/// there, as the `verity` target reads its input.
fn verity_seed() -> Vec<u8> {
    let offset: u64 = 4 << 20;
    let sb = diskless::image::verity::Superblock {
        uuid: [0x5a; 16],
        data_blocks: offset / 4096,
        salt: vec![0xab; 32],
    };
    let mut seed = offset.to_le_bytes().to_vec();
    seed.extend_from_slice(&sb.to_bytes());
    seed
}

/// The image's length (8 bytes, little-endian) and its first KiB, as the `squashfs` target
/// reads its input: a squashfs packed by the test bed's builder.
fn squashfs_seed() -> Result<Vec<u8>> {
    let dir = testbed::fresh_dir("fuzz-squashfs-seed")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc"))?;
    std::fs::write(tree.join("etc/hostname"), "worker\n")?;
    let image = dir.join("root.squashfs");
    testbed::squashfs(&tree, &image)?;
    let bytes = std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
    let mut seed = (bytes.len() as u64).to_le_bytes().to_vec();
    seed.extend(bytes.iter().take(1024));
    std::fs::remove_dir_all(&dir).ok();
    Ok(seed)
}

/// `target/fuzz-corpus/<target>`: kept between runs, ignored by git with the rest of target/.
fn corpus_dir(root: &Path, target: &str) -> PathBuf {
    root.join("target").join("fuzz-corpus").join(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let args = |list: &[&str]| parse_args(list.iter().map(OsString::from).collect());
        assert_eq!(
            args(&[]).unwrap(),
            Invocation::Fuzz {
                seconds: 60,
                runs: None,
                target: None
            }
        );
        assert_eq!(
            args(&["--seconds", "5", "--runs", "1000", "ip"]).unwrap(),
            Invocation::Fuzz {
                seconds: 5,
                runs: Some(1000),
                target: Some("ip".to_owned())
            }
        );
        assert_eq!(args(&["-h"]).unwrap(), Invocation::Help);
        for bad in [&["--seconds", "0"][..], &["--seconds", "x"], &["a", "b"]] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn libfuzzer_output_is_read() {
        let output = "#1048576\tpulse  cov: 412 ft: 1901 corp: 301/9Kb exec/s: 349525\n\
                      Done 3842046 runs in 9 second(s)\n";
        assert_eq!(done_line(output), Some((3_842_046, 9)));
        assert_eq!(done_line("==1== ERROR: libFuzzer: deadly signal\n"), None);
        let crash = "artifact_prefix='/w/fuzz/artifacts/ip/'; \
                     Test unit written to /w/fuzz/artifacts/ip/crash-f50e\nBase64: W10=\n";
        assert_eq!(
            artifact_path(crash),
            Some("/w/fuzz/artifacts/ip/crash-f50e")
        );
    }

    #[test]
    fn seeds_are_inputs_the_parsers_accept() {
        use diskless::cmdline::config::BootConfig;
        for (name, line) in COMMAND_LINES {
            let params = diskless::cmdline::parse(line);
            assert!(BootConfig::from_params(&params).is_ok(), "{name}");
        }
        // The archive seeds: real archives apply, the escaping one is refused.
        struct Count(u32);
        impl diskless::archive::Sink for Count {
            fn create(
                &mut self,
                _: &diskless::archive::policy::RelPath,
                _: &diskless::archive::policy::Op,
                _: &diskless::archive::policy::Meta,
                _: &mut dyn std::io::Read,
            ) -> std::io::Result<()> {
                self.0 += 1;
                Ok(())
            }
            fn finish(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for (name, archive) in seeds("archive").unwrap() {
            let limits = diskless::archive::policy::Limits::default();
            let mut policy = diskless::archive::policy::Plain::new(limits);
            let mut sink = Count(0);
            let result = diskless::archive::extract(&archive, limits, &mut policy, &mut sink);
            assert_eq!(result.is_ok(), name != "escape", "{name}: {result:?}");
        }
        for (name, value) in seeds("ip").unwrap() {
            let value = String::from_utf8(value).unwrap();
            assert!(
                diskless::cmdline::ip::parse(&value).is_ok(),
                "{name}: {value}"
            );
        }
        for (name, frame) in seeds("dhcp_frame").unwrap() {
            let datagram = diskless::net::dhcp::packet::parse_udp(
                &frame,
                diskless::net::dhcp::packet::CLIENT_PORT,
            )
            .unwrap();
            assert!(
                diskless::net::dhcp::packet::Reply::decode(datagram.payload).is_ok(),
                "{name}"
            );
        }
        let seed = module_index_seed();
        let text = String::from_utf8(seed).unwrap();
        let parts: Vec<&str> = text.splitn(4, '\0').collect();
        let index = diskless::kmod::index::ModuleIndex::parse(parts[0], parts[1], parts[2])
            .expect("the builder's index parses");
        assert_eq!(index.resolve("fs-overlay"), ["overlay"]);
        let seed = squashfs_seed().unwrap();
        let (len, head) = seed.split_at(8);
        let len = u64::from_le_bytes(len.try_into().unwrap());
        assert!(diskless::image::squashfs::check_superblock(head, len).is_ok());
    }

    #[test]
    fn corpora_live_under_target() {
        let root = Path::new("/r");
        assert_eq!(
            corpus_dir(root, "ip"),
            Path::new("/r/target/fuzz-corpus/ip")
        );
    }
}
