//! The DHCP client against a real dnsmasq, on a veth pair between two network namespaces that
//! each test creates for itself (so nothing touches the host's interfaces or addresses):
//!
//! ```text
//!   netns <name>-srv: dnsmasq on veth "dls…" 192.168.77.1/24
//!   netns <name>-cli: veth "dlc…" 52:54:00:12:34:56, no address; the client runs on a thread
//!                     that has setns(2)'d into it
//! ```
//!
//! Needs root, `ip` (iproute2) and `dnsmasq` (dnsmasq-base). Without them each test says
//! SKIPPING on stderr and passes, except under `CI=true`, where it fails.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diskless::identity::Mac;
use diskless::net::dhcp::{self, ClientConfig, Lease, Route};

const CLIENT_MAC: &str = "52:54:00:12:34:56";
/// The name the default `worker-{sha1:6}` gives this MAC (sha1 of the MAC as sysfs prints it).
const SENT_NAME: &str = "worker-64e59a";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

/// The client's log lines on stderr (shown for failing tests), with seconds since the first.
struct StderrLogger;

static LOG_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let start = LOG_START.get_or_init(Instant::now);
        eprintln!("[{:8.3}] {}", start.elapsed().as_secs_f64(), record.args());
    }
    fn flush(&self) {}
}

fn init_logging() {
    // Only the first test's call installs it; the others find it in place.
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// Whether this machine can run the test; `Err` says why not.
fn prerequisites() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("needs root (network namespaces, veth, packet sockets)".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("dnsmasq", "dnsmasq-base")] {
        let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|dir| Path::new(dir).join(tool).exists());
        if !found {
            return Err(format!("needs `{tool}` (Debian package {package})"));
        }
    }
    Ok(())
}

/// True when the test should run; skips loudly otherwise, and fails under CI=true
/// (`testbed::skip_or_fail`).
fn can_run() -> bool {
    init_logging();
    match prerequisites() {
        Ok(()) => true,
        Err(why) => {
            testbed::skip_or_fail(&why);
            false
        }
    }
}

fn run(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Two namespaces joined by a veth pair, a scratch directory and the dnsmasq in it; all of it
/// goes away on drop, also when the test panics.
struct Testbed {
    server_ns: String,
    client_ns: String,
    server_if: String,
    client_if: String,
    dir: PathBuf,
    dnsmasq: Option<Child>,
}

impl Testbed {
    /// `tag` (one letter) keeps the tests of one process apart; the pid keeps parallel runs
    /// apart. The server side's address is set, both links are left down.
    fn new(tag: &str) -> Testbed {
        remove_stale_namespaces();
        let pid = std::process::id();
        let bed = Testbed {
            server_ns: format!("diskless-dhcp-{pid}-{tag}-srv"),
            client_ns: format!("diskless-dhcp-{pid}-{tag}-cli"),
            server_if: format!("dls{pid}{tag}"),
            client_if: format!("dlc{pid}{tag}"),
            dir: std::env::temp_dir().join(format!("diskless-dhcp-{pid}-{tag}")),
            dnsmasq: None,
        };
        std::fs::create_dir_all(&bed.dir).expect("scratch directory");
        run(&["netns", "add", &bed.server_ns]);
        run(&["netns", "add", &bed.client_ns]);
        // Created inside the server namespace with its peer moved straight into the client's:
        // the host namespace never sees either end.
        run(&[
            "-n",
            &bed.server_ns,
            "link",
            "add",
            &bed.server_if,
            "type",
            "veth",
            "peer",
            "name",
            &bed.client_if,
            "netns",
            &bed.client_ns,
        ]);
        run(&[
            "-n",
            &bed.server_ns,
            "addr",
            "add",
            "192.168.77.1/24",
            "dev",
            &bed.server_if,
        ]);
        run(&[
            "-n",
            &bed.client_ns,
            "link",
            "set",
            &bed.client_if,
            "address",
            CLIENT_MAC,
        ]);
        bed
    }

    fn server_link_up(&self) {
        run(&["-n", &self.server_ns, "link", "set", &self.server_if, "up"]);
    }

    fn client_link_up(&self) {
        run(&["-n", &self.client_ns, "link", "set", &self.client_if, "up"]);
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("dnsmasq.log")
    }

    fn lease_path(&self) -> PathBuf {
        self.dir.join("dnsmasq.leases")
    }

    /// Starts dnsmasq (DHCP only) with `extra` options and waits until it is serving.
    fn start_dnsmasq(&mut self, extra: &[&str]) {
        let mut args: Vec<String> = [
            "netns",
            "exec",
            &self.server_ns,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
            "--group=root",
            "--port=0",
            "--bind-interfaces",
            "--no-ping",
            "--log-dhcp",
            "--dhcp-range=192.168.77.10,192.168.77.99,255.255.255.0,12h",
            "--domain=cluster.home",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(format!("--interface={}", self.server_if));
        args.push(format!("--dhcp-leasefile={}", self.lease_path().display()));
        args.push(format!("--log-facility={}", self.log_path().display()));
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let child = Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dnsmasq");
        self.dnsmasq = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.dnsmasq_log().contains("DHCP, IP range") {
            let exited = self
                .dnsmasq
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!("dnsmasq exited ({status}): {}", self.dnsmasq_log());
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq did not start: {}",
                self.dnsmasq_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn dnsmasq_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs the client on a thread inside the client namespace.
    fn acquire(&self, timeout: Duration) -> Result<Lease, dhcp::DhcpError> {
        let netns = Path::new("/run/netns").join(&self.client_ns);
        let mac: Mac = CLIENT_MAC.parse().expect("MAC");
        let config = ClientConfig::new(&self.client_if, mac, SENT_NAME, timeout);
        std::thread::spawn(move || {
            let ns = File::open(&netns).expect("opening the client namespace");
            // SAFETY: `ns` is an open network namespace file for the whole call; setns(2) moves
            // only this thread (a network namespace is per thread), which is ours and ends
            // when the client returns.
            let rc = unsafe { nix::libc::setns(ns.as_raw_fd(), nix::libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            dhcp::acquire(&config)
        })
        .join()
        .expect("client thread")
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            // Deleting a namespace deletes the veth end inside it, and with it the peer.
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Namespaces left by an earlier run of these tests that was killed before its cleanup.
fn remove_stale_namespaces() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix("diskless-dhcp-") else {
            continue;
        };
        let owner_alive = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !owner_alive {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

#[test]
fn lease_from_dnsmasq_with_boot_options() {
    if !can_run() {
        return;
    }
    let mut bed = Testbed::new("a");
    bed.server_link_up();
    bed.client_link_up();
    bed.start_dnsmasq(&[
        &format!("--dhcp-host={CLIENT_MAC},192.168.77.50,node7"),
        "--dhcp-option=option:router,192.168.77.1",
        "--dhcp-option=option:dns-server,192.168.77.1,192.168.77.2",
        "--dhcp-option=option:ntp-server,192.168.77.1",
        "--dhcp-option=option:domain-search,cluster.home,lab.example",
        "--dhcp-option=option:root-path,/srv/roots/worker",
        "--dhcp-option=option:mtu,1400",
        "--dhcp-boot=pxelinux.0,bootsrv,192.168.77.1",
    ]);
    let started = Instant::now();
    let lease = bed
        .acquire(Duration::from_secs(20))
        .unwrap_or_else(|err| panic!("{err}\n{}", bed.dnsmasq_log()));
    eprintln!("lease in {:?}: {lease:#?}", started.elapsed());

    assert_eq!(
        (lease.address, lease.prefix_len),
        (ip("192.168.77.50"), 24),
        "the dhcp-host address"
    );
    assert_eq!(lease.routers, [ip("192.168.77.1")]);
    assert_eq!(lease.default_gateway(), Some(ip("192.168.77.1")));
    assert_eq!(lease.dns, [ip("192.168.77.1"), ip("192.168.77.2")]);
    assert_eq!(lease.domain.as_deref(), Some("cluster.home"));
    assert_eq!(lease.search, ["cluster.home", "lab.example"]);
    assert_eq!(lease.hostname.as_deref(), Some("node7"), "dhcp-host's name");
    assert_eq!(lease.server_id, ip("192.168.77.1"));
    assert_eq!(lease.next_server, Some(ip("192.168.77.1")));
    assert_eq!(lease.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(lease.tftp_server_name.as_deref(), Some("bootsrv"));
    assert_eq!(lease.root_path.as_deref(), Some("/srv/roots/worker"));
    assert_eq!(lease.ntp, [ip("192.168.77.1")]);
    assert_eq!(lease.mtu, Some(1400));
    assert_eq!(lease.lease_secs, Some(12 * 3600));
    assert!(lease.classless_routes.is_empty());

    let log = bed.dnsmasq_log();
    assert!(
        log.contains(&format!("client provides name: {SENT_NAME}")),
        "the name we sent:\n{log}"
    );
    assert!(log.contains("vendor class: diskless"), "option 60:\n{log}");
    assert!(
        log.contains(&format!(
            "DHCPACK({}) 192.168.77.50 {CLIENT_MAC} node7",
            bed.server_if
        )),
        "{log}"
    );
}

/// Both links start down, as on a node whose NIC is still negotiating: the first DISCOVERs
/// fail or are lost, and the fast retransmission must still get the lease soon after the
/// link comes up (klibc's ipconfig waits 10 s here when its first send fails). Also: option 121,
/// and dnsmasq registering the name we sent (no name configured for the host).
#[test]
fn lease_soon_after_a_late_link_and_name_registered() {
    if !can_run() {
        return;
    }
    let mut bed = Testbed::new("b");
    bed.start_dnsmasq(&[
        &format!("--dhcp-host={CLIENT_MAC},192.168.77.51"),
        "--dhcp-option=option:router,192.168.77.1",
        "--dhcp-option=121,10.9.0.0/16,192.168.77.254,0.0.0.0/0,192.168.77.2",
    ]);
    let link_up_after = Duration::from_millis(1000);
    let started = Instant::now();
    let lease = std::thread::scope(|scope| {
        let client = scope.spawn(|| bed.acquire(Duration::from_secs(20)));
        std::thread::sleep(link_up_after);
        bed.client_link_up();
        bed.server_link_up();
        client.join().expect("client thread")
    })
    .unwrap_or_else(|err| panic!("{err}\n{}", bed.dnsmasq_log()));
    let took = started.elapsed();
    eprintln!("lease in {took:?} with the link up after {link_up_after:?}: {lease:#?}");

    assert_eq!(lease.address, ip("192.168.77.51"));
    assert_eq!(
        lease.classless_routes,
        [
            Route {
                dest: ip("10.9.0.0"),
                prefix_len: 16,
                gateway: ip("192.168.77.254")
            },
            Route {
                dest: ip("0.0.0.0"),
                prefix_len: 0,
                gateway: ip("192.168.77.2")
            },
        ]
    );
    assert!(
        lease.routers.is_empty(),
        "option 3 is ignored when option 121 is present (RFC 3442)"
    );
    assert_eq!(lease.default_gateway(), Some(ip("192.168.77.2")));
    // Sends that fail while the link is down are retried every 100 ms, and the first to
    // leave after the link comes up gets the lease.
    assert!(
        took < link_up_after + Duration::from_millis(1500),
        "lease took {took:?}"
    );

    let leases = std::fs::read_to_string(bed.lease_path()).expect("dnsmasq lease file");
    assert!(
        leases.lines().any(|l| l.contains(CLIENT_MAC)
            && l.contains("192.168.77.51")
            && l.contains(SENT_NAME)),
        "dnsmasq registered the name we sent:\n{leases}"
    );
}

/// No server: the error names the interface and the number of DISCOVERs, after `timeout`.
#[test]
fn no_server_times_out_with_a_count() {
    if !can_run() {
        return;
    }
    let bed = Testbed::new("c");
    bed.server_link_up();
    bed.client_link_up();
    let started = Instant::now();
    let err = bed.acquire(Duration::from_secs(4)).expect_err("no server");
    let took = started.elapsed();
    let text = err.to_string();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Sends at ~0, ~0.5, ~1.5 and ~3.5 s, the last one within 2.6 to 4.4 s.
    let prefix = format!("dhcp: no DHCP server answered on {}: ", bed.client_if);
    let count = text
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(matches!(count, Some(3 | 4)), "{text}");
    // The wait ends at the timeout, give or take the scheduler on a busy machine.
    let secs = text
        .strip_suffix(" s")
        .and_then(|rest| rest.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok());
    assert!(
        secs.is_some_and(|secs| (4.0..5.0).contains(&secs)),
        "{text}"
    );
}
